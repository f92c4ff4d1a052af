/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * capymigd's side of the server monitor (bpf/conn_monitor.bpf.c): load
 * it, attach it to the service's cgroup, read its per-connection record.
 */
#ifndef CAPYMIGD_MONITOR_H
#define CAPYMIGD_MONITOR_H

#include <stddef.h>
#include <stdint.h>
#include <linux/capymig.h>

struct conn_monitor_bpf;
struct bpf_link;

struct monitor {
	struct conn_monitor_bpf *skel;
	struct bpf_link *link;
	struct bpf_link *refresh;	/* the conn_refresh iterator */
	int conns_fd;
};

/*
 * Loads the monitor for connections to @port (0: all) and attaches it to
 * the cgroup @cgroup.  With @pin (a directory on a BPF filesystem), its
 * maps and its link are pinned there, and found there again by the next
 * start: the record of the connections outlives a restart and the
 * program stays attached in between.  Returns 0, or -1 with why in @err.
 */
int monitor_open(struct monitor *m, const char *cgroup, uint16_t port,
		 const char *pin, char *err, size_t err_len);

/*
 * Only reads the record a daemon pinned at @pin (for tools).  Returns 0,
 * or a negative errno: -ENOENT when nothing is pinned there.
 */
int monitor_open_pinned(struct monitor *m, const char *pin);

/*
 * Attaches the monitor again if @cgroup is no longer the cgroup it
 * watches: systemd makes a service's cgroup anew at each start, and the
 * link to the one removed watches nothing.  The new link replaces the one
 * pinned at @pin.  Returns 1 when attached again, 0 when nothing changed
 * (or @cgroup is gone, its service stopped), or a negative errno.
 */
int monitor_follow(struct monitor *m, const char *cgroup, const char *pin);

/* Brings every record up to date (a pass of conn_refresh). */
void monitor_refresh(const struct monitor *m);

/* The record of @t; 0, or -ENOENT when the monitor has none. */
int monitor_lookup(const struct monitor *m, const struct capymig_tuple *t,
		   struct capymig_conn *conn);

/* Unpinned, the program is detached; pinned, it stays. */
void monitor_close(struct monitor *m);

#endif /* CAPYMIGD_MONITOR_H */
