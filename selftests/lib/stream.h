/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A verifiable byte stream for migration tests: byte N of a stream is a
 * pure function of N and the stream's seed, so a receiver checks every
 * byte it gets for loss, duplication, reordering and corruption without
 * any shared state.
 */
#ifndef CAPYMIG_SELFTEST_STREAM_H
#define CAPYMIG_SELFTEST_STREAM_H

#include <stddef.h>
#include <stdint.h>

static inline uint8_t stream_byte(uint64_t seed, uint64_t pos)
{
	uint64_t x = (pos >> 3) * 0x9e3779b97f4a7c15ULL + seed;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 29;
	return x >> ((pos & 7) * 8);
}

static inline void stream_fill(uint64_t seed, uint64_t pos, uint8_t *buf,
			       size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = stream_byte(seed, pos + i);
}

/* Index of the first byte of @buf that is not the stream's, or @len. */
static inline size_t stream_check(uint64_t seed, uint64_t pos,
				  const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != stream_byte(seed, pos + i))
			break;
	return i;
}

#endif /* CAPYMIG_SELFTEST_STREAM_H */
