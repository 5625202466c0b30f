/*
 * mam: XEP-0313 Message Archive Management (urn:xmpp:mam:2, with the
 * #extended before-id / after-id fields and <metadata/>) over the archive
 * message.c fills, paged with XEP-0059 Result Set Management; archive
 * preferences; and the retention expiry.
 *
 * A query is one storage request: it turns the RSM and form ids into row
 * ids (an unknown one is item-not-found), reads one page (at most
 * MAM_PAGE_MAX rows, oldest first in either direction) and counts what the
 * answer's <set/> reports: the total of the filtered set, the index of the
 * page's first row, and whether the page reaches the end it was paging
 * towards (<fin complete='true'/>). The completion sends the results, then
 * the <fin/>, so a client sees them in that order.
 *
 * Retention (archive.retention_days > 0): a timer on the worker of the first
 * session that binds deletes expired rows then, and every hour after.
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
#include "xmpp/stanza.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAM_PAGE_MAX  250 /* rows per page, whatever the client asks */
#define MAM_PREFS_MAX 256 /* JIDs in each preference list */
#define MAM_ID_MAX    256 /* bytes of a queryid or RSM id we take */
#define RETENTION_MS  3600000

struct mam_row {
    int64_t id, stamp;
    char *sid, *xml;
};

struct mam_req {
    struct store_req r;
    uint64_t conn_id;
    char *user;
    /* filters */
    char *with, *with_res;
    int64_t start, end;
    char *after_id, *before_id; /* form (#extended) */
    /* page */
    char *rsm_after, *rsm_before; /* rsm_before "" = the last page */
    bool backward;
    unsigned max;
    /* the answer */
    char *queryid, *iq_id, *iq_to;
    size_t n;
    struct mam_row *rows;
    int64_t count, index;
    bool complete;
};

static void mam_req_free(struct mam_req *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->rows[i].sid);
        free(q->rows[i].xml);
    }
    free(q->rows);
    free(q->user);
    free(q->with);
    free(q->with_res);
    free(q->after_id);
    free(q->before_id);
    free(q->rsm_after);
    free(q->rsm_before);
    free(q->queryid);
    free(q->iq_id);
    free(q->iq_to);
    free(q);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static int row_collect(void *arg, int64_t id, int64_t stamp, const char *sid, const char *xml)
{
    struct mam_req *q = arg;
    struct mam_row *r = &q->rows[q->n++];
    r->id = id;
    r->stamp = stamp;
    r->sid = xstrdup(sid);
    r->xml = xstrdup(xml);
    return 0;
}

/* Turns sid into a row id; returns -ENOENT for one that is not in user's archive. */
static int64_t rowid(struct store_db *db, const char *user, const char *sid)
{
    return store_archive_rowid(db, user, sid);
}

static int query_run(struct store_db *db, struct store_req *r)
{
    struct mam_req *q = (struct mam_req *)r;
    struct store_arch_query aq = {q->user, q->with,   q->with_res, q->start,   q->end,
                                  0,       INT64_MAX, q->max,      q->backward};
    int64_t after = 0, below = INT64_MAX, id;
    if (q->after_id) {
        if ((id = rowid(db, q->user, q->after_id)) < 0)
            return (int)id;
        after = id;
    }
    if (q->before_id) {
        if ((id = rowid(db, q->user, q->before_id)) < 0)
            return (int)id;
        below = id;
    }
    aq.after = after;
    aq.below = below;
    if (q->rsm_after) {
        if ((id = rowid(db, q->user, q->rsm_after)) < 0)
            return (int)id;
        if (id > aq.after)
            aq.after = id;
    }
    if (q->rsm_before && q->rsm_before[0]) {
        if ((id = rowid(db, q->user, q->rsm_before)) < 0)
            return (int)id;
        if (id < aq.below)
            aq.below = id;
    }
    q->rows = xcalloc(q->max ? q->max : 1, sizeof(*q->rows));
    int n = q->max ? store_archive_query(db, &aq, row_collect, q) : 0;
    if (n < 0)
        return n;
    q->count = store_archive_count(db, &aq, after, below);
    if (q->count < 0)
        return (int)q->count;
    if (q->n == 0) {
        q->complete = q->max > 0;
        return 0;
    }
    q->index = store_archive_count(db, &aq, after, q->rows[0].id);
    if (q->index < 0)
        return (int)q->index;
    int64_t beyond =
        q->backward ? q->index : store_archive_count(db, &aq, q->rows[q->n - 1].id, below);
    if (beyond < 0)
        return (int)beyond;
    q->complete = beyond == 0;
    return 0;
}

static void on_queried(struct mail *m, void *ctx)
{
    struct worker *w = ctx;
    struct mam_req *q = (struct mam_req *)m;
    struct c2s *s = c2s_find(w, q->conn_id);
    if (!s || s->state == C2S_CLOSED)
        goto out;
    if (q->r.status != 0) {
        bool gone = q->r.status == -ENOENT;
        msg_send_error(s, "iq", q->iq_id, q->iq_to, NULL, gone ? "cancel" : "wait",
                       gone ? "item-not-found" : "internal-server-error");
        goto out;
    }
    char full[JID_BUF], bare[JID_BUF], stamp[40];
    jid_full(&s->jid, full, sizeof(full));
    jid_bare(&s->jid, bare, sizeof(bare));
    struct buf b;
    buf_init(&b, 0);
    for (size_t i = 0; i < q->n; i++) {
        buf_reset(&b);
        buf_puts(&b, "<message to=\"");
        xml_escape_attr(&b, full, strlen(full));
        buf_puts(&b, "\" from=\"");
        xml_escape_attr(&b, bare, strlen(bare));
        buf_puts(&b, "\"><result xmlns=\"" NS_MAM "\"");
        if (q->queryid) {
            buf_puts(&b, " queryid=\"");
            xml_escape_attr(&b, q->queryid, strlen(q->queryid));
            buf_puts(&b, "\"");
        }
        buf_puts(&b, " id=\"");
        xml_escape_attr(&b, q->rows[i].sid, strlen(q->rows[i].sid));
        msg_stamp(q->rows[i].stamp, stamp, sizeof(stamp));
        buf_printf(&b,
                   "\"><forwarded xmlns=\"" NS_FORWARD "\"><delay xmlns=\"" NS_DELAY
                   "\" stamp=\"%s\"/>",
                   stamp);
        buf_puts(&b, q->rows[i].xml);
        buf_puts(&b, "</forwarded></result></message>");
        struct chunk *ch = chunk_new(b.data, b.len);
        c2s_send_chunk(s, ch);
        chunk_unref(ch);
    }
    buf_fini(&b);
    struct arena a;
    arena_init(&a);
    struct xml_node *iq = xml_elem_new(&a, XML_NS_CLIENT, "iq");
    xml_set_attr(&a, iq, "type", "result");
    xml_set_attr(&a, iq, "id", q->iq_id);
    xml_set_attr(&a, iq, "to", full);
    if (q->iq_to)
        xml_set_attr(&a, iq, "from", q->iq_to);
    struct xml_node *fin = xml_add_child(&a, iq, NS_MAM, "fin");
    if (q->queryid)
        xml_set_attr(&a, fin, "queryid", q->queryid);
    if (q->complete)
        xml_set_attr(&a, fin, "complete", "true");
    struct xml_node *set = xml_add_child(&a, fin, NS_RSM, "set");
    char num[32];
    if (q->n) {
        struct xml_node *first = xml_add_child(&a, set, NS_RSM, "first");
        snprintf(num, sizeof(num), "%lld", (long long)q->index);
        xml_set_attr(&a, first, "index", num);
        xml_add_text(&a, first, q->rows[0].sid, strlen(q->rows[0].sid));
        xml_add_text(&a, xml_add_child(&a, set, NS_RSM, "last"), q->rows[q->n - 1].sid,
                     strlen(q->rows[q->n - 1].sid));
    }
    snprintf(num, sizeof(num), "%lld", (long long)q->count);
    xml_add_text(&a, xml_add_child(&a, set, NS_RSM, "count"), num, strlen(num));
    c2s_send_node(s, iq);
    arena_fini(&a);
out:
    mam_req_free(q);
}

/* Reads the form's value of field var, or NULL when absent; *present says if the field is. */
static const char *field_value(struct arena *a, const struct xml_node *x, const char *var)
{
    for (struct xml_node *f = xml_child(x, NS_XDATA, "field"); f;
         f = xml_next(f, NS_XDATA, "field")) {
        const char *v = xml_attr(f, "var");
        if (v && strcmp(v, var) == 0) {
            struct xml_node *val = xml_child(f, NS_XDATA, "value");
            return val ? xml_text(a, val) : "";
        }
    }
    return NULL;
}

static bool id_ok(const char *s)
{
    return s && strlen(s) <= MAM_ID_MAX;
}

static void query_form(struct mod_iq *q)
{
    struct xml_node *r = stanza_result(q->a, q->iq);
    struct xml_node *query = xml_add_child(q->a, r, NS_MAM, "query");
    struct xml_node *x = xml_add_child(q->a, query, NS_XDATA, "x");
    xml_set_attr(q->a, x, "type", "form");
    static const char *const fields[][2] = {
        {"FORM_TYPE", "hidden"}, {"with", "jid-single"},       {"start", "text-single"},
        {"end", "text-single"},  {"before-id", "text-single"}, {"after-id", "text-single"}};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        struct xml_node *f = xml_add_child(q->a, x, NS_XDATA, "field");
        xml_set_attr(q->a, f, "var", fields[i][0]);
        xml_set_attr(q->a, f, "type", fields[i][1]);
        if (i == 0)
            xml_add_text(q->a, xml_add_child(q->a, f, NS_XDATA, "value"), NS_MAM, strlen(NS_MAM));
    }
    c2s_send_node(q->s, r);
}

static void query(struct mod_iq *q)
{
    struct arena *a = q->a;
    struct mam_req *r = xcalloc(1, sizeof(*r));
    r->start = INT64_MIN;
    r->end = INT64_MAX;
    r->max = MAM_PAGE_MAX;
    const char *qid = xml_attr(q->payload, "queryid");
    const char *bad = NULL;
    if (qid && !id_ok(qid))
        bad = "bad-request";
    r->queryid = dup_or_null(qid);
    struct xml_node *x = xml_child(q->payload, NS_XDATA, "x");
    if (x) {
        const char *with = field_value(a, x, "with");
        const char *start = field_value(a, x, "start");
        const char *end = field_value(a, x, "end");
        const char *after = field_value(a, x, "after-id");
        const char *before = field_value(a, x, "before-id");
        struct jid j;
        if (with && *with) {
            if (jid_parse(&j, with, strlen(with)) < 0) {
                bad = "jid-malformed";
            } else {
                char bare[JID_BUF];
                jid_bare(&j, bare, sizeof(bare));
                r->with = xstrdup(bare);
                if (j.has_resource)
                    r->with_res = xstrdup(jid_resource(&j));
            }
        }
        if (start && *start && msg_parse_stamp(start, &r->start) < 0)
            bad = "bad-request";
        if (end && *end && msg_parse_stamp(end, &r->end) < 0)
            bad = "bad-request";
        if (after && *after)
            r->after_id = id_ok(after) ? xstrdup(after) : NULL;
        if (before && *before)
            r->before_id = id_ok(before) ? xstrdup(before) : NULL;
        if ((after && !id_ok(after)) || (before && !id_ok(before)))
            bad = "bad-request";
    }
    struct xml_node *set = xml_child(q->payload, NS_RSM, "set");
    if (set) {
        struct xml_node *mx = xml_child(set, NS_RSM, "max");
        if (mx) {
            char *end;
            const char *t = xml_text(a, mx);
            long v = strtol(t, &end, 10);
            if (!*t || *end || v < 0)
                bad = "bad-request";
            else
                r->max = v > MAM_PAGE_MAX ? MAM_PAGE_MAX : (unsigned)v;
        }
        struct xml_node *af = xml_child(set, NS_RSM, "after");
        struct xml_node *bf = xml_child(set, NS_RSM, "before");
        const char *at = af ? xml_text(a, af) : NULL;
        const char *bt = bf ? xml_text(a, bf) : NULL;
        if ((at && (!*at || !id_ok(at))) || (bt && !id_ok(bt)) || (at && bt))
            bad = "bad-request";
        r->rsm_after = dup_or_null(at);
        r->rsm_before = dup_or_null(bt);
        r->backward = bt != NULL;
    }
    if (bad) {
        mam_req_free(r);
        c2s_send_node(q->s, stanza_error(q->a, q->iq, "modify", bad));
        return;
    }
    r->user = xstrdup(q->s->user);
    r->iq_id = xstrdup(xml_attr(q->iq, "id"));
    r->iq_to = dup_or_null(xml_attr(q->iq, "to"));
    r->conn_id = q->s->id;
    r->r.mail.fn = on_queried;
    r->r.reply = q->s->w->mb;
    r->r.op = STORE_RUN;
    r->r.run = query_run;
    store_submit(q->s->w->srv->store, &r->r);
}

/* ---- preferences ------------------------------------------------------------------------ */

struct prefs_req {
    struct store_req r;
    uint64_t conn_id;
    bool set;
    struct store_arch_prefs p;
    char *user, *iq_id, *iq_to;
};

static int prefs_run(struct store_db *db, struct store_req *r)
{
    struct prefs_req *q = (struct prefs_req *)r;
    if (q->set)
        return store_archive_prefs_set(db, q->user, &q->p);
    return store_archive_prefs_get(db, q->user, &q->p);
}

static void add_list(struct arena *a, struct xml_node *prefs, const char *name, const char *list)
{
    struct xml_node *l = xml_add_child(a, prefs, NS_MAM, name);
    for (const char *p = list; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len)
            xml_add_text(a, xml_add_child(a, l, NS_MAM, "jid"), p, len);
        p = nl ? nl + 1 : p + len;
    }
}

static void on_prefs_done(struct mail *m, void *ctx)
{
    struct prefs_req *q = (struct prefs_req *)m;
    struct c2s *s = c2s_find(ctx, q->conn_id);
    if (s && q->r.status != 0) {
        msg_send_error(s, "iq", q->iq_id, q->iq_to, NULL, "wait", "internal-server-error");
    } else if (s) {
        struct arena a;
        arena_init(&a);
        struct xml_node *iq = xml_elem_new(&a, XML_NS_CLIENT, "iq");
        xml_set_attr(&a, iq, "type", "result");
        xml_set_attr(&a, iq, "id", q->iq_id);
        if (q->iq_to)
            xml_set_attr(&a, iq, "from", q->iq_to);
        struct xml_node *p = xml_add_child(&a, iq, NS_MAM, "prefs");
        xml_set_attr(&a, p, "default", q->p.dflt);
        add_list(&a, p, "always", q->p.always);
        add_list(&a, p, "never", q->p.never);
        c2s_send_node(s, iq);
        arena_fini(&a);
    }
    store_archive_prefs_fini(&q->p);
    free(q->user);
    free(q->iq_id);
    free(q->iq_to);
    free(q);
}

/* Reads a <always/> or <never/> list into a '\n'-joined bare-JID string; NULL if invalid. */
static char *read_list(struct arena *a, const struct xml_node *prefs, const char *name)
{
    struct buf b;
    buf_init(&b, 0);
    struct xml_node *l = xml_child(prefs, NS_MAM, name);
    size_t n = 0;
    for (struct xml_node *j = xml_child(l, NS_MAM, "jid"); j; j = xml_next(j, NS_MAM, "jid")) {
        const char *t = xml_text(a, j);
        struct jid jid;
        char bare[JID_BUF];
        if (++n > MAM_PREFS_MAX || jid_parse(&jid, t, strlen(t)) < 0) {
            buf_fini(&b);
            return NULL;
        }
        jid_bare(&jid, bare, sizeof(bare));
        if (b.len)
            buf_puts(&b, "\n");
        buf_puts(&b, bare);
    }
    char *out = xstrndup(b.data ? b.data : "", b.len);
    buf_fini(&b);
    return out;
}

static void prefs(struct mod_iq *q)
{
    struct prefs_req *r = xcalloc(1, sizeof(*r));
    r->set = strcmp(xml_attr(q->iq, "type"), "set") == 0;
    if (r->set) {
        const char *d = xml_attr(q->payload, "default");
        r->p.always = read_list(q->a, q->payload, "always");
        r->p.never = read_list(q->a, q->payload, "never");
        if (!d || (strcmp(d, "always") && strcmp(d, "never") && strcmp(d, "roster")) ||
            !r->p.always || !r->p.never) {
            store_archive_prefs_fini(&r->p);
            free(r);
            c2s_send_node(q->s, stanza_error(q->a, q->iq, "modify", "bad-request"));
            return;
        }
        snprintf(r->p.dflt, sizeof(r->p.dflt), "%s", d);
    }
    r->user = xstrdup(q->s->user);
    r->iq_id = xstrdup(xml_attr(q->iq, "id"));
    r->iq_to = dup_or_null(xml_attr(q->iq, "to"));
    r->conn_id = q->s->id;
    r->r.mail.fn = on_prefs_done;
    r->r.reply = q->s->w->mb;
    r->r.op = STORE_RUN;
    r->r.run = prefs_run;
    store_submit(q->s->w->srv->store, &r->r);
}

/* ---- metadata (#extended): the first and the last archived message ---------------------- */

struct meta_req {
    struct store_req r;
    uint64_t conn_id;
    char *user, *iq_id, *iq_to;
    struct mam_row ends[2]; /* first, last; sid NULL when the archive is empty */
};

static int meta_collect(void *arg, int64_t id, int64_t stamp, const char *sid, const char *xml)
{
    (void)xml;
    struct mam_row *r = arg;
    r->id = id;
    r->stamp = stamp;
    free(r->sid);
    r->sid = xstrdup(sid);
    return 0;
}

static int meta_run(struct store_db *db, struct store_req *r)
{
    struct meta_req *q = (struct meta_req *)r;
    for (int i = 0; i < 2; i++) {
        struct store_arch_query aq = {q->user, NULL,      NULL, INT64_MIN, INT64_MAX,
                                      0,       INT64_MAX, 1,    i == 1};
        int n = store_archive_query(db, &aq, meta_collect, &q->ends[i]);
        if (n < 0)
            return n;
    }
    return 0;
}

static void on_meta_done(struct mail *m, void *ctx)
{
    struct meta_req *q = (struct meta_req *)m;
    struct c2s *s = c2s_find(ctx, q->conn_id);
    if (s && q->r.status != 0) {
        msg_send_error(s, "iq", q->iq_id, q->iq_to, NULL, "wait", "internal-server-error");
    } else if (s) {
        struct arena a;
        arena_init(&a);
        struct xml_node *iq = xml_elem_new(&a, XML_NS_CLIENT, "iq");
        xml_set_attr(&a, iq, "type", "result");
        xml_set_attr(&a, iq, "id", q->iq_id);
        xml_set_attr(&a, iq, "from", q->iq_to);
        struct xml_node *md = xml_add_child(&a, iq, NS_MAM, "metadata");
        static const char *const names[2] = {"start", "end"};
        for (int i = 0; i < 2 && q->ends[0].sid; i++) {
            char stamp[40];
            struct xml_node *e = xml_add_child(&a, md, NS_MAM, names[i]);
            msg_stamp(q->ends[i].stamp, stamp, sizeof(stamp));
            xml_set_attr(&a, e, "id", q->ends[i].sid);
            xml_set_attr(&a, e, "timestamp", stamp);
        }
        c2s_send_node(s, iq);
        arena_fini(&a);
    }
    free(q->ends[0].sid);
    free(q->ends[1].sid);
    free(q->user);
    free(q->iq_id);
    free(q->iq_to);
    free(q);
}

static void metadata(struct mod_iq *q)
{
    struct meta_req *r = xcalloc(1, sizeof(*r));
    r->user = xstrdup(q->s->user);
    r->iq_id = xstrdup(xml_attr(q->iq, "id"));
    r->iq_to = dup_or_null(xml_attr(q->iq, "to"));
    r->conn_id = q->s->id;
    r->r.mail.fn = on_meta_done;
    r->r.reply = q->s->w->mb;
    r->r.op = STORE_RUN;
    r->r.run = meta_run;
    store_submit(q->s->w->srv->store, &r->r);
}

static void mam_iq(struct mod_iq *q)
{
    bool get = strcmp(xml_attr(q->iq, "type"), "get") == 0;
    const char *name = q->payload->name;
    if (strcmp(name, "prefs") == 0)
        prefs(q);
    else if (strcmp(name, "query") == 0 && get)
        query_form(q);
    else if (strcmp(name, "query") == 0)
        query(q);
    else if (strcmp(name, "metadata") == 0 && get)
        metadata(q);
    else
        c2s_send_node(q->s, stanza_error(q->a, q->iq, "cancel", "feature-not-implemented"));
}

/* ---- retention -------------------------------------------------------------------------- */

static struct {
    struct store_req r;
    struct timer t;
    struct worker *w;
    unsigned days;
    bool busy;
    int64_t cutoff, deleted;
} ret;
static atomic_bool ret_started;

static int expire_run(struct store_db *db, struct store_req *r)
{
    (void)r;
    ret.deleted = store_archive_expire(db, ret.cutoff);
    return ret.deleted < 0 ? (int)ret.deleted : 0;
}

static void on_expired(struct mail *m, void *ctx)
{
    (void)m;
    (void)ctx;
    ret.busy = false;
    if (ret.r.status == 0 && ret.deleted > 0)
        log_info("archive: %lld messages older than %u days deleted", (long long)ret.deleted,
                 ret.days);
}

static void ret_tick(struct loop *l, struct timer *t)
{
    (void)t;
    if (!ret.busy) {
        ret.busy = true;
        ret.cutoff = msg_now_us() - (int64_t)ret.days * 86400 * 1000000;
        memset(&ret.r, 0, sizeof(ret.r));
        ret.r.mail.fn = on_expired;
        ret.r.reply = ret.w->mb;
        ret.r.op = STORE_RUN;
        ret.r.run = expire_run;
        store_submit(ret.w->srv->store, &ret.r);
    }
    loop_timer_start(l, &ret.t, RETENTION_MS, ret_tick);
}

static void on_bound(struct c2s *s)
{
    unsigned days = s->w->srv->conf->archive.retention_days;
    if (days == 0 || atomic_exchange(&ret_started, true))
        return;
    ret.w = s->w;
    ret.days = days;
    loop_timer_start(s->w->loop, &ret.t, 0, ret_tick);
}

void mod_mam_init(void)
{
    mod_iq_register(NS_MAM, MOD_ACCOUNT, mam_iq);
    mod_feature(NS_MAM, MOD_ACCOUNT);
    mod_feature(NS_MAM "#extended", MOD_ACCOUNT);
    mod_on(MOD_EV_BOUND, on_bound);
}
