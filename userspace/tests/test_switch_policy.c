// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the switch agent's policies: which servers the data plane
 * may place on and migrate to, which are least loaded, how LWRR shares
 * new connections out, and which target a LOAD reports.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "policy.h"

#define NO CAPYMIG_SW_NO_SERVER

/* How often each server appears in the LWRR schedule. */
static void tally(const struct capymig_sw_sched *s, unsigned int *n)
{
	unsigned int i;

	memset(n, 0, CAPYMIG_SW_MAX_SERVERS * sizeof(*n));
	for (i = 0; i < s->nweighted; i++)
		n[s->weighted[i]]++;
}

static void lists_only_live_servers(void **state)
{
	struct policy_server srv[4] = {
		{ .live = true, .weight = 1 },
		{ .live = false, .weight = 1 },	/* draining, down or dead */
		{ .live = true, .weight = 1 },
		{ .live = false, .weight = 1 },
	};
	struct capymig_sw_sched s;
	unsigned int n[CAPYMIG_SW_MAX_SERVERS];

	policy_sched(srv, 4, 0, &s, NULL);
	assert_int_equal(s.nlive, 2);
	assert_int_equal(s.live[0], 0);
	assert_int_equal(s.live[1], 2);
	tally(&s, n);
	assert_int_equal(n[1] + n[3], 0);
	assert_true(n[0] && n[2]);
	assert_true(s.least[0] != 1 && s.least[0] != 3);
	assert_true(s.least[1] != 1 && s.least[1] != 3);
}

static void finds_the_two_least_loaded(void **state)
{
	struct policy_server srv[4] = {
		{ .live = true, .weight = 1, .load = 500 },
		{ .live = true, .weight = 1, .load = 100 },
		{ .live = false, .weight = 1, .load = 0 },
		{ .live = true, .weight = 1, .load = 300 },
	};
	struct capymig_sw_sched s;

	policy_sched(srv, 4, 0, &s, NULL);
	assert_int_equal(s.least[0], 1);
	assert_int_equal(s.least[1], 3);
}

static void ties_take_turns(void **state)
{
	struct policy_server srv[3] = {
		{ .live = true, .weight = 1 },
		{ .live = true, .weight = 1 },
		{ .live = true, .weight = 1 },
	};
	struct capymig_sw_sched s;
	unsigned int rotate, seen = 0;

	for (rotate = 0; rotate < 3; rotate++) {
		policy_sched(srv, 3, rotate, &s, NULL);
		seen |= 1 << s.least[0];
		assert_int_not_equal(s.least[0], s.least[1]);
	}
	assert_int_equal(seen, 7);
}

static void no_live_server_no_schedule(void **state)
{
	struct policy_server srv[2] = { { .weight = 1 }, { .weight = 1 } };
	struct capymig_sw_sched s;
	unsigned int slots[2] = { 9, 9 };

	policy_sched(srv, 2, 0, &s, slots);
	assert_int_equal(s.nlive, 0);
	assert_int_equal(s.nweighted, 0);
	assert_int_equal(s.least[0], NO);
	assert_int_equal(s.least[1], NO);
	assert_int_equal(slots[0] + slots[1], 0);
}

static void one_live_server_has_no_second(void **state)
{
	struct policy_server srv[2] = {
		{ .live = true, .weight = 1 },
		{ .weight = 1 },
	};
	struct capymig_sw_sched s;

	policy_sched(srv, 2, 0, &s, NULL);
	assert_int_equal(s.least[0], 0);
	assert_int_equal(s.least[1], NO);
}

static void equal_loads_share_by_capacity(void **state)
{
	struct policy_server srv[3] = {
		{ .live = true, .weight = 1, .load = 1000 },
		{ .live = true, .weight = 2, .load = 2000 },
		{ .live = true, .weight = 1, .load = 1000 },
	};
	struct capymig_sw_sched s;
	unsigned int n[CAPYMIG_SW_MAX_SERVERS], slots[3];

	policy_sched(srv, 3, 0, &s, slots);
	tally(&s, n);
	assert_true(s.nweighted <= CAPYMIG_SW_SCHED_SLOTS);
	assert_int_equal(n[0], slots[0]);
	assert_int_equal(n[1], slots[1]);
	/* 1:2:1, give or take the slot each is sure of. */
	assert_in_range(n[1], 2 * n[0] - 2, 2 * n[0] + 2);
	assert_in_range(n[2], n[0] - 1, n[0] + 1);
}

static void loaded_servers_get_fewer(void **state)
{
	struct policy_server srv[3] = {
		{ .live = true, .weight = 1, .load = 0 },
		{ .live = true, .weight = 1, .load = 3000 },
		{ .live = true, .weight = 1, .load = 9000 },
	};
	struct capymig_sw_sched s;
	unsigned int n[CAPYMIG_SW_MAX_SERVERS];

	policy_sched(srv, 3, 0, &s, NULL);
	tally(&s, n);
	assert_true(n[0] > n[1] && n[1] > n[2] && n[2] >= 1);
	/* mean 4000: shares 1/4001 : 1/7001 : 1/13001 */
	assert_in_range(n[0] * 100 / n[2], 300, 350);
}

static void schedule_is_interleaved(void **state)
{
	struct policy_server srv[2] = {
		{ .live = true, .weight = 1 },
		{ .live = true, .weight = 1 },
	};
	struct capymig_sw_sched s;
	unsigned int i, run = 1, longest = 1;

	policy_sched(srv, 2, 0, &s, NULL);
	for (i = 1; i < s.nweighted; i++) {
		run = s.weighted[i] == s.weighted[i - 1] ? run + 1 : 1;
		if (run > longest)
			longest = run;
	}
	assert_int_equal(longest, 1);
}

static void smoothing_converges(void **state)
{
	double load = 0;
	int i;

	load = policy_smooth(load, 800);
	assert_true(load == 100);
	for (i = 0; i < 100; i++)
		load = policy_smooth(load, 800);
	assert_in_range((long)load, 799, 800);
}

/* Three live servers, 2 the least loaded, then 0; 1 draining or dead. */
static const struct policy_server four[4] = {
	{ .host = 1, .live = true, .weight = 1, .load = 200 },
	{ .host = 2, .live = false, .weight = 1, .load = 0 },
	{ .host = 3, .live = true, .weight = 1, .load = 100 },
	{ .host = 4, .live = true, .weight = 1, .load = 900 },
};

static void target_least_loaded(void **state)
{
	struct capymig_sw_sched s;

	policy_sched(four, 4, 0, &s, NULL);
	assert_int_equal(policy_target(four, &s,
				       CAPYMIG_SW_TARGET_LEAST_LOADED, 0, 0), 2);
	/* The origin itself the least loaded: the next. */
	assert_int_equal(policy_target(four, &s,
				       CAPYMIG_SW_TARGET_LEAST_LOADED, 0, 2), 0);
}

/* Round-robin's turn, whatever the loads: the LOAD must say its target. */
static void target_round_robin(void **state)
{
	const enum capymig_sw_target rr = CAPYMIG_SW_TARGET_RR;
	struct capymig_sw_sched s;

	policy_sched(four, 4, 0, &s, NULL);
	assert_int_equal(policy_target(four, &s, rr, 0, 0), 2);
	assert_int_equal(policy_target(four, &s, rr, 2, 0), 3);
	/* The origin is skipped, the server not live never taken. */
	assert_int_equal(policy_target(four, &s, rr, 0, 2), 3);
	assert_int_equal(policy_target(four, &s, rr, 0, 3), 2);
	/* Past the last: the first again. */
	assert_int_equal(policy_target(four, &s, rr, 3, 2), 0);
	assert_int_equal(policy_target(four, &s, rr, 3, 0), 2);
}

static void target_none_but_the_origin(void **state)
{
	struct policy_server srv[2] = {
		{ .host = 1, .live = true, .weight = 1 },
		{ .host = 2, .weight = 1 },
	};
	struct capymig_sw_sched s;

	policy_sched(srv, 2, 0, &s, NULL);
	assert_int_equal(policy_target(srv, &s,
				       CAPYMIG_SW_TARGET_LEAST_LOADED, 0, 0), NO);
	assert_int_equal(policy_target(srv, &s, CAPYMIG_SW_TARGET_RR, 0, 0),
			 NO);
	assert_int_equal(policy_target(srv, &s, CAPYMIG_SW_TARGET_RR, 0, 1), 0);
}

/*
 * Servers 0 and 1 share a host, the least loaded of all: a migration from
 * either goes to another host, by either policy.
 */
static void target_on_another_host(void **state)
{
	struct policy_server srv[3] = {
		{ .host = 1, .live = true, .weight = 1, .load = 10 },
		{ .host = 1, .live = true, .weight = 1, .load = 20 },
		{ .host = 2, .live = true, .weight = 1, .load = 500 },
	};
	struct capymig_sw_sched s;

	policy_sched(srv, 3, 0, &s, NULL);
	assert_int_equal(policy_target(srv, &s,
				       CAPYMIG_SW_TARGET_LEAST_LOADED, 0, 0), 2);
	assert_int_equal(policy_target(srv, &s,
				       CAPYMIG_SW_TARGET_LEAST_LOADED, 0, 1), 2);
	assert_int_equal(policy_target(srv, &s, CAPYMIG_SW_TARGET_RR, 0, 0), 2);
	assert_int_equal(policy_target(srv, &s, CAPYMIG_SW_TARGET_RR, 2, 1), 2);
	/* From the other host: the least loaded of the two. */
	assert_int_equal(policy_target(srv, &s,
				       CAPYMIG_SW_TARGET_LEAST_LOADED, 0, 2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lists_only_live_servers),
		cmocka_unit_test(finds_the_two_least_loaded),
		cmocka_unit_test(ties_take_turns),
		cmocka_unit_test(no_live_server_no_schedule),
		cmocka_unit_test(one_live_server_has_no_second),
		cmocka_unit_test(equal_loads_share_by_capacity),
		cmocka_unit_test(loaded_servers_get_fewer),
		cmocka_unit_test(schedule_is_interleaved),
		cmocka_unit_test(smoothing_converges),
		cmocka_unit_test(target_least_loaded),
		cmocka_unit_test(target_round_robin),
		cmocka_unit_test(target_none_but_the_origin),
		cmocka_unit_test(target_on_another_host),
	};

	return cmocka_run_group_tests_name("switch_policy", tests, NULL, NULL);
}
