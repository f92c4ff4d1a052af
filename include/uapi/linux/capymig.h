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
 * @TCPMIG_CMD_EXPORT: take a connection out of this host.  Request:
 *	%TCPMIG_A_TUPLE or %TCPMIG_A_COOKIE, optional %TCPMIG_A_STATE_BUF.
 *	As a dump, the blob is streamed back as %TCPMIG_A_STATE_CHUNK
 *	attributes, in order, the first message also carrying
 *	%TCPMIG_A_STATE_LEN; the connection is detached before the first
 *	chunk is sent.  Otherwise the reply is one message: the blob written
 *	to %TCPMIG_A_STATE_BUF, or all its chunks; a blob too large for both
 *	is refused (EMSGSIZE, connection untouched): ask for a dump.
 * @TCPMIG_CMD_IMPORT: rebuild a connection from a blob and hand it to the
 *	local listener, or to the caller as a file descriptor.  Request: the
 *	blob as %TCPMIG_A_STATE_CHUNK attributes in order (one message may
 *	exceed 64 KiB: raise SO_SNDBUF) or in %TCPMIG_A_STATE_BUF, optional
 *	%TCPMIG_A_TUPLE to serve the connection under another local address
 *	or port, optional
 *	%TCPMIG_A_IMPORT_FLAGS and %TCPMIG_A_LISTENER_COOKIE.  Reply:
 *	%TCPMIG_A_TUPLE, and %TCPMIG_A_FD with %TCPMIG_IMPORT_F_FD.
 * @TCPMIG_CMD_HOLD: hold the packets of a connection that is about to be
 *	imported here, instead of letting them meet a listener (which would
 *	answer with a reset).  IMPORT replays them; after %TCPMIG_A_TIMEOUT_MS
 *	(default 2000) without one they are dropped.  Request: %TCPMIG_A_TUPLE,
 *	optional %TCPMIG_A_TIMEOUT_MS.
 * @TCPMIG_CMD_EVENT: notification on the %TCPMIG_MCGRP_EVENTS group.
 *	Attributes: %TCPMIG_A_EVENT, %TCPMIG_A_TUPLE, %TCPMIG_A_TIMESTAMP_NS,
 *	and %TCPMIG_A_ERROR, %TCPMIG_A_STATE_LEN, %TCPMIG_A_MIGRATION_ID,
 *	%TCPMIG_A_TARGET as the event has them.
 * @TCPMIG_CMD_SET_CONFIG: configure TCPMig in this namespace: the UDP port
 *	(%TCPMIG_A_UDP_PORT, default %TCPMIG_PORT_DEFAULT) and the switch
 *	(%TCPMIG_A_SWITCH, its address; the port is the same).  Setting the
 *	switch opens the TCPMig socket.  %TCPMIG_A_TIMEOUT_MS sets how long
 *	a migration may take before it is given up (default 1000).
 *	%TCPMIG_A_HEARTBEAT_MS: how often this server sends REGISTER to the
 *	switch (0: never).  %TCPMIG_A_WEIGHT: its capacity relative to the
 *	pool's other members, sent in REGISTER.  %TCPMIG_A_CONFIG_FLAGS:
 *	TCPMIG_CONFIG_F_*.  An attribute left out keeps its value.
 * @TCPMIG_CMD_GET_CONFIG: the above, and the pool.  Reply as the request,
 *	with one %TCPMIG_A_PEER per pool member.
 * @TCPMIG_CMD_POOL_ADD: accept TCPMig from the server at %TCPMIG_A_PEER,
 *	one of at most %TCPMIG_POOL_MAX members (%ENOSPC).
 * @TCPMIG_CMD_POOL_DEL: stop accepting it.
 * @TCPMIG_CMD_MIGRATE: migrate the connection %TCPMIG_A_TUPLE (or
 *	%TCPMIG_A_COOKIE) through the switch, to %TCPMIG_A_TARGET if given,
 *	else where the switch chooses.  Returns at once with
 *	%TCPMIG_A_MIGRATION_ID; each phase is announced as an event.
 *	With %TCPMIG_A_READ_SEQ the connection moves only at that point of
 *	the stream (see below); otherwise the migration fails with EAGAIN
 *	and the connection stays, serving.
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
	TCPMIG_CMD_SET_CONFIG,
	TCPMIG_CMD_GET_CONFIG,
	TCPMIG_CMD_POOL_ADD,
	TCPMIG_CMD_POOL_DEL,
	TCPMIG_CMD_MIGRATE,

	__TCPMIG_CMD_MAX,
};
#define TCPMIG_CMD_MAX (__TCPMIG_CMD_MAX - 1)

#define TCPMIG_MCGRP_EVENTS	"events"
/*
 * %TCPMIG_EVENT_LOAD goes to a group of its own: at one a millisecond it
 * would overflow the sockets that wait on "events" for a migration.
 */
#define TCPMIG_MCGRP_LOAD	"load"

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
 * @TCPMIG_A_UDP_PORT: u16, the TCPMig UDP port.
 * @TCPMIG_A_SWITCH: struct tcpmig_endpoint, the switch's TCPMig address.
 * @TCPMIG_A_PEER: struct tcpmig_endpoint, a pool member (port ignored).
 * @TCPMIG_A_TARGET: struct tcpmig_endpoint, a migration's target server;
 *	in %TCPMIG_EVENT_LOAD, the server endpoint the load is this host's
 *	for (one host may serve several).
 * @TCPMIG_A_MIGRATION_ID: u32, names a migration together with its origin.
 * @TCPMIG_A_HEARTBEAT_MS: u32, interval of the REGISTER heartbeat.
 * @TCPMIG_A_WEIGHT: u32, relative capacity of this server (default 1).
 * @TCPMIG_A_CONFIG_FLAGS: u32, TCPMIG_CONFIG_F_*.
 * @TCPMIG_A_READ_SEQ: u32, a request boundary: the sequence number up to
 *	which the application had read when it last wrote (the server
 *	monitor's sk_msg program records it).  The export happens only if
 *	the application has read nothing since (copied_seq still equals it),
 *	so it holds no half-read request in userspace.
 * @TCPMIG_A_SERVER_PPS: u64, in %TCPMIG_EVENT_LOAD: this server's packets
 *	per second, as the switch counted them.
 * @TCPMIG_A_POOL_PPS: u64, in %TCPMIG_EVENT_LOAD: the whole pool's.
 * @TCPMIG_A_POOL_SERVERS: u32, in %TCPMIG_EVENT_LOAD: the members counted.
 * @TCPMIG_A_TARGET_PPS: u64, in %TCPMIG_EVENT_LOAD: the load of the server
 *	the switch would pick as this one's migration target now
 *	(%TCPMIG_LOAD_NO_TARGET: none).
 * @TCPMIG_A_STATE_BUF: u64, the address of a buffer in the requester's
 *	memory, read or written while the request is handled, so that the
 *	blob is copied once instead of travelling in messages.  EXPORT: room
 *	for %TCPMIG_A_STATE_LEN bytes; the reply's %TCPMIG_A_STATE_LEN says
 *	how many the blob took, or, larger than the room, the blob comes in
 *	the reply's chunks instead.  IMPORT: the blob, %TCPMIG_A_STATE_LEN
 *	bytes, instead of chunks.  With %TCPMIG_IMPORT_F_FD a blob larger
 *	than a page is read where it lies, queues and all: it must stay
 *	mapped and unchanged until the reply (unreadable before the
 *	connection is live: EFAULT, nothing changed; unmapped meanwhile by
 *	another thread: the connection is reset).
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
	TCPMIG_A_UDP_PORT,
	TCPMIG_A_SWITCH,
	TCPMIG_A_PEER,
	TCPMIG_A_TARGET,
	TCPMIG_A_MIGRATION_ID,
	TCPMIG_A_HEARTBEAT_MS,
	TCPMIG_A_WEIGHT,
	TCPMIG_A_CONFIG_FLAGS,
	TCPMIG_A_READ_SEQ,
	TCPMIG_A_SERVER_PPS,
	TCPMIG_A_POOL_PPS,
	TCPMIG_A_POOL_SERVERS,
	TCPMIG_A_STATE_BUF,
	TCPMIG_A_TARGET_PPS,

	__TCPMIG_A_MAX,
};
#define TCPMIG_A_MAX (__TCPMIG_A_MAX - 1)

/* Largest %TCPMIG_A_STATE_CHUNK: an attribute's length is 16 bits. */
#define TCPMIG_STATE_CHUNK_MAX	65000

/* Pool members a namespace may have: a rack's worth, a runaway's bound. */
#define TCPMIG_POOL_MAX		1024

/* Import: return the connection as a file descriptor, not to a listener. */
#define TCPMIG_IMPORT_F_FD	(1U << 0)
#define TCPMIG_IMPORT_F_ALL	TCPMIG_IMPORT_F_FD

/*
 * Configuration flags.  DRAINING: this server leaves the pool; its
 * REGISTERs say so (the switch places nothing new here) and it rejects
 * PREPAREs.  NO_HOLD: as a target, drop the packets that arrive between
 * the switch's redirect and the import instead of holding them (the
 * Prism-style baseline of the benchmarks; never for production).
 */
#define TCPMIG_CONFIG_F_DRAINING	(1U << 0)
#define TCPMIG_CONFIG_F_NO_HOLD		(1U << 1)
#define TCPMIG_CONFIG_F_ALL		(TCPMIG_CONFIG_F_DRAINING | \
					 TCPMIG_CONFIG_F_NO_HOLD)

/**
 * enum tcpmig_conn_attr - one connection in a %TCPMIG_CMD_LIST dump
 * @TCPMIG_CONN_A_TUPLE: struct capymig_tuple.
 * @TCPMIG_CONN_A_COOKIE: u64, the socket cookie, when one was ever taken.
 * @TCPMIG_CONN_A_RQLEN: u32, bytes received and not yet read.
 * @TCPMIG_CONN_A_TQLEN: u32, bytes written and not yet acknowledged.
 * @TCPMIG_CONN_A_COPIED_SEQ: u32, the sequence number of the first byte
 *	not yet read: what %TCPMIG_A_READ_SEQ is compared with.
 */
enum tcpmig_conn_attr {
	TCPMIG_CONN_A_UNSPEC,
	TCPMIG_CONN_A_TUPLE,
	TCPMIG_CONN_A_COOKIE,
	TCPMIG_CONN_A_RQLEN,
	TCPMIG_CONN_A_TQLEN,
	TCPMIG_CONN_A_PAD,
	TCPMIG_CONN_A_COPIED_SEQ,

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
 * @TCPMIG_STAT_MIGRATIONS_OUT: migrations completed as the origin.
 * @TCPMIG_STAT_MIGRATIONS_IN: migrations completed as the target.
 * @TCPMIG_STAT_MIGRATIONS_FAILED: migrations given up as the origin.
 * @TCPMIG_STAT_MSG_RETRANSMITS: TCPMig messages sent again.
 * @TCPMIG_STAT_MSG_NOT_MEMBER: TCPMig messages dropped: not from the pool.
 * @TCPMIG_STAT_MSG_MALFORMED: TCPMig messages dropped: malformed.
 * @TCPMIG_STAT_MSG_UNEXPECTED: TCPMig messages dropped: no such migration
 *	or not in that phase (duplicates and late arrivals).
 * @TCPMIG_STAT_MSG_OVERFLOWS: TCPMig messages dropped: too many waiting.
 * @TCPMIG_STAT_NO_HOLD_DROPS: packets a target dropped instead of holding
 *	them (%TCPMIG_CONFIG_F_NO_HOLD).
 * @TCPMIG_STAT_SEGMENTS_FORWARDED: origin: SEGMENTs sent on to the target,
 *	of the segments that reached it after the export.
 * @TCPMIG_STAT_SEGMENTS_INJECTED: target: SEGMENTs put into its stack.
 * @TCPMIG_STAT_SEGMENTS_AFTER_IMPORT: target: of those, the ones that came
 *	after the import, to a socket that had what the client sent later.
 * @TCPMIG_STAT_SEGMENTS_RECEIVED: target: SEGMENTs that arrived from a pool
 *	member, their header well-formed; those not injected were for no
 *	migration it knew, or their segment was malformed.  Forwarded less
 *	received is what the network lost (UDP is not reliable).
 * @TCPMIG_STAT_MSG_SPOOFED: TCPMig messages dropped: from a pool member,
 *	but not from the server the message names as its sender (its
 *	origin, or for an answer its target).
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
	TCPMIG_STAT_MIGRATIONS_OUT,
	TCPMIG_STAT_MIGRATIONS_IN,
	TCPMIG_STAT_MIGRATIONS_FAILED,
	TCPMIG_STAT_MSG_RETRANSMITS,
	TCPMIG_STAT_MSG_NOT_MEMBER,
	TCPMIG_STAT_MSG_MALFORMED,
	TCPMIG_STAT_MSG_UNEXPECTED,
	TCPMIG_STAT_MSG_OVERFLOWS,
	TCPMIG_STAT_PAD,
	TCPMIG_STAT_NO_HOLD_DROPS,
	TCPMIG_STAT_SEGMENTS_FORWARDED,
	TCPMIG_STAT_SEGMENTS_INJECTED,
	TCPMIG_STAT_SEGMENTS_AFTER_IMPORT,
	TCPMIG_STAT_SEGMENTS_RECEIVED,
	TCPMIG_STAT_MSG_SPOOFED,

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
 * @TCPMIG_EVENT_PREPARE_SENT: origin: phase 1 began.
 * @TCPMIG_EVENT_PREPARED: target: holding, PREPARE-ACK sent.
 * @TCPMIG_EVENT_PREPARE_ACKED: origin: the switch redirects; exporting.
 * @TCPMIG_EVENT_STATE_SENT: origin: CONN-STATE sent.
 * @TCPMIG_EVENT_MIGRATED: origin: CONN-STATE-ACK received, done.
 * @TCPMIG_EVENT_REJECTED: origin: the target refused; the connection
 *	stays, untouched.  %TCPMIG_A_ERROR says why.
 * @TCPMIG_EVENT_FAILED: origin: given up (%TCPMIG_A_ERROR).  Before the
 *	export the connection stays here, serving; after it, the target
 *	stopped answering and the connection is lost.
 * @TCPMIG_EVENT_LOAD: the switch's LOAD-NOTIFICATION arrived:
 *	%TCPMIG_A_SERVER_PPS, %TCPMIG_A_POOL_PPS, %TCPMIG_A_POOL_SERVERS,
 *	%TCPMIG_A_TARGET_PPS, %TCPMIG_A_TARGET (the server endpoint it is
 *	for), no tuple.  On the %TCPMIG_MCGRP_LOAD group, not "events".
 */
enum tcpmig_event {
	TCPMIG_EVENT_UNSPEC,
	TCPMIG_EVENT_EXPORTED,
	TCPMIG_EVENT_IMPORTED,
	TCPMIG_EVENT_EXPORT_REFUSED,
	TCPMIG_EVENT_IMPORT_REFUSED,
	TCPMIG_EVENT_HOLD_EXPIRED,
	TCPMIG_EVENT_PREPARE_SENT,
	TCPMIG_EVENT_PREPARED,
	TCPMIG_EVENT_PREPARE_ACKED,
	TCPMIG_EVENT_STATE_SENT,
	TCPMIG_EVENT_MIGRATED,
	TCPMIG_EVENT_REJECTED,
	TCPMIG_EVENT_FAILED,
	TCPMIG_EVENT_LOAD,
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

/*
 * Options negotiated in the handshake, and, with ECN, where its signalling
 * stands: the ECT bits of the packets follow from these (they are not in
 * tcpmig_st_sockopts' tos).
 */
#define TCPMIG_OPT_SACK		(1U << 0)
#define TCPMIG_OPT_TIMESTAMP	(1U << 1)
#define TCPMIG_OPT_WSCALE	(1U << 2)
#define TCPMIG_OPT_ECN		(1U << 3)	/* negotiated */
#define TCPMIG_OPT_ECN_SEEN	(1U << 4)	/* the peer sent ECT */
#define TCPMIG_OPT_ECN_QUEUE_CWR (1U << 5)	/* CWR owed on the next data */
#define TCPMIG_OPT_ECN_DEMAND_CWR (1U << 6)	/* ECE echoed until the peer's
						 * CWR */
#define TCPMIG_OPT_ECN_STATE	(TCPMIG_OPT_ECN_SEEN | \
				 TCPMIG_OPT_ECN_QUEUE_CWR | \
				 TCPMIG_OPT_ECN_DEMAND_CWR)
#define TCPMIG_OPT_TS_USEC	(1U << 7)	/* ts_val ticks in microseconds
						 * (Linux 6.7 on, tcp_usec_ts) */
#define TCPMIG_OPT_ALL		((1U << 8) - 1)

struct tcpmig_st_options {
	__be32	flags;		/* TCPMIG_OPT_* */
	__u8	snd_wscale;	/* the peer's shift */
	__u8	rcv_wscale;	/* ours */
	__be16	mss_clamp;	/* the MSS the peer announced */
	__be16	advmss;		/* the MSS we announced */
	__be16	user_mss;	/* TCP_MAXSEG, 0 when unset */
	__be32	ts_val;		/* our current timestamp clock, every bit */
	__be32	ts_recent;	/* the peer's last timestamp */
	__be16	rcv_mss;	/* our estimate of the peer's segment size */
	__be16	pad;		/* zero */
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
	__u8	tos;		/* IPv4 TOS or IPv6 traffic class, its ECN
				 * bits zero (TCPMIG_OPT_ECN*) */
	__u8	pad[3];
};

/*
 * TCPMig: the migration protocol, carried over UDP between servers and
 * through the switch (Capybara's two-phase protocol, SIGCOMM'26 §4).
 *
 *	origin                     switch                     target
 *	  | PREPARE -----------------> | (picks target if 0) ----> |  hold
 *	  | <----------------------------------- PREPARE-ACK      |
 *	  |                            | installs the redirect    |
 *	  | export, CONN-STATE (n fragments) -------------------> |  import,
 *	  | <--------------------------------- CONN-STATE-ACK     |  replay
 *
 * The target may answer REJECT instead of PREPARE-ACK, and so does the
 * switch, from its own address, to a PREPARE it has no target for.
 * ABORT, from the origin through the switch, withdraws a migration: the
 * switch drops the redirect and the target its hold, and answers
 * ABORT-ACK.  LOAD is the switch's periodic LOAD-NOTIFICATION; REGISTER
 * is a server joining the pool (and staying in it: it is repeated as a
 * heartbeat).  SEGMENT carries, from origin to target, a TCP segment of
 * the connection that still reached the origin after the export (in
 * flight on the old path).
 *
 * Everything is big-endian.  Endpoints are IPv4: the switch pipeline
 * holds 32-bit addresses in its tables.  The same definitions are the
 * P4 program's headers (p4/).
 */
#define TCPMIG_PORT_DEFAULT	7290
/*
 * A migration ends within this many of its timeouts (%TCPMIG_A_TIMEOUT_MS):
 * one to be prepared, then three for its state to be acknowledged once it
 * left the origin, or for its ABORT once withdrawn.  Whoever waits for a
 * migration's end, its events lost, waits as long.
 */
#define TCPMIG_MIGRATION_TIMEOUTS	4
#define TCPMIG_MSG_MAGIC	0x544d		/* "TM" */
#define TCPMIG_MSG_VERSION	1

enum tcpmig_msg_type {
	TCPMIG_MSG_PREPARE = 1,
	TCPMIG_MSG_PREPARE_ACK,
	TCPMIG_MSG_CONN_STATE,
	TCPMIG_MSG_CONN_STATE_ACK,
	TCPMIG_MSG_REJECT,
	TCPMIG_MSG_ABORT,
	TCPMIG_MSG_LOAD,
	TCPMIG_MSG_REGISTER,
	TCPMIG_MSG_SEGMENT,
	TCPMIG_MSG_ABORT_ACK,
	__TCPMIG_MSG_MAX,
};
#define TCPMIG_MSG_MAX (__TCPMIG_MSG_MAX - 1)

struct tcpmig_endpoint {
	__be32	addr;
	__be16	port;
	__be16	pad;		/* zero */
};

/**
 * struct tcpmig_msg_hdr - the header of every TCPMig message
 * @magic: %TCPMIG_MSG_MAGIC.
 * @version: %TCPMIG_MSG_VERSION.
 * @type: enum tcpmig_msg_type.
 * @migration_id: chosen by the origin, unique among its migrations; with
 *	@origin it names a migration.
 * @client: the client end of the connection (the switch's table key).
 * @origin: the server end on the origin, as its socket has it.
 * @target: the server end on the target; zero in a PREPARE that lets the
 *	switch choose.  In LOAD, the server notified; in REGISTER, unused.
 */
struct tcpmig_msg_hdr {
	__be16	magic;
	__u8	version;
	__u8	type;
	__be32	migration_id;
	struct tcpmig_endpoint client;
	struct tcpmig_endpoint origin;
	struct tcpmig_endpoint target;
};

/*
 * CONN-STATE: one fragment of the state blob follows this.  Every fragment
 * but the last carries exactly TCPMIG_FRAG_SIZE bytes, so a fragment's
 * index is its offset / TCPMIG_FRAG_SIZE; the datagrams fit an IPv4 MTU
 * of 1280.
 */
#define TCPMIG_FRAG_SIZE	1200

struct tcpmig_msg_conn_state {
	__be32	offset;		/* of this fragment in the blob */
	__be32	total_len;	/* of the blob */
};

/* CONN-STATE-ACK: the whole blob arrived and was imported. */
struct tcpmig_msg_conn_state_ack {
	__be32	total_len;
};

enum tcpmig_reject_reason {
	TCPMIG_REJECT_TUPLE_EXISTS = 1,	/* the target has that connection */
	TCPMIG_REJECT_NO_LISTENER,	/* nothing serves the endpoint */
	TCPMIG_REJECT_NO_MEMORY,	/* none for a PREPARE: its record, hold */
	TCPMIG_REJECT_BUSY,		/* already migrating that connection */
	TCPMIG_REJECT_IMPORT_FAILED,	/* the state arrived, import failed */
	TCPMIG_REJECT_DRAINING,		/* the target leaves the pool */
	TCPMIG_REJECT_NO_TARGET,	/* the switch's: no target to send to */
	TCPMIG_REJECT_STATE_NO_MEMORY,	/* none for the arriving state */
};

struct tcpmig_msg_reject {
	__be32	reason;		/* enum tcpmig_reject_reason */
};

/*
 * LOAD-NOTIFICATION: packets per second seen by the switch last period;
 * and the load of the target the switch would pick now for a migration
 * from the server notified, by its target policy (the least loaded other
 * live server, by the smoothed load the switch ranks them by; under
 * round-robin, the next in turn), so that the server sheds no more than
 * that target has room for (Documentation/capymigd.rst).
 */
struct tcpmig_msg_load {
	__be64	server_pps;	/* towards the server notified */
	__be64	pool_pps;	/* towards the whole pool */
	__be32	servers;	/* members counted in pool_pps */
	__be32	period_us;
	__be64	target_pps;	/* TCPMIG_LOAD_NO_TARGET: no other server */
};

#define TCPMIG_LOAD_NO_TARGET	(~0ULL)

#define TCPMIG_REGISTER_F_DRAINING	(1U << 0)	/* place nothing new */

/*
 * SEGMENT: an IPv4 packet (header and TCP segment) the origin received
 * follows the header, whole or, if longer than TCPMIG_FRAG_SIZE, cut into
 * pieces of that size at most as TSO cuts a segment (their checksums
 * left to the target); the target delivers it to itself rewritten to its
 * own endpoint.  Documentation/protocol.rst says when it is sent.
 */

/*
 * REGISTER: a server's endpoint is in @origin of the header; port 0 names
 * every server of the pool at that address.
 */
struct tcpmig_msg_register {
	__be32	flags;		/* TCPMIG_REGISTER_F_* */
	__be32	weight;		/* relative capacity, for placement */
};

/*
 * The length of a message of @type: its header and fixed body.  CONN-STATE
 * and SEGMENT carry data after it; every other message is exactly this.
 */
static inline __u32 tcpmig_msg_len(__u8 type)
{
	__u32 len = sizeof(struct tcpmig_msg_hdr);

	switch (type) {
	case TCPMIG_MSG_CONN_STATE:
		return len + sizeof(struct tcpmig_msg_conn_state);
	case TCPMIG_MSG_CONN_STATE_ACK:
		return len + sizeof(struct tcpmig_msg_conn_state_ack);
	case TCPMIG_MSG_REJECT:
		return len + sizeof(struct tcpmig_msg_reject);
	case TCPMIG_MSG_LOAD:
		return len + sizeof(struct tcpmig_msg_load);
	case TCPMIG_MSG_REGISTER:
		return len + sizeof(struct tcpmig_msg_register);
	default:
		return len;
	}
}

/*
 * The switch's tables, as a pipeline holds them (registers indexed by a
 * hash of the key), shared by the software switch (bpf/switch.bpf.c) and
 * the P4 program.
 *
 * The migration table maps a client endpoint to where its connection now
 * lives.  It has two levels of slots: a key goes to its slot in level 0,
 * or, if that holds another key, to its slot in level 1 (a second hash).
 */
#define CAPYMIG_SW_LEVELS		2
#define CAPYMIG_SW_SLOTS_SHIFT		18
#define CAPYMIG_SW_SLOTS		(1U << CAPYMIG_SW_SLOTS_SHIFT)
#define CAPYMIG_SW_MAX_SERVERS		64

/**
 * struct capymig_sw_migration - one slot of the migration table
 * @state: the flags (CAPYMIG_SW_FIN_*, _ANSWERED, _SETTLED) in the low
 *	bits, and above them when a packet last used the entry
 *	(CAPYMIG_SW_TIME()); stale entries are reaped.  Both go with the
 *	slot, cleared with it.
 * @client: the key; addr 0 marks a free slot.
 * @service: the endpoint the client addresses (a service address, or the
 *	server it first connected to): replies are rewritten to come from it.
 * @target: the server end now serving the connection.
 * @former: the server it last moved from, addr 0 for none.  A server's
 *	segment to the client is the connection's only from @target or
 *	@former: any other is of another connection from the same client
 *	endpoint (Linux gives one ephemeral port to connections to
 *	different destinations).  The former's segments sent before its
 *	export may reach the switch after the target's CONN-STATE-ACK
 *	(CAPYMIG_SW_SETTLED): one left unrewritten, the client would reset
 *	it, and its reset, sent on to the target, the connection.  So the
 *	former stays until the next migration names another, or the client
 *	opens a connection to the former's own endpoint.
 *
 * 36 bytes, each field a 32- or 64-bit register; with the software
 * switch's 4-byte lock, a slot is 40.
 */
struct capymig_sw_migration {
	__u32	state;
	struct tcpmig_endpoint client;
	struct tcpmig_endpoint service;
	struct tcpmig_endpoint target;
	struct tcpmig_endpoint former;
};

/**
 * struct capymig_sw_recent - the migrations the switch last applied to a
 *	client's connection, by their ids
 * @client: whose; addr 0 for none.
 * @ids: the migration ids (as on the wire) of the PREPARE-ACKs it
 *	installed and of the ABORTs it took, the newest first; 0 for none.
 *
 * A PREPARE-ACK whose id is here is an old one's duplicate, delayed past
 * a later migration of the connection: it must not redirect the client
 * again.  One per slot of the migration table's level 0, held by whichever
 * client of that slot migrated last: only the control path reads or
 * writes it, never a connection's segments.
 */
#define CAPYMIG_SW_RECENT_IDS		4
struct capymig_sw_recent {
	struct tcpmig_endpoint client;
	__be32	ids[CAPYMIG_SW_RECENT_IDS];
};

/**
 * struct capymig_sw_chosen - the target of the last PREPARE the switch
 *	passed on: the one named, or the one it chose
 * @client: the connection's client; addr 0 for none.
 * @origin: the migration's origin, which with @migration_id names it.
 * @migration_id: as on the wire.
 * @target: the server named or chosen.
 *
 * The origin sends its PREPARE again until it hears (20 ms, then up to
 * 200 ms), and still names no target: the target's PREPARE-ACK was lost,
 * or is late.  Each copy goes to the server the first went to, while it
 * is live or draining (draining, it still answers a PREPARE it took),
 * noted by its endpoint: a copy sent to another would leave its hold,
 * and what the client sent it once the switch redirected it, stranded,
 * or draw a refusal that fails a migration the first had accepted.  An
 * ABORT that names no target, with no redirect to withdraw (the
 * PREPARE-ACK lost before the switch), goes there too.  A target the
 * origin named is noted as well: only the noted target's PREPARE-ACK is
 * installed, not a pool member's answering for another's migration.
 * One per slot of the migration table's level 0, indexed alike, held by
 * whichever of its clients' migrations had a PREPARE last.
 */
struct capymig_sw_chosen {
	struct tcpmig_endpoint client;
	struct tcpmig_endpoint origin;
	__be32	migration_id;
	struct tcpmig_endpoint target;
};

/*
 * Once FINs went both ways, or a RST passed, a connection's entries stay,
 * rewriting what still comes, until idle for the closed timeout or the
 * client's next SYN.
 */
#define CAPYMIG_SW_FIN_CLIENT		(1U << 0)	/* the client sent FIN */
#define CAPYMIG_SW_FIN_SERVER		(1U << 1)	/* the server sent FIN */
#define CAPYMIG_SW_FIN_MASK		(CAPYMIG_SW_FIN_CLIENT | \
					 CAPYMIG_SW_FIN_SERVER)
/*
 * A segment of the server's went through the entry.  A placement entry
 * without it holds a SYN no server answered yet: a flood of SYNs from
 * forged addresses makes nothing else.  Such an entry is reaped after the
 * shorter unanswered timeout, and a new SYN whose two slots are taken
 * may take the place of one idle for CAPYMIG_SW_UNANSWERED_EVICT_MS: the
 * client it held has sent its SYN again by then if it exists (TCP's first
 * retransmission timeout is 1 s, RFC 6298), and its next one is placed
 * anew.
 */
#define CAPYMIG_SW_ANSWERED		(1U << 2)
/*
 * The target's CONN-STATE-ACK of the migration from the entry's former
 * passed: no ABORT withdraws the redirect any more.
 */
#define CAPYMIG_SW_SETTLED		(1U << 3)
#define CAPYMIG_SW_UNANSWERED_EVICT_MS	1000

/*
 * The time in @state: the coarse monotonic clock (CLOCK_MONOTONIC_COARSE,
 * as every time the data plane keeps) in units of 2^20 ns (about 1.05
 * ms), its low 28 bits, shifted over the flags.  It wraps every 3.2 days:
 * idle times are differences modulo 2^28 (capymig_sw_idle() in
 * bpf/switch.h), right up to 1.6 days, far beyond any timeout.
 */
#define CAPYMIG_SW_TIME_UNIT_SHIFT	20
#define CAPYMIG_SW_TIME_SHIFT		4
#define CAPYMIG_SW_FLAGS_MASK		((1U << CAPYMIG_SW_TIME_SHIFT) - 1)
#define CAPYMIG_SW_TIME(ns)						\
	((__u32)((ns) >> CAPYMIG_SW_TIME_UNIT_SHIFT) << CAPYMIG_SW_TIME_SHIFT)

/*
 * A key's slot in level L is the CRC of its 6 bytes (address, then port,
 * as on the wire) masked to CAPYMIG_SW_SLOTS_SHIFT bits.  Level 0 uses
 * CRC-32 (IEEE 802.3, P4's HashAlgorithm.crc32), level 1 CRC-32C
 * (Castagnoli); both reflected, with initial value and final XOR ~0.
 * These are the polynomials, reflected.
 */
#define CAPYMIG_SW_HASH0_POLY		0xedb88320U
#define CAPYMIG_SW_HASH1_POLY		0x82f63b78U

/*
 * The placement table holds the same records in the same two levels, for
 * the connections to the service address: on a connection's SYN the
 * placement policy picks a server, and the entry keeps the connection on
 * it (per-connection consistency) until the connection ends.  @service
 * is the service address, @target the server the connection was placed
 * on: its original server, to which a migration may bring it back.
 */

/* Servers are numbered from 0 to CAPYMIG_SW_MAX_SERVERS - 1; this is none. */
#define CAPYMIG_SW_NO_SERVER		0xff

enum capymig_sw_server_state {
	CAPYMIG_SW_SERVER_UNUSED,	/* no server has this number */
	CAPYMIG_SW_SERVER_DOWN,		/* configured, not registered yet */
	CAPYMIG_SW_SERVER_LIVE,
	CAPYMIG_SW_SERVER_DRAINING,	/* keeps its connections, no new ones */
	CAPYMIG_SW_SERVER_DEAD,		/* its heartbeats stopped */
};

/**
 * struct capymig_sw_server - the server table, by server number, written
 *	by the control plane
 * @ep: the server's endpoint: the (IP, port) of its service.
 * @state: enum capymig_sw_server_state.
 * @pad: zero.
 *
 * Two exact-match tables go with it: endpoint to server number, and the
 * pool's addresses, the only sources TCPMig is accepted from.
 */
struct capymig_sw_server {
	struct tcpmig_endpoint	ep;
	__u32	state;
	__u32	pad;
};

/**
 * struct capymig_sw_heartbeat - the last REGISTER of each server, by
 *	server number, written by the data plane
 * @last_ns: when it passed, on the switch's coarse monotonic clock
 *	(CLOCK_MONOTONIC_COARSE, as every time the data plane keeps).
 * @flags: its TCPMIG_REGISTER_F_*: a draining server is skipped at once.
 * @weight: its weight.
 */
struct capymig_sw_heartbeat {
	__u64	last_ns;
	__u32	flags;
	__u32	weight;
};

/* How a new connection to the service address is placed. */
enum capymig_sw_placement {
	CAPYMIG_SW_PLACE_RR,		/* round-robin over the live servers */
	CAPYMIG_SW_PLACE_HASH,		/* by the level-0 hash of the client */
	CAPYMIG_SW_PLACE_LWRR,		/* load-aware weighted round-robin */
};

/* How the target of a PREPARE that leaves the choice is picked. */
enum capymig_sw_target {
	CAPYMIG_SW_TARGET_RR,		/* round-robin over the live servers */
	CAPYMIG_SW_TARGET_LEAST_LOADED,	/* least load, smoothed */
};

#define CAPYMIG_SW_SCHED_SLOTS		256

/**
 * struct capymig_sw_sched - what the control plane derives each period
 *	from the servers' states and loads
 * @nlive: entries of @live.
 * @nweighted: entries of @weighted.
 * @least: the two live servers of the least load (packets per second,
 *	smoothed over periods by the control plane), the least loaded
 *	first; CAPYMIG_SW_NO_SERVER where there are fewer.
 * @live: the live servers' numbers.
 * @weighted: the LWRR schedule: each live server's number as many times
 *	as its weight, interleaved.
 * @pad: zero.
 *
 * There are two banks: the control plane writes the one not in use, then
 * points the config's @sched_bank at it.  The data plane indexes @live or
 * @weighted with a round-robin counter register or a hash, and takes the
 * first eligible server from there: live, not draining, and not the
 * origin of the migration it picks a target for.
 */
struct capymig_sw_sched {
	__u32	nlive;
	__u32	nweighted;
	__u8	least[2];
	__u8	live[CAPYMIG_SW_MAX_SERVERS];
	__u8	weighted[CAPYMIG_SW_SCHED_SLOTS];
	__u8	pad[2];
};

/**
 * struct capymig_sw_config - the switch's configuration registers
 * @service: the service address (VIP:port); addr 0 for none: clients then
 *	reach servers at their own addresses only.
 * @switch_addr: the switch's TCPMig address.
 * @tcpmig_port: the TCPMig UDP port.
 * @placement: enum capymig_sw_placement.
 * @target: enum capymig_sw_target.
 * @sched_bank: the struct capymig_sw_sched bank in use, 0 or 1.
 */
struct capymig_sw_config {
	struct tcpmig_endpoint	service;
	__be32	switch_addr;
	__be16	tcpmig_port;
	__u8	placement;
	__u8	target;
	__u32	sched_bank;
};

/*
 * The pool monitor counts the TCP segments sent towards each server, after
 * any rewrite, in a free-running counter per server number; the control
 * plane takes the difference every period.  These count events:
 */
enum capymig_sw_counter {
	CAPYMIG_SW_CNT_PLACED,		/* new connections placed */
	CAPYMIG_SW_CNT_PLACE_NO_SERVER,	/* SYNs dropped: no live server */
	CAPYMIG_SW_CNT_PLACE_FULL,	/* SYNs dropped: both slots taken */
	/* SYNs placed in the slot of an unanswered one */
	CAPYMIG_SW_CNT_PLACE_EVICTED,
	CAPYMIG_SW_CNT_NO_CONN,		/* to the service, no connection */
	CAPYMIG_SW_CNT_MIG_INSTALLED,	/* PREPARE-ACK: entry installed */
	CAPYMIG_SW_CNT_MIG_UPDATED,	/* PREPARE-ACK: entry re-pointed */
	CAPYMIG_SW_CNT_MIG_RETURNED,	/* PREPARE-ACK: back to the original */
	CAPYMIG_SW_CNT_MIG_FULL,	/* PREPARE-ACK dropped: no free slot */
	CAPYMIG_SW_CNT_MIG_STALE,	/* PREPARE-ACK dropped: not the owner */
	CAPYMIG_SW_CNT_MIG_ABORTED,	/* entry withdrawn by an ABORT */
	/* PREPARE-ACK or ABORT dropped: another of the client's at work */
	CAPYMIG_SW_CNT_MIG_BUSY,
	CAPYMIG_SW_CNT_CLOSED,		/* closed connections' entries gone */
	CAPYMIG_SW_CNT_RESET,		/* entries closed by a RST */
	CAPYMIG_SW_CNT_REAPED,		/* entries idle too long */
	CAPYMIG_SW_CNT_PREPARES,	/* PREPAREs sent on to their target */
	CAPYMIG_SW_CNT_NO_TARGET,	/* PREPAREs refused: no target */
	CAPYMIG_SW_CNT_REGISTERS,	/* REGISTERs recorded */
	CAPYMIG_SW_CNT_MALFORMED,	/* TCPMig dropped: malformed */
	/*
	 * TCPMig dropped: not from the pool, or not from its side; TCP from
	 * a server's endpoint not from its side
	 */
	CAPYMIG_SW_CNT_SPOOFED,
	/* ICMP errors about a server's segment sent on to the server serving */
	CAPYMIG_SW_CNT_ICMP_TRANSLATED,
	/* Servers' segments too big for the way out, left as they were sent */
	CAPYMIG_SW_CNT_TOO_BIG,
	/* Gauges: incremented and decremented, read modulo 2^64. */
	CAPYMIG_SW_CNT_MIG_ENTRIES,	/* migration entries in use */
	CAPYMIG_SW_CNT_PLACE_ENTRIES,	/* placement entries in use */

	__CAPYMIG_SW_CNT_MAX,
};

/*
 * Records shared with the BPF programs (bpf/).
 */

/**
 * struct capymig_conn - what the server monitor keeps per connection
 * @cookie: the socket's cookie (SO_COOKIE), unique for the boot.
 * @established_ns: CLOCK_MONOTONIC time the connection was established
 *	(or imported) here.
 * @updated_ns: when the fields below were last brought up to date.
 * @segs_in: TCP segments received, since the connection was recorded
 *	here; 64 bits, though the kernel counts in 32 and wraps.
 * @segs_out: TCP segments sent, alike.
 * @bytes_received: payload bytes received (in sequence).
 * @bytes_acked: payload bytes sent and acknowledged.
 * @app_bytes_sent: bytes the application wrote (the sk_msg program).
 * @rqlen: bytes received and not yet read, when last seen.
 * @tqlen: bytes written and not yet acknowledged, when last seen.
 * @srtt_us: smoothed round-trip time, microseconds.
 * @read_seq: the request boundary: copied_seq when the application last
 *	wrote (see %TCPMIG_A_READ_SEQ); valid when @flags has
 *	%CAPYMIG_CONN_F_READ_SEQ.
 * @flags: CAPYMIG_CONN_F_*.
 *
 * Packets per second are the difference of @segs_in + @segs_out between
 * two readings, over the time between their @updated_ns.
 */
struct capymig_conn {
	__u64	cookie;
	__u64	established_ns;
	__u64	updated_ns;
	__u64	segs_in;
	__u64	segs_out;
	__u64	bytes_received;
	__u64	bytes_acked;
	__u64	app_bytes_sent;
	__u32	rqlen;
	__u32	tqlen;
	__u32	srtt_us;
	__u32	read_seq;
	__u32	flags;
	__u32	pad;
};

#define CAPYMIG_CONN_F_READ_SEQ		(1U << 0)	/* @read_seq is valid */
#define CAPYMIG_CONN_F_IMPORTED		(1U << 1)	/* migrated here */

/**
 * struct capymig_monitor_totals - the server monitor's counters of the
 *	whole server, one copy per CPU: a reader adds the copies up, modulo
 *	2^64 (a gauge may go down on another CPU than it went up on)
 * @conns: connections tracked now (a gauge).
 * @accepted: connections recorded when the server accepted them.
 * @imported: connections recorded when they migrated in.
 * @forgotten: connections that closed or migrated out.
 * @app_writes: writes (sendmsg, sendfile) of the application.
 * @app_bytes_sent: bytes the application wrote.
 */
struct capymig_monitor_totals {
	__u64	conns;
	__u64	accepted;
	__u64	imported;
	__u64	forgotten;
	__u64	app_writes;
	__u64	app_bytes_sent;
};

/*
 * The kernel module runs the sockops programs of an imported socket's
 * cgroup with BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB and this in args[0]
 * (the kernel's own call leaves args zero): the connection migrated in.
 */
#define CAPYMIG_SOCKOPS_IMPORTED	0x43504d47	/* "CPMG" */

#endif /* _UAPI_LINUX_CAPYMIG_H */
