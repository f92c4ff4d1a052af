// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migrate.h"
#include "netns.h"

int migrate_host_open(struct migrate_host *h, const char *name)
{
	int prev, err;

	h->netns = netns_open(name);
	if (h->netns < 0)
		return -errno;
	prev = netns_enter(h->netns);
	if (prev < 0) {
		err = -errno;
		close(h->netns);
		return err;
	}
	/* The socket acts in the namespace it was created in. */
	err = tcpmig_nl_open(&h->nl);
	netns_leave(prev);
	if (err)
		close(h->netns);
	return err;
}

uint64_t migrate_host_stat(struct migrate_host *h, enum tcpmig_stat stat)
{
	struct tcpmig_info info;
	int err = tcpmig_get_info(&h->nl, &info);

	if (err) {
		printf("Bail out! reading the module's counters: %s\n",
		       strerror(-err));
		exit(1);	/* KSFT_FAIL */
	}
	return info.stats[stat];
}

int migrate_route_to(const struct migrate_route *r,
		     const struct migrate_host *to)
{
	int prev, err;

	prev = netns_enter(r->client_ns);
	if (prev < 0)
		return -errno;
	err = route_replace(r->family, r->dst, to->gw, r->rto_min_ms);
	netns_leave(prev);
	return err;
}

int migrate_server_tuple(int fd, struct capymig_tuple *t)
{
	struct capymig_tuple client;
	int err;

	err = capymig_tuple_from_fd(fd, &client);
	if (err)
		return err;
	*t = client;
	t->local_port = client.remote_port;
	t->remote_port = client.local_port;
	memcpy(t->local_addr, client.remote_addr, sizeof(t->local_addr));
	memcpy(t->remote_addr, client.local_addr, sizeof(t->remote_addr));
	return 0;
}

static int failed(char *why, const char *step, const struct capymig_tuple *t,
		  int err, const char *ext_msg)
{
	char text[CAPYMIG_TUPLE_STRLEN];

	snprintf(why, MIGRATE_WHY_LEN, "%s %s: %s%s%s", step,
		 capymig_tuple_format(t, text), strerror(-err),
		 ext_msg && *ext_msg ? ": " : "", ext_msg ? ext_msg : "");
	return err;
}

int migrate_prepare(struct migrate_host *to, const struct capymig_tuple *t,
		    const struct migrate_route *route, char *why)
{
	int err;

	err = tcpmig_hold(&to->nl, t, 0);
	if (err)
		return failed(why, "hold", t, err, to->nl.ext_msg);
	err = migrate_route_to(route, to);
	if (err)
		return failed(why, "route to", t, err, NULL);
	return 0;
}

int migrate_commit(struct migrate_host *from, struct migrate_host *to,
		   const struct capymig_tuple *t,
		   const struct tcpmig_import_opts *opts, char *why)
{
	struct tcpmig_blob blob;
	int err;

	err = tcpmig_export(&from->nl, t, 0, &blob);
	if (err)
		return failed(why, "export", t, err, from->nl.ext_msg);
	err = tcpmig_import(&to->nl, &blob, opts, NULL);
	tcpmig_blob_free(&blob);
	if (err)
		return failed(why, "import", t, err, to->nl.ext_msg);
	return 0;
}

int migrate_conn(struct migrate_host *from, struct migrate_host *to,
		 const struct capymig_tuple *t,
		 const struct migrate_route *route,
		 const struct tcpmig_import_opts *opts, char *why)
{
	int err;

	if (route) {
		err = migrate_prepare(to, t, route, why);
		if (err)
			return err;
	}
	return migrate_commit(from, to, t, opts, why);
}

static int switch_event(const struct tcpmig_notification *ev, void *arg)
{
	struct migrate_switch *ms = arg;

	if (ev->migration_id != ms->id)
		return 1;
	if (ev->type < 32)
		ms->seen |= 1U << ev->type;
	switch (ev->type) {
	case TCPMIG_EVENT_MIGRATED:
		ms->result = 0;
		ms->ended = true;
		break;
	case TCPMIG_EVENT_REJECTED:
	case TCPMIG_EVENT_FAILED:
		ms->result = ev->error ? -(int)ev->error : -EIO;
		ms->rejected = ev->type == TCPMIG_EVENT_REJECTED;
		ms->ended = true;
		break;
	}
	/* One event a call: the caller polls between them. */
	return 1;
}

/* A socket of @h's namespace listening to its events. */
static int open_events(struct migrate_host *h, struct tcpmig_nl *events)
{
	int prev = netns_enter(h->netns), err, rcvbuf = 8 << 20;

	if (prev < 0)
		return -errno;
	err = tcpmig_nl_open(events);
	netns_leave(prev);
	if (err)
		return err;
	/*
	 * Room for the events of a busy namespace (LOADs) while the caller
	 * is busy elsewhere: an overflow loses them, the end included.
	 */
	if (setsockopt(mnl_socket_get_fd(events->sock), SOL_SOCKET,
		       SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		err = -errno;
	else
		err = tcpmig_join_events(events);
	if (err)
		tcpmig_nl_close(events);
	return err;
}

int migrate_switch_start(struct migrate_switch *ms, struct migrate_host *from,
			 const struct capymig_tuple *t,
			 const struct tcpmig_migrate_opts *opts, char *why)
{
	char text[CAPYMIG_TUPLE_STRLEN];
	int err;

	memset(ms, 0, sizeof(*ms));
	ms->tuple = *t;
	/* Listening first: the migration may end before MIGRATE's reply. */
	err = open_events(from, &ms->events);
	if (err) {
		snprintf(why, MIGRATE_WHY_LEN, "events: %s", strerror(-err));
		return err;
	}
	err = tcpmig_migrate_with(&from->nl, t, opts, &ms->id);
	if (err) {
		snprintf(why, MIGRATE_WHY_LEN, "migrate %s: %s: %s",
			 capymig_tuple_format(t, text), strerror(-err),
			 from->nl.ext_msg);
		tcpmig_nl_close(&ms->events);
		return err;
	}
	return 0;
}

int migrate_switch_fd(const struct migrate_switch *ms)
{
	return mnl_socket_get_fd(ms->events.sock);
}

int migrate_switch_poll(struct migrate_switch *ms, int timeout_ms, char *why)
{
	struct pollfd pfd = { .fd = migrate_switch_fd(ms), .events = POLLIN };
	char text[CAPYMIG_TUPLE_STRLEN];
	int err;

	while (!ms->ended && poll(&pfd, 1, timeout_ms) == 1) {
		err = tcpmig_monitor(&ms->events, switch_event, ms);
		if (err < 0) {
			snprintf(why, MIGRATE_WHY_LEN, "events: %s",
				 strerror(-err));
			tcpmig_nl_close(&ms->events);
			return err;
		}
		/* Whatever is already there, without waiting again. */
		timeout_ms = 0;
	}
	if (!ms->ended)
		return 0;
	tcpmig_nl_close(&ms->events);
	if (ms->result)
		snprintf(why, MIGRATE_WHY_LEN, "migration #%u of %s: %s%s",
			 ms->id, capymig_tuple_format(&ms->tuple, text),
			 ms->rejected ? "rejected: " : "",
			 strerror(-ms->result));
	return 1;
}

int migrate_switch_wait(struct migrate_switch *ms, char *why)
{
	int err;

	do
		err = migrate_switch_poll(ms, -1, why);
	while (!err);
	return err < 0 ? err : ms->result;
}

int migrate_via_switch(struct migrate_host *from,
		       const struct capymig_tuple *t,
		       const struct tcpmig_migrate_opts *opts, char *why)
{
	struct migrate_switch ms;

	return migrate_switch_start(&ms, from, t, opts, why) ?:
	       migrate_switch_wait(&ms, why);
}
