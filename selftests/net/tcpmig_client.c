// SPDX-License-Identifier: GPL-2.0
/*
 * tcpmig_client: the client of an unmodified server, whose one connection
 * is migrated between the server's two instances again and again.
 *
 *	tcpmig_client -P echo|http [-6] [-n MIGRATIONS] -a ADDR -p PORT
 *		      -N NS_A,NS_B,NS_CLIENT -g GW_A,GW_B [-f FILE]
 *
 * The servers run in namespaces A and B, both holding the service address
 * ADDR; this process connects from the client namespace through A, then
 * alternately moves the connection to the other server, two-phase (hold
 * at the target, point the client's route to ADDR at it, export, import
 * into the target's listener), and issues a request after each move.
 *
 * The migrations happen between requests: the servers keep each
 * request's state in userspace (an echo server the bytes it has read but
 * not yet written back, nginx its request parser and response buffers),
 * and only the kernel's part of the connection moves.  Between requests
 * there is none: an echo server has written everything back, a keep-alive
 * HTTP connection is idle.  The origin's server then fails to read with
 * ECONNABORTED and closes its side, which sends nothing; the target's
 * accepts the connection as a new one and answers the next request.
 * Every other request is sent while the connection is on its way, after
 * the route switch: it waits at the target, held, until the import.
 *
 * echo: each request is a block of a verifiable stream, of varying size,
 * that must come back intact.  http: each request is a GET of /FILE's
 * name; the answer must be a 200 with FILE's content as its body
 * (Content-Length) and keep the connection open, and its X-Server header
 * must name the server the connection was moved to ("A" or "B").
 *
 * The requests sent mid-move must have been held, no held packet dropped,
 * and the client namespace's TCP counters must show no reset and no
 * retransmission for a loss.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tcpmig.h"
#include "../lib/args.h"
#include "../lib/migrate.h"
#include "../lib/netns.h"
#include "../lib/stream.h"
#include "../lib/tap.h"
#include "../lib/tcp_counters.h"

/* Longest wait for one answer; the whole run takes seconds. */
#define IO_TIMEOUT_S	5
/*
 * The client's minimum retransmission timeout: a request sent mid-move
 * waits for the import unacknowledged, which in a busy emulated guest may
 * take longer than the usual 200 ms; a loss still shows, a second later.
 */
#define RTO_MIN_MS	1000
#define ECHO_MAX	16384
#define HEADERS_MAX	4096

enum proto { PROTO_ECHO, PROTO_HTTP };

static struct {
	enum proto proto;
	int family;
	int migrations;
	int port;
	const char *addr;
	const char *file;
	char *ns_names[3];	/* A, B, client */
	char *gw_names[2];
} opt = {
	.family = AF_INET,
	.migrations = 50,
};

/* What the requests compare the answers with. */
static struct {
	uint64_t echo_pos;	/* of the stream sent and echoed so far */
	uint8_t *body;		/* FILE's content */
	size_t body_len;
	char path[256];		/* "/" and FILE's name */
} expect;

static void usage(void)
{
	fprintf(stderr, "usage: tcpmig_client -P echo|http [-6] "
			"[-n MIGRATIONS] -a ADDR -p PORT "
			"-N NS_A,NS_B,NS_CLIENT -g GW_A,GW_B [-f FILE]\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "P:6n:a:p:N:g:f:")) != -1) {
		switch (c) {
		case 'P':
			if (!strcmp(optarg, "echo"))
				opt.proto = PROTO_ECHO;
			else if (!strcmp(optarg, "http"))
				opt.proto = PROTO_HTTP;
			else
				usage();
			break;
		case '6':
			opt.family = AF_INET6;
			break;
		case 'n':
			opt.migrations = atoi(optarg);
			break;
		case 'a':
			opt.addr = optarg;
			break;
		case 'p':
			opt.port = atoi(optarg);
			break;
		case 'N':
			if (split_list(optarg, opt.ns_names, 3))
				usage();
			break;
		case 'g':
			if (split_list(optarg, opt.gw_names, 2))
				usage();
			break;
		case 'f':
			opt.file = optarg;
			break;
		default:
			usage();
		}
	}
	if (!opt.addr || !opt.port || !opt.ns_names[0] || !opt.gw_names[0] ||
	    (opt.proto == PROTO_HTTP && !opt.file))
		usage();
}

static void die(const char *what)
{
	tap_result(0, "%s: %s", what, strerror(errno));
	exit(KSFT_FAIL);
}

static void load_body(void)
{
	struct stat st;
	char *copy;
	int fd;

	fd = open(opt.file, O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		die(opt.file);
	expect.body_len = st.st_size;
	expect.body = malloc(expect.body_len);
	if (!expect.body ||
	    read(fd, expect.body, expect.body_len) != (ssize_t)expect.body_len)
		die(opt.file);
	close(fd);
	copy = strdup(opt.file);
	snprintf(expect.path, sizeof(expect.path), "/%s", basename(copy));
	free(copy);
}

static int send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			tap_diag("send: %s", strerror(errno));
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

/* Reads some bytes; the socket's receive timeout bounds the wait. */
static ssize_t recv_some(int fd, void *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len, 0);

	if (n < 0)
		tap_diag("recv: %s", errno == EAGAIN ? "timed out" :
			 strerror(errno));
	else if (!n)
		tap_diag("recv: the server closed the connection");
	return n;
}

/* Request @i: a block of the stream, which must all come back. */
static size_t echo_len(int i)
{
	return 1 + (size_t)i * 4099 % ECHO_MAX;
}

static int echo_send(int fd, int i)
{
	uint8_t out[ECHO_MAX];

	stream_fill(1, expect.echo_pos, out, echo_len(i));
	return send_all(fd, out, echo_len(i));
}

static int echo_recv(int fd, int i, int server)
{
	size_t len = echo_len(i), got = 0, good;
	uint8_t in[ECHO_MAX];
	ssize_t n;

	while (got < len) {
		n = recv_some(fd, in + got, len - got);
		if (n <= 0)
			return -1;
		got += n;
	}
	good = stream_check(1, expect.echo_pos, in, len);
	if (good != len) {
		tap_diag("request %d: byte %zu of %zu echoed wrong", i, good,
			 len);
		return -1;
	}
	expect.echo_pos += len;
	return 0;
}

/* The value of header @name in @headers (NUL-terminated), or NULL. */
static const char *header(const char *headers, const char *name)
{
	size_t len = strlen(name);
	const char *line;

	for (line = headers; (line = strstr(line, "\r\n")); ) {
		line += 2;
		if (!strncasecmp(line, name, len) && line[len] == ':')
			return line + len + 1 + strspn(line + len + 1, " ");
	}
	return NULL;
}

/* Request @i: GET the file. */
static int http_send(int fd, int i)
{
	char req[512];

	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: capymig\r\n\r\n", expect.path);
	return send_all(fd, req, strlen(req));
}

/*
 * The answer must be a full 200 response with the file as its body, from
 * @server, keeping the connection open.
 */
static int http_recv(int fd, int i, int server)
{
	char head[HEADERS_MAX + 1];
	const char *cl, *from, *conn;
	size_t got = 0, body_len, have;
	uint8_t *body;
	char *end;
	ssize_t n;
	int ret = -1;

	/* The headers, and whatever part of the body came with them. */
	for (;;) {
		n = recv_some(fd, head + got, HEADERS_MAX - got);
		if (n <= 0)
			return -1;
		got += n;
		head[got] = '\0';
		end = strstr(head, "\r\n\r\n");
		if (end)
			break;
		if (got == HEADERS_MAX) {
			tap_diag("request %d: headers too long", i);
			return -1;
		}
	}
	*end = '\0';
	end += 4;
	cl = header(head, "Content-Length");
	from = header(head, "X-Server");
	conn = header(head, "Connection");
	if (strncmp(head, "HTTP/1.1 200 ", 13) || !cl) {
		tap_diag("request %d: answer without a 200 and a length: %.60s",
			 i, head);
		return -1;
	}
	if (conn && !strncasecmp(conn, "close", 5)) {
		tap_diag("request %d: the server closes the connection", i);
		return -1;
	}
	if (!from || *from != "AB"[server] || strcspn(from, "\r") != 1) {
		tap_diag("request %d: answered by %.*s, not %c", i,
			 from ? (int)strcspn(from, "\r") : 6,
			 from ? from : "nobody", "AB"[server]);
		return -1;
	}

	body_len = strtoul(cl, NULL, 10);
	have = head + got - end;
	if (have > body_len) {
		tap_diag("request %d: more than the body came", i);
		return -1;
	}
	body = malloc(body_len ?: 1);
	if (!body)
		return -1;
	memcpy(body, end, have);
	while (have < body_len) {
		n = recv_some(fd, body + have, body_len - have);
		if (n <= 0)
			goto out;
		have += n;
	}
	if (body_len != expect.body_len ||
	    memcmp(body, expect.body, body_len)) {
		tap_diag("request %d: wrong body (%zu bytes, %zu expected)", i,
			 body_len, expect.body_len);
		goto out;
	}
	ret = 0;
out:
	free(body);
	return ret;
}

static int request_send(int fd, int i)
{
	return opt.proto == PROTO_ECHO ? echo_send(fd, i) : http_send(fd, i);
}

static int request_recv(int fd, int i, int server)
{
	return opt.proto == PROTO_ECHO ? echo_recv(fd, i, server) :
					 http_recv(fd, i, server);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Connects from the client namespace to the service through @first. */
static int connect_service(struct migrate_route *route,
			   struct migrate_host *first)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	struct sockaddr_storage ss = {};
	struct sockaddr_in *sin = (void *)&ss;
	struct sockaddr_in6 *sin6 = (void *)&ss;
	socklen_t len;
	int prev, fd, err;

	if (opt.family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(opt.port);
		memcpy(&sin->sin_addr, route->dst, 4);
		len = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(opt.port);
		memcpy(&sin6->sin6_addr, route->dst, 16);
		len = sizeof(*sin6);
	}
	err = migrate_route_to(route, first);
	if (err) {
		errno = -err;
		die("route to the first server");
	}
	prev = netns_enter(route->client_ns);
	if (prev < 0)
		die("enter the client namespace");
	fd = socket(opt.family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		die("connect");
	netns_leave(prev);
	return fd;
}

static void read_counters(int netns, struct tcp_counters *c)
{
	int prev = netns_enter(netns);

	if (prev < 0 || tcp_counters_read(c))
		die("TCP counters");
	netns_leave(prev);
}

/* A tcpmig counter, summed over both servers. */
static uint64_t hosts_stat(struct migrate_host *hosts, enum tcpmig_stat stat)
{
	return migrate_host_stat(&hosts[0], stat) +
	       migrate_host_stat(&hosts[1], stat);
}

/*
 * Migration @i.  With @in_flight, request @i is sent between the phases,
 * while the connection is on its way: it reaches the target before the
 * connection does, is held there and handed to the connection by the
 * import.  The origin's server is idle all the same: it answered all it
 * was sent.
 */
static int move(int fd, int i, bool in_flight, struct migrate_host *from,
		struct migrate_host *to, const struct capymig_tuple *tuple,
		const struct migrate_route *route)
{
	char why[MIGRATE_WHY_LEN];

	if (migrate_prepare(to, tuple, route, why))
		goto failed;
	if (in_flight && request_send(fd, i))
		return -1;
	if (migrate_commit(from, to, tuple, NULL, why))
		goto failed;
	return 0;
failed:
	tap_diag("migration %d: %s", i, why);
	return -1;
}

int main(int argc, char **argv)
{
	struct migrate_host hosts[2];
	struct migrate_route route = {};
	struct tcp_counters before, after;
	struct capymig_tuple tuple;
	int fd, cur = 0, done = 0, served = 0, i, ret;
	uint64_t held, dropped;
	double start, took, total_us = 0, max_us = 0;

	parse_args(argc, argv);
	tap_plan(6);
	if (opt.proto == PROTO_HTTP)
		load_body();

	for (i = 0; i < 2; i++) {
		ret = migrate_host_open(&hosts[i], opt.ns_names[i]);
		if (ret) {
			errno = -ret;
			die(opt.ns_names[i]);
		}
		if (inet_pton(opt.family, opt.gw_names[i], hosts[i].gw) != 1)
			usage();
	}
	route.client_ns = netns_open(opt.ns_names[2]);
	route.family = opt.family;
	route.rto_min_ms = RTO_MIN_MS;
	if (route.client_ns < 0)
		die(opt.ns_names[2]);
	if (inet_pton(opt.family, opt.addr, route.dst) != 1)
		usage();

	read_counters(route.client_ns, &before);
	held = hosts_stat(hosts, TCPMIG_STAT_HELD_PACKETS);
	dropped = hosts_stat(hosts, TCPMIG_STAT_HOLD_EXPIRED) +
		  hosts_stat(hosts, TCPMIG_STAT_HOLD_OVERFLOWS);
	fd = connect_service(&route, &hosts[0]);
	ret = migrate_server_tuple(fd, &tuple);
	if (ret) {
		errno = -ret;
		die("tuple");
	}

	if (request_send(fd, 0) || request_recv(fd, 0, cur))
		goto out;
	served++;
	for (i = 1; i <= opt.migrations; i++) {
		/* Every other request is sent while its connection moves. */
		bool in_flight = i % 2 == 0;

		start = now_us();
		if (move(fd, i, in_flight, &hosts[cur], &hosts[1 - cur], &tuple,
			 &route))
			break;
		took = now_us() - start;
		total_us += took;
		if (took > max_us)
			max_us = took;
		cur = 1 - cur;
		done++;
		if ((!in_flight && request_send(fd, i)) ||
		    request_recv(fd, i, cur))
			break;
		served++;
	}
out:
	read_counters(route.client_ns, &after);
	held = hosts_stat(hosts, TCPMIG_STAT_HELD_PACKETS) - held;
	dropped = hosts_stat(hosts, TCPMIG_STAT_HOLD_EXPIRED) +
		  hosts_stat(hosts, TCPMIG_STAT_HOLD_OVERFLOWS) - dropped;
	close(fd);

	tap_result(done == opt.migrations, "%d of %d migrations done", done,
		   opt.migrations);
	tap_result(served == opt.migrations + 1,
		   "%d of %d requests answered right%s", served,
		   opt.migrations + 1, opt.proto == PROTO_HTTP ?
		   ", each by the server holding the connection" : "");
	tap_result(held >= (uint64_t)opt.migrations / 2,
		   "the %d requests sent mid-move were held for the "
		   "connection (%llu packets)", opt.migrations / 2,
		   (unsigned long long)held);
	tap_result(!dropped, "no held packet dropped, expired or beyond "
		   "bounds (%llu)", (unsigned long long)dropped);
	/* A reset received would have failed a request. */
	tap_result(tcp_counters_resets(&before, &after) == 0,
		   "no reset sent by the client (%llu)",
		   (unsigned long long)tcp_counters_resets(&before, &after));
	/* Requests held in transit may see their tail probed. */
	tap_result(tcp_counters_loss_retransmits(&before, &after) == 0,
		   "no retransmission for a loss (%llu; %llu loss probes)",
		   (unsigned long long)tcp_counters_loss_retransmits(&before,
								     &after),
		   (unsigned long long)(after.loss_probes -
					before.loss_probes));
	if (done)
		tap_diag("hold+route+export+import: mean %.1f us, max %.1f us",
			 total_us / done, max_us);
	return tap_exit_code();
}
