// SPDX-License-Identifier: GPL-2.0
/*
 * tcpmig_stream: a connection carrying a verified byte stream in both
 * directions, migrated again and again while data is in flight.
 *
 *	tcpmig_stream [-6] [-p] [-n MIGRATIONS] [-i BYTES] [-a ADDR]
 *		      [-N NS_A,NS_B,...,NS_CLIENT -g GW_A,GW_B,...
 *		       [-r RTO_MIN_MS]]
 *	tcpmig_stream -S [-k] [-p|-l] [-b SNDBUF] [-n MIGRATIONS]
 *		      [-i BYTES] -a VIP -N NS_A,NS_B,...,NS_CLIENT
 *		      -g ADDR_A,ADDR_B,...
 *
 * This process is the client and the server application at once.  The
 * server side has listeners, A, B and so on, on the service address; each
 * migration exports the connection from the one serving it and imports it
 * into the next (A to B, B to C, ..., the last to A), whose accept() hands
 * the application the connection to carry on with (the application's own
 * state - how far each stream has got - is this process's).
 *
 * Without -N there are two listeners, which share one namespace and
 * port (SO_REUSEPORT), and the import names its listener by cookie.  With
 * -N they live in namespaces that all hold the service address, the
 * client in one more, and each migration is the two-phase sequence: hold
 * at the target, point the client's route to the service address at the
 * target (-g: the gateways towards A, B, ...), export, import.  -r sets
 * that route's minimum retransmission timeout.
 *
 * With -S the migration is a deployment's: a switch stands between the
 * client and the servers, the client connects to the service address
 * VIP, each server listens on its own address (-g), and the origin's
 * module moves the connection with TCPMig, through the switch, to the
 * next server, named.  With -k both sides keep writing until the
 * migration ends.  With -l the network is lossy: a migration may fail, but only
 * before the export, leaving the connection serving on its origin (and
 * the next attempt goes to the same target); segments may be lost, and
 * retransmissions are not counted.
 *
 * Every byte received is checked against its stream (0 lost, 0 reordered,
 * 0 corrupted), the origin's socket must report ECONNABORTED, and the
 * client namespace's TCP counters must show no reset and no
 * retransmission.  With -p, but for tail loss probes: the client keeps
 * sending while its connection is held in transit, unacknowledged, and
 * probes when a move outlasts its probe timeout (two round trips and a
 * few milliseconds on veth, which a slow emulated guest sometimes takes);
 * the probe is spurious, no byte was lost, and only retransmissions a
 * loss caused count.
 * -b sets both ends' send buffers, which bound the state a migration
 * carries.
 *
 * It runs on one CPU, the one it starts on, so that each flow is sent
 * from one CPU: by this process, or by the softirqs of the packets it
 * answers, which run where their senders did (lib/cpu.h says what veth
 * does otherwise).  A real link keeps a flow in order, and the check
 * counts every retransmission for a loss as the migrations'.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tcpmig.h"
#include "tuple.h"
#include "../lib/args.h"
#include "../lib/cpu.h"
#include "../lib/migrate.h"
#include "../lib/netns.h"
#include "../lib/stream.h"
#include "../lib/tap.h"
#include "../lib/tcp_counters.h"

#define PORT		7117
#define CHUNK		16384
#define DRAIN_SECONDS	30
#define SERVERS_MAX	8

struct side {
	int fd;
	uint64_t tx_pos, rx_pos;
	uint64_t tx_seed, rx_seed;
	uint64_t bad_at;	/* first corrupt byte + 1, or 0 */
	int dead;		/* errno that ended it, or 0 */
};

struct server {
	struct migrate_host host;
	int listener;
	uint64_t listener_cookie;
};

static struct {
	int family;
	int migrations;
	uint64_t interval;
	const char *addr;
	bool probes_ok;		/* -p */
	bool via_switch;	/* -S */
	bool lossy;		/* -l */
	bool keep_writing;	/* -k */
	int sndbuf;		/* -b */
	unsigned int rto_min_ms;
	int servers;
	char *ns_names[SERVERS_MAX + 1];	/* A, B, ..., client */
	char *gw_names[SERVERS_MAX];
	unsigned char service[16], gw[SERVERS_MAX][16];
} opt = {
	.family = AF_INET,
	.migrations = 100,
	.interval = 65536,
	.servers = 2,
};

static void usage(void)
{
	fprintf(stderr, "usage: tcpmig_stream [-6] [-p] [-n MIGRATIONS] "
			"[-i BYTES] [-a ADDR] "
			"[-N NS_A,NS_B,...,NS_CLIENT -g GW_A,GW_B,... "
			"[-r RTO_MIN_MS]]\n"
			"       tcpmig_stream -S [-k] [-p|-l] "
			"[-b SNDBUF] [-n MIGRATIONS] [-i BYTES] -a VIP "
			"-N NS_A,NS_B,...,NS_CLIENT -g ADDR_A,ADDR_B,...\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	int c, i, namespaces = 0;

	while ((c = getopt(argc, argv, "6pSlkb:n:i:a:N:g:r:")) != -1) {
		switch (c) {
		case '6':
			opt.family = AF_INET6;
			break;
		case 'S':
			opt.via_switch = true;
			break;
		case 'p':
			opt.probes_ok = true;
			break;
		case 'l':
			opt.lossy = true;
			break;
		case 'k':
			opt.keep_writing = true;
			break;
		case 'b':
			opt.sndbuf = atoi(optarg);
			break;
		case 'r':
			opt.rto_min_ms = atoi(optarg);
			break;
		case 'n':
			opt.migrations = atoi(optarg);
			break;
		case 'i':
			opt.interval = strtoull(optarg, NULL, 0);
			break;
		case 'a':
			opt.addr = optarg;
			break;
		case 'N':
			namespaces = split_list_max(optarg, opt.ns_names,
						    SERVERS_MAX + 1);
			break;
		case 'g':
			opt.servers = split_list_max(optarg, opt.gw_names,
						     SERVERS_MAX);
			break;
		default:
			usage();
		}
	}
	if (!opt.addr)
		opt.addr = opt.family == AF_INET ? "127.0.0.1" : "::1";
	/* One namespace a server, and the client's; or none. */
	if (inet_pton(opt.family, opt.addr, opt.service) != 1 ||
	    opt.servers < 2 || !!namespaces != !!opt.gw_names[0] ||
	    (namespaces && namespaces != opt.servers + 1))
		usage();
	for (i = 0; opt.gw_names[0] && i < opt.servers; i++)
		if (inet_pton(opt.family, opt.gw_names[i], opt.gw[i]) != 1)
			usage();
	/* TCPMig endpoints are IPv4, as the switch holds them. */
	if (opt.via_switch && (!namespaces || opt.family != AF_INET))
		usage();
	if ((opt.lossy || opt.keep_writing) && !opt.via_switch)
		usage();
	if (opt.lossy && opt.probes_ok)
		usage();
}

/* @addr (of opt.family) and PORT as a socket address. */
static socklen_t make_sockaddr(const void *addr, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (opt.family == AF_INET) {
		struct sockaddr_in *sin = (void *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(PORT);
		memcpy(&sin->sin_addr, addr, 4);
		return sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (void *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(PORT);
		memcpy(&sin6->sin6_addr, addr, 16);
		return sizeof(*sin6);
	}
}

static void die(const char *what)
{
	tap_result(0, "%s: %s", what, strerror(errno));
	exit(KSFT_FAIL);
}

/* Non-blocking, with the send buffer of -b. */
static void set_nonblock(int fd)
{
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) ||
	    (opt.sndbuf && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &opt.sndbuf,
				      sizeof(opt.sndbuf))))
		die("socket options");
}

/*
 * A listener in @srv's namespace: on the service address, or behind a
 * switch on the server's own address.
 */
static void server_setup(struct server *srv, const char *ns, const void *gw)
{
	struct sockaddr_storage ss;
	socklen_t len = make_sockaddr(opt.via_switch ? gw : opt.service, &ss);
	socklen_t clen;
	int one = 1, prev, err;

	err = migrate_host_open(&srv->host, ns);
	if (err) {
		errno = -err;
		die("namespace and tcpmig netlink");
	}
	memcpy(srv->host.gw, gw, sizeof(srv->host.gw));
	prev = netns_enter(srv->host.netns);
	if (prev < 0)
		die("enter namespace");
	srv->listener = socket(opt.family, SOCK_STREAM, 0);
	if (srv->listener < 0 ||
	    setsockopt(srv->listener, SOL_SOCKET, SO_REUSEPORT, &one,
		       sizeof(one)) ||
	    bind(srv->listener, (struct sockaddr *)&ss, len) ||
	    listen(srv->listener, 16))
		die("listener");
	clen = sizeof(srv->listener_cookie);
	if (getsockopt(srv->listener, SOL_SOCKET, SO_COOKIE,
		       &srv->listener_cookie, &clen))
		die("SO_COOKIE");
	netns_leave(prev);
}

/*
 * The connection that comes first to one of the @n listeners of @srv;
 * which one, in *@which.
 */
static int accept_first(struct server *srv, int n, int *which)
{
	struct pollfd pfd[SERVERS_MAX];
	int i, fd;

	for (i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = srv[i].listener,
					  .events = POLLIN };
	if (poll(pfd, n, 5000) < 1)
		return -1;
	for (i = 0; i < n - 1 && !(pfd[i].revents & POLLIN); i++)
		;
	fd = accept(srv[i].listener, NULL, NULL);
	if (fd >= 0)
		set_nonblock(fd);
	*which = i;
	return fd;
}

/* Sends what the socket takes of @s's stream, then reads and checks. */
static void pump(struct side *s, bool send_more)
{
	uint8_t buf[CHUNK];
	ssize_t n;
	size_t good;

	if (s->dead)
		return;
	if (send_more) {
		stream_fill(s->tx_seed, s->tx_pos, buf, sizeof(buf));
		n = send(s->fd, buf, sizeof(buf), MSG_NOSIGNAL);
		if (n > 0) {
			s->tx_pos += n;
		} else if (n < 0 && errno != EAGAIN) {
			/* What ended it, not what the next call says. */
			s->dead = errno;
			return;
		}
	}
	for (;;) {
		n = recv(s->fd, buf, sizeof(buf), 0);
		if (n == 0) {
			s->dead = EPIPE;
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN)
				s->dead = errno;
			return;
		}
		good = stream_check(s->rx_seed, s->rx_pos, buf, n);
		if (good != (size_t)n && !s->bad_at)
			s->bad_at = s->rx_pos + good + 1;
		s->rx_pos += n;
	}
}

/*
 * Waits for the sides' sockets, and for @fd if not -1 (events).  A dead
 * side's socket, always ready, would make it a busy loop, starving the
 * kernel's workers that a migration waits for.
 */
static void wait_io(struct side *a, struct side *b, int fd)
{
	struct pollfd pfd[3] = {
		{ .fd = a->dead ? -1 : a->fd, .events = POLLIN | POLLOUT },
		{ .fd = b->dead ? -1 : b->fd, .events = POLLIN | POLLOUT },
		{ .fd = fd, .events = POLLIN },
	};

	poll(pfd, fd < 0 ? 2 : 3, 100);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

struct migration_stats {
	int done;
	int failed;		/* -l: before the export, connection kept */
	int aborted_ok;		/* origin reported ECONNABORTED */
	double total_us, max_us;
};

/*
 * Moves the connection of @server_side to @to through the switch, with
 * -k the client and the origin's application writing all the while.  Returns
 * 0 once migrated; 1 when it failed and left the connection serving on
 * the origin (-l only); else a negative errno, with a TAP diagnostic.
 */
static int migrate_switch(struct side *client, struct side *server_side,
			  struct server *from, struct server *to,
			  const struct capymig_tuple *tuple, char *why)
{
	struct tcpmig_endpoint target = { .port = htons(PORT) };
	struct tcpmig_migrate_opts mopts = { .target = &target };
	struct migrate_switch sw;
	int err;

	memcpy(&target.addr, to->host.gw, sizeof(target.addr));
	err = migrate_switch_start(&sw, &from->host, tuple, &mopts, why);
	while (!err) {
		if (opt.keep_writing) {
			pump(client, true);
			pump(server_side, true);
			wait_io(client, server_side, migrate_switch_fd(&sw));
		}
		err = migrate_switch_poll(&sw, opt.keep_writing ? 0 : -1,
					  why);
	}
	if (err < 0)
		return err;
	if (!sw.result)
		return 0;
	/* Before the export the origin's socket serves on, untouched. */
	pump(server_side, false);
	if (!opt.lossy || server_side->dead ||
	    (sw.seen & (1U << TCPMIG_EVENT_STATE_SENT)))
		return sw.result;
	tap_diag("%s: the connection stays on its origin", why);
	return 1;
}

/*
 * Moves the connection of @server_side from @from to @to, in two phases
 * around @route when there is one, or through the switch.  Returns 0, 1
 * if it failed but the connection is still served by @from (-l), or a
 * negative errno with a TAP diagnostic.
 */
static int migrate(struct side *client, struct side *server_side,
		   struct server *from, struct server *to,
		   const struct migrate_route *route,
		   struct migration_stats *ms)
{
	struct tcpmig_import_opts iopts = {};
	struct capymig_tuple tuple;
	char why[MIGRATE_WHY_LEN];
	double start, took;
	int err, fd, which;
	char byte;

	err = capymig_tuple_from_fd(server_side->fd, &tuple);
	if (err)
		return err;
	/* Sharing one address, the listeners are told apart by cookie. */
	if (!route)
		iopts.listener_cookie = to->listener_cookie;
	start = now_us();
	if (opt.via_switch)
		err = migrate_switch(client, server_side, from, to, &tuple,
				     why);
	else
		err = migrate_conn(&from->host, &to->host, &tuple, route,
				   &iopts, why);
	if (err == 1) {
		ms->failed++;
		return 1;
	}
	if (err) {
		tap_diag("%s", why);
		return err;
	}
	took = now_us() - start;
	ms->total_us += took;
	if (took > ms->max_us)
		ms->max_us = took;

	/*
	 * The origin application learns its connection has gone, by the
	 * first call after the export: perhaps one of the migration's.
	 */
	if (server_side->dead == ECONNABORTED ||
	    (!server_side->dead &&
	     recv(server_side->fd, &byte, 1, MSG_DONTWAIT) < 0 &&
	     errno == ECONNABORTED))
		ms->aborted_ok++;
	close(server_side->fd);
	server_side->dead = 0;

	fd = accept_first(to, 1, &which);
	if (fd < 0) {
		tap_diag("no connection to accept after the import");
		return -ETIMEDOUT;
	}
	server_side->fd = fd;
	ms->done++;
	return 0;
}

/* The last point: with -p only the retransmissions a loss caused. */
static void check_retransmits(const struct tcp_counters *before,
			      const struct tcp_counters *after)
{
	uint64_t n = opt.probes_ok ?
		     tcp_counters_loss_retransmits(before, after) :
		     tcp_counters_retransmits(before, after);
	char what[128];

	if (opt.probes_ok)
		snprintf(what, sizeof(what), "no retransmission for a loss "
			 "(%llu; %llu loss probes)", (unsigned long long)n,
			 (unsigned long long)(after->loss_probes -
					      before->loss_probes));
	else
		snprintf(what, sizeof(what), "no retransmission (%llu)",
			 (unsigned long long)n);
	tap_result(!n, "%s", what);
}

int main(int argc, char **argv)
{
	struct server srv[SERVERS_MAX];
	struct side client = { .tx_seed = 1, .rx_seed = 2 };
	struct side server = { .tx_seed = 2, .rx_seed = 1 };
	struct migration_stats ms = {};
	struct migrate_route route = {};
	struct tcp_counters before, after;
	struct sockaddr_storage ss;
	socklen_t len;
	int client_ns = -1, prev, cur = 0, next, i, err = 0;
	uint64_t mark_c, mark_s;
	double deadline;

	parse_args(argc, argv);
	/* See the top of this file. */
	if (stay_on_this_cpu())
		die("staying on one CPU");
	len = make_sockaddr(opt.service, &ss);
	tap_plan(6);

	for (i = 0; i < opt.servers; i++)
		server_setup(&srv[i], opt.ns_names[i], opt.gw[i]);
	if (opt.ns_names[opt.servers]) {
		client_ns = netns_open(opt.ns_names[opt.servers]);
		if (client_ns < 0)
			die("client namespace");
		route.client_ns = client_ns;
		route.family = opt.family;
		memcpy(route.dst, opt.service, sizeof(route.dst));
		route.rto_min_ms = opt.rto_min_ms;
		/* Behind a switch, the switch places and moves the traffic. */
		if (!opt.via_switch)
			err = migrate_route_to(&route, &srv[0].host);
		prev = netns_enter(client_ns);
	} else {
		prev = netns_enter(srv[0].host.netns);
	}
	client.fd = socket(opt.family, SOCK_STREAM, 0);
	if (client.fd < 0 || err ||
	    connect(client.fd, (struct sockaddr *)&ss, len))
		die("connect");
	tcp_counters_read(&before);
	netns_leave(prev);
	set_nonblock(client.fd);

	/* The kernel or the switch picked a server: start from that one. */
	server.fd = accept_first(srv, opt.servers, &cur);
	if (server.fd < 0)
		die("accept");

	for (i = 0; i < opt.migrations && err <= 0; i++) {
		mark_c = client.rx_pos;
		mark_s = server.rx_pos;
		while (!client.dead && !server.dead && !client.bad_at &&
		       !server.bad_at &&
		       (client.rx_pos - mark_c < opt.interval ||
			server.rx_pos - mark_s < opt.interval)) {
			pump(&client, true);
			pump(&server, true);
			wait_io(&client, &server, -1);
		}
		if (client.dead || server.dead || client.bad_at || server.bad_at)
			break;
		next = (cur + 1) % opt.servers;
		err = migrate(&client, &server, &srv[cur], &srv[next],
			      client_ns >= 0 && !opt.via_switch ? &route : NULL,
			      &ms);
		if (!err)
			cur = next;
		else if (err < 0)
			break;
	}

	/* Stop writing; wait for each side to read all the other sent. */
	deadline = now_us() + DRAIN_SECONDS * 1e6;
	while (!client.dead && !server.dead && now_us() < deadline &&
	       (client.rx_pos < server.tx_pos || server.rx_pos < client.tx_pos)) {
		pump(&client, false);
		pump(&server, false);
		wait_io(&client, &server, -1);
	}

	prev = netns_enter(client_ns >= 0 ? client_ns : srv[0].host.netns);
	tcp_counters_read(&after);
	netns_leave(prev);

	if (opt.lossy)
		tap_result(ms.done + ms.failed == opt.migrations,
			   "%d of %d migrations ended: %d completed, %d failed "
			   "before the export, leaving the connection serving "
			   "on its origin", ms.done + ms.failed,
			   opt.migrations, ms.done, ms.failed);
	else
		tap_result(ms.done == opt.migrations,
			   "%d of %d migrations done", ms.done,
			   opt.migrations);
	tap_result(!client.dead && !server.dead,
		   "connection alive (client: %s, server: %s)",
		   client.dead ? strerror(client.dead) : "ok",
		   server.dead ? strerror(server.dead) : "ok");
	tap_result(!client.bad_at && !server.bad_at &&
		   client.rx_pos == server.tx_pos &&
		   server.rx_pos == client.tx_pos,
		   "every byte arrived once, in order, intact "
		   "(%llu B to the client, %llu B to the server)",
		   (unsigned long long)client.rx_pos,
		   (unsigned long long)server.rx_pos);
	tap_result(ms.aborted_ok == ms.done,
		   "origin saw ECONNABORTED after each export (%d of %d)",
		   ms.aborted_ok, ms.done);
	tap_result(tcp_counters_resets(&before, &after) == 0,
		   "no reset sent or received (%llu)",
		   (unsigned long long)tcp_counters_resets(&before, &after));
	if (opt.lossy)
		tap_skip("the network loses segments",
			 "retransmissions: %llu",
			 (unsigned long long)
			 tcp_counters_retransmits(&before, &after));
	else
		check_retransmits(&before, &after);
	if (ms.done)
		tap_diag("export+import: mean %.1f us, max %.1f us",
			 ms.total_us / ms.done, ms.max_us);
	return tap_exit_code();
}
