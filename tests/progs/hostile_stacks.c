/* Test subject for tests/t_hostile.sh: allocations made on other stacks
 * than the thread's own, where the shim must walk every stack rather than
 * reuse one it remembers.
 *   hostile_stacks altstack N   a SIGALRM handler running on an alternate
 *                               signal stack allocates (alt_site), until
 *                               N signals were handled
 *   hostile_stacks coro N       two coroutines (ucontext, stacks from
 *                               malloc) take turns N times each; each turn
 *                               keeps one block from coro_site, called
 *                               through coro_a or coro_b at the same depth
 * Prints what it did; nothing it prints depends on the run. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <ucontext.h>

static volatile int handled;
static void **kept;
static int nkept;

__attribute__((noinline)) void alt_site(void)
{
	volatile char *p = malloc(300);

	if (p)
		p[0] = 1;
	free((void *)p);
}

static void on_alarm(int sig)
{
	(void)sig;
	alt_site();
	handled++;
}

static int altstack(int want)
{
	struct itimerval it = { { 0, 200 }, { 0, 200 } }, off = { { 0, 0 }, { 0, 0 } };
	struct sigaction sa;
	stack_t ss;
	void *live[64] = { 0 };
	unsigned x = 1;

	ss.ss_sp = malloc(1 << 16);
	ss.ss_size = 1 << 16;
	ss.ss_flags = 0;
	if (!ss.ss_sp || sigaltstack(&ss, NULL) != 0)
		return 1;
	alt_site(); /* warm up the handler's size class */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART | SA_ONSTACK;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	while (handled < want) {
		int k = (int)(x >> 8) & 63;

		x = x * 1103515245u + 12345u;
		free(live[k]);
		live[k] = malloc(16 + (x >> 20) % 200);
	}
	setitimer(ITIMER_REAL, &off, NULL);
	for (int k = 0; k < 64; k++)
		free(live[k]);
	printf("altstack: handled at least %d signals\n", want);
	return 0;
}

static ucontext_t main_ctx, ctx_a, ctx_b;
static int turns;

__attribute__((noinline)) void coro_site(void)
{
	kept[nkept++] = malloc(100);
}

__attribute__((noinline)) void coro_a(void)
{
	coro_site();
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void coro_b(void)
{
	coro_site();
	__asm__ volatile("" ::: "memory");
}

static void body_a(void)
{
	for (int i = 0; i < turns; i++) {
		coro_a();
		swapcontext(&ctx_a, &ctx_b);
	}
}

static void body_b(void)
{
	for (int i = 0; i < turns; i++) {
		coro_b();
		swapcontext(&ctx_b, i + 1 < turns ? &ctx_a : &main_ctx);
	}
}

static int coro(int n)
{
	size_t size = 1 << 16;

	turns = n;
	kept = calloc((size_t)n * 2, sizeof(void *));
	getcontext(&ctx_a);
	getcontext(&ctx_b);
	ctx_a.uc_stack.ss_sp = malloc(size);
	ctx_b.uc_stack.ss_sp = malloc(size);
	if (!kept || !ctx_a.uc_stack.ss_sp || !ctx_b.uc_stack.ss_sp)
		return 1;
	ctx_a.uc_stack.ss_size = ctx_b.uc_stack.ss_size = size;
	ctx_a.uc_link = ctx_b.uc_link = &main_ctx;
	makecontext(&ctx_a, body_a, 0);
	makecontext(&ctx_b, body_b, 0);
	swapcontext(&main_ctx, &ctx_a);
	printf("coro: kept %d blocks\n", nkept);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "altstack"))
		return altstack(atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "coro"))
		return coro(atoi(argv[2]));
	fprintf(stderr, "usage: hostile_stacks altstack N | coro N\n");
	return 2;
}
