/* The final snapshot of a process whose collector never started (it ended
 * before its first sample): the counts, drops, figures and names, no
 * stacks, encoded as heaptrace(5) says (a zstd frame of raw blocks needs no
 * library) and written by the policy the collector follows (lib/fileio.h):
 * a name the user gave is replaced atomically, a default one never. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "snapshot/format.h"

#define ZSTD_MAGIC   0xFD2FB528u
#define ZSTD_BLOCK   (128u << 10) /* the largest block a frame may hold */
#define MAX_STRINGS  24
#define MAX_METRICS  20
#define BODY_CAP     ((size_t)64 << 10)
#define IMAGE_CAP    (BODY_CAP + 4096)

struct body {
	unsigned char *p;
	size_t n;
	const char *str[MAX_STRINGS];
	size_t nstr;
	const char *mname[MAX_METRICS];
	double mval[MAX_METRICS];
	size_t nmetrics;
};

static unsigned char *put(struct body *b, size_t n)
{
	unsigned char *p = b->p + b->n;

	b->n += n;
	return p;
}

static void put_section(struct body *b, uint32_t tag, uint64_t len)
{
	unsigned char *p = put(b, SECTION_HEAD);

	le32(p, tag);
	le32(p + 4, 0);
	le64(p + 8, len);
}

/* The id of s in the string table, each distinct string once. */
static uint32_t intern(struct body *b, const char *s)
{
	size_t i;

	for (i = 0; i < b->nstr; i++)
		if (!strcmp(b->str[i], s))
			return (uint32_t)i;
	b->str[b->nstr] = s;
	return (uint32_t)b->nstr++;
}

static void metric(struct body *b, const char *name, double v)
{
	if (b->nmetrics == MAX_METRICS)
		return;
	b->mname[b->nmetrics] = name;
	b->mval[b->nmetrics++] = v;
}

/* VmRSS and VmHWM of this process in bytes (0 if unknown). */
static void read_rss(double *rss, double *peak)
{
	char buf[4096], *l;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	*rss = *peak = 0;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (l = buf; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		unsigned long long kb = 0;

		if (!strncmp(l, "VmRSS:", 6) && sscanf(l + 6, "%llu", &kb) == 1)
			*rss = (double)kb * 1024;
		else if (!strncmp(l, "VmHWM:", 6) && sscanf(l + 6, "%llu", &kb) == 1)
			*peak = (double)kb * 1024;
	}
}

/* The metrics the collector gives a process with nothing sampled (see
 * collector/daemon/take.c), from the figures the shim published. */
static void add_metrics(struct body *b, const struct ht_shm *h, int64_t live, int64_t now,
			const uint64_t walks[3])
{
	static const char *glibc[] = { "glibc.arena_bytes", "glibc.in_use_bytes",
				       "glibc.free_bytes", "glibc.mmap_bytes",
				       "glibc.releasable_bytes" };
	static const char *jem[] = { "jemalloc.allocated_bytes", "jemalloc.active_bytes",
				     "jemalloc.resident_bytes", "jemalloc.retained_bytes",
				     "jemalloc.mapped_bytes", "jemalloc.metadata_bytes" };
	static const int gi[] = { HT_GLIBC_ARENA, HT_GLIBC_IN_USE, HT_GLIBC_FREE, HT_GLIBC_MMAP,
				  HT_GLIBC_TOP_PAD };
	double rss, peak, heap = -1;
	int i;

	metric(b, "heap.live_objects", (double)live);
	metric(b, "heap.inuse_bytes_estimate", 0);
	read_rss(&rss, &peak);
	if (rss > 0) {
		metric(b, "process.rss_bytes", rss);
		metric(b, "process.rss_peak_bytes", peak);
	}
	if (!h->stats_seq || (h->stats_seq & 1) || h->untraced[0])
		goto walks; /* never read, or they describe a malloc the program does not call */
	if (h->allocator == HT_ALLOCATOR_GLIBC) {
		for (i = 0; i < 5; i++)
			metric(b, glibc[i], (double)h->stats[gi[i]]);
		heap = (double)h->stats[HT_GLIBC_IN_USE];
	} else if (h->allocator == HT_ALLOCATOR_JEMALLOC) {
		for (i = 0; i < 6; i++)
			metric(b, jem[i], (double)h->stats[HT_JEMALLOC_ALLOCATED + i]);
		heap = (double)h->stats[HT_JEMALLOC_ALLOCATED];
	}
	metric(b, "heaptrace.arena_live_bytes", (double)h->stats[HT_ARENA_LIVE]);
	metric(b, "heaptrace.arena_committed_bytes", (double)h->stats[HT_ARENA_COMMITTED]);
	if (heap >= 0)
		heap += (double)h->stats[HT_ARENA_LIVE];
	metric(b, "allocator.stats_age_seconds", (double)(now - h->stats_time_ns) / 1e9);
	if (heap >= 0 && rss > 0)
		metric(b, "process.rss_minus_heap_bytes", rss - heap);
walks:
	metric(b, "heaptrace.stacks_walked_frame_pointers", (double)walks[0]);
	metric(b, "heaptrace.stacks_walked_libunwind", (double)walks[1]);
	metric(b, "heaptrace.stacks_cut_short", (double)walks[2]);
}

/* The shim's call counters, k, and its walks of stacks, w: the retired
 * threads' and every slot's. */
static void counts(const struct ht_shm *h, uint64_t k[4], uint64_t w[3])
{
	uint32_t n = __atomic_load_n(&h->next_slot, __ATOMIC_ACQUIRE), i;
	int j;

	for (j = 0; j < 4; j++)
		k[j] = __atomic_load_n(&h->retired[j], __ATOMIC_RELAXED);
	for (j = 0; j < 3; j++)
		w[j] = __atomic_load_n(&h->retired_walks[j], __ATOMIC_RELAXED);
	if (n > ht_core.slot_count)
		n = ht_core.slot_count;
	for (i = 0; i < n; i++) {
		const struct ht_slot *s = &ht_core.slots[i];

		k[0] += __atomic_load_n(&s->alloc_calls, __ATOMIC_RELAXED);
		k[1] += __atomic_load_n(&s->free_calls, __ATOMIC_RELAXED);
		k[2] += __atomic_load_n(&s->realloc_calls, __ATOMIC_RELAXED);
		k[3] += __atomic_load_n(&s->alloc_bytes, __ATOMIC_RELAXED);
		w[0] += __atomic_load_n(&s->walks_fp, __ATOMIC_RELAXED);
		w[1] += __atomic_load_n(&s->walks_unwind, __ATOMIC_RELAXED);
		w[2] += __atomic_load_n(&s->walks_cut, __ATOMIC_RELAXED);
	}
}

static void put_meta(struct body *b, const struct ht_shm *h, uint32_t flags, uint32_t exe,
		     uint32_t cmd, int64_t now, const uint64_t k[4])
{
	unsigned char *p;

	put_section(b, SEC_META, META_SIZE);
	p = put(b, META_SIZE);
	le32(p, flags);
	le32(p + 4, h->max_depth);
	le64(p + 8, (uint64_t)h->pid);
	le32(p + 16, exe);
	le32(p + 20, cmd);
	le64(p + 24, (uint64_t)h->start_time_ns);
	le64(p + 32, (uint64_t)now);
	le64(p + 40, h->rate);
	le32(p + 48, 0);
	le32(p + 52, 0);
	put_section(b, SEC_COUNTS, COUNTS_SIZE);
	p = put(b, COUNTS_SIZE);
	for (int j = 0; j < 4; j++)
		le64(p + 8 * j, k[j]);
	put_section(b, SEC_DROPS, DROPS_SIZE);
	p = put(b, DROPS_SIZE);
	le64(p, __atomic_load_n(&h->drop_alloc, __ATOMIC_RELAXED));
	le64(p + 8, __atomic_load_n(&h->drop_free, __ATOMIC_RELAXED));
	le64(p + 16, __atomic_load_n(&h->drop_other, __ATOMIC_RELAXED));
	le64(p + 24, __atomic_load_n(&h->arena_full, __ATOMIC_RELAXED));
	le64(p + 32, 0);
}

/* The body: the sections in heaptrace(5)'s order, the symbol sections and
 * the stacks empty, the peak one of nothing since the start. */
static void make_body(struct body *b, const struct ht_shm *h, uint32_t flags)
{
	static const uint32_t empty[] = { SEC_MODULES, SEC_FUNCTIONS, SEC_LINES, SEC_LOCATIONS,
					  SEC_FRAMES, SEC_STACKS };
	struct timespec ts;
	uint32_t exe, cmd, mid[MAX_METRICS];
	uint64_t k[4], w[3], len = 8;
	int64_t now;
	size_t i;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	counts(h, k, w);
	add_metrics(b, h, (int64_t)(k[0] - k[1]), now, w);
	exe = intern(b, h->exe);
	cmd = intern(b, h->cmdline);
	for (i = 0; i < b->nmetrics; i++)
		mid[i] = intern(b, b->mname[i]);
	for (i = 0; i < b->nstr; i++)
		len += 4 + strlen(b->str[i]);
	put_section(b, SEC_STRINGS, len);
	le64(put(b, 8), b->nstr);
	for (i = 0; i < b->nstr; i++) {
		size_t l = strlen(b->str[i]);

		le32(put(b, 4), (uint32_t)l);
		memcpy(put(b, l), b->str[i], l);
	}
	put_meta(b, h, flags, exe, cmd, now, k);
	put_section(b, SEC_METRICS, 8 + (uint64_t)b->nmetrics * METRIC_SIZE);
	le64(put(b, 8), b->nmetrics);
	for (i = 0; i < b->nmetrics; i++) {
		unsigned char *p = put(b, METRIC_SIZE);

		le32(p, mid[i]);
		le32(p + 4, 0);
		le64(p + 8, f64bits(b->mval[i]));
	}
	for (i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		put_section(b, empty[i], 8);
		le64(put(b, 8), 0);
	}
	if (h->untraced[0]) {
		put_section(b, SEC_NOTE, strlen(h->untraced));
		memcpy(put(b, strlen(h->untraced)), h->untraced, strlen(h->untraced));
	}
	put_section(b, SEC_PEAK, PEAK_HEAD + 8);
	le64(put(b, PEAK_HEAD), (uint64_t)(h->start_time_ns ? h->start_time_ns : now));
	le64(put(b, 8), 0);
	/* no temporary blocks, no cells: a file that has them, of nothing */
	put_section(b, SEC_TEMP, 8);
	le64(put(b, 8), 0);
	put_section(b, SEC_CELLS, 8);
	le64(put(b, 8), 0);
}

/* XXH64 with seed 0, of which a zstd frame's checksum is the low half. */
#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull
#define P4 0x85EBCA77C2B2AE63ull
#define P5 0x27D4EB2F165667C5ull

static uint64_t rotl(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

static uint64_t round64(uint64_t acc, uint64_t in)
{
	return rotl(acc + in * P2, 31) * P1;
}

static uint64_t merge64(uint64_t acc, uint64_t v)
{
	return (acc ^ round64(0, v)) * P1 + P4;
}

static uint64_t xxh64(const unsigned char *p, size_t len)
{
	const unsigned char *end = p + len;
	uint64_t h;

	if (len >= 32) {
		uint64_t v1 = P1 + P2, v2 = P2, v3 = 0, v4 = -P1;

		for (; end - p >= 32; p += 32) {
			v1 = round64(v1, rd64(p));
			v2 = round64(v2, rd64(p + 8));
			v3 = round64(v3, rd64(p + 16));
			v4 = round64(v4, rd64(p + 24));
		}
		h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
		h = merge64(merge64(merge64(merge64(h, v1), v2), v3), v4);
	} else {
		h = P5;
	}
	h += (uint64_t)len;
	for (; end - p >= 8; p += 8)
		h = rotl(h ^ round64(0, rd64(p)), 27) * P1 + P4;
	if (end - p >= 4) {
		h = rotl(h ^ (uint64_t)rd32(p) * P1, 23) * P2 + P3;
		p += 4;
	}
	for (; p < end; p++)
		h = rotl(h ^ *p * P5, 11) * P1;
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	return h ^ h >> 32;
}

/* The file image: the header, then body (len bytes) as one zstd frame
 * of raw blocks, its content size and checksum given. Returns its size. */
static size_t make_image(unsigned char *out, const unsigned char *body, size_t len)
{
	size_t n = HEADER_SIZE, off = 0;

	memcpy(out, MAGIC, MAGIC_SIZE);
	le32(out + 8, HT_SNAPSHOT_VERSION);
	le32(out + 12, 0);
	le64(out + 16, len);
	le32(out + n, ZSTD_MAGIC);
	out[n + 4] = 0xE4; /* 8-byte content size, single segment, checksum */
	le64(out + n + 5, len);
	n += 13;
	do {
		size_t k = len - off > ZSTD_BLOCK ? ZSTD_BLOCK : len - off;
		uint32_t bh = (uint32_t)k << 3 | (off + k == len); /* raw block, last? */

		out[n] = (unsigned char)bh;
		out[n + 1] = (unsigned char)(bh >> 8);
		out[n + 2] = (unsigned char)(bh >> 16);
		memcpy(out + n + 3, body + off, k);
		n += 3 + k;
		off += k;
	} while (off < len);
	le32(out + n, (uint32_t)xxh64(body, len));
	return n + 4;
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
	while (len) {
		ssize_t r = write(fd, p, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* A new temporary file next to path, named as lib/fileio.c names its own
 * (".NAME.ht-tmp-PID-0-XXXXXX"), in tmp (cap bytes). Returns its fd or -1. */
static int open_temp(const char *path, char *tmp, size_t cap)
{
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path) + 1 : 0, i, fd = -1, tries;
	struct timespec ts;
	uint64_t x;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	x = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	for (tries = 0; tries < 100 && fd < 0; tries++) {
		char r[7];

		for (i = 0; i < 6; i++, x = x * 6364136223846793005ull + 1442695040888963407ull)
			r[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(x >> 33) % 36];
		r[6] = 0;
		if (snprintf(tmp, cap, "%.*s.%.100s.ht-tmp-%d-0-%s", dirlen, path, path + dirlen,
			     (int)getpid(), r) >= (int)cap) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 && errno != EEXIST)
			return -1;
	}
	return fd;
}

/* Writes the image to a temporary file next to path; its name in tmp. */
static int to_temp(const char *path, char *tmp, size_t cap, const unsigned char *img,
		   size_t len, const struct stat *old)
{
	int fd = open_temp(path, tmp, cap), e;

	if (fd < 0)
		return -1;
	if ((old && fchmod(fd, old->st_mode & 0777)) || write_all(fd, img, len) || close(fd)) {
		e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

/* The image in a file of path's directory that has no name yet
 * (O_TMPFILE): it gets one whole, by name_it, or never, and no temporary
 * name is made and removed. Returns its descriptor, or -1 (a file system
 * without them: the caller goes through a temporary file instead). */
static int unnamed(const char *path, const unsigned char *img, size_t len)
{
	char dir[HT_PATH_MAX];
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return -1;
	slash[slash == dir] = 0;
	fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (fd >= 0 && write_all(fd, img, len) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Names the file of unnamed(): never replacing what is at path. Returns
 * 0, or -1 with errno (EEXIST: the name is taken). */
static int name_it(int fd, const char *path)
{
	char proc[48];

	/* by the descriptor itself where that is allowed (with
	 * CAP_DAC_READ_SEARCH; newer kernels let the file's opener): no
	 * path through /proc to look up, which costs a fresh process a few
	 * microseconds */
	if (linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno == EEXIST)
		return -1;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
}

/* Links the file at from (a temporary name) or, if from is NULL, the
 * unnamed file fd to path, never replacing. */
static int link_to(const char *from, int fd, const char *path)
{
	return from ? link(from, path) : name_it(fd, path);
}

/* A default name never replaces a file: NAME-1.heap, NAME-2.heap, ... when
 * taken (a link never replaces); the name used goes to path (cap bytes). */
static int save_unique(char *path, size_t cap, const unsigned char *img, size_t len)
{
	char tmp[HT_PATH_MAX + 64], base[HT_PATH_MAX];
	size_t n = strlen(path), stem;
	int k, e = 0, fd = unnamed(path, img, len);
	const char *from = fd >= 0 ? NULL : tmp;

	snprintf(base, sizeof(base), "%s", path);
	stem = n > 5 && !strcmp(path + n - 5, ".heap") && path[n - 6] != '/' ? n - 5 : n;
	if (fd < 0 && to_temp(path, tmp, sizeof(tmp), img, len, NULL) != 0)
		return -1;
	for (k = 1; k < 1000; k++) {
		if (link_to(from, fd, path) == 0)
			break;
		e = errno;
		if (e != EEXIST && !from) {
			/* no /proc to name it by: through a temporary name */
			close(fd);
			fd = -1;
			from = tmp;
			if (to_temp(path, tmp, sizeof(tmp), img, len, NULL) != 0)
				return -1;
			k--;
			continue;
		}
		if (e != EEXIST ||
		    snprintf(path, cap, "%.*s-%d%s", (int)stem, base, k, base + stem) >= (int)cap) {
			snprintf(path, cap, "%s", base);
			break;
		}
		e = 0;
	}
	if (from)
		unlink(tmp);
	else
		close(fd);
	errno = e;
	return e || k == 1000 ? -1 : 0;
}

/* A name the user gave: a regular file (or none) is replaced atomically; a
 * device or a FIFO, or what a link of ours or root's leads to, is written
 * in place; anything else is refused. */
static int save_named(const char *path, const unsigned char *img, size_t len)
{
	char tmp[HT_PATH_MAX + 64];
	struct stat st, to;
	int follow, fd, e;

	if (lstat(path, &st) != 0) {
		if (errno != ENOENT)
			return -1;
		fd = unnamed(path, img, len);
		if (fd >= 0) {
			e = name_it(fd, path);
			close(fd);
			if (e == 0)
				return 0;
		}
		if (to_temp(path, tmp, sizeof(tmp), img, len, NULL) != 0)
			return -1;
		goto rename_it;
	}
	if (S_ISREG(st.st_mode)) {
		if (to_temp(path, tmp, sizeof(tmp), img, len, &st) != 0)
			return -1;
		goto rename_it;
	}
	follow = S_ISLNK(st.st_mode);
	if (follow && ((st.st_uid != geteuid() && st.st_uid != 0) || stat(path, &to) != 0 ||
		       S_ISDIR(to.st_mode) || S_ISSOCK(to.st_mode))) {
		errno = follow && st.st_uid != geteuid() && st.st_uid != 0 ? EPERM :
			errno ? errno : EISDIR;
		return -1;
	}
	if (!follow && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode) && !S_ISFIFO(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		return -1;
	}
	fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
	if (fd < 0)
		return -1;
	if ((fstat(fd, &to) == 0 && S_ISREG(to.st_mode) && ftruncate(fd, 0) != 0) ||
	    write_all(fd, img, len) != 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return close(fd);
rename_it:
	if (rename(tmp, path) != 0) {
		e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

/* said at start that the directory cannot be written: not again at the end */
static int said_unwritable;

void ht_final_check_dir(const char *output)
{
	char dir[HT_PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", output);
	slash = strrchr(dir, '/');
	if (!slash)
		return;
	slash[slash == dir] = 0;
	if (access(dir, W_OK | X_OK) != 0) {
		ht_say("cannot write the snapshot '%s': directory '%s': %s; the profile will be lost",
		       output, dir, strerror(errno));
		said_unwritable = 1;
	}
}

int ht_final_dir_said(void)
{
	return said_unwritable;
}

/* The body and the image. Only the pages written are ever in memory; a
 * mapping of their own cost more than the rest of the write. A process
 * writes its final snapshot once (ht_lazy_end), but an exec that failed in
 * one thread can let another write while the first still does: that one
 * maps its own. */
static unsigned char image_mem[BODY_CAP + IMAGE_CAP];
static int image_busy;

int ht_final_write(const char *output, int is_default, int cut_short, char *used, size_t cap)
{
	struct ht_shm *h = ht_core.shm;
	struct body b = { 0 };
	char path[HT_PATH_MAX], rec[HT_PATH_MAX + 600];
	unsigned char *mem = image_mem;
	int taken = __atomic_exchange_n(&image_busy, 1, __ATOMIC_ACQUIRE);
	uint32_t flags = HT_SNAP_FINAL | (cut_short ? HT_SNAP_CUT_SHORT : 0) |
			 (h->rate <= 1 ? HT_SNAP_EXACT : 0) | (h->untraced[0] ? HT_SNAP_UNTRACED : 0);
	size_t len;
	int rc, e = errno;

	if (taken) {
		mem = mmap(NULL, BODY_CAP + IMAGE_CAP, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED)
			return -1;
	}
	b.p = mem;
	make_body(&b, h, flags);
	len = make_image(mem + BODY_CAP, mem, b.n);
	snprintf(path, sizeof(path), "%s", output);
	if (is_default)
		rc = save_unique(path, sizeof(path), mem + BODY_CAP, len);
	else
		rc = save_named(path, mem + BODY_CAP, len);
	if (taken)
		munmap(mem, BODY_CAP + IMAGE_CAP);
	else
		__atomic_store_n(&image_busy, 0, __ATOMIC_RELEASE);
	ht_spawn_record('S', "");
	if (h->untraced[0])
		ht_spawn_record('U', h->untraced);
	if (rc == 0) {
		if (strcmp(path, output))
			ht_say("'%s' exists; snapshot written to '%s'", output, path);
		snprintf(used, cap, "%s", path);
		snprintf(rec, sizeof(rec), "%s %s", cut_short ? "cut" : "exit", path);
		ht_spawn_record('F', rec);
	} else {
		snprintf(rec, sizeof(rec), "cannot write '%s': %s", path, strerror(errno));
		if (!said_unwritable)
			ht_say("%s", rec);
		ht_spawn_record('E', rec);
	}
	errno = e;
	return rc;
}
