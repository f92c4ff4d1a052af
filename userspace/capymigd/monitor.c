// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * capymigd's side of the server monitor; see monitor.h.  Kept to loading
 * and attaching: the program and its record are the monitor's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "monitor.h"
#include "conn_monitor.skel.h"

static int fail(char *err, size_t err_len, const char *what, int e)
{
	snprintf(err, err_len, "server monitor: %s: %s", what, strerror(e));
	return -1;
}

/* Every map at PIN/NAME: libbpf reuses one already pinned there. */
static int pin_maps(struct monitor *m, const char *pin)
{
	struct bpf_map *map;
	char path[PATH_MAX];

	bpf_object__for_each_map(map, m->skel->obj) {
		if (bpf_map__is_internal(map))
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin, bpf_map__name(map));
		if (bpf_map__set_pin_path(map, path))
			return -1;
	}
	return 0;
}

/*
 * Whether @link attaches the monitor to @cgroup_fd's cgroup (v2: its id
 * is its directory's inode number).  A link whose cgroup was removed
 * attaches to none.
 */
static bool link_attaches_to(const struct bpf_link *link, int cgroup_fd)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	struct stat st;

	return link && !fstat(cgroup_fd, &st) &&
	       !bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len) &&
	       info.type == BPF_LINK_TYPE_CGROUP &&
	       info.cgroup.cgroup_id == st.st_ino;
}

/*
 * The link pinned at @path by an earlier start, if it still attaches to
 * @cgroup_fd's cgroup (v2: its id is its directory's inode number).
 * Else it is unpinned, and released: a cgroup removed leaves its links
 * attached to nothing (systemd makes a service's cgroup anew at each
 * start), and a cgroup the configuration no longer names is not watched.
 */
static struct bpf_link *pinned_link(const char *path, int cgroup_fd)
{
	struct bpf_link *link;

	if (access(path, F_OK))
		return NULL;
	link = bpf_link__open(path);
	if (link && link_attaches_to(link, cgroup_fd))
		return link;
	bpf_link__destroy(link);
	unlink(path);
	return NULL;
}

/*
 * The link pinned by an earlier start gets the program just loaded, so
 * that the monitor never stops watching; the first start, or one whose
 * cgroup is not the pinned link's, attaches and pins it.
 */
static int attach(struct monitor *m, int cgroup_fd, const char *pin)
{
	struct bpf_program *prog = m->skel->progs.conn_monitor;
	char path[PATH_MAX];

	if (*pin) {
		snprintf(path, sizeof(path), "%s/link", pin);
		m->link = pinned_link(path, cgroup_fd);
		if (m->link)
			return bpf_link__update_program(m->link, prog);
	}
	m->link = bpf_program__attach_cgroup(prog, cgroup_fd);
	if (!m->link)
		return -errno;
	return *pin ? bpf_link__pin(m->link, path) : 0;
}

/*
 * conn_msg records the request boundaries: attached to conn_sockets before
 * the sockops program puts a socket in it (a socket takes the map's
 * programs as it joins).  conn_refresh brings the records up to date when
 * they are read.
 */
static int attach_helpers(struct monitor *m)
{
	union bpf_iter_link_info linfo = {
		.map.map_fd = bpf_map__fd(m->skel->maps.conn_sockets),
	};
	LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &linfo,
		    .link_info_len = sizeof(linfo));

	if (bpf_prog_attach(bpf_program__fd(m->skel->progs.conn_msg),
			    linfo.map.map_fd, BPF_SK_MSG_VERDICT, 0))
		return -errno;
	m->refresh = bpf_program__attach_iter(m->skel->progs.conn_refresh,
					      &opts);
	return m->refresh ? 0 : -errno;
}

/*
 * The cookie of the record of @key in conns if conn_sockets has no socket
 * of that cookie, else 0 (a record's cookie never is).
 */
static __u64 orphan_cookie(const struct monitor *m,
			   const struct capymig_tuple *key)
{
	struct capymig_conn rec;
	__u64 cookie;

	if (bpf_map_lookup_elem(m->conns_fd, key, &rec))
		return 0;
	/* A sockhash looked up from userspace gives the socket's cookie. */
	if (!bpf_map_lookup_elem(bpf_map__fd(m->skel->maps.conn_sockets), key,
				 &cookie) &&
	    cookie == rec.cookie)
		return 0;
	return rec.cookie;
}

/*
 * Forgets the records of sockets gone from conn_sockets, which the kernel
 * leaves at close: pinned maps reused by a monitor attached to another
 * cgroup keep the records of the old cgroup's connections, whose end no
 * program of ours sees any more.  Left, they would fill the map, and a
 * new connection of a tuple recorded would not be (the program replaces
 * such a record now, but an older one may have left them).  A record
 * replaced between the two looks is read again, and kept.  The totals'
 * gauge of records is not brought down: it stays above their number by
 * those forgotten here.
 */
static void forget_orphans(const struct monitor *m)
{
	struct capymig_tuple key, next;
	int more = !bpf_map_get_next_key(m->conns_fd, NULL, &key);
	struct capymig_conn now;
	__u64 cookie;

	while (more) {
		more = !bpf_map_get_next_key(m->conns_fd, &key, &next);
		cookie = orphan_cookie(m, &key);
		if (cookie && !bpf_map_lookup_elem(m->conns_fd, &key, &now) &&
		    now.cookie == cookie)
			bpf_map_delete_elem(m->conns_fd, &key);
		key = next;
	}
}

int monitor_open(struct monitor *m, const char *cgroup, uint16_t port,
		 const char *pin, char *err, size_t err_len)
{
	int cgroup_fd, ret;

	*m = (struct monitor){ .conns_fd = -1 };
	if (*pin && mkdir(pin, 0700) && errno != EEXIST)
		return fail(err, err_len, pin, errno);
	m->skel = conn_monitor_bpf__open();
	if (!m->skel)
		return fail(err, err_len, "opening", errno);
	m->skel->rodata->service_port = port;
	if (*pin && pin_maps(m, pin))
		return fail(err, err_len, "pinning", errno);
	ret = conn_monitor_bpf__load(m->skel);
	if (ret)
		return fail(err, err_len, "loading", -ret);
	ret = attach_helpers(m);
	if (ret)
		return fail(err, err_len, "attaching conn_msg, conn_refresh",
			    -ret);
	cgroup_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgroup_fd < 0)
		return fail(err, err_len, cgroup, errno);
	ret = attach(m, cgroup_fd, pin);
	close(cgroup_fd);
	if (ret)
		return fail(err, err_len, "attaching", -ret);
	m->conns_fd = bpf_map__fd(m->skel->maps.conns);
	if (*pin)
		forget_orphans(m);
	return 0;
}

int monitor_follow(struct monitor *m, const char *cgroup, const char *pin)
{
	struct bpf_link *old = m->link;
	int cgroup_fd, ret;

	if (!m->skel)
		return 0;
	/* Gone: the service is stopped, its next start makes it anew. */
	cgroup_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgroup_fd < 0)
		return 0;
	if (link_attaches_to(old, cgroup_fd)) {
		close(cgroup_fd);
		return 0;
	}
	/* As a start does: the pinned link, the old cgroup's, is let go. */
	ret = attach(m, cgroup_fd, pin);
	close(cgroup_fd);
	if (!m->link) {
		m->link = old;
		return ret;
	}
	bpf_link__destroy(old);
	/* The old cgroup's connections: no program sees them end. */
	if (*pin)
		forget_orphans(m);
	return ret ?: 1;
}

int monitor_open_pinned(struct monitor *m, const char *pin)
{
	char path[PATH_MAX];

	*m = (struct monitor){ .conns_fd = -1 };
	snprintf(path, sizeof(path), "%s/conns", pin);
	m->conns_fd = bpf_obj_get(path);
	return m->conns_fd < 0 ? -errno : 0;
}

void monitor_refresh(const struct monitor *m)
{
	char buf[256];
	int fd;

	if (!m->refresh)
		return;
	fd = bpf_iter_create(bpf_link__fd(m->refresh));
	if (fd < 0)
		return;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

int monitor_lookup(const struct monitor *m, const struct capymig_tuple *t,
		   struct capymig_conn *conn)
{
	if (m->conns_fd < 0)
		return -ENOENT;
	return bpf_map_lookup_elem(m->conns_fd, t, conn) ? -errno : 0;
}

void monitor_close(struct monitor *m)
{
	bpf_link__destroy(m->refresh);
	bpf_link__destroy(m->link);
	/* Opened by monitor_open_pinned(), the map is the only thing held. */
	if (m->skel)
		conn_monitor_bpf__destroy(m->skel);
	else if (m->conns_fd >= 0)
		close(m->conns_fd);
	*m = (struct monitor){ .conns_fd = -1 };
}
