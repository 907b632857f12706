/* A small HTTP/1.1 server side (see http.h): listening, one request head
 * read under a deadline and a size cap, query parameters, one response. */
#include "lib/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/util.h"

/* Splits spec into host (without brackets) and port. Returns 0 or -1. */
static int split_spec(const char *spec, char *host, size_t hostcap, unsigned *port)
{
	const char *colon = strrchr(spec, ':'), *p;
	uint64_t v;
	size_t n;

	if (!colon) {
		p = spec;
		snprintf(host, hostcap, "127.0.0.1");
	} else {
		p = colon + 1;
		n = (size_t)(colon - spec);
		if (n >= 2 && spec[0] == '[' && spec[n - 1] == ']') {
			spec++;
			n -= 2;
		} else if (memchr(spec, ':', n)) {
			return -1; /* an IPv6 address needs its brackets */
		}
		if (n >= hostcap)
			return -1;
		if (n == 0)
			snprintf(host, hostcap, "127.0.0.1");
		else {
			memcpy(host, spec, n);
			host[n] = 0;
		}
	}
	if (ht_parse_u64(p, &v) != 0 || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

int ht_http_is_loopback(const char *spec)
{
	char host[64];
	unsigned port;
	struct in_addr a4;

	if (split_spec(spec, host, sizeof(host), &port) != 0)
		return 0;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return strcmp(host, "::1") == 0;
}

int ht_http_listen(const char *spec, char *err, size_t errlen)
{
	char host[64];
	unsigned port;
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (split_spec(spec, host, sizeof(host), &port) != 0)
		return ht_fail(err, errlen, "bad address '%s': want PORT, :PORT or HOST:PORT", spec);
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		len = sizeof(*s6);
	} else {
		return ht_fail(err, errlen, "bad address '%s': the host must be an IP address",
			       spec);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ht_fail(err, errlen, "cannot open a socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 16) != 0) {
		int e = errno;

		close(fd);
		return ht_fail(err, errlen, "cannot listen on '%s': %s", spec, strerror(e));
	}
	return fd;
}

int ht_http_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0, n) into out (cap bytes, terminated); '+' is a
 * space where plus is set (a query). Returns 0, or -1 if it does not fit
 * or decodes to a NUL or a bad escape. */
static int decode(const char *s, size_t n, char *out, size_t cap, int plus)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int h, l;

			if (i + 2 >= n || (h = hexval(s[i + 1])) < 0 || (l = hexval(s[i + 2])) < 0)
				return -1;
			c = h << 4 | l;
			i += 2;
		} else if (c == '+' && plus) {
			c = ' ';
		}
		if (c == 0 || o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = 0;
	return 0;
}

/* Reads until the head's blank line. Returns its length (the head with
 * the blank line), or minus an HTTP status. */
static int read_head(int fd, char *buf, size_t cap, int timeout_ms)
{
	int64_t end = ht_now_ns() + (int64_t)timeout_ms * 1000000;
	size_t have = 0;

	for (;;) {
		struct pollfd pf = { fd, POLLIN, 0 };
		int64_t left = (end - ht_now_ns()) / 1000000;
		char *e;
		ssize_t n;

		if (left <= 0)
			return -408;
		if (poll(&pf, 1, (int)left) <= 0) {
			if (errno == EINTR)
				continue;
			return -408;
		}
		n = recv(fd, buf + have, cap - 1 - have, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return -408;
		have += (size_t)n;
		buf[have] = 0;
		if (memchr(buf, 0, have))
			return -400;
		e = strstr(buf, "\r\n\r\n");
		if (e)
			return (int)(e + 4 - buf);
		e = strstr(buf, "\n\n"); /* a lenient client's bare newlines */
		if (e)
			return (int)(e + 2 - buf);
		if (have == cap - 1)
			return -431;
	}
}

int ht_http_read(int fd, struct ht_http_req *rq, int timeout_ms)
{
	char buf[HT_HTTP_HEAD_MAX + 1], *sp1, *sp2, *eol, *q, *target;
	int n = read_head(fd, buf, sizeof(buf), timeout_ms);
	size_t mlen, tlen;

	memset(rq, 0, sizeof(*rq));
	if (n < 0)
		return -n;
	eol = strpbrk(buf, "\r\n");
	*eol = 0;
	sp1 = strchr(buf, ' ');
	if (!sp1)
		return 400;
	sp2 = strchr(sp1 + 1, ' ');
	if (!sp2 || strchr(sp2 + 1, ' '))
		return 400;
	mlen = (size_t)(sp1 - buf);
	if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || !sp2[8] || sp2[9])
		return strncmp(sp2 + 1, "HTTP/", 5) == 0 ? 505 : 400;
	if (mlen >= sizeof(rq->method))
		return 405;
	memcpy(rq->method, buf, mlen);
	if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0)
		return 405;
	target = sp1 + 1;
	*sp2 = 0;
	if (target[0] != '/')
		return 400;
	q = strchr(target, '?');
	tlen = q ? (size_t)(q - target) : strlen(target);
	if (q) {
		if (strlen(q + 1) >= sizeof(rq->query))
			return 414;
		strcpy(rq->query, q + 1);
	}
	if (tlen >= sizeof(rq->path))
		return 414;
	if (decode(target, tlen, rq->path, sizeof(rq->path), 0) != 0)
		return 400;
	return 0;
}

const char *ht_http_param(const struct ht_http_req *rq, const char *name, char *buf,
			  size_t cap)
{
	const char *p = rq->query;
	size_t nlen = strlen(name);

	while (*p) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;

		if (klen == nlen && memcmp(p, name, nlen) == 0) {
			if (!eq) {
				if (cap == 0)
					return NULL;
				buf[0] = 0;
				return buf;
			}
			return decode(eq + 1, len - klen - 1, buf, cap, 1) == 0 ? buf : NULL;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return NULL;
}

const char *ht_http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/* Sends all of buf before the deadline end. Returns 0 or -1. */
static int send_all(int fd, const char *buf, size_t len, int64_t end)
{
	while (len) {
		struct pollfd pf = { fd, POLLOUT, 0 };
		int64_t left = (end - ht_now_ns()) / 1000000;
		ssize_t n;

		if (left <= 0)
			return -1;
		if (poll(&pf, 1, (int)left) <= 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int ht_http_respond(int fd, int status, const char *ctype, const char *headers,
		    const void *body, size_t len, int head_only, int timeout_ms)
{
	int64_t end = ht_now_ns() + (int64_t)timeout_ms * 1000000;
	char head[1024];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n%s\r\n",
		     status, ht_http_reason(status), ctype, len, headers ? headers : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	if (send_all(fd, head, (size_t)n, end) != 0)
		return -1;
	if (!head_only && len && send_all(fd, body, len, end) != 0)
		return -1;
	shutdown(fd, SHUT_WR);
	return 0;
}
