/* The workers' keyd key source may not use p11_key.h: this must not
 * compile. */
#include "p11_key.h"

int layer_check(void);

int
layer_check(void)
{
	return 0;
}
