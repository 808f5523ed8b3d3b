/*
 * privdrop.h - the users smimegwd's children run as.
 *
 * When the master starts as root it looks the configured users up
 * (user for the workers, keyd_user for smimegw-keyd; smimegwd(8)) and
 * each child, between fork and exec, takes its user's ids: the
 * supplementary groups, the group, then the user, each checked, and a
 * last check that root cannot be taken back.  A master that is not
 * root changes no ids: the children run as it does.
 */
#ifndef PRIVDROP_H
#define PRIVDROP_H

#include <sys/types.h>

struct privdrop_user {
	int set;		/* 0: keep the master's ids */
	char name[64];
	uid_t uid;
	gid_t gid;
};

/*
 * Finds name (the value of the key named key) in the user database.
 * name "" leaves u unset.  GW_ERR_CONFIG "key: no such user 'name'"
 * when it is not there, GW_ERR_IO when the lookup itself failed.
 */
int privdrop_lookup(const char *key, const char *name, struct privdrop_user *u);

/*
 * Becomes u (nothing when u is unset): setgroups() to the user's
 * groups, setgid(), setuid(), then checks the real, effective and
 * saved ids and that setuid(0) fails.  GW_ERR_PERM with the step that
 * failed.  Called in a child between fork and exec.
 */
int privdrop_apply(const struct privdrop_user *u);

#endif
