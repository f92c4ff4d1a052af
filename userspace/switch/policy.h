/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The switch agent's policies: what it derives each period from the
 * servers' states and loads for the data plane to place connections and
 * pick migration targets with (struct capymig_sw_sched).
 */
#ifndef CAPYMIG_SWITCH_POLICY_H
#define CAPYMIG_SWITCH_POLICY_H

#include <stdbool.h>
#include <linux/capymig.h>

/* What the policies know of a server. */
struct policy_server {
	__be32 host;		/* its address */
	bool live;		/* may get new connections and migrations */
	__u32 weight;		/* its capacity, relative to the others' */
	double load;		/* pps, smoothed over periods (policy_smooth) */
};

/* @load after one more period that measured @pps. */
double policy_smooth(double load, __u64 pps);

/*
 * Fills @s from the @n servers of @srv, numbered by their index.  Ties
 * for least loaded go to the first from position @rotate on, so that
 * equal servers take turns from period to period.  @slots, if not NULL,
 * gets each server's number of LWRR slots.
 */
void policy_sched(const struct policy_server *srv, unsigned int n,
		  unsigned int rotate, struct capymig_sw_sched *s,
		  unsigned int *slots);

/*
 * The target the data plane would pick by @s now among @srv, under policy
 * @how, for a migration from server @origin, round-robin having picked
 * @last before: capymig_sw_target(); CAPYMIG_SW_NO_SERVER if none.
 */
__u8 policy_target(const struct policy_server *srv,
		   const struct capymig_sw_sched *s, enum capymig_sw_target how,
		   __u32 last, __u32 origin);

#endif /* CAPYMIG_SWITCH_POLICY_H */
