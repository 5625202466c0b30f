/*
 * tls: context setup and the self-signed certificate, with the OpenSSL 3
 * high-level APIs (EVP_EC_gen, X509v3 extensions by name).
 */
#include "net/tls.h"
#include "core/rand.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static void ossl_err(char *err, size_t cap, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(err, cap, "%s: %s", what, e ? buf : "unknown error");
    ERR_clear_error();
}

SSL_CTX *tls_ctx_new(const char *cert, const char *key, char *err, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ossl_err(err, cap, "SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
    /* TLS 1.2: ECDHE with AEAD only; TLS 1.3 suites are all strong */
    if (!SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!SHA1")) {
        ossl_err(err, cap, "cipher list");
        goto fail;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ossl_err(err, cap, cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ossl_err(err, cap, key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ossl_err(err, cap, "certificate and key do not match");
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Writes with fopen on an fd created with the given mode, so a key is never world-readable. */
static FILE *create_file(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "w");
    if (!f)
        close(fd);
    return f;
}

int tls_selfsigned(const char *cert, const char *key, const char *domain, char *err, size_t cap)
{
    bool has_cert = exists(cert), has_key = exists(key);
    if (has_cert && has_key)
        return 0;
    if (has_cert || has_key) {
        snprintf(err, cap, "%s exists but %s does not: give both or neither", has_cert ? cert : key,
                 has_cert ? key : cert);
        return -EINVAL;
    }
    int rc = -EIO;
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    FILE *kf = NULL, *cf = NULL;
    if (!pkey || !x) {
        ossl_err(err, cap, "key generation");
        goto out;
    }
    X509_set_version(x, 2);
    unsigned char serial[16];
    rand_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f; /* positive */
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)domain, -1, -1, 0);
    X509_set_issuer_name(x, name);
    char san[1100];
    snprintf(san, sizeof(san), "DNS:%s", domain);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    const char *exts[][2] = {{"subjectAltName", san},
                             {"basicConstraints", "critical,CA:FALSE"},
                             {"keyUsage", "critical,digitalSignature"},
                             {"extendedKeyUsage", "serverAuth"}};
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        if (!e || !X509_add_ext(x, e, -1)) {
            X509_EXTENSION_free(e);
            ossl_err(err, cap, exts[i][0]);
            goto out;
        }
        X509_EXTENSION_free(e);
    }
    if (!X509_sign(x, pkey, EVP_sha256())) {
        ossl_err(err, cap, "X509_sign");
        goto out;
    }
    kf = create_file(key, 0600);
    if (!kf || !PEM_write_PrivateKey(kf, pkey, NULL, NULL, 0, NULL, NULL)) {
        snprintf(err, cap, "%s: %s", key, strerror(errno));
        goto out;
    }
    cf = create_file(cert, 0644);
    if (!cf || !PEM_write_X509(cf, x)) {
        snprintf(err, cap, "%s: %s", cert, strerror(errno));
        goto out;
    }
    rc = 1;
out:
    if (kf && fclose(kf) != 0 && rc == 1)
        rc = -EIO;
    if (cf && fclose(cf) != 0 && rc == 1)
        rc = -EIO;
    if (rc < 0) {
        /* never leave half a pair behind: next start would refuse it */
        if (kf)
            unlink(key);
        if (cf)
            unlink(cert);
    }
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}

int tls_fingerprint(const char *cert, char *out, size_t cap)
{
    FILE *f = fopen(cert, "r");
    if (!f)
        return -errno;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!x)
        return -EINVAL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    X509_digest(x, EVP_sha256(), md, &n);
    X509_free(x);
    if (cap < n * 3)
        return -ENOBUFS;
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 3 * i, cap - 3 * i, "%02X%s", md[i], i + 1 < n ? ":" : "");
    return 0;
}
