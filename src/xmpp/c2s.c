/*
 * c2s: the client stream. Transitions are driven by the parser callbacks
 * (on_stream_open, on_stanza, on_stream_close) and by storage completions
 * (on_auth_done), each a small function named after what it handles.
 *
 * Invariants:
 * - Nothing but <starttls/>, SASL and stream-level elements is accepted
 *   before authentication; nothing but bind/session IQs before binding.
 * - While a storage request is outstanding the parser is suspended and the
 *   socket is not read, so stanzas are handled strictly in order.
 * - A storage completion finds its session by conn id, never by pointer:
 *   the session may have gone while the request was out.
 * - `from` on every routed stanza is the session's full JID.
 * - Every stanza to the client goes through stanza_out(): with stream
 *   management on, it is counted and kept (a reference to the same chunk)
 *   until the client acknowledges it; nothing else (SASL, <a/>, <r/>,
 *   stream errors) is counted. Stanzas held back for an inactive client
 *   (CSI) are counted when they are really sent.
 * - A session ends once, in session_end(): modules hear MOD_EV_UNBOUND, the
 *   registry entry goes, and every unacknowledged stanza tagged
 *   CHUNK_TAG_STORE goes to the undelivered hook (offline storage).
 *
 * Stream resumption (XEP-0198 §5). The resumption id names the worker and
 * the id of the session ("W-ID-TOKEN"). A <resume/> suspends the new
 * stream's parser and, from a deferred task (never inside the connection's
 * own callbacks), either merges it into the session (same worker) or
 * releases its connection from this loop and posts the whole new c2s to the
 * session's worker, which adopts the connection and merges there. Moving the
 * one new connection keeps the session where it is, so deliveries already
 * posted to it (by id) are never lost in flight. The merge moves the
 * connection and the parser into the old session, which keeps its id,
 * registry entry and module state; the new c2s shell is freed.
 *
 *   <resume/> --task--> same worker? --yes-----------------> merge
 *                        \--no: conn_release, post --mail--> conn_adopt, merge
 *   merge: unknown id / other account / ended --> <failed/>, stream goes on
 *          holds still out --> wait for them (sm_wait) --> <resumed/>, resend
 */
#include "xmpp/c2s.h"
#include "conf/conf.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/rand.h"
#include "xmpp/iplimit.h"
#include "xmpp/mod.h"
#include "xmpp/router.h"
#include "xmpp/sessions.h"
#include "xmpp/sm.h"
#include "xmpp/stanza.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define C2S_MAX_AUTH_FAILURES 5

/* A storage request for SASL, with what the completion needs. */
struct auth_req {
    struct store_req r; /* first: the completion casts back */
    uint64_t conn_id;
    enum scram_hash hash; /* PLAIN: which credential to check against */
    char *password;       /* PLAIN only, wiped after the check */
    size_t password_len;
    bool ok; /* PLAIN: password matched */
};

/* A <resume/> on its way to the session it names. */
struct sm_resume {
    struct mail mail; /* first: the mail casts back (cross-worker hand-over) */
    struct c2s *s;    /* the new stream, in transit */
    unsigned worker;
    uint64_t id;
    uint32_t h;
    char previd[SM_ID_MAX];
};

/* Client state indication (XEP-0352). */
struct csi {
    bool inactive;
    struct sm_queue held; /* stanzas not sent yet, oldest first */
};

static void parse_result(struct c2s *s, int rc);
static void session_end(struct c2s *s);

static const struct conf *conf_of_worker(const struct worker *w)
{
    return w->srv->conf;
}

static const struct conf *conf_of(const struct c2s *s)
{
    return conf_of_worker(s->w);
}

static void set_ctx(struct c2s *s)
{
    char full[JID_BUF] = "";
    if (s->state == C2S_BOUND)
        jid_full(&s->jid, full, sizeof(full));
    else if (s->authed)
        jid_bare(&s->jid, full, sizeof(full));
    /* the context is for humans: a JID longer than the room left is cut */
    int n =
        snprintf(s->ctx, sizeof(s->ctx), "c2s#%llu %s", (unsigned long long)s->id, s->conn->peer);
    if (full[0] && n > 0 && (size_t)n + 2 < sizeof(s->ctx)) {
        s->ctx[n] = ' ';
        size_t room = sizeof(s->ctx) - (size_t)n - 2;
        size_t fl = strlen(full);
        memcpy(s->ctx + n + 1, full, fl < room ? fl : room);
        s->ctx[n + 1 + (fl < room ? fl : room)] = '\0';
    }
}

/* The address part of "ip:port" / "[v6]:port", for per-IP accounting. */
static void ip_of(const char *p, char *out, size_t cap)
{
    const char *colon = strrchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : strlen(p);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static void peer_ip(const struct c2s *s, char *out, size_t cap)
{
    ip_of(s->conn->peer, out, cap);
}

static struct sm *sm_of(const struct c2s *s)
{
    return s->slot[C2S_SLOT_SM];
}

static struct csi *csi_of(const struct c2s *s)
{
    return s->slot[C2S_SLOT_CSI];
}

/* Whether bytes can go to the client now. */
static bool writable(const struct c2s *s)
{
    return s->conn && s->state != C2S_CLOSED && !s->sm_wait;
}

static void send_str(struct c2s *s, const char *str)
{
    if (writable(s))
        conn_send(s->conn, str, strlen(str));
}

struct c2s *c2s_find(struct worker *w, uint64_t id)
{
    return map_get(&w->c2s_by_id, &id, sizeof(id));
}

static void send_ack(struct c2s *s, struct sm *m)
{
    char a[64];
    m->acked_sent = sm_ack_value(m);
    snprintf(a, sizeof(a), "<a xmlns='" SM_NS "' h='%u'/>", m->acked_sent);
    send_str(s, a);
}

/* Answers each waiting <r/> whose stanzas are all durable now, oldest first. */
static void answer_owed(struct c2s *s, struct sm *m)
{
    while (writable(s) && sm_answer_due(m))
        send_ack(s, m);
}

uint64_t c2s_durable_hold(struct c2s *s)
{
    struct sm *m = sm_of(s);
    return m ? sm_hold(m) : 0;
}

static void resume_finish_task(struct loop *l, struct task *t);

void c2s_durable_done(struct worker *w, uint64_t conn_id, uint64_t ticket)
{
    struct c2s *s = c2s_find(w, conn_id);
    struct sm *m = s ? sm_of(s) : NULL;
    if (!m || !sm_release(m, ticket))
        return;
    if (s->sm_wait && sm_all_durable(m)) {
        if (!list_empty(&s->task.link))
            return; /* already on its way */
        task_init(&s->task, resume_finish_task);
        loop_defer(w->loop, &s->task);
    } else {
        answer_owed(s, m); /* the <r/> that waited for these writes */
    }
}

static void end_task(struct loop *l, struct task *t)
{
    (void)l;
    session_end(LIST_ENTRY(t, struct c2s, task));
}

/* Ends a detached session from a deferred task: its caller may be iterating sessions. */
static void end_detached_later(struct c2s *s)
{
    if (!list_empty(&s->task.link))
        return;
    task_init(&s->task, end_task);
    loop_defer(s->w->loop, &s->task);
}

static void ack_task(struct loop *l, struct task *t)
{
    (void)l;
    struct c2s *s = LIST_ENTRY(t, struct c2s, ack_task);
    struct sm *m = sm_of(s);
    if (!m || m->req_out || m->since_req == 0 || !writable(s))
        return;
    m->req_out = true;
    m->since_req = 0;
    send_str(s, "<r xmlns='" SM_NS "'/>");
}

/* One stanza to the client: counted and kept by stream management, written if possible. */
static void stanza_out(struct c2s *s, struct chunk *ch)
{
    struct sm *m = sm_of(s);
    if (m) {
        sm_queue_push(&m->unacked, ch);
        if (m->unacked.n > conf_of(s)->sm.max_unacked) {
            /* it stays queued: the end of the session hands it on with the others */
            if (s->detached)
                end_detached_later(s);
            else
                c2s_stream_error(s, "policy-violation", "Too many unacknowledged stanzas");
            return;
        }
        m->since_req++;
        if (!m->req_out && writable(s))
            loop_defer(s->w->loop, &s->ack_task);
    }
    if (writable(s))
        conn_send_chunk(s->conn, ch);
}

static void csi_flush(struct c2s *s, struct csi *c)
{
    struct chunk *ch;
    while ((ch = sm_queue_pop(&c->held)) != NULL) {
        stanza_out(s, ch);
        chunk_unref(ch);
    }
}

void c2s_send_chunk(struct c2s *s, struct chunk *chunk)
{
    if (!sm_of(s) && !writable(s))
        return;
    struct csi *c = csi_of(s);
    if (c && c->inactive && (chunk->tag & CHUNK_TAG_LOW) && !s->detached) {
        if (sm_csi_hold(&c->held, chunk))
            csi_flush(s, c); /* too much held back: the client gets it all, in order */
        return;
    }
    if (c && c->held.n)
        csi_flush(s, c); /* what was held goes first, so the order is kept */
    stanza_out(s, chunk);
}

void c2s_send_node(struct c2s *s, const struct xml_node *n)
{
    struct buf *b = &s->w->out;
    buf_reset(b);
    if (xml_serialize(b, n, XML_NS_CLIENT) < 0)
        return;
    struct chunk *ch = chunk_new(b->data, b->len);
    c2s_send_chunk(s, ch);
    chunk_unref(ch);
}

static void send_header(struct c2s *s)
{
    char id[17];
    rand_token(id, 16);
    struct buf *b = &s->w->out;
    buf_reset(b);
    buf_puts(b, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                "xmlns:stream='http://etherx.jabber.org/streams' id='");
    buf_puts(b, id);
    buf_puts(b, "' from='");
    xml_escape_attr(b, s->w->srv->domain, strlen(s->w->srv->domain));
    buf_puts(b, "' version='1.0' xml:lang='en'>");
    conn_send(s->conn, b->data, b->len);
    s->header_sent = true;
}

/* Sends a stream error (extra: a constant application-specific condition, or NULL), closes. */
static void stream_error(struct c2s *s, const char *cond, const char *text, const char *extra)
{
    if (s->detached) {
        end_detached_later(s); /* e.g. replaced by a new bind of its resource */
        return;
    }
    if (s->state == C2S_CLOSED)
        return;
    /* a silent peer may come back and resume; any other error ends the session */
    if (strcmp(cond, "connection-timeout") != 0)
        s->ending = true;
    if (!s->header_sent)
        send_header(s);
    struct buf *b = &s->w->out;
    buf_reset(b);
    buf_printf(b, "<stream:error><%s xmlns='" XMPP_NS_STREAMS "'/>", cond);
    if (text) {
        buf_puts(b, "<text xmlns='" XMPP_NS_STREAMS "' xml:lang='en'>");
        xml_escape_text(b, text, strlen(text));
        buf_puts(b, "</text>");
    }
    if (extra)
        buf_puts(b, extra);
    buf_puts(b, "</stream:error></stream:stream>");
    conn_send(s->conn, b->data, b->len);
    log_write(LOG_INFO, s->ctx, "stream error %s%s%s", cond, text ? ": " : "", text ? text : "");
    s->state = C2S_CLOSED;
    conn_close(s->conn, cond);
}

void c2s_stream_error(struct c2s *s, const char *cond, const char *text)
{
    stream_error(s, cond, text, NULL);
}

void c2s_shutdown(struct c2s *s)
{
    if (s->detached) {
        session_end(s);
        return;
    }
    s->ending = true;
    if (s->state == C2S_CLOSED)
        return;
    if (!s->header_sent)
        send_header(s);
    send_str(s, "</stream:stream>");
    s->state = C2S_CLOSED;
    conn_close(s->conn, "server shutdown");
}

/* ---- features ------------------------------------------------------------------------ */

static void add_feature(void *arg, const char *xml)
{
    buf_puts(arg, xml);
}

static void send_features(struct c2s *s)
{
    const struct conf *cf = conf_of(s);
    bool tls_ok = s->w->srv->ssl_ctx != NULL;
    struct buf *b = &s->w->out;
    buf_reset(b);
    buf_puts(b, "<stream:features>");
    if (!s->authed) {
        if (!s->secure && tls_ok) {
            buf_puts(b, "<starttls xmlns='" XMPP_NS_TLS "'>");
            if (cf->c2s.require_tls)
                buf_puts(b, "<required/>");
            buf_puts(b, "</starttls>");
        }
        if (s->secure || !cf->c2s.require_tls) {
            buf_puts(b, "<mechanisms xmlns='" XMPP_NS_SASL "'>"
                        "<mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism>");
            if (s->secure && cf->auth.plain)
                buf_puts(b, "<mechanism>PLAIN</mechanism>");
            buf_puts(b, "</mechanisms>");
        }
        mod_preauth_features(s, add_feature, b);
    } else {
        buf_puts(b, "<bind xmlns='" XMPP_NS_BIND "'/>"
                    "<session xmlns='" XMPP_NS_SESSION "'><optional/></session>"
                    "<sm xmlns='" SM_NS "'/><csi xmlns='" SM_CSI_NS "'/>"
                    "<ver xmlns='urn:xmpp:features:rosterver'/>"
                    "<sub xmlns='urn:xmpp:features:pre-approval'/>");
    }
    buf_puts(b, "</stream:features>");
    conn_send(s->conn, b->data, b->len);
}

/* ---- parser callbacks ------------------------------------------------------------------ */

static void on_stream_open(void *arg, struct xml_node *root)
{
    struct c2s *s = arg;
    if (s->state == C2S_CLOSED)
        return;
    if (!xml_is(root, XML_NS_STREAM, "stream")) {
        c2s_stream_error(s, "invalid-namespace", NULL);
        return;
    }
    send_header(s);
    const char *to = xml_attr(root, "to");
    const char *version = xml_attr(root, "version");
    struct jid tj;
    if (!to || jid_parse(&tj, to, strlen(to)) < 0 || tj.has_local || tj.has_resource ||
        strcmp(jid_domain(&tj), s->w->srv->domain) != 0) {
        c2s_stream_error(s, "host-unknown", "This server does not serve that domain");
        return;
    }
    if (!version || strtol(version, NULL, 10) < 1) {
        c2s_stream_error(s, "unsupported-version", "XMPP 1.0 is required");
        return;
    }
    s->state = C2S_OPEN;
    send_features(s);
}

static void on_stream_close(void *arg)
{
    struct c2s *s = arg;
    if (s->state == C2S_CLOSED)
        return;
    s->ending = true; /* a closed stream is not resumed (XEP-0198 §5) */
    send_str(s, "</stream:stream>");
    s->state = C2S_CLOSED;
    conn_close(s->conn, "client closed stream");
}

/* Stream restart after STARTTLS or SASL success: a fresh document, the header comes again. */
static void restart(struct c2s *s)
{
    xml_parser_reset(s->parser);
    s->suspended = false;
    s->state = C2S_HEADER;
    s->header_sent = false;
}

static void handle_starttls(struct c2s *s)
{
    if (s->secure || !s->w->srv->ssl_ctx || s->authed) {
        send_str(s, "<failure xmlns='" XMPP_NS_TLS "'/></stream:stream>");
        s->state = C2S_CLOSED;
        conn_close(s->conn, "starttls refused");
        return;
    }
    send_str(s, "<proceed xmlns='" XMPP_NS_TLS "'/>");
    restart(s); /* bytes after <starttls/> are dropped: never read them as plaintext */
    conn_starttls(s->conn);
}

/* ---- SASL ------------------------------------------------------------------------------ */

static void sasl_reset(struct c2s *s)
{
    if (s->scram) {
        OPENSSL_cleanse(s->scram, sizeof(*s->scram));
        free(s->scram);
        s->scram = NULL;
    }
    s->sasl = SASL_NONE;
}

static void sasl_failure_now(struct c2s *s, const char *cond)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "<failure xmlns='" XMPP_NS_SASL "'><%s/></failure>", cond);
    send_str(s, msg);
}

/* Continues input after a suspension; reading restarts only if the parser did not stop again. */
static void resume_parser(struct c2s *s)
{
    s->suspended = false;
    int rc = xml_parser_resume(s->parser);
    if (rc != XML_PARSE_SUSPENDED && s->state != C2S_CLOSED)
        conn_pause(s->conn, false);
    parse_result(s, rc);
}

static void delayed_failure(struct loop *l, struct timer *t);

/* An authentication failed: answer after the per-IP delay, close after too many. */
static void auth_failed(struct c2s *s, const char *cond, bool counts)
{
    sasl_reset(s);
    if (!counts) {
        sasl_failure_now(s, cond);
        return;
    }
    char ip[64];
    peer_ip(s, ip, sizeof(ip));
    s->auth_failures++;
    uint64_t delay = iplimit_auth_fail(s->w->srv->iplimit, ip, loop_now(s->w->loop));
    log_write(LOG_INFO, s->ctx, "authentication failed (%s), answering in %llu ms", cond,
              (unsigned long long)delay);
    s->sasl = SASL_DELAYED_FAILURE;
    /* the parser stays suspended and the socket unread until the answer goes out */
    if (!s->suspended)
        xml_parser_suspend(s->parser);
    conn_pause(s->conn, true);
    loop_timer_start(s->w->loop, &s->auth_timer, delay, delayed_failure);
}

static void delayed_failure(struct loop *l, struct timer *t)
{
    (void)l;
    struct c2s *s = (struct c2s *)((char *)t - offsetof(struct c2s, auth_timer));
    s->sasl = SASL_NONE;
    if (s->auth_failures >= C2S_MAX_AUTH_FAILURES) {
        sasl_failure_now(s, "not-authorized");
        c2s_stream_error(s, "policy-violation", "Too many failed authentication attempts");
        return;
    }
    sasl_failure_now(s, "not-authorized");
    resume_parser(s);
}

static void auth_success(struct c2s *s, const char *mech, const char *extra)
{
    char ip[64];
    peer_ip(s, ip, sizeof(ip));
    iplimit_auth_ok(s->w->srv->iplimit, ip);
    s->authed = true;
    jid_from_parts(&s->jid, s->user, s->w->srv->domain, NULL);
    set_ctx(s);
    log_write(LOG_INFO, s->ctx, "authenticated with %s over %s", mech, conn_tls_version(s->conn));
    struct buf *b = &s->w->out;
    buf_reset(b);
    buf_puts(b, "<success xmlns='" XMPP_NS_SASL "'>");
    if (extra) {
        char enc[512];
        if (sasl_b64_encode(extra, strlen(extra), enc, sizeof(enc)) > 0)
            buf_puts(b, enc);
    }
    buf_puts(b, "</success>");
    conn_send(s->conn, b->data, b->len);
    sasl_reset(s);
    restart(s);
    conn_pause(s->conn, false);
}

static const struct store_scram *cred_of(const struct store_account *a, enum scram_hash h)
{
    return h == SCRAM_SHA256 ? &a->sha256 : &a->sha1;
}

/* Storage thread, after the lookup: the PLAIN password check (PBKDF2) stays off the loop. */
static void plain_check(struct store_req *r)
{
    struct auth_req *ar = (struct auth_req *)r;
    ar->ok = r->status == 0 && sasl_plain_check(ar->hash, cred_of(&r->u.account.account, ar->hash),
                                                ar->password, ar->password_len);
    OPENSSL_cleanse(ar->password, ar->password_len);
}

static void free_auth_req(struct auth_req *ar)
{
    if (ar->password) {
        OPENSSL_cleanse(ar->password, ar->password_len);
        free(ar->password);
    }
    OPENSSL_cleanse(&ar->r.u.account.account, sizeof(ar->r.u.account.account));
    free(ar);
}

static void on_auth_done(struct mail *m, void *ctx)
{
    struct auth_req *ar = (struct auth_req *)m;
    struct c2s *s = c2s_find(ctx, ar->conn_id);
    if (!s || s->state == C2S_CLOSED || s->pending != &ar->r) {
        free_auth_req(ar);
        return;
    }
    s->pending = NULL;
    int status = ar->r.status;
    if (status < 0 && status != -ENOENT) {
        log_write(LOG_WARN, s->ctx, "account lookup failed: %s", strerror(-status));
        free_auth_req(ar);
        sasl_reset(s);
        sasl_failure_now(s, "temporary-auth-failure");
        resume_parser(s);
        return;
    }
    if (s->sasl == SASL_PLAIN) {
        bool ok = ar->ok;
        free_auth_req(ar);
        if (ok)
            auth_success(s, "PLAIN", NULL);
        else
            auth_failed(s, "not-authorized", true);
        return;
    }
    /* SCRAM: send server-first */
    char nonce[33], first[SASL_MSG_MAX + 1], enc[2 * SASL_MSG_MAX];
    rand_token(nonce, 32);
    const struct store_scram *cred =
        status == 0 ? cred_of(&ar->r.u.account.account, s->scram->hash) : NULL;
    int n = scram_server_first(s->scram, cred, nonce, first, sizeof(first));
    free_auth_req(ar);
    if (n < 0 || sasl_b64_encode(first, (size_t)n, enc, sizeof(enc)) < 0) {
        sasl_reset(s);
        sasl_failure_now(s, "temporary-auth-failure");
        resume_parser(s);
        return;
    }
    struct buf *b = &s->w->out;
    buf_reset(b);
    buf_printf(b, "<challenge xmlns='" XMPP_NS_SASL "'>%s</challenge>", enc);
    conn_send(s->conn, b->data, b->len);
    resume_parser(s);
}

/* Submits the account lookup and suspends input until it completes. */
static void lookup_account(struct c2s *s, const char *user, char *password, size_t password_len,
                           enum scram_hash hash)
{
    struct auth_req *ar;
    XNEW(ar);
    ar->r.mail.fn = on_auth_done;
    ar->r.reply = s->w->mb;
    ar->r.op = STORE_ACCOUNT_GET;
    snprintf(ar->r.u.account.user, sizeof(ar->r.u.account.user), "%s", user);
    ar->conn_id = s->id;
    ar->hash = hash;
    if (password) {
        ar->password = password;
        ar->password_len = password_len;
        ar->r.after = plain_check;
    }
    s->pending = &ar->r;
    xml_parser_suspend(s->parser);
    conn_pause(s->conn, true);
    store_submit(s->w->srv->store, &ar->r);
}

/* Decodes the base64 text of a SASL element into out. Returns length or -EINVAL. */
static int sasl_payload(struct arena *a, const struct xml_node *n, unsigned char *out, size_t cap)
{
    const char *t = xml_text(a, n);
    size_t len = strlen(t);
    if (len == 0 || (len == 1 && t[0] == '='))
        return 0;
    return sasl_b64_decode(t, len, out, cap);
}

static void handle_auth(struct c2s *s, struct xml_node *el, struct arena *a)
{
    const struct conf *cf = conf_of(s);
    if (s->authed || s->sasl != SASL_NONE) {
        auth_failed(s, "aborted", false);
        return;
    }
    if (!s->secure && cf->c2s.require_tls) {
        sasl_failure_now(s, "encryption-required");
        return;
    }
    const char *mech = xml_attr(el, "mechanism");
    unsigned char msg[SASL_MSG_MAX + 1];
    int len = sasl_payload(a, el, msg, sizeof(msg) - 1);
    if (len < 0) {
        sasl_failure_now(s, "incorrect-encoding");
        return;
    }
    msg[len] = '\0';
    if (mech && (strcmp(mech, "SCRAM-SHA-256") == 0 || strcmp(mech, "SCRAM-SHA-1") == 0)) {
        enum scram_hash h = strcmp(mech, "SCRAM-SHA-256") == 0 ? SCRAM_SHA256 : SCRAM_SHA1;
        s->scram = xcalloc(1, sizeof(*s->scram));
        s->sasl = SASL_SCRAM;
        int rc = scram_server_start(s->scram, h, (const char *)msg, (size_t)len);
        if (rc < 0) {
            sasl_reset(s);
            sasl_failure_now(s, rc == -ENOTSUP ? "not-authorized"
                                : rc == -EPERM ? "invalid-authzid"
                                               : "malformed-request");
            return;
        }
        s->scram->fake_iterations = cf->auth.scram_iterations;
        char user[STORE_USER_MAX + 1];
        int ul =
            jid_normalize_local(s->scram->username, strlen(s->scram->username), user, sizeof(user));
        if (ul <= 0)
            user[0] = '\0'; /* no such account can exist: the exchange fails at the end */
        snprintf(s->user, sizeof(s->user), "%s", user);
        lookup_account(s, user, NULL, 0, h);
        return;
    }
    if (mech && strcmp(mech, "PLAIN") == 0 && s->secure && cf->auth.plain) {
        const char *authz, *authc, *pw;
        size_t authz_len, authc_len, pw_len;
        if (sasl_plain_parse((const char *)msg, (size_t)len, &authz, &authz_len, &authc, &authc_len,
                             &pw, &pw_len) < 0) {
            OPENSSL_cleanse(msg, sizeof(msg));
            sasl_failure_now(s, "malformed-request");
            return;
        }
        char user[STORE_USER_MAX + 1];
        int ul = jid_normalize_local(authc, authc_len, user, sizeof(user));
        if (ul <= 0)
            user[0] = '\0';
        if (authz_len) {
            /* an authzid is accepted only when it names the same account */
            char want[JID_BUF];
            snprintf(want, sizeof(want), "%s@%s", user, s->w->srv->domain);
            if (strlen(want) != authz_len || strncmp(want, authz, authz_len) != 0) {
                OPENSSL_cleanse(msg, sizeof(msg));
                sasl_failure_now(s, "invalid-authzid");
                return;
            }
        }
        s->sasl = SASL_PLAIN;
        snprintf(s->user, sizeof(s->user), "%s", user);
        char *copy = xmalloc(pw_len + 1);
        memcpy(copy, pw, pw_len);
        copy[pw_len] = '\0';
        OPENSSL_cleanse(msg, sizeof(msg));
        lookup_account(s, user, copy, pw_len, SCRAM_SHA256);
        return;
    }
    sasl_failure_now(s, "invalid-mechanism");
}

static void handle_response(struct c2s *s, struct xml_node *el, struct arena *a)
{
    if (s->sasl != SASL_SCRAM || !s->scram || s->scram->state != SCRAM_SENT_FIRST) {
        auth_failed(s, "malformed-request", false);
        return;
    }
    unsigned char msg[SASL_MSG_MAX + 1];
    int len = sasl_payload(a, el, msg, sizeof(msg) - 1);
    if (len < 0) {
        auth_failed(s, "incorrect-encoding", false);
        return;
    }
    msg[len] = '\0';
    char final[256];
    const char *mech = scram_mech_name(s->scram->hash);
    int rc = scram_server_final(s->scram, (const char *)msg, (size_t)len, final, sizeof(final));
    if (rc == -EINVAL)
        auth_failed(s, "malformed-request", false);
    else if (rc < 0)
        auth_failed(s, "not-authorized", true);
    else
        auth_success(s, mech, final);
}

/* ---- bound stanzas ---------------------------------------------------------------------- */

static void idle_timer(struct loop *l, struct timer *t);

static void handle_bind(struct c2s *s, struct xml_node *iq, struct xml_node *bind, struct arena *a)
{
    const char *type = xml_attr(iq, "type");
    if (!type || strcmp(type, "set") != 0 || !xml_attr(iq, "id")) {
        c2s_send_node(s, stanza_error(a, iq, "modify", "bad-request"));
        return;
    }
    if (s->state == C2S_BOUND) {
        c2s_send_node(s, stanza_error(a, iq, "cancel", "not-allowed"));
        return;
    }
    struct xml_node *r = xml_child(bind, XMPP_NS_BIND, "resource");
    char res[JID_PART_MAX + 1];
    const char *want = r ? xml_text(a, r) : "";
    /* trim surrounding whitespace, as clients put the resource in pretty-printed XML */
    while (*want == ' ' || *want == '\t' || *want == '\n' || *want == '\r')
        want++;
    size_t wl = strlen(want);
    while (wl && (want[wl - 1] == ' ' || want[wl - 1] == '\t' || want[wl - 1] == '\n' ||
                  want[wl - 1] == '\r'))
        wl--;
    if (wl == 0) {
        memcpy(res, "tern-", 5);
        rand_token(res + 5, 12);
    } else if (wl > JID_PART_MAX) {
        c2s_send_node(s, stanza_error(a, iq, "modify", "bad-request"));
        return;
    } else {
        memcpy(res, want, wl);
        res[wl] = '\0';
    }
    struct jid full;
    if (jid_from_parts(&full, s->user, s->w->srv->domain, res) < 0) {
        c2s_send_node(s, stanza_error(a, iq, "modify", "bad-request"));
        return;
    }
    struct sess_addr addr = {.worker = s->w->id, .conn_id = s->id}, old;
    int rc = sessions_bind(s->w->srv->sessions, &full, &addr, &old);
    if (rc < 0) {
        c2s_send_node(s, stanza_error(a, iq, "wait", "resource-constraint"));
        return;
    }
    s->jid = full;
    s->state = C2S_BOUND;
    set_ctx(s);
    if (rc == 1) {
        log_write(LOG_INFO, s->ctx, "replaces an older session with the same resource");
        router_kick(s->w, &old);
    }
    log_write(LOG_INFO, s->ctx, "session bound");
    loop_timer_start(s->w->loop, &s->timer, (uint64_t)conf_of(s)->limits.idle_timeout * 1000,
                     idle_timer);
    char fj[JID_BUF];
    jid_full(&s->jid, fj, sizeof(fj));
    struct xml_node *res_iq = stanza_result(a, iq);
    xml_set_attr(a, res_iq, "to", NULL);
    struct xml_node *b = xml_add_child(a, res_iq, XMPP_NS_BIND, "bind");
    xml_add_text(a, xml_add_child(a, b, XMPP_NS_BIND, "jid"), fj, strlen(fj));
    c2s_send_node(s, res_iq);
    mod_emit(MOD_EV_BOUND, s);
}

static void handle_stanza(struct c2s *s, struct xml_node *st, struct arena *a)
{
    if (!s->authed && strcmp(st->name, "iq") == 0) {
        struct xml_node *payload = xml_child(st, NULL, NULL);
        mod_preauth_fn *fn = payload ? mod_preauth_find(s, payload->ns) : NULL;
        if (fn) {
            xml_set_attr(a, st, "from", NULL); /* no JID yet: nothing to stamp */
            fn(s, st, a);
            return;
        }
    }
    if (!s->authed) {
        c2s_stream_error(s, "not-authorized", NULL);
        return;
    }
    if (strcmp(st->name, "iq") == 0) {
        struct xml_node *bind = xml_child(st, XMPP_NS_BIND, "bind");
        if (bind) {
            handle_bind(s, st, bind, a);
            return;
        }
        struct xml_node *sess = xml_child(st, XMPP_NS_SESSION, "session");
        if (sess && s->state == C2S_BOUND) {
            /* RFC 3921 session establishment: a no-op kept for old clients */
            struct xml_node *r = stanza_result(a, st);
            xml_set_attr(a, r, "from", NULL);
            c2s_send_node(s, r);
            return;
        }
    }
    if (s->state != C2S_BOUND) {
        c2s_stream_error(s, "not-authorized", "Bind a resource first");
        return;
    }
    char fj[JID_BUF];
    jid_full(&s->jid, fj, sizeof(fj));
    xml_set_attr(a, st, "from", fj);
    router_route(s, st, a);
}

/* ---- stream management (XEP-0198) and client state indication (XEP-0352) -------------- */

static const struct conn_ops c2s_ops;
static void handshake_timer(struct loop *l, struct timer *t);

static void sm_failed(struct c2s *s, const char *cond)
{
    char msg[160];
    snprintf(msg, sizeof(msg),
             "<failed xmlns='" SM_NS "'><%s xmlns='" XMPP_NS_STANZAS "'/></failed>", cond);
    send_str(s, msg);
}

/* Parses a decimal h (0 .. 2^32-1). */
static bool parse_h(const char *v, uint32_t *out)
{
    if (!v || *v < '0' || *v > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || n > UINT32_MAX)
        return false;
    *out = (uint32_t)n;
    return true;
}

static void handle_enable(struct c2s *s, struct xml_node *el)
{
    if (s->state != C2S_BOUND || sm_of(s)) {
        sm_failed(s, "unexpected-request");
        return;
    }
    struct sm *m = sm_new();
    s->slot[C2S_SLOT_SM] = m;
    const char *r = xml_attr(el, "resume");
    m->resumable = r && (strcmp(r, "true") == 0 || strcmp(r, "1") == 0);
    char msg[160];
    if (m->resumable) {
        char token[25];
        rand_token(token, 24);
        snprintf(m->id, sizeof(m->id), "%u-%llu-%s", s->w->id, (unsigned long long)s->id, token);
        snprintf(msg, sizeof(msg), "<enabled xmlns='" SM_NS "' id='%s' resume='true' max='%u'/>",
                 m->id, conf_of(s)->sm.resume_timeout);
    } else {
        snprintf(msg, sizeof(msg), "<enabled xmlns='" SM_NS "'/>");
    }
    send_str(s, msg);
    log_write(LOG_DEBUG, s->ctx, "stream management on%s", m->resumable ? ", resumable" : "");
}

static void handle_ack(struct c2s *s, struct sm *m, struct xml_node *el)
{
    uint32_t h;
    if (!parse_h(xml_attr(el, "h"), &h)) {
        c2s_stream_error(s, "invalid-xml", "<a/> needs a numeric h");
        return;
    }
    if (sm_ack(m, h) < 0) {
        char extra[160];
        snprintf(extra, sizeof(extra),
                 "<handled-count-too-high xmlns='" SM_NS "' h='%u' send-count='%u'/>", h,
                 sm_sent(m));
        stream_error(s, "undefined-condition", "More stanzas acknowledged than were sent", extra);
        return;
    }
    m->req_out = false;
    if (m->since_req > 0)
        loop_defer(s->w->loop, &s->ack_task);
}

/* <resume/>: the stream stops here until the session it names has taken it over. */
static void resume_task(struct loop *l, struct task *t);

static void handle_resume(struct c2s *s, struct xml_node *el)
{
    if (!s->authed || s->state == C2S_BOUND || s->resume) {
        sm_failed(s, "unexpected-request");
        return;
    }
    uint32_t h;
    const char *previd = xml_attr(el, "previd");
    if (!parse_h(xml_attr(el, "h"), &h) || !previd) {
        sm_failed(s, "bad-request");
        return;
    }
    unsigned long wid = 0;
    unsigned long long sid = 0;
    char *end;
    wid = strtoul(previd, &end, 10);
    if (*end == '-')
        sid = strtoull(end + 1, &end, 10);
    if (strlen(previd) >= SM_ID_MAX || *end != '-' || wid >= s->w->srv->n_workers || sid == 0) {
        sm_failed(s, "item-not-found");
        return;
    }
    struct sm_resume *r;
    XNEW(r);
    r->worker = (unsigned)wid;
    r->id = sid;
    r->h = h;
    snprintf(r->previd, sizeof(r->previd), "%s", previd);
    s->resume = r;
    xml_parser_suspend(s->parser); /* input after <resume/> waits for the new owner */
    task_init(&s->task, resume_task);
    loop_defer(s->w->loop, &s->task);
}

/* Takes s (unlinked, timers stopped) into worker w's tables. */
static void attach(struct worker *w, struct c2s *s)
{
    s->w = w;
    map_put(&w->c2s_by_id, &s->id, sizeof(s->id), s);
    list_push(&w->c2s_all, &s->link);
    w->n_c2s++;
}

/* Takes s out of its worker's tables (it is freed or handed to another worker). */
static void detach_from_worker(struct c2s *s)
{
    struct worker *w = s->w;
    loop_timer_stop(w->loop, &s->timer);
    loop_timer_stop(w->loop, &s->auth_timer);
    loop_undefer(&s->task);
    loop_undefer(&s->ack_task);
    map_del(&w->c2s_by_id, &s->id, sizeof(s->id));
    list_del(&s->link);
    w->n_c2s--;
}

/* The old connection of a session that is resumed elsewhere: closed, nobody listens. */
static void orphan_data(struct conn *c, const char *data, size_t len)
{
    (void)c;
    (void)data;
    (void)len;
}

static void orphan_close(struct conn *c)
{
    struct worker *w = c->owner;
    char ip[64];
    ip_of(c->peer, ip, sizeof(ip));
    iplimit_conn_close(w->srv->iplimit, ip);
}

static const struct conn_ops orphan_ops = {orphan_data, NULL, orphan_close};

/* Resent what the client has not acknowledged and carries on with the resumed stream. */
static void resume_finish(struct c2s *s)
{
    struct sm *m = sm_of(s);
    s->sm_wait = false;
    char msg[SM_ID_MAX + 96];
    m->acked_sent = sm_ack_value(m);
    m->owed_n = 0; /* requests on the old connection: <resumed/> answers them */
    snprintf(msg, sizeof(msg), "<resumed xmlns='" SM_NS "' previd='%s' h='%u'/>", m->id,
             m->acked_sent);
    send_str(s, msg);
    for (size_t i = 0; i < m->unacked.n; i++)
        conn_send_chunk(s->conn, sm_queue_at(&m->unacked, i));
    m->req_out = false;
    m->since_req = m->unacked.n;
    if (m->since_req)
        loop_defer(s->w->loop, &s->ack_task);
    log_write(LOG_INFO, s->ctx, "session resumed, %zu stanzas sent again", m->unacked.n);
    resume_parser(s);
}

static void resume_finish_task(struct loop *l, struct task *t)
{
    (void)l;
    struct c2s *s = LIST_ENTRY(t, struct c2s, task);
    if (s->sm_wait && s->conn)
        resume_finish(s);
}

/* On the session's worker: merges the new stream ns into the session its <resume/> names. */
static void resume_here(struct c2s *ns)
{
    struct worker *w = ns->w;
    struct sm_resume *r = ns->resume;
    ns->resume = NULL;
    struct c2s *s = c2s_find(w, r->id);
    struct sm *m = s && s != ns ? sm_of(s) : NULL;
    /* a session whose end is already scheduled (max_unacked while detached) is gone */
    bool ok = m && m->resumable && !s->ending && list_empty(&s->task.link) &&
              strcmp(m->id, r->previd) == 0 && strcmp(s->user, ns->user) == 0;
    if (ok && (uint32_t)(r->h - m->out_acked) > m->unacked.n) {
        ok = false; /* acknowledges more than was sent: not this session's history */
        log_write(LOG_INFO, ns->ctx, "resumption refused: h %u, sent %u", r->h, sm_sent(m));
    }
    uint32_t h = r->h;
    free(r);
    if (!ok) {
        log_write(LOG_INFO, ns->ctx, "resumption failed: no such session");
        sm_failed(ns, "item-not-found");
        resume_parser(ns);
        return;
    }
    if (s->conn) {
        /* the old connection is still here (the client noticed the loss before we did) */
        struct conn *old = s->conn;
        old->ops = &orphan_ops;
        old->owner = w;
        conn_close(old, "session resumed on a new connection");
        xml_parser_free(s->parser);
        s->parser = NULL;
    }
    sm_ack(m, h);
    loop_timer_stop(w->loop, &s->timer);
    s->conn = ns->conn;
    s->conn->owner = s;
    s->parser = ns->parser;
    xml_parser_set_arg(s->parser, s);
    s->secure = ns->secure;
    s->header_sent = true;
    s->suspended = ns->suspended;
    s->state = C2S_BOUND;
    s->detached = false;
    s->last_rx = loop_now(w->loop);
    s->ping_out = false;
    ns->conn = NULL;
    ns->parser = NULL;
    session_end(ns); /* the shell: unbound, no state of its own */
    set_ctx(s);
    struct csi *c = csi_of(s);
    if (c && c->inactive) {
        /* a new stream starts active (XEP-0352) */
        c->inactive = false;
        sessions_set_flags(w->srv->sessions, &s->jid, s->id, SESS_F_INACTIVE, 0);
    }
    loop_timer_start(w->loop, &s->timer, (uint64_t)conf_of(s)->limits.idle_timeout * 1000,
                     idle_timer);
    if (!sm_all_durable(m)) {
        /* the h in <resumed/> must not count a stanza whose write is still out */
        s->sm_wait = true;
        return;
    }
    resume_finish(s);
}

static void on_resume_mail(struct mail *mail, void *ctx)
{
    struct worker *w = ctx;
    struct sm_resume *r = (struct sm_resume *)mail;
    struct c2s *s = r->s;
    attach(w, s);
    if (conn_adopt(s->conn, &w->cctx) < 0)
        return; /* closing: on_close frees s and r */
    if (w->done) {
        conn_abort(s->conn); /* the loop is gone: teardown */
        return;
    }
    if (w->stopping) {
        c2s_shutdown(s);
        return;
    }
    set_ctx(s);
    loop_timer_start(w->loop, &s->timer, (uint64_t)conf_of(s)->limits.handshake_timeout * 1000,
                     handshake_timer);
    resume_here(s);
}

static void resume_retry(struct loop *l, struct timer *t)
{
    struct c2s *s = (struct c2s *)((char *)t - offsetof(struct c2s, auth_timer));
    loop_defer(l, &s->task);
}

static void resume_task(struct loop *l, struct task *t)
{
    struct c2s *s = LIST_ENTRY(t, struct c2s, task);
    struct worker *w = s->w;
    if (!s->resume || s->state == C2S_CLOSED)
        return; /* the connection is closing: on_close frees the request */
    if (s->resume->worker == w->id) {
        resume_here(s);
        return;
    }
    int rc = conn_release(s->conn);
    if (rc == -EAGAIN) {
        /* a TLS write must finish first; the handshake deadline bounds the wait */
        loop_timer_start(l, &s->auth_timer, 10, resume_retry);
        return;
    }
    if (rc < 0)
        return;
    detach_from_worker(s);
    struct sm_resume *r = s->resume;
    log_write(LOG_INFO, s->ctx, "resumption handed to worker %u", r->worker);
    r->s = s;
    r->mail.fn = on_resume_mail;
    mailbox_post(w->srv->workers[r->worker].mb, &r->mail);
    if (w->stopping && w->n_c2s == 0)
        loop_stop(w->loop);
}

static void handle_sm(struct c2s *s, struct xml_node *el)
{
    struct sm *m = sm_of(s);
    if (strcmp(el->name, "enable") == 0) {
        handle_enable(s, el);
    } else if (strcmp(el->name, "resume") == 0) {
        handle_resume(s, el);
    } else if (!m) {
        c2s_stream_error(s, "unsupported-stanza-type", "Stream management is not enabled");
    } else if (strcmp(el->name, "r") == 0) {
        /* answered once the stanzas before it are durable: at once unless storage holds them */
        if (!sm_request(m))
            send_ack(s, m); /* too many waiting: the oldest gets what is durable now */
        answer_owed(s, m);
    } else if (strcmp(el->name, "a") == 0) {
        handle_ack(s, m, el);
    } else {
        c2s_stream_error(s, "unsupported-stanza-type", NULL);
    }
}

static void handle_csi(struct c2s *s, struct xml_node *el)
{
    bool inactive = strcmp(el->name, "inactive") == 0;
    if (!inactive && strcmp(el->name, "active") != 0) {
        c2s_stream_error(s, "unsupported-stanza-type", NULL);
        return;
    }
    if (s->state != C2S_BOUND)
        return; /* nothing is delivered before binding: nothing to hold */
    struct csi *c = csi_of(s);
    if (!c) {
        if (!inactive)
            return;
        c = xcalloc(1, sizeof(*c));
        s->slot[C2S_SLOT_CSI] = c;
    }
    if (c->inactive == inactive)
        return;
    c->inactive = inactive;
    sessions_set_flags(s->w->srv->sessions, &s->jid, s->id, SESS_F_INACTIVE,
                       inactive ? SESS_F_INACTIVE : 0);
    if (!inactive)
        csi_flush(s, c);
}

static void on_stanza(void *arg, struct xml_node *el, struct arena *a)
{
    struct c2s *s = arg;
    if (s->state == C2S_CLOSED)
        return;
    if (strcmp(el->ns, XMPP_NS_TLS) == 0 && strcmp(el->name, "starttls") == 0)
        handle_starttls(s);
    else if (strcmp(el->ns, XMPP_NS_SASL) == 0 && strcmp(el->name, "auth") == 0)
        handle_auth(s, el, a);
    else if (strcmp(el->ns, XMPP_NS_SASL) == 0 && strcmp(el->name, "response") == 0)
        handle_response(s, el, a);
    else if (strcmp(el->ns, XMPP_NS_SASL) == 0 && strcmp(el->name, "abort") == 0)
        auth_failed(s, "aborted", false);
    else if (strcmp(el->ns, SM_NS) == 0)
        handle_sm(s, el);
    else if (strcmp(el->ns, SM_CSI_NS) == 0)
        handle_csi(s, el);
    else if (stanza_is(el)) {
        if (sm_of(s))
            sm_count_in(sm_of(s));
        handle_stanza(s, el, a);
    } else if (el->ns[0] == '\0')
        c2s_stream_error(s, "invalid-namespace", NULL);
    else
        c2s_stream_error(s, "unsupported-stanza-type", NULL);
}

static const struct xml_parser_cb parser_cb = {on_stream_open, on_stanza, on_stream_close};

/* ---- connection callbacks and timers -------------------------------------------------- */

static void parse_result(struct c2s *s, int rc)
{
    switch (rc) {
    case XML_PARSE_SUSPENDED:
        s->suspended = true;
        if (s->state != C2S_CLOSED)
            conn_pause(s->conn, true);
        break;
    case XML_PARSE_OK:
    case XML_PARSE_CLOSED:
        break; /* closing was handled by on_stream_close */
    case XML_PARSE_RESTRICTED:
        c2s_stream_error(s, "restricted-xml", xml_parser_error(s->parser));
        break;
    case XML_PARSE_POLICY:
        c2s_stream_error(s, "policy-violation", xml_parser_error(s->parser));
        break;
    default:
        c2s_stream_error(s, "not-well-formed", xml_parser_error(s->parser));
        break;
    }
}

static void on_data(struct conn *c, const char *data, size_t len)
{
    struct c2s *s = c->owner;
    if (s->state == C2S_CLOSED)
        return;
    s->last_rx = loop_now(s->w->loop);
    s->ping_out = false;
    parse_result(s, xml_parser_feed(s->parser, data, len));
}

static void on_secure(struct conn *c)
{
    struct c2s *s = c->owner;
    s->secure = true;
}

/* Hands every unacknowledged (or held back) stanza meant for storage to the undelivered hook. */
static void hand_over(struct c2s *s, struct sm_queue *q)
{
    struct chunk *ch;
    while ((ch = sm_queue_pop(q)) != NULL) {
        if (ch->tag & CHUNK_TAG_STORE)
            mod_undelivered(s->w, &s->jid, ch);
        chunk_unref(ch);
    }
}

/* The session ends for good (its connection, if any, is already gone): frees s. */
static void session_end(struct c2s *s)
{
    struct worker *w = s->w;
    detach_from_worker(s);
    if (s->state == C2S_BOUND || s->jid.has_resource) {
        mod_emit(MOD_EV_UNBOUND, s);
        sessions_unbind(w->srv->sessions, &s->jid, s->id);
    }
    struct sm *m = sm_of(s);
    struct csi *c = csi_of(s);
    if (m && m->unacked.n)
        log_write(LOG_INFO, s->ctx, "%zu unacknowledged stanzas handed on", m->unacked.n);
    if (m)
        hand_over(s, &m->unacked);
    if (c)
        hand_over(s, &c->held);
    sm_free(m);
    if (c) {
        sm_queue_fini(&c->held);
        free(c);
    }
    xml_parser_free(s->parser);
    sasl_reset(s);
    free(s->resume);
    /* an outstanding storage request is freed by its completion, which finds no session */
    free(s);
    if (w->stopping && w->n_c2s == 0)
        loop_stop(w->loop);
}

static void resume_expired(struct loop *l, struct timer *t)
{
    (void)l;
    struct c2s *s = (struct c2s *)((char *)t - offsetof(struct c2s, timer));
    log_write(LOG_INFO, s->ctx, "not resumed in time: session ends");
    session_end(s);
}

static void on_close(struct conn *c)
{
    struct c2s *s = c->owner;
    struct worker *w = s->w;
    log_write(s->authed ? LOG_INFO : LOG_DEBUG, s->ctx, "disconnected: %s",
              c->close_reason ? c->close_reason : "closed");
    char ip[64];
    ip_of(c->peer, ip, sizeof(ip));
    iplimit_conn_close(w->srv->iplimit, ip);
    s->conn = NULL;
    s->state = C2S_CLOSED;
    s->sm_wait = false;
    struct sm *m = sm_of(s);
    if (!m || !m->resumable || s->ending || w->stopping) {
        session_end(s);
        return;
    }
    /*
     * detached: the session stays bound (modules keep delivering to it) and in the
     * registry; what is sent to it queues for a <resume/>
     */
    s->detached = true;
    s->state = C2S_BOUND;
    loop_timer_stop(w->loop, &s->timer);
    loop_timer_stop(w->loop, &s->auth_timer);
    loop_undefer(&s->ack_task);
    xml_parser_free(s->parser);
    s->parser = NULL;
    m->req_out = false;
    struct csi *cs = csi_of(s);
    if (cs)
        csi_flush(s, cs); /* into the unacked queue: a resumed stream starts active */
    loop_timer_start(w->loop, &s->timer, (uint64_t)conf_of(s)->sm.resume_timeout * 1000,
                     resume_expired);
    log_write(LOG_INFO, s->ctx, "waiting %u s for the session to be resumed",
              conf_of(s)->sm.resume_timeout);
}

static const struct conn_ops c2s_ops = {on_data, on_secure, on_close};

static void handshake_timer(struct loop *l, struct timer *t)
{
    (void)l;
    struct c2s *s = (struct c2s *)((char *)t - offsetof(struct c2s, timer));
    c2s_stream_error(s, "connection-timeout", "Authentication took too long");
}

static void idle_timer(struct loop *l, struct timer *t)
{
    struct c2s *s = (struct c2s *)((char *)t - offsetof(struct c2s, timer));
    const struct conf *cf = conf_of(s);
    uint64_t idle_ms = (uint64_t)cf->limits.idle_timeout * 1000;
    if (s->ping_out) {
        c2s_stream_error(s, "connection-timeout", "No answer to ping");
        return;
    }
    uint64_t now = loop_now(l), quiet = now - s->last_rx;
    if (quiet < idle_ms) {
        loop_timer_start(l, &s->timer, idle_ms - quiet, idle_timer);
        return;
    }
    s->ping_out = true;
    loop_timer_start(l, &s->timer, (uint64_t)cf->limits.ping_timeout * 1000, idle_timer);
    struct sm *m = sm_of(s);
    if (m) {
        /* with stream management the probe is <r/>: an <iq/> would count as a stanza */
        m->req_out = true;
        m->since_req = 0;
        send_str(s, "<r xmlns='" SM_NS "'/>");
        return;
    }
    char buf[256], fj[JID_BUF], id[13];
    jid_full(&s->jid, fj, sizeof(fj));
    rand_token(id, 12);
    struct buf *b = &s->w->out;
    buf_reset(b);
    buf_puts(b, "<iq type='get' from='");
    xml_escape_attr(b, s->w->srv->domain, strlen(s->w->srv->domain));
    buf_puts(b, "' to='");
    xml_escape_attr(b, fj, strlen(fj));
    snprintf(buf, sizeof(buf), "' id='ping-%s'><ping xmlns='urn:xmpp:ping'/></iq>", id);
    buf_puts(b, buf);
    conn_send(s->conn, b->data, b->len);
}

void c2s_accept(struct worker *w, int fd, bool tls, const char *peer)
{
    if (w->stopping) {
        close(fd);
        return;
    }
    char ip[64];
    ip_of(peer, ip, sizeof(ip));
    if (!iplimit_conn_open(w->srv->iplimit, ip)) {
        log_write(LOG_INFO, peer, "refused: %u connections from this address already",
                  conf_of_worker(w)->limits.max_conns_per_ip);
        close(fd);
        return;
    }
    struct c2s *s;
    XNEW(s);
    s->w = w;
    s->state = C2S_HEADER;
    list_init(&s->link);
    task_init(&s->task, end_task);
    task_init(&s->ack_task, ack_task);
    s->conn = conn_new(&w->cctx, fd, tls, &c2s_ops, s, peer);
    if (!s->conn) {
        iplimit_conn_close(w->srv->iplimit, ip);
        free(s);
        return;
    }
    s->id = s->conn->id;
    s->parser = xml_parser_new(&w->srv->xml_limits, &parser_cb, s);
    s->last_rx = loop_now(w->loop);
    map_put(&w->c2s_by_id, &s->id, sizeof(s->id), s);
    list_push(&w->c2s_all, &s->link);
    w->n_c2s++;
    set_ctx(s);
    log_write(LOG_DEBUG, s->ctx, "connected%s", tls ? " (direct TLS)" : "");
    loop_timer_start(w->loop, &s->timer, (uint64_t)conf_of(s)->limits.handshake_timeout * 1000,
                     handshake_timer);
}
