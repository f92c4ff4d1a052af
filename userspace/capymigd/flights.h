/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * capymigd's migrations from this server, as their events tell them: the
 * load they take away (the proactive policy's shed), the connections
 * moving (no candidates), and how many of its own are in flight (the
 * bound).  No I/O and no clock, for the unit tests.
 */
#ifndef CAPYMIGD_FLIGHTS_H
#define CAPYMIGD_FLIGHTS_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/capymig.h>

/*
 * Migrations remembered: in flight, and ended within the settle time.
 * Also the most max_in_flight may be, so that one of the daemon's own
 * always finds room.
 */
#define FLIGHTS_MAX	1024
/*
 * How long a migration may fly, in the module's timeouts (timeout_ms):
 * MIGRATED or FAILED comes within TCPMIG_MIGRATION_TIMEOUTS; one more is
 * the margin: timers, the events' way here.
 */
#define FLIGHT_TIMEOUTS	(TCPMIG_MIGRATION_TIMEOUTS + 1)
/* A migration the daemon saw no end of is forgotten no sooner than this. */
#define FLIGHT_LOST_MIN_NS	(10 * 1000000000ULL)

/* A migration from this server, seen through its events. */
struct flight {
	uint32_t id;
	struct capymig_tuple tuple;
	uint64_t mpps;		/* the load it takes away */
	uint64_t seen_ns;	/* when first heard of */
	uint64_t prepare_ns;	/* PREPARE_SENT, by the module's clock */
	uint64_t ended_ns;	/* 0 while in flight */
	bool ours;
	bool migrated;
};

struct flights {
	struct flight v[FLIGHTS_MAX];
	unsigned int n;
	unsigned int in_flight;		/* ours, not ended, no dry run's */
	uint64_t lost_ns;		/* flights_set_timeout() */
};

/*
 * The module's migration timeout, @timeout_ms: a migration whose end
 * never came (the events socket overran) is forgotten after
 * FLIGHT_TIMEOUTS of it, FLIGHT_LOST_MIN_NS at least.  Forgotten sooner,
 * a migration still under way no longer counts in the in-flight bound,
 * nor its connection as moving, nor its load as leaving.
 */
void flights_set_timeout(struct flights *fl, uint32_t timeout_ms);

struct flight *flights_find(struct flights *fl, uint32_t id);

/*
 * Room for one more, the oldest that may be forgotten making it when there
 * is none (flights.c: victim()); NULL if none may.
 */
struct flight *flights_add(struct flights *fl, uint32_t id,
			   const struct capymig_tuple *t, uint64_t now_ns);

/* @f is one the daemon started (id 0: a dry run's), taking @mpps away. */
void flights_start(struct flights *fl, struct flight *f, uint64_t mpps);

void flights_end(struct flights *fl, struct flight *f, uint64_t now_ns);

/* A dry run's migrations (id 0) are over when it is. */
void flights_end_dry_runs(struct flights *fl, uint64_t now_ns);

/*
 * Forgets the migrations that ended longer ago than @settle_ns, and
 * those whose end never came (the events socket overran).
 */
void flights_expire(struct flights *fl, uint64_t now_ns, uint64_t settle_ns);

/* Load on its way out, or gone too recently for the switch to see it. */
uint64_t flights_shed(const struct flights *fl);

/* Whether a migration of @t is under way. */
bool flights_moving(const struct flights *fl, const struct capymig_tuple *t);

#endif /* CAPYMIGD_FLIGHTS_H */
