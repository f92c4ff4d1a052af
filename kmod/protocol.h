/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _CAPYMIG_PROTOCOL_H
#define _CAPYMIG_PROTOCOL_H

#include <linux/capymig.h>
#include <net/netlink.h>

struct capymig_net;
struct sock;

/* How long a migration may take, by default, before it is given up. */
#define CAPYMIG_MIGRATION_TIMEOUT_MS	1000
/* How often a server tells the switch it is alive, by default. */
#define CAPYMIG_HEARTBEAT_MS		100

void capymig_proto_net_init(struct capymig_net *cn);
/* Before the namespace's last RCU grace period: no more receiving. */
void capymig_proto_net_pre_exit(struct capymig_net *cn);
void capymig_proto_net_exit(struct capymig_net *cn);

/* A SET_CONFIG: zero or NULL members leave their setting as it is. */
struct capymig_proto_config {
	u16 port;
	const struct tcpmig_endpoint *sw;
	u32 timeout_ms;
	const u32 *heartbeat_ms;
	const u32 *weight;
	const u32 *flags;
};

/*
 * Applies @c, opens the socket once there is a switch, sends REGISTER.
 * On error, nothing of @c is applied and @why says what went wrong.
 */
int capymig_proto_configure(struct capymig_net *cn,
			    const struct capymig_proto_config *c,
			    const char **why);

/*
 * In softirq: handles @skb, a message from the pool or the switch, if it
 * is a LOAD (which comes every millisecond: it is not worth the worker).
 * Returns whether it was; the caller frees @skb either way.
 */
bool capymig_proto_rcv_load(struct capymig_net *cn, struct sk_buff *skb,
			    bool from_switch);

/*
 * Starts migrating @sk's connection (IPv4) to @target, or where the
 * switch chooses when @target is NULL; with @read_seq, only while the
 * application's reads stop there (TCPMIG_A_READ_SEQ).  Returns the
 * migration's id in *@id; its phases are announced as events.
 */
int capymig_migrate(struct capymig_net *cn, struct sock *sk,
		    const struct tcpmig_endpoint *target, const u32 *read_seq,
		    u32 *id, struct netlink_ext_ack *extack);

#endif /* _CAPYMIG_PROTOCOL_H */
