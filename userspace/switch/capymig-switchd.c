// SPDX-License-Identifier: GPL-2.0
/*
 * capymig-switchd: the control plane of capymig's software switch.
 *
 *	capymig-switchd [OPTIONS] -a SWITCH_ADDR -S SERVER... [IFACE...]
 *	capymig-switchd --dump [-j] [-u SOCKET]
 *	capymig-switchd --remove [--state DIR] [IFACE...]
 *
 * Loads the data plane (bpf/switch.bpf.c), attaches it to the ingress of
 * the given Ethernet interfaces of its network namespace (all of them by
 * default), which must route (ip_forward=1), and writes the configuration
 * and the server table.  Then, every period (1 ms by default), it
 *
 *  - reads the packets sent to each server, and sends every live server a
 *    LOAD-NOTIFICATION with its own and the pool's packets per second;
 *  - follows the servers' REGISTER heartbeats, which the data plane
 *    records: a server is live from its first one, draining when one says
 *    so, and dead when they stop (with --heartbeat-timeout 0 every
 *    configured server is live, none has to register);
 *  - derives the schedules the data plane places connections and picks
 *    migration targets with (policy.c), and switches it to them;
 *  - reaps a share of the entries left idle, so that every slot is looked
 *    at once per sweep.
 *
 * Its state is served on a unix socket (abstract by default, so one per
 * network namespace): --dump prints it, as text or, with -j, as one JSON
 * object.
 *
 * With --state DIR the connection tables outlive the agent: they are
 * pinned in DIR, an agent started with the same DIR takes them over, and
 * the data plane stays attached when the agent exits, switching on with
 * the last schedules until the next one replaces it.  A restart then
 * loses no connection, even one on a server the new agent is not given:
 * that one is kept, retired, while connections use it.  --remove
 * detaches it and deletes the tables.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <libmnl/libmnl.h>

#include "json.h"
#include "policy.h"
#include "switch.h"
#include "switch.skel.h"
#include "tuple.h"

#define PROG		"capymig-switchd"
#define MAX_IFACES	64
/* The tc filter the agent owns on each interface. */
#define TC_HANDLE	0xca9b
#define TC_PRIORITY	1
/* A failure that recurs every period is said at most once a second. */
#define LOG_INTERVAL_NS	1000000000ULL

#define COUNT_OF(a)	(sizeof(a) / sizeof((a)[0]))

static const char *const placement_names[] = {
	[CAPYMIG_SW_PLACE_RR] = "rr",
	[CAPYMIG_SW_PLACE_HASH] = "hash",
	[CAPYMIG_SW_PLACE_LWRR] = "lwrr",
};

static const char *const target_names[] = {
	[CAPYMIG_SW_TARGET_RR] = "rr",
	[CAPYMIG_SW_TARGET_LEAST_LOADED] = "least-loaded",
};

static const char *const state_names[] = {
	[CAPYMIG_SW_SERVER_UNUSED] = "unused",
	[CAPYMIG_SW_SERVER_DOWN] = "down",
	[CAPYMIG_SW_SERVER_LIVE] = "live",
	[CAPYMIG_SW_SERVER_DRAINING] = "draining",
	[CAPYMIG_SW_SERVER_DEAD] = "dead",
};

/* The event counters as the dump names them; gauges are shown apart. */
static const char *const counter_names[CAPYMIG_SW_CNT_MIG_ENTRIES] = {
	[CAPYMIG_SW_CNT_PLACED] = "placed",
	[CAPYMIG_SW_CNT_PLACE_NO_SERVER] = "place_no_server",
	[CAPYMIG_SW_CNT_PLACE_FULL] = "place_full",
	[CAPYMIG_SW_CNT_PLACE_EVICTED] = "place_evicted",
	[CAPYMIG_SW_CNT_NO_CONN] = "no_conn",
	[CAPYMIG_SW_CNT_MIG_INSTALLED] = "mig_installed",
	[CAPYMIG_SW_CNT_MIG_UPDATED] = "mig_updated",
	[CAPYMIG_SW_CNT_MIG_RETURNED] = "mig_returned",
	[CAPYMIG_SW_CNT_MIG_FULL] = "mig_full",
	[CAPYMIG_SW_CNT_MIG_STALE] = "mig_stale",
	[CAPYMIG_SW_CNT_MIG_BUSY] = "mig_busy",
	[CAPYMIG_SW_CNT_MIG_ABORTED] = "mig_aborted",
	[CAPYMIG_SW_CNT_CLOSED] = "closed",
	[CAPYMIG_SW_CNT_RESET] = "reset",
	[CAPYMIG_SW_CNT_REAPED] = "reaped",
	[CAPYMIG_SW_CNT_PREPARES] = "prepares",
	[CAPYMIG_SW_CNT_NO_TARGET] = "no_target",
	[CAPYMIG_SW_CNT_REGISTERS] = "registers",
	[CAPYMIG_SW_CNT_MALFORMED] = "malformed",
	[CAPYMIG_SW_CNT_SPOOFED] = "spoofed",
	[CAPYMIG_SW_CNT_ICMP_TRANSLATED] = "icmp_translated",
	[CAPYMIG_SW_CNT_TOO_BIG] = "too_big",
};

struct options {
	struct tcpmig_endpoint service;
	__be32 switch_addr;
	__u16 tcpmig_port;
	enum capymig_sw_placement placement;
	enum capymig_sw_target target;
	unsigned int period_us;
	unsigned int heartbeat_timeout_ms;
	unsigned int idle_timeout_ms;
	unsigned int closed_timeout_ms;
	unsigned int unanswered_timeout_ms;
	unsigned int sweep_ms;
	const char *socket;
	const char *pin;
	const char *state;
	bool stack_forwarding;
};

struct server {
	struct tcpmig_endpoint ep;
	__u32 weight;		/* configured, or 1 */
	bool weight_set;	/* by -S: a REGISTER's does not override it */
	bool retired;		/* not in -S, kept for its connections */
	enum capymig_sw_server_state state;
	struct capymig_sw_heartbeat hb;	/* the last REGISTER */
	uint64_t packets;	/* the counter, at the last period */
	uint64_t pps;		/* in the last period */
	double load;		/* smoothed, for LWRR */
	unsigned int lwrr_slots;
};

struct switchd {
	struct options opt;
	struct switch_bpf *skel;
	struct server srv[CAPYMIG_SW_MAX_SERVERS];
	unsigned int nsrv;
	int ifindex[MAX_IFACES];
	bool own_hook[MAX_IFACES];	/* the clsact qdisc is ours to remove */
	__u32 former[MAX_IFACES];	/* the program found attached, or 0 */
	unsigned int nif;
	unsigned int nattached;		/* the first interfaces, attached */
	int ncpus;
	int udp, ctl, timer, sig, epoll;
	bool ctl_file;		/* the control socket is a file, ours */
	uint64_t last_ns;	/* of the last period */
	unsigned int tick;
	struct capymig_sw_sched sched;	/* as last published */
	struct policy_server policy[CAPYMIG_SW_MAX_SERVERS];	/* its input */
	__u32 reap_next;	/* the next slot the reaper looks at */
	uint64_t reap_owed;	/* slots the periods since its last run owe */
	/*
	 * The heartbeat and schedule tables, mapped: every period reads the
	 * one and writes the other, without a system call for each.
	 */
	struct table_map {
		void *base;
		size_t len, stride;
	} heartbeats, scheds;
	uint64_t loads_sent;
	uint64_t loads_failed;
	uint64_t load_fail_said;	/* when one was last said */
	uint64_t load_fails_unsaid;	/* since */
};

/*
 * What --dump receives: the agent and its reader are the same program,
 * so the state travels as this struct.
 */
struct dump_server {
	struct tcpmig_endpoint ep;
	__u32 state;
	__u32 weight;
	__u32 lwrr_slots;
	uint64_t pps;
	uint64_t packets;
	int64_t heartbeat_age_ms;	/* -1: never registered */
	bool retired;
};

struct dump {
	struct options opt;
	uint64_t counters[__CAPYMIG_SW_CNT_MAX];
	uint64_t loads_sent;
	uint64_t loads_failed;
	__u32 nsrv;
	struct dump_server srv[CAPYMIG_SW_MAX_SERVERS];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	/*
	 * The data plane stamps heartbeats with the coarse monotonic clock,
	 * behind this one by less than a tick.
	 */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, fmt, ap);
}

/* --- the data plane's maps ----------------------------------------------- */

/* Sum over the CPUs of a per-CPU counter. */
static uint64_t percpu_sum(const struct switchd *d, struct bpf_map *map,
			   __u32 key)
{
	uint64_t v[d->ncpus], sum = 0;
	int i;

	if (bpf_map__lookup_elem(map, &key, sizeof(key), v, sizeof(v), 0))
		return 0;
	for (i = 0; i < d->ncpus; i++)
		sum += v[i];
	return sum;
}

static int write_server(struct switchd *d, unsigned int id)
{
	struct capymig_sw_server rec = {
		.ep = d->srv[id].ep,
		.state = d->srv[id].state,
	};

	return bpf_map__update_elem(d->skel->maps.servers, &id, sizeof(id),
				    &rec, sizeof(rec), 0);
}

/* The server table, endpoint to number, and the pool's addresses. */
static int write_pool(struct switchd *d)
{
	__u32 id, hosts;
	unsigned int i;

	for (id = 0; id < d->nsrv; id++) {
		for (hosts = 0, i = 0; i < d->nsrv; i++)
			hosts += d->srv[i].ep.addr == d->srv[id].ep.addr;
		if (write_server(d, id) ||
		    bpf_map__update_elem(d->skel->maps.server_ids,
					 &d->srv[id].ep, sizeof(d->srv[id].ep),
					 &id, sizeof(id), BPF_NOEXIST) ||
		    bpf_map__update_elem(d->skel->maps.pool_hosts,
					 &d->srv[id].ep.addr,
					 sizeof(d->srv[id].ep.addr), &hosts,
					 sizeof(hosts), 0))
			return -errno;
	}
	return 0;
}

/*
 * Has the data plane's filter on @ifindex's ingress run program @fd: made,
 * or, where a former agent left one (--state), replaced in one step, so
 * that no packet finds none.
 */
static int attach_filter(int ifindex, int fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd, .handle = TC_HANDLE,
		    .priority = TC_PRIORITY, .flags = BPF_TC_F_REPLACE);

	return bpf_tc_attach(&hook, &opts);
}

/* Takes the data plane's filter off @ifindex's ingress. */
static int detach_filter(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE,
		    .priority = TC_PRIORITY);

	return bpf_tc_detach(&hook, &opts);
}

/* The id of the program the data plane's filter on @ifindex runs, or 0. */
static __u32 filter_prog(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE,
		    .priority = TC_PRIORITY);

	return bpf_tc_query(&hook, &opts) ? 0 : opts.prog_id;
}

/* The filter off interface @i, and the clsact qdisc if the agent made it. */
static void detach_one(struct switchd *d, unsigned int i)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = d->ifindex[i],
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

	detach_filter(d->ifindex[i]);
	if (d->own_hook[i])
		bpf_tc_hook_destroy(&hook);
}

/*
 * Puts the first @n interfaces back as attach() found them: on the
 * program a former agent left there, else without the filter.  A start
 * that fails half way would otherwise leave the switch on two data planes,
 * the new one where it got to, the old one beyond.
 */
static void roll_back(struct switchd *d, unsigned int n)
{
	char name[IF_NAMESIZE];
	unsigned int i;
	int fd, err;

	for (i = 0; i < n; i++) {
		if (!d->former[i]) {
			detach_one(d, i);
			continue;
		}
		fd = bpf_prog_get_fd_by_id(d->former[i]);
		err = fd < 0 ? -errno : attach_filter(d->ifindex[i], fd);
		if (err)
			fprintf(stderr, PROG ": putting the former data plane "
				"back on %s: %s\n",
				if_indextoname(d->ifindex[i], name) ?: "?",
				strerror(-err));
		if (fd >= 0)
			close(fd);
	}
}

static int attach(struct switchd *d)
{
	int fd = bpf_program__fd(d->skel->progs.capymig_switch);
	char name[IF_NAMESIZE];
	unsigned int i;
	int err;

	for (i = 0; i < d->nif; i++) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = d->ifindex[i],
			    .attach_point = BPF_TC_INGRESS);

		err = bpf_tc_hook_create(&hook);
		if (err && err != -EEXIST)
			goto fail;
		d->own_hook[i] = !err;
		d->former[i] = filter_prog(d->ifindex[i]);
		err = attach_filter(d->ifindex[i], fd);
		if (err) {
			/* A qdisc it made has no filter to keep. */
			if (d->own_hook[i])
				detach_one(d, i);
			goto fail;
		}
	}
	d->nattached = d->nif;
	return 0;
fail:
	fprintf(stderr, PROG ": attaching to %s: %s\n",
		if_indextoname(d->ifindex[i], name) ?: "?", strerror(-err));
	roll_back(d, i);
	return err;
}

static int count_filter(const struct nlmsghdr *nlh, void *count)
{
	(*(unsigned int *)count)++;
	return MNL_CB_OK;
}

/*
 * How many filters (and their chains' heads) hang from @ifindex's clsact
 * qdisc at @parent (TC_H_MIN_INGRESS or TC_H_MIN_EGRESS), by an
 * RTM_GETTFILTER dump; -errno if it failed (no clsact qdisc among them).
 */
static int tc_filters(struct mnl_socket *nl, int ifindex, __u16 parent)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	unsigned int seq = time(NULL), count = 0;
	struct tcmsg *tcm;
	ssize_t len;
	int ret;

	nlh->nlmsg_type = RTM_GETTFILTER;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	tcm = mnl_nlmsg_put_extra_header(nlh, sizeof(*tcm));
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_parent = TC_H_MAKE(TC_H_CLSACT, parent);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (len < 0)
			return -errno;
		ret = mnl_cb_run(buf, len, seq, mnl_socket_get_portid(nl),
				 count_filter, &count);
	} while (ret == MNL_CB_OK);
	return ret == MNL_CB_ERROR ? -errno : (int)count;
}

/*
 * Removes the clsact qdisc the data plane's filter was taken off on
 * @ifindex if nothing else is attached to it: --remove cannot know
 * whether an agent made it, as one that detaches on exit does, and an
 * empty one is not worth keeping.  One with another filter, ingress or
 * egress, stays.
 */
static void remove_unused_hook(struct mnl_socket *nl, int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

	if (!tc_filters(nl, ifindex, TC_H_MIN_INGRESS) &&
	    !tc_filters(nl, ifindex, TC_H_MIN_EGRESS))
		bpf_tc_hook_destroy(&hook);
}

static void detach(struct switchd *d)
{
	unsigned int i;

	for (i = 0; i < d->nattached; i++)
		detach_one(d, i);
}

/* --- every period -------------------------------------------------------- */

static void *table_elem(const struct table_map *t, __u32 i)
{
	return (char *)t->base + i * t->stride;
}

/* Maps @map (BPF_F_MMAPABLE) into @t. */
static int table_mmap(struct bpf_map *map, struct table_map *t)
{
	long page = sysconf(_SC_PAGESIZE);

	t->stride = (bpf_map__value_size(map) + 7) & ~7UL;
	t->len = (bpf_map__max_entries(map) * t->stride + page - 1) &
		 ~(page - 1);
	t->base = mmap(NULL, t->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       bpf_map__fd(map), 0);
	if (t->base == MAP_FAILED) {
		t->base = NULL;
		return -1;
	}
	return 0;
}

static void table_munmap(struct table_map *t)
{
	if (t->base)
		munmap(t->base, t->len);
}

/* @state, but draining for a retired server: it takes no new connection. */
static enum capymig_sw_server_state retire(const struct server *s,
					   enum capymig_sw_server_state state)
{
	return s->retired && state == CAPYMIG_SW_SERVER_LIVE ?
	       CAPYMIG_SW_SERVER_DRAINING : state;
}

static void set_state(struct switchd *d, unsigned int id,
		      enum capymig_sw_server_state state)
{
	char ep[24];

	state = retire(&d->srv[id], state);
	if (d->srv[id].state == state)
		return;
	d->srv[id].state = state;
	if (write_server(d, id))
		fprintf(stderr, PROG ": writing server %u: %s\n", id,
			strerror(errno));
	fprintf(stderr, PROG ": server %s %s\n",
		capymig_wire_endpoint_format(&d->srv[id].ep, ep),
		state_names[state]);
}

/* Liveness from the REGISTERs the data plane recorded. */
static void follow_heartbeats(struct switchd *d, uint64_t now)
{
	uint64_t timeout = d->opt.heartbeat_timeout_ms * 1000000ULL;
	struct capymig_sw_heartbeat *hb;
	enum capymig_sw_server_state state;
	bool alive;
	__u32 id;

	for (id = 0; id < d->nsrv; id++) {
		hb = &d->srv[id].hb;
		*hb = *(const struct capymig_sw_heartbeat *)
		      table_elem(&d->heartbeats, id);
		alive = !timeout || (hb->last_ns &&
				     (int64_t)(now - hb->last_ns) <=
				     (int64_t)timeout);
		if (!alive)
			state = hb->last_ns ? CAPYMIG_SW_SERVER_DEAD :
					      CAPYMIG_SW_SERVER_DOWN;
		else if (hb->flags & TCPMIG_REGISTER_F_DRAINING)
			state = CAPYMIG_SW_SERVER_DRAINING;
		else
			state = CAPYMIG_SW_SERVER_LIVE;
		set_state(d, id, state);
	}
}

/*
 * The weight @s is placed by: the one -S gave it, which is the switch's
 * operator's word, else its REGISTERs' (the module's --weight, which it
 * always sends, 1 unless set), else 1.
 */
static __u32 weight(const struct server *s)
{
	return s->weight_set || !s->hb.weight ? s->weight : s->hb.weight;
}

static bool alive(const struct server *s)
{
	return s->state == CAPYMIG_SW_SERVER_LIVE ||
	       s->state == CAPYMIG_SW_SERVER_DRAINING;
}

static void measure(struct switchd *d, uint64_t elapsed_ns)
{
	struct server *s;
	uint64_t packets;
	__u32 id;

	for (id = 0; id < d->nsrv; id++) {
		s = &d->srv[id];
		packets = percpu_sum(d, d->skel->maps.server_packets, id);
		s->pps = (packets - s->packets) * 1000000000ULL / elapsed_ns;
		s->packets = packets;
		s->load = policy_smooth(s->load, s->pps);
	}
}

/* Derives the schedules into the bank not in use, then switches to it. */
static void publish(struct switchd *d)
{
	unsigned int slots[CAPYMIG_SW_MAX_SERVERS];
	struct capymig_sw_config *cfg = &d->skel->bss->cfg;
	struct capymig_sw_sched sched;
	__u32 bank = cfg->sched_bank ^ 1;
	unsigned int id;

	for (id = 0; id < d->nsrv; id++) {
		d->policy[id] = (struct policy_server){
			.host = d->srv[id].ep.addr,
			.live = d->srv[id].state == CAPYMIG_SW_SERVER_LIVE,
			.weight = weight(&d->srv[id]),
			.load = d->srv[id].load,
		};
	}
	policy_sched(d->policy, d->nsrv, d->tick, &sched, slots);
	for (id = 0; id < d->nsrv; id++)
		d->srv[id].lwrr_slots = slots[id];
	d->sched = sched;
	/* The data plane reads the other bank until the switch. */
	memcpy(table_elem(&d->scheds, bank), &sched, sizeof(sched));
	__atomic_store_n(&cfg->sched_bank, bank, __ATOMIC_RELEASE);
}

/*
 * The load of the target the data plane would pick now for a migration
 * from server @id, by its target policy: what the server may shed.
 */
static uint64_t target_pps(const struct switchd *d, unsigned int id)
{
	__u32 last = __atomic_load_n(&d->skel->bss->target_last,
				     __ATOMIC_RELAXED);
	__u8 t = policy_target(d->policy, &d->sched, d->opt.target, last, id);

	return t == CAPYMIG_SW_NO_SERVER ? TCPMIG_LOAD_NO_TARGET :
	       (uint64_t)d->srv[t].load;
}

struct load_msg {
	struct tcpmig_msg_hdr h;
	struct tcpmig_msg_load load;
};

/* Counts a LOAD @err kept from its server, and says so, rate-limited. */
static void load_failed(struct switchd *d, const struct load_msg *msg,
			int err)
{
	uint64_t now = now_ns();
	char ep[24];

	d->loads_failed++;
	if (d->load_fail_said && now - d->load_fail_said < LOG_INTERVAL_NS) {
		d->load_fails_unsaid++;
		return;
	}
	fprintf(stderr, PROG ": LOAD to %s: %s (%" PRIu64 " more failed "
		"since the last said)\n",
		capymig_wire_endpoint_format(&msg->h.target, ep),
		strerror(err), d->load_fails_unsaid);
	d->load_fail_said = now;
	d->load_fails_unsaid = 0;
}

/*
 * Sends the @n LOADs of @mm.  sendmmsg() stops at the first message that
 * fails, so each failed one is skipped and the rest sent again: a server
 * the switch has no route to (ENETUNREACH) would otherwise cost every
 * server after it its LOADs.  LOADs lost to a full queue (EAGAIN) are
 * replaced a period later.
 */
static void send_loads(struct switchd *d, struct mmsghdr *mm, unsigned int n)
{
	unsigned int i = 0;
	int sent;

	while (i < n) {
		sent = sendmmsg(d->udp, mm + i, n - i, MSG_DONTWAIT);
		if (sent > 0) {
			d->loads_sent += sent;
			i += sent;
		} else {
			load_failed(d, mm[i].msg_hdr.msg_iov->iov_base, errno);
			i++;
		}
	}
}

/*
 * A LOAD-NOTIFICATION to every live or draining server, in one system call
 * unless one fails.
 */
static void notify(struct switchd *d, uint64_t elapsed_ns)
{
	struct load_msg msg[CAPYMIG_SW_MAX_SERVERS];
	struct sockaddr_in to[CAPYMIG_SW_MAX_SERVERS];
	struct mmsghdr mm[CAPYMIG_SW_MAX_SERVERS];
	struct iovec iov[CAPYMIG_SW_MAX_SERVERS];
	uint64_t pool_pps = 0;
	unsigned int id, n = 0, members = 0;

	for (id = 0; id < d->nsrv; id++) {
		if (alive(&d->srv[id])) {
			pool_pps += d->srv[id].pps;
			members++;
		}
	}
	for (id = 0; id < d->nsrv; id++) {
		if (!alive(&d->srv[id]))
			continue;
		msg[n].h = (struct tcpmig_msg_hdr){
			.magic = htons(TCPMIG_MSG_MAGIC),
			.version = TCPMIG_MSG_VERSION,
			.type = TCPMIG_MSG_LOAD,
			.target = d->srv[id].ep,
		};
		msg[n].load = (struct tcpmig_msg_load){
			.server_pps = htobe64(d->srv[id].pps),
			.pool_pps = htobe64(pool_pps),
			.servers = htonl(members),
			.period_us = htonl(elapsed_ns / 1000),
			.target_pps = htobe64(target_pps(d, id)),
		};
		to[n] = (struct sockaddr_in){
			.sin_family = AF_INET,
			.sin_addr.s_addr = d->srv[id].ep.addr,
			.sin_port = htons(d->opt.tcpmig_port),
		};
		iov[n] = (struct iovec){ &msg[n], sizeof(msg[n]) };
		mm[n] = (struct mmsghdr){ .msg_hdr = {
			.msg_name = &to[n],
			.msg_namelen = sizeof(to[n]),
			.msg_iov = &iov[n],
			.msg_iovlen = 1,
		} };
		n++;
	}
	send_loads(d, mm, n);
}

/*
 * A run of the reaper costs a system call and a run of a program, far more
 * than a slot looked at, under emulation most of all: where a period's
 * share of the slots is smaller, the reaper runs every few periods, on
 * their shares together.
 */
#define REAP_BATCH	1024

/*
 * Looks at the next share of the slots, so that a sweep covers them all.
 * Each of the @periods since the last look earns its share, missed ones
 * too, up to a sweep's worth: an agent held up (a busy CPU, a stop) does
 * not fall behind the sweep for good.
 */
static void reap(struct switchd *d, uint64_t periods)
{
	uint64_t share;
	struct __sk_buff ctx = { 0 };
	char frame[ETH_HLEN] = { 0 }, out[ETH_HLEN];
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = frame,
		.data_size_in = sizeof(frame),
		.data_out = out,
		.data_size_out = sizeof(out),
		.ctx_in = &ctx,
		.ctx_size_in = sizeof(ctx),
	);

	d->reap_owed += periods * ((uint64_t)CAPYMIG_SW_REAP_SLOTS *
				   d->opt.period_us /
				   (d->opt.sweep_ms * 1000ULL) + 1);
	if (d->reap_owed > CAPYMIG_SW_REAP_SLOTS)
		d->reap_owed = CAPYMIG_SW_REAP_SLOTS;
	if (d->reap_owed < REAP_BATCH)
		return;
	/* Up to the end of the slots; the rest from the start, next time. */
	share = d->reap_owed;
	if (share > CAPYMIG_SW_REAP_SLOTS - d->reap_next)
		share = CAPYMIG_SW_REAP_SLOTS - d->reap_next;
	d->reap_owed -= share;
	ctx.cb[CAPYMIG_SW_REAP_START] = d->reap_next;
	ctx.cb[CAPYMIG_SW_REAP_COUNT] = share;
	ctx.cb[CAPYMIG_SW_REAP_IDLE_MS] = d->opt.idle_timeout_ms;
	ctx.cb[CAPYMIG_SW_REAP_CLOSED_MS] = d->opt.closed_timeout_ms;
	ctx.cb[CAPYMIG_SW_REAP_UNANSWERED_MS] = d->opt.unanswered_timeout_ms;
	if (bpf_prog_test_run_opts(
		    bpf_program__fd(d->skel->progs.capymig_switch_reap), &opts))
		fprintf(stderr, PROG ": reaping: %s\n", strerror(errno));
	d->reap_next = (d->reap_next + share) % CAPYMIG_SW_REAP_SLOTS;
}

static void period(struct switchd *d)
{
	uint64_t now = now_ns(), elapsed = now - d->last_ns;
	uint64_t expirations;

	/*
	 * Missed periods are folded into this one: the rates stay right, and
	 * the reaper is owed their shares.
	 */
	if (read(d->timer, &expirations, sizeof(expirations)) < 0 || !elapsed)
		return;
	d->last_ns = now;
	d->tick++;
	measure(d, elapsed);
	follow_heartbeats(d, now);
	publish(d);
	notify(d, elapsed);
	reap(d, expirations);
}

/* --- the dump ------------------------------------------------------------ */

static void snapshot(struct switchd *d, struct dump *out)
{
	uint64_t now = now_ns();
	unsigned int i;

	memset(out, 0, sizeof(*out));
	out->opt = d->opt;
	/* Pointers into the agent's memory are nobody else's business. */
	out->opt.socket = NULL;
	out->opt.pin = NULL;
	out->opt.state = NULL;
	for (i = 0; i < __CAPYMIG_SW_CNT_MAX; i++)
		out->counters[i] = percpu_sum(d, d->skel->maps.counters, i);
	out->loads_sent = d->loads_sent;
	out->loads_failed = d->loads_failed;
	out->nsrv = d->nsrv;
	for (i = 0; i < d->nsrv; i++) {
		out->srv[i] = (struct dump_server){
			.ep = d->srv[i].ep,
			.state = d->srv[i].state,
			.weight = weight(&d->srv[i]),
			.lwrr_slots = d->srv[i].lwrr_slots,
			.pps = d->srv[i].pps,
			.packets = d->srv[i].packets,
			.heartbeat_age_ms = -1,
			.retired = d->srv[i].retired,
		};
		if (d->srv[i].hb.last_ns)
			out->srv[i].heartbeat_age_ms =
				(int64_t)(now - d->srv[i].hb.last_ns) / 1000000;
	}
}

/*
 * A reader connected: it gets the state, then the end of the stream.
 * Nothing it sends is read: the socket takes no command, so its peer's
 * privileges need no check (switch.rst).  One dump per wakeup of run():
 * a flood of readers delays a period by one at most.
 */
static void serve_dump(struct switchd *d)
{
	struct dump dump;
	int fd;

	fd = accept4(d->ctl, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	snapshot(d, &dump);
	/* Far below a unix socket's buffer: this does not block. */
	if (send(fd, &dump, sizeof(dump), MSG_DONTWAIT | MSG_NOSIGNAL) !=
	    sizeof(dump))
		fprintf(stderr, PROG ": dump: %s\n", strerror(errno));
	close(fd);
}

/* NAME, or @NAME in the abstract namespace. */
static socklen_t unix_addr(const char *name, struct sockaddr_un *sun)
{
	size_t len = strlen(name);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (len >= sizeof(sun->sun_path))
		return 0;
	memcpy(sun->sun_path, name, len);
	if (name[0] == '@')
		sun->sun_path[0] = '\0';
	else
		len++;
	return offsetof(struct sockaddr_un, sun_path) + len;
}

/* The state shown: a retired server's is that, whatever its REGISTERs. */
static const char *server_state(const struct dump_server *s)
{
	return s->retired ? "retired" : state_names[s->state];
}

static void print_text(const struct dump *dump)
{
	const struct options *o = &dump->opt;
	char a[24], b[24];
	unsigned int i;

	printf("service %s, placement %s\n",
	       o->service.addr ?
	       capymig_wire_endpoint_format(&o->service, a) : "none",
	       placement_names[o->placement]);
	printf("switch %s, TCPMig port %u, target %s, forwarding %s\n",
	       inet_ntop(AF_INET, &o->switch_addr, b, sizeof(b)),
	       o->tcpmig_port, target_names[o->target],
	       o->stack_forwarding ? "stack" : "data plane");
	printf("period %u us, heartbeat timeout %u ms, idle timeout %u ms, "
	       "closed timeout %u ms, unanswered timeout %u ms\n",
	       o->period_us, o->heartbeat_timeout_ms, o->idle_timeout_ms,
	       o->closed_timeout_ms, o->unanswered_timeout_ms);
	printf("LOADs sent %" PRIu64 ", failed %" PRIu64 "\n",
	       dump->loads_sent, dump->loads_failed);
	printf("entries: migration %" PRId64 ", placement %" PRId64 "\n",
	       (int64_t)dump->counters[CAPYMIG_SW_CNT_MIG_ENTRIES],
	       (int64_t)dump->counters[CAPYMIG_SW_CNT_PLACE_ENTRIES]);
	printf("\n%-3s %-21s %-9s %10s %12s %6s %5s %s\n", "id", "server",
	       "state", "pps", "packets", "weight", "lwrr", "heartbeat");
	for (i = 0; i < dump->nsrv; i++) {
		const struct dump_server *s = &dump->srv[i];

		printf("%-3u %-21s %-9s %10" PRIu64 " %12" PRIu64 " %6u %5u ",
		       i, capymig_wire_endpoint_format(&s->ep, a),
		       server_state(s), s->pps, s->packets, s->weight,
		       s->lwrr_slots);
		if (s->heartbeat_age_ms < 0)
			printf("never\n");
		else
			printf("%" PRId64 " ms ago\n", s->heartbeat_age_ms);
	}
	printf("\ncounters:\n");
	for (i = 0; i < CAPYMIG_SW_CNT_MIG_ENTRIES; i++)
		printf("  %-16s %" PRIu64 "\n", counter_names[i],
		       dump->counters[i]);
}

static void print_json(const struct dump *dump)
{
	struct json_writer w = { .out = stdout };
	const struct options *o = &dump->opt;
	char a[24];
	unsigned int i;

	json_begin_object(&w, NULL);
	if (o->service.addr)
		json_string(&w, "service",
			    capymig_wire_endpoint_format(&o->service, a));
	json_string(&w, "placement", placement_names[o->placement]);
	json_string(&w, "switch", inet_ntop(AF_INET, &o->switch_addr, a,
					    sizeof(a)));
	json_uint(&w, "tcpmig_port", o->tcpmig_port);
	json_string(&w, "target", target_names[o->target]);
	json_string(&w, "forwarding",
		    o->stack_forwarding ? "stack" : "data plane");
	json_uint(&w, "period_us", o->period_us);
	json_uint(&w, "heartbeat_timeout_ms", o->heartbeat_timeout_ms);
	json_uint(&w, "idle_timeout_ms", o->idle_timeout_ms);
	json_uint(&w, "closed_timeout_ms", o->closed_timeout_ms);
	json_uint(&w, "unanswered_timeout_ms", o->unanswered_timeout_ms);
	json_uint(&w, "loads_sent", dump->loads_sent);
	json_uint(&w, "loads_failed", dump->loads_failed);
	json_uint(&w, "migration_entries",
		  dump->counters[CAPYMIG_SW_CNT_MIG_ENTRIES]);
	json_uint(&w, "placement_entries",
		  dump->counters[CAPYMIG_SW_CNT_PLACE_ENTRIES]);
	json_begin_object(&w, "counters");
	for (i = 0; i < CAPYMIG_SW_CNT_MIG_ENTRIES; i++)
		json_uint(&w, counter_names[i], dump->counters[i]);
	json_end_object(&w);
	json_begin_object(&w, "servers");
	for (i = 0; i < dump->nsrv; i++) {
		const struct dump_server *s = &dump->srv[i];

		json_begin_object(&w, capymig_wire_endpoint_format(&s->ep, a));
		json_uint(&w, "id", i);
		json_string(&w, "state", server_state(s));
		json_uint(&w, "pps", s->pps);
		json_uint(&w, "packets", s->packets);
		json_uint(&w, "weight", s->weight);
		json_uint(&w, "lwrr_slots", s->lwrr_slots);
		if (s->heartbeat_age_ms >= 0)
			json_uint(&w, "heartbeat_age_ms", s->heartbeat_age_ms);
		json_end_object(&w);
	}
	json_end_object(&w);
	json_end_object(&w);
}

/* A connection to the agent at @sun, or -1. */
static int control_connect(const struct sockaddr_un *sun, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && connect(fd, (const struct sockaddr *)sun, len)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * Whether the peer of @fd runs as root or as this user: any user of the
 * namespace may bind an abstract name before the agent does, and must
 * not be taken for it.
 */
static bool agent_trusted(int fd, const char *name)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		fprintf(stderr, PROG ": %s: %s\n", name, strerror(errno));
		return false;
	}
	if (cred.uid && cred.uid != geteuid()) {
		fprintf(stderr, PROG ": %s is not the agent's: its process "
			"(%d) runs as user %u, neither root nor you\n", name,
			cred.pid, cred.uid);
		return false;
	}
	return true;
}

/* Whether every name @dump gives by number has one. */
static bool dump_valid(const struct dump *dump)
{
	unsigned int i;

	if (dump->nsrv > CAPYMIG_SW_MAX_SERVERS ||
	    dump->opt.placement >= COUNT_OF(placement_names) ||
	    dump->opt.target >= COUNT_OF(target_names))
		return false;
	for (i = 0; i < dump->nsrv; i++)
		if (dump->srv[i].state >= COUNT_OF(state_names))
			return false;
	return true;
}

static int dump_state(const char *name, bool json)
{
	struct sockaddr_un sun;
	socklen_t len = unix_addr(name, &sun);
	struct dump dump;
	size_t got = 0;
	ssize_t n;
	int fd;

	fd = len ? control_connect(&sun, len) : -1;
	if (fd < 0) {
		fprintf(stderr, PROG ": no agent at %s: %s\n", name,
			len ? strerror(errno) : "name too long");
		return EXIT_FAILURE;
	}
	if (!agent_trusted(fd, name)) {
		close(fd);
		return EXIT_FAILURE;
	}
	while (got < sizeof(dump) &&
	       (n = read(fd, (char *)&dump + got, sizeof(dump) - got)) > 0)
		got += n;
	close(fd);
	if (got != sizeof(dump) || !dump_valid(&dump)) {
		fprintf(stderr, PROG ": short or bad dump from %s\n", name);
		return EXIT_FAILURE;
	}
	if (json)
		print_json(&dump);
	else
		print_text(&dump);
	return EXIT_SUCCESS;
}

/* --- setup --------------------------------------------------------------- */

/*
 * Binds the control socket.  A socket file left by an agent that did not
 * remove it (killed) answers no one: it is replaced, or the next agent,
 * --state's restart among them, would fail with EADDRINUSE.  One that an
 * agent answers on stays that agent's.
 */
static int control_bind(struct switchd *d, const struct sockaddr_un *sun,
			socklen_t len)
{
	int fd;

	if (!bind(d->ctl, (const struct sockaddr *)sun, len))
		goto bound;
	if (errno != EADDRINUSE || !sun->sun_path[0])
		return -1;
	fd = control_connect(sun, len);
	if (fd >= 0) {
		close(fd);
		errno = EADDRINUSE;
		return -1;
	}
	if (unlink(sun->sun_path) ||
	    bind(d->ctl, (const struct sockaddr *)sun, len))
		return -1;
	fprintf(stderr, PROG ": replaced the stale control socket %s\n",
		sun->sun_path);
bound:
	d->ctl_file = sun->sun_path[0];
	return 0;
}

/* Removes the control socket's file, if it has one. */
static void control_remove(struct switchd *d)
{
	if (d->ctl_file)
		unlink(d->opt.socket);
}

static int open_sockets(struct switchd *d)
{
	struct sockaddr_in from = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = d->opt.switch_addr,
		.sin_port = htons(d->opt.tcpmig_port),
	};
	struct itimerspec every = {
		.it_interval.tv_nsec = d->opt.period_us * 1000L,
		.it_value.tv_nsec = d->opt.period_us * 1000L,
	};
	struct epoll_event ev = { .events = EPOLLIN };
	struct sockaddr_un sun;
	socklen_t len = unix_addr(d->opt.socket, &sun);
	sigset_t mask;

	/* LOADs come from the switch's TCPMig address, which is local. */
	d->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (d->udp < 0 ||
	    bind(d->udp, (struct sockaddr *)&from, sizeof(from))) {
		fprintf(stderr, PROG ": binding the switch's TCPMig address: "
			"%s\n", strerror(errno));
		return -1;
	}
	d->ctl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (d->ctl < 0 || !len || control_bind(d, &sun, len) ||
	    listen(d->ctl, 8)) {
		fprintf(stderr, PROG ": control socket %s: %s\n",
			d->opt.socket, len ? strerror(errno) : "name too long");
		return -1;
	}

	sigemptyset(&mask);
	/*
	 * Each stops the agent cleanly: its default action would leave the
	 * data plane attached, and SIGHUP (a closed terminal) means nothing
	 * else here.  Blocked, they reach the signalfd even where the agent
	 * was started ignoring them (a shell's background job ignores
	 * SIGINT and SIGQUIT).
	 */
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	d->sig = signalfd(-1, &mask, SFD_CLOEXEC);
	d->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	d->epoll = epoll_create1(EPOLL_CLOEXEC);
	if (d->sig < 0 || d->timer < 0 || d->epoll < 0 ||
	    timerfd_settime(d->timer, 0, &every, NULL))
		return -1;
	ev.data.fd = d->timer;
	epoll_ctl(d->epoll, EPOLL_CTL_ADD, d->timer, &ev);
	ev.data.fd = d->ctl;
	epoll_ctl(d->epoll, EPOLL_CTL_ADD, d->ctl, &ev);
	ev.data.fd = d->sig;
	epoll_ctl(d->epoll, EPOLL_CTL_ADD, d->sig, &ev);
	return 0;
}

static int run(struct switchd *d)
{
	struct epoll_event ev[4];
	int n, i;

	d->last_ns = now_ns();
	for (;;) {
		n = epoll_wait(d->epoll, ev, 4, -1);
		if (n < 0 && errno != EINTR)
			return -1;
		for (i = 0; i < n; i++) {
			if (ev[i].data.fd == d->sig)
				return 0;
			if (ev[i].data.fd == d->timer)
				period(d);
			else
				serve_dump(d);
		}
	}
}

/*
 * The maps --state keeps, by name: the connections' entries, their recent
 * migrations, and the counters, whose gauges count them.  Their pins are
 * named for the layout of what they hold (CAPYMIG_SW_TABLES_VERSION): an
 * agent never takes over tables it would misread.
 */
static const char *const kept_names[] = {
	"migrations", "placements", "recent_migrations", "counters",
};
#define NKEPT	(sizeof(kept_names) / sizeof(kept_names[0]))

static int kept_path(char *path, size_t size, const char *dir,
		     unsigned int i)
{
	int n = snprintf(path, size, "%s/%s_v%u", dir, kept_names[i],
			 CAPYMIG_SW_TABLES_VERSION);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/*
 * Has libbpf take over the tables pinned in --state's directory, or pin
 * the ones it creates there; says which it will be.
 */
static int keep_tables(struct switchd *d)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	bool found = false;
	unsigned int i;
	int err;

	for (i = 0; i < NKEPT; i++) {
		map = bpf_object__find_map_by_name(d->skel->obj,
						   kept_names[i]);
		err = kept_path(path, sizeof(path), d->opt.state, i) ?:
		      bpf_map__set_pin_path(map, path);
		if (err) {
			fprintf(stderr, PROG ": keeping the tables in %s: %s\n",
				d->opt.state, strerror(-err));
			return err;
		}
		found |= !access(path, F_OK);
	}
	fprintf(stderr, PROG ": %s the tables in %s\n",
		found ? "taking over" : "keeping", d->opt.state);
	return 0;
}

/*
 * --remove: the data plane off the interfaces, with the clsact qdiscs left
 * empty, and the kept tables deleted.
 */
static int remove_data_plane(struct switchd *d)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	char path[PATH_MAX];
	unsigned int i;
	int err, ret = 0;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID)) {
		fprintf(stderr, PROG ": rtnetlink: %s\n", strerror(errno));
		if (nl)
			mnl_socket_close(nl);
		return -1;
	}
	for (i = 0; i < d->nif; i++) {
		err = detach_filter(d->ifindex[i]);
		if (!err)
			remove_unused_hook(nl, d->ifindex[i]);
		else if (err != -ENOENT && err != -EINVAL)
			ret = err;
	}
	mnl_socket_close(nl);
	for (i = 0; d->opt.state && i < NKEPT; i++)
		if (!kept_path(path, sizeof(path), d->opt.state, i) &&
		    unlink(path) && errno != ENOENT)
			ret = -errno;
	if (ret)
		fprintf(stderr, PROG ": removing: %s\n", strerror(-ret));
	return ret;
}

/* --- servers no longer listed ------------------------------------------- */

/*
 * A server a former agent had, which this one is not given (-S), may
 * still serve connections the taken-over tables send it.  Its answers
 * must still be known for a server's, or they would leave from its own
 * address and the clients reset them; so it is kept, retired: its
 * answers rewritten, its TCPMig heard, its LOADs sent, but no new
 * connection placed on it nor migrated to it.  A restart forgets it once
 * no entry names it and the data plane it replaces could place none on it.
 */
struct removed {
	struct tcpmig_endpoint ep;
	unsigned int entries;	/* naming it */
	bool live;		/* to the former data plane */
};

struct removed_set {
	struct removed r[CAPYMIG_SW_MAX_SERVERS];
	unsigned int n;
	bool full;
};

static bool listed(const struct switchd *d, const struct tcpmig_endpoint *ep)
{
	unsigned int i;

	for (i = 0; i < d->nsrv; i++)
		if (d->srv[i].ep.addr == ep->addr &&
		    d->srv[i].ep.port == ep->port)
			return true;
	return false;
}

/* @ep's record in @set, made if need be; NULL if @ep is listed. */
static struct removed *removed_of(const struct switchd *d,
				  struct removed_set *set,
				  const struct tcpmig_endpoint *ep)
{
	unsigned int i;

	if (!ep->addr || listed(d, ep))
		return NULL;
	for (i = 0; i < set->n; i++)
		if (set->r[i].ep.addr == ep->addr &&
		    set->r[i].ep.port == ep->port)
			return &set->r[i];
	if (set->n == CAPYMIG_SW_MAX_SERVERS) {
		set->full = true;
		return NULL;
	}
	set->r[set->n] = (struct removed){ .ep = *ep };
	return &set->r[set->n++];
}

/* The map named @name of the program of id @prog, or -1. */
static int prog_map(__u32 prog, const char *name)
{
	__u32 ids[64], len, i;
	struct bpf_prog_info info = {
		.nr_map_ids = 64,
		.map_ids = (uintptr_t)ids,
	};
	struct bpf_map_info map;
	int fd = bpf_prog_get_fd_by_id(prog), mfd = -1;

	len = sizeof(info);
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		goto out;
	for (i = 0; i < info.nr_map_ids && i < 64; i++) {
		memset(&map, 0, sizeof(map));
		len = sizeof(map);
		mfd = bpf_map_get_fd_by_id(ids[i]);
		if (mfd >= 0 && !bpf_obj_get_info_by_fd(mfd, &map, &len) &&
		    !strcmp(map.name, name))
			break;
		if (mfd >= 0)
			close(mfd);
		mfd = -1;
	}
out:
	if (fd >= 0)
		close(fd);
	return mfd;
}

/*
 * The servers of the data plane a former agent left attached (--state),
 * which goes on switching until this one replaces it: one live there may
 * have new connections placed on it until then.
 */
static void note_former_pool(struct switchd *d, struct removed_set *set)
{
	struct capymig_sw_server rec;
	struct removed *r;
	__u32 prog = 0, id;
	unsigned int i;
	int fd;

	for (i = 0; i < d->nif && !prog; i++)
		prog = filter_prog(d->ifindex[i]);
	fd = prog ? prog_map(prog, "servers") : -1;
	for (id = 0; fd >= 0 && id < CAPYMIG_SW_MAX_SERVERS; id++) {
		if (bpf_map_lookup_elem(fd, &id, &rec) ||
		    rec.state == CAPYMIG_SW_SERVER_UNUSED)
			continue;
		r = removed_of(d, set, &rec.ep);
		if (r)
			r->live = rec.state == CAPYMIG_SW_SERVER_LIVE;
	}
	if (fd >= 0)
		close(fd);
}

#define SCAN_BATCH	4096

/* Counts the entries of slot table @map that name each removed server. */
static int note_entries(struct switchd *d, struct bpf_map *map,
			struct removed_set *set)
{
	static struct capymig_sw_slot slot[SCAN_BATCH];
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_F_LOCK);
	__u32 key[SCAN_BATCH], batch, count, i;
	struct removed *r;
	void *in = NULL;
	int err;

	do {
		count = SCAN_BATCH;
		err = bpf_map_lookup_batch(bpf_map__fd(map), in, &batch, key,
					   slot, &count, &opts);
		if (err && err != -ENOENT)
			return err;
		for (i = 0; i < count; i++) {
			if (!slot[i].rec.client.addr)
				continue;
			r = removed_of(d, set, &slot[i].rec.target);
			if (r)
				r->entries++;
			r = removed_of(d, set, &slot[i].rec.former);
			if (r)
				r->entries++;
		}
		in = &batch;
	} while (!err);
	return 0;
}

/* Adds the removed servers that must stay known to the pool, retired. */
static int keep_retired(struct switchd *d)
{
	struct removed_set set = { .n = 0 };
	struct server *s;
	unsigned int i;
	char ep[24];
	int err;

	note_former_pool(d, &set);
	err = note_entries(d, d->skel->maps.migrations, &set) ?:
	      note_entries(d, d->skel->maps.placements, &set);
	if (err) {
		fprintf(stderr, PROG ": reading the tables: %s\n",
			strerror(-err));
		return err;
	}
	if (set.full)
		goto too_many;
	for (i = 0; i < set.n; i++) {
		if (!set.r[i].entries && !set.r[i].live)
			continue;
		if (d->nsrv == CAPYMIG_SW_MAX_SERVERS)
			goto too_many;
		s = &d->srv[d->nsrv++];
		*s = (struct server){ .ep = set.r[i].ep, .weight = 1,
				      .retired = true };
		fprintf(stderr, PROG ": %s is not listed but kept, retired "
			"(no new connection): %u entries name it%s\n",
			capymig_wire_endpoint_format(&s->ep, ep),
			set.r[i].entries, set.r[i].live ?
			", and the former data plane places on it" : "");
	}
	return 0;
too_many:
	fprintf(stderr, PROG ": more than %u servers, with those no longer "
		"listed that connections may still use\n",
		CAPYMIG_SW_MAX_SERVERS);
	return -E2BIG;
}

static int load(struct switchd *d)
{
	struct capymig_sw_config *cfg;
	unsigned int id;

	libbpf_set_print(libbpf_print);
	d->ncpus = libbpf_num_possible_cpus();
	d->skel = switch_bpf__open();
	if (d->skel) {
		d->skel->rodata->stack_forwarding = d->opt.stack_forwarding;
		if ((d->opt.state && keep_tables(d)) ||
		    switch_bpf__load(d->skel)) {
			switch_bpf__destroy(d->skel);
			d->skel = NULL;
		}
	}
	if (!d->skel) {
		fprintf(stderr, PROG ": loading the data plane: %s\n",
			strerror(errno));
		return -1;
	}
	if (table_mmap(d->skel->maps.heartbeats, &d->heartbeats) ||
	    table_mmap(d->skel->maps.scheds, &d->scheds)) {
		fprintf(stderr, PROG ": mapping the tables: %s\n",
			strerror(errno));
		return -1;
	}
	cfg = &d->skel->bss->cfg;
	cfg->service = d->opt.service;
	cfg->switch_addr = d->opt.switch_addr;
	cfg->tcpmig_port = htons(d->opt.tcpmig_port);
	cfg->placement = d->opt.placement;
	cfg->target = d->opt.target;
	if (d->opt.state && keep_retired(d))
		return -1;
	for (id = 0; id < d->nsrv; id++)
		d->srv[id].state = retire(&d->srv[id],
					  d->opt.heartbeat_timeout_ms ?
					  CAPYMIG_SW_SERVER_DOWN :
					  CAPYMIG_SW_SERVER_LIVE);
	if (write_pool(d)) {
		fprintf(stderr, PROG ": writing the server table: %s\n",
			strerror(errno));
		return -1;
	}
	publish(d);
	if (d->opt.pin && bpf_object__pin_maps(d->skel->obj, d->opt.pin)) {
		fprintf(stderr, PROG ": pinning the maps in %s: %s\n",
			d->opt.pin, strerror(errno));
		d->opt.pin = NULL;
		return -1;
	}
	return attach(d);
}

/*
 * Whether @name is an Ethernet device: the data plane reads an Ethernet
 * header before the IP one, and on any other kind of device (loopback,
 * a tunnel, WireGuard) it would rewrite what is not an address.
 */
static bool ethernet(const char *name)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ok = !ioctl(fd, SIOCGIFHWADDR, &ifr) &&
	     ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER;
	close(fd);
	return ok;
}

/* The interfaces named, or every Ethernet one when none is. */
static int find_interfaces(struct switchd *d, char **names, int n)
{
	struct if_nameindex *all, *i;
	int k;

	for (k = 0; k < n; k++) {
		if (d->nif == MAX_IFACES ||
		    !(d->ifindex[d->nif++] = if_nametoindex(names[k]))) {
			fprintf(stderr, PROG ": no interface %s\n", names[k]);
			return -1;
		}
		if (!ethernet(names[k])) {
			fprintf(stderr, PROG ": %s is not an Ethernet "
				"device\n", names[k]);
			return -1;
		}
	}
	if (n)
		return 0;
	all = if_nameindex();
	for (i = all; i && i->if_index && d->nif < MAX_IFACES; i++)
		if (ethernet(i->if_name))
			d->ifindex[d->nif++] = i->if_index;
	if_freenameindex(all);
	return d->nif ? 0 : -1;
}

static void usage(FILE *out)
{
	fprintf(out,
"usage: " PROG " [OPTIONS] -a SWITCH_ADDR -S SERVER... [IFACE...]\n"
"       " PROG " --dump [-j] [-u SOCKET]\n"
"       " PROG " --remove [--state DIR] [IFACE...]\n"
"\n"
"  -s, --service ADDR:PORT       the service address clients connect to\n"
"  -S, --server ADDR:PORT[/W]    a server of the pool, of weight W (else\n"
"                                its REGISTERs', else 1)\n"
"  -a, --switch-addr ADDR        the switch's TCPMig address, local\n"
"  -P, --placement rr|hash|lwrr  how new connections are placed (rr)\n"
"  -T, --target rr|least-loaded  how migration targets are picked\n"
"                                (least-loaded)\n"
"  -p, --period-us N             load period and LOAD interval (1000)\n"
"      --tcpmig-port N           TCPMig UDP port (%u)\n"
"      --heartbeat-timeout MS    a server is dead after MS without a\n"
"                                REGISTER, 300 at least; 0: servers need\n"
"                                none (1000)\n"
"      --idle-timeout MS         reap entries idle for MS, 1000 at least\n"
"                                as the next two (300000)\n"
"      --closed-timeout MS       ... or, once the connection closed, for\n"
"                                MS: its late segments are still rewritten\n"
"                                (60000, as long as TCP's TIME-WAIT)\n"
"      --unanswered-timeout MS   ... or, placed by a SYN no server\n"
"                                answered, for MS (5000)\n"
"      --sweep MS                look at every entry once in MS (10000)\n"
"  -u, --socket NAME             control socket, @NAME for an abstract\n"
"                                one (@" PROG ")\n"
"      --pin DIR                 pin the data plane's maps in DIR (on a\n"
"                                bpffs, no dot in the path) while running\n"
"      --state DIR               keep the connection tables in DIR (on a\n"
"                                bpffs), taken over by the next agent\n"
"                                with that DIR; the data plane stays\n"
"                                attached when the agent exits\n"
"      --remove                  detach the data plane, delete the\n"
"                                tables --state kept\n"
"      --stack-forwarding        forward through the namespace's stack,\n"
"                                netfilter's forward hooks included, not\n"
"                                from the data plane: slower\n"
"  -d, --dump                    print a running agent's state\n"
"  -j                            ... as JSON\n"
"\n"
"IFACE: interfaces to attach to, Ethernet ones, all of them by default.\n",
		TCPMIG_PORT_DEFAULT);
}

/* NAME among @names; -1 if none. */
static int lookup_name(const char *const *names, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return i;
	return -1;
}

static bool parse_uint(const char *text, unsigned int min, unsigned int max,
		       unsigned int *v)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(text, &end, 10);
	if (errno || *end || end == text || n < min || n > max)
		return false;
	*v = n;
	return true;
}

static int add_server(struct switchd *d, const char *text)
{
	const char *slash = strchr(text, '/');
	struct server *s = &d->srv[d->nsrv];
	size_t len = slash ? (size_t)(slash - text) : strlen(text);
	char endpoint[CAPYMIG_TUPLE_STRLEN];
	unsigned int i;

	if (d->nsrv == CAPYMIG_SW_MAX_SERVERS || len >= sizeof(endpoint))
		return -1;
	s->weight = 1;
	if (slash) {
		if (!parse_uint(slash + 1, 1, 1000, &s->weight))
			return -1;
		s->weight_set = true;
	}
	memcpy(endpoint, text, len);
	endpoint[len] = '\0';
	if (capymig_wire_endpoint_parse(endpoint, 0, &s->ep))
		return -1;
	for (i = 0; i < d->nsrv; i++)
		if (d->srv[i].ep.addr == s->ep.addr &&
		    d->srv[i].ep.port == s->ep.port)
			return -1;
	d->nsrv++;
	return 0;
}

/*
 * The shortest timeouts taken.  An entry keeps its time in units of 1.05
 * ms, and a timeout under one is none: the reaper took every entry, live
 * ones too.  Beyond that, a live connection's entries must outlast the
 * longest a TCP peer stays silent before it sends again, a retransmission
 * timeout: 1 s before a round trip is measured (RFC 6298), for a SYN, a
 * lost segment or a FIN.  A server's module sends REGISTER every 100 ms:
 * a heartbeat timeout under three of them takes a server whose REGISTER
 * was late or lost for dead, and it flaps.
 */
#define MIN_ENTRY_TIMEOUT_MS		1000
#define MIN_HEARTBEAT_TIMEOUT_MS	300

/* Whether --@name's @ms is at least @min; if not, says so and @why. */
static bool timeout_sane(const char *name, unsigned int ms, unsigned int min,
			 const char *why)
{
	if (ms >= min)
		return true;
	fprintf(stderr, PROG ": --%s %u: under %u ms, %s\n", name, ms, min,
		why);
	return false;
}

static bool timeouts_sane(const struct options *o)
{
	static const char entry[] = "TCP's first retransmission timeout: "
				    "live connections' entries would go";

	return timeout_sane("idle-timeout", o->idle_timeout_ms,
			    MIN_ENTRY_TIMEOUT_MS, entry) &&
	       timeout_sane("closed-timeout", o->closed_timeout_ms,
			    MIN_ENTRY_TIMEOUT_MS, entry) &&
	       timeout_sane("unanswered-timeout", o->unanswered_timeout_ms,
			    MIN_ENTRY_TIMEOUT_MS, entry) &&
	       (!o->heartbeat_timeout_ms ||
		timeout_sane("heartbeat-timeout", o->heartbeat_timeout_ms,
			     MIN_HEARTBEAT_TIMEOUT_MS, "three of the module's "
			     "heartbeats: servers would flap (0: none)"));
}

enum { OPT_TCPMIG_PORT = 256, OPT_HB_TIMEOUT, OPT_IDLE_TIMEOUT,
       OPT_CLOSED_TIMEOUT, OPT_UNANSWERED_TIMEOUT, OPT_SWEEP, OPT_PIN,
       OPT_STATE, OPT_REMOVE, OPT_STACK_FORWARDING };

static const struct option long_options[] = {
	{ "service", required_argument, NULL, 's' },
	{ "server", required_argument, NULL, 'S' },
	{ "switch-addr", required_argument, NULL, 'a' },
	{ "placement", required_argument, NULL, 'P' },
	{ "target", required_argument, NULL, 'T' },
	{ "period-us", required_argument, NULL, 'p' },
	{ "tcpmig-port", required_argument, NULL, OPT_TCPMIG_PORT },
	{ "heartbeat-timeout", required_argument, NULL, OPT_HB_TIMEOUT },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "closed-timeout", required_argument, NULL, OPT_CLOSED_TIMEOUT },
	{ "unanswered-timeout", required_argument, NULL,
	  OPT_UNANSWERED_TIMEOUT },
	{ "sweep", required_argument, NULL, OPT_SWEEP },
	{ "pin", required_argument, NULL, OPT_PIN },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "remove", no_argument, NULL, OPT_REMOVE },
	{ "stack-forwarding", no_argument, NULL, OPT_STACK_FORWARDING },
	{ "socket", required_argument, NULL, 'u' },
	{ "dump", no_argument, NULL, 'd' },
	{ "help", no_argument, NULL, 'h' },
	{}
};

#define NAMES(a) a, (int)COUNT_OF(a)

/* The long name of option @c, for messages about its value. */
static const char *option_name(int c)
{
	const struct option *o;

	for (o = long_options; o->name && o->val != c; o++)
		;
	return o->name ?: "?";
}

enum mode { MODE_RUN, MODE_DUMP, MODE_REMOVE };

static int parse_args(struct switchd *d, int argc, char **argv, enum mode *mode,
		      bool *json)
{
	struct options *o = &d->opt;
	struct tcpmig_endpoint ep;
	unsigned int port;
	int c, v;

	while ((c = getopt_long(argc, argv, "s:S:a:P:T:p:u:djh", long_options,
				NULL)) != -1) {
		switch (c) {
		case 's':
			if (capymig_wire_endpoint_parse(optarg, 0, &o->service))
				goto bad;
			break;
		case 'S':
			if (add_server(d, optarg))
				goto bad;
			break;
		case 'a':
			if (capymig_wire_endpoint_parse(optarg, 1, &ep) ||
			    ep.port)
				goto bad;
			o->switch_addr = ep.addr;
			break;
		case 'P':
			v = lookup_name(NAMES(placement_names), optarg);
			if (v < 0)
				goto bad;
			o->placement = v;
			break;
		case 'T':
			v = lookup_name(NAMES(target_names), optarg);
			if (v < 0)
				goto bad;
			o->target = v;
			break;
		case 'p':
			if (!parse_uint(optarg, 100, 999999, &o->period_us))
				goto bad;
			break;
		case OPT_TCPMIG_PORT:
			if (!parse_uint(optarg, 1, 65535, &port))
				goto bad;
			o->tcpmig_port = port;
			break;
		case OPT_HB_TIMEOUT:
			if (!parse_uint(optarg, 0, INT_MAX / 1000,
					&o->heartbeat_timeout_ms))
				goto bad;
			break;
		case OPT_IDLE_TIMEOUT:
			if (!parse_uint(optarg, 0, INT_MAX,
					&o->idle_timeout_ms))
				goto bad;
			break;
		case OPT_CLOSED_TIMEOUT:
			if (!parse_uint(optarg, 0, INT_MAX,
					&o->closed_timeout_ms))
				goto bad;
			break;
		case OPT_UNANSWERED_TIMEOUT:
			if (!parse_uint(optarg, 0, INT_MAX,
					&o->unanswered_timeout_ms))
				goto bad;
			break;
		case OPT_SWEEP:
			if (!parse_uint(optarg, 1, INT_MAX, &o->sweep_ms))
				goto bad;
			break;
		case 'u':
			o->socket = optarg;
			break;
		case OPT_PIN:
			o->pin = optarg;
			break;
		case OPT_STATE:
			o->state = optarg;
			break;
		case OPT_REMOVE:
			*mode = MODE_REMOVE;
			break;
		case OPT_STACK_FORWARDING:
			o->stack_forwarding = true;
			break;
		case 'd':
			*mode = MODE_DUMP;
			break;
		case 'j':
			*json = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (o->pin && o->state) {
		fprintf(stderr, PROG ": --pin and --state: one or the other\n");
		return -1;
	}
	if (!timeouts_sane(o))
		return -1;
	if (*mode != MODE_RUN || (o->switch_addr && d->nsrv))
		return 0;
	fprintf(stderr, PROG ": the switch's address and servers are "
		"needed\n");
	usage(stderr);
	return -1;
bad:
	fprintf(stderr, PROG ": bad --%s '%s' (see --help)\n", option_name(c),
		optarg);
	return -1;
}

int main(int argc, char **argv)
{
	static struct switchd d = {
		.opt = {
			.tcpmig_port = TCPMIG_PORT_DEFAULT,
			.placement = CAPYMIG_SW_PLACE_RR,
			.target = CAPYMIG_SW_TARGET_LEAST_LOADED,
			.period_us = 1000,
			.heartbeat_timeout_ms = 1000,
			.idle_timeout_ms = 300000,
			.closed_timeout_ms = 60000,
			.unanswered_timeout_ms = 5000,
			.sweep_ms = 10000,
			.socket = "@" PROG,
		},
		.udp = -1, .ctl = -1,
	};
	enum mode mode = MODE_RUN;
	int ret = EXIT_FAILURE;
	bool json = false;

	if (parse_args(&d, argc, argv, &mode, &json))
		return EXIT_FAILURE;
	if (mode == MODE_DUMP)
		return dump_state(d.opt.socket, json);
	if (find_interfaces(&d, argv + optind, argc - optind))
		return EXIT_FAILURE;
	if (mode == MODE_REMOVE)
		return remove_data_plane(&d) ? EXIT_FAILURE : EXIT_SUCCESS;
	if (!open_sockets(&d) && !load(&d)) {
		fprintf(stderr, PROG ": switching %u servers on %u "
			"interfaces\n", d.nsrv, d.nif);
		ret = run(&d) ? EXIT_FAILURE : EXIT_SUCCESS;
	}
	/* What --state keeps goes on switching until the next agent. */
	if (!d.opt.state)
		detach(&d);
	/* A data plane that did not load has no maps, pinned or not. */
	if (d.opt.pin && d.skel)
		bpf_object__unpin_maps(d.skel->obj, d.opt.pin);
	table_munmap(&d.heartbeats);
	table_munmap(&d.scheds);
	switch_bpf__destroy(d.skel);
	control_remove(&d);
	return ret;
}
