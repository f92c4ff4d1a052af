// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of libcapymig's message parsing, on messages built here the
 * way the kernel lays them out.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
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

static void family_id_is_read(void **state)
{
	struct nlmsghdr *nlh = put_genl(GENL_ID_CTRL, CTRL_CMD_NEWFAMILY);
	uint16_t id;

	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, TCPMIG_GENL_NAME);
	mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, 0x1a);
	assert_int_equal(tcpmig_nl_parse_family(nlh, &id), 0);
	assert_int_equal(id, 0x1a);
}

static void family_without_id_is_rejected(void **state)
{
	struct nlmsghdr *nlh = put_genl(GENL_ID_CTRL, CTRL_CMD_NEWFAMILY);
	uint16_t id;

	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, TCPMIG_GENL_NAME);
	assert_int_equal(tcpmig_nl_parse_family(nlh, &id), -EINVAL);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(error_ack_is_zero),
		cmocka_unit_test(error_with_extack_capped),
		cmocka_unit_test(error_with_extack_after_full_request),
		cmocka_unit_test(error_extack_truncated_to_buffer),
		cmocka_unit_test(error_too_short_is_rejected),
		cmocka_unit_test(family_id_is_read),
		cmocka_unit_test(family_without_id_is_rejected),
		cmocka_unit_test(info_is_read),
		cmocka_unit_test(info_ignores_unknown_attributes),
		cmocka_unit_test(info_missing_attribute_is_rejected),
		cmocka_unit_test(info_oversized_version_is_rejected),
		cmocka_unit_test(info_wrong_attribute_size_is_rejected),
	};

	return cmocka_run_group_tests_name("tcpmig_nl", tests, NULL, NULL);
}
