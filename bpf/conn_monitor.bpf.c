// SPDX-License-Identifier: GPL-2.0
/*
 * conn_monitor: the server monitor's record of the connections it accepted.
 *
 * Attached as a sockops program to the cgroup of the server to watch, it
 * sees every TCP socket of the cgroup's processes.  When a connection the
 * server accepted becomes established, or migrates in (the kernel module
 * runs the same callback for an imported socket), it puts the socket in
 * conn_sockets, where later programs and userspace find it by its tuple,
 * and its record in conns.  It then asks for the socket's state changes,
 * forgetting the connection when the socket reaches TCP_CLOSE (closed or
 * exported), and for its RTT samples, on which it brings the record's
 * counters and queue lengths up to date.  Connections the server opens
 * itself are not recorded.
 *
 * conn_msg, the sk_msg program of conn_sockets, runs on every write of
 * the application: it counts the bytes and notes the request boundary,
 * the point of the stream the application had read up to when it wrote.
 * It always passes the data on untouched: see Documentation/monitor.rst
 * for why it never holds any.
 *
 * conn_refresh, an iterator over conn_sockets, brings every record up to
 * date when userspace reads it, for what no callback reports: the bytes
 * waiting to be read in a connection the server does not answer.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <linux/capymig.h>

/* vmlinux.h has the kernel's types but none of its macros. */
#define AF_INET		2
#define AF_INET6	10

/*
 * Default size of both maps; userspace may change it before loading with
 * bpf_map__set_max_entries().  conns is not preallocated, so the size is a
 * limit rather than memory taken up front.
 */
#define CONN_MONITOR_MAX_CONNS	262144

/*
 * Only connections accepted on this local port (host byte order) are
 * recorded, 0 records all.  Set by userspace before loading.
 */
const volatile __u16 service_port = 0;

/*
 * The established sockets themselves.  A value of 8 bytes makes a lookup
 * from userspace return the socket's cookie.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, CONN_MONITOR_MAX_CONNS);
	__type(key, struct capymig_tuple);
	__type(value, __u64);
} conn_sockets SEC(".maps");

/*
 * The record of each connection.  Sockops programs never run in NMI
 * context, so the entries can be allocated as connections come.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, CONN_MONITOR_MAX_CONNS);
	__type(key, struct capymig_tuple);
	__type(value, struct capymig_conn);
} conns SEC(".maps");

/*
 * Bring records up to date on every RTT sample (an ACK of new data):
 * without it, only state changes, writes and conn_refresh do.
 */
const volatile bool sample_on_ack = true;

/* Per CPU, so that counting never contends; userspace adds them up. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct capymig_monitor_totals);
} totals SEC(".maps");

/*
 * Atomic even per CPU: an sk_msg program in process context may be
 * interrupted by a sockops one in softirq on the same CPU.
 */
#define TOTAL_ADD(field, n)						\
	do {								\
		__u32 zero = 0;						\
		struct capymig_monitor_totals *tot;			\
									\
		tot = bpf_map_lookup_elem(&totals, &zero);		\
		if (tot)						\
			__sync_fetch_and_add(&tot->field, (n));		\
	} while (0)

/*
 * Fill @t with a connection as the server sees it, from the fields that
 * struct bpf_sock_ops and struct sk_msg_md share.  Returns false for a
 * family other than IPv4 and IPv6.
 *
 * Both give local_port in host byte order but remote_port in network byte
 * order, shifted into the upper 16 bits on little-endian machines (the
 * kernel loads the 16-bit skc_dport and shifts it left; 6.1 and later
 * still do).  The key holds both in network byte order.
 *
 * An IPv4 connection accepted on a dual-stack IPv6 socket is an AF_INET6
 * socket with IPv4-mapped addresses; it is recorded as the IPv4 connection
 * it is on the wire, so that a tuple names one connection whichever socket
 * accepted it.  local_ip4 and remote_ip4 are set for mapped addresses too.
 *
 * A macro: context fields can only be read at constant offsets of the
 * context itself, so every program reads them in its own code.
 */
#define conn_tuple(ctx, t)						\
({									\
	bool __ok = true;						\
									\
	/* Hashed and compared bytewise: pad and unused words too. */	\
	__builtin_memset(t, 0, sizeof(*t));				\
	(t)->local_port = bpf_htons((__u16)(ctx)->local_port);		\
	(t)->remote_port = (__be16)((ctx)->remote_port >> 16);		\
	if ((ctx)->family == AF_INET6 &&				\
	    !((ctx)->remote_ip6[0] == 0 && (ctx)->remote_ip6[1] == 0 &&	\
	      (ctx)->remote_ip6[2] == bpf_htonl(0x0000ffff))) {		\
		(t)->family = AF_INET6;					\
		(t)->local_addr[0] = (ctx)->local_ip6[0];		\
		(t)->local_addr[1] = (ctx)->local_ip6[1];		\
		(t)->local_addr[2] = (ctx)->local_ip6[2];		\
		(t)->local_addr[3] = (ctx)->local_ip6[3];		\
		(t)->remote_addr[0] = (ctx)->remote_ip6[0];		\
		(t)->remote_addr[1] = (ctx)->remote_ip6[1];		\
		(t)->remote_addr[2] = (ctx)->remote_ip6[2];		\
		(t)->remote_addr[3] = (ctx)->remote_ip6[3];		\
	} else if ((ctx)->family == AF_INET ||				\
		   (ctx)->family == AF_INET6) {				\
		(t)->family = AF_INET;					\
		(t)->local_addr[0] = (ctx)->local_ip4;			\
		(t)->remote_addr[0] = (ctx)->remote_ip4;		\
	} else {							\
		__ok = false;						\
	}								\
	__ok;								\
})

/*
 * The kernel counts a connection's segments in 32 bits (tcp_sock's
 * segs_in and segs_out), which a busy connection wraps within days: the
 * record carries the count @held on in 64 bits, by the kernel's count
 * @now's difference with its low half.  Samples come far more often than
 * every 2^31 segments.  One taken on another CPU may be older than what
 * the record holds by the time it is written: a negative difference
 * leaves the count as it is, and of two samples written at once the
 * older may stay, for the next one to carry on from.  A new record
 * (@held 0) takes the count as it is.
 */
static __always_inline __u64 count_on(__u64 held, __u32 now)
{
	__s32 delta = now - (__u32)held;

	if (!held)
		return now;
	return delta > 0 ? held + delta : held;
}

/*
 * Bring @conn up to date from the socket itself.  The kernel keeps the
 * counters; reading them here is what makes counting cost nothing per
 * packet.  The queue lengths are differences of sequence numbers, which
 * only struct tcp_sock has (CO-RE finds the fields on every kernel).
 */
static __always_inline void conn_sample(struct capymig_conn *conn,
					const struct tcp_sock *tp)
{
	conn->segs_in = count_on(conn->segs_in, tp->segs_in);
	conn->segs_out = count_on(conn->segs_out, tp->segs_out);
	conn->bytes_received = tp->bytes_received;
	conn->bytes_acked = tp->bytes_acked;
	conn->rqlen = tp->rcv_nxt - tp->copied_seq;
	conn->tqlen = tp->write_seq - tp->snd_una;
	/* The kernel keeps it shifted left by 3. */
	conn->srtt_us = tp->srtt_us >> 3;
	conn->updated_ns = bpf_ktime_get_ns();
}

/*
 * The cookie of @tp's socket, which bpf_get_socket_cookie() gave when the
 * connection was recorded (an sk_msg program cannot call it on 6.1).
 */
static __always_inline __u64 tcp_cookie(const struct tcp_sock *tp)
{
	return tp->inet_conn.icsk_inet.sk.__sk_common.skc_cookie.counter;
}

/* The TCP socket of @skops; NULL in the callbacks of request sockets. */
static __always_inline struct tcp_sock *
skops_tcp_sock(const struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;

	return sk ? bpf_skc_to_tcp_sock(sk) : NULL;
}

static void conn_update(struct bpf_sock_ops *skops)
{
	struct capymig_tuple key;
	struct capymig_conn *conn;
	struct tcp_sock *tp;

	if (!conn_tuple(skops, &key))
		return;
	conn = bpf_map_lookup_elem(&conns, &key);
	if (!conn || conn->cookie != bpf_get_socket_cookie(skops))
		return;
	tp = skops_tcp_sock(skops);
	if (tp)
		conn_sample(conn, tp);
}

static void conn_established(struct bpf_sock_ops *skops, bool imported)
{
	__u32 flags = BPF_SOCK_OPS_STATE_CB_FLAG;
	struct capymig_tuple key;
	struct capymig_conn conn = {};
	struct tcp_sock *tp;
	void *stale;

	if (service_port && skops->local_port != service_port)
		return;
	if (!conn_tuple(skops, &key))
		return;
	tp = skops_tcp_sock(skops);
	if (!tp)
		return;

	/*
	 * Ask for the state changes first: a connection recorded without
	 * them would never be forgotten.  The flags cost an untracked socket
	 * only callbacks that find nothing.
	 */
	if (sample_on_ack)
		flags |= BPF_SOCK_OPS_RTT_CB_FLAG;
	if (bpf_sock_ops_cb_flags_set(skops,
				      skops->bpf_sock_ops_cb_flags | flags))
		return;

	/*
	 * BPF_NOEXIST: the same tuple can be established in another network
	 * namespace; the first connection keeps its entries and the later one
	 * goes unrecorded rather than overwriting them.  A connection
	 * exported from here is gone from both maps before its import can
	 * bring it back (TCP_CLOSE comes with the export).
	 */
	if (bpf_sock_hash_update(skops, &conn_sockets, &key, BPF_NOEXIST))
		return;

	conn.cookie = bpf_get_socket_cookie(skops);
	conn.established_ns = bpf_ktime_get_ns();
	/*
	 * A request boundary already: the application has read nothing of
	 * the connection yet (an imported one, nothing since it arrived),
	 * so it holds nothing of it.  A connection whose server never
	 * answered a request of it may move with the requests queued.  TCP
	 * sets a new connection's copied_seq to rcv_nxt only after this
	 * callback; an imported one's is restored, and its unread bytes lie
	 * between the two.
	 */
	conn.read_seq = imported ? tp->copied_seq : tp->rcv_nxt;
	conn.flags = CAPYMIG_CONN_F_READ_SEQ;
	if (imported)
		conn.flags |= CAPYMIG_CONN_F_IMPORTED;
	conn_sample(&conn, tp);
	/*
	 * The socket took the tuple in conn_sockets: a record of it already
	 * there is of a socket gone from the sockhash, whose end no program of
	 * ours saw (the monitor watched another cgroup meanwhile).  Replaced,
	 * it was counted already.
	 */
	stale = bpf_map_lookup_elem(&conns, &key);
	if (bpf_map_update_elem(&conns, &key, &conn, BPF_ANY)) {
		bpf_map_delete_elem(&conn_sockets, &key);
		return;
	}
	if (!stale)
		TOTAL_ADD(conns, 1);
	if (imported)
		TOTAL_ADD(imported, 1);
	else
		TOTAL_ADD(accepted, 1);
}

static void conn_closed(struct bpf_sock_ops *skops)
{
	struct capymig_tuple key;
	struct capymig_conn *conn;

	if (!conn_tuple(skops, &key))
		return;

	/*
	 * Another program may have asked for state changes of a socket this
	 * one did not record, whose tuple may be recorded for another socket:
	 * remove only this socket's own entries.  On 6.1 the sockhash drops
	 * a TCP socket by itself only when the application closes it (no
	 * unhash hook): an exported socket, disconnected but still open,
	 * would stay in it and keep its tuple from the connection's import
	 * on this host.
	 */
	conn = bpf_map_lookup_elem(&conns, &key);
	if (!conn || conn->cookie != bpf_get_socket_cookie(skops))
		return;
	bpf_map_delete_elem(&conn_sockets, &key);
	if (!bpf_map_delete_elem(&conns, &key)) {
		TOTAL_ADD(conns, -1);
		TOTAL_ADD(forgotten, 1);
	}
}

SEC("sockops")
int conn_monitor(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		conn_established(skops,
				 skops->args[0] == CAPYMIG_SOCKOPS_IMPORTED);
		break;
	case BPF_SOCK_OPS_RTT_CB:
		conn_update(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		/* args[0] is the old state, args[1] the new one. */
		if (skops->args[1] == BPF_TCP_CLOSE)
			conn_closed(skops);
		else
			conn_update(skops);
		break;
	}

	/*
	 * 1 is success: on 0 the ops that read skops->reply would get -1
	 * instead of the value this program, only watching, leaves alone.
	 */
	return 1;
}

/*
 * Runs with the socket locked, before the data reaches TCP's send queue.
 * The socket is in conn_sockets, so normally recorded; the cookie check
 * covers a tuple recorded for a socket of another namespace.
 */
SEC("sk_msg")
int conn_msg(struct sk_msg_md *msg)
{
	struct capymig_tuple key;
	struct capymig_conn *conn;
	struct bpf_sock *sk = msg->sk;
	struct tcp_sock *tp;

	if (!sk || !conn_tuple(msg, &key))
		return SK_PASS;
	conn = bpf_map_lookup_elem(&conns, &key);
	tp = bpf_skc_to_tcp_sock(sk);
	if (!conn || !tp || conn->cookie != tcp_cookie(tp))
		return SK_PASS;

	/*
	 * What the application had read when it wrote: when copied_seq is
	 * still there at the export, no request was half read.
	 */
	conn->read_seq = tp->copied_seq;
	conn->flags |= CAPYMIG_CONN_F_READ_SEQ;
	conn->app_bytes_sent += msg->size;
	conn_sample(conn, tp);
	TOTAL_ADD(app_writes, 1);
	TOTAL_ADD(app_bytes_sent, msg->size);
	return SK_PASS;
}

/*
 * An iteration over conn_sockets: brings each recorded connection's record
 * up to date.  It runs unlocked, beside the callbacks: a record may then
 * mix two samples taken moments apart, each field whole.
 */
SEC("iter/sockmap")
int conn_refresh(struct bpf_iter__sockmap *ctx)
{
	const struct capymig_tuple *k = ctx->key;
	struct sock *sk = ctx->sk;
	struct capymig_tuple key;
	struct capymig_conn *conn;
	struct tcp_sock *tp;

	if (!k || !sk)
		return 0;
	__builtin_memcpy(&key, k, sizeof(key));
	conn = bpf_map_lookup_elem(&conns, &key);
	tp = bpf_skc_to_tcp_sock(sk);
	if (conn && tp && conn->cookie == tcp_cookie(tp))
		conn_sample(conn, tp);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
