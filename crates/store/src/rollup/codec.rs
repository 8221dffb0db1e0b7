//! The rollup vector encodings: a vector of sums as varints in the smallest of three layouts,
//! and a day's quarter-hour vectors in one blob. Bytes from the database are untrusted:
//! decoding refuses malformed input (None) instead of panicking.

use super::QUARTERS;
use crate::{encode_varints, read_varint, unzigzag, zigzag};
use std::collections::BTreeMap;

/// Adds `v` into `into` element by element (growing it; sums saturate).
pub fn add_into(into: &mut Vec<u64>, v: &[u64]) {
    if into.len() < v.len() {
        into.resize(v.len(), 0);
    }
    for (a, b) in into.iter_mut().zip(v) {
        *a = a.saturating_add(*b);
    }
}

fn put(v: u64, out: &mut Vec<u8>) {
    encode_varints(std::iter::once(v), out);
}

fn varint_len(v: u64) -> usize {
    (64 - v.leading_zeros() as usize).max(1).div_ceil(7)
}

/// A vector as varints: a header `len << 2 | mode`, then the values in the smallest of three
/// layouts — 0 dense (every value), 1 sparse (count of non-zero values, then (gap, value)
/// pairs), 2 bitmap (a bit per position, then the non-zero values). Interface and protocol
/// vectors are mostly zeros in a few fixed places: the bitmap is ~20 % smaller there.
pub(crate) fn encode_vec(v: &[u64], out: &mut Vec<u8>) {
    encode_nonzero(
        v.len(),
        || {
            v.iter()
                .enumerate()
                .filter(|(_, x)| **x != 0)
                .map(|(i, x)| (i, *x))
        },
        out,
    );
}

/// [`encode_vec`] of the vector of `len` values whose non-zero ones are `nz()`'s (position,
/// value) pairs, ascending: the same bytes, from a vector held sparse (a namespace's
/// counted protocol counters).
pub(crate) fn encode_nonzero<I: Iterator<Item = (usize, u64)>>(
    len: usize,
    nz: impl Fn() -> I,
    out: &mut Vec<u8>,
) {
    // the three layouts' sizes in one pass (this runs for every stored vector)
    let (mut gaps, mut values, mut count, mut next) = (0, 0, 0usize, 0usize);
    for (i, x) in nz() {
        gaps += varint_len((i - next) as u64);
        values += varint_len(x);
        count += 1;
        next = i + 1;
    }
    // (a zero is one byte)
    let dense = len - count + values;
    let sparse = varint_len(count as u64) + gaps + values;
    let bitmap = len.div_ceil(8) + values;
    let header = (len as u64) << 2;
    if dense <= sparse && dense <= bitmap {
        put(header, out);
        let mut at = 0;
        for (i, x) in nz() {
            out.resize(out.len() + (i - at), 0);
            put(x, out);
            at = i + 1;
        }
        out.resize(out.len() + (len - at), 0);
    } else if sparse <= bitmap {
        put(header | 1, out);
        put(count as u64, out);
        let mut next = 0usize;
        for (i, x) in nz() {
            put((i - next) as u64, out);
            put(x, out);
            next = i + 1;
        }
    } else {
        put(header | 2, out);
        let start = out.len();
        out.resize(start + len.div_ceil(8), 0);
        for (i, _) in nz() {
            out[start + i / 8] |= 1 << (i % 8);
        }
        for (_, x) in nz() {
            put(x, out);
        }
    }
}

pub(crate) fn decode_vec(b: &mut &[u8]) -> Option<Vec<u64>> {
    let mut v = Vec::new();
    decode_vec_into(b, &mut v)?;
    Some(v)
}

/// [`decode_vec`] into `v` (its contents replaced, its capacity kept: a caller that knows
/// what it will append allocates once).
pub(crate) fn decode_vec_into(b: &mut &[u8], v: &mut Vec<u64>) -> Option<()> {
    visit_vec(b, |e| match e {
        Seen::Len(n) => {
            v.clear();
            v.resize(n, 0);
        }
        Seen::Value(i, x) => v[i] = x,
    })
}

/// What [`visit_vec`] finds: the vector's length (first), then each non-zero value.
enum Seen {
    Len(usize),
    Value(usize, u64),
}

/// Walks one [`encode_vec`] vector: its length, then every non-zero value's (index below
/// the length, value). None where the bytes are no vector (an index past its end,
/// truncated, an unknown layout, longer than 2^16): [`decode_vec`]'s one check, also where a
/// vector is only applied or skipped.
fn visit_vec(b: &mut &[u8], mut f: impl FnMut(Seen)) -> Option<()> {
    let h = read_varint(b)?;
    let n = usize::try_from(h >> 2).ok().filter(|l| *l <= 1 << 16)?;
    f(Seen::Len(n));
    let mut put = |i: usize, x: u64| {
        if x != 0 {
            f(Seen::Value(i, x));
        }
    };
    match h & 3 {
        0 => {
            for i in 0..n {
                put(i, read_varint(b)?);
            }
        }
        1 => {
            let nnz = read_varint(b)?;
            let mut next = 0usize;
            for _ in 0..nnz {
                let i = next.checked_add(usize::try_from(read_varint(b)?).ok()?)?;
                (i < n).then_some(())?;
                put(i, read_varint(b)?);
                next = i + 1;
            }
        }
        2 => {
            let nbytes = n.div_ceil(8);
            if b.len() < nbytes {
                return None;
            }
            let (bits, rest) = b.split_at(nbytes);
            *b = rest;
            // bits past `n` are never read
            for i in (0..n).filter(|i| bits[i / 8] & (1 << (i % 8)) != 0) {
                put(i, read_varint(b)?);
            }
        }
        _ => return None,
    }
    Some(())
}

/// Skips one [`encode_vec`] vector, checking it as [`decode_vec`] does, building nothing.
fn skip_vec(b: &mut &[u8]) -> Option<()> {
    visit_vec(b, |_| {})
}

/// Applies one format-2 entry (an encoded [`difference`] from `prev`) to `prev` in place:
/// `prev` becomes the entry's vector, only the positions that changed touched.
fn apply_difference(b: &mut &[u8], prev: &mut Vec<u64>) -> Option<()> {
    visit_vec(b, |e| match e {
        Seen::Len(n) => prev.resize(n, 0),
        Seen::Value(i, z) => prev[i] = prev[i].wrapping_add(unzigzag(z) as u64),
    })
}

/// Quarter entries, ascending: a format byte, then per quarter with data its index (0..95)
/// and its vector. Format 1 (all vectors the same short length n, stored once): the values
/// dense, no per-entry header — the common case of process, port and host series, where
/// the header would be an eighth of the bytes. Format 2 (every other day): each vector as
/// its difference from the entry before (zigzag, one [`encode_vec`] each) — a namespace's
/// protocol vector (~440 values, a dozen non-zero, several of them constant gauges such as
/// `Tcp:MaxConn`'s 2^64 - 1) changes in one or two places from one quarter to the next, so
/// an entry is a few bytes where the whole vector was ~40, and the day's row (rewritten by
/// every sample of the day) stays within a page. Format 0 (per-entry vectors as they are)
/// is what older databases hold; it is read, no longer written.
pub(crate) fn encode_quarters(q: &BTreeMap<u8, Vec<u64>>) -> Vec<u8> {
    let mut out = Vec::new();
    let n = q.values().next().map_or(0, Vec::len);
    if n > 0 && n <= 4 && q.values().all(|v| v.len() == n) {
        out.push(1);
        put(n as u64, &mut out);
        for (k, v) in q {
            put(u64::from(*k), &mut out);
            for x in v {
                put(*x, &mut out);
            }
        }
    } else {
        out.push(2);
        let mut prev: &[u64] = &[];
        let mut d = Vec::new();
        for (k, v) in q {
            put(u64::from(*k), &mut out);
            difference(v, prev, &mut d);
            encode_vec(&d, &mut out);
            prev = v;
        }
    }
    out
}

/// `v - prev` per position (a position `prev` lacks is 0 there), wrapping, zigzag-encoded
/// so that a small decrease is a small number: into `out`, `v`'s length.
fn difference(v: &[u64], prev: &[u64], out: &mut Vec<u64>) {
    out.clear();
    out.extend(
        v.iter()
            .enumerate()
            .map(|(i, x)| zigzag(x.wrapping_sub(prev.get(i).copied().unwrap_or(0)) as i64)),
    );
}

pub(crate) fn decode_quarters(b: &[u8]) -> Option<BTreeMap<u8, Vec<u64>>> {
    let mut out = BTreeMap::new();
    let (&format, mut b) = b.split_first()?;
    let fixed = match format {
        0 | 2 => None,
        1 => Some(
            usize::try_from(read_varint(&mut b)?)
                .ok()
                .filter(|n| (1..=4).contains(n))?,
        ),
        _ => return None,
    };
    let mut prev = Vec::new();
    while !b.is_empty() {
        let q = u8::try_from(read_varint(&mut b)?)
            .ok()
            .filter(|q| usize::from(*q) < QUARTERS)?;
        let v = match fixed {
            Some(n) => (0..n)
                .map(|_| read_varint(&mut b))
                .collect::<Option<Vec<u64>>>()?,
            None if format == 2 => {
                apply_difference(&mut b, &mut prev)?;
                prev.clone()
            }
            None => decode_vec(&mut b)?,
        };
        out.insert(q, v);
    }
    Some(out)
}

/// Whether an encoded quarters blob ([`encode_quarters`]) has an entry for quarter `q`;
/// false for one that is malformed before it (the caller's longer way refuses it).
pub(crate) fn has_quarter(blob: &[u8], q: u8) -> bool {
    let walk = || -> Option<bool> {
        let (&format, mut b) = blob.split_first()?;
        let fixed = match format {
            0 | 2 => None,
            1 => Some(usize::try_from(read_varint(&mut b)?).ok()?),
            _ => return None,
        };
        while !b.is_empty() {
            let k = read_varint(&mut b)?;
            if k >= u64::from(q) {
                return Some(k == u64::from(q));
            }
            match fixed {
                Some(n) => (0..n).try_for_each(|_| read_varint(&mut b).map(drop))?,
                None => skip_vec(&mut b)?,
            }
        }
        Some(false)
    };
    walk().unwrap_or(false)
}

/// Adds `v` into quarter `q` of an encoded quarters blob ([`encode_quarters`]), re-encoding
/// only that quarter's entry (and, in format 2, the next one's difference): the rest of the
/// day is walked, checked and copied as it is. A sample adds to one quarter, and decoding
/// and re-encoding the whole day for it made a sample's rollup cost grow through the day (a
/// namespace's protocol row: 96 vectors of ~440 by the evening — 18 µs per namespace after
/// midnight, 172 µs before it). The result decodes to what decoding, adding and
/// [`encode_quarters`] give; None for a blob [`decode_quarters`] refuses, and for one whose
/// entries are not strictly ascending, whose fixed length `v` does not fit, or in format 0
/// (then the caller takes that longer way, which writes format 2).
pub(crate) fn add_to_quarter(blob: &[u8], q: u8, v: &[u64]) -> Option<Vec<u8>> {
    if usize::from(q) >= QUARTERS {
        return None;
    }
    let (&format, body) = blob.split_first()?;
    let mut b = body;
    let fixed = match format {
        2 => None,
        1 => Some(
            usize::try_from(read_varint(&mut b)?)
                .ok()
                .filter(|n| (1..=4).contains(n) && *n == v.len())?,
        ),
        _ => return None,
    };
    let offset = |rest: &[u8]| blob.len() - rest.len();
    let mut last: Option<u8> = None;
    // format 2: the vector of the entry before the one being read
    let mut prev: Vec<u64> = Vec::new();
    // (where q's entry starts or goes, where the bytes re-encoded end, q's vector, the
    // vector before q, and the next entry's (index, vector) when its difference is redone)
    struct At {
        start: usize,
        end: usize,
        old: Vec<u64>,
        before: Vec<u64>,
        next: Option<(u8, Vec<u64>)>,
    }
    let mut at: Option<At> = None;
    // whether the entry just read is the one after q's (format 2 redoes its difference)
    let mut redo_next = false;
    while !b.is_empty() {
        let start = offset(b);
        let k = u8::try_from(read_varint(&mut b)?)
            .ok()
            .filter(|k| usize::from(*k) < QUARTERS && last.is_none_or(|l| l < *k))?;
        last = Some(k);
        let vals = b;
        match fixed {
            Some(n) => (0..n).try_for_each(|_| read_varint(&mut b).map(drop))?,
            // an entry before q: applied (format 2), which also checks it
            None if at.is_none() && k < q => {
                apply_difference(&mut b, &mut prev)?;
                continue;
            }
            None => skip_vec(&mut b)?,
        }
        let mut cur = &vals[..vals.len() - b.len()];
        let decoded = |cur: &mut &[u8], prev: &[u64]| -> Option<Vec<u64>> {
            match fixed {
                Some(n) => (0..n).map(|_| read_varint(cur)).collect(),
                None => {
                    let mut v = prev.to_vec();
                    apply_difference(cur, &mut v)?;
                    Some(v)
                }
            }
        };
        if let Some(a) = &mut at {
            if redo_next {
                redo_next = false;
                let next = decoded(&mut cur, &prev)?;
                a.end = offset(b);
                a.next = Some((k, next));
            }
            continue; // the rest is only checked
        }
        if k == q {
            let old = decoded(&mut cur, &prev)?;
            at = Some(At {
                start,
                end: offset(b),
                before: std::mem::replace(&mut prev, old.clone()),
                old,
                next: None,
            });
            redo_next = fixed.is_none();
        } else if k > q {
            // q goes before this entry; in format 2 its difference is then from q's vector
            let next = match fixed {
                Some(_) => None,
                None => Some((k, decoded(&mut cur, &prev)?)),
            };
            at = Some(At {
                start,
                end: if next.is_some() { offset(b) } else { start },
                old: Vec::new(),
                before: std::mem::take(&mut prev),
                next,
            });
        }
    }
    let At {
        start,
        end,
        old,
        before,
        next,
    } = at.unwrap_or(At {
        start: blob.len(),
        end: blob.len(),
        old: Vec::new(),
        before: prev,
        next: None,
    });
    let mut sum = old;
    add_into(&mut sum, v);
    let mut out = Vec::with_capacity(blob.len() + 16);
    out.extend_from_slice(&blob[..start]);
    put(u64::from(q), &mut out);
    match fixed {
        Some(_) => sum.iter().for_each(|x| put(*x, &mut out)),
        None => {
            let mut d = Vec::new();
            difference(&sum, &before, &mut d);
            encode_vec(&d, &mut out);
            if let Some((k, next)) = next {
                put(u64::from(k), &mut out);
                difference(&next, &sum, &mut d);
                encode_vec(&d, &mut out);
            }
        }
    }
    out.extend_from_slice(&blob[end..]);
    Some(out)
}

/// The fuzz target of the stored-row decoders (issue 12): whatever bytes a database holds
/// (a crafted or damaged file), decoding returns None/an error or a bounded value — never a
/// panic, never an allocation beyond what the encoding allows.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_blobs_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut b = &bytes[..];
            if let Some(v) = decode_vec(&mut b) {
                prop_assert!(v.len() <= 1 << 16);
            }
            if let Some(q) = decode_quarters(&bytes) {
                prop_assert!(q.len() <= 256);
            }
            let _ = crate::decode_varints(&bytes);
            let _ = crate::rollup::decode_row(&bytes, Some(&bytes), 20_000, 1);
        }

        /// Splicing one quarter's sums into a stored day is adding them to the decoded day
        /// and encoding it again, for every day and vector (and a refusal wherever decoding
        /// refuses the stored bytes).
        #[test]
        fn adding_to_one_quarter_is_decoding_adding_and_encoding(
            day in prop::collection::btree_map(0u8..96, prop::collection::vec(prop_oneof![Just(0u64), 0u64..300, any::<u64>()], 0..12), 0..20),
            q in 0u8..96,
            v in prop::collection::vec(prop_oneof![Just(0u64), any::<u64>()], 0..12),
            damage in any::<Option<(usize, u8)>>(),
        ) {
            let mut blob = encode_quarters(&day);
            if let Some((at, byte)) = damage {
                let i = at % blob.len();
                blob[i] = byte;
            }
            let mut want = decode_quarters(&blob);
            match add_to_quarter(&blob, q, &v) {
                Some(out) => {
                    let want = want.as_mut().expect("a blob decoding refuses is refused");
                    add_into(want.entry(q).or_default(), &v);
                    let got = decode_quarters(&out);
                    prop_assert_eq!(got.as_ref(), Some(&*want));
                }
                // refused: damaged, or a fixed-length day that `v` does not fit
                None => prop_assert!(damage.is_some() || blob[0] == 1),
            }
            // a quarter's entry is found where decoding finds it (damage may hide one, never
            // invent one)
            let has = has_quarter(&blob, q);
            match decode_quarters(&blob) {
                Some(d) if damage.is_none() => prop_assert_eq!(has, d.contains_key(&q)),
                Some(d) => prop_assert!(!has || d.contains_key(&q)),
                None => {}
            }
        }

        #[test]
        fn vectors_round_trip_and_damage_is_detected_or_harmless(
            v in prop::collection::vec(prop_oneof![Just(0u64), any::<u64>()], 0..200),
            at in any::<usize>(),
            byte in any::<u8>(),
        ) {
            let mut enc = Vec::new();
            encode_vec(&v, &mut enc);
            let mut s = &enc[..];
            prop_assert_eq!(decode_vec(&mut s), Some(v.clone()));
            // the smallest of the three layouts, each counted here from the whole vector
            let l = |x: u64| varint_len(x);
            let nz: Vec<(usize, u64)> =
                v.iter().copied().enumerate().filter(|(_, x)| *x != 0).collect();
            let dense: usize = v.iter().map(|x| l(*x)).sum();
            let values: usize = nz.iter().map(|(_, x)| l(*x)).sum();
            let gaps: usize = nz
                .iter()
                .scan(0, |next, (i, _)| {
                    let g = i - *next;
                    *next = i + 1;
                    Some(l(g as u64))
                })
                .sum();
            let sparse = l(nz.len() as u64) + gaps + values;
            let bitmap = v.len().div_ceil(8) + values;
            let header = l((v.len() as u64) << 2);
            prop_assert_eq!(enc.len(), header + dense.min(sparse).min(bitmap));
            if !enc.is_empty() {
                let i = at % enc.len();
                enc[i] = byte;
                let mut s = &enc[..];
                let _ = decode_vec(&mut s);
            }
        }
    }
}
