//! Dependencies inside `host/src` run one way (STYLE.md rule 8, issue 21).
//!
//! Parses every source file of the crate with `syn`, resolves every path that names
//! something of this crate (`use crate::…`, `super::…`, `self::…`, a name bound by such
//! a `use`, also inside macro invocations) to the **file that defines it**, following
//! `pub use` re-exports, and fails if the file graph has a cycle: no file may import
//! from a file that imports it, directly or through others. A re-export in a `mod.rs`
//! is not a dependency of whoever imports through it: the edge goes to the defining
//! file, so `journal/mod.rs` re-exporting `JournalClient` does not put every user of
//! journals in a circle with it.
//!
//! It also checks the layering of the top-level modules that ARCHITECTURE.md draws
//! (`LAYERS` below): a module may use only modules of lower layers.

#[path = "module_graph/model.rs"]
mod model;
#[path = "module_graph/cycles.rs"]
mod cycles;

use std::collections::BTreeMap;
use std::path::Path;

use model::{Crate, Edge};

/// The top-level modules of `streamsum-host`, lowest layer first (ARCHITECTURE.md). A
/// module may depend on modules of lower layers only; modules of one layer may not
/// depend on each other.
const LAYERS: &[&[&str]] = &[
    &["flags", "shutdown"],
    &["journal"],
    &["message", "store"],
    &["runtime"],
    &["metrics"],
    &["consumer"],
    &["service"],
    &["chunker", "ops", "cluster"],
    &["sandbox"],
    &["app"],
    &["cli"],
];

fn host_crate() -> Crate {
    Crate::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")).expect("host/src parses")
}

fn describe(edges: &[&Edge]) -> String {
    edges
        .iter()
        .map(|e| format!("    {} -> {}  (line {}: {})", e.from, e.to, e.line, e.via))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_file_of_the_host_imports_from_a_file_that_imports_it() {
    let krate = host_crate();
    let edges = krate.edges();
    assert!(edges.len() > 200, "the checker found only {} edges: it is not reading the crate", edges.len());
    let cycles = cycles::cycles(&edges);
    let mut report = String::new();
    for cycle in &cycles {
        let inside: Vec<&Edge> = edges.iter().filter(|e| cycle.contains(&e.from) && cycle.contains(&e.to)).collect();
        report += &format!("  circle of {} files: {}\n{}\n", cycle.len(), cycle.join(", "), describe(&inside));
    }
    assert!(cycles.is_empty(), "import circles in host/src:\n{report}");
}

#[test]
fn top_level_modules_depend_only_on_lower_layers() {
    let krate = host_crate();
    let layer_of: BTreeMap<&str, usize> =
        LAYERS.iter().enumerate().flat_map(|(i, layer)| layer.iter().map(move |m| (*m, i))).collect();
    for module in krate.top_level_modules() {
        assert!(layer_of.contains_key(module.as_str()), "module `{module}` is in no layer of LAYERS: place it");
    }
    let mut wrong = Vec::new();
    for edge in krate.edges() {
        let (from, to) = (top(&edge.from), top(&edge.to));
        let (Some(&lf), Some(&lt)) = (layer_of.get(from), layer_of.get(to)) else { continue };
        if from != to && lf <= lt {
            wrong.push(format!("  {from} (layer {lf}) -> {to} (layer {lt}): {}:{} {}", edge.from, edge.line, edge.via));
        }
    }
    assert!(wrong.is_empty(), "uses against the layering:\n{}", wrong.join("\n"));
}

/// DESIGN §3: only `runtime/` names wasmtime, only `service/` names tonic (and the
/// generated protos).
#[test]
fn only_the_runtime_names_wasmtime_and_only_the_service_names_tonic() {
    let owners = [("wasmtime", "runtime"), ("wasmtime_wasi", "runtime"), ("tonic", "service")];
    let names = host_crate().names_used();
    assert!(names.get("runtime/engine.rs").is_some_and(|n| n.contains("wasmtime")), "the check sees wasmtime: {names:?}");
    let mut wrong = Vec::new();
    for (file, used) in &names {
        for (krate, owner) in owners {
            if used.contains(krate) && top(file) != owner {
                wrong.push(format!("  {file} names {krate} (only {owner}/ may)"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `consumer/txn.rs` → `consumer`; `lib.rs` → `lib`.
fn top(file: &str) -> &str {
    file.split('/').next().unwrap_or(file).trim_end_matches(".rs")
}

#[test]
fn the_checker_sees_a_circle_and_resolves_re_exports() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
        ("a/mod.rs", "mod inner;\npub use inner::Thing;\n"),
        ("a/inner.rs", "pub struct Thing;\npub fn make() -> crate::b::Other { crate::b::Other }\n"),
        ("b.rs", "use crate::a::Thing;\npub struct Other;\npub fn f(_: Thing) {}\n"),
        ("c.rs", "use crate::a;\npub fn g() -> a::Thing { a::Thing }\nfn h() { println!(\"{:?}\", crate::b::f); }\n"),
    ];
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let krate = Crate::load(dir.path()).unwrap();
    let edges = krate.edges();
    let pairs: Vec<(String, String)> = edges.iter().map(|e| (e.from.clone(), e.to.clone())).collect();
    let has = |f: &str, t: &str| pairs.contains(&(f.to_string(), t.to_string()));
    assert!(has("b.rs", "a/inner.rs"), "a re-export resolves to the defining file: {pairs:?}");
    assert!(!has("b.rs", "a/mod.rs"), "{pairs:?}");
    assert!(has("c.rs", "a/inner.rs"), "a path through a `use`d module resolves: {pairs:?}");
    assert!(has("c.rs", "b.rs"), "a path inside a macro resolves: {pairs:?}");
    assert_eq!(cycles::cycles(&edges), vec![vec!["a/inner.rs".to_string(), "b.rs".to_string()]]);
}
