/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Keeping a test's flows on one CPU.  veth queues a packet on the backlog
 * of the CPU that sends it, so a flow sent from two CPUs (a process on
 * one, the softirq of an ACK it answers on the other) crosses through
 * two backlogs, and in an emulated guest one virtual CPU may stall behind
 * the other for tens of milliseconds: the flow arrives reordered, which
 * a NIC, hashing a flow to one queue, never does.
 */
#ifndef CAPYMIG_SELFTEST_CPU_H
#define CAPYMIG_SELFTEST_CPU_H

#include <sched.h>

/*
 * Binds the calling thread, and the threads it creates from then on, to
 * the CPU it runs on.  Returns 0, or -1 with errno set.
 */
static inline int stay_on_this_cpu(void)
{
	int cpu = sched_getcpu();
	cpu_set_t one;

	if (cpu < 0)
		return -1;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	return sched_setaffinity(0, sizeof(one), &one);
}

#endif
