/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The TCP counters of the current network namespace that tell whether a
 * connection saw resets or retransmissions (/proc/net/snmp and netstat).
 */
#ifndef CAPYMIG_SELFTEST_TCP_COUNTERS_H
#define CAPYMIG_SELFTEST_TCP_COUNTERS_H

#include <stdint.h>

struct tcp_counters {
	uint64_t out_rsts;		/* Tcp: OutRsts, resets sent */
	uint64_t retrans_segs;		/* Tcp: RetransSegs */
	uint64_t timeouts;		/* TcpExt: TCPTimeouts */
	uint64_t lost_retransmit;	/* TcpExt: TCPLostRetransmit */
};

/* Reads the counters of the namespace the calling thread is in. */
int tcp_counters_read(struct tcp_counters *c);

/*
 * Resets sent.  (EstabResets is no measure: it counts every close of an
 * established socket without FIN, which is what an export does locally.)
 */
uint64_t tcp_counters_resets(const struct tcp_counters *before,
			     const struct tcp_counters *after);
uint64_t tcp_counters_retransmits(const struct tcp_counters *before,
				  const struct tcp_counters *after);

#endif /* CAPYMIG_SELFTEST_TCP_COUNTERS_H */
