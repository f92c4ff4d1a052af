/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The baseline capymig is measured against: moving a TCP connection with
 * TCP_REPAIR from userspace, the way CRIU's libsoccr dumps and restores
 * one (soccr/soccr.c: libsoccr_pause + libsoccr_save, then
 * libsoccr_restore + libsoccr_resume), with the same system calls in the
 * same order, plus the preparation CRIU gives a socket before
 * libsoccr_restore (restore_prepare_socket).  Only ESTABLISHED
 * connections are handled, which is all capymig exports; libsoccr's FIN
 * and SYN_SENT fix-ups do not apply.
 */
#ifndef CAPYMIG_BENCH_REPAIR_BASELINE_H
#define CAPYMIG_BENCH_REPAIR_BASELINE_H

#include <stdint.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* What a dump learns about a connection: libsoccr_sk_data's fields. */
struct repair_image {
	struct sockaddr_storage local, remote;
	socklen_t local_len, remote_len;
	uint32_t inq_seq;	/* receive queue's TCP_QUEUE_SEQ: rcv_nxt */
	uint32_t outq_seq;	/* of the send queue: write_seq */
	uint32_t inq_len;	/* SIOCINQ: received, not read */
	uint32_t outq_len;	/* SIOCOUTQ: written, not acknowledged */
	uint32_t unsq_len;	/* SIOCOUTQNSD: written, not sent */
	uint32_t mss_clamp;
	uint32_t timestamp;
	uint8_t opt_mask;	/* TCPI_OPT_* */
	uint8_t snd_wscale, rcv_wscale;
	struct tcp_repair_window window;
	uint8_t *recv_queue;	/* inq_len bytes */
	uint8_t *send_queue;	/* outq_len bytes */
};

/* System calls the last dump and restore of this thread made. */
struct repair_syscalls {
	unsigned int dump;
	unsigned int restore;
};

extern __thread struct repair_syscalls repair_syscalls;

/*
 * Dumps ESTABLISHED socket @fd into @img and closes @fd in repair mode,
 * so the connection leaves this socket without a FIN or a reset.
 * Returns 0, or a negative errno with @fd untouched but for repair mode.
 */
int repair_dump(int fd, struct repair_image *img);

/* Rebuilds @img's connection; returns its new descriptor or -errno. */
int repair_restore(const struct repair_image *img);

void repair_image_free(struct repair_image *img);

#endif /* CAPYMIG_BENCH_REPAIR_BASELINE_H */
