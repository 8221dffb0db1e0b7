//! Interface index, link speed, duplex and driver via ioctl in the current namespace.
//!
//! /sys/class/net shows the namespace sysfs was mounted in, not the thread's, so the values
//! come from SIOCGIFINDEX and SIOCETHTOOL on a socket created inside the namespace.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SIOCGIFINDEX: libc::c_ulong = 0x8933;
const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GSET: u32 = 0x1;
const ETHTOOL_GDRVINFO: u32 = 0x3;

pub use nrec_model::sample::LinkInfo;

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
