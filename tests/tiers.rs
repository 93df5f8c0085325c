//! The crate's tiers, checked from the source: every `crate::` path in a module of `src/` names a
//! module below it, and the files of one module directory do not use each other in a cycle (a `pub use`
//! re-export is not a use). `src/lib.rs` documents the same table.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The tiers, bottom first, each a list of steps, bottom first. A module may use the modules of
/// earlier steps only: `sync` is under `layout`, `codec` under `registry`, and `kernels` and `ring`
/// sit side by side, neither using the other.
const TIERS: &[(&str, &[&[&str]])] = &[
    ("platform", &[&["sys"]]),
    ("layout", &[&["sync"], &["layout"]]),
    ("memory", &[&["heap"]]),
    ("values", &[&["codec"], &["registry"]]),
    ("functions", &[&["kernels", "ring"]]),
    ("service", &[&["server"]]),
    ("program", &[&["daemon"]]),
];

/// A module's place: its step's index over all tiers, and its tier's name.
fn ranks() -> BTreeMap<&'static str, (usize, &'static str)> {
    let steps = TIERS.iter().flat_map(|&(tier, steps)| steps.iter().map(move |step| (tier, *step)));
    steps.enumerate().flat_map(|(rank, (tier, step))| step.iter().map(move |&m| (m, (rank, tier)))).collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `path` as it reads from the crate's root.
fn shown(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(path).display().to_string()
}

/// The `.rs` files of `dir` (not below it), sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    files
}

/// The top-level modules of the crate: `name.rs` files and directories of `src/`.
fn modules() -> BTreeMap<String, Vec<PathBuf>> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            out.insert(stem, walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") && stem != "lib" && stem != "main" {
            out.insert(stem, vec![path]);
        }
    }
    out
}

/// Every `.rs` file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = rust_files(dir);
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        }
    }
    files
}

/// The source of `path` without its comments (doc links name paths that are not uses).
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        rest = rest[start..].find("*/").map_or("", |end| &rest[start + end + 2..]);
    }
    out.push_str(rest);
    out.lines().map(|l| l.find("//").map_or(l, |i| &l[..i])).collect::<Vec<_>>().join("\n")
}

/// The identifier at the start of `s`.
fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The first names of the paths that follow each `prefix` in `code`: `a` for `prefix a::b`, and
/// `a` and `c` for `prefix {a::b, c}`.
fn names_after(code: &str, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (at, _) in code.match_indices(prefix) {
        if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue; // `my_crate::` is not `crate::`
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut item_start) = (0usize, 0usize);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        names.push(ident(group[item_start..i].trim()).to_owned());
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.push(ident(group[item_start..i].trim()).to_owned());
                        item_start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            names.push(ident(rest).to_owned());
        }
    }
    names.retain(|n| !n.is_empty() && n != "self" && n != "super");
    names
}

/// The `pub use` statements of `code` (without `pub use ` and `;`), and the code without them.
fn split_reexports(code: &str) -> (Vec<&str>, String) {
    let (mut statements, mut rest) = (Vec::new(), String::new());
    let mut from = 0;
    for (at, _) in code.match_indices("pub use ") {
        if at < from {
            continue;
        }
        let end = code[at..].find(';').map_or(code.len(), |i| at + i);
        rest.push_str(&code[from..at]);
        statements.push(&code[at + "pub use ".len()..end]);
        from = end;
    }
    rest.push_str(&code[from..]);
    (statements, rest)
}

/// Names a `mod.rs` (or `lib.rs`) re-exports, with the module or file each comes from.
fn reexports(path: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for rest in split_reexports(&code(path)).0 {
        let from = ident(rest).to_owned();
        let Some(after) = rest[from.len()..].strip_prefix("::") else { continue };
        for name in after.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|n| !n.is_empty()) {
            out.insert(name.to_owned(), from.clone());
        }
        // `pub use a::b as c` re-exports `c`; `b` in the map is harmless.
    }
    out
}

/// The macros defined in `files`, for `crate::some_macro!` (exported macros live at the crate root).
fn macros(files: &[PathBuf]) -> Vec<String> {
    files.iter().flat_map(|f| names_after(&code(f), "macro_rules! ")).collect()
}

/// Every (module, used module, file) for the `crate::` paths of the crate's modules.
fn module_uses() -> Vec<(String, String, PathBuf)> {
    let modules = modules();
    let root = reexports(&src().join("lib.rs"));
    let macro_home: BTreeMap<String, String> =
        modules.iter().flat_map(|(m, files)| macros(files).into_iter().map(move |name| (name, m.clone()))).collect();
    let mut uses = Vec::new();
    for (module, files) in &modules {
        for file in files {
            for name in names_after(&code(file), "crate::") {
                let used = if modules.contains_key(&name) {
                    name
                } else if let Some(from) = root.get(&name) {
                    if !modules.contains_key(from) {
                        continue; // a re-export of another crate
                    }
                    from.clone()
                } else if let Some(home) = macro_home.get(&name) {
                    home.clone()
                } else {
                    panic!("{}: cannot tell which module crate::{name} is in", shown(file));
                };
                uses.push((module.clone(), used, file.clone()));
            }
        }
    }
    uses
}

#[test]
fn every_module_has_a_tier() {
    let ranks = ranks();
    for module in modules().keys() {
        assert!(ranks.contains_key(module.as_str()), "src/{module} is in no tier: add it to TIERS and src/lib.rs");
    }
    for module in ranks.keys() {
        assert!(modules().contains_key(*module), "TIERS names {module}, which src/ does not have");
    }
}

#[test]
fn modules_use_only_lower_tiers() {
    let ranks = ranks();
    let mut wrong = BTreeSet::new();
    for (module, used, file) in module_uses() {
        let (Some(&(m, m_tier)), Some(&(u, u_tier))) = (ranks.get(module.as_str()), ranks.get(used.as_str())) else {
            continue; // every_module_has_a_tier reports it
        };
        if module != used && u >= m {
            wrong.insert(format!("{} ({module}, tier {m_tier}) uses {used} (tier {u_tier})", shown(&file)));
        }
    }
    assert!(wrong.is_empty(), "upward or sideways uses:\n{}", wrong.into_iter().collect::<Vec<_>>().join("\n"));
}

/// The files of module directory `dir` each file uses, by stem (through `super::` or
/// `crate::<dir>::`, directly or through a name `mod.rs` re-exports).
fn file_uses(dir: &Path) -> Graph {
    let module = dir.file_name().unwrap().to_str().unwrap();
    let reexported = reexports(&dir.join("mod.rs"));
    let files: BTreeMap<String, PathBuf> = rust_files(dir)
        .into_iter()
        .map(|p| (p.file_stem().unwrap().to_str().unwrap().to_owned(), p))
        .filter(|(stem, _)| stem != "mod")
        .collect();
    let mut uses = BTreeMap::new();
    for (stem, path) in &files {
        // A file's re-exports present another file's items under its name: not a use of them.
        let (_, code) = split_reexports(&code(path));
        let mut names = names_after(&code, "super::");
        names.extend(names_after(&code, &format!("crate::{module}::")));
        let used: BTreeSet<String> = names
            .into_iter()
            .filter_map(|n| if files.contains_key(&n) { Some(n) } else { reexported.get(&n).cloned() })
            .filter(|n| n != stem && files.contains_key(n))
            .collect();
        uses.insert(stem.clone(), used);
    }
    uses
}

type Graph = BTreeMap<String, BTreeSet<String>>;

/// A cycle in `graph`, as the files along it, if there is one.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    /// Depth first from `node`; `path` is the way there, `done` the nodes with no cycle below them.
    fn visit(node: &str, graph: &Graph, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_directory_has_a_cycle_between_its_files() {
    for dir in fs::read_dir(src()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()) {
        if let Some(c) = cycle(&file_uses(&dir)) {
            panic!("{}: files use each other in a cycle: {}", shown(&dir), c.join(" -> "));
        }
    }
}

#[test]
fn the_checks_see_the_uses_they_check() {
    let uses: BTreeSet<(String, String)> = module_uses().into_iter().map(|(m, u, _)| (m, u)).collect();
    for (module, used) in
        [("ring", "registry"), ("server", "ring"), ("layout", "sync"), ("kernels", "registry"), ("daemon", "server")]
    {
        assert!(uses.contains(&(module.to_owned(), used.to_owned())), "{module} -> {used} not found");
    }
    let ring = file_uses(&src().join("ring"));
    assert!(ring["channel_thread"].contains("poller") && ring["poller"].contains("channel"));
    let codec = file_uses(&src().join("codec"));
    assert!(codec["reader"].contains("error"), "a name re-exported by mod.rs resolves to its file");
    let edge = |from: &str, to: &str| (from.to_owned(), BTreeSet::from([to.to_owned()]));
    let looped = Graph::from([edge("a", "b"), edge("b", "a")]);
    assert_eq!(cycle(&looped), Some(vec!["a".to_owned(), "b".to_owned(), "a".to_owned()]));
}
