// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of capymigd's metrics listener, on the loopback: how long
 * the daemon may wait before a client's deadline, and that the clients
 * past it leave their slots to the next scrape.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "exporter.h"

#define MS	1000000ULL
#define SEC	1000000000ULL

static int connect_to(const struct sockaddr_in *sin)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (const struct sockaddr *)sin,
				 sizeof(*sin)), 0);
	return fd;
}

static unsigned int clients(const struct exporter *e)
{
	unsigned int i, n = 0;

	for (i = 0; i < EXPORTER_CLIENTS; i++)
		n += e->clients[i].fd >= 0;
	return n;
}

/*
 * Eight silent clients: the daemon's wait ends at their deadline, a
 * second after they came, not at its next timer (interval_ms, up to a
 * minute), and the scrape after them is answered.
 */
static void silent_clients_wake_the_loop(void **state)
{
	struct tcpmig_endpoint at = { .addr = htonl(INADDR_LOOPBACK) };
	struct exporter e = { .fd = -1 };
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int epoll = epoll_create1(EPOLL_CLOEXEC), silent[EXPORTER_CLIENTS];
	struct metrics m = { 0 };
	uint64_t t0 = 100 * SEC;
	char answer[64] = "";
	int scrape, i;

	/* No listener, nothing to wait for; none of its slots is fd 0. */
	assert_int_equal(exporter_timeout_ms(&e, t0), -1);
	assert_true(epoll >= 0);
	assert_int_equal(exporter_open(&e, epoll, &at), 0);
	assert_int_equal(exporter_timeout_ms(&e, t0), -1);
	assert_int_equal(getsockname(e.fd, (struct sockaddr *)&sin, &len), 0);

	for (i = 0; i < EXPORTER_CLIENTS; i++)
		silent[i] = connect_to(&sin);
	assert_true(exporter_event(&e, e.fd, &m, t0));
	assert_int_equal(clients(&e), EXPORTER_CLIENTS);
	assert_int_equal(exporter_timeout_ms(&e, t0), 1000);
	assert_int_equal(exporter_timeout_ms(&e, t0 + 400 * MS + 1), 600);
	assert_int_equal(exporter_timeout_ms(&e, t0 + SEC), 0);
	exporter_expire(&e, t0 + SEC);
	assert_int_equal(clients(&e), 0);
	assert_int_equal(exporter_timeout_ms(&e, t0 + SEC), -1);

	scrape = connect_to(&sin);
	assert_true(exporter_event(&e, e.fd, &m, t0 + SEC));
	assert_int_equal(clients(&e), 1);
	assert_int_equal(send(scrape, "GET / HTTP/1.0\r\n\r\n", 18, 0), 18);
	for (i = 0; i < EXPORTER_CLIENTS; i++)
		if (e.clients[i].fd >= 0)
			exporter_event(&e, e.clients[i].fd, &m, t0 + SEC);
	assert_true(recv(scrape, answer, sizeof(answer) - 1, 0) > 0);
	assert_non_null(strstr(answer, "HTTP/1.0 200 OK"));

	close(scrape);
	for (i = 0; i < EXPORTER_CLIENTS; i++)
		close(silent[i]);
	exporter_close(&e);
	close(epoll);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(silent_clients_wake_the_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
