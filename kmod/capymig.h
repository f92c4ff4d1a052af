/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Declarations shared between the files of the capymig module.
 */
#ifndef _CAPYMIG_H
#define _CAPYMIG_H

#include <linux/capymig.h>
#include <linux/rhashtable-types.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>
#include <net/netlink.h>
#include <net/netns/generic.h>

struct capymig_state;
struct capymig_blob;

/**
 * struct capymig_net - capymig's state in one network namespace
 * @net: the namespace; not a reference, the state lives exactly as long.
 * @holds: number of entries in @hold_table; the packet hook's fast path.
 * @hold_table: connections whose packets are held (hold.c).
 * @hold_gc: drops holds whose import never came.
 * @stats: counters reported by GET_INFO, indexed by enum tcpmig_stat.
 */
struct capymig_net {
	struct net *net;
	atomic_t holds;
	struct rhashtable hold_table;
	struct delayed_work hold_gc;
	atomic64_t stats[__TCPMIG_STAT_MAX];
};

extern unsigned int capymig_net_id;

/*
 * NL_SET_ERR_MSG() takes only literals; refusal reasons are chosen at run
 * time, always among static strings.
 */
static inline void capymig_set_err(struct netlink_ext_ack *extack,
				   const char *msg)
{
	if (extack)
		extack->_msg = msg;
}

static inline struct capymig_net *capymig_pernet(const struct net *net)
{
	return net_generic(net, capymig_net_id);
}

static inline void capymig_count(const struct net *net, enum tcpmig_stat stat,
				 s64 n)
{
	atomic64_add(n, &capymig_pernet(net)->stats[stat]);
}

int capymig_netns_init(void);
void capymig_netns_exit(void);

int capymig_genl_init(void);
void capymig_genl_exit(void);
void capymig_genl_notify(struct net *net, enum tcpmig_event event,
			 const struct capymig_tuple *tuple, int error,
			 u32 state_len);

/* Why @sk cannot be exported, or NULL.  Exact under the socket lock. */
const char *capymig_export_refusal(const struct sock *sk);

/* Exports @sk (referenced by the caller) into @blob. */
int capymig_export(struct sock *sk, struct capymig_blob *blob,
		   struct netlink_ext_ack *extack);

/*
 * Imports @st into @net, served as @serve (NULL: as exported), into the
 * listener's accept queue or, with @file, as a new file.
 */
int capymig_import(struct net *net, const struct capymig_state *st,
		   const struct capymig_tuple *serve, u64 listener_cookie,
		   struct file **file, struct netlink_ext_ack *extack);
int capymig_import_init(void);
void capymig_import_exit(void);

#endif /* _CAPYMIG_H */
