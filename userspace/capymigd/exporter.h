/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * capymigd's metrics listener: the Prometheus exposition over HTTP, to
 * whoever connects.  Nothing in it blocks: a client that is slow or
 * silent (any local user may connect) waits alone until its deadline,
 * and the daemon's loop goes on.
 */
#ifndef CAPYMIGD_EXPORTER_H
#define CAPYMIGD_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/capymig.h>

#include "metrics.h"

/* Clients served at once; more are closed as they come. */
#define EXPORTER_CLIENTS	8
/* How long a client has, from its connect to the end of the answer. */
#define EXPORTER_DEADLINE_NS	1000000000ULL
/* Bytes of a request read, at most: the answer does not depend on it. */
#define EXPORTER_REQUEST_MAX	2048

struct exporter_client {
	int fd;				/* -1: a free slot */
	uint64_t deadline_ns;
	char request[EXPORTER_REQUEST_MAX];
	size_t got;
	char *answer;			/* once the request is read */
	size_t len, sent;
};

struct exporter {
	int fd;				/* the listener; -1: none */
	int epoll;
	struct exporter_client clients[EXPORTER_CLIENTS];
};

/*
 * Listens on @at; its sockets join @epoll, with their fd as the event's
 * data.  0, or -1 with errno.
 */
int exporter_open(struct exporter *e, int epoll,
		  const struct tcpmig_endpoint *at);

/*
 * Handles an event on @fd if it is one of @e's (true), answering with
 * @m's exposition.
 */
bool exporter_event(struct exporter *e, int fd, const struct metrics *m,
		    uint64_t now_ns);

/* Closes the clients past their deadline. */
void exporter_expire(struct exporter *e, uint64_t now_ns);

/*
 * How long the daemon may wait for events before a client's deadline
 * passes: milliseconds for epoll_wait(), rounded up, or -1 without any
 * client.  Expired only when the daemon's timer fired, a silent client
 * kept its slot for up to interval_ms (a minute), and eight of them kept
 * every scrape out as long.
 */
int exporter_timeout_ms(const struct exporter *e, uint64_t now_ns);

void exporter_close(struct exporter *e);

#endif /* CAPYMIGD_EXPORTER_H */
