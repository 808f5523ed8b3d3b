/* gateway/smime may not use p11_token.h: this must not compile. */
#include "p11_token.h"

int layer_check(void);

int
layer_check(void)
{
	return 0;
}
