// SPDX-License-Identifier: GPL-2.0
/*
 * The "tcpmig" generic netlink family: capymig's control interface.
 *
 * The family is usable inside any network namespace (netnsok) and every
 * operation demands CAP_NET_ADMIN over that namespace (GENL_UNS_ADMIN_PERM),
 * so a container may manage its own connections and nobody else's.  Each
 * command has its own policy: an attribute it does not take, or a value
 * out of range, is refused with an extack message before a handler runs.
 */
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/ktime.h>
#include <net/genetlink.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "capymig.h"
#include "compat.h"
#include "conn.h"
#include "hold.h"
#include "peer.h"
#include "protocol.h"
#include "state.h"

static struct genl_family tcpmig_family;

enum tcpmig_mcgrp {
	TCPMIG_MCGRP_EVENTS_ID,
	TCPMIG_MCGRP_LOAD_ID,
};

static const struct genl_multicast_group tcpmig_mcgrps[] = {
	[TCPMIG_MCGRP_EVENTS_ID] = { .name = TCPMIG_MCGRP_EVENTS,
				     .flags = GENL_MCAST_CAP_NET_ADMIN },
	[TCPMIG_MCGRP_LOAD_ID] = { .name = TCPMIG_MCGRP_LOAD,
				   .flags = GENL_MCAST_CAP_NET_ADMIN },
};

/* Cleared before the family goes away, so late events are not sent. */
static bool events_on;

#define TUPLE_POLICY NLA_POLICY_EXACT_LEN(sizeof(struct capymig_tuple))

static const struct nla_policy info_policy[TCPMIG_A_MAX + 1] = {};

static const struct nla_policy list_policy[TCPMIG_A_MAX + 1] = {
	[TCPMIG_A_LOCAL_PORT] = NLA_POLICY_MIN(NLA_U16, 1),
};

static const struct nla_policy export_policy[TCPMIG_A_MAX + 1] = {
	[TCPMIG_A_TUPLE] = TUPLE_POLICY,
	[TCPMIG_A_COOKIE] = NLA_POLICY_MIN(NLA_U64, 1),
	[TCPMIG_A_STATE_BUF] = { .type = NLA_U64 },
	[TCPMIG_A_STATE_LEN] = { .type = NLA_U32 },
};

static const struct nla_policy import_policy[TCPMIG_A_MAX + 1] = {
	[TCPMIG_A_TUPLE] = TUPLE_POLICY,
	[TCPMIG_A_STATE_CHUNK] = { .type = NLA_BINARY,
				   .len = TCPMIG_STATE_CHUNK_MAX },
	[TCPMIG_A_IMPORT_FLAGS] = NLA_POLICY_MASK(NLA_U32, TCPMIG_IMPORT_F_ALL),
	[TCPMIG_A_LISTENER_COOKIE] = NLA_POLICY_MIN(NLA_U64, 1),
	[TCPMIG_A_STATE_BUF] = { .type = NLA_U64 },
	[TCPMIG_A_STATE_LEN] = { .type = NLA_U32 },
};

/*
 * Bounds past S16_MAX need a range by pointer: NLA_POLICY_RANGE's are
 * 16-bit, and 6.1 warns at a negative one.
 */
static struct netlink_range_validation hold_timeout_range = {
	.min = 1, .max = 60000,
};
static struct netlink_range_validation timeout_range = {
	.min = 10, .max = 60000,
};
static struct netlink_range_validation heartbeat_range = {
	.max = 60000,
};

static const struct nla_policy hold_policy[TCPMIG_A_MAX + 1] = {
	[TCPMIG_A_TUPLE] = TUPLE_POLICY,
	[TCPMIG_A_TIMEOUT_MS] = NLA_POLICY_FULL_RANGE(NLA_U32,
						      &hold_timeout_range),
};

#define ENDPOINT_POLICY NLA_POLICY_EXACT_LEN(sizeof(struct tcpmig_endpoint))

static const struct nla_policy set_config_policy[TCPMIG_A_MAX + 1] = {
	[TCPMIG_A_UDP_PORT] = NLA_POLICY_MIN(NLA_U16, 1),
	[TCPMIG_A_SWITCH] = ENDPOINT_POLICY,
	[TCPMIG_A_TIMEOUT_MS] = NLA_POLICY_FULL_RANGE(NLA_U32, &timeout_range),
	[TCPMIG_A_HEARTBEAT_MS] = NLA_POLICY_FULL_RANGE(NLA_U32,
							&heartbeat_range),
	[TCPMIG_A_WEIGHT] = NLA_POLICY_RANGE(NLA_U32, 1, 1000),
	[TCPMIG_A_CONFIG_FLAGS] = NLA_POLICY_MASK(NLA_U32, TCPMIG_CONFIG_F_ALL),
};

static const struct nla_policy pool_policy[TCPMIG_A_MAX + 1] = {
	[TCPMIG_A_PEER] = ENDPOINT_POLICY,
};

static const struct nla_policy migrate_policy[TCPMIG_A_MAX + 1] = {
	[TCPMIG_A_TUPLE] = TUPLE_POLICY,
	[TCPMIG_A_COOKIE] = NLA_POLICY_MIN(NLA_U64, 1),
	[TCPMIG_A_TARGET] = ENDPOINT_POLICY,
	[TCPMIG_A_READ_SEQ] = { .type = NLA_U32 },
};

static int put_tuple(struct sk_buff *msg, int type,
		     const struct capymig_tuple *t)
{
	return nla_put(msg, type, sizeof(*t), t);
}

/* A tuple attribute, checked beyond its length. */
static const struct capymig_tuple *get_tuple(struct genl_info *info,
					     struct nlattr **attrs)
{
	const struct capymig_tuple *t;

	if (!attrs[TCPMIG_A_TUPLE])
		return NULL;
	t = nla_data(attrs[TCPMIG_A_TUPLE]);
	if (!capymig_tuple_valid(t)) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[TCPMIG_A_TUPLE],
				    "invalid tuple: family, addresses or ports");
		return ERR_PTR(-EINVAL);
	}
	return t;
}

static int put_load(struct sk_buff *msg, const struct tcpmig_msg_load *load)
{
	return nla_put_u64_64bit(msg, TCPMIG_A_SERVER_PPS,
				 be64_to_cpu(load->server_pps), TCPMIG_A_PAD) ||
	       nla_put_u64_64bit(msg, TCPMIG_A_POOL_PPS,
				 be64_to_cpu(load->pool_pps), TCPMIG_A_PAD) ||
	       nla_put_u32(msg, TCPMIG_A_POOL_SERVERS, ntohl(load->servers)) ||
	       nla_put_u64_64bit(msg, TCPMIG_A_TARGET_PPS,
				 be64_to_cpu(load->target_pps), TCPMIG_A_PAD);
}

/* The attributes of the longest event: all that any event may carry. */
#define EVENT_ATTRS_MAX	(nla_total_size(sizeof(u32)) +	/* EVENT */	\
			 nla_total_size(sizeof(struct capymig_tuple)) +	\
			 nla_total_size_64bit(sizeof(u64)) +	/* TIMESTAMP */	\
			 3 * nla_total_size(sizeof(u32)) +	/* ERROR... */	\
			 nla_total_size(sizeof(struct tcpmig_endpoint)) +	\
			 3 * nla_total_size_64bit(sizeof(u64)) + /* the load */	\
			 nla_total_size(sizeof(u32)))	/* POOL_SERVERS */

/*
 * Sent at once, from where the event happens: a listener that waits for a
 * migration's outcome (an application cooperating with it) must have it
 * before anything that follows from it, such as the connection coming
 * back.  Sized to fit: a message of NLMSG_GOODSIZE would be copied
 * smaller on its way (netlink_trim()).
 */
void capymig_genl_notify(struct net *net, const struct capymig_event *ev)
{
	unsigned int group = ev->type == TCPMIG_EVENT_LOAD ?
			     TCPMIG_MCGRP_LOAD_ID : TCPMIG_MCGRP_EVENTS_ID;
	struct sk_buff *msg;
	void *hdr;

	rcu_read_lock();
	if (!READ_ONCE(events_on) ||
	    !genl_has_listeners(&tcpmig_family, net, group))
		goto out;

	msg = genlmsg_new(EVENT_ATTRS_MAX, GFP_ATOMIC);
	if (!msg)
		goto out;
	hdr = genlmsg_put(msg, 0, 0, &tcpmig_family, 0, TCPMIG_CMD_EVENT);
	if (!hdr ||
	    nla_put_u32(msg, TCPMIG_A_EVENT, ev->type) ||
	    (ev->tuple && put_tuple(msg, TCPMIG_A_TUPLE, ev->tuple)) ||
	    nla_put_u64_64bit(msg, TCPMIG_A_TIMESTAMP_NS, ktime_get_ns(),
			      TCPMIG_A_PAD) ||
	    (ev->error && nla_put_u32(msg, TCPMIG_A_ERROR, -ev->error)) ||
	    (ev->state_len &&
	     nla_put_u32(msg, TCPMIG_A_STATE_LEN, ev->state_len)) ||
	    (ev->migration_id &&
	     nla_put_u32(msg, TCPMIG_A_MIGRATION_ID, ev->migration_id)) ||
	    (ev->target && nla_put(msg, TCPMIG_A_TARGET, sizeof(*ev->target),
				   ev->target)) ||
	    (ev->load && put_load(msg, ev->load))) {
		WARN_ON_ONCE(1);	/* EVENT_ATTRS_MAX is too short */
		nlmsg_free(msg);
		goto out;
	}
	genlmsg_end(msg, hdr);
	genlmsg_multicast_netns(&tcpmig_family, net, msg, 0, group, GFP_ATOMIC);
out:
	rcu_read_unlock();
}

/* Events of the EXPORT and IMPORT commands. */
static void notify_conn(struct net *net, enum tcpmig_event type,
			const struct capymig_tuple *t, int error,
			u32 state_len)
{
	struct capymig_event ev = {
		.type = type, .tuple = t, .error = error,
		.state_len = state_len,
	};

	capymig_genl_notify(net, &ev);
}

/* GET_INFO */

static int put_stats(struct sk_buff *msg, const struct capymig_net *cn)
{
	struct nlattr *nest = nla_nest_start(msg, TCPMIG_A_STATS);
	int i;

	if (!nest)
		return -EMSGSIZE;
	for (i = TCPMIG_STAT_UNSPEC + 1; i <= TCPMIG_STAT_MAX; i++)
		if (i != TCPMIG_STAT_PAD &&
		    nla_put_u64_64bit(msg, i, atomic64_read(&cn->stats[i]),
				      TCPMIG_STAT_PAD))
			return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

static int tcpmig_nl_get_info(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &tcpmig_family, 0,
				TCPMIG_CMD_GET_INFO);
	if (!hdr ||
	    nla_put_string(msg, TCPMIG_A_VERSION, CAPYMIG_VERSION) ||
	    nla_put_u32(msg, TCPMIG_A_GENL_VERSION, TCPMIG_GENL_VERSION) ||
	    nla_put_u64_64bit(msg, TCPMIG_A_NETNS_COOKIE, net->net_cookie,
			      TCPMIG_A_PAD) ||
	    put_stats(msg, capymig_pernet(net))) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/* LIST: resumable walk of the established hash. */

struct list_dump {
	unsigned int bucket;
	unsigned int index;
	u16 local_port;		/* host order, 0 for all */
};

struct list_fill {
	struct sk_buff *skb;
	struct netlink_callback *cb;
	u16 local_port;
};

static int list_one(struct sock *sk, void *arg)
{
	struct list_fill *f = arg;
	const struct tcp_sock *tp = tcp_sk(sk);
	struct capymig_tuple t;
	struct nlattr *nest;
	u64 cookie;
	void *hdr;

	if ((f->local_port && inet_sk(sk)->inet_num != f->local_port) ||
	    capymig_export_refusal(sk))
		return 0;

	capymig_tuple_from_sock(sk, &t);
	cookie = capymig_sock_cookie(sk);
	hdr = genlmsg_put(f->skb, NETLINK_CB(f->cb->skb).portid,
			  f->cb->nlh->nlmsg_seq, &tcpmig_family, NLM_F_MULTI,
			  TCPMIG_CMD_LIST);
	if (!hdr)
		return -EMSGSIZE;
	nest = nla_nest_start(f->skb, TCPMIG_A_CONN);
	if (!nest ||
	    put_tuple(f->skb, TCPMIG_CONN_A_TUPLE, &t) ||
	    (cookie && nla_put_u64_64bit(f->skb, TCPMIG_CONN_A_COOKIE, cookie,
					 TCPMIG_CONN_A_PAD)) ||
	    nla_put_u32(f->skb, TCPMIG_CONN_A_RQLEN,
			READ_ONCE(tp->rcv_nxt) - READ_ONCE(tp->copied_seq)) ||
	    nla_put_u32(f->skb, TCPMIG_CONN_A_TQLEN,
			READ_ONCE(tp->write_seq) - READ_ONCE(tp->snd_una)) ||
	    nla_put_u32(f->skb, TCPMIG_CONN_A_COPIED_SEQ,
			READ_ONCE(tp->copied_seq))) {
		genlmsg_cancel(f->skb, hdr);
		return -EMSGSIZE;
	}
	nla_nest_end(f->skb, nest);
	genlmsg_end(f->skb, hdr);
	return 0;
}

static int tcpmig_nl_list_start(struct netlink_callback *cb)
{
	struct list_dump *ld = (struct list_dump *)cb->ctx;
	struct nlattr *port = capymig_dump_attrs(cb)[TCPMIG_A_LOCAL_PORT];

	BUILD_BUG_ON(sizeof(*ld) > sizeof(cb->ctx));
	memset(ld, 0, sizeof(*ld));
	ld->local_port = port ? nla_get_u16(port) : 0;
	return 0;
}

static int tcpmig_nl_list(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct list_dump *ld = (struct list_dump *)cb->ctx;
	struct list_fill f = {
		.skb = skb, .cb = cb, .local_port = ld->local_port,
	};
	int err;

	err = capymig_conn_walk(sock_net(skb->sk), &ld->bucket, &ld->index,
				list_one, &f);
	/* A full message ends this round; the next resumes there. */
	if (err == -EMSGSIZE && skb->len)
		return skb->len;
	return err ?: skb->len;
}

/*
 * EXPORT: as a request, the blob comes back in one reply of its exact size
 * (the fast path); as a dump, it is streamed in chunks (any size).
 */

struct export_dump {
	struct capymig_blob blob;
	u32 sent;
};

static struct sock *export_target(struct net *net, struct nlattr **attrs,
				  struct netlink_ext_ack *extack)
{
	const struct capymig_tuple *t;
	struct genl_info info = { .extack = extack };
	struct sock *sk;

	t = get_tuple(&info, attrs);
	if (IS_ERR(t))
		return ERR_CAST(t);
	if (t)
		sk = capymig_conn_lookup(net, t);
	else if (attrs[TCPMIG_A_COOKIE])
		sk = capymig_conn_lookup_cookie(net,
				nla_get_u64(attrs[TCPMIG_A_COOKIE]));
	else {
		NL_SET_ERR_MSG(extack, "name the connection: tuple or cookie");
		return ERR_PTR(-EINVAL);
	}
	if (!sk) {
		NL_SET_ERR_MSG(extack, "no such connection");
		return ERR_PTR(-ENOENT);
	}
	return sk;
}

/* Exports @sk into @sink, counted and announced. */
static int export_conn(struct net *net, struct sock *sk,
		       struct capymig_export_sink *sink,
		       struct netlink_ext_ack *extack)
{
	struct capymig_tuple t;
	int err;

	capymig_tuple_from_sock(sk, &t);
	err = capymig_export_to(sk, NULL, sink, extack);
	if (err) {
		capymig_count(net, TCPMIG_STAT_EXPORTS_REFUSED, 1);
		notify_conn(net, TCPMIG_EVENT_EXPORT_REFUSED, &t, err, 0);
		return err;
	}
	capymig_count(net, TCPMIG_STAT_EXPORTS, 1);
	notify_conn(net, TCPMIG_EVENT_EXPORTED, &t, 0, sink->len);
	return 0;
}

/*
 * The largest reply of one message; beyond, the blob goes to the
 * requester's buffer or the export must be a dump.  Small enough to be
 * allocated at once: a larger skb is a high-order allocation, which may
 * stall in compaction while the connection is locked and held.
 */
#define EXPORT_REPLY_MAX	(16U << 10)
/* Bytes of the blob per TCPMIG_A_STATE_CHUNK. */
#define CHUNK_BYTES		ALIGN_DOWN(TCPMIG_STATE_CHUNK_MAX, NLA_ALIGNTO)

#define EXPORT_TOO_LARGE \
	"connection state too large for one message: export it as a dump"

/* The attributes of the one reply carrying a blob of @len bytes. */
static size_t export_reply_size(u64 len)
{
	return nla_total_size(sizeof(u32)) +
	       len / CHUNK_BYTES * nla_total_size(CHUNK_BYTES) +
	       (len % CHUNK_BYTES ? nla_total_size(len % CHUNK_BYTES) : 0);
}

/* Chunks of the largest reply. */
#define EXPORT_PIECES		DIV_ROUND_UP(EXPORT_REPLY_MAX, CHUNK_BYTES)

/*
 * The one reply: the blob is snapshotted straight into the requester's
 * buffer when it has room (@buf, @room), else into the reply's chunks.
 */
struct export_reply {
	struct capymig_export_sink sink;
	struct genl_info *info;
	void __user *buf;
	u32 room;
	struct sk_buff *msg;
	struct kvec pieces[EXPORT_PIECES];
};

static int export_reply_alloc(struct capymig_export_sink *sink, u32 len,
			      struct capymig_blob_out *out, const char **why)
{
	struct export_reply *er = container_of(sink, struct export_reply,
					       sink);
	bool in_buf = er->buf && len <= er->room;
	size_t size = in_buf ? nla_total_size(sizeof(u32)) :
			       export_reply_size(len);
	struct nlattr *chunk;
	unsigned int n = 0;
	void *hdr;
	u32 off;

	*why = EXPORT_TOO_LARGE;
	if (genlmsg_total_size(size) > EXPORT_REPLY_MAX)
		return -EMSGSIZE;
	er->msg = genlmsg_new(size, GFP_KERNEL | __GFP_NOWARN);
	if (!er->msg)
		return -EMSGSIZE;
	hdr = genlmsg_put_reply(er->msg, er->info, &tcpmig_family, 0,
				TCPMIG_CMD_EXPORT);
	if (!hdr || nla_put_u32(er->msg, TCPMIG_A_STATE_LEN, len))
		return -EMSGSIZE;
	if (in_buf) {
		genlmsg_end(er->msg, hdr);
		iov_iter_ubuf(&out->to, ITER_DEST, er->buf, len);
		return 0;
	}
	/* Sized above: the chunks fit, one after the other. */
	for (off = 0; off < len; off += CHUNK_BYTES) {
		chunk = nla_reserve(er->msg, TCPMIG_A_STATE_CHUNK,
				    min(len - off, CHUNK_BYTES));
		er->pieces[n++] = (struct kvec) {
			.iov_base = nla_data(chunk),
			.iov_len = nla_len(chunk),
		};
	}
	genlmsg_end(er->msg, hdr);
	iov_iter_kvec(&out->to, ITER_DEST, er->pieces, n, len);
	return 0;
}

/* The blob's size as @sk's queues are now, read without its lock. */
static u64 export_size_now(const struct sock *sk)
{
	const struct tcp_sock *tp = tcp_sk(sk);
	struct capymig_state st = {
		.rcvq.len = READ_ONCE(tp->rcv_nxt) - READ_ONCE(tp->copied_seq),
		.sndq.len = READ_ONCE(tp->write_seq) - READ_ONCE(tp->snd_una),
	};

	return capymig_state_blob_size(&st);
}

static int tcpmig_nl_export_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct nlattr **attrs = info->attrs;
	struct export_reply er = {
		.sink.alloc = export_reply_alloc,
		.info = info,
	};
	struct sock *sk;
	u64 size;
	int err;

	if (!attrs[TCPMIG_A_STATE_BUF] != !attrs[TCPMIG_A_STATE_LEN]) {
		NL_SET_ERR_MSG(info->extack,
			       "TCPMIG_A_STATE_BUF and TCPMIG_A_STATE_LEN go together");
		return -EINVAL;
	}
	if (attrs[TCPMIG_A_STATE_BUF]) {
		er.buf = u64_to_user_ptr(nla_get_u64(attrs[TCPMIG_A_STATE_BUF]));
		er.room = nla_get_u32(attrs[TCPMIG_A_STATE_LEN]);
		if (!access_ok(er.buf, er.room)) {
			NL_SET_ERR_MSG(info->extack, "state buffer not writable");
			return -EFAULT;
		}
	}
	sk = export_target(net, attrs, info->extack);
	if (IS_ERR(sk))
		return PTR_ERR(sk);
	/*
	 * Too large for one message: not even tried, and so not a refusal.
	 * Should the queues grow past it meanwhile, the snapshot refuses.
	 */
	size = export_size_now(sk);
	if ((!er.buf || size > er.room) &&
	    genlmsg_total_size(export_reply_size(size)) > EXPORT_REPLY_MAX) {
		sock_put(sk);
		NL_SET_ERR_MSG(info->extack, EXPORT_TOO_LARGE);
		return -EMSGSIZE;
	}
	err = export_conn(net, sk, &er.sink, info->extack);
	sock_put(sk);
	if (err) {
		nlmsg_free(er.msg);
		return err;
	}
	/* Exported: a reply lost now loses the connection, as a dump would. */
	return genlmsg_reply(er.msg, info);
}

/*
 * The export happens in the dump's first round, not in its start
 * callback: on 6.1, only a dump round can return a refusal's reason
 * (in NLMSG_DONE), start's extack is lost.
 */
static int tcpmig_nl_export(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct export_dump *ed = (struct export_dump *)cb->ctx;
	int err;

	BUILD_BUG_ON(sizeof(*ed) > sizeof(cb->ctx));
	if (!ed->blob.data) {
		struct net *net = sock_net(skb->sk);
		struct capymig_blob_sink bs;
		struct sock *sk;

		sk = export_target(net, capymig_dump_attrs(cb), cb->extack);
		if (IS_ERR(sk))
			return PTR_ERR(sk);
		capymig_blob_sink_init(&bs, &ed->blob);
		err = export_conn(net, sk, &bs.sink, cb->extack);
		sock_put(sk);
		if (err)
			return err;
	}
	while (ed->sent < ed->blob.len) {
		u32 left = ed->blob.len - ed->sent;
		int room;
		void *hdr;

		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &tcpmig_family,
				  NLM_F_MULTI, TCPMIG_CMD_EXPORT);
		if (!hdr)
			break;
		if (!ed->sent &&
		    nla_put_u32(skb, TCPMIG_A_STATE_LEN, ed->blob.len)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		room = min_t(int, skb_tailroom(skb) - nla_total_size(0),
			     TCPMIG_STATE_CHUNK_MAX);
		if (room <= 0) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		room = min_t(u32, room & ~3, left);
		if (nla_put(skb, TCPMIG_A_STATE_CHUNK, room,
			    ed->blob.data + ed->sent)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		ed->sent += room;
	}
	/* Done: the end of the dump rides in this message, no extra round. */
	return ed->sent == ed->blob.len ? 0 : skb->len;
}

static int tcpmig_nl_export_done(struct netlink_callback *cb)
{
	capymig_blob_free(&((struct export_dump *)cb->ctx)->blob);
	return 0;
}

/* IMPORT */

/* Chunks of a blob that need no allocation to be listed. */
#define IMPORT_PIECES_ONSTACK	4

/*
 * The blob's pieces, its chunks in message order, where they lie in the
 * request: decoded and restored from there, never gathered.  *@vec is
 * @onstack or allocated; @from reads the pieces.
 */
static int blob_pieces(struct genl_info *info, struct kvec *onstack,
		       struct kvec **vec, struct iov_iter *from)
{
	const struct nlattr *nla;
	unsigned int n = 0;
	u64 total = 0;
	int rem;

	nlmsg_for_each_attr(nla, info->nlhdr, GENL_HDRLEN, rem) {
		if (nla_type(nla) != TCPMIG_A_STATE_CHUNK)
			continue;
		/* Each costs a kvec, 4 bytes of request for 16 of ours. */
		if (!nla_len(nla)) {
			NL_SET_ERR_MSG(info->extack,
				       "empty TCPMIG_A_STATE_CHUNK");
			return -EINVAL;
		}
		n++;
		total += nla_len(nla);
	}
	if (!total || total > TCPMIG_STATE_MAX) {
		capymig_set_err(info->extack, total ? "state blob too large" :
				"TCPMIG_A_STATE_CHUNK missing");
		return -EINVAL;
	}
	*vec = onstack;
	if (n > IMPORT_PIECES_ONSTACK) {
		*vec = kvmalloc_array(n, sizeof(**vec), GFP_KERNEL_ACCOUNT);
		if (!*vec)
			return -ENOMEM;
	}
	n = 0;
	nlmsg_for_each_attr(nla, info->nlhdr, GENL_HDRLEN, rem)
		if (nla_type(nla) == TCPMIG_A_STATE_CHUNK)
			(*vec)[n++] = (struct kvec) {
				.iov_base = nla_data(nla),
				.iov_len = nla_len(nla),
			};
	iov_iter_kvec(from, ITER_SOURCE, *vec, n, total);
	return 0;
}

/*
 * The blob in the requester's memory.  A large one is read where it lies
 * when the import runs where the requester does (@requester): copying
 * 128 KiB of queues, and zeroing the buffer first (init_on_alloc), took a
 * third of such an import under emulation.  Else the blob is copied in
 * whole to @copy first: a small one is decoded faster from one copy than
 * record by record from user memory, and a kernel worker, which builds
 * the other imports, cannot read that memory.
 */
static int blob_from_user(struct genl_info *info, bool requester,
			  struct kvec *copy, struct iov_iter *from)
{
	struct nlattr **attrs = info->attrs;
	void __user *buf;
	u32 len;

	if (!attrs[TCPMIG_A_STATE_LEN] || attrs[TCPMIG_A_STATE_CHUNK]) {
		NL_SET_ERR_MSG(info->extack,
			       "TCPMIG_A_STATE_BUF needs TCPMIG_A_STATE_LEN and no chunk");
		return -EINVAL;
	}
	buf = u64_to_user_ptr(nla_get_u64(attrs[TCPMIG_A_STATE_BUF]));
	len = nla_get_u32(attrs[TCPMIG_A_STATE_LEN]);
	if (!len || len > TCPMIG_STATE_MAX) {
		capymig_set_err(info->extack, len ? "state blob too large" :
				"TCPMIG_A_STATE_CHUNK missing, "
				"TCPMIG_A_STATE_BUF empty");
		return -EINVAL;
	}
	if (!access_ok(buf, len))
		goto unreadable;
	if (requester && len > PAGE_SIZE) {
		iov_iter_ubuf(from, ITER_SOURCE, buf, len);
		return 0;
	}
	/* Up to TCPMIG_STATE_MAX a request: the requester's cgroup pays. */
	copy->iov_base = kvmalloc(len, GFP_KERNEL_ACCOUNT);
	if (!copy->iov_base)
		return -ENOMEM;
	if (copy_from_user(copy->iov_base, buf, len)) {
		kvfree(copy->iov_base);
		goto unreadable;
	}
	copy->iov_len = len;
	iov_iter_kvec(from, ITER_SOURCE, copy, 1, len);
	return 0;

unreadable:
	NL_SET_ERR_MSG(info->extack, "state buffer not readable");
	return -EFAULT;
}

/*
 * The reply is allocated before the import, so that once the connection
 * is live nothing is left that can fail: the requester may then do
 * without an ACK.
 */
static struct sk_buff *import_reply_new(struct genl_info *info, void **hdr)
{
	struct sk_buff *msg;

	msg = genlmsg_new(nla_total_size(sizeof(struct capymig_tuple)) +
			  nla_total_size(sizeof(u32)), GFP_KERNEL);
	if (!msg)
		return NULL;
	*hdr = genlmsg_put_reply(msg, info, &tcpmig_family, 0,
				 TCPMIG_CMD_IMPORT);
	if (!*hdr) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

static bool import_wants_fd(struct nlattr **attrs)
{
	return attrs[TCPMIG_A_IMPORT_FLAGS] &&
	       (nla_get_u32(attrs[TCPMIG_A_IMPORT_FLAGS]) & TCPMIG_IMPORT_F_FD);
}

static int import_blob(struct genl_info *info, const struct iov_iter *from,
		       struct sk_buff *msg, struct capymig_tuple *served)
{
	struct nlattr **attrs = info->attrs;
	struct net *net = genl_info_net(info);
	bool want_fd = import_wants_fd(attrs);
	u64 listener = attrs[TCPMIG_A_LISTENER_COOKIE] ?
		       nla_get_u64(attrs[TCPMIG_A_LISTENER_COOKIE]) : 0;
	const struct capymig_tuple *serve;
	struct capymig_state st;
	struct file *file = NULL;
	const char *why;
	int fd = -1, err;

	err = capymig_state_decode_iter(from, &st, &why);
	if (err) {
		capymig_set_err(info->extack, why);
		return err;
	}
	serve = get_tuple(info, attrs);
	if (IS_ERR(serve))
		return PTR_ERR(serve);
	*served = serve ? *serve : st.tuple;
	if (want_fd && listener) {
		NL_SET_ERR_MSG(info->extack,
			       "a listener cookie makes no sense with an fd");
		return -EINVAL;
	}

	/* Reserved first: once the connection is live nothing may fail. */
	if (want_fd) {
		fd = get_unused_fd_flags(O_CLOEXEC);
		if (fd < 0)
			return fd;
	}
	err = capymig_import(net, &st, serve, listener,
			     want_fd ? &file : NULL, current_cred(),
			     info->extack);
	if (err) {
		if (fd >= 0)
			put_unused_fd(fd);
		return err;
	}
	if (file)
		fd_install(fd, file);
	/* Sized for both: cannot fail. */
	put_tuple(msg, TCPMIG_A_TUPLE, served);
	if (fd >= 0)
		nla_put_u32(msg, TCPMIG_A_FD, fd);
	return 0;
}

static int tcpmig_nl_import(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct kvec onstack[IMPORT_PIECES_ONSTACK], *vec = onstack;
	struct capymig_tuple served = {};
	struct iov_iter from;
	struct sk_buff *msg;
	void *copy = NULL, *hdr;
	u32 len;
	int err;

	/* An import for a descriptor runs in the requester's context. */
	if (info->attrs[TCPMIG_A_STATE_BUF]) {
		err = blob_from_user(info, import_wants_fd(info->attrs),
				     onstack, &from);
		if (!err && iov_iter_is_kvec(&from))
			copy = onstack[0].iov_base;
	} else {
		err = blob_pieces(info, onstack, &vec, &from);
	}
	if (err)
		return err;
	len = iov_iter_count(&from);
	msg = import_reply_new(info, &hdr);
	err = msg ? import_blob(info, &from, msg, &served) : -ENOMEM;
	kvfree(copy);
	if (vec != onstack)
		kvfree(vec);

	if (err) {
		nlmsg_free(msg);
		capymig_count(net, TCPMIG_STAT_IMPORTS_REFUSED, 1);
		notify_conn(net, TCPMIG_EVENT_IMPORT_REFUSED, &served, err, 0);
		return err;
	}
	capymig_count(net, TCPMIG_STAT_IMPORTS, 1);
	notify_conn(net, TCPMIG_EVENT_IMPORTED, &served, 0, len);
	genlmsg_end(msg, hdr);
	/* The connection is imported; a lost reply does not undo that. */
	genlmsg_reply(msg, info);
	return 0;
}

/* HOLD */

static int tcpmig_nl_hold(struct sk_buff *skb, struct genl_info *info)
{
	const struct capymig_tuple *t = get_tuple(info, info->attrs);
	struct nlattr *timeout = info->attrs[TCPMIG_A_TIMEOUT_MS];
	int err;

	if (IS_ERR(t))
		return PTR_ERR(t);
	if (!t) {
		NL_SET_ERR_MSG(info->extack, "TCPMIG_A_TUPLE missing");
		return -EINVAL;
	}
	err = capymig_hold_start(genl_info_net(info), t,
				 timeout ? nla_get_u32(timeout) :
					   CAPYMIG_HOLD_TIMEOUT_MS);
	return min(err, 0);
}

/* SET_CONFIG, GET_CONFIG, POOL_ADD, POOL_DEL */

/* An endpoint attribute, checked beyond its length; NULL if absent. */
static const struct tcpmig_endpoint *get_endpoint(struct genl_info *info,
						  int type, bool need_port)
{
	struct nlattr *attr = info->attrs[type];
	const struct tcpmig_endpoint *ep;

	if (!attr)
		return NULL;
	ep = nla_data(attr);
	if (!ep->addr || ep->pad || (need_port && !ep->port)) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr,
				    "invalid endpoint: address, port or padding");
		return ERR_PTR(-EINVAL);
	}
	return ep;
}

/* A u32 attribute's value in place (validated), or NULL if absent. */
static const u32 *u32_attr(const struct nlattr *attr)
{
	return attr ? nla_data(attr) : NULL;
}

static int tcpmig_nl_set_config(struct sk_buff *skb, struct genl_info *info)
{
	struct capymig_net *cn = capymig_pernet(genl_info_net(info));
	struct nlattr **attrs = info->attrs;
	const char *why = NULL;
	struct capymig_proto_config c = {
		.port = attrs[TCPMIG_A_UDP_PORT] ?
			nla_get_u16(attrs[TCPMIG_A_UDP_PORT]) : 0,
		.timeout_ms = attrs[TCPMIG_A_TIMEOUT_MS] ?
			      nla_get_u32(attrs[TCPMIG_A_TIMEOUT_MS]) : 0,
		.heartbeat_ms = u32_attr(attrs[TCPMIG_A_HEARTBEAT_MS]),
		.weight = u32_attr(attrs[TCPMIG_A_WEIGHT]),
		.flags = u32_attr(attrs[TCPMIG_A_CONFIG_FLAGS]),
	};
	int err;

	c.sw = get_endpoint(info, TCPMIG_A_SWITCH, false);
	if (IS_ERR(c.sw))
		return PTR_ERR(c.sw);
	err = capymig_proto_configure(cn, &c, &why);
	capymig_set_err(info->extack, why);
	return err;
}

static int put_peer(__be32 addr, void *msg)
{
	struct tcpmig_endpoint ep = { .addr = addr };

	return nla_put(msg, TCPMIG_A_PEER, sizeof(ep), &ep);
}

static int tcpmig_nl_get_config(struct sk_buff *skb, struct genl_info *info)
{
	struct capymig_net *cn = capymig_pernet(genl_info_net(info));
	struct sk_buff *msg;
	int err = -EMSGSIZE;
	void *hdr;

	msg = genlmsg_new(GENLMSG_DEFAULT_SIZE + cn->npeers * 16, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &tcpmig_family, 0,
				TCPMIG_CMD_GET_CONFIG);
	mutex_lock(&cn->lock);
	if (hdr &&
	    !nla_put_u16(msg, TCPMIG_A_UDP_PORT, cn->port) &&
	    !nla_put_u32(msg, TCPMIG_A_TIMEOUT_MS, cn->timeout_ms) &&
	    !nla_put_u32(msg, TCPMIG_A_HEARTBEAT_MS, cn->heartbeat_ms) &&
	    !nla_put_u32(msg, TCPMIG_A_WEIGHT, cn->weight) &&
	    !nla_put_u32(msg, TCPMIG_A_CONFIG_FLAGS, cn->config_flags) &&
	    (!cn->switch_addr ||
	     !nla_put(msg, TCPMIG_A_SWITCH, sizeof(struct tcpmig_endpoint),
		      &(struct tcpmig_endpoint) {
			      .addr = cn->switch_addr,
			      .port = cn->switch_port,
		      })) &&
	    !capymig_peer_for_each(cn, put_peer, msg))
		err = 0;
	mutex_unlock(&cn->lock);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static int pool_change(struct genl_info *info, bool add)
{
	struct capymig_net *cn = capymig_pernet(genl_info_net(info));
	const struct tcpmig_endpoint *peer;
	int err;

	peer = get_endpoint(info, TCPMIG_A_PEER, false);
	if (IS_ERR(peer))
		return PTR_ERR(peer);
	if (!peer) {
		NL_SET_ERR_MSG(info->extack, "TCPMIG_A_PEER missing");
		return -EINVAL;
	}
	mutex_lock(&cn->lock);
	err = add ? capymig_peer_add(cn, peer->addr) :
		    capymig_peer_del(cn, peer->addr);
	mutex_unlock(&cn->lock);
	if (err == -EEXIST)
		NL_SET_ERR_MSG(info->extack, "already a pool member");
	else if (err == -ENOSPC)
		NL_SET_ERR_MSG(info->extack, "the pool is full");
	else if (err == -ENOENT)
		NL_SET_ERR_MSG(info->extack, "not a pool member");
	return err;
}

static int tcpmig_nl_pool_add(struct sk_buff *skb, struct genl_info *info)
{
	return pool_change(info, true);
}

static int tcpmig_nl_pool_del(struct sk_buff *skb, struct genl_info *info)
{
	return pool_change(info, false);
}

/* MIGRATE */

static int tcpmig_nl_migrate(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	const struct tcpmig_endpoint *target;
	struct sk_buff *msg;
	struct sock *sk;
	void *hdr;
	u32 id;
	int err;

	target = get_endpoint(info, TCPMIG_A_TARGET, true);
	if (IS_ERR(target))
		return PTR_ERR(target);
	/*
	 * The reply first: a requester told nothing of a migration it
	 * started could not tell its events from others'.
	 */
	msg = genlmsg_new(nla_total_size(sizeof(u32)), GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &tcpmig_family, 0,
				TCPMIG_CMD_MIGRATE);
	sk = hdr ? export_target(net, info->attrs, info->extack) :
		   ERR_PTR(-EMSGSIZE);
	if (IS_ERR(sk)) {
		nlmsg_free(msg);
		return PTR_ERR(sk);
	}
	err = capymig_migrate(capymig_pernet(net), sk, target,
			      u32_attr(info->attrs[TCPMIG_A_READ_SEQ]),
			      &id, info->extack);
	sock_put(sk);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	/* Sized for it: cannot fail. */
	nla_put_u32(msg, TCPMIG_A_MIGRATION_ID, id);
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

#define TCPMIG_OP(_cmd, _policy)					\
	.cmd = _cmd,							\
	.policy = _policy,						\
	.maxattr = TCPMIG_A_MAX,					\
	.flags = GENL_UNS_ADMIN_PERM

static const struct genl_ops tcpmig_ops[] = {
	{
		TCPMIG_OP(TCPMIG_CMD_GET_INFO, info_policy),
		.doit = tcpmig_nl_get_info,
	},
	{
		TCPMIG_OP(TCPMIG_CMD_LIST, list_policy),
		.start = tcpmig_nl_list_start,
		.dumpit = tcpmig_nl_list,
	},
	{
		TCPMIG_OP(TCPMIG_CMD_EXPORT, export_policy),
		.doit = tcpmig_nl_export_doit,
		.dumpit = tcpmig_nl_export,
		.done = tcpmig_nl_export_done,
	},
	{
		TCPMIG_OP(TCPMIG_CMD_IMPORT, import_policy),
		.doit = tcpmig_nl_import,
	},
	{
		TCPMIG_OP(TCPMIG_CMD_HOLD, hold_policy),
		.doit = tcpmig_nl_hold,
	},
	{
		TCPMIG_OP(TCPMIG_CMD_SET_CONFIG, set_config_policy),
		.doit = tcpmig_nl_set_config,
	},
	{
		TCPMIG_OP(TCPMIG_CMD_GET_CONFIG, info_policy),
		.doit = tcpmig_nl_get_config,
	},
	{
		TCPMIG_OP(TCPMIG_CMD_POOL_ADD, pool_policy),
		.doit = tcpmig_nl_pool_add,
	},
	{
		TCPMIG_OP(TCPMIG_CMD_POOL_DEL, pool_policy),
		.doit = tcpmig_nl_pool_del,
	},
	{
		TCPMIG_OP(TCPMIG_CMD_MIGRATE, migrate_policy),
		.doit = tcpmig_nl_migrate,
	},
};

static struct genl_family tcpmig_family __ro_after_init = {
	.name = TCPMIG_GENL_NAME,
	.version = TCPMIG_GENL_VERSION,
	.maxattr = TCPMIG_A_MAX,
	.netnsok = true,
	.parallel_ops = true,
	.module = THIS_MODULE,
	.ops = tcpmig_ops,
	.n_ops = ARRAY_SIZE(tcpmig_ops),
	.mcgrps = tcpmig_mcgrps,
	.n_mcgrps = ARRAY_SIZE(tcpmig_mcgrps),
};

int __init capymig_genl_init(void)
{
	int err = genl_register_family(&tcpmig_family);

	if (!err)
		WRITE_ONCE(events_on, true);
	return err;
}

void capymig_genl_exit(void)
{
	WRITE_ONCE(events_on, false);
	synchronize_rcu();
	genl_unregister_family(&tcpmig_family);
}
