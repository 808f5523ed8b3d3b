/* master.c - the smimegwd master (master.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "ctl_proto.h"
#include "gw_err.h"
#include "ipc.h"
#include "keyd_proto.h"
#include "log.h"
#include "master.h"
#include "notify.h"
#include "privdrop.h"

#define MAX_WORKERS 64
#define MAX_CHILDREN 512
#define BACKOFF_MAX 60
#define STABLE_SECS 60

struct child {
	pid_t pid;
	unsigned gen;
	int worker;	/* -1: keyd */
	int sfd;	/* its counters (worker) or token state (keyd); -1 */
	struct ctl_counts c;
};

struct master {
	const struct master_opts *o;
	struct gw_config *cfg;
	int lfd[2];		/* outgoing, incoming; -1 when off */
	struct child kids[MAX_CHILDREN];
	int nkids;
	unsigned gen;		/* the current generation */
	time_t gen_start;
	int backoff;
	int gen_failed;		/* start the generation again */
	time_t started;
	struct privdrop_user wuser, kuser;	/* the children's ids (root) */
	int ctl;		/* the control socket; -1 */
	char *ctl_path;
	int stopping;
	struct ctl_counts done;	/* messages of the workers that ended */
	char token[CTL_STATE_MAX];	/* the current keyd's token */
	char token_detail[CTL_TEXT_MAX];
	time_t token_since;
};

static int
listen_on(const char *key, const char *hostport, int *out)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256], port[8];
	unsigned p;
	int fd = -1, one = 1, rc, err = 0;

	if (gw_config_hostport(hostport, host, sizeof(host), &p) != 0)
		return gw_err_set_at(GW_ERR_CONFIG, key,
				     "'%s' is not host:port", hostport);
	snprintf(port, sizeof(port), "%u", p);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0)
		return gw_err_set_at(GW_ERR_CONFIG, key, "%s: %s", hostport,
				     gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family,
				 ai->ai_socktype | SOCK_CLOEXEC |
				     SOCK_NONBLOCK,
				 ai->ai_protocol)) < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 128) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return gw_err_set_at(GW_ERR_IO, key, "cannot listen on %s: %s",
				     hostport, strerror(err));
	*out = fd;
	return 0;
}

/* The child's side of exec: its user's ids (root only: privdrop.h),
 * default signals, no blocked ones, and SIGTERM when the master goes
 * away (even by SIGKILL), so that no worker or keyd outlives it.  The
 * death signal is set after the ids change, which clears it. */
static void
child_exec(const char *prog, char **argv, pid_t master,
	   const struct privdrop_user *u)
{
	sigset_t none;
	struct sigaction sa;
	int sig;

	if (privdrop_apply(u) != 0) {
		log_err("%s: %s", argv[0], gw_err_detail());
		_exit(78);
	}
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != master)
		_exit(127);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(prog, argv);
	log_err("exec %s: %s", prog, strerror(errno));
	_exit(127);
}

/* Takes sfd (closed here when there is no room). */
static void
kid_add(struct master *m, pid_t pid, int worker, int sfd)
{
	struct child *k;

	if (m->nkids == MAX_CHILDREN) {
		if (sfd >= 0)
			close(sfd);
		return;
	}
	k = &m->kids[m->nkids++];
	memset(k, 0, sizeof(*k));
	k->pid = pid;
	k->gen = m->gen;
	k->worker = worker;
	k->sfd = sfd;
	if (worker < 0) {
		snprintf(m->token, sizeof(m->token), "opening");
		m->token_detail[0] = '\0';
		m->token_since = time(NULL);
	}
}

/* A pair for a child's reports: [0] the master's end, [1] the child's
 * (close-on-exec until keep_fd()).  A failure is logged; the child then
 * runs without reporting. */
static void
report_pair(int sv[2])
{
	struct timeval tv = {2, 0};

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		log_warn("socketpair (reports): %s", strerror(errno));
		sv[0] = sv[1] = -1;
		return;
	}
	/* Frames come whole; never wait long on one cut short. */
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	shutdown(sv[0], SHUT_WR);
}

static int
keep_fd(int fd)
{
	return fcntl(fd, F_SETFD, 0);
}

/* Starts keyd and the workers of a new generation; GW_ERR_IO when one
 * could not be started (the caller restarts the generation). */
static int
generation_start(struct master *m)
{
	int sv[MAX_WORKERS][2], nw = (int)m->cfg->workers, i, j, n;
	int failed = 0;
	pid_t master = getpid();
	char num[MAX_WORKERS][16], wnum[16], lnum[2][24], snum[16];
	char *argv[MAX_WORKERS * 2 + 16];
	int rp[2];
	pid_t pid;

	if (nw > MAX_WORKERS)
		nw = MAX_WORKERS;
	m->gen++;
	m->gen_start = time(NULL);
	for (i = 0; i < nw; i++)
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
			       sv[i]) != 0) {
			log_err("socketpair: %s", strerror(errno));
			while (i-- > 0) {
				close(sv[i][0]);
				close(sv[i][1]);
			}
			return GW_ERR_IO;
		}
	/* keyd: one --fd per worker, its token state on --status-fd. */
	report_pair(rp);
	if ((pid = fork()) == 0) {
		n = 0;
		argv[n++] = (char *)"smimegw-keyd";
		if (m->o->debug)
			argv[n++] = (char *)"-d";
		argv[n++] = (char *)"-c";
		argv[n++] = (char *)m->cfg->path;
		for (i = 0; i < nw; i++) {
			keep_fd(sv[i][0]);
			snprintf(num[i], sizeof(num[i]), "%d", sv[i][0]);
			argv[n++] = (char *)"--fd";
			argv[n++] = num[i];
		}
		if (rp[1] >= 0) {
			keep_fd(rp[1]);
			snprintf(snum, sizeof(snum), "%d", rp[1]);
			argv[n++] = (char *)"--status-fd";
			argv[n++] = snum;
		}
		argv[n] = NULL;
		child_exec(m->o->keyd, argv, master, &m->kuser);
	}
	if (rp[1] >= 0)
		close(rp[1]);
	if (pid < 0) {
		log_err("fork (keyd): %s", strerror(errno));
		failed = 1;
		if (rp[0] >= 0)
			close(rp[0]);
	} else
		kid_add(m, pid, -1, rp[0]);
	for (i = 0; i < nw; i++) {
		close(sv[i][0]);
		report_pair(rp);
		if ((pid = fork()) == 0) {
			n = 0;
			argv[n++] = (char *)"smimegwd";
			argv[n++] = (char *)"--worker";
			if (m->o->debug)
				argv[n++] = (char *)"-d";
			argv[n++] = (char *)"-c";
			argv[n++] = (char *)m->cfg->path;
			keep_fd(sv[i][1]);
			snprintf(wnum, sizeof(wnum), "%d", sv[i][1]);
			argv[n++] = (char *)"--keyd-fd";
			argv[n++] = wnum;
			for (j = 0; j < 2; j++) {
				if (m->lfd[j] < 0)
					continue;
				keep_fd(m->lfd[j]);
				snprintf(lnum[j], sizeof(lnum[j]), "%d:%s",
					 m->lfd[j],
					 j == 0 ? "outgoing" : "incoming");
				argv[n++] = (char *)"--listen";
				argv[n++] = lnum[j];
			}
			if (rp[1] >= 0) {
				keep_fd(rp[1]);
				snprintf(snum, sizeof(snum), "%d", rp[1]);
				argv[n++] = (char *)"--master-fd";
				argv[n++] = snum;
			}
			argv[n] = NULL;
			child_exec(m->o->self, argv, master, &m->wuser);
		}
		if (rp[1] >= 0)
			close(rp[1]);
		if (pid < 0) {
			log_err("fork (worker %d): %s", i, strerror(errno));
			failed = 1;
			if (rp[0] >= 0)
				close(rp[0]);
		} else
			kid_add(m, pid, i, rp[0]);
		close(sv[i][1]);
	}
	if (failed)
		return GW_ERR_IO;
	log_notice("generation %u: keyd and %d worker%s started", m->gen, nw,
		   nw == 1 ? "" : "s");
	notify("STATUS=generation %u: keyd and %d worker%s", m->gen, nw,
	       nw == 1 ? "" : "s");
	return 0;
}

/* Asks the workers of generations up to upto to finish their sessions
 * and end: SIGUSR1 when a new generation takes over the listeners,
 * SIGTERM when the gateway stops (then new connections get 421). */
static void
retire_old(struct master *m, unsigned upto, int sig)
{
	int i;

	for (i = 0; i < m->nkids; i++)
		if (m->kids[i].gen <= upto && m->kids[i].worker >= 0)
			kill(m->kids[i].pid, sig);
}

static void
describe(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "status %d", status);
}

static void kid_report(struct master *m, struct child *k);

/* What stays of a child that ended: its messages, in the totals; for
 * the current keyd, the token is down until the next one opens it. */
static void
kid_gone(struct master *m, struct child *k, const char *how)
{
	struct pollfd p;
	int i;

	/* What it said before it ended counts. */
	while (k->sfd >= 0) {
		p.fd = k->sfd;
		p.events = POLLIN;
		if (poll(&p, 1, 0) <= 0)
			break;
		kid_report(m, k);
	}
	if (k->sfd >= 0)
		close(k->sfd);
	k->sfd = -1;
	if (k->worker >= 0) {
		m->done.messages += k->c.messages;
		for (i = 0; i < CTL_NOUTCOMES; i++)
			m->done.by[i] += k->c.by[i];
	} else if (k->gen == m->gen) {
		snprintf(m->token, sizeof(m->token), "down");
		snprintf(m->token_detail, sizeof(m->token_detail),
			 "smimegw-keyd ended: %s", how);
		m->token_since = time(NULL);
	}
}

/* Reaps the children that ended; 1 when one of the current generation
 * ended unasked. */
static int
reap(struct master *m, int stopping)
{
	char how[96];
	int status, i, lost = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < m->nkids; i++)
			if (m->kids[i].pid == pid)
				break;
		if (i == m->nkids)
			continue;
		describe(status, how, sizeof(how));
		if (m->kids[i].gen == m->gen && !stopping) {
			if (m->kids[i].worker < 0)
				log_err("smimegw-keyd (pid %ld) of generation "
					"%u ended: %s", (long)pid, m->gen, how);
			else
				log_err("worker %d (pid %ld) of generation %u "
					"ended: %s", m->kids[i].worker,
					(long)pid, m->gen, how);
			lost = 1;
		} else
			log_info("pid %ld of generation %u ended: %s",
				 (long)pid, m->kids[i].gen, how);
		kid_gone(m, &m->kids[i], how);
		m->kids[i] = m->kids[--m->nkids];
	}
	/* A keyd whose workers are all gone is told to end too. */
	for (i = 0; i < m->nkids; i++) {
		int j, busy = 0;

		if (m->kids[i].worker >= 0 ||
		    (m->kids[i].gen == m->gen && !stopping))
			continue;
		for (j = 0; j < m->nkids; j++)
			busy |= m->kids[j].gen == m->kids[i].gen &&
				m->kids[j].worker >= 0;
		if (!busy)
			kill(m->kids[i].pid, SIGTERM);
	}
	return lost;
}

static int
check(const struct gw_config *cfg)
{
	if (*cfg->listener_outgoing == '\0' && *cfg->listener_incoming == '\0')
		return gw_err_set_at(GW_ERR_CONFIG, "listener_outgoing",
				     "%s: no listener: set listener_outgoing "
				     "or listener_incoming", cfg->path);
	return gw_config_check_listeners(cfg);
}

static int
bind_all(struct master *m)
{
	const struct gw_config *cfg = m->cfg;
	int rc;

	if (*cfg->listener_outgoing &&
	    (rc = listen_on("listener_outgoing", cfg->listener_outgoing,
			    &m->lfd[0])) != 0)
		return rc;
	if (*cfg->listener_incoming &&
	    (rc = listen_on("listener_incoming", cfg->listener_incoming,
			    &m->lfd[1])) != 0) {
		if (m->lfd[0] >= 0)
			close(m->lfd[0]);
		return rc;
	}
	return 0;
}

static unsigned long long
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	       (unsigned long long)ts.tv_nsec / 1000;
}

/* The users of a configuration, when the master is root. */
static int
users(const struct gw_config *cfg, struct privdrop_user *w,
      struct privdrop_user *k)
{
	int rc;

	memset(w, 0, sizeof(*w));
	memset(k, 0, sizeof(*k));
	if (geteuid() != 0)
		return 0;
	if ((rc = privdrop_lookup("user", cfg->user, w)) != 0 ||
	    (rc = privdrop_lookup("keyd_user", cfg->keyd_user, k)) != 0)
		return rc;
	/* A worker must not be able to read what keyd reads. */
	if (w->set && k->set && w->uid == k->uid)
		return gw_err_set_at(GW_ERR_CONFIG, "keyd_user",
				     "keyd_user: '%s' has the uid of user "
				     "'%s' (%lu): the workers could read the "
				     "PIN", k->name, w->name,
				     (unsigned long)w->uid);
	return 0;
}

/* Reads the configuration again: 0, or -1 (logged; why says it) when
 * the running one stays. */
static int
reload(struct master *m, char *why, size_t whylen)
{
	struct gw_config *ncfg = NULL;
	struct privdrop_user wu, ku;
	int rc;

	notify("RELOADING=1\nMONOTONIC_USEC=%llu", mono_usec());
	gw_err_clear();
	if ((rc = gw_config_load(m->cfg->path, &ncfg)) != 0)
		snprintf(why, whylen, "%s: %s", gw_strerror(rc),
			 gw_err_detail());
	else if (strcmp(ncfg->listener_outgoing,
			m->cfg->listener_outgoing) != 0 ||
		 strcmp(ncfg->listener_incoming,
			m->cfg->listener_incoming) != 0)
		snprintf(why, whylen, "the listener addresses changed: "
			 "restart smimegwd for that");
	else if (strcmp(ncfg->control_socket, m->cfg->control_socket) != 0)
		snprintf(why, whylen, "control_socket changed: restart "
			 "smimegwd for that");
	else if (check(ncfg) != 0 || users(ncfg, &wu, &ku) != 0)
		snprintf(why, whylen, "%s", gw_err_detail());
	else {
		gw_config_free(m->cfg);
		m->cfg = ncfg;
		m->wuser = wu;
		m->kuser = ku;
		log_notice("reload: %s read; starting a new generation",
			   ncfg->path);
		notify("READY=1");
		return 0;
	}
	log_err("reload: %s; keeping the running configuration", why);
	gw_config_free(ncfg);
	notify("READY=1\nSTATUS=reload refused: %s", why);
	return -1;
}

/* ---- reports and the control socket --------------------------------- */

/* One frame from a child's report stream; the stream is closed when
 * it ends or breaks (the child is reaped as usual). */
static void
kid_report(struct master *m, struct child *k)
{
	struct ipc_frame f;
	char state[CTL_STATE_MAX], detail[CTL_TEXT_MAX];
	struct ctl_counts c;
	int rc;

	gw_err_clear();
	if ((rc = ipc_read(k->sfd, &f)) == 0) {
		if (k->worker >= 0 && ipc_frame_type(&f) == CTL_STATS) {
			if ((rc = ctl_counts_get(&f, &c)) == 0 &&
			    (rc = ipc_end(&f)) == 0)
				k->c = c;
		} else if (k->worker < 0 && ipc_frame_type(&f) == KEYD_STATUS) {
			ipc_get_str(&f, state, sizeof(state));
			ipc_get_str(&f, detail, sizeof(detail));
			if ((rc = ipc_end(&f)) == 0 && k->gen == m->gen) {
				snprintf(m->token, sizeof(m->token), "%s",
					 state);
				snprintf(m->token_detail,
					 sizeof(m->token_detail), "%s",
					 detail);
				m->token_since = time(NULL);
				notify("STATUS=generation %u: token %s",
				       m->gen, state);
			}
		} else
			rc = gw_err_set(GW_ERR_PARSE, "frame type %#x",
					ipc_frame_type(&f));
	}
	ipc_frame_free(&f);
	if (rc == 0)
		return;
	if (rc != GW_ERR_NOT_FOUND)
		log_warn("pid %ld: its reports: %s; not read any more",
			 (long)k->pid, gw_err_detail());
	close(k->sfd);
	k->sfd = -1;
}

static void
ctl_status(void *arg, struct ctl_status *st)
{
	struct master *m = arg;
	int i, j;

	st->master_pid = (uint32_t)getpid();
	st->started = (uint64_t)m->started;
	st->now = (uint64_t)time(NULL);
	st->gen = m->gen;
	snprintf(st->conf, sizeof(st->conf), "%s", m->cfg->path);
	snprintf(st->token, sizeof(st->token), "%s",
		 m->stopping ? "stopping" : m->token);
	snprintf(st->token_detail, sizeof(st->token_detail), "%s",
		 m->token_detail);
	st->token_since = (uint64_t)m->token_since;
	st->total = m->done;
	for (i = 0; i < m->nkids; i++) {
		const struct child *k = &m->kids[i];
		struct ctl_worker *w;

		if (k->worker < 0) {
			if (k->gen == m->gen)
				st->keyd_pid = (uint32_t)k->pid;
			continue;
		}
		st->total.sessions += k->c.sessions;
		st->total.messages += k->c.messages;
		for (j = 0; j < CTL_NOUTCOMES; j++)
			st->total.by[j] += k->c.by[j];
		if (st->nworkers == CTL_WORKERS_MAX)
			continue;
		w = &st->w[st->nworkers++];
		w->pid = (uint32_t)k->pid;
		w->gen = k->gen;
		w->index = (uint32_t)k->worker;
		w->retiring = k->gen != m->gen;
		w->c = k->c;
	}
}

static int reload_now(struct master *m, char *why, size_t whylen);

static int
ctl_reload(void *arg, char *why, size_t whylen)
{
	return reload_now(arg, why, whylen) == 0;
}

static int
reload_now(struct master *m, char *why, size_t whylen)
{
	if (m->stopping) {
		snprintf(why, whylen, "smimegwd is stopping");
		return -1;
	}
	if (reload(m, why, whylen) != 0)
		return -1;
	retire_old(m, m->gen, SIGUSR1);
	m->gen_failed = generation_start(m) != 0;
	return 0;
}

/* A control socket in a folder the workers' user owns (data_dir, by
 * default) is theirs to replace: said once, at start. */
static void
ctl_dir_check(const struct master *m)
{
	char dir[PATH_MAX], *slash;
	struct stat st;

	if (!m->wuser.set || m->wuser.uid == 0)
		return;
	snprintf(dir, sizeof(dir), "%s", m->ctl_path);
	if ((slash = strrchr(dir, '/')) == NULL)
		return;
	*slash = '\0';
	if (stat(*dir ? dir : "/", &st) == 0 && st.st_uid == m->wuser.uid)
		log_warn("control_socket %s: its folder is user %s's, who "
			 "could replace it: set control_socket to a folder "
			 "of root's, e.g. /run/smimegw/smimegwd.sock",
			 m->ctl_path, m->wuser.name);
}

/* Once before the first generation: the users and the control socket,
 * the checks that make a start fail. */
static int
prepare(struct master *m)
{
	const struct gw_config *cfg = m->cfg;
	int rc;

	if ((rc = check(cfg)) != 0 ||
	    (rc = users(cfg, &m->wuser, &m->kuser)) != 0)
		return rc;
	if (geteuid() == 0 && (!m->wuser.set || !m->kuser.set))
		log_warn("started as root without %s: %s run as root; see "
			 "smimegwd(8)",
			 !m->wuser.set ? "user" : "keyd_user",
			 !m->wuser.set ? "the workers" : "smimegw-keyd");
	else if (geteuid() != 0 && (*cfg->user || *cfg->keyd_user))
		log_info("not started as root: user and keyd_user are not "
			 "applied; the children run as this process");
	if ((m->ctl_path = strdup(cfg->control_socket)) == NULL)
		return GW_ERR_NOMEM;
	ctl_dir_check(m);
	if ((rc = control_listen(m->ctl_path, &m->ctl)) != 0)
		return rc;
	if ((rc = bind_all(m)) != 0) {
		control_close(m->ctl, m->ctl_path);
		m->ctl = -1;
		return rc;
	}
	return 0;
}

static void
start_stopping(struct master *m, int sig, time_t now, time_t *deadline)
{
	int i;

	if (m->stopping)
		return;
	log_notice("%s: draining and stopping", strsignal(sig));
	notify("STOPPING=1\nSTATUS=draining");
	m->stopping = 1;
	*deadline = now + (time_t)m->cfg->smtp_timeout + 10;
	for (i = 0; i < 2; i++)
		if (m->lfd[i] >= 0)
			close(m->lfd[i]);
	m->lfd[0] = m->lfd[1] = -1;
	retire_old(m, m->gen, SIGTERM);
}

/* Waits up to a second for a signal, a control client or a child's
 * report; handles the last two.  Returns the signal, or 0. */
static int
wait_event(struct master *m, int sfd, const struct control_ops *ops)
{
	struct pollfd pfd[MAX_CHILDREN + 2];
	struct signalfd_siginfo si;
	int idx[MAX_CHILDREN], n = 0, i, nk = 0;

	pfd[n].fd = sfd;
	pfd[n++].events = POLLIN;
	pfd[n].fd = m->ctl;
	pfd[n++].events = POLLIN;
	for (i = 0; i < m->nkids; i++) {
		if (m->kids[i].sfd < 0)
			continue;
		idx[nk++] = i;
		pfd[n].fd = m->kids[i].sfd;
		pfd[n++].events = POLLIN;
	}
	if (poll(pfd, (nfds_t)n, 1000) <= 0)
		return 0;
	for (i = 0; i < nk; i++)
		if (pfd[2 + i].revents & (POLLIN | POLLHUP | POLLERR))
			kid_report(m, &m->kids[idx[i]]);
	if (pfd[1].revents & POLLIN)
		control_accept(m->ctl, ops);
	if ((pfd[0].revents & POLLIN) &&
	    read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		return (int)si.ssi_signo;
	return 0;
}

int
master_run(const struct master_opts *o, struct gw_config *cfg)
{
	struct master m;
	struct control_ops ops;
	char why[CTL_TEXT_MAX];
	sigset_t set;
	time_t restart_at = 0, deadline = 0, now;
	int rc, sig, i, sfd;

	memset(&m, 0, sizeof(m));
	m.o = o;
	m.cfg = cfg;
	m.lfd[0] = m.lfd[1] = -1;
	m.ctl = -1;
	m.backoff = 1;
	m.started = time(NULL);
	snprintf(m.token, sizeof(m.token), "opening");
	if ((rc = prepare(&m)) != 0) {
		free(m.ctl_path);
		gw_config_free(cfg);
		return rc;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		rc = gw_err_set(GW_ERR_IO, "signalfd: %s", strerror(errno));
		control_close(m.ctl, m.ctl_path);
		free(m.ctl_path);
		gw_config_free(cfg);
		return rc;
	}
	ops.status = ctl_status;
	ops.reload = ctl_reload;
	ops.arg = &m;
	log_notice("listening:%s%s%s%s; %llu workers; control %s",
		   *cfg->listener_outgoing ? " outgoing " : "",
		   cfg->listener_outgoing,
		   *cfg->listener_incoming ? " incoming " : "",
		   cfg->listener_incoming, (unsigned long long)cfg->workers,
		   m.ctl_path);
	m.gen_failed = generation_start(&m) != 0;
	notify("READY=1\nMAINPID=%ld", (long)getpid());
	for (;;) {
		sig = wait_event(&m, sfd, &ops);
		now = time(NULL);
		if (sig == SIGTERM || sig == SIGINT)
			start_stopping(&m, sig, now, &deadline);
		else if (sig == SIGHUP)
			reload_now(&m, why, sizeof(why));
		if ((reap(&m, m.stopping) || m.gen_failed) && restart_at == 0 &&
		    !m.stopping) {
			m.gen_failed = 0;
			if (now - m.gen_start >= STABLE_SECS)
				m.backoff = 1;
			restart_at = now + m.backoff;
			log_warn("restarting keyd and the workers in %d s",
				 m.backoff);
			m.backoff = m.backoff * 2 > BACKOFF_MAX
					? BACKOFF_MAX
					: m.backoff * 2;
			retire_old(&m, m.gen, SIGUSR1);
		}
		if (!m.stopping && restart_at != 0 && now >= restart_at) {
			restart_at = 0;
			m.gen_failed = generation_start(&m) != 0;
		}
		if (m.stopping && m.nkids == 0)
			break;
		if (m.stopping && now >= deadline) {
			for (i = 0; i < m.nkids; i++) {
				log_warn("pid %ld did not stop: killed",
					 (long)m.kids[i].pid);
				kill(m.kids[i].pid, SIGKILL);
			}
			deadline = now + 5;
		}
	}
	log_notice("stopped");
	close(sfd);
	control_close(m.ctl, m.ctl_path);
	free(m.ctl_path);
	gw_config_free(m.cfg);
	return 0;
}
