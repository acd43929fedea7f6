#!/bin/bash
# test_stats_cli.sh — `hust19 stats` end to end: a generated CF table (cells written as iCTCF prints
# them: units, ↑/↓ flags, "<x", empty) checked row by row against SciPy 1.10
# (tests/ref/stats_cli_ref.py: 1e-6 relative on W, p, adjusted p; exact test choice and verdicts);
# then the real iCTCF table when shared/ is present: every output is written and the paper's
# quoted means are reproduced to within 1 unit (docs/stats.md discusses the differences).
set -euo pipefail
scratch=${1:?scratch dir}
rm -rf "$scratch"
mkdir -p "$scratch"
scratch=$(cd "$scratch" && pwd)
"$PYTHON" "$HUST19_SRC/tests/ref/stats_cli_ref.py" gen "$scratch"
"$HUST19" stats "$scratch/job.yaml" > "$scratch/stdout.txt"
grep -q "stats vs paper" "$scratch/stdout.txt"
"$PYTHON" "$HUST19_SRC/tests/ref/stats_cli_ref.py" check "$scratch"

# A misspelt stats key is an error naming the key.
if "$HUST19" stats "$scratch/job.yaml" --set stats.p_rwa=0.1 2> "$scratch/err.txt"; then
    echo "FAIL: unknown key accepted"; exit 1
fi
grep -q "unknown key 'p_rwa'" "$scratch/err.txt"

table="$HUST19_SHARED/data/ictcf/raw_cf_data.csv"
if [ ! -f "$table" ]; then echo "real table absent: skipping the iCTCF part"; exit 0; fi
cd "$HUST19_SRC"
"$HUST19" stats jobs/ictcf-cf.yaml --set "data.cf_table=$table" --set "job.results=$scratch/real" | tee "$scratch/real.txt"
out="$scratch/real/ictcf-cf"
for f in stats.csv stats-udis.csv stats-summary.csv stats-vs-paper.csv stats.html \
         stats-box-covid_vs_control-higher.svg stats-box-deceased_vs_cured-lower.svg; do
    [ -s "$out/$f" ] || { echo "FAIL: missing $out/$f"; exit 1; }
done
"$PYTHON" - "$out" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/stats-vs-paper.csv", encoding="utf-8")))
bad = 0
for r in rows:
    if r["quantity"].startswith("mean"):
        ok = abs(float(r["ours"]) - float(r["paper"])) <= 1.0
        print("%-45s ours %-8s paper %-6s %s" % (r["quantity"], r["ours"], r["paper"], "ok" if ok else "FAIL"))
        bad += not ok
n = sum(1 for _ in open(sys.argv[1] + "/stats.csv", encoding="utf-8")) - 1
print("stats.csv rows:", n)
sys.exit(1 if bad or n < 3 * 100 else 0)
PY
