/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Loopback TCP connections whose two ends one test process holds, each
 * end sending a verifiable stream (stream.h) to the other.  The positions
 * in the streams are the application's state: when a test migrates the
 * server end, it swaps the descriptor and the streams carry on.
 */
#ifndef CAPYMIG_SELFTEST_TCP_PAIR_H
#define CAPYMIG_SELFTEST_TCP_PAIR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "migrate.h"

/* How to create a socket: applied before listen() or connect(). */
struct sock_opts {
	int protocol;	/* 0 (TCP) or IPPROTO_MPTCP */
	int rcvbuf;	/* SO_RCVBUFFORCE value, 0 for the default */
	int sndbuf;	/* SO_SNDBUFFORCE value, 0 for the default */
	int (*prepare)(int fd);	/* more setup, or NULL; 0 or -errno */
};

struct tcp_end {
	int fd;				/* nonblocking */
	uint64_t tx_seed, tx_pos;	/* our stream: bytes written so far */
	uint64_t rx_seed, rx_pos;	/* the peer's stream: bytes read */
	uint64_t bad_at;		/* first corrupt byte read + 1, or 0 */
	int eof;			/* the peer shut down its direction */
};

struct tcp_pair {
	struct tcp_end client, server;
};

/* CLOCK_MONOTONIC in milliseconds. */
double now_ms(void);

/* The loopback address of @family with @port (host order) into @ss. */
socklen_t loopback_sockaddr(int family, uint16_t port,
			    struct sockaddr_storage *ss);

/* A listener on loopback:@port; returns its fd or -errno. */
int tcp_listener(int family, uint16_t port, const struct sock_opts *o);

/* A connected client of @listener, blocking; returns its fd or -errno. */
int tcp_connect(int listener, const struct sock_opts *o);

/* accept() within @timeout_ms; the new fd is nonblocking, or -errno. */
int tcp_accept(int listener, int timeout_ms);

/*
 * A new connection to @listener (@o for the client's socket), accepted;
 * the streams of each pair get their own seeds, so bytes of one never
 * pass for another's.  Returns 0 or -errno.  tcp_pair_start() only
 * connects (the server end is -1), tcp_pair_accept() completes it.
 */
int tcp_pair_connect(struct tcp_pair *p, int listener,
		     const struct sock_opts *o);
int tcp_pair_start(struct tcp_pair *p, int listener,
		   const struct sock_opts *o);
int tcp_pair_accept(struct tcp_pair *p, int listener);

/* Closes both ends; tcp_pair_abort() with resets, leaving nothing. */
void tcp_pair_close(struct tcp_pair *p);
void tcp_pair_abort(struct tcp_pair *p);

/*
 * Writes @len more bytes of @e's stream, waiting at most @timeout_ms for
 * room.  Returns 0 or -errno (-ETIMEDOUT).
 */
int tcp_end_write(struct tcp_end *e, uint64_t len, int timeout_ms);

/*
 * Reads and checks what has arrived, without waiting.  Returns the number
 * of bytes read, or -EBADMSG when a byte is not the stream's, or -errno.
 */
int64_t tcp_end_read(struct tcp_end *e);

/*
 * Sends @to_client more bytes from the server and @to_server from the
 * client, and reads on both ends until each has everything the other
 * ever wrote (what was queued before included), within @timeout_ms.
 * Returns 0, -ETIMEDOUT, -EBADMSG (corruption), -EPIPE (early EOF) or
 * another -errno.
 */
int tcp_pair_flow(struct tcp_pair *p, uint64_t to_client, uint64_t to_server,
		  int timeout_ms);

/*
 * Moves @p's server end within @host's namespace: export, import into
 * @listener's accept queue, accept.  The stream carries on over the new
 * socket; the origin's is closed, or left to the caller in *@origin.
 * Returns 0, or -errno with what failed in @why (MIGRATE_WHY_LEN bytes).
 */
int tcp_pair_migrate(struct tcp_pair *p, struct migrate_host *host,
		     int listener, int *origin, char *why);

/*
 * Makes @fd discard every segment it receives (a socket filter), or stop
 * doing so: its peer's data then stays unacknowledged.  Returns 0 or
 * -errno.
 */
int sock_drop_input(int fd, bool drop);

/* Bytes in the receive queue (SIOCINQ) and send queue (SIOCOUTQ). */
int sock_inq(int fd);
int sock_outq(int fd);

#endif /* CAPYMIG_SELFTEST_TCP_PAIR_H */
