// SPDX-License-Identifier: GPL-2.0
/*
 * tcpmig_hold_flood: what a hold keeps is bounded by the memory of the
 * packets, not their payload.
 *
 *	tcpmig_hold_flood
 *
 * Over loopback, in the namespace it runs in: a connection, its server
 * end held (HOLD), then more empty TCP segments with its tuple than the
 * bound can take at MIN_TRUESIZE each, as anyone who knows the tuple can
 * send, from a raw socket.  No receive window
 * bounds empty segments: the hold must keep them only up to the largest
 * receive buffer, counted in the memory they take (truesize, at least
 * MIN_TRUESIZE each), and drop the rest, counted in hold_overflows.  Once
 * the hold expires, the connection carries data both ways.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tcpmig.h"
#include "../lib/migrate.h"
#include "../lib/tap.h"
#include "../lib/tcp_pair.h"

#define PORT		7601
#define HOLD_MS		2000
#define IO_TIMEOUT_MS	10000
/* No skb takes less, whatever it carries (an sk_buff alone is 232 B). */
#define MIN_TRUESIZE	256

static struct migrate_host host;

static long sysctl_long(const char *path, int field)
{
	FILE *f = fopen(path, "r");
	long v = -1;
	int i;

	for (i = 0; f && i <= field; i++)
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
	if (f)
		fclose(f);
	return v;
}

/* What hold_limit() in kmod/hold.c allows a hold. */
static long hold_limit(void)
{
	long tcp_rmem = sysctl_long("/proc/sys/net/ipv4/tcp_rmem", 2);
	long rmem_max = sysctl_long("/proc/sys/net/core/rmem_max", 0);

	return tcp_rmem > 2 * rmem_max ? tcp_rmem : 2 * rmem_max;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/* An empty ACK of @t's client to its server, checksummed. */
static void empty_ack(const struct capymig_tuple *t, struct tcphdr *th)
{
	const uint16_t *w = (const uint16_t *)th;
	uint32_t sum;
	size_t i;

	memset(th, 0, sizeof(*th));
	th->source = t->remote_port;
	th->dest = t->local_port;
	th->seq = htonl(1);
	th->ack_seq = htonl(1);
	th->doff = sizeof(*th) / 4;
	th->ack = 1;
	th->window = htons(1024);
	sum = (t->remote_addr[0] & 0xffff) + (t->remote_addr[0] >> 16) +
	      (t->local_addr[0] & 0xffff) + (t->local_addr[0] >> 16) +
	      htons(IPPROTO_TCP) + htons(sizeof(*th));
	for (i = 0; i < sizeof(*th) / 2; i++)
		sum += w[i];
	th->check = csum_fold(sum);
}

/* Sends @n empty segments as @t's client; returns how many went. */
static int flood(const struct capymig_tuple *t, int n)
{
	struct sockaddr_in to = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = t->local_addr[0],
	};
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_TCP), sent = 0;
	struct tcphdr th;

	if (fd < 0)
		return -errno;
	empty_ack(t, &th);
	while (sent < n && sendto(fd, &th, sizeof(th), 0,
				  (struct sockaddr *)&to, sizeof(to)) ==
			   sizeof(th))
		sent++;
	close(fd);
	return sent;
}

int main(void)
{
	uint64_t held, overflows;
	struct capymig_tuple t;
	struct tcp_pair p;
	long limit = hold_limit();
	int flood_n = limit / MIN_TRUESIZE + 1000;
	int listener, sent, err;

	tap_header();
	err = migrate_host_open(&host, NULL);
	listener = err ?: tcp_listener(AF_INET, PORT, NULL);
	err = listener < 0 ? listener :
	      tcp_pair_connect(&p, listener, NULL) ?:
	      migrate_server_tuple(p.client.fd, &t) ?:
	      tcpmig_hold(&host.nl, &t, HOLD_MS);
	if (err) {
		tap_result(0, "setup: %s", strerror(-err));
		return tap_done();
	}
	held = migrate_host_stat(&host, TCPMIG_STAT_HELD_PACKETS);
	overflows = migrate_host_stat(&host, TCPMIG_STAT_HOLD_OVERFLOWS);
	sent = flood(&t, flood_n);
	held = migrate_host_stat(&host, TCPMIG_STAT_HELD_PACKETS) - held;
	overflows = migrate_host_stat(&host, TCPMIG_STAT_HOLD_OVERFLOWS) -
		    overflows;
	tap_result(sent == flood_n && overflows &&
		   held + overflows == (uint64_t)flood_n &&
		   (long)held * MIN_TRUESIZE <= limit,
		   "%d empty segments to a held connection: %llu held, within "
		   "%ld B at %d B each at least, %llu dropped and counted",
		   sent, (unsigned long long)held, limit, MIN_TRUESIZE,
		   (unsigned long long)overflows);

	/* The hold expires, what it held is dropped; the connection goes on. */
	usleep((HOLD_MS + 500) * 1000);
	err = tcp_pair_flow(&p, 65536, 65536, IO_TIMEOUT_MS);
	tap_result(!err, "... and once the hold expired the connection "
		   "carries data both ways%s%s", err ? ": " : "",
		   err ? strerror(-err) : "");
	tcp_pair_close(&p);
	close(listener);
	return tap_done();
}
