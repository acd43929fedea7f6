#!/usr/bin/env python3
"""stats_cases.py — generate test cases for the st_ statistics and check the C results against
SciPy 1.10 (Debian python3-scipy), the library the paper ran.

    stats_cases.py gen CASES [--seed S]       write the cases (generated from the seed, not stored)
    stats_cases.py check CASES RESULTS        compare test_stats_driver's RESULTS with SciPy

References and tolerances (relative, |c - s| <= tol * |s| + 1e-300):
  scipy.stats.shapiro            W and p, 1e-6 (C mode ST_SW_SCIPY); the double mode is reported
                                 and held to 1e-4 on W and 25% on p (float32 noise in SciPy)
  scipy.stats.ttest_ind          t and p, 1e-6
  scipy.stats.mannwhitneyu       U1 and p, 1e-6 (alternative='two-sided', method='auto')
  scipy.stats.chi2_contingency   chi2 and p, 1e-6 (correction=False)
  Benjamini-Hochberg             statsmodels.stats.multitest.fdrcorrection when installed, else
                                 the same formula in numpy (SciPy 1.10 has no
                                 false_discovery_control); 1e-12
  numpy mean / std(ddof=1)       1e-12
Degenerate cases (n < 3, constant, non-finite, empty margin) must come back "not tested" with the
expected verdict code (1 too few, 2 constant, 3 non-finite, 4 empty margin).
"""
import math
import sys
import warnings

import numpy as np
import scipy
import scipy.stats as ss

TOO_FEW, CONSTANT, NONFINITE, ZERO_MARGIN = 1, 2, 3, 4


def fmt(v):
    return repr(float(v))


def sample(rng, n, kind):
    if kind == "normal":
        x = rng.normal(rng.uniform(-5, 5), 10 ** rng.uniform(-2, 2), n)
    elif kind == "lognormal":
        x = rng.lognormal(0, rng.uniform(0.1, 2), n)
    elif kind == "uniform":
        x = rng.uniform(-1, 1, n)
    elif kind == "expon":
        x = rng.exponential(1, n)
    elif kind == "t3":
        x = rng.standard_t(3, n)
    elif kind == "ties":  # lab values reported to one decimal / integers
        x = np.round(rng.normal(37, 0.8, n), int(rng.integers(0, 2)))
    elif kind == "outlier":
        x = rng.normal(0, 1, n)
        x[rng.integers(0, n)] = 10 ** rng.uniform(2, 6)
    elif kind == "tiny":  # extreme scales
        x = rng.normal(1e-6, 1e-9, n)
    elif kind == "huge":
        x = rng.normal(1e6, 10, n)
    else:
        raise ValueError(kind)
    return x


KINDS = ["normal", "lognormal", "uniform", "expon", "t3", "ties", "outlier", "tiny", "huge"]


def loguniform_int(rng, lo, hi):
    return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))


def gen(path, seed):
    rng = np.random.default_rng(seed)
    lines = []
    # Shapiro-Wilk: every n from 3 to 30, fixed large n including 5000, the rest log-uniform.
    sizes = list(range(3, 31)) + [50, 100, 500, 1000, 2000, 4999, 5000]
    while len(sizes) < 1100:
        sizes.append(loguniform_int(rng, 3, 5000))
    for i, n in enumerate(sizes):
        x = sample(rng, n, KINDS[i % len(KINDS)])
        if len(np.unique(x)) < 2:
            x[0] += 1
        lines.append("sw sw%d %d %s" % (i, n, " ".join(map(fmt, x))))
    # t-test and Mann-Whitney: varied sizes, shifts, ties; Mann-Whitney also in the exact regime.
    for i in range(1100):
        nx, ny = loguniform_int(rng, 3, 2000), loguniform_int(rng, 3, 2000)
        kind = KINDS[i % len(KINDS)]
        x = sample(rng, nx, kind)
        y = sample(rng, ny, kind) + rng.choice([0, 0.1, 1]) * (np.std(x) + 1e-300)
        lines.append("t t%d %d %d %s %s" % (i, nx, ny, " ".join(map(fmt, x)), " ".join(map(fmt, y))))
    for i in range(1100):
        kind = KINDS[i % len(KINDS)]
        if i % 3 == 0:  # exact: one sample <= 8, no ties
            nx, ny = int(rng.integers(3, 9)), int(rng.integers(3, 300 if i % 10 == 0 else 60))
            if i % 2:
                nx, ny = ny, nx
            x = rng.normal(0, 1, nx)
            y = rng.normal(rng.choice([0, 0.5, 2]), 1, ny)
        else:
            # min >= 9 (or ties) keeps SciPy off its exact path, whose memo table is
            # (nx+1)(ny+1)(nx ny+1) doubles; the exact path is exercised above.
            nx, ny = loguniform_int(rng, 9, 3000), loguniform_int(rng, 9, 3000)
            x = sample(rng, nx, kind)
            y = sample(rng, ny, kind) + rng.choice([0, 0.2, 1]) * np.std(x)
            if kind == "ties":
                y = np.round(y, 0)
        lines.append("mw mw%d %d %d %s %s" % (i, nx, ny, " ".join(map(fmt, x)), " ".join(map(fmt, y))))
    for i in range(1100):
        scale = [5, 30, 300, 5000][i % 4]
        t = rng.integers(0, scale, 4)
        if i % 7 == 0:
            t[rng.integers(0, 4)] = 0  # one empty cell (margins stay non-empty below)
        t = np.where(t.reshape(2, 2).sum(0) == 0, t.reshape(2, 2) + 1, t.reshape(2, 2))
        t = np.where(t.sum(1, keepdims=True) == 0, t + 1, t).ravel()
        lines.append("chi chi%d %s" % (i, " ".join(str(int(v)) for v in t)))
    for i in range(1100):
        n = int(rng.integers(1, 200))
        p = rng.uniform(0, 1, n) ** rng.choice([1, 3, 10])
        if i % 5 == 0:
            p[: n // 3] = p[0]  # ties
        if i % 11 == 0:
            p[0], p[-1] = 0.0, 1.0
        lines.append("bh bh%d %d %s" % (i, n, " ".join(map(fmt, p))))
    for i in range(1000):
        n = loguniform_int(rng, 2, 3000)
        x = sample(rng, n, KINDS[i % len(KINDS)])
        lines.append("msd msd%d %d %s" % (i, n, " ".join(map(fmt, x))))
    # Degenerate cases, expected verdict in the id.
    deg = []
    for i in range(20):
        deg.append(("sw", TOO_FEW, [1.0, 2.0][: i % 3]))
        c = float(rng.normal())
        deg.append(("sw", CONSTANT, [c] * (3 + i)))
        x = list(rng.normal(0, 1, 5 + i))
        x[i % len(x)] = [math.nan, math.inf, -math.inf][i % 3]
        deg.append(("sw", NONFINITE, x))
        deg.append(("t", TOO_FEW, (list(rng.normal(0, 1, 2)), list(rng.normal(0, 1, 10)))))
        deg.append(("mw", TOO_FEW, (list(rng.normal(0, 1, 10)), list(rng.normal(0, 1, i % 3)))))
        deg.append(("t", CONSTANT, ([c] * 4, [c] * (3 + i))))
        deg.append(("mw", CONSTANT, ([c] * 4, [c] * (3 + i))))
        deg.append(("t", NONFINITE, (x, list(rng.normal(0, 1, 5)))))
        deg.append(("mw", NONFINITE, (list(rng.normal(0, 1, 5)), x)))
        deg.append(("chi", ZERO_MARGIN, [0, 0, int(rng.integers(1, 9)), int(rng.integers(1, 9))]))
        deg.append(("chi", ZERO_MARGIN, [int(rng.integers(1, 9)), 0, int(rng.integers(1, 9)), 0]))
    for j, (kind, code, data) in enumerate(deg):
        cid = "deg%d_%d" % (j, code)
        if kind == "sw":
            lines.append("sw %s %d %s" % (cid, len(data), " ".join(map(fmt, data))))
        elif kind == "chi":
            lines.append("chi %s %s" % (cid, " ".join(map(str, data))))
        else:
            x, y = data
            lines.append("%s %s %d %d %s %s" % (kind, cid, len(x), len(y), " ".join(map(fmt, x)), " ".join(map(fmt, y))))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def bh_ref(p):
    try:
        from statsmodels.stats.multitest import fdrcorrection
        return fdrcorrection(p)[1], "statsmodels"
    except ImportError:
        # statsmodels' fdrcorrection, restated: p_(k) n / k, running minimum from the top, <= 1.
        o = np.argsort(p)
        q = p[o] * len(p) / np.arange(1, len(p) + 1)
        q = np.minimum.accumulate(q[::-1])[::-1]
        out = np.empty_like(q)
        out[o] = np.minimum(q, 1)
        return out, "numpy restatement of fdrcorrection"


class Checker:
    def __init__(self):
        self.fail = 0
        self.count = {}
        self.worst = {}

    def close_abs(self, what, c, s, rel, absol, cid):
        self.count[what] = self.count.get(what, 0) + 1
        err = abs(c - s) / (abs(s) + 1e-300)
        if not (abs(c - s) <= rel * abs(s) + absol):
            self.fail += 1
            if self.fail <= 30:
                print("FAIL %s %s: C %.17g vs SciPy %.17g (rel %.3g)" % (cid, what, c, s, err))
        if err > self.worst.get(what, (0, ""))[0]:
            self.worst[what] = (err, cid)

    def close(self, what, c, s, tol, cid):
        self.count[what] = self.count.get(what, 0) + 1
        err = abs(c - s) / (abs(s) + 1e-300) if s != c else 0.0
        if not (abs(c - s) <= tol * abs(s) + 1e-300) and not (math.isnan(c) and math.isnan(s)):
            self.fail += 1
            if self.fail <= 30:
                print("FAIL %s %s: C %.17g vs SciPy %.17g (rel %.3g, tol %g)" % (cid, what, c, s, err, tol))
        if err > self.worst.get(what, (0, ""))[0]:
            self.worst[what] = (err, cid)


def check(cases_path, results_path):
    res = {}
    with open(results_path) as f:
        for line in f:
            t = line.split()
            res[t[1]] = t
    ck = Checker()
    bh_src = None
    ncase = 0
    with open(cases_path) as f:
        for line in f:
            t = line.split()
            kind, cid = t[0], t[1]
            ncase += 1
            r = res.get(cid)
            if r is None:
                print("FAIL %s: no result" % cid)
                ck.fail += 1
                continue
            verdict = int(r[2])
            if cid.startswith("deg"):
                want = int(cid.split("_")[1])
                ck.count["degenerate"] = ck.count.get("degenerate", 0) + 1
                if verdict != want or float(r[3]) != 0 or float(r[4]) != 0:
                    print("FAIL %s: verdict %d stat %s p %s, want verdict %d and zeros" % (cid, verdict, r[3], r[4], want))
                    ck.fail += 1
                continue
            if kind in ("sw", "msd", "bh"):
                n = int(t[2])
                x = np.array([float(v) for v in t[3:3 + n]])
            elif kind in ("t", "mw"):
                nx, ny = int(t[2]), int(t[3])
                v = np.array([float(u) for u in t[4:]])
                x, y = v[:nx], v[nx:]
            if verdict != 0 and kind != "bh":
                print("FAIL %s: C says not tested (verdict %d)" % (cid, verdict))
                ck.fail += 1
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if kind == "sw":
                    w, p = ss.shapiro(x)
                    ck.close("sw W (scipy mode)", float(r[3]), w, 1e-6, cid)
                    ck.close("sw p (scipy mode)", float(r[4]), max(p, 0.0), 1e-6, cid)
                    # The double mode differs from SciPy by SciPy's float32 rounding (data,
                    # weights, sums, AS 111): held to 1e-4 on W and 25% (+1e-5) on p; p below
                    # 1e-30 is skipped because SciPy's float32 p underflows there.
                    ck.close("sw W (double mode)", float(r[5]), w, 1e-4, cid)
                    if p > 1e-30:
                        ck.close_abs("sw p (double mode)", float(r[6]), max(p, 0.0), 0.25, 1e-5, cid)
                elif kind == "t":
                    tt = ss.ttest_ind(x, y)
                    ck.close("t stat", float(r[3]), tt.statistic, 1e-6, cid)
                    ck.close("t p", float(r[4]), tt.pvalue, 1e-6, cid)
                elif kind == "mw":
                    m = ss.mannwhitneyu(x, y, alternative="two-sided", method="auto")
                    ck.close("mw U1", float(r[3]), m.statistic, 1e-6, cid)
                    ck.close("mw p", float(r[4]), m.pvalue, 1e-6, cid)
                    exact = (min(len(x), len(y)) <= 8) and len(np.unique(np.r_[x, y])) == len(x) + len(y)
                    if int(r[5]) != (1 if exact else 2):
                        print("FAIL %s: method %s" % (cid, r[5]))
                        ck.fail += 1
                    ck.count["mw exact"] = ck.count.get("mw exact", 0) + exact
                elif kind == "chi":
                    tab = np.array([float(v) for v in t[2:6]]).reshape(2, 2)
                    c2, p, _, _ = ss.chi2_contingency(tab, correction=False)
                    ck.close("chi2 stat", float(r[3]), c2, 1e-6, cid)
                    ck.close("chi2 p", float(r[4]), p, 1e-6, cid)
                elif kind == "bh":
                    adj, bh_src = bh_ref(x)
                    for j, a in enumerate(adj):
                        ck.close("bh adj", float(r[5 + j]), a, 1e-12, cid)
                elif kind == "msd":
                    ck.close("mean", float(r[3]), np.mean(x), 1e-12, cid)
                    ck.close("sd", float(r[4]), np.std(x, ddof=1), 1e-12, cid)
    print("SciPy %s, numpy %s, BH reference: %s; %d cases" % (scipy.__version__, np.__version__, bh_src, ncase))
    for what in sorted(ck.count):
        w = ck.worst.get(what, (0.0, "-"))
        print("  %-22s %6d compared, worst relative error %.3g (%s)" % (what, ck.count[what], w[0], w[1]))
    print("%d failures" % ck.fail)
    return 1 if ck.fail else 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "gen":
        seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 20200722
        gen(sys.argv[2], seed)
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    else:
        print(__doc__)
        sys.exit(2)
