//! The library's module graph has no cycles between top-level modules.
//!
//! Reads `src/` (the library, not `src/bin/`), finds every module dependency written in the
//! code — `use` trees (`use crate::{a, b::c}`, `use super::x`, a child module used by its
//! relative name) and paths in expressions and types (`crate::x::f()`, `super::x::T`) — and
//! fails naming each cycle between top-level modules (`src/foo.rs` or `src/foo/mod.rs` is module
//! `foo`). Comments (doc links included: they are not dependencies) and string and char
//! literals are skipped before reading. The graph is printed; `--nocapture` shows it:
//!
//! ```sh
//! cargo test --test module_graph -- --nocapture
//! ```
//!
//! Why a test: a cycle makes modules impossible to understand, test or move one at a time, and
//! nothing in the compiler stops one from creeping back in.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

/// The source with comments, string literals and char literals blanked out (newlines kept).
fn strip(source: &str) -> String {
    let c: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        let prev_ident = i > 0 && ident(c[i - 1]);
        if at(i) == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if at(i) == '/' && at(i + 1) == '*' {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < c.len() {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
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
        } else if !prev_ident && raw_string_start(&c, i).is_some() {
            let (hashes, open) = raw_string_start(&c, i).unwrap();
            i = open + 1;
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while i < c.len() && !c[i..].starts_with(&close) {
                i += 1;
            }
            i += close.len();
            out.push_str("\"\"");
        } else if at(i) == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if at(i) == '\'' && (at(i + 1) == '\\' || at(i + 2) == '\'') {
            // A char literal ('a', '\n', '\u{1F600}'); a lone quote is a lifetime or label.
            i += 1;
            while i < c.len() && c[i] != '\'' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// At `i`, `r"`, `r#…#"`, `br"` or `br#…#"`: the number of `#` and the index of the quote.
fn raw_string_start(c: &[char], i: usize) -> Option<(usize, usize)> {
    let mut k = i;
    if c.get(k) == Some(&'b') {
        k += 1;
    }
    if c.get(k) != Some(&'r') {
        return None;
    }
    k += 1;
    let hashes = c[k..].iter().take_while(|&&ch| ch == '#').count();
    (c.get(k + hashes) == Some(&'"')).then_some((hashes, k + hashes))
}

fn tokens(stripped: &str) -> Vec<Tok> {
    let c: Vec<char> = stripped.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            // `r#ident` is `ident`.
            if word == "r" && c.get(i) == Some(&'#') {
                i += 1;
                continue;
            }
            toks.push(Tok::Ident(word));
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            toks.push(Tok::Path);
            i += 2;
        } else {
            if !ch.is_whitespace() {
                toks.push(Tok::Punct(ch));
            }
            i += 1;
        }
    }
    toks
}

/// A `use` tree from `toks[*i]` on, under `prefix`: every path it names (globs name their
/// prefix). Leaves `*i` after the tree.
fn use_tree(toks: &[Tok], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    loop {
        match toks.get(*i) {
            Some(Tok::Ident(word)) => {
                path.push(word.clone());
                *i += 1;
                if toks.get(*i) == Some(&Tok::Ident("as".into())) {
                    *i += 2;
                }
                if toks.get(*i) == Some(&Tok::Path) {
                    *i += 1;
                    continue;
                }
                out.push(path);
                return;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                while !matches!(toks.get(*i), None | Some(Tok::Punct('}'))) {
                    use_tree(toks, i, path.clone(), out);
                    if toks.get(*i) == Some(&Tok::Punct(',')) {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                out.push(path);
                return;
            }
            _ => return,
        }
    }
}

/// The module paths a file refers to, made absolute: `module` is the file's own module path
/// (empty for the crate root), `modules` every module of the crate.
fn references(source: &str, module: &[String], modules: &BTreeSet<String>) -> Vec<Vec<String>> {
    let toks = tokens(&strip(source));
    let mut refs = Vec::new();
    // Inline modules (`mod tests { … }`): the brace depth each opened at, and its name.
    let mut inline: Vec<(usize, String)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < toks.len() {
        let here: Vec<String> = module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(_, m)| m.clone()))
            .collect();
        match &toks[i] {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth -= 1;
                if inline.last().is_some_and(|(d, _)| *d == depth) {
                    inline.pop();
                }
            }
            Tok::Ident(w) if w == "mod" => {
                if let (Some(Tok::Ident(name)), Some(Tok::Punct('{'))) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    inline.push((depth, name.clone()));
                    depth += 1;
                    i += 3;
                    continue;
                }
            }
            Tok::Ident(w) if w == "use" => {
                i += 1;
                let mut paths = Vec::new();
                use_tree(&toks, &mut i, Vec::new(), &mut paths);
                refs.extend(paths.iter().filter_map(|p| absolute(p, &here, modules)));
                continue;
            }
            Tok::Ident(_) if toks.get(i + 1) == Some(&Tok::Path) => {
                // A path in an expression or type: its identifiers up to the last `::`.
                let previous_is_path = i > 0 && toks[i - 1] == Tok::Path;
                let mut path = Vec::new();
                let mut k = i;
                while let (Some(Tok::Ident(w)), Some(Tok::Path)) = (toks.get(k), toks.get(k + 1)) {
                    path.push(w.clone());
                    k += 2;
                }
                if let Some(Tok::Ident(w)) = toks.get(k) {
                    path.push(w.clone());
                }
                if !previous_is_path {
                    refs.extend(absolute(&path, &here, modules));
                }
                i = k;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    refs
}

/// `path` as written in module `here`, made absolute; `None` for other crates' paths.
fn absolute(path: &[String], here: &[String], modules: &BTreeSet<String>) -> Option<Vec<String>> {
    let first = path.first()?;
    let mut base: Vec<String> = match first.as_str() {
        "crate" => Vec::new(),
        "self" | "super" => here.to_vec(),
        _ => {
            // A relative path is ours only if it starts with a child module of `here`.
            let child: Vec<String> = here.iter().chain([first]).cloned().collect();
            if !modules.contains(&child.join("::")) {
                return None;
            }
            here.to_vec()
        }
    };
    let mut rest = path;
    if first == "crate" || first == "self" {
        rest = &path[1..];
    }
    while rest.first().is_some_and(|s| s == "super") {
        base.pop();
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The longest prefix of `path` that is a module of the crate.
fn owner(path: &[String], modules: &BTreeSet<String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains(m))
}

/// Every library source file and its module path (`src/bin/` excluded).
fn library_files(dir: &Path, module: &[String], out: &mut Vec<(Vec<String>, PathBuf)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if module.is_empty() && name == "bin" {
                continue;
            }
            let child: Vec<String> = module.iter().cloned().chain([name]).collect();
            library_files(&path, &child, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let own = if matches!(name.as_str(), "mod" | "lib" | "main") {
                module.to_vec()
            } else {
                module.iter().cloned().chain([name]).collect()
            };
            out.push((own, path));
        }
    }
}

/// The crate's module graph: every module (a node even without edges) to the modules it uses.
/// Self-references and references to the crate root are dropped.
fn module_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    library_files(src, &[], &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .filter(|(m, _)| !m.is_empty())
        .map(|(m, _)| m.join("::"))
        .collect();
    let mut graph: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for (module, file) in files.iter().filter(|(m, _)| !m.is_empty()) {
        let source = std::fs::read_to_string(file).expect("read source");
        let from = module.join("::");
        for target in references(&source, module, &modules) {
            if let Some(to) = owner(&target, &modules) {
                if to != from {
                    graph.get_mut(&from).unwrap().insert(to);
                }
            }
        }
    }
    graph
}

/// The graph between top-level modules (`store::schema -> config` becomes `store -> config`).
fn top_level(graph: &Graph) -> Graph {
    let top = |m: &str| m.split("::").next().unwrap().to_owned();
    let mut out = Graph::new();
    for (from, tos) in graph {
        let entry = out.entry(top(from)).or_default();
        entry.extend(tos.iter().map(|t| top(t)).filter(|t| *t != top(from)));
    }
    out
}

/// Every elementary cycle that is the shortest through one of its nodes, as the node list
/// (first node repeated at the end), each once, smallest rotation first. Finds a cycle in every
/// strongly connected part of the graph: the graph has a cycle iff this is not empty.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let mut found = BTreeSet::new();
    for start in graph.keys() {
        // Breadth-first from `start` back to `start`: the shortest cycle through it.
        let mut parent: BTreeMap<&String, &String> = BTreeMap::new();
        let mut queue: VecDeque<&String> = VecDeque::from([start]);
        let mut closing = None;
        'search: while let Some(node) = queue.pop_front() {
            for next in graph.get(node).into_iter().flatten() {
                if next == start {
                    closing = Some(node);
                    break 'search;
                }
                if !parent.contains_key(next) && next != start {
                    parent.insert(next, node);
                    queue.push_back(next);
                }
            }
        }
        let Some(mut node) = closing else { continue };
        let mut cycle = vec![node.clone()];
        while node != start {
            node = parent[node];
            cycle.push(node.clone());
        }
        cycle.reverse();
        let smallest = (0..cycle.len()).min_by_key(|&k| &cycle[k]).unwrap();
        cycle.rotate_left(smallest);
        cycle.push(cycle[0].clone());
        found.insert(cycle);
    }
    found.into_iter().collect()
}

fn render(graph: &Graph) -> String {
    graph
        .iter()
        .map(|(from, tos)| {
            let tos: Vec<&str> = tos.iter().map(String::as_str).collect();
            format!("{from} -> {}\n", tos.join(", "))
        })
        .collect()
}

#[test]
fn top_level_modules_have_no_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    let top = top_level(&graph);
    println!("module graph (top level):\n{}", render(&top));
    let nested: Graph = graph
        .iter()
        .filter(|(from, tos)| from.contains("::") || tos.iter().any(|t| t.contains("::")))
        .map(|(f, t)| (f.clone(), t.clone()))
        .collect();
    if !nested.is_empty() {
        println!("submodules:\n{}", render(&nested));
    }
    assert!(
        top.len() > 3 && top.values().any(|tos| !tos.is_empty()),
        "the reader found no modules or no edges in {}: the check would pass vacuously",
        src.display()
    );
    let found = cycles(&top);
    let listed: Vec<String> = found.iter().map(|c| c.join(" -> ")).collect();
    assert!(
        found.is_empty(),
        "{} cycle(s) between top-level modules:\n  {}\n(module graph:\n{})",
        found.len(),
        listed.join("\n  "),
        render(&top)
    );
}

fn graph_of(edges: &[(&str, &str)]) -> Graph {
    let mut g = Graph::new();
    for (a, b) in edges {
        g.entry(a.to_string()).or_default().insert(b.to_string());
        g.entry(b.to_string()).or_default();
    }
    g
}

#[test]
fn the_cycle_finder_finds_cycles_and_only_cycles() {
    let acyclic = graph_of(&[("a", "b"), ("a", "c"), ("b", "c"), ("c", "d")]);
    assert_eq!(cycles(&acyclic), Vec::<Vec<String>>::new());
    assert_eq!(cycles(&Graph::new()), Vec::<Vec<String>>::new());

    let cyclic = graph_of(&[
        ("alert", "store"),
        ("store", "config"),
        ("config", "alert"),
        ("decision", "event"),
        ("event", "decision"),
        ("read", "store"),
    ]);
    let found: Vec<String> = cycles(&cyclic).iter().map(|c| c.join(" -> ")).collect();
    assert_eq!(
        found,
        [
            "alert -> store -> config -> alert",
            "decision -> event -> decision"
        ]
    );
    // One node on two cycles: both are named.
    let two = graph_of(&[("a", "b"), ("b", "a"), ("a", "c"), ("c", "a")]);
    let found: Vec<String> = cycles(&two).iter().map(|c| c.join(" -> ")).collect();
    assert!(found.contains(&"a -> b -> a".to_owned()), "{found:?}");
    assert!(found.contains(&"a -> c -> a".to_owned()), "{found:?}");
}

#[test]
fn the_reader_sees_code_paths_and_not_comments_or_strings() {
    let modules: BTreeSet<String> = ["a", "b", "c", "d", "e", "f", "g", "s", "s::x", "s::y"]
        .map(String::from)
        .into();
    let source = r####"
        //! Uses [`crate::e`] in a doc link only.
        use crate::{a, b::{Thing, other as renamed}};
        pub(crate) use crate::c::*;
        use std::collections::HashMap;
        /* crate::e::gone /* nested */ crate::e::still_gone */
        fn f<'l>(x: &'l str) -> char {
            let _ = "crate::e::in_a_string \" crate::e::escaped";
            let _ = r#"crate::e::raw "quoted" "#;
            let _ = crate::d::call(x);
            let _ = ::other_crate::g::h; // an extern path, not ours
            '"'
        }
        fn g() -> r#type::Z { super::f::value() }
        mod tests { use super::*; use super::super::g; }
    "####;
    let mut found: Vec<String> = references(source, &["s".into()], &modules)
        .iter()
        .filter_map(|p| owner(p, &modules))
        .collect();
    found.sort();
    found.dedup();
    // `s` is the file's own module (`use super::*` in its tests); `g` is reached via
    // `super::super::g` from `s::tests`; `f` via `super::f` from `s`.
    assert_eq!(found, ["a", "b", "c", "d", "f", "g", "s"]);

    // Relative paths to child modules count, in `use` and in code; other relative paths don't.
    let source = "mod x; use x::T; fn f() { y::g(); z::h(); }";
    let mut found: Vec<String> = references(source, &["s".into()], &modules)
        .iter()
        .filter_map(|p| owner(p, &modules))
        .collect();
    found.sort();
    assert_eq!(found, ["s::x", "s::y"]);
}
