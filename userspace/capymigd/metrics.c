// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * capymigd's metrics; see metrics.h.
 */
#include <inttypes.h>

#include "metrics.h"

/* A migration takes about a millisecond on a LAN; a second is a timeout. */
static const double bounds[METRICS_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 1,
};

static const char *const result_names[METRICS_RESULTS] = {
	[METRICS_MIGRATED] = "migrated",
	[METRICS_REJECTED] = "rejected",
	[METRICS_FAILED] = "failed",
};

static const char *const policy_names[METRICS_POLICIES] = {
	[METRICS_PROACTIVE] = "proactive",
	[METRICS_REACTIVE] = "reactive",
};

void metrics_observe_duration(struct metrics *m, uint64_t ns)
{
	double s = ns / 1e9;
	unsigned int i;

	for (i = 0; i < METRICS_BUCKETS && s > bounds[i]; i++)
		;
	if (i < METRICS_BUCKETS)
		m->duration_buckets[i]++;
	m->duration_count++;
	m->duration_sum += s;
}

static void header(FILE *out, const char *name, const char *type,
		   const char *help)
{
	fprintf(out, "# HELP capymigd_%s %s\n# TYPE capymigd_%s %s\n", name,
		help, name, type);
}

static void gauge(FILE *out, const char *name, const char *help,
		  uint64_t value)
{
	header(out, name, "gauge", help);
	fprintf(out, "capymigd_%s %" PRIu64 "\n", name, value);
}

static void by_policy(FILE *out, const char *name, const char *help,
		      const uint64_t *v)
{
	unsigned int i;

	header(out, name, "counter", help);
	for (i = 0; i < METRICS_POLICIES; i++)
		fprintf(out, "capymigd_%s{policy=\"%s\"} %" PRIu64 "\n", name,
			policy_names[i], v[i]);
}

void metrics_render(const struct metrics *m, FILE *out)
{
	uint64_t cumulative = 0;
	unsigned int i;

	header(out, "migrations_total", "counter",
	       "Migrations from this server, by how they ended.");
	for (i = 0; i < METRICS_RESULTS; i++)
		fprintf(out, "capymigd_migrations_total{result=\"%s\"} %"
			PRIu64 "\n", result_names[i], m->results[i]);
	by_policy(out, "migrations_started_total",
		  "Migrations the daemon started, by policy.", m->started);
	by_policy(out, "dry_run_decisions_total",
		  "Migrations a dry run chose and did not start.", m->dry_run);
	header(out, "migration_start_errors_total", "counter",
	       "MIGRATE requests the module refused.");
	fprintf(out, "capymigd_migration_start_errors_total %" PRIu64 "\n",
		m->start_errors);
	header(out, "rate_limited_total", "counter",
	       "Migrations chosen and not started: the rate limit or the "
	       "in-flight bound held them back.");
	fprintf(out, "capymigd_rate_limited_total %" PRIu64 "\n",
		m->rate_limited);
	header(out, "events_lost_total", "counter",
	       "Times the module's events overran the daemon's socket.");
	fprintf(out, "capymigd_events_lost_total %" PRIu64 "\n",
		m->events_lost);

	header(out, "migration_duration_seconds", "histogram",
	       "From PREPARE sent to MIGRATED, by the module's clock.");
	for (i = 0; i < METRICS_BUCKETS; i++) {
		cumulative += m->duration_buckets[i];
		fprintf(out, "capymigd_migration_duration_seconds_bucket"
			"{le=\"%g\"} %" PRIu64 "\n", bounds[i], cumulative);
	}
	fprintf(out, "capymigd_migration_duration_seconds_bucket{le=\"+Inf\"} "
		"%" PRIu64 "\n", m->duration_count);
	fprintf(out, "capymigd_migration_duration_seconds_sum %.9f\n",
		m->duration_sum);
	fprintf(out, "capymigd_migration_duration_seconds_count %" PRIu64 "\n",
		m->duration_count);

	gauge(out, "server_pps", "This server's packets per second, as the "
	      "switch's last LOAD-NOTIFICATION counted them.", m->server_pps);
	gauge(out, "pool_pps", "The pool's packets per second, as the last "
	      "LOAD-NOTIFICATION counted them.", m->pool_pps);
	gauge(out, "pool_servers", "The servers the last LOAD-NOTIFICATION "
	      "counted.", m->pool_servers);
	/* Absent while the switch has no other server to offer. */
	if (m->target_pps != TCPMIG_LOAD_NO_TARGET)
		gauge(out, "target_pps", "The load of the switch's target for "
		      "migrations from here, as the last LOAD-NOTIFICATION "
		      "had it.", m->target_pps);
	gauge(out, "connections", "Connections of the service here.",
	      m->connections);
	gauge(out, "connections_monitored", "Connections the server monitor "
	      "has a record of.", m->monitored);
	gauge(out, "connections_candidate", "Connections the policies may "
	      "move now.", m->candidates);
	gauge(out, "receive_queue_bytes", "Bytes received and not yet read, "
	      "over all the connections.", m->rqlen_bytes);
	gauge(out, "migrations_in_flight", "Migrations started, not ended.",
	      m->in_flight);
	gauge(out, "proactive_threshold_percent", "Configured: above the "
	      "pool's average by this much, shed.", m->threshold_pct);
	gauge(out, "reactive_threshold_bytes", "Configured: receive queues "
	      "above this, shed.", m->reactive_threshold_bytes);
	gauge(out, "dry_run", "1 when decisions are only logged.",
	      m->dry_run_mode);
}
