// SPDX-License-Identifier: GPL-2.0
/*
 * tcpmig_bench: the TCPMig benchmarks' measurements, made in the topology
 * tcpmig_bench.sh builds: a client, the software switch, servers A and B.
 *
 *	tcpmig_bench rtt|p99|drop -N NS_A,NS_B,NS_CLIENT -g ADDR_A,ADDR_B
 *		     -a VIP -p PORT [-n SAMPLES] [-q RATE,...] [-d SECONDS]
 *		     [-r ROUNDS] [-l LABEL]
 *
 * This process is the client and both servers' application, a thread in
 * each namespace.  The client connects to VIP:PORT, the switch places the
 * connection on A or B, and the servers move it between them with
 * TCPMig, each server's application cooperating: after it writes a
 * response, if a migration is due, it asks its module to MIGRATE its
 * connection to the other server, and reads that socket no more until
 * the outcome.  It holds nothing of the connection's in userspace then:
 * requests that arrive meanwhile stay in the kernel's queue and move with
 * it (or, past the switch's redirect, are held at the target).  After the
 * export the socket reports ECONNABORTED and is closed, and the other
 * server's application accepts the connection from its listener; after a
 * REJECTED or FAILED before the export, it goes on serving.
 *
 * Requests are REQ_LEN bytes, each answered with RESP_LEN bytes that
 * echo its number: every answer is checked to be the one to the request
 * just sent.
 *
 * rtt: migration_rtt_ratio.  SAMPLES times: one round trip of a UDP
 * datagram from A to B and back, through the switch like TCPMig's
 * messages; then one request, after whose response the server migrates
 * the idle connection.  The migration's time is from its origin module's
 * PREPARE_SENT event to its MIGRATED event (CONN-STATE-ACK received),
 * kernel timestamps.  The figure is the median migration over the median
 * round trip; beside it, its floor here (repair_sample()).  Everything
 * runs on one CPU, the one the process starts on (lib/cpu.h): a
 * migration's messages never cross CPUs (the module handles them on
 * workers bound to the CPU they came in on, and veth delivers on the
 * sender's), while a round trip between two threads
 * left to the scheduler crossed them or not, an inter-processor wake-up
 * each way that under emulation costs as much as the rest of the trip:
 * it took 274 to 539 us from one run to the next, and the figure with
 * it.
 *
 * p99: migration_p99_inflation.  An open-loop client, as Capybara's
 * evaluation has (its section 8): requests sent as a Poisson process of
 * RATE a second, whatever came back, so that a stalled connection counts
 * against every request it delays, not only the one it stalled.  At each
 * RATE (-q, a list), ROUNDS rounds of SECONDS each, alternately with the
 * servers migrating the connection every MIGRATE_EVERY_US and without; at
 * each rate, the 99th percentile of request latency with migrations over
 * that without, and the figure is the worst rate's.  A server migrates
 * the connection once it has had it that long, whatever the client is
 * doing then, as a policy would: it holds no part of a request between
 * two reads, so any moment between two requests it has read is one it
 * may move the connection at, with the next request on its way, queued,
 * or not sent yet.
 *
 * drop: buffered_vs_drop_p99.  The same with migrations, alternately with
 * the targets holding the packets that arrive between the switch's
 * redirect and the import (capymig) and with them dropping them
 * (TCPMIG_CONFIG_F_NO_HOLD, the Prism-style baseline); at each rate the
 * drop variant's p99 over capymig's, and the figure is the worst rate's
 * (the least).  Without the kernel's support for the flag the program
 * exits 1.
 *
 * Raw times are microseconds, marked with LABEL (tcg: emulated, only the
 * ratios mean anything).  Exits 1 if a request is answered wrong, goes
 * unanswered (but in the drop mode: see open_loop()), or a migration
 * loses the connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/genetlink.h>

#include "tcpmig.h"
#include "tuple.h"
#include "../lib/args.h"
#include "../lib/cpu.h"
#include "../lib/migrate.h"
#include "../lib/netns.h"
#include "../lib/poisson.h"
#include "../lib/tcp_counters.h"
#include "../lib/tcp_pair.h"
#include "repair_baseline.h"
#include "samples.h"

#define REQ_LEN			64
#define RESP_LEN		256
#define MIGRATE_EVERY_US	1000
#define ECHO_PORT		7121
/* rtt's loopback connection in A, moved with TCP_REPAIR from userspace. */
#define REPAIR_PORT		7122
#define PING_LEN		64
#define IO_TIMEOUT_MS		10000
#define IO_TIMEOUT_NS		(IO_TIMEOUT_MS * 1000000ULL)
/* Requests out at a time, at most: the open-loop client's ring. */
#define OUT_MAX			16384
/* Rates of requests a second, at most in a list; the fastest. */
#define RATES_MAX		8
#define RATE_MAX		100000
/* Rounds and samples not counted, first. */
#define WARMUP_SAMPLES		10
#define WARMUP_SECONDS		0.5
/*
 * Fewer migrations than this a second measured, a tenth of the intended
 * (one a millisecond; some 400 a second come through under TCG), and the
 * p99 figures would compare the baseline with itself.
 */
#define MIGRATIONS_PER_S_MIN	100
/* Completed migrations, in percent of those asked for rtt's median. */
#define RTT_COMPLETED_MIN_PCT	95

enum kind { RTT, P99, DROP };

/* How the servers move the connection in a round of requests. */
enum mode { STILL, HOLD, NO_HOLD, NR_MODES };

static const char *const mode_name[NR_MODES] = {
	"no migration", "capymig (held)", "drop (NO_HOLD)",
};

/* The origin's events of a migration, in order. */
enum phase { PREPARE_SENT, PREPARE_ACKED, STATE_SENT, MIGRATED, NR_PHASES };

static const char *const phase_name[NR_PHASES - 1] = {
	"PREPARE sent to PREPARE-ACK received (a round trip via the switch)",
	"PREPARE-ACK to CONN-STATE sent (the export)",
	"CONN-STATE sent to its ACK received (a round trip and the import)",
};

struct server {
	int id;				/* 0: A, 1: B */
	struct migrate_host host;	/* its socket: this thread's */
	struct tcpmig_nl config;	/* the main thread's */
	struct tcpmig_nl events;
	struct tcpmig_endpoint ep;	/* where it serves */
	int listener;
	pthread_t thread;

	/* The connection, while it is here. */
	int fd;
	struct capymig_tuple tuple;
	uint64_t since_ns;		/* arrived, or last answered a move */
	size_t have;			/* bytes of the request read */
	uint8_t req[REQ_LEN];
	bool migrating;			/* not reading: a MIGRATE is out */
	bool answered;			/* a response since it arrived */
	uint32_t migration_id;
	uint64_t at[NR_PHASES];		/* its events' times, by phase */
};

static struct {
	enum kind kind;
	int samples, rounds;
	double rates[RATES_MAX];	/* requests a second */
	int nr_rates;
	double seconds;
	int port;
	const char *label;
	char *ns_names[3];		/* A, B, client */
	char *addr_names[2];
	const char *vip;
} opt = {
	.samples = 300, .rounds = 4, .seconds = 3,
	.rates = { 100, 250, 500 }, .nr_rates = 3,
};

static struct server servers[2];
static enum mode cur_mode;

/*
 * What the server threads are told and tell: migrate the connection when
 * it has been here this long (ns; -1: never), between two requests; how
 * many migrations are out; their outcomes.
 */
static _Atomic int64_t migrate_after_ns = -1;
static atomic_int in_flight;
static atomic_int migrated, rejected, failed, not_aborted;
/* Why the last migration was refused (a positive errno), as a diagnostic. */
static atomic_int rejected_why;
static atomic_bool lost, stopping;
/*
 * The client's port of the connection in use (host order).  A drop round
 * may stall its connection for good; the client then leaves it for a new
 * one, and a server closes a connection from another port, once no
 * migration of it is out.
 */
static atomic_int client_port;
/* Written once per outcome: the main thread waits for migrations. */
static int outcome_fd;
/*
 * The migrations' times, whole and by phase, while recording: rtt's
 * samples, and the held rounds' of p99 and drop, as diagnostics.
 */
static pthread_mutex_t times_lock = PTHREAD_MUTEX_INITIALIZER;
static struct samples times, phase_times[NR_PHASES - 1];
static size_t times_room;
static bool recording;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static struct samples samples_alloc(size_t n)
{
	struct samples s = { .us = calloc(n, sizeof(double)) };

	if (!s.us)
		die("out of memory");
	return s;
}

static void report(const char *what, struct samples *s)
{
	double med = samples_percentile(s, 50);

	printf("# %s: %zu samples, median %.1f us, p99 %.1f us, max %.1f us"
	       "%s%s\n", what, s->n, med, samples_percentile(s, 99),
	       s->us[s->n - 1], opt.label ? ", " : "",
	       opt.label ? opt.label : "");
}

static void times_alloc(size_t n)
{
	int i;

	times = samples_alloc(n);
	for (i = 0; i < NR_PHASES - 1; i++)
		phase_times[i] = samples_alloc(n);
	times_room = n;
}

static void set_recording(bool on)
{
	pthread_mutex_lock(&times_lock);
	recording = on;
	pthread_mutex_unlock(&times_lock);
}

static void times_report(void)
{
	int i;

	report("migration, PREPARE sent to CONN-STATE-ACK received", &times);
	for (i = 0; i < NR_PHASES - 1; i++)
		report(phase_name[i], &phase_times[i]);
}

static void usage(void)
{
	fprintf(stderr, "usage: tcpmig_bench rtt|p99|drop "
			"-N NS_A,NS_B,NS_CLIENT -g ADDR_A,ADDR_B -a VIP -p PORT\n"
			"                    [-n SAMPLES] [-q RATE,...] "
			"[-d SECONDS] [-r ROUNDS] [-l LABEL]\n");
	exit(2);
}

/* -q: the list of rates; false if it is not one. */
static bool parse_rates(char *arg)
{
	char *rates[RATES_MAX];
	int i;

	opt.nr_rates = split_list_max(arg, rates, RATES_MAX);
	for (i = 0; i < opt.nr_rates; i++) {
		opt.rates[i] = atof(rates[i]);
		if (opt.rates[i] <= 0 || opt.rates[i] > RATE_MAX)
			return false;
	}
	return opt.nr_rates > 0;
}

static void parse_args(int argc, char **argv)
{
	const struct topology_opts topology = {
		.vip = &opt.vip, .port = &opt.port,
		.ns_names = opt.ns_names, .namespaces = 3,
		.addr_names = opt.addr_names, .addrs = 2,
	};
	int c;

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "rtt"))
		opt.kind = RTT;
	else if (!strcmp(argv[1], "p99"))
		opt.kind = P99;
	else if (!strcmp(argv[1], "drop"))
		opt.kind = DROP;
	else
		usage();
	optind = 2;
	while ((c = getopt(argc, argv, "N:g:a:p:n:q:d:r:l:")) != -1) {
		switch (topology_opt(&topology, c, optarg)) {
		case 1:
			continue;
		case -1:
			usage();
		}
		switch (c) {
		case 'n':
			opt.samples = atoi(optarg);
			break;
		case 'q':
			if (!parse_rates(optarg))
				usage();
			break;
		case 'd':
			opt.seconds = atof(optarg);
			break;
		case 'r':
			opt.rounds = atoi(optarg);
			break;
		case 'l':
			opt.label = optarg;
			break;
		default:
			usage();
		}
	}
	if (!opt.ns_names[2] || !opt.addr_names[1] || !opt.vip ||
	    opt.port <= 0 || opt.samples < 1 || opt.rounds < 1 ||
	    opt.seconds <= 0 || opt.seconds > 60)
		usage();
}

static struct sockaddr_in sockaddr_of(const char *addr, int port)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
	};

	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		usage();
	return sin;
}

/* Whether @fd is readable by @deadline_ns (CLOCK_MONOTONIC). */
static bool readable_by(int fd, uint64_t deadline_ns)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t now = now_ns(), wait = deadline_ns > now ?
					deadline_ns - now : 0;
	struct timespec timeout = {
		.tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000,
	};

	return ppoll(&pfd, 1, &timeout, NULL) == 1;
}

/* Whether @fd is readable within IO_TIMEOUT_MS. */
static bool readable_soon(int fd)
{
	return readable_by(fd, now_ns() + IO_TIMEOUT_NS);
}

static void signal_outcome(void)
{
	uint64_t one = 1;

	atomic_fetch_sub(&in_flight, 1);
	if (write(outcome_fd, &one, sizeof(one)) != sizeof(one))
		atomic_store(&lost, true);
}

/* --- the servers' application ------------------------------------------ */

/* The connection left with the export: the socket must say so. */
static void conn_gone(struct server *s)
{
	char byte;

	if (recv(s->fd, &byte, 1, MSG_DONTWAIT) >= 0 || errno != ECONNABORTED)
		atomic_fetch_add(&not_aborted, 1);
	close(s->fd);
	s->fd = -1;
}

/* Records a completed migration's times, when they are wanted. */
static void record(const uint64_t *at)
{
	int i;

	pthread_mutex_lock(&times_lock);
	if (recording && times.n < times_room && at[PREPARE_SENT] &&
	    at[PREPARE_ACKED] && at[STATE_SENT]) {
		samples_add(&times, (at[MIGRATED] - at[PREPARE_SENT]) / 1e3);
		for (i = 0; i < NR_PHASES - 1; i++)
			samples_add(&phase_times[i], (at[i + 1] - at[i]) / 1e3);
	}
	pthread_mutex_unlock(&times_lock);
}

static void on_event(struct server *s, const struct tcpmig_notification *ev)
{
	char byte;

	if (!s->migrating || ev->migration_id != s->migration_id)
		return;
	switch (ev->type) {
	case TCPMIG_EVENT_PREPARE_SENT:
		s->at[PREPARE_SENT] = ev->timestamp_ns;
		return;
	case TCPMIG_EVENT_PREPARE_ACKED:
		s->at[PREPARE_ACKED] = ev->timestamp_ns;
		return;
	case TCPMIG_EVENT_STATE_SENT:
		s->at[STATE_SENT] = ev->timestamp_ns;
		return;
	case TCPMIG_EVENT_MIGRATED:
		s->at[MIGRATED] = ev->timestamp_ns;
		record(s->at);
		conn_gone(s);
		atomic_fetch_add(&migrated, 1);
		break;
	case TCPMIG_EVENT_REJECTED:
		atomic_store(&rejected_why, ev->error);
		atomic_fetch_add(&rejected, 1);
		break;
	case TCPMIG_EVENT_FAILED:
		atomic_fetch_add(&failed, 1);
		/* After the export, the connection is lost. */
		if (recv(s->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
		    errno == ECONNABORTED) {
			atomic_store(&lost, true);
			conn_gone(s);
		}
		break;
	default:
		return;
	}
	s->migrating = false;
	s->since_ns = now_ns();
	signal_outcome();
}

static int server_event(const struct tcpmig_notification *ev, void *arg)
{
	on_event(arg, ev);
	return 0;
}

static void read_events(struct server *s)
{
	int err = tcpmig_read_events(&s->events, 0, server_event, s);

	if (err)
		die("server %c: events: %s", "AB"[s->id], strerror(-err));
}

/*
 * ns until @s's connection is due to move, 0 if it is, -1 if it is not
 * to.  rtt moves it after each response, so that each migration follows
 * one request; p99 and drop as soon as it is due and holds no part of a
 * request, whatever the client is doing.
 */
static int64_t until_due(const struct server *s)
{
	int64_t after = atomic_load(&migrate_after_ns), here;

	if (after < 0 || s->fd < 0 || s->migrating || s->have ||
	    (opt.kind == RTT && !s->answered))
		return -1;
	here = now_ns() - s->since_ns;
	return here >= after ? 0 : after - here;
}

static void maybe_migrate(struct server *s)
{
	int err;

	if (until_due(s))
		return;
	memset(s->at, 0, sizeof(s->at));
	atomic_fetch_add(&in_flight, 1);
	err = tcpmig_migrate(&s->host.nl, &s->tuple, &servers[!s->id].ep,
			     &s->migration_id);
	if (err) {
		atomic_store(&rejected_why, -err);
		atomic_fetch_add(&rejected, 1);
		signal_outcome();
		return;
	}
	s->migrating = true;
	s->answered = false;
}

static bool left_by_client(const struct capymig_tuple *t)
{
	return ntohs(t->remote_port) != atomic_load(&client_port);
}

/* Closes @s's connection if the client left it. */
static void close_left(struct server *s)
{
	if (s->fd >= 0 && !s->migrating && left_by_client(&s->tuple)) {
		close(s->fd);
		s->fd = -1;
	}
}

/* Reads the request; when it is whole, answers it, and maybe migrates. */
static void serve(struct server *s)
{
	uint8_t resp[RESP_LEN] = { 0 };
	ssize_t n;

	n = recv(s->fd, s->req + s->have, REQ_LEN - s->have, MSG_DONTWAIT);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		/* The client hung up: the end of the run, or it left. */
		close(s->fd);
		s->fd = -1;
		return;
	}
	s->have += n;
	if (s->have < REQ_LEN)
		return;
	s->have = 0;
	memcpy(resp, s->req, sizeof(uint64_t));
	/* Waits for room: requests held up come in a burst. */
	if (send(s->fd, resp, sizeof(resp), MSG_NOSIGNAL) != sizeof(resp)) {
		if (!left_by_client(&s->tuple))
			die("server %c: send: %s", "AB"[s->id],
			    strerror(errno));
		close_left(s);
		return;
	}
	s->answered = true;
}

static void accept_conn(struct server *s)
{
	int fd = accept(s->listener, NULL, NULL), one = 1, err;
	struct capymig_tuple tuple;

	if (fd < 0)
		return;
	err = capymig_tuple_from_fd(fd, &tuple);
	/*
	 * One the client left, come back with a migration; or reset by it
	 * already, which only a connection it left is.
	 */
	if (err == -ENOTCONN || (!err && left_by_client(&tuple))) {
		close(fd);
		return;
	}
	if (err || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		die("server %c: accepted connection: %s", "AB"[s->id],
		    strerror(err ? -err : errno));
	if (s->fd >= 0)
		die("server %c: a second connection", "AB"[s->id]);
	s->tuple = tuple;
	s->fd = fd;
	s->have = 0;
	s->answered = false;
	s->since_ns = now_ns();
}

static void *server_thread(void *arg)
{
	struct server *s = arg;
	struct pollfd pfd[3];
	struct timespec timeout;
	int64_t due;

	while (!atomic_load(&stopping)) {
		close_left(s);
		/* A connection that comes while one migrates waits for it. */
		pfd[0] = (struct pollfd){
			.fd = s->migrating ? -1 : s->listener, .events = POLLIN,
		};
		pfd[1] = (struct pollfd){
			.fd = mnl_socket_get_fd(s->events.sock),
			.events = POLLIN,
		};
		pfd[2] = (struct pollfd){
			.fd = s->migrating ? -1 : s->fd, .events = POLLIN,
		};
		/* At most 100 ms, to see migrate_after_ns and stopping. */
		due = until_due(s);
		if (due < 0 || due > 100000000)
			due = 100000000;
		timeout = (struct timespec){ .tv_sec = 0, .tv_nsec = due };
		if (ppoll(pfd, 3, &timeout, NULL) < 0)
			continue;
		if (pfd[1].revents)
			read_events(s);
		if (pfd[0].revents)
			accept_conn(s);
		if (s->fd >= 0 && !s->migrating && pfd[2].revents)
			serve(s);
		maybe_migrate(s);
	}
	return NULL;
}

/* A socket of @s's namespace, made by @make. */
static void in_namespace(struct server *s, void (*make)(struct server *s))
{
	int prev = netns_enter(s->host.netns);

	if (prev < 0)
		die("server %c: namespace: %s", "AB"[s->id], strerror(errno));
	make(s);
	netns_leave(prev);
}

static void make_server_sockets(struct server *s)
{
	struct sockaddr_in sin = sockaddr_of(opt.addr_names[s->id], opt.port);
	int one = 1, rcvbuf = 4 << 20;

	s->listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s->listener < 0 ||
	    setsockopt(s->listener, SOL_SOCKET, SO_REUSEADDR, &one,
		       sizeof(one)) ||
	    bind(s->listener, (struct sockaddr *)&sin, sizeof(sin)) ||
	    listen(s->listener, 16))
		die("server %c: listener: %s", "AB"[s->id], strerror(errno));
	/* A burst of events must not overflow while the thread serves. */
	if (tcpmig_nl_open(&s->events) || tcpmig_nl_open(&s->config) ||
	    tcpmig_join_events(&s->events) ||
	    setsockopt(mnl_socket_get_fd(s->events.sock), SOL_SOCKET,
		       SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		die("server %c: tcpmig sockets", "AB"[s->id]);
	s->ep.addr = sin.sin_addr.s_addr;
	s->ep.port = sin.sin_port;
}

static void servers_start(void)
{
	int i, err;

	for (i = 0; i < 2; i++) {
		struct server *s = &servers[i];

		s->id = i;
		s->fd = -1;
		err = migrate_host_open(&s->host, opt.ns_names[i]);
		if (err)
			die("%s: %s", opt.ns_names[i], strerror(-err));
		in_namespace(s, make_server_sockets);
	}
	outcome_fd = eventfd(0, EFD_CLOEXEC);
	if (outcome_fd < 0)
		die("eventfd: %s", strerror(errno));
	for (i = 0; i < 2; i++)
		if (pthread_create(&servers[i].thread, NULL, server_thread,
				   &servers[i]))
			die("thread: %s", strerror(errno));
}

static void servers_stop(void)
{
	int i;

	atomic_store(&stopping, true);
	for (i = 0; i < 2; i++)
		pthread_join(servers[i].thread, NULL);
}

/* Waits for the next migration's outcome. */
static void wait_outcome(void)
{
	uint64_t n;

	if (!readable_soon(outcome_fd) ||
	    read(outcome_fd, &n, sizeof(n)) != sizeof(n))
		die("no migration outcome within %d ms", IO_TIMEOUT_MS);
}

/* Stops the migrations, and waits until none is out. */
static void migrations_stop(void)
{
	atomic_store(&migrate_after_ns, -1);
	while (atomic_load(&in_flight))
		wait_outcome();
}

/* --- the client ---------------------------------------------------------- */

struct client {
	int netns;
	int fd;
	uint64_t sent, answered;	/* requests so far */
	uint64_t sent_ns[OUT_MAX];	/* when each request out was sent */
	unsigned short seed[3];		/* of the arrivals */
};

/* A new connection to the service; its port is published first. */
static void client_connect(struct client *c)
{
	struct sockaddr_in vip = sockaddr_of(opt.vip, opt.port);
	struct sockaddr_in local = { .sin_family = AF_INET };
	socklen_t len = sizeof(local);
	int prev = netns_enter(c->netns), one = 1;

	if (prev < 0)
		die("client namespace: %s", strerror(errno));
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0 ||
	    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    bind(c->fd, (struct sockaddr *)&local, sizeof(local)) ||
	    getsockname(c->fd, (struct sockaddr *)&local, &len))
		die("client socket: %s", strerror(errno));
	atomic_store(&client_port, ntohs(local.sin_port));
	if (connect(c->fd, (struct sockaddr *)&vip, sizeof(vip)))
		die("connect to %s:%d: %s", opt.vip, opt.port,
		    strerror(errno));
	netns_leave(prev);
	c->sent = c->answered = 0;
}

/* Leaves the connection for a new one: a reset, so nothing lingers. */
static void client_reconnect(struct client *c)
{
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	close(c->fd);
	client_connect(c);
}

/*
 * The next request.  Its latency counts from before its send(), which may
 * wait for room in the socket's buffer while the connection is stalled.
 */
static void send_request(struct client *c)
{
	uint8_t req[REQ_LEN] = { 0 };

	memcpy(req, &c->sent, sizeof(c->sent));
	c->sent_ns[c->sent % OUT_MAX] = now_ns();
	if (send(c->fd, req, sizeof(req), MSG_NOSIGNAL) != sizeof(req))
		die("request %llu: send: %s (%s)", (unsigned long long)c->sent,
		    strerror(errno), mode_name[cur_mode]);
	c->sent++;
}

/* The answer to the oldest request out; returns its latency in us. */
static double answer(struct client *c)
{
	uint8_t resp[RESP_LEN];
	size_t got = 0;
	uint64_t num;
	ssize_t n;

	while (got < sizeof(resp)) {
		if (!readable_soon(c->fd))
			die("request %llu: no answer within %d ms (%s)",
			    (unsigned long long)c->answered, IO_TIMEOUT_MS,
			    mode_name[cur_mode]);
		n = recv(c->fd, resp + got, sizeof(resp) - got, MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n <= 0)
			die("request %llu: %s (%s)",
			    (unsigned long long)c->answered,
			    n ? strerror(errno) : "connection closed",
			    mode_name[cur_mode]);
		got += n;
	}
	memcpy(&num, resp, sizeof(num));
	if (num != c->answered)
		die("request %llu answered as %llu",
		    (unsigned long long)c->answered, (unsigned long long)num);
	if (atomic_load(&lost))
		die("a migration lost the connection");
	return (now_ns() - c->sent_ns[c->answered++ % OUT_MAX]) / 1e3;
}

static double request(struct client *c)
{
	send_request(c);
	return answer(c);
}

/* --- rtt ----------------------------------------------------------------- */

static int echo_sock;

static void make_echo_socket(struct server *s)
{
	struct sockaddr_in sin = sockaddr_of(opt.addr_names[s->id], ECHO_PORT);

	echo_sock = socket(AF_INET, SOCK_DGRAM, 0);
	if (echo_sock < 0 || bind(echo_sock, (struct sockaddr *)&sin,
				  sizeof(sin)))
		die("echo socket: %s", strerror(errno));
}

static int ping_sock;

static void make_ping_socket(struct server *s)
{
	struct sockaddr_in to = sockaddr_of(opt.addr_names[1], ECHO_PORT);

	ping_sock = socket(AF_INET, SOCK_DGRAM, 0);
	if (ping_sock < 0 || connect(ping_sock, (struct sockaddr *)&to,
				     sizeof(to)))
		die("ping socket: %s", strerror(errno));
}

/* B's side of the ping-pong: every datagram goes back where it came from. */
static void *echo_thread(void *arg)
{
	struct sockaddr_in from;
	socklen_t len = sizeof(from);
	char buf[PING_LEN];
	ssize_t n;

	for (;;) {
		n = recvfrom(echo_sock, buf, sizeof(buf), 0,
			     (struct sockaddr *)&from, &len);
		if (n > 0)
			sendto(echo_sock, buf, n, 0, (struct sockaddr *)&from,
			       len);
	}
	return NULL;
}

/* One UDP round trip between A and B, through the switch. */
static double ping(void)
{
	char buf[PING_LEN] = { 0 };
	uint64_t start = now_ns();

	if (send(ping_sock, buf, sizeof(buf), 0) != sizeof(buf) ||
	    !readable_soon(ping_sock) ||
	    recv(ping_sock, buf, sizeof(buf), 0) != sizeof(buf))
		die("ping: %s", errno ? strerror(errno) : "timed out");
	return (now_ns() - start) / 1e3;
}

/*
 * What the kernel itself spends taking an idle connection apart and
 * building it again, without TCPMig: CRIU's TCP_REPAIR dump and restore
 * from userspace (repair_baseline.c), of a loopback connection in A, timed
 * after the round trips and the migrations: interleaved with them, its
 * connection's timers went off in their loop, and moved the figure (3.49
 * to 3.24 and 3.31, both medians longer).  Two round trips and that are
 * what a migration would take with no protocol work beyond the messages,
 * and an export and import no dearer than the syscall path's: the
 * figure's floor on this machine, printed beside it.  Each restored
 * connection must carry a byte each way, untimed.
 */
static struct tcp_pair repair_pair;
static struct samples repairs;

static void make_repair_pair(struct server *s)
{
	int listener = tcp_listener(AF_INET, REPAIR_PORT, NULL);

	if (listener < 0 || tcp_pair_connect(&repair_pair, listener, NULL))
		die("repair baseline: no loopback connection in A");
	close(listener);
}

static void repair_sample(struct server *s)
{
	struct repair_image img;
	uint64_t start = now_ns();
	int fd, err;

	err = repair_dump(repair_pair.server.fd, &img);
	if (err)
		die("repair baseline: dump: %s", strerror(-err));
	fd = repair_restore(&img);
	if (recording)
		samples_add(&repairs, (now_ns() - start) / 1e3);
	repair_image_free(&img);
	if (fd < 0)
		die("repair baseline: restore: %s", strerror(-fd));
	repair_pair.server.fd = fd;
	err = tcp_pair_flow(&repair_pair, 1, 1, IO_TIMEOUT_MS);
	if (err)
		die("repair baseline: restored connection: %s", strerror(-err));
}

static int bench_rtt(struct client *c)
{
	struct samples rtts = samples_alloc(opt.samples);
	double rtt;
	pthread_t echo;
	int i;

	repairs = samples_alloc(opt.samples);
	in_namespace(&servers[1], make_echo_socket);
	in_namespace(&servers[0], make_ping_socket);
	in_namespace(&servers[0], make_repair_pair);
	if (pthread_create(&echo, NULL, echo_thread, NULL))
		die("thread: %s", strerror(errno));
	times_alloc(opt.samples);
	/* A migration after every response. */
	atomic_store(&migrate_after_ns, 0);
	for (i = 0; i < WARMUP_SAMPLES + opt.samples; i++) {
		set_recording(i >= WARMUP_SAMPLES);
		if (i >= WARMUP_SAMPLES)
			samples_add(&rtts, ping());
		request(c);
		wait_outcome();
	}
	migrations_stop();
	for (i = 0; i < WARMUP_SAMPLES + opt.samples; i++) {
		set_recording(i >= WARMUP_SAMPLES);
		in_namespace(&servers[0], repair_sample);
	}
	tcp_pair_close(&repair_pair);

	times_report();
	report("UDP round trip between the servers, through the switch",
	       &rtts);
	report("TCP_REPAIR dump and restore from userspace (CRIU's), "
	       "an idle loopback connection in A", &repairs);
	if (times.n * 100 < (size_t)opt.samples * RTT_COMPLETED_MIN_PCT)
		die("only %zu of %d migrations completed", times.n,
		    opt.samples);
	rtt = samples_percentile(&rtts, 50);
	printf("# two round trips and that dump and restore: %.2f round "
	       "trips\n", 2 + samples_percentile(&repairs, 50) / rtt);
	printf("migration_rtt_ratio: %.2f\n",
	       samples_percentile(&times, 50) / rtt);
	return 0;
}

/* --- p99 and drop -------------------------------------------------------- */

/* Sets @s's TCPMig configuration flags. */
static bool config_flags(struct server *s, uint32_t flags)
{
	struct tcpmig_config_set set = { .flags = &flags };
	struct tcpmig_config now;

	return !tcpmig_configure(&s->config, &set) &&
	       !tcpmig_get_config(&s->config, &now) && now.flags == flags;
}

/* The servers' counters, each summed over both: their modules', TCP's. */
struct server_counts {
	uint64_t stats[TCPMIG_STAT_MAX + 1];	/* by enum tcpmig_stat */
	uint64_t retrans_segs, timeouts;
};

static void servers_count(struct server_counts *sum)
{
	struct tcpmig_info info;
	struct tcp_counters tcp;
	int i, j, prev;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < 2; i++) {
		prev = netns_enter(servers[i].host.netns);
		if (prev < 0 || tcp_counters_read(&tcp) ||
		    tcpmig_get_info(&servers[i].config, &info))
			die("server %c: counters", "AB"[i]);
		netns_leave(prev);
		for (j = 0; j <= TCPMIG_STAT_MAX; j++)
			sum->stats[j] += info.stats[j];
		sum->retrans_segs += tcp.retrans_segs;
		sum->timeouts += tcp.timeouts;
	}
}

/* Adds to @acc what the counters grew by from @before to @after. */
static void counts_add_growth(struct server_counts *acc,
			      const struct server_counts *before,
			      const struct server_counts *after)
{
	int j;

	for (j = 0; j <= TCPMIG_STAT_MAX; j++)
		acc->stats[j] += after->stats[j] - before->stats[j];
	acc->retrans_segs += after->retrans_segs - before->retrans_segs;
	acc->timeouts += after->timeouts - before->timeouts;
}

/* Switches the servers to @m; false if the modules cannot. */
static bool set_mode(enum mode m)
{
	uint32_t flags = m == NO_HOLD ? TCPMIG_CONFIG_F_NO_HOLD : 0;
	int i;

	migrations_stop();
	/* Only the drop benchmark needs the flag, and a module with it. */
	for (i = 0; i < 2 && opt.kind == DROP; i++)
		if (!config_flags(&servers[i], flags))
			return false;
	cur_mode = m;
	atomic_store(&migrate_after_ns,
		     m == STILL ? -1 : MIGRATE_EVERY_US * 1000LL);
	return true;
}

struct round_stats {
	struct samples lat;
	size_t room;			/* samples lat holds */
	int migrated;
	struct server_counts servers;	/* what they counted in the rounds */
	/* The client's resets, retransmissions for a loss, probes, timeouts. */
	uint64_t resets, loss_retransmits, probes, timeouts;
	int stalls;			/* connections left unanswered */
};

static void record_latency(struct round_stats *st, double us)
{
	if (st && st->lat.n < st->room)
		samples_add(&st->lat, us);
}

/* Whether a whole answer is queued on @fd. */
static bool answer_queued(int fd)
{
	int queued;

	return !ioctl(fd, FIONREAD, &queued) && queued >= RESP_LEN;
}

/*
 * Requests at @rate a second for @seconds, then their answers, recorded
 * in @st unless NULL.  When OUT_MAX requests are out, the next due waits
 * for an answer.  A request is timed from when it is sent, not from when
 * it was due: under emulation the client's timer wakes it up to a
 * millisecond late, a delay that is the client's, not the service's.
 *
 * Only the drop mode may leave requests unanswered for IO_TIMEOUT_MS:
 * they are recorded at the time they waited, a time they would have
 * exceeded, and the client goes on with a new connection.
 */
static void open_loop(struct client *c, double rate, double seconds,
		      struct round_stats *st)
{
	uint64_t due = now_ns(), end = due + seconds * 1e9, now;
	struct server_counts srv_before, srv_after;
	struct tcp_counters before, after;
	int prev, moved = atomic_load(&migrated);
	bool sending, stalled = false;

	servers_count(&srv_before);
	prev = netns_enter(c->netns);
	if (prev < 0 || tcp_counters_read(&before))
		die("client TCP counters");
	while (!stalled && (due < end || c->answered < c->sent)) {
		now = now_ns();
		for (; due <= now && due < end &&
		       c->sent - c->answered < OUT_MAX;
		     due = poisson_next(due, rate, c->seed))
			send_request(c);
		sending = due < end && c->sent - c->answered < OUT_MAX;
		if (readable_by(c->fd, sending ? due : now + IO_TIMEOUT_NS)) {
			do
				record_latency(st, answer(c));
			while (answer_queued(c->fd));
		} else if (!sending) {
			if (cur_mode != NO_HOLD)
				die("request %llu: no answer within %d ms (%s)",
				    (unsigned long long)c->answered,
				    IO_TIMEOUT_MS, mode_name[cur_mode]);
			stalled = true;
		}
	}
	if (tcp_counters_read(&after))
		die("client TCP counters");
	netns_leave(prev);
	if (stalled) {
		for (now = now_ns(); c->answered < c->sent; c->answered++)
			record_latency(st, (now - c->sent_ns[c->answered %
							     OUT_MAX]) / 1e3);
		client_reconnect(c);
	}
	if (!st)
		return;
	st->stalls += stalled;
	servers_count(&srv_after);
	counts_add_growth(&st->servers, &srv_before, &srv_after);
	st->migrated += atomic_load(&migrated) - moved;
	st->resets += tcp_counters_resets(&before, &after);
	st->loss_retransmits += tcp_counters_loss_retransmits(&before, &after);
	st->probes += after.loss_probes - before.loss_probes;
	st->timeouts += after.timeouts - before.timeouts;
}

static void round_report(double rate, enum mode m, struct round_stats *st)
{
	const uint64_t *stats = st->servers.stats;
	char what[400];

	snprintf(what, sizeof(what), "request latency at %g/s, %s, %d "
		 "migrations, %llu TCPMig messages sent again, %llu packets "
		 "held, %llu late segments forwarded (%llu after the import), "
		 "client: %llu resets, %llu retransmissions for a loss, %llu "
		 "loss probes, %llu timeouts, %d connections left unanswered "
		 "for %d ms; servers: %llu retransmissions, %llu timeouts",
		 rate, mode_name[m], st->migrated,
		 (unsigned long long)stats[TCPMIG_STAT_MSG_RETRANSMITS],
		 (unsigned long long)stats[TCPMIG_STAT_HELD_PACKETS],
		 (unsigned long long)stats[TCPMIG_STAT_SEGMENTS_FORWARDED],
		 (unsigned long long)stats[TCPMIG_STAT_SEGMENTS_AFTER_IMPORT],
		 (unsigned long long)st->resets,
		 (unsigned long long)st->loss_retransmits,
		 (unsigned long long)st->probes,
		 (unsigned long long)st->timeouts, st->stalls, IO_TIMEOUT_MS,
		 (unsigned long long)st->servers.retrans_segs,
		 (unsigned long long)st->servers.timeouts);
	report(what, &st->lat);
}

/*
 * The rounds at @rate: @modes[0]'s p99 over @modes[1]'s, or 0 if the
 * connection hardly migrated.
 */
static double rate_ratio(struct client *c, double rate,
			 const enum mode modes[2])
{
	struct round_stats st[2] = {};
	double p99[2];
	int r, k;

	for (k = 0; k < 2; k++) {
		/* Twice the requests due on average: Poisson varies less. */
		st[k].room = 2 * rate * opt.seconds * opt.rounds + 100;
		st[k].lat = samples_alloc(st[k].room);
		if (!set_mode(modes[k]))
			die("setting the modules' TCPMig flags");
		open_loop(c, rate, WARMUP_SECONDS, NULL);
	}
	/* Which mode goes first alternates: drift hits both alike. */
	for (r = 0; r < opt.rounds; r++) {
		for (k = 0; k < 2; k++) {
			int m = (k + r) % 2;

			if (!set_mode(modes[m]))
				die("%s mode went away", mode_name[modes[m]]);
			set_recording(modes[m] == HOLD);
			open_loop(c, rate, opt.seconds, &st[m]);
			set_recording(false);
		}
	}
	for (k = 0; k < 2; k++) {
		round_report(rate, modes[k], &st[k]);
		p99[k] = samples_percentile(&st[k].lat, 99);
		free(st[k].lat.us);
	}
	printf("# at %g/s: p99 %.1f us over %.1f us: %.2f\n", rate, p99[0],
	       p99[1], p99[0] / p99[1]);
	/* Both variants migrate in drop mode: each must have. */
	for (k = 0; k < 2; k++) {
		if (modes[k] == STILL || st[k].migrated >=
		    MIGRATIONS_PER_S_MIN * opt.rounds * opt.seconds)
			continue;
		printf("# FAIL: at %g/s the connection hardly migrated in %s "
		       "mode (%d times in %g s)\n", rate, mode_name[modes[k]],
		       st[k].migrated, opt.rounds * opt.seconds);
		return 0;
	}
	return p99[0] / p99[1];
}

static int bench_p99(struct client *c)
{
	/* At each rate, the first's p99 over the second's. */
	enum mode modes[2] = { HOLD, STILL };
	struct server_counts all;
	double ratio, worst = 0;
	int i, status = 0;

	if (opt.kind == DROP) {
		modes[0] = NO_HOLD;
		modes[1] = HOLD;
	}
	/* At most one migration a millisecond. */
	times_alloc(opt.nr_rates * opt.rounds * opt.seconds * 1e6 /
		    MIGRATE_EVERY_US + 1);
	for (i = 0; i < opt.nr_rates; i++) {
		ratio = rate_ratio(c, opt.rates[i], modes);
		if (!ratio)
			status = 1;
		/* The worst: inflation the most, drop's penalty the least. */
		else if (!worst || (opt.kind == DROP ? ratio < worst :
						       ratio > worst))
			worst = ratio;
	}
	migrations_stop();
	set_mode(STILL);

	if (times.n)
		times_report();
	servers_count(&all);
	printf("# migrations: %d, rejected %d (the last: %s), failed %d, "
	       "origin without ECONNABORTED %d; held packets dropped, expired "
	       "or beyond bounds: %llu\n", atomic_load(&migrated),
	       atomic_load(&rejected),
	       atomic_load(&rejected) ? strerror(atomic_load(&rejected_why)) :
					"none",
	       atomic_load(&failed),
	       atomic_load(&not_aborted),
	       (unsigned long long)(all.stats[TCPMIG_STAT_HOLD_EXPIRED] +
				    all.stats[TCPMIG_STAT_HOLD_OVERFLOWS]));
	/* A benchmark that failed prints no figure (benchmarks.rst). */
	if (atomic_load(&lost) || atomic_load(&not_aborted)) {
		printf("# FAIL: a migration %s\n", atomic_load(&lost) ?
		       "lost the connection" :
		       "left its origin's socket without ECONNABORTED");
		status = 1;
	}
	if (!status)
		printf("%s: %.2f\n", opt.kind == DROP ?
		       "buffered_vs_drop_p99" : "migration_p99_inflation",
		       worst);
	return status;
}

int main(int argc, char **argv)
{
	struct client c = { .seed = { 0x3e1, 0x5eed, 0xcab1 } };
	int status;

	parse_args(argc, argv);
	/* Its threads too: see rtt at the top. */
	if (opt.kind == RTT && stay_on_this_cpu())
		die("staying on one CPU: %s", strerror(errno));
	c.netns = netns_open(opt.ns_names[2]);
	if (c.netns < 0)
		die("%s: %s", opt.ns_names[2], strerror(errno));
	servers_start();
	client_connect(&c);

	if (opt.kind == RTT)
		status = bench_rtt(&c);
	else
		status = bench_p99(&c);
	close(c.fd);
	servers_stop();
	return status;
}
