/* Linked into every heaptrace program (the collector and the tools): the
 * ELF note that tells a shim loaded into it to stay out (see
 * preload/untraced.h). Without it, a shim listed in /etc/ld.so.preload
 * traced each collector, whose shim started another collector, and so on. */
#include "preload/untraced.h"

#define HT_STR_(x) #x
#define HT_STR(x) HT_STR_(x)

/* name size, descriptor size, type, name (padded to 4), descriptor */
__asm__(".pushsection .note.heaptrace.untraced,\"a\",@note\n"
	"\t.balign 4\n"
	"\t.long " HT_STR(HT_NOTE_NAMESZ) "\n"
	"\t.long 4\n"
	"\t.long " HT_STR(HT_NOTE_UNTRACED) "\n"
	"\t.asciz \"" HT_NOTE_NAME "\"\n"
	"\t.balign 4\n"
	"\t.long 1\n"
	"\t.popsection\n");
