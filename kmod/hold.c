// SPDX-License-Identifier: GPL-2.0
/*
 * Holding a connection's packets while nobody owns its state.
 *
 * Between the moment a connection's packets start arriving at a host and
 * the moment its state is imported there, the stack would hand them to
 * the listener, which answers with a reset.  A netfilter hook at LOCAL_IN
 * steals the packets of held tuples instead and queues them; the import
 * replays them in order through the rest of the input path.  The origin
 * holds its own exported tuples the same way, so a packet that reaches it
 * after the export is not reset either: it waits for a local import, goes
 * on at once to the target TCPMig moved the connection to, or is dropped
 * when the hold expires and the client retransmits it to wherever the
 * connection went.
 *
 * The hook costs one atomic read per local TCP packet when nothing is held.
 */
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/netdevice.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/rhashtable.h>
#include <linux/skbuff.h>
#include <linux/tcp.h>
#include <net/sock.h>

#include "capymig.h"
#include "hold.h"

/* Holds one namespace may have at once: each may pin up to a window. */
#define HOLD_MAX_PER_NET	65536
/* How often expired holds are looked for, while there are any. */
#define HOLD_GC_INTERVAL	msecs_to_jiffies(100)

/**
 * struct capymig_hold - the held packets of one connection
 * @node: in the namespace's table, keyed by @key.
 * @key: the connection as this host serves it.
 * @queue: the packets, in arrival order; its lock guards the fields below.
 * @mem: memory the packets held take (their truesize), charged as a
 *	socket's receive queue charges it: the peer cannot send beyond the
 *	receive window it was given, which the kernel sizes so that the
 *	packets carrying it fit the receive buffer, and no receive buffer
 *	TCP grows or SO_RCVBUF sets is larger than hold_limit(); anything
 *	more is dropped (for SO_RCVBUFFORCE's larger ones, sent again by
 *	the client).  Payload alone would let a flood of empty segments,
 *	which no window bounds, pin thousands of times more.
 * @released: the hold is over; the hook lets packets pass again.
 * @drop: drop the packets instead of holding them (capymig_hold_block).
 * @forward: an origin sends them on to the connection's new host: each
 *	one held queues the namespace's forwarding (capymig_hold_forward).
 * @okfn: where LOCAL_IN would have sent the packets next.
 * @expires: jiffies after which everything held is dropped.
 * @rcu: frees the entry after the hook is done looking at it.
 */
struct capymig_hold {
	struct rhash_head node;
	struct capymig_tuple key;
	struct sk_buff_head queue;
	u32 mem;
	bool released;
	bool drop;
	bool forward;
	int (*okfn)(struct net *net, struct sock *sk, struct sk_buff *skb);
	unsigned long expires;
	struct rcu_head rcu;
};

static const struct rhashtable_params hold_params = {
	.key_len = sizeof(struct capymig_tuple),
	.key_offset = offsetof(struct capymig_hold, key),
	.head_offset = offsetof(struct capymig_hold, node),
	.automatic_shrinking = true,
};

/*
 * The tuple of a received TCP segment, as this host serves it.  At
 * LOCAL_IN the packet is reassembled and its transport header is set.
 */
static bool skb_tuple(struct sk_buff *skb, struct capymig_tuple *t)
{
	const struct tcphdr *th;

	memset(t, 0, sizeof(*t));
	if (skb->protocol == htons(ETH_P_IP)) {
		const struct iphdr *iph = ip_hdr(skb);

		if (iph->protocol != IPPROTO_TCP)
			return false;
		t->family = AF_INET;
		t->local_addr[0] = iph->daddr;
		t->remote_addr[0] = iph->saddr;
	} else {
		const struct ipv6hdr *ip6h = ipv6_hdr(skb);

		/* Extension headers before TCP are not looked through. */
		if (ip6h->nexthdr != IPPROTO_TCP)
			return false;
		t->family = AF_INET6;
		memcpy(t->local_addr, &ip6h->daddr, sizeof(t->local_addr));
		memcpy(t->remote_addr, &ip6h->saddr, sizeof(t->remote_addr));
	}
	if (!pskb_may_pull(skb, skb_transport_offset(skb) + sizeof(*th)))
		return false;
	th = tcp_hdr(skb);
	t->local_port = th->dest;
	t->remote_port = th->source;
	return true;
}

/*
 * The largest receive buffer a connection may have: tcp_rmem[2], which
 * autotuning grows it to, or twice net.core.rmem_max, which SO_RCVBUF
 * may ask for (the kernel doubles what it is given).
 */
static u64 hold_limit(const struct net *net)
{
	return max_t(u64, READ_ONCE(net->ipv4.sysctl_tcp_rmem[2]),
		     2ULL * READ_ONCE(sysctl_rmem_max));
}

static unsigned int hold_hook(void *priv, struct sk_buff *skb,
			      const struct nf_hook_state *state)
{
	struct capymig_net *cn = capymig_pernet(state->net);
	struct capymig_tuple t;
	struct capymig_hold *h;
	unsigned int verdict;

	if (likely(!atomic_read(&cn->holds)))
		return NF_ACCEPT;
	if (!skb_tuple(skb, &t))
		return NF_ACCEPT;

	/* Hooks run under RCU: @h stays valid until we return. */
	h = rhashtable_lookup_fast(&cn->hold_table, &t, hold_params);
	if (!h)
		return NF_ACCEPT;

	/*
	 * Early demux attached the socket the tuple had when the packet was
	 * routed; replayed, the packet must look its socket up afresh.  The
	 * route may be a reference-less one, valid only in this RCU section.
	 */
	skb_orphan(skb);
	if (!skb_dst_force(skb))
		return NF_DROP;

	spin_lock_bh(&h->queue.lock);
	if (h->released) {
		/* Released while we looked: the new owner takes it. */
		verdict = NF_ACCEPT;
	} else if (h->drop) {
		capymig_count(state->net, TCPMIG_STAT_NO_HOLD_DROPS, 1);
		verdict = NF_DROP;
	} else if ((u64)h->mem + skb->truesize > hold_limit(state->net)) {
		capymig_count(state->net, TCPMIG_STAT_HOLD_OVERFLOWS, 1);
		verdict = NF_DROP;
	} else {
		h->mem += skb->truesize;
		h->okfn = state->okfn;
		__skb_queue_tail(&h->queue, skb);
		/* Bound to this CPU, it runs as soon as the softirq ends. */
		if (h->forward)
			queue_work(system_highpri_wq, &cn->forward);
		capymig_count(state->net, TCPMIG_STAT_HELD_PACKETS, 1);
		verdict = NF_STOLEN;
	}
	spin_unlock_bh(&h->queue.lock);
	return verdict;
}

/*
 * Last but conntrack's confirmation: a held packet is replayed straight to
 * where LOCAL_IN would have sent it next, so every hook after this one is
 * skipped for it.  Run any earlier and a firewall's chain there (firewalld
 * filters at the filter priority + 10), security marking or NAT would
 * never see the packets held.  Unconfirmed, a held packet's conntrack
 * entry goes with it, and the connection's next packet makes it again.
 */
static const struct nf_hook_ops hold_hook_ops[] = {
	{
		.hook = hold_hook,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_LOCAL_IN,
		.priority = NF_IP_PRI_LAST - 1,
	},
	{
		.hook = hold_hook,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_LOCAL_IN,
		.priority = NF_IP6_PRI_LAST - 1,
	},
};

/*
 * A hold keeps the module, as a migration does: unloaded, it would let
 * its packets reach the listener, which resets the connection.  Taken
 * when a hold is made, dropped when it is freed; the module's exit waits
 * for the RCU callbacks that free them (rcu_barrier()).
 */
static void hold_free(struct capymig_hold *h)
{
	skb_queue_purge(&h->queue);
	kfree(h);
	module_put(THIS_MODULE);
}

static void hold_free_rcu(struct rcu_head *rcu)
{
	hold_free(container_of(rcu, struct capymig_hold, rcu));
}

/*
 * A hold ends once, under its queue's lock, when it is marked released:
 * whoever marks it takes it out of the table and frees it (hold_unlink()).
 * Until then a released hold is dead: a new hold of its tuple takes its
 * place in the table instead of extending it (hold_insert()).
 */

/*
 * Ends @h, if it is still live and, with @expired, past its expiry (read
 * under the lock a renewal writes it under): its packets moved to @queue.
 */
static bool hold_end(struct capymig_hold *h, struct sk_buff_head *queue,
		     bool expired)
{
	bool end;

	__skb_queue_head_init(queue);
	spin_lock_bh(&h->queue.lock);
	end = !h->released && (!expired || time_after(jiffies, h->expires));
	if (end) {
		h->released = true;
		skb_queue_splice_init(&h->queue, queue);
	}
	spin_unlock_bh(&h->queue.lock);
	return end;
}

/* Out of the table, unless a new hold took its place, and freed. */
static void hold_unlink(struct capymig_net *cn, struct capymig_hold *h)
{
	if (!rhashtable_remove_fast(&cn->hold_table, &h->node, hold_params))
		atomic_dec(&cn->holds);
	call_rcu(&h->rcu, hold_free_rcu);
}

static void hold_gc(struct work_struct *work)
{
	struct capymig_net *cn = container_of(to_delayed_work(work),
					      struct capymig_net, hold_gc);
	struct rhashtable_iter iter;
	struct sk_buff_head dropped;
	struct capymig_hold *h;

	rhashtable_walk_enter(&cn->hold_table, &iter);
	rhashtable_walk_start(&iter);
	while ((h = rhashtable_walk_next(&iter))) {
		if (IS_ERR(h) || !time_after(jiffies, READ_ONCE(h->expires)))
			continue;
		if (!hold_end(h, &dropped, true))
			continue;
		capymig_count(cn->net, TCPMIG_STAT_HOLD_EXPIRED,
			      skb_queue_len(&dropped));
		capymig_genl_notify(cn->net, &(struct capymig_event) {
			.type = TCPMIG_EVENT_HOLD_EXPIRED, .tuple = &h->key,
		});
		__skb_queue_purge(&dropped);
		hold_unlink(cn, h);
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);

	if (atomic_read(&cn->holds))
		queue_delayed_work(system_power_efficient_wq, &cn->hold_gc,
				   HOLD_GC_INTERVAL);
}

/*
 * Renews @h, if it is still live: its expiry pushed back to @expires
 * (never forward), and it holds from then on or, with @drop, blocks.  A
 * target blocks what it held when the origin withdraws the migration, in
 * one step, so that no segment slips through to the listener meanwhile,
 * and holds again if a migration of the tuple comes back.  What a block
 * finds held is the origin's: dropped, the client sends it again.  Either
 * way the tuple is a target's now, held for its import here: no longer
 * forwarded.
 */
static bool hold_renew(struct capymig_hold *h, unsigned long expires,
		       bool drop)
{
	struct sk_buff_head dropped;
	bool live;

	__skb_queue_head_init(&dropped);
	spin_lock_bh(&h->queue.lock);
	live = !h->released;
	if (live) {
		if (time_after(expires, h->expires))
			WRITE_ONCE(h->expires, expires);
		h->drop = drop;
		h->forward = false;
		if (drop) {
			skb_queue_splice_init(&h->queue, &dropped);
			h->mem = 0;
		}
	}
	spin_unlock_bh(&h->queue.lock);
	__skb_queue_purge(&dropped);
	return live;
}

static int hold_insert(struct net *net, const struct capymig_tuple *t,
		       unsigned int timeout_ms, bool drop)
{
	struct capymig_net *cn = capymig_pernet(net);
	unsigned long expires = jiffies + msecs_to_jiffies(timeout_ms);
	struct capymig_hold *h, *old;
	bool renewed;

	/* Already there (a target extends its hold as the state arrives). */
	rcu_read_lock();
	old = rhashtable_lookup_fast(&cn->hold_table, t, hold_params);
	renewed = old && hold_renew(old, expires, drop);
	rcu_read_unlock();
	if (renewed)
		return 0;

	/* Before anyone can find it in the table, and free it. */
	if (!try_module_get(THIS_MODULE))
		return -ESHUTDOWN;	/* being unloaded: nothing may begin */
	h = kzalloc(sizeof(*h), GFP_KERNEL);
	if (!h) {
		module_put(THIS_MODULE);
		return -ENOMEM;
	}
	h->key = *t;
	h->drop = drop;
	h->expires = expires;
	skb_queue_head_init(&h->queue);

	if (atomic_inc_return(&cn->holds) > HOLD_MAX_PER_NET) {
		atomic_dec(&cn->holds);
		hold_free(h);
		return -ENOSPC;
	}
	rcu_read_lock();
	for (;;) {
		old = rhashtable_lookup_get_insert_fast(&cn->hold_table,
							&h->node, hold_params);
		if (IS_ERR_OR_NULL(old) || hold_renew(old, expires, drop))
			break;
		/*
		 * Dead, not yet unlinked by whoever ended it: take its place,
		 * and its count.  Gone meanwhile: insert again.
		 */
		if (!rhashtable_replace_fast(&cn->hold_table, &old->node,
					     &h->node, hold_params)) {
			atomic_dec(&cn->holds);
			old = NULL;
			break;
		}
	}
	rcu_read_unlock();
	if (old) {
		/* An error, or held meanwhile and renewed. */
		atomic_dec(&cn->holds);
		hold_free(h);
		return IS_ERR(old) ? PTR_ERR(old) : 0;
	}

	queue_delayed_work(system_power_efficient_wq, &cn->hold_gc,
			   HOLD_GC_INTERVAL);
	return 1;
}

int capymig_hold_start(struct net *net, const struct capymig_tuple *t,
		       unsigned int timeout_ms)
{
	return hold_insert(net, t, timeout_ms, false);
}

int capymig_hold_block(struct net *net, const struct capymig_tuple *t,
		       unsigned int timeout_ms)
{
	return hold_insert(net, t, timeout_ms, true);
}

void capymig_hold_forward(struct net *net, const struct capymig_tuple *t)
{
	struct capymig_net *cn = capymig_pernet(net);
	struct capymig_hold *h;

	rcu_read_lock();
	h = rhashtable_lookup_fast(&cn->hold_table, t, hold_params);
	if (h) {
		spin_lock_bh(&h->queue.lock);
		h->forward = true;
		spin_unlock_bh(&h->queue.lock);
	}
	rcu_read_unlock();
}

void capymig_hold_release(struct net *net, const struct capymig_tuple *t)
{
	struct capymig_net *cn = capymig_pernet(net);
	struct sk_buff_head queue;
	struct capymig_hold *h;
	struct sk_buff *skb;
	bool ended = false, mine = false;

	rcu_read_lock();
	h = rhashtable_lookup_fast(&cn->hold_table, t, hold_params);
	if (!h) {
		rcu_read_unlock();
		return;
	}

	/*
	 * Through the rest of the input path, in arrival order, with bottom
	 * halves off as in packet reception; the new socket is hashed, so
	 * each packet finds it.  The hook goes on queueing meanwhile: the
	 * socket is live and its peer answers it, and a packet let through
	 * now would overtake those still held - a reordering the peer would
	 * repair with spurious retransmissions.  Packets pass again only
	 * once the queue is empty.
	 */
	__skb_queue_head_init(&queue);
	local_bh_disable();
	while (!ended) {
		spin_lock(&h->queue.lock);
		/* An expiry that ended the hold meanwhile dropped the rest. */
		ended = h->released || skb_queue_empty(&h->queue);
		if (ended && !h->released) {
			h->released = true;
			mine = true;
		} else if (!ended) {
			h->mem = 0;
			skb_queue_splice_init(&h->queue, &queue);
		}
		spin_unlock(&h->queue.lock);
		while ((skb = __skb_dequeue(&queue)))
			h->okfn(net, NULL, skb);
	}
	local_bh_enable();

	if (mine)
		hold_unlink(cn, h);
	rcu_read_unlock();
}

unsigned int capymig_hold_take(struct net *net, const struct capymig_tuple *t,
			       struct sk_buff_head *queue)
{
	struct capymig_net *cn = capymig_pernet(net);
	struct capymig_hold *h;

	__skb_queue_head_init(queue);
	rcu_read_lock();
	h = rhashtable_lookup_fast(&cn->hold_table, t, hold_params);
	if (h) {
		spin_lock_bh(&h->queue.lock);
		if (!h->released && h->forward) {
			skb_queue_splice_init(&h->queue, queue);
			h->mem = 0;
		}
		spin_unlock_bh(&h->queue.lock);
	}
	rcu_read_unlock();
	return skb_queue_len(queue);
}

void capymig_hold_drop(struct net *net, const struct capymig_tuple *t)
{
	struct capymig_net *cn = capymig_pernet(net);
	struct sk_buff_head dropped;
	struct capymig_hold *h;

	rcu_read_lock();
	h = rhashtable_lookup_fast(&cn->hold_table, t, hold_params);
	if (h && hold_end(h, &dropped, false)) {
		__skb_queue_purge(&dropped);
		hold_unlink(cn, h);
	}
	rcu_read_unlock();
}

/* Held packets pin their device: a device going away drops them. */
static void hold_flush_dev(struct capymig_net *cn, struct net_device *dev)
{
	struct rhashtable_iter iter;
	struct capymig_hold *h;
	struct sk_buff *skb, *tmp;

	rhashtable_walk_enter(&cn->hold_table, &iter);
	rhashtable_walk_start(&iter);
	while ((h = rhashtable_walk_next(&iter))) {
		if (IS_ERR(h))
			continue;
		spin_lock_bh(&h->queue.lock);
		skb_queue_walk_safe(&h->queue, skb, tmp) {
			if (skb->dev != dev)
				continue;
			__skb_unlink(skb, &h->queue);
			h->mem -= skb->truesize;
			kfree_skb(skb);
		}
		spin_unlock_bh(&h->queue.lock);
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);
}

static int hold_netdev_event(struct notifier_block *nb, unsigned long event,
			     void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);

	if (event == NETDEV_UNREGISTER)
		hold_flush_dev(capymig_pernet(dev_net(dev)), dev);
	return NOTIFY_DONE;
}

static struct notifier_block hold_netdev_notifier = {
	.notifier_call = hold_netdev_event,
};

int capymig_hold_net_init(struct capymig_net *cn)
{
	int err;

	atomic_set(&cn->holds, 0);
	INIT_DELAYED_WORK(&cn->hold_gc, hold_gc);
	err = rhashtable_init(&cn->hold_table, &hold_params);
	if (err)
		return err;
	err = nf_register_net_hooks(cn->net, hold_hook_ops,
				    ARRAY_SIZE(hold_hook_ops));
	if (err)
		rhashtable_destroy(&cn->hold_table);
	return err;
}

static void hold_free_now(void *ptr, void *arg)
{
	hold_free(ptr);
}

/*
 * Unregistering a hook does not wait for the packets in it: a grace
 * period must pass before what the hook looks at (the table, its holds,
 * the namespace's state) is freed, and the namespace's exit (or the
 * module's) runs one after this.
 */
void capymig_hold_net_pre_exit(struct capymig_net *cn)
{
	nf_unregister_net_hooks(cn->net, hold_hook_ops,
				ARRAY_SIZE(hold_hook_ops));
}

/* The namespace is going: no packet arrives any more, nobody imports. */
void capymig_hold_net_exit(struct capymig_net *cn)
{
	/* Nothing queues it any more. */
	cancel_work_sync(&cn->forward);
	cancel_delayed_work_sync(&cn->hold_gc);
	rhashtable_free_and_destroy(&cn->hold_table, hold_free_now, NULL);
}

int capymig_hold_init(void)
{
	return register_netdevice_notifier(&hold_netdev_notifier);
}

void capymig_hold_exit(void)
{
	unregister_netdevice_notifier(&hold_netdev_notifier);
}
