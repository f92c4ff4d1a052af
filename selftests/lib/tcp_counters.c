// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_counters.h"

/* Where each counter is found, and kept. */
static const struct {
	const char *file, *prefix, *name;
	size_t offset;
} counters[] = {
#define COUNTER(file, prefix, name, field) \
	{ file, prefix, name, offsetof(struct tcp_counters, field) }
	COUNTER("snmp", "Tcp:", "OutSegs", out_segs),
	COUNTER("snmp", "Tcp:", "OutRsts", out_rsts),
	COUNTER("snmp", "Tcp:", "RetransSegs", retrans_segs),
	COUNTER("netstat", "TcpExt:", "TCPTimeouts", timeouts),
	COUNTER("netstat", "TcpExt:", "TCPLossProbes", loss_probes),
	COUNTER("netstat", "TcpExt:", "TCPLossProbeRecovery", probe_recoveries),
	COUNTER("netstat", "TcpExt:", "TCPLostRetransmit", lost_retransmit),
#undef COUNTER
};

/*
 * These files pair a header line of names with a line of values, both
 * starting with the same "Prefix:".  Reads @file's counters in one pass:
 * a test may read them around every request it makes.
 */
static void read_file(const char *file, struct tcp_counters *c)
{
	char path[64], names[4096], values[4096];
	char *n, *v, *nsave, *vsave, *prefix;
	unsigned int i;
	FILE *f;

	/* /proc/thread-self follows this thread's namespace after setns. */
	snprintf(path, sizeof(path), "/proc/thread-self/net/%s", file);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(names, sizeof(names), f) &&
	       fgets(values, sizeof(values), f)) {
		prefix = strtok_r(names, " \n", &nsave);
		strtok_r(values, " \n", &vsave);
		while ((n = strtok_r(NULL, " \n", &nsave)) &&
		       (v = strtok_r(NULL, " \n", &vsave)))
			for (i = 0; i < sizeof(counters) / sizeof(counters[0]);
			     i++)
				if (!strcmp(counters[i].file, file) &&
				    !strcmp(counters[i].prefix, prefix) &&
				    !strcmp(counters[i].name, n))
					*(uint64_t *)((char *)c +
						      counters[i].offset) =
						strtoull(v, NULL, 10);
	}
	fclose(f);
}

int tcp_counters_read(struct tcp_counters *c)
{
	memset(c, 0, sizeof(*c));
	read_file("snmp", c);
	read_file("netstat", c);
	return 0;
}

uint64_t tcp_counters_resets(const struct tcp_counters *before,
			     const struct tcp_counters *after)
{
	return after->out_rsts - before->out_rsts;
}

uint64_t tcp_counters_retransmits(const struct tcp_counters *before,
				  const struct tcp_counters *after)
{
	return after->retrans_segs - before->retrans_segs +
	       after->timeouts - before->timeouts;
}

uint64_t tcp_counters_loss_retransmits(const struct tcp_counters *before,
				       const struct tcp_counters *after)
{
	uint64_t retrans = after->retrans_segs - before->retrans_segs;
	uint64_t probes = after->loss_probes - before->loss_probes;

	/*
	 * A probe that repaired a loss counts again, as a recovery.  One that
	 * sent new data instead is forgiven a retransmission it did not
	 * make: the count may miss one, it never makes one up.
	 */
	return (retrans > probes ? retrans - probes : 0) +
	       after->probe_recoveries - before->probe_recoveries +
	       after->timeouts - before->timeouts;
}

uint64_t tcp_counters_sent(const struct tcp_counters *before,
			   const struct tcp_counters *after)
{
	/* A reset counts in both; either one moving is enough. */
	return after->out_segs - before->out_segs +
	       after->out_rsts - before->out_rsts;
}

int tcp_counters_settle(struct tcp_counters *c, int quiet_ms, int timeout_ms)
{
	struct tcp_counters now;
	int quiet = 0, waited = 0;
	const int step = 10;

	tcp_counters_read(c);
	while (quiet < quiet_ms) {
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		poll(NULL, 0, step);
		waited += step;
		tcp_counters_read(&now);
		quiet = tcp_counters_sent(c, &now) ? 0 : quiet + step;
		*c = now;
	}
	return 0;
}
