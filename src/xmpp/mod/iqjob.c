/* iqjob: storage-backed IQ answers (iqjob.h). */
#include "xmpp/mod/iqjob.h"
#include "core/alloc.h"
#include "core/chunk.h"
#include "store/store_msg.h"
#include "xmpp/c2s.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static void job_free(struct iqjob *j)
{
    if (j->fini)
        j->fini(j);
    free(j->id);
    free(j->to);
    free(j->from);
    free(j);
}

static void on_job_done(struct mail *m, void *ctx)
{
    struct iqjob *j = (struct iqjob *)m;
    struct worker *w = ctx;
    struct c2s *s = c2s_find(w, j->conn_id);
    if (s && s->state != C2S_CLOSED)
        j->done(s, j);
    else if (j->orphan)
        j->orphan(w, j);
    if (j->again) {
        j->again = false;
        store_submit(w->srv->store, &j->r);
        return;
    }
    job_free(j);
}

void iqjob_again(struct iqjob *j, int (*run)(struct store_db *db, struct store_req *r),
                 iqjob_done_fn *done)
{
    j->again = true;
    j->r.op = STORE_RUN;
    j->r.run = run;
    j->r.after = NULL;
    j->r.status = 0;
    j->done = done;
}

static void submit_on(struct worker *w, struct iqjob *j,
                      int (*run)(struct store_db *db, struct store_req *r))
{
    j->r.mail.fn = on_job_done;
    j->r.reply = w->mb;
    j->r.op = STORE_RUN;
    j->r.run = run;
    store_submit(w->srv->store, &j->r);
}

void iqjob_submit_worker(struct worker *w, struct iqjob *j,
                         int (*run)(struct store_db *db, struct store_req *r))
{
    j->conn_id = 0; /* no connection has id 0: the completion finds no session */
    submit_on(w, j, run);
}

void iqjob_submit(struct c2s *s, const struct xml_node *iq, struct iqjob *j,
                  int (*run)(struct store_db *db, struct store_req *r), iqjob_done_fn *done)
{
    j->conn_id = s->id;
    if (iq) {
        j->id = xstrdup(xml_attr(iq, "id"));
        j->to = xstrdup(xml_attr(iq, "from"));
        j->from = xstrdup(xml_attr(iq, "to"));
    }
    j->done = done;
    submit_on(s->w, j, run);
}

void iqjob_attr(struct buf *b, const char *name, const char *value)
{
    buf_printf(b, " %s=\"", name);
    xml_escape_attr(b, value, strlen(value));
    buf_puts(b, "\"");
}

static struct buf *begin(struct c2s *s, const struct iqjob *j, const char *type)
{
    struct buf *b = &s->w->out;
    buf_reset(b);
    buf_printf(b, "<iq type=\"%s\"", type);
    if (j->id)
        iqjob_attr(b, "id", j->id);
    if (j->to)
        iqjob_attr(b, "to", j->to);
    if (j->from)
        iqjob_attr(b, "from", j->from);
    buf_puts(b, ">");
    return b;
}

struct buf *iqjob_begin(struct c2s *s, const struct iqjob *j)
{
    return begin(s, j, "result");
}

void iqjob_end(struct c2s *s, struct buf *b)
{
    if (buf_puts(b, "</iq>") < 0)
        return;
    struct chunk *ch = chunk_new(b->data, b->len);
    c2s_send_chunk(s, ch);
    chunk_unref(ch);
}

void iqjob_result(struct c2s *s, const struct iqjob *j)
{
    iqjob_end(s, iqjob_begin(s, j));
}

void iqjob_error(struct c2s *s, const struct iqjob *j, const char *type, const char *cond,
                 const char *app_ns, const char *app)
{
    struct buf *b = begin(s, j, "error");
    buf_printf(b, "<error type=\"%s\"><%s xmlns=\"" XMPP_NS_STANZAS "\"/>", type, cond);
    if (app) {
        buf_printf(b, "<%s", app);
        iqjob_attr(b, "xmlns", app_ns);
        buf_puts(b, "/>");
    }
    buf_puts(b, "</error>");
    iqjob_end(s, b);
}

void iqjob_fail(struct c2s *s, const struct iqjob *j, int status)
{
    if (status == -ENOENT)
        iqjob_error(s, j, "cancel", "item-not-found", NULL, NULL);
    else
        iqjob_error(s, j, "wait", "internal-server-error", NULL, NULL);
}

int iqjob_xml(const struct xml_node *n, size_t max, char **out)
{
    struct buf b;
    buf_init(&b, max);
    *out = NULL;
    /* a parent namespace no element has: the root always declares its own */
    if (xml_serialize(&b, n, "\x01") < 0 || !b.data) {
        buf_fini(&b);
        return -ENOBUFS;
    }
    *out = b.data;
    return (int)b.len;
}

int iqjob_blocked(struct store_db *db, const char *user, const char *jid)
{
    struct jid j;
    if (!jid || jid_parse(&j, jid, strlen(jid)) < 0)
        return 0;
    char full[JID_BUF], bare[JID_BUF], dres[JID_BUF];
    jid_full(&j, full, sizeof(full));
    jid_bare(&j, bare, sizeof(bare));
    snprintf(dres, sizeof(dres), "%s/%s", jid_domain(&j), jid_resource(&j));
    const char *cands[] = {full, bare, j.has_resource ? dres : bare, jid_domain(&j)};
    return store_blocked(db, user, cands, 4);
}
