//! Counter rules (ARCHITECTURE.md §4). One place decides how two raw readings become a delta,
//! for the recorder and for the live view alike.
//!
//! - `cur >= prev`: `cur - prev`.
//! - a decrease is a **reset** (count from zero, as sar does), unless it is a plausible
//!   64-bit wrap: `prev > 2^63` and the paired counter rose. Never vnstat's "every decrease is
//!   a 32-bit wrap", which invents ~4 GiB per reset.
//! - a delta implying more than the link can carry is flagged and not counted.

/// A protocol counter's name (`snmp:Ip:InReceives`), interned: each distinct name is
/// allocated once per process, for the process's life, and shared by every namespace and
/// sample that has it, so the ~440 counters of a namespace cost no allocation to parse and
/// nothing but a pointer copy to copy, carry forward or drop (ARCHITECTURE.md §8, issue 37;
/// a reference count per name had cost two atomic operations per counter and copy). The
/// table keeps at most [`Key::TABLE_MAX`] names and [`Key::TABLE_BYTES`] bytes (every kernel
/// has fewer than 1 000 names); beyond that — only a crafted /proc tree — a name is its own
/// allocation, counted and freed as usual.
#[derive(Clone)]
pub struct Key(Repr);

#[derive(Clone)]
enum Repr {
    /// In the table: the one copy of this name (equal names, equal pointers).
    Kept(&'static Kept),
    Own(std::sync::Arc<str>),
}

/// A name in the table, with what [`is_gauge`] and `derive::idle`'s carrying rule say of it
/// (asked once per name, not once per counter, namespace and sample).
struct Kept {
    name: Box<str>,
    gauge: bool,
    state: crate::derive::idle::State,
    host_wide: bool,
}

impl Key {
    /// The most distinct names the process keeps.
    pub const TABLE_MAX: usize = 1 << 14;
    /// The most bytes of names the process keeps.
    pub const TABLE_BYTES: usize = 1 << 20;

    pub fn new(name: &str) -> Key {
        use std::collections::HashMap;
        use std::sync::Mutex;
        static TABLE: Mutex<Option<(HashMap<&'static str, &'static Kept>, usize)>> =
            Mutex::new(None);
        let mut t = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        let (map, bytes) = t.get_or_insert_with(|| (HashMap::new(), 0));
        if let Some(k) = map.get(name) {
            return Key(Repr::Kept(k));
        }
        if map.len() < Self::TABLE_MAX && *bytes + name.len() <= Self::TABLE_BYTES {
            let k: &'static Kept = Box::leak(Box::new(Kept {
                name: name.into(),
                gauge: is_gauge(name),
                state: crate::derive::idle::State::of(name),
                host_wide: crate::derive::idle::HOST_WIDE.contains(&name),
            }));
            map.insert(&k.name, k);
            *bytes += name.len();
            return Key(Repr::Kept(k));
        }
        Key(Repr::Own(name.into()))
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Kept(k) => &k.name,
            Repr::Own(s) => s,
        }
    }

    /// [`is_gauge`] of the name.
    pub fn is_gauge(&self) -> bool {
        match &self.0 {
            Repr::Kept(k) => k.gauge,
            Repr::Own(s) => is_gauge(s),
        }
    }

    /// What the name tells of carrying its namespace ([`crate::derive::idle::State::of`]).
    pub fn state(&self) -> crate::derive::idle::State {
        match &self.0 {
            Repr::Kept(k) => k.state,
            Repr::Own(s) => crate::derive::idle::State::of(s),
        }
    }

    /// Whether the name is one of [`crate::derive::idle::HOST_WIDE`]'s (the host's value,
    /// which every namespace repeats).
    pub fn is_host_wide(&self) -> bool {
        match &self.0 {
            Repr::Kept(k) => k.host_wide,
            Repr::Own(s) => crate::derive::idle::HOST_WIDE.contains(&&**s),
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, o: &Key) -> bool {
        match (&self.0, &o.0) {
            // one copy per kept name: the pointer is the name
            (Repr::Kept(a), Repr::Kept(b)) => std::ptr::eq(*a, *b),
            _ => self.as_str() == o.as_str(),
        }
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_str().hash(h);
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Key {
    fn cmp(&self, o: &Key) -> std::cmp::Ordering {
        self.as_str().cmp(o.as_str())
    }
}

impl std::ops::Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Key {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for Key {
    fn eq(&self, o: &str) -> bool {
        self.as_str() == o
    }
}

impl PartialEq<&str> for Key {
    fn eq(&self, o: &&str) -> bool {
        self.as_str() == *o
    }
}

impl PartialEq<String> for Key {
    fn eq(&self, o: &String) -> bool {
        self.as_str() == o.as_str()
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Key {
        Key::new(s)
    }
}

impl From<String> for Key {
    fn from(s: String) -> Key {
        Key::new(&s)
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Bits stored in `iface_sample.flags` and shown in CSV/JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// No earlier reading to compare with: stored as a baseline, nothing counted.
    Baseline = 1,
    /// A counter went down: counted from zero.
    Reset = 2,
    /// A counter wrapped past 2^64.
    Wrap = 4,
    /// The delta implied more than the link speed: not counted.
    Implausible = 8,
    /// The interface appeared since the previous sample: counted from zero.
    New = 16,
    /// Same name, new ifindex: the device was re-created; counted from zero.
    Recreated = 32,
    /// Same ifindex, new name.
    Renamed = 64,
    /// Moved in from another namespace with its counters: continued.
    Moved = 128,
    /// First sample after a reboot: counted from zero over the time since boot.
    Boot = 256,
}

pub(crate) const ALL_FLAGS: [Flag; 9] = [
    Flag::Baseline,
    Flag::Reset,
    Flag::Wrap,
    Flag::Implausible,
    Flag::New,
    Flag::Recreated,
    Flag::Renamed,
    Flag::Moved,
    Flag::Boot,
];

impl Flag {
    pub fn name(self) -> &'static str {
        match self {
            Flag::Baseline => "baseline",
            Flag::Reset => "reset",
            Flag::Wrap => "wrap",
            Flag::Implausible => "implausible",
            Flag::New => "new",
            Flag::Recreated => "recreated",
            Flag::Renamed => "renamed",
            Flag::Moved => "moved",
            Flag::Boot => "boot",
        }
    }
}

/// "reset|new" style text of a flag set (empty when none).
pub fn flags_text(bits: i64) -> String {
    ALL_FLAGS
        .iter()
        .filter(|f| bits & (**f as i64) != 0)
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join("|")
}

/// Assumed ceiling when the link speed is unknown or nominal (virtual devices).
pub(crate) const DEFAULT_LIMIT_BITS_PER_S: u64 = 400_000_000_000;

/// Delta of one counter; `paired_rose` says whether its companion counter increased.
/// Returns (delta, flag) where flag is None, Reset or Wrap.
pub(crate) fn counter_delta(prev: u64, cur: u64, paired_rose: bool) -> (u64, Option<Flag>) {
    if cur >= prev {
        (cur - prev, None)
    } else if prev > (1u64 << 63) && paired_rose {
        ((u64::MAX - prev) + cur + 1, Some(Flag::Wrap))
    } else {
        (cur, Some(Flag::Reset))
    }
}

/// Index of the counter whose rise makes a wrap of counter `i` plausible: bytes pair with
/// packets of the same direction, everything else with that direction's packets.
fn paired(i: usize) -> usize {
    match i {
        0 => 1,
        1 => 0,
        8 => 9,
        9 => 8,
        i if i < 8 => 1,
        _ => 9,
    }
}

/// Deltas of the 16 interface counters. Returns the deltas and the flags raised.
pub fn iface_deltas(prev: &[u64; 16], cur: &[u64; 16]) -> ([u64; 16], i64) {
    let mut d = [0u64; 16];
    let mut flags = 0i64;
    for i in 0..16 {
        let p = paired(i);
        let (v, f) = counter_delta(prev[i], cur[i], cur[p] > prev[p]);
        d[i] = v;
        if let Some(f) = f {
            flags |= f as i64;
        }
    }
    (d, flags)
}

/// Whether `bytes` in `elapsed_ms` is more than a link of `limit_bits_per_s` can carry
/// (10 % and 64 KiB of slack for timer jitter).
pub fn implausible(bytes: u64, elapsed_ms: i64, limit_bits_per_s: u64) -> bool {
    bytes > max_bytes(elapsed_ms, limit_bits_per_s)
}

/// The most bytes a link of `limit_bits_per_s` can carry in `elapsed_ms` (with the slack of
/// [`implausible`]). Packet, error and drop counters are bounded by it too: a packet is at
/// least a byte.
pub(crate) fn max_bytes(elapsed_ms: i64, limit_bits_per_s: u64) -> u64 {
    let elapsed_ms = elapsed_ms.max(0) as u128;
    let max = u128::from(limit_bits_per_s) / 8 * elapsed_ms / 1000 * 11 / 10 + 65536;
    u64::try_from(max).unwrap_or(u64::MAX)
}

/// Gauges and protocol counters at report time: `cur - prev` with the same reset rule
/// (no paired counter: a decrease is always a reset, never an invented wrap).
pub fn simple_delta(prev: u64, cur: u64) -> u64 {
    counter_delta(prev, cur, false).0
}

/// Protocol counters that are readings, not cumulative counters: summed as readings (a
/// mean is sum / readings), never differenced.
pub fn is_gauge(name: &str) -> bool {
    name.starts_with("sockstat")
        || name.starts_with("diag:")
        || name.starts_with("softnet:backlog_len:")
        || matches!(
            name.strip_prefix("snmp:").unwrap_or(name),
            "Tcp:CurrEstab"
                | "Tcp:RtoAlgorithm"
                | "Tcp:RtoMin"
                | "Tcp:RtoMax"
                | "Tcp:MaxConn"
                | "Ip:Forwarding"
                | "Ip:DefaultTTL"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_its_name_kept_or_not() {
        let (a, b) = (
            Key::new("snmp:Ip:InReceives"),
            Key::from(String::from("snmp:Ip:InReceives")),
        );
        match (&a.0, &b.0) {
            (Repr::Kept(x), Repr::Kept(y)) => assert!(std::ptr::eq(*x, *y), "one copy"),
            _ => panic!("an ordinary name is kept"),
        }
        // the kept answers are is_gauge's and State::of's, kept or not
        use crate::derive::idle::State;
        for (n, state) in [
            ("sockstat:TCP:inuse", State::Other),
            ("snmp:Tcp:CurrEstab", State::Other),
            ("snmp:Tcp:InSegs", State::Other),
            ("diag:tcp4:LISTEN", State::Other),
            ("diag:tcp6:FIN_WAIT2", State::Timed),
            ("diag:tcp4:SYN_RECV", State::TimedUnseen),
            ("sockstat6:UDP6:inuse", State::Sockets),
        ] {
            assert_eq!(Key::new(n).is_gauge(), is_gauge(n), "{n}");
            assert_eq!(Key(Repr::Own(n.into())).is_gauge(), is_gauge(n), "{n}");
            assert_eq!(Key::new(n).state(), state, "{n}");
            assert_eq!(Key(Repr::Own(n.into())).state(), state, "{n}");
        }
        // and is_host_wide's the list's, kept or not
        for n in [
            "sockstat:TCP:mem",
            "sockstat:TCP:inuse",
            "sockstat:UDP:mem",
            "snmp:Ip:InReceives",
        ] {
            let want = crate::derive::idle::HOST_WIDE.contains(&n);
            assert_eq!(Key::new(n).is_host_wide(), want, "{n}");
            assert_eq!(Key(Repr::Own(n.into())).is_host_wide(), want, "{n}");
        }
        // a name beyond the table is its own allocation, and still the same name
        let own = Key(Repr::Own("snmp:Ip:InReceives".into()));
        assert_eq!(own, a, "an own name equals the kept one");
        assert_eq!(a, own, "and the kept one the own one");
        assert!(own == "snmp:Ip:InReceives");
        assert_ne!(Key::new("snmp:Ip:InDelivers"), a);
        assert_ne!(Key(Repr::Own("x".into())), a);
        let hash = |k: &Key| {
            use std::hash::{BuildHasher, RandomState};
            static S: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
            S.get_or_init(RandomState::new).hash_one(k)
        };
        assert_eq!(hash(&own), hash(&a));
        assert_eq!(own.cmp(&a), std::cmp::Ordering::Equal);
        assert!(Key::new("a:b") < Key(Repr::Own("a:c".into())));
    }

    #[test]
    fn reset_counts_from_zero_never_a_32_bit_wrap() {
        // vnstat would call this a 32-bit wrap and add ~4 GiB.
        assert_eq!(
            counter_delta(3_000_000_000, 1000, true),
            (1000, Some(Flag::Reset))
        );
    }

    #[test]
    fn wrap_only_when_plausible() {
        let prev = u64::MAX - 99;
        assert_eq!(counter_delta(prev, 50, true), (150, Some(Flag::Wrap)));
        assert_eq!(counter_delta(prev, 50, false), (50, Some(Flag::Reset)));
        assert_eq!(counter_delta(10, 50, false), (40, None));
    }

    #[test]
    fn iface_rules_and_plausibility() {
        let mut prev = [0u64; 16];
        prev[0] = u64::MAX - 9; // rx bytes about to wrap
        prev[1] = 100;
        prev[8] = 5000;
        prev[9] = 50;
        let mut cur = prev;
        cur[0] = 10;
        cur[1] = 110;
        cur[8] = 7; // tx reset
        cur[9] = 1;
        let (d, f) = iface_deltas(&prev, &cur);
        assert_eq!(d[0], 20);
        assert_eq!(d[1], 10);
        assert_eq!(d[8], 7);
        assert_eq!(d[9], 1);
        assert_eq!(f, Flag::Wrap as i64 | Flag::Reset as i64);
        assert_eq!(flags_text(f), "reset|wrap");
        // 1 Gbit/s for 1 s is 125 MB.
        assert!(!implausible(130_000_000, 1000, 1_000_000_000));
        assert!(implausible(200_000_000, 1000, 1_000_000_000));
    }
}
