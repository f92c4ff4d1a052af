// SPDX-License-Identifier: GPL-2.0
/*
 * switch_pps: the two halves of bench_switch_pps.sh, which measures the software
 * switch's forwarding rate against plain forwarding.
 *
 *	switch_pps populate -p PIN_DIR -n ENTRIES -f ORIGIN -t TARGET -o KEYS
 *	switch_pps flood -c CLIENT_NS -k SINK_NS -i KEYS -d SECONDS
 *			 -s IFACE,MAC,DST... [-a ACTIVE]
 *
 * populate: installs ENTRIES migration entries in the table of a running
 * switch agent, whose maps are pinned in PIN_DIR: clients from 10.64.0.0
 * up, each moved from the server ORIGIN to TARGET (ADDR:PORT), in the
 * slots the data plane looks them up in.  A client whose two slots are
 * taken is passed over.  The clients installed are written to KEYS.
 *
 * flood: sends TCP segments from the clients of KEYS (the first ACTIVE),
 * each in turn, as fast as one CPU can, in streams, each to its DST
 * (ADDR:PORT) out of CLIENT_NS's IFACE to MAC.  The streams take turns of
 * SLICE_S for SECONDS each, and the packets per second SINK_NS's eth0 got
 * of each are printed on a line, in the order given: a host busy
 * elsewhere for a while slows a turn or two of each, not one stream's
 * whole measure.  The sender's CPU also does all the forwarding: a veth
 * hands each frame to its peer's backlog, which the same CPU processes on
 * the way out of the send.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ether.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "switch.h"
#include "tuple.h"
#include "../lib/cpu.h"
#include "../lib/frame.h"
#include "../lib/netns.h"

#define BATCH		256
#define FIRST_CLIENT	0x0a400000	/* 10.64.0.0 */
#define TABLE_SLOTS	(CAPYMIG_SW_LEVELS * CAPYMIG_SW_SLOTS)
#define SLICE_S		0.2

#define MAX_STREAMS	4

static int usage(void)
{
	fprintf(stderr,
		"usage: switch_pps populate -p PIN_DIR -n ENTRIES -f ORIGIN "
		"-t TARGET -o KEYS\n"
		"       switch_pps flood -c CLIENT_NS -k SINK_NS -i KEYS "
		"-d SECONDS\n"
		"                        -s IFACE,MAC,DST... [-a ACTIVE]\n");
	return 2;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int populate(const char *pin, unsigned int n,
		    struct tcpmig_endpoint origin,
		    struct tcpmig_endpoint target, const char *keys_file)
{
	struct capymig_sw_slot *slots = calloc(n, sizeof(*slots));
	struct tcpmig_endpoint *keys = calloc(n, sizeof(*keys));
	__u32 *idx = calloc(n, sizeof(*idx)), count = n, i, level, k;
	unsigned char *taken = calloc(TABLE_SLOTS, 1);
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_F_LOCK);
	struct timespec ts;
	char path[256];
	FILE *out;
	int fd;

	snprintf(path, sizeof(path), "%s/migrations", pin);
	fd = bpf_obj_get(path);
	if (fd < 0 || !slots || !keys || !idx || !taken) {
		fprintf(stderr, "switch_pps: %s: %s\n", path, strerror(errno));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	for (i = 0, k = 0; i < n; k++) {
		struct tcpmig_endpoint c = {
			.addr = htonl(FIRST_CLIENT + (k >> 10)),
			.port = htons(1024 + (k & 1023)),
		};

		for (level = 0; level < CAPYMIG_SW_LEVELS; level++) {
			idx[i] = capymig_sw_slot_index(level, &c);
			if (!taken[idx[i]])
				break;
		}
		if (level == CAPYMIG_SW_LEVELS)
			continue;
		taken[idx[i]] = 1;
		keys[i] = c;
		slots[i].rec = (struct capymig_sw_migration){
			.state = CAPYMIG_SW_TIME(ts.tv_sec * 1000000000ULL +
						 ts.tv_nsec),
			.client = c,
			.service = origin,
			.target = target,
		};
		i++;
	}
	if (bpf_map_update_batch(fd, idx, slots, &count, &opts) ||
	    count != n) {
		fprintf(stderr, "switch_pps: installing entries: %s\n",
			strerror(errno));
		return 1;
	}
	out = fopen(keys_file, "w");
	if (!out || fwrite(keys, sizeof(*keys), n, out) != n || fclose(out)) {
		fprintf(stderr, "switch_pps: writing %s\n", keys_file);
		return 1;
	}
	return 0;
}

/* Packets received by @ns's eth0 so far. */
static int64_t rx_packets(int ns)
{
	struct ifaddrs *all, *i;
	int prev = netns_enter(ns);
	int64_t n = -1;

	if (prev < 0)
		return -1;
	if (!getifaddrs(&all)) {
		for (i = all; i; i = i->ifa_next)
			if (i->ifa_addr && i->ifa_addr->sa_family == AF_PACKET &&
			    !strcmp(i->ifa_name, "eth0") && i->ifa_data)
				n = ((struct rtnl_link_stats *)i->ifa_data)->
				    rx_packets;
		freeifaddrs(all);
	}
	netns_leave(prev);
	return n;
}

/* A raw socket on @ns's @ifname, sending to @mac; its own MAC in @own. */
static int raw_socket(int ns, const char ifname[IFNAMSIZ],
		      const struct ether_addr *mac, struct ether_addr *own)
{
	struct sockaddr_ll ll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_IP),
		.sll_halen = ETH_ALEN,
	};
	struct ifreq ifr = { 0 };
	int prev = netns_enter(ns), fd, one = 1;

	if (prev < 0)
		return -1;
	memcpy(ifr.ifr_name, ifname, IFNAMSIZ);
	memcpy(ll.sll_addr, mac, ETH_ALEN);
	ll.sll_ifindex = if_nametoindex(ifname);
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd >= 0 &&
	    (ioctl(fd, SIOCGIFHWADDR, &ifr) ||
	     setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one,
			sizeof(one)) ||
	     bind(fd, (struct sockaddr *)&ll, sizeof(ll)))) {
		close(fd);
		fd = -1;
	}
	netns_leave(prev);
	memcpy(own, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	return fd;
}

/*
 * Packets @ns's eth0 got, once the forwarding of those sent so far is
 * done: read until two readings agree.  @at, unless NULL, is when the
 * first of them was taken.
 */
static int64_t settled_rx(int ns, double *at)
{
	int64_t prev = rx_packets(ns), n;
	double t = now_s();

	while ((n = rx_packets(ns)) != prev && n >= 0) {
		prev = n;
		t = now_s();
	}
	if (at)
		*at = t;
	return n;
}

/* What is flooded out of one of the client's interfaces, and its count. */
struct stream {
	char ifname[IFNAMSIZ];
	struct ether_addr mac;		/* the switch's end of that link */
	struct tcpmig_endpoint dst;
	int fd;
	struct frame *frames;
	int64_t packets;
	double seconds;
};

static int stream_open(struct stream *st, int client_ns,
		       const struct tcpmig_endpoint *clients, size_t n)
{
	struct ether_addr own;
	size_t k;

	st->fd = raw_socket(client_ns, st->ifname, &st->mac, &own);
	st->frames = calloc(n, sizeof(*st->frames));
	if (st->fd < 0 || !st->frames)
		return -1;
	for (k = 0; k < n; k++) {
		tcp_frame(&st->frames[k], clients[k], st->dst, TH_ACK | TH_PSH);
		memcpy(st->frames[k].b, &st->mac, ETH_ALEN);
		memcpy(st->frames[k].b + ETH_ALEN, &own, ETH_ALEN);
	}
	return 0;
}

/* Floods @st for a slice of time, counting what @sink_ns got of it. */
static int stream_slice(struct stream *st, int sink_ns, size_t n,
			size_t *pos)
{
	struct mmsghdr mm[BATCH] = { 0 };
	struct iovec iov[BATCH];
	int64_t before, after;
	double start, end;
	size_t k;

	before = settled_rx(sink_ns, NULL);
	start = now_s();
	do {
		for (k = 0; k < BATCH; k++, *pos = (*pos + 1) % n) {
			iov[k] = (struct iovec){ st->frames[*pos].b,
						 st->frames[*pos].len };
			mm[k].msg_hdr.msg_iov = &iov[k];
			mm[k].msg_hdr.msg_iovlen = 1;
		}
		if (sendmmsg(st->fd, mm, BATCH, 0) < 0 && errno != ENOBUFS) {
			perror("switch_pps: sendmmsg");
			return -1;
		}
	} while (now_s() < start + SLICE_S);
	after = settled_rx(sink_ns, &end);
	if (before < 0 || after < 0)
		return -1;
	st->packets += (uint32_t)(after - before);
	st->seconds += end - start;
	return 0;
}

static int flood(int client_ns, int sink_ns, struct stream *streams,
		 int nstreams, const char *keys_file, double seconds,
		 size_t active)
{
	struct tcpmig_endpoint *clients = NULL;
	size_t n = 0, pos = 0;
	double until;
	FILE *in;
	int i;

	/* One CPU sends and forwards: the rate is that CPU's. */
	stay_on_this_cpu();

	in = fopen(keys_file, "r");
	if (!in || fseek(in, 0, SEEK_END) ||
	    !(n = ftell(in) / sizeof(*clients)) || fseek(in, 0, SEEK_SET) ||
	    !(clients = calloc(n, sizeof(*clients))) ||
	    fread(clients, sizeof(*clients), n, in) != n) {
		fprintf(stderr, "switch_pps: %s: %s\n", keys_file,
			strerror(errno));
		return 1;
	}
	fclose(in);
	if (active && active < n)
		n = active;
	for (i = 0; i < nstreams; i++) {
		if (stream_open(&streams[i], client_ns, clients, n)) {
			fprintf(stderr, "switch_pps: %s: %s\n",
				streams[i].ifname, strerror(errno));
			return 1;
		}
	}

	/* In turns, so that what else the host does weighs on all alike. */
	until = now_s() + nstreams * seconds;
	while (now_s() < until)
		for (i = 0; i < nstreams; i++)
			if (stream_slice(&streams[i], sink_ns, n, &pos))
				return 1;
	for (i = 0; i < nstreams; i++)
		printf("%.0f%c", streams[i].packets / streams[i].seconds,
		       i + 1 < nstreams ? ' ' : '\n');
	for (i = 0; i < nstreams; i++) {
		close(streams[i].fd);
		free(streams[i].frames);
	}
	free(clients);
	return 0;
}

/* An endpoint of @arg into @ep; false if it is not one. */
static bool endpoint_arg(const char *arg, struct tcpmig_endpoint *ep)
{
	return !capymig_wire_endpoint_parse(arg, 0, ep);
}

/* A stream of "IFACE,MAC,ADDR:PORT" into @st; false if it is not one. */
static bool stream_arg(char *arg, struct stream *st)
{
	char *mac = strchr(arg, ','), *dst = mac ? strchr(mac + 1, ',') : NULL;

	if (!dst || mac - arg >= IFNAMSIZ)
		return false;
	*mac++ = *dst++ = '\0';
	strcpy(st->ifname, arg);
	return ether_aton_r(mac, &st->mac) && endpoint_arg(dst, &st->dst);
}

int main(int argc, char **argv)
{
	struct stream streams[MAX_STREAMS] = { 0 };
	struct tcpmig_endpoint origin = { 0 }, target = { 0 };
	const char *pin = NULL, *keys = NULL;
	int opt, client_ns = -1, sink_ns = -1, nstreams = 0;
	unsigned int entries = 0;
	double seconds = 1;
	size_t active = 0;
	bool is_flood, ok = true;

	if (argc < 2)
		return usage();
	is_flood = !strcmp(argv[1], "flood");
	if (!is_flood && strcmp(argv[1], "populate"))
		return usage();
	optind = 2;
	while ((opt = getopt(argc, argv, "p:n:f:t:o:c:k:s:i:d:a:")) != -1) {
		switch (opt) {
		case 'p':
			pin = optarg;
			break;
		case 'n':
			entries = strtoul(optarg, NULL, 0);
			break;
		case 'f':
			ok &= endpoint_arg(optarg, &origin);
			break;
		case 't':
			ok &= endpoint_arg(optarg, &target);
			break;
		case 'o':
		case 'i':
			keys = optarg;
			break;
		case 'c':
			client_ns = netns_open(optarg);
			break;
		case 'k':
			sink_ns = netns_open(optarg);
			break;
		case 's':
			ok &= nstreams < MAX_STREAMS &&
			      stream_arg(optarg, &streams[nstreams++]);
			break;
		case 'd':
			seconds = atof(optarg);
			break;
		case 'a':
			active = strtoul(optarg, NULL, 0);
			break;
		default:
			return usage();
		}
	}
	if (!ok || !keys)
		return usage();
	if (is_flood)
		return client_ns < 0 || sink_ns < 0 || !nstreams ? usage() :
		       flood(client_ns, sink_ns, streams, nstreams, keys,
			     seconds, active);
	return !pin || !entries || entries > TABLE_SLOTS || !origin.addr ||
	       !target.addr ? usage() :
	       populate(pin, entries, origin, target, keys);
}
