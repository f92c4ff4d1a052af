// SPDX-License-Identifier: GPL-2.0
/*
 * tcpmig_app_state: an application that holds part of a request when its
 * connection is moved, and moves that with it (libcapymig's
 * tcpmig_blob_set_app() and tcpmig_blob_app()).
 *
 *	tcpmig_app_state
 *
 * One namespace, loopback, as the client and both server applications.
 * The client sends a request in two parts; the server application reads
 * the first, and the connection is exported with what it read attached.
 * Imported into the listener, the blob is refused (the listener's
 * application would go on without that state) and nothing is sent;
 * imported as a descriptor, the state comes back, the rest of the request
 * is read from the connection, and the whole request is answered: the
 * client gets the answer to what it sent.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tcpmig.h"
#include "tuple.h"
#include "../lib/migrate.h"
#include "../lib/tap.h"
#include "../lib/tcp_counters.h"
#include "../lib/tcp_pair.h"

#define PORT		7511
#define TIMEOUT_MS	5000
#define QUIET_MS	150
#define FIRST_PART	"GET /capy"	/* read before the move */
#define LAST_PART	"bara\n"	/* sent while the connection is away */
#define REQUEST		FIRST_PART LAST_PART
#define ANSWER		"200 /capybara\n"

static struct migrate_host host;

/*
 * Reads into @buf until @len bytes came or, with @line, a '\n'; returns
 * the count or -errno.
 */
static ssize_t read_some(int fd, char *buf, size_t len, bool line)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t n;

	while (got < len && !(line && got && buf[got - 1] == '\n')) {
		if (poll(&p, 1, TIMEOUT_MS) != 1)
			return -ETIMEDOUT;
		n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
		if (n <= 0)
			return n ? -errno : -EPIPE;
		got += n;
	}
	return got;
}

/* Into the listener: refused, saying why, with nothing sent. */
static void import_into_listener(const struct tcpmig_blob *blob)
{
	struct tcp_counters before, after;
	int err;

	if (tcp_counters_settle(&before, QUIET_MS, 3000))
		tap_diag("the namespace never went quiet");
	err = tcpmig_import(&host.nl, blob, NULL, NULL);
	tcp_counters_read(&after);
	tap_result(err == -EINVAL && strstr(host.nl.ext_msg, "application"),
		   "into a listener: refused, %s \"%s\"", strerror(-err),
		   host.nl.ext_msg);
	tap_result(!tcp_counters_sent(&before, &after),
		   "... and nothing sent (%llu segments)",
		   (unsigned long long)tcp_counters_sent(&before, &after));
}

/* As a descriptor: the state and the rest of the request make it whole. */
static void import_and_answer(const struct tcpmig_blob *blob, int client)
{
	const struct tcpmig_import_opts fd_opts = { .want_fd = 1 };
	struct tcpmig_import_result res;
	char request[64] = "", answer[64] = "";
	const void *state;
	uint32_t len;
	ssize_t n;
	int err;

	err = tcpmig_import(&host.nl, blob, &fd_opts, &res);
	tap_result(!err, "as a descriptor: imported (%s \"%s\")",
		   strerror(-err), host.nl.ext_msg);
	if (err)
		return;
	err = tcpmig_blob_app(blob, &state, &len);
	tap_result(!err && len == strlen(FIRST_PART) &&
		   !memcmp(state, FIRST_PART, len),
		   "the application's state comes back from the blob "
		   "(%u bytes)", err ? 0 : len);
	if (!err && len < sizeof(request))
		memcpy(request, state, len);
	n = err ? err : read_some(res.fd, request + len,
				  sizeof(request) - len - 1, true);
	tap_result(n > 0 && !strcmp(request, REQUEST),
		   "with the rest read from the connection, the request is "
		   "whole: \"%.*s\"", (int)strcspn(request, "\n"), request);
	if (n > 0 && send(res.fd, ANSWER, strlen(ANSWER), 0) < 0)
		n = -errno;
	n = n > 0 ? read_some(client, answer, strlen(ANSWER), false) : n;
	tap_result(n > 0 && !strcmp(answer, ANSWER),
		   "the client gets the answer to what it sent (%s)",
		   n > 0 ? "read" : strerror(-n));
	close(res.fd);
}

int main(void)
{
	struct tcpmig_blob blob = {};
	char held[sizeof(FIRST_PART)] = "";
	struct capymig_tuple t;
	int l, client = -1, server = -1;
	int err;

	tap_header();
	err = migrate_host_open(&host, NULL);
	l = err ?: tcp_listener(AF_INET, PORT, NULL);
	client = l < 0 ? l : tcp_connect(l, NULL);
	server = client < 0 ? client : tcp_accept(l, TIMEOUT_MS);
	if (server < 0)
		tap_skip_all("cannot set the connection up");

	/* The server application reads the first part of the request. */
	err = send(client, FIRST_PART, strlen(FIRST_PART), 0) < 0 ? -errno :
	      read_some(server, held, strlen(FIRST_PART), false);
	err = err < 0 ? err : capymig_tuple_from_fd(server, &t) ?:
			      tcpmig_export(&host.nl, &t, 0, &blob);
	tap_result(!err, "exported with part of a request read (%s \"%s\")",
		   strerror(-err), host.nl.ext_msg);
	if (err)
		return tap_done();
	err = tcpmig_blob_set_app(&blob, held, strlen(held));
	tap_result(!err, "the application's state attached (%s)",
		   strerror(-err));
	/* The rest of the request waits in the origin's hold meanwhile. */
	if (send(client, LAST_PART, strlen(LAST_PART), 0) < 0)
		tap_diag("client: %s", strerror(errno));

	import_into_listener(&blob);
	import_and_answer(&blob, client);

	tcpmig_blob_free(&blob);
	close(server);
	close(client);
	close(l);
	tcpmig_nl_close(&host.nl);
	return tap_done();
}
