//! Interfaces of the current namespace: their counters from rtnetlink (binary
//! `rtnl_link_stats64`, no text), their index and name, link speed, duplex and driver via
//! ioctl.
//!
//! /sys/class/net shows the namespace sysfs was mounted in, not the thread's, so the values
//! come from a netlink socket created inside the namespace.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SIOCGIFNAME: libc::c_ulong = 0x8910;
const SIOCGIFINDEX: libc::c_ulong = 0x8933;
const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GSET: u32 = 0x1;
const ETHTOOL_GDRVINFO: u32 = 0x3;

use nrec_model::sample::IfaceCounters;
pub use nrec_model::sample::LinkInfo;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWSTATS: u16 = 92;
const RTM_GETSTATS: u16 = 94;
/// sizeof(struct if_stats_msg); its filter asks for IFLA_STATS_LINK_64 (1) alone.
const IF_STATS_MSG_LEN: usize = 12;
const IFLA_STATS_LINK_64: u16 = 1;
/// The multicast group of link changes (renames, state, addresses; not counters).
const RTNLGRP_LINK: libc::c_int = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_STATS64: u16 = 23;
/// sizeof(struct ifinfomsg).
const IFINFOMSG_LEN: usize = 16;
/// The most interfaces one namespace's dump may list (as /proc/net/dev's bound allows).
const MAX_LINKS: usize = 20_000;

/// A link's index and its counters as /proc/net/dev's columns.
pub(crate) type LinkStats = (u32, [u64; 16]);

pub(crate) struct Prober {
    fd: Option<OwnedFd>,
}

#[repr(C)]
struct IfReq {
    name: [u8; 16],
    data: IfReqData,
}

#[repr(C)]
union IfReqData {
    ifindex: libc::c_int,
    ptr: *mut libc::c_void,
    pad: [u8; 24],
}

impl Default for Prober {
    fn default() -> Self {
        Self::new()
    }
}

impl Prober {
    /// A probe socket in the calling thread's network namespace. A netlink socket serves:
    /// interface ioctls fall through to the device layer for any socket family, and so the
    /// recorder needs no AF_INET sockets at all (a smaller systemd sandbox).
    pub fn new() -> Self {
        // SAFETY: plain socket(2); the fd is owned immediately.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        let fd = (raw >= 0).then(|| unsafe { OwnedFd::from_raw_fd(raw) });
        Prober { fd }
    }

    /// Whether its socket was made (else every read fails).
    pub fn is_open(&self) -> bool {
        self.fd.is_some()
    }

    /// Every interface of the namespace with its counters as /proc/net/dev shows them (the
    /// same `dev_get_stats` the file prints, in its columns) and its index, without text
    /// (/proc/net/dev costs the kernel ~21 µs of it per namespace, ARCHITECTURE.md §8): the
    /// counters from an RTM_GETSTATS dump and each index's name by SIOCGIFNAME — less than
    /// half the kernel's work of an RTM_GETLINK dump, which fills every attribute of every
    /// link (IPv6's per-device statistics and settings among them) to give the same three
    /// things. The link dump where that fails: a kernel without RTM_GETSTATS (before 4.7),
    /// or an interface gone between the dump and its name.
    pub fn links(&self) -> std::io::Result<Vec<(IfaceCounters, u32)>> {
        if let Ok((stats, _)) = self.stats_noting() {
            let named: Option<Vec<_>> = stats
                .into_iter()
                .map(|(ix, counters)| {
                    Some((
                        IfaceCounters {
                            name: self.name(ix)?,
                            counters,
                        },
                        ix,
                    ))
                })
                .collect();
            if let Some(l) = named.filter(|l| !l.is_empty()) {
                return Ok(l);
            }
        }
        self.links_noting().map(|(l, _)| l)
    }

    /// The name of the interface with index `ix` (SIOCGIFNAME), None when there is none.
    fn name(&self, ix: u32) -> Option<Vec<u8>> {
        let fd = self.fd.as_ref()?;
        let mut req = IfReq {
            name: [0; 16],
            data: IfReqData { pad: [0; 24] },
        };
        req.data.ifindex = libc::c_int::try_from(ix).ok()?;
        // SAFETY: an ifreq whose ifindex member is set; the kernel writes the name.
        if unsafe { libc::ioctl(fd.as_raw_fd(), SIOCGIFNAME, &mut req) } != 0 {
            return None;
        }
        Some(cstr(&req.name).to_vec()).filter(|n| !n.is_empty())
    }

    /// [`Prober::links`], and whether a link changed while they were dumped (a [`watched`]
    /// socket's notification among the replies).
    ///
    /// [`watched`]: Prober::watch
    pub fn links_noting(&self) -> std::io::Result<(Vec<(IfaceCounters, u32)>, bool)> {
        let fd = self.fd()?;
        let mut out = Vec::new();
        // struct ifinfomsg: every family, every link
        let noted =
            crate::netlink::dump(fd, RTM_GETLINK, &[0u8; IFINFOMSG_LEN], RTM_NEWLINK, |p| {
                if out.len() >= MAX_LINKS {
                    return Err(crate::netlink::bad(
                        "more interfaces than any namespace holds",
                    ));
                }
                out.push(parse_link(p).ok_or_else(|| {
                    crate::netlink::bad("RTM_NEWLINK without a name or 64-bit counters")
                })?);
                Ok(())
            })?;
        Ok((out, noted))
    }

    /// Every link's index and counters (as /proc/net/dev's columns), without their names or
    /// anything else: an RTM_GETSTATS dump of `rtnl_link_stats64` alone, half the kernel's
    /// work of a link dump (which fills each link's every attribute, IPv6's per-device
    /// statistics among them). And whether a link changed meanwhile, as
    /// [`Prober::links_noting`].
    pub fn stats_noting(&self) -> std::io::Result<(Vec<LinkStats>, bool)> {
        let fd = self.fd()?;
        let mut req = [0u8; IF_STATS_MSG_LEN];
        req[8..12].copy_from_slice(&(1u32 << (IFLA_STATS_LINK_64 - 1)).to_ne_bytes());
        let mut out = Vec::new();
        let noted = crate::netlink::dump(fd, RTM_GETSTATS, &req, RTM_NEWSTATS, |p| {
            if out.len() >= MAX_LINKS {
                return Err(crate::netlink::bad(
                    "more interfaces than any namespace holds",
                ));
            }
            out.push(
                parse_stats(p)
                    .ok_or_else(|| crate::netlink::bad("RTM_NEWSTATS without 64-bit counters"))?,
            );
            Ok(())
        })?;
        Ok((out, noted))
    }

    /// Subscribes the socket to the namespace's link changes: from now on a rename, a link
    /// added or removed, a state change queues a notification on it ([`Prober::changed`]);
    /// counters moving do not. Its receive queue is made small first: a notification is
    /// only ever a flag (an overrun queue is a change too), so a namespace whose links churn
    /// between two samples holds 16 KiB of the kernel's memory at most, not the default
    /// ~200 KiB (a dump's replies still pass, a message at a time).
    pub fn watch(&self) -> std::io::Result<()> {
        let fd = self.fd()?;
        let set = |level: libc::c_int, name: libc::c_int, value: libc::c_int| {
            // SAFETY: an int option value and its size.
            let rc = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    level,
                    name,
                    (&value as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            match rc {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        };
        set(libc::SOL_SOCKET, libc::SO_RCVBUF, 16 * 1024)?;
        set(
            libc::SOL_NETLINK,
            libc::NETLINK_ADD_MEMBERSHIP,
            RTNLGRP_LINK,
        )
    }

    /// Whether a link changed since the last call (a [`watched`](Prober::watch) socket): drains
    /// its notifications. An overrun queue (ENOBUFS) or any failure is a change.
    pub fn changed(&self) -> bool {
        let Ok(fd) = self.fd() else {
            return true;
        };
        let mut buf = [0u8; 4096];
        let mut any = false;
        loop {
            match crate::netlink::recv(fd, &mut buf, libc::MSG_DONTWAIT) {
                Ok(_) => any = true,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return any,
                Err(_) => return true,
            }
        }
    }

    fn fd(&self) -> std::io::Result<&OwnedFd> {
        self.fd
            .as_ref()
            .ok_or_else(|| std::io::Error::other("no netlink socket"))
    }

    /// The namespace's cookie (SO_NETNS_COOKIE, Linux 5.14): what tells a namespace from
    /// one that reused its inode. None on older kernels.
    pub fn netns_cookie(&self) -> Option<u64> {
        const SO_NETNS_COOKIE: libc::c_int = 71;
        let fd = self.fd.as_ref()?;
        let mut v: u64 = 0;
        let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
        // SAFETY: a u64 and its length, as the option returns.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_NETNS_COOKIE,
                (&mut v as *mut u64).cast(),
                &mut len,
            )
        };
        (rc == 0 && len as usize == std::mem::size_of::<u64>()).then_some(v)
    }

    pub fn probe(&self, name: &[u8]) -> LinkInfo {
        let mut info = LinkInfo::default();
        let Some(fd) = &self.fd else { return info };
        if name.is_empty() || name.len() > 15 || name.contains(&0) {
            return info;
        }
        let mut req = IfReq {
            name: [0; 16],
            data: IfReqData { pad: [0; 24] },
        };
        req.name[..name.len()].copy_from_slice(name);
        // SAFETY: req is a properly sized ifreq for SIOCGIFINDEX.
        if unsafe { libc::ioctl(fd.as_raw_fd(), SIOCGIFINDEX, &mut req) } == 0 {
            // SAFETY: the kernel filled the ifindex member.
            let idx = unsafe { req.data.ifindex };
            info.ifindex = u32::try_from(idx).ok();
        }
        let mut cmd = [0u8; 44];
        cmd[0..4].copy_from_slice(&ETHTOOL_GSET.to_ne_bytes());
        req.data = IfReqData {
            ptr: cmd.as_mut_ptr().cast(),
        };
        // SAFETY: cmd is a 44-byte struct ethtool_cmd the kernel writes into.
        if unsafe { libc::ioctl(fd.as_raw_fd(), SIOCETHTOOL, &mut req) } == 0 {
            let lo = u16::from_ne_bytes([cmd[12], cmd[13]]) as u32;
            let hi = u16::from_ne_bytes([cmd[28], cmd[29]]) as u32;
            let speed = lo | (hi << 16);
            if speed != 0 && speed != u32::MAX && speed != u16::MAX as u32 {
                info.speed_mbps = Some(speed);
            }
            if cmd[14] <= 1 {
                info.duplex = Some(cmd[14]);
            }
        }
        let mut drv = [0u8; 196];
        drv[0..4].copy_from_slice(&ETHTOOL_GDRVINFO.to_ne_bytes());
        req.data = IfReqData {
            ptr: drv.as_mut_ptr().cast(),
        };
        // SAFETY: drv is a 196-byte struct ethtool_drvinfo.
        let ok = unsafe { libc::ioctl(fd.as_raw_fd(), SIOCETHTOOL, &mut req) } == 0;
        let driver = cstr(&drv[4..36]);
        let bus = cstr(&drv[100..132]);
        info.is_virtual = !ok || bus.is_empty() || is_virtual_driver(driver);
        info
    }
}

/// One RTM_NEWLINK message: the name, the 16 counters of /proc/net/dev and the index.
fn parse_link(p: &[u8]) -> Option<(IfaceCounters, u32)> {
    let index = u32::from_ne_bytes(p.get(4..8)?.try_into().ok()?);
    let (mut name, mut stats) = (None, None);
    for (t, v) in crate::netlink::attrs(p.get(IFINFOMSG_LEN..)?) {
        match t {
            IFLA_IFNAME => name = Some(cstr(v)),
            IFLA_STATS64 => stats = Some(v),
            _ => {}
        }
    }
    let name = name.filter(|n| !n.is_empty() && n.len() <= nrec_model::limit::IFNAME)?;
    Some((
        IfaceCounters {
            name: name.to_vec(),
            counters: dev_columns(stats?)?,
        },
        index,
    ))
}

/// One RTM_NEWSTATS message: `struct if_stats_msg` (its ifindex), then IFLA_STATS_LINK_64.
fn parse_stats(p: &[u8]) -> Option<(u32, [u64; 16])> {
    let index = u32::from_ne_bytes(p.get(4..8)?.try_into().ok()?);
    let stats = crate::netlink::attrs(p.get(IF_STATS_MSG_LEN..)?)
        .find(|(t, _)| *t == IFLA_STATS_LINK_64)?
        .1;
    Some((index, dev_columns(stats)?))
}

/// `struct rtnl_link_stats64` (its first 23 members, in every kernel since 2.6.35) as the
/// columns of /proc/net/dev, summed as `dev_seq_printf_stats` sums them.
fn dev_columns(s: &[u8]) -> Option<[u64; 16]> {
    let f = |i: usize| -> Option<u64> {
        Some(u64::from_ne_bytes(
            s.get(i * 8..i * 8 + 8)?.try_into().ok()?,
        ))
    };
    // rx_packets tx_packets rx_bytes tx_bytes rx_errors tx_errors rx_dropped tx_dropped
    // multicast collisions rx_length_errors rx_over_errors rx_crc_errors rx_frame_errors
    // rx_fifo_errors rx_missed_errors tx_aborted_errors tx_carrier_errors tx_fifo_errors
    // tx_heartbeat_errors tx_window_errors rx_compressed tx_compressed
    let add = |a: &[usize]| -> Option<u64> {
        a.iter()
            .try_fold(0u64, |acc, i| Some(acc.wrapping_add(f(*i)?)))
    };
    Some([
        f(2)?,
        f(0)?,
        f(4)?,
        add(&[6, 15])?,
        f(14)?,
        add(&[10, 11, 12, 13])?,
        f(21)?,
        f(8)?,
        f(3)?,
        f(1)?,
        f(5)?,
        f(7)?,
        f(18)?,
        f(9)?,
        add(&[17, 16, 20, 19])?,
        f(22)?,
    ])
}

fn cstr(b: &[u8]) -> &[u8] {
    let n = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    &b[..n]
}

fn is_virtual_driver(d: &[u8]) -> bool {
    const V: [&[u8]; 14] = [
        b"veth",
        b"bridge",
        b"tun",
        b"dummy",
        b"ifb",
        b"vxlan",
        b"wireguard",
        b"bonding",
        b"macvlan",
        b"ipvlan",
        b"team",
        b"802.1Q VLAN Support",
        b"openvswitch",
        b"vrf",
    ];
    V.contains(&d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each column of /proc/net/dev from its members of rtnl_link_stats64 (a distinct power
    /// of two per member, so a wrong or missing member shows in the sum).
    #[test]
    fn a_stats_message_is_its_index_and_counters_or_refused() {
        let mut stats = Vec::new();
        for i in 0..24u64 {
            stats.extend_from_slice(&(i + 1).to_ne_bytes());
        }
        let mut msg = vec![0u8; IF_STATS_MSG_LEN];
        msg[4..8].copy_from_slice(&7u32.to_ne_bytes());
        let attr = |typ: u16, v: &[u8]| {
            let mut a = Vec::new();
            a.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            a.extend_from_slice(&typ.to_ne_bytes());
            a.extend_from_slice(v);
            a
        };
        // another attribute first, then the counters
        let mut good = msg.clone();
        good.extend(attr(2, &[0; 8]));
        good.extend(attr(IFLA_STATS_LINK_64, &stats));
        assert_eq!(parse_stats(&good), Some((7, dev_columns(&stats).unwrap())));
        let mut short = msg.clone();
        short.extend(attr(IFLA_STATS_LINK_64, &stats[..100]));
        assert_eq!(parse_stats(&short), None, "fewer than 23 counters");
        assert_eq!(parse_stats(&msg), None, "no counters");
        assert_eq!(parse_stats(&msg[..6]), None, "no index");
        let mut lying = msg.clone();
        lying.extend_from_slice(&400u16.to_ne_bytes());
        lying.extend_from_slice(&IFLA_STATS_LINK_64.to_ne_bytes());
        lying.extend_from_slice(&stats);
        assert_eq!(
            parse_stats(&lying),
            None,
            "an attribute longer than the message"
        );
    }

    #[test]
    fn link_counters_are_dev_columns() {
        let mut s = Vec::new();
        for i in 0..24u32 {
            s.extend_from_slice(&(1u64 << i).to_ne_bytes());
        }
        let c = dev_columns(&s).unwrap();
        let b = |a: &[u32]| a.iter().map(|i| 1u64 << i).sum::<u64>();
        assert_eq!(
            c,
            [
                b(&[2]),
                b(&[0]),
                b(&[4]),
                b(&[6, 15]),
                b(&[14]),
                b(&[10, 11, 12, 13]),
                b(&[21]),
                b(&[8]),
                b(&[3]),
                b(&[1]),
                b(&[5]),
                b(&[7]),
                b(&[18]),
                b(&[9]),
                b(&[16, 17, 19, 20]),
                b(&[22]),
            ]
        );
        assert_eq!(dev_columns(&s[..22 * 8]), None, "too short: not guessed at");
        // a message: ifinfomsg with index 7, a name and the counters; hostile lengths end it
        let mut m = vec![0u8; IFINFOMSG_LEN];
        m[4..8].copy_from_slice(&7u32.to_ne_bytes());
        let attr = |m: &mut Vec<u8>, t: u16, v: &[u8]| {
            m.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            m.extend_from_slice(&t.to_ne_bytes());
            m.extend_from_slice(v);
            while m.len() % 4 != 0 {
                m.push(0);
            }
        };
        attr(&mut m, IFLA_IFNAME, b"veth-x\0");
        attr(&mut m, IFLA_STATS64, &s);
        let (ifc, idx) = parse_link(&m).unwrap();
        assert_eq!(
            (ifc.name.as_slice(), idx, ifc.counters),
            (&b"veth-x"[..], 7, c)
        );
        let mut cut = m.clone();
        cut[IFINFOMSG_LEN..IFINFOMSG_LEN + 2].copy_from_slice(&9999u16.to_ne_bytes());
        assert!(parse_link(&cut).is_none());
        let mut long = vec![0u8; IFINFOMSG_LEN];
        attr(&mut long, IFLA_IFNAME, b"sixteen-bytes-xx\0");
        attr(&mut long, IFLA_STATS64, &s);
        assert!(
            parse_link(&long).is_none(),
            "longer than IFNAMSIZ: not a kernel name"
        );
    }

    /// The dump and /proc/net/dev agree to the byte, in a namespace of the test's own where
    /// loopback carried traffic and then nothing moves.
    #[test]
    fn link_dump_and_stats_dump_equal_proc_net_dev() {
        if !nrec_sys::is_root() {
            eprintln!(
                "SKIPPED link_dump_and_stats_dump_equal_proc_net_dev: needs root (a network namespace)"
            );
            return;
        }
        let (dump, text, stats) = std::thread::spawn(|| {
            // SAFETY: unshare only affects this thread, which ends with the test.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
            let p = Prober::new();
            let fd = p.fd.as_ref().unwrap();
            let mut req = IfReq {
                name: [0; 16],
                data: IfReqData { pad: [0; 24] },
            };
            req.name[..2].copy_from_slice(b"lo");
            // SAFETY: an ifreq for SIOCGIFFLAGS / SIOCSIFFLAGS (flags are its first short).
            unsafe {
                assert_eq!(libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req), 0);
                req.data.pad[0] |= libc::IFF_UP as u8;
                assert_eq!(libc::ioctl(fd.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req), 0);
            }
            let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            for n in 1..=5 {
                u.send_to(&vec![7u8; 100 * n], u.local_addr().unwrap())
                    .unwrap();
            }
            // a watched socket hears of a link change, not of counters moving
            p.watch().unwrap();
            assert!(!p.changed());
            u.send_to(b"x", u.local_addr().unwrap()).unwrap();
            assert!(!p.changed(), "counters are no link change");
            let text = std::fs::read("/proc/thread-self/net/dev").unwrap();
            let (links, noted) = p.links_noting().unwrap();
            let (stats, noted_too) = p.stats_noting().unwrap();
            assert!(!noted && !noted_too);
            assert_eq!(p.links().unwrap(), links, "named by ioctl: the link dump's");
            assert_eq!(
                p.name(1).as_deref(),
                Some(&b"lo"[..]),
                "loopback's index names it"
            );
            assert_eq!(p.name(1 << 30), None, "no interface has that index");
            // SAFETY: as above; lo down is a link change
            unsafe {
                req.data.pad[0] &= !(libc::IFF_UP as u8);
                assert_eq!(libc::ioctl(fd.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req), 0);
            }
            assert!(p.changed(), "a state change is told");
            assert!(!p.changed(), "once");
            (links, text, stats)
        })
        .join()
        .unwrap();
        let mut w = nrec_model::warnings::Warnings::default();
        let proc = crate::procfs::parse_net_dev(&text, "dev", &mut w);
        let lo = dump.iter().find(|(c, _)| c.name == b"lo").unwrap();
        assert_eq!(lo.1, 1, "loopback is index 1");
        assert!(lo.0.counters[0] >= 1500 && lo.0.counters[1] >= 5, "{lo:?}");
        let got: Vec<&IfaceCounters> = dump.iter().map(|(c, _)| c).collect();
        assert_eq!(got, proc.iter().collect::<Vec<_>>());
        // the counters alone: the same, by index
        let by_index: Vec<(u32, [u64; 16])> =
            dump.iter().map(|(c, ix)| (*ix, c.counters)).collect();
        assert_eq!(stats, by_index);
    }

    #[test]
    fn loopback_has_an_index_and_is_virtual() {
        let p = Prober::new();
        let i = p.probe(b"lo");
        assert!(i.ifindex.is_some());
        assert!(i.is_virtual);
        assert_eq!(p.probe(b"no-such-if-x").ifindex, None);
        assert_eq!(p.probe(b"much-too-long-name-for-linux").ifindex, None);
    }
}
