// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * capyctl: command-line control of capymig.
 *
 *	capyctl [-j] COMMAND [ARGS...]
 *
 * Every command talks to the kernel module of the caller's network
 * namespace over the tcpmig generic netlink family.  With -j, each result
 * is printed as one JSON object per line, for scripts.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "tcpmig.h"

struct capyctl {
	struct tcpmig_nl nl;
	int json;
};

struct command {
	const char *name;
	const char *usage;
	int (*run)(struct capyctl *ctl, int argc, char **argv);
};

/* Reports a failed request with the kernel's own reason when it gave one. */
static int request_failed(const struct capyctl *ctl, const char *what, int err)
{
	if (ctl->nl.ext_msg[0])
		fprintf(stderr, "capyctl: %s: %s: %s\n", what,
			tcpmig_nl_strerror(err), ctl->nl.ext_msg);
	else
		fprintf(stderr, "capyctl: %s: %s\n", what,
			tcpmig_nl_strerror(err));
	return EXIT_FAILURE;
}

static int cmd_info(struct capyctl *ctl, int argc, char **argv)
{
	struct tcpmig_info info;
	int err;

	if (argc > 1) {
		fprintf(stderr, "capyctl: info takes no arguments\n");
		return EXIT_FAILURE;
	}
	err = tcpmig_get_info(&ctl->nl, &info);
	if (err)
		return request_failed(ctl, "info", err);

	if (ctl->json) {
		struct json_writer w = { .out = stdout };

		json_begin_object(&w, NULL);
		json_string(&w, "version", info.version);
		json_uint(&w, "genl_version", info.genl_version);
		json_uint(&w, "netns_cookie", info.netns_cookie);
		json_end_object(&w);
	} else {
		printf("capymig %s, tcpmig netlink version %" PRIu32 "\n",
		       info.version, info.genl_version);
		printf("network namespace cookie %" PRIu64 "\n",
		       info.netns_cookie);
	}
	return EXIT_SUCCESS;
}

static const struct command commands[] = {
	{ "info", "info", cmd_info },
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: capyctl [-j] COMMAND [ARGS...]\n\n"
		     "  -j  print results as JSON, one object per line\n\n"
		     "commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %s\n", commands[i].usage);
}

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	struct capyctl ctl = { 0 };
	const struct command *cmd;
	int opt, err, ret;

	while ((opt = getopt(argc, argv, "+jh")) != -1) {
		switch (opt) {
		case 'j':
			ctl.json = 1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_FAILURE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_FAILURE;
	}
	cmd = find_command(argv[optind]);
	if (!cmd) {
		fprintf(stderr, "capyctl: unknown command '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_FAILURE;
	}

	err = tcpmig_nl_open(&ctl.nl);
	if (err) {
		fprintf(stderr, "capyctl: %s\n", tcpmig_nl_strerror(err));
		return EXIT_FAILURE;
	}
	ret = cmd->run(&ctl, argc - optind, argv + optind);
	tcpmig_nl_close(&ctl.nl);
	return ret;
}
