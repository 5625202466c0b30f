/*
 * ternd: the server's entry point. Parses the command line, loads and checks
 * the config, prepares the data directory, builds the server, and waits for
 * SIGTERM/SIGINT on the main thread (signals are blocked in every worker, so
 * they are taken here with sigwait and nowhere else), then stops gracefully.
 */
#include "conf/conf.h"
#include "core/log.h"
#include "net/tls.h"
#include "xmpp/mod/modules.h"
#include "xmpp/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_CONF  "/etc/tern/tern.conf"
#define MAX_OVERRIDES 128

static void usage(FILE *f)
{
    fprintf(f, "usage: ternd [-c FILE] [-o section.key=value]... [--check]\n"
               "\n"
               "  -c FILE     config file (default " DEFAULT_CONF ")\n"
               "  -o K=V      override a directive: -o c2s.port=5222, -o domain=example.org\n"
               "  --check     validate the config and exit (0 if it is good)\n"
               "  -h, --help  this help\n"
               "\n"
               "ternd runs in the foreground and logs to stderr. SIGTERM or SIGINT stops it\n"
               "gracefully. Directives are documented in doc/config.md.\n");
}

/* Creates dir (one level) with mode 0700 if missing. */
static int ensure_dir(const char *dir)
{
    if (mkdir(dir, 0700) == 0 || errno == EEXIST)
        return 0;
    return -errno;
}

int main(int argc, char **argv)
{
    const char *path = DEFAULT_CONF;
    const char *overrides[MAX_OVERRIDES];
    size_t n_over = 0;
    bool check = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "-c") == 0 || strcmp(a, "-o") == 0) && i + 1 < argc) {
            if (a[1] == 'c') {
                path = argv[++i];
            } else if (n_over < MAX_OVERRIDES) {
                overrides[n_over++] = argv[++i];
            } else {
                fprintf(stderr, "ternd: too many -o options (max %d)\n", MAX_OVERRIDES);
                return 1;
            }
        } else if (strcmp(a, "--check") == 0) {
            check = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "ternd: unknown argument '%s'\n", a);
            usage(stderr);
            return 1;
        }
    }

    struct conf conf;
    conf_init(&conf);
    char err[4096];
    if (conf_load(&conf, path, overrides, n_over, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s", err);
        if (err[0] && err[strlen(err) - 1] != '\n')
            fputc('\n', stderr);
        conf_fini(&conf);
        return 2;
    }
    if (check) {
        printf("%s: ok\n", path);
        conf_fini(&conf);
        return 0;
    }
    enum log_level level = LOG_INFO;
    log_parse_level(conf.log.level, &level);
    log_set_level(level);

    int rc = ensure_dir(conf.data_dir);
    if (rc < 0) {
        log_error("data_dir %s: %s", conf.data_dir, strerror(-rc));
        conf_fini(&conf);
        return 1;
    }
    /* block the stop signals before any thread exists, so only sigwait below sees them */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    mods_init();
    struct server srv;
    rc = server_init(&srv, &conf);
    if (rc == 0)
        rc = server_start(&srv);
    if (rc < 0) {
        server_stop(&srv);
        server_fini(&srv);
        conf_fini(&conf);
        return 1;
    }
    char fp[128] = "";
    tls_fingerprint(conf.tls.cert, fp, sizeof(fp));
    log_info("ternd ready: domain %s, %u workers, STARTTLS on %s:%u%s, direct TLS %s%u, "
             "store %s",
             conf.domain, srv.n_workers, conf.c2s.bind, conf.c2s.port,
             conf.c2s.require_tls ? " (required)" : "", conf.c2s.tls_port ? "on port " : "off",
             conf.c2s.tls_port ? conf.c2s.tls_port : 0, conf.store.path);
    log_info("certificate %s sha256 %s", conf.tls.cert, fp);

    int sig = 0;
    sigwait(&stop, &sig);
    log_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server_stop(&srv);
    server_fini(&srv);
    log_info("stopped");
    conf_fini(&conf);
    return 0;
}
