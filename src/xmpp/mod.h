/*
 * mod: the module registry. Each feature module (a file in src/xmpp/mod/) has an
 * init function, called once by mods_init() (xmpp/mod/modules.h) before the
 * workers start, that
 * registers IQ handlers by payload namespace and the disco features it
 * adds. After start the registry is read-only, so workers read it freely.
 */
#ifndef TERN_XMPP_MOD_H
#define TERN_XMPP_MOD_H

#include "core/arena.h"
#include "xml/xml.h"

#include <stdbool.h>

struct c2s;

/** An IQ addressed to the server or to the sender's own account. */
struct mod_iq {
    struct c2s *s;            /* the asking session (bound) */
    struct xml_node *iq;      /* from already stamped */
    struct xml_node *payload; /* the first child element */
    struct arena *a;          /* the stanza's arena */
    bool to_account;          /* addressed to the sender's bare JID, not the server */
};

/** Handles an IQ of type get or set; must answer it (result or error). */
typedef void mod_iq_fn(struct mod_iq *q);

enum mod_scope { MOD_SERVER = 1, MOD_ACCOUNT = 2, MOD_BOTH = 3 };

/** Registers fn for IQs whose payload is in namespace ns (startup only). */
void mod_iq_register(const char *ns, enum mod_scope scope, mod_iq_fn *fn);
/** Adds a disco#info feature for the server and/or account (startup only). */
void mod_feature(const char *var, enum mod_scope scope);
/** Returns the handler for ns at scope, or NULL. */
mod_iq_fn *mod_iq_find(const char *ns, enum mod_scope scope);
/** Calls fn for each feature of scope, in registration order. */
void mod_features_each(enum mod_scope scope, void (*fn)(void *arg, const char *var), void *arg);

#endif
