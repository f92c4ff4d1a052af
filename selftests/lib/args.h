/* SPDX-License-Identifier: GPL-2.0 */
/* Command-line helpers shared by the selftest programs. */
#ifndef CAPYMIG_SELFTEST_ARGS_H
#define CAPYMIG_SELFTEST_ARGS_H

#include <string.h>

/*
 * Splits "A,B,C" in place into exactly @n strings at @out; -1 when the
 * list has fewer or more.
 */
static inline int split_list(char *arg, char **out, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		out[i] = strsep(&arg, ",");
		if (!out[i])
			return -1;
	}
	return arg ? -1 : 0;
}

/*
 * Splits "A,B,..." in place into at most @max strings at @out.  Returns
 * how many, or -1 when the list has more.
 */
static inline int split_list_max(char *arg, char **out, int max)
{
	int n = 0;

	while (arg) {
		if (n == max)
			return -1;
		out[n++] = strsep(&arg, ",");
	}
	return n;
}

#endif /* CAPYMIG_SELFTEST_ARGS_H */
