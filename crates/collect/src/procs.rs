//! Socket → process: one scan of `/proc/*/fd` for `socket:[inode]` links (ARCHITECTURE.md §3).
//!
//! Socket inode numbers are global across namespaces, so one scan serves all of them. The
//! scan is only done when a socket we need an owner for is not known yet.

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub use nrec_model::sample::Owner;

pub use nrec_model::identity::{container_of, unit_of};

/// Finds the owning process of each inode in `wanted`. The lowest PID holding a socket wins
/// (a parent that forked workers sharing the listener). `denied` counts processes whose fd
/// table we may not read.
///
/// The scan is the expensive part of a sample with new sockets (one readlink per open file
/// of every process), so PID ranges are scanned on all cores, each link is read relative to
/// its open fd directory (no path walk per link), and scanning stops once every inode has
/// an owner.
pub fn socket_owners(proc_root: &Path, wanted: &HashSet<u32>) -> (HashMap<u32, Owner>, usize) {
    if wanted.is_empty() {
        return (HashMap::new(), 0);
    }
    let Ok(rd) = std::fs::read_dir(proc_root) else {
        return (HashMap::new(), 0);
    };
    let mut pids: Vec<i32> = rd
        .flatten()
        .filter_map(|e| {
            std::str::from_utf8(e.file_name().as_bytes())
                .ok()?
                .parse()
                .ok()
        })
        .collect();
    pids.sort_unstable();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(pids.len().div_ceil(64).max(1));
    // inode -> lowest pid seen holding it
    let found: std::sync::Mutex<HashMap<u32, i32>> = Default::default();
    let denied = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (found, denied, pids) = (&found, &denied, &pids);
            // Round-robin: busy processes cluster in PID ranges, so contiguous chunks would
            // leave one thread with most of the work.
            scope.spawn(move || {
                for &pid in pids.iter().skip(t).step_by(threads) {
                    if found.lock().map_or(true, |f| f.len() >= wanted.len()) {
                        return;
                    }
                    match scan_fds(proc_root, pid, wanted) {
                        Ok(hits) if hits.is_empty() => {}
                        Ok(hits) => {
                            if let Ok(mut f) = found.lock() {
                                for ino in hits {
                                    let e = f.entry(ino).or_insert(pid);
                                    *e = (*e).min(pid);
                                }
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                            denied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(_) => {} // exited meanwhile
                    }
                }
            });
        }
    });
    let found = found.into_inner().unwrap_or_default();
    let mut owners: HashMap<i32, Option<Owner>> = HashMap::new();
    let mut out = HashMap::with_capacity(found.len());
    for (ino, pid) in found {
        let o = owners
            .entry(pid)
            .or_insert_with(|| read_owner(&proc_root.join(pid.to_string()), pid));
        if let Some(o) = o {
            out.insert(ino, o.clone());
        }
    }
    (out, denied.into_inner())
}

/// The wanted socket inodes among the open files of `pid`: one open of the fd directory,
/// readdir on it, and readlinkat relative to it.
fn scan_fds(proc_root: &Path, pid: i32, wanted: &HashSet<u32>) -> std::io::Result<Vec<u32>> {
    let path = std::ffi::CString::new(
        proc_root
            .join(format!("{pid}/fd"))
            .into_os_string()
            .into_vec(),
    )
    .map_err(std::io::Error::other)?;
    // SAFETY: opendir on a valid C string; the handle is closed below on every path.
    let dir = unsafe { libc::opendir(path.as_ptr()) };
    if dir.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: dir is a valid open DIR*.
    let dfd = unsafe { libc::dirfd(dir) };
    let mut hits = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: dir is valid; the entry stays valid until the next readdir/closedir.
        let ent = unsafe { libc::readdir(dir) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name is a NUL-terminated name inside the entry.
        let name = unsafe { (*ent).d_name.as_ptr() };
        // SAFETY: name is a valid C string, buf a valid buffer of buf.len() bytes.
        let n = unsafe { libc::readlinkat(dfd, name, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            continue; // "." and "..", or an fd closed meanwhile
        }
        if let Some(ino) = socket_inode(&buf[..n as usize]) {
            if wanted.contains(&ino) {
                hits.push(ino);
            }
        }
    }
    // SAFETY: dir is valid and closed exactly once.
    unsafe { libc::closedir(dir) };
    Ok(hits)
}

fn socket_inode(link: &[u8]) -> Option<u32> {
    let rest = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(rest).ok()?.parse().ok()
}

/// The process's cgroup path from `/proc/PID/cgroup`: the unified (v2) hierarchy's `0::`
/// line, else — a v1-only host — the `name=systemd` hierarchy's, which systemd, docker and
/// podman name the same way.
pub fn cgroup_path(text: &[u8]) -> Option<Vec<u8>> {
    let lines = || text.split(|b| *b == b'\n');
    lines()
        .find_map(|l| l.strip_prefix(b"0::"))
        .or_else(|| {
            lines().find_map(|l| {
                let mut f = l.splitn(3, |b| *b == b':');
                let (_, ctl, path) = (f.next()?, f.next()?, f.next()?);
                (ctl == b"name=systemd").then_some(path)
            })
        })
        .map(<[u8]>::to_vec)
}

/// Reads comm and start time from `/proc/PID/stat`, splitting at the **last** ')' because
/// comm may itself contain ')' and spaces.
pub fn read_owner(dir: &Path, pid: i32) -> Option<Owner> {
    let stat = nrec_sys::read_proc_small(dir.join("stat")).ok()?;
    let (comm, start_time) = parse_stat(&stat)?;
    let uid = std::fs::metadata(dir).ok()?.uid();
    let exe = std::fs::read_link(dir.join("exe"))
        .ok()
        .map(|p| p.into_os_string().into_vec());
    let cgroup = nrec_sys::read_proc_small(dir.join("cgroup"))
        .ok()
        .and_then(|t| cgroup_path(&t));
    Some(Owner {
        pid,
        comm,
        uid,
        start_time,
        exe,
        cgroup,
    })
}

/// cgroup v2 id (the directory's inode number, what `bpf_get_current_cgroup_id` returns) →
/// path as /proc/PID/cgroup shows it ("/system.slice/x.service"), for every cgroup under
/// `root`. Used for processes that exited before their cgroup could be read from /proc.
pub fn cgroup_index(root: &Path) -> HashMap<u64, Vec<u8>> {
    let mut out = HashMap::new();
    let mut stack = vec![(root.to_path_buf(), b"/".to_vec())];
    while let Some((dir, rel)) = stack.pop() {
        if let Ok(m) = std::fs::metadata(&dir) {
            out.insert(m.ino(), rel.clone());
        }
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let mut r = rel.clone();
                if r.len() > 1 {
                    r.push(b'/');
                }
                r.extend_from_slice(e.file_name().as_bytes());
                stack.push((e.path(), r));
            }
        }
    }
    out
}

pub(crate) fn parse_stat(stat: &[u8]) -> Option<(Vec<u8>, u64)> {
    let open = stat.iter().position(|b| *b == b'(')?;
    let close = stat.iter().rposition(|b| *b == b')')?;
    if close < open {
        return None;
    }
    let comm = stat[open + 1..close].to_vec();
    // After ") " come fields 3.. ; start time is field 22, i.e. index 19 after the split.
    let rest = stat.get(close + 2..)?;
    let f = rest.split(|b| *b == b' ').nth(19)?;
    Some((comm, crate::procfs::parse_u64(f)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_hostile_comm() {
        let s = b"123 (a) b (c)) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 99887 20 21\n";
        let (comm, st) = parse_stat(s).unwrap();
        assert_eq!(comm, b"a) b (c)");
        assert_eq!(st, 99887);
        assert_eq!(socket_inode(b"socket:[123]"), Some(123));
        assert_eq!(socket_inode(b"pipe:[123]"), None);
    }

    #[test]
    fn units_and_containers_from_cgroups() {
        assert_eq!(
            unit_of(b"/system.slice/nginx.service").as_deref(),
            Some("nginx.service")
        );
        assert_eq!(
            unit_of(b"/user.slice/user-1000.slice/session-2.scope").as_deref(),
            Some("session-2.scope")
        );
        assert_eq!(unit_of(b"/user.slice").as_deref(), Some("user.slice"));
        // a user manager's units are that user's, never the system's of the same name
        assert_eq!(
            unit_of(b"/user.slice/user-65534.slice/user@65534.service/app.slice/nginx.service")
                .as_deref(),
            Some("nginx.service (user 65534)")
        );
        assert_eq!(
            unit_of(b"/user.slice/user-1000.slice/user@1000.service/init.scope").as_deref(),
            Some("init.scope (user 1000)")
        );
        assert_eq!(
            unit_of(b"/user.slice/user-1000.slice/user@1000.service").as_deref(),
            Some("user@1000.service"),
            "the manager itself is a system unit"
        );
        assert_eq!(unit_of(b"/"), None);
        let id = "0123456789abcdef".repeat(4);
        assert_eq!(
            container_of(format!("/system.slice/docker-{id}.scope").as_bytes()).as_deref(),
            Some("0123456789ab")
        );
        assert_eq!(
            container_of(format!("/kubepods/burstable/pod1/cri-containerd-{id}.scope").as_bytes())
                .as_deref(),
            Some("0123456789ab")
        );
        assert_eq!(
            container_of(format!("/docker/{id}").as_bytes()).as_deref(),
            Some("0123456789ab")
        );
        assert_eq!(container_of(b"/system.slice/nginx.service"), None);
    }

    #[test]
    fn finds_own_listener() {
        use std::os::unix::fs::MetadataExt;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&l);
        let ino = std::fs::metadata(format!("/proc/self/fd/{fd}"))
            .unwrap()
            .ino() as u32;
        let (m, _) = socket_owners(Path::new("/proc"), &HashSet::from([ino]));
        assert_eq!(m[&ino].pid, std::process::id() as i32);
    }
}
