/* gw_perm.c - ownership and mode rules for trusted files (gw_perm.h). */
#include "gw_perm.h"

#include <unistd.h>

#include "gw_err.h"

int
gw_perm_owner(const char *what, const char *path, const struct stat *st)
{
	if (st->st_uid == geteuid() || st->st_uid == 0)
		return 0;
	return gw_err_set(GW_ERR_PERM,
			  "%s %s: owned by uid %u, must be owned by uid %u or "
			  "root",
			  what, path, (unsigned)st->st_uid,
			  (unsigned)geteuid());
}

int
gw_perm_not_shared(const char *what, const char *path, const struct stat *st)
{
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) == 0)
		return 0;
	return gw_err_set(GW_ERR_PERM,
			  "%s %s: mode %04o lets %s write it (chmod go-w %s)",
			  what, path, (unsigned)(st->st_mode & 07777),
			  (st->st_mode & S_IWOTH) ? "everyone" : "its group",
			  path);
}

int
gw_perm_trusted(const char *what, const char *path, const struct stat *st)
{
	int rc;

	if ((rc = gw_perm_owner(what, path, st)) != 0)
		return rc;
	return gw_perm_not_shared(what, path, st);
}
