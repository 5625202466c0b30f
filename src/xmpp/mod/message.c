/*
 * message: the route handler for <message/> (RFC 6121 §8.5): to a full JID
 * that session, else as to the bare JID; to a bare JID the available
 * resources of highest non-negative priority (headline: all of them).
 * Offline storage, the archive, carbons and blocking hook in here.
 */
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/mod/modules.h"
#include "xmpp/router.h"
#include "xmpp/sessions.h"

#include <stdlib.h>
#include <string.h>

#define ROUTE_FANOUT SESS_MAX_RESOURCES /* resources looked at per bare-JID delivery */

static bool type_is(const char *type, const char *want)
{
    return type && strcmp(type, want) == 0;
}

static void message_bare(struct c2s *s, struct xml_node *m, struct arena *a, const struct jid *to)
{
    const char *type = xml_attr(m, "type");
    if (type_is(type, "groupchat")) {
        router_error(s, m, a, "cancel", "service-unavailable");
        return;
    }
    struct sess_addr *res = calloc(ROUTE_FANOUT, sizeof(*res));
    if (!res)
        abort();
    size_t n = sessions_list(s->w->srv->sessions, to, res, ROUTE_FANOUT);
    if (n > ROUTE_FANOUT)
        n = ROUTE_FANOUT;
    int best = -1;
    for (size_t i = 0; i < n; i++)
        if (res[i].available && res[i].priority > best)
            best = res[i].priority;
    if (best < 0) {
        free(res);
        if (!type_is(type, "headline"))
            router_error(s, m, a, "cancel", "service-unavailable");
        return;
    }
    struct chunk *ch = router_serialize(s->w, m);
    for (size_t i = 0; ch && i < n; i++) {
        if (!res[i].available || res[i].priority < 0)
            continue;
        if (res[i].priority == best || type_is(type, "headline"))
            router_deliver(s->w, &res[i], ch);
    }
    chunk_unref(ch);
    free(res);
}

static void route_message(struct c2s *s, struct xml_node *m, struct arena *a, const struct jid *to)
{
    const char *type = xml_attr(m, "type");
    if (!to) {
        message_bare(s, m, a, &s->jid); /* RFC 6120 §10.3.1: to the sender's own account */
        return;
    }
    if (!to->has_local) {
        router_error(s, m, a, "cancel", "service-unavailable");
        return;
    }
    if (to->has_resource) {
        struct sess_addr addr;
        if (sessions_get(s->w->srv->sessions, to, &addr)) {
            struct chunk *ch = router_serialize(s->w, m);
            if (ch)
                router_deliver(s->w, &addr, ch);
            chunk_unref(ch);
            return;
        }
        if (type_is(type, "groupchat") || type_is(type, "error"))
            router_error(s, m, a, "cancel", "service-unavailable");
        else if (!type_is(type, "headline"))
            message_bare(s, m, a, to); /* RFC 6121 §8.5.3.2.1: as if to the bare JID */
        return;
    }
    if (!type_is(type, "error"))
        message_bare(s, m, a, to);
}

void mod_message_init(void)
{
    mod_route_register("message", route_message);
}
