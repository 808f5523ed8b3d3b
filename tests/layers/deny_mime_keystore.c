/* gateway/mime may not use keystore.h: this must not compile. */
#include "keystore.h"

int layer_check(void);

int
layer_check(void)
{
	return 0;
}
