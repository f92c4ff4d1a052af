/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The TCP counters of the current network namespace that tell whether a
 * connection saw resets or retransmissions (/proc/net/snmp and netstat).
 */
#ifndef CAPYMIG_SELFTEST_TCP_COUNTERS_H
#define CAPYMIG_SELFTEST_TCP_COUNTERS_H

#include <stdint.h>

struct tcp_counters {
	uint64_t out_segs;		/* Tcp: OutSegs, segments sent */
	uint64_t out_rsts;		/* Tcp: OutRsts, resets sent */
	uint64_t retrans_segs;		/* Tcp: RetransSegs */
	uint64_t timeouts;		/* TcpExt: TCPTimeouts */
	uint64_t loss_probes;		/* TcpExt: TCPLossProbes */
	uint64_t probe_recoveries;	/* TcpExt: TCPLossProbeRecovery */
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

/*
 * Retransmissions a loss caused: all but the tail loss probes that proved
 * spurious, and timeouts.  A sender probes when the ACKs are late, as
 * they are while its connection is held in transit; the peer then had
 * the probed segment already (a DSACK tells) and nothing was lost.
 */
uint64_t tcp_counters_loss_retransmits(const struct tcp_counters *before,
				       const struct tcp_counters *after);

/* Segments of any kind, resets included, the namespace sent. */
uint64_t tcp_counters_sent(const struct tcp_counters *before,
			   const struct tcp_counters *after);

/*
 * Waits until the namespace has sent nothing for @quiet_ms (the delayed
 * ACKs and window updates of earlier traffic), for at most @timeout_ms,
 * and leaves the last reading in @c.  Returns 0 or -ETIMEDOUT.
 */
int tcp_counters_settle(struct tcp_counters *c, int quiet_ms, int timeout_ms);

#endif /* CAPYMIG_SELFTEST_TCP_COUNTERS_H */
