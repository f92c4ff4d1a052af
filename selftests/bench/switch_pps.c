// SPDX-License-Identifier: GPL-2.0
/*
 * switch_pps: the two halves of bench_switch_pps.sh, which measures the software
 * switch's forwarding rate against plain forwarding.
 *
 *	switch_pps populate -p PIN_DIR -n ENTRIES -f ORIGIN -t TARGET -o KEYS
 *	switch_pps flood -c CLIENT_NS -k SINK_NS -m SWITCH_MAC -t DST
 *			 -i KEYS -d SECONDS
 *
 * populate: installs ENTRIES migration entries in the table of a running
 * switch agent, whose maps are pinned in PIN_DIR: clients from 10.64.0.0
 * up, each moved from the server ORIGIN to TARGET (ADDR:PORT), in the
 * slots the data plane looks them up in.  A client whose two slots are
 * taken is passed over.  The clients installed are written to KEYS.
 *
 * flood: sends a TCP segment from each client of KEYS in turn, to DST
 * (ADDR:PORT), out of CLIENT_NS's eth0 to SWITCH_MAC, as fast as one CPU
 * can for SECONDS, and prints the packets per second SINK_NS's eth0 got.
 * The sender's CPU also does all the forwarding: a veth hands each frame
 * to its peer's backlog, which the same CPU processes on the way out of
 * the send.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ether.h>
#include <sched.h>
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
#include "../lib/frame.h"
#include "../lib/netns.h"

#define BATCH		256
#define FIRST_CLIENT	0x0a400000	/* 10.64.0.0 */
#define TABLE_SLOTS	(CAPYMIG_SW_LEVELS * CAPYMIG_SW_SLOTS)

static int usage(void)
{
	fprintf(stderr,
		"usage: switch_pps populate -p PIN_DIR -n ENTRIES -f ORIGIN "
		"-t TARGET -o KEYS\n"
		"       switch_pps flood -c CLIENT_NS -k SINK_NS -m SWITCH_MAC "
		"-t DST -i KEYS\n"
		"                        -d SECONDS\n");
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

/* A raw socket on @ns's eth0, sending to @mac; its own MAC in @own. */
static int raw_socket(int ns, const struct ether_addr *mac,
		      struct ether_addr *own)
{
	struct sockaddr_ll ll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_IP),
		.sll_halen = ETH_ALEN,
	};
	struct ifreq ifr = { .ifr_name = "eth0" };
	int prev = netns_enter(ns), fd, one = 1;

	if (prev < 0)
		return -1;
	memcpy(ll.sll_addr, mac, ETH_ALEN);
	ll.sll_ifindex = if_nametoindex("eth0");
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

static int flood(int client_ns, int sink_ns, const struct ether_addr *mac,
		 struct tcpmig_endpoint dst, const char *keys_file,
		 double seconds, size_t active)
{
	struct mmsghdr mm[BATCH] = { 0 };
	struct iovec iov[BATCH];
	struct tcpmig_endpoint c;
	struct ether_addr own;
	struct frame *frames = NULL;
	size_t n = 0, pos = 0, k;
	int64_t before, after;
	double start, end;
	cpu_set_t cpu;
	FILE *in;
	int fd;

	/* One CPU sends and forwards: the rate is that CPU's. */
	CPU_ZERO(&cpu);
	CPU_SET(sched_getcpu(), &cpu);
	sched_setaffinity(0, sizeof(cpu), &cpu);

	fd = raw_socket(client_ns, mac, &own);
	in = fopen(keys_file, "r");
	if (fd < 0 || !in || fseek(in, 0, SEEK_END) ||
	    !(n = ftell(in) / sizeof(c)) || fseek(in, 0, SEEK_SET) ||
	    !(frames = calloc(n, sizeof(*frames)))) {
		fprintf(stderr, "switch_pps: %s: %s\n", keys_file,
			strerror(errno));
		return 1;
	}
	for (k = 0; k < n && fread(&c, sizeof(c), 1, in) == 1; k++) {
		tcp_frame(&frames[k], c, dst, TH_ACK | TH_PSH);
		memcpy(frames[k].b, mac, ETH_ALEN);
		memcpy(frames[k].b + ETH_ALEN, &own, ETH_ALEN);
	}
	fclose(in);
	if (active && active < n)
		n = active;

	before = rx_packets(sink_ns);
	start = now_s();
	end = start + seconds;
	do {
		for (k = 0; k < BATCH; k++, pos = (pos + 1) % n) {
			iov[k] = (struct iovec){ frames[pos].b,
						 frames[pos].len };
			mm[k].msg_hdr.msg_iov = &iov[k];
			mm[k].msg_hdr.msg_iovlen = 1;
		}
		if (sendmmsg(fd, mm, BATCH, 0) < 0 && errno != ENOBUFS) {
			perror("switch_pps: sendmmsg");
			return 1;
		}
	} while (now_s() < end);
	end = now_s();
	after = rx_packets(sink_ns);
	if (before < 0 || after < 0)
		return 1;
	printf("%.0f\n", (uint32_t)(after - before) / (end - start));
	return 0;
}

int main(int argc, char **argv)
{
	struct tcpmig_endpoint origin = { 0 }, target = { 0 };
	const char *pin = NULL, *keys = NULL;
	int opt, client_ns = -1, sink_ns = -1;
	struct ether_addr mac = { 0 };
	unsigned int entries = 0;
	double seconds = 1;
	size_t active = 0;
	bool is_flood;

	if (argc < 2)
		return usage();
	is_flood = !strcmp(argv[1], "flood");
	if (!is_flood && strcmp(argv[1], "populate"))
		return usage();
	optind = 2;
	while ((opt = getopt(argc, argv, "p:n:f:t:o:c:k:m:i:d:a:")) != -1) {
		switch (opt) {
		case 'p':
			pin = optarg;
			break;
		case 'n':
			entries = strtoul(optarg, NULL, 0);
			break;
		case 'f':
			if (capymig_wire_endpoint_parse(optarg, 0, &origin))
				return usage();
			break;
		case 't':
			if (capymig_wire_endpoint_parse(optarg, 0, &target))
				return usage();
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
		case 'm':
			if (!ether_aton_r(optarg, &mac))
				return usage();
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
	if (!keys || !target.addr)
		return usage();
	if (is_flood)
		return client_ns < 0 || sink_ns < 0 ? usage() :
		       flood(client_ns, sink_ns, &mac, target, keys, seconds,
			     active);
	return !pin || !entries || entries > TABLE_SLOTS || !origin.addr ?
	       usage() : populate(pin, entries, origin, target, keys);
}
