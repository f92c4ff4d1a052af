/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * capymig: live migration of established TCP connections between servers.
 *
 * This header is the single definition of everything capymig exchanges
 * between its parts: the generic netlink family "tcpmig" spoken between
 * userspace and the kernel module, and the records shared with the BPF
 * programs.  The kernel module, the BPF objects, the userspace tools and
 * the tests all include it; nothing here is redefined elsewhere.
 *
 * All multi-byte fields of netlink attributes are in host byte order, as
 * is usual for generic netlink.
 */
#ifndef _UAPI_LINUX_CAPYMIG_H
#define _UAPI_LINUX_CAPYMIG_H

/*
 * BPF programs get the kernel types from vmlinux.h, which must not be
 * mixed with the UAPI headers.
 */
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/**
 * struct capymig_tuple - a TCP connection as its server sees it
 * @family: AF_INET or AF_INET6.
 * @local_port: the server's port, network byte order.
 * @remote_port: the client's port, network byte order.
 * @local_addr: the server's address; an IPv4 address sits in word 0 and the
 *	other words are zero.
 * @remote_addr: the client's address, laid out as @local_addr.
 *
 * The same layout names a connection in BPF maps (as a key: every padding
 * byte is named and must be zeroed) and in the state blob.
 */
struct capymig_tuple {
	__u8	family;
	__u8	pad[3];
	__be16	local_port;
	__be16	remote_port;
	__be32	local_addr[4];
	__be32	remote_addr[4];
};

/* Generic netlink family. */
#define TCPMIG_GENL_NAME	"tcpmig"
#define TCPMIG_GENL_VERSION	1

/**
 * enum tcpmig_cmd - commands of the tcpmig family
 * @TCPMIG_CMD_GET_INFO: report the module's version and this network
 *	namespace's state.  Reply: %TCPMIG_A_VERSION, %TCPMIG_A_GENL_VERSION,
 *	%TCPMIG_A_NETNS_COOKIE, %TCPMIG_A_STATS.
 * @TCPMIG_CMD_LIST: dump the connections that could be exported, one
 *	%TCPMIG_A_CONN per message.  Request: %TCPMIG_A_LOCAL_PORT (optional
 *	filter).
 * @TCPMIG_CMD_EXPORT: take a connection out of this host.  Must be sent as
 *	a dump: the blob is streamed back as %TCPMIG_A_STATE_CHUNK attributes,
 *	in order, the first message also carrying %TCPMIG_A_STATE_LEN.  The
 *	connection is detached before the first chunk is sent.  Request:
 *	%TCPMIG_A_TUPLE or %TCPMIG_A_COOKIE.
 * @TCPMIG_CMD_IMPORT: rebuild a connection from a blob and hand it to the
 *	local listener, or to the caller as a file descriptor.  Request: the
 *	blob as %TCPMIG_A_STATE_CHUNK attributes in order (one message may
 *	exceed 64 KiB: raise SO_SNDBUF), optional %TCPMIG_A_TUPLE to serve the
 *	connection under another local address or port, optional
 *	%TCPMIG_A_IMPORT_FLAGS and %TCPMIG_A_LISTENER_COOKIE.  Reply:
 *	%TCPMIG_A_TUPLE, and %TCPMIG_A_FD with %TCPMIG_IMPORT_F_FD.
 * @TCPMIG_CMD_HOLD: hold the packets of a connection that is about to be
 *	imported here, instead of letting them meet a listener (which would
 *	answer with a reset).  IMPORT replays them; after %TCPMIG_A_TIMEOUT_MS
 *	(default 2000) without one they are dropped.  Request: %TCPMIG_A_TUPLE,
 *	optional %TCPMIG_A_TIMEOUT_MS.
 * @TCPMIG_CMD_EVENT: notification on the %TCPMIG_MCGRP_EVENTS group.
 *	Attributes: %TCPMIG_A_EVENT, %TCPMIG_A_TUPLE, %TCPMIG_A_TIMESTAMP_NS,
 *	and %TCPMIG_A_ERROR or %TCPMIG_A_STATE_LEN.
 *
 * Every command requires CAP_NET_ADMIN in the user namespace that owns the
 * network namespace of the requesting socket, and acts in that namespace.
 */
enum tcpmig_cmd {
	TCPMIG_CMD_UNSPEC,
	TCPMIG_CMD_GET_INFO,
	TCPMIG_CMD_LIST,
	TCPMIG_CMD_EXPORT,
	TCPMIG_CMD_IMPORT,
	TCPMIG_CMD_HOLD,
	TCPMIG_CMD_EVENT,

	__TCPMIG_CMD_MAX,
};
#define TCPMIG_CMD_MAX (__TCPMIG_CMD_MAX - 1)

#define TCPMIG_MCGRP_EVENTS	"events"

/**
 * enum tcpmig_attr - top-level attributes of the tcpmig family
 * @TCPMIG_A_VERSION: string, the module's release.
 * @TCPMIG_A_GENL_VERSION: u32, %TCPMIG_GENL_VERSION the module speaks.
 * @TCPMIG_A_NETNS_COOKIE: u64, cookie of the network namespace the request
 *	was served in; tells namespaces apart without relying on inode numbers.
 * @TCPMIG_A_TUPLE: struct capymig_tuple, a connection as the server sees it.
 * @TCPMIG_A_COOKIE: u64, a socket cookie (SO_COOKIE, bpf_get_socket_cookie).
 * @TCPMIG_A_LOCAL_PORT: u16, a local port.
 * @TCPMIG_A_CONN: nest of enum tcpmig_conn_attr, one connection.
 * @TCPMIG_A_STATE_LEN: u32, length of the whole state blob.
 * @TCPMIG_A_STATE_CHUNK: binary, a piece of the state blob.
 * @TCPMIG_A_IMPORT_FLAGS: u32, TCPMIG_IMPORT_F_*.
 * @TCPMIG_A_LISTENER_COOKIE: u64, the listener to deliver to, when several
 *	share the port (SO_REUSEPORT).
 * @TCPMIG_A_FD: u32, file descriptor of an imported connection.
 * @TCPMIG_A_TIMEOUT_MS: u32, milliseconds.
 * @TCPMIG_A_EVENT: u32, enum tcpmig_event.
 * @TCPMIG_A_ERROR: u32, a positive errno.
 * @TCPMIG_A_TIMESTAMP_NS: u64, CLOCK_MONOTONIC time of the event.
 * @TCPMIG_A_STATS: nest of enum tcpmig_stat, u64 counters of the namespace.
 */
enum tcpmig_attr {
	TCPMIG_A_UNSPEC,
	TCPMIG_A_VERSION,
	TCPMIG_A_GENL_VERSION,
	TCPMIG_A_NETNS_COOKIE,
	TCPMIG_A_PAD,
	TCPMIG_A_TUPLE,
	TCPMIG_A_COOKIE,
	TCPMIG_A_LOCAL_PORT,
	TCPMIG_A_CONN,
	TCPMIG_A_STATE_LEN,
	TCPMIG_A_STATE_CHUNK,
	TCPMIG_A_IMPORT_FLAGS,
	TCPMIG_A_LISTENER_COOKIE,
	TCPMIG_A_FD,
	TCPMIG_A_TIMEOUT_MS,
	TCPMIG_A_EVENT,
	TCPMIG_A_ERROR,
	TCPMIG_A_TIMESTAMP_NS,
	TCPMIG_A_STATS,

	__TCPMIG_A_MAX,
};
#define TCPMIG_A_MAX (__TCPMIG_A_MAX - 1)

/* Largest %TCPMIG_A_STATE_CHUNK: an attribute's length is 16 bits. */
#define TCPMIG_STATE_CHUNK_MAX	65000

/* Import: return the connection as a file descriptor, not to a listener. */
#define TCPMIG_IMPORT_F_FD	(1U << 0)
#define TCPMIG_IMPORT_F_ALL	TCPMIG_IMPORT_F_FD

/**
 * enum tcpmig_conn_attr - one connection in a %TCPMIG_CMD_LIST dump
 * @TCPMIG_CONN_A_TUPLE: struct capymig_tuple.
 * @TCPMIG_CONN_A_COOKIE: u64, the socket cookie, when one was ever taken.
 * @TCPMIG_CONN_A_RQLEN: u32, bytes received and not yet read.
 * @TCPMIG_CONN_A_TQLEN: u32, bytes written and not yet acknowledged.
 */
enum tcpmig_conn_attr {
	TCPMIG_CONN_A_UNSPEC,
	TCPMIG_CONN_A_TUPLE,
	TCPMIG_CONN_A_COOKIE,
	TCPMIG_CONN_A_RQLEN,
	TCPMIG_CONN_A_TQLEN,
	TCPMIG_CONN_A_PAD,

	__TCPMIG_CONN_A_MAX,
};
#define TCPMIG_CONN_A_MAX (__TCPMIG_CONN_A_MAX - 1)

/**
 * enum tcpmig_stat - counters of one network namespace, since module load
 * @TCPMIG_STAT_EXPORTS: connections exported.
 * @TCPMIG_STAT_IMPORTS: connections imported.
 * @TCPMIG_STAT_EXPORTS_REFUSED: exports refused, connection untouched.
 * @TCPMIG_STAT_IMPORTS_REFUSED: imports refused, nothing sent.
 * @TCPMIG_STAT_HELD_PACKETS: packets held for a connection in transit.
 * @TCPMIG_STAT_HOLD_EXPIRED: held packets dropped because no import came.
 * @TCPMIG_STAT_HOLD_OVERFLOWS: packets dropped beyond a hold's bound.
 */
enum tcpmig_stat {
	TCPMIG_STAT_UNSPEC,
	TCPMIG_STAT_EXPORTS,
	TCPMIG_STAT_IMPORTS,
	TCPMIG_STAT_EXPORTS_REFUSED,
	TCPMIG_STAT_IMPORTS_REFUSED,
	TCPMIG_STAT_HELD_PACKETS,
	TCPMIG_STAT_HOLD_EXPIRED,
	TCPMIG_STAT_HOLD_OVERFLOWS,
	TCPMIG_STAT_PAD,

	__TCPMIG_STAT_MAX,
};
#define TCPMIG_STAT_MAX (__TCPMIG_STAT_MAX - 1)

/**
 * enum tcpmig_event - what a %TCPMIG_CMD_EVENT reports
 * @TCPMIG_EVENT_EXPORTED: a connection left this host.
 * @TCPMIG_EVENT_IMPORTED: a connection arrived and is served here.
 * @TCPMIG_EVENT_EXPORT_REFUSED: an export was refused; the connection is
 *	untouched.  %TCPMIG_A_ERROR says why.
 * @TCPMIG_EVENT_IMPORT_REFUSED: an import was refused; nothing was sent.
 * @TCPMIG_EVENT_HOLD_EXPIRED: held packets were dropped, no import came.
 */
enum tcpmig_event {
	TCPMIG_EVENT_UNSPEC,
	TCPMIG_EVENT_EXPORTED,
	TCPMIG_EVENT_IMPORTED,
	TCPMIG_EVENT_EXPORT_REFUSED,
	TCPMIG_EVENT_IMPORT_REFUSED,
	TCPMIG_EVENT_HOLD_EXPIRED,
};

/*
 * The connection state blob: what EXPORT produces and IMPORT consumes.
 *
 * A header, then a sequence of TLV records, each padded to 8 bytes.  Every
 * integer is big-endian, so a blob can cross hosts of either byte order.
 * A record type with %TCPMIG_ST_OPTIONAL set may be skipped by a reader
 * that does not know it; an unknown type without it makes the blob
 * unimportable, so a newer writer can say "you must understand this".
 * Documentation/state-format.rst describes every field.
 */
#define TCPMIG_STATE_MAGIC	0x43504d47	/* "CPMG" */
#define TCPMIG_STATE_VERSION	1
/* Upper bound of a blob: queues are bounded by the socket buffers. */
#define TCPMIG_STATE_MAX	(64U << 20)
#define TCPMIG_STATE_ALIGN	8

struct tcpmig_state_hdr {
	__be32	magic;
	__u8	version;
	__u8	flags;		/* none defined; must be zero */
	__be16	hdr_len;	/* sizeof(struct tcpmig_state_hdr) */
	__be32	total_len;	/* header and records */
	__be32	reserved;	/* must be zero */
};

struct tcpmig_state_rec {
	__be16	type;
	__be16	reserved;	/* must be zero */
	__be32	len;		/* of the value, without padding */
	/* value follows, then padding up to TCPMIG_STATE_ALIGN */
};

#define TCPMIG_ST_OPTIONAL	0x8000

/**
 * enum tcpmig_st_type - record types of the state blob
 * @TCPMIG_ST_TUPLE: struct capymig_tuple, the connection as exported.
 * @TCPMIG_ST_SEQ: struct tcpmig_st_seq.
 * @TCPMIG_ST_WINDOW: struct tcpmig_st_window.
 * @TCPMIG_ST_OPTIONS: struct tcpmig_st_options.
 * @TCPMIG_ST_RTT: struct tcpmig_st_rtt.
 * @TCPMIG_ST_CONGESTION: struct tcpmig_st_congestion.
 * @TCPMIG_ST_SOCKOPTS: struct tcpmig_st_sockopts.
 * @TCPMIG_ST_RECV_QUEUE: the bytes received but not yet read, from
 *	copied_seq to rcv_nxt.
 * @TCPMIG_ST_SEND_QUEUE: the bytes written but not yet acknowledged, from
 *	snd_una to write_seq; those before snd_nxt were already sent once.
 * @TCPMIG_ST_APP: opaque state of the application, carried unread.
 */
enum tcpmig_st_type {
	TCPMIG_ST_UNSPEC,
	TCPMIG_ST_TUPLE,
	TCPMIG_ST_SEQ,
	TCPMIG_ST_WINDOW,
	TCPMIG_ST_OPTIONS,
	TCPMIG_ST_RTT,
	TCPMIG_ST_CONGESTION,
	TCPMIG_ST_SOCKOPTS,
	TCPMIG_ST_RECV_QUEUE,
	TCPMIG_ST_SEND_QUEUE,
	TCPMIG_ST_APP = TCPMIG_ST_OPTIONAL | 1,
};

struct tcpmig_st_seq {
	__be32	snd_una;	/* first unacknowledged byte */
	__be32	snd_nxt;	/* next byte to send */
	__be32	write_seq;	/* one past the last byte written */
	__be32	rcv_nxt;	/* next byte expected */
	__be32	copied_seq;	/* first byte not yet read */
	__be32	snd_wl1;	/* segment that last updated the window */
	__be32	rcv_wup;	/* rcv_nxt at the last window update */
};

struct tcpmig_st_window {
	__be32	snd_wnd;	/* peer's window, already scaled */
	__be32	max_window;
	__be32	rcv_wnd;	/* our advertised window */
	__be32	window_clamp;
	__be32	rcv_ssthresh;
};

/* Options negotiated in the handshake. */
#define TCPMIG_OPT_SACK		(1U << 0)
#define TCPMIG_OPT_TIMESTAMP	(1U << 1)
#define TCPMIG_OPT_WSCALE	(1U << 2)
#define TCPMIG_OPT_ALL		((1U << 3) - 1)

struct tcpmig_st_options {
	__be32	flags;		/* TCPMIG_OPT_* */
	__u8	snd_wscale;	/* the peer's shift */
	__u8	rcv_wscale;	/* ours */
	__be16	mss_clamp;	/* the MSS the peer announced */
	__be16	advmss;		/* the MSS we announced */
	__be16	user_mss;	/* TCP_MAXSEG, 0 when unset */
	__be32	ts_val;		/* our current timestamp clock */
	__be32	ts_recent;	/* the peer's last timestamp */
};

struct tcpmig_st_rtt {
	__be32	srtt_us;	/* smoothed RTT << 3, as the kernel keeps it */
	__be32	mdev_us;	/* medium deviation << 2 */
	__be32	mdev_max_us;
	__be32	rttvar_us;
	__be32	rto_us;		/* retransmission timeout */
};

#define TCPMIG_CA_NAME_MAX	16

struct tcpmig_st_congestion {
	__be32	cwnd;		/* segments */
	__be32	ssthresh;
	char	ca_name[TCPMIG_CA_NAME_MAX];	/* NUL-padded */
};

/* Socket options set by the application. */
#define TCPMIG_SOCKOPT_NODELAY		(1U << 0)
#define TCPMIG_SOCKOPT_KEEPALIVE	(1U << 1)
#define TCPMIG_SOCKOPT_LINGER		(1U << 2)
#define TCPMIG_SOCKOPT_SNDBUF_LOCK	(1U << 3)	/* SO_SNDBUF was set */
#define TCPMIG_SOCKOPT_RCVBUF_LOCK	(1U << 4)	/* SO_RCVBUF was set */
#define TCPMIG_SOCKOPT_ALL		((1U << 5) - 1)

struct tcpmig_st_sockopts {
	__be32	flags;		/* TCPMIG_SOCKOPT_* */
	__be32	keepidle_s;
	__be32	keepintvl_s;
	__be32	keepcnt;
	__be32	user_timeout_ms;
	__be32	priority;
	__be32	mark;
	__be32	sndbuf;		/* bytes, as the kernel holds them */
	__be32	rcvbuf;
	__be32	linger_s;
	__be32	notsent_lowat;
	__u8	tos;		/* IPv4 TOS or IPv6 traffic class */
	__u8	pad[3];
};

/*
 * Records shared with the BPF programs (bpf/).
 */

/**
 * struct capymig_conn - what the server monitor keeps per connection
 * @cookie: the socket's cookie (SO_COOKIE), unique for the boot.
 * @established_ns: CLOCK_MONOTONIC time the connection was established.
 */
struct capymig_conn {
	__u64	cookie;
	__u64	established_ns;
};

#endif /* _UAPI_LINUX_CAPYMIG_H */
