/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * libcapymig: a small client for the "tcpmig" generic netlink family.
 *
 * Requests are synchronous: tcpmig_nl_request() sends one message and runs
 * a callback on every reply until the kernel's ACK or error arrives.  On
 * failure it returns a negative errno and leaves the kernel's extack text,
 * if any, in nl->ext_msg so callers can show the reason the kernel gave.
 */
#ifndef CAPYMIG_TCPMIG_NL_H
#define CAPYMIG_TCPMIG_NL_H

#include <stddef.h>
#include <stdint.h>
#include <libmnl/libmnl.h>

#define TCPMIG_NL_EXT_MSG_MAX 256
/* Large enough for any message the kernel builds for a dump. */
#define TCPMIG_NL_RECV_SIZE 65536

struct tcpmig_nl {
	struct mnl_socket *sock;
	unsigned int portid;
	unsigned int seq;
	uint16_t family_id;
	uint32_t events_group;	/* multicast group of TCPMIG_MCGRP_EVENTS */
	uint32_t load_group;	/* of TCPMIG_MCGRP_LOAD */
	uint32_t export_hint;	/* room for the next exported blob */
	char ext_msg[TCPMIG_NL_EXT_MSG_MAX];
};

/* Fills a request's attributes; returns 0 or a negative errno. */
typedef int (*tcpmig_nl_build_cb)(struct nlmsghdr *nlh, void *data);

/*
 * Opens a socket in the caller's network namespace and resolves the
 * family.  Returns 0, -ENOENT when the family is not registered (module
 * not loaded and not autoloadable) or another negative errno.
 */
int tcpmig_nl_open(struct tcpmig_nl *nl);
void tcpmig_nl_close(struct tcpmig_nl *nl);

/*
 * Sends @cmd with attributes from @build (may be NULL) and feeds each reply
 * to @cb (an mnl callback, may be NULL).  @flags adds to NLM_F_REQUEST |
 * NLM_F_ACK, e.g. NLM_F_DUMP.
 */
int tcpmig_nl_request(struct tcpmig_nl *nl, uint8_t cmd, uint16_t flags,
		      tcpmig_nl_build_cb build, mnl_cb_t cb, void *data);

/*
 * The fast form of a request whose success is one reply: no ACK is asked
 * for, so the reply is all that comes back (a failure still does, as an
 * NLMSG_ERROR with the kernel's reason).  @build (may be NULL) fills the
 * message's attributes; the reply is read whole, whatever its size, and
 * fed to @cb.
 */
int tcpmig_nl_call(struct tcpmig_nl *nl, uint8_t cmd,
		   tcpmig_nl_build_cb build, mnl_cb_t cb, void *data);

/* Room for the first exported blob; then the largest one seen. */
#define TCPMIG_EXPORT_HINT (64U << 10)
/* The most room asked for ahead. */
#define TCPMIG_EXPORT_HINT_MAX (4U << 20)

/*
 * Parsing helpers, separate from the I/O so they can be tested on
 * recorded messages.
 */

/*
 * Reads an NLMSG_ERROR message: returns its (negative) error, 0 for an
 * ACK, and copies the extack message, if present, into @msg (always NUL
 * terminated; empty when absent).
 */
int tcpmig_nl_parse_error(const struct nlmsghdr *nlh, char *msg,
			  size_t msg_len);

/*
 * Reads the NLMSG_DONE that ends a dump: its error (0 when the dump
 * completed) and extack message, as tcpmig_nl_parse_error().
 */
int tcpmig_nl_parse_done(const struct nlmsghdr *nlh, char *msg,
			 size_t msg_len);

/*
 * Reads a CTRL_CMD_GETFAMILY reply: the family's id, its events and load
 * groups (0 if absent).  Returns 0, or -EINVAL without an id.
 */
int tcpmig_nl_parse_family(const struct nlmsghdr *nlh, uint16_t *id,
			   uint32_t *events_group, uint32_t *load_group);

/* Human explanation of an errno returned by a tcpmig request. */
const char *tcpmig_nl_strerror(int err);
/* The same for tcpmig_nl_open(), where ENOENT means no module. */
const char *tcpmig_nl_open_strerror(int err);

#endif /* CAPYMIG_TCPMIG_NL_H */
