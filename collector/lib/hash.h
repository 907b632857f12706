/* The one hash of the collector and the tools: FNV-1a over bytes, and a
 * 64-bit finalizer (MurmurHash3's fmix64) that spreads it, or any key
 * (an address, an id), over every bit; and the index table of ids that
 * the tables over arrays probe. Inline: the daemon hashes each event's
 * address. For table slots only; never written to a file. */
#ifndef HT_HASH_H
#define HT_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* x with every input bit spread over the whole result (a bijection). */
static inline uint64_t ht_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* The plain FNV-1a hash of n bytes at p: weak in its low bits, so use
 * ht_hash_bytes for slots; kept for what must stay as it was (the flame
 * graph's colour of a name). */
static inline uint64_t ht_fnv1a(const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ull;
	return h;
}

/* The hash of n bytes at p, and of the string s: FNV-1a, then mixed. */
static inline uint64_t ht_hash_bytes(const void *p, size_t n)
{
	return ht_mix64(ht_fnv1a(p, n));
}

static inline uint64_t ht_hash_str(const char *s)
{
	return ht_hash_bytes(s, strlen(s));
}

/* An index table: a power of two of slots, each 0 (empty) or an id + 1,
 * probed linearly from the id's hash; kept at most half full by rebuilding
 * it from the hashes of the ids.
 * ht_slots_new: a new empty table of at least want slots (and 64), its
 * size - 1 in *mask; NULL on OOM.
 * ht_slots_put: puts id, not in the table yet, where its hash h leads. */
static inline uint32_t *ht_slots_new(size_t want, size_t *mask)
{
	size_t size = 64;
	uint32_t *slots;

	while (size < want && size <= SIZE_MAX / 8)
		size *= 2;
	slots = calloc(size, sizeof(uint32_t));
	if (slots)
		*mask = size - 1;
	return slots;
}

static inline void ht_slots_put(uint32_t *slots, size_t mask, uint64_t h, uint32_t id)
{
	size_t j = (size_t)h & mask;

	while (slots[j])
		j = (j + 1) & mask;
	slots[j] = id + 1;
}

#endif
