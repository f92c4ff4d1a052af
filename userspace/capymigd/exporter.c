// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The metrics listener.  Each client is a small state machine driven by
 * epoll: read the request (until its blank line, the client's end of
 * sending, or EXPORTER_REQUEST_MAX bytes), then write the answer, then
 * close.  The request is read before answering so that closing never
 * finds it unread, which would reset the connection under the answer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "exporter.h"

static const char head[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; "
			   "version=0.0.4\r\nConnection: close\r\n\r\n";

int exporter_open(struct exporter *e, int epoll,
		  const struct tcpmig_endpoint *at)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = at->addr,
		.sin_port = at->port,
	};
	struct epoll_event ev = { .events = EPOLLIN };
	int one = 1, i;

	e->epoll = epoll;
	for (i = 0; i < EXPORTER_CLIENTS; i++)
		e->clients[i] = (struct exporter_client){ .fd = -1 };
	e->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (e->fd < 0)
		return -1;
	ev.data.fd = e->fd;
	if (setsockopt(e->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(e->fd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    listen(e->fd, 16) ||
	    epoll_ctl(epoll, EPOLL_CTL_ADD, e->fd, &ev)) {
		close(e->fd);
		e->fd = -1;
		return -1;
	}
	return 0;
}

static void client_close(struct exporter_client *c)
{
	close(c->fd);	/* and out of the epoll set with it */
	free(c->answer);
	*c = (struct exporter_client){ .fd = -1 };
}

static void accept_clients(struct exporter *e, uint64_t now_ns)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct exporter_client *c;
	int fd, i;

	while ((fd = accept4(e->fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		for (i = 0; i < EXPORTER_CLIENTS && e->clients[i].fd >= 0; i++)
			;
		ev.data.fd = fd;
		if (i == EXPORTER_CLIENTS ||
		    epoll_ctl(e->epoll, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);	/* busy: they may come again */
			continue;
		}
		c = &e->clients[i];
		c->fd = fd;
		c->deadline_ns = now_ns + EXPORTER_DEADLINE_NS;
	}
}

/* Whether the request is all there: its blank line, or enough of it. */
static bool request_read(struct exporter_client *c)
{
	ssize_t n;

	for (;;) {
		n = recv(c->fd, c->request + c->got,
			 sizeof(c->request) - 1 - c->got, 0);
		if (n < 0)
			return errno != EAGAIN && errno != EINTR;
		if (!n)
			return true;
		c->got += n;
		c->request[c->got] = '\0';
		if (strstr(c->request, "\r\n\r\n") || strstr(c->request,
							     "\n\n") ||
		    c->got == sizeof(c->request) - 1)
			return true;
	}
}

static int answer_prepare(struct exporter_client *c, const struct metrics *m)
{
	FILE *out = open_memstream(&c->answer, &c->len);

	if (!out)
		return -1;
	fputs(head, out);
	metrics_render(m, out);
	return fclose(out) ? -1 : 0;
}

/* Writes what the socket takes; true when all is written. */
static bool answer_write(struct exporter *e, struct exporter_client *c)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.fd = c->fd };
	ssize_t n;

	while (c->sent < c->len) {
		n = send(c->fd, c->answer + c->sent, c->len - c->sent,
			 MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN) {
			epoll_ctl(e->epoll, EPOLL_CTL_MOD, c->fd, &ev);
			return false;
		}
		if (n < 0)
			return true;	/* gone: nothing more to write */
		c->sent += n;
	}
	return true;
}

bool exporter_event(struct exporter *e, int fd, const struct metrics *m,
		    uint64_t now_ns)
{
	struct exporter_client *c = NULL;
	int i;

	if (e->fd < 0)
		return false;
	if (fd == e->fd) {
		accept_clients(e, now_ns);
		return true;
	}
	for (i = 0; i < EXPORTER_CLIENTS && !c; i++)
		if (e->clients[i].fd == fd)
			c = &e->clients[i];
	if (!c)
		return false;
	if (!c->answer) {
		if (!request_read(c))
			return true;
		if (answer_prepare(c, m)) {
			client_close(c);
			return true;
		}
	}
	if (answer_write(e, c))
		client_close(c);
	return true;
}

void exporter_expire(struct exporter *e, uint64_t now_ns)
{
	int i;

	/* Never opened, the slots were never set free: fd 0 is no client. */
	if (e->fd < 0)
		return;
	for (i = 0; i < EXPORTER_CLIENTS; i++)
		if (e->clients[i].fd >= 0 &&
		    now_ns >= e->clients[i].deadline_ns)
			client_close(&e->clients[i]);
}

int exporter_timeout_ms(const struct exporter *e, uint64_t now_ns)
{
	uint64_t first = UINT64_MAX;
	int i;

	if (e->fd < 0)
		return -1;
	for (i = 0; i < EXPORTER_CLIENTS; i++)
		if (e->clients[i].fd >= 0 && e->clients[i].deadline_ns < first)
			first = e->clients[i].deadline_ns;
	if (first == UINT64_MAX)
		return -1;
	if (first <= now_ns)
		return 0;
	return (first - now_ns + 999999) / 1000000;
}

void exporter_close(struct exporter *e)
{
	int i;

	if (e->fd < 0)
		return;
	for (i = 0; i < EXPORTER_CLIENTS; i++)
		if (e->clients[i].fd >= 0)
			client_close(&e->clients[i]);
	close(e->fd);
	e->fd = -1;
}
