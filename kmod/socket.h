/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _CAPYMIG_SOCKET_H
#define _CAPYMIG_SOCKET_H

#include <linux/uio.h>

struct capymig_net;

/*
 * The namespace's TCPMig UDP socket.  Received messages from pool members
 * are queued for the protocol worker; everything else is counted and
 * dropped in softirq.  Open and close under cn->lock.
 */
int capymig_socket_open(struct capymig_net *cn, u16 port);
void capymig_socket_close(struct capymig_net *cn);

/* Sends one datagram to @daddr at the TCPMig port.  Process context. */
int capymig_send(struct capymig_net *cn, __be32 daddr, struct kvec *vec,
		 size_t nvec);

#endif /* _CAPYMIG_SOCKET_H */
