//! The source tree's shape: modules import each other without cycles (data flows one way, from
//! the command line to the image), the page tools do not depend on the linker, and the layout
//! stage's functions stay short enough to read.
//!
//! The module graph is read from the sources themselves: every `use` tree and every qualified
//! path (`crate::`, `super::`, `self::`, or a child module's name) is an edge from the file it
//! appears in to the deepest module it names. `mod x;` declarations are not edges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every source file with its module path (`src/lib.rs` is the crate root).
fn modules() -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, prefix: &Module, out: &mut BTreeMap<Module, PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                let mut m = prefix.clone();
                m.push(name);
                walk(&p, &m, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let mut m = prefix.clone();
                // `lib.rs` is the crate root; `main.rs`, the command, is a module of its own
                // that reaches the library through `spacer::` paths.
                if !(name == "mod" || (prefix.is_empty() && name == "lib")) {
                    m.push(name);
                }
                out.insert(m, p);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&src_dir(), &Vec::new(), &mut out);
    out
}

/// The text without comments, string and character literals (which may mention paths).
fn strip(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                out.push(' ');
            }
            b'r' if b.get(i + 1) == Some(&b'#') || b.get(i + 1) == Some(&b'"') => {
                // Raw string r"..." or r#"..."#.
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                j += 1;
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                while j < b.len() && !b[j..].starts_with(&close) {
                    j += 1;
                }
                i = j + close.len();
                out.push_str("\"\"");
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            b'\'' => {
                // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
                let end = if b.get(i + 1) == Some(&b'\\') {
                    b[i + 2..]
                        .iter()
                        .position(|&c| c == b'\'')
                        .map(|p| i + 2 + p)
                } else if b.get(i + 2) == Some(&b'\'') {
                    Some(i + 2)
                } else {
                    None
                };
                match end {
                    Some(e) => {
                        out.push_str("' '");
                        i = e + 1;
                    }
                    None => {
                        out.push('\'');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Colons,
    Open,
    Close,
    Comma,
    Semi,
    Other,
}

fn tokens(text: &str) -> Vec<Tok> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_alphabetic() || c == b'_' {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(text[s..i].to_string()));
            continue;
        }
        out.push(match c {
            b':' if b.get(i + 1) == Some(&b':') => {
                i += 1;
                Tok::Colons
            }
            b'{' => Tok::Open,
            b'}' => Tok::Close,
            b',' => Tok::Comma,
            b';' => Tok::Semi,
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            _ => Tok::Other,
        });
        i += 1;
    }
    out
}

/// The paths a file names: the leaves of its `use` trees and its other qualified paths.
fn paths(toks: &[Tok]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        // Inline modules (`mod tests { ... }`) have paths of their own; test code is not part
        // of the product's module graph.
        if toks[i] == Tok::Ident("mod".into()) && toks.get(i + 2) == Some(&Tok::Open) {
            let mut depth = 0;
            i += 2;
            while i < toks.len() {
                match toks[i] {
                    Tok::Open => depth += 1,
                    Tok::Close => depth -= 1,
                    _ => {}
                }
                i += 1;
                if depth == 0 {
                    break;
                }
            }
            continue;
        }
        if toks[i] == Tok::Ident("use".into()) {
            i = use_tree(toks, i + 1, &mut Vec::new(), &mut out);
            continue;
        }
        if let Tok::Ident(first) = &toks[i] {
            let prev_colons = i > 0 && toks[i - 1] == Tok::Colons;
            if !prev_colons && toks.get(i + 1) == Some(&Tok::Colons) {
                let mut p = vec![first.clone()];
                let mut j = i + 1;
                while toks.get(j) == Some(&Tok::Colons) {
                    match toks.get(j + 1) {
                        Some(Tok::Ident(s)) => p.push(s.clone()),
                        _ => break,
                    }
                    j += 2;
                }
                out.push(p);
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Reads one `use` tree from `i` (after `use` or a `{`), pushing complete paths to `out`;
/// returns the index after it.
fn use_tree(
    toks: &[Tok],
    mut i: usize,
    prefix: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    let depth = prefix.len();
    loop {
        match toks.get(i) {
            Some(Tok::Ident(s)) if s != "as" => {
                prefix.push(s.clone());
                i += 1;
            }
            Some(Tok::Colons) => i += 1,
            Some(Tok::Open) => {
                let mut j = i + 1;
                loop {
                    j = use_tree(toks, j, prefix, out);
                    match toks.get(j) {
                        Some(Tok::Comma) => j += 1,
                        _ => break,
                    }
                    if toks.get(j) == Some(&Tok::Close) {
                        break;
                    }
                }
                prefix.truncate(depth);
                return j + 1;
            }
            Some(Tok::Ident(_)) => {
                // `as NAME`
                i += 2;
            }
            _ => {
                if prefix.len() > depth {
                    out.push(prefix.clone());
                }
                prefix.truncate(depth);
                if matches!(toks.get(i), Some(Tok::Semi)) {
                    i += 1;
                }
                return i;
            }
        }
    }
}

/// The deepest module a path from `from` names, if it names one of this crate's.
fn resolve(from: &Module, path: &[String], mods: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    let mut at: Module;
    let mut rest = path;
    match path.first()?.as_str() {
        "crate" => {
            at = Vec::new();
            rest = &path[1..];
        }
        "self" => {
            at = from.clone();
            rest = &path[1..];
        }
        "super" => {
            at = from.clone();
            while rest.first().is_some_and(|s| s == "super") {
                at.pop();
                rest = &rest[1..];
            }
        }
        first => {
            let mut child = from.clone();
            child.push(first.to_string());
            if !mods.contains_key(&child) {
                return None;
            }
            at = from.clone();
        }
    }
    for seg in rest {
        let mut next = at.clone();
        next.push(seg.clone());
        if mods.contains_key(&next) {
            at = next;
        } else {
            break;
        }
    }
    Some(at)
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let mods = modules();
    let mut g: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, file) in &mods {
        let text = strip(&std::fs::read_to_string(file).unwrap());
        let edges = g.entry(m.clone()).or_default();
        for p in paths(&tokens(&text)) {
            if let Some(t) = resolve(m, &p, &mods) {
                if &t != m {
                    edges.insert(t);
                }
            }
        }
    }
    g
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// Strongly connected components of more than one module (Tarjan's algorithm).
fn cycles(g: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct St<'a> {
        g: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on: BTreeSet<&'a Module>,
        out: Vec<Vec<Module>>,
    }
    fn visit<'a>(st: &mut St<'a>, v: &'a Module) {
        let n = st.index.len();
        st.index.insert(v, n);
        st.low.insert(v, n);
        st.stack.push(v);
        st.on.insert(v);
        for w in st.g.get(v).into_iter().flatten() {
            let Some((w, _)) = st.g.get_key_value(w) else {
                continue;
            };
            if !st.index.contains_key(w) {
                visit(st, w);
                let l = st.low[w].min(st.low[v]);
                st.low.insert(v, l);
            } else if st.on.contains(w) {
                let l = st.index[w].min(st.low[v]);
                st.low.insert(v, l);
            }
        }
        if st.low[v] == st.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = st.stack.pop().unwrap();
                st.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                st.out.push(comp);
            }
        }
    }
    let mut st = St {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !st.index.contains_key(v) {
            visit(&mut st, v);
        }
    }
    st.out
}

#[test]
fn the_checker_sees_a_cycle() {
    // The check must be able to fail: two modules naming each other form a cycle.
    let a: Module = vec!["a".into()];
    let b: Module = vec!["b".into()];
    let mut g = BTreeMap::new();
    g.insert(a.clone(), BTreeSet::from([b.clone()]));
    g.insert(b.clone(), BTreeSet::from([a.clone()]));
    assert_eq!(cycles(&g), vec![vec![a, b]]);
    // And it reads edges from real syntax: use trees, nested groups, inline paths.
    let toks = tokens(&strip(
        "use crate::x::{y, z::{w as v}}; // crate::comment\nfn f() { super::q::r(); let s = \"crate::str\"; }",
    ));
    let p = paths(&toks);
    assert!(
        p.contains(&vec!["crate".into(), "x".into(), "y".into()]),
        "{p:?}"
    );
    assert!(
        p.contains(&vec!["crate".into(), "x".into(), "z".into(), "w".into()]),
        "{p:?}"
    );
    assert!(
        p.contains(&vec!["super".into(), "q".into(), "r".into()]),
        "{p:?}"
    );
    assert!(!p
        .iter()
        .any(|x| x.contains(&"comment".to_string()) || x.contains(&"str".to_string())));
}

#[test]
fn modules_import_each_other_without_cycles() {
    let g = graph();
    assert!(g.len() > 20, "found only {} modules under src/", g.len());
    let cyc = cycles(&g);
    let text: Vec<String> = cyc
        .iter()
        .map(|c| c.iter().map(name).collect::<Vec<_>>().join(" <-> "))
        .collect();
    assert!(
        cyc.is_empty(),
        "import cycles among src/ modules:\n{}",
        text.join("\n")
    );
}

#[test]
fn page_tools_do_not_depend_on_the_linker() {
    let g = graph();
    let pages: Vec<&Module> = g
        .keys()
        .filter(|m| m.first().is_some_and(|s| s == "pages"))
        .collect();
    assert!(!pages.is_empty(), "no src/pages modules");
    for m in pages {
        for t in &g[m] {
            assert!(
                t.first().is_none_or(|s| s != "linker"),
                "{} uses {}: the page tools must read images, not link them",
                name(m),
                name(t)
            );
        }
    }
}

/// Functions of `text` longer than `max` lines, by name.
fn long_functions(text: &str, max: usize) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        let indent = l.len() - t.len();
        let t = t
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub ");
        let Some(rest) = t.strip_prefix("fn ") else {
            continue;
        };
        if l.trim_end().ends_with(';') {
            continue;
        }
        let fn_name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let end = lines[i + 1..]
            .iter()
            .position(|x| {
                x.len() > indent && x[..indent].trim().is_empty() && x[indent..].starts_with('}')
            })
            .map(|p| i + 1 + p)
            .unwrap_or(lines.len() - 1);
        if end + 1 - i > max {
            out.push((fn_name, end + 1 - i));
        }
    }
    out
}

#[test]
fn layout_stage_functions_are_short() {
    let mods = modules();
    let mut long = Vec::new();
    let mut seen = 0;
    for (m, file) in &mods {
        if m.len() >= 2 && m[0] == "linker" && m[1] == "layout" {
            seen += 1;
            for (f, n) in long_functions(&std::fs::read_to_string(file).unwrap(), 150) {
                long.push(format!("{}: {f} ({n} lines)", file.display()));
            }
        }
    }
    assert!(
        seen >= 3,
        "expected the layout stage split into several files"
    );
    assert!(
        long.is_empty(),
        "functions over 150 lines:\n{}",
        long.join("\n")
    );
    // The measure itself works.
    let body = format!("fn big() {{\n{}}}\n", "    x();\n".repeat(200));
    assert_eq!(long_functions(&body, 150), vec![("big".to_string(), 202)]);
}
