/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * capymigd's migration policies (Capybara, SIGCOMM'26 §5), as pure
 * functions: what to migrate, given the loads and the connections.  No
 * I/O and no clock: every time is passed in, so recorded sequences replay
 * exactly in the unit tests.
 *
 *  - proactive: when this server's packets per second exceed the pool's
 *    average by more than a threshold, shed the excess, but no more than
 *    the target has room for below the average;
 *  - reactive: when the bytes waiting in the receive queues of all the
 *    connections exceed a threshold, shed the excess;
 *
 * both choosing the fewest connections whose load covers what is to be
 * shed, preferring those with the least queued data (the state to carry),
 * and listing the heaviest first: a rate limit that lets only some go
 * lets those that do the most.
 */
#ifndef CAPYMIGD_POLICY_H
#define CAPYMIGD_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/capymig.h>

/* Up to this many candidates, the selection is exact; above, greedy. */
#define POLICY_EXACT_MAX	12

/* What the policies know of one connection. */
struct policy_conn {
	struct capymig_tuple tuple;
	uint64_t pps;		/* segments received per second, in the
				 * unit of the loads (capymigd: 1/1000) */
	uint32_t rqlen;		/* bytes received, not yet read */
	uint32_t tqlen;		/* bytes written, not yet acknowledged */
	uint32_t flags;		/* CAPYMIG_CONN_F_*: READ_SEQ for a boundary */
	uint32_t read_seq;
	uint32_t copied_seq;	/* the first byte not yet read (LIST) */
	uint64_t arrived_ns;	/* when it migrated here; 0: it did not */
	uint64_t refused_ns;	/* when a migration of it was last refused
				 * or failed, and it stayed; 0: never */
	bool busy;		/* a migration of it is under way */
	bool past_boundary;	/* policy_past_boundary() */
};

struct policy_params {
	unsigned int threshold_pct;	/* proactive: above the average by */
	uint64_t reactive_bytes;	/* reactive: total rqlen above this */
	uint64_t holdoff_ns;		/* no move out so soon after a move in */
	uint64_t backoff_ns;		/* nor after a refusal or a failure */
	bool any_point;			/* also without a request boundary */
	bool target_aware;		/* the LOADs' target load is the one
					 * migrations go to: shed no more
					 * than its room */
};

/*
 * A connection the policies may move: IPv4 (TCPMig moves no other), not
 * already moving, not arrived within the hold-off (no ping-pong), not
 * refused or failed within the back-off, and, unless @p allows any
 * point, at a request boundary.
 */
bool policy_candidate(const struct policy_params *p,
		      const struct policy_conn *c, uint64_t now_ns);

/*
 * The back-off of a connection whose migration was refused or failed
 * before it left: POLICY_BACKOFF_NS, or two decisions of the slower
 * policy (@interval_ns reactive, @decide_ns proactive) if longer.  The
 * connection was chosen as the best; chosen again at once, it would be
 * refused again for the same reason (a state no import takes, a boundary
 * the application is past) and keep the next best from being chosen.
 */
#define POLICY_BACKOFF_NS	(10 * 1000000000ULL)

/*
 * Whether @c moves only at its request boundary (TCPMIG_A_READ_SEQ): when
 * it has one, unless it is past it and @p allows any point, where it then
 * moves as it is.
 */
bool policy_at_boundary(const struct policy_params *p,
			const struct policy_conn *c);

uint64_t policy_backoff_ns(uint64_t interval_ns, uint64_t decide_ns);

/*
 * Whether @c, as just read, is past its request boundary: the application
 * read beyond the monitor's read_seq (LIST's copied_seq is further) and
 * wrote nothing since @prev, the previous reading of the same socket
 * (NULL: none), which read the same read_seq.  A connection answering a
 * request now, or one that only reads, is then refused (EAGAIN).  Without
 * the check against @prev, a busy connection that answers between LIST
 * and the monitor's reading would look past its boundary half the time.
 */
bool policy_past_boundary(const struct policy_conn *c,
			  const struct policy_conn *prev);

/*
 * The selection problem both policies solve: items of some weight (pps,
 * or bytes queued) and cost (bytes to carry).  The best subset of weight
 * at most @limit:
 *
 *  - if some reach @need: the one with the fewest items, then the least
 *    cost, then the least weight (the closest match);
 *  - else the heaviest, then the fewest, then the cheapest: shed what can
 *    be shed.
 *
 * Both functions write the chosen indices to @out (room for @n) and
 * return how many.  The exact search looks at the first
 * POLICY_EXACT_MAX items only.
 */
struct policy_item {
	uint64_t weight;
	uint64_t cost;
};

unsigned int policy_select_exact(const struct policy_item *items,
				 unsigned int n, uint64_t need, uint64_t limit,
				 unsigned int *out);
unsigned int policy_select_greedy(const struct policy_item *items,
				  unsigned int n, uint64_t need,
				  uint64_t limit, unsigned int *out);

/* A subset's figures, and the order above: is @a better than @b? */
struct policy_choice {
	unsigned int n;
	uint64_t weight;
	uint64_t cost;
};

bool policy_better(const struct policy_choice *a,
		   const struct policy_choice *b, uint64_t need);

/*
 * The switch's LOAD-NOTIFICATIONs between two decisions: this server's
 * load, the pool's, and the load of the target the switch would pick for
 * a migration from here (over the notifications that had one), each
 * summed to be averaged.
 */
struct policy_load {
	uint64_t server_pps;
	uint64_t pool_pps;
	uint64_t target_pps;
	uint32_t servers;
	uint32_t samples;
	uint32_t target_samples;
};

/*
 * Whether a LOAD-NOTIFICATION addressed to @target (its TCPMIG_A_TARGET;
 * zero when the event names none) is for the server of @service_port
 * (0: every port).  The switch sends one per server endpoint, and the
 * servers of one host, told apart by port, share its module: another
 * port's load averaged in is another server's.
 */
bool policy_load_ours(const struct tcpmig_endpoint *target,
		      uint16_t service_port);

/*
 * Whether connection @t, as this host serves it, is one of the server of
 * @service_port (0: every port): another port's is another server's,
 * whose migrations are not this daemon's to count or to wait for.
 */
bool policy_conn_ours(const struct capymig_tuple *t, uint16_t service_port);

/* The pool's average load over @acc's notifications; 0 if none. */
uint64_t policy_load_avg(const struct policy_load *acc);

/*
 * The target's mean load over @acc's notifications that had one;
 * TCPMIG_LOAD_NO_TARGET if none did.
 */
uint64_t policy_load_target(const struct policy_load *acc);

/* @target_pps: TCPMIG_LOAD_NO_TARGET when the switch had none. */
void policy_load_add(struct policy_load *acc, uint64_t server_pps,
		     uint64_t pool_pps, uint32_t servers, uint64_t target_pps);

/*
 * Proactive: from the loads @acc averaged, minus @shed_pps already on its
 * way out, chooses among the @n connections of @conns which to move.
 * Writes their indices to @out (room for @n), heaviest first, and returns
 * how many; 0 when the load is within the threshold or the target has no
 * room.  *@excess gets the pps above the average (0 when balanced),
 * *@room the target's room as measured now, whether or not this server
 * sheds (UINT64_MAX when not target-aware): the next decision's
 * @last_room.
 *
 * The load shed is the smaller of the excess and the room: the target
 * ends at the average at most, the shed load does not overload it in
 * turn (Capybara §5.1 sheds the excess alone; a connection of half a
 * server's capacity then saturates whichever server takes it).  The
 * target's load counts @shed_pps too: what left here lately may have gone
 * there, unseen yet in the switch's smoothed count.  The room must have
 * been there at the decision before too (@last_room, what it measured
 * then; UINT64_MAX for none): after a stall of the machine, the burst of
 * requests that were due inflates one window's average, and with it a
 * room that is not there.  The set moved may
 * overshoot by half the threshold (times the average), so that neither
 * server ends beyond half the threshold from the average, and neither
 * acts again on the move.
 */
/*
 * The room a decision counts on: the room measured now, if it was there
 * at the decision before too (@last_room, UINT64_MAX for none).
 */
static inline uint64_t policy_room_bound(uint64_t room, uint64_t last_room)
{
	return room < last_room ? room : last_room;
}

unsigned int policy_proactive(const struct policy_params *p,
			      const struct policy_load *acc,
			      uint64_t shed_pps, uint64_t last_room,
			      const struct policy_conn *conns, unsigned int n,
			      uint64_t now_ns, unsigned int *out,
			      uint64_t *excess, uint64_t *room);

/*
 * The reactive policy's @room after a proactive decision whose room
 * bound was @bound: that room and the threshold's band above the average
 * -- a server stalled while the switch's counts are even has no room to
 * offer, yet the reactive policy is for it; what it must not do is move
 * a connection that takes the target beyond the threshold.  No target
 * (a pool of one), no room; UINT64_MAX when not target-aware.
 */
uint64_t policy_reactive_room(const struct policy_params *p,
			      const struct policy_load *acc, uint64_t bound);

/*
 * The room the reactive policy may fill at @now_ns: @room, as the
 * proactive decision at @room_ns (0: none yet) measured it, less what
 * left since, while the LOADs that make decisions keep coming; without a
 * decision for two windows of @window_ns, POLICY_ROOM_STALE_NS at least
 * (the switch's LOAD period may be up to a second), or none yet: no
 * bound, as with round-robin or a fixed target.  The reactive policy is
 * for a stalled server, which must not wait for the switch's figures to
 * move its queues: with none, it moved nothing from the daemon's start
 * or reload to the first LOAD, or ever, the switch silent.
 */
#define POLICY_ROOM_STALE_NS	(2 * 1000000000ULL)

uint64_t policy_room_now(uint64_t room, uint64_t room_ns, uint64_t now_ns,
			 uint64_t window_ns);

/*
 * Reactive: when the rqlen of the candidates (policy_candidate()) add up
 * to more than the threshold, chooses connections whose rqlen covers the
 * excess, and whose packet rates add up to no more than @room, what the
 * target can take (UINT64_MAX: not target-aware; capymigd: its room and
 * the threshold's band above the average): a connection with a deep
 * queue is often the heaviest, and moved to a server without room for
 * it, it piles up there in turn.  As policy_proactive().
 */
unsigned int policy_reactive(const struct policy_params *p,
			     const struct policy_conn *conns, unsigned int n,
			     uint64_t now_ns, uint64_t room, unsigned int *out,
			     uint64_t *excess);

/*
 * The migration rate limit: a token bucket of @burst tokens refilled at
 * @rate per second, holding @tokens at first.  policy_bucket_take() takes
 * up to @want tokens and returns how many it got.
 */
struct policy_bucket {
	double tokens;
	uint64_t last_ns;
};

void policy_bucket_init(struct policy_bucket *b, unsigned int tokens,
			uint64_t now_ns);
unsigned int policy_bucket_take(struct policy_bucket *b, double rate,
				unsigned int burst, uint64_t now_ns,
				unsigned int want);

#endif /* CAPYMIGD_POLICY_H */
