/*
 * pep: what the PEP module offers the disco module. An account's bare JID
 * is a PEP service (XEP-0163), so disco#info and disco#items addressed to
 * an account (own or another local one) are answered here.
 */
#ifndef TERN_XMPP_MOD_PEP_H
#define TERN_XMPP_MOD_PEP_H

#include "xmpp/mod.h"

/**
 * Answers a disco#info get to an account: identities account/registered and
 * pubsub/pep with the account features; with a node, that node's identity
 * if the asker may see it (item-not-found otherwise). To another account,
 * service-unavailable if it does not exist.
 */
void pep_disco_info(struct mod_iq *q);
/** Answers a disco#items get to an account: the nodes the asker may see. */
void pep_disco_items(struct mod_iq *q);

struct worker;

/**
 * For the roster module, when contact (a bare JID) has just been allowed to
 * see owner's presence (the subscription became from or both; owner is a
 * local part): contact's available resources with the matching +notify get
 * the newest item of each of owner's nodes they may now see (XEP-0163 §4.3,
 * send_last_published_item on subscription). Any worker; strings copied.
 */
void pep_subscribed(struct worker *w, const char *owner, const char *contact);

#endif
