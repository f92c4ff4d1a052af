// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * capymigd's migration policies; see policy.h.
 */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "policy.h"

/*
 * Whether @since_ns (0: never) lies within @span_ns before @now_ns.  A
 * time at or after @now_ns does: capymigd reads its clock before the
 * connections, so an arrival the monitor recorded meanwhile is later
 * than it, and now - since would wrap to an age of centuries.
 */
static bool recent(uint64_t since_ns, uint64_t now_ns, uint64_t span_ns)
{
	if (!since_ns || !span_ns)
		return false;
	return since_ns >= now_ns || now_ns - since_ns < span_ns;
}

bool policy_candidate(const struct policy_params *p,
		      const struct policy_conn *c, uint64_t now_ns)
{
	/* MIGRATE refuses the others (EAFNOSUPPORT), every time. */
	if (c->tuple.family != AF_INET)
		return false;
	if (c->busy || (c->past_boundary && !p->any_point))
		return false;
	if (!p->any_point && !(c->flags & CAPYMIG_CONN_F_READ_SEQ))
		return false;
	return !recent(c->arrived_ns, now_ns, p->holdoff_ns) &&
	       !recent(c->refused_ns, now_ns, p->backoff_ns);
}

bool policy_at_boundary(const struct policy_params *p,
			const struct policy_conn *c)
{
	return (c->flags & CAPYMIG_CONN_F_READ_SEQ) &&
	       !(p->any_point && c->past_boundary);
}

uint64_t policy_backoff_ns(uint64_t interval_ns, uint64_t decide_ns)
{
	uint64_t slower = interval_ns > decide_ns ? interval_ns : decide_ns;

	return 2 * slower > POLICY_BACKOFF_NS ? 2 * slower : POLICY_BACKOFF_NS;
}

bool policy_past_boundary(const struct policy_conn *c,
			  const struct policy_conn *prev)
{
	uint32_t both = c->flags & (prev ? prev->flags : 0);

	return (both & CAPYMIG_CONN_F_READ_SEQ) &&
	       c->read_seq == prev->read_seq && c->copied_seq != c->read_seq;
}

bool policy_better(const struct policy_choice *a,
		   const struct policy_choice *b, uint64_t need)
{
	bool a_covers = a->weight >= need, b_covers = b->weight >= need;

	if (a_covers != b_covers)
		return a_covers;
	if (!a_covers && a->weight != b->weight)
		return a->weight > b->weight;
	if (a->n != b->n)
		return a->n < b->n;
	if (a->cost != b->cost)
		return a->cost < b->cost;
	return a_covers && a->weight < b->weight;
}

/*
 * Every subset by increasing size, so that the search ends with the first
 * size at which some subset covers the need: a larger one cannot win.
 */
unsigned int policy_select_exact(const struct policy_item *items,
				 unsigned int n, uint64_t need, uint64_t limit,
				 unsigned int *out)
{
	struct policy_choice best = { 0 }, cur;
	unsigned int idx[POLICY_EXACT_MAX], k, i;

	if (n > POLICY_EXACT_MAX)
		n = POLICY_EXACT_MAX;
	for (k = 1; k <= n && best.weight < need; k++) {
		for (i = 0; i < k; i++)
			idx[i] = i;
		for (;;) {
			cur = (struct policy_choice){ .n = k };
			for (i = 0; i < k; i++) {
				cur.weight += items[idx[i]].weight;
				cur.cost += items[idx[i]].cost;
			}
			if (cur.weight <= limit &&
			    policy_better(&cur, &best, need)) {
				best = cur;
				memcpy(out, idx, k * sizeof(*idx));
			}
			/* The next combination of k of n, in order. */
			for (i = k; i-- > 0 && idx[i] == n - k + i;)
				;
			if (i == (unsigned int)-1)
				break;
			for (idx[i]++; ++i < k;)
				idx[i] = idx[i - 1] + 1;
		}
	}
	return best.n;
}

/* Heaviest first; among equals, the cheapest. */
static int by_weight(const void *a, const void *b, void *arg)
{
	const struct policy_item *items = arg;
	const struct policy_item *x = &items[*(const unsigned int *)a];
	const struct policy_item *y = &items[*(const unsigned int *)b];

	if (x->weight != y->weight)
		return x->weight < y->weight ? 1 : -1;
	return (x->cost > y->cost) - (x->cost < y->cost);
}

/*
 * Swaps a chosen item for a cheaper one left out while the cover holds,
 * until no swap helps: the count stays, the state to carry shrinks.
 */
static void cheapen(const struct policy_item *items, unsigned int n,
		    uint64_t need, uint64_t limit, unsigned int *out,
		    unsigned int k, uint64_t sum, bool *chosen)
{
	unsigned int i, o;
	bool improved;

	do {
		improved = false;
		for (i = 0; i < k; i++) {
			const struct policy_item *c = &items[out[i]];

			for (o = 0; o < n; o++) {
				uint64_t s = sum - c->weight + items[o].weight;

				if (chosen[o] || items[o].cost >= c->cost ||
				    s < need || s > limit)
					continue;
				chosen[out[i]] = false;
				chosen[o] = true;
				out[i] = o;
				sum = s;
				improved = true;
				break;
			}
		}
	} while (improved);
}

/*
 * Takes the heaviest items that fit under the limit until the need is
 * covered, which keeps their number small; the item that completes the
 * cover is the cheapest of those that would.  Then trades chosen items
 * for cheaper ones as long as the cover holds.
 */
unsigned int policy_select_greedy(const struct policy_item *items,
				  unsigned int n, uint64_t need,
				  uint64_t limit, unsigned int *out)
{
	unsigned int *order, i, j, best, k = 0;
	uint64_t sum = 0;
	bool *chosen;

	order = malloc(n * sizeof(*order));
	chosen = calloc(n, sizeof(*chosen));
	if (!order || !chosen) {
		free(order);
		free(chosen);
		return 0;
	}
	for (i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), by_weight, (void *)items);

	for (i = 0; i < n && sum < need; i++) {
		const struct policy_item *it = &items[order[i]];

		if (it->weight > limit - sum)
			continue;
		best = i;
		if (sum + it->weight >= need) {
			for (j = i + 1; j < n; j++) {
				const struct policy_item *o = &items[order[j]];

				if (sum + o->weight < need)
					break;
				if (o->cost < items[order[best]].cost)
					best = j;
			}
		}
		out[k++] = order[best];
		chosen[order[best]] = true;
		sum += items[order[best]].weight;
	}
	if (sum >= need)
		cheapen(items, n, need, limit, out, k, sum, chosen);
	free(order);
	free(chosen);
	return k;
}

static unsigned int policy_select(const struct policy_item *items,
				  unsigned int n, uint64_t need,
				  uint64_t limit, unsigned int *out)
{
	if (n <= POLICY_EXACT_MAX)
		return policy_select_exact(items, n, need, limit, out);
	return policy_select_greedy(items, n, need, limit, out);
}

/* Orders the chosen @out by @weight, heaviest first (a few: insertion). */
static void heaviest_first(const struct policy_conn *conns,
			   uint64_t (*weight)(const struct policy_conn *),
			   unsigned int *out, unsigned int k)
{
	unsigned int i, j, c;

	for (i = 1; i < k; i++) {
		c = out[i];
		for (j = i; j > 0 && weight(&conns[out[j - 1]]) <
				     weight(&conns[c]); j--)
			out[j] = out[j - 1];
		out[j] = c;
	}
}

/*
 * Runs the selection over the candidates among @conns of at most
 * @max_pps, with @weight as each one's weight, and writes the chosen
 * connections' indices to @out.
 */
static unsigned int select_conns(const struct policy_params *p,
				 const struct policy_conn *conns,
				 unsigned int n, uint64_t now_ns,
				 uint64_t (*weight)(const struct policy_conn *),
				 uint64_t need, uint64_t limit,
				 uint64_t max_pps, unsigned int *out)
{
	struct policy_item *items;
	unsigned int *which, i, m = 0, k;

	items = malloc(n * sizeof(*items));
	which = malloc(n * sizeof(*which));
	if (!items || !which) {
		free(items);
		free(which);
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (!weight(&conns[i]) || conns[i].pps > max_pps ||
		    !policy_candidate(p, &conns[i], now_ns))
			continue;
		items[m] = (struct policy_item){
			.weight = weight(&conns[i]),
			.cost = (uint64_t)conns[i].rqlen + conns[i].tqlen,
		};
		which[m++] = i;
	}
	k = policy_select(items, m, need, limit, out);
	for (i = 0; i < k; i++)
		out[i] = which[out[i]];
	heaviest_first(conns, weight, out, k);
	free(items);
	free(which);
	return k;
}

bool policy_load_ours(const struct tcpmig_endpoint *target,
		      uint16_t service_port)
{
	return !service_port || !target->port ||
	       ntohs(target->port) == service_port;
}

bool policy_conn_ours(const struct capymig_tuple *t, uint16_t service_port)
{
	return !service_port || ntohs(t->local_port) == service_port;
}

void policy_load_add(struct policy_load *acc, uint64_t server_pps,
		     uint64_t pool_pps, uint32_t servers, uint64_t target_pps)
{
	acc->server_pps += server_pps;
	acc->pool_pps += pool_pps;
	acc->servers = servers;
	acc->samples++;
	if (target_pps != TCPMIG_LOAD_NO_TARGET) {
		acc->target_pps += target_pps;
		acc->target_samples++;
	}
}

uint64_t policy_load_target(const struct policy_load *acc)
{
	if (!acc->target_samples)
		return TCPMIG_LOAD_NO_TARGET;
	return acc->target_pps / acc->target_samples;
}

uint64_t policy_load_avg(const struct policy_load *acc)
{
	if (!acc->samples || !acc->servers)
		return 0;
	return acc->pool_pps / acc->samples / acc->servers;
}

uint64_t policy_reactive_room(const struct policy_params *p,
			      const struct policy_load *acc, uint64_t bound)
{
	if (!p->target_aware)
		return UINT64_MAX;
	if (!acc->target_samples)
		return 0;
	return bound + policy_load_avg(acc) * p->threshold_pct / 100;
}

uint64_t policy_room_now(uint64_t room, uint64_t room_ns, uint64_t now_ns,
			 uint64_t window_ns)
{
	uint64_t stale = 2 * window_ns > POLICY_ROOM_STALE_NS ? 2 * window_ns :
			 POLICY_ROOM_STALE_NS;

	if (!room_ns || (now_ns > room_ns && now_ns - room_ns > stale))
		return UINT64_MAX;
	return room;
}

static uint64_t conn_pps(const struct policy_conn *c)
{
	return c->pps;
}

unsigned int policy_proactive(const struct policy_params *p,
			      const struct policy_load *acc,
			      uint64_t shed_pps, uint64_t last_room,
			      const struct policy_conn *conns, unsigned int n,
			      uint64_t now_ns, unsigned int *out,
			      uint64_t *excess, uint64_t *room)
{
	uint64_t load, avg, target, need, bound = UINT64_MAX;

	*excess = 0;
	*room = UINT64_MAX;
	if (!acc->samples || !acc->servers)
		return 0;
	load = acc->server_pps / acc->samples;
	avg = policy_load_avg(acc);
	load = load > shed_pps ? load - shed_pps : 0;
	if (p->target_aware) {
		/* No target, no room. */
		target = policy_load_target(acc);
		target = target == TCPMIG_LOAD_NO_TARGET ? UINT64_MAX :
			 target + shed_pps;
		*room = avg > target ? avg - target : 0;
		bound = policy_room_bound(*room, last_room);
	}
	if (load * 100 <= avg * (100 + p->threshold_pct))
		return 0;
	*excess = load - avg;
	need = *excess < bound ? *excess : bound;
	if (!need)
		return 0;
	return select_conns(p, conns, n, now_ns, conn_pps, need,
			    need + avg * p->threshold_pct / 200, UINT64_MAX,
			    out);
}

static uint64_t conn_rqlen(const struct policy_conn *c)
{
	return c->rqlen;
}

unsigned int policy_reactive(const struct policy_params *p,
			     const struct policy_conn *conns, unsigned int n,
			     uint64_t now_ns, uint64_t room, unsigned int *out,
			     uint64_t *excess)
{
	uint64_t total = 0, pps = 0;
	unsigned int i, k;

	/*
	 * The queues of the candidates only: what is already leaving, held
	 * off or not movable is no reason to move others, and counted, an
	 * excess the candidates cannot cover makes the heaviest set of them
	 * go -- every one with anything queued.
	 */
	for (i = 0; i < n; i++)
		if (policy_candidate(p, &conns[i], now_ns))
			total += conns[i].rqlen;
	*excess = 0;
	if (total <= p->reactive_bytes)
		return 0;
	*excess = total - p->reactive_bytes;
	k = select_conns(p, conns, n, now_ns, conn_rqlen, *excess, UINT64_MAX,
			 room, out);
	/* The most queued first, as long as the target has room. */
	for (i = 0; i < k && conns[out[i]].pps <= room - pps; i++)
		pps += conns[out[i]].pps;
	return i;
}

void policy_bucket_init(struct policy_bucket *b, unsigned int tokens,
			uint64_t now_ns)
{
	b->tokens = tokens;
	b->last_ns = now_ns;
}

unsigned int policy_bucket_take(struct policy_bucket *b, double rate,
				unsigned int burst, uint64_t now_ns,
				unsigned int want)
{
	unsigned int got;

	if (now_ns > b->last_ns) {
		b->tokens += rate * (now_ns - b->last_ns) / 1e9;
		b->last_ns = now_ns;
	}
	if (b->tokens > burst)
		b->tokens = burst;
	got = b->tokens < want ? (unsigned int)b->tokens : want;
	b->tokens -= got;
	return got;
}
