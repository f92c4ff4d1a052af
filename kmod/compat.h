/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What differs between the kernels the module builds for: Linux 6.1 (the
 * tests' Debian 12 kernel) to 6.12 (its backports').  Each helper says
 * which release changed what it hides.
 */
#ifndef _CAPYMIG_COMPAT_H
#define _CAPYMIG_COMPAT_H

#include <linux/version.h>
#include <net/genetlink.h>
#include <net/tcp.h>

/* A dump's parsed request attributes: in a genl_info from 6.6 on. */
static inline struct nlattr **capymig_dump_attrs(struct netlink_callback *cb)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
	return genl_info_dump(cb)->attrs;
#else
	return genl_dumpit_info(cb)->attrs;
#endif
}

/*
 * The connection's timestamp clock now, as its TSvals go: milliseconds,
 * or microseconds (from 6.7, on a route with tcp_usec_ts), as @usec says.
 */
static inline u32 capymig_ts_now(const struct tcp_sock *tp, bool *usec)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	*usec = tp->tcp_usec_ts;
	return tcp_clock_ts(tp->tcp_usec_ts) + tp->tsoffset;
#else
	*usec = false;
	return tcp_time_stamp_raw() + tp->tsoffset;
#endif
}

/*
 * The TCP_TIMESTAMP value that takes the clock on from @val.  From 6.7
 * its low bit says the unit: rounded up to say it, as a TSval one behind
 * the last the peer saw would fail its PAWS check.  Before, there are
 * milliseconds only: a microsecond clock goes on from @val, slower.
 */
static inline u32 capymig_ts_sockopt(u32 val, bool usec)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	return usec ? val | 1 : (val + 1) & ~1U;
#else
	return val;
#endif
}

#endif /* _CAPYMIG_COMPAT_H */
