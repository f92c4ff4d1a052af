// SPDX-License-Identifier: GPL-2.0
/*
 * conn_monitor: the server monitor's record of the connections it accepted.
 *
 * Attached as a sockops program to the cgroup of the server to watch, it
 * sees every TCP socket of the cgroup's processes.  When a connection the
 * server accepted becomes established, it puts the socket in conn_sockets,
 * where later programs and userspace find it by its tuple, and notes the
 * socket's cookie and the time in conns.  It then asks for the socket's
 * state changes and forgets the connection when the socket reaches
 * TCP_CLOSE.  Connections the server opens itself are not recorded.
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
 * Fill @t with the connection of @skops as the server sees it.  Returns
 * false for a family other than IPv4 and IPv6.
 *
 * bpf_sock_ops gives local_port in host byte order but remote_port in
 * network byte order, shifted into the upper 16 bits on little-endian
 * machines (the kernel loads the 16-bit skc_dport and shifts it left; 6.1
 * and later still do).  The key holds both in network byte order.
 *
 * An IPv4 connection accepted on a dual-stack IPv6 socket is an AF_INET6
 * socket with IPv4-mapped addresses; it is recorded as the IPv4 connection
 * it is on the wire, so that a tuple names one connection whichever socket
 * accepted it.
 */
static __always_inline bool conn_tuple(const struct bpf_sock_ops *skops,
				       struct capymig_tuple *t)
{
	/* The key is hashed and compared bytewise: pad and unused words too. */
	__builtin_memset(t, 0, sizeof(*t));
	t->local_port = bpf_htons((__u16)skops->local_port);
	t->remote_port = (__be16)(skops->remote_port >> 16);

	switch (skops->family) {
	case AF_INET:
		break;
	case AF_INET6:
		if (skops->remote_ip6[0] == 0 && skops->remote_ip6[1] == 0 &&
		    skops->remote_ip6[2] == bpf_htonl(0x0000ffff))
			break;
		t->family = AF_INET6;
		t->local_addr[0] = skops->local_ip6[0];
		t->local_addr[1] = skops->local_ip6[1];
		t->local_addr[2] = skops->local_ip6[2];
		t->local_addr[3] = skops->local_ip6[3];
		t->remote_addr[0] = skops->remote_ip6[0];
		t->remote_addr[1] = skops->remote_ip6[1];
		t->remote_addr[2] = skops->remote_ip6[2];
		t->remote_addr[3] = skops->remote_ip6[3];
		return true;
	default:
		return false;
	}

	/* local_ip4 and remote_ip4 are set for mapped addresses as well. */
	t->family = AF_INET;
	t->local_addr[0] = skops->local_ip4;
	t->remote_addr[0] = skops->remote_ip4;
	return true;
}

static void conn_established(struct bpf_sock_ops *skops)
{
	struct capymig_tuple key;
	struct capymig_conn conn;

	if (service_port && skops->local_port != service_port)
		return;
	if (!conn_tuple(skops, &key))
		return;

	/*
	 * Ask for the state changes first: a connection recorded without
	 * them would never be forgotten.  The flag costs an untracked socket
	 * only a callback that finds nothing.
	 */
	if (bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
					     BPF_SOCK_OPS_STATE_CB_FLAG))
		return;

	/*
	 * BPF_NOEXIST: the same tuple can be established in another network
	 * namespace; the first connection keeps its entries and the later one
	 * goes unrecorded rather than overwriting them.
	 */
	if (bpf_sock_hash_update(skops, &conn_sockets, &key, BPF_NOEXIST))
		return;

	conn.cookie = bpf_get_socket_cookie(skops);
	conn.established_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&conns, &key, &conn, BPF_NOEXIST))
		bpf_map_delete_elem(&conn_sockets, &key);
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
	 * remove only this socket's own entry.  The sockhash drops the socket
	 * by itself when it is closed.
	 */
	conn = bpf_map_lookup_elem(&conns, &key);
	if (conn && conn->cookie == bpf_get_socket_cookie(skops))
		bpf_map_delete_elem(&conns, &key);
}

SEC("sockops")
int conn_monitor(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		conn_established(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		/* args[0] is the old state, args[1] the new one. */
		if (skops->args[1] == BPF_TCP_CLOSE)
			conn_closed(skops);
		break;
	}

	/*
	 * 1 is success: on 0 the ops that read skops->reply would get -1
	 * instead of the value this program, only watching, leaves alone.
	 */
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
