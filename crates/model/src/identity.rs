//! Who a process belongs to, read from its cgroup path: its systemd unit and its container
//! (the id a runtime names it by). Pure functions of the path, so the recorder, the store and
//! every report agree; what the runtime's files say of a container is `Container`, looked up
//! by `nrec-collect` once per id and kept by the store.

/// Who a container is. Every field is optional but `id`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Container {
    /// The runtime's id: 64 hex digits, or `nspawn:NAME` / `lxc:NAME`.
    pub id: String,
    /// docker, podman, cri-o, containerd, nspawn, lxc (None: not found on disk).
    pub runtime: Option<String>,
    pub name: Option<String>,
    pub image: Option<String>,
    /// Kubernetes: the pod, its namespace, and the container's name in the pod spec.
    pub pod: Option<String>,
    pub pod_namespace: Option<String>,
    pub k8s_container: Option<String>,
}

/// The systemd unit a cgroup path belongs to: its last `*.service` / `*.scope` / `*.slice`
/// component (`/system.slice/nginx.service` → `nginx.service`). A unit of a user's service
/// manager (under `user@UID.service`) is named with its user — `nginx.service (user 1000)` —
/// so it is never taken for the system unit of the same name (in reports, alerts, exports).
pub fn unit_of(cgroup: &[u8]) -> Option<String> {
    let parts: Vec<&[u8]> = cgroup.split(|b| *b == b'/').collect();
    let at = parts
        .iter()
        .rposition(|c| c.ends_with(b".service") || c.ends_with(b".scope"))
        .or_else(|| parts.iter().rposition(|c| c.ends_with(b".slice")))?;
    let unit = String::from_utf8_lossy(parts[at]).into_owned();
    // the user manager's own service, or a unit below it
    let manager = parts[..at].iter().rev().find_map(|c| {
        let uid = c.strip_prefix(b"user@")?.strip_suffix(b".service")?;
        (!uid.is_empty() && uid.iter().all(u8::is_ascii_digit))
            .then(|| String::from_utf8_lossy(uid).into_owned())
    });
    Some(match manager {
        Some(uid) => format!("{unit} (user {uid})"),
        None => unit,
    })
}

/// The container in a cgroup path, as `process.container` holds it: the first 12 of the 64
/// hex digits docker, podman, containerd and CRI-O name it by (`docker-<id>.scope`,
/// `/docker/<id>`, `cri-containerd-<id>.scope`, `libpod-<id>`), or `nspawn:NAME`/`lxc:NAME`.
pub fn container_of(cgroup: &[u8]) -> Option<String> {
    id_of(cgroup).map(|id| short(&id))
}

/// The short id `process.container` holds for a full id.
pub fn short(id: &str) -> String {
    if id.len() == 64 {
        id[..12].to_string()
    } else {
        id.to_string()
    }
}

/// The full container id or the nspawn/LXC name in a cgroup path (v2 or v1's).
pub fn id_of(cgroup: &[u8]) -> Option<String> {
    for comp in cgroup.split(|b| *b == b'/').rev() {
        let c = comp.strip_suffix(b".scope").unwrap_or(comp);
        let tail = c.rsplit(|b| *b == b'-').next().unwrap_or(c);
        if tail.len() == 64 && tail.iter().all(u8::is_ascii_hexdigit) {
            return Some(String::from_utf8_lossy(tail).to_ascii_lowercase());
        }
    }
    let text = String::from_utf8_lossy(cgroup);
    let comps: Vec<&str> = text.split('/').collect();
    for (i, c) in comps.iter().enumerate().rev() {
        if let Some(n) = c
            .strip_prefix("machine-")
            .and_then(|n| n.strip_suffix(".scope"))
        {
            return Some(format!("nspawn:{}", unescape_unit(n)));
        }
        if let Some(n) = c
            .strip_prefix("systemd-nspawn@")
            .and_then(|n| n.strip_suffix(".service"))
        {
            return Some(format!("nspawn:{}", unescape_unit(n)));
        }
        if let Some(n) = c.strip_prefix("lxc.payload.") {
            return Some(format!("lxc:{n}"));
        }
        if *c == "lxc" {
            if let Some(n) = comps.get(i + 1).filter(|n| !n.is_empty()) {
                return Some(format!("lxc:{n}"));
            }
        }
    }
    None
}

/// systemd's unit-name escaping (`\x2d` for '-').
fn unescape_unit(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
            if let Ok(v) = u8::from_str_radix(&s[i + 2..i + 4], 16) {
                out.push(char::from(v));
                i += 4;
                continue;
            }
        }
        out.push(char::from(b[i]));
        i += 1;
    }
    out
}
