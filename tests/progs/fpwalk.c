/* Test subject for tests/t_unwind.sh: allocations at many stacks, in code
 * built with frame pointers, with frames among them that keep none, so
 * that a walk by frame pointers that trusted every frame would get stacks
 * wrong. Every allocation is made the same way in every run.
 *   fpwalk N    N rounds on each of two threads; each round allocates:
 *     - at a depth of 1 to 90 calls, through rec_a or rec_b at each level
 *       (from the round's number), a block kept or freed, or one made
 *       through decoy_call, decoy_caller or strdup as below;
 *     - through decoy_call, hand-written without a frame pointer, whose
 *       rbp points at a made-up frame naming decoy_caller as its caller,
 *       and through decoy_caller;
 *     - from strdup, in the C library (no frame pointers on Debian);
 *     - by calloc and realloc.
 * Prints one line. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void decoy_caller(void *arg);
void decoy_call(void (*fn)(void *), void *arg);

/* decoy_caller(arg) calls behind_decoy(arg), keeping a frame pointer, as
 * a compiler would. decoy_call(fn, arg) calls fn(arg) without one: it
 * points rbp at 16 bytes of its own frame laid out as a frame of
 * decoy_caller's at its call (the return address after it), whose
 * caller's frame is decoy_call's caller's. Both are called each round,
 * so a walk learns that decoy_caller keeps its frame pointer there; one
 * that believed decoy_call's rbp would give its calls decoy_caller's
 * stack. The unwind tables say where the real callers are. */
__asm__(".text\n"
	".globl decoy_caller\n"
	".type decoy_caller,@function\n"
	"decoy_caller:\n"
	"	.cfi_startproc\n"
	"	push %rbp\n"
	"	.cfi_def_cfa_offset 16\n"
	"	.cfi_offset %rbp, -16\n"
	"	mov %rsp, %rbp\n"
	"	.cfi_def_cfa_register %rbp\n"
	"	call behind_decoy\n"
	"decoy_return:\n"
	"	pop %rbp\n"
	"	.cfi_def_cfa %rsp, 8\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size decoy_caller, .-decoy_caller\n"
	".globl decoy_call\n"
	".type decoy_call,@function\n"
	"decoy_call:\n"
	"	.cfi_startproc\n"
	"	push %rbp\n"
	"	.cfi_def_cfa_offset 16\n"
	"	.cfi_offset %rbp, -16\n"
	"	sub $32, %rsp\n"
	"	.cfi_def_cfa_offset 48\n"
	"	lea decoy_return(%rip), %rax\n"
	"	mov %rax, 8(%rsp)\n"
	"	mov 32(%rsp), %rax\n"
	"	mov %rax, (%rsp)\n"
	"	mov %rsp, %rbp\n"
	"	mov %rdi, %rax\n"
	"	mov %rsi, %rdi\n"
	"	call *%rax\n"
	"	add $32, %rsp\n"
	"	.cfi_def_cfa_offset 16\n"
	"	pop %rbp\n"
	"	.cfi_def_cfa_offset 8\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size decoy_call, .-decoy_call\n");

#define KEEP 256

struct ctx {
	long rounds;
	void *kept[KEEP];
	long made;
};

static void leaf(struct ctx *c, long r);
static void rec_b(struct ctx *c, long r, int d);

static __attribute__((noinline)) void rec_a(struct ctx *c, long r, int d)
{
	if (d == 0)
		leaf(c, r);
	else if ((r >> (d % 8)) & 1)
		rec_b(c, r, d - 1);
	else
		rec_a(c, r, d - 1);
	__asm__ volatile("" ::: "memory"); /* not a tail call */
}

static __attribute__((noinline)) void rec_b(struct ctx *c, long r, int d)
{
	if (d == 0)
		leaf(c, r);
	else if ((r >> (d % 7)) & 1)
		rec_a(c, r, d - 1);
	else
		rec_b(c, r, d - 1);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void behind_decoy(void *arg);
__attribute__((noinline)) void behind_decoy(void *arg)
{
	struct ctx *c = arg;
	void *p = malloc(48);

	if (!p)
		exit(1);
	c->made++;
	free(p);
}

static __attribute__((noinline)) void from_libc(struct ctx *c, long r)
{
	char s[32];
	char *d;

	snprintf(s, sizeof(s), "round %ld", r);
	d = strdup(s);
	if (!d)
		exit(1);
	c->made++;
	free(d);
}

static __attribute__((noinline)) void grow(struct ctx *c, long r)
{
	char *p = calloc(4, 8 + (size_t)(r % 32));
	char *q;

	if (!p)
		exit(1);
	q = realloc(p, 4096 + (size_t)(r % 64));
	if (!q)
		exit(1);
	c->made += 2;
	free(q);
}

/* the allocation at the end of a recursion: by itself (five rounds in
 * eight), or behind decoy_call or decoy_caller, or in the C library */
static __attribute__((noinline)) void leaf(struct ctx *c, long r)
{
	void *p;

	switch (r % 8) {
	case 1: decoy_call(behind_decoy, c); return;
	case 2: decoy_caller(c); return;
	case 3: from_libc(c, r); return;
	}
	p = malloc(16 + (size_t)(r % 200));
	if (!p)
		exit(1);
	c->made++;
	if (r % 3 == 0) {
		free(c->kept[r % KEEP]);
		c->kept[r % KEEP] = p;
	} else {
		free(p);
	}
}

static void *run(void *arg)
{
	struct ctx *c = arg;
	long r;

	for (r = 0; r < c->rounds; r++) {
		rec_a(c, r, 1 + (int)(r % 90));
		decoy_call(behind_decoy, c);
		decoy_caller(c);
		from_libc(c, r);
		grow(c, r);
	}
	for (r = 0; r < KEEP; r++)
		free(c->kept[r]);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct ctx c[2];
	pthread_t t;
	long n = argc > 1 ? atol(argv[1]) : 1000;

	c[0].rounds = c[1].rounds = n;
	if (pthread_create(&t, NULL, run, &c[1]) != 0)
		return 1;
	run(&c[0]);
	pthread_join(t, NULL);
	printf("fpwalk: %ld allocations\n", c[0].made + c[1].made);
	return 0;
}
