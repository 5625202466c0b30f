/*
 * register: In-Band Registration (XEP-0077, jabber:iq:register).
 *
 * Before authentication, when [register] enabled is on and the stream is
 * encrypted, anyone may create an account with <username/> and
 * <password/> (no data forms). The user name must be a valid JID local
 * part (it is stored normalized, as login normalizes it); a taken one is a
 * <conflict/>. Each address may create REG_PER_IP accounts per
 * REG_WINDOW_MS; more are refused with <policy-violation/>.
 *
 * Once authenticated, a user may change their password (<username/> naming
 * themselves and <password/>) and delete their account (<remove/>), whether
 * or not registration is enabled. After a removal every session of the
 * account is closed.
 *
 * Passwords become SCRAM credentials (scram_credentials, shared with
 * ternctl). PBKDF2 is CPU-heavy, so a request goes to storage twice: first
 * a check whose after() step derives the keys on the storage thread, then
 * the write. Nothing of it runs on the event loop.
 */
#include "conf/conf.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/mod/iqjob.h"
#include "xmpp/mod/modules.h"
#include "xmpp/router.h"
#include "xmpp/sasl.h"
#include "xmpp/sessions.h"
#include "xmpp/stanza.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_REGISTER   "jabber:iq:register"
#define REG_FEATURE   "<register xmlns='http://jabber.org/features/iq-register'/>"
#define REG_PW_MAX    1023          /* bytes of a password, as ternctl */
#define REG_PER_IP    5             /* accounts one address may create per window */
#define REG_WINDOW_MS (3600 * 1000) /* ms */
#define REG_TRACKED   256           /* addresses remembered */

enum reg_kind { REG_CREATE, REG_PASSWD, REG_REMOVE };

struct reg_job {
    struct iqjob j;
    enum reg_kind kind;
    char *password;
    size_t password_len;
    unsigned iterations;
    char ip[64];
    struct store_account acc; /* user set; credentials derived in after() */
};

/* ---- per-address rate limit --------------------------------------------------------------- */

static struct {
    char ip[64];
    uint64_t start; /* ms, start of the window */
    unsigned n;
} reg_ips[REG_TRACKED];
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

/* Whether ip may create one more account now; counts it if record. */
static bool reg_allowed(const char *ip, bool record)
{
    uint64_t now = clock_ms();
    pthread_mutex_lock(&reg_lock);
    size_t slot = 0, oldest = 0;
    bool found = false;
    for (size_t i = 0; i < REG_TRACKED; i++) {
        if (strcmp(reg_ips[i].ip, ip) == 0) {
            slot = i;
            found = true;
            break;
        }
        if (reg_ips[i].start < reg_ips[oldest].start)
            oldest = i;
    }
    if (!found) {
        slot = oldest; /* the least recent address is forgotten */
        snprintf(reg_ips[slot].ip, sizeof(reg_ips[slot].ip), "%s", ip);
        reg_ips[slot].start = now;
        reg_ips[slot].n = 0;
    }
    if (now - reg_ips[slot].start >= REG_WINDOW_MS) {
        reg_ips[slot].start = now;
        reg_ips[slot].n = 0;
    }
    bool ok = reg_ips[slot].n < REG_PER_IP;
    if (ok && record)
        reg_ips[slot].n++;
    pthread_mutex_unlock(&reg_lock);
    return ok;
}

/* ---- storage steps -------------------------------------------------------------------------- */

static void reg_fini(struct iqjob *j)
{
    struct reg_job *g = (struct reg_job *)j;
    if (g->password) {
        OPENSSL_cleanse(g->password, g->password_len);
        free(g->password);
    }
    OPENSSL_cleanse(&g->acc, sizeof(g->acc));
}

/* Storage thread, after the check: the key derivation, outside the transaction. */
static void reg_derive(struct store_req *r)
{
    struct reg_job *g = (struct reg_job *)r;
    if (r->status == 0) {
        int rc = scram_credentials(&g->acc, g->password, g->password_len, g->iterations);
        if (rc)
            r->status = rc == -EINVAL ? -EINVAL : -EIO;
    }
    OPENSSL_cleanse(g->password, g->password_len);
}

static int reg_check(struct store_db *db, struct store_req *r)
{
    struct reg_job *g = (struct reg_job *)r;
    struct store_account *a = xmalloc(sizeof(*a));
    int err = store_account_get(db, g->acc.user, a);
    OPENSSL_cleanse(a, sizeof(*a));
    free(a);
    if (g->kind == REG_CREATE)
        return err == 0 ? -EEXIST : err == -ENOENT ? 0 : err;
    return err;
}

static int reg_write(struct store_db *db, struct store_req *r)
{
    struct reg_job *g = (struct reg_job *)r;
    switch (g->kind) {
    case REG_CREATE:
        return store_account_add(db, &g->acc);
    case REG_PASSWD:
        return store_account_update(db, &g->acc);
    case REG_REMOVE:
        return store_account_del(db, g->acc.user);
    }
    return -EINVAL;
}

/* Closes every other session of the removed account (this one closes after its answer). */
static void kick_all(struct c2s *s)
{
    struct sess_addr addr[SESS_MAX_RESOURCES];
    size_t n = sessions_list(s->w->srv->sessions, &s->jid, addr, SESS_MAX_RESOURCES);
    for (size_t i = 0; i < n && i < SESS_MAX_RESOURCES; i++)
        if (addr[i].conn_id != s->id)
            router_kick(s->w, &addr[i]);
}

static void reg_written(struct c2s *s, struct iqjob *j)
{
    struct reg_job *g = (struct reg_job *)j;
    int st = j->r.status;
    if (st == -EEXIST) {
        iqjob_error(s, j, "cancel", "conflict", NULL, NULL);
        return;
    }
    if (st < 0) {
        iqjob_fail(s, j, st);
        return;
    }
    iqjob_result(s, j);
    if (g->kind == REG_CREATE) {
        reg_allowed(g->ip, true);
        log_write(LOG_INFO, s->ctx, "registered account %s", g->acc.user);
    } else if (g->kind == REG_PASSWD) {
        log_write(LOG_INFO, s->ctx, "password changed");
    } else {
        log_write(LOG_INFO, s->ctx, "account removed");
        kick_all(s);
        c2s_stream_error(s, "not-authorized", "The account was removed");
    }
}

static void reg_checked(struct c2s *s, struct iqjob *j)
{
    int st = j->r.status;
    if (st == -EEXIST)
        iqjob_error(s, j, "cancel", "conflict", NULL, NULL);
    else if (st == -EINVAL)
        iqjob_error(s, j, "modify", "not-acceptable", NULL, NULL);
    else if (st < 0)
        iqjob_fail(s, j, st);
    else
        iqjob_again(j, reg_write, reg_written);
}

/* ---- stanzas -------------------------------------------------------------------------------- */

static void send_error(struct c2s *s, struct xml_node *iq, struct arena *a, const char *type,
                       const char *cond)
{
    c2s_send_node(s, stanza_error(a, iq, type, cond));
}

static void peer_addr(const struct c2s *s, char *out, size_t cap)
{
    const char *p = s->conn->peer, *colon = strrchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : strlen(p);
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
}

/*
 * Starts a create or password change from <username/> and <password/>.
 * self: the authenticated user (password change), NULL before authentication.
 */
static void set_password(struct c2s *s, struct xml_node *iq, struct xml_node *query,
                         struct arena *a, const char *self)
{
    struct xml_node *un = xml_child(query, NS_REGISTER, "username");
    struct xml_node *pw = xml_child(query, NS_REGISTER, "password");
    if (!un || !pw) {
        send_error(s, iq, a, "modify", "bad-request");
        return;
    }
    const char *name = xml_text(a, un), *pass = xml_text(a, pw);
    size_t pass_len = strlen(pass);
    char user[STORE_USER_MAX + 1];
    if (jid_normalize_local(name, strlen(name), user, sizeof(user)) <= 0 || pass_len == 0 ||
        pass_len > REG_PW_MAX) {
        send_error(s, iq, a, "modify", "not-acceptable");
        return;
    }
    if (self && strcmp(user, self) != 0) {
        send_error(s, iq, a, "modify", "bad-request");
        return;
    }
    struct reg_job *g;
    XNEW(g);
    g->j.fini = reg_fini;
    g->kind = self ? REG_PASSWD : REG_CREATE;
    g->password = xstrndup(pass, pass_len);
    g->password_len = pass_len;
    g->iterations = s->w->srv->conf->auth.scram_iterations;
    peer_addr(s, g->ip, sizeof(g->ip));
    snprintf(g->acc.user, sizeof(g->acc.user), "%s", user);
    g->acc.created = clock_unix();
    if (!self && !reg_allowed(g->ip, false)) {
        reg_fini(&g->j);
        free(g);
        send_error(s, iq, a, "wait", "policy-violation");
        return;
    }
    g->j.r.after = reg_derive;
    iqjob_submit(s, iq, &g->j, reg_check, reg_checked);
}

/* The form: what a client must fill in (or, when authenticated, that it is registered). */
static void send_form(struct c2s *s, struct xml_node *iq, struct arena *a, const char *self)
{
    struct xml_node *r = stanza_result(a, iq);
    struct xml_node *q = xml_add_child(a, r, NS_REGISTER, "query");
    if (self) {
        xml_add_child(a, q, NS_REGISTER, "registered");
        xml_add_text(a, xml_add_child(a, q, NS_REGISTER, "username"), self, strlen(self));
    } else {
        static const char text[] = "Choose a user name and a password.";
        xml_add_text(a, xml_add_child(a, q, NS_REGISTER, "instructions"), text, strlen(text));
        xml_add_child(a, q, NS_REGISTER, "username");
    }
    xml_add_child(a, q, NS_REGISTER, "password");
    c2s_send_node(s, r);
}

static bool is_query(const struct xml_node *iq, struct xml_node **query)
{
    *query = xml_child(iq, NS_REGISTER, "query");
    return *query != NULL;
}

/* Before authentication (mod_preauth_register). */
static void reg_preauth(struct c2s *s, struct xml_node *iq, struct arena *a)
{
    struct xml_node *query;
    const char *type = xml_attr(iq, "type");
    if (!type || !xml_attr(iq, "id") || !is_query(iq, &query)) {
        send_error(s, iq, a, "modify", "bad-request");
        return;
    }
    if (strcmp(type, "get") == 0)
        send_form(s, iq, a, NULL);
    else if (strcmp(type, "set") != 0)
        return; /* a stray result or error: nothing asked for it */
    else if (xml_child(query, NS_REGISTER, "remove"))
        send_error(s, iq, a, "auth", "not-authorized");
    else
        set_password(s, iq, query, a, NULL);
}

static bool reg_enabled(struct c2s *s)
{
    return s->w->srv->conf->reg.enabled && s->secure;
}

/* Authenticated: password change and account removal. */
static void reg_iq(struct mod_iq *q)
{
    const char *self = jid_local(&q->s->jid);
    if (!xml_is(q->payload, NS_REGISTER, "query")) {
        send_error(q->s, q->iq, q->a, "modify", "bad-request");
        return;
    }
    if (strcmp(xml_attr(q->iq, "type"), "get") == 0) {
        send_form(q->s, q->iq, q->a, self);
        return;
    }
    if (!xml_child(q->payload, NS_REGISTER, "remove")) {
        set_password(q->s, q->iq, q->payload, q->a, self);
        return;
    }
    struct reg_job *g;
    XNEW(g);
    g->j.fini = reg_fini;
    g->kind = REG_REMOVE;
    snprintf(g->acc.user, sizeof(g->acc.user), "%s", self);
    iqjob_submit(q->s, q->iq, &g->j, reg_write, reg_written);
}

void mod_register_init(void)
{
    mod_preauth_register(NS_REGISTER, REG_FEATURE, reg_enabled, reg_preauth);
    mod_iq_register(NS_REGISTER, MOD_ACCOUNT, reg_iq);
    mod_feature(NS_REGISTER, MOD_SERVER);
}
