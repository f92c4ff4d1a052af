// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the tuple helpers: parsing endpoints as operators type
 * them, formatting, and naming a socket's connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "tuple.h"

static void parses_ipv4_endpoints(void **state)
{
	struct capymig_tuple t;

	assert_int_equal(capymig_tuple_parse("10.0.0.1:80", "10.0.0.2:5555",
					     &t), 0);
	assert_int_equal(t.family, AF_INET);
	assert_int_equal(t.local_addr[0], inet_addr("10.0.0.1"));
	assert_int_equal(t.remote_addr[0], inet_addr("10.0.0.2"));
	assert_int_equal(ntohs(t.local_port), 80);
	assert_int_equal(ntohs(t.remote_port), 5555);
	assert_int_equal(t.local_addr[1] | t.remote_addr[3] | t.pad[0], 0);
}

static void parses_bracketed_ipv6(void **state)
{
	struct capymig_tuple t;
	struct in6_addr a;

	assert_int_equal(capymig_tuple_parse("[fd00::1]:443", "[::1]:1",
					     &t), 0);
	inet_pton(AF_INET6, "fd00::1", &a);
	assert_int_equal(t.family, AF_INET6);
	assert_memory_equal(t.local_addr, &a, 16);
}

static void rejects_bad_endpoints(void **state)
{
	struct capymig_tuple t;

	assert_int_equal(capymig_tuple_parse("10.0.0.1", "10.0.0.2:1", &t),
			 -EINVAL);
	assert_int_equal(capymig_tuple_parse("10.0.0.1:0", "10.0.0.2:1", &t),
			 -EINVAL);
	assert_int_equal(capymig_tuple_parse("10.0.0.1:65536", "10.0.0.2:1",
					     &t), -EINVAL);
	assert_int_equal(capymig_tuple_parse("10.0.0.1:80x", "10.0.0.2:1",
					     &t), -EINVAL);
	assert_int_equal(capymig_tuple_parse("10.0.0.1:80", "[::1]:1", &t),
			 -EINVAL);
	assert_int_equal(capymig_tuple_parse("[::1:80", "[::1]:1", &t),
			 -EINVAL);
	assert_int_equal(capymig_tuple_parse("host:80", "10.0.0.2:1", &t),
			 -EINVAL);
	/* IPv6 only in brackets, IPv4 never; ports in digits alone. */
	assert_int_equal(capymig_tuple_parse("::1:80", "[::1]:1", &t),
			 -EINVAL);
	assert_int_equal(capymig_tuple_parse("[10.0.0.1]:80", "10.0.0.2:1",
					     &t), -EINVAL);
	assert_int_equal(capymig_tuple_parse("10.0.0.1:+80", "10.0.0.2:1",
					     &t), -EINVAL);
	assert_int_equal(capymig_tuple_parse("10.0.0.1: 80", "10.0.0.2:1",
					     &t), -EINVAL);
}

/*
 * What ss prints for a dual-stack listener's IPv4 connection names it as
 * the kernel does: AF_INET, or a HOLD of it would hold nothing.
 */
static void parses_v4_mapped_as_ipv4(void **state)
{
	struct capymig_tuple t, want;

	assert_int_equal(capymig_tuple_parse("[::ffff:10.0.0.1]:80",
					     "[::ffff:10.0.0.2]:5555", &t), 0);
	capymig_tuple_parse("10.0.0.1:80", "10.0.0.2:5555", &want);
	assert_memory_equal(&t, &want, sizeof(t));
	/* One end mapped, the other plain IPv4: one family. */
	assert_int_equal(capymig_tuple_parse("[::ffff:10.0.0.1]:80",
					     "10.0.0.2:5555", &t), 0);
	assert_memory_equal(&t, &want, sizeof(t));
}

static void formats_both_families(void **state)
{
	char buf[CAPYMIG_TUPLE_STRLEN];
	struct capymig_tuple t;

	capymig_tuple_parse("10.0.0.1:80", "10.0.0.2:5555", &t);
	assert_string_equal(capymig_tuple_format(&t, buf),
			    "10.0.0.1:80 -> 10.0.0.2:5555");
	capymig_tuple_parse("[fd00::1]:443", "[fd00::2]:9", &t);
	assert_string_equal(capymig_tuple_format(&t, buf),
			    "[fd00::1]:443 -> [fd00::2]:9");
}

static void formats_an_unknown_family(void **state)
{
	char buf[CAPYMIG_TUPLE_STRLEN];
	struct capymig_tuple t = { .family = 0, .local_port = htons(80),
				   .remote_port = htons(9) };

	assert_string_equal(capymig_tuple_format(&t, buf), "?:80 -> ?:9");
}

/* A loopback connection named from its accepting end. */
static void names_an_accepted_socket(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	struct capymig_tuple t;
	int l, c, a;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(l, 1), 0);
	getsockname(l, (struct sockaddr *)&sin, &len);
	c = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
	a = accept(l, NULL, NULL);
	assert_true(a >= 0);

	assert_int_equal(capymig_tuple_from_fd(a, &t), 0);
	assert_int_equal(t.family, AF_INET);
	assert_int_equal(t.local_port, sin.sin_port);
	getsockname(c, (struct sockaddr *)&sin, &len);
	assert_int_equal(t.remote_port, sin.sin_port);
	assert_int_equal(t.remote_addr[0], htonl(INADDR_LOOPBACK));
	close(a);
	close(c);
	close(l);
}

/* An IPv4 client of a dual-stack listener is still an IPv4 connection. */
static void names_v4_mapped_as_ipv4(void **state)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin6);
	struct capymig_tuple t;
	int l, c, a, off = 0;

	l = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	assert_int_equal(bind(l, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	assert_int_equal(listen(l, 1), 0);
	getsockname(l, (struct sockaddr *)&sin6, &len);
	sin.sin_port = sin6.sin6_port;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
	a = accept(l, NULL, NULL);
	assert_true(a >= 0);

	assert_int_equal(capymig_tuple_from_fd(a, &t), 0);
	assert_int_equal(t.family, AF_INET);
	assert_int_equal(t.local_addr[0], htonl(INADDR_LOOPBACK));
	assert_int_equal(t.local_addr[1], 0);
	close(a);
	close(c);
	close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_ipv4_endpoints),
		cmocka_unit_test(parses_bracketed_ipv6),
		cmocka_unit_test(rejects_bad_endpoints),
		cmocka_unit_test(parses_v4_mapped_as_ipv4),
		cmocka_unit_test(formats_both_families),
		cmocka_unit_test(formats_an_unknown_family),
		cmocka_unit_test(names_an_accepted_socket),
		cmocka_unit_test(names_v4_mapped_as_ipv4),
	};

	return cmocka_run_group_tests_name("tuple", tests, NULL, NULL);
}
