/* The control socket between a collector and heaptrace-dump: where it
 * lives (a directory only its user can enter), who may connect (root, or
 * the user the traced process runs as), how heaptrace-dump finds and
 * trusts the collector, and the request/reply protocol:
 *   request:  one line, "snapshot\n", "view\n" (a snapshot numbered 0,
 *             which takes no number of the user's dumps), "trim\n" or "info\n"
 *   reply:    "ok LEN SEQ\n" then LEN bytes (a .heap image for snapshot,
 *             and for trim the one taken right after the trim; text for
 *             info), or "error MESSAGE\n".
 * Every read and write of either side has a total deadline. */
#ifndef HT_CONTROL_H
#define HT_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The largest reply heaptrace-dump accepts: a snapshot image (zstd) of
 * some millions of stacks. Bigger claims are refused before anything is
 * allocated, and the buffer grows only as bytes arrive. */
#define HT_CONTROL_MAX_REPLY ((size_t)256 << 20)
#define HT_CONTROL_MAX_INFO  ((size_t)64 << 10)

/* Total time for one exchange, from connecting to the last byte: a
 * snapshot (the collector builds it first), and one row of --list. */
#define HT_CONTROL_TIMEOUT_MS      10000
#define HT_CONTROL_LIST_TIMEOUT_MS 2000

/* The socket directory of the collectors of uid, for the process calling
 * it: $XDG_RUNTIME_DIR/heaptrace when XDG_RUNTIME_DIR is an absolute path
 * to a directory owned by uid that no one else may write, else
 * /tmp/heaptrace-UID. Returns 0, or -1 if it does not fit in cap. */
int ht_control_dir(uid_t uid, char *out, size_t cap);

/* Collector side. Creates (or checks) our socket directory -- a real
 * directory, not a symlink, owned by our euid, mode 0700 -- removes the
 * sockets in it whose collectors are dead, and listens on
 * DIR/PID-CPID.sock (CPID: our own pid, so two collectors of one pid --
 * a forked child's and its exec'd image's -- never share a name).
 * Returns the listening fd (non-blocking, close-on-exec) and the path in
 * path, or -1 with a one-line err. */
int ht_control_listen(pid_t pid, char *path, size_t cap, char *err, size_t errlen);

/* Collector side: may the client on fd ask about process pid? Root may;
 * another uid only if the process runs as that uid (real, effective,
 * saved and filesystem uids) and is dumpable, the rule ptrace(2) applies
 * to reading a process; once the process is gone, our own euid. Returns
 * 0, or -1 with the reason in why. */
int ht_control_client_ok(int fd, pid_t pid, char *why, size_t whylen);

/* Client side: asks the collector of pid, sends cmd ("snapshot" or
 * "info"), and returns the reply body in a malloc'd *body of *len bytes
 * and its sequence number. The collector is found from the Unix sockets
 * listening in pid's network namespace (so wherever it listens, also
 * under another uid's directory when the process changed its user), and
 * trusted only if its directory is a real directory of mode 0700 owned by
 * the collector's uid, that uid (SO_PEERCRED) is root or the process's,
 * and the collector maps the process's shared memory (the same memfd in
 * /proc/CPID/maps and /proc/PID/maps) -- checked before anything is read.
 * Waits up to 2 s for a collector that is starting when pid has the shim
 * loaded; the exchange has timeout_ms in all. Returns 0, or -1 with a
 * one-line err ("no such process 123", "process 123 is not traced by
 * heaptrace", a refusal, the collector's own error). */
int ht_control_request(pid_t pid, const char *cmd, int timeout_ms, void **body, size_t *len,
		       uint32_t *seq, char *err, size_t errlen);

/* One listening collector socket found by ht_control_each. */
struct ht_control_sock {
	pid_t pid;        /* the traced process it names */
	char path[108];   /* as bound */
};

/* Calls fn for each collector socket listening in our network namespace
 * (a "PID-CPID.sock" in a "heaptrace" or "heaptrace-UID" directory),
 * each path once. Returns 0, or -1 if /proc/self/net/unix is unreadable. */
int ht_control_each(void (*fn)(const struct ht_control_sock *s, void *arg), void *arg);

/* Like ht_control_request, for the one socket s, without waiting for a
 * collector to start. Returns 0; 1 when the socket is none of our
 * business (another user's process or collector that we may not reach:
 * nothing to say); or -1 with err (refused, slow, gone, bad reply). */
int ht_control_request_at(const struct ht_control_sock *s, const char *cmd, int timeout_ms,
			  void **body, size_t *len, uint32_t *seq, char *err, size_t errlen);

/* The "info" reply: what a collector says of the process it traces, as
 * "KEY VALUE" lines ("pid", "exe", "start", "inuse"). The executable's
 * name may hold newlines: a line with no key of ours continues it. */
#define HT_CONTROL_INFO_EXE 4096
struct ht_control_info {
	long long pid;
	char exe[HT_CONTROL_INFO_EXE]; /* "?" when the reply names none */
	long long start_ns;            /* the process's start, wall clock; 0 unknown */
	double inuse;                  /* estimated bytes in use */
};

/* Collector side: writes the reply body for info into buf (cap > 0 bytes,
 * NUL-terminated, cut to fit). Returns its length, without the NUL. */
size_t ht_control_info_format(char *buf, size_t cap, const struct ht_control_info *info);

/* Client side: reads a reply body of len bytes (not NUL-terminated) into
 * info; keys it lacks leave pid, start_ns and inuse 0 and exe "?", and
 * lines it does not know are ignored. Returns 0, or -1 on out-of-memory. */
int ht_control_info_parse(const void *body, size_t len, struct ht_control_info *info);

/* Reads/writes exactly n bytes of a non-blocking fd by deadline_ns
 * (ht_now_ns clock), retrying on EINTR and short transfers. Return 0, or
 * -1 with errno set: ETIMEDOUT past the deadline, 0 at end of file. */
int ht_io_read(int fd, void *buf, size_t n, int64_t deadline_ns);
int ht_io_write(int fd, const void *buf, size_t n, int64_t deadline_ns);

#endif
