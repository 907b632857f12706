/* Pushing a snapshot to Grafana Pyroscope's ingest API (see push.h):
 * the pprof profile and its sample types in a multipart POST, with
 * libcurl, retried with backoff. */
#include "report/push.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/hash.h"
#include "lib/util.h"
#include "lib/version.h"
#include "report/render.h"
#include "report/report_int.h"

/* In-use figures are levels (averaged over time), allocations are
 * amounts (summed); none needs scaling by a sample rate: the pprof
 * profile carries estimates already. */
const char ht_push_sample_types[] =
	"{\"inuse_space\":{\"units\":\"bytes\",\"aggregation\":\"average\","
	"\"display-name\":\"inuse_space_bytes\",\"sampled\":false},"
	"\"inuse_objects\":{\"units\":\"objects\",\"aggregation\":\"average\","
	"\"display-name\":\"inuse_objects_count\",\"sampled\":false},"
	"\"alloc_space\":{\"units\":\"bytes\",\"aggregation\":\"sum\","
	"\"display-name\":\"alloc_space_bytes\",\"sampled\":false},"
	"\"alloc_objects\":{\"units\":\"objects\",\"aggregation\":\"sum\","
	"\"display-name\":\"alloc_objects_count\",\"sampled\":false}}";

#define TRIES 3
#define TRY_SECONDS 20L

static int key_char(int c, int first)
{
	return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (!first && (c == '.' || (c >= '0' && c <= '9')));
}

int ht_push_check_labels(const char *labels, char *err, size_t errlen)
{
	const char *p = labels;

	if (!*p)
		return 0;
	for (;;) {
		const char *k = p;

		while (key_char((unsigned char)*p, p == k))
			p++;
		if (p == k || *p != '=')
			return ht_fail(err, errlen, "bad labels '%s': want KEY=VALUE[,KEY=VALUE...], "
				       "keys of letters, digits, '_' and '.'", labels);
		for (p++; *p && *p != ','; p++)
			if (strchr("{}=\"\\", *p) || (unsigned char)*p < 0x20 || *p == 0x7f)
				return ht_fail(err, errlen, "bad labels '%s': a value may not hold "
					       "'%c'", labels, *p >= 0x20 ? *p : '?');
		if (!*p)
			return 0;
		p++;
	}
}

/* ---- the delta --------------------------------------------------------- */

static uint64_t stack_key(const struct ht_snapshot *s, const struct ht_stack *st)
{
	uint64_t h = st->nframes;

	for (uint32_t i = 0; i < st->nframes; i++)
		h = ht_mix64(h ^ s->locations[s->frames[st->first_frame + i]].address);
	return h;
}

static int same_frames(const struct ht_snapshot *a, const struct ht_stack *x,
		       const struct ht_snapshot *b, const struct ht_stack *y)
{
	if (x->nframes != y->nframes)
		return 0;
	for (uint32_t i = 0; i < x->nframes; i++)
		if (a->locations[a->frames[x->first_frame + i]].address !=
		    b->locations[b->frames[y->first_frame + i]].address)
			return 0;
	return 1;
}

static double less(double x, double y)
{
	return x > y ? x - y : 0;
}

/* The delta of stack st's cumulative figures beyond its counters: the
 * temporary blocks, and the cells of lifetimes and sizes (ages are a
 * state, like the in-use counters, and stay as they are). Without it a
 * delta's pprof export splits its allocations by lifetime with the run's
 * cells, and the rest goes negative. */
static void cells_delta(const struct ht_snapshot *base, const struct ht_stack *b,
			struct ht_snapshot *cur, struct ht_stack *st)
{
	st->temp_objects = less(st->temp_objects, b->temp_objects);
	st->temp_space = less(st->temp_space, b->temp_space);
	st->temp_var[0] = less(st->temp_var[0], b->temp_var[0]);
	st->temp_var[1] = less(st->temp_var[1], b->temp_var[1]);
	st->temp_samples = st->temp_samples > b->temp_samples ?
			   st->temp_samples - b->temp_samples : 0;
	if (!cur->has_cells)
		return;
	for (uint32_t i = 0; i < st->ncells && (size_t)st->first_cell + i < cur->ncells; i++) {
		struct ht_cell *c = &cur->cells[st->first_cell + i];
		const struct ht_cell *o = NULL;

		if (c->kind == HT_CELL_AGE)
			continue;
		for (uint32_t k = 0; base->has_cells && k < b->ncells &&
				     (size_t)b->first_cell + k < base->ncells; k++) {
			const struct ht_cell *x = &base->cells[b->first_cell + k];

			if (x->kind == c->kind && x->bucket == c->bucket) {
				o = x;
				break;
			}
		}
		if (!o)
			continue;
		c->objects = less(c->objects, o->objects);
		c->space = less(c->space, o->space);
		c->var_objects = less(c->var_objects, o->var_objects);
		c->var_space = less(c->var_space, o->var_space);
		c->samples = c->samples > o->samples ? c->samples - o->samples : 0;
	}
}

int ht_push_delta(const struct ht_snapshot *base, struct ht_snapshot *cur, char *err,
		  size_t errlen)
{
	size_t cap = 16, mask;
	uint32_t *slot;

	if (!ht_report_same_process(base, cur) || base->time_ns > cur->time_ns)
		return ht_fail(err, errlen, "the base is not an earlier snapshot of the same process");
	while (cap < 2 * base->nstacks)
		cap *= 2;
	mask = cap - 1;
	slot = calloc(cap, sizeof(*slot)); /* base stack + 1 */
	if (!slot)
		return ht_fail(err, errlen, "out of memory");
	for (size_t i = 0; i < base->nstacks; i++) {
		size_t j = stack_key(base, &base->stacks[i]) & mask;

		while (slot[j])
			j = (j + 1) & mask;
		slot[j] = (uint32_t)i + 1;
	}
	for (size_t i = 0; i < cur->nstacks; i++) {
		struct ht_stack *st = &cur->stacks[i];
		size_t j = stack_key(cur, st) & mask;

		for (; slot[j]; j = (j + 1) & mask) {
			const struct ht_stack *b = &base->stacks[slot[j] - 1];

			if (!same_frames(base, b, cur, st))
				continue;
			/* counts only grow within a run; never below 0 */
			st->alloc_objects = st->alloc_objects > b->alloc_objects ?
					    st->alloc_objects - b->alloc_objects : 0;
			st->alloc_space = st->alloc_space > b->alloc_space ?
					  st->alloc_space - b->alloc_space : 0;
			st->alloc_samples = st->alloc_samples > b->alloc_samples ?
					    st->alloc_samples - b->alloc_samples : 0;
			cells_delta(base, b, cur, st);
			break;
		}
	}
	free(slot);
	return 0;
}

/* ---- the request ------------------------------------------------------- */

/* The application name with its labels, URL-escaped, into out. */
static int app_name(CURL *h, const struct ht_snapshot *s, const struct ht_report_opts *o,
		    char *out, size_t cap)
{
	char safe[HT_SAFE_NAME_MAX + 1], name[1024];
	const char *base = o->push_app;
	char *esc;
	int n;

	if (!base) {
		const char *slash = strrchr(s->exe ? s->exe : "", '/');

		base = ht_safe_name(safe, sizeof(safe), slash ? slash + 1 : s->exe ? s->exe : "");
	}
	n = snprintf(name, sizeof(name), "%s{%s}", base, o->push_labels ? o->push_labels : "");
	if (n < 0 || (size_t)n >= sizeof(name))
		return -1;
	esc = curl_easy_escape(h, name, 0);
	if (!esc)
		return -1;
	n = snprintf(out, cap, "%s", esc);
	curl_free(esc);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The credentials of the file path into *headers (bearer) or the handle
 * (basic). Returns 0, or -1 with err set. */
static int credentials(CURL *h, const char *path, struct curl_slist **headers, char *err,
		       size_t errlen)
{
	char line[4096], hdr[4200];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return ht_fail(err, errlen, "cannot read the credentials '%s': %s", path,
			       strerror(errno));
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = 0;
	if (!n)
		return ht_fail(err, errlen, "the credentials file '%s' is empty", path);
	if (strchr(line, ':')) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERPWD, line);
	} else {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", line);
		*headers = curl_slist_append(*headers, hdr);
	}
	memset(line, 0, sizeof(line));
	return 0;
}

/* Keeps the start of the server's answer, for the message of a failure. */
struct answer {
	char text[160];
	size_t len;
};

static size_t keep_answer(char *data, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t bytes = size * n, room = sizeof(a->text) - 1 - a->len;
	size_t take = bytes < room ? bytes : room;

	memcpy(a->text + a->len, data, take);
	a->len += take;
	a->text[a->len] = 0;
	return bytes;
}

/* The first line of the answer, printable, or "" (into a->text). */
static const char *answer_line(struct answer *a)
{
	size_t i;

	for (i = 0; i < a->len && a->text[i] != '\n' && a->text[i] != '\r'; i++)
		if ((unsigned char)a->text[i] < 0x20 || (unsigned char)a->text[i] >= 0x7f)
			a->text[i] = '?';
	a->text[i] = 0;
	return a->text;
}

/* One try: POST body (the profile, len bytes) to url. Returns 0, or -1
 * with err set. */
static int post(const char *url, const void *body, size_t len, const char *auth, char *err,
		size_t errlen)
{
	CURL *h = curl_easy_init();
	curl_mime *mime;
	curl_mimepart *part;
	struct curl_slist *headers = NULL;
	char cerr[CURL_ERROR_SIZE] = "";
	struct answer ans = { "", 0 };
	long status = 0;
	CURLcode rc;
	int ret = 0;

	if (!h)
		return ht_fail(err, errlen, "cannot start an HTTP request");
	if (auth && credentials(h, auth, &headers, err, errlen) != 0) {
		curl_easy_cleanup(h);
		return -1;
	}
	mime = curl_mime_init(h);
	part = curl_mime_addpart(mime);
	curl_mime_name(part, "profile");
	curl_mime_filename(part, "profile.pprof");
	curl_mime_type(part, "application/octet-stream");
	curl_mime_data(part, body, len);
	part = curl_mime_addpart(mime);
	curl_mime_name(part, "sample_type_config");
	curl_mime_filename(part, "sample_type_config.json");
	curl_mime_type(part, "application/json");
	curl_mime_data(part, ht_push_sample_types, CURL_ZERO_TERMINATED);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "heaptrace/" HT_VERSION);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_answer);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &ans);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, TRY_SECONDS);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		ret = ht_fail(err, errlen, "cannot push to '%s': %s", url,
			      cerr[0] ? cerr : curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (status < 200 || status > 299)
			ret = ht_fail(err, errlen, "cannot push to '%s': the server answered %ld%s%s",
				      url, status, ans.len ? ": " : "", answer_line(&ans));
	}
	curl_mime_free(mime);
	curl_slist_free_all(headers);
	curl_easy_cleanup(h);
	return ret;
}

/* The profile of cur as pprof, in memory. */
static int encode(const struct ht_snapshot *cur, const struct ht_report_opts *o, char **buf,
		  size_t *len, char *err, size_t errlen)
{
	FILE *f = open_memstream(buf, len);
	int rc;

	if (!f)
		return ht_fail(err, errlen, "out of memory");
	rc = ht_pprof_write(f, NULL, cur, o, err, errlen);
	if (fclose(f) != 0 && rc == 0)
		rc = ht_fail(err, errlen, "out of memory");
	return rc;
}

int ht_push_snapshot(const struct ht_snapshot *base, struct ht_snapshot *cur,
		     const struct ht_report_opts *o, char *err, size_t errlen)
{
	char url[4096], name[2048];
	char *body = NULL;
	size_t len = 0;
	long long from, until;
	CURL *h;
	int rc = -1;

	if (o->push_labels && ht_push_check_labels(o->push_labels, err, errlen) != 0)
		return -1;
	if (base && ht_push_delta(base, cur, err, errlen) != 0)
		return -1;
	if (encode(cur, o, &body, &len, err, errlen) != 0) {
		free(body);
		return -1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || !(h = curl_easy_init())) {
		free(body);
		return ht_fail(err, errlen, "cannot start libcurl");
	}
	from = (long long)((base ? base->time_ns : cur->start_time_ns) / 1000000000);
	until = (long long)(cur->time_ns / 1000000000);
	if (until <= from)
		until = from + 1;
	if (app_name(h, cur, o, name, sizeof(name)) != 0 ||
	    snprintf(url, sizeof(url), "%s%singest?name=%s&from=%lld&until=%lld&format=pprof"
		     "&spyName=heaptrace", o->push,
		     o->push[0] && o->push[strlen(o->push) - 1] == '/' ? "" : "/", name, from,
		     until) >= (int)sizeof(url)) {
		ht_fail(err, errlen, "the push URL is too long");
	} else {
		for (int t = 0; t < TRIES && rc != 0; t++) {
			if (t)
				usleep((useconds_t)t * 500000); /* 0.5 s, then 1 s */
			rc = post(url, body, len, o->push_auth, err, errlen);
		}
	}
	curl_easy_cleanup(h);
	curl_global_cleanup();
	free(body);
	return rc;
}
