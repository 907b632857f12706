/* Files: the one policy every output of ours follows (ht_file_save), the
 * writers it is made of, the names derived from a .heap path, the removal
 * of the temporary files of writers that were killed, and a read that
 * retries until it has what it asked for. */
#ifndef HT_FILEIO_H
#define HT_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/* Who chose the name of an output file. */
enum ht_file_name {
	HT_FILE_NAMED,   /* the user: what is there is replaced (-o, HEAPTRACE_OUTPUT) */
	HT_FILE_DEFAULT, /* the program: never replaces anything */
};

/* Writes an output image (len bytes at buf) the way every program here
 * writes one:
 * - a name the user gave (HT_FILE_NAMED) is written by ht_file_write: a
 *   regular file is replaced atomically, a device or a FIFO written in
 *   place (-o /dev/null stays a device); and "-" is standard output,
 *   written and flushed (the caller refuses a terminal if it must);
 * - a default name (HT_FILE_DEFAULT) never replaces a file: it is written
 *   by ht_file_write_unique, as NAME-1.heap, NAME-2.heap, ... when taken.
 * used (usedcap bytes; it may be path itself) receives the name written,
 * which differs from path only for a default name that was taken; it may
 * be NULL for HT_FILE_NAMED. Returns 0, or -1 with a one-line message in
 * err ("cannot write 'x.heap': No space left on device", "cannot write to
 * standard output: Broken pipe"). */
int ht_file_save(const char *path, enum ht_file_name how, char *used, size_t usedcap,
		 const void *buf, size_t len, char *err, size_t errlen);

/* Writes an image to path, by what path is now:
 * - absent, or a regular file: replaced atomically, through a temporary
 *   file in the same directory (".NAME.ht-tmp-PID-START-RANDOM") renamed
 *   over it; a replaced file's permission bits are kept. On failure
 *   nothing is left behind and the old file is untouched.
 * - a character or block device, or a FIFO: written in place (opened for
 *   writing, never created, truncated or replaced), so that /dev/null
 *   stays a device; a FIFO's writer waits for its reader.
 * - a symbolic link: followed, as cp(1) does, when it is owned by the
 *   effective user or by root (/dev/stdout); the file it names is written
 *   in place (a regular file is truncated first, not replaced). A link to
 *   nothing, or another user's, is refused.
 * - a directory or a socket: refused.
 * "-" is a file named "-": standard output is the caller's business.
 * Returns 0, or -1 with a one-line message in err ("cannot write 'x.heap':
 * No space left on device"). After a rename, removes the stale temporary
 * files of the directory (ht_file_clean_temps). */
int ht_file_write(const char *path, const void *buf, size_t len, char *err, size_t errlen);

/* Writes an image under path without ever replacing a file: if path is
 * taken (by anything, a symbolic link included), NAME-1.heap, NAME-2.heap,
 * ... (the suffix goes before a final ".heap", see ht_file_heap_stem;
 * path, of cap bytes, is updated to the name used). The image is written
 * to a temporary file in the same directory first, so the name never
 * holds a partial file. Returns 0, or -1 with err set (path as given). */
int ht_file_write_unique(char *path, size_t cap, const void *buf, size_t len,
			 char *err, size_t errlen);

/* Removes from directory dir the temporary files of writers that are gone:
 * only names of the pattern above, only regular files (a symbolic link is
 * never followed nor removed) owned by the effective uid, and only when
 * the pid in the name names no process, or one started at another time
 * than the writer (the pid was reused). Returns how many were removed, or
 * -1 if dir cannot be read. Not for a directory that another pid namespace
 * writes into too: its writers' pids mean nothing here. */
int ht_file_clean_temps(const char *dir);

/* The length of path without a final ".heap" (all of it if there is none,
 * or if ".heap" is the whole name): the stem that names derived from a
 * snapshot's path are built on. */
size_t ht_file_heap_stem(const char *path);

/* Writes STEM.TAG.heap to out (cap bytes, always terminated), STEM being
 * path without its ".heap" (ht_file_heap_stem): the name of a snapshot
 * that goes next to path ("app.heap", "peak" -> "app.peak.heap").
 * Returns 0, or -1 if the name did not fit (out holds what did). */
int ht_file_heap_name(char *out, size_t cap, const char *path, const char *tag);

/* Reads up to n bytes from fd into buf, retrying on EINTR and short reads;
 * fewer only at the end of the input. Returns the count, or -1 with errno
 * set. */
ssize_t ht_file_read_full(int fd, void *buf, size_t n);

#endif
