//! The import graph of `src/`: which file uses which, and whether every arrow points down.
//!
//! Reads the library's sources (not `main.rs` or `src/bin/`), finds every `crate::` and
//! `super::` path, resolves it to the file that defines that module, and checks the floors
//! of `docs/architecture.md`:
//! - no import circle whose files lie in different folders;
//! - an arrow from a lower floor to a higher one only where `ALLOWED_UPWARD` names it.
//!
//! `cargo test --test architecture -- --nocapture` prints the whole graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The floors, lowest first. A file's floor is that of its top-level module (the folder
/// under `src/`, or the file itself). Imports may point to the same floor or lower.
const FLOORS: &[(&str, &[&str])] = &[
    (
        "ground",
        &[
            "domain",
            "secret",
            "telemetry",
            "periodic",
            "secret_file",
            "test_log",
            "ops",
        ],
    ),
    (
        "infrastructure",
        &["store", "bus", "providers", "media", "wire"],
    ),
    (
        "services",
        &[
            "tasks",
            "billing",
            "auth",
            "accounts",
            "housekeeping",
            "error",
            "showcase",
            "uploads",
        ],
    ),
    (
        "edges",
        &["routes", "hub", "http", "cli", "compat", "state", "config"],
    ),
    ("wiring", &["startup", "lib"]),
];

/// Upward arrows that are allowed, each with its reason (also in the closing note).
const ALLOWED_UPWARD: &[(&str, &str, &str)] = &[];

fn floor_of(module: &str) -> usize {
    let top = module.split("::").next().unwrap_or(module);
    FLOORS
        .iter()
        .position(|(_, mods)| mods.contains(&top))
        .unwrap_or_else(|| panic!("module `{top}` has no floor in tests/architecture.rs"))
}

/// `src/a/b.rs` -> `a::b`, `src/a/mod.rs` -> `a`, `src/lib.rs` -> `lib`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().map(String::as_str) == Some("mod") {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().unwrap() != "bin" {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().unwrap() != "main.rs"
        {
            out.push(path);
        }
    }
}

/// The text with comments, string and char literals blanked, so paths in docs don't count.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'r' && (b[i..].starts_with(b"r#\"") || b[i..].starts_with(b"r\"")) {
            let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            i += 2 + hashes;
            while i < b.len() && !b[i..].starts_with(&close) {
                i += 1;
            }
            i += close.len();
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal ('x' or '\n'); lifetimes ('a) are left alone.
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Every path that starts at `crate::` or `super::`, with use-tree braces expanded.
fn paths_in(code: &str, module: &str, is_mod_rs: bool) -> Vec<Vec<String>> {
    let tokens = tokenize(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        let starts = (t == "crate" || t == "super")
            && tokens.get(i + 1).map(String::as_str) == Some("::")
            && (i == 0 || tokens[i - 1] != "::");
        if !starts {
            i += 1;
            continue;
        }
        // The module the path starts from.
        let mut base: Vec<String> = if t == "crate" {
            vec![]
        } else {
            let mut m: Vec<String> = module.split("::").map(String::from).collect();
            if !is_mod_rs {
                m.pop();
            }
            m
        };
        let mut j = i + 2;
        while tokens.get(j).map(String::as_str) == Some("super")
            && tokens.get(j + 1).map(String::as_str) == Some("::")
        {
            base.pop();
            j += 2;
        }
        let mut found = Vec::new();
        j = use_tree(&tokens, j, base, &mut found);
        out.extend(found);
        i = j.max(i + 1);
    }
    out
}

fn use_tree(
    tokens: &[String],
    mut j: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    loop {
        match tokens.get(j).map(String::as_str) {
            Some("{") => {
                j += 1;
                loop {
                    match tokens.get(j).map(String::as_str) {
                        Some("}") => return j + 1,
                        Some(",") => j += 1,
                        None => return j,
                        _ => j = use_tree(tokens, j, prefix.clone(), out),
                    }
                }
            }
            Some(t) if is_ident(t) => {
                prefix.push(t.to_string());
                j += 1;
                if tokens.get(j).map(String::as_str) == Some("::") {
                    j += 1;
                    continue;
                }
                out.push(prefix);
                return j;
            }
            _ => {
                out.push(prefix);
                return j;
            }
        }
    }
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

fn tokenize(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = code.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_alphanumeric() || c == '_' {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_alphanumeric() || c == '_' {
                    w.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push(w);
        } else if c == ':' {
            chars.next();
            if chars.peek() == Some(&':') {
                chars.next();
                tokens.push("::".into());
            } else {
                tokens.push(":".into());
            }
        } else if c.is_whitespace() {
            chars.next();
        } else {
            tokens.push(c.to_string());
            chars.next();
        }
    }
    tokens
}

struct Graph {
    /// file module -> modules it imports (other files only).
    edges: BTreeMap<String, BTreeSet<String>>,
}

fn build_graph() -> Graph {
    // ARCH_SRC measures another tree (an older checkout, for comparison).
    let src = std::env::var_os("ARCH_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let is_mod_rs =
            file.file_name().unwrap() == "mod.rs" || file.file_name().unwrap() == "lib.rs";
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        let targets = edges.entry(module.clone()).or_default();
        for path in paths_in(&code, &module, is_mod_rs) {
            // The longest prefix of the path that is a file of ours.
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| modules.contains(m));
            if let Some(t) = target {
                if t != module && !is_ancestor(&t, &module) && !is_ancestor(&module, &t) {
                    targets.insert(t);
                }
            }
        }
    }
    Graph { edges }
}

/// `a` is a parent module of `b` (`hub` of `hub::session`): a folder's `mod.rs` and its
/// children are one unit for this check.
fn is_ancestor(a: &str, b: &str) -> bool {
    b.starts_with(a) && b[a.len()..].starts_with("::")
}

fn top(m: &str) -> &str {
    m.split("::").next().unwrap()
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        for w in g.edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on: BTreeSet::new(),
        out: vec![],
    };
    for v in g.edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn imports_point_down() {
    let g = build_graph();
    let arrows: usize = g.edges.values().map(BTreeSet::len).sum();
    println!("{arrows} import arrows between {} files", g.edges.len());
    let mut upward = Vec::new();
    for (from, tos) in &g.edges {
        for to in tos {
            let (ff, ft) = (floor_of(from), floor_of(to));
            let mark = if ft > ff { "  UP" } else { "" };
            println!("  {from} -> {to}{mark}");
            if ft > ff {
                upward.push((from.clone(), to.clone()));
            }
        }
    }
    let mut problems = Vec::new();
    for (from, to) in &upward {
        let allowed = ALLOWED_UPWARD.iter().any(|(f, t, _)| f == from && t == to);
        if !allowed {
            problems.push(format!(
                "upward arrow {from} ({}) -> {to} ({})",
                FLOORS[floor_of(from)].0,
                FLOORS[floor_of(to)].0
            ));
        }
    }
    for comp in cycles(&g) {
        let folders: BTreeSet<&str> = comp.iter().map(|m| top(m)).collect();
        println!("circle: {}", comp.join(", "));
        if folders.len() > 1 {
            problems.push(format!("import circle across folders: {}", comp.join(", ")));
        }
    }
    println!("{} upward arrows", upward.len());
    assert!(
        ALLOWED_UPWARD.len() <= 3,
        "at most three upward arrows may be allowed"
    );
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_paths_in_use_trees_and_ignores_comments() {
    let code = code_only(
        "use crate::{a::b, c::{d, e::f}};\n// use crate::zz;\nlet s = \"crate::yy\";\nsuper::g::h();",
    );
    let paths = paths_in(&code, "x::y", false);
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(joined, ["a::b", "c::d", "c::e::f", "x::g::h"]);
}
