/*
 * conf: the configuration model, driven by one table of directives.
 *
 * Every directive is one row of `table` below: section, key, type, default,
 * bounds, help and the offset of its value in struct conf. conf_init,
 * conf_set, conf_load, `ternd --check` and doc/config.md (checked against the
 * table by tests/unit/test_conf.c) all follow that table: adding a directive
 * is adding a row, a field in struct conf and an entry in the doc.
 *
 * The file is read by inih. inih as built on Debian does not hand line
 * numbers to the handler, reports only the first malformed line, splits lines
 * longer than its buffer into several "lines", and treats an indented line
 * after a key as a continuation that replaces that key's value. So inih reads
 * through our reader, which counts lines, refuses over-long lines whole, caps
 * the file size, and classifies each line the way inih will (blank or
 * comment, section, key, continuation); with that every bad line gets its own
 * "FILE:LINE:" error. Continuation lines are refused: a value silently
 * replaced by the next indented line is a trap, not a feature.
 *
 * Invariants: errors are collected, never logged here, and never stop at the
 * first one; after conf_init or a successful conf_load every value is within
 * its bounds and every string is set except domain after conf_init; after a
 * failed conf_load every string is NULL.
 */
#include "conf/conf.h"

#include "core/alloc.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONF_MAX_FILE   1048576 /* bytes (1 MiB); a real config is a few hundred */
#define CONF_MAX_STRING 4095    /* bytes in one string value (PATH_MAX - 1) */
#define CONF_MAX_MSG    512     /* bytes in one message before its location */
#define CONF_WHERE_OPT  (-1)    /* load.where[]: set by an -o override */

#define ROW(sec, k, ty, dflt, lo, hi, field, text)                                                 \
    {                                                                                              \
        .section = (sec), .key = (k), .type = (ty), .def = (dflt), .help = (text), .min = (lo),    \
        .max = (hi), .offset = offsetof(struct conf, field) /* NOLINT: a member designator */      \
    }
#define DERIVED(sec, k, file, field, text)                                                         \
    {                                                                                              \
        .section = (sec), .key = (k), .type = "path", .def = "", .help = (text),                   \
        .derived = (file), .offset = offsetof(struct conf, field) /* NOLINT: member designator */  \
    }

/* The help strings are repeated word for word in doc/config.md (the unit test checks). */
static const struct conf_directive table[] = {
    ROW("", "domain", "domain", "", 0, 0, domain,
        "The XMPP domain this server hosts: the part after the @ in every user address."),
    ROW("", "data_dir", "path", "/var/lib/tern", 0, 0, data_dir,
        "Directory for the server's state: the database and, by default, the TLS certificate and "
        "key."),
    ROW("", "workers", "uint", "0", 0, 256, workers,
        "Number of worker threads, each running its own event loop; 0 starts one per online CPU."),

    ROW("c2s", "bind", "addr", "0.0.0.0", 0, 0, c2s.bind,
        "Local IP address the client listeners bind to: 0.0.0.0 for every IPv4 address, :: for "
        "IPv6."),
    ROW("c2s", "port", "port", "5222", 1, 65535, c2s.port,
        "TCP port for client connections that start in plain text and upgrade with STARTTLS."),
    ROW("c2s", "tls_port", "port", "5223", 0, 65535, c2s.tls_port,
        "TCP port for client connections that start with TLS (XEP-0368); 0 turns it off."),
    ROW("c2s", "require_tls", "bool", "true", 0, 0, c2s.require_tls,
        "Refuse authentication on the STARTTLS port until the client has started TLS."),

    DERIVED("tls", "cert", "cert.pem", tls.cert,
            "PEM file with the server certificate chain; a self-signed one is created when it is "
            "missing."),
    DERIVED("tls", "key", "key.pem", tls.key, "PEM file with the private key of tls.cert."),

    ROW("auth", "scram_iterations", "uint", "4096", 4096, 1000000, auth.scram_iterations,
        "PBKDF2 iteration count for newly stored SCRAM credentials; higher costs more CPU per "
        "login and per guess."),
    ROW("auth", "plain", "bool", "true", 0, 0, auth.plain,
        "Offer SASL PLAIN, only ever over TLS, for clients without SCRAM."),

    ROW("limits", "max_stanza", "size", "262144", 1024, 16777216, limits.max_stanza,
        "Largest stanza a client may send, in bytes; a bigger one ends the stream with "
        "policy-violation."),
    ROW("limits", "max_depth", "uint", "32", 4, 256, limits.max_depth,
        "Deepest nesting of elements allowed inside one stanza."),
    ROW("limits", "max_attrs", "uint", "64", 4, 1024, limits.max_attrs,
        "Most attributes allowed on one element."),
    ROW("limits", "max_out", "size", "1048576", 65536, 1073741824, limits.max_out,
        "Most bytes queued for sending to one connection; a client that reads slower is "
        "disconnected."),
    ROW("limits", "max_conns_per_ip", "uint", "64", 1, 100000, limits.max_conns_per_ip,
        "Most simultaneous client connections from one IP address."),
    ROW("limits", "conn_rate_per_ip", "uint", "120", 0, 1000000, limits.conn_rate_per_ip,
        "Most new client connections one IP address may open per minute; 0 turns the check off."),
    ROW("limits", "max_unauth", "uint", "4096", 1, 1000000, limits.max_unauth,
        "Most client connections, from all addresses together, that have not authenticated yet; "
        "new ones past it are refused."),
    ROW("limits", "read_rate", "size", "65536", 0, 1073741824, limits.read_rate,
        "Bytes per second one client connection may send on average; a faster client is read "
        "more slowly, not disconnected; 0 turns the check off."),
    ROW("limits", "stanza_rate", "uint", "50", 0, 1000000, limits.stanza_rate,
        "Stanzas per second one session may send on average; past it the server reads its "
        "stream more slowly; 0 turns the check off."),
    ROW("limits", "stanza_burst", "uint", "500", 1, 1000000, limits.stanza_burst,
        "Stanzas one session may send at once before limits.stanza_rate applies."),
    ROW("limits", "handshake_timeout", "uint", "60", 1, 3600, limits.handshake_timeout,
        "Seconds a new connection has to finish TLS and authentication before it is closed."),
    ROW("limits", "idle_timeout", "uint", "300", 10, 86400, limits.idle_timeout,
        "Seconds of silence from a client before the server sends it a ping."),
    ROW("limits", "ping_timeout", "uint", "60", 5, 3600, limits.ping_timeout,
        "Seconds a client has to answer that ping before the connection is closed."),

    ROW("roster", "max_items", "uint", "1000", 1, 100000, roster.max_items,
        "Most contacts one account's roster may hold; adding more is refused with not-allowed."),
    ROW("offline", "max_messages", "uint", "1000", 0, 1000000, offline.max_messages,
        "Most messages kept for one offline account; when full, new ones bounce with "
        "service-unavailable."),
    ROW("archive", "enabled", "bool", "true", 0, 0, archive.enabled,
        "Keep every one-to-one message in both parties' archives for message archive queries "
        "(XEP-0313)."),
    ROW("archive", "retention_days", "uint", "0", 0, 36500, archive.retention_days,
        "Days archived messages are kept before they are deleted; 0 keeps them forever."),
    ROW("sm", "resume_timeout", "uint", "300", 1, 86400, sm.resume_timeout,
        "Seconds a dropped stream-management session waits to be resumed before its unacknowledged "
        "messages go to offline storage."),
    ROW("sm", "max_unacked", "uint", "1000", 10, 100000, sm.max_unacked,
        "Most stanzas sent to a client that it has not acknowledged; a client that falls further "
        "behind is disconnected."),
    ROW("pep", "max_items", "uint", "100", 1, 10000, pep.max_items,
        "Most items one personal eventing node keeps; publishing more drops the oldest."),
    ROW("pep", "max_nodes", "uint", "128", 1, 10000, pep.max_nodes,
        "Most personal eventing nodes one account may create."),
    ROW("pep", "max_item_size", "size", "65536", 1024, 16777216, pep.max_item_size,
        "Largest payload one published item may carry, in bytes; a bigger one is refused with "
        "not-acceptable."),
    ROW("vcard", "max_size", "size", "131072", 1024, 16777216, vcard.max_size,
        "Largest vCard a user may store, in bytes, including the base64 photo."),
    ROW("register", "enabled", "bool", "false", 0, 0, reg.enabled,
        "Let anyone create an account from their client with in-band registration (XEP-0077), only "
        "over TLS."),

    ROW("log", "level", "level", "info", 0, 0, log.level,
        "Most verbose level written to the log: error, warn, info or debug."),

    DERIVED("store", "path", "tern.db", store.path,
            "SQLite database file holding accounts, rosters, offline messages and archives."),
};

#define N_ROWS (sizeof(table) / sizeof(table[0]))

/* The values of conf_directive.type, in the order of enum kind. */
enum kind { K_DOMAIN, K_PATH, K_ADDR, K_LEVEL, K_UINT, K_SIZE, K_PORT, K_BOOL };
static const char *const kind_names[] = {"domain", "path", "addr", "level",
                                         "uint",   "size", "port", "bool"};

static enum kind kind_of(const struct conf_directive *d)
{
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
        if (strcmp(d->type, kind_names[i]) == 0)
            return (enum kind)i;
    }
    /* A row with a type nobody parses is a bug in the table, found by any test run. */
    fprintf(stderr, "conf: directive %s has unknown type %s\n", d->key, d->type);
    abort();
}

static bool is_string(enum kind k)
{
    return k <= K_LEVEL;
}

static void *field_of(struct conf *c, const struct conf_directive *d)
{
    return (char *)c + d->offset;
}

/* "c2s.port" or "domain" into buf. */
static const char *full_name(const struct conf_directive *d, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s%s", d->section, *d->section ? "." : "", d->key);
    return buf;
}

static const struct conf_directive *find(const char *sec, size_t sec_len, const char *key)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        if (strlen(table[i].section) == sec_len && memcmp(table[i].section, sec, sec_len) == 0 &&
            strcmp(table[i].key, key) == 0)
            return &table[i];
    }
    return NULL;
}

/* Looks up "section.key" or a top-level "key". */
static const struct conf_directive *find_name(const char *name)
{
    const char *dot = strchr(name, '.');
    if (!dot)
        return find("", 0, name);
    return find(name, (size_t)(dot - name), dot + 1);
}

static bool section_known(const char *sec, size_t len)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        if (strlen(table[i].section) == len && memcmp(table[i].section, sec, len) == 0)
            return true;
    }
    return false;
}

/* "unknown directive", with a hint when the key exists in another section. */
static void unknown_msg(const char *key, char *msg, size_t cap)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        if (strcmp(table[i].key, key) != 0)
            continue;
        char name[128];
        full_name(&table[i], name, sizeof(name));
        snprintf(msg, cap, "unknown directive (did you mean '%s'?%s)", name,
                 *table[i].section ? "" : " top-level keys go before the first [section]");
        return;
    }
    snprintf(msg, cap, "unknown directive");
}

__attribute__((format(printf, 3, 4))) static int fail(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Decimal digits only: no sign, no spaces, no hex. Clamps to ULLONG_MAX on overflow. */
static const char *parse_digits(const char *s, unsigned long long *out)
{
    unsigned long long n = 0;
    if (!isdigit((unsigned char)*s))
        return NULL;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        n = n > (~0ULL - d) / 10 ? ~0ULL : n * 10 + d;
    }
    *out = n;
    return s;
}

/* A byte count with an optional binary suffix: 262144, 256k, 1m, 1g. */
static int parse_size(const char *s, unsigned long long *out)
{
    unsigned long long n;
    s = parse_digits(s, &n);
    if (!s)
        return -EINVAL;
    unsigned shift = 0;
    switch (*s) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    default:
        return -EINVAL;
    }
    if (*s && s[1])
        return -EINVAL;
    *out = n > (~0ULL >> shift) ? ~0ULL : n << shift;
    return 0;
}

static int parse_number(const struct conf_directive *d, enum kind k, const char *v, unsigned *out,
                        char *msg, size_t cap)
{
    unsigned long long n;
    int ok;
    if (k == K_SIZE) {
        ok = parse_size(v, &n) == 0;
    } else {
        const char *end = parse_digits(v, &n);
        ok = end && *end == '\0';
    }
    if (ok && n >= d->min && n <= d->max) {
        *out = (unsigned)n;
        return 0;
    }
    if (k == K_SIZE)
        return fail(msg, cap,
                    "must be a size in bytes from %u to %u (a k, m or g suffix is allowed), "
                    "got '%.64s'",
                    d->min, d->max, v);
    if (k == K_PORT && d->min == 0)
        return fail(msg, cap, "must be a port from 1 to %u, or 0 to turn it off, got '%.64s'",
                    d->max, v);
    if (k == K_PORT)
        return fail(msg, cap, "must be a port from %u to %u, got '%.64s'", d->min, d->max, v);
    return fail(msg, cap, "must be a whole number from %u to %u, got '%.64s'", d->min, d->max, v);
}

static int parse_bool(const char *v, bool *out, char *msg, size_t cap)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return fail(msg, cap, "must be true or false (or yes/no, on/off, 1/0), got '%.64s'", v);
}

/*
 * Lower-cases s in place and checks it is a DNS name in ASCII: labels of
 * letters, digits and '-' joined by dots. One trailing dot is dropped, as
 * RFC 7622 asks. International names must be given as A-labels (xn--...).
 */
static int check_domain(char *s, char *msg, size_t cap)
{
    const char *usage = "must be a bare domain name such as example.org";
    if (strchr(s, '@'))
        return fail(msg, cap, "%s, without '@' (that is a user address)", usage);
    if (strchr(s, '/'))
        return fail(msg, cap, "%s, without '/'", usage);
    size_t len = strlen(s);
    if (len > 1 && s[len - 1] == '.')
        s[--len] = '\0';
    if (len > 253)
        return fail(msg, cap, "is longer than 253 characters");
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '.' || ch == '\0') {
            if (label == 0)
                return fail(msg, cap, "%s: it has an empty label", usage);
            if (label > 63)
                return fail(msg, cap, "has a label longer than 63 characters");
            if (s[i - 1] == '-' || s[i - label] == '-')
                return fail(msg, cap, "has a label that starts or ends with '-'");
            label = 0;
            continue;
        }
        if (isspace(ch))
            return fail(msg, cap, "must not contain spaces");
        if (!isalnum(ch) && ch != '-')
            return fail(msg, cap,
                        "may hold only letters, digits, '-' and '.', got '%c' (write an "
                        "international name in its xn-- form)",
                        ch >= 0x21 && ch < 0x7f ? ch : '?');
        s[i] = (char)tolower(ch);
        label++;
    }
    return 0;
}

/* Parses v for directive d and stores it in c, replacing the old value. msg gets the reason. */
static int set_value(struct conf *c, const struct conf_directive *d, const char *v, char *msg,
                     size_t cap)
{
    enum kind k = kind_of(d);
    size_t len = strlen(v);
    if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0])
        return fail(msg, cap, "values are written without quotes, got %.64s", v);
    if (k == K_BOOL)
        return parse_bool(v, field_of(c, d), msg, cap);
    if (!is_string(k))
        return parse_number(d, k, v, field_of(c, d), msg, cap);

    if (len == 0)
        return fail(msg, cap, "must not be empty");
    if (len > CONF_MAX_STRING)
        return fail(msg, cap, "is longer than %d bytes", CONF_MAX_STRING);
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return fail(msg, cap, "must not contain control characters");
    }
    char *copy = xstrdup(v);
    int rc = 0;
    if (k == K_DOMAIN) {
        rc = check_domain(copy, msg, cap);
    } else if (k == K_ADDR) {
        unsigned char sa[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, copy, sa) != 1 && inet_pton(AF_INET6, copy, sa) != 1)
            rc = fail(msg, cap,
                      "must be an IPv4 or IPv6 address such as 0.0.0.0 or ::, got '%.64s'", v);
    } else if (k == K_LEVEL) {
        enum log_level level;
        for (char *p = copy; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (log_parse_level(copy, &level) < 0)
            rc = fail(msg, cap, "must be one of error, warn, info, debug, got '%.64s'", v);
    }
    if (rc < 0) {
        free(copy);
        return rc;
    }
    char **slot = field_of(c, d);
    free(*slot);
    *slot = copy;
    return 0;
}

/* Sets a derived path to <data_dir>/<file>. */
static void derive(struct conf *c, const struct conf_directive *d)
{
    const char *dir = c->data_dir;
    size_t n = strlen(dir);
    const char *sep = n > 0 && dir[n - 1] == '/' ? "" : "/";
    size_t len = n + strlen(sep) + strlen(d->derived) + 1;
    char *path = xmalloc(len);
    snprintf(path, len, "%s%s%s", dir, sep, d->derived);
    char **slot = field_of(c, d);
    free(*slot);
    *slot = path;
}

void conf_init(struct conf *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < N_ROWS; i++) {
        char msg[CONF_MAX_MSG];
        if (table[i].def[0] && set_value(c, &table[i], table[i].def, msg, sizeof(msg)) < 0) {
            /* A default that fails its own check is a bug in the table. */
            fprintf(stderr, "conf: bad default for %s: %s\n", table[i].key, msg);
            abort();
        }
    }
    for (size_t i = 0; i < N_ROWS; i++) {
        if (table[i].derived)
            derive(c, &table[i]);
    }
}

void conf_fini(struct conf *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < N_ROWS; i++) {
        if (is_string(kind_of(&table[i]))) {
            char **slot = field_of(c, &table[i]);
            free(*slot);
            *slot = NULL;
        }
    }
}

int conf_set(struct conf *c, const char *name, const char *value, char *err, size_t cap)
{
    const struct conf_directive *d = find_name(name);
    char msg[CONF_MAX_MSG];
    int rc;
    if (!d) {
        const char *dot = strchr(name, '.');
        unknown_msg(dot ? dot + 1 : name, msg, sizeof(msg));
        rc = -EINVAL;
    } else {
        rc = set_value(c, d, value, msg, sizeof(msg));
    }
    if (rc < 0 && err && cap > 0)
        snprintf(err, cap, "%s: %s", name, msg);
    return rc;
}

const struct conf_directive *conf_directives(size_t *n)
{
    *n = N_ROWS;
    return table;
}

/* ---- loading --------------------------------------------------------------------------- */

/* The caller's error buffer: lines appended while they fit, every problem counted. */
struct errs {
    char *buf;
    size_t cap;
    size_t len;
    unsigned n;
};

__attribute__((format(printf, 2, 3))) static void errs_add(struct errs *e, const char *fmt, ...)
{
    e->n++;
    if (!e->buf || e->len + 1 >= e->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(e->buf + e->len, e->cap - e->len, fmt, ap);
    va_end(ap);
    if (w < 0) {
        e->buf[e->len] = '\0';
        return;
    }
    if ((size_t)w >= e->cap - e->len) {
        e->len = e->cap - 1; /* truncated: the buffer is full */
        return;
    }
    e->len += (size_t)w;
    if (e->len + 1 < e->cap) {
        e->buf[e->len++] = '\n';
        e->buf[e->len] = '\0';
    }
}

/* What inih will make of the line just read (mirrors the order of its checks). */
enum line_kind {
    L_BLANK,       /* empty, whitespace or a comment */
    L_SECTION,     /* [name] */
    L_BAD_SECTION, /* '[' without ']' */
    L_KEY,         /* key = value, or malformed when inih does not call the handler */
    L_CONT,        /* indented after a key: inih passes it as that key's value again */
};

struct load {
    struct conf *c;
    const char *path; /* for messages; "config" when there is no file */
    FILE *f;
    struct errs *e;
    int line; /* number of the line inih is working on */
    enum line_kind kind;
    bool used;     /* inih called the handler for this line */
    bool prev_key; /* inih remembers a key name: an indented line continues it */
    bool skip;     /* inside a section already reported as bad */
    bool too_big;
    bool file_failed; /* not opened or not read: skip whole-config checks */
    int read_errno;
    int first_syntax; /* first line reported as malformed, 0 if none */
    size_t bytes;
    int where[N_ROWS]; /* per row: file line that set it, CONF_WHERE_OPT, or 0 */
};

__attribute__((format(printf, 4, 5))) static void
report(struct load *ld, int where, const struct conf_directive *d, const char *fmt, ...)
{
    char msg[CONF_MAX_MSG], name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    full_name(d, name, sizeof(name));
    if (where > 0)
        errs_add(ld->e, "%s:%d: %s: %s", ld->path, where, name, msg);
    else if (where == CONF_WHERE_OPT)
        errs_add(ld->e, "-o %s: %s", name, msg);
    else
        errs_add(ld->e, "%s: %s: %s", ld->path, name, msg);
}

static void syntax_error(struct load *ld, const char *what)
{
    errs_add(ld->e, "%s:%d: %s", ld->path, ld->line, what);
    if (!ld->first_syntax)
        ld->first_syntax = ld->line;
}

/* "c2s, tls, ..." for the unknown-section message. */
static void known_sections(char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_ROWS; i++) {
        const char *s = table[i].section;
        if (!*s || (i > 0 && strcmp(s, table[i - 1].section) == 0))
            continue;
        int w = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", s);
        if (w < 0 || (size_t)w >= cap - len)
            return;
        len += (size_t)w;
    }
}

static void classify_section(struct load *ld, const char *s)
{
    /* inih ends the name at the first ']' or at an inline comment (" ;"). */
    const char *p = s + 1;
    bool was_space = false;
    while (*p && *p != ']' && !(was_space && *p == ';')) {
        was_space = isspace((unsigned char)*p);
        p++;
    }
    if (*p != ']') {
        ld->kind = L_BAD_SECTION;
        ld->skip = true;
        syntax_error(ld, "section header without a closing ']'");
        return;
    }
    ld->kind = L_SECTION;
    ld->prev_key = false;
    ld->skip = false;
    const char *name = s + 1;
    while (name < p && isspace((unsigned char)*name))
        name++;
    while (p > name && isspace((unsigned char)p[-1]))
        p--;
    size_t len = (size_t)(p - name);
    if (len == 0) {
        ld->skip = true;
        syntax_error(ld, "empty section name []");
    } else if (!section_known(name, len)) {
        char known[256];
        known_sections(known, sizeof(known));
        ld->skip = true;
        errs_add(ld->e, "%s:%d: unknown section [%.*s] (known: %s)", ld->path, ld->line,
                 (int)(len > 64 ? 64 : len), name, known);
    }
}

static void classify(struct load *ld, const char *line)
{
    const char *s = line;
    if (ld->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    bool indented = isspace((unsigned char)*s);
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '\0' || *s == ';' || *s == '#')
        ld->kind = L_BLANK;
    else if (indented && ld->prev_key)
        ld->kind = L_CONT;
    else if (*s == '[')
        classify_section(ld, s);
    else
        ld->kind = L_KEY;
}

/* Called before each read: a key line that inih did not hand over had no '=' or ':'. */
static void finish_line(struct load *ld)
{
    if (ld->line > 0 && ld->kind == L_KEY && !ld->used)
        syntax_error(ld, "expected 'key = value'");
    ld->used = false;
    ld->kind = L_BLANK;
}

/* inih's fgets-style reader. */
static char *read_line(char *str, int num, void *stream)
{
    struct load *ld = stream;
    finish_line(ld);
    if (ld->too_big)
        return NULL;
    if (!fgets(str, num, ld->f)) {
        if (ferror(ld->f))
            ld->read_errno = errno ? errno : EIO;
        return NULL;
    }
    ld->line++;
    size_t len = strlen(str);
    ld->bytes += len;
    if (len > 0 && str[len - 1] != '\n' && !feof(ld->f)) {
        int ch = getc(ld->f);
        if (ch == '\n') {
            ld->bytes++;
        } else if (ch != EOF) {
            /* Over-long: inih would cut it into pieces and parse the tail as a new line. */
            while (ch != EOF && ch != '\n' && ld->bytes <= CONF_MAX_FILE) {
                ld->bytes++;
                ch = getc(ld->f);
            }
            errs_add(ld->e, "%s:%d: line is longer than %d characters", ld->path, ld->line,
                     num - 1);
            str[0] = '\n'; /* inih gets a blank line; num is inih's buffer size, > 2 */
            str[1] = '\0';
        }
    }
    if (ld->bytes > CONF_MAX_FILE) {
        errs_add(ld->e, "%s: file is larger than %d bytes", ld->path, CONF_MAX_FILE);
        ld->too_big = true;
        ld->file_failed = true;
        return NULL;
    }
    classify(ld, str);
    return str;
}

/* inih's handler. Always returns 1: errors are ours to collect, inih's count is unused. */
static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct load *ld = user;
    ld->used = true;
    ld->prev_key = true;
    if (ld->skip)
        return 1;
    if (ld->kind == L_CONT) {
        errs_add(ld->e,
                 "%s:%d: indented line continues the value of '%.64s'; continuation lines are "
                 "not supported (remove the indentation)",
                 ld->path, ld->line, name);
        return 1;
    }
    if (!*name) {
        syntax_error(ld, "missing key before '='");
        return 1;
    }
    const char *sec = section;
    size_t sec_len = strlen(section);
    while (sec_len > 0 && isspace((unsigned char)*sec)) {
        sec++;
        sec_len--;
    }
    while (sec_len > 0 && isspace((unsigned char)sec[sec_len - 1]))
        sec_len--;
    const struct conf_directive *d = find(sec, sec_len, name);
    char msg[CONF_MAX_MSG];
    if (!d) {
        unknown_msg(name, msg, sizeof(msg));
        errs_add(ld->e, "%s:%d: %.*s%s%.64s: %s", ld->path, ld->line, (int)sec_len, sec,
                 sec_len ? "." : "", name, msg);
    } else if (set_value(ld->c, d, value, msg, sizeof(msg)) < 0) {
        report(ld, ld->line, d, "%s", msg);
    } else {
        ld->where[d - table] = ld->line;
    }
    return 1;
}

static void load_file(struct load *ld)
{
    char ebuf[128];
    ld->f = fopen(ld->path, "re");
    if (!ld->f) {
        errs_add(ld->e, "%s: cannot open: %s", ld->path, strerror_r(errno, ebuf, sizeof(ebuf)));
        ld->file_failed = true;
        return;
    }
    int rc = ini_parse_stream(read_line, ld, on_pair, ld);
    if (ld->read_errno) {
        errs_add(ld->e, "%s: cannot read: %s", ld->path,
                 strerror_r(ld->read_errno, ebuf, sizeof(ebuf)));
        ld->file_failed = true;
    }
    /* A safety net: a malformed line that inih saw and our classification did not. */
    if (rc > 0 && (!ld->first_syntax || rc < ld->first_syntax))
        errs_add(ld->e, "%s:%d: syntax error", ld->path, rc);
    else if (rc < 0 && !ld->file_failed)
        errs_add(ld->e, "%s: cannot parse (inih error %d)", ld->path, rc);
    fclose(ld->f);
    ld->f = NULL;
}

static void apply_override(struct load *ld, const char *text)
{
    const char *eq = strchr(text, '=');
    if (!eq) {
        errs_add(ld->e, "-o %.64s: expected section.key=value (key=value for top-level keys)",
                 text);
        return;
    }
    const char *a = text, *b = eq;
    while (a < b && isspace((unsigned char)*a))
        a++;
    while (b > a && isspace((unsigned char)b[-1]))
        b--;
    char name[128];
    if ((size_t)(b - a) >= sizeof(name)) {
        errs_add(ld->e, "-o %.64s...: unknown directive", a);
        return;
    }
    memcpy(name, a, (size_t)(b - a));
    name[b - a] = '\0';
    const char *v = eq + 1;
    while (isspace((unsigned char)*v))
        v++;
    char *value = xstrdup(v);
    size_t vlen = strlen(value);
    while (vlen > 0 && isspace((unsigned char)value[vlen - 1]))
        value[--vlen] = '\0';

    const struct conf_directive *d = find_name(name);
    char msg[CONF_MAX_MSG];
    if (!d) {
        const char *dot = strchr(name, '.');
        unknown_msg(dot ? dot + 1 : name, msg, sizeof(msg));
        errs_add(ld->e, "-o %s: %s", name, msg);
    } else if (set_value(ld->c, d, value, msg, sizeof(msg)) < 0) {
        report(ld, CONF_WHERE_OPT, d, "%s", msg);
    } else {
        ld->where[d - table] = CONF_WHERE_OPT;
    }
    free(value);
}

static int row_index(const char *name)
{
    return (int)(find_name(name) - table);
}

/* Checks that span directives, then fills the derived defaults nobody set. */
static void finish(struct load *ld)
{
    struct conf *c = ld->c;
    if (!ld->file_failed && !c->domain)
        errs_add(ld->e, "%s: domain is not set (add 'domain = example.org' or -o domain=...)",
                 ld->path);

    int port = row_index("c2s.port"), tls_port = row_index("c2s.tls_port");
    if (c->c2s.tls_port != 0 && c->c2s.tls_port == c->c2s.port) {
        int i = ld->where[tls_port] ? tls_port : port;
        report(ld, ld->where[i], &table[i], "must differ from %s (both are %u)",
               i == port ? "c2s.tls_port" : "c2s.port", c->c2s.port);
    }
    int out = row_index("limits.max_out"), stanza = row_index("limits.max_stanza");
    if (c->limits.max_out < c->limits.max_stanza) {
        int i = ld->where[out] ? out : stanza;
        report(ld, ld->where[i], &table[i],
               "max_out (%u) must be at least max_stanza (%u), or the largest stanza could "
               "never be queued",
               c->limits.max_out, c->limits.max_stanza);
    }
    for (size_t i = 0; i < N_ROWS; i++) {
        if (table[i].derived && !ld->where[i])
            derive(c, &table[i]);
    }
}

int conf_load(struct conf *c, const char *path, const char *const *overrides, size_t n_overrides,
              char *err, size_t cap)
{
    struct errs e = {.buf = err, .cap = cap};
    if (err && cap > 0)
        err[0] = '\0';
    struct load ld = {.c = c, .path = path ? path : "config", .e = &e};
    conf_fini(c); /* callers may or may not have called conf_init first */
    conf_init(c);
    if (path)
        load_file(&ld);
    for (size_t i = 0; i < n_overrides; i++)
        apply_override(&ld, overrides[i]);
    finish(&ld);
    if (e.n > 0) {
        conf_fini(c);
        return -EINVAL;
    }
    return 0;
}
