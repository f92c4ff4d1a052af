// SPDX-License-Identifier: GPL-2.0
/*
 * bench_export_import: how long moving one established connection takes
 * with capymig, and with TCP_REPAIR driven from userspace the way CRIU's
 * libsoccr does it (repair_baseline.c), on connections of the same shapes.
 *
 *	bench_export_import [-n SAMPLES] [-w WARMUP] [-p PROFILE] [-l LABEL]
 *			    [-s SHAPE]
 *
 * Everything happens on loopback in a network namespace of its own: this
 * process is the client and the server application.  For each sample a
 * fresh connection is built, the server's end is moved, and the moved
 * connection must then carry both streams on, every byte checked: the
 * baseline is a cross-check of the module as much as a yardstick.
 *
 * Timed, from an fd of the established connection to an fd of the moved
 * one in this process, CLOCK_MONOTONIC:
 *   module:   capymig_tuple_from_fd (getsockname, getpeername),
 *	       tcpmig_export, closing the origin's (detached) descriptor,
 *	       tcpmig_import with want_fd, freeing the blob;
 *   baseline: repair_dump (which ends by closing the origin in repair
 *	       mode), repair_restore, freeing the image.
 *
 * SAMPLES (default 10000) migrations per method are measured, spread over
 * the shapes in turn, the two methods interleaved and alternating which
 * goes first, so that drift hits both alike.  Then one migration of each
 * kind per shape counts system calls, and PROFILE (default 200) more per
 * shape split each method's time in halves, the module's also at its
 * EXPORTED and IMPORTED events (kernel CLOCK_MONOTONIC timestamps).
 *
 * Output: "name: value" lines, the figures being the ratios
 * baseline / module of the means and of the 99th percentiles; raw
 * microseconds carry LABEL (e.g. "tcg": emulated, meaningful only as
 * ratios) in their names.  Diagnostics are "# " lines.  Exits 1, with no
 * figures, if any migration fails or any byte arrives wrong.  -s limits
 * every pass to one shape, for looking at it alone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>

#include "tcpmig.h"
#include "tuple.h"
#include "../lib/netns.h"
#include "repair_baseline.h"
#include "../lib/stream.h"
#include "samples.h"

#define PORT		7118
/* The client's receive buffer: small, so the server can fill its window. */
#define CLIENT_RCVBUF	4096
/* Written in pieces this size until the client's window is closed. */
#define FILL_CHUNK	1024
#define TAIL		512
#define IO_TIMEOUT_MS	5000

struct shape {
	const char *name;
	uint32_t unread;	/* received by the server, not read */
	uint32_t unacked;	/* written by the server, not acknowledged */
};

static const struct shape shapes[] = {
	{ "idle", 0, 0 },
	{ "1k", 1024, 1024 },
	{ "64k", 65536, 65536 },
};

#define NR_SHAPES (sizeof(shapes) / sizeof(shapes[0]))

enum method { MODULE, BASELINE, NR_METHODS };

static const char *const method_name[NR_METHODS] = { "module", "baseline" };

struct conn {
	int client, server;
	uint64_t c2s_seed, s2c_seed;
	uint64_t c2s_pos, s2c_pos;	/* bytes written so far */
};

enum mark { START, MIDDLE, END };

/* One migration, as measured. */
struct stamps {
	bool split;		/* mark the MIDDLE, between the halves, too */
	bool count;		/* count each half's system calls */
	uint64_t at[3];		/* CLOCK_MONOTONIC ns, by enum mark */
	long calls[2];		/* system calls of each half, with @count */
	uint64_t exported, imported;	/* the module's events' times */
	uint64_t setup, check;	/* building, and checking and closing, ns */
};

static struct {
	struct sockaddr_in service;
	int listener;
	struct tcpmig_nl nl;
	struct tcpmig_nl events;	/* joined to the events group, or not */
	bool events_on;
	int syscall_counter;		/* perf counter of sys_enter, or -1 */
	uint64_t next_id;		/* gives every connection new streams */
} bench = { .syscall_counter = -1 };

static struct {
	int samples, warmup, profile;
	const char *label;
	const char *shape;		/* only this one, or NULL */
} opt = { .samples = 10000, .warmup = 20, .profile = 200 };

/* The shapes measured, in turn. */
static const struct shape *chosen[NR_SHAPES];
static unsigned int nr_chosen;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int queue_bytes(int fd, unsigned long req)
{
	int n;

	return ioctl(fd, req, &n) ? -1 : n;
}

static int unread(int fd)
{
	return queue_bytes(fd, SIOCINQ);
}

/* Bytes sent and not yet acknowledged. */
static int in_flight(int fd)
{
	int written = queue_bytes(fd, SIOCOUTQ);
	int unsent = queue_bytes(fd, SIOCOUTQNSD);

	return written < 0 || unsent < 0 ? -1 : written - unsent;
}

/*
 * Waits until @count(@fd) is @want: loopback settles within microseconds,
 * unless softirq work was deferred to ksoftirqd.
 */
static bool settle(int fd, int (*count)(int fd), int want)
{
	const struct timespec pause = { .tv_nsec = 50000 };
	uint64_t deadline = now_ns() + IO_TIMEOUT_MS * 1000000ULL;
	int have;

	while ((have = count(fd)) != want) {
		if (have < 0 || now_ns() > deadline)
			return false;
		nanosleep(&pause, NULL);
	}
	return true;
}

static bool wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t left = (int64_t)(deadline - now_ns()) / 1000000;

	return left >= 0 && poll(&pfd, 1, left + 1) == 1;
}

/* Writes the next @len bytes of a stream; @pos counts what was written. */
static int send_stream(int fd, uint64_t seed, uint64_t *pos, uint32_t len)
{
	uint64_t deadline = now_ns() + IO_TIMEOUT_MS * 1000000ULL;
	uint8_t buf[4096];
	ssize_t n;

	while (len) {
		size_t chunk = len < sizeof(buf) ? len : sizeof(buf);

		stream_fill(seed, *pos, buf, chunk);
		n = send(fd, buf, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, deadline))
			continue;
		if (n <= 0)
			return -1;
		*pos += n;
		len -= n;
	}
	return 0;
}

/*
 * Reads a stream's bytes from @pos up to @end, checking each, and then
 * that nothing more is there.
 */
static int recv_stream(int fd, uint64_t seed, uint64_t pos, uint64_t end,
		       const char **why)
{
	uint64_t deadline = now_ns() + IO_TIMEOUT_MS * 1000000ULL;
	uint8_t buf[16384];
	ssize_t n;

	while (pos < end) {
		size_t want = end - pos < sizeof(buf) ? end - pos : sizeof(buf);

		n = recv(fd, buf, want, MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN && wait_fd(fd, POLLIN, deadline))
			continue;
		if (n <= 0) {
			*why = n ? "stream broken or too short" :
				   "stream ended early";
			return -1;
		}
		if (stream_check(seed, pos, buf, n) != (size_t)n) {
			*why = "stream corrupted";
			return -1;
		}
		pos += n;
	}
	if (recv(fd, buf, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN) {
		*why = "more bytes than were sent";
		return -1;
	}
	return 0;
}

/* Closes with a reset: no TIME_WAIT piling up over 20,000 connections. */
static void close_now(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void conn_close(struct conn *c)
{
	close_now(c->client);
	close_now(c->server);
}

/*
 * Leaves exactly @len bytes written by the server and not acknowledged:
 * the client reads nothing and its buffer is small, so its window closes;
 * the server writes until a piece stays unsent, then the rest.  Each
 * piece is acknowledged at once (see loopback_quickack()), so what stays
 * unacknowledged is what the closed window holds back.
 */
static int fill_window(struct conn *c, uint32_t len)
{
	int pending = 0, i;

	for (i = 0; i < 256 && !pending; i++) {
		if (send_stream(c->server, c->s2c_seed, &c->s2c_pos,
				FILL_CHUNK) ||
		    !settle(c->server, in_flight, 0))
			return -1;
		pending = queue_bytes(c->server, SIOCOUTQ);
	}
	if (pending <= 0 || (uint32_t)pending > len)
		return -1;
	return send_stream(c->server, c->s2c_seed, &c->s2c_pos,
			   len - pending) ? -1 : 0;
}

static void conn_open(struct conn *c, const struct shape *sh)
{
	int rcvbuf = CLIENT_RCVBUF;

	memset(c, 0, sizeof(*c));
	c->c2s_seed = 2 * bench.next_id + 1;
	c->s2c_seed = 2 * bench.next_id + 2;
	bench.next_id++;

	c->client = socket(AF_INET, SOCK_STREAM, 0);
	if (c->client < 0 ||
	    setsockopt(c->client, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		       sizeof(rcvbuf)) ||
	    connect(c->client, (struct sockaddr *)&bench.service,
		    sizeof(bench.service)))
		die("connect: %s", strerror(errno));
	c->server = accept(bench.listener, NULL, NULL);
	if (c->server < 0)
		die("accept: %s", strerror(errno));

	if (send_stream(c->client, c->c2s_seed, &c->c2s_pos, sh->unread) ||
	    !settle(c->server, unread, sh->unread))
		die("shape %s: %u bytes unread not reached", sh->name,
		    sh->unread);
	if (sh->unacked && fill_window(c, sh->unacked))
		die("shape %s: could not close the client's window", sh->name);
	if (queue_bytes(c->server, SIOCINQ) != (int)sh->unread ||
	    queue_bytes(c->server, SIOCOUTQ) != (int)sh->unacked)
		die("shape %s: queues hold %d and %d bytes", sh->name,
		    queue_bytes(c->server, SIOCINQ),
		    queue_bytes(c->server, SIOCOUTQ));
}

/* Both streams go on over the moved connection, every byte checked. */
static void conn_verify(struct conn *c, enum method m, const struct shape *sh)
{
	const char *why = "cannot send";

	if (send_stream(c->client, c->c2s_seed, &c->c2s_pos, TAIL) ||
	    recv_stream(c->server, c->c2s_seed, 0, c->c2s_pos, &why) ||
	    send_stream(c->server, c->s2c_seed, &c->s2c_pos, TAIL) ||
	    recv_stream(c->client, c->s2c_seed, 0, c->s2c_pos, &why))
		die("%s, shape %s: moved connection: %s", method_name[m],
		    sh->name, why);
}

/* A perf counter of this thread's system calls, where the kernel has it. */
static int syscall_counter_open(void)
{
	static const char *const ids[] = {
		"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
		"/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
	};
	struct perf_event_attr attr = {
		.type = PERF_TYPE_TRACEPOINT,
		.size = sizeof(attr),
		.disabled = 1,
	};
	unsigned int i;
	FILE *f;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		f = fopen(ids[i], "r");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &attr.config) != 1)
			attr.config = 0;
		fclose(f);
		if (attr.config)
			return syscall(SYS_perf_event_open, &attr, 0, -1, -1,
				       PERF_FLAG_FD_CLOEXEC);
	}
	return -1;
}

static void counter_start(void)
{
	ioctl(bench.syscall_counter, PERF_EVENT_IOC_RESET, 0);
	ioctl(bench.syscall_counter, PERF_EVENT_IOC_ENABLE, 0);
}

/* System calls since counter_start(), the disabling ioctl not counted. */
static long counter_stop(void)
{
	uint64_t n;

	ioctl(bench.syscall_counter, PERF_EVENT_IOC_DISABLE, 0);
	if (read(bench.syscall_counter, &n, sizeof(n)) != sizeof(n))
		return -1;
	return n - 1;
}

/*
 * A boundary of a migration's halves: its time and, when counting, the
 * system calls of the half that ends there (the counter's own calls fall
 * outside).  The MIDDLE is marked only when asked for: one more clock
 * read inside the measured interval.
 */
static void mark(struct stamps *ts, enum mark where)
{
	if (where == MIDDLE && !ts->split)
		return;
	if (ts->count && where != START)
		ts->calls[where == END] = counter_stop();
	ts->at[where] = now_ns();
	if (ts->count && where != END)
		counter_start();
}

static void migrate_module(struct conn *c, struct stamps *ts)
{
	struct tcpmig_import_opts opts = { .want_fd = 1 };
	struct tcpmig_import_result res;
	struct capymig_tuple tuple;
	struct tcpmig_blob blob;
	int err;

	mark(ts, START);
	err = capymig_tuple_from_fd(c->server, &tuple) ?:
	      tcpmig_export(&bench.nl, &tuple, 0, &blob);
	if (err)
		die("export: %s: %s", strerror(-err), bench.nl.ext_msg);
	/*
	 * The detached origin is the application's to close, which frees
	 * the socket: timed, as the baseline's dump ends with its close().
	 */
	close(c->server);
	mark(ts, MIDDLE);
	err = tcpmig_import(&bench.nl, &blob, &opts, &res);
	tcpmig_blob_free(&blob);
	mark(ts, END);
	if (err)
		die("import: %s: %s", strerror(-err), bench.nl.ext_msg);
	c->server = res.fd;
}

static void migrate_baseline(struct conn *c, struct stamps *ts)
{
	struct repair_image img;
	int err, fd;

	mark(ts, START);
	err = repair_dump(c->server, &img);
	if (err)
		die("repair dump: %s", strerror(-err));
	mark(ts, MIDDLE);
	fd = repair_restore(&img);
	repair_image_free(&img);
	mark(ts, END);
	if (fd < 0)
		die("repair restore: %s", strerror(-fd));
	c->server = fd;
}

static int stamp_event(const struct tcpmig_notification *ev, void *arg)
{
	struct stamps *ts = arg;

	if (ev->type == TCPMIG_EVENT_EXPORTED)
		ts->exported = ev->timestamp_ns;
	else if (ev->type == TCPMIG_EVENT_IMPORTED)
		ts->imported = ev->timestamp_ns;
	return 0;
}

/* Reads the EXPORTED and IMPORTED events of the last module migration. */
static void read_events(struct stamps *ts)
{
	uint64_t deadline = now_ns() + IO_TIMEOUT_MS * 1000000ULL, now;
	int err;

	ts->exported = ts->imported = 0;
	while (!ts->exported || !ts->imported) {
		now = now_ns();
		if (now >= deadline)
			die("events: none within %d ms", IO_TIMEOUT_MS);
		err = tcpmig_read_events(&bench.events,
					 (deadline - now) / 1000000 + 1,
					 stamp_event, ts);
		if (err)
			die("events: %s", strerror(-err));
	}
}

static void one_sample(enum method m, const struct shape *sh,
		       struct stamps *ts)
{
	uint64_t start = now_ns();
	struct conn c;

	conn_open(&c, sh);
	ts->setup = now_ns() - start;
	if (m == MODULE)
		migrate_module(&c, ts);
	else
		migrate_baseline(&c, ts);
	if (m == MODULE && bench.events_on)
		read_events(ts);
	start = now_ns();
	conn_verify(&c, m, sh);
	conn_close(&c);
	ts->check = now_ns() - start;
}

/*
 * System calls of each half of each method, on one migration each: as
 * the kernel's sys_enter tracepoint counts them, and the baseline's also
 * as repair_baseline counts them.
 */
static void count_syscalls(const struct shape *sh)
{
	struct stamps mod = {
		.split = true, .count = bench.syscall_counter >= 0,
	}, base = mod;

	one_sample(MODULE, sh, &mod);
	one_sample(BASELINE, sh, &base);
	if (mod.count)
		printf("# syscalls, shape %s: module export %ld + import %ld; "
		       "baseline dump %u + restore %u (sys_enter: %ld + %ld)\n",
		       sh->name, mod.calls[0], mod.calls[1],
		       repair_syscalls.dump, repair_syscalls.restore,
		       base.calls[0], base.calls[1]);
	else
		printf("# syscalls, shape %s: baseline dump %u + restore %u "
		       "(no sys_enter tracepoint: module not counted)\n",
		       sh->name, repair_syscalls.dump, repair_syscalls.restore);
}

static void print_figure(const char *name, double value)
{
	if (opt.label)
		printf("export_import_%s_%s: %.1f\n", name, opt.label, value);
	else
		printf("export_import_%s: %.1f\n", name, value);
}

/*
 * The figures, each method's mean and p99 over all shapes: printed last,
 * once every check after the measured migrations passed too, so that a
 * failed benchmark prints none.
 */
static struct {
	double mean[NR_METHODS], p99[NR_METHODS];
} figures;

static void print_figures(void)
{
	printf("export_import_speedup_mean: %.1fx\n",
	       figures.mean[BASELINE] / figures.mean[MODULE]);
	printf("export_import_speedup_p99: %.1fx\n",
	       figures.p99[BASELINE] / figures.p99[MODULE]);
	print_figure("module_mean_us", figures.mean[MODULE]);
	print_figure("module_p99_us", figures.p99[MODULE]);
	print_figure("baseline_mean_us", figures.mean[BASELINE]);
	print_figure("baseline_p99_us", figures.p99[BASELINE]);
	fflush(stdout);
}

/* The measured migrations. */
static void measure(void)
{
	static struct samples by_shape[NR_SHAPES][NR_METHODS];
	struct samples all[NR_METHODS];
	double m[NR_METHODS], med[NR_METHODS], p[NR_METHODS];
	double setup_us[NR_SHAPES] = {}, check_us[NR_SHAPES] = {};
	struct stamps ts = {};
	unsigned int s;
	int i, k;

	for (k = 0; k < NR_METHODS; k++) {
		all[k].us = calloc(opt.samples, sizeof(double));
		all[k].n = 0;
		for (s = 0; s < nr_chosen; s++)
			by_shape[s][k].us = calloc(opt.samples,
						   sizeof(double));
		if (!all[k].us)
			die("out of memory");
	}

	for (i = 0; i < opt.samples; i++) {
		const struct shape *sh = chosen[i % nr_chosen];

		for (k = 0; k < NR_METHODS; k++) {
			enum method me = (k + i) % NR_METHODS;
			double us;

			one_sample(me, sh, &ts);
			us = (ts.at[END] - ts.at[START]) / 1e3;
			samples_add(&all[me], us);
			samples_add(&by_shape[i % nr_chosen][me], us);
			setup_us[i % nr_chosen] += ts.setup / 1e3;
			check_us[i % nr_chosen] += ts.check / 1e3;
		}
	}

	for (s = 0; s < nr_chosen; s++) {
		for (k = 0; k < NR_METHODS; k++) {
			m[k] = samples_mean(&by_shape[s][k]);
			med[k] = samples_percentile(&by_shape[s][k], 50);
			p[k] = samples_percentile(&by_shape[s][k], 99);
		}
		printf("# shape %s (%u B unread, %u B unacked), %zu samples "
		       "each: module mean %.1f us median %.1f us p99 %.1f us, "
		       "baseline mean %.1f us median %.1f us p99 %.1f us; "
		       "speedup mean %.2fx median %.2fx p99 %.2fx\n",
		       chosen[s]->name, chosen[s]->unread, chosen[s]->unacked,
		       by_shape[s][MODULE].n, m[MODULE], med[MODULE],
		       p[MODULE], m[BASELINE], med[BASELINE], p[BASELINE],
		       m[BASELINE] / m[MODULE], med[BASELINE] / med[MODULE],
		       p[BASELINE] / p[MODULE]);
		printf("# shape %s, untimed, per migration: building the "
		       "connection %.1f us, checking and closing it %.1f us\n",
		       chosen[s]->name, setup_us[s] / (2 * by_shape[s][0].n),
		       check_us[s] / (2 * by_shape[s][0].n));
	}

	for (k = 0; k < NR_METHODS; k++) {
		figures.mean[k] = samples_mean(&all[k]);
		med[k] = samples_percentile(&all[k], 50);
		figures.p99[k] = samples_percentile(&all[k], 99);
	}
	printf("# all shapes: speedup median %.2fx\n",
	       med[BASELINE] / med[MODULE]);
	fflush(stdout);
}

/* Microseconds from @a to @b, which may come first. */
static double span(uint64_t a, uint64_t b)
{
	return ((int64_t)b - (int64_t)a) / 1e3;
}

/*
 * Where each method's time goes: its two halves, and for the module the
 * kernel's EXPORTED and IMPORTED timestamps in between.  Not part of the
 * figures: building the events costs the module time.
 */
static void profile(const struct shape *sh)
{
	double half[NR_METHODS][2] = {}, seg[4] = {};
	struct stamps ts = { .split = true };
	int i, k;

	for (i = 0; i < opt.profile; i++) {
		for (k = 0; k < NR_METHODS; k++) {
			enum method me = (k + i) % NR_METHODS;

			one_sample(me, sh, &ts);
			half[me][0] += (ts.at[MIDDLE] - ts.at[START]) / 1e3;
			half[me][1] += (ts.at[END] - ts.at[MIDDLE]) / 1e3;
			if (me != MODULE || !bench.events_on)
				continue;
			/* Kernel and user clocks are the same clock. */
			seg[0] += span(ts.at[START], ts.exported);
			seg[1] += span(ts.exported, ts.at[MIDDLE]);
			seg[2] += span(ts.at[MIDDLE], ts.imported);
			seg[3] += span(ts.imported, ts.at[END]);
		}
	}
	printf("# profile, shape %s, %d samples: module export %.1f us + "
	       "import %.1f us; baseline dump %.1f us + restore %.1f us\n",
	       sh->name, opt.profile, half[MODULE][0] / opt.profile,
	       half[MODULE][1] / opt.profile, half[BASELINE][0] / opt.profile,
	       half[BASELINE][1] / opt.profile);
	if (bench.events_on)
		printf("# profile, shape %s, module: start..EXPORTED %.1f us, "
		       "EXPORTED..blob received %.1f us, "
		       "blob received..IMPORTED %.1f us, "
		       "IMPORTED..reply received %.1f us\n", sh->name,
		       seg[0] / opt.profile, seg[1] / opt.profile,
		       seg[2] / opt.profile, seg[3] / opt.profile);
}

/*
 * Loopback acknowledges every segment at once (the route's quickack
 * metric): a receiver whose window is closing delays its ACKs otherwise,
 * and building each shape would wait for its delayed-ACK timer.
 */
static void loopback_quickack(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	in_addr_t lo = htonl(INADDR_LOOPBACK);
	struct nlmsghdr *nlh;
	struct nlattr *metrics;
	int err;

	nlh = route_request(buf, AF_INET, RT_TABLE_LOCAL, RTPROT_KERNEL,
			    RT_SCOPE_HOST, RTN_LOCAL);
	mnl_attr_put_u32(nlh, RTA_DST, lo);
	mnl_attr_put_u32(nlh, RTA_PREFSRC, lo);
	mnl_attr_put_u32(nlh, RTA_OIF, if_nametoindex("lo"));
	metrics = mnl_attr_nest_start(nlh, RTA_METRICS);
	mnl_attr_put_u32(nlh, RTAX_QUICKACK, 1);
	mnl_attr_nest_end(nlh, metrics);

	err = route_send(nlh);
	if (err)
		die("quickack route: %s", strerror(-err));
}

/* A network namespace of our own, with loopback up. */
static void enter_namespace(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd;

	if (unshare(CLONE_NEWNET))
		die("unshare: %s", strerror(errno));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr))
		die("lo: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr))
		die("lo up: %s", strerror(errno));
	close(fd);
	loopback_quickack();
}

static void setup(void)
{
	int one = 1, err;

	enter_namespace();
	bench.service.sin_family = AF_INET;
	bench.service.sin_port = htons(PORT);
	bench.service.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bench.listener = socket(AF_INET, SOCK_STREAM, 0);
	if (bench.listener < 0 ||
	    setsockopt(bench.listener, SOL_SOCKET, SO_REUSEADDR, &one,
		       sizeof(one)) ||
	    bind(bench.listener, (struct sockaddr *)&bench.service,
		 sizeof(bench.service)) ||
	    listen(bench.listener, 16))
		die("listener: %s", strerror(errno));
	err = tcpmig_nl_open(&bench.nl);
	if (err)
		die("tcpmig: %s", tcpmig_nl_strerror(err));
	bench.syscall_counter = syscall_counter_open();
}

/* From now on the module builds and sends an event per migration. */
static void join_events(void)
{
	int err = tcpmig_nl_open(&bench.events);

	if (err || !bench.events.events_group ||
	    mnl_socket_setsockopt(bench.events.sock, NETLINK_ADD_MEMBERSHIP,
				  &bench.events.events_group,
				  sizeof(bench.events.events_group))) {
		printf("# events group unavailable: no kernel timestamps\n");
		return;
	}
	bench.events_on = true;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_export_import [-n SAMPLES] [-w WARMUP] "
			"[-p PROFILE] [-l LABEL] [-s SHAPE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct stamps ts = {};
	unsigned int s;
	int c, i, k;

	while ((c = getopt(argc, argv, "n:w:p:l:s:")) != -1) {
		switch (c) {
		case 'n':
			opt.samples = atoi(optarg);
			break;
		case 'w':
			opt.warmup = atoi(optarg);
			break;
		case 'p':
			opt.profile = atoi(optarg);
			break;
		case 'l':
			opt.label = optarg;
			break;
		case 's':
			opt.shape = optarg;
			break;
		default:
			usage();
		}
	}
	for (s = 0; s < NR_SHAPES; s++)
		if (!opt.shape || !strcmp(opt.shape, shapes[s].name))
			chosen[nr_chosen++] = &shapes[s];
	if (!nr_chosen || opt.samples < (int)nr_chosen || opt.warmup < 0 ||
	    opt.profile < 0)
		usage();

	setup();
	/* Slab caches, the import worker, page cache of the code: warm. */
	for (i = 0; i < opt.warmup; i++)
		for (s = 0; s < nr_chosen; s++)
			for (k = 0; k < NR_METHODS; k++)
				one_sample(k, chosen[s], &ts);
	measure();
	for (s = 0; s < nr_chosen; s++)
		count_syscalls(chosen[s]);
	if (opt.profile) {
		join_events();
		for (s = 0; s < nr_chosen; s++)
			profile(chosen[s]);
	}
	print_figures();
	return 0;
}
