//! eBPF readings → per-process bytes of an interval (ARCHITECTURE.md §3).
//!
//! The kernel's counters are cumulative per (process, namespace, name). An interval is
//! *covered* by eBPF when the stored reading belongs to the sample's predecessor and to the
//! same map (its generation): then every entry's growth since that reading is the interval's
//! bytes, and an entry absent from it is new (a process that started, or first used the
//! network, since). Otherwise — the first reading, a map loaded or re-created since, a gap —
//! the reading is only stored as the next baseline and the interval's process bytes come from
//! sock_diag. One source per interval: nothing is counted twice.

use crate::ebpf::{Key, Reading, SLOTS, Value};
use crate::sample::Owner;

/// A reading as stored with a sample: the next sample's baseline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Base {
    /// The sample it was stored with.
    pub sample: i64,
    pub generation: u64,
    pub lost_events: u64,
    pub lost_bytes: u64,
    /// (key, bytes per class and direction), sorted by key.
    pub entries: Vec<(Key, [u64; SLOTS])>,
}

/// What a reading counts against the baseline.
#[derive(Debug, Clone)]
pub struct Counted<'r> {
    /// The interval's process bytes come from eBPF.
    pub covered: bool,
    /// Events and bytes the full map could not count during the interval (covered only).
    pub lost_events: u64,
    pub lost_bytes: u64,
    /// The entries that moved in the interval and by how much (covered only), in key order.
    pub moved: Vec<(&'r Key, &'r Value, [u64; SLOTS])>,
    /// The reading's entries in key order: the next baseline.
    pub sorted: Vec<&'r (Key, Value)>,
}

/// Counts reading `r` for a sample whose predecessor is `prev`, against `base`.
pub fn count<'r>(base: Option<&Base>, prev: Option<i64>, r: &'r Reading) -> Counted<'r> {
    let mut sorted: Vec<&(Key, Value)> = r.entries.iter().collect();
    sorted.sort_unstable_by_key(|e| e.0);
    let mut out = Counted {
        covered: false,
        lost_events: 0,
        lost_bytes: 0,
        moved: Vec::new(),
        sorted,
    };
    let Some(base) = base.filter(|b| Some(b.sample) == prev && b.generation == r.generation) else {
        return out;
    };
    out.covered = true;
    out.lost_events = r.lost_events.saturating_sub(base.lost_events);
    out.lost_bytes = r.lost_bytes.saturating_sub(base.lost_bytes);
    // both in key order: one merge, no hashing (thousands of entries are read every sample)
    let mut stored = base.entries.iter().peekable();
    const NONE: [u64; SLOTS] = [0; SLOTS];
    for (k, v) in out.sorted.iter().map(|e| (&e.0, &e.1)) {
        while stored.next_if(|(b, _)| b < k).is_some() {}
        let before = stored.next_if(|(b, _)| b == k).map_or(&NONE, |(_, n)| n);
        // entries only grow while the map lives; one absent from the baseline is new
        let d: [u64; SLOTS] = std::array::from_fn(|i| v.bytes[i].saturating_sub(before[i]));
        if d != NONE {
            out.moved.push((k, v, d));
        }
    }
    out
}

/// The owner of an entry from the kernel's capture alone (the process has exited).
/// `cgroup`: the path of the cgroup id the kernel captured, when it still exists; else the
/// cgroup's name the kernel recorded for that id (`libpod-<id>`, `docker-<id>.scope`,
/// `nginx.service`), which still names the container or unit of a process whose cgroup was
/// removed with it. `hz`: USER_HZ, the unit of /proc's start times.
pub fn captured_owner(k: &Key, v: &Value, cgroup: Option<Vec<u8>>, hz: u64) -> Owner {
    Owner {
        pid: k.tgid as i32,
        comm: k.name().to_vec(),
        uid: v.uid,
        start_time: k.start_ticks(hz),
        exe: None,
        cgroup,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(tgid: u32) -> Key {
        Key {
            tgid,
            netns: 1,
            start_ns: 5,
            comm: Key::comm_of(b"p"),
        }
    }

    fn val(bytes: [u64; SLOTS]) -> Value {
        Value {
            bytes,
            cgroup: 0,
            uid: 0,
        }
    }

    #[test]
    fn growth_since_the_predecessors_reading_of_the_same_map() {
        let base = Base {
            sample: 9,
            generation: 77,
            lost_events: 1,
            lost_bytes: 10,
            entries: vec![(key(1), [100, 0, 0, 0, 0, 0]), (key(3), [5, 5, 0, 0, 0, 0])],
        };
        let r = Reading {
            generation: 77,
            entries: vec![
                (key(3), val([5, 5, 0, 0, 0, 0])),
                (key(2), val([0, 0, 40, 0, 0, 0])),
                (key(1), val([150, 0, 0, 0, 0, 7])),
            ],
            lost_events: 4,
            lost_bytes: 30,
            foreign: None,
            conns: None,
        };
        let c = count(Some(&base), Some(9), &r);
        assert!(c.covered);
        assert_eq!((c.lost_events, c.lost_bytes), (3, 20));
        let moved: Vec<(u32, [u64; SLOTS])> =
            c.moved.iter().map(|(k, _, d)| (k.tgid, *d)).collect();
        assert_eq!(
            moved,
            vec![(1, [50, 0, 0, 0, 0, 7]), (2, [0, 0, 40, 0, 0, 0])],
            "key order; an unchanged entry is not listed; a new one counts whole"
        );
        assert_eq!(
            c.sorted.iter().map(|e| e.0.tgid).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // another predecessor, or a map re-created since: only the next baseline
        assert!(!count(Some(&base), Some(8), &r).covered);
        let other = Reading {
            generation: 78,
            ..r.clone()
        };
        let c = count(Some(&base), Some(9), &other);
        assert!(!c.covered && c.moved.is_empty() && c.sorted.len() == 3);
    }
}
