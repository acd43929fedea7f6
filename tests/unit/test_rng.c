/* test_rng.c — Philox4x32-10 known-answer vectors (Random123's kat_vectors) and key independence. */
#include "check.h"
#include "hust19/err.h"
#include "hust19/rng.h"

#include <string.h>

int main(void)
{
    /* Random123 kat_vectors: philox4x32 10 rounds. */
    uint32_t k0[2] = {0, 0}, c0[4] = {0, 0, 0, 0}, o[4];
    h19_philox4x32_10(k0, c0, o);
    CHECK(o[0] == 0x6627e8d5u && o[1] == 0xe169c58du && o[2] == 0xbc57ac4cu && o[3] == 0x9b00dbd8u);
    uint32_t k1[2] = {0xffffffffu, 0xffffffffu}, c1[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
    h19_philox4x32_10(k1, c1, o);
    CHECK(o[0] == 0x408f276du && o[1] == 0x41c83b0eu && o[2] == 0xa20bc7c6u && o[3] == 0x6d5451fdu);
    uint32_t k2[2] = {0xa4093822u, 0x299f31d0u}, c2[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u};
    h19_philox4x32_10(k2, c2, o);
    CHECK(o[0] == 0xd16cfe09u && o[1] == 0x94fdccebu && o[2] == 0x5001e420u && o[3] == 0x24126ea1u);

    /* Same key -> same stream; different sample -> different stream. */
    h19_rng a, b, c;
    h19_rng_init(&a, 42, H19_RNG_DROPOUT, 1, 2, 3, 4);
    h19_rng_init(&b, 42, H19_RNG_DROPOUT, 1, 2, 3, 4);
    h19_rng_init(&c, 42, H19_RNG_DROPOUT, 1, 2, 3, 5);
    int same = 1, diff = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = h19_rng_u32(&a), y = h19_rng_u32(&b), z = h19_rng_u32(&c);
        same &= x == y;
        diff += x != z;
    }
    CHECK(same);
    CHECK(diff > 95);

    /* Uniforms in [0,1), mean ~ 0.5; normals mean ~0, var ~1. */
    double s = 0, s2 = 0, m = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double u = h19_rng_uniform(&a);
        CHECK(u >= 0 && u < 1);
        m += u;
        double g = h19_rng_normal(&b);
        s += g;
        s2 += g * g;
    }
    CHECK_NEAR(m / n, 0.5, 0.005);
    CHECK_NEAR(s / n, 0.0, 0.01);
    CHECK_NEAR(s2 / n, 1.0, 0.02);

    /* below() is in range and roughly uniform */
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) counts[h19_rng_below(&c, 7)]++;
    for (int i = 0; i < 7; i++) CHECK(counts[i] > 9500 && counts[i] < 10500);

    int idx[10];
    for (int i = 0; i < 10; i++) idx[i] = i;
    h19_rng_shuffle(&a, idx, 10);
    int seen[10] = {0};
    for (int i = 0; i < 10; i++) seen[idx[i]]++;
    for (int i = 0; i < 10; i++) CHECK(seen[i] == 1);
    CHECK_DONE();
}
