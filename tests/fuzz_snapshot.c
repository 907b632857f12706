/* libFuzzer target for the snapshot reader: any input must decode or fail
 * with a message, never crash, leak or read out of bounds. Build with
 *   clang -fsanitize=fuzzer,address -I. -Icollector tests/fuzz_snapshot.c \
 *         collector/snapshot/{model,encode,decode,file}.c collector/lib/util.c collector/lib/fileio.c -lzstd -lm
 * A raw input is tried twice: as a whole file, and as a body wrapped in a
 * valid header and zstd frame, so mutations reach the section parser. */
#include "snapshot/snapshot.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch(const struct ht_snapshot *s)
{
	volatile size_t sum = strlen(s->exe) + strlen(s->cmdline);
	size_t i, j, k;

	for (i = 0; i < s->nstacks; i++) {
		const struct ht_stack *st = &s->stacks[i];

		for (j = 0; j < st->nframes; j++) {
			const struct ht_location *l = &s->locations[s->frames[st->first_frame + j]];

			if (l->module != HT_NONE)
				sum += strlen(s->modules[l->module].path);
			for (k = 0; k < l->nlines; k++)
				sum += strlen(s->functions[s->lines[l->first_line + k].function].file);
		}
	}
	(void)sum;
}

static void try_decode(const void *buf, size_t len)
{
	struct ht_snapshot *s;
	char err[256];

	if (ht_snapshot_decode(buf, len, &s, err, sizeof(err)) == 0) {
		touch(s);
		ht_snapshot_free(s);
	} else if (!err[0]) {
		abort(); /* a failure must say why */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	void *img;
	size_t len;

	try_decode(data, size);
	if (ht_snapshot_wrap_body(data, size, &img, &len, err, sizeof(err)) == 0) {
		try_decode(img, len);
		free(img);
	}
	return 0;
}
