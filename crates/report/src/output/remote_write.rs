//! Prometheus remote-write 1.0 bodies: a `prometheus.WriteRequest` protobuf, snappy
//! block-compressed (the remote-write specification; `prompb/remote.proto` and `types.proto`
//! in Prometheus). Only what nrec sends is encoded:
//!
//! ```text
//! WriteRequest   { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
//! TimeSeries     { repeated Label labels = 1; repeated Sample samples = 2; }
//! Label          { string name = 1; string value = 2; }
//! Sample         { double value = 1; int64 timestamp = 2; }      // ms
//! MetricMetadata { MetricType type = 1; string metric_family_name = 2;
//!                  string help = 4; string unit = 5; }             // COUNTER = 1
//! ```
//!
//! [`Batcher`] is a history [`Sink`]: it gathers the points of whole point times into one
//! request of at most `max_samples` values (a point time is never split, so a request holds
//! every series of its instants), each series' labels sorted by name with `__name__` first
//! (what the receivers require), its samples in time order; requests follow each other in
//! time order, which is what a receiver without an out-of-order window needs.

use crate::backfill::{FamilyInfo, HistoryError, SeriesRef, Sink};
use crate::output::openmetrics::{Family, Type};
use nrec_model::names::escape_text;
use std::collections::HashMap;

/// One encoded request: the compressed body and what it holds.
#[derive(Debug)]
pub struct Batch {
    pub body: Vec<u8>,
    /// Values in it.
    pub samples: u64,
    /// Its first and last point times (ms).
    pub first_ms: i64,
    pub last_ms: i64,
}

/// A label name a series must not be given by the config's extra labels (nrec's own).
pub const OWN_LABELS: [&str; 11] = [
    "__name__",
    "netns",
    "device",
    "alias",
    "name",
    "unit",
    "container",
    "proto",
    "port",
    "family",
    "scope",
];

struct Series {
    /// Its `Label` messages, encoded.
    labels: Vec<u8>,
    samples: Vec<(i64, f64)>,
}

/// Gathers history points into requests and hands each full one to `send`.
pub struct Batcher<'a> {
    /// Extra labels of every series (`instance`, `job`, `site` …), sorted by name.
    extra: Vec<(String, String)>,
    max_samples: u64,
    metadata: Vec<u8>,
    index: HashMap<(usize, usize), usize>,
    series: Vec<Series>,
    samples: u64,
    first_ms: Option<i64>,
    last_ms: i64,
    send: &'a mut dyn FnMut(Batch) -> Result<(), HistoryError>,
}

impl<'a> Batcher<'a> {
    /// `fams`: the history's families (their metadata goes with every request).
    pub fn new(
        fams: &[FamilyInfo],
        extra: &[(String, String)],
        max_samples: u64,
        send: &'a mut dyn FnMut(Batch) -> Result<(), HistoryError>,
    ) -> Batcher<'a> {
        let mut extra = extra.to_vec();
        extra.sort();
        let mut metadata = Vec::new();
        for f in fams {
            metadata.extend(metadata_of(1, &format!("{}_total", f.name), f.help, f.unit));
        }
        Batcher {
            extra,
            max_samples: max_samples.max(1),
            metadata,
            index: HashMap::new(),
            series: Vec::new(),
            samples: 0,
            first_ms: None,
            last_ms: 0,
            send,
        }
    }

    /// Sends what is gathered (the end of a history).
    pub fn finish(&mut self) -> Result<(), HistoryError> {
        let Some(first_ms) = self.first_ms.take() else {
            return Ok(());
        };
        let mut req = Vec::with_capacity(self.samples as usize * 12 + 4096);
        let mut ts = Vec::new();
        for s in self.series.drain(..) {
            ts.clear();
            ts.extend_from_slice(&s.labels);
            for (t, v) in &s.samples {
                let mut m = Vec::with_capacity(20);
                m.push(0x09); // 1: double
                m.extend_from_slice(&v.to_le_bytes());
                varint_field(&mut m, 2, *t as u64);
                bytes_field(&mut ts, 2, &m);
            }
            bytes_field(&mut req, 1, &ts);
        }
        req.extend_from_slice(&self.metadata);
        self.index.clear();
        let body = snap::raw::Encoder::new()
            .compress_vec(&req)
            .map_err(|e| HistoryError::Sink(format!("snappy: {e}")))?;
        let b = Batch {
            body,
            samples: std::mem::take(&mut self.samples),
            first_ms,
            last_ms: self.last_ms,
        };
        (self.send)(b)
    }

    /// The values of `fams` (a scrape's families: `metrics::collect`) that `keep` names, at
    /// `t`: what has no history (gauges, the protocol counters) pushed as of the newest
    /// sample.
    pub fn snapshot(
        &mut self,
        t: i64,
        fams: &[Family],
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<(), HistoryError> {
        for f in fams.iter().filter(|f| keep(f.name)) {
            let (name, kind) = match f.kind {
                Type::Counter => (format!("{}_total", f.name), 1),
                Type::Gauge => (f.name.to_string(), 2),
            };
            self.metadata
                .extend(metadata_of(kind, &name, f.help, f.unit));
            for p in &f.points {
                let labels = self.encode_labels(&name, &p.labels);
                self.series.push(Series {
                    labels,
                    samples: vec![(t, p.value)],
                });
                self.samples += 1;
                self.first_ms.get_or_insert(t);
                self.last_ms = self.last_ms.max(t);
            }
        }
        Ok(())
    }

    fn labels(&self, s: &SeriesRef<'_>) -> Vec<u8> {
        self.encode_labels(&format!("{}_total", s.info.name), s.pairs)
    }

    /// A series' `Label` messages: `__name__`, its labels and the extra ones, sorted by
    /// name; values as `/metrics` shows them once parsed (nrec's one escaping).
    fn encode_labels(&self, name: &str, pairs: &[(&'static str, String)]) -> Vec<u8> {
        let pairs: Vec<(&str, String)> = pairs.iter().map(|(k, v)| (*k, escape_text(v))).collect();
        let mut all: Vec<(&str, &str)> = vec![("__name__", name)];
        all.extend(pairs.iter().map(|(k, v)| (*k, v.as_str())));
        all.extend(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        all.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = Vec::new();
        for (k, v) in all.into_iter().filter(|(_, v)| !v.is_empty()) {
            let mut l = Vec::with_capacity(k.len() + v.len() + 4);
            bytes_field(&mut l, 1, k.as_bytes());
            bytes_field(&mut l, 2, v.as_bytes());
            bytes_field(&mut out, 1, &l);
        }
        out
    }
}

impl Sink for Batcher<'_> {
    fn value(&mut self, t: i64, s: &SeriesRef<'_>, v: u64) -> Result<(), HistoryError> {
        let at = match self.index.get(&(s.family, s.id)) {
            Some(i) => *i,
            None => {
                let labels = self.labels(s);
                self.series.push(Series {
                    labels,
                    samples: Vec::new(),
                });
                self.index.insert((s.family, s.id), self.series.len() - 1);
                self.series.len() - 1
            }
        };
        self.series[at].samples.push((t, v as f64));
        self.samples += 1;
        self.first_ms.get_or_insert(t);
        self.last_ms = t;
        Ok(())
    }

    fn end_point(&mut self, _: i64) -> Result<(), HistoryError> {
        if self.samples >= self.max_samples {
            self.finish()?;
        }
        Ok(())
    }
}

/// A `MetricMetadata` field of the request: type (1 COUNTER, 2 GAUGE), name, help, unit.
fn metadata_of(kind: u64, name: &str, help: &str, unit: Option<&str>) -> Vec<u8> {
    let mut m = Vec::new();
    varint_field(&mut m, 1, kind);
    bytes_field(&mut m, 2, name.as_bytes());
    bytes_field(&mut m, 4, help.as_bytes());
    if let Some(u) = unit {
        bytes_field(&mut m, 5, u.as_bytes());
    }
    let mut out = Vec::new();
    bytes_field(&mut out, 3, &m);
    out
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    varint(out, u64::from(field) << 3);
    varint(out, v);
}

fn bytes_field(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    varint(out, (u64::from(field) << 3) | 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_protobufs() {
        let mut v = Vec::new();
        varint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
        v.clear();
        // a negative timestamp is ten bytes (int64 as two's complement)
        varint(&mut v, (-1i64) as u64);
        assert_eq!(v.len(), 10);
        v.clear();
        bytes_field(&mut v, 2, b"ab");
        assert_eq!(v, [0x12, 2, b'a', b'b']);
    }
}
