/* How a report writes its numbers: figures in the unit asked for or
 * scaled each on its own, percentages, error bars and times, in the
 * units of lib/util.h. */
#include "report/report_int.h"
#include "lib/util.h"

#include <inttypes.h>
#include <time.h>

/* Figures are estimates: anything that rounds to 0 is shown (and counted) as 0. */
double ht_report_rounded(double v)
{
	double r = round(v);

	return r == 0 ? 0 : r; /* no "-0" */
}

int ht_report_is_bytes(enum ht_index w)
{
	return w == HT_INUSE_SPACE || w == HT_ALLOC_SPACE || w == HT_TEMP_SPACE;
}

/* "1.50MB", "+1.50MB" (signed, for diffs), "0"; in a fixed unit "1536.00kB"
 * and whole counts. */
const char *ht_report_fmt_value(double v, enum ht_index w, int sign, int unit,
				char *buf, size_t len)
{
	char tmp[64];

	v = ht_report_rounded(v);
	if (v == 0)
		return snprintf(buf, len, "0"), buf;
	if (unit >= 0 && !ht_report_is_bytes(w))
		snprintf(tmp, sizeof(tmp), "%.0f", v);
	else if (unit == 0)
		snprintf(tmp, sizeof(tmp), "%.0fB", v);
	else if (unit > 0)
		snprintf(tmp, sizeof(tmp), "%.2f%s", v / ht_unit_div(unit, 1), ht_unit_name(unit, 1));
	else if (ht_report_is_bytes(w))
		ht_fmt_bytes(v, tmp, sizeof(tmp));
	else
		ht_fmt_count(v, tmp, sizeof(tmp));
	snprintf(buf, len, "%s%s", sign && v > 0 ? "+" : "", tmp);
	return buf;
}

const char *ht_report_fmt_figure(double v, const struct ht_report_opts *o, int sign,
				 char *buf, size_t len)
{
	return ht_report_fmt_value(v, o->index, sign, o->unit, buf, len);
}

const char *ht_report_fmt_interval(const struct ht_err *e, enum ht_index w, int unit,
				   char *buf, size_t len)
{
	double v = ht_err_half(e);
	int k = 0, bytes = ht_report_is_bytes(w);

	if (!(v >= 0.5))
		return snprintf(buf, len, "±0"), buf;
	if (unit >= 0) {
		k = bytes ? unit : 0;
	} else {
		/* at most three digits before the point: "±0.98MB", not "±1004kB" */
		while (v >= 999.5 * ht_unit_div(k, bytes) && k < 4)
			k++;
	}
	v /= ht_unit_div(k, bytes);
	/* an error bar needs two or three significant digits, no more */
	snprintf(buf, len, "±%.*f%s", v >= 9.95 || k == 0 ? 0 : v >= 0.995 ? 1 : 2, v,
		 ht_unit_name(k, bytes));
	return buf;
}

const char *ht_report_fmt_pct(double v, double total, char *buf, size_t len)
{
	double r;

	v = ht_report_rounded(v); /* no "-1e-12%" from the noise of summing estimates */
	r = total != 0 ? fabs(v) / total * 100 : 0;
	const char *minus = v < 0 && r != 0 ? "-" : "";

	if (r >= 99.95 && r <= 100.05)
		snprintf(buf, len, "%s100%%", minus);
	else if (r >= 1)
		snprintf(buf, len, "%s%.2f%%", minus, r);
	else
		snprintf(buf, len, "%s%.2g%%", minus, r);
	return buf;
}


void ht_report_fmt_time(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, len, "%" PRId64 "ns", ns);
}
