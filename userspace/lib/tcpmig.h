/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * libcapymig: the tcpmig commands, as C calls.
 */
#ifndef CAPYMIG_TCPMIG_H
#define CAPYMIG_TCPMIG_H

#include <stdint.h>
#include <linux/capymig.h>

#include "tcpmig_nl.h"

#define TCPMIG_VERSION_MAX 32

struct tcpmig_info {
	char version[TCPMIG_VERSION_MAX];
	uint32_t genl_version;
	uint64_t netns_cookie;
	uint64_t stats[TCPMIG_STAT_MAX + 1];	/* by enum tcpmig_stat */
};

/* The name of a counter in tools' output ("exports", ...), or NULL. */
const char *tcpmig_stat_name(enum tcpmig_stat stat);

/* TCPMIG_CMD_GET_INFO.  Returns 0 or a negative errno. */
int tcpmig_get_info(struct tcpmig_nl *nl, struct tcpmig_info *info);

/* A connection state blob, as EXPORT gives it and IMPORT takes it. */
struct tcpmig_blob {
	uint8_t *data;
	uint32_t len;
};

void tcpmig_blob_free(struct tcpmig_blob *blob);

/*
 * The connection a blob carries (its TCPMIG_ST_TUPLE record), read
 * without trusting the blob.  Returns 0 or -EINVAL.
 */
int tcpmig_blob_tuple(const struct tcpmig_blob *blob,
		      struct capymig_tuple *tuple);

/*
 * The application's own state of a connection - a half-read request, a
 * response it is still writing, a session - carried in the blob as a
 * TCPMIG_ST_APP record, which capymig never reads.  The exporting
 * application attaches it once tcpmig_export() has taken the connection;
 * the importing one reads it and imports the blob as a descriptor
 * (want_fd), then restores its state with it.  The kernel refuses to put
 * a blob with such state in a listener's accept queue, where it would be
 * lost.
 */

/*
 * Attaches @len bytes at @data to @blob, in place of any state already
 * there (@blob's data is reallocated).  Returns 0, -EINVAL (not a blob),
 * -E2BIG (over TCPMIG_STATE_MAX) or -ENOMEM.
 */
int tcpmig_blob_set_app(struct tcpmig_blob *blob, const void *data,
			uint32_t len);

/*
 * The state attached to @blob: *@data points into the blob (valid as long
 * as it is unchanged).  Returns 0, -ENOENT (none) or -EINVAL.
 */
int tcpmig_blob_app(const struct tcpmig_blob *blob, const void **data,
		    uint32_t *len);

/* One connection of a LIST dump. */
struct tcpmig_conn {
	struct capymig_tuple tuple;
	uint64_t cookie;	/* 0 when the socket never had one */
	uint32_t rqlen;		/* bytes received, not yet read */
	uint32_t tqlen;		/* bytes written, not yet acknowledged */
	uint32_t copied_seq;	/* first byte not yet read */
};

typedef int (*tcpmig_conn_cb)(const struct tcpmig_conn *conn, void *arg);

/* TCPMIG_CMD_LIST, optionally only @local_port's (0 for all). */
int tcpmig_list(struct tcpmig_nl *nl, uint16_t local_port, tcpmig_conn_cb cb,
		void *arg);

/*
 * TCPMIG_CMD_EXPORT of the connection @tuple names (or, when @tuple is
 * NULL, the socket with @cookie).  On success the connection has left
 * this host and lives only in @blob: import it somewhere.
 */
int tcpmig_export(struct tcpmig_nl *nl, const struct capymig_tuple *tuple,
		  uint64_t cookie, struct tcpmig_blob *blob);

struct tcpmig_import_opts {
	const struct capymig_tuple *serve;	/* another local end, or NULL */
	uint64_t listener_cookie;		/* a SO_REUSEPORT member, or 0 */
	int want_fd;				/* return an fd, no listener */
};

struct tcpmig_import_result {
	struct capymig_tuple tuple;	/* as now served */
	int fd;				/* with want_fd, else -1 */
};

/*
 * TCPMIG_CMD_IMPORT.  @opts may be NULL; @result too, but not with
 * want_fd (-EINVAL: the descriptor would have nowhere to go).  On error
 * nothing is left to close: a descriptor that came with a reply the
 * library could not read is closed, and the connection with it.
 */
int tcpmig_import(struct tcpmig_nl *nl, const struct tcpmig_blob *blob,
		  const struct tcpmig_import_opts *opts,
		  struct tcpmig_import_result *result);

/* TCPMIG_CMD_HOLD; @timeout_ms 0 takes the kernel's default. */
int tcpmig_hold(struct tcpmig_nl *nl, const struct capymig_tuple *tuple,
		uint32_t timeout_ms);

/* One notification of the events group. */
struct tcpmig_notification {
	uint32_t type;			/* enum tcpmig_event */
	struct capymig_tuple tuple;
	uint64_t timestamp_ns;		/* CLOCK_MONOTONIC */
	uint32_t error;			/* positive errno, or 0 */
	uint32_t state_len;		/* blob size, or 0 */
	uint32_t migration_id;		/* or 0 */
	struct tcpmig_endpoint target;	/* zero when absent */
	/* TCPMIG_EVENT_LOAD only (which has no tuple): */
	uint64_t server_pps;		/* to this server, last period */
	uint64_t pool_pps;		/* to the whole pool */
	uint32_t pool_servers;		/* members counted in @pool_pps */
	uint64_t target_pps;		/* the switch's target for this one's
					 * migrations; TCPMIG_LOAD_NO_TARGET */
};

/* TCPMig configuration of a namespace. */
struct tcpmig_config {
	uint16_t udp_port;		/* host order */
	uint32_t timeout_ms;
	struct tcpmig_endpoint sw;	/* addr 0: not set */
	uint32_t heartbeat_ms;		/* REGISTER interval, 0: none */
	uint32_t weight;
	uint32_t flags;			/* TCPMIG_CONFIG_F_* */
	unsigned int npeers;
	__be32 peers[TCPMIG_POOL_MAX];
};

/*
 * TCPMIG_CMD_SET_CONFIG.  Zero @udp_port or @timeout_ms and a NULL @sw
 * leave that setting as it is.
 */
int tcpmig_set_config(struct tcpmig_nl *nl, uint16_t udp_port,
		      const struct tcpmig_endpoint *sw, uint32_t timeout_ms);

/* All of SET_CONFIG: zero or NULL members leave their setting alone. */
struct tcpmig_config_set {
	uint16_t udp_port;
	const struct tcpmig_endpoint *sw;
	uint32_t timeout_ms;
	const uint32_t *heartbeat_ms;	/* 0: no heartbeat */
	const uint32_t *weight;		/* 1-1000 */
	const uint32_t *flags;		/* TCPMIG_CONFIG_F_*, all of them */
};

int tcpmig_configure(struct tcpmig_nl *nl, const struct tcpmig_config_set *set);
int tcpmig_get_config(struct tcpmig_nl *nl, struct tcpmig_config *config);
int tcpmig_pool_add(struct tcpmig_nl *nl, __be32 addr);
int tcpmig_pool_del(struct tcpmig_nl *nl, __be32 addr);

/*
 * TCPMIG_CMD_MIGRATE of @tuple to @target (NULL: the switch chooses).
 * Returns once the migration started, with its id in *@id.
 */
int tcpmig_migrate(struct tcpmig_nl *nl, const struct capymig_tuple *tuple,
		   const struct tcpmig_endpoint *target, uint32_t *id);

struct tcpmig_migrate_opts {
	const struct tcpmig_endpoint *target;	/* NULL: the switch chooses */
	int at_read_seq;	/* move only at @read_seq (a request boundary) */
	uint32_t read_seq;	/* the copied_seq the application must be at */
};

/*
 * tcpmig_migrate() with @opts (NULL: none).  With @at_read_seq, -EAGAIN
 * at once if the application has read past @read_seq, and a "failed"
 * event with EAGAIN if it does before the export; the connection stays.
 */
int tcpmig_migrate_with(struct tcpmig_nl *nl, const struct capymig_tuple *tuple,
			const struct tcpmig_migrate_opts *opts, uint32_t *id);

/*
 * Joins the events group (tcpmig_monitor does it too).  Listen on a
 * socket of its own: requests on a socket that also receives events read
 * past them and lose them.
 */
int tcpmig_join_events(struct tcpmig_nl *nl);

/*
 * Joins the load group too: TCPMIG_EVENT_LOAD, every millisecond, comes
 * only there, so that it does not swamp those waiting for migrations.
 */
int tcpmig_join_load(struct tcpmig_nl *nl);

/* The name of an event type ("exported", ...), or NULL. */
const char *tcpmig_event_name(uint32_t type);

/*
 * Joins the events group and calls @cb for each event until it returns
 * nonzero (which is then returned) or an error occurs.
 */
typedef int (*tcpmig_event_cb)(const struct tcpmig_notification *ev, void *arg);
int tcpmig_monitor(struct tcpmig_nl *nl, tcpmig_event_cb cb, void *arg);

/*
 * Waits up to @timeout_ms (-1: for ever) for events on @nl, a socket that
 * joined the events group, then calls @cb for each one that came, until
 * it returns nonzero (which is then returned).  Else 0, or -ENOBUFS if an
 * overrun of the socket lost some on the way, or another -errno.
 */
int tcpmig_read_events(struct tcpmig_nl *nl, int timeout_ms,
		       tcpmig_event_cb cb, void *arg);

/* Parsers of replies, separate from the I/O for tests. */
int tcpmig_parse_conn(const struct nlmsghdr *nlh, struct tcpmig_conn *conn);
int tcpmig_parse_event(const struct nlmsghdr *nlh, struct tcpmig_notification *ev);

/* Reads a GET_INFO reply; -EBADMSG if an attribute is missing or bad. */
int tcpmig_parse_info(const struct nlmsghdr *nlh, struct tcpmig_info *info);

#endif /* CAPYMIG_TCPMIG_H */
