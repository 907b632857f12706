/* Writing files: a whole image to a path, replacing a regular file there
 * atomically (a temporary file in the same directory, then rename), or
 * under a name that is free. */
#include "fileio.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t r = write(fd, p, len > (1u << 30) ? (1u << 30) : len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EIO;
			return -1;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Opens a new temporary file ".BASE.XXXXXX" next to path; its name goes to
 * *tmp (malloc'd). Returns the descriptor, or -1 with errno set. */
static int open_temp(const char *path, char **tmp)
{
	static const char alnum[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	static atomic_uint counter;
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	size_t baselen = strlen(path + dirlen);
	uint64_t x, z;
	char *name;
	int tries, fd = -1;

	if (baselen == 0) {
		errno = *path ? EISDIR : ENOENT;
		return -1;
	}
	/* Keep the temporary name within NAME_MAX: ".", base, ".XXXXXX". */
	if (baselen > NAME_MAX - 8)
		baselen = NAME_MAX - 8;
	name = malloc(dirlen + baselen + 9);
	if (!name) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(name, path, dirlen);
	name[dirlen] = '.';
	memcpy(name + dirlen + 1, path + dirlen, baselen);
	name[dirlen + 1 + baselen] = '.';
	x = (uint64_t)ht_now_ns() ^ (uint64_t)getpid() << 32 ^ (uintptr_t)name;
	for (tries = 0; tries < 100; tries++) {
		char *suffix = name + dirlen + baselen + 2;
		int i;

		/* splitmix64 over time, pid and a counter: unique enough, and
		 * O_EXCL catches the rest. */
		x += 0x9e3779b97f4a7c15ull *
		     (atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed) + 1u);
		z = x;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		for (i = 0; i < 6; i++, z /= 62)
			suffix[i] = alnum[z % 62];
		suffix[6] = '\0';
		fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		int e = errno;

		free(name);
		errno = e;
		return -1;
	}
	*tmp = name;
	return fd;
}

/* Makes a rename durable; failures only cost durability, so they are ignored. */
static void sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;

	if (!slash) {
		dir = strdup(".");
	} else {
		dir = strndup(path, (size_t)(slash - path) + 1);
	}
	if (!dir)
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

int ht_write_file_atomic(const char *path, const void *buf, size_t len,
			 char *err, size_t errlen)
{
	char *tmp = NULL;
	int fd, e;

	fd = open_temp(path, &tmp);
	if (fd < 0)
		return ht_fail(err, errlen, "cannot write '%s': %s", path, strerror(errno));
	if (write_all(fd, buf, len) || fsync(fd)) {
		e = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) || rename(tmp, path)) {
		e = errno;
		goto fail;
	}
	free(tmp);
	sync_dir(path);
	return 0;
fail:
	unlink(tmp);
	free(tmp);
	return ht_fail(err, errlen, "cannot write '%s': %s", path, strerror(e));
}

int ht_write_file_unique(char *path, size_t cap, const void *buf, size_t len,
			 char *err, size_t errlen)
{
	char *tmp = NULL, *base;
	size_t n = strlen(path), stem;
	int fd, e, k;

	if (n >= cap || !(base = strdup(path)))
		return ht_fail(err, errlen, "cannot write '%s': %s", path, strerror(ENOMEM));
	stem = n > 5 && !strcmp(base + n - 5, ".heap") ? n - 5 : n;
	fd = open_temp(path, &tmp);
	if (fd < 0) {
		e = errno;
		goto fail;
	}
	if (write_all(fd, buf, len) || fsync(fd) || close(fd)) {
		e = errno;
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	/* link() never replaces: a name that is taken gets a suffix */
	for (k = 1; k < 1000; k++) {
		if (link(tmp, path) == 0) {
			unlink(tmp);
			free(tmp);
			free(base);
			sync_dir(path);
			return 0;
		}
		e = errno;
		if (e != EEXIST)
			goto fail;
		if (snprintf(path, cap, "%.*s-%d%s", (int)stem, base, k, base + stem) >= (int)cap) {
			e = ENAMETOOLONG;
			goto fail;
		}
	}
fail:
	if (tmp)
		unlink(tmp);
	free(tmp);
	snprintf(path, cap, "%s", base);
	free(base);
	return ht_fail(err, errlen, "cannot write '%s': %s", path, strerror(e));
}
