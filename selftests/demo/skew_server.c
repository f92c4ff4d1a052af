// SPDX-License-Identifier: GPL-2.0
/*
 * skew_server: a server of fixed capacity, for the skew experiment
 * (scripts/demo, Documentation/demo.rst).
 *
 *	skew_server -l ADDR:PORT -s SERVICE_US [-i INTERVAL_MS]
 *
 * One thread serves every connection: it takes one request at a time
 * from a socket epoll reports readable, spends SERVICE_US on it, and
 * answers.  So it serves 1e6 / SERVICE_US requests a second, whatever the
 * connections, and what it cannot serve yet waits in the kernel's receive
 * queues -- which is what a migration moves.  The service of a request
 * starts when it arrived (the kernel's receive timestamp) or when the
 * previous service ended: the server is an exact single-server queue.
 * The service time is spent asleep, not spinning: in the emulated test
 * guest, where two virtual CPUs carry the servers, the switch and the
 * clients, the capacity must be the server's own and not the machine's.
 *
 * It keeps nothing of a connection in userspace between requests: a
 * request is read whole (SO_RCVLOWAT is its size) and answered before the
 * next read, so a connection can leave at any request boundary.  One that
 * did reads ECONNABORTED and is closed; one that arrived is accepted
 * like a new one.
 *
 * Every INTERVAL_MS (1000) it prints a line: the time (CLOCK_MONOTONIC,
 * seconds), requests served in the interval, requests queued in its
 * receive queues, connections open, connections that left (migrated
 * away).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "skew.h"

#define MAX_EVENTS	256
#define MAX_FDS		65536

static struct {
	struct sockaddr_in addr;
	uint64_t service_ns;
	uint64_t interval_ns;
} opt = {
	.interval_ns = 1000000000ULL,
};

static struct {
	int epoll, listener;
	bool open[MAX_FDS];
	int nopen, maxfd;
	/* When the service of the last request ended: see serve(). */
	uint64_t busy_until;
	uint64_t served, left;
} srv;

static void usage(void)
{
	fprintf(stderr, "usage: skew_server -l ADDR:PORT -s SERVICE_US "
			"[-i INTERVAL_MS]\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "l:s:i:")) != -1) {
		switch (c) {
		case 'l':
			if (!skew_parse_addr(optarg, &opt.addr))
				usage();
			break;
		case 's':
			opt.service_ns = strtoull(optarg, NULL, 10) * 1000;
			break;
		case 'i':
			opt.interval_ns = strtoull(optarg, NULL, 10) * 1000000;
			break;
		default:
			usage();
		}
	}
	if (!opt.addr.sin_port || !opt.service_ns || !opt.interval_ns)
		usage();
}

static void die(const char *what)
{
	fprintf(stderr, "skew_server: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void drop(int fd)
{
	close(fd);
	srv.open[fd] = false;
	srv.nopen--;
}

static void accept_all(void)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	int lowat = SKEW_REQ_LEN, one = 1, fd;

	while ((fd = accept4(srv.listener, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		ev.data.fd = fd;
		if (fd >= MAX_FDS ||
		    setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat,
			       sizeof(lowat)) ||
		    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one,
			       sizeof(one)) ||
		    epoll_ctl(srv.epoll, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			continue;
		}
		srv.open[fd] = true;
		srv.nopen++;
		if (fd > srv.maxfd)
			srv.maxfd = fd;
	}
}

static void sleep_until(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = ns / 1000000000ULL,
		.tv_nsec = ns % 1000000000ULL,
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

/*
 * When the request at the head of @msg's data reached this host, on the
 * monotonic clock; @now if the kernel did not say.
 */
static uint64_t arrival(struct msghdr *msg, uint64_t now)
{
	struct cmsghdr *c;
	struct timespec real, *ts;
	uint64_t at, real_now;

	for (c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET ||
		    c->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		ts = (struct timespec *)CMSG_DATA(c);
		clock_gettime(CLOCK_REALTIME, &real);
		real_now = real.tv_sec * 1000000000ULL + real.tv_nsec;
		at = ts->tv_sec * 1000000000ULL + ts->tv_nsec;
		if (!at || at > real_now || real_now - at > now)
			return now;
		return now - (real_now - at);
	}
	return now;
}

/*
 * One request of @fd, if a whole one is there.  Its service starts when
 * it arrived, or when the previous one's ended if that was later: a
 * queue served at exactly 1 / SERVICE_US, whatever this loop's own cost
 * (an emulated system call takes tens of microseconds, and varies) as
 * long as it stays below a service time.
 */
static void serve(int fd)
{
	uint8_t buf[SKEW_RESP_LEN] = {};
	char control[CMSG_SPACE(sizeof(struct timespec))];
	struct iovec iov = { buf, SKEW_REQ_LEN };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control,
		.msg_controllen = sizeof(control),
	};
	uint64_t start;
	ssize_t n;

	n = recvmsg(fd, &msg, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/*
	 * The end of the stream, a reset, or ECONNABORTED: the connection
	 * was migrated away.  A partial request only comes with the end.
	 */
	if (n != SKEW_REQ_LEN) {
		if (n < 0 && errno == ECONNABORTED)
			srv.left++;
		drop(fd);
		return;
	}
	start = arrival(&msg, skew_now_ns());
	if (start < srv.busy_until)
		start = srv.busy_until;
	srv.busy_until = start + opt.service_ns;
	sleep_until(srv.busy_until);
	/* A full send buffer means a client gone astray: it loses. */
	if (send(fd, buf, SKEW_RESP_LEN, MSG_DONTWAIT | MSG_NOSIGNAL) !=
	    SKEW_RESP_LEN) {
		if (errno == ECONNABORTED)
			srv.left++;
		drop(fd);
		return;
	}
	srv.served++;
}

/* Requests waiting in the receive queues. */
static unsigned long queued(void)
{
	unsigned long sum = 0;
	int fd, n;

	for (fd = 0; fd <= srv.maxfd; fd++)
		if (srv.open[fd] && !ioctl(fd, FIONREAD, &n) && n > 0)
			sum += n / SKEW_REQ_LEN;
	return sum;
}

int main(int argc, char **argv)
{
	struct rlimit nofile = { MAX_FDS, MAX_FDS };
	struct epoll_event ev[MAX_EVENTS], lev = { .events = EPOLLIN };
	uint64_t next_report, served_then = 0, now;
	int one = 1, n, i, timeout;

	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* The default 50 us of timer slack would be a service time's 1 %. */
	prctl(PR_SET_TIMERSLACK, 1UL);
	setrlimit(RLIMIT_NOFILE, &nofile);

	srv.listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (srv.listener < 0 ||
	    setsockopt(srv.listener, SOL_SOCKET, SO_REUSEADDR, &one,
		       sizeof(one)) ||
	    bind(srv.listener, (struct sockaddr *)&opt.addr,
		 sizeof(opt.addr)) ||
	    listen(srv.listener, 4096))
		die("listen");
	srv.epoll = epoll_create1(0);
	lev.data.fd = srv.listener;
	if (srv.epoll < 0 ||
	    epoll_ctl(srv.epoll, EPOLL_CTL_ADD, srv.listener, &lev))
		die("epoll");

	next_report = skew_now_ns() + opt.interval_ns;
	for (;;) {
		now = skew_now_ns();
		if (now >= next_report) {
			printf("%.3f %lu %lu %d %lu\n", now / 1e9,
			       (unsigned long)(srv.served - served_then),
			       queued(), srv.nopen, (unsigned long)srv.left);
			served_then = srv.served;
			next_report += opt.interval_ns;
			continue;
		}
		timeout = (next_report - now) / 1000000 + 1;
		n = epoll_wait(srv.epoll, ev, MAX_EVENTS, timeout);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		/*
		 * One request per ready connection, then look again; an
		 * error or a hang-up shows in serve()'s read.
		 */
		for (i = 0; i < n; i++) {
			if (ev[i].data.fd == srv.listener)
				accept_all();
			else
				serve(ev[i].data.fd);
		}
	}
}
