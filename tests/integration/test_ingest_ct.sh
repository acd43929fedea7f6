#!/bin/bash
# it/ingest_ct — `hust19 ingest` with a ct: section on a small synthetic archive (hust19 synth):
# 1 vs 2 MPI ranks give archives h5diff finds identical; a run killed with SIGKILL midway and a run
# stopped with SIGTERM (exit 75) resume to the same archive; deleted shards are recomputed to the
# same archive; an independent reader (pydicom + the OpenCV reference pipeline, tests/ref/ingest_check.py)
# agrees with the slices, order, labels and patient rows; bad files are reported and skipped, and
# fatal under ct.strict; de-identified copies hold no PHI and the archive holds none; strict keys.
set -euo pipefail
work="$1"; rm -rf "$work"; mkdir -p "$work"
cd "$work"
command -v h5diff > /dev/null || { echo "SKIPPED: h5diff not installed"; exit 77; }

cat > base.yaml <<YAML
job: {name: ig, seed: 5, results: res/NAME}
data:
  cf_table: syn/cf.csv
  catalog: $HUST19_SRC/configs/cf_catalog.yaml
  cohorts: {id_ranges: {"1": [1, 4], "2": [5, 6]}}
outcomes:
  morbidity:
    label_column: Morbidity outcome
    classes: [control, type_I, type_II]
    map: {Control: control, "Control (Community-acquired pneumonia)": control, Mild: type_I, Regular: type_I,
          Severe: type_II, Critically ill: type_II}
    cohorts: [1]
synth:
  out: syn
  seed: 11
  patients: 6
  classes: {control: 1, cap: 1, type1: 1, type2: 1}
  slices: {mean: 16, sd: 2, min: 12}
  image_size: 256
  labelled_patients: 3
ct: {manifest: syn/manifest.csv, labels: syn/slice_labels.csv}
YAML
job() { sed "s#res/NAME#res/$1#" base.yaml > "$1.yaml"; } # same job name: the archive records it
for j in one two kill term del strict deid bad nolab; do job $j; done

"$HUST19_MPIEXEC" -np 2 --oversubscribe "$HUST19" synth one.yaml 2> synth.log
nser=$(tail -n +2 syn/manifest.csv | awk -F, '$5 != ""' | wc -l)
[ "$nser" -ge 4 ] || { echo "FAIL: only $nser series"; exit 1; }

# 1 rank and 2 ranks: identical content
"$HUST19" ingest one.yaml 2> one.log || { cat one.log; echo "FAIL: ingest"; exit 1; }
"$HUST19_MPIEXEC" -np 2 --oversubscribe "$HUST19" ingest two.yaml 2> two.log || { cat two.log; echo "FAIL: 2-rank ingest"; exit 1; }
A=res/one/ig/archive.h5
h5diff "$A" res/two/ig/archive.h5 || { echo "FAIL: 1-rank and 2-rank archives differ"; exit 1; }
cmp res/one/ig/ingest-report.csv res/two/ig/ingest-report.csv || { echo "FAIL: reports differ"; exit 1; }
[ "$(cat res/one/ig/ingest-report.csv)" = "file,reason" ] || { echo "FAIL: clean input reported"; cat res/one/ig/ingest-report.csv; exit 1; }
grep -q "rank 1 processed" two.log || { echo "FAIL: rank 1 did no work"; cat two.log; exit 1; }
n1=$(tail -n +2 syn/slice_labels.csv | wc -l)
grep -q "ingest ct: $n1 labelled slices" one.log || { echo "FAIL: labelled slices not reported ($n1)"; cat one.log; exit 1; }

# a labels file whose paths match no slice (they are relative to the labels file): a clear warning
mkdir -p elsewhere; cp syn/slice_labels.csv elsewhere/
sed -i 's#labels: syn/slice_labels.csv#labels: elsewhere/slice_labels.csv#' nolab.yaml
"$HUST19" ingest nolab.yaml 2> nolab.log || { cat nolab.log; echo "FAIL: ingest with unmatched labels"; exit 1; }
grep -q "none of the $n1 labels of elsewhere/slice_labels.csv matched a slice" nolab.log ||
    { cat nolab.log; echo "FAIL: unmatched labels not warned about"; exit 1; }

# independent reader: pydicom + OpenCV reference pipeline against the archive
if "$PYTHON" -c "import pydicom, h5py, cv2, skimage" 2>/dev/null; then
    "$PYTHON" "$HUST19_SRC/tests/ref/ingest_check.py" "$A" syn/manifest.csv syn/slice_labels.csv
else
    echo "note: pydicom/h5py/cv2 not available; reference check skipped"
fi

# SIGKILL midway (best effort: the signal must land before the run ends), then resume on 2 ranks
wait_shard() { # wait until directory $1 holds a finished shard, or process $2 has exited
    for _ in $(seq 1 3000); do
        ls "$1" 2>/dev/null | grep -q '\.shard$' && return 0
        kill -0 "$2" 2>/dev/null || return 0
        sleep 0.01
    done
}
"$HUST19" ingest kill.yaml 2> kill.log & pid=$!
wait_shard res/kill/ig/ingest-shards $pid
kill -9 $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
nk=$(ls res/kill/ig/ingest-shards 2>/dev/null | grep -c '\.shard$' || true)
if [ ! -f res/kill/ig/archive.h5 ]; then
    echo "killed after $nk of $nser series"
    "$HUST19_MPIEXEC" -np 2 --oversubscribe "$HUST19" ingest kill.yaml 2> kill2.log || { cat kill2.log; echo "FAIL: resume after kill"; exit 1; }
    grep -q "($nk series reused from shards)" kill2.log || { echo "FAIL: resume did not reuse $nk shards"; cat kill2.log; exit 1; }
else
    echo "note: the run finished before SIGKILL landed"
fi
h5diff "$A" res/kill/ig/archive.h5 || { echo "FAIL: resumed archive differs"; exit 1; }

# SIGTERM: the current series is finished and saved, exit 75, the re-run completes identically
"$HUST19" ingest term.yaml 2> term.log & pid=$!
wait_shard res/term/ig/ingest-shards $pid
kill -TERM $pid 2>/dev/null || true
set +e; wait $pid; rc=$?; set -e
if [ $rc -eq 75 ]; then
    grep -q "re-run to resume" term.log || { echo "FAIL: stop message"; cat term.log; exit 1; }
    [ ! -f res/term/ig/archive.h5 ] || { echo "FAIL: a stopped run committed the archive"; exit 1; }
    "$HUST19" ingest term.yaml 2> term2.log || { cat term2.log; echo "FAIL: resume after SIGTERM"; exit 1; }
else
    [ $rc -eq 0 ] || { echo "FAIL: SIGTERM exit $rc"; cat term.log; exit 1; }
    echo "note: the run finished before SIGTERM landed"
fi
h5diff "$A" res/term/ig/archive.h5 || { echo "FAIL: archive after SIGTERM + resume differs"; exit 1; }

# deterministic interruption: a complete run, half its shards deleted, rebuilt (--force)
"$HUST19" ingest del.yaml 2> del.log
rm -f res/del/ig/ingest-shards/s000000.shard res/del/ig/ingest-shards/s000002.shard
"$HUST19_MPIEXEC" -np 2 --oversubscribe "$HUST19" ingest del.yaml --force 2> del2.log
grep -q "($((nser - 2)) series reused from shards)" del2.log || { echo "FAIL: shards not reused"; cat del2.log; exit 1; }
h5diff "$A" res/del/ig/archive.h5 || { echo "FAIL: archive rebuilt from partial shards differs"; exit 1; }

# de-identified copies: PHI gone from the copies, the CF id as PatientID; no PHI in the archive
"$HUST19" ingest deid.yaml --set ct.deid.secret=k3y --set ct.deid.out=deid 2> deid.log
h5diff "$A" res/deid/ig/archive.h5 > /dev/null || true # the source hash is keyed: may differ; slices must not
h5diff "$A" res/deid/ig/archive.h5 /ct/slices || { echo "FAIL: de-identification changed the slices"; exit 1; }
nd=$(find deid -name 'IM*.dcm' | wc -l)
nsl=$(find syn/dicom -name 'IM*.dcm' | wc -l)
[ "$nd" -eq "$nsl" ] || { echo "FAIL: $nd de-identified copies for $nsl slices"; exit 1; }
if grep -rlq "SYNTH^PATIENT" deid; then echo "FAIL: patient name in a de-identified copy"; exit 1; fi
if grep -aq "SYNTH^PATIENT\|P0001\|P0002" "$A"; then echo "FAIL: PHI in the archive"; exit 1; fi
if "$PYTHON" -c "import pydicom" 2>/dev/null; then
    "$PYTHON" - <<'PY'
import glob, pydicom
for f in sorted(glob.glob("deid/*/S01/IM0001.dcm")):
    d = pydicom.dcmread(f)
    pid = f.split("/")[1]
    assert d.PatientID == pid, (f, d.PatientID)
    assert "SYNTH" not in str(d.PatientName) and not getattr(d, "InstitutionName", ""), f
    assert d.PatientIdentityRemoved == "YES", f
print("deid copies: ok")
PY
fi

# bad input in the tree: a truncated slice, an MR slice, a series with inconsistent geometry
cp -r syn bad; sed -i 's#^\(ct: {manifest: \)syn/#\1bad/#; s#labels: syn/#labels: bad/#' bad.yaml
s1=$(tail -n +2 bad/manifest.csv | awk -F, '$5 != "" {print $5}' | head -1)
s2=$(tail -n +2 bad/manifest.csv | awk -F, '$5 != "" {print $5}' | sed -n 2p)
f1=$(ls bad/$s1 | head -3 | tail -1)
head -c 3000 "bad/$s1/$f1" > "bad/$s1/$f1.cut"; mv "bad/$s1/$f1.cut" "bad/$s1/$f1"
"$PYTHON" - "bad/$s1" "bad/$s2" <<'PY'
import sys, glob, pydicom, numpy as np
a, b = sys.argv[1], sys.argv[2]
src = sorted(glob.glob(a + "/IM*.dcm"))[0]
d = pydicom.dcmread(src); d.Modality = "MR"; d.save_as(a + "/ZZmr.dcm")
g = sorted(glob.glob(b + "/IM*.dcm"))[1]
d = pydicom.dcmread(g); d.PixelSpacing = [0.5, 0.5]; d.save_as(g)
PY
"$HUST19" ingest bad.yaml 2> bad.log || { cat bad.log; echo "FAIL: bad input made the run fail"; exit 1; }
R=res/bad/ig/ingest-report.csv
grep -q "$s1/$f1," $R || { echo "FAIL: truncated file not reported"; cat $R; exit 1; }
grep -q "$s1/ZZmr.dcm,.*modality is 'MR'" $R || { echo "FAIL: MR file not reported"; cat $R; exit 1; }
grep -q "$s2,.*inconsistent geometry" $R || { echo "FAIL: geometry not reported"; cat $R; exit 1; }
"$PYTHON" - "$A" res/bad/ig/archive.h5 <<'PY'
import sys, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
na, nb = a["ct/series_table/n_slices"][:], b["ct/series_table/n_slices"][:]
assert nb[0] == na[0] - 1 and nb[1] == 0 and (nb[2:] == na[2:]).all(), (na, nb)
assert b["ct/slices"].shape[0] == a["ct/slices"].shape[0] - 1 - na[1]
print("bad input: series 1 lost one slice, series 2 rejected, the rest complete")
PY
if "$HUST19" ingest bad.yaml --force --set ct.strict=true 2> strict.log; then echo "FAIL: strict accepted bad input"; exit 1; fi
grep -q "ct.strict" strict.log || { echo "FAIL: strict message"; cat strict.log; exit 1; }

# strict job keys
if "$HUST19" ingest strict.yaml --set ct.windw.center=1 2> key.log; then echo "FAIL: unknown key accepted"; exit 1; fi
grep -q "unknown key 'windw'" key.log || { echo "FAIL: key message"; cat key.log; exit 1; }
echo "it/ingest_ct: OK"
