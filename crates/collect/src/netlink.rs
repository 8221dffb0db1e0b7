//! Netlink dumps: one request, then the kernel's replies until NLMSG_DONE, for every netlink
//! reader of nrec (sock_diag's socket dumps, rtnetlink's link counters).
//!
//! Replies are untrusted bytes: every header is length-checked before use, and a short or
//! inconsistent message ends the dump with an error instead of being guessed at.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub(crate) const NLM_F_REQUEST: u16 = 1;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const NLMSG_HDRLEN: usize = 16;

/// A netlink socket of `protocol` in the calling thread's network namespace (`nonblock` for
/// one that is drained, never waited on).
pub(crate) fn socket(protocol: i32, nonblock: bool) -> io::Result<OwnedFd> {
    let flags =
        libc::SOCK_RAW | libc::SOCK_CLOEXEC | if nonblock { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: plain socket(2) call; the fd is owned immediately.
    let raw = unsafe { libc::socket(libc::AF_NETLINK, flags, protocol) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh, valid fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// The sequence number of every request nrec sends: a dump's replies carry it, the kernel's
/// notifications to a subscribed socket carry 0.
const DUMP_SEQ: u32 = 1;

/// Sends the dump request `msg_type` with `payload` on `fd`, then hands each reply of type
/// `reply_type` (its payload after the header) to `each` until the kernel says it is done.
/// Returns whether a notification (another sequence number: a socket subscribed to a
/// multicast group) arrived among the replies; it is not handed to `each`.
pub(crate) fn dump(
    fd: &OwnedFd,
    msg_type: u16,
    payload: &[u8],
    reply_type: u16,
    mut each: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<bool> {
    let len = NLMSG_HDRLEN + payload.len();
    let mut req = vec![0u8; len];
    req[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    req[4..6].copy_from_slice(&msg_type.to_ne_bytes());
    req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req[8..12].copy_from_slice(&DUMP_SEQ.to_ne_bytes());
    req[NLMSG_HDRLEN..].copy_from_slice(payload);
    // SAFETY: sockaddr_nl zeroed = the kernel; buffer and lengths are valid.
    let sent = unsafe {
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        sa.nl_family = libc::AF_NETLINK as u16;
        libc::sendto(
            fd.as_raw_fd(),
            req.as_ptr().cast(),
            req.len(),
            0,
            (&sa as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    // One receive buffer per thread, kept: a zeroed 64 KiB allocation per dump (two per
    // namespace and sample) cost more than an idle namespace's whole link dump.
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|cell| {
        let mut own = Vec::new();
        let mut kept = cell.try_borrow_mut();
        let buf = match kept.as_deref_mut() {
            Ok(b) => b,
            Err(_) => &mut own, // a dump from within a dump's callback: its own buffer
        };
        buf.resize(RECV_BUF, 0);
        let mut noted = false;
        loop {
            let n = recv(fd, buf, 0)?;
            if n == 0 {
                return Err(bad("netlink socket closed before NLMSG_DONE"));
            }
            if parse_replies(&buf[..n], reply_type, Some(&mut noted), &mut each)? {
                return Ok(noted);
            }
        }
    })
}

/// A dump's receive buffer: the kernel fills at most this much per datagram (its default
/// for dumps is one page to 32 KiB).
const RECV_BUF: usize = 64 * 1024;

/// One datagram into `buf` (retried on EINTR): its length, or an error for one larger than
/// the buffer (MSG_TRUNC tells its real length).
pub(crate) fn recv(fd: &OwnedFd, buf: &mut [u8], flags: i32) -> io::Result<usize> {
    loop {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC | flags,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let n = n as usize;
        if n > buf.len() {
            return Err(bad("netlink reply larger than the buffer"));
        }
        return Ok(n);
    }
}

/// Parses one datagram of netlink messages, handing the payload of each of `reply_type` to
/// `each`; returns true at NLMSG_DONE (or an acknowledgement).
pub(crate) fn parse_batch(
    data: &[u8],
    reply_type: u16,
    each: &mut impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<bool> {
    parse_replies(data, reply_type, None, each)
}

/// [`parse_batch`] for a dump's replies: with `noted`, a message without the dump's
/// sequence number is a notification — set `noted`, hand it to no one.
fn parse_replies(
    mut data: &[u8],
    reply_type: u16,
    mut noted: Option<&mut bool>,
    each: &mut impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<bool> {
    while data.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes(data[0..4].try_into().unwrap_or_default()) as usize;
        let typ = u16::from_ne_bytes(data[4..6].try_into().unwrap_or_default());
        let seq = u32::from_ne_bytes(data[8..12].try_into().unwrap_or_default());
        if len < NLMSG_HDRLEN || len > data.len() {
            return Err(bad("netlink message length out of range"));
        }
        let payload = &data[NLMSG_HDRLEN..len];
        if let Some(n) = noted.as_deref_mut().filter(|_| seq != DUMP_SEQ) {
            *n = true;
        } else {
            match typ {
                NLMSG_DONE => return Ok(true),
                NLMSG_ERROR => {
                    let code = payload
                        .get(0..4)
                        .map(|b| i32::from_ne_bytes(b.try_into().unwrap_or_default()))
                        .unwrap_or(0);
                    if code == 0 {
                        return Ok(true);
                    }
                    return Err(io::Error::from_raw_os_error(code.saturating_neg()));
                }
                t if t == reply_type => each(payload)?,
                _ => {} // other types are not ours to interpret
            }
        }
        let step = (len + 3) & !3;
        if step >= data.len() {
            break;
        }
        data = &data[step..];
    }
    Ok(false)
}

/// The attributes after a message's fixed part: (type, value) of each, the nested flag
/// cleared; a malformed one ends the list (None from the iterator's next).
pub(crate) fn attrs(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([data[0], data[1]]));
        let typ = u16::from_ne_bytes([data[2], data[3]]) & 0x3fff;
        if len < 4 || len > data.len() {
            data = &[];
            return None;
        }
        let value = &data[4..len];
        let step = ((len + 3) & !3).min(data.len());
        data = &data[step..];
        Some((typ, value))
    })
}

pub(crate) fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}
