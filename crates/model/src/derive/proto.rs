//! Protocol counters (snmp, netstat, snmp6, sockstat, sock_diag states; ~350 per namespace)
//! of one interval: counters as deltas against the previous sample's readings (the reset rule
//! of ARCHITECTURE.md §4), gauges as read. Most counters do not move in a minute, so what is
//! stored is sparse.
//!
//! `counted`: 0 = counters not counted (a baseline: first sample, or the namespace was not
//! seen in the previous sample); 1 = deltas since the previous sample; 2 = counted from zero
//! (the first sample after a reboot).

use super::iface::Segment;
use crate::counter::simple_delta;
use crate::sample::{Carried, Counters, Protocol};
use crate::varint::Readings;
use std::collections::HashMap;

/// A namespace's protocol readings as stored with the previous sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Last {
    /// The counter names, in the order of `readings`; None: the same as the new sample's (the
    /// usual case, which then costs no name at all). Shared: every namespace of a keyset has
    /// the same names.
    pub names: Option<std::sync::Arc<[crate::sample::Key]>>,
    pub readings: Readings,
}

/// What one namespace's counters add in an interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// See the module documentation.
    pub counted: i64,
    /// Per counter of the sample, in its order: the delta (counters) or the reading (gauges).
    pub vals: Vals,
    /// A counter moved more than the namespace's links could carry: not counted.
    pub implausible: bool,
}

/// A vector of mostly zeros (a namespace's ~440 counters' deltas, a dozen of them non-zero
/// in a busy minute, only the gauges in an idle one) held as its length and its non-zero
/// values by position, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vals {
    pub len: usize,
    pub nonzero: Vec<(u32, u64)>,
}

impl Vals {
    /// The values at positions 0, 1, … (zeros left out).
    fn of(vals: impl Iterator<Item = u64>) -> Vals {
        let mut out = Vals::default();
        for (i, v) in vals.enumerate() {
            out.len = i + 1;
            if v != 0 {
                out.nonzero.push((i as u32, v));
            }
        }
        out
    }

    /// Every value, zeros included.
    pub fn to_vec(&self) -> Vec<u64> {
        let mut v = vec![0; self.len];
        for (i, x) in &self.nonzero {
            v[*i as usize] = *x;
        }
        v
    }
}

/// Counts a namespace's `counters` of a sample placed as `segment`, against `before` (the
/// previous sample's readings when this sample continues it). `limit`: the most any counter
/// can count in the interval (one byte per event at the links' ceiling); beyond it the
/// interval's counters are flagged and not counted, its gauges kept.
pub fn count(
    counters: &Counters,
    segment: Segment,
    before: Option<&Last>,
    limit: Option<u64>,
) -> Counted {
    let counted = match (segment, before) {
        (Segment::Boot, _) => 2,
        (Segment::Continue, Some(_)) => 1,
        _ => 0,
    };
    // The previous readings by position when the names are the same, else by name (a counter
    // new in this sample counts nothing this interval).
    let by_name: Option<HashMap<&str, u64>> = match before.map(|b| (b, b.names.as_ref())) {
        Some((b, Some(names)))
            if !(names.len() == counters.len()
                && names.iter().zip(counters).all(|(a, (n, _))| a == n)) =>
        {
            Some(
                names
                    .iter()
                    .map(crate::sample::Key::as_str)
                    .zip(b.readings.iter())
                    .collect(),
            )
        }
        _ => None,
    };
    // (by position: the previous readings in step with the counters)
    let mut prev = match (counted, before, &by_name) {
        (1, Some(b), None) => Some(b.readings.iter()),
        _ => None,
    };
    let mut vals = Vals::of(counters.iter().map(|(name, cur)| {
        let p = prev.as_mut().and_then(Iterator::next);
        if name.is_gauge() {
            return *cur;
        }
        match (counted, &by_name) {
            (2, _) => *cur,
            (1, Some(m)) => m.get(name.as_str()).map_or(0, |p| simple_delta(*p, *cur)),
            (1, None) => p.map_or(0, |p| simple_delta(p, *cur)),
            _ => 0,
        }
    }));
    // A counter that moved more than the links could carry is not a count: the interval's
    // counters are flagged (not counted) rather than summed into every report.
    let is_gauge = |i: u32| counters[i as usize].0.is_gauge();
    let implausible = counted > 0
        && limit.is_some_and(|l| vals.nonzero.iter().any(|(i, v)| *v > l && !is_gauge(*i)));
    if implausible {
        vals.nonzero.retain(|(i, _)| is_gauge(*i));
    }
    Counted {
        counted: if implausible { 0 } else { counted },
        vals,
        implausible,
    }
}

/// Counts a carried namespace (`idle::fill`): its readings are the previous sample's, so in
/// a continuation every counter's delta is 0 and every gauge is as carried — what [`count`]
/// finds for the same readings against themselves, found without copying the names (a
/// property test holds the two equal). Another placement is counted by [`count`].
pub fn count_carried(c: &Carried, segment: Segment, limit: Option<u64>) -> Counted {
    if segment != Segment::Continue {
        // (`before` counts only in a continuation)
        return count(&Protocol::Carried(c).to_counters(), segment, None, limit);
    }
    Counted {
        counted: 1,
        // (names and values zipped directly: `Protocol::iter`'s chain of either kind costs
        // a branch per value, ~440 per carried namespace)
        vals: Vals::of(
            c.names
                .iter()
                .zip(c.values.iter())
                .map(|(k, v)| if k.is_gauge() { v } else { 0 }),
        ),
        implausible: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// A carried namespace counts as its readings counted against themselves would,
        /// whatever the names (counters and gauges, repeated), readings, placement and limit.
        #[test]
        fn a_carried_count_is_the_count_of_the_same_readings(
            pairs in prop::collection::vec(
                (prop::sample::select(vec![
                    "snmp:Tcp:InSegs", "snmp:Udp:InDatagrams", "netstat:TcpExt:TW",
                    "sockstat:TCP:inuse", "sockstat:TCP:mem", "sockstat:FRAG:inuse",
                    "snmp6:Ip6InReceives", "diag:tcp4:ESTABLISHED", "snmp:Ip:Forwarding",
                    "snmp:Tcp:CurrEstab", "x:unknown:Name",
                ]), any::<u64>()),
                0..40,
            ),
            segment in prop::sample::select(vec![Segment::Continue, Segment::Boot, Segment::Baseline]),
            limit in prop::option::of(any::<u64>()),
            named in any::<bool>(),
        ) {
            let names: std::sync::Arc<[crate::sample::Key]> =
                pairs.iter().map(|(n, _)| (*n).into()).collect();
            let values: Vec<u64> = pairs.iter().map(|(_, v)| *v).collect();
            let counters: Counters = names.iter().cloned().zip(values.iter().copied()).collect();
            // the baseline a carried namespace came from: the same readings, named or not
            let values = Readings::from_values(values);
            let before = Last { names: named.then(|| names.clone()), readings: values.clone() };
            let general = count(&counters, segment, Some(&before), limit);
            let carried = count_carried(&Carried { names, values }, segment, limit);
            prop_assert_eq!(carried, general);
        }
    }

    fn c(v: &[(&str, u64)]) -> Counters {
        v.iter().map(|(n, x)| ((*n).into(), *x)).collect()
    }

    #[test]
    fn counters_are_deltas_gauges_readings_by_position_or_name() {
        let before = Last {
            names: Some(["snmp:Tcp:InSegs".into(), "sockstat:TCP:inuse".into()].into()),
            readings: Readings::from_values([100, 7]),
        };
        let now = c(&[("snmp:Tcp:InSegs", 150), ("sockstat:TCP:inuse", 9)]);
        let got = count(&now, Segment::Continue, Some(&before), None);
        assert_eq!((got.counted, got.vals.to_vec()), (1, vec![50, 9]));
        // another order and a new counter: by name; the new one counts nothing yet
        let now = c(&[
            ("snmp:Tcp:OutSegs", 40),
            ("sockstat:TCP:inuse", 3),
            ("snmp:Tcp:InSegs", 90),
        ]);
        let got = count(&now, Segment::Continue, Some(&before), None);
        assert_eq!(
            got.vals.to_vec(),
            vec![0, 3, 90],
            "a decrease is a reset: counted from 0"
        );
        // no predecessor: a baseline; after a reboot: from zero
        assert_eq!(count(&now, Segment::Continue, None, None).counted, 0);
        let boot = count(&now, Segment::Boot, None, None);
        assert_eq!((boot.counted, boot.vals.to_vec()), (2, vec![40, 3, 90]));
    }

    #[test]
    fn an_implausible_jump_keeps_the_gauges_and_counts_nothing() {
        let before = Last {
            names: None,
            readings: Readings::from_values([0, 1]),
        };
        let now = c(&[("snmp:Tcp:InSegs", 1 << 50), ("sockstat:TCP:inuse", 2)]);
        let got = count(&now, Segment::Continue, Some(&before), Some(1_000_000));
        assert!(got.implausible);
        assert_eq!((got.counted, got.vals.to_vec()), (0, vec![0, 2]));
    }
}
