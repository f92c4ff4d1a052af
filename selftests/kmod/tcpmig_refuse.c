// SPDX-License-Identifier: GPL-2.0
/*
 * tcpmig_refuse: every way an export or an import is refused, through the
 * netlink interface users have.
 *
 *	tcpmig_refuse
 *
 * Runs in an otherwise idle namespace (loopback, IPv4), as the client and
 * the server application of every connection.  Each refusal must come
 * with the expected errno and a reason in the extended ack, and must put
 * nothing on the wire (Tcp OutSegs and OutRsts of the namespace do not
 * move); after a refused export the connection must carry data both ways
 * without a retransmission, as if nothing had happened.
 *
 * Exports: no such tuple or cookie, a listener, a connection not yet
 * accepted, CLOSE_WAIT, FIN_WAIT2, urgent data pending (and allowed once
 * it is read), TCP-MD5, kTLS, MPTCP, a socket in a BPF sockmap with a
 * receive verdict or a corked write (one with an empty psock is
 * exportable: selftests/bpf/test_conn_monitor.c), repair mode, a state
 * no import would take (a socket option out of range).
 * Imports: no listener, a served tuple that changes the remote end, an
 * fd with a listener cookie, the connection already there, and
 * malformed blobs: empty, truncated at every length (with and without a
 * matching header), every header byte flipped, each record-level fault,
 * inconsistent sequence numbers, fields no kernel produces (a window
 * clamp of zero, a window beyond its scale, ECN state or bits astray, a
 * multicast peer), larger than TCPMIG_STATE_MAX; an unknown
 * optional record is skipped; a blob read in place (larger than a page,
 * for a descriptor) with a page of it unreadable.  Then 2000 random
 * mutations of a valid blob (fixed seed): each is imported or refused,
 * never sends on refusal, and what is imported is a sane connection.
 * Exports racing an import of the same connection, all refused; an
 * export beside refused ones, which leave it its hold.  At
 * the end the namespace's TCP sockets are back to where they started, and
 * the system's orphans and allocated ones no more than then.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/sockios.h>
#include <bpf/bpf.h>

#include "tcpmig.h"
#include "tuple.h"
#include "../lib/migrate.h"
#include "../lib/tap.h"
#include "../lib/tcp_counters.h"
#include "../lib/tcp_pair.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP	262
#endif

#define PORT		7401	/* the plain listener */
#define MD5_PORT	7402
#define MPTCP_PORT	7403
#define NO_PORT		7409	/* nobody listens there */
#define FLOW		4096	/* bytes each way proving a connection works */
#define HOLD_MS		2000	/* an administrator's HOLD */
#define HELD_MS		300	/* ... which nothing may end meanwhile */
#define IO_TIMEOUT_MS	5000
#define QUIET_MS	150	/* no segment for that long: idle namespace */
#define BIG_REC		(256 << 10)
#define FUZZ_RUNS	2000
#define FUZZ_SEED	0x9e3779b97f4a7c15ULL
#define SMALL_RCVBUF	4096	/* a client whose window closes soon */
#define UNREAD		8192	/* bytes of a blob read in place ... */
#define UNACKED		12288	/* ... larger than a page */
#define RACE_ROUNDS	20	/* imports raced by an export each */

static struct migrate_host host;
static int listener;

static const char *errname(int err)
{
	return err ? strerrorname_np(-err) : "success";
}

/* The counters once the namespace has gone quiet. */
static void settle(struct tcp_counters *c)
{
	if (tcp_counters_settle(c, QUIET_MS, 3000))
		tap_diag("the namespace never went quiet");
}

/*
 * A refused request: -@want with an extended ack containing @reason, and
 * nothing sent since @before.
 */
static void check_refused(const char *what, int err, int want,
			  const char *reason, const struct tcp_counters *before)
{
	struct tcp_counters after;

	tcp_counters_read(&after);
	tap_result(err == -want && host.nl.ext_msg[0] &&
		   strstr(host.nl.ext_msg, reason),
		   "%s: refused, %s \"%s\" (expected %s /%s/)", what,
		   errname(err), host.nl.ext_msg, errname(-want), reason);
	tap_result(!tcp_counters_sent(before, &after),
		   "%s: nothing sent (%llu segments)", what,
		   (unsigned long long)tcp_counters_sent(before, &after));
}

/*
 * The connection carries data as asked; without any retransmission, as
 * one nobody touched, unless it was @moved (bytes it sent before the move
 * may be lost on the way).
 */
static void check_flows(const char *what, struct tcp_pair *p,
			uint64_t to_client, uint64_t to_server, bool moved)
{
	struct tcp_counters before, after;
	uint64_t retrans;
	int err;

	tcp_counters_read(&before);
	err = tcp_pair_flow(p, to_client, to_server, IO_TIMEOUT_MS);
	tcp_counters_read(&after);
	retrans = tcp_counters_retransmits(&before, &after);
	tap_result(!err && (moved || !retrans), "%s: %s, data flows (%s, "
		   "%llu retransmissions)", what, moved ? "connection works" :
		   "connection untouched", errname(err),
		   (unsigned long long)retrans);
}

static void check_intact(const char *what, struct tcp_pair *p,
			 uint64_t to_client, uint64_t to_server)
{
	check_flows(what, p, to_client, to_server, false);
}

/* Export of @t (or @cookie) refused. */
static void export_refused(const char *what, const struct capymig_tuple *t,
			   uint64_t cookie, int want, const char *reason)
{
	struct tcp_counters before;
	struct tcpmig_blob blob;
	int err;

	settle(&before);
	err = tcpmig_export(&host.nl, t, cookie, &blob);
	if (!err)
		tcpmig_blob_free(&blob);
	check_refused(what, err, want, reason, &before);
}

/*
 * Export of @p's server end refused, and @p then carries @to_client and
 * @to_server bytes as if nothing had happened.
 */
static void export_pair_refused(const char *what, struct tcp_pair *p,
				int want, const char *reason,
				uint64_t to_client, uint64_t to_server)
{
	struct capymig_tuple t;
	int err = migrate_server_tuple(p->client.fd, &t);

	if (err) {
		tap_result(0, "%s: tuple: %s", what, strerror(-err));
		return;
	}
	export_refused(what, &t, 0, want, reason);
	check_intact(what, p, to_client, to_server);
}

static uint64_t sock_cookie(int fd)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);

	getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len);
	return cookie;
}

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) ? -1 :
	       ti.tcpi_state;
}

static bool wait_state(int fd, int state)
{
	double deadline = now_ms() + IO_TIMEOUT_MS;

	while (tcp_state(fd) != state) {
		if (now_ms() > deadline)
			return false;
		poll(NULL, 0, 5);
	}
	return true;
}

static bool new_pair(const char *what, struct tcp_pair *p, int l,
		     const struct sock_opts *o)
{
	int err = tcp_pair_connect(p, l, o);

	if (err)
		tap_result(0, "%s: connect: %s", what, strerror(-err));
	return !err;
}

static void export_missing(void)
{
	struct capymig_tuple t;
	struct tcp_pair p;
	uint64_t cookie;
	int fd;

	capymig_tuple_parse("127.0.0.1:7401", "127.0.0.1:1", &t);
	export_refused("export of an unknown tuple", &t, 0, ENOENT,
		       "no such connection");

	/* The cookie of a socket that is gone. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	cookie = sock_cookie(fd);
	close(fd);
	export_refused("export of an unknown cookie", NULL, cookie ?: 1,
		       ENOENT, "no such connection");

	/* A listener: by its wildcard tuple, or by its cookie. */
	capymig_tuple_parse("127.0.0.1:7401", "0.0.0.0:0", &t);
	export_refused("export of a listener's tuple", &t, 0, EINVAL,
		       "invalid tuple");
	export_refused("export of a listener's cookie", NULL,
		       sock_cookie(listener), ENOENT, "no such connection");
	if (new_pair("listener", &p, listener, NULL)) {
		check_intact("listener after the refusals", &p, FLOW, FLOW);
		tcp_pair_close(&p);
	}
}

static void export_not_accepted(void)
{
	const char *what = "export of a connection not yet accepted";
	struct capymig_tuple t;
	struct tcp_pair p;
	int err;

	err = tcp_pair_start(&p, listener, NULL) ?:
	      migrate_server_tuple(p.client.fd, &t);
	if (err) {
		tap_result(0, "%s: connect: %s", what, strerror(-err));
		tcp_pair_close(&p);
		return;
	}
	export_refused(what, &t, 0, EOPNOTSUPP, "not accepted");
	err = tcp_pair_accept(&p, listener);
	if (err)
		tap_result(0, "%s: accept: %s", what, strerror(-err));
	else
		check_intact(what, &p, FLOW, FLOW);
	tcp_pair_close(&p);
}

/*
 * A refused export ends only a hold it started: one already there (an
 * administrator's HOLD, or a concurrent export's that detached the
 * socket) stays, and the client's bytes wait for it to expire, then come
 * again.
 */
static void export_refused_under_hold(void)
{
	const char *what = "refused export of a held connection";
	struct capymig_tuple t;
	struct tcp_pair p;
	int err, queued;

	err = tcp_pair_start(&p, listener, NULL) ?:
	      migrate_server_tuple(p.client.fd, &t) ?:
	      tcpmig_hold(&host.nl, &t, HOLD_MS);
	if (err) {
		tap_result(0, "%s: %s", what, strerror(-err));
		tcp_pair_close(&p);
		return;
	}
	export_refused(what, &t, 0, EOPNOTSUPP, "not accepted");
	err = tcp_pair_accept(&p, listener) ?:
	      tcp_pair_flow(&p, 0, FLOW, HELD_MS);
	if (err != -ETIMEDOUT || ioctl(p.server.fd, SIOCINQ, &queued))
		queued = -1;
	tap_result(queued == 0, "%s: the hold stays, the client's bytes "
		   "wait (%d received in %d ms)", what, queued, HELD_MS);
	check_flows(what, &p, FLOW, 0, true);
	tcp_pair_close(&p);
}

static void export_half_closed(void)
{
	struct tcp_pair p;

	/* The client shut its side down: the server may still send. */
	if (new_pair("CLOSE_WAIT", &p, listener, NULL)) {
		shutdown(p.client.fd, SHUT_WR);
		if (!wait_state(p.server.fd, TCP_CLOSE_WAIT))
			tap_diag("CLOSE_WAIT not reached");
		export_pair_refused("export in CLOSE_WAIT", &p, EOPNOTSUPP,
				    "only ESTABLISHED", FLOW, 0);
		tcp_pair_close(&p);
	}
	/* The server application shut its side down: it may still read. */
	if (new_pair("FIN_WAIT2", &p, listener, NULL)) {
		shutdown(p.server.fd, SHUT_WR);
		if (!wait_state(p.server.fd, TCP_FIN_WAIT2))
			tap_diag("FIN_WAIT2 not reached");
		export_pair_refused("export after shutdown(SHUT_WR)", &p,
				    EOPNOTSUPP, "only ESTABLISHED", 0, FLOW);
		tcp_pair_close(&p);
	}
}

/*
 * Urgent data waits for the application: refused.  Reading past it (the
 * urgent byte is skipped, as without SO_OOBINLINE) makes the connection
 * exportable again.
 */
static void export_urgent(void)
{
	const char *what = "export with urgent data pending";
	char why[MIGRATE_WHY_LEN] = "";
	struct pollfd pfd;
	struct tcp_pair p;
	int err;

	if (!new_pair(what, &p, listener, NULL))
		return;
	pfd = (struct pollfd) { .fd = p.server.fd, .events = POLLPRI };
	if (send(p.client.fd, "!", 1, MSG_OOB) != 1 || poll(&pfd, 1, 5000) != 1)
		tap_diag("the urgent byte did not arrive");
	export_pair_refused(what, &p, EOPNOTSUPP, "urgent data", FLOW, FLOW);

	err = tcp_pair_migrate(&p, &host, listener, NULL, why) ?:
	      tcp_pair_flow(&p, FLOW, FLOW, IO_TIMEOUT_MS);
	tap_result(!err, "read past the urgent byte, the connection moves "
		   "again (%s%s%s)", errname(err), why[0] ? ": " : "", why);
	tcp_pair_close(&p);
}

/* Signs every segment to or from 127.0.0.1. */
static int md5_key(int fd)
{
	struct tcp_md5sig sig = { .tcpm_keylen = 7 };

	loopback_sockaddr(AF_INET, 0, &sig.tcpm_addr);
	memcpy(sig.tcpm_key, "capymig", 7);
	return setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof(sig)) ?
	       -errno : 0;
}

static void export_md5(void)
{
	const char *what = "export of a TCP-MD5 connection";
	struct sock_opts o = { .prepare = md5_key };
	struct tcp_pair p;
	int l = tcp_listener(AF_INET, MD5_PORT, &o);

	if (l == -ENOPROTOOPT || l == -EINVAL) {
		tap_skip("TCP_MD5SIG not supported", "%s", what);
		return;
	}
	if (l < 0) {
		tap_result(0, "%s: listener: %s", what, strerror(-l));
		return;
	}
	if (new_pair(what, &p, l, &o)) {
		export_pair_refused(what, &p, EOPNOTSUPP, "TCP-MD5", FLOW,
				    FLOW);
		tcp_pair_close(&p);
	}
	close(l);
}

static void export_ktls(void)
{
	const char *what = "export of a kTLS connection";
	struct tcp_pair p;

	if (!new_pair(what, &p, listener, NULL))
		return;
	if (setsockopt(p.server.fd, IPPROTO_TCP, TCP_ULP, "tls", 3))
		tap_skip(strerror(errno), "%s", what);
	else
		export_pair_refused(what, &p, EOPNOTSUPP, "upper-layer", FLOW,
				    FLOW);
	tcp_pair_close(&p);
}

/*
 * The server end of an MPTCP connection is no TCP socket; its subflow
 * has the tuple.  Whether the subflow is found and refused or not found
 * at all, nothing may be sent and the connection must not notice.
 */
static void export_mptcp(void)
{
	const char *what = "export of an MPTCP subflow";
	struct sock_opts o = { .protocol = IPPROTO_MPTCP };
	struct tcp_counters before;
	struct capymig_tuple t;
	struct tcpmig_blob blob;
	struct tcp_pair p;
	int l = tcp_listener(AF_INET, MPTCP_PORT, &o), err;

	if (l < 0) {
		tap_skip(strerror(-l), "%s", what);
		return;
	}
	if (new_pair(what, &p, l, &o) &&
	    !migrate_server_tuple(p.client.fd, &t)) {
		settle(&before);
		err = tcpmig_export(&host.nl, &t, 0, &blob);
		if (!err)
			tcpmig_blob_free(&blob);
		check_refused(what, err, err == -ENOENT ? ENOENT : EOPNOTSUPP,
			      "", &before);
		check_intact(what, &p, FLOW, FLOW);
		/* An orderly MPTCP close lingers: leave nothing behind. */
		tcp_pair_abort(&p);
	}
	close(l);
}

/*
 * A sockmap of one socket, @p's server end, with a program that does
 * nothing but @insns attached to the map as @attach.  Returns the map's
 * fd, or -errno; *@prog is the program's, closed by the caller.
 */
static int sockmap_with(struct tcp_pair *p, enum bpf_prog_type type,
			enum bpf_attach_type attach,
			const struct bpf_insn *insns, size_t n, int *prog)
{
	int map, key = 0, err;

	*prog = bpf_prog_load(type, "capymig_refuse", "GPL", insns, n, NULL);
	if (*prog < 0)
		return *prog;
	map = bpf_map_create(BPF_MAP_TYPE_SOCKMAP, "capymig_refuse",
			     sizeof(int), sizeof(int), 1, NULL);
	if (map < 0)
		return map;
	if (bpf_prog_attach(*prog, map, attach, 0) ||
	    bpf_map_update_elem(map, &key, &p->server.fd, BPF_ANY)) {
		err = -errno;
		close(map);
		return err;
	}
	return map;
}

/*
 * A socket in a sockmap is exportable while its psock holds nothing (the
 * server monitor's, selftests/bpf); refused are those whose received data
 * a verdict program takes over, and those whose psock holds a write.
 */
static void export_sockmap(void)
{
	static const struct bpf_insn pass[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0,
		  .imm = SK_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	/* bpf_msg_cork_bytes(msg, 1 MiB): writes wait in the psock. */
	static const struct bpf_insn cork[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 2,
		  .imm = 1 << 20 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_msg_cork_bytes },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0,
		  .imm = SK_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	const char *what = "export of a socket in a sockmap with a verdict";
	const char *corked = "export of a socket with a corked write";
	struct capymig_tuple t;
	struct tcp_pair p;
	int map, prog, err;

	if (new_pair(what, &p, listener, NULL)) {
		map = sockmap_with(&p, BPF_PROG_TYPE_SK_SKB,
				   BPF_SK_SKB_VERDICT, pass, 2, &prog);
		if (map < 0)
			tap_result(0, "%s: %s", what, strerror(-map));
		else
			export_pair_refused(what, &p, EOPNOTSUPP,
					    "receive verdict", FLOW, FLOW);
		if (map >= 0)
			close(map);
		if (prog >= 0)
			close(prog);
		tcp_pair_close(&p);
	}

	/* The corked bytes never leave: check only the refusal. */
	if (new_pair(corked, &p, listener, NULL)) {
		map = sockmap_with(&p, BPF_PROG_TYPE_SK_MSG,
				   BPF_SK_MSG_VERDICT, cork, 4, &prog);
		err = map < 0 ? map :
		      tcp_end_write(&p.server, 100, IO_TIMEOUT_MS) ?:
		      migrate_server_tuple(p.client.fd, &t);
		if (err)
			tap_result(0, "%s: %s", corked, strerror(-err));
		else
			export_refused(corked, &t, 0, EOPNOTSUPP,
				       "holds data");
		if (map >= 0)
			close(map);
		if (prog >= 0)
			close(prog);
		tcp_pair_abort(&p);
	}
}

static void export_repair(void)
{
	const char *what = "export of a socket in repair mode";
	int on = TCP_REPAIR_ON, off = TCP_REPAIR_OFF_NO_WP;
	struct tcp_pair p;

	if (!new_pair(what, &p, listener, NULL))
		return;
	if (setsockopt(p.server.fd, IPPROTO_TCP, TCP_REPAIR, &on,
		       sizeof(on))) {
		tap_result(0, "%s: TCP_REPAIR: %s", what, strerror(errno));
	} else {
		export_refused(what, NULL, sock_cookie(p.server.fd),
			       EOPNOTSUPP, "TCP_REPAIR");
		setsockopt(p.server.fd, IPPROTO_TCP, TCP_REPAIR, &off,
			   sizeof(off));
		check_intact(what, &p, FLOW, FLOW);
	}
	tcp_pair_close(&p);
}

/* A LIST callback: whether the connection @arg names was listed. */
static int listed_cb(const struct tcpmig_conn *conn, void *arg)
{
	struct capymig_tuple *t = arg;

	if (!memcmp(&conn->tuple, t, sizeof(*t)))
		t->family = 0;		/* seen */
	return 0;
}

static bool listed(const struct capymig_tuple *t)
{
	struct capymig_tuple seen = *t;

	return !tcpmig_list(&host.nl, 0, listed_cb, &seen) && !seen.family;
}

/*
 * A socket option no import takes (a negative SO_PRIORITY, which only a
 * privileged application can set): refused before the connection leaves
 * its socket, not lost at the import; MIGRATE refuses it before its
 * PREPARE, and LIST leaves it out, so that no policy picks it.
 */
static void export_unimportable(void)
{
	const char *what = "export of a state no import would take";
	struct tcp_counters before;
	struct capymig_tuple t;
	int priority = -1, err;
	struct tcp_pair p;
	uint32_t id;

	if (!new_pair(what, &p, listener, NULL))
		return;
	err = migrate_server_tuple(p.client.fd, &t);
	if (err || !listed(&t) ||
	    setsockopt(p.server.fd, SOL_SOCKET, SO_PRIORITY, &priority,
		       sizeof(priority))) {
		tap_result(0, "%s: a listed connection with SO_PRIORITY -1",
			   what);
		tcp_pair_close(&p);
		return;
	}
	export_pair_refused(what, &p, EOPNOTSUPP,
			    "socket option out of range", FLOW, FLOW);
	settle(&before);
	err = tcpmig_migrate(&host.nl, &t, NULL, &id);
	check_refused("MIGRATE of it", err, EOPNOTSUPP,
		      "socket option out of range", &before);
	tap_result(!listed(&t), "LIST leaves it out");
	tcp_pair_close(&p);
}

/* Blobs: copies to break, and the records in them. */

static struct tcpmig_blob blob_dup(const struct tcpmig_blob *b, uint32_t room)
{
	struct tcpmig_blob d = { malloc(b->len + room), b->len };

	if (!d.data) {
		perror("malloc");
		exit(KSFT_FAIL);
	}
	memcpy(d.data, b->data, b->len);
	return d;
}

/* Makes the header's total_len say what the blob's length is. */
static void blob_fix_len(struct tcpmig_blob *b)
{
	struct tcpmig_state_hdr *hdr = (void *)b->data;

	hdr->total_len = htonl(b->len);
}

/* Offset of the first record of @type, or 0. */
static uint32_t rec_find(const struct tcpmig_blob *b, uint16_t type)
{
	uint32_t off = sizeof(struct tcpmig_state_hdr);

	while (off + sizeof(struct tcpmig_state_rec) <= b->len) {
		const struct tcpmig_state_rec *r = (void *)(b->data + off);

		if (ntohs(r->type) == type)
			return off;
		off += sizeof(*r) + ((ntohl(r->len) + TCPMIG_STATE_ALIGN - 1) &
				     ~(TCPMIG_STATE_ALIGN - 1));
	}
	return 0;
}

static void *rec_value(const struct tcpmig_blob *b, uint16_t type)
{
	uint32_t off = rec_find(b, type);

	return off ? b->data + off + sizeof(struct tcpmig_state_rec) : NULL;
}

/* @b with one more record at its end. */
static struct tcpmig_blob blob_add_rec(const struct tcpmig_blob *b,
				       uint16_t type, const void *val,
				       uint32_t len)
{
	uint32_t padded = (len + TCPMIG_STATE_ALIGN - 1) &
			  ~(TCPMIG_STATE_ALIGN - 1);
	struct tcpmig_blob d = blob_dup(b, sizeof(struct tcpmig_state_rec) +
					padded);
	struct tcpmig_state_rec *r = (void *)(d.data + d.len);

	memset(r, 0, sizeof(*r) + padded);
	r->type = htons(type);
	r->len = htonl(len);
	memcpy(r + 1, val, len);
	d.len += sizeof(*r) + padded;
	blob_fix_len(&d);
	return d;
}

/* Accepts and resets what a wrongly successful import queued. */
static int reap_accept_queue(void)
{
	static const struct linger reset = { .l_onoff = 1 };
	int fd, n = 0;

	while ((fd = tcp_accept(listener, 0)) >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
		close(fd);
		n++;
	}
	return n;
}

static void import_refused(const char *what, const struct tcpmig_blob *b,
			   const struct tcpmig_import_opts *o, int want,
			   const char *reason)
{
	struct tcpmig_import_result res;
	struct tcp_counters before;
	int err;

	settle(&before);
	err = tcpmig_import(&host.nl, b, o, &res);
	check_refused(what, err, want, reason, &before);
	if (!err && res.fd >= 0)
		close(res.fd);
	else if (!err)
		reap_accept_queue();
}

/* Many malformed blobs, each to be refused with EINVAL and a reason. */
struct batch {
	const char *what;
	int runs, refused;
	struct tcp_counters before;
	char first_bad[TCPMIG_NL_EXT_MSG_MAX + 64];
};

static void batch_start(struct batch *bt, const char *what)
{
	memset(bt, 0, sizeof(*bt));
	bt->what = what;
	settle(&bt->before);
}

static void batch_one(struct batch *bt, const struct tcpmig_blob *b,
		      const char *reason, uint32_t at)
{
	int err = tcpmig_import(&host.nl, b, NULL, NULL);

	bt->runs++;
	if (err == -EINVAL && host.nl.ext_msg[0] &&
	    (!reason || strstr(host.nl.ext_msg, reason)))
		bt->refused++;
	else if (!bt->first_bad[0])
		snprintf(bt->first_bad, sizeof(bt->first_bad),
			 " (at %u: %s \"%s\")", at, errname(err),
			 host.nl.ext_msg);
}

static void batch_end(struct batch *bt)
{
	struct tcp_counters after;

	tcp_counters_read(&after);
	reap_accept_queue();
	tap_result(bt->refused == bt->runs,
		   "%s: %d of %d refused with EINVAL and a reason%s", bt->what,
		   bt->refused, bt->runs, bt->first_bad);
	tap_result(!tcp_counters_sent(&bt->before, &after),
		   "%s: nothing sent (%llu segments)", bt->what,
		   (unsigned long long)tcp_counters_sent(&bt->before, &after));
}

static void import_truncated(const struct tcpmig_blob *b)
{
	struct tcpmig_blob t = blob_dup(b, 0);
	struct batch bt;

	batch_start(&bt, "blob truncated at every length");
	for (t.len = 1; t.len < b->len; t.len++)
		batch_one(&bt, &t, NULL, t.len);
	batch_end(&bt);

	/* The header agreeing: the records themselves are cut short. */
	batch_start(&bt, "blob truncated, header adjusted, at every length");
	for (t.len = sizeof(struct tcpmig_state_hdr); t.len < b->len;
	     t.len++) {
		memcpy(t.data, b->data, sizeof(struct tcpmig_state_hdr));
		blob_fix_len(&t);
		batch_one(&bt, &t, NULL, t.len);
	}
	batch_end(&bt);
	free(t.data);
}

static void import_bad_header(const struct tcpmig_blob *b)
{
	static const struct {
		const char *field;
		uint32_t from, to;	/* byte offsets, to excluded */
		const char *reason;
	} fields[] = {
		{ "magic", 0, 4, "not a capymig state blob" },
		{ "version", 4, 5, "unsupported state format version" },
		{ "flags", 5, 6, "unknown header flags" },
		{ "hdr_len", 6, 8, "unexpected header length" },
		{ "total_len", 8, 12, "blob length does not match" },
		{ "reserved", 12, 16, "unknown header flags" },
	};
	struct tcpmig_blob t = blob_dup(b, 0);
	char what[64];
	struct batch bt;
	unsigned int i;
	uint32_t at;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		snprintf(what, sizeof(what), "every byte of the header's %s "
			 "flipped", fields[i].field);
		batch_start(&bt, what);
		for (at = fields[i].from; at < fields[i].to; at++) {
			memcpy(t.data, b->data, b->len);
			t.data[at] ^= 0xff;
			batch_one(&bt, &t, fields[i].reason, at);
		}
		batch_end(&bt);
	}
	free(t.data);
}

/* One malformed blob: @b with the @len bytes at @at replaced by @val. */
static void import_patched(const char *what, const struct tcpmig_blob *b,
			   uint32_t at, const void *val, uint32_t len,
			   const char *reason)
{
	struct tcpmig_blob t = blob_dup(b, 0);

	memcpy(t.data + at, val, len);
	import_refused(what, &t, NULL, EINVAL, reason);
	free(t.data);
}

static void import_bad_records(const struct tcpmig_blob *b)
{
	const uint32_t first = sizeof(struct tcpmig_state_hdr);
	const struct tcpmig_state_rec *rq;
	uint32_t rq_off = rec_find(b, TCPMIG_ST_RECV_QUEUE);
	struct tcpmig_blob t;
	uint32_t huge = htonl(0xfffffff0);
	uint16_t one = htons(1);
	uint8_t pad = 0x5a, *big;

	import_patched("a record overrunning the blob", b,
		       first + offsetof(struct tcpmig_state_rec, len), &huge,
		       sizeof(huge), "overruns");
	import_patched("a record's reserved field set", b,
		       first + offsetof(struct tcpmig_state_rec, reserved),
		       &one, sizeof(one), "reserved record field");
	/* The receive queue's length is not a multiple of 8: it pads. */
	rq = (const void *)(b->data + rq_off);
	import_patched("nonzero padding", b, rq_off + sizeof(*rq) +
		       ntohl(rq->len), &pad, 1, "padding");

	t = blob_add_rec(b, TCPMIG_ST_TUPLE, rec_value(b, TCPMIG_ST_TUPLE),
			 sizeof(struct capymig_tuple));
	import_refused("a record repeated", &t, NULL, EINVAL,
		       "record repeated");
	free(t.data);
	t = blob_add_rec(b, 0x42, "capymig!", 8);
	import_refused("an unknown mandatory record", &t, NULL, EINVAL,
		       "unknown mandatory record");
	free(t.data);

	/*
	 * The same, large: the kernel's error must reach the caller even
	 * when the request it answers is larger than any reply.
	 */
	big = calloc(1, BIG_REC);
	t = blob_add_rec(b, 0x42, big, BIG_REC);
	import_refused("a 256 KiB blob with an unknown mandatory record", &t,
		       NULL, EINVAL, "unknown mandatory record");
	free(t.data);
	free(big);
}

/* Sequence numbers that disagree with the queues. */
static void import_bad_seq(const struct tcpmig_blob *b)
{
	const uint32_t seq = rec_find(b, TCPMIG_ST_SEQ) +
			     sizeof(struct tcpmig_state_rec);
	const struct tcpmig_st_seq *s = (const void *)(b->data + seq);
	uint32_t v;

	v = htonl(ntohl(s->rcv_nxt) + 1);
	import_patched("rcv_nxt beyond the receive queue", b,
		       seq + offsetof(struct tcpmig_st_seq, rcv_nxt), &v,
		       sizeof(v), "receive queue does not span");
	v = htonl(ntohl(s->write_seq) - 1);
	import_patched("write_seq short of the send queue", b,
		       seq + offsetof(struct tcpmig_st_seq, write_seq), &v,
		       sizeof(v), "send queue does not span");
	v = htonl(ntohl(s->write_seq) + 1);
	import_patched("snd_nxt beyond write_seq", b,
		       seq + offsetof(struct tcpmig_st_seq, snd_nxt), &v,
		       sizeof(v), "snd_nxt outside");
	v = htonl(ntohl(s->rcv_nxt) + 1);
	import_patched("rcv_wup beyond rcv_nxt", b,
		       seq + offsetof(struct tcpmig_st_seq, rcv_wup), &v,
		       sizeof(v), "rcv_wup after rcv_nxt");
}

/*
 * Fields no kernel produces, each of which would leave the connection
 * stuck, misnamed or misbehaving where it is imported.
 */
static void import_bad_fields(const struct tcpmig_blob *b)
{
	const uint32_t win = rec_find(b, TCPMIG_ST_WINDOW) +
			     sizeof(struct tcpmig_state_rec);
	const uint32_t opt = rec_find(b, TCPMIG_ST_OPTIONS) +
			     sizeof(struct tcpmig_state_rec);
	const uint32_t so = rec_find(b, TCPMIG_ST_SOCKOPTS) +
			    sizeof(struct tcpmig_state_rec);
	const uint32_t tup = rec_find(b, TCPMIG_ST_TUPLE) +
			     sizeof(struct tcpmig_state_rec);
	const struct tcpmig_st_options *o = (const void *)(b->data + opt);
	const struct tcpmig_st_sockopts *sk = (const void *)(b->data + so);
	uint32_t zero = 0, v;
	uint16_t mss;
	uint8_t tos;

	import_patched("a window clamp of zero", b,
		       win + offsetof(struct tcpmig_st_window, window_clamp),
		       &zero, sizeof(zero), "window clamp zero");
	v = htonl((65535U << o->rcv_wscale) + 1);
	import_patched("a receive window beyond its scale", b,
		       win + offsetof(struct tcpmig_st_window, rcv_wnd), &v,
		       sizeof(v), "larger than its scale allows");
	mss = htons(ntohs(o->advmss) + 1);
	import_patched("a receive MSS estimate above the MSS announced", b,
		       opt + offsetof(struct tcpmig_st_options, rcv_mss), &mss,
		       sizeof(mss), "above our MSS");
	v = htonl((ntohl(o->flags) & ~TCPMIG_OPT_ECN) | TCPMIG_OPT_ECN_SEEN);
	import_patched("ECN state without ECN negotiated", b,
		       opt + offsetof(struct tcpmig_st_options, flags), &v,
		       sizeof(v), "ECN state without ECN");
	tos = sk->tos | 1;	/* ECT(1) */
	import_patched("ECN bits in the TOS", b,
		       so + offsetof(struct tcpmig_st_sockopts, tos), &tos,
		       sizeof(tos), "ECN bits in the TOS");
	v = htonl(0xe0000001);	/* 224.0.0.1 */
	import_patched("a multicast peer", b,
		       tup + offsetof(struct capymig_tuple, remote_addr), &v,
		       sizeof(v), "invalid connection tuple");
}

/*
 * Larger than any blob may be, in many chunks: refused before anything
 * is parsed.  On a socket of its own, as the kernel's answer is large.
 */
static void import_oversized(void)
{
	const char *what = "a blob over TCPMIG_STATE_MAX";
	struct tcpmig_blob big = { calloc(1, TCPMIG_STATE_MAX + 8),
				   TCPMIG_STATE_MAX + 8 };
	struct tcp_counters before, after;
	struct tcpmig_nl nl;
	int err;

	err = big.data ? tcpmig_nl_open(&nl) : -ENOMEM;
	if (err) {
		tap_result(0, "%s: %s", what, strerror(-err));
		free(big.data);
		return;
	}
	blob_fix_len(&big);
	settle(&before);
	err = tcpmig_import(&nl, &big, NULL, NULL);
	tcp_counters_read(&after);
	tap_result(err == -EINVAL && strstr(nl.ext_msg, "too large"),
		   "%s: refused, %s \"%s\" (expected EINVAL /too large/)",
		   what, errname(err), nl.ext_msg);
	tap_result(!tcp_counters_sent(&before, &after),
		   "%s: nothing sent (%llu segments)", what,
		   (unsigned long long)tcp_counters_sent(&before, &after));
	tcpmig_nl_close(&nl);
	free(big.data);
}

/*
 * A connection with bytes in both queues of its server end, exported:
 * @p keeps its client and the exported server socket.  The server's bytes
 * stay unacknowledged: the client drops what it receives, so they are
 * sent and lost; or, with @zero_window, it has a small receive buffer and
 * reads nothing, so past its first few they are never sent.
 */
static int exported_pair(struct tcp_pair *p, uint32_t rq, uint32_t sq,
			 bool zero_window, struct tcpmig_blob *blob)
{
	const struct sock_opts small = { .rcvbuf = SMALL_RCVBUF };
	struct capymig_tuple t;
	double deadline = now_ms() + IO_TIMEOUT_MS;
	int err;

	err = tcp_pair_connect(p, listener, zero_window ? &small : NULL) ?:
	      tcp_pair_flow(p, FLOW, FLOW, IO_TIMEOUT_MS) ?:
	      tcp_end_write(&p->client, rq, IO_TIMEOUT_MS);
	/* All of it acknowledged, or the client would retransmit. */
	while (!err && (sock_inq(p->server.fd) != (int)rq ||
			sock_outq(p->client.fd))) {
		if (now_ms() > deadline)
			err = -ETIMEDOUT;
		poll(NULL, 0, 5);
	}
	err = err ?: (zero_window ? 0 : sock_drop_input(p->client.fd, true)) ?:
	      tcp_end_write(&p->server, sq, IO_TIMEOUT_MS) ?:
	      migrate_server_tuple(p->client.fd, &t) ?:
	      tcpmig_export(&host.nl, &t, 0, blob);
	if (err)
		tap_diag("exported connection: %s %s", strerror(-err),
			 host.nl.ext_msg);
	return err;
}

static void import_refusals(void)
{
	struct tcpmig_import_opts o = {};
	struct tcpmig_blob b, t, empty = {};
	struct capymig_tuple serve;
	struct tcp_counters before;
	struct tcp_pair v;
	int err, fd;

	if (exported_pair(&v, 100, 60, false, &b)) {
		tap_result(0, "a connection to import");
		tcp_pair_close(&v);
		return;
	}
	serve = *(struct capymig_tuple *)rec_value(&b, TCPMIG_ST_TUPLE);

	import_refused("an empty blob", &empty, NULL, EINVAL,
		       "STATE_CHUNK missing");
	import_truncated(&b);
	import_bad_header(&b);
	import_bad_records(&b);
	import_bad_seq(&b);
	import_bad_fields(&b);
	import_oversized();

	serve.local_port = htons(NO_PORT);
	o.serve = &serve;
	import_refused("import without a listener", &b, &o, ECONNREFUSED,
		       "no listener");
	serve.local_port = htons(PORT);
	serve.remote_port = htons(ntohs(serve.remote_port) + 1);
	import_refused("import changing the remote end", &b, &o, EINVAL,
		       "local end only");
	o = (struct tcpmig_import_opts) {
		.listener_cookie = sock_cookie(listener), .want_fd = 1,
	};
	import_refused("import as an fd for a listener", &b, &o, EINVAL,
		       "listener cookie");

	/* A newer writer's optional record is skipped, and all is there. */
	t = blob_add_rec(&b, TCPMIG_ST_OPTIONAL | 0x42, "capymig!", 8);
	settle(&before);
	err = tcpmig_import(&host.nl, &t, NULL, NULL);
	free(t.data);
	fd = err ? err : tcp_accept(listener, IO_TIMEOUT_MS);
	tap_result(fd >= 0, "an unknown optional record is skipped: imported "
		   "(%s \"%s\")", errname(err), host.nl.ext_msg);
	if (fd >= 0) {
		close(v.server.fd);
		v.server.fd = fd;
		sock_drop_input(v.client.fd, false);
		check_flows("the imported connection", &v, FLOW, FLOW, true);
		import_refused("the same blob imported again", &b, NULL, EEXIST,
			       "already exists");
		check_intact("the connection imported first", &v, FLOW, FLOW);
	}
	tcpmig_blob_free(&b);
	tcp_pair_close(&v);
}

/*
 * A blob larger than a page, imported as a descriptor, is read where it
 * lies in the requester's memory.  With one of its pages unreadable in
 * turn, whatever the page holds (records, unread bytes, unsent bytes,
 * which are sent only after the point of no return), the import is
 * refused with EFAULT and a reason before the connection is live, and
 * sends nothing.  Then the same blob, readable, imports, and the
 * connection delivers every byte.
 */
static void import_unreadable(void)
{
	const struct tcpmig_import_opts o = { .want_fd = 1 };
	long page = sysconf(_SC_PAGESIZE);
	struct tcpmig_import_result res;
	struct tcp_counters before, after;
	struct tcpmig_blob b, in;
	int unsent, refused = 0, noisy = 0, err;
	size_t pages, k;
	struct tcp_pair p;
	uint8_t *map;

	if (exported_pair(&p, UNREAD, UNACKED, true, &b)) {
		tap_result(0, "a connection with unsent bytes to import");
		tcp_pair_abort(&p);
		return;
	}
	if (ioctl(p.server.fd, SIOCOUTQNSD, &unsent))
		unsent = -errno;
	pages = (b.len + page - 1) / page;
	map = mmap(NULL, pages * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED || unsent <= 0 || b.len <= page) {
		tap_result(0, "a blob of %u B, %d B of it unsent, in %zu pages",
			   b.len, unsent, pages);
		goto out;
	}
	memcpy(map, b.data, b.len);
	in = (struct tcpmig_blob) { map, b.len };
	for (k = 0; k < pages; k++) {
		mprotect(map + k * page, page, PROT_NONE);
		settle(&before);
		err = tcpmig_import(&host.nl, &in, &o, &res);
		tcp_counters_read(&after);
		mprotect(map + k * page, page, PROT_READ | PROT_WRITE);
		if (!err) {
			tap_diag("page %zu unreadable: imported", k);
			close(res.fd);
			break;
		}
		if (err == -EFAULT && strstr(host.nl.ext_msg, "not readable"))
			refused++;
		else
			tap_diag("page %zu unreadable: %s \"%s\"", k,
				 errname(err), host.nl.ext_msg);
		noisy += !!tcp_counters_sent(&before, &after);
	}
	tap_result(refused == (int)pages, "a %u-byte blob (%d B unsent) with "
		   "one of its %zu pages unreadable: %d refused, EFAULT \"%s\"",
		   b.len, unsent, pages, refused, host.nl.ext_msg);
	tap_result(!noisy, "... and %d of those refusals sent anything", noisy);

	err = tcpmig_import(&host.nl, &in, &o, &res);
	tap_result(!err, "the blob readable: imported (%s \"%s\")",
		   errname(err), host.nl.ext_msg);
	if (!err) {
		close(p.server.fd);
		p.server.fd = res.fd;
		check_flows("the connection imported in place", &p, FLOW, FLOW,
			    true);
	}
out:
	if (map != MAP_FAILED)
		munmap(map, pages * page);
	tcpmig_blob_free(&b);
	tcp_pair_abort(&p);
}

/*
 * From TCP_REPAIR_OFF to its delivery, an imported connection is live and
 * hashed but nobody's yet: taken then, it would be exported without the
 * unsent bytes the import queues last, and the listener handed a socket
 * already detached.  A thread exports its tuple over and over while it is
 * imported into the listener, and until it is accepted, which only then
 * makes it the application's: every attempt must be refused, and the
 * connection come out whole.
 */
struct export_racer {
	struct tcpmig_nl nl;
	struct capymig_tuple tuple;
	atomic_bool stop;
	atomic_int attempts;
	int exported;
	cpu_set_t cpus;
};

static void *export_racer_run(void *arg)
{
	struct export_racer *r = arg;
	struct tcpmig_blob blob;

	while (!atomic_load(&r->stop)) {
		atomic_fetch_add(&r->attempts, 1);
		if (tcpmig_export(&r->nl, &r->tuple, 0, &blob))
			continue;
		r->exported++;
		tcpmig_blob_free(&blob);
	}
	return NULL;
}

/*
 * Keeps this thread on the CPU it runs on, and leaves the others of @all,
 * if any, in @others.
 */
static int racer_cpus(cpu_set_t *all, cpu_set_t *others)
{
	cpu_set_t one;
	int cpu = sched_getcpu();

	if (cpu < 0)
		return -1;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	*others = *all;
	CPU_CLR(cpu, others);
	return sched_setaffinity(0, sizeof(one), &one);
}

/* Imports @b under @r's fire; returns the accepted descriptor. */
static int import_raced(struct export_racer *r, const struct tcpmig_blob *b)
{
	pthread_attr_t attr;
	pthread_t thread;
	int err;

	r->tuple = *(struct capymig_tuple *)rec_value(b, TCPMIG_ST_TUPLE);
	atomic_store(&r->stop, false);
	err = -pthread_attr_init(&attr) ?:
	      -pthread_attr_setaffinity_np(&attr, sizeof(r->cpus), &r->cpus) ?:
	      -pthread_create(&thread, &attr, export_racer_run, r);
	pthread_attr_destroy(&attr);
	if (err)
		return err;
	/* Until it has tried once, the racer may not be running yet. */
	while (!atomic_load(&r->attempts))
		sched_yield();
	err = tcpmig_import(&host.nl, b, NULL, NULL);
	atomic_store(&r->stop, true);
	pthread_join(thread, NULL);
	return err ?: tcp_accept(listener, IO_TIMEOUT_MS);
}

static void export_while_importing(void)
{
	const char *what = "exports racing an import";
	struct export_racer r = {};
	struct tcpmig_blob b;
	struct tcp_pair p;
	int round, whole = 0, fd;
	cpu_set_t all;

	/*
	 * The import runs on the CPU it is asked from, the racer on the
	 * others: on one, it would run only where the import sleeps.
	 */
	if (tcpmig_nl_open(&r.nl) ||
	    sched_getaffinity(0, sizeof(all), &all)) {
		tap_result(0, "%s: a second netlink socket", what);
		return;
	}
	if (CPU_COUNT(&all) < 2) {
		tap_skip("not two CPUs to race on", "%s: exports refused",
			 what);
		tap_skip("not two CPUs to race on", "%s: connections "
			 "imported whole", what);
		tcpmig_nl_close(&r.nl);
		return;
	}
	if (racer_cpus(&all, &r.cpus)) {
		tap_result(0, "%s: the racer on another CPU", what);
		tcpmig_nl_close(&r.nl);
		return;
	}
	for (round = 0; round < RACE_ROUNDS; round++) {
		if (exported_pair(&p, UNREAD, UNACKED, true, &b)) {
			tcp_pair_abort(&p);
			break;
		}
		fd = import_raced(&r, &b);
		tcpmig_blob_free(&b);
		if (fd < 0) {
			tap_diag("round %d: import: %s \"%s\"", round,
				 errname(fd), host.nl.ext_msg);
			tcp_pair_abort(&p);
			continue;
		}
		close(p.server.fd);
		p.server.fd = fd;
		whole += !tcp_pair_flow(&p, FLOW, FLOW, IO_TIMEOUT_MS);
		tcp_pair_abort(&p);
	}
	sched_setaffinity(0, sizeof(all), &all);
	tap_result(!r.exported && r.attempts > RACE_ROUNDS, "%s: %d of %d "
		   "exports refused", what, r.attempts - r.exported,
		   r.attempts);
	tap_result(whole == RACE_ROUNDS, "%s: %d of %d connections imported "
		   "whole", what, whole, RACE_ROUNDS);
	tcpmig_nl_close(&r.nl);
}

/*
 * Two exports of one connection at once: one is refused for a reason of
 * its own (it names a buffer the kernel cannot write) over and over while
 * the other takes the connection.  The refused one must end only a hold
 * it started, never the one the exported connection needs: the client's
 * bytes sent before the import must wait for it, not meet the listener's
 * reset.
 */
struct refused_exporter {
	struct tcpmig_nl nl;
	struct capymig_tuple tuple;
	void *unwritable;
	atomic_bool stop;
	atomic_int attempts;
};

static int export_into(struct nlmsghdr *nlh, void *data)
{
	const struct refused_exporter *e = data;

	mnl_attr_put(nlh, TCPMIG_A_TUPLE, sizeof(e->tuple), &e->tuple);
	mnl_attr_put_u64(nlh, TCPMIG_A_STATE_BUF, (uintptr_t)e->unwritable);
	mnl_attr_put_u32(nlh, TCPMIG_A_STATE_LEN, UNREAD);
	return 0;
}

static void *refused_exporter_run(void *arg)
{
	struct refused_exporter *e = arg;

	while (!atomic_load(&e->stop)) {
		atomic_fetch_add(&e->attempts, 1);
		tcpmig_nl_call(&e->nl, TCPMIG_CMD_EXPORT, export_into, NULL,
			       e);
	}
	return NULL;
}

/* Exports @p's server end beside @e's refused exports, into @b. */
static int export_beside(struct refused_exporter *e, struct tcp_pair *p,
			 struct tcpmig_blob *b)
{
	pthread_t thread;
	int err;

	err = migrate_server_tuple(p->client.fd, &e->tuple);
	if (err)
		return err;
	atomic_store(&e->stop, false);
	atomic_store(&e->attempts, 0);
	err = -pthread_create(&thread, NULL, refused_exporter_run, e);
	if (err)
		return err;
	while (!atomic_load(&e->attempts))
		sched_yield();
	err = tcpmig_export(&host.nl, &e->tuple, 0, b);
	/* Once more after the export, in case it came last. */
	while (!err && atomic_load(&e->attempts) < 2)
		sched_yield();
	atomic_store(&e->stop, true);
	pthread_join(thread, NULL);
	return err;
}

static void export_concurrent(void)
{
	const char *what = "an export beside refused ones";
	struct refused_exporter e = {};
	int round, exported = 0, whole = 0, fd;
	struct tcpmig_blob b;
	struct tcp_pair p;

	e.unwritable = mmap(NULL, UNREAD, PROT_READ,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (e.unwritable == MAP_FAILED || tcpmig_nl_open(&e.nl)) {
		tap_result(0, "%s: a read-only buffer, a netlink socket", what);
		goto out;
	}
	for (round = 0; round < RACE_ROUNDS; round++) {
		if (!new_pair(what, &p, listener, NULL))
			break;
		fd = -1;
		if (!export_beside(&e, &p, &b)) {
			exported++;
			if (!tcp_end_write(&p.client, FLOW, IO_TIMEOUT_MS)) {
				poll(NULL, 0, QUIET_MS);
				fd = tcpmig_import(&host.nl, &b, NULL, NULL) ?:
				     tcp_accept(listener, IO_TIMEOUT_MS);
			}
			tcpmig_blob_free(&b);
		}
		if (fd >= 0) {
			close(p.server.fd);
			p.server.fd = fd;
			whole += !tcp_pair_flow(&p, FLOW, 0, IO_TIMEOUT_MS);
		}
		tcp_pair_abort(&p);
	}
	tap_result(exported == RACE_ROUNDS, "%s: exported %d times of %d",
		   what, exported, RACE_ROUNDS);
	tap_result(whole == RACE_ROUNDS, "%s: the client's bytes waited for "
		   "the import, %d connections of %d whole", what, whole,
		   RACE_ROUNDS);
out:
	if (e.unwritable != MAP_FAILED)
		munmap(e.unwritable, UNREAD);
	tcpmig_nl_close(&e.nl);
}

/* Deterministic: the same mutations on every run. */
static uint64_t rng = FUZZ_SEED;

static uint32_t rand32(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng >> 32;
}

/* One to three random changes: bits, bytes, values at field edges. */
static void mutate(uint8_t *d, uint32_t len)
{
	static const uint32_t edges[] = {
		0, 1, 0x7fffffff, 0x80000000, 0xffffffff,
	};
	int n = 1 + rand32() % 3;

	while (n--) {
		uint32_t r = rand32(), at = rand32() % len, v;

		switch (r % 4) {
		case 0:
			d[at] ^= 1 << (r >> 8) % 8;
			break;
		case 1:
			d[at] = r >> 8;
			break;
		case 2:
			d[at] = (r >> 8) & 1 ? 0xff : 0;
			break;
		default:
			at &= ~3U;
			v = htonl(edges[(r >> 8) % 5]);
			if (at + 4 <= len)
				memcpy(d + at, &v, 4);
		}
	}
}

struct fuzz_stats {
	int imported, refused, no_reason, noisy, insane;
	int by_errno[256];
	char first_noisy[TCPMIG_NL_EXT_MSG_MAX + 64], first_insane[80];
};

/*
 * An imported mutant must be a connection in its own right: established
 * (or already reset by whatever its mutated peer is) and holding the
 * receive queue its sequence numbers describe.  Then it goes, silently:
 * closed in repair mode.
 */
static void check_mutant(struct fuzz_stats *fs, int fd,
			 const struct tcpmig_blob *m, int i)
{
	const struct tcpmig_st_seq *s = rec_value(m, TCPMIG_ST_SEQ);
	int state = tcp_state(fd), inq = sock_inq(fd), on = TCP_REPAIR_ON;
	int want = ntohl(s->rcv_nxt) - ntohl(s->copied_seq);

	if (state != TCP_CLOSE && (state != TCP_ESTABLISHED || inq != want)) {
		if (!fs->insane++)
			snprintf(fs->first_insane, sizeof(fs->first_insane),
				 " (mutant %d: state %d, %d B unread for %d)",
				 i, state, inq, want);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on));
	close(fd);
}

/* What could have sent: every TCP socket of the namespace. */
static void show_sockets(void)
{
	char line[1024];
	FILE *f = popen("ss -tanoi 2>/dev/null", "r");

	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		tap_diag("ss: %s", line);
	}
	if (f)
		pclose(f);
}

static void fuzz_one(struct fuzz_stats *fs, const struct tcpmig_blob *m,
		     int i)
{
	const struct tcpmig_import_opts o = { .want_fd = 1 };
	struct tcpmig_import_result res;
	struct tcp_counters before, after;
	int err, tries;

	/*
	 * An earlier mutant's last segments may still be on their way:
	 * traffic during a refusal is only blamed on it if it happens again
	 * once the namespace is quiet (a refusal changes nothing, so the
	 * same blob is refused again).
	 */
	for (tries = 0; tries < 2; tries++) {
		if (tries)
			settle(&before);
		else
			tcp_counters_read(&before);
		err = tcpmig_import(&host.nl, m, &o, &res);
		tcp_counters_read(&after);
		if (!err || !tcp_counters_sent(&before, &after))
			break;
	}
	if (!err) {
		fs->imported++;
		check_mutant(fs, res.fd, m, i);
		return;
	}
	fs->refused++;
	fs->by_errno[-err & 0xff]++;
	if (!host.nl.ext_msg[0])
		fs->no_reason++;
	if (tries == 2 && !fs->noisy++) {
		snprintf(fs->first_noisy, sizeof(fs->first_noisy),
			 " (mutant %d: %s \"%s\", %llu segments)", i,
			 errname(err), host.nl.ext_msg, (unsigned long long)
			 tcp_counters_sent(&before, &after));
		show_sockets();
	}
}

static void import_fuzz(void)
{
	struct fuzz_stats fs = {};
	struct tcpmig_blob b, m;
	struct tcp_pair f;
	double start = now_ms();
	char hist[512] = "";
	size_t n = 0;
	int i;

	if (exported_pair(&f, 40, 24, false, &b)) {
		tap_result(0, "a connection to mutate");
		tcp_pair_abort(&f);
		return;
	}
	m = blob_dup(&b, 0);
	for (i = 0; i < FUZZ_RUNS; i++) {
		memcpy(m.data, b.data, b.len);
		mutate(m.data, m.len);
		fuzz_one(&fs, &m, i);
	}
	for (i = 0; i < 256; i++)
		if (fs.by_errno[i] && n < sizeof(hist))
			n += snprintf(hist + n, sizeof(hist) - n, " %s:%d",
				      strerrorname_np(i), fs.by_errno[i]);
	tap_diag("%d mutants of a %u-byte blob in %.1f s: %d imported, "
		 "%d refused:%s", FUZZ_RUNS, b.len, (now_ms() - start) / 1e3,
		 fs.imported, fs.refused, hist);
	tap_result(fs.imported + fs.refused == FUZZ_RUNS && !fs.no_reason,
		   "random mutants: each imported or refused with a reason "
		   "(%d without)", fs.no_reason);
	tap_result(!fs.noisy, "random mutants: no refusal sent anything "
		   "(%d did)%s", fs.noisy, fs.first_noisy);
	tap_result(!fs.insane, "random mutants: every import a sane "
		   "connection (%d not)%s", fs.insane, fs.first_insane);
	free(m.data);
	tcpmig_blob_free(&b);
	tcp_pair_abort(&f);
}

/* The namespace's TCP sockets in use, and the system's. */
struct sockstat {
	long inuse, orphan, alloc;
};

static int read_sockstat(struct sockstat *s)
{
	char line[256];
	FILE *f = fopen("/proc/thread-self/net/sockstat", "r");
	int found = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "TCP: inuse %ld orphan %ld tw %*d alloc %ld",
			   &s->inuse, &s->orphan, &s->alloc) == 3)
			found = 1;
	fclose(f);
	return found ? 0 : -ENOENT;
}

static bool sockstat_back(const struct sockstat *base, struct sockstat *now)
{
	double deadline = now_ms() + IO_TIMEOUT_MS;

	for (;;) {
		if (read_sockstat(now))
			return false;
		/*
		 * orphan and alloc are the system's: sockets an earlier test
		 * left closing may go meanwhile, never come.
		 */
		if (now->inuse == base->inuse && now->orphan <= base->orphan &&
		    now->alloc <= base->alloc)
			return true;
		if (now_ms() > deadline)
			return false;
		poll(NULL, 0, 20);
	}
}

int main(void)
{
	struct sockstat base, now;
	bool back;
	int err;

	/* A kernel that writes where it should not must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	tap_header();
	err = read_sockstat(&base) ?: migrate_host_open(&host, NULL);
	listener = err ?: tcp_listener(AF_INET, PORT, NULL);
	if (listener < 0) {
		tap_result(0, "setup: %s", strerror(-listener));
		return tap_done();
	}

	export_missing();
	export_not_accepted();
	export_refused_under_hold();
	export_half_closed();
	export_urgent();
	export_md5();
	export_ktls();
	export_mptcp();
	export_sockmap();
	export_repair();
	export_unimportable();
	import_refusals();
	import_unreadable();
	export_while_importing();
	export_concurrent();
	import_fuzz();

	close(listener);
	tcpmig_nl_close(&host.nl);
	back = sockstat_back(&base, &now);
	tap_result(back, "TCP sockets back to where they were: inuse %ld "
		   "(%ld), orphan %ld (%ld), alloc %ld (%ld)", now.inuse,
		   base.inuse, now.orphan, base.orphan, now.alloc, base.alloc);
	return tap_done();
}
