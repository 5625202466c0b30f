/*
 * pep: Personal Eventing Protocol (XEP-0163), the subset of Publish-Subscribe
 * (XEP-0060) that clients use on their own account: avatars (XEP-0084),
 * nicknames (XEP-0172), OMEMO device lists and bundles (XEP-0384),
 * bookmarks (XEP-0402, and XEP-0048 stored through PEP).
 *
 * Every account's bare JID is a PEP service. The owner publishes (a node is
 * created on first publish, configured by publish-options when given),
 * retracts, reads, creates, configures and deletes nodes; others read items
 * if the node's access model lets them:
 *
 *   open       anyone
 *   presence   contacts with a subscription from or both to the owner's presence
 *   roster     treated like presence (roster groups are not modelled)
 *   whitelist  the owner only
 *
 * Subscriptions are implicit (XEP-0163 §4): a resource gets the events of a
 * node when its entity capabilities (XEP-0115, followed through presence)
 * list NODE+notify and it may see the node: the owner's own resources and
 * the available resources of contacts with a presence subscription. Events
 * are headline messages tagged CHUNK_TAG_LOW, so an inactive client (CSI)
 * may get them later. When a resource's +notify set becomes known (at its
 * available presence, after caps discovery), it gets the newest item of
 * each node it is interested in, unless the node says
 * send_last_published_item never.
 *
 * Limits: pep.max_nodes per account (resource-constraint), pep.max_items
 * per node (a node may ask for fewer; asking for more is policy-violation),
 * pep.max_item_size bytes per serialized payload (not-acceptable).
 * publish-options that do not match an existing node's configuration are
 * refused with conflict/precondition-not-met; fields other than
 * access_model, max_items, persist_items and send_last_published_item are
 * ignored. Explicit subscriptions (subscribe/unsubscribe) are not offered.
 *
 * Threads: IQ handlers run on the asker's worker and hand the work to the
 * storage thread (iqjob.h); events fan out from the publisher's worker to
 * each target session through router-style mailbox posts, and the target
 * worker checks that session's +notify set before queueing.
 */
#include "xmpp/mod/pep.h"
#include "conf/conf.h"
#include "core/alloc.h"
#include "core/chunk.h"
#include "core/log.h"
#include "core/rand.h"
#include "store/store_blob.h"
#include "store/store_roster.h"
#include "xmpp/c2s.h"
#include "xmpp/mod/caps.h"
#include "xmpp/mod/iqjob.h"
#include "xmpp/mod/modules.h"
#include "xmpp/router.h"
#include "xmpp/sessions.h"
#include "xmpp/stanza.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_PUBSUB       "http://jabber.org/protocol/pubsub"
#define NS_PUBSUB_OWNER NS_PUBSUB "#owner"
#define NS_PUBSUB_EVENT NS_PUBSUB "#event"
#define NS_PUBSUB_ERR   NS_PUBSUB "#errors"
#define NS_NODE_CONFIG  NS_PUBSUB "#node_config"
#define NS_PUBLISH_OPTS NS_PUBSUB "#publish-options"
#define NS_DISCO_INFO   "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS  "http://jabber.org/protocol/disco#items"
#define NS_DATA         "jabber:x:data"
#define NS_DELAY        "urn:xmpp:delay"

#define PEP_ANSWER_MAX  (1024 * 1024) /* bytes of items in one answer; older ones are left out */
#define PEP_TARGETS_MAX 4096          /* contacts one event goes to */
#define PEP_LAST_MAX    1024          /* newest items sent to a resource coming online */
#define PEP_NOTIFY_MAX  8192          /* bytes of one resource's +notify node list */
#define PEP_IDS_MAX     64            /* item ids in one items request */
#define CAPS_QUERY      "pepcaps-"    /* id prefix of our disco#info queries */

/* ---- node options ------------------------------------------------------------------------ */

struct pep_opts {
    bool has_access, has_max, has_persist, has_send_last;
    char access[16];
    unsigned max_items;
    bool persist, send_last;
};

static const char *const access_models[] = {"open", "presence", "roster", "whitelist"};

static bool is_true(const char *v)
{
    return strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
}

static bool is_bool(const char *v)
{
    return is_true(v) || strcmp(v, "0") == 0 || strcmp(v, "false") == 0;
}

/*
 * Reads the node options of a data form (publish-options, node_config).
 * Returns 0, -EINVAL for a bad value, or -E2BIG for max_items over cap.
 */
static int parse_form(struct arena *a, const struct xml_node *x, unsigned cap, struct pep_opts *o)
{
    for (const struct xml_node *f = xml_child(x, NS_DATA, "field"); f;
         f = xml_next(f, NS_DATA, "field")) {
        const char *var = xml_attr(f, "var");
        const char *v = xml_text(a, xml_child(f, NS_DATA, "value"));
        if (!var)
            continue;
        if (strcmp(var, "pubsub#access_model") == 0) {
            bool known = false;
            for (size_t i = 0; i < 4; i++)
                known = known || strcmp(v, access_models[i]) == 0;
            if (!known)
                return -EINVAL;
            o->has_access = true;
            snprintf(o->access, sizeof(o->access), "%s", v);
        } else if (strcmp(var, "pubsub#max_items") == 0) {
            char *end;
            unsigned long n = strcmp(v, "max") == 0 ? cap : strtoul(v, &end, 10);
            if (strcmp(v, "max") != 0 && (!*v || *end || v[0] == '-' || n == 0))
                return -EINVAL;
            if (n > cap)
                return -E2BIG;
            o->has_max = true;
            o->max_items = (unsigned)n;
        } else if (strcmp(var, "pubsub#persist_items") == 0) {
            if (!is_bool(v))
                return -EINVAL;
            o->has_persist = true;
            o->persist = is_true(v);
        } else if (strcmp(var, "pubsub#send_last_published_item") == 0) {
            if (strcmp(v, "never") != 0 && strcmp(v, "on_sub") != 0 &&
                strcmp(v, "on_sub_and_presence") != 0)
                return -EINVAL;
            o->has_send_last = true;
            o->send_last = strcmp(v, "never") != 0;
        }
    }
    return 0;
}

/* Applies the options that were given to cfg. */
static void apply_opts(struct store_pep_node *cfg, const struct pep_opts *o)
{
    if (o->has_access)
        snprintf(cfg->access, sizeof(cfg->access), "%s", o->access);
    if (o->has_max)
        cfg->max_items = o->max_items;
    if (o->has_persist)
        cfg->persist = o->persist;
    if (o->has_send_last)
        cfg->send_last = o->send_last;
}

/* Whether an existing node's configuration matches the publish-options given. */
static bool preconditions_met(const struct store_pep_node *cfg, const struct pep_opts *o)
{
    return (!o->has_access || strcmp(cfg->access, o->access) == 0) &&
           (!o->has_max || cfg->max_items == o->max_items) &&
           (!o->has_persist || cfg->persist == o->persist) &&
           (!o->has_send_last || cfg->send_last == o->send_last);
}

static void default_node(struct store_pep_node *cfg, const char *node)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->node, sizeof(cfg->node), "%s", node);
    snprintf(cfg->access, sizeof(cfg->access), "presence");
    cfg->max_items = 1;
    cfg->persist = true;
    cfg->send_last = true;
}

/* ---- jobs ----------------------------------------------------------------------------------- */

enum pep_op {
    OP_PUBLISH,
    OP_RETRACT,
    OP_ITEMS,
    OP_CREATE,
    OP_DELETE,
    OP_CONF_GET,
    OP_CONF_SET,
    OP_NODES,
    OP_NODE_INFO,
    OP_ACCOUNT_INFO,
    OP_LAST,
    OP_APPROVED,
};

/* OP_APPROVED: one newest item, as the <event/> to send. */
struct pep_out {
    char *node;
    char *inner;
    int64_t stamp;
};

struct pep_job {
    struct iqjob j;
    enum pep_op op;
    char owner[STORE_USER_MAX + 1]; /* the service's account (local part) */
    char *asker;                    /* the asker's bare JID */
    char *domain;
    bool self; /* the asker is the owner */
    char node[STORE_PEP_NODE_MAX + 1];
    char item[STORE_PEP_ID_MAX + 1];
    char *xml; /* publish: the payload */
    struct pep_opts opts;
    bool items_query; /* OP_NODE_INFO: for disco#items */
    unsigned max_nodes, max_items_cap;
    unsigned max; /* items: max_items, 0 all */
    char *ids[PEP_IDS_MAX];
    size_t n_ids;
    bool notify;       /* retract: tell subscribers */
    char *notify_set;  /* OP_LAST: the resource's +notify nodes */
    size_t notify_len; /* bytes of notify_set */
    /* out */
    struct store_pep_node cfg;
    struct buf out; /* items / nodes / messages, serialized */
    size_t *ends;   /* OP_LAST: where each message in out ends */
    size_t n_ends;
    char **targets; /* bare JIDs the event goes to, besides the owner */
    size_t n_targets;
    struct pep_out *outs; /* OP_APPROVED */
    size_t n_outs;
    struct store_db *db;                 /* during run only (storage thread) */
    char last_owner[STORE_USER_MAX + 1]; /* OP_LAST: the owner blocked is about */
    int blocked;                         /* whether last_owner blocks the resource */
};

static void job_fini(struct iqjob *j)
{
    struct pep_job *p = (struct pep_job *)j;
    free(p->asker);
    free(p->domain);
    free(p->xml);
    for (size_t i = 0; i < p->n_ids; i++)
        free(p->ids[i]);
    free(p->notify_set);
    buf_fini(&p->out);
    free(p->ends);
    for (size_t i = 0; i < p->n_targets; i++)
        free(p->targets[i]);
    free(p->targets);
    for (size_t i = 0; i < p->n_outs; i++) {
        free(p->outs[i].node);
        free(p->outs[i].inner);
    }
    free(p->outs);
}

static void orphan(struct worker *w, struct iqjob *j);

static struct pep_job *job_new(struct c2s *s, enum pep_op op, const struct jid *service)
{
    struct pep_job *p;
    XNEW(p);
    p->j.fini = job_fini;
    p->j.orphan = orphan; /* events go out even if the publisher left meanwhile */
    p->op = op;
    snprintf(p->owner, sizeof(p->owner), "%s", jid_local(service));
    char bare[JID_BUF];
    jid_bare(&s->jid, bare, sizeof(bare));
    p->asker = xstrdup(bare);
    p->domain = xstrdup(s->w->srv->domain);
    p->self = jid_bare_eq(&s->jid, service);
    const struct conf *cf = s->w->srv->conf;
    p->max_nodes = cf->pep.max_nodes;
    p->max_items_cap = cf->pep.max_items;
    buf_init(&p->out, 0);
    return p;
}

/* Storage thread: whether the asker may see a node (0), or why not. */
static int may_see(struct store_db *db, const struct pep_job *p, const struct store_pep_node *n)
{
    if (p->self || strcmp(n->access, "open") == 0)
        return 0;
    if (strcmp(n->access, "whitelist") == 0)
        return -EPERM;
    int sub = store_roster_sub(db, p->owner, p->asker);
    if (sub < 0)
        return sub;
    return sub == STORE_SUB_FROM || sub == STORE_SUB_BOTH ? 0 : -EACCES;
}

static int add_target(void *arg, const char *contact)
{
    struct pep_job *p = arg;
    if (p->n_targets == PEP_TARGETS_MAX)
        return 1;
    p->targets = xrealloc(p->targets, (p->n_targets + 1) * sizeof(*p->targets));
    p->targets[p->n_targets++] = xstrdup(contact);
    return 0;
}

/* Storage thread: who, besides the owner, gets the node's events. */
static int collect_targets(struct store_db *db, struct pep_job *p)
{
    if (strcmp(p->cfg.access, "whitelist") == 0)
        return 0;
    int err = store_roster_subscribers(db, p->owner, add_target, p);
    return err < 0 ? err : 0;
}

/* Appends <item id='...'>xml</item>. */
static void put_item(struct buf *b, const char *id, const char *xml)
{
    buf_puts(b, "<item");
    iqjob_attr(b, "id", id);
    buf_puts(b, ">");
    buf_puts(b, xml);
    buf_puts(b, "</item>");
}

static int item_out(void *arg, const struct store_pep_item *it)
{
    struct pep_job *p = arg;
    if (p->out.len + strlen(it->xml) > PEP_ANSWER_MAX)
        return 1; /* enough for one answer */
    put_item(&p->out, it->id, it->xml);
    return 0;
}

static bool in_set(const char *set, size_t len, const char *node)
{
    for (size_t off = 0; off < len; off += strlen(set + off) + 1)
        if (strcmp(set + off, node) == 0)
            return true;
    return false;
}

/* Writes a UTC XEP-0082 timestamp. */
static void put_stamp(struct buf *b, int64_t unix_s)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    char ts[32];
    gmtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    buf_puts(b, ts);
}

/*
 * Appends a headline event message: from the owner's bare JID to to, with
 * inner (the <event/> element) and, when stamp is not 0, a delay stamp.
 */
static void put_event(struct buf *b, const char *from, const char *to, const char *inner,
                      int64_t stamp)
{
    char id[17];
    rand_token(id, 16);
    buf_puts(b, "<message type=\"headline\"");
    iqjob_attr(b, "from", from);
    iqjob_attr(b, "to", to);
    iqjob_attr(b, "id", id);
    buf_puts(b, ">");
    buf_puts(b, inner);
    if (stamp) {
        buf_puts(b, "<delay xmlns=\"" NS_DELAY "\"");
        iqjob_attr(b, "from", from);
        buf_puts(b, " stamp=\"");
        put_stamp(b, stamp);
        buf_puts(b, "\"/>");
    }
    buf_puts(b, "</message>");
}

/* Appends the <event/> of a published item. */
static void put_items_event(struct buf *b, const char *node, const char *id, const char *xml)
{
    buf_puts(b, "<event xmlns=\"" NS_PUBSUB_EVENT "\"><items");
    iqjob_attr(b, "node", node);
    buf_puts(b, ">");
    put_item(b, id, xml);
    buf_puts(b, "</items></event>");
}

static int last_out(void *arg, const struct store_pep_item *it)
{
    struct pep_job *p = arg;
    if (!in_set(p->notify_set, p->notify_len, it->node))
        return 0;
    if (strcmp(it->owner, p->owner) != 0) {
        /* items come grouped by owner: ask once per owner whether it blocks the resource */
        if (strcmp(p->last_owner, it->owner) != 0) {
            snprintf(p->last_owner, sizeof(p->last_owner), "%s", it->owner);
            p->blocked = iqjob_blocked(p->db, it->owner, p->j.to);
        }
        if (p->blocked < 0)
            return p->blocked;
        if (p->blocked)
            return 0;
    }
    if (p->n_ends == PEP_LAST_MAX)
        return 1;
    struct buf inner;
    buf_init(&inner, 0);
    put_items_event(&inner, it->node, it->id, it->xml);
    char from[JID_BUF];
    snprintf(from, sizeof(from), "%s@%s", it->owner, p->domain);
    put_event(&p->out, from, p->j.to, inner.data, it->stamp);
    buf_fini(&inner);
    p->ends = xrealloc(p->ends, (p->n_ends + 1) * sizeof(*p->ends));
    p->ends[p->n_ends++] = p->out.len;
    return 0;
}

/* Storage thread: creates the node with the request's options, within pep.max_nodes. */
static int create_node(struct store_db *db, struct pep_job *p)
{
    int n = store_pep_node_count(db, p->owner);
    if (n < 0)
        return n;
    if ((unsigned)n >= p->max_nodes)
        return -ENOSPC;
    default_node(&p->cfg, p->node);
    apply_opts(&p->cfg, &p->opts);
    return store_pep_node_put(db, p->owner, &p->cfg);
}

static int run_publish(struct store_db *db, struct pep_job *p)
{
    int err = store_pep_node_get(db, p->owner, p->node, &p->cfg);
    if (err == -ENOENT)
        err = create_node(db, p);
    else if (err == 0 && !preconditions_met(&p->cfg, &p->opts))
        err = -EPROTO;
    if (err)
        return err;
    err = store_pep_item_put(db, p->owner, p->node, p->item, p->xml,
                             p->cfg.persist ? p->cfg.max_items : 1);
    return err ? err : collect_targets(db, p);
}

static int run_items(struct store_db *db, struct pep_job *p)
{
    int err = store_pep_node_get(db, p->owner, p->node, &p->cfg);
    if (!err)
        err = may_see(db, p, &p->cfg);
    if (err)
        return err;
    if (p->n_ids == 0)
        err = store_pep_items(db, p->owner, p->node, p->max, item_out, p);
    for (size_t i = 0; i < p->n_ids && err >= 0; i++) {
        err = store_pep_item_get(db, p->owner, p->node, p->ids[i], item_out, p);
        if (err == -ENOENT)
            err = 0; /* ids that are not there are left out */
    }
    return err < 0 ? err : 0;
}

static int run_create(struct store_db *db, struct pep_job *p)
{
    int err = store_pep_node_get(db, p->owner, p->node, &p->cfg);
    return err == 0 ? -EEXIST : err == -ENOENT ? create_node(db, p) : err;
}

/* Storage thread, for disco#items: each node the asker may see as an <item/>. */
static int node_out(void *arg, const struct store_pep_node *n)
{
    struct pep_job *p = arg;
    int err = may_see(p->db, p, n);
    if (err == -EIO)
        return err;
    if (err == 0) {
        buf_puts(&p->out, "<item");
        char bare[JID_BUF];
        snprintf(bare, sizeof(bare), "%s@%s", p->owner, p->domain);
        iqjob_attr(&p->out, "jid", bare);
        iqjob_attr(&p->out, "node", n->node);
        buf_puts(&p->out, "/>");
    }
    return 0;
}

static int approved_item(void *arg, const struct store_pep_item *it)
{
    struct pep_job *p = arg;
    struct buf inner;
    buf_init(&inner, 0);
    put_items_event(&inner, it->node, it->id, it->xml);
    p->outs = xrealloc(p->outs, (p->n_outs + 1) * sizeof(*p->outs));
    p->outs[p->n_outs].node = xstrdup(it->node);
    p->outs[p->n_outs].inner = inner.data ? inner.data : xstrdup("");
    p->outs[p->n_outs++].stamp = it->stamp;
    return 0;
}

/* Storage thread, OP_APPROVED: the newest item of each node a new subscriber gets. */
static int approved_node(void *arg, const struct store_pep_node *n)
{
    struct pep_job *p = arg;
    if (!n->send_last || strcmp(n->access, "whitelist") == 0 || p->n_outs == PEP_LAST_MAX)
        return 0;
    int err = store_pep_items(p->db, p->owner, n->node, 1, approved_item, p);
    return err < 0 ? err : 0;
}

static int run(struct store_db *db, struct store_req *r)
{
    struct pep_job *p = (struct pep_job *)r;
    p->db = db;
    int err = 0;
    if (!p->self) /* someone the owner blocks is answered as if there were no account */
        err = iqjob_blocked(db, p->owner, p->j.to ? p->j.to : p->asker);
    if (err)
        return err < 0 ? err : -ESRCH;
    switch (p->op) {
    case OP_PUBLISH:
        return run_publish(db, p);
    case OP_RETRACT:
        err = store_pep_node_get(db, p->owner, p->node, &p->cfg);
        if (!err)
            err = store_pep_item_del(db, p->owner, p->node, p->item);
        return err || !p->notify ? err : collect_targets(db, p);
    case OP_ITEMS:
        return run_items(db, p);
    case OP_CREATE:
        return run_create(db, p);
    case OP_DELETE:
        err = store_pep_node_get(db, p->owner, p->node, &p->cfg);
        if (!err)
            err = store_pep_node_del(db, p->owner, p->node);
        return err ? err : collect_targets(db, p);
    case OP_CONF_GET:
        return store_pep_node_get(db, p->owner, p->node, &p->cfg);
    case OP_CONF_SET:
        err = store_pep_node_get(db, p->owner, p->node, &p->cfg);
        if (err)
            return err;
        apply_opts(&p->cfg, &p->opts);
        return store_pep_node_put(db, p->owner, &p->cfg);
    case OP_NODES:
        err = store_pep_nodes(db, p->owner, node_out, p);
        return err < 0 ? err : 0;
    case OP_NODE_INFO:
        err = store_pep_node_get(db, p->owner, p->node, &p->cfg);
        if (!err)
            err = may_see(db, p, &p->cfg);
        return err == -EACCES || err == -EPERM ? -ENOENT : err; /* not there, for the asker */
    case OP_ACCOUNT_INFO: {
        if (p->self)
            return 0;
        struct store_account *a = xmalloc(sizeof(*a));
        err = store_account_get(db, p->owner, a);
        free(a);
        return err == -ENOENT ? -ESRCH : err;
    }
    case OP_LAST:
        err = store_pep_last(db, p->owner, p->asker, last_out, p);
        return err < 0 ? err : 0;
    case OP_APPROVED:
        err = store_pep_nodes(db, p->owner, approved_node, p);
        return err < 0 ? err : 0;
    }
    return -EINVAL;
}

/* ---- answers ----------------------------------------------------------------------------------
 */

/* Sends the error for a failed status (with the pubsub#errors condition that goes with it). */
static void pep_fail(struct c2s *s, struct pep_job *p, int st)
{
    const struct iqjob *j = &p->j;
    switch (st) {
    case -EACCES:
        iqjob_error(s, j, "auth", "not-authorized", NS_PUBSUB_ERR,
                    strcmp(p->cfg.access, "roster") == 0 ? "not-in-roster-group"
                                                         : "presence-subscription-required");
        break;
    case -EPERM:
        iqjob_error(s, j, "cancel", "not-allowed", NS_PUBSUB_ERR, "closed-node");
        break;
    case -ENOSPC:
        iqjob_error(s, j, "wait", "resource-constraint", NS_PUBSUB_ERR, "max-nodes-exceeded");
        break;
    case -EPROTO:
        iqjob_error(s, j, "cancel", "conflict", NS_PUBSUB_ERR, "precondition-not-met");
        break;
    case -EEXIST:
        iqjob_error(s, j, "cancel", "conflict", NULL, NULL);
        break;
    case -ESRCH:
        iqjob_error(s, j, "cancel", "service-unavailable", NULL, NULL);
        break;
    default:
        iqjob_fail(s, j, st);
    }
}

static void put_field(struct buf *b, const char *var, const char *type, const char *value)
{
    buf_puts(b, "<field");
    iqjob_attr(b, "var", var);
    if (type)
        iqjob_attr(b, "type", type);
    buf_puts(b, "><value>");
    xml_escape_text(b, value, strlen(value));
    buf_puts(b, "</value></field>");
}

/* The node_config form with the node's current values. */
static void put_config(struct buf *b, const struct store_pep_node *cfg)
{
    char max[16];
    snprintf(max, sizeof(max), "%u", cfg->max_items);
    buf_puts(b, "<x xmlns=\"" NS_DATA "\" type=\"form\">");
    put_field(b, "FORM_TYPE", "hidden", NS_NODE_CONFIG);
    buf_puts(b, "<field var=\"pubsub#access_model\" type=\"list-single\">");
    for (size_t i = 0; i < 4; i++)
        buf_printf(b, "<option><value>%s</value></option>", access_models[i]);
    buf_printf(b, "<value>%s</value></field>", cfg->access);
    put_field(b, "pubsub#max_items", "text-single", max);
    put_field(b, "pubsub#persist_items", "boolean", cfg->persist ? "1" : "0");
    put_field(b, "pubsub#send_last_published_item", "list-single",
              cfg->send_last ? "on_sub_and_presence" : "never");
    buf_puts(b, "</x>");
}

/* disco#info of an account: identities and the account features. */
static void add_feature_text(void *arg, const char *var)
{
    struct buf *b = arg;
    buf_puts(b, "<feature");
    iqjob_attr(b, "var", var);
    buf_puts(b, "/>");
}

static void fan_out(struct worker *w, struct pep_job *p);

static void done(struct c2s *s, struct iqjob *j)
{
    struct pep_job *p = (struct pep_job *)j;
    int st = j->r.status;
    if (p->op == OP_LAST) {
        for (size_t i = 0, start = 0; st == 0 && i < p->n_ends; start = p->ends[i++]) {
            struct chunk *ch = chunk_new(p->out.data + start, p->ends[i] - start);
            ch->tag = CHUNK_TAG_LOW;
            c2s_send_chunk(s, ch);
            chunk_unref(ch);
        }
        return;
    }
    if (st) {
        pep_fail(s, p, st);
        return;
    }
    struct buf *b = iqjob_begin(s, j);
    switch (p->op) {
    case OP_PUBLISH:
        buf_puts(b, "<pubsub xmlns=\"" NS_PUBSUB "\"><publish");
        iqjob_attr(b, "node", p->node);
        buf_puts(b, "><item");
        iqjob_attr(b, "id", p->item);
        buf_puts(b, "/></publish></pubsub>");
        break;
    case OP_ITEMS:
        buf_puts(b, "<pubsub xmlns=\"" NS_PUBSUB "\"><items");
        iqjob_attr(b, "node", p->node);
        buf_puts(b, ">");
        buf_append(b, p->out.data ? p->out.data : "", p->out.len);
        buf_puts(b, "</items></pubsub>");
        break;
    case OP_CONF_GET:
        buf_puts(b, "<pubsub xmlns=\"" NS_PUBSUB_OWNER "\"><configure");
        iqjob_attr(b, "node", p->node);
        buf_puts(b, ">");
        put_config(b, &p->cfg);
        buf_puts(b, "</configure></pubsub>");
        break;
    case OP_NODES:
        buf_puts(b, "<query xmlns=\"" NS_DISCO_ITEMS "\">");
        buf_append(b, p->out.data ? p->out.data : "", p->out.len);
        buf_puts(b, "</query>");
        break;
    case OP_NODE_INFO:
        if (p->items_query) {
            buf_puts(b, "<query xmlns=\"" NS_DISCO_ITEMS "\"");
            iqjob_attr(b, "node", p->node);
            buf_puts(b, "/>");
            break;
        }
        buf_puts(b, "<query xmlns=\"" NS_DISCO_INFO "\"");
        iqjob_attr(b, "node", p->node);
        buf_puts(b, "><identity category=\"pubsub\" type=\"leaf\"/><feature var=\"" NS_PUBSUB
                    "\"/></query>");
        break;
    case OP_ACCOUNT_INFO:
        buf_puts(b, "<query xmlns=\"" NS_DISCO_INFO "\">"
                    "<identity category=\"account\" type=\"registered\"/>"
                    "<identity category=\"pubsub\" type=\"pep\"/>");
        mod_features_each(MOD_ACCOUNT, add_feature_text, b);
        buf_puts(b, "</query>");
        break;
    default: /* an empty result */
        break;
    }
    iqjob_end(s, b);
    fan_out(s->w, p);
}

/* ---- per-session caps and event delivery -------------------------------------------------- */

/* C2S_SLOT_PEP: what a resource is interested in. */
struct pep_sess {
    char key[CAPS_VER_MAX + 32]; /* "hash ver" of the caps in use, "" for none */
    char hash[16];
    char ver[CAPS_VER_MAX];
    char query[24]; /* id of our outstanding disco#info query, "" for none */
    char *notify;   /* the +notify node names, each NUL-terminated, one after another */
    size_t notify_len;
    bool known;     /* notify is what the caps say (discovery done) */
    bool last_sent; /* the newest items went out for this availability */
};

static struct pep_sess *sess_of(struct c2s *s, bool create)
{
    struct pep_sess *ps = s->slot[C2S_SLOT_PEP];
    if (!ps && create) {
        XNEW(ps);
        s->slot[C2S_SLOT_PEP] = ps;
    }
    return ps;
}

static bool wants(struct c2s *s, const char *node)
{
    struct pep_sess *ps = sess_of(s, false);
    return ps && ps->known && s->available && in_set(ps->notify, ps->notify_len, node);
}

struct pep_mail {
    struct mail mail;
    uint64_t conn_id;
    struct chunk *ch;
    char node[]; /* NUL-terminated */
};

static void on_pep_mail(struct mail *m, void *ctx)
{
    struct pep_mail *pm = (struct pep_mail *)m;
    struct c2s *s = c2s_find(ctx, pm->conn_id);
    if (s && s->state == C2S_BOUND && wants(s, pm->node))
        c2s_send_chunk(s, pm->ch);
    chunk_unref(pm->ch);
    free(pm);
}

/* Queues ch for the session at addr if it wants node's events, on its own worker. */
static void deliver(struct worker *w, const struct sess_addr *addr, struct chunk *ch,
                    const char *node)
{
    if (addr->worker == w->id) {
        struct c2s *t = c2s_find(w, addr->conn_id);
        if (t && t->state == C2S_BOUND && wants(t, node))
            c2s_send_chunk(t, ch);
        return;
    }
    size_t nl = strlen(node) + 1;
    struct pep_mail *pm = xcalloc(1, sizeof(*pm) + nl);
    pm->mail.fn = on_pep_mail;
    pm->conn_id = addr->conn_id;
    pm->ch = chunk_ref(ch);
    memcpy(pm->node, node, nl);
    mailbox_post(w->srv->workers[addr->worker].mb, &pm->mail);
}

/* Sends inner (an <event/>) to every available resource of bare that wants the node. */
static void send_event(struct worker *w, const char *from, const char *bare, const char *node,
                       const char *inner, int64_t stamp)
{
    struct jid to, owner;
    if (jid_parse(&to, bare, strlen(bare)) < 0 || jid_parse(&owner, from, strlen(from)) < 0 ||
        mod_blocked(jid_local(&owner), &to))
        return;
    struct sess_addr addr[SESS_MAX_RESOURCES];
    size_t n = sessions_list(w->srv->sessions, &to, addr, SESS_MAX_RESOURCES);
    if (n > SESS_MAX_RESOURCES)
        n = SESS_MAX_RESOURCES;
    struct chunk *ch = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!addr[i].available)
            continue;
        if (!ch) {
            struct buf b;
            buf_init(&b, 0);
            put_event(&b, from, bare, inner, stamp);
            ch = chunk_new(b.data, b.len);
            ch->tag = CHUNK_TAG_LOW;
            buf_fini(&b);
        }
        deliver(w, &addr[i], ch, node);
    }
    chunk_unref(ch);
}

/*
 * The events of a finished job, from the owner's worker (also when the
 * asking session is gone): publish, retract with notify, delete go to the
 * owner and the subscribers collected on the storage thread; the newest
 * items of a new subscription (OP_APPROVED) go to the new subscriber.
 */
static void fan_out(struct worker *w, struct pep_job *p)
{
    char owner[JID_BUF];
    snprintf(owner, sizeof(owner), "%s@%s", p->owner, p->domain);
    if (p->j.r.status)
        return;
    if (p->op == OP_APPROVED) {
        for (size_t i = 0; i < p->n_outs; i++)
            send_event(w, owner, p->asker, p->outs[i].node, p->outs[i].inner, p->outs[i].stamp);
        return;
    }
    struct buf inner;
    buf_init(&inner, 0);
    if (p->op == OP_PUBLISH) {
        put_items_event(&inner, p->node, p->item, p->xml);
    } else if (p->op == OP_RETRACT && p->notify) {
        buf_puts(&inner, "<event xmlns=\"" NS_PUBSUB_EVENT "\"><items");
        iqjob_attr(&inner, "node", p->node);
        buf_puts(&inner, "><retract");
        iqjob_attr(&inner, "id", p->item);
        buf_puts(&inner, "/></items></event>");
    } else if (p->op == OP_DELETE) {
        buf_puts(&inner, "<event xmlns=\"" NS_PUBSUB_EVENT "\"><delete");
        iqjob_attr(&inner, "node", p->node);
        buf_puts(&inner, "/></event>");
    }
    if (inner.len) {
        send_event(w, owner, owner, p->node, inner.data, 0);
        for (size_t i = 0; i < p->n_targets; i++)
            send_event(w, owner, p->targets[i], p->node, inner.data, 0);
    }
    buf_fini(&inner);
}

static void orphan(struct worker *w, struct iqjob *j)
{
    fan_out(w, (struct pep_job *)j);
}

void pep_subscribed(struct worker *w, const char *owner, const char *contact)
{
    struct pep_job *p;
    XNEW(p);
    p->j.fini = job_fini;
    p->j.orphan = orphan;
    p->op = OP_APPROVED;
    snprintf(p->owner, sizeof(p->owner), "%s", owner);
    p->asker = xstrdup(contact);
    p->domain = xstrdup(w->srv->domain);
    buf_init(&p->out, 0);
    iqjob_submit_worker(w, &p->j, run);
}

/* Sends the newest items the resource is interested in (once per availability). */
static void send_last(struct c2s *s, struct pep_sess *ps)
{
    ps->last_sent = true;
    if (!ps->known || ps->notify_len == 0)
        return;
    struct pep_job *p = job_new(s, OP_LAST, &s->jid);
    p->notify_set = xmalloc(ps->notify_len);
    memcpy(p->notify_set, ps->notify, ps->notify_len);
    p->notify_len = ps->notify_len;
    char full[JID_BUF];
    jid_full(&s->jid, full, sizeof(full));
    p->j.to = xstrdup(full); /* the messages go to this resource */
    iqjob_submit(s, NULL, &p->j, run, done);
}

static void set_notify(struct pep_sess *ps, char *set, size_t len)
{
    free(ps->notify);
    ps->notify = set;
    ps->notify_len = len;
    ps->known = true;
}

/* Follows a session's entity capabilities (a presence observer, xmpp/mod.h). */
static void on_presence(struct c2s *s, struct xml_node *pr, struct arena *a)
{
    const char *type = xml_attr(pr, "type");
    struct pep_sess *ps = sess_of(s, !type);
    if (!ps || xml_attr(pr, "to"))
        return;
    if (type) {
        if (strcmp(type, "unavailable") == 0)
            ps->last_sent = false; /* the next available presence gets the newest items again */
        return;
    }
    struct xml_node *c = xml_child(pr, CAPS_NS, "c");
    const char *hash = xml_attr(c, "hash"), *ver = xml_attr(c, "ver"), *node = xml_attr(c, "node");
    char key[sizeof(ps->key)];
    if (!ver || !node || strlen(ver) >= CAPS_VER_MAX || strlen(node) > STORE_PEP_NODE_MAX ||
        (hash && strlen(hash) >= sizeof(ps->hash))) {
        /* no (usable) caps: no +notify, so no events */
        ps->key[0] = ps->query[0] = '\0';
        set_notify(ps, NULL, 0);
        return;
    }
    snprintf(key, sizeof(key), "%s %s", hash ? hash : "-", ver);
    if (strcmp(key, ps->key) == 0) {
        if (ps->known && !ps->last_sent)
            send_last(s, ps);
        return; /* else the answer to our query sends them */
    }
    snprintf(ps->key, sizeof(ps->key), "%s", key);
    snprintf(ps->hash, sizeof(ps->hash), "%s", hash ? hash : "");
    snprintf(ps->ver, sizeof(ps->ver), "%s", ver);
    set_notify(ps, NULL, 0);
    ps->known = false;
    ps->last_sent = false;
    char *val;
    size_t len;
    if (hash && caps_cache_get(hash, ver, &val, &len)) {
        set_notify(ps, val, len);
        send_last(s, ps);
        return;
    }
    char tok[13], full[JID_BUF];
    rand_token(tok, 12);
    snprintf(ps->query, sizeof(ps->query), CAPS_QUERY "%s", tok);
    jid_full(&s->jid, full, sizeof(full));
    struct xml_node *iq = xml_elem_new(a, XML_NS_CLIENT, "iq");
    xml_set_attr(a, iq, "type", "get");
    xml_set_attr(a, iq, "from", s->w->srv->domain);
    xml_set_attr(a, iq, "to", full);
    xml_set_attr(a, iq, "id", ps->query);
    struct xml_node *q = xml_add_child(a, iq, NS_DISCO_INFO, "query");
    size_t nl = strlen(node) + strlen(ver) + 2;
    char *nv = arena_alloc(a, nl);
    snprintf(nv, nl, "%s#%s", node, ver);
    xml_set_attr(a, q, "node", nv);
    c2s_send_node(s, iq);
}

/* The client's disco#info answer to our caps query. */
static void on_caps_answer(struct c2s *s, struct xml_node *iq, struct arena *a)
{
    (void)a;
    struct pep_sess *ps = sess_of(s, false);
    const char *id = xml_attr(iq, "id"), *type = xml_attr(iq, "type");
    if (!ps || !id || strcmp(id, ps->query) != 0)
        return;
    ps->query[0] = '\0';
    struct xml_node *query = xml_child(iq, NS_DISCO_INFO, "query");
    struct buf set;
    buf_init(&set, PEP_NOTIFY_MAX);
    for (const struct xml_node *f = xml_child(query, NS_DISCO_INFO, "feature");
         type && strcmp(type, "result") == 0 && f; f = xml_next(f, NS_DISCO_INFO, "feature")) {
        const char *var = xml_attr(f, "var");
        size_t vl = var ? strlen(var) : 0;
        if (vl > 7 && strcmp(var + vl - 7, "+notify") == 0 && buf_append(&set, var, vl - 7) == 0 &&
            buf_append(&set, "", 1) < 0)
            break; /* past the cap: the rest is not followed */
    }
    if (query && ps->hash[0] && caps_hash_known(ps->hash)) {
        char v[CAPS_VER_MAX];
        if (caps_ver(query, ps->hash, v, sizeof(v)) > 0 && strcmp(v, ps->ver) == 0)
            caps_cache_put(ps->hash, ps->ver, set.data ? set.data : "", set.len);
        else
            log_write(LOG_DEBUG, s->ctx, "caps ver %s does not match its disco#info: not cached",
                      ps->ver);
    }
    char *val = NULL;
    if (set.len) {
        val = xmalloc(set.len);
        memcpy(val, set.data, set.len);
    }
    set_notify(ps, val, set.len);
    buf_fini(&set);
    if (s->available && !ps->last_sent)
        send_last(s, ps);
}

static void on_unbound(struct c2s *s)
{
    struct pep_sess *ps = sess_of(s, false);
    if (ps) {
        free(ps->notify);
        free(ps);
        s->slot[C2S_SLOT_PEP] = NULL;
    }
}

/* ---- requests -----------------------------------------------------------------------------------
 */

static void reply_error(struct mod_iq *q, const char *type, const char *cond, const char *app)
{
    struct xml_node *st = stanza_error(q->a, q->iq, type, cond);
    if (app)
        xml_add_child(q->a, st->last_child, NS_PUBSUB_ERR, app);
    c2s_send_node(q->s, st);
}

/* Copies the node attribute into p; false (answered) when missing or too long. */
static bool take_node(struct mod_iq *q, const struct xml_node *el, char *out)
{
    const char *node = xml_attr(el, "node");
    if (!node || !*node) {
        reply_error(q, "modify", "bad-request", "nodeid-required");
        return false;
    }
    if (strlen(node) > STORE_PEP_NODE_MAX) {
        reply_error(q, "modify", "not-acceptable", NULL);
        return false;
    }
    snprintf(out, STORE_PEP_NODE_MAX + 1, "%s", node);
    return true;
}

/* Reads the options form of el (publish-options, configure); false (answered) when refused. */
static bool take_opts(struct mod_iq *q, const struct xml_node *el, struct pep_job *p)
{
    const struct xml_node *x = xml_child(el, NS_DATA, "x");
    if (!x)
        return true;
    int rc = parse_form(q->a, x, p->max_items_cap, &p->opts);
    if (rc == -E2BIG)
        reply_error(q, "cancel", "policy-violation", NULL);
    else if (rc)
        reply_error(q, "modify", "bad-request", "invalid-options");
    return rc == 0;
}

/* Fills a publish job from <publish/>; false when refused (answered). */
static bool fill_publish(struct mod_iq *q, const struct xml_node *el, struct pep_job *p)
{
    const struct xml_node *item = xml_child(el, NS_PUBSUB, "item");
    const struct xml_node *payload = xml_child(item, NULL, NULL);
    const char *id = xml_attr(item, "id");
    if (!item) {
        reply_error(q, "modify", "bad-request", "item-required");
        return false;
    }
    if (xml_next(item, NS_PUBSUB, "item") || (payload && xml_next(payload, NULL, NULL))) {
        reply_error(q, "modify", "bad-request", "invalid-payload");
        return false;
    }
    if (!payload) {
        reply_error(q, "modify", "bad-request", "payload-required");
        return false;
    }
    if (id && (!*id || strlen(id) > STORE_PEP_ID_MAX)) {
        reply_error(q, "modify", "not-acceptable", NULL);
        return false;
    }
    if (id)
        snprintf(p->item, sizeof(p->item), "%s", id);
    else
        rand_token(p->item, 20);
    if (iqjob_xml(payload, q->s->w->srv->conf->pep.max_item_size, &p->xml) < 0) {
        reply_error(q, "modify", "not-acceptable", "payload-too-big");
        return false;
    }
    return take_opts(q, xml_child(el->parent, NS_PUBSUB, "publish-options"), p);
}

/* Fills a retract job from <retract/>. */
static bool fill_retract(struct mod_iq *q, const struct xml_node *el, struct pep_job *p)
{
    const char *id = xml_attr(xml_child(el, NS_PUBSUB, "item"), "id");
    const char *notify = xml_attr(el, "notify");
    if (!id || !*id || strlen(id) > STORE_PEP_ID_MAX) {
        reply_error(q, "modify", "bad-request", "item-required");
        return false;
    }
    snprintf(p->item, sizeof(p->item), "%s", id);
    p->notify = notify && is_true(notify);
    return true;
}

/* Fills an items job from <items/>: max_items, item ids. */
static bool fill_items(struct mod_iq *q, const struct xml_node *el, struct pep_job *p)
{
    const char *max = xml_attr(el, "max_items");
    if (max) {
        char *end;
        unsigned long n = strtoul(max, &end, 10);
        if (!*max || *end || max[0] == '-' || n == 0 || n > 1000000) {
            reply_error(q, "modify", "bad-request", NULL);
            return false;
        }
        p->max = (unsigned)n;
    }
    for (const struct xml_node *it = xml_child(el, NS_PUBSUB, "item"); it;
         it = xml_next(it, NS_PUBSUB, "item")) {
        const char *id = xml_attr(it, "id");
        if (!id || p->n_ids == PEP_IDS_MAX) {
            reply_error(q, "modify", "bad-request", id ? NULL : "item-required");
            return false;
        }
        p->ids[p->n_ids++] = xstrdup(id);
    }
    return true;
}

/* Fills a job from an options form in el's <configure/> (create) or in el itself. */
static bool fill_config(struct mod_iq *q, const struct xml_node *el, struct pep_job *p)
{
    const struct xml_node *conf =
        xml_is(el, NS_PUBSUB, "create") ? xml_child(el->parent, NS_PUBSUB, "configure") : el;
    return take_opts(q, conf, p);
}

typedef bool fill_fn(struct mod_iq *q, const struct xml_node *el, struct pep_job *p);

/*
 * Starts op on the node named by el's node attribute; fill (may be NULL)
 * reads the rest of the request. Refusals are answered here or by fill.
 */
static void start(struct mod_iq *q, enum pep_op op, const struct xml_node *el, fill_fn *fill)
{
    struct pep_job *p = job_new(q->s, op, q->to);
    if (take_node(q, el, p->node) && (!fill || fill(q, el, p))) {
        iqjob_submit(q->s, q->iq, &p->j, run, done);
        return;
    }
    job_fini(&p->j);
    free(p);
}

static void pubsub_iq(struct mod_iq *q)
{
    bool set = strcmp(xml_attr(q->iq, "type"), "set") == 0;
    const struct xml_node *el = xml_child(q->payload, NULL, NULL);
    if (!xml_is(q->payload, NS_PUBSUB, "pubsub") || !el) {
        reply_error(q, "modify", "bad-request", NULL);
        return;
    }
    if (!set) {
        if (xml_is(el, NS_PUBSUB, "items"))
            start(q, OP_ITEMS, el, fill_items);
        else
            reply_error(q, "cancel", "feature-not-implemented", NULL);
        return;
    }
    if (q->peer) {
        reply_error(q, "auth", "forbidden", NULL);
        return;
    }
    if (xml_is(el, NS_PUBSUB, "publish"))
        start(q, OP_PUBLISH, el, fill_publish);
    else if (xml_is(el, NS_PUBSUB, "retract"))
        start(q, OP_RETRACT, el, fill_retract);
    else if (xml_is(el, NS_PUBSUB, "create"))
        start(q, OP_CREATE, el, fill_config);
    else
        reply_error(q, "cancel", "feature-not-implemented", NULL);
}

static void owner_iq(struct mod_iq *q)
{
    bool set = strcmp(xml_attr(q->iq, "type"), "set") == 0;
    const struct xml_node *el = xml_child(q->payload, NULL, NULL);
    if (q->peer) {
        reply_error(q, "auth", "forbidden", NULL);
        return;
    }
    if (!xml_is(q->payload, NS_PUBSUB_OWNER, "pubsub") || !el) {
        reply_error(q, "modify", "bad-request", NULL);
        return;
    }
    if (xml_is(el, NS_PUBSUB_OWNER, "configure") && !set) {
        start(q, OP_CONF_GET, el, NULL);
    } else if (xml_is(el, NS_PUBSUB_OWNER, "configure")) {
        const char *xt = xml_attr(xml_child(el, NS_DATA, "x"), "type");
        bool cancel = xt && strcmp(xt, "cancel") == 0;
        start(q, cancel ? OP_CONF_GET : OP_CONF_SET, el, cancel ? NULL : fill_config);
    } else if (xml_is(el, NS_PUBSUB_OWNER, "delete") && set) {
        start(q, OP_DELETE, el, NULL);
    } else {
        reply_error(q, "cancel", "feature-not-implemented", NULL);
    }
}

/* ---- disco -------------------------------------------------------------------------------------
 */

void pep_disco_info(struct mod_iq *q)
{
    if (xml_attr(q->payload, "node"))
        start(q, OP_NODE_INFO, q->payload, NULL);
    else
        iqjob_submit(q->s, q->iq, &job_new(q->s, OP_ACCOUNT_INFO, q->to)->j, run, done);
}

static bool fill_items_query(struct mod_iq *q, const struct xml_node *el, struct pep_job *p)
{
    (void)q;
    (void)el;
    p->items_query = true;
    return true;
}

void pep_disco_items(struct mod_iq *q)
{
    if (xml_attr(q->payload, "node"))
        start(q, OP_NODE_INFO, q->payload, fill_items_query);
    else
        iqjob_submit(q->s, q->iq, &job_new(q->s, OP_NODES, q->to)->j, run, done);
}

void mod_pep_init(void)
{
    static const char *const features[] = {
        NS_PUBSUB "#access-open",      NS_PUBSUB "#access-presence",
        NS_PUBSUB "#access-roster",    NS_PUBSUB "#access-whitelist",
        NS_PUBSUB "#auto-create",      NS_PUBSUB "#auto-subscribe",
        NS_PUBSUB "#config-node",      NS_PUBSUB "#create-and-configure",
        NS_PUBSUB "#create-nodes",     NS_PUBSUB "#delete-items",
        NS_PUBSUB "#delete-nodes",     NS_PUBSUB "#filtered-notifications",
        NS_PUBSUB "#item-ids",         NS_PUBSUB "#last-published",
        NS_PUBSUB "#persistent-items", NS_PUBSUB "#presence-notifications",
        NS_PUBSUB "#publish",          NS_PUBSUB "#publish-options",
        NS_PUBSUB "#retract-items",    NS_PUBSUB "#retrieve-items",
    };
    mod_iq_register(NS_PUBSUB, MOD_ACCOUNT | MOD_PEER, pubsub_iq);
    mod_iq_register(NS_PUBSUB_OWNER, MOD_ACCOUNT | MOD_PEER, owner_iq);
    for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
        mod_feature(features[i], MOD_ACCOUNT);
    mod_presence_observe(on_presence);
    mod_iq_answer_register(CAPS_QUERY, on_caps_answer);
    mod_on(MOD_EV_UNBOUND, on_unbound);
}
