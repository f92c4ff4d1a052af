// SPDX-License-Identifier: GPL-2.0
/*
 * tcpmig_probe: send one hand-made tcpmig request, for testing how the
 * kernel treats requests no well-behaved tool would send.
 *
 *	tcpmig_probe CMD [TYPE:HEXBYTES]...
 *
 * Sends command number CMD with the given raw attributes and prints the
 * kernel's answer: "accepted", or "refused: <strerror> [extack: <text>]".
 * Exits 0 when the kernel accepted the request, 1 otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpmig.h"

struct raw_attrs {
	int count;
	char **specs;
};

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "TYPE:HEX" -> attribute appended to @nlh. */
static int put_raw_attr(struct nlmsghdr *nlh, const char *spec)
{
	unsigned char payload[1024];
	const char *hex;
	char *end;
	size_t len = 0;
	long type;

	type = strtol(spec, &end, 0);
	if (*end != ':' || type < 0 || type > 0xffff)
		return -EINVAL;
	for (hex = end + 1; hex[0] && hex[1]; hex += 2) {
		int hi = hex_nibble(hex[0]), lo = hex_nibble(hex[1]);

		if (hi < 0 || lo < 0 || len == sizeof(payload))
			return -EINVAL;
		payload[len++] = hi << 4 | lo;
	}
	if (*hex)
		return -EINVAL;
	mnl_attr_put(nlh, type, len, payload);
	return 0;
}

static int build_raw(struct nlmsghdr *nlh, void *data)
{
	const struct raw_attrs *attrs = data;
	int i, err;

	for (i = 0; i < attrs->count; i++) {
		err = put_raw_attr(nlh, attrs->specs[i]);
		if (err) {
			fprintf(stderr, "tcpmig_probe: bad attribute '%s'\n",
				attrs->specs[i]);
			return err;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct raw_attrs attrs;
	struct tcpmig_nl nl;
	int err;

	if (argc < 2) {
		fprintf(stderr, "usage: tcpmig_probe CMD [TYPE:HEXBYTES]...\n");
		return 2;
	}
	attrs.count = argc - 2;
	attrs.specs = argv + 2;

	err = tcpmig_nl_open(&nl);
	if (err) {
		printf("refused: %s\n", tcpmig_nl_open_strerror(err));
		return 1;
	}
	err = tcpmig_nl_request(&nl, strtoul(argv[1], NULL, 0), 0, build_raw,
				NULL, &attrs);
	if (err)
		printf("refused: %s%s%s\n", strerror(-err),
		       nl.ext_msg[0] ? " extack: " : "", nl.ext_msg);
	else
		printf("accepted\n");
	tcpmig_nl_close(&nl);
	return err ? 1 : 0;
}
