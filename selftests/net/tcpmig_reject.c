// SPDX-License-Identifier: GPL-2.0
/*
 * tcpmig_reject: the ways a TCPMig migration through the switch does not
 * happen, and what each leaves behind.
 *
 *	tcpmig_reject -a VIP -p PORT -N NS_A,NS_B,NS_C,NS_D,NS_CLIENT,NS_SWITCH
 *
 * The switch topology of selftests/lib/switch_topology.sh: the client in
 * host 0, servers A to D at 10.10.1.2 to 10.10.4.2 behind the switch,
 * all in each other's pool.  A and B listen on PORT, C does not, D
 * listens but is made to vanish.  One connection to the service address
 * VIP, placed on A or B (its origin), carries a verified stream both ways
 * between the cases:
 *
 *  - to C: REJECT (NO_LISTENER), ECONNREFUSED;
 *  - to an address out of the pool: the switch's REJECT (NO_TARGET),
 *    EHOSTUNREACH;
 *  - to the other of A and B, which already has a connection with the
 *    tuple it would serve (its listener's own, from the client's address
 *    made local there): REJECT (TUPLE_EXISTS), EEXIST;
 *  - to D, whose link to the switch loses everything: a second MIGRATE of
 *    the connection meanwhile is refused (EBUSY), and the first fails by
 *    timeout (ETIMEDOUT) before the export, ABORT sent;
 *  - to the switch's choice, the PREPARE-ACKs lost before the switch: the
 *    PREPARE's copies and the ABORT go to the one server chosen for the
 *    first, which acknowledges the ABORT (FAILED, ETIMEDOUT, and the next
 *    MIGRATE taken at once);
 *  - to the switch's choice, the PREPARE delayed past two copies: one
 *    server takes them all, migrated; then back, named;
 *  - to the other of A and B, named, C answering for it first: C's
 *    PREPARE-ACK and REJECT ignored, migrated to the one named;
 *  - to D, which answers PREPARE-ACK, then drops all it is sent (the
 *    CONN-STATE among it): the origin exports, and reports the migration
 *    FAILED by timeout; the connection is lost, and nobody resets it.
 *
 * A REJECT must come at once, not at the migration's deadline.  After
 * each of the first four the connection must be untouched on its
 * origin: still served there, no export counted, the stream intact.  The
 * events the origin's module announced are those its library caller got
 * (REJECTED or FAILED, with the error); the script checks them again as
 * capyctl monitor printed them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcpmig.h"
#include "../lib/args.h"
#include "../lib/migrate.h"
#include "../lib/netns.h"
#include "../lib/stream.h"
#include "../lib/tap.h"
#include "../lib/tcp_pair.h"
#include "../lib/tcp_counters.h"

enum { A, B, C, D, CLIENT, SWITCH, NAMESPACES };

#define SERVERS		4
#define EXCHANGE	65536
#define IO_TIMEOUT_MS	10000
/* The module's deadline for a migration, by default. */
#define DEADLINE_MS	1000
/* Past the origin's first two resends of a PREPARE (20 and 60 ms). */
#define PREPARE_DELAY_MS	150

static struct {
	const char *vip;
	int port;
	char *ns_names[NAMESPACES];
} opt;

static struct migrate_host host[SERVERS];
static int listener[SERVERS];
static int client_ns;

/* The connection, its two ends and how far each stream has got. */
static struct {
	int client, server;
	int origin;			/* the server that serves it */
	struct capymig_tuple tuple;	/* as the origin serves it */
	uint64_t up, down;		/* bytes client->server, back */
} conn;

static void usage(void)
{
	fprintf(stderr, "usage: tcpmig_reject -a VIP -p PORT "
			"-N NS_A,NS_B,NS_C,NS_D,NS_CLIENT,NS_SWITCH\n");
	exit(2);
}

static void die(const char *what)
{
	tap_result(0, "%s: %s", what, strerror(errno));
	exit(KSFT_FAIL);
}

static void sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd)) {
		errno = EIO;
		die(cmd);
	}
}

/* Server @i's address, as a TCPMig endpoint with opt.port. */
static struct tcpmig_endpoint endpoint(int i)
{
	struct tcpmig_endpoint ep = {
		.addr = htonl(10U << 24 | 10U << 16 | (i + 1) << 8 | 2),
		.port = htons(opt.port),
	};

	return ep;
}

static void set_nonblock(int fd)
{
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK))
		die("fcntl");
}

/* A socket of namespace @ns. */
static int socket_in(int ns, int type)
{
	int prev = netns_enter(ns), fd;

	if (prev < 0)
		die("enter namespace");
	fd = socket(AF_INET, type, 0);
	netns_leave(prev);
	if (fd < 0)
		die("socket");
	return fd;
}

static int listen_on(int i)
{
	struct tcpmig_endpoint ep = endpoint(i);
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = ep.port,
		.sin_addr.s_addr = ep.addr,
	};
	int fd = socket_in(host[i].netns, SOCK_STREAM);

	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, 8))
		die("listen");
	return fd;
}

static int accept_within(int listener, int ms)
{
	struct pollfd pfd = { .fd = listener, .events = POLLIN };

	if (poll(&pfd, 1, ms) != 1)
		return -1;
	return accept(listener, NULL, NULL);
}

/*
 * @len bytes of the stream each way between the connection's ends, every
 * one checked.  Returns 0, or -1 with a diagnostic.
 */
static int exchange(size_t len)
{
	uint64_t up_end = conn.up + len, down_end = conn.down + len;
	uint64_t up_rx = conn.up, down_rx = conn.down;
	uint8_t buf[16384];
	struct pollfd pfd[2];
	ssize_t n;

	pfd[0].fd = conn.client;
	pfd[1].fd = conn.server;
	while (up_rx < up_end || down_rx < down_end) {
		pfd[0].events = POLLIN | (conn.up < up_end ? POLLOUT : 0);
		pfd[1].events = POLLIN | (conn.down < down_end ? POLLOUT : 0);
		if (poll(pfd, 2, IO_TIMEOUT_MS) < 1) {
			tap_diag("the stream stalled (%llu/%llu B up, "
				 "%llu/%llu B down)",
				 (unsigned long long)up_rx,
				 (unsigned long long)up_end,
				 (unsigned long long)down_rx,
				 (unsigned long long)down_end);
			return -1;
		}
		if (pfd[0].revents & POLLOUT) {
			n = up_end - conn.up < sizeof(buf) ?
			    up_end - conn.up : sizeof(buf);
			stream_fill(1, conn.up, buf, n);
			n = send(conn.client, buf, n, MSG_NOSIGNAL);
			if (n > 0)
				conn.up += n;
		}
		if (pfd[1].revents & POLLOUT) {
			n = down_end - conn.down < sizeof(buf) ?
			    down_end - conn.down : sizeof(buf);
			stream_fill(2, conn.down, buf, n);
			n = send(conn.server, buf, n, MSG_NOSIGNAL);
			if (n > 0)
				conn.down += n;
		}
		if (pfd[1].revents & (POLLIN | POLLERR | POLLHUP)) {
			n = recv(conn.server, buf, sizeof(buf), 0);
			if (n <= 0 || stream_check(1, up_rx, buf, n) !=
				      (size_t)n) {
				tap_diag("server: %s", n < 0 ? strerror(errno) :
					 n ? "corrupt byte" : "end of stream");
				return -1;
			}
			up_rx += n;
		}
		if (pfd[0].revents & (POLLIN | POLLERR | POLLHUP)) {
			n = recv(conn.client, buf, sizeof(buf), 0);
			if (n <= 0 || stream_check(2, down_rx, buf, n) !=
				      (size_t)n) {
				tap_diag("client: %s", n < 0 ? strerror(errno) :
					 n ? "corrupt byte" : "end of stream");
				return -1;
			}
			down_rx += n;
		}
	}
	return 0;
}

static uint64_t stat_of(int i, enum tcpmig_stat stat)
{
	return migrate_host_stat(&host[i], stat);
}

/*
 * Runs a migration of the connection to @target (NULL: the switch's
 * choice) to its end, calling @during (if not NULL) after each of its
 * events.
 */
static int migrate_to(const struct tcpmig_endpoint *target,
		      struct migrate_switch *ms,
		      void (*during)(const struct migrate_switch *ms),
		      char *why)
{
	struct tcpmig_migrate_opts mo = { .target = target };
	int err;

	err = migrate_switch_start(ms, &host[conn.origin], &conn.tuple, &mo,
				   why);
	while (!err) {
		err = migrate_switch_poll(ms, -1, why);
		if (!err && during)
			during(ms);
	}
	return err < 0 ? err : 0;
}

/*
 * A migration to @target that must end REJECTED with @error, leaving the
 * connection serving on its origin, not exported; at once, not at the
 * migration's deadline.
 */
static void rejected(struct tcpmig_endpoint target, int error,
		     const char *what)
{
	uint64_t exports = stat_of(conn.origin, TCPMIG_STAT_EXPORTS);
	char why[MIGRATE_WHY_LEN] = "";
	struct migrate_switch ms;
	double start = now_ms();
	int err = migrate_to(&target, &ms, NULL, why);
	double took_ms = now_ms() - start;

	if (err) {
		tap_result(0, "%s: %s", what, why);
		return;
	}
	tap_result(ms.ended && ms.rejected && ms.result == -error &&
		   took_ms < DEADLINE_MS / 2,
		   "%s: REJECTED, %s, in %.1f ms (%s)", what, strerror(error),
		   took_ms, why);
	tap_result(stat_of(conn.origin, TCPMIG_STAT_EXPORTS) == exports &&
		   !exchange(EXCHANGE),
		   "%s: the connection stays on its origin, not exported, "
		   "and serves on", what);
}

/*
 * The target's listener has a connection with the tuple the migrated one
 * would have there: the client's address is made local to the target and
 * a connection from it made to the listener, from the client's port.
 */
static void tuple_exists(int target)
{
	struct sockaddr_in from = { .sin_family = AF_INET,
				    .sin_port = conn.tuple.remote_port,
				    .sin_addr.s_addr =
					conn.tuple.remote_addr[0] };
	struct tcpmig_endpoint ep = endpoint(target);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = ep.port,
				  .sin_addr.s_addr = ep.addr };
	int fd, served;
	char byte;

	sh("ip -n %s address add 10.10.0.2/32 dev lo", opt.ns_names[target]);
	fd = socket_in(host[target].netns, SOCK_STREAM);
	if (bind(fd, (struct sockaddr *)&from, sizeof(from)) ||
	    connect(fd, (struct sockaddr *)&to, sizeof(to)))
		die("the target's own connection");
	served = accept_within(listener[target], IO_TIMEOUT_MS);
	if (served < 0)
		die("accept the target's own connection");

	rejected(endpoint(target), EEXIST, "tuple exists on the target");

	/*
	 * The client end closes first: the end left in TIME_WAIT is not
	 * the tuple a later migration to the target would take.
	 */
	close(fd);
	if (recv(served, &byte, 1, 0) != 0)
		die("the target's own connection's end");
	close(served);
	sh("ip -n %s address del 10.10.0.2/32 dev lo", opt.ns_names[target]);
}

/*
 * D's link loses everything: the PREPARE gets no answer.  Meanwhile a
 * second MIGRATE of the connection is refused; the first fails by
 * timeout before any export.
 */
static void busy_then_vanished(void)
{
	uint64_t exports = stat_of(conn.origin, TCPMIG_STAT_EXPORTS);
	uint64_t failed = stat_of(conn.origin, TCPMIG_STAT_MIGRATIONS_FAILED);
	struct tcpmig_endpoint ep = endpoint(D);
	struct tcpmig_migrate_opts mo = { .target = &ep };
	char why[MIGRATE_WHY_LEN] = "";
	struct migrate_switch ms;
	uint32_t id;
	int err, busy;

	sh("tc -n %s qdisc add dev sw%d root netem loss 100%%",
	   opt.ns_names[SWITCH], D + 1);
	err = migrate_switch_start(&ms, &host[conn.origin], &conn.tuple, &mo,
				   why);
	if (err)
		die(why);
	busy = tcpmig_migrate(&host[conn.origin].nl, &conn.tuple, &ep, &id);
	tap_result(busy == -EBUSY,
		   "busy: a second MIGRATE of the connection in flight is "
		   "refused: %s (%s)", strerror(-busy),
		   host[conn.origin].nl.ext_msg);
	do
		err = migrate_switch_poll(&ms, -1, why);
	while (!err);
	tap_result(err == 1 && !ms.rejected && ms.result == -ETIMEDOUT &&
		   !(ms.seen & (1U << TCPMIG_EVENT_STATE_SENT)),
		   "target vanished before PREPARE-ACK: FAILED, %s, "
		   "before the export (%s)", strerror(ETIMEDOUT), why);
	sh("tc -n %s qdisc del dev sw%d root", opt.ns_names[SWITCH], D + 1);
	tap_result(stat_of(conn.origin, TCPMIG_STAT_EXPORTS) == exports &&
		   stat_of(conn.origin, TCPMIG_STAT_MIGRATIONS_FAILED) ==
		   failed + 1 && !exchange(EXCHANGE),
		   "... the connection stays on its origin, serving; the "
		   "failure is counted, no export");
}

/* A tc u32 filter of @ns's eth0 dropping TCPMig messages of @type. */
static void drop_tcpmig(const char *ns, const char *dir, int type)
{
	/* The type is the 4th byte after IPv4's and UDP's headers. */
	sh("tc -n %s filter add dev eth0 %s prio 1 protocol ip u32 "
	   "match ip protocol 17 0xff match ip dport %d 0xffff "
	   "match u8 %d 0xff at 31 action drop", ns, dir, TCPMIG_PORT_DEFAULT,
	   type);
}

/*
 * The target's PREPARE-ACKs never reach the origin, though the switch
 * installed the redirect as they passed; the origin's first ABORTs are
 * lost too.  The origin sends ABORT until the target acknowledges it:
 * the switch withdraws the redirect, the target lets go of what it held,
 * and the connection serves on its origin.  A redirect left in place
 * would take the client to a target whose hold expires, then to its
 * listener, which resets.
 */
static void aborts_lost(int target)
{
	struct tcpmig_endpoint to = endpoint(target);
	uint64_t exports = stat_of(conn.origin, TCPMIG_STAT_EXPORTS);
	uint64_t resent = stat_of(conn.origin, TCPMIG_STAT_MSG_RETRANSMITS);
	const char *ns = opt.ns_names[conn.origin];
	char why[MIGRATE_WHY_LEN] = "";
	struct migrate_switch ms;
	int err;

	sh("tc -n %s qdisc add dev eth0 clsact", ns);
	drop_tcpmig(ns, "ingress", TCPMIG_MSG_PREPARE_ACK);
	drop_tcpmig(ns, "egress", TCPMIG_MSG_ABORT);
	err = migrate_to(&to, &ms, NULL, why);
	tap_result(!err && ms.ended && ms.result == -ETIMEDOUT &&
		   !(ms.seen & (1U << TCPMIG_EVENT_PREPARE_ACKED)),
		   "PREPARE-ACKs lost after the switch: FAILED, %s, before "
		   "the export (%s)", strerror(ETIMEDOUT), why);
	/* Only an ABORT sent again from now on passes. */
	sh("tc -n %s qdisc del dev eth0 clsact", ns);
	tap_result(!exchange(EXCHANGE) &&
		   stat_of(conn.origin, TCPMIG_STAT_EXPORTS) == exports &&
		   stat_of(conn.origin, TCPMIG_STAT_MSG_RETRANSMITS) >
		   resent + 1,
		   "... and its first ABORTs: sent again until acknowledged, "
		   "the redirect withdrawn, the connection serves on its "
		   "origin (%llu messages sent again)",
		   (unsigned long long)(stat_of(conn.origin,
						TCPMIG_STAT_MSG_RETRANSMITS) -
					resent));
}

/* The connection, migrated to server @to, as its listener there gives it. */
static void moved_to(int to)
{
	int fd = accept_within(listener[to], IO_TIMEOUT_MS), err;

	if (fd < 0)
		die("accept the migrated connection");
	close(conn.server);
	conn.server = fd;
	conn.origin = to;
	set_nonblock(fd);
	err = capymig_tuple_from_fd(fd, &conn.tuple);
	if (err) {
		errno = -err;
		die("tuple");
	}
}

/*
 * migrate_to(), once the connection's last migration is over at its
 * origin: one refused by the switch while its PREPARE was being sent
 * again is withdrawn by ABORT, which refuses the next (EBUSY) until
 * acknowledged.  Tries for up to a migration's deadline.
 */
static int migrate_when_free(const struct tcpmig_endpoint *target,
			     struct migrate_switch *ms, char *why)
{
	double start = now_ms();
	int err;

	do
		err = migrate_to(target, ms, NULL, why);
	while (err == -EBUSY && now_ms() - start < DEADLINE_MS &&
	       !usleep(20000));
	return err;
}

/* Every server's events, to see which took a migration's PREPARE. */
static struct migrate_host watch[SERVERS];

static void watch_open(void)
{
	int i, err;

	for (i = 0; i < SERVERS; i++) {
		err = migrate_host_open(&watch[i], opt.ns_names[i]) ?:
		      tcpmig_join_events(&watch[i].nl);
		if (err) {
			errno = -err;
			die("events");
		}
	}
}

struct prepared_count {
	uint32_t id;
	int n;
};

static int count_prepared(const struct tcpmig_notification *ev, void *arg)
{
	struct prepared_count *pc = arg;

	pc->n += ev->type == TCPMIG_EVENT_PREPARED &&
		 ev->migration_id == pc->id;
	return 0;
}

/* The servers that announced taking migration @id's PREPARE, a bitmask. */
static int prepared_by(uint32_t id)
{
	int mask = 0, i, err;

	for (i = 0; i < SERVERS; i++) {
		struct prepared_count pc = { .id = id };

		err = tcpmig_read_events(&watch[i].nl, 0, count_prepared, &pc);
		if (err < 0) {
			errno = -err;
			die("events");
		}
		if (pc.n)
			mask |= 1 << i;
	}
	return mask;
}

static bool one_server(int mask)
{
	return mask && !(mask & (mask - 1));
}

/*
 * With no target named, the PREPARE-ACKs lost before the switch, which
 * installs no redirect: the origin sends PREPARE again until its
 * deadline, then ABORT naming no target.  The switch sends every copy,
 * and the ABORT, to the server it chose for the first, which
 * acknowledges the ABORT: the origin is free to migrate the connection
 * again at once, not after the target's hold would have expired (three
 * deadlines).  C listens: any server may take the migration.
 */
static void abort_to_chosen(void)
{
	struct tcpmig_endpoint outsider = endpoint(C);
	char why[MIGRATE_WHY_LEN] = "";
	struct migrate_switch ms;
	double start;
	int i, took, err;

	for (i = 0; i < SERVERS; i++) {
		if (i == conn.origin)
			continue;
		sh("tc -n %s qdisc add dev eth0 clsact", opt.ns_names[i]);
		drop_tcpmig(opt.ns_names[i], "egress", TCPMIG_MSG_PREPARE_ACK);
	}
	err = migrate_when_free(NULL, &ms, why);
	for (i = 0; i < SERVERS; i++)
		if (i != conn.origin)
			sh("tc -n %s qdisc del dev eth0 clsact",
			   opt.ns_names[i]);
	took = prepared_by(ms.id);
	tap_result(!err && ms.ended && !ms.rejected &&
		   ms.result == -ETIMEDOUT && one_server(took),
		   "PREPARE-ACKs lost before the switch, no target named: "
		   "every copy of the PREPARE taken by one server (0x%x), "
		   "FAILED, %s (%s)", took, strerror(ETIMEDOUT), why);

	/* A server out of the pool: the switch refuses it at once. */
	inet_pton(AF_INET, "10.10.9.2", &outsider.addr);
	start = now_ms();
	err = migrate_when_free(&outsider, &ms, why);
	tap_result(!err && ms.rejected && ms.result == -EHOSTUNREACH &&
		   !exchange(EXCHANGE),
		   "... its ABORT, naming no target, reached that server: "
		   "the next MIGRATE taken after %.0f ms, well before the "
		   "target's hold expired; the connection serves on (%s)",
		   now_ms() - start, why);
}

/*
 * With no target named, the origin's PREPARE delayed past its first two
 * copies: the switch sends every copy to the server it chose for the
 * first.  Sent elsewhere, they would leave a second hold behind (C
 * listens: every server takes a PREPARE), or draw a refusal that fails
 * the migration.  Then back to its origin, named.
 */
static void copies_to_one_target(void)
{
	uint64_t resent = stat_of(conn.origin, TCPMIG_STAT_MSG_RETRANSMITS);
	struct tcpmig_endpoint home = endpoint(conn.origin);
	const char *ns = opt.ns_names[conn.origin];
	char why[MIGRATE_WHY_LEN] = "";
	int err, took, copies, from = conn.origin;
	struct migrate_switch ms;

	sh("tc -n %s qdisc add dev eth0 root netem delay %dms", ns,
	   PREPARE_DELAY_MS);
	err = migrate_when_free(NULL, &ms, why);
	sh("tc -n %s qdisc del dev eth0 root", ns);
	copies = stat_of(conn.origin, TCPMIG_STAT_MSG_RETRANSMITS) - resent;
	took = prepared_by(ms.id);
	tap_result(!err && ms.ended && !ms.result && copies >= 2 &&
		   one_server(took) && !(took & 1 << from),
		   "a PREPARE naming no target, sent %d more times before an "
		   "answer came: one server took it (0x%x), migrated (%s)",
		   copies, took, why);
	if (!err && !ms.result && one_server(took)) {
		moved_to(ffs(took) - 1);
		err = migrate_to(&home, &ms, NULL, why);
		if (!err && !ms.result)
			moved_to(from);
	}
	tap_result(one_server(took) && !err && !ms.result &&
		   !exchange(EXCHANGE),
		   "... the connection streams on from there, and back on "
		   "%c (%s)", 'A' + from, why);
}

/*
 * A message of @ms's migration as server @from sends it, naming itself the
 * target, from its namespace to the origin's TCPMig port: through the
 * switch, like any between servers.  A REJECT says NO_LISTENER.
 */
static void send_as_target(int from, const struct migrate_switch *ms,
			   uint8_t type)
{
	struct {
		struct tcpmig_msg_hdr h;
		struct tcpmig_msg_reject r;
	} msg = {
		.h = {
			.magic = htons(TCPMIG_MSG_MAGIC),
			.version = TCPMIG_MSG_VERSION,
			.type = type,
			.migration_id = htonl(ms->id),
			.client = { .addr = conn.tuple.remote_addr[0],
				    .port = conn.tuple.remote_port },
			.origin = endpoint(conn.origin),
			.target = endpoint(from),
		},
		.r.reason = htonl(TCPMIG_REJECT_NO_LISTENER),
	};
	struct sockaddr_in to = {
		.sin_family = AF_INET,
		.sin_port = htons(TCPMIG_PORT_DEFAULT),
		.sin_addr.s_addr = endpoint(conn.origin).addr,
	};
	ssize_t len = tcpmig_msg_len(type);
	int fd = socket_in(host[from].netns, SOCK_DGRAM);

	if (sendto(fd, &msg, len, 0, (struct sockaddr *)&to,
		   sizeof(to)) != len)
		die("a message as if from a target");
	close(fd);
}

static bool stray_sent;

/*
 * Once the state is sent, a REJECT from C as if of the migration: what
 * reaches an origin whose PREPARE, sent again with no target named, the
 * switch sent to another server than the one that answered.
 */
static void stray_reject(const struct migrate_switch *ms)
{
	if (stray_sent || !(ms->seen & (1U << TCPMIG_EVENT_STATE_SENT)))
		return;
	send_as_target(C, ms, TCPMIG_MSG_REJECT);
	stray_sent = true;
}

static bool forged;

/* As the PREPARE leaves, C answers it: a PREPARE-ACK, then a REJECT. */
static void forge_answers(const struct migrate_switch *ms)
{
	if (forged || !(ms->seen & (1U << TCPMIG_EVENT_PREPARE_SENT)))
		return;
	send_as_target(C, ms, TCPMIG_MSG_PREPARE_ACK);
	send_as_target(C, ms, TCPMIG_MSG_REJECT);
	forged = true;
}

/*
 * A pool member answering for a migration named to another server,
 * knowing its id: C sends a PREPARE-ACK naming itself, and a REJECT, as
 * the PREPARE leaves, while the target's own answers are held back 200
 * ms.  The switch drops the PREPARE-ACK (the PREPARE went to the target
 * named), the origin the REJECT (not its target's): the migration goes
 * on to the target.  Taken, the PREPARE-ACK redirected the client to C,
 * and the target's became stale; the REJECT ended the migration, the
 * target's PREPARE-ACK then redirecting the client to a hold nobody
 * would import.
 */
static void answered_by_another(int target)
{
	struct tcpmig_endpoint to = endpoint(target);
	uint64_t spoofed = stat_of(conn.origin, TCPMIG_STAT_MSG_SPOOFED);
	const char *ns = opt.ns_names[target];
	char why[MIGRATE_WHY_LEN] = "";
	struct migrate_switch ms;
	int origin = conn.origin, err;

	sh("tc -n %s qdisc add dev eth0 root netem delay 200ms", ns);
	err = migrate_to(&to, &ms, forge_answers, why);
	sh("tc -n %s qdisc del dev eth0 root", ns);
	tap_result(!err && forged && ms.ended && !ms.result &&
		   stat_of(origin, TCPMIG_STAT_MSG_SPOOFED) > spoofed,
		   "C answering for a migration named to %c (a PREPARE-ACK "
		   "and a REJECT naming C): ignored, counted spoofed, the "
		   "migration done (%s)", 'A' + target, why);
	if (err || ms.result)
		return;
	moved_to(target);
	tap_result(!exchange(EXCHANGE), "... the connection streams on "
		   "from %c", 'A' + target);
}

/*
 * D answers the PREPARE, then drops everything it is sent: the origin
 * has exported, and can only report the connection lost.  Meanwhile
 * another server's REJECT is no word of D's.
 */
static void vanished_after_export(void)
{
	struct tcpmig_endpoint d = endpoint(D);
	uint64_t exports = stat_of(conn.origin, TCPMIG_STAT_EXPORTS);
	uint64_t failed = stat_of(conn.origin, TCPMIG_STAT_MIGRATIONS_FAILED);
	uint64_t spoofed = stat_of(conn.origin, TCPMIG_STAT_MSG_SPOOFED);
	char why[MIGRATE_WHY_LEN] = "";
	struct migrate_switch ms;
	char byte;
	int err;

	/* TCPMig's short messages pass; a CONN-STATE fragment, no TCP. */
	sh("tc -n %s qdisc add dev eth0 ingress && "
	   "tc -n %s filter add dev eth0 ingress prio 1 protocol ip u32 "
	   "match ip protocol 17 0xff match ip dport %d 0xffff "
	   "match u16 0 0xff00 at 2 action ok && "
	   "tc -n %s filter add dev eth0 ingress prio 2 protocol ip "
	   "matchall action drop", opt.ns_names[D], opt.ns_names[D],
	   TCPMIG_PORT_DEFAULT, opt.ns_names[D]);
	err = migrate_to(&d, &ms, stray_reject, why);
	tap_result(!err && ms.ended && !ms.rejected &&
		   ms.result == -ETIMEDOUT &&
		   (ms.seen & (1U << TCPMIG_EVENT_PREPARE_ACKED)) &&
		   (ms.seen & (1U << TCPMIG_EVENT_STATE_SENT)),
		   "target vanished after PREPARE-ACK: exported, CONN-STATE "
		   "sent, then FAILED, %s (%s)", strerror(ETIMEDOUT), why);
	tap_result(stray_sent &&
		   stat_of(conn.origin, TCPMIG_STAT_MSG_SPOOFED) > spoofed,
		   "... another server's REJECT meanwhile is counted "
		   "spoofed, not taken for the target's");
	tap_result(stat_of(conn.origin, TCPMIG_STAT_EXPORTS) == exports + 1 &&
		   stat_of(conn.origin, TCPMIG_STAT_MIGRATIONS_FAILED) ==
		   failed + 1 &&
		   recv(conn.server, &byte, 1, MSG_DONTWAIT) < 0 &&
		   errno == ECONNABORTED,
		   "... the origin counts the export and the failure, its "
		   "application lost the connection");
}

int main(int argc, char **argv)
{
	struct tcp_counters before[NAMESPACES - 1], after;
	int i, prev, c, err;
	uint64_t resets = 0;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct tcpmig_endpoint outsider;
	const struct topology_opts topology = {
		.vip = &opt.vip, .port = &opt.port,
		.ns_names = opt.ns_names, .namespaces = NAMESPACES,
	};

	while ((c = getopt(argc, argv, "a:p:N:")) != -1)
		if (topology_opt(&topology, c, optarg) != 1)
			usage();
	if (!opt.vip || !opt.port || !opt.ns_names[0] ||
	    inet_pton(AF_INET, opt.vip, &sin.sin_addr) != 1)
		usage();
	sin.sin_port = htons(opt.port);
	/* Its 22 points are the script's first: the script has the plan. */

	for (i = 0; i < SERVERS; i++) {
		err = migrate_host_open(&host[i], opt.ns_names[i]);
		if (err) {
			errno = -err;
			die(opt.ns_names[i]);
		}
	}
	client_ns = netns_open(opt.ns_names[CLIENT]);
	if (client_ns < 0)
		die(opt.ns_names[CLIENT]);
	for (i = 0; i < NAMESPACES - 1; i++) {
		prev = netns_enter(i == CLIENT ? client_ns : host[i].netns);
		if (prev < 0 || tcp_counters_read(&before[i]))
			die("TCP counters");
		netns_leave(prev);
	}

	listener[A] = listen_on(A);
	listener[B] = listen_on(B);
	/* D listens: only its vanishing refuses. */
	listener[C] = -1;
	listener[D] = listen_on(D);
	conn.client = socket_in(client_ns, SOCK_STREAM);
	if (connect(conn.client, (struct sockaddr *)&sin, sizeof(sin)))
		die("connect");
	for (conn.origin = A; conn.origin <= B; conn.origin++) {
		conn.server = accept_within(listener[conn.origin], 2000);
		if (conn.server >= 0)
			break;
	}
	if (conn.server < 0)
		die("the switch placed the connection on neither A nor B");
	set_nonblock(conn.client);
	set_nonblock(conn.server);
	err = capymig_tuple_from_fd(conn.server, &conn.tuple);
	if (err) {
		errno = -err;
		die("tuple");
	}
	tap_result(!exchange(EXCHANGE), "a connection through the switch, "
		   "on %c, streams both ways", 'A' + conn.origin);

	rejected(endpoint(C), ECONNREFUSED, "no listener on the target");
	/* C's endpoint, at an address out of the pool. */
	outsider = endpoint(C);
	inet_pton(AF_INET, "10.10.9.2", &outsider.addr);
	rejected(outsider, EHOSTUNREACH,
		 "a target out of the pool, refused by the switch");
	tuple_exists(conn.origin == A ? B : A);
	busy_then_vanished();
	aborts_lost(conn.origin == A ? B : A);
	listener[C] = listen_on(C);
	watch_open();
	abort_to_chosen();
	copies_to_one_target();
	close(listener[C]);
	answered_by_another(conn.origin == A ? B : A);
	vanished_after_export();

	for (i = 0; i < NAMESPACES - 1; i++) {
		prev = netns_enter(i == CLIENT ? client_ns : host[i].netns);
		if (prev < 0 || tcp_counters_read(&after))
			die("TCP counters");
		netns_leave(prev);
		resets += tcp_counters_resets(&before[i], &after);
	}
	tap_result(!resets, "no reset sent by the client or any server "
		   "(%llu)", (unsigned long long)resets);
	return tap_exit_code();
}
