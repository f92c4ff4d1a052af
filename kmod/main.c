// SPDX-License-Identifier: GPL-2.0
/*
 * capymig: live migration of established TCP connections between servers.
 *
 * Module entry points.  The order matters: per-namespace state exists
 * before anything can reach it (the device notifier, the netlink family),
 * and those are gone before it is torn down, so nothing ever finds a
 * namespace half set up.
 */
#include <linux/module.h>
#include <net/genetlink.h>
#include <linux/capymig.h>

#include "capymig.h"
#include "hold.h"

static int __init capymig_init(void)
{
	int err;

	err = capymig_import_init();
	if (err)
		return err;
	err = capymig_netns_init();
	if (err)
		goto err_import;
	/* Watches devices of every namespace: needs their state to exist. */
	err = capymig_hold_init();
	if (err)
		goto err_netns;
	err = capymig_genl_init();
	if (err)
		goto err_hold;

	pr_info("capymig " CAPYMIG_VERSION " loaded\n");
	return 0;

err_hold:
	capymig_hold_exit();
err_netns:
	capymig_netns_exit();
err_import:
	capymig_import_exit();
	return err;
}

static void __exit capymig_exit(void)
{
	capymig_genl_exit();
	capymig_hold_exit();
	capymig_netns_exit();
	capymig_import_exit();
}

module_init(capymig_init);
module_exit(capymig_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The capymig developers");
MODULE_DESCRIPTION("Live migration of established TCP connections");
MODULE_VERSION(CAPYMIG_VERSION);
MODULE_ALIAS_GENL_FAMILY(TCPMIG_GENL_NAME);
