// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libcapymig: client side of the "tcpmig" generic netlink family.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/capymig.h>

#include "tcpmig_nl.h"

static int parse_extack_attr(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
		tb[type] = attr;
	return MNL_CB_OK;
}

/* The extack message in the TLVs at @offset of @nlh's payload, if any. */
static void parse_ext_msg(const struct nlmsghdr *nlh, size_t offset,
			  char *msg, size_t msg_len)
{
	const struct nlattr *tb[NLMSGERR_ATTR_MAX + 1] = { NULL };

	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) &&
	    sizeof(*nlh) + offset <= nlh->nlmsg_len &&
	    mnl_attr_parse(nlh, offset, parse_extack_attr, tb) == MNL_CB_OK &&
	    tb[NLMSGERR_ATTR_MSG]) {
		strncpy(msg, mnl_attr_get_str(tb[NLMSGERR_ATTR_MSG]),
			msg_len - 1);
		msg[msg_len - 1] = '\0';
	}
}

int tcpmig_nl_parse_done(const struct nlmsghdr *nlh, char *msg,
			 size_t msg_len)
{
	int error;

	msg[0] = '\0';
	if (nlh->nlmsg_type != NLMSG_DONE)
		return -EBADMSG;
	/* Old kernels end a dump with an empty NLMSG_DONE. */
	if (nlh->nlmsg_len < sizeof(*nlh) + sizeof(error))
		return 0;
	memcpy(&error, mnl_nlmsg_get_payload(nlh), sizeof(error));
	parse_ext_msg(nlh, MNL_ALIGN(sizeof(error)), msg, msg_len);
	return error;
}

int tcpmig_nl_parse_error(const struct nlmsghdr *nlh, char *msg,
			  size_t msg_len)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	size_t offset = sizeof(*err);

	msg[0] = '\0';
	if (nlh->nlmsg_type != NLMSG_ERROR ||
	    nlh->nlmsg_len < sizeof(*nlh) + offset)
		return -EBADMSG;

	/*
	 * The TLVs follow the echoed request: its header only when the
	 * kernel capped it (NLM_F_CAPPED), the whole request otherwise.
	 */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		offset += err->msg.nlmsg_len - sizeof(err->msg);
	parse_ext_msg(nlh, offset, msg, msg_len);
	return err->error;
}

struct family_ids {
	uint16_t id;
	uint32_t events_group;
	uint32_t load_group;
};

/* One CTRL_ATTR_MCAST_GRP_* nest: keeps the ids of our groups. */
static int parse_group_attr(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type == CTRL_ATTR_MCAST_GRP_NAME &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
		tb[type] = attr;
	else if (type == CTRL_ATTR_MCAST_GRP_ID &&
		 mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
		tb[type] = attr;
	return MNL_CB_OK;
}

static int parse_groups(const struct nlattr *attr, void *data)
{
	const struct nlattr *tb[CTRL_ATTR_MCAST_GRP_MAX + 1] = { NULL };
	struct family_ids *ids = data;

	const char *name;

	if (mnl_attr_parse_nested(attr, parse_group_attr, tb) != MNL_CB_OK ||
	    !tb[CTRL_ATTR_MCAST_GRP_NAME] || !tb[CTRL_ATTR_MCAST_GRP_ID])
		return MNL_CB_OK;
	name = mnl_attr_get_str(tb[CTRL_ATTR_MCAST_GRP_NAME]);
	if (!strcmp(name, TCPMIG_MCGRP_EVENTS))
		ids->events_group = mnl_attr_get_u32(tb[CTRL_ATTR_MCAST_GRP_ID]);
	else if (!strcmp(name, TCPMIG_MCGRP_LOAD))
		ids->load_group = mnl_attr_get_u32(tb[CTRL_ATTR_MCAST_GRP_ID]);
	return MNL_CB_OK;
}

static int parse_family_attr(const struct nlattr *attr, void *data)
{
	struct family_ids *ids = data;

	switch (mnl_attr_get_type(attr)) {
	case CTRL_ATTR_FAMILY_ID:
		if (mnl_attr_validate(attr, MNL_TYPE_U16) == 0)
			ids->id = mnl_attr_get_u16(attr);
		break;
	case CTRL_ATTR_MCAST_GROUPS:
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) == 0)
			mnl_attr_parse_nested(attr, parse_groups, ids);
		break;
	}
	return MNL_CB_OK;
}

int tcpmig_nl_parse_family(const struct nlmsghdr *nlh, uint16_t *id,
			   uint32_t *events_group, uint32_t *load_group)
{
	struct family_ids ids = { 0 };

	if (nlh->nlmsg_type != GENL_ID_CTRL ||
	    mnl_attr_parse(nlh, sizeof(struct genlmsghdr), parse_family_attr,
			   &ids) != MNL_CB_OK || !ids.id)
		return -EINVAL;
	*id = ids.id;
	*events_group = ids.events_group;
	*load_group = ids.load_group;
	return 0;
}

static struct nlmsghdr *put_request(struct tcpmig_nl *nl, char *buf,
				    uint16_t type, uint8_t cmd, uint8_t version,
				    uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *genl;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++nl->seq;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = version;
	return nlh;
}

/*
 * One request in flight.  libmnl hands control messages the same data
 * pointer as replies, so both go through this context: replies are passed
 * on to the caller's callback, the final ACK or error is recorded here.
 */
struct request_ctx {
	struct tcpmig_nl *nl;
	mnl_cb_t cb;
	void *data;
	int error;
};

static int reply_cb(const struct nlmsghdr *nlh, void *data)
{
	struct request_ctx *ctx = data;

	/*
	 * A reply the caller cannot use is remembered, but the rest of the
	 * answer is still read so the next request starts on a clean socket.
	 */
	if (ctx->cb && !ctx->error && ctx->cb(nlh, ctx->data) < MNL_CB_STOP)
		ctx->error = errno ? -errno : -EINVAL;
	return MNL_CB_OK;
}

static int error_cb(const struct nlmsghdr *nlh, void *data)
{
	struct request_ctx *ctx = data;
	int err = tcpmig_nl_parse_error(nlh, ctx->nl->ext_msg,
					sizeof(ctx->nl->ext_msg));

	if (!ctx->error)
		ctx->error = err;
	return MNL_CB_STOP;
}

/* A dump ends here; a refusal in its first round is reported here too. */
static int done_cb(const struct nlmsghdr *nlh, void *data)
{
	struct request_ctx *ctx = data;
	int err = tcpmig_nl_parse_done(nlh, ctx->nl->ext_msg,
				       sizeof(ctx->nl->ext_msg));

	if (!ctx->error)
		ctx->error = err;
	return MNL_CB_STOP;
}

static int run_request(struct tcpmig_nl *nl, struct nlmsghdr *nlh,
		       mnl_cb_t cb, void *data)
{
	mnl_cb_t ctl_cb[NLMSG_MIN_TYPE] = {
		[NLMSG_ERROR] = error_cb,
		[NLMSG_DONE] = done_cb,
	};
	struct request_ctx ctx = { .nl = nl, .cb = cb, .data = data };
	char buf[TCPMIG_NL_RECV_SIZE];
	ssize_t len;
	int ret;

	nl->ext_msg[0] = '\0';
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;

	do {
		len = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
		if (len < 0)
			return -errno;
		ret = mnl_cb_run2(buf, len, nlh->nlmsg_seq, nl->portid,
				  reply_cb, &ctx, ctl_cb, NLMSG_MIN_TYPE);
	} while (ret == MNL_CB_OK);

	if (ret == MNL_CB_ERROR && !ctx.error)
		return errno ? -errno : -EIO;
	return ctx.error;
}

int tcpmig_nl_request(struct tcpmig_nl *nl, uint8_t cmd, uint16_t flags,
		      tcpmig_nl_build_cb build, mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int err = 0;

	nlh = put_request(nl, buf, nl->family_id, cmd, TCPMIG_GENL_VERSION,
			  NLM_F_ACK | flags);
	if (build)
		err = build(nlh, data);
	return err ?: run_request(nl, nlh, cb, data);
}

/* Reads the one message answering request @seq, whatever its size. */
static int call_recv(struct tcpmig_nl *nl, uint32_t seq, mnl_cb_t cb,
		     void *data)
{
	mnl_cb_t ctl_cb[NLMSG_MIN_TYPE] = {
		[NLMSG_ERROR] = error_cb,
		[NLMSG_DONE] = done_cb,
	};
	struct request_ctx ctx = { .nl = nl, .cb = cb, .data = data };
	int fd = mnl_socket_get_fd(nl->sock);
	char small[MNL_SOCKET_BUFFER_SIZE], *buf = small;
	ssize_t len;
	int ret;

	len = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
	if (len < 0)
		return -errno;
	if ((size_t)len > sizeof(small)) {
		buf = malloc(len);
		if (!buf)
			return -ENOMEM;
	}
	len = recv(fd, buf, len, 0);
	if (len < 0) {
		ret = -errno;
	} else {
		ret = mnl_cb_run2(buf, len, seq, nl->portid, reply_cb, &ctx,
				  ctl_cb, NLMSG_MIN_TYPE);
		if (ret == MNL_CB_ERROR && !ctx.error)
			ret = errno ? -errno : -EIO;
		else
			ret = ctx.error;
	}
	if (buf != small)
		free(buf);
	return ret;
}

int tcpmig_nl_call(struct tcpmig_nl *nl, uint8_t cmd,
		   tcpmig_nl_build_cb build, mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int err = 0;

	nlh = put_request(nl, buf, nl->family_id, cmd, TCPMIG_GENL_VERSION,
			  0);
	if (build)
		err = build(nlh, data);
	if (err)
		return err;
	nl->ext_msg[0] = '\0';
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	return call_recv(nl, nlh->nlmsg_seq, cb, data);
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	struct tcpmig_nl *nl = data;

	return tcpmig_nl_parse_family(nlh, &nl->family_id, &nl->events_group,
				      &nl->load_group) ?
	       MNL_CB_ERROR : MNL_CB_OK;
}

static int resolve_family(struct tcpmig_nl *nl)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	/*
	 * Looking the family up by name also makes the kernel load the
	 * module when it is installed but not loaded (its genl alias).
	 */
	nlh = put_request(nl, buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1,
			  NLM_F_ACK);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, TCPMIG_GENL_NAME);
	return run_request(nl, nlh, family_cb, nl);
}

int tcpmig_nl_open(struct tcpmig_nl *nl)
{
	int one = 1;
	int err;

	memset(nl, 0, sizeof(*nl));
	nl->seq = time(NULL);
	nl->sock = mnl_socket_open(NETLINK_GENERIC);
	if (!nl->sock)
		return -errno;

	/*
	 * Ask for the kernel's reasons with every error (harmless if old),
	 * without the request echoed back: a refused import is megabytes.
	 */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto err_close;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->export_hint = TCPMIG_EXPORT_HINT;

	err = resolve_family(nl);
	if (err)
		goto err_close;
	return 0;

err_close:
	mnl_socket_close(nl->sock);
	nl->sock = NULL;
	return err;
}

void tcpmig_nl_close(struct tcpmig_nl *nl)
{
	if (nl->sock)
		mnl_socket_close(nl->sock);
	nl->sock = NULL;
}

const char *tcpmig_nl_open_strerror(int err)
{
	if (err == -ENOENT)
		return "the tcpmig netlink family is not registered "
		       "(is the capymig module installed? try: modprobe capymig)";
	return tcpmig_nl_strerror(err);
}

const char *tcpmig_nl_strerror(int err)
{
	switch (-err) {
	case EPERM:
		return "operation not permitted: CAP_NET_ADMIN is required in "
		       "this network namespace";
	default:
		return strerror(-err);
	}
}
