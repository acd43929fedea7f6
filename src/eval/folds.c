/* folds.c — stratified k-fold assignment keyed through include/hust19/rng.h (H19_RNG_FOLDS).
 *
 * Per class, the member indices (ascending) are shuffled by Fisher-Yates with the stream
 * (seed, H19_RNG_FOLDS, repeat, subkey, epoch 0, sample = class) and dealt round-robin into the
 * folds; the dealer continues where the previous class stopped, so each class is spread within
 * one sample per fold and the fold sizes differ by at most one. The result depends only on the
 * key and the labels (never on rank or time), as DESIGN.md requires for reproducible CV. Like
 * sklearn's StratifiedKFold(shuffle=True) in intent, not bit-identical to it.
 */
#include "hust19/ev.h"
#include "hust19/err.h"
#include "hust19/rng.h"

#include <stdlib.h>

int ev_stratified_folds_keyed(const int *y, int n, int k, int nclass, uint64_t seed,
                              uint32_t repeat, uint32_t subkey, int *fold_out)
{
    if (!y || !fold_out || n <= 0 || nclass < 1)
        return h19_fail(H19_EARG, "folds.c:ev_stratified_folds: need y, fold_out, n > 0, nclass >= 1 "
                                  "(n = %d, nclass = %d)", n, nclass);
    if (k < 2 || k > n)
        return h19_fail(H19_EARG, "folds.c:ev_stratified_folds: k = %d, expected 2 <= k <= n = %d", k, n);
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= nclass)
            return h19_fail(H19_EARG, "folds.c:ev_stratified_folds: y[%d] = %d not in [0,%d)", i, y[i],
                            nclass);
    int *idx = h19_malloc(sizeof(int) * (size_t)n);
    if (!idx) return H19_ENOMEM;
    int dealer = 0;
    for (int c = 0; c < nclass; c++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (y[i] == c) idx[m++] = i;
        h19_rng r;
        h19_rng_init(&r, seed, H19_RNG_FOLDS, repeat, subkey, 0, (uint32_t)c);
        h19_rng_shuffle(&r, idx, m);
        for (int j = 0; j < m; j++) {
            fold_out[idx[j]] = dealer;
            dealer = (dealer + 1) % k;
        }
    }
    free(idx);
    return H19_OK;
}

int ev_stratified_folds(const int *y, int n, int k, int nclass, uint64_t seed, uint32_t repeat,
                        int *fold_out)
{
    return ev_stratified_folds_keyed(y, n, k, nclass, seed, repeat, 0, fold_out);
}
