// SPDX-License-Identifier: GPL-2.0
/*
 * skew_load: the open-loop load generator of the skew experiment
 * (scripts/demo, Documentation/demo.rst).
 *
 *	skew_load -a ADDR:PORT -r RATE [-L LONG] [-S SHORT] [-z ALPHA]
 *		  [-f LONG_SHARE] [-k REQUESTS] [-w WARMUP_S] [-d SECONDS]
 *		  [-D DRAIN_S] [-g STEP_S [-G STEPS]] [-s SEED]
 *
 * LONG (100) long-lived connections stay open all along; SHORT (900)
 * short-lived ones each carry a few requests (1 to 2 * REQUESTS - 1, 4 on
 * average), then close and are replaced by a new connection at once.
 * Requests arrive as one Poisson process of RATE a second, each for a
 * connection drawn by its weight: the long-lived connections share
 * LONG_SHARE (0.9) of the load, Zipf-distributed with exponent ALPHA
 * (1.2; 0: uniformly) by the order they were opened in -- the first is
 * the heaviest -- and the short-lived ones share the rest evenly.  A
 * request waits for its connection when that one is still being opened
 * or replaced: open loop, its latency counts from when it was due.
 *
 * With STEP_S, a step workload (the Capybara paper's §8.1.2): every
 * STEP_S seconds from the start, the long-lived connections of even rank
 * (0, 2, 4, ...) get their initial load once more, and RATE grows by as
 * much.  A placement that deals connections out in turn to two servers
 * puts them all on one, whose load then rises step by step while the
 * other's stays.  With STEPS, the load stops growing after that many
 * steps, so that what a policy made of the last one can be seen.
 *
 * The long-lived connections are opened first, one after the other, then
 * the short-lived ones; then the requests start.  Those due in the first
 * WARMUP_S (5) seconds are not measured; those due in the next SECONDS
 * (30) are; then requests stop and the answers have DRAIN_S (5) seconds
 * to come (it ends as soon as they all have).  Those that do not are
 * counted at their age at the end: their latency is at least that.
 *
 * Output: a header of "# " lines; "start: T" (CLOCK_MONOTONIC seconds,
 * when requests start); a line per second:
 *
 *	T DUE DONE P50_US P99_US MAX_US OUTSTANDING ERRORS
 *
 * (requests due and answered in the second, the answers' latencies,
 * requests due and not answered yet, errors so far); then the summary as
 * "name: value" lines.  Exits 1 if any request went wrong: a connection
 * refused or reset, an answer out of order, a request lost.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "skew.h"
#include "../lib/poisson.h"

#define NS		1000000000ULL
#define MAX_EVENTS	256

static struct {
	struct sockaddr_in addr;
	double rate;
	int nlong, nshort;
	double alpha;
	double long_share;
	int requests;
	double warmup_s, duration_s, drain_s;
	double step_s;
	unsigned int max_steps;
	unsigned short seed[3];
} opt = {
	.nlong = 100,
	.nshort = 900,
	.alpha = 1.2,
	.long_share = 0.9,
	.requests = 4,
	.warmup_s = 5,
	.duration_s = 30,
	.drain_s = 5,
	.seed = { 0x6361, 0x7079, 0x6d69 },
};

/* Due times of a connection slot's requests, oldest first. */
struct ring {
	uint64_t *due;
	size_t head, len, cap;
};

/*
 * A connection slot: one long-lived connection, or the succession of
 * short-lived ones that replace each other.
 */
struct slot {
	int fd;			/* -1 between connections */
	bool connected;
	bool is_long;
	uint32_t events;	/* what epoll watches for */
	uint64_t budget;	/* requests of the current connection */
	uint64_t sent;		/* ... written whole */
	uint64_t done;		/* ... answered */
	size_t out_off;		/* bytes of request @sent written */
	uint8_t in[SKEW_RESP_LEN];
	size_t in_len;
	struct ring q;		/* due, of which @done.. are in flight */
};

/* Latencies in microseconds. */
struct samples {
	uint32_t *v;
	size_t n, cap;
};

static struct {
	struct slot *slots;
	int nslots;
	double *cumw;		/* cumulative weights */
	double rate;		/* requests a second, now */
	unsigned int step;	/* of the step workload */
	int epoll, timer;
	uint64_t start, measure_from, measure_to;
	uint64_t due_total, done_total;
	uint64_t errors, lost, unfinished;
	uint64_t measured_due, window_done;
	struct samples all, interval;
	uint64_t interval_due, interval_done;
	uint64_t connections;
	unsigned short budget_seed[3];
} g;

static void usage(void)
{
	fprintf(stderr, "usage: skew_load -a ADDR:PORT -r RATE [-L LONG] "
			"[-S SHORT] [-z ALPHA] [-f LONG_SHARE] [-k REQUESTS] "
			"[-w WARMUP_S] [-d SECONDS] [-D DRAIN_S] [-g STEP_S "
			"[-G STEPS]] [-s SEED]\n");
	exit(2);
}

static void die(const char *what)
{
	fprintf(stderr, "skew_load: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void parse_args(int argc, char **argv)
{
	unsigned long seed;
	int c;

	while ((c = getopt(argc, argv, "a:r:L:S:z:f:k:w:d:D:g:G:s:")) != -1) {
		switch (c) {
		case 'a':
			if (!skew_parse_addr(optarg, &opt.addr))
				usage();
			break;
		case 'r':
			opt.rate = atof(optarg);
			break;
		case 'L':
			opt.nlong = atoi(optarg);
			break;
		case 'S':
			opt.nshort = atoi(optarg);
			break;
		case 'z':
			opt.alpha = atof(optarg);
			break;
		case 'f':
			opt.long_share = atof(optarg);
			break;
		case 'k':
			opt.requests = atoi(optarg);
			break;
		case 'w':
			opt.warmup_s = atof(optarg);
			break;
		case 'd':
			opt.duration_s = atof(optarg);
			break;
		case 'D':
			opt.drain_s = atof(optarg);
			break;
		case 'g':
			opt.step_s = atof(optarg);
			break;
		case 'G':
			opt.max_steps = atoi(optarg);
			break;
		case 's':
			seed = strtoul(optarg, NULL, 0);
			opt.seed[0] = seed;
			opt.seed[1] = seed >> 16;
			break;
		default:
			usage();
		}
	}
	if (!opt.addr.sin_port || opt.rate <= 0 || opt.nlong < 0 ||
	    opt.nshort < 0 || opt.nlong + opt.nshort == 0 ||
	    opt.requests < 1 || opt.long_share < 0 || opt.long_share > 1 ||
	    opt.duration_s <= 0 || opt.step_s < 0)
		usage();
	if (!opt.nshort)
		opt.long_share = 1;
	if (!opt.nlong)
		opt.long_share = 0;
}

/* --- bookkeeping --------------------------------------------------------- */

static void ring_push(struct ring *r, uint64_t due)
{
	size_t i;

	if (r->len == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		uint64_t *n = malloc(cap * sizeof(*n));

		if (!n)
			die("malloc");
		for (i = 0; i < r->len; i++)
			n[i] = r->due[(r->head + i) % r->cap];
		free(r->due);
		r->due = n;
		r->head = 0;
		r->cap = cap;
	}
	r->due[(r->head + r->len++) % r->cap] = due;
}

static uint64_t ring_at(const struct ring *r, size_t i)
{
	return r->due[(r->head + i) % r->cap];
}

static uint64_t ring_pop(struct ring *r)
{
	uint64_t due = r->due[r->head];

	r->head = (r->head + 1) % r->cap;
	r->len--;
	return due;
}

static void samples_add(struct samples *s, uint64_t ns)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 4096;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			die("malloc");
	}
	s->v[s->n++] = ns / 1000 > UINT32_MAX ? UINT32_MAX : ns / 1000;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile @p of sorted @s. */
static uint32_t percentile(const struct samples *s, double p)
{
	size_t rank = ceil(p / 100 * s->n);

	if (!s->n)
		return 0;
	return s->v[rank ? rank - 1 : 0];
}

static bool measured(uint64_t due)
{
	return due >= g.measure_from && due < g.measure_to;
}

/* --- connections ---------------------------------------------------------- */

static void watch(struct slot *s, int op, uint32_t events)
{
	struct epoll_event ev = {
		.events = events,
		.data.ptr = s,
	};

	if (op == EPOLL_CTL_MOD && events == s->events)
		return;
	if (epoll_ctl(g.epoll, op, s->fd, &ev))
		die("epoll_ctl");
	s->events = events;
}

static void open_conn(struct slot *s)
{
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0)
		die("socket");
	s->connected = false;
	s->sent = s->done = 0;
	s->out_off = s->in_len = 0;
	/* Its own random sequence: the arrivals' must not depend on timing. */
	s->budget = UINT64_MAX;
	if (!s->is_long)
		s->budget = 1 + nrand48(g.budget_seed) %
				(2 * opt.requests - 1);
	g.connections++;
	if (connect(s->fd, (struct sockaddr *)&opt.addr, sizeof(opt.addr)) &&
	    errno != EINPROGRESS)
		die("connect");
	watch(s, EPOLL_CTL_ADD, EPOLLOUT);
}

/*
 * Ends the slot's connection and opens the next.  With @why, it went
 * wrong: the requests written on it and not answered are lost (counted,
 * and dropped), those not written yet go on the next.
 */
static void replace_conn(struct slot *s, const char *why)
{
	uint64_t i;

	if (why) {
		struct sockaddr_in self = {};
		socklen_t len = sizeof(self);

		/* The port names it in the servers' and daemons' logs. */
		getsockname(s->fd, (struct sockaddr *)&self, &len);
		fprintf(stderr, "skew_load: %s connection %td (port %u), "
			"after %llu answers, %llu unanswered: %s\n",
			s->is_long ? "long-lived" : "short-lived", s - g.slots,
			ntohs(self.sin_port), (unsigned long long)s->done,
			(unsigned long long)(s->sent - s->done), why);
		g.errors++;
		for (i = s->done; i < s->sent; i++) {
			if (measured(ring_pop(&s->q)))
				g.lost++;
			g.done_total++;
		}
	}
	close(s->fd);
	open_conn(s);
}

/* Writes what the connection may send of the slot's due requests. */
static void flush(struct slot *s)
{
	uint8_t buf[64 * SKEW_REQ_LEN];
	struct skew_req *req;
	uint64_t n, i;
	size_t len;
	ssize_t w;

	for (;;) {
		n = s->q.len - (s->sent - s->done);
		if (n > s->budget - s->sent)
			n = s->budget - s->sent;
		if (n > sizeof(buf) / SKEW_REQ_LEN)
			n = sizeof(buf) / SKEW_REQ_LEN;
		if (!n)
			break;
		memset(buf, 0, n * SKEW_REQ_LEN);
		for (i = 0; i < n; i++) {
			req = (struct skew_req *)(buf + i * SKEW_REQ_LEN);
			req->seq = s->sent + i;
			req->sent_ns = ring_at(&s->q, s->sent - s->done + i);
		}
		len = n * SKEW_REQ_LEN - s->out_off;
		w = send(s->fd, buf + s->out_off, len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN) {
				/* The server's queue is full: wait for room. */
				watch(s, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
				return;
			}
			replace_conn(s, strerror(errno));
			return;
		}
		s->sent += (s->out_off + w) / SKEW_REQ_LEN;
		s->out_off = (s->out_off + w) % SKEW_REQ_LEN;
		if ((size_t)w < len) {
			watch(s, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
			return;
		}
	}
	watch(s, EPOLL_CTL_MOD, EPOLLIN);
}

static void answered(struct slot *s, const struct skew_req *resp,
		     uint64_t now)
{
	uint64_t due = ring_pop(&s->q);

	g.done_total++;
	if (resp->seq != s->done || resp->sent_ns != due) {
		fprintf(stderr, "skew_load: answer %llu out of order (%llu "
			"expected)\n", (unsigned long long)resp->seq,
			(unsigned long long)s->done);
		g.errors++;
	}
	s->done++;
	g.interval_done++;
	samples_add(&g.interval, now - due);
	if (measured(due))
		samples_add(&g.all, now - due);
	if (measured(now))
		g.window_done++;
}

static void receive(struct slot *s)
{
	uint8_t buf[64 * SKEW_RESP_LEN];
	uint64_t now;
	size_t off = 0, take;
	ssize_t n;

	n = recv(s->fd, buf, sizeof(buf), 0);
	if (n < 0 && errno == EAGAIN)
		return;
	/* The server never closes first: this is a failure. */
	if (n <= 0) {
		replace_conn(s, n ? strerror(errno) : "closed by the server");
		return;
	}
	now = skew_now_ns();
	while (off < (size_t)n) {
		take = SKEW_RESP_LEN - s->in_len;
		if (take > n - off)
			take = n - off;
		memcpy(s->in + s->in_len, buf + off, take);
		s->in_len += take;
		off += take;
		if (s->in_len < SKEW_RESP_LEN)
			break;
		s->in_len = 0;
		if (s->done == s->sent) {
			replace_conn(s, "an answer to nothing");
			return;
		}
		answered(s, (struct skew_req *)s->in, now);
	}
	if (s->done == s->budget)
		replace_conn(s, NULL);
}

static void connected(struct slot *s)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		replace_conn(s, strerror(err ?: errno));
		return;
	}
	s->connected = true;
	flush(s);
}

static void handle(struct slot *s, uint32_t events)
{
	if (!s->connected) {
		connected(s);
		return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		receive(s);
	/* receive() may have replaced the connection. */
	if (s->connected && (events & EPOLLOUT))
		flush(s);
}

/* --- the load ------------------------------------------------------------- */

/* The steps of the step workload begun by @t_ns (a timestamp). */
static unsigned int steps_at(uint64_t t_ns)
{
	unsigned int steps = (double)(t_ns - g.start) / NS / opt.step_s;

	return opt.max_steps && steps > opt.max_steps ? opt.max_steps : steps;
}

/*
 * The slots' weights at step @step of a step workload (0 otherwise): slot
 * i < LONG is long-lived connection i, of Zipf weight 1 / (i + 1)^ALPHA
 * among them, times 1 + @step if i is even.  They add up to 1 at step 0;
 * the rate grows with their sum.
 */
static void weigh(unsigned int step)
{
	double w, sum_long = 0, acc = 0;
	int i;

	for (i = 0; i < opt.nlong; i++)
		sum_long += pow(i + 1, -opt.alpha);
	for (i = 0; i < g.nslots; i++) {
		if (i < opt.nlong)
			w = opt.long_share * pow(i + 1, -opt.alpha) / sum_long *
			    (i % 2 ? 1 : 1 + step);
		else
			w = (1 - opt.long_share) / opt.nshort;
		acc += w;
		g.cumw[i] = acc;
	}
	g.step = step;
	g.rate = opt.rate * acc;
}

static struct slot *pick(void)
{
	double u = erand48(opt.seed) * g.cumw[g.nslots - 1];
	int lo = 0, hi = g.nslots - 1, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (g.cumw[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return &g.slots[lo];
}

/* The next arrival of the Poisson process after @t. */
static uint64_t next_arrival(uint64_t t)
{
	return poisson_next(t, g.rate, opt.seed);
}

static void arm(uint64_t at)
{
	struct itimerspec its = {
		.it_value.tv_sec = at / NS,
		.it_value.tv_nsec = at % NS,
	};

	if (timerfd_settime(g.timer, TFD_TIMER_ABSTIME, &its, NULL))
		die("timerfd");
}

static void report(uint64_t now)
{
	qsort(g.interval.v, g.interval.n, sizeof(*g.interval.v), cmp_u32);
	printf("%.3f %llu %llu %u %u %u %llu %llu\n", now / 1e9,
	       (unsigned long long)g.interval_due,
	       (unsigned long long)g.interval_done,
	       percentile(&g.interval, 50), percentile(&g.interval, 99),
	       percentile(&g.interval, 100),
	       (unsigned long long)(g.due_total - g.done_total),
	       (unsigned long long)g.errors);
	g.interval.n = 0;
	g.interval_due = g.interval_done = 0;
}

static bool all_open(void)
{
	int i;

	for (i = 0; i < g.nslots; i++)
		if (!g.slots[i].connected)
			return false;
	return true;
}

/*
 * Runs the event loop until @until, or until @wait_for is open, or with
 * @wait_all until every connection is.
 */
static void pump(uint64_t until, bool arrivals, struct slot *wait_for,
		 bool wait_all)
{
	static uint64_t next, next_report;
	struct epoll_event ev[MAX_EVENTS];
	struct slot *s;
	uint64_t now;
	int n, i;

	if (arrivals && !next) {
		next = next_arrival(g.start);
		next_report = g.start + NS;
		arm(next);
	}
	for (;;) {
		now = skew_now_ns();
		if (now >= until)
			return;
		if ((wait_for && wait_for->connected) ||
		    (wait_all && all_open()))
			return;
		/* No request left to come, none left to answer. */
		if (arrivals && next >= g.measure_to &&
		    g.done_total == g.due_total)
			return;
		while (now >= next_report && next_report) {
			report(next_report);
			next_report += NS;
		}
		n = epoll_wait(g.epoll, ev, MAX_EVENTS, 100);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (i = 0; i < n; i++) {
			if (ev[i].data.ptr) {
				handle(ev[i].data.ptr, ev[i].events);
				continue;
			}
			/* The timer: every arrival due by now. */
			now = skew_now_ns();
			while (arrivals && next <= now && next < g.measure_to) {
				if (opt.step_s && steps_at(next) >= g.step + 1)
					weigh(steps_at(next));
				s = pick();
				ring_push(&s->q, next);
				g.due_total++;
				g.interval_due++;
				g.measured_due += measured(next);
				if (s->connected)
					flush(s);
				next = next_arrival(next);
			}
			/* Zero disarms it, at the end of the arrivals. */
			arm(arrivals && next < g.measure_to ? next : 0);
		}
	}
}

int main(int argc, char **argv)
{
	struct rlimit nofile = { 65536, 65536 };
	struct epoll_event tev = { .events = EPOLLIN, .data.ptr = NULL };
	uint64_t now;
	struct slot *s;
	size_t j;
	int i;

	parse_args(argc, argv);
	memcpy(g.budget_seed, opt.seed, sizeof(g.budget_seed));
	g.budget_seed[2] ^= 0xffff;
	setvbuf(stdout, NULL, _IOLBF, 0);
	setrlimit(RLIMIT_NOFILE, &nofile);
	g.nslots = opt.nlong + opt.nshort;
	g.slots = calloc(g.nslots, sizeof(*g.slots));
	g.epoll = epoll_create1(EPOLL_CLOEXEC);
	g.timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (!g.slots || g.epoll < 0 || g.timer < 0 ||
	    epoll_ctl(g.epoll, EPOLL_CTL_ADD, g.timer, &tev))
		die("setup");
	printf("# %d long-lived connections (%.0f %% of the load, %s), %d "
	       "short-lived (%d requests on average), %.0f requests/s\n",
	       opt.nlong, 100 * opt.long_share,
	       opt.alpha ? "Zipf" : "uniform", opt.nshort, opt.requests,
	       opt.rate);
	if (opt.alpha)
		printf("# Zipf exponent %.2f\n", opt.alpha);
	if (opt.step_s)
		printf("# step workload: the even long-lived connections' "
		       "load grows by its initial value every %.1f s, "
		       "%u times (0: all along)\n", opt.step_s, opt.max_steps);
	g.cumw = malloc(g.nslots * sizeof(*g.cumw));
	if (!g.cumw)
		die("malloc");
	weigh(0);
	printf("# heaviest connection: %.1f %% of the load, %.0f req/s\n",
	       100 * g.cumw[0], g.cumw[0] * opt.rate);

	/*
	 * The long-lived connections one after the other, so that a
	 * placement that is a round-robin deals them out in order.
	 */
	for (i = 0; i < g.nslots; i++) {
		g.slots[i].fd = -1;
		g.slots[i].is_long = i < opt.nlong;
	}
	for (i = 0; i < g.nslots; i++) {
		open_conn(&g.slots[i]);
		if (i < opt.nlong)
			pump(skew_now_ns() + 10 * NS, false, &g.slots[i],
			     false);
	}
	pump(skew_now_ns() + 30 * NS, false, NULL, true);
	if (!all_open())
		die("the connections did not all open");

	g.start = skew_now_ns();
	g.measure_from = g.start + opt.warmup_s * NS;
	g.measure_to = g.measure_from + opt.duration_s * NS;
	printf("start: %.3f\n", g.start / 1e9);
	pump(g.measure_to, true, NULL, false);
	/* The answers still to come, while the last seconds are reported. */
	pump(g.measure_to + opt.drain_s * NS, true, NULL, false);
	now = skew_now_ns();

	/* What never came counts at its age: a lower bound. */
	for (i = 0; i < g.nslots; i++) {
		s = &g.slots[i];
		for (j = 0; j < s->q.len; j++) {
			if (!measured(ring_at(&s->q, j)))
				continue;
			samples_add(&g.all, now - ring_at(&s->q, j));
			g.unfinished++;
		}
	}
	qsort(g.all.v, g.all.n, sizeof(*g.all.v), cmp_u32);
	printf("requests: %llu\n", (unsigned long long)g.measured_due);
	printf("answered: %llu\n", (unsigned long long)(g.all.n -
							g.unfinished));
	printf("unfinished: %llu\n", (unsigned long long)g.unfinished);
	printf("lost: %llu\n", (unsigned long long)g.lost);
	printf("errors: %llu\n", (unsigned long long)g.errors);
	printf("connections: %llu\n", (unsigned long long)g.connections);
	printf("throughput_rps: %.1f\n", g.window_done / opt.duration_s);
	printf("p50_us: %u\n", percentile(&g.all, 50));
	printf("p99_us: %u\n", percentile(&g.all, 99));
	printf("p999_us: %u\n", percentile(&g.all, 99.9));
	printf("max_us: %u\n", percentile(&g.all, 100));
	return g.errors || g.lost ? 1 : 0;
}
