/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * The software switch's tables as its BPF maps hold them, shared by
 * bpf/switch.bpf.c, the switch agent and the tests.  The records are the
 * pipeline's (include/uapi/linux/capymig.h); this adds what only the BPF
 * switch needs: a lock per slot, the slot hash, and how to drive the
 * reaper.
 */
#ifndef CAPYMIG_BPF_SWITCH_H
#define CAPYMIG_BPF_SWITCH_H

#ifndef __VMLINUX_H__
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/types.h>
#endif
#include <linux/capymig.h>

/*
 * One slot of the migration or placement map: CAPYMIG_SW_LEVELS *
 * CAPYMIG_SW_SLOTS of them, level 0 first.  The lock keeps a packet from
 * seeing half of an update; userspace reads and writes slots with
 * BPF_F_LOCK.  40 bytes: half the slots straddle two cache lines.
 * @rec.client is 8-byte aligned, so that a lookup can compare it with one
 * load before taking the lock.
 */
struct capymig_sw_slot {
	struct bpf_spin_lock	lock;
	struct capymig_sw_migration rec;
};

/*
 * A client's recent migrations and the target last chosen for one of its
 * slot's, locked as a slot is.  @busy_until_ns: while a PREPARE-ACK or an
 * ABORT of the slot's client is at work on a CPU (CAPYMIG_SW_CONTROL_NS at
 * most), 0 else.
 */
struct capymig_sw_recent_slot {
	struct bpf_spin_lock	lock;
	struct capymig_sw_recent recent;
	__u64			busy_until_ns;
	struct capymig_sw_chosen chosen;
};

/* Past this, a slot taken counts as free: no message's work lasts it. */
#define CAPYMIG_SW_CONTROL_NS	100000000ULL

/*
 * How long before @now (a CAPYMIG_SW_TIME()) an entry whose state is
 * @state was last used, in units of CAPYMIG_SW_TIME(): the difference of
 * the two 28-bit times modulo 2^28, negative if @state is the later (a
 * packet used the entry after @now was read).
 */
static inline __s32 capymig_sw_idle(__u32 now, __u32 state)
{
	__u32 mask = ~CAPYMIG_SW_FLAGS_MASK;

	return (__s32)((now & mask) - (state & mask)) >> CAPYMIG_SW_TIME_SHIFT;
}

/*
 * The reaper, capymig_switch_reap, is run with BPF_PROG_TEST_RUN on any
 * 14-byte frame, with its arguments in the context's cb[].  It numbers the
 * slots of both maps as one range, the migration map's then the placement
 * map's, and returns how many entries it reaped.
 */
enum capymig_sw_reap_arg {
	CAPYMIG_SW_REAP_START,		/* first slot to look at */
	CAPYMIG_SW_REAP_COUNT,		/* how many */
	CAPYMIG_SW_REAP_IDLE_MS,	/* reap entries idle this long (to the
					 * unit of CAPYMIG_SW_TIME()) */
	CAPYMIG_SW_REAP_CLOSED_MS,	/* ... or, once FINs went both ways,
					 * this long */
	CAPYMIG_SW_REAP_UNANSWERED_MS,	/* ... or, placements of a SYN no
					 * server answered, this long */
};

#define CAPYMIG_SW_REAP_SLOTS	(2 * CAPYMIG_SW_LEVELS * CAPYMIG_SW_SLOTS)

/*
 * The layout of what the tables an agent keeps across restarts hold
 * (capymig-switchd --state): the slots, the recent migrations and the
 * counters.  Any change to struct capymig_sw_slot, the meaning of its
 * state word, struct capymig_sw_recent_slot or enum capymig_sw_counter
 * changes it, so that no agent takes over tables it would misread.
 */
#define CAPYMIG_SW_TABLES_VERSION	5

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/*
 * The CRC tables, a byte at a time, computed by the compiler: a byte's
 * entry is the CRC register after its 8 bits, 4 and 4.
 */
#define CAPYMIG_SW_CRC_BIT(c, poly)	(((c) >> 1) ^ (-((c) & 1) & (poly)))
#define CAPYMIG_SW_CRC_NIBBLE(n, poly)					\
	CAPYMIG_SW_CRC_BIT(CAPYMIG_SW_CRC_BIT(CAPYMIG_SW_CRC_BIT(	\
		CAPYMIG_SW_CRC_BIT((__u32)(n), poly), poly), poly), poly)
#define CAPYMIG_SW_CRC_BYTE(n, poly)					\
	CAPYMIG_SW_CRC_NIBBLE(CAPYMIG_SW_CRC_NIBBLE(n, poly), poly)
#define CAPYMIG_SW_CRC_ROW(r, p)					\
	CAPYMIG_SW_CRC_BYTE(r + 0, p), CAPYMIG_SW_CRC_BYTE(r + 1, p),	\
	CAPYMIG_SW_CRC_BYTE(r + 2, p), CAPYMIG_SW_CRC_BYTE(r + 3, p),	\
	CAPYMIG_SW_CRC_BYTE(r + 4, p), CAPYMIG_SW_CRC_BYTE(r + 5, p),	\
	CAPYMIG_SW_CRC_BYTE(r + 6, p), CAPYMIG_SW_CRC_BYTE(r + 7, p),	\
	CAPYMIG_SW_CRC_BYTE(r + 8, p), CAPYMIG_SW_CRC_BYTE(r + 9, p),	\
	CAPYMIG_SW_CRC_BYTE(r + 10, p), CAPYMIG_SW_CRC_BYTE(r + 11, p),	\
	CAPYMIG_SW_CRC_BYTE(r + 12, p), CAPYMIG_SW_CRC_BYTE(r + 13, p),	\
	CAPYMIG_SW_CRC_BYTE(r + 14, p), CAPYMIG_SW_CRC_BYTE(r + 15, p)
#define CAPYMIG_SW_CRC_TABLE(p) {					\
	CAPYMIG_SW_CRC_ROW(0, p), CAPYMIG_SW_CRC_ROW(16, p),		\
	CAPYMIG_SW_CRC_ROW(32, p), CAPYMIG_SW_CRC_ROW(48, p),		\
	CAPYMIG_SW_CRC_ROW(64, p), CAPYMIG_SW_CRC_ROW(80, p),		\
	CAPYMIG_SW_CRC_ROW(96, p), CAPYMIG_SW_CRC_ROW(112, p),		\
	CAPYMIG_SW_CRC_ROW(128, p), CAPYMIG_SW_CRC_ROW(144, p),		\
	CAPYMIG_SW_CRC_ROW(160, p), CAPYMIG_SW_CRC_ROW(176, p),		\
	CAPYMIG_SW_CRC_ROW(192, p), CAPYMIG_SW_CRC_ROW(208, p),		\
	CAPYMIG_SW_CRC_ROW(224, p), CAPYMIG_SW_CRC_ROW(240, p) }

static const __u32 capymig_sw_crc_table[CAPYMIG_SW_LEVELS][256] = {
	CAPYMIG_SW_CRC_TABLE(CAPYMIG_SW_HASH0_POLY),
	CAPYMIG_SW_CRC_TABLE(CAPYMIG_SW_HASH1_POLY),
};

/*
 * Makes @x opaque to the compiler, which would otherwise mask its parts
 * before XORing them: the bounds of an XOR are lost on the verifier of
 * Linux 6.1, and the table index must be bounded.
 */
#ifdef __bpf__
#define CAPYMIG_SW_OPAQUE(x)	asm volatile("" : "+r"(x))
#else
#define CAPYMIG_SW_OPAQUE(x)	((void)(x))
#endif

/* The CRC of @level (0 or 1) of @len bytes. */
static __always_inline __u32 capymig_sw_crc(__u32 level, const __u8 *p,
					    __u32 len)
{
	const __u32 *table = capymig_sw_crc_table[level & 1];
	__u32 crc = ~0U, i;

	for (i = 0; i < len; i++) {
		crc ^= p[i];
		CAPYMIG_SW_OPAQUE(crc);
		crc = (crc >> 8) ^ table[crc & 0xff];
	}
	return ~crc;
}

/*
 * Whether server @id may be given what is being placed or moved, as the
 * data plane or the agent knows it, @ctx the decision's own.
 */
typedef bool (*capymig_sw_may_take)(const void *ctx, __u32 id);

/*
 * Round-robin over @s's live servers: the first that @may_take numbered
 * after @last, the one picked last, else the first that may.  Taking
 * turns by number, not by a counter modulo the list, a server left out -
 * draining, dead, or the origin - gives no other a second turn, neither
 * while the agent still lists it nor when its new list, shorter, shifts
 * the others.
 */
static __always_inline __u32 capymig_sw_next(const struct capymig_sw_sched *s,
					     __u32 last,
					     capymig_sw_may_take may_take,
					     const void *ctx)
{
	__u32 first = CAPYMIG_SW_NO_SERVER, i, id;

	for (i = 0; i < CAPYMIG_SW_MAX_SERVERS && i < s->nlive; i++) {
		id = s->live[i];
		if (!may_take(ctx, id))
			continue;
		if (id > last)
			return id;
		if (first == CAPYMIG_SW_NO_SERVER)
			first = id;
	}
	return first;
}

/*
 * A migration's target by policy @how: the least loaded that @may_take;
 * under round-robin, or if neither of the two least loaded may, the next
 * after @last.  The data plane picks with it; the agent foresees the pick
 * (the target's load in LOAD-NOTIFICATIONs).
 */
static __always_inline __u32 capymig_sw_target(const struct capymig_sw_sched *s,
					       enum capymig_sw_target how,
					       __u32 last,
					       capymig_sw_may_take may_take,
					       const void *ctx)
{
	__u32 i;

	if (how == CAPYMIG_SW_TARGET_LEAST_LOADED)
		for (i = 0; i < 2; i++)
			if (s->least[i] != CAPYMIG_SW_NO_SERVER &&
			    may_take(ctx, s->least[i]))
				return s->least[i];
	return capymig_sw_next(s, last, may_take, ctx);
}

/* Index in the map of @ep's slot in @level. */
static __always_inline __u32 capymig_sw_slot_index(__u32 level,
					const struct tcpmig_endpoint *ep)
{
	__u32 hash = capymig_sw_crc(level, (const __u8 *)ep,
				    sizeof(ep->addr) + sizeof(ep->port));

	return (level & 1) * CAPYMIG_SW_SLOTS + (hash & (CAPYMIG_SW_SLOTS - 1));
}

#endif /* CAPYMIG_BPF_SWITCH_H */
