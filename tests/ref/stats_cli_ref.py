#!/usr/bin/env python3
"""stats_cli_ref.py — end-to-end reference for `hust19 stats`.

    stats_cli_ref.py gen DIR      write DIR/cf.csv (cells as iCTCF prints them), DIR/catalog.yaml,
                                  DIR/job.yaml and DIR/truth.npz (the values behind the cells)
    stats_cli_ref.py check DIR    recompute every row of DIR/results/stats-cli/stats.csv and
                                  stats-udis.csv with SciPy 1.10 and compare

Reference: scipy.stats.shapiro / ttest_ind / mannwhitneyu (two-sided, method 'auto') /
chi2_contingency(correction=False); BH from statsmodels' fdrcorrection (numpy restatement when
statsmodels is absent). Tolerance: 1e-6 relative on W, p and adjusted p; 1e-8 on mean and SD
(stats.csv prints 10 significant digits). The test chosen, the normality verdicts, the direction
and the not-tested reasons must match exactly.
"""
import csv
import os
import sys
import warnings

import numpy as np
import scipy.stats as ss

MORB = ["Control", "Control (Community-acquired pneumonia)", "Mild", "Regular", "Severe", "Critically ill",
        "Suspected"]
MORT = ["Cured", "Deceased", "Unknown"]
FEATS = [("Age", "AGE", "basic", ""), ("Body temperature", "TEMP", "basic", "°C"),
         ("Feature A", "FA", "routine_blood", "g/L"), ("Feature B", "FB", "biochemical", "U/L"),
         ("Feature C", "FC", "cytokine", "pg/mL"), ("Feature D", "FD", "immune_cell", "%"),
         ("Feature E", "FE", "urine", "")]
N = 420


def gen(d):
    rng = np.random.default_rng(19)
    morb = rng.choice(MORB, N, p=[0.2, 0.1, 0.05, 0.35, 0.15, 0.05, 0.1])
    sev = np.array([{"Mild": 1, "Regular": 1, "Severe": 2, "Critically ill": 2}.get(m, 0) for m in morb])
    mort = np.where(sev > 0, rng.choice(["Cured", "Deceased"], N, p=[0.85, 0.15]), "Unknown")
    vals = {}
    vals["Age"] = np.round(rng.normal(50 + 6 * sev, 12)).astype(float)
    vals["Body temperature"] = np.round(rng.normal(36.9 + 0.4 * (sev > 0), 0.5), 1)
    vals["Feature A"] = np.round(rng.normal(120 - 5 * sev, 10), 2)                 # normal, flags
    vals["Feature B"] = np.round(rng.lognormal(3 + 0.3 * sev, 0.8), 2)             # skewed, censored
    vals["Feature C"] = np.where(rng.uniform(size=N) < 0.9, np.nan, np.round(rng.lognormal(1, 1, N), 2))  # sparse
    vals["Feature D"] = np.full(N, 5.0)                                            # constant
    vals["Feature E"] = np.where(mort == "Deceased", np.nan, np.round(rng.normal(6, 1, N), 1))  # no deceased
    vals["Feature E"][np.where(mort == "Deceased")[0][:2]] = [6.5, 7.5]           # two deceased: too few
    censored = np.zeros(N, bool)
    censored[vals["Feature B"] < 8] = True
    vals["Feature B"][censored] = 8.0                                              # "<8.00" -> bound
    udis = rng.uniform(size=N) < 0.3 + 0.2 * (sev == 2)
    with open(os.path.join(d, "cf.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["", "Hospital", "Morbidity outcome", "Mortality outcome", "Underlying diseases"] + [c for c, *_ in FEATS])
        for i in range(N):
            row = [str(i + 1), "HUST-UH", morb[i], mort[i], "Hypertension, diabetes" if udis[i] else "No underlying disease"]
            for col, _, _, unit in FEATS:
                v = vals[col][i]
                if np.isnan(v):
                    row.append("")
                elif col == "Feature B" and censored[i]:
                    row.append("<8.00")
                elif col == "Feature A":
                    row.append("%.2f%s" % (v, " ↓" if v < 110 else (" ↑" if v > 130 else "")))
                else:
                    row.append("%g%s" % (v, unit))
            w.writerow(row)
    with open(os.path.join(d, "catalog.yaml"), "w", encoding="utf-8") as f:
        f.write("version: 1\nfeatures:\n")
        f.write('  - {column: "Underlying diseases", abbr: UDIS, name: "Underlying diseases", category: basic, '
                'kind: binary, unit: "", levels: {"No underlying disease": 1}, other: 0}\n')
        for col, ab, cat, unit in FEATS:
            f.write('  - {column: "%s", abbr: "%s", name: "%s", category: %s, kind: numeric, unit: "%s"}\n'
                    % (col, ab, col, cat, unit))
    with open(os.path.join(d, "job.yaml"), "w", encoding="utf-8") as f:
        f.write("""job: {name: stats-cli, seed: 1, results: %s/results}
data:
  cf_table: %s/cf.csv
  id_column: ""
  catalog: %s/catalog.yaml
  cohorts: {id_ranges: {"1": [1, 300], "2": [301, 420]}}
outcomes:
  morbidity:
    label_column: Morbidity outcome
    classes: [control, type_I, type_II]
    map: {Control: control, "Control (Community-acquired pneumonia)": control, Mild: type_I, Regular: type_I,
          Severe: type_II, Critically ill: type_II, Suspected: exclude}
    cohorts: [1]
  mortality:
    label_column: Mortality outcome
    classes: [cured, deceased]
    map: {Cured: cured, Deceased: deceased, Unknown: exclude}
    cohorts: [1, 2]
stats: {cohorts: [1, 2]}
""" % (d, d, d))
    np.savez(os.path.join(d, "truth.npz"), morb=morb, mort=mort, udis=udis, **{c: vals[c] for c, *_ in FEATS})


def bh(p):
    try:
        from statsmodels.stats.multitest import fdrcorrection
        return fdrcorrection(p)[1]
    except ImportError:
        o = np.argsort(p)
        q = np.minimum.accumulate((p[o] * len(p) / np.arange(1, len(p) + 1))[::-1])[::-1]
        out = np.empty_like(q)
        out[o] = np.minimum(q, 1)
        return out


def close(a, b, tol):
    return abs(a - b) <= tol * abs(b) + 1e-300


def check(d):
    t = np.load(os.path.join(d, "truth.npz"))
    morb, mort, udis = t["morb"], t["mort"], t["udis"]
    covid = np.isin(morb, ["Mild", "Regular", "Severe", "Critically ill"])
    ctrl = np.isin(morb, MORB[:2])
    t2 = np.isin(morb, ["Severe", "Critically ill"])
    t1 = np.isin(morb, ["Mild", "Regular"])
    groups = {"covid_vs_control": (covid, ctrl), "typeII_vs_typeI": (t2, t1),
              "deceased_vs_cured": (mort == "Deceased", mort == "Cured")}
    rows = list(csv.DictReader(open(os.path.join(d, "results/stats-cli/stats.csv"), encoding="utf-8")))
    fails, compared = 0, 0

    def fail(msg):
        nonlocal fails
        fails += 1
        print("FAIL", msg)

    for cmp, (g1, g2) in groups.items():
        mine = [r for r in rows if r["comparison"] == cmp]
        if len(mine) != len(FEATS):
            fail("%s: %d rows, want %d" % (cmp, len(mine), len(FEATS)))
        ps, keys = [], []
        for r in mine:
            x = t[r["feature"]]
            a, b = x[g1 & ~np.isnan(x)], x[g2 & ~np.isnan(x)]
            tag = "%s/%s" % (cmp, r["abbr"])
            compared += 1
            if int(r["n1"]) != len(a) or int(r["n2"]) != len(b):
                fail("%s: n %s/%s, want %d/%d" % (tag, r["n1"], r["n2"], len(a), len(b)))
                continue
            for v, want in ((r["mean1"], np.mean(a) if len(a) else 0), (r["mean2"], np.mean(b) if len(b) else 0),
                            (r["sd1"], np.std(a, ddof=1) if len(a) > 1 else 0), (r["sd2"], np.std(b, ddof=1) if len(b) > 1 else 0)):
                if not close(float(v), want, 1e-8):
                    fail("%s: mean/sd %s, want %.10g" % (tag, v, want))
            if len(a) < 3 or len(b) < 3:
                if r["verdict"] != "not tested: fewer than three values in a group":
                    fail("%s: verdict '%s', want too few" % (tag, r["verdict"]))
                continue
            if len(np.unique(np.r_[a, b])) == 1:
                if r["verdict"] != "not tested: all values equal":
                    fail("%s: verdict '%s', want all values equal" % (tag, r["verdict"]))
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                normal = []
                for k, v in ((1, a), (2, b)):
                    w, p = ss.shapiro(v)
                    normal.append(p >= 0.05)
                    if not close(float(r["sw_p%d" % k]), p, 1e-6) or not close(float(r["sw_w%d" % k]), w, 1e-6):
                        fail("%s: SW group %d %s %s, want %.10g %.10g" % (tag, k, r["sw_w%d" % k], r["sw_p%d" % k], w, p))
                    if r["normal%d" % k] != ("normal" if p >= 0.05 else "not normal"):
                        fail("%s: normality %d" % (tag, k))
                if all(normal):
                    res, test, centre = ss.ttest_ind(a, b), "t-test", 0.0
                else:
                    res, centre = ss.mannwhitneyu(a, b, alternative="two-sided", method="auto"), len(a) * len(b) / 2
                    test = "Mann-Whitney"
            if not r["test"].startswith(test):
                fail("%s: test %s, want %s" % (tag, r["test"], test))
            if not close(float(r["statistic"]), res.statistic, 1e-6) or not close(float(r["p"]), res.pvalue, 1e-6):
                fail("%s: stat/p %s %s, want %.10g %.10g" % (tag, r["statistic"], r["p"], res.statistic, res.pvalue))
            want_dir = "higher" if res.statistic > centre else ("lower" if res.statistic < centre else "equal")
            if r["direction"] != want_dir:
                fail("%s: direction %s, want %s" % (tag, r["direction"], want_dir))
            ps.append(res.pvalue)
            keys.append(r)
        if ps:
            for r, q, p in zip(keys, bh(np.array(ps)), ps):
                if not close(float(r["p_bh"]), q, 1e-6):
                    fail("%s/%s: p_bh %s, want %.10g" % (cmp, r["abbr"], r["p_bh"], q))
                sig = "yes" if p < 1e-4 and q < 1e-3 else "no"
                if r["significant"] != sig:
                    fail("%s/%s: significant %s, want %s" % (cmp, r["abbr"], r["significant"], sig))
    urows = {r["comparison"]: r for r in csv.DictReader(open(os.path.join(d, "results/stats-cli/stats-udis.csv"), encoding="utf-8"))}
    for cmp, (g1, g2) in groups.items():
        tab = np.array([[np.sum(g1 & udis), np.sum(g1 & ~udis)], [np.sum(g2 & udis), np.sum(g2 & ~udis)]])
        c2, p, _, _ = ss.chi2_contingency(tab, correction=False)
        r = urows[cmp]
        got = [int(r[k]) for k in ("with_udis1", "without_udis1", "with_udis2", "without_udis2")]
        compared += 1
        if got != list(tab.ravel()) or not close(float(r["chi2"]), c2, 1e-6) or not close(float(r["p"]), p, 1e-6):
            fail("udis %s: %s chi2 %s p %s, want %s %.10g %.10g" % (cmp, got, r["chi2"], r["p"], list(tab.ravel()), c2, p))
    print("%d rows compared with SciPy, %d failures" % (compared, fails))
    return 1 if fails else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "gen":
        gen(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2]))
    else:
        print(__doc__)
        sys.exit(2)
