/* SPDX-License-Identifier: GPL-2.0 */
/* TAP output for the C selftests, as selftests/lib.sh prints it. */
#ifndef CAPYMIG_SELFTEST_TAP_H
#define CAPYMIG_SELFTEST_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define KSFT_PASS 0
#define KSFT_FAIL 1
#define KSFT_SKIP 4

static int tap_count, tap_failed;

static inline void tap_plan(int n)
{
	printf("TAP version 13\n1..%d\n", n);
	fflush(stdout);
}

/*
 * For a test that knows how many points it has only at the end: the
 * header first, the plan (TAP allows it last) from tap_done().
 */
static inline void tap_header(void)
{
	printf("TAP version 13\n");
	fflush(stdout);
}

/* One test point, with an optional TAP directive ("SKIP ...", "TODO ..."). */
static inline void tap_point(int ok, const char *directive, const char *fmt,
			     va_list ap)
{
	tap_count++;
	printf("%sok %d - ", ok ? "" : "not ", tap_count);
	vprintf(fmt, ap);
	if (directive)
		printf(" # %s", directive);
	putchar('\n');
	fflush(stdout);
}

static inline __attribute__((format(printf, 2, 3)))
int tap_result(int ok, const char *fmt, ...)
{
	va_list ap;

	if (!ok)
		tap_failed++;
	va_start(ap, fmt);
	tap_point(ok, NULL, fmt, ap);
	va_end(ap);
	return ok;
}

static inline __attribute__((format(printf, 1, 2)))
void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* One point that could not be tested here. */
static inline __attribute__((format(printf, 2, 3)))
void tap_skip(const char *why, const char *fmt, ...)
{
	char directive[256];
	va_list ap;

	snprintf(directive, sizeof(directive), "SKIP %s", why);
	va_start(ap, fmt);
	tap_point(1, directive, fmt, ap);
	va_end(ap);
}

static inline __attribute__((noreturn)) void tap_skip_all(const char *why)
{
	printf("TAP version 13\n1..0 # SKIP %s\n", why);
	exit(KSFT_SKIP);
}

static inline int tap_exit_code(void)
{
	return tap_failed ? KSFT_FAIL : KSFT_PASS;
}

/* Ends a test begun with tap_header(): the plan, then the exit code. */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_exit_code();
}

#endif /* CAPYMIG_SELFTEST_TAP_H */
