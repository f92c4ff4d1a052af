/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _CAPYMIG_PEER_H
#define _CAPYMIG_PEER_H

#include <linux/types.h>

struct capymig_net;

/* The pool: the only hosts TCPMig is accepted from (and the switch). */
int capymig_peer_add(struct capymig_net *cn, __be32 addr);
int capymig_peer_del(struct capymig_net *cn, __be32 addr);
/* Any context; RCU inside. */
bool capymig_peer_is_member(struct capymig_net *cn, __be32 addr);
/* Calls @fn for each member under RCU until it returns nonzero. */
int capymig_peer_for_each(struct capymig_net *cn,
			  int (*fn)(__be32 addr, void *arg), void *arg);
void capymig_peer_flush(struct capymig_net *cn);

#endif /* _CAPYMIG_PEER_H */
