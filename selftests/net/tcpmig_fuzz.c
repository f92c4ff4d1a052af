// SPDX-License-Identifier: GPL-2.0
/*
 * tcpmig_fuzz: malformed and spoofed TCPMig against a server's module.
 *
 *	tcpmig_fuzz capture -N NS_A,NS_B,NS_CLIENT -a VIP -p PORT -o FILE
 *	tcpmig_fuzz fuzz -N NS_A,NS_B,NS_CLIENT -p PORT -i FILE
 *		    [-s SEED] [-n MUTANTS]
 *
 * The switch topology of selftests/lib/switch_topology.sh, two servers:
 * A (10.10.1.2) and B (10.10.2.2), each in the other's pool, the client
 * (10.10.0.2) in neither.
 *
 * capture: a real migration of a connection to VIP:PORT, through the
 * switch, from the server it was placed on to the other, whose eth0 is
 * watched meanwhile: every TCPMig datagram it receives or sends is
 * written to FILE (a 16-bit length, host order, then the message).
 *
 * fuzz, with the switch's data plane gone (it would drop most of this on
 * its way): messages sent to B's module from ordinary UDP sockets, from
 * the client's namespace (not a member: every one dropped and counted
 * msg_not_member) and from A's (a member), each of which must be dropped
 * and counted as its defect says - malformed (magic, version, type,
 * lengths, padding, fragments off the grid, of the wrong size, beyond the
 * blob or with another total), unexpected (answers for migrations B
 * never started, fragments for ones it does not have), spoofed (naming
 * another server as their sender) - or, for a blob
 * that reassembles but is garbage, refused like any import.  A second
 * PREPARE for a connection B is already preparing must be refused BUSY,
 * a state beyond its reassembly budget STATE_NO_MEMORY.
 * Then MUTANTS deterministic random mutants (SEED) of the captured
 * messages: no crash (the harness watches the kernel log), and at least
 * every one whose magic or version was broken counted malformed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
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
#include "../lib/args.h"
#include "../lib/migrate.h"
#include "../lib/netns.h"
#include "../lib/tap.h"
#include "../lib/tcp_pair.h"

enum { A, B, CLIENT, NAMESPACES };

#define MSG_MAX		2048
#define MSGS_MAX	4096
/* Longest a counter may take to move: the module's worker is queued. */
#define SETTLE_MS	10000
#define HDR		sizeof(struct tcpmig_msg_hdr)
#define CS		sizeof(struct tcpmig_msg_conn_state)

static struct {
	const char *vip, *file;
	int port;
	uint64_t seed;
	int mutants;
	char *ns_names[NAMESPACES];
} opt = {
	.seed = 1,
	.mutants = 3000,
};

struct msg {
	uint16_t len;
	uint8_t data[MSG_MAX];
};

static struct msg msgs[MSGS_MAX];
static int nmsgs;

static void usage(void)
{
	fprintf(stderr, "usage: tcpmig_fuzz capture -N NS_A,NS_B,NS_CLIENT "
			"-a VIP -p PORT -o FILE\n"
			"       tcpmig_fuzz fuzz -N NS_A,NS_B,NS_CLIENT -p PORT "
			"-i FILE [-s SEED] [-n MUTANTS]\n");
	exit(2);
}

static __attribute__((noreturn)) void die(const char *what)
{
	tap_result(0, "%s: %s", what, strerror(errno));
	exit(KSFT_FAIL);
}

static int in_ns(const char *name, int domain, int type, int proto)
{
	int ns = netns_open(name), prev, fd;

	if (ns < 0)
		die(name);
	prev = netns_enter(ns);
	if (prev < 0)
		die("enter namespace");
	fd = socket(domain, type, proto);
	netns_leave(prev);
	close(ns);
	if (fd < 0)
		die("socket");
	return fd;
}

static struct sockaddr_in server_addr(int i, int port)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(0x0a0a0002 | (i + 1) << 8),
	};

	return sin;
}

/*
 * A packet socket on @ns's eth0, seeing what it receives and sends (only
 * ETH_P_ALL taps see what is sent): the TCPMig datagrams among it are
 * read with next_tcpmig().
 */
static int watch(const char *ns)
{
	int fd = in_ns(ns, AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL));
	int rcvbuf = 16 << 20, prev, nsfd = netns_open(ns);
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
	};

	prev = netns_enter(nsfd);
	sll.sll_ifindex = if_nametoindex("eth0");
	netns_leave(prev);
	close(nsfd);
	if (!sll.sll_ifindex ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)))
		die("packet socket");
	return fd;
}

static bool pool_traffic(const void *data, ssize_t len)
{
	const struct tcpmig_msg_hdr *h = data;

	return len >= (ssize_t)HDR && (h->type == TCPMIG_MSG_REGISTER ||
				       h->type == TCPMIG_MSG_LOAD);
}

/*
 * The next TCPMig message of a migration @fd saw within @ms, into @m;
 * *@outgoing says whether the host sent it.  The pool's own traffic
 * (REGISTER heartbeats, the switch's LOAD) never stops and is skipped.
 * Returns 0 or -1 when none came.
 */
static int next_tcpmig(int fd, int ms, struct msg *m, bool *outgoing)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	double end = now_ms() + ms;
	uint8_t pkt[65536];
	struct sockaddr_ll sll;
	socklen_t sl;
	struct iphdr *ip = (void *)pkt;
	struct udphdr *udp;
	int left = ms;
	ssize_t n;

	/* Within @ms in all: the pool's traffic would keep a poll() going. */
	while (left > 0 && poll(&pfd, 1, left) == 1) {
		left = end - now_ms();
		sl = sizeof(sll);
		n = recvfrom(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&sll,
			     &sl);
		if (sll.sll_protocol != htons(ETH_P_IP) ||
		    n < (ssize_t)sizeof(*ip) || ip->protocol != IPPROTO_UDP ||
		    n < ip->ihl * 4 + (ssize_t)sizeof(*udp))
			continue;
		udp = (void *)(pkt + ip->ihl * 4);
		if (udp->dest != htons(TCPMIG_PORT_DEFAULT) &&
		    udp->source != htons(TCPMIG_PORT_DEFAULT))
			continue;
		n -= ip->ihl * 4 + sizeof(*udp);
		if (n > MSG_MAX || pool_traffic(udp + 1, n))
			continue;
		m->len = n;
		memcpy(m->data, udp + 1, n);
		*outgoing = sll.sll_pkttype == PACKET_OUTGOING;
		return 0;
	}
	return -1;
}

static const struct tcpmig_msg_hdr *hdr_of(const struct msg *m)
{
	return (const void *)m->data;
}

/* The connection next in @listener's queue, and its tuple. */
static int accept_tuple(int listener, struct capymig_tuple *t)
{
	int fd = accept(listener, NULL, NULL);

	if (fd < 0 || capymig_tuple_from_fd(fd, t))
		die("accept");
	return fd;
}

/* Migrates @t from @from to server @to through the switch. */
static int migrate_to(struct migrate_host *from, const struct capymig_tuple *t,
		      int to, char *why)
{
	struct tcpmig_endpoint ep = {
		.addr = server_addr(to, 0).sin_addr.s_addr,
		.port = htons(opt.port),
	};

	return migrate_via_switch(from, t,
				  &(struct tcpmig_migrate_opts){ .target = &ep },
				  why);
}

static int capture(void)
{
	struct migrate_host host[2];
	struct sockaddr_in vip = { .sin_family = AF_INET,
				   .sin_port = htons(opt.port) };
	int listener[2], client, served, origin, pfd, i, err;
	struct capymig_tuple t;
	char why[MIGRATE_WHY_LEN];
	unsigned int types = 0;
	bool out;
	FILE *f;

	tap_plan(2);
	inet_pton(AF_INET, opt.vip, &vip.sin_addr);
	for (i = A; i <= B; i++) {
		struct sockaddr_in sin = server_addr(i, opt.port);

		err = migrate_host_open(&host[i], opt.ns_names[i]);
		if (err) {
			errno = -err;
			die(opt.ns_names[i]);
		}
		listener[i] = in_ns(opt.ns_names[i], AF_INET, SOCK_STREAM, 0);
		if (bind(listener[i], (struct sockaddr *)&sin, sizeof(sin)) ||
		    listen(listener[i], 4))
			die("listen");
	}
	client = in_ns(opt.ns_names[CLIENT], AF_INET, SOCK_STREAM, 0);
	if (connect(client, (struct sockaddr *)&vip, sizeof(vip)))
		die("connect");
	for (origin = A; origin <= B; origin++) {
		struct pollfd p = { .fd = listener[origin], .events = POLLIN };

		if (poll(&p, 1, 2000) == 1)
			break;
	}
	if (origin > B)
		die("accept");
	served = accept_tuple(listener[origin], &t);
	/*
	 * The fuzz plays A's part towards B: what is captured is a
	 * migration from A to B, wherever the switch placed the connection.
	 */
	if (origin == B) {
		err = migrate_to(&host[B], &t, A, why);
		if (err)
			die(why);
		close(served);
		served = accept_tuple(listener[A], &t);
	}
	/* Some state to carry: bytes not read yet. */
	if (send(client, "capymig", 7, 0) != 7)
		die("send");

	pfd = watch(opt.ns_names[B]);
	err = migrate_to(&host[A], &t, B, why);
	tap_result(!err, "a real migration, A to B: %s",
		   err ? why : "migrated");

	f = fopen(opt.file, "w");
	if (!f)
		die(opt.file);
	while (nmsgs < MSGS_MAX && !next_tcpmig(pfd, 500, &msgs[nmsgs], &out)) {
		types |= 1U << (hdr_of(&msgs[nmsgs])->type & 31);
		fwrite(&msgs[nmsgs].len, sizeof(msgs[nmsgs].len), 1, f);
		fwrite(msgs[nmsgs].data, msgs[nmsgs].len, 1, f);
		nmsgs++;
	}
	if (fclose(f))
		die(opt.file);
	tap_result((types & 0x1e) == 0x1e,
		   "captured %d messages of it, PREPARE, PREPARE-ACK, "
		   "CONN-STATE and CONN-STATE-ACK among them", nmsgs);
	return tap_exit_code();
}

/* Fuzzing */

static struct migrate_host target;	/* B */
static int member, outsider, replies;
static struct sockaddr_in to_b;

static uint64_t stat_now(enum tcpmig_stat stat)
{
	return migrate_host_stat(&target, stat);
}

static void send_to_b(int fd, const void *buf, size_t len)
{
	if (sendto(fd, buf, len, 0, (struct sockaddr *)&to_b,
		   sizeof(to_b)) != (ssize_t)len)
		die("sendto");
}

/* Waits for B's counter @stat to reach @want; returns what it is. */
static uint64_t stat_wait(enum tcpmig_stat stat, uint64_t want)
{
	struct timespec ts = { .tv_nsec = 5 * 1000 * 1000 };
	uint64_t v;
	int waited;

	for (waited = 0; (v = stat_now(stat)) < want && waited < SETTLE_MS;
	     waited += 5)
		nanosleep(&ts, NULL);
	return v;
}

/*
 * Sends @len bytes of @buf from @fd: B must count exactly one more
 * @stat, and nothing else among the messages' counters.
 */
static void expect(const char *what, int fd, const void *buf, size_t len,
		   enum tcpmig_stat stat)
{
	static const enum tcpmig_stat counted[] = {
		TCPMIG_STAT_MSG_NOT_MEMBER, TCPMIG_STAT_MSG_MALFORMED,
		TCPMIG_STAT_MSG_UNEXPECTED, TCPMIG_STAT_IMPORTS_REFUSED,
		TCPMIG_STAT_MSG_SPOOFED,
	};
	const int n = sizeof(counted) / sizeof(counted[0]);
	uint64_t before[n], got;
	bool others = false;
	int i;

	for (i = 0; i < n; i++)
		before[i] = stat_now(counted[i]);
	send_to_b(fd, buf, len);
	for (i = 0; i < n && counted[i] != stat; i++)
		;
	got = stat_wait(stat, before[i] + 1) - before[i];
	for (i = 0; i < n; i++)
		if (counted[i] != stat && stat_now(counted[i]) != before[i])
			others = true;
	tap_result(got == 1 && !others, "%s: dropped, counted %s (%llu)%s",
		   what, tcpmig_stat_name(stat), (unsigned long long)got,
		   others ? ", and something else" : "");
}

/* The captured message of @type, as B received it. */
static const struct msg *captured(uint8_t type)
{
	int i;

	for (i = 0; i < nmsgs; i++)
		if (hdr_of(&msgs[i])->type == type)
			return &msgs[i];
	errno = ENOENT;
	die("no such message captured");
}

/* A header of @type for migration @id from A of client port @port. */
static struct tcpmig_msg_hdr header(uint8_t type, uint32_t id, uint16_t port)
{
	struct tcpmig_msg_hdr h;

	memcpy(&h, captured(TCPMIG_MSG_PREPARE)->data, HDR);
	h.type = type;
	h.migration_id = htonl(id);
	h.client.port = htons(port);
	return h;
}

/*
 * @h as an answer A sends: A its target, B the origin of a migration of
 * B's (a member answers only for itself).
 */
static struct tcpmig_msg_hdr from_target(struct tcpmig_msg_hdr h)
{
	struct tcpmig_endpoint a = h.origin;

	h.origin = h.target;
	h.target = a;
	return h;
}

/* A CONN-STATE fragment: @len bytes at @off of a blob of @total. */
static size_t fragment(uint8_t *buf, uint32_t id, uint16_t port,
		       uint32_t off, uint32_t total, uint32_t len)
{
	struct tcpmig_msg_hdr h = header(TCPMIG_MSG_CONN_STATE, id, port);
	struct tcpmig_msg_conn_state cs = { htonl(off), htonl(total) };

	memcpy(buf, &h, HDR);
	memcpy(buf + HDR, &cs, CS);
	memset(buf + HDR + CS, 0xa5, len);
	return HDR + CS + len;
}

/* B's answer to migration @id within a few seconds: its type, or 0. */
static int answer(uint32_t id, uint32_t *reason)
{
	struct msg m;
	bool out;

	while (!next_tcpmig(replies, SETTLE_MS, &m, &out)) {
		if (!out || m.len < HDR ||
		    hdr_of(&m)->migration_id != htonl(id))
			continue;
		if (hdr_of(&m)->type == TCPMIG_MSG_REJECT && m.len >= HDR + 4)
			*reason = ntohl(*(uint32_t *)(m.data + HDR));
		return hdr_of(&m)->type;
	}
	return 0;
}

/* @h as a message of @type of migration @id from A: B's answer. */
static int ask(struct tcpmig_msg_hdr *h, uint8_t type, uint32_t id,
	       uint32_t *reason)
{
	h->type = type;
	h->migration_id = htonl(id);
	send_to_b(member, h, HDR);
	return answer(id, reason);
}

/* Each defect of the header and of the lengths, alone. */
static void malformed(void)
{
	const struct msg *prep = captured(TCPMIG_MSG_PREPARE);
	struct tcpmig_msg_hdr h;
	uint8_t buf[MSG_MAX + 64];
	static const uint8_t bad_types[] = { 0, TCPMIG_MSG_MAX + 1, 255 };
	static const char *const bad_names[] = {
		"type 0", "type beyond the last", "type 255",
	};
	unsigned int i;

	expect("a PREPARE from outside the pool", outsider, prep->data,
	       prep->len, TCPMIG_STAT_MSG_NOT_MEMBER);

	h = header(TCPMIG_MSG_PREPARE, 0x7e570001, 40001);
	h.magic ^= htons(1);
	expect("bad magic", member, &h, HDR, TCPMIG_STAT_MSG_MALFORMED);
	h = header(TCPMIG_MSG_PREPARE, 0x7e570001, 40001);
	h.version = TCPMIG_MSG_VERSION + 1;
	expect("bad version", member, &h, HDR, TCPMIG_STAT_MSG_MALFORMED);
	for (i = 0; i < sizeof(bad_types); i++) {
		h = header(bad_types[i], 0x7e570001, 40001);
		expect(bad_names[i], member, &h, HDR,
		       TCPMIG_STAT_MSG_MALFORMED);
	}
	h = header(TCPMIG_MSG_PREPARE, 0x7e570001, 40001);
	h.target.pad = htons(1);
	expect("padding not zero", member, &h, HDR, TCPMIG_STAT_MSG_MALFORMED);
	h = header(TCPMIG_MSG_PREPARE, 0x7e570001, 40001);
	memset(&h.target, 0, sizeof(h.target));
	expect("PREPARE without a target", member, &h, HDR,
	       TCPMIG_STAT_MSG_MALFORMED);
	expect("truncated header", member, prep->data, HDR - 1,
	       TCPMIG_STAT_MSG_MALFORMED);
	expect("empty datagram", member, prep->data, 0,
	       TCPMIG_STAT_MSG_MALFORMED);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, prep->data, HDR);
	expect("PREPARE with a body", member, buf, HDR + 4,
	       TCPMIG_STAT_MSG_MALFORMED);
	h = header(TCPMIG_MSG_REJECT, 0x7e570001, 40001);
	expect("REJECT without its reason", member, &h, HDR,
	       TCPMIG_STAT_MSG_MALFORMED);
	h = header(TCPMIG_MSG_CONN_STATE, 0x7e570001, 40001);
	expect("CONN-STATE without its offsets", member, &h, HDR + CS - 1,
	       TCPMIG_STAT_MSG_MALFORMED);
	expect("CONN-STATE of an empty blob", member, buf,
	       fragment(buf, 0x7e570001, 40001, 0, 0, 0),
	       TCPMIG_STAT_MSG_MALFORMED);
	expect("CONN-STATE of a blob beyond 64 MiB", member, buf,
	       fragment(buf, 0x7e570001, 40001, 0, TCPMIG_STATE_MAX + 1,
			TCPMIG_FRAG_SIZE), TCPMIG_STAT_MSG_MALFORMED);
	expect("CONN-STATE fragment longer than the grid's", member, buf,
	       fragment(buf, 0x7e570001, 40001, 0, 5000, TCPMIG_FRAG_SIZE + 1),
	       TCPMIG_STAT_MSG_MALFORMED);
	expect("CONN-STATE fragment off the grid (overlapping)", member, buf,
	       fragment(buf, 0x7e570001, 40001, 600, 5000, TCPMIG_FRAG_SIZE),
	       TCPMIG_STAT_MSG_MALFORMED);
	expect("CONN-STATE fragment beyond the blob", member, buf,
	       fragment(buf, 0x7e570001, 40001, 6000, 5000, TCPMIG_FRAG_SIZE),
	       TCPMIG_STAT_MSG_MALFORMED);
	expect("last CONN-STATE fragment of the wrong size", member, buf,
	       fragment(buf, 0x7e570001, 40001, 4800, 5000, 100),
	       TCPMIG_STAT_MSG_MALFORMED);
}

/* Answers and fragments of migrations B does not have. */
static void unexpected(void)
{
	static const struct {
		uint8_t type;
		bool answer;	/* sent by the target */
		const char *name;
	} msgs[] = {
		{ TCPMIG_MSG_PREPARE_ACK, true, "PREPARE-ACK" },
		{ TCPMIG_MSG_CONN_STATE_ACK, true, "CONN-STATE-ACK" },
		{ TCPMIG_MSG_REJECT, true, "REJECT" },
		{ TCPMIG_MSG_ABORT, false, "ABORT" },
		{ TCPMIG_MSG_REGISTER, false, "REGISTER" },
		{ TCPMIG_MSG_ABORT_ACK, true, "ABORT-ACK" },
	};
	uint8_t buf[MSG_MAX];
	struct tcpmig_msg_hdr h;
	unsigned int i;
	char what[64];

	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		h = header(msgs[i].type, 0x7e570002, 40002);
		if (msgs[i].answer)
			h = from_target(h);
		memset(buf, 0, sizeof(buf));
		memcpy(buf, &h, HDR);
		snprintf(what, sizeof(what), "%s of an unknown migration",
			 msgs[i].name);
		expect(what, member, buf, tcpmig_msg_len(msgs[i].type),
		       TCPMIG_STAT_MSG_UNEXPECTED);
	}
	expect("CONN-STATE of an unknown migration", member, buf,
	       fragment(buf, 0x7e570002, 40002, 0, 100, 100),
	       TCPMIG_STAT_MSG_UNEXPECTED);
}

/*
 * A migration B accepts (a PREPARE of a connection it does not have,
 * for its listener), then fragments that contradict each other, then a
 * whole blob of garbage.
 */
static void reassembly(void)
{
	struct tcpmig_msg_hdr h = header(TCPMIG_MSG_PREPARE, 0x7e570003,
					 40003);
	uint8_t buf[MSG_MAX];
	uint64_t refused = stat_now(TCPMIG_STAT_IMPORTS_REFUSED);
	uint32_t reason = 0;
	int type;

	type = ask(&h, TCPMIG_MSG_PREPARE, 0x7e570003, &reason);
	tap_result(type == TCPMIG_MSG_PREPARE_ACK,
		   "a PREPARE from a member for B's listener: PREPARE-ACK "
		   "(type %d)", type);
	send_to_b(member, buf, fragment(buf, 0x7e570003, 40003, 0, 2000,
					TCPMIG_FRAG_SIZE));
	expect("a fragment of the same blob with another total", member, buf,
	       fragment(buf, 0x7e570003, 40003, 1200, 3000, TCPMIG_FRAG_SIZE),
	       TCPMIG_STAT_MSG_MALFORMED);
	/* Again, the first fragment: a duplicate, ignored. */
	send_to_b(member, buf, fragment(buf, 0x7e570003, 40003, 0, 2000,
					TCPMIG_FRAG_SIZE));
	send_to_b(member, buf, fragment(buf, 0x7e570003, 40003, 1200, 2000,
					800));
	type = answer(0x7e570003, &reason);
	tap_result(stat_wait(TCPMIG_STAT_IMPORTS_REFUSED, refused + 1) ==
		   refused + 1 && type == TCPMIG_MSG_REJECT &&
		   reason == TCPMIG_REJECT_IMPORT_FAILED,
		   "a blob of garbage reassembled: import refused, REJECT "
		   "IMPORT_FAILED (type %d, reason %u)", type, reason);
}

/*
 * A member speaking for another server: a PREPARE-ACK that names B's own
 * migration's target as a third server (it would take the state), an
 * ABORT of a migration whose origin is that server.
 */
static void spoofed(void)
{
	struct tcpmig_msg_hdr h;

	h = from_target(header(TCPMIG_MSG_PREPARE_ACK, 0x7e570006, 40006));
	h.target.addr = htonl(0x0a0a0909);
	expect("a PREPARE-ACK from A naming another target", member, &h,
	       HDR, TCPMIG_STAT_MSG_SPOOFED);
	h = header(TCPMIG_MSG_ABORT, 0x7e570006, 40006);
	h.origin.addr = htonl(0x0a0a0909);
	expect("an ABORT from A naming another origin", member, &h, HDR,
	       TCPMIG_STAT_MSG_SPOOFED);
}

/* Two migrations of one connection to B at once: the second is BUSY. */
static void busy(void)
{
	struct tcpmig_msg_hdr h = header(TCPMIG_MSG_PREPARE, 0x7e570004,
					 40004);
	uint32_t reason = 0;
	int first, second;

	first = ask(&h, TCPMIG_MSG_PREPARE, 0x7e570004, &reason);
	second = ask(&h, TCPMIG_MSG_PREPARE, 0x7e570005, &reason);
	tap_result(first == TCPMIG_MSG_PREPARE_ACK, "a PREPARE: PREPARE-ACK "
		   "(type %d)", first);
	tap_result(second == TCPMIG_MSG_REJECT &&
		   reason == TCPMIG_REJECT_BUSY, "a second PREPARE of that "
		   "connection, another migration: REJECT BUSY (type %d, "
		   "reason %u)", second, reason);
	/* Withdrawn, as the origin would: each ABORT is acknowledged. */
	first = ask(&h, TCPMIG_MSG_ABORT, 0x7e570004, &reason);
	second = ask(&h, TCPMIG_MSG_ABORT, 0x7e570005, &reason);
	tap_result(first == TCPMIG_MSG_ABORT_ACK, "an ABORT of it: ABORT-ACK "
		   "(type %d)", first);
	tap_result(second == TCPMIG_MSG_ABORT_ACK, "an ABORT of the one "
		   "refused: ABORT-ACK, nothing is held for it (type %d)",
		   second);
	h.type = TCPMIG_MSG_PREPARE;
	h.migration_id = htonl(0x7e570004);
	expect("a late PREPARE of the aborted migration", member, &h, HDR,
	       TCPMIG_STAT_MSG_UNEXPECTED);
}

/* Blobs of the largest size that fill B's reassembly budget (256 MiB). */
#define BUDGET_BLOBS	4

/*
 * A state B has no room for: its reassembly budget filled by blobs of 64
 * MiB whose first fragment came, one more is refused, REJECT
 * STATE_NO_MEMORY, a reason no PREPARE is refused with.  With NO_MEMORY
 * for both, an origin took an earlier copy's refusal of a PREPARE, come
 * after a later copy's PREPARE-ACK, for the state's, and gave up a
 * migration the target went on importing.  Withdrawn after, their
 * memory goes back.
 */
static void no_room_for_state(void)
{
	uint8_t buf[MSG_MAX];
	uint32_t reason = 0, id;
	int i, prepared = 0, refused = 0, acked = 0;

	for (i = 0; i <= BUDGET_BLOBS; i++) {
		struct tcpmig_msg_hdr h = header(TCPMIG_MSG_PREPARE, 0, 0);

		id = 0x7e570010 + i;
		h.client.port = htons(40010 + i);
		prepared += ask(&h, TCPMIG_MSG_PREPARE, id, &reason) ==
			    TCPMIG_MSG_PREPARE_ACK;
		send_to_b(member, buf, fragment(buf, id, 40010 + i, 0,
						TCPMIG_STATE_MAX,
						TCPMIG_FRAG_SIZE));
	}
	refused = answer(id, &reason) == TCPMIG_MSG_REJECT &&
		  reason == TCPMIG_REJECT_STATE_NO_MEMORY;
	tap_result(prepared == BUDGET_BLOBS + 1 && refused,
		   "a state beyond B's reassembly budget: REJECT "
		   "STATE_NO_MEMORY, not a PREPARE's NO_MEMORY (reason %u)",
		   reason);
	for (i = 0; i < BUDGET_BLOBS; i++) {
		struct tcpmig_msg_hdr h = header(TCPMIG_MSG_ABORT, 0, 0);

		h.client.port = htons(40010 + i);
		acked += ask(&h, TCPMIG_MSG_ABORT, 0x7e570010 + i, &reason) ==
			 TCPMIG_MSG_ABORT_ACK;
	}
	tap_result(acked == BUDGET_BLOBS, "... the blobs' migrations "
		   "withdrawn: %d ABORT-ACKs of %d", acked, BUDGET_BLOBS);
}

/* xorshift64*: the mutants are the same on every run of a seed. */
static uint64_t rnd(void)
{
	opt.seed ^= opt.seed >> 12;
	opt.seed ^= opt.seed << 25;
	opt.seed ^= opt.seed >> 27;
	return opt.seed * 0x2545f4914f6cdd1dULL;
}

/*
 * A mutant of a captured message into @m.  Returns true when it
 * certainly is malformed: its magic or version broken.
 */
static bool mutate(struct msg *m)
{
	uint32_t v;
	int k, n;

	*m = msgs[rnd() % nmsgs];
	switch (rnd() % 6) {
	case 0:		/* flip bits */
		for (n = 1 + rnd() % 4, k = 0; k < n; k++)
			m->data[rnd() % m->len] ^= 1 << (rnd() % 8);
		break;
	case 1:		/* overwrite bytes */
		for (n = 1 + rnd() % 8, k = 0; k < n; k++)
			m->data[rnd() % m->len] = rnd();
		break;
	case 2:		/* truncate */
		m->len = rnd() % m->len;
		break;
	case 3:		/* extend */
		n = 1 + rnd() % 64;
		if (m->len + n > MSG_MAX)
			n = MSG_MAX - m->len;
		for (k = 0; k < n; k++)
			m->data[m->len + k] = rnd();
		m->len += n;
		break;
	case 4:		/* a field of the header set to anything */
		v = rnd();
		k = rnd() % (HDR / 4);
		memcpy(m->data + 4 * k, &v, 4);
		break;
	default:	/* a CONN-STATE's offset or total */
		if (m->len < HDR + CS)
			break;
		v = rnd() % 3 ? htonl(rnd() % 8 * TCPMIG_FRAG_SIZE) : rnd();
		memcpy(m->data + HDR + (rnd() % 2) * 4, &v, 4);
		break;
	}
	return m->len >= 3 && (m->data[0] != TCPMIG_MSG_MAGIC >> 8 ||
			       m->data[1] != (TCPMIG_MSG_MAGIC & 0xff) ||
			       m->data[2] != TCPMIG_MSG_VERSION);
}

static void mutants(void)
{
	uint64_t malformed = stat_now(TCPMIG_STAT_MSG_MALFORMED);
	uint64_t not_member = stat_now(TCPMIG_STAT_MSG_NOT_MEMBER);
	uint64_t sure = 0, got, seed = opt.seed;
	struct msg m;
	int i, outside = opt.mutants / 10;

	for (i = 0; i < opt.mutants; i++) {
		sure += mutate(&m);
		send_to_b(member, m.data, m.len);
		/* Paced: B's queue of messages waiting is bounded. */
		if (i % 256 == 255)
			stat_wait(TCPMIG_STAT_MSG_MALFORMED, malformed + sure);
	}
	got = stat_wait(TCPMIG_STAT_MSG_MALFORMED, malformed + sure) -
	      malformed;
	tap_result(got >= sure, "%d mutants from a member (seed %llu): %llu "
		   "counted malformed, %llu of them with a broken magic or "
		   "version", opt.mutants, (unsigned long long)seed,
		   (unsigned long long)got, (unsigned long long)sure);
	for (i = 0; i < outside; i++) {
		mutate(&m);
		send_to_b(outsider, m.data, m.len);
	}
	got = stat_wait(TCPMIG_STAT_MSG_NOT_MEMBER, not_member + outside) -
	      not_member;
	tap_result(got == (uint64_t)outside,
		   "%d mutants from outside the pool: all dropped as not "
		   "members (%llu)", outside, (unsigned long long)got);
	tap_result(!stat_now(TCPMIG_STAT_MSG_OVERFLOWS),
		   "no message dropped for want of room (%llu)",
		   (unsigned long long)stat_now(TCPMIG_STAT_MSG_OVERFLOWS));
}

static void load(void)
{
	FILE *f = fopen(opt.file, "r");

	if (!f)
		die(opt.file);
	while (nmsgs < MSGS_MAX &&
	       fread(&msgs[nmsgs].len, sizeof(msgs[nmsgs].len), 1, f) == 1 &&
	       msgs[nmsgs].len <= MSG_MAX &&
	       fread(msgs[nmsgs].data, 1, msgs[nmsgs].len, f) ==
	       msgs[nmsgs].len)
		if (msgs[nmsgs].len >= HDR)
			nmsgs++;
	fclose(f);
}

static int fuzz(void)
{
	struct sockaddr_in a = server_addr(A, 0), b = server_addr(B, opt.port);
	int listener, err;

	load();
	tap_header();
	err = migrate_host_open(&target, opt.ns_names[B]);
	if (err) {
		errno = -err;
		die(opt.ns_names[B]);
	}
	to_b = server_addr(B, TCPMIG_PORT_DEFAULT);
	member = in_ns(opt.ns_names[A], AF_INET, SOCK_DGRAM, 0);
	outsider = in_ns(opt.ns_names[CLIENT], AF_INET, SOCK_DGRAM, 0);
	if (bind(member, (struct sockaddr *)&a, sizeof(a)))
		die("bind");
	/* PREPAREs for B's endpoint find a listener there. */
	listener = in_ns(opt.ns_names[B], AF_INET, SOCK_STREAM, 0);
	if (bind(listener, (struct sockaddr *)&b, sizeof(b)) ||
	    listen(listener, 4))
		die("listen");
	replies = watch(opt.ns_names[B]);

	malformed();
	unexpected();
	spoofed();
	reassembly();
	busy();
	no_room_for_state();
	mutants();
	return tap_done();
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	const struct topology_opts topology = {
		.vip = &opt.vip, .port = &opt.port,
		.ns_names = opt.ns_names, .namespaces = NAMESPACES,
	};
	int c;

	optind = 2;
	while ((c = getopt(argc, argv, "N:a:p:o:i:s:n:")) != -1) {
		switch (topology_opt(&topology, c, optarg)) {
		case 1:
			continue;
		case -1:
			usage();
		}
		switch (c) {
		case 'o':
		case 'i':
			opt.file = optarg;
			break;
		case 's':
			opt.seed = strtoull(optarg, NULL, 0) ?: 1;
			break;
		case 'n':
			opt.mutants = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (!opt.ns_names[0] || !opt.file || !opt.port)
		usage();
	if (!strcmp(mode, "capture") && opt.vip)
		return capture();
	if (!strcmp(mode, "fuzz"))
		return fuzz();
	usage();
}
