/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _CAPYMIG_CONN_H
#define _CAPYMIG_CONN_H

#include <linux/capymig.h>
#include <net/sock.h>

/* The connection as @sk serves it. */
void capymig_tuple_from_sock(const struct sock *sk, struct capymig_tuple *t);

/*
 * The established socket serving @t, or by socket cookie, in @net; with a
 * reference the caller drops with sock_put().  NULL when there is none.
 */
struct sock *capymig_conn_lookup(struct net *net,
				 const struct capymig_tuple *t);
struct sock *capymig_conn_lookup_cookie(struct net *net, u64 cookie);

/* A socket of any state (even TIME_WAIT) already owns @t in @net. */
bool capymig_conn_tuple_taken(struct net *net, const struct capymig_tuple *t);

/*
 * Calls @fn for each established TCP socket of @net, with the hash bucket
 * lock held (atomic context), resuming at *@bucket / *@index and leaving
 * them where @fn first returned nonzero, so a dump can continue later.
 */
int capymig_conn_walk(struct net *net, unsigned int *bucket,
		      unsigned int *index,
		      int (*fn)(struct sock *sk, void *arg), void *arg);

/* Socket cookie if one was ever taken (SO_COOKIE, BPF), else 0. */
static inline u64 capymig_sock_cookie(const struct sock *sk)
{
	return atomic64_read(&sk->sk_cookie);
}

#endif /* _CAPYMIG_CONN_H */
