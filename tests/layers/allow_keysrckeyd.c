/* The workers' keyd key source sees the key source seam and the key
 * protocol: this must compile. */
#include "keyd_proto.h"
#include "keysrc_keyd.h"

int layer_check(void);

int
layer_check(void)
{
	return KEYSRC_KEYD_CACHE > 0 && KEYD_URI_MAX > 0;
}
