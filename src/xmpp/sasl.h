/*
 * sasl: the server side of SASL PLAIN (RFC 4616) and SCRAM-SHA-1 /
 * SCRAM-SHA-256 (RFC 5802, RFC 7677), without channel binding (the -PLUS
 * variants are not offered; a client flag "y" is accepted, "p" refused).
 *
 * This module does no I/O and no storage: it parses client messages and
 * builds server messages (raw, not base64: the stream layer does base64),
 * and asks its caller for the account's credentials in between. Credentials
 * are SCRAM salted keys only; a PLAIN password is checked by deriving the
 * keys with the stored salt and iteration count (PBKDF2: run it off the event
 * loop). Comparisons of secrets are constant-time.
 *
 * SCRAM exchange, server view:
 *
 *   client-first --scram_server_start()--> needs creds for username
 *   creds        --scram_server_first()--> server-first (salt, iterations, nonce)
 *   client-final --scram_server_final()--> server-final (v=signature) or failure
 */
#ifndef TERN_XMPP_SASL_H
#define TERN_XMPP_SASL_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>

enum scram_hash { SCRAM_SHA1 = 0, SCRAM_SHA256 = 1 };

#define SASL_MSG_MAX 4096 /* bytes of a decoded client message we accept */

/* A credential is struct store_scram (store/store.h): salted keys, salt, iterations. */

/** Returns the digest length in bytes of h (20 or 32; 0 for an unknown h). */
size_t scram_hash_len(enum scram_hash h);
/** Returns the mechanism name ("SCRAM-SHA-1", "SCRAM-SHA-256"; NULL for an unknown h). */
const char *scram_mech_name(enum scram_hash h);
/**
 * Derives a credential from a password (SaltedPassword = PBKDF2, then
 * ClientKey/StoredKey/ServerKey). salt/iterations are taken from out.
 * The password is used as given (no SASLprep), 1..SASL_MSG_MAX bytes.
 * CPU-heavy: never on an event loop thread. Returns 0, -EINVAL (bad
 * arguments, empty password), or -EIO (OpenSSL failed).
 */
int scram_derive(enum scram_hash h, const char *password, size_t password_len,
                 struct store_scram *out);

#define SCRAM_SALT_LEN 16 /* bytes of the random salt each new credential gets */

/**
 * Sets both of a's credentials (SCRAM-SHA-1 and SCRAM-SHA-256) from a
 * password, each with a new random salt and the given iteration count; the
 * rest of a is left alone. Shared by everything that sets passwords
 * (ternctl, in-band registration). CPU-heavy: never on an event loop thread.
 * Returns 0, -EINVAL (as scram_derive), or -EIO.
 */
int scram_credentials(struct store_account *a, const char *password, size_t password_len,
                      unsigned iterations);

enum scram_state { SCRAM_START, SCRAM_NEED_CREDS, SCRAM_SENT_FIRST, SCRAM_DONE, SCRAM_FAILED };

/** The server side of one SCRAM exchange; lives in the connection. */
struct scram_server {
    enum scram_hash hash;
    enum scram_state state;
    char username[1024]; /* SASLprep'd-as-is, "=2C"/"=3D" decoded */
    char nonce[128];     /* client nonce + server nonce */
    char client_first_bare[SASL_MSG_MAX + 1];
    char server_first[SASL_MSG_MAX + 1];
    char gs2_header[SASL_MSG_MAX + 1]; /* it may carry an authzid of any allowed length */
    struct store_scram cred;
    bool fake_creds; /* unknown user: run the exchange to the end, then fail */
    /* iterations shown to an unknown user: set it to the count real accounts get
       (auth.scram_iterations) before scram_server_first; 0 means the default 4096 */
    unsigned fake_iterations;
};

/**
 * Starts an exchange with the decoded client-first message. On success the
 * state is SCRAM_NEED_CREDS and s->username names the account to look up.
 * The client nonce may be 1..95 bytes. An authzid ("a="), if present, must
 * name the username itself, as "username" or as a bare JID "username@domain"
 * (the domain is not checked here: the session is bound to the authenticated
 * account on the stream's own domain whatever it says); anything else is
 * refused with -EPERM. The username is the client's bytes, unnormalized:
 * run it through jid_normalize_local before the lookup.
 * Returns 0, or -EINVAL for a malformed message (answer <malformed-request/>),
 * -ENOTSUP when the client asks for channel binding ("p="), or -EPERM for
 * another authzid (answer <invalid-authzid/>). The state is SCRAM_FAILED on error.
 */
int scram_server_start(struct scram_server *s, enum scram_hash h, const char *msg, size_t len);
/**
 * Supplies the account's credential (cred NULL: no such account; the
 * exchange continues with a fake salt so that nothing tells unknown users
 * apart from wrong passwords) and a server nonce (1..32 printable ASCII
 * characters, no ','). cred is copied. Writes the server-first message to
 * out (NUL-terminated). Returns its length, -ENOBUFS if cap is too small, or
 * -EINVAL for a call in the wrong state, a bad server nonce or a bad
 * credential (salt_len 0 or too big, iterations 0); SCRAM_FAILED on error.
 */
int scram_server_first(struct scram_server *s, const struct store_scram *cred,
                       const char *server_nonce, char *out, size_t cap);
/**
 * Checks the decoded client-final message. On success writes the
 * server-final message ("v=...") to out and returns its length; returns
 * -EINVAL for a malformed message or a call in the wrong state, -EACCES for a
 * wrong proof (or unknown user), -ENOBUFS if cap cannot hold the answer.
 * State afterwards: SCRAM_DONE on success, SCRAM_FAILED otherwise.
 */
int scram_server_final(struct scram_server *s, const char *msg, size_t len, char *out, size_t cap);

/**
 * Parses a decoded PLAIN message "authzid\0authcid\0passwd". Pointers into
 * msg are returned with their lengths (authzid may be empty; authcid and
 * passwd may not, RFC 4616). Exactly two NULs; at most SASL_MSG_MAX bytes.
 * The caller decides what the authzid may be. Returns 0 or -EINVAL.
 */
int sasl_plain_parse(const char *msg, size_t len, const char **authzid, size_t *authzid_len,
                     const char **authcid, size_t *authcid_len, const char **passwd,
                     size_t *passwd_len);
/** Checks a password against a stored credential (PBKDF2: off the loop). NULL cred: false. */
bool sasl_plain_check(enum scram_hash h, const struct store_scram *cred, const char *passwd,
                      size_t passwd_len);

/** Base64 encode len bytes into out (NUL-terminated). Returns length or -ENOBUFS. */
int sasl_b64_encode(const void *in, size_t len, char *out, size_t cap);
/**
 * Base64 decode, strict: whitespace is not allowed, padding is required and
 * canonical (unused bits zero); "" and "=" alone mean empty. Returns the
 * decoded length, -EINVAL for invalid input, or -ENOBUFS if it does not fit cap.
 */
int sasl_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap);

#endif
