// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/sockios.h>

#include "stream.h"
#include "tcp_pair.h"

#define IO_CHUNK	65536

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

socklen_t loopback_sockaddr(int family, uint16_t port,
			    struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (void *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (void *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = in6addr_loopback;
		return sizeof(*sin6);
	}
}

/* A socket of @family as @o asks, or -errno. */
static int new_socket(int family, const struct sock_opts *o)
{
	int fd = socket(family, SOCK_STREAM, o ? o->protocol : 0), err = 0;

	if (fd < 0)
		return -errno;
	if (!o)
		return fd;
	if ((o->rcvbuf && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE,
				     &o->rcvbuf, sizeof(o->rcvbuf))) ||
	    (o->sndbuf && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE,
				     &o->sndbuf, sizeof(o->sndbuf))))
		err = -errno;
	else if (o->prepare)
		err = o->prepare(fd);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int tcp_listener(int family, uint16_t port, const struct sock_opts *o)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback_sockaddr(family, port, &ss);
	int fd = new_socket(family, o), one = 1, err;

	if (fd < 0)
		return fd;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int tcp_connect(int listener, const struct sock_opts *o)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd, err;

	if (getsockname(listener, (struct sockaddr *)&ss, &len))
		return -errno;
	fd = new_socket(ss.ss_family, o);
	if (fd < 0)
		return fd;
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) ? -errno : 0;
}

int tcp_accept(int listener, int timeout_ms)
{
	struct pollfd pfd = { .fd = listener, .events = POLLIN };
	int fd, err;

	err = poll(&pfd, 1, timeout_ms);
	if (err <= 0)
		return err ? -errno : -ETIMEDOUT;
	fd = accept(listener, NULL, NULL);
	if (fd < 0)
		return -errno;
	err = set_nonblock(fd);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int tcp_pair_start(struct tcp_pair *p, int listener,
		   const struct sock_opts *o)
{
	static uint64_t pairs;
	uint64_t seed = ++pairs * 2;
	int err;

	memset(p, 0, sizeof(*p));
	p->server.fd = -1;
	p->client.fd = tcp_connect(listener, o);
	if (p->client.fd < 0)
		return p->client.fd;
	err = set_nonblock(p->client.fd);
	if (err) {
		close(p->client.fd);
		p->client.fd = -1;
		return err;
	}
	p->client.tx_seed = p->server.rx_seed = seed;
	p->server.tx_seed = p->client.rx_seed = seed + 1;
	return 0;
}

int tcp_pair_accept(struct tcp_pair *p, int listener)
{
	p->server.fd = tcp_accept(listener, 5000);
	return p->server.fd < 0 ? p->server.fd : 0;
}

int tcp_pair_connect(struct tcp_pair *p, int listener,
		     const struct sock_opts *o)
{
	int err = tcp_pair_start(p, listener, o) ?:
		  tcp_pair_accept(p, listener);

	if (err)
		tcp_pair_close(p);
	return err;
}

void tcp_pair_close(struct tcp_pair *p)
{
	if (p->client.fd >= 0)
		close(p->client.fd);
	if (p->server.fd >= 0)
		close(p->server.fd);
	p->client.fd = p->server.fd = -1;
}

void tcp_pair_abort(struct tcp_pair *p)
{
	static const struct linger reset = { .l_onoff = 1, .l_linger = 0 };

	if (p->client.fd >= 0)
		setsockopt(p->client.fd, SOL_SOCKET, SO_LINGER, &reset,
			   sizeof(reset));
	if (p->server.fd >= 0)
		setsockopt(p->server.fd, SOL_SOCKET, SO_LINGER, &reset,
			   sizeof(reset));
	tcp_pair_close(p);
}

/* Writes what the socket takes of the next @len bytes; -errno on error. */
static int64_t end_send(struct tcp_end *e, uint64_t len)
{
	uint8_t buf[IO_CHUNK];
	ssize_t n;

	if (len > sizeof(buf))
		len = sizeof(buf);
	if (!len)
		return 0;
	stream_fill(e->tx_seed, e->tx_pos, buf, len);
	n = send(e->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	e->tx_pos += n;
	return n;
}

int tcp_end_write(struct tcp_end *e, uint64_t len, int timeout_ms)
{
	uint64_t end = e->tx_pos + len;
	double deadline = now_ms() + timeout_ms;
	struct pollfd pfd = { .fd = e->fd, .events = POLLOUT };
	int64_t n;

	while (e->tx_pos < end) {
		n = end_send(e, end - e->tx_pos);
		if (n < 0)
			return n;
		if (n)
			continue;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		poll(&pfd, 1, 50);
	}
	return 0;
}

int64_t tcp_end_read(struct tcp_end *e)
{
	uint8_t buf[IO_CHUNK];
	int64_t total = 0;
	size_t good;
	ssize_t n;

	for (;;) {
		n = recv(e->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0) {
			e->eof = 1;
			return total;
		}
		if (n < 0)
			return errno == EAGAIN ? total : -errno;
		good = stream_check(e->rx_seed, e->rx_pos, buf, n);
		if (good != (size_t)n) {
			e->bad_at = e->rx_pos + good + 1;
			return -EBADMSG;
		}
		e->rx_pos += n;
		total += n;
	}
}

/* One round of @e's side of a flow: send towards @tx_end, read. */
static int end_step(struct tcp_end *e, const struct tcp_end *peer,
		    uint64_t tx_end)
{
	int64_t n = end_send(e, tx_end - e->tx_pos);

	if (n >= 0)
		n = tcp_end_read(e);
	if (n < 0)
		return n;
	if (e->eof && e->rx_pos < peer->tx_pos)
		return -EPIPE;
	return 0;
}

int tcp_pair_flow(struct tcp_pair *p, uint64_t to_client, uint64_t to_server,
		  int timeout_ms)
{
	struct tcp_end *c = &p->client, *s = &p->server;
	uint64_t c_end = c->tx_pos + to_server, s_end = s->tx_pos + to_client;
	double deadline = now_ms() + timeout_ms;
	struct pollfd pfd[2];
	int err;

	for (;;) {
		err = end_step(c, s, c_end) ?: end_step(s, c, s_end);
		if (err)
			return err;
		if (c->tx_pos == c_end && s->tx_pos == s_end &&
		    c->rx_pos == s->tx_pos && s->rx_pos == c->tx_pos)
			return 0;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		pfd[0] = (struct pollfd) { .fd = c->fd, .events = POLLIN |
				(c->tx_pos < c_end ? POLLOUT : 0) };
		pfd[1] = (struct pollfd) { .fd = s->fd, .events = POLLIN |
				(s->tx_pos < s_end ? POLLOUT : 0) };
		poll(pfd, 2, 50);
	}
}

int tcp_pair_migrate(struct tcp_pair *p, struct migrate_host *host,
		     int listener, int *origin, char *why)
{
	struct capymig_tuple t;
	int err, fd;

	err = migrate_server_tuple(p->client.fd, &t);
	if (err) {
		snprintf(why, MIGRATE_WHY_LEN, "tuple: %s", strerror(-err));
		return err;
	}
	err = migrate_commit(host, host, &t, NULL, why);
	if (err)
		return err;
	fd = tcp_accept(listener, 5000);
	if (fd < 0) {
		snprintf(why, MIGRATE_WHY_LEN, "accept after the import: %s",
			 strerror(-fd));
		return fd;
	}
	if (origin)
		*origin = p->server.fd;
	else
		close(p->server.fd);
	p->server.fd = fd;
	return 0;
}

int sock_drop_input(int fd, bool drop)
{
	struct sock_filter nothing = BPF_STMT(BPF_RET | BPF_K, 0);
	struct sock_fprog prog = { .len = 1, .filter = &nothing };
	int err, unused = 0;

	if (drop)
		err = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
				 sizeof(prog));
	else	/* The value is ignored, but must be an int. */
		err = setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused,
				 sizeof(unused));
	return err ? -errno : 0;
}

int sock_inq(int fd)
{
	int n;

	return ioctl(fd, SIOCINQ, &n) ? -errno : n;
}

int sock_outq(int fd)
{
	int n;

	return ioctl(fd, SIOCOUTQ, &n) ? -errno : n;
}
