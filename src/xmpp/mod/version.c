/*
 * version: XEP-0092 Software Version for the server. The operating system
 * is not disclosed (it only helps an attacker).
 */
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/mod/modules.h"
#include "xmpp/stanza.h"

#include <string.h>

#define NS_VERSION "jabber:iq:version"
#ifndef TERN_VERSION
#define TERN_VERSION "0.1.0"
#endif

static void version(struct mod_iq *q)
{
    if (strcmp(xml_attr(q->iq, "type"), "get") != 0) {
        c2s_send_node(q->s, stanza_error(q->a, q->iq, "cancel", "bad-request"));
        return;
    }
    struct xml_node *r = stanza_result(q->a, q->iq);
    struct xml_node *query = xml_add_child(q->a, r, NS_VERSION, "query");
    xml_add_text(q->a, xml_add_child(q->a, query, NS_VERSION, "name"), "tern", 4);
    xml_add_text(q->a, xml_add_child(q->a, query, NS_VERSION, "version"), TERN_VERSION,
                 strlen(TERN_VERSION));
    c2s_send_node(q->s, r);
}

void mod_version_init(void)
{
    mod_iq_register(NS_VERSION, MOD_SERVER, version);
    mod_feature(NS_VERSION, MOD_SERVER);
}
