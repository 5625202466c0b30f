/*
 * sasl: server side of SASL PLAIN and SCRAM-SHA-1/-256 (RFC 4616, 5802, 7677).
 *
 * Pure message handling: no I/O, no storage, no base64 framing of the
 * messages themselves (the stream layer does that with sasl_b64_*). All
 * crypto is OpenSSL 3: PKCS5_PBKDF2_HMAC, HMAC(), EVP_Digest, EVP base64,
 * CRYPTO_memcmp for anything secret.
 *
 * SCRAM state machine (struct scram_server.state), with the function that
 * performs each transition:
 *
 *   (any) --scram_server_start--> NEED_CREDS --scram_server_first--> SENT_FIRST
 *                                                                        |
 *                       DONE <--scram_server_final (proof ok)------------+
 *                     FAILED <--any error in first/final, or a call in the wrong state
 *
 * Invariants: every client message is at most SASL_MSG_MAX bytes and contains
 * no NUL; s->username, s->nonce, s->client_first_bare, s->server_first and
 * s->gs2_header are NUL-terminated and fit their arrays (checked on input, a
 * message that would not fit is malformed); once FAILED or DONE, nothing but
 * scram_server_start moves the state again.
 *
 * Unknown users: scram_server_first(cred = NULL) answers with a salt derived
 * from the username and a per-process random secret (stable for the process'
 * life, so asking twice shows the same salt) and SCRAM_FAKE_ITERATIONS, and
 * scram_server_final does the same work as for a real account before it
 * answers -EACCES. An observer cannot tell "no such user" from "wrong
 * password" by the messages, provided the caller sets fake_iterations to
 * the count real accounts are created with.)
 *
 * What it does not do: SASLprep (usernames and passwords are used as the
 * bytes the client sent; the caller normalizes the username before lookup),
 * channel binding, authorization: the caller decides what the authenticated
 * username may act as.
 */
#include "xmpp/sasl.h"

#include "core/alloc.h"
#include "core/rand.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SCRAM_FAKE_SALT_LEN   16   /* bytes, the salt length account creation should use too */
#define SCRAM_FAKE_ITERATIONS 4096 /* RFC 7677's minimum, and the config default */
#define SCRAM_CNONCE_MAX      95   /* bytes of a client nonce we accept */
#define SCRAM_SNONCE_MAX      32   /* bytes of a server nonce; with the above fits nonce[128] */

static const EVP_MD *scram_md(enum scram_hash h)
{
    switch (h) {
    case SCRAM_SHA1:
        return EVP_sha1();
    case SCRAM_SHA256:
        return EVP_sha256();
    }
    return NULL;
}

size_t scram_hash_len(enum scram_hash h)
{
    switch (h) {
    case SCRAM_SHA1:
        return 20;
    case SCRAM_SHA256:
        return 32;
    }
    return 0;
}

const char *scram_mech_name(enum scram_hash h)
{
    switch (h) {
    case SCRAM_SHA1:
        return "SCRAM-SHA-1";
    case SCRAM_SHA256:
        return "SCRAM-SHA-256";
    }
    return NULL;
}

/* HMAC(key, data) into out (scram_hash_len(h) bytes). Returns 0 or -EIO. */
static int hmac(enum scram_hash h, const void *key, size_t key_len, const void *data, size_t len,
                unsigned char *out)
{
    unsigned int olen = 0;
    if (key_len > INT_MAX || !HMAC(scram_md(h), key, (int)key_len, data, len, out, &olen))
        return -EIO;
    return olen == scram_hash_len(h) ? 0 : -EIO;
}

int scram_derive(enum scram_hash h, const char *password, size_t password_len,
                 struct store_scram *out)
{
    const EVP_MD *md = scram_md(h);
    size_t hlen = scram_hash_len(h);
    unsigned char salted[EVP_MAX_MD_SIZE], client_key[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    int rc = -EIO;

    if (!md || !password || password_len == 0 || password_len > SASL_MSG_MAX ||
        out->salt_len == 0 || out->salt_len > STORE_SALT_MAX || out->iterations == 0 ||
        out->iterations > INT_MAX)
        return -EINVAL;
    memset(out->stored_key, 0, sizeof(out->stored_key));
    memset(out->server_key, 0, sizeof(out->server_key));
    if (PKCS5_PBKDF2_HMAC(password, (int)password_len, out->salt, (int)out->salt_len,
                          (int)out->iterations, md, (int)hlen, salted) != 1)
        goto out;
    if (hmac(h, salted, hlen, "Client Key", 10, client_key) < 0 ||
        hmac(h, salted, hlen, "Server Key", 10, out->server_key) < 0)
        goto out;
    if (EVP_Digest(client_key, hlen, out->stored_key, &dlen, md, NULL) != 1 || dlen != hlen)
        goto out;
    rc = 0;
out:
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(client_key, sizeof(client_key));
    return rc;
}

int scram_credentials(struct store_account *a, const char *password, size_t password_len,
                      unsigned iterations)
{
    struct store_scram *v[2] = {&a->sha1, &a->sha256};
    for (int h = SCRAM_SHA1; h <= SCRAM_SHA256; h++) {
        struct store_scram *c = v[h];
        rand_bytes(c->salt, SCRAM_SALT_LEN);
        c->salt_len = SCRAM_SALT_LEN;
        c->iterations = iterations;
        int rc = scram_derive((enum scram_hash)h, password, password_len, c);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- base64 ------------------------------------------------------------------------------ */

/* Value of a base64 digit, or -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int sasl_b64_encode(const void *in, size_t len, char *out, size_t cap)
{
    if (len > (size_t)INT_MAX / 4 * 3 - 3)
        return -ENOBUFS;
    size_t need = (len + 2) / 3 * 4;
    if (need + 1 > cap)
        return -ENOBUFS;
    /* EVP_EncodeBlock writes the NUL itself and returns the length without it. */
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return n == (int)need ? n : -EIO;
}

int sasl_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    const unsigned char *u = (const unsigned char *)in;
    unsigned char last[3];
    size_t pad = 0, body, n;

    if (len == 0 || (len == 1 && in[0] == '='))
        return 0;
    if (len % 4 != 0 || len > (size_t)INT_MAX)
        return -EINVAL;
    if (in[len - 1] == '=')
        pad = in[len - 2] == '=' ? 2 : 1;
    /*
     * Check every character ourselves: EVP_DecodeBlock skips leading and
     * trailing whitespace and treats '=' loosely, and RFC 6120 wants neither.
     * Only the last one or two characters may be '='.
     */
    for (size_t i = 0; i < len - pad; i++)
        if (b64_value(u[i]) < 0)
            return -EINVAL;
    /* Canonical form only: the bits that padding drops must be zero. */
    if (pad == 2 && (b64_value(u[len - 3]) & 0x0f) != 0)
        return -EINVAL;
    if (pad == 1 && (b64_value(u[len - 2]) & 0x03) != 0)
        return -EINVAL;

    n = len / 4 * 3 - pad;
    if (n > cap)
        return -ENOBUFS;
    /*
     * EVP_DecodeBlock counts padding as output (3 bytes per group) and would
     * write past a buffer sized for the real length, so the last group is
     * decoded into a scratch buffer and only its real bytes are copied.
     */
    body = len - 4;
    if (body > 0 && EVP_DecodeBlock(out, u, (int)body) != (int)(body / 4 * 3))
        return -EINVAL;
    if (EVP_DecodeBlock(last, u + body, 4) != 3)
        return -EINVAL;
    memcpy(out + body / 4 * 3, last, 3 - pad);
    return (int)n;
}

/* ---- SCRAM ------------------------------------------------------------------------------- */

/* A comma-separated attribute "x=value": points at the value, stops at ',' or the end. */
struct attr {
    char name;
    const char *val;
    size_t len;
};

/*
 * Reads the attribute at *p (before end) and moves *p past it and its ','.
 * Returns 1 and fills a, or 0 if *p is not ALPHA "=" ...
 */
static int next_attr(const char **p, const char *end, bool *more, struct attr *a)
{
    const char *s = *p;
    if (end - s < 2 || s[1] != '=' ||
        !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    const char *comma = memchr(s + 2, ',', (size_t)(end - s - 2));
    a->name = s[0];
    a->val = s + 2;
    a->len = (size_t)((comma ? comma : end) - a->val);
    *more = comma != NULL;
    *p = comma ? comma + 1 : end;
    return 1;
}

/* Decodes a saslname ("=2C" -> ',', "=3D" -> '=') into out (cap includes the NUL). */
static int saslname_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '=') {
            if (len - i < 3)
                return -EINVAL;
            if (s[i + 1] == '2' && s[i + 2] == 'C')
                c = ',';
            else if (s[i + 1] == '3' && s[i + 2] == 'D')
                c = '=';
            else
                return -EINVAL;
            i += 2;
        }
        if (o + 1 >= cap)
            return -EINVAL;
        out[o++] = c;
    }
    out[o] = '\0';
    return (int)o;
}

/* RFC 5802 printable: %x21-2B / %x2D-7E (no ',' and nothing outside visible ASCII). */
static bool nonce_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
            return false;
    return len > 0;
}

/*
 * The authzid policy: it may name the authenticating user, either as the
 * username itself or as a bare JID "username@domain" (what XMPP clients send,
 * RFC 6120 6.3.8). The domain is not checked here; the session is bound to
 * the authenticated account on the stream's own domain whatever it says, so
 * it can never select another identity. Anything else is refused.
 */
static bool authzid_ok(const char *authzid, size_t len, const char *user, size_t user_len)
{
    if (len == user_len)
        return memcmp(authzid, user, len) == 0;
    return len > user_len + 1 && memcmp(authzid, user, user_len) == 0 && authzid[user_len] == '@' &&
           !memchr(authzid + user_len + 1, '/', len - user_len - 1) &&
           !memchr(authzid + user_len + 1, '@', len - user_len - 1);
}

int scram_server_start(struct scram_server *s, enum scram_hash h, const char *msg, size_t len)
{
    const char *p = msg, *end = msg + len;
    const char *authzid = NULL;
    size_t authzid_len = 0, gs2_len;
    struct attr a;
    bool more;
    int n;

    memset(s, 0, sizeof(*s));
    s->hash = h;
    s->state = SCRAM_FAILED;
    if (!scram_md(h) || len == 0 || len > SASL_MSG_MAX || memchr(msg, '\0', len))
        return -EINVAL;

    /* gs2-header: ("n" | "y" | "p=" cb-name) "," ["a=" saslname] "," */
    if (len >= 2 && p[0] == 'p' && p[1] == '=')
        return -ENOTSUP;
    if (len < 3 || (p[0] != 'n' && p[0] != 'y') || p[1] != ',')
        return -EINVAL;
    p += 2;
    if (*p != ',') {
        if (end - p < 2 || p[0] != 'a' || p[1] != '=')
            return -EINVAL;
        const char *comma = memchr(p, ',', (size_t)(end - p));
        if (!comma || comma == p + 2)
            return -EINVAL;
        authzid = p + 2;
        authzid_len = (size_t)(comma - authzid);
        p = comma;
    }
    p++; /* the ',' that ends the gs2 header */
    gs2_len = (size_t)(p - msg);
    if (gs2_len >= sizeof(s->gs2_header))
        return -EINVAL;

    /* client-first-message-bare: "n=" saslname ",r=" c-nonce ["," extensions] */
    size_t bare_len = (size_t)(end - p);
    memcpy(s->client_first_bare, p, bare_len);
    s->client_first_bare[bare_len] = '\0';
    if (!next_attr(&p, end, &more, &a) || a.name != 'n' || !more) /* also "m=": unsupported */
        return -EINVAL;
    n = saslname_decode(a.val, a.len, s->username, sizeof(s->username));
    if (n <= 0)
        return -EINVAL;
    if (!next_attr(&p, end, &more, &a) || a.name != 'r' || a.len > SCRAM_CNONCE_MAX ||
        !nonce_ok(a.val, a.len))
        return -EINVAL;
    memcpy(s->nonce, a.val, a.len);
    s->nonce[a.len] = '\0';
    while (more) {
        /* Optional extensions are ignored, but must be well-formed and non-empty. */
        if (!next_attr(&p, end, &more, &a) || a.len == 0)
            return -EINVAL;
    }

    if (authzid) {
        char az[sizeof(s->gs2_header)];
        int az_len = saslname_decode(authzid, authzid_len, az, sizeof(az));
        if (az_len <= 0)
            return -EINVAL;
        if (!authzid_ok(az, (size_t)az_len, s->username, (size_t)n))
            return -EPERM;
    }
    memcpy(s->gs2_header, msg, gs2_len);
    s->gs2_header[gs2_len] = '\0';
    s->state = SCRAM_NEED_CREDS;
    return 0;
}

/* The per-process secret behind fake salts, made once. */
static unsigned char fake_secret[32];
static pthread_once_t fake_once = PTHREAD_ONCE_INIT;

static void fake_init(void)
{
    rand_bytes(fake_secret, sizeof(fake_secret));
}

/* Fills s->cred with a salt stable per username, and keys nobody can know. */
static int fake_cred(struct scram_server *s)
{
    unsigned char mac[32];
    size_t ulen = strlen(s->username);
    char *data = xmalloc(ulen + 5);

    pthread_once(&fake_once, fake_init);
    memset(&s->cred, 0, sizeof(s->cred));
    /* Domain-separated inputs: "salt:" user for the salt, "keys:" user for the keys. */
    memcpy(data, "salt:", 5);
    memcpy(data + 5, s->username, ulen);
    int rc = hmac(SCRAM_SHA256, fake_secret, sizeof(fake_secret), data, ulen + 5, mac);
    memcpy(s->cred.salt, mac, SCRAM_FAKE_SALT_LEN);
    s->cred.salt_len = SCRAM_FAKE_SALT_LEN;
    s->cred.iterations = s->fake_iterations ? s->fake_iterations : SCRAM_FAKE_ITERATIONS;
    memcpy(data, "keys:", 5);
    if (rc == 0)
        rc = hmac(SCRAM_SHA256, fake_secret, sizeof(fake_secret), data, ulen + 5, mac);
    memcpy(s->cred.stored_key, mac, sizeof(mac));
    memcpy(s->cred.server_key, mac, sizeof(mac));
    OPENSSL_cleanse(mac, sizeof(mac));
    free(data);
    return rc;
}

int scram_server_first(struct scram_server *s, const struct store_scram *cred,
                       const char *server_nonce, char *out, size_t cap)
{
    size_t cn = strlen(s->nonce), sn;
    char salt64[(STORE_SALT_MAX + 2) / 3 * 4 + 1];
    int rc, len;

    if (s->state != SCRAM_NEED_CREDS)
        return -EINVAL;
    s->state = SCRAM_FAILED;
    sn = server_nonce ? strnlen(server_nonce, SCRAM_SNONCE_MAX + 1) : 0;
    if (sn > SCRAM_SNONCE_MAX || !nonce_ok(server_nonce, sn))
        return -EINVAL;
    if (cred) {
        if (cred->salt_len == 0 || cred->salt_len > STORE_SALT_MAX || cred->iterations == 0)
            return -EINVAL;
        s->cred = *cred;
        s->fake_creds = false;
    } else {
        rc = fake_cred(s);
        if (rc < 0)
            return rc;
        s->fake_creds = true;
    }
    memcpy(s->nonce + cn, server_nonce, sn);
    s->nonce[cn + sn] = '\0';
    rc = sasl_b64_encode(s->cred.salt, s->cred.salt_len, salt64, sizeof(salt64));
    if (rc < 0)
        return rc;
    len = snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%u", s->nonce, salt64,
                   s->cred.iterations);
    if (len < 0 || (size_t)len >= sizeof(s->server_first) || (size_t)len + 1 > cap)
        return -ENOBUFS;
    memcpy(out, s->server_first, (size_t)len + 1);
    s->state = SCRAM_SENT_FIRST;
    return len;
}

int scram_server_final(struct scram_server *s, const char *msg, size_t len, char *out, size_t cap)
{
    enum scram_hash h = s->hash;
    size_t hlen = scram_hash_len(h);
    const char *p = msg, *end = msg + len, *proof = NULL;
    size_t proof_len = 0, without_proof = 0, bare_len, first_len, am_len;
    unsigned char got[EVP_MAX_MD_SIZE], sig[EVP_MAX_MD_SIZE], key[EVP_MAX_MD_SIZE];
    unsigned char stored[EVP_MAX_MD_SIZE];
    char cb[(sizeof(s->gs2_header) + 2) / 3 * 4 + 1];
    unsigned int dlen = 0;
    struct attr a;
    bool more;
    int rc;

    if (s->state != SCRAM_SENT_FIRST)
        return -EINVAL;
    s->state = SCRAM_FAILED;
    if (len == 0 || len > SASL_MSG_MAX || memchr(msg, '\0', len))
        return -EINVAL;
    if (cap < 2 + (hlen + 2) / 3 * 4 + 1)
        return -ENOBUFS;

    /* client-final-message: "c=" cbind ",r=" nonce ["," extensions] ",p=" proof */
    rc = sasl_b64_encode(s->gs2_header, strlen(s->gs2_header), cb, sizeof(cb));
    if (rc < 0)
        return rc;
    if (!next_attr(&p, end, &more, &a) || a.name != 'c' || !more)
        return -EINVAL;
    /* No channel binding data: c= is exactly the base64 of the gs2 header. */
    if (a.len != (size_t)rc || memcmp(a.val, cb, a.len) != 0)
        return -EINVAL;
    if (!next_attr(&p, end, &more, &a) || a.name != 'r' || !more)
        return -EINVAL;
    if (a.len != strlen(s->nonce) || CRYPTO_memcmp(a.val, s->nonce, a.len) != 0)
        return -EINVAL;
    while (more) {
        const char *start = p;
        if (!next_attr(&p, end, &more, &a) || a.len == 0)
            return -EINVAL;
        if (a.name == 'p') {
            if (more) /* the proof comes last */
                return -EINVAL;
            proof = a.val;
            proof_len = a.len;
            without_proof = (size_t)(start - 1 - msg);
        }
    }
    if (!proof)
        return -EINVAL;
    if (sasl_b64_decode(proof, proof_len, got, sizeof(got)) != (int)hlen)
        return -EINVAL;

    /* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
    bare_len = strlen(s->client_first_bare);
    first_len = strlen(s->server_first);
    am_len = bare_len + 1 + first_len + 1 + without_proof;
    char *am = xmalloc(am_len);
    memcpy(am, s->client_first_bare, bare_len);
    am[bare_len] = ',';
    memcpy(am + bare_len + 1, s->server_first, first_len);
    am[bare_len + 1 + first_len] = ',';
    memcpy(am + bare_len + 1 + first_len + 1, msg, without_proof);

    /* ClientKey = proof XOR HMAC(StoredKey, AuthMessage); it is right if H(ClientKey) matches. */
    rc = hmac(h, s->cred.stored_key, hlen, am, am_len, sig);
    if (rc == 0) {
        for (size_t i = 0; i < hlen; i++)
            key[i] = got[i] ^ sig[i];
        if (EVP_Digest(key, hlen, stored, &dlen, scram_md(h), NULL) != 1 || dlen != hlen)
            rc = -EIO;
    }
    if (rc == 0 && (CRYPTO_memcmp(stored, s->cred.stored_key, hlen) != 0 || s->fake_creds))
        rc = -EACCES;
    if (rc == 0)
        rc = hmac(h, s->cred.server_key, hlen, am, am_len, sig);
    free(am);
    OPENSSL_cleanse(key, sizeof(key));
    if (rc < 0)
        return rc;

    memcpy(out, "v=", 2);
    rc = sasl_b64_encode(sig, hlen, out + 2, cap - 2);
    if (rc < 0)
        return rc;
    s->state = SCRAM_DONE;
    return rc + 2;
}

/* ---- PLAIN ------------------------------------------------------------------------------- */

int sasl_plain_parse(const char *msg, size_t len, const char **authzid, size_t *authzid_len,
                     const char **authcid, size_t *authcid_len, const char **passwd,
                     size_t *passwd_len)
{
    if (len > SASL_MSG_MAX)
        return -EINVAL;
    const char *end = msg + len;
    const char *nul1 = memchr(msg, '\0', len);
    if (!nul1)
        return -EINVAL;
    const char *nul2 = memchr(nul1 + 1, '\0', (size_t)(end - nul1 - 1));
    if (!nul2)
        return -EINVAL;
    /* RFC 4616: authcid and passwd are 1*SAFE; a third NUL is not allowed anywhere. */
    if (nul2 == nul1 + 1 || nul2 + 1 == end || memchr(nul2 + 1, '\0', (size_t)(end - nul2 - 1)))
        return -EINVAL;
    *authzid = msg;
    *authzid_len = (size_t)(nul1 - msg);
    *authcid = nul1 + 1;
    *authcid_len = (size_t)(nul2 - nul1 - 1);
    *passwd = nul2 + 1;
    *passwd_len = (size_t)(end - nul2 - 1);
    return 0;
}

bool sasl_plain_check(enum scram_hash h, const struct store_scram *cred, const char *passwd,
                      size_t passwd_len)
{
    struct store_scram t;
    size_t hlen = scram_hash_len(h);
    bool good;

    if (!cred || cred->salt_len > STORE_SALT_MAX)
        return false;
    memset(&t, 0, sizeof(t));
    memcpy(t.salt, cred->salt, cred->salt_len);
    t.salt_len = cred->salt_len;
    t.iterations = cred->iterations;
    if (scram_derive(h, passwd, passwd_len, &t) < 0)
        return false;
    /* Both keys, without an early exit between them. */
    good = (CRYPTO_memcmp(t.stored_key, cred->stored_key, hlen) |
            CRYPTO_memcmp(t.server_key, cred->server_key, hlen)) == 0;
    OPENSSL_cleanse(&t, sizeof(t));
    return good;
}
