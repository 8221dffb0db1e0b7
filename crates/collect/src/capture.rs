//! The pcap fallback (feature `pcap`, daemon only): per-process UDP bytes and remote hosts on
//! kernels without the eBPF tracepoints, by capturing UDP headers on every interface of every
//! namespace and crediting each datagram to the local socket it left or reached (ARCHITECTURE.md §3).
//!
//! One capture thread per namespace (libpcap's "any" device, entered with setns), snaplen 96
//! (headers only), kernel filter "udp". Each thread sums payload bytes per flow; the daemon
//! drains the sums every tick into the sample, and the store credits them through the
//! namespace's UDP socket table of that sample. It costs throughput (every packet is copied
//! to user space), which is why it is off by default and never used when eBPF works.

#[cfg(feature = "pcap")]
pub use live::Capture;
use nrec_model::sample::Seen;
use std::net::IpAddr;

const LINKTYPE_LINUX_SLL: i32 = 113;
const LINKTYPE_LINUX_SLL2: i32 = 276;
const PACKET_OTHERHOST: u16 = 3;
const PACKET_OUTGOING: u16 = 4;
const LOOPBACK_IFINDEX: u32 = 1;

/// Parses one captured frame (Linux cooked header v1 or v2, IPv4/IPv6, UDP). Only the first
/// fragment of a datagram carries the UDP header, and its length field covers the whole
/// datagram, so later fragments are skipped and nothing is counted twice.
pub fn parse(linktype: i32, frame: &[u8]) -> Option<(IpAddr, u16, IpAddr, u16, Seen, u64)> {
    let (pkttype, ifindex, proto, ip) = match linktype {
        LINKTYPE_LINUX_SLL => (
            u16::from_be_bytes(frame.get(0..2)?.try_into().ok()?),
            None,
            u16::from_be_bytes(frame.get(14..16)?.try_into().ok()?),
            frame.get(16..)?,
        ),
        LINKTYPE_LINUX_SLL2 => (
            u16::from(*frame.get(10)?),
            Some(u32::from_be_bytes(frame.get(4..8)?.try_into().ok()?)),
            u16::from_be_bytes(frame.get(0..2)?.try_into().ok()?),
            frame.get(20..)?,
        ),
        _ => return None,
    };
    if pkttype == PACKET_OTHERHOST {
        return None; // promiscuous leftovers: not ours
    }
    let (src, dst, udp): (IpAddr, IpAddr, &[u8]) = match proto {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            if ip.get(9)? != &17 || ihl < 20 {
                return None;
            }
            let frag = u16::from_be_bytes(ip.get(6..8)?.try_into().ok()?) & 0x1fff;
            if frag != 0 {
                return None;
            }
            let a: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let b: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (a.into(), b.into(), ip.get(ihl..)?)
        }
        0x86dd => {
            if ip.get(6)? != &17 {
                return None; // extension headers (fragments included) are not followed
            }
            let a: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let b: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (a.into(), b.into(), ip.get(40..)?)
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes(udp.get(0..2)?.try_into().ok()?);
    let dport = u16::from_be_bytes(udp.get(2..4)?.try_into().ok()?);
    let len = u64::from(u16::from_be_bytes(udp.get(4..6)?.try_into().ok()?));
    let seen = if ifindex == Some(LOOPBACK_IFINDEX) {
        Seen::Loop
    } else if pkttype == PACKET_OUTGOING {
        Seen::Out
    } else {
        Seen::In
    };
    Some((src, sport, dst, dport, seen, len.saturating_sub(8)))
}

#[cfg(feature = "pcap")]
mod live {
    use super::parse;
    use crate::netns::{self, NsTarget};
    use nrec_model::sample::{Flows, Sample};
    use nrec_model::warnings::Warnings;
    use std::collections::{HashMap, HashSet};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    const LINKTYPE_LINUX_SLL2: i32 = super::LINKTYPE_LINUX_SLL2;

    struct Worker {
        flows: Arc<Mutex<Flows>>,
        stop: Arc<AtomicBool>,
        dropped: Arc<AtomicU64>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Drop for Worker {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    /// The daemon's capture threads, one per namespace.
    #[derive(Default)]
    pub struct Capture {
        workers: HashMap<u64, Worker>,
        failed: HashSet<u64>,
        dropped_seen: u64,
    }

    fn start(t: &NsTarget) -> Result<Worker, String> {
        let flows: Arc<Mutex<Flows>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let (tx, rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let ready = tx.clone();
        let (f, s, d) = (flows.clone(), stop.clone(), dropped.clone());
        let target = t.clone();
        let thread = std::thread::Builder::new()
            .name("nrec-pcap".into())
            .spawn(move || {
                let run = move || -> Result<(), String> {
                    // Non-blocking, polled with our own timeout: with TPACKET_V3 libpcap's read
                    // timeout never fires while no packet arrives, so a blocking read would not
                    // see the stop flag on a quiet namespace.
                    let mut cap = pcap::Capture::from_device("any")
                        .map_err(|e| e.to_string())?
                        .snaplen(96)
                        .promisc(false)
                        .buffer_size(4 << 20)
                        .timeout(200)
                        .open()
                        .and_then(|c| c.setnonblock())
                        .map_err(|e| e.to_string())?;
                    // SLL2 carries the interface index (loopback tells both ends); v1 otherwise.
                    let _ = cap.set_datalink(pcap::Linktype(LINKTYPE_LINUX_SLL2));
                    cap.filter("udp", true).map_err(|e| e.to_string())?;
                    let lt = cap.get_datalink().0;
                    let _ = ready.send(Ok(()));
                    let fd = std::os::fd::AsRawFd::as_raw_fd(&cap);
                    while !s.load(Ordering::SeqCst) {
                        let mut pfd = libc::pollfd {
                            fd,
                            events: libc::POLLIN,
                            revents: 0,
                        };
                        // SAFETY: one valid pollfd; the timeout bounds the wait.
                        unsafe { libc::poll(&mut pfd, 1, 200) };
                        let mut batch = Vec::new();
                        loop {
                            match cap.next_packet() {
                                Ok(p) => batch.extend(parse(lt, p.data)),
                                Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => {
                                    break;
                                }
                                Err(e) => return Err(e.to_string()),
                            }
                        }
                        if !batch.is_empty() {
                            if let Ok(mut m) = f.lock() {
                                for (a, ap, b, bp, seen, n) in batch {
                                    let e = m.entry((a, ap, b, bp, seen)).or_default();
                                    e.0 += n;
                                    e.1 += 1;
                                }
                            }
                        }
                        if let Ok(st) = cap.stats() {
                            d.store(u64::from(st.dropped), Ordering::Relaxed);
                        }
                    }
                    Ok(())
                };
                let res = match netns::run_in(&target, run) {
                    Ok(r) => r,
                    Err(e) => Err(format!("entering the namespace: {e}")),
                };
                if let Err(e) = res {
                    let _ = tx.send(Err(e));
                }
            })
            .map_err(|e| e.to_string())?;
        match rx.recv_timeout(std::time::Duration::from_secs(5)) {
            Ok(Ok(())) => Ok(Worker {
                flows,
                stop,
                dropped,
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the capture did not start within 5 s".into()),
        }
    }

    impl Capture {
        /// Starts a capture in every namespace that has none and stops those of namespaces that
        /// are gone.
        pub fn refresh(&mut self, targets: &[NsTarget], warn: &mut Warnings) {
            let live: HashSet<u64> = targets.iter().map(|t| t.inode).collect();
            self.workers.retain(|ino, _| live.contains(ino));
            self.failed.retain(|ino| live.contains(ino));
            for t in targets {
                if self.workers.contains_key(&t.inode) || self.failed.contains(&t.inode) {
                    continue;
                }
                match start(t) {
                    Ok(w) => {
                        self.workers.insert(t.inode, w);
                    }
                    Err(e) => {
                        self.failed.insert(t.inode);
                        warn.warn(nrec_model::warnings::Kind::Pcap, format!(
                        "namespace {}: pcap capture failed to start ({e}); its UDP bytes stay unattributed",
                        String::from_utf8_lossy(&t.name)
                    ));
                    }
                }
            }
        }

        /// Moves the flows summed since the last drain into the sample's namespaces.
        pub fn drain_into(&mut self, s: &mut Sample, warn: &mut Warnings) {
            for (ino, w) in &self.workers {
                let flows = w
                    .flows
                    .lock()
                    .map(|mut m| std::mem::take(&mut *m))
                    .unwrap_or_default();
                if let Some(ns) = s.namespaces.iter_mut().find(|n| n.inode == *ino) {
                    ns.udp_flows = Some(flows);
                }
            }
            let dropped: u64 = self
                .workers
                .values()
                .map(|w| w.dropped.load(Ordering::Relaxed))
                .sum();
            if dropped > self.dropped_seen {
                warn.warn(nrec_model::warnings::Kind::Pcap, format!(
                "pcap: the kernel dropped {} captured packets (buffer full): their UDP bytes stay unattributed",
                dropped - self.dropped_seen
            ));
                self.dropped_seen = dropped;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sll2(pkttype: u8, ifindex: u32, ip: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 20];
        f[0..2].copy_from_slice(&(if ip[0] >> 4 == 6 { 0x86ddu16 } else { 0x0800 }).to_be_bytes());
        f[4..8].copy_from_slice(&ifindex.to_be_bytes());
        f[10] = pkttype;
        f.extend_from_slice(ip);
        f
    }

    fn ipv4_udp(frag: u16, payload: u16) -> Vec<u8> {
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        ip[6..8].copy_from_slice(&frag.to_be_bytes());
        ip.extend_from_slice(&5353u16.to_be_bytes());
        ip.extend_from_slice(&53u16.to_be_bytes());
        ip.extend_from_slice(&(payload + 8).to_be_bytes());
        ip.extend_from_slice(&[0, 0]);
        ip
    }

    #[test]
    fn cooked_frames_parse_to_flows_and_bad_ones_are_refused() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let out = sll2(4, 2, &ipv4_udp(0, 1000));
        assert_eq!(
            parse(LINKTYPE_LINUX_SLL2, &out),
            Some((a, 5353, b, 53, Seen::Out, 1000))
        );
        let lo = sll2(0, 1, &ipv4_udp(0x4000, 7)); // DF set, not a fragment
        assert_eq!(parse(LINKTYPE_LINUX_SLL2, &lo).unwrap().4, Seen::Loop);
        assert_eq!(
            parse(LINKTYPE_LINUX_SLL2, &sll2(0, 2, &ipv4_udp(0, 1)))
                .unwrap()
                .4,
            Seen::In
        );
        // a later fragment, another host's packet, truncated frames, TCP: nothing
        assert_eq!(
            parse(LINKTYPE_LINUX_SLL2, &sll2(0, 2, &ipv4_udp(185, 100))),
            None
        );
        assert_eq!(
            parse(LINKTYPE_LINUX_SLL2, &sll2(3, 2, &ipv4_udp(0, 100))),
            None
        );
        for cut in 0..out.len() - 4 {
            assert_eq!(
                parse(LINKTYPE_LINUX_SLL2, &out[..cut]),
                None,
                "cut at {cut}"
            );
        }
        let mut tcp = ipv4_udp(0, 10);
        tcp[9] = 6;
        assert_eq!(parse(LINKTYPE_LINUX_SLL2, &sll2(0, 2, &tcp)), None);
        // v1 cooked header: packet type first, protocol at 14
        let mut v1 = vec![0u8; 16];
        v1[0..2].copy_from_slice(&4u16.to_be_bytes());
        v1[14..16].copy_from_slice(&0x0800u16.to_be_bytes());
        v1.extend_from_slice(&ipv4_udp(0, 40));
        assert_eq!(parse(LINKTYPE_LINUX_SLL, &v1).unwrap().5, 40);
        // IPv6
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 0, 17, 64];
        ip6.extend_from_slice(&[0; 15]);
        ip6.push(1);
        ip6.extend_from_slice(&[0; 15]);
        ip6.push(1);
        ip6.extend_from_slice(&[0x13, 0x88, 0x00, 0x35, 0x00, 0x10, 0, 0]);
        let got = parse(LINKTYPE_LINUX_SLL2, &sll2(0, 1, &ip6)).unwrap();
        assert_eq!(got.0, "::1".parse::<IpAddr>().unwrap());
        assert_eq!((got.1, got.3, got.5), (5000, 53, 8));
    }
}
