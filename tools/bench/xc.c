/*
 * xc: the client session state machine (diagram in xc.h). Every step is
 * driven by one stanza from the server; anything unexpected closes the
 * session with a reason the scenario counts. Stanzas are written as fixed
 * strings (no tree building on the send path) so that the load generator
 * stays cheap next to the server it measures.
 */
#include "xc.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/rand.h"
#include "xml/parser.h"
#include "xml/xml.h"
#include "xmpp/sasl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NS_STREAM  "http://etherx.jabber.org/streams"
#define NS_TLS     "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL    "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND    "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_ROSTER  "jabber:iq:roster"

#define KEY_CACHE 16
#define MSG_MAX   4096 /* bytes of one SASL message we build */

uint64_t xc_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

const char *xc_mech_name(enum xc_mech m)
{
    switch (m) {
    case XC_SCRAM_SHA1:
        return "SCRAM-SHA-1";
    case XC_SCRAM_SHA256:
        return "SCRAM-SHA-256";
    case XC_PLAIN:
        return "PLAIN";
    }
    return "?";
}

SSL_CTX *xc_tls_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* loopback benchmark: any certificate */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return ctx;
}

/* ---- SCRAM keys, cached by (hash, salt, iterations) ------------------------------------- */

struct keys {
    int hash; /* enum xc_mech, -1 unused */
    unsigned iter;
    unsigned char salt[64];
    size_t salt_len;
    unsigned char client_key[64], server_key[64];
};

static struct keys key_cache[KEY_CACHE];
static unsigned key_next;

static const EVP_MD *mech_md(enum xc_mech m)
{
    return m == XC_SCRAM_SHA256 ? EVP_sha256() : EVP_sha1();
}

static const struct keys *scram_keys(enum xc_mech m, const char *pw, const unsigned char *salt,
                                     size_t salt_len, unsigned iter)
{
    for (unsigned i = 0; i < KEY_CACHE; i++) {
        struct keys *k = &key_cache[i];
        if (k->iter == iter && k->hash == (int)m && k->salt_len == salt_len &&
            memcmp(k->salt, salt, salt_len) == 0)
            return k;
    }
    if (salt_len > sizeof(key_cache[0].salt))
        return NULL;
    struct keys *k = &key_cache[key_next++ % KEY_CACHE];
    const EVP_MD *md = mech_md(m);
    int dl = EVP_MD_get_size(md);
    unsigned char salted[64];
    unsigned len = 0;
    if (!PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, (int)salt_len, (int)iter, md, dl, salted) ||
        !HMAC(md, salted, dl, (const unsigned char *)"Client Key", 10, k->client_key, &len) ||
        !HMAC(md, salted, dl, (const unsigned char *)"Server Key", 10, k->server_key, &len)) {
        k->iter = 0;
        return NULL;
    }
    k->hash = (int)m;
    k->iter = iter;
    memcpy(k->salt, salt, salt_len);
    k->salt_len = salt_len;
    OPENSSL_cleanse(salted, sizeof(salted));
    return k;
}

/* ---- output ------------------------------------------------------------------------------ */

static void send_str(struct xc *x, const char *s)
{
    if (x->state != XC_CLOSED)
        conn_send(x->conn, s, strlen(s));
}

static void send_header(struct xc *x)
{
    char h[512];
    snprintf(h, sizeof(h),
             "<?xml version='1.0'?><stream:stream to='%s' version='1.0' xml:lang='en' "
             "xmlns='jabber:client' xmlns:stream='" NS_STREAM "'>",
             x->env->domain);
    send_str(x, h);
}

static void fail(struct xc *x, const char *reason)
{
    if (x->state == XC_CLOSED || x->closing)
        return;
    x->closing = true;
    send_str(x, "</stream:stream>");
    conn_close(x->conn, reason);
}

void xc_close(struct xc *x)
{
    if (!x->closing)
        x->by_us = true;
    fail(x, "closed by the scenario");
}

static void send_auth_b64(struct xc *x, const char *mech, const void *msg, size_t len)
{
    char b64[MSG_MAX * 2], out[MSG_MAX * 2 + 200];
    if (sasl_b64_encode(msg, len, b64, sizeof(b64)) < 0)
        return fail(x, "sasl message too long");
    if (mech)
        snprintf(out, sizeof(out), "<auth xmlns='" NS_SASL "' mechanism='%s'>%s</auth>", mech, b64);
    else
        snprintf(out, sizeof(out), "<response xmlns='" NS_SASL "'>%s</response>", b64);
    send_str(x, out);
}

static void start_auth(struct xc *x, struct xml_node *mechs)
{
    const char *want = xc_mech_name(x->env->mech);
    bool offered = false;
    for (struct xml_node *m = xml_child(mechs, NS_SASL, "mechanism"); m;
         m = xml_next(m, NS_SASL, "mechanism")) {
        char name[64];
        const struct xml_node *t = m->children;
        if (t && t->kind == XML_TEXT && t->text_len < sizeof(name)) {
            memcpy(name, t->text, t->text_len);
            name[t->text_len] = '\0';
            offered = offered || strcmp(name, want) == 0;
        }
    }
    if (!offered)
        return fail(x, "mechanism not offered");
    x->state = XC_AUTH;
    char msg[MSG_MAX];
    int n;
    if (x->env->mech == XC_PLAIN) {
        n = snprintf(msg, sizeof(msg), "%c%s%c%s", 0, x->user, 0, x->env->password);
    } else {
        rand_token(x->cnonce, sizeof(x->cnonce) - 1);
        n = snprintf(msg, sizeof(msg), "n,,n=%s,r=%s", x->user, x->cnonce);
        x->cfirst = xstrdup(msg + 3);
    }
    if (n < 0 || (size_t)n >= sizeof(msg))
        return fail(x, "sasl message too long");
    send_auth_b64(x, want, msg, (size_t)n);
}

/* Finds "k=" at the start of a comma-separated field of s; returns the value's start. */
static const char *scram_attr(const char *s, char k, size_t *len)
{
    for (const char *p = s; p && *p;) {
        const char *end = strchr(p, ',');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (l >= 2 && p[0] == k && p[1] == '=') {
            *len = l - 2;
            return p + 2;
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

static void on_challenge(struct xc *x, struct arena *a, struct xml_node *el)
{
    if (x->env->mech == XC_PLAIN || !x->cfirst)
        return fail(x, "unexpected challenge");
    char *text = xml_text(a, el);
    unsigned char sfirst[MSG_MAX + 1];
    int n = sasl_b64_decode(text, strlen(text), sfirst, MSG_MAX);
    if (n <= 0)
        return fail(x, "bad challenge");
    sfirst[n] = '\0';
    const char *sf = (const char *)sfirst;
    size_t rl, sl, il;
    const char *r = scram_attr(sf, 'r', &rl), *s = scram_attr(sf, 's', &sl),
               *i = scram_attr(sf, 'i', &il);
    size_t cl = strlen(x->cnonce);
    if (!r || !s || !i || rl <= cl || memcmp(r, x->cnonce, cl) != 0 || rl > 200)
        return fail(x, "bad server-first");
    unsigned char salt[128];
    char tmp[256];
    if (sl >= sizeof(tmp) || il >= 12)
        return fail(x, "bad server-first");
    memcpy(tmp, s, sl);
    int salt_len = sasl_b64_decode(tmp, sl, salt, sizeof(salt));
    memcpy(tmp, i, il);
    tmp[il] = '\0';
    unsigned long iter = strtoul(tmp, NULL, 10);
    if (salt_len <= 0 || iter == 0 || iter > 10000000)
        return fail(x, "bad server-first");
    const struct keys *k =
        scram_keys(x->env->mech, x->env->password, salt, (size_t)salt_len, (unsigned)iter);
    if (!k)
        return fail(x, "key derivation failed");

    const EVP_MD *md = mech_md(x->env->mech);
    unsigned dl = (unsigned)EVP_MD_get_size(md);
    char final[MSG_MAX];
    int fl = snprintf(final, sizeof(final), "c=biws,r=%.*s", (int)rl, r);
    char auth_msg[MSG_MAX * 2];
    int al = snprintf(auth_msg, sizeof(auth_msg), "%s,%s,%s", x->cfirst, sf, final);
    free(x->cfirst);
    x->cfirst = NULL;
    if (fl < 0 || al < 0 || (size_t)al >= sizeof(auth_msg))
        return fail(x, "sasl message too long");
    unsigned char stored[64], csig[64], proof[64];
    unsigned len = 0;
    EVP_Digest(k->client_key, dl, stored, &len, md, NULL);
    HMAC(md, stored, (int)dl, (unsigned char *)auth_msg, (size_t)al, csig, &len);
    for (unsigned j = 0; j < dl; j++)
        proof[j] = k->client_key[j] ^ csig[j];
    HMAC(md, k->server_key, (int)dl, (unsigned char *)auth_msg, (size_t)al, x->server_sig, &len);
    x->server_sig_len = dl;
    char p64[128];
    sasl_b64_encode(proof, dl, p64, sizeof(p64));
    fl += snprintf(final + fl, sizeof(final) - (size_t)fl, ",p=%s", p64);
    send_auth_b64(x, NULL, final, (size_t)fl);
}

static void on_success(struct xc *x, struct arena *a, struct xml_node *el)
{
    if (x->env->mech != XC_PLAIN) {
        char *text = xml_text(a, el);
        unsigned char v[MSG_MAX + 1];
        int n = sasl_b64_decode(text, strlen(text), v, MSG_MAX);
        char want[128] = "v=";
        sasl_b64_encode(x->server_sig, x->server_sig_len, want + 2, sizeof(want) - 2);
        size_t wl = strlen(want);
        if (!x->server_sig_len || n < (int)wl || memcmp(v, want, wl) != 0)
            return fail(x, "wrong server signature");
    }
    x->authed = true;
    xml_parser_reset(x->parser);
    send_header(x);
}

static void on_features(struct xc *x, struct xml_node *el)
{
    if (x->env->tls && !x->secure) {
        if (!xml_child(el, NS_TLS, "starttls"))
            return fail(x, "starttls not offered");
        x->state = XC_TLS;
        send_str(x, "<starttls xmlns='" NS_TLS "'/>");
        return;
    }
    if (!x->authed) {
        struct xml_node *mechs = xml_child(el, NS_SASL, "mechanisms");
        if (!mechs)
            return fail(x, "no sasl mechanisms");
        return start_auth(x, mechs);
    }
    if (!xml_child(el, NS_BIND, "bind"))
        return fail(x, "bind not offered");
    struct xml_node *sess = xml_child(el, NS_SESSION, "session");
    x->want_session = sess && !xml_child(sess, NS_SESSION, "optional");
    x->state = XC_BIND;
    char iq[256];
    snprintf(iq, sizeof(iq),
             "<iq type='set' id='bind'><bind xmlns='" NS_BIND "'><resource>%s</resource></bind>"
             "</iq>",
             x->env->resource);
    send_str(x, iq);
}

static void on_iq(struct xc *x, struct xml_node *el)
{
    const char *type = xml_attr(el, "type"), *id = xml_attr(el, "id");
    if (!type || !id)
        return;
    if (strcmp(type, "get") == 0 || strcmp(type, "set") == 0) {
        /* pings and roster pushes: a plain result (ids are the server's, escape them) */
        struct buf b;
        buf_init(&b, 4096);
        buf_puts(&b, "<iq type='result' id='");
        xml_escape_attr(&b, id, strlen(id));
        const char *from = xml_attr(el, "from");
        if (from) {
            buf_puts(&b, "' to='");
            xml_escape_attr(&b, from, strlen(from));
        }
        buf_puts(&b, "'/>");
        if (b.data)
            send_str(x, b.data);
        buf_fini(&b);
        return;
    }
    bool ok = strcmp(type, "result") == 0;
    if (x->state != XC_BIND)
        return;
    if (strcmp(id, "bind") == 0) {
        if (!ok)
            return fail(x, "bind refused");
        if (x->want_session) {
            send_str(x, "<iq type='set' id='sess'><session xmlns='" NS_SESSION "'/></iq>");
            return;
        }
        id = "sess";
    }
    if (strcmp(id, "sess") == 0) {
        if (!ok)
            return fail(x, "session refused");
        send_str(x, "<iq type='get' id='roster'><query xmlns='" NS_ROSTER "'/></iq>");
        return;
    }
    if (strcmp(id, "roster") == 0) {
        /* an error (no roster support yet) still ends the login the way a client sees it */
        send_str(x, "<presence/>");
        x->state = XC_PRESENCE;
    }
}

/* The server echoes initial presence to the sender (RFC 6121 §4.2.2) once it recorded it. */
static void on_presence(struct xc *x, struct xml_node *el)
{
    if (x->state != XC_PRESENCE || xml_attr(el, "type"))
        return;
    x->state = XC_BOUND;
    x->ready = true;
    if (x->env->ops->bound)
        x->env->ops->bound(x);
}

static void on_stanza(void *arg, struct xml_node *el, struct arena *a)
{
    struct xc *x = arg;
    if (x->closing)
        return;
    const char *ns = el->ns, *name = el->name;
    if (strcmp(ns, "jabber:client") == 0) {
        if (strcmp(name, "message") == 0) {
            struct xml_node *body = xml_child(el, NULL, "body");
            const char *type = xml_attr(el, "type");
            if (body && x->env->ops->message)
                x->env->ops->message(x, xml_text(a, body), type && strcmp(type, "error") == 0);
        } else if (strcmp(name, "iq") == 0) {
            on_iq(x, el);
        } else if (strcmp(name, "presence") == 0) {
            on_presence(x, el);
        }
        return;
    }
    if (strcmp(ns, NS_STREAM) == 0) {
        if (strcmp(name, "features") == 0)
            on_features(x, el);
        else if (strcmp(name, "error") == 0)
            fail(x, "stream error");
        return;
    }
    if (strcmp(ns, NS_TLS) == 0) {
        if (strcmp(name, "proceed") == 0 && x->state == XC_TLS)
            conn_starttls(x->conn);
        else
            fail(x, "starttls refused");
        return;
    }
    if (strcmp(ns, NS_SASL) == 0 && x->state == XC_AUTH) {
        if (strcmp(name, "challenge") == 0)
            on_challenge(x, a, el);
        else if (strcmp(name, "success") == 0)
            on_success(x, a, el);
        else
            fail(x, "authentication failed");
    }
}

static void on_stream_close(void *arg)
{
    struct xc *x = arg;
    fail(x, "server closed the stream");
}

static const struct xml_parser_cb parser_cb = {
    .stanza = on_stanza,
    .stream_close = on_stream_close,
};

/* ---- connection callbacks ---------------------------------------------------------------- */

static void on_data(struct conn *c, const char *data, size_t len)
{
    struct xc *x = c->owner;
    int rc = xml_parser_feed(x->parser, data, len);
    if (rc < 0)
        fail(x, "malformed xml from the server");
}

static void on_secure(struct conn *c)
{
    struct xc *x = c->owner;
    x->secure = true;
    xml_parser_reset(x->parser);
    send_header(x);
}

static void on_close(struct conn *c)
{
    struct xc *x = c->owner;
    x->state = XC_CLOSED;
    if (x->env->ops->closed)
        x->env->ops->closed(x, c->close_reason ? c->close_reason : "closed");
    xml_parser_free(x->parser);
    free(x->cfirst);
    free(x);
}

static const struct conn_ops xc_conn_ops = {
    .on_data = on_data,
    .on_secure = on_secure,
    .on_close = on_close,
};

struct xc *xc_start(struct xc_env *env, unsigned num, void *owner, const char **why)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = strerror(errno);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (env->n_sources > 1) {
        /* spread over 127.0.0.1..n so that one address's ephemeral ports do not run out */
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000001u + num % env->n_sources);
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
            *why = strerror(errno);
            close(fd);
            return NULL;
        }
    }
    if (connect(fd, (struct sockaddr *)env->dst, sizeof(*env->dst)) != 0 && errno != EINPROGRESS) {
        *why = strerror(errno);
        close(fd);
        return NULL;
    }
    struct xc *x;
    XNEW(x);
    x->env = env;
    x->num = num;
    x->owner = owner;
    x->t0_us = xc_now_us();
    snprintf(x->user, sizeof(x->user), "%s%u", env->prefix, num);
    struct xml_limits lim = {0};
    x->parser = xml_parser_new(&lim, &parser_cb, x);
    x->conn = conn_new(env->cctx, fd, false, &xc_conn_ops, x, "bench");
    if (!x->conn) {
        xml_parser_free(x->parser);
        free(x);
        *why = "epoll refused the socket";
        return NULL;
    }
    send_header(x);
    return x;
}

void xc_send_msg(struct xc *x, unsigned to, const char *body)
{
    if (x->state != XC_BOUND || x->closing)
        return;
    char m[1024];
    int n = snprintf(m, sizeof(m), "<message to='%s%u@%s' type='chat'><body>%s</body></message>",
                     x->env->prefix, to, x->env->domain, body);
    if (n > 0 && (size_t)n < sizeof(m))
        conn_send(x->conn, m, (size_t)n);
}
