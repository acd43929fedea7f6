#!/usr/bin/env bash
# test_deid_tree.sh — `hust19 deid IN OUT` on a tree of CT_small.dcm variants (Explicit LE, Implicit
# LE, Big Endian, JPEG-LS) plus a non-DICOM file: the tree is mirrored, no identifying value of the
# original appears in any output byte (grep -a), pydicom reads every output, pixels equal
# pydicom's pixel_array of the input, UIDs map consistently across files, another secret gives
# other UIDs, --id-map sets the pseudonym, 1 and 2 MPI ranks give byte-identical outputs, and
# usage errors exit 2.
set -euo pipefail
S=${1:?scratch dir}
SRC_DCM="$HUST19_SHARED/data/dicom/CT_small.dcm"
[ -r "$SRC_DCM" ] || { echo "SKIPPED: $SRC_DCM not found"; exit 77; }
command -v dcmconv >/dev/null || { echo "SKIPPED: dcmconv (package dcmtk) not installed"; exit 77; }
"$PYTHON" -c 'import pydicom, numpy' 2>/dev/null || { echo "SKIPPED: pydicom not available"; exit 77; }
rm -rf "$S" && mkdir -p "$S/in/a/b" "$S/in/c"
cp "$SRC_DCM" "$S/in/a/b/explicit.dcm"
dcmconv +ti "$SRC_DCM" "$S/in/a/b/implicit.dcm"
dcmconv +tb "$SRC_DCM" "$S/in/c/bigendian"        # no extension: found by its DICM magic
dcmcjpls "$SRC_DCM" "$S/in/c/jpegls.dcm"
echo "not dicom" > "$S/in/README.txt"
printf 'consortium-secret-1\n' > "$S/secret1"
printf 'another-secret\n' > "$S/secret2"

fail() { echo "FAIL: $*"; exit 1; }

"$HUST19" deid "$S/in" "$S/out1" --secret-file "$S/secret1" || fail "deid tree"
for f in a/b/explicit.dcm a/b/implicit.dcm c/bigendian c/jpegls.dcm; do
    [ -s "$S/out1/$f" ] || fail "missing output $f"
done
[ ! -e "$S/out1/README.txt" ] || fail "non-DICOM file copied"
ls "$S/out1"/*/*.tmp.* 2>/dev/null && fail "temporary files left"

# No identifying value of CT_small.dcm anywhere in the output bytes.
for s in "CompressedSamples" "1CT1" "ABCD1234" "1234ABCD" "20040119" "19970430" "JFK IMAGING" \
         "CT01_OC0" "1.3.6.1.4.1.5962" "GEMS_" "CLUNIE1"; do
    if grep -a -r -l -F -- "$s" "$S/out1" >/dev/null; then fail "'$s' found in $(grep -a -r -l -F -- "$s" "$S/out1")"; fi
done
# ...but the input does contain them (the check can fail).
grep -a -q -F "CompressedSamples" "$S/in/a/b/explicit.dcm" || fail "input lacks the patient name?"

# pydicom: flags, pseudonym, consistent UIDs, unchanged pixels.
"$PYTHON" - "$S" <<'PY' || fail "pydicom checks"
import sys, numpy as np, pydicom
S = sys.argv[1]
names = ["a/b/explicit.dcm", "a/b/implicit.dcm", "c/bigendian", "c/jpegls.dcm"]
outs = {n: pydicom.dcmread(f"{S}/out1/{n}") for n in names}
orig = pydicom.dcmread(f"{S}/in/a/b/explicit.dcm")
studies = {d.StudyInstanceUID for d in outs.values()}
frames = {d.FrameOfReferenceUID for d in outs.values()}
pids = {d.PatientID for d in outs.values()}
assert len(studies) == 1 and studies.pop().startswith("2.25."), "study UID not consistent"
assert len(frames) == 1, "frame of reference UID not consistent"
assert len(pids) == 1 and pids.pop().startswith("H19-"), pids
for n, d in outs.items():
    assert d.PatientIdentityRemoved == "YES", n
    assert "PS3.15" in d.DeidentificationMethod, n
    assert d.file_meta.MediaStorageSOPInstanceUID == d.SOPInstanceUID, n
    assert "OtherPatientIDsSequence" not in d, n
    assert not any(e.tag.is_private for e in d.iterall()), n
    assert d.Modality == "CT" and d.Rows == 128
# the same SOP instance (one original) maps to the same new SOP UID in every variant
assert len({d.SOPInstanceUID for d in outs.values()}) == 1
assert outs["c/jpegls.dcm"].file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"
ref = orig.pixel_array
for n in names[:3]:  # pydicom here decodes the uncompressed ones (JPEG-LS needs a plugin)
    assert np.array_equal(outs[n].pixel_array, ref), f"pixels changed in {n}"
print("pydicom checks ok")
PY

# Another secret: other UIDs, other derived pseudonym.
"$HUST19" deid "$S/in/a/b/explicit.dcm" "$S/other.dcm" --secret-file "$S/secret2" || fail "deid other secret"
u1=$("$PYTHON" "$HUST19_SRC/tests/ref/dcm_ref.py" pid "$S/out1/a/b/explicit.dcm")
u2=$("$PYTHON" "$HUST19_SRC/tests/ref/dcm_ref.py" pid "$S/other.dcm")
[ "$u1" != "$u2" ] || fail "another secret gave the same UIDs: $u1"
[ "$(echo "$u1" | cut -d' ' -f3)" != "$(echo "$u2" | cut -d' ' -f3)" ] || fail "same study UID under another secret"

# --id-map pseudonyms; a file whose PatientID is not mapped is an error that does not leak the ID.
printf 'patient_id,pseudonym\n1CT1,HUST-0042\nZZZ,HUST-0001\n' > "$S/map.csv"
mkdir -p "$S/one"
"$HUST19" deid "$S/in/a/b/explicit.dcm" "$S/one" --secret-file "$S/secret1" --id-map "$S/map.csv" || fail "id map"
[ "$("$PYTHON" "$HUST19_SRC/tests/ref/dcm_ref.py" pid "$S/one/explicit.dcm" | cut -d' ' -f1)" = "HUST-0042" ] \
    || fail "pseudonym from the id map not applied"
printf 'patient_id,pseudonym\nZZZ,HUST-0001\n' > "$S/map2.csv"
set +e
err=$("$HUST19" deid "$S/in/a/b/explicit.dcm" "$S/x.dcm" --secret-file "$S/secret1" --id-map "$S/map2.csv" 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || fail "unmapped PatientID accepted"
echo "$err" | grep -q "not in the id map" || fail "unexpected message: $err"
echo "$err" | grep -q "1CT1" && fail "the error message leaks the PatientID"
[ ! -e "$S/x.dcm" ] || fail "output written despite the error"

# MPI: the files are dealt over 2 ranks; the outputs are byte-identical.
if [ -n "${HUST19_MPIEXEC:-}" ]; then
    "$HUST19_MPIEXEC" -np 2 --oversubscribe "$HUST19" deid "$S/in" "$S/out2" --secret-file "$S/secret1" \
        || fail "deid under 2 ranks"
    diff -r "$S/out1" "$S/out2" >/dev/null || fail "2-rank output differs from 1-rank output"
fi

# dcmdump reads the result.
if command -v dcmdump >/dev/null; then dcmdump -q "$S/out1/a/b/explicit.dcm" >/dev/null || fail "dcmdump"; fi

# A truncated file in the tree is reported and skipped (exit 0), or fatal with --strict.
mkdir -p "$S/inbad/x"
cp "$SRC_DCM" "$S/inbad/x/good.dcm"
head -c 20000 "$SRC_DCM" > "$S/inbad/x/trunc.dcm"
log=$("$HUST19" deid "$S/inbad" "$S/outbad" --secret x 2>&1) || fail "a bad file was fatal without --strict: $log"
echo "$log" | grep -q "skipped:.*trunc.dcm" || fail "bad file not reported: $log"
echo "$log" | grep -q "1 DICOM file de-identified, 1 bad file skipped" || fail "summary: $log"
[ -s "$S/outbad/x/good.dcm" ] && [ ! -e "$S/outbad/x/trunc.dcm" ] || fail "good/bad outputs"
set +e
"$HUST19" deid "$S/inbad" "$S/outbad2" --secret x --strict >/dev/null 2>&1; [ $? -eq 1 ] || fail "--strict: want exit 1"
set -e

# Usage errors: no secret, OUT inside IN, missing IN.
set +e
env -u HUST19_DEID_SECRET "$HUST19" deid "$S/in" "$S/out3" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no secret: want exit 2"
"$HUST19" deid "$S/in" "$S/in/sub" --secret x >/dev/null 2>&1; [ $? -eq 2 ] || fail "OUT inside IN: want exit 2"
[ ! -e "$S/in/sub" ] || fail "OUT inside IN was created"
"$HUST19" deid "$S/nope" "$S/out4" --secret x >/dev/null 2>&1; [ $? -eq 1 ] || fail "missing IN: want exit 1"
set -e
echo "deid tree ok"
