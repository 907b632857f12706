/* What heaptrace's SVG renderers share, the flame graph (flame.c) and
 * the series chart (series.c): the document's head and style, and text
 * from the snapshots written as XML. */
#include "report/svg.h"
#include "lib/util.h"

#include <stdint.h>
#include <string.h>

#define WIDTH HT_SVG_WIDTH

void ht_svg_xml(FILE *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	while (p < end) {
		unsigned c = *p;
		uint32_t cp;
		size_t len;

		if (c < 0x80) {
			switch (c) {
			case '&': fputs("&amp;", out); break;
			case '<': fputs("&lt;", out); break;
			case '>': fputs("&gt;", out); break;
			case '"': fputs("&quot;", out); break;
			case '\'': fputs("&#39;", out); break;
			default:
				putc(c < 0x20 && c != '\t' && c != '\n' ? '?' : (int)c, out);
			}
			p++;
			continue;
		}
		len = ht_utf8_char((const char *)p, (size_t)(end - p), &cp);
		/* a character XML allows */
		if (len > 1 && cp != 0xfffe && cp != 0xffff) {
			fwrite(p, 1, len, out);
			p += len;
			continue;
		}
		putc('?', out);
		p++;
	}
}

void ht_svg_text(FILE *out, const char *s)
{
	ht_svg_xml(out, s, strlen(s));
}

void ht_svg_text_cut(FILE *out, const char *s, size_t len, long room)
{
	if (room <= 2 || (long)len <= room) {
		ht_svg_xml(out, s, len);
		return;
	}
	/* do not cut a UTF-8 sequence */
	len = (size_t)room - 2;
	while (len && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--;
	ht_svg_xml(out, s, len);
	fputs("..", out);
}

void ht_svg_head(FILE *out, double height, const char *js, const char *title,
		 const char *sub)
{
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
		"xmlns=\"http://www.w3.org/2000/svg\">\n", WIDTH, height, WIDTH, height);
	fputs("<style type=\"text/css\">\n"
	      "text { font-family: monospace; font-size: 12px; fill: rgb(0,0,0); }\n"
	      "#title { font-size: 17px; text-anchor: middle; }\n"
	      "#sub { fill: rgb(90,90,90); text-anchor: middle; }\n"
	      ".btn { cursor: pointer; fill: rgb(40,40,160); }\n"
	      ".f { cursor: pointer; }\n"
	      ".f text { pointer-events: none; }\n"
	      ".f:hover rect { stroke: rgb(0,0,0); stroke-width: 0.5; }\n"
	      ".parent { opacity: 0.5; }\n"
	      ".s { cursor: pointer; }\n"
	      ".fade { opacity: 0.15; }\n"
	      "</style>\n", out);
	fputs(js, out);
	fprintf(out, "<rect x=\"0\" y=\"0\" width=\"100%%\" height=\"100%%\" fill=\"rgb(248,248,248)\"/>\n"
		"<text id=\"title\" x=\"%.0f\" y=\"24\">", WIDTH / 2);
	ht_svg_text(out, title);
	fprintf(out, "</text>\n<text id=\"sub\" x=\"%.0f\" y=\"42\">", WIDTH / 2);
	ht_svg_text(out, sub);
	fprintf(out, "</text>\n");
}
