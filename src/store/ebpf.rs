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
use super::{decode_varints, encode_varints, from_sql, to_sql};
use crate::ebpf::{Key, Reading, Value};
use crate::recorder::procs::Owner;
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::HashMap;

/// `proc_bytes` source codes of eBPF bytes, per protocol (sock_diag is 1).
pub const SOURCE_EBPF_TCP: i64 = 2;
pub const SOURCE_EBPF_UDP: i64 = 3;
pub const SOURCE_EBPF_OTHER: i64 = 4;

pub fn source_of(proto: u16) -> i64 {
    match proto {
        6 | 262 => SOURCE_EBPF_TCP,  // MPTCP is TCP underneath
        17 | 136 => SOURCE_EBPF_UDP, // UDP-Lite
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
    /// The stored reading's (key, bytes), sorted by key.
    bytes: Vec<(Key, u64)>,
}

/// The stored reading, `ebpf_base.entries`: per map entry in key order, a flag (1: a new
/// process identity follows — tgid, netns inode, start ns, the name as two little-endian
/// u64; 0: the previous entry's), then protocol, direction, family and bytes, as varints.
/// A process's four entries (two protocols … two directions) share one identity: 5 000
/// entries of 1 250 processes take ~80 KB instead of ~180 KB.
fn encode_base(entries: &[&(Key, Value)], blob: &mut Vec<u8>) {
    let half = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
    let mut prev: Option<&Key> = None;
    let mut vals: Vec<u64> = Vec::with_capacity(entries.len() * 6);
    for (k, v) in entries {
        let same = prev.is_some_and(|p| {
            (p.tgid, p.netns, p.start_ns, p.comm) == (k.tgid, k.netns, k.start_ns, k.comm)
        });
        if same {
            vals.push(0);
        } else {
            vals.extend([
                1,
                u64::from(k.tgid),
                u64::from(k.netns),
                k.start_ns,
                half(&k.comm[..8]),
                half(&k.comm[8..]),
            ]);
        }
        vals.extend([
            u64::from(k.proto),
            u64::from(k.dir),
            u64::from(k.family),
            v.bytes,
        ]);
        prev = Some(k);
    }
    encode_varints(vals.into_iter(), blob);
}

pub fn decode_base(blob: &[u8]) -> Option<Vec<(Key, u64)>> {
    let v = decode_varints(blob)?;
    let mut out = Vec::with_capacity(v.len() / 5);
    let mut it = v.into_iter();
    let mut id: Option<(u32, u32, u64, [u8; 16])> = None;
    while let Some(flag) = it.next() {
        if flag == 1 {
            let mut f = [0u64; 5];
            for x in &mut f {
                *x = it.next()?;
            }
            let mut comm = [0u8; 16];
            comm[..8].copy_from_slice(&f[3].to_le_bytes());
            comm[8..].copy_from_slice(&f[4].to_le_bytes());
            id = Some((
                u32::try_from(f[0]).ok()?,
                u32::try_from(f[1]).ok()?,
                f[2],
                comm,
            ));
        } else if flag != 0 {
            return None;
        }
        let (tgid, netns, start_ns, comm) = id?;
        let mut f = [0u64; 4];
        for x in &mut f {
            *x = it.next()?;
        }
        let k = Key {
            tgid,
            netns,
            start_ns,
            comm,
            proto: u16::try_from(f[0]).ok()?,
            dir: u8::try_from(f[1]).ok()?,
            family: u8::try_from(f[2]).ok()?,
        };
        // stored in key order: anything else is not a reading nrec wrote
        if out.last().is_some_and(|(p, _): &(Key, u64)| *p >= k) {
            return None;
        }
        out.push((k, f[3]));
    }
    Some(out)
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
    let bytes =
        decode_base(&blob).ok_or_else(|| super::malformed("ebpf_base: the stored eBPF reading"))?;
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
    let mut blob = Vec::with_capacity(sorted.len() * 16);
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
        for (k, v) in sorted.iter().copied() {
            while stored.next_if(|(b, _)| b < k).is_some() {}
            let before = stored.next_if(|(b, _)| b == k).map_or(0, |(_, n)| *n);
            // entries only grow while the map lives; one absent from the baseline is new
            let d = v.bytes.saturating_sub(before);
            if d == 0 {
                continue;
            }
            // the name the process had when it moved these bytes, whatever it is called now
            let owner = Owner {
                comm: k.name().to_vec(),
                ..resolve(k, v)
            };
            let netns = netns_ids.get(&u64::from(k.netns)).copied();
            let id = procs.id(tx, &owner, netns)?;
            let (rx, txb) = if k.dir == 1 { (0, d) } else { (d, 0) };
            bytes.add_proc(id, source_of(k.proto), rx, txb);
            out.rx += rx;
            out.tx += txb;
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

    fn key(tgid: u32, name: &[u8], proto: u16, dir: u8) -> Key {
        Key {
            tgid,
            netns: 4_026_531_840,
            start_ns: 1_234_567_890_123,
            comm: Key::comm_of(name),
            proto,
            dir,
            family: 2,
        }
    }

    fn value(bytes: u64) -> Value {
        Value {
            bytes,
            calls: 1,
            cgroup: 0,
            uid: 0,
        }
    }

    #[test]
    fn the_stored_reading_round_trips_and_shares_identities() {
        let mut entries = [
            (key(7, b"b", 17, 0), value(5)),
            (key(7, b"a", 6, 1), value(u64::MAX)),
            (key(7, b"a", 6, 0), value(0)),
            (key(9, b"0123456789abcdef", 6, 1), value(300)),
        ];
        entries.sort_by_key(|(k, _)| *k);
        let refs: Vec<&(Key, Value)> = entries.iter().collect();
        let mut blob = Vec::new();
        encode_base(&refs, &mut blob);
        let back = decode_base(&blob).unwrap();
        assert_eq!(
            back,
            entries
                .iter()
                .map(|(k, v)| (*k, v.bytes))
                .collect::<Vec<_>>()
        );
        // the second entry of process 7 named "a" carries no identity: a flag, protocol,
        // direction, family (1 byte each) and its bytes (u64::MAX: 10)
        let (mut one, mut two) = (Vec::new(), Vec::new());
        encode_base(&refs[..1], &mut one);
        encode_base(&refs[..2], &mut two);
        assert_eq!(two.len(), one.len() + 4 + 10);
        assert_eq!(decode_base(&[]), Some(vec![]));
        // what nrec never writes is refused: an entry before any identity, a bad flag,
        // entries out of order, a truncated record
        assert_eq!(decode_base(&[0, 6, 1, 2, 5]), None);
        assert_eq!(decode_base(&[2]), None);
        let mut swapped = Vec::new();
        encode_base(&[refs[1], refs[0]], &mut swapped);
        assert_eq!(decode_base(&swapped), None);
        assert_eq!(decode_base(&blob[..blob.len() - 1]), None);
    }
}
