/*
 * ternctl: the admin command line.
 *
 *   ternctl [-c FILE] [-o SECTION.KEY=VALUE]... user add|del|passwd|list|check ...
 *   ternctl [-c FILE] [-o SECTION.KEY=VALUE]... user import [--salt S] [FILE]
 *
 * It reads the same config as ternd and opens the SQLite database directly
 * (store_db_open): WAL mode and the busy timeout let it work while ternd
 * runs. It never talks to a running ternd, so what it changes is seen by
 * the next login, not by sessions already open.
 *
 * Passwords never come from argv (other users can read it in /proc): they
 * are the first line of stdin when stdin is not a terminal, else they are
 * typed on the terminal with echo off. Only SCRAM-SHA-1 and SCRAM-SHA-256
 * salted keys are stored, each with its own random salt. The exception is
 * `user import`, whose lines carry passwords (the file is the operator's to
 * protect) and which derives keys on every CPU, all in one transaction.
 *
 * Exit codes are part of the interface (scripts test them); they are listed
 * in --help and in enum rc below, and never change meaning.
 */
#include "conf/conf.h"
#include "core/alloc.h"
#include "core/log.h"
#include "store/store.h"
#include "xmpp/jid.h"
#include "xmpp/sasl.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CONF "/etc/tern/tern.conf"
#define PASSWORD_MAX 1023 /* bytes */

enum rc {
    RC_OK = 0,
    RC_USAGE = 1,     /* bad arguments or password input */
    RC_CONFIG = 2,    /* the config does not load */
    RC_EXISTENCE = 3, /* no such account, or it already exists */
    RC_PASSWORD = 4,  /* user check: wrong password */
    RC_STORAGE = 5,   /* the database failed, or something else did */
};

static const char usage_text[] =
    "usage: ternctl [-c FILE] [-o SECTION.KEY=VALUE]... COMMAND [ARGS]\n"
    "\n"
    "Administers a tern server. Works while ternd runs: it opens the database directly.\n"
    "\n"
    "options:\n"
    "  -c FILE                config file (default " DEFAULT_CONF ")\n"
    "  -o SECTION.KEY=VALUE   override a directive (repeatable; KEY=VALUE for top-level keys)\n"
    "  -h, --help             show this help (also after any command)\n"
    "\n"
    "commands:\n"
    "  user add USER@DOMAIN      create an account\n"
    "  user del USER@DOMAIN      delete an account and everything it owns\n"
    "  user passwd USER@DOMAIN   set a new password\n"
    "  user list                 print every account, one JID per line, to stdout\n"
    "  user check USER@DOMAIN    verify a password\n"
    "  user import [FILE]        create many accounts from lines 'USER[@DOMAIN] PASSWORD'\n"
    "  backup FILE               write a consistent copy of the database to FILE\n"
    "\n"
    "Passwords (1..1023 bytes) are never taken from the command line: when stdin is\n"
    "not a terminal its first line is the password, otherwise it is asked for on the\n"
    "terminal (twice when setting one). DOMAIN must be the config's domain.\n"
    "\n"
    "exit status:\n"
    "  0  success\n"
    "  1  usage error (bad arguments, bad or mismatched password input)\n"
    "  2  configuration error\n"
    "  3  the account does not exist, or already exists (user add); the message says which\n"
    "  4  wrong password (user check)\n"
    "  5  storage or internal error\n";

static const char user_usage_text[] =
    "usage: ternctl [OPTIONS] user add|del|passwd|list|check [ARGS]\n"
    "\n"
    "  user add USER@DOMAIN      create an account\n"
    "  user del USER@DOMAIN      delete an account and everything it owns\n"
    "  user passwd USER@DOMAIN   set a new password\n"
    "  user list                 print every account, one JID per line\n"
    "  user check USER@DOMAIN    verify a password\n"
    "  user import [FILE]        create many accounts from lines 'USER[@DOMAIN] PASSWORD'\n"
    "\n"
    "`ternctl user COMMAND --help` describes one command; `ternctl --help` lists\n"
    "the options and exit codes.\n";

/* Everything a command needs; db is opened by main once the arguments are known good. */
struct ctl {
    struct conf conf;
    const char *conf_path;
    struct store_db *db;
    char user[STORE_USER_MAX + 1]; /* normalized local part of the command's JID */
    char jid[JID_BUF];             /* the normalized bare JID, for messages */
};

/* ---- passwords -------------------------------------------------------------------------- */

static struct termios saved_tty;
static volatile sig_atomic_t tty_dirty;

/* A signal while echo is off must not leave the terminal that way. */
static void on_signal(int sig)
{
    if (tty_dirty)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
    signal(sig, SIG_DFL);
    raise(sig);
}

static const int tty_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/*
 * Reads one line from stdin into out (cap > PASSWORD_MAX + 1), without its
 * newline. Returns its length, or -1 with a message (empty, too long, NUL
 * byte, nothing to read).
 */
static int read_line(char *out, size_t cap)
{
    size_t n = 0;
    bool too_long = false, nul = false;
    int ch;
    while ((ch = getc(stdin)) != EOF && ch != '\n') {
        if (ch == '\0')
            nul = true;
        if (n < cap - 1)
            out[n++] = (char)ch;
        else
            too_long = true;
    }
    out[n] = '\0';
    if (ch == EOF && n == 0 && !too_long) {
        fprintf(stderr, "ternctl: no password given%s\n",
                ferror(stdin) ? " (cannot read stdin)" : "");
        return -1;
    }
    if (too_long || n > PASSWORD_MAX) {
        fprintf(stderr, "ternctl: the password is longer than %d bytes\n", PASSWORD_MAX);
        return -1;
    }
    if (nul) {
        fprintf(stderr, "ternctl: the password contains a NUL byte\n");
        return -1;
    }
    if (n == 0) {
        fprintf(stderr, "ternctl: the password is empty\n");
        return -1;
    }
    return (int)n;
}

/* Prompts on the terminal with echo off and reads one line. Same returns as read_line. */
static int prompt_line(const char *prompt, char *out, size_t cap)
{
    if (tcgetattr(STDIN_FILENO, &saved_tty) != 0) {
        fprintf(stderr, "ternctl: cannot read the terminal settings: %s\n", strerror(errno));
        return -1;
    }
    struct sigaction sa = {.sa_handler = on_signal}, old[4];
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < 4; i++)
        sigaction(tty_signals[i], &sa, &old[i]);
    struct termios quiet = saved_tty;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL; /* the Enter still shows, so the next line starts clean */
    tty_dirty = 1;
    int n = -1;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
        fprintf(stderr, "ternctl: cannot turn off echo: %s\n", strerror(errno));
    } else {
        fputs(prompt, stderr);
        fflush(stderr);
        n = read_line(out, cap);
    }
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
    tty_dirty = 0;
    for (size_t i = 0; i < 4; i++)
        sigaction(tty_signals[i], &old[i], NULL);
    return n;
}

/*
 * Gets the password into out: stdin's first line, or the terminal (asked
 * twice if confirm). Returns its length, or -1 with a message printed.
 */
static int get_password(bool confirm, char *out, size_t cap)
{
    if (!isatty(STDIN_FILENO))
        return read_line(out, cap);
    int n = prompt_line(confirm ? "New password: " : "Password: ", out, cap);
    if (n < 0 || !confirm)
        return n;
    char again[PASSWORD_MAX + 2];
    int m = prompt_line("Repeat password: ", again, sizeof(again));
    bool same = m == n && CRYPTO_memcmp(out, again, (size_t)n) == 0;
    OPENSSL_cleanse(again, sizeof(again));
    if (m < 0)
        return -1;
    if (!same) {
        fprintf(stderr, "ternctl: the passwords do not match\n");
        return -1;
    }
    return n;
}

/* Fills a's credentials from the password, each hash with its own random salt. */
static int derive_account(const struct ctl *c, const char *pw, size_t len, struct store_account *a)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->user, sizeof(a->user), "%s", c->user);
    a->created = (int64_t)time(NULL);
    int rc = scram_credentials(a, pw, len, c->conf.auth.scram_iterations);
    if (rc != 0) {
        fprintf(stderr, "ternctl: cannot derive the SCRAM keys: %s\n", strerror(-rc));
        return RC_STORAGE;
    }
    return RC_OK;
}

/* ---- commands --------------------------------------------------------------------------- */

/* Maps a store error for the account named in c; 0 stays 0. */
static int store_rc(const struct ctl *c, int err, const char *doing)
{
    if (err == 0)
        return RC_OK;
    if (err == -ENOENT) {
        fprintf(stderr, "ternctl: %s: no such account\n", c->jid);
        return RC_EXISTENCE;
    }
    if (err == -EEXIST) {
        fprintf(stderr, "ternctl: %s: the account already exists\n", c->jid);
        return RC_EXISTENCE;
    }
    fprintf(stderr, "ternctl: %s: cannot %s (storage error, see above)\n", c->jid, doing);
    return RC_STORAGE;
}

/* Shared by add and passwd: asks for the password and writes new credentials. */
static int set_password(struct ctl *c, bool create)
{
    char pw[PASSWORD_MAX + 2];
    struct store_account a;
    int n = get_password(true, pw, sizeof(pw));
    if (n < 0)
        return RC_USAGE;
    int rc = derive_account(c, pw, (size_t)n, &a);
    OPENSSL_cleanse(pw, sizeof(pw));
    if (rc != RC_OK)
        return rc;
    int err = create ? store_account_add(c->db, &a) : store_account_update(c->db, &a);
    rc = store_rc(c, err, create ? "create the account" : "change the password");
    if (rc == RC_OK)
        fprintf(stderr, "ternctl: %s: %s\n", c->jid, create ? "created" : "password changed");
    return rc;
}

static int cmd_add(struct ctl *c)
{
    struct store_account a;
    /* refuse before asking for a password; the add itself still settles any race */
    int err = store_account_get(c->db, c->user, &a);
    if (err == 0)
        err = -EEXIST;
    else if (err == -ENOENT)
        err = 0;
    int rc = store_rc(c, err, "look the account up");
    return rc != RC_OK ? rc : set_password(c, true);
}

static int cmd_passwd(struct ctl *c)
{
    struct store_account a;
    int rc = store_rc(c, store_account_get(c->db, c->user, &a), "look the account up");
    return rc != RC_OK ? rc : set_password(c, false);
}

static int cmd_del(struct ctl *c)
{
    int rc = store_rc(c, store_account_del(c->db, c->user), "delete the account");
    if (rc == RC_OK)
        fprintf(stderr, "ternctl: %s: deleted\n", c->jid);
    return rc;
}

static int cmd_check(struct ctl *c)
{
    struct store_account a;
    int rc = store_rc(c, store_account_get(c->db, c->user, &a), "look the account up");
    if (rc != RC_OK)
        return rc;
    char pw[PASSWORD_MAX + 2];
    int n = get_password(false, pw, sizeof(pw));
    if (n < 0)
        return RC_USAGE;
    /* SHA-256 is what a client should use; both hashes come from the same password */
    bool good = sasl_plain_check(SCRAM_SHA256, &a.sha256, pw, (size_t)n);
    OPENSSL_cleanse(pw, sizeof(pw));
    fprintf(stderr, "ternctl: %s: %s\n", c->jid, good ? "password ok" : "wrong password");
    return good ? RC_OK : RC_PASSWORD;
}

static int print_jid(void *arg, const char *user)
{
    const struct ctl *c = arg;
    return printf("%s@%s\n", user, c->conf.domain) < 0 ? -EIO : 0;
}

static int cmd_list(struct ctl *c)
{
    int err = store_account_list(c->db, print_jid, c);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "ternctl: cannot write the list: %s\n", strerror(errno));
        return RC_STORAGE;
    }
    if (err) {
        fprintf(stderr, "ternctl: cannot list the accounts (storage error, see above)\n");
        return RC_STORAGE;
    }
    return RC_OK;
}

struct command {
    const char *name;
    int (*run)(struct ctl *c);
    bool takes_jid;
    const char *help;
};

static const struct command user_commands[] = {
    {"add", cmd_add, true,
     "usage: ternctl [OPTIONS] user add USER@DOMAIN\n\n"
     "Creates an account. The password is the first line of stdin when stdin is not a\n"
     "terminal, otherwise it is asked for twice on the terminal; 1..1023 bytes.\n\n"
     "exit status: 0 created, 1 usage, 2 config, 3 the account already exists, 5 storage\n"},
    {"del", cmd_del, true,
     "usage: ternctl [OPTIONS] user del USER@DOMAIN\n\n"
     "Deletes an account and everything stored for it. Sessions already open are not\n"
     "closed by this.\n\n"
     "exit status: 0 deleted, 1 usage, 2 config, 3 no such account, 5 storage\n"},
    {"passwd", cmd_passwd, true,
     "usage: ternctl [OPTIONS] user passwd USER@DOMAIN\n\n"
     "Sets a new password, read as for `user add`.\n\n"
     "exit status: 0 changed, 1 usage, 2 config, 3 no such account, 5 storage\n"},
    {"list", cmd_list, false,
     "usage: ternctl [OPTIONS] user list\n\n"
     "Prints every account as USER@DOMAIN, one per line, sorted, to stdout.\n\n"
     "exit status: 0 listed, 1 usage, 2 config, 5 storage\n"},
    {"check", cmd_check, true,
     "usage: ternctl [OPTIONS] user check USER@DOMAIN\n\n"
     "Verifies a password, read as for `user add` but asked for once.\n\n"
     "exit status: 0 right password, 1 usage, 2 config, 3 no such account,\n"
     "4 wrong password, 5 storage\n"},
};

/* ---- main ------------------------------------------------------------------------------- */

static int load_conf(struct ctl *c, const char **overrides, size_t n_overrides)
{
    char err[4096];
    if (conf_load(&c->conf, c->conf_path, overrides, n_overrides, err, sizeof(err)) != 0) {
        fprintf(stderr, "%sternctl: configuration error\n", err);
        return RC_CONFIG;
    }
    return RC_OK;
}

static bool is_help(const char *s)
{
    return strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0;
}

/* Normalizes USER@DOMAIN into c->user; DOMAIN must be the server's. */
static int parse_jid(struct ctl *c, const char *arg)
{
    struct jid j;
    if (jid_parse(&j, arg, strlen(arg)) != 0 || !j.has_local || j.has_resource) {
        fprintf(stderr, "ternctl: '%s' is not an account address: expected USER@DOMAIN\n", arg);
        return RC_USAGE;
    }
    if (strcmp(jid_domain(&j), c->conf.domain) != 0) {
        fprintf(stderr, "ternctl: %s: this server's domain is %s (from %s)\n", arg, c->conf.domain,
                c->conf_path);
        return RC_USAGE;
    }
    snprintf(c->user, sizeof(c->user), "%s", jid_local(&j));
    jid_bare(&j, c->jid, sizeof(c->jid));
    return RC_OK;
}

/*
 * ternctl run as root before ternd ever started would leave a root-owned
 * database that ternd (running as its own user) cannot write. A new
 * database file therefore gets the owner of the directory it is in, which
 * is ternd's data_dir. SQLite, run as root, gives its -wal and -shm files
 * the database file's owner by itself.
 */
static void create_owned_like_dir(const char *path)
{
    struct stat sb;
    if (geteuid() != 0 || stat(path, &sb) == 0 || errno != ENOENT)
        return;
    char *copy = strdup(path);
    if (!copy)
        return;
    struct stat ds;
    if (stat(dirname(copy), &ds) == 0 && ds.st_uid != 0) {
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            if (fchown(fd, ds.st_uid, ds.st_gid) != 0)
                fprintf(stderr, "ternctl: %s: cannot hand it to the data_dir's owner: %s\n", path,
                        strerror(errno));
            close(fd);
        }
    }
    free(copy);
}

__attribute__((format(printf, 2, 3))) static int usage_error(const char *help, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ternctl: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n\n%s", help);
    va_end(ap);
    return RC_USAGE;
}

/* ---- backup ----------------------------------------------------------------------------- */

static const char backup_usage_text[] =
    "usage: ternctl [OPTIONS] backup FILE\n\n"
    "Writes a consistent copy of the whole database to FILE (a new file, mode 0600),\n"
    "with SQLite's online backup API. Safe while ternd runs. To restore, stop ternd and\n"
    "put the copy in place of store.path (removing its -wal and -shm files).\n\n"
    "exit status: 0 written, 1 usage, 2 config, 3 FILE already exists, 5 storage\n";

static int load_conf(struct ctl *c, const char **overrides, size_t n_overrides);

static int run_backup(struct ctl *c, char **args, int n, const char **overrides, size_t n_overrides)
{
    if (n >= 1 && is_help(args[0])) {
        fputs(backup_usage_text, stdout);
        return RC_OK;
    }
    if (n != 1 || args[0][0] == '-')
        return usage_error(backup_usage_text, "backup: expected one FILE");
    int rc = load_conf(c, overrides, n_overrides);
    if (rc != RC_OK)
        return rc;
    if (store_db_open(c->conf.store.path, &c->db) != 0) {
        fprintf(stderr, "ternctl: cannot open the database %s (store.path)\n", c->conf.store.path);
        return RC_STORAGE;
    }
    int err = store_db_backup(c->db, args[0]);
    if (err == -EEXIST) {
        fprintf(stderr, "ternctl: %s already exists: give a new file name\n", args[0]);
        return RC_EXISTENCE;
    }
    if (err < 0)
        return RC_STORAGE;
    fprintf(stderr, "ternctl: backup of %s written to %s\n", c->conf.store.path, args[0]);
    return RC_OK;
}

/* ---- import ----------------------------------------------------------------------------- */

static const char import_usage_text[] =
    "usage: ternctl [OPTIONS] user import [--salt SALT] [FILE]\n\n"
    "Creates many accounts at once from FILE (or stdin when FILE is absent or '-'), one\n"
    "per line: 'USER PASSWORD' or 'USER@DOMAIN PASSWORD' (DOMAIN must be the config's).\n"
    "The password is the rest of the line after the blanks that follow USER; empty lines\n"
    "and lines starting with '#' are skipped. The file holds passwords in clear: keep it\n"
    "private and delete it afterwards. Keys are derived on every CPU and all accounts are\n"
    "written in one transaction: either every account is created or none is.\n\n"
    "  --salt SALT   give every imported account the same SCRAM salt (the bytes of SALT,\n"
    "                1..64). FOR BENCHMARK ACCOUNTS ONLY: a shared salt lets whoever\n"
    "                reads the database test a password guess against all accounts at\n"
    "                once. It makes accounts with equal passwords cost one derivation,\n"
    "                and lets a load generator derive its client key once.\n\n"
    "exit status: 0 all created, 1 usage or a bad line (nothing created), 2 config,\n"
    "3 an account already exists (nothing created), 5 storage\n";

#define IMPORT_BATCH   1024 /* accounts derived, then written, at a time */
#define IMPORT_THREADS 64

struct import_item {
    struct store_account a;
    char *pw;
    size_t pw_len;
    unsigned line;
    int rc; /* from scram_derive or scram_credentials */
};

struct import_job {
    struct import_item *items;
    size_t n, first, step;
    const unsigned char *salt; /* NULL: random per account and hash */
    size_t salt_len;
    unsigned iterations;
};

/* Derives items first, first+step, ...; with a shared salt, equal passwords derive once. */
static void *import_derive(void *arg)
{
    struct import_job *j = arg;
    const struct import_item *prev = NULL;
    for (size_t i = j->first; i < j->n; i += j->step) {
        struct import_item *it = &j->items[i];
        if (j->salt && prev && prev->rc == 0 && prev->pw_len == it->pw_len &&
            memcmp(prev->pw, it->pw, it->pw_len) == 0) {
            it->a.sha1 = prev->a.sha1;
            it->a.sha256 = prev->a.sha256;
            it->rc = 0;
            continue;
        }
        if (!j->salt) {
            it->rc = scram_credentials(&it->a, it->pw, it->pw_len, j->iterations);
            continue;
        }
        struct store_scram *v[2] = {&it->a.sha1, &it->a.sha256};
        const enum scram_hash h[2] = {SCRAM_SHA1, SCRAM_SHA256};
        it->rc = 0;
        for (size_t k = 0; k < 2 && it->rc == 0; k++) {
            memcpy(v[k]->salt, j->salt, j->salt_len);
            v[k]->salt_len = j->salt_len;
            v[k]->iterations = j->iterations;
            it->rc = scram_derive(h[k], it->pw, it->pw_len, v[k]);
        }
        prev = it;
    }
    return NULL;
}

/* Derives a batch on every CPU, then writes it. Returns an rc; reports the failing line. */
static int import_batch(struct ctl *c, struct import_item *items, size_t n, const char *salt)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = cpus < 1 ? 1 : cpus > IMPORT_THREADS ? IMPORT_THREADS : (size_t)cpus;
    if (nt > n)
        nt = n;
    pthread_t tid[IMPORT_THREADS];
    struct import_job jobs[IMPORT_THREADS];
    size_t started = 0;
    for (size_t t = 0; t < nt; t++) {
        jobs[t] = (struct import_job){
            .items = items,
            .n = n,
            .first = t,
            .step = nt,
            .salt = (const unsigned char *)salt,
            .salt_len = salt ? strlen(salt) : 0,
            .iterations = c->conf.auth.scram_iterations,
        };
        /* thread 0 is this one */
        if (t > 0 && pthread_create(&tid[t], NULL, import_derive, &jobs[t]) != 0)
            break;
        started = t + 1;
    }
    import_derive(&jobs[0]);
    for (size_t t = 1; t < started; t++)
        pthread_join(tid[t], NULL);
    for (size_t t = started; t < nt; t++) /* threads that could not start: do it here */
        import_derive(&jobs[t]);
    for (size_t i = 0; i < n; i++) {
        if (items[i].rc != 0) {
            fprintf(stderr, "ternctl: line %u: cannot derive the keys: %s\n", items[i].line,
                    strerror(-items[i].rc));
            return RC_STORAGE;
        }
        int err = store_account_add(c->db, &items[i].a);
        if (err == -EEXIST) {
            fprintf(stderr, "ternctl: line %u: %s@%s already exists; nothing imported\n",
                    items[i].line, items[i].a.user, c->conf.domain);
            return RC_EXISTENCE;
        }
        if (err) {
            fprintf(stderr, "ternctl: line %u: cannot create %s (storage error, see above)\n",
                    items[i].line, items[i].a.user);
            return RC_STORAGE;
        }
    }
    return RC_OK;
}

/* Parses one line into it (user normalized, pw a copy). Returns RC_OK or RC_USAGE. */
static int import_parse(struct ctl *c, char *line, unsigned no, struct import_item *it)
{
    size_t len = strcspn(line, "\r\n");
    line[len] = '\0';
    size_t ul = strcspn(line, " \t");
    if (ul == len) {
        fprintf(stderr, "ternctl: line %u: expected 'USER PASSWORD'\n", no);
        return RC_USAGE;
    }
    line[ul] = '\0';
    const char *pw = line + ul + 1 + strspn(line + ul + 1, " \t");
    size_t pl = strlen(pw);
    if (pl == 0 || pl > PASSWORD_MAX) {
        fprintf(stderr, "ternctl: line %u: the password must be 1..%d bytes\n", no, PASSWORD_MAX);
        return RC_USAGE;
    }
    memset(it, 0, sizeof(*it));
    it->line = no;
    if (strchr(line, '@')) {
        if (parse_jid(c, line) != RC_OK) {
            fprintf(stderr, "ternctl: (in line %u)\n", no);
            return RC_USAGE;
        }
        snprintf(it->a.user, sizeof(it->a.user), "%s", c->user);
    } else if (jid_normalize_local(line, ul, it->a.user, sizeof(it->a.user)) < 0) {
        fprintf(stderr, "ternctl: line %u: '%s' is not a valid user name\n", no, line);
        return RC_USAGE;
    }
    it->a.created = (int64_t)time(NULL);
    it->pw = xstrndup(pw, pl);
    it->pw_len = pl;
    return RC_OK;
}

static void import_clear(struct import_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        OPENSSL_cleanse(items[i].pw, items[i].pw_len);
        free(items[i].pw);
        items[i].pw = NULL;
    }
}

static int run_import(struct ctl *c, char **args, int n, const char **overrides, size_t n_overrides)
{
    const char *salt = NULL, *file = NULL;
    for (int i = 0; i < n; i++) {
        if (is_help(args[i])) {
            fputs(import_usage_text, stdout);
            return RC_OK;
        }
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(args[i], "--salt") == 0 && i + 1 < n) {
            salt = args[++i];
        } else if (strncmp(args[i], "--salt=", 7) == 0) {
            salt = args[i] + 7;
        } else if (args[i][0] == '-' && strcmp(args[i], "-") != 0) {
            return usage_error(import_usage_text, "unknown option '%s'", args[i]);
        } else if (!file) {
            file = args[i];
        } else {
            return usage_error(import_usage_text, "expected at most one FILE");
        }
    }
    if (salt && (strlen(salt) == 0 || strlen(salt) > STORE_SALT_MAX))
        return usage_error(import_usage_text, "--salt: 1..%d bytes", STORE_SALT_MAX);
    int rc = load_conf(c, overrides, n_overrides);
    if (rc != RC_OK)
        return rc;
    FILE *in = stdin;
    if (file && strcmp(file, "-") != 0 && !(in = fopen(file, "r"))) {
        fprintf(stderr, "ternctl: %s: %s\n", file, strerror(errno));
        return RC_USAGE;
    }
    create_owned_like_dir(c->conf.store.path);
    if (store_db_open(c->conf.store.path, &c->db) != 0) {
        fprintf(stderr, "ternctl: cannot open the database %s (store.path)\n", c->conf.store.path);
        if (in != stdin)
            fclose(in);
        return RC_STORAGE;
    }
    struct import_item *items = xcalloc(IMPORT_BATCH, sizeof(*items));
    char *line = NULL;
    size_t cap = 0, n_items = 0, total = 0;
    unsigned no = 0;
    rc = store_db_begin(c->db) == 0 ? RC_OK : RC_STORAGE;
    while (rc == RC_OK && getline(&line, &cap, in) >= 0) {
        no++;
        const char *p = line + strspn(line, " \t");
        if (*p == '#' || *p == '\n' || *p == '\r' || *p == '\0')
            continue;
        rc = import_parse(c, line, no, &items[n_items]);
        if (rc != RC_OK)
            break;
        if (++n_items == IMPORT_BATCH) {
            rc = import_batch(c, items, n_items, salt);
            import_clear(items, n_items);
            total += n_items;
            n_items = 0;
        }
    }
    if (rc == RC_OK && ferror(in)) {
        fprintf(stderr, "ternctl: cannot read the input: %s\n", strerror(errno));
        rc = RC_USAGE;
    }
    if (rc == RC_OK && n_items) {
        rc = import_batch(c, items, n_items, salt);
        total += n_items;
    }
    import_clear(items, n_items);
    if (line) {
        OPENSSL_cleanse(line, cap);
        free(line);
    }
    free(items);
    if (in != stdin)
        fclose(in);
    if (rc == RC_OK && store_db_commit(c->db) != 0)
        rc = RC_STORAGE;
    if (rc != RC_OK) {
        store_db_rollback(c->db);
        return rc;
    }
    fprintf(stderr, "ternctl: %zu accounts imported%s\n", total,
            salt ? " (shared salt: benchmark accounts only)" : "");
    return RC_OK;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    const char **overrides = calloc((size_t)argc + 1, sizeof(*overrides));
    size_t n_overrides = 0;
    struct ctl c = {.conf_path = DEFAULT_CONF};
    int rc = RC_USAGE, opt;

    if (!overrides)
        return RC_STORAGE;
    log_set_level(LOG_WARN);
    /* '+': options end at the command, so "user add -h" reaches the command */
    while ((opt = getopt_long(argc, argv, "+c:o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            c.conf_path = optarg;
            break;
        case 'o':
            overrides[n_overrides++] = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            rc = RC_OK;
            goto out;
        default:
            fprintf(stderr, "try 'ternctl --help'\n");
            goto out;
        }
    }
    char **args = argv + optind;
    int n_args = argc - optind;
    if (n_args == 0) {
        fputs(usage_text, stderr);
        goto out;
    }
    if (strcmp(args[0], "backup") == 0) {
        rc = run_backup(&c, args + 1, n_args - 1, overrides, n_overrides);
        goto out;
    }
    if (strcmp(args[0], "user") != 0) {
        rc = usage_error(usage_text, "unknown command '%s'", args[0]);
        goto out;
    }
    if (n_args == 1) {
        rc = usage_error(user_usage_text, "user: which command?");
        goto out;
    }
    if (strcmp(args[1], "import") == 0) {
        rc = run_import(&c, args + 2, n_args - 2, overrides, n_overrides);
        goto out;
    }
    if (is_help(args[1])) {
        fputs(user_usage_text, stdout);
        rc = RC_OK;
        goto out;
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < sizeof(user_commands) / sizeof(user_commands[0]); i++)
        if (strcmp(args[1], user_commands[i].name) == 0)
            cmd = &user_commands[i];
    if (!cmd) {
        rc = usage_error(user_usage_text, "unknown command 'user %s'", args[1]);
        goto out;
    }

    /* the command's own arguments: help first, before anything can fail */
    const char *pos[2];
    int n_pos = 0;
    bool dashdash = false;
    for (int i = 2; i < n_args && strcmp(args[i], "--") != 0; i++) {
        if (is_help(args[i])) {
            fputs(cmd->help, stdout);
            rc = RC_OK;
            goto out;
        }
    }
    for (int i = 2; i < n_args; i++) {
        if (!dashdash && strcmp(args[i], "--") == 0) {
            dashdash = true;
        } else if (!dashdash && args[i][0] == '-' && args[i][1] != '\0') {
            rc = usage_error(cmd->help, "unknown option '%s'", args[i]);
            goto out;
        } else if (n_pos < 2) {
            pos[n_pos++] = args[i];
        } else {
            n_pos++;
        }
    }
    if (n_pos != (cmd->takes_jid ? 1 : 0)) {
        rc = usage_error(cmd->help, "%s",
                         cmd->takes_jid ? "expected one USER@DOMAIN"
                                        : "this command takes no arguments");
        goto out;
    }

    if ((rc = load_conf(&c, overrides, n_overrides)) != RC_OK)
        goto out;
    if (cmd->takes_jid && (rc = parse_jid(&c, pos[0])) != RC_OK)
        goto out;
    create_owned_like_dir(c.conf.store.path);
    if (store_db_open(c.conf.store.path, &c.db) != 0) {
        fprintf(stderr, "ternctl: cannot open the database %s (store.path)\n", c.conf.store.path);
        rc = RC_STORAGE;
        goto out;
    }
    rc = cmd->run(&c);
out:
    store_db_close(c.db);
    conf_fini(&c.conf);
    free(overrides);
    return rc;
}
