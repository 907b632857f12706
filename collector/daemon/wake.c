/* Sleeping between drains: the collector sleeps in poll() up to
 * SLEEP_MS (less when an interval snapshot falls due sooner); a writer
 * that finds the ring a quarter full (or writes the EXIT event, or takes
 * a snapshot signal) wakes the futex on shm->kick, and a thread of ours
 * turns that into a byte on a pipe the poll() watches. Each wake-up takes
 * a processor from the program on a small machine, hence the long sleep. */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/collector.h"
#include "lib/util.h"

#define SLEEP_MS 100

struct waker {
	uint32_t *kick;  /* the shim's count of kicks */
	uint32_t seen;   /* its value when the thread was started */
	int fd;          /* the write end of the wake pipe */
};

static void *waker_main(void *arg)
{
	struct waker w = *(struct waker *)arg;

	free(arg);
	for (;;) {
		uint32_t k;

		syscall(SYS_futex, w.kick, FUTEX_WAIT, w.seen, NULL, NULL, 0);
		k = __atomic_load_n(w.kick, __ATOMIC_ACQUIRE);
		if (k != w.seen) {
			char b = 0;

			w.seen = k;
			if (write(w.fd, &b, 1) < 0 && errno != EAGAIN)
				break;
		}
	}
	return NULL;
}

/* The count of kicks is read here, not by the thread: one that came after
 * the thread started but before it read the count would be taken for the
 * starting value, and the program's exit would wait out a whole sleep. */
void ht_collector_start_waker(struct collector *c)
{
	struct waker *w = malloc(sizeof(*w));
	pthread_t t;
	pthread_attr_t at;

	if (!w || pipe2(c->wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		free(w);
		c->wake_pipe[0] = c->wake_pipe[1] = -1;
		return;
	}
	*w = (struct waker){ &c->shm->kick,
			     __atomic_load_n(&c->shm->kick, __ATOMIC_ACQUIRE), c->wake_pipe[1] };
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 64 << 10);
	if (pthread_create(&t, &at, waker_main, w) != 0) {
		free(w);
		close(c->wake_pipe[0]);
		close(c->wake_pipe[1]);
		c->wake_pipe[0] = c->wake_pipe[1] = -1;
	}
	pthread_attr_destroy(&at);
}

/* Sleep between drains, unless the ring already holds a lot; a writer
 * that finds it a quarter full wakes us early. */
int ht_collector_sleep_ms(struct collector *c)
{
	size_t quarter = c->fixed.ring_size / 4;
	int64_t due;

	if (ht_collector_ring_used(c) > quarter)
		return 0;
	__atomic_store_n(&c->shm->sleeping, 1, __ATOMIC_SEQ_CST);
	if (ht_collector_ring_used(c) > quarter ||
	    __atomic_load_n(&c->shm->exiting, __ATOMIC_SEQ_CST))
		return 0;
	due = c->interval > 0 ? (c->next_interval - ht_now_ns()) / 1000000 + 1 : SLEEP_MS;
	return due < 0 ? 0 : due < SLEEP_MS ? (int)due : SLEEP_MS;
}

void ht_collector_woken(struct collector *c, int pipe_ready)
{
	__atomic_store_n(&c->shm->sleeping, 0, __ATOMIC_RELAXED);
	if (pipe_ready) {
		char buf[64];

		while (read(c->wake_pipe[0], buf, sizeof(buf)) > 0)
			;
	}
}
