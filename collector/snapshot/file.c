/* Snapshot files: a snapshot encoded and written by the policy of
 * lib/fileio.h, and a file read back no further than its header can
 * justify. */
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_int.h"
#include "snapshot/format.h"
#include "lib/fileio.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

/* Encodes s and writes it to path: by the output policy (ht_file_save)
 * when how is given, else as ht_file_write does ("-" is a file). */
static int encode_and_write(const struct ht_snapshot *s, const char *path,
			    const enum ht_file_name *how, char *used, size_t usedcap,
			    char *err, size_t errlen)
{
	char why[512];
	void *buf;
	size_t len;
	int rc;

	if (ht_snapshot_encode(s, &buf, &len, why, sizeof(why)))
		return ht_fail(err, errlen, "cannot write '%s': %s", path, why);
	if (how)
		rc = ht_file_save(path, *how, used, usedcap, buf, len, err, errlen);
	else
		rc = ht_file_write(path, buf, len, err, errlen);
	free(buf);
	return rc;
}

int ht_snapshot_write_file(const struct ht_snapshot *s, const char *path,
			   char *err, size_t errlen)
{
	return encode_and_write(s, path, NULL, NULL, 0, err, errlen);
}

int ht_snapshot_save(const struct ht_snapshot *s, const char *path, enum ht_file_name how,
		     char *used, size_t usedcap, char *err, size_t errlen)
{
	return encode_and_write(s, path, &how, used, usedcap, err, errlen);
}

/* Reads the rest of fd after the *len bytes in *buf (*cap bytes long),
 * growing *buf to at most limit + 1 bytes (a regular file's whole size at
 * once). Returns 0 at the end of the input, 1 as soon as more than limit
 * bytes came, or -1 with errno set. */
static int read_rest(int fd, const struct stat *st, uint64_t limit, unsigned char **buf,
		     size_t *len, size_t *cap)
{
	for (;;) {
		size_t want;
		ssize_t r;

		if (*len == *cap) {
			size_t ncap = *cap < (1u << 16) ? (1u << 16) : *cap * 2;
			unsigned char *p;

			if (S_ISREG(st->st_mode) && (uint64_t)st->st_size >= *cap)
				ncap = (size_t)st->st_size + 1; /* +1: see EOF in one read */
			if (ncap > limit + 1)
				ncap = (size_t)limit + 1;
			p = realloc(*buf, ncap);
			if (!p) {
				errno = ENOMEM;
				return -1;
			}
			*buf = p;
			*cap = ncap;
		}
		want = *cap - *len;
		r = ht_file_read_full(fd, *buf + *len, want);
		if (r < 0)
			return -1;
		*len += (size_t)r;
		if ((size_t)r < want)
			return 0;
		if (*len > limit)
			return 1;
	}
}

int ht_snapshot_read_file(const char *path, struct ht_snapshot **out,
			  char *err, size_t errlen)
{
	char why[512];
	struct stat st = { 0 };
	unsigned char *buf = NULL;
	uint64_t bodylen, limit;
	size_t len, cap;
	ssize_t r;
	int fd, e, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ht_fail(err, errlen, "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size > HT_SNAPSHOT_MAX_FILE) {
		close(fd);
		return ht_fail(err, errlen, "'%s': %llu bytes, larger than the largest snapshot accepted (%llu)",
			       path, (unsigned long long)st.st_size,
			       (unsigned long long)HT_SNAPSHOT_MAX_FILE);
	}
	/* The header first: a file that is not a snapshot (a device, an
	 * endless pipe) is refused before more of it is read. */
	cap = HEADER_SIZE;
	buf = malloc(cap);
	if (!buf) {
		e = ENOMEM;
		goto fail;
	}
	r = ht_file_read_full(fd, buf, HEADER_SIZE);
	if (r < 0) {
		e = errno;
		goto fail;
	}
	len = (size_t)r;
	if (len < HEADER_SIZE || ht_snapshot_check_header(buf, len, &bodylen, why, sizeof(why)))
		goto bad; /* decode says what is wrong */
	/* A zstd frame of bodylen bytes is never larger than its bound. */
	limit = bodylen <= HT_SNAPSHOT_MAX_BODY ?
		HEADER_SIZE + ZSTD_compressBound((size_t)bodylen) : HT_SNAPSHOT_MAX_FILE;
	if (limit > HT_SNAPSHOT_MAX_FILE)
		limit = HT_SNAPSHOT_MAX_FILE;
	rc = read_rest(fd, &st, limit, &buf, &len, &cap);
	if (rc < 0) {
		e = errno;
		goto fail;
	}
	if (rc > 0) {
		close(fd);
		free(buf);
		return ht_fail(err, errlen, "'%s': larger than the %llu bytes that a snapshot "
			       "of a %llu-byte body can take", path, (unsigned long long)limit,
			       (unsigned long long)bodylen);
	}
bad:
	close(fd);
	if (ht_snapshot_decode(buf, len, out, why, sizeof(why))) {
		free(buf);
		return ht_fail(err, errlen, "'%s': %s", path, why);
	}
	free(buf);
	return 0;
fail:
	close(fd);
	free(buf);
	return ht_fail(err, errlen, "cannot read '%s': %s", path, strerror(e));
}

/* One of the two readers of ht_snapshot_read_files: files first, first +
 * 2, ... each with its own errlen bytes of errs (a file that failed is
 * left NULL in out). */
struct reader_half {
	const char *const *paths;
	struct ht_snapshot **out;
	char *errs;
	size_t errlen;
	size_t n, first;
};

static void *read_half(void *arg)
{
	struct reader_half *h = arg;

	for (size_t i = h->first; i < h->n; i += 2)
		ht_snapshot_read_file(h->paths[i], &h->out[i], h->errs + i * h->errlen, h->errlen);
	return NULL;
}

int ht_snapshot_read_files(const char *const *paths, size_t n, struct ht_snapshot **out,
			   char *err, size_t errlen)
{
	char *errs = ht_xcalloc(n + 1, errlen ? errlen : 1);
	struct reader_half halves[2];
	pthread_t other;
	int started = 0, rc = 0;

	for (size_t k = 0; k < 2; k++)
		halves[k] = (struct reader_half){ paths, out, errs, errlen, n, k };
	for (size_t i = 0; i < n; i++)
		out[i] = NULL;
	if (n > 1)
		started = pthread_create(&other, NULL, read_half, &halves[1]) == 0;
	read_half(&halves[0]);
	if (started)
		pthread_join(other, NULL);
	else
		read_half(&halves[1]);
	for (size_t i = 0; i < n && !rc; i++)
		if (!out[i])
			rc = ht_fail(err, errlen, "%s", errs + i * errlen);
	if (rc)
		for (size_t i = 0; i < n; i++) {
			ht_snapshot_free(out[i]);
			out[i] = NULL;
		}
	free(errs);
	return rc;
}
