/*
 * csi: client state indication (XEP-0352). It lives on the send path of
 * every session, so the protocol is in xmpp/c2s.c (<active/>, <inactive/>,
 * the <csi/> stream feature, SESS_F_INACTIVE in the registry) and the held
 * queue in xmpp/sm.c; modules only tag what may wait (CHUNK_TAG_LOW). CSI
 * has no disco feature, so there is nothing to register here.
 */
#include "xmpp/mod/modules.h"

void mod_csi_init(void)
{
}
