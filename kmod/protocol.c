// SPDX-License-Identifier: GPL-2.0
/*
 * TCPMig: Capybara's two-phase migration protocol, run in the kernel.
 *
 * The origin sends PREPARE through the switch.  The target starts holding
 * the connection's packets and answers PREPARE-ACK; as that passes the
 * switch, the switch starts sending the connection's packets to the
 * target.  Only then does the origin export the connection (nothing new
 * reaches it any more) and send the state as CONN-STATE fragments; the
 * target imports it, replays what it held and acknowledges.
 *
 * Failures (§4.2 of the paper): lost messages are sent again until a
 * deadline.  Until the export the connection never left the origin, so a
 * REJECT or a timeout there only withdraws the migration (ABORT, which
 * also makes the switch drop a redirect it may have installed and the
 * target its hold; it is sent again until the target's ABORT-ACK, since a
 * redirect left in place would send the client to a target that keeps
 * nothing for it).  After the export the state lives in the network and
 * on the target: a target that stops answering is reported, and the
 * connection is lost - taking it back could have two servers serve it.
 *
 * Segments that still reach the origin after the export (in flight on
 * the old path when the switch redirected) are held there by the export;
 * while the origin remembers the migration it sends them on to the target
 * as SEGMENT messages as they come, and the target puts them into its own
 * stack.
 *
 * All protocol state of a namespace is guarded by cn->lock and touched in
 * process context only: by netlink requests, by the worker that handles
 * received messages, by the worker that forwards late segments, and by a
 * tick that retransmits and expires.
 */
#include <linux/cred.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/netfilter_ipv4.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <net/ip.h>
#include <net/tcp.h>

#include "capymig.h"
#include "conn.h"
#include "hold.h"
#include "peer.h"
#include "protocol.h"
#include "socket.h"
#include "state.h"

/* First retransmission after this; doubles up to RTO_MAX. */
#define RTO_MIN		msecs_to_jiffies(20)
#define RTO_MAX		msecs_to_jiffies(200)
#define TICK		msecs_to_jiffies(5)
/*
 * After the export the connection exists only in transit, so the origin
 * keeps sending it this many timeouts before reporting it lost; a target
 * remembers a finished import as long, to re-ACK duplicates.
 */
#define TRANSFER_TIMEOUTS	(TCPMIG_MIGRATION_TIMEOUTS - 1)
/* Reassembly memory a namespace may spend on incoming states. */
#define REASSEMBLY_BUDGET	(256U << 20)

enum out_phase {
	OUT_PREPARING,		/* PREPARE sent, waiting for PREPARE-ACK */
	OUT_TRANSFERRING,	/* exported, CONN-STATE sent, waiting for ACK */
	OUT_FORWARDING,		/* done; late segments go on to the target */
	OUT_ABORTING,		/* withdrawn, ABORT sent, awaiting ABORT-ACK */
};

enum in_phase {
	IN_HOLDING,		/* PREPARE-ACK sent, the state arriving */
	IN_IMPORTED,		/* CONN-STATE-ACK sent */
	IN_ABORTED,		/* the origin withdrew it, ABORT-ACK sent */
};

/**
 * struct migration_out - a migration this host is the origin of
 * @node: in cn->out.
 * @hdr: the messages' header: id, client, origin, and target once known.
 * @named: the requester named the target: only it may answer.
 * @tuple: the connection as this host serves it.
 * @phase: where the protocol is.
 * @check_read_seq: export only if the application has read up to
 *	@read_seq exactly (a request boundary).
 * @read_seq: that boundary.
 * @blob: the exported state, in OUT_TRANSFERRING.
 * @next_tx: when to send again.
 * @rto: the current retransmission interval.
 * @deadline: when to give up (OUT_FORWARDING: to stop forwarding;
 *	OUT_ABORTING: when the target's hold is gone anyway).
 * @exported: when the export was.
 */
struct migration_out {
	struct list_head node;
	struct tcpmig_msg_hdr hdr;
	bool named;
	struct capymig_tuple tuple;
	enum out_phase phase;
	bool check_read_seq;
	u32 read_seq;
	struct capymig_blob blob;
	unsigned long next_tx;
	unsigned long rto;
	unsigned long deadline;
	unsigned long exported;
};

/**
 * struct migration_in - a migration this host is the target of
 * @node: in cn->in.
 * @hdr: as the PREPARE had it, target filled in.
 * @serve: the connection as this host will serve it.
 * @phase: where the protocol is; an imported or aborted migration is
 *	kept until @deadline to answer duplicates, and so that a late
 *	PREPARE of an aborted one starts no hold.
 * @acked: when a duplicate was last acknowledged: once per round of
 *	retransmissions is enough, not once per fragment.
 * @blob: the state being reassembled (@blob.len is its total length).
 * @frags: which fragments arrived.
 * @received: bytes of @blob that arrived.
 * @deadline: when to forget it.
 */
struct migration_in {
	struct list_head node;
	struct tcpmig_msg_hdr hdr;
	struct capymig_tuple serve;
	enum in_phase phase;
	unsigned long acked;
	struct capymig_blob blob;
	unsigned long *frags;
	u32 received;
	unsigned long deadline;
};

static unsigned long transfer_timeout(const struct capymig_net *cn)
{
	return TRANSFER_TIMEOUTS * msecs_to_jiffies(cn->timeout_ms);
}

static void endpoint_from_tuple(struct tcpmig_endpoint *ep, __be32 addr,
				__be16 port)
{
	ep->addr = addr;
	ep->port = port;
	ep->pad = 0;
}

static bool endpoint_set(const struct tcpmig_endpoint *ep)
{
	return ep->addr && ep->port;
}

static bool endpoint_eq(const struct tcpmig_endpoint *a,
			const struct tcpmig_endpoint *b)
{
	return a->addr == b->addr && a->port == b->port;
}

/* The connection a header names, as the host at @local serves it. */
static void tuple_of(const struct tcpmig_msg_hdr *hdr,
		     const struct tcpmig_endpoint *local,
		     struct capymig_tuple *t)
{
	memset(t, 0, sizeof(*t));
	t->family = AF_INET;
	t->local_addr[0] = local->addr;
	t->local_port = local->port;
	t->remote_addr[0] = hdr->client.addr;
	t->remote_port = hdr->client.port;
}

static void notify(struct capymig_net *cn, enum tcpmig_event type,
		   const struct tcpmig_msg_hdr *hdr,
		   const struct capymig_tuple *t, int error)
{
	struct capymig_event ev = {
		.type = type,
		.tuple = t,
		.error = error,
		.migration_id = ntohl(hdr->migration_id),
		.target = hdr->target.addr ? &hdr->target : NULL,
	};

	capymig_genl_notify(cn->net, &ev);
}

static int send_msg(struct capymig_net *cn, __be32 daddr,
		    const struct tcpmig_msg_hdr *tmpl, u8 type,
		    const void *body, size_t body_len,
		    const void *data, size_t data_len)
{
	struct tcpmig_msg_hdr hdr = *tmpl;
	struct kvec vec[3] = {
		{ &hdr, sizeof(hdr) },
		{ (void *)body, body_len },
		{ (void *)data, data_len },
	};

	hdr.magic = htons(TCPMIG_MSG_MAGIC);
	hdr.version = TCPMIG_MSG_VERSION;
	hdr.type = type;
	return capymig_send(cn, daddr, vec, data_len ? 3 : body_len ? 2 : 1);
}

static void kick_tick(struct capymig_net *cn)
{
	queue_delayed_work(system_wq, &cn->proto_tick, TICK);
}

/* Origin */

static struct migration_out *find_out(struct capymig_net *cn,
				      const struct tcpmig_msg_hdr *hdr)
{
	struct migration_out *m;

	list_for_each_entry(m, &cn->out, node)
		if (m->hdr.migration_id == hdr->migration_id &&
		    endpoint_eq(&m->hdr.origin, &hdr->origin))
			return m;
	return NULL;
}

/*
 * A migration under way keeps the module: unloaded then, it would lose
 * an exported connection, or leave a redirect and a hold behind for a
 * connection that never left.  The module's exit waits for the work that
 * frees it, and the namespace's teardown frees what is left.  None begins
 * once an unload has passed the reference check (false): its exit is
 * under way, and would free the migration under the client's redirect.
 */
static bool migration_begins(struct list_head *node, struct list_head *list)
{
	if (!try_module_get(THIS_MODULE))
		return false;
	list_add_tail(node, list);
	return true;
}

static void migration_ends(struct list_head *node)
{
	list_del(node);
	module_put(THIS_MODULE);
}

static void out_free(struct migration_out *m)
{
	migration_ends(&m->node);
	capymig_blob_free(&m->blob);
	kfree(m);
}

/* @m's target imported the connection: counted and announced, once. */
static void out_migrated(struct capymig_net *cn, struct migration_out *m)
{
	capymig_count(cn->net, TCPMIG_STAT_MIGRATIONS_OUT, 1);
	notify(cn, TCPMIG_EVENT_MIGRATED, &m->hdr, &m->tuple, 0);
	capymig_blob_free(&m->blob);
}

/*
 * A connection coming back here: stop forwarding what reaches it.  One
 * whose CONN-STATE-ACK has not come (lost, or still on its way) came
 * back all the same: its target imported it, and moved it on.  Left, it
 * would refuse the connection's next migration (EBUSY) until it expired,
 * reported failed.
 */
static void stop_forwarding(struct capymig_net *cn,
			    const struct capymig_tuple *t)
{
	struct migration_out *o, *tmp;

	list_for_each_entry_safe(o, tmp, &cn->out, node) {
		if (memcmp(&o->tuple, t, sizeof(*t)))
			continue;
		if (o->phase == OUT_TRANSFERRING)
			out_migrated(cn, o);
		if (o->phase == OUT_TRANSFERRING || o->phase == OUT_FORWARDING)
			out_free(o);
	}
}

/* @m enters @phase: sent once now, again from RTO_MIN on, for @timeout. */
static void out_enter(struct migration_out *m, enum out_phase phase,
		      unsigned long timeout)
{
	m->phase = phase;
	m->rto = RTO_MIN;
	m->next_tx = jiffies + m->rto;
	m->deadline = jiffies + timeout;
}

static void send_abort(struct capymig_net *cn, struct migration_out *m)
{
	send_msg(cn, cn->switch_addr, &m->hdr, TCPMIG_MSG_ABORT, NULL, 0,
		 NULL, 0);
}

/*
 * Withdraws a migration that has not exported anything: the connection
 * serves here, as it always did.  The ABORT goes on until acknowledged,
 * or until the target's hold has expired by itself.
 */
static void out_abort(struct capymig_net *cn, struct migration_out *m,
		      enum tcpmig_event event, int error)
{
	send_abort(cn, m);
	notify(cn, event, &m->hdr, &m->tuple, error);
	if (event == TCPMIG_EVENT_FAILED)
		capymig_count(cn->net, TCPMIG_STAT_MIGRATIONS_FAILED, 1);
	out_enter(m, OUT_ABORTING, transfer_timeout(cn));
}

static void send_prepare(struct capymig_net *cn, struct migration_out *m)
{
	send_msg(cn, cn->switch_addr, &m->hdr, TCPMIG_MSG_PREPARE, NULL, 0,
		 NULL, 0);
}

static void send_state(struct capymig_net *cn, struct migration_out *m)
{
	struct tcpmig_msg_conn_state cs = { .total_len = htonl(m->blob.len) };
	u32 off, len;

	for (off = 0; off < m->blob.len; off += len) {
		len = min_t(u32, TCPMIG_FRAG_SIZE, m->blob.len - off);
		cs.offset = htonl(off);
		send_msg(cn, m->hdr.target.addr, &m->hdr, TCPMIG_MSG_CONN_STATE,
			 &cs, sizeof(cs), m->blob.data + off, len);
	}
}

int capymig_migrate(struct capymig_net *cn, struct sock *sk,
		    const struct tcpmig_endpoint *target, const u32 *read_seq,
		    u32 *id, struct netlink_ext_ack *extack)
{
	struct migration_out *m, *other;
	const char *why, *busy;

	/*
	 * A message from this host to itself through the switch would come
	 * back with a local source, which the stack drops as a martian: one
	 * host's servers share its TCPMig endpoint, there is nothing to move.
	 */
	if (target && inet_addr_type(cn->net, target->addr) == RTN_LOCAL) {
		NL_SET_ERR_MSG(extack,
			       "the target is on this host: TCPMig moves connections between hosts");
		return -EINVAL;
	}
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	capymig_tuple_from_sock(sk, &m->tuple);
	if (m->tuple.family != AF_INET) {
		kfree(m);
		NL_SET_ERR_MSG(extack, "TCPMig moves IPv4 connections only");
		return -EAFNOSUPPORT;
	}
	lock_sock(sk);
	why = capymig_export_refusal(sk);
	/* Checked again at the export: the application may read meanwhile. */
	busy = capymig_export_busy(sk, read_seq);
	release_sock(sk);
	if (why || busy) {
		kfree(m);
		capymig_set_err(extack, why ?: busy);
		return why ? -EOPNOTSUPP : -EAGAIN;
	}
	if (read_seq) {
		m->check_read_seq = true;
		m->read_seq = *read_seq;
	}

	mutex_lock(&cn->lock);
	if (!cn->sock || !cn->switch_addr) {
		mutex_unlock(&cn->lock);
		kfree(m);
		NL_SET_ERR_MSG(extack, "TCPMig is not configured: set the switch");
		return -ENOTCONN;
	}
	/* It came back meanwhile: what reaches it here is its own again. */
	stop_forwarding(cn, &m->tuple);
	list_for_each_entry(other, &cn->out, node) {
		bool withdrawing = other->phase == OUT_ABORTING;

		if (memcmp(&other->tuple, &m->tuple, sizeof(m->tuple)))
			continue;
		mutex_unlock(&cn->lock);
		kfree(m);
		if (withdrawing)
			NL_SET_ERR_MSG(extack,
				       "its last migration is being withdrawn");
		else
			NL_SET_ERR_MSG(extack,
				       "the connection is migrating already");
		return -EBUSY;
	}
	/* 0 names no migration in events (TCPMIG_A_MIGRATION_ID left out). */
	if (!++cn->next_id)
		++cn->next_id;
	m->hdr.migration_id = htonl(cn->next_id);
	endpoint_from_tuple(&m->hdr.client, m->tuple.remote_addr[0],
			    m->tuple.remote_port);
	endpoint_from_tuple(&m->hdr.origin, m->tuple.local_addr[0],
			    m->tuple.local_port);
	if (target) {
		m->hdr.target = *target;
		m->named = true;
	}
	if (!migration_begins(&m->node, &cn->out)) {
		mutex_unlock(&cn->lock);
		kfree(m);
		NL_SET_ERR_MSG(extack, "the module is being unloaded");
		return -ESHUTDOWN;
	}
	out_enter(m, OUT_PREPARING, msecs_to_jiffies(cn->timeout_ms));
	*id = ntohl(m->hdr.migration_id);

	/* Timed from before the send, which may carry it all the way. */
	notify(cn, TCPMIG_EVENT_PREPARE_SENT, &m->hdr, &m->tuple, 0);
	send_prepare(cn, m);
	kick_tick(cn);
	mutex_unlock(&cn->lock);
	return 0;
}

/* The IPv4 and TCP headers of a segment, the longest they are. */
#define SEGMENT_HEADERS_MAX	(sizeof(struct iphdr) + MAX_IPOPTLEN + \
				 sizeof(struct tcphdr) + MAX_TCP_OPTION_SPACE)

/*
 * The piece of a held segment at @off of its payload, @len bytes copied
 * to @data, the @last one or not, on to the target as one SEGMENT, its
 * headers those of the segment adjusted as TSO adjusts them: the sequence
 * number advanced, CWR on the first piece only, PSH and FIN on the last.
 * The target recomputes the checksums.
 */
static int forward_piece(struct capymig_net *cn, struct migration_out *m,
			 struct sk_buff *skb, u32 off, const u8 *data, u32 len,
			 bool last)
{
	u32 hlen = ip_hdrlen(skb) + tcp_hdrlen(skb);
	u8 headers[SEGMENT_HEADERS_MAX];
	struct iphdr *iph = (void *)headers;
	struct tcphdr *th = (void *)(headers + ip_hdrlen(skb));

	memcpy(headers, skb_network_header(skb), hlen);
	iph->tot_len = htons(hlen + len);
	th->seq = htonl(ntohl(th->seq) + off);
	if (off)
		th->cwr = 0;
	if (!last)
		th->psh = th->fin = 0;
	return send_msg(cn, m->hdr.target.addr, &m->hdr, TCPMIG_MSG_SEGMENT,
			headers, hlen, data, len);
}

/*
 * A segment held since the export, on to the target, in pieces of at most
 * TCPMIG_FRAG_SIZE bytes, headers included: a segment the client's TSO or
 * the receiver's GRO made up to 64 KB long, or longer (BIG TCP), would
 * otherwise leave as one datagram IP-fragmented some fifty times, and be
 * lost whole with any one fragment.  Each piece's payload is copied out
 * to @buf (TCPMIG_FRAG_SIZE bytes), not the skb linearized: an atomic
 * allocation of 64 KB may fail.  Its checksum is verified here: the
 * target recomputes it for the rewritten addresses, which must not
 * launder a segment damaged on its way here.  Returns the SEGMENTs sent,
 * or a negative errno.
 */
static int forward_segment(struct capymig_net *cn, struct migration_out *m,
			   struct sk_buff *skb, u8 *buf)
{
	u32 len = skb->len - skb_network_offset(skb), hlen, payload, piece;
	u32 off = 0, at;
	int sent = 0, err;

	if (nf_ip_checksum(skb, NF_INET_LOCAL_IN, ip_hdrlen(skb), IPPROTO_TCP))
		return -EINVAL;
	skb_set_transport_header(skb, skb_network_offset(skb) +
				      ip_hdrlen(skb));
	hlen = ip_hdrlen(skb) + tcp_hdrlen(skb);
	if (tcp_hdrlen(skb) < sizeof(struct tcphdr) || hlen > len ||
	    !pskb_may_pull(skb, skb_network_offset(skb) + hlen))
		return -EINVAL;
	at = skb_network_offset(skb) + hlen;
	payload = len - hlen;
	piece = TCPMIG_FRAG_SIZE - hlen;
	do {
		u32 n = min(payload - off, piece);

		err = skb_copy_bits(skb, at + off, buf, n) ?:
		      forward_piece(cn, m, skb, off, buf, n, off + n == payload);
		if (err)
			return sent ?: err;
		sent++;
		off += piece;
	} while (off < payload);
	return sent;
}

static void forward_held(struct capymig_net *cn, struct migration_out *m)
{
	struct sk_buff_head queue;
	struct sk_buff *skb;
	u8 *buf;
	int sent;

	capymig_hold_take(cn->net, &m->tuple, &queue);
	buf = skb_queue_empty(&queue) ? NULL :
	      kmalloc(TCPMIG_FRAG_SIZE, GFP_KERNEL);
	while ((skb = __skb_dequeue(&queue))) {
		/* Without memory, the client sends the segment again. */
		sent = buf ? forward_segment(cn, m, skb, buf) : -ENOMEM;
		if (sent > 0)
			capymig_count(cn->net, TCPMIG_STAT_SEGMENTS_FORWARDED,
				      sent);
		kfree_skb(skb);
	}
	kfree(buf);
}

/*
 * A held segment goes on at once, not at the next tick: the client's
 * next segments reach the target directly meanwhile, the target SACKs
 * them, and a hole left open there longer than the client's reordering
 * window is retransmitted.  Only the origin's holds queue this (a
 * target's hold waits for its import), and only once the CONN-STATE is
 * sent: a SEGMENT never precedes it from here.  Newest first: a
 * connection that left, came back and left again has two migrations out
 * of here, and what its hold catches now follows the last one, whose
 * target remembers it longest.
 */
static void forward_work(struct work_struct *work)
{
	struct capymig_net *cn = container_of(work, struct capymig_net,
					      forward);
	struct migration_out *m;

	mutex_lock(&cn->lock);
	list_for_each_entry_reverse(m, &cn->out, node)
		if (m->phase == OUT_TRANSFERRING || m->phase == OUT_FORWARDING)
			forward_held(cn, m);
	mutex_unlock(&cn->lock);
}

/* The switch redirects the connection to the target now: export it. */
static void on_prepare_ack(struct capymig_net *cn,
			   const struct tcpmig_msg_hdr *hdr)
{
	struct migration_out *m = find_out(cn, hdr);
	struct sock *sk;
	int err;

	/* Passing the switch, it may have put back what the ABORT took. */
	if (m && m->phase == OUT_ABORTING) {
		m->hdr.target = hdr->target;
		send_abort(cn, m);
		return;
	}
	if (!m || m->phase != OUT_PREPARING) {
		capymig_count(cn->net, TCPMIG_STAT_MSG_UNEXPECTED, 1);
		return;
	}
	m->hdr.target = hdr->target;
	notify(cn, TCPMIG_EVENT_PREPARE_ACKED, &m->hdr, &m->tuple, 0);

	sk = capymig_conn_lookup(cn->net, &m->tuple);
	if (!sk) {
		out_abort(cn, m, TCPMIG_EVENT_FAILED, -ENOENT);
		return;
	}
	err = capymig_export(sk, m->check_read_seq ? &m->read_seq : NULL,
			     &m->blob, NULL);
	sock_put(sk);
	if (err) {
		out_abort(cn, m, TCPMIG_EVENT_FAILED, err);
		return;
	}
	capymig_count(cn->net, TCPMIG_STAT_EXPORTS, 1);
	m->exported = jiffies;
	out_enter(m, OUT_TRANSFERRING, transfer_timeout(cn));
	send_state(cn, m);
	notify(cn, TCPMIG_EVENT_STATE_SENT, &m->hdr, &m->tuple, 0);
	/* What the export's hold caught so far, and then as it comes. */
	capymig_hold_forward(cn->net, &m->tuple);
	forward_held(cn, m);
}

static void on_conn_state_ack(struct capymig_net *cn,
			      const struct tcpmig_msg_hdr *hdr)
{
	struct migration_out *m = find_out(cn, hdr);

	if (!m || m->phase != OUT_TRANSFERRING) {
		capymig_count(cn->net, TCPMIG_STAT_MSG_UNEXPECTED, 1);
		return;
	}
	out_migrated(cn, m);
	/* As long as the export's hold, which catches the late segments. */
	m->phase = OUT_FORWARDING;
	m->deadline = m->exported + msecs_to_jiffies(CAPYMIG_HOLD_TIMEOUT_MS);
}

static int reject_errno(u32 reason)
{
	switch (reason) {
	case TCPMIG_REJECT_TUPLE_EXISTS:
		return -EEXIST;
	case TCPMIG_REJECT_NO_LISTENER:
		return -ECONNREFUSED;
	case TCPMIG_REJECT_NO_MEMORY:
	case TCPMIG_REJECT_STATE_NO_MEMORY:
		return -ENOMEM;
	case TCPMIG_REJECT_BUSY:
		return -EBUSY;
	case TCPMIG_REJECT_DRAINING:
		return -ESHUTDOWN;
	case TCPMIG_REJECT_NO_TARGET:
		return -EHOSTUNREACH;
	default:
		return -EIO;
	}
}

/*
 * Whether a REJECT may not be the whole answer: the PREPARE went more
 * than once, and one copy may have been accepted.  Named, the target may
 * have refused the first (no listener yet, draining, busy) and taken a
 * later one; unnamed, the switch sends each where it sent the first, but
 * to another server once that one cannot take it (dead, gone) or
 * its note of the choice went to another client's migration.  Either
 * way a PREPARE-ACK may be on its way, or lost after the switch installed
 * its redirect: the migration is withdrawn through the switch as after a
 * timeout.
 */
static bool prepare_resent(const struct migration_out *m)
{
	return m->rto != RTO_MIN;
}

/*
 * A reason a target gives a CONN-STATE; the others answer a PREPARE.  No
 * memory has a reason for each: one, an earlier copy's refusal that came
 * after a later copy's PREPARE-ACK, would be taken for the state's, and
 * the migration given up while the target imports it.
 */
static bool refuses_state(u32 reason)
{
	return reason == TCPMIG_REJECT_IMPORT_FAILED ||
	       reason == TCPMIG_REJECT_STATE_NO_MEMORY;
}

static void on_reject(struct capymig_net *cn, const struct tcpmig_msg_hdr *hdr,
		      const struct tcpmig_msg_reject *rej)
{
	struct migration_out *m = find_out(cn, hdr);
	int err = reject_errno(ntohl(rej->reason));

	if (!m || m->phase == OUT_FORWARDING || m->phase == OUT_ABORTING) {
		capymig_count(cn->net, TCPMIG_STAT_MSG_UNEXPECTED, 1);
		return;
	}
	if (m->phase == OUT_PREPARING) {
		if (prepare_resent(m)) {
			out_abort(cn, m, TCPMIG_EVENT_REJECTED, err);
			return;
		}
		/* Untouched: the connection goes on being served here. */
		notify(cn, TCPMIG_EVENT_REJECTED, &m->hdr, &m->tuple, err);
		out_free(m);
		return;
	}
	/*
	 * The refusal of an earlier copy of the PREPARE (prepare_resent()):
	 * another server's, that the switch chose for a copy naming none, or
	 * the target's own, that a later copy's PREPARE-ACK overtook.  The
	 * state went to the target that answered, which goes on with it.
	 */
	if (!endpoint_eq(&hdr->target, &m->hdr.target) ||
	    !refuses_state(ntohl(rej->reason))) {
		capymig_count(cn->net, TCPMIG_STAT_MSG_UNEXPECTED, 1);
		return;
	}
	/* The state arrived and could not be imported: it is lost. */
	capymig_count(cn->net, TCPMIG_STAT_MIGRATIONS_FAILED, 1);
	notify(cn, TCPMIG_EVENT_FAILED, &m->hdr, &m->tuple, err);
	out_free(m);
}

static void on_abort_ack(struct capymig_net *cn,
			 const struct tcpmig_msg_hdr *hdr)
{
	struct migration_out *m = find_out(cn, hdr);

	if (!m || m->phase != OUT_ABORTING) {
		capymig_count(cn->net, TCPMIG_STAT_MSG_UNEXPECTED, 1);
		return;
	}
	out_free(m);
}

/* Target */

static struct migration_in *find_in(struct capymig_net *cn,
				    const struct tcpmig_msg_hdr *hdr)
{
	struct migration_in *m;

	list_for_each_entry(m, &cn->in, node)
		if (m->hdr.migration_id == hdr->migration_id &&
		    endpoint_eq(&m->hdr.origin, &hdr->origin))
			return m;
	return NULL;
}

/* The reassembly of @m's state is over: its memory goes back. */
static void in_drop_blob(struct capymig_net *cn, struct migration_in *m)
{
	if (m->blob.data)
		cn->reassembly_bytes -= m->blob.len;
	capymig_blob_free(&m->blob);
	bitmap_free(m->frags);
	m->frags = NULL;
}

static void in_free(struct capymig_net *cn, struct migration_in *m)
{
	migration_ends(&m->node);
	in_drop_blob(cn, m);
	kfree(m);
}

static void reply(struct capymig_net *cn, const struct tcpmig_msg_hdr *hdr,
		  u8 type, const void *body, size_t len)
{
	send_msg(cn, hdr->origin.addr, hdr, type, body, len, NULL, 0);
}

static void reject(struct capymig_net *cn, const struct tcpmig_msg_hdr *hdr,
		   enum tcpmig_reject_reason reason)
{
	struct tcpmig_msg_reject rej = { .reason = htonl(reason) };

	reply(cn, hdr, TCPMIG_MSG_REJECT, &rej, sizeof(rej));
}

/* Refuses before anything is held or redirected; 0 when all is ready. */
static enum tcpmig_reject_reason prepare_refusal(struct capymig_net *cn,
						 const struct capymig_tuple *t)
{
	if (cn->config_flags & TCPMIG_CONFIG_F_DRAINING)
		return TCPMIG_REJECT_DRAINING;
	if (capymig_conn_tuple_taken(cn->net, t))
		return TCPMIG_REJECT_TUPLE_EXISTS;
	if (!capymig_listener_exists(cn->net, t))
		return TCPMIG_REJECT_NO_LISTENER;
	return 0;
}

/* Whether another origin's migration of @t to here is under way. */
static bool in_busy(const struct capymig_net *cn, const struct capymig_tuple *t)
{
	const struct migration_in *m;

	list_for_each_entry(m, &cn->in, node)
		if (m->phase == IN_HOLDING && !memcmp(&m->serve, t, sizeof(*t)))
			return true;
	return false;
}

/*
 * Keeps what reaches @m's connection from the listener until @m's
 * deadline: holds it for the import or, with @block, drops it (the client
 * sends it again); again, it pushes the expiry back.  It lasts as long as
 * the origin may go on sending the state or ABORT: a hold that expired
 * first would let the client's segments reach the listener, which answers
 * with a reset.
 */
static int in_keep(struct capymig_net *cn, struct migration_in *m, bool block)
{
	unsigned int ms = TRANSFER_TIMEOUTS * cn->timeout_ms;
	int err;

	m->deadline = jiffies + transfer_timeout(cn);
	if (block)
		err = capymig_hold_block(cn->net, &m->serve, ms);
	else
		err = capymig_hold_start(cn->net, &m->serve, ms);
	return min(err, 0);
}

/* NO_HOLD is the baseline that loses what arrives before the import. */
static int in_hold(struct capymig_net *cn, struct migration_in *m)
{
	return in_keep(cn, m, cn->config_flags & TCPMIG_CONFIG_F_NO_HOLD);
}

static void on_prepare(struct capymig_net *cn, const struct tcpmig_msg_hdr *hdr)
{
	enum tcpmig_reject_reason why;
	struct migration_in *m = find_in(cn, hdr);

	if (m) {
		/*
		 * The origin did not hear our answer: say it again.  It may
		 * export up to its timeout from now, and send the state or
		 * ABORT for as long after: the hold lasts from here.
		 */
		if (m->phase == IN_HOLDING && !in_hold(cn, m))
			reply(cn, &m->hdr, TCPMIG_MSG_PREPARE_ACK, NULL, 0);
		else if (m->phase == IN_ABORTED)
			capymig_count(cn->net, TCPMIG_STAT_MSG_UNEXPECTED, 1);
		return;
	}
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m) {
		reject(cn, hdr, TCPMIG_REJECT_NO_MEMORY);
		return;
	}
	m->hdr = *hdr;
	tuple_of(hdr, &hdr->target, &m->serve);
	why = in_busy(cn, &m->serve) ? TCPMIG_REJECT_BUSY :
	      prepare_refusal(cn, &m->serve);
	/* Being unloaded, the module refuses as a draining host does. */
	if (!why && !migration_begins(&m->node, &cn->in))
		why = TCPMIG_REJECT_DRAINING;
	if (why) {
		reject(cn, hdr, why);
		kfree(m);
		return;
	}
	/*
	 * Only a PREPARE taken stops the forwarding of what reaches a tuple
	 * that left: refused, any member's could otherwise end it.
	 */
	stop_forwarding(cn, &m->serve);
	if (in_hold(cn, m)) {
		reject(cn, hdr, TCPMIG_REJECT_NO_MEMORY);
		in_free(cn, m);
		return;
	}
	reply(cn, hdr, TCPMIG_MSG_PREPARE_ACK, NULL, 0);
	notify(cn, TCPMIG_EVENT_PREPARED, hdr, &m->serve, 0);
	kick_tick(cn);
}

static void import_state(struct capymig_net *cn, struct migration_in *m)
{
	struct tcpmig_msg_conn_state_ack ack = { .total_len = htonl(m->blob.len) };
	struct capymig_state st;
	const char *why;
	int err;

	err = capymig_state_decode(&m->blob, &st, &why) ?:
	      capymig_import(cn->net, &st, &m->serve, 0, NULL, cn->cred,
			     NULL);
	if (err) {
		capymig_count(cn->net, TCPMIG_STAT_IMPORTS_REFUSED, 1);
		notify(cn, TCPMIG_EVENT_IMPORT_REFUSED, &m->hdr, &m->serve, err);
		reject(cn, &m->hdr, TCPMIG_REJECT_IMPORT_FAILED);
		in_free(cn, m);
		return;
	}
	capymig_count(cn->net, TCPMIG_STAT_IMPORTS, 1);
	capymig_count(cn->net, TCPMIG_STAT_MIGRATIONS_IN, 1);
	notify(cn, TCPMIG_EVENT_IMPORTED, &m->hdr, &m->serve, 0);
	reply(cn, &m->hdr, TCPMIG_MSG_CONN_STATE_ACK, &ack, sizeof(ack));

	in_drop_blob(cn, m);
	m->phase = IN_IMPORTED;
	m->acked = jiffies;
	m->deadline = jiffies + transfer_timeout(cn);
}

/* Sets up reassembly for a blob of @total bytes. */
static int in_start_blob(struct capymig_net *cn, struct migration_in *m,
			 u32 total)
{
	if (cn->reassembly_bytes + total > REASSEMBLY_BUDGET)
		return -ENOBUFS;
	m->blob.data = kvmalloc(total, GFP_KERNEL);
	m->frags = bitmap_zalloc(DIV_ROUND_UP(total, TCPMIG_FRAG_SIZE),
				 GFP_KERNEL);
	if (!m->blob.data || !m->frags) {
		kvfree(m->blob.data);
		m->blob.data = NULL;
		bitmap_free(m->frags);
		m->frags = NULL;
		return -ENOMEM;
	}
	m->blob.len = total;
	cn->reassembly_bytes += total;
	return 0;
}

static void on_conn_state(struct capymig_net *cn,
			  const struct tcpmig_msg_hdr *hdr,
			  const struct tcpmig_msg_conn_state *cs,
			  const u8 *data, u32 len)
{
	struct migration_in *m = find_in(cn, hdr);
	u32 total = ntohl(cs->total_len), off = ntohl(cs->offset);

	if (!m || m->phase == IN_ABORTED) {
		capymig_count(cn->net, TCPMIG_STAT_MSG_UNEXPECTED, 1);
		return;
	}
	if (m->phase == IN_IMPORTED) {
		struct tcpmig_msg_conn_state_ack ack = { .total_len = cs->total_len };

		if (time_before(jiffies, m->acked + RTO_MIN))
			return;
		m->acked = jiffies;
		reply(cn, &m->hdr, TCPMIG_MSG_CONN_STATE_ACK, &ack, sizeof(ack));
		return;
	}
	if (!m->blob.data && in_start_blob(cn, m, total)) {
		reject(cn, &m->hdr, TCPMIG_REJECT_STATE_NO_MEMORY);
		in_free(cn, m);
		return;
	}
	if (total != m->blob.len) {
		capymig_count(cn->net, TCPMIG_STAT_MSG_MALFORMED, 1);
		return;
	}
	if (!test_and_set_bit(off / TCPMIG_FRAG_SIZE, m->frags)) {
		memcpy(m->blob.data + off, data, len);
		m->received += len;
		/* A state that keeps arriving is worth waiting for. */
		if (in_hold(cn, m)) {
			reject(cn, &m->hdr, TCPMIG_REJECT_STATE_NO_MEMORY);
			in_free(cn, m);
			return;
		}
	}
	if (m->received == m->blob.len)
		import_state(cn, m);
}

/*
 * A segment the origin received after the export: into this host's stack
 * as if it had come from the client through the switch, addressed to the
 * endpoint the connection is served under here.  Before the import the
 * hold takes it, after it the socket.
 */
static int inject_segment(struct capymig_net *cn,
			  const struct migration_in *m, const u8 *data, u32 len)
{
	const struct iphdr *oiph = (const void *)data;
	struct flowi4 fl4 = { .daddr = m->hdr.client.addr };
	const struct tcphdr *oth;
	struct sk_buff *skb;
	struct rtable *rt;
	struct iphdr *iph;
	struct tcphdr *th;
	u32 ihl;

	if (len < sizeof(*oiph))
		return -EINVAL;
	ihl = oiph->ihl * 4;
	if (oiph->version != 4 || ihl < sizeof(*oiph) ||
	    ntohs(oiph->tot_len) != len || oiph->protocol != IPPROTO_TCP ||
	    ip_is_fragment(oiph) || oiph->saddr != m->hdr.client.addr ||
	    len < ihl + sizeof(*oth))
		return -EINVAL;
	oth = (const void *)(data + ihl);
	if (oth->source != m->hdr.client.port || oth->doff * 4 < sizeof(*oth) ||
	    oth->doff * 4 > len - ihl)
		return -EINVAL;

	/* The device the client's packets come in by. */
	rt = ip_route_output_key(cn->net, &fl4);
	if (IS_ERR(rt))
		return PTR_ERR(rt);
	skb = alloc_skb(len, GFP_KERNEL);
	if (!skb) {
		ip_rt_put(rt);
		return -ENOMEM;
	}
	skb_put_data(skb, data, len);
	skb_reset_mac_header(skb);
	skb_reset_network_header(skb);
	skb_set_transport_header(skb, ihl);
	iph = ip_hdr(skb);
	th = tcp_hdr(skb);
	iph->daddr = m->serve.local_addr[0];
	th->dest = m->serve.local_port;
	ip_send_check(iph);
	th->check = 0;
	th->check = tcp_v4_check(len - ihl, iph->saddr, iph->daddr,
				 csum_partial(th, len - ihl, 0));
	skb->ip_summed = CHECKSUM_NONE;
	skb->protocol = htons(ETH_P_IP);
	skb->pkt_type = PACKET_HOST;
	skb->dev = rt->dst.dev;
	netif_rx(skb);
	ip_rt_put(rt);
	return 0;
}

/* Only for a migration of ours, from its origin (a pool member). */
static void on_segment(struct capymig_net *cn, const struct tcpmig_msg_hdr *hdr,
		       const u8 *data, u32 len)
{
	struct migration_in *m = find_in(cn, hdr);

	if (!m || m->phase == IN_ABORTED) {
		capymig_count(cn->net, TCPMIG_STAT_MSG_UNEXPECTED, 1);
		return;
	}
	if (inject_segment(cn, m, data, len)) {
		capymig_count(cn->net, TCPMIG_STAT_MSG_MALFORMED, 1);
		return;
	}
	capymig_count(cn->net, TCPMIG_STAT_SEGMENTS_INJECTED, 1);
	/* The residual case of Documentation/protocol.rst, Late segments. */
	if (m->phase == IN_IMPORTED)
		capymig_count(cn->net, TCPMIG_STAT_SEGMENTS_AFTER_IMPORT, 1);
}

/*
 * Acknowledged whenever nothing is held for the migration any more: also
 * when its PREPARE never came, so that the origin stops sending ABORT.
 */
static void on_abort(struct capymig_net *cn, const struct tcpmig_msg_hdr *hdr)
{
	struct migration_in *m = find_in(cn, hdr);

	if (!m || m->phase == IN_IMPORTED) {
		capymig_count(cn->net, TCPMIG_STAT_MSG_UNEXPECTED, 1);
		if (m)
			return;
	} else if (m->phase == IN_HOLDING) {
		/*
		 * What was held is the origin's: the client sends it again.
		 * Until the origin's ABORTs are through, a PREPARE-ACK of
		 * ours still on its way may point the client here again:
		 * its segments are dropped meanwhile, never left to the
		 * listener, which would reset the connection.
		 */
		in_drop_blob(cn, m);
		m->phase = IN_ABORTED;
		in_keep(cn, m, true);
	}
	reply(cn, hdr, TCPMIG_MSG_ABORT_ACK, NULL, 0);
}

/* Receiving */

/* A fragment must sit on the fragment grid and have its exact size. */
static bool conn_state_valid(const struct tcpmig_msg_conn_state *cs, u32 len)
{
	u32 total = ntohl(cs->total_len), off = ntohl(cs->offset);

	return total && total <= TCPMIG_STATE_MAX && off < total &&
	       off % TCPMIG_FRAG_SIZE == 0 &&
	       len == min_t(u32, TCPMIG_FRAG_SIZE, total - off);
}

static bool hdr_valid(const struct tcpmig_msg_hdr *hdr)
{
	if (hdr->magic != htons(TCPMIG_MSG_MAGIC) ||
	    hdr->version != TCPMIG_MSG_VERSION ||
	    hdr->type < TCPMIG_MSG_PREPARE || hdr->type > TCPMIG_MSG_MAX ||
	    hdr->client.pad || hdr->origin.pad || hdr->target.pad)
		return false;
	switch (hdr->type) {
	case TCPMIG_MSG_LOAD:
	case TCPMIG_MSG_REGISTER:
		return true;
	case TCPMIG_MSG_PREPARE:
	case TCPMIG_MSG_PREPARE_ACK:
	case TCPMIG_MSG_CONN_STATE:
	case TCPMIG_MSG_SEGMENT:
		/* By now the switch or the origin chose the target. */
		if (!endpoint_set(&hdr->target))
			return false;
		fallthrough;
	default:
		return endpoint_set(&hdr->client) && endpoint_set(&hdr->origin);
	}
}

/* The switch's answer to a PREPARE it cannot place: its own REJECT. */
static bool from_the_switch(const struct capymig_net *cn,
			    const struct tcpmig_msg_hdr *hdr, __be32 saddr)
{
	return hdr->type == TCPMIG_MSG_REJECT &&
	       saddr == READ_ONCE(cn->switch_addr);
}

/*
 * Each message names its sender, as the switch checks too: the origin
 * (PREPARE, CONN-STATE, SEGMENT, ABORT) or, for an answer, the target.
 * So a pool member speaks for no other: it cannot withdraw another's
 * migration or write into a connection moving between two others, and
 * from_its_target() keeps it from answering for a migration whose
 * target is another.
 */
static bool from_its_sender(const struct tcpmig_msg_hdr *hdr, __be32 saddr)
{
	switch (hdr->type) {
	case TCPMIG_MSG_REJECT:
	case TCPMIG_MSG_PREPARE_ACK:
	case TCPMIG_MSG_CONN_STATE_ACK:
	case TCPMIG_MSG_ABORT_ACK:
		return saddr == hdr->target.addr;
	default:
		return saddr == hdr->origin.addr;
	}
}

/*
 * An answer to a migration of this host's names the migration's target,
 * once the origin knows which: the one the requester named; else the
 * one whose PREPARE-ACK the state went on (CONN-STATE-ACK), and the one
 * an ABORT went to (ABORT-ACK).  A server the switch picked is known
 * only from its own PREPARE-ACK, or REJECT, which the switch checks.
 * Otherwise a pool member knowing a migration's id could take its state
 * with a PREPARE-ACK naming itself, or end it with a REJECT, a
 * CONN-STATE-ACK or an ABORT-ACK, and leave the client redirected to a
 * target that no longer expects it.
 */
static bool from_its_target(struct capymig_net *cn,
			    const struct tcpmig_msg_hdr *hdr)
{
	const struct migration_out *m;
	bool known;

	switch (hdr->type) {
	case TCPMIG_MSG_REJECT:
	case TCPMIG_MSG_PREPARE_ACK:
		m = find_out(cn, hdr);
		known = m && m->named;
		break;
	case TCPMIG_MSG_CONN_STATE_ACK:
	case TCPMIG_MSG_ABORT_ACK:
		m = find_out(cn, hdr);
		known = m && endpoint_set(&m->hdr.target);
		break;
	default:
		return true;
	}
	return !known || endpoint_eq(&hdr->target, &m->hdr.target);
}

static void dispatch(struct capymig_net *cn, const u8 *msg, u32 len,
		     __be32 saddr)
{
	const struct tcpmig_msg_hdr *hdr = (const void *)msg;
	const void *body = hdr + 1;
	u32 fixed;

	if (len < sizeof(*hdr) || !hdr_valid(hdr) ||
	    len < (fixed = tcpmig_msg_len(hdr->type)) ||
	    (hdr->type != TCPMIG_MSG_CONN_STATE &&
	     hdr->type != TCPMIG_MSG_SEGMENT && len != fixed) ||
	    (hdr->type == TCPMIG_MSG_CONN_STATE &&
	     !conn_state_valid(body, len - fixed))) {
		capymig_count(cn->net, TCPMIG_STAT_MSG_MALFORMED, 1);
		return;
	}
	if (!from_the_switch(cn, hdr, saddr) &&
	    (!from_its_sender(hdr, saddr) || !from_its_target(cn, hdr))) {
		capymig_count(cn->net, TCPMIG_STAT_MSG_SPOOFED, 1);
		return;
	}

	switch (hdr->type) {
	case TCPMIG_MSG_PREPARE:
		on_prepare(cn, hdr);
		break;
	case TCPMIG_MSG_PREPARE_ACK:
		on_prepare_ack(cn, hdr);
		break;
	case TCPMIG_MSG_CONN_STATE:
		on_conn_state(cn, hdr, body, msg + fixed, len - fixed);
		break;
	case TCPMIG_MSG_CONN_STATE_ACK:
		on_conn_state_ack(cn, hdr);
		break;
	case TCPMIG_MSG_REJECT:
		on_reject(cn, hdr, body);
		break;
	case TCPMIG_MSG_ABORT:
		on_abort(cn, hdr);
		break;
	case TCPMIG_MSG_SEGMENT:
		capymig_count(cn->net, TCPMIG_STAT_SEGMENTS_RECEIVED, 1);
		on_segment(cn, hdr, body, len - sizeof(*hdr));
		break;
	case TCPMIG_MSG_ABORT_ACK:
		on_abort_ack(cn, hdr);
		break;
	default:
		/* REGISTER is the switch's; LOAD never comes this far. */
		capymig_count(cn->net, TCPMIG_STAT_MSG_UNEXPECTED, 1);
	}
}

static void rx_work(struct work_struct *work)
{
	struct capymig_net *cn = container_of(work, struct capymig_net,
					      rx_work);
	struct sk_buff *skb;

	while ((skb = skb_dequeue(&cn->rx))) {
		int off = skb_transport_offset(skb) + sizeof(struct udphdr);

		if (skb_linearize(skb) || off < 0 || off > skb->len) {
			capymig_count(cn->net, TCPMIG_STAT_MSG_MALFORMED, 1);
			kfree_skb(skb);
		} else {
			mutex_lock(&cn->lock);
			dispatch(cn, skb->data + off, skb->len - off,
				 ip_hdr(skb)->saddr);
			mutex_unlock(&cn->lock);
			consume_skb(skb);	/* read: no drop to report */
		}
		/* A flood of messages must not hold this CPU. */
		cond_resched();
	}
}

/* Timers: retransmit what is unanswered, give up past deadlines. */

/* Past @m's deadline: what giving up means depends on the phase. */
static void out_expire(struct capymig_net *cn, struct migration_out *m)
{
	switch (m->phase) {
	case OUT_PREPARING:
		out_abort(cn, m, TCPMIG_EVENT_FAILED, -ETIMEDOUT);
		return;
	case OUT_TRANSFERRING:
		/* The target went silent holding the connection. */
		capymig_count(cn->net, TCPMIG_STAT_MIGRATIONS_FAILED, 1);
		notify(cn, TCPMIG_EVENT_FAILED, &m->hdr, &m->tuple, -ETIMEDOUT);
		break;
	case OUT_FORWARDING:
	case OUT_ABORTING:
		break;
	}
	out_free(m);
}

static void tick_out(struct capymig_net *cn, struct migration_out *m)
{
	if (time_after(jiffies, m->deadline)) {
		out_expire(cn, m);
		return;
	}
	if (m->phase == OUT_FORWARDING || time_before(jiffies, m->next_tx))
		return;
	if (m->phase == OUT_PREPARING)
		send_prepare(cn, m);
	else if (m->phase == OUT_ABORTING)
		send_abort(cn, m);
	else
		send_state(cn, m);
	capymig_count(cn->net, TCPMIG_STAT_MSG_RETRANSMITS, 1);
	m->rto = min(m->rto * 2, RTO_MAX);
	m->next_tx = jiffies + m->rto;
}

static void proto_tick(struct work_struct *work)
{
	struct capymig_net *cn = container_of(to_delayed_work(work),
					      struct capymig_net, proto_tick);
	struct migration_out *o, *otmp;
	struct migration_in *i, *itmp;

	mutex_lock(&cn->lock);
	list_for_each_entry_safe(o, otmp, &cn->out, node)
		tick_out(cn, o);
	list_for_each_entry_safe(i, itmp, &cn->in, node)
		if (time_after(jiffies, i->deadline))
			in_free(cn, i);	/* an unused hold expires by itself */
	if (!list_empty(&cn->out) || !list_empty(&cn->in))
		kick_tick(cn);
	mutex_unlock(&cn->lock);
}

bool capymig_proto_rcv_load(struct capymig_net *cn, struct sk_buff *skb,
			    bool from_switch)
{
	struct {
		struct tcpmig_msg_hdr hdr;
		struct tcpmig_msg_load load;
	} buf, *msg;
	int off = skb_transport_offset(skb) + sizeof(struct udphdr);
	u8 type;

	if (skb_copy_bits(skb, off + offsetof(struct tcpmig_msg_hdr, type),
			  &type, sizeof(type)) || type != TCPMIG_MSG_LOAD)
		return false;
	msg = skb_header_pointer(skb, off, sizeof(buf), &buf);
	if (!msg || skb->len - off != sizeof(buf) || !hdr_valid(&msg->hdr)) {
		capymig_count(cn->net, TCPMIG_STAT_MSG_MALFORMED, 1);
		return true;
	}
	/* The switch's word on the load is worth only the switch's. */
	if (!from_switch) {
		capymig_count(cn->net, TCPMIG_STAT_MSG_UNEXPECTED, 1);
		return true;
	}
	/* The switch sends one per server endpoint: say which this is. */
	capymig_genl_notify(cn->net, &(struct capymig_event) {
		.type = TCPMIG_EVENT_LOAD, .load = &msg->load,
		.target = &msg->hdr.target,
	});
	return true;
}

/* Heartbeats */

/* The address the switch sees this host's messages come from. */
static __be32 source_towards(struct net *net, __be32 daddr)
{
	struct flowi4 fl4 = { .daddr = daddr };
	struct rtable *rt = ip_route_output_key(net, &fl4);

	if (IS_ERR(rt))
		return 0;
	ip_rt_put(rt);
	return fl4.saddr;
}

/*
 * REGISTER names this host by address alone (port 0): the module does
 * not know which ports it serves, and a host's liveness, weight and
 * draining are the same for all of them.  The switch applies it to every
 * server of the pool at that address.
 */
static void send_register(struct capymig_net *cn)
{
	struct tcpmig_msg_register reg = {
		.flags = htonl(cn->config_flags & TCPMIG_CONFIG_F_DRAINING ?
			       TCPMIG_REGISTER_F_DRAINING : 0),
		.weight = htonl(cn->weight),
	};
	struct tcpmig_msg_hdr hdr = {};

	hdr.origin.addr = source_towards(cn->net, cn->switch_addr);
	if (hdr.origin.addr)
		send_msg(cn, cn->switch_addr, &hdr, TCPMIG_MSG_REGISTER, &reg,
			 sizeof(reg), NULL, 0);
}

static bool heartbeating(const struct capymig_net *cn)
{
	return cn->heartbeat_ms && cn->sock && cn->switch_addr;
}

static void heartbeat(struct work_struct *work)
{
	struct capymig_net *cn = container_of(to_delayed_work(work),
					      struct capymig_net, heartbeat);

	mutex_lock(&cn->lock);
	if (heartbeating(cn)) {
		send_register(cn);
		queue_delayed_work(system_power_efficient_wq, &cn->heartbeat,
				   msecs_to_jiffies(cn->heartbeat_ms));
	}
	mutex_unlock(&cn->lock);
}

int capymig_proto_configure(struct capymig_net *cn,
			    const struct capymig_proto_config *c,
			    const char **why)
{
	u16 port, sw_port;
	bool reopen;
	int err;

	mutex_lock(&cn->lock);
	port = c->port ?: cn->port;
	sw_port = ntohs(c->sw ? c->sw->port : cn->switch_port);
	/* A new port, or the first switch: TCPMig's socket opens. */
	reopen = c->port ? c->port != cn->port || !cn->sock :
			   c->sw && !cn->sock;
	/* Every member, the switch too, listens on the one TCPMig port. */
	if (sw_port && sw_port != port) {
		mutex_unlock(&cn->lock);
		*why = "the switch's TCPMig port must be this host's";
		return -EINVAL;
	}
	err = reopen ? capymig_socket_open(cn, port) : 0;
	if (err) {
		mutex_unlock(&cn->lock);
		*why = "cannot open the TCPMig UDP socket";
		return err;
	}
	/* Pool members' imports act with the configuring admin's authority. */
	put_cred(cn->cred);
	cn->cred = get_current_cred();
	if (c->timeout_ms)
		cn->timeout_ms = c->timeout_ms;
	if (c->heartbeat_ms)
		cn->heartbeat_ms = *c->heartbeat_ms;
	if (c->weight)
		cn->weight = *c->weight;
	if (c->flags)
		cn->config_flags = *c->flags;
	if (c->sw) {
		WRITE_ONCE(cn->switch_addr, c->sw->addr);
		cn->switch_port = c->sw->port;
	}
	/* The switch hears of a change at once; the worker stops by itself. */
	if (heartbeating(cn))
		mod_delayed_work(system_power_efficient_wq, &cn->heartbeat, 0);
	mutex_unlock(&cn->lock);
	return 0;
}

void capymig_proto_net_init(struct capymig_net *cn)
{
	mutex_init(&cn->lock);
	INIT_LIST_HEAD(&cn->peers);
	INIT_LIST_HEAD(&cn->out);
	INIT_LIST_HEAD(&cn->in);
	skb_queue_head_init(&cn->rx);
	INIT_WORK(&cn->rx_work, rx_work);
	INIT_DELAYED_WORK(&cn->proto_tick, proto_tick);
	INIT_WORK(&cn->forward, forward_work);
	INIT_DELAYED_WORK(&cn->heartbeat, heartbeat);
	cn->port = TCPMIG_PORT_DEFAULT;
	cn->heartbeat_ms = CAPYMIG_HEARTBEAT_MS;
	cn->weight = 1;
	cn->timeout_ms = CAPYMIG_MIGRATION_TIMEOUT_MS;
	cn->next_id = get_random_u32();
}

void capymig_proto_net_pre_exit(struct capymig_net *cn)
{
	mutex_lock(&cn->lock);
	capymig_socket_close(cn);
	mutex_unlock(&cn->lock);
}

/*
 * After a grace period: no receive in softirq holds @cn from the socket
 * any more.  What did arrive is finished with, then everything freed.
 */
void capymig_proto_net_exit(struct capymig_net *cn)
{
	struct migration_out *o, *otmp;
	struct migration_in *i, *itmp;

	cancel_work_sync(&cn->rx_work);
	cancel_delayed_work_sync(&cn->proto_tick);
	/* Without a socket it does not queue itself again. */
	cancel_delayed_work_sync(&cn->heartbeat);
	skb_queue_purge(&cn->rx);

	mutex_lock(&cn->lock);
	list_for_each_entry_safe(o, otmp, &cn->out, node)
		out_free(o);
	list_for_each_entry_safe(i, itmp, &cn->in, node)
		in_free(cn, i);
	capymig_peer_flush(cn);
	put_cred(cn->cred);
	mutex_unlock(&cn->lock);
}
