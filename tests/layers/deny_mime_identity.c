/* gateway/mime may not use identity.h: this must not compile. */
#include "identity.h"

int layer_check(void);

int
layer_check(void)
{
	return 0;
}
