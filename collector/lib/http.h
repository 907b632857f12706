/* A small HTTP/1.1 server side, enough for pprof's and Prometheus's
 * clients: the listening socket, one GET request read with a deadline and
 * a size cap, its query parameters, and one whole response. Each
 * connection carries one request (Connection: close). */
#ifndef HT_HTTP_H
#define HT_HTTP_H

#include <stddef.h>

/* The largest request head read; a longer one is answered 431. */
#define HT_HTTP_HEAD_MAX 8192

struct ht_http_req {
	char method[8];  /* GET or HEAD; others are refused with 405 */
	char path[256];  /* percent-decoded, without the query */
	char query[1024]; /* raw, without the '?' */
};

/* Opens a listening TCP socket for spec: "PORT", ":PORT" or "HOST:PORT"
 * (HOST an IPv4 or IPv6 address, the latter in brackets); without HOST,
 * 127.0.0.1. PORT 0 takes a free port (see ht_http_port). Returns the
 * socket (non-blocking, close-on-exec), or -1 with err filled in. */
int ht_http_listen(const char *spec, char *err, size_t errlen);

/* The port a listening socket is bound to, or -1. */
int ht_http_port(int fd);

/* Whether spec names a loopback address (the default one included). */
int ht_http_is_loopback(const char *spec);

/* Reads one request head from the connected socket fd, waiting at most
 * timeout_ms in all. Returns 0 with *rq filled, or the HTTP status to
 * answer with: 400 (malformed), 405 (not GET/HEAD), 408 (too slow, or
 * closed early), 414 (path or query too long), 431 (head too long),
 * 505 (not HTTP/1.x). */
int ht_http_read(int fd, struct ht_http_req *rq, int timeout_ms);

/* The percent-decoded value of query parameter name in rq (the first
 * one), copied into buf (cap bytes, terminated); NULL if it is absent or
 * does not fit. A parameter without '=' has the value "". */
const char *ht_http_param(const struct ht_http_req *rq, const char *name, char *buf,
			  size_t cap);

/* The reason phrase of status ("Not Found"). */
const char *ht_http_reason(int status);

/* Writes a whole response: status line, Content-Type ctype, Content-Length,
 * Connection: close, the extra header lines in headers (each ending in
 * "\r\n", or NULL), and len bytes of body unless head_only. Gives up after
 * timeout_ms in all (a client that does not read). Returns 0, or -1. */
int ht_http_respond(int fd, int status, const char *ctype, const char *headers,
		    const void *body, size_t len, int head_only, int timeout_ms);

#endif
