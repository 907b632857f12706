/* heaptrace-collector: started by the shim of one traced process, with the
 * shared memory on fd 3, the read end of the process's liveness pipe on
 * fd 4, and the process's id and output path on its command line. It
 * drains the ring into the profile, answers heaptrace-dump on the control
 * socket, and writes the final snapshot when the process ends. The steps
 * are in collector/daemon/ (collector.h); this file runs them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/collector.h"
#include "lib/control.h"
#include "lib/util.h"
#include "lib/version.h"

static struct collector collector = {
	.alive_fd = -1,
	.pid_fd = -1,
	.sym_lock = PTHREAD_MUTEX_INITIALIZER,
	.warm_mu = PTHREAD_MUTEX_INITIALIZER,
	.warm_cv = PTHREAD_COND_INITIALIZER,
	.lfd = -1,
	.http_fd = -1,
	.wake_pipe = { -1, -1 },
};

/* Takes over what the shim handed us: the shared memory (then closed),
 * the liveness pipe, the process and the path as the shim gave them when
 * it started us (whatever the shared header says by now); and makes the
 * profile and the symbolizer. Returns 0, or -1 with a message. */
static int attach(struct collector *c, const struct ht_collector_args *a)
{
	ht_collector_close_others(a->shm_fd, a->alive_fd);
	if (ht_collector_map_shm(c, a->shm_fd) != 0)
		return -1;
	c->fixed.pid = a->pid;
	snprintf(c->fixed.output, sizeof(c->fixed.output), "%s", a->output);
	c->said_unwritable = a->dir_said;
	ht_collector_creds_at_start(c);
	close(a->shm_fd);
	c->alive_fd = a->alive_fd;
	fcntl(c->alive_fd, F_SETFD, FD_CLOEXEC);
	c->prof = ht_profile_new(c->fixed.rate);
	c->sym = ht_symbolizer_new();
	if (!c->prof || !c->sym)
		ht_die(1, "out of memory");
	ht_symbolizer_set_dwarf_max(c->sym, ht_collector_dwarf_max_bytes());
	if (c->fixed.forked)
		ht_profile_set_inherited(c->prof);
	return 0;
}

/* Listens first: the program runs on while the collector starts, and
 * heaptrace-dump waits for this socket when the process it is asked for
 * has the shim loaded. */
static void listen_control(struct collector *c)
{
	char err[512];
	struct stat st;

	c->lfd = ht_control_listen((pid_t)c->fixed.pid, c->sock, sizeof(c->sock), err, sizeof(err));
	if (c->lfd < 0)
		ht_error("%s; heaptrace-dump will not reach process %lld", err,
			 (long long)c->fixed.pid);
	else if (stat(c->sock, &st) == 0)
		c->sock_ino = st.st_ino;
}

/* Says what it must while it still shares the program's terminal, leaves
 * it, and starts the threads that name frames and wake the loop. */
static void settle(struct collector *c)
{
	ht_collector_check_output_dir(c);
	if (c->untraced[0])
		ht_collector_tell_launcher(c, 'U', c->untraced);
	ht_collector_detach();
	ht_collector_clean_output_dir(c);
	ht_collector_read_env(c);
	ht_collector_push_setup(c);
	ht_collector_http_start(c);
	c->next_interval = ht_now_ns() + (int64_t)(c->interval * 1e9);
	ht_collector_start_naming(c);
	/* the process's end: its pidfd where the kernel has them, else polling */
	c->pid_fd = (int)syscall(SYS_pidfd_open, (pid_t)c->fixed.pid, 0);
	ht_collector_start_waker(c);
	__atomic_store_n(&c->shm->collector_ready, 1, __ATOMIC_RELEASE);
}

/* The program said it exits: its EXIT event; or the shim says so but the
 * event did not fit in the ring, and everything before it is read. */
static int exit_said(struct collector *c, size_t got)
{
	if (!c->exit_seen && !got && __atomic_load_n(&c->shm->exiting, __ATOMIC_ACQUIRE) &&
	    ht_ring_reader_pending(&c->rd) == 0)
		c->exit_seen = 1;
	return c->exit_seen;
}

/* Once a second, so that a process that is killed still has a figure. */
static void refresh_status(struct collector *c, int64_t now)
{
	if (now >= c->next_rss) {
		ht_collector_read_status(c);
		c->next_rss = now + 1000000000;
	}
}

static void accept_request(struct collector *c)
{
	int fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd >= 0) {
		ht_collector_serve(c, fd);
		close(fd);
	}
}

/* Does the traced process still map our shared memory? After an exec it
 * does not; a program that merely closed its file descriptors does. */
static int still_mapped(struct collector *c)
{
	char path[64], line[512];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%lld/maps", (long long)c->fixed.pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long long ino;

		if (sscanf(line, "%*s %*s %*s %*s %llu", &ino) == 1 &&
		    ino == (unsigned long long)c->shm_ino && strstr(line, "heaptrace"))
			found = 1;
	}
	fclose(f);
	return found;
}

static int process_alive(struct collector *c)
{
	return kill((pid_t)c->fixed.pid, 0) == 0 || errno != ESRCH;
}

/* Has the traced process ended (or exec'd)? pf is the loop's poll. */
static int process_ended(struct collector *c, const struct pollfd *pf)
{
	if (pf[1].revents) {
		/* the pipe closed: the process ended or exec'd -- or it
		 * closed its descriptors, and then we go on */
		close(c->alive_fd);
		c->alive_fd = -1;
		return !(process_alive(c) && still_mapped(c));
	}
	return pf[2].revents || (c->pid_fd < 0 && c->idle % 10 == 9 && !process_alive(c));
}

/* Drains, writes what falls due, names frames ahead, sleeps, answers a
 * request, until the process exits or ends; then writes the final
 * snapshot. */
static void run(struct collector *c)
{
	for (;;) {
		struct pollfd pf[5] = { { c->lfd, POLLIN, 0 }, { c->alive_fd, POLLIN, 0 },
					{ c->pid_fd, POLLIN, 0 }, { c->wake_pipe[0], POLLIN, 0 },
					{ c->http_fd, POLLIN, 0 } };
		size_t got = ht_collector_drain(c, 0);
		int64_t now;

		if (exit_said(c, got)) {
			ht_collector_write_final(c, 0);
			return;
		}
		now = ht_now_ns();
		ht_collector_timed_snapshots(c, now);
		ht_collector_push_tick(c, now);
		refresh_status(c, now);
		c->idle = got ? 0 : c->idle + 1;
		ht_collector_name_ahead(c);
		if (poll(pf, 5, ht_collector_sleep_ms(c)) < 0 && errno != EINTR)
			return;
		ht_collector_woken(c, pf[3].revents & POLLIN);
		if (c->lfd >= 0 && (pf[0].revents & POLLIN))
			accept_request(c);
		if (c->http_fd >= 0 && (pf[4].revents & POLLIN))
			ht_collector_http_accept(c);
		if (c->http_nkids || c->http_nbusy)
			ht_collector_http_reap(c);
		if (process_ended(c, pf)) {
			/* its pid may name another process soon: its ids are
			 * the last ones read, and a record it never completed
			 * is given up */
			c->proc_gone = 1;
			ht_collector_drain(c, 0);
			/* a clean exit whose EXIT event did not fit in the
			 * ring still left its mark */
			ht_collector_write_final(c, !c->exit_seen &&
						 !__atomic_load_n(&c->shm->exiting, __ATOMIC_ACQUIRE));
			return;
		}
	}
}

static void stop(struct collector *c)
{
	struct stat st;

	if (c->lfd >= 0 && stat(c->sock, &st) == 0 && st.st_ino == c->sock_ino)
		unlink(c->sock); /* not one a later image of this pid (exec) bound */
	ht_collector_push_cleanup(c);
	pthread_mutex_lock(&c->sym_lock); /* the naming thread is done with it */
	ht_symbolizer_free(c->sym);
	ht_profile_free(c->prof);
}

int main(int argc, char **argv)
{
	struct collector *c = &collector;
	struct ht_collector_args args;

	ht_progname = "heaptrace-collector";
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("%s %s\n", ht_progname, HT_VERSION);
		return 0;
	}
	ht_collector_parse_args(argc, argv, &args);
	if (attach(c, &args) != 0)
		return 1;
	ht_progname = "heaptrace";
	listen_control(c);
	settle(c);
	run(c);
	stop(c);
	return 0;
}
