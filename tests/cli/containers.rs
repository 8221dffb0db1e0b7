//! Containers by name (issue 17): two real podman containers (runc, an image imported from
//! busybox — no registry is reachable) move known bytes over their own loopback and between
//! each other; reports name them, also after `podman rm`. Docker, containerd/CRI and CRI-O
//! metadata on fixtures of their on-disk formats.

use crate::harness::*;
use std::process::Command;

/// podman as this machine needs it (crun refuses the hybrid cgroup hierarchy).
fn podman() -> Command {
    let mut c = Command::new("podman");
    c.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
    c
}

fn podman_ok(args: &[&str]) -> String {
    let out = podman().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Removes the containers and the image a test made, whatever happens.
struct Podman {
    containers: Vec<String>,
    image: String,
}

impl Drop for Podman {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = podman().args(["rm", "-f", "-t", "0", c]).output();
        }
        let _ = podman().args(["rmi", "-f", &self.image]).output();
    }
}

/// An image holding busybox (and /tmp), imported from a directory; Err says why there is
/// none (no busybox, or podman cannot store images here).
fn busybox_image(env: &Env, tag: &str) -> Result<String, String> {
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .ok_or("busybox-static is not installed")?;
    let root = env.tmp.path().join("bbroot");
    for d in ["bin", "tmp", "proc", "sys", "dev", "etc"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(bb, root.join("bin/busybox")).unwrap();
    for cmd in ["sh", "nc", "dd", "wc", "sleep", "cat", "true"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(cmd)).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let image = format!("localhost/nrec-test-bb:{tag}");
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["-cf", "-", "."])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let mut import = podman()
        .args(["import", "-", &image])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(import.stdin.as_mut().unwrap(), &tar.stdout).unwrap();
    drop(import.stdin.take());
    let out = import.wait_with_output().unwrap();
    if !out.status.success() {
        return Err(format!(
            "podman cannot import an image here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(image)
}

#[test]
fn podman_containers_are_named_in_reports_after_they_are_gone() {
    let test = "podman_containers_are_named";
    let env = Env::with_ebpf();
    if !crate::ebpf::ebpf_or_skip(&env, test) {
        return;
    }
    if Command::new("podman").arg("--version").output().is_err() {
        return skip(test, "podman is not installed (scripts/lib.sh installs it)");
    }
    let pid = std::process::id();
    let image = match busybox_image(&env, &pid.to_string()) {
        Ok(i) => i,
        Err(why) => return skip(test, &why),
    };
    let (web, cli) = (format!("nrec-web-{pid}"), format!("nrec-cli-{pid}"));
    let _cleanup = Podman {
        containers: vec![web.clone(), cli.clone()],
        image: image.clone(),
    };
    // podman installed but unable to run a container here (a chroot without what its
    // network or storage needs): the capability is absent, said with podman's own words
    let run = [
        "run",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ];
    let probe = podman()
        .args([&run[..], &["--rm", &image, "true"]].concat())
        .output()
        .unwrap();
    if !probe.status.success() {
        return skip(
            test,
            &format!(
                "podman cannot run a container here: {}",
                String::from_utf8_lossy(&probe.stderr).trim()
            ),
        );
    }
    env.record_live(); // baseline (the map was just created)
    env.record_live();
    // web: 200 000 B over its own loopback, then waits for 300 000 B from cli
    let script = "(sleep 30 | nc -l -p 5001 > /tmp/got) & (sleep 30 | nc -l -p 5002 > /tmp/lo) & \
                  sleep 0.5; dd if=/dev/zero bs=1000 count=200 2>/dev/null | nc 127.0.0.1 5002; \
                  sleep 60";
    podman_ok(
        &[
            &run[..],
            &["-d", "--name", &web, &image, "sh", "-c", script],
        ]
        .concat(),
    );
    let ip = podman_ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &web]);
    std::thread::sleep(std::time::Duration::from_millis(800));
    let send = format!("dd if=/dev/zero bs=1000 count=300 2>/dev/null | nc {ip} 5001");
    podman_ok(&[&run[..], &["--name", &cli, &image, "sh", "-c", &send]].concat());
    let size = |f: &str| -> u64 {
        podman_ok(&["exec", &web, "sh", "-c", &format!("wc -c < {f}")])
            .parse()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while (size("/tmp/got"), size("/tmp/lo")) != (300_000, 200_000) {
        assert!(
            std::time::Instant::now() < deadline,
            "the transfers did not complete"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    env.record_live();
    // a sample more with web's namespace busy (a refused connection on its loopback): the
    // namespace is the previous sample's and keeps its container's name without a lookup
    podman_ok(&["exec", &web, "sh", "-c", "nc 127.0.0.1 9 </dev/null; true"]);
    env.record_live();

    let check = |env: &Env| {
        let json = |args: &[&str]| -> serde_json::Value {
            serde_json::from_str(&env.now_ok(args)).unwrap()
        };
        let csv = |args: &[&str]| {
            let text = env.now_ok(args);
            let (h, rows) = parse_csv(&text);
            (h, rows, text)
        };
        let row = |doc: &serde_json::Value, n: &str| {
            doc["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == n)
                .map(|r| {
                    (
                        r["rx_bytes"].as_u64().unwrap(),
                        r["tx_bytes"].as_u64().unwrap(),
                    )
                })
        };
        let doc = json(&[
            "top-procs",
            "--by",
            "container",
            "--since",
            "1h",
            "--format",
            "json",
        ]);
        // web: 200 000 B each way on its loopback, 300 000 B received from cli (exact: eBPF)
        assert_eq!(row(&doc, &web), Some((500_000, 200_000)), "{doc}");
        assert_eq!(row(&doc, &cli), Some((0, 300_000)), "{doc}");
        // --by image: both containers ran the test's image
        let doc = json(&[
            "top-procs",
            "--by",
            "image",
            "--since",
            "1h",
            "--format",
            "json",
        ]);
        assert_eq!(row(&doc, &image), Some((500_000, 500_000)), "{doc}");
        // the web container's interfaces under its name, counted from zero: its namespace
        // was created between the two records
        let (h, rows, text) = csv(&["report", "--since", "1h", "--format", "csv"]);
        let bytes = |iface: &str, c: &str| -> u64 {
            rows.iter()
                .filter(|r| col(&h, r, "netns") == web && col(&h, r, "iface") == iface)
                .map(|r| col(&h, r, c).parse::<u64>().unwrap_or(0))
                .sum()
        };
        assert!(
            (200_000..230_000).contains(&bytes("lo", "rx_bytes")),
            "{text}"
        );
        assert!(
            (300_000..340_000).contains(&bytes("eth0", "rx_bytes")),
            "{text}"
        );
        // both samples since its namespace appeared name it, the busy one after it too
        let named = rows
            .iter()
            .filter(|r| col(&h, r, "netns") == web && col(&h, r, "iface") == "lo")
            .count();
        assert_eq!(named, 2, "{text}");
        // --container: the container's processes against its own namespace's interfaces
        let one = json(&[
            "top-procs",
            "--container",
            &web,
            "--since",
            "1h",
            "--format",
            "json",
        ]);
        let n = |v: &serde_json::Value| v.as_u64().unwrap();
        assert_eq!(
            (
                n(&one["attributed_bytes"]["rx"]),
                n(&one["attributed_bytes"]["tx"])
            ),
            (500_000, 200_000),
            "{one}"
        );
        assert!(
            (500_000..560_000).contains(&n(&one["interface_bytes"]["rx"])),
            "{one}"
        );
        assert!(one["rows"][0]["share"].as_f64().unwrap() > 0.85, "{one}");
        // ... and its namespace only, in report and export
        for args in [
            &[
                "report",
                "--container",
                &web,
                "--since",
                "1h",
                "--format",
                "csv",
            ][..],
            &["export", "iface", "--container", &web, "--since", "1h"],
        ] {
            let (h, rows, text) = csv(args);
            let only = rows.iter().all(|r| col(&h, r, "netns") == web);
            assert!(!rows.is_empty() && only, "{args:?}: {text}");
        }
        let (h, rows, text) = csv(&["export", "proc", "--container", &web, "--since", "1h"]);
        let total: u64 = rows
            .iter()
            .map(|r| col(&h, r, "rx_bytes").parse::<u64>().unwrap())
            .sum();
        assert_eq!(total, 500_000, "{text}");
        let sum = json(&["summary", "--container", &web, "--format", "json"]);
        let names: Vec<&str> = sum["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["iface"].as_str())
            .collect();
        assert!(names.contains(&format!("eth0@{web}").as_str()), "{sum}");
        assert!(names.iter().all(|n| n.ends_with(&web)), "{sum}");
        // the Prometheus exposition labels process series by container name on request
        let conf = env.tmp.path().join("by-container.toml");
        std::fs::write(&conf, "[metrics]\nby = \"container\"\n").unwrap();
        let out = env
            .cmd(&["export", "--format", "openmetrics"])
            .env("NREC_CONFIG", &conf)
            .env("NREC_NOW", jiff::Timestamp::now().to_string())
            .output()
            .unwrap();
        assert_success(&out);
        let text = String::from_utf8_lossy(&out.stdout);
        let want = format!("nrec_process_receive_bytes_total{{container=\"{web}\"}} 500000");
        assert!(text.contains(&want), "{text}");
        // nrec proc names the container too
        let text = env.now_ok(&["proc", "nc", "--since", "1h"]);
        assert!(text.contains(&format!("container {web} (")), "{text}");
    };
    check(&env);
    // gone from podman, still named in the history
    podman_ok(&["rm", "-f", "-t", "0", &web, &cli]);
    check(&env);
}
