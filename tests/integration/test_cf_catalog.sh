#!/usr/bin/env bash
# it/cf_catalog: configs/cf_catalog.yaml against the real iCTCF table.
#  1. the shipped catalog passes tests/ref/cf_catalog_check.py (schema, coverage of every CF column,
#     unique abbreviations, parseable cells, agreement of each normal range with the hospitals'
#     ↑/↓ flags >= min(0.95, best single range - 0.02));
#  2. the check is able to fail: each of a set of single mutations of the catalog must be rejected,
#     and the message must name the problem.
# $1 = scratch directory. Exit 77 (skip) only if the table is absent.
set -euo pipefail
scratch=${1:?usage: test_cf_catalog.sh SCRATCH_DIR}
PY=${PYTHON:-/usr/bin/python3}
csv="${HUST19_SHARED:?}/data/ictcf/raw_cf_data.csv"
cat="${HUST19_SRC:?}/configs/cf_catalog.yaml"
check="${HUST19_SRC}/tests/ref/cf_catalog_check.py"
[ -f "$csv" ] || { echo "skip: $csv not found"; exit 77; }
mkdir -p "$scratch"

# 1. The shipped catalog.
"$PY" "$check" --csv "$csv" --catalog "$cat" --table "$scratch/agreement.md" >"$scratch/check.out" || {
  grep -E '^FAIL|failure' "$scratch/check.out"; echo "FAIL: shipped catalog rejected"; exit 1; }
tail -3 "$scratch/check.out"
# Every CF column (123 headers after the id, minus 5 excluded) has a row in the agreement table.
rows=$(( $(wc -l <"$scratch/agreement.md") - 2 ))  # minus the header and rule lines
[ "$rows" -eq 116 ] || { echo "FAIL: agreement table has $rows numeric rows, expected 116"; exit 1; }

# 2. Mutations: each must make the check fail with the expected message.
fails=0
mutate() {  # name, expected message (grep -E), python statement on `doc` (features list: F)
  local name=$1 expect=$2 stmt=$3 out="$scratch/mut_$1"
  "$PY" - "$cat" "$out.yaml" "$stmt" <<'EOF'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
F = doc["features"]
def by(col):
    return next(f for f in F if f["column"] == col)
exec(sys.argv[3])
yaml.safe_dump(doc, open(sys.argv[2], "w", encoding="utf-8"), allow_unicode=True, sort_keys=False)
EOF
  if "$PY" "$check" --csv "$csv" --catalog "$out.yaml" >"$out.out" 2>&1; then
    echo "FAIL: mutation '$name' was accepted"; fails=$((fails + 1))
  elif ! grep -qE "$expect" "$out.out"; then
    echo "FAIL: mutation '$name' rejected without a message matching '$expect':"
    grep '^FAIL' "$out.out" | head -3; fails=$((fails + 1))
  else
    echo "ok: mutation '$name' rejected: $(grep -m1 -E "$expect" "$out.out")"
  fi
}
mutate missing_column   "Hemoglobin.*no catalog entry"   'F.remove(by("Hemoglobin"))'
mutate duplicate_abbr   "abbr 'HGB' appears 2 times"     'by("Hematocrit")["abbr"] = "HGB"'
mutate duplicate_column "column 'Albumin' appears 2"     'F.append(dict(by("Albumin"), abbr="ALB2"))'
mutate unknown_key      "unknown key 'units'"            'by("Albumin")["units"] = "g/L"'
mutate unknown_topkey   "unknown top-level key"          'doc["extra"] = 1'
mutate bad_version      "version must be 1"              'doc["version"] = 2'
mutate bad_category     "unknown category"               'by("Albumin")["category"] = "chemistry"'
mutate bad_kind         "unknown kind"                   'by("Albumin")["kind"] = "ordinal"'
mutate min_not_lt_max   "min .* is not < max"            'by("Albumin")["normal"] = [55, 35]'
mutate normal_shape     "normal must be \[min, max\]"    'by("Albumin")["normal"] = [35]'
mutate other_on_numeric "allowed only for kind binary"   'by("Albumin")["other"] = 0'
mutate normal_on_binary "normal is allowed only"         'by("Gender")["normal"] = [0, 1]'
mutate level_not_01     "must map text to 0 or 1"        'by("Gender")["levels"]["Male"] = 2'
mutate missing_other    "match no level"                 'del by("Underlying diseases")["other"]'
mutate unused_level     "never occur in the table"       'by("Gender")["levels"]["Unknown"] = 0'
mutate excluded_label   "label or label-leaking"         'F.append(dict(column="Morbidity outcome", abbr="MORB", name="m", category="basic", kind="numeric", unit=""))'
mutate unknown_column   "not in the CSV header"          'F.append(dict(column="Haemoglobin A1c", abbr="HBA1C", name="x", category="biochemical", kind="numeric", unit="%"))'
mutate shifted_range    "Hemoglobin: catalog range .*agrees" 'by("Hemoglobin")["normal"] = [115, 175]'
mutate dropped_range    "Lymphocyte count: .* no normal" 'del by("Lymphocyte count")["normal"]'
mutate wrong_unit_cells "Body temperature: cell .* does not parse" 'by("Body temperature")["unit"] = "K"'

[ "$fails" -eq 0 ] || { echo "FAIL: $fails mutation(s) not rejected as expected"; exit 1; }
echo "cf_catalog: OK"
