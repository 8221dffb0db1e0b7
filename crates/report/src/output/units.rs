//! Units for people, in one place: every table that scales a number to a unit goes through
//! [`scale`], so bytes, rates and sar's `--human` columns round and step alike.
//!
//! CSV and JSON never use these: they carry raw integers (bytes, bits per second).

/// Divides `x` by `base` until it is below `base` or the units run out: (value, unit index).
fn scale(mut x: f64, base: f64, units: usize) -> (f64, usize) {
    let mut u = 0;
    while x >= base && u + 1 < units {
        x /= base;
        u += 1;
    }
    (x, u)
}

/// Bytes with a binary unit: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let (x, u) = scale(b as f64, 1024.0, UNITS.len());
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{x:.1} {}", UNITS[u])
    }
}

/// A rate in bits per second with a decimal unit (as link speeds are given): `12.34 Mbit/s`.
pub fn bits_per_s(bits: f64) -> String {
    const UNITS: [&str; 5] = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
    let (x, u) = scale(bits, 1000.0, UNITS.len());
    format!("{x:.2} {}", UNITS[u])
}

/// sar's `--human` column: a KiB/s figure as bytes with a one-letter binary unit, 9 wide.
pub(crate) fn sar_human(kib: f64) -> String {
    const UNITS: [char; 6] = ['B', 'k', 'M', 'G', 'T', 'P'];
    let (x, u) = scale(kib * 1024.0, 1024.0, UNITS.len());
    format!(" {:>8.1}{}", x, UNITS[u])
}

/// A duration of whole minutes: `45m`, `1h02m`, `3d04h05m`.
pub fn minutes(ms: i64) -> String {
    let m = ms / 60_000;
    match (m / 1440, (m / 60) % 24, m % 60) {
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h{m:02}m"),
        (d, h, m) => format!("{d}d{h:02}h{m:02}m"),
    }
}

/// A duration for people, to its two largest units: `45s`, `12m 5s`, `3h 20m`, `6d 1h`
/// (a negative one — a clock that went back — keeps its sign).
pub fn duration(ms: i64) -> String {
    if ms < 0 {
        return format!("-{}", duration(ms.saturating_neg()));
    }
    let two = |a: i64, ua: &str, b: i64, ub: &str| {
        if b == 0 {
            format!("{a}{ua}")
        } else {
            format!("{a}{ua} {b}{ub}")
        }
    };
    // rounded to the last unit shown: 9.998 s of a 10 s daemon is "10s", never "9s"
    let s = ms.saturating_add(500) / 1000;
    if s < 60 {
        return format!("{s}s");
    }
    if s < 3600 {
        return two(s / 60, "m", s % 60, "s");
    }
    let m = (s + 30) / 60;
    if m < 1440 {
        return two(m / 60, "h", m % 60, "m");
    }
    let h = (m + 30) / 60;
    two(h / 24, "d", h % 24, "h")
}

/// A share in percent of a whole (0 when the whole is 0).
pub(crate) fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        for (ms, text) in [
            (0, "0s"),
            (9_998, "10s"),
            (59_499, "59s"),
            (59_999, "1m"),
            (60_000, "1m"),
            (3_599_600, "1h"),
            (725_000, "12m 5s"),
            (3_600_000, "1h"),
            (12_000_000, "3h 20m"),
            (524_440_000, "6d 2h"),
            (520_000_000, "6d"),
            (-90_000, "-1m 30s"),
        ] {
            assert_eq!(duration(ms), text, "{ms} ms");
        }
    }

    #[test]
    fn units_step_at_their_base() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536 * 1024), "1.5 MiB");
        assert_eq!(bytes(u64::MAX), "16384.0 PiB");
        assert_eq!(bits_per_s(999.0), "999.00 bit/s");
        assert_eq!(bits_per_s(12_340_000.0), "12.34 Mbit/s");
        assert_eq!(sar_human(4872.65), "      4.8M");
        assert_eq!(sar_human(0.5), "    512.0B");
        assert_eq!(minutes(3_720_000), "1h02m");
        assert_eq!(minutes(2 * 86_400_000 + 60_000), "2d00h01m");
        assert_eq!(pct(1, 0), 0.0);
        assert_eq!(pct(1, 4), 25.0);
    }
}
