// SPDX-License-Identifier: GPL-2.0
/*
 * tcpmig_origin: what the origin's application sees of an export, for
 * origin_close.sh, which watches the wire meanwhile.
 *
 *	tcpmig_origin PORT
 *
 * A connection to 127.0.0.1:PORT, in the current namespace.  A thread of
 * the server application blocks in recv(); the connection is exported;
 * then the application calls recv() and send() again, polls and closes.
 * The client sends a byte while the connection is away (the origin holds
 * it), and the connection is imported back into the listener, where the
 * byte and a verified stream each way must arrive.
 *
 * Prints key=value lines: what each call returned (an errno name, or a
 * count), CLOCK_REALTIME marks of the export and of the import (to match
 * a capture's timestamps), and the client's port.  Exits 0 when it could
 * do all of it, whatever the answers; origin_close.sh judges them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tcpmig.h"
#include "../lib/migrate.h"
#include "../lib/tcp_pair.h"

#define FLOW		16384
#define TIMEOUT_MS	5000
#define QUIET_MS	500	/* the connection away, before its import */

struct blocked_recv {
	pthread_t thread;
	pid_t tid;
	int fd;
	ssize_t ret;
	int err;
	double woke_ms;
};

static void *recv_blocking(void *arg)
{
	struct blocked_recv *b = arg;
	char byte;

	__atomic_store_n(&b->tid, gettid(), __ATOMIC_RELEASE);
	b->ret = recv(b->fd, &byte, 1, 0);
	b->err = errno;
	b->woke_ms = now_ms();
	return NULL;
}

/* The thread sleeps: in recv(), since that is all it does. */
static int wait_asleep(struct blocked_recv *b)
{
	double deadline = now_ms() + TIMEOUT_MS;
	char path[64], stat[256], *state;
	pid_t tid;
	FILE *f;

	while (!(tid = __atomic_load_n(&b->tid, __ATOMIC_ACQUIRE)))
		poll(NULL, 0, 1);
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	while (now_ms() < deadline) {
		f = fopen(path, "r");
		if (!f)
			return -errno;
		state = fgets(stat, sizeof(stat), f) ? strrchr(stat, ')') :
						      NULL;
		fclose(f);
		if (state && state[1] == ' ' && state[2] == 'S')
			return 0;
		poll(NULL, 0, 1);
	}
	return -ETIMEDOUT;
}

static void print_realtime(const char *key)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	printf("%s=%lld.%06ld\n", key, (long long)ts.tv_sec,
	       ts.tv_nsec / 1000);
}

static const char *result(ssize_t ret, int err)
{
	static char buf[32];

	if (ret < 0)
		return strerrorname_np(err);
	snprintf(buf, sizeof(buf), "%zd", ret);
	return buf;
}

static void fail(const char *what, int err)
{
	printf("error=%s: %s\n", what, strerror(err));
	exit(1);
}

int main(int argc, char **argv)
{
	struct blocked_recv b = {};
	struct tcpmig_blob blob;
	struct migrate_host host;
	struct capymig_tuple t;
	struct tcp_pair p;
	struct pollfd pfd;
	double exported_ms;
	int listener, fd, err;
	char byte;
	ssize_t n;

	if (argc != 2)
		fail("usage: tcpmig_origin PORT", EINVAL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	err = migrate_host_open(&host, NULL);
	listener = err ?: tcp_listener(AF_INET, atoi(argv[1]), NULL);
	if (listener < 0)
		fail("listener", -listener);
	err = tcp_pair_connect(&p, listener, NULL) ?:
	      tcp_pair_flow(&p, FLOW, FLOW, TIMEOUT_MS) ?:
	      migrate_server_tuple(p.client.fd, &t);
	if (err)
		fail("connection", -err);
	printf("client_port=%u\n", ntohs(t.remote_port));

	/* The application waits for data, in a blocking recv(). */
	b.fd = p.server.fd;
	fcntl(b.fd, F_SETFL, fcntl(b.fd, F_GETFL) & ~O_NONBLOCK);
	if (pthread_create(&b.thread, NULL, recv_blocking, &b))
		fail("thread", errno);
	err = wait_asleep(&b);
	if (err)
		fail("recv() never blocked", -err);

	print_realtime("export_time");
	err = tcpmig_export(&host.nl, &t, 0, &blob);
	exported_ms = now_ms();
	if (err)
		fail(host.nl.ext_msg, -err);
	pthread_join(b.thread, NULL);
	printf("blocked_recv=%s\n", result(b.ret, b.err));
	printf("blocked_recv_woke_ms=%.1f\n", b.woke_ms - exported_ms);

	n = send(p.server.fd, "x", 1, MSG_NOSIGNAL);
	printf("send=%s\n", result(n, errno));
	n = recv(p.server.fd, &byte, 1, MSG_DONTWAIT);
	printf("recv=%s\n", result(n, errno));
	pfd = (struct pollfd) { .fd = p.server.fd, .events = POLLIN | POLLOUT };
	poll(&pfd, 1, 0);
	printf("poll=%s%s%s%s\n", pfd.revents & POLLIN ? "IN " : "",
	       pfd.revents & POLLOUT ? "OUT " : "",
	       pfd.revents & POLLERR ? "ERR " : "",
	       pfd.revents & POLLHUP ? "HUP" : "");
	close(p.server.fd);

	/* The client speaks while the connection is away: held. */
	n = send(p.client.fd, "h", 1, MSG_NOSIGNAL);
	if (n != 1)
		fail("client send", errno);
	/*
	 * Longer than any timer the exported socket could have left armed
	 * (a retransmission, 200 ms at least; a delayed ACK; its FIN's)
	 * would take to fire, within the export's hold (2 s): what it sent
	 * would be seen between the export and the import.
	 */
	usleep(QUIET_MS * 1000);

	print_realtime("import_time");
	err = tcpmig_import(&host.nl, &blob, NULL, NULL);
	tcpmig_blob_free(&blob);
	if (err)
		fail(host.nl.ext_msg, -err);
	fd = tcp_accept(listener, TIMEOUT_MS);
	if (fd < 0)
		fail("accept", -fd);
	p.server.fd = fd;
	pfd = (struct pollfd) { .fd = fd, .events = POLLIN };
	n = poll(&pfd, 1, TIMEOUT_MS) == 1 ? recv(fd, &byte, 1, 0) : -1;
	printf("held_byte=%s\n", n == 1 && byte == 'h' ? "replayed" : "lost");
	err = tcp_pair_flow(&p, FLOW, FLOW, TIMEOUT_MS);
	printf("imported_flow=%s\n", err ? strerrorname_np(-err) : "ok");
	tcp_pair_close(&p);
	return 0;
}
