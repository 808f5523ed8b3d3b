/* lib may not use gw_config.h: this must not compile. */
#include "gw_config.h"

int layer_check(void);

int
layer_check(void)
{
	return 0;
}
