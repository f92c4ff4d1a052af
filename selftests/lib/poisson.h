/* SPDX-License-Identifier: GPL-2.0 */
/* Open-loop load: the arrivals of a Poisson process. */
#ifndef CAPYMIG_SELFTEST_POISSON_H
#define CAPYMIG_SELFTEST_POISSON_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * The arrival after the one at @t_ns, of a Poisson process of @rate
 * arrivals a second: the gaps are exponential, drawn from @seed.
 */
static inline uint64_t poisson_next(uint64_t t_ns, double rate,
				    unsigned short seed[3])
{
	return t_ns + (uint64_t)(-log(1 - erand48(seed)) / rate * 1e9);
}

#endif
