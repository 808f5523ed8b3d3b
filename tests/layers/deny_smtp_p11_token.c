/* The SMTP/LMTP engines run in the workers, which never reach the
 * token: smimegw_smtp may not use p11_token.h.  This must not compile. */
#include "p11_token.h"

int layer_check(void);

int
layer_check(void)
{
	return 0;
}
