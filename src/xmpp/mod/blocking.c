/* blocking: not written yet; its init registers nothing. */
#include "xmpp/mod/modules.h"

void mod_blocking_init(void)
{
}
