/*
 * mod: small fixed tables; a linear scan over a dozen namespaces costs less
 * than hashing and keeps registration order for disco output.
 */
#include "xmpp/mod.h"
#include "core/log.h"

#include <stdlib.h>
#include <string.h>

#define MOD_MAX 64

static struct {
    const char *ns;
    enum mod_scope scope;
    mod_iq_fn *fn;
} handlers[MOD_MAX];
static size_t n_handlers;

static struct {
    const char *var;
    enum mod_scope scope;
} features[MOD_MAX];
static size_t n_features;

void mod_iq_register(const char *ns, enum mod_scope scope, mod_iq_fn *fn)
{
    if (n_handlers == MOD_MAX) {
        log_error("too many IQ handlers (max %d)", MOD_MAX);
        abort();
    }
    handlers[n_handlers].ns = ns;
    handlers[n_handlers].scope = scope;
    handlers[n_handlers].fn = fn;
    n_handlers++;
}

void mod_feature(const char *var, enum mod_scope scope)
{
    if (n_features == MOD_MAX) {
        log_error("too many disco features (max %d)", MOD_MAX);
        abort();
    }
    features[n_features].var = var;
    features[n_features].scope = scope;
    n_features++;
}

mod_iq_fn *mod_iq_find(const char *ns, enum mod_scope scope)
{
    for (size_t i = 0; i < n_handlers; i++)
        if ((handlers[i].scope & scope) && strcmp(handlers[i].ns, ns) == 0)
            return handlers[i].fn;
    return NULL;
}

void mod_features_each(enum mod_scope scope, void (*fn)(void *arg, const char *var), void *arg)
{
    for (size_t i = 0; i < n_features; i++)
        if (features[i].scope & scope)
            fn(arg, features[i].var);
}

static mod_route_fn *route_message, *route_presence;

void mod_route_register(const char *name, mod_route_fn *fn)
{
    if (strcmp(name, "message") == 0)
        route_message = fn;
    else if (strcmp(name, "presence") == 0)
        route_presence = fn;
    else
        abort();
}

mod_route_fn *mod_route_find(const char *name)
{
    if (strcmp(name, "message") == 0)
        return route_message;
    if (strcmp(name, "presence") == 0)
        return route_presence;
    return NULL;
}

#define MOD_LISTENERS 16

static mod_event_fn *listeners[MOD_EV_N][MOD_LISTENERS];
static size_t n_listeners[MOD_EV_N];

void mod_on(enum mod_event ev, mod_event_fn *fn)
{
    if (n_listeners[ev] == MOD_LISTENERS) {
        log_error("too many listeners for session event %d (max %d)", (int)ev, MOD_LISTENERS);
        abort();
    }
    listeners[ev][n_listeners[ev]++] = fn;
}

void mod_emit(enum mod_event ev, struct c2s *s)
{
    for (size_t i = 0; i < n_listeners[ev]; i++)
        listeners[ev][i](s);
}

static mod_undelivered_fn *undelivered;

void mod_undelivered_register(mod_undelivered_fn *fn)
{
    undelivered = fn;
}

void mod_undelivered(struct worker *w, const struct jid *to, struct chunk *ch)
{
    if (undelivered) {
        undelivered(w, to, ch);
        return;
    }
    char fj[JID_BUF];
    jid_full(to, fj, sizeof(fj));
    log_warn("%s: an undelivered stanza is dropped (no offline storage)", fj);
}

static struct {
    const char *prefix;
    mod_iq_answer_fn *fn;
} answers[MOD_LISTENERS];
static size_t n_answers;

void mod_iq_answer_register(const char *prefix, mod_iq_answer_fn *fn)
{
    if (n_answers == MOD_LISTENERS)
        abort();
    answers[n_answers].prefix = prefix;
    answers[n_answers].fn = fn;
    n_answers++;
}

mod_iq_answer_fn *mod_iq_answer_find(const char *id)
{
    for (size_t i = 0; id && i < n_answers; i++)
        if (strncmp(id, answers[i].prefix, strlen(answers[i].prefix)) == 0)
            return answers[i].fn;
    return NULL;
}

static mod_presence_fn *observers[MOD_LISTENERS];
static size_t n_observers;

void mod_presence_observe(mod_presence_fn *fn)
{
    if (n_observers == MOD_LISTENERS)
        abort();
    observers[n_observers++] = fn;
}

void mod_presence_emit(struct c2s *s, struct xml_node *presence, struct arena *a)
{
    for (size_t i = 0; i < n_observers; i++)
        observers[i](s, presence, a);
}

static mod_blocked_fn *blocked;

void mod_blocked_register(mod_blocked_fn *fn)
{
    blocked = fn;
}

bool mod_blocked(const char *user, const struct jid *jid)
{
    return blocked && blocked(user, jid);
}

static struct {
    const char *ns, *feature;
    bool (*enabled)(struct c2s *s);
    mod_preauth_fn *fn;
} preauth[4];
static size_t n_preauth;

void mod_preauth_register(const char *ns, const char *feature, bool (*enabled)(struct c2s *s),
                          mod_preauth_fn *fn)
{
    if (n_preauth == sizeof(preauth) / sizeof(preauth[0]))
        abort();
    preauth[n_preauth].ns = ns;
    preauth[n_preauth].feature = feature;
    preauth[n_preauth].enabled = enabled;
    preauth[n_preauth].fn = fn;
    n_preauth++;
}

mod_preauth_fn *mod_preauth_find(struct c2s *s, const char *ns)
{
    for (size_t i = 0; i < n_preauth; i++)
        if (strcmp(preauth[i].ns, ns) == 0 && preauth[i].enabled(s))
            return preauth[i].fn;
    return NULL;
}

void mod_preauth_features(struct c2s *s, void (*fn)(void *arg, const char *xml), void *arg)
{
    for (size_t i = 0; i < n_preauth; i++)
        if (preauth[i].enabled(s))
            fn(arg, preauth[i].feature);
}
