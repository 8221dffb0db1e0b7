//! Protocol counters (snmp, netstat, snmp6, sockstat, sock_diag states; ~350 per namespace)
//! are stored per sample as what the interval *added*: counters as deltas against the
//! previous sample (the reset rule of ARCHITECTURE.md §4 applied once, at insert), gauges as read.
//! Most counters do not move in a minute, so a sparse vector takes ~130 bytes where the raw
//! readings took ~520 (measured on the simulated week: 5.2 MB → 1.4 MB).
//!
//! The latest raw readings of each namespace are kept in `proto_last` (like `sock_base`,
//! valid only for the very next sample) so the next delta is exact.
//!
//! `counted`: 0 = counters not counted (a baseline: first sample, or the namespace was not
//! seen in the previous sample); 1 = deltas since the previous sample; 2 = counted from zero
//! (the first sample after a reboot).

use super::delta::simple_delta;
use super::insert::Segment;
use super::rollup::{encode_vec, is_gauge};
use super::{decode_varints, encode_varints};
use crate::recorder::Counters;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

fn names_of(conn: &Connection, keyset: i64) -> rusqlite::Result<Vec<String>> {
    let names: String = conn
        .prepare_cached("SELECT names FROM keyset WHERE id = ?1")?
        .query_row([keyset], |r| r.get(0))?;
    Ok(names.split('\n').map(str::to_string).collect())
}

/// Stores one namespace's counters for `sample`.
#[allow(clippy::too_many_arguments)]
pub fn store(
    conn: &Connection,
    sample: i64,
    netns: i64,
    keyset: i64,
    counters: &Counters,
    segment: Segment,
    prev: Option<i64>,
    limit: Option<u64>,
) -> rusqlite::Result<bool> {
    let last: Option<(i64, i64, Vec<u8>)> = conn
        .prepare_cached("SELECT sample, keyset, vals FROM proto_last WHERE netns = ?1")?
        .query_row([netns], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let before: Option<(i64, Vec<u64>)> = match (segment, prev, last) {
        (Segment::Continue, Some(p), Some((s, k, blob))) if s == p => Some((
            k,
            decode_varints(&blob)
                .ok_or_else(|| super::malformed(format!("proto_last of netns {netns}")))?,
        )),
        _ => None,
    };
    let readings: Vec<u64> = counters.iter().map(|(_, v)| *v).collect();
    let (mut counted, mut vals) = deltas(conn, keyset, counters, segment, before)?;
    // A counter that moved more than the links could carry is not a count: the interval's
    // counters are flagged (not counted) rather than summed into every report.
    let implausible = counted > 0
        && limit.is_some_and(|l| {
            counters
                .iter()
                .zip(&vals)
                .any(|((name, _), v)| !is_gauge(name) && *v > l)
        });
    if implausible {
        counted = 0;
        for ((name, _), v) in counters.iter().zip(vals.iter_mut()) {
            if !is_gauge(name) {
                *v = 0;
            }
        }
    }
    let mut blob = Vec::new();
    encode_vec(&vals, &mut blob);
    conn.prepare_cached(
        "INSERT INTO proto_sample (sample, netns, keyset, counted, vals) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![sample, netns, keyset, counted, blob])?;
    let mut raw = Vec::with_capacity(readings.len() * 2);
    encode_varints(readings.into_iter(), &mut raw);
    conn.prepare_cached(
        "INSERT OR REPLACE INTO proto_last (netns, sample, keyset, vals) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![netns, sample, keyset, raw])?;
    Ok(implausible)
}

/// (counted, values): gauges as read, counters by the rule above. `before`: the previous
/// sample's (keyset, readings) when this sample continues it.
fn deltas(
    conn: &Connection,
    keyset: i64,
    counters: &Counters,
    segment: Segment,
    before: Option<(i64, Vec<u64>)>,
) -> rusqlite::Result<(i64, Vec<u64>)> {
    let counted = match (segment, &before) {
        (Segment::Boot, _) => 2,
        (Segment::Continue, Some(_)) => 1,
        _ => 0,
    };
    // The previous readings by position when the keyset is the same, else by name (a
    // counter new in this keyset counts nothing this interval).
    let by_name: Option<HashMap<String, u64>> = match &before {
        Some((k, v)) if *k != keyset => {
            let names = names_of(conn, *k)?;
            Some(names.into_iter().zip(v.iter().copied()).collect())
        }
        _ => None,
    };
    let vals = counters
        .iter()
        .enumerate()
        .map(|(i, (name, cur))| {
            if is_gauge(name) {
                return *cur;
            }
            match (counted, &before, &by_name) {
                (2, _, _) => *cur,
                (1, _, Some(m)) => m.get(name).map_or(0, |p| simple_delta(*p, *cur)),
                (1, Some((_, v)), None) => v.get(i).map_or(0, |p| simple_delta(*p, *cur)),
                _ => 0,
            }
        })
        .collect();
    Ok((counted, vals))
}

/// Schema ≤ 2 → 3: raw readings become deltas (walking each namespace's chain of samples),
/// and each namespace's latest readings go to `proto_last`.
pub fn convert_v2(conn: &Connection) -> rusqlite::Result<u64> {
    type Row = (i64, Option<i64>, Option<i64>, i64, i64, Vec<u8>);
    let rows: Vec<Row> = conn
        .prepare(
            "SELECT s.id, s.prev, s.elapsed_ms, p.netns, p.keyset, p.vals
             FROM proto_sample p JOIN sample s ON s.id = p.sample ORDER BY s.id",
        )?
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    // netns → (sample, keyset, readings) of its latest row
    let mut last: HashMap<i64, (i64, i64, Vec<u64>)> = HashMap::new();
    let mut names: HashMap<i64, Vec<String>> = HashMap::new();
    let mut n = 0;
    for (sample, prev, elapsed, netns, keyset, blob) in rows {
        let readings = decode_varints(&blob)
            .ok_or_else(|| super::malformed(format!("sample {sample}: protocol blob")))?;
        if let std::collections::hash_map::Entry::Vacant(e) = names.entry(keyset) {
            e.insert(names_of(conn, keyset)?);
        }
        let counters: Counters = names[&keyset]
            .iter()
            .cloned()
            .zip(readings.iter().copied())
            .collect();
        let segment = match (elapsed, prev) {
            (None, _) => Segment::Baseline,
            (Some(_), None) => Segment::Boot,
            (Some(_), Some(_)) => Segment::Continue,
        };
        let before = match (prev, last.get(&netns)) {
            (Some(p), Some((s, k, v))) if *s == p => Some((*k, v.clone())),
            _ => None,
        };
        let (counted, vals) = deltas(conn, keyset, &counters, segment, before)?;
        let mut out = Vec::new();
        encode_vec(&vals, &mut out);
        conn.execute(
            "UPDATE proto_sample SET counted = ?3, vals = ?4 WHERE sample = ?1 AND netns = ?2",
            params![sample, netns, counted, out],
        )?;
        last.insert(netns, (sample, keyset, readings));
        n += 1;
    }
    for (netns, (sample, keyset, readings)) in last {
        let mut raw = Vec::new();
        encode_varints(readings.into_iter(), &mut raw);
        conn.execute(
            "INSERT OR REPLACE INTO proto_last (netns, sample, keyset, vals) VALUES (?1, ?2, ?3, ?4)",
            params![netns, sample, keyset, raw],
        )?;
    }
    Ok(n)
}
