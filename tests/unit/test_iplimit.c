/*
 * Unit tests for xmpp/iplimit: connections per address, new connections per minute, the
 * unauthenticated cap, the growing delay after failed logins.
 */
#include "tap.h"
#include "xmpp/iplimit.h"

#include <stdio.h>

static void test_conns_per_ip(void)
{
    struct iplimit *il = iplimit_new(3, 0, 0);
    int n = 0;
    while (n < 10 && iplimit_conn_open_at(il, "10.0.0.1", 1000) == IPLIMIT_OK)
        n++;
    is_int(n, 3, "three connections from one address");
    is_int(iplimit_conn_open_at(il, "10.0.0.1", 1000), IPLIMIT_TOO_MANY, "the fourth: too many");
    ok(iplimit_conn_open(il, "10.0.0.2"), "another address is not affected");
    iplimit_conn_close(il, "10.0.0.1");
    is_int(iplimit_conn_open_at(il, "10.0.0.1", 1000), IPLIMIT_OK, "room again after a close");
    iplimit_conn_close(il, "10.9.9.9"); /* unknown: harmless */
    ok(iplimit_verdict_str(IPLIMIT_TOO_MANY)[0] != '\0', "verdicts have text");
    iplimit_free(il);
    iplimit_free(NULL);
}

static void test_conn_rate(void)
{
    struct iplimit *il = iplimit_new(1000, 10, 0); /* 10 per minute */
    int n = 0;
    uint64_t t = 5000;
    enum iplimit_verdict v = IPLIMIT_OK;
    while (n < 100 && (v = iplimit_conn_open_at(il, "10.0.0.1", t)) == IPLIMIT_OK) {
        iplimit_conn_close(il, "10.0.0.1"); /* open and close at once, as a scanner does */
        n++;
    }
    is_int(n, 10, "a minute's worth at once, even when each one closes at once");
    is_int(v, IPLIMIT_TOO_FAST, "then: too fast");
    is_int(iplimit_conn_open_at(il, "10.0.0.1", t + 5999), IPLIMIT_TOO_FAST, "not before 6 s");
    is_int(iplimit_conn_open_at(il, "10.0.0.1", t + 6000), IPLIMIT_OK, "one more after 6 s");
    is_int(iplimit_conn_open_at(il, "10.0.0.2", t), IPLIMIT_OK, "other addresses unaffected");
    /* many other addresses come and go: the limited one is not forgotten by pruning */
    char ip[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(ip, sizeof(ip), "192.168.%d.%d", i / 250, i % 250);
        iplimit_conn_open_at(il, ip, t + 6000);
        iplimit_conn_close(il, ip);
    }
    is_int(iplimit_conn_open_at(il, "10.0.0.1", t + 6001), IPLIMIT_TOO_FAST,
           "still limited after 20000 other addresses");
    iplimit_free(il);

    il = iplimit_new(1000, 0, 0);
    n = 0;
    while (n < 5000 && iplimit_conn_open_at(il, "10.0.0.1", 1) == IPLIMIT_OK) {
        iplimit_conn_close(il, "10.0.0.1");
        n++;
    }
    is_int(n, 5000, "conn_rate 0: no rate limit");
    iplimit_free(il);
}

static void test_unauth(void)
{
    struct iplimit *il = iplimit_new(10, 0, 3);
    ok(iplimit_unauth_enter(il) && iplimit_unauth_enter(il) && iplimit_unauth_enter(il),
       "three unauthenticated");
    ok(!iplimit_unauth_enter(il), "the fourth is refused");
    is_int(iplimit_unauth_count(il), 3, "count 3");
    iplimit_unauth_leave(il);
    ok(iplimit_unauth_enter(il), "one authenticated: room for another");
    for (int i = 0; i < 10; i++)
        iplimit_unauth_leave(il);
    is_int(iplimit_unauth_count(il), 0, "never below zero");
    iplimit_free(il);
}

static void test_auth_delay(void)
{
    struct iplimit *il = iplimit_new(10, 0, 0);
    uint64_t t = 1000000;
    is_int(iplimit_auth_fail(il, "10.0.0.1", t), 250, "first failure: 250 ms");
    is_int(iplimit_auth_fail(il, "10.0.0.1", t), 500, "second: 500 ms");
    is_int(iplimit_auth_fail(il, "10.0.0.1", t), 1000, "third: 1 s");
    for (int i = 0; i < 20; i++)
        iplimit_auth_fail(il, "10.0.0.1", t);
    is_int(iplimit_auth_fail(il, "10.0.0.1", t), 10000, "capped at 10 s");
    is_int(iplimit_auth_fail(il, "10.0.0.2", t), 250, "another address starts at 250 ms");
    is_int(iplimit_auth_fail(il, "10.0.0.1", t + 600000), 250, "10 quiet minutes: reset");
    iplimit_auth_ok(il, "10.0.0.1");
    is_int(iplimit_auth_fail(il, "10.0.0.1", t + 600001), 250, "a success forgets failures");
    iplimit_free(il);
}

int main(void)
{
    test_conns_per_ip();
    test_conn_rate();
    test_unauth();
    test_auth_delay();
    return tap_done();
}
