//! eBPF readings → per-process bytes of an interval (ARCHITECTURE.md §3).
//!
//! The kernel's counters are cumulative per (process, namespace, protocol, direction). An
//! interval is *covered* by eBPF when the stored reading (`ebpf_base`) belongs to the
//! sample's predecessor and to the same map: then every entry's growth since that reading is
//! the interval's bytes, and an entry absent from it is new (a process that started, or first
//! used the network, since). Otherwise — the first reading, a map loaded or re-created since,
//! a gap — the reading is only stored as the next baseline and the interval's process bytes
//! come from sock_diag. One source per interval: nothing is counted twice.

use super::accounting::Processes;
use super::procbytes::SampleBytes;
use super::{encode_varints, from_sql, read_varint, to_sql};
use crate::ebpf::{Key, Reading, SLOTS, Value};
use crate::recorder::procs::Owner;
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::HashMap;

/// `proc_bytes` source codes of eBPF bytes, per protocol (sock_diag is 1).
pub const SOURCE_EBPF_TCP: i64 = 2;
pub const SOURCE_EBPF_UDP: i64 = 3;
pub const SOURCE_EBPF_OTHER: i64 = 4;

/// The `proc_bytes` source of a protocol class of the kernel's value.
pub fn source_of(class: usize) -> i64 {
    match class {
        crate::ebpf::CLASS_TCP => SOURCE_EBPF_TCP,
        crate::ebpf::CLASS_UDP => SOURCE_EBPF_UDP,
        _ => SOURCE_EBPF_OTHER,
    }
}

pub fn source_name(source: i64) -> &'static str {
    match source {
        1 => "sock_diag",
        super::accounting::SOURCE_PCAP_UDP => "pcap:udp",
        SOURCE_EBPF_TCP => "ebpf:tcp",
        SOURCE_EBPF_UDP => "ebpf:udp",
        SOURCE_EBPF_OTHER => "ebpf:other",
        _ => "?",
    }
}

/// What accounting a reading did for one sample.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The interval's process bytes come from eBPF.
    pub covered: bool,
    /// Events and bytes the full map could not count during the interval (covered only).
    pub lost_events: u64,
    pub lost_bytes: u64,
    /// Bytes credited (rx, tx).
    pub rx: u64,
    pub tx: u64,
}

struct Base {
    sample: i64,
    generation: u64,
    lost_events: u64,
    lost_bytes: u64,
    /// The stored reading's (key, bytes per class and direction), sorted by key.
    bytes: Stored,
}

/// The first varint of a stored reading of this layout ([`crate::ebpf::LAYOUT`] 5). A
/// reading of an earlier layout starts with 0 or 1 (or is empty): it belongs to a map that has
/// been replaced since, so it is no baseline.
const BASE_FORMAT: u64 = 5;

/// The stored reading, `ebpf_base.entries`: [`BASE_FORMAT`], then per map entry in key order
/// its identity (tgid, netns inode, start ns, the name as two little-endian u64) and its
/// bytes per class and direction, as varints. 1 250 processes take ~45 KB.
fn encode_base(entries: &[&(Key, Value)], blob: &mut Vec<u8>) {
    let half = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
    let each = entries.iter().flat_map(|(k, v)| {
        [
            u64::from(k.tgid),
            u64::from(k.netns),
            k.start_ns,
            half(&k.comm[..8]),
            half(&k.comm[8..]),
        ]
        .into_iter()
        .chain(v.bytes)
    });
    encode_varints(std::iter::once(BASE_FORMAT).chain(each), blob);
}

/// A stored reading's entries: key, bytes per class and direction.
pub type Stored = Vec<(Key, [u64; SLOTS])>;

/// A stored reading: Some(None) when it is of an earlier layout (no baseline), None when it
/// is not a reading nrec wrote.
pub fn decode_base(mut blob: &[u8]) -> Option<Option<Stored>> {
    // read in place: a reading of thousands of entries is decoded every sample
    let b = &mut blob;
    if b.is_empty() || read_varint(b)? != BASE_FORMAT {
        return Some(None);
    }
    let mut out: Stored = Vec::with_capacity(b.len() / 20);
    while !b.is_empty() {
        let tgid = u32::try_from(read_varint(b)?).ok()?;
        let netns = u32::try_from(read_varint(b)?).ok()?;
        let start_ns = read_varint(b)?;
        let mut comm = [0u8; 16];
        comm[..8].copy_from_slice(&read_varint(b)?.to_le_bytes());
        comm[8..].copy_from_slice(&read_varint(b)?.to_le_bytes());
        let k = Key {
            tgid,
            netns,
            start_ns,
            comm,
        };
        let mut bytes = [0u64; SLOTS];
        for x in &mut bytes {
            *x = read_varint(b)?;
        }
        // stored in key order: anything else is not a reading nrec wrote
        if out.last().is_some_and(|(p, _)| *p >= k) {
            return None;
        }
        out.push((k, bytes));
    }
    Some(Some(out))
}

fn load_base(tx: &Transaction<'_>) -> rusqlite::Result<Option<Base>> {
    let row: Option<(i64, i64, i64, i64, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT sample, generation, lost_events, lost_bytes, entries FROM ebpf_base WHERE id = 1",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()?;
    let Some((sample, generation, lost_events, lost_bytes, blob)) = row else {
        return Ok(None);
    };
    let Some(bytes) =
        decode_base(&blob).ok_or_else(|| super::malformed("ebpf_base: the stored eBPF reading"))?
    else {
        return Ok(None); // an earlier layout's, of a map replaced since
    };
    Ok(Some(Base {
        sample,
        generation: from_sql(generation),
        lost_events: from_sql(lost_events),
        lost_bytes: from_sql(lost_bytes),
        bytes,
    }))
}

/// Stores reading `r` (its entries `sorted` by key) as the next baseline.
fn store_base(
    tx: &Transaction<'_>,
    sample: i64,
    r: &Reading,
    sorted: &[&(Key, Value)],
) -> rusqlite::Result<()> {
    let mut blob = Vec::with_capacity(sorted.len() * 40);
    encode_base(sorted, &mut blob);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO ebpf_base (id, sample, generation, lost_events, lost_bytes, entries)
         VALUES (1, ?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        sample,
        to_sql(r.generation),
        to_sql(r.lost_events),
        to_sql(r.lost_bytes),
        blob
    ])?;
    Ok(())
}

/// Who a map entry's process is: from /proc while it runs, else what the kernel captured.
pub type Resolve<'a> = dyn FnMut(&Key, &Value) -> Owner + 'a;

/// Accounts reading `r` for sample `sample` (whose predecessor is `prev`): credits the
/// interval's bytes to processes in `bytes` when covered, and stores `r` as the next baseline.
/// `netns_ids`: namespace inode → netns row of this sample.
#[allow(clippy::too_many_arguments)]
pub fn account(
    tx: &Transaction<'_>,
    sample: i64,
    prev: Option<i64>,
    r: &Reading,
    netns_ids: &HashMap<u64, i64>,
    resolve: &mut Resolve<'_>,
    procs: &mut Processes<'_>,
    bytes: &mut SampleBytes,
) -> rusqlite::Result<Outcome> {
    let base = load_base(tx)?;
    let mut sorted: Vec<&(Key, Value)> = r.entries.iter().collect();
    sorted.sort_unstable_by_key(|e| e.0);
    let mut out = Outcome::default();
    let base = base.filter(|b| Some(b.sample) == prev && b.generation == r.generation);
    if let Some(base) = &base {
        out.covered = true;
        out.lost_events = r.lost_events.saturating_sub(base.lost_events);
        out.lost_bytes = r.lost_bytes.saturating_sub(base.lost_bytes);
        // both in key order: one merge, no hashing (5 000 entries are read every sample)
        let mut stored = base.bytes.iter().peekable();
        const NONE: [u64; SLOTS] = [0; SLOTS];
        for (k, v) in sorted.iter().copied() {
            while stored.next_if(|(b, _)| b < k).is_some() {}
            let before = stored.next_if(|(b, _)| b == k).map_or(&NONE, |(_, n)| n);
            // entries only grow while the map lives; one absent from the baseline is new
            let d: [u64; SLOTS] = std::array::from_fn(|i| v.bytes[i].saturating_sub(before[i]));
            if d == NONE {
                continue;
            }
            // the name the process had when it moved these bytes, whatever it is called now
            let owner = Owner {
                comm: k.name().to_vec(),
                ..resolve(k, v)
            };
            let netns = netns_ids.get(&u64::from(k.netns)).copied();
            let id = procs.id(tx, &owner, netns)?;
            for class in 0..SLOTS / 2 {
                let (rx, txb) = (d[class * 2], d[class * 2 + 1]);
                if rx + txb > 0 {
                    bytes.add_proc(id, source_of(class), rx, txb);
                    out.rx += rx;
                    out.tx += txb;
                }
            }
        }
    }
    store_base(tx, sample, r, &sorted)?;
    tx.prepare_cached(
        "UPDATE sample SET ebpf = ?1, ebpf_lost_events = ?2, ebpf_lost_bytes = ?3 WHERE id = ?4",
    )?
    .execute(params![
        i64::from(out.covered),
        to_sql(out.lost_events),
        to_sql(out.lost_bytes),
        sample
    ])?;
    Ok(out)
}

/// The owner of an entry from the kernel's capture alone (the process has exited).
/// `cgroup`: the path of the cgroup id the kernel captured, when it still exists; else the
/// cgroup's name the kernel recorded for that id (`libpod-<id>`, `docker-<id>.scope`,
/// `nginx.service`), which still names the container or unit of a process whose cgroup was
/// removed with it.
pub fn captured_owner(k: &Key, v: &Value, cgroup: Option<Vec<u8>>) -> Owner {
    Owner {
        pid: k.tgid as i32,
        comm: k.name().to_vec(),
        uid: v.uid,
        start_time: k.start_ticks(),
        exe: None,
        cgroup,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(tgid: u32, name: &[u8]) -> Key {
        Key {
            tgid,
            netns: 4_026_531_840,
            start_ns: 1_234_567_890_123,
            comm: Key::comm_of(name),
        }
    }

    fn value(bytes: [u64; SLOTS]) -> Value {
        Value {
            bytes,
            cgroup: 0,
            uid: 0,
        }
    }

    #[test]
    fn the_stored_reading_round_trips() {
        let mut entries = [
            (key(7, b"b"), value([0, 0, 5, 0, 0, 0])),
            (key(7, b"a"), value([0, u64::MAX, 0, 0, 0, 1])),
            (key(9, b"0123456789abcdef"), value([300, 0, 0, 0, 0, 0])),
        ];
        entries.sort_by_key(|(k, _)| *k);
        let refs: Vec<&(Key, Value)> = entries.iter().collect();
        let mut blob = Vec::new();
        encode_base(&refs, &mut blob);
        let back = decode_base(&blob).unwrap().unwrap();
        assert_eq!(
            back,
            entries
                .iter()
                .map(|(k, v)| (*k, v.bytes))
                .collect::<Vec<_>>()
        );
        // an entry of zeros costs its identity and one byte per counter
        let (mut one, mut two) = (Vec::new(), Vec::new());
        encode_base(&refs[..1], &mut one);
        let zero = (key(8, b"z"), value([0; SLOTS]));
        encode_base(&[refs[0], &zero], &mut two);
        assert!(
            two.len() - one.len() <= 2 + 5 + 8 + 2 * 9 + SLOTS,
            "{}",
            two.len()
        );
        assert_eq!(decode_base(&[5]), Some(Some(vec![])));
        // an earlier layout's reading (it starts with its flag, or is empty) is no baseline
        assert_eq!(decode_base(&[1, 7, 0, 0, 0, 0, 6, 1, 2, 5]), Some(None));
        assert_eq!(decode_base(&[]), Some(None));
        // what nrec never writes is refused: entries out of order, a truncated record, a
        // tgid beyond u32
        let mut swapped = Vec::new();
        encode_base(&[refs[1], refs[0]], &mut swapped);
        assert_eq!(decode_base(&swapped), None);
        assert_eq!(decode_base(&blob[..blob.len() - 1]), None);
        let mut big = Vec::new();
        encode_varints(
            [5u64, 1 << 40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0].into_iter(),
            &mut big,
        );
        assert_eq!(decode_base(&big), None);
    }
}
