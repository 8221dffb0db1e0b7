//! nrec-sys: the operating system's small facts and calls, once: who we are, what we may do, the
//! clocks, the clock tick, locks, uname. Each `unsafe` libc call lives here with its SAFETY
//! note, so the rest of nrec calls safe functions.

use std::os::fd::AsRawFd;

/// The effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

pub fn is_root() -> bool {
    euid() == 0
}

/// Capability bits nrec asks about (linux/capability.h).
pub mod cap {
    pub const DAC_READ_SEARCH: u32 = 2;
    pub const SYS_PTRACE: u32 = 19;
    pub const SYS_ADMIN: u32 = 21;
    pub const PERFMON: u32 = 38;
    pub const BPF: u32 = 39;
}

/// This process's effective capability set (`CapEff` of /proc/self/status); None if unreadable.
pub fn effective_caps() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

fn boottime() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec; CLOCK_BOOTTIME exists on every kernel nrec
    // supports (2.6.39+), so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts
}

/// CLOCK_BOOTTIME in nanoseconds (the clock eBPF's process start times are on).
pub fn boottime_ns() -> u64 {
    let ts = boottime();
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Waits for an RCU grace period: `membarrier(MEMBARRIER_CMD_GLOBAL)`, which returns once
/// every CPU has passed through a quiescent state (`synchronize_rcu`), so every RCU read-side
/// section — an eBPF tracing program's run among them — that began before the call has ended.
pub fn rcu_grace_period() -> std::io::Result<()> {
    const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;
    // SAFETY: membarrier takes two integers and touches no memory of ours.
    let rc = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// CLOCK_BOOTTIME in milliseconds (the interval clock of samples).
pub fn boottime_ms() -> i64 {
    let ts = boottime();
    ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
}

/// USER_HZ: the unit of /proc/PID/stat's start time (100 on every Linux ABI, asked anyway).
pub fn clock_ticks_per_s() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|h| *h > 0).unwrap_or(100)
}

/// Configured CPUs (for sar's `(N CPU)`).
pub fn cpus() -> u32 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
    u32::try_from(n).ok().filter(|n| *n > 0).unwrap_or(1)
}

/// flock(2) on an open file: exclusive, waiting or not. Err carries errno.
pub fn flock_exclusive(f: &impl AsRawFd, wait: bool) -> std::io::Result<()> {
    let op = if wait {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    // SAFETY: flock on a file descriptor the caller owns for the duration of the call.
    if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The target of the symbolic link `name` relative to the open directory `dir`, into `buf`
/// (a target longer than `buf` is an error, never silently cut).
pub fn readlinkat<'b>(
    dir: &impl AsRawFd,
    name: &std::ffi::CStr,
    buf: &'b mut [u8],
) -> std::io::Result<&'b [u8]> {
    // SAFETY: name is a valid C string and buf a writable buffer of buf.len() bytes; the fd is
    // owned by the caller for the duration of the call.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    match usize::try_from(n) {
        Err(_) => Err(std::io::Error::last_os_error()),
        Ok(n) if n >= buf.len() => Err(std::io::Error::other("link target too long")),
        Ok(n) => Ok(&buf[..n]),
    }
}

/// A pidfd of process `pid` (pidfd_open(2), Linux 5.3).
pub fn pidfd_open(pid: u32) -> std::io::Result<std::os::fd::OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| std::io::Error::other("pid out of range"))?;
    // SAFETY: a plain syscall with integer arguments; a non-negative result is a new fd this
    // process owns.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    match libc::c_int::try_from(fd) {
        // SAFETY: the fd was just returned to us and nothing else owns it.
        Ok(fd) if fd >= 0 => Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// (hostname bytes, kernel release, machine) from uname(2).
pub fn uname() -> (Vec<u8>, String, String) {
    // SAFETY: utsname is plain data, filled by the kernel.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return (b"unknown".to_vec(), "unknown".into(), "unknown".into());
    }
    let field = |f: &[libc::c_char]| -> Vec<u8> {
        f.iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect()
    };
    (
        field(&u.nodename),
        String::from_utf8_lossy(&field(&u.release)).into_owned(),
        String::from_utf8_lossy(&field(&u.machine)).into_owned(),
    )
}

/// A user's name from the passwd database (bytes, as stored); None when there is none.
pub fn user_name(uid: u32) -> Option<Vec<u8>> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: getpwuid_r with a caller-owned record and buffer; the result points into them
    // and is copied out before they are dropped.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) == 0
            && !out.is_null()
            && !pw.pw_name.is_null()
        {
            return Some(std::ffi::CStr::from_ptr(pw.pw_name).to_bytes().to_vec());
        }
    }
    None
}

/// A user's uid and primary gid by name from the passwd database; None when there is none.
pub fn user_by_name(name: &str) -> Option<(u32, u32)> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: getpwnam_r with a NUL-terminated name and a caller-owned record and buffer; the
    // ids are copied out before they are dropped.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwnam_r(
            cname.as_ptr(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut out,
        ) == 0
            && !out.is_null()
        {
            return Some((pw.pw_uid, pw.pw_gid));
        }
    }
    None
}

/// The soft limit of open descriptors now (u64::MAX: unlimited; 1 024 where it cannot be
/// read).
pub fn open_files_soft() -> u64 {
    // SAFETY: getrlimit on a local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        match libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) {
            0 => r.rlim_cur,
            _ => 1024,
        }
    }
}

/// Opens `name` in directory `dir` for reading: close-on-exec, without following a symbolic
/// link, and non-blocking (a FIFO where a file was expected does not hang the caller).
pub fn openat_nonblock(dir: &impl AsRawFd, name: &[u8]) -> std::io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    let name = std::ffi::CString::new(name).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: a NUL-terminated name and an open directory; the fd is owned at once.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK,
        )
    };
    match fd {
        -1 => Err(std::io::Error::last_os_error()),
        // SAFETY: a descriptor openat just returned, owned by nobody else.
        fd => Ok(unsafe { std::fs::File::from_raw_fd(fd) }),
    }
}

/// The soft limit of open descriptors before [`raise_open_files`] raised it (0: not raised).
static OPEN_FILES_BEFORE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Raises the soft limit of open descriptors to the hard one (where it cannot, it stays).
/// The daemon holds two netlink sockets in every network namespace (a destroy listener and an rtnetlink
/// socket), more than the default soft limit of 1 024 on a host with 500 containers; the
/// hard limit (systemd: 524 288) is the system's word on what it may hold. Programs it
/// starts get the soft limit back ([`drop_privileges_for_exec`]), as systemd asks.
pub fn raise_open_files() {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            let before = r.rlim_cur;
            r.rlim_cur = r.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) == 0 {
                OPEN_FILES_BEFORE.store(before, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

/// What a program nrec starts (an alert's command) may keep of nrec's privileges: nothing.
/// For `CommandExt::pre_exec`, so only async-signal-safe calls: every capability is dropped
/// (the bounding set where nrec may change it, the ambient and inheritable sets, the
/// effective and permitted ones), `as_user` (uid, gid) is taken when given (root only: its
/// groups are that gid alone), and `no_new_privs` is set, so no setuid program or file
/// capability gives any back. A soft limit of open descriptors nrec raised is given back.
pub fn drop_privileges_for_exec(as_user: Option<(u32, u32)>) -> std::io::Result<()> {
    let err = std::io::Error::last_os_error;
    let before = OPEN_FILES_BEFORE.load(std::sync::atomic::Ordering::Relaxed);
    if before != 0 {
        // SAFETY: getrlimit/setrlimit are async-signal-safe system calls on a local.
        unsafe {
            let mut r: libc::rlimit = std::mem::zeroed();
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
                r.rlim_cur = before.min(r.rlim_max);
                if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                    return Err(err());
                }
            }
        }
    }
    // SAFETY: prctl, setgroups, setgid, setuid and the capset syscall are async-signal-safe
    // and take only values and pointers to locals that outlive the calls.
    unsafe {
        // the bounding set needs CAP_SETPCAP; without it (an unprivileged recorder) the
        // sets below are what keeps the program from every capability
        for c in 0..64 {
            if libc::prctl(libc::PR_CAPBSET_READ, c, 0, 0, 0) < 0 {
                break;
            }
            let _ = libc::prctl(libc::PR_CAPBSET_DROP, c, 0, 0, 0);
        }
        if libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        ) < 0
        {
            return Err(err());
        }
        if let Some((uid, gid)) = as_user {
            let groups = [gid];
            if libc::setgroups(1, groups.as_ptr()) < 0
                || libc::setgid(gid) < 0
                || libc::setuid(uid) < 0
            {
                return Err(err());
            }
        }
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        const VERSION_3: u32 = 0x2008_0522;
        let mut h = Header {
            version: VERSION_3,
            pid: 0,
        };
        let none = [Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        }; 2];
        if libc::syscall(libc::SYS_capset, &mut h as *mut Header, none.as_ptr()) < 0 {
            return Err(err());
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 {
            return Err(err());
        }
    }
    Ok(())
}

/// Bytes an unprivileged writer may still use on the file system holding `path`.
/// Whether stderr is connected to the systemd journal (`JOURNAL_STREAM` names its device and
/// inode): then a line may start with a `<N>` syslog priority the journal reads.
pub fn stderr_is_journal() -> bool {
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on fd 2 into a stat we own.
    if unsafe { libc::fstat(2, &mut st) } != 0 {
        return false;
    }
    dev.parse::<u64>().is_ok_and(|d| d == st.st_dev as u64)
        && ino.parse::<u64>().is_ok_and(|i| i == st.st_ino as u64)
}

pub fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path; `st` is a properly sized out-parameter.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        // (the field types differ between architectures: u64 here, u32 elsewhere)
        #[allow(clippy::useless_conversion)]
        Some(u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
    }
}

/// Reads the regular file `path` (a /proc file is one) of at most `max` bytes: opened
/// non-blocking and checked to be a regular file first, so a FIFO or device in its place
/// cannot hang or flood the reader; a longer file is an error, never silently cut.
pub fn read_bounded(path: &std::path::Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    // room for the kernel's usual text in the first read: a /proc file says its size is 0,
    // and growing from nothing costs a read (and a regeneration of the text) per doubling
    let mut out = Vec::with_capacity(max.min(16 << 10) as usize);
    f.take(max.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(std::io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(out)
}

/// A per-process /proc file (`stat`, `cgroup`): the kernel's text, bounded like every /proc
/// read (a cgroup path is at most a page per hierarchy).
pub fn read_proc_small(path: impl AsRef<std::path::Path>) -> std::io::Result<Vec<u8>> {
    read_bounded(path.as_ref(), 1 << 20)
}

/// The first argument that makes `nrec` the reader of [`read_bounded_within`] (not a command:
/// clap never sees it, so no help or completion shows it).
pub(crate) const READ_HELPER_ARG: &str = "--nrec-internal-read-file";

/// [`read_bounded`] that gives up after `deadline`: for files that are not the kernel's own (a
/// captured /proc tree may sit on FUSE or NFS, where an open or a read can block for ever, and
/// the kernel holds the reading thread until the file system answers — a thread of ours would
/// keep the whole process, and the lock it holds, from exiting). So the file is read by a child
/// (`nrec` itself, [`READ_HELPER_ARG`]) that inherits no descriptor of ours; past the deadline it
/// is killed and left to the kernel (reaped when it ends), and the error says so
/// (`ErrorKind::TimedOut`).
pub fn read_bounded_within(
    path: &std::path::Path,
    max: u64,
    deadline: std::time::Duration,
) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new("/proc/self/exe")
        .arg(READ_HELPER_ARG)
        .arg(max.to_string())
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("nrec-read".into())
        .spawn(move || {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            if let Some(o) = child.stdout.as_mut() {
                let _ = o.read_to_end(&mut out);
            }
            if let Some(e) = child.stderr.as_mut() {
                let _ = e.take(4096).read_to_end(&mut err);
            }
            let ok = child.wait().is_ok_and(|s| s.success());
            // the child's error: its errno (0: none) on the first line, then the message
            let _ = tx.send(if ok {
                Ok(out)
            } else {
                let err = String::from_utf8_lossy(&err);
                let (errno, msg) = err.split_once('\n').unwrap_or(("0", &err));
                match errno.parse::<i32>() {
                    Ok(n) if n > 0 => Err(std::io::Error::from_raw_os_error(n)),
                    _ => Err(std::io::Error::other(msg.trim().to_string())),
                }
            });
        })?;
    rx.recv_timeout(deadline).unwrap_or_else(|_| {
        // SAFETY: kill(2) of our own child, not yet reaped (its thread reaps it).
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "no answer within {:.1} s (a FUSE or network file system?)",
                deadline.as_secs_f64()
            ),
        ))
    })
}

/// `nrec --nrec-internal-read-file MAX PATH`: [`read_bounded`] to stdout (the reader of
/// [`read_bounded_within`]); None for any other command line.
pub fn read_helper_main() -> Option<std::process::ExitCode> {
    use std::io::Write;
    let mut args = std::env::args_os().skip(1);
    if args.next()? != READ_HELPER_ARG {
        return None;
    }
    let max = args.next().and_then(|m| m.to_str()?.parse::<u64>().ok());
    let (Some(max), Some(path)) = (max, args.next()) else {
        return Some(std::process::ExitCode::from(2));
    };
    match read_bounded(std::path::Path::new(&path), max) {
        Ok(b) if std::io::stdout().lock().write_all(&b).is_ok() => {
            Some(std::process::ExitCode::SUCCESS)
        }
        Ok(_) => Some(std::process::ExitCode::FAILURE),
        Err(e) => {
            eprintln!("{}\n{e}", e.raw_os_error().unwrap_or(0));
            Some(std::process::ExitCode::FAILURE)
        }
    }
}

/// Installs `handler` for each of `signals`, without SA_RESTART (a signal cuts a sleep or a
/// wait short). The handler must be async-signal-safe (store atomics only).
pub fn on_signals(
    signals: &[libc::c_int],
    handler: extern "C" fn(libc::c_int),
) -> std::io::Result<()> {
    for sig in signals {
        // SAFETY: a zeroed sigaction with a plain handler and an empty mask is valid; the
        // handler is the caller's async-signal-safe function.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(*sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

static STOPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn set_stopped(_sig: libc::c_int) {
    // async-signal-safe: only an atomic store
    STOPPED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Makes SIGINT, SIGTERM and SIGHUP set the stop flag ([`stopped`]) instead of ending the
/// process: for loops that must restore a terminal or close a document before they end.
pub fn stop_on_signals() -> std::io::Result<()> {
    on_signals(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP], set_stopped)
}

/// Whether a signal asked to stop since [`stop_on_signals`].
pub fn stopped() -> bool {
    STOPPED.load(std::sync::atomic::Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_sane() {
        assert!(clock_ticks_per_s() >= 1);
        assert!(cpus() >= 1);
        let a = boottime_ms();
        let b = boottime_ns() / 1_000_000;
        assert!(b as i64 >= a);
        assert_eq!(user_name(0).as_deref(), Some(&b"root"[..]));
        let f = tempfile::tempfile().unwrap();
        flock_exclusive(&f, false).unwrap();
    }
}
