// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of capymigd's record of its migrations: the load they shed,
 * the connections moving, the migrations in flight, and when each is
 * forgotten.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "flights.h"

#define MS	1000000ULL
#define SEC	1000000000ULL
#define SETTLE	(500 * MS)

static struct capymig_tuple tuple(uint16_t remote_port)
{
	return (struct capymig_tuple){
		.family = AF_INET, .remote_port = remote_port,
	};
}

/* Started by the daemon at @now: migration @id (0: a dry run's). */
static struct flight *start(struct flights *fl, uint32_t id, uint16_t port,
			    uint64_t mpps, uint64_t now)
{
	struct capymig_tuple t = tuple(port);
	struct flight *f = flights_add(fl, id, &t, now);

	flights_start(fl, f, mpps);
	return f;
}

/*
 * A migration's load is shed while it flies and, once it migrated, for
 * the settle time (the switch's counts do not show it gone yet); one that
 * failed sheds nothing more.
 */
static void shed_and_settle(void **state)
{
	struct flights *fl = calloc(1, sizeof(*fl));
	struct capymig_tuple t = tuple(1);
	uint64_t now = 100 * SEC;

	assert_non_null(fl);
	start(fl, 1, 1, 300, now);
	start(fl, 2, 2, 200, now);
	assert_int_equal(flights_shed(fl), 500);
	assert_true(flights_moving(fl, &t));
	assert_int_equal(fl->in_flight, 2);

	flights_find(fl, 1)->migrated = true;
	flights_end(fl, flights_find(fl, 1), now + 10 * MS);
	flights_end(fl, flights_find(fl, 2), now + 10 * MS);
	assert_int_equal(fl->in_flight, 0);
	assert_false(flights_moving(fl, &t));
	assert_int_equal(flights_shed(fl), 300);
	flights_expire(fl, now + 10 * MS + SETTLE, SETTLE);
	assert_int_equal(fl->n, 0);
	assert_int_equal(flights_shed(fl), 0);
	free(fl);
}

/* Events it did not start (capyctl's) count in no bound and shed nothing. */
static void not_ours(void **state)
{
	struct flights *fl = calloc(1, sizeof(*fl));
	struct capymig_tuple t = tuple(1);
	struct flight *f;

	assert_non_null(fl);
	f = flights_add(fl, 7, &t, SEC);
	assert_true(flights_moving(fl, &t));
	assert_int_equal(flights_shed(fl), 0);
	flights_end(fl, f, 2 * SEC);
	assert_int_equal(fl->in_flight, 0);
	free(fl);
}

/*
 * A dry run's decisions (id 0) never end until forgotten, and take no
 * in-flight slot: they took one each, and max_in_flight of them stopped
 * the dry run's decisions for 10 s.  Their load is shed and
 * their connections are moving, as after real migrations.
 */
static void dry_run_takes_no_slot(void **state)
{
	struct flights *fl = calloc(1, sizeof(*fl));
	struct capymig_tuple t = tuple(3);
	unsigned int i;

	assert_non_null(fl);
	for (i = 0; i < 20; i++)
		start(fl, 0, i, 10, SEC);
	start(fl, 9, 100, 10, SEC);
	assert_int_equal(fl->in_flight, 1);
	assert_int_equal(flights_shed(fl), 210);
	assert_true(flights_moving(fl, &t));
	flights_expire(fl, SEC + FLIGHT_LOST_MIN_NS + 1, SETTLE);
	assert_int_equal(fl->in_flight, 0);
	assert_false(flights_moving(fl, &t));
	/* Real migrations, the dry run switched off: none left behind. */
	start(fl, 0, 1, 10, 20 * SEC);
	flights_end_dry_runs(fl, 21 * SEC);
	assert_int_equal(fl->in_flight, 0);
	free(fl);
}

/*
 * A migration whose end never came is forgotten after the longest the
 * module lets one last (its timeout for the PREPARE-ACK, three for the
 * state) and a margin: it was after 10 s whatever the timeout, so with
 * 60 s a migration in its state transfer no longer counted as moving,
 * nor in the in-flight bound.
 */
static void lost_after_the_module_timeout(void **state)
{
	struct flights *fl = calloc(1, sizeof(*fl));
	struct capymig_tuple t = tuple(1);

	assert_non_null(fl);
	start(fl, 1, 1, 10, SEC);
	flights_expire(fl, SEC + 10 * SEC, SETTLE);
	assert_true(flights_moving(fl, &t));
	flights_expire(fl, SEC + 10 * SEC + 1, SETTLE);
	assert_false(flights_moving(fl, &t));

	flights_set_timeout(fl, 60000);
	start(fl, 2, 1, 10, SEC);
	flights_expire(fl, SEC + 240 * SEC, SETTLE);
	assert_true(flights_moving(fl, &t));
	assert_int_equal(fl->in_flight, 1);
	flights_expire(fl, SEC + 300 * SEC + 1, SETTLE);
	assert_false(flights_moving(fl, &t));
	assert_int_equal(fl->in_flight, 0);

	/* The default 1 s: 5 s, and the least is 10 s. */
	flights_set_timeout(fl, 1000);
	start(fl, 3, 1, 10, SEC);
	flights_expire(fl, SEC + 10 * SEC, SETTLE);
	assert_true(flights_moving(fl, &t));
	free(fl);
}

/*
 * A full record makes room by forgetting an ended migration first, then
 * one not ours, then a dry run's, each the oldest of its kind; never one
 * of ours under way.  It forgot the oldest, whatever it was: other
 * tools' migrations (a drain's) pushed the daemon's own out while they
 * flew, and with them the in-flight bound, the connections' "moving" and
 * the load they shed.
 */
static void full(void **state)
{
	struct flights *fl = calloc(1, sizeof(*fl));
	struct capymig_tuple t = tuple(1);
	unsigned int i;

	assert_non_null(fl);
	for (i = 1; i <= 16; i++)
		start(fl, i, i, 10, SEC);
	start(fl, 0, 17, 10, SEC);
	for (i = 18; i <= FLIGHTS_MAX; i++)
		flights_add(fl, i, &t, SEC);
	assert_int_equal(fl->n, FLIGHTS_MAX);
	flights_end(fl, flights_find(fl, 500), 2 * SEC);

	/* The ended one goes, then the oldest not ours. */
	assert_non_null(flights_add(fl, 2000, &t, 3 * SEC));
	assert_null(flights_find(fl, 500));
	assert_non_null(flights_find(fl, 18));
	assert_non_null(flights_add(fl, 2001, &t, 3 * SEC));
	assert_null(flights_find(fl, 18));
	assert_int_equal(fl->n, FLIGHTS_MAX);
	assert_int_equal(fl->in_flight, 16);
	assert_int_equal(flights_shed(fl), 170);
	for (i = 1; i <= 16; i++)
		assert_non_null(flights_find(fl, i));

	/* Only ours left: the dry run's goes, then nothing may. */
	for (i = 0; i < FLIGHTS_MAX - 17; i++)
		flights_end(fl, &fl->v[17 + i], 4 * SEC);
	flights_expire(fl, 5 * SEC, SETTLE);
	assert_int_equal(fl->n, 17);
	for (i = 0; i < FLIGHTS_MAX - 17; i++)
		start(fl, 3000 + i, 1, 1, 6 * SEC);
	assert_int_equal(fl->in_flight, FLIGHTS_MAX - 1);
	assert_non_null(flights_add(fl, 9000, &t, 7 * SEC));
	assert_int_equal(flights_shed(fl), 160 + FLIGHTS_MAX - 17);
	flights_start(fl, flights_find(fl, 9000), 1);
	assert_int_equal(fl->in_flight, FLIGHTS_MAX);
	assert_null(flights_add(fl, 9001, &t, 7 * SEC));
	assert_int_equal(fl->in_flight, FLIGHTS_MAX);
	free(fl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shed_and_settle),
		cmocka_unit_test(not_ours),
		cmocka_unit_test(dry_run_takes_no_slot),
		cmocka_unit_test(lost_after_the_module_timeout),
		cmocka_unit_test(full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
