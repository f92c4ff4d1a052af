// SPDX-License-Identifier: GPL-2.0
/*
 * Per-network-namespace state.  Every namespace gets its own capymig
 * instance, so test topologies built from namespaces behave like separate
 * hosts and a namespace going away takes its state with it.
 */
#include "capymig.h"
#include "hold.h"
#include "protocol.h"

unsigned int capymig_net_id __read_mostly;

static int __net_init capymig_net_init(struct net *net)
{
	struct capymig_net *cn = capymig_pernet(net);

	cn->net = net;
	capymig_import_net_init(cn);
	capymig_proto_net_init(cn);
	return capymig_hold_net_init(cn);
}

/*
 * Receiving stops first: the kernel lets an RCU grace period pass between
 * every pre_exit and exit, for the namespace's teardown as for the
 * module's unload, after which no packet is in the hook or the socket's
 * receive path any more.
 */
static void __net_exit capymig_net_pre_exit(struct net *net)
{
	struct capymig_net *cn = capymig_pernet(net);

	capymig_proto_net_pre_exit(cn);
	capymig_hold_net_pre_exit(cn);
}

/* The protocol goes first: it holds packets and imports. */
static void __net_exit capymig_net_exit(struct net *net)
{
	struct capymig_net *cn = capymig_pernet(net);

	capymig_proto_net_exit(cn);
	capymig_hold_net_exit(cn);
}

static struct pernet_operations capymig_net_ops = {
	.init = capymig_net_init,
	.pre_exit = capymig_net_pre_exit,
	.exit = capymig_net_exit,
	.id = &capymig_net_id,
	.size = sizeof(struct capymig_net),
};

int capymig_netns_init(void)
{
	return register_pernet_subsys(&capymig_net_ops);
}

void capymig_netns_exit(void)
{
	unregister_pernet_subsys(&capymig_net_ops);
	/* Ended holds are freed by RCU callbacks, which are module code. */
	rcu_barrier();
}
