/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The benchmarks' samples: timings in microseconds, and the statistics
 * their figures are made of; and how a benchmark fails.
 */
#ifndef CAPYMIG_BENCH_SAMPLES_H
#define CAPYMIG_BENCH_SAMPLES_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

struct samples {
	double *us;
	size_t n;
};

static inline int samples_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The caller makes room: @s->us holds as many samples as it adds. */
static inline void samples_add(struct samples *s, double us)
{
	s->us[s->n++] = us;
}

static inline double samples_mean(const struct samples *s)
{
	double sum = 0;
	size_t i;

	for (i = 0; i < s->n; i++)
		sum += s->us[i];
	return sum / s->n;
}

/* Nearest-rank @pct-th percentile; sorts @s. */
static inline double samples_percentile(struct samples *s, unsigned int pct)
{
	size_t rank = (s->n * pct + 99) / 100;

	qsort(s->us, s->n, sizeof(*s->us), samples_cmp);
	return s->us[rank ? rank - 1 : 0];
}

/* Ends the benchmark: "# FAIL: " and why, status 1 (no figure). */
static inline __attribute__((format(printf, 1, 2), noreturn))
void die(const char *fmt, ...)
{
	va_list ap;

	fputs("# FAIL: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	exit(1);
}

#endif /* CAPYMIG_BENCH_SAMPLES_H */
