/* The workers' keyd key source may not use p11_token.h (it never links
 * pkcs11/): this must not compile. */
#include "p11_token.h"

int layer_check(void);

int
layer_check(void)
{
	return 0;
}
