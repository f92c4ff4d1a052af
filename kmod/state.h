/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A connection's state between export and import.  The fixed records are
 * kept exactly as they travel (big-endian, include/uapi/linux/capymig.h),
 * so encoding is a copy and a decoded blob is validated in one place.
 */
#ifndef _CAPYMIG_STATE_H
#define _CAPYMIG_STATE_H

#include <linux/types.h>
#include <linux/capymig.h>

/**
 * struct capymig_state - one connection's exported state
 * @tuple: the connection as the origin served it.
 * @seq, @window, @options, @rtt, @congestion, @sockopts: the fixed records.
 * @rcvq: bytes received and not yet read (@rcvq_len of them).
 * @sndq: bytes written and not yet acknowledged (@sndq_len).
 * @app: opaque application state (@app_len), carried unread.
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
	const u8 *rcvq;
	u32 rcvq_len;
	const u8 *sndq;
	u32 sndq_len;
	const u8 *app;
	u32 app_len;
};

/* A blob in memory: kvmalloc'ed, @len bytes. */
struct capymig_blob {
	u8 *data;
	u32 len;
};

/*
 * Encoding: capymig_state_blob_alloc() sizes a blob for @st's fixed
 * records and queues of the given lengths and writes the records, leaving
 * the queue bytes to the caller at *@rcvq and *@sndq.
 */
int capymig_state_blob_alloc(const struct capymig_state *st,
			     struct capymig_blob *blob, u8 **rcvq, u8 **sndq);
void capymig_blob_free(struct capymig_blob *blob);

/*
 * Decoding: checks @blob record by record and fills @st, whose queue
 * pointers then point into @blob.  On error, @msg says what is wrong.
 */
int capymig_state_decode(const struct capymig_blob *blob,
			 struct capymig_state *st, const char **msg);

/* The tuple's addresses are valid for its family (shared with netlink). */
bool capymig_tuple_valid(const struct capymig_tuple *t);

#endif /* _CAPYMIG_STATE_H */
