//! The one output path: every command's CSV, JSON and NDJSON match the schemas documented in
//! docs/OUTPUT.md, and every command ends quietly with exit 0 when its reader is gone (and
//! with an error, not silent truncation, when the output cannot be written).

use crate::harness::*;
use crate::rollups::write_history;
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;

const NOW: &str = "2026-11-22T12:00:00Z";

/// A day and a half of 5-minute samples (eth0; alpha on tcp/443 with 10.0.0.1; beta).
fn env_with_history() -> Env {
    let env = Env::new();
    let start: jiff::Timestamp = "2026-11-21T00:00:00Z".parse().unwrap();
    write_history(&env, start.as_millisecond(), 400, 300_000, 7);
    // rules for `nrec alerts` (every command reads the config; only `alerts` evaluates it)
    std::fs::write(
        env.tmp.path().join("nrec.toml"),
        "[[alert]]\nname = \"eth0-day\"\ninterface = \"eth0\"\nvolume = \"1 GB\"\nperiod = \"day\"\n\n\
         [[alert]]\nname = \"alpha-rate\"\nprocess = \"alpha\"\ndirection = \"rx\"\nrate = \"1 kbit/s\"\nminutes = 30\n\n\
         [[alert]]\nname = \"https-month\"\nport = 443\nvolume = \"10 GiB\"\nperiod = \"month\"\n",
    )
    .unwrap();
    // two firings as `record` stores them (alerts.rs tests the firing itself)
    env.sql()
        .execute_batch(
            "INSERT INTO alert_fired VALUES ('eth0-day', 1763683200000, 1763690000000, 'eth0', 1200000000, 1000000000, NULL, 'exit 0');
             INSERT INTO alert_fired VALUES ('alpha-rate', 1763700000000, 1763700000000, 'alpha', 2048, 1000, 1763703600000, 'killed after 10 s (timeout)');",
        )
        .unwrap();
    env
}

/// One `schema` block of docs/OUTPUT.md.
struct Schema {
    args: Vec<String>,
    csv: Option<Vec<String>>,
    json: Vec<(String, String)>,
    rows: Option<String>,
    row: Vec<(String, String)>,
    ndjson: Vec<(String, String)>,
}

fn typed(list: &str) -> Vec<(String, String)> {
    list.split_whitespace()
        .map(|kv| {
            let (k, t) = kv
                .rsplit_once(':')
                .unwrap_or_else(|| panic!("no type: {kv}"));
            (k.to_string(), t.to_string())
        })
        .collect()
}

fn schemas() -> Vec<Schema> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/OUTPUT.md"))
        .expect("docs/OUTPUT.md");
    let mut out = Vec::new();
    for block in doc.split("```schema\n").skip(1) {
        let body = block.split("```").next().unwrap();
        let mut s = Schema {
            args: Vec::new(),
            csv: None,
            json: Vec::new(),
            rows: None,
            row: Vec::new(),
            ndjson: Vec::new(),
        };
        for line in body.lines() {
            let (k, v) = line.split_once(": ").unwrap_or_else(|| panic!("{line}"));
            match k {
                "command" => {}
                "args" => s.args = v.split_whitespace().map(String::from).collect(),
                "csv" => s.csv = Some(v.split_whitespace().map(String::from).collect()),
                "json" => s.json = typed(v),
                "rows" => s.rows = Some(v.to_string()),
                "row" => s.row = typed(v),
                "ndjson" => s.ndjson = typed(v),
                _ => panic!("unknown schema key {k}"),
            }
        }
        out.push(s);
    }
    assert!(out.len() >= 10, "docs/OUTPUT.md lost its schema blocks");
    out
}

fn type_ok(v: &Value, ty: &str) -> bool {
    ty.split('|').any(|t| match t {
        "int" => v.is_i64() || v.is_u64(),
        "num" => v.is_number(),
        "str" => v.is_string(),
        "time" => v
            .as_str()
            .is_some_and(|s| s.parse::<jiff::Timestamp>().is_ok()),
        "bool" => v.is_boolean(),
        "list" => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        "obj" => v.is_object(),
        "arr" => v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
        "null" => v.is_null(),
        _ => panic!("unknown type {t}"),
    })
}

/// The object has exactly the documented keys, each of its documented type.
fn check_object(what: &str, v: &Value, want: &[(String, String)]) {
    let m = v
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {v}"));
    let got: BTreeSet<&str> = m.keys().map(String::as_str).collect();
    let doc: BTreeSet<&str> = want.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(got, doc, "{what}: keys differ from docs/OUTPUT.md");
    for (k, t) in want {
        assert!(type_ok(&m[k], t), "{what}: {k} = {} is not {t}", m[k]);
    }
}

fn at_path<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, p| match p.parse::<usize>() {
        Ok(i) => &v[i],
        Err(_) => &v[p],
    })
}

fn run(env: &Env, args: &[String], format: &str) -> String {
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    a.extend(["--format", format]);
    let out = env
        .cmd(&a)
        .env("NREC_NOW", NOW)
        .env("NREC_CONFIG", env.tmp.path().join("nrec.toml"))
        .output()
        .unwrap();
    assert_success(&out);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_command_writes_the_documented_csv_json_and_ndjson() {
    let env = env_with_history();
    for s in schemas() {
        let name = s.args.join(" ");
        let json: Value = serde_json::from_str(&run(&env, &s.args, "json"))
            .unwrap_or_else(|e| panic!("{name}: JSON does not parse: {e}"));
        check_object(&name, &json, &s.json);
        let first: Vec<&String> = json.as_object().unwrap().keys().take(4).collect();
        assert_eq!(
            first,
            ["format_version", "command", "host", "window"],
            "{name}: the envelope opens the document"
        );
        assert_eq!(json["format_version"], 1, "{name}");
        assert_eq!(json["command"], s.args[0], "{name}");
        let host = json["host"].as_str().unwrap().to_string();
        let listen = name.contains("LISTEN");
        if let Some(path) = &s.rows {
            let rows = at_path(&json, path)
                .as_array()
                .unwrap_or_else(|| panic!("{name}: no rows at {path}"));
            assert!(listen || !rows.is_empty(), "{name}: no rows to check");
            for r in rows {
                check_object(&format!("{name} row"), r, &s.row);
                // keys come in the CSV column order
                let order: Vec<&String> = r.as_object().unwrap().keys().collect();
                let want: Vec<&String> = s.row.iter().map(|(k, _)| k).collect();
                assert_eq!(order, want, "{name}: row key order");
            }
        }
        let Some(csv) = &s.csv else {
            // table and JSON only: the data formats are refused with a usage error
            for f in ["csv", "ndjson"] {
                let mut a: Vec<&str> = s.args.iter().map(String::as_str).collect();
                a.extend(["--format", f]);
                let out = env.cmd(&a).env("NREC_NOW", NOW).output().unwrap();
                assert_eq!(out.status.code(), Some(2), "{name} --format {f}");
            }
            continue;
        };
        // CSV: host first, then exactly the row's keys in the documented order
        let text = run(&env, &s.args, "csv");
        let (h, rows) = parse_csv(&text);
        assert_eq!(&h, csv, "{name}: CSV header differs from docs/OUTPUT.md");
        let row_keys: Vec<&str> = s.row.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            h[1..].iter().map(String::as_str).collect::<Vec<_>>(),
            row_keys,
            "{name}: CSV columns are not the JSON row's keys"
        );
        assert!(listen || !rows.is_empty(), "{name}: no CSV rows");
        for r in &rows {
            assert_eq!(r.len(), h.len(), "{name}: {r:?}");
            assert_eq!(r[0], host, "{name}: host column");
        }
        assert!(text.ends_with("\r\n") || rows.is_empty(), "{name}: CRLF");
        // NDJSON: one object per row, host first, the same rows as CSV
        let nd = run(&env, &s.args, "ndjson");
        let mut want = s.ndjson.clone();
        want.extend(s.row.iter().cloned());
        let mut n = 0;
        for line in nd.lines() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{name}: NDJSON line does not parse: {e}: {line}"));
            check_object(&format!("{name} ndjson"), &v, &want);
            assert_eq!(v["host"], host.as_str());
            n += 1;
        }
        assert_eq!(n, rows.len(), "{name}: NDJSON and CSV rows");
    }
}

#[test]
fn csv_and_json_carry_the_same_typed_values() {
    let env = env_with_history();
    let args: Vec<String> = ["export", "port", "--since", "2d"]
        .map(String::from)
        .to_vec();
    let (h, rows) = parse_csv(&run(&env, &args, "csv"));
    let json: Value = serde_json::from_str(&run(&env, &args, "json")).unwrap();
    let objs = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), objs.len());
    for (r, o) in rows.iter().zip(objs) {
        // numbers are numbers (the export once wrote "pid":"10" and "port":"443")
        assert_eq!(o["pid"], 10);
        assert_eq!(o["port"], 443);
        assert_eq!(col(&h, r, "port"), "443");
        assert_eq!(
            col(&h, r, "rx_bytes"),
            o["rx_bytes"].as_u64().unwrap().to_string()
        );
    }
    // the rows of top-procs add up to the interface total, (unattributed) included
    let top: Value = serde_json::from_str(&run(
        &env,
        &["top-procs".into(), "--since".into(), "2d".into()],
        "json",
    ))
    .unwrap();
    let sum: u64 = top["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rx_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, top["interface_bytes"]["rx"].as_u64().unwrap());
    assert!(
        top["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rank"].is_null() && r["name"] == "(unattributed)")
    );
}

/// Runs `nrec args` with stdout on a pipe whose reader has already gone.
fn run_into_closed_pipe(env: &Env, args: &[&str]) -> std::process::Output {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds we then own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fds[0] and fds[1] are open and owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(r);
    env.cmd(args)
        .env("NREC_NOW", NOW)
        .env("NREC_CONFIG", env.tmp.path().join("nrec.toml"))
        .stdout(Stdio::from(w))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn every_command_exits_0_quietly_when_the_reader_is_gone() {
    let env = env_with_history();
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["status"],
        vec!["status", "--format", "json"],
        vec!["check"],
    ];
    for f in ["table", "csv", "json", "ndjson"] {
        cases.push(vec!["report", "-n", "ALL", "--since", "2d", "--format", f]);
        cases.push(vec!["top-procs", "--since", "2d", "--format", f]);
        cases.push(vec!["top-ports", "--since", "2d", "--format", f]);
        cases.push(vec!["top-hosts", "--since", "2d", "--format", f]);
        cases.push(vec!["proc", "alpha", "--since", "2d", "--format", f]);
        cases.push(vec!["summary", "--hourly", "--format", f]);
        cases.push(vec!["alerts", "--format", f]);
        if f != "table" {
            cases.push(vec!["export", "iface", "--since", "2d", "--format", f]);
        }
    }
    for mut args in cases {
        args.push("-q");
        let out = run_into_closed_pipe(&env, &args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{args:?} said: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_full_disk_under_the_output_is_an_error_not_a_truncation() {
    let env = env_with_history();
    for args in [
        vec!["report", "--since", "2d"],
        vec!["export", "iface", "--since", "2d"],
        vec!["status"],
    ] {
        let out = env
            .cmd(&args)
            .env("NREC_NOW", NOW)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.lines().count() == 1 && err.contains("writing the output"),
            "{args:?}: {err}"
        );
    }
}
