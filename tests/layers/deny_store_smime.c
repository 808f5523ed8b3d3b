/* gateway/store may not use smime.h: this must not compile. */
#include "smime.h"

int layer_check(void);

int
layer_check(void)
{
	return 0;
}
