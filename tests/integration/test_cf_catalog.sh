#!/usr/bin/env bash
# ctest-labels: python
# it/cf_catalog: configs/cf_catalog.yaml against the real iCTCF table.
#  1. the shipped catalog passes tests/ref/cf_catalog_check.py (schema, coverage of every CF column,
#     unique abbreviations, parseable cells, agreement of each normal range with the hospitals'
#     ↑/↓ flags >= min(0.95, best single range - 0.02));
#  2. the check is able to fail: each of 26 single mutations of the catalog must be rejected,
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

# 2. Mutations: each must make the check fail with the expected message. They run in one Python
# process (the check module imported, the table read once) to keep the test short.
"$PY" - "$check" "$csv" "$cat" "$scratch" <<'EOF'
import contextlib, importlib.util, io, re, sys, yaml
check_py, csv_path, cat_path, scratch = sys.argv[1:5]
spec = importlib.util.spec_from_file_location("cf_catalog_check", check_py)
chk = importlib.util.module_from_spec(spec)
spec.loader.exec_module(chk)
text = open(cat_path, encoding="utf-8").read()

def by(F, col):
    return next(f for f in F if f["column"] == col)

# (name, regex the failure output must contain, mutation of the parsed doc `d` with features `F`,
#  or a function of the catalog text for mutations YAML dumping cannot express)
M = [
 ("missing_column",   r"Hemoglobin.*no catalog entry",   lambda d, F: F.remove(by(F, "Hemoglobin"))),
 ("duplicate_abbr",   r"abbr 'HGB' appears 2 times",     lambda d, F: by(F, "Hematocrit").update(abbr="HGB")),
 ("duplicate_column", r"column 'Albumin' appears 2",     lambda d, F: F.append(dict(by(F, "Albumin"), abbr="ALB2"))),
 ("unknown_key",      r"unknown key 'units'",            lambda d, F: by(F, "Albumin").update(units="g/L")),
 ("unknown_topkey",   r"unknown top-level key",          lambda d, F: d.update(extra=1)),
 ("bad_version",      r"version must be 1",              lambda d, F: d.update(version=2)),
 ("bad_category",     r"unknown category",               lambda d, F: by(F, "Albumin").update(category="chemistry")),
 ("bad_kind",         r"unknown kind",                   lambda d, F: by(F, "Albumin").update(kind="ordinal")),
 ("bad_abbr",         r"is not a short upper-case token", lambda d, F: by(F, "Albumin").update(abbr="alb min")),
 ("missing_unit",     r"missing key 'unit'",             lambda d, F: by(F, "Albumin").pop("unit")),
 ("min_not_lt_max",   r"min .* is not < max",            lambda d, F: by(F, "Albumin").update(normal=[55, 35])),
 ("normal_shape",     r"normal must be \[min, max\]",    lambda d, F: by(F, "Albumin").update(normal=[35])),
 ("other_on_numeric", r"allowed only for kind binary",   lambda d, F: by(F, "Albumin").update(other=0)),
 ("normal_on_binary", r"normal is allowed only",         lambda d, F: by(F, "Gender").update(normal=[0, 1])),
 ("level_not_01",     r"must map text to 0 or 1",        lambda d, F: by(F, "Gender")["levels"].update(Male=2)),
 ("missing_other",    r"match no level",                 lambda d, F: by(F, "Underlying diseases").pop("other")),
 ("unused_level",     r"never occur in the table",       lambda d, F: by(F, "Gender")["levels"].update(Unknown=0)),
 ("one_code_only",    r"yields \[0\], expected both",     lambda d, F: by(F, "Underlying diseases").update(levels={"No underlying disease": 0})),
 ("excluded_label",   r"label or label-leaking",         lambda d, F: F.append(dict(column="Morbidity outcome", abbr="MORB", name="m", category="basic", kind="numeric", unit=""))),
 ("unknown_column",   r"not in the CSV header",          lambda d, F: F.append(dict(column="Haemoglobin A1c", abbr="HBA1C", name="x", category="biochemical", kind="numeric", unit="%"))),
 ("shifted_range",    r"Hemoglobin: catalog range .*agrees", lambda d, F: by(F, "Hemoglobin").update(normal=[115, 175])),
 ("hospital_range",   r"Albumin: catalog range .*agrees", lambda d, F: by(F, "Albumin").update(normal=[40, 55])),
 ("dropped_range",    r"Lymphocyte count: .* no normal", lambda d, F: by(F, "Lymphocyte count").pop("normal")),
 ("wrong_unit_cells", r"Body temperature: cell .* does not parse", lambda d, F: by(F, "Body temperature").update(unit="K")),
 ("duplicate_key",    r"duplicate key 'abbr'",           lambda t: t.replace('    abbr: "HGB"\n', '    abbr: "HGB"\n    abbr: "HB"\n', 1)),
 ("bad_yaml",         r"not valid YAML",                 lambda t: t.replace("features:", "features: [", 1)),
]
fails = 0
for name, expect, mut in M:
    out = "%s/mut_%s" % (scratch, name)
    if mut.__code__.co_argcount == 1:
        mt = mut(text)
        assert mt != text, name
        open(out + ".yaml", "w", encoding="utf-8").write(mt)
    else:
        d = yaml.safe_load(text)
        mut(d, d["features"])
        yaml.safe_dump(d, open(out + ".yaml", "w", encoding="utf-8"), allow_unicode=True, sort_keys=False)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            rc = chk.main(["--csv", csv_path, "--catalog", out + ".yaml"])
    except Exception as e:  # a crash is not a rejection
        rc, buf = "crash", io.StringIO("%s: %s" % (type(e).__name__, e))
    log = buf.getvalue()
    open(out + ".out", "w", encoding="utf-8").write(log)
    hit = re.search(expect, log)
    if rc != 1:
        print("FAIL: mutation %r: check returned %r" % (name, rc)); fails += 1
    elif not hit:
        print("FAIL: mutation %r rejected without a message matching %r" % (name, expect)); fails += 1
    else:
        line = next(l for l in log.splitlines() if re.search(expect, l))
        print("ok: mutation %r rejected: %s" % (name, line[:150]))
sys.exit(1 if fails else 0)
EOF
echo "cf_catalog: OK"
