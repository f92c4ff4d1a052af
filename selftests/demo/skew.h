/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The skew experiment's wire format, shared by its server (skew_server.c)
 * and its load generator (skew_load.c).
 *
 * A request is SKEW_REQ_LEN bytes beginning with struct skew_req; the
 * answer is SKEW_RESP_LEN bytes beginning with the same struct, echoed.
 * Fixed sizes let the server read exactly one request at a time and
 * leave the rest in the kernel's receive queue.  The answer is the size
 * of the Capybara paper's HTTP responses (§8).
 */
#ifndef CAPYMIG_SKEW_H
#define CAPYMIG_SKEW_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SKEW_REQ_LEN	64
#define SKEW_RESP_LEN	256

struct skew_req {
	uint64_t seq;		/* on its connection, from 0 */
	uint64_t sent_ns;	/* when it was due (CLOCK_MONOTONIC) */
};

/* Parses "A.B.C.D:PORT" into @sin (@text is cut at the colon). */
static inline bool skew_parse_addr(char *text, struct sockaddr_in *sin)
{
	char *colon = strrchr(text, ':');

	if (!colon)
		return false;
	*colon = '\0';
	sin->sin_family = AF_INET;
	sin->sin_port = htons(atoi(colon + 1));
	return inet_pton(AF_INET, text, &sin->sin_addr) == 1;
}

static inline uint64_t skew_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

#endif /* CAPYMIG_SKEW_H */
