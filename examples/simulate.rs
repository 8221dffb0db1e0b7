//! A simulated history through nrec's real write path: the same derivation
//! (`nrec_model::derive`), store (`nrec_store::Writer`, with its rollups) and prune as
//! `nrec record`, one sample per interval, ending now (or `NREC_NOW`).
//!
//! cargo run --release --example simulate -- --db PATH --days 365 --interval 60 --procs 100 --ifaces 10
//!
//! Traffic varies by time of day and weekday; process activity is heavy-tailed (a few busy
//! daemons, many occasional clients); connections live for minutes; the host reboots every
//! 60 days. Protocol counters use this machine's real counter names.

use nrec_model::derive::{self, Resolved};
use nrec_model::sample::{
    IfaceCounters, IfaceSample, LinkInfo, Listener, NsSample, Owner, Sample, TcpSock,
};
use nrec_model::warnings::Warnings;
use nrec_store::prune::{self, Retention};
use nrec_store::{NsSamples, Writer};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

struct Args {
    db: PathBuf,
    days: i64,
    interval_s: i64,
    procs: usize,
    ifaces: usize,
    seed: u64,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "simulate: {msg}\nusage: simulate --db PATH [--days 365] [--interval 60] [--procs 100] [--ifaces 10] [--seed 1]"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut a = Args {
        db: PathBuf::new(),
        days: 365,
        interval_s: 60,
        procs: 100,
        ifaces: 10,
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it
            .next()
            .unwrap_or_else(|| usage(&format!("{k} needs a value")));
        let num = || -> i64 {
            v.parse()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| usage(&format!("{k} {v:?}: expected a positive number")))
        };
        match k.as_str() {
            "--db" => a.db = PathBuf::from(&v),
            "--days" => a.days = num(),
            "--interval" => a.interval_s = num(),
            "--procs" => a.procs = num() as usize,
            "--ifaces" => a.ifaces = num() as usize,
            "--seed" => a.seed = num() as u64,
            _ => usage(&format!("unknown option {k}")),
        }
    }
    if a.db.as_os_str().is_empty() {
        usage("--db is required");
    }
    a
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Proc {
    pid: i32,
    comm: Vec<u8>,
    /// probability of starting a connection in a given minute at peak time
    activity: f64,
    /// typical bytes per connection-minute
    volume: f64,
    port: u16,
    server: bool,
    hosts: Vec<String>,
    uid: u32,
    unit: String,
}

struct Sock {
    cookie: u64,
    inode: u32,
    proc_idx: usize,
    lport: u16,
    rport: u16,
    raddr: String,
    acked: u64,
    received: u64,
    minutes_left: u32,
}

const NAMES: [&str; 20] = [
    "nginx",
    "postgres",
    "sshd",
    "curl",
    "apt",
    "chrome",
    "firefox",
    "python3",
    "node",
    "java",
    "redis-server",
    "dockerd",
    "containerd",
    "rsync",
    "git",
    "systemd-resolve",
    "chronyd",
    "prometheus",
    "grafana",
    "backup",
];
const PORTS: [u16; 12] = [
    443, 80, 5432, 22, 6379, 8080, 9090, 3000, 53, 873, 9418, 123,
];

fn main() {
    let a = parse_args();
    let mut rng = Rng(a.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let now_ms = match std::env::var("NREC_NOW") {
        Ok(s) => s
            .parse::<jiff::Timestamp>()
            .unwrap_or_else(|_| usage("NREC_NOW: not an RFC 3339 time"))
            .as_millisecond(),
        Err(_) => jiff::Timestamp::now().as_millisecond(),
    };
    let step_ms = a.interval_s * 1000;
    let n_samples = a.days * 86_400_000 / step_ms;
    let start_ms = now_ms - n_samples * step_ms;

    // Real counter names from this machine (root namespace), so the keyset is realistic.
    let mut warn = Warnings::default();
    let template: nrec_model::sample::Counters = nrec_collect::collect_all(now_ms, &mut warn)
        .ok()
        .and_then(|s| s.namespaces.into_iter().next())
        .map(|ns| ns.counters)
        .unwrap_or_else(|| {
            [
                "Ip:InReceives",
                "Ip:OutRequests",
                "Tcp:InSegs",
                "Tcp:OutSegs",
                "Udp:InDatagrams",
            ]
            .iter()
            .map(|n| ((*n).into(), 0))
            .chain(std::iter::once(("sockstat:TCP:inuse".into(), 0)))
            .collect()
        });
    let mut counters: nrec_model::sample::Counters =
        template.iter().map(|(n, _)| (n.clone(), 0)).collect();
    let busy_counter: Vec<usize> = counters
        .iter()
        .enumerate()
        .filter(|(_, (n, _))| {
            matches!(
                n.split_once(':').map_or(n.as_str(), |(_, b)| b),
                "Ip:InReceives"
                    | "Ip:InDelivers"
                    | "Ip:OutRequests"
                    | "Tcp:InSegs"
                    | "Tcp:OutSegs"
                    | "Udp:InDatagrams"
                    | "Udp:OutDatagrams"
                    | "Ip6:Ip6InReceives"
                    | "Ip6:Ip6OutRequests"
                    | "TcpExt:TCPHPAcks"
                    | "TcpExt:TCPPureAcks"
                    | "IpExt:InOctets"
                    | "IpExt:OutOctets"
            )
        })
        .map(|(i, _)| i)
        .collect();
    let rare_counter: Vec<usize> = counters
        .iter()
        .enumerate()
        .filter(|(_, (n, _))| {
            matches!(
                n.split_once(':').map_or(n.as_str(), |(_, b)| b),
                "Tcp:ActiveOpens"
                    | "Tcp:PassiveOpens"
                    | "Tcp:RetransSegs"
                    | "Tcp:OutRsts"
                    | "Tcp:EstabResets"
                    | "TcpExt:TCPTimeouts"
                    | "TcpExt:DelayedACKs"
                    | "TcpExt:TW"
                    | "Tcp:AttemptFails"
                    | "Udp:NoPorts"
            )
        })
        .map(|(i, _)| i)
        .collect();

    let mut procs: Vec<Proc> = (0..a.procs)
        .map(|i| {
            let base = NAMES[i % NAMES.len()];
            let comm = if i < NAMES.len() {
                base.to_string()
            } else {
                // the kernel keeps 15 bytes of a name (and nrec refuses longer ones on reading)
                let n = format!("-{}", i / NAMES.len());
                format!("{}{n}", &base[..base.len().min(15 - n.len())])
            };
            let rank = (i + 1) as f64;
            Proc {
                pid: 1000 + i as i32 * 7,
                comm: comm.into_bytes(),
                activity: (0.9 / rank.powf(1.1)).max(0.002),
                volume: 2e6 / rank.powf(0.7) * (0.5 + rng.f()),
                port: PORTS[rng.below(PORTS.len() as u64) as usize],
                server: rng.f() < 0.3,
                // every traffic class (scope × family): LAN (RFC 1918, ULA), internet (the
                // documentation ranges stand for public ones) and loopback
                hosts: (0..1 + rng.below(6))
                    .map(|_| match rng.f() {
                        x if x < 0.35 => format!("10.0.{}.{}", rng.below(4), 1 + rng.below(250)),
                        x if x < 0.50 => format!("fd00:1::{:x}", 1 + rng.below(500)),
                        x if x < 0.75 => format!("2001:db8::{:x}", 1 + rng.below(4000)),
                        x if x < 0.95 => format!("198.51.100.{}", 1 + rng.below(250)),
                        _ => "127.0.0.1".to_string(),
                    })
                    .collect(),
                uid: if i % 3 == 0 { 0 } else { 1000 + (i % 5) as u32 },
                unit: format!("{}.service", NAMES[i % NAMES.len()]),
            }
        })
        .collect();

    let if_names: Vec<String> = (0..a.ifaces)
        .map(|i| match i {
            0 => "lo".to_string(),
            1 => "eth0".to_string(),
            2 => "eth1".to_string(),
            3 => "docker0".to_string(),
            4 => "wg0".to_string(),
            k => format!("veth{}", k - 5),
        })
        .collect();
    // bytes per second at peak for each interface (eth0 carries the process traffic)
    let if_rate: Vec<f64> = (0..a.ifaces)
        .map(|i| match i {
            0 => 20_000.0,
            1 => 0.0,
            2 => 150_000.0,
            3 => 40_000.0,
            4 => 8_000.0,
            _ => {
                if rng.f() < 0.5 {
                    5_000.0 * rng.f()
                } else {
                    0.0
                }
            }
        })
        .collect();
    let mut if_ctr: Vec<[u64; 16]> = vec![[0u64; 16]; a.ifaces];

    let path = a.db.clone();
    let _lock = nrec_store::lock(&path).unwrap_or_else(|e| usage(&e.to_string()));
    let mut db = Writer::open(&path).unwrap_or_else(|e| usage(&e.to_string()));
    let retention = Retention::default();

    let mut socks: Vec<Sock> = Vec::new();
    let mut next_cookie = 1u64;
    let mut next_inode = 100_000u32;
    let mut boot = 0u32;
    let mut boot_at_ms = start_ms - 3_600_000;
    let t0 = Instant::now();
    let mut last_report = Instant::now();
    for k in 0..=n_samples {
        let ts = start_ms + k * step_ms;
        // reboot every 60 days: counters, sockets and process start times begin again
        if ts - boot_at_ms > 60 * 86_400_000 {
            boot += 1;
            boot_at_ms = ts - 30_000;
            socks.clear();
            if_ctr.fill([0; 16]);
            for (_, v) in &mut counters {
                *v = 0;
            }
            for p in &mut procs {
                p.pid += 13;
            }
        }
        let tod = jiff::Timestamp::from_millisecond(ts)
            .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC))
            .unwrap();
        let hour = f64::from(tod.hour()) + f64::from(tod.minute()) / 60.0;
        let weekend = tod.weekday().to_monday_one_offset() >= 6;
        let day_factor = (0.15
            + 0.85 * (((hour - 14.0) / 24.0 * std::f64::consts::TAU).cos() * 0.5 + 0.5))
            * if weekend { 0.5 } else { 1.0 };
        let minutes = step_ms as f64 / 60_000.0;

        // connections: grow the live ones, open new ones, close expired ones
        let mut eth_rx = 0u64;
        let mut eth_tx = 0u64;
        for s in &mut socks {
            let p = &procs[s.proc_idx];
            let (r, t) = (
                (p.volume * minutes * day_factor * rng.f() * 2.0) as u64,
                (p.volume * minutes * day_factor * rng.f() * 0.3) as u64,
            );
            let (r, t) = if p.server { (t, r) } else { (r, t) };
            s.received += r;
            s.acked += t;
            eth_rx += r;
            eth_tx += t;
            s.minutes_left = s.minutes_left.saturating_sub(minutes.max(1.0) as u32);
        }
        socks.retain(|s| s.minutes_left > 0);
        for (i, p) in procs.iter().enumerate() {
            if rng.f() < (p.activity * day_factor * minutes).min(0.98) {
                let raddr = p.hosts[rng.below(p.hosts.len() as u64) as usize].clone();
                let (lport, rport) = if p.server {
                    (p.port, 32768 + rng.below(28000) as u16)
                } else {
                    (32768 + rng.below(28000) as u16, p.port)
                };
                let r = (p.volume * rng.f()) as u64;
                let t = (p.volume * rng.f() * 0.2) as u64;
                eth_rx += r;
                eth_tx += t;
                socks.push(Sock {
                    cookie: next_cookie,
                    inode: next_inode,
                    proc_idx: i,
                    lport,
                    rport,
                    raddr,
                    acked: t,
                    received: r,
                    minutes_left: 1 + rng.below(if i < 5 { 120 } else { 8 }) as u32,
                });
                next_cookie += 1;
                next_inode = next_inode.wrapping_add(1).max(100_000);
            }
        }

        // interfaces
        let mut ifaces = Vec::with_capacity(a.ifaces);
        for i in 0..a.ifaces {
            let (rx, tx) = if i == 1 {
                (eth_rx + eth_rx / 20, eth_tx + eth_tx / 20)
            } else {
                let b =
                    (if_rate[i] * day_factor * (step_ms / 1000) as f64 * (0.5 + rng.f())) as u64;
                if i == 0 { (b, b) } else { (b, b / 3) }
            };
            let c = &mut if_ctr[i];
            c[0] += rx;
            c[1] += rx / 900 + u64::from(rx > 0);
            c[8] += tx;
            c[9] += tx / 900 + u64::from(tx > 0);
            if rng.f() < 0.001 {
                c[3] += 1; // a drop now and then
            }
            c[7] += u64::from(i == 1 && rng.f() < 0.3);
            ifaces.push(IfaceSample {
                counters: IfaceCounters {
                    name: if_names[i].clone().into_bytes(),
                    counters: *c,
                },
                link: LinkInfo {
                    ifindex: Some(i as u32 + 1),
                    speed_mbps: if i == 1 || i == 2 { Some(10_000) } else { None },
                    duplex: if i == 1 || i == 2 { Some(1) } else { None },
                    is_virtual: !(i == 1 || i == 2),
                },
            });
        }
        let pkts = (eth_rx + eth_tx) / 900;
        for &i in &busy_counter {
            counters[i].1 += pkts / 2 + rng.below(50);
        }
        for &i in &rare_counter {
            if rng.f() < 0.2 {
                counters[i].1 += 1 + rng.below(3);
            }
        }
        for (n, v) in counters.iter_mut() {
            if n.starts_with("sockstat") || n.starts_with("diag:") {
                *v = socks.len() as u64 / 3 + rng.below(5);
            }
        }

        let sample = Sample {
            ts_ms: ts,
            mono_ms: ts - boot_at_ms,
            boot_id: format!("00000000-0000-4000-8000-{boot:012}"),
            hostname: b"simulated".to_vec(),
            kernel: "6.18.0-sim".into(),
            arch: "x86_64".into(),
            ncpu: 8,
            namespaces: vec![NsSample {
                inode: 0xEFFF_FFF9,
                name: b"root".to_vec(),
                ifaces,
                counters: counters.clone(),
                carried: None,
                listeners: Some(
                    procs
                        .iter()
                        .filter(|p| p.server)
                        .enumerate()
                        .map(|(i, p)| Listener {
                            proto: "tcp",
                            family: 2,
                            addr: "0.0.0.0".into(),
                            port: p.port,
                            inode: 50_000 + i as u32,
                            uid: p.uid,
                        })
                        .collect(),
                ),
                tcp: Some(
                    socks
                        .iter()
                        .map(|s| TcpSock {
                            cookie: s.cookie,
                            lport: s.lport,
                            rport: s.rport,
                            raddr: s.raddr.clone(),
                            inode: s.inode,
                            bytes_acked: s.acked,
                            bytes_received: s.received,
                        })
                        .collect(),
                ),
                closed: None,
                udp_socks: Vec::new(),
                udp_flows: None,
                fresh: false,
                owner_pid: None,
                idle: false,
                cookie: None,
            }],
            ebpf: None,
            pids: None,
        };
        let by_inode: HashMap<u32, usize> = socks.iter().map(|s| (s.inode, s.proc_idx)).collect();
        let owners = |wanted: &HashSet<u32>| -> HashMap<u32, Owner> {
            wanted
                .iter()
                .filter_map(|i| {
                    let p = &procs[*by_inode.get(i)?];
                    Some((
                        *i,
                        Owner {
                            pid: p.pid,
                            comm: p.comm.clone(),
                            uid: p.uid,
                            start_time: 100 + u64::from(boot),
                            exe: Some(
                                format!("/usr/bin/{}", String::from_utf8_lossy(&p.comm))
                                    .into_bytes(),
                            ),
                            cgroup: Some(format!("/system.slice/{}", p.unit).into_bytes()),
                        },
                    ))
                })
                .collect()
        };
        let mut w = Warnings::default();
        let fail = |e: nrec_model::error::Error| -> ! {
            eprintln!("simulate: {e}");
            std::process::exit(1)
        };
        let last = db.last_sample().unwrap_or_else(|e| fail(e));
        let base = db
            .baseline(
                last,
                &NsSamples {
                    boot_id: &sample.boot_id,
                    namespaces: &sample.namespaces,
                    ebpf: false,
                },
            )
            .unwrap_or_else(|e| fail(e));
        let prepared = derive::prepare(&base, &sample, &mut w);
        let found = Resolved {
            sockets: owners(&prepared.wanted().inodes),
            ..Default::default()
        };
        db.write(&prepared.finish(found))
            .unwrap_or_else(|e| fail(e));
        db.prune(ts, &retention, prune::Limit::RECORD)
            .unwrap_or_else(|e| fail(e));
        if last_report.elapsed().as_secs() >= 10 {
            last_report = Instant::now();
            eprintln!(
                "simulate: {k}/{n_samples} samples ({:.0}/s)",
                k as f64 / t0.elapsed().as_secs_f64()
            );
        }
    }
    // what a user would see: the file after the last run, WAL checkpointed
    db.checkpoint().unwrap_or_else(|e| usage(&e.to_string()));
    drop(db);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "simulated {} samples ({} days every {} s, {} processes, {} interfaces) in {:.1} s",
        n_samples + 1,
        a.days,
        a.interval_s,
        a.procs,
        a.ifaces,
        t0.elapsed().as_secs_f64()
    );
    println!("database: {} ({:.1} MB)", path.display(), size as f64 / 1e6);
}
