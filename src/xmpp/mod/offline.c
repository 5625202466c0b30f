/*
 * offline: XEP-0160 offline messages — delivery at the next initial
 * presence, and the home of stanzas a session never acknowledged.
 *
 * message.c stores a message (through its one storage request) when its
 * recipient has no available resource. When a session of that account
 * sends its initial presence with a non-negative priority, the messages are
 * read a page at a time, in order, each with an XEP-0203 delay stamped with
 * its arrival, and queued on the session tagged CHUNK_TAG_STORE; only then
 * does the next request delete that page (and read the next one in the same
 * transaction). If the session ends before acknowledging them (XEP-0198),
 * the undelivered hook below stores them again, so none is lost; a page the
 * session never got (it was gone when the page came back) is not deleted.
 *
 * Undelivered stanzas: the account's other available resources that have
 * carbons on already had a copy; those that do not get the stanza by the
 * bare-JID rules (one that had it already, at equal priority, sees it
 * twice: a duplicate rather than a loss; clients drop it by stanza-id).
 * With no other available resource it goes to offline storage (the quota
 * applies; past it the stanza is dropped with a log line, as there is
 * nobody left to tell).
 */
#include "conf/conf.h"
#include "core/alloc.h"
#include "core/log.h"
#include "store/store_msg.h"
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/mod/modules.h"
#include "xmpp/mod/msg.h"
#include "xmpp/router.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFFLINE_PAGE 100 /* messages read and queued per storage round trip */

struct chunk *offline_with_delay(const char *xml, const char *domain, int64_t us)
{
    char stamp[40];
    msg_stamp(us, stamp, sizeof(stamp));
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "<delay xmlns=\"" NS_DELAY "\" from=\"");
    xml_escape_attr(&b, domain, strlen(domain));
    buf_puts(&b, "\"");
    size_t mark = b.len; /* what a delay of ours starts with */
    buf_puts(&b, " stamp=\"");
    buf_puts(&b, stamp);
    buf_puts(&b, "\">Offline storage</delay>");
    size_t len = strlen(xml);
    struct chunk *ch;
    char *prefix = xmalloc(mark + 1);
    memcpy(prefix, b.data, mark);
    prefix[mark] = '\0';
    const char *end = len >= 10 ? xml + len - 10 : NULL;
    if (strstr(xml, prefix)) {
        ch = chunk_new(xml, len); /* stored again after an earlier delivery: keep its stamp */
    } else if (end && memcmp(end, "</message>", 10) == 0) {
        struct buf out;
        buf_init(&out, 0);
        buf_append(&out, xml, (size_t)(end - xml));
        buf_append(&out, b.data, b.len);
        buf_puts(&out, "</message>");
        ch = chunk_new(out.data, out.len);
        buf_fini(&out);
    } else if (len >= 2 && memcmp(xml + len - 2, "/>", 2) == 0) {
        struct buf out;
        buf_init(&out, 0);
        buf_append(&out, xml, len - 2);
        buf_puts(&out, ">");
        buf_append(&out, b.data, b.len);
        buf_puts(&out, "</message>");
        ch = chunk_new(out.data, out.len);
        buf_fini(&out);
    } else {
        ch = chunk_new(xml, len);
    }
    free(prefix);
    buf_fini(&b);
    return ch;
}

/* ---- delivery at initial presence ------------------------------------------------------- */

struct off_row {
    int64_t id, stamp;
    char *xml;
};

struct fetch_req {
    struct store_req r;
    uint64_t conn_id;
    int64_t upto; /* delete up to this id first (0: nothing yet) */
    size_t n;
    struct off_row rows[OFFLINE_PAGE];
    char user[];
};

static int fetch_collect(void *arg, int64_t id, int64_t stamp, const char *xml)
{
    struct fetch_req *q = arg;
    q->rows[q->n].id = id;
    q->rows[q->n].stamp = stamp;
    q->rows[q->n].xml = xstrdup(xml);
    q->n++;
    return 0;
}

static int fetch_run(struct store_db *db, struct store_req *r)
{
    struct fetch_req *q = (struct fetch_req *)r;
    if (q->upto > 0) {
        int n = store_offline_del(db, q->user, q->upto);
        if (n < 0)
            return n;
    }
    return store_offline_list(db, q->user, q->upto, OFFLINE_PAGE, fetch_collect, q);
}

static void fetch_clear(struct fetch_req *q)
{
    for (size_t i = 0; i < q->n; i++)
        free(q->rows[i].xml);
    q->n = 0;
}

static void on_fetched(struct mail *m, void *ctx)
{
    struct worker *w = ctx;
    struct fetch_req *q = (struct fetch_req *)m;
    struct c2s *s = c2s_find(w, q->conn_id);
    if (q->r.status != 0 || q->n == 0 || !s || s->state == C2S_CLOSED) {
        if (q->r.status != 0)
            log_warn("%s: offline messages not read: %s", q->user, strerror(-q->r.status));
        fetch_clear(q);
        free(q);
        return;
    }
    for (size_t i = 0; i < q->n; i++) {
        struct chunk *ch = offline_with_delay(q->rows[i].xml, w->srv->domain, q->rows[i].stamp);
        ch->tag |= CHUNK_TAG_STORE;
        c2s_send_chunk(s, ch);
        chunk_unref(ch);
    }
    /* handed over: the next request deletes this page and reads the next one */
    q->upto = q->rows[q->n - 1].id;
    fetch_clear(q);
    store_submit(w->srv->store, &q->r);
}

static void on_available(struct c2s *s)
{
    struct sess_addr addr;
    if (!sessions_get(s->w->srv->sessions, &s->jid, &addr) || addr.priority < 0)
        return; /* XEP-0160 §3: not to a resource of negative priority */
    size_t len = strlen(s->user);
    struct fetch_req *q = xcalloc(1, sizeof(*q) + len + 1);
    memcpy(q->user, s->user, len + 1);
    q->conn_id = s->id;
    q->r.mail.fn = on_fetched;
    q->r.reply = s->w->mb;
    q->r.op = STORE_RUN;
    q->r.run = fetch_run;
    store_submit(s->w->srv->store, &q->r);
}

/* ---- undelivered stanzas ---------------------------------------------------------------- */

struct keep_req {
    struct store_req r;
    unsigned max;
    int64_t stamp;
    char *user, *sender, *xml;
};

static int keep_run(struct store_db *db, struct store_req *r)
{
    struct keep_req *q = (struct keep_req *)r;
    return store_offline_add(db, q->user, q->sender, q->stamp, q->xml, q->max);
}

static void on_kept(struct mail *m, void *ctx)
{
    (void)ctx;
    struct keep_req *q = (struct keep_req *)m;
    if (q->r.status != 0)
        log_warn("%s: an unacknowledged message could not be kept offline: %s", q->user,
                 q->r.status == -EDQUOT ? "offline storage full" : strerror(-q->r.status));
    free(q->user);
    free(q->sender);
    free(q->xml);
    free(q);
}

/*
 * Copies the value of attribute name of the root element of xml (as our
 * serializer writes it: name="value", escaped) into out. Returns false if
 * it is not there.
 */
static bool root_attr(const char *xml, size_t len, const char *name, char *out, size_t cap)
{
    const char *end = memchr(xml, '>', len);
    if (!end)
        return false;
    size_t nl = strlen(name);
    for (const char *p = xml; p + nl + 3 < end; p++) {
        if (p[0] == ' ' && memcmp(p + 1, name, nl) == 0 && p[1 + nl] == '=' && p[2 + nl] == '"') {
            const char *v = p + 3 + nl;
            const char *q = memchr(v, '"', (size_t)(end - v));
            if (!q || (size_t)(q - v) >= cap)
                return false;
            memcpy(out, v, (size_t)(q - v));
            out[q - v] = '\0';
            return true;
        }
    }
    return false;
}

static void undelivered(struct worker *w, const struct jid *to, struct chunk *ch)
{
    const struct conf *cf = w->srv->conf;
    char from[JID_BUF] = "";
    root_attr(ch->data, ch->len, "from", from, sizeof(from));
    size_t n;
    struct sess_addr *res = msg_resources(w, MSG_LIST_AUX, to, &n);
    /*
     * The ended session is out of the registry. Resources with carbons on
     * had a copy; the others get the message by the bare-JID rules (one of
     * equal priority may get it twice: better than not at all).
     */
    int best = -1;
    bool copied = false;
    for (size_t i = 0; i < n; i++) {
        if (!res[i].available || res[i].priority < 0)
            continue;
        if (res[i].flags & SESS_F_CARBONS)
            copied = true;
        else if (res[i].priority > best)
            best = res[i].priority;
    }
    if (best >= 0) {
        struct jid fj;
        if (jid_parse(&fj, from, strlen(from)) < 0)
            jid_from_parts(&fj, NULL, w->srv->domain, NULL);
        for (size_t i = 0; i < n; i++)
            if (res[i].available && res[i].priority == best && !(res[i].flags & SESS_F_CARBONS))
                blocking_deliver(w, jid_local(to), &fj, &res[i], ch);
        return;
    }
    if (copied)
        return;
    if (cf->offline.max_messages == 0) {
        log_warn("%s: an unacknowledged message is dropped (offline storage is off)",
                 jid_local(to));
        return;
    }
    struct keep_req *q;
    XNEW(q);
    q->user = xstrdup(jid_local(to));
    q->sender = xstrdup(from);
    q->xml = xmalloc(ch->len + 1);
    memcpy(q->xml, ch->data, ch->len);
    q->xml[ch->len] = '\0';
    q->stamp = msg_now_us();
    q->max = cf->offline.max_messages;
    q->r.mail.fn = on_kept;
    q->r.reply = w->mb;
    q->r.op = STORE_RUN;
    q->r.run = keep_run;
    store_submit(w->srv->store, &q->r);
}

void mod_offline_init(void)
{
    mod_on(MOD_EV_AVAILABLE, on_available);
    mod_undelivered_register(undelivered);
    mod_feature("msgoffline", MOD_SERVER);
}
