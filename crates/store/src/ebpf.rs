//! The stored eBPF reading (`ebpf_base`): the baseline the next sample's eBPF bytes are
//! counted against (`nrec_model::derive::ebpf`), one row, rewritten with every sample.

use super::{encode_varints, from_sql, read_varint, to_sql};
use nrec_model::derive::EbpfInterval;
use nrec_model::derive::ebpf::Base;
use nrec_model::ebpf::{Key, SLOTS, Value};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// The first varint of a stored reading of this layout ([`nrec_model::ebpf::LAYOUT`] 5). A
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

/// The stored reading (None: none yet, or one of an earlier layout, of a map replaced since).
pub(crate) fn load_base(conn: &Connection) -> rusqlite::Result<Option<Base>> {
    let row: Option<(i64, i64, i64, i64, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT sample, generation, lost_events, lost_bytes, entries FROM ebpf_base WHERE id = 1",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()?;
    let Some((sample, generation, lost_events, lost_bytes, blob)) = row else {
        return Ok(None);
    };
    let Some(entries) =
        decode_base(&blob).ok_or_else(|| super::malformed("ebpf_base: the stored eBPF reading"))?
    else {
        return Ok(None);
    };
    Ok(Some(Base {
        sample,
        generation: from_sql(generation),
        lost_events: from_sql(lost_events),
        lost_bytes: from_sql(lost_bytes),
        entries,
    }))
}

/// Stores the interval's reading (its entries in key order) as the next baseline.
pub(crate) fn store_base(
    tx: &Transaction<'_>,
    sample: i64,
    e: &EbpfInterval<'_>,
) -> rusqlite::Result<()> {
    let mut blob = Vec::with_capacity(e.sorted.len() * 40);
    encode_base(&e.sorted, &mut blob);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO ebpf_base (id, sample, generation, lost_events, lost_bytes, entries)
         VALUES (1, ?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        sample,
        to_sql(e.generation),
        to_sql(e.total_lost_events),
        to_sql(e.total_lost_bytes),
        blob
    ])?;
    Ok(())
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
