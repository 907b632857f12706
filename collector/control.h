/* The control socket between a collector and heaptrace-dump: where it
 * lives (a directory only its user can enter), who may connect (the same
 * uid, or root), and the request/reply protocol:
 *   request:  one line, "snapshot\n" or "info\n"
 *   reply:    "ok LEN SEQ\n" then LEN bytes (a .heap image for snapshot,
 *             text for info), or "error MESSAGE\n". */
#ifndef HT_CONTROL_H
#define HT_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The socket directory of uid: /tmp/heaptrace-UID. */
int ht_control_dir(uid_t uid, char *out, size_t cap);

/* Makes sure our socket directory exists, is ours, is a real directory and
 * is mode 0700; then binds and listens on DIR/PID.sock (replacing a stale
 * socket). Returns the listening fd and the path in path, or -1 with err. */
int ht_control_listen(pid_t pid, char *path, size_t cap, char *err, size_t errlen);

/* 0 if the peer on fd runs as our uid or as root, else -1. */
int ht_control_peer_ok(int fd);

/* Asks the collector of pid: sends cmd ("snapshot" or "info"), returns the
 * reply body in a malloc'd *body of *len bytes and its sequence number.
 * Returns 0, or -1 with a one-line err ("process 123 is not traced by
 * heaptrace", "no such process 123", the collector's own error). */
int ht_control_request(pid_t pid, const char *cmd, void **body, size_t *len,
		       uint32_t *seq, char *err, size_t errlen);

/* Reads/writes exactly n bytes, retrying on EINTR and short transfers.
 * Return 0, or -1 with errno set (EPIPE-like 0-length read: errno 0). */
int ht_read_full(int fd, void *buf, size_t n);
int ht_write_full(int fd, const void *buf, size_t n);

#endif
