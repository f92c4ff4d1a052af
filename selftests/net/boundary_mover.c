// SPDX-License-Identifier: GPL-2.0
/*
 * boundary_mover: moves an unmodified server's connections back and forth
 * between two servers, through the switch, only at request boundaries.
 *
 *	boundary_mover -o CONN_MONITOR_OBJ -N NS_A,NS_B -C CGROUP_A,CGROUP_B
 *		       -g EP_A,EP_B -n CONNS -d SECONDS [-f FRESH_MS]
 *
 * Each server (a process in cgroup CGROUP_X, serving EP_X in namespace
 * NS_X) gets a server monitor of its own (bpf/conn_monitor.bpf.c): its
 * sk_msg program notes, at every write of the server, how far the server
 * had read then (read_seq).  Once CONNS connections are recorded, every
 * recorded connection with a boundary is moved to the other server, with
 * TCPMIG_A_READ_SEQ: the module exports it only if the server has read
 * nothing since its last write, so that no half-read request stays
 * behind in the origin's memory.  A connection is moved only once its
 * server has written on it (it has a boundary from its establishment or
 * arrival, before nginx even accepted it), so each move is followed by
 * at least one response from the target.  With FRESH_MS, only
 * connections whose record changed (a write, or the ACK of one) within
 * the last FRESH_MS move: those just answered, whose client is then
 * thinking, so that the move is over before the next request comes.
 * After SECONDS, the migrations in flight are waited for, then every
 * connection recorded must be answered again (a write of its server),
 * where the last move left it; then the counts are printed:
 *
 *	answered N of N
 *	moved N stale N withdrawn N failed N
 *
 * moved: migrations completed; stale: refused at once, the server had
 * read past the boundary before MIGRATE (EAGAIN); withdrawn: the server
 * read past it before the export, which withdrew the migration (a
 * "failed" event with EAGAIN); failed: any other end, each also
 * described on a line of its own.  The monitors stay attached until
 * SIGTERM or SIGINT, then each server's totals are printed, one line
 * each:
 *
 *	totals X accepted N imported N forgotten N writes N
 *
 * Lines starting with "# " are diagnostics.  Exit status 0, or 1 if a
 * monitor could not be set up.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/capymig.h>

#include "tcpmig.h"
#include "tuple.h"
#include "../lib/args.h"
#include "../lib/migrate.h"

#define MAX_FLIGHTS	256
/* Made within this, or the connections were never made. */
#define CONNS_TIMEOUT_S	30
/*
 * A migration ends within the module's timeouts (a few seconds); one not
 * heard of by then lost its events and counts as failed.
 */
#define FLIGHT_TIMEOUT_S	15
/* Between scans: the maps are read afresh, without spinning. */
#define SCAN_MS		5
/* Each connection answers again within this, or it stalled. */
#define ANSWER_TIMEOUT_S	20

struct server {
	struct migrate_host host;
	struct tcpmig_endpoint ep;
	struct bpf_object *obj;
	struct bpf_link *link;
	int conns_fd, totals_fd;
};

static struct server servers[2];
static struct migrate_switch flights[MAX_FLIGHTS];
static unsigned int n_flights;
static unsigned long moved, stale, withdrawn, failed;
static double fresh_s;
static volatile sig_atomic_t stop;

static void usage(void)
{
	fprintf(stderr, "usage: boundary_mover -o CONN_MONITOR_OBJ "
			"-N NS_A,NS_B -C CGROUP_A,CGROUP_B -g EP_A,EP_B "
			"-n CONNS -d SECONDS [-f FRESH_MS]\n");
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Loads a monitor for the cgroup at @cgroup, as Documentation/monitor.rst
 * says: conn_msg on conn_sockets before any socket joins it, then the
 * sockops program on the cgroup.  Every TCP socket of the cgroup is the
 * server's: no port filter.
 */
static int monitor_load(struct server *s, const char *obj_path,
			const char *cgroup)
{
	struct bpf_program *msg, *ops;
	int sockets_fd, cg_fd, err;

	s->obj = bpf_object__open_file(obj_path, NULL);
	if (!s->obj)
		return -errno;
	err = bpf_object__load(s->obj);
	if (err)
		return err;
	msg = bpf_object__find_program_by_name(s->obj, "conn_msg");
	ops = bpf_object__find_program_by_name(s->obj, "conn_monitor");
	sockets_fd = bpf_object__find_map_fd_by_name(s->obj, "conn_sockets");
	s->conns_fd = bpf_object__find_map_fd_by_name(s->obj, "conns");
	s->totals_fd = bpf_object__find_map_fd_by_name(s->obj, "totals");
	if (!msg || !ops || sockets_fd < 0 || s->conns_fd < 0 ||
	    s->totals_fd < 0)
		return -ENOENT;
	if (bpf_prog_attach(bpf_program__fd(msg), sockets_fd,
			    BPF_SK_MSG_VERDICT, 0))
		return -errno;
	cg_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0)
		return -errno;
	s->link = bpf_program__attach_cgroup(ops, cg_fd);
	err = s->link ? 0 : -errno;
	close(cg_fd);
	return err;
}

/* The server's totals, its CPUs' copies added up. */
static struct capymig_monitor_totals totals_of(const struct server *s)
{
	struct capymig_monitor_totals sum = {}, *cpu;
	int i, n = libbpf_num_possible_cpus();
	__u32 zero = 0;

	cpu = calloc(n, sizeof(*cpu));
	if (cpu && !bpf_map_lookup_elem(s->totals_fd, &zero, cpu)) {
		for (i = 0; i < n; i++) {
			sum.accepted += cpu[i].accepted;
			sum.imported += cpu[i].imported;
			sum.forgotten += cpu[i].forgotten;
			sum.app_writes += cpu[i].app_writes;
		}
	}
	free(cpu);
	return sum;
}

static unsigned long recorded(void)
{
	struct capymig_monitor_totals a = totals_of(&servers[0]);
	struct capymig_monitor_totals b = totals_of(&servers[1]);

	return a.accepted + b.accepted;
}

static bool in_flight(const struct capymig_tuple *t)
{
	unsigned int i;

	for (i = 0; i < n_flights; i++)
		if (!memcmp(&flights[i].tuple, t, sizeof(*t)))
			return true;
	return false;
}

/* Moves connection @t of server @from to the other, at @read_seq. */
static void start(int from, const struct capymig_tuple *t, __u32 read_seq)
{
	struct tcpmig_migrate_opts opts = {
		.target = &servers[!from].ep,
		.at_read_seq = 1,
		.read_seq = read_seq,
	};
	char why[MIGRATE_WHY_LEN];
	int err;

	if (n_flights == MAX_FLIGHTS || in_flight(t))
		return;
	err = migrate_switch_start(&flights[n_flights], &servers[from].host,
				   t, &opts, why);
	if (!err) {
		n_flights++;
	} else if (err == -EAGAIN) {
		stale++;
	} else if (err == -ENOENT || err == -EBUSY) {
		/*
		 * Closed, or exported, since the monitor's record: gone; or
		 * the origin is still withdrawing an earlier migration of
		 * it (until the target acknowledges the ABORT): later.
		 */
	} else {
		printf("# %s\n", why);
		failed++;
	}
}

/* Every connection of server @from that has a boundary. */
static void scan(int from)
{
	struct capymig_tuple key, next;
	struct capymig_conn conn;
	bool first = true;
	double now = now_s();

	while (!bpf_map_get_next_key(servers[from].conns_fd,
				     first ? NULL : &key, &next)) {
		first = false;
		key = next;
		if (bpf_map_lookup_elem(servers[from].conns_fd, &key, &conn) ||
		    !(conn.flags & CAPYMIG_CONN_F_READ_SEQ))
			continue;
		/*
		 * Not answered on yet, new or moved in: nginx may not even
		 * have accepted it.
		 */
		if (!conn.app_bytes_sent)
			continue;
		/* updated_ns is of CLOCK_MONOTONIC too. */
		if (fresh_s && now - conn.updated_ns / 1e9 > fresh_s)
			continue;
		start(from, &key, conn.read_seq);
	}
}

/* Waits up to @ms for the migrations in flight; accounts those that end. */
static void reap(int ms)
{
	struct pollfd pfd[MAX_FLIGHTS];
	char why[MIGRATE_WHY_LEN];
	unsigned int i, k = 0;
	int ret;

	for (i = 0; i < n_flights; i++)
		pfd[i] = (struct pollfd){ migrate_switch_fd(&flights[i]),
					  POLLIN, 0 };
	if (poll(pfd, n_flights, ms) <= 0)
		return;
	for (i = 0; i < n_flights; i++) {
		ret = pfd[i].revents ? migrate_switch_poll(&flights[i], 0, why)
				     : 0;
		if (!ret) {
			flights[k++] = flights[i];
			continue;
		}
		if (ret > 0 && !flights[i].result) {
			moved++;
		} else if (ret > 0 && flights[i].result == -EAGAIN &&
			   !flights[i].rejected) {
			withdrawn++;
		} else {
			printf("# %s\n", why);
			failed++;
		}
	}
	n_flights = k;
}

/* A connection and how much its server had written, once moves stopped. */
struct written {
	int server;
	struct capymig_tuple tuple;
	__u64 bytes;
};

/*
 * Waits until the server of each connection recorded now has written on
 * it again: a request lost in a move would stall it.  Returns how many
 * did, of how many in @n.
 */
static unsigned int answered(unsigned int *n)
{
	static struct written w[MAX_FLIGHTS];
	struct capymig_tuple key, next;
	struct capymig_conn conn;
	unsigned int i, done = 0;
	double deadline;
	bool first;
	int s, fd;

	*n = 0;
	for (s = 0; s < 2; s++) {
		first = true;
		while (*n < MAX_FLIGHTS &&
		       !bpf_map_get_next_key(servers[s].conns_fd,
					     first ? NULL : &key, &next)) {
			first = false;
			key = next;
			if (bpf_map_lookup_elem(servers[s].conns_fd, &key,
						&conn))
				continue;
			w[(*n)++] = (struct written){ s, key,
						      conn.app_bytes_sent };
		}
	}
	deadline = now_s() + ANSWER_TIMEOUT_S;
	do {
		for (i = done = 0; i < *n; i++) {
			fd = servers[w[i].server].conns_fd;
			done += !bpf_map_lookup_elem(fd, &w[i].tuple, &conn) &&
				conn.app_bytes_sent > w[i].bytes;
		}
	} while (done < *n && now_s() < deadline && !usleep(50000));
	return done;
}

static void on_signal(int sig)
{
	stop = 1;
}

int main(int argc, char **argv)
{
	char *ns[2], *cg[2], *ep[2], *obj = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	double duration = 0, deadline;
	unsigned long conns = 0;
	unsigned int n, live;
	int opt, i, err;

	while ((opt = getopt(argc, argv, "o:N:C:g:n:d:f:")) != -1) {
		switch (opt) {
		case 'o':
			obj = optarg;
			break;
		case 'N':
			if (split_list(optarg, ns, 2))
				usage();
			break;
		case 'C':
			if (split_list(optarg, cg, 2))
				usage();
			break;
		case 'g':
			if (split_list(optarg, ep, 2) ||
			    capymig_wire_endpoint_parse(ep[0], 0,
							&servers[0].ep) ||
			    capymig_wire_endpoint_parse(ep[1], 0,
							&servers[1].ep))
				usage();
			break;
		case 'n':
			conns = strtoul(optarg, NULL, 0);
			break;
		case 'd':
			duration = atof(optarg);
			break;
		case 'f':
			fresh_s = atof(optarg) / 1000;
			break;
		default:
			usage();
		}
	}
	if (!obj || !servers[0].ep.addr || !conns || duration <= 0)
		usage();
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setlinebuf(stdout);

	for (i = 0; i < 2; i++) {
		err = migrate_host_open(&servers[i].host, ns[i]);
		if (!err)
			err = monitor_load(&servers[i], obj, cg[i]);
		if (err) {
			printf("# server %c: %s\n", 'A' + i, strerror(-err));
			return 1;
		}
	}
	printf("# ready\n");

	deadline = now_s() + CONNS_TIMEOUT_S;
	while (recorded() < conns && now_s() < deadline && !stop)
		usleep(10000);
	printf("# %lu connections recorded\n", recorded());

	deadline = now_s() + duration;
	while (now_s() < deadline && !stop) {
		scan(0);
		scan(1);
		reap(SCAN_MS);
	}
	deadline = now_s() + FLIGHT_TIMEOUT_S;
	while (n_flights && now_s() < deadline)
		reap(100);
	if (n_flights)
		printf("# %u migrations never heard of\n", n_flights);
	failed += n_flights;
	live = answered(&n);
	printf("answered %u of %u\n", live, n);
	printf("moved %lu stale %lu withdrawn %lu failed %lu\n", moved, stale,
	       withdrawn, failed);

	while (!stop)
		usleep(20000);
	for (i = 0; i < 2; i++) {
		struct capymig_monitor_totals t = totals_of(&servers[i]);

		printf("totals %c accepted %llu imported %llu forgotten %llu "
		       "writes %llu\n", 'A' + i, t.accepted, t.imported,
		       t.forgotten, t.app_writes);
	}
	return 0;
}
