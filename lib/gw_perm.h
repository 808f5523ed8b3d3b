/*
 * gw_perm.h - the ownership and mode rules for files that hold secrets
 * or trust: the PIN file, the store's folders and files.
 *
 * One home for "who may own it" and "who may write it", so that every
 * file that smimegw trusts is judged the same way.  The caller has the
 * stat (from fstat() on the descriptor it uses, where it has one); the
 * detail names the file as "what path: ...", e.g. "pin_file /etc/...".
 */
#ifndef GW_PERM_H
#define GW_PERM_H

#include <sys/stat.h>

/* 0 when st is owned by the effective user or by root; else GW_ERR_PERM
 * ("owned by uid N, must be owned by uid M or root"). */
int gw_perm_owner(const char *what, const char *path, const struct stat *st);

/* 0 when neither the group nor others may write st; else GW_ERR_PERM
 * naming the mode and the fix ("chmod go-w"). */
int gw_perm_not_shared(const char *what, const char *path,
		       const struct stat *st);

/* Both of the above: a file or folder that only its owner (us or root)
 * may change. */
int gw_perm_trusted(const char *what, const char *path,
		    const struct stat *st);

#endif
