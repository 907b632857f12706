/* libunwind, loaded when a walk first needs it (unwind.c). Include after
 * <libunwind.h> with UNW_LOCAL_ONLY, as stacks.c and mstats.c do. */
#ifndef HT_UNWIND_H
#define HT_UNWIND_H

/* Its functions the shim calls, once loaded. */
struct ht_unw {
	int (*getcontext)(unw_context_t *);
	int (*init_local)(unw_cursor_t *, unw_context_t *);
	int (*step)(unw_cursor_t *);
	int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
	int (*is_signal_frame)(unw_cursor_t *);
	int (*backtrace)(void **, int);
};
extern struct ht_unw ht_unw; /* see ht_unw_ready (internal.h) */

#endif
