/* The bundled demo: a toy key-value "service" with a cache that never
 * evicts (the leak heaptrace should find) and per-request buffers that are
 * freed (churn). Commands on stdin, one answer line each on stdout:
 *   load N   serve N requests;   quit   exit */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct entry {
	struct entry *next;
	char *key;
	char *value;
};

static struct entry *cache[4096];
static unsigned long served;

__attribute__((noinline)) static char *parse_request(unsigned long id)
{
	char *req = malloc(256);

	snprintf(req, 256, "GET /items/%lu HTTP/1.1", id % 100000);
	return req;
}

__attribute__((noinline)) static void cache_insert(const char *key, unsigned long id)
{
	struct entry *e = malloc(sizeof(*e));
	unsigned h = (unsigned)(id * 2654435761u) % 4096;

	e->key = strdup(key);
	e->value = malloc(512); /* never evicted: the leak */
	memset(e->value, 'v', 512);
	e->next = cache[h];
	cache[h] = e;
}

__attribute__((noinline)) static char *format_response(const char *req)
{
	size_t cap = 64, len = 0;
	char *out = malloc(cap);

	for (int i = 0; i < 8; i++) {
		size_t n = strlen(req) + 2;

		if (len + n + 1 > cap) {
			cap *= 2;
			out = realloc(out, cap);
		}
		memcpy(out + len, req, n - 2);
		memcpy(out + len + n - 2, "\r\n", 2);
		len += n;
	}
	out[len] = 0;
	return out;
}

__attribute__((noinline)) static void serve(unsigned long id)
{
	char *req = parse_request(id);
	char *resp = format_response(req);

	if (id % 4 == 0)
		cache_insert(req, id);
	free(resp);
	free(req);
	served++;
}

int main(void)
{
	char line[128];
	unsigned long n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", (int)getpid());
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "load %lu", &n) == 1) {
			for (unsigned long i = 0; i < n; i++)
				serve(served);
		} else if (!strncmp(line, "quit", 4)) {
			break;
		}
		printf("served %lu\n", served);
	}
	return 0;
}
