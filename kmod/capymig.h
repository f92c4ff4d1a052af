/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Declarations shared between the files of the capymig module.
 */
#ifndef _CAPYMIG_H
#define _CAPYMIG_H

#include <linux/capymig.h>
#include <linux/rhashtable-types.h>
#include <linux/skbuff.h>
#include <linux/uio.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>
#include <net/netlink.h>
#include <net/netns/generic.h>

struct capymig_state;
struct capymig_blob;
struct capymig_blob_out;

/**
 * struct capymig_net - capymig's state in one network namespace
 * @net: the namespace; not a reference, the state lives exactly as long.
 * @holds: number of entries in @hold_table; the packet hook's fast path.
 * @hold_table: connections whose packets are held (hold.c).
 * @hold_gc: drops holds whose import never came.
 * @stats: counters reported by GET_INFO, indexed by enum tcpmig_stat.
 * @importing_lock: guards @importing.
 * @importing: the imports under way (import.c), which no export may take.
 * @lock: guards everything below (protocol.c, peer.c, socket.c).
 * @sock: the TCPMig UDP socket, once configured.
 * @port: its port, host order.
 * @switch_addr: the switch; read locklessly on receive.
 * @switch_port: the switch's TCPMig port.
 * @timeout_ms: how long a migration may take.
 * @cred: the authority of whoever configured TCPMig: imports the
 *	protocol makes act with it.
 * @config_flags: TCPMIG_CONFIG_F_*.
 * @heartbeat_ms: interval of the REGISTERs to the switch, 0 for none.
 * @weight: this server's weight, sent in REGISTER.
 * @heartbeat: sends them.
 * @peers: the pool, an RCU list (peer.c); @npeers long.
 * @out: migrations this host is the origin of.
 * @in: migrations this host is the target of.
 * @next_id: the next migration's id.
 * @reassembly_bytes: memory of incoming states being reassembled.
 * @rx: received messages waiting for @rx_work.
 * @rx_work: handles them.
 * @proto_tick: retransmits and expires, while migrations are under way.
 * @forward: sends what the holds of exported connections catch on to
 *	their targets; the hold hook queues it (hold.c).
 */
struct capymig_net {
	struct net *net;
	atomic_t holds;
	struct rhashtable hold_table;
	struct delayed_work hold_gc;
	atomic64_t stats[__TCPMIG_STAT_MAX];
	spinlock_t importing_lock;
	struct list_head importing;

	struct mutex lock;
	struct socket *sock;
	u16 port;
	__be32 switch_addr;
	__be16 switch_port;
	u32 timeout_ms;
	const struct cred *cred;
	u32 config_flags;
	u32 heartbeat_ms;
	u32 weight;
	struct delayed_work heartbeat;
	struct list_head peers;
	unsigned int npeers;
	struct list_head out;
	struct list_head in;
	u32 next_id;
	u32 reassembly_bytes;
	struct sk_buff_head rx;
	struct work_struct rx_work;
	struct delayed_work proto_tick;
	struct work_struct forward;
};

/**
 * struct capymig_event - what an event message says
 * @type: what happened.
 * @tuple: the connection, as the reporting host serves it.
 * @error: negative errno for refusals and failures, else 0.
 * @state_len: the size of a state blob moved, or 0.
 * @migration_id: the TCPMig migration, or 0.
 * @target: the migration's target, or NULL.
 * @load: a LOAD-NOTIFICATION, for %TCPMIG_EVENT_LOAD (no @tuple).
 */
struct capymig_event {
	enum tcpmig_event type;
	const struct capymig_tuple *tuple;
	int error;
	u32 state_len;
	u32 migration_id;
	const struct tcpmig_endpoint *target;
	const struct tcpmig_msg_load *load;
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
void capymig_genl_notify(struct net *net, const struct capymig_event *ev);

/* Why @sk cannot be exported, or NULL.  Exact under the socket lock. */
const char *capymig_export_refusal(const struct sock *sk);
/*
 * Why @sk's application may hold part of its stream now, or NULL, under
 * the socket lock: it read past @read_seq, a request boundary (if not
 * NULL), or a write of it sleeps for room in the send buffer.  Worth
 * trying again later (EAGAIN).
 */
const char *capymig_export_busy(const struct sock *sk, const u32 *read_seq);

/**
 * struct capymig_export_sink - where an export puts the blob
 * @alloc: makes room for the blob's @len bytes and says where in @out;
 *	called under the socket lock, once the size is known.  On error,
 *	@why says what went wrong.  What it allocated is its owner's to
 *	free, whether the export succeeds or not.
 * @len: the blob's size, once @alloc succeeded.
 */
struct capymig_export_sink {
	int (*alloc)(struct capymig_export_sink *sink, u32 len,
		     struct capymig_blob_out *out, const char **why);
	u32 len;
};

/*
 * Exports @sk (referenced by the caller) into @sink's memory; with
 * @read_seq, only if the application has read exactly up to it (else
 * -EAGAIN): a request boundary.
 */
int capymig_export_to(struct sock *sk, const u32 *read_seq,
		      struct capymig_export_sink *sink,
		      struct netlink_ext_ack *extack);

/* A sink that kvmallocs the blob whole, into @blob. */
struct capymig_blob_sink {
	struct capymig_export_sink sink;
	struct capymig_blob *blob;
	struct kvec whole;
};

void capymig_blob_sink_init(struct capymig_blob_sink *bs,
			    struct capymig_blob *blob);

/* capymig_export_to() into @blob, kvmalloc'ed. */
int capymig_export(struct sock *sk, const u32 *read_seq,
		   struct capymig_blob *blob, struct netlink_ext_ack *extack);

/*
 * Imports @st into @net, served as @serve (NULL: as exported), into the
 * listener's accept queue or, with @file, as a new file, with @cred's
 * authority.
 */
int capymig_import(struct net *net, const struct capymig_state *st,
		   const struct capymig_tuple *serve, u64 listener_cookie,
		   struct file **file, const struct cred *cred,
		   struct netlink_ext_ack *extack);
/* A listener would accept @t's connection. */
bool capymig_listener_exists(struct net *net, const struct capymig_tuple *t);
/* @t's connection is being imported: not the application's yet. */
bool capymig_import_pending(struct net *net, const struct capymig_tuple *t);
void capymig_import_net_init(struct capymig_net *cn);
int capymig_import_init(void);
void capymig_import_exit(void);

#endif /* _CAPYMIG_H */
