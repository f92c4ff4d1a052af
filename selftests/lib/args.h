/* SPDX-License-Identifier: GPL-2.0 */
/* Command-line helpers shared by the selftest programs. */
#ifndef CAPYMIG_SELFTEST_ARGS_H
#define CAPYMIG_SELFTEST_ARGS_H

#include <stdlib.h>
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

/*
 * The options of the programs run on the switch's topology
 * (lib/switch_topology.sh): -a VIP, -p PORT, -N NS,... (exactly
 * @namespaces) and, when @addr_names is set, -g ADDR,... (exactly @addrs).
 */
struct topology_opts {
	const char **vip;
	int *port;
	char **ns_names;
	int namespaces;
	char **addr_names;
	int addrs;
};

/*
 * Takes getopt()'s option @c, with @arg, if it is one of @t's: 1, or -1
 * when its argument is bad; 0 when @c is another option.
 */
static inline int topology_opt(const struct topology_opts *t, int c,
			       char *arg)
{
	switch (c) {
	case 'a':
		*t->vip = arg;
		return 1;
	case 'p':
		*t->port = atoi(arg);
		return 1;
	case 'N':
		return split_list(arg, t->ns_names, t->namespaces) ? -1 : 1;
	case 'g':
		if (!t->addr_names)
			return 0;
		return split_list(arg, t->addr_names, t->addrs) ? -1 : 1;
	default:
		return 0;
	}
}

#endif /* CAPYMIG_SELFTEST_ARGS_H */
