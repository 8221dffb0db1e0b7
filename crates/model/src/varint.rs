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
pub fn count(mut b: &[u8]) -> Option<usize> {
    let mut n = 0;
    while !b.is_empty() {
        read(&mut b)?;
        n += 1;
    }
    Some(n)
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
        // (checked when made: every read succeeds)
        std::iter::from_fn(move || read(&mut b))
    }

    /// The varints, as [`encode`] writes them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Readings hold what they were given, as the varints `encode` writes, and bytes
        /// that are no varints are refused, never read as something else.
        #[test]
        fn readings_round_trip_and_refuse_what_is_no_varint(
            vals in prop::collection::vec(any::<u64>(), 0..64),
            junk in prop::collection::vec(any::<u8>(), 0..32),
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
    }
}
