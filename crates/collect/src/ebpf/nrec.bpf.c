// SPDX-License-Identifier: MIT OR GPL-2.0-only
// nrec's in-kernel accounting: bytes per process, network namespace, protocol and direction,
// counted on the sock:sock_send_length / sock:sock_recv_length tracepoints (kernel >= 6.3).
//
// The key carries the process's identity (tgid + start time), so a reused pid is a new key,
// and the name (comm of the thread-group leader) the process had when it moved the bytes, so
// a process renamed (prctl, exec) is credited under each name for what it moved under it;
// the value carries what userspace cannot learn once the process has exited (uid, cgroup
// id), captured at first insert. Userspace reads the
// cumulative values, stores deltas and deletes the keys of exited processes after the sample
// holding their last bytes is committed. A full map is counted in `nrec_state`, never silent.
//
// No vmlinux.h: the few kernel structures read are declared below with
// preserve_access_index, so libbpf relocates the field offsets against the running kernel's
// BTF (CO-RE).

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define AF_INET 2
#define AF_INET6 10
#define MSG_PEEK 2
#define MSG_ERRQUEUE 0x2000
#define EEXIST 17
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_UDPLITE 136
#define IPPROTO_MPTCP 262

struct kernfs_node {
	const char *name;
} __attribute__((preserve_access_index));

struct cgroup {
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));

struct css_set {
	struct cgroup *dfl_cgrp;
} __attribute__((preserve_access_index));

struct task_struct {
	struct task_struct *group_leader;
	__u64 start_boottime;
	char comm[16];
	struct css_set *cgroups;
} __attribute__((preserve_access_index));

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} __attribute__((preserve_access_index)) possible_net_t;

// (any struct type: CO-RE relocates the field's offset, the 16 bytes are copied whole)
struct in6_addr___nrec {
	__u8 b[16];
};

struct sock_common {
	__be32 skc_daddr;
	__be16 skc_dport;
	__u16 skc_num; // the local port, host order
	unsigned short skc_family;
	possible_net_t skc_net;
	struct in6_addr___nrec skc_v6_daddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
} __attribute__((preserve_access_index));

// The local port as the socket was bound, network order. `skc_num` is zeroed when a closed
// socket gives its port back (`inet_put_port`), and a TCP client may still read its answer
// after that: `inet_sport` keeps the port.
struct inet_sock {
	__be16 inet_sport;
} __attribute__((preserve_access_index));


// 32 bytes; layout shared with src/ebpf/mod.rs (Key).
struct key {
	__u32 tgid;
	__u32 netns;
	__u64 start_ns; // group leader's start_boottime: /proc/PID/stat field 22 in ns
	char comm[16];  // the group leader's comm at the send or receive
};

// Protocol classes: bytes[class * 2 + dir], dir 0 = received, 1 = sent.
#define CLASS_TCP 0   // TCP, MPTCP
#define CLASS_UDP 1   // UDP, UDP-Lite
#define CLASS_OTHER 2 // ping sockets, SCTP, raw: IPv4/IPv6 payload of any other protocol
#define SLOTS 6

// 64 bytes; layout shared with src/ebpf/mod.rs (Value). One entry per process, namespace
// and name, its protocols and directions side by side: reading the map costs per entry
// (a bucket lock and two copies to user space each), so fewer, wider entries read cheaper.
struct value {
	__u64 bytes[SLOTS];
	__u64 cgroup;
	__u32 uid;
	__u32 pad;
};

// The name of a cgroup (its leaf in the unified hierarchy), by cgroup id, written when a
// process of it first moves bytes: "libpod-<id>", "docker-<id>.scope",
// "cri-containerd-<id>.scope" name the container of a process that exits — and whose
// cgroup is removed with it — before the next sample. Read by userspace only then; an LRU
// map, so it needs no cleaning and never fills.
struct cgname {
	char name[96];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct cgname);
} nrec_cgnames SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct key);
	__type(value, struct value);
} nrec_bytes SEC(".maps");

// Bytes per process and connection of the current *cut* (ARCHITECTURE.md §3): the key is the
// process's (as nrec_bytes') and the socket's protocol, local port, remote address and port,
// and the cut it was counted in (`nrec_state[5]`, read at each event). The owner's recorder
// advances the cut at each sample, waits an RCU grace period (every program that read the old
// cut has returned), reads the old cuts' entries — each is an interval's bytes, no baseline —
// and deletes them once the sample is committed. 64 bytes; layout shared with
// nrec_model::ebpf::ConnKey.
struct ckey {
	__u32 tgid;
	__u32 netns;
	__u64 start_ns;
	char comm[16];
	__u32 cut;
	__u16 lport;	// host order
	__u16 rport;	// host order
	__u8 raddr[16]; // IPv4: the first four bytes (an IPv4-mapped IPv6 peer is its IPv4)
	__u8 proto;	// CLASS_TCP or CLASS_UDP
	__u8 family;	// 4 or 6
	__u8 pad[6];
};

struct cval {
	__u64 rx;
	__u64 tx;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, struct ckey);
	__type(value, struct cval);
} nrec_conns SEC(".maps");

// A UDP datagram's peer, noted by the thread about to send or receive it where the peer is
// known (the cgroup hooks below: an unconnected send's destination, a received datagram's
// source) and taken by the same thread's sock_send_length / sock_recv_length that follows:
// an unconnected socket has no peer of its own. Keyed by thread (pid_tgid), rewritten and
// taken in place (`fresh`); LRU, so exited threads' entries never fill it.
struct peer {
	__u8 addr[16];
	__u16 rport; // host order
	__u16 lport; // host order: the socket it is for (0: not known)
	__u8 family; // 4 or 6
	__u8 dir;    // 0 received, 1 sent
	__u8 fresh;  // 1 until taken
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct peer);
} nrec_peers SEC(".maps");

// [0] events lost to a full byte map, [1] their bytes, [2] setup generation (written by
// userspace: CLOCK_BOOTTIME ns at load), [3] layout version (written by userspace), [4] when
// the owner last read the counters (CLOCK_BOOTTIME ns, written by userspace), [5] the current
// cut of the connection map (written by userspace), [6] events lost to a full connection map,
// [7] their bytes, [8] 1 when the cgroup hooks noting UDP peers are attached (userspace),
// [9 + 2 * (cut & 1)] the events lost to a full connection map in a cut, [10 + ...] their
// bytes (read and zeroed by the reader of the cut, after its grace period).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} nrec_state SEC(".maps");

// The database whose counting this is (written by userspace at load, never read here): only
// its recorder deletes entries. Its path's length, then the path.
struct owner {
	__u64 len;
	__u8 path[4088];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct owner);
} nrec_owner SEC(".maps");

static __always_inline void lost_in(__u32 slot, __u64 bytes)
{
	__u32 i = slot;
	__u64 *v = bpf_map_lookup_elem(&nrec_state, &i);
	if (v)
		__sync_fetch_and_add(v, 1);
	i = slot + 1;
	v = bpf_map_lookup_elem(&nrec_state, &i);
	if (v)
		__sync_fetch_and_add(v, bytes);
}

static __always_inline void lost(__u64 bytes)
{
	lost_in(0, bytes);
}

// The process part of a key: the current task's thread group, as nrec_bytes counts it.
static __always_inline void proc_key(struct key *k, struct sock *sk)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_struct *leader = task->group_leader;
	k->tgid = bpf_get_current_pid_tgid() >> 32;
	k->start_ns = leader->start_boottime;
	k->netns = sk->__sk_common.skc_net.net->ns.inum;
	// plain loads (a typed pointer): no probe-read helper call on every send and receive
	__builtin_memcpy(k->comm, leader->comm, sizeof(k->comm));
}

static __always_inline int is_v4_mapped(const __u8 *a)
{
	for (int i = 0; i < 10; i++)
		if (a[i])
			return 0;
	return a[10] == 0xff && a[11] == 0xff;
}

// Sets the key's family and remote address from 16 bytes of IPv6 (a mapped IPv4 is IPv4).
static __always_inline void peer6(struct ckey *c, const __u8 *a)
{
	if (is_v4_mapped(a)) {
		c->family = 4;
		__builtin_memcpy(c->raddr, a + 12, 4);
	} else {
		c->family = 6;
		__builtin_memcpy(c->raddr, a, 16);
	}
}

// A connection the full map could not count: since the map was created, and in its cut.
static __always_inline void conn_lost(__u32 cut, __u64 bytes)
{
	lost_in(6, bytes);
	lost_in(9 + 2 * (cut & 1), bytes);
}

// Adds bytes to connection `c` (its process, protocol and peer filled in) in the current cut.
static __always_inline void conn_add(struct ckey *c, __u8 dir, __u64 bytes)
{
	__u32 i = 5;
	__u64 *cut = bpf_map_lookup_elem(&nrec_state, &i);
	if (!cut)
		return;
	c->cut = (__u32)*cut;
	struct cval *v = bpf_map_lookup_elem(&nrec_conns, c);
	if (!v) {
		struct cval nv = {};
		long err = bpf_map_update_elem(&nrec_conns, c, &nv, BPF_NOEXIST);
		if (err && err != -EEXIST) {
			conn_lost(c->cut, bytes);
			return;
		}
		v = bpf_map_lookup_elem(&nrec_conns, c);
		if (!v) {
			conn_lost(c->cut, bytes);
			return;
		}
	}
	if (dir)
		__sync_fetch_and_add(&v->tx, bytes);
	else
		__sync_fetch_and_add(&v->rx, bytes);
}

// A connection key's socket part for socket `sk`, its peer the socket's own (the process
// part, the first 32 bytes, is the caller's).
static __always_inline void conn_of_sock(struct ckey *c, struct sock *sk, __u8 proto)
{
	c->proto = proto;
	c->lport = sk->__sk_common.skc_num;
	if (!c->lport) {
		// given back (closed): the port it was bound to (read as memory: the tracepoint's
		// pointer is typed `struct sock`, the field lies beyond it)
		__be16 sport = 0;
		bpf_core_read(&sport, sizeof(sport), &((struct inet_sock *)sk)->inet_sport);
		c->lport = bpf_ntohs(sport);
	}
	c->rport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (sk->__sk_common.skc_family == AF_INET6) {
		struct in6_addr___nrec a = {};
		bpf_core_read(&a, sizeof(a), &sk->__sk_common.skc_v6_daddr);
		peer6(c, a.b);
	} else {
		c->family = 4;
		__be32 d = sk->__sk_common.skc_daddr;
		__builtin_memcpy(c->raddr, &d, 4);
	}
}

// UDP or UDP-Lite: the protocols whose unconnected peers the hooks note.
static __always_inline int is_udp(__u32 proto)
{
	return proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE;
}

// This thread's UDP peer note (NULL: it has none yet).
static __always_inline struct peer *thread_note(void)
{
	__u64 tid = bpf_get_current_pid_tgid();
	return bpf_map_lookup_elem(&nrec_peers, &tid);
}

// A UDP datagram's peer: the one its thread noted for this socket and direction — for a
// receive the source recvmsg reported, for a send the destination it was given (a connected
// socket too sends where `sendto` says) — else the socket's own when it is connected. A note
// serves one datagram (taken, whether used or not). Without either the peer is unknown:
// family 0 (the bytes keep their port).
static __always_inline void udp_peer(struct ckey *c, __u8 dir)
{
	struct peer *p = thread_note();
	int own = c->rport != 0; // a connected socket
	if (p && p->fresh && p->dir == dir && (p->lport == 0 || p->lport == c->lport)) {
		c->family = p->family;
		__builtin_memcpy(c->raddr, p->addr, 16);
		c->rport = p->rport;
	} else if (!own) {
		c->family = 0;
		__builtin_memset(c->raddr, 0, 16);
		c->rport = 0;
	}
	// taken in place: an entry per thread stays (LRU), so a datagram costs no allocation
	if (p)
		p->fresh = 0;
}

// Both tracepoints are TP_PROTO(struct sock *sk, int ret, int flags). Attached as
// BTF-enabled raw tracepoints (tp_btf: no tracefs, no event record built) they get those
// three arguments typed, so sk and the task are read with plain loads instead of helper
// calls (measured: a third of the per-call cost with 1 KiB writes).
static __always_inline int account(__u64 *ctx, __u8 dir)
{
	struct sock *sk = (struct sock *)ctx[0];
	int ret = (int)ctx[1];
	int flags = (int)ctx[2];
	if (ret <= 0) {
		// errors and EOF. A UDP send refused after its hook noted the destination leaves
		// a fresh note, which a later send of this thread on a connected socket of the same
		// port would take: spent here (a lookup on failed UDP sends only). A receive's note
		// is replaced by the next one asking who sent.
		if (dir && is_udp(sk->sk_protocol)) {
			struct peer *p = thread_note();
			if (p)
				p->fresh = 0;
		}
		return 0;
	}
	if (dir == 0 && (flags & MSG_PEEK))
		return 0; // a peek does not consume: the later read counts
	if (dir == 0 && (flags & MSG_ERRQUEUE))
		return 0; // the error queue hands back a copy of what this socket sent (ICMP
			  // errors, TX timestamps): no payload received from the network
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0; // unix, netlink, packet sockets: not network traffic

	struct task_struct *task = bpf_get_current_task_btf();
	__u16 proto = sk->sk_protocol;
	__u32 class = CLASS_OTHER;
	if (proto == IPPROTO_TCP || proto == IPPROTO_MPTCP)
		class = CLASS_TCP;
	else if (is_udp(proto))
		class = CLASS_UDP;
	__u32 slot = class * 2 + dir;
	if (slot >= SLOTS)
		return 0; // never: keeps the verifier's bound on the index
	struct key k = {};
	proc_key(&k, sk);
	if (class == CLASS_TCP || class == CLASS_UDP) {
		struct ckey c = {};
		__builtin_memcpy(&c, &k, sizeof(k));
		conn_of_sock(&c, sk, class);
		if (class == CLASS_UDP)
			udp_peer(&c, dir);
		conn_add(&c, dir, ret);
	}

	struct value *v = bpf_map_lookup_elem(&nrec_bytes, &k);
	if (v) {
		__sync_fetch_and_add(&v->bytes[slot], ret);
		return 0;
	}
	struct value nv = {};
	nv.bytes[slot] = ret;
	nv.cgroup = bpf_get_current_cgroup_id();
	struct cgname cn = {};
	const char *cgname = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, name);
	if (cgname && bpf_probe_read_kernel_str(cn.name, sizeof(cn.name), cgname) > 0)
		bpf_map_update_elem(&nrec_cgnames, &nv.cgroup, &cn, BPF_NOEXIST);
	nv.uid = (__u32)bpf_get_current_uid_gid();
	long err = bpf_map_update_elem(&nrec_bytes, &k, &nv, BPF_NOEXIST);
	if (err == -EEXIST) {
		// another CPU inserted it between our lookup and update
		v = bpf_map_lookup_elem(&nrec_bytes, &k);
		if (v) {
			__sync_fetch_and_add(&v->bytes[slot], ret);
			return 0;
		}
	}
	if (err)
		lost(ret);
	return 0;
}

SEC("tp_btf/sock_send_length")
int nrec_send(__u64 *ctx)
{
	return account(ctx, 1);
}

SEC("tp_btf/sock_recv_length")
int nrec_recv(__u64 *ctx)
{
	return account(ctx, 0);
}


static __always_inline void note_peer(struct peer *p)
{
	p->fresh = 1;
	// the thread's entry rewritten in place when it has one (no allocation per datagram)
	struct peer *old = thread_note();
	if (old) {
		*old = *p;
	} else {
		__u64 tid = bpf_get_current_pid_tgid();
		bpf_map_update_elem(&nrec_peers, &tid, p, BPF_ANY);
	}
}

// The cgroup hooks of an unconnected UDP send (sendmsg4/6: the destination it was given)
// and of a UDP receive that asks who sent (recvmsg4/6: the datagram's source, as recvmsg
// reports it), attached to the root of the unified cgroup hierarchy so they run for every
// process: each notes the peer for the tracepoint that follows in the same thread. They
// never change what the call does (return 1: proceed).
static __always_inline int note_addr(struct bpf_sock_addr *ctx, __u8 dir, int v6)
{
	__u32 proto = ctx->protocol;
	if (!is_udp(proto))
		return 1;
	struct peer p = {};
	p.dir = dir;
	p.rport = bpf_ntohs((__u16)ctx->user_port);
	struct bpf_sock *sk = ctx->sk;
	if (sk)
		p.lport = (__u16)sk->src_port;
	// (each hook's context has only its family's address fields)
	if (!v6) {
		__u32 a = ctx->user_ip4;
		p.family = 4;
		__builtin_memcpy(p.addr, &a, 4);
	} else {
		__u32 a[4];
		a[0] = ctx->user_ip6[0];
		a[1] = ctx->user_ip6[1];
		a[2] = ctx->user_ip6[2];
		a[3] = ctx->user_ip6[3];
		struct ckey c = {};
		peer6(&c, (const __u8 *)a);
		__builtin_memcpy(p.addr, c.raddr, 16);
		p.family = c.family;
	}
	note_peer(&p);
	return 1;
}

SEC("cgroup/sendmsg4")
int nrec_send4(struct bpf_sock_addr *ctx)
{
	return note_addr(ctx, 1, 0);
}

SEC("cgroup/sendmsg6")
int nrec_send6(struct bpf_sock_addr *ctx)
{
	return note_addr(ctx, 1, 1);
}

SEC("cgroup/recvmsg4")
int nrec_recv4(struct bpf_sock_addr *ctx)
{
	return note_addr(ctx, 0, 0);
}

SEC("cgroup/recvmsg6")
int nrec_recv6(struct bpf_sock_addr *ctx)
{
	return note_addr(ctx, 0, 1);
}
