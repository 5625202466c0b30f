/*
 * roster: jabber:iq:roster get/set/remove with pushes (RFC 6121 §2),
 * roster versions (XEP-0237) and the subscription state machine (RFC 6121
 * §3, Appendix A). See roster.h for the shape of the work.
 *
 * A row's subscription state, as the tables of RFC 6121 Appendix A name it:
 *
 *   sub  ask_out ask_in    RFC state
 *   none   0       0       None
 *   none   1       0       None + Pending Out
 *   none   0       1       None + Pending In
 *   none   1       1       None + Pending Out/In
 *   to     0       0/1     To (+ Pending In)
 *   from   0/1     0       From (+ Pending Out)
 *   both   0       0       Both
 *
 * A row that only remembers a pending inbound request (or a pre-approval
 * nobody asked for yet) is hidden (shown = 0): it is not part of the
 * roster the user sees, and it is deleted once nothing is left in it.
 *
 * Versions (XEP-0237): a roster's version is a counter bumped by every row
 * change; a get whose ver equals it gets an empty result, any other ver the
 * whole roster (deleted items leave no trace to send as pushes), and every
 * push carries the version it brings the roster to.
 *
 * Other domains: there is no server-to-server link. Items for remote JIDs
 * are stored like any other and the user's side of a subscription changes
 * as RFC 6121 says, but nothing is sent toward the remote domain: the
 * router answers a presence stanza addressed there with
 * remote-server-not-found (RFC 6120 §8.3.3.15), and the stanzas an item
 * removal would send (unsubscribe, unsubscribed) are dropped.
 *
 * A subscription stanza to a local JID with no account behind it changes
 * the sender's row and is then ignored, as RFC 6121 §8.5.1 says.
 */
#include "xmpp/mod/roster.h"
#include "conf/conf.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/rand.h"
#include "store/store_roster.h"
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/mod/modules.h"
#include "xmpp/mod/pep.h"
#include "xmpp/mod/presence.h"
#include "xmpp/router.h"
#include "xmpp/sessions.h"
#include "xmpp/stanza.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUSH_PREFIX "rpush-" /* ids of roster pushes; their answers are dropped */

void roster_req_init(struct store_req *r, struct worker *w, void (*done)(struct mail *m, void *ctx),
                     int (*run)(struct store_db *db, struct store_req *r))
{
    r->mail.fn = done;
    r->reply = w->mb;
    r->op = STORE_RUN;
    r->run = run;
}

/* ---- the state machine ------------------------------------------------------------------ */

bool roster_type_parse(const char *type, enum roster_type *t)
{
    static const char *const names[] = {"subscribe", "subscribed", "unsubscribe", "unsubscribed"};
    for (int i = 0; type && i < 4; i++)
        if (strcmp(type, names[i]) == 0) {
            *t = (enum roster_type)i;
            return true;
        }
    return false;
}

static bool has(int sub, int bit)
{
    return (sub & bit) != 0;
}

unsigned roster_outbound(struct roster_state *st, enum roster_type t)
{
    struct roster_state old = *st;
    unsigned bits = 0;
    switch (t) {
    case ROSTER_SUBSCRIBE:
        /* routed in every state: the contact's server answers for an existing subscription */
        if (!has(st->sub, STORE_SUB_TO))
            st->ask_out = true;
        bits = ROSTER_ROUTE;
        break;
    case ROSTER_SUBSCRIBED:
        if (st->ask_in) {
            st->sub |= STORE_SUB_FROM;
            st->ask_in = false;
            st->preapproved = false;
            bits = ROSTER_ROUTE;
        } else if (!has(st->sub, STORE_SUB_FROM)) {
            st->preapproved = true; /* §3.4: approved before being asked; not routed */
        }
        break;
    case ROSTER_UNSUBSCRIBE:
        st->sub &= ~STORE_SUB_TO;
        st->ask_out = false;
        bits = ROSTER_ROUTE;
        break;
    case ROSTER_UNSUBSCRIBED:
        if (has(st->sub, STORE_SUB_FROM) || st->ask_in)
            bits = ROSTER_ROUTE;
        st->sub &= ~STORE_SUB_FROM;
        st->ask_in = false;
        st->preapproved = false; /* §3.4: also cancels a pre-approval */
        break;
    }
    if (memcmp(&old, st, sizeof(old)) != 0)
        bits |= ROSTER_CHANGED;
    return bits;
}

unsigned roster_inbound(struct roster_state *st, enum roster_type t)
{
    struct roster_state old = *st;
    unsigned bits = 0;
    switch (t) {
    case ROSTER_SUBSCRIBE:
        if (has(st->sub, STORE_SUB_FROM)) {
            bits = ROSTER_AUTOREPLY;
        } else if (st->preapproved) {
            st->sub |= STORE_SUB_FROM;
            st->preapproved = false;
            bits = ROSTER_AUTOREPLY;
        } else if (!st->ask_in) {
            st->ask_in = true; /* kept, and delivered again at each login, until answered */
            bits = ROSTER_DELIVER;
        }
        break;
    case ROSTER_SUBSCRIBED:
        if (st->ask_out) {
            st->sub |= STORE_SUB_TO;
            st->ask_out = false;
            bits = ROSTER_DELIVER;
        }
        break;
    case ROSTER_UNSUBSCRIBE:
        if (has(st->sub, STORE_SUB_FROM) || st->ask_in) {
            st->sub &= ~STORE_SUB_FROM;
            st->ask_in = false;
            bits = ROSTER_DELIVER;
        }
        break;
    case ROSTER_UNSUBSCRIBED:
        if (has(st->sub, STORE_SUB_TO) || st->ask_out) {
            st->sub &= ~STORE_SUB_TO;
            st->ask_out = false;
            bits = ROSTER_DELIVER;
        }
        break;
    }
    if (memcmp(&old, st, sizeof(old)) != 0)
        bits |= ROSTER_CHANGED;
    return bits;
}

static struct roster_state state_of(const struct store_roster_item *it)
{
    struct roster_state st = {it->sub, it->ask_out, it->ask_in, it->preapproved};
    return st;
}

static void set_state(struct store_roster_item *it, const struct roster_state *st)
{
    it->sub = st->sub;
    it->ask_out = st->ask_out;
    it->ask_in = st->ask_in;
    it->preapproved = st->preapproved;
}

/* ---- effects: what a committed change does on the wire ---------------------------------- */

enum fx_kind { FX_PUSH, FX_DELIVER, FX_SHARE_ON, FX_SHARE_OFF };

struct fx {
    enum fx_kind kind;
    char *to;                      /* local part of the account the effect is for */
    char *from;                    /* FX_DELIVER: sender's bare JID; FX_SHARE_*: local part */
    char *xml;                     /* FX_DELIVER: the stanza */
    struct store_roster_item item; /* FX_PUSH: a copy of the row */
    bool removed;                  /* FX_PUSH: the item was removed */
};

/* the most one request produces: a removal touching both sides, an auto-approval */
#define FX_MAX 16

struct fx_list {
    size_t n;
    struct fx v[FX_MAX];
};

static struct fx *fx_add(struct fx_list *l, enum fx_kind kind, const char *to)
{
    if (l->n == FX_MAX) {
        log_error("roster: more than %d effects for one change; the rest are dropped", FX_MAX);
        return NULL;
    }
    struct fx *f = &l->v[l->n++];
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->to = xstrdup(to);
    return f;
}

static void fx_push(struct fx_list *l, const char *user, const struct store_roster_item *it,
                    bool removed)
{
    struct fx *f = fx_add(l, FX_PUSH, user);
    if (!f)
        return;
    f->item = *it;
    f->item.contact = xstrdup(it->contact);
    f->item.name = xstrdup(it->name ? it->name : "");
    f->item.groups = xstrdup(it->groups ? it->groups : "");
    f->item.in_stanza = NULL;
    f->removed = removed;
}

static void fx_text(struct fx_list *l, enum fx_kind kind, const char *to, const char *from,
                    const char *xml)
{
    struct fx *f = fx_add(l, kind, to);
    if (!f)
        return;
    f->from = xstrdup(from);
    f->xml = xml ? xstrdup(xml) : NULL;
}

static void fx_fini(struct fx_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].to);
        free(l->v[i].from);
        free(l->v[i].xml);
        store_roster_item_fini(&l->v[i].item);
    }
    l->n = 0;
}

static const char *sub_name(int sub)
{
    static const char *const names[] = {"none", "to", "from", "both"};
    return sub >= 0 && sub <= 3 ? names[sub] : "none";
}

/* Appends <item/> for it to query q. */
static void item_node(struct arena *a, struct xml_node *q, const struct store_roster_item *it,
                      bool removed)
{
    struct xml_node *item = xml_add_child(a, q, NS_ROSTER, "item");
    xml_set_attr(a, item, "jid", it->contact);
    if (removed) {
        xml_set_attr(a, item, "subscription", "remove");
        return;
    }
    if (it->name && it->name[0])
        xml_set_attr(a, item, "name", it->name);
    xml_set_attr(a, item, "subscription", sub_name(it->sub));
    if (it->ask_out)
        xml_set_attr(a, item, "ask", "subscribe");
    if (it->preapproved)
        xml_set_attr(a, item, "approved", "true");
    for (const char *g = it->groups; g && *g;) {
        const char *end = strchr(g, '\n');
        size_t len = end ? (size_t)(end - g) : strlen(g);
        xml_add_text(a, xml_add_child(a, item, NS_ROSTER, "group"), g, len);
        g = end ? end + 1 : g + len;
    }
}

static void ver_text(char *out, size_t cap, int64_t ver)
{
    snprintf(out, cap, "%" PRId64, ver);
}

/* Sends a roster push of it to every resource of user that requested the roster. */
static void push(struct worker *w, const char *user, const struct store_roster_item *it,
                 bool removed)
{
    struct jid bare;
    if (jid_from_parts(&bare, user, w->srv->domain, NULL) < 0)
        return;
    struct sess_addr *res = xmalloc(SESS_MAX_RESOURCES * sizeof(*res)); /* not zeroed: ~64 KiB */
    size_t n = sessions_list(w->srv->sessions, &bare, res, SESS_MAX_RESOURCES);
    if (n > SESS_MAX_RESOURCES)
        n = SESS_MAX_RESOURCES;
    struct arena a;
    arena_init(&a);
    struct xml_node *iq = xml_elem_new(&a, XML_NS_CLIENT, "iq");
    xml_set_attr(&a, iq, "type", "set");
    struct xml_node *q = xml_add_child(&a, iq, NS_ROSTER, "query");
    char ver[24];
    ver_text(ver, sizeof(ver), it->ver);
    xml_set_attr(&a, q, "ver", ver);
    item_node(&a, q, it, removed);
    for (size_t i = 0; i < n; i++) {
        if (!(res[i].flags & SESS_F_ROSTER))
            continue;
        char id[sizeof(PUSH_PREFIX) + 12] = PUSH_PREFIX, full[JID_BUF];
        rand_token(id + strlen(PUSH_PREFIX), 12);
        snprintf(full, sizeof(full), "%s@%s/%s", user, w->srv->domain, res[i].resource);
        xml_set_attr(&a, iq, "id", id);
        xml_set_attr(&a, iq, "to", full);
        struct chunk *ch = router_serialize(w, iq);
        if (ch)
            router_deliver(w, &res[i], ch);
        chunk_unref(ch);
    }
    arena_fini(&a);
    free(res);
}

static void fx_run(struct worker *w, struct fx_list *l)
{
    const char *domain = w->srv->domain;
    for (size_t i = 0; i < l->n; i++) {
        struct fx *f = &l->v[i];
        struct jid to, from;
        if (f->kind == FX_PUSH) {
            push(w, f->to, &f->item, f->removed);
            continue;
        }
        if (jid_from_parts(&to, f->to, domain, NULL) < 0)
            continue;
        if (f->kind == FX_DELIVER) {
            if (jid_parse(&from, f->from, strlen(f->from)) < 0)
                continue;
            struct chunk *ch = chunk_new(f->xml, strlen(f->xml));
            presence_deliver(w, &from, &to, ch);
            chunk_unref(ch);
        } else if (jid_from_parts(&from, f->from, domain, NULL) == 0) {
            presence_share(w, &from, &to, f->kind == FX_SHARE_ON);
            if (f->kind == FX_SHARE_ON) {
                char contact[JID_BUF];
                jid_bare(&to, contact, sizeof(contact));
                pep_subscribed(w, f->from, contact); /* XEP-0163 §4.3: last items */
            }
        }
    }
}

/* ---- storage-thread side of subscription changes ---------------------------------------- */

/* What the subscription logic needs on the storage thread. */
struct sub_ctx {
    struct store_db *db;
    const char *domain;
    unsigned max_items;
    struct fx_list *fx;
};

/* Loads user's row for contact, or a fresh hidden one; *exists says which. */
static int row_load(struct store_db *db, const char *user, const char *contact,
                    struct store_roster_item *it, bool *exists)
{
    int rc = store_roster_get(db, user, contact, it);
    *exists = rc == 0;
    if (rc != -ENOENT)
        return rc;
    it->contact = xstrdup(contact);
    it->name = xstrdup("");
    it->groups = xstrdup("");
    return 0;
}

/* Whether a hidden row holds nothing worth keeping. */
static bool row_empty(const struct store_roster_item *it)
{
    return !it->shown && it->sub == STORE_SUB_NONE && !it->ask_out && !it->ask_in &&
           !it->preapproved;
}

/* Writes a changed row (or deletes an empty hidden one) and pushes it if the user sees it. */
static int row_save(struct sub_ctx *c, const char *user, struct store_roster_item *it, bool exists)
{
    if (!it->ask_in) {
        free(it->in_stanza);
        it->in_stanza = NULL;
    }
    if (row_empty(it)) {
        int rc = exists ? store_roster_del(c->db, user, it->contact, NULL) : 0;
        return rc == -ENOENT ? 0 : rc;
    }
    int rc = store_roster_put(c->db, user, it);
    if (rc == 0 && it->shown)
        fx_push(c->fx, user, it, false);
    return rc;
}

/* Writes the local part of bare JID jid to out if it is an account JID of domain. */
static bool local_of(const char *jid, const char *domain, char *out, size_t cap)
{
    const char *at = strchr(jid, '@');
    if (!at || at == jid || strcmp(at + 1, domain) != 0 || (size_t)(at - jid) >= cap)
        return false;
    memcpy(out, jid, (size_t)(at - jid));
    out[at - jid] = '\0';
    return true;
}

static bool account_exists(struct store_db *db, const char *user, int *err)
{
    struct store_account acc;
    int rc = store_account_get(db, user, &acc);
    memset(&acc, 0, sizeof(acc));
    *err = rc == -ENOENT ? 0 : rc;
    return rc == 0;
}

/* The minimal stanza of type t from one bare JID to another. */
static char *synth(enum roster_type t, const char *from, const char *to)
{
    static const char *const names[] = {"subscribe", "subscribed", "unsubscribe", "unsubscribed"};
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "<presence type=\"");
    buf_puts(&b, names[t]);
    buf_puts(&b, "\" from=\"");
    xml_escape_attr(&b, from, strlen(from));
    buf_puts(&b, "\" to=\"");
    xml_escape_attr(&b, to, strlen(to));
    buf_puts(&b, "\"/>");
    char *s = xstrdup(b.data);
    buf_fini(&b);
    return s;
}

/*
 * Inbound: user (a local account) receives a stanza of type t from the bare
 * JID from (xml is the stanza as delivered). auto_ok: an automatic
 * subscribed may still be generated (it is, at most once per request).
 */
static int apply_in(struct sub_ctx *c, const char *user, const char *from, enum roster_type t,
                    const char *xml, bool auto_ok)
{
    struct store_roster_item row;
    bool exists;
    int rc = row_load(c->db, user, from, &row, &exists);
    if (rc)
        return rc;
    struct roster_state st = state_of(&row), old = st;
    unsigned bits = roster_inbound(&st, t);
    char from_local[STORE_USER_MAX + 1];
    bool from_here = local_of(from, c->domain, from_local, sizeof(from_local));
    if ((bits & ROSTER_CHANGED) && !exists) {
        /* a pending request of a stranger: hidden rows get the same room as the roster */
        int all = store_roster_count(c->db, user, false);
        int shown = all < 0 ? all : store_roster_count(c->db, user, true);
        if (shown < 0 || (unsigned)(all - shown) >= c->max_items) {
            store_roster_item_fini(&row);
            return shown < 0 ? shown : -EDQUOT;
        }
    }
    if (t == ROSTER_SUBSCRIBE && (bits & ROSTER_DELIVER)) {
        free(row.in_stanza);
        row.in_stanza = xstrdup(xml); /* for the logins to come */
    }
    if (bits & ROSTER_CHANGED) {
        set_state(&row, &st);
        rc = row_save(c, user, &row, exists);
    }
    if (rc == 0 && (bits & ROSTER_DELIVER))
        fx_text(c->fx, FX_DELIVER, user, from, xml);
    if (rc == 0 && from_here) {
        if (t == ROSTER_SUBSCRIBED && has(st.sub, STORE_SUB_TO) && !has(old.sub, STORE_SUB_TO))
            fx_text(c->fx, FX_SHARE_ON, user, from_local, NULL);
        if (t == ROSTER_UNSUBSCRIBED && has(old.sub, STORE_SUB_TO) && !has(st.sub, STORE_SUB_TO))
            fx_text(c->fx, FX_SHARE_OFF, user, from_local, NULL);
        if (t == ROSTER_UNSUBSCRIBE && has(old.sub, STORE_SUB_FROM) && !has(st.sub, STORE_SUB_FROM))
            fx_text(c->fx, FX_SHARE_OFF, from_local, user, NULL);
    }
    store_roster_item_fini(&row);
    if (rc == 0 && (bits & ROSTER_AUTOREPLY) && auto_ok && from_here) {
        char bare[JID_BUF];
        snprintf(bare, sizeof(bare), "%s@%s", user, c->domain);
        char *reply = synth(ROSTER_SUBSCRIBED, bare, from);
        rc = apply_in(c, from_local, bare, ROSTER_SUBSCRIBED, reply, false);
        free(reply);
    }
    return rc;
}

/*
 * Outbound: user sends a stanza of type t to the bare JID contact. A row
 * that becomes visible counts against roster.max_items (-ENOSPC past it).
 */
static int apply_out(struct sub_ctx *c, const char *user, const char *contact, enum roster_type t,
                     const char *xml)
{
    struct store_roster_item row;
    bool exists;
    int rc = row_load(c->db, user, contact, &row, &exists);
    if (rc)
        return rc;
    struct roster_state st = state_of(&row);
    unsigned bits = roster_outbound(&st, t);
    /* RFC 6121 §3.1.2, §3.1.5, §3.4: asking, approving and pre-approving put the item in the roster
     */
    bool show =
        (bits & ROSTER_CHANGED) && !row.shown && (t == ROSTER_SUBSCRIBE || t == ROSTER_SUBSCRIBED);
    if (show) {
        int n = store_roster_count(c->db, user, true);
        if (n < 0 || (unsigned)n >= c->max_items) {
            store_roster_item_fini(&row);
            return n < 0 ? n : -ENOSPC;
        }
        row.shown = true;
    }
    if (bits & ROSTER_CHANGED) {
        set_state(&row, &st);
        rc = row_save(c, user, &row, exists);
    }
    store_roster_item_fini(&row);
    char contact_local[STORE_USER_MAX + 1];
    if (rc || !(bits & ROSTER_ROUTE) ||
        !local_of(contact, c->domain, contact_local, sizeof(contact_local)))
        return rc; /* no server-to-server link: nothing goes to other domains */
    if (!account_exists(c->db, contact_local, &rc))
        return rc; /* RFC 6121 §8.5.1: ignored */
    char bare[JID_BUF];
    snprintf(bare, sizeof(bare), "%s@%s", user, c->domain);
    return apply_in(c, contact_local, bare, t, xml, true);
}

/* ---- subscription stanzas from clients ------------------------------------------------- */

struct sub_op {
    struct store_req r; /* first: the completion casts back */
    struct sub_ctx c;
    struct fx_list fx;
    uint64_t conn_id, ticket;
    enum roster_type type;
    char user[STORE_USER_MAX + 1];
    char *contact; /* bare JID */
    char *xml;     /* the stanza as routed: from and to bare */
};

static int sub_run(struct store_db *db, struct store_req *r)
{
    struct sub_op *op = (struct sub_op *)r;
    op->c.db = db;
    op->c.fx = &op->fx;
    return apply_out(&op->c, op->user, op->contact, op->type, op->xml);
}

/* Answers a refused subscription stanza with a presence error from the contact. */
static void presence_error(struct c2s *s, const char *contact, const char *type, const char *cond)
{
    struct arena a;
    arena_init(&a);
    char full[JID_BUF];
    jid_full(&s->jid, full, sizeof(full));
    struct xml_node *p = xml_elem_new(&a, XML_NS_CLIENT, "presence");
    xml_set_attr(&a, p, "from", contact);
    xml_set_attr(&a, p, "to", full);
    xml_set_attr(&a, p, "type", "error");
    struct xml_node *e = xml_add_child(&a, p, XML_NS_CLIENT, "error");
    xml_set_attr(&a, e, "type", type);
    xml_add_child(&a, e, XMPP_NS_STANZAS, cond);
    c2s_send_node(s, p);
    arena_fini(&a);
}

static void on_sub_done(struct mail *m, void *ctx)
{
    struct worker *w = ctx;
    struct sub_op *op = (struct sub_op *)m;
    struct c2s *s = c2s_find(w, op->conn_id);
    int status = op->r.status;
    if (status == 0) {
        fx_run(w, &op->fx);
    } else if (s) {
        if (status == -ENOSPC)
            presence_error(s, op->contact, "cancel", "not-allowed");
        else if (status == -EDQUOT)
            presence_error(s, op->contact, "cancel", "policy-violation");
        else
            presence_error(s, op->contact, "wait", "internal-server-error");
    }
    if (status < 0 && status != -ENOSPC && status != -EDQUOT)
        log_warn("roster: subscription change for %s failed: %s", op->user, strerror(-status));
    c2s_durable_done(w, op->conn_id, op->ticket);
    fx_fini(&op->fx);
    free(op->contact);
    free(op->xml);
    free(op);
}

/* Serializes p for delivery and storage, or the minimal stanza when it is too large. */
static char *stanza_text(struct worker *w, const struct xml_node *p, enum roster_type t,
                         const char *from, const char *to)
{
    struct buf *b = &w->out;
    buf_reset(b);
    if (xml_serialize(b, p, XML_NS_CLIENT) == 0 && b->len <= ROSTER_STANZA_MAX)
        return xstrdup(b->data);
    return synth(t, from, to);
}

void roster_subscription(struct c2s *s, struct xml_node *p, struct arena *a, const struct jid *to,
                         enum roster_type t)
{
    struct worker *w = s->w;
    char from[JID_BUF], contact[JID_BUF];
    jid_bare(&s->jid, from, sizeof(from));
    jid_bare(to, contact, sizeof(contact));
    /* RFC 6121 §3.1.2: subscription stanzas travel between bare JIDs */
    xml_set_attr(a, p, "from", from);
    xml_set_attr(a, p, "to", contact);
    struct sub_op *op;
    XNEW(op);
    roster_req_init(&op->r, w, on_sub_done, sub_run);
    op->c.domain = w->srv->domain;
    op->c.max_items = w->srv->conf->roster.max_items;
    op->conn_id = s->id;
    op->type = t;
    snprintf(op->user, sizeof(op->user), "%s", s->user);
    op->contact = xstrdup(contact);
    op->xml = stanza_text(w, p, t, from, contact);
    op->ticket = c2s_durable_hold(s);
    store_submit(w->srv->store, &op->r);
}

/* ---- jabber:iq:roster ------------------------------------------------------------------- */

/* The parts of the asking IQ an answer needs after the stanza's arena is gone. */
struct iq_ref {
    uint64_t conn_id;
    char *id;
    char *to; /* the IQ's 'to' (the answer's 'from'), NULL if none */
};

static void iq_ref_init(struct iq_ref *r, const struct mod_iq *q)
{
    const char *to = xml_attr(q->iq, "to");
    r->conn_id = q->s->id;
    r->id = xstrdup(xml_attr(q->iq, "id"));
    r->to = to ? xstrdup(to) : NULL;
}

static void iq_ref_fini(struct iq_ref *r)
{
    free(r->id);
    free(r->to);
}

/* A new <iq type=TYPE/> answering r, in arena a. */
static struct xml_node *iq_answer(struct arena *a, struct c2s *s, const struct iq_ref *r,
                                  const char *type)
{
    char full[JID_BUF];
    jid_full(&s->jid, full, sizeof(full));
    struct xml_node *iq = xml_elem_new(a, XML_NS_CLIENT, "iq");
    xml_set_attr(a, iq, "type", type);
    xml_set_attr(a, iq, "id", r->id);
    xml_set_attr(a, iq, "to", full);
    if (r->to)
        xml_set_attr(a, iq, "from", r->to);
    return iq;
}

static void answer_error(struct c2s *s, const struct iq_ref *r, const char *type, const char *cond)
{
    struct arena a;
    arena_init(&a);
    struct xml_node *iq = iq_answer(&a, s, r, "error");
    struct xml_node *e = xml_add_child(&a, iq, XML_NS_CLIENT, "error");
    xml_set_attr(&a, e, "type", type);
    xml_add_child(&a, e, XMPP_NS_STANZAS, cond);
    c2s_send_node(s, iq);
    arena_fini(&a);
}

static void answer_status(struct c2s *s, const struct iq_ref *r, int status)
{
    if (status == -ENOSPC)
        answer_error(s, r, "cancel", "not-allowed");
    else if (status == -ENOENT)
        answer_error(s, r, "cancel", "item-not-found");
    else
        answer_error(s, r, "wait", "internal-server-error");
}

/* roster get */

struct get_op {
    struct store_req r;
    struct iq_ref ref;
    char user[STORE_USER_MAX + 1];
    char *ver_in; /* the client's ver, NULL if it sent none */
    /* out */
    int64_t ver;
    bool same; /* the client's version is current: empty result */
    size_t n, cap;
    struct store_roster_item *items;
};

static int collect_shown(void *arg, const struct store_roster_item *it)
{
    struct get_op *op = arg;
    if (!it->shown)
        return 0;
    if (op->n == op->cap) {
        op->cap = op->cap ? 2 * op->cap : 16;
        op->items = xrealloc(op->items, op->cap * sizeof(*op->items));
    }
    struct store_roster_item *c = &op->items[op->n++];
    *c = *it;
    c->contact = xstrdup(it->contact);
    c->name = xstrdup(it->name);
    c->groups = xstrdup(it->groups);
    c->in_stanza = NULL;
    return 0;
}

static int get_run(struct store_db *db, struct store_req *r)
{
    struct get_op *op = (struct get_op *)r;
    int rc = store_roster_version(db, op->user, &op->ver);
    if (rc)
        return rc;
    char ver[24];
    ver_text(ver, sizeof(ver), op->ver);
    if (op->ver_in && strcmp(op->ver_in, ver) == 0) {
        op->same = true;
        return 0;
    }
    return store_roster_each(db, op->user, collect_shown, op);
}

static void on_get_done(struct mail *m, void *ctx)
{
    struct worker *w = ctx;
    struct get_op *op = (struct get_op *)m;
    struct c2s *s = c2s_find(w, op->ref.conn_id);
    if (s && op->r.status < 0) {
        log_warn("roster: reading the roster of %s failed: %s", op->user, strerror(-op->r.status));
        answer_status(s, &op->ref, op->r.status == -ENOENT ? -EIO : op->r.status);
    } else if (s) {
        /* from now on this resource gets pushes (RFC 6121 §2.1.6: an interested resource) */
        sessions_set_flags(w->srv->sessions, &s->jid, s->id, SESS_F_ROSTER, SESS_F_ROSTER);
        struct arena a;
        arena_init(&a);
        struct xml_node *iq = iq_answer(&a, s, &op->ref, "result");
        if (!op->same) {
            struct xml_node *q = xml_add_child(&a, iq, NS_ROSTER, "query");
            if (op->ver_in) {
                char ver[24];
                ver_text(ver, sizeof(ver), op->ver);
                xml_set_attr(&a, q, "ver", ver);
            }
            for (size_t i = 0; i < op->n; i++)
                item_node(&a, q, &op->items[i], false);
        }
        c2s_send_node(s, iq);
        arena_fini(&a);
    }
    for (size_t i = 0; i < op->n; i++)
        store_roster_item_fini(&op->items[i]);
    free(op->items);
    free(op->ver_in);
    iq_ref_fini(&op->ref);
    free(op);
}

static void roster_get(struct mod_iq *q)
{
    struct get_op *op;
    XNEW(op);
    roster_req_init(&op->r, q->s->w, on_get_done, get_run);
    iq_ref_init(&op->ref, q);
    snprintf(op->user, sizeof(op->user), "%s", q->s->user);
    const char *ver = xml_attr(q->payload, "ver");
    op->ver_in = ver ? xstrdup(ver) : NULL;
    store_submit(q->s->w->srv->store, &op->r);
}

/* roster set */

struct set_op {
    struct store_req r;
    struct iq_ref ref;
    struct sub_ctx c;
    struct fx_list fx;
    uint64_t ticket;
    char user[STORE_USER_MAX + 1];
    bool remove;
    struct store_roster_item in; /* contact, name, groups */
};

static int set_update(struct set_op *op)
{
    struct store_roster_item row;
    bool exists;
    int rc = row_load(op->c.db, op->user, op->in.contact, &row, &exists);
    if (rc)
        return rc;
    if (!row.shown) {
        int n = store_roster_count(op->c.db, op->user, true);
        if (n < 0 || (unsigned)n >= op->c.max_items) {
            store_roster_item_fini(&row);
            return n < 0 ? n : -ENOSPC;
        }
        row.shown = true;
    }
    free(row.name);
    free(row.groups);
    row.name = xstrdup(op->in.name);
    row.groups = xstrdup(op->in.groups);
    rc = store_roster_put(op->c.db, op->user, &row);
    if (rc == 0)
        fx_push(&op->fx, op->user, &row, false);
    store_roster_item_fini(&row);
    return rc;
}

/*
 * RFC 6121 §2.5.3: removing an item cancels both directions: unsubscribe if
 * the user had (or asked for) the contact's presence, unsubscribed if the
 * contact had (or asked for) the user's.
 */
static int set_remove(struct set_op *op)
{
    struct sub_ctx *c = &op->c;
    struct store_roster_item row;
    int rc = store_roster_get(c->db, op->user, op->in.contact, &row);
    if (rc == 0 && !row.shown)
        rc = -ENOENT;
    if (rc) {
        store_roster_item_fini(&row);
        return rc;
    }
    bool unsub = has(row.sub, STORE_SUB_TO) || row.ask_out;
    bool unsubd = has(row.sub, STORE_SUB_FROM) || row.ask_in;
    rc = store_roster_del(c->db, op->user, row.contact, &row.ver);
    if (rc == 0)
        fx_push(&op->fx, op->user, &row, true);
    char contact_local[STORE_USER_MAX + 1], bare[JID_BUF];
    snprintf(bare, sizeof(bare), "%s@%s", op->user, c->domain);
    bool here = local_of(row.contact, c->domain, contact_local, sizeof(contact_local));
    if (rc == 0 && here && (unsub || unsubd) && account_exists(c->db, contact_local, &rc)) {
        if (unsub) {
            char *x = synth(ROSTER_UNSUBSCRIBE, bare, row.contact);
            rc = apply_in(c, contact_local, bare, ROSTER_UNSUBSCRIBE, x, false);
            free(x);
        }
        if (rc == 0 && unsubd) {
            char *x = synth(ROSTER_UNSUBSCRIBED, bare, row.contact);
            rc = apply_in(c, contact_local, bare, ROSTER_UNSUBSCRIBED, x, false);
            free(x);
        }
    }
    store_roster_item_fini(&row);
    return rc;
}

static int set_run(struct store_db *db, struct store_req *r)
{
    struct set_op *op = (struct set_op *)r;
    op->c.db = db;
    op->c.fx = &op->fx;
    return op->remove ? set_remove(op) : set_update(op);
}

static void on_set_done(struct mail *m, void *ctx)
{
    struct worker *w = ctx;
    struct set_op *op = (struct set_op *)m;
    struct c2s *s = c2s_find(w, op->ref.conn_id);
    int status = op->r.status;
    if (status == 0)
        fx_run(w, &op->fx);
    else if (status != -ENOSPC && status != -ENOENT)
        log_warn("roster: changing the roster of %s failed: %s", op->user, strerror(-status));
    if (s && status == 0) {
        struct arena a;
        arena_init(&a);
        c2s_send_node(s, iq_answer(&a, s, &op->ref, "result"));
        arena_fini(&a);
    } else if (s) {
        answer_status(s, &op->ref, status);
    }
    c2s_durable_done(w, op->ref.conn_id, op->ticket);
    fx_fini(&op->fx);
    store_roster_item_fini(&op->in);
    iq_ref_fini(&op->ref);
    free(op);
}

/*
 * Checks the one <item/> of a roster set (RFC 6121 §2.3.3) and fills op.
 * Returns NULL when it is acceptable, else the error condition.
 */
static const char *parse_item(struct mod_iq *q, struct set_op *op)
{
    struct xml_node *item = xml_child(q->payload, NULL, NULL);
    if (!item || !xml_is(item, NS_ROSTER, "item") || xml_next(item, NULL, NULL))
        return "bad-request";
    const char *jid_s = xml_attr(item, "jid");
    struct jid j;
    if (!jid_s || jid_parse(&j, jid_s, strlen(jid_s)) < 0 || j.has_resource)
        return "bad-request";
    char bare[JID_BUF];
    jid_bare(&j, bare, sizeof(bare));
    const char *sub = xml_attr(item, "subscription");
    op->remove = sub && strcmp(sub, "remove") == 0; /* other values are ignored (§2.1.2.5) */
    const char *name = xml_attr(item, "name");
    if (name && strlen(name) > ROSTER_NAME_MAX)
        return "not-acceptable";
    struct buf groups;
    buf_init(&groups, 0);
    const char *names[ROSTER_GROUPS_MAX];
    size_t n = 0;
    const char *err = NULL;
    for (struct xml_node *g = xml_child(item, NS_ROSTER, "group"); g && !err;
         g = xml_next(g, NS_ROSTER, "group")) {
        const char *t = xml_text(q->a, g);
        size_t len = strlen(t);
        if (len == 0 || len > ROSTER_GROUP_MAX || strchr(t, '\n') || n == ROSTER_GROUPS_MAX) {
            err = "not-acceptable";
            break;
        }
        for (size_t i = 0; i < n && !err; i++)
            if (strcmp(names[i], t) == 0)
                err = "bad-request"; /* the same group twice */
        if (n)
            buf_puts(&groups, "\n");
        buf_puts(&groups, t);
        names[n++] = t;
    }
    if (!err) {
        op->in.contact = xstrdup(bare);
        op->in.name = xstrdup(name ? name : "");
        op->in.groups = xstrdup(groups.data ? groups.data : "");
    }
    buf_fini(&groups);
    return err;
}

static void roster_set(struct mod_iq *q)
{
    struct set_op *op;
    XNEW(op);
    const char *err = parse_item(q, op);
    if (err) {
        store_roster_item_fini(&op->in);
        free(op);
        c2s_send_node(q->s, stanza_error(q->a, q->iq, "modify", err));
        return;
    }
    struct worker *w = q->s->w;
    roster_req_init(&op->r, w, on_set_done, set_run);
    iq_ref_init(&op->ref, q);
    op->c.domain = w->srv->domain;
    op->c.max_items = w->srv->conf->roster.max_items;
    snprintf(op->user, sizeof(op->user), "%s", q->s->user);
    op->ticket = c2s_durable_hold(q->s);
    store_submit(w->srv->store, &op->r);
}

static void roster_iq(struct mod_iq *q)
{
    if (q->peer) {
        /* RFC 6121 §2.1.5: nobody reads or writes another account's roster */
        c2s_send_node(q->s, stanza_error(q->a, q->iq, "auth", "forbidden"));
        return;
    }
    if (!xml_is(q->payload, NS_ROSTER, "query")) {
        c2s_send_node(q->s, stanza_error(q->a, q->iq, "modify", "bad-request"));
        return;
    }
    if (strcmp(xml_attr(q->iq, "type"), "get") == 0)
        roster_get(q);
    else
        roster_set(q);
}

static void on_push_answer(struct c2s *s, struct xml_node *iq, struct arena *a)
{
    (void)s;
    (void)iq;
    (void)a; /* a client's answer to a push needs nothing more */
}

void mod_roster_init(void)
{
    mod_iq_register(NS_ROSTER, (enum mod_scope)(MOD_ACCOUNT | MOD_PEER), roster_iq);
    mod_iq_answer_register(PUSH_PREFIX, on_push_answer);
}
