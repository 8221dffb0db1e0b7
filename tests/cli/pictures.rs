//! Pictures (issue 14): every SVG parses as XML, draws the numbers the report prints (the
//! test reads the drawn geometry back through the scales each plot states), escapes hostile
//! names, and renders in a real browser.

use crate::harness::*;

/// Parses an SVG document; panics with the parser's message (an SVG that is not XML).
fn parse(text: &str) -> roxmltree::Document<'_> {
    // the HTML page's `<!DOCTYPE html>` is a DTD to an XML parser
    let opt = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(text, opt)
        .unwrap_or_else(|e| panic!("not XML: {e}\n{text}"))
}

fn attr(n: roxmltree::Node<'_, '_>, a: &str) -> f64 {
    n.attribute(a)
        .unwrap_or_else(|| panic!("no {a} on {n:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("{a}: {e}"))
}

/// The plot group of the panel titled `title`.
fn plot<'a>(doc: &'a roxmltree::Document<'a>, title: &str) -> roxmltree::Node<'a, 'a> {
    doc.descendants()
        .find(|n| n.has_tag_name("g") && n.attribute("data-panel") == Some(title))
        .unwrap_or_else(|| {
            let have: Vec<_> = doc
                .descendants()
                .filter_map(|n| n.attribute("data-panel"))
                .collect();
            panic!("no panel {title:?}; panels: {have:?}")
        })
}

/// A path's points, per pen-down segment, as (time ms, value) through the plot's scales.
fn series(plot: roxmltree::Node<'_, '_>, name: &str) -> Vec<Vec<(f64, f64)>> {
    let path = plot
        .children()
        .find(|n| n.has_tag_name("path") && n.attribute("data-series") == Some(name))
        .unwrap_or_else(|| panic!("no series {name:?}"));
    let (x0, x1, t0, t1) = (
        attr(plot, "data-x0"),
        attr(plot, "data-x1"),
        attr(plot, "data-t0"),
        attr(plot, "data-t1"),
    );
    let (y0, y1, v1) = (
        attr(plot, "data-y0"),
        attr(plot, "data-y1"),
        attr(plot, "data-v1"),
    );
    let mut segs: Vec<Vec<(f64, f64)>> = Vec::new();
    let words: Vec<&str> = path.attribute("d").unwrap().split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        let (cmd, x) = words[i].split_at(1);
        let y: f64 = words[i + 1].parse().unwrap();
        let x: f64 = x.parse().unwrap();
        if cmd == "M" {
            segs.push(Vec::new());
        } else {
            assert_eq!(cmd, "L", "{words:?}");
        }
        let t = t0 + (x - x0) / (x1 - x0) * (t1 - t0);
        let v = (y0 - y) / (y0 - y1) * v1;
        segs.last_mut().unwrap().push((t, v));
        i += 2;
    }
    segs
}

fn ms(iso: &str) -> f64 {
    iso.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{iso}: {e}"))
        .as_millisecond() as f64
}

fn run_ok(env: &Env, args: &[&str], now: &str) -> String {
    let out = env.cmd(args).env("NREC_NOW", now).output().unwrap();
    assert_success(&out);
    String::from_utf8(out.stdout).unwrap()
}

/// A day with two interfaces (one with a hostile name), a gap in recording and a reboot.
fn recorded_day(env: &Env) -> FakeProc {
    let mut p = FakeProc::new();
    p.ifaces.push(FakeIface::new(b"<script>\"&x\xff", 3));
    let mut m = 0;
    let mut step = |p: &mut FakeProc, minutes: i64, rx: u64, tx: u64| {
        m += minutes;
        p.iface(b"eth0").add(rx, rx / 1000, tx, tx / 1000);
        p.iface(b"<script>\"&x\xff").add(tx, 1, rx, 1);
        p.uptime_ms += minutes * 60_000;
        env.record_ok(p, &at(m));
    };
    step(&mut p, 0, 0, 0);
    for (i, rx) in [6_000_000u64, 12_000_000, 3_000_000]
        .into_iter()
        .enumerate()
    {
        step(&mut p, 10, rx, 600_000 * (i as u64 + 1));
    }
    // nothing recorded for an hour: the line breaks there
    step(&mut p, 60, 9_000_000, 100_000);
    step(&mut p, 10, 1_200_000, 1_200_000);
    // a reboot: counters from zero, a new boot id
    p.boot_id = "99999999-2222-3333-4444-555555555555".into();
    p.uptime_ms = 300_000;
    for i in &mut p.ifaces {
        i.c = [0; 16];
    }
    step(&mut p, 10, 4_800_000, 0);
    step(&mut p, 10, 2_400_000, 2_400_000);
    p
}

#[test]
fn report_svg_draws_the_reports_numbers_with_gaps_and_reboots() {
    let env = Env::new();
    recorded_day(&env);
    let now = at(200);
    let args = ["report", "-n", "DEV", "--date", "2026-11-22"];
    let svg = run_ok(&env, &[&args[..], &["--format", "svg"]].concat(), &now);
    let doc = parse(&svg);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    // no element, attribute or text of the document lets the hostile name out as markup
    assert!(!doc.descendants().any(|n| n.has_tag_name("script")));
    assert!(svg.contains("&lt;script&gt;&quot;&amp;x\\xff"), "{svg}");
    assert!(!svg.contains("<script"));
    let (h, rows) = parse_csv(&run_ok(
        &env,
        &[&args[..], &["--format", "csv"]].concat(),
        &now,
    ));
    let p = plot(&doc, "DEV: rxkB/s txkB/s");
    for (iface, column) in [("eth0", "rxkB/s"), ("eth0", "txkB/s")] {
        let drawn = series(p, &format!("{iface} {column}"));
        let printed: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| col(&h, r, "iface") == iface)
            .filter_map(|r| {
                let v = col(&h, r, column);
                (!v.is_empty()).then(|| (ms(col(&h, r, "time")), v.parse().unwrap()))
            })
            .collect();
        let flat: Vec<(f64, f64)> = drawn.iter().flatten().copied().collect();
        assert_eq!(
            flat.len(),
            printed.len(),
            "{iface} {column}: {drawn:?} vs {printed:?}"
        );
        let vmax = attr(p, "data-v1");
        for ((t, v), (pt, pv)) in flat.iter().zip(&printed) {
            assert!(
                (t - pt).abs() < 2_000.0,
                "{iface} {column}: drawn at {t}, printed at {pt}"
            );
            assert!(
                (v - pv).abs() <= vmax * 1e-4 + 0.01,
                "{iface} {column} at {pt}: drawn {v}, printed {pv}"
            );
        }
        // three runs of samples: before the hour without samples, after it, after the reboot
        assert_eq!(drawn.len(), 3, "{iface} {column}: {drawn:?}");
    }
    // the reboot is marked, its time in its tooltip
    assert!(
        doc.descendants()
            .any(|n| n.attribute("class") == Some("restart")),
        "{svg}"
    );
    // every point's exact value is in a tooltip: the band over its time says each series'
    let band = p
        .children()
        .filter(|n| n.attribute("class") == Some("hover"))
        .filter_map(|n| n.first_element_child().and_then(|t| t.text()))
        .find(|t| t.starts_with("2026-11-22 10:10:00\n"))
        .unwrap_or_else(|| panic!("no hover band at 10:10: {svg}"));
    assert!(band.contains("\neth0 rxkB/s: 9.765625\n"), "{band}");
}

#[test]
fn summary_svg_bars_hold_the_summary_bytes() {
    let env = Env::new();
    recorded_day(&env);
    let now = at(200);
    let args = ["summary", "--hourly", "--date", "2026-11-22"];
    let svg = run_ok(&env, &[&args[..], &["--format", "svg"]].concat(), &now);
    let doc = parse(&svg);
    let (h, rows) = parse_csv(&run_ok(
        &env,
        &[&args[..], &["--format", "csv"]].concat(),
        &now,
    ));
    let mut checked = 0;
    for r in &rows {
        let key = col(&h, r, "iface");
        let plot = doc
            .descendants()
            .find(|n| n.has_tag_name("g") && n.attribute("data-key") == Some(key))
            .unwrap_or_else(|| panic!("no chart for {key:?}"));
        let (y0, y1, v1) = (
            attr(plot, "data-y0"),
            attr(plot, "data-y1"),
            attr(plot, "data-v1"),
        );
        let period = col(&h, r, "period");
        for (class, column) in [("rx", "rx_bytes"), ("tx", "tx_bytes")] {
            let want: f64 = col(&h, r, column).parse().unwrap();
            let bar = plot
                .children()
                .filter(|n| n.attribute("class") == Some(class))
                .find(|n| {
                    n.children().any(|t| {
                        t.text()
                            .is_some_and(|t| t.starts_with(&format!("{key} {period} ")))
                    })
                })
                .unwrap_or_else(|| panic!("no {class} bar for {key} {period}"));
            assert_eq!(attr(bar, "data-bytes"), want);
            // its height is its bytes on the chart's scale
            let drawn = attr(bar, "height") / (y0 - y1) * v1;
            assert!(
                (drawn - want).abs() <= v1 * 1e-5,
                "{key} {period} {class}: {drawn} vs {want}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked} bars checked");
}

#[test]
fn top_svg_bars_hold_the_rows_bytes_and_escape_names() {
    let env = Env::new();
    let (n, m) = (400_000u64, 50_000u64);
    let (mut srv, mut cli) = peer_pair(("<svg onload=x>", "nrpic-cli"), n, m);
    env.record_live();
    cli.say("go");
    assert_eq!(cli.line(), "done");
    assert_eq!(srv.line(), "done");
    std::thread::sleep(std::time::Duration::from_millis(100));
    env.record_live();
    let now = jiff::Timestamp::now().to_string();
    for kind in ["top-procs", "top-ports", "top-hosts"] {
        let svg = run_ok(&env, &[kind, "--since", "1h", "--format", "svg"], &now);
        let doc = parse(&svg);
        assert!(
            !doc.descendants()
                .any(|n| n.has_tag_name("svg") && n.parent_element().is_some())
        );
        assert!(!svg.contains("<svg onload"), "{svg}");
        let (h, rows) = parse_csv(&run_ok(
            &env,
            &[kind, "--since", "1h", "--format", "csv"],
            &now,
        ));
        let plot = doc
            .descendants()
            .find(|n| n.attribute("class") == Some("plot"))
            .unwrap();
        let (x0, scale) = (attr(plot, "data-x0"), attr(plot, "data-scale"));
        let bars: Vec<roxmltree::Node<'_, '_>> =
            plot.children().filter(|n| n.has_tag_name("rect")).collect();
        // every row, (other …) and (unattributed) included, is a pair of bars in order
        assert_eq!(bars.len(), rows.len() * 2, "{kind}: {svg}");
        for (r, pair) in rows.iter().zip(bars.chunks(2)) {
            let (rx, tx): (f64, f64) = (
                col(&h, r, "rx_bytes").parse().unwrap(),
                col(&h, r, "tx_bytes").parse().unwrap(),
            );
            assert_eq!(attr(pair[0], "data-bytes"), rx, "{kind} {r:?}");
            assert_eq!(attr(pair[1], "data-bytes"), tx, "{kind} {r:?}");
            assert!((attr(pair[0], "width") - rx * scale).abs() < 0.01);
            assert!((attr(pair[1], "x") - (x0 + rx * scale)).abs() < 0.01);
            assert!((attr(pair[1], "width") - tx * scale).abs() < 0.01);
        }
        if kind == "top-procs" {
            let srv = rows
                .iter()
                .find(|r| col(&h, r, "name") == "<svg onload=x>")
                .expect("the server's row");
            assert!(col(&h, srv, "rx_bytes").parse::<u64>().unwrap() >= n);
            assert!(svg.contains("&lt;svg onload=x&gt;"), "{svg}");
        }
    }
}

/// The polygons of a stacked area's path (`M x y`, `H x`, `V y`, `Z`; absolute).
fn polygons(d: &str) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let (mut x, mut y) = (0.0, 0.0);
    let mut rest = d;
    while let Some(c) = rest.chars().next() {
        let end = rest[1..]
            .find(|c: char| c.is_ascii_alphabetic())
            .map_or(rest.len(), |i| i + 1);
        let nums: Vec<f64> = rest[1..end]
            .split_whitespace()
            .map(|n| n.parse().unwrap_or_else(|e| panic!("{n}: {e} in {d}")))
            .collect();
        match c {
            'M' => {
                (x, y) = (nums[0], nums[1]);
                out.push(vec![(x, y)]);
            }
            'H' => x = nums[0],
            'V' => y = nums[0],
            'Z' => {}
            c => panic!("unexpected {c} in {d}"),
        }
        if c == 'H' || c == 'V' {
            out.last_mut().unwrap().push((x, y));
        }
        rest = &rest[end..];
    }
    out
}

/// A polygon's area (shoelace).
fn area(p: &[(f64, f64)]) -> f64 {
    let n = p.len();
    (0..n)
        .map(|i| p[i].0 * p[(i + 1) % n].1 - p[(i + 1) % n].0 * p[i].1)
        .sum::<f64>()
        .abs()
        / 2.0
}

#[test]
fn top_svg_stacks_each_rows_bytes_over_time_where_they_were_sampled() {
    let env = Env::new();
    let (n, m) = (3_000_000u64, 200_000u64);
    let (mut a_srv, mut a_cli) = peer_pair(("nrwhen-a", "nrwhen-ac"), n, m);
    let (mut b_srv, mut b_cli) = peer_pair(("nrwhen-b", "nrwhen-bc"), 2 * n, m);
    // samples 5 minutes apart (on the pinned clock); A moves its bytes before the second, B
    // before the fourth
    let record = |minutes| {
        let out = env
            .cmd(&["record", "-q"])
            .env("NREC_NOW", at(minutes))
            .output()
            .unwrap();
        assert_success(&out);
    };
    record(0);
    a_cli.say("go");
    assert_eq!((a_cli.line(), a_srv.line()), ("done".into(), "done".into()));
    std::thread::sleep(std::time::Duration::from_millis(100));
    record(5);
    record(10);
    b_cli.say("go");
    assert_eq!((b_cli.line(), b_srv.line()), ("done".into(), "done".into()));
    std::thread::sleep(std::time::Duration::from_millis(100));
    record(15);
    let now = at(20);
    let args = ["top-procs", "--since", "25m"];
    let svg = run_ok(&env, &[&args[..], &["--format", "svg"]].concat(), &now);
    let doc = parse(&svg);
    let (h, rows) = parse_csv(&run_ok(
        &env,
        &[&args[..], &["--format", "csv"]].concat(),
        &now,
    ));
    let bytes = |name: &str, c: &str| -> u64 {
        let r = rows
            .iter()
            .find(|r| col(&h, r, "name") == name)
            .unwrap_or_else(|| panic!("no row {name}: {rows:?}"));
        col(&h, r, c).parse().unwrap()
    };
    assert!(bytes("nrwhen-a", "rx_bytes") >= n);
    assert!(bytes("nrwhen-b", "rx_bytes") >= 2 * n);
    for (panel, c) in [("received", "rx_bytes"), ("sent", "tx_bytes")] {
        let plot = plot(&doc, panel);
        let (x0, x1, t0, t1) = (
            attr(plot, "data-x0"),
            attr(plot, "data-x1"),
            attr(plot, "data-t0"),
            attr(plot, "data-t1"),
        );
        let (y0, y1, v1) = (
            attr(plot, "data-y0"),
            attr(plot, "data-y1"),
            attr(plot, "data-v1"),
        );
        // pixels² per byte: (px per ms × 1000 ms per s) × px per byte/s
        let px2 = (x1 - x0) / (t1 - t0) * 1000.0 * (y0 - y1) / v1;
        let layer = |name: &str| {
            plot.children()
                .find(|n| n.has_tag_name("path") && n.attribute("data-series") == Some(name))
                .unwrap_or_else(|| panic!("{panel}: no layer {name}: {svg}"))
        };
        for name in ["nrwhen-a", "nrwhen-b", "nrwhen-ac", "nrwhen-bc"] {
            // each layer's area is the row's bytes
            let drawn: f64 = polygons(layer(name).attribute("d").unwrap())
                .iter()
                .map(|p| area(p))
                .sum::<f64>()
                / px2;
            let want = bytes(name, c) as f64;
            assert!(
                (drawn - want).abs() <= want * 0.005 + 1.0 / px2,
                "{panel} {name}: drawn {drawn} B, the row says {want}"
            );
        }
        // each bucket's exact bytes per row (the hover titles): A's only in the buckets up to
        // the second sample, B's only after the third, and they add up to the rows
        let mut sums = std::collections::HashMap::<String, u64>::new();
        for band in plot
            .children()
            .filter(|n| n.attribute("class") == Some("hover"))
        {
            let x = attr(band, "x") + attr(band, "width") / 2.0;
            let t = t0 + (x - x0) / (x1 - x0) * (t1 - t0);
            let title = band.first_element_child().unwrap().text().unwrap();
            for line in title.lines().skip(1) {
                let (name, b) = line.rsplit_once(": ").unwrap();
                let b: u64 = b.trim_end_matches(" B").parse().unwrap();
                *sums.entry(name.to_string()).or_default() += b;
                if name.starts_with("nrwhen-a") {
                    assert!(t < ms(&at(5)), "{panel}: A at {t}");
                } else if name.starts_with("nrwhen-b") {
                    assert!(t > ms(&at(10)), "{panel}: B at {t}");
                }
            }
        }
        for name in ["nrwhen-a", "nrwhen-b", "nrwhen-ac", "nrwhen-bc"] {
            assert_eq!(
                sums.get(name).copied().unwrap_or(0),
                bytes(name, c),
                "{panel} {name}"
            );
        }
    }
}

/// Debian's chromium, when installed (CI installs it).
fn chromium() -> Option<std::path::PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
}

/// How a page rendered in headless chromium: its screenshot's distinct byte values (a blank
/// page has a handful), the browser's console lines, and the requests that left the page —
/// every request goes to a proxy that is a listener of this test's, which reads its first
/// line. Chromium's own calls home (update, time, account services) are not the page's.
struct Rendered {
    distinct: usize,
    console: Vec<String>,
    requests: Vec<String>,
}

/// A request chromium makes for itself, whatever page it shows.
fn browser_own(request: &str) -> bool {
    let target = request.split_whitespace().nth(1).unwrap_or("");
    let host = target
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    ["google.com", "googleapis.com", "gstatic.com", "gvt1.com"]
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

fn render(browser: &std::path::Path, page: &std::path::Path, dir: &std::path::Path) -> Rendered {
    use std::sync::atomic::Ordering;
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let proxy = trap.local_addr().unwrap();
    let shot = dir.join(format!(
        "{}.png",
        page.file_name().unwrap().to_string_lossy()
    ));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let counter = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !done.load(Ordering::SeqCst) {
                match trap.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                        let mut buf = [0u8; 512];
                        let n = std::io::Read::read(&mut c, &mut buf).unwrap_or(0);
                        let line = String::from_utf8_lossy(&buf[..n])
                            .lines()
                            .next()
                            .unwrap_or("")
                            .to_string();
                        if !browser_own(&line) {
                            seen.push(line);
                        }
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
            seen
        })
    };
    let profile = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=900,1200",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--proxy-server=http://{proxy}"))
        .arg("--proxy-bypass-list=<-loopback>")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // bounded: a browser that hangs is ended (by its PID) and the test fails
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish {} in 90 s", page.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    done.store(true, Ordering::SeqCst);
    let requests = counter.join().unwrap();
    assert!(
        status.success(),
        "chromium failed on {}: {err}",
        page.display()
    );
    let console = err
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Failed to load"))
        .map(String::from)
        .collect();
    Rendered {
        distinct: distinct_bytes(&shot),
        console,
        requests,
    }
}

/// A PNG's distinct bytes of inflated image data (python3's zlib): a blank image has a few.
fn distinct_bytes(png: &std::path::Path) -> usize {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, zlib, struct\n\
             b = open(sys.argv[1], 'rb').read(); assert b[:8] == b'\\x89PNG\\r\\n\\x1a\\n'\n\
             i, idat = 8, b''\n\
             while i < len(b):\n\
             \x20   n, t = struct.unpack('>I4s', b[i:i+8]); i += 8\n\
             \x20   if t == b'IDAT': idat += b[i:i+n]\n\
             \x20   i += n + 4\n\
             print(len(set(zlib.decompress(idat))))",
        )
        .arg(png)
        .output()
        .unwrap();
    assert_success(&out);
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn pictures_render_in_a_real_browser_without_errors_or_requests() {
    let Some(browser) = chromium() else {
        return skip(
            "pictures_render_in_a_real_browser_without_errors_or_requests",
            "chromium is not installed (CI installs Debian's)",
        );
    };
    let env = Env::new();
    recorded_day(&env);
    let now = at(200);
    let dir = tempfile::tempdir().unwrap();
    // a blank page, for the screenshot's baseline
    let blank = dir.path().join("blank.svg");
    std::fs::write(
        &blank,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"600\"/>",
    )
    .unwrap();
    let baseline = render(&browser, &blank, dir.path());
    // the detectors detect: a page that fetches an image and logs an error is caught
    let leaky = dir.path().join("leaky.svg");
    std::fs::write(
        &leaky,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"600\">\
         <image href=\"http://nrec-test.invalid/x.png\" width=\"10\" height=\"10\"/>\
         <script>console.error('nrec-test')</script></svg>",
    )
    .unwrap();
    let caught = render(&browser, &leaky, dir.path());
    assert!(
        caught
            .requests
            .iter()
            .any(|r| r.contains("nrec-test.invalid")),
        "the proxy saw no request: {:?}",
        caught.requests
    );
    assert!(
        caught.console.iter().any(|l| l.contains("nrec-test")),
        "no console line: {:?}",
        caught.console
    );
    for (name, args) in [
        (
            "report.svg",
            &["report", "-n", "DEV,SOCK", "--date", "2026-11-22"][..],
        ),
        (
            "summary.svg",
            &["summary", "--hourly", "--date", "2026-11-22"][..],
        ),
        ("page.html", &["html", "--date", "2026-11-22"][..]),
    ] {
        let format: &[&str] = if name.ends_with(".svg") {
            &["--format", "svg"]
        } else {
            &[]
        };
        let svg = run_ok(&env, &[args, format].concat(), &now);
        // nothing in the document refers outside it
        for bad in ["href", "src=", "url(", "<script", "@import"] {
            assert!(!svg.contains(bad), "{name} holds {bad:?}");
        }
        let page = dir.path().join(name);
        std::fs::write(&page, &svg).unwrap();
        let r = render(&browser, &page, dir.path());
        assert!(r.console.is_empty(), "{name}: console: {:?}", r.console);
        assert!(
            r.requests.is_empty(),
            "{name}: requests left the page: {:?}",
            r.requests
        );
        assert!(
            r.distinct > baseline.distinct + 20,
            "{name}: the screenshot is blank ({} distinct bytes, a blank page {})",
            r.distinct,
            baseline.distinct
        );
    }
}

#[test]
fn html_page_is_self_contained_and_made_of_the_commands_own_parts() {
    let env = Env::new();
    recorded_day(&env);
    let now = at(200);
    let page = run_ok(&env, &["html", "--date", "2026-11-22"], &now);
    assert!(page.starts_with("<!DOCTYPE html>\n<html"), "{page}");
    // well-formed throughout: a strict XML parser reads it
    let doc = parse(&page);
    let svgs = doc.descendants().filter(|n| n.has_tag_name("svg")).count();
    assert!(svgs >= 7, "{svgs} pictures");
    let titles: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("h2"))
        .filter_map(|n| n.text())
        .collect();
    for t in [
        "Interfaces",
        "Sockets",
        "Processes",
        "Ports",
        "Remote hosts",
        "Days",
        "Recorder",
    ] {
        assert!(titles.contains(&t), "no section {t}: {titles:?}");
    }
    // nothing that runs or fetches; the hostile interface name only as text
    for bad in [
        "<script", "href=", "src=", "url(", "@import", "<link", "<iframe",
    ] {
        assert!(!page.contains(bad), "the page holds {bad:?}");
    }
    assert!(!doc.descendants().any(|n| n.has_tag_name("script")));
    // each part is what the command prints
    for args in [
        &[
            "report",
            "-n",
            "DEV",
            "--format",
            "svg",
            "--date",
            "2026-11-22",
        ][..],
        &[
            "top-hosts",
            "--limit",
            "10",
            "--format",
            "svg",
            "--date",
            "2026-11-22",
        ][..],
        &["summary", "--daily", "--format", "svg"][..],
    ] {
        let part = run_ok(&env, args, &now);
        assert!(
            page.contains(part.trim_end()),
            "{args:?} is not in the page"
        );
    }
    // the text tables read as the commands print them, line for line (issue 31 item 3: they
    // were one line, their breaks written `\x0a`)
    let pre_of = |title: &str| -> String {
        let h2 = doc
            .descendants()
            .find(|n| n.has_tag_name("h2") && n.text() == Some(title))
            .unwrap_or_else(|| panic!("no section {title}"));
        let pre = h2
            .parent()
            .unwrap()
            .children()
            .find(|n| n.has_tag_name("pre"))
            .unwrap_or_else(|| panic!("no text table in {title}"));
        pre.descendants()
            .filter(|n| n.is_text())
            .filter_map(|n| n.text())
            .collect()
    };
    for (title, args) in [
        (
            "Processes",
            &["top-procs", "--limit", "10", "--date", "2026-11-22"][..],
        ),
        (
            "Ports",
            &["top-ports", "--limit", "10", "--date", "2026-11-22"][..],
        ),
        (
            "Remote hosts",
            &["top-hosts", "--limit", "10", "--date", "2026-11-22"][..],
        ),
        ("Recorder", &["status"][..]),
    ] {
        let want = run_ok(&env, args, &now);
        let got = pre_of(title);
        assert!(want.lines().count() > 1, "{args:?}: {want}");
        assert_eq!(
            got.lines().collect::<Vec<_>>(),
            want.lines().collect::<Vec<_>>(),
            "{title}: the page's text is the command's"
        );
    }
    // a bad window is the command line's error, before anything is written
    let out = env
        .cmd(&["html", "--since", "yesterday-ish"])
        .env("NREC_NOW", &now)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn png_is_the_svg_picture_rasterised_and_refused_on_a_terminal() {
    let env = Env::new();
    recorded_day(&env);
    let now = at(200);
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["summary", "--hourly", "--date", "2026-11-22"][..],
        &["report", "-n", "DEV", "--date", "2026-11-22"][..],
    ] {
        let svg = run_ok(&env, &[args, &["--format", "svg"]].concat(), &now);
        let out = env
            .cmd(&[args, &["--format", "png"]].concat())
            .env("NREC_NOW", &now)
            .output()
            .unwrap();
        assert_success(&out);
        let png = out.stdout;
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{args:?}");
        // IHDR: the SVG's own size
        let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
        let doc = parse(&svg);
        let root = doc.root_element();
        assert_eq!(
            (f64::from(w), f64::from(h)),
            (attr(root, "width"), attr(root, "height"))
        );
        let file = dir.path().join("p.png");
        std::fs::write(&file, &png).unwrap();
        assert!(distinct_bytes(&file) > 100, "{args:?}: a blank image");
    }
    // an image is not written to a terminal: `script` gives the command one
    let bin = env!("CARGO_BIN_EXE_nrec");
    let db = env.db.display().to_string();
    let out = std::process::Command::new("script")
        .args(["-qec"])
        .arg(format!("{bin} --db {db} summary --format png"))
        .arg("/dev/null")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("redirect it to a file"), "{text}");
}
