//! Parsers for the /proc/net text files, working on raw bytes.
//!
//! /proc is untrusted input: interface names are kept as bytes (they need not be UTF-8), a
//! malformed line is skipped with a warning naming the file and line, and the rest is kept.

use super::{IfaceCounters, Warnings};
use nrec_model::sample::{Counters, Key};

/// Parses `/proc/net/dev`: two heading lines, then `name: 16 counters` per interface.
pub(crate) fn parse_net_dev(text: &[u8], path: &str, warn: &mut Warnings) -> Vec<IfaceCounters> {
    let mut out = Vec::new();
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        if i < 2 || line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        // Names cannot contain ':' in the kernel, but split at the last ':' so that even a
        // hostile name with one stays whole: the counters never contain ':'.
        let Some(colon) = line.iter().rposition(|b| *b == b':') else {
            warn.line(path, i + 1, "no ':' after the interface name", line);
            continue;
        };
        let name = trim_start(&line[..colon]);
        let fields: Vec<&[u8]> = line[colon + 1..]
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty())
            .collect();
        if name.is_empty() {
            warn.line(path, i + 1, "empty interface name", line);
            continue;
        }
        // IFNAMSIZ is 16 with the NUL: a longer "name" is not one the kernel can have
        if name.len() > 15 {
            warn.line(
                path,
                i + 1,
                "interface name longer than the kernel allows (15 bytes)",
                line,
            );
            continue;
        }
        if fields.len() != 16 {
            warn.line(
                path,
                i + 1,
                &format!("expected 16 counters, found {}", fields.len()),
                line,
            );
            continue;
        }
        let mut c = [0u64; 16];
        let mut ok = true;
        for (slot, f) in c.iter_mut().zip(&fields) {
            match parse_u64(f) {
                Some(v) => *slot = v,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            warn.line(path, i + 1, "a counter is not an unsigned integer", line);
            continue;
        }
        out.push(IfaceCounters {
            name: name.to_vec(),
            counters: c,
        });
    }
    out
}

/// Parses the paired-line format of `/proc/net/snmp` and `/proc/net/netstat`:
/// `Tcp: Name1 Name2` then `Tcp: 1 2`. Keys become `file:Group:Name`.
pub(crate) fn parse_paired(
    text: &[u8],
    file: &str,
    path: &str,
    warn: &mut Warnings,
    out: &mut Counters,
) {
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut i = 0;
    while i < lines.len() {
        let head = lines[i];
        let Some(vals) = lines.get(i + 1) else {
            warn.line(path, i + 1, "heading line without a value line", head);
            break;
        };
        let hp = split_prefix(head);
        let vp = split_prefix(vals);
        match (hp, vp) {
            (Some((hg, names)), Some((vg, values))) if hg == vg => {
                let names: Vec<&[u8]> = words(names);
                let values: Vec<&[u8]> = words(values);
                if names.len() != values.len() {
                    warn.line(
                        path,
                        i + 2,
                        &format!("{} names but {} values", names.len(), values.len()),
                        vals,
                    );
                } else {
                    let group = String::from_utf8_lossy(hg);
                    for (n, v) in names.iter().zip(&values) {
                        match parse_signed_as_u64(v) {
                            Some(v) if is_key_word(n) => {
                                out.push((key(&[file, &group], n, out.len()), v))
                            }
                            _ => warn.line(path, i + 2, "bad counter name or value", vals),
                        }
                    }
                }
                i += 2;
            }
            _ => {
                warn.line(
                    path,
                    i + 1,
                    "not a 'Group: names' / 'Group: values' pair",
                    head,
                );
                i += 1;
            }
        }
    }
}

/// `a:b:…:name`, interned (a sample holds ~440 such keys per namespace, the same in each):
/// built in a buffer the thread keeps, so a name already known costs no allocation. `at`:
/// its place among its namespace's counters — every namespace's files list the same names
/// in the same order, so the key the thread made at that place for the namespace before is
/// compared first (a comparison of bytes, where the interning table is a lock and a hash).
fn key(parts: &[&str], name: &[u8], at: usize) -> Key {
    /// The keys made at each place, up to this many places.
    const PLACES: usize = 4096;
    thread_local! {
        static BUF: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        static MADE: std::cell::RefCell<Vec<Key>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|b| {
        let mut k = b.borrow_mut();
        k.clear();
        for p in parts {
            k.push_str(p);
            k.push(':');
        }
        match std::str::from_utf8(name) {
            Ok(n) => k.push_str(n),
            Err(_) => k.push_str(&String::from_utf8_lossy(name)),
        }
        MADE.with(|m| {
            let mut m = m.borrow_mut();
            if let Some(made) = m.get(at).filter(|made| made.as_str() == k.as_str()) {
                return made.clone();
            }
            let made = Key::new(&k);
            match at.cmp(&m.len()) {
                std::cmp::Ordering::Less => m[at] = made.clone(),
                std::cmp::Ordering::Equal if at < PLACES => m.push(made.clone()),
                _ => {}
            }
            made
        })
    })
}

/// Parses `/proc/net/snmp6`: one `Name value` per line. Keys become `snmp6:Name`.
pub(crate) fn parse_snmp6(text: &[u8], path: &str, warn: &mut Warnings, out: &mut Counters) {
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        let w = words(line);
        if w.is_empty() {
            continue;
        }
        match (w.len(), parse_signed_as_u64(w.last().unwrap_or(&&b""[..]))) {
            (2, Some(v)) if is_key_word(w[0]) => out.push((key(&["snmp6"], w[0], out.len()), v)),
            _ => warn.line(path, i + 1, "expected 'Name value'", line),
        }
    }
}

/// Parses `/proc/net/sockstat{,6}`: `TCP: inuse 1 orphan 0 tw 0 ...`. Keys `file:GROUP:name`.
pub(crate) fn parse_sockstat(
    text: &[u8],
    file: &str,
    path: &str,
    warn: &mut Warnings,
    out: &mut Counters,
) {
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let Some((group, rest)) = split_prefix(line) else {
            warn.line(path, i + 1, "no 'GROUP:' prefix", line);
            continue;
        };
        let w = words(rest);
        if w.len() % 2 != 0 || w.is_empty() {
            warn.line(path, i + 1, "expected 'name value' pairs", line);
            continue;
        }
        let group = String::from_utf8_lossy(group);
        for pair in w.chunks(2) {
            match parse_u64(pair[1]) {
                Some(v) if is_key_word(pair[0]) => {
                    out.push((key(&[file, &group], pair[0], out.len()), v))
                }
                _ => warn.line(path, i + 1, "bad 'name value' pair", line),
            }
        }
    }
}

/// `/proc/uptime` first field (seconds with 2 decimals) in milliseconds: non-negative and
/// below a century (anything else is not an uptime).
pub(crate) fn parse_uptime_ms(text: &[u8]) -> Option<i64> {
    const CENTURY_S: i64 = 100 * 366 * 86_400;
    let first = words(text).into_iter().next()?;
    let s = std::str::from_utf8(first).ok()?;
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    if !int.bytes().all(|c| c.is_ascii_digit()) || int.is_empty() {
        return None;
    }
    let int: i64 = int.parse().ok().filter(|i| *i < CENTURY_S)?;
    let mut frac_ms = 0i64;
    for (k, c) in frac.bytes().take(3).enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        frac_ms += i64::from(c - b'0') * [100, 10, 1][k];
    }
    int.checked_mul(1000)?.checked_add(frac_ms)
}

/// Number of `cpuN` lines in `/proc/stat`.
pub(crate) fn count_cpus(stat: &[u8]) -> u32 {
    stat.split(|b| *b == b'\n')
        .filter(|l| l.len() > 3 && l.starts_with(b"cpu") && l[3].is_ascii_digit())
        .count() as u32
}

fn split_prefix(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|b| *b == b':')?;
    let group = &line[..colon];
    if !is_key_word(group) {
        return None;
    }
    Some((group, &line[colon + 1..]))
}

fn words(s: &[u8]) -> Vec<&[u8]> {
    s.split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .collect()
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| **b == b' ').count();
    &s[n..]
}

/// Counter and group names are plain identifiers; anything else is a malformed line.
/// `/proc/net/softnet_stat`: one line per online CPU of 32-bit hex fields — processed,
/// dropped, time_squeeze, five unused, cpu_collision, received_rps, flow_limit_count, then
/// (Linux 5.10 and later) backlog_len, the CPU's number, input_qlen and process_qlen. Stored
/// per CPU, as sar's `-n SOFT` reads them: `softnet:NAME:CPU` for processed, dropped,
/// time_squeeze, received_rps and flow_limit_count (counters; a report sums the CPUs' deltas,
/// so one CPU's 32-bit wrap is never a decrease of the sum), and backlog_len (a gauge). The
/// CPU is the line's own number where the kernel prints it, else its position.
pub(crate) fn parse_softnet(text: &[u8], path: &str, warn: &mut Warnings, out: &mut Counters) {
    const NAMES: [(&str, usize); 5] = [
        ("processed", 0),
        ("dropped", 1),
        ("time_squeeze", 2),
        ("received_rps", 9),
        ("flow_limit_count", 10),
    ];
    let hex = |w: &[u8]| -> Option<u64> {
        if w.is_empty() || w.len() > 8 || !w.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u64::from_str_radix(std::str::from_utf8(w).ok()?, 16).ok()
    };
    let mut seen = 0usize;
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if seen == nrec_model::limit::SOFTNET_CPUS {
            warn.line(path, i + 1, "more CPUs than nrec stores", line);
            break;
        }
        let w: Option<Vec<u64>> = words(line).into_iter().map(hex).collect();
        let Some(w) = w.filter(|w| w.len() >= 11) else {
            warn.line(path, i + 1, "expected 11 or more hex fields", line);
            continue;
        };
        let cpu = w.get(12).copied().unwrap_or(seen as u64);
        seen += 1;
        for (name, at) in NAMES {
            out.push((format!("softnet:{name}:{cpu}").into(), w[at]));
        }
        if let Some(b) = w.get(11) {
            out.push((format!("softnet:backlog_len:{cpu}").into(), *b));
        }
    }
}

fn is_key_word(s: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// A few kernel values are signed (`Tcp: MaxConn -1`); they are stored as the two's
/// complement bit pattern, which round-trips exactly.
fn parse_signed_as_u64(s: &[u8]) -> Option<u64> {
    match s.first() {
        Some(b'-') => {
            let v: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
            Some(v as u64)
        }
        _ => parse_u64(s),
    }
}

#[cfg(test)]
mod softnet_tests {
    use super::*;

    #[test]
    fn softnet_lines_are_per_cpu_counters_by_their_own_number() {
        let mut w = Warnings::default();
        let mut out = Vec::new();
        // Linux 6.x: 15 fields, the CPU's number 13th (CPU 1 offline: 0 and 2 listed)
        let text = b"000363a6 00000001 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000003 00000004 00000005 00000000 00000000 00000000\n\
ffffffff 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000000 00000000\n\
zz\n";
        parse_softnet(text, "softnet_stat", &mut w, &mut out);
        let get = |k: &str| out.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        assert_eq!(get("softnet:processed:0"), Some(0x363a6));
        assert_eq!(get("softnet:dropped:0"), Some(1));
        assert_eq!(get("softnet:time_squeeze:0"), Some(2));
        assert_eq!(get("softnet:received_rps:0"), Some(3));
        assert_eq!(get("softnet:flow_limit_count:0"), Some(4));
        assert_eq!(get("softnet:backlog_len:0"), Some(5));
        assert_eq!(get("softnet:processed:2"), Some(0xffff_ffff));
        assert_eq!(out.len(), 12, "{out:?}");
        assert_eq!(w.list.len(), 1, "the malformed line is said");
        // an older kernel: 11 fields, no backlog_len, CPUs by position
        let mut out = Vec::new();
        parse_softnet(
            b"1 2 3 0 0 0 0 0 0 4 5\n6 0 0 0 0 0 0 0 0 0 0\n",
            "s",
            &mut w,
            &mut out,
        );
        assert_eq!(
            out.iter()
                .filter(|(n, _)| n.starts_with("softnet:backlog"))
                .count(),
            0
        );
        assert!(out.contains(&("softnet:processed:1".into(), 6)));
        // a value past 32 bits is not a softnet counter
        let mut out = Vec::new();
        parse_softnet(b"123456789 0 0 0 0 0 0 0 0 0 0\n", "s", &mut w, &mut out);
        assert!(out.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_keeps_hostile_names_and_skips_bad_lines() {
        let text = b"Inter-|   Receive\n face |bytes\n    lo: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n\
=cmd|\xff,\"x: 5 6 0 0 0 0 0 0 7 8 0 0 0 0 0 0\n  bad: 1 2 3\n eth0 1 2\n big: 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let mut w = Warnings::default();
        let v = parse_net_dev(text, "/x/net/dev", &mut w);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].name, b"lo");
        assert_eq!(v[0].counters[0], 1);
        assert_eq!(v[0].counters[8], 3);
        assert_eq!(v[1].name, b"=cmd|\xff,\"x");
        assert_eq!(v[1].counters[9], 8);
        assert_eq!(v[2].counters[0], u64::MAX);
        assert_eq!(w.list.len(), 2);
        assert!(w.list[0].text.contains("/x/net/dev line 5"), "{:?}", w.list);
        // longer than IFNAMSIZ allows: not a kernel name, skipped with a warning
        let long = b"a\nb\n sixteen-bytes-xx: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n fifteen-bytes-x: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n";
        let mut w = Warnings::default();
        let v = parse_net_dev(long, "/x/net/dev", &mut w);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].name, b"fifteen-bytes-x");
        assert!(w.list[0].text.contains("15 bytes"), "{:?}", w.list);
    }

    #[test]
    fn paired_and_sockstat() {
        let mut w = Warnings::default();
        let mut out = vec![];
        parse_paired(
            b"Tcp: RtoMin MaxConn ActiveOpens\nTcp: 200 -1 7\nUdp: InDatagrams\nUdp: x\n",
            "snmp",
            "p",
            &mut w,
            &mut out,
        );
        assert_eq!(out[0], ("snmp:Tcp:RtoMin".into(), 200));
        assert_eq!(out[1].1 as i64, -1);
        assert_eq!(out[2], ("snmp:Tcp:ActiveOpens".into(), 7));
        assert_eq!(out.len(), 3);
        assert_eq!(w.list.len(), 1);
        out.clear();
        parse_sockstat(
            b"sockets: used 9\nTCP: inuse 1 orphan 0 tw 2\nFRAG: inuse 0 memory\n",
            "sockstat",
            "p",
            &mut w,
            &mut out,
        );
        assert_eq!(out[0], ("sockstat:sockets:used".into(), 9));
        assert_eq!(out[3], ("sockstat:TCP:tw".into(), 2));
        assert_eq!(out.len(), 4);
        assert_eq!(w.list.len(), 2);
    }

    #[test]
    fn uptime_and_cpus() {
        assert_eq!(parse_uptime_ms(b"336.09 642.93\n"), Some(336_090));
        assert_eq!(parse_uptime_ms(b"5 1\n"), Some(5000));
        assert_eq!(parse_uptime_ms(b"x.1 1\n"), None);
        assert_eq!(parse_uptime_ms(b"-100.00 1\n"), None);
        assert_eq!(parse_uptime_ms(b"+5.00 1\n"), None);
        assert_eq!(parse_uptime_ms(b"9223372036854775.807 1\n"), None);
        assert_eq!(
            parse_uptime_ms(b"4000000000.00 1\n"),
            None,
            "over a century"
        );
        assert_eq!(count_cpus(b"cpu  1 2\ncpu0 1\ncpu1 2\nintr 5\n"), 2);
    }
}

/// The fuzz target of the /proc parsers (issue 12): arbitrary bytes, and real files with
/// bytes flipped, inserted or cut, never panic, and what they return stays within what the
/// input could hold. Bounded cases, run by `cargo test` (and so in CI).
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    const NET_DEV: &[u8] = b"Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 1234 12 0 0 0 0 0 0 1234 12 0 0 0 0 0 0\n  eth0: 98765 321 1 2 0 0 0 7 4321 99 0 0 0 0 0 0\n";
    const SNMP: &[u8] = b"Ip: Forwarding DefaultTTL InReceives\nIp: 1 64 12345\nTcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens InSegs\nTcp: 1 200 120000 -1 77 9999\nUdp: InDatagrams NoPorts\nUdp: 55 3\n";
    const SOCKSTAT: &[u8] =
        b"sockets: used 123\nTCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1\nUDP: inuse 3 mem 2\n";

    fn all(bytes: &[u8]) {
        let mut w = Warnings::default();
        let dev = parse_net_dev(bytes, "f", &mut w);
        // one interface per line at most
        assert!(dev.len() <= bytes.iter().filter(|b| **b == b'\n').count() + 1);
        assert!(dev.iter().all(|i| !i.name.is_empty() && i.name.len() <= 15));
        let mut out = Vec::new();
        parse_paired(bytes, "snmp", "f", &mut w, &mut out);
        parse_snmp6(bytes, "f", &mut w, &mut out);
        parse_sockstat(bytes, "sockstat", "f", &mut w, &mut out);
        if let Some(ms) = parse_uptime_ms(bytes) {
            assert!(ms >= 0);
        }
        let _ = count_cpus(bytes);
        let _ = parse_u64(bytes);
    }

    fn mutate(base: &[u8], at: usize, byte: u8, how: u8) -> Vec<u8> {
        let mut v = base.to_vec();
        let at = at % (v.len() + 1);
        match how % 3 {
            0 if at < v.len() => v[at] = byte,
            1 => v.insert(at, byte),
            _ => v.truncate(at),
        }
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
            all(&bytes);
        }

        #[test]
        fn damaged_proc_files_never_panic(
            which in 0usize..3,
            edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8),
        ) {
            let mut v = [NET_DEV, SNMP, SOCKSTAT][which].to_vec();
            for (at, byte, how) in edits {
                v = mutate(&v, at, byte, how);
            }
            all(&v);
        }
    }
}
