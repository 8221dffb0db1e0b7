//! Typed read queries for reports. Every query is bounded by a [`Window`] of sample times.

use super::limit;
use super::{Bounded, from_sql};
use nrec_model::time::Window;
use rusqlite::{Connection, params};
use std::collections::HashMap;

/// A namespace or row label: shared, not copied, by the thousands of rows of a day.
pub type Name = std::rc::Rc<[u8]>;

#[derive(Debug, Clone)]
pub struct SampleRow {
    pub id: i64,
    pub ts_ms: i64,
    pub prev: Option<i64>,
    pub elapsed_ms: Option<i64>,
    pub boot_id: String,
    pub hostname: Vec<u8>,
    pub kernel: String,
    pub arch: String,
    pub ncpu: u32,
}

/// Samples whose interval ends in the window (`start < ts <= end`, §4 "Windows"), in
/// recording order.
pub(crate) fn samples(conn: &Connection, w: &Window) -> rusqlite::Result<Vec<SampleRow>> {
    let mut st = conn.prepare_cached(
        "SELECT s.id, s.ts_ms, s.prev, s.elapsed_ms, si.boot_id, si.hostname, si.kernel, si.arch, si.ncpu
         FROM sample s JOIN sysinfo si ON si.id = s.sysinfo
         WHERE s.ts_ms > ?1 AND s.ts_ms <= ?2 ORDER BY s.id",
    )?;
    let rows = st.query_map(params![w.start_ms(), w.end_ms()], |r| {
        Ok(SampleRow {
            id: r.get(0)?,
            ts_ms: r.get(1)?,
            prev: r.get(2)?,
            elapsed_ms: r.get(3)?,
            boot_id: r.bounded(4, limit::UNAME)?,
            hostname: r.bounded(5, limit::UNAME)?,
            kernel: r.bounded(6, limit::UNAME)?,
            arch: r.bounded(7, limit::UNAME)?,
            ncpu: r.get(8)?,
        })
    })?;
    rows.collect()
}

#[derive(Debug, Clone)]
pub struct IfaceRow {
    pub sample: i64,
    pub netns: Name,
    pub name: Name,
    pub deltas: Option<[u64; 16]>,
    pub speed_mbps: Option<u32>,
    pub duplex: Option<u8>,
    pub flags: i64,
}

/// Interface rows of the given samples (a window's, in id order), in sample then interface
/// order. One range scan of the primary key; names are looked up once per interface.
pub(crate) fn iface_rows(
    conn: &Connection,
    samples: &[SampleRow],
    needed: &[bool; 16],
) -> rusqlite::Result<Vec<IfaceRow>> {
    let (Some(lo), Some(hi)) = (samples.first(), samples.last()) else {
        return Ok(Vec::new());
    };
    let wanted: std::collections::HashSet<i64> = samples.iter().map(|s| s.id).collect();
    let mut names: HashMap<i64, (Name, Name)> = HashMap::new();
    let mut st = conn.prepare_cached(
        "SELECT i.id, n.name, i.name FROM iface i JOIN netns n ON n.id = i.netns",
    )?;
    for r in st.query_map([], |r| {
        Ok((
            r.get(0)?,
            (
                Name::from(r.bounded::<Vec<u8>>(1, limit::NETNS)?),
                Name::from(r.bounded::<Vec<u8>>(2, limit::IFNAME)?),
            ),
        ))
    })? {
        let (id, v) = r?;
        names.insert(id, v);
    }
    // Only the delta columns the kinds read (rx bytes always: NULL marks a baseline).
    const COLS: [&str; 16] = [
        "d_rx_bytes",
        "d_rx_packets",
        "d_rx_errs",
        "d_rx_drop",
        "d_rx_fifo",
        "d_rx_frame",
        "d_rx_compressed",
        "d_rx_multicast",
        "d_tx_bytes",
        "d_tx_packets",
        "d_tx_errs",
        "d_tx_drop",
        "d_tx_fifo",
        "d_tx_colls",
        "d_tx_carrier",
        "d_tx_compressed",
    ];
    let picked: Vec<usize> = (0..16).filter(|k| *k == 0 || needed[*k]).collect();
    let sql = format!(
        "SELECT x.sample, x.iface, x.speed_mbps, x.duplex, x.flags, {} FROM iface_sample x
         WHERE x.sample BETWEEN ?1 AND ?2",
        picked
            .iter()
            .map(|k| format!("x.{}", COLS[*k]))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut st = conn.prepare_cached(&sql)?;
    let mut out = Vec::with_capacity(samples.len() * 4);
    let mut rows = st.query(params![lo.id.min(hi.id), hi.id.max(lo.id)])?;
    while let Some(r) = rows.next()? {
        let sample: i64 = r.get(0)?;
        if !wanted.contains(&sample) {
            continue;
        }
        let Some((netns, name)) = names.get(&r.get::<_, i64>(1)?) else {
            continue;
        };
        let deltas = match r.get_ref(5)?.as_i64_or_null()? {
            None => None,
            Some(_) => {
                let mut d = [0u64; 16];
                for (i, k) in picked.iter().enumerate() {
                    d[*k] = from_sql(r.get_ref(5 + i)?.as_i64_or_null()?.unwrap_or(0));
                }
                Some(d)
            }
        };
        out.push(IfaceRow {
            sample,
            netns: netns.clone(),
            name: name.clone(),
            deltas,
            speed_mbps: r.get(2)?,
            duplex: r.get(3)?,
            flags: r.get(4)?,
        });
    }
    Ok(out)
}

/// Protocol counters of one namespace at one sample.
#[derive(Debug, Clone)]
pub struct ProtoRow {
    pub sample: i64,
    pub netns: Vec<u8>,
    pub keyset: i64,
    /// How counters were stored: see [`super::proto`] (0 not counted, 1 delta, 2 since boot).
    pub counted: i64,
    /// Gauges as read; counters as deltas over the interval (0 when not counted).
    pub vals: Vec<u64>,
}

/// Counter name → position, per keyset.
pub type Keysets = HashMap<i64, HashMap<String, usize>>;

impl ProtoRow {
    /// The value of counter `key` (see [`keyed_value`]).
    pub fn get(&self, keysets: &Keysets, key: &str) -> Option<u64> {
        keyed_value(keysets.get(&self.keyset)?, key, |p| {
            self.vals.get(p).copied()
        })
    }
}

/// The value of counter `key` in a keyset (`names`: name → position, `value`: the value at a
/// position): a name, or `PREFIX*`, the sum over every counter whose name starts with
/// PREFIX (`softnet:processed:*`, the CPUs' deltas summed as sar's `all`); None when no
/// counter of the set matches. Raw rows and rollups read counters through here alike.
pub fn keyed_value(
    names: &HashMap<String, usize>,
    key: &str,
    value: impl Fn(usize) -> Option<u64>,
) -> Option<u64> {
    match key.strip_suffix('*') {
        None => value(*names.get(key)?),
        Some(prefix) => names
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(_, p)| value(*p))
            .sum::<Option<u64>>()
            .filter(|_| names.keys().any(|n| n.starts_with(prefix))),
    }
}

/// Protocol rows of the window's samples.
pub(crate) fn proto_rows(
    conn: &Connection,
    w: &Window,
) -> rusqlite::Result<(Vec<ProtoRow>, Keysets)> {
    let mut st = conn.prepare_cached(
        "SELECT p.sample, n.name, p.keyset, p.vals, p.counted
         FROM sample s JOIN proto_sample p ON p.sample = s.id JOIN netns n ON n.id = p.netns
         WHERE s.ts_ms > ?1 AND s.ts_ms <= ?2
         ORDER BY p.sample, p.netns",
    )?;
    let mut out = Vec::new();
    let mut ids = Vec::new();
    let rows = st.query_map(params![w.start_ms(), w.end_ms()], |r| {
        let blob: Vec<u8> = r.get(3)?;
        Ok((
            r.get::<_, i64>(0)?,
            r.bounded::<Vec<u8>>(1, limit::NETNS)?,
            r.get::<_, i64>(2)?,
            blob,
            r.get::<_, i64>(4)?,
        ))
    })?;
    for r in rows {
        let (sample, netns, keyset, blob, counted) = r?;
        let vals = super::rollup::decode_vec(&mut &blob[..])
            .ok_or_else(|| super::malformed(format!("sample {sample}: protocol-counter blob")))?;
        if !ids.contains(&keyset) {
            ids.push(keyset);
        }
        out.push(ProtoRow {
            sample,
            netns,
            keyset,
            counted,
            vals,
        });
    }
    let mut keysets = Keysets::new();
    let mut st = conn.prepare_cached("SELECT names FROM keyset WHERE id = ?1")?;
    for id in ids {
        let names: String = st.query_row([id], |r| r.get(0))?;
        keysets.insert(
            id,
            names
                .split('\n')
                .enumerate()
                .map(|(i, n)| (n.to_string(), i))
                .collect(),
        );
    }
    Ok((out, keysets))
}

/// Bytes of one process in one interval.
#[derive(Debug, Clone)]
pub struct ProcRow {
    pub sample: i64,
    pub netns: Vec<u8>,
    pub comm: Vec<u8>,
    pub pid: i64,
    pub rx: u64,
    pub tx: u64,
}

/// Per-process bytes of the samples in the window (all sources summed), busiest first
/// within each sample.
pub(crate) fn proc_rows(conn: &Connection, w: &Window) -> rusqlite::Result<Vec<ProcRow>> {
    let mut who: HashMap<i64, (Vec<u8>, Vec<u8>, i64)> = HashMap::new();
    let mut out = Vec::new();
    let mut reader = super::procbytes::BytesReader::new();
    for (sample, _, _, bytes) in reader.window(conn, w.start_ms(), w.end_ms())? {
        let mut rows: Vec<ProcRow> = Vec::new();
        for (p, (rx, tx)) in bytes.per_process() {
            if let std::collections::hash_map::Entry::Vacant(e) = who.entry(p) {
                let info = conn
                    .prepare_cached(
                        "SELECT coalesce(n.name, x''), p.comm, p.pid FROM process p
                         LEFT JOIN netns n ON n.id = p.netns WHERE p.id = ?1",
                    )?
                    .query_row([p], |r| {
                        Ok((
                            r.bounded(0, limit::NETNS)?,
                            r.bounded(1, limit::COMM)?,
                            r.get(2)?,
                        ))
                    })?;
                e.insert(info);
            }
            let (netns, comm, pid) = who[&p].clone();
            rows.push(ProcRow {
                sample,
                netns,
                comm,
                pid,
                rx,
                tx,
            });
        }
        rows.sort_by_key(|r| std::cmp::Reverse(r.rx + r.tx));
        out.extend(rows);
    }
    Ok(out)
}

#[derive(Debug, Clone)]
pub struct ListenerRow {
    pub netns: Vec<u8>,
    pub proto: String,
    pub family: i64,
    pub addr: String,
    pub port: i64,
    pub uid: i64,
    pub pid: Option<i64>,
    pub comm: Option<Vec<u8>>,
    pub first_ms: i64,
    pub last_ms: i64,
    /// Listening sockets of this process on this address and port (SO_REUSEPORT opens
    /// several; a restart under the same PID reuses the row).
    pub sockets: i64,
}

/// Listener spans that overlap the window, one per (namespace, protocol, address, port,
/// process): first seen, last seen and how many sockets.
pub(crate) fn listeners(conn: &Connection, w: &Window) -> rusqlite::Result<Vec<ListenerRow>> {
    let mut st = conn.prepare_cached(
        "SELECT n.name, l.proto, l.family, l.addr, l.port, l.uid, l.pid, l.comm,
                min(l.first_ms), max(l.last_ms), count(*)
         FROM listener l JOIN netns n ON n.id = l.netns
         WHERE l.last_ms >= ?1 AND l.first_ms < ?2
         GROUP BY n.name, l.proto, l.family, l.addr, l.port, l.uid, l.pid, l.comm
         ORDER BY l.proto DESC, l.port, l.addr, min(l.first_ms)",
    )?;
    let rows = st.query_map(params![w.start_ms(), w.end_ms()], |r| {
        Ok(ListenerRow {
            netns: r.bounded(0, limit::NETNS)?,
            proto: r.bounded(1, limit::ADDR)?,
            family: r.get(2)?,
            addr: r.bounded(3, limit::ADDR)?,
            port: r.get(4)?,
            uid: r.get(5)?,
            pid: r.get(6)?,
            comm: r.bounded(7, limit::COMM)?,
            first_ms: r.get(8)?,
            last_ms: r.get(9)?,
            sockets: r.get(10)?,
        })
    })?;
    rows.collect()
}

/// The recording host's facts, as its samples stored them.
#[derive(Debug, Clone)]
pub struct Host {
    pub hostname: Vec<u8>,
    pub kernel: String,
    pub arch: String,
    pub ncpu: u32,
}

/// The host as of the newest sample: the name every output carries, the heading of reports.
pub(crate) fn last_host(conn: &Connection) -> rusqlite::Result<Option<Host>> {
    use rusqlite::OptionalExtension;
    conn.query_row(
        "SELECT hostname, kernel, arch, ncpu FROM sysinfo ORDER BY id DESC LIMIT 1",
        [],
        |r| {
            Ok(Host {
                hostname: r.bounded(0, limit::UNAME)?,
                kernel: r.bounded(1, limit::UNAME)?,
                arch: r.bounded(2, limit::UNAME)?,
                ncpu: r.get(3)?,
            })
        },
    )
    .optional()
}

/// A process as the store knows it.
#[derive(Debug, Clone)]
pub struct Process {
    pub id: i64,
    pub pid: i64,
    pub comm: Vec<u8>,
    pub exe: Option<Vec<u8>>,
    pub uid: Option<i64>,
    pub unit: Option<String>,
    /// The unit's `Description=` when it was first met.
    pub unit_description: Option<String>,
    /// "NAME (SHORTID)" where the runtime named it, else the short id.
    pub container: Option<String>,
    pub netns: Vec<u8>,
    /// Wall-clock start, when a sample of its boot tells when that boot began.
    pub started_ms: Option<i64>,
}

/// Every process with this PID or this name (comm), oldest first. `hz` is USER_HZ, the unit
/// of the stored start time.
pub(crate) fn processes(
    conn: &Connection,
    name: &[u8],
    pid: Option<i64>,
    hz: u64,
) -> rusqlite::Result<Vec<Process>> {
    let hz = i64::try_from(hz).unwrap_or(100).max(1);
    let mut st = conn.prepare(
        "SELECT p.id, p.pid, p.comm, p.exe, p.uid, p.unit,
                coalesce((SELECT c.name || ' (' || p.container || ')' FROM container c
                          WHERE c.short = p.container AND c.name IS NOT NULL LIMIT 1), p.container),
                coalesce(n.name, x''), p.start_time,
                (SELECT s.ts_ms - s.mono_ms FROM sample s JOIN sysinfo si ON si.id = s.sysinfo
                  WHERE si.boot_id = p.boot_id ORDER BY s.id LIMIT 1),
                (SELECT u.description FROM unit u WHERE u.name = p.unit)
         FROM process p LEFT JOIN netns n ON n.id = p.netns
         WHERE (p.pid = ?1 OR p.comm = ?2)
         ORDER BY p.id",
    )?;
    let rows = st.query_map(rusqlite::params![pid.unwrap_or(-1), name], |r| {
        let start: i64 = r.get(8)?;
        let boot: Option<i64> = r.get(9)?;
        Ok(Process {
            id: r.get(0)?,
            pid: r.get(1)?,
            comm: r.bounded(2, limit::COMM)?,
            exe: r.bounded(3, limit::PATH)?,
            uid: r.get(4)?,
            unit: r.bounded(5, limit::PATH)?,
            unit_description: r.bounded(10, limit::PATH)?,
            container: r.bounded(6, limit::PATH)?,
            netns: r.bounded(7, limit::NETNS)?,
            started_ms: boot.map(|b| b + start.max(0).saturating_mul(1000) / hz),
        })
    })?;
    rows.collect()
}

/// The newest sample: when, and which optional sources delivered it.
#[derive(Debug, Clone)]
pub struct LastSample {
    pub id: i64,
    pub ts_ms: i64,
    /// Its processes' bytes were eBPF's.
    pub ebpf: bool,
    /// Its ports' and hosts' bytes were the kernel's per connection.
    pub conns: bool,
    pub pcap: bool,
}

/// What `status` tells about recording: the newest sample, the raw samples kept.
/// The interval between two stored samples, `back` intervals before the newest (0: the
/// newest): (start, end) in UTC ms. None: there are not that many samples.
pub(crate) fn interval_back(
    conn: &Connection,
    back: usize,
) -> rusqlite::Result<Option<(i64, i64)>> {
    let times: Vec<i64> = conn
        .prepare_cached("SELECT ts_ms FROM sample ORDER BY ts_ms DESC, id DESC LIMIT 2 OFFSET ?1")?
        .query_map([i64::try_from(back).unwrap_or(i64::MAX)], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(match times[..] {
        [end, start] => Some((start, end)),
        _ => None,
    })
}

#[derive(Debug, Clone)]
pub struct Recording {
    pub last: Option<LastSample>,
    pub first_ms: Option<i64>,
    pub samples: i64,
    pub quarters_from_day: Option<i64>,
}

/// The newest sample alone (what most callers of [`recording`] want, without its count of
/// every stored sample).
pub(crate) fn newest(conn: &Connection) -> rusqlite::Result<Option<LastSample>> {
    use rusqlite::OptionalExtension;
    let last = conn
        .prepare_cached("SELECT id, ts_ms, ebpf FROM sample ORDER BY ts_ms DESC, id DESC LIMIT 1")?
        .query_row([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .optional()?;
    let pcap_sample = super::rollup::get_meta(conn, "pcap_sample")?;
    Ok(last.map(|(id, ts_ms, ebpf)| LastSample {
        id,
        ts_ms,
        ebpf: ebpf & 1 != 0,
        conns: ebpf & 2 != 0,
        pcap: pcap_sample == Some(id),
    }))
}

pub(crate) fn recording(conn: &Connection) -> rusqlite::Result<Recording> {
    use rusqlite::OptionalExtension;
    let get_meta = super::rollup::get_meta;
    let last = conn
        .query_row(
            "SELECT id, ts_ms, ebpf FROM sample ORDER BY ts_ms DESC, id DESC LIMIT 1",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        )
        .optional()?;
    let pcap_sample = get_meta(conn, "pcap_sample")?;
    let (first_ms, samples) =
        conn.query_row("SELECT min(ts_ms), count(*) FROM sample", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(Recording {
        last: last.map(|(id, ts_ms, ebpf)| LastSample {
            id,
            ts_ms,
            ebpf: ebpf & 1 != 0,
            conns: ebpf & 2 != 0,
            pcap: pcap_sample == Some(id),
        }),
        first_ms,
        samples,
        quarters_from_day: get_meta(conn, "quarters_from_day")?,
    })
}

/// The recording interval, as the newest samples recorded it: the median of the last 20
/// intervals (None before the second sample).
pub(crate) fn recording_interval_ms(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let mut v: Vec<i64> = conn
        .prepare_cached(
            "SELECT elapsed_ms FROM sample WHERE elapsed_ms > 0 ORDER BY ts_ms DESC, id DESC LIMIT 20",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    v.sort_unstable();
    Ok(v.get(v.len() / 2).copied())
}

/// One namespace of a sample and which sources delivered for it.
#[derive(Debug, Clone)]
pub struct NetnsSources {
    pub name: Vec<u8>,
    pub ifaces: i64,
    pub protocol: bool,
    pub sockets: bool,
}

pub(crate) fn netns_sources(conn: &Connection, sample: i64) -> rusqlite::Result<Vec<NetnsSources>> {
    let mut st = conn.prepare(
        "SELECT n.name,
                (SELECT count(*) FROM iface_sample x JOIN iface i ON i.id = x.iface
                  WHERE x.sample = ?1 AND i.netns = n.id),
                EXISTS (SELECT 1 FROM proto_sample p WHERE p.sample = ?1 AND p.netns = n.id),
                EXISTS (SELECT 1 FROM sock_base b WHERE b.sample = ?1 AND b.netns = n.id)
         FROM netns n
         WHERE n.id IN (SELECT i.netns FROM iface_sample x JOIN iface i ON i.id = x.iface WHERE x.sample = ?1)
            OR n.id IN (SELECT netns FROM proto_sample WHERE sample = ?1)
         ORDER BY n.name != x'726f6f74', n.name",
    )?;
    let rows = st.query_map([sample], |r| {
        Ok(NetnsSources {
            name: r.bounded(0, limit::NETNS)?,
            ifaces: r.get(1)?,
            protocol: r.get(2)?,
            sockets: r.get(3)?,
        })
    })?;
    rows.collect()
}

/// The samples whose interval ends in `[start_ms, end_ms)` (`start < ts <= end`) as (id,
/// time, interval), in time order.
pub(crate) fn sample_spans(
    conn: &Connection,
    start_ms: i64,
    end_ms: i64,
) -> rusqlite::Result<Vec<(i64, i64, Option<i64>)>> {
    let mut st = conn.prepare_cached(
        "SELECT id, ts_ms, elapsed_ms FROM sample WHERE ts_ms > ?1 AND ts_ms <= ?2 ORDER BY ts_ms, id",
    )?;
    let rows = st.query_map(rusqlite::params![start_ms, end_ms], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    rows.collect()
}

/// The times of the first `limit` samples ending in `(start_ms, end_ms]`, in time order.
pub(crate) fn sample_times(
    conn: &Connection,
    start_ms: i64,
    end_ms: i64,
    limit: usize,
) -> rusqlite::Result<Vec<i64>> {
    let mut st = conn.prepare_cached(
        "SELECT ts_ms FROM sample WHERE ts_ms > ?1 AND ts_ms <= ?2 ORDER BY ts_ms LIMIT ?3",
    )?;
    let rows = st.query_map(
        params![start_ms, end_ms, i64::try_from(limit).unwrap_or(i64::MAX)],
        |r| r.get(0),
    )?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name is one counter; `PREFIX*` sums every counter of the set it starts (the CPUs of
    /// softnet_stat), and is unknown, not zero, when the set has none.
    #[test]
    fn a_prefix_sums_the_counters_it_names_and_only_those() {
        let names: HashMap<String, usize> = [
            ("softnet:processed:0", 0),
            ("softnet:processed:1", 1),
            ("softnet:dropped:0", 2),
            ("snmp:Ip:InReceives", 3),
        ]
        .into_iter()
        .map(|(n, p)| (n.to_string(), p))
        .collect();
        let vals = [10u64, 32, 5, 7];
        let v = |p: usize| vals.get(p).copied();
        assert_eq!(keyed_value(&names, "softnet:processed:*", v), Some(42));
        assert_eq!(keyed_value(&names, "softnet:dropped:*", v), Some(5));
        assert_eq!(keyed_value(&names, "snmp:Ip:InReceives", v), Some(7));
        assert_eq!(keyed_value(&names, "softnet:backlog_len:*", v), None);
        assert_eq!(keyed_value(&names, "snmp:Ip:Nothing", v), None);
        // a value missing at a position makes the sum unknown, never a partial sum
        let short = |p: usize| vals[..1].get(p).copied();
        assert_eq!(keyed_value(&names, "softnet:processed:*", short), None);
    }
}
