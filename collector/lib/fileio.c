/* Files: the output policy (a name the user gave is replaced, atomically
 * for a regular file and in place for a device or a FIFO; a default name
 * never replaces anything; "-" is standard output), the writers behind it,
 * the names derived from a .heap path, and the removal of the temporary
 * files that writers killed before their rename left behind. */
#include "lib/fileio.h"
#include "lib/hash.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A temporary file is named ".BASE" TEMP_TAG "PID-START-XXXXXX": the
 * writer's pid and start time (clock ticks after boot, field 22 of
 * /proc/PID/stat) tell a later writer whether the writer is gone, even
 * when its pid has been reused since. */
#define TEMP_TAG  ".ht-tmp-"
#define TEMP_RAND 6
/* the longest TEMP_TAG "PID-START-XXXXXX", and the leading dot */
#define TEMP_EXTRA (1 + sizeof(TEMP_TAG) - 1 + 10 + 1 + 20 + 1 + TEMP_RAND)

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

ssize_t ht_file_read_full(int fd, void *buf, size_t n)
{
	unsigned char *p = buf;
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* The start time of process pid in clock ticks after boot, or 0 if it
 * cannot be read. */
static unsigned long long start_time(pid_t pid)
{
	char path[48], buf[1024], *p;
	unsigned long long t = 0;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* the command name in parentheses may hold anything: the fields
	 * counted from 3 follow the last ')', one space before each */
	p = strrchr(buf, ')');
	for (field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &t) != 1)
		return 0;
	return t;
}

/* Opens a new temporary file next to path (see TEMP_TAG); its name goes to
 * *tmp (malloc'd). Returns the descriptor, or -1 with errno set. */
static int open_temp(const char *path, char **tmp)
{
	static const char alnum[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	static atomic_uint counter;
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	size_t baselen = strlen(path + dirlen), head;
	pid_t pid = getpid();
	unsigned long long start = start_time(pid);
	uint64_t x, z;
	char *name;
	int tries, fd = -1;

	if (baselen == 0) {
		errno = *path ? EISDIR : ENOENT;
		return -1;
	}
	/* keep the temporary name within NAME_MAX */
	if (baselen > NAME_MAX - TEMP_EXTRA)
		baselen = NAME_MAX - TEMP_EXTRA;
	name = malloc(dirlen + baselen + TEMP_EXTRA + 1);
	if (!name) {
		errno = ENOMEM;
		return -1;
	}
	head = (size_t)snprintf(name, dirlen + baselen + TEMP_EXTRA + 1, "%.*s.%.*s%s%d-%llu-",
				(int)dirlen, path, (int)baselen, path + dirlen, TEMP_TAG,
				(int)pid, start);
	x = (uint64_t)ht_now_ns() ^ (uint64_t)pid << 32 ^ (uintptr_t)name;
	for (tries = 0; tries < 100; tries++) {
		char *suffix = name + head;
		int i;

		/* time, pid and a counter, mixed: unique enough, and O_EXCL
		 * catches the rest. */
		x += 0x9e3779b97f4a7c15ull *
		     (atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed) + 1u);
		z = ht_mix64(x);
		for (i = 0; i < TEMP_RAND; i++, z /= 62)
			suffix[i] = alnum[z % 62];
		suffix[TEMP_RAND] = '\0';
		fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
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

/* Reads 1 to 20 decimal digits at *p into *v and moves *p past them. */
static int digits(const char **p, unsigned long long *v)
{
	const char *s = *p;

	*v = 0;
	while (*s >= '0' && *s <= '9' && s - *p < 20)
		*v = *v * 10 + (unsigned long long)(*s++ - '0');
	if (s == *p || (*s >= '0' && *s <= '9'))
		return -1;
	*p = s;
	return 0;
}

/* Whether name is one of our temporary names; its writer's pid and start
 * time go to *pid and *start. */
static int temp_name(const char *name, pid_t *pid, unsigned long long *start)
{
	const char *tag = NULL, *p;
	unsigned long long v;
	int i;

	if (name[0] != '.')
		return 0;
	for (p = name + 1; (p = strstr(p, TEMP_TAG)); p++)
		tag = p;
	if (!tag || tag == name + 1)
		return 0;
	p = tag + sizeof(TEMP_TAG) - 1;
	if (digits(&p, &v) || v == 0 || v > INT_MAX || *p++ != '-')
		return 0;
	*pid = (pid_t)v;
	if (digits(&p, start) || *p++ != '-')
		return 0;
	for (i = 0; i < TEMP_RAND; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9')))
			return 0;
	return p[TEMP_RAND] == '\0';
}

/* Whether the entry name of directory dirfd is a temporary file of ours
 * whose writer is gone: our name pattern, a regular file (a symbolic link
 * is never followed) owned by our effective uid, and its writer's pid
 * either names no process or one that started at another time. */
static int stale(int dirfd, const char *name)
{
	unsigned long long start, now;
	struct stat st;
	pid_t pid;

	if (!temp_name(name, &pid, &start))
		return 0;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid())
		return 0;
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return 1;
	now = start_time(pid);
	return start && now && now != start;
}

int ht_file_clean_temps(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (stale(dirfd(d), e->d_name) && unlinkat(dirfd(d), e->d_name, 0) == 0)
			n++;
	closedir(d);
	return n;
}

/* The directory part of path ("." if none), malloc'd; NULL on out of memory. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	return strndup(path, (size_t)(slash - path) + 1);
}

/* After a write that renamed or linked into the directory of path: makes
 * the rename durable and removes the temporaries of dead writers there.
 * Failures only cost durability or leave litter, so they are ignored. */
static void after_rename(const char *path)
{
	char *dir = dir_of(path);
	int fd;

	if (!dir)
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	ht_file_clean_temps(dir);
	free(dir);
}

/* Writes buf through a temporary file renamed over path; old, if not
 * NULL, is the regular file there, whose permission bits the new one
 * keeps. */
static int replace(const char *path, const struct stat *old, const void *buf, size_t len,
		   char *err, size_t errlen)
{
	char *tmp = NULL;
	int fd, e;

	fd = open_temp(path, &tmp);
	if (fd < 0)
		return ht_fail(err, errlen, "cannot write '%s': %s", path, strerror(errno));
	if ((old && fchmod(fd, old->st_mode & 0777)) || write_all(fd, buf, len) || fsync(fd)) {
		e = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) || rename(tmp, path)) {
		e = errno;
		goto fail;
	}
	free(tmp);
	after_rename(path);
	return 0;
fail:
	unlink(tmp);
	free(tmp);
	return ht_fail(err, errlen, "cannot write '%s': %s", path, strerror(e));
}

/* Writes buf into the file path names as it is: a device, a FIFO, or
 * (through a symbolic link, follow) a regular file, which is truncated
 * first. */
static int in_place(const char *path, int follow, const void *buf, size_t len,
		    char *err, size_t errlen)
{
	struct stat st;
	int fd, e;

	fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
	if (fd < 0)
		return ht_fail(err, errlen, "cannot write '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		e = errno;
		goto fail;
	}
	if (S_ISREG(st.st_mode) && !follow) {
		/* a regular file took the device's place since we looked */
		close(fd);
		return replace(path, &st, buf, len, err, errlen);
	}
	if (S_ISREG(st.st_mode) && ftruncate(fd, 0) != 0) {
		e = errno;
		goto fail;
	}
	if (write_all(fd, buf, len) || (S_ISREG(st.st_mode) && fsync(fd))) {
		e = errno;
		goto fail;
	}
	if (close(fd) != 0)
		return ht_fail(err, errlen, "cannot write '%s': %s", path, strerror(errno));
	return 0;
fail:
	close(fd);
	return ht_fail(err, errlen, "cannot write '%s': %s", path, strerror(e));
}

int ht_file_write(const char *path, const void *buf, size_t len, char *err, size_t errlen)
{
	struct stat st;
	int follow = 0;

	if (!*path)
		return ht_fail(err, errlen, "cannot write '': %s", strerror(ENOENT));
	if (lstat(path, &st) != 0) {
		if (errno != ENOENT)
			return ht_fail(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		return replace(path, NULL, buf, len, err, errlen);
	}
	if (S_ISREG(st.st_mode))
		return replace(path, &st, buf, len, err, errlen);
	if (S_ISLNK(st.st_mode)) {
		/* followed as cp(1) does, but never another user's link: in a
		 * shared directory it could point anywhere */
		if (st.st_uid != geteuid() && st.st_uid != 0)
			return ht_fail(err, errlen, "cannot write '%s': a symbolic link of "
				       "another user (uid %u); not following it", path,
				       (unsigned)st.st_uid);
		if (stat(path, &st) != 0) {
			if (errno == ENOENT)
				return ht_fail(err, errlen, "cannot write '%s': a symbolic "
					       "link to a missing file; not creating it", path);
			return ht_fail(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		}
		follow = 1;
	}
	if (S_ISDIR(st.st_mode))
		return ht_fail(err, errlen, "cannot write '%s': %s", path, strerror(EISDIR));
	if (S_ISSOCK(st.st_mode))
		return ht_fail(err, errlen, "cannot write '%s': a socket, not a file", path);
	return in_place(path, follow, buf, len, err, errlen);
}

int ht_file_write_unique(char *path, size_t cap, const void *buf, size_t len,
			 char *err, size_t errlen)
{
	char *tmp = NULL, *base;
	size_t n = strlen(path), stem;
	int fd, e, k;

	if (n >= cap || !(base = strdup(path)))
		return ht_fail(err, errlen, "cannot write '%s': %s", path, strerror(ENOMEM));
	stem = ht_file_heap_stem(base);
	fd = open_temp(path, &tmp);
	if (fd < 0) {
		e = errno;
		goto fail;
	}
	if (write_all(fd, buf, len) || fsync(fd)) {
		e = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) != 0) {
		e = errno;
		goto fail;
	}
	/* link() never replaces: a name that is taken gets a suffix */
	for (k = 1; k < 1000; k++) {
		if (link(tmp, path) == 0) {
			unlink(tmp);
			free(tmp);
			free(base);
			after_rename(path);
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

int ht_file_save(const char *path, enum ht_file_name how, char *used, size_t usedcap,
		 const void *buf, size_t len, char *err, size_t errlen)
{
	int fits = 1;

	if (used && used != path)
		fits = (size_t)snprintf(used, usedcap, "%s", path) < usedcap;
	if (how == HT_FILE_DEFAULT) {
		/* the name is chosen in used: it must hold all of path */
		if (!used || !fits)
			return ht_fail(err, errlen, "cannot write '%s': %s", path,
				       strerror(used ? ENAMETOOLONG : EINVAL));
		return ht_file_write_unique(used, usedcap, buf, len, err, errlen);
	}
	if (strcmp(path, "-") != 0)
		return ht_file_write(path, buf, len, err, errlen);
	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0)
		return ht_fail(err, errlen, "cannot write to standard output: %s", strerror(errno));
	return 0;
}

size_t ht_file_heap_stem(const char *path)
{
	size_t n = strlen(path);

	return n > 5 && !strcmp(path + n - 5, ".heap") ? n - 5 : n;
}

int ht_file_heap_name(char *out, size_t cap, const char *path, const char *tag)
{
	int n = snprintf(out, cap, "%.*s.%s.heap", (int)ht_file_heap_stem(path), path, tag);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}
