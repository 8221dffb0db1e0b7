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
    bytes: HashMap<Key, u64>,
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
    let v = decode_varints(&blob)
        .filter(|v| v.len() % 9 == 0)
        .ok_or_else(|| super::malformed("ebpf_base: the stored eBPF reading"))?;
    let bytes = v
        .chunks(9)
        .map(|c| {
            let mut comm = [0u8; 16];
            comm[..8].copy_from_slice(&c[3].to_le_bytes());
            comm[8..].copy_from_slice(&c[4].to_le_bytes());
            (
                Key {
                    tgid: c[0] as u32,
                    netns: c[1] as u32,
                    start_ns: c[2],
                    comm,
                    proto: c[5] as u16,
                    dir: c[6] as u8,
                    family: c[7] as u8,
                },
                c[8],
            )
        })
        .collect();
    Ok(Some(Base {
        sample,
        generation: from_sql(generation),
        lost_events: from_sql(lost_events),
        lost_bytes: from_sql(lost_bytes),
        bytes,
    }))
}

fn store_base(tx: &Transaction<'_>, sample: i64, r: &Reading) -> rusqlite::Result<()> {
    let mut entries: Vec<&(Key, Value)> = r.entries.iter().collect();
    entries.sort_unstable_by_key(|(k, _)| *k);
    let mut blob = Vec::with_capacity(entries.len() * 36);
    let half = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
    encode_varints(
        entries.iter().flat_map(|(k, v)| {
            [
                u64::from(k.tgid),
                u64::from(k.netns),
                k.start_ns,
                half(&k.comm[..8]),
                half(&k.comm[8..]),
                u64::from(k.proto),
                u64::from(k.dir),
                u64::from(k.family),
                v.bytes,
            ]
        }),
        &mut blob,
    );
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
    let mut out = Outcome::default();
    let base = base.filter(|b| Some(b.sample) == prev && b.generation == r.generation);
    if let Some(base) = &base {
        out.covered = true;
        out.lost_events = r.lost_events.saturating_sub(base.lost_events);
        out.lost_bytes = r.lost_bytes.saturating_sub(base.lost_bytes);
        for (k, v) in &r.entries {
            // entries only grow while the map lives; one absent from the baseline is new
            let d = v
                .bytes
                .saturating_sub(base.bytes.get(k).copied().unwrap_or(0));
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
    store_base(tx, sample, r)?;
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
