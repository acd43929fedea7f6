#!/usr/bin/env bash
# Bad input on the clinical-feature path: one clear error naming the file and the place, a non-zero
# exit, and no output left behind (no archive, no .tmp).
set -uo pipefail
S=$1; rm -rf "$S"; mkdir -p "$S"; cd "$HUST19_SRC"
JOB=tests/data/cf_small.yaml
fails=0
expect_fail() { # name pattern args...
  local name=$1 pat=$2; shift 2
  local out rc
  out=$("$HUST19" "$@" --set job.results="$S" --set job.name="$name" 2>&1); rc=$?
  if [ $rc -eq 0 ]; then echo "FAIL $name: exit 0"; fails=$((fails + 1)); return; fi
  if ! grep -q -- "$pat" <<<"$out"; then echo "FAIL $name: message lacks '$pat': $out"; fails=$((fails + 1)); fi
  if [ "$(grep -c "ERROR" <<<"$out")" -ne 1 ]; then echo "FAIL $name: not exactly one error: $out"; fails=$((fails + 1)); fi
  if ls "$S/$name" 2>/dev/null | grep -q .; then echo "FAIL $name: left output: $(ls "$S/$name")"; fails=$((fails + 1)); fi
  echo "ok $name: $(grep ERROR <<<"$out")"
}
T=data/ictcf/raw_cf_data.csv
expect_fail missing "nonexistent.csv: cannot open" ingest $JOB --set data.cf_table=$S/nonexistent.csv
head -n 50 $T > $S/trunc.csv; printf '\n9999,"HUST-Union Hospital,81' >> $S/trunc.csv
expect_fail truncated "trunc.csv:52: quoted field never closed" ingest $JOB --set data.cf_table=$S/trunc.csv
awk 'NR == 40 { print $0 ",extra"; next } { print }' $T > $S/wide.csv
expect_fail wide "wide.csv:40: 125 fields, expected 124" ingest $JOB --set data.cf_table=$S/wide.csv
awk -F, 'BEGIN { OFS = "," } NR == 7 { $3 = "eighty" } { print }' $T > $S/nonnum.csv
expect_fail nonnumeric "nonnum.csv:7: column 'Age': expected a number" ingest $JOB --set data.cf_table=$S/nonnum.csv
sed '12s/,Regular,/,Moderate,/' $T > $S/label.csv
expect_fail label "label.csv:12: column 'Morbidity outcome': label 'Moderate' is not in the class map" ingest $JOB --set data.cf_table=$S/label.csv
sed 's/^  seed: 7$/  seed: 7\n  sede: 8/' $JOB > $S/typo.yaml
expect_fail unknown_key "typo.yaml:5:3: unknown key 'sede' in 'job'" ingest $S/typo.yaml
expect_fail bad_value "'cv.folds' = 1 is out of range" cv $JOB --set cv.folds=1
# an archive of another schema version
mkdir -p $S/ver && "$HUST19" ingest $JOB --set job.results="$S/ver" --set job.name=v >/dev/null 2>&1
/usr/bin/python3 - "$S/ver/v/archive.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    f.attrs["hust19_version"] = 99
PY
out=$("$HUST19" cv $JOB --set job.results="$S/ver" --set job.name=v 2>&1); rc=$?
if [ $rc -eq 0 ] || ! grep -q "version 99, this build reads version 1" <<<"$out"; then echo "FAIL version: $out"; fails=$((fails + 1)); else echo "ok version: $(grep ERROR <<<"$out")"; fi
test ! -e "$S/ver/v/results.h5" || { echo "FAIL version: results written"; fails=$((fails + 1)); }
find "$S" -name "*.tmp*" | grep . && { echo "FAIL: temporary files left"; fails=$((fails + 1)); }
echo "$fails failures"
exit $((fails > 0))
