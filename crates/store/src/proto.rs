//! Protocol counters as stored: per sample and namespace what the interval added
//! (`proto_sample`, counted by `nrec_model::derive::proto`), and each namespace's latest
//! readings (`proto_last`, like `sock_base` valid only for the very next sample). Schema 2
//! stored raw readings; their conversion runs the same counting rule over the stored chain.

use super::rollup::encode_nonzero;
use super::{decode_varints, encode_varints};
use nrec_model::derive::iface::Segment;
use nrec_model::derive::proto::{Last, Vals, count};
use nrec_model::sample::{Counters, Key};
use rusqlite::{Connection, params};
use std::collections::HashMap;

/// A namespace's counted protocol counters as `proto_sample.vals` holds them (a rollup
/// vector, [`super::rollup::encode_vec`]'s bytes).
pub(crate) fn encode_counted(v: &Vals, out: &mut Vec<u8>) {
    encode_nonzero(
        v.len,
        || v.nonzero.iter().map(|(i, x)| (*i as usize, *x)),
        out,
    );
}

fn names_of(conn: &Connection, keyset: i64) -> rusqlite::Result<Vec<Key>> {
    let names: String = conn
        .prepare_cached("SELECT names FROM keyset WHERE id = ?1")?
        .query_row([keyset], |r| r.get(0))?;
    Ok(names.split('\n').map(Key::new).collect())
}

/// Schema ≤ 2 → 3: raw readings become deltas (walking each namespace's chain of samples),
/// and each namespace's latest readings go to `proto_last`.
pub(crate) fn convert_v2(conn: &Connection) -> rusqlite::Result<u64> {
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
    let mut names: HashMap<i64, Vec<Key>> = HashMap::new();
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
            (Some(p), Some((s, k, v))) if *s == p => Some(Last {
                names: Some(names[k].as_slice().into()),
                readings: nrec_model::varint::Readings::from_values(v.iter().copied()),
            }),
            _ => None,
        };
        let c = count(&counters, segment, before.as_ref(), None);
        let mut out = Vec::new();
        encode_counted(&c.vals, &mut out);
        let counted = c.counted;
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
