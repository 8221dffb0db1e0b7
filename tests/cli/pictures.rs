//! Pictures (issue 14): every SVG parses as XML, draws the numbers the report prints (the
//! test reads the drawn geometry back through the scales each plot states), escapes hostile
//! names, and renders in a real browser.

use crate::harness::*;

/// Parses an SVG document; panics with the parser's message (an SVG that is not XML).
fn parse(text: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(text).unwrap_or_else(|e| panic!("not XML: {e}\n{text}"))
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
    let mut srv = Peer::spawn(
        None,
        &[
            "server",
            "<svg onload=x>",
            "127.0.0.1",
            "0",
            &n.to_string(),
            &m.to_string(),
        ],
    );
    let port = srv.line();
    let mut cli = Peer::spawn(
        None,
        &[
            "client",
            "nrpic-cli",
            "127.0.0.1",
            &port,
            &n.to_string(),
            &m.to_string(),
        ],
    );
    assert_eq!(cli.line(), "ready");
    assert_eq!(srv.line(), "ready");
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
