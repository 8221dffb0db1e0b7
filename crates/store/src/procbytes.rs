//! Per-sample process bytes, packed: one `proc_bytes` row per sample holds every process's
//! bytes, service ports and remote hosts as varints. Schema 2 kept one row per process, port
//! and host; packed they take a third of the space (measured on the simulated week: 8.3 MB →
//! 2.8 MB), which is what lets 14 days of raw samples fit the size budget.

use super::{decode_varints, encode_varints, from_sql};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeMap, HashMap};

/// What one sample stored, per `process` row: (process, source) → (rx, tx); (process, proto,
/// port) → (rx, tx); (process, remote address or '*') → (rx, tx).
pub type SampleBytes = nrec_model::derive::bytes::ProcBytes<i64>;

fn proto_code(p: &str) -> u64 {
    match p {
        "tcp" => 1,
        "udp" => 2,
        _ => 0,
    }
}

fn proto_name(c: u64) -> &'static str {
    match c % 4 {
        1 => "tcp",
        2 => "udp",
        _ => "?",
    }
}

/// A port's class (`scope::class_marker`) in its code's upper part: 0 not known (and every
/// port stored before ports had a class), else 1 + the class's index among [`CLASSES`].
const CLASSES: [&str; 6] = [
    "*loopback/ipv4",
    "*loopback/ipv6",
    "*lan/ipv4",
    "*lan/ipv6",
    "*internet/ipv4",
    "*internet/ipv6",
];

fn port_code(proto: &str, class: &str) -> u64 {
    let c = CLASSES
        .iter()
        .position(|m| *m == class)
        .map_or(0, |i| i + 1);
    proto_code(proto) + 4 * c as u64
}

fn class_name(code: u64) -> &'static str {
    usize::try_from(code / 4)
        .ok()
        .and_then(|c| c.checked_sub(1))
        .and_then(|i| CLASSES.get(i))
        .copied()
        .unwrap_or("")
}

/// Stores a sample's bytes (nothing when there are none). Public for the integration tests,
/// which craft databases row by row; nrec writes through `Writer::write`.
pub fn write(conn: &Connection, sample: i64, b: &SampleBytes) -> rusqlite::Result<()> {
    if b.is_empty() {
        return Ok(());
    }
    let mut procs = Vec::new();
    encode_varints(
        b.procs
            .iter()
            .flat_map(|((p, s), (rx, tx))| [*p as u64, *s as u64, *rx, *tx]),
        &mut procs,
    );
    let mut ports = Vec::new();
    encode_varints(
        b.ports
            .iter()
            .flat_map(|((p, proto, port, class), (rx, tx))| {
                [*p as u64, port_code(proto, class), *port as u64, *rx, *tx]
            }),
        &mut ports,
    );
    let mut hosts = Vec::new();
    for ((p, addr), (rx, tx)) in &b.hosts {
        let id = super::intern(
            conn,
            "SELECT id FROM addr WHERE addr = ?1",
            [addr],
            "INSERT OR IGNORE INTO addr (addr) VALUES (?1)",
            [addr],
        )?;
        encode_varints([*p as u64, id as u64, *rx, *tx].into_iter(), &mut hosts);
    }
    conn.prepare_cached(
        "INSERT OR REPLACE INTO proc_bytes (sample, procs, ports, hosts) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![sample, procs, ports, hosts])?;
    Ok(())
}

fn corrupt(sample: i64) -> rusqlite::Error {
    super::malformed(format!("proc_bytes of sample {sample}"))
}

/// Decodes `proc_bytes` rows, resolving address ids once.
#[derive(Default)]
pub(crate) struct BytesReader {
    addrs: HashMap<i64, String>,
}

impl BytesReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes stored with `sample` (empty when it stored none).
    pub fn read(&mut self, conn: &Connection, sample: i64) -> rusqlite::Result<SampleBytes> {
        let row: Option<(Vec<u8>, Vec<u8>, Vec<u8>)> = conn
            .prepare_cached("SELECT procs, ports, hosts FROM proc_bytes WHERE sample = ?1")?
            .query_row([sample], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((procs, ports, hosts)) = row else {
            return Ok(SampleBytes::default());
        };
        let mut out = SampleBytes::default();
        let bad = || corrupt(sample);
        let v = decode_varints(&procs)
            .filter(|v| v.len() % 4 == 0)
            .ok_or_else(bad)?;
        for c in v.chunks(4) {
            out.add_proc(c[0] as i64, c[1] as i64, c[2], c[3]);
        }
        let v = decode_varints(&ports)
            .filter(|v| v.len() % 5 == 0)
            .ok_or_else(bad)?;
        for c in v.chunks(5) {
            let (proto, class) = (proto_name(c[1]), class_name(c[1]));
            out.add_port(c[0] as i64, proto, c[2] as i64, class, c[3], c[4]);
        }
        let v = decode_varints(&hosts)
            .filter(|v| v.len() % 4 == 0)
            .ok_or_else(bad)?;
        for c in v.chunks(4) {
            let id = c[1] as i64;
            // bounded like the Roller's caches: a daemon sees every host of its lifetime
            if self.addrs.len() >= crate::CACHE_ENTRIES && !self.addrs.contains_key(&id) {
                self.addrs.clear();
            }
            if let std::collections::hash_map::Entry::Vacant(e) = self.addrs.entry(id) {
                let a: String = conn
                    .prepare_cached("SELECT addr FROM addr WHERE id = ?1")?
                    .query_row([id], |r| super::Bounded::bounded(r, 0, super::limit::ADDR))
                    .optional()?
                    .ok_or_else(bad)?;
                e.insert(a);
            }
            out.add_host(c[0] as i64, &self.addrs[&id], c[2], c[3]);
        }
        Ok(out)
    }

    /// (sample id, ts, elapsed, bytes) of the samples with `ts` in `[start, end)` that stored
    /// process bytes, in time order.
    pub fn window(
        &mut self,
        conn: &Connection,
        start_ms: i64,
        end_ms: i64,
    ) -> rusqlite::Result<Vec<(i64, i64, i64, SampleBytes)>> {
        let ids: Vec<(i64, i64, i64)> = conn
            .prepare_cached(
                "SELECT s.id, s.ts_ms, coalesce(s.elapsed_ms, 0) FROM sample s JOIN proc_bytes b ON b.sample = s.id
                 WHERE s.ts_ms > ?1 AND s.ts_ms <= ?2 ORDER BY s.ts_ms, s.id",
            )?
            .query_map(params![start_ms, end_ms], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, ts, el) in ids {
            out.push((id, ts, el, self.read(conn, id)?));
        }
        Ok(out)
    }
}

/// Schema 2 → 3: the row-per-process tables become packed rows, then are dropped.
pub(crate) fn convert_v2(conn: &Connection) -> rusqlite::Result<u64> {
    let exists = |t: &str| -> rusqlite::Result<bool> {
        conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [t],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
    };
    if !exists("proc_sample")? {
        return Ok(0);
    }
    let mut all: BTreeMap<i64, SampleBytes> = BTreeMap::new();
    let mut st = conn.prepare("SELECT sample, process, source, rx, tx FROM proc_sample")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        all.entry(r.get(0)?).or_default().add_proc(
            r.get(1)?,
            r.get(2)?,
            from_sql(r.get(3)?),
            from_sql(r.get(4)?),
        );
    }
    let mut st = conn.prepare("SELECT sample, process, proto, port, rx, tx FROM port_sample")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let proto: String = r.get(2)?;
        all.entry(r.get(0)?).or_default().add_port(
            r.get(1)?,
            &proto,
            r.get(3)?,
            "",
            from_sql(r.get(4)?),
            from_sql(r.get(5)?),
        );
    }
    let mut st = conn.prepare("SELECT sample, process, addr, rx, tx FROM host_sample")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let addr: String = r.get(2)?;
        all.entry(r.get(0)?).or_default().add_host(
            r.get(1)?,
            &addr,
            from_sql(r.get(3)?),
            from_sql(r.get(4)?),
        );
    }
    let n = all.len() as u64;
    for (sample, b) in &all {
        write(conn, *sample, b)?;
    }
    conn.execute_batch("DROP TABLE proc_sample; DROP TABLE port_sample; DROP TABLE host_sample;")?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_rows_round_trip() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE addr (id INTEGER PRIMARY KEY, addr TEXT NOT NULL UNIQUE);
             CREATE TABLE proc_bytes (sample INTEGER PRIMARY KEY, procs BLOB NOT NULL, ports BLOB NOT NULL, hosts BLOB NOT NULL);",
        )
        .unwrap();
        let mut b = SampleBytes::default();
        b.add_proc(3, 1, 10, u64::MAX);
        b.add_proc(3, 1, 5, 0);
        b.add_port(3, "tcp", 443, "*internet/ipv6", 15, 1);
        b.add_port(4, "udp", 53, "", 0, 7);
        b.add_host(3, "2001:db8::1", 15, 1);
        b.add_host(4, "*", 1, 2);
        write(&conn, 9, &b).unwrap();
        let got = BytesReader::new().read(&conn, 9).unwrap();
        assert_eq!(got, b);
        // every class a port can have is stored and read back as itself
        for (i, class) in CLASSES.iter().enumerate() {
            let code = port_code("udp", class);
            assert_eq!((proto_name(code), class_name(code)), ("udp", *class));
            assert_eq!(code, 2 + 4 * (i as u64 + 1));
        }
        assert_eq!(class_name(port_code("tcp", "")), "");
        assert_eq!(got.procs[&(3, 1)], (15, u64::MAX));
        assert_eq!(
            BytesReader::new().read(&conn, 10).unwrap(),
            SampleBytes::default()
        );
        conn.execute("UPDATE proc_bytes SET procs = x'0102'", [])
            .unwrap();
        assert!(
            BytesReader::new().read(&conn, 9).is_err(),
            "malformed rows are refused"
        );
    }
}
