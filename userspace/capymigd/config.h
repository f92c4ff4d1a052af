/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * capymigd's configuration file: INI, read with inih.  Every key, its
 * default and its range are in Documentation/capymigd.rst.
 */
#ifndef CAPYMIGD_CONFIG_H
#define CAPYMIGD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/capymig.h>

#define CAPYMIGD_CONFIG_PATH	"/etc/capymig/capymigd.conf"
/* Where the daemon pins the server monitor, and tools find it. */
#define CAPYMIGD_BPF_PIN	"/sys/fs/bpf/capymigd"
#define CAPYMIGD_TARGETS_MAX	64

/* Where a migration goes. */
enum capymigd_target {
	CAPYMIGD_TARGET_SWITCH,		/* the switch chooses */
	CAPYMIGD_TARGET_ROUND_ROBIN,	/* over @targets, in turn */
	CAPYMIGD_TARGET_FIXED,		/* always @fixed */
};

struct capymigd_config {
	/* [daemon] */
	uint16_t service_port;		/* the connections to manage; 0: all */
	char cgroup[PATH_MAX];		/* the service's; "": no monitor */
	char bpf_pin[PATH_MAX];		/* the monitor's pins; "": none */
	unsigned int interval_ms;	/* connections read, reactive check */
	bool dry_run;
	struct tcpmig_endpoint metrics;	/* addr 0: no listener */

	/* [proactive] */
	bool proactive;
	unsigned int threshold_pct;
	unsigned int decide_ms;		/* LOADs averaged over this */
	unsigned int settle_ms;		/* shed pps still counted as gone */

	/* [reactive] */
	bool reactive;
	unsigned int threshold_kib;

	/* [migration] */
	unsigned int rate;		/* per second */
	unsigned int burst;
	unsigned int holdoff_ms;
	bool any_point;			/* not only at request boundaries */
	unsigned int max_in_flight;
	enum capymigd_target target;
	struct tcpmig_endpoint fixed;
	unsigned int ntargets;
	struct tcpmig_endpoint targets[CAPYMIGD_TARGETS_MAX];
};

void capymigd_config_defaults(struct capymigd_config *cfg);

/*
 * Reads the configuration from @in, named @name in messages, over the
 * defaults.  Returns 0, or -1 with "NAME:LINE: [SECTION] KEY: why" in
 * @err.
 */
int capymigd_config_parse(FILE *in, const char *name,
			  struct capymigd_config *cfg, char *err,
			  size_t err_len);

/* The same from the file @path; a file that cannot be opened is an error. */
int capymigd_config_load(const char *path, struct capymigd_config *cfg,
			 char *err, size_t err_len);

#endif /* CAPYMIGD_CONFIG_H */
