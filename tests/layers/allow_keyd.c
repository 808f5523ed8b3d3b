/* smimegw-keyd's library sees the key protocol, the token key source
 * and its own header: this must compile (so its deny cases fail for
 * the missing header alone). */
#include "keyd_proto.h"
#include "keyd_server.h"
#include "keysrc_token.h"

int layer_check(void);

int
layer_check(void)
{
	return KEYD_CONN_MAX > 0 && KEYD_URI_MAX > 0;
}
