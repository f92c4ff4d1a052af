// SPDX-License-Identifier: GPL-2.0 OR MIT
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "number.h"
#include "tuple.h"

/* One socket address into the tuple's layout; v4-mapped becomes IPv4. */
static int put_endpoint(const struct sockaddr_storage *ss, __u8 *family,
			__be32 *addr, __be16 *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		*family = AF_INET;
		addr[0] = sin->sin_addr.s_addr;
		*port = sin->sin_port;
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		*port = sin6->sin6_port;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			*family = AF_INET;
			memcpy(addr, &sin6->sin6_addr.s6_addr[12], 4);
		} else {
			*family = AF_INET6;
			memcpy(addr, &sin6->sin6_addr, 16);
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

int capymig_tuple_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct capymig_tuple));
}

int capymig_tuple_from_fd(int fd, struct capymig_tuple *t)
{
	struct sockaddr_storage local, remote;
	socklen_t len = sizeof(local);
	__u8 remote_family;

	memset(t, 0, sizeof(*t));
	if (getsockname(fd, (struct sockaddr *)&local, &len))
		return -errno;
	len = sizeof(remote);
	if (getpeername(fd, (struct sockaddr *)&remote, &len))
		return -errno;
	if (put_endpoint(&local, &t->family, t->local_addr, &t->local_port) ||
	    put_endpoint(&remote, &remote_family, t->remote_addr,
			 &t->remote_port) ||
	    remote_family != t->family)
		return -EAFNOSUPPORT;
	return 0;
}

/*
 * "1.2.3.4:80" or "[2001:db8::1]:80": an IPv6 address in brackets, and
 * only there ("::1:80" is no endpoint); a v4-mapped one becomes IPv4, as
 * the kernel names its packets.  The port in digits, 1-65535.
 */
static int parse_endpoint(const char *text, __u8 *family, __be32 *addr,
			  __be16 *port)
{
	struct sockaddr_storage ss = {};
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(text, ':');
	int bracketed = text[0] == '[';
	size_t len;
	uint64_t p;

	if (!colon || colon == text)
		return -EINVAL;
	len = colon - text;
	if (bracketed) {
		if (len < 3 || text[len - 1] != ']')
			return -EINVAL;
		text++;
		len -= 2;
	}
	if (len >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, len);
	host[len] = '\0';

	if (capymig_parse_uint(colon + 1, 1, 65535, &p))
		return -EINVAL;
	if (bracketed) {
		ss.ss_family = AF_INET6;
		sin6->sin6_port = htons(p);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
	} else {
		ss.ss_family = AF_INET;
		sin->sin_port = htons(p);
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -EINVAL;
	}
	return put_endpoint(&ss, family, addr, port);
}

int capymig_tuple_parse(const char *local, const char *remote,
			struct capymig_tuple *t)
{
	__u8 remote_family;

	memset(t, 0, sizeof(*t));
	if (parse_endpoint(local, &t->family, t->local_addr, &t->local_port) ||
	    parse_endpoint(remote, &remote_family, t->remote_addr,
			   &t->remote_port) ||
	    remote_family != t->family)
		return -EINVAL;
	return 0;
}

char *capymig_endpoint_format(int family, const __be32 *addr, __be16 port,
			      char *buf)
{
	char host[INET6_ADDRSTRLEN];

	/* A tuple read from a blob or the kernel may name no family. */
	if (!inet_ntop(family, addr, host, sizeof(host)))
		strcpy(host, "?");
	sprintf(buf, family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
		ntohs(port));
	return buf;
}

char *capymig_tuple_format(const struct capymig_tuple *t, char *buf)
{
	char local[56], remote[56];

	snprintf(buf, CAPYMIG_TUPLE_STRLEN, "%s -> %s",
		 capymig_endpoint_format(t->family, t->local_addr,
					 t->local_port, local),
		 capymig_endpoint_format(t->family, t->remote_addr,
					 t->remote_port, remote));
	return buf;
}

int capymig_wire_endpoint_parse(const char *text, int port_optional,
				struct tcpmig_endpoint *ep)
{
	__be32 addr[4];
	__u8 family;
	char with_port[32];

	memset(ep, 0, sizeof(*ep));
	if (port_optional && !strchr(text, ':')) {
		snprintf(with_port, sizeof(with_port), "%s:1", text);
		text = with_port;
	}
	if (parse_endpoint(text, &family, addr, &ep->port) ||
	    family != AF_INET)
		return -EINVAL;
	ep->addr = addr[0];
	if (text == with_port)
		ep->port = 0;
	return 0;
}

char *capymig_wire_endpoint_format(const struct tcpmig_endpoint *ep,
				   char *buf)
{
	char host[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &ep->addr, host, sizeof(host));
	if (ep->port)
		sprintf(buf, "%s:%u", host, ntohs(ep->port));
	else
		strcpy(buf, host);
	return buf;
}
