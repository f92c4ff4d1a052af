// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libcapymig: the tcpmig commands.  Each reply is parsed into a plain
 * struct so that tools and tests never touch netlink attributes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/capymig.h>

#include "tcpmig.h"

/*
 * Attribute types and the libmnl type each must have in a reply.  Binary
 * attributes are checked for their exact size separately.
 */
static const enum mnl_attr_data_type reply_attr_types[TCPMIG_A_MAX + 1] = {
	[TCPMIG_A_VERSION] = MNL_TYPE_NUL_STRING,
	[TCPMIG_A_GENL_VERSION] = MNL_TYPE_U32,
	[TCPMIG_A_NETNS_COOKIE] = MNL_TYPE_U64,
	[TCPMIG_A_TUPLE] = MNL_TYPE_BINARY,
	[TCPMIG_A_CONN] = MNL_TYPE_NESTED,
	[TCPMIG_A_STATE_LEN] = MNL_TYPE_U32,
	[TCPMIG_A_STATE_CHUNK] = MNL_TYPE_BINARY,
	[TCPMIG_A_FD] = MNL_TYPE_U32,
	[TCPMIG_A_EVENT] = MNL_TYPE_U32,
	[TCPMIG_A_ERROR] = MNL_TYPE_U32,
	[TCPMIG_A_TIMESTAMP_NS] = MNL_TYPE_U64,
	[TCPMIG_A_STATS] = MNL_TYPE_NESTED,
	[TCPMIG_A_UDP_PORT] = MNL_TYPE_U16,
	[TCPMIG_A_SWITCH] = MNL_TYPE_BINARY,
	[TCPMIG_A_MIGRATION_ID] = MNL_TYPE_U32,
	[TCPMIG_A_TARGET] = MNL_TYPE_BINARY,
	[TCPMIG_A_TIMEOUT_MS] = MNL_TYPE_U32,
	[TCPMIG_A_HEARTBEAT_MS] = MNL_TYPE_U32,
	[TCPMIG_A_WEIGHT] = MNL_TYPE_U32,
	[TCPMIG_A_CONFIG_FLAGS] = MNL_TYPE_U32,
	[TCPMIG_A_SERVER_PPS] = MNL_TYPE_U64,
	[TCPMIG_A_POOL_PPS] = MNL_TYPE_U64,
	[TCPMIG_A_POOL_SERVERS] = MNL_TYPE_U32,
	[TCPMIG_A_TARGET_PPS] = MNL_TYPE_U64,
};

static const enum mnl_attr_data_type conn_attr_types[TCPMIG_CONN_A_MAX + 1] = {
	[TCPMIG_CONN_A_TUPLE] = MNL_TYPE_BINARY,
	[TCPMIG_CONN_A_COOKIE] = MNL_TYPE_U64,
	[TCPMIG_CONN_A_RQLEN] = MNL_TYPE_U32,
	[TCPMIG_CONN_A_TQLEN] = MNL_TYPE_U32,
	[TCPMIG_CONN_A_COPIED_SEQ] = MNL_TYPE_U32,
};

struct attr_table {
	const enum mnl_attr_data_type *types;
	uint16_t max;
	const struct nlattr **tb;
};

static int collect_attr(const struct nlattr *attr, void *data)
{
	struct attr_table *t = data;
	uint16_t type = mnl_attr_get_type(attr);

	/* Newer kernels may add attributes: skip what we do not know. */
	if (type > t->max || !t->types[type])
		return MNL_CB_OK;
	if (mnl_attr_validate(attr, t->types[type]) < 0)
		return MNL_CB_ERROR;
	t->tb[type] = attr;
	return MNL_CB_OK;
}

/* A genl reply's top-level attributes into @tb. */
static int parse_reply(const struct nlmsghdr *nlh, const struct nlattr **tb)
{
	struct attr_table t = {
		.types = reply_attr_types, .max = TCPMIG_A_MAX, .tb = tb,
	};

	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), collect_attr,
			      &t) == MNL_CB_OK ? 0 : -EBADMSG;
}

static int get_endpoint(const struct nlattr *attr, struct tcpmig_endpoint *ep)
{
	if (mnl_attr_get_payload_len(attr) != sizeof(*ep))
		return -EBADMSG;
	memcpy(ep, mnl_attr_get_payload(attr), sizeof(*ep));
	return 0;
}

static int get_tuple(const struct nlattr *attr, struct capymig_tuple *tuple)
{
	if (!attr || mnl_attr_get_payload_len(attr) != sizeof(*tuple))
		return -EBADMSG;
	memcpy(tuple, mnl_attr_get_payload(attr), sizeof(*tuple));
	return 0;
}

/* One counter of a TCPMIG_A_STATS nest; unknown ones are skipped. */
static int collect_stat(const struct nlattr *attr, void *data)
{
	uint64_t *stats = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type > TCPMIG_STAT_MAX || type == TCPMIG_STAT_PAD)
		return MNL_CB_OK;
	if (mnl_attr_validate(attr, MNL_TYPE_U64) < 0)
		return MNL_CB_ERROR;
	stats[type] = mnl_attr_get_u64(attr);
	return MNL_CB_OK;
}

int tcpmig_parse_info(const struct nlmsghdr *nlh, struct tcpmig_info *info)
{
	const struct nlattr *tb[TCPMIG_A_MAX + 1] = { NULL };

	if (parse_reply(nlh, tb) ||
	    !tb[TCPMIG_A_VERSION] || !tb[TCPMIG_A_GENL_VERSION] ||
	    !tb[TCPMIG_A_NETNS_COOKIE] ||
	    mnl_attr_get_payload_len(tb[TCPMIG_A_VERSION]) > TCPMIG_VERSION_MAX)
		return -EBADMSG;

	strcpy(info->version, mnl_attr_get_str(tb[TCPMIG_A_VERSION]));
	info->genl_version = mnl_attr_get_u32(tb[TCPMIG_A_GENL_VERSION]);
	info->netns_cookie = mnl_attr_get_u64(tb[TCPMIG_A_NETNS_COOKIE]);
	memset(info->stats, 0, sizeof(info->stats));
	if (tb[TCPMIG_A_STATS] &&
	    mnl_attr_parse_nested(tb[TCPMIG_A_STATS], collect_stat,
				  info->stats) != MNL_CB_OK)
		return -EBADMSG;
	return 0;
}

static const char *const stat_names[TCPMIG_STAT_MAX + 1] = {
	[TCPMIG_STAT_EXPORTS] = "exports",
	[TCPMIG_STAT_IMPORTS] = "imports",
	[TCPMIG_STAT_EXPORTS_REFUSED] = "exports_refused",
	[TCPMIG_STAT_IMPORTS_REFUSED] = "imports_refused",
	[TCPMIG_STAT_HELD_PACKETS] = "held_packets",
	[TCPMIG_STAT_HOLD_EXPIRED] = "hold_expired",
	[TCPMIG_STAT_HOLD_OVERFLOWS] = "hold_overflows",
	[TCPMIG_STAT_MIGRATIONS_OUT] = "migrations_out",
	[TCPMIG_STAT_MIGRATIONS_IN] = "migrations_in",
	[TCPMIG_STAT_MIGRATIONS_FAILED] = "migrations_failed",
	[TCPMIG_STAT_MSG_RETRANSMITS] = "msg_retransmits",
	[TCPMIG_STAT_MSG_NOT_MEMBER] = "msg_not_member",
	[TCPMIG_STAT_MSG_MALFORMED] = "msg_malformed",
	[TCPMIG_STAT_MSG_UNEXPECTED] = "msg_unexpected",
	[TCPMIG_STAT_MSG_OVERFLOWS] = "msg_overflows",
	[TCPMIG_STAT_NO_HOLD_DROPS] = "no_hold_drops",
	[TCPMIG_STAT_SEGMENTS_FORWARDED] = "segments_forwarded",
	[TCPMIG_STAT_SEGMENTS_INJECTED] = "segments_injected",
	[TCPMIG_STAT_SEGMENTS_AFTER_IMPORT] = "segments_after_import",
	[TCPMIG_STAT_SEGMENTS_RECEIVED] = "segments_received",
	[TCPMIG_STAT_MSG_SPOOFED] = "msg_spoofed",
};

const char *tcpmig_stat_name(enum tcpmig_stat stat)
{
	return stat <= TCPMIG_STAT_MAX ? stat_names[stat] : NULL;
}

static int info_cb(const struct nlmsghdr *nlh, void *data)
{
	if (tcpmig_parse_info(nlh, data)) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

int tcpmig_get_info(struct tcpmig_nl *nl, struct tcpmig_info *info)
{
	return tcpmig_nl_request(nl, TCPMIG_CMD_GET_INFO, 0, NULL, info_cb,
				 info);
}

void tcpmig_blob_free(struct tcpmig_blob *blob)
{
	free(blob->data);
	blob->data = NULL;
	blob->len = 0;
}

static uint32_t rec_padded(uint32_t len)
{
	return (len + TCPMIG_STATE_ALIGN - 1) & ~(TCPMIG_STATE_ALIGN - 1);
}

/*
 * Walks @blob's records without trusting it: calls @fn with each one's
 * type, value and length until @fn returns nonzero, which is returned.
 * -EINVAL for a blob that is not one, 0 when the records ran out.
 */
static int blob_walk(const struct tcpmig_blob *blob,
		     int (*fn)(uint16_t type, const uint8_t *value,
			       uint32_t len, void *arg),
		     void *arg)
{
	const struct tcpmig_state_hdr *hdr = (const void *)blob->data;
	const uint8_t *pos, *end = blob->data + blob->len;
	int ret;

	if (blob->len < sizeof(*hdr) || ntohl(hdr->magic) != TCPMIG_STATE_MAGIC ||
	    ntohs(hdr->hdr_len) != sizeof(*hdr))
		return -EINVAL;
	for (pos = blob->data + sizeof(*hdr);
	     (size_t)(end - pos) >= sizeof(struct tcpmig_state_rec);) {
		const struct tcpmig_state_rec *rec = (const void *)pos;
		uint32_t len = ntohl(rec->len), padded = rec_padded(len);

		pos += sizeof(*rec);
		if (padded < len || padded > (size_t)(end - pos))
			return -EINVAL;
		ret = fn(ntohs(rec->type), pos, len, arg);
		if (ret)
			return ret;
		pos += padded;
	}
	return 0;
}

static int take_tuple(uint16_t type, const uint8_t *value, uint32_t len,
		      void *arg)
{
	struct capymig_tuple *tuple = arg;

	if (type != TCPMIG_ST_TUPLE)
		return 0;
	if (len != sizeof(*tuple))
		return -EINVAL;
	memcpy(tuple, value, sizeof(*tuple));
	return tuple->family == AF_INET || tuple->family == AF_INET6 ? 1 :
								       -EINVAL;
}

int tcpmig_blob_tuple(const struct tcpmig_blob *blob,
		      struct capymig_tuple *tuple)
{
	int ret = blob_walk(blob, take_tuple, tuple);

	return ret > 0 ? 0 : -EINVAL;
}

struct app_state {
	const void *data;
	uint32_t len;
};

static int take_app(uint16_t type, const uint8_t *value, uint32_t len,
		    void *arg)
{
	struct app_state *app = arg;

	if (type != TCPMIG_ST_APP)
		return 0;
	app->data = value;
	app->len = len;
	return 1;
}

int tcpmig_blob_app(const struct tcpmig_blob *blob, const void **data,
		    uint32_t *len)
{
	struct app_state app;
	int ret = blob_walk(blob, take_app, &app);

	if (ret <= 0)
		return ret ?: -ENOENT;
	*data = app.data;
	*len = app.len;
	return 0;
}

/* Where a copy of @blob without its TCPMIG_ST_APP record is written. */
struct blob_copy {
	uint8_t *to;
	uint32_t len;
};

static void put_rec(struct blob_copy *c, uint16_t type, const void *value,
		    uint32_t len)
{
	struct tcpmig_state_rec rec = {
		.type = htons(type), .len = htonl(len),
	};
	uint8_t *to = c->to + c->len;

	memcpy(to, &rec, sizeof(rec));
	memcpy(to + sizeof(rec), value, len);
	memset(to + sizeof(rec) + len, 0, rec_padded(len) - len);
	c->len += sizeof(rec) + rec_padded(len);
}

static int copy_other_rec(uint16_t type, const uint8_t *value, uint32_t len,
			  void *arg)
{
	if (type != TCPMIG_ST_APP)
		put_rec(arg, type, value, len);
	return 0;
}

static int any_rec(uint16_t type, const uint8_t *value, uint32_t len,
		   void *arg)
{
	return 0;
}

int tcpmig_blob_set_app(struct tcpmig_blob *blob, const void *data,
			uint32_t len)
{
	struct tcpmig_state_hdr *hdr;
	struct blob_copy c;
	uint64_t size;
	int err;

	err = blob_walk(blob, any_rec, NULL);
	if (err)
		return err;
	/* Checked before it is padded, which could wrap it to nothing. */
	if (len > TCPMIG_STATE_MAX)
		return -E2BIG;
	/* At most the blob as it is, and the new record. */
	size = (uint64_t)blob->len + sizeof(struct tcpmig_state_rec) +
	       rec_padded(len);
	if (size > TCPMIG_STATE_MAX)
		return -E2BIG;
	c.to = malloc(size);
	if (!c.to)
		return -ENOMEM;
	c.len = sizeof(*hdr);
	memcpy(c.to, blob->data, sizeof(*hdr));
	blob_walk(blob, copy_other_rec, &c);
	put_rec(&c, TCPMIG_ST_APP, data, len);
	hdr = (struct tcpmig_state_hdr *)c.to;
	hdr->total_len = htonl(c.len);
	free(blob->data);
	blob->data = c.to;
	blob->len = c.len;
	return 0;
}

int tcpmig_parse_conn(const struct nlmsghdr *nlh, struct tcpmig_conn *conn)
{
	const struct nlattr *tb[TCPMIG_A_MAX + 1] = { NULL };
	const struct nlattr *ctb[TCPMIG_CONN_A_MAX + 1] = { NULL };
	struct attr_table t = {
		.types = conn_attr_types, .max = TCPMIG_CONN_A_MAX, .tb = ctb,
	};

	if (parse_reply(nlh, tb) || !tb[TCPMIG_A_CONN] ||
	    mnl_attr_parse_nested(tb[TCPMIG_A_CONN], collect_attr, &t) !=
		    MNL_CB_OK ||
	    get_tuple(ctb[TCPMIG_CONN_A_TUPLE], &conn->tuple) ||
	    !ctb[TCPMIG_CONN_A_RQLEN] || !ctb[TCPMIG_CONN_A_TQLEN])
		return -EBADMSG;
	conn->cookie = ctb[TCPMIG_CONN_A_COOKIE] ?
		       mnl_attr_get_u64(ctb[TCPMIG_CONN_A_COOKIE]) : 0;
	conn->rqlen = mnl_attr_get_u32(ctb[TCPMIG_CONN_A_RQLEN]);
	conn->tqlen = mnl_attr_get_u32(ctb[TCPMIG_CONN_A_TQLEN]);
	conn->copied_seq = ctb[TCPMIG_CONN_A_COPIED_SEQ] ?
			   mnl_attr_get_u32(ctb[TCPMIG_CONN_A_COPIED_SEQ]) : 0;
	return 0;
}

struct list_ctx {
	uint16_t local_port;
	tcpmig_conn_cb cb;
	void *arg;
};

static int list_build(struct nlmsghdr *nlh, void *data)
{
	const struct list_ctx *ctx = data;

	if (ctx->local_port)
		mnl_attr_put_u16(nlh, TCPMIG_A_LOCAL_PORT, ctx->local_port);
	return 0;
}

static int list_reply(const struct nlmsghdr *nlh, void *data)
{
	const struct list_ctx *ctx = data;
	struct tcpmig_conn conn;

	if (tcpmig_parse_conn(nlh, &conn)) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	return ctx->cb(&conn, ctx->arg) ? MNL_CB_ERROR : MNL_CB_OK;
}

int tcpmig_list(struct tcpmig_nl *nl, uint16_t local_port, tcpmig_conn_cb cb,
		void *arg)
{
	struct list_ctx ctx = { local_port, cb, arg };

	return tcpmig_nl_request(nl, TCPMIG_CMD_LIST, NLM_F_DUMP, list_build,
				 list_reply, &ctx);
}

struct export_ctx {
	const struct capymig_tuple *tuple;
	uint64_t cookie;
	struct tcpmig_blob *blob;
	uint32_t expected;
	uint8_t *buf;		/* for the kernel to write the blob to */
	uint32_t room;
};

static int export_build(struct nlmsghdr *nlh, void *data)
{
	const struct export_ctx *ctx = data;

	if (ctx->tuple)
		mnl_attr_put(nlh, TCPMIG_A_TUPLE, sizeof(*ctx->tuple),
			     ctx->tuple);
	else
		mnl_attr_put_u64(nlh, TCPMIG_A_COOKIE, ctx->cookie);
	if (ctx->buf) {
		mnl_attr_put_u64(nlh, TCPMIG_A_STATE_BUF, (uintptr_t)ctx->buf);
		mnl_attr_put_u32(nlh, TCPMIG_A_STATE_LEN, ctx->room);
	}
	return 0;
}

/*
 * The blob written to our buffer (the reply says how long it is), or a
 * message's chunks, appended; the first message announces the total.
 */
static int export_reply(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[TCPMIG_A_MAX + 1] = { NULL };
	struct export_ctx *ctx = data;
	struct tcpmig_blob *blob = ctx->blob;
	const struct nlattr *attr;
	uint32_t len;

	errno = EBADMSG;
	if (parse_reply(nlh, tb) || (!blob->data && !tb[TCPMIG_A_STATE_LEN]))
		return MNL_CB_ERROR;
	if (!tb[TCPMIG_A_STATE_CHUNK]) {
		/* Written to our buffer: one reply, which says how much. */
		if (blob->data || !ctx->buf || !tb[TCPMIG_A_STATE_LEN])
			return MNL_CB_ERROR;
		len = mnl_attr_get_u32(tb[TCPMIG_A_STATE_LEN]);
		if (len > ctx->room)
			return MNL_CB_ERROR;
		blob->data = ctx->buf;
		blob->len = ctx->expected = len;
		ctx->buf = NULL;
		return MNL_CB_OK;
	}
	if (!blob->data) {
		ctx->expected = mnl_attr_get_u32(tb[TCPMIG_A_STATE_LEN]);
		blob->data = malloc(ctx->expected ? ctx->expected : 1);
		if (!blob->data) {
			errno = ENOMEM;
			return MNL_CB_ERROR;
		}
	}
	mnl_attr_for_each(attr, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(attr) != TCPMIG_A_STATE_CHUNK)
			continue;
		len = mnl_attr_get_payload_len(attr);
		if (len > ctx->expected - blob->len)
			return MNL_CB_ERROR;
		memcpy(blob->data + blob->len, mnl_attr_get_payload(attr),
		       len);
		blob->len += len;
	}
	return MNL_CB_OK;
}

int tcpmig_export(struct tcpmig_nl *nl, const struct capymig_tuple *tuple,
		  uint64_t cookie, struct tcpmig_blob *blob)
{
	struct export_ctx ctx = { tuple, cookie, blob, 0, NULL,
				  nl->export_hint };
	int err;

	blob->data = NULL;
	blob->len = 0;
	/*
	 * One reply: the kernel writes the blob straight to our buffer, or,
	 * larger than that, into the reply.  Too large for one, a dump.
	 */
	ctx.buf = malloc(ctx.room);
	err = tcpmig_nl_call(nl, TCPMIG_CMD_EXPORT, export_build,
			     export_reply, &ctx);
	free(ctx.buf);
	ctx.buf = NULL;
	if (err == -EMSGSIZE && !blob->data)
		err = tcpmig_nl_request(nl, TCPMIG_CMD_EXPORT, NLM_F_DUMP,
					export_build, export_reply, &ctx);
	if (!err && (!blob->data || blob->len != ctx.expected))
		err = -EBADMSG;
	if (err)
		tcpmig_blob_free(blob);
	else if (blob->len > nl->export_hint)
		nl->export_hint = blob->len < TCPMIG_EXPORT_HINT_MAX ?
				  blob->len : TCPMIG_EXPORT_HINT_MAX;
	return err;
}

struct import_ctx {
	const struct tcpmig_blob *blob;
	const struct tcpmig_import_opts *opts;
	struct tcpmig_import_result *result;
};

/* The kernel reads the blob from where it lies. */
static int import_build(struct nlmsghdr *nlh, void *data)
{
	const struct import_ctx *ctx = data;
	const struct tcpmig_import_opts *opts = ctx->opts;

	mnl_attr_put_u64(nlh, TCPMIG_A_STATE_BUF, (uintptr_t)ctx->blob->data);
	mnl_attr_put_u32(nlh, TCPMIG_A_STATE_LEN, ctx->blob->len);
	if (!opts)
		return 0;
	if (opts->serve)
		mnl_attr_put(nlh, TCPMIG_A_TUPLE, sizeof(*opts->serve),
			     opts->serve);
	if (opts->listener_cookie)
		mnl_attr_put_u64(nlh, TCPMIG_A_LISTENER_COOKIE,
				 opts->listener_cookie);
	if (opts->want_fd)
		mnl_attr_put_u32(nlh, TCPMIG_A_IMPORT_FLAGS,
				 TCPMIG_IMPORT_F_FD);
	return 0;
}

static int import_reply(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[TCPMIG_A_MAX + 1] = { NULL };
	struct import_ctx *ctx = data;
	int err = parse_reply(nlh, tb);

	/* The kernel installed it whatever else the reply says. */
	if (!err && tb[TCPMIG_A_FD])
		ctx->result->fd = mnl_attr_get_u32(tb[TCPMIG_A_FD]);
	if (err || get_tuple(tb[TCPMIG_A_TUPLE], &ctx->result->tuple)) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

int tcpmig_import(struct tcpmig_nl *nl, const struct tcpmig_blob *blob,
		  const struct tcpmig_import_opts *opts,
		  struct tcpmig_import_result *result)
{
	struct tcpmig_import_result ignored;
	struct import_ctx ctx = { blob, opts, result ? result : &ignored };
	int err;

	if (opts && opts->want_fd && !result) {
		snprintf(nl->ext_msg, sizeof(nl->ext_msg),
			 "want_fd without a result to return it in");
		return -EINVAL;
	}
	ctx.result->fd = -1;
	err = tcpmig_nl_call(nl, TCPMIG_CMD_IMPORT, import_build,
			     import_reply, &ctx);
	if (err && ctx.result->fd >= 0) {
		close(ctx.result->fd);
		ctx.result->fd = -1;
	}
	return err;
}

struct hold_ctx {
	const struct capymig_tuple *tuple;
	uint32_t timeout_ms;
};

static int hold_build(struct nlmsghdr *nlh, void *data)
{
	const struct hold_ctx *ctx = data;

	mnl_attr_put(nlh, TCPMIG_A_TUPLE, sizeof(*ctx->tuple), ctx->tuple);
	if (ctx->timeout_ms)
		mnl_attr_put_u32(nlh, TCPMIG_A_TIMEOUT_MS, ctx->timeout_ms);
	return 0;
}

int tcpmig_hold(struct tcpmig_nl *nl, const struct capymig_tuple *tuple,
		uint32_t timeout_ms)
{
	struct hold_ctx ctx = { tuple, timeout_ms };

	return tcpmig_nl_request(nl, TCPMIG_CMD_HOLD, 0, hold_build, NULL,
				 &ctx);
}

static const char *const event_names[] = {
	[TCPMIG_EVENT_EXPORTED] = "exported",
	[TCPMIG_EVENT_IMPORTED] = "imported",
	[TCPMIG_EVENT_EXPORT_REFUSED] = "export_refused",
	[TCPMIG_EVENT_IMPORT_REFUSED] = "import_refused",
	[TCPMIG_EVENT_HOLD_EXPIRED] = "hold_expired",
	[TCPMIG_EVENT_PREPARE_SENT] = "prepare_sent",
	[TCPMIG_EVENT_PREPARED] = "prepared",
	[TCPMIG_EVENT_PREPARE_ACKED] = "prepare_acked",
	[TCPMIG_EVENT_STATE_SENT] = "state_sent",
	[TCPMIG_EVENT_MIGRATED] = "migrated",
	[TCPMIG_EVENT_REJECTED] = "rejected",
	[TCPMIG_EVENT_FAILED] = "failed",
	[TCPMIG_EVENT_LOAD] = "load",
};

const char *tcpmig_event_name(uint32_t type)
{
	return type < sizeof(event_names) / sizeof(event_names[0]) ?
	       event_names[type] : NULL;
}

int tcpmig_parse_event(const struct nlmsghdr *nlh, struct tcpmig_notification *ev)
{
	const struct nlattr *tb[TCPMIG_A_MAX + 1] = { NULL };

	memset(ev, 0, sizeof(*ev));
	if (parse_reply(nlh, tb) || !tb[TCPMIG_A_EVENT] ||
	    !tb[TCPMIG_A_TIMESTAMP_NS])
		return -EBADMSG;
	ev->type = mnl_attr_get_u32(tb[TCPMIG_A_EVENT]);
	/* LOAD is about the server, every other event about a connection. */
	if (ev->type == TCPMIG_EVENT_LOAD) {
		if (!tb[TCPMIG_A_SERVER_PPS] || !tb[TCPMIG_A_POOL_PPS] ||
		    !tb[TCPMIG_A_POOL_SERVERS] || !tb[TCPMIG_A_TARGET_PPS])
			return -EBADMSG;
		ev->server_pps = mnl_attr_get_u64(tb[TCPMIG_A_SERVER_PPS]);
		ev->pool_pps = mnl_attr_get_u64(tb[TCPMIG_A_POOL_PPS]);
		ev->pool_servers = mnl_attr_get_u32(tb[TCPMIG_A_POOL_SERVERS]);
		ev->target_pps = mnl_attr_get_u64(tb[TCPMIG_A_TARGET_PPS]);
	} else if (get_tuple(tb[TCPMIG_A_TUPLE], &ev->tuple)) {
		return -EBADMSG;
	}
	ev->timestamp_ns = mnl_attr_get_u64(tb[TCPMIG_A_TIMESTAMP_NS]);
	if (tb[TCPMIG_A_ERROR])
		ev->error = mnl_attr_get_u32(tb[TCPMIG_A_ERROR]);
	if (tb[TCPMIG_A_STATE_LEN])
		ev->state_len = mnl_attr_get_u32(tb[TCPMIG_A_STATE_LEN]);
	if (tb[TCPMIG_A_MIGRATION_ID])
		ev->migration_id = mnl_attr_get_u32(tb[TCPMIG_A_MIGRATION_ID]);
	if (tb[TCPMIG_A_TARGET] &&
	    get_endpoint(tb[TCPMIG_A_TARGET], &ev->target))
		return -EBADMSG;
	return 0;
}

static int join_group(struct tcpmig_nl *nl, unsigned int group)
{
	if (!group)
		return -ENOENT;
	if (mnl_socket_setsockopt(nl->sock, NETLINK_ADD_MEMBERSHIP, &group,
				  sizeof(group)))
		return -errno;
	return 0;
}

int tcpmig_join_events(struct tcpmig_nl *nl)
{
	return join_group(nl, nl->events_group);
}

int tcpmig_join_load(struct tcpmig_nl *nl)
{
	return join_group(nl, nl->load_group);
}

int tcpmig_read_events(struct tcpmig_nl *nl, int timeout_ms,
		       tcpmig_event_cb cb, void *arg)
{
	struct pollfd pfd = { mnl_socket_get_fd(nl->sock), POLLIN, 0 };
	char buf[TCPMIG_NL_RECV_SIZE];
	struct tcpmig_notification ev;
	const struct nlmsghdr *nlh;
	bool lost = false;
	int len, ret;

	ret = poll(&pfd, 1, timeout_ms);
	if (ret <= 0)
		return ret < 0 && errno != EINTR ? -errno : 0;
	while ((len = recv(pfd.fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0 ||
	       (len < 0 && errno == ENOBUFS)) {
		lost |= len < 0;
		for (nlh = (const void *)buf; len > 0 && mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len))
			if (!tcpmig_parse_event(nlh, &ev) &&
			    (ret = cb(&ev, arg)))
				return ret;
	}
	if (len < 0 && errno != EAGAIN && errno != EINTR)
		return -errno;
	return lost ? -ENOBUFS : 0;
}

int tcpmig_monitor(struct tcpmig_nl *nl, tcpmig_event_cb cb, void *arg)
{
	int ret = tcpmig_join_events(nl);

	while (!ret)
		ret = tcpmig_read_events(nl, -1, cb, arg);
	return ret;
}

static int config_build(struct nlmsghdr *nlh, void *data)
{
	const struct tcpmig_config_set *set = data;

	if (set->udp_port)
		mnl_attr_put_u16(nlh, TCPMIG_A_UDP_PORT, set->udp_port);
	if (set->sw)
		mnl_attr_put(nlh, TCPMIG_A_SWITCH, sizeof(*set->sw), set->sw);
	if (set->timeout_ms)
		mnl_attr_put_u32(nlh, TCPMIG_A_TIMEOUT_MS, set->timeout_ms);
	if (set->heartbeat_ms)
		mnl_attr_put_u32(nlh, TCPMIG_A_HEARTBEAT_MS,
				 *set->heartbeat_ms);
	if (set->weight)
		mnl_attr_put_u32(nlh, TCPMIG_A_WEIGHT, *set->weight);
	if (set->flags)
		mnl_attr_put_u32(nlh, TCPMIG_A_CONFIG_FLAGS, *set->flags);
	return 0;
}

int tcpmig_configure(struct tcpmig_nl *nl, const struct tcpmig_config_set *set)
{
	return tcpmig_nl_request(nl, TCPMIG_CMD_SET_CONFIG, 0, config_build,
				 NULL, (void *)set);
}

int tcpmig_set_config(struct tcpmig_nl *nl, uint16_t udp_port,
		      const struct tcpmig_endpoint *sw, uint32_t timeout_ms)
{
	struct tcpmig_config_set set = {
		.udp_port = udp_port, .sw = sw, .timeout_ms = timeout_ms,
	};

	return tcpmig_configure(nl, &set);
}

static int config_u32(const struct nlattr *attr, uint32_t *value)
{
	if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
		return MNL_CB_ERROR;
	*value = mnl_attr_get_u32(attr);
	return MNL_CB_OK;
}

/* GET_CONFIG: repeated TCPMIG_A_PEER attributes, so walked by hand. */
static int config_attr(const struct nlattr *attr, void *data)
{
	struct tcpmig_config *config = data;
	struct tcpmig_endpoint ep;

	switch (mnl_attr_get_type(attr)) {
	case TCPMIG_A_UDP_PORT:
		if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
			return MNL_CB_ERROR;
		config->udp_port = mnl_attr_get_u16(attr);
		break;
	case TCPMIG_A_TIMEOUT_MS:
		return config_u32(attr, &config->timeout_ms);
	case TCPMIG_A_HEARTBEAT_MS:
		return config_u32(attr, &config->heartbeat_ms);
	case TCPMIG_A_WEIGHT:
		return config_u32(attr, &config->weight);
	case TCPMIG_A_CONFIG_FLAGS:
		return config_u32(attr, &config->flags);
	case TCPMIG_A_SWITCH:
		if (get_endpoint(attr, &config->sw))
			return MNL_CB_ERROR;
		break;
	case TCPMIG_A_PEER:
		if (get_endpoint(attr, &ep) ||
		    config->npeers == TCPMIG_POOL_MAX)
			return MNL_CB_ERROR;
		config->peers[config->npeers++] = ep.addr;
		break;
	}
	return MNL_CB_OK;
}

static int config_reply(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), config_attr,
			      data);
}

int tcpmig_get_config(struct tcpmig_nl *nl, struct tcpmig_config *config)
{
	memset(config, 0, sizeof(*config));
	return tcpmig_nl_request(nl, TCPMIG_CMD_GET_CONFIG, 0, NULL,
				 config_reply, config);
}

static int peer_build(struct nlmsghdr *nlh, void *data)
{
	struct tcpmig_endpoint ep = { .addr = *(const __be32 *)data };

	mnl_attr_put(nlh, TCPMIG_A_PEER, sizeof(ep), &ep);
	return 0;
}

int tcpmig_pool_add(struct tcpmig_nl *nl, __be32 addr)
{
	return tcpmig_nl_request(nl, TCPMIG_CMD_POOL_ADD, 0, peer_build, NULL,
				 &addr);
}

int tcpmig_pool_del(struct tcpmig_nl *nl, __be32 addr)
{
	return tcpmig_nl_request(nl, TCPMIG_CMD_POOL_DEL, 0, peer_build, NULL,
				 &addr);
}

struct migrate_ctx {
	const struct capymig_tuple *tuple;
	const struct tcpmig_migrate_opts *opts;
	uint32_t *id;
};

static int migrate_build(struct nlmsghdr *nlh, void *data)
{
	const struct migrate_ctx *ctx = data;
	const struct tcpmig_migrate_opts *opts = ctx->opts;

	mnl_attr_put(nlh, TCPMIG_A_TUPLE, sizeof(*ctx->tuple), ctx->tuple);
	if (opts->target)
		mnl_attr_put(nlh, TCPMIG_A_TARGET, sizeof(*opts->target),
			     opts->target);
	if (opts->at_read_seq)
		mnl_attr_put_u32(nlh, TCPMIG_A_READ_SEQ, opts->read_seq);
	return 0;
}

static int migrate_reply(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[TCPMIG_A_MAX + 1] = { NULL };
	const struct migrate_ctx *ctx = data;

	if (parse_reply(nlh, tb) || !tb[TCPMIG_A_MIGRATION_ID]) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	*ctx->id = mnl_attr_get_u32(tb[TCPMIG_A_MIGRATION_ID]);
	return MNL_CB_OK;
}

int tcpmig_migrate_with(struct tcpmig_nl *nl, const struct capymig_tuple *tuple,
			const struct tcpmig_migrate_opts *opts, uint32_t *id)
{
	static const struct tcpmig_migrate_opts none;
	struct migrate_ctx ctx = { tuple, opts ? opts : &none, id };

	*id = 0;
	return tcpmig_nl_request(nl, TCPMIG_CMD_MIGRATE, 0, migrate_build,
				 migrate_reply, &ctx);
}

int tcpmig_migrate(struct tcpmig_nl *nl, const struct capymig_tuple *tuple,
		   const struct tcpmig_endpoint *target, uint32_t *id)
{
	struct tcpmig_migrate_opts opts = { .target = target };

	return tcpmig_migrate_with(nl, tuple, &opts, id);
}
