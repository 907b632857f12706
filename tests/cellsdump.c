/* Prints what a snapshot holds of each stack's time and size histograms
 * and temporary blocks, one line each, for the end-to-end tests (tests/
 * t_life.sh) to read with awk. Usage: cellsdump FILE. Lines:
 *   stack I NAMES temp OBJECTS SPACE SAMPLES VAR_OBJECTS VAR_SPACE
 *   cell I KIND BUCKET OBJECTS SPACE SAMPLES VAR_OBJECTS VAR_SPACE
 * NAMES: the stack's function names, leaf first, joined by ';' ('?' for
 * an unsymbolized frame); KIND: life, age or size. */
#include "snapshot/snapshot.h"

#include <stdio.h>

static void put_names(const struct ht_snapshot *s, const struct ht_stack *st)
{
	for (uint32_t k = 0; k < st->nframes; k++) {
		const struct ht_location *l = &s->locations[s->frames[st->first_frame + k]];
		const char *name = "?";

		if (l->nlines)
			name = s->functions[s->lines[l->first_line].function].name;
		printf("%s%s", k ? ";" : "", name);
	}
	if (!st->nframes)
		printf("-");
}

int main(int argc, char **argv)
{
	static const char *const kind[] = { "", "life", "age", "size" };
	struct ht_snapshot *s;
	char err[512];

	if (argc != 2) {
		fprintf(stderr, "usage: cellsdump FILE\n");
		return 2;
	}
	if (ht_snapshot_read_file(argv[1], &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "cellsdump: %s\n", err);
		return 1;
	}
	printf("version %u cells %s\n", s->version, s->has_cells ? "yes" : "no");
	for (size_t i = 0; i < s->nstacks; i++) {
		const struct ht_stack *st = &s->stacks[i];

		printf("stack %zu ", i);
		put_names(s, st);
		printf(" temp %.17g %.17g %llu %.17g %.17g\n", st->temp_objects, st->temp_space,
		       (unsigned long long)st->temp_samples, st->temp_var[0], st->temp_var[1]);
		for (uint32_t k = 0; k < st->ncells; k++) {
			const struct ht_cell *c = &s->cells[st->first_cell + k];

			printf("cell %zu %s %u %.17g %.17g %llu %.17g %.17g\n", i, kind[c->kind],
			       c->bucket, c->objects, c->space, (unsigned long long)c->samples,
			       c->var_objects, c->var_space);
		}
	}
	ht_snapshot_free(s);
	return 0;
}
