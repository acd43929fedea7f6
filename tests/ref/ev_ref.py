#!/usr/bin/env python3
"""ev_ref.py DRIVER WORKDIR — compare hust19's ev_ (AUC, DeLong, ROC, thresholds, measures) with
scikit-learn 1.2 / SciPy / a direct O(n^2) DeLong computation.

Cases come from a fixed numpy seed: tiny n (2..6), heavy ties (scores on 2..5 levels), untied
continuous scores, unbalanced classes. The C driver (tests/unit/test_ev_ref.c, mode "auc") reads
"ncases / n / y s1 s2 rows" and writes its results; this script computes the references.

Tolerances (absolute): 1e-12 for AUC (vs sklearn.metrics.roc_auc_score), ROC points and thresholds
(vs sklearn.metrics.roc_curve(drop_intermediate=False)), DeLong variances/covariance (vs the
structural components of DeLong 1988 computed pairwise in numpy), CIs and p-values (vs
scipy.stats.norm); measures exact-ish at 1e-12 vs sklearn.metrics (zero_division=0).
"""
import subprocess
import sys

import numpy as np
from scipy.stats import norm
from sklearn.metrics import (accuracy_score, confusion_matrix, matthews_corrcoef, precision_score,
                             recall_score, roc_auc_score, roc_curve)

TOL = 1e-12


def make_cases(rng):
    cases = []
    # tiny n, every size with both classes
    for n in range(2, 7):
        for _ in range(6):
            y = rng.integers(0, 2, n)
            y[0], y[1] = 0, 1
            s1 = rng.integers(0, 3, n).astype(float)  # heavy ties
            s2 = rng.normal(size=n)
            cases.append((y, s1, s2))
    for _ in range(120):
        n = int(rng.integers(8, 400))
        prev = rng.uniform(0.05, 0.6)
        y = (rng.uniform(size=n) < prev).astype(int)
        y[0], y[1] = 0, 1
        kind = rng.integers(0, 3)
        base = y * rng.uniform(0, 2) + rng.normal(size=n)
        if kind == 0:  # heavy ties: few levels
            lv = int(rng.integers(2, 6))
            s1 = np.floor((base - base.min()) / (np.ptp(base) + 1e-9) * lv) / lv
        elif kind == 1:  # moderate ties: rounded
            s1 = np.round(base, 1)
        else:  # untied
            s1 = base
        s2 = s1 + rng.normal(scale=0.5, size=n)
        if kind == 0:
            s2 = np.round(s2)
        cases.append((y, s1, s2))
    return cases


def delong_direct(y, s):
    """Structural components by the definition (DeLong 1988): O(m n) pairwise psi."""
    x, z = s[y == 1], s[y == 0]
    psi = (x[:, None] > z[None, :]).astype(float) + 0.5 * (x[:, None] == z[None, :])
    return psi.mean(axis=1), psi.mean(axis=0), psi.mean()


def main():
    driver, work = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(20200901)
    cases = make_cases(rng)
    inp, outp = f"{work}/auc_in.txt", f"{work}/auc_out.txt"
    with open(inp, "w") as f:
        f.write(f"{len(cases)}\n")
        for y, s1, s2 in cases:
            f.write(f"{len(y)}\n")
            for a, b, c in zip(y, s1, s2):
                f.write(f"{a} {b!r} {c!r}\n")
    subprocess.run([driver, "auc", inp, outp], check=True)
    lines = open(outp).read().split("\n")
    pos = 0
    bad = 0
    checked = 0

    def expect(cond, msg):
        nonlocal bad, checked
        checked += 1
        if not cond:
            bad += 1
            if bad < 30:
                print("MISMATCH:", msg)

    z975 = norm.ppf(0.975)
    for ci, (y, s1, s2) in enumerate(cases):
        assert lines[pos] == f"case {ci}", lines[pos]
        auc = float(lines[pos + 1].split()[1])
        ref = roc_auc_score(y, s1)
        expect(abs(auc - ref) <= TOL, f"case {ci}: auc {auc!r} vs sklearn {ref!r}")
        d = lines[pos + 2].split()
        m, nn = int(y.sum()), int((1 - y).sum())
        if m >= 2 and nn >= 2:
            expect(d[1] != "NA", f"case {ci}: DeLong refused m={m} n={nn}")
            var, lo, hi, llo, lhi, auc2, v1, v2, cov, zz, pp = map(float, d[1:])
            a10, a01, A = delong_direct(y, s1)
            b10, b01, B = delong_direct(y, s2)
            rv1 = a10.var(ddof=1) / m + a01.var(ddof=1) / nn
            rv2 = b10.var(ddof=1) / m + b01.var(ddof=1) / nn
            rcov = np.cov(a10, b10)[0, 1] / m + np.cov(a01, b01)[0, 1] / nn
            expect(abs(var - rv1) <= TOL and abs(v1 - rv1) <= TOL, f"case {ci}: var {var!r} vs {rv1!r}")
            expect(abs(v2 - rv2) <= TOL, f"case {ci}: var2 {v2!r} vs {rv2!r}")
            expect(abs(cov - rcov) <= TOL, f"case {ci}: cov {cov!r} vs {rcov!r}")
            expect(abs(auc2 - B) <= TOL, f"case {ci}: auc2 {auc2!r} vs {B!r}")
            se = np.sqrt(rv1)
            expect(abs(lo - max(0, A - z975 * se)) <= TOL and abs(hi - min(1, A + z975 * se)) <= TOL,
                   f"case {ci}: normal CI ({lo}, {hi})")
            if 0 < A < 1 and se > 0:
                lg, ls = np.log(A / (1 - A)), se / (A * (1 - A))
                rl, rh = 1 / (1 + np.exp(-(lg - z975 * ls))), 1 / (1 + np.exp(-(lg + z975 * ls)))
            else:
                rl = rh = A
            expect(abs(llo - rl) <= TOL and abs(lhi - rh) <= TOL, f"case {ci}: logit CI ({llo}, {lhi}) vs ({rl}, {rh})")
            vd = rv1 + rv2 - 2 * rcov
            if vd > 1e-14:
                rz = (A - B) / np.sqrt(vd)
                expect(abs(zz - rz) <= 1e-9 * max(1, abs(rz)), f"case {ci}: z {zz!r} vs {rz!r}")
                expect(abs(pp - 2 * norm.sf(abs(rz))) <= 1e-9, f"case {ci}: p {pp!r}")
        else:
            expect(d[1] == "NA", f"case {ci}: DeLong should refuse m={m} n={nn}")
        npts = int(lines[pos + 3].split()[1])
        pts = np.array([list(map(float, lines[pos + 4 + i].split())) for i in range(npts)])
        rf, rt, rth = roc_curve(y, s1, drop_intermediate=False)
        expect(len(rf) == npts, f"case {ci}: roc {npts} points vs sklearn {len(rf)}")
        if len(rf) == npts:
            expect(np.all(np.abs(pts[:, 0] - rf) <= TOL) and np.all(np.abs(pts[:, 1] - rt) <= TOL)
                   and np.all(np.abs(pts[:, 2] - rth) <= TOL), f"case {ci}: roc points differ")
        q = pos + 4 + npts
        ty, ts = map(float, lines[q].split()[1:])
        # Youden by exact integer comparison over sklearn's thresholds (skip the max+1 one);
        # np.argmax returns the first (largest threshold) of ties.
        P, N = m, nn
        tps, fps = np.round(rt * P).astype(np.int64), np.round(rf * N).astype(np.int64)
        J = tps[1:] * N - fps[1:] * P
        expect(ty == rth[1:][np.argmax(J)], f"case {ci}: youden {ty!r} vs {rth[1:][np.argmax(J)]!r}")
        ok = np.nonzero(tps[1:] / P >= 0.95)[0]
        expect(ts == rth[1:][ok[0]], f"case {ci}: sensitive thr {ts!r} vs {rth[1:][ok[0]]!r}")
        for r, thr in enumerate([ty, ts, s1.max() + 1.0]):
            v = lines[q + 1 + r].split()
            tp, fp, tn, fn = map(int, v[:4])
            sn, sp, ac, ppv, npv, mcc = map(float, v[4:])
            pred = (s1 >= thr).astype(int)
            cm = confusion_matrix(y, pred, labels=[0, 1])
            expect((tn, fp, fn, tp) == tuple(cm.ravel()), f"case {ci}: confusion {v[:4]} vs {cm.ravel()}")
            rs = [recall_score(y, pred, zero_division=0), recall_score(1 - y, 1 - pred, zero_division=0),
                  accuracy_score(y, pred), precision_score(y, pred, zero_division=0),
                  precision_score(1 - y, 1 - pred, zero_division=0), matthews_corrcoef(y, pred)]
            expect(np.all(np.abs(np.array([sn, sp, ac, ppv, npv, mcc]) - rs) <= TOL),
                   f"case {ci} thr {thr}: measures {[sn, sp, ac, ppv, npv, mcc]} vs {rs}")
        pos = q + 4
    print(f"ev_ref: {len(cases)} cases, {checked} checks, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
