// SPDX-License-Identifier: GPL-2.0
/*
 * Pool membership.  Migration messages move connections in and out of a
 * host, so they are accepted only from the servers an administrator put
 * in the pool, and from the switch.  The list is read for every received
 * message, in softirq, and changed rarely: an RCU list.
 */
#include <linux/rculist.h>
#include <linux/slab.h>

#include "capymig.h"
#include "peer.h"

struct capymig_peer {
	struct list_head node;
	__be32 addr;
	struct rcu_head rcu;
};

static struct capymig_peer *find(struct capymig_net *cn, __be32 addr)
{
	struct capymig_peer *p;

	list_for_each_entry(p, &cn->peers, node)
		if (p->addr == addr)
			return p;
	return NULL;
}

int capymig_peer_add(struct capymig_net *cn, __be32 addr)
{
	struct capymig_peer *p;

	lockdep_assert_held(&cn->lock);
	if (find(cn, addr))
		return -EEXIST;
	if (cn->npeers >= TCPMIG_POOL_MAX)
		return -ENOSPC;
	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->addr = addr;
	list_add_tail_rcu(&p->node, &cn->peers);
	cn->npeers++;
	return 0;
}

int capymig_peer_del(struct capymig_net *cn, __be32 addr)
{
	struct capymig_peer *p;

	lockdep_assert_held(&cn->lock);
	p = find(cn, addr);
	if (!p)
		return -ENOENT;
	list_del_rcu(&p->node);
	cn->npeers--;
	kfree_rcu(p, rcu);
	return 0;
}

bool capymig_peer_is_member(struct capymig_net *cn, __be32 addr)
{
	struct capymig_peer *p;
	bool found = false;

	rcu_read_lock();
	list_for_each_entry_rcu(p, &cn->peers, node) {
		if (p->addr == addr) {
			found = true;
			break;
		}
	}
	rcu_read_unlock();
	return found;
}

int capymig_peer_for_each(struct capymig_net *cn,
			  int (*fn)(__be32 addr, void *arg), void *arg)
{
	struct capymig_peer *p;
	int ret = 0;

	rcu_read_lock();
	list_for_each_entry_rcu(p, &cn->peers, node) {
		ret = fn(p->addr, arg);
		if (ret)
			break;
	}
	rcu_read_unlock();
	return ret;
}

void capymig_peer_flush(struct capymig_net *cn)
{
	struct capymig_peer *p, *tmp;

	list_for_each_entry_safe(p, tmp, &cn->peers, node) {
		list_del_rcu(&p->node);
		kfree_rcu(p, rcu);
	}
	cn->npeers = 0;
}
