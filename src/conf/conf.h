/*
 * conf: the configuration model and the one table of directives.
 *
 * The config is an INI file (read with inih). Every directive is a row of
 * one table in conf.c: section, key, type, default, bounds, help. That table
 * drives parsing, validation, -o overrides, `ternd --check` and the
 * reference in doc/config.md (a unit test checks that the doc names every
 * directive). Top-level keys have no section: `domain = example.org`.
 * Unknown keys and bad values are errors reported as "FILE:LINE: ...".
 * A file holding only `domain` and `data_dir` is a complete config.
 */
#ifndef TERN_CONF_CONF_H
#define TERN_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>

struct conf {
    char *domain;     /* required */
    char *data_dir;   /* default /var/lib/tern */
    unsigned workers; /* 0: one per online CPU */

    struct {
        char *bind;        /* listen address, default "0.0.0.0" */
        unsigned port;     /* STARTTLS port, default 5222 */
        unsigned tls_port; /* direct TLS port (XEP-0368), default 5223, 0 = off */
        bool require_tls;  /* default true */
    } c2s;

    struct {
        char *cert; /* PEM; default: <data_dir>/cert.pem, created self-signed if missing */
        char *key;  /* PEM; default: <data_dir>/key.pem */
    } tls;

    struct {
        unsigned scram_iterations; /* default 4096 */
        bool plain;                /* offer PLAIN over TLS, default true */
    } auth;

    struct {
        unsigned max_stanza;        /* bytes, default 262144 */
        unsigned max_depth;         /* default 32 */
        unsigned max_attrs;         /* default 64 */
        unsigned max_out;           /* bytes queued per connection, default 1048576 */
        unsigned max_conns_per_ip;  /* default 64 */
        unsigned conn_rate_per_ip;  /* new connections per minute per address, default 120 */
        unsigned max_unauth;        /* connections not yet authenticated, default 4096 */
        unsigned read_rate;         /* bytes per second per connection, default 65536, 0 = off */
        unsigned stanza_rate;       /* stanzas per second per session, default 50, 0 = off */
        unsigned stanza_burst;      /* stanzas at once, default 500 */
        unsigned handshake_timeout; /* seconds to authenticate, default 60 */
        unsigned idle_timeout;      /* seconds of silence before a server ping, default 300 */
        unsigned ping_timeout;      /* seconds to answer that ping, default 60 */
    } limits;

    struct {
        unsigned max_items; /* contacts per roster, default 1000 */
    } roster;
    struct {
        unsigned max_messages; /* per account, default 1000, 0 = off */
    } offline;
    struct {
        bool enabled;            /* default true */
        unsigned retention_days; /* default 0 = forever */
    } archive;
    struct {
        unsigned resume_timeout; /* seconds, default 300 */
        unsigned max_unacked;    /* stanzas, default 1000 */
    } sm;
    struct {
        unsigned max_items;     /* per node, default 100 */
        unsigned max_nodes;     /* per account, default 128 */
        unsigned max_item_size; /* bytes, default 65536 */
    } pep;
    struct {
        unsigned max_size; /* bytes, default 131072 */
    } vcard;
    struct {
        bool enabled; /* in-band registration, default false */
    } reg;
    struct {
        char *level; /* error | warn | info | debug, default info */
    } log;

    struct {
        char *path; /* default <data_dir>/tern.db */
    } store;
};

/**
 * Sets every directive to its default (strings newly allocated); derived
 * defaults follow the default data_dir, domain stays NULL. c need not be
 * initialized. Not thread-safe with respect to c.
 */
void conf_init(struct conf *c);
/** Frees the strings and sets them to NULL, so a second call is harmless. NULL-safe. */
void conf_fini(struct conf *c);
/**
 * Loads path (NULL: defaults only), then applies the overrides
 * ("section.key=value", or "key=value" for top-level keys) in order, then
 * checks the whole (domain set, bounds) and fills derived defaults
 * (tls.cert, tls.key, store.path from data_dir) that were not set.
 * c must hold a conf_init'ed or zeroed struct: conf_load frees what it holds
 * and starts again from the defaults. On success the caller owns the strings
 * (conf_fini). On error returns -EINVAL, leaves c empty (all strings
 * freed, conf_fini harmless) and writes one message per problem, each line
 * "FILE:LINE: message" (or "-o section.key: message", or "FILE: message" for
 * the whole config) ending in '\n', into err (cap bytes, always
 * NUL-terminated when cap > 0, truncated if too small; "" on success).
 */
int conf_load(struct conf *c, const char *path, const char *const *overrides, size_t n_overrides,
              char *err, size_t cap);
/**
 * Sets one directive by name ("c2s.port", "domain") from text, replacing the
 * old value. Returns 0 or -EINVAL with "name: message" in err (err may be
 * NULL). Derived defaults are not recomputed.
 */
int conf_set(struct conf *c, const char *name, const char *value, char *err, size_t cap);

/** One row of the directive table, for docs and tests. */
struct conf_directive {
    const char *section; /* "" for top-level */
    const char *key;
    const char *type;    /* "domain", "path", "addr", "uint", "size", "port", "bool", "level" */
    const char *def;     /* default as text ("" if derived or none) */
    const char *help;    /* one sentence */
    unsigned min, max;   /* inclusive bounds for "uint", "size", "port"; 0, 0 otherwise */
    const char *derived; /* derived default: this file name under data_dir; NULL if none */
    size_t offset;       /* where the value lives in struct conf (char *, unsigned or bool) */
};

/** Returns the table; *n gets the row count. */
const struct conf_directive *conf_directives(size_t *n);

#endif
