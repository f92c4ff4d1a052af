/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A connection's state between export and import.  The fixed records are
 * kept exactly as they travel (big-endian, include/uapi/linux/capymig.h),
 * so encoding is a copy and a decoded blob is validated in one place.
 */
#ifndef _CAPYMIG_STATE_H
#define _CAPYMIG_STATE_H

#include <linux/types.h>
#include <linux/uio.h>
#include <linux/capymig.h>

/**
 * struct capymig_bytes - bytes of a blob, where the blob lies
 * @from: at their first byte: kernel memory, in one piece or in the
 *	chunks of a netlink message, or the requester's memory.
 * @len: how many.
 *
 * A blob is decoded where it lies: queues are sent on from there.
 */
struct capymig_bytes {
	struct iov_iter from;
	u32 len;
};

/**
 * struct capymig_state - one connection's exported state
 * @tuple: the connection as the origin served it.
 * @seq, @window, @options, @rtt, @congestion, @sockopts: the fixed records.
 * @rcvq: bytes received and not yet read.
 * @sndq: bytes written and not yet acknowledged.
 * @app: opaque application state, carried unread.
 * @whole: the one piece of a contiguous blob being decoded.
 *
 * The queues point into the blob the state was decoded from, or are
 * filled straight into the blob being encoded: never copied twice.
 * Bytes in the requester's memory are read where the requester runs.
 */
struct capymig_state {
	struct capymig_tuple tuple;
	struct tcpmig_st_seq seq;
	struct tcpmig_st_window window;
	struct tcpmig_st_options options;
	struct tcpmig_st_rtt rtt;
	struct tcpmig_st_congestion congestion;
	struct tcpmig_st_sockopts sockopts;
	struct capymig_bytes rcvq;
	struct capymig_bytes sndq;
	struct capymig_bytes app;
	struct kvec whole;
};

/* A blob in memory: kvmalloc'ed, @len bytes. */
struct capymig_blob {
	u8 *data;
	u32 len;
};

/**
 * struct capymig_blob_out - where a blob being encoded goes
 * @to: at its first byte: kernel memory, in one piece or in the chunks
 *	of a netlink message, or the requester's memory.
 */
struct capymig_blob_out {
	struct iov_iter to;
};

/* @out's @to, advanced to the blob's offset @off, in @it. */
void capymig_blob_seek(const struct capymig_blob_out *out, u32 off,
		       struct iov_iter *it);

/*
 * Encoding: capymig_state_blob_size() is the size of the blob of @st's
 * fixed records and queues of @st->rcvq.len and @st->sndq.len bytes;
 * capymig_state_encode() writes its header and records to @out, leaving
 * the queues' bytes to the caller at offsets *@rcvq and *@sndq; -EFAULT
 * if @out is the requester's memory and it cannot be written.
 */
u64 capymig_state_blob_size(const struct capymig_state *st);
int capymig_state_encode(const struct capymig_state *st,
			 const struct capymig_blob_out *out, u32 *rcvq,
			 u32 *sndq);
void capymig_blob_free(struct capymig_blob *blob);

/*
 * Decoding: checks the blob at @from, record by record, and fills @st,
 * whose queues then point into the blob, which must outlive @st.  On
 * error, @msg says what is wrong; -EFAULT if the blob is in the
 * requester's memory and cannot be read.  capymig_state_decode() does it
 * for a blob in memory of its own.
 */
int capymig_state_decode_iter(const struct iov_iter *from,
			      struct capymig_state *st, const char **msg);
int capymig_state_decode(const struct capymig_blob *blob,
			 struct capymig_state *st, const char **msg);

/*
 * What decoding checks of a state beyond its encoding: NULL if an import
 * would take it, else why not.  The export asks it of the state it took,
 * before the connection leaves its socket: a connection no import would
 * take is refused there, and stays.
 */
const char *capymig_state_check(const struct capymig_state *st);

/* The tuple's addresses are valid for its family (shared with netlink). */
bool capymig_tuple_valid(const struct capymig_tuple *t);

/* A socket's ECN state (tcp_sock.ecn_flags) as TCPMIG_OPT_ECN* flags. */
u32 capymig_ecn_to_opts(u8 ecn_flags);
/* And back: the ecn_flags of TCPMIG_OPT_* @opts. */
u8 capymig_ecn_from_opts(u32 opts);

#endif /* _CAPYMIG_STATE_H */
