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
#include <linux/icmp.h>
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

/*
 * Checksum of the L4 segment after the (option-less) IP header @ip, with
 * its pseudo-header, field included.
 */
static inline __u16 segment_sum(const struct iphdr *ip)
{
	__u32 len = ntohs(ip->tot_len) - sizeof(*ip);
	__u32 sum = sum16(&ip->saddr, 8, ip->protocol + len);

	return fold(sum16(ip + 1, len, sum));
}

static inline __u16 l4_sum(struct frame *f)
{
	return segment_sum(ip_of(f));
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

/* The IP header an ICMP error @f quotes. */
static inline struct iphdr *quoted_ip(struct frame *f)
{
	return (struct iphdr *)(l4_of(f) + sizeof(struct icmphdr));
}

static inline struct tcpmig_endpoint quoted_src(struct frame *f)
{
	return (struct tcpmig_endpoint){
		.addr = quoted_ip(f)->saddr,
		.port = ((__be16 *)(quoted_ip(f) + 1))[0] };
}

static inline struct tcpmig_endpoint quoted_dst(struct frame *f)
{
	return (struct tcpmig_endpoint){
		.addr = quoted_ip(f)->daddr,
		.port = ((__be16 *)(quoted_ip(f) + 1))[1] };
}

/*
 * An ICMP error of @type and @code (and @mtu, for "fragmentation needed")
 * from @saddr to @daddr, as a router sends about @orig: quoting its IP
 * header and the first @quote bytes of what follows, or all of them.
 */
static inline void icmp_frame(struct frame *f, __be32 saddr, __be32 daddr,
			      int type, int code, __u16 mtu,
			      struct frame *orig, size_t quote)
{
	struct iphdr *orig_ip = ip_of(orig);
	size_t payload = ntohs(orig_ip->tot_len) - sizeof(*orig_ip);
	struct icmphdr *icmp;

	if (quote > payload)
		quote = payload;
	ip_frame(f, saddr, daddr, IPPROTO_ICMP,
		 sizeof(*icmp) + sizeof(*orig_ip) + quote);
	icmp = (struct icmphdr *)l4_of(f);
	icmp->type = type;
	icmp->code = code;
	icmp->un.frag.mtu = htons(mtu);
	memcpy(quoted_ip(f), orig_ip, sizeof(*orig_ip) + quote);
	ip_of(f)->check = htons(fold(sum16(ip_of(f), sizeof(struct iphdr), 0)));
	icmp->checksum = htons(fold(sum16(icmp, sizeof(*icmp) +
					  sizeof(*orig_ip) + quote, 0)));
}

/*
 * The checksums of an ICMP error verify: its IP header's, the ICMP's, the
 * quoted IP header's and, when the whole segment is quoted, its own.
 */
static inline bool icmp_checksums_ok(struct frame *f)
{
	struct iphdr *ip = ip_of(f), *quoted = quoted_ip(f);
	size_t icmp_len = ntohs(ip->tot_len) - sizeof(*ip);
	size_t whole = sizeof(struct icmphdr) + ntohs(quoted->tot_len);

	return !fold(sum16(ip, sizeof(*ip), 0)) &&
	       !fold(sum16(l4_of(f), icmp_len, 0)) &&
	       !fold(sum16(quoted, sizeof(*quoted), 0)) &&
	       (icmp_len < whole || !segment_sum(quoted));
}

#endif /* CAPYMIG_SELFTEST_FRAME_H */
