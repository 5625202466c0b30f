/*
 * disco: XEP-0030 Service Discovery for the server and for accounts.
 * For the server, disco#info lists an identity and every feature modules
 * registered; disco#items is empty until components (MUC, upload) exist,
 * and queries with a node are answered item-not-found. An account's bare
 * JID (own or another local account's) is a PEP service: the PEP module
 * answers for it (identities, account features, the nodes the asker may see).
 */
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/mod/modules.h"
#include "xmpp/mod/pep.h"
#include "xmpp/stanza.h"

#include <string.h>

#define NS_INFO  "http://jabber.org/protocol/disco#info"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"

struct add_ctx {
    struct arena *a;
    struct xml_node *query;
};

static void add_feature(void *arg, const char *var)
{
    struct add_ctx *c = arg;
    struct xml_node *f = xml_add_child(c->a, c->query, NS_INFO, "feature");
    xml_set_attr(c->a, f, "var", var);
}

static bool answer_node(struct mod_iq *q)
{
    if (!xml_attr(q->payload, "node"))
        return false;
    c2s_send_node(q->s, stanza_error(q->a, q->iq, "cancel", "item-not-found"));
    return true;
}

static void disco_info(struct mod_iq *q)
{
    if (strcmp(xml_attr(q->iq, "type"), "get") != 0) {
        c2s_send_node(q->s, stanza_error(q->a, q->iq, "cancel", "feature-not-implemented"));
        return;
    }
    if (q->to_account) {
        pep_disco_info(q);
        return;
    }
    if (answer_node(q))
        return;
    struct xml_node *r = stanza_result(q->a, q->iq);
    struct xml_node *query = xml_add_child(q->a, r, NS_INFO, "query");
    struct xml_node *id = xml_add_child(q->a, query, NS_INFO, "identity");
    xml_set_attr(q->a, id, "category", "server");
    xml_set_attr(q->a, id, "type", "im");
    xml_set_attr(q->a, id, "name", "tern");
    struct add_ctx c = {q->a, query};
    mod_features_each(MOD_SERVER, add_feature, &c);
    c2s_send_node(q->s, r);
}

static void disco_items(struct mod_iq *q)
{
    if (strcmp(xml_attr(q->iq, "type"), "get") != 0) {
        c2s_send_node(q->s, stanza_error(q->a, q->iq, "cancel", "feature-not-implemented"));
        return;
    }
    if (q->to_account) {
        pep_disco_items(q);
        return;
    }
    if (answer_node(q))
        return;
    struct xml_node *r = stanza_result(q->a, q->iq);
    xml_add_child(q->a, r, NS_ITEMS, "query");
    c2s_send_node(q->s, r);
}

void mod_disco_init(void)
{
    mod_iq_register(NS_INFO, MOD_BOTH | MOD_PEER, disco_info);
    mod_iq_register(NS_ITEMS, MOD_BOTH | MOD_PEER, disco_items);
    mod_feature(NS_INFO, MOD_BOTH);
    mod_feature(NS_ITEMS, MOD_BOTH);
}
