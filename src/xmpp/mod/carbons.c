/*
 * carbons: XEP-0280 Message Carbons (urn:xmpp:carbons:2). A session turns
 * copies on or off with <enable/> / <disable/>, which sets SESS_F_CARBONS
 * in its registry entry; message.c then calls carbons_copy() for each
 * eligible message (msg_carbon_ok: chat, normal with a body or a receipt,
 * never <private/> or <no-copy/>): "received" copies to the recipient's
 * enabled resources that did not get the message itself, "sent" copies to
 * the sender's other enabled resources. Copies are never stored offline
 * when a session drops them: the message itself went elsewhere.
 */
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/mod/modules.h"
#include "xmpp/mod/msg.h"
#include "xmpp/router.h"
#include "xmpp/stanza.h"

#include <string.h>

void carbons_copy(struct worker *w, const struct jid *owner, const char *kind,
                  const struct jid *peer, struct xml_node *m, struct arena *a, const uint64_t *skip,
                  size_t n_skip)
{
    size_t n;
    struct sess_addr *res = msg_resources(w, MSG_LIST_COPY, owner, &n);
    struct msg_info info;
    msg_classify(m, &info);
    char bare[JID_BUF], full[2 * JID_BUF];
    jid_bare(owner, bare, sizeof(bare));
    struct xml_node *wrap = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!(res[i].flags & SESS_F_CARBONS))
            continue;
        bool skipped = false;
        for (size_t j = 0; j < n_skip && !skipped; j++)
            skipped = skip[j] == res[i].conn_id;
        if (skipped)
            continue;
        if (!wrap) {
            wrap = xml_elem_new(a, XML_NS_CLIENT, "message");
            xml_set_attr(a, wrap, "from", bare);
            const char *type = xml_attr(m, "type");
            if (type)
                xml_set_attr(a, wrap, "type", type);
            struct xml_node *k = xml_add_child(a, wrap, NS_CARBONS, kind);
            struct xml_node *fw = xml_add_child(a, k, NS_FORWARD, "forwarded");
            xml_append(fw, m);
        }
        snprintf(full, sizeof(full), "%s/%s", bare, res[i].resource);
        xml_set_attr(a, wrap, "to", full);
        struct chunk *ch = router_serialize(w, wrap);
        if (!ch)
            break;
        if (info.state_only)
            ch->tag |= CHUNK_TAG_LOW;
        if (peer)
            blocking_deliver(w, jid_local(owner), peer, &res[i], ch);
        else
            router_deliver(w, &res[i], ch);
        chunk_unref(ch);
    }
    if (wrap)
        xml_remove(m); /* m goes back to being a stanza of its own */
}

static void carbons_iq(struct mod_iq *q)
{
    const char *type = xml_attr(q->iq, "type");
    bool on = strcmp(q->payload->name, "enable") == 0;
    if (strcmp(type, "set") != 0 || (!on && strcmp(q->payload->name, "disable") != 0)) {
        c2s_send_node(q->s, stanza_error(q->a, q->iq, "modify", "bad-request"));
        return;
    }
    sessions_set_flags(q->s->w->srv->sessions, &q->s->jid, q->s->id, SESS_F_CARBONS,
                       on ? SESS_F_CARBONS : 0);
    c2s_send_node(q->s, stanza_result(q->a, q->iq));
}

void mod_carbons_init(void)
{
    mod_iq_register(NS_CARBONS, MOD_BOTH, carbons_iq);
    mod_feature(NS_CARBONS, MOD_SERVER);
}
