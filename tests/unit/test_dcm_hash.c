/* test_dcm_hash.c — SHA-256 against FIPS 180-4 / NIST CSRC examples, HMAC-SHA256 against RFC 4231,
 * and the 2.25 UID derivation (format, determinism, keying, and that the decimal is exactly the
 * 128-bit value of the HMAC prefix with the UUIDv8 bits set). */
#include "check.h"
#include "hust19/dicom.h"
#include "hust19/err.h"

#include <string.h>

static void hex(const uint8_t *d, int n, char *out)
{
    for (int i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static int sha_is(const void *msg, size_t n, const char *want)
{
    uint8_t d[32];
    char h[65];
    dcm_sha256(msg, n, d);
    hex(d, 32, h);
    if (strcmp(h, want)) fprintf(stderr, "sha256 got %s want %s\n", h, want);
    return !strcmp(h, want);
}

static int hmac_is(const void *k, size_t kn, const void *m, size_t mn, const char *want)
{
    uint8_t d[32];
    char h[65];
    dcm_hmac_sha256(k, kn, m, mn, d);
    hex(d, 32, h);
    if (strcmp(h, want)) fprintf(stderr, "hmac got %s want %s\n", h, want);
    return !strcmp(h, want);
}

int main(void)
{
    /* FIPS 180-4 examples (NIST CSRC "SHA256.pdf") */
    CHECK(sha_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    CHECK(sha_is("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK(sha_is(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    static char million[1000000];
    memset(million, 'a', sizeof million);
    CHECK(sha_is(million, sizeof million, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    /* block-boundary lengths (55, 56, 64 bytes) against Python's hashlib.sha256(b'a'*n) */
    CHECK(sha_is(million, 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"));
    CHECK(sha_is(million, 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"));
    CHECK(sha_is(million, 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"));

    /* RFC 4231 test cases 1, 2 and 6 (key longer than the block) */
    uint8_t k1[20];
    memset(k1, 0x0b, sizeof k1);
    CHECK(hmac_is(k1, 20, "Hi There", 8, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"));
    const char *m2 = "what do ya want for nothing?";
    CHECK(hmac_is("Jefe", 4, m2, strlen(m2), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
    uint8_t k6[131];
    memset(k6, 0xaa, sizeof k6);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    CHECK(hmac_is(k6, 131, m6, strlen(m6), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));

    /* UID derivation */
    const char *uid = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";
    char a[80], b[80], c[80], d[80];
    CHECK_OK(dcm_deid_uid(uid, "secret-1", 0, a));
    CHECK_OK(dcm_deid_uid(uid, "secret-1", 0, b));
    CHECK_OK(dcm_deid_uid(uid, "secret-2", 0, c));
    CHECK_OK(dcm_deid_uid("1.3.6.1.4.1.5962.1.2.1.20040119072730.12323", "secret-1", 0, d));
    CHECK(!strcmp(a, b));
    CHECK(strcmp(a, c) != 0);
    CHECK(strcmp(a, d) != 0);
    CHECK(!strncmp(a, "2.25.", 5));
    CHECK(strlen(a) <= 64);
    CHECK(a[5] != '0');
    for (const char *p = a + 5; *p; p++) CHECK(*p >= '0' && *p <= '9');
    /* The decimal must be the integer value of the HMAC's first 16 bytes with the RFC 9562 version
     * (8) and variant (10) bits: re-encode it to bytes by multiply-and-add and compare. */
    uint8_t u[16] = {0};
    for (const char *p = a + 5; *p; p++) {
        unsigned carry = (unsigned)(*p - '0');
        for (int i = 15; i >= 0; i--) {
            unsigned v = u[i] * 10u + carry;
            u[i] = (uint8_t)(v & 0xff);
            carry = v >> 8;
        }
        CHECK(carry == 0);
    }
    uint8_t mac[32];
    char msg[128];
    snprintf(msg, sizeof msg, "hust19-uid-v1:%s", uid);
    dcm_hmac_sha256("secret-1", 8, msg, strlen(msg), mac);
    mac[6] = (uint8_t)((mac[6] & 0x0f) | 0x80);
    mac[8] = (uint8_t)((mac[8] & 0x3f) | 0x80);
    CHECK(!memcmp(u, mac, 16));
    CHECK(dcm_deid_uid(uid, "", 0, a) == H19_EARG);
    CHECK_DONE();
}
