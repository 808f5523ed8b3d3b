/*
 * cli_engine.c - what smimegw.conf says about the store and the token,
 * turned into the pipeline's engine (store and key source) and into
 * certmgr's configuration.  Shared by the commands and the benchmark.
 */
#include "addr_rule.h"
#include "cert_check.h"
#include "certmgr.h"
#include "cli.h"
#include "engine.h"
#include "gw_config.h"
#include "gw_err.h"
#include "gw_store.h"
#include "keysrc_token.h"

int
cli_rules_apply(const struct gw_config *cfg)
{
	enum addr_local_part lp;
	enum cert_rules rules;

	/* gw_config_load() checked both against their choices. */
	if (addr_rule_local_part_parse(cfg->address_local_part, &lp) != 0 ||
	    cert_requirements_parse(cfg->cert_requirements, &rules) != 0)
		return GW_ERR_CONFIG;
	addr_rule_set_local_part(lp);
	cert_rules_set_others(rules);
	return 0;
}

int
cli_engine_open(const struct gw_config *cfg, struct engine *e)
{
	struct keysrc_token_config tc;
	int rc;

	e->store = NULL;
	e->keys = NULL;
	e->decrypt_catch_all = cfg->decrypt_catch_all;
	if ((rc = cli_rules_apply(cfg)) != 0)
		return rc;
	/* The message path never creates a store: a missing one defers. */
	if ((rc = gw_store_open_ex(cfg->data_dir, (size_t)cfg->store_map_size,
				   0, &e->store)) != 0)
		return rc;
	tc.module = cfg->pkcs11_module;
	tc.token_uri = cfg->token;
	tc.pin_file = cfg->pin_file;
	if ((e->keys = keysrc_token_new(&tc)) == NULL) {
		cli_engine_close(e);
		return GW_ERR_NOMEM;
	}
	return 0;
}

void
cli_engine_close(struct engine *e)
{
	keysrc_free(e->keys);
	gw_store_close(e->store);
	e->keys = NULL;
	e->store = NULL;
}

struct certmgr_config
cli_certmgr_config(const struct gw_config *cfg)
{
	struct certmgr_config c;

	c.data_dir = cfg->data_dir;
	c.store_map_size = (size_t)cfg->store_map_size;
	c.create_store = 0;
	c.token.module = cfg->pkcs11_module;
	c.token.token_uri = cfg->token;
	c.token.pin_file = cfg->pin_file;
	return c;
}
