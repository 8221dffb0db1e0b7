//! Loading, pinning and reading the eBPF program (feature `ebpf`), with libbpf-rs.

use super::{
    BPFFS, KEY_SIZE, Key, LAYOUT, OWNER_MAX, Other, Pins, Probe, Reading, State, VALUE_SIZE, Value,
    derived_kind, orphan_reason,
};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{ErrorKind, MapCore, MapFlags, MapHandle};
use std::mem::MaybeUninit;
use std::path::Path;
use std::sync::Mutex;

#[allow(
    clippy::all,
    clippy::pedantic,
    dead_code,
    unused_imports,
    unsafe_op_in_unsafe_fn
)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/nrec.skel.rs"));
}
use skel::NrecSkelBuilder;

const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
const FILES: [&str; 6] = ["send", "recv", "bytes", "state", "cgnames", "owner"];
/// The state map's slots written by userspace.
const GENERATION: u32 = 2;
const LAYOUT_SLOT: u32 = 3;
const LAST_READ: u32 = 4;

/// libbpf's own messages, kept for the error we report instead of printed as they come.
static LOG: Mutex<String> = Mutex::new(String::new());

fn quiet_libbpf() {
    fn keep(_lvl: libbpf_rs::PrintLevel, msg: String) {
        if let Ok(mut l) = LOG.lock() {
            if l.len() < 4096 {
                l.push_str(&msg);
            }
        }
    }
    libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Warn, keep)));
}

fn last_log() -> String {
    let mut l = LOG
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default();
    l = l.lines().last().unwrap_or("").trim().to_string();
    if l.is_empty() {
        l
    } else {
        format!(" (libbpf: {l})")
    }
}

fn explain(what: &str, e: &libbpf_rs::Error) -> String {
    let hint = match e.kind() {
        ErrorKind::PermissionDenied => {
            "; eBPF needs root or CAP_BPF with CAP_PERFMON (and CAP_SYS_ADMIN to mount bpffs)"
        }
        ErrorKind::NotFound if what.starts_with("attaching") => {
            "; the sock_send_length/sock_recv_length tracepoints need Linux 6.3 or later"
        }
        _ => "",
    };
    format!("{what}: {e}{hint}{}", last_log())
}

fn statfs_type(p: &Path) -> Option<i64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs fills a caller-owned struct from a NUL-terminated path.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statfs(c.as_ptr(), &mut s) } == 0).then_some(s.f_type as i64)
}

/// Makes sure the pin directory's parent is a bpf filesystem (mounting /sys/fs/bpf if it is
/// the usual place and nothing is mounted there yet), and creates the directory. Ok(true)
/// when this call created it.
fn ensure_bpffs(dir: &Path) -> Result<bool, String> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    if statfs_type(parent) != Some(BPF_FS_MAGIC) {
        if parent != Path::new("/sys/fs/bpf") {
            return Err(format!(
                "{}: not on a bpf filesystem (NREC_BPF_DIR must be under a bpffs mount)",
                dir.display()
            ));
        }
        // SAFETY: constant NUL-terminated strings.
        let rc = unsafe {
            libc::mount(
                c"bpf".as_ptr(),
                c"/sys/fs/bpf".as_ptr(),
                c"bpf".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(format!(
                "mounting the bpf filesystem on /sys/fs/bpf failed: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(format!("creating {}: {e}", dir.display())),
    }
}

/// A pin directory nrec may use: a real directory (not a link) owned by root or by this
/// user, that no other user may write. On a bpffs whose root others may write (mode 1777), a
/// directory another user made first — to hold its lock, or to read or empty the counting —
/// is refused by name, never adopted.
fn trusted(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(m) = std::fs::symlink_metadata(dir) else {
        return Ok(()); // absent: made by this user when set up
    };
    let me = nrec_sys::euid();
    let owner = || {
        nrec_sys::user_name(m.uid())
            .map(|n| nrec_model::names::escape_bytes(&n))
            .unwrap_or_else(|| format!("uid {}", m.uid()))
    };
    let why = if !m.file_type().is_dir() {
        Some("not a directory".to_string())
    } else if m.uid() != 0 && m.uid() != me {
        Some(format!("owned by {}, neither root nor this user", owner()))
    } else if m.permissions().mode() & 0o022 != 0 {
        Some(format!(
            "writable by other users (mode {:o})",
            m.permissions().mode() & 0o7777
        ))
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(format!(
            "{}: {why}; its eBPF state is not used (another user may have made it: remove it as root)",
            dir.display()
        )),
    }
}

/// An exclusive flock on the pin directory: two recorders never load twice.
struct DirLock(#[allow(dead_code)] std::fs::File);

fn lock_dir(dir: &Path) -> Result<DirLock, String> {
    trusted(dir)?;
    let f = std::fs::File::open(dir).map_err(|e| format!("opening {}: {e}", dir.display()))?;
    if let Err(e) = nrec_sys::flock_exclusive(&f, true) {
        return Err(format!("locking {}: {e}", dir.display()));
    }
    Ok(DirLock(f))
}

fn state_value(state: &MapHandle, i: u32) -> Option<u64> {
    let v = state.lookup(&i.to_ne_bytes(), MapFlags::ANY).ok()??;
    Some(u64::from_ne_bytes(v.get(..8)?.try_into().ok()?))
}

/// A pinned state's maps.
struct Open {
    bytes: MapHandle,
    state: MapHandle,
    owner: MapHandle,
}

impl Open {
    /// The owner's path as the owner map holds it (empty: a session's, or unreadable).
    fn owner(&self) -> Vec<u8> {
        let Ok(Some(v)) = self.owner.lookup(&0u32.to_ne_bytes(), MapFlags::ANY) else {
            return Vec::new();
        };
        let len = v
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_ne_bytes) as usize;
        v.get(8..8 + len.min(OWNER_MAX))
            .unwrap_or_default()
            .to_vec()
    }
}

/// The pinned maps when the pinned state is complete and of this layout.
fn open_pinned(dir: &Path) -> Option<Open> {
    if trusted(dir).is_err() || !FILES.iter().all(|f| dir.join(f).exists()) {
        return None;
    }
    let state = MapHandle::from_pinned_path(dir.join("state")).ok()?;
    let bytes = MapHandle::from_pinned_path(dir.join("bytes")).ok()?;
    let owner = MapHandle::from_pinned_path(dir.join("owner")).ok()?;
    let ok = state_value(&state, LAYOUT_SLOT) == Some(LAYOUT)
        && bytes.key_size() as usize == KEY_SIZE
        && bytes.value_size() as usize == VALUE_SIZE
        && owner.value_size() as usize == 8 + OWNER_MAX;
    ok.then_some(Open {
        bytes,
        state,
        owner,
    })
}

fn unpin_all(dir: &Path) -> bool {
    let mut any = false;
    // links first: the programs detach when their last link goes
    for f in FILES {
        any |= std::fs::remove_file(dir.join(f)).is_ok();
    }
    any
}

impl Pins {
    /// Loads the programs and pins them in this state's directory unless a complete pinned
    /// state is there, naming this state's owner. Ok(true) when this call loaded them.
    pub fn setup(&self) -> Result<bool, String> {
        quiet_libbpf();
        let created = ensure_bpffs(self.dir())?;
        let res = self.setup_in();
        if res.is_err() && created {
            let _ = std::fs::remove_dir(self.dir()); // leave nothing behind that we made (empty only)
        }
        res
    }

    fn setup_in(&self) -> Result<bool, String> {
        let dir = self.dir().to_path_buf();
        let _lock = lock_dir(&dir)?;
        if open_pinned(&dir).is_some() {
            return Ok(false);
        }
        unpin_all(&dir); // a partial or older state
        let mut obj = MaybeUninit::uninit();
        let mut open = NrecSkelBuilder::default()
            .open(&mut obj)
            .map_err(|e| explain("opening the eBPF object", &e))?;
        if let Some(n) = super::max_entries()? {
            open.maps
                .nrec_bytes
                .set_max_entries(n)
                .map_err(|e| explain("sizing the byte map", &e))?;
        }
        let mut skel = open
            .load()
            .map_err(|e| explain("loading the eBPF program", &e))?;
        let generation = nrec_sys::boottime_ns();
        for (i, v) in [(GENERATION, generation), (LAYOUT_SLOT, LAYOUT)] {
            skel.maps
                .nrec_state
                .update(&i.to_ne_bytes(), &v.to_ne_bytes(), MapFlags::ANY)
                .map_err(|e| explain("initialising the eBPF state map", &e))?;
        }
        let mut owner = vec![0u8; 8 + OWNER_MAX];
        let who = self.owner();
        owner[..8].copy_from_slice(&(who.len() as u64).to_ne_bytes());
        owner[8..8 + who.len()].copy_from_slice(who);
        skel.maps
            .nrec_owner
            .update(&0u32.to_ne_bytes(), &owner, MapFlags::ANY)
            .map_err(|e| explain("naming the state's database", &e))?;
        let res = (|| {
            for (map, name, what) in [
                (&mut skel.maps.nrec_bytes, "bytes", "pinning the byte map"),
                (&mut skel.maps.nrec_state, "state", "pinning the state map"),
                (
                    &mut skel.maps.nrec_cgnames,
                    "cgnames",
                    "pinning the cgroup-name map",
                ),
                (&mut skel.maps.nrec_owner, "owner", "pinning the owner map"),
            ] {
                map.pin(dir.join(name)).map_err(|e| explain(what, &e))?;
            }
            let mut send = skel
                .progs
                .nrec_send
                .attach()
                .map_err(|e| explain("attaching to sock_send_length", &e))?;
            let mut recv = skel
                .progs
                .nrec_recv
                .attach()
                .map_err(|e| explain("attaching to sock_recv_length", &e))?;
            send.pin(dir.join("send"))
                .map_err(|e| explain("pinning the send link", &e))?;
            recv.pin(dir.join("recv"))
                .map_err(|e| explain("pinning the receive link", &e))?;
            Ok(())
        })();
        if res.is_err() {
            unpin_all(&dir);
            let _ = std::fs::remove_dir(&dir);
        }
        res.map(|()| true)
    }

    /// Sets up (when `setup_if_needed`) and reads the pinned maps. The owner's reading is
    /// noted in the state (when it last read: a state nobody reads is an orphan); another's
    /// says whose the state is.
    pub fn collect(&self, setup_if_needed: bool) -> Probe {
        if !may_use_bpf() {
            // Without CAP_BPF (or root) every bpf() call fails: do not try on each run.
            return Probe::Off("needs root or CAP_BPF with CAP_PERFMON".into());
        }
        if let Err(why) = trusted(self.dir()) {
            return Probe::Refused(why);
        }
        if setup_if_needed {
            if let Err(e) = self.setup() {
                return Probe::Off(e);
            }
        }
        let Some(open) = open_pinned(self.dir()) else {
            return Probe::Off(format!(
                "not set up ({} holds no nrec maps)",
                self.dir().display()
            ));
        };
        match read_maps(&open) {
            Ok(mut r) => {
                let owner = open.owner();
                if owner == self.owner() {
                    let now = nrec_sys::boottime_ns().to_ne_bytes();
                    let _ = open
                        .state
                        .update(&LAST_READ.to_ne_bytes(), &now, MapFlags::ANY);
                } else {
                    r.foreign = Some(owner_text(&owner));
                }
                Probe::Active(r)
            }
            Err(e) => Probe::Off(e),
        }
    }

    /// Deletes the entries of processes that exited, each only if it still holds exactly
    /// the counts that were stored (`stored`): a process that sent more between the reading
    /// and its exit keeps its entry, and the next record stores the rest. The process is gone
    /// when this runs, so its counts can no longer grow between the check and the delete.
    /// Only the state's owner deletes: in another database's state this deletes nothing
    /// (Ok(0)) — that database may not have read them yet.
    pub fn forget(&self, stored: &[(Key, Value)]) -> Result<usize, String> {
        if stored.is_empty() {
            return Ok(0);
        }
        let Some(open) = open_pinned(self.dir()) else {
            return Ok(0);
        };
        if open.owner() != self.owner() {
            return Ok(0);
        }
        let mut n = 0;
        let mut val = [0u8; VALUE_SIZE];
        for (k, v) in stored {
            let key = k.to_bytes();
            let same = match open.bytes.lookup_into(&key, &mut val, MapFlags::ANY) {
                Ok(true) => Value::from_bytes(&val).is_some_and(|now| now.bytes == v.bytes),
                Ok(false) => false, // already gone
                Err(e) => return Err(explain("reading the byte map", &e)),
            };
            if same && open.bytes.delete(&key).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// The name the kernel recorded for cgroup `id` when a process of it first moved bytes
    /// (None: not set up, or evicted from the LRU map).
    pub fn cgroup_name(&self, id: u64) -> Option<Vec<u8>> {
        let map = MapHandle::from_pinned_path(self.dir().join("cgnames")).ok()?;
        let v = map.lookup(&id.to_ne_bytes(), MapFlags::ANY).ok()??;
        Some(super::cgroup_name_of(&v).to_vec()).filter(|n| !n.is_empty())
    }

    /// The pinned state for `nrec status`: None when not set up; else a reading, the map's
    /// capacity and whose it is.
    pub fn status(&self) -> Result<Option<State>, String> {
        quiet_libbpf();
        let dir = self.dir();
        if !dir.exists() {
            return Ok(None);
        }
        if let Err(e) = MapHandle::from_pinned_path(dir.join("state")) {
            if dir.join("state").exists() {
                return Err(explain("reading the pinned maps", &e));
            }
        }
        match open_pinned(dir) {
            Some(open) => {
                let capacity = open.bytes.max_entries() as usize;
                let owner = open.owner();
                let foreign = (owner != self.owner()).then(|| owner_text(&owner));
                read_maps(&open).map(|reading| {
                    Some(State {
                        reading,
                        capacity,
                        foreign,
                    })
                })
            }
            None => Ok(None),
        }
    }

    /// The other states nrec derived under /sys/fs/bpf (other databases', sessions'), with
    /// their owners and whether the next `record` removes them.
    pub fn others(&self) -> Vec<Other> {
        let Ok(rd) = std::fs::read_dir(BPFFS) else {
            return Vec::new();
        };
        let now = nrec_sys::boottime_ns();
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(kind) = name.to_str().and_then(derived_kind) else {
                continue;
            };
            let dir = e.path();
            if dir == self.dir() {
                continue;
            }
            let (owner, last) = match open_pinned(&dir) {
                Some(open) => (open.owner(), state_value(&open.state, LAST_READ)),
                None => (Vec::new(), None),
            };
            let idle_ns = last.filter(|t| *t > 0).map(|t| now.saturating_sub(t));
            out.push(Other {
                orphan: orphan_reason(&kind, &owner, idle_ns),
                owner: (!owner.is_empty()).then(|| owner_text(&owner)),
                idle_s: idle_ns.map(|n| n / 1_000_000_000),
                dir,
            });
        }
        out.sort_by(|a, b| a.dir.cmp(&b.dir));
        out
    }

    /// Removes the orphaned states beside this one (see [`Pins::others`]): (directory, why)
    /// of each removed. A state being set up right now is locked, and skipped.
    pub fn sweep(&self) -> Vec<(std::path::PathBuf, String)> {
        let mut gone = Vec::new();
        for o in self.others() {
            let Some(why) = o.orphan else { continue };
            let Ok(f) = std::fs::File::open(&o.dir) else {
                continue;
            };
            if nrec_sys::flock_exclusive(&f, false).is_err() {
                continue;
            }
            unpin_all(&o.dir);
            if std::fs::remove_dir(&o.dir).is_ok() {
                gone.push((o.dir, why));
            }
        }
        gone
    }

    /// Detaches the programs and removes the pinned maps. Ok(true) when something was
    /// pinned.
    pub fn remove(&self) -> Result<bool, String> {
        let dir = self.dir();
        if !dir.exists() {
            return Ok(false);
        }
        let any = {
            let _lock = lock_dir(dir)?;
            unpin_all(dir)
        };
        match std::fs::remove_dir(dir) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(any),
            Err(e) => Err(format!("removing {}: {e}", dir.display())),
        }
    }
}

/// An owner for messages: its path (lossy), or what an empty one means.
fn owner_text(owner: &[u8]) -> String {
    if owner.is_empty() {
        "an nrec top session".into()
    } else {
        String::from_utf8_lossy(owner).into_owned()
    }
}

fn read_maps(open: &Open) -> Result<Reading, String> {
    let state = &open.state;
    Ok(Reading {
        generation: state_value(state, GENERATION).unwrap_or(0),
        lost_events: state_value(state, 0).unwrap_or(0),
        lost_bytes: state_value(state, 1).unwrap_or(0),
        entries: read_entries(&open.bytes)?,
        foreign: None,
    })
}

/// Every entry of the byte map, read in batches (`bpf_map_lookup_batch`: a few system calls
/// for thousands of entries, where a key walk takes two per entry — 7 µs per entry measured
/// with 5 000 entries). Any error is returned: a short reading must never pass for a whole
/// one (the missing processes' totals would count again at the next record).
fn read_entries(bytes: &MapHandle) -> Result<Vec<(Key, Value)>, String> {
    use std::os::fd::{AsFd, AsRawFd};
    let fd = bytes.as_fd().as_raw_fd();
    // the struct has padding fields on some platforms (not this one): keep the default fill
    #[allow(clippy::needless_update)]
    let opts = libbpf_sys::bpf_map_batch_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_map_batch_opts>() as _,
        elem_flags: 0,
        flags: 0,
        ..Default::default()
    };
    let mut batch: usize = 1024;
    let mut keys = vec![0u8; KEY_SIZE * batch];
    let mut vals = vec![0u8; VALUE_SIZE * batch];
    // a hash map's batch position is a bucket index; room for any token the kernel writes
    let mut pos = [0u8; 16];
    let mut next = [0u8; 16];
    let mut started = false;
    let mut out = Vec::with_capacity(
        usize::try_from(bytes.max_entries())
            .unwrap_or(0)
            .min(1 << 16),
    );
    loop {
        let mut count = u32::try_from(batch).unwrap_or(u32::MAX);
        let in_batch = if started {
            pos.as_mut_ptr().cast()
        } else {
            std::ptr::null_mut()
        };
        // SAFETY: the buffers hold `count` keys and values of the map's sizes (checked when
        // the map was opened) and 16 bytes for the position tokens; opts is initialised.
        let ret = unsafe {
            libbpf_sys::bpf_map_lookup_batch(
                fd,
                in_batch,
                next.as_mut_ptr().cast(),
                keys.as_mut_ptr().cast(),
                vals.as_mut_ptr().cast(),
                &mut count,
                &opts,
            )
        };
        let errno = if ret < 0 { -ret } else { 0 };
        match errno {
            0 | libc::ENOENT => {}
            libc::EINTR => continue,
            // a bucket holds more entries than the batch: a larger batch, same position
            libc::ENOSPC if batch < 1 << 20 => {
                batch *= 4;
                keys.resize(KEY_SIZE * batch, 0);
                vals.resize(VALUE_SIZE * batch, 0);
                continue;
            }
            e => {
                return Err(format!(
                    "reading the byte map: {}",
                    std::io::Error::from_raw_os_error(e)
                ));
            }
        }
        let n = (count as usize).min(batch);
        if errno == 0 && n == 0 {
            return Ok(out); // nothing more (the kernel says ENOENT; never loop on an empty batch)
        }
        for i in 0..n {
            let (k, v) = (
                &keys[i * KEY_SIZE..(i + 1) * KEY_SIZE],
                &vals[i * VALUE_SIZE..(i + 1) * VALUE_SIZE],
            );
            if let (Some(k), Some(v)) = (Key::from_bytes(k), Value::from_bytes(v)) {
                out.push((k, v));
            }
        }
        if errno == libc::ENOENT {
            return Ok(out); // the last batch
        }
        pos = next;
        started = true;
    }
}

/// Whether this process has CAP_BPF or CAP_SYS_ADMIN in its effective set.
fn may_use_bpf() -> bool {
    // unreadable: let the kernel decide
    let eff = nrec_sys::effective_caps().unwrap_or(u64::MAX);
    eff & (1 << 39 | 1 << 21) != 0
}
