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
