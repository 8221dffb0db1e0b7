//! A sample's place in the history and its interfaces' deltas (ARCHITECTURE.md §4).

use crate::counter::{self as delta, Flag};
use crate::sample::{IfaceSample, NsSample};
use crate::warnings::{Kind as WarnKind, Warnings};
use std::collections::HashSet;

/// How a sample relates to the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// First sample of the database, or unusable predecessor: baseline only.
    Baseline,
    /// Continues the previous sample of the same boot.
    Continue,
    /// First sample after a reboot: counted from zero over the time since boot.
    Boot,
}

/// The newest stored sample, as far as placing the next one needs it.
#[derive(Debug, Clone)]
pub struct Last {
    pub id: i64,
    pub mono_ms: i64,
    pub ts_ms: i64,
    pub boot_id: String,
}

/// Where a new sample stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub segment: Segment,
    /// The predecessor whose readings the deltas are taken against (Continue only).
    pub prev: Option<i64>,
    /// The interval the deltas cover: since the predecessor, or since boot.
    pub elapsed_ms: Option<i64>,
}

impl Placement {
    /// No predecessor: readings only, nothing counted.
    pub const BASELINE: Placement = Placement {
        segment: Segment::Baseline,
        prev: None,
        elapsed_ms: None,
    };

    /// Continues readings taken `elapsed_ms` before (a live view's previous tick).
    pub fn after(elapsed_ms: i64) -> Placement {
        Placement {
            segment: Segment::Continue,
            prev: None,
            elapsed_ms: Some(elapsed_ms),
        }
    }
}

/// Places a sample taken at `ts_ms` (wall clock) and `mono_ms` (CLOCK_BOOTTIME) in boot
/// `boot_id` after `last`.
pub fn place(
    last: Option<&Last>,
    boot_id: &str,
    ts_ms: i64,
    mono_ms: i64,
    warn: &mut Warnings,
) -> Placement {
    let baseline = Placement {
        segment: Segment::Baseline,
        prev: None,
        elapsed_ms: None,
    };
    match last {
        None => baseline,
        Some(l) if l.boot_id == boot_id => {
            if mono_ms > l.mono_ms {
                Placement {
                    segment: Segment::Continue,
                    prev: Some(l.id),
                    elapsed_ms: Some(mono_ms - l.mono_ms),
                }
            } else {
                warn.warn(WarnKind::Clock, format!(
                    "the monotonic clock did not advance since sample {} ({} ms → {mono_ms} ms); \
                     stored as a new baseline, nothing counted",
                    l.id, l.mono_ms
                ));
                baseline
            }
        }
        // A reboot: the kernel's counters started at zero at boot. If the boot happened after
        // the last stored sample, the traffic since boot is all new and counted.
        Some(l) if ts_ms - mono_ms >= l.ts_ms => Placement {
            segment: Segment::Boot,
            prev: None,
            elapsed_ms: Some(mono_ms),
        },
        Some(_) => baseline,
    }
}

/// An interface's readings as stored with the predecessor sample.
#[derive(Debug, Clone)]
pub struct Prev {
    pub netns_inode: i64,
    /// -1 when unknown.
    pub ifindex: i64,
    pub name: Vec<u8>,
    pub counters: [u64; 16],
}

/// What an interface's interval counts: deltas (None: nothing counted) and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfaceDelta {
    pub deltas: Option<[u64; 16]>,
    pub flags: i64,
}

fn ifindex(i: &IfaceSample) -> i64 {
    i.link.ifindex.map(i64::from).unwrap_or(-1)
}

/// Each interface's deltas and flags, per namespace in sample order. Warnings name the
/// interfaces whose counters went down or jumped implausibly.
pub fn iface_deltas(
    prev: &[Prev],
    namespaces: &[NsSample],
    p: Placement,
    warn: &mut Warnings,
) -> Vec<Vec<IfaceDelta>> {
    let mut used = vec![false; prev.len()];
    let prev_ns: HashSet<i64> = prev.iter().map(|p| p.netns_inode).collect();
    // Pass 1, over every namespace first: interfaces that continue where they were. Only what
    // is left unclaimed afterwards can have moved between namespaces.
    let matches: Vec<Vec<Option<usize>>> = namespaces
        .iter()
        .map(|ns| {
            ns.ifaces
                .iter()
                .map(|i| match_same_ns(prev, &mut used, ns.inode as i64, i))
                .collect()
        })
        .collect();
    let mut out = Vec::with_capacity(namespaces.len());
    for (ns, matched) in namespaces.iter().zip(matches) {
        let ns_inode = ns.inode as i64;
        let mut row = Vec::with_capacity(ns.ifaces.len());
        for (i, m) in ns.ifaces.iter().zip(matched) {
            let cur = &i.counters.counters;
            let (mut deltas, mut flags) = match (p.segment, m) {
                (Segment::Baseline, _) => (None, Flag::Baseline as i64),
                (Segment::Boot, _) => (Some(*cur), Flag::Boot as i64),
                (Segment::Continue, Some(k)) => {
                    let pr = &prev[k];
                    if pr.ifindex >= 0 && ifindex(i) >= 0 && pr.ifindex != ifindex(i) {
                        // same name, new ifindex: a new device whose counters began at zero
                        (Some(*cur), Flag::Recreated as i64)
                    } else {
                        let (d, mut f) = delta::iface_deltas(&pr.counters, cur);
                        if pr.name != i.counters.name {
                            f |= Flag::Renamed as i64;
                        }
                        (Some(d), f)
                    }
                }
                (Segment::Continue, None) => {
                    if let Some(k) = match_moved(prev, &mut used, ns_inode, i) {
                        let (d, f) = delta::iface_deltas(&prev[k].counters, cur);
                        (Some(d), f | Flag::Moved as i64)
                    } else if prev_ns.contains(&ns_inode) || ns.fresh {
                        // new in a namespace recorded last time, or in one created since
                        // (its processes started after the previous sample): from zero
                        (Some(*cur), Flag::New as i64)
                    } else {
                        // The namespace was not recorded last time and nothing says it is
                        // new (it may not have been readable): we cannot tell when these
                        // counters grew, so count nothing.
                        (None, Flag::Baseline as i64)
                    }
                }
            };
            let label = || {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&i.counters.name).escape_debug(),
                    if ns.name == b"root" {
                        String::new()
                    } else {
                        format!(
                            " (netns {})",
                            String::from_utf8_lossy(&ns.name).escape_debug()
                        )
                    }
                )
            };
            if let (Some(d), Some(el)) = (deltas, p.elapsed_ms) {
                let limit = match (i.link.is_virtual, i.link.speed_mbps) {
                    (false, Some(mbps)) => u64::from(mbps) * 1_000_000,
                    _ => delta::DEFAULT_LIMIT_BITS_PER_S,
                };
                // bytes by the link's speed, and every other counter (packets, errors, drops,
                // compressed, multicast) by the same bound: a packet is at least a byte
                if d.iter().any(|x| delta::implausible(*x, el, limit)) {
                    warn.warn(WarnKind::Implausible, format!(
                        "{}: counter jump (rx {} B / {} packets, tx {} B / {} packets) in {} ms exceeds what {} bit/s can carry; flagged and not counted",
                        label(),
                        d[0],
                        d[1],
                        d[8],
                        d[9],
                        el,
                        limit
                    ));
                    flags |= Flag::Implausible as i64;
                    deltas = None;
                }
            }
            if flags & (Flag::Reset as i64 | Flag::Wrap as i64 | Flag::Recreated as i64) != 0 {
                warn.warn(
                    WarnKind::Counter,
                    format!(
                        "{}: {}; counted from zero where a counter went down",
                        label(),
                        delta::flags_text(flags)
                    ),
                );
            }
            row.push(IfaceDelta { deltas, flags });
        }
        out.push(row);
    }
    out
}

/// The previous reading of this interface in the same namespace: by ifindex when both are
/// known (a rename keeps it), else by name.
fn match_same_ns(prev: &[Prev], used: &mut [bool], ns: i64, i: &IfaceSample) -> Option<usize> {
    let ix = ifindex(i);
    let free = |k: usize| !used[k] && prev[k].netns_inode == ns;
    let by_index = (ix >= 0)
        .then(|| (0..prev.len()).find(|k| free(*k) && prev[*k].ifindex == ix))
        .flatten();
    let k = by_index
        .or_else(|| (0..prev.len()).find(|k| free(*k) && prev[*k].name == i.counters.name))?;
    used[k] = true;
    Some(k)
}

/// An interface moved in from another namespace keeps its counters: a vanished interface of
/// the same name or ifindex whose every counter is <= the new reading.
fn match_moved(prev: &[Prev], used: &mut [bool], ns: i64, i: &IfaceSample) -> Option<usize> {
    let ix = ifindex(i);
    let k = (0..prev.len()).find(|k| {
        let p = &prev[*k];
        !used[*k]
            && p.netns_inode != ns
            && (p.name == i.counters.name || (ix >= 0 && p.ifindex == ix))
            && p.counters
                .iter()
                .zip(&i.counters.counters)
                .all(|(a, b)| a <= b)
            && p.counters[0] > 0
    })?;
    used[k] = true;
    Some(k)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sample::LinkInfo;
    use crate::sample::{IfaceCounters, NsSample};

    pub(crate) fn iface(name: &str, ifindex: u32, rx: u64, tx: u64) -> IfaceSample {
        let mut c = [0u64; 16];
        c[0] = rx;
        c[1] = rx / 1000;
        c[8] = tx;
        c[9] = tx / 1000;
        IfaceSample {
            counters: IfaceCounters {
                name: name.as_bytes().to_vec(),
                counters: c,
            },
            link: LinkInfo {
                ifindex: Some(ifindex),
                speed_mbps: None,
                duplex: None,
                is_virtual: true,
            },
        }
    }

    pub(crate) fn ns(inode: u64, name: &str, ifaces: Vec<IfaceSample>) -> NsSample {
        NsSample {
            inode,
            name: name.as_bytes().to_vec(),
            ..NsSample::of_ifaces(ifaces)
        }
    }

    fn prev(ns: i64, name: &str, ifindex: i64, rx: u64, tx: u64) -> Prev {
        Prev {
            netns_inode: ns,
            ifindex,
            name: name.as_bytes().to_vec(),
            counters: iface(name, 1, rx, tx).counters.counters,
        }
    }

    const CONT: Placement = Placement {
        segment: Segment::Continue,
        prev: Some(1),
        elapsed_ms: Some(60_000),
    };

    fn one(p: &[Prev], n: &[NsSample], pl: Placement) -> (Vec<Vec<IfaceDelta>>, Vec<String>) {
        let mut w = Warnings::default();
        let d = iface_deltas(p, n, pl, &mut w);
        (d, w.list.into_iter().map(|x| x.text).collect())
    }

    #[test]
    fn placement_follows_boots_and_the_monotonic_clock() {
        let last = Last {
            id: 7,
            mono_ms: 50_000,
            ts_ms: 1_000_000,
            boot_id: "a".into(),
        };
        let mut w = Warnings::default();
        assert_eq!(
            place(None, "a", 2_000_000, 60_000, &mut w).segment,
            Segment::Baseline
        );
        assert_eq!(place(Some(&last), "a", 1_010_000, 60_000, &mut w), CONT_7);
        // the clock did not advance: a baseline, said once
        let p = place(Some(&last), "a", 1_010_000, 50_000, &mut w);
        assert_eq!(p.segment, Segment::Baseline);
        assert_eq!(w.list.len(), 1);
        // rebooted after the last sample: counted since boot
        let p = place(Some(&last), "b", 1_100_000, 30_000, &mut w);
        assert_eq!((p.segment, p.elapsed_ms), (Segment::Boot, Some(30_000)));
        // rebooted, but the boot is older than the last sample (a wrong clock): a baseline
        let p = place(Some(&last), "b", 1_010_000, 30_000, &mut w);
        assert_eq!(p.segment, Segment::Baseline);
    }

    const CONT_7: Placement = Placement {
        segment: Segment::Continue,
        prev: Some(7),
        elapsed_ms: Some(10_000),
    };

    #[test]
    fn continuing_interfaces_count_their_growth_and_resets_from_zero() {
        let p = [
            prev(1, "eth0", 2, 1_000_000, 50_000),
            prev(1, "lo", 1, 500, 500),
        ];
        let n = [ns(
            1,
            "root",
            vec![
                iface("eth0", 2, 1_600_000, 80_000),
                iface("lo", 1, 100, 100),
            ],
        )];
        let (d, w) = one(&p, &n, CONT);
        assert_eq!(d[0][0].deltas.unwrap()[0], 600_000);
        assert_eq!(d[0][0].deltas.unwrap()[8], 30_000);
        assert_eq!(d[0][0].flags, 0);
        // lo went down: a reset counts the new value, never an invented wrap
        assert_eq!(d[0][1].deltas.unwrap()[0], 100);
        assert_eq!(d[0][1].flags & Flag::Reset as i64, Flag::Reset as i64);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("lo: reset"), "{w:?}");
    }

    #[test]
    fn renames_recreations_moves_and_new_interfaces() {
        // ifindex 3 renamed veth0 → web0; eth1 re-created (same name, new ifindex);
        // vx moved from namespace 1 to 2 with its counters; new0 appeared in a known namespace;
        // everything in unknown namespace 3 is a baseline; namespace 4, created since, counts.
        let p = [
            prev(1, "veth0", 3, 1000, 1000),
            prev(1, "eth1", 4, 9000, 9000),
            prev(1, "vx", 5, 7000, 7000),
            prev(2, "lo", 1, 0, 0),
        ];
        let n = [
            ns(
                1,
                "root",
                vec![iface("web0", 3, 1500, 1200), iface("eth1", 9, 10, 20)],
            ),
            ns(
                2,
                "blue",
                vec![
                    iface("lo", 1, 0, 0),
                    iface("vx", 5, 7100, 7000),
                    iface("new0", 12, 300, 0),
                ],
            ),
            ns(3, "green", vec![iface("eth0", 2, 5000, 5000)]),
            NsSample {
                fresh: true,
                ..ns(4, "born", vec![iface("lo", 1, 4000, 4000)])
            },
        ];
        let (d, _) = one(&p, &n, CONT);
        let f = |a: usize, b: usize| d[a][b].flags;
        let rx = |a: usize, b: usize| d[a][b].deltas.map(|x| x[0]);
        assert_eq!((f(0, 0), rx(0, 0)), (Flag::Renamed as i64, Some(500)));
        assert_eq!((f(0, 1), rx(0, 1)), (Flag::Recreated as i64, Some(10)));
        assert_eq!((f(1, 1), rx(1, 1)), (Flag::Moved as i64, Some(100)));
        assert_eq!((f(1, 2), rx(1, 2)), (Flag::New as i64, Some(300)));
        assert_eq!((f(2, 0), rx(2, 0)), (Flag::Baseline as i64, None));
        // a namespace created since the previous sample began at zero
        assert_eq!((f(3, 0), rx(3, 0)), (Flag::New as i64, Some(4000)));
    }

    #[test]
    fn boots_baselines_and_implausible_jumps() {
        let n = [ns(1, "root", vec![iface("eth0", 2, 4000, 2000)])];
        let boot = Placement {
            segment: Segment::Boot,
            prev: None,
            elapsed_ms: Some(30_000),
        };
        let (d, _) = one(&[], &n, boot);
        assert_eq!(
            d[0][0],
            IfaceDelta {
                deltas: Some(n[0].ifaces[0].counters.counters),
                flags: Flag::Boot as i64
            }
        );
        let base = Placement {
            segment: Segment::Baseline,
            prev: None,
            elapsed_ms: None,
        };
        assert_eq!(one(&[], &n, base).0[0][0].deltas, None);
        // 10 TB in a minute on a 400 Gbit/s ceiling: flagged, not counted, said
        let p = [prev(1, "eth0", 2, 0, 0)];
        let big = [ns(1, "root", vec![iface("eth0", 2, 10_000_000_000_000, 0)])];
        let (d, w) = one(&p, &big, CONT);
        assert_eq!(d[0][0].deltas, None);
        assert_eq!(d[0][0].flags, Flag::Implausible as i64);
        assert!(w[0].contains("flagged and not counted"), "{w:?}");
    }
}
