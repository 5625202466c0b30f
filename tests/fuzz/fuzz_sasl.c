/*
 * fuzz_sasl: the server side of SASL (xmpp/sasl.h) with a fake credential.
 *
 * Input: byte 0 picks the case, the rest is split at 0xFF bytes into fields.
 *
 *   mode 0  SCRAM with every client message from the input: client-first,
 *           server nonce, client-final. Nothing may crash or leak, and a
 *           proof made up by the input must not be accepted.
 *   mode 1  SCRAM where the input gives client-first and the password, and a
 *           client written here (OpenSSL directly, not sasl.c) computes the
 *           right proof: a known user must then succeed with the right
 *           server signature, an unknown one must fail with -EACCES.
 *   mode 2  PLAIN: parse the message; the password is accepted exactly when
 *           it is "pencil".
 *   mode 3  base64: a strict decode followed by an encode gives the input
 *           back; an encode followed by a decode gives the bytes back.
 *
 * Bit 2 of byte 0 picks SHA-256 over SHA-1, bit 3 an unknown user. The
 * credential uses one PBKDF2 iteration, so that a run costs microseconds.
 */
#include "fuzz.h"

#include "xmpp/sasl.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define FIELDS 4

struct field {
    const char *p;
    size_t len;
};

static char out[SASL_MSG_MAX + 1];
static struct scram_server srv;

/* Splits at 0xFF into at most FIELDS fields; missing ones are empty. */
static void split(const uint8_t *data, size_t size, struct field *f)
{
    size_t start = 0;
    for (int k = 0; k < FIELDS; k++) {
        if (start > size) {
            f[k].p = "";
            f[k].len = 0;
            continue;
        }
        const uint8_t *sep = memchr(data + start, 0xff, size - start);
        size_t end = sep ? (size_t)(sep - data) : size;
        f[k].p = (const char *)data + start;
        f[k].len = end - start;
        start = end + 1;
    }
}

static void make_cred(enum scram_hash h, const char *pw, size_t len, struct store_scram *c)
{
    memset(c, 0, sizeof(*c));
    memcpy(c->salt, "saltsaltsaltsalt", 16);
    c->salt_len = 16;
    c->iterations = 1;
    FUZZ_CHECK(scram_derive(h, pw, len, c) == 0, "derive");
}

/* The server nonce a real caller would make: printable, no ','. */
static const char *SNONCE = "3rfcNHYJY1ZVvWVs7j";

static void scram_fuzzed(enum scram_hash h, bool unknown, const struct field *f)
{
    struct store_scram c;
    make_cred(h, "pencil", 6, &c);
    int rc = scram_server_start(&srv, h, f[0].p, f[0].len);
    if (rc < 0) {
        FUZZ_CHECK(srv.state == SCRAM_FAILED, "failed start leaves FAILED");
        FUZZ_CHECK(scram_server_first(&srv, &c, SNONCE, out, sizeof(out)) == -EINVAL,
                   "first after a failed start");
        return;
    }
    FUZZ_CHECK(srv.state == SCRAM_NEED_CREDS, "start ok: NEED_CREDS");
    FUZZ_CHECK(strlen(srv.username) > 0, "a username");
    srv.fake_iterations = 1;
    /* the nonce field stands in for a caller's server nonce: bad ones must be refused */
    char nonce[64];
    size_t nl = f[1].len < sizeof(nonce) - 1 ? f[1].len : sizeof(nonce) - 1;
    memcpy(nonce, f[1].p, nl);
    nonce[nl] = '\0';
    rc = scram_server_first(&srv, unknown ? NULL : &c, nl ? nonce : SNONCE, out, sizeof(out));
    if (rc < 0) {
        FUZZ_CHECK(srv.state == SCRAM_FAILED, "failed first leaves FAILED");
        return;
    }
    FUZZ_CHECK((size_t)rc == strlen(out) && strncmp(out, "r=", 2) == 0, "server-first");
    rc = scram_server_final(&srv, f[2].p, f[2].len, out, sizeof(out));
    /* a made-up proof is right with probability 2^-160: treat success as a bug */
    FUZZ_CHECK(rc < 0, "a fuzzed proof was accepted: %.*s", (int)f[2].len, f[2].p);
    FUZZ_CHECK(srv.state == SCRAM_FAILED, "failed final leaves FAILED");
    FUZZ_CHECK(scram_server_final(&srv, f[2].p, f[2].len, out, sizeof(out)) == -EINVAL,
               "final twice");
}

/* The client side, independent of sasl.c: "c=..,r=..,p=.." into msg, and the expected v=. */
static bool client_final(enum scram_hash h, const char *pw, size_t pw_len, const char *first_msg,
                         size_t first_len, const char *server_first, char *msg, size_t cap,
                         char *verifier, size_t vcap)
{
    const EVP_MD *md = h == SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
    int hlen = EVP_MD_get_size(md);
    unsigned char salt[128], salted[64], ckey[64], skey[64], stored[64], sig[64], proof[64];
    unsigned len;
    /* gs2 header: up to and including the second ',' of client-first */
    const char *c1 = memchr(first_msg, ',', first_len);
    const char *c2 = c1 ? memchr(c1 + 1, ',', first_len - (size_t)(c1 + 1 - first_msg)) : NULL;
    if (!c2)
        return false;
    size_t gs2_len = (size_t)(c2 + 1 - first_msg);
    const char *bare = c2 + 1;
    size_t bare_len = first_len - gs2_len;
    /* server-first: r=<nonce>,s=<salt>,i=<n> */
    const char *sp = strstr(server_first, ",s="), *ip = strstr(server_first, ",i=");
    if (!sp || !ip)
        return false;
    int salt_len = EVP_DecodeBlock(salt, (const unsigned char *)sp + 3, (int)(ip - sp - 3));
    salt_len -= (ip[-1] == '=') + (ip[-2] == '=');
    unsigned iter = (unsigned)strtoul(ip + 3, NULL, 10);
    PKCS5_PBKDF2_HMAC(pw, (int)pw_len, salt, salt_len, (int)iter, md, hlen, salted);
    HMAC(md, salted, hlen, (const unsigned char *)"Client Key", 10, ckey, &len);
    HMAC(md, salted, hlen, (const unsigned char *)"Server Key", 10, skey, &len);
    EVP_Digest(ckey, (size_t)hlen, stored, &len, md, NULL);
    char *cb = malloc(gs2_len * 2 + 8);
    EVP_EncodeBlock((unsigned char *)cb, (const unsigned char *)first_msg, (int)gs2_len);
    int wl = snprintf(msg, cap, "c=%s,r=%.*s", cb, (int)(sp - server_first - 2), server_first + 2);
    free(cb);
    if (wl < 0 || (size_t)wl >= cap)
        return false;
    size_t am_len = bare_len + 1 + strlen(server_first) + 1 + (size_t)wl;
    char *am = malloc(am_len + 1);
    snprintf(am, am_len + 1, "%.*s,%s,%s", (int)bare_len, bare, server_first, msg);
    HMAC(md, stored, hlen, (const unsigned char *)am, am_len, sig, &len);
    for (int i = 0; i < hlen; i++)
        proof[i] = ckey[i] ^ sig[i];
    HMAC(md, skey, hlen, (const unsigned char *)am, am_len, sig, &len);
    free(am);
    char p64[128];
    EVP_EncodeBlock((unsigned char *)p64, proof, hlen);
    if ((size_t)wl + 3 + strlen(p64) + 1 > cap)
        return false;
    strcat(msg, ",p=");
    strcat(msg, p64);
    memcpy(verifier, "v=", 2);
    EVP_EncodeBlock((unsigned char *)verifier + 2, sig, hlen);
    (void)vcap;
    return true;
}

static void scram_right_proof(enum scram_hash h, bool unknown, const struct field *f)
{
    if (f[1].len == 0 || f[1].len > SASL_MSG_MAX)
        return;
    struct store_scram c;
    make_cred(h, f[1].p, f[1].len, &c);
    if (scram_server_start(&srv, h, f[0].p, f[0].len) < 0)
        return;
    srv.fake_iterations = 1;
    char first[SASL_MSG_MAX + 1];
    int rc = scram_server_first(&srv, unknown ? NULL : &c, SNONCE, first, sizeof(first));
    if (rc < 0) {
        /* only a first message too long to answer may fail here */
        FUZZ_CHECK(rc == -ENOBUFS, "server-first failed with %d", rc);
        return;
    }
    char msg[2 * SASL_MSG_MAX], want[128];
    if (!client_final(h, f[1].p, f[1].len, f[0].p, f[0].len, first, msg, sizeof(msg), want,
                      sizeof(want)))
        return;
    size_t ml = strlen(msg);
    rc = scram_server_final(&srv, msg, ml, out, sizeof(out));
    if (ml > SASL_MSG_MAX) {
        FUZZ_CHECK(rc == -EINVAL, "an over-long final is refused");
        return;
    }
    if (unknown) {
        FUZZ_CHECK(rc == -EACCES, "unknown user with a right-looking proof: %d", rc);
        return;
    }
    FUZZ_CHECK(rc > 0, "the right proof was refused (%d): %.*s / %s", rc, (int)f[0].len, f[0].p,
               msg);
    FUZZ_CHECK(strcmp(out, want) == 0, "server signature %s, want %s", out, want);
    FUZZ_CHECK(srv.state == SCRAM_DONE, "DONE");
}

static void plain(enum scram_hash h, const struct field *f, const uint8_t *data, size_t size)
{
    (void)f;
    const char *az, *ac, *pw;
    size_t azl, acl, pwl;
    if (sasl_plain_parse((const char *)data, size, &az, &azl, &ac, &acl, &pw, &pwl) < 0)
        return;
    FUZZ_CHECK(acl > 0 && pwl > 0 && azl + acl + pwl + 2 == size, "PLAIN fields");
    FUZZ_CHECK(!memchr(ac, 0, acl) && !memchr(pw, 0, pwl) && !memchr(az, 0, azl), "no NULs");
    struct store_scram c;
    make_cred(h, "pencil", 6, &c);
    bool right = pwl == 6 && memcmp(pw, "pencil", 6) == 0;
    FUZZ_CHECK(sasl_plain_check(h, &c, pw, pwl) == right, "PLAIN check");
}

static void b64(const uint8_t *data, size_t size)
{
    static unsigned char dec[8192];
    static char enc[16384];
    int n = sasl_b64_decode((const char *)data, size, dec, sizeof(dec));
    if (n >= 0 && size > 1) {
        int m = sasl_b64_encode(dec, (size_t)n, enc, sizeof(enc));
        FUZZ_CHECK(m >= 0 && (size_t)m == size && memcmp(enc, data, size) == 0,
                   "decode is strict: re-encoding gives the input back");
    }
    if (size <= sizeof(dec) / 2) {
        int m = sasl_b64_encode(data, size, enc, sizeof(enc));
        FUZZ_CHECK(m >= 0, "encode");
        n = sasl_b64_decode(enc, (size_t)m, dec, sizeof(dec));
        FUZZ_CHECK(n >= 0 && (size_t)n == size && memcmp(dec, data, size) == 0, "round trip");
        if (size > 0)
            FUZZ_CHECK(sasl_b64_decode(enc, (size_t)m, dec, size - 1) == -ENOBUFS, "small cap");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    enum scram_hash h = mode & 4 ? SCRAM_SHA256 : SCRAM_SHA1;
    bool unknown = mode & 8;
    struct field f[FIELDS];
    split(data + 1, size - 1, f);
    switch (mode & 3) {
    case 0:
        scram_fuzzed(h, unknown, f);
        break;
    case 1:
        scram_right_proof(h, unknown, f);
        break;
    case 2:
        plain(h, f, data + 1, size - 1);
        break;
    case 3:
        b64(data + 1, size - 1);
        break;
    }
    return 0;
}
