/*
 * Unit tests for xmpp/sasl: the RFC 5802 and RFC 7677 test vectors, wrong
 * proofs, unknown users, malformed SCRAM messages, PLAIN, base64.
 *
 * Where a test needs a client proof that is not in an RFC, it computes one
 * here with OpenSSL directly (a second, independent implementation of the
 * client side), so the server is never checked against itself.
 */
#include "xmpp/sasl.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

static char out[SASL_MSG_MAX + 1];

/* A credential with the salt given in base64, derived from password. */
static void make_cred(enum scram_hash h, const char *password, const char *salt64,
                      unsigned iterations, struct store_scram *c)
{
    memset(c, 0, sizeof(*c));
    int n = sasl_b64_decode(salt64, strlen(salt64), c->salt, sizeof(c->salt));
    c->salt_len = n > 0 ? (size_t)n : 0;
    c->iterations = iterations;
    if (scram_derive(h, password, strlen(password), c) != 0)
        printf("# scram_derive failed\n");
}

static int start(struct scram_server *s, enum scram_hash h, const char *msg)
{
    return scram_server_start(s, h, msg, strlen(msg));
}

static int final(struct scram_server *s, const char *msg)
{
    return scram_server_final(s, msg, strlen(msg), out, sizeof(out));
}

/*
 * The client side, written independently: builds the client-final message
 * "c=<cb>,r=<nonce><ext>,p=<proof>" for password against the server-first
 * message s->server_first (salt and iterations parsed from it).
 */
static void client_final(enum scram_hash h, const char *password, const char *client_first_bare,
                         const char *server_first, const char *cb, const char *ext, char *msg,
                         size_t cap)
{
    const EVP_MD *md = h == SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
    int hlen = EVP_MD_get_size(md);
    unsigned char salt[128], salted[64], ckey[64], stored[64], sig[64], proof[64];
    char nonce[256], salt64[256], am[3 * SASL_MSG_MAX], without[SASL_MSG_MAX];
    unsigned iter = 0, len;

    /* server-first: r=<nonce>,s=<salt>,i=<n> */
    const char *r = strstr(server_first, "r="), *sp = strstr(server_first, ",s="),
               *ip = strstr(server_first, ",i=");
    snprintf(nonce, sizeof(nonce), "%.*s", (int)(sp - r - 2), r + 2);
    snprintf(salt64, sizeof(salt64), "%.*s", (int)(ip - sp - 3), sp + 3);
    iter = (unsigned)strtoul(ip + 3, NULL, 10);
    int salt_len = EVP_DecodeBlock(salt, (const unsigned char *)salt64, (int)strlen(salt64));
    salt_len -= (salt64[strlen(salt64) - 1] == '=') + (salt64[strlen(salt64) - 2] == '=');

    PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, salt_len, (int)iter, md, hlen, salted);
    HMAC(md, salted, hlen, (const unsigned char *)"Client Key", 10, ckey, &len);
    EVP_Digest(ckey, (size_t)hlen, stored, &len, md, NULL);
    snprintf(without, sizeof(without), "c=%s,r=%s%s", cb, nonce, ext);
    snprintf(am, sizeof(am), "%s,%s,%s", client_first_bare, server_first, without);
    HMAC(md, stored, hlen, (const unsigned char *)am, strlen(am), sig, &len);
    for (int i = 0; i < hlen; i++)
        proof[i] = ckey[i] ^ sig[i];
    char proof64[128];
    EVP_EncodeBlock((unsigned char *)proof64, proof, hlen);
    /* Checked, not snprintf'd: a truncated proof would make a test pass for the wrong reason. */
    size_t wl = strlen(without), pl = strlen(proof64);
    if (wl + 3 + pl + 1 > cap)
        abort();
    memcpy(msg, without, wl);
    memcpy(msg + wl, ",p=", 3);
    memcpy(msg + wl + 3, proof64, pl + 1);
}

static void test_names(void)
{
    is_int(scram_hash_len(SCRAM_SHA1), 20, "SHA-1 length");
    is_int(scram_hash_len(SCRAM_SHA256), 32, "SHA-256 length");
    is_str(scram_mech_name(SCRAM_SHA1), "SCRAM-SHA-1", "SHA-1 name");
    is_str(scram_mech_name(SCRAM_SHA256), "SCRAM-SHA-256", "SHA-256 name");
}

static void test_rfc5802(void)
{
    struct scram_server *s = calloc(1, sizeof(*s));
    struct store_scram c;

    make_cred(SCRAM_SHA1, "pencil", "QSXCR+Q6sek8bf92", 4096, &c);
    is_int(c.salt_len, 12, "salt decoded");
    is_int(start(s, SCRAM_SHA1, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), 0, "5802 client-first");
    is_int(s->state, SCRAM_NEED_CREDS, "needs credentials");
    is_str(s->username, "user", "username");
    const char *sf = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    is_int(scram_server_first(s, &c, "3rfcNHYJY1ZVvWVs7j", out, sizeof(out)), (int)strlen(sf),
           "5802 server-first length");
    is_str(out, sf, "5802 server-first");
    is_int(
        final(s,
              "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
        30, "5802 client-final accepted");
    is_str(out, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", "5802 server-final");
    is_int(s->state, SCRAM_DONE, "done");
    is_int(
        final(s,
              "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
        -EINVAL, "final twice fails");
    is_int(scram_server_first(s, &c, "x", out, sizeof(out)), -EINVAL, "first after done fails");

    /* PLAIN against the same credential */
    ok(sasl_plain_check(SCRAM_SHA1, &c, "pencil", 6), "PLAIN right password (SHA-1)");
    ok(!sasl_plain_check(SCRAM_SHA1, &c, "pencil2", 7), "PLAIN wrong password");
    ok(!sasl_plain_check(SCRAM_SHA1, &c, "penci", 5), "PLAIN prefix of the password");
    ok(!sasl_plain_check(SCRAM_SHA256, &c, "pencil", 6), "PLAIN with the other hash");
    ok(!sasl_plain_check(SCRAM_SHA1, NULL, "pencil", 6), "PLAIN without a credential");
    ok(!sasl_plain_check(SCRAM_SHA1, &c, "", 0), "PLAIN empty password");
    free(s);
}

static void test_rfc7677(void)
{
    struct scram_server *s = calloc(1, sizeof(*s));
    struct store_scram c;
    const char *cf = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const char *sn = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const char *sf =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const char *cfin = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                       "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    char msg[512];

    make_cred(SCRAM_SHA256, "pencil", "W22ZaJ0SNY7soEsUEjb6gQ==", 4096, &c);
    is_int(start(s, SCRAM_SHA256, cf), 0, "7677 client-first");
    is_int(scram_server_first(s, &c, sn, out, sizeof(out)), (int)strlen(sf), "7677 first length");
    is_str(out, sf, "7677 server-first");
    is_int(final(s, cfin), 46, "7677 client-final accepted");
    is_str(out, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", "7677 server-final");

    /* the independent client agrees with the RFC's proof */
    client_final(SCRAM_SHA256, "pencil", cf + 3, sf, "biws", "", msg, sizeof(msg));
    is_str(msg, cfin, "test client reproduces the RFC 7677 client-final");

    /* wrong proof: one bit off */
    start(s, SCRAM_SHA256, cf);
    scram_server_first(s, &c, sn, out, sizeof(out));
    snprintf(msg, sizeof(msg), "%s", cfin);
    msg[strlen(msg) - 3] ^= 1; /* 'V' -> 'W': still valid base64, different bytes */
    out[0] = '\0';
    is_int(final(s, msg), -EACCES, "wrong proof");
    is_int(s->state, SCRAM_FAILED, "failed");
    is_str(out, "", "nothing written on failure");
    is_int(final(s, cfin), -EINVAL, "no second try on a failed exchange");

    /* wrong password, computed by the client */
    start(s, SCRAM_SHA256, cf);
    scram_server_first(s, &c, sn, out, sizeof(out));
    client_final(SCRAM_SHA256, "pencil!", cf + 3, sf, "biws", "", msg, sizeof(msg));
    is_int(final(s, msg), -EACCES, "wrong password");

    /* SHA-1 credential with the SHA-256 exchange: the proof length is wrong */
    start(s, SCRAM_SHA1, cf);
    scram_server_first(s, &c, sn, out, sizeof(out));
    is_int(final(s, cfin), -EINVAL, "32-byte proof in a SHA-1 exchange");

    /* PLAIN for SHA-256 */
    ok(sasl_plain_check(SCRAM_SHA256, &c, "pencil", 6), "PLAIN right password (SHA-256)");
    ok(!sasl_plain_check(SCRAM_SHA256, &c, "Pencil", 6), "PLAIN wrong case");
    struct store_scram bad = c;
    bad.server_key[0] ^= 1;
    ok(!sasl_plain_check(SCRAM_SHA256, &bad, "pencil", 6), "PLAIN checks the server key too");
    free(s);
}

/* Runs a full exchange for user "user" / "pencil" with the given messages. */
static int exchange(struct scram_server *s, const char *cf, const char *cb, const char *ext)
{
    struct store_scram c;
    char msg[1024];
    const char *bare = strstr(cf, "n=user");

    make_cred(SCRAM_SHA256, "pencil", "W22ZaJ0SNY7soEsUEjb6gQ==", 4096, &c);
    int rc = start(s, SCRAM_SHA256, cf);
    if (rc < 0)
        return rc;
    rc = scram_server_first(s, &c, "SRV", out, sizeof(out));
    if (rc < 0)
        return rc;
    client_final(SCRAM_SHA256, "pencil", bare, out, cb, ext, msg, sizeof(msg));
    return final(s, msg);
}

static void test_flags(void)
{
    struct scram_server *s = calloc(1, sizeof(*s));

    ok(exchange(s, "n,,n=user,r=abc", "biws", "") > 0, "plain exchange (control)");
    ok(exchange(s, "y,,n=user,r=abc", "eSws", "") > 0, "flag y accepted, c=base64(\"y,,\")");
    is_int(exchange(s, "y,,n=user,r=abc", "biws", ""), -EINVAL, "flag y but c=biws");
    is_int(exchange(s, "n,,n=user,r=abc", "eSws", ""), -EINVAL, "flag n but c=eSws");
    /* "n,a=user," */
    ok(exchange(s, "n,a=user,n=user,r=abc", "bixhPXVzZXIs", "") > 0, "authzid equal to username");
    is_int(exchange(s, "n,a=user,n=user,r=abc", "biws", ""), -EINVAL,
           "authzid: c= must carry the whole gs2 header");
    /* "n,a=user@example.com," */
    ok(exchange(s, "n,a=user@example.com,n=user,r=abc", "bixhPXVzZXJAZXhhbXBsZS5jb20s", "") > 0,
       "authzid as the user's bare JID");
    is_int(start(s, SCRAM_SHA256, "n,a=admin,n=user,r=abc"), -EPERM, "authzid of another user");
    is_int(start(s, SCRAM_SHA256, "n,a=admin@example.com,n=user,r=abc"), -EPERM,
           "bare JID of another user");
    is_int(start(s, SCRAM_SHA256, "n,a=user@example.com/res,n=user,r=abc"), -EPERM,
           "full JID as authzid");
    is_int(start(s, SCRAM_SHA256, "n,a=user@,n=user,r=abc"), -EPERM, "authzid with empty domain");
    is_int(start(s, SCRAM_SHA256, "n,a=,n=user,r=abc"), -EINVAL, "empty authzid");
    is_int(start(s, SCRAM_SHA256, "n,a=us=2Cer,n=us=2Cer,r=abc"), 0, "escaped authzid matches");
    ok(exchange(s, "n,,n=user,r=abc", "biws", ",x=ext") > 0, "extension in client-final");
    is_int(exchange(s, "n,,n=user,r=abc", "biws", ",x="), -EINVAL, "empty extension in final");
    free(s);
}

static void test_first_malformed(void)
{
    struct scram_server *s = calloc(1, sizeof(*s));
    static const char *const bad[] = {
        "",
        "n",
        "n,",
        "n,,",
        "x,,n=user,r=abc",
        "n,x,n=user,r=abc",
        "n,,r=abc",
        "n,,n=user",
        "n,,n=user,",
        "n,,n=user,r=",
        "n,,n=,r=abc",
        "n,,n=user,r=abc,",
        "n,,n=user,r=abc,x",
        "n,,n=user,r=abc,x=",
        "n,,n=user,x=1,r=abc",
        "n,,m=ext,n=user,r=abc",
        "m=ext,n=user,r=abc",
        "n,,x=user,r=abc",
        "n,,n=u=2c,r=abc",
        "n,,n=u=41,r=abc",
        "n,,n=u=,r=abc",
        "n,,n=u=2,r=abc",
        "n,,n=user,r=a b",
        "n,,n=user,r=a\x7f",
        "n,,n=user,r=\xc3\xa9",
        "n,a,n=user,r=abc",
        "n,a=u,ser,n=user,r=abc",
        "ny,,n=user,r=abc",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(start(s, SCRAM_SHA256, bad[i]), -EINVAL, "malformed client-first \"%s\"", bad[i]);
        is_int(s->state, SCRAM_FAILED, "state failed after \"%s\"", bad[i]);
    }
    is_int(start(s, SCRAM_SHA256, "p=tls-unique,,n=user,r=abc"), -ENOTSUP, "channel binding");
    is_int(start(s, SCRAM_SHA256, "p=tls-exporter,a=user,n=user,r=abc"), -ENOTSUP,
           "channel binding with authzid");
    is_int(scram_server_start(s, SCRAM_SHA256, "n,,n=u\0x,r=abc", 14), -EINVAL, "NUL inside");
    is_int(scram_server_start(s, (enum scram_hash)7, "n,,n=user,r=abc", 15), -EINVAL,
           "unknown hash");

    is_int(start(s, SCRAM_SHA256, "n,,n=us=2Cer=3D,r=abc"), 0, "escapes decode");
    is_str(s->username, "us,er=", "=2C and =3D");
    is_int(start(s, SCRAM_SHA256, "n,,n=User,r=abc,x=1,y=2"), 0, "extensions ignored");
    is_str(s->username, "User", "username kept as sent");
    is_str(s->client_first_bare, "n=User,r=abc,x=1,y=2", "client-first-bare kept for AuthMessage");

    /* nonce limits: client 95 bytes, server 32 */
    char msg[SASL_MSG_MAX + 64];
    snprintf(msg, sizeof(msg), "n,,n=user,r=%0*d", 95, 0);
    is_int(start(s, SCRAM_SHA256, msg), 0, "95-byte client nonce");
    struct store_scram c;
    make_cred(SCRAM_SHA256, "pencil", "W22ZaJ0SNY7soEsUEjb6gQ==", 4096, &c);
    ok(scram_server_first(s, &c, "0123456789abcdef0123456789abcdef", out, sizeof(out)) > 0,
       "32-byte server nonce");
    snprintf(msg, sizeof(msg), "n,,n=user,r=%0*d", 96, 0);
    is_int(start(s, SCRAM_SHA256, msg), -EINVAL, "96-byte client nonce");
    start(s, SCRAM_SHA256, "n,,n=user,r=abc");
    is_int(scram_server_first(s, &c, "0123456789abcdef0123456789abcdef0", out, sizeof(out)),
           -EINVAL, "33-byte server nonce");
    start(s, SCRAM_SHA256, "n,,n=user,r=abc");
    is_int(scram_server_first(s, &c, "a,b", out, sizeof(out)), -EINVAL, "',' in server nonce");
    start(s, SCRAM_SHA256, "n,,n=user,r=abc");
    is_int(scram_server_first(s, &c, "", out, sizeof(out)), -EINVAL, "empty server nonce");
    start(s, SCRAM_SHA256, "n,,n=user,r=abc");
    is_int(scram_server_first(s, &c, "srv", out, 10), -ENOBUFS, "server-first does not fit");
    start(s, SCRAM_SHA256, "n,,n=user,r=abc");
    struct store_scram c0 = c;
    c0.iterations = 0;
    is_int(scram_server_first(s, &c0, "srv", out, sizeof(out)), -EINVAL, "0 iterations");
    start(s, SCRAM_SHA256, "n,,n=user,r=abc");
    c0 = c;
    c0.salt_len = 0;
    is_int(scram_server_first(s, &c0, "srv", out, sizeof(out)), -EINVAL, "empty salt");
    start(s, SCRAM_SHA256, "n,,n=user,r=abc");
    is_int(scram_server_first(s, &c, "srv", out, sizeof(out)), 42, "first in the right state");
    is_int(scram_server_first(s, &c, "srv", out, sizeof(out)), -EINVAL, "first twice");

    /* username length: 1023 decoded bytes fit, 1024 do not */
    memcpy(msg, "n,,n=", 5);
    memset(msg + 5, 'u', 1023);
    strcpy(msg + 5 + 1023, ",r=abc");
    is_int(start(s, SCRAM_SHA256, msg), 0, "1023-byte username");
    is_int(strlen(s->username), 1023, "username kept whole");
    memset(msg + 5, 'u', 1024);
    strcpy(msg + 5 + 1024, ",r=abc");
    is_int(start(s, SCRAM_SHA256, msg), -EINVAL, "1024-byte username");
    memset(msg + 5, 'u', 1020);
    strcpy(msg + 5 + 1020, "=2C=2C=2C=2C,r=abc"); /* 1024 after decoding */
    is_int(start(s, SCRAM_SHA256, msg), -EINVAL, "1024 bytes after decoding");

    /* message size: SASL_MSG_MAX is accepted, one more byte is not */
    strcpy(msg, "n,,n=user,r=abc,x=");
    size_t l = strlen(msg);
    memset(msg + l, 'x', SASL_MSG_MAX - l);
    msg[SASL_MSG_MAX] = '\0';
    is_int(start(s, SCRAM_SHA256, msg), 0, "client-first of SASL_MSG_MAX bytes");
    msg[SASL_MSG_MAX] = 'x';
    msg[SASL_MSG_MAX + 1] = '\0';
    is_int(start(s, SCRAM_SHA256, msg), -EINVAL, "client-first over SASL_MSG_MAX");
    free(s);
}

static void test_final_malformed(void)
{
    struct scram_server *s = calloc(1, sizeof(*s));
    struct store_scram c;
    const char *cf = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const char *sn = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const char *n = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const char *p = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    char msg[SASL_MSG_MAX + 64];

    make_cred(SCRAM_SHA256, "pencil", "W22ZaJ0SNY7soEsUEjb6gQ==", 4096, &c);

    /* wrong state */
    memset(s, 0, sizeof(*s));
    snprintf(msg, sizeof(msg), "c=biws,r=%s,p=%s", n, p);
    is_int(final(s, msg), -EINVAL, "final before start");
    start(s, SCRAM_SHA256, cf);
    is_int(final(s, msg), -EINVAL, "final before first");

#define BAD_FINAL(what, ...)                                                                       \
    do {                                                                                           \
        start(s, SCRAM_SHA256, cf);                                                                \
        scram_server_first(s, &c, sn, out, sizeof(out));                                           \
        snprintf(msg, sizeof(msg), __VA_ARGS__);                                                   \
        is_int(final(s, msg), -EINVAL, what);                                                      \
    } while (0)

    BAD_FINAL("no proof", "c=biws,r=%s", n);
    BAD_FINAL("empty proof", "c=biws,r=%s,p=", n);
    BAD_FINAL("no nonce", "c=biws,p=%s", p);
    BAD_FINAL("no channel binding", "r=%s,p=%s", n, p);
    BAD_FINAL("client nonce only", "c=biws,r=rOprNGfwEbeRWgbNEkqO,p=%s", p);
    BAD_FINAL("nonce with extra byte", "c=biws,r=%sx,p=%s", n, p);
    BAD_FINAL("nonce one byte short", "c=biws,r=%.*s,p=%s", (int)strlen(n) - 1, n, p);
    BAD_FINAL("wrong c= value", "c=eSws,r=%s,p=%s", n, p);
    BAD_FINAL("c= with padding games", "c=biws=,r=%s,p=%s", n, p);
    BAD_FINAL("empty c=", "c=,r=%s,p=%s", n, p);
    BAD_FINAL("channel binding data", "c=cD10bHMtdW5pcXVlLCxkYXRh,r=%s,p=%s", n, p);
    BAD_FINAL("order swapped", "r=%s,c=biws,p=%s", n, p);
    BAD_FINAL("proof not last", "c=biws,r=%s,p=%s,x=1", n, p);
    BAD_FINAL("proof not base64", "c=biws,r=%s,p=%.43s!", n, p);
    BAD_FINAL("proof too short", "c=biws,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndQ==", n);
    BAD_FINAL("proof with whitespace", "c=biws,r=%s,p= %s", n, p);
    BAD_FINAL("trailing comma", "c=biws,r=%s,p=%s,", n, p);
    BAD_FINAL("garbage attribute", "c=biws,r=%s,,p=%s", n, p);

    /* a NUL inside */
    start(s, SCRAM_SHA256, cf);
    scram_server_first(s, &c, sn, out, sizeof(out));
    int l = snprintf(msg, sizeof(msg), "c=biws,r=%s,p=%s", n, p);
    msg[3] = '\0';
    is_int(scram_server_final(s, msg, (size_t)l, out, sizeof(out)), -EINVAL, "NUL in final");

    /* oversize: a long extension pushes it past SASL_MSG_MAX */
    start(s, SCRAM_SHA256, cf);
    scram_server_first(s, &c, sn, out, sizeof(out));
    l = snprintf(msg, sizeof(msg), "c=biws,r=%s,x=", n);
    memset(msg + l, 'x', SASL_MSG_MAX);
    snprintf(msg + SASL_MSG_MAX - 2 - strlen(p), sizeof(msg) - SASL_MSG_MAX, ",p=%s", p);
    is_int(strlen(msg), SASL_MSG_MAX + 1, "built an oversize final");
    is_int(final(s, msg), -EINVAL, "final over SASL_MSG_MAX");

    /* output too small: fails, and the exchange is over */
    start(s, SCRAM_SHA256, cf);
    scram_server_first(s, &c, sn, out, sizeof(out));
    snprintf(msg, sizeof(msg), "c=biws,r=%s,p=%s", n, p);
    is_int(scram_server_final(s, msg, strlen(msg), out, 46), -ENOBUFS, "server-final too big");
    start(s, SCRAM_SHA256, cf);
    scram_server_first(s, &c, sn, out, sizeof(out));
    is_int(scram_server_final(s, msg, strlen(msg), out, 47), 46, "server-final exact fit");
#undef BAD_FINAL
    free(s);
}

/* Salt (base64) from a server-first message. */
static void salt_of(const char *sf, char *salt64, size_t cap)
{
    const char *sp = strstr(sf, ",s="), *ip = strstr(sf, ",i=");
    snprintf(salt64, cap, "%.*s", sp && ip ? (int)(ip - sp - 3) : 0, sp ? sp + 3 : "");
}

static void test_unknown_user(void)
{
    struct scram_server *s = calloc(1, sizeof(*s));
    char salt1[128], salt2[128], salt3[128], msg[512], sf[sizeof(out)];
    unsigned char raw[64];

    is_int(start(s, SCRAM_SHA256, "n,,n=nobody,r=abc"), 0, "unknown user: start");
    int n = scram_server_first(s, NULL, "SRV", out, sizeof(out));
    ok(n > 0, "unknown user: server-first");
    ok(s->fake_creds, "marked fake");
    ok(strncmp(out, "r=abcSRV,s=", 11) == 0, "nonce echoed, salt follows: %s", out);
    ok(strlen(out) > 7 && strcmp(out + strlen(out) - 7, ",i=4096") == 0, "default iterations");
    salt_of(out, salt1, sizeof(salt1));
    is_int(sasl_b64_decode(salt1, strlen(salt1), raw, sizeof(raw)), 16, "16-byte salt");
    snprintf(sf, sizeof(sf), "%s", out);

    /* a proof made with some password against that salt fails only at the end */
    client_final(SCRAM_SHA256, "pencil", "n=nobody,r=abc", sf, "biws", "", msg, sizeof(msg));
    out[0] = '\0';
    is_int(final(s, msg), -EACCES, "unknown user fails at final");
    is_str(out, "", "no server-final for an unknown user");
    is_int(s->state, SCRAM_FAILED, "failed");

    start(s, SCRAM_SHA256, "n,,n=nobody,r=xyz");
    scram_server_first(s, NULL, "other", out, sizeof(out));
    salt_of(out, salt2, sizeof(salt2));
    is_str(salt2, salt1, "same fake salt twice for the same user");
    start(s, SCRAM_SHA1, "n,,n=nobody2,r=xyz");
    scram_server_first(s, NULL, "other", out, sizeof(out));
    salt_of(out, salt3, sizeof(salt3));
    ok(strcmp(salt3, salt1) != 0, "another unknown user gets another salt");

    /* a malformed final is still malformed, not -EACCES, for unknown users */
    start(s, SCRAM_SHA256, "n,,n=nobody,r=abc");
    scram_server_first(s, NULL, "SRV", out, sizeof(out));
    is_int(final(s, "c=biws,r=abc,p=AAAA"), -EINVAL, "wrong nonce for an unknown user");
    free(s);
}

static void test_derive(void)
{
    struct store_scram c;
    memset(&c, 0, sizeof(c));
    c.iterations = 4096;
    is_int(scram_derive(SCRAM_SHA256, "pencil", 6, &c), -EINVAL, "no salt");
    c.salt_len = STORE_SALT_MAX + 1;
    is_int(scram_derive(SCRAM_SHA256, "pencil", 6, &c), -EINVAL, "salt too long");
    c.salt_len = 4;
    c.iterations = 0;
    is_int(scram_derive(SCRAM_SHA256, "pencil", 6, &c), -EINVAL, "0 iterations");
    c.iterations = 1;
    is_int(scram_derive(SCRAM_SHA256, "", 0, &c), -EINVAL, "empty password");
    is_int(scram_derive((enum scram_hash)5, "pencil", 6, &c), -EINVAL, "unknown hash");
    is_int(scram_derive(SCRAM_SHA1, "pencil", 6, &c), 0, "derive with 1 iteration");
    static const unsigned char zero[32];
    ok(memcmp(c.stored_key + 20, zero, 12) == 0, "SHA-1 keys leave the tail zeroed");
    struct store_scram d = c;
    is_int(scram_derive(SCRAM_SHA1, "pencil", 6, &d), 0, "derive again");
    ok(memcmp(c.stored_key, d.stored_key, 20) == 0, "deterministic");
    d.salt[0] ^= 1;
    is_int(scram_derive(SCRAM_SHA1, "pencil", 6, &d), 0, "other salt");
    ok(memcmp(c.stored_key, d.stored_key, 20) != 0, "salt changes the key");
}

static void test_plain(void)
{
    const char *az, *ac, *pw;
    size_t azl, acl, pwl;

    is_int(sasl_plain_parse("\0user\0pencil", 12, &az, &azl, &ac, &acl, &pw, &pwl), 0,
           "PLAIN without authzid");
    is_int(azl, 0, "empty authzid");
    ok(acl == 4 && memcmp(ac, "user", 4) == 0, "authcid");
    ok(pwl == 6 && memcmp(pw, "pencil", 6) == 0, "password");

    is_int(sasl_plain_parse("admin@x\0user\0pen cil", 20, &az, &azl, &ac, &acl, &pw, &pwl), 0,
           "PLAIN with authzid");
    ok(azl == 7 && memcmp(az, "admin@x", 7) == 0, "authzid");
    ok(acl == 4 && memcmp(ac, "user", 4) == 0, "authcid with authzid");
    ok(pwl == 7 && memcmp(pw, "pen cil", 7) == 0, "password with a space");

    is_int(sasl_plain_parse("user\0pencil", 11, &az, &azl, &ac, &acl, &pw, &pwl), -EINVAL,
           "one NUL");
    is_int(sasl_plain_parse("userpencil", 10, &az, &azl, &ac, &acl, &pw, &pwl), -EINVAL, "no NUL");
    is_int(sasl_plain_parse("", 0, &az, &azl, &ac, &acl, &pw, &pwl), -EINVAL, "empty message");
    is_int(sasl_plain_parse("\0user\0", 6, &az, &azl, &ac, &acl, &pw, &pwl), -EINVAL,
           "empty password");
    is_int(sasl_plain_parse("\0\0pencil", 8, &az, &azl, &ac, &acl, &pw, &pwl), -EINVAL,
           "empty authcid");
    is_int(sasl_plain_parse("\0user\0pen\0cil", 13, &az, &azl, &ac, &acl, &pw, &pwl), -EINVAL,
           "third NUL");

    char *big = calloc(1, SASL_MSG_MAX + 2);
    memcpy(big, "\0user\0", 6);
    memset(big + 6, 'p', SASL_MSG_MAX - 6);
    is_int(sasl_plain_parse(big, SASL_MSG_MAX, &az, &azl, &ac, &acl, &pw, &pwl), 0,
           "PLAIN of SASL_MSG_MAX bytes");
    big[SASL_MSG_MAX] = 'p';
    is_int(sasl_plain_parse(big, SASL_MSG_MAX + 1, &az, &azl, &ac, &acl, &pw, &pwl), -EINVAL,
           "PLAIN over SASL_MSG_MAX");
    free(big);
}

static void test_b64(void)
{
    static const char *const vec[][2] = {{"", ""},
                                         {"f", "Zg=="},
                                         {"fo", "Zm8="},
                                         {"foo", "Zm9v"},
                                         {"foob", "Zm9vYg=="},
                                         {"fooba", "Zm9vYmE="},
                                         {"foobar", "Zm9vYmFy"}};
    char enc[64];
    unsigned char dec[64];

    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        size_t l = strlen(vec[i][0]);
        is_int(sasl_b64_encode(vec[i][0], l, enc, sizeof(enc)), (int)strlen(vec[i][1]),
               "encode \"%s\" length", vec[i][0]);
        is_str(enc, vec[i][1], "encode \"%s\"", vec[i][0]);
        int n = sasl_b64_decode(vec[i][1], strlen(vec[i][1]), dec, sizeof(dec));
        is_int(n, (int)l, "decode \"%s\" length", vec[i][1]);
        ok(n >= 0 && memcmp(dec, vec[i][0], l) == 0, "decode \"%s\"", vec[i][1]);
    }
    is_int(sasl_b64_decode("=", 1, dec, sizeof(dec)), 0, "\"=\" is empty");

    /* round-trips of every length up to 200, with all byte values */
    unsigned char src[200], back[200];
    char e[300];
    int bad = 0;
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (unsigned char)(i * 37 + 11);
    for (size_t l = 0; l <= sizeof(src); l++) {
        int el = sasl_b64_encode(src, l, e, sizeof(e));
        int dl = sasl_b64_decode(e, (size_t)el, back, sizeof(back));
        if (el != (int)((l + 2) / 3 * 4) || dl != (int)l || memcmp(src, back, l) != 0)
            bad++;
    }
    is_int(bad, 0, "round-trips 0..200 bytes");

    /* exact output sizes: decode writes no padding bytes (ASan watches the heap buffer) */
    unsigned char *four = malloc(4);
    is_int(sasl_b64_decode("Zm9vYg==", 8, four, 4), 4, "decode into an exact buffer");
    ok(memcmp(four, "foob", 4) == 0, "exact buffer content");
    is_int(sasl_b64_decode("Zm9vYmFy", 8, four, 4), -ENOBUFS, "decode does not fit");
    free(four);
    is_int(sasl_b64_encode("foo", 3, enc, 4), -ENOBUFS, "encode needs room for the NUL");
    is_int(sasl_b64_encode("foo", 3, enc, 5), 4, "encode exact fit");

    static const char *const invalid[] = {
        "Zg",       "Zg=",  "Zm9",  "Zm9v\n",  " Zm9v", "Zm9v ",    "Zm 9v",
        "Zm9vY===", "====", "Z===", "Zg=a",    "Z=g=",  "Zm9v=Zm9", "Zh==",
        "Zm9=",     "Zm-v", "Zm_v", "Zm9\x80", "==",    "Zm9vYg=",
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        is_int(sasl_b64_decode(invalid[i], strlen(invalid[i]), dec, sizeof(dec)), -EINVAL,
               "invalid base64 #%zu", i);
    is_int(sasl_b64_decode("Zm\0v", 4, dec, sizeof(dec)), -EINVAL, "NUL in base64");
}

int main(void)
{
    test_names();
    test_rfc5802();
    test_rfc7677();
    test_flags();
    test_first_malformed();
    test_final_malformed();
    test_unknown_user();
    test_derive();
    test_plain();
    test_b64();
    return tap_done();
}
