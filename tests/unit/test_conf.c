/*
 * Unit tests for conf: defaults, the file format (through inih), every
 * directive type, bounds, error collection with "FILE:LINE:" locations, -o
 * overrides, derived paths, and that doc/config.md documents every row of
 * the directive table. Config files are written under a mkdtemp directory
 * that is removed at the end. Run from the repository root, or set
 * TERN_SRCDIR to it.
 */
#include "conf/conf.h"
#include "tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];
static char written[32][128];
static int n_written;
static char err[8192];

/* Writes text to a new file in tmpdir; returns its path (static storage per file). */
static const char *write_conf(const char *text)
{
    if (n_written >= 32)
        abort();
    char *path = written[n_written];
    snprintf(path, sizeof(written[0]), "%s/t%d.conf", tmpdir, n_written);
    n_written++;
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

/* Loads text as a config file with the given overrides. */
static int load_text(struct conf *c, const char *text, const char *const *ov, size_t n_ov,
                     const char **path_out)
{
    const char *path = write_conf(text);
    if (path_out)
        *path_out = path;
    return conf_load(c, path, ov, n_ov, err, sizeof(err));
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Prints err as TAP diagnostics, one "# " line per error line. */
static void show_err(void)
{
    for (const char *p = err; *p;) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        printf("#   | %.*s\n", len, p);
        p += len + (nl != NULL);
    }
}

/* Whether err contains want; shows err when it does not. */
static bool has_text(const char *want)
{
    if (strstr(err, want))
        return true;
    printf("#   no \"%s\" in err:\n", want);
    show_err();
    return false;
}

/* Whether err holds a line that is exactly "<path>:<line>: <rest...>" starting with want. */
static bool has_error(const char *path, int line, const char *want)
{
    char prefix[512];
    if (line > 0)
        snprintf(prefix, sizeof(prefix), "%s:%d: %s", path, line, want);
    else
        snprintf(prefix, sizeof(prefix), "%s: %s", path, want);
    size_t n = strlen(prefix);
    for (const char *p = err; *p;) {
        if (strncmp(p, prefix, n) == 0)
            return true;
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    printf("#   no error line \"%s\" in err:\n", prefix);
    show_err();
    return false;
}

static void test_defaults(void)
{
    struct conf c = {0};
    conf_init(&c);
    ok(c.domain == NULL, "domain has no default");
    is_str(c.data_dir, "/var/lib/tern", "data_dir default");
    is_int(c.workers, 0, "workers default");
    is_str(c.c2s.bind, "0.0.0.0", "c2s.bind default");
    is_int(c.c2s.port, 5222, "c2s.port default");
    is_int(c.c2s.tls_port, 5223, "c2s.tls_port default");
    ok(c.c2s.require_tls, "c2s.require_tls default");
    is_str(c.tls.cert, "/var/lib/tern/cert.pem", "tls.cert derived from data_dir");
    is_str(c.tls.key, "/var/lib/tern/key.pem", "tls.key derived from data_dir");
    is_int(c.auth.scram_iterations, 4096, "auth.scram_iterations default");
    ok(c.auth.plain, "auth.plain default");
    is_int(c.limits.max_stanza, 262144, "limits.max_stanza default");
    is_int(c.limits.max_depth, 32, "limits.max_depth default");
    is_int(c.limits.max_attrs, 64, "limits.max_attrs default");
    is_int(c.limits.max_out, 1048576, "limits.max_out default");
    is_int(c.limits.max_conns_per_ip, 64, "limits.max_conns_per_ip default");
    is_int(c.limits.conn_rate_per_ip, 120, "limits.conn_rate_per_ip default");
    is_int(c.limits.max_unauth, 4096, "limits.max_unauth default");
    is_int(c.limits.read_rate, 65536, "limits.read_rate default");
    is_int(c.limits.stanza_rate, 50, "limits.stanza_rate default");
    is_int(c.limits.stanza_burst, 500, "limits.stanza_burst default");
    is_int(c.limits.handshake_timeout, 60, "limits.handshake_timeout default");
    is_int(c.limits.idle_timeout, 300, "limits.idle_timeout default");
    is_int(c.limits.ping_timeout, 60, "limits.ping_timeout default");
    is_str(c.log.level, "info", "log.level default");
    is_str(c.store.path, "/var/lib/tern/tern.db", "store.path derived from data_dir");
    conf_fini(&c);
    ok(c.data_dir == NULL && c.store.path == NULL, "fini clears the strings");
    conf_fini(&c);
    conf_fini(NULL);
}

static void test_table(void)
{
    size_t n;
    const struct conf_directive *d = conf_directives(&n);
    is_int(n, 37, "thirty-seven directives");
    int bad_default = 0, dup = 0, no_help = 0;
    for (size_t i = 0; i < n; i++) {
        struct conf c = {0};
        conf_init(&c);
        char name[128];
        snprintf(name, sizeof(name), "%s%s%s", d[i].section, *d[i].section ? "." : "", d[i].key);
        if (d[i].def[0] && conf_set(&c, name, d[i].def, err, sizeof(err)) != 0) {
            printf("# default of %s: %s\n", name, err);
            bad_default++;
        }
        conf_fini(&c);
        no_help += !d[i].help || strlen(d[i].help) < 10 || strchr(d[i].help, '\n');
        for (size_t j = 0; j < i; j++)
            dup += strcmp(d[i].section, d[j].section) == 0 && strcmp(d[i].key, d[j].key) == 0;
    }
    is_int(bad_default, 0, "every default passes its own check by name");
    is_int(dup, 0, "no directive appears twice");
    is_int(no_help, 0, "every directive has a one-line help");
}

static void test_minimal(void)
{
    struct conf c = {0};
    const char *path;
    is_int(load_text(&c, "domain = Example.ORG.\ndata_dir = ./var\n", NULL, 0, &path), 0,
           "domain + data_dir is a complete config");
    is_str(err, "", "no errors on success");
    is_str(c.domain, "example.org", "domain is lower-cased and loses its trailing dot");
    is_str(c.data_dir, "./var", "a relative data_dir stays as given");
    is_str(c.tls.cert, "./var/cert.pem", "tls.cert follows data_dir");
    is_str(c.tls.key, "./var/key.pem", "tls.key follows data_dir");
    is_str(c.store.path, "./var/tern.db", "store.path follows data_dir");
    is_int(c.c2s.port, 5222, "the rest keeps its defaults");
    is_str(c.log.level, "info", "log.level keeps its default");
    conf_fini(&c);

    /* conf_load on an initialized conf, then again on a loaded one: LeakSanitizer checks. */
    conf_init(&c);
    is_int(load_text(&c, "domain = a.org\n", NULL, 0, NULL), 0, "load after conf_init");
    is_int(load_text(&c, "domain = b.org\n", NULL, 0, NULL), 0, "load over a loaded conf");
    is_str(c.domain, "b.org", "the second load replaces the first");
    conf_fini(&c);

    is_int(load_text(&c, "domain = localhost\ndata_dir = /srv/tern/\n", NULL, 0, NULL), 0,
           "a single-label domain and a data_dir with a trailing slash");
    is_str(c.store.path, "/srv/tern/tern.db", "no double slash in derived paths");
    conf_fini(&c);

    is_int(load_text(&c,
                     "domain = example.org\ndata_dir = /d\n[tls]\ncert = /etc/ssl/x.pem\n"
                     "[store]\npath = db/t.db\n",
                     NULL, 0, NULL),
           0, "explicit paths load");
    is_str(c.tls.cert, "/etc/ssl/x.pem", "an explicit tls.cert is kept");
    is_str(c.tls.key, "/d/key.pem", "tls.key still derived");
    is_str(c.store.path, "db/t.db", "an explicit relative store.path is kept as given");
    conf_fini(&c);
}

static void test_types(void)
{
    struct conf c = {0};
    int rc = load_text(&c,
                       "\xEF\xBB\xBF; a comment\n"
                       "# another comment\n"
                       "domain = chat.example.org\n"
                       "workers = 4\n"
                       "\n"
                       "[c2s]\n"
                       "bind = ::\n"
                       "port: 15222\n"
                       "tls_port = 0 ; inline comment\n"
                       "require_tls = no\n"
                       "[auth]\n"
                       "plain = OFF\n"
                       "scram_iterations = 1000000\n"
                       "[ limits ]\n"
                       "max_stanza = 256k\n"
                       "max_out = 2M\n"
                       "max_depth = 4\n"
                       "[log]\n"
                       "level = DEBUG\n",
                       NULL, 0, NULL);
    is_int(rc, 0, "a file using every type loads");
    is_str(err, "", "without errors");
    is_str(c.domain, "chat.example.org", "domain");
    is_int(c.workers, 4, "uint");
    is_str(c.c2s.bind, "::", "IPv6 address");
    is_int(c.c2s.port, 15222, "port, with ':' as separator");
    is_int(c.c2s.tls_port, 0, "tls_port 0 turns it off; inline comment stripped");
    ok(!c.c2s.require_tls, "bool 'no'");
    ok(!c.auth.plain, "bool 'OFF' ignores case");
    is_int(c.auth.scram_iterations, 1000000, "uint at its upper bound");
    is_int(c.limits.max_stanza, 262144, "size with k suffix, section name with spaces");
    is_int(c.limits.max_out, 2097152, "size with M suffix");
    is_int(c.limits.max_depth, 4, "uint at its lower bound");
    is_str(c.log.level, "debug", "level is lower-cased");
    conf_fini(&c);

    /* Every accepted spelling of a bool, by conf_set. */
    static const char *const yes[] = {"true", "yes", "on", "1", "True"};
    static const char *const no[] = {"false", "no", "off", "0", "NO"};
    conf_init(&c);
    int wrong = 0;
    for (size_t i = 0; i < 5; i++) {
        wrong += conf_set(&c, "auth.plain", no[i], err, sizeof(err)) != 0 || c.auth.plain;
        wrong += conf_set(&c, "auth.plain", yes[i], err, sizeof(err)) != 0 || !c.auth.plain;
    }
    is_int(wrong, 0, "true/false yes/no on/off 1/0 all parse");
    is_int(conf_set(&c, "c2s.bind", "127.0.0.1", err, sizeof(err)), 0, "IPv4 bind address");
    is_int(conf_set(&c, "limits.max_out", "1g", err, sizeof(err)), 0, "1g is the max_out bound");
    is_int(c.limits.max_out, 1073741824, "g suffix");
    is_int(conf_set(&c, "limits.max_out", "1025m", err, sizeof(err)), -EINVAL, "past the bound");
    is_int(conf_set(&c, "c2s.port", "70000", err, sizeof(err)), -EINVAL, "conf_set checks bounds");
    is_str(err, "c2s.port: must be a port from 1 to 65535, got '70000'",
           "conf_set names the directive");
    is_int(c.c2s.port, 5222, "a refused value leaves the old one");
    is_int(conf_set(&c, "c2s.nope", "1", err, sizeof(err)), -EINVAL, "unknown name");
    is_str(err, "c2s.nope: unknown directive", "unknown name message");
    is_int(conf_set(&c, "port", "1", err, sizeof(err)), -EINVAL, "section missing");
    ok(has_text("did you mean 'c2s.port'"), "suggests the sectioned name");
    is_int(conf_set(&c, "domain", "example.net", NULL, 0), 0, "err may be NULL");
    is_int(conf_set(&c, "domain", "a@b", NULL, 0), -EINVAL, "error with err NULL");
    conf_fini(&c);
}

/* One file with many bad values: each is reported with its own line. */
static void test_bad_values(void)
{
    struct conf c = {0};
    const char *path;
    int rc = load_text(&c,
                       "domain = user@example.org\n"        /* 1 */
                       "workers = -1\n"                     /* 2 */
                       "data_dir =\n"                       /* 3 */
                       "[c2s]\n"                            /* 4 */
                       "port = 0\n"                         /* 5 */
                       "tls_port = 65536\n"                 /* 6 */
                       "require_tls = maybe\n"              /* 7 */
                       "bind = localhost\n"                 /* 8 */
                       "[auth]\n"                           /* 9 */
                       "scram_iterations = 4095\n"          /* 10 */
                       "[limits]\n"                         /* 11 */
                       "max_stanza = 1023\n"                /* 12 */
                       "max_depth = 12x\n"                  /* 13 */
                       "max_attrs = 99999999999999999999\n" /* 14 */
                       "idle_timeout = 9\n"                 /* 15 */
                       "max_out = 1t\n"                     /* 16 */
                       "[log]\n"                            /* 17 */
                       "level = verbose\n"                  /* 18 */
                       "[store]\n"                          /* 19 */
                       "path = \"/x/tern.db\"\n",           /* 20 */
                       NULL, 0, &path);
    is_int(rc, -EINVAL, "bad values fail the load");
    ok(has_error(path, 1, "domain: must be a bare domain name"), "domain with '@'");
    ok(has_error(path, 2, "workers: must be a whole number from 0 to 256, got '-1'"),
       "negative uint");
    ok(has_error(path, 3, "data_dir: must not be empty"), "empty string");
    ok(has_error(path, 5, "c2s.port: must be a port from 1 to 65535, got '0'"), "port 0");
    ok(has_error(path, 6, "c2s.tls_port: must be a port from 1 to 65535, or 0 to turn it off"),
       "tls_port too big");
    ok(has_error(path, 7, "c2s.require_tls: must be true or false"), "bad bool");
    ok(has_error(path, 8, "c2s.bind: must be an IPv4 or IPv6 address"), "bind not an address");
    ok(has_error(path, 10, "auth.scram_iterations: must be a whole number from 4096 to 1000000"),
       "below a lower bound");
    ok(has_error(path, 12, "limits.max_stanza: must be a size in bytes from 1024 to 16777216"),
       "size below its bound");
    ok(has_error(path, 13, "limits.max_depth: must be a whole number"), "trailing garbage");
    ok(has_error(path, 14, "limits.max_attrs: must be a whole number"), "overflowing number");
    ok(has_error(path, 15, "limits.idle_timeout: must be a whole number from 10 to 86400"),
       "below idle_timeout's bound");
    ok(has_error(path, 16, "limits.max_out: must be a size"), "unknown size suffix");
    ok(has_error(path, 18, "log.level: must be one of error, warn, info, debug"), "bad level");
    ok(has_error(path, 20, "store.path: values are written without quotes"), "quoted value");
    /* Plus "domain is not set": the bad domain was refused. */
    is_int(count_lines(err), 16, "every problem is reported, one line each");
    ok(c.domain == NULL && c.data_dir == NULL && c.c2s.bind == NULL,
       "a failed load leaves no strings behind");
    conf_fini(&c);

    static const char *const domains[] = {
        "exa mple.org", "example.org/res", "-a.org", "a..org", "a_b.org", ".", "ex\xc3\xa4.org"};
    int accepted = 0;
    conf_init(&c);
    for (size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++) {
        if (conf_set(&c, "domain", domains[i], err, sizeof(err)) == 0) {
            printf("# accepted domain '%s'\n", domains[i]);
            accepted++;
        }
    }
    is_int(accepted, 0, "spaces, '/', leading '-', empty labels, '_' and non-ASCII are refused");
    char longlabel[80];
    memset(longlabel, 'a', 64);
    memcpy(longlabel + 64, ".org", 5);
    is_int(conf_set(&c, "domain", longlabel, err, sizeof(err)), -EINVAL, "64-byte label refused");
    is_int(conf_set(&c, "domain", longlabel + 1, err, sizeof(err)), 0, "63-byte label accepted");
    conf_fini(&c);
}

static void test_bounds(void)
{
    static const struct {
        const char *name, *good, *bad;
    } cases[] = {
        {"workers", "256", "257"},
        {"c2s.port", "65535", "65536"},
        {"c2s.port", "1", "0"},
        {"c2s.tls_port", "0", "99999"},
        {"auth.scram_iterations", "4096", "4095"},
        {"auth.scram_iterations", "1000000", "1000001"},
        {"limits.max_stanza", "16777216", "16777217"},
        {"limits.max_stanza", "1024", "1023"},
        {"limits.max_depth", "256", "257"},
        {"limits.max_depth", "4", "3"},
        {"limits.max_attrs", "1024", "1025"},
        {"limits.max_attrs", "4", "3"},
        {"limits.max_out", "65536", "65535"},
        {"limits.max_conns_per_ip", "1", "0"},
        {"limits.max_conns_per_ip", "100000", "100001"},
        {"limits.handshake_timeout", "3600", "3601"},
        {"limits.handshake_timeout", "1", "0"},
        {"limits.idle_timeout", "86400", "86401"},
        {"limits.ping_timeout", "5", "4"},
        {"limits.ping_timeout", "3600", "3601"},
    };
    int wrong = 0;
    struct conf c = {0};
    conf_init(&c);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (conf_set(&c, cases[i].name, cases[i].good, err, sizeof(err)) != 0) {
            printf("# %s = %s refused: %s\n", cases[i].name, cases[i].good, err);
            wrong++;
        }
        if (conf_set(&c, cases[i].name, cases[i].bad, err, sizeof(err)) != -EINVAL) {
            printf("# %s = %s accepted\n", cases[i].name, cases[i].bad);
            wrong++;
        }
    }
    is_int(wrong, 0, "every bound is inclusive and enforced");
    conf_fini(&c);

    const char *path;
    is_int(load_text(&c, "domain = a.org\n[c2s]\ntls_port = 5222\n", NULL, 0, &path), -EINVAL,
           "tls_port equal to port is refused");
    ok(has_error(path, 3, "c2s.tls_port: must differ from c2s.port (both are 5222)"),
       "the clash is reported at the line that made it");
    conf_fini(&c);
    is_int(
        load_text(&c, "domain = a.org\n[limits]\nmax_stanza = 2m\nmax_out = 1m\n", NULL, 0, &path),
        -EINVAL, "max_out below max_stanza is refused");
    ok(has_error(path, 4,
                 "limits.max_out: max_out (1048576) must be at least max_stanza (2097152)"),
       "reported at max_out's line");
    conf_fini(&c);
}

static void test_syntax(void)
{
    struct conf c = {0};
    const char *path;
    char text[1024];
    char longline[300];
    memset(longline, 'x', sizeof(longline));
    memcpy(longline, "data_dir = /", 12);
    longline[sizeof(longline) - 1] = '\0';
    snprintf(text, sizeof(text),
             "domain = example.org\n" /* 1 */
             "colour = blue\n"        /* 2 */
             "[c2s]\n"                /* 3 */
             "prot = 5222\n"          /* 4 */
             "port 5222\n"            /* 5 */
             "    bind = ::1\n"       /* 6 */
             "[smtp]\n"               /* 7 */
             "port = 25\n"            /* 8 */
             "host = x\n"             /* 9 */
             "[limits\n"              /* 10 */
             "[auth]\n"               /* 11 */
             "= 6\n"                  /* 12 */
             "%s\n"                   /* 13 */
             "[log]\n"                /* 14 */
             "level = warn\n"         /* 15 */
             "level = error\n"        /* 16 */
             "[]\n",                  /* 17 */
             longline);
    is_int(load_text(&c, text, NULL, 0, &path), -EINVAL, "syntax errors fail the load");
    ok(has_error(path, 2, "colour: unknown directive"), "unknown top-level key with its line");
    ok(has_error(path, 4, "c2s.prot: unknown directive"), "unknown key in a section");
    ok(has_error(path, 5, "expected 'key = value'"), "a line without '='");
    ok(has_error(path, 6, "indented line continues the value of 'prot'"),
       "an indented line is refused, not glued to the previous value");
    ok(has_error(path, 7,
                 "unknown section [smtp] (known: c2s, tls, auth, limits, roster, offline, archive, "
                 "sm, pep, vcard, register, log, store)"),
       "unknown section with its line");
    ok(has_error(path, 10, "section header without a closing ']'"), "unclosed section");
    ok(has_error(path, 12, "missing key before '='"), "empty key");
    ok(has_error(path, 13, "line is longer than 199 characters"), "over-long line");
    ok(has_error(path, 17, "empty section name []"), "empty section");
    is_int(count_lines(err), 9, "keys inside an unknown section are not reported again");
    conf_fini(&c);

    is_int(load_text(&c, "domain = a.org\n[log]\nlevel = warn\nlevel = error\n", NULL, 0, NULL), 0,
           "a key given twice");
    is_str(c.log.level, "error", "the last one wins");
    conf_fini(&c);

    is_int(
        load_text(&c, "[c2s]\nport = 5222\n[c2s]\nport = 5000\ndomain = x.org\n", NULL, 0, &path),
        -EINVAL, "a section may repeat, a top-level key after a section is an error");
    ok(has_error(path, 5, "c2s.domain: unknown directive (did you mean 'domain'? top-level keys"),
       "a misplaced top-level key gets a hint");
    conf_fini(&c);
}

static void test_overrides(void)
{
    struct conf c = {0};
    const char *path;
    const char *const ov[] = {"c2s.port=6000", "domain = Other.Example", "log.level=warn",
                              "log.level=debug", "data_dir=/o"};
    is_int(load_text(&c, "domain = example.org\n[c2s]\nport = 5000\n", ov, 5, NULL), 0,
           "overrides apply");
    is_int(c.c2s.port, 6000, "a sectioned override wins over the file");
    is_str(c.domain, "other.example", "a top-level override wins and is checked like the file");
    is_str(c.log.level, "debug", "the later override wins");
    is_str(c.store.path, "/o/tern.db", "derived paths follow an overridden data_dir");
    conf_fini(&c);

    const char *const only[] = {"domain=example.org"};
    is_int(conf_load(&c, NULL, only, 1, err, sizeof(err)), 0, "no file, domain from -o");
    is_str(c.tls.cert, "/var/lib/tern/cert.pem", "defaults without a file");
    conf_fini(&c);

    const char *const bad[] = {"c2s.port=0", "c2s.nope=1", "justtext", "auth.plain=", "port=1"};
    is_int(load_text(&c, "domain = example.org\n", bad, 5, &path), -EINVAL, "bad overrides fail");
    ok(has_text("-o c2s.port: must be a port from 1 to 65535, got '0'\n"), "bad value in -o");
    ok(has_text("-o c2s.nope: unknown directive\n"), "unknown directive in -o");
    ok(has_text("-o justtext: expected section.key=value"), "-o without '='");
    ok(has_text("-o auth.plain: must be true or false"), "empty -o value");
    ok(has_text("-o port: unknown directive (did you mean 'c2s.port'?)"),
       "hint for a top-level -o that needs a section");
    is_int(count_lines(err), 5, "one line per bad override");
    conf_fini(&c);

    const char *const clash[] = {"c2s.tls_port=5222"};
    is_int(
        conf_load(&c, NULL, (const char *const[]){"domain=a.org", clash[0]}, 2, err, sizeof(err)),
        -EINVAL, "a clash made by -o");
    ok(has_text("-o c2s.tls_port: must differ from c2s.port (both are 5222)"),
       "is reported against the override");
    conf_fini(&c);
}

static void test_missing(void)
{
    struct conf c = {0};
    const char *path;
    is_int(load_text(&c, "data_dir = /x\n", NULL, 0, &path), -EINVAL, "no domain");
    ok(has_error(path, 0, "domain is not set"), "missing domain is reported against the file");
    is_int(count_lines(err), 1, "and only that");
    conf_fini(&c);

    is_int(conf_load(&c, NULL, NULL, 0, err, sizeof(err)), -EINVAL, "no file and no domain");
    ok(has_text("domain is not set"), "says so");
    conf_fini(&c);

    char missing[128];
    snprintf(missing, sizeof(missing), "%s/none.conf", tmpdir);
    is_int(conf_load(&c, missing, NULL, 0, err, sizeof(err)), -EINVAL, "missing file");
    char want[256];
    snprintf(want, sizeof(want), "%s: cannot open: No such file or directory\n", missing);
    is_str(err, want, "missing file reported alone, with strerror");
    ok(c.data_dir == NULL, "and the conf is left empty");
    conf_fini(&c);

    is_int(conf_load(&c, tmpdir, NULL, 0, err, sizeof(err)), -EINVAL, "a directory");
    ok(has_text(": cannot read: Is a directory"), "is reported");
    conf_fini(&c);
}

static void test_err_buffer(void)
{
    struct conf c = {0};
    char small[24];
    memset(small, '#', sizeof(small));
    const char *const bad[] = {"c2s.port=0", "c2s.port=1x", "workers=x"};
    is_int(conf_load(&c, NULL, bad, 3, small, sizeof(small)), -EINVAL, "errors with a tiny buffer");
    ok(memchr(small, '\0', sizeof(small)) != NULL, "truncated but NUL-terminated");
    ok(strncmp(small, "-o c2s.port: must be", 20) == 0, "starts with the first error");
    conf_fini(&c);
    is_int(conf_load(&c, NULL, bad, 3, NULL, 0), -EINVAL, "a NULL err buffer is allowed");
    conf_fini(&c);
}

/* Reads a whole file into a new NUL-terminated string, or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, len;
    char *s = malloc(cap);
    if (!s)
        abort();
    len = fread(s, 1, cap - 1, f);
    s[len] = '\0';
    fclose(f);
    return s;
}

/* The doc names every directive in a heading and repeats its type, default, bounds and help. */
static void test_doc(void)
{
    const char *root = getenv("TERN_SRCDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/doc/config.md", root && *root ? root : ".");
    char *doc = slurp(path);
    if (!ok(doc != NULL, "%s is readable (run from the repository root or set TERN_SRCDIR)", path))
        return;
    size_t n;
    const struct conf_directive *d = conf_directives(&n);
    int missing = 0, incomplete = 0;
    for (size_t i = 0; i < n; i++) {
        char name[128], head[160], want[3][256];
        snprintf(name, sizeof(name), "%s%s%s", d[i].section, *d[i].section ? "." : "", d[i].key);
        snprintf(head, sizeof(head), "\n### `%s`\n", name);
        char *entry = strstr(doc, head);
        if (!entry) {
            printf("#   doc/config.md has no heading ### `%s`\n", name);
            missing++;
            continue;
        }
        entry += strlen(head);
        char *end = strstr(entry, "\n#");
        size_t elen = end ? (size_t)(end - entry) : strlen(entry);
        char *body = strndup(entry, elen);
        if (!body)
            abort();
        /* What the entry must say: type, default, range (when bounded), help. */
        snprintf(want[0], sizeof(want[0]), "Type `%s`", d[i].type);
        if (d[i].derived)
            snprintf(want[1], sizeof(want[1]), "default `<data_dir>/%s`", d[i].derived);
        else if (d[i].def[0])
            snprintf(want[1], sizeof(want[1]), "default `%s`", d[i].def);
        else
            snprintf(want[1], sizeof(want[1]), "required");
        snprintf(want[2], sizeof(want[2]), "range %u to %u", d[i].min, d[i].max);
        const char *wants[] = {want[0], want[1], d[i].max > 0 ? want[2] : NULL, d[i].help};
        const char *what = NULL;
        for (size_t j = 0; j < 4 && !what; j++) {
            if (wants[j] && !strstr(body, wants[j]))
                what = wants[j];
        }
        if (what) {
            printf("#   doc entry for %s lacks: %s\n", name, what);
            incomplete++;
        }
        free(body);
    }
    is_int(missing, 0, "doc/config.md has a heading for every directive");
    is_int(incomplete, 0, "every entry gives type, default, range and the help text");

    /* And no entry for a directive that does not exist. */
    int stray = 0;
    for (const char *p = doc; (p = strstr(p, "\n### `")) != NULL;) {
        p += 6;
        const char *q = strchr(p, '`');
        if (!q)
            break;
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)(q - p), p);
        struct conf c = {0};
        conf_init(&c);
        /* An unknown name fails with "unknown directive"; a known one with a bad value. */
        conf_set(&c, name, "\x01", err, sizeof(err));
        if (strstr(err, "unknown directive")) {
            printf("#   doc/config.md documents %s, which is not a directive\n", name);
            stray++;
        }
        conf_fini(&c);
    }
    is_int(stray, 0, "doc/config.md documents only real directives");
    free(doc);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/tern-conf-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_defaults();
    test_table();
    test_minimal();
    test_types();
    test_bad_values();
    test_bounds();
    test_syntax();
    test_overrides();
    test_missing();
    test_err_buffer();
    test_doc();
    for (int i = 0; i < n_written; i++)
        unlink(written[i]);
    rmdir(tmpdir);
    return tap_done();
}
