/* The traced process's figures and ids, read from /proc/PID/status while
 * it lives, and writing files as that process: nothing is written with
 * more privilege than it has now. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/collector.h"
#include "lib/util.h"

static int cmp_gid(const void *a, const void *b)
{
	gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;

	return x < y ? -1 : x > y;
}

/* Parses the "Groups:" line of /proc/PID/status into c (sorted). */
static int parse_groups(const char *list, struct ht_creds *c)
{
	const char *p = list;
	int n = 0;

	for (;;) {
		char *end;
		unsigned long g;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			break;
		g = strtoul(p, &end, 10);
		if (n % 64 == 0)
			c->groups = ht_xrealloc(c->groups, (size_t)(n + 64) * sizeof(gid_t));
		c->groups[n++] = (gid_t)g;
		p = end;
	}
	if (*p != '\n')
		return -1;
	if (n > 1)
		qsort(c->groups, (size_t)n, sizeof(gid_t), cmp_gid);
	c->ngroups = n;
	return 0;
}

/* The process's RSS and peak RSS, and the ids it writes files as, while it
 * lives; the last values read stand for it after it is gone. */
void ht_collector_read_status(struct collector *co)
{
	char path[64], line[4096];
	FILE *f;
	struct ht_creds c = { 0, 0, 0, NULL };
	int have = 0;

	if (co->proc_gone)
		return;
	snprintf(path, sizeof(path), "/proc/%lld/status", (long long)co->fixed.pid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long kb;
		unsigned long id;

		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			co->rss = (double)kb * 1024;
		else if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
			co->rss_peak = (double)kb * 1024;
		else if (sscanf(line, "Uid: %*u %*u %*u %lu", &id) == 1)
			c.uid = (uid_t)id, have |= 1;
		else if (sscanf(line, "Gid: %*u %*u %*u %lu", &id) == 1)
			c.gid = (gid_t)id, have |= 2;
		else if (!strncmp(line, "Groups:", 7) && strchr(line, '\n') &&
			 parse_groups(line + 7, &c) == 0)
			have |= 4;
	}
	fclose(f);
	if (have == 7) {
		free(co->proc_creds.groups);
		co->proc_creds = c;
		co->proc_creds_ok = 1;
	} else {
		free(c.groups);
	}
}

static uid_t fsuid_now(void)
{
	return (uid_t)syscall(SYS_setfsuid, (uid_t)-1);
}

static gid_t fsgid_now(void)
{
	return (gid_t)syscall(SYS_setfsgid, (gid_t)-1);
}

/* Reads the calling thread's ids into c->own. Returns 0, or -1 (errno). */
static int read_own(struct collector *c)
{
	struct ht_creds *own = &c->own;
	int n = (int)syscall(SYS_getgroups, 0, NULL);

	if (n < 0)
		return -1;
	free(own->groups);
	own->groups = ht_xmalloc(((size_t)n + 1) * sizeof(gid_t));
	own->ngroups = (int)syscall(SYS_getgroups, n, own->groups);
	if (own->ngroups < 0)
		own->ngroups = 0;
	if (own->ngroups > 1)
		qsort(own->groups, (size_t)own->ngroups, sizeof(gid_t), cmp_gid);
	own->uid = fsuid_now();
	own->gid = fsgid_now();
	return 0;
}

/* The process's ids when it started us are ours: it executed us, so that
 * a process that ends before its status is ever read still has them. */
void ht_collector_creds_at_start(struct collector *c)
{
	if (read_own(c) != 0)
		return;
	c->proc_creds.uid = c->own.uid;
	c->proc_creds.gid = c->own.gid;
	c->proc_creds.ngroups = c->own.ngroups;
	c->proc_creds.groups = ht_xmalloc(((size_t)c->own.ngroups + 1) * sizeof(gid_t));
	memcpy(c->proc_creds.groups, c->own.groups, (size_t)c->own.ngroups * sizeof(gid_t));
	c->proc_creds_ok = 1;
	ht_collector_read_status(c);
}

void ht_collector_back_to_own(struct collector *c)
{
	if (!c->switched)
		return;
	/* per thread (raw system calls): the other threads never change */
	syscall(SYS_setfsuid, c->own.uid);
	syscall(SYS_setfsgid, c->own.gid);
	syscall(SYS_setgroups, (size_t)c->own.ngroups, c->own.groups);
	c->switched = 0;
}

/* The process's ids are read again now, or the last ones read stand if it
 * is gone: it may have less privilege than when it started us (it called
 * setuid, say). */
int ht_collector_as_process(struct collector *c, const char *path)
{
	const struct ht_creds *pc = &c->proc_creds, *own = &c->own;
	int same;

	ht_collector_read_status(c);
	if (!c->proc_creds_ok)
		return ht_error("not writing '%s': cannot read the ids of process %lld",
				path, (long long)c->fixed.pid);
	if (read_own(c) != 0)
		return ht_error("not writing '%s': %s", path, strerror(errno));
	same = own->ngroups == pc->ngroups &&
	       (!own->ngroups ||
		!memcmp(own->groups, pc->groups, (size_t)own->ngroups * sizeof(gid_t)));
	if (own->uid == pc->uid && own->gid == pc->gid && same)
		return 0;
	c->switched = 1;
	if ((!same && syscall(SYS_setgroups, (size_t)pc->ngroups, pc->groups) != 0) ||
	    (syscall(SYS_setfsgid, pc->gid), fsgid_now() != pc->gid) ||
	    (syscall(SYS_setfsuid, pc->uid), fsuid_now() != pc->uid)) {
		ht_collector_back_to_own(c);
		return ht_error("not writing '%s': process %lld now runs as uid %u gid %u, "
				"and the collector (uid %u) cannot write as that user",
				path, (long long)c->fixed.pid, (unsigned)pc->uid,
				(unsigned)pc->gid, (unsigned)own->uid);
	}
	return 0;
}
