// SPDX-License-Identifier: GPL-2.0
/*
 * TCP_REPAIR dump and restore from userspace, in libsoccr's order.
 *
 * Dump: repair on; TCP_INFO (state, options, window scales); SIOCOUTQ,
 * SIOCOUTQNSD, SIOCINQ; TCP_MAXSEG (the MSS clamp, in repair mode);
 * TCP_TIMESTAMP when timestamps are on; TCP_REPAIR_WINDOW; then for the
 * receive and the send queue: TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ and a
 * MSG_PEEK recv of one byte more than the queue should hold.  CRIU reads
 * the addresses with sock_diag beforehand; getsockname and getpeername
 * stand in for that here.  Closing the socket in repair mode ends it with
 * neither FIN nor reset, as CRIU's dumped task does when it is killed.
 *
 * Restore: socket; repair on; then what CRIU does before handing the
 * socket to libsoccr_restore (restore_prepare_socket): both buffers forced
 * to their maximum and O_NONBLOCK, so that putting the queues back never
 * blocks; bind; TCP_REPAIR_QUEUE + TCP_QUEUE_SEQ for each queue; connect
 * (hashes the socket ESTABLISHED, sends nothing); TCP_REPAIR_OPTIONS;
 * TCP_TIMESTAMP; each queue's bytes sent in repair mode, except the
 * never-sent tail of the send queue, which is sent with repair off and
 * back on; TCP_REPAIR_WINDOW; repair off.  CRIU later sets the buffers
 * and file flags the application had; that is not done here.
 *
 * Every system call of either side is counted in repair_syscalls.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "repair_baseline.h"

__thread struct repair_syscalls repair_syscalls;

#define DUMP(call)	(repair_syscalls.dump++, (call))
#define RESTORE(call)	(repair_syscalls.restore++, (call))

static int set_int(int fd, int opt, int val)
{
	return setsockopt(fd, SOL_TCP, opt, &val, sizeof(val));
}

static int get_u32(int fd, int opt, uint32_t *val)
{
	socklen_t len = sizeof(*val);

	return getsockopt(fd, SOL_TCP, opt, val, &len);
}

/* A queue's sequence number and, peeked, its bytes. */
static int dump_queue(int fd, int queue, uint32_t *seq, uint32_t len,
		      uint8_t **buf)
{
	ssize_t n;

	if (DUMP(set_int(fd, TCP_REPAIR_QUEUE, queue)) ||
	    DUMP(get_u32(fd, TCP_QUEUE_SEQ, seq)))
		return -errno;
	if (!len)
		return 0;
	/* One byte more than expected proves the queue holds no more. */
	*buf = malloc(len + 1);
	if (!*buf)
		return -ENOMEM;
	n = DUMP(recv(fd, *buf, len + 1, MSG_PEEK | MSG_DONTWAIT));
	if (n < 0)
		return -errno;
	return n == len ? 0 : -EAGAIN;
}

int repair_dump(int fd, struct repair_image *img)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int size, err;

	memset(img, 0, sizeof(*img));
	repair_syscalls.dump = 0;
	if (DUMP(set_int(fd, TCP_REPAIR, TCP_REPAIR_ON)))
		return -errno;

	if (DUMP(getsockopt(fd, SOL_TCP, TCP_INFO, &ti, &len)))
		goto fail_errno;
	if (ti.tcpi_state != TCP_ESTABLISHED) {
		err = -EOPNOTSUPP;
		goto fail;
	}
	if (DUMP(ioctl(fd, SIOCOUTQ, &size)))
		goto fail_errno;
	img->outq_len = size;
	if (DUMP(ioctl(fd, SIOCOUTQNSD, &size)))
		goto fail_errno;
	img->unsq_len = size;
	if (DUMP(ioctl(fd, SIOCINQ, &size)))
		goto fail_errno;
	img->inq_len = size;

	/* In repair mode TCP_MAXSEG reads the MSS the peer announced. */
	if (DUMP(get_u32(fd, TCP_MAXSEG, &img->mss_clamp)))
		goto fail_errno;
	img->opt_mask = ti.tcpi_options;
	if (ti.tcpi_options & TCPI_OPT_WSCALE) {
		img->snd_wscale = ti.tcpi_snd_wscale;
		img->rcv_wscale = ti.tcpi_rcv_wscale;
	}
	if ((ti.tcpi_options & TCPI_OPT_TIMESTAMPS) &&
	    DUMP(get_u32(fd, TCP_TIMESTAMP, &img->timestamp)))
		goto fail_errno;
	len = sizeof(img->window);
	if (DUMP(getsockopt(fd, SOL_TCP, TCP_REPAIR_WINDOW, &img->window,
			    &len)))
		goto fail_errno;

	err = dump_queue(fd, TCP_RECV_QUEUE, &img->inq_seq, img->inq_len,
			 &img->recv_queue) ?:
	      dump_queue(fd, TCP_SEND_QUEUE, &img->outq_seq, img->outq_len,
			 &img->send_queue);
	if (err)
		goto fail;

	img->local_len = sizeof(img->local);
	img->remote_len = sizeof(img->remote);
	if (DUMP(getsockname(fd, (struct sockaddr *)&img->local,
			     &img->local_len)) ||
	    DUMP(getpeername(fd, (struct sockaddr *)&img->remote,
			     &img->remote_len)))
		goto fail_errno;

	DUMP(close(fd));
	return 0;

fail_errno:
	err = -errno;
fail:
	repair_image_free(img);
	set_int(fd, TCP_REPAIR, TCP_REPAIR_OFF);
	return err;
}

static int restore_seq(int fd, int queue, uint32_t seq)
{
	return RESTORE(set_int(fd, TCP_REPAIR_QUEUE, queue)) ?:
	       RESTORE(set_int(fd, TCP_QUEUE_SEQ, seq));
}

static int send_all(int fd, const uint8_t *buf, uint32_t len)
{
	ssize_t n;

	while (len) {
		n = RESTORE(send(fd, buf, len, MSG_NOSIGNAL));
		if (!n)
			errno = EIO;
		if (n <= 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

/* Bytes that were sent (or received) once go back in repair mode. */
static int restore_queue(int fd, int queue, const uint8_t *buf, uint32_t len)
{
	if (!len)
		return 0;
	return RESTORE(set_int(fd, TCP_REPAIR_QUEUE, queue)) ?:
	       send_all(fd, buf, len);
}

int repair_restore(const struct repair_image *img)
{
	uint32_t sent = img->outq_len - img->unsq_len;
	struct tcp_repair_opt opts[4];
	/* The kernel doubles it: the largest that does not overflow. */
	int maxbuf = INT_MAX / 2;
	int fd, n = 0, flags, err;

	repair_syscalls.restore = 0;
	fd = RESTORE(socket(img->local.ss_family, SOCK_STREAM, 0));
	if (fd < 0)
		return -errno;
	/*
	 * Without room to spare, a send queue the peer's closed window holds
	 * back would block its restore until a window probe comes back.
	 */
	if (RESTORE(set_int(fd, TCP_REPAIR, TCP_REPAIR_ON)) ||
	    RESTORE(setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &maxbuf,
			       sizeof(maxbuf))) ||
	    RESTORE(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &maxbuf,
			       sizeof(maxbuf))))
		goto fail;
	flags = RESTORE(fcntl(fd, F_GETFL));
	/* Repair mode also lets bind() share the port with the listener. */
	if (flags < 0 || RESTORE(fcntl(fd, F_SETFL, flags | O_NONBLOCK)) ||
	    RESTORE(bind(fd, (const struct sockaddr *)&img->local,
			 img->local_len)) ||
	    restore_seq(fd, TCP_RECV_QUEUE, img->inq_seq - img->inq_len) ||
	    restore_seq(fd, TCP_SEND_QUEUE, img->outq_seq - img->outq_len) ||
	    RESTORE(connect(fd, (const struct sockaddr *)&img->remote,
			    img->remote_len)))
		goto fail;

	if (img->opt_mask & TCPI_OPT_SACK)
		opts[n++] = (struct tcp_repair_opt){
			TCPOPT_SACK_PERMITTED, 0 };
	if (img->opt_mask & TCPI_OPT_WSCALE)
		opts[n++] = (struct tcp_repair_opt){
			TCPOPT_WINDOW,
			img->snd_wscale | img->rcv_wscale << 16 };
	if (img->opt_mask & TCPI_OPT_TIMESTAMPS)
		opts[n++] = (struct tcp_repair_opt){ TCPOPT_TIMESTAMP, 0 };
	opts[n++] = (struct tcp_repair_opt){ TCPOPT_MAXSEG, img->mss_clamp };
	if (RESTORE(setsockopt(fd, SOL_TCP, TCP_REPAIR_OPTIONS, opts,
			       n * sizeof(opts[0]))) ||
	    ((img->opt_mask & TCPI_OPT_TIMESTAMPS) &&
	     RESTORE(set_int(fd, TCP_TIMESTAMP, img->timestamp))))
		goto fail;

	if (restore_queue(fd, TCP_RECV_QUEUE, img->recv_queue, img->inq_len) ||
	    restore_queue(fd, TCP_SEND_QUEUE, img->send_queue, sent))
		goto fail;
	/* Never sent: sent normally, the peer has not seen these bytes. */
	if (img->unsq_len &&
	    (RESTORE(set_int(fd, TCP_REPAIR, TCP_REPAIR_OFF)) ||
	     send_all(fd, img->send_queue + sent, img->unsq_len) ||
	     RESTORE(set_int(fd, TCP_REPAIR, TCP_REPAIR_ON))))
		goto fail;

	if (RESTORE(setsockopt(fd, SOL_TCP, TCP_REPAIR_WINDOW, &img->window,
			       sizeof(img->window))) ||
	    RESTORE(set_int(fd, TCP_REPAIR, TCP_REPAIR_OFF)))
		goto fail;
	return fd;

fail:
	err = -errno;
	close(fd);
	return err;
}

void repair_image_free(struct repair_image *img)
{
	free(img->recv_queue);
	free(img->send_queue);
	img->recv_queue = NULL;
	img->send_queue = NULL;
}
