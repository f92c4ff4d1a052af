// SPDX-License-Identifier: GPL-2.0
/*
 * Export: snapshot a live connection and take it off this host.
 *
 * Everything happens in one critical section under the socket lock, so the
 * snapshot is atomic with respect to the application and to the packets
 * the stack processes: the socket is owned, so arriving segments wait in
 * the backlog, which is drained before the snapshot.  Packets that arrive
 * after that are held (hold.c), not reset.  Then the socket is detached
 * the way TCP_REPAIR detaches one: no FIN, no RST, no timer left, the port
 * freed, and the application's next call fails with ECONNABORTED.
 */
#include <linux/ktime.h>
#include <linux/skmsg.h>
#include <net/inet_connection_sock.h>
#include <net/tcp.h>
#include <net/transp_v6.h>

#include "capymig.h"
#include "compat.h"
#include "conn.h"
#include "hold.h"
#include "state.h"

/*
 * A socket in a BPF sockmap or sockhash (the server monitor's) carries a
 * psock in sk_user_data.  Its connection is all in TCP's state, and so
 * exportable, while the psock holds nothing of its own: no message queued
 * for the application to read (ingress_msg: an sk_msg redirect to it, or
 * a receive verdict), no skb waiting for its backlog work (ingress_skb),
 * no corked write, and no verdict left to apply to the next bytes written
 * (apply_bytes, sk_redir).  Any of those is data the blob would not carry
 * or a decision the target would not know.  A receive verdict program
 * (with or without a stream parser) takes arriving data off TCP's receive
 * queue as it comes, so such a socket is refused whatever it holds now.
 *
 * Called with the socket locked, which an sk_msg verdict and a redirect
 * to the socket's ingress (bpf_tcp_ingress) also take: neither can add
 * anything until the export has detached the socket.  The detach does not
 * take it out of a sockmap (TCP leaves one only at close; the monitor's
 * state callback removes it from its own): another map's redirect could
 * still reach it, from a sender's verdict or the psock's work, and that
 * data is then lost as on a socket being closed.
 */
static const char *psock_refusal(const struct sock *sk)
{
	const struct sk_psock *psock;
	const char *why = NULL;

	rcu_read_lock();
	psock = sk_psock(sk);
	if (!psock)
		why = "socket is owned by a kernel user";
	else if (psock->progs.stream_parser || psock->progs.stream_verdict ||
		 psock->progs.skb_verdict)
		why = "socket is in a sockmap with a receive verdict program";
	else if (!sk_psock_queue_empty(psock) ||
		 !skb_queue_empty_lockless(&psock->ingress_skb) ||
		 psock->cork || psock->apply_bytes || psock->sk_redir)
		why = "socket's sockmap holds data or a verdict for it";
	rcu_read_unlock();
	return why;
}

static void snapshot_seq(const struct tcp_sock *tp, struct tcpmig_st_seq *s)
{
	s->snd_una = htonl(tp->snd_una);
	s->snd_nxt = htonl(tp->snd_nxt);
	s->write_seq = htonl(tp->write_seq);
	s->rcv_nxt = htonl(tp->rcv_nxt);
	s->copied_seq = htonl(tp->copied_seq);
	s->snd_wl1 = htonl(tp->snd_wl1);
	s->rcv_wup = htonl(tp->rcv_wup);
}

static void snapshot_window(const struct tcp_sock *tp,
			    struct tcpmig_st_window *w)
{
	w->snd_wnd = htonl(tp->snd_wnd);
	w->max_window = htonl(tp->max_window);
	w->rcv_wnd = htonl(tp->rcv_wnd);
	w->window_clamp = htonl(tp->window_clamp);
	w->rcv_ssthresh = htonl(tp->rcv_ssthresh);
}

static void snapshot_options(const struct sock *sk,
			     struct tcpmig_st_options *o)
{
	const struct tcp_sock *tp = tcp_sk(sk);
	u32 flags = 0;
	bool usec;

	if (tp->rx_opt.sack_ok)
		flags |= TCPMIG_OPT_SACK;
	if (tp->rx_opt.tstamp_ok) {
		flags |= TCPMIG_OPT_TIMESTAMP;
		o->ts_val = htonl(capymig_ts_now(tp, &usec));
		if (usec)
			flags |= TCPMIG_OPT_TS_USEC;
		o->ts_recent = htonl(tp->rx_opt.ts_recent);
	}
	if (tp->rx_opt.wscale_ok) {
		flags |= TCPMIG_OPT_WSCALE;
		o->snd_wscale = tp->rx_opt.snd_wscale;
		o->rcv_wscale = tp->rx_opt.rcv_wscale;
	}
	flags |= capymig_ecn_to_opts(tp->ecn_flags);
	o->flags = htonl(flags);
	o->mss_clamp = htons(tp->rx_opt.mss_clamp);
	o->advmss = htons(tp->advmss);
	o->user_mss = htons(tp->rx_opt.user_mss);
	o->rcv_mss = htons(inet_csk(sk)->icsk_ack.rcv_mss);
}

static void snapshot_rtt(const struct sock *sk, struct tcpmig_st_rtt *r)
{
	const struct tcp_sock *tp = tcp_sk(sk);

	r->srtt_us = htonl(tp->srtt_us);
	r->mdev_us = htonl(tp->mdev_us);
	r->mdev_max_us = htonl(tp->mdev_max_us);
	r->rttvar_us = htonl(tp->rttvar_us);
	r->rto_us = htonl(jiffies_to_usecs(inet_csk(sk)->icsk_rto));
}

static void snapshot_congestion(const struct sock *sk,
				struct tcpmig_st_congestion *c)
{
	const struct tcp_sock *tp = tcp_sk(sk);

	c->cwnd = htonl(tcp_snd_cwnd(tp));
	c->ssthresh = htonl(tp->snd_ssthresh);
	strscpy_pad(c->ca_name, inet_csk(sk)->icsk_ca_ops->name,
		    sizeof(c->ca_name));
}

static void snapshot_sockopts(const struct sock *sk, int family,
			      struct tcpmig_st_sockopts *s)
{
	const struct tcp_sock *tp = tcp_sk(sk);
	u32 flags = 0;

	if (tp->nonagle & TCP_NAGLE_OFF)
		flags |= TCPMIG_SOCKOPT_NODELAY;
	if (sock_flag(sk, SOCK_KEEPOPEN))
		flags |= TCPMIG_SOCKOPT_KEEPALIVE;
	if (sock_flag(sk, SOCK_LINGER))
		flags |= TCPMIG_SOCKOPT_LINGER;
	if (sk->sk_userlocks & SOCK_SNDBUF_LOCK)
		flags |= TCPMIG_SOCKOPT_SNDBUF_LOCK;
	if (sk->sk_userlocks & SOCK_RCVBUF_LOCK)
		flags |= TCPMIG_SOCKOPT_RCVBUF_LOCK;
	s->flags = htonl(flags);
	s->keepidle_s = htonl(keepalive_time_when(tp) / HZ);
	s->keepintvl_s = htonl(keepalive_intvl_when(tp) / HZ);
	s->keepcnt = htonl(keepalive_probes(tp));
	s->user_timeout_ms = htonl(inet_csk(sk)->icsk_user_timeout);
	s->priority = htonl(sk->sk_priority);
	s->mark = htonl(sk->sk_mark);
	s->sndbuf = htonl(sk->sk_sndbuf);
	s->rcvbuf = htonl(sk->sk_rcvbuf);
	s->linger_s = htonl(sk->sk_lingertime / HZ);
	s->notsent_lowat = htonl(tp->notsent_lowat);
	/*
	 * What the connection's packets carry: IPv4 on dual-stack uses TOS.
	 * Its ECT bits follow the ECN state (tcp_ecn_send()), in the options.
	 */
#if IS_ENABLED(CONFIG_IPV6)
	if (family == AF_INET6)
		s->tos = inet6_sk(sk)->tclass & ~INET_ECN_MASK;
	else
#endif
		s->tos = inet_sk(sk)->tos & ~INET_ECN_MASK;
}

/* What capymig_state_check() looks at: the state, but the queues' bytes. */
static void snapshot_fields(const struct sock *sk, struct capymig_state *st)
{
	const struct tcp_sock *tp = tcp_sk(sk);

	capymig_tuple_from_sock(sk, &st->tuple);
	snapshot_seq(tp, &st->seq);
	snapshot_window(tp, &st->window);
	snapshot_options(sk, &st->options);
	snapshot_rtt(sk, &st->rtt);
	snapshot_congestion(sk, &st->congestion);
	snapshot_sockopts(sk, st->tuple.family, &st->sockopts);
	st->rcvq.len = tp->rcv_nxt - tp->copied_seq;
	st->sndq.len = tp->write_seq - tp->snd_una;
}

/*
 * A state no import would take (a client's MSS below 88, a window clamp
 * beyond scaling, a buffer above 1 GiB, a negative SO_PRIORITY): refused
 * here, the connection stays; exported, it would be lost at every target.
 * MIGRATE asks before its PREPARE, and LIST leaves such a connection out,
 * so that no policy picks it.
 */
static const char *state_refusal(const struct sock *sk)
{
	struct capymig_state st = {};

	snapshot_fields(sk, &st);
	return capymig_state_check(&st);
}

const char *capymig_export_refusal(const struct sock *sk)
{
	const struct tcp_sock *tp = tcp_sk(sk);
	struct capymig_tuple tuple;

	if (sk->sk_state != TCP_ESTABLISHED)
		return "only ESTABLISHED connections can be exported";
	if (!sk->sk_socket)
		return "connection not accepted by the application yet";
	capymig_tuple_from_sock(sk, &tuple);
	if (capymig_import_pending(sock_net(sk), &tuple))
		return "connection is still being imported";
	if (sk->sk_shutdown)
		return "connection is shut down in one direction";
	if (inet_csk(sk)->icsk_ulp_ops)
		return "connection uses an upper-layer protocol (kTLS, MPTCP)";
	if (sk_is_mptcp(sk))
		return "MPTCP subflows cannot be exported";
	if (rcu_access_pointer(sk->sk_user_data)) {
		const char *why = psock_refusal(sk);

		if (why)
			return why;
	}
#ifdef CONFIG_TCP_MD5SIG
	if (rcu_access_pointer(tp->md5sig_info))
		return "connection uses TCP-MD5 signatures";
#endif
	if (tp->urg_data)
		return "connection has urgent data pending";
	if (tp->repair)
		return "connection is in TCP_REPAIR mode";
	if (rcu_access_pointer(tp->fastopen_rsk))
		return "TCP Fast Open handshake still pending";
	return state_refusal(sk);
}

/* Copies the bytes of a sequence range out of consecutive skbs. */
struct seq_cursor {
	u32 seq;		/* next byte wanted */
	u32 left;		/* bytes still wanted */
	struct iov_iter to;	/* where it goes */
};

static int cursor_take(struct seq_cursor *c, const struct sk_buff *skb)
{
	u32 start = TCP_SKB_CB(skb)->seq, off, n;

	if (!c->left)
		return 0;
	if (after(start, c->seq))
		return -EAGAIN;		/* a hole: the queue changed under us */
	off = c->seq - start;
	if (off >= skb->len)
		return 0;
	n = min(skb->len - off, c->left);
	if (skb_copy_datagram_iter(skb, off, &c->to, n))
		return -EFAULT;
	c->seq += n;
	c->left -= n;
	return 0;
}

static int copy_queues(struct sock *sk, const struct capymig_state *st,
		       const struct capymig_blob_out *out, u32 rcvq, u32 sndq)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct seq_cursor rc = { tp->copied_seq, st->rcvq.len };
	struct seq_cursor sc = { tp->snd_una, st->sndq.len };
	struct sk_buff *skb;
	int err = 0;

	capymig_blob_seek(out, rcvq, &rc.to);
	capymig_blob_seek(out, sndq, &sc.to);

	skb_queue_walk(&sk->sk_receive_queue, skb) {
		err = cursor_take(&rc, skb);
		if (err)
			return err;
	}
	/* Sent data sits in the retransmit tree, the rest in the queue. */
	for (skb = skb_rb_first(&sk->tcp_rtx_queue); skb && !err;
	     skb = skb_rb_next(skb))
		err = cursor_take(&sc, skb);
	skb_queue_walk(&sk->sk_write_queue, skb) {
		if (err)
			break;
		err = cursor_take(&sc, skb);
	}
	if (!err && (rc.left || sc.left))
		err = -EAGAIN;
	return err;
}

/*
 * Detach like TCP_REPAIR: in repair mode tcp_disconnect() records
 * ECONNABORTED for the application instead of sending a reset, unhashes
 * the socket, frees the port, stops the transmit timers and purges the
 * queues.  The keepalive timer it leaves running is stopped here.
 */
static void detach(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);

	tp->repair = 1;
	sk->sk_prot->disconnect(sk, 0);
	tp->repair = 0;
	inet_csk_delete_keepalive_timer(sk);
}

static int snapshot(struct sock *sk, struct capymig_state *st,
		    struct capymig_export_sink *sink, const char **why)
{
	struct capymig_blob_out out;
	u32 rcvq, sndq;
	u64 size;
	int err;

	snapshot_fields(sk, st);
	size = capymig_state_blob_size(st);
	*why = "connection state too large to export";
	if (size > TCPMIG_STATE_MAX)
		return -EMSGSIZE;
	err = sink->alloc(sink, size, &out, why);
	if (err)
		return err;
	sink->len = size;
	err = capymig_state_encode(st, &out, &rcvq, &sndq) ?:
	      copy_queues(sk, st, &out, rcvq, sndq);
	*why = err == -EFAULT ? "cannot write the state to the buffer given" :
				"connection state changed during the snapshot";
	return err;
}

const char *capymig_export_busy(const struct sock *sk, const u32 *read_seq)
{
	if (read_seq && tcp_sk(sk)->copied_seq != *read_seq)
		return "the application read past the boundary";
	/*
	 * sk_stream_wait_memory() counts the writers it put to sleep, having
	 * released the socket lock: what such a writer has yet to copy is in
	 * its own memory, and the rest of its write would fail.
	 */
	if (READ_ONCE(sk->sk_write_pending))
		return "a write of the application waits for room in the send buffer";
	return NULL;
}

int capymig_export_to(struct sock *sk, const u32 *read_seq,
		      struct capymig_export_sink *sink,
		      struct netlink_ext_ack *extack)
{
	struct net *net = sock_net(sk);
	struct capymig_state st = {};
	struct capymig_tuple tuple;
	bool held_here;
	const char *why;
	int err;

	/*
	 * Hold first: from now on the tuple's packets queue up on this host
	 * instead of reaching the socket, whose backlog is then drained.
	 * Under the socket lock, so that of two exports of one connection
	 * the one that loses knows whether the hold is its own: it ends
	 * only that, before another can have detached the socket.
	 */
	capymig_tuple_from_sock(sk, &tuple);
	lock_sock(sk);
	err = capymig_hold_start(net, &tuple, CAPYMIG_HOLD_TIMEOUT_MS);
	if (err < 0) {
		release_sock(sk);
		NL_SET_ERR_MSG(extack, "cannot hold the connection's packets");
		return err;
	}
	held_here = err;
	sk_flush_backlog(sk);
	why = capymig_export_refusal(sk);
	if (why) {
		capymig_set_err(extack, why);
		err = -EOPNOTSUPP;
		goto refused;
	}
	why = capymig_export_busy(sk, read_seq);
	if (why) {
		capymig_set_err(extack, why);
		err = -EAGAIN;
		goto refused;
	}
	err = snapshot(sk, &st, sink, &why);
	if (err) {
		capymig_set_err(extack, why);
		goto refused;
	}
	/*
	 * The snapshot may have waited for memory or for the requester's
	 * pages: the hold lasts its full time from the detach on, when the
	 * port is free and a packet let through would meet the listener.
	 */
	err = capymig_hold_start(net, &tuple, CAPYMIG_HOLD_TIMEOUT_MS);
	if (err < 0) {
		NL_SET_ERR_MSG(extack, "cannot hold the connection's packets");
		goto refused;
	}
	detach(sk);
	release_sock(sk);
	return 0;

refused:
	/*
	 * Untouched: whatever was held meanwhile goes to the socket's
	 * backlog.  A hold this did not start is another's (an export that
	 * detached the socket first, an administrator's HOLD): it stays.
	 */
	if (held_here)
		capymig_hold_release(net, &tuple);
	release_sock(sk);
	return err;
}

static int blob_sink_alloc(struct capymig_export_sink *sink, u32 len,
			   struct capymig_blob_out *out, const char **why)
{
	struct capymig_blob_sink *bs = container_of(sink,
						    struct capymig_blob_sink,
						    sink);

	bs->blob->data = kvmalloc(len, GFP_KERNEL);
	if (!bs->blob->data) {
		*why = "out of memory for the connection's state";
		return -ENOMEM;
	}
	bs->blob->len = len;
	bs->whole = (struct kvec) { .iov_base = bs->blob->data, .iov_len = len };
	iov_iter_kvec(&out->to, ITER_DEST, &bs->whole, 1, len);
	return 0;
}

void capymig_blob_sink_init(struct capymig_blob_sink *bs,
			    struct capymig_blob *blob)
{
	bs->sink.alloc = blob_sink_alloc;
	bs->blob = blob;
	blob->data = NULL;
	blob->len = 0;
}

int capymig_export(struct sock *sk, const u32 *read_seq,
		   struct capymig_blob *blob, struct netlink_ext_ack *extack)
{
	struct capymig_blob_sink bs;
	int err;

	capymig_blob_sink_init(&bs, blob);
	err = capymig_export_to(sk, read_seq, &bs.sink, extack);
	if (err)
		capymig_blob_free(blob);
	return err;
}
