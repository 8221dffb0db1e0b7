//! LEB128 varints: how counter readings are held, in memory ([`Readings`]) as on disk (the
//! store's protocol-counter and socket blobs). Bytes may come from a database file: reading
//! refuses what is no varint (truncated, longer than 64 bits) instead of guessing.

/// Appends `vals` to `out`, each in 7-bit groups, low first.
pub fn encode(vals: impl Iterator<Item = u64>, out: &mut Vec<u8>) {
    for mut v in vals {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
    }
}

/// Reads one varint from the front of `b`; None if it is truncated or longer than 64 bits.
pub fn read(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0u32;
    loop {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        if shift > 63 || (shift == 63 && byte > 1) {
            return None;
        }
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
    }
}

/// Every varint of `b`; None if any is malformed.
pub fn decode(b: &[u8]) -> Option<Vec<u64>> {
    let mut out = Vec::with_capacity(count(b)?);
    let mut b = b;
    while !b.is_empty() {
        out.push(read(&mut b)?);
    }
    Some(out)
}

/// How many varints `b` holds; None if any is malformed.
pub fn count(b: &[u8]) -> Option<usize> {
    // a varint is its bytes up to the first below 0x80; a malformed one is refused by `read`
    match b.last() {
        None => Some(0),
        Some(l) if *l >= 0x80 => None,
        Some(_) => {
            // (one pass: the varints, and the longest run of continuation bytes)
            let (mut n, mut run, mut longest) = (0usize, 0usize, 0usize);
            for x in b {
                if *x < 0x80 {
                    n += 1;
                    longest = longest.max(run);
                    run = 0;
                } else {
                    run += 1;
                }
            }
            // (only an overlong one — more than ten bytes, or past 64 bits — remains)
            if longest >= 9 {
                let mut b = b;
                while !b.is_empty() {
                    read(&mut b)?;
                }
            }
            Some(n)
        }
    }
}

/// A namespace's protocol readings (~440 per namespace, most small) held as their varints: a
/// carried namespace's readings are what the store read, kept as it stored them and written
/// back as they are — ~600 bytes where as numbers they were 3.5 KB, which among 1 000 idle
/// namespaces was a thousand page faults per sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readings {
    bytes: Vec<u8>,
    len: usize,
}

impl Readings {
    /// Readings as stored; None if the bytes are not varints.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Readings> {
        let len = count(&bytes)?;
        Some(Readings { bytes, len })
    }

    pub fn from_values(vals: impl IntoIterator<Item = u64>) -> Readings {
        let mut bytes = Vec::new();
        let mut len = 0;
        encode(vals.into_iter().inspect(|_| len += 1), &mut bytes);
        Readings { bytes, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The values in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let mut b = &self.bytes[..];
        // (checked when made: every read succeeds; most readings are below 128, one byte)
        std::iter::from_fn(move || match b.split_first() {
            Some((&v, rest)) if v < 0x80 => {
                b = rest;
                Some(u64::from(v))
            }
            _ => read(&mut b),
        })
    }

    /// The varints, as [`encode`] writes them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// These readings with the value at each position of `at` (ascending; positions past
    /// the end are left out) replaced: the varints between them copied, not decoded — a
    /// carried namespace takes the host's few host-wide values among its ~440 this way.
    pub fn replaced(&self, at: &[(usize, u64)]) -> Readings {
        let mut bytes = Vec::with_capacity(self.bytes.len() + at.len() * 10);
        // where the varint starting at byte `i` ends: at its first byte below 0x80
        let end = |i: usize| {
            i + self.bytes[i..]
                .iter()
                .position(|b| *b < 0x80)
                .map_or(0, |e| e + 1)
        };
        // (i: where value `pos` starts; from: the first byte not yet copied)
        let (mut pos, mut from, mut i) = (0usize, 0usize, 0usize);
        for &(p, v) in at.iter().filter(|(p, _)| *p < self.len) {
            while pos < p {
                i = end(i);
                pos += 1;
            }
            bytes.extend_from_slice(&self.bytes[from..i]);
            encode(std::iter::once(v), &mut bytes);
            (i, pos) = (end(i), p + 1);
            from = i;
        }
        bytes.extend_from_slice(&self.bytes[from..]);
        Readings {
            bytes,
            len: self.len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Replacing values by position gives the readings of the replaced values.
        #[test]
        fn replaced_readings_are_the_readings_of_the_replaced_values(
            vals in prop::collection::vec(prop_oneof![0u64..200, any::<u64>()], 0..40),
            at in prop::collection::btree_map(0usize..48, prop_oneof![0u64..200, any::<u64>()], 0..8),
        ) {
            let at: Vec<(usize, u64)> = at.into_iter().collect();
            let mut want = vals.clone();
            for (p, v) in &at {
                if let Some(x) = want.get_mut(*p) {
                    *x = *v;
                }
            }
            let got = Readings::from_values(vals.iter().copied()).replaced(&at);
            prop_assert_eq!(got, Readings::from_values(want));
        }

        /// Readings hold what they were given, as the varints `encode` writes, and bytes
        /// that are no varints are refused, never read as something else.
        #[test]
        fn readings_round_trip_and_refuse_what_is_no_varint(
            vals in prop::collection::vec(any::<u64>(), 0..64),
            // (continuation bytes often, so overlong varints are met)
            junk in prop::collection::vec(
                prop_oneof![any::<u8>(), Just(0xffu8), Just(0x80u8), Just(1u8), Just(2u8)],
                0..40,
            ),
        ) {
            let r = Readings::from_values(vals.iter().copied());
            prop_assert_eq!(r.len(), vals.len());
            prop_assert_eq!(r.iter().collect::<Vec<_>>(), vals.clone());
            let mut enc = Vec::new();
            encode(vals.iter().copied(), &mut enc);
            prop_assert_eq!(r.as_bytes(), &enc[..]);
            let again = Readings::from_bytes(enc).unwrap();
            prop_assert_eq!(&again, &r);
            match Readings::from_bytes(junk.clone()) {
                Some(j) => {
                    prop_assert_eq!(Some(j.iter().collect::<Vec<_>>()), decode(&junk));
                    prop_assert_eq!(j.iter().count(), j.len());
                }
                None => prop_assert_eq!(decode(&junk), None),
            }
        }
    }

    #[test]
    fn a_truncated_or_overlong_varint_is_refused() {
        assert_eq!(decode(&[0x80]), None, "truncated");
        assert_eq!(decode(&[0xff; 10]), None, "past 64 bits");
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Some(vec![u64::MAX])
        );
        assert_eq!(Readings::from_bytes(vec![0x80]), None);
        // ten bytes: the last may hold bit 63 only; eleven never fit
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        let eleven = [
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        ];
        for (bytes, want) in [(&max[..], Some(1)), (&over[..], None), (&eleven[..], None)] {
            let mut b = vec![5, 0x81, 0x01];
            b.extend_from_slice(bytes);
            assert_eq!(count(&b), want.map(|n| n + 2), "{bytes:x?}");
            assert_eq!(
                Readings::from_bytes(b.clone()).map(|r| r.len()),
                want.map(|n| n + 2)
            );
            assert_eq!(decode(&b).map(|v| v.len()), want.map(|n| n + 2));
        }
    }
}
