// SPDX-License-Identifier: GPL-2.0
/*
 * The TCPMig transport: one kernel UDP socket per network namespace.
 *
 * A kernel socket does not hold its namespace, so the socket is created
 * when TCPMig is configured and released with the namespace.  Receiving
 * happens in softirq, where little may be done: the message's source is
 * checked against the pool and the rest of the work is queued for the
 * protocol worker, which runs in process context like every other part of
 * the protocol.
 */
#include <linux/in.h>
#include <linux/net.h>
#include <linux/udp.h>
#include <net/udp.h>
#include <net/udp_tunnel.h>

#include "capymig.h"
#include "peer.h"
#include "protocol.h"
#include "socket.h"

/* Messages waiting for the worker; more means the host is overwhelmed. */
#define RX_QUEUE_MAX	8192
/*
 * A CONN-STATE is sent as a burst of fragments: a busy connection's state
 * is megabytes, and a fragment that does not fit is only sent again after
 * a retransmission timeout.
 */
#define SNDBUF		(8 << 20)

static int capymig_udp_rcv(struct sock *sk, struct sk_buff *skb)
{
	struct capymig_net *cn = rcu_dereference_sk_user_data(sk);
	__be32 saddr = ip_hdr(skb)->saddr;
	bool from_switch;

	if (!cn) {
		kfree_skb(skb);
		return 0;
	}
	/*
	 * TCPMig is unicast between configured addresses.  Without a switch
	 * configured its address is 0, which a broadcast from an address
	 * not yet assigned (0.0.0.0) must not pass for.
	 */
	from_switch = saddr && saddr == READ_ONCE(cn->switch_addr);
	if (skb->pkt_type != PACKET_HOST ||
	    (!from_switch && !capymig_peer_is_member(cn, saddr))) {
		capymig_count(cn->net, TCPMIG_STAT_MSG_NOT_MEMBER, 1);
		kfree_skb(skb);
		return 0;
	}
	if (capymig_proto_rcv_load(cn, skb, from_switch)) {
		consume_skb(skb);
		return 0;
	}
	if (skb_queue_len(&cn->rx) >= RX_QUEUE_MAX) {
		capymig_count(cn->net, TCPMIG_STAT_MSG_OVERFLOWS, 1);
		kfree_skb(skb);
		return 0;
	}
	/* Its route may be one without a reference, valid only in here. */
	skb_dst_drop(skb);
	skb_queue_tail(&cn->rx, skb);
	/*
	 * A bound high-priority worker runs here as soon as the softirq
	 * ends; an unbound one is woken elsewhere, which cost each message
	 * as much again as its way through the network (bench: rtt).
	 */
	queue_work(system_highpri_wq, &cn->rx_work);
	return 0;
}

int capymig_socket_open(struct capymig_net *cn, u16 port)
{
	struct udp_tunnel_sock_cfg tcfg = {
		.sk_user_data = cn,
		.encap_type = 1,
		.encap_rcv = capymig_udp_rcv,
	};
	struct udp_port_cfg cfg = {
		.family = AF_INET,
		.local_ip.s_addr = htonl(INADDR_ANY),
		.local_udp_port = htons(port),
	};
	struct socket *sock;
	int err;

	lockdep_assert_held(&cn->lock);
	err = udp_sock_create4(cn->net, &cfg, &sock);
	if (err)
		return err;
	setup_udp_tunnel_sock(cn->net, sock, &tcfg);
	sock->sk->sk_sndbuf = SNDBUF;
	sock->sk->sk_userlocks |= SOCK_SNDBUF_LOCK;
	/*
	 * Only now: a port taken by another socket leaves TCPMig as it was
	 * (a new port is never the old one: protocol.c opens no other).
	 */
	capymig_socket_close(cn);
	cn->sock = sock;
	cn->port = port;
	return 0;
}

void capymig_socket_close(struct capymig_net *cn)
{
	if (!cn->sock)
		return;
	udp_tunnel_sock_release(cn->sock);
	cn->sock = NULL;
}

int capymig_send(struct capymig_net *cn, __be32 daddr, struct kvec *vec,
		 size_t nvec)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = daddr,
		.sin_port = htons(cn->port),
	};
	struct msghdr msg = {
		.msg_name = &sin,
		.msg_namelen = sizeof(sin),
		.msg_flags = MSG_DONTWAIT,
	};
	size_t len = 0, i;
	int ret;

	if (!cn->sock)
		return -ENOTCONN;
	for (i = 0; i < nvec; i++)
		len += vec[i].iov_len;
	ret = kernel_sendmsg(cn->sock, &msg, vec, nvec, len);
	return ret < 0 ? ret : 0;
}
