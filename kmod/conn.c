// SPDX-License-Identifier: GPL-2.0
/*
 * Finding TCP connections: by tuple, by socket cookie, or all of them.
 *
 * The established hash of a namespace is reached through the namespace
 * itself (net->ipv4.tcp_death_row.hashinfo), which holds on kernels with
 * per-namespace hash tables as on those with one global table, without
 * needing the tcp_hashinfo symbol.
 */
#include <net/inet_hashtables.h>
#include <net/inet6_hashtables.h>
#include <net/ipv6.h>
#include <net/tcp.h>

#include "conn.h"

static struct inet_hashinfo *net_hashinfo(const struct net *net)
{
	return net->ipv4.tcp_death_row.hashinfo;
}

void capymig_tuple_from_sock(const struct sock *sk, struct capymig_tuple *t)
{
	const struct inet_sock *inet = inet_sk(sk);

	memset(t, 0, sizeof(*t));
	t->local_port = inet->inet_sport;
	t->remote_port = inet->inet_dport;
#if IS_ENABLED(CONFIG_IPV6)
	/*
	 * An IPv4 connection of a dual-stack socket is named as IPv4, as its
	 * packets are; inet_rcv_saddr and inet_daddr hold its addresses too.
	 */
	if (sk->sk_family == AF_INET6 && !ipv6_addr_v4mapped(&sk->sk_v6_daddr)) {
		t->family = AF_INET6;
		memcpy(t->local_addr, &sk->sk_v6_rcv_saddr,
		       sizeof(t->local_addr));
		memcpy(t->remote_addr, &sk->sk_v6_daddr,
		       sizeof(t->remote_addr));
		return;
	}
#endif
	t->family = AF_INET;
	t->local_addr[0] = inet->inet_rcv_saddr;
	t->remote_addr[0] = inet->inet_daddr;
}

/* Any socket in the established hash for @t, referenced. */
static struct sock *lookup_any(struct net *net, const struct capymig_tuple *t)
{
	struct sock *sk;

	rcu_read_lock();
#if IS_ENABLED(CONFIG_IPV6)
	if (t->family == AF_INET6)
		sk = __inet6_lookup_established(net, net_hashinfo(net),
				(const struct in6_addr *)t->remote_addr,
				t->remote_port,
				(const struct in6_addr *)t->local_addr,
				ntohs(t->local_port), 0, 0);
	else
#endif
		sk = __inet_lookup_established(net, net_hashinfo(net),
				t->remote_addr[0], t->remote_port,
				t->local_addr[0], ntohs(t->local_port), 0, 0);
	rcu_read_unlock();
	return sk;
}

struct sock *capymig_conn_lookup(struct net *net,
				 const struct capymig_tuple *t)
{
	struct sock *sk = lookup_any(net, t);

	/* TIME_WAIT and request minisocks are not connections to move. */
	if (sk && !sk_fullsock(sk)) {
		sock_gen_put(sk);
		sk = NULL;
	}
	return sk;
}

bool capymig_conn_tuple_taken(struct net *net, const struct capymig_tuple *t)
{
	struct sock *sk = lookup_any(net, t);

	if (sk)
		sock_gen_put(sk);
	return sk;
}

int capymig_conn_walk(struct net *net, unsigned int *bucket,
		      unsigned int *index,
		      int (*fn)(struct sock *sk, void *arg), void *arg)
{
	struct inet_hashinfo *hinfo = net_hashinfo(net);
	int ret = 0;

	for (; *bucket <= hinfo->ehash_mask; (*bucket)++, *index = 0) {
		struct inet_ehash_bucket *head = &hinfo->ehash[*bucket];
		spinlock_t *lock = inet_ehash_lockp(hinfo, *bucket);
		struct hlist_nulls_node *node;
		unsigned int i = 0;
		struct sock *sk;

		if (hlist_nulls_empty(&head->chain))
			continue;

		spin_lock_bh(lock);
		sk_nulls_for_each(sk, node, &head->chain) {
			if (!net_eq(sock_net(sk), net) ||
			    sk->sk_state != TCP_ESTABLISHED)
				continue;
			if (i++ < *index)
				continue;
			ret = fn(sk, arg);
			if (ret) {
				*index = i - 1;
				break;
			}
		}
		spin_unlock_bh(lock);
		if (ret)
			return ret;
	}
	return 0;
}

struct cookie_match {
	u64 cookie;
	struct sock *sk;
};

static int match_cookie(struct sock *sk, void *arg)
{
	struct cookie_match *m = arg;

	if (capymig_sock_cookie(sk) != m->cookie)
		return 0;
	sock_hold(sk);
	m->sk = sk;
	return 1;
}

struct sock *capymig_conn_lookup_cookie(struct net *net, u64 cookie)
{
	struct cookie_match m = { .cookie = cookie };
	unsigned int bucket = 0, index = 0;

	if (cookie)
		capymig_conn_walk(net, &bucket, &index, match_cookie, &m);
	return m.sk;
}
