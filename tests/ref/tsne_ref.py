#!/usr/bin/env python3
"""tsne_ref.py DRIVER WORKDIR [bench N] — compare hust19's ev_tsne / ev_trustworthiness
(tests/unit/test_tsne.c as the driver) with scikit-learn 1.2.

Checks (reference: sklearn.manifold.trustworthiness and
TSNE(n_components=2, method="exact", perplexity=30, init="pca", learning_rate="auto",
random_state=0), everything else at its default):
  1. trustworthiness of given (X, Y) on 8 random untied cases (n 40..301, d 3..10, e 2..3,
     k 1..12): |ours - sklearn| <= 1e-12 (both are ratios of integer sums, so they agree exactly);
     and one with a duplicated input point, within 1e-3: sklearn's np.argsort breaks ties
     arbitrarily, we by the lower index;
  2. the PCA initialisation against sklearn's (randomized PCA, float32, PC1 std 1e-4) on the two
     data sets below: within 1e-5 of the 1e-4 scale, signs included;
  3. t-SNE on two data sets, (a) N = 600 points shaped like HUST-19's six intermediate scores
     (three noisy clusters through a softmax, 3 + 3 columns in [0, 1]) and (b) 300 of sklearn's
     bundled 8x8 digits (64 features: the cblas distance path):
       - trustworthiness (k = 5, computed by sklearn for both maps) within 0.02 of sklearn's map;
       - final KL within 10% (relative) of sklearn's kl_divergence_;
       - our map's trustworthiness from ev_trustworthiness equals sklearn's of our map (1e-12;
         1e-3 for the digits, whose integer pixels give tied distances).
     The optimisation is chaotic and sklearn runs it in float32 (embedding, gains, update; its
     distances for the perplexity search are float32 too) while we use double, so the maps are
     not pointwise comparable; these are the quality measures that should agree.
With "bench N": one N-point score-shaped set, timing both (no assertions).
"""
import subprocess
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE, trustworthiness

TRUST_TOL = 1e-12
TSNE_TRUST_TOL = 0.02
TIED_TOL = 1e-3
PCA_TOL = 1e-5
KL_RTOL = 0.10


def score_like(n, seed):
    """Three classes; each of two 3-column blocks is softmax(class centre + noise)."""
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, 3, n)
    cent = 2.5 * np.eye(3)

    def softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    a = softmax(cent[lab] + rng.normal(0, 1.0, (n, 3)))
    b = softmax(cent[lab] + rng.normal(0, 1.2, (n, 3)))
    return np.hstack([a, b])


def write_rows(f, a):
    for row in a:
        f.write(" ".join("%.17g" % v for v in row) + "\n")


def c_trust(driver, work, X, Y, k):
    inp, out = f"{work}/trust_in.txt", f"{work}/trust_out.txt"
    with open(inp, "w") as f:
        f.write(f"{X.shape[0]} {X.shape[1]} {Y.shape[1]} {k}\n")
        write_rows(f, X)
        write_rows(f, Y)
    subprocess.run([driver, "trust", inp, out], check=True)
    return float(open(out).read().split()[0])


def c_embed(driver, work, X):
    inp, out = f"{work}/embed_in.txt", f"{work}/embed_out.txt"
    with open(inp, "w") as f:
        f.write(f"{X.shape[0]} {X.shape[1]} 0 0\n")
        write_rows(f, X)
    subprocess.run([driver, "embed", inp, out], check=True)
    lines = open(out).read().split("\n")
    kl, kl_exag, n_iter, secs, cpu = lines[0].split()
    Y = np.array([[float(v) for v in ln.split()] for ln in lines[1:] if ln.strip()])
    c_embed.cpu = float(cpu)
    return Y, float(kl), int(n_iter), float(secs)


def c_pca(driver, work, X):
    inp, out = f"{work}/pca_in.txt", f"{work}/pca_out.txt"
    with open(inp, "w") as f:
        f.write(f"{X.shape[0]} {X.shape[1]} 0 0\n")
        write_rows(f, X)
    subprocess.run([driver, "pca", inp, out], check=True)
    return np.loadtxt(out)


def check_pca(driver, work, name, X):
    """Our exact-PCA init against sklearn 1.2's (PCA(svd_solver="randomized", random_state=0),
    float32, PC1 scaled to std 1e-4): same signs, and equal within 1e-5 relative to the scale
    (float32 and the randomized solver's error on a well-separated spectrum)."""
    pca = PCA(n_components=2, svd_solver="randomized", random_state=np.random.RandomState(0))
    ref = pca.fit_transform(X).astype(np.float32)
    ref = ref / np.std(ref[:, 0]) * 1e-4
    ours = c_pca(driver, work, X)
    err = np.max(np.abs(ours - ref)) / 1e-4
    print(f"tsne_ref: PCA init {name}: max |ours - sklearn| = {err:.2e} x 1e-4")
    assert err <= PCA_TOL, (name, err)


def sk_embed(X):
    c0 = time.process_time()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ts = TSNE(n_components=2, method="exact", perplexity=30, init="pca",
                  learning_rate="auto", random_state=0)
        Y = ts.fit_transform(X)
    sk_embed.cpu = time.process_time() - c0
    return Y, ts.kl_divergence_, ts.n_iter_, time.perf_counter() - t0


def check_trust(driver, work):
    rng = np.random.default_rng(2019)
    worst = 0.0
    cases = [(40, 3, 2, 1), (40, 6, 2, 5), (120, 6, 2, 5), (120, 10, 3, 12), (301, 6, 2, 5),
             (301, 4, 2, 9), (77, 6, 3, 3), (200, 8, 2, 1), (150, 6, 2, 7)]
    for c, (n, d, e, k) in enumerate(cases):
        X = rng.uniform(size=(n, d))
        if c % 3 == 0:
            Y = rng.normal(size=(n, e))  # unrelated map: low trust
        else:
            Y = X[:, :e] + rng.normal(scale=0.1, size=(n, e))  # a noisy projection
        if c == 8:
            X[1] = X[0]  # a duplicated input point: ties in every row's input ranking
        ref = trustworthiness(X, Y, n_neighbors=k)
        ours = c_trust(driver, work, X, Y, k)
        if c == 8:
            # sklearn ranks by np.argsort (introsort, not stable): which of two tied points comes
            # first is arbitrary, while we take the lower index; the difference stays tiny.
            tied = abs(ours - ref)
            assert tied <= TIED_TOL, (c, ours, ref)
            continue
        worst = max(worst, abs(ours - ref))
        assert abs(ours - ref) <= TRUST_TOL, (c, n, d, e, k, ours, ref)
    print(f"tsne_ref: trustworthiness, {len(cases) - 1} untied cases, worst |ours - sklearn| = "
          f"{worst:.2e}; with a duplicated point {tied:.2e}")


def check_tsne(driver, work, name, X):
    Yc, klc, itc, tc = c_embed(driver, work, X)
    Ys, kls, its, ts = sk_embed(X)
    trc = trustworthiness(X, Yc, n_neighbors=5)
    trs = trustworthiness(X, Ys, n_neighbors=5)
    tro = c_trust(driver, work, X, Yc, 5)
    print(f"tsne_ref: {name} N={X.shape[0]} d={X.shape[1]}: trust(k=5) ours {trc:.4f} sklearn {trs:.4f}; "
          f"KL ours {klc:.4f} sklearn {kls:.4f} (rel {abs(klc - kls) / kls:.3f}); "
          f"n_iter {itc} / {its}; time {tc:.2f} s / {ts:.2f} s")
    assert np.all(np.isfinite(Yc)) and Yc.shape == (X.shape[0], 2)
    # digits (integer pixels) have tied distances, broken differently (see check_trust)
    assert abs(tro - trc) <= (TRUST_TOL if name == "scores" else TIED_TOL), (tro, trc)
    assert abs(trc - trs) <= TSNE_TRUST_TOL, (name, trc, trs)
    assert abs(klc - kls) <= KL_RTOL * kls, (name, klc, kls)


def bench(driver, work, n):
    X = score_like(n, 1)
    Yc, klc, itc, tc = c_embed(driver, work, X)
    Ys, kls, its, ts = sk_embed(X)
    trc = trustworthiness(X, Yc, n_neighbors=5)
    trs = trustworthiness(X, Ys, n_neighbors=5)
    print(f"bench_tsne: N={n} d=6 exact t-SNE, 1000 iterations, perplexity 30")
    cc, cs = c_embed.cpu, sk_embed.cpu
    print(f"  hust19  ev_tsne : {tc:8.2f} s wall {cc:8.2f} s CPU  KL {klc:.4f}  trustworthiness(k=5) {trc:.4f}  n_iter {itc}")
    print(f"  sklearn TSNE    : {ts:8.2f} s wall {cs:8.2f} s CPU  KL {kls:.4f}  trustworthiness(k=5) {trs:.4f}  n_iter {its}")
    print(f"  sklearn / hust19: {ts / tc:.1f}x wall, {cs / cc:.1f}x CPU (sklearn's CPU counts all its BLAS threads)")


def main():
    driver, work = sys.argv[1], sys.argv[2]
    if len(sys.argv) >= 4 and sys.argv[3] == "bench":
        bench(driver, work, int(sys.argv[4]) if len(sys.argv) >= 5 else 1500)
        return
    check_trust(driver, work)
    scores = score_like(600, 1)
    digits = load_digits()
    sel = np.random.default_rng(5).choice(digits.data.shape[0], 300, replace=False)
    digits = digits.data[sel] / 16.0
    check_pca(driver, work, "scores", scores)
    check_pca(driver, work, "digits", digits)
    check_tsne(driver, work, "scores", scores)
    check_tsne(driver, work, "digits", digits)
    print("tsne_ref: all checks passed")


if __name__ == "__main__":
    main()
