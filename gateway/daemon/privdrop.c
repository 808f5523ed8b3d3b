/* privdrop.c - the users smimegwd's children run as (privdrop.h). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_err.h"
#include "privdrop.h"

#define GROUPS_MAX 64

int
privdrop_lookup(const char *key, const char *name, struct privdrop_user *u)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int rc;

	memset(u, 0, sizeof(u[0]));
	if (*name == '\0')
		return 0;
	if (strlen(name) >= sizeof(u->name))
		return gw_err_set_at(GW_ERR_CONFIG, key, "%s: '%s' is too long "
				     "for a user name", key, name);
	errno = 0;
	rc = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (res == NULL) {
		if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF ||
		    rc == EPERM)
			return gw_err_set_at(GW_ERR_CONFIG, key,
					     "%s: no such user '%s' (create "
					     "it, or see smimegwd(8))", key,
					     name);
		return gw_err_set_at(GW_ERR_IO, key, "%s: looking up '%s': %s",
				     key, name, strerror(rc));
	}
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->uid = pw.pw_uid;
	u->gid = pw.pw_gid;
	u->set = 1;
	return 0;
}

int
privdrop_apply(const struct privdrop_user *u)
{
	gid_t groups[GROUPS_MAX];
	int ngroups = GROUPS_MAX;
	uid_t r, e, s;

	if (!u->set)
		return 0;
	if (getgrouplist(u->name, u->gid, groups, &ngroups) < 0) {
		/* More groups than we take: the primary one alone. */
		groups[0] = u->gid;
		ngroups = 1;
	}
	if (setgroups((size_t)ngroups, groups) != 0)
		return gw_err_set(GW_ERR_PERM, "user %s: setgroups: %s",
				  u->name, strerror(errno));
	if (setresgid(u->gid, u->gid, u->gid) != 0)
		return gw_err_set(GW_ERR_PERM, "user %s: setgid %lu: %s",
				  u->name, (unsigned long)u->gid,
				  strerror(errno));
	if (setresuid(u->uid, u->uid, u->uid) != 0)
		return gw_err_set(GW_ERR_PERM, "user %s: setuid %lu: %s",
				  u->name, (unsigned long)u->uid,
				  strerror(errno));
	if (getresuid(&r, &e, &s) != 0 || r != u->uid || e != u->uid ||
	    s != u->uid || getegid() != u->gid || getgid() != u->gid)
		return gw_err_set(GW_ERR_PERM, "user %s: the ids did not "
				  "change", u->name);
	if (u->uid != 0 && setuid(0) == 0)
		return gw_err_set(GW_ERR_PERM, "user %s: root could be taken "
				  "back", u->name);
	return 0;
}
