/* master.c - the smimegwd master (master.h). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gw_err.h"
#include "log.h"
#include "master.h"

#define MAX_WORKERS 64
#define MAX_CHILDREN 512
#define BACKOFF_MAX 60
#define STABLE_SECS 60

struct child {
	pid_t pid;
	unsigned gen;
	int worker;	/* -1: keyd */
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

/* The child's side of exec: default signals, no blocked ones, and
 * SIGTERM when the master goes away (even by SIGKILL), so that no
 * worker or keyd outlives it. */
static void
child_exec(const char *prog, char **argv, pid_t master)
{
	sigset_t none;
	struct sigaction sa;
	int sig;

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

static void
kid_add(struct master *m, pid_t pid, int worker)
{
	if (m->nkids == MAX_CHILDREN)
		return;
	m->kids[m->nkids].pid = pid;
	m->kids[m->nkids].gen = m->gen;
	m->kids[m->nkids++].worker = worker;
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
	char num[MAX_WORKERS][16], wnum[16], lnum[2][24];
	char *argv[MAX_WORKERS * 2 + 16];
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
	/* keyd: one --fd per worker. */
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
		argv[n] = NULL;
		child_exec(m->o->keyd, argv, master);
	}
	if (pid < 0) {
		log_err("fork (keyd): %s", strerror(errno));
		failed = 1;
	} else
		kid_add(m, pid, -1);
	for (i = 0; i < nw; i++) {
		close(sv[i][0]);
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
			argv[n] = NULL;
			child_exec(m->o->self, argv, master);
		}
		if (pid < 0) {
			log_err("fork (worker %d): %s", i, strerror(errno));
			failed = 1;
		} else
			kid_add(m, pid, i);
		close(sv[i][1]);
	}
	if (failed)
		return GW_ERR_IO;
	log_notice("generation %u: keyd and %d worker%s started", m->gen, nw,
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
	if (*cfg->listener_outgoing && !*cfg->listener_outgoing_next_hop)
		return gw_err_set_at(GW_ERR_CONFIG,
				     "listener_outgoing_next_hop",
				     "%s: listener_outgoing needs "
				     "listener_outgoing_next_hop", cfg->path);
	if (*cfg->listener_incoming && !*cfg->listener_incoming_next_hop)
		return gw_err_set_at(GW_ERR_CONFIG,
				     "listener_incoming_next_hop",
				     "%s: listener_incoming needs "
				     "listener_incoming_next_hop", cfg->path);
	if (*cfg->internal_domains == '\0' &&
	    (strcmp(cfg->listener_outgoing_direction, "auto") == 0 ||
	     strcmp(cfg->listener_incoming_direction, "auto") == 0))
		return gw_err_set_at(GW_ERR_CONFIG, "internal_domains",
				     "%s: a listener with direction auto "
				     "needs internal_domains", cfg->path);
	return 0;
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

/* Reads the configuration again: 0, or -1 (logged) when the running
 * one stays. */
static int
reload(struct master *m)
{
	struct gw_config *ncfg = NULL;
	int rc;

	if ((rc = gw_config_load(m->cfg->path, &ncfg)) != 0) {
		log_err("reload: %s: %s; keeping the running configuration",
			gw_strerror(rc), gw_err_detail());
		return -1;
	}
	if (strcmp(ncfg->listener_outgoing, m->cfg->listener_outgoing) != 0 ||
	    strcmp(ncfg->listener_incoming, m->cfg->listener_incoming) != 0) {
		log_err("reload: the listener addresses changed: restart "
			"smimegwd for that; keeping the running configuration");
		gw_config_free(ncfg);
		return -1;
	}
	if ((rc = check(ncfg)) != 0) {
		log_err("reload: %s; keeping the running configuration",
			gw_err_detail());
		gw_config_free(ncfg);
		return -1;
	}
	gw_config_free(m->cfg);
	m->cfg = ncfg;
	log_notice("reload: %s read; starting a new generation",
		   ncfg->path);
	return 0;
}

int
master_run(const struct master_opts *o, struct gw_config *cfg)
{
	struct master m;
	struct timespec tick = {1, 0};
	siginfo_t si;
	sigset_t set;
	time_t restart_at = 0, deadline = 0, now;
	int rc, sig, stopping = 0, i, gen_failed;

	memset(&m, 0, sizeof(m));
	m.o = o;
	m.cfg = cfg;
	m.lfd[0] = m.lfd[1] = -1;
	m.backoff = 1;
	if ((rc = check(cfg)) != 0 || (rc = bind_all(&m)) != 0) {
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
	log_notice("listening:%s%s%s%s; %llu workers",
		   *cfg->listener_outgoing ? " outgoing " : "",
		   cfg->listener_outgoing,
		   *cfg->listener_incoming ? " incoming " : "",
		   cfg->listener_incoming, (unsigned long long)cfg->workers);
	gen_failed = generation_start(&m) != 0;
	for (;;) {
		sig = sigtimedwait(&set, &si, &tick);
		now = time(NULL);
		if (sig == SIGTERM || sig == SIGINT) {
			if (!stopping) {
				log_notice("%s: draining and stopping",
					   strsignal(sig));
				stopping = 1;
				deadline = now +
					   (time_t)m.cfg->smtp_timeout + 10;
				for (i = 0; i < 2; i++)
					if (m.lfd[i] >= 0)
						close(m.lfd[i]);
				m.lfd[0] = m.lfd[1] = -1;
				retire_old(&m, m.gen, SIGTERM);
			}
		} else if (sig == SIGHUP && !stopping) {
			if (reload(&m) == 0) {
				retire_old(&m, m.gen, SIGUSR1);
				gen_failed = generation_start(&m) != 0;
			}
		}
		if ((reap(&m, stopping) || gen_failed) && restart_at == 0) {
			gen_failed = 0;
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
		if (!stopping && restart_at != 0 && now >= restart_at) {
			restart_at = 0;
			gen_failed = generation_start(&m) != 0;
		}
		if (stopping && m.nkids == 0)
			break;
		if (stopping && now >= deadline) {
			for (i = 0; i < m.nkids; i++) {
				log_warn("pid %ld did not stop: killed",
					 (long)m.kids[i].pid);
				kill(m.kids[i].pid, SIGKILL);
			}
			deadline = now + 5;
		}
	}
	log_notice("stopped");
	gw_config_free(m.cfg);
	return 0;
}
