/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _CAPYMIG_HOLD_H
#define _CAPYMIG_HOLD_H

#include <linux/capymig.h>

struct capymig_net;
struct net;

/* Default time held packets wait for their connection's import. */
#define CAPYMIG_HOLD_TIMEOUT_MS	2000

int capymig_hold_net_init(struct capymig_net *cn);
/* Before the namespace's last RCU grace period: the hook stops. */
void capymig_hold_net_pre_exit(struct capymig_net *cn);
void capymig_hold_net_exit(struct capymig_net *cn);

/*
 * Starts holding the packets of @t (as this host will serve it) for at
 * most @timeout_ms: 1 if this started the hold.  Holding an already held
 * tuple only extends it (0); a blocked one is held from then on.
 */
int capymig_hold_start(struct net *net, const struct capymig_tuple *t,
		       unsigned int timeout_ms);

/*
 * The same, but what arrives is dropped (and counted), not held: the
 * baseline without holding, TCPMIG_CONFIG_F_NO_HOLD, and a withdrawn
 * migration's target.  Blocking a held tuple drops what it held.
 */
int capymig_hold_block(struct net *net, const struct capymig_tuple *t,
		       unsigned int timeout_ms);

/*
 * From now on each packet held for @t queues the namespace's forward work
 * (an origin sends what reaches it after the export on to the target),
 * until @t is held or blocked anew.  Nothing to do when @t is not held.
 */
void capymig_hold_forward(struct net *net, const struct capymig_tuple *t);

/*
 * Stops holding @t and delivers what was held, in arrival order, to the
 * socket now serving it (or to whatever the stack finds).  Nothing to do
 * when @t is not held.  Process context.
 */
void capymig_hold_release(struct net *net, const struct capymig_tuple *t);

/*
 * Moves what is held for @t so far to @queue, keeping the hold, if it is
 * forwarded (a target's hold keeps its packets for the import).  Returns
 * how many packets.  Process context.
 */
unsigned int capymig_hold_take(struct net *net, const struct capymig_tuple *t,
			       struct sk_buff_head *queue);

/* Stops holding @t and drops what was held.  Any context. */
void capymig_hold_drop(struct net *net, const struct capymig_tuple *t);

int capymig_hold_init(void);
void capymig_hold_exit(void);

#endif /* _CAPYMIG_HOLD_H */
