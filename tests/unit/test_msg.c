/*
 * Unit tests for what the message modules share (xmpp/mod/msg.h): how a
 * message is classified for storing and copying, XEP-0082 timestamps, and
 * the delay stamp added to offline messages.
 */
#include "core/arena.h"
#include "core/chunk.h"
#include "core/log.h"
#include "xmpp/mod/msg.h"
#include "tap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

static struct arena a;

/* A message of type (NULL: none) with children (ns, name) pairs, NULL-terminated. */
static struct xml_node *msg(const char *type, ...)
{
    struct xml_node *m = xml_elem_new(&a, XML_NS_CLIENT, "message");
    if (type)
        xml_set_attr(&a, m, "type", type);
    va_list ap;
    va_start(ap, type);
    const char *ns;
    while ((ns = va_arg(ap, const char *)) != NULL)
        xml_add_child(&a, m, ns, va_arg(ap, const char *));
    va_end(ap);
    return m;
}

static void test_classify(void)
{
    struct msg_info i;
    msg_classify(msg("chat", XML_NS_CLIENT, "body", NULL), &i);
    ok(i.type == MSG_CHAT && i.body && !i.state_only, "chat with body");
    ok(msg_offline_ok(&i) && msg_archive_ok(&i) && msg_carbon_ok(&i), "stored, archived, copied");

    msg_classify(msg(NULL, XML_NS_CLIENT, "body", NULL), &i);
    ok(i.type == MSG_NORMAL && msg_archive_ok(&i) && msg_carbon_ok(&i), "normal with body");
    msg_classify(msg("weird", XML_NS_CLIENT, "body", NULL), &i);
    ok(i.type == MSG_NORMAL, "an unknown type is normal");

    msg_classify(msg("chat", NS_CHATSTATES, "composing", XML_NS_CLIENT, "thread", NULL), &i);
    ok(i.state_only, "a chat state (with a thread) is only a chat state");
    ok(!msg_offline_ok(&i) && !msg_archive_ok(&i), "not stored, not archived");
    ok(msg_carbon_ok(&i), "but copied (type chat)");
    msg_classify(msg("chat", NS_CHATSTATES, "active", XML_NS_CLIENT, "body", NULL), &i);
    ok(!i.state_only, "a chat state with a body is a message");

    msg_classify(msg("chat", XML_NS_CLIENT, "body", NS_HINTS, "no-store", NULL), &i);
    ok(!msg_offline_ok(&i) && !msg_archive_ok(&i), "no-store");
    msg_classify(msg("chat", XML_NS_CLIENT, "body", NS_HINTS, "no-permanent-store", NULL), &i);
    ok(msg_offline_ok(&i) && !msg_archive_ok(&i), "no-permanent-store: offline only");
    msg_classify(msg("chat", NS_HINTS, "store", NULL), &i);
    ok(msg_offline_ok(&i) && msg_archive_ok(&i), "store without a body");
    msg_classify(msg("chat", XML_NS_CLIENT, "body", NS_HINTS, "no-copy", NULL), &i);
    ok(!msg_carbon_ok(&i) && msg_archive_ok(&i), "no-copy");
    msg_classify(msg("chat", XML_NS_CLIENT, "body", NS_CARBONS, "private", NULL), &i);
    ok(!msg_carbon_ok(&i), "private");

    msg_classify(msg(NULL, "urn:xmpp:receipts", "received", NULL), &i);
    ok(i.receipt && msg_carbon_ok(&i) && !msg_archive_ok(&i), "receipt: copied, not archived");
    msg_classify(msg(NULL, "urn:xmpp:message-retract:1", "retract", NULL), &i);
    ok(msg_archive_ok(&i) && msg_offline_ok(&i), "a retraction is kept");
    msg_classify(msg("chat", "urn:xmpp:reactions:0", "reactions", NULL), &i);
    ok(msg_archive_ok(&i), "a reaction is kept");
    msg_classify(msg("chat", NS_SID, "origin-id", NS_CHATSTATES, "paused", NULL), &i);
    ok(i.state_only, "an origin-id does not make it more than a chat state");

    const char *types[] = {"headline", "groupchat", "error"};
    for (size_t k = 0; k < 3; k++) {
        msg_classify(msg(types[k], XML_NS_CLIENT, "body", NS_HINTS, "store", NULL), &i);
        ok(!msg_offline_ok(&i) && !msg_archive_ok(&i) && !msg_carbon_ok(&i), "%s: none", types[k]);
    }
}

static void test_stamps(void)
{
    char s[40];
    msg_stamp(0, s, sizeof(s));
    is_str(s, "1970-01-01T00:00:00.000000Z", "epoch");
    msg_stamp(1700000000123456, s, sizeof(s));
    is_str(s, "2023-11-14T22:13:20.123456Z", "microseconds");
    int64_t us;
    is_int(msg_parse_stamp("2023-11-14T22:13:20.123456Z", &us), 0, "parse");
    ok(us == 1700000000123456, "round trip");
    is_int(msg_parse_stamp("2023-11-14T22:13:20Z", &us), 0, "no fraction");
    ok(us == 1700000000000000, "whole seconds");
    is_int(msg_parse_stamp("2023-11-14T23:13:20.5+01:00", &us), 0, "offset");
    ok(us == 1700000000500000, "offset applied, short fraction scaled");
    is_int(msg_parse_stamp("2023-11-14T21:13:20.1234567-01:00", &us), 0, "long fraction");
    ok(us == 1700000000123456, "extra digits dropped");
    const char *bad[] = {"",
                         "yesterday",
                         "2023-11-14",
                         "2023-11-14T22:13:20",
                         "2023-13-14T22:13:20Z",
                         "2023-11-14T22:13:20.Z",
                         "2023-11-14T22:13:20Zjunk",
                         "2023-11-14T22:13:20+0100"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        is_int(msg_parse_stamp(bad[i], &us), -EINVAL, "bad: \"%s\"", bad[i]);
}

static void test_delay(void)
{
    struct chunk *c = offline_with_delay("<message><body>x</body></message>", "d.example", 0);
    is_str(c->data,
           "<message><body>x</body><delay xmlns=\"urn:xmpp:delay\" from=\"d.example\" "
           "stamp=\"1970-01-01T00:00:00.000000Z\">Offline storage</delay></message>",
           "delay appended as the last child");
    struct chunk *again = offline_with_delay(c->data, "d.example", 1000000);
    is_str(again->data, c->data, "stored again: the first stamp stays");
    chunk_unref(again);
    chunk_unref(c);
    c = offline_with_delay("<message to=\"a@b\"/>", "d", 0);
    is_str(c->data,
           "<message to=\"a@b\"><delay xmlns=\"urn:xmpp:delay\" from=\"d\" "
           "stamp=\"1970-01-01T00:00:00.000000Z\">Offline storage</delay></message>",
           "an empty message gets a body for the delay");
    chunk_unref(c);
    c = offline_with_delay("<message><delay xmlns=\"urn:xmpp:delay\" from=\"dx\"/></message>", "d",
                           0);
    ok(strstr(c->data, "from=\"d\"") != NULL, "another server's delay does not count");
    chunk_unref(c);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    arena_init(&a);
    test_classify();
    test_stamps();
    test_delay();
    arena_fini(&a);
    return tap_done();
}
