/*
 * tls: OpenSSL server contexts. TLS 1.2 and 1.3 only, forward-secret AEAD
 * ciphers for 1.2, no compression, no renegotiation, no session tickets
 * (nothing to rotate), and SSL_MODE_RELEASE_BUFFERS so an idle session holds
 * no record buffers. Also creates the self-signed certificate `ternd` uses
 * when the operator configured none.
 */
#ifndef TERN_NET_TLS_H
#define TERN_NET_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

/**
 * Returns a new server context with the PEM certificate chain and key, or
 * NULL with a reason in err. Shared read-only by all workers.
 */
SSL_CTX *tls_ctx_new(const char *cert, const char *key, char *err, size_t cap);
/**
 * If neither cert nor key exists, creates a self-signed ECDSA P-256
 * certificate for domain (SAN DNS:domain, 10 years) with the key file mode
 * 0600. Returns 1 if created, 0 if both existed, or a negative errno with
 * a reason in err (e.g. only one of the two exists).
 */
int tls_selfsigned(const char *cert, const char *key, const char *domain, char *err, size_t cap);
/** Returns the SHA-256 fingerprint of the certificate file as hex "AB:CD:...", or -errno. */
int tls_fingerprint(const char *cert, char *out, size_t cap);

#endif
