// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>

#include "netns.h"

int netns_open(const char *name)
{
	char path[256];

	if (!name || !*name)
		return open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/var/run/netns/%s", name);
	return open(path, O_RDONLY | O_CLOEXEC);
}

int sysctl_write(const char *path, const char *value)
{
	FILE *f = fopen(path, "w");
	int err;

	if (!f)
		return -errno;
	err = fputs(value, f) < 0 ? -EIO : 0;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

int netns_enter(int fd)
{
	int prev = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	if (prev < 0)
		return -1;
	if (setns(fd, CLONE_NEWNET)) {
		close(prev);
		return -1;
	}
	return prev;
}

void netns_leave(int prev)
{
	if (setns(prev, CLONE_NEWNET))
		perror("setns back");
	close(prev);
}

struct nlmsghdr *route_request(char *buf, int family, unsigned char table,
			       unsigned char protocol, unsigned char scope,
			       unsigned char type)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;

	nlh->nlmsg_type = RTM_NEWROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE |
			   NLM_F_REPLACE;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = family;
	rtm->rtm_dst_len = family == AF_INET ? 32 : 128;
	rtm->rtm_table = table;
	rtm->rtm_protocol = protocol;
	rtm->rtm_scope = scope;
	rtm->rtm_type = type;
	return nlh;
}

int route_send(struct nlmsghdr *nlh)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl;
	int ret = 0;

	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
	} else {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));

		if (n < 0 || mnl_cb_run(buf, n, 0, 0, NULL, NULL) < 0)
			ret = -errno;
	}
	mnl_socket_close(nl);
	return ret;
}

int route_replace(int family, const void *dst, const void *gateway,
		  unsigned int rto_min_ms)
{
	size_t alen = family == AF_INET ? 4 : 16;
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	nlh = route_request(buf, family, RT_TABLE_MAIN, RTPROT_STATIC,
			    RT_SCOPE_UNIVERSE, RTN_UNICAST);
	mnl_attr_put(nlh, RTA_DST, alen, dst);
	mnl_attr_put(nlh, RTA_GATEWAY, alen, gateway);
	if (rto_min_ms) {
		struct nlattr *metrics = mnl_attr_nest_start(nlh, RTA_METRICS);

		/* Unlocked, TCP would take its own minimum. */
		mnl_attr_put_u32(nlh, RTAX_LOCK, 1U << RTAX_RTO_MIN);
		mnl_attr_put_u32(nlh, RTAX_RTO_MIN, rto_min_ms);
		mnl_attr_nest_end(nlh, metrics);
	}
	return route_send(nlh);
}

int route_local_features(const void *addr, unsigned int features)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlattr *metrics;
	struct nlmsghdr *nlh;

	nlh = route_request(buf, AF_INET, RT_TABLE_LOCAL, RTPROT_KERNEL,
			    RT_SCOPE_HOST, RTN_LOCAL);
	mnl_attr_put(nlh, RTA_DST, 4, addr);
	mnl_attr_put(nlh, RTA_PREFSRC, 4, addr);
	mnl_attr_put_u32(nlh, RTA_OIF, if_nametoindex("lo"));
	metrics = mnl_attr_nest_start(nlh, RTA_METRICS);
	mnl_attr_put_u32(nlh, RTAX_FEATURES, features);
	mnl_attr_nest_end(nlh, metrics);
	return route_send(nlh);
}
