// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Load-aware weighted round-robin (LWRR), the baseline placement of the
 * Capybara paper (SIGCOMM'26 §8): new connections go to the servers in
 * proportion to their capacity and in inverse proportion to their load.
 * A server's share of the schedule is
 *
 *	weight / (load / weight + mean + 1)
 *
 * where load / weight is its load per unit of capacity and mean the pool's
 * average of that: equal loads give shares by capacity; a server with
 * three times the average load gets half the share of an average one and
 * a quarter of an idle one.  The mean damps the weights so that a briefly
 * idle server is not sent every new connection.
 */
#include <string.h>

#include "policy.h"
#include "switch.h"

/* Each period moves the smoothed load an eighth of the way. */
#define SMOOTH_SHIFT	3

double policy_smooth(double load, __u64 pps)
{
	return load + (pps - load) / (1 << SMOOTH_SHIFT);
}

/*
 * The two least loaded live servers, ties to the first from @rotate: by
 * the smoothed load, as LWRR; one period may see a server get no packet
 * at all when requests are few.
 */
static void least_loaded(const struct policy_server *srv, unsigned int n,
			 unsigned int rotate, __u8 least[2])
{
	unsigned int i, id;

	least[0] = least[1] = CAPYMIG_SW_NO_SERVER;
	for (i = 0; i < n; i++) {
		id = (rotate + i) % n;
		if (!srv[id].live)
			continue;
		if (least[0] == CAPYMIG_SW_NO_SERVER ||
		    srv[id].load < srv[least[0]].load) {
			least[1] = least[0];
			least[0] = id;
		} else if (least[1] == CAPYMIG_SW_NO_SERVER ||
			   srv[id].load < srv[least[1]].load) {
			least[1] = id;
		}
	}
}

/*
 * Slots of the LWRR schedule per live server: at least one each, the rest
 * shared as the header comment says.  Returns the total.
 */
static unsigned int lwrr_slots(const struct policy_server *srv, unsigned int n,
			       unsigned int nlive, unsigned int *slots)
{
	double share[CAPYMIG_SW_MAX_SERVERS], mean = 0, sum = 0;
	unsigned int i, total = 0;

	for (i = 0; i < n; i++)
		if (srv[i].live)
			mean += srv[i].load / srv[i].weight / nlive;
	for (i = 0; i < n; i++) {
		share[i] = srv[i].live ? srv[i].weight /
			   (srv[i].load / srv[i].weight + mean + 1) : 0;
		sum += share[i];
	}
	for (i = 0; i < n; i++) {
		slots[i] = srv[i].live ? 1 + (unsigned int)
			   ((CAPYMIG_SW_SCHED_SLOTS - nlive) * share[i] / sum) :
			   0;
		total += slots[i];
	}
	return total;
}

/*
 * Lays out the slots interleaved, by smooth weighted round-robin: each
 * turn every server gains its slots, and the one that has most takes the
 * turn and pays the total.
 */
static void interleave(const unsigned int *slots, unsigned int n,
		       unsigned int total, __u8 *out)
{
	long credit[CAPYMIG_SW_MAX_SERVERS] = { 0 };
	unsigned int turn, i, best;

	for (turn = 0; turn < total; turn++) {
		best = 0;
		for (i = 0; i < n; i++) {
			credit[i] += slots[i];
			if (credit[i] > credit[best])
				best = i;
		}
		credit[best] -= total;
		out[turn] = best;
	}
}

struct migration_from {
	const struct policy_server *srv;
	__be32 origin_host;
};

/*
 * As the data plane's may_take_migration(), which knows @s's servers; the
 * client's host, which it leaves out too, is not known here.
 */
static bool may_take_migration(const void *ctx, __u32 id)
{
	const struct migration_from *from = ctx;

	return from->srv[id].live && from->srv[id].host != from->origin_host;
}

__u8 policy_target(const struct policy_server *srv,
		   const struct capymig_sw_sched *s, enum capymig_sw_target how,
		   __u32 last, __u32 origin)
{
	struct migration_from from = { srv, srv[origin].host };

	return capymig_sw_target(s, how, last, may_take_migration, &from);
}

void policy_sched(const struct policy_server *srv, unsigned int n,
		  unsigned int rotate, struct capymig_sw_sched *s,
		  unsigned int *slots)
{
	unsigned int i, own[CAPYMIG_SW_MAX_SERVERS];

	if (!slots)
		slots = own;
	memset(s, 0, sizeof(*s));
	for (i = 0; i < n; i++)
		if (srv[i].live)
			s->live[s->nlive++] = i;
	least_loaded(srv, n, rotate, s->least);
	if (!s->nlive) {
		memset(slots, 0, n * sizeof(*slots));
		return;
	}
	s->nweighted = lwrr_slots(srv, n, s->nlive, slots);
	interleave(slots, n, s->nweighted, s->weighted);
}
