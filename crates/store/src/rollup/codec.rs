//! The rollup vector encodings: a vector of sums as varints in the smallest of three layouts,
//! and a day's quarter-hour vectors in one blob. Bytes from the database are untrusted:
//! decoding refuses malformed input (None) instead of panicking.

use super::QUARTERS;
use crate::{encode_varints, read_varint};
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
    let nz = || v.iter().enumerate().filter(|(_, x)| **x != 0);
    let dense: usize = v.iter().map(|x| varint_len(*x)).sum();
    let mut sparse = varint_len(nz().count() as u64);
    let mut next = 0usize;
    for (i, x) in nz() {
        sparse += varint_len((i - next) as u64) + varint_len(*x);
        next = i + 1;
    }
    let bitmap = v.len().div_ceil(8) + nz().map(|(_, x)| varint_len(*x)).sum::<usize>();
    let len = (v.len() as u64) << 2;
    if dense <= sparse && dense <= bitmap {
        put(len, out);
        for x in v {
            put(*x, out);
        }
    } else if sparse <= bitmap {
        put(len | 1, out);
        put(nz().count() as u64, out);
        let mut next = 0usize;
        for (i, x) in nz() {
            put((i - next) as u64, out);
            put(*x, out);
            next = i + 1;
        }
    } else {
        put(len | 2, out);
        let mut bits = vec![0u8; v.len().div_ceil(8)];
        for (i, _) in nz() {
            bits[i / 8] |= 1 << (i % 8);
        }
        out.extend_from_slice(&bits);
        for (_, x) in nz() {
            put(*x, out);
        }
    }
}

pub(crate) fn decode_vec(b: &mut &[u8]) -> Option<Vec<u64>> {
    let h = read_varint(b)?;
    let len = usize::try_from(h >> 2).ok().filter(|l| *l <= 1 << 16)?;
    let mut v = vec![0u64; len];
    match h & 3 {
        0 => {
            for x in v.iter_mut() {
                *x = read_varint(b)?;
            }
        }
        1 => {
            let nnz = read_varint(b)?;
            let mut next = 0usize;
            for _ in 0..nnz {
                let i = next.checked_add(usize::try_from(read_varint(b)?).ok()?)?;
                *v.get_mut(i)? = read_varint(b)?;
                next = i + 1;
            }
        }
        2 => {
            let nbytes = len.div_ceil(8);
            if b.len() < nbytes {
                return None;
            }
            let (bits, rest) = b.split_at(nbytes);
            *b = rest;
            for (i, x) in v.iter_mut().enumerate() {
                if bits[i / 8] & (1 << (i % 8)) != 0 {
                    *x = read_varint(b)?;
                }
            }
        }
        _ => return None,
    }
    Some(v)
}

/// Quarter entries, ascending: a format byte, then per quarter with data its index (0..95)
/// and its vector. Format 1 (all vectors the same short length n, stored once): the values
/// dense, no per-entry header — the common case of process, port and host series, where
/// the header would be an eighth of the bytes. Format 0: each vector with its own header.
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
        out.push(0);
        for (k, v) in q {
            put(u64::from(*k), &mut out);
            encode_vec(v, &mut out);
        }
    }
    out
}

pub(crate) fn decode_quarters(b: &[u8]) -> Option<BTreeMap<u8, Vec<u64>>> {
    let mut out = BTreeMap::new();
    let (&format, mut b) = b.split_first()?;
    let fixed = match format {
        0 => None,
        1 => Some(
            usize::try_from(read_varint(&mut b)?)
                .ok()
                .filter(|n| (1..=4).contains(n))?,
        ),
        _ => return None,
    };
    while !b.is_empty() {
        let q = u8::try_from(read_varint(&mut b)?)
            .ok()
            .filter(|q| usize::from(*q) < QUARTERS)?;
        let v = match fixed {
            Some(n) => (0..n)
                .map(|_| read_varint(&mut b))
                .collect::<Option<Vec<u64>>>()?,
            None => decode_vec(&mut b)?,
        };
        out.insert(q, v);
    }
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
            if !enc.is_empty() {
                let i = at % enc.len();
                enc[i] = byte;
                let mut s = &enc[..];
                let _ = decode_vec(&mut s);
            }
        }
    }
}
