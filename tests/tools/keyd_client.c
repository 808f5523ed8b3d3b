/*
 * keyd_client.c - a mail worker in miniature, for tests: it starts
 * smimegw-keyd over a socketpair (as smimegwd will), builds the
 * pipeline's engine on the keyd key source (keysrc_keyd.h) and the
 * store, and signs or decrypts a message with the S/MIME code the CLI
 * uses.  It links no token code: the keyd backend, the pipeline and the
 * configuration reader only (tests/integration/keyd.sh checks the
 * symbols and this process's memory map).
 *
 * usage: keyd_client -c CONF --keyd PROGRAM [--check-maps] COMMAND ...
 *   sign NAME IN OUT [pss]  sign IN (detached) with identity NAME
 *   decrypt IN OUT          decrypt IN (one layer) with our identities
 *   retry-sign NAME IN OUT SECS  sign until it works (the token
 *                           comes back) or SECS pass
 *   sign-pause-retry NAME IN OUT FILE SECS  sign once, print "first
 *                           signature made", wait until FILE exists,
 *                           then retry-sign
 *   kill NAME IN            kill keyd (SIGKILL), then try to sign
 *   kill-decrypt IN OUT     decrypt, kill keyd, decrypt again
 *   repeat NAME IN N        sign N times; print the wall time of each
 *   term NAME IN            sign, stop keyd with SIGTERM, print how it
 *                           ended
 *   unknown [URI]           send a request type keyd does not serve
 *   oversize                send a frame header over IPC_MAX_PAYLOAD
 *   biguri [URI]            send a PUBKEY whose URI is over its cap
 *   params [URI]            send a SIGN with a digest keyd refuses
 *   (each prints keyd's reply; with URI, then asks for URI's public
 *   key on the same stream and prints that reply too)
 *
 * --check-maps: after the command, this process's /proc/self/maps must
 * show libcrypto and no PKCS#11 module, libp11 or its engine; keyd's
 * must show the module (read before the command ends), and keyd's
 * core file size limit must be 0.
 *
 * keyd's log goes to this program's stderr.  Exit: 0 done; 75 a
 * temporary failure; 1 a permanent failure or a check that failed;
 * 2 usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/obj_mac.h>

#include "engine.h"
#include "gw_buf.h"
#include "gw_config.h"
#include "gw_err.h"
#include "gw_store.h"
#include "ipc.h"
#include "keyd_proto.h"
#include "keysrc_keyd.h"
#include "smime.h"
#include "smime_open.h"

static pid_t keyd_pid = -1;

static int
fail(int rc, const char *what)
{
	int temp = gw_err_class(rc) == GW_ERRCLASS_TEMPORARY;

	fprintf(stderr, "keyd_client: %s: %s: %s: %s\n", what,
		temp ? "temporary" : "permanent", gw_strerror(rc),
		gw_err_detail());
	return temp ? 75 : 1;
}

static int
start_keyd(const char *prog, const char *conf, int *fd)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return gw_err_set(GW_ERR_IO, "socketpair: %s",
				  strerror(errno));
	if ((keyd_pid = fork()) < 0)
		return gw_err_set(GW_ERR_IO, "fork: %s", strerror(errno));
	if (keyd_pid == 0) {
		/* keyd's end becomes descriptor 3, without close-on-exec. */
		if (dup2(sv[1], 3) < 0)
			_exit(71);
		execl(prog, prog, "-d", "-c", conf, "--fd", "3", (char *)NULL);
		fprintf(stderr, "keyd_client: exec %s: %s\n", prog,
			strerror(errno));
		_exit(71);
	}
	close(sv[1]);
	*fd = sv[0];
	return 0;
}

static int
read_file(const char *path, struct gw_buf *b)
{
	unsigned char chunk[8192];
	FILE *fp;
	size_t n;
	int rc = 0;

	if ((fp = fopen(path, "rb")) == NULL)
		return gw_err_set(GW_ERR_IO, "%s: %s", path, strerror(errno));
	while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		rc = gw_buf_add(b, chunk, n);
	if (rc == 0 && ferror(fp))
		rc = gw_err_set(GW_ERR_IO, "%s: read error", path);
	fclose(fp);
	return rc;
}

static int
write_file(const char *path, const struct gw_buf *b)
{
	FILE *fp;
	int rc = 0;

	if ((fp = fopen(path, "wb")) == NULL)
		return gw_err_set(GW_ERR_IO, "%s: %s", path, strerror(errno));
	if (fwrite(b->data, 1, b->len, fp) != b->len)
		rc = gw_err_set(GW_ERR_IO, "%s: write error", path);
	if (fclose(fp) != 0 && rc == 0)
		rc = gw_err_set(GW_ERR_IO, "%s: write error", path);
	return rc;
}

static int
do_sign(struct engine *e, const char *name, const char *in, const char *out,
	int pss)
{
	struct engine_sign_opts o;
	struct gw_buf msg, res;
	struct smime_msg m;
	int rc;

	gw_buf_init(&msg, SMIME_MSG_MAX);
	gw_buf_init(&res, SMIME_MSG_MAX);
	memset(&o, 0, sizeof(o));
	o.identity = name;
	o.pss = pss;
	o.mode = SMIME_SIGN_DETACHED;
	if ((rc = read_file(in, &msg)) == 0) {
		m.data = msg.data;
		m.len = msg.len;
		m.tree = NULL;
		m.layout = NULL;
		if ((rc = engine_sign(e, &o, &m, &res, NULL)) == 0 &&
		    out != NULL)
			rc = write_file(out, &res);
	}
	gw_buf_free(&msg);
	gw_buf_free(&res);
	return rc;
}

static int
do_decrypt(struct engine *e, const struct gw_config *cfg, const char *in,
	   const char *out)
{
	/* A test driver: any identity decrypts, as "message open"
	 * without --to does. */
	struct engine_open_for of = {e, NULL, 0, 1};
	struct smime_open_opts o;
	struct smime_open_result res;
	struct gw_buf msg, plain;
	int rc, fault;

	keysrc_keyd_take_fault();
	gw_buf_init(&msg, SMIME_MSG_MAX);
	gw_buf_init(&plain, SMIME_MSG_MAX);
	memset(&o, 0, sizeof(o));
	memset(&res, 0, sizeof(res));
	o.authserv_id = cfg->authserv_id;
	o.only = SMIME_OPEN_DECRYPT;
	o.find_key = engine_find_key;
	o.find_key_arg = &of;
	o.key_fault = engine_key_fault;
	if ((rc = read_file(in, &msg)) != 0 ||
	    (rc = smime_open(msg.data, msg.len, &o, &plain, &res)) != 0)
		goto out;
	if (res.status != SMIME_OK || res.decrypted != 1) {
		/* CMS_decrypt() cannot say why a proxy key failed; the
		 * key source can: keyd gone is temporary, a key transport
		 * that does not decrypt is not. */
		fault = keysrc_keyd_take_fault();
		fprintf(stderr, "keyd_client: decrypt: not decrypted: %s\n",
			res.reason);
		rc = res.error != 0 ? res.error
		     : fault != 0 && gw_err_class(fault) ==
					 GW_ERRCLASS_TEMPORARY
			 ? fault
			 : GW_ERR_CRYPTO;
		goto out;
	}
	rc = write_file(out, &plain);
out:
	smime_open_result_free(&res);
	gw_buf_free(&msg);
	gw_buf_free_secret(&plain);
	return rc;
}

/* Signs every 200 ms until it works or secs pass; prints how many
 * temporary failures came first.  A permanent failure ends it. */
static int
retry_sign(struct engine *e, const char *name, const char *in,
	   const char *out, int secs)
{
	struct timespec ts = {0, 200 * 1000 * 1000};
	int rc = GW_ERR_INVALID, tries, temp = 0;

	for (tries = 0; tries < secs * 5; tries++) {
		gw_err_clear();
		if ((rc = do_sign(e, name, in, out, 0)) == 0) {
			printf("signed after %d temporary failures\n", temp);
			return 0;
		}
		if (gw_err_class(rc) != GW_ERRCLASS_TEMPORARY)
			return rc;
		if (temp++ == 0)
			fprintf(stderr, "keyd_client: first failure: %s: %s\n",
				gw_strerror(rc), gw_err_detail());
		nanosleep(&ts, NULL);
	}
	return rc;
}

/* Sends m and prints keyd's reply as "reply TYPE CODE DETAIL", or
 * "closed" when keyd closed the stream. */
static int
exchange(int fd, struct ipc_msg *m, uint32_t id)
{
	struct ipc_frame f;
	const unsigned char *p;
	size_t n;
	int rc, code;

	if ((rc = ipc_write(fd, m)) != 0)
		return rc;
	rc = ipc_read(fd, &f);
	if (rc == GW_ERR_NOT_FOUND) {
		printf("closed\n");
		rc = 0;
	} else if (rc == 0) {
		gw_err_clear();
		if ((rc = keyd_reply_read(&f, id, &code, &p, &n)) == 0)
			printf("reply %s %s %s\n",
			       keyd_type_name(ipc_frame_type(&f)),
			       code ? gw_strerror(code) : "ok",
			       code ? gw_err_detail() : "");
	}
	ipc_frame_free(&f);
	return rc;
}

static int
do_raw(int fd, const char *what)
{
	struct ipc_msg m;
	struct keysrc_sign_params sp = {NID_md5, KEYSRC_PAD_PKCS1, 0, 0};
	unsigned char hdr[IPC_HDR_LEN] = {0, 0, 0, KEYD_PUBKEY, 0, 0, 0, 7};
	unsigned char dgst[16] = {0};
	char uri[KEYD_URI_MAX + 2];
	size_t len = IPC_MAX_PAYLOAD + 1;
	int rc;

	if (strcmp(what, "unknown") == 0) {
		ipc_msg_init(&m, 99, 5);
		ipc_put_str(&m, "pkcs11:id=%01");
		rc = exchange(fd, &m, 5);
	} else if (strcmp(what, "biguri") == 0) {
		memset(uri, 'a', sizeof(uri) - 1);
		uri[sizeof(uri) - 1] = '\0';
		ipc_msg_init(&m, KEYD_PUBKEY, 6);
		ipc_put_str(&m, uri);
		rc = exchange(fd, &m, 6);
	} else if (strcmp(what, "params") == 0) {
		keyd_req_sign(&m, 8, "pkcs11:id=%01", &sp, dgst, sizeof(dgst));
		rc = exchange(fd, &m, 8);
	} else {
		/* A header announcing more than a frame may hold. */
		hdr[8] = (unsigned char)(len >> 24);
		hdr[9] = (unsigned char)(len >> 16);
		hdr[10] = (unsigned char)(len >> 8);
		hdr[11] = (unsigned char)len;
		ipc_msg_init(&m, KEYD_PUBKEY, 7);
		if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
			rc = gw_err_set(GW_ERR_IO, "write: %s",
					strerror(errno));
		else {
			struct ipc_frame f;

			rc = ipc_read(fd, &f);
			printf("%s\n", rc == GW_ERR_NOT_FOUND ? "closed"
							     : "not closed");
			ipc_frame_free(&f);
			rc = 0;
		}
	}
	ipc_msg_free(&m);
	return rc;
}

/* Whether the maps file at path names any of the needles. */
static int
maps_have(const char *path, const char *const *needles, char *hit,
	  size_t hitlen, int *lines)
{
	char line[1024];
	FILE *fp;
	size_t i;
	int found = 0;

	*lines = 0;
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		(*lines)++;
		for (i = 0; needles[i] != NULL && !found; i++)
			if (strstr(line, needles[i]) != NULL) {
				snprintf(hit, hitlen, "%s", line);
				found = 1;
			}
	}
	fclose(fp);
	return found;
}

static int
check_maps(void)
{
	static const char *const banned[] = {"softhsm", "libp11", "pkcs11.so",
					     "p11-kit", NULL};
	static const char *const crypto[] = {"libcrypto", NULL};
	static const char *const module[] = {"softhsm", NULL};
	static const char *const core[] = {"Max core file size", NULL};
	char hit[1024] = "", path[64], soft[64], hard[64];
	int n, r;

	if (maps_have("/proc/self/maps", crypto, hit, sizeof(hit), &n) != 1) {
		fprintf(stderr, "keyd_client: maps: libcrypto not seen in "
			"/proc/self/maps (%d lines): the check is blind\n", n);
		return 1;
	}
	if ((r = maps_have("/proc/self/maps", banned, hit, sizeof(hit),
			   &n)) != 0) {
		fprintf(stderr, "keyd_client: maps: %s", r < 0
			? "cannot read /proc/self/maps\n" : hit);
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)keyd_pid);
	if (maps_have(path, module, hit, sizeof(hit), &n) != 1) {
		fprintf(stderr, "keyd_client: maps: keyd (%s) shows no "
			"PKCS#11 module\n", path);
		return 1;
	}
	printf("maps: worker clean (%d mappings), module in keyd\n", n);
	/* keyd turned core dumps off. */
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)keyd_pid);
	if (maps_have(path, core, hit, sizeof(hit), &n) != 1 ||
	    sscanf(hit + strlen(core[0]), "%63s %63s", soft, hard) != 2 ||
	    strcmp(soft, "0") != 0 || strcmp(hard, "0") != 0) {
		fprintf(stderr, "keyd_client: keyd's core limit: %s", hit);
		return 1;
	}
	printf("keyd: core dumps off\n");
	return 0;
}

int
main(int argc, char **argv)
{
	struct gw_config *cfg = NULL;
	struct engine e = {NULL, NULL, NULL};
	const char *conf = NULL, *prog = NULL, *cmd;
	int fd = -1, maps = 0, ex = 2, rc, st, i = 1;

	for (; i + 1 < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0)
			conf = argv[++i];
		else if (strcmp(argv[i], "--keyd") == 0)
			prog = argv[++i];
		else if (strcmp(argv[i], "--check-maps") == 0)
			maps = 1;
		else
			break;
	}
	if (conf == NULL || prog == NULL || i >= argc) {
		fprintf(stderr, "usage: keyd_client -c CONF --keyd PROGRAM "
			"[--check-maps] COMMAND ...\n");
		return 2;
	}
	cmd = argv[i++];
	if ((rc = gw_config_load(conf, &cfg)) != 0 ||
	    (rc = gw_store_open(cfg->data_dir, (size_t)cfg->store_map_size,
				&e.store)) != 0 ||
	    (rc = start_keyd(prog, conf, &fd)) != 0) {
		ex = fail(rc, "setup");
		goto out;
	}
	if (strcmp(cmd, "unknown") == 0 || strcmp(cmd, "oversize") == 0 ||
	    strcmp(cmd, "biguri") == 0 || strcmp(cmd, "params") == 0) {
		if ((rc = do_raw(fd, cmd)) == 0 && i < argc) {
			/* keyd still serves this stream after a refusal. */
			struct ipc_msg m;

			keyd_req_pubkey(&m, 9, argv[i]);
			rc = exchange(fd, &m, 9);
			ipc_msg_free(&m);
		}
		ex = rc == 0 ? 0 : fail(rc, cmd);
		goto out;
	}
	if ((e.keys = keysrc_keyd_new(fd, 10000)) == NULL) {
		ex = fail(GW_ERR_NOMEM, "setup");
		goto out;
	}
	fd = -1;
	if (strcmp(cmd, "sign") == 0 && argc - i >= 3) {
		rc = do_sign(&e, argv[i], argv[i + 1], argv[i + 2],
			     argc - i > 3 && strcmp(argv[i + 3], "pss") == 0);
	} else if (strcmp(cmd, "decrypt") == 0 && argc - i == 2) {
		rc = do_decrypt(&e, cfg, argv[i], argv[i + 1]);
	} else if (strcmp(cmd, "sign-pause-retry") == 0 && argc - i == 5) {
		/* Signs, says so, waits for the file argv[i + 3] to
		 * appear (the test breaks the token meanwhile), then
		 * signs until it works again. */
		if ((rc = do_sign(&e, argv[i], argv[i + 1], NULL, 0)) == 0) {
			printf("first signature made\n");
			fflush(stdout);
			while (access(argv[i + 3], F_OK) != 0)
				usleep(100 * 1000);
			rc = retry_sign(&e, argv[i], argv[i + 1], argv[i + 2],
					(int)strtol(argv[i + 4], NULL, 10));
		}
	} else if (strcmp(cmd, "retry-sign") == 0 && argc - i == 4) {
		rc = retry_sign(&e, argv[i], argv[i + 1], argv[i + 2],
				(int)strtol(argv[i + 3], NULL, 10));
	} else if (strcmp(cmd, "kill-decrypt") == 0 && argc - i == 2) {
		/* The key is cached by the first decryption, so the second
		 * reaches keyd only inside CMS_decrypt(). */
		if ((rc = do_decrypt(&e, cfg, argv[i], argv[i + 1])) == 0) {
			printf("first decryption made\n");
			kill(keyd_pid, SIGKILL);
			waitpid(keyd_pid, NULL, 0);
			keyd_pid = -1;
			gw_err_clear();
			rc = do_decrypt(&e, cfg, argv[i], argv[i + 1]);
		}
	} else if (strcmp(cmd, "term") == 0 && argc - i == 2) {
		/* keyd stops on SIGTERM, well, with the stream still open
		 * (a signature first: keyd is in its loop by then). */
		if ((rc = do_sign(&e, argv[i], argv[i + 1], NULL, 0)) != 0)
			goto done;
		kill(keyd_pid, SIGTERM);
		if (waitpid(keyd_pid, &st, 0) != keyd_pid)
			rc = gw_err_set(GW_ERR_IO, "waitpid: %s",
					strerror(errno));
		else
			printf("keyd stopped: %s %d\n",
			       WIFEXITED(st) ? "exit" : "signal",
			       WIFEXITED(st) ? WEXITSTATUS(st)
					     : WTERMSIG(st));
		keyd_pid = -1;
	} else if (strcmp(cmd, "repeat") == 0 && argc - i == 3) {
		/* Wall time per signature over N, after one to warm up. */
		struct timespec t0, t1;
		long k, n = strtol(argv[i + 2], NULL, 10);

		rc = do_sign(&e, argv[i], argv[i + 1], NULL, 0);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (k = 0; rc == 0 && k < n; k++)
			rc = do_sign(&e, argv[i], argv[i + 1], NULL, 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (rc == 0 && n > 0)
			printf("%ld signatures, %.3f ms each\n", n,
			       ((double)(t1.tv_sec - t0.tv_sec) * 1e3 +
				(double)(t1.tv_nsec - t0.tv_nsec) / 1e6) /
				   (double)n);
	} else if (strcmp(cmd, "kill") == 0 && argc - i == 2) {
		kill(keyd_pid, SIGKILL);
		waitpid(keyd_pid, NULL, 0);
		keyd_pid = -1;
		rc = do_sign(&e, argv[i], argv[i + 1], NULL, 0);
	} else {
		fprintf(stderr, "keyd_client: bad command %s\n", cmd);
		goto out;
	}
done:
	if (rc != 0) {
		ex = fail(rc, cmd);
		goto out;
	}
	ex = maps ? check_maps() : 0;
out:
	keysrc_free(e.keys);
	if (fd >= 0)
		close(fd);
	gw_store_close(e.store);
	gw_config_free(cfg);
	/* keyd ends once its only stream is closed, and must end well. */
	if (keyd_pid > 0 && waitpid(keyd_pid, &st, 0) == keyd_pid &&
	    !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		fprintf(stderr, "keyd_client: smimegw-keyd ended with "
			"status %d\n", st);
		if (ex == 0)
			ex = 1;
	}
	return ex;
}
