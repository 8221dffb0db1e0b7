//! Loading, pinning and reading the eBPF program (feature `ebpf`), with libbpf-rs.

use super::{
    BPFFS, CONN_KEY_SIZE, CONN_VALUE_SIZE, ConnEntry, ConnKey, Conns, KEY_SIZE, Key, LAYOUT,
    OWNER_MAX, Other, Pins, Probe, Reading, State, VALUE_SIZE, Value, conn_value_of, derived_kind,
    orphan_reason,
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
const FILES: [&str; 8] = [
    "send", "recv", "bytes", "state", "cgnames", "owner", "conns", "peers",
];
/// The cgroup hooks' links (UDP peers), pinned where a unified cgroup hierarchy is mounted
/// (the state's [`CGROUP_HOOKS`] slot says whether they were).
const CGROUP_LINKS: [&str; 4] = ["send4", "send6", "recv4", "recv6"];
/// The state map's slots written by userspace.
const GENERATION: u32 = 2;
const LAYOUT_SLOT: u32 = 3;
const LAST_READ: u32 = 4;
/// The connection map's current cut; the events and bytes lost to it when full.
const CUT: u32 = 5;
const CONN_LOST: u32 = 6;
/// 1 when the cgroup hooks that note UDP peers are attached.
const CGROUP_HOOKS: u32 = 8;
/// The events (and bytes, the next slot) lost to a full connection map in a cut: at this
/// slot plus 2 × the cut's parity.
const CUT_LOST: u32 = 9;

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
    conns: MapHandle,
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
    let conns = MapHandle::from_pinned_path(dir.join("conns")).ok()?;
    let ok = state_value(&state, LAYOUT_SLOT) == Some(LAYOUT)
        && bytes.key_size() as usize == KEY_SIZE
        && bytes.value_size() as usize == VALUE_SIZE
        && conns.key_size() as usize == CONN_KEY_SIZE
        && conns.value_size() as usize == CONN_VALUE_SIZE
        && owner.value_size() as usize == 8 + OWNER_MAX;
    ok.then_some(Open {
        bytes,
        state,
        owner,
        conns,
    })
}

fn unpin_all(dir: &Path) -> bool {
    let mut any = false;
    // links first: the programs detach when their last link goes
    for f in CGROUP_LINKS.iter().chain(&FILES) {
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
        if let Some(n) = super::max_entries("NREC_BPF_MAX_ENTRIES")? {
            open.maps
                .nrec_bytes
                .set_max_entries(n)
                .map_err(|e| explain("sizing the byte map", &e))?;
        }
        if let Some(n) = super::max_entries("NREC_BPF_CONN_ENTRIES")? {
            open.maps
                .nrec_conns
                .set_max_entries(n)
                .map_err(|e| explain("sizing the connection map", &e))?;
        }
        let mut skel = open
            .load()
            .map_err(|e| explain("loading the eBPF program", &e))?;
        let generation = nrec_sys::boottime_ns();
        for (i, v) in [(GENERATION, generation), (LAYOUT_SLOT, LAYOUT), (CUT, 1)] {
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
                (
                    &mut skel.maps.nrec_conns,
                    "conns",
                    "pinning the connection map",
                ),
                (
                    &mut skel.maps.nrec_peers,
                    "peers",
                    "pinning the peer-note map",
                ),
            ] {
                map.pin(dir.join(name)).map_err(|e| explain(what, &e))?;
            }
            // UDP's peers: where an unconnected send goes and where a received datagram came
            // from, noted by the cgroup hooks of the unified hierarchy's root (every process
            // is under it). fentry/fexit on udp_sendmsg and skb_consume_udp would see them
            // too, but need BPF trampolines, which a kernel under lockdown refuses; these
            // hooks are plain cgroup programs. Without a unified hierarchy the peers of
            // unconnected sockets are not known (their bytes keep their ports).
            // Hooks that cannot be attached (no unified hierarchy, a cgroup root this process
            // may not attach to) cost the peers of unconnected UDP sockets, never the rest of
            // the counting: `status` says which.
            let hooked = cgroup2_root().is_some_and(|root| {
                use std::os::fd::AsRawFd;
                let Ok(cg) = std::fs::File::open(&root) else {
                    return false;
                };
                let all = [
                    (&skel.progs.nrec_send4, "send4"),
                    (&skel.progs.nrec_send6, "send6"),
                    (&skel.progs.nrec_recv4, "recv4"),
                    (&skel.progs.nrec_recv6, "recv6"),
                ]
                .into_iter()
                .all(|(prog, name)| {
                    prog.attach_cgroup(cg.as_raw_fd())
                        .and_then(|mut link| link.pin(dir.join(name)))
                        .is_ok()
                });
                if !all {
                    for name in CGROUP_LINKS {
                        let _ = std::fs::remove_file(dir.join(name));
                    }
                }
                all
            });
            skel.maps
                .nrec_state
                .update(
                    &CGROUP_HOOKS.to_ne_bytes(),
                    &u64::from(hooked).to_ne_bytes(),
                    MapFlags::ANY,
                )
                .map_err(|e| explain("noting the cgroup hooks", &e))?;
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
    /// says whose the state is. `cut`: the owner's recorder also ends the connection map's
    /// current cut and reads the finished ones ([`Reading::conns`]; deleted by
    /// [`Pins::forget_conns`] once the sample holding them is committed).
    pub fn collect(&self, setup_if_needed: bool, cut: bool) -> Probe {
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
        let owner = open.owner();
        // the cut first: the processes' totals read after it hold every byte it holds. A cut
        // that cannot be ended (no grace period to wait for: membarrier refused, as on a
        // nohz_full kernel) is not read — this sample's ports and hosts are sock_diag's, its
        // processes still eBPF's
        let cut = (cut && owner == self.owner())
            .then(|| end_cut(&open).ok())
            .flatten();
        match read_maps(&open) {
            Ok(mut r) => {
                if let Some(c) = cut {
                    match read_conns(&open, c) {
                        Ok(c) => r.conns = Some(c),
                        Err(e) => return Probe::Off(e),
                    }
                }
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

    /// Deletes the connection entries of a reading (finished cuts: nothing adds to them any
    /// more) once the sample holding them is committed. Only the owner does (`collect` reads
    /// them only for it). A sample that failed to commit leaves them: the next cut reads them
    /// with its own.
    pub fn forget_conns(&self, conns: &Conns) -> Result<usize, String> {
        if conns.entries.is_empty() {
            return Ok(0);
        }
        let Some(open) = open_pinned(self.dir()) else {
            return Ok(0);
        };
        if open.owner() != self.owner() {
            return Ok(0);
        }
        let mut keys = Vec::with_capacity(conns.entries.len() * CONN_KEY_SIZE);
        for (k, _) in &conns.entries {
            keys.extend_from_slice(&k.to_bytes());
        }
        delete_batch(&open.conns, &keys, CONN_KEY_SIZE)
    }

    /// Every connection entry as it stands, of every cut (`nrec top`'s live views: an
    /// entry's growth between two reads is what its connection moved; read only — the
    /// recorder's cuts and deletes go on as without a reader). `cut`: the state's owner (a
    /// private session's own maps) first ends the current cut, so the entries of earlier
    /// ones read now are final and [`Pins::forget_conns`] may delete them after they are
    /// counted. [`Conns::cut`] is the cut counting from now on; the losses are those since
    /// the map was created.
    pub fn live_conns(&self, cut: bool) -> Result<Conns, String> {
        let open = open_pinned(self.dir())
            .ok_or_else(|| format!("not set up ({} holds no nrec maps)", self.dir().display()))?;
        let now = if cut && open.owner() == self.owner() {
            end_cut(&open)?
        } else {
            state_value(&open.state, CUT).unwrap_or(0) as u32
        };
        Ok(Conns {
            cut: now,
            entries: conn_entries(&open, |_| true)?,
            lost_events: state_value(&open.state, CONN_LOST).unwrap_or(0),
            lost_bytes: state_value(&open.state, CONN_LOST + 1).unwrap_or(0),
        })
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
                let mut conn_entries = 0;
                read_batches(
                    &open.conns,
                    CONN_KEY_SIZE,
                    CONN_VALUE_SIZE,
                    "connection",
                    |_, _| conn_entries += 1,
                )?;
                read_maps(&open).map(|reading| {
                    Some(State {
                        reading,
                        capacity,
                        foreign,
                        conn_entries,
                        conn_capacity: open.conns.max_entries() as usize,
                        conn_lost_events: state_value(&open.state, CONN_LOST).unwrap_or(0),
                        conn_lost_bytes: state_value(&open.state, CONN_LOST + 1).unwrap_or(0),
                        udp_peers: state_value(&open.state, CGROUP_HOOKS) == Some(1),
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

/// The root of the unified cgroup hierarchy (the first cgroup2 mount whose root is the
/// hierarchy's), from /proc/self/mountinfo: `/sys/fs/cgroup` on most systems, its `unified`
/// directory on hybrid ones.
fn cgroup2_root() -> Option<std::path::PathBuf> {
    let info = std::fs::read("/proc/self/mountinfo").ok()?;
    info.split(|c| *c == b'\n').find_map(|line| {
        let f: Vec<&[u8]> = line.split(|c| *c == b' ').collect();
        let sep = f.iter().position(|x| *x == b"-")?;
        let (root, point, fstype) = (f.get(3)?, f.get(4)?, f.get(sep + 1)?);
        (*fstype == b"cgroup2" && *root == b"/").then(|| unescape_mount(point))
    })
}

/// A mountinfo path: spaces, tabs, newlines and backslashes are written as octal escapes.
fn unescape_mount(b: &[u8]) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|o| o.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(o)) => {
                out.push(o.iter().fold(0u8, |v, c| v.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    std::ffi::OsString::from_vec(out).into()
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
    let mut entries = Vec::with_capacity(
        usize::try_from(open.bytes.max_entries())
            .unwrap_or(0)
            .min(1 << 16),
    );
    read_batches(&open.bytes, KEY_SIZE, VALUE_SIZE, "byte", |k, v| {
        if let (Some(k), Some(v)) = (Key::from_bytes(k), Value::from_bytes(v)) {
            entries.push((k, v));
        }
    })?;
    Ok(Reading {
        generation: state_value(state, GENERATION).unwrap_or(0),
        lost_events: state_value(state, 0).unwrap_or(0),
        lost_bytes: state_value(state, 1).unwrap_or(0),
        entries,
        foreign: None,
        conns: None,
    })
}

/// Ends the connection map's current cut: the cut counting from now is the next one, and
/// once this returns no program still adds to an earlier one. Each program reads the cut and
/// adds its bytes inside one RCU read-side section (tracing programs run in one), so an RCU
/// grace period after the switch — `membarrier(MEMBARRIER_CMD_GLOBAL)` waits for one — leaves
/// none still adding to the old cut. Returns the new cut.
fn end_cut(open: &Open) -> Result<u32, String> {
    let now = state_value(&open.state, CUT).unwrap_or(0);
    let next = (now as u32).wrapping_add(1);
    open.state
        .update(
            &CUT.to_ne_bytes(),
            &u64::from(next).to_ne_bytes(),
            MapFlags::ANY,
        )
        .map_err(|e| explain("advancing the connection map's cut", &e))?;
    nrec_sys::rcu_grace_period()
        .map_err(|e| format!("waiting for the connection map's cut (membarrier): {e}"))?;
    Ok(next)
}

/// Every connection entry of cuts before `cut` (finished: nothing adds to them).
fn read_conns(open: &Open, cut: u32) -> Result<Conns, String> {
    let entries = conn_entries(open, |k| k.cut != cut)?;
    // the finished cut's losses, zeroed for the cut after next (nothing adds to them now)
    let slot = CUT_LOST + 2 * (cut.wrapping_sub(1) & 1);
    let mut lost = [0u64; 2];
    for (i, l) in lost.iter_mut().enumerate() {
        let k = slot + i as u32;
        *l = state_value(&open.state, k).unwrap_or(0);
        if *l > 0 {
            open.state
                .update(&k.to_ne_bytes(), &0u64.to_ne_bytes(), MapFlags::ANY)
                .map_err(|e| explain("resetting the cut's losses", &e))?;
        }
    }
    Ok(Conns {
        cut,
        entries,
        lost_events: lost[0],
        lost_bytes: lost[1],
    })
}

/// The connection map's entries that `keep` keeps.
fn conn_entries(open: &Open, keep: impl Fn(&ConnKey) -> bool) -> Result<Vec<ConnEntry>, String> {
    // room for a full map at once (only the pages written are touched): no copy as it grows
    let mut entries = Vec::with_capacity(open.conns.max_entries().min(1 << 20) as usize);
    read_batches(
        &open.conns,
        CONN_KEY_SIZE,
        CONN_VALUE_SIZE,
        "connection",
        |k, v| {
            if let (Some(k), Some(v)) = (ConnKey::from_bytes(k), conn_value_of(v)) {
                if keep(&k) {
                    entries.push((k, v));
                }
            }
        },
    )?;
    Ok(entries)
}

/// The options of a batch call: none but the struct's size.
fn batch_opts() -> libbpf_sys::bpf_map_batch_opts {
    // the struct has padding fields on some platforms (not this one): keep the default fill
    #[allow(clippy::needless_update)]
    libbpf_sys::bpf_map_batch_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_map_batch_opts>() as _,
        elem_flags: 0,
        flags: 0,
        ..Default::default()
    }
}

/// Deletes `keys` (each `key_size` bytes) from `map` in batches; the number deleted. A key
/// already gone is not an error.
fn delete_batch(map: &MapHandle, keys: &[u8], key_size: usize) -> Result<usize, String> {
    use std::os::fd::{AsFd, AsRawFd};
    let fd = map.as_fd().as_raw_fd();
    let opts = batch_opts();
    let mut n = 0;
    for chunk in keys.chunks(key_size * 4096) {
        let mut count = u32::try_from(chunk.len() / key_size).unwrap_or(0);
        // SAFETY: `chunk` holds `count` keys of the map's key size; opts is initialised.
        let ret = unsafe {
            libbpf_sys::bpf_map_delete_batch(fd, chunk.as_ptr().cast(), &mut count, &opts)
        };
        n += count as usize;
        if ret < 0 && -ret != libc::ENOENT {
            return Err(format!(
                "deleting read connection entries: {}",
                std::io::Error::from_raw_os_error(-ret)
            ));
        }
        if ret < 0 {
            // a key was gone: delete the rest one by one (the batch stops at the first)
            for k in chunk.chunks(key_size).skip(count as usize + 1) {
                if map.delete(k).is_ok() {
                    n += 1;
                }
            }
        }
    }
    Ok(n)
}

/// Every entry of a hash map, read in batches (`bpf_map_lookup_batch`: a few system calls
/// for thousands of entries, where a key walk takes two per entry — 7 µs per entry measured
/// with 5 000 entries), each handed to `each` as (key, value) bytes. Any error is returned: a
/// short reading must never pass for a whole one (the missing processes' totals would count
/// again at the next record).
fn read_batches(
    map: &MapHandle,
    key_size: usize,
    value_size: usize,
    what: &str,
    mut each: impl FnMut(&[u8], &[u8]),
) -> Result<(), String> {
    use std::os::fd::{AsFd, AsRawFd};
    let fd = map.as_fd().as_raw_fd();
    let opts = batch_opts();
    let mut batch: usize = 1024;
    let mut keys = vec![0u8; key_size * batch];
    let mut vals = vec![0u8; value_size * batch];
    // a hash map's batch position is a bucket index; room for any token the kernel writes
    let mut pos = [0u8; 16];
    let mut next = [0u8; 16];
    let mut started = false;
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
                keys.resize(key_size * batch, 0);
                vals.resize(value_size * batch, 0);
                continue;
            }
            e => {
                return Err(format!(
                    "reading the {what} map: {}",
                    std::io::Error::from_raw_os_error(e)
                ));
            }
        }
        let n = (count as usize).min(batch);
        if errno == 0 && n == 0 {
            return Ok(()); // nothing more (the kernel says ENOENT; never loop on an empty batch)
        }
        for i in 0..n {
            each(
                &keys[i * key_size..(i + 1) * key_size],
                &vals[i * value_size..(i + 1) * value_size],
            );
        }
        if errno == libc::ENOENT {
            return Ok(()); // the last batch
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
