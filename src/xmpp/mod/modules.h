/*
 * modules: the list of feature modules compiled into ternd. The registry
 * (xmpp/mod.h) knows none of them; this is the one place that names them all.
 */
#ifndef TERN_XMPP_MOD_MODULES_H
#define TERN_XMPP_MOD_MODULES_H

/** Registers every module. Call once, before the workers start. */
void mods_init(void);

/* one init per file in this folder */
void mod_disco_init(void);
void mod_ping_init(void);
void mod_version_init(void);
void mod_message_init(void);
void mod_presence_init(void);
void mod_roster_init(void);
void mod_offline_init(void);
void mod_mam_init(void);
void mod_carbons_init(void);
void mod_blocking_init(void);
void mod_csi_init(void);
void mod_pep_init(void);
void mod_vcard_init(void);
void mod_private_init(void);
void mod_register_init(void);

#endif
