// SPDX-License-Identifier: GPL-2.0
/*
 * Import: rebuild an ESTABLISHED socket from a state blob and hand it to
 * the local listener's accept queue, or to the caller as a descriptor.
 *
 * The socket is rebuilt through the kernel's own TCP_REPAIR entry points,
 * called in-kernel through the socket's protocol operations: no syscall, no
 * descriptor, and one code path on old and new kernels.  Fields the repair
 * interface does not cover (RTT estimator, congestion window, timestamps
 * seen) are written directly while the socket is locked.
 *
 * Until repair mode ends, nothing can reach the wire: any failure before
 * that closes the new socket silently.  So everything that can be refused
 * is checked first - the tuple is free, the listener exists and has room -
 * and the listener is kept locked from that check to the delivery.
 *
 * A socket bound for a listener is built by a kernel worker, outside any
 * application's memory cgroup: accept() charges the acceptor's cgroup, and
 * a socket that already had one would leak a reference.
 */
#include <linux/bpf-cgroup.h>
#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/net.h>
#include <linux/security.h>
#include <linux/workqueue.h>
#include <net/inet_connection_sock.h>
#include <net/inet_hashtables.h>
#include <net/inet6_hashtables.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/request_sock.h>
#include <net/sock_reuseport.h>
#include <net/tcp.h>

#include "capymig.h"
#include "compat.h"
#include "conn.h"
#include "hold.h"
#include "state.h"

/**
 * struct import_req - one import, handed to the worker
 * @work: runs import_work().
 * @done: completed by the worker.
 * @net: where to import.
 * @st: the decoded state.
 * @serve: the tuple to serve the connection under.
 * @listener_cookie: the listener to deliver to, 0 for the usual choice.
 * @want_file: return a file instead of using a listener.
 * @file: the result with @want_file.
 * @why: the reason of a refusal, for extack.
 * @err: the result.
 * @cred: whose authority the import acts with: every check on the way
 *	(congestion control module autoloading among them) is the
 *	requester's, never the kernel worker's.
 * @pending: in the namespace's imports under way, while it runs.
 */
struct import_req {
	struct work_struct work;
	struct completion done;
	struct net *net;
	const struct capymig_state *st;
	struct capymig_tuple serve;
	u64 listener_cookie;
	bool want_file;
	struct file *file;
	const char *why;
	int err;
	const struct cred *cred;
	struct list_head pending;
};

/*
 * From TCP_REPAIR_OFF to its delivery, an imported socket is live and
 * hashed, and belongs to nobody yet: an EXPORT or a MIGRATE by tuple must
 * not take it then, without the unsent bytes the import queues last, and
 * leave the listener a detached socket to hand to the application.  So
 * each import is listed in its namespace from before its socket exists to
 * after it is delivered, and capymig_export_refusal() asks the list.  The
 * list also keeps two imports of one connection from racing.  Short: an
 * entry per import under way.
 */
void capymig_import_net_init(struct capymig_net *cn)
{
	spin_lock_init(&cn->importing_lock);
	INIT_LIST_HEAD(&cn->importing);
}

static struct import_req *pending_find(struct capymig_net *cn,
				       const struct capymig_tuple *t)
{
	struct import_req *r;

	list_for_each_entry(r, &cn->importing, pending)
		if (!memcmp(&r->serve, t, sizeof(*t)))
			return r;
	return NULL;
}

bool capymig_import_pending(struct net *net, const struct capymig_tuple *t)
{
	struct capymig_net *cn = capymig_pernet(net);
	bool pending;

	spin_lock_bh(&cn->importing_lock);
	pending = pending_find(cn, t);
	spin_unlock_bh(&cn->importing_lock);
	return pending;
}

/* Lists @r, unless its connection is already being imported. */
static bool pending_begin(struct capymig_net *cn, struct import_req *r)
{
	bool alone;

	spin_lock_bh(&cn->importing_lock);
	alone = !pending_find(cn, &r->serve);
	if (alone)
		list_add(&r->pending, &cn->importing);
	spin_unlock_bh(&cn->importing_lock);
	return alone;
}

static void pending_end(struct capymig_net *cn, struct import_req *r)
{
	spin_lock_bh(&cn->importing_lock);
	list_del(&r->pending);
	spin_unlock_bh(&cn->importing_lock);
}

static int tcp_opt(struct sock *sk, int opt, const void *val, unsigned int len)
{
	return sk->sk_prot->setsockopt(sk, SOL_TCP, opt,
				       KERNEL_SOCKPTR((void *)val), len);
}

static int tcp_opt_int(struct sock *sk, int opt, int val)
{
	return tcp_opt(sk, opt, &val, sizeof(val));
}

/* Picks @cookie's socket out of @sk's SO_REUSEPORT group.  RCU held. */
static struct sock *reuseport_member(struct sock *sk, u64 cookie)
{
	struct sock_reuseport *reuse = rcu_dereference(sk->sk_reuseport_cb);
	int i;

	if (capymig_sock_cookie(sk) == cookie)
		return sk;
	for (i = 0; reuse && i < reuse->num_socks; i++)
		if (capymig_sock_cookie(reuse->socks[i]) == cookie)
			return reuse->socks[i];
	return NULL;
}

/* The listener that would accept @t, referenced. */
static struct sock *find_listener(struct net *net,
				  const struct capymig_tuple *t, u64 cookie)
{
	struct inet_hashinfo *hinfo = net->ipv4.tcp_death_row.hashinfo;
	struct sock *sk;

	rcu_read_lock();
#if IS_ENABLED(CONFIG_IPV6)
	if (t->family == AF_INET6)
		sk = inet6_lookup_listener(net, hinfo, NULL, 0,
				(const struct in6_addr *)t->remote_addr,
				t->remote_port,
				(const struct in6_addr *)t->local_addr,
				ntohs(t->local_port), 0, 0);
	else
#endif
		sk = __inet_lookup_listener(net, hinfo, NULL, 0,
				t->remote_addr[0], t->remote_port,
				t->local_addr[0], ntohs(t->local_port), 0, 0);
	if (sk && cookie)
		sk = reuseport_member(sk, cookie);
	if (sk && !refcount_inc_not_zero(&sk->sk_refcnt))
		sk = NULL;
	rcu_read_unlock();
	return sk;
}

bool capymig_listener_exists(struct net *net, const struct capymig_tuple *t)
{
	struct sock *sk = find_listener(net, t, 0);

	if (sk)
		sock_put(sk);
	return sk;
}

/*
 * Socket addresses for @t in @family: an IPv4 connection served by an
 * IPv6 (dual-stack) socket uses v4-mapped addresses.
 */
static int tuple_sockaddr(const struct capymig_tuple *t, int family,
			  bool local, struct sockaddr_storage *ss)
{
	const __be32 *addr = local ? t->local_addr : t->remote_addr;
	__be16 port = local ? t->local_port : t->remote_port;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = addr[0];
		sin->sin_port = port;
		return sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		if (t->family == AF_INET)
			ipv6_addr_set_v4mapped(addr[0], &sin6->sin6_addr);
		else
			memcpy(&sin6->sin6_addr, addr, sizeof(sin6->sin6_addr));
		sin6->sin6_port = port;
		return sizeof(*sin6);
	}
}

/* @len bytes of @bytes from @skip on, in @it. */
static void bytes_iter(const struct capymig_bytes *bytes, u32 skip, u32 len,
		       struct iov_iter *it)
{
	*it = bytes->from;
	iov_iter_advance(it, skip);
	iov_iter_truncate(it, len);
}

/*
 * Sends @len bytes of @bytes from @skip on, on @sock, as one queue: all of
 * them, or fails.  Straight from where the blob lies.
 */
static int send_bytes(struct socket *sock, const struct capymig_bytes *bytes,
		      u32 skip, u32 len)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL };
	int n;

	bytes_iter(bytes, skip, len, &msg.msg_iter);
	while (msg_data_left(&msg)) {
		n = sock_sendmsg(sock, &msg);
		if (n <= 0)
			return n ? n : -EIO;
	}
	return 0;
}

/*
 * The unsent bytes are sent after the point of no return, where failing
 * resets the connection.  Those in the requester's memory are faulted in
 * before, so that only a requester unmapping them meanwhile can fail it.
 */
static int fault_in_unsent(const struct capymig_state *st, u32 sent)
{
	struct iov_iter it;

	bytes_iter(&st->sndq, sent, st->sndq.len - sent, &it);
	return fault_in_iov_iter_readable(&it, iov_iter_count(&it)) ?
	       -EFAULT : 0;
}

/*
 * Room for the queues while they are restored: the receive queue is
 * charged against the receive buffer and the send queue against the send
 * buffer, and its unsent part against TCP_NOTSENT_LOWAT (the socket's,
 * else net.ipv4.tcp_notsent_lowat, which a target may set lower than the
 * origin's queue): restoring must neither drop nor block.  The
 * application's own limits come back at the end.
 */
static void open_buffers(struct sock *sk, const struct capymig_state *st)
{
	lock_sock(sk);
	tcp_sk(sk)->notsent_lowat = UINT_MAX;
	sk->sk_rcvbuf = max_t(u32, ntohl(st->sockopts.rcvbuf),
			      2 * st->rcvq.len + SOCK_MIN_RCVBUF);
	sk->sk_sndbuf = max_t(u32, ntohl(st->sockopts.sndbuf),
			      2 * st->sndq.len + SOCK_MIN_SNDBUF);
	sk->sk_userlocks |= SOCK_SNDBUF_LOCK | SOCK_RCVBUF_LOCK;
	release_sock(sk);
}

static void restore_buffers(struct sock *sk, const struct capymig_state *st)
{
	u32 flags = ntohl(st->sockopts.flags);

	lock_sock(sk);
	tcp_sk(sk)->notsent_lowat = ntohl(st->sockopts.notsent_lowat);
	sk->sk_rcvbuf = ntohl(st->sockopts.rcvbuf);
	sk->sk_sndbuf = ntohl(st->sockopts.sndbuf);
	sk->sk_userlocks &= ~(SOCK_SNDBUF_LOCK | SOCK_RCVBUF_LOCK);
	if (flags & TCPMIG_SOCKOPT_SNDBUF_LOCK)
		sk->sk_userlocks |= SOCK_SNDBUF_LOCK;
	if (flags & TCPMIG_SOCKOPT_RCVBUF_LOCK)
		sk->sk_userlocks |= SOCK_RCVBUF_LOCK;
	release_sock(sk);
}

/* Repair mode on, sequence numbers and pre-connect options in place. */
static int prepare_socket(struct sock *sk, const struct capymig_state *st,
			  const char **why)
{
	const struct tcpmig_st_congestion *c = &st->congestion;
	int err;

	err = tcp_opt_int(sk, TCP_REPAIR, TCP_REPAIR_ON) ?:
	      tcp_opt_int(sk, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) ?:
	      tcp_opt_int(sk, TCP_QUEUE_SEQ, ntohl(st->seq.copied_seq)) ?:
	      tcp_opt_int(sk, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) ?:
	      tcp_opt_int(sk, TCP_QUEUE_SEQ, ntohl(st->seq.snd_una));
	if (err) {
		*why = "cannot enter TCP repair mode";
		return err;
	}
	if (st->options.user_mss &&
	    tcp_opt_int(sk, TCP_MAXSEG, ntohs(st->options.user_mss))) {
		*why = "cannot restore TCP_MAXSEG";
		return -EINVAL;
	}
	err = tcp_opt(sk, TCP_CONGESTION, c->ca_name, strlen(c->ca_name));
	if (err)
		*why = "congestion control algorithm not available here";
	return err;
}

static int connect_socket(struct socket *sock, const struct capymig_tuple *t,
			  const char **why)
{
	struct sockaddr_storage local, remote;
	int family = sock->sk->sk_family;
	int err;

	err = kernel_bind(sock, (struct sockaddr *)&local,
			  tuple_sockaddr(t, family, true, &local));
	if (err) {
		*why = "cannot bind the local address";
		return err;
	}
	/* Under repair, connect hashes the socket ESTABLISHED, no SYN. */
	err = kernel_connect(sock, (struct sockaddr *)&remote,
			     tuple_sockaddr(t, family, false, &remote), 0);
	if (err)
		*why = err == -EADDRNOTAVAIL ? "the connection already exists" :
					       "cannot establish the connection";
	return err;
}

static int restore_options(struct sock *sk, const struct capymig_state *st)
{
	const struct tcpmig_st_options *o = &st->options;
	u32 flags = ntohl(o->flags);
	struct tcp_repair_opt opts[4];
	int n = 0, err;

	opts[n++] = (struct tcp_repair_opt) { TCPOPT_MSS, ntohs(o->mss_clamp) };
	if (flags & TCPMIG_OPT_WSCALE)
		opts[n++] = (struct tcp_repair_opt) {
			TCPOPT_WINDOW, o->snd_wscale | o->rcv_wscale << 16 };
	if (flags & TCPMIG_OPT_SACK)
		opts[n++] = (struct tcp_repair_opt) { TCPOPT_SACK_PERM, 0 };
	if (flags & TCPMIG_OPT_TIMESTAMP)
		opts[n++] = (struct tcp_repair_opt) { TCPOPT_TIMESTAMP, 0 };
	err = tcp_opt(sk, TCP_REPAIR_OPTIONS, opts, n * sizeof(opts[0]));
	if (!err && (flags & TCPMIG_OPT_TIMESTAMP))
		err = tcp_opt_int(sk, TCP_TIMESTAMP, capymig_ts_sockopt(
			ntohl(o->ts_val), flags & TCPMIG_OPT_TS_USEC));
	return err;
}

/*
 * The queues: unread bytes into the receive queue, the bytes already sent
 * once into the retransmit queue (repair mode marks them sent without
 * sending).  The unsent rest is sent normally once repair ends.
 */
static int restore_queues(struct socket *sock, const struct capymig_state *st)
{
	struct sock *sk = sock->sk;
	u32 sent = ntohl(st->seq.snd_nxt) - ntohl(st->seq.snd_una);
	const struct tcpmig_st_window *w = &st->window;
	struct tcp_repair_window win = {
		.snd_wl1 = ntohl(st->seq.snd_wl1),
		.snd_wnd = ntohl(w->snd_wnd),
		.max_window = ntohl(w->max_window),
		.rcv_wnd = ntohl(w->rcv_wnd),
		.rcv_wup = ntohl(st->seq.rcv_wup),
	};

	return tcp_opt_int(sk, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) ?:
	       send_bytes(sock, &st->rcvq, 0, st->rcvq.len) ?:
	       tcp_opt_int(sk, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) ?:
	       send_bytes(sock, &st->sndq, 0, sent) ?:
	       tcp_opt_int(sk, TCP_REPAIR_QUEUE, TCP_NO_QUEUE) ?:
	       tcp_opt(sk, TCP_REPAIR_WINDOW, &win, sizeof(win));
}

/*
 * What TCP_REPAIR cannot set: the RTT estimator (without it the first
 * retransmission would wait a full second), the congestion state, the
 * peer's last timestamp, ECN, window clamping.
 */
static void restore_tcp_fields(struct sock *sk, const struct capymig_state *st)
{
	const struct tcpmig_st_rtt *r = &st->rtt;
	struct inet_connection_sock *icsk = inet_csk(sk);
	struct tcp_sock *tp = tcp_sk(sk);
	struct dst_entry *dst;

	lock_sock(sk);
	tp->srtt_us = ntohl(r->srtt_us);
	tp->mdev_us = ntohl(r->mdev_us);
	tp->mdev_max_us = ntohl(r->mdev_max_us);
	tp->rttvar_us = ntohl(r->rttvar_us);
	tp->rtt_seq = tp->snd_nxt;
	icsk->icsk_rto = clamp_t(u32, usecs_to_jiffies(ntohl(r->rto_us)),
				 TCP_RTO_MIN, TCP_RTO_MAX);
	if (tp->packets_out)
		inet_csk_reset_xmit_timer(sk, ICSK_TIME_RETRANS, icsk->icsk_rto,
					  TCP_RTO_MAX);

	tcp_snd_cwnd_set(tp, ntohl(st->congestion.cwnd));
	tp->snd_ssthresh = ntohl(st->congestion.ssthresh);
	tp->snd_cwnd_stamp = tcp_jiffies32;

	if (tp->rx_opt.tstamp_ok) {
		tp->rx_opt.ts_recent = ntohl(st->options.ts_recent);
		tp->rx_opt.ts_recent_stamp = ktime_get_seconds();
	}
	tp->ecn_flags = capymig_ecn_from_opts(ntohl(st->options.flags));
	tp->advmss = ntohs(st->options.advmss);
	tp->window_clamp = ntohl(st->window.window_clamp);
	tp->rcv_ssthresh = ntohl(st->window.rcv_ssthresh);
	icsk->icsk_ack.rcv_mss = ntohs(st->options.rcv_mss);
	/*
	 * connect() sized the MSS for a peer it knew nothing about; now the
	 * peer's MSS is restored, size it for the route again.  Through the
	 * socket's own pointer: tcp_sync_mss() is not exported everywhere.
	 */
	dst = __sk_dst_get(sk);
	if (dst)
		icsk->icsk_sync_mss(sk, dst_mtu(dst));
	else
		icsk->icsk_pmtu_cookie = 0;	/* resynced on the next send */
	release_sock(sk);
}

static void restore_sockopts(struct sock *sk, const struct capymig_state *st)
{
	const struct tcpmig_st_sockopts *s = &st->sockopts;
	u32 flags = ntohl(s->flags);

	if (flags & TCPMIG_SOCKOPT_NODELAY)
		tcp_sock_set_nodelay(sk);
	tcp_sock_set_keepidle(sk, ntohl(s->keepidle_s));
	tcp_sock_set_keepintvl(sk, ntohl(s->keepintvl_s));
	tcp_sock_set_keepcnt(sk, ntohl(s->keepcnt));
	if (flags & TCPMIG_SOCKOPT_KEEPALIVE)
		sock_set_keepalive(sk);
	tcp_sock_set_user_timeout(sk, ntohl(s->user_timeout_ms));
	sock_set_priority(sk, ntohl(s->priority));
	sock_set_mark(sk, ntohl(s->mark));

	lock_sock(sk);
	if (flags & TCPMIG_SOCKOPT_LINGER) {
		sk->sk_lingertime = ntohl(s->linger_s) * HZ;
		sock_set_flag(sk, SOCK_LINGER);
	}
#if IS_ENABLED(CONFIG_IPV6)
	if (sk->sk_family == AF_INET6 && st->tuple.family == AF_INET6)
		inet6_sk(sk)->tclass = s->tos;
	else
#endif
		inet_sk(sk)->tos = s->tos;
	release_sock(sk);
}

/*
 * A socket's cgroup picks the cgroup BPF programs run for it (sockops,
 * cgroup_skb, the server monitor's).  One the listener accepted has the
 * listener's cgroup (sk_clone_lock copies it); one built by the worker got
 * the root cgroup.  Give it the listener's before it is hashed, so that
 * from its first packet it is the service's.  The references taken, on
 * the cgroup and on its BPF programs, are those cgroup_sk_free() drops;
 * the root's, replaced, go now.
 */
static void take_listener_cgroup(struct sock *sk, struct sock *listener)
{
#ifdef CONFIG_SOCK_CGROUP_DATA
	struct cgroup *old = sock_cgroup_ptr(&sk->sk_cgrp_data);
	struct cgroup *cgrp = sock_cgroup_ptr(&listener->sk_cgrp_data);

	cgroup_get(cgrp);
	cgroup_bpf_get(cgrp);
	sk->sk_cgrp_data.cgroup = cgrp;
	cgroup_bpf_put(old);
	cgroup_put(old);
#endif
}

/*
 * What TCP runs when a connection it accepts is established
 * (tcp_init_transfer()): the sockops programs of the socket's cgroup see
 * it, here with args[0] saying it migrated in.  The server monitor
 * records it then.  Under the socket lock, as TCP calls them.
 */
static void run_sockops_established(struct sock *sk)
{
	u32 arg = CAPYMIG_SOCKOPS_IMPORTED;

	lock_sock(sk);
	tcp_call_bpf(sk, BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB, 1, &arg);
	release_sock(sk);
}

/*
 * Puts @sock's sock in @listener's accept queue, as the SYN-cookie path
 * does for a child it creates: a request socket with no fast-open state,
 * @req, carries it, and accept() then grafts it onto a new struct socket.
 * @listener is locked, so it is still listening.
 */
static void deliver_to_listener(struct sock *listener, struct socket *sock,
				struct request_sock *req)
{
	struct sock *sk = sock->sk;

	tcp_rsk(req)->tfo_listener = false;
	refcount_set(&req->rsk_refcnt, 1);
	security_sk_clone(listener, sk);
	/*
	 * SO_REUSEADDR and SO_REUSEPORT, as a child the listener accepted
	 * has them (sk_clone_lock copies them; leaving repair mode cleared
	 * ours): the TIME-WAIT the connection leaves when it closes must not
	 * keep the service's port from being bound again (a server
	 * restarting) where the listener's own children's would not.
	 */
	sk->sk_reuse = listener->sk_reuse;
	sk->sk_reuseport = listener->sk_reuseport;

	/* Off its temporary struct socket, without marking it dead. */
	write_lock_bh(&sk->sk_callback_lock);
	rcu_assign_pointer(sk->sk_wq, NULL);
	sk_set_socket(sk, NULL);
	write_unlock_bh(&sk->sk_callback_lock);
	sock->sk = NULL;

	local_bh_disable();
	inet_csk_reqsk_queue_add(listener, req, sk);
	local_bh_enable();
	listener->sk_data_ready(listener);

	sock_release(sock);
}

static int import_socket(struct import_req *r, struct sock *listener,
			 struct socket *sock)
{
	const struct capymig_state *st = r->st;
	struct sock *sk = sock->sk;
	u32 sent = ntohl(st->seq.snd_nxt) - ntohl(st->seq.snd_una);
	struct request_sock *req = NULL;
	int err;

	if (listener)
		take_listener_cgroup(sk, listener);
	err = prepare_socket(sk, st, &r->why);
	if (err)
		return err;
	open_buffers(sk, st);
	err = connect_socket(sock, &r->serve, &r->why);
	if (err)
		return err;
	err = restore_options(sk, st) ?: restore_queues(sock, st);
	if (err) {
		/* Unreadable: bytes in the requester's memory, unmapped. */
		r->why = err == -EFAULT ? "state buffer not readable" :
			 "cannot restore the connection's queues or options";
		return err;
	}
	restore_tcp_fields(sk, st);
	restore_sockopts(sk, st);
	if (fault_in_unsent(st, sent)) {
		r->why = "state buffer not readable";
		return -EFAULT;
	}

	if (listener) {
		/*
		 * Held until the connection is in its accept queue, so that
		 * it is still listening then.  The new socket's lock, which
		 * setsockopt() and sendmsg() take meanwhile, is of the same
		 * class: the listener's is the outer one, as when TCP locks
		 * a child while it holds its listener.
		 */
		lock_sock_nested(listener, SINGLE_DEPTH_NESTING);
		if (listener->sk_state != TCP_LISTEN ||
		    sk_acceptq_is_full(listener)) {
			release_sock(listener);
			r->why = "the listener is gone or its accept queue is full";
			return -ENOBUFS;
		}
		/* Before the point of no return: it may fail (GFP_ATOMIC). */
		req = inet_reqsk_alloc(listener->sk_prot->rsk_prot, listener,
				       false);
		if (!req) {
			release_sock(listener);
			r->why = "no memory for the accept queue's entry";
			return -ENOMEM;
		}
	} else {
		r->file = sock_alloc_file(sock, 0, NULL);
		if (IS_ERR(r->file)) {
			/* sock_alloc_file() released the socket, silently. */
			r->why = "cannot allocate a file";
			return PTR_ERR(r->file);
		}
	}

	/*
	 * The point of no return: the connection is live from here.  With
	 * the window probe TCP_REPAIR_OFF sends, whose answer costs the
	 * client a packet: without it (TCP_REPAIR_OFF_NO_WP, tried), clients
	 * whose segments were delayed on the way retransmitted 37 to 521
	 * segments in 20 migrations, against 0 to 4 with it (the "TCP
	 * delayed" stream of selftests/net/tcpmig_switch.sh).
	 */
	tcp_opt_int(sk, TCP_REPAIR, TCP_REPAIR_OFF);
	err = send_bytes(sock, &st->sndq, sent, st->sndq.len - sent);
	if (err) {
		/*
		 * open_buffers() made room in the send buffer, but TCP's or
		 * the memory cgroup's limits can still refuse the memory (or
		 * the requester unmap the bytes).  Bytes missing from the
		 * middle of the stream would corrupt it: the connection is
		 * reset instead, and the import fails.
		 */
		tcp_abort(sk, ECONNABORTED);
		if (listener) {
			reqsk_free(req);
			release_sock(listener);
		} else {
			fput(r->file);	/* and with it the socket */
			r->file = ERR_PTR(err);
		}
		r->why = "cannot queue the unsent data: connection reset";
		return err;
	}
	restore_buffers(sk, st);
	run_sockops_established(sk);

	if (listener) {
		deliver_to_listener(listener, sock, req);
		release_sock(listener);
	}
	return 0;
}

static void import_work(struct work_struct *work)
{
	struct import_req *r = container_of(work, struct import_req, work);
	struct capymig_net *cn = capymig_pernet(r->net);
	struct sock *listener = NULL;
	const struct cred *old_cred;
	struct socket *sock;
	int family = r->serve.family;
	int err;

	old_cred = override_creds(r->cred);

	if (!r->want_file) {
		listener = find_listener(r->net, &r->serve, r->listener_cookie);
		if (!listener) {
			r->why = "no listener for the connection's local address";
			err = -ECONNREFUSED;
			goto out;
		}
		family = listener->sk_family;
	}
	if (!pending_begin(cn, r)) {
		r->why = "the connection is already being imported";
		err = -EEXIST;
		goto out;
	}
	if (capymig_conn_tuple_taken(r->net, &r->serve)) {
		r->why = "the connection already exists";
		err = -EEXIST;
		goto done;
	}

	err = __sock_create(r->net, family, SOCK_STREAM, IPPROTO_TCP, &sock, 0);
	if (err) {
		r->why = "cannot create a socket";
		goto done;
	}
	err = import_socket(r, listener, sock);
	/* Never live on failure: released in repair mode, it sends nothing. */
	if (err && !(r->want_file && IS_ERR(r->file)))
		sock_release(sock);
	if (!err)
		capymig_hold_release(r->net, &r->serve);
done:
	pending_end(cn, r);
out:
	if (listener)
		sock_put(listener);
	revert_creds(old_cred);
	r->err = err;
	complete(&r->done);
}

static struct workqueue_struct *import_wq;

int capymig_import(struct net *net, const struct capymig_state *st,
		   const struct capymig_tuple *serve, u64 listener_cookie,
		   struct file **file, const struct cred *cred,
		   struct netlink_ext_ack *extack)
{
	struct import_req r = {
		.net = net,
		.st = st,
		.serve = serve ? *serve : st->tuple,
		.listener_cookie = listener_cookie,
		.want_file = file,
		.cred = cred,	/* valid: we wait for the worker */
	};

	/*
	 * The application's own state rides in the blob for whoever imports
	 * it to restore with the descriptor: a listener's application would
	 * go on without it.
	 */
	if (st->app.len && !file) {
		NL_SET_ERR_MSG(extack, "the blob carries the application's "
			       "state: import it as a descriptor");
		return -EINVAL;
	}
	if (serve && (serve->family != st->tuple.family ||
		      serve->remote_port != st->tuple.remote_port ||
		      memcmp(serve->remote_addr, st->tuple.remote_addr,
			     sizeof(serve->remote_addr)))) {
		NL_SET_ERR_MSG(extack,
			       "a connection can change its local end only");
		return -EINVAL;
	}

	INIT_WORK_ONSTACK(&r.work, import_work);
	init_completion(&r.done);
	/*
	 * Only a socket bound for a listener must be built outside the
	 * caller's memory cgroup (accept() charges the acceptor's); a kernel
	 * worker already is, and a descriptor's socket belongs to the caller
	 * as one it created would.  Skipping the hand-off saves two wake-ups.
	 */
	if ((current->flags & PF_WQ_WORKER) || file)
		import_work(&r.work);
	else
		queue_work(import_wq, &r.work);
	wait_for_completion(&r.done);
	destroy_work_on_stack(&r.work);

	if (r.err) {
		capymig_set_err(extack, r.why);
		return r.err;
	}
	if (file)
		*file = r.file;
	return 0;
}

int capymig_import_init(void)
{
	/* Bound and high priority: runs on this CPU as the requester sleeps. */
	import_wq = alloc_workqueue("capymig_import", WQ_HIGHPRI, 0);
	return import_wq ? 0 : -ENOMEM;
}

void capymig_import_exit(void)
{
	destroy_workqueue(import_wq);
}
