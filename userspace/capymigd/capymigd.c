// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * capymigd: the capymig migration daemon of a server.
 *
 *	capymigd [-c FILE] [-n] [-v]
 *	capymigd [-c FILE] --check-config
 *
 * Reads the load of each connection of the service from the server
 * monitor (bpf/conn_monitor.bpf.c, attached to the service's cgroup) and
 * the module's LIST, follows the module's events, and moves connections
 * away with TCPMig when Capybara's policies (policy.h) say so:
 *
 *  - proactive, on the switch's LOAD-NOTIFICATIONs: this server above the
 *    pool's average by more than threshold_pct;
 *  - reactive, every interval_ms: more than threshold_kib waiting in the
 *    connections' receive queues.
 *
 * The kernel owns every migration: the daemon only asks for them (MIGRATE)
 * and counts how they end.  Starting, stopping, being killed or restarting
 * changes nothing of the connections or of the migrations in flight.
 *
 * SIGHUP reloads the configuration file; SIGTERM and SIGINT stop.  Under
 * systemd (Type=notify) it reports READY, RELOADING and STOPPING, and its
 * log lines carry syslog priorities for the journal.  The configuration
 * keys, the policies and the metrics: Documentation/capymigd.rst.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include <systemd/sd-daemon.h>

#include "config.h"
#include "exporter.h"
#include "flights.h"
#include "metrics.h"
#include "monitor.h"
#include "policy.h"
#include "tcpmig.h"
#include "tuple.h"

#define PROG		"capymigd"
#define ARRIVALS_MAX	1024
/*
 * The policies' unit of load: a thousandth of a packet a second.  In
 * whole packets a second, a connection of a request every other second
 * reads 0 and is no candidate, and the lighter connections that could
 * fill a target's room without overloading it are invisible.
 */
#define MPPS		1000

/* --- logging ------------------------------------------------------------ */

static bool log_journal;	/* stderr goes to the journal */
static bool log_debug;

static void __attribute__((format(printf, 2, 3)))
logmsg(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio == LOG_DEBUG && !log_debug)
		return;
	if (log_journal)
		fprintf(stderr, "<%d>", prio);
	else
		fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* --- state --------------------------------------------------------------- */

struct conn_entry {
	struct policy_conn pc;
	uint64_t cookie;	/* the socket's (LIST): a tuple may be reused */
	uint64_t segs_in;
	uint64_t first_ns;	/* when the monitor first saw it, */
	uint64_t first_segs;	/* with so many segments received */
	bool monitored;
};

/* The connections as last read, sorted by tuple. */
struct table {
	struct conn_entry *v;
	unsigned int n, cap;
	uint64_t read_ns;
};

struct arrival {
	struct capymig_tuple tuple;
	uint64_t ns;
};

struct capymigd {
	const char *config_path;
	bool dry_run_flag;		/* -n overrides the file */
	struct capymigd_config cfg;
	struct policy_params params;
	struct tcpmig_nl req, ev;
	struct tcpmig_nl loads;	/* LOAD, 1 kHz: apart, not to overrun @ev */
	struct monitor mon;
	bool have_monitor;
	int follow_err;			/* monitor_follow()'s last failure */
	struct table conns;
	struct flights flights;
	struct arrival arrivals[ARRIVALS_MAX];
	unsigned int narrivals;
	struct policy_load load;
	uint64_t last_decide_ns;
	/*
	 * What the switch's target can take, as of the last decision, less
	 * what left since: the reactive policy's bound too.
	 */
	uint64_t room;
	uint64_t room_ns;	/* when; 0: unknown */
	uint64_t last_room;	/* as the last decision measured it */
	struct policy_bucket bucket;
	unsigned int rr;
	struct metrics metrics;
	struct exporter exporter;
	int epoll, sig, timer;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* No decision measured the target's room yet (policy_room_now()). */
static void forget_room(struct capymigd *d)
{
	d->room = d->last_room = UINT64_MAX;
	d->room_ns = 0;
}

static void apply_config(struct capymigd *d)
{
	const struct capymigd_config *c = &d->cfg;
	bool target_aware = d->params.target_aware;

	if (d->dry_run_flag)
		d->cfg.dry_run = true;
	d->params = (struct policy_params){
		.threshold_pct = c->threshold_pct,
		.reactive_bytes = (uint64_t)c->threshold_kib * 1024,
		.holdoff_ns = c->holdoff_ms * 1000000ULL,
		.backoff_ns = policy_backoff_ns(c->interval_ms * 1000000ULL,
						c->decide_ms * 1000000ULL),
		.any_point = c->any_point,
		/* The LOADs name the load of the switch's target only. */
		.target_aware = c->target == CAPYMIGD_TARGET_SWITCH,
	};
	/* A reload keeps the room measured, unless of another target. */
	if (d->params.target_aware != target_aware)
		forget_room(d);
	d->metrics.threshold_pct = c->threshold_pct;
	d->metrics.reactive_threshold_bytes = d->params.reactive_bytes;
	d->metrics.dry_run_mode = c->dry_run;
}

/* --- migrations ---------------------------------------------------------- */

/* Forgets the migrations over, as flights_expire() says. */
static void expire_flights(struct capymigd *d, uint64_t now)
{
	flights_expire(&d->flights, now, d->cfg.settle_ms * 1000000ULL);
	d->metrics.in_flight = d->flights.in_flight;
}

static const struct tcpmig_endpoint *pick_target(struct capymigd *d)
{
	switch (d->cfg.target) {
	case CAPYMIGD_TARGET_ROUND_ROBIN:
		return &d->cfg.targets[d->rr++ % d->cfg.ntargets];
	case CAPYMIGD_TARGET_FIXED:
		return &d->cfg.fixed;
	case CAPYMIGD_TARGET_SWITCH:
		break;
	}
	return NULL;
}

static const char *const policy_names[METRICS_POLICIES] = {
	[METRICS_PROACTIVE] = "proactive",
	[METRICS_REACTIVE] = "reactive",
};

/*
 * The monitor's record of @e's socket into @rec; false if it has none: a
 * record of the tuple may be another socket's, one whose end the monitor
 * did not see (it watched another cgroup meanwhile).
 */
static bool monitored(const struct capymigd *d, const struct conn_entry *e,
		      struct capymig_conn *rec)
{
	return d->have_monitor && !monitor_lookup(&d->mon, &e->pc.tuple, rec) &&
	       rec->cookie == e->cookie;
}

/*
 * The connection's request boundary as the monitor has it now, not as
 * the last reading had it: a connection served a few times a second has
 * answered again since, and MIGRATE would refuse the older boundary
 * (EAGAIN) -- the busiest connections, which the policies prefer, always.
 */
static void fresh_boundary(const struct capymigd *d, struct conn_entry *e)
{
	struct capymig_conn rec;

	if (monitored(d, e, &rec) && (rec.flags & CAPYMIG_CONN_F_READ_SEQ)) {
		e->pc.flags |= CAPYMIG_CONN_F_READ_SEQ;
		e->pc.read_seq = rec.read_seq;
	}
}

/* Starts the migration of @e; false if the module refused it. */
static bool migrate(struct capymigd *d, struct conn_entry *e,
		    enum metrics_policy policy, uint64_t now)
{
	const struct tcpmig_endpoint *target = pick_target(d);
	const struct policy_conn *c = &e->pc;
	char text[CAPYMIG_TUPLE_STRLEN], to[24];
	struct flight *f;
	uint32_t id;
	int err;

	capymig_tuple_format(&c->tuple, text);
	if (target)
		capymig_wire_endpoint_format(target, to);
	else
		strcpy(to, "the switch's choice");
	/*
	 * A dry run's migration is one that never ends: the connection is
	 * not chosen again until it is forgotten (flights_expire()), and its
	 * load counts as leaving, as a real migration's would.  It takes a
	 * token, not an in-flight slot (flights_start()).
	 */
	if (d->cfg.dry_run) {
		d->metrics.dry_run[policy]++;
		logmsg(LOG_INFO, "dry run: %s would migrate %s (%.1f pps, "
		       "rqlen %" PRIu32 ", tqlen %" PRIu32 ") to %s",
		       policy_names[policy], text, (double)c->pps / MPPS,
		       c->rqlen, c->tqlen, to);
		id = 0;
	} else {
		struct tcpmig_migrate_opts opts = { .target = target };

		fresh_boundary(d, e);
		opts.at_read_seq = policy_at_boundary(&d->params, c);
		opts.read_seq = c->read_seq;
		err = tcpmig_migrate_with(&d->req, &c->tuple, &opts, &id);
		if (err) {
			e->pc.refused_ns = now;
			d->metrics.start_errors++;
			logmsg(LOG_WARNING, "%s: migrating %s: %s%s%s",
			       policy_names[policy], text,
			       tcpmig_nl_strerror(err),
			       d->req.ext_msg[0] ? ": " : "", d->req.ext_msg);
			return false;
		}
		d->metrics.started[policy]++;
		logmsg(LOG_INFO, "%s: migrating %s (%.1f pps, rqlen %"
		       PRIu32 ", tqlen %" PRIu32 ") to %s: migration %" PRIu32,
		       policy_names[policy], text, (double)c->pps / MPPS,
		       c->rqlen, c->tqlen, to, id);
	}
	e->pc.busy = true;
	f = (id ? flights_find(&d->flights, id) : NULL) ?:
	    flights_add(&d->flights, id, &c->tuple, now);
	/* Room: fewer than max_in_flight, FLIGHTS_MAX at most, are ours. */
	if (f)
		flights_start(&d->flights, f, c->pps);
	if (d->room != UINT64_MAX)
		d->room -= c->pps < d->room ? c->pps : d->room;
	d->metrics.in_flight = d->flights.in_flight;
	return true;
}

/*
 * Starts what the rate limit and the in-flight bound let through;
 * returns how many.
 */
static unsigned int act(struct capymigd *d, enum metrics_policy policy,
			const unsigned int *chosen, unsigned int n,
			uint64_t now)
{
	unsigned int room, granted, started = 0, i;

	room = d->cfg.max_in_flight > d->flights.in_flight ?
	       d->cfg.max_in_flight - d->flights.in_flight : 0;
	granted = policy_bucket_take(&d->bucket, d->cfg.rate, d->cfg.burst,
				     now, n < room ? n : room);
	d->metrics.rate_limited += n - granted;
	if (granted < n)
		logmsg(LOG_DEBUG, "%s: %u of %u migrations held back by the "
		       "rate limit or the in-flight bound",
		       policy_names[policy], n - granted, n);
	for (i = 0; i < granted; i++)
		started += migrate(d, &d->conns.v[chosen[i]], policy, now);
	/* A migration the module refused moved nothing: no token spent. */
	d->bucket.tokens += granted - started;
	return started;
}

/* The table's connections as the policies take them. */
static struct policy_conn *policy_view(const struct capymigd *d)
{
	struct policy_conn *pc = malloc((d->conns.n + 1) * sizeof(*pc));
	unsigned int i;

	for (i = 0; pc && i < d->conns.n; i++)
		pc[i] = d->conns.v[i].pc;
	return pc;
}

static void proactive(struct capymigd *d, uint64_t now)
{
	struct policy_conn *pc = policy_view(d);
	unsigned int *out = malloc((d->conns.n + 1) * sizeof(*out));
	uint64_t excess, room, bound, shed = flights_shed(&d->flights);
	uint64_t window = d->cfg.decide_ms * 1000000ULL;
	unsigned int n, i;

	if (pc && out) {
		/*
		 * A rate measured over less than the window is no measure of
		 * what a target must take: a connection just opened reads
		 * lighter or heavier than it is.  Not yet a candidate.
		 */
		for (i = 0; i < d->conns.n; i++)
			if (now - d->conns.v[i].first_ns < window)
				pc[i].pps = 0;
		n = policy_proactive(&d->params, &d->load, shed,
				     d->last_room, pc, d->conns.n, now, out,
				     &excess, &room);
		bound = policy_room_bound(room, d->last_room);
		d->last_room = room;
		room = bound;
		d->room = policy_reactive_room(&d->params, &d->load, bound);
		d->room_ns = now;
		/* Off, it still measures the room, for the reactive policy. */
		if (!d->cfg.proactive)
			excess = n = 0;
		if (excess)
			logmsg(LOG_DEBUG, "proactive: %.1f pps against a pool "
			       "average of %.1f (%.1f leaving): %.1f pps above "
			       "it, room for %.1f on the target: %u connections",
			       (double)d->load.server_pps / d->load.samples /
			       MPPS, (double)policy_load_avg(&d->load) / MPPS,
			       (double)shed / MPPS, (double)excess / MPPS,
			       room == UINT64_MAX ? -1 : (double)room / MPPS, n);
		if (act(d, METRICS_PROACTIVE, out, n, now))
			logmsg(LOG_INFO, "proactive: %.1f pps above the pool's "
			       "average, %.1f leaving, room for %.1f on the "
			       "target", (double)excess / MPPS,
			       (double)shed / MPPS,
			       room == UINT64_MAX ? -1 : (double)room / MPPS);
	}
	free(pc);
	free(out);
	d->load = (struct policy_load){ 0 };
	d->last_decide_ns = now;
}

static void reactive(struct capymigd *d, uint64_t now)
{
	struct policy_conn *pc = policy_view(d);
	unsigned int *out = malloc((d->conns.n + 1) * sizeof(*out));
	uint64_t excess, room;
	unsigned int n;

	if (pc && out) {
		room = policy_room_now(d->room, d->room_ns, now,
				       d->cfg.decide_ms * 1000000ULL);
		n = policy_reactive(&d->params, pc, d->conns.n, now, room, out,
				    &excess);
		if (excess)
			logmsg(LOG_DEBUG, "reactive: %" PRIu64 " bytes queued, "
			       "%" PRIu64 " above the threshold: shed with %u "
			       "connections", d->params.reactive_bytes + excess,
			       excess, n);
		if (act(d, METRICS_REACTIVE, out, n, now))
			logmsg(LOG_INFO, "reactive: %" PRIu64 " bytes queued beyond "
			       "the threshold", excess);
	}
	free(pc);
	free(out);
}

/* --- the connections ----------------------------------------------------- */

static int collect(const struct tcpmig_conn *c, void *arg)
{
	struct table *t = arg;

	if (t->n == t->cap) {
		unsigned int cap = t->cap ? 2 * t->cap : 256;
		struct conn_entry *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -1;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n++] = (struct conn_entry){
		.pc = {
			.tuple = c->tuple,
			.rqlen = c->rqlen,
			.tqlen = c->tqlen,
			.copied_seq = c->copied_seq,
		},
		.cookie = c->cookie,
	};
	return 0;
}

/*
 * @e's packet rate, @prev its previous reading: the rate since then,
 * averaged exponentially over decide_ms, the window over which the
 * proactive policy averages the server's load.  The excess it sheds and
 * the connections' rates that cover it are then measured alike; and a
 * connection of a few requests a second, which a single reading of
 * interval_ms often sees with no packet at all, keeps a rate and stays a
 * candidate.  Younger than the window, the average since it was first
 * seen: starting from 0 would understate the busiest connections just
 * when the first decisions are taken, and let the reactive policy move
 * one too heavy for its target (the proactive policy does not take one
 * younger than the window at all).
 */
static uint64_t smooth_mpps(const struct capymigd *d,
			    const struct conn_entry *prev,
			    const struct conn_entry *e, uint64_t now)
{
	double dt = now - d->conns.read_ns;
	double window = d->cfg.decide_ms * 1e6;
	double mpps = (e->segs_in - prev->segs_in) * 1e9 * MPPS / dt;

	if (now - e->first_ns < window)
		return (e->segs_in - e->first_segs) * 1e9 * MPPS /
		       (now - e->first_ns);
	return (prev->pc.pps * window + mpps * dt) / (window + dt);
}

/* @prev, if it is a reading of @e's socket: a tuple may be reused. */
static struct conn_entry *same_socket(const struct conn_entry *e,
				      struct conn_entry *prev)
{
	if (prev && e->monitored && prev->monitored &&
	    e->cookie == prev->cookie)
		return prev;
	return NULL;
}

/*
 * The service restarted in a new cgroup: the monitor follows it there.
 * A failure to is said once, not at every interval it is tried again.
 */
static void follow_cgroup(struct capymigd *d)
{
	int ret = monitor_follow(&d->mon, d->cfg.cgroup, d->cfg.bpf_pin);

	if (ret > 0)
		logmsg(LOG_NOTICE, "server monitor: %s was made anew: "
		       "attached to it again", d->cfg.cgroup);
	else if (ret < 0 && ret != d->follow_err)
		logmsg(LOG_ERR, "server monitor: attaching to %s again: %s "
		       "(trying again each interval)", d->cfg.cgroup,
		       strerror(-ret));
	d->follow_err = ret < 0 ? ret : 0;
}

/*
 * One reading of every connection: LIST for the queues, the monitor for
 * the rest.  Packets per second come from the difference with the
 * previous reading (smooth_mpps()).
 */
static int refresh(struct capymigd *d, uint64_t now)
{
	struct table next = { .read_ns = now };
	struct capymig_conn rec;
	unsigned int i, j;
	int err;

	if (d->have_monitor) {
		follow_cgroup(d);
		monitor_refresh(&d->mon);
	}
	err = tcpmig_list(&d->req, d->cfg.service_port, collect, &next);
	if (err) {
		logmsg(LOG_ERR, "listing the connections: %s",
		       tcpmig_nl_strerror(err));
		free(next.v);
		return err;
	}
	qsort(next.v, next.n, sizeof(*next.v), capymig_tuple_cmp);
	d->metrics.monitored = d->metrics.candidates = 0;
	d->metrics.rqlen_bytes = 0;
	for (i = 0; i < next.n; i++) {
		struct conn_entry *e = &next.v[i], *prev;

		if (monitored(d, e, &rec)) {
			e->monitored = true;
			e->segs_in = rec.segs_in;
			e->pc.flags = rec.flags;
			e->pc.read_seq = rec.read_seq;
			if (rec.flags & CAPYMIG_CONN_F_IMPORTED)
				e->pc.arrived_ns = rec.established_ns;
			d->metrics.monitored++;
		}
		prev = bsearch(e, d->conns.v, d->conns.n, sizeof(*e),
			       capymig_tuple_cmp);
		if (prev && prev->pc.arrived_ns > e->pc.arrived_ns)
			e->pc.arrived_ns = prev->pc.arrived_ns;
		if (prev)
			e->pc.refused_ns = prev->pc.refused_ns;
		prev = same_socket(e, prev);
		if (prev && e->segs_in >= prev->segs_in) {
			e->first_ns = prev->first_ns;
			e->first_segs = prev->first_segs;
			e->pc.pps = smooth_mpps(d, prev, e, now);
		}
		e->pc.past_boundary =
			policy_past_boundary(&e->pc, prev ? &prev->pc : NULL);
		if (e->monitored && !e->first_ns) {
			e->first_ns = now;
			e->first_segs = e->segs_in;
		}
		e->pc.busy = flights_moving(&d->flights, &e->pc.tuple);
		d->metrics.rqlen_bytes += e->pc.rqlen;
	}
	/* Arrivals announced since the last reading. */
	for (j = 0; j < d->narrivals; j++) {
		struct conn_entry *e = bsearch(&d->arrivals[j].tuple, next.v,
					       next.n, sizeof(*e),
					       capymig_tuple_cmp);

		if (e && e->pc.arrived_ns < d->arrivals[j].ns)
			e->pc.arrived_ns = d->arrivals[j].ns;
	}
	d->narrivals = 0;
	for (i = 0; i < next.n; i++)
		d->metrics.candidates += policy_candidate(&d->params,
							  &next.v[i].pc, now);
	d->metrics.connections = next.n;
	free(d->conns.v);
	d->conns = next;
	return 0;
}

/* --- events -------------------------------------------------------------- */

/*
 * A migration of ours ended and the connection stayed (refused by the
 * target, or failed before the export; after it, the connection is gone
 * and not found): no candidate for a while.
 */
static void back_off(struct capymigd *d, const struct capymig_tuple *t,
		     uint64_t now)
{
	struct conn_entry *e = bsearch(t, d->conns.v, d->conns.n,
				       sizeof(*e), capymig_tuple_cmp);

	if (e)
		e->pc.refused_ns = now;
}

static void on_event(struct capymigd *d, const struct tcpmig_notification *ev,
		     uint64_t now)
{
	struct flight *f;

	/*
	 * A host of several servers, one daemon each: another port's
	 * migrations are another daemon's to count, bound and wait for.
	 */
	if (ev->type != TCPMIG_EVENT_LOAD &&
	    !policy_conn_ours(&ev->tuple, d->cfg.service_port))
		return;
	f = ev->migration_id ? flights_find(&d->flights, ev->migration_id) :
			       NULL;
	switch (ev->type) {
	case TCPMIG_EVENT_LOAD:
		if (!policy_load_ours(&ev->target, d->cfg.service_port))
			return;
		d->metrics.server_pps = ev->server_pps;
		d->metrics.pool_pps = ev->pool_pps;
		d->metrics.pool_servers = ev->pool_servers;
		d->metrics.target_pps = ev->target_pps;
		policy_load_add(&d->load, ev->server_pps * MPPS,
				ev->pool_pps * MPPS, ev->pool_servers,
				ev->target_pps == TCPMIG_LOAD_NO_TARGET ?
				TCPMIG_LOAD_NO_TARGET :
				ev->target_pps * MPPS);
		if (now - d->last_decide_ns >= d->cfg.decide_ms * 1000000ULL)
			proactive(d, now);
		return;
	case TCPMIG_EVENT_IMPORTED:
		if (d->narrivals < ARRIVALS_MAX)
			d->arrivals[d->narrivals++] = (struct arrival){
				ev->tuple, ev->timestamp_ns };
		return;
	case TCPMIG_EVENT_PREPARE_SENT:
		if (!f)
			f = flights_add(&d->flights, ev->migration_id,
					&ev->tuple, now);
		if (f)
			f->prepare_ns = ev->timestamp_ns;
		return;
	case TCPMIG_EVENT_MIGRATED:
		d->metrics.results[METRICS_MIGRATED]++;
		if (f && f->prepare_ns && ev->timestamp_ns >= f->prepare_ns)
			metrics_observe_duration(&d->metrics, ev->timestamp_ns -
						 f->prepare_ns);
		if (f) {
			f->migrated = true;
			flights_end(&d->flights, f, now);
		}
		return;
	case TCPMIG_EVENT_REJECTED:
	case TCPMIG_EVENT_FAILED: {
		char text[CAPYMIG_TUPLE_STRLEN];

		d->metrics.results[ev->type == TCPMIG_EVENT_FAILED ?
				   METRICS_FAILED : METRICS_REJECTED]++;
		if (f) {
			if (f->ours) {
				logmsg(LOG_NOTICE, "migration %" PRIu32 " of %s "
				       "%s: %s", ev->migration_id,
				       capymig_tuple_format(&ev->tuple, text),
				       tcpmig_event_name(ev->type),
				       strerror(ev->error));
				back_off(d, &ev->tuple, now);
			}
			flights_end(&d->flights, f, now);
		}
		return;
	}
	}
}

static int daemon_event(const struct tcpmig_notification *ev, void *arg)
{
	on_event(arg, ev, now_ns());
	return 0;
}

/*
 * Reads what @nl has.  An overrun of @d->ev loses migrations' ends (their
 * flights then expire); one of @d->loads only LOADs the next replaces.
 */
static void read_events(struct capymigd *d, struct tcpmig_nl *nl)
{
	if (tcpmig_read_events(nl, 0, daemon_event, d) == -ENOBUFS &&
	    nl == &d->ev) {
		d->metrics.events_lost++;
		logmsg(LOG_WARNING, "events lost: the socket overran");
	}
}

/* --- main loop ----------------------------------------------------------- */

static int set_timer(struct capymigd *d)
{
	long ns = d->cfg.interval_ms * 1000000L;
	struct itimerspec every = {
		.it_interval = { ns / 1000000000L, ns % 1000000000L },
		.it_value = { ns / 1000000000L, ns % 1000000000L },
	};

	return timerfd_settime(d->timer, 0, &every, NULL);
}

/*
 * How long a migration of ours may fly follows the module's timeout
 * (flights_set_timeout()), which capyctl config may change: read at start
 * and at each reload.  Unread, the least bound stays.
 */
static void read_module_timeout(struct capymigd *d)
{
	struct tcpmig_config mc;
	int err = tcpmig_get_config(&d->req, &mc);

	if (err) {
		logmsg(LOG_WARNING, "reading the module's timeout: %s",
		       tcpmig_nl_strerror(err));
		return;
	}
	flights_set_timeout(&d->flights, mc.timeout_ms);
}

/* What only a restart applies. */
static bool fixed_settings_differ(const struct capymigd_config *a,
				  const struct capymigd_config *b)
{
	return a->service_port != b->service_port ||
	       strcmp(a->cgroup, b->cgroup) || strcmp(a->bpf_pin, b->bpf_pin) ||
	       memcmp(&a->metrics, &b->metrics, sizeof(a->metrics));
}

static void reload(struct capymigd *d)
{
	struct capymigd_config cfg;
	char err[512];

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
		   now_ns() / 1000);
	capymigd_config_defaults(&cfg);
	if (capymigd_config_load(d->config_path, &cfg, err, sizeof(err))) {
		logmsg(LOG_ERR, "reload refused, keeping the running "
		       "configuration: %s", err);
	} else {
		if (fixed_settings_differ(&cfg, &d->cfg)) {
			logmsg(LOG_WARNING, "service_port, cgroup, bpf_pin "
			       "and metrics change only with a restart");
			cfg.service_port = d->cfg.service_port;
			strcpy(cfg.cgroup, d->cfg.cgroup);
			strcpy(cfg.bpf_pin, d->cfg.bpf_pin);
			cfg.metrics = d->cfg.metrics;
		}
		d->cfg = cfg;
		apply_config(d);
		read_module_timeout(d);
		if (!d->cfg.dry_run)
			flights_end_dry_runs(&d->flights, now_ns());
		set_timer(d);
		logmsg(LOG_INFO, "configuration reloaded: proactive %s, "
		       "threshold %u %%; reactive %s, threshold %u KiB%s",
		       cfg.proactive ? "on" : "off", cfg.threshold_pct,
		       cfg.reactive ? "on" : "off", cfg.threshold_kib,
		       d->cfg.dry_run ? "; dry run" : "");
	}
	sd_notify(0, "READY=1");
}

/*
 * Each interval: the connections listed afresh, the reactive policy
 * applied.  -1 when the daemon must go.
 */
static int interval(struct capymigd *d)
{
	uint64_t now;
	int err;

	/*
	 * Arrivals first: a connection imported before the LIST, its
	 * IMPORTED event still unread, would look settled in, free to move
	 * back.
	 */
	read_events(d, &d->ev);
	now = now_ns();
	expire_flights(d, now);
	err = refresh(d, now);
	/*
	 * The family went with the module, and the events groups with it:
	 * a reloaded module is another family, which only a restart
	 * (systemd's Restart=on-failure) joins.
	 */
	if (err == -ENOENT) {
		logmsg(LOG_ERR, "the tcpmig family is gone (the capymig "
		       "module was unloaded): exiting");
		return -1;
	}
	if (!err && d->cfg.reactive)
		reactive(d, now);
	return 0;
}

static int run(struct capymigd *d)
{
	struct epoll_event ev[4];
	struct signalfd_siginfo si;
	uint64_t ticks;
	int n, i;

	for (;;) {
		/* A metrics client's deadline is as good as an event. */
		n = epoll_wait(d->epoll, ev, 4,
			       exporter_timeout_ms(&d->exporter, now_ns()));
		if (n < 0 && errno != EINTR)
			return -1;
		for (i = 0; i < n; i++) {
			int fd = ev[i].data.fd;

			if (fd == d->sig) {
				if (read(d->sig, &si, sizeof(si)) !=
				    sizeof(si))
					continue;
				if (si.ssi_signo != SIGHUP)
					return 0;
				reload(d);
			} else if (fd == d->timer) {
				if (read(d->timer, &ticks, sizeof(ticks)) < 0)
					continue;
				if (interval(d))
					return -1;
			} else if (fd == mnl_socket_get_fd(d->ev.sock)) {
				read_events(d, &d->ev);
			} else if (fd == mnl_socket_get_fd(d->loads.sock)) {
				read_events(d, &d->loads);
			} else {
				exporter_event(&d->exporter, fd, &d->metrics,
					       now_ns());
			}
		}
		exporter_expire(&d->exporter, now_ns());
	}
}

/*
 * The signals the main loop reads from its signalfd.  Blocked from the
 * start: one that came while the daemon loads its BPF programs would
 * otherwise kill it (SIGHUP's default).
 */
static void loop_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGHUP);
}

static int start(struct capymigd *d)
{
	struct epoll_event ev = { .events = EPOLLIN };
	char err[512], ep[24];
	sigset_t mask;
	int ret;

	ret = tcpmig_nl_open(&d->req) ?: tcpmig_nl_open(&d->ev) ?:
	      tcpmig_join_events(&d->ev) ?: tcpmig_nl_open(&d->loads) ?:
	      tcpmig_join_load(&d->loads);
	if (ret) {
		logmsg(LOG_ERR, "%s", tcpmig_nl_open_strerror(ret));
		return -1;
	}
	if (d->cfg.cgroup[0]) {
		if (monitor_open(&d->mon, d->cfg.cgroup, d->cfg.service_port,
				 d->cfg.bpf_pin, err, sizeof(err))) {
			logmsg(LOG_ERR, "%s", err);
			monitor_close(&d->mon);
			return -1;
		}
		d->have_monitor = true;
	} else {
		logmsg(LOG_WARNING, "no cgroup configured: no server monitor, "
		       "so no packet rates nor request boundaries");
	}

	loop_signals(&mask);
	d->sig = signalfd(-1, &mask, SFD_CLOEXEC);
	d->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	d->epoll = epoll_create1(EPOLL_CLOEXEC);
	if (d->sig < 0 || d->timer < 0 || d->epoll < 0 || set_timer(d)) {
		logmsg(LOG_ERR, "setting up: %s", strerror(errno));
		return -1;
	}
	ev.data.fd = d->sig;
	epoll_ctl(d->epoll, EPOLL_CTL_ADD, d->sig, &ev);
	ev.data.fd = d->timer;
	epoll_ctl(d->epoll, EPOLL_CTL_ADD, d->timer, &ev);
	ev.data.fd = mnl_socket_get_fd(d->ev.sock);
	epoll_ctl(d->epoll, EPOLL_CTL_ADD, ev.data.fd, &ev);
	ev.data.fd = mnl_socket_get_fd(d->loads.sock);
	epoll_ctl(d->epoll, EPOLL_CTL_ADD, ev.data.fd, &ev);
	if (d->cfg.metrics.addr &&
	    exporter_open(&d->exporter, d->epoll, &d->cfg.metrics)) {
		logmsg(LOG_ERR, "metrics listener %s: %s",
		       capymig_wire_endpoint_format(&d->cfg.metrics, ep),
		       strerror(errno));
		return -1;
	}
	read_module_timeout(d);
	/*
	 * Empty at start: a daemon restarted in a loop (systemd's
	 * Restart=on-failure) must not start a burst each time.
	 */
	policy_bucket_init(&d->bucket, 0, now_ns());
	/* The first decision on a whole window of LOADs, not on one. */
	d->last_decide_ns = now_ns();
	return refresh(d, now_ns());
}

static void usage(FILE *out)
{
	fprintf(out,
"usage: " PROG " [-c FILE] [-n] [-v]\n"
"       " PROG " [-c FILE] --check-config\n"
"\n"
"Moves this server's TCP connections to other servers of the pool when\n"
"Capybara's policies say so: proactive (this server's packet rate above\n"
"the pool's average by more than a threshold, from the switch's load\n"
"notifications) and reactive (too much data waiting in the receive\n"
"queues).  Migrations go through the capymig module and the switch.\n"
"\n"
"  -c, --config FILE   configuration file (default " CAPYMIGD_CONFIG_PATH ")\n"
"      --check-config  read the configuration, report, and exit: 0 when\n"
"                      good, 1 with FILE:LINE: [SECTION] KEY: why\n"
"  -n, --dry-run       log the decisions, migrate nothing\n"
"  -v, --verbose       log at debug level too\n"
"  -h, --help          this text\n"
"\n"
"Signals: SIGHUP reloads the configuration (service_port, cgroup, bpf_pin\n"
"and metrics need a restart); SIGTERM and SIGINT stop.  Stopping, or being\n"
"killed, leaves the connections and the migrations in flight alone.\n"
"\n"
"Exit status: 0 stopped by a signal, 1 bad configuration or failure to\n"
"start, 2 bad usage.  Documentation/capymigd.rst has the configuration\n"
"reference, the policies and the metrics.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct capymigd *d;
	bool check = false;
	char err[512];
	sigset_t mask;
	int opt, ret;

	loop_signals(&mask);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	d->config_path = CAPYMIGD_CONFIG_PATH;
	d->exporter.fd = -1;
	forget_room(d);
	while ((opt = getopt_long(argc, argv, "c:nvh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			d->config_path = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'n':
			d->dry_run_flag = true;
			break;
		case 'v':
			log_debug = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	/* systemd sets JOURNAL_STREAM when stderr is the journal. */
	log_journal = getenv("JOURNAL_STREAM") != NULL;

	capymigd_config_defaults(&d->cfg);
	if (capymigd_config_load(d->config_path, &d->cfg, err, sizeof(err))) {
		logmsg(LOG_ERR, "bad configuration: %s", err);
		return 1;
	}
	if (check) {
		printf("%s: configuration ok\n", d->config_path);
		return 0;
	}
	apply_config(d);
	if (start(d)) {
		sd_notify(0, "STATUS=failed to start");
		return 1;
	}
	logmsg(LOG_INFO, "started: %u connections, %" PRIu64 " known to "
	       "the monitor; proactive %s, threshold %u %%; reactive %s, "
	       "threshold %u KiB%s", d->conns.n, d->metrics.monitored,
	       d->cfg.proactive ? "on" : "off", d->cfg.threshold_pct,
	       d->cfg.reactive ? "on" : "off", d->cfg.threshold_kib,
	       d->cfg.dry_run ? "; dry run" : "");
	sd_notify(0, "READY=1");
	ret = run(d);
	sd_notify(0, "STOPPING=1");
	logmsg(LOG_INFO, "stopping; connections and migrations in flight are "
	       "the kernel's and stay as they are");
	/*
	 * Nothing to undo: the module keeps its configuration, a pinned
	 * monitor stays attached, migrations in flight end by themselves.
	 */
	if (d->have_monitor)
		monitor_close(&d->mon);
	exporter_close(&d->exporter);
	tcpmig_nl_close(&d->loads);
	tcpmig_nl_close(&d->ev);
	tcpmig_nl_close(&d->req);
	free(d->conns.v);
	free(d);
	return ret ? 1 : 0;
}
