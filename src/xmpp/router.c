/*
 * router: where a stanza from a bound client goes. IQs are routed here (to
 * modules by scope, or to a full JID); messages and presence go to the
 * route handlers of the message and presence modules (xmpp/mod.h), which
 * use the delivery primitives below.
 */
#include "xmpp/router.h"
#include "core/alloc.h"
#include "core/log.h"
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/stanza.h"

#include <stdlib.h>
#include <string.h>

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

static bool type_is(const char *type, const char *want)
{
    return type && strcmp(type, want) == 0;
}

struct chunk *router_serialize(struct worker *w, const struct xml_node *st)
{
    struct buf *b = &w->out;
    buf_reset(b);
    if (xml_serialize(b, st, XML_NS_CLIENT) < 0)
        return NULL;
    return chunk_new(b->data, b->len);
}

void router_error(struct c2s *s, struct xml_node *st, struct arena *a, const char *type,
                  const char *cond)
{
    reply_error(s, st, a, type, cond);
}

/*
 * IQ to the server (MOD_SERVER), to the sender's own bare JID (MOD_ACCOUNT)
 * or to another local account's bare JID (MOD_PEER).
 */
static void iq_local(struct c2s *s, struct xml_node *iq, struct arena *a, enum mod_scope scope,
                     const struct jid *to)
{
    const char *type = xml_attr(iq, "type");
    if (!type_is(type, "get") && !type_is(type, "set")) {
        /* answers to the server's own IQs; others (our pings' answers) end here */
        mod_iq_answer_fn *answer = mod_iq_answer_find(xml_attr(iq, "id"));
        if (answer)
            answer(s, iq, a);
        return;
    }
    struct xml_node *payload = xml_child(iq, NULL, NULL);
    mod_iq_fn *fn = payload ? mod_iq_find(payload->ns, scope) : NULL;
    if (!fn) {
        reply_error(s, iq, a, "cancel", "service-unavailable");
        return;
    }
    struct jid self;
    if (scope == MOD_ACCOUNT) {
        jid_from_parts(&self, jid_local(&s->jid), jid_domain(&s->jid), NULL);
        to = &self;
    }
    struct mod_iq q = {s, iq, payload, a, scope != MOD_SERVER, to, scope == MOD_PEER};
    fn(&q);
}

/*
 * An IQ to a full JID goes to that resource; results and errors too (answers
 * to pushes). Between accounts where one blocks the other (XEP-0191 §3.5)
 * it is answered as if nobody were there.
 */
static void iq_full(struct c2s *s, struct xml_node *iq, struct arena *a, const struct jid *to)
{
    struct sess_addr addr;
    bool blocked = mod_blocked(jid_local(to), &s->jid) || mod_blocked(s->user, to);
    if (!blocked && sessions_get(s->w->srv->sessions, to, &addr)) {
        struct chunk *ch = router_serialize(s->w, iq);
        if (ch)
            router_deliver(s->w, &addr, ch);
        chunk_unref(ch);
        return;
    }
    const char *type = xml_attr(iq, "type");
    if (type_is(type, "get") || type_is(type, "set"))
        reply_error(s, iq, a, "cancel", "service-unavailable");
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
    struct jid to;
    if (to_s) {
        if (jid_parse(&to, to_s, strlen(to_s)) < 0) {
            reply_error(s, st, a, "modify", "jid-malformed");
            return;
        }
        if (strcmp(jid_domain(&to), s->w->srv->domain) != 0) {
            reply_error(s, st, a, "cancel", "remote-server-not-found");
            return;
        }
    }
    if (!is_iq) {
        mod_route_fn *fn = mod_route_find(st->name);
        if (fn)
            fn(s, st, a, to_s ? &to : NULL);
        else
            reply_error(s, st, a, "cancel", "service-unavailable");
        return;
    }
    if (!to_s)
        iq_local(s, st, a, MOD_ACCOUNT, NULL); /* RFC 6120 §10.3.3: no 'to' = the account */
    else if (!to.has_local)
        iq_local(s, st, a, MOD_SERVER, &to);
    else if (to.has_resource)
        iq_full(s, st, a, &to);
    else if (jid_bare_eq(&to, &s->jid))
        iq_local(s, st, a, MOD_ACCOUNT, NULL);
    else if (mod_blocked(jid_local(&to), &s->jid) || mod_blocked(s->user, &to))
        reply_error(s, st, a, "cancel", "service-unavailable"); /* XEP-0191 §3.5 */
    else
        iq_local(s, st, a, MOD_PEER, &to);
}
