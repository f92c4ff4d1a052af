/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Numbers as people write them on a command line or in a configuration
 * file.
 */
#ifndef CAPYMIG_NUMBER_H
#define CAPYMIG_NUMBER_H

#include <stdint.h>

/*
 * A whole decimal number within [@min, @max] into *@v: digits only, no
 * sign or space (strtoull() takes "-1" for its largest value and " 80"
 * for 80).  Returns 0, or -EINVAL.
 */
int capymig_parse_uint(const char *s, uint64_t min, uint64_t max,
		       uint64_t *v);

#endif
