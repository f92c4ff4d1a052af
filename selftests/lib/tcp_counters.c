// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_counters.h"

/*
 * These files pair a header line of names with a line of values, both
 * starting with the same "Prefix:".  Returns the named value, or 0.
 */
static uint64_t read_counter(const char *path, const char *prefix,
			     const char *name)
{
	char names[4096], values[4096];
	char *n, *v, *nsave, *vsave;
	uint64_t result = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (fgets(names, sizeof(names), f) && fgets(values, sizeof(values), f)) {
		if (strncmp(names, prefix, strlen(prefix)))
			continue;
		n = strtok_r(names, " \n", &nsave);
		v = strtok_r(values, " \n", &vsave);
		while ((n = strtok_r(NULL, " \n", &nsave)) &&
		       (v = strtok_r(NULL, " \n", &vsave)))
			if (!strcmp(n, name))
				result = strtoull(v, NULL, 10);
		break;
	}
	fclose(f);
	return result;
}

int tcp_counters_read(struct tcp_counters *c)
{
	/* /proc/thread-self follows this thread's namespace after setns. */
	const char *snmp = "/proc/thread-self/net/snmp";
	const char *netstat = "/proc/thread-self/net/netstat";

	c->out_rsts = read_counter(snmp, "Tcp:", "OutRsts");
	c->retrans_segs = read_counter(snmp, "Tcp:", "RetransSegs");
	c->timeouts = read_counter(netstat, "TcpExt:", "TCPTimeouts");
	c->lost_retransmit = read_counter(netstat, "TcpExt:",
					  "TCPLostRetransmit");
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
