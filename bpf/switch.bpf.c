// SPDX-License-Identifier: GPL-2.0
/*
 * switch: the data plane of capymig's software switch.
 *
 * A tc program on the ingress of every interface of the switch's network
 * namespace, which routes (ip_forward=1): the program rewrites a packet's
 * addresses, then sends it out of the interface the kernel's routing table
 * names for its new destination, or returns it to the stack when the
 * lookup cannot say (route()).  It does what a switch pipeline does, with
 * the same tables (include/uapi/linux/capymig.h has them,
 * Documentation/switch.rst walks a packet through):
 *
 *  - a client's segments to the service address are placed on a server by
 *    their SYN (placement table) and rewritten to it; its segments to a
 *    migrated connection's first server are rewritten to the server now
 *    serving it (migration table); servers' segments to the client are
 *    rewritten to come from the address the client connected to;
 *  - an ICMP error about a server's segment goes to the server serving the
 *    connection, translated; a server's segment too big for the way out
 *    goes to the stack as the server sent it, for its ICMP to reach it;
 *  - TCPMig is validated; a PREPARE to the switch gets a target and goes
 *    on to it, a PREPARE-ACK installs the migration entry on its way to
 *    the origin, an ABORT withdraws it, a REGISTER is recorded;
 *  - the TCP segments sent to each server are counted.
 *
 * The switch agent (userspace/switch/) writes the configuration, the
 * server table and the schedules, reads the counters, and runs
 * capymig_switch_reap to clear entries left idle.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "switch.h"

/* vmlinux.h has the kernel's types but none of its macros. */
#define ETH_P_IP	0x0800
#define ETH_HLEN	14
#define ETH_ALEN	6
#define TC_ACT_OK	0
#define TC_ACT_SHOT	2
#define AF_INET		2
#define PACKET_HOST	0
#define IP_DF		0x4000
#define IP_MF		0x2000
#define IP_OFFSET	0x1fff
#define TH_FIN		0x01
#define TH_SYN		0x02
#define TH_RST		0x04
#define TH_ACK		0x10
#define ICMP_DEST_UNREACH	3
#define ICMP_TIME_EXCEEDED	11
#define ICMP_PARAMETERPROB	12

#define TABLE_SLOTS	(CAPYMIG_SW_LEVELS * CAPYMIG_SW_SLOTS)

#define READ_ONCE(x)	(*(const volatile typeof(x) *)&(x))

/* The configuration registers; the agent writes them through mmap. */
struct capymig_sw_config cfg;

/*
 * Set before load (capymig-switchd --stack-forwarding): every packet goes
 * back to the namespace's stack to be forwarded, where netfilter's forward
 * hooks see it, at a tenth of the switch's packet rate.
 */
const volatile bool stack_forwarding;

/* The weighted round-robin's counter register. */
__u32 place_next;
/* The server each round-robin picked last. */
__u32 place_last;
__u32 target_last;

struct slot_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TABLE_SLOTS);
	__type(key, __u32);
	__type(value, struct capymig_sw_slot);
};

struct slot_map migrations SEC(".maps");
struct slot_map placements SEC(".maps");

/* By the client's slot index in level 0 of the migration table. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CAPYMIG_SW_SLOTS);
	__type(key, __u32);
	__type(value, struct capymig_sw_recent_slot);
} recent_migrations SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CAPYMIG_SW_MAX_SERVERS);
	__type(key, __u32);
	__type(value, struct capymig_sw_server);
} servers SEC(".maps");

/* Endpoint to server number. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CAPYMIG_SW_MAX_SERVERS);
	__type(key, struct tcpmig_endpoint);
	__type(value, __u32);
} server_ids SEC(".maps");

/* The pool's addresses; the value is how many servers have each. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CAPYMIG_SW_MAX_SERVERS);
	__type(key, __be32);
	__type(value, __u32);
} pool_hosts SEC(".maps");

/* The agent reads it, and writes the schedules, through mmap. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, CAPYMIG_SW_MAX_SERVERS);
	__type(key, __u32);
	__type(value, struct capymig_sw_heartbeat);
} heartbeats SEC(".maps");

/* The two banks of struct capymig_sw_sched. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct capymig_sw_sched);
} scheds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CAPYMIG_SW_MAX_SERVERS);
	__type(key, __u32);
	__type(value, __u64);
} server_packets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, __CAPYMIG_SW_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* What the program needs of a packet's headers. */
struct packet {
	struct __sk_buff *skb;
	struct tcpmig_endpoint src, dst;	/* ports 0 for ICMP */
	/* The source a server's segment was given, if it was rewritten. */
	struct tcpmig_endpoint answer_src;
	__u32 l4_off;		/* of the TCP, UDP or ICMP header */
	__u32 l4_len;		/* from the IP header */
	__u32 udp_len;		/* from the UDP header */
	__u8 proto;
	__u8 tcp_flags;
	/*
	 * The switch's own answer, from its address: the stack would drop
	 * it as a martian, so it always leaves by the forwarding stage.
	 */
	bool answer;
};

/*
 * The furthest a header is read: the TCP checksum of a segment quoted in
 * an ICMP error, both IP headers at their longest.
 */
#define HEADER_OFF_MAX	(ETH_HLEN + 60 + sizeof(struct icmphdr) + 60 + \
			 offsetof(struct tcphdr, check))

/*
 * The @len bytes of the packet at @off, in its linear part (pulled there
 * if they were not), or NULL if it is shorter.  The headers are read and
 * written in place: copying them in and out with bpf_skb_load_bytes() and
 * bpf_skb_store_bytes() cost a helper call each, which under emulation
 * is most of a small copy's cost.
 */
static __always_inline void *header(struct __sk_buff *skb, __u32 off,
				    __u32 len)
{
	void *h;

	/*
	 * Bounds for the verifier, on the value used from here on, not on a
	 * copy the compiler kept from before.
	 */
	if (off > HEADER_OFF_MAX)
		return NULL;
	barrier_var(off);
	/*
	 * The context's fields are loaded from it, not from addresses into
	 * it the compiler would keep: the verifier allows only the former.
	 */
	barrier_var(skb);
	h = (void *)(long)skb->data + off;
	if (h + len > (void *)(long)skb->data_end) {
		if (bpf_skb_pull_data(skb, off + len))
			return NULL;
		barrier_var(skb);
		h = (void *)(long)skb->data + off;
		if (h + len > (void *)(long)skb->data_end)
			return NULL;
	}
	return h;
}

static __always_inline void count(__u32 counter, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &counter);

	if (v)
		*v += n;
}

/* Endpoints are compared as the 8 bytes they are, padding zeroed. */
static __always_inline __u64 ep_raw(const struct tcpmig_endpoint *ep)
{
	struct tcpmig_endpoint norm = { .addr = ep->addr, .port = ep->port };
	__u64 raw;

	__builtin_memcpy(&raw, &norm, sizeof(raw));
	return raw;
}

/* The pool monitor: TCP segments towards each server. */
static __always_inline void count_server(__u32 id)
{
	__u64 *n = bpf_map_lookup_elem(&server_packets, &id);

	if (n)
		*n += 1;
}

static __always_inline bool ep_eq(const struct tcpmig_endpoint *a,
				  const struct tcpmig_endpoint *b)
{
	return a->addr == b->addr && a->port == b->port;
}

/* The key a slot holds, read without its lock: one 8-byte load. */
static __always_inline __u64 slot_key(const struct capymig_sw_slot *slot)
{
	return READ_ONCE(*(const __u64 *)&slot->rec.client);
}

static __always_inline void slot_clear(struct capymig_sw_slot *slot)
{
	__builtin_memset(&slot->rec, 0, sizeof(slot->rec));
}

/* The slot of @level of @map that @key's entry would be in, or NULL. */
static __always_inline struct capymig_sw_slot *
level_slot(void *map, __u32 level, const struct tcpmig_endpoint *key)
{
	__u32 idx = capymig_sw_slot_index(level, key);

	return bpf_map_lookup_elem(map, &idx);
}

/*
 * @key's slot in @level of @map, locked, or NULL if it does not hold the
 * key.  Looked at without the lock first, then confirmed under it.  A
 * slot's key changes under the lock: from zero to a key and back, or, a
 * placement evicting another (slot_take()), from one key to another.  A
 * look meanwhile sees either, zero, or half of one and half of the other
 * (a slot is 4-byte aligned, and written in 4-byte words): possibly
 * another client's key, of one address or port, which the lock's check
 * turns away.
 */
static __always_inline struct capymig_sw_slot *
level_lock(void *map, __u32 level, const struct tcpmig_endpoint *key)
{
	struct capymig_sw_slot *slot = level_slot(map, level, key);
	__u64 raw = ep_raw(key);

	if (!slot || slot_key(slot) != raw)
		return NULL;
	bpf_spin_lock(&slot->lock);
	if (slot_key(slot) == raw)
		return slot;
	bpf_spin_unlock(&slot->lock);
	return NULL;
}

/*
 * The slot of @map holding @key, locked, or NULL: level 0's, else level
 * 1's, one key being in one level (table_install()).  A look that misses
 * may miss an entry being installed, as if the packet had come a moment
 * earlier, but never finds a wrong one, nor takes a key half seen in
 * level 0 for the end of the search.
 */
static __always_inline struct capymig_sw_slot *
table_lock(void *map, const struct tcpmig_endpoint *key)
{
	struct capymig_sw_slot *slot = level_lock(map, 0, key);

	return slot ?: level_lock(map, 1, key);
}

/*
 * A copy of @key's record in @map; false if none, and @rec zeroed: the
 * verifier refuses a copy of what was never written, which the compiler
 * may make of a record read on one branch only.
 */
static __always_inline bool table_read(void *map,
				       const struct tcpmig_endpoint *key,
				       struct capymig_sw_migration *rec)
{
	struct capymig_sw_slot *slot;

	__builtin_memset(rec, 0, sizeof(*rec));
	slot = table_lock(map, key);
	if (!slot)
		return false;
	*rec = slot->rec;
	bpf_spin_unlock(&slot->lock);
	return true;
}

/*
 * Points the entry of @rec's client at @rec's target and former, a
 * migration not settled yet (its time @rec's, its other flags kept);
 * false if there is none.
 */
static __always_inline bool table_update(void *map,
					 const struct capymig_sw_migration *rec)
{
	struct capymig_sw_slot *slot = table_lock(map, &rec->client);

	if (!slot)
		return false;
	slot->rec.target = rec->target;
	slot->rec.former = rec->former;
	slot->rec.state = (slot->rec.state & CAPYMIG_SW_FLAGS_MASK &
			   ~CAPYMIG_SW_SETTLED) |
			  (rec->state & ~CAPYMIG_SW_FLAGS_MASK);
	bpf_spin_unlock(&slot->lock);
	return true;
}

/*
 * Marks settled the migration of @client's connection from @former to
 * @target that @map's entry names; nothing if it names others.
 */
static __always_inline void table_settle(void *map,
					 const struct tcpmig_endpoint *client,
					 const struct tcpmig_endpoint *target,
					 const struct tcpmig_endpoint *former)
{
	struct capymig_sw_slot *slot = table_lock(map, client);

	if (!slot)
		return;
	if (ep_eq(&slot->rec.target, target) &&
	    ep_eq(&slot->rec.former, former))
		slot->rec.state |= CAPYMIG_SW_SETTLED;
	bpf_spin_unlock(&slot->lock);
}

/* Clears @key's entry from @level of @map; false if it was not there. */
static __always_inline bool level_delete(void *map, __u32 level, __u32 gauge,
					 const struct tcpmig_endpoint *key)
{
	struct capymig_sw_slot *slot = level_lock(map, level, key);

	if (!slot)
		return false;
	slot_clear(slot);
	bpf_spin_unlock(&slot->lock);
	count(gauge, -1);
	return true;
}

/* Clears @key's entry of @map; false if there was none. */
static __always_inline bool table_delete(void *map, __u32 gauge,
					 const struct tcpmig_endpoint *key)
{
	return level_delete(map, 0, gauge, key) ||
	       level_delete(map, 1, gauge, key);
}

enum install_result {
	INSTALL_NEW,
	INSTALL_EVICTED,	/* in an unanswered placement's slot */
	INSTALL_UPDATED,
	INSTALL_FULL,
};

/*
 * Whether the record @held, in a slot a new placement of time @now finds
 * taken, is a SYN no server answered, idle long enough to give way.
 */
static __always_inline bool evictable(const struct capymig_sw_migration *held,
				      __u32 now)
{
	return !(held->state & CAPYMIG_SW_ANSWERED) &&
	       capymig_sw_idle(now, held->state) >=
	       (__s32)(CAPYMIG_SW_UNANSWERED_EVICT_MS * 1000000ULL >>
		       CAPYMIG_SW_TIME_UNIT_SHIFT);
}

/* Writes @rec into its client's slot of @level: a free one, or @evict-able. */
static __always_inline bool slot_take(void *map, __u32 level,
				      const struct capymig_sw_migration *rec,
				      bool evict)
{
	struct capymig_sw_slot *slot = level_slot(map, level, &rec->client);
	bool done = false;

	if (!slot)
		return false;
	bpf_spin_lock(&slot->lock);
	if (evict ? slot->rec.client.addr && evictable(&slot->rec, rec->state) :
		    !slot->rec.client.addr) {
		slot->rec = *rec;
		done = true;
	}
	bpf_spin_unlock(&slot->lock);
	return done;
}

/* The level whose slot slot_take() wrote @rec into, level 0 first; or -1. */
static __always_inline int level_take(void *map,
				      const struct capymig_sw_migration *rec,
				      bool evict)
{
	if (slot_take(map, 0, rec, evict))
		return 0;
	if (slot_take(map, 1, rec, evict))
		return 1;
	return -1;
}

/* Whether @key's slot in @level of @map holds it, looked at under the lock. */
static __always_inline bool level_holds(void *map, __u32 level,
					const struct tcpmig_endpoint *key)
{
	struct capymig_sw_slot *slot = level_slot(map, level, key);
	bool held;

	if (!slot)
		return false;
	bpf_spin_lock(&slot->lock);
	held = slot_key(slot) == ep_raw(key);
	bpf_spin_unlock(&slot->lock);
	return held;
}

/*
 * Leaves @key in one level of @map after an install wrote it into
 * @level.  Two CPUs installing one key at once (a SYN sent again, a
 * PREPARE-ACK answered twice) may both miss it, and one take its slot of
 * level 0 while the other, finding that taken, takes level 1: then
 * whichever sees both clears level 1's.  Lookups take the first, and an
 * update, a deletion or a use acts on it alone: the other, left, would
 * come back once the first went (a migration returning to where it was
 * placed deletes its entry), with a server the connection left.
 *
 * One of the two looks under the lock, so that one of them sees the
 * other's key: the install into level 1 looks at level 0 under its lock,
 * taken either before the other's install there, which then sees the
 * level-1 key, or after it.  No two locks are held at once: the verifier
 * refuses it.
 */
static __always_inline void table_unshare(void *map, __u32 gauge, int level,
					  const struct tcpmig_endpoint *key)
{
	if (level == 0 || level_holds(map, 0, key))
		level_delete(map, 1, gauge, key);
}

/*
 * Updates the entry of @rec's client (table_update()), or installs @rec in
 * a free slot of level 0, else of level 1; else, a placement (@evict), in
 * the slot of an unanswered SYN's that gives way (evictable()).  The
 * caller counts the entry it installs, @gauge the copy table_unshare()
 * clears, this install's or another's.
 */
static __always_inline enum install_result
table_install(void *map, __u32 gauge, const struct capymig_sw_migration *rec,
	      bool evict)
{
	enum install_result res = INSTALL_NEW;
	int level;

	if (table_update(map, rec))
		return INSTALL_UPDATED;
	level = level_take(map, rec, false);
	if (level < 0 && evict) {
		level = level_take(map, rec, true);
		res = INSTALL_EVICTED;
	}
	if (level < 0)
		return INSTALL_FULL;
	table_unshare(map, gauge, level, &rec->client);
	return res;
}

enum use_result { USE_MISS, USE_OTHER, USE_HIT, USE_REUSED, USE_RESET };

/*
 * Whether @rec is the entry of the connection between its client and
 * @peer: from the client (@fin CAPYMIG_SW_FIN_CLIENT), the address it
 * reached, the entry's service; from a server, the one serving it, or the
 * one it is moving from, which may send a segment or two before its
 * export.  Any other server's segment is of another connection of the
 * same client endpoint: rewritten, it would reach the client from the
 * service, whose answer, a reset, would go to the entry's target.
 */
static __always_inline bool entry_of(const struct capymig_sw_migration *rec,
				     const struct tcpmig_endpoint *peer,
				     __u32 fin)
{
	if (fin == CAPYMIG_SW_FIN_CLIENT)
		return ep_eq(&rec->service, peer);
	return ep_eq(&rec->target, peer) ||
	       (rec->former.addr && ep_eq(&rec->former, peer));
}

#define FIN_BOTH	CAPYMIG_SW_FIN_MASK

/* A SYN without ACK: a client's first segment of a new connection. */
static __always_inline bool opening(__u8 tcp_flags)
{
	return (tcp_flags & (TH_SYN | TH_ACK)) == TH_SYN;
}

/*
 * The client opens a connection to @server, the former owner of @slot's,
 * locked, at its own endpoint or placed there from the service address:
 * @server's segments are the new connection's from now on.  A migration
 * not settled keeps its former, which its ABORT looks for
 * (withdrawable()).
 */
static __always_inline void forget_former(struct capymig_sw_slot *slot,
					  const struct tcpmig_endpoint *server)
{
	if ((slot->rec.state & CAPYMIG_SW_SETTLED) &&
	    ep_eq(&slot->rec.former, server)) {
		__builtin_memset(&slot->rec.former, 0,
				 sizeof(slot->rec.former));
		slot->rec.state &= ~CAPYMIG_SW_SETTLED;
	}
}

/*
 * A segment with @tcp_flags of @key's connection, from the client (@fin
 * CAPYMIG_SW_FIN_CLIENT) or the server (CAPYMIG_SW_FIN_SERVER), through
 * @map's entry: copies the record to @rec, notes the time, a FIN, a RST as
 * FINs both ways, and that the server answered: USE_HIT.  With @peer, the
 * other end of the segment, only an entry of the connection between the
 * client and @peer is used (entry_of()): another connection's is
 * USE_OTHER, copied to @rec all the same.  No entry: USE_MISS.
 *
 * Once FINs went both ways, or a RST passed, the entry stays until the
 * reaper's closed timeout: no segment tells the switch that the
 * connection's last one passed.  A RST is no proof either: the switch
 * does not know the sequence numbers that would make it acceptable, and
 * anyone can send one from the client's address; one the server ignores
 * must not take away the route of a connection that goes on (whose
 * segments keep the entry from the reaper).  FINs may cross, and then
 * each end acknowledges the other's after it acknowledged its own; a last
 * ACK may be lost, and its FIN sent again.  Any of those, no longer
 * rewritten, would reach the client from the server's own address, and
 * the client would answer with a reset.
 * The client's SYN on a closed entry opens a new connection from the same
 * endpoint: the entry is the old one's and goes, and the SYN misses.  A
 * SYN-ACK on a closed entry answers such a SYN, not the closed
 * connection: it is USE_OTHER, and no server's SYN-ACK reaches the client
 * rewritten from an address it did not connect to.
 */
static __always_inline enum use_result
table_use(void *map, __u32 gauge, const struct tcpmig_endpoint *key,
	  const struct tcpmig_endpoint *peer, __u8 tcp_flags, __u32 fin,
	  __u32 now, struct capymig_sw_migration *rec)
{
	struct capymig_sw_slot *slot = table_lock(map, key);
	enum use_result res = USE_HIT;
	bool closed;

	if (!slot)
		return USE_MISS;
	*rec = slot->rec;
	closed = (rec->state & CAPYMIG_SW_FIN_MASK) == FIN_BOTH;
	if (closed && opening(tcp_flags)) {
		/* Whatever it connects to: the server's answers find none. */
		res = USE_REUSED;
		slot_clear(slot);
	} else if ((closed && (tcp_flags & TH_SYN)) ||
		   (peer && !entry_of(rec, peer, fin))) {
		res = USE_OTHER;
		if (opening(tcp_flags) && peer)
			forget_former(slot, peer);
	} else if (tcp_flags & TH_RST) {
		res = USE_RESET;
		slot->rec.state = now | (rec->state & CAPYMIG_SW_FLAGS_MASK) |
				  FIN_BOTH;
	} else {
		slot->rec.state = now | (rec->state & CAPYMIG_SW_FLAGS_MASK) |
				  (tcp_flags & TH_FIN ? fin : 0) |
				  (fin == CAPYMIG_SW_FIN_SERVER ?
				   CAPYMIG_SW_ANSWERED : 0);
	}
	bpf_spin_unlock(&slot->lock);

	switch (res) {
	case USE_RESET:
		count(CAPYMIG_SW_CNT_RESET, 1);
		return USE_HIT;
	case USE_REUSED:
		count(CAPYMIG_SW_CNT_CLOSED, 1);
		count(gauge, -1);
		return USE_MISS;
	default:
		return res;
	}
}

/*
 * An Internet checksum @check with a 32-bit word of what it covers changed
 * from @from to @to (RFC 1624, eqn. 3), as csum_replace4() does it.
 */
static __always_inline __u16 csum_replace4(__u16 check, __be32 from,
					   __be32 to)
{
	__u32 sum = (__u16)~check + (~from & 0xffff) + (~from >> 16) +
		    (to & 0xffff) + (to >> 16);

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

static __always_inline __u16 csum_replace2(__u16 check, __be16 from,
					   __be16 to)
{
	__u32 sum = (__u16)~check + (__u16)~from + to;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/*
 * Rewrites the source (@dst false) or destination endpoint of the packet
 * from @from to @to, fixing the IP checksum and, incrementally, the TCP or
 * UDP one (a UDP checksum of zero, none, stays so).  The address and port
 * are written in place (parse() made the headers linear) and so is the IP
 * checksum, which covers its header alone; the layer 4 one is the
 * kernel's to fix, which knows what the skb's checksum state asks.
 */
static __always_inline int set_endpoint(struct packet *p, bool dst,
					const struct tcpmig_endpoint *from,
					const struct tcpmig_endpoint *to)
{
	struct __sk_buff *skb = p->skb;
	__u32 csum_off = p->l4_off + (p->proto == IPPROTO_TCP ?
				      offsetof(struct tcphdr, check) :
				      offsetof(struct udphdr, check));
	__u64 l4_flags = p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	struct iphdr *ip;
	__be16 *ports;

	if (from->addr != to->addr) {
		ip = header(skb, ETH_HLEN, sizeof(*ip));
		if (!ip)
			return -1;
		if (dst)
			ip->daddr = to->addr;
		else
			ip->saddr = to->addr;
		ip->check = csum_replace4(ip->check, from->addr, to->addr);
	}
	if (from->port != to->port) {
		ports = header(skb, p->l4_off, 2 * sizeof(*ports));
		if (!ports)
			return -1;
		ports[dst] = to->port;
	}
	/* Both helpers move the packet: no header pointer past here. */
	if (from->addr != to->addr &&
	    bpf_l4_csum_replace(skb, csum_off, from->addr, to->addr,
				l4_flags | BPF_F_PSEUDO_HDR | sizeof(to->addr)))
		return -1;
	if (from->port != to->port &&
	    bpf_l4_csum_replace(skb, csum_off, from->port, to->port,
				l4_flags | sizeof(to->port)))
		return -1;
	return 0;
}

/* --- servers and their selection ---------------------------------------- */

static __always_inline struct capymig_sw_sched *sched(void)
{
	__u32 bank = READ_ONCE(cfg.sched_bank) & 1;

	return bpf_map_lookup_elem(&scheds, &bank);
}

/*
 * Server @id if it is live by the agent's last look, not draining by its
 * last REGISTER, and on another host than @apart and @apart_too (what the
 * switch sends a host from the host's own address, the host drops as a
 * martian); NULL else.
 */
static __always_inline struct capymig_sw_server *
eligible(__u32 id, __be32 apart, __be32 apart_too)
{
	struct capymig_sw_heartbeat *hb;
	struct capymig_sw_server *srv;

	srv = bpf_map_lookup_elem(&servers, &id);
	hb = bpf_map_lookup_elem(&heartbeats, &id);
	if (!srv || !hb || srv->state != CAPYMIG_SW_SERVER_LIVE ||
	    (hb->flags & TCPMIG_REGISTER_F_DRAINING) ||
	    srv->ep.addr == apart || srv->ep.addr == apart_too)
		return NULL;
	return srv;
}

/*
 * A new connection of @client to the service; @moved, if not NULL, the
 * migration entry of another connection of the same endpoint, which
 * reached a server at its own address and moved.
 */
struct placing {
	const struct tcpmig_endpoint *client;
	const struct capymig_sw_migration *moved;
};

/*
 * Server @id may take the new connection of @ctx, a struct placing: not on
 * the client's host, a pool host that is a client of the service; not the
 * server another connection of the client's endpoint moved to (one
 * 4-tuple there), nor, while that migration is not settled, the one it
 * moves from, whose segments are still its (entry_of()).
 */
static __always_inline bool may_take(const void *ctx, __u32 id)
{
	const struct placing *pl = ctx;
	const struct capymig_sw_migration *moved = pl->moved;
	struct capymig_sw_server *srv;

	srv = eligible(id, pl->client->addr, pl->client->addr);
	if (!srv)
		return false;
	return !moved ||
	       (!ep_eq(&srv->ep, &moved->target) &&
		((moved->state & CAPYMIG_SW_SETTLED) ||
		 !ep_eq(&srv->ep, &moved->former)));
}

/*
 * Server @id may take the migration of @ctx, a TCPMig header: on neither
 * the origin's host (a host of several servers sharing its TCPMig
 * endpoint) nor the client's (a pool host that is a client of the
 * service).
 */
static __always_inline bool may_take_migration(const void *ctx, __u32 id)
{
	const struct tcpmig_msg_hdr *h = ctx;

	return eligible(id, h->origin.addr, h->client.addr) != NULL;
}

/*
 * The first server in @list (@n of @size entries) that @pl's connection
 * may be placed on (may_take()), or CAPYMIG_SW_NO_SERVER.  Tries the entries
 * from @start on, or, with @counter, at its next values: a server skipped
 * does not give the one after it a second turn.  The agent leaves out the
 * servers that are not live; this catches the changes of the last period.
 */
static __always_inline __u32 pick(const struct placing *pl,
				  const __u8 *list, __u32 n, __u32 size,
				  __u32 *counter, __u32 start)
{
	__u32 i, idx;

	for (i = 0; i < size && i < n; i++) {
		idx = (counter ? __sync_fetch_and_add(counter, 1) :
				 start + i) % n;
		if (idx >= size)
			break;
		if (may_take(pl, list[idx]))
			return list[idx];
	}
	return CAPYMIG_SW_NO_SERVER;
}

/*
 * @picked, chosen by round-robin after @prev, becomes @last.  Two CPUs
 * picking at once may both take it: a rare second turn.
 */
static __always_inline __u32 took_turn(__u32 *last, __u32 prev, __u32 picked)
{
	if (picked != CAPYMIG_SW_NO_SERVER)
		__sync_val_compare_and_swap(last, prev, picked);
	return picked;
}

static __always_inline __u32 place_pick(const struct placing *pl,
					const struct capymig_sw_sched *s)
{
	__u32 prev;

	switch (cfg.placement) {
	case CAPYMIG_SW_PLACE_HASH:
		return pick(pl, s->live, s->nlive, CAPYMIG_SW_MAX_SERVERS, NULL,
			    capymig_sw_crc(0, (const __u8 *)pl->client, 6));
	case CAPYMIG_SW_PLACE_LWRR:
		return pick(pl, s->weighted, s->nweighted,
			    CAPYMIG_SW_SCHED_SLOTS, &place_next, 0);
	default:
		prev = READ_ONCE(place_last);
		return took_turn(&place_last, prev,
				 capymig_sw_next(s, prev, may_take, pl));
	}
}

static __always_inline __u32 target_pick(const struct tcpmig_msg_hdr *h,
					 const struct capymig_sw_sched *s)
{
	__u32 prev = READ_ONCE(target_last);

	return took_turn(&target_last, prev,
			 capymig_sw_target(s, cfg.target, prev,
					   may_take_migration, h));
}

static __always_inline struct tcpmig_endpoint *server_ep(__u32 id)
{
	struct capymig_sw_server *srv = bpf_map_lookup_elem(&servers, &id);

	return srv ? &srv->ep : NULL;
}

/* --- TCP ----------------------------------------------------------------- */

/*
 * Whether @p came in on the interface the switch reaches its source
 * through (strict reverse path, RFC 3704): a pool host's address as the
 * source proves nothing on its own, and a client could forge what a
 * server sends from its address -- TCPMig's ABORT or PREPARE-ACK would
 * re-point anyone's connection; a TCP segment would mark a forged SYN's
 * placement answered, or close a connection's entries.  The routing table
 * says where the pool is, as for forwarding; a server reached over
 * several paths (ECMP) is not.
 */
static __always_inline bool from_its_side(const struct packet *p)
{
	struct bpf_fib_lookup fib = {
		.family = AF_INET,
		.l4_protocol = p->proto,
		.ipv4_src = p->dst.addr,
		.ipv4_dst = p->src.addr,
		.ifindex = p->skb->ingress_ifindex,
	};
	long ret = bpf_fib_lookup(p->skb, &fib, sizeof(fib), 0);

	/* The way there is known even without a neighbour entry yet. */
	return (ret == BPF_FIB_LKUP_RET_SUCCESS ||
		ret == BPF_FIB_LKUP_RET_NO_NEIGH) &&
	       fib.ifindex == p->skb->ingress_ifindex;
}

/*
 * A new connection to the service address: place it, and send its SYN to
 * the server chosen.  @moved, if not NULL, is the migration entry of
 * another connection of the client's endpoint (struct placing); placed on
 * the server it left, settled, the new connection takes that server's
 * segments from the old one (forget_former()).  Returns the tc verdict.
 */
static __always_inline int place(struct packet *p, __u32 now,
				 const struct capymig_sw_migration *moved)
{
	struct capymig_sw_migration rec = {
		.state = now,
		.client = p->src,
		.service = cfg.service,
	};
	struct placing pl = { &p->src, moved };
	struct capymig_sw_sched *s = sched();
	struct capymig_sw_slot *slot;
	struct tcpmig_endpoint *to;
	__u32 id;

	id = s ? place_pick(&pl, s) : CAPYMIG_SW_NO_SERVER;
	to = server_ep(id);
	if (!to) {
		count(CAPYMIG_SW_CNT_PLACE_NO_SERVER, 1);
		return TC_ACT_SHOT;
	}
	rec.target = *to;
	if (moved && ep_eq(&moved->former, to)) {
		slot = table_lock(&migrations, &p->src);
		if (slot) {
			forget_former(slot, to);
			bpf_spin_unlock(&slot->lock);
		}
	}
	switch (table_install(&placements, CAPYMIG_SW_CNT_PLACE_ENTRIES, &rec,
			      true)) {
	case INSTALL_FULL:
		count(CAPYMIG_SW_CNT_PLACE_FULL, 1);
		return TC_ACT_SHOT;
	case INSTALL_NEW:
		count(CAPYMIG_SW_CNT_PLACE_ENTRIES, 1);
		break;
	case INSTALL_EVICTED:
		count(CAPYMIG_SW_CNT_PLACE_EVICTED, 1);
		break;
	case INSTALL_UPDATED:	/* the same SYN, on another CPU */
		break;
	}
	count(CAPYMIG_SW_CNT_PLACED, 1);
	count_server(id);
	return set_endpoint(p, true, &p->dst, &rec.target) ? TC_ACT_SHOT :
							      TC_ACT_OK;
}

static __always_inline bool to_service(const struct tcpmig_endpoint *ep)
{
	return cfg.service.addr && ep_eq(ep, &cfg.service);
}

/*
 * From a client: to the server its entries name, or placed.  A SYN to a
 * server's own address, a connection no placement is for, still looks at
 * the client's placement, to clear it if closed (table_use()): left, it
 * would have the server's answers to the new connection rewritten to come
 * from the service, and the client's reset of them sent to the server.
 * One not closed is another connection's (USE_OTHER), left alone: at a
 * server it names, the placed connection and the new one are one 4-tuple,
 * and the placed one may live (Documentation/switch.rst, "Packet walk").
 */
static __always_inline int client_to_server(struct packet *p, __u32 now)
{
	struct capymig_sw_migration rec, placed;
	struct tcpmig_endpoint to = p->dst;
	bool service = to_service(&p->dst);
	enum use_result mig, placement = USE_MISS;
	__u32 *id;

	mig = table_use(&migrations, CAPYMIG_SW_CNT_MIG_ENTRIES, &p->src,
			&p->dst, p->tcp_flags, CAPYMIG_SW_FIN_CLIENT, now,
			&rec);
	if (service || opening(p->tcp_flags))
		placement = table_use(&placements,
				      CAPYMIG_SW_CNT_PLACE_ENTRIES, &p->src,
				      service ? NULL : &p->dst, p->tcp_flags,
				      CAPYMIG_SW_FIN_CLIENT, now, &placed);
	if (mig == USE_HIT) {
		to = rec.target;
	} else if (service) {
		if (placement == USE_HIT) {
			to = placed.target;
		} else if (opening(p->tcp_flags) &&
			   !(p->tcp_flags & TH_RST)) {
			return place(p, now, mig == USE_OTHER ? &rec : NULL);
		} else {
			count(CAPYMIG_SW_CNT_NO_CONN, 1);
			return TC_ACT_SHOT;
		}
	}

	id = bpf_map_lookup_elem(&server_ids, &to);
	if (id)
		count_server(*id);
	if (!ep_eq(&to, &p->dst) && set_endpoint(p, true, &p->dst, &to))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

/*
 * From a server of the pool: make it come from what the client reached.
 * A connection to the service that migrated is its migration entry's: its
 * placement still names the server it was placed on, which another
 * connection of the client's endpoint may now reach at its own address.
 */
static __always_inline int server_to_client(struct packet *p, __u32 now)
{
	struct capymig_sw_migration rec, placed;
	enum use_result mig;

	mig = table_use(&migrations, CAPYMIG_SW_CNT_MIG_ENTRIES, &p->dst,
			&p->src, p->tcp_flags, CAPYMIG_SW_FIN_SERVER, now,
			&rec);
	if (mig == USE_HIT) {
		/* Its placement kept fresh, whoever serves it now. */
		if (to_service(&rec.service))
			table_use(&placements, CAPYMIG_SW_CNT_PLACE_ENTRIES,
				  &p->dst, NULL, p->tcp_flags,
				  CAPYMIG_SW_FIN_SERVER, now, &placed);
	} else if ((mig == USE_OTHER && to_service(&rec.service)) ||
		   table_use(&placements, CAPYMIG_SW_CNT_PLACE_ENTRIES,
			     &p->dst, &p->src, p->tcp_flags,
			     CAPYMIG_SW_FIN_SERVER, now, &rec) != USE_HIT) {
		return TC_ACT_OK;
	}
	if (ep_eq(&rec.service, &p->src))
		return TC_ACT_OK;
	if (set_endpoint(p, false, &p->src, &rec.service))
		return TC_ACT_SHOT;
	p->answer_src = rec.service;
	return TC_ACT_OK;
}

static __always_inline int tcp_packet(struct packet *p)
{
	__u32 now = CAPYMIG_SW_TIME(bpf_ktime_get_coarse_ns());

	if (!p->src.addr || !p->dst.addr)
		return TC_ACT_OK;
	if (bpf_map_lookup_elem(&server_ids, &p->src)) {
		if (!from_its_side(p)) {
			count(CAPYMIG_SW_CNT_SPOOFED, 1);
			return TC_ACT_SHOT;
		}
		return server_to_client(p, now);
	}
	return client_to_server(p, now);
}

/* --- ICMP --------------------------------------------------------------- */

/* The errors whose message quotes the datagram that caused them. */
static __always_inline bool icmp_error(__u8 type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED ||
	       type == ICMP_PARAMETERPROB;
}

/*
 * The server now serving @client's connection to @reached (the service
 * address or a server's own endpoint), in @server; false if the switch
 * knows of none.  The entries are only read: an ICMP error says nothing
 * of the connection's life.
 */
static __always_inline bool serving(const struct tcpmig_endpoint *client,
				    const struct tcpmig_endpoint *reached,
				    struct tcpmig_endpoint *server)
{
	struct capymig_sw_migration rec;

	if ((table_read(&migrations, client, &rec) &&
	     ep_eq(&rec.service, reached)) ||
	    (to_service(reached) && table_read(&placements, client, &rec))) {
		*server = rec.target;
		return true;
	}
	return false;
}

/*
 * Rewrites the error at @p, quoting at @quote a segment from @reached to a
 * client, to go to @server about a segment from it: the quoted source
 * address and port, and the ICMP's destination.  The quoted IP checksum is
 * fixed, and the quoted TCP checksum when the quote holds it, as a NAT
 * does; then the ICMP checksum, for every 16-bit word that changed in
 * what it covers.  All in place: ICMP's checksum is never left to the
 * device (CHECKSUM_PARTIAL), and each change comes with its checksum's,
 * so a checksum the device computed over the packet holds.
 */
static __always_inline int icmp_translate(struct packet *p, __u32 quote,
					  __u32 quote_l4,
					  const struct tcpmig_endpoint *reached,
					  const struct tcpmig_endpoint *server)
{
	__u32 check_off = quote_l4 + offsetof(struct tcphdr, check);
	__be32 from = reached->addr, to = server->addr;
	struct __sk_buff *skb = p->skb;
	__u16 icmp_check, old;
	struct icmphdr *icmp;
	struct iphdr *ip;
	__be16 *word;

	icmp = header(skb, p->l4_off, sizeof(*icmp));
	if (!icmp)
		return TC_ACT_SHOT;
	icmp_check = icmp->checksum;
	if (check_off + sizeof(*word) <= p->l4_off + p->l4_len) {
		word = header(skb, check_off, sizeof(*word));
		if (!word)
			return TC_ACT_SHOT;
		old = *word;
		*word = csum_replace2(csum_replace4(old, from, to),
				      reached->port, server->port);
		icmp_check = csum_replace2(icmp_check, old, *word);
	}
	word = header(skb, quote_l4, sizeof(*word));
	if (!word)
		return TC_ACT_SHOT;
	*word = server->port;
	icmp_check = csum_replace2(icmp_check, reached->port, server->port);

	ip = header(skb, quote, sizeof(*ip));
	if (!ip)
		return TC_ACT_SHOT;
	old = ip->check;
	ip->saddr = to;
	ip->check = csum_replace4(old, from, to);
	icmp_check = csum_replace2(csum_replace4(icmp_check, from, to), old,
				   ip->check);

	/* Each header() may move the packet: one pointer at a time. */
	icmp = header(skb, p->l4_off, sizeof(*icmp));
	if (!icmp)
		return TC_ACT_SHOT;
	icmp->checksum = icmp_check;
	ip = header(skb, ETH_HLEN, sizeof(*ip));
	if (!ip)
		return TC_ACT_SHOT;
	ip->daddr = to;
	ip->check = csum_replace4(ip->check, from, to);
	count(CAPYMIG_SW_CNT_ICMP_TRANSLATED, 1);
	return TC_ACT_OK;
}

/*
 * An ICMP error about a segment a server sent a client goes back to the
 * segment's source as the switch rewrote it: the service address, or the
 * first server of a migrated connection.  Only the server now serving the
 * connection can act on it -- above all on "fragmentation needed": a path
 * narrower than both ends' links would otherwise lose every full-sized
 * segment the server sends, for as long as the connection lives -- so it
 * is sent there, translated.  Anything else ICMP goes on as it came.
 *
 * Errors about a client's segments are left alone: the switch is the
 * servers' last hop, and its own links to them carry the largest packet
 * the clients' side does (Documentation/switch.rst, "ICMP").
 */
static __always_inline int icmp_packet(struct packet *p)
{
	struct tcpmig_endpoint client = {}, reached = {}, server;
	__u32 quote = p->l4_off + sizeof(struct icmphdr), quote_l4;
	struct icmphdr *icmp;
	struct iphdr *ip;
	__be16 *ports;

	icmp = header(p->skb, p->l4_off, sizeof(*icmp));
	if (!icmp || !icmp_error(icmp->type))
		return TC_ACT_OK;
	ip = header(p->skb, quote, sizeof(*ip));
	/* The ICMP goes back to the quoted segment's source. */
	if (!ip || ip->version != 4 || ip->ihl < 5 ||
	    ip->protocol != IPPROTO_TCP || ip->saddr != p->dst.addr ||
	    (ip->frag_off & bpf_htons(IP_OFFSET)))
		return TC_ACT_OK;
	reached.addr = ip->saddr;
	client.addr = ip->daddr;
	quote_l4 = quote + ip->ihl * 4;
	ports = header(p->skb, quote_l4, 2 * sizeof(*ports));
	if (!ports)
		return TC_ACT_OK;
	reached.port = ports[0];
	client.port = ports[1];
	if (!serving(&client, &reached, &server) || ep_eq(&server, &reached))
		return TC_ACT_OK;
	return icmp_translate(p, quote, quote_l4, &reached, &server);
}

/* --- TCPMig -------------------------------------------------------------- */

/*
 * The server number of the endpoint a message names as its sender, if
 * that is a server of the pool at the address the message came from; else
 * CAPYMIG_SW_NO_SERVER.
 */
static __always_inline __u32 sender(const struct tcpmig_endpoint *ep,
				    __be32 saddr)
{
	struct tcpmig_endpoint key = { .addr = ep->addr, .port = ep->port };
	__u32 *id;

	if (ep->addr != saddr)
		return CAPYMIG_SW_NO_SERVER;
	id = bpf_map_lookup_elem(&server_ids, &key);
	return id ? *id : CAPYMIG_SW_NO_SERVER;
}

/* The recent migrations' slot @client's would be in, or NULL. */
static __always_inline struct capymig_sw_recent_slot *
recent_slot(const struct tcpmig_endpoint *client)
{
	__u32 idx = capymig_sw_slot_index(0, client);

	return bpf_map_lookup_elem(&recent_migrations, &idx);
}

/*
 * Where migration @id of @client's connection is among those applied
 * lately, 0 the newest; -1 if it is not.
 */
static __always_inline int applied_at(const struct tcpmig_endpoint *client,
				      __be32 id)
{
	struct capymig_sw_recent_slot *r = recent_slot(client);
	int at = -1;
	__u32 i;

	if (!r || !id)
		return -1;
	bpf_spin_lock(&r->lock);
	if (ep_eq(&r->recent.client, client))
		for (i = 0; i < CAPYMIG_SW_RECENT_IDS; i++)
			if (at < 0 && r->recent.ids[i] == id)
				at = i;
	bpf_spin_unlock(&r->lock);
	return at;
}

/*
 * Notes migration @id of @client's connection as applied, the newest: the
 * slot's earlier client, if another, is forgotten.
 */
static __always_inline void note_applied(const struct tcpmig_endpoint *client,
					 __be32 id)
{
	struct capymig_sw_recent_slot *r = recent_slot(client);
	__u32 i;

	if (!r)
		return;
	bpf_spin_lock(&r->lock);
	if (!ep_eq(&r->recent.client, client)) {
		r->recent.client = *client;
		for (i = 0; i < CAPYMIG_SW_RECENT_IDS; i++)
			r->recent.ids[i] = 0;
	}
	if (r->recent.ids[0] != id) {
		for (i = CAPYMIG_SW_RECENT_IDS - 1; i > 0; i--)
			r->recent.ids[i] = r->recent.ids[i - 1];
		r->recent.ids[0] = id;
	}
	bpf_spin_unlock(&r->lock);
}

/*
 * Takes @client's slot of the recent migrations for a PREPARE-ACK or an
 * ABORT, at @now; false if another CPU holds it.  Each reads the recent
 * ids and the tables, then writes them: at once on two CPUs, an ABORT
 * could find nothing to withdraw while the PREPARE-ACK of its migration,
 * past its checks, installed the redirect to a target the ABORT then
 * told to let go.  No helper runs under a BPF spin lock, so the slot is
 * marked taken for the message's work instead, and a message finding it
 * taken is dropped: its sender sends it again (the origin its PREPARE
 * after 20 ms, the wait doubling up to 200 ms, each answered anew, and
 * its ABORT until the ABORT-ACK).
 */
static __always_inline bool control_take(const struct tcpmig_endpoint *client,
					 __u64 now)
{
	struct capymig_sw_recent_slot *r = recent_slot(client);
	bool taken = false;

	if (!r)
		return false;
	bpf_spin_lock(&r->lock);
	if (r->busy_until_ns <= now) {
		r->busy_until_ns = now + CAPYMIG_SW_CONTROL_NS;
		taken = true;
	}
	bpf_spin_unlock(&r->lock);
	return taken;
}

static __always_inline void control_give(const struct tcpmig_endpoint *client)
{
	struct capymig_sw_recent_slot *r = recent_slot(client);

	if (!r)
		return;
	bpf_spin_lock(&r->lock);
	r->busy_until_ns = 0;
	bpf_spin_unlock(&r->lock);
}

/* Whether @c records the target chosen for @h's migration. */
static __always_inline bool chosen_for(const struct capymig_sw_chosen *c,
				       const struct tcpmig_msg_hdr *h)
{
	return c->migration_id == h->migration_id &&
	       ep_eq(&c->client, &h->client) && ep_eq(&c->origin, &h->origin);
}

/*
 * The target noted for @h's migration (choose_target()), into @target;
 * false if the slot notes none of it (another client's took it since).
 */
static __always_inline bool noted_target(const struct tcpmig_msg_hdr *h,
					 struct tcpmig_endpoint *target)
{
	struct capymig_sw_recent_slot *r = recent_slot(&h->client);
	bool noted = false;

	if (!r)
		return false;
	bpf_spin_lock(&r->lock);
	if (chosen_for(&r->chosen, h)) {
		*target = r->chosen.target;
		noted = true;
	}
	bpf_spin_unlock(&r->lock);
	return noted;
}

/*
 * The server chosen for an earlier copy of PREPARE @h, or for the
 * migration ABORT @h withdraws, if it is still a server of the pool: its
 * number; CAPYMIG_SW_NO_SERVER else.  Noted by its endpoint, which a new
 * agent taking over the tables may number anew.
 */
static __always_inline __u32 chosen_target(const struct tcpmig_msg_hdr *h)
{
	struct tcpmig_endpoint target;
	__u32 *id;

	if (!noted_target(h, &target))
		return CAPYMIG_SW_NO_SERVER;
	id = bpf_map_lookup_elem(&server_ids, &target);
	return id ? *id : CAPYMIG_SW_NO_SERVER;
}

/*
 * Server @id, chosen for the first copy of PREPARE @h, takes the next
 * ones: while it is live or draining.  Draining, it refuses new PREPAREs
 * but answers again one it took; a copy sent elsewhere would leave its
 * hold and draw a stale PREPARE-ACK.
 */
static __always_inline bool takes_copies(__u32 id)
{
	struct capymig_sw_server *srv = bpf_map_lookup_elem(&servers, &id);

	return srv && (srv->state == CAPYMIG_SW_SERVER_LIVE ||
		       srv->state == CAPYMIG_SW_SERVER_DRAINING);
}

/*
 * Notes @target as the server PREPARE @h's migration goes to: the one
 * the origin named, or the one chosen for it.
 */
static __always_inline void choose_target(const struct tcpmig_msg_hdr *h,
					  const struct tcpmig_endpoint *target)
{
	struct capymig_sw_recent_slot *r = recent_slot(&h->client);

	if (!r)
		return;
	bpf_spin_lock(&r->lock);
	r->chosen.client = h->client;
	r->chosen.origin = h->origin;
	r->chosen.migration_id = h->migration_id;
	r->chosen.target = *target;
	bpf_spin_unlock(&r->lock);
}

/*
 * Whether PREPARE-ACK @h comes from the server its PREPARE went to, as
 * noted: a pool member answering for another's migration would redirect
 * the client to itself, the origin would never hear the real target
 * (stale then), and the client would meet a server that expects nothing
 * of it.  So is the late answer of a first choice that stopped taking
 * copies (dead, gone) after the switch chose another.  No note of the
 * migration (another client's took the slot since): true, unchecked.
 */
static __always_inline bool answers_its_prepare(const struct tcpmig_msg_hdr *h)
{
	struct tcpmig_endpoint target;

	return !noted_target(h, &target) || ep_eq(&target, &h->target);
}

/*
 * Points @rec's client's entry at @rec's target, or deletes it if that is
 * the server the connection was placed on (@placed, if @was_placed),
 * whose placement then names the owner again, and @rec's former.  False
 * if there was no entry: it may have gone since it was read, to the
 * reaper or to the client's next SYN on another CPU.
 */
static __always_inline bool repoint(const struct capymig_sw_migration *rec,
				    const struct capymig_sw_migration *placed,
				    bool was_placed)
{
	struct capymig_sw_migration home;

	if (!was_placed || !ep_eq(&rec->target, &placed->target))
		return table_update(&migrations, rec);
	home = *placed;
	home.former = rec->former;
	home.state = rec->state;
	table_update(&placements, &home);
	return table_delete(&migrations, CAPYMIG_SW_CNT_MIG_ENTRIES,
			    &rec->client);
}

/*
 * A PREPARE-ACK on its way to the origin: from now on the client's
 * segments go to the target.  The connection is with its owner: the
 * migration entry's target, else the server it was placed on, else (a
 * first migration of a connection to a server's own address) the origin.
 * Returns the verdict: a PREPARE-ACK not installed is dropped, so that the
 * origin, never hearing it, keeps the connection.
 *
 * The origin sends PREPARE again (after 20 ms, the wait doubling up to
 * 200 ms) until it hears a PREPARE-ACK, and the target answers each, so
 * duplicates follow.  One of the migration in place passes.  One of a
 * migration applied before, delayed past later ones that brought the
 * connection back to its origin, would redirect the client to a server
 * the connection left: its id is among the recent ones (struct
 * capymig_sw_recent), and it is dropped as stale.
 *
 * Back on its original server, a placed connection's entry goes, and its
 * placement names the owner again.  A direct connection's entry stays,
 * pointing at the server the client connected to, until the reaper takes
 * it: with no entry, the switch would take the origin of the next
 * PREPARE-ACK for the owner.
 */
static __always_inline int prepare_ack(const struct tcpmig_msg_hdr *h,
				       __u32 now)
{
	struct tcpmig_endpoint client = { h->client.addr, h->client.port };
	struct tcpmig_endpoint origin = { h->origin.addr, h->origin.port };
	struct capymig_sw_migration mig, placed;
	struct capymig_sw_migration rec = {
		.client = client,
		.target = { h->target.addr, h->target.port },
		.state = now,
	};
	struct tcpmig_endpoint *owner, *original;
	bool migrated, was_placed;

	if (!client.addr) {
		count(CAPYMIG_SW_CNT_MALFORMED, 1);
		return TC_ACT_SHOT;
	}
	migrated = table_read(&migrations, &client, &mig);
	was_placed = table_read(&placements, &client, &placed);
	owner = migrated ? &mig.target : was_placed ? &placed.target : &origin;
	original = was_placed ? &placed.target : migrated ? &mig.service :
							   &origin;
	rec.service = migrated ? mig.service : was_placed ? placed.service :
							    origin;
	rec.former = origin;

	if (ep_eq(&rec.target, owner))
		return TC_ACT_OK;	/* a retransmission: in place already */
	if (!ep_eq(&origin, owner) ||
	    applied_at(&client, h->migration_id) >= 0) {
		count(CAPYMIG_SW_CNT_MIG_STALE, 1);
		return TC_ACT_SHOT;
	}
	if (ep_eq(&rec.target, original)) {
		if (repoint(&rec, &placed, was_placed)) {
			note_applied(&client, h->migration_id);
			count(CAPYMIG_SW_CNT_MIG_RETURNED, 1);
		}
		return TC_ACT_OK;
	}
	/* The connection's FINs so far, as its placement saw them. */
	if (was_placed)
		rec.state |= placed.state & CAPYMIG_SW_FIN_MASK;
	switch (table_install(&migrations, CAPYMIG_SW_CNT_MIG_ENTRIES, &rec,
			      false)) {
	case INSTALL_NEW:
		note_applied(&client, h->migration_id);
		count(CAPYMIG_SW_CNT_MIG_INSTALLED, 1);
		count(CAPYMIG_SW_CNT_MIG_ENTRIES, 1);
		return TC_ACT_OK;
	case INSTALL_UPDATED:
		note_applied(&client, h->migration_id);
		count(CAPYMIG_SW_CNT_MIG_UPDATED, 1);
		return TC_ACT_OK;
	default:
		count(CAPYMIG_SW_CNT_MIG_FULL, 1);
		return TC_ACT_SHOT;
	}
}

/*
 * A CONN-STATE-ACK on its way to the origin: the target imported the
 * connection, which the origin exported before it sent the CONN-STATE.
 * The migration is settled, whether the connection moved on or back to
 * where it was placed: no ABORT of the origin's withdraws it any more
 * (withdrawable()), not even a stale one.  The entries still take the
 * origin's segments as the connection's (entry_of()): sent before the
 * export, one may have waited in a queue of the origin's, or of a CPU's
 * backlog, while the whole migration went by on another CPU.  Only an
 * entry moving the connection from that origin to that target: a later
 * migration's is another pair, unless the connection went back and forth
 * between the two since, and a duplicate of this ACK came that late
 * (capymigd moves no connection back so soon).  The recent migrations do
 * not say which: their slot may be another client's by then.
 */
static __always_inline void settle(const struct tcpmig_msg_hdr *h)
{
	struct tcpmig_endpoint client = { h->client.addr, h->client.port };
	struct tcpmig_endpoint origin = { h->origin.addr, h->origin.port };
	struct tcpmig_endpoint target = { h->target.addr, h->target.port };

	table_settle(&migrations, &client, &target, &origin);
	table_settle(&placements, &client, &target, &origin);
}

/*
 * Whether @rec is the redirect of the migration @h aborts: pointing away
 * from its origin, at the target it names if it names one, and moving
 * the connection from the origin (former).  An entry of the client's
 * endpoint need not be: another of its connections, to a server's own
 * address, may have migrated, and its migration's ABORT must not take
 * this one's redirect.
 */
static __always_inline bool
withdrawable(const struct capymig_sw_migration *rec,
	     const struct tcpmig_msg_hdr *h)
{
	struct tcpmig_endpoint origin = { h->origin.addr, h->origin.port };

	return !ep_eq(&rec->target, &origin) && ep_eq(&rec->former, &origin) &&
	       !(rec->state & CAPYMIG_SW_SETTLED) &&
	       (!h->target.addr || ep_eq(&rec->target, &h->target));
}

/*
 * An ABORT from the origin withdraws the redirect the PREPARE-ACK of its
 * migration installed: the client's segments go back to the origin.  The
 * origin names the target if it heard from it; if not (the PREPARE-ACK
 * was lost after the switch), the entry whose former is the origin is its
 * migration's (withdrawable()).  A migration back to the server the
 * connection was placed on left no entry (its PREPARE-ACK deleted it):
 * the placement then points away from the origin, its former, and an
 * entry pointing at the origin is installed.
 * Whatever it withdraws, the migration is noted as applied: its
 * PREPARE-ACK, should it come after, is stale (the origin kept the
 * connection).  Returns the target the client's segments went to, zero
 * if none.
 */
static __always_inline struct tcpmig_endpoint
abort_migration(const struct tcpmig_msg_hdr *h, __u32 now)
{
	struct tcpmig_endpoint client = { h->client.addr, h->client.port };
	struct tcpmig_endpoint none = { 0 };
	struct capymig_sw_migration mig, placed;
	struct capymig_sw_migration rec = {
		.client = client,
		.target = { h->origin.addr, h->origin.port },
		.state = now,
	};
	bool migrated, was_placed;

	/*
	 * A copy of an earlier migration's ABORT, delayed past a later one's
	 * PREPARE-ACK (the origin migrates again once the first ABORT-ACK is
	 * in): the redirect is the later one's, to the same target maybe.
	 */
	if (applied_at(&client, h->migration_id) > 0) {
		count(CAPYMIG_SW_CNT_MIG_STALE, 1);
		return none;
	}
	note_applied(&client, h->migration_id);
	migrated = table_read(&migrations, &client, &mig);
	was_placed = table_read(&placements, &client, &placed);
	if (!migrated) {
		if (!was_placed || !withdrawable(&placed, h))
			return none;
		rec.service = placed.service;
		rec.state |= placed.state & CAPYMIG_SW_FIN_MASK;
		if (table_install(&migrations, CAPYMIG_SW_CNT_MIG_ENTRIES, &rec,
				  false) != INSTALL_NEW)
			return none;
		count(CAPYMIG_SW_CNT_MIG_ENTRIES, 1);
		count(CAPYMIG_SW_CNT_MIG_ABORTED, 1);
		return placed.target;
	}
	if (!withdrawable(&mig, h))
		return none;
	/*
	 * Back on a direct connection's server, its entry stays (see
	 * prepare_ack()).  An entry gone since it was read leaves nothing
	 * to withdraw: the ABORT must not install one of no service.
	 */
	if (!repoint(&rec, &placed, was_placed))
		return none;
	count(CAPYMIG_SW_CNT_MIG_ABORTED, 1);
	return mig.target;
}

static __always_inline bool register_body(struct packet *p,
					  struct tcpmig_msg_register *reg)
{
	return !bpf_skb_load_bytes(p->skb, p->l4_off + sizeof(struct udphdr) +
				   sizeof(struct tcpmig_msg_hdr),
				   reg, sizeof(*reg));
}

static __always_inline void record(__u32 id,
				   const struct tcpmig_msg_register *reg,
				   __u64 now)
{
	struct capymig_sw_heartbeat *hb = bpf_map_lookup_elem(&heartbeats, &id);

	if (!hb)
		return;
	hb->flags = bpf_ntohl(reg->flags);
	hb->weight = bpf_ntohl(reg->weight);
	hb->last_ns = now;
	count(CAPYMIG_SW_CNT_REGISTERS, 1);
}

static __always_inline void registered(struct packet *p, __u32 id, __u64 now)
{
	struct tcpmig_msg_register reg;

	if (register_body(p, &reg))
		record(id, &reg, now);
}

/*
 * A REGISTER from a server's kernel names its host by address alone
 * (port 0): the module does not know which ports its host serves, and
 * liveness, weight and draining are the host's.  It counts for every
 * server of the pool at that address.  Returns whether there was one.
 */
static __always_inline bool registered_host(struct packet *p, __u64 now)
{
	struct tcpmig_msg_register reg;
	struct capymig_sw_server *srv;
	bool any = false;
	__u64 i;	/* 64 bits: the verifier keeps its bounds when spilled */
	__u32 id;

	if (!register_body(p, &reg))
		return false;
	for (i = 0; i < CAPYMIG_SW_MAX_SERVERS; i++) {
		id = i;
		srv = bpf_map_lookup_elem(&servers, &id);
		if (srv && srv->state != CAPYMIG_SW_SERVER_UNUSED &&
		    srv->ep.addr == p->src.addr) {
			record(id, &reg, now);
			any = true;
		}
	}
	return any;
}

/* Fills in the target the switch chose for a PREPARE. */
static __always_inline int set_target(struct packet *p,
				      const struct tcpmig_endpoint *from,
				      const struct tcpmig_endpoint *to)
{
	struct __sk_buff *skb = p->skb;
	__u32 off = p->l4_off + sizeof(struct udphdr) +
		    offsetof(struct tcpmig_msg_hdr, target);
	__u32 csum_off = p->l4_off + offsetof(struct udphdr, check);
	__u32 old[2], new[2];

	__builtin_memcpy(old, from, sizeof(old));
	__builtin_memcpy(new, to, sizeof(new));
	if (bpf_l4_csum_replace(skb, csum_off, old[0], new[0],
				BPF_F_MARK_MANGLED_0 | sizeof(new[0])) ||
	    bpf_l4_csum_replace(skb, csum_off, old[1], new[1],
				BPF_F_MARK_MANGLED_0 | sizeof(new[1])))
		return -1;
	return bpf_skb_store_bytes(skb, off, new, sizeof(new), 0);
}

/* Sends a message for the switch on to @to's address. */
static __always_inline int forward(struct packet *p,
				   const struct tcpmig_endpoint *to)
{
	struct tcpmig_endpoint dst = { .addr = to->addr, .port = p->dst.port };

	if (!to->addr)
		return TC_ACT_SHOT;
	return set_endpoint(p, true, &p->dst, &dst) ? TC_ACT_SHOT : TC_ACT_OK;
}

/*
 * A PREPARE the switch cannot send on goes back to its origin as a REJECT
 * (NO_TARGET), as a target's refusal would: the origin goes on serving the
 * connection at once.  Dropped, it left the origin to time out and then
 * withdraw, by an ABORT nobody would answer, refusing to move the
 * connection meanwhile.  The PREPARE becomes the REJECT in place: the
 * type, a body, the addresses swapped (the switch's own as the source),
 * the lengths, and the checksums incrementally, as for a rewrite.
 */
static __always_inline int refuse_prepare(struct packet *p)
{
	const __u32 len = sizeof(struct udphdr) +
			  tcpmig_msg_len(TCPMIG_MSG_REJECT);
	struct tcpmig_msg_reject rej = {
		.reason = bpf_htonl(TCPMIG_REJECT_NO_TARGET),
	};
	struct __sk_buff *skb = p->skb;
	__u32 csum_off = p->l4_off + offsetof(struct udphdr, check);
	__u32 msg_off = p->l4_off + sizeof(struct udphdr);
	/* The 16-bit word of the header that holds the type. */
	__u32 type_off = msg_off + offsetof(struct tcpmig_msg_hdr, version);
	__be16 old_len = bpf_htons(p->udp_len), new_len = bpf_htons(len);
	__be16 old_type, new_type, old_tot;
	struct udphdr *udp;
	struct iphdr *ip;
	__u8 *type;

	count(CAPYMIG_SW_CNT_NO_TARGET, 1);
	if (bpf_skb_change_tail(skb, p->l4_off + len, 0))
		return TC_ACT_SHOT;
	ip = header(skb, ETH_HLEN, sizeof(*ip));
	if (!ip)
		return TC_ACT_SHOT;
	old_tot = ip->tot_len;
	ip->tot_len = bpf_htons(p->l4_off - ETH_HLEN + len);
	ip->check = csum_replace2(ip->check, old_tot, ip->tot_len);
	/* Swapped, the addresses sum as before: no checksum changes. */
	ip->saddr = p->dst.addr;
	ip->daddr = p->src.addr;
	udp = header(skb, p->l4_off, sizeof(*udp));
	if (!udp)
		return TC_ACT_SHOT;
	udp->len = new_len;
	type = header(skb, type_off, sizeof(old_type));
	if (!type)
		return TC_ACT_SHOT;
	__builtin_memcpy(&old_type, type, sizeof(old_type));
	type[1] = TCPMIG_MSG_REJECT;
	__builtin_memcpy(&new_type, type, sizeof(new_type));
	/* The helpers move the packet: no header pointer past here. */
	if (bpf_skb_store_bytes(skb, msg_off + sizeof(struct tcpmig_msg_hdr),
				&rej, sizeof(rej), 0) ||
	    bpf_l4_csum_replace(skb, csum_off, old_len, new_len,
				BPF_F_MARK_MANGLED_0 | sizeof(new_len)) ||
	    bpf_l4_csum_replace(skb, csum_off, old_len, new_len,
				BPF_F_MARK_MANGLED_0 | BPF_F_PSEUDO_HDR |
				sizeof(new_len)) ||
	    bpf_l4_csum_replace(skb, csum_off, old_type, new_type,
				BPF_F_MARK_MANGLED_0 | sizeof(new_type)) ||
	    bpf_l4_csum_replace(skb, csum_off, 0, rej.reason,
				BPF_F_MARK_MANGLED_0 | sizeof(rej.reason)))
		return TC_ACT_SHOT;
	p->answer = true;
	return TC_ACT_OK;
}

/*
 * A PREPARE to the switch: choose the target if the origin did not, on
 * another host than the origin's and the client's (may_take_migration()).
 * A copy of a PREPARE goes where the first went, while that server is
 * live or draining (takes_copies(), struct capymig_sw_chosen).  Named or
 * chosen, the target is noted: only its PREPARE-ACK is installed
 * (answers_its_prepare()).
 */
static __always_inline int prepare(struct packet *p,
				   const struct tcpmig_msg_hdr *h)
{
	struct tcpmig_endpoint target = { h->target.addr, h->target.port };
	struct capymig_sw_sched *s;
	struct tcpmig_endpoint *to;
	bool fresh;
	__u32 id;

	if (target.addr) {
		if (target.addr == h->origin.addr ||
		    target.addr == h->client.addr ||
		    !bpf_map_lookup_elem(&server_ids, &target))
			goto no_target;
		choose_target(h, &target);
		count(CAPYMIG_SW_CNT_PREPARES, 1);
		return forward(p, &target);
	}
	id = chosen_target(h);
	fresh = id == CAPYMIG_SW_NO_SERVER || !takes_copies(id);
	if (fresh) {
		s = sched();
		id = s ? target_pick(h, s) : CAPYMIG_SW_NO_SERVER;
	}
	to = server_ep(id);
	if (!to)
		goto no_target;
	if (fresh)
		choose_target(h, to);
	target = *to;
	if (set_target(p, &h->target, &target))
		return TC_ACT_SHOT;
	count(CAPYMIG_SW_CNT_PREPARES, 1);
	return forward(p, &target);
no_target:
	return refuse_prepare(p);
}

static __always_inline int tcpmig_drop(__u32 counter)
{
	count(counter, 1);
	return TC_ACT_SHOT;
}

static __always_inline int tcpmig_packet(struct packet *p)
{
	__u32 len = p->udp_len - sizeof(struct udphdr);
	__u64 now = bpf_ktime_get_coarse_ns();
	struct tcpmig_endpoint target, client, *to;
	struct tcpmig_msg_hdr h;
	bool to_switch;
	int verdict;
	__u32 id;

	/* As strict as the servers: exact lengths, zero padding. */
	if (p->udp_len != p->l4_len || len < sizeof(h) ||
	    bpf_skb_load_bytes(p->skb, p->l4_off + sizeof(struct udphdr), &h,
			       sizeof(h)) ||
	    h.magic != bpf_htons(TCPMIG_MSG_MAGIC) ||
	    h.version != TCPMIG_MSG_VERSION ||
	    h.type < TCPMIG_MSG_PREPARE || h.type > TCPMIG_MSG_MAX ||
	    len < tcpmig_msg_len(h.type) ||
	    (h.type != TCPMIG_MSG_CONN_STATE && h.type != TCPMIG_MSG_SEGMENT &&
	     len != tcpmig_msg_len(h.type)) ||
	    h.client.pad || h.origin.pad || h.target.pad)
		return tcpmig_drop(CAPYMIG_SW_CNT_MALFORMED);
	if (!bpf_map_lookup_elem(&pool_hosts, &p->src.addr) ||
	    !from_its_side(p))
		return tcpmig_drop(CAPYMIG_SW_CNT_SPOOFED);
	if (h.type == TCPMIG_MSG_REGISTER && !h.origin.port) {
		if (p->dst.addr != cfg.switch_addr)
			return tcpmig_drop(CAPYMIG_SW_CNT_MALFORMED);
		if (h.origin.addr != p->src.addr || !registered_host(p, now))
			return tcpmig_drop(CAPYMIG_SW_CNT_SPOOFED);
		return TC_ACT_SHOT;	/* consumed */
	}

	/* Each message names its sender: the origin or the target. */
	switch (h.type) {
	case TCPMIG_MSG_PREPARE_ACK:
	case TCPMIG_MSG_CONN_STATE_ACK:
	case TCPMIG_MSG_REJECT:
	case TCPMIG_MSG_ABORT_ACK:
		id = sender(&h.target, p->src.addr);
		break;
	case TCPMIG_MSG_LOAD:
		/* Only the switch sends LOAD. */
		return tcpmig_drop(CAPYMIG_SW_CNT_MALFORMED);
	default:
		id = sender(&h.origin, p->src.addr);
		break;
	}
	if (id == CAPYMIG_SW_NO_SERVER)
		return tcpmig_drop(CAPYMIG_SW_CNT_SPOOFED);

	to_switch = p->dst.addr == cfg.switch_addr;
	client = (struct tcpmig_endpoint){ h.client.addr, h.client.port };
	switch (h.type) {
	case TCPMIG_MSG_PREPARE:
		return to_switch ? prepare(p, &h) : TC_ACT_OK;
	case TCPMIG_MSG_ABORT:
		if (!control_take(&client, now))
			return tcpmig_drop(CAPYMIG_SW_CNT_MIG_BUSY);
		target = abort_migration(&h, CAPYMIG_SW_TIME(now));
		control_give(&client);
		if (!to_switch)
			return TC_ACT_OK;
		if (!h.target.addr && !target.addr &&
		    (to = server_ep(chosen_target(&h))))
			target = *to;
		if (!h.target.addr && target.addr &&
		    set_target(p, &h.target, &target))
			return TC_ACT_SHOT;
		return forward(p, h.target.addr ? &h.target : &target);
	case TCPMIG_MSG_REGISTER:
		if (!to_switch)
			return tcpmig_drop(CAPYMIG_SW_CNT_MALFORMED);
		registered(p, id, now);
		return TC_ACT_SHOT;	/* consumed */
	case TCPMIG_MSG_PREPARE_ACK:
		if (to_switch)
			return tcpmig_drop(CAPYMIG_SW_CNT_MALFORMED);
		if (!answers_its_prepare(&h))
			return tcpmig_drop(CAPYMIG_SW_CNT_SPOOFED);
		if (!control_take(&client, now))
			return tcpmig_drop(CAPYMIG_SW_CNT_MIG_BUSY);
		verdict = prepare_ack(&h, CAPYMIG_SW_TIME(now));
		control_give(&client);
		return verdict;
	case TCPMIG_MSG_CONN_STATE_ACK:
		if (to_switch)
			return tcpmig_drop(CAPYMIG_SW_CNT_MALFORMED);
		settle(&h);
		return TC_ACT_OK;
	default:
		/* Between servers: CONN-STATE, REJECT, SEGMENT, ABORT-ACK. */
		if (to_switch)
			return tcpmig_drop(CAPYMIG_SW_CNT_MALFORMED);
		return TC_ACT_OK;
	}
}

/* --- the programs -------------------------------------------------------- */

/* Where the TCP flags are, and how far a TCP header is read. */
#define TCP_FLAGS_OFF	13

/*
 * TCPMig never leaves a message to IP fragmentation (a CONN-STATE comes
 * in pieces of its own): a fragmented one is forged, and would pass the
 * switch unchecked, since fragments are not parsed.  Its first fragment,
 * which holds the UDP header, is dropped, and the datagram with it.
 */
static __always_inline bool tcpmig_fragment(struct __sk_buff *skb,
					    const struct iphdr *ip, __u32 ihl)
{
	struct udphdr *udp;

	if (!cfg.tcpmig_port || ip->protocol != IPPROTO_UDP ||
	    (ip->frag_off & bpf_htons(IP_OFFSET)))
		return false;
	udp = header(skb, ETH_HLEN + ihl, sizeof(*udp));
	return udp && udp->dest == cfg.tcpmig_port;
}

enum parsed { PARSED, NOT_PARSED, FORGED };

static __always_inline enum parsed parse(struct __sk_buff *skb,
					 struct packet *p)
{
	struct iphdr *ip;
	__be16 *ports;
	__u32 ihl;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return NOT_PARSED;
	ip = header(skb, ETH_HLEN, sizeof(*ip));
	if (!ip)
		return NOT_PARSED;
	ihl = ip->ihl * 4;
	if (ip->version != 4 || ihl < sizeof(*ip))
		return NOT_PARSED;
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return tcpmig_fragment(skb, ip, ihl) ? FORGED : NOT_PARSED;
	p->skb = skb;
	p->proto = ip->protocol;
	p->l4_off = ETH_HLEN + ihl;
	p->l4_len = bpf_ntohs(ip->tot_len) - ihl;
	p->src = (struct tcpmig_endpoint){ .addr = ip->saddr };
	p->dst = (struct tcpmig_endpoint){ .addr = ip->daddr };
	p->answer_src = (struct tcpmig_endpoint){};
	p->answer = false;
	if (p->proto == IPPROTO_ICMP)
		return PARSED;
	if (p->proto == IPPROTO_TCP) {
		ports = header(skb, p->l4_off, TCP_FLAGS_OFF + 1);
		if (!ports)
			return NOT_PARSED;
		p->tcp_flags = ((__u8 *)ports)[TCP_FLAGS_OFF];
	} else if (p->proto == IPPROTO_UDP) {
		ports = header(skb, p->l4_off, sizeof(struct udphdr));
		if (!ports)
			return NOT_PARSED;
		p->udp_len = bpf_ntohs(((struct udphdr *)ports)->len);
	} else {
		return NOT_PARSED;
	}
	p->src.port = ports[0];
	p->dst.port = ports[1];
	return PARSED;
}

/*
 * A packet too big for the way out goes to the stack, which drops it and
 * tells its source by ICMP the size that would pass, unless it may be
 * fragmented.  The source of a server's segment, rewritten, is the
 * address the client reached: told there, the server would never hear,
 * and would send full-sized segments, lost, for as long as the connection
 * lives.  So such a segment goes to the stack as the server sent it, and
 * the stack tells the server, about its own segment.  This holds with
 * --stack-forwarding too, the one case where it looks up the way out.
 */
static __always_inline int too_big(struct packet *p)
{
	struct iphdr *ip;

	if (!p->answer_src.addr)
		return TC_ACT_OK;
	ip = header(p->skb, ETH_HLEN, sizeof(*ip));
	if (!ip || !(ip->frag_off & bpf_htons(IP_DF)))
		return TC_ACT_OK;
	count(CAPYMIG_SW_CNT_TOO_BIG, 1);
	return set_endpoint(p, false, &p->answer_src, &p->src) ?
	       TC_ACT_SHOT : TC_ACT_OK;
}

/*
 * Sends a packet the switch passes on out of the interface towards its
 * (possibly rewritten) destination, as a switch's forwarding stage does:
 * the kernel's routing table and neighbour cache name the interface and
 * the next hop's address, the program decrements the TTL and writes the
 * Ethernet header.  Without it, each packet went back up through the
 * stack's IP receive and forwarding path, which cost the switch a tenth of
 * its packet rate (Documentation/benchmarks.rst, switch_pps_ratio).
 *
 * What the stack would treat otherwise than plain forwarding is left to
 * it, untouched but for the rewrite: a frame not addressed to this host,
 * a VLAN-tagged one (the lookup would see the parent device), IP options,
 * a destination on the switch itself or with no route or no neighbour
 * entry yet (the stack resolves it, and the next packets come this way),
 * forwarding turned off on the way in, a packet (or GSO segment) larger
 * than the way out's MTU, and a TTL about to expire: the stack drops,
 * answers with ICMP or fragments, as the case asks.
 *
 * The switch's own answers (a REJECT) leave this way even then: from the
 * switch's address, the stack would take them for martians and drop them,
 * as it does where they cannot (the origin then times out as without an
 * answer).
 *
 * The neighbour entry is used as it is, stale or not: bpf_redirect_neigh()
 * would have the kernel confirm a stale one as the stack's output does,
 * at some 5 % of the packet rate on this machine.  A server that comes
 * back with another MAC address asks the switch's own address by ARP
 * before it sends anything, which refreshes the entry.
 */
static __always_inline int route(struct packet *p)
{
	struct bpf_fib_lookup fib = { .family = AF_INET };
	struct __sk_buff *skb = p->skb;
	__u32 check, mtu_len = 0;
	struct ethhdr *eth;
	struct iphdr *ip;
	__be16 *ports;

	if ((stack_forwarding && !p->answer_src.addr && !p->answer) ||
	    skb->pkt_type != PACKET_HOST || skb->vlan_present)
		return TC_ACT_OK;
	ip = header(skb, ETH_HLEN, sizeof(*ip));
	if (!ip || ip->ihl != 5 || ip->ttl <= 1)
		return TC_ACT_OK;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	fib.ifindex = skb->ingress_ifindex;
	/* The ports after the rewrite, for a multipath route's hash. */
	if (p->proto != IPPROTO_ICMP) {
		ports = header(skb, p->l4_off, 2 * sizeof(*ports));
		if (!ports)
			return TC_ACT_OK;
		fib.sport = ports[0];
		fib.dport = ports[1];
	}
	if (bpf_fib_lookup(skb, &fib, sizeof(fib), 0) !=
	    BPF_FIB_LKUP_RET_SUCCESS)
		return TC_ACT_OK;
	if (bpf_check_mtu(skb, fib.ifindex, &mtu_len, 0, BPF_MTU_CHK_SEGS))
		return too_big(p);
	if (stack_forwarding && !p->answer)
		return TC_ACT_OK;

	/* The helpers may have moved the packet: the headers again. */
	eth = header(skb, 0, ETH_HLEN + sizeof(*ip));
	if (!eth)
		return TC_ACT_OK;
	ip = (void *)(eth + 1);
	/* RFC 1624: the TTL is the high byte of its 16-bit word. */
	check = ip->check + bpf_htons(0x0100);
	ip->check = check + (check >= 0xffff);
	ip->ttl--;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	return bpf_redirect(fib.ifindex, 0);
}

/* What the switch does with a packet it parsed, before it is forwarded. */
static __always_inline int verdict(struct packet *p)
{
	if (p->proto == IPPROTO_TCP)
		return tcp_packet(p);
	if (p->proto == IPPROTO_ICMP)
		return icmp_packet(p);
	if (cfg.tcpmig_port && p->dst.port == cfg.tcpmig_port)
		return tcpmig_packet(p);
	return TC_ACT_OK;
}

SEC("tc")
int capymig_switch(struct __sk_buff *skb)
{
	struct packet p;
	int action;

	switch (parse(skb, &p)) {
	case NOT_PARSED:
		return TC_ACT_OK;
	case FORGED:
		return tcpmig_drop(CAPYMIG_SW_CNT_MALFORMED);
	case PARSED:
		break;
	}
	action = verdict(&p);
	return action == TC_ACT_OK ? route(&p) : action;
}

/* Times in units of CAPYMIG_SW_TIME(), @now shifted as in a state. */
struct reap_ctx {
	__u32 now;
	__s32 idle;
	__s32 closed;
	__s32 unanswered;
	__u32 start;
	__u32 reaped;
};

static int reap_slot(__u32 i, struct reap_ctx *ctx)
{
	__u32 idx = ctx->start + i, gauge;
	bool reap, closed, placement;
	struct capymig_sw_slot *slot;
	__s32 timeout;

	placement = idx >= TABLE_SLOTS;
	if (!placement) {
		slot = bpf_map_lookup_elem(&migrations, &idx);
		gauge = CAPYMIG_SW_CNT_MIG_ENTRIES;
	} else {
		idx -= TABLE_SLOTS;
		slot = bpf_map_lookup_elem(&placements, &idx);
		gauge = CAPYMIG_SW_CNT_PLACE_ENTRIES;
	}
	if (!slot)
		return 1;	/* past the end */
	if (!slot_key(slot))
		return 0;

	bpf_spin_lock(&slot->lock);
	closed = (slot->rec.state & CAPYMIG_SW_FIN_MASK) == FIN_BOTH;
	if (closed)
		timeout = ctx->closed;
	else if (placement && !(slot->rec.state & CAPYMIG_SW_ANSWERED))
		timeout = ctx->unanswered;
	else
		timeout = ctx->idle;
	reap = slot->rec.client.addr &&
	       capymig_sw_idle(ctx->now, slot->rec.state) >= timeout;
	if (reap)
		slot_clear(slot);
	bpf_spin_unlock(&slot->lock);

	if (reap) {
		ctx->reaped++;
		count(closed ? CAPYMIG_SW_CNT_CLOSED : CAPYMIG_SW_CNT_REAPED,
		      1);
		count(gauge, -1);
	}
	return 0;
}

/*
 * @ms in units of CAPYMIG_SW_TIME(), rounded down; past the longest idle
 * time a state tells (2^28 units, 3.2 days), one that none reaches.
 */
static __always_inline __s32 reap_units(__u32 ms)
{
	const __u32 longest = 1U << (31 - CAPYMIG_SW_TIME_SHIFT);
	__u64 units = ms * 1000000ULL >> CAPYMIG_SW_TIME_UNIT_SHIFT;

	return units < longest ? units : longest;
}

/*
 * Clears the entries idle too long, closed and idle for the closed
 * timeout, or placements of unanswered SYNs idle for the unanswered
 * timeout, in a range of slots (switch.h).
 */
SEC("tc")
int capymig_switch_reap(struct __sk_buff *skb)
{
	struct reap_ctx ctx = {
		.now = CAPYMIG_SW_TIME(bpf_ktime_get_coarse_ns()),
		.idle = reap_units(skb->cb[CAPYMIG_SW_REAP_IDLE_MS]),
		.closed = reap_units(skb->cb[CAPYMIG_SW_REAP_CLOSED_MS]),
		.unanswered =
			reap_units(skb->cb[CAPYMIG_SW_REAP_UNANSWERED_MS]),
		.start = skb->cb[CAPYMIG_SW_REAP_START],
	};

	bpf_loop(skb->cb[CAPYMIG_SW_REAP_COUNT], reap_slot, &ctx, 0);
	return ctx.reaped;
}

char LICENSE[] SEC("license") = "GPL";
