//! The manual and the shell: the man pages nrec writes render in `man` and hold every option
//! `--help` lists; the completion scripts load in real shells and complete a subcommand,
//! a report kind and interface names read from a test database (bash, zsh in tmux, fish).

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn pages() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("--nrec-internal-man")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_success(&out);
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    (dir, v)
}

/// `man -l PAGE` as text, and its warnings (as lintian runs it).
fn man(page: &Path) -> (String, String) {
    let out = Command::new("man")
        .args(["--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z"])
        .arg(page)
        .env("LC_ALL", "C.UTF-8")
        .env("MANROFFSEQ", "")
        .env("MANWIDTH", "80")
        .output()
        .unwrap();
    let warnings: String = String::from_utf8_lossy(&out.stderr)
        .lines()
        // a word longer than the line (a URL, a long option list) cannot be justified
        .filter(|l| !l.contains("cannot adjust line") && !l.contains("cannot break line"))
        .map(|l| format!("{l}\n"))
        .collect();
    let text = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "200")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    assert!(out.status.success() && text.status.success(), "{page:?}");
    (String::from_utf8_lossy(&text.stdout).into_owned(), warnings)
}

/// Long options `nrec [SUB] --help` lists.
fn options(sub: Option<&str>) -> Vec<String> {
    let mut c = Command::new(BIN);
    if let Some(s) = sub {
        c.arg(s);
    }
    let help = String::from_utf8(c.arg("--help").output().unwrap().stdout).unwrap();
    let mut v: Vec<String> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .split('=')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn man_pages_render_and_hold_every_option_of_help() {
    if !have("man") {
        return skip("man_pages_render", "man (man-db) is not installed");
    }
    let (_dir, pages) = pages();
    let names: Vec<String> = pages
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // one page per subcommand --help lists, plus nrec(1) and nrec.toml(5)
    let help = String::from_utf8(Command::new(BIN).arg("--help").output().unwrap().stdout).unwrap();
    let subs: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| *w != "help" && w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect();
    assert!(subs.len() >= 15, "{subs:?}");
    for s in &subs {
        assert!(
            names.contains(&format!("nrec-{s}.1")),
            "no page for {s}: {names:?}"
        );
    }
    assert!(names.contains(&"nrec.1".to_string()) && names.contains(&"nrec.toml.5".to_string()));
    assert_eq!(names.len(), subs.len() + 2, "{names:?}");

    for p in &pages {
        let (text, warnings) = man(p);
        assert!(warnings.is_empty(), "{p:?}: {warnings}");
        let name = p.file_name().unwrap().to_string_lossy();
        let sub = name
            .strip_prefix("nrec-")
            .and_then(|n| n.strip_suffix(".1"));
        if name.ends_with(".1") {
            for o in options(sub) {
                assert!(text.contains(&o), "{name} lacks {o}, which --help lists");
            }
            assert!(text.contains("EXIT STATUS"), "{name}");
        }
    }
    // the README's sections in the pages they belong to
    for (page, wants) in [
        (
            "nrec.1",
            &[
                "HOW NREC COUNTS",
                "EXIT STATUS",
                "FILES AND ENVIRONMENT",
                "NREC_BPF_DIR",
                "disk full",
            ][..],
        ),
        (
            "nrec.toml.5",
            &[
                "RETENTION AND ROLLUPS",
                "ALERTS AND QUOTAS",
                "[[alert]]",
                "NREC_ALERT_",
            ][..],
        ),
        ("nrec-report.1", &["nrec report --yesterday -n EDEV"][..]),
    ] {
        let path = pages.iter().find(|p| p.ends_with(page)).unwrap();
        let (text, _) = man(path);
        for w in wants {
            assert!(text.contains(w), "{page} lacks {w}");
        }
    }
}

/// A database with eth0, lo and a veth of namespace-less name, for completion.
fn completion_db() -> Env {
    let env = Env::new();
    let mut p = FakeProc::new();
    p.ifaces.push(FakeIface::new(b"veth-web1", 5));
    env.record_ok(&p, &at(0));
    p.uptime_ms += 60_000;
    for i in p.ifaces.iter_mut() {
        i.add(1000, 10, 1000, 10);
    }
    env.record_ok(&p, &at(1));
    env
}

fn script(shell: &str, dir: &Path) -> PathBuf {
    let out = Command::new(BIN)
        .args(["completions", shell])
        .output()
        .unwrap();
    assert_success(&out);
    let p = dir.join(if shell == "zsh" { "_nrec" } else { "nrec.bash" });
    std::fs::write(&p, &out.stdout).unwrap();
    p
}

/// What `SHELL NOCONFIG -c PROG` prints, one completion a line (a fish line's description,
/// after a tab, dropped), with this build's nrec first on PATH.
fn offered(shell: &str, noconfig: &str, prog: &str) -> Vec<String> {
    let out = Command::new(shell)
        .arg(noconfig)
        .arg("-c")
        .arg(prog)
        .env("PATH", path_with_nrec())
        .env_remove("NREC_DB")
        .output()
        .unwrap();
    assert_success(&out);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn path_with_nrec() -> String {
    format!(
        "{}:{}",
        Path::new(BIN).parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn bash_completes_a_subcommand_a_kind_and_an_interface_from_the_database() {
    let env = completion_db();
    let s = script("bash", env.tmp.path());
    let db = env.db.to_str().unwrap();
    let complete = |words: &[&str]| -> Vec<String> {
        // what bash does on Tab: COMP_WORDS/COMP_CWORD set, the function called with the
        // command, the current word and the previous one
        let cword = words.len() - 1;
        let arr: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let prog = format!(
            "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\nCOMP_TYPE=9\n_clap_complete_nrec nrec '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            s.display(),
            arr.join(" "),
            words[cword],
            words[cword - 1]
        );
        offered("bash", "--norc", &prog)
    };
    assert_eq!(complete(&["nrec", "rep"]), ["report"]);
    assert_eq!(complete(&["nrec", "report", "-n", "ED"]), ["EDEV"]);
    assert_eq!(complete(&["nrec", "report", "-n", "DEV,ET"]), ["DEV,ETCP"]);
    assert_eq!(complete(&["nrec", "top-procs", "--by", "c"]), ["container"]);
    let mut got = complete(&["nrec", "--db", db, "report", "-i", ""]);
    got.sort();
    assert_eq!(got, ["eth0", "lo", "veth-web1"]);
    assert_eq!(
        complete(&["nrec", "--db", db, "summary", "--iface", "ve"]),
        ["veth-web1"]
    );
    assert!(
        complete(&["nrec", "--db", "/nonexistent.db", "report", "-i", ""]).is_empty(),
        "an unreadable database completes no names"
    );
    // names as reports print them: a namespace's interfaces carry it (issue 31)
    let ns = crate::fixtures::namespaced_history();
    let nsdb = ns.db.to_str().unwrap();
    let mut got = complete(&["nrec", "--db", nsdb, "report", "-i", ""]);
    got.sort();
    assert_eq!(got, ["eth0", "eth0@nca", "lo", "lo@nca", "lo@ncb"]);
    assert_eq!(
        complete(&["nrec", "--db", nsdb, "export", "iface", "-i", "lo@"]),
        ["lo@nca", "lo@ncb"]
    );
}

#[test]
fn zsh_completes_a_subcommand_a_kind_and_an_interface_in_a_real_terminal() {
    if !have("zsh") || !have("tmux") {
        return skip("zsh_completes", "zsh or tmux is not installed");
    }
    // a terminal needs a pseudo-terminal (a chroot without devpts has none)
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/ptmx")
    {
        return skip(
            "zsh_completes",
            &format!("no pseudo-terminals here (/dev/ptmx: {e})"),
        );
    }
    let env = completion_db();
    let fpath = env.tmp.path().join("zfunc");
    std::fs::create_dir_all(&fpath).unwrap();
    script("zsh", &fpath);
    let sock = env.tmp.path().join("tmux.sock");
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .arg("-S")
            .arg(&sock)
            .args(args)
            .output()
            .unwrap()
    };
    let zdot = env.tmp.path().join("zdot");
    std::fs::create_dir_all(&zdot).unwrap();
    // the package's way: _nrec in a directory of $fpath, autoloaded by compinit
    std::fs::write(
        zdot.join(".zshrc"),
        format!(
            "fpath=({} $fpath)\nautoload -U compinit && compinit -u -d {}/zcompdump\nPS1='%% '\n",
            fpath.display(),
            zdot.display()
        ),
    )
    .unwrap();
    let out = tmux(&[
        "new-session",
        "-d",
        "-x",
        "160",
        "-y",
        "40",
        &format!(
            "env -i HOME={} ZDOTDIR={} TERM=xterm PATH={} zsh -i",
            zdot.display(),
            zdot.display(),
            path_with_nrec()
        ),
    ]);
    assert_success(&out);
    let screen = || String::from_utf8_lossy(&tmux(&["capture-pane", "-p"]).stdout).into_owned();
    let wait_for = |want: &str| -> String {
        let t0 = Instant::now();
        loop {
            let s = screen();
            if s.contains(want) {
                return s;
            }
            if t0.elapsed() > Duration::from_secs(15) {
                let _ = tmux(&["kill-server"]);
                panic!("zsh never showed {want:?}; the screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for("%"); // the prompt (capture-pane trims the space after it)
    let db = env.db.to_str().unwrap();
    // typed text is sent literally (-l), then the Tab key
    let typed = |text: &str| {
        tmux(&["send-keys", "-l", "--", text]);
        tmux(&["send-keys", "Tab"]);
    };
    typed("nrec rep");
    wait_for("% nrec report");
    typed(" -n ED");
    wait_for("nrec report -n EDEV");
    tmux(&["send-keys", "C-u"]);
    typed(&format!("nrec --db {db} report -i ve"));
    let s = wait_for("-i veth-web1");
    let _ = tmux(&["kill-server"]);
    assert!(s.contains("veth-web1"), "{s}");
}

#[test]
fn the_package_files_agree_with_the_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // the Debian changelog's first entry is this version (lintian: the package version)
    let changelog = std::fs::read_to_string(root.join("pkg/debian/changelog")).unwrap();
    let want = format!("nrec ({}-1) ", env!("CARGO_PKG_VERSION"));
    assert!(
        changelog.starts_with(&want),
        "pkg/debian/changelog must start with {want:?}"
    );
    // the shipped config: valid as shipped (everything commented) and with every setting
    // uncommented (its examples are real settings)
    let conf = std::fs::read_to_string(root.join("pkg/nrec.toml")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let p = tmp.path().join("nrec.toml");
        std::fs::write(&p, text).unwrap();
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&p)
            .arg("--db")
            .arg(tmp.path().join("none.db"))
            .args(["completions", "bash"])
            .output()
            .unwrap();
        assert_success(&out);
    };
    check(&conf);
    let uncommented: String = conf
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| {
            l.starts_with('[')
                || l.split_once(" = ")
                    .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        uncommented.contains("[[alert]]") && uncommented.contains("raw = "),
        "{uncommented}"
    );
    check(&uncommented);
}

#[test]
fn fish_completes_a_subcommand_a_kind_and_an_interface_from_the_database() {
    if !have("fish") {
        return skip("fish_completes", "fish is not installed");
    }
    let env = completion_db();
    let out = Command::new(BIN)
        .args(["completions", "fish"])
        .output()
        .unwrap();
    assert_success(&out);
    let s = env.tmp.path().join("nrec.fish");
    std::fs::write(&s, &out.stdout).unwrap();
    // `complete -C LINE`: what fish offers for LINE, without a terminal
    let complete = |line: &str| -> Vec<String> {
        offered(
            "fish",
            "--no-config",
            &format!("source '{}'; complete -C '{line}'", s.display()),
        )
    };
    assert_eq!(complete("nrec rep"), ["report"]);
    assert_eq!(complete("nrec report -n ED"), ["EDEV"]);
    let db = env.db.to_str().unwrap();
    let mut got = complete(&format!("nrec --db {db} report -i "));
    got.sort();
    assert_eq!(got, ["eth0", "lo", "veth-web1"]);
}

/// Issue 31 item 10: the shipped units name the package's binary by its path, and
/// `systemd-analyze verify` accepts them — as the README's from-source route installs them,
/// with the path of the binary built here in its place.
#[test]
fn the_shipped_units_verify_with_systemd() {
    if !have("systemd-analyze") {
        return skip(
            "the_shipped_units_verify",
            "systemd-analyze is not installed",
        );
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    let tmp = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for e in std::fs::read_dir(&root).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_owned();
        let text = std::fs::read_to_string(&p).unwrap();
        for l in text.lines().filter(|l| l.starts_with("ExecStart=")) {
            assert!(
                l.starts_with("ExecStart=/usr/bin/nrec ")
                    || l.starts_with("ExecStart=/usr/libexec/nrec/nrec-record "),
                "{}: {l}: the package's binary by its path",
                name.to_string_lossy()
            );
        }
        // the timer's sample is taken by the small recorder (issue 37)
        if name == "nrec-record.service" {
            assert!(
                text.contains("\nExecStart=/usr/libexec/nrec/nrec-record "),
                "{text}"
            );
        }
        let installed = tmp.path().join(&name);
        let text = text
            .replace("/usr/libexec/nrec/nrec-record", RECORD_BIN)
            .replace("/usr/bin/nrec", BIN);
        std::fs::write(&installed, text).unwrap();
        units.push(installed);
    }
    assert!(units.len() >= 4, "{units:?}");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 32 item 4: completion filters by what is typed before it caps (2 000 names sorting
/// before `python3` hid it from `proc py<TAB>`), and a database another program holds in
/// `BEGIN EXCLUSIVE` costs it at most a moment, not the recorder's 10 s.
#[test]
fn completion_filters_before_its_cap_and_never_waits_long() {
    let env = completion_db();
    {
        let c = env.sql();
        c.execute_batch("BEGIN").unwrap();
        let ns: i64 = c
            .query_row("SELECT id FROM netns LIMIT 1", [], |r| r.get(0))
            .unwrap();
        let mut names: Vec<String> = (0..2500).map(|i| format!("a{i:04}")).collect();
        names.push("python3".into());
        for (i, n) in names.iter().enumerate() {
            c.execute(
                "INSERT INTO process (boot_id, pid, start_time, comm, netns) VALUES ('c', ?1, 1, CAST(?2 AS BLOB), ?3)",
                rusqlite::params![100_000 + i as i64, n, ns],
            )
            .unwrap();
            c.execute(
                "INSERT INTO series (kind, ref) VALUES (3, last_insert_rowid())",
                [],
            )
            .unwrap();
        }
        c.execute_batch("COMMIT").unwrap();
    }
    let complete = |words: &[&str]| -> (Vec<String>, std::time::Duration) {
        let t0 = std::time::Instant::now();
        let out = Command::new(BIN)
            .env("COMPLETE", "fish")
            .args(["--", "nrec", "--db"])
            .arg(&env.db)
            .args(words)
            .output()
            .unwrap();
        assert_success(&out);
        let got = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or("").to_string())
            .collect();
        (got, t0.elapsed())
    };
    let (got, _) = complete(&["proc", "py"]);
    assert_eq!(got, ["python3"]);
    let (got, _) = complete(&["proc", "a24"]);
    assert_eq!(got.len(), 100, "a2400..a2499");
    let (got, _) = complete(&["proc", ""]);
    let names = got.iter().filter(|n| !n.starts_with('-')).count();
    assert_eq!(names, 2000, "capped (options aside): {:?}", &got[..20]);
    // another program holds the database exclusively
    let c = env.sql();
    c.execute_batch(
        "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; UPDATE meta SET value = value;",
    )
    .unwrap();
    let (got, took) = complete(&["proc", "py"]);
    assert!(got.is_empty(), "{got:?}");
    assert!(
        took < std::time::Duration::from_secs(3),
        "completion waited {took:?} on the lock"
    );
    c.execute_batch("ROLLBACK").unwrap();
}

trait LastLine {
    fn last_non_empty(self) -> String;
}

impl<'a, I: Iterator<Item = &'a str>> LastLine for I {
    fn last_non_empty(self) -> String {
        self.filter(|l| !l.trim().is_empty())
            .last()
            .unwrap_or("")
            .to_string()
    }
}

/// Issue 32 item 3: recorded names are data to the shell. In interactive bash, zsh and fish
/// (a real terminal, tmux): a process named `zq$(touch pw)` is completed quoted, so Enter runs
/// no command substitution, and an interface named `*@advA` is completed as itself, never
/// glob-expanded to the files of the current directory.
#[test]
fn hostile_names_complete_quoted_in_interactive_shells() {
    if !have("tmux") {
        return skip("hostile_names_complete", "tmux is not installed");
    }
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/ptmx")
        .is_err()
    {
        return skip("hostile_names_complete", "no pseudo-terminals here");
    }
    let env = completion_db();
    {
        let c = env.sql();
        let ns: i64 = c
            .query_row("SELECT id FROM netns LIMIT 1", [], |r| r.get(0))
            .unwrap();
        c.execute(
            "INSERT INTO process (boot_id, pid, start_time, comm, netns) VALUES ('h', 4242, 1, CAST('zq$(touch pw)' AS BLOB), ?1)",
            [ns],
        )
        .unwrap();
        c.execute(
            "INSERT INTO series (kind, ref) VALUES (3, last_insert_rowid())",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO iface (netns, ifindex, name) VALUES (?1, 77, CAST('*@advA' AS BLOB))",
            [ns],
        )
        .unwrap();
        c.execute(
            "INSERT INTO series (kind, ref) VALUES (1, last_insert_rowid())",
            [],
        )
        .unwrap();
    }
    for shell in ["bash", "zsh", "fish"] {
        if !have(shell) {
            skip(
                "hostile_names_complete",
                &format!("{shell} is not installed"),
            );
            continue;
        }
        hostile_names_in(&env, shell);
    }
}

/// The hostile names' completion in one interactive `shell` under tmux.
fn hostile_names_in(env: &Env, shell: &str) {
    let home = env.tmp.path().join(format!("home-{shell}"));
    let cwd = home.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    // the shell's directory: files a glob `*@advA` would expand to
    std::fs::write(cwd.join("x@advA"), b"").unwrap();
    std::fs::write(cwd.join("y@advA"), b"").unwrap();
    let run = match shell {
        "bash" => {
            let s = script("bash", &home);
            let rc = home.join("bashrc");
            std::fs::write(
                &rc,
                format!(
                    "source '{}'\nPS1='$ '\ncd '{}'\n",
                    s.display(),
                    cwd.display()
                ),
            )
            .unwrap();
            format!("bash --noprofile --rcfile {} -i", rc.display())
        }
        "zsh" => {
            let fpath = home.join("zfunc");
            std::fs::create_dir_all(&fpath).unwrap();
            script("zsh", &fpath);
            std::fs::write(
                home.join(".zshrc"),
                format!(
                    "fpath=({} $fpath)\nautoload -U compinit && compinit -u -d {}/zcompdump\nPS1='$ '\ncd '{}'\n",
                    fpath.display(),
                    home.display(),
                    cwd.display()
                ),
            )
            .unwrap();
            format!("env ZDOTDIR={} zsh -i", home.display())
        }
        _ => {
            let out = Command::new(BIN)
                .args(["completions", "fish"])
                .output()
                .unwrap();
            let s = home.join("nrec.fish");
            std::fs::write(&s, &out.stdout).unwrap();
            format!(
                "fish -i --no-config --init-command \"source {}; function fish_prompt; echo -n '$ '; end; cd {}\"",
                s.display(),
                cwd.display()
            )
        }
    };
    let sock = home.join("tmux.sock");
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .arg("-S")
            .arg(&sock)
            .args(args)
            .output()
            .unwrap()
    };
    let out = tmux(&[
        "new-session",
        "-d",
        "-x",
        "160",
        "-y",
        "20",
        &format!(
            "env -i HOME={} TERM=xterm PATH={} NREC_DB={} {run}",
            home.display(),
            path_with_nrec(),
            env.db.display(),
        ),
    ]);
    assert_success(&out);
    struct Kill<F: Fn(&[&str]) -> std::process::Output>(F);
    impl<F: Fn(&[&str]) -> std::process::Output> Drop for Kill<F> {
        fn drop(&mut self) {
            let _ = (self.0)(&["kill-server"]);
        }
    }
    let tmux = Kill(tmux);
    let screen = || String::from_utf8_lossy(&(tmux.0)(&["capture-pane", "-p"]).stdout).into_owned();
    let wait_for = |what: &str, f: &dyn Fn(&str) -> bool| -> String {
        let t0 = Instant::now();
        loop {
            let s = screen();
            if f(&s) {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "{shell} never showed {what}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let prompts = |s: &str| s.lines().filter(|l| l.starts_with('$')).count();
    wait_for("its prompt", &|s| prompts(s) >= 1);
    // the process: completed quoted; Enter runs nrec with the name, not `touch`
    (tmux.0)(&["send-keys", "nrec proc zq", "Tab"]);
    let s = wait_for("the quoted name", &|s| {
        s.contains("nrec proc zq\\$\\(touch\\ pw\\)")
    });
    assert!(!s.contains("nrec proc zq$(touch pw)"), "{shell}: {s}");
    (tmux.0)(&["send-keys", "Enter"]);
    wait_for("nrec's answer", &|s| prompts(s) >= 2);
    assert!(
        !cwd.join("pw").exists(),
        "{shell}: the name ran as a command substitution"
    );
    // the interface: itself, never the files `*@advA` matches here
    let typed: &[(&str, &str)] = match shell {
        "bash" => &[
            ("\\*", "nrec report -i \\*@advA"),
            ("'*", "nrec report -i '*@advA"),
        ],
        "zsh" => &[("\\*", "nrec report -i \\*@advA")],
        // fish completes a wildcard itself; what matters is that no file is offered
        _ => &[("\\*", "nrec report -i \\*")],
    };
    for (typed, shown) in typed {
        (tmux.0)(&[
            "send-keys",
            "C-u",
            &format!("nrec report -i {typed}"),
            "Tab",
        ]);
        let s = wait_for("the interface completed", &|s| {
            s.lines().last_non_empty().contains(shown)
        });
        std::thread::sleep(Duration::from_millis(300));
        let s = screen() + &s;
        assert!(
            !s.contains("x@advA") && !s.contains("y@advA"),
            "{shell} {typed}: {s}"
        );
    }
}
