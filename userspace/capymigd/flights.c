// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * capymigd's migrations from this server; see flights.h.
 */
#include <string.h>

#include "flights.h"

/*
 * Whether @f holds one of the max_in_flight slots: a migration of ours
 * under way.  A dry run's (id 0) holds none: it lasts until forgotten
 * (FLIGHT_LOST_MIN_NS at least), and max_in_flight of them stopped a dry run's
 * decisions for as long, far fewer than real ones would have been.
 */
static bool holds_slot(const struct flight *f)
{
	return f->ours && f->id && !f->ended_ns;
}

struct flight *flights_find(struct flights *fl, uint32_t id)
{
	unsigned int i;

	for (i = 0; i < fl->n; i++)
		if (fl->v[i].id == id)
			return &fl->v[i];
	return NULL;
}

/*
 * The record to forget for room: the oldest that ended, else the oldest
 * not ours (capyctl's, another daemon's), else the oldest dry run's.
 * Never a migration of ours under way: forgotten, it would leave the
 * in-flight bound, its connection would be chosen again (and refused,
 * EBUSY), and its load would count as staying.  NULL if every record is
 * one, which max_in_flight (FLIGHTS_MAX at most) keeps the daemon's own
 * from meeting.
 */
static struct flight *victim(struct flights *fl)
{
	struct flight *not_ours = NULL, *dry_run = NULL;
	unsigned int i;

	for (i = 0; i < fl->n; i++) {
		struct flight *f = &fl->v[i];

		if (f->ended_ns)
			return f;
		if (!f->ours && !not_ours)
			not_ours = f;
		else if (f->ours && !f->id && !dry_run)
			dry_run = f;
	}
	return not_ours ?: dry_run;
}

struct flight *flights_add(struct flights *fl, uint32_t id,
			   const struct capymig_tuple *t, uint64_t now_ns)
{
	struct flight *f;

	if (fl->n == FLIGHTS_MAX) {
		f = victim(fl);
		if (!f)
			return NULL;
		memmove(f, f + 1, (fl->v + fl->n - f - 1) * sizeof(*f));
		fl->n--;
	}
	f = &fl->v[fl->n++];
	*f = (struct flight){ .id = id, .tuple = *t, .seen_ns = now_ns };
	return f;
}

void flights_start(struct flights *fl, struct flight *f, uint64_t mpps)
{
	f->ours = true;
	f->mpps = mpps;
	if (holds_slot(f))
		fl->in_flight++;
}

void flights_end(struct flights *fl, struct flight *f, uint64_t now_ns)
{
	if (holds_slot(f))
		fl->in_flight--;
	f->ended_ns = now_ns;
}

void flights_end_dry_runs(struct flights *fl, uint64_t now_ns)
{
	unsigned int i;

	for (i = 0; i < fl->n; i++)
		if (!fl->v[i].id && !fl->v[i].ended_ns)
			flights_end(fl, &fl->v[i], now_ns);
}

void flights_set_timeout(struct flights *fl, uint32_t timeout_ms)
{
	fl->lost_ns = FLIGHT_TIMEOUTS * timeout_ms * 1000000ULL;
}

void flights_expire(struct flights *fl, uint64_t now_ns, uint64_t settle_ns)
{
	uint64_t lost = fl->lost_ns > FLIGHT_LOST_MIN_NS ? fl->lost_ns :
			FLIGHT_LOST_MIN_NS;
	unsigned int i, k = 0;

	for (i = 0; i < fl->n; i++) {
		struct flight *f = &fl->v[i];

		if (!f->ended_ns && now_ns - f->seen_ns > lost)
			flights_end(fl, f, now_ns - settle_ns);
		if (f->ended_ns && now_ns - f->ended_ns >= settle_ns)
			continue;
		fl->v[k++] = *f;
	}
	fl->n = k;
}

uint64_t flights_shed(const struct flights *fl)
{
	uint64_t mpps = 0;
	unsigned int i;

	for (i = 0; i < fl->n; i++) {
		const struct flight *f = &fl->v[i];

		if (f->ours && (!f->ended_ns || f->migrated))
			mpps += f->mpps;
	}
	return mpps;
}

bool flights_moving(const struct flights *fl, const struct capymig_tuple *t)
{
	unsigned int i;

	for (i = 0; i < fl->n; i++)
		if (!fl->v[i].ended_ns &&
		    !memcmp(&fl->v[i].tuple, t, sizeof(*t)))
			return true;
	return false;
}
