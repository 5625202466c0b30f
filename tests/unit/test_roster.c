/*
 * Unit tests for the subscription state machine of the roster module
 * (xmpp/mod/roster.h) against the tables of RFC 6121 Appendix A, plus
 * pre-approval (§3.4). States are written as in the RFC's tables: N, T, F,
 * B for none/to/from/both, then +PO (pending out), +PI (pending in), +POI
 * (both pending), and +A for pre-approved.
 */
#include "store/store_roster.h"
#include "xmpp/mod/roster.h"
#include "tap.h"

#include <string.h>

static struct roster_state parse(const char *s)
{
    struct roster_state st = {0};
    st.sub = s[0] == 'T' ? STORE_SUB_TO : s[0] == 'F' ? STORE_SUB_FROM : s[0] == 'B' ? 3 : 0;
    st.ask_out = strstr(s, "+PO") != NULL;
    st.ask_in = strstr(s, "+PI") != NULL || strstr(s, "+POI") != NULL;
    st.preapproved = strstr(s, "+A") != NULL;
    return st;
}

static const char *name(const struct roster_state *st, char *out)
{
    static const char subs[] = "NTFB";
    out[0] = subs[st->sub & 3];
    out[1] = '\0';
    if (st->ask_out && st->ask_in)
        strcat(out, "+POI");
    else if (st->ask_out)
        strcat(out, "+PO");
    else if (st->ask_in)
        strcat(out, "+PI");
    if (st->preapproved)
        strcat(out, "+A");
    return out;
}

struct row {
    const char *from, *to;
    unsigned bits; /* ROSTER_ROUTE / DELIVER / AUTOREPLY; CHANGED is derived */
};

static const char *const type_names[] = {"subscribe", "subscribed", "unsubscribe", "unsubscribed"};

static void check(bool inbound, enum roster_type t, const struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct roster_state st = parse(rows[i].from), want = parse(rows[i].to);
        unsigned bits = inbound ? roster_inbound(&st, t) : roster_outbound(&st, t);
        char got_s[16], want_s[16];
        unsigned want_bits = rows[i].bits;
        if (memcmp(&st, &want, sizeof(st)) != 0 || strcmp(rows[i].from, rows[i].to) != 0)
            want_bits |= ROSTER_CHANGED;
        if (!ok(memcmp(&st, &want, sizeof(st)) == 0 && bits == want_bits, "%s %s in %s -> %s",
                inbound ? "inbound" : "outbound", type_names[t], rows[i].from, rows[i].to))
            printf("#   got %s bits %#x, want %s bits %#x\n", name(&st, got_s), bits,
                   name(&want, want_s), want_bits);
    }
}

#define R                  ROSTER_ROUTE
#define D                  ROSTER_DELIVER
#define AR                 ROSTER_AUTOREPLY
#define CHECK(in, t, rows) check(in, t, rows, sizeof(rows) / sizeof(rows[0]))

static void test_outbound(void)
{
    static const struct row subscribe[] = {
        {"N", "N+PO", R},      {"N+PO", "N+PO", R}, {"N+PI", "N+POI", R},
        {"N+POI", "N+POI", R}, {"T", "T", R},       {"T+PI", "T+PI", R},
        {"F", "F+PO", R},      {"F+PO", "F+PO", R}, {"B", "B", R},
    };
    CHECK(false, ROSTER_SUBSCRIBE, subscribe);
    static const struct row subscribed[] = {
        {"N", "N+A", 0}, {"N+PO", "N+PO+A", 0}, {"N+PI", "F", R},   {"N+POI", "F+PO", R},
        {"T", "T+A", 0}, {"T+PI", "B", R},      {"F", "F", 0},      {"F+PO", "F+PO", 0},
        {"B", "B", 0},   {"N+A", "N+A", 0},     {"N+PI+A", "F", R},
    };
    CHECK(false, ROSTER_SUBSCRIBED, subscribed);
    static const struct row unsubscribe[] = {
        {"N", "N", R},        {"N+PO", "N", R}, {"N+PI", "N+PI", R},
        {"N+POI", "N+PI", R}, {"T", "N", R},    {"T+PI", "N+PI", R},
        {"F", "F", R},        {"F+PO", "F", R}, {"B", "F", R},
    };
    CHECK(false, ROSTER_UNSUBSCRIBE, unsubscribe);
    static const struct row unsubscribed[] = {
        {"N", "N", 0}, {"N+PO", "N+PO", 0}, {"N+PI", "N", R}, {"N+POI", "N+PO", R},
        {"T", "T", 0}, {"T+PI", "T", R},    {"F", "N", R},    {"F+PO", "N+PO", R},
        {"B", "T", R}, {"N+A", "N", 0},     {"T+A", "T", 0},
    };
    CHECK(false, ROSTER_UNSUBSCRIBED, unsubscribed);
}

static void test_inbound(void)
{
    static const struct row subscribe[] = {
        {"N", "N+PI", D}, {"N+PO", "N+POI", D}, {"N+PI", "N+PI", 0}, {"N+POI", "N+POI", 0},
        {"T", "T+PI", D}, {"T+PI", "T+PI", 0},  {"F", "F", AR},      {"F+PO", "F+PO", AR},
        {"B", "B", AR},   {"N+A", "F", AR},     {"T+A", "B", AR},    {"N+PO+A", "F+PO", AR},
    };
    CHECK(true, ROSTER_SUBSCRIBE, subscribe);
    static const struct row subscribed[] = {
        {"N", "N", 0},        {"N+PO", "T", D}, {"N+PI", "N+PI", 0},
        {"N+POI", "T+PI", D}, {"T", "T", 0},    {"T+PI", "T+PI", 0},
        {"F", "F", 0},        {"F+PO", "B", D}, {"B", "B", 0},
    };
    CHECK(true, ROSTER_SUBSCRIBED, subscribed);
    static const struct row unsubscribe[] = {
        {"N", "N", 0},        {"N+PO", "N+PO", 0}, {"N+PI", "N", D},
        {"N+POI", "N+PO", D}, {"T", "T", 0},       {"T+PI", "T", D},
        {"F", "N", D},        {"F+PO", "N+PO", D}, {"B", "T", D},
    };
    CHECK(true, ROSTER_UNSUBSCRIBE, unsubscribe);
    static const struct row unsubscribed[] = {
        {"N", "N", 0},        {"N+PO", "N", D}, {"N+PI", "N+PI", 0},
        {"N+POI", "N+PI", D}, {"T", "N", D},    {"T+PI", "N+PI", D},
        {"F", "F", 0},        {"F+PO", "F", D}, {"B", "F", D},
    };
    CHECK(true, ROSTER_UNSUBSCRIBED, unsubscribed);
}

static void test_type_parse(void)
{
    enum roster_type t;
    ok(roster_type_parse("subscribe", &t) && t == ROSTER_SUBSCRIBE, "subscribe");
    ok(roster_type_parse("unsubscribed", &t) && t == ROSTER_UNSUBSCRIBED, "unsubscribed");
    ok(!roster_type_parse("probe", &t), "probe is not a subscription type");
    ok(!roster_type_parse("Subscribe", &t), "case matters");
    ok(!roster_type_parse(NULL, &t), "no type");
}

int main(void)
{
    test_outbound();
    test_inbound();
    test_type_parse();
    return tap_done();
}
