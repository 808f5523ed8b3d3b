/* gateway/smime may not use certmgr.h: this must not compile. */
#include "certmgr.h"

int layer_check(void);

int
layer_check(void)
{
	return 0;
}
