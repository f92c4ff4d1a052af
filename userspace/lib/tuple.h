/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * struct capymig_tuple from and to the forms people and programs use.
 *
 * An IPv4 connection is always named as AF_INET, also when an IPv6
 * (dual-stack) socket serves it with v4-mapped addresses: one tuple names
 * one connection on the wire, as the kernel module and the BPF programs
 * name it too.
 */
#ifndef CAPYMIG_TUPLE_H
#define CAPYMIG_TUPLE_H

#include <stddef.h>
#include <linux/capymig.h>

/*
 * Orders tuples, or structs that begin with one, for qsort() and
 * bsearch(): any order, the same every time.
 */
int capymig_tuple_cmp(const void *a, const void *b);

/* "ADDR:PORT -> ADDR:PORT" is at most this long, NUL included. */
#define CAPYMIG_TUPLE_STRLEN 128

/* The connection of socket @fd, as its local end (the server) sees it. */
int capymig_tuple_from_fd(int fd, struct capymig_tuple *t);

/*
 * Parses endpoints "1.2.3.4:80" or "[2001:db8::1]:80" into @t; both must
 * be of one family, a v4-mapped IPv6 address counting as IPv4.  Returns 0
 * or -EINVAL.
 */
int capymig_tuple_parse(const char *local, const char *remote,
			struct capymig_tuple *t);

/*
 * A TCPMig endpoint, IPv4: "1.2.3.4:80", or "1.2.3.4" when @port_optional.
 * Returns 0 or -EINVAL.
 */
int capymig_wire_endpoint_parse(const char *text, int port_optional,
				struct tcpmig_endpoint *ep);

/* "1.2.3.4:80" (or "1.2.3.4" with port 0) into @buf (24 bytes). */
char *capymig_wire_endpoint_format(const struct tcpmig_endpoint *ep,
				   char *buf);

/* "LOCAL -> REMOTE" into @buf (CAPYMIG_TUPLE_STRLEN bytes); returns @buf. */
char *capymig_tuple_format(const struct capymig_tuple *t, char *buf);

/* One endpoint as "ADDR:PORT" or "[ADDR]:PORT" into @buf (56 bytes). */
char *capymig_endpoint_format(int family, const __be32 *addr, __be16 port,
			      char *buf);

#endif /* CAPYMIG_TUPLE_H */
