//! A sample: what the kernel said at one instant, nothing derived — every network
//! namespace's interface, protocol and socket counters, the daemon's closed sockets and
//! captured flows, eBPF's cumulative per-process counters, and the clocks. The collectors
//! (`nrec-collect`) fill it; the derivations (`crate::derive`) turn it and the stored
//! baseline into an interval.

/// The 16 counters of a /proc/net/dev line, in file order:
/// rx bytes packets errs drop fifo frame compressed multicast,
/// tx bytes packets errs drop fifo colls carrier compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceCounters {
    pub name: Vec<u8>,
    pub counters: [u64; 16],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceSample {
    pub counters: IfaceCounters,
    pub link: LinkInfo,
}

/// A listening TCP socket or an unconnected bound UDP socket.
#[derive(Debug, Clone)]
pub struct Listener {
    /// "tcp" or "udp".
    pub proto: &'static str,
    pub family: u8,
    pub addr: String,
    pub port: u16,
    pub inode: u32,
    pub uid: u32,
}

/// One TCP connection's cumulative byte counters (tcp_info) at the sample.
#[derive(Debug, Clone)]
pub struct TcpSock {
    pub cookie: u64,
    pub lport: u16,
    pub rport: u16,
    pub raddr: String,
    /// 0 when no process holds the socket any more (orphan, TIME_WAIT).
    pub inode: u32,
    pub bytes_acked: u64,
    pub bytes_received: u64,
}

#[derive(Debug, Clone)]
pub struct NsSample {
    pub inode: u64,
    pub name: Vec<u8>,
    pub ifaces: Vec<IfaceSample>,
    /// Protocol counters and gauges, as read (empty when carried: see `carried`, and
    /// [`NsSample::protocol`] for either).
    pub counters: Counters,
    /// A carried namespace's protocol counters (`derive::idle::fill`): the previous sample's
    /// names, shared, and readings — not copied into `counters`.
    pub carried: Option<Carried>,
    /// None when the socket dump was unavailable (then nothing is claimed about sockets).
    pub listeners: Option<Vec<Listener>>,
    /// Every TCP connection outside LISTEN from a complete dump; None when the dump failed.
    pub tcp: Option<Vec<TcpSock>>,
    /// TCP sockets freed since the last drain, with their final counters (daemon mode's
    /// destroy listener; drained *after* the dump, see store::accounting). None: not listened.
    pub closed: Option<Vec<TcpSock>>,
    /// Every bound UDP socket of the dump (local address, port, inode): the table captured
    /// datagrams are credited through.
    pub udp_socks: Vec<(std::net::IpAddr, u16, u32)>,
    /// UDP payload per flow since the last drain (daemon with the pcap fallback).
    pub udp_flows: Option<Flows>,
    /// Created since the previous sample (`netns::born_after`): its counters began at zero,
    /// so its interfaces are counted from zero rather than taken as a baseline.
    pub fresh: bool,
    /// The lowest PID in it (not for the initial or the recorder's own namespace): whose
    /// container, if any, names the namespace.
    pub owner_pid: Option<u32>,
    /// Its interfaces had not moved since the previous sample and nothing else could have
    /// (`derive::idle`): only they were read, its other counters, sockets and listeners are
    /// the previous sample's (`derive::idle::fill`).
    pub idle: bool,
    /// The namespace's cookie (SO_NETNS_COOKIE, Linux 5.14): unique within a boot, where
    /// an inode is reused once its namespace is gone. None: not read, or an older kernel.
    pub cookie: Option<u64>,
}

impl NsSample {
    /// Its protocol counters in order, read or carried: what the derivation and the store
    /// take them from.
    pub fn protocol(&self) -> Protocol<'_> {
        match &self.carried {
            Some(c) => Protocol::Carried(c),
            None => Protocol::Read(&self.counters),
        }
    }

    /// A namespace of which only the interfaces were read: nothing else claimed (no
    /// counters, sockets unknown), not named yet.
    pub fn of_ifaces(ifaces: Vec<IfaceSample>) -> NsSample {
        NsSample {
            inode: 0,
            name: Vec::new(),
            ifaces,
            counters: Vec::new(),
            carried: None,
            listeners: None,
            tcp: None,
            closed: None,
            udp_socks: Vec::new(),
            udp_flows: None,
            fresh: false,
            owner_pid: None,
            idle: false,
            cookie: None,
        }
    }
}

/// How a datagram was seen: leaving the namespace, arriving in it, or on loopback (where it
/// both leaves and arrives: libpcap shows loopback packets once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Seen {
    Out,
    In,
    Loop,
}

/// (src, sport, dst, dport, how seen) → (UDP payload bytes, datagrams).
pub type Flows =
    std::collections::HashMap<(std::net::IpAddr, u16, std::net::IpAddr, u16, Seen), (u64, u64)>;

#[derive(Debug, Clone)]
pub struct Sample {
    /// UTC, epoch milliseconds.
    pub ts_ms: i64,
    /// CLOCK_BOOTTIME in milliseconds: intervals are measured on it.
    pub mono_ms: i64,
    pub boot_id: String,
    pub hostname: Vec<u8>,
    pub kernel: String,
    pub arch: String,
    pub ncpu: u32,
    pub namespaces: Vec<NsSample>,
    /// The eBPF counters read with this sample; None when eBPF is off or unavailable.
    pub ebpf: Option<crate::ebpf::Reading>,
    /// The processes running when /proc was walked for the namespaces (ascending; live
    /// only): the eBPF reading, taken just before, forgets the entries of the others.
    pub pids: Option<Vec<u32>>,
}

/// Protocol counters of one namespace, `source:Group:Name` → raw value, in file order.
pub type Counters = Vec<(Key, u64)>;

/// Protocol counters held as names and values: the names shared by every namespace of their
/// keyset (among 1 000 carried namespaces, one list of ~440 names instead of 1 000 copies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    pub names: std::sync::Arc<[Key]>,
    /// One per name.
    pub values: crate::varint::Readings,
}

/// A namespace's protocol counters however held ([`NsSample::protocol`]).
#[derive(Debug, Clone, Copy)]
pub enum Protocol<'a> {
    Read(&'a Counters),
    Carried(&'a Carried),
}

impl<'a> Protocol<'a> {
    pub fn len(&self) -> usize {
        match self {
            Protocol::Read(c) => c.len(),
            Protocol::Carried(c) => c.names.len().min(c.values.len()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (name, value) in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a Key, u64)> + 'a {
        let (read, carried) = match *self {
            Protocol::Read(c) => (Some(c.iter().map(|(k, v)| (k, *v))), None),
            Protocol::Carried(c) => (None, Some(c.names.iter().zip(c.values.iter()))),
        };
        read.into_iter()
            .flatten()
            .chain(carried.into_iter().flatten())
    }

    /// The values as varints ([`crate::varint`]), appended to `out`: a carried namespace's
    /// as they were read from the store.
    pub fn encode_values(&self, out: &mut Vec<u8>) {
        match self {
            Protocol::Read(c) => crate::varint::encode(c.iter().map(|(_, v)| *v), out),
            Protocol::Carried(c) => out.extend_from_slice(c.values.as_bytes()),
        }
    }

    /// The names in order.
    pub fn names(&self) -> impl Iterator<Item = &'a Key> + 'a {
        // (a carried namespace's without decoding its readings)
        let (read, carried) = match *self {
            Protocol::Read(c) => (Some(c.iter().map(|(k, _)| k)), None),
            Protocol::Carried(c) => (None, Some(c.names.iter().take(self.len()))),
        };
        read.into_iter()
            .flatten()
            .chain(carried.into_iter().flatten())
    }

    /// The counters as (name, value) pairs (what a carried namespace would have held).
    pub fn to_counters(&self) -> Counters {
        self.iter().map(|(k, v)| (k.clone(), v)).collect()
    }
}

pub use crate::counter::Key;

/// An interface's link facts (ioctls in its namespace, or a captured tree's sysfs files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkInfo {
    pub ifindex: Option<u32>,
    /// Mbit/s, when the driver reports one.
    pub speed_mbps: Option<u32>,
    /// 0 half, 1 full.
    pub duplex: Option<u8>,
    /// Software devices (veth, bridge, tun, lo, ...) whose nominal speed is no limit.
    pub is_virtual: bool,
}

/// A process, as the socket-owner scan or the eBPF map names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: i32,
    /// Raw bytes of the comm field (untrusted; may hold any byte but NUL).
    pub comm: Vec<u8>,
    pub uid: u32,
    /// Field 22 of /proc/PID/stat (clock ticks since boot): with pid, the process identity.
    pub start_time: u64,
    /// Target of /proc/PID/exe (raw bytes); None without ptrace access or for kernel threads.
    pub exe: Option<Vec<u8>>,
    /// The cgroup v2 path (the `0::` line of /proc/PID/cgroup), raw bytes.
    pub cgroup: Option<Vec<u8>>,
}
