// SPDX-License-Identifier: GPL-2.0
/*
 * tcpmig_queues: a connection moves with everything its queues hold and
 * every option its application set.
 *
 *	tcpmig_queues [-6] [-l LOWAT]
 *
 * Over loopback, in the namespace it runs in, this process is the client
 * and the server application.  For each case a new connection first
 * carries 64 KiB each way (RTT samples, a grown window), then its server
 * end is left with N unread bytes in its receive queue and N
 * unacknowledged bytes in its send queue, and given non-default socket
 * options:
 *
 *   N = 0, 1, 64 KiB, 1 MiB: the client sends N bytes the server does not
 *	read, then drops every segment it receives (a socket filter) while
 *	the server writes N bytes, which stay unacknowledged, partly sent
 *	(retransmit queue), partly not (write queue) for 1 MiB.
 *   zero window: the client has a small receive buffer and does not read;
 *	the server writes until the client advertises a zero window, so the
 *	send queue holds data never sent.
 *
 * SIOCINQ/SIOCOUTQ of the server must be the same before the export and
 * after the import (into the same listener), and so must the socket
 * options and what TCP_INFO reports of the negotiated options, the MSS,
 * the RTT estimator and the congestion state.  Then the client reads (and
 * lets segments in again) and both directions drain, every byte checked;
 * after a zero window, the sender must resume within RESUME_MAX_MS of the
 * client reading.  `ss -tie` shows the server socket before and after.
 *
 * With -l, the namespace's net.ipv4.tcp_notsent_lowat is LOWAT from the
 * queues' filling to the import's end, as on a target host tuned so:
 * the import sends what was never sent, which that limit must not stop.
 *
 * With -e, the namespace's clients ask for ECN (net.ipv4.tcp_ecn = 1, as
 * Apple's do): the server's ECN state (negotiated, ECT seen) must move
 * with the connection, which would otherwise send ECT on every segment
 * and ignore the congestion its peer echoes.
 *
 * With -u (IPv4; Linux 6.7 on, else it skips), the route to 127.0.0.1
 * has the tcp_usec_ts feature: the server's TSvals tick in microseconds
 * and must go on so.  Every run checks the unit stays what it was.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/tcp.h>

#include "tcpmig.h"
#include "../lib/migrate.h"
#include "../lib/netns.h"
#include "../lib/tap.h"
#include "../lib/tcp_pair.h"

#define PORT		7301
#define BIG_BUF		(4 << 20)	/* forced: 1 MiB fits each way */
#define SMALL_RCVBUF	16384		/* the zero-window client's */
#define WARMUP		65536
#define ZW_WRITE	(512 << 10)	/* far more than the small window */
#define TIMEOUT_MS	20000
#define RESUME_MAX_MS	2000
#define CA_NAME		"reno"		/* built in, not the default */

struct qcase {
	const char *name;
	/* Queued each way; only in the receive queue for the zero window. */
	uint32_t bytes;
	bool zero_window;
	bool quiet;		/* no timer runs: RTT and cwnd stay put */
};

static const struct qcase cases[] = {
	{ "0 B", 0, false, true },
	{ "1 B", 1, false, false },
	{ "64 KiB", 64 << 10, false, false },
	{ "1 MiB", 1 << 20, false, false },
	{ "zero window", 64 << 10, true, true },
};

/*
 * Integer options, set to non-default values in this order (TOS first:
 * setting IP_TOS also sets the priority).  value 0: only compared.
 */
struct int_opt {
	const char *name;
	int level, opt, value;
};

static const struct int_opt tos_opt[2] = {
	{ "IP_TOS", IPPROTO_IP, IP_TOS, 0x28 },
	{ "IPV6_TCLASS", IPPROTO_IPV6, IPV6_TCLASS, 0x28 },
};

static const struct int_opt int_opts[] = {
	{ "TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, 1 },
	{ "SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, 1 },
	{ "TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE, 77 },
	{ "TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL, 11 },
	{ "TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT, 5 },
	{ "TCP_USER_TIMEOUT", IPPROTO_TCP, TCP_USER_TIMEOUT, 12345 },
	{ "SO_PRIORITY", SOL_SOCKET, SO_PRIORITY, 3 },
	{ "SO_MARK", SOL_SOCKET, SO_MARK, 0x1234 },
	{ "TCP_NOTSENT_LOWAT", IPPROTO_TCP, TCP_NOTSENT_LOWAT, 128 << 10 },
	{ "SO_RCVBUF", SOL_SOCKET, SO_RCVBUF, 0 },
	{ "SO_SNDBUF", SOL_SOCKET, SO_SNDBUF, 0 },
	/* The listener's (tcp_listener sets it), as accept() gives it. */
	{ "SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR, 0 },
};

#define N_INTS	(1 + sizeof(int_opts) / sizeof(int_opts[0]))

static const struct linger linger_opt = { .l_onoff = 1, .l_linger = 7 };

/* What the application can observe of its socket. */
struct app_view {
	int ints[N_INTS];
	char ca[TCPMIG_CA_NAME_MAX];
	struct linger linger;
	struct tcp_info info;
	int inq, outq;
};

static int family = AF_INET;
#define LOWAT_SYSCTL	"/proc/sys/net/ipv4/tcp_notsent_lowat"
static const char *lowat;	/* LOWAT_SYSCTL during the move, if set */
#define ECN_SYSCTL	"/proc/sys/net/ipv4/tcp_ecn"
static bool ecn;		/* clients ask for ECN */
/* Linux 6.7's, for older headers. */
#ifndef TCPI_OPT_USEC_TS
#define TCPI_OPT_USEC_TS	64
#endif
#define RTAX_FEATURE_USEC_TS	(1 << 4)
static bool usec_ts;		/* the server's TSvals in microseconds */
static int listener;
static struct migrate_host host;

static const struct int_opt *int_opt(int i)
{
	return i ? &int_opts[i - 1] : &tos_opt[family == AF_INET6];
}

static int set_app_options(int fd)
{
	unsigned int i;

	for (i = 0; i < N_INTS; i++) {
		const struct int_opt *o = int_opt(i);

		if (o->value && setsockopt(fd, o->level, o->opt, &o->value,
					   sizeof(o->value))) {
			tap_diag("setsockopt %s: %s", o->name, strerror(errno));
			return -1;
		}
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, CA_NAME,
		       strlen(CA_NAME)) ||
	    setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger_opt,
		       sizeof(linger_opt))) {
		tap_diag("setsockopt TCP_CONGESTION/SO_LINGER: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

static int app_view(int fd, struct app_view *v)
{
	socklen_t len;
	unsigned int i;

	memset(v, 0, sizeof(*v));
	for (i = 0; i < N_INTS; i++) {
		len = sizeof(v->ints[i]);
		if (getsockopt(fd, int_opt(i)->level, int_opt(i)->opt,
			       &v->ints[i], &len))
			return -errno;
	}
	len = sizeof(v->ca);
	if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, v->ca, &len))
		return -errno;
	len = sizeof(v->linger);
	if (getsockopt(fd, SOL_SOCKET, SO_LINGER, &v->linger, &len))
		return -errno;
	len = sizeof(v->info);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &v->info, &len))
		return -errno;
	v->inq = sock_inq(fd);
	v->outq = sock_outq(fd);
	return 0;
}

/* Appends "name a->b" to @out for each option that changed. */
static bool same_options(const struct app_view *a, const struct app_view *b,
			 char *out, size_t size)
{
	size_t n = 0;
	unsigned int i;

	out[0] = '\0';
	for (i = 0; i < N_INTS; i++) {
		if (a->ints[i] == b->ints[i])
			continue;
		n += snprintf(out + n, size - n, " %s %d->%d", int_opt(i)->name,
			      a->ints[i], b->ints[i]);
		if (n >= size)
			return false;
	}
	if (strcmp(a->ca, b->ca))
		n += snprintf(out + n, size - n, " TCP_CONGESTION %s->%s",
			      a->ca, b->ca);
	if (n < size && (a->linger.l_onoff != b->linger.l_onoff ||
			 a->linger.l_linger != b->linger.l_linger))
		snprintf(out + n, size - n, " SO_LINGER %d/%d->%d/%d",
			 a->linger.l_onoff, a->linger.l_linger,
			 b->linger.l_onoff, b->linger.l_linger);
	return !out[0];
}

/* An estimate restored, allowing for a sample taken since. */
static bool close_to(uint32_t a, uint32_t b)
{
	uint32_t d = a > b ? a - b : b - a;

	return d <= a / 8 + 10;
}

/*
 * TCP_INFO before and after.  The negotiated options and the MSS never
 * change; the RTT estimator and the congestion state only while no
 * retransmission timer runs (@quiet).
 */
static bool same_info(const struct tcp_info *a, const struct tcp_info *b,
		      bool quiet, char *out, size_t size)
{
	const uint8_t opts = TCPI_OPT_SACK | TCPI_OPT_TIMESTAMPS |
			     TCPI_OPT_WSCALE | (ecn ? TCPI_OPT_ECN : 0) |
			     (usec_ts ? TCPI_OPT_USEC_TS : 0);
	const uint8_t moved_opts = TCPI_OPT_ECN | TCPI_OPT_ECN_SEEN |
				   TCPI_OPT_USEC_TS;
	size_t n = 0;

#define DIFF(field, differs)						\
	do {								\
		if ((differs) && n < size)				\
			n += snprintf(out + n, size - n, " %s %u->%u",	\
				      #field, (unsigned int)a->field,	\
				      (unsigned int)b->field);		\
	} while (0)

	out[0] = '\0';
	DIFF(tcpi_options, (a->tcpi_options & opts) != opts ||
			   (b->tcpi_options & opts) != opts ||
			   ((a->tcpi_options ^ b->tcpi_options) & moved_opts));
	DIFF(tcpi_snd_wscale, a->tcpi_snd_wscale != b->tcpi_snd_wscale);
	DIFF(tcpi_rcv_wscale, a->tcpi_rcv_wscale != b->tcpi_rcv_wscale);
	DIFF(tcpi_snd_mss, a->tcpi_snd_mss != b->tcpi_snd_mss);
	DIFF(tcpi_rcv_mss, a->tcpi_rcv_mss != b->tcpi_rcv_mss);
	if (quiet) {
		DIFF(tcpi_rtt, !a->tcpi_rtt ||
				!close_to(a->tcpi_rtt, b->tcpi_rtt));
		DIFF(tcpi_rttvar, !close_to(a->tcpi_rttvar, b->tcpi_rttvar));
		DIFF(tcpi_snd_cwnd, a->tcpi_snd_cwnd != b->tcpi_snd_cwnd);
		DIFF(tcpi_snd_ssthresh,
		     a->tcpi_snd_ssthresh != b->tcpi_snd_ssthresh);
	}
#undef DIFF
	return !out[0];
}

/* ss -tie of the server's end, or of both with @both. */
static void show_ss(const char *when, bool both)
{
	char cmd[160], line[2048];
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "ss -tien '( sport = :%d %s%d )' 2>/dev/null", PORT,
		 both ? "or dport = :" : "and dport != :", PORT);
	f = popen(cmd, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		tap_diag("ss %s: %s", when, line);
	}
	pclose(f);
}

static bool wait_for(bool (*cond)(struct tcp_pair *), struct tcp_pair *p,
		     int timeout_ms)
{
	double deadline = now_ms() + timeout_ms;

	while (!cond(p)) {
		if (now_ms() > deadline)
			return false;
		poll(NULL, 0, 5);
	}
	return true;
}

static uint32_t queued_to_server;	/* what the case waits for */

static bool server_has_all(struct tcp_pair *p)
{
	return sock_inq(p->server.fd) == (int)queued_to_server &&
	       sock_outq(p->client.fd) == 0;
}

/* The client's window is shut and the server's data stays put. */
static bool window_closed(struct tcp_pair *p)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	return !getsockopt(p->server.fd, IPPROTO_TCP, TCP_INFO, &ti, &len) &&
	       ti.tcpi_snd_wnd == 0 && sock_outq(p->server.fd) > 0;
}

/*
 * Fills the queues as @c says.  Returns the bytes the server's send queue
 * must hold, or -1.
 */
static int fill_queues(struct tcp_pair *p, const struct qcase *c)
{
	int err;

	queued_to_server = c->bytes;
	err = tcp_end_write(&p->client, c->bytes, TIMEOUT_MS);
	if (err || !wait_for(server_has_all, p, TIMEOUT_MS)) {
		tap_diag("%s: the server did not get %u unread bytes (%s)",
			 c->name, c->bytes, strerror(err ? -err : ETIMEDOUT));
		return -1;
	}
	if (c->zero_window) {
		err = tcp_end_write(&p->server, ZW_WRITE, TIMEOUT_MS);
		if (err || !wait_for(window_closed, p, TIMEOUT_MS)) {
			tap_diag("%s: the client's window did not close (%s)",
				 c->name, strerror(err ? -err : ETIMEDOUT));
			return -1;
		}
		return sock_outq(p->server.fd);
	}
	err = sock_drop_input(p->client.fd, true) ?:
	      tcp_end_write(&p->server, c->bytes, TIMEOUT_MS);
	if (err) {
		tap_diag("%s: server write: %s", c->name, strerror(-err));
		return -1;
	}
	return c->bytes;
}

/*
 * After a zero window: how long after the client starts reading new data
 * arrives, i.e. the moved socket took the window update and sent again.
 */
static double resume_ms(struct tcp_pair *p)
{
	uint64_t had = p->client.rx_pos + sock_inq(p->client.fd);
	double start = now_ms();

	while (p->client.rx_pos <= had) {
		if (tcp_end_read(&p->client) < 0 ||
		    now_ms() - start > TIMEOUT_MS)
			return -1;
		poll(NULL, 0, 1);
	}
	return now_ms() - start;
}

/* Moves @p's server end, under the sysctl of -l if given. */
static int move(struct tcp_pair *p, char *why)
{
	int err = lowat ? sysctl_write(LOWAT_SYSCTL, lowat) : 0;

	if (err) {
		snprintf(why, MIGRATE_WHY_LEN, "tcp_notsent_lowat: %s",
			 strerror(-err));
		return err;
	}
	err = tcp_pair_migrate(p, &host, listener, NULL, why);
	/* Its default: the next case's writes fill the queue again. */
	if (lowat)
		sysctl_write(LOWAT_SYSCTL, "4294967295");
	return err;
}

static void run_case(const struct qcase *c)
{
	struct sock_opts copts = {
		.rcvbuf = c->zero_window ? SMALL_RCVBUF : BIG_BUF,
		.sndbuf = BIG_BUF,
	};
	struct app_view before, after;
	char why[MIGRATE_WHY_LEN], diff[512];
	struct tcp_pair p;
	double start, resumed = 0;
	int sndq, err;

	err = tcp_pair_connect(&p, listener, &copts);
	if (err) {
		tap_result(0, "%s: connect: %s", c->name, strerror(-err));
		return;
	}
	err = tcp_pair_flow(&p, WARMUP, WARMUP, TIMEOUT_MS);
	if (err) {
		tap_result(0, "%s: warm-up: %s", c->name, strerror(-err));
		goto out;
	}
	/*
	 * The options last: TCP_NOTSENT_LOWAT set earlier would stop the
	 * writes short of filling the send queue.
	 */
	sndq = fill_queues(&p, c);
	if (sndq < 0 || set_app_options(p.server.fd) ||
	    app_view(p.server.fd, &before)) {
		tap_result(0, "%s: queues filled", c->name);
		goto out;
	}
	tap_result(before.inq == (int)c->bytes && before.outq == sndq,
		   "%s: origin holds %d B unread, %d B unacknowledged",
		   c->name, before.inq, before.outq);
	if (c->quiet)
		show_ss("before", false);

	err = move(&p, why);
	if (err || app_view(p.server.fd, &after)) {
		tap_result(0, "%s: migrated: %s", c->name, err ? why : "");
		goto out;
	}
	tap_result(after.inq == before.inq && after.outq == before.outq,
		   "%s: imported socket holds %d B unread, %d B unacknowledged",
		   c->name, after.inq, after.outq);
	if (c->quiet)
		show_ss("after", false);
	tap_result(same_options(&before, &after, diff, sizeof(diff)),
		   "%s: socket options preserved%s", c->name, diff);
	tap_result(same_info(&before.info, &after.info, c->quiet, diff,
			     sizeof(diff)),
		   "%s: TCP_INFO preserved%s", c->name, diff);

	start = now_ms();
	if (c->zero_window) {
		resumed = resume_ms(&p);
		tap_result(resumed >= 0 && resumed < RESUME_MAX_MS,
			   "%s: sending resumed %.1f ms after the client read",
			   c->name, resumed);
	} else {
		err = sock_drop_input(p.client.fd, false);
		if (err)
			tap_diag("detaching the filter: %s", strerror(-err));
	}
	/* Everything queued, then more, each way. */
	err = tcp_pair_flow(&p, WARMUP, WARMUP, TIMEOUT_MS);
	tap_result(!err, "%s: both directions drained intact in %.1f ms "
		   "(%llu B to the client, %llu B to the server)%s%s", c->name,
		   now_ms() - start, (unsigned long long)p.client.rx_pos,
		   (unsigned long long)p.server.rx_pos, err ? ": " : "",
		   err ? strerror(-err) : "");
	if (err)
		show_ss("stuck", true);
out:
	tcp_pair_close(&p);
}

int main(int argc, char **argv)
{
	struct sock_opts lopts = { .rcvbuf = BIG_BUF, .sndbuf = BIG_BUF };
	unsigned int i;
	int err, opt;

	while ((opt = getopt(argc, argv, "6el:u")) != -1) {
		switch (opt) {
		case '6':
			family = AF_INET6;
			break;
		case 'e':
			ecn = true;
			break;
		case 'l':
			lowat = optarg;
			break;
		case 'u':
			usec_ts = true;
			break;
		default:
			fputs("usage: tcpmig_queues [-6] [-e] [-l LOWAT] [-u]\n",
			      stderr);
			return 2;
		}
	}
	if (usec_ts) {
		struct in_addr lo = { htonl(INADDR_LOOPBACK) };

		err = route_local_features(&lo, RTAX_FEATURE_USEC_TS);
		if (err == -EINVAL)
			tap_skip_all("no microsecond TCP timestamps before "
				     "Linux 6.7");
		if (err) {
			printf("Bail out! the route's tcp_usec_ts: %s\n",
			       strerror(-err));
			return KSFT_FAIL;
		}
	}
	tap_header();
	err = migrate_host_open(&host, NULL);
	if (!err && ecn)
		err = sysctl_write(ECN_SYSCTL, "1");
	listener = err ?: tcp_listener(family, PORT, &lopts);
	if (listener < 0) {
		tap_result(0, "setup: %s", strerror(-listener));
		return tap_done();
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	return tap_done();
}
