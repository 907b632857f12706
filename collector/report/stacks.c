/* Aggregation by name: the stacks of one or more snapshots keyed by their
 * frame names (interned), with their four counters summed, the --focus and
 * --ignore filters applied, and each stack's sampling error made from what
 * each side added. */
#include "report/report_int.h"
#include "lib/hash.h"
#include "lib/util.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Rebuilds the stacks' slots, 4*nst or more of them, from their hashes. */
static void rehash_stacks(struct ht_report_stacks *a)
{
	free(a->st_slots);
	a->st_slots = ht_slots_new(4 * a->nst, &a->st_mask);
	if (!a->st_slots)
		ht_die(2, "out of memory");
	for (size_t i = 0; i < a->nst; i++)
		ht_slots_put(a->st_slots, a->st_mask, a->st[i].hash, (uint32_t)i);
}

/* The id of name (len bytes, its first head of them the name's first
 * part), added if new, with its length, whether it holds a ';'
 * (collapsed.c's quick path) and its first part's length kept by id. */
static uint32_t intern(struct ht_report_stacks *a, const char *name, size_t len, size_t head)
{
	size_t n = a->names.n, cap = a->names_cap;
	uint32_t id = ht_strtab_xintern(&a->names, name, len);

	if (a->names.n == n)
		return id;
	a->name_len = ht_xgrow(a->name_len, &cap, a->names.n, sizeof(uint32_t));
	cap = a->names_cap;
	a->name_head = ht_xgrow(a->name_head, &cap, a->names.n, sizeof(uint32_t));
	a->name_match = ht_xgrow(a->name_match, &a->names_cap, a->names.n, 1);
	a->name_len[id] = (uint32_t)(len & HT_NAME_LEN) | (memchr(name, ';', len) ? HT_NAME_SEMI : 0);
	a->name_head[id] = (uint32_t)((head < len ? head : len) & HT_NAME_LEN);
	a->name_match[id] = 0;
	return id;
}

_Static_assert(sizeof(struct agg_stack) <= 512, "a stack of an aggregation stays small: a diff "
	       "of 110,000 stacks writes every byte of each");

/* The counter whose errors bound those of w in a diff within one run
 * (same_run_err): an in-use one's allocated one, the others' in-use one. */
static enum ht_index partner(enum ht_index w)
{
	int bytes = ht_report_is_bytes(w);

	if (w == HT_INUSE_SPACE || w == HT_INUSE_OBJECTS)
		return bytes ? HT_ALLOC_SPACE : HT_ALLOC_OBJECTS;
	return bytes ? HT_INUSE_SPACE : HT_INUSE_OBJECTS;
}

struct ht_report_stacks *ht_report_stacks_new(const struct ht_naming *nm, enum ht_index index)
{
	struct ht_report_stacks *a = ht_xcalloc(1, sizeof(*a));

	a->naming = *nm;
	memset(a->kept, -1, sizeof(a->kept));
	a->kept[index] = 0; /* the one err[] holds once finished */
	a->kept[partner(index)] = 1;
	a->shown = index;
	rehash_stacks(a);
	return a;
}

void ht_report_stacks_free(struct ht_report_stacks *a)
{
	if (!a)
		return;
	if (a->has_focus)
		regfree(&a->focus);
	if (a->has_ignore)
		regfree(&a->ignore);
	ht_hide_free(&a->hide);
	ht_strtab_free(&a->names);
	free(a->name_len);
	free(a->name_head);
	free(a->name_match);
	free(a->ids);
	free(a->st);
	free(a->st_slots);
	free(a);
}

int ht_report_regcomp(regex_t *rx, const char *opt, const char *re, char *err, size_t errlen)
{
	int rc = regcomp(rx, re, REG_EXTENDED | REG_NOSUB);
	char why[256];

	if (rc == 0)
		return 0;
	regerror(rc, rx, why, sizeof(why));
	return ht_fail(err, errlen, "invalid %s regex '%s': %s", opt, re, why);
}

int ht_report_stacks_filter(struct ht_report_stacks *a, const char *focus,
			    const char *ignore, char *err, size_t errlen)
{
	if (focus) {
		if (ht_report_regcomp(&a->focus, "--focus", focus, err, errlen))
			return -1;
		a->has_focus = 1;
	}
	if (ignore) {
		if (ht_report_regcomp(&a->ignore, "--ignore", ignore, err, errlen))
			return -1;
		a->has_ignore = 1;
	}
	return 0;
}

/* name_match bits: each name is matched once */
#define M_DONE 1
#define M_FOCUS 2
#define M_IGNORE 4

static unsigned match_name(struct ht_report_stacks *a, uint32_t id)
{
	unsigned m = a->name_match[id];

	if (!(m & M_DONE)) {
		m = M_DONE;
		if (a->has_focus && regexec(&a->focus, a->names.str[id], 0, NULL, 0) == 0)
			m |= M_FOCUS;
		if (a->has_ignore && regexec(&a->ignore, a->names.str[id], 0, NULL, 0) == 0)
			m |= M_IGNORE;
		a->name_match[id] = (unsigned char)m;
	}
	return m;
}

/* pprof's semantics: a stack is shown if a frame matches focus (or there
 * is no focus) and no frame matches ignore. */
static int filtered_out(struct ht_report_stacks *a, const uint32_t *key, uint32_t n)
{
	unsigned all = 0;

	if (!a->has_focus && !a->has_ignore)
		return 0;
	for (uint32_t k = 0; k < n; k++)
		all |= match_name(a, key[k]);
	return (a->has_focus && !(all & M_FOCUS)) || (all & M_IGNORE);
}

/* Finds or appends the stack key[0..n) and returns its index. */
static size_t find_stack(struct ht_report_stacks *a, const uint32_t *key, uint32_t n)
{
	uint64_t h = ht_hash_bytes(key, n * sizeof(uint32_t));
	struct agg_stack *st;
	size_t j;

	for (j = h & a->st_mask; a->st_slots[j]; j = (j + 1) & a->st_mask) {
		st = &a->st[a->st_slots[j] - 1];
		if (st->hash == h && st->n == n &&
		    memcmp(a->ids + st->first, key, n * sizeof(uint32_t)) == 0)
			return a->st_slots[j] - 1;
	}
	a->ids = ht_xgrow(a->ids, &a->ids_cap, a->nids + n, sizeof(uint32_t));
	memcpy(a->ids + a->nids, key, n * sizeof(uint32_t));
	a->st = ht_xgrow(a->st, &a->st_cap, a->nst + 1, sizeof(*a->st));
	st = &a->st[a->nst];
	memset(st, 0, sizeof(*st));
	st->first = (uint32_t)a->nids;
	st->n = n;
	st->hash = h;
	st->hidden = filtered_out(a, key, n);
	a->nhidden += st->hidden != 0;
	a->nids += n;
	a->st_slots[j] = (uint32_t)++a->nst;
	if (2 * a->nst > a->st_mask)
		rehash_stacks(a);
	return a->nst - 1;
}

/* The frames of one snapshot's locations, each named once: frames of
 * location l are ids[first[l] ..], hid[] of each says whether --hide
 * takes it out (H_SHOWN, or hidden and already in the Hidden: line). */
struct loc_names {
	uint32_t *first, *ids;
	unsigned char *hid;
	size_t n, cap, hid_cap;
	char *name;
	size_t name_cap;
};

enum { H_SHOWN, H_HIDDEN, H_NOTED };

/* The index in ln->ids of location loc's first frame, naming it if new. */
static uint32_t name_location(struct ht_report_stacks *a, struct loc_names *ln,
			      const struct ht_snapshot *s, uint32_t loc)
{
	uint32_t nf = ht_report_location_nframes(&s->locations[loc]);
	size_t head;

	if (ln->first[loc] != HT_NONE)
		return ln->first[loc];
	ln->first[loc] = (uint32_t)ln->n;
	ln->ids = ht_xgrow(ln->ids, &ln->cap, ln->n + nf, sizeof(uint32_t));
	ln->hid = ht_xgrow(ln->hid, &ln->hid_cap, ln->n + nf, 1);
	for (uint32_t k = 0; k < nf; k++) {
		size_t len = ht_report_frame_name(s, loc, k, &a->naming, &ln->name,
						  &ln->name_cap, &head);

		ln->hid[ln->n] = ht_hide_frame(&a->hide, s, loc, k, &a->naming) ? H_HIDDEN : H_SHOWN;
		ln->ids[ln->n++] = intern(a, ln->name, len, head);
	}
	return ln->first[loc];
}

/* Frame k of location loc (its names at ln->ids[at]) is taken out of a
 * stack: the Hidden: line names it. */
static void hidden(struct ht_report_stacks *a, struct loc_names *ln, const struct ht_snapshot *s,
		   uint32_t loc, uint32_t k, uint32_t at)
{
	if (ln->hid[at] == H_NOTED)
		return;
	ln->hid[at] = H_NOTED;
	ht_hide_note(&a->hide, s, loc, k, &a->naming);
}

/* The key of stack st of s, leaf first, in *key (grown): its frames
 * without those --hide takes out, but the leaf when all are. Returns
 * its length, 0 for a stack without frames. */
static size_t stack_key(struct ht_report_stacks *a, struct loc_names *ln,
			const struct ht_snapshot *s, const struct ht_stack *st,
			uint32_t **key, size_t *key_cap)
{
	size_t n = 0;
	uint32_t leaf_loc = 0, leaf_at = HT_NONE;

	for (uint32_t f = 0; f < st->nframes; f++) {
		uint32_t loc = s->frames[st->first_frame + f];
		uint32_t nf = ht_report_location_nframes(&s->locations[loc]);
		uint32_t at = name_location(a, ln, s, loc);

		*key = ht_xgrow(*key, key_cap, n + nf, sizeof(uint32_t));
		for (uint32_t k = 0; k < nf; k++, at++) {
			if (ln->hid[at] == H_SHOWN) {
				(*key)[n++] = ln->ids[at];
			} else if (f == 0 && k == 0) {
				leaf_loc = loc;
				leaf_at = at; /* noted once the stack has other frames */
			} else {
				hidden(a, ln, s, loc, k, at);
			}
		}
	}
	if (leaf_at != HT_NONE && n == 0)
		(*key)[n++] = ln->ids[leaf_at];
	else if (leaf_at != HT_NONE)
		hidden(a, ln, s, leaf_loc, 0, leaf_at);
	return n;
}

size_t *ht_report_stacks_intern(struct ht_report_stacks *a, const struct ht_snapshot *s)
{
	struct loc_names ln = { 0 };
	uint32_t *key = NULL;
	size_t key_cap = 0;
	size_t *map = ht_xmalloc((s->nstacks + 1) * sizeof(size_t));
	uint32_t unknown = HT_NONE;

	ln.first = ht_xmalloc((s->nlocations + 1) * sizeof(uint32_t));
	for (size_t l = 0; l < s->nlocations; l++)
		ln.first[l] = HT_NONE;
	for (size_t i = 0; i < s->nstacks; i++) {
		size_t n = stack_key(a, &ln, s, &s->stacks[i], &key, &key_cap);

		if (n == 0) {
			if (unknown == HT_NONE)
				unknown = intern(a, "[unknown]", 9, 9);
			key = ht_xgrow(key, &key_cap, 1, sizeof(uint32_t));
			key[n++] = unknown;
		}
		map[i] = find_stack(a, key, (uint32_t)n);
	}
	free(ln.name);
	free(ln.hid);
	free(ln.ids);
	free(ln.first);
	free(key);
	return map;
}

void ht_report_stacks_add(struct ht_report_stacks *a, const struct ht_snapshot *s,
			  double sign)
{
	size_t *map = ht_report_stacks_intern(a, s);
	int side = sign < 0 ? 0 : 1;

	for (size_t i = 0; i < s->nstacks; i++) {
		const struct ht_stack *st = &s->stacks[i];
		struct agg_stack *as = &a->st[map[i]];

		for (int w = 0; w < HT_NINDEX; w++) {
			double v = ht_stack_value(st, (enum ht_index)w);
			struct ht_err e;

			/* a NaN would break every sort; the reader should refuse it */
			if (!isfinite(v))
				continue;
			as->v[w] += sign * v;
			as->side[side][w] += fabs(sign) * v;
			if (a->kept[w] < 0)
				continue;
			ht_report_stack_err(s, st, (enum ht_index)w, &e);
			ht_err_add(&as->side_err[side][a->kept[w]], &e);
		}
	}
	free(map);
}

static double clamp0(double v)
{
	return v > 0 ? v : 0;
}

/* Within one run the samples of blocks that lived through both snapshots
 * cancel, and the error is that of what changed (sampling.c): the blocks
 * allocated in between and live at the current snapshot (up), and those
 * live at the base and freed since (down). Neither is in the snapshots as
 * such; each is bounded by two figures that hold it: up by the current
 * in-use and by what was allocated in between, down by the base's in-use
 * and by what was freed in between (alloc - inuse grew by it). The
 * allocation counters only grow, and so do the temporary ones: their
 * change is what was allocated (or freed at once) in between, exactly. */
static void same_run_err(const struct ht_report_stacks *a, const struct agg_stack *as, int w,
			 struct ht_err *e)
{
	int bytes = ht_report_is_bytes((enum ht_index)w);
	int temp = w == HT_TEMP_SPACE || w == HT_TEMP_OBJECTS;
	int aw = temp ? w : bytes ? HT_ALLOC_SPACE : HT_ALLOC_OBJECTS;
	int iw = bytes ? HT_INUSE_SPACE : HT_INUSE_OBJECTS;
	int ak = a->kept[aw], ik = a->kept[iw]; /* both kept: w and its partner */
	double ab = as->side[0][aw], ac = as->side[1][aw], ib = as->side[0][iw], ic = as->side[1][iw];
	double vab = as->side_err[0][ak].up_var, vac = as->side_err[1][ak].up_var;
	double vib = as->side_err[0][ik].up_var, vic = as->side_err[1][ik].up_var;

	/* shares and lumps: the larger side's, which holds the other */
	*e = as->side_err[1][ak];
	ht_err_add(e, &as->side_err[0][ak]);
	e->lump_mass = fmax(as->side_err[0][ak].lump_mass, as->side_err[1][ak].lump_mass);
	e->diff = 1;
	if (w == aw) {
		e->up = clamp0(ac - ab);
		e->up_var = clamp0(vac - vab);
		e->down = e->down_var = 0;
		return;
	}
	e->up = clamp0(fmin(ic, ac - ab));
	e->up_var = clamp0(fmin(vic, vac - vab));
	e->down = clamp0(fmin(ib, (ac - ic) - (ab - ib)));
	e->down_var = clamp0(fmin(vib, (vac - vic) - (vab - vib)));
}

void ht_report_stacks_finish(struct ht_report_stacks *a, int diff, int same)
{
	int w = a->shown, k = a->kept[w];

	for (size_t i = 0; i < a->nst; i++) {
		struct agg_stack *as = &a->st[i];
		struct ht_err e; /* err shares side_err's room */
		const struct ht_err *b = &as->side_err[0][k];

		if (same) {
			same_run_err(a, as, w, &e);
		} else {
			e = as->side_err[1][k];
			e.down = b->up;
			e.down_var = b->up_var;
			e.share = fmax(e.share, b->share);
			e.lump = fmax(e.lump, b->lump);
			e.lump_mass += b->lump_mass;
			e.lump_one = fmax(e.lump_one, b->lump_one);
			e.diff = diff;
		}
		as->err[0] = e;
	}
}

size_t ht_report_stacks_count(const struct ht_report_stacks *a)
{
	return a->nst;
}

const uint32_t *ht_report_stacks_frames(const struct ht_report_stacks *a, size_t i,
					size_t *n)
{
	*n = a->st[i].n;
	return a->ids + a->st[i].first;
}

double ht_report_stacks_value(const struct ht_report_stacks *a, size_t i,
			      enum ht_index which)
{
	return a->st[i].v[which];
}

/* Once finished, a stack's err[0] is the error of the shown counter, and
 * no other's is there. */
static void check_shown(const struct ht_report_stacks *a, enum ht_index which)
{
	if (which != a->shown) {
		fprintf(stderr, "heaptrace: internal error: the error of counter %d asked of an "
			"aggregation of counter %d\n", (int)which, (int)a->shown);
		abort();
	}
}

const struct ht_err *ht_report_stacks_err(const struct ht_report_stacks *a, size_t i,
					  enum ht_index which)
{
	check_shown(a, which);
	return &a->st[i].err[0];
}

int ht_report_stacks_hidden(const struct ht_report_stacks *a, size_t i)
{
	return a->st[i].hidden;
}

size_t ht_report_stacks_nnames(const struct ht_report_stacks *a)
{
	return a->names.n;
}

const char *ht_report_stacks_name(const struct ht_report_stacks *a, uint32_t id)
{
	return a->names.str[id];
}

size_t ht_report_stacks_name_head(const struct ht_report_stacks *a, uint32_t id)
{
	return a->name_head[id];
}

struct ht_report_stacks *ht_report_stacks_for(const struct ht_report_opts *o, char *err,
					      size_t errlen)
{
	struct ht_report_stacks *a = ht_report_stacks_new(&o->naming, o->index);

	if (ht_report_stacks_filter(a, o->focus, o->ignore, err, errlen) ||
	    ht_hide_init(&a->hide, o->hide, err, errlen)) {
		ht_report_stacks_free(a);
		return NULL;
	}
	return a;
}

struct ht_report_stacks *ht_report_aggregate(const struct ht_snapshot *base,
					     const struct ht_snapshot *cur,
					     const struct ht_report_opts *o,
					     char *err, size_t errlen)
{
	struct ht_report_stacks *a = ht_report_stacks_for(o, err, errlen);

	if (!a)
		return NULL;
	if (base)
		ht_report_stacks_add(a, base, -1);
	ht_report_stacks_add(a, cur, 1);
	ht_report_stacks_finish(a, base != NULL, ht_report_same_run(base, cur));
	return a;
}

void ht_report_total_err(const struct ht_report_stacks *a, enum ht_index w, struct ht_err *e)
{
	check_shown(a, w);
	memset(e, 0, sizeof(*e));
	for (size_t i = 0; i < a->nst; i++)
		ht_err_add(e, &a->st[i].err[0]);
}

