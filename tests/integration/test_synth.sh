#!/bin/bash
# it/synth — `hust19 synth` end to end on a small archive: byte-identical output on 1 and 2 MPI ranks
# and on 1 and 3 threads (diff -r), resume after an interrupted run, another seed differs, pydicom check of the DICOM
# files and labels (tests/ref/synth_check.py), strict job keys, contact sheet.
set -euo pipefail
work="$1"; rm -rf "$work"; mkdir -p "$work"
cd "$work"

job() { # job OUT SEED [extra yaml lines]
    cat <<YAML
synth:
  out: $1
  seed: $2
  patients: 5
  classes: {control: 1, cap: 1, type1: 1, type2: 1}
  slices: {mean: 18, sd: 2, min: 14}
  image_size: 128
  labelled_patients: 3
YAML
}
job a1 7 > a1.yaml
job a2 7 > a2.yaml
job b 8 > b.yaml

"$HUST19" synth a1.yaml 2> a1.log
"$HUST19_MPIEXEC" -np 2 --oversubscribe "$HUST19" synth a2.yaml 2> a2.log
# same seed, 1 vs 2 ranks: the same bytes everywhere (only the out path differs, and it is not written)
diff -r a1 a2 > /dev/null || { echo "FAIL: 1-rank and 2-rank archives differ"; diff -rq a1 a2 | head; exit 1; }
# a rank renders a patient's slices on its cores (3 threads here, 14-22 slices: short last blocks):
# the same bytes
job a3 7 > a3.yaml
HUST19_THREADS=3 "$HUST19" synth a3.yaml 2> a3.log
diff -r a1 a3 > /dev/null || { echo "FAIL: 1-thread and 3-thread archives differ"; diff -rq a1 a3 | head; exit 1; }
n=$(find a1/dicom -name 'IM*.dcm' | wc -l)
[ "$n" -ge 70 ] || { echo "FAIL: only $n DICOM files"; exit 1; }
for f in cf.csv manifest.csv slice_labels.csv synth.yaml; do [ -s "a1/$f" ] || { echo "FAIL: no $f"; exit 1; }; done
grep -q ',pCT$' a1/slice_labels.csv || grep -q ',pCT' a1/slice_labels.csv || { echo "FAIL: no pCT label"; exit 1; }
# "uncertain" slices (a COVID opacity too faint or small to call) stay in the done markers, never
# in slice_labels.csv; the labelled patients' other slices are all listed
if grep -q 'uncertain' a1/slice_labels.csv; then echo "FAIL: an uncertain slice in slice_labels.csv"; exit 1; fi
for m in a1/.synth/done/P*.csv; do
    id=$((10#$(basename "$m" .csv | tr -d P)))
    awk -F, -v id="$id" 'NR > 1 && $1 == id' a1/manifest.csv | grep -q ',1$' || continue
    want=$(awk -F, 'NR > 1 && $2 != "uncertain"' "$m" | wc -l)
    got=$(awk -F, -v id="$id" 'NR > 1 && $1 == id' a1/slice_labels.csv | wc -l)
    [ "$want" -eq "$got" ] || { echo "FAIL: patient $id: $got labelled slices, $want certain ones"; exit 1; }
done

# another seed: different files
job b 8 > b.yaml
"$HUST19" synth b.yaml 2> b.log
if cmp -s a1/dicom/P0001/S01/IM0008.dcm b/dicom/P0001/S01/IM0008.dcm; then echo "FAIL: seed 8 = seed 7"; exit 1; fi
if cmp -s a1/cf.csv b/cf.csv; then echo "FAIL: cf.csv does not depend on the seed"; exit 1; fi

# resume: a re-run skips every complete patient and changes nothing
"$HUST19" synth a1.yaml 2> r.log
grep -q "5 patients skipped" r.log || { echo "FAIL: re-run did not skip"; cat r.log; exit 1; }
diff -r a1 a2 > /dev/null || { echo "FAIL: re-run changed the archive"; exit 1; }
# an interrupted patient (no done marker, a slice missing) is rewritten identically
rm a1/.synth/done/P0003.csv a1/dicom/P0003/S01/IM0002.dcm a1/slice_labels.csv
"$HUST19" synth a1.yaml 2> r2.log
grep -q "4 patients skipped" r2.log || { echo "FAIL: resume did not redo exactly one patient"; cat r2.log; exit 1; }
diff -r a1 a2 > /dev/null || { echo "FAIL: resumed archive differs"; diff -rq a1 a2 | head; exit 1; }
# a changed parameter in the same directory is refused (no mixing of two archives)
sed 's/seed: 7/seed: 9/' a1.yaml > a1b.yaml
if "$HUST19" synth a1b.yaml 2> c.log; then echo "FAIL: changed parameters accepted"; exit 1; fi
grep -q "other parameters" c.log || { echo "FAIL: message"; cat c.log; exit 1; }

# SIGTERM: the run stops after the current patient with exit 75 (requeue); a re-run completes it,
# byte-identical to an uninterrupted run
job s1 11 | sed 's/patients: 5/patients: 8/' > s1.yaml
job s2 11 | sed 's/patients: 5/patients: 8/' > s2.yaml
"$HUST19" synth s2.yaml 2> s2.log
"$HUST19" synth s1.yaml 2> s1.log & pid=$!
sleep 1.5; kill -TERM "$pid" 2>/dev/null || true
set +e; wait "$pid"; code=$?; set -e
[ "$code" = 0 ] || [ "$code" = 75 ] || { echo "FAIL: SIGTERM exit code $code"; cat s1.log; exit 1; }
if [ "$code" = 75 ]; then
    [ ! -f s1/slice_labels.csv ] || { echo "FAIL: labels written by a stopped run"; exit 1; }
    "$HUST19" synth s1.yaml 2> s1b.log
fi
diff -r s1 s2 > /dev/null || { echo "FAIL: stopped and resumed archive differs"; diff -rq s1 s2 | head; exit 1; }
echo "SIGTERM: exit $code, resumed archive identical"

# strict keys: a misspelt key is a clear error naming it
printf 'synth:\n  out: x\n  patiens: 3\n' > bad.yaml
if "$HUST19" synth bad.yaml 2> bad.log; then echo "FAIL: bad key accepted"; exit 1; fi
grep -q "unknown key 'patiens'" bad.log || { echo "FAIL: message"; cat bad.log; exit 1; }
printf 'synth:\n  out: x\n  lesions: {type2: {hu: [-200, -300]}}\n' > bad2.yaml
if "$HUST19" synth bad2.yaml 2> bad2.log; then echo "FAIL: reversed range accepted"; exit 1; fi
grep -q "below min" bad2.log || { echo "FAIL: message"; cat bad2.log; exit 1; }
printf 'synth:\n  seed: 3\n' > bad3.yaml
if "$HUST19" synth bad3.yaml 2> bad3.log; then echo "FAIL: missing out accepted"; exit 1; fi
grep -q "missing required key 'out'" bad3.log || { echo "FAIL: message"; cat bad3.log; exit 1; }

# an independent reader (pydicom) agrees with the files and the labels
if "$PYTHON" -c "import pydicom, numpy" 2>/dev/null; then
    "$PYTHON" "$HUST19_SRC/tests/ref/synth_check.py" a1
else
    echo "note: pydicom not available; reference check skipped"
fi

# attached to the real CF table: ids, classes and a copy of the table
if [ -f "$HUST19_SHARED/data/ictcf/raw_cf_data.csv" ]; then
    cat > t.yaml <<YAML
synth:
  out: t
  cf_table: $HUST19_SHARED/data/ictcf/raw_cf_data.csv
  ct_fraction: 0.004
  slices: 12
  image_size: 64
  labelled_patients: 2
YAML
    "$HUST19" synth t.yaml 2> t.log
    cmp -s t/cf.csv "$HUST19_SHARED/data/ictcf/raw_cf_data.csv" || { echo "FAIL: cf.csv is not the table"; exit 1; }
    [ "$(wc -l < t/manifest.csv)" -eq 1522 ] || { echo "FAIL: manifest rows"; exit 1; }
    grep -q '^4,type2,Severe,HUST-UH,' t/manifest.csv || { echo "FAIL: patient 4"; grep '^4,' t/manifest.csv; exit 1; }
fi

# the standalone cf.csv reads as an iCTCF table: the CF ingest takes it with the real catalog
if [ -f "$HUST19_SRC/configs/cf_catalog.yaml" ] && "$HUST19" ingest --help > /dev/null 2>&1; then
    cat > p.yaml <<YAML
job: {name: synthcf, seed: 5, results: res}
data:
  cf_table: p/cf.csv
  catalog: $HUST19_SRC/configs/cf_catalog.yaml
  cohorts: {id_ranges: {"1": [1, 30], "2": [31, 40]}}
outcomes:
  morbidity:
    label_column: Morbidity outcome
    classes: [control, type_I, type_II]
    map: {Control: control, "Control (Community-acquired pneumonia)": control, Mild: type_I, Regular: type_I,
          Severe: type_II, Critically ill: type_II}
    cohorts: [1]
synth: {out: p, patients: 40, slices: 8, image_size: 64, ct_fraction: 0.1}
YAML
    "$HUST19" synth p.yaml 2> p.log
    "$HUST19" ingest p.yaml 2> i.log || { echo "FAIL: ingest of the synthetic cf.csv"; cat i.log; exit 1; }
    grep -q "40 patients" i.log || { echo "FAIL: ingest log"; cat i.log; exit 1; }
fi

"$HUST19" synth a1.yaml --contact-sheet sheet.jpg 2> s.log
[ "$(head -c 2 sheet.jpg | od -An -tx1 | tr -d ' ')" = "ffd8" ] || { echo "FAIL: contact sheet is not a JPEG"; exit 1; }
echo "it/synth: OK"
