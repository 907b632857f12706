/* Unit tests of the HTTP server side (collector/lib/http.c): request heads
 * good and bad, query parameters, responses, deadlines, listening. */
#include "lib/http.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Sends head (len bytes) on one end of a socket pair, closes it if close_w,
 * and reads the request from the other end. */
static int parse_n(const char *head, size_t len, struct ht_http_req *rq, int close_w,
		   int timeout_ms)
{
	int sv[2], st;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -1;
	if (len && write(sv[0], head, len) != (ssize_t)len)
		return -1;
	if (close_w)
		shutdown(sv[0], SHUT_WR);
	st = ht_http_read(sv[1], rq, timeout_ms);
	close(sv[0]);
	close(sv[1]);
	return st;
}

static int parse(const char *head, struct ht_http_req *rq)
{
	return parse_n(head, strlen(head), rq, 0, 1000);
}

static void requests(void)
{
	struct ht_http_req rq;
	char big[HT_HTTP_HEAD_MAX + 100], buf[64];

	is_int(parse("GET /debug/pprof/heap?seconds=5&gc=1 HTTP/1.1\r\nHost: x\r\n\r\n", &rq), 0,
	       "a pprof request is read");
	is_str(rq.method, "GET", "its method");
	is_str(rq.path, "/debug/pprof/heap", "its path, without the query");
	is_str(rq.query, "seconds=5&gc=1", "its query");
	is_str(ht_http_param(&rq, "seconds", buf, sizeof(buf)), "5", "seconds=5");
	is_str(ht_http_param(&rq, "gc", buf, sizeof(buf)), "1", "gc=1");
	ok(ht_http_param(&rq, "second", buf, sizeof(buf)) == NULL, "a prefix of a name is not it");
	ok(ht_http_param(&rq, "debug", buf, sizeof(buf)) == NULL, "an absent parameter: NULL");

	is_int(parse("HEAD /metrics HTTP/1.0\n\n", &rq), 0, "HEAD, HTTP/1.0, bare newlines");
	is_str(rq.method, "HEAD", "HEAD is kept");
	is_int(parse("GET /a%20b?x=a%2Bb+c&flag&y= HTTP/1.1\r\n\r\n", &rq), 0, "escapes");
	is_str(rq.path, "/a b", "the path is percent-decoded");
	is_str(ht_http_param(&rq, "x", buf, sizeof(buf)), "a+b c", "a value: %%2B and +");
	is_str(ht_http_param(&rq, "flag", buf, sizeof(buf)), "", "a bare name: empty");
	is_str(ht_http_param(&rq, "y", buf, sizeof(buf)), "", "an empty value");
	ok(ht_http_param(&rq, "x", buf, 3) == NULL, "a value too long for the buffer: NULL");

	is_int(parse("POST /metrics HTTP/1.1\r\n\r\n", &rq), 405, "POST: 405");
	is_int(parse("GET /x HTTP/2.0\r\n\r\n", &rq), 505, "HTTP/2.0: 505");
	is_int(parse("GET /x FTP/1.0\r\n\r\n", &rq), 400, "not HTTP: 400");
	is_int(parse("GET x HTTP/1.1\r\n\r\n", &rq), 400, "a target not starting with /: 400");
	is_int(parse("GET /x  HTTP/1.1\r\n\r\n", &rq), 400, "two spaces: 400");
	is_int(parse("GET\r\n\r\n", &rq), 400, "no target: 400");
	is_int(parse("GET /%zz HTTP/1.1\r\n\r\n", &rq), 400, "a bad escape: 400");
	is_int(parse("GET /%00 HTTP/1.1\r\n\r\n", &rq), 400, "an escaped NUL: 400");
	is_int(parse("GET /% HTTP/1.1\r\n\r\n", &rq), 400, "a cut escape: 400");
	is_int(parse_n("GET /\0 HTTP/1.1\r\n\r\n", 19, &rq, 0, 1000), 400, "a raw NUL: 400");

	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	is_int(parse_n(big, sizeof(big), &rq, 0, 1000), 431, "a head past 8 KiB: 431");
	memcpy(big + 300, " HTTP/1.1\r\n\r\n", 13);
	is_int(parse_n(big, 313, &rq, 0, 1000), 414, "a path of 300 bytes: 414");
	snprintf(big, sizeof(big), "GET /?%01500d HTTP/1.1\r\n\r\n", 0);
	is_int(parse(big, &rq), 414, "a query of 1500 bytes: 414");

	is_int(parse_n("GET /metrics HTTP/1.1\r\n", 23, &rq, 0, 200), 408,
	       "a head never finished: 408 after the deadline");
	is_int(parse_n("GET /met", 8, &rq, 1, 1000), 408, "a client that closes early: 408");
	is_int(parse_n("", 0, &rq, 0, 100), 408, "a client that sends nothing: 408");
}

/* The response read back from the other end of a socket pair. */
static const char *respond(int status, const char *body, int head_only)
{
	static char out[4096];
	int sv[2];
	ssize_t n, have = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return "(socketpair)";
	if (ht_http_respond(sv[1], status, "text/plain", "X-Test: 1\r\n", body, strlen(body),
			    head_only, 1000) != 0)
		return "(respond failed)";
	close(sv[1]);
	while ((n = read(sv[0], out + have, sizeof(out) - 1 - (size_t)have)) > 0)
		have += n;
	out[have] = 0;
	close(sv[0]);
	return out;
}

static void responses(void)
{
	int sv[2];
	static char body[8 << 20];

	is_str(respond(200, "hello\n", 0),
	       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n"
	       "Connection: close\r\nX-Test: 1\r\n\r\nhello\n",
	       "a response: status, type, length, close, extra headers, body");
	is_str(respond(404, "no\n", 1),
	       "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
	       "Connection: close\r\nX-Test: 1\r\n\r\n",
	       "HEAD: the length, no body");
	is_str(ht_http_reason(503), "Service Unavailable", "reason phrases");

	/* a client that never reads: the write gives up at its deadline */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
		memset(body, 'x', sizeof(body));
		is_int(ht_http_respond(sv[1], 200, "text/plain", NULL, body, sizeof(body), 0, 200),
		       -1, "8 MiB to a client that never reads: given up");
		close(sv[0]);
		close(sv[1]);
	}
}

static void listening(void)
{
	char err[256];
	int fd, port, c;
	struct sockaddr_in a;

	ok(ht_http_is_loopback("8080"), "PORT alone: loopback");
	ok(ht_http_is_loopback(":8080"), ":PORT: loopback");
	ok(ht_http_is_loopback("127.0.0.2:8080"), "127.0.0.2: loopback");
	ok(ht_http_is_loopback("[::1]:8080"), "[::1]: loopback");
	ok(!ht_http_is_loopback("0.0.0.0:8080"), "0.0.0.0: not loopback");
	ok(!ht_http_is_loopback("10.1.2.3:8080"), "10.1.2.3: not loopback");

	ok(ht_http_listen("localhost:80", err, sizeof(err)) < 0 && strstr(err, "IP address"),
	   "a host name is refused: %s", err);
	ok(ht_http_listen("127.0.0.1:99999", err, sizeof(err)) < 0 && strstr(err, "bad address"),
	   "a port past 65535 is refused: %s", err);
	ok(ht_http_listen("::1:80", err, sizeof(err)) < 0, "IPv6 without brackets is refused");
	ok(ht_http_listen("", err, sizeof(err)) < 0, "an empty address is refused");

	fd = ht_http_listen("0", err, sizeof(err));
	ok(fd >= 0, "port 0 on the default address: a free port (%s)", fd < 0 ? err : "ok");
	port = fd >= 0 ? ht_http_port(fd) : -1;
	ok(port > 0, "the port taken: %d", port);
	c = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok(c >= 0 && connect(c, (struct sockaddr *)&a, sizeof(a)) == 0,
	   "a client connects to 127.0.0.1 on it");
	close(c);
	close(fd);
}

int main(void)
{
	requests();
	responses();
	listening();
	return done_testing();
}
