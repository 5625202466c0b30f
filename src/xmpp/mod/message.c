/*
 * message: the route handler for <message/> (RFC 6121 §8.5) and what
 * decides, per message, where it goes and what is kept.
 *
 *   to a full JID that is bound      -> that session
 *   to a full JID that is not bound  -> chat/normal: as to the bare JID;
 *                                       headline, error: dropped;
 *                                       groupchat: service-unavailable
 *   to a bare JID                    -> chat/normal: the available resources
 *                                       of highest non-negative priority (all
 *                                       of them when several share it);
 *                                       headline: every available resource of
 *                                       non-negative priority; groupchat:
 *                                       service-unavailable; error: dropped
 *   nobody to take it                -> offline storage when the message is
 *                                       storable (XEP-0160/0334) and storage
 *                                       is on, else service-unavailable
 *
 * Whether the account exists is learnt only when a message would be
 * stored: the storage thread checks, and the sender then gets the same
 * service-unavailable an existing account with storage off would give
 * (RFC 6121 §8.5.2.2.1), so nothing tells the two apart.
 *
 * Every archived message gets a stanza-id (XEP-0359) by the recipient's
 * bare JID before it is serialized, so the live copy, the offline copy and
 * both archive rows carry the same id; stanza-ids a client put in with a
 * 'by' of this domain are removed first. Archive rows and the offline row
 * of one message are written by one storage request (one savepoint), and
 * the sender's session holds its stream-management acknowledgement until
 * that request committed (c2s_durable_hold / c2s_durable_done).
 */
#include "conf/conf.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/rand.h"
#include "store/store_msg.h"
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/mod/modules.h"
#include "xmpp/mod/msg.h"
#include "xmpp/router.h"
#include "xmpp/sessions.h"
#include "xmpp/stanza.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* no allocation per message: the resource lists live here, per thread (about 70 kB each) */
static _Thread_local struct sess_addr scratch[MSG_LIST_N][SESS_MAX_RESOURCES];

struct sess_addr *msg_resources(struct worker *w, enum msg_list which, const struct jid *jid,
                                size_t *n)
{
    size_t k = sessions_list(w->srv->sessions, jid, scratch[which], SESS_MAX_RESOURCES);
    *n = k > SESS_MAX_RESOURCES ? SESS_MAX_RESOURCES : k;
    return scratch[which];
}

/* ---- classification --------------------------------------------------------------------- */

static bool type_is(const char *type, const char *want)
{
    return type && strcmp(type, want) == 0;
}

void msg_classify(const struct xml_node *m, struct msg_info *i)
{
    memset(i, 0, sizeof(*i));
    const char *type = xml_attr(m, "type");
    i->type = type_is(type, "chat")        ? MSG_CHAT
              : type_is(type, "headline")  ? MSG_HEADLINE
              : type_is(type, "groupchat") ? MSG_GROUPCHAT
              : type_is(type, "error")     ? MSG_ERROR
                                           : MSG_NORMAL;
    bool state = false, other = false;
    for (struct xml_node *c = xml_child(m, NULL, NULL); c; c = xml_next(c, NULL, NULL)) {
        if (strcmp(c->ns, XML_NS_CLIENT) == 0) {
            if (strcmp(c->name, "body") == 0)
                i->body = true;
            else if (strcmp(c->name, "thread") != 0)
                other = true;
        } else if (strcmp(c->ns, NS_CHATSTATES) == 0) {
            state = true;
        } else if (strcmp(c->ns, NS_HINTS) == 0) {
            i->no_store |= strcmp(c->name, "no-store") == 0;
            i->no_perm_store |= strcmp(c->name, "no-permanent-store") == 0;
            i->store |= strcmp(c->name, "store") == 0;
            i->no_copy |= strcmp(c->name, "no-copy") == 0;
        } else if (strcmp(c->ns, NS_CARBONS) == 0) {
            i->private_ |= strcmp(c->name, "private") == 0;
        } else if (strcmp(c->ns, NS_SID) == 0) {
            /* origin-id and stanza-id say nothing about the content */
        } else {
            other = true;
            if (strcmp(c->ns, "urn:xmpp:receipts") == 0 ||
                strcmp(c->ns, "urn:xmpp:chat-markers:0") == 0)
                i->receipt = true;
            if (strcmp(c->ns, "urn:xmpp:message-retract:1") == 0 ||
                strcmp(c->ns, "urn:xmpp:message-retract:0") == 0 ||
                strcmp(c->ns, "urn:xmpp:reactions:0") == 0)
                i->keep = true;
        }
    }
    i->state_only = state && !i->body && !other;
}

bool msg_offline_ok(const struct msg_info *i)
{
    if (i->type != MSG_CHAT && i->type != MSG_NORMAL)
        return false;
    if (i->no_store)
        return false;
    return i->body || i->store || i->keep;
}

bool msg_archive_ok(const struct msg_info *i)
{
    if (i->type != MSG_CHAT && i->type != MSG_NORMAL)
        return false;
    if (i->no_store || i->no_perm_store)
        return false;
    return i->body || i->store || i->keep;
}

bool msg_carbon_ok(const struct msg_info *i)
{
    if (i->private_ || i->no_copy)
        return false;
    if (i->type == MSG_CHAT)
        return true;
    return i->type == MSG_NORMAL && (i->body || i->receipt);
}

/* ---- time ------------------------------------------------------------------------------- */

int64_t msg_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void msg_stamp(int64_t us, char *out, size_t cap)
{
    time_t sec = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us % 1000000));
}

/* Reads exactly n digits at *p into *v; advances *p. */
static bool digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return false;
        *v = *v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return true;
}

int msg_parse_stamp(const char *s, int64_t *us)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, se;
    const char *p = s;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d) || *p++ != 'T' || !digits(&p, 2, &h) || *p++ != ':' ||
        !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &se))
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -EINVAL;
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n < 6) {
                frac = frac * 10 + (*p - '0');
                n++;
            }
            p++;
        }
        if (n == 0)
            return -EINVAL;
        for (; n < 6; n++)
            frac *= 10;
    }
    int off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om))
            return -EINVAL;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return -EINVAL;
    }
    if (*p)
        return -EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    *us = ((int64_t)timegm(&tm) - off) * 1000000 + frac;
    return 0;
}

/* ---- storing ---------------------------------------------------------------------------- */

/* One routed message's storage: archive rows for either party and/or the offline row. */
struct msg_req {
    struct store_req r; /* first: the completion casts back */
    uint64_t conn_id, ticket;
    int64_t stamp; /* us */
    unsigned max_offline;
    bool offline, arch_from, arch_to;
    char sid[MSG_SID_LEN + 1];
    char *from_user, *from_bare, *from_res, *from_full;
    char *to_user, *to_bare, *to_res, *to_attr;
    char *id;  /* the message's id, for an error answer */
    char *xml; /* serialized with its namespace */
};

static void msg_req_free(struct msg_req *q)
{
    free(q->from_user);
    free(q->from_bare);
    free(q->from_res);
    free(q->from_full);
    free(q->to_user);
    free(q->to_bare);
    free(q->to_res);
    free(q->to_attr);
    free(q->id);
    free(q->xml);
    free(q);
}

static int archive_for(struct store_db *db, const char *user, const char *peer,
                       const char *peer_res, int dir, const struct msg_req *q)
{
    int want = store_archive_wants(db, user, peer);
    if (want <= 0)
        return want;
    struct store_arch a = {user, peer, peer_res, q->stamp, q->sid, dir, q->xml};
    int err = store_archive_add(db, &a);
    return err == -EEXIST ? 0 : err; /* the same message twice (self-message): kept once */
}

static int msg_run(struct store_db *db, struct store_req *r)
{
    struct msg_req *q = (struct msg_req *)r;
    int err;
    if (q->offline) {
        err = store_msg_user_exists(db, q->to_user);
        if (err <= 0)
            return err ? err : -ENOENT;
        /* the forms the sender's JID may be blocked by (XEP-0191 §3.1) */
        const char *dom = strchr(q->from_bare, '@') + 1;
        char dres[JID_BUF];
        snprintf(dres, sizeof(dres), "%s/%s", dom, q->from_res);
        const char *cands[] = {q->from_full, q->from_bare, dres, dom};
        err = store_blocked(db, q->to_user, cands, 4);
        if (err)
            return err < 0 ? err : -EACCES;
        err = store_offline_add(db, q->to_user, q->from_full, q->stamp, q->xml, q->max_offline);
        if (err)
            return err;
    }
    if (q->arch_to && (err = archive_for(db, q->to_user, q->from_bare, q->from_res, 0, q)) < 0)
        return err;
    if (q->arch_from && (err = archive_for(db, q->from_user, q->to_bare, q->to_res, 1, q)) < 0)
        return err;
    return 0;
}

static void on_msg_stored(struct mail *m, void *ctx)
{
    struct worker *w = ctx;
    struct msg_req *q = (struct msg_req *)m;
    int st = q->r.status;
    if (st == -ENOENT || st == -EACCES || st == -EDQUOT || st == -EIO) {
        if (st == -EIO)
            log_warn("message from %s to %s: not stored", q->from_full, q->to_attr);
        /* the same answer for each: nothing tells an account that exists */
        struct c2s *s = c2s_find(w, q->conn_id);
        if (s)
            msg_send_error(s, "message", q->id, q->to_attr, q->from_full,
                           st == -EIO ? "wait" : "cancel",
                           st == -EIO ? "internal-server-error" : "service-unavailable");
    }
    c2s_durable_done(w, q->conn_id, q->ticket);
    msg_req_free(q);
}

void msg_send_error(struct c2s *s, const char *name, const char *id, const char *from,
                    const char *to, const char *type, const char *cond)
{
    struct arena a;
    arena_init(&a);
    struct xml_node *e = xml_elem_new(&a, XML_NS_CLIENT, name);
    xml_set_attr(&a, e, "type", "error");
    xml_set_attr(&a, e, "id", id);
    xml_set_attr(&a, e, "from", from);
    xml_set_attr(&a, e, "to", to);
    struct xml_node *err = xml_add_child(&a, e, XML_NS_CLIENT, "error");
    xml_set_attr(&a, err, "type", type);
    xml_add_child(&a, err, XMPP_NS_STANZAS, cond);
    c2s_send_node(s, e);
    arena_fini(&a);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* Submits the storage of m (already stamped) and holds s's acknowledgement until it is done. */
static void store_message(struct c2s *s, struct xml_node *m, const struct jid *to, bool offline,
                          bool arch, const char *sid, const char *to_attr)
{
    const struct conf *cf = s->w->srv->conf;
    struct buf *b = &s->w->out;
    buf_reset(b);
    if (xml_serialize(b, m, "") < 0)
        return; /* over the output cap: cannot be, it was parsed within the stanza cap */
    struct msg_req *q;
    XNEW(q);
    q->xml = xmalloc(b->len + 1);
    memcpy(q->xml, b->data, b->len);
    q->xml[b->len] = '\0';
    char bare[JID_BUF], full[JID_BUF];
    jid_bare(&s->jid, bare, sizeof(bare));
    jid_full(&s->jid, full, sizeof(full));
    q->from_user = xstrdup(jid_local(&s->jid));
    q->from_bare = xstrdup(bare);
    q->from_res = xstrdup(jid_resource(&s->jid));
    q->from_full = xstrdup(full);
    jid_bare(to, bare, sizeof(bare));
    q->to_user = xstrdup(jid_local(to));
    q->to_bare = xstrdup(bare);
    q->to_res = xstrdup(jid_resource(to));
    q->to_attr = xstrdup(to_attr);
    q->id = dup_or_null(xml_attr(m, "id"));
    q->stamp = msg_now_us();
    q->offline = offline;
    q->max_offline = cf->offline.max_messages;
    bool self = jid_bare_eq(&s->jid, to);
    q->arch_to = arch;
    q->arch_from = arch && !self;
    snprintf(q->sid, sizeof(q->sid), "%s", sid ? sid : "");
    q->conn_id = s->id;
    q->ticket = c2s_durable_hold(s);
    q->r.mail.fn = on_msg_stored;
    q->r.reply = s->w->mb;
    q->r.op = STORE_RUN;
    q->r.run = msg_run;
    store_submit(s->w->srv->store, &q->r);
}

/* ---- routing ---------------------------------------------------------------------------- */

/* Removes stanza-ids a client put in that claim to come from this server or its accounts. */
static void strip_stanza_ids(struct xml_node *m, const char *domain)
{
    struct xml_node *c = xml_child(m, NS_SID, "stanza-id");
    while (c) {
        struct xml_node *next = xml_next(c, NS_SID, "stanza-id");
        const char *by = xml_attr(c, "by");
        struct jid j;
        if (!by || jid_parse(&j, by, strlen(by)) < 0 || strcmp(jid_domain(&j), domain) == 0)
            xml_remove(c);
        c = next;
    }
}

static void blocked_error(struct c2s *s, struct xml_node *m, struct arena *a)
{
    if (stanza_is_error(m))
        return;
    stanza_error(a, m, "cancel", "not-acceptable");
    xml_add_child(a, m->last_child, NS_BLOCK_ERR, "blocked");
    c2s_send_node(s, m);
}

/* The resources of res[0..n) that get a message of info's kind to the bare JID; returns count. */
static size_t pick_bare(const struct msg_info *info, struct sess_addr *res, size_t n)
{
    int best = -1;
    for (size_t i = 0; i < n; i++)
        if (res[i].available && res[i].priority > best)
            best = res[i].priority;
    size_t k = 0;
    for (size_t i = 0; best >= 0 && i < n; i++) {
        if (!res[i].available || res[i].priority < 0)
            continue;
        if (res[i].priority == best || info->type == MSG_HEADLINE)
            res[k++] = res[i];
    }
    return k;
}

static void route_message(struct c2s *s, struct xml_node *m, struct arena *a, const struct jid *to)
{
    struct server *srv = s->w->srv;
    struct msg_info info;
    msg_classify(m, &info);
    struct jid self;
    if (!to) {
        /* RFC 6120 §10.3.1: no 'to' is the sender's own account */
        jid_from_parts(&self, jid_local(&s->jid), jid_domain(&s->jid), NULL);
        to = &self;
    }
    if (!to->has_local) {
        router_error(s, m, a, "cancel", "service-unavailable");
        return;
    }
    bool is_error = info.type == MSG_ERROR;
    if (!is_error && mod_blocked(s->user, to)) {
        blocked_error(s, m, a); /* XEP-0191 §3.6: the sender blocks the recipient */
        return;
    }
    if (mod_blocked(jid_local(to), &s->jid)) {
        router_error(s, m, a, "cancel", "service-unavailable"); /* XEP-0191 §3.5 */
        return;
    }
    strip_stanza_ids(m, srv->domain);

    size_t n;
    struct sess_addr *res = msg_resources(s->w, MSG_LIST_ROUTE, to, &n);
    size_t k = 0; /* targets, moved to the front of res */
    bool direct = false;
    if (to->has_resource) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(res[i].resource, jid_resource(to)) == 0) {
                res[0] = res[i];
                k = 1;
                direct = true;
                break;
            }
        }
    }
    if (!direct) {
        /* RFC 6121 §8.5.3.2 (full JID not bound) and §8.5.2 (bare JID) */
        if (is_error || (info.type == MSG_HEADLINE && to->has_resource))
            return;
        if (info.type == MSG_GROUPCHAT) {
            router_error(s, m, a, "cancel", "service-unavailable");
            return;
        }
        k = pick_bare(&info, res, n);
    }
    bool offline = false;
    if (k == 0) {
        if (is_error || info.type == MSG_HEADLINE)
            return;
        if (!msg_offline_ok(&info) || srv->conf->offline.max_messages == 0) {
            router_error(s, m, a, "cancel", "service-unavailable");
            return;
        }
        offline = true;
    }
    bool arch = srv->conf->archive.enabled && msg_archive_ok(&info);
    char sid[MSG_SID_LEN + 1] = "";
    if (arch) {
        char bare[JID_BUF];
        jid_bare(to, bare, sizeof(bare));
        rand_token(sid, MSG_SID_LEN);
        struct xml_node *st = xml_add_child(a, m, NS_SID, "stanza-id");
        xml_set_attr(a, st, "by", bare);
        xml_set_attr(a, st, "id", sid);
    }
    const char *to_attr = xml_attr(m, "to");
    char to_buf[JID_BUF];
    if (!to_attr) {
        jid_bare(to, to_buf, sizeof(to_buf));
        to_attr = to_buf;
    }
    if (k > 0) {
        struct chunk *ch = router_serialize(s->w, m);
        if (ch) {
            if (msg_offline_ok(&info))
                ch->tag |= CHUNK_TAG_STORE;
            if (info.state_only)
                ch->tag |= CHUNK_TAG_LOW;
            for (size_t i = 0; i < k; i++)
                blocking_deliver(s->w, jid_local(to), &s->jid, &res[i], ch);
        }
        chunk_unref(ch);
    }
    if (msg_carbon_ok(&info) && !jid_bare_eq(&s->jid, to)) {
        uint64_t skip[SESS_MAX_RESOURCES];
        for (size_t i = 0; i < k; i++)
            skip[i] = res[i].conn_id;
        if (k > 0)
            carbons_copy(s->w, to, "received", &s->jid, m, a, skip, k);
        carbons_copy(s->w, &s->jid, "sent", NULL, m, a, &s->id, 1);
    }
    if (offline || arch)
        store_message(s, m, to, offline, arch, arch ? sid : NULL, to_attr);
}

void mod_message_init(void)
{
    mod_route_register("message", route_message);
    mod_feature(NS_SID, MOD_ACCOUNT);
}
