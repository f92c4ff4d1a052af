// SPDX-License-Identifier: GPL-2.0
/*
 * switch_peers: the client and the servers of switch_forwarding.sh, in one
 * process, against a running software switch.
 *
 *	switch_peers -c CLIENT_NS -v VIP:PORT -a SWITCH_ADDR -p TCPMIG_PORT
 *		     NS=ADDR:PORT...
 *
 * Each server NS has a TCP listener on ADDR:PORT, answering each line it
 * gets with its name ("s1" for the first) and the line, and a UDP socket
 * on ADDR:TCPMIG_PORT for its TCPMig: REGISTER heartbeats every 100 ms
 * (from a thread, so that no step of the test delays them), and the LOADs,
 * PREPAREs and PREPARE-ACKs the switch sends or forwards.  The client's
 * sockets are made in CLIENT_NS.  Sockets belong to the namespace they
 * were made in, so one process holds them all.
 *
 * Prints TAP test points, without a plan: the script counts them in its
 * own.  Exit status 0 if all passed.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tuple.h"
#include "../lib/netns.h"
#include "../lib/tap.h"

#define MAX_SERVERS	4
#define WAIT_MS		5000	/* any wait for the switch; TCG is slow */
#define HEARTBEAT_MS	100
#define LOADS		300	/* LOADs timed */
#define MIGRATED_PORT	45000	/* the client port of the migrated connection */
#define SHARED_PORT	45001	/* ... of one to the service and one beside */

struct server {
	char name[16];
	int ns;
	struct tcpmig_endpoint ep;
	struct sockaddr_in tcp;	/* ep as a socket address */
	struct sockaddr_in mig;	/* ep's address, the TCPMig port */
	int listener;
	int udp;
	/* Read by the heartbeat thread. */
	_Atomic __u32 flags;	/* of its REGISTERs */
	_Atomic bool stopped;	/* sends none */
};

static struct server srv[MAX_SERVERS];
static int nsrv;
static int client_ns;
static struct tcpmig_endpoint vip;
static struct sockaddr_in vip_sa, switch_sa;
static __u16 tcpmig_port;

struct message {
	struct tcpmig_msg_hdr h;
	union {
		struct tcpmig_msg_load load;
		struct tcpmig_msg_register reg;
	} body;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
}

static bool ep_eq(struct tcpmig_endpoint a, struct tcpmig_endpoint b)
{
	return a.addr == b.addr && a.port == b.port;
}

static struct sockaddr_in sockaddr_of(__be32 addr, __be16 port)
{
	return (struct sockaddr_in){
		.sin_family = AF_INET,
		.sin_addr.s_addr = addr,
		.sin_port = port,
	};
}

static struct tcpmig_endpoint ep_of(const struct sockaddr_in *sin)
{
	return (struct tcpmig_endpoint){ .addr = sin->sin_addr.s_addr,
					 .port = sin->sin_port };
}

/* A socket of @type made in namespace @ns. */
static int ns_socket(int ns, int type, int protocol)
{
	int prev = netns_enter(ns), fd;

	if (prev < 0)
		return -1;
	fd = socket(AF_INET, type | SOCK_CLOEXEC, protocol);
	netns_leave(prev);
	return fd;
}

static bool wait_fd(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, timeout_ms) == 1;
}

/* --- TCPMig -------------------------------------------------------------- */

static void send_msg(struct server *from, const struct sockaddr_in *to,
		     int type, struct tcpmig_endpoint client,
		     struct tcpmig_endpoint origin,
		     struct tcpmig_endpoint target)
{
	struct message m = {
		.h = {
			.magic = htons(TCPMIG_MSG_MAGIC),
			.version = TCPMIG_MSG_VERSION,
			.type = type,
			.migration_id = htonl(42),
			.client = client,
			.origin = origin,
			.target = target,
		},
		.body.reg.flags = htonl(from->flags),
		.body.reg.weight = htonl(1),
	};
	size_t len = sizeof(m.h) + (type == TCPMIG_MSG_REGISTER ?
				    sizeof(m.body.reg) : 0);

	if (sendto(from->udp, &m, len, 0, (const struct sockaddr *)to,
		   sizeof(*to)) != (ssize_t)len)
		tap_diag("%s: sending TCPMig: %s", from->name, strerror(errno));
}

static void send_register(struct server *s)
{
	struct tcpmig_endpoint none = { 0 };

	send_msg(s, &switch_sa, TCPMIG_MSG_REGISTER, none, s->ep, none);
}

static void *heartbeats(void *arg)
{
	struct timespec tick = { .tv_nsec = HEARTBEAT_MS * 1000000L };
	int i;

	for (;;) {
		for (i = 0; i < nsrv; i++)
			if (!srv[i].stopped)
				send_register(&srv[i]);
		nanosleep(&tick, NULL);
	}
	return arg;
}

/*
 * Receives a message of @fd's into @m, and the time its socket got it
 * (CLOCK_REALTIME) into @t_us: when this process reads it, on a busy
 * emulated host, says more about its own scheduling than the sender's.
 */
static ssize_t recv_stamped(int fd, struct message *m, uint64_t *t_us)
{
	char control[CMSG_SPACE(sizeof(struct timespec))];
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control,
		.msg_controllen = sizeof(control),
	};
	struct cmsghdr *c;
	struct timespec ts;
	ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);

	*t_us = 0;
	for (c = CMSG_FIRSTHDR(&msg); n >= 0 && c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_TIMESTAMPNS) {
			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			*t_us = ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
		}
	return n;
}

/*
 * The next message of @type to server @want (-1: any) within @timeout_ms,
 * into @m, with the server in @which and the time it arrived in @t_us
 * (either may be NULL).  Every server's socket is read meanwhile, and
 * what is not wanted dropped: LOADs come every millisecond, and a socket
 * left to fill up would drop the next message that matters.
 */
static bool wait_msg(int type, int want, struct message *m, int timeout_ms,
		     int *which, uint64_t *t_us)
{
	uint64_t deadline = now_us() + timeout_ms * 1000ULL, now, stamp;
	struct pollfd pfd[MAX_SERVERS];
	ssize_t n;
	int i;

	for (i = 0; i < nsrv; i++)
		pfd[i] = (struct pollfd){ .fd = srv[i].udp, .events = POLLIN };
	while ((now = now_us()) < deadline &&
	       poll(pfd, nsrv, (deadline - now + 999) / 1000) > 0) {
		for (i = 0; i < nsrv; i++) {
			while ((n = recv_stamped(srv[i].udp, m,
						 &stamp)) >= 0) {
				if (n < (ssize_t)sizeof(m->h) ||
				    m->h.type != type ||
				    (want >= 0 && i != want))
					continue;
				if (which)
					*which = i;
				if (t_us)
					*t_us = stamp;
				return true;
			}
		}
	}
	return false;
}

/* Drops what the servers received so far. */
static void flush(void)
{
	struct message m;

	wait_msg(0, -1, &m, 0, NULL, NULL);
}

/* --- TCP ----------------------------------------------------------------- */

/* A connection from the client (from @port, 0: any) to @to. */
static int client_connect(const struct sockaddr_in *to, __u16 port)
{
	struct sockaddr_in from = sockaddr_of(INADDR_ANY, htons(port));
	struct timeval tv = { .tv_sec = WAIT_MS / 1000 };
	int fd = ns_socket(client_ns, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if ((port && bind(fd, (struct sockaddr *)&from, sizeof(from))) ||
	    connect(fd, (const struct sockaddr *)to, sizeof(*to))) {
		tap_diag("connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The connection some server got; its index in @which. */
static int server_accept(int *which)
{
	struct pollfd pfd[MAX_SERVERS];
	int i, fd;

	for (i = 0; i < nsrv; i++)
		pfd[i] = (struct pollfd){ .fd = srv[i].listener,
					  .events = POLLIN };
	if (poll(pfd, nsrv, WAIT_MS) <= 0)
		return -1;
	for (i = 0; i < nsrv; i++) {
		if (!(pfd[i].revents & POLLIN))
			continue;
		fd = accept4(srv[i].listener, NULL, NULL, SOCK_CLOEXEC);
		*which = i;
		return fd;
	}
	return -1;
}

/*
 * A line from the client, answered by server @which on @sfd as the echo
 * server does; true if it all came back.
 */
static bool echo(int cfd, int sfd, int which, const char *line)
{
	char got[64], want[64];
	ssize_t n;

	snprintf(want, sizeof(want), "%s %s", srv[which].name, line);
	if (send(cfd, line, strlen(line), 0) != (ssize_t)strlen(line) ||
	    !wait_fd(sfd, WAIT_MS) ||
	    (n = recv(sfd, got, sizeof(got), 0)) != (ssize_t)strlen(line) ||
	    memcmp(got, line, n) ||
	    send(sfd, want, strlen(want), 0) != (ssize_t)strlen(want) ||
	    (n = recv(cfd, got, strlen(want), MSG_WAITALL)) !=
	    (ssize_t)strlen(want))
		return false;
	got[n] = '\0';
	return !strcmp(got, want);
}

/*
 * Each end names the other as it addressed it: the client's peer is what
 * it connected to, the server's is the client, from its own address.
 */
static bool addressed(int cfd, int sfd, int which,
		      const struct sockaddr_in *to)
{
	struct sockaddr_in c_local, c_peer, s_local, s_peer;
	socklen_t len = sizeof(c_local);

	if (getsockname(cfd, (struct sockaddr *)&c_local, &len) ||
	    getpeername(cfd, (struct sockaddr *)&c_peer, &len) ||
	    getsockname(sfd, (struct sockaddr *)&s_local, &len) ||
	    getpeername(sfd, (struct sockaddr *)&s_peer, &len))
		return false;
	return ep_eq(ep_of(&c_peer), ep_of(to)) &&
	       ep_eq(ep_of(&s_local), srv[which].ep) &&
	       ep_eq(ep_of(&s_peer), ep_of(&c_local));
}

/* Closes the client's end first, as it would: the FINs go both ways. */
static void hang_up(int cfd, int sfd)
{
	close(cfd);
	close(sfd);
}

/*
 * @n connections to @to, one after the other, each passing a line both
 * ways; each server's count in @on, the servers in turn in @order, and in
 * @addr_ok how many had their ends addressed right.  Returns how many
 * lines came back intact.
 */
static int connections(const struct sockaddr_in *to, int n, int *on,
		       int *order, int *addr_ok)
{
	int k, cfd, sfd, which, good = 0;
	char line[32];

	*addr_ok = 0;
	memset(on, 0, MAX_SERVERS * sizeof(*on));
	for (k = 0; k < n; k++) {
		order[k] = -1;
		cfd = client_connect(to, 0);
		sfd = cfd < 0 ? -1 : server_accept(&which);
		if (sfd < 0) {
			if (cfd >= 0)
				close(cfd);
			continue;
		}
		order[k] = which;
		on[which]++;
		snprintf(line, sizeof(line), "hello %d\n", k);
		good += echo(cfd, sfd, which, line);
		*addr_ok += addressed(cfd, sfd, which, to);
		hang_up(cfd, sfd);
	}
	return good;
}

static void diag_order(const int *order, int n)
{
	char buf[64] = "";
	int k;

	for (k = 0; k < n; k++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " %d",
			 order[k] + 1);
	tap_diag("servers in turn:%s", buf);
}

/* --- the checks ---------------------------------------------------------- */

static void check_live(void)
{
	uint64_t deadline = now_us() + 2 * WAIT_MS * 1000ULL;
	struct message m;
	bool all = false;

	while (!all && now_us() < deadline &&
	       wait_msg(TCPMIG_MSG_LOAD, 0, &m, WAIT_MS, NULL, NULL))
		all = ntohl(m.body.load.servers) == (__u32)nsrv;
	tap_result(all, "the %d servers are live once they register "
		   "(a LOAD counts them)", nsrv);
}

static void check_placement(void)
{
	int on[MAX_SERVERS], order[8], good, addr_ok, k;
	bool turn = true;

	good = connections(&vip_sa, 8, on, order, &addr_ok);
	for (k = 0; k < 8; k++)
		turn &= order[k] >= 0 &&
			order[k] == (order[0] + k) % nsrv;
	if (!tap_result(turn, "8 connections to the service are placed "
			"round-robin"))
		diag_order(order, 8);
	tap_result(good == 8, "their lines come back intact through the "
		   "rewrites (%d of 8)", good);
	tap_result(addr_ok == 8, "each end sees the other as it addressed it");

	good = connections(&srv[1].tcp, 1, on, order, &addr_ok);
	tap_result(good == 1 && addr_ok == 1 && on[1] == 1,
		   "a connection to a server's own address reaches it as is");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* LOADs to the first server, while a connection sends it a trickle. */
static void check_loads(void)
{
	static uint64_t t[LOADS], gap[LOADS - 1];
	int cfd, sfd = -1, which = -1, n, i;
	bool named = true, load_seen = false;
	uint64_t next = 0, deadline = now_us() + 10 * WAIT_MS * 1000ULL;
	struct message m;
	char junk[256];

	cfd = client_connect(&srv[0].tcp, 0);
	if (cfd >= 0)
		sfd = server_accept(&which);
	flush();
	for (n = 0; n < LOADS && sfd >= 0; ) {
		if (now_us() >= next) {
			send(cfd, "x", 1, MSG_DONTWAIT);
			recv(sfd, junk, sizeof(junk), MSG_DONTWAIT);
			next = now_us() + 2000;
		}
		if (!wait_msg(TCPMIG_MSG_LOAD, 0, &m, 2, NULL, &t[n]))
			continue;
		named &= ep_eq(m.h.target, srv[0].ep) &&
			 ntohl(m.body.load.servers) == (__u32)nsrv &&
			 be64toh(m.body.load.pool_pps) >=
			 be64toh(m.body.load.server_pps) &&
			 ntohl(m.body.load.period_us) > 0;
		load_seen |= be64toh(m.body.load.server_pps) > 0;
		n++;
		if (now_us() > deadline)
			break;
	}
	if (cfd >= 0 && sfd >= 0)
		hang_up(cfd, sfd);
	else if (cfd >= 0)
		close(cfd);

	for (i = 1; i < n; i++)
		gap[i - 1] = t[i] - t[i - 1];
	qsort(gap, n > 1 ? n - 1 : 0, sizeof(gap[0]), cmp_u64);
	i = n > 1 ? (n - 1) / 2 : 0;
	tap_result(n == LOADS && gap[i] >= 500 && gap[i] <= 2500,
		   "%d LOADs come every millisecond (median gap %llu us)", n,
		   (unsigned long long)gap[i]);
	tap_result(n == LOADS && named, "they name the server, count the "
		   "members, and the pool's load is at least the server's");
	tap_result(load_seen, "... and show the packets sent to the server");
}

/* A raw socket's next TCP segment from @from carrying @payload. */
static bool seen_segment(int raw, struct tcpmig_endpoint from,
			 struct tcpmig_endpoint to, const char *payload)
{
	uint64_t deadline = now_us() + WAIT_MS * 1000ULL;
	unsigned char pkt[1500];
	struct iphdr *ip = (struct iphdr *)pkt;
	struct tcphdr *th;
	size_t hl, len = strlen(payload);
	ssize_t n;

	while (now_us() < deadline && wait_fd(raw, WAIT_MS)) {
		n = recv(raw, pkt, sizeof(pkt), 0);
		if (n < (ssize_t)sizeof(*ip))
			continue;
		hl = ip->ihl * 4;
		th = (struct tcphdr *)(pkt + hl);
		if ((size_t)n < hl + sizeof(*th) + len ||
		    ip->saddr != from.addr || th->source != from.port ||
		    ip->daddr != to.addr || th->dest != to.port)
			continue;
		if (!memcmp(pkt + hl + th->doff * 4, payload, len))
			return true;
	}
	return false;
}

/*
 * A connection from the client's @port to the service, in @cfd, accepted
 * by server @o in @sfd, which passed a line both ways; the client's
 * endpoint in @client.  False if any of it failed; the descriptors
 * opened are the caller's to close.
 */
static bool service_connection(__u16 port, int *cfd, int *sfd, int *o,
			       struct tcpmig_endpoint *client)
{
	struct sockaddr_in local;
	socklen_t len = sizeof(local);

	*sfd = -1;
	*cfd = client_connect(&vip_sa, port);
	if (*cfd >= 0)
		*sfd = server_accept(o);
	if (*sfd < 0 || !echo(*cfd, *sfd, *o, "hello\n") ||
	    getsockname(*cfd, (struct sockaddr *)&local, &len))
		return false;
	*client = ep_of(&local);
	return true;
}

/*
 * A connection to the service, migrated by hand: its server sends the
 * switch a PREPARE, the server it goes to answers PREPARE-ACK, and the
 * switch redirects the client's next segment there.  That server holds no
 * such connection and resets it: the client takes the reset for its own,
 * so it came from the service address.
 */
static void check_migration(void)
{
	struct tcpmig_endpoint client, none = { 0 };
	int cfd, sfd, o = -1, t = -1, raw = -1, i;
	struct message m;
	bool ok;
	char c;

	if (!service_connection(MIGRATED_PORT, &cfd, &sfd, &o, &client)) {
		for (i = 0; i < 5; i++)
			tap_result(false, "migration: a connection to migrate");
		goto out;
	}
	tap_diag("migrating %s's connection", srv[o].name);

	flush();
	send_msg(&srv[o], &switch_sa, TCPMIG_MSG_PREPARE, client, srv[o].ep,
		 none);
	if (!wait_msg(TCPMIG_MSG_PREPARE, -1, &m, WAIT_MS, &t, NULL))
		t = -1;
	tap_result(t >= 0 && t != o && ep_eq(m.h.target, srv[t].ep) &&
		   ep_eq(m.h.origin, srv[o].ep) && ep_eq(m.h.client, client) &&
		   ntohl(m.h.migration_id) == 42,
		   "PREPARE to the switch goes on to a target it fills in");
	if (t < 0)
		t = (o + 1) % nsrv;
	tap_diag("target %s", srv[t].name);

	send_msg(&srv[t], &srv[o].mig, TCPMIG_MSG_PREPARE_ACK, client,
		 srv[o].ep, srv[t].ep);
	tap_result(wait_msg(TCPMIG_MSG_PREPARE_ACK, o, &m, WAIT_MS, NULL,
			    NULL) && ep_eq(m.h.target, srv[t].ep),
		   "PREPARE-ACK goes on to the origin");

	raw = ns_socket(srv[t].ns, SOCK_RAW, IPPROTO_TCP);
	ok = raw >= 0 && send(cfd, "moved\n", 6, 0) == 6 &&
	     seen_segment(raw, client, srv[t].ep, "moved\n");
	tap_result(ok, "the client's next segment goes to the target");
	tap_result(recv(sfd, &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN,
		   "... and not to the origin");
	tap_result(recv(cfd, &c, 1, 0) < 0 && errno == ECONNRESET,
		   "the target's reset reaches the client as the service's");
out:
	if (raw >= 0)
		close(raw);
	if (sfd >= 0)
		close(sfd);
	if (cfd >= 0)
		close(cfd);
}

/*
 * A connection from the client's port @port to server @d's own address,
 * with another from that port to the service: it passes a line both ways,
 * each end addressed as it addressed the other, and is hung up.
 */
static bool direct_beside(int d, __u16 port)
{
	struct sockaddr_in to = sockaddr_of(srv[d].ep.addr, srv[d].ep.port);
	int cfd, sfd = -1, which = -1;
	bool ok;

	cfd = client_connect(&to, port);
	if (cfd >= 0)
		sfd = server_accept(&which);
	ok = sfd >= 0 && which == d && echo(cfd, sfd, d, "direct\n") &&
	     addressed(cfd, sfd, d, &to);
	if (sfd >= 0)
		hang_up(cfd, sfd);
	else if (cfd >= 0)
		close(cfd);
	return ok;
}

/*
 * Linux gives a client one port for connections to different addresses:
 * the switch's entries, keyed by the client's endpoint, must not take
 * the segments of the client's connection to a server's own address for
 * those of its connection to the service, placed or migrated elsewhere.
 */
static void check_shared_endpoint(void)
{
	struct tcpmig_endpoint client;
	int cfd, sfd, o = -1, t, i;
	struct message m;

	if (!service_connection(SHARED_PORT, &cfd, &sfd, &o, &client)) {
		for (i = 0; i < 2; i++)
			tap_result(false, "shared port: a connection to the "
					  "service");
		goto out;
	}
	t = (o + 1) % nsrv;
	tap_result(direct_beside((o + 2) % nsrv, SHARED_PORT) &&
		   echo(cfd, sfd, o, "service again\n"),
		   "shared port: a connection to another server's own "
		   "address is its own, beside the service's, placed");

	flush();
	send_msg(&srv[t], &srv[o].mig, TCPMIG_MSG_PREPARE_ACK, client,
		 srv[o].ep, srv[t].ep);
	tap_result(wait_msg(TCPMIG_MSG_PREPARE_ACK, o, &m, WAIT_MS, NULL,
			    NULL) &&
		   direct_beside((o + 3) % nsrv, SHARED_PORT),
		   "shared port: ... and once that one migrated");
out:
	if (sfd >= 0)
		close(sfd);
	if (cfd >= 0)
		close(cfd);
}

/* Waits until the agent has run a period since now: two LOADs to @id. */
static void agent_period(int id)
{
	struct message m;

	flush();
	wait_msg(TCPMIG_MSG_LOAD, id, &m, WAIT_MS, NULL, NULL);
	wait_msg(TCPMIG_MSG_LOAD, id, &m, WAIT_MS, NULL, NULL);
}

/* Server @id gets no LOAD for 300 ms, within the wait. */
static bool loads_stop(int id)
{
	uint64_t deadline = now_us() + 2 * WAIT_MS * 1000ULL;
	struct message m;

	while (now_us() < deadline)
		if (!wait_msg(TCPMIG_MSG_LOAD, id, &m, 300, NULL, NULL))
			return true;
	return false;
}

/* The second server drains, the fourth dies (no more heartbeats). */
static void check_pool_changes(void)
{
	struct tcpmig_endpoint none = { 0 };
	int on[MAX_SERVERS], order[6], good, addr_ok, got = 0, others = 0;
	int which;
	struct message m;

	srv[1].flags = TCPMIG_REGISTER_F_DRAINING;
	send_register(&srv[1]);
	agent_period(0);
	good = connections(&vip_sa, 6, on, order, &addr_ok);
	if (!tap_result(good == 6 && !on[1] && on[0] == 2 && on[2] == 2 &&
			on[3] == 2, "new connections skip a draining server, "
			"the others taking even turns"))
		diag_order(order, 6);

	srv[3].stopped = true;
	tap_result(loads_stop(3),
		   "a server whose heartbeats stop gets no more LOADs");
	good = connections(&vip_sa, 2, on, order, &addr_ok);
	if (!tap_result(good == 2 && on[0] == 1 && on[2] == 1,
			"new connections skip a dead server"))
		diag_order(order, 2);

	flush();
	send_msg(&srv[0], &switch_sa, TCPMIG_MSG_PREPARE, none, srv[0].ep,
		 none);
	send_msg(&srv[0], &switch_sa, TCPMIG_MSG_PREPARE, none, srv[0].ep,
		 none);
	while (got + others < 2 &&
	       wait_msg(TCPMIG_MSG_PREPARE, -1, &m, WAIT_MS, &which, NULL)) {
		got += which == 2;
		others += which != 2;
	}
	tap_result(got == 2 && !others,
		   "PREPAREs skip the origin, draining and dead servers");
}

/* --- setup --------------------------------------------------------------- */

static int add_server(const char *arg)
{
	struct server *s = &srv[nsrv];
	char ns[128];
	const char *eq = strchr(arg, '=');

	if (nsrv == MAX_SERVERS || !eq || eq - arg >= (int)sizeof(ns) ||
	    capymig_wire_endpoint_parse(eq + 1, 0, &s->ep))
		return -1;
	memcpy(ns, arg, eq - arg);
	ns[eq - arg] = '\0';
	s->ns = netns_open(ns);
	if (s->ns < 0)
		return -1;
	snprintf(s->name, sizeof(s->name), "s%d", ++nsrv);
	s->tcp = sockaddr_of(s->ep.addr, s->ep.port);
	s->mig = sockaddr_of(s->ep.addr, htons(tcpmig_port));
	return 0;
}

static int open_server(struct server *s)
{
	int one = 1;

	s->listener = ns_socket(s->ns, SOCK_STREAM, 0);
	s->udp = ns_socket(s->ns, SOCK_DGRAM, 0);
	if (s->listener < 0 || s->udp < 0 ||
	    setsockopt(s->listener, SOL_SOCKET, SO_REUSEADDR, &one,
		       sizeof(one)) ||
	    setsockopt(s->udp, SOL_SOCKET, SO_TIMESTAMPNS, &one,
		       sizeof(one)) ||
	    bind(s->listener, (struct sockaddr *)&s->tcp, sizeof(s->tcp)) ||
	    listen(s->listener, 16) ||
	    bind(s->udp, (struct sockaddr *)&s->mig, sizeof(s->mig)))
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	struct tcpmig_endpoint addr;
	pthread_t thread;
	int opt, i, err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "c:v:a:p:")) != -1) {
		switch (opt) {
		case 'c':
			client_ns = netns_open(optarg);
			break;
		case 'v':
			capymig_wire_endpoint_parse(optarg, 0, &vip);
			break;
		case 'a':
			capymig_wire_endpoint_parse(optarg, 1, &addr);
			switch_sa = sockaddr_of(addr.addr, 0);
			break;
		case 'p':
			tcpmig_port = atoi(optarg);
			break;
		default:
			return KSFT_FAIL;
		}
	}
	switch_sa.sin_port = htons(tcpmig_port);
	vip_sa = sockaddr_of(vip.addr, vip.port);
	for (i = optind; i < argc; i++) {
		if (add_server(argv[i])) {
			printf("Bail out! bad server %s\n", argv[i]);
			return KSFT_FAIL;
		}
	}
	if (client_ns <= 0 || !vip.addr || !switch_sa.sin_addr.s_addr ||
	    !tcpmig_port || nsrv != MAX_SERVERS) {
		printf("Bail out! usage: switch_peers -c NS -v VIP:PORT "
		       "-a ADDR -p PORT NS=ADDR:PORT x4\n");
		return KSFT_FAIL;
	}
	for (i = 0; i < nsrv; i++) {
		err = open_server(&srv[i]);
		if (err) {
			printf("Bail out! server %s: %s\n", srv[i].name,
			       strerror(-err));
			return KSFT_FAIL;
		}
	}
	if (pthread_create(&thread, NULL, heartbeats, NULL)) {
		printf("Bail out! no heartbeat thread\n");
		return KSFT_FAIL;
	}

	check_live();
	check_placement();
	check_loads();
	check_migration();
	check_shared_endpoint();
	check_pool_changes();
	return tap_exit_code();
}
