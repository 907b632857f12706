/* The mark of heaptrace's own programs (the collector and the tools): an
 * ELF note in the executable, which the shim looks for in the main program
 * of every process it is loaded into. A process whose program carries it
 * is never traced, however the shim got in (LD_PRELOAD inherited, or
 * /etc/ld.so.preload, which no environment can take out). Both sides
 * include this header. */
#ifndef HT_UNTRACED_H
#define HT_UNTRACED_H

#define HT_NOTE_NAME     "heaptrace" /* the note's owner, NUL-terminated */
#define HT_NOTE_NAMESZ   10          /* sizeof(HT_NOTE_NAME) */
#define HT_NOTE_UNTRACED 0x48540001  /* the note's type: "never trace me" */

#endif
