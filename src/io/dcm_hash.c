/* dcm_hash.c — SHA-256 (FIPS 180-4), HMAC-SHA256 (RFC 2104) and the de-identification UID map.
 *
 * OpenSSL is not a dependency and DCMTK's ofstd has no SHA-2, so the hash is written here from the
 * FIPS 180-4 specification (section 6.2: message schedule, 64 rounds, constants of section 4.2.2).
 * Tested against the FIPS/NIST examples and RFC 4231 in tests/unit/test_dcm_hash.c.
 */
#include "hust19/dicom.h"
#include "hust19/err.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    uint32_t h[8];
    uint64_t len;     /* bytes hashed so far */
    uint8_t buf[64];
    size_t nbuf;
} sha256_ctx;

/* FIPS 180-4 4.2.2: first 32 bits of the fractional parts of the cube roots of the first 64 primes */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 | (uint32_t)p[4 * t + 2] << 8 |
               (uint32_t)p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = hh + S1 + ch + K[t] + w[t];
        uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + maj;
        hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

static void sha256_init(sha256_ctx *c)
{
    /* FIPS 180-4 5.3.3: square roots of the first 8 primes */
    static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, H0, sizeof H0);
    c->len = 0;
    c->nbuf = 0;
}

static void sha256_update(sha256_ctx *c, const void *data, size_t n)
{
    const uint8_t *p = data;
    c->len += n;
    while (n) {
        size_t take = 64 - c->nbuf;
        if (take > n) take = n;
        memcpy(c->buf + c->nbuf, p, take);
        c->nbuf += take;
        p += take;
        n -= take;
        if (c->nbuf == 64) {
            sha256_block(c->h, c->buf);
            c->nbuf = 0;
        }
    }
}

static void sha256_final(sha256_ctx *c, uint8_t out[32])
{
    /* FIPS 180-4 5.1.1: append 0x80, zeros, and the bit length as a 64-bit big-endian integer */
    uint64_t bits = c->len * 8;
    uint8_t pad = 0x80;
    sha256_update(c, &pad, 1);
    uint8_t zero = 0;
    while (c->nbuf != 56) sha256_update(c, &zero, 1);
    uint8_t lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(c, lenb, 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

void dcm_sha256(const void *data, size_t n, uint8_t out[32])
{
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, data, n);
    sha256_final(&c, out);
}

void dcm_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
    /* RFC 2104: H((K ^ opad) || H((K ^ ipad) || m)), keys longer than the block are hashed first */
    uint8_t k[64] = {0}, ipad[64], opad[64], inner[32];
    if (klen > 64)
        dcm_sha256(key, klen, k);
    else if (klen)
        memcpy(k, key, klen);
    for (int i = 0; i < 64; i++) {
        ipad[i] = k[i] ^ 0x36;
        opad[i] = k[i] ^ 0x5c;
    }
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, ipad, 64);
    sha256_update(&c, msg, mlen);
    sha256_final(&c, inner);
    sha256_init(&c);
    sha256_update(&c, opad, 64);
    sha256_update(&c, inner, 32);
    sha256_final(&c, out);
}

int dcm_deid_uid(const char *uid, const char *secret, size_t secret_len, char *out)
{
    if (!uid || !secret || !out) return h19_fail(H19_EARG, "dcm_deid_uid: NULL argument");
    if (!secret_len) secret_len = strlen(secret);
    if (!secret_len) return h19_fail(H19_EARG, "dcm_deid_uid: empty secret");
    /* The message is domain-separated so the same secret can key other derivations (pseudonyms). */
    char msg[160];
    int m = snprintf(msg, sizeof msg, "hust19-uid-v1:%s", uid);
    if (m < 0 || (size_t)m >= sizeof msg) return h19_fail(H19_EFORMAT, "UID too long (%zu chars): %.70s", strlen(uid), uid);
    uint8_t mac[32];
    dcm_hmac_sha256(secret, secret_len, msg, (size_t)m, mac);
    /* First 128 bits as an RFC 9562 UUID version 8 (custom), variant 10, so that the "2.25." form
     * is the integer value of a UUID as PS3.5 B.2 / ITU-T X.667 require. */
    uint8_t u[16];
    memcpy(u, mac, 16);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x80);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    /* Decimal of the 128-bit big-endian integer by repeated division by 10 (at most 39 digits). */
    char dig[48];
    int nd = 0;
    for (;;) {
        int nonzero = 0;
        unsigned rem = 0;
        for (int i = 0; i < 16; i++) {
            unsigned cur = rem * 256u + u[i];
            u[i] = (uint8_t)(cur / 10u);
            rem = cur % 10u;
            if (u[i]) nonzero = 1;
        }
        dig[nd++] = (char)('0' + rem);
        if (!nonzero) break;
    }
    memcpy(out, "2.25.", 5);
    for (int i = 0; i < nd; i++) out[5 + i] = dig[nd - 1 - i];
    out[5 + nd] = 0;
    return H19_OK;
}
