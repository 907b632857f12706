/* The on-disk layout of a .heap file, as heaptrace(5) describes it: the
 * header, the section tags, the sizes of fixed sections and records, and
 * the little-endian accessors. Internal to collector/snapshot: the encoder
 * and the decoder include it; nothing else should. */
#ifndef HT_SNAPSHOT_FORMAT_H
#define HT_SNAPSHOT_FORMAT_H

#include <stdint.h>
#include <string.h>

#include "snapshot/snapshot.h"

/* "\211HEAPTR\n": the first bytes of every file */
#define MAGIC        "\x89" "HEAPTR\n"
#define MAGIC_SIZE   8
#define HEADER_SIZE  24 /* magic, u32 version, u32 flags, u64 body size */
#define SECTION_HEAD 16 /* u32 tag, u32 reserved, u64 payload length */
#define ZSTD_LEVEL   3

enum {
	SEC_STRINGS = 1,
	SEC_META,
	SEC_COUNTS,
	SEC_DROPS,
	SEC_METRICS,
	SEC_MODULES,
	SEC_FUNCTIONS,
	SEC_LINES,
	SEC_LOCATIONS,
	SEC_FRAMES,
	SEC_STACKS,
	SEC_STACK_ERROR,
	SEC_NOTE,
	SEC_PEAK,
	SEC_TEMP,       /* version 2: temporary blocks, sparse by stack */
	SEC_CELLS,      /* version 2: histograms by time and size (struct ht_cell) */
	SEC_MAX
};

/* Fixed payload sizes, and record sizes of the array sections. */
#define META_SIZE     56
#define COUNTS_SIZE   32
#define DROPS_SIZE    40
#define METRIC_SIZE   16
#define MODULE_SIZE   64
#define FUNCTION_SIZE 12
#define LINE_SIZE     8
#define LOCATION_SIZE 24
#define FRAME_SIZE    4
#define STACK_SIZE    56
#define STACK_ERROR_SIZE 88
#define PEAK_HEAD     8  /* i64 peak_time_ns, then an array of PEAK_SIZE records */
#define PEAK_SIZE     24
#define TEMP_SIZE     48 /* u32 stack, u32 0, f64 objects, space, var x2, u64 samples */
#define CELL_SIZE     48 /* u32 stack, u8 kind, u8 bucket, u16 0, f64 x4, u64 samples */

/* Bytes counted for a frame name beyond its strings: the line number, the
 * address, separators (see name_bytes in decode.c). */
#define NAME_EXTRA 32

/* Every index is a u32 and HT_NONE is reserved, so no array may hold more. */
#define MAX_ELEMS ((size_t)HT_NONE - 1)

static inline void le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static inline void le64(unsigned char *p, uint64_t v)
{
	le32(p, (uint32_t)v);
	le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t rd64(const unsigned char *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static inline double rdf64(const unsigned char *p)
{
	uint64_t u = rd64(p);
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static inline uint64_t f64bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

#endif
