/* The in-memory heap profile and its file form (*.heap, see heaptrace(5)).
 * A snapshot is a pprof-shaped profile: stacks of locations, each location an
 * address in a module with one or more source lines (inlined calls), each line
 * naming a function. Everything a snapshot points to is owned by it. */
#ifndef HT_SNAPSHOT_H
#define HT_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/fileio.h" /* enum ht_file_name */

#define HT_SNAPSHOT_VERSION 2
#define HT_NONE UINT32_MAX /* "no index": a location outside any module, etc. */

/* What a reader accepts (heaptrace(5), VALIDATION). A snapshot from
 * elsewhere is hostile input: the memory and work it may cost are bounded
 * by absolute limits and by the size of the file. */
#define HT_SNAPSHOT_MAX_FILE  (1ull << 30) /* bytes of a .heap file */
#define HT_SNAPSHOT_MAX_BODY  (1ull << 30) /* bytes of its decompressed body */
#define HT_SNAPSHOT_BODY_FREE (1ull << 20) /* body bytes any file may have ... */
#define HT_SNAPSHOT_BODY_RATIO 1024        /* ... and this many per file byte */
#define HT_SNAPSHOT_MAX_VALUE 9223372036854775808.0 /* 2^63: counters, |metrics| */
#define HT_SNAPSHOT_NAMES_FREE (1ull << 26) /* bytes of names any file may have ... */
#define HT_SNAPSHOT_NAMES_RATIO 4096        /* ... and this many per file byte, */
#define HT_SNAPSHOT_MAX_NAMES (1ull << 32)  /* up to this many */

/* snapshot flags */
#define HT_SNAP_FINAL     0x1u /* written when the program ended */
#define HT_SNAP_CUT_SHORT 0x2u /* the program ended without a clean exit (_exit, signal) */
#define HT_SNAP_EXACT     0x4u /* rate 1: every allocation recorded, no estimates */
#define HT_SNAP_PEAK      0x8u /* the peak snapshot (HEAPTRACE_PEAK) */
#define HT_SNAP_UNTRACED  0x10u /* the program's malloc was not the shim's: nothing
				  * reached it; note says why */

#define HT_NOTE_LIMIT 4096 /* longest note a snapshot carries, in bytes */

/* Exact counts of every call, sampled or not, summed over all threads. */
struct ht_counts {
	uint64_t alloc_calls;   /* blocks handed out (malloc, calloc, memalign family, realloc's new block) */
	uint64_t free_calls;    /* blocks released (free of non-NULL, realloc's old block) */
	uint64_t realloc_calls; /* realloc and reallocarray calls */
	uint64_t alloc_bytes;   /* bytes requested by the allocating calls */
};

/* What could not be recorded. Nothing is lost without being counted here. */
struct ht_drops {
	uint64_t alloc_events;  /* sampled allocations not written: ring full */
	uint64_t free_events;   /* frees of sampled blocks not written: ring full */
	uint64_t other_events;  /* module and control events not written */
	uint64_t arena_full;    /* sampled allocations served unsampled: sample arena full */
	uint64_t unmatched;     /* collector: FREE with no live block, or ALLOC over a live block */
};

/* A named number, for statistics that grow over time (RSS, allocator stats). */
struct ht_metric {
	const char *name;
	double value;
};

struct ht_module {
	const char *path;      /* as loaded; "" if unknown */
	uint64_t start, end;   /* mapped address range [start, end) */
	uint64_t bias;         /* load bias: file address = address - bias */
	uint8_t build_id[32];
	uint32_t build_id_len; /* 0 if none */
};

struct ht_function {
	const char *name;        /* demangled name for display */
	const char *system_name; /* raw (mangled) symbol name; may equal name */
	const char *file;        /* source file, "" if unknown */
};

struct ht_line {
	uint32_t function; /* index into functions */
	uint32_t line;     /* 0 if unknown */
};

/* One address in the traced process. lines[first_line .. first_line+nlines)
 * are innermost first: an address inside an inlined call has the callee's
 * line first and the caller's last. nlines may be 0 (unsymbolized). */
struct ht_location {
	uint64_t address;   /* absolute address in the traced process */
	uint32_t module;    /* index into modules, or HT_NONE */
	uint32_t first_line;
	uint32_t nlines;
};

/* One allocation stack with its counters. frames[first_frame ..
 * first_frame+nframes) are location indices, leaf (the allocating call) first. */
/* The sampling error of a stack (sampling.c): sums over its samples,
 * kept by the collector, absent from files before them. A sample of a
 * block of b bytes stands for w = 1/P(b) objects, P(b) = 1 - e^(-b/rate). */
struct ht_stack_error {
	double var[4];          /* by enum ht_index: sum of w(w-1) (objects) or
				 * b^2 w(w-1) (bytes): the unbiased variance */
	double share_objects;   /* the largest w - 1 */
	double share_space;     /* the largest b (w - 1) */
	uint64_t min_size;      /* the smallest and largest blocks sampled */
	uint64_t max_size;
	uint64_t lump_size;     /* the largest block sampled with P(b) > 1/2 (0: none) */
	double lump_mass;       /* over such blocks: the sum of w - 1 (blocks of */
	double lump_one;        /* their kind missed, estimated) and its largest term */
};

struct ht_stack {
	uint32_t first_frame;
	uint32_t nframes;
	double inuse_objects, inuse_space; /* unbiased estimates */
	double alloc_objects, alloc_space;
	uint64_t inuse_samples, alloc_samples; /* raw sample counts behind them */
	struct ht_stack_error err; /* valid when the snapshot's stack_error is set */
	/* in use at the process's peak (see ht_snapshot.peak_time_ns) */
	double peak_objects, peak_space;
	uint64_t peak_samples;
	/* temporary blocks (heaptrack's sense): freed before the thread that
	 * made them made any other allocation; unbiased, like the others */
	double temp_objects, temp_space;
	uint64_t temp_samples;
	double temp_var[2];        /* sum of w(w-1) and of b^2 w(w-1) over them */
	/* this stack's run of cells (time and size histograms), see
	 * ht_snapshot_add_cell; ncells 0 when there are none */
	uint32_t first_cell, ncells;
};

/* Histograms by time and by size, per stack ("cells"): each cell is one
 * bucket of one kind at one stack, its figures unbiased estimates like a
 * stack's (a sample of b bytes counts w = 1/P(b) objects, w b bytes) with
 * the sums behind their sampling error. */
enum ht_cell_kind {
	HT_CELL_LIFE = 1, /* blocks freed, by lifetime (time from allocation to free) */
	HT_CELL_AGE = 2,  /* blocks in use when the snapshot was taken, by age */
	HT_CELL_SIZE = 3, /* blocks allocated, by requested size */
};

/* Time buckets, shared by lifetimes and ages: bucket 0 holds t < 1 us;
 * bucket k (1..30) holds ht_time_edge_ns(k) <= t < ht_time_edge_ns(k+1),
 * the edges going 1, 2, 5, 10, 20, 50 ... us (bucket 10 starts at 1 ms,
 * 19 at 1 s); bucket 31 holds t >= 1e10 us (2.8 h). */
#define HT_TIME_BUCKETS 32
/* Size buckets: bucket 0 holds size 0, bucket k (1..64) sizes in
 * [2^(k-1), 2^k - 1]. */
#define HT_SIZE_BUCKETS 65

struct ht_cell {
	uint32_t stack;   /* index into stacks */
	uint8_t kind;     /* enum ht_cell_kind */
	uint8_t bucket;   /* < HT_TIME_BUCKETS or HT_SIZE_BUCKETS by kind */
	uint16_t pad;
	double objects, space;         /* unbiased estimates */
	double var_objects, var_space; /* sums of w(w-1) and of b^2 w(w-1) */
	uint64_t samples;              /* raw samples behind them */
};

/* The lower edge of time bucket k (1..31) in nanoseconds: 1000, 2000,
 * 5000, 10000, ...; 0 for bucket 0. */
uint64_t ht_time_edge_ns(unsigned k);
/* The time bucket of t nanoseconds. */
unsigned ht_time_bucket(uint64_t t_ns);
/* The size bucket of a request of size bytes. */
unsigned ht_size_bucket(uint64_t size);

struct ht_snapshot {
	uint32_t version;
	uint32_t flags;            /* HT_SNAP_* */
	int64_t pid;
	const char *exe;           /* executable path */
	const char *cmdline;       /* arguments joined by single spaces */
	int64_t start_time_ns;     /* program start, Unix epoch nanoseconds */
	int64_t time_ns;           /* when the snapshot was taken */
	uint64_t rate;             /* mean sampling interval in bytes; 1 = every allocation */
	uint32_t max_depth;        /* frames recorded at most per stack */
	uint32_t seq;              /* snapshot number within this process (0 = final) */
	int stack_error;           /* the stacks carry their error sums (section stack error) */
	const char *note;          /* one line the reader must see (why nothing was
				    * traced), or NULL; owned by the snapshot */
	int64_t peak_time_ns;      /* when in-use memory was highest so far, the
				    * peak_* counters of the stacks; 0 = no peak
				    * profile (files before it existed) */
	struct ht_counts counts;
	struct ht_drops drops;

	struct ht_metric *metrics;     size_t nmetrics;
	struct ht_module *modules;     size_t nmodules;
	struct ht_function *functions; size_t nfunctions;
	struct ht_line *lines;         size_t nlines;
	struct ht_location *locations; size_t nlocations;
	uint32_t *frames;              size_t nframes;
	struct ht_stack *stacks;       size_t nstacks;
	/* sorted by (stack, kind, bucket), each triple at most once; has_cells
	 * says the file carries them (files before them do not) */
	struct ht_cell *cells;         size_t ncells;
	int has_cells;

	struct ht_snapshot_pool *pool; /* owns strings and arrays (private) */
};

/* Allocates an empty snapshot (version set, everything else zero). Returns NULL
 * on out-of-memory. Free with ht_snapshot_free. */
struct ht_snapshot *ht_snapshot_new(void);

/* Frees the snapshot and everything it owns. NULL is fine. */
void ht_snapshot_free(struct ht_snapshot *s);

/* Returns a copy of str owned by s (equal strings may share storage), or NULL
 * on out-of-memory. */
const char *ht_snapshot_strdup(struct ht_snapshot *s, const char *str);

/* Appenders: each copies *x (strings must already be owned by s, see
 * ht_snapshot_strdup) into the matching array and returns its index, or
 * HT_NONE on out-of-memory. add_frames appends n location indices and returns
 * the index of the first. add_metric stores a value beyond +-2^63 as
 * +-2^63, the most a file holds (NaN stays NaN, which the encoder refuses). */
uint32_t ht_snapshot_add_metric(struct ht_snapshot *s, const char *name, double value);

/* The value of the first metric called name in s, into *v: 1, or 0 if s
 * (which may be NULL) has none. */
int ht_snapshot_metric(const struct ht_snapshot *s, const char *name, double *v);
uint32_t ht_snapshot_add_module(struct ht_snapshot *s, const struct ht_module *x);
uint32_t ht_snapshot_add_function(struct ht_snapshot *s, const struct ht_function *x);
uint32_t ht_snapshot_add_line(struct ht_snapshot *s, const struct ht_line *x);
uint32_t ht_snapshot_add_location(struct ht_snapshot *s, const struct ht_location *x);
uint32_t ht_snapshot_add_frames(struct ht_snapshot *s, const uint32_t *locs, size_t n);
uint32_t ht_snapshot_add_stack(struct ht_snapshot *s, const struct ht_stack *x);
/* Appends a cell to the stack x->stack (which must exist), keeping the
 * order: cells come in (stack, kind, bucket) order, each triple once; one
 * out of order is refused (HT_NONE). Sets the stack's first_cell and
 * ncells, and s->has_cells. */
uint32_t ht_snapshot_add_cell(struct ht_snapshot *s, const struct ht_cell *x);

/* Serializes s into a complete .heap file image in a malloc'd buffer (*buf,
 * *len; the caller frees it). Returns 0, or -1 with a message in err. */
int ht_snapshot_encode(const struct ht_snapshot *s, void **buf, size_t *len,
		       char *err, size_t errlen);

/* Parses and validates a .heap file image. Every index and length is checked,
 * so a snapshot that decodes is safe to walk, and its size is checked against
 * the limits above, so that rendering it in any format costs time and memory
 * linear in len: the stacks own their frames (their runs of frames add up
 * to no more than the frames section holds), and writing out every frame
 * name of every stack, counting each name generously (the longer of a
 * function's two names, its file, and 32 bytes for the line, address and
 * separators), and each location, function, module and metric name once,
 * takes at most HT_SNAPSHOT_NAMES_FREE + HT_SNAPSHOT_NAMES_RATIO * len
 * bytes, and never more than HT_SNAPSHOT_MAX_NAMES. Returns 0 and *out, or
 * -1 with a one-line reason in err (e.g. "not a heaptrace snapshot",
 * "truncated snapshot", "unsupported snapshot version 9", "snapshot too
 * large: ..."). Never crashes on any input. */
int ht_snapshot_decode(const void *buf, size_t len, struct ht_snapshot **out,
		       char *err, size_t errlen);

/* Encodes s and writes it to path as ht_file_write (lib/fileio.h) does: a
 * regular file is replaced atomically, a device or FIFO written in place.
 * Returns 0, or -1 with err set ("cannot write 'x.heap': No space left on
 * device"). */
int ht_snapshot_write_file(const struct ht_snapshot *s, const char *path,
			   char *err, size_t errlen);

/* Encodes s and writes it by the output policy, ht_file_save: a name the
 * user gave (HT_FILE_NAMED) is replaced, "-" is standard output; a default
 * name (HT_FILE_DEFAULT) never replaces a file, and the name used goes to
 * used (usedcap bytes; it may be path itself). Returns 0, or -1 with err
 * set ("cannot write 'x.heap': ..."). */
int ht_snapshot_save(const struct ht_snapshot *s, const char *path, enum ht_file_name how,
		     char *used, size_t usedcap, char *err, size_t errlen);

/* Reads and decodes path. The header is checked before the rest is read,
 * and no more is read than the header's body size can justify (at most
 * HT_SNAPSHOT_MAX_FILE bytes), so a device or an endless pipe is refused.
 * Returns 0 and *out, or -1 with err set ("cannot open 'x.heap': No such
 * file or directory", "'x.heap': truncated snapshot"). */
int ht_snapshot_read_file(const char *path, struct ht_snapshot **out,
			  char *err, size_t errlen);

/* Reads paths[0..n) into out[0..n) as ht_snapshot_read_file does, two at
 * a time (a thread takes every other file: reading, inflating and checking
 * are most of a diff's time, each file's apart). Returns 0, or -1 with err
 * set by the first file in order that failed and no snapshot left. */
int ht_snapshot_read_files(const char *const *paths, size_t n, struct ht_snapshot **out,
			   char *err, size_t errlen);

/* The blocks the program holds by the exact counts: allocating calls minus
 * frees, signed. It is negative when the process freed more blocks than it
 * was seen to allocate: blocks allocated before tracing began (those a
 * child traced with HEAPTRACE_FOLLOW_FORK inherited from its parent). */
int64_t ht_snapshot_live_objects(const struct ht_snapshot *s);

/* One of a stack's counters: the four of pprof, and the temporary blocks
 * (temp_space, temp_objects; 0 in files before them, see has_cells). */
enum ht_index { HT_INUSE_SPACE, HT_INUSE_OBJECTS, HT_ALLOC_SPACE, HT_ALLOC_OBJECTS,
		HT_TEMP_SPACE, HT_TEMP_OBJECTS };
#define HT_NINDEX 6
double ht_stack_value(const struct ht_stack *st, enum ht_index which);

/* Wraps a raw body (the sections of heaptrace(5), unchecked) in a header and
 * a zstd frame, as ht_snapshot_encode does. Returns 0 and a malloc'd image,
 * or -1 with err set. Used in unit tests, to build bodies the encoder would
 * refuse to write. */
int ht_snapshot_wrap_body(const void *body, size_t bodylen, void **buf, size_t *len,
			  char *err, size_t errlen);

#endif
