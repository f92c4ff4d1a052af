/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Doing things in other network namespaces from one test process: a
 * socket belongs to the namespace its creator was in, so switching in and
 * out around socket() is enough to hold endpoints in several of them.
 */
#ifndef CAPYMIG_SELFTEST_NETNS_H
#define CAPYMIG_SELFTEST_NETNS_H

/* Opens /var/run/netns/@name ("" or NULL: the current namespace). */
int netns_open(const char *name);

/* Enters @fd's namespace; returns the previous one's fd, or -1. */
int netns_enter(int fd);

/* Returns to @prev (from netns_enter) and closes it. */
void netns_leave(int prev);

/*
 * Writes @value to the sysctl file @path (/proc/sys/...): net.* ones are
 * the current namespace's.  Returns 0 or a negative errno.
 */
int sysctl_write(const char *path, const char *value);

/*
 * Replaces the route to @dst (a host route) in the current namespace by
 * one via @gateway; both are of @family.  @rto_min_ms, unless 0, is the
 * route's minimum retransmission timeout.  Returns 0 or a negative errno.
 */
int route_replace(int family, const void *dst, const void *gateway,
		  unsigned int rto_min_ms);

/*
 * Replaces the local route of IPv4 @addr (a host's own address, RTN_LOCAL
 * on the loopback device) by one with @features (RTAX_FEATURE_*): they
 * then hold for connections to @addr.  Returns 0 or a negative errno
 * (EINVAL: a feature this kernel does not know).
 */
int route_local_features(const void *addr, unsigned int features);

/*
 * An RTM_NEWROUTE request, in @buf (MNL_SOCKET_BUFFER_SIZE bytes), that
 * creates or replaces a host route of @family; the caller adds RTA_DST
 * and the rest.  route_send() sends it in the current namespace and
 * returns 0 or the kernel's negative errno.
 */
struct nlmsghdr;
struct nlmsghdr *route_request(char *buf, int family, unsigned char table,
			       unsigned char protocol, unsigned char scope,
			       unsigned char type);
int route_send(struct nlmsghdr *nlh);

#endif /* CAPYMIG_SELFTEST_NETNS_H */
