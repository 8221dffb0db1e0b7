//! NETLINK_SOCK_DIAG dumps of TCP and UDP sockets (ARCHITECTURE.md §3).
//!
//! Reading /proc/net/tcp makes the kernel walk every hash bucket (~13 ms idle); a sock_diag
//! dump costs ~0.6 ms idle. Replies are untrusted bytes: every header and attribute is
//! length-checked before use, and a short or inconsistent message ends the dump with an error
//! instead of being guessed at.

use crate::netlink::{self, bad};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const INET_DIAG_MSG_LEN: usize = 72;

/// TCP states as the kernel numbers them (include/net/tcp_states.h), index = state.
pub(crate) const TCP_STATE_NAMES: [&str; 13] = [
    "", // 0 unused
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
    "NEW_SYN_RECV", // request sockets: counted as SYN_RECV, as ss does
];
pub(crate) const TCP_LISTEN: u8 = 10;
pub(crate) const TCP_CLOSE: u8 = 7;

/// One socket of a dump: the fixed part of `struct inet_diag_msg`.
#[derive(Debug, Clone)]
pub struct DiagSocket {
    pub family: u8,
    pub state: u8,
    pub sport: u16,
    pub dport: u16,
    /// Address bytes: 4 for IPv4, 16 for IPv6.
    pub src: Vec<u8>,
    pub dst: Vec<u8>,
    /// Kernel socket cookie: unique per socket for the life of the boot.
    pub cookie: u64,
    pub uid: u32,
    /// 0 once the process closed the socket (orphan, TIME_WAIT).
    pub inode: u32,
    /// tcp_info byte counters, when INET_DIAG_INFO was asked for and long enough.
    pub bytes_acked: Option<u64>,
    pub bytes_received: Option<u64>,
}

/// Request type of the compatibility interface, which dumps IPv4 and IPv6 TCP sockets in
/// one walk of the kernel's hash tables (it sets the family to AF_UNSPEC).
const TCPDIAG_GETSOCK: u16 = 18;

/// TCP states 1..=12 (ESTABLISHED .. NEW_SYN_RECV) as a dump mask. Bit 13,
/// TCP_BOUND_INACTIVE, is left out: asking for it walks the bind hash too (~0.8 ms here)
/// and reports bound-only sockets that `ss` does not count either.
pub(crate) const ALL_STATES: u32 = 0x1FFE;
pub(crate) const LISTEN_ONLY: u32 = 1 << TCP_LISTEN;

/// Dumps the sockets of `protocol` (IPPROTO_TCP / IPPROTO_UDP) and `family` (AF_INET /
/// AF_INET6) in the given `states` in the calling thread's network namespace.
pub fn dump(family: u8, protocol: u8, states: u32, each: impl FnMut(DiagSocket)) -> io::Result<()> {
    // inet_diag_req_v2: family, protocol, ext, pad, states, sockid(48)
    let mut req = [0u8; 56];
    req[0] = family;
    req[1] = protocol;
    req[4..8].copy_from_slice(&states.to_ne_bytes());
    request(SOCK_DIAG_BY_FAMILY, &req, each)
}

/// Dumps TCP sockets of both families in `states` with a single hash-table walk, with
/// tcp_info (byte counters) for each.
pub(crate) fn dump_tcp_both(states: u32, each: impl FnMut(DiagSocket)) -> io::Result<()> {
    // inet_diag_req (v1): family, src_len, dst_len, ext, sockid(48), states, dbs
    let mut req = [0u8; 60];
    req[3] = 1 << (INET_DIAG_INFO - 1);
    req[52..56].copy_from_slice(&states.to_ne_bytes());
    request(TCPDIAG_GETSOCK, &req, each)
}

fn request(msg_type: u16, payload: &[u8], mut each: impl FnMut(DiagSocket)) -> io::Result<()> {
    let fd = netlink::socket(NETLINK_SOCK_DIAG, false)?;
    // (a socket of its own, subscribed to nothing: no notification among the replies)
    netlink::dump(&fd, msg_type, payload, msg_type, |p| {
        each(parse_msg(p).ok_or_else(|| bad("inet_diag_msg shorter than 72 bytes"))?);
        Ok(())
    })
    .map(drop)
}

/// Multicast groups SKNLGRP_INET_TCP_DESTROY (1) and SKNLGRP_INET6_TCP_DESTROY (3), as the
/// bind(2) group mask: bit (group - 1).
const TCP_DESTROY_GROUPS: u32 = 1 << 0 | 1 << 2;

/// A socket subscribed to the kernel's TCP destroy events in the namespace of the thread that
/// opened it: one SOCK_DIAG_BY_FAMILY message with the final tcp_info of every TCP socket
/// that is freed, so the bytes of a connection that opened and closed between two samples
/// (or of a connection's last interval) are not lost. The daemon keeps one per namespace.
pub(crate) struct DestroyListener {
    fd: OwnedFd,
    /// Times the receive queue overflowed (ENOBUFS): events were lost and the bytes of those
    /// sockets' last interval stay uncounted.
    pub overflows: u64,
}

impl DestroyListener {
    pub fn open() -> io::Result<Self> {
        let fd = netlink::socket(NETLINK_SOCK_DIAG, true)?;
        // Room for a burst of closes between two drains (~380 bytes each); forcing past
        // rmem_max needs CAP_NET_ADMIN, else the plain request is capped by the sysctl.
        let size: libc::c_int = 8 << 20;
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            // SAFETY: setsockopt with a c_int of the right size.
            let rc = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as u32,
                )
            };
            if rc == 0 {
                break;
            }
        }
        // SAFETY: a zeroed sockaddr_nl with family and groups set; valid length.
        let rc = unsafe {
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as u16;
            sa.nl_groups = TCP_DESTROY_GROUPS;
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(DestroyListener { fd, overflows: 0 })
    }

    /// Everything queued since the last drain; never blocks.
    pub fn drain(&mut self, mut each: impl FnMut(DiagSocket)) -> io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match netlink::recv(&self.fd, &mut buf, libc::MSG_DONTWAIT) {
                Ok(n) => n,
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN) => return Ok(()),
                    Some(libc::ENOBUFS) => {
                        self.overflows += 1;
                        continue;
                    }
                    _ => return Err(e),
                },
            };
            if n == 0 {
                return Err(bad("destroy event larger than the buffer"));
            }
            parse_batch(&buf[..n], SOCK_DIAG_BY_FAMILY, &mut each)?;
        }
    }
}

/// Parses one datagram of sock_diag messages; returns true at NLMSG_DONE.
fn parse_batch(
    data: &[u8],
    reply_type: u16,
    each: &mut impl FnMut(DiagSocket),
) -> io::Result<bool> {
    netlink::parse_batch(data, reply_type, &mut |p: &[u8]| {
        each(parse_msg(p).ok_or_else(|| bad("inet_diag_msg shorter than 72 bytes"))?);
        Ok(())
    })
}

fn parse_msg(p: &[u8]) -> Option<DiagSocket> {
    if p.len() < INET_DIAG_MSG_LEN {
        return None;
    }
    let family = p[0];
    let alen = if family == libc::AF_INET6 as u8 {
        16
    } else {
        4
    };
    let u32at = |o: usize| u32::from_ne_bytes(p[o..o + 4].try_into().unwrap_or_default());
    Some(DiagSocket {
        family,
        state: p[1],
        sport: u16::from_be_bytes([p[4], p[5]]),
        dport: u16::from_be_bytes([p[6], p[7]]),
        src: p[8..8 + alen].to_vec(),
        dst: p[24..24 + alen].to_vec(),
        cookie: u64::from(u32at(44)) | (u64::from(u32at(48)) << 32),
        uid: u32at(64),
        inode: u32at(68),
        bytes_acked: None,
        bytes_received: None,
    })
    .map(|mut s| {
        if let Some((acked, received)) = tcp_info_bytes(&p[INET_DIAG_MSG_LEN..]) {
            s.bytes_acked = Some(acked);
            s.bytes_received = Some(received);
        }
        s
    })
}

const INET_DIAG_INFO: u16 = 2;
/// struct tcp_info offsets (include/uapi/linux/tcp.h): tcpi_bytes_acked, tcpi_bytes_received.
const TCPI_BYTES_ACKED: usize = 120;
const TCPI_BYTES_RECEIVED: usize = 128;

/// Finds INET_DIAG_INFO among the attributes after inet_diag_msg and reads the two byte
/// counters; None when absent or too short (kernels before 4.1 have a shorter tcp_info).
fn tcp_info_bytes(attrs: &[u8]) -> Option<(u64, u64)> {
    let (_, info) = netlink::attrs(attrs).find(|(t, _)| *t == INET_DIAG_INFO)?;
    let at = |o: usize| -> Option<u64> {
        Some(u64::from_ne_bytes(info.get(o..o + 8)?.try_into().ok()?))
    };
    Some((at(TCPI_BYTES_ACKED)?, at(TCPI_BYTES_RECEIVED)?))
}

/// Formats a socket address as text (IPv4 dotted, IPv6 via std).
/// The address of a dump entry as an IpAddr (None when its length does not fit the family).
pub(crate) fn ip_addr(family: u8, bytes: &[u8]) -> Option<std::net::IpAddr> {
    if family == libc::AF_INET6 as u8 {
        let a: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
        Some(a.into())
    } else {
        let a: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
        Some(a.into())
    }
}

pub(crate) fn addr_text(family: u8, bytes: &[u8]) -> String {
    if family == libc::AF_INET6 as u8 && bytes.len() == 16 {
        let a: [u8; 16] = bytes.try_into().unwrap_or_default();
        std::net::Ipv6Addr::from(a).to_string()
    } else if bytes.len() >= 4 {
        std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()
    } else {
        String::from("?")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::{NLMSG_DONE, NLMSG_HDRLEN};

    fn msg(state: u8, sport: u16) -> Vec<u8> {
        let mut m = vec![0u8; NLMSG_HDRLEN + INET_DIAG_MSG_LEN];
        let len = m.len() as u32;
        m[0..4].copy_from_slice(&len.to_ne_bytes());
        m[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        let p = &mut m[NLMSG_HDRLEN..];
        p[0] = libc::AF_INET as u8;
        p[1] = state;
        p[4..6].copy_from_slice(&sport.to_be_bytes());
        p[8..12].copy_from_slice(&[127, 0, 0, 1]);
        p[68..72].copy_from_slice(&4242u32.to_ne_bytes());
        m
    }

    #[test]
    fn parses_messages_and_done() {
        let mut data = msg(TCP_LISTEN, 8080);
        data.extend(msg(1, 40000));
        let mut done = vec![0u8; 20];
        done[0..4].copy_from_slice(&20u32.to_ne_bytes());
        done[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        data.extend(done);
        let mut got = vec![];
        assert!(parse_batch(&data, SOCK_DIAG_BY_FAMILY, &mut |s| got.push(s)).unwrap());
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].sport, 8080);
        assert_eq!(got[0].inode, 4242);
        assert_eq!(addr_text(got[0].family, &got[0].src), "127.0.0.1");
    }

    #[test]
    fn rejects_truncated_and_bad_lengths() {
        let mut m = msg(1, 1);
        m.truncate(40);
        m[0..4].copy_from_slice(&40u32.to_ne_bytes());
        assert!(parse_batch(&m, SOCK_DIAG_BY_FAMILY, &mut |_| {}).is_err());
        let mut m = msg(1, 1);
        m[0..4].copy_from_slice(&9999u32.to_ne_bytes());
        assert!(parse_batch(&m, SOCK_DIAG_BY_FAMILY, &mut |_| {}).is_err());
    }

    #[test]
    fn live_dump_in_own_namespace() {
        // Needs no privileges: sock_diag dumps of one's own namespace are allowed.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let cport = c.local_addr().unwrap().port();
        let mut found = false;
        dump(
            libc::AF_INET as u8,
            libc::IPPROTO_TCP as u8,
            LISTEN_ONLY,
            |s| {
                assert_eq!(s.state, TCP_LISTEN);
                found |= s.sport == port;
            },
        )
        .unwrap();
        assert!(found, "listener on port {port} not in the dump");
        // The single-walk request sees the established client socket, and no listener.
        let mut client = false;
        dump_tcp_both(ALL_STATES & !LISTEN_ONLY, |s| {
            assert_ne!(s.state, TCP_LISTEN);
            client |= s.sport == cport && s.dport == port && s.state == 1;
        })
        .unwrap();
        assert!(client, "established socket {cport} not in the compat dump");
    }

    #[test]
    fn tcp_info_byte_counters_are_exact() {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        c.write_all(&[1u8; 123_456]).unwrap();
        let mut buf = vec![0u8; 123_456];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&[2u8; 789]).unwrap();
        let mut b2 = [0u8; 789];
        c.read_exact(&mut b2).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50)); // let the last ACKs land
        let cport = c.local_addr().unwrap().port();
        let mut seen = None;
        dump_tcp_both(ALL_STATES & !LISTEN_ONLY, |x| {
            if x.sport == cport {
                seen = Some((x.bytes_acked, x.bytes_received, x.cookie, x.dst.clone()));
            }
        })
        .unwrap();
        let (acked, received, cookie, dst) = seen.expect("client socket");
        // An actively opened socket counts its SYN's sequence number too (+1).
        assert_eq!(acked, Some(123_456 + 1));
        assert_eq!(received, Some(789));
        assert_ne!(cookie, 0);
        assert_eq!(dst, vec![127, 0, 0, 1]);
        assert_eq!(
            tcp_info_bytes(&[8, 0, 2, 0, 0, 0, 0, 0]),
            None,
            "short tcp_info"
        );
    }
}
