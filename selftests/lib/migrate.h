/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Moving a connection between two server namespaces from a test program,
 * the way a deployment moves it: when both servers hold the service
 * address, in two phases around the route change that makes the address
 * move (the switch's part, played in the client's namespace).
 */
#ifndef CAPYMIG_SELFTEST_MIGRATE_H
#define CAPYMIG_SELFTEST_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpmig.h"
#include "tuple.h"

/* "hold 10.9.9.9:80 -> 10.9.1.1:40000: <strerror>: <extack>" fits. */
#define MIGRATE_WHY_LEN	(CAPYMIG_TUPLE_STRLEN + TCPMIG_NL_EXT_MSG_MAX + 64)

/* One server: its namespace, a tcpmig socket there, the way to it. */
struct migrate_host {
	int netns;			/* fd of the namespace */
	struct tcpmig_nl nl;
	unsigned char gw[16];		/* the client's next hop towards it */
};

/* The route the two-phase migration moves, in the client's namespace. */
struct migrate_route {
	int client_ns;			/* fd of the namespace */
	int family;
	unsigned char dst[16];		/* the service address */
	unsigned int rto_min_ms;	/* the route's, 0: the kernel's */
};

/*
 * Opens /var/run/netns/@name ("" or NULL: the current namespace) and a
 * tcpmig socket in it.  Returns 0 or a negative errno.
 */
int migrate_host_open(struct migrate_host *h, const char *name);

/*
 * @h's module counter @stat (enum tcpmig_stat).  A test that cannot read
 * its counters checks nothing: it bails out (TAP), with status 1.
 */
uint64_t migrate_host_stat(struct migrate_host *h, enum tcpmig_stat stat);

/* Points @r at @to: the client's traffic for the service goes there. */
int migrate_route_to(const struct migrate_route *r,
		     const struct migrate_host *to);

/* The connection of client socket @fd as its server sees it. */
int migrate_server_tuple(int fd, struct capymig_tuple *t);

/*
 * The first phase of a two-phase move of connection @t to @to: @to holds
 * the connection's packets and @route is pointed at it, so nothing the
 * client sends from then on meets @to's listener (which would reset it)
 * nor @from.  Returns 0, or a negative errno with what failed written to
 * @why (MIGRATE_WHY_LEN bytes).
 */
int migrate_prepare(struct migrate_host *to, const struct capymig_tuple *t,
		    const struct migrate_route *route, char *why);

/*
 * The second phase: @from exports the connection and @to imports it, with
 * @opts (NULL: into its listener for the service address), replaying what
 * it held.  Returns as migrate_prepare().
 */
int migrate_commit(struct migrate_host *from, struct migrate_host *to,
		   const struct capymig_tuple *t,
		   const struct tcpmig_import_opts *opts, char *why);

/*
 * Both phases; without @route (one namespace, one address) only the
 * second.
 */
int migrate_conn(struct migrate_host *from, struct migrate_host *to,
		 const struct capymig_tuple *t,
		 const struct migrate_route *route,
		 const struct tcpmig_import_opts *opts, char *why);

/*
 * The way a deployment moves it through a switch: @from's module runs
 * TCPMig (PREPARE through the switch, export, CONN-STATE) with @opts
 * (NULL: where the switch chooses, at any point of the stream).  Waits until the origin reports the
 * migration's end.  Returns 0 once migrated, or a negative errno with
 * what failed written to @why.
 */
int migrate_via_switch(struct migrate_host *from,
		       const struct capymig_tuple *t,
		       const struct tcpmig_migrate_opts *opts, char *why);

/*
 * The same without waiting, for a program that goes on with its
 * connections meanwhile: start, then poll until it ended.
 */
struct migrate_switch {
	struct tcpmig_nl events;	/* the origin's, joined */
	struct capymig_tuple tuple;
	uint32_t id;
	uint32_t seen;			/* 1 << each enum tcpmig_event seen */
	bool ended;
	bool rejected;			/* REJECTED, not FAILED */
	int result;			/* 0 migrated, or -errno of the end */
};

/* Sends MIGRATE.  Returns 0, or a negative errno as migrate_prepare(). */
int migrate_switch_start(struct migrate_switch *ms, struct migrate_host *from,
			 const struct capymig_tuple *t,
			 const struct tcpmig_migrate_opts *opts, char *why);

/* What to poll for the migration's events. */
int migrate_switch_fd(const struct migrate_switch *ms);

/*
 * Reads the origin's events, waiting up to @timeout_ms (-1: forever) for
 * the first.  Returns 0 while the migration goes on; 1 once it ended,
 * with ms->result (and @why when it is not 0); a negative errno if the
 * events cannot be read.
 */
int migrate_switch_poll(struct migrate_switch *ms, int timeout_ms, char *why);

/* Polls until the migration ended: 0 once migrated, or a negative errno. */
int migrate_switch_wait(struct migrate_switch *ms, char *why);

#endif /* CAPYMIG_SELFTEST_MIGRATE_H */
