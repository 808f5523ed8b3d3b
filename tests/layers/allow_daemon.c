/* smimegwd's master and worker see the SMTP engines, the pipeline, the
 * treatment (policy/), the keyd key source and the configuration: this
 * must compile (so their deny cases fail for the missing header
 * alone). */
#include "gw_config.h"
#include "keysrc_keyd.h"
#include "master.h"
#include "process.h"
#include "smtp_server.h"
#include "treatment.h"
#include "worker.h"

int layer_check(void);

int
layer_check(void)
{
	return WORKER_SESSIONS_MAX > 0 && KEYSRC_KEYD_CACHE > 0 &&
	       PROCESS_MAX_COPIES > 0 && SMTP_SERVER_STAGE > 0 &&
	       TREATMENT_INCOMING != TREATMENT_OUTGOING;
}
