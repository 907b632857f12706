/* The one hash of the collector and the tools: FNV-1a over bytes, and a
 * 64-bit finalizer (MurmurHash3's fmix64) that spreads it, or any key
 * (an address, an id), over every bit. Inline: the daemon hashes each
 * event's address. For table slots only; never written to a file. */
#ifndef HT_HASH_H
#define HT_HASH_H

#include <stddef.h>
#include <stdint.h>
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

#endif
