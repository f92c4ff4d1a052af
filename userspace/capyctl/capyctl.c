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
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "json.h"
#include "monitor.h"
#include "number.h"
#include "tcpmig.h"
#include "tuple.h"

struct capyctl;

struct command {
	const char *name;
	const char *usage;
	int (*run)(struct capyctl *ctl, int argc, char **argv);
};

struct capyctl {
	struct tcpmig_nl nl;		/* through nl(), opened on first use */
	bool nl_open;
	int json;
	const struct command *cmd;	/* the one running */
};

/* Exit status of a command line capyctl does not understand. */
#define EXIT_USAGE	2

/*
 * The tcpmig socket, opened when a command first needs it: a command line
 * refused for its arguments says so, with or without the module.
 */
static struct tcpmig_nl *nl(struct capyctl *ctl)
{
	int err;

	if (ctl->nl_open)
		return &ctl->nl;
	err = tcpmig_nl_open(&ctl->nl);
	if (err) {
		fprintf(stderr, "capyctl: %s\n", tcpmig_nl_open_strerror(err));
		exit(EXIT_FAILURE);
	}
	ctl->nl_open = true;
	return &ctl->nl;
}

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

static int usage_error(const struct capyctl *ctl)
{
	fprintf(stderr, "usage: capyctl %s\n", ctl->cmd->usage);
	return EXIT_USAGE;
}

/*
 * A number of the command line in [@min, @max]; one that is not says
 * which, and what was wanted, before the usage line.
 */
static int parse_number(const struct capyctl *ctl, const char *what,
			const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	if (!capymig_parse_uint(s, min, max, v))
		return 0;
	fprintf(stderr, "capyctl: %s: bad %s '%s': want an integer from %"
		PRIu64 " to %" PRIu64 "\n", ctl->cmd->name, what, s, min, max);
	return -1;
}

static int parse_u32(const struct capyctl *ctl, const char *what,
		     const char *s, uint32_t min, uint32_t max, uint32_t *v)
{
	uint64_t n;

	if (parse_number(ctl, what, s, min, max, &n))
		return -1;
	*v = n;
	return 0;
}

static void json_tuple(struct json_writer *w, const struct capymig_tuple *t)
{
	char local[56], remote[56];

	json_string(w, "local", capymig_endpoint_format(t->family,
			t->local_addr, t->local_port, local));
	json_string(w, "remote", capymig_endpoint_format(t->family,
			t->remote_addr, t->remote_port, remote));
}

/* The namespace's counters, as JSON members of @w or as text lines. */
static void print_counters(struct json_writer *w, const struct tcpmig_info *info)
{
	int i;

	for (i = 1; i <= TCPMIG_STAT_MAX; i++) {
		if (!tcpmig_stat_name(i))
			continue;
		if (w)
			json_uint(w, tcpmig_stat_name(i), info->stats[i]);
		else
			printf("  %-18s %" PRIu64 "\n", tcpmig_stat_name(i),
			       info->stats[i]);
	}
}

/* The module's information, for a command that takes no argument. */
static int get_info(struct capyctl *ctl, int argc, struct tcpmig_info *info)
{
	int err;

	if (argc > 1)
		return usage_error(ctl);
	err = tcpmig_get_info(nl(ctl), info);
	return err ? request_failed(ctl, ctl->cmd->name, err) : EXIT_SUCCESS;
}

static int cmd_info(struct capyctl *ctl, int argc, char **argv)
{
	struct tcpmig_info info;
	int status = get_info(ctl, argc, &info);

	if (status != EXIT_SUCCESS)
		return status;
	if (ctl->json) {
		struct json_writer w = { .out = stdout };

		json_begin_object(&w, NULL);
		json_string(&w, "version", info.version);
		json_uint(&w, "genl_version", info.genl_version);
		json_uint(&w, "netns_cookie", info.netns_cookie);
		json_begin_object(&w, "stats");
		print_counters(&w, &info);
		json_end_object(&w);
		json_end_object(&w);
		return EXIT_SUCCESS;
	}
	printf("capymig %s, tcpmig netlink version %" PRIu32 "\n",
	       info.version, info.genl_version);
	printf("network namespace cookie %" PRIu64 "\n", info.netns_cookie);
	print_counters(NULL, &info);
	return EXIT_SUCCESS;
}

/* stats: the counters alone, one JSON object with -j. */
static int cmd_stats(struct capyctl *ctl, int argc, char **argv)
{
	struct json_writer w = { .out = stdout };
	struct tcpmig_info info;
	int status = get_info(ctl, argc, &info);

	if (status != EXIT_SUCCESS)
		return status;
	if (ctl->json)
		json_begin_object(&w, NULL);
	print_counters(ctl->json ? &w : NULL, &info);
	if (ctl->json)
		json_end_object(&w);
	return EXIT_SUCCESS;
}

static int print_conn(const struct tcpmig_conn *c, void *arg)
{
	const struct capyctl *ctl = arg;
	char text[CAPYMIG_TUPLE_STRLEN];

	if (ctl->json) {
		struct json_writer w = { .out = stdout };

		json_begin_object(&w, NULL);
		json_tuple(&w, &c->tuple);
		json_uint(&w, "cookie", c->cookie);
		json_uint(&w, "rqlen", c->rqlen);
		json_uint(&w, "tqlen", c->tqlen);
		json_uint(&w, "copied_seq", c->copied_seq);
		json_end_object(&w);
	} else {
		printf("%-60s %10" PRIu32 " %10" PRIu32 "  %" PRIu64 "\n",
		       capymig_tuple_format(&c->tuple, text), c->rqlen,
		       c->tqlen, c->cookie);
	}
	return 0;
}

static int cmd_list(struct capyctl *ctl, int argc, char **argv)
{
	uint32_t port = 0;
	int err;

	if (argc > 2 ||
	    (argc == 2 && parse_u32(ctl, "port", argv[1], 1, 65535, &port)))
		return usage_error(ctl);
	if (!ctl->json)
		printf("%-60s %10s %10s  %s\n", "connection (local -> remote)",
		       "rqlen", "tqlen", "cookie");
	err = tcpmig_list(nl(ctl), port, print_conn, ctl);
	return err ? request_failed(ctl, "list", err) : EXIT_SUCCESS;
}

static int parse_tuple_args(char **argv, struct capymig_tuple *t)
{
	if (capymig_tuple_parse(argv[0], argv[1], t)) {
		fprintf(stderr, "capyctl: bad endpoints '%s' '%s': want "
				"ADDR:PORT or [ADDR6]:PORT, one family\n",
			argv[0], argv[1]);
		return -1;
	}
	return 0;
}

/*
 * export: the blob goes to a file or stdout.  The connection lives only
 * in that blob afterwards, so a write failure is reported loudly.
 */
static int cmd_export(struct capyctl *ctl, int argc, char **argv)
{
	struct capymig_tuple t;
	struct tcpmig_blob blob;
	int err;

	if (argc != 3)
		return usage_error(ctl);
	if (parse_tuple_args(argv + 1, &t))
		return EXIT_USAGE;
	if (isatty(STDOUT_FILENO)) {
		fprintf(stderr, "capyctl: export writes a binary blob: "
				"redirect stdout\n");
		return EXIT_FAILURE;
	}
	err = tcpmig_export(nl(ctl), &t, 0, &blob);
	if (err)
		return request_failed(ctl, "export", err);
	if (fwrite(blob.data, 1, blob.len, stdout) != blob.len ||
	    fflush(stdout)) {
		fprintf(stderr, "capyctl: export: writing the state failed: "
				"the connection is lost\n");
		err = -EIO;
	}
	tcpmig_blob_free(&blob);
	return err ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int read_blob(FILE *in, struct tcpmig_blob *blob)
{
	size_t cap = 65536, n;

	blob->len = 0;
	blob->data = malloc(cap);
	while (blob->data) {
		n = fread(blob->data + blob->len, 1, cap - blob->len, in);
		blob->len += n;
		if (n == 0)
			return ferror(in) ? -EIO : 0;
		if (blob->len == cap) {
			if (cap >= TCPMIG_STATE_MAX)
				break;
			cap *= 2;
			blob->data = realloc(blob->data, cap);
		}
	}
	tcpmig_blob_free(blob);
	return -ENOMEM;
}

/* -s LOCAL: the blob's connection, served under another local end. */
static int serve_tuple(const struct tcpmig_blob *blob, const char *local,
		       struct capymig_tuple *serve)
{
	char remote[56];

	if (tcpmig_blob_tuple(blob, serve)) {
		fprintf(stderr, "capyctl: import: not a capymig state blob\n");
		return -1;
	}
	capymig_endpoint_format(serve->family, serve->remote_addr,
				serve->remote_port, remote);
	if (capymig_tuple_parse(local, remote, serve)) {
		fprintf(stderr, "capyctl: import: bad local endpoint '%s' for "
				"a connection from %s\n", local, remote);
		return -1;
	}
	return 0;
}

static int cmd_import(struct capyctl *ctl, int argc, char **argv)
{
	struct tcpmig_import_opts opts = {};
	struct tcpmig_import_result res;
	struct capymig_tuple serve;
	struct tcpmig_blob blob;
	char text[CAPYMIG_TUPLE_STRLEN];
	char *local = NULL;
	int opt, err;

	optind = 1;
	while ((opt = getopt(argc, argv, "s:c:")) != -1) {
		switch (opt) {
		case 's':
			local = optarg;
			break;
		case 'c':
			if (parse_number(ctl, "listener cookie", optarg, 1,
					 UINT64_MAX, &opts.listener_cookie))
				return usage_error(ctl);
			break;
		default:
			return usage_error(ctl);
		}
	}
	if (optind != argc)
		return usage_error(ctl);
	if (read_blob(stdin, &blob)) {
		fprintf(stderr, "capyctl: import: cannot read the state\n");
		return EXIT_FAILURE;
	}
	if (local) {
		if (serve_tuple(&blob, local, &serve)) {
			tcpmig_blob_free(&blob);
			return EXIT_USAGE;
		}
		opts.serve = &serve;
	}
	err = tcpmig_import(nl(ctl), &blob, &opts, &res);
	tcpmig_blob_free(&blob);
	if (err)
		return request_failed(ctl, "import", err);
	if (ctl->json) {
		struct json_writer w = { .out = stdout };

		json_begin_object(&w, NULL);
		json_tuple(&w, &res.tuple);
		json_end_object(&w);
	} else {
		printf("imported %s\n", capymig_tuple_format(&res.tuple, text));
	}
	return EXIT_SUCCESS;
}

static int cmd_hold(struct capyctl *ctl, int argc, char **argv)
{
	struct capymig_tuple t;
	uint32_t timeout = 0;
	int err;

	if (argc < 3 || argc > 4 ||
	    (argc == 4 &&
	     parse_u32(ctl, "timeout", argv[3], 1, 60000, &timeout)))
		return usage_error(ctl);
	if (parse_tuple_args(argv + 1, &t))
		return EXIT_USAGE;
	err = tcpmig_hold(nl(ctl), &t, timeout);
	return err ? request_failed(ctl, "hold", err) : EXIT_SUCCESS;
}

/* LOAD, every millisecond: the switch's count of packets per second. */
static int print_load(const struct capyctl *ctl,
		      const struct tcpmig_notification *ev)
{
	char server[24];

	/* The server endpoint the switch counted (a module's may be many). */
	capymig_wire_endpoint_format(&ev->target, server);
	if (ctl->json) {
		struct json_writer w = { .out = stdout };

		json_begin_object(&w, NULL);
		json_string(&w, "event", "load");
		json_uint(&w, "timestamp_ns", ev->timestamp_ns);
		if (ev->target.addr)
			json_string(&w, "server", server);
		json_uint(&w, "server_pps", ev->server_pps);
		json_uint(&w, "pool_pps", ev->pool_pps);
		json_uint(&w, "pool_servers", ev->pool_servers);
		/* Absent when the switch has no other server to offer. */
		if (ev->target_pps != TCPMIG_LOAD_NO_TARGET)
			json_uint(&w, "target_pps", ev->target_pps);
		json_end_object(&w);
	} else {
		printf("%" PRIu64 ".%09" PRIu64 " %-15s server %s %" PRIu64
		       " pps, pool %" PRIu64 " pps over %" PRIu32 " servers, "
		       "target %" PRId64 " pps\n",
		       ev->timestamp_ns / 1000000000,
		       ev->timestamp_ns % 1000000000, "load", server,
		       ev->server_pps, ev->pool_pps, ev->pool_servers,
		       (int64_t)ev->target_pps);
	}
	fflush(stdout);
	return 0;
}

static int print_event(const struct tcpmig_notification *ev, void *arg)
{
	const struct capyctl *ctl = arg;
	const char *name = tcpmig_event_name(ev->type);
	char text[CAPYMIG_TUPLE_STRLEN], target[24];

	if (!name)
		return 0;
	if (ev->type == TCPMIG_EVENT_LOAD)
		return print_load(ctl, ev);
	if (ctl->json) {
		struct json_writer w = { .out = stdout };

		json_begin_object(&w, NULL);
		json_string(&w, "event", name);
		json_tuple(&w, &ev->tuple);
		json_uint(&w, "timestamp_ns", ev->timestamp_ns);
		if (ev->migration_id)
			json_uint(&w, "migration_id", ev->migration_id);
		if (ev->target.addr)
			json_string(&w, "target",
				    capymig_wire_endpoint_format(&ev->target,
								 target));
		if (ev->error)
			json_string(&w, "error", strerror(ev->error));
		if (ev->state_len)
			json_uint(&w, "state_len", ev->state_len);
		json_end_object(&w);
	} else {
		printf("%" PRIu64 ".%09" PRIu64 " %-15s %s", ev->timestamp_ns /
		       1000000000, ev->timestamp_ns % 1000000000, name,
		       capymig_tuple_format(&ev->tuple, text));
		if (ev->migration_id)
			printf(" #%" PRIu32, ev->migration_id);
		if (ev->target.addr)
			printf(" to %s", capymig_wire_endpoint_format(
						 &ev->target, target));
		if (ev->error)
			printf(" (%s)", strerror(ev->error));
		if (ev->state_len)
			printf(" %" PRIu32 " B", ev->state_len);
		putchar('\n');
	}
	/* Events are watched live: each line is out as it happens. */
	fflush(stdout);
	return 0;
}

static int cmd_monitor(struct capyctl *ctl, int argc, char **argv)
{
	int err;

	if (argc > 1)
		return usage_error(ctl);
	err = tcpmig_join_load(nl(ctl));
	/* A slow reader loses events, not its watch: say so, go on. */
	while (!err && (err = tcpmig_monitor(nl(ctl), print_event, ctl)) ==
		       -ENOBUFS) {
		fprintf(stderr, "capyctl: monitor: events lost\n");
		err = 0;
	}
	return request_failed(ctl, "monitor", err);
}

static void print_config(const struct capyctl *ctl,
			 const struct tcpmig_config *cfg)
{
	char ep[24];
	unsigned int i;

	if (ctl->json) {
		struct json_writer w = { .out = stdout };

		json_begin_object(&w, NULL);
		json_uint(&w, "udp_port", cfg->udp_port);
		json_uint(&w, "timeout_ms", cfg->timeout_ms);
		if (cfg->sw.addr)
			json_string(&w, "switch",
				    capymig_wire_endpoint_format(&cfg->sw, ep));
		json_uint(&w, "heartbeat_ms", cfg->heartbeat_ms);
		json_uint(&w, "weight", cfg->weight);
		json_uint(&w, "draining",
			  !!(cfg->flags & TCPMIG_CONFIG_F_DRAINING));
		json_uint(&w, "hold", !(cfg->flags & TCPMIG_CONFIG_F_NO_HOLD));
		json_end_object(&w);
		return;
	}
	printf("udp port %u, timeout %u ms, switch %s\n", cfg->udp_port,
	       cfg->timeout_ms, cfg->sw.addr ?
	       capymig_wire_endpoint_format(&cfg->sw, ep) : "(none)");
	printf("heartbeat %u ms, weight %u%s%s\n", cfg->heartbeat_ms,
	       cfg->weight,
	       cfg->flags & TCPMIG_CONFIG_F_DRAINING ? ", draining" : "",
	       cfg->flags & TCPMIG_CONFIG_F_NO_HOLD ? ", no hold" : "");
	for (i = 0; i < cfg->npeers; i++) {
		struct tcpmig_endpoint peer = { .addr = cfg->peers[i] };

		printf("pool member %s\n", capymig_wire_endpoint_format(&peer,
									 ep));
	}
}

/*
 * config [--heartbeat-ms MS] [--weight W] [--[no-]draining] [--[no-]hold]
 *	  [port N] [switch ADDR[:PORT]] [timeout MS]; none: show it.
 */
static int cmd_config(struct capyctl *ctl, int argc, char **argv)
{
	enum { OPT_HB = 1, OPT_WEIGHT, OPT_DRAIN, OPT_NO_DRAIN, OPT_HOLD,
	       OPT_NO_HOLD };
	static const struct option longopts[] = {
		{ "heartbeat-ms", required_argument, NULL, OPT_HB },
		{ "weight", required_argument, NULL, OPT_WEIGHT },
		{ "draining", no_argument, NULL, OPT_DRAIN },
		{ "no-draining", no_argument, NULL, OPT_NO_DRAIN },
		{ "hold", no_argument, NULL, OPT_HOLD },
		{ "no-hold", no_argument, NULL, OPT_NO_HOLD },
		{ NULL, 0, NULL, 0 },
	};
	struct tcpmig_config_set set = {};
	uint32_t hb, weight, set_flags = 0, clear_flags = 0, flags;
	struct tcpmig_endpoint sw;
	struct tcpmig_config cfg;
	uint32_t port = 0, timeout = 0;
	int i, opt, err;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_HB:
			if (parse_u32(ctl, "heartbeat", optarg, 0, 60000, &hb))
				return usage_error(ctl);
			set.heartbeat_ms = &hb;
			break;
		case OPT_WEIGHT:
			if (parse_u32(ctl, "weight", optarg, 1, 1000, &weight))
				return usage_error(ctl);
			set.weight = &weight;
			break;
		case OPT_DRAIN:
		case OPT_NO_DRAIN:
			*(opt == OPT_DRAIN ? &set_flags : &clear_flags) |=
				TCPMIG_CONFIG_F_DRAINING;
			break;
		case OPT_HOLD:
		case OPT_NO_HOLD:
			*(opt == OPT_NO_HOLD ? &set_flags : &clear_flags) |=
				TCPMIG_CONFIG_F_NO_HOLD;
			break;
		default:
			return usage_error(ctl);
		}
	}
	if ((argc - optind) % 2)
		return usage_error(ctl);
	for (i = optind; i < argc; i += 2) {
		if (!strcmp(argv[i], "port") &&
		    !parse_u32(ctl, "port", argv[i + 1], 1, 65535, &port))
			continue;
		if (!strcmp(argv[i], "timeout") &&
		    !parse_u32(ctl, "timeout", argv[i + 1], 10, 60000,
			       &timeout))
			continue;
		if (!strcmp(argv[i], "switch") &&
		    !capymig_wire_endpoint_parse(argv[i + 1], 1, &sw)) {
			set.sw = &sw;
			continue;
		}
		return usage_error(ctl);
	}
	set.udp_port = port;
	set.timeout_ms = timeout;
	/* The kernel takes all the flags at once: change only those named. */
	if (set_flags | clear_flags) {
		err = tcpmig_get_config(nl(ctl), &cfg);
		if (err)
			return request_failed(ctl, "config", err);
		flags = (cfg.flags & ~clear_flags) | set_flags;
		set.flags = &flags;
	}
	if (argc > 1) {
		err = tcpmig_configure(nl(ctl), &set);
		if (err)
			return request_failed(ctl, "config", err);
	}
	err = tcpmig_get_config(nl(ctl), &cfg);
	if (err)
		return request_failed(ctl, "config", err);
	print_config(ctl, &cfg);
	return EXIT_SUCCESS;
}

/* pool [add|del ADDR]: the hosts TCPMig is accepted from. */
static int cmd_pool(struct capyctl *ctl, int argc, char **argv)
{
	struct tcpmig_config cfg;
	struct tcpmig_endpoint peer;
	char ep[24];
	unsigned int i;
	int err;

	if (argc == 3 && !capymig_wire_endpoint_parse(argv[2], 1, &peer) &&
	    (!strcmp(argv[1], "add") || !strcmp(argv[1], "del"))) {
		err = argv[1][0] == 'a' ? tcpmig_pool_add(nl(ctl), peer.addr) :
					  tcpmig_pool_del(nl(ctl), peer.addr);
		return err ? request_failed(ctl, "pool", err) : EXIT_SUCCESS;
	}
	if (argc != 1)
		return usage_error(ctl);
	err = tcpmig_get_config(nl(ctl), &cfg);
	if (err)
		return request_failed(ctl, "pool", err);
	for (i = 0; i < cfg.npeers; i++) {
		peer = (struct tcpmig_endpoint) { .addr = cfg.peers[i] };
		capymig_wire_endpoint_format(&peer, ep);
		if (ctl->json) {
			struct json_writer w = { .out = stdout };

			json_begin_object(&w, NULL);
			json_string(&w, "member", ep);
			json_end_object(&w);
		} else {
			printf("%s\n", ep);
		}
	}
	return EXIT_SUCCESS;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * The exit status of a migration that did not end as migrated, or whose
 * end was lost with events, and whose connection left this host: it was
 * moved, or closed, or lost with a target that died or failed to import
 * it after the export, and which is not known.  1 says it stays here.
 */
#define EXIT_OUTCOME_UNKNOWN	3
/* After the module's deadline, how long its last events may take. */
#define MIGRATE_END_MS		1000

/* How long a migration may last, as the module's config says. */
static uint64_t migration_span_ns(const struct tcpmig_config *cfg)
{
	return (TCPMIG_MIGRATION_TIMEOUTS * (uint64_t)cfg->timeout_ms +
		MIGRATE_END_MS) * 1000000ULL;
}

struct migrate_wait {
	const struct capyctl *ctl;
	uint32_t id;
	int result;	/* EXIT_* once the migration ended */
	bool exported;	/* its state left: a failure now loses it */
};

/* Prints the migration's events until it ends one way or the other. */
static int migrate_event(const struct tcpmig_notification *ev, void *arg)
{
	struct migrate_wait *mw = arg;

	if (ev->migration_id != mw->id)
		return 0;
	print_event(ev, (void *)mw->ctl);
	switch (ev->type) {
	case TCPMIG_EVENT_STATE_SENT:
		mw->exported = true;
		return 0;
	case TCPMIG_EVENT_MIGRATED:
		mw->result = EXIT_SUCCESS;
		return 1;
	case TCPMIG_EVENT_REJECTED:
	case TCPMIG_EVENT_FAILED:
		mw->result = EXIT_FAILURE;
		return 1;
	}
	return 0;
}

struct conn_search {
	const struct capymig_tuple *tuple;
	bool found;
};

static int conn_match(const struct tcpmig_conn *c, void *arg)
{
	struct conn_search *search = arg;

	search->found |= !memcmp(&c->tuple, search->tuple, sizeof(c->tuple));
	return 0;
}

/*
 * A migration that failed after its export: the connection is nowhere
 * this host knows of, lost, or served by the target if that imported it
 * and only its acknowledgment was lost.
 */
static int migrate_lost(void)
{
	fprintf(stderr, "capyctl: migrate: failed after the export: the "
		"connection left this host, lost, or served by the target if "
		"its acknowledgment alone was lost; not known which\n");
	return EXIT_OUTCOME_UNKNOWN;
}

/*
 * A migration whose end, or its export, may have been lost with events:
 * the connection's presence in LIST tells what can be told.  LIST shows
 * only connections that could be exported (one half closed meanwhile is
 * not), so this is the answer only without the events.
 */
static int migrate_unheard(struct capyctl *ctl, const struct capymig_tuple *t)
{
	struct conn_search search = { .tuple = t };
	int err;

	err = tcpmig_list(nl(ctl), ntohs(t->local_port), conn_match, &search);
	if (err)
		return request_failed(ctl, "migrate: list", err);
	if (search.found) {
		fprintf(stderr, "capyctl: migrate: events were lost, and the "
			"connection is still here: not migrated\n");
		return EXIT_FAILURE;
	}
	fprintf(stderr, "capyctl: migrate: events were lost, and the "
		"connection left this host: migrated, closed, or lost with "
		"its target; not known which\n");
	return EXIT_OUTCOME_UNKNOWN;
}

/*
 * Follows the migration's events to its end.  An overrun of the events
 * socket may lose that end: then the events are read until the module's
 * deadline for the migration is past, by when it has ended one way or the
 * other, and if its end was not among them, migrate_unheard() says what
 * it can.
 */
static int migrate_follow(struct capyctl *ctl, struct tcpmig_nl *events,
			  struct migrate_wait *mw,
			  const struct capymig_tuple *t)
{
	uint64_t deadline = 0, now;
	struct tcpmig_config cfg;
	int ret, ms = -1;

	for (;;) {
		ret = tcpmig_read_events(events, ms, migrate_event, mw);
		if (ret > 0 && mw->result == EXIT_SUCCESS)
			return mw->result;
		/* With events lost, its export may have been among them. */
		if (ret > 0 && deadline)
			return migrate_unheard(ctl, t);
		if (ret > 0)
			return mw->exported ? migrate_lost() : mw->result;
		if (ret == -ENOBUFS && !deadline) {
			ret = tcpmig_get_config(nl(ctl), &cfg);
			if (ret)
				return request_failed(ctl, "migrate", ret);
			fprintf(stderr, "capyctl: migrate: events lost; "
				"waiting out the migration's deadline\n");
			deadline = mono_ns() + migration_span_ns(&cfg);
		} else if (ret < 0 && ret != -ENOBUFS) {
			return request_failed(ctl, "migrate", ret);
		}
		if (deadline) {
			now = mono_ns();
			if (now >= deadline)
				return migrate_unheard(ctl, t);
			ms = (deadline - now) / 1000000 + 1;
		}
	}
}

/*
 * migrate [--read-seq N] LOCAL REMOTE [TARGET]: through the switch, and
 * wait for it.  Exits 0 once migrated, 1 if not, EXIT_OUTCOME_UNKNOWN if
 * that is not known.
 */
static int cmd_migrate(struct capyctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "read-seq", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct migrate_wait mw = { .ctl = ctl, .result = EXIT_FAILURE };
	struct tcpmig_migrate_opts opts = {};
	struct tcpmig_endpoint target;
	struct capymig_tuple t;
	struct tcpmig_nl events;
	int opt, err;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt != 'r' ||
		    parse_u32(ctl, "read sequence number", optarg, 0,
			      UINT32_MAX, &opts.read_seq))
			return usage_error(ctl);
		opts.at_read_seq = 1;
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc < 3 || argc > 4 ||
	    (argc == 4 && capymig_wire_endpoint_parse(argv[3], 0, &target)))
		return usage_error(ctl);
	if (parse_tuple_args(argv + 1, &t))
		return EXIT_USAGE;
	if (argc == 4)
		opts.target = &target;
	/*
	 * Listen first, on a socket of its own: the migration may end
	 * before the reply to MIGRATE is read.  The request socket before
	 * it, which says so when the module is missing.
	 */
	nl(ctl);
	err = tcpmig_nl_open(&events) ?: tcpmig_join_events(&events);
	if (err)
		return request_failed(ctl, "migrate", err);
	err = tcpmig_migrate_with(nl(ctl), &t, &opts, &mw.id);
	if (err) {
		tcpmig_nl_close(&events);
		return request_failed(ctl, "migrate", err);
	}
	err = migrate_follow(ctl, &events, &mw, &t);
	tcpmig_nl_close(&events);
	return err;
}

/*
 * drain: this server leaves the pool.  The module is set DRAINING (its
 * REGISTERs tell the switch to place nothing new here; it refuses
 * PREPAREs), then every connection is migrated away, through the switch,
 * at a request boundary when the server monitor recorded one, and
 * retried, until none is left or the time is up.  The flag stays set
 * (capyctl config --no-draining clears it).  SERVER limits the drain
 * to the connections of one local address (and port): "this server" as
 * the switch knows it, when several share the host.
 */
/* A connection refused is tried again after this, doubling, up to 1.6 s. */
#define DRAIN_BACKOFF_NS	(100 * 1000000ULL)
#define DRAIN_BACKOFF_MAX	4	/* doublings */

struct drain_conn {
	struct capymig_tuple tuple;
	uint32_t id;		/* migration in flight, or 0 */
	uint64_t since_ns;	/* of that migration */
	bool exported;		/* its state left: a failure loses it */
	unsigned int attempts;
	uint64_t retry_ns;
	bool seen;		/* in the last LIST */
	bool refused;		/* for good: not tried again */
};

/*
 * @v: the connections, ordered by tuple (capymig_tuple_cmp()) up to
 * @sorted; those a LIST found new since are appended after, and put in
 * order once it ended: a server draining tens of thousands of
 * connections finds each one in a logarithmic time.
 * @lost_ns: a migration whose end was not heard of (events lost) by then
 * has ended (TCPMIG_MIGRATION_TIMEOUTS), and is counted as failed.
 * @lost: connections whose migration failed after the export.
 */
struct drain {
	struct capyctl *ctl;
	struct tcpmig_endpoint server;	/* addr 0: every connection */
	const struct tcpmig_endpoint *target;
	struct monitor mon;
	struct drain_conn *v;
	unsigned int n, sorted, cap, in_flight, parallel, migrated, lost;
	uint64_t lost_ns;
	bool any_point;
};

static struct drain_conn *drain_find(struct drain *dr,
				     const struct capymig_tuple *t)
{
	return bsearch(t, dr->v, dr->sorted, sizeof(*dr->v),
		       capymig_tuple_cmp);
}

static int drain_collect(const struct tcpmig_conn *c, void *arg)
{
	struct drain *dr = arg;
	struct drain_conn *dc;

	if (dr->server.addr && (c->tuple.family != AF_INET ||
				c->tuple.local_addr[0] != dr->server.addr))
		return 0;
	dc = drain_find(dr, &c->tuple);
	if (!dc) {
		if (dr->n == dr->cap) {
			unsigned int cap = dr->cap ? 2 * dr->cap : 64;
			struct drain_conn *v = realloc(dr->v,
						       cap * sizeof(*v));

			if (!v)
				return -1;
			dr->v = v;
			dr->cap = cap;
		}
		dc = &dr->v[dr->n++];
		*dc = (struct drain_conn){ .tuple = c->tuple };
	}
	dc->seen = true;
	return 0;
}

/*
 * Reads the connections still here.  Those gone (migrated, or closed)
 * are forgotten, unless a migration of theirs is still to be heard of.
 */
static int drain_list(struct drain *dr)
{
	unsigned int i, k = 0;
	int err;

	for (i = 0; i < dr->n; i++)
		dr->v[i].seen = false;
	err = tcpmig_list(nl(dr->ctl), ntohs(dr->server.port), drain_collect,
			  dr);
	if (dr->n > dr->sorted)
		qsort(dr->v, dr->n, sizeof(*dr->v), capymig_tuple_cmp);
	dr->sorted = dr->n;
	if (err)
		return err;
	/*
	 * A dump resumed after a socket came into its bucket may list
	 * another twice: new both times, it is in twice, side by side.
	 */
	for (i = 0; i < dr->n; i++)
		if ((dr->v[i].seen || dr->v[i].id) &&
		    (!k || capymig_tuple_cmp(&dr->v[k - 1], &dr->v[i])))
			dr->v[k++] = dr->v[i];
	dr->n = dr->sorted = k;
	return 0;
}

static void drain_failed(struct drain *dr, struct drain_conn *dc,
			 uint64_t now)
{
	unsigned int doublings = dc->attempts < DRAIN_BACKOFF_MAX ?
				 dc->attempts : DRAIN_BACKOFF_MAX;

	if (dc->id)
		dr->in_flight--;
	dc->id = 0;
	dc->attempts++;
	dc->retry_ns = now + (DRAIN_BACKOFF_NS << doublings);
}

static void drain_start(struct drain *dr, struct drain_conn *dc, uint64_t now)
{
	struct tcpmig_migrate_opts opts = { .target = dr->target };
	char text[CAPYMIG_TUPLE_STRLEN];
	struct capymig_conn rec;
	uint32_t id;
	int err;

	if (!dr->any_point) {
		/*
		 * One the monitor does not watch (its server outside the
		 * monitored cgroup, or there before the monitor) may be in
		 * the middle of a request its application holds: it stays.
		 */
		if (monitor_lookup(&dr->mon, &dc->tuple, &rec) ||
		    !(rec.flags & CAPYMIG_CONN_F_READ_SEQ)) {
			fprintf(stderr, "capyctl: drain: %s: no request "
				"boundary known, the server monitor does not "
				"watch it: it stays (-a moves it at any "
				"point)\n", capymig_tuple_format(&dc->tuple, text));
			dc->refused = true;
			return;
		}
		opts.at_read_seq = 1;
		opts.read_seq = rec.read_seq;
	}
	err = tcpmig_migrate_with(nl(dr->ctl), &dc->tuple, &opts, &id);
	if (err) {
		fprintf(stderr, "capyctl: drain: %s: %s%s%s\n",
			capymig_tuple_format(&dc->tuple, text),
			tcpmig_nl_strerror(err),
			dr->ctl->nl.ext_msg[0] ? ": " : "",
			dr->ctl->nl.ext_msg);
		/*
		 * What no retry changes: TCPMig moves IPv4 only, has no
		 * switch, or the connection is one no export takes.
		 */
		dc->refused = err == -EAFNOSUPPORT || err == -ENOTCONN ||
			      err == -EOPNOTSUPP;
		drain_failed(dr, dc, now);
		return;
	}
	dc->id = id;
	dc->since_ns = now;
	dc->exported = false;
	dr->in_flight++;
}

static int drain_event(const struct tcpmig_notification *ev, void *arg)
{
	struct drain *dr = arg;
	struct drain_conn *dc = drain_find(dr, &ev->tuple);

	if (!dc || !dc->id || dc->id != ev->migration_id)
		return 0;
	switch (ev->type) {
	case TCPMIG_EVENT_STATE_SENT:
		dc->exported = true;
		break;
	case TCPMIG_EVENT_MIGRATED:
		print_event(ev, dr->ctl);
		dc->id = 0;
		dc->seen = false;
		dr->in_flight--;
		dr->migrated++;
		break;
	case TCPMIG_EVENT_REJECTED:
	case TCPMIG_EVENT_FAILED:
		print_event(ev, dr->ctl);
		/* Gone from here: the next LIST forgets it. */
		dr->lost += dc->exported;
		drain_failed(dr, dc, mono_ns());
		break;
	}
	return 0;
}

/*
 * One round: starts what may start, gives up on what was not heard of.
 * Returns how many connections are still to move.
 */
static unsigned int drain_round(struct drain *dr, uint64_t now)
{
	unsigned int i, pending = 0;

	for (i = 0; i < dr->n; i++) {
		struct drain_conn *dc = &dr->v[i];

		if (dc->id && now - dc->since_ns > dr->lost_ns)
			drain_failed(dr, dc, now);
		if (dc->id) {
			pending++;
		} else if (dc->seen && !dc->refused) {
			pending++;
			if (dc->retry_ns <= now && dr->in_flight < dr->parallel)
				drain_start(dr, dc, now);
		}
	}
	return pending;
}

/*
 * TCPMIG_CONFIG_F_DRAINING on, the other flags as they are, in @cfg as
 * they were.
 */
static int set_draining(struct capyctl *ctl, struct tcpmig_config *cfg)
{
	struct tcpmig_config_set set = {};
	uint32_t flags;
	int err;

	err = tcpmig_get_config(nl(ctl), cfg);
	if (err)
		return err;
	flags = cfg->flags | TCPMIG_CONFIG_F_DRAINING;
	set.flags = &flags;
	return tcpmig_configure(nl(ctl), &set);
}

static int cmd_drain(struct capyctl *ctl, int argc, char **argv)
{
	struct drain dr = { .ctl = ctl, .parallel = 16 };
	struct tcpmig_endpoint target;
	struct tcpmig_config cfg;
	struct tcpmig_nl events;
	const char *pin = CAPYMIGD_BPF_PIN;
	uint64_t deadline, now;
	unsigned int i, left = 0;
	uint32_t timeout = 30, parallel = 16;
	int opt, err;

	optind = 1;
	while ((opt = getopt(argc, argv, "at:p:T:m:")) != -1) {
		switch (opt) {
		case 'a':
			dr.any_point = true;
			break;
		case 't':
			if (parse_u32(ctl, "timeout", optarg, 1, 86400,
				      &timeout))
				return usage_error(ctl);
			break;
		case 'p':
			if (parse_u32(ctl, "parallelism", optarg, 1, 4096,
				      &parallel))
				return usage_error(ctl);
			break;
		case 'T':
			if (capymig_wire_endpoint_parse(optarg, 0, &target))
				return usage_error(ctl);
			dr.target = &target;
			break;
		case 'm':
			pin = optarg;
			break;
		default:
			return usage_error(ctl);
		}
	}
	if (argc - optind > 1 ||
	    (argc - optind == 1 &&
	     capymig_wire_endpoint_parse(argv[optind], 1, &dr.server)))
		return usage_error(ctl);
	dr.parallel = parallel;
	/*
	 * Without request boundaries, a connection moves at any point of its
	 * stream: only the operator can say its application allows that.
	 */
	dr.mon = (struct monitor){ .conns_fd = -1 };
	if (!dr.any_point) {
		err = monitor_open_pinned(&dr.mon, pin);
		if (err) {
			fprintf(stderr, "capyctl: drain: no server monitor at "
				"%s (%s): its request boundaries unknown, no "
				"connection can move safely; -a moves them at "
				"any point of their streams\n", pin,
				strerror(-err));
			return EXIT_FAILURE;
		}
	}

	/* Listen first: a migration may end before MIGRATE returns. */
	nl(ctl);
	err = tcpmig_nl_open(&events) ?: tcpmig_join_events(&events);
	if (err) {
		monitor_close(&dr.mon);
		return request_failed(ctl, "drain", err);
	}
	err = set_draining(ctl, &cfg);
	if (err) {
		monitor_close(&dr.mon);
		tcpmig_nl_close(&events);
		return request_failed(ctl, "drain: setting DRAINING", err);
	}
	dr.lost_ns = migration_span_ns(&cfg);

	deadline = mono_ns() + timeout * 1000000000ULL;
	for (;;) {
		now = mono_ns();
		err = drain_list(&dr);
		if (err || !drain_round(&dr, now) || now >= deadline)
			break;
		/* An overrun loses events: DRAIN_LOST_NS covers them. */
		tcpmig_read_events(&events, 100, drain_event, &dr);
	}
	for (i = 0; i < dr.n; i++)
		left += dr.v[i].seen || dr.v[i].id;
	monitor_close(&dr.mon);
	tcpmig_nl_close(&events);
	free(dr.v);
	if (err)
		return request_failed(ctl, "drain: list", err);
	if (ctl->json) {
		struct json_writer w = { .out = stdout };

		json_begin_object(&w, NULL);
		json_uint(&w, "migrated", dr.migrated);
		json_uint(&w, "left", left);
		json_uint(&w, "lost", dr.lost);
		json_end_object(&w);
	} else {
		printf("drain: %u migrated, %u left, %u lost\n", dr.migrated,
		       left, dr.lost);
	}
	return left || dr.lost ? EXIT_FAILURE : EXIT_SUCCESS;
}

static const struct command commands[] = {
	{ "info", "info", cmd_info },
	{ "list", "list [LOCAL_PORT]", cmd_list },
	{ "export", "export LOCAL REMOTE > BLOB", cmd_export },
	{ "import", "import [-s LOCAL] [-c LISTENER_COOKIE] < BLOB",
	  cmd_import },
	{ "hold", "hold LOCAL REMOTE [TIMEOUT_MS (1-60000)]", cmd_hold },
	{ "monitor", "monitor", cmd_monitor },
	{ "config", "config [--heartbeat-ms MS] [--weight W] "
		    "[--[no-]draining] [--[no-]hold]\n"
		    "         [port N] [switch ADDR[:PORT]] [timeout MS]",
	  cmd_config },
	{ "pool", "pool [add|del ADDR]", cmd_pool },
	{ "migrate", "migrate [--read-seq N] LOCAL REMOTE [TARGET_ADDR:PORT]",
	  cmd_migrate },
	{ "stats", "stats", cmd_stats },
	{ "drain", "drain [-a] [-t SECONDS] [-p PARALLEL] "
		   "[-T TARGET_ADDR:PORT] [-m MONITOR_PIN]\n"
		   "         [SERVER_ADDR[:PORT]]", cmd_drain },
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
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct capyctl ctl = { 0 };
	const struct command *cmd;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "+jh", options, NULL)) != -1) {
		switch (opt) {
		case 'j':
			ctl.json = 1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = find_command(argv[optind]);
	if (!cmd) {
		fprintf(stderr, "capyctl: unknown command '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (optind + 1 < argc && (!strcmp(argv[optind + 1], "-h") ||
				  !strcmp(argv[optind + 1], "--help"))) {
		printf("usage: capyctl %s\n", cmd->usage);
		return EXIT_SUCCESS;
	}

	ctl.cmd = cmd;
	ret = cmd->run(&ctl, argc - optind, argv + optind);
	if (ctl.nl_open)
		tcpmig_nl_close(&ctl.nl);
	return ret;
}
