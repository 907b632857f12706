/* Writing files: a whole image to a path in the way its kind of target
 * needs, or under a name that is free; and the removal of the temporary
 * files of writers that were killed. */
#ifndef HT_FILEIO_H
#define HT_FILEIO_H

#include <stddef.h>

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
 * files of the directory (ht_clean_temps). */
int ht_write_file(const char *path, const void *buf, size_t len, char *err, size_t errlen);

/* Writes an image under path without ever replacing a file: if path is
 * taken (by anything, a symbolic link included), NAME-1.heap, NAME-2.heap,
 * ... (path, of cap bytes, is updated to the name used). The image is
 * written to a temporary file in the same directory first, so the name
 * never holds a partial file. Returns 0, or -1 with err set. */
int ht_write_file_unique(char *path, size_t cap, const void *buf, size_t len,
			 char *err, size_t errlen);

/* Removes from directory dir the temporary files of writers that are gone:
 * only names of the pattern above, only regular files (a symbolic link is
 * never followed nor removed) owned by the effective uid, and only when
 * the pid in the name names no process, or one started at another time
 * than the writer (the pid was reused). Returns how many were removed, or
 * -1 if dir cannot be read. Not for a directory that another pid namespace
 * writes into too: its writers' pids mean nothing here. */
int ht_clean_temps(const char *dir);

#endif
