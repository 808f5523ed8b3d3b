/* The SMTP/LMTP engines (smimegw_smtp) speak the protocol only: they
 * may not use the store's keystore.h.  This must not compile. */
#include "keystore.h"

int layer_check(void);

int
layer_check(void)
{
	return 0;
}
