/* modules: registers every module, in the order their disco features are listed. */
#include "xmpp/mod/modules.h"

#include <stdbool.h>

void mods_init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    mod_disco_init();
    mod_ping_init();
    mod_version_init();
    mod_roster_init();
    mod_presence_init();
    mod_message_init();
    mod_offline_init();
    mod_mam_init();
    mod_carbons_init();
    mod_blocking_init();
    mod_csi_init();
    mod_pep_init();
    mod_vcard_init();
    mod_private_init();
    mod_register_init();
}
