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

struct sock_common {
	unsigned short skc_family;
	possible_net_t skc_net;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
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

// [0] events lost to a full map, [1] their bytes, [2] setup generation (written by userspace:
// CLOCK_BOOTTIME ns at load), [3] layout version (written by userspace), [4] when the owner
// last read the counters (CLOCK_BOOTTIME ns, written by userspace).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
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

static __always_inline void lost(__u64 bytes)
{
	__u32 i = 0;
	__u64 *v = bpf_map_lookup_elem(&nrec_state, &i);
	if (v)
		__sync_fetch_and_add(v, 1);
	i = 1;
	v = bpf_map_lookup_elem(&nrec_state, &i);
	if (v)
		__sync_fetch_and_add(v, bytes);
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
	if (ret <= 0)
		return 0; // errors and EOF
	if (dir == 0 && (flags & MSG_PEEK))
		return 0; // a peek does not consume: the later read counts
	if (dir == 0 && (flags & MSG_ERRQUEUE))
		return 0; // the error queue hands back a copy of what this socket sent (ICMP
			  // errors, TX timestamps): no payload received from the network
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0; // unix, netlink, packet sockets: not network traffic

	struct task_struct *task = bpf_get_current_task_btf();
	struct task_struct *leader = task->group_leader;
	__u16 proto = sk->sk_protocol;
	__u32 class = CLASS_OTHER;
	if (proto == IPPROTO_TCP || proto == IPPROTO_MPTCP)
		class = CLASS_TCP;
	else if (proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE)
		class = CLASS_UDP;
	__u32 slot = class * 2 + dir;
	if (slot >= SLOTS)
		return 0; // never: keeps the verifier's bound on the index
	struct key k = {};
	k.tgid = bpf_get_current_pid_tgid() >> 32;
	k.start_ns = leader->start_boottime;
	k.netns = sk->__sk_common.skc_net.net->ns.inum;
	bpf_core_read(&k.comm, sizeof(k.comm), &leader->comm);

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
