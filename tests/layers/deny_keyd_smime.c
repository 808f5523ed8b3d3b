/* smimegw-keyd does no CMS of messages: its library may not use
 * smime.h.  This must not compile. */
#include "smime.h"

int layer_check(void);

int
layer_check(void)
{
	return 0;
}
