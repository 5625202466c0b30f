/*
 * ping: XEP-0199 answers to client pings (server and own account). The
 * server's own pings of idle clients are sent by c2s.c, which owns the
 * idle timer.
 */
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/mod/modules.h"
#include "xmpp/stanza.h"

#include <string.h>

#define NS_PING "urn:xmpp:ping"

static void ping(struct mod_iq *q)
{
    if (strcmp(xml_attr(q->iq, "type"), "get") != 0) {
        c2s_send_node(q->s, stanza_error(q->a, q->iq, "cancel", "bad-request"));
        return;
    }
    c2s_send_node(q->s, stanza_result(q->a, q->iq));
}

void mod_ping_init(void)
{
    mod_iq_register(NS_PING, MOD_BOTH, ping);
    mod_feature(NS_PING, MOD_SERVER);
}
