// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of libcapymig's message parsing, on messages built here the
 * way the kernel lays them out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <linux/genetlink.h>
#include <linux/capymig.h>

#include "tcpmig.h"

static char buf[8192];

/* An NLMSG_ERROR as netlink_ack() builds it. */
static struct nlmsghdr *put_error(int error, int capped, const char *ext_msg)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlmsghdr request = {
		.nlmsg_len = sizeof(request) + 20,
		.nlmsg_type = 0x20,
	};
	struct nlmsgerr *err;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NLMSG_ERROR;
	err = mnl_nlmsg_put_extra_header(nlh, sizeof(*err));
	err->error = error;
	err->msg = request;
	if (!capped) {
		/* the echoed request's payload */
		mnl_nlmsg_put_extra_header(nlh, 20);
	} else {
		nlh->nlmsg_flags |= NLM_F_CAPPED;
	}
	if (ext_msg) {
		nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
		mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, ext_msg);
	}
	return nlh;
}

static void error_ack_is_zero(void **state)
{
	char msg[64] = "stale";

	assert_int_equal(tcpmig_nl_parse_error(put_error(0, 1, NULL), msg,
					       sizeof(msg)), 0);
	assert_string_equal(msg, "");
}

static void error_with_extack_capped(void **state)
{
	char msg[64];

	assert_int_equal(tcpmig_nl_parse_error(put_error(-EINVAL, 1,
							 "bad attribute"),
					       msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "bad attribute");
}

static void error_with_extack_after_full_request(void **state)
{
	char msg[64];

	assert_int_equal(tcpmig_nl_parse_error(put_error(-EPERM, 0,
							 "no permission"),
					       msg, sizeof(msg)), -EPERM);
	assert_string_equal(msg, "no permission");
}

static void error_extack_truncated_to_buffer(void **state)
{
	char msg[8];

	tcpmig_nl_parse_error(put_error(-EINVAL, 1, "a long explanation"), msg,
			      sizeof(msg));
	assert_string_equal(msg, "a long ");
}

static void error_too_short_is_rejected(void **state)
{
	struct nlmsghdr *nlh = put_error(-EINVAL, 1, NULL);
	char msg[8];

	nlh->nlmsg_len = sizeof(*nlh) + 2;
	assert_int_equal(tcpmig_nl_parse_error(nlh, msg, sizeof(msg)),
			 -EBADMSG);
}

static struct nlmsghdr *put_genl(uint16_t type, uint8_t cmd)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	return nlh;
}

static void done_reports_error_and_reason(void **state)
{
	struct nlmsghdr *nlh;
	char msg[64];
	int *error;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_flags = NLM_F_MULTI | NLM_F_ACK_TLVS;
	error = mnl_nlmsg_put_extra_header(nlh, sizeof(*error));
	*error = -EOPNOTSUPP;
	mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, "urgent data pending");
	assert_int_equal(tcpmig_nl_parse_done(nlh, msg, sizeof(msg)),
			 -EOPNOTSUPP);
	assert_string_equal(msg, "urgent data pending");

	nlh->nlmsg_len = sizeof(*nlh);		/* an old kernel's */
	assert_int_equal(tcpmig_nl_parse_done(nlh, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
}

static void put_group(struct nlmsghdr *nlh, const char *name, uint32_t id)
{
	struct nlattr *grp = mnl_attr_nest_start(nlh, 1);

	mnl_attr_put_strz(nlh, CTRL_ATTR_MCAST_GRP_NAME, name);
	mnl_attr_put_u32(nlh, CTRL_ATTR_MCAST_GRP_ID, id);
	mnl_attr_nest_end(nlh, grp);
}

static void family_id_and_events_group_are_read(void **state)
{
	struct nlmsghdr *nlh = put_genl(GENL_ID_CTRL, CTRL_CMD_NEWFAMILY);
	struct nlattr *groups;
	uint32_t group, load;
	uint16_t id;

	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, TCPMIG_GENL_NAME);
	mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, 0x1a);
	groups = mnl_attr_nest_start(nlh, CTRL_ATTR_MCAST_GROUPS);
	put_group(nlh, "other", 7);
	put_group(nlh, TCPMIG_MCGRP_EVENTS, 9);
	put_group(nlh, TCPMIG_MCGRP_LOAD, 10);
	mnl_attr_nest_end(nlh, groups);
	assert_int_equal(tcpmig_nl_parse_family(nlh, &id, &group, &load), 0);
	assert_int_equal(id, 0x1a);
	assert_int_equal(group, 9);
	assert_int_equal(load, 10);
}

static void family_without_id_is_rejected(void **state)
{
	struct nlmsghdr *nlh = put_genl(GENL_ID_CTRL, CTRL_CMD_NEWFAMILY);
	uint32_t group, load;
	uint16_t id;

	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, TCPMIG_GENL_NAME);
	assert_int_equal(tcpmig_nl_parse_family(nlh, &id, &group, &load),
			 -EINVAL);
}

static struct nlmsghdr *put_info(const char *version, int with_cookie)
{
	struct nlmsghdr *nlh = put_genl(0x1a, TCPMIG_CMD_GET_INFO);

	mnl_attr_put_strz(nlh, TCPMIG_A_VERSION, version);
	mnl_attr_put_u32(nlh, TCPMIG_A_GENL_VERSION, TCPMIG_GENL_VERSION);
	if (with_cookie)
		mnl_attr_put_u64(nlh, TCPMIG_A_NETNS_COOKIE, 4242);
	return nlh;
}

static void info_is_read(void **state)
{
	struct tcpmig_info info;

	assert_int_equal(tcpmig_parse_info(put_info("1.2.3", 1), &info), 0);
	assert_string_equal(info.version, "1.2.3");
	assert_int_equal(info.genl_version, TCPMIG_GENL_VERSION);
	assert_int_equal(info.netns_cookie, 4242);
}

static void info_ignores_unknown_attributes(void **state)
{
	struct nlmsghdr *nlh = put_info("1.2.3", 1);
	struct tcpmig_info info;

	mnl_attr_put_u32(nlh, TCPMIG_A_MAX + 7, 1);
	assert_int_equal(tcpmig_parse_info(nlh, &info), 0);
}

static void info_missing_attribute_is_rejected(void **state)
{
	struct tcpmig_info info;

	assert_int_equal(tcpmig_parse_info(put_info("1.2.3", 0), &info),
			 -EBADMSG);
}

static void info_oversized_version_is_rejected(void **state)
{
	char version[TCPMIG_VERSION_MAX + 1];
	struct tcpmig_info info;

	memset(version, 'v', sizeof(version) - 1);
	version[sizeof(version) - 1] = '\0';
	assert_int_equal(tcpmig_parse_info(put_info(version, 1), &info),
			 -EBADMSG);
}

static void info_wrong_attribute_size_is_rejected(void **state)
{
	struct nlmsghdr *nlh = put_genl(0x1a, TCPMIG_CMD_GET_INFO);
	struct tcpmig_info info;

	mnl_attr_put_strz(nlh, TCPMIG_A_VERSION, "1");
	mnl_attr_put_u16(nlh, TCPMIG_A_GENL_VERSION, 1);
	mnl_attr_put_u64(nlh, TCPMIG_A_NETNS_COOKIE, 1);
	assert_int_equal(tcpmig_parse_info(nlh, &info), -EBADMSG);
}

static void info_reads_stats(void **state)
{
	struct nlmsghdr *nlh = put_info("1.2.3", 1);
	struct tcpmig_info info;
	struct nlattr *nest;

	nest = mnl_attr_nest_start(nlh, TCPMIG_A_STATS);
	mnl_attr_put_u64(nlh, TCPMIG_STAT_EXPORTS, 5);
	mnl_attr_put_u64(nlh, TCPMIG_STAT_HOLD_OVERFLOWS, 7);
	mnl_attr_put_u64(nlh, TCPMIG_STAT_MAX + 3, 9);	/* newer kernel */
	mnl_attr_nest_end(nlh, nest);
	assert_int_equal(tcpmig_parse_info(nlh, &info), 0);
	assert_int_equal(info.stats[TCPMIG_STAT_EXPORTS], 5);
	assert_int_equal(info.stats[TCPMIG_STAT_HOLD_OVERFLOWS], 7);
	assert_int_equal(info.stats[TCPMIG_STAT_IMPORTS], 0);
}

static void event_is_read(void **state)
{
	struct nlmsghdr *nlh = put_genl(0x1a, TCPMIG_CMD_EVENT);
	struct capymig_tuple t = { .family = AF_INET, .local_port = 1 };
	struct tcpmig_notification ev;

	mnl_attr_put_u32(nlh, TCPMIG_A_EVENT, TCPMIG_EVENT_IMPORT_REFUSED);
	mnl_attr_put(nlh, TCPMIG_A_TUPLE, sizeof(t), &t);
	mnl_attr_put_u64(nlh, TCPMIG_A_TIMESTAMP_NS, 123456789);
	mnl_attr_put_u32(nlh, TCPMIG_A_ERROR, EEXIST);
	assert_int_equal(tcpmig_parse_event(nlh, &ev), 0);
	assert_int_equal(ev.type, TCPMIG_EVENT_IMPORT_REFUSED);
	assert_int_equal(ev.timestamp_ns, 123456789);
	assert_int_equal(ev.error, EEXIST);
	assert_memory_equal(&ev.tuple, &t, sizeof(t));
	assert_string_equal(tcpmig_event_name(ev.type), "import_refused");
}

static void event_with_short_tuple_is_rejected(void **state)
{
	struct nlmsghdr *nlh = put_genl(0x1a, TCPMIG_CMD_EVENT);
	struct tcpmig_notification ev;

	mnl_attr_put_u32(nlh, TCPMIG_A_EVENT, TCPMIG_EVENT_EXPORTED);
	mnl_attr_put_u32(nlh, TCPMIG_A_TUPLE, 0);
	mnl_attr_put_u64(nlh, TCPMIG_A_TIMESTAMP_NS, 1);
	assert_int_equal(tcpmig_parse_event(nlh, &ev), -EBADMSG);
}

/* And the endpoint it was addressed to, when the module names it. */
static void load_event_is_read(void **state)
{
	struct nlmsghdr *nlh = put_genl(0x1a, TCPMIG_CMD_EVENT);
	struct tcpmig_endpoint ep = { .addr = htonl(0x0a000001),
				      .port = htons(8080) };
	struct tcpmig_notification ev;

	mnl_attr_put_u32(nlh, TCPMIG_A_EVENT, TCPMIG_EVENT_LOAD);
	mnl_attr_put_u64(nlh, TCPMIG_A_TIMESTAMP_NS, 5);
	mnl_attr_put_u64(nlh, TCPMIG_A_SERVER_PPS, 1000);
	mnl_attr_put_u64(nlh, TCPMIG_A_POOL_PPS, 3000);
	mnl_attr_put_u32(nlh, TCPMIG_A_POOL_SERVERS, 3);
	mnl_attr_put_u64(nlh, TCPMIG_A_TARGET_PPS, 400);
	assert_int_equal(tcpmig_parse_event(nlh, &ev), 0);
	assert_int_equal(ev.server_pps, 1000);
	assert_int_equal(ev.pool_pps, 3000);
	assert_int_equal(ev.pool_servers, 3);
	assert_int_equal(ev.target_pps, 400);
	assert_string_equal(tcpmig_event_name(ev.type), "load");
	assert_int_equal(ev.target.port, 0);
	mnl_attr_put(nlh, TCPMIG_A_TARGET, sizeof(ep), &ep);
	assert_int_equal(tcpmig_parse_event(nlh, &ev), 0);
	assert_memory_equal(&ev.target, &ep, sizeof(ep));
	assert_int_equal(ev.server_pps, 1000);
}

static void load_event_without_its_load_is_rejected(void **state)
{
	struct nlmsghdr *nlh = put_genl(0x1a, TCPMIG_CMD_EVENT);
	struct tcpmig_notification ev;

	mnl_attr_put_u32(nlh, TCPMIG_A_EVENT, TCPMIG_EVENT_LOAD);
	mnl_attr_put_u64(nlh, TCPMIG_A_TIMESTAMP_NS, 5);
	mnl_attr_put_u64(nlh, TCPMIG_A_SERVER_PPS, 1000);
	assert_int_equal(tcpmig_parse_event(nlh, &ev), -EBADMSG);
	/* Everything but the target's load. */
	mnl_attr_put_u64(nlh, TCPMIG_A_POOL_PPS, 3000);
	mnl_attr_put_u32(nlh, TCPMIG_A_POOL_SERVERS, 3);
	assert_int_equal(tcpmig_parse_event(nlh, &ev), -EBADMSG);
}

static void conn_is_read(void **state)
{
	struct nlmsghdr *nlh = put_genl(0x1a, TCPMIG_CMD_LIST);
	struct capymig_tuple t = { .family = AF_INET6, .remote_port = 9 };
	struct tcpmig_conn conn;
	struct nlattr *nest;

	nest = mnl_attr_nest_start(nlh, TCPMIG_A_CONN);
	mnl_attr_put(nlh, TCPMIG_CONN_A_TUPLE, sizeof(t), &t);
	mnl_attr_put_u32(nlh, TCPMIG_CONN_A_RQLEN, 20);
	mnl_attr_put_u32(nlh, TCPMIG_CONN_A_TQLEN, 30);
	mnl_attr_nest_end(nlh, nest);
	assert_int_equal(tcpmig_parse_conn(nlh, &conn), 0);
	assert_int_equal(conn.rqlen, 20);
	assert_int_equal(conn.tqlen, 30);
	assert_int_equal(conn.cookie, 0);
	assert_memory_equal(&conn.tuple, &t, sizeof(t));
}

/* A blob as the kernel lays it out: header, then padded records. */
static size_t put_blob(uint8_t *out, const struct capymig_tuple *t,
		       uint32_t tuple_len)
{
	struct tcpmig_state_hdr *hdr = (void *)out;
	struct tcpmig_state_rec *rec;
	size_t pos = sizeof(*hdr);

	memset(out, 0, 256);
	hdr->magic = htonl(TCPMIG_STATE_MAGIC);
	hdr->version = TCPMIG_STATE_VERSION;
	hdr->hdr_len = htons(sizeof(*hdr));
	rec = (void *)(out + pos);		/* an 8-byte record first */
	rec->type = htons(TCPMIG_ST_APP);
	rec->len = htonl(3);
	pos += sizeof(*rec) + 8;
	rec = (void *)(out + pos);
	rec->type = htons(TCPMIG_ST_TUPLE);
	rec->len = htonl(tuple_len);
	memcpy(rec + 1, t, sizeof(*t));
	pos += sizeof(*rec) + sizeof(*t);
	hdr->total_len = htonl(pos);
	return pos;
}

static void blob_tuple_is_found(void **state)
{
	struct capymig_tuple t = { .family = AF_INET, .local_port = 7 }, got;
	uint8_t raw[256];
	struct tcpmig_blob blob = { raw, put_blob(raw, &t, sizeof(t)) };

	assert_int_equal(tcpmig_blob_tuple(&blob, &got), 0);
	assert_memory_equal(&got, &t, sizeof(t));
}

static void blob_tuple_rejects_damage(void **state)
{
	struct capymig_tuple t = { .family = AF_INET }, got;
	uint8_t raw[256];
	struct tcpmig_blob blob = { raw, put_blob(raw, &t, sizeof(t)) };

	blob.len -= 1;			/* tuple record cut short */
	assert_int_equal(tcpmig_blob_tuple(&blob, &got), -EINVAL);
	blob.len = put_blob(raw, &t, sizeof(t) - 4);
	assert_int_equal(tcpmig_blob_tuple(&blob, &got), -EINVAL);
	blob.len = put_blob(raw, &t, 0xfffffff8);	/* length overflow */
	assert_int_equal(tcpmig_blob_tuple(&blob, &got), -EINVAL);
	blob.len = put_blob(raw, &t, sizeof(t));
	raw[0] ^= 1;			/* magic */
	assert_int_equal(tcpmig_blob_tuple(&blob, &got), -EINVAL);
	t.family = AF_UNIX;		/* no address family of ours */
	blob.len = put_blob(raw, &t, sizeof(t));
	assert_int_equal(tcpmig_blob_tuple(&blob, &got), -EINVAL);
}

/* @raw's blob, on the heap, as tcpmig_blob_set_app() reallocates it. */
static struct tcpmig_blob heap_blob(const uint8_t *raw, uint32_t len)
{
	struct tcpmig_blob blob = { malloc(len), len };

	assert_non_null(blob.data);
	memcpy(blob.data, raw, len);
	return blob;
}

/* The application's state: in place of what was there, and read back. */
static void blob_app_is_replaced_and_read(void **state)
{
	struct capymig_tuple t = { .family = AF_INET, .local_port = 7 }, got;
	uint8_t raw[256];
	uint32_t raw_len = put_blob(raw, &t, sizeof(t)), len;
	struct tcpmig_blob blob = heap_blob(raw, raw_len);
	const struct tcpmig_state_hdr *hdr;
	const void *app;

	assert_int_equal(tcpmig_blob_app(&blob, &app, &len), 0);
	assert_int_equal(len, 3);
	assert_int_equal(tcpmig_blob_set_app(&blob, "half a request", 14), 0);
	assert_int_equal(tcpmig_blob_app(&blob, &app, &len), 0);
	assert_int_equal(len, 14);
	assert_memory_equal(app, "half a request", 14);
	/* One such record, 16 bytes of value where there were 8. */
	assert_int_equal(blob.len, raw_len + 8);
	hdr = (const void *)blob.data;
	assert_int_equal(ntohl(hdr->total_len), blob.len);
	assert_int_equal(tcpmig_blob_tuple(&blob, &got), 0);
	assert_memory_equal(&got, &t, sizeof(t));
	tcpmig_blob_free(&blob);
}

static void blob_app_refuses_damage(void **state)
{
	struct capymig_tuple t = { .family = AF_INET };
	uint8_t raw[256];
	uint32_t raw_len = put_blob(raw, &t, sizeof(t)), len;
	struct tcpmig_blob blob;
	const void *app;

	/* The tuple record alone: no state. */
	memmove(raw + 16, raw + 32, raw_len - 32);
	blob = (struct tcpmig_blob){ raw, raw_len - 16 };
	assert_int_equal(tcpmig_blob_app(&blob, &app, &len), -ENOENT);
	assert_int_equal(tcpmig_blob_set_app(&blob, raw, TCPMIG_STATE_MAX),
			 -E2BIG);
	/* Padded, this length would wrap to nothing. */
	assert_int_equal(tcpmig_blob_set_app(&blob, raw, UINT32_MAX - 6),
			 -E2BIG);
	raw[0] ^= 1;			/* magic */
	assert_int_equal(tcpmig_blob_app(&blob, &app, &len), -EINVAL);
	assert_int_equal(tcpmig_blob_set_app(&blob, "x", 1), -EINVAL);
}

/* A descriptor asked for with nowhere to return it: refused unsent. */
static void import_fd_needs_a_result(void **state)
{
	const struct tcpmig_import_opts opts = { .want_fd = 1 };
	struct tcpmig_nl nl = {};	/* not open: nothing may be sent */
	uint8_t raw[256];
	struct capymig_tuple t = { .family = AF_INET };
	struct tcpmig_blob blob = { raw, put_blob(raw, &t, sizeof(t)) };

	assert_int_equal(tcpmig_import(&nl, &blob, &opts, NULL), -EINVAL);
	assert_non_null(strstr(nl.ext_msg, "want_fd"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(error_ack_is_zero),
		cmocka_unit_test(import_fd_needs_a_result),
		cmocka_unit_test(blob_app_is_replaced_and_read),
		cmocka_unit_test(blob_app_refuses_damage),
		cmocka_unit_test(error_with_extack_capped),
		cmocka_unit_test(error_with_extack_after_full_request),
		cmocka_unit_test(error_extack_truncated_to_buffer),
		cmocka_unit_test(error_too_short_is_rejected),
		cmocka_unit_test(done_reports_error_and_reason),
		cmocka_unit_test(family_id_and_events_group_are_read),
		cmocka_unit_test(family_without_id_is_rejected),
		cmocka_unit_test(info_is_read),
		cmocka_unit_test(info_ignores_unknown_attributes),
		cmocka_unit_test(info_missing_attribute_is_rejected),
		cmocka_unit_test(info_oversized_version_is_rejected),
		cmocka_unit_test(info_wrong_attribute_size_is_rejected),
		cmocka_unit_test(info_reads_stats),
		cmocka_unit_test(event_is_read),
		cmocka_unit_test(event_with_short_tuple_is_rejected),
		cmocka_unit_test(load_event_is_read),
		cmocka_unit_test(load_event_without_its_load_is_rejected),
		cmocka_unit_test(conn_is_read),
		cmocka_unit_test(blob_tuple_is_found),
		cmocka_unit_test(blob_tuple_rejects_damage),
	};

	return cmocka_run_group_tests_name("tcpmig_nl", tests, NULL, NULL);
}
