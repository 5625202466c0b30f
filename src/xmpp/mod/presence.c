/*
 * presence: the route handler for <presence/> (RFC 6121 §4). For now only
 * the session's own presence is recorded (availability and priority, used
 * by message routing); directed presence to a full JID is passed on.
 */
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/mod/modules.h"
#include "xmpp/router.h"
#include "xmpp/sessions.h"

#include <stdlib.h>
#include <string.h>

static void presence_self(struct c2s *s, struct xml_node *p, struct arena *a)
{
    const char *type = xml_attr(p, "type");
    if (type && strcmp(type, "unavailable") != 0)
        return;
    bool available = type == NULL;
    int priority = 0;
    struct xml_node *pr = xml_child(p, XML_NS_CLIENT, "priority");
    if (pr) {
        long v = strtol(xml_text(a, pr), NULL, 10);
        priority = v < -128 ? -128 : v > 127 ? 127 : (int)v;
    }
    bool first = available && !s->available;
    s->available = available;
    sessions_set_presence(s->w->srv->sessions, &s->jid, s->id, available, priority);
    if (first)
        mod_emit(MOD_EV_AVAILABLE, s);
}

static void route_presence(struct c2s *s, struct xml_node *p, struct arena *a, const struct jid *to)
{
    if (!to) {
        presence_self(s, p, a);
        return;
    }
    struct sess_addr addr;
    if (to->has_resource && sessions_get(s->w->srv->sessions, to, &addr)) {
        struct chunk *ch = router_serialize(s->w, p);
        if (ch)
            router_deliver(s->w, &addr, ch);
        chunk_unref(ch);
    }
}

void mod_presence_init(void)
{
    mod_route_register("presence", route_presence);
}
