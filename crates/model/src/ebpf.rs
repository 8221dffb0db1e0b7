//! What the eBPF accounting program counts, as user space reads it (ARCHITECTURE.md §3): the
//! map's key and value layouts (kept in step with `nrec-collect`'s `nrec.bpf.c`) and one
//! reading of the pinned maps. The loader and reader are `nrec-collect`'s; what an interval
//! counts from two readings is `crate::derive::ebpf`'s.

/// The pinned state's layout (and the program's counting rules): a pinned state of another
/// value is replaced, not misread. 2: error-queue reads (MSG_ERRQUEUE) are not received bytes.
/// 3: the key holds the name the process had when it moved the bytes (the value no longer).
/// 4: a third map keeps cgroup names (a container's id, after the container is gone).
/// 5: one entry per (process, namespace, name), its bytes per protocol class and direction
/// in the value — a quarter of the entries to read for a process using TCP and UDP over IPv4
/// and IPv6 (the family was never reported).
/// 6: the state names the database that owns it (an `owner` map) and when it last read.
/// 7: a connection map (`conns`) counts bytes per process and connection in cuts, and three
/// more programs count UDP where the datagram's peer is known.
/// 8: a connection's local port is the one it was bound to, also after a closed socket gave
/// it back (a TCP client reading its answer after the close counted to port 0 before).
/// 9: a datagram a connected UDP socket sends to the address `sendto` gave is that peer's
/// (it was counted to the socket's own peer), and a send refused after its hook noted the
/// destination spends the note.
pub const LAYOUT: u64 = 9;
pub const CONN_KEY_SIZE: usize = 64;
pub const CONN_VALUE_SIZE: usize = 16;
pub const KEY_SIZE: usize = 32;
pub const VALUE_SIZE: usize = 64;

/// The value's byte counters: per protocol class ([`CLASS_TCP`], [`CLASS_UDP`],
/// [`CLASS_OTHER`]) received then sent, at `class * 2 + dir`.
pub const SLOTS: usize = 6;
/// TCP and MPTCP (TCP underneath).
pub(crate) const CLASS_TCP: usize = 0;
/// UDP and UDP-Lite.
pub(crate) const CLASS_UDP: usize = 1;
/// Any other IPv4/IPv6 socket that moves payload (ping sockets, SCTP, raw).
pub(crate) const CLASS_OTHER: usize = 2;

/// One map entry's identity. The process is (tgid, start_ns): a reused pid is a new key; the
/// name is the one it had when it moved the bytes, so a renamed process has an entry per name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub tgid: u32,
    /// Inode of the socket's network namespace.
    pub netns: u32,
    /// The thread-group leader's start time (CLOCK_BOOTTIME ns), /proc/PID/stat field 22 × 10⁷.
    pub start_ns: u64,
    /// The thread-group leader's comm at the send or receive (raw, NUL-padded).
    pub comm: [u8; 16],
}

impl Key {
    pub fn to_bytes(self) -> [u8; KEY_SIZE] {
        let mut b = [0u8; KEY_SIZE];
        b[0..4].copy_from_slice(&self.tgid.to_ne_bytes());
        b[4..8].copy_from_slice(&self.netns.to_ne_bytes());
        b[8..16].copy_from_slice(&self.start_ns.to_ne_bytes());
        b[16..32].copy_from_slice(&self.comm);
        b
    }

    pub fn from_bytes(b: &[u8]) -> Option<Key> {
        if b.len() != KEY_SIZE {
            return None;
        }
        Some(Key {
            tgid: u32::from_ne_bytes(b[0..4].try_into().ok()?),
            netns: u32::from_ne_bytes(b[4..8].try_into().ok()?),
            start_ns: u64::from_ne_bytes(b[8..16].try_into().ok()?),
            comm: b[16..32].try_into().ok()?,
        })
    }

    /// The name: the comm up to its NUL (all 16 bytes when there is none, never past them).
    pub fn name(&self) -> &[u8] {
        let end = self.comm.iter().position(|c| *c == 0).unwrap_or(16);
        &self.comm[..end]
    }

    /// A comm as the key holds it (NUL-padded, at most 16 bytes).
    pub fn comm_of(name: &[u8]) -> [u8; 16] {
        let mut c = [0u8; 16];
        let n = name.len().min(16);
        c[..n].copy_from_slice(&name[..n]);
        c
    }

    /// The process's start time as /proc/PID/stat shows it: clock ticks of `hz` (USER_HZ).
    pub fn start_ticks(&self, hz: u64) -> u64 {
        self.start_ns / (1_000_000_000 / hz.clamp(1, 1_000_000_000))
    }
}

/// What the kernel counted for a key, and who the process was at first insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// Bytes per protocol class and direction (`class * 2 + dir`, dir 0 received, 1 sent).
    pub bytes: [u64; SLOTS],
    pub cgroup: u64,
    pub uid: u32,
}

impl Value {
    pub fn from_bytes(b: &[u8]) -> Option<Value> {
        if b.len() != VALUE_SIZE {
            return None;
        }
        let u64_at = |i: usize| b[i..i + 8].try_into().ok().map(u64::from_ne_bytes);
        let mut bytes = [0u64; SLOTS];
        for (i, slot) in bytes.iter_mut().enumerate() {
            *slot = u64_at(i * 8)?;
        }
        Some(Value {
            bytes,
            cgroup: u64_at(48)?,
            uid: u32::from_ne_bytes(b[56..60].try_into().ok()?),
        })
    }

    /// Bytes of protocol class `class` (received, sent).
    pub fn of_class(&self, class: usize) -> (u64, u64) {
        (self.bytes[class * 2], self.bytes[class * 2 + 1])
    }
}

/// A cgroup name as the cgroup-name map holds it (NUL-padded, at most 96 bytes).
pub fn cgroup_name_of(raw: &[u8]) -> &[u8] {
    &raw[..raw.iter().position(|c| *c == 0).unwrap_or(raw.len())]
}

/// One connection map entry's identity: a process (as [`Key`]) and one of its connections —
/// protocol, local port, remote address and port — in one cut (ARCHITECTURE.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey {
    pub process: Key,
    pub cut: u32,
    pub lport: u16,
    pub rport: u16,
    /// IPv4: the first four bytes (an IPv4-mapped peer is its IPv4).
    pub raddr: [u8; 16],
    /// [`CLASS_TCP`] or [`CLASS_UDP`].
    pub proto: u8,
    /// 4 or 6.
    pub family: u8,
}

impl ConnKey {
    pub fn from_bytes(b: &[u8]) -> Option<ConnKey> {
        if b.len() != CONN_KEY_SIZE {
            return None;
        }
        Some(ConnKey {
            process: Key::from_bytes(&b[..KEY_SIZE])?,
            cut: u32::from_ne_bytes(b[32..36].try_into().ok()?),
            lport: u16::from_ne_bytes(b[36..38].try_into().ok()?),
            rport: u16::from_ne_bytes(b[38..40].try_into().ok()?),
            raddr: b[40..56].try_into().ok()?,
            proto: b[56],
            family: b[57],
        })
    }

    pub fn to_bytes(self) -> [u8; CONN_KEY_SIZE] {
        let mut b = [0u8; CONN_KEY_SIZE];
        b[..KEY_SIZE].copy_from_slice(&self.process.to_bytes());
        b[32..36].copy_from_slice(&self.cut.to_ne_bytes());
        b[36..38].copy_from_slice(&self.lport.to_ne_bytes());
        b[38..40].copy_from_slice(&self.rport.to_ne_bytes());
        b[40..56].copy_from_slice(&self.raddr);
        b[56] = self.proto;
        b[57] = self.family;
        b
    }

    /// The remote address (None: a family the program never writes — a foreign map).
    pub fn remote(&self) -> Option<std::net::IpAddr> {
        match self.family {
            4 => Some(std::net::IpAddr::from([
                self.raddr[0],
                self.raddr[1],
                self.raddr[2],
                self.raddr[3],
            ])),
            6 => Some(std::net::IpAddr::from(self.raddr)),
            _ => None,
        }
    }

    /// "tcp" or "udp" (None: a class the program never writes).
    pub fn proto_name(&self) -> Option<&'static str> {
        match usize::from(self.proto) {
            CLASS_TCP => Some("tcp"),
            CLASS_UDP => Some("udp"),
            _ => None,
        }
    }
}

/// Bytes (received, sent) of one connection in one cut.
pub fn conn_value_of(b: &[u8]) -> Option<(u64, u64)> {
    if b.len() != CONN_VALUE_SIZE {
        return None;
    }
    Some((
        u64::from_ne_bytes(b[..8].try_into().ok()?),
        u64::from_ne_bytes(b[8..].try_into().ok()?),
    ))
}

/// One cut of the connection map: what every connection moved since the previous cut.
#[derive(Debug, Clone, Default)]
pub struct Conns {
    /// The cut now counting (the entries read are of earlier ones).
    pub cut: u32,
    pub entries: Vec<ConnEntry>,
    /// Events (and their bytes) the full connection map could not count in the cut read.
    pub lost_events: u64,
    pub lost_bytes: u64,
}

/// A connection entry: its key and the (received, sent) bytes of its cut.
pub type ConnEntry = (ConnKey, (u64, u64));

/// One read of the pinned maps.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// CLOCK_BOOTTIME ns when this map was created: a new number means new counters.
    pub generation: u64,
    pub entries: Vec<(Key, Value)>,
    /// Events (and their bytes) lost to a full map since it was created.
    pub lost_events: u64,
    pub lost_bytes: u64,
    /// The database whose state this is, when it is not the reader's (lossy text): the
    /// reader reads but never forgets, and says so.
    pub foreign: Option<String>,
    /// The connection map's finished cuts, when this reader owns the state and asked for them
    /// (the recorder: it deletes them once its sample is committed).
    pub conns: Option<Conns>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_round_trip_the_c_layout() {
        let k = Key {
            tgid: 4242,
            netns: 4026531840,
            start_ns: 123_456_789_000,
            comm: Key::comm_of(b"=cmd"),
        };
        let b = k.to_bytes();
        assert_eq!(Key::from_bytes(&b), Some(k));
        assert_eq!(Key::from_bytes(&b[1..]), None);
        assert_eq!(b[0..4], 4242u32.to_ne_bytes());
        assert_eq!(&b[16..21], b"=cmd\0");
        assert_eq!(k.name(), b"=cmd");
        assert_eq!(k.start_ticks(100), 12_345);
        assert_eq!(k.start_ticks(1000), 123_456);
        // a comm of the full 16 bytes without NUL is kept whole, not read past
        let full = Key {
            comm: *b"0123456789abcdef",
            ..k
        };
        assert_eq!(full.name(), b"0123456789abcdef");
        assert_eq!(Key::from_bytes(&full.to_bytes()), Some(full));
        // struct value: bytes[6] (class * 2 + dir), cgroup, uid, pad
        let mut v = [0u8; VALUE_SIZE];
        for i in 0..SLOTS {
            v[i * 8..i * 8 + 8].copy_from_slice(&(1000 + i as u64).to_ne_bytes());
        }
        v[48..56].copy_from_slice(&77u64.to_ne_bytes());
        v[56..60].copy_from_slice(&1000u32.to_ne_bytes());
        let val = Value::from_bytes(&v).unwrap();
        assert_eq!(
            val,
            Value {
                bytes: [1000, 1001, 1002, 1003, 1004, 1005],
                cgroup: 77,
                uid: 1000,
            }
        );
        assert_eq!(val.of_class(CLASS_TCP), (1000, 1001));
        assert_eq!(val.of_class(CLASS_UDP), (1002, 1003));
        assert_eq!(val.of_class(CLASS_OTHER), (1004, 1005));
        assert_eq!(Value::from_bytes(&v[..63]), None);
        // struct ckey: the process key, cut, ports, address, class, family
        let ck = ConnKey {
            process: k,
            cut: 9,
            lport: 40000,
            rport: 443,
            raddr: [10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            proto: CLASS_TCP as u8,
            family: 4,
        };
        let b = ck.to_bytes();
        assert_eq!(b[..32], k.to_bytes());
        assert_eq!(b[36..38], 40000u16.to_ne_bytes());
        assert_eq!(b[56..58], [0, 4]);
        assert_eq!(ConnKey::from_bytes(&b), Some(ck));
        assert_eq!(ck.remote().unwrap().to_string(), "10.0.0.1");
        assert_eq!(ck.proto_name(), Some("tcp"));
        let v6 = ConnKey {
            family: 6,
            raddr: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            ..ck
        };
        assert_eq!(v6.remote().unwrap().to_string(), "fd00::1");
        assert_eq!(ConnKey { family: 0, ..ck }.remote(), None);
        assert_eq!(
            conn_value_of(&[1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]),
            Some((1, 2))
        );
        // a cgroup name filling the field without a NUL is kept whole, never read past
        assert_eq!(cgroup_name_of(&[b'x'; 96]).len(), 96);
        assert_eq!(
            cgroup_name_of(b"docker-abc.scope\0\0junk"),
            b"docker-abc.scope"
        );
    }
}
