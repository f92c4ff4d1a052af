/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * capymigd's metrics, and their Prometheus text exposition (format
 * 0.0.4).  Rendering is apart from serving, for the unit tests.
 */
#ifndef CAPYMIGD_METRICS_H
#define CAPYMIGD_METRICS_H

#include <stdint.h>
#include <stdio.h>
#include <linux/capymig.h>

/* Upper bounds of the migration duration histogram, in seconds. */
#define METRICS_BUCKETS 12

enum metrics_result {
	METRICS_MIGRATED,
	METRICS_REJECTED,
	METRICS_FAILED,
	METRICS_RESULTS
};

enum metrics_policy {
	METRICS_PROACTIVE,
	METRICS_REACTIVE,
	METRICS_POLICIES
};

struct metrics {
	uint64_t results[METRICS_RESULTS];
	uint64_t started[METRICS_POLICIES];	/* MIGRATE accepted */
	uint64_t dry_run[METRICS_POLICIES];	/* decided, not done */
	uint64_t start_errors;			/* MIGRATE refused */
	uint64_t rate_limited;			/* chosen, no token */
	uint64_t duration_buckets[METRICS_BUCKETS];	/* not cumulative */
	uint64_t duration_count;
	double duration_sum;
	uint64_t events_lost;			/* the events socket overran */
	/* Gauges. */
	uint64_t server_pps, pool_pps;		/* the last LOAD */
	uint32_t pool_servers;
	uint64_t target_pps;	/* TCPMIG_LOAD_NO_TARGET: none */
	uint64_t connections, monitored, candidates;
	uint64_t rqlen_bytes;
	uint64_t in_flight;
	/* The configuration in force, to see a reload take effect. */
	unsigned int threshold_pct;
	uint64_t reactive_threshold_bytes;
	int dry_run_mode;
};

/* One PREPARE_SENT to MIGRATED duration. */
void metrics_observe_duration(struct metrics *m, uint64_t ns);

/* The exposition of @m. */
void metrics_render(const struct metrics *m, FILE *out);

#endif /* CAPYMIGD_METRICS_H */
