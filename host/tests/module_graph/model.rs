//! A crate's module tree, read with `syn`, and the file-level graph of what uses what.
//!
//! Three passes: (1) from `lib.rs`, follow `mod` declarations (`#[path]` too) to files
//! and record each module's children, named items and `use` trees; (2) expand the
//! `use` trees into bindings (name → absolute path) and globs; (3) resolve every path
//! naming this crate — in `use` items, in code, in macro tokens — to the file that
//! defines its item, following bindings through re-exports.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

/// One dependency: file `from` uses an item defined in file `to`.
#[derive(Debug, Clone)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// The line in `from` and the path as written there, for the report.
    pub line: usize,
    pub via: String,
}

/// A module: a file, or an inline `mod x { … }` inside one.
#[derive(Default)]
struct Module {
    /// Absolute path, starting with `crate`.
    path: Vec<String>,
    /// Index into `Crate::files`.
    file: usize,
    parent: Option<usize>,
    children: BTreeMap<String, usize>,
    /// Names defined here: structs, enums, fns, traits, consts, macros, …
    items: BTreeSet<String>,
    /// `use` bindings: the name in scope → the absolute path it stands for.
    uses: BTreeMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
}

/// A `use` item waiting for pass 2: its module, tree and line.
struct RawUse {
    module: usize,
    tree: syn::UseTree,
    line: usize,
}

/// The parsed crate.
pub struct Crate {
    files: Vec<(String, syn::File)>,
    modules: Vec<Module>,
    /// Each file's top module (the module its items open in).
    file_module: Vec<usize>,
    raw_uses: Vec<RawUse>,
}

/// What a path resolves to.
enum Target {
    /// An item defined in this file.
    Item(usize),
    /// A name this resolver does not know (macro-generated, an enum variant's parent…),
    /// attributed to the file of the module it was looked up in.
    Unknown(usize),
    Module(usize),
}

impl Crate {
    /// Reads the crate whose root `lib.rs` is in `src`.
    pub fn load(src: &Path) -> Result<Crate, String> {
        let mut krate = Crate { files: Vec::new(), modules: Vec::new(), file_module: Vec::new(), raw_uses: Vec::new() };
        krate.load_file(src, "lib.rs", None, "crate")?;
        krate.expand_uses();
        Ok(krate)
    }

    /// The modules declared in `lib.rs`.
    pub fn top_level_modules(&self) -> Vec<String> {
        self.modules[0].children.keys().cloned().collect()
    }

    fn load_file(&mut self, src: &Path, rel: &str, parent: Option<usize>, name: &str) -> Result<usize, String> {
        let text = std::fs::read_to_string(src.join(rel)).map_err(|e| format!("{rel}: {e}"))?;
        let ast = syn::parse_file(&text).map_err(|e| format!("{rel}: {e}"))?;
        let file = self.files.len();
        self.files.push((rel.to_string(), ast.clone()));
        let module = self.new_module(parent, name, file);
        self.file_module.push(module);
        let child_dir = match rel.rsplit_once('/').map_or(rel, |(_, f)| f) {
            "lib.rs" | "mod.rs" => parent_dir(rel),
            _ => PathBuf::from(rel.trim_end_matches(".rs")),
        };
        self.collect(src, rel, module, &ast.items, &child_dir)?;
        Ok(module)
    }

    fn new_module(&mut self, parent: Option<usize>, name: &str, file: usize) -> usize {
        let mut path = parent.map(|p| self.modules[p].path.clone()).unwrap_or_default();
        path.push(name.to_string());
        let id = self.modules.len();
        self.modules.push(Module { path, file, parent, ..Module::default() });
        if let Some(p) = parent {
            self.modules[p].children.insert(name.to_string(), id);
        }
        id
    }

    /// Pass 1 over one module's items.
    fn collect(&mut self, src: &Path, rel: &str, module: usize, items: &[syn::Item], dir: &Path) -> Result<(), String> {
        for item in items {
            match item {
                syn::Item::Mod(m) => self.collect_mod(src, rel, module, m, dir)?,
                syn::Item::Use(u) => {
                    let line = u.use_token.span.start().line;
                    self.raw_uses.push(RawUse { module, tree: u.tree.clone(), line });
                }
                other => {
                    if let Some(name) = item_name(other) {
                        self.modules[module].items.insert(name);
                    }
                }
            }
        }
        Ok(())
    }

    fn collect_mod(&mut self, src: &Path, rel: &str, module: usize, m: &syn::ItemMod, dir: &Path) -> Result<(), String> {
        let name = m.ident.to_string();
        if let Some((_, items)) = &m.content {
            let file = self.modules[module].file;
            let child = self.new_module(Some(module), &name, file);
            return self.collect(src, rel, child, items, &dir.join(&name));
        }
        let candidates = match path_attr(&m.attrs) {
            Some(p) => vec![parent_dir(rel).join(p)],
            None => vec![dir.join(format!("{name}.rs")), dir.join(&name).join("mod.rs")],
        };
        let Some(found) = candidates.into_iter().find(|c| src.join(c).is_file()) else {
            return Err(format!("{rel}: no file for `mod {name}`"));
        };
        self.load_file(src, &found.to_string_lossy(), Some(module), &name)?;
        Ok(())
    }

    /// Pass 2: `use` trees → bindings and globs of their modules.
    fn expand_uses(&mut self) {
        let raw = std::mem::take(&mut self.raw_uses);
        for u in &raw {
            let mut out = Vec::new();
            flatten(&u.tree, Vec::new(), &mut out);
            for (binding, segments) in out {
                let Some(abs) = self.absolute(u.module, &segments) else { continue };
                match binding {
                    Some(name) => {
                        self.modules[u.module].uses.insert(name, abs);
                    }
                    None => self.modules[u.module].globs.push(abs),
                }
            }
        }
        self.raw_uses = raw;
    }

    /// `segments` as written in `module` → an absolute `crate::…` path, or `None` for
    /// another crate's path.
    fn absolute(&self, module: usize, segments: &[String]) -> Option<Vec<String>> {
        let first = segments.first()?;
        let m = &self.modules[module];
        let mut base = match first.as_str() {
            "crate" => return Some(segments.to_vec()),
            "self" => m.path.clone(),
            "super" => {
                let mut at = module;
                let mut rest = segments;
                while rest.first().map(String::as_str) == Some("super") {
                    at = self.modules[at].parent?;
                    rest = &rest[1..];
                }
                let mut abs = self.modules[at].path.clone();
                abs.extend(rest.iter().cloned());
                return Some(abs);
            }
            name if m.children.contains_key(name) || m.items.contains(name) => {
                let mut p = m.path.clone();
                p.push(name.to_string());
                p
            }
            name => {
                let bound = m.uses.get(name)?;
                let mut p = bound.clone();
                p.extend(segments[1..].iter().cloned());
                return Some(p);
            }
        };
        base.extend(segments[1..].iter().cloned());
        Some(base)
    }

    fn resolve(&self, abs: &[String], depth: usize) -> Option<Target> {
        if depth > 16 || abs.first().map(String::as_str) != Some("crate") {
            return None;
        }
        let mut m = 0;
        for (i, seg) in abs.iter().enumerate().skip(1) {
            let module = &self.modules[m];
            if let Some(&c) = module.children.get(seg) {
                m = c;
                continue;
            }
            if module.items.contains(seg) {
                return Some(Target::Item(module.file));
            }
            if let Some(bound) = module.uses.get(seg) {
                let mut next = bound.clone();
                next.extend(abs[i + 1..].iter().cloned());
                return self.resolve(&next, depth + 1);
            }
            for glob in &module.globs {
                let mut next = glob.clone();
                next.extend(abs[i..].iter().cloned());
                if let Some(found @ Target::Item(_)) = self.resolve(&next, depth + 1) {
                    return Some(found);
                }
            }
            return Some(Target::Unknown(module.file));
        }
        Some(Target::Module(m))
    }

    /// Pass 3: every file's dependencies on other files of the crate.
    pub fn edges(&self) -> Vec<Edge> {
        let mut edges = Vec::new();
        for u in &self.raw_uses {
            let mut out = Vec::new();
            flatten(&u.tree, Vec::new(), &mut out);
            for (binding, segments) in out {
                let Some(abs) = self.absolute(u.module, &segments) else { continue };
                let to = match self.resolve(&abs, 0) {
                    Some(Target::Item(f) | Target::Unknown(f)) => f,
                    Some(Target::Module(m)) if binding.is_none() => self.modules[m].file,
                    _ => continue,
                };
                self.push_edge(&mut edges, self.modules[u.module].file, to, u.line, &segments);
            }
        }
        for (file, (_, ast)) in self.files.iter().enumerate() {
            let mut visitor = PathVisitor { krate: self, stack: vec![self.file_module[file]], found: Vec::new(), all: false };
            visitor.visit_file(ast);
            for (module, line, segments) in visitor.found {
                let Some(abs) = self.absolute(module, &segments) else { continue };
                if let Some(Target::Item(to) | Target::Unknown(to)) = self.resolve(&abs, 0) {
                    self.push_edge(&mut edges, file, to, line, &segments);
                }
            }
        }
        edges
    }

    /// Per file, the first segments of every path it writes (`use` trees, code and
    /// macro tokens): which other crates it names, e.g. `wasmtime` or `tonic`.
    pub fn names_used(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for u in &self.raw_uses {
            let mut flat = Vec::new();
            flatten(&u.tree, Vec::new(), &mut flat);
            let file = &self.files[self.modules[u.module].file].0;
            for (_, segments) in flat {
                if let Some(first) = segments.first() {
                    out.entry(file.clone()).or_default().insert(first.clone());
                }
            }
        }
        for (file, (rel, ast)) in self.files.iter().enumerate() {
            let mut visitor = PathVisitor { krate: self, stack: vec![self.file_module[file]], found: Vec::new(), all: true };
            visitor.visit_file(ast);
            let names = out.entry(rel.clone()).or_default();
            names.extend(visitor.found.into_iter().filter_map(|(_, _, segments)| segments.into_iter().next()));
        }
        out
    }

    fn push_edge(&self, edges: &mut Vec<Edge>, from: usize, to: usize, line: usize, via: &[String]) {
        if from != to {
            let (from, to) = (self.files[from].0.clone(), self.files[to].0.clone());
            edges.push(Edge { from, to, line, via: via.join("::") });
        }
    }
}

/// Collects the crate paths a file's code names, with the module they are written in.
struct PathVisitor<'a> {
    krate: &'a Crate,
    stack: Vec<usize>,
    found: Vec<(usize, usize, Vec<String>)>,
    /// Collect every path of two or more segments, not only this crate's.
    all: bool,
}

impl PathVisitor<'_> {
    fn module(&self) -> usize {
        *self.stack.last().expect("a module")
    }

    /// Whether a path starting with `first` can name something of this crate.
    fn ours(&self, first: &str) -> bool {
        matches!(first, "crate" | "self" | "super") || self.krate.modules[self.module()].uses.contains_key(first)
    }

    fn note(&mut self, segments: Vec<String>, line: usize) {
        if (self.all && segments.len() > 1) || segments.first().is_some_and(|f| self.ours(f)) {
            self.found.push((self.module(), line, segments));
        }
    }
}

impl<'ast> Visit<'ast> for PathVisitor<'_> {
    fn visit_item_use(&mut self, _: &'ast syn::ItemUse) {}

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        let Some((_, items)) = &m.content else { return };
        let child = self.krate.modules[self.module()].children[&m.ident.to_string()];
        self.stack.push(child);
        for item in items {
            self.visit_item(item);
        }
        self.stack.pop();
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        let line = p.segments.first().map_or(0, |s| s.ident.span().start().line);
        self.note(segments, line);
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        for (segments, line) in token_paths(m.tokens.clone()) {
            self.note(segments, line);
        }
        syn::visit::visit_macro(self, m);
    }
}

/// The `a::b::c` runs of identifiers in a macro's tokens.
fn token_paths(tokens: TokenStream) -> Vec<(Vec<String>, usize)> {
    let mut out = Vec::new();
    let mut run: Vec<String> = Vec::new();
    let mut line = 0;
    let mut colons = 0;
    let flush = |run: &mut Vec<String>, line: usize, out: &mut Vec<(Vec<String>, usize)>| {
        if !run.is_empty() {
            out.push((std::mem::take(run), line));
        }
    };
    for tt in tokens {
        match tt {
            TokenTree::Ident(id) => {
                if run.is_empty() || colons != 2 {
                    flush(&mut run, line, &mut out);
                    line = id.span().start().line;
                }
                run.push(id.to_string());
                colons = 0;
            }
            TokenTree::Punct(p) if p.as_char() == ':' && !run.is_empty() => colons += 1,
            TokenTree::Group(g) => {
                flush(&mut run, line, &mut out);
                out.extend(token_paths(g.stream()));
                colons = 0;
            }
            _ => {
                flush(&mut run, line, &mut out);
                colons = 0;
            }
        }
    }
    flush(&mut run, line, &mut out);
    out
}

/// A use tree → (binding name, or `None` for a glob; the path as written).
fn flatten(tree: &syn::UseTree, prefix: Vec<String>, out: &mut Vec<(Option<String>, Vec<String>)>) {
    match tree {
        syn::UseTree::Path(p) => {
            let mut prefix = prefix;
            prefix.push(p.ident.to_string());
            flatten(&p.tree, prefix, out);
        }
        syn::UseTree::Name(n) if n.ident == "self" => {
            if let Some(last) = prefix.last().cloned() {
                out.push((Some(last), prefix));
            }
        }
        syn::UseTree::Name(n) => {
            let mut path = prefix;
            path.push(n.ident.to_string());
            out.push((Some(n.ident.to_string()), path));
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix;
            if r.ident != "self" {
                path.push(r.ident.to_string());
            }
            out.push((Some(r.rename.to_string()), path));
        }
        syn::UseTree::Glob(_) => out.push((None, prefix)),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                flatten(t, prefix.clone(), out);
            }
        }
    }
}

fn item_name(item: &syn::Item) -> Option<String> {
    let ident = match item {
        syn::Item::Const(i) => &i.ident,
        syn::Item::Enum(i) => &i.ident,
        syn::Item::Fn(i) => &i.sig.ident,
        syn::Item::Macro(i) => i.ident.as_ref()?,
        syn::Item::Static(i) => &i.ident,
        syn::Item::Struct(i) => &i.ident,
        syn::Item::Trait(i) => &i.ident,
        syn::Item::TraitAlias(i) => &i.ident,
        syn::Item::Type(i) => &i.ident,
        syn::Item::Union(i) => &i.ident,
        _ => return None,
    };
    Some(ident.to_string())
}

fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find(|a| a.path().is_ident("path")).and_then(|a| match &a.meta {
        syn::Meta::NameValue(nv) => match &nv.value {
            syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

fn parent_dir(rel: &str) -> PathBuf {
    Path::new(rel).parent().map(Path::to_path_buf).unwrap_or_default()
}
