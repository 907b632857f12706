/* Writing files: a whole image to a path, replacing a regular file there
 * atomically, or under a name that is free. */
#ifndef HT_FILEIO_H
#define HT_FILEIO_H

#include <stddef.h>

/* Writes an image under path without ever replacing a file: if path is
 * taken, NAME-1.heap, NAME-2.heap, ... (path, of cap bytes, is updated to
 * the name used). The image is written to a temporary file in the same
 * directory first, so the name never holds a partial file. Returns 0, or
 * -1 with err set ("cannot write 'x.heap': No space left on device"). */
int ht_write_file_unique(char *path, size_t cap, const void *buf, size_t len,
			 char *err, size_t errlen);

/* Writes an image to path atomically: a temporary file in the same
 * directory, then rename. On failure nothing is left behind. Returns 0, or
 * -1 with err set. */
int ht_write_file_atomic(const char *path, const void *buf, size_t len,
			 char *err, size_t errlen);

#endif
