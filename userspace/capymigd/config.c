// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * capymigd's configuration file.  Keys are described by a table; inih
 * does the INI syntax.  The first mistake is reported with its file and
 * line, and nothing of a refused file is used.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <ini.h>

#include "config.h"
#include "flights.h"
#include "number.h"
#include "tuple.h"

void capymigd_config_defaults(struct capymigd_config *cfg)
{
	*cfg = (struct capymigd_config){
		.bpf_pin = CAPYMIGD_BPF_PIN,
		.interval_ms = 100,
		.proactive = true,
		.threshold_pct = 10,
		.decide_ms = 100,
		.settle_ms = 500,
		.reactive = true,
		.threshold_kib = 20,
		.rate = 10,
		.burst = 20,
		.holdoff_ms = 10000,
		.max_in_flight = 16,
		.target = CAPYMIGD_TARGET_SWITCH,
	};
}

enum kind { K_BOOL, K_UINT, K_PORT, K_PATH, K_LISTEN, K_TARGET, K_TARGETS };

struct key {
	const char *section;
	const char *name;
	enum kind kind;
	size_t offset;
	unsigned int min, max;	/* K_UINT */
};

#define KEY(s, n, k, field, lo, hi) \
	{ s, n, k, offsetof(struct capymigd_config, field), lo, hi }

static const struct key keys[] = {
	KEY("daemon", "service_port", K_PORT, service_port, 0, 0),
	KEY("daemon", "cgroup", K_PATH, cgroup, 0, 0),
	KEY("daemon", "bpf_pin", K_PATH, bpf_pin, 0, 0),
	KEY("daemon", "interval_ms", K_UINT, interval_ms, 10, 60000),
	KEY("daemon", "dry_run", K_BOOL, dry_run, 0, 0),
	KEY("daemon", "metrics", K_LISTEN, metrics, 0, 0),
	KEY("proactive", "enabled", K_BOOL, proactive, 0, 0),
	KEY("proactive", "threshold_pct", K_UINT, threshold_pct, 1, 1000),
	KEY("proactive", "decide_ms", K_UINT, decide_ms, 1, 60000),
	KEY("proactive", "settle_ms", K_UINT, settle_ms, 0, 60000),
	KEY("reactive", "enabled", K_BOOL, reactive, 0, 0),
	KEY("reactive", "threshold_kib", K_UINT, threshold_kib, 1, 1 << 20),
	KEY("migration", "rate", K_UINT, rate, 1, 100000),
	KEY("migration", "burst", K_UINT, burst, 1, 100000),
	KEY("migration", "holdoff_ms", K_UINT, holdoff_ms, 0, 3600000),
	KEY("migration", "any_point", K_BOOL, any_point, 0, 0),
	KEY("migration", "max_in_flight", K_UINT, max_in_flight, 1, FLIGHTS_MAX),
	KEY("migration", "target", K_TARGET, target, 0, 0),
	KEY("migration", "targets", K_TARGETS, targets, 0, 0),
};

/* struct parse_ctx notes the keys set in 32 bits. */
_Static_assert(sizeof(keys) / sizeof(keys[0]) <= 32, "too many keys");

struct parse_ctx {
	struct capymigd_config *cfg;
	FILE *in;
	const char *name;
	unsigned int line;	/* lines read: the one inih is on */
	unsigned int error_line;
	unsigned int target_line;
	unsigned int long_line;	/* a line longer than inih reads */
	int max_line;
	int read_errno;		/* the file could not be read: why */
	uint32_t set;		/* the keys set, by their index in keys[] */
	char *err;
	size_t err_len;
};

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(v, yes[i]) || !strcasecmp(v, no[i])) {
			*out = !strcasecmp(v, yes[i]);
			return 0;
		}
	}
	return -1;
}

/*
 * "ADDR:PORT ADDR:PORT ...", separated by spaces or commas, added to the
 * targets of earlier lines: a long list may take several (repeated keys,
 * or lines that continue the value, indented).
 */
static const char *parse_targets(char *v, struct capymigd_config *cfg)
{
	unsigned int before = cfg->ntargets;
	char *tok, *save;

	for (tok = strtok_r(v, " \t,", &save); tok;
	     tok = strtok_r(NULL, " \t,", &save)) {
		if (cfg->ntargets == CAPYMIGD_TARGETS_MAX)
			return "too many targets";
		if (capymig_wire_endpoint_parse(tok, 0,
						&cfg->targets[cfg->ntargets++]))
			return "want IPv4 ADDR:PORT endpoints";
	}
	return cfg->ntargets > before ? NULL : "no endpoint";
}

/* Sets one key; returns NULL or why the value is refused. */
static const char *set_key(struct parse_ctx *ctx, const struct key *k,
			   const char *value, char *why, size_t why_len)
{
	void *field = (char *)ctx->cfg + k->offset;
	char buf[CAPYMIGD_TARGETS_MAX * 24];
	uint64_t n;

	switch (k->kind) {
	case K_BOOL:
		return parse_bool(value, field) ? "want yes or no" : NULL;
	case K_UINT:
		if (capymig_parse_uint(value, k->min, k->max, &n)) {
			snprintf(why, why_len, "want an integer from %u to %u",
				 k->min, k->max);
			return why;
		}
		*(unsigned int *)field = n;
		return NULL;
	case K_PORT:
		if (capymig_parse_uint(value, 0, 65535, &n))
			return "want a port from 0 to 65535";
		*(uint16_t *)field = n;
		return NULL;
	case K_PATH:
		if (*value && *value != '/')
			return "want an absolute path, or nothing";
		if (strlen(value) >= PATH_MAX)
			return "path too long";
		strcpy(field, value);
		return NULL;
	case K_LISTEN:
		memset(field, 0, sizeof(struct tcpmig_endpoint));
		if (*value && capymig_wire_endpoint_parse(value, 0, field))
			return "want an IPv4 ADDR:PORT, or nothing";
		/* Unauthenticated: this host's users only. */
		if (*value && ntohl(((struct tcpmig_endpoint *)field)->addr) >>
			      IN_CLASSA_NSHIFT != IN_LOOPBACKNET)
			return "want a loopback address (127.0.0.0/8): the "
			       "metrics are unauthenticated";
		return NULL;
	case K_TARGET:
		ctx->target_line = ctx->line;
		if (!strcmp(value, "switch"))
			ctx->cfg->target = CAPYMIGD_TARGET_SWITCH;
		else if (!strcmp(value, "round-robin"))
			ctx->cfg->target = CAPYMIGD_TARGET_ROUND_ROBIN;
		else if (!capymig_wire_endpoint_parse(value, 0,
						      &ctx->cfg->fixed))
			ctx->cfg->target = CAPYMIGD_TARGET_FIXED;
		else
			return "want switch, round-robin or an IPv4 "
			       "ADDR:PORT";
		return NULL;
	case K_TARGETS:
		if (strlen(value) >= sizeof(buf))
			return "too many targets";
		strcpy(buf, value);
		return parse_targets(buf, ctx->cfg);
	}
	return "internal error";
}

/* Keeps the first mistake: the later ones may follow from it. */
static void error_here(struct parse_ctx *ctx, const char *section,
		       const char *key, const char *why)
{
	if (ctx->error_line)
		return;
	ctx->error_line = ctx->line;
	snprintf(ctx->err, ctx->err_len, "%s:%u: [%s] %s: %s", ctx->name,
		 ctx->line, section, key, why);
}

static int handler(void *user, const char *section, const char *name,
		   const char *value)
{
	struct parse_ctx *ctx = user;
	const char *why = "unknown key";
	char buf[96];
	bool known_section = false;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(keys[i].section, section))
			continue;
		known_section = true;
		if (strcmp(keys[i].name, name))
			continue;
		/*
		 * inih hands over a repeated key, and each line indented
		 * under a key, as the key again: a list may grow so, but a
		 * value set twice would be the last one, silently.
		 */
		if (keys[i].kind != K_TARGETS && (ctx->set & (1U << i))) {
			why = "set twice (a repeated key, or an indented line "
			      "that continues its value)";
			break;
		}
		ctx->set |= 1U << i;
		why = set_key(ctx, &keys[i], value, buf, sizeof(buf));
		break;
	}
	if (!known_section)
		why = "unknown section";
	if (!why)
		return 1;
	error_here(ctx, section, name, why);
	return 0;
}

/*
 * inih's reader, counting lines so that the handler knows its own.  A
 * line longer than inih's buffer would come in pieces, the rest read as
 * lines of their own: the file ends there for inih, and is refused.
 */
static char *reader(char *str, int num, void *stream)
{
	struct parse_ctx *ctx = stream;
	char *s = fgets(str, num, ctx->in);

	/* A directory, an I/O error: for inih, the end of the file. */
	if (!s && ferror(ctx->in))
		ctx->read_errno = errno;
	if (!s || strchr(s, '\n') || feof(ctx->in)) {
		ctx->line += !!s;
		return s;
	}
	ctx->long_line = ctx->line + 1;
	ctx->max_line = num - 2;
	return NULL;
}

int capymigd_config_parse(FILE *in, const char *name,
			  struct capymigd_config *cfg, char *err,
			  size_t err_len)
{
	struct capymigd_config parsed = *cfg;
	struct parse_ctx ctx = {
		.cfg = &parsed, .in = in, .name = name,
		.err = err, .err_len = err_len,
	};
	int ret;

	ret = ini_parse_stream(reader, &ctx, handler, &ctx);
	if (ret < 0 || ctx.read_errno) {
		snprintf(err, err_len, "%s: cannot read it%s%s", name,
			 ctx.read_errno ? ": " : "",
			 ctx.read_errno ? strerror(ctx.read_errno) : "");
		return -1;
	}
	/* A line inih itself refused, before any the handler refused. */
	if (ret > 0 && (!ctx.error_line || (unsigned int)ret < ctx.error_line))
		snprintf(err, err_len, "%s:%d: syntax error: want [section] "
			 "or key = value", name, ret);
	if (ret > 0)
		return -1;
	if (ctx.long_line) {
		if (!ctx.error_line)
			snprintf(err, err_len, "%s:%u: line longer than %d "
				 "characters", name, ctx.long_line,
				 ctx.max_line);
		return -1;
	}
	if (parsed.target == CAPYMIGD_TARGET_ROUND_ROBIN &&
	    !parsed.ntargets) {
		snprintf(err, err_len, "%s:%u: [migration] target: "
			 "round-robin needs targets", name, ctx.target_line);
		return -1;
	}
	*cfg = parsed;
	return 0;
}

int capymigd_config_load(const char *path, struct capymigd_config *cfg,
			 char *err, size_t err_len)
{
	FILE *in = fopen(path, "r");
	int ret;

	if (!in) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	ret = capymigd_config_parse(in, path, cfg, err, err_len);
	fclose(in);
	return ret;
}
