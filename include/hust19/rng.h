/* rng.h — counter-based random numbers (Philox4x32-10, Salmon et al., SC'11).
 *
 * A stream is keyed by (seed, purpose, repeat, fold, epoch, sample): the same key gives the same
 * numbers whatever the rank that draws them, the rank count or the scheduling order. Never key a
 * stream by rank, time or order of arrival. Draw i of a stream is a pure function of (key, i).
 *
 *     h19_rng r;
 *     h19_rng_init(&r, seed, H19_RNG_DROPOUT, repeat, fold, epoch, sample_index);
 *     float u = h19_rng_uniformf(&r);
 */
#ifndef HUST19_RNG_H
#define HUST19_RNG_H

#include <stdint.h>

/* Purposes: one per independent use, so that streams never overlap. Append only. */
enum {
    H19_RNG_FOLDS = 1,    /* stratified fold assignment */
    H19_RNG_INIT = 2,     /* weight initialisation */
    H19_RNG_SHUFFLE = 3,  /* per-epoch sample order */
    H19_RNG_DROPOUT = 4,  /* dropout masks */
    H19_RNG_SYNTH = 5,    /* synthetic CT phantoms */
    H19_RNG_SPLIT = 6,    /* train/validation splits */
    H19_RNG_TSNE = 7,     /* t-SNE initialisation */
    H19_RNG_STATS = 8,    /* statistics test cases */
    H19_RNG_DEID = 9,     /* de-identification (keyed by the job's secret) */
    H19_RNG_AUGMENT = 10, /* data augmentation */
};

typedef struct {
    uint32_t key[2];
    uint32_t ctr[4];
    uint32_t buf[4];
    int idx; /* next unused word of buf; 4 = empty */
    int has_spare;
    double spare;
} h19_rng;

void h19_rng_init(h19_rng *r, uint64_t seed, uint32_t purpose, uint32_t repeat, uint32_t fold,
                  uint32_t epoch, uint32_t sample);
uint32_t h19_rng_u32(h19_rng *r);
uint64_t h19_rng_u64(h19_rng *r);
/* Uniform in [0, 1): 53 (double) or 24 (float) random bits. */
double h19_rng_uniform(h19_rng *r);
float h19_rng_uniformf(h19_rng *r);
/* Standard normal (Box–Muller on two uniforms). */
double h19_rng_normal(h19_rng *r);
/* Uniform integer in [0, n), unbiased (Lemire's rejection). n > 0. */
uint32_t h19_rng_below(h19_rng *r, uint32_t n);
/* Fisher–Yates shuffle of idx[0..n). */
void h19_rng_shuffle(h19_rng *r, int *idx, int n);

/* One Philox4x32-10 block: out = Philox(key, ctr). Exposed for tests (Random123 known answers). */
void h19_philox4x32_10(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]);

/* A 64-bit mixing hash (SplitMix64 finaliser), for deriving keys and ids. */
uint64_t h19_mix64(uint64_t x);

#endif
