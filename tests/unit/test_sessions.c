/*
 * Unit tests for the session registry (xmpp/sessions.h): binding, presence
 * and flags, and the last available presence kept per resource (its
 * references are checked by counting, and by ASan's leak check at exit).
 */
#include "core/chunk.h"
#include "xmpp/sessions.h"
#include "tap.h"

#include <errno.h>
#include <string.h>

static struct jid j(const char *s)
{
    struct jid out;
    if (jid_parse(&out, s, strlen(s)) < 0)
        memset(&out, 0, sizeof(out));
    return out;
}

static struct sess_addr addr(unsigned worker, uint64_t conn)
{
    struct sess_addr a = {.worker = worker, .conn_id = conn};
    return a;
}

static void test_bind_and_list(void)
{
    struct sessions *s = sessions_new();
    struct sess_addr old, got, list[4];
    struct jid a1 = j("a@x/one"), a2 = j("a@x/two"), bare = j("a@x");
    is_int(sessions_bind(s, &a1, &(struct sess_addr){.worker = 1, .conn_id = 10}, &old), 0, "bind");
    is_int(sessions_bind(s, &a2, &(struct sess_addr){.worker = 0, .conn_id = 11}, &old), 0,
           "bind a second resource");
    ok(sessions_get(s, &a1, &got) && got.conn_id == 10 && got.worker == 1, "get");
    is_str(got.resource, "one", "resource copied");
    is_int(sessions_list(s, &bare, list, 4), 2, "two resources");
    is_int(sessions_list(s, &bare, list, 1), 2, "total even when max is smaller");
    struct sess_addr again = addr(1, 12);
    is_int(sessions_bind(s, &a1, &again, &old), 1, "same full JID: replaced");
    is_int(old.conn_id, 10, "old address handed back");
    sessions_set_presence(s, &a1, 10, true, 5);
    ok(sessions_get(s, &a1, &got) && !got.available, "a stale conn id changes nothing");
    sessions_set_presence(s, &a1, 12, true, 5);
    ok(sessions_get(s, &a1, &got) && got.available && got.priority == 5, "presence recorded");
    sessions_set_flags(s, &a1, 12, SESS_F_ROSTER, SESS_F_ROSTER);
    ok(sessions_get(s, &a1, &got) && got.flags == SESS_F_ROSTER, "flag set");
    sessions_set_flags(s, &a1, 12, SESS_F_ROSTER, 0);
    ok(sessions_get(s, &a1, &got) && got.flags == 0, "flag cleared");
    sessions_unbind(s, &a1, 10);
    ok(sessions_get(s, &a1, &got), "unbind with a stale conn id keeps it");
    sessions_unbind(s, &a1, 12);
    ok(!sessions_get(s, &a1, &got), "unbound");
    sessions_unbind(s, &a2, 11);
    is_int(sessions_list(s, &bare, list, 4), 0, "account gone");
    sessions_free(s);
    sessions_free(NULL);
}

static void test_too_many(void)
{
    struct sessions *s = sessions_new();
    struct sess_addr old;
    char buf[64];
    int rc = 0;
    for (int i = 0; i < SESS_MAX_RESOURCES && rc == 0; i++) {
        snprintf(buf, sizeof(buf), "m@x/r%d", i);
        struct jid r = j(buf);
        rc = sessions_bind(s, &r, &(struct sess_addr){.conn_id = (uint64_t)i + 1}, &old);
    }
    is_int(rc, 0, "up to the cap");
    struct jid extra = j("m@x/extra");
    is_int(sessions_bind(s, &extra, &(struct sess_addr){.conn_id = 999}, &old), -ENOSPC,
           "one more is refused");
    sessions_free(s);
}

static void test_last_presence(void)
{
    struct sessions *s = sessions_new();
    struct sess_addr old;
    struct jid b1 = j("b@x/one"), b2 = j("b@x/two"), bare = j("b@x");
    sessions_bind(s, &b1, &(struct sess_addr){.conn_id = 1}, &old);
    sessions_bind(s, &b2, &(struct sess_addr){.conn_id = 2}, &old);
    struct sess_presence out[4];
    is_int(sessions_presences(s, &bare, out, 4), 0, "nobody available yet");

    struct chunk *p1 = chunk_new("<presence from='b@x/one'/>", 26);
    struct chunk *p2 = chunk_new("<presence from='b@x/two'/>", 26);
    sessions_set_last(s, &b1, 1, p1);
    is_int(sessions_presences(s, &bare, out, 4), 0,
           "a presence without availability is not listed");
    sessions_set_presence(s, &b1, 1, true, 0);
    sessions_set_presence(s, &b2, 2, true, 0);
    is_int(sessions_presences(s, &bare, out, 4), 1, "available without a presence is not listed");
    ok(out[0].presence == p1 && out[0].addr.conn_id == 1, "the recorded one");
    is_int(atomic_load(&p1->refs), 3, "caller, registry and the copy hold references");
    chunk_unref(out[0].presence);

    sessions_set_last(s, &b2, 99, p2);
    is_int(atomic_load(&p2->refs), 1, "a stale conn id takes no reference");
    sessions_set_last(s, &b2, 2, p2);
    is_int(atomic_load(&p2->refs), 2, "recorded");
    is_int(sessions_presences(s, &bare, out, 1), 2, "total of two");
    ok(out[0].presence != NULL, "only max filled");
    chunk_unref(out[0].presence);

    sessions_set_last(s, &b1, 1, p2);
    is_int(atomic_load(&p1->refs), 1, "replaced: the old one dropped");
    is_int(atomic_load(&p2->refs), 3, "the new one held twice");
    sessions_set_last(s, &b1, 1, NULL);
    is_int(atomic_load(&p2->refs), 2, "forgotten");

    /* a new session binding the same resource starts without a presence */
    sessions_bind(s, &b2, &(struct sess_addr){.conn_id = 3, .available = true}, &old);
    is_int(atomic_load(&p2->refs), 1, "rebinding drops the old session's presence");
    is_int(sessions_presences(s, &bare, out, 4), 0, "nothing recorded for the new one");

    sessions_set_last(s, &b1, 1, p1);
    sessions_set_presence(s, &b1, 1, true, 0);
    sessions_unbind(s, &b1, 1);
    is_int(atomic_load(&p1->refs), 1, "unbinding drops it");
    sessions_set_last(s, &b2, 3, p1);
    sessions_free(s);
    is_int(atomic_load(&p1->refs), 1, "freeing the registry drops it");
    chunk_unref(p1);
    chunk_unref(p2);
}

int main(void)
{
    test_bind_and_list();
    test_too_many();
    test_last_presence();
    return tap_done();
}
