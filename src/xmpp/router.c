/*
 * router: RFC 6121 §8.5 delivery rules for the subset this server has
 * today: no roster or offline storage yet, so presence is recorded only for
 * routing (priority), and a message that finds no available resource is
 * answered with service-unavailable rather than stored — the same answer an
 * unknown account gets, so nothing tells the two apart.
 */
#include "xmpp/router.h"
#include "core/alloc.h"
#include "core/log.h"
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/stanza.h"

#include <stdlib.h>
#include <string.h>

#define ROUTE_FANOUT 16 /* resources looked at per bare-JID delivery */

struct deliver_mail {
    struct mail mail;
    uint64_t conn_id;
    struct chunk *chunk; /* NULL: kick with <conflict/> */
};

static void on_deliver_mail(struct mail *m, void *ctx)
{
    struct deliver_mail *d = (struct deliver_mail *)m;
    struct c2s *s = c2s_find(ctx, d->conn_id);
    if (s) {
        if (d->chunk)
            c2s_send_chunk(s, d->chunk);
        else
            c2s_stream_error(s, "conflict", "Replaced by new connection");
    }
    chunk_unref(d->chunk);
    free(d);
}

static void post(struct worker *w, const struct sess_addr *addr, struct chunk *chunk)
{
    struct c2s *s;
    if (addr->worker == w->id) {
        s = c2s_find(w, addr->conn_id);
        if (!s)
            return;
        if (chunk)
            c2s_send_chunk(s, chunk);
        else
            c2s_stream_error(s, "conflict", "Replaced by new connection");
        return;
    }
    struct deliver_mail *d;
    XNEW(d);
    d->mail.fn = on_deliver_mail;
    d->conn_id = addr->conn_id;
    d->chunk = chunk ? chunk_ref(chunk) : NULL;
    mailbox_post(w->srv->workers[addr->worker].mb, &d->mail);
}

void router_deliver(struct worker *w, const struct sess_addr *addr, struct chunk *chunk)
{
    post(w, addr, chunk);
}

void router_kick(struct worker *w, const struct sess_addr *addr)
{
    post(w, addr, NULL);
}

static void reply_error(struct c2s *s, struct xml_node *st, struct arena *a, const char *type,
                        const char *cond)
{
    if (stanza_is_error(st))
        return; /* errors are never answered with errors */
    c2s_send_node(s, stanza_error(a, st, type, cond));
}

static struct chunk *serialize(struct c2s *s, const struct xml_node *st)
{
    struct buf *b = &s->w->out;
    buf_reset(b);
    if (xml_serialize(b, st, XML_NS_CLIENT) < 0)
        return NULL;
    return chunk_new(b->data, b->len);
}

static bool type_is(const char *type, const char *want)
{
    return type && strcmp(type, want) == 0;
}

/* IQ to the server (scope MOD_SERVER) or to the sender's own bare JID (MOD_ACCOUNT). */
static void iq_local(struct c2s *s, struct xml_node *iq, struct arena *a, enum mod_scope scope)
{
    const char *type = xml_attr(iq, "type");
    if (!type_is(type, "get") && !type_is(type, "set"))
        return; /* results and errors for the server: our pings' answers */
    struct xml_node *payload = xml_child(iq, NULL, NULL);
    mod_iq_fn *fn = payload ? mod_iq_find(payload->ns, scope) : NULL;
    if (!fn) {
        reply_error(s, iq, a, "cancel", "service-unavailable");
        return;
    }
    struct mod_iq q = {s, iq, payload, a, scope == MOD_ACCOUNT};
    fn(&q);
}

static void presence_self(struct c2s *s, struct xml_node *p, struct arena *a)
{
    const char *type = xml_attr(p, "type");
    if (type && !type_is(type, "unavailable"))
        return; /* subscriptions and probes come with the roster */
    bool available = type == NULL;
    int priority = 0;
    struct xml_node *pr = xml_child(p, XML_NS_CLIENT, "priority");
    if (pr) {
        long v = strtol(xml_text(a, pr), NULL, 10);
        priority = v < -128 ? -128 : v > 127 ? 127 : (int)v;
    }
    s->available = available;
    sessions_set_presence(s->w->srv->sessions, &s->jid, s->id, available, priority);
}

/* Message to a bare JID: the available resources of highest non-negative priority. */
static void message_bare(struct c2s *s, struct xml_node *m, struct arena *a, const struct jid *to)
{
    const char *type = xml_attr(m, "type");
    if (type_is(type, "groupchat")) {
        reply_error(s, m, a, "cancel", "service-unavailable");
        return;
    }
    struct sess_addr *res = xcalloc(ROUTE_FANOUT, sizeof(*res));
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
            reply_error(s, m, a, "cancel", "service-unavailable");
        return;
    }
    struct chunk *ch = serialize(s, m);
    for (size_t i = 0; ch && i < n; i++) {
        if (!res[i].available || res[i].priority < 0)
            continue;
        /* headline goes to every non-negative resource, the rest to the highest ones */
        if (res[i].priority == best || type_is(type, "headline"))
            router_deliver(s->w, &res[i], ch);
    }
    chunk_unref(ch);
    free(res);
}

static void to_full(struct c2s *s, struct xml_node *st, struct arena *a, const struct jid *to)
{
    struct sess_addr addr;
    if (sessions_get(s->w->srv->sessions, to, &addr)) {
        struct chunk *ch = serialize(s, st);
        if (ch)
            router_deliver(s->w, &addr, ch);
        chunk_unref(ch);
        return;
    }
    const char *type = xml_attr(st, "type");
    if (strcmp(st->name, "message") == 0) {
        if (type_is(type, "groupchat") || type_is(type, "error"))
            reply_error(s, st, a, "cancel", "service-unavailable");
        else if (!type_is(type, "headline"))
            message_bare(s, st, a, to); /* RFC 6121 §8.5.3.2.1: as if to the bare JID */
    } else if (strcmp(st->name, "iq") == 0) {
        if (type_is(type, "get") || type_is(type, "set"))
            reply_error(s, st, a, "cancel", "service-unavailable");
    }
    /* presence to an absent resource is dropped silently */
}

static void to_bare(struct c2s *s, struct xml_node *st, struct arena *a, const struct jid *to)
{
    const char *type = xml_attr(st, "type");
    if (strcmp(st->name, "message") == 0) {
        if (!type_is(type, "error"))
            message_bare(s, st, a, to);
    } else if (strcmp(st->name, "iq") == 0) {
        /* an IQ to a bare JID is answered by the server for that account */
        if (type_is(type, "get") || type_is(type, "set"))
            reply_error(s, st, a, "cancel", "service-unavailable");
    }
}

static bool valid_iq(struct xml_node *iq)
{
    const char *type = xml_attr(iq, "type");
    if (!xml_attr(iq, "id") || !type)
        return false;
    if (type_is(type, "get") || type_is(type, "set")) {
        struct xml_node *c = xml_child(iq, NULL, NULL);
        return c && !xml_next(c, NULL, NULL);
    }
    return type_is(type, "result") || type_is(type, "error");
}

void router_route(struct c2s *s, struct xml_node *st, struct arena *a)
{
    const char *to_s = xml_attr(st, "to");
    bool is_iq = strcmp(st->name, "iq") == 0;
    if (is_iq && !valid_iq(st)) {
        reply_error(s, st, a, "modify", "bad-request");
        return;
    }
    if (!to_s) {
        if (is_iq)
            iq_local(s, st, a, MOD_ACCOUNT); /* RFC 6120 §10.3.3: no 'to' = the account */
        else if (strcmp(st->name, "presence") == 0)
            presence_self(s, st, a);
        else
            message_bare(s, st, a, &s->jid);
        return;
    }
    struct jid to;
    if (jid_parse(&to, to_s, strlen(to_s)) < 0) {
        reply_error(s, st, a, "modify", "jid-malformed");
        return;
    }
    if (strcmp(jid_domain(&to), s->w->srv->domain) != 0) {
        reply_error(s, st, a, "cancel", "remote-server-not-found");
        return;
    }
    if (!to.has_local) {
        if (is_iq)
            iq_local(s, st, a, MOD_SERVER);
        else if (strcmp(st->name, "message") == 0)
            reply_error(s, st, a, "cancel", "service-unavailable");
        return;
    }
    if (to.has_resource)
        to_full(s, st, a, &to);
    else if (is_iq && jid_bare_eq(&to, &s->jid))
        iq_local(s, st, a, MOD_ACCOUNT);
    else
        to_bare(s, st, a, &to);
}
