//! WRITE: what the store keeps for the next sample (its [`Baseline`]), and one derived
//! [`Interval`] written in one `BEGIN IMMEDIATE` transaction with its rollups.
//!
//! Nothing here reads /proc or decides a count: the sampler collects, looks up owners and
//! names, and derives the interval (`nrec_model::derive`); the store turns names into rows and
//! writes. A sample is stored whole or not at all, and because raw cumulative readings are
//! kept as the next baseline, a sample that failed (disk full, kill -9) is simply covered by
//! the next one's delta.

use super::procbytes::SampleBytes;
use super::{Bounded, decode_varints, encode_varints, from_sql, intern, limit, malformed, to_sql};
use nrec_model::derive::idle::{self, Prior, PriorIface, Quiet};
use nrec_model::derive::iface::{IfaceDelta, Last, Prev};
use nrec_model::derive::{
    Baseline, Interval, Listeners, NsBaseline, NsSockets, ProcRef, proto, sockets,
};
use nrec_model::identity::{container_of, unit_of};
use nrec_model::sample::{Counters, Key, NsSample, Owner, Protocol};
use nrec_model::varint::Readings;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::collections::HashMap;

/// What was written, for the recorder's summary line and retention's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub sample_id: i64,
    /// The stored (wall ms, CLOCK_BOOTTIME ms, sysinfo row) of the sample.
    pub clock: (i64, i64, i64),
    pub ifaces: usize,
    pub namespaces: usize,
    pub new_listeners: usize,
}

/// The newest stored sample: the one a new sample continues.
pub(crate) fn last_sample(conn: &Connection) -> rusqlite::Result<Option<Last>> {
    conn.prepare_cached(
        "SELECT s.id, s.mono_ms, s.ts_ms, si.boot_id FROM sample s JOIN sysinfo si ON si.id = s.sysinfo
         ORDER BY s.id DESC LIMIT 1",
    )?
    .query_row([], |r| {
        Ok(Last {
            id: r.get(0)?,
            mono_ms: r.get(1)?,
            ts_ms: r.get(2)?,
            boot_id: r.bounded(3, limit::UNAME)?,
        })
    })
    .optional()
}

/// Everything stored with the newest sample (`last`) that sample `s` is counted against: its
/// interfaces' readings, and for each of `s`'s namespaces known then its protocol readings,
/// socket dump and open listener spans; the stored eBPF reading when `s` has one to count.
/// The rows of namespaces and interfaces it meets go to `ids`: writing the sample then looks
/// none of them up again.
pub(crate) fn baseline(
    conn: &Connection,
    last: Option<Last>,
    s: &NsSamples<'_>,
    ids: &mut Ids,
) -> rusqlite::Result<Baseline> {
    let mut b = Baseline {
        last,
        ebpf: match s.ebpf {
            true => super::ebpf::load_base(conn)?,
            false => None,
        },
        ..Default::default()
    };
    let Some(last) = b.last.clone() else {
        return Ok(b);
    };
    b.ifaces = prev_ifaces(conn, last.id, s.boot_id, ids)?;
    // The previous sample's namespaces (this boot's): their rows, readings and socket dumps
    // by one statement, their open listeners by another — among 1 000 namespaces two
    // statements per namespace cost ~3 µs more each. proto_last and sock_base hold the rows
    // of the newest sample's namespaces only (`write` drops the others), so these are short;
    // a namespace's readings are those of proto_last when the sample stored its counters
    // (a carried namespace's row is its last read, equal to what was carried: not rewritten).
    // (inode, name) → (row, readings and their keyset, socket dump)
    type Prev = (i64, Option<(Vec<u8>, i64)>, Option<Vec<u8>>);
    let mut prev: HashMap<(u64, Vec<u8>), Prev> = HashMap::new();
    let mut st = conn.prepare_cached(
        "SELECT n.id, n.inode, n.name, p.vals, p.keyset, k.socks
         FROM (SELECT netns FROM proto_sample WHERE sample = ?1
               UNION SELECT netns FROM sock_base WHERE sample = ?1) c
         CROSS JOIN netns n ON n.id = c.netns
         LEFT JOIN proto_last p ON p.netns = n.id
             AND EXISTS (SELECT 1 FROM proto_sample s WHERE s.sample = ?1 AND s.netns = n.id)
         LEFT JOIN sock_base k ON k.netns = n.id AND k.sample = ?1
         WHERE n.boot_id = ?2",
    )?;
    let mut rows = st.query(params![last.id, s.boot_id])?;
    while let Some(r) = rows.next()? {
        let key = (r.get::<_, i64>(1)? as u64, r.bounded(2, limit::NETNS)?);
        let proto = match r.get::<_, Option<Vec<u8>>>(3)? {
            Some(vals) => Some((vals, r.get(4)?)),
            None => None,
        };
        prev.insert(key, (r.get(0)?, proto, r.get(5)?));
    }
    let mut listeners = open_listeners(conn, last.id)?;
    let mut keysets = HashMap::new();
    for ns in s.namespaces {
        let Some((id, proto, socks)) = prev.remove(&(ns.inode, ns.name.clone())) else {
            continue;
        };
        ids.know_netns(s.boot_id, ns.inode, &ns.name, id);
        let nb = NsBaseline {
            proto: match proto {
                Some((blob, keyset)) => {
                    proto_last(conn, id, (&blob, keyset), &ns.counters, &mut keysets)?
                }
                None => None,
            },
            sockets: socks.map(|blob| socket_base(last.id, &blob)).transpose()?,
            listeners: listeners.remove(&id).unwrap_or_default(),
        };
        b.namespaces.insert((ns.inode, ns.name.clone()), nb);
    }
    Ok(b)
}

/// What a baseline is loaded for: a sample's boot and namespaces, and whether it holds an
/// eBPF reading.
pub struct NsSamples<'a> {
    pub boot_id: &'a str,
    pub namespaces: &'a [NsSample],
    pub ebpf: bool,
}

fn prev_ifaces(
    conn: &Connection,
    sample: i64,
    boot: &str,
    ids: &mut Ids,
) -> rusqlite::Result<Vec<Prev>> {
    let mut st = conn.prepare_cached(
        "SELECT n.inode, i.ifindex, i.name,
                x.rx_bytes, x.rx_packets, x.rx_errs, x.rx_drop, x.rx_fifo, x.rx_frame, x.rx_compressed, x.rx_multicast,
                x.tx_bytes, x.tx_packets, x.tx_errs, x.tx_drop, x.tx_fifo, x.tx_colls, x.tx_carrier, x.tx_compressed,
                i.id, i.netns, n.boot_id
         FROM iface_last x JOIN iface i ON i.id = x.iface JOIN netns n ON n.id = i.netns
         WHERE x.sample = ?1",
    )?;
    let mut rows = st.query([sample])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut c = [0u64; 16];
        for (k, slot) in c.iter_mut().enumerate() {
            *slot = from_sql(r.get(3 + k)?);
        }
        let p = Prev {
            netns_inode: r.get(0)?,
            ifindex: r.get(1)?,
            name: r.bounded(2, limit::IFNAME)?,
            counters: c,
        };
        // (an interface of another boot's namespace is no row this sample writes; only a
        // cache: a row a crafted file made unreadable is left to the lookup that checks it)
        let this_boot = r.get_ref(21)?.as_str_or_null().ok().flatten() == Some(boot);
        if let (true, Ok(netns), Ok(id)) = (this_boot, r.get::<_, i64>(20), r.get::<_, i64>(19)) {
            ids.know_iface(netns, p.ifindex, &p.name, id);
        }
        out.push(p);
    }
    Ok(out)
}

/// A namespace's protocol readings as stored (`blob` of `keyset`) with the newest sample.
/// The counter names are those of the namespace's counters in the sample (`now`) unless they
/// changed (a new kernel, a captured tree): then they are given.
/// `keysets`: the names of each keyset read so far by this baseline (every namespace of a
/// host has the same ~440, so they are read and split once per sample, not per namespace).
fn proto_last(
    conn: &Connection,
    netns: i64,
    (blob, keyset): (&[u8], i64),
    now: &Counters,
    keysets: &mut HashMap<i64, (String, std::sync::Arc<[Key]>)>,
) -> rusqlite::Result<Option<proto::Last>> {
    let readings = Readings::from_bytes(blob.to_vec())
        .ok_or_else(|| malformed(format!("proto_last of netns {netns}")))?;
    let (names, keys) = match keysets.entry(keyset) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => {
            // (a readings row whose names are gone is no baseline, as before)
            let Some(names): Option<String> = conn
                .prepare_cached("SELECT names FROM keyset WHERE id = ?1")?
                .query_row([keyset], |r| r.bounded(0, limit::KEYSET))
                .optional()?
            else {
                return Ok(None);
            };
            let keys = names.split('\n').map(Key::new).collect();
            e.insert((names, keys))
        }
    };
    let same = same_names(names, now);
    Ok(Some(proto::Last {
        names: (!same).then(|| keys.clone()),
        readings,
    }))
}

/// Whether a stored keyset (names joined by newlines) names `now`'s counters, in order: one
/// comparison of bytes per name (400 names every sample).
fn same_names(joined: &str, now: &Counters) -> bool {
    let mut rest = joined.as_bytes();
    for (i, (name, _)) in now.iter().enumerate() {
        if i > 0 {
            match rest.split_first() {
                Some((b'\n', r)) => rest = r,
                _ => return false,
            }
        }
        match rest.strip_prefix(name.as_bytes()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// A namespace's socket dump as stored (`blob`, with sample `stored`): cookie → (bytes acked,
/// bytes received, process row or 0).
fn socket_base(stored: i64, blob: &[u8]) -> rusqlite::Result<sockets::Baseline> {
    let v = decode_varints(blob)
        .filter(|v| v.len() % 4 == 0)
        .ok_or_else(|| malformed(format!("sock_base of sample {stored}")))?;
    Ok(v.chunks(4)
        .map(|c| (c[0], (c[1], c[2], c[3] as i64)))
        .collect())
}

/// The listener spans of a namespace still open at `sample`.
fn open_listeners(
    conn: &Connection,
    sample: i64,
) -> rusqlite::Result<HashMap<i64, Vec<(i64, nrec_model::derive::ListenerKey)>>> {
    let mut st = conn.prepare_cached(
        "SELECT netns, id, proto, family, addr, port, inode FROM listener WHERE last_sample = ?1",
    )?;
    let mut rows = st.query([sample])?;
    let mut out: HashMap<i64, Vec<_>> = HashMap::new();
    while let Some(r) = rows.next()? {
        out.entry(r.get(0)?).or_default().push((
            r.get(1)?,
            (
                r.bounded(2, limit::ADDR)?,
                r.get(3)?,
                r.bounded(4, limit::ADDR)?,
                r.get(5)?,
                r.get(6)?,
            ),
        ));
    }
    Ok(out)
}

/// The owner recorded for a namespace's TCP listener on `port` with socket `inode` (boot,
/// namespace inode and name as a sample names them): who accepted a connection that closed
/// before any dump saw its owner.
pub(crate) fn listener_owner(
    conn: &Connection,
    (boot_id, netns_inode, netns_name): (&str, u64, &[u8]),
    port: u16,
    inode: u32,
) -> rusqlite::Result<Option<Owner>> {
    let row: Option<(i32, Vec<u8>, u32, i64)> = conn
        .prepare_cached(
            "SELECT l.pid, l.comm, l.uid, l.start_time FROM listener l JOIN netns n ON n.id = l.netns
             WHERE n.boot_id = ?1 AND n.inode = ?2 AND n.name = ?3
               AND l.proto = 'tcp' AND l.port = ?4 AND l.inode = ?5 AND l.pid IS NOT NULL
             ORDER BY l.id DESC LIMIT 1",
        )?
        .query_row(
            params![boot_id, netns_inode as i64, netns_name, port, inode],
            |r| {
                Ok((
                    r.get(0)?,
                    r.bounded(1, limit::COMM)?,
                    r.get(2)?,
                    r.get::<_, Option<i64>>(3)?.unwrap_or(0),
                ))
            },
        )
        .optional()?;
    Ok(row.map(|(pid, comm, uid, start)| Owner {
        pid,
        comm,
        uid,
        start_time: from_sql(start),
        exe: None,
        cgroup: None,
    }))
}

/// The rows of namespaces and interfaces a writer has met: a daemon's samples name the same
/// ones every time, and looking each up again cost two queries per namespace and sample.
/// Rows are never deleted; after a failed transaction the writer starts a new cache (an id
/// it inserted may be gone). Bounded like the other caches; a hit allocates nothing.
#[derive(Default)]
pub(crate) struct Ids {
    /// The boot the namespaces below are of.
    boot: String,
    /// inode → (name, row)
    netns: HashMap<u64, Named>,
    /// (namespace row, ifindex) → (name, row)
    iface: HashMap<(i64, i64), Named>,
}

/// The rows of one key, by name.
type Named = Vec<(Vec<u8>, i64)>;

impl Ids {
    /// Keeps the row of namespace (`inode`, `name`) of `boot`, found by a query of its own.
    fn know_netns(&mut self, boot: &str, inode: u64, name: &[u8], id: i64) {
        self.boot_is(boot);
        keep(&mut self.netns, inode, name, id);
    }

    /// Keeps the row of interface (`ifindex`, `name`) of namespace row `netns`.
    fn know_iface(&mut self, netns: i64, ifindex: i64, name: &[u8], id: i64) {
        keep(&mut self.iface, (netns, ifindex), name, id);
    }

    /// The namespaces kept are of `boot` (those of another are forgotten).
    fn boot_is(&mut self, boot: &str) {
        if self.boot != boot {
            self.boot = boot.to_string();
            self.netns.clear();
        }
    }

    fn netns(
        &mut self,
        tx: &Transaction<'_>,
        boot: &str,
        inode: u64,
        name: &[u8],
    ) -> rusqlite::Result<i64> {
        self.boot_is(boot);
        cached(&mut self.netns, inode, name, || {
            let args = params![boot, inode as i64, name];
            intern(
                tx,
                "SELECT id FROM netns WHERE boot_id = ?1 AND inode = ?2 AND name = ?3",
                args,
                "INSERT OR IGNORE INTO netns (boot_id, inode, name) VALUES (?1, ?2, ?3)",
                args,
            )
        })
    }

    fn iface(
        &mut self,
        tx: &Transaction<'_>,
        netns: i64,
        ifindex: i64,
        name: &[u8],
    ) -> rusqlite::Result<i64> {
        cached(&mut self.iface, (netns, ifindex), name, || {
            let args = params![netns, ifindex, name];
            intern(
                tx,
                "SELECT id FROM iface WHERE netns = ?1 AND ifindex = ?2 AND name = ?3",
                args,
                "INSERT OR IGNORE INTO iface (netns, ifindex, name) VALUES (?1, ?2, ?3)",
                args,
            )
        })
    }
}

/// The row of (`k`, `name`) in `cache`, else `find`'s (kept; the cache emptied when full).
fn cached<K: std::hash::Hash + Eq>(
    cache: &mut HashMap<K, Named>,
    k: K,
    name: &[u8],
    find: impl FnOnce() -> rusqlite::Result<i64>,
) -> rusqlite::Result<i64> {
    if let Some((_, id)) = cache
        .get(&k)
        .and_then(|v| v.iter().find(|(n, _)| n == name))
    {
        return Ok(*id);
    }
    let id = find()?;
    keep(cache, k, name, id);
    Ok(id)
}

/// Keeps (`k`, `name`) → `id` in `cache` (emptied when full).
fn keep<K: std::hash::Hash + Eq>(cache: &mut HashMap<K, Named>, k: K, name: &[u8], id: i64) {
    if cache.len() >= super::CACHE_ENTRIES && !cache.contains_key(&k) {
        cache.clear();
    }
    let named = cache.entry(k).or_default();
    if !named.iter().any(|(n, _)| n == name) {
        named.push((name.to_vec(), id));
    }
}

// The statements one sample writes a row per namespace (or interface) with, held for all of
// its namespaces.
type PerNs<'t> = super::Held<'t, 8>;
use super::Sql;

const IFACE_SAMPLE: Sql = Sql(
    0,
    "INSERT INTO iface_sample VALUES (?1, ?2,
        ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
);
const IFACE_LAST: Sql = Sql(
    1,
    "INSERT OR REPLACE INTO iface_last VALUES (?1, ?2,
        ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
);
// (a carried namespace's interfaces: their readings are the row's, unchanged — the same
// row, without binding and replacing its 16 counters)
const IFACE_LAST_CARRIED: Sql = Sql(7, "UPDATE iface_last SET sample = ?2 WHERE iface = ?1");
const IFACE_RAW: Sql = Sql(
    2,
    "INSERT INTO iface_raw (iface, sample, rx_bytes, rx_packets, rx_errs, rx_drop, rx_fifo,
        rx_frame, rx_compressed, rx_multicast, tx_bytes, tx_packets, tx_errs, tx_drop,
        tx_fifo, tx_colls, tx_carrier, tx_compressed)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
);
const PROTO_SAMPLE: Sql = Sql(
    3,
    "INSERT INTO proto_sample (sample, netns, keyset, counted, vals) VALUES (?1, ?2, ?3, ?4, ?5)",
);
// (a read's: a carried namespace's row is left as its last read wrote it)
const PROTO_LAST: Sql = Sql(
    4,
    "INSERT OR REPLACE INTO proto_last (netns, sample, keyset, vals, read_ms, quiet, cookie)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
);
const SOCK_BASE: Sql = Sql(
    5,
    "INSERT OR REPLACE INTO sock_base (netns, sample, socks) VALUES (?1, ?2, ?3)",
);
const ATTRIB_SAMPLE: Sql = Sql(
    6,
    "INSERT INTO attrib_sample (sample, netns, rx, tx, unowned_rx, unowned_tx)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
);

/// Writes interval `iv` (without committing: the caller's transaction).
pub(crate) fn write(
    tx: &Transaction<'_>,
    iv: &Interval<'_>,
    ids: &mut Ids,
) -> rusqlite::Result<Written> {
    let s = iv.sample;
    let args = params![s.boot_id, s.hostname, s.kernel, s.arch, s.ncpu];
    let sysinfo = intern(
        tx,
        "SELECT id FROM sysinfo WHERE boot_id = ?1 AND hostname = ?2 AND kernel = ?3 AND arch = ?4 AND ncpu = ?5",
        args,
        "INSERT OR IGNORE INTO sysinfo (boot_id, hostname, kernel, arch, ncpu) VALUES (?1, ?2, ?3, ?4, ?5)",
        args,
    )?;
    let p = iv.placement;
    tx.prepare_cached(
        "INSERT INTO sample (ts_ms, mono_ms, sysinfo, prev, elapsed_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![s.ts_ms, s.mono_ms, sysinfo, p.prev, p.elapsed_ms])?;
    let sample = tx.last_insert_rowid();
    let mut out = Written {
        sample_id: sample,
        clock: (s.ts_ms, s.mono_ms, sysinfo),
        ifaces: 0,
        namespaces: s.namespaces.len(),
        new_listeners: 0,
    };
    let mut netns = Vec::with_capacity(s.namespaces.len());
    let mut keysets = Keysets::default();
    let mut st = PerNs::new(tx);
    for (i, ns) in s.namespaces.iter().enumerate() {
        let id = ids.netns(tx, &s.boot_id, ns.inode, &ns.name)?;
        netns.push(id);
        out.ifaces += write_ifaces(tx, &mut st, (sample, id), ns, &iv.ifaces[i], ids)?;
        if let Some(c) = &iv.proto[i] {
            write_proto(tx, &mut st, (sample, s.ts_ms), id, ns, c, &mut keysets)?;
        }
        if let Some(l) = &iv.listeners[i] {
            out.new_listeners += write_listeners(tx, sample, s.ts_ms, id, l)?;
        }
    }
    write_metadata(tx, iv)?;
    let by_inode: HashMap<u64, i64> = s
        .namespaces
        .iter()
        .map(|n| n.inode)
        .zip(netns.iter().copied())
        .collect();
    let mut rows = Vec::with_capacity(iv.owners.len());
    for (o, inode) in &iv.owners {
        let ns = inode.and_then(|i| by_inode.get(&i).copied());
        let user = iv.users.get(&o.uid).map(Vec::as_slice);
        rows.push(process_row(tx, &s.boot_id, o, ns, user)?);
    }
    let row = |p: ProcRef| match p {
        ProcRef::Row(id) => id,
        ProcRef::Owner(i) => rows[i],
    };
    for (socks, id) in iv.sockets.iter().zip(&netns) {
        if let Some(socks) = socks {
            write_sockets(&mut st, sample, *id, socks, row)?;
        }
    }
    // A namespace's readings and socket dump serve the very next sample only (its readings
    // also the samples that carry it): those of namespaces this sample did not store are
    // dropped (a host running short-lived containers had kept ~0.5 KB per container ever
    // seen, and the baseline scans them).
    tx.prepare_cached(
        "DELETE FROM proto_last WHERE netns NOT IN (SELECT netns FROM proto_sample WHERE sample = ?1)",
    )?
    .execute([sample])?;
    tx.prepare_cached("DELETE FROM sock_base WHERE sample != ?1")?
        .execute([sample])?;
    let bytes: SampleBytes = iv.bytes.map(row);
    super::procbytes::write(tx, sample, &bytes)?;
    if let Some(e) = &iv.ebpf {
        super::ebpf::store_base(tx, sample, e)?;
        tx.prepare_cached(
            "UPDATE sample SET ebpf = ?1, ebpf_lost_events = ?2, ebpf_lost_bytes = ?3 WHERE id = ?4",
        )?
        .execute(params![
            // bit 0: the processes' bytes are eBPF's; bit 1: the ports' and hosts' too
            i64::from(e.covered) | i64::from(e.conns) << 1,
            to_sql(e.lost_events),
            to_sql(e.lost_bytes),
            sample
        ])?;
    }
    if iv.pcap {
        // `nrec status` tells the pcap fallback was active for this sample
        super::rollup::set_meta(tx, "pcap_sample", sample)?;
    }
    Ok(out)
}

/// One namespace's interfaces: their deltas and flags, and the readings — always as the next
/// sample's baseline, and kept with the sample where the deltas alone do not tell what the
/// counters did.
fn write_ifaces(
    tx: &Transaction<'_>,
    st: &mut PerNs<'_>,
    (sample, netns): (i64, i64),
    ns: &NsSample,
    derived: &[IfaceDelta],
    ids: &mut Ids,
) -> rusqlite::Result<usize> {
    let ifaces = &ns.ifaces;
    for (i, IfaceDelta { deltas, flags }) in ifaces.iter().zip(derived) {
        let ifindex = i.link.ifindex.map(i64::from).unwrap_or(-1);
        let iface = ids.iface(tx, netns, ifindex, &i.counters.name)?;
        let c = i.counters.counters.map(to_sql);
        let d: [Option<i64>; 16] = match deltas {
            Some(d) => d.map(|v| Some(to_sql(v))),
            None => [None; 16],
        };
        st.get(&IFACE_SAMPLE)?.execute(params![
            sample,
            iface,
            d[0],
            d[1],
            d[2],
            d[3],
            d[4],
            d[5],
            d[6],
            d[7],
            d[8],
            d[9],
            d[10],
            d[11],
            d[12],
            d[13],
            d[14],
            d[15],
            i.link.speed_mbps,
            i.link.duplex,
            flags
        ])?;
        let readings = params![
            iface, sample, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10],
            c[11], c[12], c[13], c[14], c[15]
        ];
        // (a carried namespace's links are its prior's: `derive::idle` carries it only when
        // every counter is the stored reading's)
        let touched = ns.idle && *flags == 0 && {
            st.get(&IFACE_LAST_CARRIED)?
                .execute(params![iface, sample])?
                == 1
        };
        if !touched {
            st.get(&IFACE_LAST)?.execute(readings)?;
        }
        if *flags != 0 {
            st.get(&IFACE_RAW)?.execute(readings)?;
        }
    }
    Ok(ifaces.len())
}

/// One namespace's protocol counters (what the interval added, sparse) and, read, its
/// readings as the next baseline (`proto_last`, valid for the next sample only, or as long
/// as the namespace is carried: a carried namespace's readings are its last read's, so that
/// row is left as it is — among 1 000 idle namespaces rewriting them was ~60 % of the pages
/// a sample wrote).
fn write_proto(
    tx: &Transaction<'_>,
    st: &mut PerNs<'_>,
    (sample, ts_ms): (i64, i64),
    netns: i64,
    ns: &NsSample,
    c: &proto::Counted,
    keysets: &mut Keysets,
) -> rusqlite::Result<()> {
    let counters = ns.protocol();
    let keyset = keysets.id(tx, counters)?;
    let mut blob = Vec::new();
    super::proto::encode_counted(&c.vals, &mut blob);
    st.get(&PROTO_SAMPLE)?
        .execute(params![sample, netns, keyset, c.counted, blob])?;
    if ns.idle {
        return Ok(());
    }
    let mut raw = Vec::with_capacity(counters.len() * 2);
    counters.encode_values(&mut raw);
    st.get(&PROTO_LAST)?.execute(params![
        netns,
        sample,
        keyset,
        raw,
        ts_ms,
        idle::quiet(counters) as i64,
        ns.cookie.map(to_sql)
    ])?;
    Ok(())
}

/// The keysets one sample's namespaces are stored under: every namespace of a host has the
/// same ~440 names, joined and looked up once per sample instead of once per namespace (an
/// 8 KB text compared in the keyset index).
///
/// Carried namespaces share their names (the baseline's one list per keyset): those are
/// known by that list, without comparing ~440 names per namespace.
#[derive(Default)]
struct Keysets(Vec<(Vec<Key>, i64)>, Vec<(std::sync::Arc<[Key]>, i64)>);

impl Keysets {
    fn id(&mut self, tx: &Transaction<'_>, counters: Protocol<'_>) -> rusqlite::Result<i64> {
        let shared = match counters {
            Protocol::Carried(c) if c.names.len() == counters.len() => Some(&c.names),
            _ => None,
        };
        if let Some(names) = shared {
            if let Some((_, id)) = self
                .1
                .iter()
                .find(|(n, _)| std::sync::Arc::ptr_eq(n, names))
            {
                return Ok(*id);
            }
        }
        let id = self.find_or_add(tx, counters)?;
        if let Some(names) = shared.filter(|_| self.1.len() < 8) {
            self.1.push((names.clone(), id));
        }
        Ok(id)
    }

    fn find_or_add(
        &mut self,
        tx: &Transaction<'_>,
        counters: Protocol<'_>,
    ) -> rusqlite::Result<i64> {
        let same = |keys: &[Key]| keys.len() == counters.len() && keys.iter().eq(counters.names());
        if let Some((_, id)) = self.0.iter().find(|(k, _)| same(k)) {
            return Ok(*id);
        }
        let names: String = counters
            .names()
            .map(Key::as_str)
            .collect::<Vec<_>>()
            .join("\n");
        let id = intern(
            tx,
            "SELECT id FROM keyset WHERE names = ?1",
            [&names],
            "INSERT OR IGNORE INTO keyset (names) VALUES (?1)",
            [&names],
        )?;
        // (a crafted tree's namespaces could each have their own: a few are kept)
        if self.0.len() < 8 {
            self.0.push((counters.names().cloned().collect(), id));
        }
        Ok(id)
    }
}

/// What the newest sample (`last`) left of each of its namespaces for carrying the idle
/// ones forward (`derive::idle`): their interfaces' readings and link facts, what their
/// last read showed acting without a packet, and when that was. One query for them all.
pub(crate) fn priors(conn: &Connection, last: i64) -> rusqlite::Result<HashMap<u64, Prior>> {
    let mut st = conn.prepare_cached(
        "SELECT n.inode, i.ifindex, i.name,
                x.rx_bytes, x.rx_packets, x.rx_errs, x.rx_drop, x.rx_fifo, x.rx_frame, x.rx_compressed, x.rx_multicast,
                x.tx_bytes, x.tx_packets, x.tx_errs, x.tx_drop, x.tx_fifo, x.tx_colls, x.tx_carrier, x.tx_compressed,
                s.speed_mbps, s.duplex, p.quiet, p.read_ms, n.name, p.cookie
         FROM iface_last x JOIN iface i ON i.id = x.iface JOIN netns n ON n.id = i.netns
         JOIN proto_sample ps ON ps.sample = x.sample AND ps.netns = n.id
         JOIN proto_last p ON p.netns = n.id
         LEFT JOIN iface_sample s ON s.sample = x.sample AND s.iface = x.iface
         WHERE x.sample = ?1 AND p.read_ms IS NOT NULL",
    )?;
    let mut out: HashMap<u64, Prior> = HashMap::new();
    let mut rows = st.query([last])?;
    while let Some(r) = rows.next()? {
        let inode: i64 = r.get(0)?;
        let Ok(ifindex) = u32::try_from(r.get::<_, i64>(1)?) else {
            // an interface without a known index cannot be matched to a link: read it
            out.entry(inode as u64).or_insert_with(Prior::never).quiet = Quiet::No;
            continue;
        };
        let mut c = [0u64; 16];
        for (k, slot) in c.iter_mut().enumerate() {
            *slot = from_sql(r.get(3 + k)?);
        }
        let name: Vec<u8> = r.bounded(23, limit::NETNS)?;
        let p = out.entry(inode as u64).or_insert_with(|| Prior {
            quiet: Quiet::from_stored(r.get(21).unwrap_or(0)),
            read_ms: r.get(22).unwrap_or(0),
            name,
            cookie: r.get::<_, Option<i64>>(24).ok().flatten().map(from_sql),
            ..Prior::never()
        });
        p.ifaces.push(PriorIface {
            name: r.bounded(2, limit::IFNAME)?,
            ifindex,
            counters: c,
            speed_mbps: r
                .get::<_, Option<i64>>(19)?
                .and_then(|v| u32::try_from(v).ok()),
            duplex: r
                .get::<_, Option<i64>>(20)?
                .and_then(|v| u8::try_from(v).ok()),
        });
    }
    Ok(out)
}

/// Listening sockets are spans: extended while consecutive samples see them, a new row for a
/// new one (with its owner, looked up once). Returns how many were new.
fn write_listeners(
    tx: &Transaction<'_>,
    sample: i64,
    ts_ms: i64,
    netns: i64,
    l: &Listeners<'_>,
) -> rusqlite::Result<usize> {
    for id in &l.continued {
        tx.prepare_cached("UPDATE listener SET last_sample = ?1, last_ms = ?2 WHERE id = ?3")?
            .execute(params![sample, ts_ms, id])?;
    }
    let mut st = tx.prepare_cached(
        "INSERT INTO listener (netns, proto, family, addr, port, inode, uid, pid, comm, start_time,
                               first_sample, last_sample, first_ms, last_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?12)",
    )?;
    for (x, o) in &l.new {
        st.execute(params![
            netns,
            x.proto,
            x.family,
            x.addr,
            x.port,
            x.inode,
            x.uid,
            o.as_ref().map(|o| o.pid),
            o.as_ref().map(|o| o.comm.clone()),
            o.as_ref().map(|o| to_sql(o.start_time)),
            sample,
            ts_ms
        ])?;
    }
    Ok(l.new.len())
}

/// One namespace's socket dump as the next baseline, and the interval's socket totals.
fn write_sockets(
    st: &mut PerNs<'_>,
    sample: i64,
    netns: i64,
    s: &NsSockets,
    row: impl Fn(ProcRef) -> i64,
) -> rusqlite::Result<()> {
    let mut blob = Vec::with_capacity(s.next.len() * 16);
    encode_varints(
        s.next.iter().flat_map(|(cookie, acked, received, p)| {
            [*cookie, *acked, *received, p.map_or(0, &row) as u64]
        }),
        &mut blob,
    );
    st.get(&SOCK_BASE)?.execute(params![netns, sample, blob])?;
    let Some((all, unowned)) = s.attrib else {
        return Ok(());
    };
    st.get(&ATTRIB_SAMPLE)?.execute(params![
        sample,
        netns,
        to_sql(all.rx),
        to_sql(all.tx),
        to_sql(unowned.rx),
        to_sql(unowned.tx)
    ])?;
    Ok(())
}

/// The container and unit metadata the sampler looked up for this sample.
fn write_metadata(tx: &Transaction<'_>, iv: &Interval<'_>) -> rusqlite::Result<()> {
    for (c, at) in &iv.containers {
        super::containers::save(tx, c, *at)?;
    }
    for (unit, description, at) in &iv.units {
        super::units::save(tx, unit, description.as_deref(), *at)?;
    }
    Ok(())
}

/// The process row of `o` in namespace row `netns`: (pid, start time, name, namespace) of
/// this boot, created on first sight with its unit and container.
pub(crate) fn process_row(
    conn: &Connection,
    boot_id: &str,
    o: &Owner,
    netns: Option<i64>,
    user: Option<&[u8]>,
) -> rusqlite::Result<i64> {
    let cg = o.cgroup.as_deref();
    intern(
        conn,
        "SELECT id FROM process WHERE boot_id = ?1 AND pid = ?2 AND start_time = ?3 AND comm = ?4 AND netns IS ?5",
        params![boot_id, o.pid, to_sql(o.start_time), o.comm, netns],
        "INSERT OR IGNORE INTO process (boot_id, pid, start_time, comm, exe, uid, cgroup, unit, container, netns, user)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            boot_id,
            o.pid,
            to_sql(o.start_time),
            o.comm,
            o.exe,
            o.uid,
            cg,
            cg.and_then(unit_of),
            cg.and_then(container_of),
            netns,
            user
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(pid: i32, start_time: u64, comm: &[u8]) -> Owner {
        Owner {
            pid,
            comm: comm.to_vec(),
            uid: 0,
            start_time,
            exe: None,
            cgroup: Some(b"/system.slice/web.service".to_vec()),
        }
    }

    #[test]
    fn a_keyset_names_the_same_counters_only_in_the_same_order() {
        let c = |v: &[&str]| -> Counters { v.iter().map(|n| ((*n).into(), 0)).collect() };
        assert!(same_names("a:x\nb:y", &c(&["a:x", "b:y"])));
        assert!(!same_names("a:x\nb:y", &c(&["b:y", "a:x"])));
        assert!(!same_names("a:x\nb:y", &c(&["a:x"])));
        assert!(!same_names("a:x", &c(&["a:x", "b:y"])));
        assert!(!same_names("a:xb:y", &c(&["a:x", "b:y"])));
        assert!(same_names("", &c(&[])));
    }

    #[test]
    fn a_reused_pid_is_a_new_process() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("t.db");
        let _lock = crate::lock(&path).unwrap();
        let mut conn = crate::open_rw(&path).unwrap();
        let tx = conn.transaction().unwrap();
        let old = process_row(&tx, "boot-a", &owner(4242, 100, b"old"), Some(1), None).unwrap();
        let same = process_row(&tx, "boot-a", &owner(4242, 100, b"old"), Some(1), None).unwrap();
        let reused =
            process_row(&tx, "boot-a", &owner(4242, 9_000, b"new"), Some(1), None).unwrap();
        assert_eq!(old, same);
        assert_ne!(old, reused, "same pid, later start time: another process");
        assert_ne!(
            process_row(&tx, "boot-b", &owner(4242, 100, b"old"), Some(1), None).unwrap(),
            old,
            "another boot"
        );
        let unit: String = tx
            .query_row("SELECT unit FROM process WHERE id = ?1", [reused], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(unit, "web.service");
    }

    #[test]
    fn socket_baselines_round_trip_and_only_serve_their_successor() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("t.db");
        let _lock = crate::lock(&path).unwrap();
        let mut conn = crate::open_rw(&path).unwrap();
        let tx = conn.transaction().unwrap();
        let blob = {
            let mut b = Vec::new();
            encode_varints([5u64, 100, 200, 7, 9, u64::MAX, 1, 0].into_iter(), &mut b);
            b
        };
        tx.execute("INSERT INTO sock_base VALUES (1, 41, ?1)", [blob])
            .unwrap();
        tx.execute(
            "INSERT INTO netns (id, boot_id, inode, name) VALUES (1, 'boot-a', 7, x'726f6f74')",
            [],
        )
        .unwrap();
        let ns = NsSample {
            inode: 7,
            name: b"root".to_vec(),
            ..NsSample::of_ifaces(Vec::new())
        };
        let at = |id: i64| {
            let last = Last {
                id,
                mono_ms: 0,
                ts_ms: 0,
                boot_id: "boot-a".into(),
            };
            let s = NsSamples {
                boot_id: "boot-a",
                namespaces: std::slice::from_ref(&ns),
                ebpf: false,
            };
            baseline(&tx, Some(last), &s, &mut Ids::default()).map(|mut b| {
                b.namespaces
                    .remove(&(7, b"root".to_vec()))
                    .and_then(|n| n.sockets)
            })
        };
        let b = at(41).unwrap().unwrap();
        assert_eq!(b[&5], (100, 200, 7));
        assert_eq!(b[&9], (u64::MAX, 1, 0));
        assert!(at(42).unwrap().is_none(), "a gap: no baseline");
        tx.execute("UPDATE sock_base SET socks = x'8080'", [])
            .unwrap();
        assert!(at(41).is_err(), "a corrupt blob is an error");
    }
}
