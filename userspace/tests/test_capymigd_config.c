// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of capymigd's configuration file: a good file sets what it
 * says over the defaults; a bad one is refused whole, with a message
 * naming the file, the line and the key.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"

static int parse(const char *text, struct capymigd_config *cfg, char *err,
		 size_t len)
{
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	int ret;

	assert_non_null(in);
	capymigd_config_defaults(cfg);
	ret = capymigd_config_parse(in, "test.conf", cfg, err, len);
	fclose(in);
	return ret;
}

static void empty_is_defaults(void **state)
{
	struct capymigd_config cfg, def;
	char err[256];

	assert_int_equal(parse("; nothing\n", &cfg, err, sizeof(err)), 0);
	capymigd_config_defaults(&def);
	assert_memory_equal(&cfg, &def, sizeof(cfg));
	assert_int_equal(cfg.threshold_pct, 10);
	assert_int_equal(cfg.threshold_kib, 20);
	assert_int_equal(cfg.target, CAPYMIGD_TARGET_SWITCH);
	assert_false(cfg.dry_run);
	assert_int_equal(cfg.metrics.addr, 0);
}

static void good_file(void **state)
{
	static const char text[] =
		"[daemon]\n"
		"service_port = 8080\n"
		"cgroup = /sys/fs/cgroup/web.slice\n"
		"dry_run = yes\n"
		"metrics = 127.0.0.1:9467\n"
		"\n"
		"[proactive]\n"
		"threshold_pct = 25   ; inline comment\n"
		"[reactive]\n"
		"enabled = off\n"
		"threshold_kib = 64\n"
		"[migration]\n"
		"rate = 5\n"
		"target = round-robin\n"
		"targets = 10.0.0.2:80, 10.0.0.3:80 10.0.0.4:8080\n";
	struct capymigd_config cfg;
	char err[256];

	assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.service_port, 8080);
	assert_string_equal(cfg.cgroup, "/sys/fs/cgroup/web.slice");
	assert_true(cfg.dry_run);
	assert_int_equal(cfg.metrics.addr, htonl(0x7f000001));
	assert_int_equal(cfg.metrics.port, htons(9467));
	assert_int_equal(cfg.threshold_pct, 25);
	assert_false(cfg.reactive);
	assert_true(cfg.proactive);
	assert_int_equal(cfg.threshold_kib, 64);
	assert_int_equal(cfg.rate, 5);
	assert_int_equal(cfg.burst, 20);
	assert_int_equal(cfg.target, CAPYMIGD_TARGET_ROUND_ROBIN);
	assert_int_equal(cfg.ntargets, 3);
	assert_int_equal(cfg.targets[2].addr, htonl(0x0a000004));
	assert_int_equal(cfg.targets[2].port, htons(8080));
}

static void fixed_target(void **state)
{
	struct capymigd_config cfg;
	char err[256];

	assert_int_equal(parse("[migration]\ntarget = 10.1.2.3:443\n", &cfg,
			       err, sizeof(err)), 0);
	assert_int_equal(cfg.target, CAPYMIGD_TARGET_FIXED);
	assert_int_equal(cfg.fixed.addr, htonl(0x0a010203));
	assert_int_equal(cfg.fixed.port, htons(443));
}

/* Targets add up over repeated keys and continuation lines. */
static void targets_on_several_lines(void **state)
{
	static const char text[] =
		"[migration]\n"
		"targets = 10.0.0.2:80\n"
		"          10.0.0.3:80, 10.0.0.4:80\n"
		"targets = 10.0.0.5:80\n";
	struct capymigd_config cfg;
	char err[256];

	assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.ntargets, 4);
	assert_int_equal(cfg.targets[0].addr, htonl(0x0a000002));
	assert_int_equal(cfg.targets[3].addr, htonl(0x0a000005));
}

/* Each bad file, and the message it must get. */
static const struct {
	const char *text;
	const char *message;
} bad[] = {
	{ "[daemon]\ninterval_ms = 5\n",
	  "test.conf:2: [daemon] interval_ms: want an integer from 10 to "
	  "60000" },
	{ "[proactive]\n\nthreshold_pct = ten\n",
	  "test.conf:3: [proactive] threshold_pct: want an integer from 1 "
	  "to 1000" },
	{ "[daemon]\ndry_run = maybe\n",
	  "test.conf:2: [daemon] dry_run: want yes or no" },
	{ "[daemon]\n\n\ndry_run = maybe",	/* no newline at the end */
	  "test.conf:4: [daemon] dry_run: want yes or no" },
	{ "[daemon]\nfrobnicate = 1\n",
	  "test.conf:2: [daemon] frobnicate: unknown key" },
	{ "[demon]\ndry_run = yes\n",
	  "test.conf:2: [demon] dry_run: unknown section" },
	{ "[daemon]\ncgroup = relative/path\n",
	  "test.conf:2: [daemon] cgroup: want an absolute path, or nothing" },
	{ "[migration]\ntarget = somewhere\n",
	  "test.conf:2: [migration] target: want switch, round-robin or an "
	  "IPv4 ADDR:PORT" },
	{ "[migration]\ntargets = 10.0.0.1\n",
	  "test.conf:2: [migration] targets: want IPv4 ADDR:PORT endpoints" },
	{ "[migration]\nrate = 1\ntarget = round-robin\n",
	  "test.conf:3: [migration] target: round-robin needs targets" },
	{ "[daemon]\nthis line is not ini\ndry_run = maybe\n",
	  "test.conf:2: syntax error: want [section] or key = value" },
	{ "[daemon]\nservice_port = 70000\n",
	  "test.conf:2: [daemon] service_port: want a port from 0 to 65535" },
	{ "[daemon]\nmetrics = localhost\n",
	  "test.conf:2: [daemon] metrics: want an IPv4 ADDR:PORT, or "
	  "nothing" },
	{ "[daemon]\nmetrics = 0.0.0.0:9100\n",
	  "test.conf:2: [daemon] metrics: want a loopback address "
	  "(127.0.0.0/8): the metrics are unauthenticated" },
	{ "[daemon]\nmetrics = 10.1.2.3:9100\n",
	  "test.conf:2: [daemon] metrics: want a loopback address "
	  "(127.0.0.0/8): the metrics are unauthenticated" },
	/* The last would win, silently: a rate limit not in force. */
	{ "[migration]\nrate = 10\nrate = 100000\n",
	  "test.conf:3: [migration] rate: set twice (a repeated key, or an "
	  "indented line that continues its value)" },
	{ "[migration]\nrate = 10\n  100000\n",
	  "test.conf:3: [migration] rate: set twice (a repeated key, or an "
	  "indented line that continues its value)" },
	{ "[migration]\nrate = 10\n[daemon]\ndry_run = yes\n"
	  "[migration]\nrate = 7\n",
	  "test.conf:6: [migration] rate: set twice (a repeated key, or an "
	  "indented line that continues its value)" },
	/* Cut by inih's buffer, its tail would pass for another line. */
	{ "[migration]\n"
	  "targets = 10.0.0.1:80 10.0.0.2:80 10.0.0.3:80 10.0.0.4:80 "
	  "10.0.0.5:80 10.0.0.6:80 10.0.0.7:80 10.0.0.8:80 10.0.0.9:80 "
	  "10.0.0.10:80 10.0.0.11:80 10.0.0.12:80 10.0.0.13:80 "
	  "10.0.0.14:80 10.0.0.15:80 10.0.0.16:80\n"
	  "rate = 5\n",
	  "test.conf:2: line longer than 198 characters" },
};

static void bad_files(void **state)
{
	struct capymigd_config cfg, def;
	char err[256];
	size_t i;

	capymigd_config_defaults(&def);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(err, "");
		assert_int_equal(parse(bad[i].text, &cfg, err, sizeof(err)),
				 -1);
		assert_string_equal(err, bad[i].message);
		/* Refused whole: nothing of it was applied. */
		assert_memory_equal(&cfg, &def, sizeof(cfg));
	}
}

static void missing_file(void **state)
{
	struct capymigd_config cfg;
	char err[256];

	capymigd_config_defaults(&cfg);
	assert_int_equal(capymigd_config_load("/nonexistent/capymigd.conf",
					      &cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/capymigd.conf: No such file "
				 "or directory");
}

/* A file that cannot be read is refused, not taken for an empty one. */
static void unreadable_file(void **state)
{
	struct capymigd_config cfg;
	char err[256];

	capymigd_config_defaults(&cfg);
	assert_int_equal(capymigd_config_load("/", &cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "/: cannot read it: Is a directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_is_defaults),
		cmocka_unit_test(good_file),
		cmocka_unit_test(fixed_target),
		cmocka_unit_test(targets_on_several_lines),
		cmocka_unit_test(bad_files),
		cmocka_unit_test(missing_file),
		cmocka_unit_test(unreadable_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
