//! Store one [`Sample`]: raw counters plus the deltas they imply against the previous sample.
//!
//! Everything happens in one `BEGIN IMMEDIATE` transaction, under the recorder's flock: a
//! sample is stored whole or not at all, and because raw cumulative counters are stored, a
//! sample that failed (disk full, kill -9) is simply covered by the next one's delta.

use super::accounting;
use super::rollup::Roller;
use super::to_sql;
use crate::derive::iface;
use crate::error::{Error, Result};
use crate::recorder::procs::Owner;
use crate::recorder::{Sample, Warnings};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// What happened to the sample, for the recorder's summary line.
#[derive(Debug)]
pub struct Inserted {
    pub sample_id: i64,
    /// The stored (wall ms, CLOCK_BOOTTIME ms, sysinfo row) of the sample.
    pub clock: (i64, i64, i64),
    pub segment: Segment,
    pub ifaces: usize,
    pub namespaces: usize,
    pub new_listeners: usize,
    /// What eBPF accounted (None: no eBPF reading in the sample).
    pub ebpf: Option<super::ebpf::Outcome>,
}

pub use crate::derive::iface::Segment;

/// The newest stored sample: the one a new sample continues.
pub fn last_sample(conn: &rusqlite::Connection) -> rusqlite::Result<Option<iface::Last>> {
    conn.prepare_cached(
        "SELECT s.id, s.mono_ms, s.ts_ms, si.boot_id FROM sample s JOIN sysinfo si ON si.id = s.sysinfo
         ORDER BY s.id DESC LIMIT 1",
    )?
    .query_row([], |r| {
        Ok(iface::Last {
            id: r.get(0)?,
            mono_ms: r.get(1)?,
            ts_ms: r.get(2)?,
            boot_id: r.get(3)?,
        })
    })
    .optional()
}

/// Resolves owners of listening-socket inodes not seen before (the /proc/*/fd scan).
pub type OwnerLookup<'a> = dyn FnMut(&HashSet<u32>) -> HashMap<u32, Owner> + 'a;

/// Stores a sample with a long-lived [`Roller`] (its caches save lookups in a daemon or the
/// simulator). The sample's rollups are written in the same transaction: a stored sample is
/// always rolled up.
pub fn insert_sample_with(
    conn: &mut rusqlite::Connection,
    path: &Path,
    s: &Sample,
    owners: &mut OwnerLookup<'_>,
    resolve: &mut super::ebpf::Resolve<'_>,
    warn: &mut Warnings,
    roller: &mut Roller,
) -> Result<Inserted> {
    let res = (|| -> rusqlite::Result<Inserted> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = insert_in(&tx, s, owners, resolve, warn)?;
        roller.roll_sample(&tx, out.sample_id)?;
        tx.commit()?;
        Ok(out)
    })();
    if res.is_err() {
        // ids cached during a rolled-back transaction may not exist
        *roller = Roller::new();
    }
    res.map_err(|e| Error::sqlite(path, e))
}

fn insert_in(
    tx: &Transaction<'_>,
    s: &Sample,
    owners: &mut OwnerLookup<'_>,
    resolve: &mut super::ebpf::Resolve<'_>,
    warn: &mut Warnings,
) -> rusqlite::Result<Inserted> {
    let args = params![s.boot_id, s.hostname, s.kernel, s.arch, s.ncpu];
    let sysinfo = super::intern(
        tx,
        "SELECT id FROM sysinfo WHERE boot_id = ?1 AND hostname = ?2 AND kernel = ?3 AND arch = ?4 AND ncpu = ?5",
        args,
        "INSERT OR IGNORE INTO sysinfo (boot_id, hostname, kernel, arch, ncpu) VALUES (?1, ?2, ?3, ?4, ?5)",
        args,
    )?;

    let last = last_sample(tx)?;
    let placement = iface::place(last.as_ref(), &s.boot_id, s.ts_ms, s.mono_ms, warn);
    let (segment, prev_id, elapsed) = (placement.segment, placement.prev, placement.elapsed_ms);

    tx.execute(
        "INSERT INTO sample (ts_ms, mono_ms, sysinfo, prev, elapsed_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![s.ts_ms, s.mono_ms, sysinfo, prev_id, elapsed],
    )?;
    let sample_id = tx.last_insert_rowid();

    let mut prev_ifaces: Vec<iface::Prev> = Vec::new();
    if let Some(pid) = prev_id {
        let mut st = tx.prepare_cached(
            "SELECT n.inode, i.ifindex, i.name,
                    x.rx_bytes, x.rx_packets, x.rx_errs, x.rx_drop, x.rx_fifo, x.rx_frame, x.rx_compressed, x.rx_multicast,
                    x.tx_bytes, x.tx_packets, x.tx_errs, x.tx_drop, x.tx_fifo, x.tx_colls, x.tx_carrier, x.tx_compressed
             FROM iface_last x JOIN iface i ON i.id = x.iface JOIN netns n ON n.id = i.netns
             WHERE x.sample = ?1",
        )?;
        let rows = st.query_map([pid], |r| {
            let mut c = [0u64; 16];
            for (k, slot) in c.iter_mut().enumerate() {
                *slot = super::from_sql(r.get(3 + k)?);
            }
            Ok(iface::Prev {
                netns_inode: r.get(0)?,
                ifindex: r.get(1)?,
                name: super::Bounded::bounded(r, 2, super::limit::IFNAME)?,
                counters: c,
            })
        })?;
        for r in rows {
            prev_ifaces.push(r?);
        }
    }
    // Derived in one pure step; persisted below.
    let derived = iface::iface_deltas(&prev_ifaces, &s.namespaces, placement, warn);

    let mut n_ifaces = 0;
    let mut new_listeners: Vec<(i64, &crate::recorder::Listener)> = Vec::new();
    let mut netns_ids: Vec<i64> = Vec::with_capacity(s.namespaces.len());
    for (ns, derived) in s.namespaces.iter().zip(derived) {
        let ns_inode = ns.inode as i64;
        let args = params![s.boot_id, ns_inode, ns.name];
        let netns_id = super::intern(
            tx,
            "SELECT id FROM netns WHERE boot_id = ?1 AND inode = ?2 AND name = ?3",
            args,
            "INSERT OR IGNORE INTO netns (boot_id, inode, name) VALUES (?1, ?2, ?3)",
            args,
        )?;
        netns_ids.push(netns_id);

        for (i, iface::IfaceDelta { deltas, flags }) in ns.ifaces.iter().zip(derived) {
            let ifindex = i.link.ifindex.map(i64::from).unwrap_or(-1);
            let args = params![netns_id, ifindex, i.counters.name];
            let iface_id = super::intern(
                tx,
                "SELECT id FROM iface WHERE netns = ?1 AND ifindex = ?2 AND name = ?3",
                args,
                "INSERT OR IGNORE INTO iface (netns, ifindex, name) VALUES (?1, ?2, ?3)",
                args,
            )?;
            let c = i.counters.counters.map(to_sql);
            let d: [Option<i64>; 16] = match deltas {
                Some(d) => d.map(|v| Some(to_sql(v))),
                None => [None; 16],
            };
            tx.prepare_cached(
                "INSERT INTO iface_sample VALUES (?1, ?2,
                    ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
                    ?19, ?20, ?21)",
            )?
            .execute(params![
                sample_id,
                iface_id,
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
            // The readings: always as the next sample's baseline, and kept with the sample
            // where the deltas alone do not tell what the counters did.
            let readings = params![
                iface_id, sample_id, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9],
                c[10], c[11], c[12], c[13], c[14], c[15]
            ];
            tx.prepare_cached(
                "INSERT OR REPLACE INTO iface_last VALUES (?1, ?2,
                    ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            )?
            .execute(readings)?;
            if flags != 0 {
                tx.prepare_cached(
                    "INSERT INTO iface_raw (iface, sample, rx_bytes, rx_packets, rx_errs, rx_drop, rx_fifo,
                        rx_frame, rx_compressed, rx_multicast, tx_bytes, tx_packets, tx_errs, tx_drop,
                        tx_fifo, tx_colls, tx_carrier, tx_compressed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
                )?
                .execute(readings)?;
            }
            n_ifaces += 1;
        }

        if !ns.counters.is_empty() {
            let names: String = ns
                .counters
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            let keyset = super::intern(
                tx,
                "SELECT id FROM keyset WHERE names = ?1",
                [&names],
                "INSERT OR IGNORE INTO keyset (names) VALUES (?1)",
                [&names],
            )?;
            // No protocol counter can count more segments, datagrams or errors in the interval
            // than the namespace's links could carry bytes (one byte each, at the 400 Gbit/s
            // ceiling per interface): beyond that the reading is not a count.
            let limit = elapsed.map(|el| {
                let per_link = super::delta::max_bytes(el, super::delta::DEFAULT_LIMIT_BITS_PER_S);
                per_link.saturating_mul(ns.ifaces.len().max(1) as u64)
            });
            if super::proto::store(
                tx,
                sample_id,
                netns_id,
                keyset,
                &ns.counters,
                segment,
                prev_id,
                limit,
            )? {
                warn.warn(
                    crate::warnings::Kind::Implausible,
                    format!(
                        "netns {}: a protocol counter jumped by more than its links could carry in {} ms; \
                         this interval's protocol counters are flagged and not counted",
                        crate::output::escape_bytes(&ns.name),
                        elapsed.unwrap_or(0)
                    ),
                );
            }
        }

        if let Some(listeners) = &ns.listeners {
            let mut open: HashMap<(String, i64, String, i64, i64), i64> = HashMap::new();
            if let Some(pid) = prev_id {
                let mut st = tx.prepare_cached(
                    "SELECT id, proto, family, addr, port, inode FROM listener WHERE netns = ?1 AND last_sample = ?2",
                )?;
                let rows = st.query_map(params![netns_id, pid], |r| {
                    Ok((
                        (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
                        r.get(0)?,
                    ))
                })?;
                for r in rows {
                    let (k, id) = r?;
                    open.insert(k, id);
                }
            }
            let mut seen = HashSet::new();
            for l in listeners {
                let key = (
                    l.proto.to_string(),
                    i64::from(l.family),
                    l.addr.clone(),
                    i64::from(l.port),
                    i64::from(l.inode),
                );
                if !seen.insert(key.clone()) {
                    continue;
                }
                match open.get(&key) {
                    Some(id) => {
                        tx.prepare_cached(
                            "UPDATE listener SET last_sample = ?1, last_ms = ?2 WHERE id = ?3",
                        )?
                        .execute(params![sample_id, s.ts_ms, id])?;
                    }
                    None => new_listeners.push((netns_id, l)),
                }
            }
        }
    }

    // Per-socket baselines: the predecessor's complete dump; after a reboot every socket is
    // new (an empty baseline); otherwise (first sample, failed dump) none.
    let empty = accounting::Baseline::new();
    let mut bases: Vec<Option<accounting::Baseline>> = Vec::with_capacity(netns_ids.len());
    for id in &netns_ids {
        bases.push(match segment {
            Segment::Boot => Some(empty.clone()),
            _ => accounting::load_baseline(tx, *id, prev_id)?,
        });
    }
    // One /proc/*/fd scan serves every namespace: socket inodes are global.
    let mut wanted: HashSet<u32> = new_listeners
        .iter()
        .map(|(_, l)| l.inode)
        .filter(|i| *i != 0)
        .collect();
    for (ns, base) in s.namespaces.iter().zip(&bases) {
        accounting::wanted_inodes(ns, base.as_ref(), &mut wanted);
        accounting::wanted_udp_inodes(ns, &mut wanted);
    }
    let found = if wanted.is_empty() {
        HashMap::new()
    } else {
        owners(&wanted)
    };
    let mut processes = accounting::Processes::at(&s.boot_id, s.ts_ms);
    let mut bytes = super::procbytes::SampleBytes::default();
    // Per-process bytes from eBPF when it covers the interval, else from sock_diag; ports
    // and hosts always from sock_diag (eBPF keys have no addresses).
    let ebpf = match &s.ebpf {
        Some(r) => {
            let by_inode: HashMap<u64, i64> = s
                .namespaces
                .iter()
                .map(|n| n.inode)
                .zip(netns_ids.iter().copied())
                .collect();
            Some(super::ebpf::account(
                tx,
                sample_id,
                prev_id,
                r,
                &by_inode,
                resolve,
                &mut processes,
                &mut bytes,
            )?)
        }
        None => None,
    };
    let credit_procs = !ebpf.as_ref().is_some_and(|o| o.covered);
    for ((ns, id), base) in s.namespaces.iter().zip(&netns_ids).zip(&bases) {
        accounting::account(
            tx,
            sample_id,
            *id,
            ns,
            base.as_ref(),
            &found,
            &mut processes,
            credit_procs,
            &mut bytes,
        )?;
        accounting::account_udp(
            tx,
            *id,
            ns,
            &found,
            &mut processes,
            credit_procs,
            &mut bytes,
        )?;
    }
    super::procbytes::write(tx, sample_id, &bytes)?;
    if s.namespaces.iter().any(|n| n.udp_flows.is_some()) {
        // `nrec status` tells the pcap fallback was active for this sample
        super::rollup::set_meta(tx, "pcap_sample", sample_id)?;
    }

    if !new_listeners.is_empty() {
        let mut st = tx.prepare_cached(
            "INSERT INTO listener (netns, proto, family, addr, port, inode, uid, pid, comm, start_time,
                                   first_sample, last_sample, first_ms, last_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?12)",
        )?;
        for (netns_id, l) in &new_listeners {
            let o = found.get(&l.inode);
            st.execute(params![
                netns_id,
                l.proto,
                l.family,
                l.addr,
                l.port,
                l.inode,
                l.uid,
                o.map(|o| o.pid),
                o.map(|o| o.comm.clone()),
                o.map(|o| to_sql(o.start_time)),
                sample_id,
                s.ts_ms
            ])?;
        }
    }

    Ok(Inserted {
        sample_id,
        clock: (s.ts_ms, s.mono_ms, sysinfo),
        segment,
        ifaces: n_ifaces,
        namespaces: s.namespaces.len(),
        new_listeners: new_listeners.len(),
        ebpf,
    })
}
