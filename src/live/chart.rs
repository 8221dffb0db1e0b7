//! `nrec top`'s charts as they fit a terminal: values over time spread across the columns
//! there are (never past the right edge, never in a corner of a wide one), and a time axis
//! of local clock labels under them.

use jiff::tz::TimeZone;

/// The values of buckets `edges[i]..edges[i + 1]` (ms, oldest first) over `width` columns
/// spanning `edges[0]..edges[last]`: a column shows the busiest bucket it overlaps — one
/// bucket over several columns when they are fewer, the largest of several when they are
/// more. None: no bucket (the chart's absent value).
pub fn columns(edges: &[i64], values: &[u64], width: usize) -> Vec<Option<u64>> {
    let (Some(&start), Some(&end)) = (edges.first(), edges.last()) else {
        return vec![None; width];
    };
    let span = (end - start).max(1);
    let n = values.len().min(edges.len().saturating_sub(1));
    let mut out = Vec::with_capacity(width);
    let mut i = 0;
    for c in 0..width {
        let t0 = start + span * c as i64 / width as i64;
        let t1 = (start + span * (c as i64 + 1) / width as i64).max(t0 + 1);
        while i < n && edges[i + 1] <= t0 {
            i += 1;
        }
        let mut best: Option<u64> = None;
        let mut j = i;
        while j < n && edges[j] < t1 {
            best = Some(best.map_or(values[j], |b| b.max(values[j])));
            j += 1;
        }
        out.push(best);
    }
    out
}

/// Label spacing candidates: the first that leaves room between labels is used.
const STEPS_MS: [i64; 12] = [
    10_000,
    30_000,
    60_000,
    300_000,
    900_000,
    1_800_000,
    3_600_000,
    3 * 3_600_000,
    6 * 3_600_000,
    12 * 3_600_000,
    86_400_000,
    7 * 86_400_000,
];

/// A time axis `width` columns wide for `start..end` (ms): local clock times (`HH:MM`, or
/// `HH:MM:SS` below a minute's spacing) at round steps of the local day, each centred on its
/// column, as many as fit with room between them.
pub fn axis(start: i64, end: i64, width: usize, tz: &TimeZone) -> String {
    let span = (end - start).max(1);
    let mut line = vec![' '; width];
    let Some(step) = STEPS_MS.into_iter().find(|s| {
        let len = if *s < 60_000 { 8 } else { 5 };
        (*s as i128 * width as i128 / span as i128) >= len + 3
    }) else {
        return String::new();
    };
    let fmt = if step < 60_000 { "%H:%M:%S" } else { "%H:%M" };
    let origin = nrec_model::time::local_midnight(
        jiff::Timestamp::from_millisecond(start).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        tz,
    )
    .as_millisecond();
    let mut t = origin + (start - origin).div_euclid(step) * step + step;
    let mut free_from = 0usize;
    while t <= end {
        let Ok(ts) = jiff::Timestamp::from_millisecond(t) else {
            break;
        };
        let label = ts.to_zoned(tz.clone()).strftime(fmt).to_string();
        let len = label.chars().count();
        let col = ((t - start) as i128 * width as i128 / span as i128) as usize;
        let at = col.saturating_sub(len / 2).min(width.saturating_sub(len));
        if at >= free_from && at + len <= width {
            for (k, ch) in label.chars().enumerate() {
                line[at + k] = ch;
            }
            free_from = at + len + 1;
        }
        t += step;
    }
    line.into_iter().collect::<String>().trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_spans_the_width_whatever_the_buckets() {
        // 60 one-minute buckets over 150 columns: each bucket 2–3 columns, the newest at
        // the right edge
        let edges: Vec<i64> = (0..=60).map(|i| i * 60_000).collect();
        let mut vals = vec![0u64; 60];
        vals[59] = 7;
        let c = columns(&edges, &vals, 150);
        assert_eq!(c.len(), 150);
        assert_eq!(c[149], Some(7));
        assert_eq!(c[146], Some(0));
        // 96 quarter hours over 40 columns: the busiest of those a column covers, the
        // newest still on screen
        let edges: Vec<i64> = (0..=96).map(|i| i * 900_000).collect();
        let mut vals = vec![1u64; 96];
        vals[95] = 9;
        vals[3] = 5;
        let c = columns(&edges, &vals, 40);
        assert_eq!(c[39], Some(9));
        assert_eq!(c[1], Some(5));
        assert!(c.iter().all(Option::is_some));
        // partial first and last buckets keep their time, not a column each
        let edges = [0, 10_000, 70_000, 130_000, 135_000];
        let c = columns(&edges, &[1, 2, 3, 4], 27);
        assert_eq!((c[0], c[26]), (Some(1), Some(4)));
        assert_eq!(
            c[13],
            Some(2),
            "the middle of the window is the second bucket's"
        );
        assert!(columns(&[], &[], 3).iter().all(Option::is_none));
    }

    #[test]
    fn an_axis_labels_round_local_times_that_fit() {
        let tz = TimeZone::UTC;
        let h = 3_600_000;
        let start = 1_795_305_600_000 + 10 * h + 7 * 60_000; // 10:07 UTC
        let a = axis(start, start + h, 78, &tz);
        assert!(a.contains("10:15") && a.contains("11:00"), "{a:?}");
        assert!(a.chars().count() <= 78);
        // a day at 78 columns: labels hours apart, none overlapping
        let a = axis(start, start + 24 * h, 78, &tz);
        let labels: Vec<&str> = a.split_whitespace().collect();
        assert!(labels.len() >= 4, "{a:?}");
        assert!(
            labels.iter().all(|l| l.len() == 5 && l.ends_with(":00")),
            "{a:?}"
        );
        // five minutes of refreshes: seconds
        let a = axis(start, start + 300_000, 200, &tz);
        assert!(a.split_whitespace().all(|l| l.len() == 8), "{a:?}");
        // a label sits over its time: 11:00 is at 53/60 of the hour's width
        let a = axis(start, start + h, 120, &tz);
        let at = a.find("11:00").unwrap() + 2;
        assert!((at as i64 - 106).abs() <= 1, "{a:?}");
        assert_eq!(axis(start, start + h, 3, &tz), "");
    }
}
