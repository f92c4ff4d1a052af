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
 * struct capymig_bytes - bytes of a blob, which may span several pieces
 * @vec: the piece they start in.
 * @nvec: pieces from @vec to the blob's end.
 * @off: where in @vec they start.
 * @len: how many.
 *
 * A blob that reached the kernel in several netlink attributes is decoded
 * where it lies, piece by piece: queues are sent on from there.
 */
struct capymig_bytes {
	const struct kvec *vec;
	unsigned int nvec;
	size_t off;
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
 * Decoding: checks the blob in the @nvec pieces at @vec, record by record,
 * and fills @st, whose queues then point into those pieces.  On error, @msg
 * says what is wrong.  capymig_state_decode() does it for a contiguous
 * blob, which must outlive @st.
 */
int capymig_state_decode_vec(const struct kvec *vec, unsigned int nvec,
			     struct capymig_state *st, const char **msg);
int capymig_state_decode(const struct capymig_blob *blob,
			 struct capymig_state *st, const char **msg);

/* The tuple's addresses are valid for its family (shared with netlink). */
bool capymig_tuple_valid(const struct capymig_tuple *t);

#endif /* _CAPYMIG_STATE_H */
