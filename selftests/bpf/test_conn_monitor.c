// SPDX-License-Identifier: GPL-2.0
/*
 * Test of bpf/conn_monitor.bpf.c on the running kernel, in TAP.
 *
 * The test moves itself into a cgroup of its own, attaches the sockops
 * program there and makes TCP connections over loopback, so that its own
 * sockets are the only ones the program sees and the maps must hold
 * exactly what the test expects.  Each case loads the program afresh,
 * since its configuration is read-only once loaded.  On each connection
 * the test checks what the sockops, sk_msg and iterator programs record
 * as data flows: counters, queue lengths, srtt, read_seq, the totals.
 *
 * With the capymig module loaded (the guest), a last case moves a
 * connection back and forth between two servers in two cgroups, each
 * watched by a monitor of its own; without it, that case is skipped.
 *
 * Exit status: 0 all passed, 1 a check failed, 4 skipped (not root, or the
 * kernel lacks BTF or cgroup v2).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/capymig.h>

#include "conn_monitor.skel.h"
#include "migrate.h"
#include "tcp_pair.h"

#define KSFT_SKIP	4

/* The size conn_monitor.bpf.c gives its maps. */
#define DEFAULT_MAX_CONNS	262144

/* Moves of the connection in the migration case. */
#define MIGRATIONS	100

/* Bound on every wait for the kernel, generous for an emulated guest. */
#define WAIT_MS		10000
/* The whole run; a hang ends as a failure, the cgroup still removed. */
#define WATCHDOG_S	120

/* --- TAP ----------------------------------------------------------------- */

static int test_nr;
static int failures;

static void __attribute__((format(printf, 1, 2))) diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static bool __attribute__((format(printf, 2, 3)))
check(bool pass, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", pass ? "" : "not ", ++test_nr);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!pass)
		failures++;
	return pass;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	char *buf, *line, *save;

	if (level == LIBBPF_DEBUG || vasprintf(&buf, fmt, ap) < 0)
		return 0;
	/* Verifier logs come in one piece of many lines. */
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		diag("libbpf: %s", line);
	free(buf);
	return 0;
}

/* --- the test's cgroup --------------------------------------------------- */

/*
 * Paths are built before anything can fail, so that the cleanup, which
 * also runs from signal handlers, only calls async-signal-safe functions.
 */
static char cg_path[PATH_MAX];		/* the test's cgroup, once created */
static char cg_home_procs[PATH_MAX];	/* cgroup.procs of where we came from */
static char cg_root_procs[PATH_MAX];	/* cgroup.procs of the mount's root */
static volatile sig_atomic_t cg_created;
static char cg2_path[PATH_MAX];		/* a second server's, beside */
static volatile sig_atomic_t cg2_created;

static bool write_pid(const char *procs)
{
	char buf[16];
	int fd, n, len = 0;
	pid_t pid = getpid();

	/* snprintf is not async-signal-safe. */
	do
		buf[sizeof(buf) - ++len] = '0' + pid % 10;
	while ((pid /= 10));

	fd = open(procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = write(fd, buf + sizeof(buf) - len, len);
	close(fd);
	return n == len;
}

static void cgroup_cleanup(void)
{
	/* The test only passes through the second one. */
	if (cg2_created) {
		cg2_created = 0;
		rmdir(cg2_path);
	}
	if (!cg_created)
		return;
	cg_created = 0;
	/* A cgroup with a process in it cannot be removed: leave it first. */
	if (!write_pid(cg_home_procs))
		write_pid(cg_root_procs);
	rmdir(cg_path);
}

static void on_signal(int sig)
{
	static const char msg[] = "Bail out! killed by a signal\n";

	if (sig == SIGALRM) {
		static const char tmo[] = "Bail out! timed out\n";

		(void)!write(STDOUT_FILENO, tmo, sizeof(tmo) - 1);
	} else {
		(void)!write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	}
	cgroup_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Format a path into @buf of PATH_MAX bytes; false if it does not fit. */
static bool __attribute__((format(printf, 2, 3)))
path_printf(char *buf, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, PATH_MAX, fmt, ap);
	va_end(ap);
	return n >= 0 && n < PATH_MAX;
}

/* The first cgroup2 mount, in @mnt.  Returns false if there is none. */
static bool find_cgroup2(char mnt[PATH_MAX])
{
	struct mntent *ent;
	bool found = false;
	FILE *f;

	f = setmntent("/proc/self/mounts", "re");
	if (!f)
		return false;
	while (!found && (ent = getmntent(f))) {
		if (strcmp(ent->mnt_type, "cgroup2"))
			continue;
		found = path_printf(mnt, "%s", ent->mnt_dir);
	}
	endmntent(f);
	return found;
}

/* Our cgroup v2 path, relative to the mount ("/" for the root). */
static bool current_cgroup(char path[PATH_MAX])
{
	char line[PATH_MAX + 8];
	bool found = false;
	FILE *f;

	f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		found = path_printf(path, "%s", line + 3);
	}
	fclose(f);
	return found;
}

/*
 * Create a cgroup of our own under the root of @mnt, a leaf where any
 * process may live, and move into it.  Returns an fd of its directory to
 * attach programs to, or -1.
 */
static int cgroup_enter(const char *mnt)
{
	char home[PATH_MAX], procs[PATH_MAX];
	int fd;

	if (!current_cgroup(home)) {
		diag("no cgroup v2 line in /proc/self/cgroup");
		return -1;
	}
	if (!path_printf(cg_home_procs, "%s%s/cgroup.procs", mnt,
			 strcmp(home, "/") ? home : "") ||
	    !path_printf(cg_root_procs, "%s/cgroup.procs", mnt) ||
	    !path_printf(cg_path, "%s/capymig-test-conn-monitor.XXXXXX", mnt)) {
		diag("cgroup paths too long");
		return -1;
	}

	if (!mkdtemp(cg_path)) {
		diag("mkdir %s: %s", cg_path, strerror(errno));
		return -1;
	}
	cg_created = 1;
	diag("test cgroup %s", cg_path);

	fd = open(cg_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		diag("open %s: %s", cg_path, strerror(errno));
		return -1;
	}
	if (!path_printf(procs, "%s/cgroup.procs", cg_path) ||
	    !write_pid(procs)) {
		diag("moving into %s: %s", cg_path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * A second cgroup beside the test's, for a second server, which the test
 * enters only to create that server's listener: the connections a
 * listener accepts are in its cgroup, whoever accepts them.  Returns an
 * fd of its directory, or -1.
 */
static int cgroup_second(void)
{
	int fd;

	if (!path_printf(cg2_path, "%s-2", cg_path) || mkdir(cg2_path, 0755)) {
		diag("mkdir %s-2: %s", cg_path, strerror(errno));
		return -1;
	}
	cg2_created = 1;
	fd = open(cg2_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		diag("open %s: %s", cg2_path, strerror(errno));
	return fd;
}

/* --- sockets ------------------------------------------------------------- */

static bool make_addr(int family, const char *text, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = family;
	if (family == AF_INET) {
		*len = sizeof(struct sockaddr_in);
		return inet_pton(AF_INET, text,
				 &((struct sockaddr_in *)ss)->sin_addr) == 1;
	}
	*len = sizeof(struct sockaddr_in6);
	return inet_pton(AF_INET6, text,
			 &((struct sockaddr_in6 *)ss)->sin6_addr) == 1;
}

static __be16 port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_port;
	return ((const struct sockaddr_in6 *)ss)->sin6_port;
}

static void set_port(struct sockaddr_storage *ss, __be16 port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = port;
	else
		((struct sockaddr_in6 *)ss)->sin6_port = port;
}

/* Wait until @fd is ready for @events; false on timeout or error. */
static bool wait_fd(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	return poll(&pfd, 1, WAIT_MS) == 1;
}

/* A socket of @family bound to @addr, port chosen by the kernel. */
static int bound_socket(int family, const char *addr, bool v6only)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, v6 = v6only;

	if (!make_addr(family, addr, &ss, &len)) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if ((family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof(v6))) ||
	    bind(fd, (struct sockaddr *)&ss, len)) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static __u64 socket_cookie(int fd)
{
	socklen_t len = sizeof(__u64);
	__u64 cookie = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len))
		diag("SO_COOKIE: %s", strerror(errno));
	return cookie;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	/* bpf_ktime_get_ns() reads CLOCK_MONOTONIC. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* --- tuples and maps ----------------------------------------------------- */

/* The tuple the program should record, from the addresses as TCP has them. */
static void make_tuple(struct capymig_tuple *t,
		       const struct sockaddr_storage *local,
		       const struct sockaddr_storage *remote)
{
	memset(t, 0, sizeof(*t));
	t->family = local->ss_family;
	t->local_port = port_of(local);
	t->remote_port = port_of(remote);
	if (local->ss_family == AF_INET) {
		t->local_addr[0] =
			((const struct sockaddr_in *)local)->sin_addr.s_addr;
		t->remote_addr[0] =
			((const struct sockaddr_in *)remote)->sin_addr.s_addr;
	} else {
		memcpy(t->local_addr,
		       &((const struct sockaddr_in6 *)local)->sin6_addr, 16);
		memcpy(t->remote_addr,
		       &((const struct sockaddr_in6 *)remote)->sin6_addr, 16);
	}
}

/* Every byte, so that garbage in padding shows. */
static const char *tuple_str(const struct capymig_tuple *t)
{
	static char buf[2][256];
	static int which;
	char *p = buf[which ^= 1];
	const unsigned char *b = (const unsigned char *)t;
	size_t i, n = 0;

	n += snprintf(p + n, 256 - n, "family %u port %u <- %u bytes ",
		      t->family, ntohs(t->local_port), ntohs(t->remote_port));
	for (i = 0; i < sizeof(*t) && n < 254; i++)
		n += snprintf(p + n, 256 - n, "%02x", b[i]);
	return p;
}

/* Number of keys in @map, counting up to 64. */
static int count_keys(const struct bpf_map *map, struct capymig_tuple *first)
{
	struct capymig_tuple key, next;
	int n = 0;

	while (n < 64 && !bpf_map__get_next_key(map, n ? &key : NULL, &next,
						sizeof(next))) {
		if (!n && first)
			*first = next;
		key = next;
		n++;
	}
	return n;
}

static bool conns_has(struct conn_monitor_bpf *skel,
		      const struct capymig_tuple *key, struct capymig_conn *conn)
{
	return !bpf_map__lookup_elem(skel->maps.conns, key, sizeof(*key),
				     conn, sizeof(*conn), 0);
}

static bool sockets_has(struct conn_monitor_bpf *skel,
			const struct capymig_tuple *key, __u64 *cookie)
{
	return !bpf_map__lookup_elem(skel->maps.conn_sockets, key, sizeof(*key),
				     cookie, sizeof(*cookie), 0);
}

static bool wait_gone(struct conn_monitor_bpf *skel,
		      const struct capymig_tuple *key, bool sockhash)
{
	struct timespec tick = { .tv_nsec = 1000000 };
	__u64 deadline = now_ns() + WAIT_MS * 1000000ULL;
	struct capymig_conn conn;
	__u64 cookie;

	do {
		if (sockhash ? !sockets_has(skel, key, &cookie) :
			       !conns_has(skel, key, &conn))
			return true;
		nanosleep(&tick, NULL);
	} while (now_ns() < deadline);
	return false;
}

/* Every record brought up to date by one pass of conn_refresh. */
static bool refresh(struct conn_monitor_bpf *skel)
{
	DECLARE_LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	union bpf_iter_link_info linfo = {};
	struct bpf_link *link;
	char buf[64];
	int fd, n;

	linfo.map.map_fd = bpf_map__fd(skel->maps.conn_sockets);
	opts.link_info = &linfo;
	opts.link_info_len = sizeof(linfo);
	link = bpf_program__attach_iter(skel->progs.conn_refresh, &opts);
	if (!link) {
		diag("attach conn_refresh: %s", strerror(errno));
		return false;
	}
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		diag("bpf_iter_create: %s", strerror(errno));
		bpf_link__destroy(link);
		return false;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	if (n < 0)
		diag("reading conn_refresh: %s", strerror(errno));
	close(fd);
	bpf_link__destroy(link);
	return n == 0;
}

/* The server totals, the CPUs' copies added up. */
static bool read_totals(struct conn_monitor_bpf *skel,
			struct capymig_monitor_totals *sum)
{
	int ncpus = libbpf_num_possible_cpus(), i;
	struct capymig_monitor_totals *per_cpu;
	__u32 zero = 0;
	bool ok;

	memset(sum, 0, sizeof(*sum));
	if (ncpus <= 0)
		return false;
	per_cpu = calloc(ncpus, sizeof(*per_cpu));
	if (!per_cpu)
		return false;
	ok = !bpf_map__lookup_elem(skel->maps.totals, &zero, sizeof(zero),
				   per_cpu, ncpus * sizeof(*per_cpu), 0);
	for (i = 0; ok && i < ncpus; i++) {
		sum->conns += per_cpu[i].conns;
		sum->accepted += per_cpu[i].accepted;
		sum->imported += per_cpu[i].imported;
		sum->forgotten += per_cpu[i].forgotten;
		sum->app_writes += per_cpu[i].app_writes;
		sum->app_bytes_sent += per_cpu[i].app_bytes_sent;
	}
	free(per_cpu);
	return ok;
}

static __u32 kernel_max_entries(const struct bpf_map *map)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(bpf_map__fd(map), &info, &len))
		return 0;
	return info.max_entries;
}

/* --- the cases ----------------------------------------------------------- */

enum service {
	SERVICE_ALL,		/* service_port 0 */
	SERVICE_LISTENER,	/* service_port = the listener's port */
	SERVICE_OTHER,		/* service_port = the client's port */
};

struct conn_case {
	const char *name;
	int listen_family;
	const char *listen_addr;
	bool v6only;
	int client_family;
	const char *client_addr;	/* also the address connected to */
	enum service service;
	__u32 max_entries;		/* 0: leave the program's default */
};

/*
 * Checks per case: sockets set up, load() 4, connection established, then
 * those of check_tracked() (with check_traffic()) or check_untracked().
 */
#define TRAFFIC_CHECKS		12
#define TRACKED_CHECKS		(1 + 4 + 1 + 12 + TRAFFIC_CHECKS)
#define UNTRACKED_CHECKS	(1 + 4 + 1 + 2)

static const struct conn_case cases[] = {
	{ "ipv4", AF_INET, "127.0.0.1", false, AF_INET, "127.0.0.1",
	  SERVICE_ALL, 0 },
	{ "ipv6", AF_INET6, "::1", true, AF_INET6, "::1", SERVICE_ALL, 1024 },
	/*
	 * A dual-stack listener sees the client as ::ffff:127.0.0.1; the
	 * connection must still be recorded as the IPv4 one it is.
	 */
	{ "ipv4 on dual-stack socket", AF_INET6, "::ffff:127.0.0.1", false,
	  AF_INET, "127.0.0.1", SERVICE_ALL, 1024 },
	{ "service_port = listener's", AF_INET, "127.0.0.1", false, AF_INET,
	  "127.0.0.1", SERVICE_LISTENER, 1024 },
	{ "service_port = another port", AF_INET, "127.0.0.1", false, AF_INET,
	  "127.0.0.1", SERVICE_OTHER, 1024 },
};

static int case_checks(const struct conn_case *c)
{
	return c->service == SERVICE_OTHER ? UNTRACKED_CHECKS : TRACKED_CHECKS;
}

struct conn {
	int listener, client, server;
	struct sockaddr_storage listen_sa, client_sa;
	__u64 t_start, t_established;
};

static void conn_close(struct conn *k)
{
	if (k->server >= 0)
		close(k->server);
	if (k->client >= 0)
		close(k->client);
	if (k->listener >= 0)
		close(k->listener);
	k->server = k->client = k->listener = -1;
}

/*
 * Listener and bound client, so that both ports are known before loading.
 * Returns 0 or an errno.
 */
static int conn_prepare(const struct conn_case *c, struct conn *k)
{
	socklen_t len = sizeof(k->listen_sa);
	int err;

	k->listener = bound_socket(c->listen_family, c->listen_addr, c->v6only);
	if (k->listener < 0 || listen(k->listener, 4) ||
	    getsockname(k->listener, (struct sockaddr *)&k->listen_sa, &len)) {
		err = errno;
		diag("listener on %s: %s", c->listen_addr, strerror(err));
		return err;
	}
	len = sizeof(k->client_sa);
	k->client = bound_socket(c->client_family, c->client_addr, false);
	if (k->client < 0 ||
	    getsockname(k->client, (struct sockaddr *)&k->client_sa, &len)) {
		err = errno;
		diag("client on %s: %s", c->client_addr, strerror(err));
		return err;
	}
	return 0;
}

/*
 * Connect, accept, and pass a byte from client to server.  The byte is what
 * makes the checks race-free: the server handles the client's handshake
 * ACK, and with it runs BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB, before the
 * byte behind it, so once the byte is read the program has run.
 */
static bool conn_establish(const struct conn_case *c, struct conn *k)
{
	struct sockaddr_storage to;
	socklen_t len;
	char byte = 'x';

	make_addr(c->client_family, c->client_addr, &to, &len);
	set_port(&to, port_of(&k->listen_sa));

	k->t_start = now_ns();
	if (connect(k->client, (struct sockaddr *)&to, len)) {
		diag("connect: %s", strerror(errno));
		return false;
	}
	if (!wait_fd(k->listener, POLLIN)) {
		diag("no connection to accept");
		return false;
	}
	k->server = accept4(k->listener, NULL, NULL, SOCK_CLOEXEC);
	if (k->server < 0) {
		diag("accept: %s", strerror(errno));
		return false;
	}
	if (send(k->client, &byte, 1, 0) != 1 || !wait_fd(k->server, POLLIN) ||
	    recv(k->server, &byte, 1, 0) != 1) {
		diag("passing a byte: %s", strerror(errno));
		return false;
	}
	k->t_established = now_ns();
	return true;
}

static struct conn_monitor_bpf *load(const struct conn_case *c,
				     const struct conn *k, int cg_fd)
{
	struct conn_monitor_bpf *skel;
	__u32 want = c->max_entries ?: DEFAULT_MAX_CONNS;
	int err = 0;

	skel = conn_monitor_bpf__open();
	if (!skel) {
		check(false, "%s: program opens (%s)", c->name, strerror(errno));
		return NULL;
	}
	if (c->service == SERVICE_LISTENER)
		skel->rodata->service_port = ntohs(port_of(&k->listen_sa));
	else if (c->service == SERVICE_OTHER)
		skel->rodata->service_port = ntohs(port_of(&k->client_sa));
	if (c->max_entries &&
	    (bpf_map__set_max_entries(skel->maps.conns, c->max_entries) ||
	     bpf_map__set_max_entries(skel->maps.conn_sockets, c->max_entries)))
		err = -errno;
	if (!err)
		err = conn_monitor_bpf__load(skel);
	if (!check(!err, "%s: program loads (service_port %u)", c->name,
		   skel->rodata->service_port)) {
		diag("load: %s", strerror(-err));
		goto fail;
	}

	if (!check(kernel_max_entries(skel->maps.conns) == want &&
		   kernel_max_entries(skel->maps.conn_sockets) == want,
		   "%s: maps hold %u entries", c->name, want)) {
		diag("conns %u, conn_sockets %u entries",
		     kernel_max_entries(skel->maps.conns),
		     kernel_max_entries(skel->maps.conn_sockets));
		goto fail;
	}

	/* Before any socket joins the map: a psock takes the map's programs. */
	if (!check(!bpf_prog_attach(bpf_program__fd(skel->progs.conn_msg),
				    bpf_map__fd(skel->maps.conn_sockets),
				    BPF_SK_MSG_VERDICT, 0),
		   "%s: sk_msg program attaches to conn_sockets", c->name)) {
		diag("attach: %s", strerror(errno));
		goto fail;
	}

	skel->links.conn_monitor =
		bpf_program__attach_cgroup(skel->progs.conn_monitor, cg_fd);
	if (!check(skel->links.conn_monitor, "%s: attaches to the cgroup",
		   c->name)) {
		diag("attach: %s", strerror(errno));
		goto fail;
	}
	return skel;
fail:
	conn_monitor_bpf__destroy(skel);
	return NULL;
}

/* Send @len bytes of @c on @from and read them all on @to. */
static bool pass_bytes(int from, int to, size_t len, char c)
{
	char buf[64];
	size_t got = 0;
	ssize_t n;

	memset(buf, c, len);
	if (len > sizeof(buf) || send(from, buf, len, 0) != (ssize_t)len)
		return false;
	while (got < len && wait_fd(to, POLLIN)) {
		n = recv(to, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			return false;
		got += n;
	}
	return got == len;
}

/* Poll @key's record until @done(conn) holds; false on timeout. */
static bool wait_conn(struct conn_monitor_bpf *skel,
		      const struct capymig_tuple *key,
		      bool (*done)(const struct capymig_conn *, __u64),
		      __u64 arg, struct capymig_conn *conn)
{
	struct timespec tick = { .tv_nsec = 1000000 };
	__u64 deadline = now_ns() + WAIT_MS * 1000000ULL;

	do {
		if (conns_has(skel, key, conn) && done(conn, arg))
			return true;
		nanosleep(&tick, NULL);
	} while (now_ns() < deadline);
	return false;
}

static bool acked(const struct capymig_conn *conn, __u64 bytes)
{
	return conn->bytes_acked == bytes && conn->srtt_us;
}

/*
 * The kernel's 32-bit segment counts, carried on in 64 across a wrap: the
 * record @conn of @key made to hold counts whose low halves are above the
 * kernel's, as they are once the kernel's wrapped, and a refresh taken.
 */
static void check_wrap(const struct conn_case *c,
		       struct conn_monitor_bpf *skel,
		       const struct capymig_tuple *key,
		       const struct capymig_conn *conn)
{
	const __u64 held = 5ULL << 32 | 0xfffffff0;
	struct capymig_conn wrapped = *conn;
	bool ok;

	wrapped.segs_in = wrapped.segs_out = held;
	ok = !bpf_map__update_elem(skel->maps.conns, key, sizeof(*key),
				   &wrapped, sizeof(wrapped), BPF_EXIST) &&
	     refresh(skel) && conns_has(skel, key, &wrapped);
	if (!check(ok && wrapped.segs_in >> 32 == 6 &&
		   (__u32)wrapped.segs_in >= conn->segs_in &&
		   wrapped.segs_out >> 32 == 6 &&
		   (__u32)wrapped.segs_out >= conn->segs_out,
		   "%s: the segment counts carry on past the kernel's wrap",
		   c->name))
		diag("segs_in %#llx, segs_out %#llx, after %#llx",
		     (unsigned long long)wrapped.segs_in,
		     (unsigned long long)wrapped.segs_out,
		     (unsigned long long)held);
}

/*
 * Traffic on the recorded connection @key: the server has read the one
 * byte of conn_establish().  What the sk_msg program notes on each write,
 * what the RTT callback samples, what only a refresh can see, the totals.
 */
static void check_traffic(const struct conn_case *c, struct conn *k,
			  struct conn_monitor_bpf *skel,
			  const struct capymig_tuple *key)
{
	struct capymig_monitor_totals tot;
	struct capymig_conn conn = {};
	__u32 seq0 = 0, first;
	bool ok;

	/* Recorded as nothing read yet: a boundary from the start. */
	ok = conns_has(skel, key, &conn);
	first = conn.read_seq;
	if (!check(ok && (conn.flags & CAPYMIG_CONN_F_READ_SEQ),
		   "%s: a new connection is at a request boundary", c->name))
		diag("flags %#x", conn.flags);

	/* Server answers 10 bytes: a write at read point seq0. */
	ok = pass_bytes(k->server, k->client, 10, 'a');
	ok = ok && conns_has(skel, key, &conn);
	seq0 = conn.read_seq;
	if (!check(ok && (conn.flags & CAPYMIG_CONN_F_READ_SEQ) &&
		   conn.app_bytes_sent == 10 && seq0 == first + 1,
		   "%s: a write sets read_seq (past the byte read since) "
		   "and counts 10 bytes", c->name))
		diag("flags %#x, read_seq %u then %u, app_bytes_sent %llu",
		     conn.flags, first, seq0,
		     (unsigned long long)conn.app_bytes_sent);

	/* Client asks 5 bytes, server reads them and answers 3. */
	ok = pass_bytes(k->client, k->server, 5, 'b') &&
	     pass_bytes(k->server, k->client, 3, 'c') &&
	     conns_has(skel, key, &conn);
	if (!check(ok && conn.read_seq == seq0 + 5 &&
		   conn.app_bytes_sent == 13,
		   "%s: the next write moves read_seq by the 5 bytes read",
		   c->name))
		diag("read_seq %u after %u, app_bytes_sent %llu", conn.read_seq,
		     seq0, (unsigned long long)conn.app_bytes_sent);

	/* The client's ACKs reach the server: RTT samples, no write. */
	if (!check(wait_conn(skel, key, acked, 13, &conn),
		   "%s: RTT samples bring bytes_acked to 13 and srtt", c->name))
		diag("bytes_acked %llu, srtt %u us",
		     (unsigned long long)conn.bytes_acked, conn.srtt_us);
	check(conn.tqlen == 0, "%s: nothing unacknowledged: tqlen 0",
	      c->name);

	/*
	 * The client sends 7 bytes the server leaves unread: only an ACK
	 * from the server follows, which no callback reports.
	 */
	ok = send(k->client, "ddddddd", 7, 0) == 7;
	ok = ok && wait_fd(k->server, POLLIN);
	check(ok && refresh(skel), "%s: conn_refresh runs", c->name);
	ok = conns_has(skel, key, &conn);
	if (!check(ok && conn.rqlen == 7 && conn.bytes_received == 13,
		   "%s: after a refresh rqlen 7, bytes_received 13", c->name))
		diag("rqlen %u, bytes_received %llu", conn.rqlen,
		     (unsigned long long)conn.bytes_received);
	if (!check(conn.segs_in >= 4 && conn.segs_out >= 3 &&
		   conn.updated_ns > k->t_established &&
		   conn.updated_ns <= now_ns(),
		   "%s: segment counts and updated_ns are current", c->name))
		diag("segs_in %llu, segs_out %llu, updated_ns %llu",
		     (unsigned long long)conn.segs_in,
		     (unsigned long long)conn.segs_out,
		     (unsigned long long)conn.updated_ns);
	check_wrap(c, skel, key, &conn);
	if (!check(conn.read_seq == seq0 + 5,
		   "%s: unread bytes leave read_seq alone", c->name))
		diag("read_seq %u, want %u", conn.read_seq, seq0 + 5);

	ok = read_totals(skel, &tot);
	if (!check(ok && tot.conns == 1 && tot.accepted == 1 &&
		   !tot.imported && !tot.forgotten,
		   "%s: totals: 1 connection, accepted", c->name))
		diag("conns %llu accepted %llu imported %llu forgotten %llu",
		     (unsigned long long)tot.conns,
		     (unsigned long long)tot.accepted,
		     (unsigned long long)tot.imported,
		     (unsigned long long)tot.forgotten);
	if (!check(ok && tot.app_writes == 2 && tot.app_bytes_sent == 13,
		   "%s: totals: 2 writes, 13 bytes", c->name))
		diag("app_writes %llu, app_bytes_sent %llu",
		     (unsigned long long)tot.app_writes,
		     (unsigned long long)tot.app_bytes_sent);
}

/* A connection the program must record. */
static void check_tracked(const struct conn_case *c, struct conn *k,
			  struct conn_monitor_bpf *skel)
{
	struct capymig_tuple want, theirs, got;
	struct capymig_monitor_totals tot;
	struct sockaddr_storage server_local;
	struct capymig_conn conn;
	__u64 cookie, sk_cookie;
	socklen_t len;
	char byte;
	int n;

	/*
	 * Built from the client's side: the server must record the
	 * connection as it is on the wire, whatever its socket's family,
	 * with the listener's port and the client's.
	 */
	make_addr(c->client_family, c->client_addr, &server_local, &len);
	set_port(&server_local, port_of(&k->listen_sa));
	make_tuple(&want, &server_local, &k->client_sa);
	make_tuple(&theirs, &k->client_sa, &server_local);
	cookie = socket_cookie(k->server);

	n = count_keys(skel->maps.conns, &got);
	if (!check(n == 1, "%s: conns holds one connection", c->name))
		diag("conns holds %d", n);

	if (!check(conns_has(skel, &want, &conn),
		   "%s: conns has it under the server's tuple", c->name)) {
		diag("want %s", tuple_str(&want));
		if (n)
			diag("got  %s", tuple_str(&got));
		memset(&conn, 0, sizeof(conn));
	}

	if (!check(conn.cookie && conn.cookie == cookie,
		   "%s: its cookie is the accepted socket's SO_COOKIE", c->name))
		diag("recorded %llu, SO_COOKIE %llu",
		     (unsigned long long)conn.cookie,
		     (unsigned long long)cookie);

	if (!check(conn.established_ns >= k->t_start &&
		   conn.established_ns <= k->t_established,
		   "%s: established_ns is between connect and first byte",
		   c->name))
		diag("%llu not in [%llu, %llu]",
		     (unsigned long long)conn.established_ns,
		     (unsigned long long)k->t_start,
		     (unsigned long long)k->t_established);

	sk_cookie = 0;
	if (!check(sockets_has(skel, &want, &sk_cookie) && sk_cookie == cookie,
		   "%s: conn_sockets lookup by tuple gives the socket's cookie",
		   c->name))
		diag("lookup: %s, value %llu, SO_COOKIE %llu", strerror(errno),
		     (unsigned long long)sk_cookie, (unsigned long long)cookie);

	n = count_keys(skel->maps.conn_sockets, NULL);
	if (!check(n == 1, "%s: conn_sockets holds one socket", c->name))
		diag("conn_sockets holds %d", n);

	if (!check(!conns_has(skel, &theirs, &conn) &&
		   !sockets_has(skel, &theirs, &sk_cookie),
		   "%s: the client's own connection is not recorded", c->name))
		diag("found %s", tuple_str(&theirs));

	check_traffic(c, k, skel, &want);

	/*
	 * The client hangs up; once the server has read the end of stream
	 * (after the 7 bytes left unread) its socket is in CLOSE_WAIT, still
	 * a connection to keep.
	 */
	close(k->client);
	k->client = -1;
	do
		n = wait_fd(k->server, POLLIN) ?
		    recv(k->server, &byte, 1, 0) : -1;
	while (n == 1);
	check(n == 0, "%s: server reads the client's end of stream", c->name);
	if (!check(conns_has(skel, &want, &conn) &&
		   sockets_has(skel, &want, &sk_cookie),
		   "%s: still recorded in CLOSE_WAIT", c->name))
		diag("conns %s, conn_sockets %s",
		     conns_has(skel, &want, &conn) ? "has it" : "lost it",
		     sockets_has(skel, &want, &sk_cookie) ? "has it" : "lost it");

	/*
	 * The server closes too; its socket reaches TCP_CLOSE when the
	 * client acknowledges the FIN, which takes a moment.
	 */
	close(k->server);
	k->server = -1;
	check(wait_gone(skel, &want, false),
	      "%s: conns forgets it once both ends closed", c->name);
	check(wait_gone(skel, &want, true),
	      "%s: conn_sockets drops it once both ends closed", c->name);
	if (!check(read_totals(skel, &tot) && tot.conns == 0 &&
		   tot.forgotten == 1,
		   "%s: totals: none left, 1 forgotten", c->name))
		diag("conns %llu, forgotten %llu",
		     (unsigned long long)tot.conns,
		     (unsigned long long)tot.forgotten);
}

/* A connection the program must ignore. */
static void check_untracked(const struct conn_case *c,
			    struct conn_monitor_bpf *skel)
{
	struct capymig_tuple got;
	int n;

	n = count_keys(skel->maps.conns, &got);
	if (!check(n == 0, "%s: conns records nothing", c->name))
		diag("found %s", tuple_str(&got));
	n = count_keys(skel->maps.conn_sockets, &got);
	if (!check(n == 0, "%s: conn_sockets records nothing", c->name))
		diag("found %s", tuple_str(&got));
}

static void run_case(const struct conn_case *c, int cg_fd)
{
	struct conn k = { .listener = -1, .client = -1, .server = -1 };
	struct conn_monitor_bpf *skel = NULL;
	int first = test_nr, i, err;

	err = conn_prepare(c, &k);
	if (err == EAFNOSUPPORT || err == EADDRNOTAVAIL) {
		/* A kernel or guest without IPv6. */
		for (i = 0; i < case_checks(c); i++)
			printf("ok %d - %s # SKIP %s\n", ++test_nr, c->name,
			       strerror(err));
		goto out;
	}
	if (!check(!err, "%s: sockets set up", c->name))
		goto out;
	skel = load(c, &k, cg_fd);
	if (!skel)
		goto out;
	if (!check(conn_establish(c, &k), "%s: connection established",
		   c->name))
		goto out;

	if (c->service == SERVICE_OTHER)
		check_untracked(c, skel);
	else
		check_tracked(c, &k, skel);
out:
	/* Keep the plan when a step failed early. */
	while (test_nr - first < case_checks(c))
		check(false, "%s: not reached", c->name);
	conn_close(&k);
	conn_monitor_bpf__destroy(skel);
}

/* --- a record left behind ------------------------------------------------ */

#define STALE_CHECKS	(1 + 4 + 2)

/*
 * A record of the tuple whose socket is gone from conn_sockets, as a
 * monitor attached to another cgroup meanwhile leaves them: the new
 * connection of that tuple replaces it, and is watched.
 */
static void run_stale_record(int cg_fd)
{
	const struct conn_case *c = &cases[0];
	struct conn k = { .listener = -1, .client = -1, .server = -1 };
	struct capymig_conn stale = { .cookie = 1, .segs_in = 1000 }, conn;
	struct conn_monitor_bpf *skel = NULL;
	struct capymig_tuple want;
	int first = test_nr;
	__u64 cookie;

	if (!check(!conn_prepare(c, &k), "stale record: sockets set up"))
		goto out;
	skel = load(c, &k, cg_fd);
	if (!skel)
		goto out;
	/* The server's side: the listener's address and port. */
	make_tuple(&want, &k.listen_sa, &k.client_sa);
	if (bpf_map__update_elem(skel->maps.conns, &want, sizeof(want),
				 &stale, sizeof(stale), BPF_NOEXIST))
		diag("the stale record: %s", strerror(errno));
	if (!conn_establish(c, &k))
		goto out;
	cookie = socket_cookie(k.server);
	if (!conns_has(skel, &want, &conn))
		conn.cookie = 0;
	check(conn.cookie == cookie && conn.segs_in < stale.segs_in,
	      "stale record: the new connection of its tuple replaces it "
	      "(cookie %llu, the socket's %llu)",
	      (unsigned long long)conn.cookie, (unsigned long long)cookie);
	check(sockets_has(skel, &want, &cookie) && cookie == conn.cookie,
	      "stale record: ... and is in conn_sockets");
out:
	while (test_nr - first < STALE_CHECKS)
		check(false, "stale record: not reached");
	conn_close(&k);
	conn_monitor_bpf__destroy(skel);
}

/* --- migrations ----------------------------------------------------------- */

/*
 * copied_seq as the export snapshot it: the TCPMIG_ST_SEQ record of
 * @blob.  The test's own walk of the records: it trusts the module.
 */
static bool blob_copied_seq(const struct tcpmig_blob *blob, __u32 *seq)
{
	const __u8 *pos = blob->data + sizeof(struct tcpmig_state_hdr);
	const __u8 *end = blob->data + blob->len;

	while (pos + sizeof(struct tcpmig_state_rec) <= end) {
		const struct tcpmig_state_rec *rec = (const void *)pos;
		const struct tcpmig_st_seq *st;
		__u32 len = ntohl(rec->len);

		pos += sizeof(*rec);
		if (ntohs(rec->type) == TCPMIG_ST_SEQ &&
		    len == sizeof(*st) && pos + len <= end) {
			st = (const void *)pos;
			*seq = ntohl(st->copied_seq);
			return true;
		}
		pos += (len + TCPMIG_STATE_ALIGN - 1) &
		       ~(TCPMIG_STATE_ALIGN - 1);
	}
	return false;
}

/* What went wrong first in the migration loop, per check. */
struct migration_faults {
	int export, boundary, recorded, read_seq, forgotten;
};

/* The two servers: a listener each, in a cgroup each, a monitor each. */
struct server {
	int listener;
	__u64 cookie;			/* the listener's */
	struct conn_monitor_bpf *skel;
};

/*
 * One move of @p's server end from @from to @to: the server writes a byte
 * after having read everything (its request boundary), the connection is
 * exported (its psock holds nothing: the sk_msg program never holds data)
 * and imported into @to's listener, whose accept() gives the server its
 * new socket.
 */
static void migrate_once(struct server *from, struct server *to,
			 struct tcp_pair *p, struct tcpmig_nl *nl, int i,
			 __u32 *read_seq0, struct migration_faults *f)
{
	struct tcpmig_import_opts opts = { .listener_cookie = to->cookie };
	struct capymig_conn conn = {}, left;
	struct capymig_tuple t;
	struct tcpmig_blob blob;
	__u64 cookie;
	__u32 seq = 0;
	int fd, err;

	err = tcp_pair_flow(p, 4096, 1024, WAIT_MS) ?:
	      tcp_end_write(&p->server, 1, WAIT_MS) ?:
	      migrate_server_tuple(p->client.fd, &t);
	if (!err && !conns_has(from->skel, &t, &conn))
		err = -ENOENT;
	if (err) {
		if (!f->export++)
			diag("move %d: before the export: %s", i,
			     strerror(-err));
		return;
	}
	/* Sequence numbers go on across moves: so does read_seq. */
	if (!i)
		*read_seq0 = conn.read_seq - p->server.rx_pos;
	if (!(conn.flags & CAPYMIG_CONN_F_READ_SEQ) ||
	    conn.read_seq != (__u32)(*read_seq0 + p->server.rx_pos)) {
		if (!f->read_seq++)
			diag("move %d: read_seq %u after reading %llu bytes",
			     i, conn.read_seq,
			     (unsigned long long)p->server.rx_pos);
	}

	err = tcpmig_export(nl, &t, 0, &blob);
	if (err) {
		if (!f->export++)
			diag("move %d: export: %s: %s", i, strerror(-err),
			     nl->ext_msg);
		return;
	}
	/* Gone with the export, before the socket is closed. */
	if ((conns_has(from->skel, &t, &left) ||
	     sockets_has(from->skel, &t, &cookie)) && !f->forgotten++)
		diag("move %d: the exported socket is still recorded", i);
	if (!blob_copied_seq(&blob, &seq) || seq != conn.read_seq) {
		if (!f->boundary++)
			diag("move %d: exported at copied_seq %u, read_seq %u",
			     i, seq, conn.read_seq);
	}
	err = tcpmig_import(nl, &blob, &opts, NULL);
	tcpmig_blob_free(&blob);
	fd = err ? err : tcp_accept(to->listener, WAIT_MS);
	if (fd < 0) {
		if (!f->export++)
			diag("move %d: import: %s: %s", i, strerror(-fd),
			     nl->ext_msg);
		return;
	}
	/* The application closes the origin's socket: its psock is gone. */
	close(p->server.fd);
	p->server.fd = fd;

	cookie = socket_cookie(fd);
	if (!conns_has(to->skel, &t, &conn) || conn.cookie != cookie ||
	    !(conn.flags & CAPYMIG_CONN_F_IMPORTED) ||
	    !sockets_has(to->skel, &t, &cookie) || cookie != conn.cookie) {
		if (!f->recorded++)
			diag("move %d: record cookie %llu flags %#x, "
			     "socket %llu", i,
			     (unsigned long long)conn.cookie, conn.flags,
			     (unsigned long long)socket_cookie(fd));
	}
	if (conns_has(from->skel, &t, &left) && !f->forgotten++)
		diag("move %d: the origin recorded it again", i);
}

static int set_reuseport(int fd)
{
	int one = 1;

	return setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ?
	       -errno : 0;
}

/*
 * Server @s's listener on @port (0: any), created in the cgroup whose
 * cgroup.procs is @procs.  Returns false on failure.
 */
static bool server_listen(struct server *s, int family, __u16 port,
			  const char *procs)
{
	static const struct sock_opts reuseport = { .prepare = set_reuseport };
	char home[PATH_MAX];

	if (!path_printf(home, "%s/cgroup.procs", cg_path) ||
	    (procs && !write_pid(procs)))
		return false;
	s->listener = tcp_listener(family, port, &reuseport);
	if (procs && !write_pid(home))
		return false;
	s->cookie = s->listener >= 0 ? socket_cookie(s->listener) : 0;
	return s->listener >= 0;
}

static bool totals_are(struct conn_monitor_bpf *skel, const char *name,
		       __u64 conns, __u64 accepted, __u64 imported,
		       __u64 forgotten, __u64 *app_bytes)
{
	struct capymig_monitor_totals tot;

	if (!read_totals(skel, &tot))
		return false;
	*app_bytes += tot.app_bytes_sent;
	if (tot.conns == conns && tot.accepted == accepted &&
	    tot.imported == imported && tot.forgotten == forgotten)
		return true;
	diag("%s: conns %llu accepted %llu imported %llu forgotten %llu", name,
	     (unsigned long long)tot.conns, (unsigned long long)tot.accepted,
	     (unsigned long long)tot.imported,
	     (unsigned long long)tot.forgotten);
	return false;
}

#define MIGRATION_CHECKS	(1 + 4 + 1 + 1 + 4 + 5 + 4 + 2)

/*
 * The monitor and the module together.  Two servers share a port
 * (SO_REUSEPORT), each listener created in a cgroup of its own, each
 * cgroup with a monitor of its own.  A connection accepted by the first
 * moves MIGRATIONS times between them (export, import into the other's
 * listener), a verified stream flowing both ways between moves.  The
 * module gives each imported socket its listener's cgroup and runs the
 * sockops callback there: the target's monitor must record it as
 * migrated in, the origin's must have forgotten it, and the request
 * boundary the sk_msg program noted must be where the export found the
 * stream.
 */
static void run_migrations(int cg_fd)
{
	static const struct conn_case c = {
		"migration", AF_INET, "127.0.0.1", false, AF_INET,
		"127.0.0.1", SERVICE_LISTENER, 1024 };
	struct conn k = { .listener = -1, .client = -1, .server = -1 };
	struct server srv[2] = { { .listener = -1 }, { .listener = -1 } };
	struct tcp_pair p = { .client.fd = -1, .server.fd = -1 };
	socklen_t len = sizeof(k.listen_sa);
	struct migration_faults f = {};
	struct migrate_host host;
	struct capymig_tuple t;
	char procs2[PATH_MAX];
	int first = test_nr, i, err, cg2_fd = -1;
	__u32 read_seq0 = 0;
	__u64 app_bytes = 0;

	err = migrate_host_open(&host, "");
	if (err) {
		while (test_nr - first < MIGRATION_CHECKS)
			printf("ok %d - %s # SKIP no capymig module: %s\n",
			       ++test_nr, c.name, strerror(-err));
		return;
	}
	if (!check(server_listen(&srv[0], AF_INET, 0, NULL) &&
		   !getsockname(srv[0].listener,
				(struct sockaddr *)&k.listen_sa, &len),
		   "%s: first server listens", c.name))
		goto out;
	k.listener = srv[0].listener;
	srv[0].skel = load(&c, &k, cg_fd);
	if (!srv[0].skel)
		goto out;
	err = tcp_pair_start(&p, k.listener, NULL) ?:
	      tcp_pair_accept(&p, k.listener) ?:
	      migrate_server_tuple(p.client.fd, &t);
	if (!check(!err, "%s: connection established", c.name)) {
		diag("%s", strerror(-err));
		goto out;
	}

	/* Only now: the connection could have gone to either. */
	cg2_fd = cgroup_second();
	if (!check(cg2_fd >= 0 &&
		   path_printf(procs2, "%s/cgroup.procs", cg2_path) &&
		   server_listen(&srv[1], AF_INET,
				 ntohs(port_of(&k.listen_sa)), procs2),
		   "%s: second server listens, in a second cgroup", c.name))
		goto out;
	srv[1].skel = load(&c, &k, cg2_fd);
	if (!srv[1].skel)
		goto out;

	for (i = 0; i < MIGRATIONS; i++)
		migrate_once(&srv[i % 2], &srv[!(i % 2)], &p, &host.nl, i,
			     &read_seq0, &f);
	check(!f.export, "%s: %d exports and imports of a socket in a "
	      "sockhash, its sk_msg program attached", c.name, MIGRATIONS);
	check(!f.boundary, "%s: every export found copied_seq at read_seq",
	      c.name);
	check(!f.read_seq, "%s: read_seq follows the bytes read, across moves",
	      c.name);
	check(!f.recorded, "%s: every import recorded by the target's "
	      "monitor, flagged imported, in its sockhash", c.name);
	check(!f.forgotten, "%s: every export forgotten by the origin's "
	      "monitor at once", c.name);

	err = tcp_pair_flow(&p, 65536, 65536, WAIT_MS);
	if (!check(!err, "%s: both streams intact after the moves", c.name))
		diag("%s", strerror(-err));
	/* An even number of moves: the connection is back on the first. */
	check(totals_are(srv[0].skel, "first", 1, 1, MIGRATIONS / 2,
			 MIGRATIONS / 2, &app_bytes),
	      "%s: first monitor: 1 connection, accepted, %d imported and "
	      "forgotten", c.name, MIGRATIONS / 2);
	check(totals_are(srv[1].skel, "second", 0, 0, MIGRATIONS / 2,
			 MIGRATIONS / 2, &app_bytes),
	      "%s: second monitor: none now, %d imported and forgotten",
	      c.name, MIGRATIONS / 2);
	/* Every byte the server wrote, on whichever socket. */
	if (!check(app_bytes == p.server.tx_pos,
		   "%s: app_bytes_sent is every byte the server wrote",
		   c.name))
		diag("counted %llu, wrote %llu",
		     (unsigned long long)app_bytes,
		     (unsigned long long)p.server.tx_pos);

	tcp_pair_close(&p);
	check(wait_gone(srv[0].skel, &t, false) &&
	      wait_gone(srv[0].skel, &t, true),
	      "%s: forgotten once closed", c.name);
	app_bytes = 0;
	check(totals_are(srv[0].skel, "first", 0, 1, MIGRATIONS / 2,
			 MIGRATIONS / 2 + 1, &app_bytes),
	      "%s: first monitor: no connection left", c.name);
out:
	while (test_nr - first < MIGRATION_CHECKS)
		check(false, "%s: not reached", c.name);
	tcp_pair_close(&p);
	for (i = 0; i < 2; i++) {
		if (srv[i].listener >= 0)
			close(srv[i].listener);
		conn_monitor_bpf__destroy(srv[i].skel);
	}
	if (cg2_fd >= 0)
		close(cg2_fd);
	tcpmig_nl_close(&host.nl);
	close(host.netns);
}

int main(void)
{
	char mnt[PATH_MAX];
	unsigned int i;
	int cg_fd, plan = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root\n");
		return KSFT_SKIP;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		printf("1..0 # SKIP kernel has no BTF (/sys/kernel/btf/vmlinux)\n");
		return KSFT_SKIP;
	}
	if (!find_cgroup2(mnt)) {
		printf("1..0 # SKIP no cgroup2 mount\n");
		return KSFT_SKIP;
	}
	diag("cgroup2 at %s", mnt);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGALRM, on_signal);
	atexit(cgroup_cleanup);
	alarm(WATCHDOG_S);
	libbpf_set_print(libbpf_print);

	cg_fd = cgroup_enter(mnt);
	if (cg_fd < 0) {
		printf("Bail out! cannot set up a cgroup in %s\n", mnt);
		return 1;
	}

	plan = MIGRATION_CHECKS + STALE_CHECKS;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		plan += case_checks(&cases[i]);
	printf("1..%d\n", plan);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], cg_fd);
	run_stale_record(cg_fd);
	run_migrations(cg_fd);

	close(cg_fd);
	diag("%d passed, %d failed", test_nr - failures, failures);
	return failures ? 1 : 0;
}
