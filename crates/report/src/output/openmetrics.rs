//! The OpenMetrics text format (and Prometheus' classic text format 0.0.4, for scrapers that
//! ask for it): one renderer for `nrec serve`, `export --format openmetrics` (current values
//! for node_exporter's textfile collector, or timestamped history for
//! `promtool tsdb create-blocks-from openmetrics`).
//!
//! Names follow Prometheus' conventions (`promtool check metrics` clean): snake_case, a unit
//! suffix, `_total` on counter samples. Label values are whatever the kernel or the database
//! gave: escaped as nrec escapes text for a terminal (control and bidi characters, invalid
//! UTF-8 as `\xNN`), then as the format requires (`\\`, `\"`, `\n`), so no name can break the
//! exposition or reach a dashboard as a control sequence.

use std::fmt::Write as _;
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Counter,
    Gauge,
}

/// Which text format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `application/openmetrics-text; version=1.0.0`: `# UNIT`, `_created`, `# EOF`.
    OpenMetrics,
    /// `text/plain; version=0.0.4`.
    Prometheus,
}

impl Flavor {
    pub fn content_type(self) -> &'static str {
        match self {
            Flavor::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Flavor::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// One labelled value; `created_s` (counters) is when the counter started from zero,
/// `ts_ms` a timestamp for history (backfill), None for "now".
#[derive(Debug, Clone)]
pub struct Point {
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
    pub created_s: Option<f64>,
    pub ts_ms: Option<i64>,
}

/// A metric family: `name` without `_total` (OpenMetrics' family name).
#[derive(Debug, Clone)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Type,
    /// The unit the name ends with ("bytes", "seconds"), for `# UNIT`.
    pub unit: Option<&'static str>,
    pub points: Vec<Point>,
}

impl Family {
    pub fn new(
        name: &'static str,
        kind: Type,
        unit: Option<&'static str>,
        help: &'static str,
    ) -> Self {
        Family {
            name,
            help,
            kind,
            unit,
            points: Vec::new(),
        }
    }

    pub fn push(&mut self, labels: Vec<(&'static str, String)>, value: f64) -> &mut Point {
        self.points.push(Point {
            labels,
            value,
            created_s: None,
            ts_ms: None,
        });
        let n = self.points.len() - 1;
        &mut self.points[n]
    }
}

/// A label value as the format requires, after nrec's text escaping.
pub(crate) fn label_value(v: &str, out: &mut String) {
    for c in nrec_model::names::escape_text(v).chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn number(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

fn sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(&str, String)],
    value: f64,
    ts_ms: Option<i64>,
    flavor: Flavor,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            label_value(v, out);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    number(value, out);
    if let Some(ts) = ts_ms {
        out.push(' ');
        match flavor {
            // OpenMetrics timestamps are seconds, Prometheus' milliseconds
            Flavor::OpenMetrics => {
                let _ = write!(out, "{}.{:03}", ts.div_euclid(1000), ts.rem_euclid(1000));
            }
            Flavor::Prometheus => {
                let _ = write!(out, "{ts}");
            }
        }
    }
    out.push('\n');
}

/// Writes the families (each family's points together, as both formats require).
pub fn render(families: &[Family], flavor: Flavor, out: &mut dyn Write) -> io::Result<()> {
    let mut s = String::with_capacity(64 * 1024);
    for f in families.iter().filter(|f| !f.points.is_empty()) {
        let total = if f.kind == Type::Counter {
            "_total"
        } else {
            ""
        };
        match flavor {
            Flavor::OpenMetrics => {
                let kind = if f.kind == Type::Counter {
                    "counter"
                } else {
                    "gauge"
                };
                let _ = writeln!(s, "# TYPE {} {kind}", f.name);
                if let Some(u) = f.unit {
                    let _ = writeln!(s, "# UNIT {} {u}", f.name);
                }
                let _ = writeln!(s, "# HELP {} {}", f.name, f.help);
            }
            Flavor::Prometheus => {
                let kind = if f.kind == Type::Counter {
                    "counter"
                } else {
                    "gauge"
                };
                let _ = writeln!(s, "# HELP {}{total} {}", f.name, f.help);
                let _ = writeln!(s, "# TYPE {}{total} {kind}", f.name);
            }
        }
        for p in &f.points {
            sample(&mut s, f.name, total, &p.labels, p.value, p.ts_ms, flavor);
            if let (Flavor::OpenMetrics, Type::Counter, Some(c)) = (flavor, f.kind, p.created_s) {
                sample(&mut s, f.name, "_created", &p.labels, c, p.ts_ms, flavor);
            }
        }
        if s.len() > 1 << 20 {
            out.write_all(s.as_bytes())?;
            s.clear();
        }
    }
    if flavor == Flavor::OpenMetrics {
        s.push_str("# EOF\n");
    }
    out.write_all(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_label_values_cannot_break_the_exposition() {
        let mut f = Family::new("nrec_x_bytes", Type::Counter, Some("bytes"), "x");
        f.push(vec![("device", "a\"b\\c\nd\u{202e}e\x1b[31m".into())], 12.0)
            .created_s = Some(1.5);
        let mut out = Vec::new();
        render(&[f], Flavor::OpenMetrics, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "# TYPE nrec_x_bytes counter\n# UNIT nrec_x_bytes bytes\n# HELP nrec_x_bytes x\n\
             nrec_x_bytes_total{device=\"a\\\"b\\\\c\\\\x0ad\\\\xe2\\\\x80\\\\xaee\\\\x1b[31m\"} 12\n\
             nrec_x_bytes_created{device=\"a\\\"b\\\\c\\\\x0ad\\\\xe2\\\\x80\\\\xaee\\\\x1b[31m\"} 1.5\n# EOF\n"
        );
        assert_eq!(text.lines().count(), 6, "one line per sample");
    }

    #[test]
    fn timestamps_are_seconds_in_openmetrics_and_milliseconds_in_prometheus() {
        let mut f = Family::new("nrec_y", Type::Gauge, None, "y");
        f.push(vec![], 1.0).ts_ms = Some(1_700_000_000_123);
        let mut a = Vec::new();
        render(std::slice::from_ref(&f), Flavor::OpenMetrics, &mut a).unwrap();
        assert!(
            String::from_utf8(a)
                .unwrap()
                .contains("nrec_y 1 1700000000.123\n")
        );
        let mut b = Vec::new();
        render(&[f], Flavor::Prometheus, &mut b).unwrap();
        let b = String::from_utf8(b).unwrap();
        assert!(
            b.contains("nrec_y 1 1700000000123\n") && !b.contains("# EOF"),
            "{b}"
        );
    }
}
