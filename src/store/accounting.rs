//! PERSIST per-process, per-port and per-host TCP bytes: the baselines of consecutive
//! sock_diag dumps, process rows, and the tallies that `derive::sockets` computes from them
//! (the counting rules live there, tested without a database). Also the pcap fallback's UDP
//! flows, credited through the socket table.

use super::procbytes::SampleBytes;
use super::{decode_varints, encode_varints, to_sql};
use crate::derive::sockets::{self, Bytes, Who};
use crate::recorder::procs::{self, Owner};
use crate::recorder::{NsSample, Seen};
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// Source code stored with each process's bytes (`proc_bytes.procs`).
pub const SOURCE_SOCK_DIAG: i64 = 1;

/// How many remote addresses per process and interval are kept by name; the rest is '*'.
pub const TOP_HOSTS: usize = 8;

pub use crate::derive::sockets::Baseline;

/// The baseline of namespace `netns` for a sample whose predecessor is `prev`: None unless
/// the stored dump belongs to exactly that predecessor.
pub fn load_baseline(
    tx: &Transaction<'_>,
    netns: i64,
    prev: Option<i64>,
) -> rusqlite::Result<Option<Baseline>> {
    let Some(prev) = prev else { return Ok(None) };
    let row: Option<(i64, Vec<u8>)> = tx
        .prepare_cached("SELECT sample, socks FROM sock_base WHERE netns = ?1")?
        .query_row([netns], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((sample, blob)) = row.filter(|(s, _)| *s == prev) else {
        return Ok(None);
    };
    let v = decode_varints(&blob)
        .filter(|v| v.len() % 4 == 0)
        .ok_or_else(|| super::malformed(format!("sock_base of sample {sample}")))?;
    Ok(Some(
        v.chunks(4)
            .map(|c| (c[0], (c[1], c[2], c[3] as i64)))
            .collect(),
    ))
}

/// Inodes whose owner must be looked up: sockets the baseline does not already attribute.
pub fn wanted_inodes(ns: &NsSample, base: Option<&Baseline>, out: &mut HashSet<u32>) {
    for s in ns.tcp.iter().flatten() {
        let known = base
            .and_then(|b| b.get(&s.cookie))
            .is_some_and(|(_, _, p)| *p != 0);
        if s.inode != 0 && !known {
            out.insert(s.inode);
        }
    }
}

/// Process rows by (pid, start time, name, network namespace), created on first sight.
pub struct Processes<'a> {
    boot_id: &'a str,
    ids: HashMap<(i32, u64, Vec<u8>, Option<i64>), i64>,
    /// The containers met, resolved once (`store::containers`); the sample's time.
    containers: super::containers::Known,
    /// The systemd units met, described once (`store::units`).
    units: super::units::Known,
    now_ms: i64,
}

impl<'a> Processes<'a> {
    pub fn new(boot_id: &'a str) -> Self {
        Self::at(boot_id, 0)
    }

    /// For a sample taken at `now_ms` (when a container first seen is looked up).
    pub fn at(boot_id: &'a str, now_ms: i64) -> Self {
        Processes {
            boot_id,
            ids: HashMap::new(),
            containers: Default::default(),
            units: Default::default(),
            now_ms,
        }
    }

    pub fn id(
        &mut self,
        tx: &Transaction<'_>,
        o: &Owner,
        netns: Option<i64>,
    ) -> rusqlite::Result<i64> {
        let key = (o.pid, o.start_time, o.comm.clone(), netns);
        if let Some(id) = self.ids.get(&key) {
            return Ok(*id);
        }
        let cg = o.cgroup.as_deref();
        // the container's name, image and pod, and the unit's description, are looked up
        // when first met
        if let Some(cg) = cg {
            self.containers.of_cgroup(tx, cg, self.now_ms)?;
            if let Some(u) = procs::unit_of(cg) {
                self.units.get(tx, &u, self.now_ms)?;
            }
        }
        let id = super::intern(
            tx,
            "SELECT id FROM process WHERE boot_id = ?1 AND pid = ?2 AND start_time = ?3 AND comm = ?4 AND netns IS ?5",
            params![self.boot_id, o.pid, to_sql(o.start_time), o.comm, netns],
            "INSERT OR IGNORE INTO process (boot_id, pid, start_time, comm, exe, uid, cgroup, unit, container, netns)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                self.boot_id,
                o.pid,
                to_sql(o.start_time),
                o.comm,
                o.exe,
                o.uid,
                cg,
                cg.and_then(procs::unit_of),
                cg.and_then(procs::container_of),
                netns
            ],
        )?;
        self.ids.insert(key, id);
        Ok(id)
    }
}

/// Persists one namespace's TCP accounting for sample `sample`: the derivation
/// ([`derive::sockets::account_tcp`]) names owners by identity; here they become process rows
/// (created on first sight), the next baseline is stored, and — when there was a baseline —
/// the socket totals and the bytes per process (unless eBPF covers the interval), port and host.
#[allow(clippy::too_many_arguments)]
pub fn account(
    tx: &Transaction<'_>,
    sample: i64,
    netns: i64,
    ns: &NsSample,
    base: Option<&Baseline>,
    owners: &HashMap<u32, Owner>,
    procs: &mut Processes<'_>,
    credit_procs: bool,
    bytes: &mut SampleBytes,
) -> rusqlite::Result<()> {
    let Some(a) = sockets::account_tcp(ns, base, owners) else {
        return Ok(());
    };
    // Who → process row (0: none); a listener's owner is looked up once per port.
    let mut rows: HashMap<Who, i64> = HashMap::new();
    let mut row_of = |who: Who| -> rusqlite::Result<i64> {
        if let Some(id) = rows.get(&who) {
            return Ok(*id);
        }
        let id = match who {
            Who::Row(id) => id,
            Who::Inode(i) => match owners.get(&i) {
                Some(o) => procs.id(tx, o, Some(netns))?,
                None => 0,
            },
            Who::Listener(port) => listener_owner(tx, netns, ns, port, owners, procs)?,
        };
        rows.insert(who, id);
        Ok(id)
    };
    let mut blob = Vec::with_capacity(a.next.len() * 16);
    let mut next = Vec::with_capacity(a.next.len() * 4);
    for (cookie, acked, received, who) in &a.next {
        let p = match who {
            Some(w) => row_of(*w)?,
            None => 0,
        };
        next.extend([*cookie, *acked, *received, p as u64]);
    }
    encode_varints(next.into_iter(), &mut blob);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO sock_base (netns, sample, socks) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![netns, sample, blob])?;
    let Some(t) = a.tally else { return Ok(()) };
    // An owner that resolves to no process (a listener whose owner is unknown) is unowned.
    let mut unowned = t.unowned;
    let mut per_host: HashMap<i64, HashMap<String, Bytes>> = HashMap::new();
    for (who, b) in &t.per_owner {
        let p = row_of(*who)?;
        if p == 0 {
            unowned.add(b.rx, b.tx);
        } else if credit_procs {
            bytes.add_proc(p, SOURCE_SOCK_DIAG, b.rx, b.tx);
        }
    }
    for ((who, port), b) in &t.per_port {
        let p = row_of(*who)?;
        if p != 0 {
            bytes.add_port(p, "tcp", i64::from(*port), b.rx, b.tx);
        }
    }
    for (who, hosts) in t.per_host {
        let p = row_of(who)?;
        if p != 0 {
            let e = per_host.entry(p).or_default();
            for (addr, b) in hosts {
                e.entry(addr).or_default().add(b.rx, b.tx);
            }
        }
    }
    for (p, hosts) in per_host {
        add_hosts(bytes, p, hosts);
    }
    tx.prepare_cached(
        "INSERT INTO attrib_sample (sample, netns, rx, tx, unowned_rx, unowned_tx) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        sample,
        netns,
        to_sql(t.all.rx),
        to_sql(t.all.tx),
        to_sql(unowned.rx),
        to_sql(unowned.tx)
    ])?;
    Ok(())
}

/// A process's remote hosts of one interval: the [`TOP_HOSTS`] busiest by name, the rest '*'.
fn add_hosts<S: AsRef<str> + Ord>(bytes: &mut SampleBytes, p: i64, hosts: HashMap<S, Bytes>) {
    let mut v: Vec<(S, Bytes)> = hosts.into_iter().collect();
    v.sort_unstable_by(|a, b| {
        (b.1.rx + b.1.tx)
            .cmp(&(a.1.rx + a.1.tx))
            .then(a.0.cmp(&b.0))
    });
    let mut rest = Bytes::default();
    for (i, (addr, b)) in v.iter().enumerate() {
        if i < TOP_HOSTS {
            bytes.add_host(p, addr.as_ref(), b.rx, b.tx);
        } else {
            rest.add(b.rx, b.tx);
        }
    }
    if v.len() > TOP_HOSTS {
        bytes.add_host(p, "*", rest.rx, rest.tx);
    }
}

/// Source code of UDP bytes from the pcap fallback.
pub const SOURCE_PCAP_UDP: i64 = 5;

/// The inode of the namespace's UDP socket bound to (addr, port): an exact match, else a
/// wildcard bind (`0.0.0.0`, or `::`, which also takes IPv4 on a dual-stack socket).
fn udp_socket(ns: &NsSample, addr: IpAddr, port: u16) -> Option<u32> {
    let socks = &ns.udp_socks;
    socks
        .iter()
        .find(|(a, p, _)| *p == port && *a == addr)
        .or_else(|| {
            socks.iter().find(|(a, p, _)| {
                *p == port && a.is_unspecified() && (a.is_ipv4() == addr.is_ipv4() || a.is_ipv6())
            })
        })
        .map(|(_, _, i)| *i)
        .filter(|i| *i != 0)
}

/// An address and port.
type End = (IpAddr, u16);

/// The local ends of captured UDP flows: (local, remote, rx, tx) per direction seen.
fn udp_ends(ns: &NsSample) -> Vec<(End, End, u64, u64)> {
    let mut out = Vec::new();
    for ((src, sp, dst, dp, seen), (n, _)) in ns.udp_flows.iter().flatten() {
        if matches!(seen, Seen::Out | Seen::Loop) {
            out.push(((*src, *sp), (*dst, *dp), 0, *n));
        }
        if matches!(seen, Seen::In | Seen::Loop) {
            out.push(((*dst, *dp), (*src, *sp), *n, 0));
        }
    }
    out
}

/// Inodes of the UDP sockets captured flows will be credited through.
pub fn wanted_udp_inodes(ns: &NsSample, out: &mut HashSet<u32>) {
    for (local, _, _, _) in udp_ends(ns) {
        if let Some(i) = udp_socket(ns, local.0, local.1) {
            out.insert(i);
        }
    }
}

/// Credits the namespace's captured UDP flows (pcap fallback) through its socket table: to
/// the owning process (unless eBPF covers the interval), its service port and remote host.
/// Datagrams of sockets gone by the sample (a process that sent and exited) stay unattributed.
pub fn account_udp(
    tx: &Transaction<'_>,
    netns: i64,
    ns: &NsSample,
    owners: &HashMap<u32, Owner>,
    procs: &mut Processes<'_>,
    credit_procs: bool,
    bytes: &mut SampleBytes,
) -> rusqlite::Result<()> {
    let mut per_host: HashMap<i64, HashMap<String, Bytes>> = HashMap::new();
    for (local, remote, rx, txb) in udp_ends(ns) {
        let Some(owner) = udp_socket(ns, local.0, local.1).and_then(|i| owners.get(&i)) else {
            continue;
        };
        let p = procs.id(tx, owner, Some(netns))?;
        if credit_procs {
            bytes.add_proc(p, SOURCE_PCAP_UDP, rx, txb);
        }
        // UDP has no accept(): every sending socket looks bound. The service is the lower
        // port (53, 123, 443 against an ephemeral one).
        let port = local.1.min(remote.1);
        bytes.add_port(p, "udp", i64::from(port), rx, txb);
        per_host
            .entry(p)
            .or_default()
            .entry(remote.0.to_string())
            .or_default()
            .add(rx, txb);
    }
    for (p, hosts) in per_host {
        add_hosts(bytes, p, hosts);
    }
    Ok(())
}

/// The process row of the owner of this namespace's TCP listener on `port` (0: unknown): from
/// this sample's /proc scan when the listener is new, else as recorded when it was first seen.
fn listener_owner(
    tx: &Transaction<'_>,
    netns: i64,
    ns: &NsSample,
    port: u16,
    owners: &HashMap<u32, Owner>,
    procs: &mut Processes<'_>,
) -> rusqlite::Result<i64> {
    let inodes = ns
        .listeners
        .iter()
        .flatten()
        .filter(|l| l.proto == "tcp" && l.port == port)
        .map(|l| l.inode);
    for inode in inodes {
        if let Some(o) = owners.get(&inode) {
            return procs.id(tx, o, Some(netns));
        }
        let row: Option<(i32, Vec<u8>, u32, i64)> = tx
            .prepare_cached(
                "SELECT pid, comm, uid, start_time FROM listener
                 WHERE netns = ?1 AND proto = 'tcp' AND port = ?2 AND inode = ?3 AND pid IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
            )?
            .query_row(params![netns, port, inode], |r| {
                Ok((
                    r.get(0)?,
                    super::Bounded::bounded(r, 1, super::limit::COMM)?,
                    r.get(2)?,
                    r.get(3)?,
                ))
            })
            .optional()?;
        if let Some((pid, comm, uid, start)) = row {
            let start_time = super::from_sql(start);
            let alive =
                procs::read_owner(&std::path::Path::new("/proc").join(pid.to_string()), pid)
                    .filter(|o| o.start_time == start_time);
            let o = alive.unwrap_or(Owner {
                pid,
                comm,
                uid,
                start_time,
                exe: None,
                cgroup: None,
            });
            return procs.id(tx, &o, Some(netns));
        }
    }
    Ok(0)
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
    fn a_reused_pid_is_a_new_process() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("t.db");
        let _lock = crate::store::lock(&path).unwrap();
        let mut conn = crate::store::open_rw(&path).unwrap();
        let tx = conn.transaction().unwrap();
        let mut p = Processes::new("boot-a");
        let old = p.id(&tx, &owner(4242, 100, b"old"), Some(1)).unwrap();
        let same = p.id(&tx, &owner(4242, 100, b"old"), Some(1)).unwrap();
        let reused = p.id(&tx, &owner(4242, 9_000, b"new"), Some(1)).unwrap();
        assert_eq!(old, same);
        assert_ne!(old, reused, "same pid, later start time: another process");
        // A fresh cache (the next record run) finds the same rows again.
        let mut p2 = Processes::new("boot-a");
        assert_eq!(
            p2.id(&tx, &owner(4242, 9_000, b"new"), Some(1)).unwrap(),
            reused
        );
        let mut other_boot = Processes::new("boot-b");
        assert_ne!(
            other_boot
                .id(&tx, &owner(4242, 100, b"old"), Some(1))
                .unwrap(),
            old
        );
        let unit: String = tx
            .query_row("SELECT unit FROM process WHERE id = ?1", [reused], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(unit, "web.service");
    }

    #[test]
    fn baselines_round_trip_and_only_serve_their_successor() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("t.db");
        let _lock = crate::store::lock(&path).unwrap();
        let mut conn = crate::store::open_rw(&path).unwrap();
        let tx = conn.transaction().unwrap();
        let blob = {
            let mut b = Vec::new();
            encode_varints([5u64, 100, 200, 7, 9, u64::MAX, 1, 0].into_iter(), &mut b);
            b
        };
        tx.execute("INSERT INTO sock_base VALUES (1, 41, ?1)", [blob])
            .unwrap();
        let b = load_baseline(&tx, 1, Some(41)).unwrap().unwrap();
        assert_eq!(b[&5], (100, 200, 7));
        assert_eq!(b[&9], (u64::MAX, 1, 0));
        assert!(
            load_baseline(&tx, 1, Some(42)).unwrap().is_none(),
            "a gap: no baseline"
        );
        assert!(load_baseline(&tx, 1, None).unwrap().is_none());
        tx.execute("UPDATE sock_base SET socks = x'8080'", [])
            .unwrap();
        assert!(
            load_baseline(&tx, 1, Some(41)).is_err(),
            "a corrupt blob is an error"
        );
    }
}
