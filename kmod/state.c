// SPDX-License-Identifier: GPL-2.0
/*
 * The state blob: encoding and validated decoding.
 *
 * Decoding trusts nothing: a blob may come from another host, another
 * kernel version or a fuzzer.  Every length is checked before it is used,
 * every field is range-checked against what the kernel could have
 * produced, and any inconsistency refuses the whole blob with a reason.
 */
#include <linux/in.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/inet_ecn.h>
#include <net/ipv6.h>
#include <net/tcp.h>

#include "state.h"

/* The fixed-size records and where they live in struct capymig_state. */
static const struct {
	u16 type;
	u16 size;
	size_t offset;
} fixed_records[] = {
#define FIXED(t, field) \
	{ t, sizeof_field(struct capymig_state, field), \
	  offsetof(struct capymig_state, field) }
	FIXED(TCPMIG_ST_TUPLE, tuple),
	FIXED(TCPMIG_ST_SEQ, seq),
	FIXED(TCPMIG_ST_WINDOW, window),
	FIXED(TCPMIG_ST_OPTIONS, options),
	FIXED(TCPMIG_ST_RTT, rtt),
	FIXED(TCPMIG_ST_CONGESTION, congestion),
	FIXED(TCPMIG_ST_SOCKOPTS, sockopts),
#undef FIXED
};

static u64 rec_size(u32 len)
{
	return sizeof(struct tcpmig_state_rec) +
	       ALIGN((u64)len, TCPMIG_STATE_ALIGN);
}

void capymig_blob_seek(const struct capymig_blob_out *out, u32 off,
		       struct iov_iter *it)
{
	*it = out->to;
	iov_iter_advance(it, off);
}

static int blob_write(const struct capymig_blob_out *out, u32 off,
		      const void *src, u32 len)
{
	struct iov_iter it;

	capymig_blob_seek(out, off, &it);
	return copy_to_iter(src, len, &it) == len ? 0 : -EFAULT;
}

/*
 * Writes one record at offset *@pos and advances it past the record; its
 * value is copied from @value if given, else left to the caller at *@val.
 */
static int put_rec(const struct capymig_blob_out *out, u32 *pos, u16 type,
		   const void *value, u32 len, u32 *val)
{
	static const u8 zero[TCPMIG_STATE_ALIGN];
	struct tcpmig_state_rec rec = {
		.type = htons(type),
		.len = htonl(len),
	};
	u32 at = *pos + sizeof(rec);

	*pos = at + ALIGN(len, TCPMIG_STATE_ALIGN);
	if (val)
		*val = at;
	return blob_write(out, at - sizeof(rec), &rec, sizeof(rec)) ?:
	       (value ? blob_write(out, at, value, len) : 0) ?:
	       blob_write(out, at + len, zero, *pos - at - len);
}

u64 capymig_state_blob_size(const struct capymig_state *st)
{
	u64 total = sizeof(struct tcpmig_state_hdr);
	int i;

	for (i = 0; i < ARRAY_SIZE(fixed_records); i++)
		total += rec_size(fixed_records[i].size);
	return total + rec_size(st->rcvq.len) + rec_size(st->sndq.len);
}

int capymig_state_encode(const struct capymig_state *st,
			 const struct capymig_blob_out *out, u32 *rcvq,
			 u32 *sndq)
{
	struct tcpmig_state_hdr hdr = {
		.magic = htonl(TCPMIG_STATE_MAGIC),
		.version = TCPMIG_STATE_VERSION,
		.hdr_len = htons(sizeof(hdr)),
		.total_len = htonl(capymig_state_blob_size(st)),
	};
	u32 pos = sizeof(hdr);
	int i, err;

	err = blob_write(out, 0, &hdr, sizeof(hdr));
	for (i = 0; !err && i < ARRAY_SIZE(fixed_records); i++)
		err = put_rec(out, &pos, fixed_records[i].type,
			      (const u8 *)st + fixed_records[i].offset,
			      fixed_records[i].size, NULL);
	return err ?:
	       put_rec(out, &pos, TCPMIG_ST_RECV_QUEUE, NULL, st->rcvq.len,
		       rcvq) ?:
	       put_rec(out, &pos, TCPMIG_ST_SEND_QUEUE, NULL, st->sndq.len,
		       sndq);
}

void capymig_blob_free(struct capymig_blob *blob)
{
	kvfree(blob->data);
	blob->data = NULL;
	blob->len = 0;
}

/* An address a TCP connection may have at either end. */
static bool unicast_in(__be32 addr)
{
	return addr && !ipv4_is_multicast(addr) && !ipv4_is_lbcast(addr);
}

/*
 * The same for IPv6; not v4-mapped either: a dual-stack socket's IPv4
 * connection is named AF_INET (capymig_tuple_from_sock()), as the hold
 * hook names its packets, so a v4-mapped tuple would be held apart.
 */
static bool unicast_in6(const __be32 *addr)
{
	const struct in6_addr *a = (const struct in6_addr *)addr;

	return !ipv6_addr_any(a) && !ipv6_addr_is_multicast(a) &&
	       !ipv6_addr_v4mapped(a);
}

bool capymig_tuple_valid(const struct capymig_tuple *t)
{
	if (t->pad[0] || t->pad[1] || t->pad[2] ||
	    !t->local_port || !t->remote_port)
		return false;
	switch (t->family) {
	case AF_INET:
		return !(t->local_addr[1] | t->local_addr[2] |
			 t->local_addr[3] | t->remote_addr[1] |
			 t->remote_addr[2] | t->remote_addr[3]) &&
		       unicast_in(t->local_addr[0]) &&
		       unicast_in(t->remote_addr[0]);
	case AF_INET6:
		return IS_ENABLED(CONFIG_IPV6) && unicast_in6(t->local_addr) &&
		       unicast_in6(t->remote_addr);
	default:
		return false;
	}
}

static const struct {
	u8 kernel;		/* in tcp_sock.ecn_flags */
	u32 opt;		/* in tcpmig_st_options.flags */
} ecn_flags[] = {
	{ TCP_ECN_OK, TCPMIG_OPT_ECN },
	{ TCP_ECN_SEEN, TCPMIG_OPT_ECN_SEEN },
	{ TCP_ECN_QUEUE_CWR, TCPMIG_OPT_ECN_QUEUE_CWR },
	{ TCP_ECN_DEMAND_CWR, TCPMIG_OPT_ECN_DEMAND_CWR },
};

u32 capymig_ecn_to_opts(u8 ecn)
{
	u32 opts = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ecn_flags); i++)
		if (ecn & ecn_flags[i].kernel)
			opts |= ecn_flags[i].opt;
	return opts;
}

u8 capymig_ecn_from_opts(u32 opts)
{
	u8 ecn = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ecn_flags); i++)
		if (opts & ecn_flags[i].opt)
			ecn |= ecn_flags[i].kernel;
	return ecn;
}

/* Field-by-field checks of the decoded records; NULL when all is well. */
static const char *check_seq(const struct capymig_state *st)
{
	const struct tcpmig_st_seq *s = &st->seq;

	if (ntohl(s->copied_seq) + st->rcvq.len != ntohl(s->rcv_nxt))
		return "receive queue does not span copied_seq..rcv_nxt";
	if (ntohl(s->snd_una) + st->sndq.len != ntohl(s->write_seq))
		return "send queue does not span snd_una..write_seq";
	if (ntohl(s->snd_nxt) - ntohl(s->snd_una) > st->sndq.len)
		return "snd_nxt outside the send queue";
	if (after(ntohl(s->rcv_wup), ntohl(s->rcv_nxt)))
		return "rcv_wup after rcv_nxt";
	return NULL;
}

static const char *check_window(const struct capymig_state *st)
{
	const struct tcpmig_st_window *w = &st->window;
	const u32 max_wnd = 65535U << TCP_MAX_WSCALE;

	if (ntohl(w->snd_wnd) > max_wnd || ntohl(w->max_window) > max_wnd ||
	    ntohl(w->rcv_wnd) > max_wnd || ntohl(w->window_clamp) > max_wnd ||
	    ntohl(w->rcv_ssthresh) > max_wnd)
		return "window larger than TCP can scale";
	if (after(ntohl(st->seq.snd_wl1),
		  ntohl(st->seq.rcv_nxt) + ntohl(w->rcv_wnd)))
		return "snd_wl1 beyond the receive window";
	/* Offered or taken beyond what the shifts can say on the wire. */
	if (ntohl(w->rcv_wnd) > 65535U << st->options.rcv_wscale ||
	    ntohl(w->snd_wnd) > 65535U << st->options.snd_wscale ||
	    ntohl(w->max_window) > 65535U << st->options.snd_wscale)
		return "window larger than its scale allows";
	/* __tcp_select_window() would offer nothing, ever. */
	if (!w->window_clamp)
		return "window clamp zero: the receive window would stay shut";
	return NULL;
}

static const char *check_options(const struct capymig_state *st)
{
	const struct tcpmig_st_options *o = &st->options;
	u32 flags = ntohl(o->flags);

	if (flags & ~TCPMIG_OPT_ALL)
		return "unknown TCP option flags";
	if (o->snd_wscale > TCP_MAX_WSCALE || o->rcv_wscale > TCP_MAX_WSCALE)
		return "window scale above 14";
	if (!(flags & TCPMIG_OPT_WSCALE) && (o->snd_wscale || o->rcv_wscale))
		return "window scale without the option";
	if (ntohs(o->mss_clamp) < TCP_MIN_MSS || ntohs(o->advmss) < TCP_MIN_MSS)
		return "MSS below the minimum";
	if (o->user_mss && ntohs(o->user_mss) < TCP_MIN_MSS)
		return "TCP_MAXSEG below the minimum";
	if (ntohs(o->rcv_mss) < TCP_MIN_MSS || o->pad)
		return "receive MSS estimate below the minimum";
	if (!(flags & TCPMIG_OPT_TIMESTAMP) &&
	    (o->ts_val || o->ts_recent || (flags & TCPMIG_OPT_TS_USEC)))
		return "timestamps without the option";
	if (!(flags & TCPMIG_OPT_ECN) && (flags & TCPMIG_OPT_ECN_STATE))
		return "ECN state without ECN";
	/* As tcp_measure_rcv_mss() bounds it. */
	if (ntohs(o->rcv_mss) > ntohs(o->advmss))
		return "receive MSS estimate above our MSS";
	return NULL;
}

static const char *check_rtt(const struct capymig_state *st)
{
	const struct tcpmig_st_rtt *r = &st->rtt;
	const u32 max_us = jiffies_to_usecs(TCP_RTO_MAX);

	if (!r->rto_us || ntohl(r->rto_us) > max_us)
		return "RTO out of range";
	if ((ntohl(r->srtt_us) >> 3) > max_us || (ntohl(r->mdev_us) >> 2) > max_us ||
	    (ntohl(r->mdev_max_us) >> 2) > max_us ||
	    (ntohl(r->rttvar_us) >> 2) > max_us)
		return "RTT estimate out of range";
	return NULL;
}

/*
 * A congestion window no connection reaches: 2^20 segments in flight,
 * more than a gigabyte.  Beyond it, congestion control's own arithmetic
 * (BBR adds what an ACK acknowledged to it) could overflow the int the
 * kernel keeps it in.
 */
#define CAPYMIG_CWND_MAX	(1U << 20)

static const char *check_congestion(const struct capymig_state *st)
{
	const struct tcpmig_st_congestion *c = &st->congestion;
	size_t len = strnlen(c->ca_name, sizeof(c->ca_name));
	size_t i;

	if (!c->cwnd || ntohl(c->cwnd) > CAPYMIG_CWND_MAX || !c->ssthresh ||
	    ntohl(c->ssthresh) > TCP_INFINITE_SSTHRESH)
		return "congestion window out of range";
	if (!len || len == sizeof(c->ca_name))
		return "congestion control name not terminated";
	for (i = 0; i < len; i++)
		if (!isalnum(c->ca_name[i]) && c->ca_name[i] != '_')
			return "congestion control name malformed";
	for (; i < sizeof(c->ca_name); i++)
		if (c->ca_name[i])
			return "congestion control name not NUL-padded";
	return NULL;
}

static const char *check_sockopts(const struct capymig_state *st)
{
	const struct tcpmig_st_sockopts *s = &st->sockopts;

	if (ntohl(s->flags) & ~TCPMIG_SOCKOPT_ALL)
		return "unknown socket option flags";
	if (!s->keepidle_s || ntohl(s->keepidle_s) > MAX_TCP_KEEPIDLE ||
	    !s->keepintvl_s || ntohl(s->keepintvl_s) > MAX_TCP_KEEPINTVL ||
	    !s->keepcnt || ntohl(s->keepcnt) > MAX_TCP_KEEPCNT)
		return "keepalive settings out of range";
	if (ntohl(s->user_timeout_ms) > INT_MAX ||
	    ntohl(s->priority) > INT_MAX || ntohl(s->linger_s) > INT_MAX ||
	    ntohl(s->notsent_lowat) > INT_MAX)
		return "socket option out of range";
	if (ntohl(s->sndbuf) < SOCK_MIN_SNDBUF || ntohl(s->sndbuf) > INT_MAX / 2 ||
	    ntohl(s->rcvbuf) < SOCK_MIN_RCVBUF || ntohl(s->rcvbuf) > INT_MAX / 2)
		return "socket buffer size out of range";
	if (s->pad[0] || s->pad[1] || s->pad[2])
		return "nonzero padding in socket options";
	if (s->tos & INET_ECN_MASK)
		return "ECN bits in the TOS (ECN is an option's)";
	return NULL;
}

/* The options before the windows, whose checks shift by their scales. */
static const char *(*const checks[])(const struct capymig_state *) = {
	check_seq, check_options, check_window, check_rtt, check_congestion,
	check_sockopts,
};

/* Reads a blob where it lies, in order. */
struct blob_reader {
	struct iov_iter it;	/* at the next byte; its count: bytes left */
	bool fault;		/* the requester's memory was unreadable */
};

/*
 * Takes the next @len bytes: copies them to @dst if given, and says where
 * they lie in @where if given.  False if the blob ends before, or cannot
 * be read.
 */
static bool reader_take(struct blob_reader *r, void *dst, u32 len,
			struct capymig_bytes *where)
{
	if (len > iov_iter_count(&r->it))
		return false;
	if (where)
		*where = (struct capymig_bytes) { .from = r->it, .len = len };
	if (!dst) {
		iov_iter_advance(&r->it, len);
		return true;
	}
	if (copy_from_iter(dst, len, &r->it) == len)
		return true;
	r->fault = true;
	return false;
}

/* Stores one record's value in @st; returns a reason when it cannot. */
static const char *take_rec(struct capymig_state *st, u16 type,
			    struct blob_reader *r, u32 len, u32 *seen)
{
	struct capymig_bytes *bytes;
	u32 bit;
	int i;

	for (i = 0; i < ARRAY_SIZE(fixed_records); i++) {
		if (fixed_records[i].type != type)
			continue;
		if (len != fixed_records[i].size)
			return "record has the wrong size";
		if (*seen & BIT(i))
			return "record repeated";
		*seen |= BIT(i);
		reader_take(r, (u8 *)st + fixed_records[i].offset, len, NULL);
		return NULL;
	}
	/* The variable records' bits follow the fixed records'. */
	bit = BIT(ARRAY_SIZE(fixed_records));
	switch (type) {
	case TCPMIG_ST_RECV_QUEUE:
		bytes = &st->rcvq;
		break;
	case TCPMIG_ST_SEND_QUEUE:
		bytes = &st->sndq;
		bit <<= 1;
		break;
	case TCPMIG_ST_APP:
		bytes = &st->app;
		bit <<= 2;
		break;
	default:
		if (!(type & TCPMIG_ST_OPTIONAL))
			return "unknown mandatory record";
		reader_take(r, NULL, len, NULL);
		return NULL;
	}
	if (*seen & bit)
		return "record repeated";
	*seen |= bit;
	reader_take(r, NULL, len, bytes);
	return NULL;
}

static const char *decode_records(struct blob_reader *r,
				  struct capymig_state *st)
{
	const u32 mandatory = BIT(ARRAY_SIZE(fixed_records)) - 1;
	u32 seen = 0;

	while (iov_iter_count(&r->it)) {
		struct tcpmig_state_rec rec;
		struct blob_reader ahead;
		u8 pad[TCPMIG_STATE_ALIGN];
		const char *why;
		u32 len, padded;

		if (!reader_take(r, &rec, sizeof(rec), NULL))
			return "truncated record header";
		len = ntohl(rec.len);
		if (len > iov_iter_count(&r->it))
			return "record overruns the blob";
		padded = ALIGN(len, TCPMIG_STATE_ALIGN);
		ahead = *r;
		if (padded > iov_iter_count(&r->it) ||
		    !reader_take(&ahead, NULL, len, NULL) ||
		    !reader_take(&ahead, pad, padded - len, NULL) ||
		    memchr_inv(pad, 0, padded - len)) {
			r->fault = ahead.fault;
			return "record padding missing or nonzero";
		}
		if (rec.reserved)
			return "reserved record field set";
		why = take_rec(st, ntohs(rec.type), r, len, &seen);
		if (why)
			return why;
		reader_take(r, NULL, padded - len, NULL);
	}
	if ((seen & mandatory) != mandatory)
		return "mandatory record missing";
	return NULL;
}

const char *capymig_state_check(const struct capymig_state *st)
{
	const char *msg = NULL;
	unsigned int i;

	if (!capymig_tuple_valid(&st->tuple))
		return "invalid connection tuple";
	for (i = 0; !msg && i < ARRAY_SIZE(checks); i++)
		msg = checks[i](st);
	return msg;
}

int capymig_state_decode_iter(const struct iov_iter *from,
			      struct capymig_state *st, const char **msg)
{
	struct blob_reader r = { .it = *from };
	size_t size = iov_iter_count(from);
	struct tcpmig_state_hdr hdr;

	memset(st, 0, sizeof(*st));
	*msg = NULL;
	if (size < sizeof(hdr) || size > TCPMIG_STATE_MAX)
		*msg = "blob size out of range";
	else if (!reader_take(&r, &hdr, sizeof(hdr), NULL) ||
		 ntohl(hdr.magic) != TCPMIG_STATE_MAGIC)
		*msg = "not a capymig state blob";
	else if (hdr.version != TCPMIG_STATE_VERSION)
		*msg = "unsupported state format version";
	else if (hdr.flags || hdr.reserved)
		*msg = "unknown header flags";
	else if (ntohl(hdr.total_len) != size)
		*msg = "blob length does not match its header";
	else if (ntohs(hdr.hdr_len) != sizeof(hdr))
		*msg = "unexpected header length";
	else
		*msg = decode_records(&r, st);
	if (r.fault) {
		*msg = "state buffer not readable";
		return -EFAULT;
	}
	if (!*msg)
		*msg = capymig_state_check(st);
	return *msg ? -EINVAL : 0;
}

int capymig_state_decode(const struct capymig_blob *blob,
			 struct capymig_state *st, const char **msg)
{
	struct kvec whole = { .iov_base = blob->data, .iov_len = blob->len };
	struct iov_iter from;
	int err;

	iov_iter_kvec(&from, ITER_SOURCE, &whole, 1, blob->len);
	err = capymig_state_decode_iter(&from, st, msg);
	/*
	 * The queues' iterators point at this frame's piece: at the state's
	 * copy of it, which lives as long as they do.  An empty queue's too,
	 * which is never read.
	 */
	st->whole = whole;
	st->rcvq.from.kvec = &st->whole;
	st->sndq.from.kvec = &st->whole;
	st->app.from.kvec = &st->whole;
	return err;
}
