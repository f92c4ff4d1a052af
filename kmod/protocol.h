/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _CAPYMIG_PROTOCOL_H
#define _CAPYMIG_PROTOCOL_H

#include <linux/capymig.h>
#include <net/netlink.h>

struct capymig_net;
struct sock;

/* How long a migration may take, by default, before it is given up. */
#define CAPYMIG_MIGRATION_TIMEOUT_MS	1000

void capymig_proto_net_init(struct capymig_net *cn);
void capymig_proto_net_exit(struct capymig_net *cn);

/* Sets the TCPMig port, the switch and the timeout; opens the socket. */
int capymig_proto_configure(struct capymig_net *cn, u16 port,
			    const struct tcpmig_endpoint *sw, u32 timeout_ms);

/*
 * Starts migrating @sk's connection (IPv4) to @target, or where the
 * switch chooses when @target is NULL.  Returns the migration's id in
 * *@id; its phases are announced as events.
 */
int capymig_migrate(struct capymig_net *cn, struct sock *sk,
		    const struct tcpmig_endpoint *target, u32 *id,
		    struct netlink_ext_ack *extack);

#endif /* _CAPYMIG_PROTOCOL_H */
