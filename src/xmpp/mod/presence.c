/*
 * presence: the route handler for <presence/> (RFC 6121 §4).
 *
 * - Presence without 'to' is the session's own (broadcast): recorded in
 *   the session registry (availability, priority, and the stanza itself so
 *   that probes and new subscribers are answered without asking the
 *   session's worker), then sent to the account's other available
 *   resources and to every contact with a subscription from/both. The
 *   first available presence of a session also probes the contacts it has
 *   a subscription to/both with (answered from the registry: the last
 *   presence of each of their available resources) and delivers the
 *   subscription requests that waited for the user to come online (at
 *   most PRESENCE_PENDING_MAX per login, so that a long backlog cannot
 *   overflow the connection's output; the rest come once those are
 *   answered).
 * - Unavailable presence, sent by the client or generated when the session
 *   ends for good (MOD_EV_UNBOUND, also after a lost connection), goes to
 *   the same contacts and to every JID the session sent directed presence
 *   to. That list is capped at PRESENCE_DIRECTED_MAX JIDs per session;
 *   directed presence beyond it is delivered but not remembered, so those
 *   JIDs get no unavailable presence at the end.
 * - Directed presence (with 'to') goes to that full JID, or to every
 *   available resource of a bare JID.
 * - Subscription stanzas go to the roster module (roster.h).
 * - A client's probe of a contact is answered for local accounts whose
 *   presence the sender is allowed to see (the contact's row for the sender
 *   has from/both); otherwise with unsubscribed.
 *
 * Contacts are read from storage (off the worker, STORE_RUN) each time a
 * session broadcasts; the completion delivers. Presence never leaves the
 * domain (no server-to-server link): contacts on other domains are skipped.
 * Availability presence is tagged CHUNK_TAG_LOW so a session whose client
 * is inactive (XEP-0352) may hold it back; subscription stanzas are not.
 */
#include "xmpp/mod/presence.h"
#include "core/alloc.h"
#include "core/log.h"
#include "store/store_roster.h"
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/mod/modules.h"
#include "xmpp/mod/roster.h"
#include "xmpp/router.h"
#include "xmpp/sessions.h"

#include <stdlib.h>
#include <string.h>

#define PRESENCE_DIRECTED_MAX 128 /* JIDs remembered per session for its final unavailable */
#define PRESENCE_PENDING_MAX  100 /* subscription requests delivered per login */

/* A growable list of strings. */
struct strv {
    size_t n, cap;
    char **v;
};

static void strv_push(struct strv *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = xstrdup(s);
}

static void strv_fini(struct strv *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static bool strv_has(const struct strv *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

/* ---- delivery primitives (presence.h) ---------------------------------------------------- */

struct chunk *presence_to(struct worker *w, const struct chunk *p, const char *to)
{
    static const char head[] = "<presence";
    size_t hl = sizeof(head) - 1;
    if (p->len < hl + 1 || memcmp(p->data, head, hl) != 0)
        return NULL;
    struct buf *b = &w->out;
    buf_reset(b);
    buf_puts(b, "<presence to=\"");
    xml_escape_attr(b, to, strlen(to));
    buf_puts(b, "\"");
    buf_append(b, p->data + hl, p->len - hl);
    struct chunk *ch = chunk_new(b->data, b->len);
    ch->tag = p->tag;
    return ch;
}

/* The available resources of jid's account (heap array, free it); *n gets how many. */
static struct sess_addr *available_of(struct worker *w, const struct jid *jid, size_t *n)
{
    struct sess_addr *res = xmalloc(SESS_MAX_RESOURCES * sizeof(*res)); /* not zeroed: ~64 KiB */
    size_t total = sessions_list(w->srv->sessions, jid, res, SESS_MAX_RESOURCES);
    size_t k = 0;
    for (size_t i = 0; i < total && i < SESS_MAX_RESOURCES; i++)
        if (res[i].available)
            res[k++] = res[i];
    *n = k;
    return res;
}

size_t presence_deliver(struct worker *w, const struct jid *from, const struct jid *to,
                        struct chunk *ch)
{
    if (!ch || mod_blocked(jid_local(to), from))
        return 0;
    size_t n;
    struct sess_addr *res = available_of(w, to, &n);
    for (size_t i = 0; i < n; i++)
        router_deliver(w, &res[i], ch);
    free(res);
    return n;
}

/* Builds <presence type='unavailable' from=FULL/> (no 'to') as a chunk tagged low. */
static struct chunk *unavailable_from(struct worker *w, const char *full)
{
    struct buf *b = &w->out;
    buf_reset(b);
    buf_puts(b, "<presence from=\"");
    xml_escape_attr(b, full, strlen(full));
    buf_puts(b, "\" type=\"unavailable\"/>");
    struct chunk *ch = chunk_new(b->data, b->len);
    ch->tag = CHUNK_TAG_LOW;
    return ch;
}

/* Sends every available resource's presence of from's account to the session s (probe answer). */
static size_t answer_probe(struct worker *w, const struct jid *from, struct c2s *s)
{
    if (mod_blocked(s->user, from) || mod_blocked(jid_local(from), &s->jid))
        return 0;
    struct sess_presence *pr = xmalloc(SESS_MAX_RESOURCES * sizeof(*pr));
    size_t n = sessions_presences(w->srv->sessions, from, pr, SESS_MAX_RESOURCES), sent = 0;
    if (n > SESS_MAX_RESOURCES)
        n = SESS_MAX_RESOURCES;
    char full[JID_BUF];
    jid_full(&s->jid, full, sizeof(full));
    for (size_t i = 0; i < n; i++) {
        if (pr[i].addr.conn_id != s->id) {
            struct chunk *ch = presence_to(w, pr[i].presence, full);
            if (ch) {
                c2s_send_chunk(s, ch);
                sent++;
            }
            chunk_unref(ch);
        }
        chunk_unref(pr[i].presence);
    }
    free(pr);
    return sent;
}

void presence_share(struct worker *w, const struct jid *from, const struct jid *to, bool available)
{
    if (mod_blocked(jid_local(from), to))
        return;
    char to_s[JID_BUF];
    jid_bare(to, to_s, sizeof(to_s));
    struct sess_presence *pr = xmalloc(SESS_MAX_RESOURCES * sizeof(*pr));
    size_t n = sessions_presences(w->srv->sessions, from, pr, SESS_MAX_RESOURCES);
    if (n > SESS_MAX_RESOURCES)
        n = SESS_MAX_RESOURCES;
    for (size_t i = 0; i < n; i++) {
        struct chunk *p = pr[i].presence, *ch;
        if (available) {
            ch = presence_to(w, p, to_s);
        } else {
            char full[JID_BUF];
            snprintf(full, sizeof(full), "%s@%s/%s", jid_local(from), jid_domain(from),
                     pr[i].addr.resource);
            struct chunk *u = unavailable_from(w, full);
            ch = presence_to(w, u, to_s);
            chunk_unref(u);
        }
        presence_deliver(w, from, to, ch);
        chunk_unref(ch);
        chunk_unref(p);
    }
    free(pr);
}

/* ---- per-session state: where directed presence went ------------------------------------ */

struct pres_slot {
    struct strv directed; /* JIDs as sent (full or bare), at most PRESENCE_DIRECTED_MAX */
};

static struct pres_slot *slot_of(struct c2s *s, bool create)
{
    struct pres_slot *ps = s->slot[C2S_SLOT_ROSTER];
    if (!ps && create) {
        XNEW(ps);
        s->slot[C2S_SLOT_ROSTER] = ps;
    }
    return ps;
}

static void directed_note(struct c2s *s, const char *to, bool available)
{
    struct pres_slot *ps = slot_of(s, available);
    if (!ps)
        return;
    struct strv *l = &ps->directed;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], to) == 0) {
            if (!available) {
                free(l->v[i]);
                l->v[i] = l->v[--l->n];
            }
            return;
        }
    if (available && l->n < PRESENCE_DIRECTED_MAX)
        strv_push(l, to);
}

/* ---- broadcasts ---------------------------------------------------------------------------- */

struct bcast_op {
    struct store_req r;
    uint64_t conn_id; /* the sending session, 0 once it is gone */
    struct jid from;  /* its full JID */
    char user[STORE_USER_MAX + 1];
    struct chunk *presence; /* what goes out, without 'to' */
    bool to_contacts;       /* broadcast to subscribers (false: only the directed list) */
    bool initial;           /* first available presence: probe, deliver pending requests */
    struct strv directed;   /* also gets it (unavailable only) */
    /* out */
    struct strv subs;    /* contacts with from/both */
    struct strv tos;     /* initial: contacts with to/both */
    struct strv pending; /* initial: pairs of contact, stored request ("" for none) */
};

static int collect(void *arg, const struct store_roster_item *it)
{
    struct bcast_op *op = arg;
    if (it->sub & STORE_SUB_FROM)
        strv_push(&op->subs, it->contact);
    if (op->initial && (it->sub & STORE_SUB_TO))
        strv_push(&op->tos, it->contact);
    if (op->initial && it->ask_in && op->pending.n < 2 * PRESENCE_PENDING_MAX) {
        strv_push(&op->pending, it->contact);
        strv_push(&op->pending, it->in_stanza ? it->in_stanza : "");
    }
    return 0;
}

static int bcast_run(struct store_db *db, struct store_req *r)
{
    struct bcast_op *op = (struct bcast_op *)r;
    if (!op->to_contacts)
        return 0;
    return store_roster_each(db, op->user, collect, op);
}

/* Delivers op's presence to jid (a contact on this domain, full or bare JID). */
static void send_to(struct worker *w, struct bcast_op *op, const char *jid_s)
{
    struct jid to;
    if (jid_parse(&to, jid_s, strlen(jid_s)) < 0 || strcmp(jid_domain(&to), w->srv->domain) != 0)
        return; /* no server-to-server link */
    if (mod_blocked(op->user, &to))
        return;
    struct chunk *ch = presence_to(w, op->presence, jid_s);
    if (!to.has_resource) {
        presence_deliver(w, &op->from, &to, ch);
    } else if (!mod_blocked(jid_local(&to), &op->from)) {
        struct sess_addr addr;
        if (ch && sessions_get(w->srv->sessions, &to, &addr))
            router_deliver(w, &addr, ch);
    }
    chunk_unref(ch);
}

static void on_bcast_done(struct mail *m, void *ctx)
{
    struct worker *w = ctx;
    struct bcast_op *op = (struct bcast_op *)m;
    if (op->r.status < 0)
        log_warn("presence: reading the contacts of %s failed: %s", op->user,
                 strerror(-op->r.status));
    char self[JID_BUF];
    jid_bare(&op->from, self, sizeof(self));
    for (size_t i = 0; i < op->subs.n; i++)
        send_to(w, op, op->subs.v[i]);
    if (op->to_contacts)
        send_to(w, op, self); /* RFC 6121 §4.2.2, §4.4.2: the account's own resources too */
    for (size_t i = 0; i < op->directed.n; i++) {
        struct jid d;
        char bare[JID_BUF];
        if (jid_parse(&d, op->directed.v[i], strlen(op->directed.v[i])) < 0)
            continue;
        jid_bare(&d, bare, sizeof(bare));
        if (!op->to_contacts || (!strv_has(&op->subs, bare) && strcmp(bare, self) != 0))
            send_to(w, op, op->directed.v[i]);
    }
    struct c2s *s = op->initial ? c2s_find(w, op->conn_id) : NULL;
    if (s && s->available) {
        struct jid j;
        for (size_t i = 0; i < op->tos.n; i++)
            if (jid_parse(&j, op->tos.v[i], strlen(op->tos.v[i])) == 0 &&
                strcmp(jid_domain(&j), w->srv->domain) == 0 && !jid_bare_eq(&j, &s->jid))
                answer_probe(w, &j, s);
        answer_probe(w, &s->jid, s); /* the account's other resources */
        for (size_t i = 0; i + 1 < op->pending.n; i += 2) {
            const char *contact = op->pending.v[i], *xml = op->pending.v[i + 1];
            if (jid_parse(&j, contact, strlen(contact)) < 0 || mod_blocked(s->user, &j))
                continue;
            struct chunk *ch;
            if (xml[0]) {
                ch = chunk_new(xml, strlen(xml));
            } else {
                struct buf *b = &w->out;
                buf_reset(b);
                buf_puts(b, "<presence type=\"subscribe\" from=\"");
                xml_escape_attr(b, contact, strlen(contact));
                buf_puts(b, "\" to=\"");
                xml_escape_attr(b, self, strlen(self));
                buf_puts(b, "\"/>");
                ch = chunk_new(b->data, b->len);
            }
            c2s_send_chunk(s, ch);
            chunk_unref(ch);
        }
    }
    chunk_unref(op->presence);
    strv_fini(&op->directed);
    strv_fini(&op->subs);
    strv_fini(&op->tos);
    strv_fini(&op->pending);
    free(op);
}

/* Submits the broadcast of presence (a reference is taken) by s. */
static void broadcast(struct c2s *s, struct chunk *presence, bool to_contacts, bool initial,
                      struct strv *directed)
{
    struct bcast_op *op;
    XNEW(op);
    roster_req_init(&op->r, s->w, on_bcast_done, bcast_run);
    op->conn_id = s->id;
    op->from = s->jid;
    snprintf(op->user, sizeof(op->user), "%s", s->user);
    op->presence = chunk_ref(presence);
    op->to_contacts = to_contacts;
    op->initial = initial;
    if (directed) {
        op->directed = *directed; /* taken */
        memset(directed, 0, sizeof(*directed));
    }
    store_submit(s->w->srv->store, &op->r);
}

static int priority_of(struct xml_node *p, struct arena *a)
{
    struct xml_node *pr = xml_child(p, XML_NS_CLIENT, "priority");
    if (!pr)
        return 0;
    long v = strtol(xml_text(a, pr), NULL, 10);
    return v < -128 ? -128 : v > 127 ? 127 : (int)v;
}

/* Presence without 'to': the session's own, available or unavailable. */
static void presence_self(struct c2s *s, struct xml_node *p, struct arena *a, bool unavailable)
{
    struct worker *w = s->w;
    struct pres_slot *ps = slot_of(s, false);
    if (unavailable && !s->available) {
        if (ps && ps->directed.n) {
            struct chunk *ch = router_serialize(w, p);
            if (ch) {
                ch->tag = CHUNK_TAG_LOW;
                broadcast(s, ch, false, false, &ps->directed);
            }
            chunk_unref(ch);
        }
        return;
    }
    struct chunk *ch = router_serialize(w, p);
    if (!ch)
        return;
    ch->tag = CHUNK_TAG_LOW;
    bool first = !unavailable && !s->available;
    s->available = !unavailable;
    sessions_set_presence(w->srv->sessions, &s->jid, s->id, !unavailable,
                          unavailable ? 0 : priority_of(p, a));
    sessions_set_last(w->srv->sessions, &s->jid, s->id, unavailable ? NULL : ch);
    mod_presence_emit(s, p, a);
    if (first)
        mod_emit(MOD_EV_AVAILABLE, s);
    broadcast(s, ch, true, first, unavailable && ps ? &ps->directed : NULL);
    chunk_unref(ch);
}

/* Presence with a 'to' (available or unavailable): directed presence (RFC 6121 §4.6). */
static void presence_directed(struct c2s *s, struct xml_node *p, const struct jid *to,
                              bool unavailable)
{
    struct worker *w = s->w;
    if (!to->has_local || (!to->has_resource && jid_bare_eq(to, &s->jid)))
        return; /* to the server, or to the own account: nothing to do */
    if (mod_blocked(s->user, to))
        return;
    char to_s[JID_BUF];
    jid_full(to, to_s, sizeof(to_s));
    directed_note(s, to_s, !unavailable);
    struct chunk *ch = router_serialize(w, p);
    if (!ch)
        return;
    ch->tag = CHUNK_TAG_LOW;
    struct sess_addr addr;
    if (!to->has_resource)
        presence_deliver(w, &s->jid, to, ch);
    else if (!mod_blocked(jid_local(to), &s->jid) && sessions_get(w->srv->sessions, to, &addr))
        router_deliver(w, &addr, ch);
    chunk_unref(ch);
}

/* ---- probes from clients ----------------------------------------------------------------- */

struct probe_op {
    struct store_req r;
    uint64_t conn_id;
    char user[STORE_USER_MAX + 1]; /* the prober */
    char prober[JID_BUF];          /* its bare JID */
    struct jid contact;            /* bare */
    bool allowed;                  /* out: the contact's row for the prober has from/both */
};

static int probe_run(struct store_db *db, struct store_req *r)
{
    struct probe_op *op = (struct probe_op *)r;
    int sub = store_roster_sub(db, jid_local(&op->contact), op->prober);
    if (sub < 0)
        return sub;
    op->allowed = (sub & STORE_SUB_FROM) != 0;
    return 0;
}

static void on_probe_done(struct mail *m, void *ctx)
{
    struct worker *w = ctx;
    struct probe_op *op = (struct probe_op *)m;
    struct c2s *s = c2s_find(w, op->conn_id);
    if (s && op->r.status == 0) {
        char contact[JID_BUF], full[JID_BUF];
        jid_bare(&op->contact, contact, sizeof(contact));
        jid_full(&s->jid, full, sizeof(full));
        struct buf *b = &w->out;
        bool answered = op->allowed && answer_probe(w, &op->contact, s) > 0;
        if (!answered) {
            /* offline (RFC 6121 §4.3.2), or not allowed to know: unsubscribed */
            buf_reset(b);
            buf_puts(b, "<presence from=\"");
            xml_escape_attr(b, contact, strlen(contact));
            buf_puts(b, "\" to=\"");
            xml_escape_attr(b, op->allowed ? full : op->prober,
                            strlen(op->allowed ? full : op->prober));
            buf_puts(b, op->allowed ? "\" type=\"unavailable\"/>" : "\" type=\"unsubscribed\"/>");
            struct chunk *ch = chunk_new(b->data, b->len);
            c2s_send_chunk(s, ch);
            chunk_unref(ch);
        }
    }
    free(op);
}

static void probe(struct c2s *s, const struct jid *to)
{
    struct probe_op *op;
    XNEW(op);
    roster_req_init(&op->r, s->w, on_probe_done, probe_run);
    op->conn_id = s->id;
    snprintf(op->user, sizeof(op->user), "%s", s->user);
    jid_bare(&s->jid, op->prober, sizeof(op->prober));
    jid_from_parts(&op->contact, jid_local(to), jid_domain(to), NULL);
    store_submit(s->w->srv->store, &op->r);
}

/* ---- routing ------------------------------------------------------------------------------ */

static void route_presence(struct c2s *s, struct xml_node *p, struct arena *a, const struct jid *to)
{
    const char *type = xml_attr(p, "type");
    bool unavailable = type && strcmp(type, "unavailable") == 0;
    enum roster_type t;
    if (!type || unavailable) {
        if (to)
            presence_directed(s, p, to, unavailable);
        else
            presence_self(s, p, a, unavailable);
    } else if (roster_type_parse(type, &t)) {
        /* to nobody, to the server or to oneself: no subscription to keep (ignored) */
        if (to && to->has_local && !jid_bare_eq(to, &s->jid) && !mod_blocked(s->user, to))
            roster_subscription(s, p, a, to, t);
    } else if (strcmp(type, "probe") == 0) {
        if (to && to->has_local && !mod_blocked(s->user, to)) {
            if (jid_bare_eq(to, &s->jid))
                answer_probe(s->w, &s->jid, s);
            else
                probe(s, to);
        }
    } else if (strcmp(type, "error") == 0) {
        struct sess_addr addr;
        if (to && to->has_resource && sessions_get(s->w->srv->sessions, to, &addr)) {
            struct chunk *ch = router_serialize(s->w, p);
            if (ch)
                router_deliver(s->w, &addr, ch);
            chunk_unref(ch);
        }
    } else {
        router_error(s, p, a, "modify", "bad-request");
    }
}

/* The session ends for good: unavailable to everyone who saw it available. */
static void on_unbound(struct c2s *s)
{
    struct pres_slot *ps = slot_of(s, false);
    if (s->available || (ps && ps->directed.n)) {
        char full[JID_BUF];
        jid_full(&s->jid, full, sizeof(full));
        struct chunk *ch = unavailable_from(s->w, full);
        if (s->available) {
            struct arena a;
            arena_init(&a);
            struct xml_node *p = xml_elem_new(&a, XML_NS_CLIENT, "presence");
            xml_set_attr(&a, p, "from", full);
            xml_set_attr(&a, p, "type", "unavailable");
            mod_presence_emit(s, p, &a);
            arena_fini(&a);
        }
        broadcast(s, ch, s->available, false, ps ? &ps->directed : NULL);
        chunk_unref(ch);
        s->available = false;
    }
    if (ps) {
        strv_fini(&ps->directed);
        free(ps);
        s->slot[C2S_SLOT_ROSTER] = NULL;
    }
}

void mod_presence_init(void)
{
    mod_route_register("presence", route_presence);
    mod_on(MOD_EV_UNBOUND, on_unbound);
}
