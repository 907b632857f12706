/* heaptrace's version: the one place it is defined. The tools print it
 * for --version; the Makefile reads it for the launcher. */
#ifndef HT_VERSION_H
#define HT_VERSION_H

#define HT_VERSION "0.1"

#endif
