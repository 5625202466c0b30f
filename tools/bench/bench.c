/*
 * tern-bench: the XMPP load generator. One process, one event loop (tern's
 * own: core/loop, net/conn, xml/parser), thousands of client sessions.
 * Scenarios:
 *
 *   login  C sessions log in as fast as the concurrency allows, each closed
 *          once bound: logins/s and login latency (connect to bound).
 *   idle   K sessions log in and stay: the server's RSS and KB per session
 *          (from /proc/PID/status of --pid), disconnects while holding.
 *   chat   P pairs exchange 1:1 messages at a total rate R (0: flat out,
 *          --window messages in flight per session) for T seconds: sent,
 *          delivered, lost, msgs/s, latency percentiles, server CPU.
 *   ramp   chat in steps of --step seconds, the rate growing by --factor,
 *          until p99 > --p99-limit ms or a message is lost: the highest
 *          rate that held.
 *
 * Latency is measured in this process (the send time is in the body), in
 * microseconds, into an HDR-style histogram (hist.h). This process's own CPU
 * is reported beside the server's: on a small machine they share the cores,
 * and a run whose bench CPU nears 100% of a core measured the bench.
 *
 * Output: human-readable lines, then one JSON object on the last line.
 */
#include "hist.h"
#include "xc.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/rand.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define FD_RESERVE 64   /* descriptors kept for stdio, epoll, the odd file */
#define TICK_MS    1    /* chat: sending granularity */
#define DRAIN_MS   3000 /* chat: how long to wait for messages in flight */
#define SETTLE_MS  2000 /* idle: before the RSS reading */

enum scenario { SC_LOGIN, SC_IDLE, SC_CHAT, SC_RAMP };

static const char *const sc_names[] = {"login", "idle", "chat", "ramp"};

struct opts {
    enum scenario sc;
    const char *host, *domain, *prefix, *password, *label;
    unsigned port, first, count, pairs, concurrency, window, sources, steps;
    double rate, seconds, step_seconds, factor, p99_limit_ms;
    pid_t pid;
    bool tls;
    enum xc_mech mech;
};

/* Readings of a process: CPU ticks (user + system) and resident set. */
struct proc_sample {
    uint64_t cpu_us;
    uint64_t rss_kb;
    bool ok;
};

struct step {
    double rate; /* asked, msgs/s; 0 flat out */
    double secs; /* sending time */
    uint64_t sent, delivered, bounced, late;
    uint64_t seq0; /* first seq of this step */
    struct hist lat;
    struct proc_sample srv0, srv1;
    uint64_t bench0_us, bench1_us;
    uint64_t mach0_us, mach1_us;
};

struct run {
    struct opts o;
    struct loop *loop;
    struct conn_ctx *cctx;
    struct xc_env env;
    struct sockaddr_in dst;
    struct xc **sess; /* by slot, NULL when closed */
    unsigned n_sess;
    uint32_t runid;

    /* login phase */
    unsigned next, target, in_flight, bound, failed, disconnects;
    const char *first_fail;
    bool logging_in, holding, ending;
    uint64_t t_login0, t_login1;
    struct hist login_lat;
    void (*after_login)(struct run *r);

    /* chat */
    struct step steps[64];
    unsigned n_steps, cur;
    bool sending;
    uint64_t seq, t_step0;
    uint64_t step_budget;
    struct timer tick, phase;
    unsigned rr; /* next sender */

    struct proc_sample srv_a, srv_b, srv_rss0, srv_rss1, srv_rss2;
    uint64_t bench_a, bench_b;
    uint64_t mach_a, mach_b;
    unsigned capped_from;
};

static struct run R;

/* ---- readings ------------------------------------------------------------------------------ */

static uint64_t bench_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec +
           (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
}

static struct proc_sample proc_read(pid_t pid)
{
    struct proc_sample s = {0};
    if (pid <= 0)
        return s;
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return s;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* fields after the ")" that ends the command name: state is field 3, utime 14, stime 15 */
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return s;
    long hz = sysconf(_SC_CLK_TCK);
    s.cpu_us = (ut + st) * 1000000ull / (unsigned long long)(hz > 0 ? hz : 100);
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return s;
    while (fgets(buf, sizeof(buf), f))
        if (sscanf(buf, "VmRSS: %" SCNu64, &s.rss_kb) == 1)
            break;
    fclose(f);
    s.ok = true;
    return s;
}

/* CPU time all cores spent busy (not idle, not waiting for I/O), from /proc/stat. */
static uint64_t machine_busy_us(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 4)
        return 0;
    unsigned long long busy = 0;
    for (int i = 0; i < n; i++)
        if (i != 3 && i != 4) /* idle, iowait */
            busy += v[i];
    long hz = sysconf(_SC_CLK_TCK);
    return busy * 1000000ull / (unsigned long long)(hz > 0 ? hz : 100);
}

static double pct(uint64_t cpu_us, uint64_t wall_us)
{
    return wall_us ? 100.0 * (double)cpu_us / (double)wall_us : 0;
}

/* CPU the rest of the machine used meanwhile (% of one core): what disturbed the run. */
static double other_pct(uint64_t mach, uint64_t srv, uint64_t bench, uint64_t wall_us)
{
    double o = pct(mach, wall_us) - pct(srv, wall_us) - pct(bench, wall_us);
    return o > 0 ? o : 0;
}

/* ---- sessions ------------------------------------------------------------------------------ */

static void start_more(struct run *r);

static unsigned slot_of(const struct run *r, const struct xc *x)
{
    return x->num - r->o.first;
}

static void on_bound(struct xc *x)
{
    struct run *r = &R;
    uint64_t now = xc_now_us();
    hist_add(&r->login_lat, now - x->t0_us);
    r->bound++;
    r->in_flight--;
    r->t_login1 = now;
    if (r->o.sc == SC_LOGIN)
        xc_close(x);
    start_more(r);
}

static void send_one(struct run *r, struct xc *from)
{
    char body[96];
    snprintf(body, sizeof(body), "%" PRIu32 " %" PRIu64 " %" PRIu64, r->runid, r->seq++,
             xc_now_us());
    unsigned to = r->o.first + ((from->num - r->o.first) ^ 1u); /* pairs: sessions 2i, 2i+1 */
    xc_send_msg(from, to, body);
    r->steps[r->cur].sent++;
}

static void on_message(struct xc *x, const char *body, bool error)
{
    struct run *r = &R;
    unsigned long runid;
    uint64_t seq, ts;
    if (sscanf(body, "%lu %" SCNu64 " %" SCNu64, &runid, &seq, &ts) != 3 || runid != r->runid)
        return; /* not ours: offline messages of an earlier run */
    struct step *s = &r->steps[r->cur];
    if (seq < s->seq0) {
        s->late++;
        return;
    }
    if (error) {
        s->bounced++;
        return;
    }
    s->delivered++;
    hist_add(&s->lat, xc_now_us() - ts);
    if (r->sending && s->rate == 0)
        send_one(r, x); /* flat out: answer each message with the next one */
}

static void on_closed(struct xc *x, const char *reason)
{
    struct run *r = &R;
    unsigned slot = slot_of(r, x);
    if (slot < r->n_sess && r->sess[slot] == x)
        r->sess[slot] = NULL;
    if (r->ending)
        return;
    if (!x->ready) {
        /* a login that did not make it */
        r->failed++;
        r->in_flight--;
        if (!r->first_fail)
            r->first_fail = reason;
        start_more(r);
    } else if (!x->by_us) {
        r->disconnects++;
        if (!r->first_fail)
            r->first_fail = reason;
    }
}

static const struct xc_ops ops = {.bound = on_bound, .message = on_message, .closed = on_closed};

static void start_more(struct run *r)
{
    while (r->logging_in && r->next < r->target && r->in_flight < r->o.concurrency) {
        unsigned slot = r->next++;
        const char *why = NULL;
        struct xc *x = xc_start(&r->env, r->o.first + slot, r, &why);
        if (!x) {
            r->failed++;
            if (!r->first_fail)
                r->first_fail = why;
            continue;
        }
        r->sess[slot] = x;
        r->in_flight++;
    }
    if (r->logging_in && r->next >= r->target && r->in_flight == 0) {
        r->logging_in = false;
        r->after_login(r);
    }
}

static void login_phase(struct run *r, unsigned n, void (*then)(struct run *))
{
    r->target = n;
    r->next = 0;
    r->after_login = then;
    r->logging_in = true;
    r->t_login0 = xc_now_us();
    r->t_login1 = r->t_login0;
    r->srv_a = proc_read(r->o.pid);
    r->bench_a = bench_cpu_us();
    r->mach_a = machine_busy_us();
    start_more(r);
}

/* Closes every session and stops the loop once they are gone (or after 5 s). */
static void finish_timer(struct loop *l, struct timer *t)
{
    (void)t;
    loop_stop(l);
}

static void end_run(struct run *r)
{
    r->ending = true;
    for (unsigned i = 0; i < r->n_sess; i++)
        if (r->sess[i])
            xc_close(r->sess[i]);
    loop_timer_start(r->loop, &r->phase, 300, finish_timer);
}

/* ---- output ------------------------------------------------------------------------------- */

static void json_hist(FILE *f, const char *name, const struct hist *h)
{
    fprintf(f,
            "\"%s\":{\"n\":%" PRIu64 ",\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64
            ",\"p999\":%" PRIu64 ",\"max\":%" PRIu64 ",\"mean\":%.1f}",
            name, h->n, hist_quantile(h, 0.5), hist_quantile(h, 0.9), hist_quantile(h, 0.99),
            hist_quantile(h, 0.999), h->n ? h->max : 0, hist_mean(h));
}

static void print_hist(const char *what, const struct hist *h)
{
    printf("%-14s n=%" PRIu64 "  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms\n", what,
           h->n, hist_quantile(h, 0.5) / 1e3, hist_quantile(h, 0.9) / 1e3,
           hist_quantile(h, 0.99) / 1e3, hist_quantile(h, 0.999) / 1e3, (h->n ? h->max : 0) / 1e3);
}

static void json_head(const struct run *r)
{
    printf("{\"scenario\":\"%s\",\"server\":\"%s\",\"tls\":%s,\"mech\":\"%s\",\"sessions\":%u,"
           "\"bound\":%u,\"failed\":%u,\"disconnects\":%u,\"capped_from\":%u,",
           sc_names[r->o.sc], r->o.label, r->o.tls ? "true" : "false", xc_mech_name(r->o.mech),
           r->target, r->bound, r->failed, r->disconnects, r->capped_from);
}

static void print_login_line(const struct run *r)
{
    double secs = (double)(r->t_login1 - r->t_login0) / 1e6;
    printf("sessions       %u bound, %u failed%s%s in %.2f s (%.0f logins/s)\n", r->bound,
           r->failed, r->first_fail ? ", first failure: " : "", r->first_fail ? r->first_fail : "",
           secs, secs > 0 ? r->bound / secs : 0);
    print_hist("login latency", &r->login_lat);
}

/* ---- login --------------------------------------------------------------------------------- */

static void login_done(struct run *r)
{
    r->srv_b = proc_read(r->o.pid);
    r->bench_b = bench_cpu_us();
    r->mach_b = machine_busy_us();
    uint64_t wall = r->t_login1 - r->t_login0;
    double secs = (double)wall / 1e6;
    double rate = secs > 0 ? r->bound / secs : 0;
    print_login_line(r);
    double scpu = pct(r->srv_b.cpu_us - r->srv_a.cpu_us, wall);
    double bcpu = pct(r->bench_b - r->bench_a, wall);
    double ocpu = other_pct(r->mach_b - r->mach_a, r->srv_b.cpu_us - r->srv_a.cpu_us,
                            r->bench_b - r->bench_a, wall);
    if (r->srv_a.ok)
        printf("cpu            server %.0f%%, bench %.0f%%, other processes %.0f%% (of one core)\n",
               scpu, bcpu, ocpu);
    else
        printf("cpu            bench %.0f%% (of one core)\n", bcpu);
    json_head(r);
    printf("\"seconds\":%.3f,\"logins_per_s\":%.1f,", secs, rate);
    json_hist(stdout, "login_us", &r->login_lat);
    printf(",\"server_cpu_pct\":%.1f,\"bench_cpu_pct\":%.1f,\"other_cpu_pct\":%.1f}\n",
           r->srv_a.ok ? scpu : -1.0, bcpu, ocpu);
    end_run(r);
}

/* ---- idle ---------------------------------------------------------------------------------- */

static void idle_end(struct loop *l, struct timer *t)
{
    (void)l;
    (void)t;
    struct run *r = &R;
    r->srv_rss2 = proc_read(r->o.pid);
    r->srv_b = r->srv_rss2;
    r->bench_b = bench_cpu_us();
    r->mach_b = machine_busy_us();
    uint64_t wall = (uint64_t)(r->o.seconds * 1e6);
    print_login_line(r);
    unsigned live = r->bound - r->disconnects;
    double per = 0;
    if (r->srv_rss1.ok && r->bound) {
        per = ((double)r->srv_rss1.rss_kb - (double)r->srv_rss0.rss_kb) / r->bound;
        printf("server rss     %" PRIu64 " KB before, %" PRIu64 " KB with %u sessions, %" PRIu64
               " KB after %.0f s: %.2f KB per session\n",
               r->srv_rss0.rss_kb, r->srv_rss1.rss_kb, r->bound, r->srv_rss2.rss_kb, r->o.seconds,
               per);
    }
    double scpu = pct(r->srv_b.cpu_us - r->srv_a.cpu_us, wall);
    double bcpu = pct(r->bench_b - r->bench_a, wall);
    double ocpu = other_pct(r->mach_b - r->mach_a, r->srv_b.cpu_us - r->srv_a.cpu_us,
                            r->bench_b - r->bench_a, wall);
    printf("holding        %u sessions for %.0f s: %u disconnects; cpu server %.1f%%, bench "
           "%.1f%%, other processes %.1f%%\n",
           live, r->o.seconds, r->disconnects, scpu, bcpu, ocpu);
    json_head(r);
    printf("\"hold_s\":%.1f,\"rss_before_kb\":%" PRIu64 ",\"rss_kb\":%" PRIu64
           ",\"rss_after_kb\":%" PRIu64 ",\"kb_per_session\":%.2f,\"logins_per_s\":%.1f,",
           r->o.seconds, r->srv_rss0.rss_kb, r->srv_rss1.rss_kb, r->srv_rss2.rss_kb, per,
           r->t_login1 > r->t_login0 ? r->bound / ((double)(r->t_login1 - r->t_login0) / 1e6) : 0);
    json_hist(stdout, "login_us", &r->login_lat);
    printf(",\"server_cpu_pct\":%.1f,\"bench_cpu_pct\":%.1f,\"other_cpu_pct\":%.1f}\n",
           r->srv_a.ok ? scpu : -1.0, bcpu, ocpu);
    end_run(r);
}

static void idle_settled(struct loop *l, struct timer *t)
{
    (void)t;
    struct run *r = &R;
    r->srv_rss1 = proc_read(r->o.pid);
    r->srv_a = r->srv_rss1;
    r->bench_a = bench_cpu_us();
    r->mach_a = machine_busy_us();
    r->holding = true;
    loop_timer_start(l, &r->phase, (uint64_t)(r->o.seconds * 1000), idle_end);
}

static void idle_logged_in(struct run *r)
{
    loop_timer_start(r->loop, &r->phase, SETTLE_MS, idle_settled);
}

/* ---- chat and ramp ------------------------------------------------------------------------- */

static void step_start(struct run *r);

static bool step_held(const struct run *r, const struct step *s)
{
    uint64_t lost = s->sent - s->delivered;
    return lost == 0 && s->bounced == 0 &&
           hist_quantile(&s->lat, 0.99) <= (uint64_t)(r->o.p99_limit_ms * 1000);
}

static void step_report(const struct run *r, const struct step *s, unsigned i)
{
    uint64_t wall = (uint64_t)(s->secs * 1e6);
    uint64_t lost = s->sent > s->delivered + s->bounced ? s->sent - s->delivered - s->bounced : 0;
    double scpu = pct(s->srv1.cpu_us - s->srv0.cpu_us, wall);
    double bcpu = pct(s->bench1_us - s->bench0_us, wall);
    double mps = s->delivered / s->secs;
    double us_per_msg =
        s->delivered ? (double)(s->srv1.cpu_us - s->srv0.cpu_us) / (double)s->delivered : 0;
    (void)r;
    char asked[32];
    if (s->rate > 0)
        snprintf(asked, sizeof(asked), "%.0f/s", s->rate);
    else
        snprintf(asked, sizeof(asked), "flat out");
    printf("step %-2u %-9s sent %" PRIu64 ", delivered %" PRIu64 ", bounced %" PRIu64
           ", lost %" PRIu64 " in %.1f s: %.0f msgs/s\n",
           i, asked, s->sent, s->delivered, s->bounced, lost, s->secs, mps);
    print_hist("  latency", &s->lat);
    double ocpu = other_pct(s->mach1_us - s->mach0_us, s->srv1.cpu_us - s->srv0.cpu_us,
                            s->bench1_us - s->bench0_us, wall);
    if (s->srv0.ok)
        printf("  cpu          server %.0f%% (%.1f us per message), bench %.0f%%, other processes "
               "%.0f%%\n",
               scpu, us_per_msg, bcpu, ocpu);
    else
        printf("  cpu          bench %.0f%%\n", bcpu);
}

static void step_json(const struct step *s)
{
    uint64_t wall = (uint64_t)(s->secs * 1e6);
    uint64_t lost = s->sent > s->delivered + s->bounced ? s->sent - s->delivered - s->bounced : 0;
    double scpu = s->srv0.ok ? pct(s->srv1.cpu_us - s->srv0.cpu_us, wall) : -1.0;
    double us_per_msg = s->delivered && s->srv0.ok
                            ? (double)(s->srv1.cpu_us - s->srv0.cpu_us) / (double)s->delivered
                            : -1.0;
    printf("{\"rate\":%.0f,\"seconds\":%.2f,\"sent\":%" PRIu64 ",\"delivered\":%" PRIu64
           ",\"bounced\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"msgs_per_s\":%.1f,",
           s->rate, s->secs, s->sent, s->delivered, s->bounced, lost, s->delivered / s->secs);
    json_hist(stdout, "latency_us", &s->lat);
    printf(",\"server_cpu_pct\":%.1f,\"server_cpu_us_per_msg\":%.2f,\"bench_cpu_pct\":%.1f,"
           "\"other_cpu_pct\":%.1f}",
           scpu, us_per_msg, pct(s->bench1_us - s->bench0_us, wall),
           other_pct(s->mach1_us - s->mach0_us, s->srv0.ok ? s->srv1.cpu_us - s->srv0.cpu_us : 0,
                     s->bench1_us - s->bench0_us, wall));
}

static void chat_finish(struct run *r)
{
    print_login_line(r);
    int best = -1;
    for (unsigned i = 0; i < r->n_steps; i++) {
        step_report(r, &r->steps[i], i + 1);
        if (step_held(r, &r->steps[i]))
            best = (int)i;
    }
    if (r->o.sc == SC_RAMP) {
        if (best >= 0)
            printf("ramp           highest rate held (p99 <= %.0f ms, no loss): %.0f msgs/s "
                   "asked, %.0f delivered\n",
                   r->o.p99_limit_ms, r->steps[best].rate,
                   r->steps[best].delivered / r->steps[best].secs);
        else
            printf("ramp           no step held (p99 <= %.0f ms, no loss)\n", r->o.p99_limit_ms);
    }
    json_head(r);
    printf("\"pairs\":%u,\"disconnects_total\":%u,\"held_rate\":%.0f,\"held_msgs_per_s\":%.1f,",
           r->o.pairs, r->disconnects, best >= 0 ? r->steps[best].rate : 0,
           best >= 0 ? r->steps[best].delivered / r->steps[best].secs : 0);
    /* the headline figures: the last step of chat, the highest held step of ramp */
    const struct step *head =
        r->o.sc == SC_RAMP && best >= 0 ? &r->steps[best] : &r->steps[r->n_steps - 1];
    printf("\"result\":");
    step_json(head);
    printf(",\"steps\":[");
    for (unsigned i = 0; i < r->n_steps; i++) {
        if (i)
            printf(",");
        step_json(&r->steps[i]);
    }
    printf("]}\n");
    end_run(r);
}

static void drain_check(struct loop *l, struct timer *t);

static void step_stop(struct run *r)
{
    struct step *s = &r->steps[r->cur];
    r->sending = false;
    s->secs = (double)(xc_now_us() - r->t_step0) / 1e6;
    s->srv1 = proc_read(r->o.pid);
    s->bench1_us = bench_cpu_us();
    s->mach1_us = machine_busy_us();
    loop_timer_stop(r->loop, &r->tick);
    r->step_budget = clock_ms() + DRAIN_MS;
    loop_timer_start(r->loop, &r->phase, 10, drain_check);
}

static void drain_check(struct loop *l, struct timer *t)
{
    struct run *r = &R;
    struct step *s = &r->steps[r->cur];
    if (s->delivered + s->bounced < s->sent && clock_ms() < r->step_budget) {
        loop_timer_start(l, t, 10, drain_check);
        return;
    }
    r->n_steps = r->cur + 1;
    bool more = r->o.sc == SC_RAMP && r->cur + 1 < r->o.steps &&
                r->cur + 1 < sizeof(r->steps) / sizeof(r->steps[0]) && step_held(r, s) &&
                r->disconnects == 0;
    if (!more)
        return chat_finish(r);
    r->cur++;
    r->steps[r->cur].rate = s->rate * r->o.factor;
    step_start(r);
}

static void on_tick(struct loop *l, struct timer *t)
{
    struct run *r = &R;
    struct step *s = &r->steps[r->cur];
    uint64_t now = xc_now_us();
    double el = (double)(now - r->t_step0) / 1e6;
    double dur = r->o.sc == SC_RAMP ? r->o.step_seconds : r->o.seconds;
    if (el >= dur)
        return step_stop(r);
    uint64_t due = (uint64_t)(s->rate * el);
    unsigned n = r->n_sess;
    unsigned guard = 0;
    while (s->sent < due && guard < n) {
        struct xc *x = r->sess[r->rr++ % n];
        if (x && x->state == XC_BOUND) {
            send_one(r, x);
            guard = 0;
        } else {
            guard++;
        }
    }
    loop_timer_start(l, t, TICK_MS, on_tick);
}

static void flat_timer(struct loop *l, struct timer *t)
{
    (void)l;
    (void)t;
    step_stop(&R);
}

static void step_start(struct run *r)
{
    struct step *s = &r->steps[r->cur];
    hist_init(&s->lat);
    s->seq0 = r->seq;
    s->srv0 = proc_read(r->o.pid);
    s->bench0_us = bench_cpu_us();
    s->mach0_us = machine_busy_us();
    r->t_step0 = xc_now_us();
    r->sending = true;
    double dur = r->o.sc == SC_RAMP ? r->o.step_seconds : r->o.seconds;
    if (s->rate > 0) {
        loop_timer_start(r->loop, &r->tick, TICK_MS, on_tick);
        return;
    }
    for (unsigned w = 0; w < r->o.window; w++)
        for (unsigned i = 0; i < r->n_sess; i++)
            if (r->sess[i] && r->sess[i]->state == XC_BOUND)
                send_one(r, r->sess[i]);
    loop_timer_start(r->loop, &r->phase, (uint64_t)(dur * 1000), flat_timer);
}

static void chat_settled(struct loop *l, struct timer *t)
{
    (void)l;
    (void)t;
    struct run *r = &R;
    r->cur = 0;
    r->steps[0].rate = r->o.rate;
    step_start(r);
}

static void chat_logged_in(struct run *r)
{
    if (r->bound == 0) {
        printf("no session could log in%s%s\n", r->first_fail ? ": " : "",
               r->first_fail ? r->first_fail : "");
        r->n_steps = 0;
        json_head(r);
        printf("\"error\":\"no session logged in\"}\n");
        end_run(r);
        return;
    }
    /* a session is bound for us once its presence is sent; let the server see that
       presence (on another worker, maybe) before messages to the bare JID follow */
    loop_timer_start(r->loop, &r->phase, SETTLE_MS / 4, chat_settled);
}

/* ---- main ---------------------------------------------------------------------------------- */

static const char usage[] =
    "usage: tern-bench [OPTIONS] login|idle|chat|ramp\n"
    "\n"
    "XMPP load generator: many client sessions in one process, against any server.\n"
    "\n"
    "target and accounts:\n"
    "  --host ADDR          server IPv4 address (127.0.0.1)\n"
    "  --port N             c2s port (5222)\n"
    "  --domain D           XMPP domain (localhost)\n"
    "  --prefix P           account names are P1, P2, ... (u)\n"
    "  --first N            first account number (1): sessions use N, N+1, ...\n"
    "  --password PW        every account's password (bench)\n"
    "  --mech M             SCRAM-SHA-1 (default), SCRAM-SHA-256 or PLAIN\n"
    "  --no-tls             plain text; the default is STARTTLS, certificate not checked\n"
    "  --sources N          spread source addresses over 127.0.0.1..127.0.0.N (1)\n"
    "  --concurrency N      logins in flight at once (100)\n"
    "scenarios:\n"
    "  --count N            login: total logins; idle: sessions held (1000)\n"
    "  --pairs N            chat, ramp: pairs of sessions exchanging messages (100)\n"
    "  --rate R             chat: total msgs/s, 0 flat out; ramp: first step's rate (1000)\n"
    "  --window N           flat out: messages in flight per session (1)\n"
    "  --seconds T          chat: sending time; idle: holding time (10)\n"
    "  --step T             ramp: seconds per step (5)\n"
    "  --factor F           ramp: rate multiplier per step (1.5)\n"
    "  --steps N            ramp: most steps (20)\n"
    "  --p99-limit MS       ramp: a step holds while p99 <= MS and nothing is lost (100)\n"
    "reporting:\n"
    "  --pid PID            the server's process: CPU and RSS from /proc/PID\n"
    "  --label NAME         server name in the JSON line (server)\n"
    "\n"
    "One session is one socket: sessions are capped at the descriptor limit (ulimit -n)\n"
    "less 64; a capped run says so. The last output line is a JSON object.\n";

static void flush_hook(struct loop *l, void *arg)
{
    (void)l;
    conn_flush_all(arg);
}

static int parse_mech(const char *s, enum xc_mech *m)
{
    if (strcasecmp(s, "SCRAM-SHA-1") == 0)
        *m = XC_SCRAM_SHA1;
    else if (strcasecmp(s, "SCRAM-SHA-256") == 0)
        *m = XC_SCRAM_SHA256;
    else if (strcasecmp(s, "PLAIN") == 0)
        *m = XC_PLAIN;
    else
        return -1;
    return 0;
}

static unsigned fd_cap(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1000;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur > FD_RESERVE + 1 ? (unsigned)(rl.rlim_cur - FD_RESERVE) : 1;
}

static int parse_args(struct opts *o, int argc, char **argv)
{
    enum {
        O_HOST = 256,
        O_PORT,
        O_DOMAIN,
        O_PREFIX,
        O_FIRST,
        O_PASSWORD,
        O_MECH,
        O_NOTLS,
        O_SOURCES,
        O_CONC,
        O_COUNT,
        O_PAIRS,
        O_RATE,
        O_WINDOW,
        O_SECONDS,
        O_STEP,
        O_FACTOR,
        O_STEPS,
        O_P99,
        O_PID,
        O_LABEL,
    };
    static const struct option lo[] = {
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"domain", required_argument, NULL, O_DOMAIN},
        {"prefix", required_argument, NULL, O_PREFIX},
        {"first", required_argument, NULL, O_FIRST},
        {"password", required_argument, NULL, O_PASSWORD},
        {"mech", required_argument, NULL, O_MECH},
        {"no-tls", no_argument, NULL, O_NOTLS},
        {"sources", required_argument, NULL, O_SOURCES},
        {"concurrency", required_argument, NULL, O_CONC},
        {"count", required_argument, NULL, O_COUNT},
        {"pairs", required_argument, NULL, O_PAIRS},
        {"rate", required_argument, NULL, O_RATE},
        {"window", required_argument, NULL, O_WINDOW},
        {"seconds", required_argument, NULL, O_SECONDS},
        {"step", required_argument, NULL, O_STEP},
        {"factor", required_argument, NULL, O_FACTOR},
        {"steps", required_argument, NULL, O_STEPS},
        {"p99-limit", required_argument, NULL, O_P99},
        {"pid", required_argument, NULL, O_PID},
        {"label", required_argument, NULL, O_LABEL},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    *o = (struct opts){
        .host = "127.0.0.1",
        .domain = "localhost",
        .prefix = "u",
        .password = "bench",
        .label = "server",
        .port = 5222,
        .first = 1,
        .count = 1000,
        .pairs = 100,
        .concurrency = 100,
        .window = 1,
        .sources = 1,
        .steps = 20,
        .rate = 1000,
        .seconds = 10,
        .step_seconds = 5,
        .factor = 1.5,
        .p99_limit_ms = 100,
        .tls = true,
        .mech = XC_SCRAM_SHA1,
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_HOST:
            o->host = optarg;
            break;
        case O_PORT:
            o->port = (unsigned)atoi(optarg);
            break;
        case O_DOMAIN:
            o->domain = optarg;
            break;
        case O_PREFIX:
            o->prefix = optarg;
            break;
        case O_FIRST:
            o->first = (unsigned)atoi(optarg);
            break;
        case O_PASSWORD:
            o->password = optarg;
            break;
        case O_MECH:
            if (parse_mech(optarg, &o->mech) != 0) {
                fprintf(stderr, "tern-bench: unknown mechanism %s\n", optarg);
                return -1;
            }
            break;
        case O_NOTLS:
            o->tls = false;
            break;
        case O_SOURCES:
            o->sources = (unsigned)atoi(optarg);
            break;
        case O_CONC:
            o->concurrency = (unsigned)atoi(optarg);
            break;
        case O_COUNT:
            o->count = (unsigned)atoi(optarg);
            break;
        case O_PAIRS:
            o->pairs = (unsigned)atoi(optarg);
            break;
        case O_RATE:
            o->rate = atof(optarg);
            break;
        case O_WINDOW:
            o->window = (unsigned)atoi(optarg);
            break;
        case O_SECONDS:
            o->seconds = atof(optarg);
            break;
        case O_STEP:
            o->step_seconds = atof(optarg);
            break;
        case O_FACTOR:
            o->factor = atof(optarg);
            break;
        case O_STEPS:
            o->steps = (unsigned)atoi(optarg);
            break;
        case O_P99:
            o->p99_limit_ms = atof(optarg);
            break;
        case O_PID:
            o->pid = (pid_t)atoi(optarg);
            break;
        case O_LABEL:
            o->label = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            exit(0);
        default:
            return -1;
        }
    }
    if (optind + 1 != argc) {
        fputs(usage, stderr);
        return -1;
    }
    bool found = false;
    for (unsigned i = 0; i < sizeof(sc_names) / sizeof(sc_names[0]); i++)
        if (strcmp(argv[optind], sc_names[i]) == 0) {
            o->sc = (enum scenario)i;
            found = true;
        }
    if (strcmp(argv[optind], "msg") == 0) {
        o->sc = SC_CHAT;
        found = true;
    }
    if (!found) {
        fprintf(stderr, "tern-bench: unknown scenario %s\n", argv[optind]);
        return -1;
    }
    if (!o->concurrency || !o->count || !o->pairs || !o->window || o->seconds <= 0 ||
        o->step_seconds <= 0 || o->factor <= 1 || o->rate < 0 || !o->sources || o->sources > 254 ||
        (o->sc == SC_RAMP && o->rate <= 0)) {
        fprintf(stderr, "tern-bench: an option is out of range (see --help)\n");
        return -1;
    }
    return 0;
}

/* Runs from the loop (a timer), so that the before-sleep hook flushes what it queues. */
static void begin(struct loop *l, struct timer *t)
{
    (void)l;
    (void)t;
    struct run *r = &R;
    switch (r->o.sc) {
    case SC_LOGIN:
        r->n_sess = r->o.count;
        r->sess = xcalloc(r->n_sess, sizeof(*r->sess));
        login_phase(r, r->o.count, login_done);
        break;
    case SC_IDLE:
        r->n_sess = r->o.count;
        r->sess = xcalloc(r->n_sess, sizeof(*r->sess));
        r->srv_rss0 = proc_read(r->o.pid);
        login_phase(r, r->o.count, idle_logged_in);
        break;
    case SC_CHAT:
    case SC_RAMP:
        r->n_sess = 2 * r->o.pairs;
        r->sess = xcalloc(r->n_sess, sizeof(*r->sess));
        login_phase(r, r->n_sess, chat_logged_in);
        break;
    }
}

int main(int argc, char **argv)
{
    struct run *r = &R;
    if (parse_args(&r->o, argc, argv) != 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_ERROR);

    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(r->o.host, NULL, &hints, &ai) != 0 || !ai) {
        fprintf(stderr, "tern-bench: cannot resolve %s\n", r->o.host);
        return 1;
    }
    memcpy(&r->dst, ai->ai_addr, sizeof(r->dst));
    r->dst.sin_port = htons((uint16_t)r->o.port);
    freeaddrinfo(ai);

    unsigned want = r->o.sc == SC_LOGIN  ? r->o.concurrency
                    : r->o.sc == SC_IDLE ? r->o.count
                                         : 2 * r->o.pairs;
    unsigned cap = fd_cap();
    if (want > cap) {
        printf("note           %u sessions asked, capped at %u by the descriptor limit\n", want,
               cap);
        r->capped_from = want;
        if (r->o.sc == SC_LOGIN)
            r->o.concurrency = cap;
        else if (r->o.sc == SC_IDLE)
            r->o.count = cap;
        else
            r->o.pairs = cap / 2;
    }

    r->loop = loop_new();
    r->cctx = xcalloc(1, sizeof(*r->cctx));
    r->cctx->loop = r->loop;
    r->cctx->out_max = 64u << 20;
    list_init(&r->cctx->dirty);
    if (r->o.tls && !(r->cctx->ssl_ctx = xc_tls_ctx())) {
        fprintf(stderr, "tern-bench: no TLS context\n");
        return 1;
    }
    loop_set_hook(r->loop, flush_hook, r->cctx);
    r->env = (struct xc_env){
        .loop = r->loop,
        .cctx = r->cctx,
        .dst = &r->dst,
        .n_sources = r->o.sources,
        .domain = r->o.domain,
        .prefix = r->o.prefix,
        .password = r->o.password,
        .resource = "bench",
        .mech = r->o.mech,
        .tls = r->o.tls,
        .ops = &ops,
    };
    rand_bytes(&r->runid, sizeof(r->runid));
    r->runid &= 0x7fffffffu;
    hist_init(&r->login_lat);

    printf("tern-bench     %s against %s:%u (%s), %s, %s\n", sc_names[r->o.sc], r->o.host,
           r->o.port, r->o.label, r->o.tls ? "STARTTLS" : "no TLS", xc_mech_name(r->o.mech));
    loop_timer_start(r->loop, &r->phase, 0, begin);
    loop_run(r->loop);
    fflush(stdout);

    int rc = r->bound == 0 || r->failed ? 2 : 0;
    for (unsigned i = 0; i < r->n_sess; i++)
        if (r->sess[i])
            conn_abort(r->sess[i]->conn);
    free(r->sess);
    if (r->cctx->ssl_ctx)
        SSL_CTX_free(r->cctx->ssl_ctx);
    free(r->cctx);
    loop_free(r->loop);
    return rc;
}
