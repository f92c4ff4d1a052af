// SPDX-License-Identifier: GPL-2.0
/*
 * tcpmig_boundary: migrations through the switch at a request boundary
 * (TCPMIG_A_READ_SEQ): the connection moves only if its application has
 * read exactly up to the boundary, so it holds no half-read request.
 *
 *	tcpmig_boundary -a VIP -p PORT -N NS_A,NS_B,NS_CLIENT -g ADDR_A,ADDR_B
 *
 * This process is the client (in NS_CLIENT, connecting to VIP:PORT) and
 * the application of both servers (listening on PORT in NS_A and NS_B,
 * whose modules run TCPMig with the switch).  The client sends a request
 * of 100 bytes of a verifiable stream each time; then:
 *
 * 1. The server reads part of it, and MIGRATE names the boundary from
 *    before that read: refused at once with EAGAIN.
 * 2. MIGRATE names the right boundary, but the application reads before
 *    the export: the origin takes the target out of its pool until the
 *    read is done, so the PREPARE-ACK is dropped and only its
 *    retransmission lets the migration go on.  The check at the export
 *    withdraws it (ABORT): a "failed" event with EAGAIN.
 * 3. MIGRATE at the boundary to a target that is draining: it rejects
 *    the PREPARE (ESHUTDOWN), the connection stays.
 * 4. MIGRATE at the boundary (step 3's request still unread) while the
 *    server's application sleeps in a write for room in its send buffer
 *    (the client reads nothing): the rest of that write is in the
 *    application's memory, so refused at once with EAGAIN; the client
 *    then reads it all, intact.
 * 5. MIGRATE at the boundary, nothing read since: the connection moves,
 *    with the unread request, to the other server.
 *
 * After each step, an exchange both ways, verified byte by byte, shows
 * the connection serving on the server it should be on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcpmig.h"
#include "../lib/args.h"
#include "../lib/migrate.h"
#include "../lib/netns.h"
#include "../lib/stream.h"
#include "../lib/tap.h"

#define IO_TIMEOUT_S	5
#define REQUEST		100
#define EXCHANGE	4096
/* Far more than the client's window and a send buffer of SMALL_SNDBUF. */
#define BLOCKED_WRITE	(1 << 20)
#define SMALL_SNDBUF	65536

static struct {
	const char *vip;
	int port;
	char *ns_names[3];	/* A, B, client */
	char *addr_names[2];
} opt;

static struct migrate_host hosts[2];
static struct tcpmig_endpoint server_ep[2];
static int listeners[2];
static uint64_t up_pos, down_pos;	/* of the stream each way */

static void usage(void)
{
	fprintf(stderr, "usage: tcpmig_boundary -a VIP -p PORT "
			"-N NS_A,NS_B,NS_CLIENT -g ADDR_A,ADDR_B\n");
	exit(2);
}

static __attribute__((noreturn)) void die(const char *what)
{
	tap_result(0, "%s: %s", what, strerror(errno));
	exit(KSFT_FAIL);
}

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		die("socket timeouts");
}

/* A socket in namespace @netns: a listener on PORT, or a client. */
static int socket_in(int netns, bool listener)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET, .sin_port = htons(opt.port),
	};
	int prev = netns_enter(netns), fd, one = 1;

	if (prev < 0)
		die("enter a namespace");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	if (listener) {
		/*
		 * Earlier tests' connections to the port may be in TIME-WAIT:
		 * their listeners (tcpmig_stream's) had SO_REUSEPORT.
		 */
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
			       sizeof(one)) ||
		    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
		    listen(fd, 4))
			die("listen");
	} else {
		if (inet_pton(AF_INET, opt.vip, &sin.sin_addr) != 1)
			usage();
		set_timeouts(fd);
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)))
			die("connect");
	}
	netns_leave(prev);
	return fd;
}

/* The connection, from whichever listener has it; *@server says which. */
static int accept_either(int *server)
{
	struct pollfd pfd[2] = {
		{ .fd = listeners[0], .events = POLLIN },
		{ .fd = listeners[1], .events = POLLIN },
	};
	int fd;

	if (poll(pfd, 2, IO_TIMEOUT_S * 1000) <= 0) {
		errno = ETIMEDOUT;
		die("accept");
	}
	*server = pfd[0].revents ? 0 : 1;
	fd = accept(listeners[*server], NULL, NULL);
	if (fd < 0)
		die("accept");
	set_timeouts(fd);
	return fd;
}

static int send_stream(int fd, uint64_t seed, uint64_t pos, size_t len)
{
	uint8_t buf[EXCHANGE];

	stream_fill(seed, pos, buf, len);
	if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
		tap_diag("send: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Reads @len bytes of the stream at @pos, which must be intact. */
static int recv_stream(int fd, uint64_t seed, uint64_t pos, size_t len)
{
	uint8_t buf[EXCHANGE];
	ssize_t n = recv(fd, buf, len, MSG_WAITALL);

	if (n != (ssize_t)len) {
		tap_diag("recv: %s", n < 0 ? strerror(errno) : "short");
		return -1;
	}
	if (stream_check(seed, pos, buf, len) != len) {
		tap_diag("stream corrupted at %llu", (unsigned long long)pos);
		return -1;
	}
	return 0;
}

/* The server application reads @len bytes of the client's request. */
static int serve_read(int sfd, size_t len)
{
	static uint64_t read_pos;

	if (recv_stream(sfd, 1, read_pos, len))
		return -1;
	read_pos += len;
	return 0;
}

/* A request, all of it read, then an answer: both must arrive whole. */
static int exchange(int cfd, int sfd)
{
	if (send_stream(cfd, 1, up_pos, EXCHANGE) ||
	    serve_read(sfd, EXCHANGE) ||
	    send_stream(sfd, 2, down_pos, EXCHANGE) ||
	    recv_stream(cfd, 2, down_pos, EXCHANGE))
		return -1;
	up_pos += EXCHANGE;
	down_pos += EXCHANGE;
	return 0;
}

/* The client sends a request the server does not read yet. */
static int request(int cfd)
{
	if (send_stream(cfd, 1, up_pos, REQUEST))
		return -1;
	up_pos += REQUEST;
	return 0;
}

struct find_conn {
	struct capymig_tuple tuple;
	struct tcpmig_conn conn;
	bool found;
};

static int find_cb(const struct tcpmig_conn *c, void *arg)
{
	struct find_conn *f = arg;

	if (!memcmp(&c->tuple, &f->tuple, sizeof(f->tuple))) {
		f->conn = *c;
		f->found = true;
	}
	return 0;
}

/* The connection as LIST gives it now; not found if it is not there. */
static struct find_conn listed(struct migrate_host *h,
			       const struct capymig_tuple *t)
{
	struct find_conn f = { .tuple = *t };
	int err = tcpmig_list(&h->nl, opt.port, find_cb, &f);

	if (err) {
		errno = -err;
		die("list");
	}
	return f;
}

/* The connection's copied_seq, as LIST gives it, once @rqlen arrived. */
static uint32_t copied_seq(struct migrate_host *h,
			   const struct capymig_tuple *t, uint32_t rqlen)
{
	struct find_conn f;
	int i;

	for (i = 0; i < IO_TIMEOUT_S * 100; i++) {
		f = listed(h, t);
		if (f.found && f.conn.rqlen == rqlen)
			return f.conn.copied_seq;
		usleep(10000);
	}
	errno = ENOENT;
	die("the connection in LIST");
}

static uint64_t not_member(struct migrate_host *h)
{
	return migrate_host_stat(h, TCPMIG_STAT_MSG_NOT_MEMBER);
}

/* Step 2: the application reads while the migration waits. */
static int read_during(int cur, int sfd, const struct capymig_tuple *t,
		       uint32_t boundary, char *why)
{
	struct migrate_host *from = &hosts[cur];
	struct tcpmig_migrate_opts mo = {
		.target = &server_ep[1 - cur],
		.at_read_seq = 1, .read_seq = boundary,
	};
	__be32 target = server_ep[1 - cur].addr;
	uint64_t dropped = not_member(from);
	struct migrate_switch ms;
	int err, i;

	err = tcpmig_pool_del(&from->nl, target);
	if (err)
		return err;
	err = migrate_switch_start(&ms, from, t, &mo, why);
	if (err)
		return err;
	/* The PREPARE-ACK is dropped: the migration waits for it. */
	for (i = 0; i < IO_TIMEOUT_S * 1000 && not_member(from) == dropped;
	     i++)
		usleep(1000);
	err = serve_read(sfd, REQUEST);
	if (tcpmig_pool_add(&from->nl, target) || err)
		return -EIO;
	return migrate_switch_wait(&ms, why);
}

/* The server application's write of BLOCKED_WRITE bytes, in a thread. */
struct blocked_write {
	int fd;
	uint8_t *buf;
	ssize_t sent;
	bool done;
};

static void *write_all(void *arg)
{
	struct blocked_write *w = arg;

	w->sent = send(w->fd, w->buf, BLOCKED_WRITE, MSG_NOSIGNAL);
	__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* The connection's send queue (LIST's tqlen), which must be known. */
static uint32_t send_queue(struct migrate_host *h,
			   const struct capymig_tuple *t)
{
	struct find_conn f = listed(h, t);

	if (!f.found) {
		errno = ENOENT;
		die("the connection in LIST");
	}
	return f.conn.tqlen;
}

/*
 * Step 4: MIGRATE while a write sleeps for room; its result, the reason in
 * @why.  The client then reads what was written, which must be whole.
 */
static int write_during(int cur, int cfd, int sfd,
			const struct capymig_tuple *t,
			struct tcpmig_migrate_opts *mo, char *why)
{
	struct blocked_write w = { .fd = sfd, .buf = malloc(BLOCKED_WRITE) };
	int sndbuf = SMALL_SNDBUF, err, stable = 0, i;
	uint32_t queued = 0, now;
	pthread_t writer;
	size_t off;

	if (!w.buf ||
	    setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)))
		die("the server's send buffer");
	stream_fill(2, down_pos, w.buf, BLOCKED_WRITE);
	errno = pthread_create(&writer, NULL, write_all, &w);
	if (errno)
		die("writer thread");
	/* Asleep: the queue full and still, the write not returned. */
	for (i = 0; i < IO_TIMEOUT_S * 100 && stable < 10; i++) {
		usleep(10000);
		now = send_queue(&hosts[cur], t);
		stable = now && now == queued ? stable + 1 : 0;
		queued = now;
	}
	if (__atomic_load_n(&w.done, __ATOMIC_ACQUIRE))
		tap_diag("the write did not sleep: %zd sent", w.sent);
	mo->read_seq = copied_seq(&hosts[cur], t, REQUEST);
	err = migrate_via_switch(&hosts[cur], t, mo, why);
	for (off = 0; off < BLOCKED_WRITE; off += EXCHANGE)
		if (recv_stream(cfd, 2, down_pos + off, EXCHANGE))
			break;
	pthread_join(writer, NULL);
	free(w.buf);
	if (off < BLOCKED_WRITE || w.sent != BLOCKED_WRITE) {
		tap_diag("the client read %zu of %d bytes, the server sent "
			 "%zd", off, BLOCKED_WRITE, w.sent);
		return err ?: -EIO;
	}
	down_pos += BLOCKED_WRITE;
	return err;
}

static int set_draining(struct migrate_host *h, bool on)
{
	uint32_t flags = on ? TCPMIG_CONFIG_F_DRAINING : 0;
	struct tcpmig_config_set set = { .flags = &flags };

	return tcpmig_configure(&h->nl, &set);
}

int main(int argc, char **argv)
{
	struct tcpmig_migrate_opts mo = { .at_read_seq = 1 };
	struct capymig_tuple tuple;
	char why[MIGRATE_WHY_LEN];
	int cfd, sfd, cur, next, client_ns, c, i, err;
	uint32_t boundary;
	const struct topology_opts topology = {
		.vip = &opt.vip, .port = &opt.port,
		.ns_names = opt.ns_names, .namespaces = 3,
		.addr_names = opt.addr_names, .addrs = 2,
	};

	while ((c = getopt(argc, argv, "a:p:N:g:")) != -1)
		if (topology_opt(&topology, c, optarg) != 1)
			usage();
	if (!opt.vip || !opt.port || !opt.ns_names[0] || !opt.addr_names[0])
		usage();
	tap_plan(9);

	for (i = 0; i < 2; i++) {
		err = migrate_host_open(&hosts[i], opt.ns_names[i]);
		if (err) {
			errno = -err;
			die(opt.ns_names[i]);
		}
		if (inet_pton(AF_INET, opt.addr_names[i],
			      &server_ep[i].addr) != 1)
			usage();
		server_ep[i].port = htons(opt.port);
		listeners[i] = socket_in(hosts[i].netns, true);
	}
	client_ns = netns_open(opt.ns_names[2]);
	if (client_ns < 0)
		die(opt.ns_names[2]);
	cfd = socket_in(client_ns, false);
	sfd = accept_either(&cur);
	if (capymig_tuple_from_fd(sfd, &tuple))
		die("tuple");
	if (exchange(cfd, sfd))
		die("first exchange");

	/* 1. The boundary from before a partial read. */
	if (request(cfd))
		die("request");
	mo.read_seq = copied_seq(&hosts[cur], &tuple, REQUEST);
	mo.target = &server_ep[1 - cur];
	if (serve_read(sfd, REQUEST / 2))
		die("partial read");
	err = tcpmig_migrate_with(&hosts[cur].nl, &tuple, &mo, &boundary);
	tap_result(err == -EAGAIN, "MIGRATE past the boundary: EAGAIN at once "
		   "(%s: %s)", strerror(-err), hosts[cur].nl.ext_msg);
	tap_result(!serve_read(sfd, REQUEST - REQUEST / 2) &&
		   !exchange(cfd, sfd),
		   "... and the connection serves on, intact");

	/* 2. The application reads before the export. */
	if (request(cfd))
		die("request");
	boundary = copied_seq(&hosts[cur], &tuple, REQUEST);
	err = read_during(cur, sfd, &tuple, boundary, why);
	tap_result(err == -EAGAIN, "a read before the export withdraws the "
		   "migration: failed, EAGAIN (%s)", err ? why : "migrated");
	tap_result(!exchange(cfd, sfd),
		   "... and the connection serves on at the origin, intact");

	/* 3. A draining target refuses. */
	if (request(cfd))
		die("request");
	mo.read_seq = copied_seq(&hosts[cur], &tuple, REQUEST);
	err = set_draining(&hosts[1 - cur], true) ?:
	      migrate_via_switch(&hosts[cur], &tuple, &mo, why);
	tap_result(err == -ESHUTDOWN, "a draining target rejects the "
		   "PREPARE: ESHUTDOWN (%s)", err ? why : "migrated");
	if (set_draining(&hosts[1 - cur], false))
		die("config");

	/* 4. A write asleep for room: the rest is the application's. */
	err = write_during(cur, cfd, sfd, &tuple, &mo, why);
	tap_result(err == -EAGAIN && strstr(hosts[cur].nl.ext_msg,
					    "waits for room"),
		   "MIGRATE while a write sleeps for room: EAGAIN at once (%s)",
		   err ? hosts[cur].nl.ext_msg : "migrated");
	tap_result(err == -EAGAIN && !exchange(cfd, sfd),
		   "... the write whole at the client, the connection serving "
		   "on, intact");
	mo.read_seq = copied_seq(&hosts[cur], &tuple, REQUEST);

	/* 5. At the boundary: it moves, with the request unread. */
	err = migrate_via_switch(&hosts[cur], &tuple, &mo, why);
	tap_result(!err, "MIGRATE at the boundary moves the connection (%s)",
		   err ? why : "migrated");
	if (err)
		return tap_exit_code();
	close(sfd);
	sfd = accept_either(&next);
	tap_result(next == 1 - cur && !serve_read(sfd, REQUEST) &&
		   !exchange(cfd, sfd),
		   "the target's application reads the request and serves on");
	/* The client closes first: no TIME_WAIT on the servers' port. */
	close(cfd);
	close(sfd);
	return tap_exit_code();
}
