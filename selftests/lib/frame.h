/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Ethernet frames of IPv4 TCP and UDP for tests and benchmarks that feed a
 * program (or a link) directly: built with valid checksums, and checked by
 * recomputing them from scratch.
 */
#ifndef CAPYMIG_SELFTEST_FRAME_H
#define CAPYMIG_SELFTEST_FRAME_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/capymig.h>

enum { TH_FIN = 0x01, TH_SYN = 0x02, TH_RST = 0x04, TH_PSH = 0x08,
       TH_ACK = 0x10 };

struct frame {
	__u8 b[256];
	__u32 len;
};

static inline struct iphdr *ip_of(struct frame *f)
{
	return (struct iphdr *)(f->b + ETH_HLEN);
}

static inline __u8 *l4_of(struct frame *f)
{
	return f->b + ETH_HLEN + sizeof(struct iphdr);
}

static inline struct tcpmig_endpoint frame_src(struct frame *f)
{
	return (struct tcpmig_endpoint){ .addr = ip_of(f)->saddr,
					 .port = ((__be16 *)l4_of(f))[0] };
}

static inline struct tcpmig_endpoint frame_dst(struct frame *f)
{
	return (struct tcpmig_endpoint){ .addr = ip_of(f)->daddr,
					 .port = ((__be16 *)l4_of(f))[1] };
}

/* The Internet checksum of @len bytes, added to @sum, unfolded. */
static inline __u32 sum16(const void *p, size_t len, __u32 sum)
{
	const __u8 *b = p;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += b[len - 1] << 8;
	return sum;
}

static inline __u16 fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

/* Checksum of the L4 segment with its pseudo-header, field included. */
static inline __u16 l4_sum(struct frame *f)
{
	struct iphdr *ip = ip_of(f);
	__u32 len = ntohs(ip->tot_len) - sizeof(*ip);
	__u32 sum = sum16(&ip->saddr, 8, ip->protocol + len);

	return fold(sum16(l4_of(f), len, sum));
}

static inline __u16 *l4_check(struct frame *f)
{
	return ip_of(f)->protocol == IPPROTO_TCP ?
	       &((struct tcphdr *)l4_of(f))->check :
	       &((struct udphdr *)l4_of(f))->check;
}

static inline void fix_checksums(struct frame *f)
{
	struct iphdr *ip = ip_of(f);
	__u16 sum;

	ip->check = 0;
	ip->check = htons(fold(sum16(ip, sizeof(*ip), 0)));
	*l4_check(f) = 0;
	sum = l4_sum(f);
	/* UDP sends a computed 0 as all ones: 0 means no checksum. */
	*l4_check(f) = htons(sum ?: 0xffff);
}

/* Both checksums verify: summed with their fields, they come to zero. */
static inline bool checksums_ok(struct frame *f)
{
	return !fold(sum16(ip_of(f), sizeof(struct iphdr), 0)) &&
	       *l4_check(f) && !l4_sum(f);
}

static inline void ip_frame(struct frame *f, __be32 saddr, __be32 daddr,
			    int proto, size_t l4_len)
{
	struct ethhdr *eth = (struct ethhdr *)f->b;
	struct iphdr *ip = ip_of(f);

	memset(f, 0, sizeof(*f));
	memcpy(eth->h_dest, "\x02\0\0\0\0\x01", ETH_ALEN);
	memcpy(eth->h_source, "\x02\0\0\0\0\x02", ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(sizeof(*ip) + l4_len);
	ip->id = htons(1);
	ip->frag_off = htons(0x4000);	/* DF */
	ip->ttl = 64;
	ip->protocol = proto;
	ip->saddr = saddr;
	ip->daddr = daddr;
	f->len = ETH_HLEN + sizeof(*ip) + l4_len;
}

/* A TCP segment with @flags and a few bytes of payload. */
static inline void tcp_frame(struct frame *f, struct tcpmig_endpoint from,
			     struct tcpmig_endpoint to, int flags)
{
	static const char payload[] = "data";
	struct tcphdr *th;
	size_t len = sizeof(*th) + (flags & TH_SYN ? 0 : sizeof(payload));

	ip_frame(f, from.addr, to.addr, IPPROTO_TCP, len);
	th = (struct tcphdr *)l4_of(f);
	th->source = from.port;
	th->dest = to.port;
	th->seq = htonl(1000);
	th->ack_seq = htonl(flags & TH_ACK ? 2000 : 0);
	th->doff = 5;
	((__u8 *)th)[13] = flags;
	th->window = htons(65535);
	if (!(flags & TH_SYN))
		memcpy(th + 1, payload, sizeof(payload));
	fix_checksums(f);
}

#endif /* CAPYMIG_SELFTEST_FRAME_H */
