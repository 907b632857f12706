/* What heaptrace's two SVG renderers share (the flame graph, flame.c, and
 * the series chart, series.c): the document's head and style, and text
 * written as XML. */
#ifndef HT_REPORT_SVG_H
#define HT_REPORT_SVG_H

#include <stddef.h>
#include <stdio.h>

#define HT_SVG_WIDTH 1200.0 /* of every image, in px */
#define HT_SVG_CHAR_W 7.2   /* width of a 12px monospace character */

/* The head of a heaptrace SVG: the <svg> element (HT_SVG_WIDTH wide,
 * height px high), the shared style, the script js (a complete <script>
 * element), the background, the title and subtitle. */
void ht_svg_head(FILE *out, double height, const char *js, const char *title,
		 const char *sub);

/* Writes s[0..n) as XML character data: escapes &<>"' and replaces bytes
 * that are not valid UTF-8 (and XML-forbidden characters) with '?'. */
void ht_svg_xml(FILE *out, const char *s, size_t n);

/* ht_svg_xml of a NUL-terminated string. */
void ht_svg_text(FILE *out, const char *s);

/* Writes s as XML in at most room characters' bytes: whole, or its start
 * (never cutting a UTF-8 sequence) and "..". */
void ht_svg_text_cut(FILE *out, const char *s, size_t len, long room);

#endif
