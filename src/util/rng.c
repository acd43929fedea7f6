/* rng.c — Philox4x32-10 (J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, "Parallel random
 * numbers: as easy as 1, 2, 3", SC'11). Key = hash(seed, purpose); counter words =
 * (draw index, sample, epoch, repeat<<16 | fold). */
#include "hust19/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void h19_philox4x32_10(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo(PHILOX_M1, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0;
        uint32_t n1 = lo1;
        uint32_t n2 = hi0 ^ c3 ^ k1;
        uint32_t n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

uint64_t h19_mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

void h19_rng_init(h19_rng *r, uint64_t seed, uint32_t purpose, uint32_t repeat, uint32_t fold,
                  uint32_t epoch, uint32_t sample)
{
    uint64_t k = h19_mix64(h19_mix64(seed) ^ ((uint64_t)purpose * 0xA24BAED4963EE407ull));
    r->key[0] = (uint32_t)k;
    r->key[1] = (uint32_t)(k >> 32);
    r->ctr[0] = 0;
    r->ctr[1] = sample;
    r->ctr[2] = epoch;
    r->ctr[3] = (repeat << 16) ^ (fold & 0xFFFFu) ^ ((repeat >> 16) * 0x9E37u);
    r->idx = 4;
    r->has_spare = 0;
    r->spare = 0.0;
}

uint32_t h19_rng_u32(h19_rng *r)
{
    if (r->idx >= 4) {
        h19_philox4x32_10(r->key, r->ctr, r->buf);
        r->ctr[0]++;
        r->idx = 0;
    }
    return r->buf[r->idx++];
}

uint64_t h19_rng_u64(h19_rng *r)
{
    uint64_t hi = h19_rng_u32(r);
    return (hi << 32) | h19_rng_u32(r);
}

double h19_rng_uniform(h19_rng *r) { return (double)(h19_rng_u64(r) >> 11) * 0x1.0p-53; }

float h19_rng_uniformf(h19_rng *r) { return (float)(h19_rng_u32(r) >> 8) * 0x1.0p-24f; }

double h19_rng_normal(h19_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = h19_rng_uniform(r), u2 = h19_rng_uniform(r);
    double rad = sqrt(-2.0 * log(1.0 - u1)); /* 1-u1 in (0,1]: log finite */
    double th = 6.283185307179586 * u2;
    r->spare = rad * sin(th);
    r->has_spare = 1;
    return rad * cos(th);
}

uint32_t h19_rng_below(h19_rng *r, uint32_t n)
{
    uint64_t m = (uint64_t)h19_rng_u32(r) * n;
    uint32_t l = (uint32_t)m;
    if (l < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (l < t) {
            m = (uint64_t)h19_rng_u32(r) * n;
            l = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void h19_rng_shuffle(h19_rng *r, int *idx, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)h19_rng_below(r, (uint32_t)(i + 1));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
