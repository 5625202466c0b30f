/*
 * blocking: XEP-0191 Blocking Command (urn:xmpp:blocking) — the block list
 * IQs, their pushes, and the answer to mod_blocked() for every worker.
 *
 * mod_blocked() must answer from memory, so each account with a bound
 * resource has an entry in one process-wide table (maps sharded by account,
 * each under its own mutex):
 * its block list, sorted, loaded from storage when its first resource is
 * bound and dropped when its last one ends. Accounts with no resource
 * online have no entry; what is stored for them (offline messages) is
 * checked against the stored list by the storage thread instead.
 *
 * The moment between the first bind and the end of the load: mod_blocked()
 * answers "not blocked" for presence and for the account's own outgoing
 * stanzas (its own client has not seen its list yet either), but messages
 * to the account's sessions are not decided then: blocking_deliver() holds
 * them in the entry and the load's completion delivers or drops them, so no
 * message from a blocked JID slips through. A block or unblock committed
 * while the list is loading marks the entry, and the load is run again.
 *
 * JIDs match as XEP-0191 §3.1 (privacy-list rules): an item blocks that
 * full JID, a bare JID all its resources, a domain everything at it.
 */
#include "core/alloc.h"
#include "core/log.h"
#include "core/map.h"
#include "core/rand.h"
#include "store/store_msg.h"
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/mod/modules.h"
#include "xmpp/mod/msg.h"
#include "xmpp/router.h"
#include "xmpp/stanza.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HELD_MAX 1000 /* messages held per account while its list loads */

/* a growable array of owned strings */
struct strv {
    size_t n, cap;
    char **v;
};

static void strv_push(struct strv *sv, const char *s)
{
    if (sv->n == sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 8;
        sv->v = xrealloc(sv->v, sv->cap * sizeof(char *));
    }
    sv->v[sv->n++] = xstrdup(s);
}

static int strv_collect(void *arg, const char *s)
{
    strv_push(arg, s);
    return 0;
}

static void strv_fini(struct strv *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    memset(sv, 0, sizeof(*sv));
}

struct held {
    struct held *next;
    struct chunk *ch;
    struct sess_addr addr;
    unsigned worker; /* where to deliver from: any worker can post */
    char from[];     /* the sender's full JID */
};

struct acct {
    unsigned refs; /* bound resources */
    uint64_t gen;  /* which load belongs to this entry */
    bool loaded;
    bool dirty;       /* changed while loading: load again */
    struct strv list; /* sorted (strcmp) */
    struct held *held, **held_tail;
    size_t n_held;
};

#define SHARDS 16 /* accounts hash to shards, each with its own lock */

static struct shard {
    pthread_mutex_t lock;
    struct map accts; /* user -> struct acct * */
} shards[SHARDS];
static atomic_uint_fast64_t next_gen;

/* Locks the shard of user (len bytes) and returns it. */
static struct shard *lock_shard(const char *user, size_t len)
{
    struct shard *sh = &shards[map_hash(user, len) % SHARDS];
    pthread_mutex_lock(&sh->lock);
    return sh;
}

/* per-session state (C2S_SLOT_MESSAGE): whether it asked for the list and gets pushes */
struct block_slot {
    bool requested;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has(const struct acct *e, const char *jid)
{
    return e->list.n && bsearch(&jid, e->list.v, e->list.n, sizeof(char *), cmp_str) != NULL;
}

/* Whether e's list blocks jid. Under lock. */
static bool list_blocks(const struct acct *e, const struct jid *j)
{
    if (!e->list.n)
        return false;
    char buf[JID_BUF];
    if (j->has_resource) {
        jid_full(j, buf, sizeof(buf));
        if (has(e, buf))
            return true;
        snprintf(buf, sizeof(buf), "%s/%s", jid_domain(j), jid_resource(j));
        if (has(e, buf))
            return true;
    }
    if (j->has_local) {
        jid_bare(j, buf, sizeof(buf));
        if (has(e, buf))
            return true;
    }
    return has(e, jid_domain(j));
}

static void add_item(struct acct *e, const char *jid)
{
    if (has(e, jid))
        return;
    strv_push(&e->list, jid);
    qsort(e->list.v, e->list.n, sizeof(char *), cmp_str);
}

static void drop_item(struct acct *e, const char *jid)
{
    struct strv *l = &e->list;
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i], jid) == 0) {
            free(l->v[i]);
            memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(char *));
            l->n--;
            return;
        }
    }
}

static void held_free(struct held *h)
{
    while (h) {
        struct held *next = h->next;
        chunk_unref(h->ch);
        free(h);
        h = next;
    }
}

static bool blocked(const char *user, const struct jid *jid)
{
    struct shard *sh = lock_shard(user, strlen(user));
    struct acct *e = map_get(&sh->accts, user, strlen(user));
    bool out = e && e->loaded && list_blocks(e, jid);
    pthread_mutex_unlock(&sh->lock);
    return out;
}

bool blocking_deliver(struct worker *w, const char *user, const struct jid *from,
                      const struct sess_addr *addr, struct chunk *ch)
{
    struct shard *sh = lock_shard(user, strlen(user));
    struct acct *e = map_get(&sh->accts, user, strlen(user));
    if (e && !e->loaded) {
        if (e->n_held < HELD_MAX) {
            char fj[JID_BUF];
            int len = jid_full(from, fj, sizeof(fj));
            struct held *h = xcalloc(1, sizeof(*h) + (size_t)len + 1);
            memcpy(h->from, fj, (size_t)len + 1);
            h->ch = chunk_ref(ch);
            h->addr = *addr;
            *e->held_tail = h;
            e->held_tail = &h->next;
            e->n_held++;
        } else {
            log_warn("%s: too many messages wait for the block list; one is dropped", user);
        }
        pthread_mutex_unlock(&sh->lock);
        return true;
    }
    bool drop = e && list_blocks(e, from);
    pthread_mutex_unlock(&sh->lock);
    if (!drop)
        router_deliver(w, addr, ch);
    return !drop;
}

/* ---- loading ---------------------------------------------------------------------------- */

struct load_req {
    struct store_req r;
    uint64_t gen;
    struct strv list;
    char user[];
};

static int load_run(struct store_db *db, struct store_req *r)
{
    struct load_req *q = (struct load_req *)r;
    return store_block_list(db, q->user, strv_collect, &q->list);
}

static void submit_load(struct worker *w, const char *user, uint64_t gen);

static void on_loaded(struct mail *m, void *ctx)
{
    struct worker *w = ctx;
    struct load_req *q = (struct load_req *)m;
    struct held *held = NULL;
    bool again = false;
    struct shard *sh = lock_shard(q->user, strlen(q->user));
    struct acct *e = map_get(&sh->accts, q->user, strlen(q->user));
    if (e && e->gen == q->gen && !e->loaded) {
        if (e->dirty && q->r.status == 0) {
            e->dirty = false;
            again = true;
        } else {
            if (q->r.status != 0)
                log_error("%s: block list not loaded (%s); nothing is blocked for now", q->user,
                          strerror(-q->r.status));
            strv_fini(&e->list);
            e->list = q->list;
            memset(&q->list, 0, sizeof(q->list));
            if (e->list.n > 1)
                qsort(e->list.v, e->list.n, sizeof(char *), cmp_str);
            e->loaded = true;
            /* decide the held messages under the lock; deliver them after it */
            struct held **pp = &e->held;
            while (*pp) {
                struct held *h = *pp;
                struct jid from;
                if (jid_parse(&from, h->from, strlen(h->from)) == 0 && list_blocks(e, &from)) {
                    *pp = h->next;
                    h->next = NULL;
                    held_free(h);
                } else {
                    pp = &h->next;
                }
            }
            held = e->held;
            e->held = NULL;
            e->held_tail = &e->held;
            e->n_held = 0;
        }
    }
    pthread_mutex_unlock(&sh->lock);
    for (struct held *h = held; h; h = h->next)
        router_deliver(w, &h->addr, h->ch);
    held_free(held);
    if (again)
        submit_load(w, q->user, q->gen);
    strv_fini(&q->list);
    free(q);
}

static void submit_load(struct worker *w, const char *user, uint64_t gen)
{
    size_t len = strlen(user);
    struct load_req *q = xcalloc(1, sizeof(*q) + len + 1);
    memcpy(q->user, user, len + 1);
    q->gen = gen;
    q->r.mail.fn = on_loaded;
    q->r.reply = w->mb;
    q->r.op = STORE_RUN;
    q->r.run = load_run;
    store_submit(w->srv->store, &q->r);
}

static void on_bound(struct c2s *s)
{
    const char *user = jid_local(&s->jid);
    size_t len = strlen(user);
    uint64_t gen = 0;
    struct shard *sh = lock_shard(user, len);
    struct acct *e = map_get(&sh->accts, user, len);
    if (e) {
        e->refs++;
    } else {
        e = xcalloc(1, sizeof(*e));
        e->refs = 1;
        e->gen = gen = atomic_fetch_add(&next_gen, 1) + 1;
        e->held_tail = &e->held;
        map_put(&sh->accts, user, len, e);
    }
    pthread_mutex_unlock(&sh->lock);
    if (gen)
        submit_load(s->w, user, gen);
}

static void on_unbound(struct c2s *s)
{
    free(s->slot[C2S_SLOT_MESSAGE]);
    s->slot[C2S_SLOT_MESSAGE] = NULL;
    const char *user = jid_local(&s->jid);
    size_t len = strlen(user);
    struct acct *dead = NULL;
    struct shard *sh = lock_shard(user, len);
    struct acct *e = map_get(&sh->accts, user, len);
    if (e && --e->refs == 0)
        dead = map_del(&sh->accts, user, len);
    pthread_mutex_unlock(&sh->lock);
    if (dead) {
        strv_fini(&dead->list);
        held_free(dead->held);
        free(dead);
    }
}

/* ---- the IQs ---------------------------------------------------------------------------- */

struct block_req {
    struct store_req r;
    uint64_t conn_id;
    enum { OP_GET, OP_BLOCK, OP_UNBLOCK } op;
    char *user;
    char *id, *iq_to;  /* the IQ's id and 'to' (may be NULL), for the answer */
    struct strv items; /* in: the items; out for OP_GET; OP_UNBLOCK with none: all */
};

static void block_req_free(struct block_req *q)
{
    strv_fini(&q->items);
    free(q->user);
    free(q->id);
    free(q->iq_to);
    free(q);
}

static int block_run(struct store_db *db, struct store_req *r)
{
    struct block_req *q = (struct block_req *)r;
    switch (q->op) {
    case OP_GET:
        return store_block_list(db, q->user, strv_collect, &q->items);
    case OP_BLOCK:
        for (size_t i = 0; i < q->items.n; i++) {
            int err = store_block_add(db, q->user, q->items.v[i]);
            if (err)
                return err;
        }
        return 0;
    case OP_UNBLOCK:
        if (q->items.n == 0) {
            int err = store_block_del(db, q->user, NULL);
            return err < 0 ? err : 0;
        }
        for (size_t i = 0; i < q->items.n; i++) {
            int err = store_block_del(db, q->user, q->items.v[i]);
            if (err < 0)
                return err;
        }
        return 0;
    }
    return -EINVAL;
}

/* Adds <item jid=.../> for each of q's JIDs to parent. */
static void add_items(struct arena *a, struct xml_node *parent, const struct block_req *q)
{
    for (size_t i = 0; i < q->items.n; i++)
        xml_set_attr(a, xml_add_child(a, parent, NS_BLOCKING, "item"), "jid", q->items.v[i]);
}

struct push_mail {
    struct mail mail;
    uint64_t conn_id;
    struct chunk *ch;
};

static void on_push_mail(struct mail *m, void *ctx)
{
    struct push_mail *p = (struct push_mail *)m;
    struct c2s *s = c2s_find(ctx, p->conn_id);
    struct block_slot *slot = s ? s->slot[C2S_SLOT_MESSAGE] : NULL;
    if (slot && slot->requested)
        c2s_send_chunk(s, p->ch);
    chunk_unref(p->ch);
    free(p);
}

/* Sends the push (XEP-0191 §3.3) to each resource of the account that asked for the list. */
static void push(struct worker *w, const struct block_req *q)
{
    struct arena a;
    arena_init(&a);
    char bare[JID_BUF], id[17];
    snprintf(bare, sizeof(bare), "%s@%s", q->user, w->srv->domain);
    struct jid owner;
    if (jid_parse(&owner, bare, strlen(bare)) < 0)
        goto out;
    size_t n;
    struct sess_addr *res = msg_resources(w, MSG_LIST_AUX, &owner, &n);
    for (size_t i = 0; i < n; i++) {
        struct xml_node *iq = xml_elem_new(&a, XML_NS_CLIENT, "iq");
        char full[2 * JID_BUF];
        snprintf(full, sizeof(full), "%s/%s", bare, res[i].resource);
        rand_token(id, 16);
        xml_set_attr(&a, iq, "type", "set");
        xml_set_attr(&a, iq, "to", full);
        xml_set_attr(&a, iq, "id", id);
        struct xml_node *p =
            xml_add_child(&a, iq, NS_BLOCKING, q->op == OP_BLOCK ? "block" : "unblock");
        add_items(&a, p, q);
        struct chunk *ch = router_serialize(w, iq);
        if (!ch)
            continue;
        struct push_mail *pm;
        XNEW(pm);
        pm->mail.fn = on_push_mail;
        pm->conn_id = res[i].conn_id;
        pm->ch = ch;
        mailbox_post(w->srv->workers[res[i].worker].mb, &pm->mail);
    }
out:
    arena_fini(&a);
}

/* Applies a committed change to the account's entry (or marks it to be loaded again). */
static void apply(const struct block_req *q)
{
    struct shard *sh = lock_shard(q->user, strlen(q->user));
    struct acct *e = map_get(&sh->accts, q->user, strlen(q->user));
    if (e && !e->loaded) {
        e->dirty = true;
    } else if (e) {
        if (q->op == OP_UNBLOCK && q->items.n == 0)
            strv_fini(&e->list);
        for (size_t i = 0; i < q->items.n; i++) {
            if (q->op == OP_BLOCK)
                add_item(e, q->items.v[i]);
            else
                drop_item(e, q->items.v[i]);
        }
    }
    pthread_mutex_unlock(&sh->lock);
}

/* XEP-0191 §3.3: a newly blocked contact on this server sees the account's resources go. */
static void send_unavailable(struct worker *w, const struct block_req *q)
{
    struct arena a;
    arena_init(&a);
    char bare[JID_BUF];
    snprintf(bare, sizeof(bare), "%s@%s", q->user, w->srv->domain);
    struct jid owner;
    size_t n_mine = 0;
    struct sess_addr *mine = NULL;
    if (jid_parse(&owner, bare, strlen(bare)) == 0)
        mine = msg_resources(w, MSG_LIST_AUX, &owner, &n_mine);
    for (size_t i = 0; i < q->items.n; i++) {
        struct jid c;
        if (jid_parse(&c, q->items.v[i], strlen(q->items.v[i])) < 0 || !c.has_local ||
            strcmp(jid_domain(&c), w->srv->domain) != 0)
            continue;
        size_t n;
        struct sess_addr *theirs = msg_resources(w, MSG_LIST_COPY, &c, &n);
        for (size_t k = 0; k < n; k++) {
            if (c.has_resource && strcmp(theirs[k].resource, jid_resource(&c)) != 0)
                continue;
            for (size_t j = 0; j < n_mine; j++) {
                if (!mine[j].available)
                    continue;
                char from[2 * JID_BUF], to[3 * JID_BUF];
                snprintf(from, sizeof(from), "%s/%s", bare, mine[j].resource);
                snprintf(to, sizeof(to), "%s@%s/%s", jid_local(&c), jid_domain(&c),
                         theirs[k].resource);
                struct xml_node *p = xml_elem_new(&a, XML_NS_CLIENT, "presence");
                xml_set_attr(&a, p, "type", "unavailable");
                xml_set_attr(&a, p, "from", from);
                xml_set_attr(&a, p, "to", to);
                struct chunk *ch = router_serialize(w, p);
                if (ch) {
                    ch->tag |= CHUNK_TAG_LOW;
                    router_deliver(w, &theirs[k], ch);
                }
                chunk_unref(ch);
            }
        }
    }
    arena_fini(&a);
}

static void on_block_done(struct mail *m, void *ctx)
{
    struct worker *w = ctx;
    struct block_req *q = (struct block_req *)m;
    int st = q->r.status;
    if (st == 0 && q->op != OP_GET) {
        apply(q);
        push(w, q);
        if (q->op == OP_BLOCK)
            send_unavailable(w, q);
    }
    struct c2s *s = c2s_find(w, q->conn_id);
    if (s && st != 0) {
        msg_send_error(s, "iq", q->id, q->iq_to, NULL, st == -ENOSPC ? "wait" : "cancel",
                       st == -ENOSPC ? "resource-constraint" : "internal-server-error");
    } else if (s) {
        struct arena a;
        arena_init(&a);
        struct xml_node *iq = xml_elem_new(&a, XML_NS_CLIENT, "iq");
        xml_set_attr(&a, iq, "type", "result");
        xml_set_attr(&a, iq, "id", q->id);
        xml_set_attr(&a, iq, "from", q->iq_to);
        if (q->op == OP_GET) {
            add_items(&a, xml_add_child(&a, iq, NS_BLOCKING, "blocklist"), q);
            struct block_slot *slot = s->slot[C2S_SLOT_MESSAGE];
            if (!slot)
                s->slot[C2S_SLOT_MESSAGE] = slot = xcalloc(1, sizeof(*slot));
            slot->requested = true;
        }
        c2s_send_node(s, iq);
        arena_fini(&a);
    }
    block_req_free(q);
}

static void blocking_iq(struct mod_iq *q)
{
    const char *type = xml_attr(q->iq, "type");
    const char *name = q->payload->name;
    bool get = strcmp(type, "get") == 0;
    int op = get && strcmp(name, "blocklist") == 0  ? OP_GET
             : !get && strcmp(name, "block") == 0   ? OP_BLOCK
             : !get && strcmp(name, "unblock") == 0 ? OP_UNBLOCK
                                                    : -1;
    if (op < 0) {
        c2s_send_node(q->s, stanza_error(q->a, q->iq, "modify", "bad-request"));
        return;
    }
    struct block_req *r = xcalloc(1, sizeof(*r));
    r->op = op;
    if (op != OP_GET) {
        for (struct xml_node *it = xml_child(q->payload, NS_BLOCKING, "item"); it;
             it = xml_next(it, NS_BLOCKING, "item")) {
            const char *v = xml_attr(it, "jid");
            struct jid j;
            char norm[JID_BUF];
            if (!v || jid_parse(&j, v, strlen(v)) < 0 || r->items.n >= STORE_BLOCK_MAX) {
                block_req_free(r);
                c2s_send_node(
                    q->s, stanza_error(q->a, q->iq, "modify", v ? "jid-malformed" : "bad-request"));
                return;
            }
            jid_full(&j, norm, sizeof(norm));
            strv_push(&r->items, norm);
        }
        if (op == OP_BLOCK && r->items.n == 0) {
            block_req_free(r); /* §3.3: a block with no item is bad */
            c2s_send_node(q->s, stanza_error(q->a, q->iq, "modify", "bad-request"));
            return;
        }
    }
    r->user = xstrdup(q->s->user);
    r->id = xstrdup(xml_attr(q->iq, "id"));
    const char *iq_to = xml_attr(q->iq, "to");
    r->iq_to = iq_to ? xstrdup(iq_to) : NULL;
    r->conn_id = q->s->id;
    r->r.mail.fn = on_block_done;
    r->r.reply = q->s->w->mb;
    r->r.op = STORE_RUN;
    r->r.run = block_run;
    store_submit(q->s->w->srv->store, &r->r);
}

void mod_blocking_init(void)
{
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&shards[i].lock, NULL);
        map_init(&shards[i].accts);
    }
    mod_iq_register(NS_BLOCKING, MOD_BOTH, blocking_iq);
    mod_feature(NS_BLOCKING, MOD_SERVER);
    mod_blocked_register(blocked);
    mod_on(MOD_EV_BOUND, on_bound);
    mod_on(MOD_EV_UNBOUND, on_unbound);
}
