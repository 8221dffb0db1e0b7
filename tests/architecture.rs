//! The layering docs/ARCHITECTURE.md §2 states, checked against the code: each crate's
//! workspace dependencies are the ones its table allows, SQLite and clap stay in their crates,
//! and no two modules of a crate import each other.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The names a manifest section lists (`name = …`, `name.workspace = true`).
fn section(manifest: &str, name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut inside = false;
    for line in manifest.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            inside = l == format!("[{name}]");
            continue;
        }
        if inside && !l.is_empty() && !l.starts_with('#') {
            let key = l.split(['=', '.', ' ']).next().unwrap_or_default();
            out.insert(key.to_string());
        }
    }
    out
}

/// The workspace's crates: name → manifest text.
fn manifests() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    out.insert(
        "nrec".to_string(),
        std::fs::read_to_string(root().join("Cargo.toml")).unwrap(),
    );
    for dir in ["sys", "model", "collect", "store", "report"] {
        let text =
            std::fs::read_to_string(root().join("crates").join(dir).join("Cargo.toml")).unwrap();
        out.insert(format!("nrec-{dir}"), text);
    }
    out
}

/// §2's table: crate → the workspace crates it may depend on.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    let all: Vec<String> = ["sys", "model", "collect", "store", "report"]
        .iter()
        .map(|c| format!("nrec-{c}"))
        .collect();
    let mut out = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with("`nrec") {
            continue;
        }
        let name = cells[1]
            .trim_matches('`')
            .split_whitespace()
            .next()
            .unwrap()
            .trim_matches('`')
            .to_string();
        let deps: BTreeSet<String> = match cells[2] {
            "—" => BTreeSet::new(),
            "all" => all.iter().cloned().collect(),
            list => list
                .split(',')
                .map(|d| format!("nrec-{}", d.trim()))
                .collect(),
        };
        out.insert(name, deps);
    }
    out
}

#[test]
fn every_crate_depends_on_what_architecture_allows_and_no_more() {
    let doc = documented();
    let m = manifests();
    assert_eq!(
        doc.keys().collect::<Vec<_>>(),
        m.keys().collect::<Vec<_>>(),
        "§2's table names the workspace's crates"
    );
    for (name, text) in &m {
        let deps: BTreeSet<String> = section(text, "dependencies")
            .into_iter()
            .filter(|d| d.starts_with("nrec-"))
            .collect();
        assert_eq!(&deps, &doc[name], "{name}: its workspace dependencies");
        let others = section(text, "dependencies");
        assert_eq!(
            others.contains("rusqlite"),
            name == "nrec-store",
            "{name}: only the store speaks SQL"
        );
        assert_eq!(
            others.contains("clap"),
            name == "nrec",
            "{name}: only the binary parses a command line"
        );
    }
}

/// The `.rs` files of a crate's `src`, relative to it.
fn sources(src: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p.strip_prefix(src).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// A source file's module path (`derive/iface.rs` → `derive::iface`, `derive/mod.rs` →
/// `derive`, `lib.rs` → ``).
fn module_of(file: &Path) -> String {
    let mut parts: Vec<String> = file
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// The modules of the crate a file's code (not its tests) names, by `crate::a::b` and
/// `super::x` paths resolved to the files that exist.
fn imports(text: &str, module: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let parent: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("crate::") || w.starts_with("super::"))
        .collect();
    for w in words {
        let mut path: Vec<String> = Vec::new();
        let mut segs = w.split("::").filter(|s| !s.is_empty());
        match segs.next() {
            Some("crate") => {}
            Some("super") => {
                let up = parent.len().saturating_sub(1);
                path.extend(parent[..up].iter().map(|s| s.to_string()));
            }
            _ => continue,
        }
        for s in segs {
            path.push(s.to_string());
        }
        // the longest prefix that is a module of the crate
        while !path.is_empty() && !known.contains(&path.join("::")) {
            path.pop();
        }
        let target = path.join("::");
        if !target.is_empty() && target != module {
            out.insert(target);
        }
    }
    out
}

/// A module and the modules inside it are one unit (a folder's `mod.rs` declares and
/// re-exports its files): an edge between them is not an import between two modules.
fn related(a: &str, b: &str) -> bool {
    a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"))
}

/// A cycle in the graph, if any.
fn cycle(graph: &HashMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &HashMap<String, BTreeSet<String>>,
        state: &mut HashMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()) {
                Some(1) => {
                    let i = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut c = stack[i..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = HashMap::new();
    let mut names: Vec<&String> = graph.keys().collect();
    names.sort();
    for n in names {
        if !state.contains_key(n.as_str()) {
            if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    for dir in [
        "crates/sys/src",
        "crates/model/src",
        "crates/collect/src",
        "crates/store/src",
        "crates/report/src",
        "src",
    ] {
        let src = root().join(dir);
        let files = sources(&src);
        let known: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
        let mut graph: HashMap<String, BTreeSet<String>> = HashMap::new();
        for f in &files {
            let m = module_of(f);
            let text = std::fs::read_to_string(src.join(f)).unwrap();
            let edges = imports(&text, &m, &known)
                .into_iter()
                .filter(|t| !related(&m, t))
                .collect();
            graph.insert(m, edges);
        }
        assert!(
            graph.values().map(BTreeSet::len).sum::<usize>() > 0 || files.len() == 1,
            "{dir}: no import read at all"
        );
        if let Some(c) = cycle(&graph) {
            panic!("{dir}: modules import each other: {}", c.join(" → "));
        }
    }
}

#[test]
fn the_module_graph_reader_sees_a_cycle() {
    // the check above would pass on anything if it read no edge: a made-up cycle is found
    let known: BTreeSet<String> = ["a", "b", "c", "c::d"].map(String::from).into();
    let mut g = HashMap::new();
    g.insert("a".to_string(), imports("use crate::b::X;", "a", &known));
    g.insert(
        "b".to_string(),
        imports("fn f() { crate::c::d::g() }", "b", &known),
    );
    g.insert("c::d".to_string(), imports("use crate::a;", "c::d", &known));
    g.insert("c".to_string(), BTreeSet::new());
    assert_eq!(g["b"], BTreeSet::from(["c::d".to_string()]));
    assert!(cycle(&g).is_some());
    g.insert("c::d".to_string(), imports("use super::Y;", "c::d", &known));
    assert_eq!(g["c::d"], BTreeSet::from(["c".to_string()]));
    assert!(cycle(&g).is_none());
}
