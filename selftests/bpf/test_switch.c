// SPDX-License-Identifier: GPL-2.0
/*
 * Test of the software switch's data plane, bpf/switch.bpf.c, on the
 * running kernel, in TAP.
 *
 * Each case writes fixture tables, runs the program on fixture frames with
 * BPF_PROG_TEST_RUN and checks the verdict, the frame that comes out
 * (addresses, and checksums recomputed here from scratch), the tables and
 * the counters.  The program is loaded once: cases use clients of their
 * own and compare counters before and after.  They run in a network
 * namespace of their own, whose routes put the servers on one side of
 * the switch and the clients on another: each frame comes in on its
 * source's side, unless a case says otherwise.
 *
 * Exit status: 0 all passed, 1 a check failed, 4 skipped (not root, or no
 * BTF).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "switch.h"
#include "frame.h"
#include "netns.h"
#include "switch.skel.h"
#include "tap.h"

#define PLAN		210

#define TCPMIG_PORT	7390	/* not the default: the config must count */
#define NSERVERS	4
#define NS		CAPYMIG_SW_NO_SERVER

static struct switch_bpf *skel;
static int ncpus;

static struct tcpmig_endpoint ep(const char *addr, int port)
{
	struct tcpmig_endpoint e = { .port = htons(port) };

	inet_pton(AF_INET, addr, &e.addr);
	return e;
}

static struct tcpmig_endpoint with_port(struct tcpmig_endpoint e, int port)
{
	e.port = htons(port);
	return e;
}

static bool ep_eq(struct tcpmig_endpoint a, struct tcpmig_endpoint b)
{
	return a.addr == b.addr && a.port == b.port;
}

static const char *ep_str(struct tcpmig_endpoint e)
{
	static char buf[4][24];
	static int which;
	char *p = buf[which++ & 3];

	inet_ntop(AF_INET, &e.addr, p, 16);
	sprintf(p + strlen(p), ":%u", ntohs(e.port));
	return p;
}

/* The pool: server i at 10.10.<i+1>.2:808<i>; the service and switch. */
static struct tcpmig_endpoint srv[NSERVERS];
static struct tcpmig_endpoint vip;
static __be32 switch_addr;

/* A client endpoint of its own for each use. */
static struct tcpmig_endpoint client(void)
{
	static int next = 40000;

	return ep("10.10.0.2", next++);
}

/* The data plane's clock, bpf_ktime_get_coarse_ns(). */
static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* --- frames -------------------------------------------------------------- */

/* The migration the messages are about: prepare_ack() starts the next. */
static __u32 migration_id = 7;

static struct tcpmig_msg_hdr msg(int type, struct tcpmig_endpoint client,
				 struct tcpmig_endpoint origin,
				 struct tcpmig_endpoint target)
{
	return (struct tcpmig_msg_hdr){
		.magic = htons(TCPMIG_MSG_MAGIC),
		.version = TCPMIG_MSG_VERSION,
		.type = type,
		.migration_id = htonl(migration_id),
		.client = client,
		.origin = origin,
		.target = target,
	};
}

/* A TCPMig message: @h followed by @body_len bytes of @body. */
static void tcpmig_frame(struct frame *f, __be32 saddr, __be32 daddr,
			 const struct tcpmig_msg_hdr *h, const void *body,
			 size_t body_len)
{
	size_t len = sizeof(struct udphdr) + sizeof(*h) + body_len;
	struct udphdr *uh;

	ip_frame(f, saddr, daddr, IPPROTO_UDP, len);
	uh = (struct udphdr *)l4_of(f);
	uh->source = htons(TCPMIG_PORT);
	uh->dest = htons(TCPMIG_PORT);
	uh->len = htons(len);
	memcpy(uh + 1, h, sizeof(*h));
	memcpy((__u8 *)(uh + 1) + sizeof(*h), body, body_len);
	fix_checksums(f);
}

static struct tcpmig_msg_hdr *msg_of(struct frame *f)
{
	return (struct tcpmig_msg_hdr *)(l4_of(f) + sizeof(struct udphdr));
}

/* Runs @prog on @in; the verdict, with the frame out in @out. */
static int run_prog(struct bpf_program *prog, struct frame *in,
		    struct frame *out, struct __sk_buff *ctx)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = in->b,
		.data_size_in = in->len,
		.data_out = out->b,
		.data_size_out = sizeof(out->b),
		.ctx_in = ctx,
		.ctx_size_in = ctx ? sizeof(*ctx) : 0,
		.ctx_out = ctx,
		.ctx_size_out = ctx ? sizeof(*ctx) : 0,
	);

	memset(out, 0, sizeof(*out));
	if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts)) {
		tap_diag("BPF_PROG_TEST_RUN: %s", strerror(errno));
		return -1;
	}
	out->len = opts.data_size_out;
	return opts.retval;
}

/*
 * The switch's two sides in the namespace the cases run in: the servers'
 * subnets, 10.10.1.0/24 and on, are routed to one interface, the rest to
 * the other.  The switch takes TCPMig only from a pool host's side.
 */
static int servers_side, clients_side;
/* The interface frames come in on; 0: their source's side. */
static int ingress;

static int sides_setup(void)
{
	char cmd[512];
	int n, i;

	n = snprintf(cmd, sizeof(cmd),
		     "ip link add sw-srv type veth peer name srv-sw &&"
		     " ip link add sw-cli type veth peer name cli-sw &&"
		     " for l in sw-srv srv-sw sw-cli cli-sw; do"
		     " ip link set $l up || exit; done &&"
		     " ip address add 10.10.0.1/24 dev sw-cli &&"
		     " ip route add default dev sw-cli");
	for (i = 0; i < NSERVERS; i++)
		n += snprintf(cmd + n, sizeof(cmd) - n,
			      " && ip address add 10.10.%d.1/24 dev sw-srv",
			      i + 1);
	if (unshare(CLONE_NEWNET))
		return -errno;
	if (system(cmd))
		return -EIO;
	servers_side = if_nametoindex("sw-srv");
	clients_side = if_nametoindex("sw-cli");
	if (!servers_side || !clients_side)
		return -ENODEV;
	return sysctl_write("/proc/sys/net/ipv4/ip_forward", "1");
}

static int side_of(__be32 addr)
{
	__u32 net = ntohl(addr) >> 8;

	return net >= 0x0a0a01 && net <= 0x0a0a00 + NSERVERS ? servers_side :
							       clients_side;
}

static int run(struct frame *in, struct frame *out)
{
	struct __sk_buff ctx = {
		.ingress_ifindex = ingress ?: side_of(frame_src(in).addr),
	};

	return run_prog(skel->progs.capymig_switch, in, out, &ctx);
}

/* --- tables -------------------------------------------------------------- */

static __u64 sum_percpu(struct bpf_map *map, __u32 key)
{
	__u64 v[ncpus], sum = 0;
	int i;

	if (bpf_map__lookup_elem(map, &key, sizeof(key), v, sizeof(v), 0))
		return 0;
	for (i = 0; i < ncpus; i++)
		sum += v[i];
	return sum;
}

static __u64 counter(enum capymig_sw_counter c)
{
	return sum_percpu(skel->maps.counters, c);
}

static __u64 server_packets(int id)
{
	return sum_percpu(skel->maps.server_packets, id);
}

/* Counters before an action, to compare after it. */
struct snapshot {
	__u64 cnt[__CAPYMIG_SW_CNT_MAX];
	__u64 pkts[NSERVERS];
};

static void snap(struct snapshot *s)
{
	int i;

	for (i = 0; i < __CAPYMIG_SW_CNT_MAX; i++)
		s->cnt[i] = counter(i);
	for (i = 0; i < NSERVERS; i++)
		s->pkts[i] = server_packets(i);
}

static __s64 delta(const struct snapshot *s, enum capymig_sw_counter c)
{
	return counter(c) - s->cnt[c];
}

static bool slot_read(struct bpf_map *map, __u32 idx,
		      struct capymig_sw_slot *slot)
{
	return !bpf_map__lookup_elem(map, &idx, sizeof(idx), slot,
				     sizeof(*slot), BPF_F_LOCK);
}

static void slot_write_flags(struct bpf_map *map, __u32 idx,
			     struct tcpmig_endpoint client,
			     struct tcpmig_endpoint target, __u64 last_seen_ns,
			     __u32 flags)
{
	struct capymig_sw_slot slot = {
		.rec = {
			.state = CAPYMIG_SW_TIME(last_seen_ns) | flags,
			.client = client,
			.service = srv[0],
			.target = target,
		},
	};

	if (bpf_map__update_elem(map, &idx, sizeof(idx), &slot, sizeof(slot),
				 BPF_F_LOCK))
		tap_diag("writing slot %u: %s", idx, strerror(errno));
}

static void slot_write(struct bpf_map *map, __u32 idx,
		       struct tcpmig_endpoint client,
		       struct tcpmig_endpoint target, __u64 last_seen_ns)
{
	slot_write_flags(map, idx, client, target, last_seen_ns, 0);
}

/* The level of @map where @key's entry is, -1 if none; the slot in @slot. */
static int entry(struct bpf_map *map, struct tcpmig_endpoint key,
		 struct capymig_sw_slot *slot)
{
	int level;

	for (level = 0; level < CAPYMIG_SW_LEVELS; level++)
		if (slot_read(map, capymig_sw_slot_index(level, &key), slot) &&
		    ep_eq(slot->rec.client, key))
			return level;
	memset(slot, 0, sizeof(*slot));
	return -1;
}

static int mig_entry(struct tcpmig_endpoint key, struct capymig_sw_slot *slot)
{
	return entry(skel->maps.migrations, key, slot);
}

static int place_entry(struct tcpmig_endpoint key,
		       struct capymig_sw_slot *slot)
{
	return entry(skel->maps.placements, key, slot);
}

static __u32 fin_flags(const struct capymig_sw_slot *slot)
{
	return slot->rec.state & CAPYMIG_SW_FIN_MASK;
}

/* Whether @slot's entry was last used between @t0 and now. */
static bool seen_since(const struct capymig_sw_slot *slot, __u64 t0)
{
	return capymig_sw_idle(slot->rec.state, CAPYMIG_SW_TIME(t0)) >= 0 &&
	       capymig_sw_idle(CAPYMIG_SW_TIME(now_ns()),
			       slot->rec.state) >= 0;
}

/* Makes @key's entry of @map look an hour idle. */
static void age_entry(struct bpf_map *map, struct tcpmig_endpoint key)
{
	struct capymig_sw_slot slot;
	int level = entry(map, key, &slot);
	__u32 idx = capymig_sw_slot_index(level, &key);

	slot.rec.state = fin_flags(&slot) |
			 CAPYMIG_SW_TIME(now_ns() - 3600000000000ULL);
	if (level < 0 || bpf_map__update_elem(map, &idx, sizeof(idx), &slot,
					      sizeof(slot), BPF_F_LOCK))
		tap_diag("no entry of %s to age", ep_str(key));
}

static void set_state(int id, enum capymig_sw_server_state state)
{
	struct capymig_sw_server s = { .ep = srv[id], .state = state };
	__u32 key = id;

	bpf_map__update_elem(skel->maps.servers, &key, sizeof(key), &s,
			     sizeof(s), 0);
}

static void set_draining(int id, bool draining)
{
	struct capymig_sw_heartbeat hb = {
		.flags = draining ? TCPMIG_REGISTER_F_DRAINING : 0,
	};
	__u32 key = id;

	bpf_map__update_elem(skel->maps.heartbeats, &key, sizeof(key), &hb,
			     sizeof(hb), 0);
}

/* Writes the bank not in use, then switches to it, as the agent does. */
static void set_sched(const __u8 *live, __u32 nlive, const __u8 *weighted,
		      __u32 nweighted, __u8 least0, __u8 least1)
{
	struct capymig_sw_sched s = {
		.nlive = nlive,
		.nweighted = nweighted,
		.least = { least0, least1 },
	};
	__u32 bank = skel->bss->cfg.sched_bank ^ 1;

	memcpy(s.live, live, nlive);
	if (weighted)
		memcpy(s.weighted, weighted, nweighted);
	if (bpf_map__update_elem(skel->maps.scheds, &bank, sizeof(bank), &s,
				 sizeof(s), 0))
		tap_diag("writing schedule: %s", strerror(errno));
	skel->bss->cfg.sched_bank = bank;
}

static const __u8 all_live[NSERVERS] = { 0, 1, 2, 3 };

static void pool_reset(void)
{
	int i;

	for (i = 0; i < NSERVERS; i++) {
		set_state(i, CAPYMIG_SW_SERVER_LIVE);
		set_draining(i, false);
	}
	set_sched(all_live, NSERVERS, NULL, 0, NS, NS);
	skel->bss->cfg.placement = CAPYMIG_SW_PLACE_RR;
	skel->bss->cfg.target = CAPYMIG_SW_TARGET_RR;
}

static int setup(void)
{
	__u32 one = 1, id;
	char addr[16];
	int i;

	vip = ep("10.10.255.1", 80);
	inet_pton(AF_INET, "10.10.254.1", &switch_addr);
	skel->bss->cfg.service = vip;
	skel->bss->cfg.switch_addr = switch_addr;
	skel->bss->cfg.tcpmig_port = htons(TCPMIG_PORT);
	for (i = 0; i < NSERVERS; i++) {
		snprintf(addr, sizeof(addr), "10.10.%d.2", i + 1);
		srv[i] = ep(addr, 8080 + i);
		id = i;
		if (bpf_map__update_elem(skel->maps.server_ids, &srv[i],
					 sizeof(srv[i]), &id, sizeof(id), 0) ||
		    bpf_map__update_elem(skel->maps.pool_hosts, &srv[i].addr,
					 sizeof(srv[i].addr), &one,
					 sizeof(one), 0))
			return -errno;
	}
	pool_reset();
	return 0;
}

/* --- cases --------------------------------------------------------------- */

/* The reflected CRC of @poly, a bit at a time, as the definition goes. */
static __u32 crc_bitwise(__u32 poly, const __u8 *p, size_t len)
{
	__u32 crc = ~0U;
	int bit;

	while (len--) {
		crc ^= *p++;
		for (bit = 0; bit < 8; bit++)
			crc = crc & 1 ? (crc >> 1) ^ poly : crc >> 1;
	}
	return ~crc;
}

static void test_hash(void)
{
	static const __u32 poly[CAPYMIG_SW_LEVELS] = {
		CAPYMIG_SW_HASH0_POLY, CAPYMIG_SW_HASH1_POLY,
	};
	struct tcpmig_endpoint k;
	__u32 i, level, want, bad = 0;

	tap_result(capymig_sw_crc(0, (const __u8 *)"123456789", 9) ==
		   0xcbf43926 &&
		   capymig_sw_crc(1, (const __u8 *)"123456789", 9) ==
		   0xe3069283,
		   "slot hashes are CRC-32 and CRC-32C (check values)");
	for (i = 0; i < 100000; i++) {
		k = (struct tcpmig_endpoint){ .addr = htonl(i * 2654435761U),
					      .port = htons(i) };
		for (level = 0; level < CAPYMIG_SW_LEVELS; level++) {
			want = level * CAPYMIG_SW_SLOTS +
			       (crc_bitwise(poly[level], (const __u8 *)&k, 6) &
				(CAPYMIG_SW_SLOTS - 1));
			bad += capymig_sw_slot_index(level, &k) != want;
		}
	}
	tap_result(!bad, "slot indexes of 100000 keys as a bitwise CRC has "
		   "them (%u wrong)", bad);
}

static void test_passthrough(void)
{
	struct frame in, out;
	struct udphdr *uh;
	int v;

	ip_frame(&in, srv[0].addr, srv[1].addr, IPPROTO_ICMP, 8);
	((struct ethhdr *)in.b)->h_proto = htons(ETH_P_ARP);
	v = run(&in, &out);
	tap_result(v == TC_ACT_OK && out.len == in.len &&
		   !memcmp(in.b, out.b, in.len),
		   "non-IP frame passes untouched");

	ip_frame(&in, client().addr, srv[0].addr, IPPROTO_ICMP, 8);
	v = run(&in, &out);
	tap_result(v == TC_ACT_OK && !memcmp(in.b, out.b, in.len),
		   "ICMP passes untouched");

	ip_frame(&in, client().addr, vip.addr, IPPROTO_UDP, 8);
	uh = (struct udphdr *)l4_of(&in);
	uh->source = htons(5000);
	uh->dest = htons(TCPMIG_PORT + 1);
	uh->len = htons(8);
	fix_checksums(&in);
	v = run(&in, &out);
	tap_result(v == TC_ACT_OK && !memcmp(in.b, out.b, in.len),
		   "UDP to another port passes untouched");
}

/* Sends a TH_SYN from @c to the service; the server it went to, or -1. */
static int syn(struct tcpmig_endpoint c, struct frame *out, int *verdict)
{
	struct frame in;
	int i;

	tcp_frame(&in, c, vip, TH_SYN);
	*verdict = run(&in, out);
	for (i = 0; i < NSERVERS; i++)
		if (ep_eq(frame_dst(out), srv[i]))
			return i;
	return -1;
}

static void test_place_rr(void)
{
	struct tcpmig_endpoint c[8];
	struct capymig_sw_slot slot;
	struct frame in, out;
	bool turn = true, sums = true, entries = true, count_ok = true;
	int got[8], first = -1, v, i, n;
	struct snapshot s;

	snap(&s);
	for (i = 0; i < 8; i++) {
		c[i] = client();
		got[i] = syn(c[i], &out, &v);
		if (v != TC_ACT_OK || got[i] < 0)
			turn = false;
		else if (first < 0)
			first = got[i];
		else if (got[i] != (first + i) % NSERVERS)
			turn = false;
		sums &= checksums_ok(&out) && ep_eq(frame_src(&out), c[i]);
		entries &= place_entry(c[i], &slot) >= 0 &&
			   got[i] >= 0 && ep_eq(slot.rec.target, srv[got[i]]) &&
			   ep_eq(slot.rec.service, vip);
	}
	if (!tap_result(turn, "rr: 8 SYNs to the service go to each server in "
		   "turn"))
		for (i = 0; i < 8; i++)
			tap_diag("SYN %d went to server %d", i, got[i]);
	tap_result(sums,
		   "rr: rewritten SYNs have valid checksums, source kept");
	tap_result(entries,
		   "rr: a placement entry per client names its server");
	for (i = 0; i < NSERVERS; i++)
		count_ok &= server_packets(i) - s.pkts[i] == 2;
	tap_result(delta(&s, CAPYMIG_SW_CNT_PLACED) == 8 &&
		   delta(&s, CAPYMIG_SW_CNT_PLACE_ENTRIES) == 8 && count_ok,
		   "rr: 8 placed, 8 entries, 2 packets counted per server");

	/* The policy now says server 3 only: c[0] stays where it was. */
	set_sched(&all_live[3], 1, NULL, 0, NS, NS);
	tcp_frame(&in, c[0], vip, TH_ACK | TH_PSH);
	v = run(&in, &out);
	tap_result(v == TC_ACT_OK && got[0] >= 0 && got[0] != 3 &&
		   ep_eq(frame_dst(&out), srv[got[0]]) && checksums_ok(&out),
		   "rr: later segments keep to the placed server (PCC)");

	n = delta(&s, CAPYMIG_SW_CNT_PLACED);
	syn(c[0], &out, &v);
	tap_result(v == TC_ACT_OK && ep_eq(frame_dst(&out), srv[got[0]]) &&
		   delta(&s, CAPYMIG_SW_CNT_PLACED) == n,
		   "rr: a retransmitted SYN goes to the same server");

	tcp_frame(&in, srv[got[1]], c[1], TH_SYN | TH_ACK);
	v = run(&in, &out);
	tap_result(v == TC_ACT_OK && ep_eq(frame_src(&out), vip) &&
		   ep_eq(frame_dst(&out), c[1]),
		   "rr: the server's answer comes from the service address");
	tap_result(checksums_ok(&out), "rr: ... with valid checksums");
	pool_reset();
}

static void test_place_hash(void)
{
	struct frame out;
	bool ok = true;
	__u32 want;
	int i, v, got;

	skel->bss->cfg.placement = CAPYMIG_SW_PLACE_HASH;
	for (i = 0; i < 6; i++) {
		struct tcpmig_endpoint c = client();

		want = capymig_sw_crc(0, (const __u8 *)&c, 6) % NSERVERS;
		got = syn(c, &out, &v);
		if (v != TC_ACT_OK || got != (int)want) {
			tap_diag("client %s: server %d, want %u", ep_str(c),
				 got, want);
			ok = false;
		}
	}
	tap_result(ok, "hash: each SYN goes to the server its hash picks");

	/* A server draining (its REGISTER said so) is skipped at once. */
	{
		struct tcpmig_endpoint c = client();

		want = capymig_sw_crc(0, (const __u8 *)&c, 6) % NSERVERS;
		set_draining(want, true);
		got = syn(c, &out, &v);
		tap_result(v == TC_ACT_OK && got == (int)(want + 1) % NSERVERS,
			   "hash: a draining server's turn goes to the next");
	}
	pool_reset();
}

static void test_place_lwrr(void)
{
	static const __u8 weighted[] = { 0, 0, 1, 0, 0, 0, 1, 0 };
	struct frame out;
	int n[NSERVERS] = { 0 }, i, v, got;

	skel->bss->cfg.placement = CAPYMIG_SW_PLACE_LWRR;
	set_sched(all_live, NSERVERS, weighted, sizeof(weighted), NS, NS);
	for (i = 0; i < 16; i++) {
		got = syn(client(), &out, &v);
		if (v == TC_ACT_OK && got >= 0)
			n[got]++;
	}
	if (!tap_result(n[0] == 12 && n[1] == 4 && !n[2] && !n[3],
			"lwrr: 16 SYNs go 12 and 4 to servers weighted 6:2"))
		tap_diag("placed %d %d %d %d", n[0], n[1], n[2], n[3]);
	pool_reset();
}

/*
 * A host of the pool as a client of the service, at server 2's address:
 * placed on server 2, its SYN, rewritten to its own address, would come
 * back to it from that address, a martian it drops.  Each policy's turn
 * falls on server 2, which is skipped for server 3's, or server 1's.
 */
static void test_place_own_host(void)
{
	static const __u8 weighted[] = { 2, 1 };
	__u8 long_sched[CAPYMIG_SW_SCHED_SLOTS];
	struct tcpmig_endpoint c = with_port(srv[2], 40000);
	struct frame out;
	int v, got;

	skel->bss->place_last = 1;
	got = syn(c, &out, &v);
	tap_result(v == TC_ACT_OK && got == 3,
		   "rr: a SYN from a pool host's address skips the server "
		   "there (went to %d)", got);

	skel->bss->cfg.placement = CAPYMIG_SW_PLACE_HASH;
	do
		c.port = htons(ntohs(c.port) + 1);
	while (capymig_sw_crc(0, (const __u8 *)&c, 6) % NSERVERS != 2);
	got = syn(c, &out, &v);
	tap_result(v == TC_ACT_OK && got == 3,
		   "hash: ... the next from the one its hash picks (went to "
		   "%d)", got);

	skel->bss->cfg.placement = CAPYMIG_SW_PLACE_LWRR;
	set_sched(all_live, NSERVERS, weighted, sizeof(weighted), NS, NS);
	skel->bss->place_next = 0;
	c.port = htons(ntohs(c.port) + 1);
	got = syn(c, &out, &v);
	tap_result(v == TC_ACT_OK && got == 1,
		   "lwrr: ... the next in the schedule (went to %d)", got);

	/* Weights 200:1, as far apart as the agent allows and more. */
	memset(long_sched, 2, 200);
	long_sched[200] = 3;
	set_sched(all_live, NSERVERS, long_sched, 201, NS, NS);
	skel->bss->place_next = 0;
	c.port = htons(ntohs(c.port) + 1);
	got = syn(c, &out, &v);
	tap_result(v == TC_ACT_OK && got == 3,
		   "lwrr: ... however far in a schedule of 201 slots (went to "
		   "%d)", got);
	pool_reset();
}

static void test_place_fail(void)
{
	struct tcpmig_endpoint c = client(), other;
	struct capymig_sw_slot slot;
	struct frame in, out;
	struct snapshot s;
	int v;

	snap(&s);
	tcp_frame(&in, c, vip, TH_ACK);
	v = run(&in, &out);
	tap_result(v == TC_ACT_SHOT && delta(&s, CAPYMIG_SW_CNT_NO_CONN) == 1,
		   "a segment to the service of no connection is dropped, "
		   "counted");

	set_sched(all_live, 0, NULL, 0, NS, NS);
	syn(client(), &out, &v);
	tap_result(v == TC_ACT_SHOT &&
		   delta(&s, CAPYMIG_SW_CNT_PLACE_NO_SERVER) == 1,
		   "a SYN with no live server is dropped, counted");
	pool_reset();

	slot_write(skel->maps.placements, capymig_sw_slot_index(0, &c),
		   client(), srv[0], now_ns());
	slot_write(skel->maps.placements, capymig_sw_slot_index(1, &c),
		   client(), srv[0], now_ns());
	syn(c, &out, &v);
	tap_result(v == TC_ACT_SHOT &&
		   delta(&s, CAPYMIG_SW_CNT_PLACE_FULL) == 1,
		   "a SYN whose two placement slots are taken is dropped, "
		   "counted");

	/* Both slots held by SYNs unanswered for 2 s: level 0's gives way. */
	slot_write(skel->maps.placements, capymig_sw_slot_index(0, &c),
		   client(), srv[0], now_ns() - 2000000000ULL);
	slot_write(skel->maps.placements, capymig_sw_slot_index(1, &c),
		   client(), srv[0], now_ns() - 2000000000ULL);
	snap(&s);
	syn(c, &out, &v);
	tap_result(v == TC_ACT_OK && place_entry(c, &slot) == 0 &&
		   delta(&s, CAPYMIG_SW_CNT_PLACE_EVICTED) == 1 &&
		   delta(&s, CAPYMIG_SW_CNT_PLACE_ENTRIES) == 0 &&
		   delta(&s, CAPYMIG_SW_CNT_PLACED) == 1,
		   "a SYN takes the slot of one unanswered for 2 s, counted");

	/* Answered, or unanswered but for less than a second: they stay. */
	other = client();
	slot_write_flags(skel->maps.placements,
			 capymig_sw_slot_index(0, &other), client(), srv[0],
			 now_ns() - 2000000000ULL, CAPYMIG_SW_ANSWERED);
	slot_write(skel->maps.placements, capymig_sw_slot_index(1, &other),
		   client(), srv[0], now_ns() - 500000000ULL);
	syn(other, &out, &v);
	tap_result(v == TC_ACT_SHOT && place_entry(other, &slot) < 0 &&
		   delta(&s, CAPYMIG_SW_CNT_PLACE_EVICTED) == 1 &&
		   delta(&s, CAPYMIG_SW_CNT_PLACE_FULL) == 1,
		   "... not that of an answered one, nor of one unanswered "
		   "for 0.5 s");
}

/*
 * A PREPARE-ACK from @target to @origin about @c's connection, for the
 * last migration the messages were about: a duplicate of the last
 * prepare_ack()'s if @c's.
 */
static int prepare_ack_again(struct tcpmig_endpoint c,
			     struct tcpmig_endpoint origin,
			     struct tcpmig_endpoint target, struct frame *out)
{
	struct tcpmig_msg_hdr h = msg(TCPMIG_MSG_PREPARE_ACK, c, origin,
				      target);
	struct frame in;

	tcpmig_frame(&in, target.addr, origin.addr, &h, NULL, 0);
	return run(&in, out);
}

/* The PREPARE-ACK of a new migration of @c's connection. */
static int prepare_ack(struct tcpmig_endpoint c, struct tcpmig_endpoint origin,
		       struct tcpmig_endpoint target, struct frame *out)
{
	migration_id++;
	return prepare_ack_again(c, origin, target, out);
}

/* Where a segment from @c to @to goes: its destination out. */
static struct tcpmig_endpoint send_seg(struct tcpmig_endpoint c,
				       struct tcpmig_endpoint to, int flags,
				       int *verdict, bool *sums)
{
	struct frame in, out;

	tcp_frame(&in, c, to, flags);
	*verdict = run(&in, &out);
	*sums = checksums_ok(&out);
	return frame_dst(&out);
}

/* Where a segment from @from to @c seems to come from. */
static struct tcpmig_endpoint answer(struct tcpmig_endpoint from,
				     struct tcpmig_endpoint c, int flags,
				     int *verdict, bool *sums)
{
	struct frame in, out;

	tcp_frame(&in, from, c, flags);
	*verdict = run(&in, &out);
	*sums = checksums_ok(&out);
	return frame_src(&out);
}

static void test_migration(void)
{
	struct tcpmig_endpoint c = client(), to, from;
	struct capymig_sw_slot slot;
	struct frame in, out;
	struct snapshot s;
	bool sums;
	__u64 t0;
	int v, level;

	snap(&s);
	tcp_frame(&in, c, srv[0], TH_ACK);
	v = run(&in, &out);
	tap_result(v == TC_ACT_OK && !memcmp(in.b, out.b, in.len) &&
		   server_packets(0) - s.pkts[0] == 1,
		   "a segment to a server's own address passes untouched, "
		   "counted");

	v = prepare_ack(c, srv[0], srv[1], &out);
	tap_result(v == TC_ACT_OK && ip_of(&out)->daddr == srv[0].addr &&
		   ep_eq(msg_of(&out)->target, srv[1]) && checksums_ok(&out),
		   "PREPARE-ACK goes on to the origin unchanged");
	level = mig_entry(c, &slot);
	tap_result(level == 0 && ep_eq(slot.rec.service, srv[0]) &&
		   ep_eq(slot.rec.target, srv[1]) && !fin_flags(&slot),
		   "... and installs the entry: client -> target, service is "
		   "the origin");
	tap_result(delta(&s, CAPYMIG_SW_CNT_MIG_INSTALLED) == 1 &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_ENTRIES) == 1,
		   "... counted, one entry in use");

	age_entry(skel->maps.migrations, c);
	t0 = now_ns();
	to = send_seg(c, srv[0], TH_ACK | TH_PSH, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[1]) &&
		   server_packets(1) - s.pkts[1] == 1 &&
		   server_packets(0) - s.pkts[0] == 1,
		   "the client's segments go to the target, counted there");
	tap_result(sums, "... with valid checksums");
	mig_entry(c, &slot);
	tap_result(seen_since(&slot, t0),
		   "... and refresh the entry's time");

	to = answer(srv[1], c, TH_ACK | TH_PSH, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[0]),
		   "the target's answers come from the origin's address");
	tap_result(sums, "... with valid checksums");
	tcp_frame(&in, c, srv[3], TH_ACK);
	v = run(&in, &out);
	tap_result(v == TC_ACT_OK && !memcmp(in.b, out.b, in.len),
		   "the client's segments to another server pass untouched");
	tcp_frame(&in, srv[3], c, TH_ACK);
	v = run(&in, &out);
	tap_result(v == TC_ACT_OK && !memcmp(in.b, out.b, in.len),
		   "... and so do that server's answers");

	v = prepare_ack(c, srv[1], srv[2], &out);
	mig_entry(c, &slot);
	tap_result(v == TC_ACT_OK && ep_eq(slot.rec.target, srv[2]) &&
		   ep_eq(slot.rec.service, srv[0]) &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_UPDATED) == 1,
		   "migrating again updates the entry, service kept");
	to = send_seg(c, srv[0], TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[2]) && sums,
		   "... and the segments follow");

	v = prepare_ack_again(c, srv[1], srv[2], &out);
	tap_result(v == TC_ACT_OK &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_UPDATED) == 1 &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_STALE) == 0,
		   "a retransmitted PREPARE-ACK passes, changing nothing");

	v = prepare_ack(c, srv[0], srv[3], &out);
	mig_entry(c, &slot);
	tap_result(v == TC_ACT_SHOT && ep_eq(slot.rec.target, srv[2]) &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_STALE) == 1,
		   "a PREPARE-ACK from a former owner is dropped, counted");

	v = prepare_ack(c, srv[2], srv[0], &out);
	tap_result(v == TC_ACT_OK && mig_entry(c, &slot) >= 0 &&
		   ep_eq(slot.rec.target, srv[0]) &&
		   ep_eq(slot.rec.service, srv[0]) &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_RETURNED) == 1 &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_ENTRIES) == 1,
		   "back to the original server: the entry points at it again");
	tcp_frame(&in, c, srv[0], TH_ACK);
	v = run(&in, &out);
	tap_result(v == TC_ACT_OK && !memcmp(in.b, out.b, in.len),
		   "... and the segments pass untouched again");

	/* The PREPARE sent again while the first was on its way: answered. */
	v = prepare_ack_again(c, srv[2], srv[0], &out);
	mig_entry(c, &slot);
	tap_result(v == TC_ACT_OK && ep_eq(slot.rec.target, srv[0]) &&
		   ep_eq(slot.rec.service, srv[0]) &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_INSTALLED) == 1 &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_RETURNED) == 1,
		   "a duplicate of that PREPARE-ACK, after it, changes "
		   "nothing");
	from = answer(srv[0], c, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(from, srv[0]),
		   "... the server's answers still come from its own address");
}

/* A connection of a new client, migrated from server 0 to server 1. */
static struct tcpmig_endpoint migrated_client(void)
{
	struct tcpmig_endpoint c = client();
	struct frame out;

	if (prepare_ack(c, srv[0], srv[1], &out) != TC_ACT_OK)
		tap_diag("PREPARE-ACK for %s dropped", ep_str(c));
	return c;
}

/* FINs both ways between @c, at @to, and @server, and the last ACK. */
static void close_both(struct tcpmig_endpoint c, struct tcpmig_endpoint to,
		       struct tcpmig_endpoint server)
{
	bool sums;
	int v;

	send_seg(c, to, TH_FIN | TH_ACK, &v, &sums);
	answer(server, c, TH_FIN | TH_ACK, &v, &sums);
	send_seg(c, to, TH_ACK, &v, &sums);
}

static void test_close(void)
{
	struct tcpmig_endpoint c, to;
	struct capymig_sw_slot slot;
	struct snapshot s;
	struct frame out;
	bool sums;
	int v, n;

	snap(&s);
	c = migrated_client();
	to = send_seg(c, srv[0], TH_RST, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[1]) && sums,
		   "the client's RST goes to the target");
	tap_result(mig_entry(c, &slot) == 0 &&
		   fin_flags(&slot) == CAPYMIG_SW_FIN_MASK &&
		   delta(&s, CAPYMIG_SW_CNT_RESET) == 1,
		   "... and closes the entry, counted; it stays until the "
		   "reaper's closed timeout");
	/* Anyone may send a RST from the client's address. */
	to = send_seg(c, srv[0], TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[1]) && sums,
		   "a segment after a RST the target ignored still goes to "
		   "it");

	c = migrated_client();
	to = answer(srv[1], c, TH_RST | TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[0]) && sums &&
		   mig_entry(c, &slot) == 0 &&
		   fin_flags(&slot) == CAPYMIG_SW_FIN_MASK,
		   "the target's RST comes from the origin, closes the entry");

	c = migrated_client();
	to = send_seg(c, srv[0], TH_FIN | TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[1]) &&
		   mig_entry(c, &slot) == 0 &&
		   fin_flags(&slot) == CAPYMIG_SW_FIN_CLIENT,
		   "the client's FIN goes to the target, noted");
	to = answer(srv[1], c, TH_FIN | TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[0]) &&
		   mig_entry(c, &slot) == 0 &&
		   fin_flags(&slot) == (CAPYMIG_SW_FIN_CLIENT |
				  CAPYMIG_SW_FIN_SERVER),
		   "the target's FIN comes from the origin, noted");
	to = send_seg(c, srv[0], TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[1]) &&
		   mig_entry(c, &slot) == 0 &&
		   delta(&s, CAPYMIG_SW_CNT_CLOSED) == 0,
		   "the client's ACK of it goes to the target; the entry "
		   "stays");
	/*
	 * The FINs crossed: the target acknowledges the client's after the
	 * client acknowledged its own.  Unrewritten, from the target's own
	 * address, it would meet no socket at the client: a reset.
	 */
	to = answer(srv[1], c, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[0]) && sums,
		   "the target's ACK after it still comes from the origin");
	to = answer(srv[1], c, TH_FIN | TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[0]) && sums,
		   "... as does its FIN sent again (a last ACK lost)");
	to = send_seg(c, srv[0], TH_SYN, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[0]) &&
		   mig_entry(c, &slot) < 0 &&
		   delta(&s, CAPYMIG_SW_CNT_CLOSED) == 1 &&
		   /* Three installed; the two closed by a RST stay. */
		   delta(&s, CAPYMIG_SW_CNT_MIG_ENTRIES) == 2,
		   "a SYN from the client's endpoint (a new connection) "
		   "takes the closed entry, counted, and is not redirected");

	/* To the service: placed afresh, by the policy, not by the past. */
	c = client();
	n = syn(c, &out, &v);
	if (n >= 0)
		close_both(c, vip, srv[n]);
	snap(&s);
	n = syn(c, &out, &v);
	tap_result(v == TC_ACT_OK && n >= 0 && place_entry(c, &slot) >= 0 &&
		   !fin_flags(&slot) &&
		   delta(&s, CAPYMIG_SW_CNT_PLACED) == 1 &&
		   delta(&s, CAPYMIG_SW_CNT_CLOSED) == 1 &&
		   delta(&s, CAPYMIG_SW_CNT_PLACE_ENTRIES) == 0,
		   "a SYN to the service after a close is placed afresh");
}

/* A new client's connection to the service; the server it is on, or 0. */
static int connected(struct tcpmig_endpoint c)
{
	struct frame out;
	bool sums;
	int v, x;

	x = syn(c, &out, &v);
	if (x < 0) {
		tap_diag("%s was not placed", ep_str(c));
		return 0;
	}
	answer(srv[x], c, TH_SYN | TH_ACK, &v, &sums);
	send_seg(c, vip, TH_ACK, &v, &sums);
	return x;
}

/*
 * A client's endpoint that connected to the service connects to a server's
 * own address: the server's answers to it must come from that address.
 * At the server the connection placed there and the new one are one
 * 4-tuple.
 */
static void test_placed_then_direct(void)
{
	struct tcpmig_endpoint c = client(), to, from;
	struct capymig_sw_slot slot, before;
	struct snapshot s;
	struct frame out;
	int v, x, y;
	bool sums;

	x = connected(c);
	close_both(c, vip, srv[x]);
	snap(&s);
	to = send_seg(c, srv[x], TH_SYN, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[x]) &&
		   place_entry(c, &slot) < 0 &&
		   delta(&s, CAPYMIG_SW_CNT_CLOSED) == 1 &&
		   delta(&s, CAPYMIG_SW_CNT_PLACE_ENTRIES) == -1,
		   "direct: a SYN from a closed placement's endpoint to its "
		   "server's own address takes the placement, counted");
	from = answer(srv[x], c, TH_SYN | TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(from, srv[x]),
		   "direct: ... and the server's SYN-ACK comes from its own "
		   "address");

	c = client();
	x = connected(c);
	y = (x + 1) % NSERVERS;
	prepare_ack(c, srv[x], srv[y], &out);
	close_both(c, vip, srv[y]);
	send_seg(c, srv[x], TH_SYN, &v, &sums);
	from = answer(srv[x], c, TH_SYN | TH_ACK, &v, &sums);
	tap_result(mig_entry(c, &slot) < 0 && place_entry(c, &slot) < 0 &&
		   v == TC_ACT_OK && ep_eq(from, srv[x]),
		   "direct: moved elsewhere and closed, a SYN to the server it "
		   "was placed on takes both entries; that server's SYN-ACK "
		   "comes from its own address");

	/* Not closed: the placed connection may live on the server. */
	c = client();
	x = connected(c);
	age_entry(skel->maps.placements, c);
	place_entry(c, &before);
	send_seg(c, srv[x], TH_SYN, &v, &sums);
	place_entry(c, &slot);
	from = answer(srv[x], c, TH_ACK, &v, &sums);
	tap_result(ep_eq(slot.rec.client, c) &&
		   slot.rec.state == before.rec.state && ep_eq(from, vip),
		   "direct: a placement not closed is neither taken nor "
		   "refreshed by such a SYN; the server's ACK to it, the "
		   "placed connection's, still comes from the service");
	/* Were it gone, the client resets the SYN-ACK, which closes it. */
	answer(srv[x], c, TH_SYN | TH_ACK, &v, &sums);
	send_seg(c, vip, TH_RST, &v, &sums);
	from = answer(srv[x], c, TH_SYN | TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(from, srv[x]),
		   "direct: a SYN-ACK through a closed placement answers a new "
		   "connection: it comes from the server's own address");
	send_seg(c, srv[x], TH_SYN, &v, &sums);
	tap_result(place_entry(c, &slot) < 0,
		   "direct: ... and the client's SYN sent again takes the "
		   "placement");
}

static void test_collisions(void)
{
	struct tcpmig_endpoint c = client(), other = client(), to;
	struct capymig_sw_slot slot;
	struct frame out;
	struct snapshot s;
	bool sums;
	int v;

	snap(&s);
	slot_write(skel->maps.migrations, capymig_sw_slot_index(0, &c), other,
		   srv[3], now_ns());
	v = prepare_ack(c, srv[0], srv[1], &out);
	tap_result(v == TC_ACT_OK && mig_entry(c, &slot) == 1 &&
		   ep_eq(slot.rec.target, srv[1]),
		   "level 0 taken by another client: installed in level 1");
	to = send_seg(c, srv[0], TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[1]) && sums,
		   "... and used from there");
	slot_read(skel->maps.migrations, capymig_sw_slot_index(0, &c), &slot);
	tap_result(ep_eq(slot.rec.client, other) &&
		   ep_eq(slot.rec.target, srv[3]),
		   "... the other client's entry untouched");

	c = client();
	slot_write(skel->maps.migrations, capymig_sw_slot_index(0, &c),
		   client(), srv[3], now_ns());
	slot_write(skel->maps.migrations, capymig_sw_slot_index(1, &c),
		   client(), srv[3], now_ns());
	v = prepare_ack(c, srv[0], srv[1], &out);
	tap_result(v == TC_ACT_SHOT &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_FULL) == 1 &&
		   mig_entry(c, &slot) < 0,
		   "both levels taken: the PREPARE-ACK is dropped, counted");
	to = send_seg(c, srv[0], TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[0]),
		   "... and the connection stays on its origin");
}

static int abort_msg(struct tcpmig_endpoint c, int origin, int target,
		     struct frame *out);

static void test_service_migration(void)
{
	struct tcpmig_endpoint c = client(), to;
	struct capymig_sw_slot slot, placed;
	struct frame out;
	bool sums;
	int v, x, y;
	__u64 t0;

	x = syn(c, &out, &v);
	y = (x + 1) % NSERVERS;
	tap_result(v == TC_ACT_OK && x >= 0, "service: a connection is placed");
	if (x < 0)
		x = y = 0;
	v = prepare_ack(c, srv[x], srv[y], &out);
	tap_result(v == TC_ACT_OK && mig_entry(c, &slot) >= 0 &&
		   ep_eq(slot.rec.service, vip) &&
		   ep_eq(slot.rec.target, srv[y]),
		   "service: migrating it installs an entry for the service");
	age_entry(skel->maps.placements, c);
	t0 = now_ns();
	to = send_seg(c, vip, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[y]) && sums,
		   "service: its segments go to the target");
	place_entry(c, &placed);
	tap_result(seen_since(&placed, t0) &&
		   ep_eq(placed.rec.target, srv[x]),
		   "service: ... and keep its placement fresh");
	to = answer(srv[y], c, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, vip) && sums,
		   "service: the target's answers come from the service");
	to = answer(srv[x], c, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, vip) && sums,
		   "service: so do the origin's late ones");
	v = prepare_ack(c, srv[y], srv[x], &out);
	tap_result(v == TC_ACT_OK && mig_entry(c, &slot) < 0 &&
		   place_entry(c, &placed) >= 0,
		   "service: back to where it was placed, the entry goes");
	to = send_seg(c, vip, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[x]) && sums,
		   "service: ... and its placement serves it again");

	/*
	 * Moved away and back again, where the origin then withdraws the
	 * return (it read past the boundary): the placement points away
	 * from it, so the ABORT needs an entry pointing at it.
	 */
	prepare_ack(c, srv[x], srv[y], &out);
	prepare_ack(c, srv[y], srv[x], &out);
	v = abort_msg(c, y, x, &out);
	tap_result(v == TC_ACT_OK && ip_of(&out)->daddr == srv[x].addr &&
		   mig_entry(c, &slot) >= 0 &&
		   ep_eq(slot.rec.target, srv[y]) &&
		   ep_eq(slot.rec.service, vip),
		   "service: a return withdrawn points back at its origin");
	to = send_seg(c, vip, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[y]) && sums,
		   "service: ... and its segments go there");
}

/* The CONN-STATE-ACK of migration @id of @c's connection. */
static int conn_state_ack(struct tcpmig_endpoint c, int origin, int target,
			  __u32 id, struct frame *out)
{
	struct tcpmig_msg_hdr h = msg(TCPMIG_MSG_CONN_STATE_ACK, c,
				      srv[origin], srv[target]);
	struct tcpmig_msg_conn_state_ack ack = { .total_len = htonl(1200) };
	struct frame in;

	h.migration_id = htonl(id);
	tcpmig_frame(&in, srv[target].addr, srv[origin].addr, &h, &ack,
		     sizeof(ack));
	return run(&in, out);
}

/*
 * Which servers' segments the client's connection takes as its own: the
 * one serving it, and the one it last moved from, whose segments sent
 * before its export may come after the CONN-STATE-ACK, until a later
 * migration or the client's SYN to that server's own endpoint.  Any
 * other server's are another connection's, from the same client
 * endpoint to that server's own address, and pass untouched.
 */
static void test_former(void)
{
	struct tcpmig_endpoint c = client(), from, to;
	struct capymig_sw_slot slot;
	struct frame out;
	int v, x, y, z;
	bool sums;

	x = syn(c, &out, &v);
	if (x < 0)
		x = 0;
	y = (x + 1) % NSERVERS;
	z = (x + 2) % NSERVERS;
	answer(srv[x], c, TH_SYN | TH_ACK, &v, &sums);
	from = answer(srv[z], c, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(from, srv[z]),
		   "former: placed, another server's segment to the client "
		   "passes untouched");

	prepare_ack(c, srv[x], srv[y], &out);
	tap_result(mig_entry(c, &slot) >= 0 && ep_eq(slot.rec.former, srv[x]),
		   "former: a PREPARE-ACK names the origin as the former");
	from = answer(srv[x], c, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(from, vip) && sums,
		   "former: ... whose late segments come from the service");
	from = answer(srv[z], c, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(from, srv[z]),
		   "former: ... another server's still pass untouched");

	conn_state_ack(c, x, z, migration_id, &out);
	tap_result(mig_entry(c, &slot) >= 0 &&
		   !(slot.rec.state & CAPYMIG_SW_SETTLED),
		   "former: a CONN-STATE-ACK from another target settles "
		   "nothing");
	v = conn_state_ack(c, x, y, migration_id, &out);
	tap_result(v == TC_ACT_OK && ip_of(&out)->daddr == srv[x].addr &&
		   mig_entry(c, &slot) >= 0 && ep_eq(slot.rec.former, srv[x]) &&
		   (slot.rec.state & CAPYMIG_SW_SETTLED),
		   "former: its own CONN-STATE-ACK passes and settles it");
	from = answer(srv[x], c, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(from, vip) && sums,
		   "former: ... whose segments sent before the export, late "
		   "still, come from the service");
	abort_msg(c, x, -1, &out);
	to = send_seg(c, vip, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[y]),
		   "former: ... and an ABORT from it withdraws nothing");

	send_seg(c, srv[x], TH_SYN, &v, &sums);
	tap_result(mig_entry(c, &slot) >= 0 && !slot.rec.former.addr &&
		   !(slot.rec.state & CAPYMIG_SW_SETTLED),
		   "former: the client's SYN to its own endpoint forgets it");
	from = answer(srv[x], c, TH_SYN | TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(from, srv[x]),
		   "former: ... whose answers are the new connection's, "
		   "untouched");
	from = answer(srv[y], c, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(from, vip) && sums,
		   "former: ... and the target's still come from the service");

	prepare_ack(c, srv[y], srv[x], &out);
	tap_result(mig_entry(c, &slot) < 0 && place_entry(c, &slot) >= 0 &&
		   ep_eq(slot.rec.former, srv[y]) &&
		   !(slot.rec.state & CAPYMIG_SW_SETTLED),
		   "former: back where it was placed, the placement names "
		   "the former, not settled");
	conn_state_ack(c, y, x, migration_id, &out);
	tap_result(place_entry(c, &slot) >= 0 &&
		   ep_eq(slot.rec.former, srv[y]) &&
		   (slot.rec.state & CAPYMIG_SW_SETTLED),
		   "former: ... its CONN-STATE-ACK settles it");
	from = answer(srv[y], c, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(from, vip) && sums,
		   "former: ... whose late segments still come from the "
		   "service");
	send_seg(c, srv[z], TH_SYN, &v, &sums);
	tap_result(place_entry(c, &slot) >= 0 &&
		   ep_eq(slot.rec.former, srv[y]),
		   "former: ... a SYN to another server keeps it");
	from = answer(srv[x], c, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(from, vip) && sums,
		   "former: ... and the server's own come from the service");

	prepare_ack(c, srv[x], srv[y], &out);
	tap_result(mig_entry(c, &slot) >= 0 && ep_eq(slot.rec.former, srv[x]) &&
		   !(slot.rec.state & CAPYMIG_SW_SETTLED),
		   "former: the next migration names its own former, not "
		   "settled");
	send_seg(c, srv[x], TH_SYN, &v, &sums);
	tap_result(mig_entry(c, &slot) >= 0 && ep_eq(slot.rec.former, srv[x]),
		   "former: ... which a SYN to it does not forget");
	from = answer(srv[z], c, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(from, srv[z]),
		   "former: ... and other servers' segments pass untouched");
	abort_msg(c, x, y, &out);
	to = send_seg(c, vip, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(to, srv[x]),
		   "former: ... whose ABORT withdraws the migration");
}

/*
 * The client's connection to server 0's own endpoint moved to server 1;
 * the client opens another from the same endpoint to the service.  Placed
 * on server 1, it would be the moved one's 4-tuple there; on server 0,
 * while the migration is not settled, its segments would be taken for the
 * moved one's late ones.  Settled, the new connection takes server 0's
 * segments: they come from the service, not from server 0.
 */
static void test_former_placed(void)
{
	static const __u8 only01[] = { 0, 1 };
	struct tcpmig_endpoint c = client(), from;
	struct capymig_sw_slot slot;
	struct frame out;
	int v, got, i;
	bool sums, none = true;

	send_seg(c, srv[0], TH_SYN, &v, &sums);
	answer(srv[0], c, TH_SYN | TH_ACK, &v, &sums);
	prepare_ack(c, srv[0], srv[1], &out);
	set_sched(only01, 2, NULL, 0, NS, NS);
	/* Twice: round-robin's turn falls on each of the two. */
	for (i = 0; i < 2; i++) {
		got = syn(c, &out, &v);
		none &= v == TC_ACT_SHOT && got < 0;
	}
	tap_result(none,
		   "former placed: a new connection of the endpoint is placed "
		   "on neither the moved one's target nor, not settled, its "
		   "origin");

	conn_state_ack(c, 0, 1, migration_id, &out);
	got = syn(c, &out, &v);
	tap_result(v == TC_ACT_OK && got == 0 && mig_entry(c, &slot) >= 0 &&
		   !slot.rec.former.addr && ep_eq(slot.rec.target, srv[1]),
		   "former placed: settled, it is placed on the origin, which "
		   "the moved one's entry forgets");
	from = answer(srv[0], c, TH_SYN | TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(from, vip) && sums,
		   "former placed: ... whose answers come from the service");
	from = answer(srv[1], c, TH_ACK, &v, &sums);
	tap_result(v == TC_ACT_OK && ep_eq(from, srv[0]) && sums,
		   "former placed: ... and the moved one's from the endpoint "
		   "it reached");
	pool_reset();
}

/* A PREPARE to the switch from server @origin naming @target (or none). */
static int prepare(struct tcpmig_endpoint c, int origin,
		   struct tcpmig_endpoint target, struct frame *out)
{
	struct tcpmig_msg_hdr h = msg(TCPMIG_MSG_PREPARE, c, srv[origin],
				      target);
	struct frame in;

	tcpmig_frame(&in, srv[origin].addr, switch_addr, &h, NULL, 0);
	return run(&in, out);
}

/*
 * The server a PREPARE naming no target, from @origin about @c's
 * connection, was sent to, -1 if none; @consistent stays true only if it
 * went to that server's address and TCPMig port, checksums valid.
 */
static int prepared(struct tcpmig_endpoint c, int origin, bool *consistent)
{
	struct tcpmig_endpoint none = { 0 };
	struct frame out;
	int v, i;

	v = prepare(c, origin, none, &out);
	for (i = 0; v == TC_ACT_OK && i < NSERVERS; i++) {
		if (!ep_eq(msg_of(&out)->target, srv[i]))
			continue;
		*consistent &= ip_of(&out)->daddr == srv[i].addr &&
			       frame_dst(&out).port == htons(TCPMIG_PORT) &&
			       checksums_ok(&out);
		return i;
	}
	return -1;
}

/* Targets of @n PREPAREs from @origin as a bitmask, -1 if one had none. */
static int targets(int origin, int n, bool *consistent)
{
	int mask = 0, t;

	while (n--) {
		t = prepared(client(), origin, consistent);
		if (t < 0)
			return -1;
		mask |= 1 << t;
	}
	return mask;
}

/*
 * Whether @out is the switch's REJECT (no target) of the PREPARE
 * prepare(@c, @origin, @target) sent, and nothing else.
 */
static bool refused(struct frame *out, struct tcpmig_endpoint c, int origin,
		    struct tcpmig_endpoint target)
{
	struct tcpmig_msg_reject *rej = (void *)(msg_of(out) + 1);
	struct tcpmig_msg_hdr want = msg(TCPMIG_MSG_REJECT, c, srv[origin],
					 target);
	size_t len = sizeof(struct udphdr) + tcpmig_msg_len(TCPMIG_MSG_REJECT);

	return out->len == ETH_HLEN + sizeof(struct iphdr) + len &&
	       ntohs(ip_of(out)->tot_len) == sizeof(struct iphdr) + len &&
	       ntohs(((struct udphdr *)l4_of(out))->len) == len &&
	       ip_of(out)->saddr == switch_addr &&
	       ip_of(out)->daddr == srv[origin].addr &&
	       !memcmp(msg_of(out), &want, sizeof(want)) &&
	       ntohl(rej->reason) == TCPMIG_REJECT_NO_TARGET &&
	       checksums_ok(out);
}

static void test_targets(void)
{
	struct tcpmig_endpoint none = { 0 }, c;
	bool consistent = true, turn = true;
	int got[6], i, v;
	struct snapshot s;
	struct frame out;

	snap(&s);
	for (i = 0; i < 6; i++) {
		got[i] = prepared(client(), 0, &consistent);
		turn &= got[i] > 0 && (i < 3 || got[i] == got[i - 3]);
	}
	turn &= got[0] != got[1] && got[1] != got[2] && got[0] != got[2];
	tap_result(turn, "rr: PREPAREs go to the other servers in turn");
	tap_result(consistent, "rr: the target is written into the PREPARE, "
		   "which is sent to it, checksums valid");
	tap_result(delta(&s, CAPYMIG_SW_CNT_PREPARES) == 6,
		   "rr: 6 PREPAREs counted");

	set_draining(2, true);
	tap_result(targets(0, 4, &consistent) == (1 << 1 | 1 << 3),
		   "rr: a server draining by its REGISTER is skipped");
	set_draining(2, false);
	set_state(3, CAPYMIG_SW_SERVER_DRAINING);
	tap_result(targets(0, 4, &consistent) == (1 << 1 | 1 << 2),
		   "rr: a server the agent marked draining is skipped");
	pool_reset();

	skel->bss->cfg.target = CAPYMIG_SW_TARGET_LEAST_LOADED;
	set_sched(all_live, NSERVERS, NULL, 0, 0, 3);
	tap_result(targets(1, 3, &consistent) == 1 << 0,
		   "least loaded: PREPAREs go to the least loaded server");
	tap_result(targets(0, 3, &consistent) == 1 << 3,
		   "least loaded: ... the next least loaded from it");
	set_draining(3, true);
	tap_result(targets(0, 2, &consistent) == (1 << 1 | 1 << 2),
		   "least loaded: neither eligible: round-robin");
	pool_reset();

	v = prepare(client(), 0, srv[2], &out);
	tap_result(v == TC_ACT_OK && ip_of(&out)->daddr == srv[2].addr &&
		   ep_eq(msg_of(&out)->target, srv[2]) && checksums_ok(&out),
		   "a PREPARE naming its target is sent to it");

	set_sched(all_live, 1, NULL, 0, NS, NS);
	c = client();
	v = prepare(c, 0, none, &out);
	tap_result(v == TC_ACT_OK && refused(&out, c, 0, none) &&
		   delta(&s, CAPYMIG_SW_CNT_NO_TARGET) == 1,
		   "no eligible target: the PREPARE goes back to its origin "
		   "as a REJECT (no target), from the switch, checksums "
		   "valid; counted");
	pool_reset();

	c = client();
	v = prepare(c, 0, ep("10.10.9.9", 8080), &out);
	tap_result(v == TC_ACT_OK &&
		   refused(&out, c, 0, ep("10.10.9.9", 8080)) &&
		   delta(&s, CAPYMIG_SW_CNT_NO_TARGET) == 2,
		   "a PREPARE naming a server out of the pool: the same");
}

/*
 * Server 1 a second server of server 0's host: a migration from 0 never
 * goes to it, by either policy or by name; what the switch sent the host
 * from its own address would be dropped there as a martian.
 */
static void test_targets_on_another_host(void)
{
	struct tcpmig_endpoint beside = with_port(srv[0], 8090), c;
	struct capymig_sw_server s = {
		.ep = beside,
		.state = CAPYMIG_SW_SERVER_LIVE,
	};
	bool consistent = true;
	__u32 id = 1;
	struct frame out;
	int v;

	if (bpf_map__update_elem(skel->maps.servers, &id, sizeof(id), &s,
				 sizeof(s), 0) ||
	    bpf_map__update_elem(skel->maps.server_ids, &beside,
				 sizeof(beside), &id, sizeof(id), 0))
		tap_diag("a second server on a host: %s", strerror(errno));
	tap_result(targets(0, 4, &consistent) == (1 << 2 | 1 << 3) &&
		   consistent,
		   "rr: a server on the origin's host is skipped");
	skel->bss->cfg.target = CAPYMIG_SW_TARGET_LEAST_LOADED;
	set_sched(all_live, NSERVERS, NULL, 0, 1, 3);
	tap_result(targets(0, 2, &consistent) == 1 << 3 && consistent,
		   "least loaded: the least loaded, on the origin's host, "
		   "is skipped");
	c = client();
	v = prepare(c, 0, beside, &out);
	tap_result(v == TC_ACT_OK && refused(&out, c, 0, beside),
		   "a PREPARE naming a server on its origin's host: REJECT "
		   "(no target)");
	bpf_map__delete_elem(skel->maps.server_ids, &beside, sizeof(beside), 0);
	pool_reset();
}

/*
 * The client at server 2's address, a pool host that is a client of the
 * service: its connection never moves to server 2, by either policy or by
 * name.  Rewritten to come from its own address, the client's segments
 * would be dropped there as martians.
 */
static void test_targets_not_on_client_host(void)
{
	struct tcpmig_endpoint c = with_port(srv[2], 40100);
	bool consistent = true;
	struct frame out;
	int mask = 0, v, i, t;

	/* Refused, a PREPARE names no target: none of the servers. */
	for (i = 0; i < 6; i++) {
		migration_id++;
		t = prepared(c, 0, &consistent);
		consistent &= t >= 0;
		if (t >= 0)
			mask |= 1 << t;
	}
	tap_result(consistent && mask == (1 << 1 | 1 << 3),
		   "rr: a client on server 2's host never moves to server 2 "
		   "(targets 0x%x)", mask);
	skel->bss->cfg.target = CAPYMIG_SW_TARGET_LEAST_LOADED;
	set_sched(all_live, NSERVERS, NULL, 0, 2, 3);
	migration_id++;
	tap_result(prepared(c, 0, &consistent) == 3 && consistent,
		   "least loaded: ... the least loaded skipped for the next");
	v = prepare(c, 0, srv[2], &out);
	tap_result(v == TC_ACT_OK && refused(&out, c, 0, srv[2]),
		   "a PREPARE naming a server on the client's host: REJECT "
		   "(no target)");
	pool_reset();
}

/* An ABORT from server @origin naming server @target, -1 for none. */
static int abort_msg(struct tcpmig_endpoint c, int origin, int target,
		     struct frame *out)
{
	struct tcpmig_endpoint none = { 0 };
	struct tcpmig_msg_hdr h = msg(TCPMIG_MSG_ABORT, c, srv[origin],
				      target < 0 ? none : srv[target]);
	struct frame in;

	tcpmig_frame(&in, srv[origin].addr, switch_addr, &h, NULL, 0);
	return run(&in, out);
}

/*
 * The origin sends its PREPARE again, naming no target, until it hears:
 * each copy goes where the first went, while that server may take it,
 * by either policy; the next migration of the connection is picked
 * anew.
 */
static void test_target_chosen(void)
{
	struct tcpmig_endpoint c = client();
	int first, again = 0, next, moved, i, v;
	bool consistent = true;
	struct capymig_sw_slot slot;
	struct snapshot s;
	struct frame out;

	first = prepared(c, 0, &consistent);
	for (i = 0; i < 3; i++)
		again += prepared(c, 0, &consistent) == first;
	tap_result(first > 0 && again == 3 && consistent,
		   "rr: copies of a PREPARE go to the target of the first "
		   "(server %d, %d of 3)", first, again);
	migration_id++;
	next = prepared(c, 0, &consistent);
	tap_result(next > 0 && next != first && consistent,
		   "rr: the connection's next migration takes its turn "
		   "(server %d)", next);

	set_draining(next, true);
	set_state(next, CAPYMIG_SW_SERVER_DRAINING);
	again = prepared(c, 0, &consistent);
	tap_result(again == next && consistent,
		   "rr: the first target draining, which answers again a "
		   "PREPARE it took, still gets the copies (server %d)", again);
	set_state(next, CAPYMIG_SW_SERVER_DEAD);
	moved = prepared(c, 0, &consistent);
	set_state(next, CAPYMIG_SW_SERVER_LIVE);
	set_draining(next, false);
	again = prepared(c, 0, &consistent);
	tap_result(moved > 0 && moved != next && again == moved && consistent,
		   "rr: the first target dead, a copy goes to another "
		   "(server %d), and the copies after it too (server %d)",
		   moved, again);

	skel->bss->cfg.target = CAPYMIG_SW_TARGET_LEAST_LOADED;
	set_sched(all_live, NSERVERS, NULL, 0, 1, 2);
	migration_id++;
	first = prepared(c, 0, &consistent);
	set_sched(all_live, NSERVERS, NULL, 0, 3, 2);
	again = prepared(c, 0, &consistent);
	tap_result(first == 1 && again == 1 && consistent,
		   "least loaded: a copy goes to the first's target, no "
		   "longer the least loaded (servers %d, %d)", first, again);
	pool_reset();

	/* Its PREPARE-ACK lost before the switch: nothing to withdraw. */
	migration_id++;
	first = prepared(c, 0, &consistent);
	snap(&s);
	v = abort_msg(c, 0, -1, &out);
	tap_result(first > 0 && consistent && v == TC_ACT_OK &&
		   ip_of(&out)->daddr == srv[first].addr &&
		   ep_eq(msg_of(&out)->target, srv[first]) &&
		   checksums_ok(&out) && mig_entry(c, &slot) < 0 &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_ABORTED) == 0,
		   "an ABORT naming no target, no redirect to withdraw, goes "
		   "to the target chosen for its PREPARE, named; nothing "
		   "installed");
	migration_id++;
	v = abort_msg(c, 0, -1, &out);
	tap_result(v == TC_ACT_SHOT && mig_entry(c, &slot) < 0,
		   "... an ABORT of a migration no target was chosen for "
		   "goes nowhere");
}

/*
 * Only the server a PREPARE went to, named or chosen, may answer it: a
 * pool member's PREPARE-ACK naming itself for another's migration would
 * redirect the client to it, and the real target's answer would then be
 * stale.  Dropped as spoofed, nothing installed; the real one installs.
 */
static void test_answer_of_another(void)
{
	struct tcpmig_endpoint c = client();
	bool consistent = true;
	struct capymig_sw_slot slot;
	struct snapshot s;
	struct frame out;
	int v, first, other;

	migration_id++;
	snap(&s);
	v = prepare(c, 0, srv[1], &out) == TC_ACT_OK ?
	    prepare_ack_again(c, srv[0], srv[2], &out) : -1;
	tap_result(v == TC_ACT_SHOT && delta(&s, CAPYMIG_SW_CNT_SPOOFED) == 1 &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_INSTALLED) == 0 &&
		   mig_entry(c, &slot) < 0,
		   "a PREPARE-ACK from another server than the one named: "
		   "dropped as spoofed, nothing installed");
	v = prepare_ack_again(c, srv[0], srv[1], &out);
	tap_result(v == TC_ACT_OK &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_INSTALLED) == 1 &&
		   mig_entry(c, &slot) >= 0 && ep_eq(slot.rec.target, srv[1]),
		   "... the named one's: installed");

	c = client();
	migration_id++;
	first = prepared(c, 0, &consistent);
	other = first == 1 ? 2 : 1;
	snap(&s);
	v = prepare_ack_again(c, srv[0], srv[other], &out);
	tap_result(first > 0 && consistent && v == TC_ACT_SHOT &&
		   delta(&s, CAPYMIG_SW_CNT_SPOOFED) == 1 &&
		   mig_entry(c, &slot) < 0,
		   "a PREPARE-ACK from another server than the one chosen "
		   "(server %d, not %d): dropped as spoofed", other, first);
	v = prepare_ack_again(c, srv[0], srv[first], &out);
	tap_result(v == TC_ACT_OK &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_INSTALLED) == 1 &&
		   mig_entry(c, &slot) >= 0 &&
		   ep_eq(slot.rec.target, srv[first]),
		   "... the chosen one's: installed");
}

static void test_abort(void)
{
	struct tcpmig_endpoint c = migrated_client();
	struct capymig_sw_slot slot;
	struct snapshot s;
	struct frame out;
	int v, x;

	snap(&s);
	v = abort_msg(c, 0, 1, &out);
	tap_result(v == TC_ACT_OK && ip_of(&out)->daddr == srv[1].addr &&
		   checksums_ok(&out),
		   "ABORT to the switch goes to the target");
	tap_result(mig_entry(c, &slot) >= 0 &&
		   ep_eq(slot.rec.target, srv[0]) &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_ABORTED) == 1 &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_ENTRIES) == 0,
		   "... and points the entry back at the origin, counted");

	c = migrated_client();
	prepare_ack(c, srv[1], srv[2], &out);
	v = abort_msg(c, 1, 3, &out);
	tap_result(v == TC_ACT_OK && mig_entry(c, &slot) >= 0 &&
		   ep_eq(slot.rec.target, srv[2]),
		   "an ABORT of another migration changes nothing");
	abort_msg(c, 1, 2, &out);
	tap_result(mig_entry(c, &slot) >= 0 &&
		   ep_eq(slot.rec.target, srv[1]) &&
		   ep_eq(slot.rec.service, srv[0]),
		   "aborting a second migration points back at its origin");
	tap_result(delta(&s, CAPYMIG_SW_CNT_MIG_ABORTED) == 2,
		   "... counted");

	/* Its PREPARE-ACK lost after the switch, the origin knows no target. */
	c = migrated_client();
	v = abort_msg(c, 0, -1, &out);
	tap_result(v == TC_ACT_OK && ip_of(&out)->daddr == srv[1].addr &&
		   ep_eq(msg_of(&out)->target, srv[1]) && checksums_ok(&out),
		   "ABORT naming no target goes to the redirect's, named");
	tap_result(mig_entry(c, &slot) >= 0 &&
		   ep_eq(slot.rec.target, srv[0]) &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_ABORTED) == 3,
		   "... and withdraws the redirect");

	/*
	 * The client's endpoint also has a connection to server 3's own
	 * address, whose migration failed: its PREPARE-ACK was stale to the
	 * switch, and its ABORT names no target.
	 */
	c = client();
	set_draining(3, true);
	x = syn(c, &out, &v);
	set_draining(3, false);
	v = abort_msg(c, 3, -1, &out);
	tap_result(x >= 0 && x != 3 && v == TC_ACT_SHOT &&
		   mig_entry(c, &slot) < 0 &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_ABORTED) == 3,
		   "an ABORT of another connection of a placed client's "
		   "endpoint installs nothing");
	c = migrated_client();
	v = abort_msg(c, 3, -1, &out);
	tap_result(v == TC_ACT_SHOT && mig_entry(c, &slot) >= 0 &&
		   ep_eq(slot.rec.target, srv[1]) &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_ABORTED) == 3,
		   "... nor takes a migrated one's redirect");

	/*
	 * A copy of an ABORT, delayed past the next migration's PREPARE-ACK:
	 * the origin, its first ABORT acknowledged, migrated again.
	 */
	c = migrated_client();
	abort_msg(c, 0, 1, &out);
	prepare_ack(c, srv[0], srv[1], &out);
	migration_id--;
	abort_msg(c, 0, 1, &out);
	migration_id++;
	tap_result(mig_entry(c, &slot) >= 0 &&
		   ep_eq(slot.rec.target, srv[1]) &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_ABORTED) == 4 &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_STALE) == 1,
		   "a copy of an earlier migration's ABORT, delayed past the "
		   "next one's PREPARE-ACK, withdraws nothing, counted stale");
	abort_msg(c, 0, 1, &out);
	tap_result(mig_entry(c, &slot) >= 0 &&
		   ep_eq(slot.rec.target, srv[0]) &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_ABORTED) == 5,
		   "... the later one's withdraws it");
}

/*
 * A duplicate of PREPARE-ACK @id about @c's connection, delayed past later
 * migrations, from @target to @origin.
 */
static int late_duplicate(struct tcpmig_endpoint c, __u32 id,
			  struct tcpmig_endpoint origin,
			  struct tcpmig_endpoint target, struct frame *out)
{
	__u32 current = migration_id;
	int v;

	migration_id = id;
	v = prepare_ack_again(c, origin, target, out);
	migration_id = current;
	return v;
}

static void test_late_duplicates(void)
{
	struct tcpmig_endpoint c = migrated_client(), to;
	struct capymig_sw_slot slot;
	__u32 first = migration_id;
	struct snapshot s;
	struct frame out;
	int v, seg, x, y;
	bool sums;

	prepare_ack(c, srv[1], srv[0], &out);
	snap(&s);
	v = late_duplicate(c, first, srv[0], srv[1], &out);
	to = send_seg(c, srv[0], TH_ACK, &seg, &sums);
	tap_result(v == TC_ACT_SHOT &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_STALE) == 1 &&
		   mig_entry(c, &slot) >= 0 && ep_eq(slot.rec.target, srv[0]) &&
		   seg == TC_ACT_OK && ep_eq(to, srv[0]),
		   "a PREPARE-ACK duplicated past the connection's return is "
		   "dropped as stale; the client's segments stay on the "
		   "server");
	v = prepare_ack(c, srv[0], srv[1], &out);
	tap_result(v == TC_ACT_OK && mig_entry(c, &slot) >= 0 &&
		   ep_eq(slot.rec.target, srv[1]),
		   "... and a new migration to the same server is installed");

	c = client();
	x = syn(c, &out, &v);
	y = (x + 1) % NSERVERS;
	if (x < 0)
		x = y = 0;
	prepare_ack(c, srv[x], srv[y], &out);
	first = migration_id;
	prepare_ack(c, srv[y], srv[x], &out);
	v = late_duplicate(c, first, srv[x], srv[y], &out);
	to = send_seg(c, vip, TH_ACK, &seg, &sums);
	tap_result(v == TC_ACT_SHOT && mig_entry(c, &slot) < 0 &&
		   seg == TC_ACT_OK && ep_eq(to, srv[x]),
		   "service: so is one past the return to where it was placed");

	c = migrated_client();
	first = migration_id;
	prepare_ack(c, srv[1], srv[2], &out);
	prepare_ack(c, srv[2], srv[0], &out);
	v = late_duplicate(c, first, srv[0], srv[1], &out);
	tap_result(v == TC_ACT_SHOT && mig_entry(c, &slot) >= 0 &&
		   ep_eq(slot.rec.target, srv[0]),
		   "... and one past a chain of migrations back to its origin");

	/* Its PREPARE-ACK delayed on the way to the switch, then ABORTed. */
	c = client();
	migration_id++;
	abort_msg(c, 0, 1, &out);
	snap(&s);
	v = prepare_ack_again(c, srv[0], srv[1], &out);
	to = send_seg(c, srv[0], TH_ACK, &seg, &sums);
	tap_result(v == TC_ACT_SHOT && mig_entry(c, &slot) < 0 &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_STALE) == 1 &&
		   seg == TC_ACT_OK && ep_eq(to, srv[0]),
		   "the PREPARE-ACK of a migration ABORTed before it came is "
		   "dropped; the segments stay on the origin");
}

static int register_msg(struct tcpmig_endpoint from, __be32 daddr,
			__u32 flags, __u32 weight)
{
	struct tcpmig_endpoint none = { 0 };
	struct tcpmig_msg_hdr h = msg(TCPMIG_MSG_REGISTER, none, from, none);
	struct tcpmig_msg_register reg = { htonl(flags), htonl(weight) };
	struct frame in, out;

	tcpmig_frame(&in, from.addr, daddr, &h, &reg, sizeof(reg));
	return run(&in, &out);
}

static void test_register(void)
{
	struct capymig_sw_heartbeat hb;
	struct snapshot s;
	__u32 key = 1;
	__u64 t0 = now_ns();
	int v;

	snap(&s);
	v = register_msg(srv[1], switch_addr, TCPMIG_REGISTER_F_DRAINING, 3);
	tap_result(v == TC_ACT_SHOT && delta(&s, CAPYMIG_SW_CNT_REGISTERS) == 1,
		   "REGISTER to the switch is taken in, counted");
	bpf_map__lookup_elem(skel->maps.heartbeats, &key, sizeof(key), &hb,
			     sizeof(hb), 0);
	tap_result(hb.flags == TCPMIG_REGISTER_F_DRAINING && hb.weight == 3 &&
		   hb.last_ns >= t0 && hb.last_ns <= now_ns(),
		   "... its flags, weight and time are in the heartbeat table");
	key = 2;
	v = register_msg(with_port(srv[2], 0), switch_addr, 0, 5);
	bpf_map__lookup_elem(skel->maps.heartbeats, &key, sizeof(key), &hb,
			     sizeof(hb), 0);
	tap_result(v == TC_ACT_SHOT && delta(&s, CAPYMIG_SW_CNT_REGISTERS) == 2 &&
		   hb.weight == 5 && hb.last_ns >= t0,
		   "REGISTER naming an address (port 0): its servers' heartbeats");
	v = register_msg(with_port(srv[1], 9999), switch_addr, 0, 1);
	tap_result(v == TC_ACT_SHOT && delta(&s, CAPYMIG_SW_CNT_SPOOFED) == 1,
		   "REGISTER of an endpoint out of the pool: spoofed");
	v = register_msg(srv[1], srv[0].addr, 0, 1);
	tap_result(v == TC_ACT_SHOT && delta(&s, CAPYMIG_SW_CNT_MALFORMED) == 1,
		   "REGISTER to a server: dropped as malformed");
	pool_reset();
}

enum mangle { BAD_MAGIC, BAD_VERSION, TYPE_0, TYPE_BEYOND, TRUNCATED, UDP_LEN,
	      SHORT_BODY, LONG, PADDING, LOAD_FROM_SERVER, ACK_TO_SWITCH };

static const char *const mangle_desc[] = {
	[BAD_MAGIC] = "bad magic",
	[BAD_VERSION] = "bad version",
	[TYPE_0] = "type 0",
	[TYPE_BEYOND] = "type beyond the last",
	[TRUNCATED] = "shorter than the header",
	[UDP_LEN] = "UDP length not the IP payload's",
	[SHORT_BODY] = "REGISTER without its body",
	[LONG] = "PREPARE with bytes after it",
	[PADDING] = "padding not zero",
	[LOAD_FROM_SERVER] = "LOAD from a server",
	[ACK_TO_SWITCH] = "PREPARE-ACK to the switch",
};

static void test_malformed(void)
{
	static const __u8 body[sizeof(struct tcpmig_msg_load)];
	struct tcpmig_msg_hdr h;
	struct frame in, out;
	struct snapshot s;
	unsigned int m;
	int v;

	for (m = 0; m <= ACK_TO_SWITCH; m++) {
		h = msg(TCPMIG_MSG_PREPARE, client(), srv[0],
			(struct tcpmig_endpoint){});
		if (m == BAD_MAGIC)
			h.magic = htons(0x4d54);
		if (m == BAD_VERSION)
			h.version = TCPMIG_MSG_VERSION + 1;
		if (m == TYPE_0 || m == TYPE_BEYOND)
			h.type = m == TYPE_0 ? 0 : TCPMIG_MSG_MAX + 1;
		if (m == SHORT_BODY)
			h.type = TCPMIG_MSG_REGISTER;
		if (m == PADDING)
			h.origin.pad = htons(1);
		if (m == LOAD_FROM_SERVER)
			h.type = TCPMIG_MSG_LOAD;
		if (m == ACK_TO_SWITCH) {
			h.type = TCPMIG_MSG_PREPARE_ACK;
			h.target = srv[0];
		}
		tcpmig_frame(&in, srv[0].addr, switch_addr, &h, body,
			     m == LONG || m == LOAD_FROM_SERVER ?
			     sizeof(body) : 0);
		if (m == TRUNCATED || m == UDP_LEN) {
			struct udphdr *uh = (struct udphdr *)l4_of(&in);
			size_t len = sizeof(*uh) + sizeof(h) - 1;

			uh->len = htons(len);
			if (m == TRUNCATED) {
				len += sizeof(struct iphdr);
				ip_of(&in)->tot_len = htons(len);
				in.len = ETH_HLEN + len;
			}
			fix_checksums(&in);
		}
		snap(&s);
		v = run(&in, &out);
		tap_result(v == TC_ACT_SHOT &&
			   delta(&s, CAPYMIG_SW_CNT_MALFORMED) == 1,
			   "malformed TCPMig dropped, counted: %s",
			   mangle_desc[m]);
	}
}

static void test_spoofed(void)
{
	struct tcpmig_endpoint c = client(), outsider = ep("10.10.1.9", 8080);
	struct tcpmig_endpoint none = { 0 };
	struct tcpmig_msg_conn_state cs = { 0 };
	struct tcpmig_msg_hdr h;
	struct frame in, out;
	struct snapshot s;
	int v;

	snap(&s);
	h = msg(TCPMIG_MSG_PREPARE, c, outsider, none);
	tcpmig_frame(&in, outsider.addr, switch_addr, &h, NULL, 0);
	v = run(&in, &out);
	tap_result(v == TC_ACT_SHOT && delta(&s, CAPYMIG_SW_CNT_SPOOFED) == 1,
		   "PREPARE from outside the pool: dropped, counted");

	h = msg(TCPMIG_MSG_PREPARE, c, srv[2], none);
	tcpmig_frame(&in, srv[0].addr, switch_addr, &h, NULL, 0);
	v = run(&in, &out);
	tap_result(v == TC_ACT_SHOT && delta(&s, CAPYMIG_SW_CNT_SPOOFED) == 2,
		   "PREPARE from a member naming another as origin: dropped");

	h = msg(TCPMIG_MSG_PREPARE_ACK, c, srv[0], with_port(srv[1], 9999));
	tcpmig_frame(&in, srv[1].addr, srv[0].addr, &h, NULL, 0);
	v = run(&in, &out);
	tap_result(v == TC_ACT_SHOT && delta(&s, CAPYMIG_SW_CNT_SPOOFED) == 3 &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_INSTALLED) == 0,
		   "PREPARE-ACK naming no server as target: dropped, nothing "
		   "installed");

	h = msg(TCPMIG_MSG_CONN_STATE, c, srv[0], srv[1]);
	tcpmig_frame(&in, srv[0].addr, srv[1].addr, &h, &cs, sizeof(cs));
	v = run(&in, &out);
	tap_result(v == TC_ACT_OK && !memcmp(in.b, out.b, in.len),
		   "CONN-STATE between members passes untouched");
	tcpmig_frame(&in, c.addr, srv[1].addr, &h, &cs, sizeof(cs));
	v = run(&in, &out);
	tap_result(v == TC_ACT_SHOT && delta(&s, CAPYMIG_SW_CNT_SPOOFED) == 4,
		   "CONN-STATE from outside the pool: dropped, counted");

	h = msg(TCPMIG_MSG_ABORT_ACK, c, srv[0], srv[1]);
	tcpmig_frame(&in, srv[1].addr, srv[0].addr, &h, NULL, 0);
	v = run(&in, &out);
	tap_result(v == TC_ACT_OK && !memcmp(in.b, out.b, in.len),
		   "ABORT-ACK from the target to the origin passes untouched");

	/* A client's forgeries, from servers' addresses, on its side. */
	ingress = clients_side;
	v = prepare_ack(c, srv[0], srv[1], &out);
	tap_result(v == TC_ACT_SHOT && delta(&s, CAPYMIG_SW_CNT_SPOOFED) == 5 &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_INSTALLED) == 0,
		   "PREPARE-ACK from a server's address come in on the "
		   "clients' side: dropped as spoofed, nothing installed");
	h = msg(TCPMIG_MSG_ABORT, c, srv[0], none);
	tcpmig_frame(&in, srv[0].addr, switch_addr, &h, NULL, 0);
	v = run(&in, &out);
	tap_result(v == TC_ACT_SHOT && delta(&s, CAPYMIG_SW_CNT_SPOOFED) == 6 &&
		   delta(&s, CAPYMIG_SW_CNT_MIG_ABORTED) == 0,
		   "... an ABORT: dropped, nothing withdrawn");
	v = register_msg(srv[3], switch_addr, TCPMIG_REGISTER_F_DRAINING, 1);
	tap_result(v == TC_ACT_SHOT && delta(&s, CAPYMIG_SW_CNT_SPOOFED) == 7 &&
		   delta(&s, CAPYMIG_SW_CNT_REGISTERS) == 0,
		   "... a REGISTER: dropped, the server not marked draining");
	ingress = 0;

	/* TCPMig is never IP-fragmented: a fragment is a forgery. */
	h = msg(TCPMIG_MSG_PREPARE_ACK, c, srv[0], srv[1]);
	tcpmig_frame(&in, srv[1].addr, srv[0].addr, &h, NULL, 0);
	ip_of(&in)->frag_off = htons(0x2000);	/* more fragments */
	fix_checksums(&in);
	v = run(&in, &out);
	tap_result(v == TC_ACT_SHOT &&
		   delta(&s, CAPYMIG_SW_CNT_MALFORMED) == 1,
		   "the first fragment of a TCPMig datagram: dropped, counted "
		   "malformed");
	ip_of(&in)->frag_off = htons(0x2000 | 1);
	fix_checksums(&in);
	v = run(&in, &out);
	tap_result(v == TC_ACT_OK && !memcmp(in.b, out.b, in.len),
		   "a later fragment passes untouched (with nothing to make a "
		   "datagram of)");
}

/* Runs the reaper over @count slots from @start; its return value. */
static int reap_timeouts(__u32 start, __u32 count, __u32 idle_ms,
			 __u32 closed_ms, __u32 unanswered_ms)
{
	struct __sk_buff ctx = { 0 };
	struct frame in = { .len = ETH_HLEN }, out;

	ctx.cb[CAPYMIG_SW_REAP_START] = start;
	ctx.cb[CAPYMIG_SW_REAP_COUNT] = count;
	ctx.cb[CAPYMIG_SW_REAP_IDLE_MS] = idle_ms;
	ctx.cb[CAPYMIG_SW_REAP_CLOSED_MS] = closed_ms;
	ctx.cb[CAPYMIG_SW_REAP_UNANSWERED_MS] = unanswered_ms;
	return run_prog(skel->progs.capymig_switch_reap, &in, &out, &ctx);
}

/* ... with closed and unanswered entries reaped as late as idle ones. */
static int reap(__u32 start, __u32 count, __u32 idle_ms)
{
	return reap_timeouts(start, count, idle_ms, idle_ms, idle_ms);
}

static void test_reap(void)
{
	struct tcpmig_endpoint fresh = client(), stale = client();
	struct tcpmig_endpoint old_place = client(), far = client();
	__u32 skip;
	struct capymig_sw_slot slot;
	struct snapshot s;
	__u64 now = now_ns();
	int v;

	/* Earlier cases left entries: start from empty tables. */
	reap(0, CAPYMIG_SW_REAP_SLOTS, 0);
	snap(&s);
	slot_write(skel->maps.migrations, capymig_sw_slot_index(0, &fresh),
		   fresh, srv[1], now);
	slot_write(skel->maps.migrations, capymig_sw_slot_index(1, &stale),
		   stale, srv[1], now - 5000000000ULL);
	slot_write(skel->maps.placements, capymig_sw_slot_index(0, &old_place),
		   old_place, srv[1], now - 5000000000ULL);
	skip = capymig_sw_slot_index(0, &far);
	slot_write(skel->maps.migrations, skip, far, srv[1],
		   now - 5000000000ULL);

	/* All slots but @skip's, in two ranges. */
	v = reap(0, skip, 1000);
	v += reap(skip + 1, CAPYMIG_SW_REAP_SLOTS - skip - 1, 1000);
	tap_result(v == 2 && delta(&s, CAPYMIG_SW_CNT_MIG_ENTRIES) == -1 &&
		   delta(&s, CAPYMIG_SW_CNT_PLACE_ENTRIES) == -1,
		   "reaper: 2 idle entries reaped, one per table (%d)", v);
	tap_result(mig_entry(fresh, &slot) == 0 &&
		   mig_entry(stale, &slot) < 0 &&
		   place_entry(old_place, &slot) < 0,
		   "reaper: the idle ones of both tables, not the fresh one");
	tap_result(mig_entry(far, &slot) == 0,
		   "reaper: nothing outside its range of slots");
	v = reap(skip, 1, 1000);
	tap_result(v == 1 && mig_entry(far, &slot) < 0 &&
		   delta(&s, CAPYMIG_SW_CNT_REAPED) == 3,
		   "reaper: counted, and a range of one slot works");

	/* Closed 5 s ago, and an open one as idle. */
	slot_write_flags(skel->maps.migrations,
			 capymig_sw_slot_index(0, &fresh), fresh, srv[1],
			 now - 5000000000ULL,
			 CAPYMIG_SW_FIN_CLIENT | CAPYMIG_SW_FIN_SERVER);
	slot_write(skel->maps.migrations, capymig_sw_slot_index(0, &stale),
		   stale, srv[1], now - 5000000000ULL);
	snap(&s);
	v = reap_timeouts(0, CAPYMIG_SW_REAP_SLOTS, 10000, 6000, 10000);
	tap_result(v == 0 && mig_entry(fresh, &slot) == 0,
		   "reaper: a closed entry stays for the closed timeout");
	v = reap_timeouts(0, CAPYMIG_SW_REAP_SLOTS, 10000, 1000, 10000);
	tap_result(v == 1 && mig_entry(fresh, &slot) < 0 &&
		   mig_entry(stale, &slot) == 0 &&
		   delta(&s, CAPYMIG_SW_CNT_CLOSED) == 1 &&
		   delta(&s, CAPYMIG_SW_CNT_REAPED) == 0,
		   "reaper: then it goes, counted as closed; an open one as "
		   "idle stays");
}

/* A placement no server answered goes after the unanswered timeout. */
static void test_reap_unanswered(void)
{
	struct tcpmig_endpoint c = client(), unanswered = client();
	struct tcpmig_endpoint answered = client(), migrated = client();
	struct capymig_sw_slot slot;
	struct snapshot s;
	bool sums;
	int x, v;

	reap(0, CAPYMIG_SW_REAP_SLOTS, 0);
	x = syn(c, &(struct frame){ 0 }, &v);
	tap_result(x >= 0 && place_entry(c, &slot) >= 0 &&
		   !(slot.rec.state & CAPYMIG_SW_ANSWERED),
		   "a SYN's placement is unanswered");
	answer(srv[x < 0 ? 0 : x], c, TH_SYN | TH_ACK, &v, &sums);
	tap_result(place_entry(c, &slot) >= 0 &&
		   (slot.rec.state & CAPYMIG_SW_ANSWERED),
		   "... until the server's SYN-ACK passes");

	snap(&s);
	slot_write(skel->maps.placements, capymig_sw_slot_index(0, &unanswered),
		   unanswered, srv[0], now_ns() - 3000000000ULL);
	slot_write_flags(skel->maps.placements,
			 capymig_sw_slot_index(0, &answered), answered, srv[0],
			 now_ns() - 3000000000ULL, CAPYMIG_SW_ANSWERED);
	slot_write(skel->maps.migrations, capymig_sw_slot_index(0, &migrated),
		   migrated, srv[1], now_ns() - 3000000000ULL);
	v = reap_timeouts(0, CAPYMIG_SW_REAP_SLOTS, 10000, 10000, 2000);
	tap_result(v == 1 && place_entry(unanswered, &slot) < 0 &&
		   delta(&s, CAPYMIG_SW_CNT_REAPED) == 1,
		   "reaper: an unanswered placement idle 3 s goes after the "
		   "unanswered timeout (2 s)");
	tap_result(place_entry(answered, &slot) == 0 &&
		   mig_entry(migrated, &slot) == 0 &&
		   place_entry(c, &slot) >= 0,
		   "reaper: ... an answered one and a migration entry stay");
}

/* The reaper's idle times, across the wrap of the 29-bit time. */
static void test_reap_wrap(void)
{
	/* 2^49 ns is 2^29 units: the time in a state wraps there. */
	const __u64 wrap = 1ULL << (32 - CAPYMIG_SW_TIME_SHIFT +
				    CAPYMIG_SW_TIME_UNIT_SHIFT);
	const __u64 unit = 1ULL << CAPYMIG_SW_TIME_UNIT_SHIFT;
	__u32 now = CAPYMIG_SW_TIME(now_ns()) >> CAPYMIG_SW_TIME_SHIFT;
	struct tcpmig_endpoint old = client(), later = client();
	struct capymig_sw_slot slot;
	struct snapshot s;
	int v;

	tap_result(capymig_sw_idle(CAPYMIG_SW_TIME(wrap + 2 * unit),
				   CAPYMIG_SW_TIME(wrap - 3 * unit) |
				   CAPYMIG_SW_FIN_MASK) == 5 &&
		   capymig_sw_idle(CAPYMIG_SW_TIME(wrap - 3 * unit),
				   CAPYMIG_SW_TIME(wrap + 2 * unit)) == -5,
		   "idle times: 5 units across the wrap, -5 the other way");

	reap(0, CAPYMIG_SW_REAP_SLOTS, 0);
	snap(&s);
	/* Seen "in the future": used after the reaper read its clock. */
	slot_write(skel->maps.migrations, capymig_sw_slot_index(0, &later),
		   later, srv[1], now_ns() + 2000000000ULL);
	v = reap(0, CAPYMIG_SW_REAP_SLOTS, 0);
	tap_result(v == 0 && mig_entry(later, &slot) == 0,
		   "reaper: an entry used after its clock read is not idle");

	if (now >= (1U << (31 - CAPYMIG_SW_TIME_SHIFT)) - 1000) {
		tap_skip("the clock is past the first half of its 29-bit "
			 "period", "reaper: an entry seen before the wrap");
		return;
	}
	/* 1000 units before the wrap, a state greater than now's. */
	slot_write(skel->maps.migrations, capymig_sw_slot_index(0, &old),
		   old, srv[1], wrap - 1000 * unit);
	v = reap(0, CAPYMIG_SW_REAP_SLOTS, 500);
	tap_result(v == 1 && mig_entry(old, &slot) < 0 &&
		   mig_entry(later, &slot) == 0 &&
		   delta(&s, CAPYMIG_SW_CNT_REAPED) == 1,
		   "reaper: an entry seen before the wrap is idle since");
}

/*
 * Two CPUs installing one client's entry at once, as two copies of a
 * PREPARE-ACK (the origin sends PREPARE again every 20 ms, the target
 * answers each) may: RACE_CLIENTS clients, each one's PREPARE-ACK run on
 * two CPUs at the same moment.  The racers spin to start each round
 * together: the window is a few instructions wide, and threads woken by a
 * barrier start microseconds apart (before the fix, one client in 20000
 * got entries in both levels so, a third of them with spinning).
 */
#define RACE_CLIENTS	10000

struct racer {
	pthread_t thread;
	struct frame *in;		/* RACE_CLIENTS frames */
	int cpu;
	bool again;			/* each dropped frame sent again */
};

/* Rounds the racers reached; each starts its round once both did. */
static int race_arrived;

static void *race(void *arg)
{
	struct racer *r = arg;
	struct frame out;
	cpu_set_t cpus;
	int i;

	CPU_ZERO(&cpus);
	CPU_SET(r->cpu, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus))
		tap_diag("CPU %d: %s", r->cpu, strerror(errno));
	for (i = 0; i < RACE_CLIENTS; i++) {
		__atomic_add_fetch(&race_arrived, 1, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(&race_arrived, __ATOMIC_SEQ_CST) <
		       2 * (i + 1))
			;
		while (run(&r->in[i], &out) == TC_ACT_SHOT && r->again)
			;
	}
	return NULL;
}

/* Runs the racers on the first two CPUs the test may use; false if not. */
static bool race_all(struct racer r[2])
{
	cpu_set_t cpus;
	int cpu, n = 0;

	if (sched_getaffinity(0, sizeof(cpus), &cpus) || CPU_COUNT(&cpus) < 2)
		return false;
	for (cpu = 0; n < 2; cpu++)
		if (CPU_ISSET(cpu, &cpus))
			r[n++].cpu = cpu;
	race_arrived = 0;
	if (pthread_create(&r[0].thread, NULL, race, &r[0]))
		return false;
	if (pthread_create(&r[1].thread, NULL, race, &r[1])) {
		/* The first then runs alone, waiting for nobody. */
		__atomic_store_n(&race_arrived, 2 * RACE_CLIENTS,
				 __ATOMIC_SEQ_CST);
		pthread_join(r[0].thread, NULL);
		return false;
	}
	pthread_join(r[0].thread, NULL);
	pthread_join(r[1].thread, NULL);
	return true;
}

static bool mig_in_level(int level, struct tcpmig_endpoint c)
{
	struct capymig_sw_slot slot;

	return slot_read(skel->maps.migrations,
			 capymig_sw_slot_index(level, &c), &slot) &&
	       ep_eq(slot.rec.client, c);
}

static struct tcpmig_endpoint race_client(int i)
{
	return ep("10.10.0.3", 1024 + i);
}

static void test_concurrent_installs(void)
{
	struct frame *in = calloc(RACE_CLIENTS, sizeof(*in));
	struct racer racers[2] = { { .in = in }, { .in = in } };
	int i, both = 0, none = 0;
	struct tcpmig_msg_hdr h;
	struct snapshot s;
	bool l0, l1;

	reap(0, CAPYMIG_SW_REAP_SLOTS, 0);
	migration_id++;
	for (i = 0; in && i < RACE_CLIENTS; i++) {
		h = msg(TCPMIG_MSG_PREPARE_ACK, race_client(i), srv[0],
			srv[1]);
		tcpmig_frame(&in[i], srv[1].addr, srv[0].addr, &h, NULL, 0);
	}
	snap(&s);
	if (!in || !race_all(racers)) {
		tap_skip("not two CPUs to race on",
			 "one key installed by two CPUs at once");
		tap_skip("not two CPUs to race on", "... counted once");
		free(in);
		return;
	}
	for (i = 0; i < RACE_CLIENTS; i++) {
		l0 = mig_in_level(0, race_client(i));
		l1 = mig_in_level(1, race_client(i));
		both += l0 && l1;
		none += !l0 && !l1;
	}
	tap_result(!both && !none,
		   "%d PREPARE-ACKs each run on two CPUs at once: each "
		   "client's entry in one level (%d in both, %d in none)",
		   RACE_CLIENTS, both, none);
	tap_result(delta(&s, CAPYMIG_SW_CNT_MIG_ENTRIES) == RACE_CLIENTS,
		   "... counted once in the gauge (%lld)",
		   (long long)delta(&s, CAPYMIG_SW_CNT_MIG_ENTRIES));
	free(in);
}

/*
 * Each client's PREPARE-ACK and the ABORT of its migration, on two CPUs at
 * once; the ABORT, as its origin does, sent again until it passes.  The
 * redirect must end withdrawn: an ABORT that found nothing to withdraw,
 * the PREPARE-ACK past its checks and installing, left the client
 * pointed at a target that had let go.
 */
static void test_concurrent_abort(void)
{
	struct frame *acks = calloc(RACE_CLIENTS, sizeof(*acks));
	struct frame *aborts = calloc(RACE_CLIENTS, sizeof(*aborts));
	struct racer racers[2] = { { .in = acks }, { .in = aborts,
						     .again = true } };
	struct capymig_sw_slot slot;
	struct tcpmig_msg_hdr h;
	struct snapshot s;
	int i, redirected = 0;

	reap(0, CAPYMIG_SW_REAP_SLOTS, 0);
	for (i = 0; acks && aborts && i < RACE_CLIENTS; i++) {
		migration_id++;
		h = msg(TCPMIG_MSG_PREPARE_ACK, race_client(i), srv[0],
			srv[1]);
		tcpmig_frame(&acks[i], srv[1].addr, srv[0].addr, &h, NULL, 0);
		h = msg(TCPMIG_MSG_ABORT, race_client(i), srv[0], srv[1]);
		tcpmig_frame(&aborts[i], srv[0].addr, switch_addr, &h, NULL,
			     0);
	}
	snap(&s);
	if (!acks || !aborts || !race_all(racers)) {
		tap_skip("not two CPUs to race on",
			 "a PREPARE-ACK and its ABORT at once");
		goto out;
	}
	for (i = 0; i < RACE_CLIENTS; i++)
		redirected += mig_entry(race_client(i), &slot) >= 0 &&
			      ep_eq(slot.rec.target, srv[1]);
	tap_result(!redirected,
		   "%d PREPARE-ACKs and their ABORTs on two CPUs at once: "
		   "every redirect withdrawn (%d left; %lld messages dropped "
		   "and sent again)", RACE_CLIENTS, redirected,
		   (long long)delta(&s, CAPYMIG_SW_CNT_MIG_BUSY));
out:
	free(acks);
	free(aborts);
}

/* --- ICMP --------------------------------------------------------------- */

/* A router on the clients' side of the switch. */
#define ROUTER	"10.10.0.254"

/*
 * Runs the switch on a "fragmentation needed" that the router sends to
 * @to.addr about a segment from @to to @c, quoting @quote bytes of it;
 * the verdict, and the frame out in @out.
 */
static int frag_needed(struct tcpmig_endpoint to, struct tcpmig_endpoint c,
		       size_t quote, struct frame *in, struct frame *out)
{
	struct frame seg;

	tcp_frame(&seg, to, c, TH_ACK);
	icmp_frame(in, inet_addr(ROUTER), to.addr, ICMP_DEST_UNREACH,
		   ICMP_FRAG_NEEDED, 1280, &seg, quote);
	return run(in, out);
}

/* @out is the error @in sent on to @server about its own segment to @c. */
static bool translated(struct frame *in, struct frame *out,
		       struct tcpmig_endpoint server, struct tcpmig_endpoint c)
{
	struct icmphdr *icmp_in = (struct icmphdr *)l4_of(in);
	struct icmphdr *icmp_out = (struct icmphdr *)l4_of(out);

	return out->len == in->len && ip_of(out)->daddr == server.addr &&
	       ip_of(out)->saddr == ip_of(in)->saddr &&
	       icmp_out->type == icmp_in->type &&
	       icmp_out->code == icmp_in->code &&
	       icmp_out->un.gateway == icmp_in->un.gateway &&
	       ep_eq(quoted_src(out), server) && ep_eq(quoted_dst(out), c) &&
	       icmp_checksums_ok(out);
}

static void test_icmp(void)
{
	struct tcpmig_endpoint c = client(), moved, stranger = client();
	struct capymig_sw_slot before, after;
	struct frame in, out, seg;
	struct snapshot s;
	int v, k;

	k = syn(c, &out, &v);
	snap(&s);
	v = frag_needed(vip, c, 1000, &in, &out);
	tap_result(v == TC_ACT_OK && k >= 0 &&
		   translated(&in, &out, srv[k], c) &&
		   delta(&s, CAPYMIG_SW_CNT_ICMP_TRANSLATED) == 1,
		   "an ICMP error to the service address about a placed "
		   "connection goes to its server, about the server's "
		   "segment: checksums valid, the MTU kept, counted");
	v = frag_needed(vip, c, 8, &in, &out);
	tap_result(v == TC_ACT_OK && k >= 0 && translated(&in, &out, srv[k], c),
		   "... quoting the 8 bytes RFC 792 asks, not the TCP "
		   "checksum");

	moved = migrated_client();
	tcp_frame(&seg, srv[0], moved, TH_ACK);
	icmp_frame(&in, inet_addr(ROUTER), srv[0].addr, ICMP_TIME_EXCEEDED,
		   ICMP_EXC_TTL, 0, &seg, 1000);
	v = run(&in, &out);
	tap_result(v == TC_ACT_OK && translated(&in, &out, srv[1], moved),
		   "one to a migrated connection's first server goes to the "
		   "server now serving it");

	age_entry(skel->maps.placements, c);
	place_entry(c, &before);
	frag_needed(vip, c, 1000, &in, &out);
	place_entry(c, &after);
	tap_result(before.rec.state == after.rec.state,
		   "... and the entry is only read: not refreshed, not "
		   "closed");

	snap(&s);
	v = frag_needed(vip, stranger, 1000, &in, &out);
	tap_result(v == TC_ACT_OK && !memcmp(in.b, out.b, in.len) &&
		   delta(&s, CAPYMIG_SW_CNT_ICMP_TRANSLATED) == 0,
		   "an error about a connection the switch does not know "
		   "passes untouched");

	tcp_frame(&seg, srv[2], c, TH_ACK);
	icmp_frame(&in, inet_addr(ROUTER), vip.addr, ICMP_DEST_UNREACH,
		   ICMP_FRAG_NEEDED, 1280, &seg, 1000);
	v = run(&in, &out);
	tap_result(v == TC_ACT_OK && !memcmp(in.b, out.b, in.len),
		   "... so does one whose quoted segment is not from where "
		   "the error goes");

	tcp_frame(&seg, vip, c, TH_ACK);
	icmp_frame(&in, inet_addr(ROUTER), vip.addr, ICMP_ECHO, 0, 0, &seg,
		   8);
	v = run(&in, &out);
	tap_result(v == TC_ACT_OK && !memcmp(in.b, out.b, in.len),
		   "... and an echo request to the service address");

	frag_needed(vip, c, 2, &in, &out);
	v = run(&in, &out);
	tap_result(v == TC_ACT_OK && !memcmp(in.b, out.b, in.len) &&
		   delta(&s, CAPYMIG_SW_CNT_ICMP_TRANSLATED) == 0,
		   "... and an error whose quote stops before the ports");
}

/* --- forwarding ---------------------------------------------------------- */

/*
 * The switch forwards what it passes on itself (route()).  Its fixture is
 * a network namespace of the test's own, entered for the rest of the run:
 * packets come in on rt0, whose address is the test frames' destination
 * MAC; rt1 leads to server 0's subnet, rt3 (MTU 68, IPv4's least) to
 * server 1's, rt5 (MTU 68) to a client's, each with a permanent neighbour
 * entry for its server, or the client, and for no other address.
 */
#define RT1_MAC		"\x02\0\0\0\x01\x01"
#define SRV0_MAC	"\x02\0\0\0\x01\x02"
#define RT3_MAC		"\x02\0\0\0\x02\x01"
#define SRV1_MAC	"\x02\0\0\0\x02\x02"
#define RT5_MAC		"\x02\0\0\0\x03\x01"
#define FAR_MAC		"\x02\0\0\0\x03\x02"

static int rt0;

static int route_setup(void)
{
	static const char links[] =
		"ip link add rt0 address 02:00:00:00:00:01 type veth"
		" peer name rt1 address 02:00:00:00:01:01 &&"
		" ip link add rt2 type veth peer name rt3"
		" address 02:00:00:00:02:01 mtu 68 &&"
		" ip link add rt4 type veth peer name rt5"
		" address 02:00:00:00:03:01 mtu 68 &&"
		" for l in rt0 rt1 rt2 rt3 rt4 rt5; do"
		" ip link set $l up || exit; done &&"
		" ip address add 10.10.0.1/24 dev rt0 &&"
		" ip address add 10.10.1.1/24 dev rt1 &&"
		" ip address add 10.10.2.1/24 dev rt3 &&"
		" ip address add 10.10.9.1/24 dev rt5 &&"
		" ip neigh add 10.10.1.2 lladdr 02:00:00:00:01:02 dev rt1"
		" nud permanent &&"
		" ip neigh add 10.10.2.2 lladdr 02:00:00:00:02:02 dev rt3"
		" nud permanent &&"
		" ip neigh add 10.10.9.2 lladdr 02:00:00:00:03:02 dev rt5"
		" nud permanent";

	if (unshare(CLONE_NEWNET))
		return -errno;
	if (system(links))
		return -EIO;
	rt0 = if_nametoindex("rt0");
	if (!rt0)
		return -errno;
	return sysctl_write("/proc/sys/net/ipv4/ip_forward", "1");
}

/* Runs the switch on @in as if it came in on rt0. */
static int run_in(struct frame *in, struct frame *out)
{
	struct __sk_buff ctx = { .ifindex = rt0,
				 .ingress_ifindex = ingress ?: rt0 };

	return run_prog(skel->progs.capymig_switch, in, out, &ctx);
}

/* @in came out as it went in, for the stack to forward. */
static bool to_stack(struct frame *in)
{
	struct frame out;

	return run_in(in, &out) == TC_ACT_OK && out.len == in->len &&
	       !memcmp(in->b, out.b, in->len);
}

/*
 * @in was sent on as a router sends it: redirected from @smac (the way
 * out's) to @dmac (the next hop's), its TTL one less, its checksums valid,
 * from @from to @to.
 */
static bool forwarded(struct frame *in, const char *smac, const char *dmac,
		      struct tcpmig_endpoint from, struct tcpmig_endpoint to)
{
	struct frame out;
	struct ethhdr *eth = (struct ethhdr *)out.b;

	return run_in(in, &out) == TC_ACT_REDIRECT &&
	       !memcmp(eth->h_source, smac, ETH_ALEN) &&
	       !memcmp(eth->h_dest, dmac, ETH_ALEN) &&
	       ip_of(&out)->ttl == ip_of(in)->ttl - 1 && checksums_ok(&out) &&
	       ep_eq(frame_src(&out), from) && ep_eq(frame_dst(&out), to);
}

/* @f's TCP payload grown by @n bytes. */
static void grow(struct frame *f, size_t n)
{
	struct iphdr *ip = ip_of(f);

	ip->tot_len = htons(ntohs(ip->tot_len) + n);
	f->len += n;
	fix_checksums(f);
}

/* A server's segments to a client behind rt5, whose MTU is 68. */
static void test_route_answer_mtu(void)
{
	struct tcpmig_endpoint far = ep("10.10.9.2", 40000);
	struct frame in, out;
	struct snapshot s;
	int k;

	/* On server 0, whose side the fixture routes (rt1). */
	for (k = 1; k < NSERVERS; k++)
		set_draining(k, true);
	tcp_frame(&in, far, vip, TH_SYN);
	run_in(&in, &out);
	for (k = 1; k < NSERVERS; k++)
		set_draining(k, false);
	if (!ep_eq(frame_dst(&out), srv[0]))
		tap_diag("%s was not placed on server 0", ep_str(far));

	snap(&s);
	ingress = if_nametoindex("rt1");
	tcp_frame(&in, srv[0], far, TH_ACK);
	grow(&in, 68 - ntohs(ip_of(&in)->tot_len));
	tap_result(forwarded(&in, RT5_MAC, FAR_MAC, vip, far),
		   "a server's segment as large as the way out's MTU is sent "
		   "on, from the service address");
	grow(&in, 1);
	tap_result(to_stack(&in) && delta(&s, CAPYMIG_SW_CNT_TOO_BIG) == 1,
		   "... one larger goes to the stack as the server sent it, "
		   "so that the stack's ICMP reaches the server; counted");
	ip_of(&in)->frag_off = 0;
	fix_checksums(&in);
	tap_result(run_in(&in, &out) == TC_ACT_OK &&
		   ep_eq(frame_src(&out), vip) && checksums_ok(&out) &&
		   delta(&s, CAPYMIG_SW_CNT_TOO_BIG) == 1,
		   "... unless it may be fragmented: then the stack gets it "
		   "rewritten, to fragment");

	ingress = rt0;
	tcp_frame(&in, srv[0], far, TH_ACK);
	tap_result(run_in(&in, &out) == TC_ACT_SHOT &&
		   delta(&s, CAPYMIG_SW_CNT_SPOOFED) == 1,
		   "a segment from a server's address coming in on the "
		   "clients' side is dropped, counted as spoofed");
	ingress = 0;
}

static void test_route(void)
{
	struct tcpmig_endpoint c = client(), moved = client();
	struct frame in, out;
	struct iphdr *ip;
	int err;

	err = route_setup();
	if (err) {
		tap_diag("the forwarding fixture: %s", strerror(-err));
		return;
	}

	tcp_frame(&in, c, srv[0], TH_ACK);
	tap_result(forwarded(&in, RT1_MAC, SRV0_MAC, c, srv[0]),
		   "a segment to a server is sent on towards it: its "
		   "neighbour entry's address, the TTL one less, checksums "
		   "valid");

	ingress = if_nametoindex("rt1");	/* srv[0]'s side here */
	prepare_ack(moved, srv[1], srv[0], &out);
	ingress = 0;
	tcp_frame(&in, moved, srv[1], TH_ACK);
	tap_result(forwarded(&in, RT1_MAC, SRV0_MAC, moved, srv[0]),
		   "a migrated connection's segment is rewritten to its "
		   "target, then sent on towards it");

	tcp_frame(&in, c, srv[1], TH_ACK);
	grow(&in, 68 - ntohs(ip_of(&in)->tot_len));
	tap_result(forwarded(&in, RT3_MAC, SRV1_MAC, c, srv[1]),
		   "a packet as large as the way out's MTU is sent on");
	grow(&in, 1);
	tap_result(to_stack(&in),
		   "the stack gets, untouched: a packet larger than the way "
		   "out's MTU (it sends the ICMP)");

	test_route_answer_mtu();

	tcp_frame(&in, c, srv[0], TH_ACK);
	ip_of(&in)->ttl = 1;
	fix_checksums(&in);
	tap_result(to_stack(&in),
		   "... one whose TTL expires here (it sends the ICMP)");

	tcp_frame(&in, c, srv[0], TH_ACK);
	memcpy(((struct ethhdr *)in.b)->h_dest, "\x02\0\0\0\0\x99", ETH_ALEN);
	tap_result(to_stack(&in), "... a frame to another host's address");

	/* Four bytes of no-operation options after the header. */
	tcp_frame(&in, c, srv[0], TH_ACK);
	ip = ip_of(&in);
	memmove(l4_of(&in) + 4, l4_of(&in), in.len - (l4_of(&in) - in.b));
	memset(l4_of(&in), IPOPT_NOOP, 4);
	ip->ihl = 6;
	ip->tot_len = htons(ntohs(ip->tot_len) + 4);
	in.len += 4;
	tap_result(to_stack(&in), "... one with IP options");

	tcp_frame(&in, c, ep("10.10.1.9", 80), TH_ACK);
	tap_result(to_stack(&in),
		   "... one to an address with no neighbour entry yet");
	tcp_frame(&in, c, ep("10.10.1.1", 80), TH_ACK);
	tap_result(to_stack(&in), "... one to the switch's own address");
	tcp_frame(&in, c, srv[2], TH_ACK);
	tap_result(to_stack(&in), "... one with no route");
	err = sysctl_write("/proc/sys/net/ipv4/conf/rt0/forwarding", "0");
	tcp_frame(&in, c, srv[0], TH_ACK);
	tap_result(!err && to_stack(&in),
		   "... and every packet while forwarding is off where it "
		   "came in");
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	char buf[1024];

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	tap_diag("libbpf: %s", buf);
	return 0;
}

int main(void)
{
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid())
		tap_skip_all("needs root");
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		tap_skip_all("kernel has no BTF");
	libbpf_set_print(libbpf_print);
	ncpus = libbpf_num_possible_cpus();

	tap_plan(PLAN);
	skel = switch_bpf__open_and_load();
	if (!skel) {
		printf("Bail out! switch program does not load: %s\n",
		       strerror(errno));
		return KSFT_FAIL;
	}
	err = setup() ?: sides_setup();
	if (err) {
		printf("Bail out! setting up the pool: %s\n", strerror(-err));
		return KSFT_FAIL;
	}

	test_hash();
	test_passthrough();
	test_place_rr();
	test_place_hash();
	test_place_lwrr();
	test_place_own_host();
	test_place_fail();
	test_migration();
	test_close();
	test_placed_then_direct();
	test_collisions();
	test_service_migration();
	test_former();
	test_former_placed();
	test_targets();
	test_targets_on_another_host();
	test_targets_not_on_client_host();
	test_target_chosen();
	test_answer_of_another();
	test_abort();
	test_late_duplicates();
	test_register();
	test_malformed();
	test_spoofed();
	test_reap();
	test_reap_unanswered();
	test_reap_wrap();
	test_concurrent_installs();
	test_concurrent_abort();
	test_icmp();
	test_route();

	switch_bpf__destroy(skel);
	if (tap_count != PLAN) {
		tap_diag("ran %d checks, planned %d", tap_count, PLAN);
		return KSFT_FAIL;
	}
	return tap_exit_code();
}
