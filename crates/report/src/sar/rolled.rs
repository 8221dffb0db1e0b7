//! sar-style rows from rollups, for windows that reach past the raw samples kept: one row
//! per quarter hour (or per UTC day once the quarter detail is pruned) with the same sums a
//! raw report would give for that bucket, so the `Average:` rows agree with raw ones.

use super::kinds::{Key, Kind, Src};
use super::{Row, Segment, UNKNOWN};
use nrec_model::error::Result;
use nrec_store::Reader;
use nrec_store::rollup::Kind as RKind;
use nrec_store::series::Vector;
use nrec_store::window::{Edge, Resolution, Step};
use std::collections::HashMap;

struct Item {
    start_ms: i64,
    len_ms: i64,
    kind: RKind,
    series: i64,
    vals: Vec<u64>,
}

/// A series' labels: namespace, row label, and for protocol series the counter positions.
struct Label {
    netns: super::Name,
    label: Option<super::Name>,
    names: Option<HashMap<String, usize>>,
}

pub(crate) struct Rolled {
    /// The coarsest bucket used: quarter hours, or UTC days where their detail was pruned.
    pub res: Resolution,
    start_ms: i64,
    ncpu: u32,
    items: Vec<Item>,
    labels: HashMap<i64, Label>,
    /// bucket start → elapsed ms sampled (host time series)
    elapsed: HashMap<i64, u64>,
}

impl Rolled {
    /// The rollup buckets of `[a, b)` (the part of a window before the raw samples kept):
    /// quarter hours where their detail is stored, UTC days where it was pruned. A bucket
    /// that straddles an edge is taken when most of it lies inside, as `store::window` does.
    /// None when the part holds no rollups.
    pub fn load(r: &mut Reader, (a, b): (i64, i64), kinds: &[&Kind]) -> Result<Option<Rolled>> {
        let mut want = vec![RKind::Time];
        for k in kinds {
            want.push(match k.key {
                Key::Iface => RKind::Iface,
                Key::Netns | Key::Cpu => RKind::Proto,
                Key::Proc => RKind::Proc,
            });
        }
        want.sort();
        want.dedup();
        let mut items = Vec::new();
        let res = r.buckets(
            &want,
            (a, b),
            Step::Finest,
            Edge::MostlyInside,
            |bk| -> Result<()> {
                items.push(Item {
                    start_ms: bk.start_ms,
                    len_ms: bk.len_ms,
                    kind: bk.kind,
                    series: bk.series,
                    vals: bk.vals,
                });
                Ok(())
            },
        )?;
        let mut elapsed = HashMap::new();
        for it in items.iter().filter(|i| i.kind == RKind::Time) {
            *elapsed.entry(it.start_ms).or_insert(0) += it.vals.get(2).copied().unwrap_or(0);
        }
        let ncpu = r.last_host()?.map_or(1, |h| h.ncpu);
        if items.is_empty() {
            return Ok(None);
        }
        Ok(Some(Rolled {
            res,
            start_ms: items.iter().map(|i| i.start_ms).min().unwrap_or(a),
            ncpu,
            labels: labels(r)?,
            items,
            elapsed,
        }))
    }

    pub fn segments(&self) -> Vec<Segment> {
        vec![Segment {
            start_ms: self.start_ms,
            restart: false,
            ncpu: self.ncpu,
        }]
    }

    /// The time sampled in the rolled-up part (the host's time series), ms.
    pub fn sampled_ms(&self) -> i64 {
        self.elapsed.values().map(|v| *v as i64).sum()
    }

    /// Rows of `kind`, one per series and bucket (merged per label by the caller).
    pub fn rows(&self, kind: &Kind) -> Vec<Row> {
        let want = match kind.key {
            Key::Iface => RKind::Iface,
            Key::Netns | Key::Cpu => RKind::Proto,
            Key::Proc => RKind::Proc,
        };
        let mut out = Vec::new();
        for it in self.items.iter().filter(|i| i.kind == want) {
            let Some(l) = self.labels.get(&it.series) else {
                continue;
            };
            let v = &it.vals;
            let vec = Vector(v);
            let at = |i: usize| v.get(i).copied().unwrap_or(0);
            let (sums, elapsed, n) = match kind.key {
                Key::Iface => {
                    let counted = vec.iface_intervals();
                    if counted == 0 && vec.iface_uncounted() == 0 {
                        continue;
                    }
                    let sums = (counted > 0).then(|| {
                        kind.inputs
                            .iter()
                            .map(|inp| match inp.src {
                                Src::Dev(k) => u128::from(vec.dev(k)),
                                _ => 0,
                            })
                            .collect()
                    });
                    (sums, vec.iface_elapsed_ms(), counted)
                }
                Key::Proc => (
                    Some(
                        kind.inputs
                            .iter()
                            .map(|inp| match inp.src {
                                Src::Proc(0) => u128::from(vec.rx()),
                                Src::Proc(_) => u128::from(vec.tx()),
                                _ => 0,
                            })
                            .collect(),
                    ),
                    self.elapsed.get(&it.start_ms).copied().unwrap_or(0),
                    1,
                ),
                Key::Netns | Key::Cpu => {
                    let Some(names) = &l.names else { continue };
                    let len = names.len();
                    let (n_g, n_c, el_c) = (at(len), at(len + 1), at(len + 2));
                    let get = |k: &str| {
                        nrec_store::query::keyed_value(names, k, |i| Some(at(i))).map(u128::from)
                    };
                    if kind.inputs.iter().all(|inp| match inp.src {
                        Src::Gauge(keys) => keys.iter().all(|k| get(k).is_none()),
                        _ => false,
                    }) {
                        continue;
                    }
                    let sums: Option<Vec<u128>> = kind
                        .inputs
                        .iter()
                        .map(|inp| match inp.src {
                            Src::Gauge(keys) => Some(
                                keys.iter()
                                    .map(|k| get(k))
                                    .sum::<Option<u128>>()
                                    .unwrap_or(UNKNOWN),
                            ),
                            Src::Ctr(keys) if n_c > 0 => keys.iter().map(|k| get(k)).sum(),
                            _ => None,
                        })
                        .collect();
                    let Some(sums) = sums else { continue };
                    (Some(sums), el_c, n_g)
                }
            };
            out.push(Row {
                time_ms: it.start_ms + it.len_ms,
                elapsed_ms: elapsed as i64,
                segment: 0,
                netns: l.netns.clone(),
                iface: match kind.key {
                    Key::Cpu => Some(super::ALL_CPUS.into()),
                    _ => l.label.clone(),
                },
                sums,
                n: n as u32,
                speed_mbps: None,
                duplex: None,
                // rollups keep no link speed: %ifutil is unknown, never 0
                util_known: false,
                flags: 0,
                gap: false,
            });
        }
        out.sort_by_key(|r| r.time_ms);
        // series of one label (an interface re-created under its name) share a bucket's row
        super::merge_by(&out, |r| r.time_ms, |r, _| r.time_ms)
    }
}

fn labels(r: &Reader) -> Result<HashMap<i64, Label>> {
    let mut out = HashMap::new();
    for i in r.ifaces()? {
        out.insert(
            i.series,
            Label {
                netns: i.netns.into(),
                label: Some(i.name.into()),
                names: None,
            },
        );
    }
    for n in r.netns_series(RKind::Proto)? {
        out.insert(
            n.series,
            Label {
                netns: n.netns.into(),
                label: None,
                names: Some(
                    n.names
                        .into_iter()
                        .enumerate()
                        .map(|(i, n)| (n, i))
                        .collect(),
                ),
            },
        );
    }
    for p in r.procs()? {
        let mut comm = p.comm;
        comm.extend_from_slice(format!("[{}]", p.pid).as_bytes());
        out.insert(
            p.series,
            Label {
                netns: p.netns.into(),
                label: Some(comm.into()),
                names: None,
            },
        );
    }
    Ok(out)
}
