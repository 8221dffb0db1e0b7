//! Containers by name (issue 17): who a container is, from its runtime's own metadata on
//! disk — read once per container id (the store keeps what was found, `store::containers`),
//! never a runtime call per process per sample, and never more than a few bounded file reads.
//!
//! Where each runtime keeps it (all paths under `NREC_CONTAINER_ROOT`, default `/`, so the
//! tests can point at fixtures of the real formats):
//! - **Podman and CRI-O** (containers/storage): `var/lib/containers/storage/overlay-containers/
//!   containers.json` (id, names, image, the image name in `metadata`) and, for CRI-O's
//!   Kubernetes labels, the OCI spec's annotations in `run/containers/storage/
//!   overlay-containers/ID/userdata/config.json`;
//! - **Docker**: `var/lib/docker/containers/ID/config.v2.json` (`Name`, `Config.Image`,
//!   `Config.Labels` with dockershim's Kubernetes labels);
//! - **containerd / CRI**: the task bundle's OCI spec, `run/containerd/io.containerd.runtime.v2.task/
//!   NAMESPACE/ID/config.json`, whose `io.kubernetes.cri.*` annotations name the container,
//!   its pod and the pod's namespace;
//! - **systemd-nspawn** and **LXC**: the name is in the cgroup path (`machine-NAME.scope`,
//!   `systemd-nspawn@NAME.service`; `lxc.payload.NAME`, `lxc/NAME`); the image is the
//!   machine's under `var/lib/machines`, and what `var/lib/lxc/NAME/config` says the
//!   container was made from (lxc-create's template parameters, else its rootfs).
//!
//! Metadata is untrusted input: files longer than a bound are not read, strings longer than
//! their limit are cut, and what cannot be parsed costs the name, nothing else.

use serde_json::Value;
use std::path::{Path, PathBuf};

pub use nrec_model::identity::Container;

/// Metadata files are read up to this size (containers.json lists every container).
const MAX_FILE: u64 = 16 << 20;
/// Names, images and labels are cut to this many bytes.
pub(crate) const MAX_FIELD: usize = 255;

fn root() -> PathBuf {
    std::env::var_os("NREC_CONTAINER_ROOT")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&read_bounded(path)?).ok()
}

/// A metadata file's bytes: a regular file of at most [`MAX_FILE`] (a longer one is not
/// read at all, never cut).
fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    nrec_sys::read_bounded(path, MAX_FILE).ok()
}

/// A string field, cut at `MAX_FIELD` bytes on a character boundary; control characters
/// are kept (output escapes them) but an empty string is no value.
fn field(v: Option<&Value>) -> Option<String> {
    let s = v?.as_str()?;
    if s.is_empty() {
        return None;
    }
    let mut end = s.len().min(MAX_FIELD);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Some(s[..end].to_string())
}

/// A machine name that can be a file name under a runtime's directory (no path of its own).
fn plain_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && !name.contains('/') && !name.starts_with('.')
}

/// A systemd-nspawn machine's image, where `machinectl` keeps them: the directory or raw
/// disk image `/var/lib/machines/NAME` (also /var/lib/container, its old place), as its path.
fn nspawn_image(root: &Path, name: &str) -> Option<String> {
    if !plain_name(name) {
        return None;
    }
    ["var/lib/machines", "var/lib/container"]
        .iter()
        .flat_map(|d| [format!("{d}/{name}"), format!("{d}/{name}.raw")])
        .find(|rel| root.join(rel).exists())
        .and_then(|rel| field(Some(&Value::from(format!("/{rel}")))))
}

/// An LXC container's image: what its config says it was made from — the template's
/// `lxc-create` comment (`# Template used to create this container: …/lxc-download`, with
/// the distribution, release and architecture it was asked for), else its root file system.
fn lxc_image(root: &Path, name: &str) -> Option<String> {
    if !plain_name(name) {
        return None;
    }
    let text = read_bounded(&root.join("var/lib/lxc").join(name).join("config"))?;
    let text = String::from_utf8_lossy(&text);
    let mut params = None;
    let mut rootfs = None;
    for line in text.lines().map(str::trim) {
        if let Some(p) = line.strip_prefix("# Parameters passed to the template:") {
            params = Some(p.trim().to_string());
        }
        if let Some((k, v)) = line.split_once('=') {
            if matches!(k.trim(), "lxc.rootfs.path" | "lxc.rootfs") {
                rootfs = Some(v.trim().to_string());
            }
        }
    }
    // lxc-download's parameters name the image: --dist debian --release bookworm --arch amd64
    let from_params = params.and_then(|p| {
        let w: Vec<&str> = p.split_whitespace().collect();
        let arg = |names: &[&str]| {
            w.windows(2)
                .find(|x| names.contains(&x[0]))
                .map(|x| x[1].to_string())
        };
        let dist = arg(&["--dist", "-d"])?;
        Some(match (arg(&["--release", "-r"]), arg(&["--arch", "-a"])) {
            (Some(r), Some(a)) => format!("{dist}:{r}:{a}"),
            (Some(r), None) => format!("{dist}:{r}"),
            _ => dist,
        })
    });
    field(Some(&Value::from(from_params.or(rootfs)?)))
}

pub use nrec_model::identity::id_of;

/// Resolves a container id from the runtimes' metadata. Always returns the id; the rest is
/// what was found.
pub fn resolve(id: &str) -> Container {
    resolve_in(&root(), id)
}

/// As [`resolve`], with the runtimes' files under `root`.
pub(crate) fn resolve_in(root: &Path, id: &str) -> Container {
    let mut c = Container {
        id: id.to_string(),
        ..Default::default()
    };
    if let Some(name) = id.strip_prefix("nspawn:") {
        c.runtime = Some("nspawn".into());
        c.name = field(Some(&Value::from(name)));
        c.image = nspawn_image(root, name);
        return c;
    }
    if let Some(name) = id.strip_prefix("lxc:") {
        c.runtime = Some("lxc".into());
        c.name = field(Some(&Value::from(name)));
        c.image = lxc_image(root, name);
        return c;
    }
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return c; // never a path component from elsewhere
    }
    let _found =
        docker(root, &mut c) || containers_storage(root, &mut c) || containerd(root, &mut c);
    // Kubernetes: a container is known by its name in the pod spec (the runtime's own name is
    // generated, k8s_nginx_web-7d4b9_prod_…); a pod's sandbox by the pod's name
    if c.pod.is_some() {
        if let Some(n) = c.k8s_container.clone() {
            c.name = Some(n);
        } else if c.name.as_deref().is_none_or(|n| n.starts_with("k8s_POD_")) {
            c.name = c.pod.clone();
        }
    }
    c
}

fn labels_k8s(c: &mut Container, get: &dyn Fn(&str) -> Option<String>) {
    c.pod = c.pod.take().or_else(|| get("io.kubernetes.pod.name"));
    c.pod_namespace = c
        .pod_namespace
        .take()
        .or_else(|| get("io.kubernetes.pod.namespace"));
    c.k8s_container = c
        .k8s_container
        .take()
        .or_else(|| get("io.kubernetes.container.name"));
}

fn docker(root: &Path, c: &mut Container) -> bool {
    let Some(v) = read_json(
        &root
            .join("var/lib/docker/containers")
            .join(&c.id)
            .join("config.v2.json"),
    ) else {
        return false;
    };
    c.runtime = Some("docker".into());
    c.name = field(v.get("Name")).map(|n| n.trim_start_matches('/').to_string());
    c.image = field(v.pointer("/Config/Image"));
    let labels = v.pointer("/Config/Labels").cloned().unwrap_or(Value::Null);
    labels_k8s(c, &|k| field(labels.get(k)));
    true
}

fn containers_storage(root: &Path, c: &mut Container) -> bool {
    let Some(Value::Array(list)) =
        read_json(&root.join("var/lib/containers/storage/overlay-containers/containers.json"))
    else {
        return false;
    };
    let Some(e) = list
        .iter()
        .find(|e| e.get("id").and_then(Value::as_str) == Some(&c.id))
    else {
        return false;
    };
    c.name = field(e.pointer("/names/0"));
    // `metadata` is a JSON document in a string: podman's holds the image name
    let meta: Value = e
        .get("metadata")
        .and_then(Value::as_str)
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or(Value::Null);
    c.image = field(meta.get("image-name")).or_else(|| field(e.get("image")));
    // CRI-O keeps the Kubernetes names in the OCI spec's annotations
    let spec = read_json(
        &root
            .join("run/containers/storage/overlay-containers")
            .join(&c.id)
            .join("userdata/config.json"),
    )
    .or_else(|| {
        read_json(
            &root
                .join("var/lib/containers/storage/overlay-containers")
                .join(&c.id)
                .join("userdata/config.json"),
        )
    });
    let ann = spec
        .as_ref()
        .and_then(|s| s.get("annotations"))
        .cloned()
        .unwrap_or(Value::Null);
    let a = |k: &str| field(ann.get(k));
    c.runtime = Some(match a("io.container.manager").as_deref() {
        Some("libpod") => "podman".into(),
        _ if ann.get("io.kubernetes.pod.name").is_some() => "cri-o".into(),
        _ => "podman".into(),
    });
    labels_k8s(c, &a);
    if c.image.is_none() {
        c.image = a("io.kubernetes.cri-o.ImageName");
    }
    true
}

fn containerd(root: &Path, c: &mut Container) -> bool {
    let tasks = root.join("run/containerd/io.containerd.runtime.v2.task");
    let Ok(rd) = std::fs::read_dir(&tasks) else {
        return false;
    };
    for ns in rd.flatten().take(64) {
        let Some(spec) = read_json(&ns.path().join(&c.id).join("config.json")) else {
            continue;
        };
        let ann = spec.get("annotations").cloned().unwrap_or(Value::Null);
        let a = |k: &str| field(ann.get(k));
        c.runtime = Some("containerd".into());
        c.k8s_container = a("io.kubernetes.cri.container-name");
        c.pod = a("io.kubernetes.cri.sandbox-name");
        c.pod_namespace = a("io.kubernetes.cri.sandbox-namespace");
        c.image = a("io.kubernetes.cri.image-name");
        // a pod's sandbox (pause) container is the pod; others are named as kubectl does
        c.name = match (
            a("io.kubernetes.cri.container-type").as_deref(),
            &c.k8s_container,
        ) {
            (Some("sandbox"), _) => c.pod.clone(),
            (_, Some(n)) => Some(n.clone()),
            _ => None,
        };
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_in_cgroup_paths() {
        let id = "c58f50329129e2e971f592733a2048acfe6d07b5e42af2ca569c040ca42219e4";
        for p in [
            format!("/libpod_parent/libpod-{id}"),
            format!("/system.slice/docker-{id}.scope"),
            format!("/docker/{id}"),
            format!("/kubepods.slice/kubepods-pod1.slice/cri-containerd-{id}.scope"),
            format!("/kubepods/besteffort/pod1/{id}"),
            format!("/machine.slice/libpod-{id}.scope/container"),
        ] {
            assert_eq!(id_of(p.as_bytes()).as_deref(), Some(id), "{p}");
        }
        assert_eq!(
            id_of(b"/machine.slice/machine-web\\x2d1.scope").as_deref(),
            Some("nspawn:web-1")
        );
        assert_eq!(
            id_of(b"/machine.slice/systemd-nspawn@db.service/payload").as_deref(),
            Some("nspawn:db")
        );
        assert_eq!(
            id_of(b"/lxc.payload.c1/init.scope").as_deref(),
            Some("lxc:c1")
        );
        assert_eq!(id_of(b"/lxc/c2").as_deref(), Some("lxc:c2"));
        assert_eq!(id_of(b"/user.slice/user-1000.slice/session-2.scope"), None);
        // a hostile id never becomes a path
        assert_eq!(resolve("../../etc/passwd").runtime, None);
    }

    #[test]
    fn fields_are_bounded() {
        let long = "é".repeat(200);
        let f = field(Some(&Value::from(long.as_str()))).unwrap();
        assert!(f.len() <= MAX_FIELD && f.chars().all(|c| c == 'é'));
        assert_eq!(field(Some(&Value::from(""))), None);
        assert_eq!(field(Some(&Value::from(3))), None);
    }
}

#[cfg(test)]
mod fixtures {
    use super::*;

    const ID: &str = "4f1c2e3d4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Docker's `config.v2.json` (moby daemon/container: `Name`, `Config.Image`,
    /// `Config.Labels`), trimmed to a real file's shape.
    #[test]
    fn docker_config_v2() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            &format!("var/lib/docker/containers/{ID}/config.v2.json"),
            &format!(
                r#"{{"StreamConfig":{{}},"State":{{"Running":true,"Paused":false,"Pid":4242}},
                "ID":"{ID}","Created":"2026-11-20T10:00:00.000000000Z","Path":"nginx",
                "Args":["-g","daemon off;"],"Config":{{"Hostname":"4f1c2e3d4b5a","Image":"nginx:1.25",
                "Labels":{{"com.docker.compose.project":"shop","com.docker.compose.service":"web"}}}},
                "Image":"sha256:0b0d","NetworkSettings":{{"SandboxKey":"/var/run/docker/netns/0d3f"}},
                "Name":"/shop-web-1","Driver":"overlay2"}}"#
            ),
        );
        let c = resolve_in(t.path(), ID);
        assert_eq!(c.runtime.as_deref(), Some("docker"));
        assert_eq!(c.name.as_deref(), Some("shop-web-1"));
        assert_eq!(c.image.as_deref(), Some("nginx:1.25"));
        assert_eq!(c.pod, None);
    }

    /// containerd's CRI plugin: the task bundle's OCI spec with the `io.kubernetes.cri.*`
    /// annotations (containerd pkg/cri/annotations).
    #[test]
    fn containerd_cri_annotations() {
        let t = tempfile::tempdir().unwrap();
        let spec = |kind: &str| {
            format!(
                r#"{{"ociVersion":"1.1.0","process":{{"args":["nginx"]}},"annotations":{{
                "io.kubernetes.cri.container-type":"{kind}",
                "io.kubernetes.cri.sandbox-id":"aa11",
                "io.kubernetes.cri.sandbox-name":"web-7d4b9",
                "io.kubernetes.cri.sandbox-namespace":"prod",
                "io.kubernetes.cri.container-name":"nginx",
                "io.kubernetes.cri.image-name":"docker.io/library/nginx:1.25"}}}}"#
            )
        };
        write(
            t.path(),
            &format!("run/containerd/io.containerd.runtime.v2.task/k8s.io/{ID}/config.json"),
            &spec("container"),
        );
        let c = resolve_in(t.path(), ID);
        assert_eq!(c.runtime.as_deref(), Some("containerd"));
        assert_eq!(c.name.as_deref(), Some("nginx"));
        assert_eq!(c.pod.as_deref(), Some("web-7d4b9"));
        assert_eq!(c.pod_namespace.as_deref(), Some("prod"));
        assert_eq!(c.image.as_deref(), Some("docker.io/library/nginx:1.25"));
        // the pod's sandbox (pause) container is the pod
        let sandbox = ID.replace('4', "5");
        write(
            t.path(),
            &format!("run/containerd/io.containerd.runtime.v2.task/k8s.io/{sandbox}/config.json"),
            &spec("sandbox").replace(r#""io.kubernetes.cri.container-name":"nginx","#, ""),
        );
        assert_eq!(
            resolve_in(t.path(), &sandbox).name.as_deref(),
            Some("web-7d4b9")
        );
    }

    /// systemd-nspawn machines and LXC containers: the name from the cgroup, the image from
    /// machinectl's directory and LXC's config (as lxc-create writes it).
    #[test]
    fn nspawn_and_lxc_images() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("var/lib/machines/web-1/etc")).unwrap();
        write(t.path(), "var/lib/machines/db.raw", "");
        let c = resolve_in(t.path(), "nspawn:web-1");
        assert_eq!(c.runtime.as_deref(), Some("nspawn"));
        assert_eq!(c.name.as_deref(), Some("web-1"));
        assert_eq!(c.image.as_deref(), Some("/var/lib/machines/web-1"));
        assert_eq!(
            resolve_in(t.path(), "nspawn:db").image.as_deref(),
            Some("/var/lib/machines/db.raw")
        );
        assert_eq!(resolve_in(t.path(), "nspawn:gone").image, None);
        assert_eq!(resolve_in(t.path(), "nspawn:..").image, None);
        // the config lxc-create writes with the download template
        write(
            t.path(),
            "var/lib/lxc/c1/config",
            "# Template used to create this container: /usr/share/lxc/templates/lxc-download
             # Parameters passed to the template: --dist debian --release bookworm --arch amd64
             # For additional config options, please look at lxc.container.conf(5)

             lxc.include = /usr/share/lxc/config/common.conf
             lxc.arch = linux64
             lxc.rootfs.path = dir:/var/lib/lxc/c1/rootfs
             lxc.uts.name = c1
",
        );
        let c = resolve_in(t.path(), "lxc:c1");
        assert_eq!(
            (c.runtime.as_deref(), c.name.as_deref(), c.image.as_deref()),
            (Some("lxc"), Some("c1"), Some("debian:bookworm:amd64"))
        );
        // made without a template's parameters: its root file system
        write(
            t.path(),
            "var/lib/lxc/c2/config",
            "lxc.rootfs.path = dir:/srv/c2
lxc.uts.name = c2
",
        );
        assert_eq!(
            resolve_in(t.path(), "lxc:c2").image.as_deref(),
            Some("dir:/srv/c2")
        );
        assert_eq!(resolve_in(t.path(), "lxc:c3").image, None);
        assert_eq!(resolve_in(t.path(), "lxc:../c1").image, None);
    }

    /// containers/storage's `containers.json` (podman and CRI-O) and CRI-O's Kubernetes
    /// annotations in the container's OCI spec.
    #[test]
    fn podman_and_cri_o_storage() {
        let t = tempfile::tempdir().unwrap();
        let cri = ID.replace('f', "e");
        write(
            t.path(),
            "var/lib/containers/storage/overlay-containers/containers.json",
            &format!(
                r#"[{{"id":"{ID}","names":["web-1"],"image":"f855","layer":"99e7",
                "metadata":"{{\"image-name\":\"localhost/web:latest\",\"image-id\":\"f855\",\"name\":\"web-1\",\"created-at\":1795990812}}",
                "created":"2026-11-29T22:20:12.718170208Z","flags":{{"MountLabel":"","ProcessLabel":""}}}},
                {{"id":"{cri}","names":["k8s_nginx_web-7d4b9_prod_0e5b_0"],"image":"a1b2","metadata":"{{}}"}}]"#
            ),
        );
        write(
            t.path(),
            &format!("var/lib/containers/storage/overlay-containers/{ID}/userdata/config.json"),
            r#"{"annotations":{"io.container.manager":"libpod","org.opencontainers.image.stopSignal":"15"}}"#,
        );
        write(
            t.path(),
            &format!("run/containers/storage/overlay-containers/{cri}/userdata/config.json"),
            r#"{"annotations":{"io.kubernetes.pod.name":"web-7d4b9","io.kubernetes.pod.namespace":"prod",
                "io.kubernetes.container.name":"nginx","io.kubernetes.cri-o.ImageName":"docker.io/library/nginx:1.25"}}"#,
        );
        let c = resolve_in(t.path(), ID);
        assert_eq!(c.runtime.as_deref(), Some("podman"));
        assert_eq!(c.name.as_deref(), Some("web-1"));
        assert_eq!(c.image.as_deref(), Some("localhost/web:latest"));
        let c = resolve_in(t.path(), &cri);
        assert_eq!(c.runtime.as_deref(), Some("cri-o"));
        assert_eq!(c.name.as_deref(), Some("nginx"));
        assert_eq!(
            (c.pod.as_deref(), c.pod_namespace.as_deref()),
            (Some("web-7d4b9"), Some("prod"))
        );
        // hostile or broken metadata costs the name, nothing else
        write(
            t.path(),
            "var/lib/containers/storage/overlay-containers/containers.json",
            "[{\"id\": 3}, \"<script>\"",
        );
        let c = resolve_in(t.path(), ID);
        assert_eq!((c.runtime, c.name), (None, None));
    }
}
