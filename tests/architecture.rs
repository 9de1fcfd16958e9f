//! The library's modules must not import each other in a cycle: a module
//! that uses its parent (or a sibling that uses it back) can no longer be read,
//! tested or moved on its own, and a mod.rs should be either a table of
//! contents or a top-level orchestrator that no child depends on.
//!
//! cargo-modules can check this, but it builds rust-analyzer (minutes of CI
//! per run), so this parses the sources with syn instead: it follows the
//! `mod` tree from src/lib.rs, resolves every path that names a module of
//! the crate (in `use` trees and in code, through re-exports) to the module
//! that defines the item, and fails on any strongly connected component of
//! that graph, naming one use per edge so a developer knows what to move.
//!
//! What it resolves: `use` trees (groups, renames, globs, `self`), and every
//! path of two or more segments in code (expressions, types, patterns, trait
//! impls, macro names) that starts with `crate`, `super`, `self`, a child
//! module, or a name imported by a `use` (of the module or of an enclosing
//! block), following re-exports and globs to the defining module. Arguments
//! of macro invocations are read as statements or, part by part, as
//! expressions, types or patterns (format!, assert!, matches!, tracing).
//!
//! What it cannot see: paths inside `macro_rules!` definitions; macro
//! arguments that parse as none of those (`tokio::select!` arms, `json!`
//! objects); tokens of attributes (`#[derive(…)]`, `#[serde(…)]`) and paths
//! in strings; code from `include!` (the generated protobuf types) or from
//! macro expansion; modules declared inside function bodies; dependencies
//! that are never named (a method called on a value whose type comes from
//! another module). Items under `#[cfg(test)]` are skipped on purpose: test
//! code may use its parent. One-segment paths are not resolved: they name a
//! local item, an import (whose `use` is counted) or something outside the
//! crate. `use some::module;` on its own is no edge: the paths written
//! through that name are, and through a re-export they lead past it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use syn::visit::{self, Visit};

/// A module's path from the crate root; empty for the root itself.
type ModPath = Vec<String>;

fn show(m: &[String]) -> String {
    if m.is_empty() {
        "crate".to_string()
    } else {
        m.join("::")
    }
}

/// Where one edge of the graph comes from: a file, a line and the path as
/// written there.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Site {
    file: String,
    line: usize,
    text: String,
}

/// The names a module (or a block) brings into scope, each path as written
/// relative to the module that declares it.
#[derive(Default)]
struct Names {
    imports: BTreeMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
    defined: BTreeSet<String>,
}

struct Module {
    /// The file as shown in messages, relative to the crate directory.
    file: String,
    items: Vec<syn::Item>,
    children: BTreeSet<String>,
    names: Names,
}

/// One leaf of a `use` tree: `use a::{b::C as D, e::*, self}`.
struct UseLeaf {
    /// The full path the leaf names (for a glob: the module globbed).
    path: Vec<String>,
    /// The name it binds, if any (none for globs and `as _`).
    binds: Option<String>,
    glob: bool,
    line: usize,
    text: String,
}

fn use_leaves(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<UseLeaf>) {
    let joined = |prefix: &[String], last: &str| {
        let mut v = prefix.to_vec();
        v.push(last.to_string());
        v
    };
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_leaves(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            // `self` in a group names the prefix itself.
            let path = if name == "self" {
                prefix.clone()
            } else {
                joined(prefix, &name)
            };
            let binds = path.last().cloned();
            out.push(UseLeaf {
                text: format!("use {}", path.join("::")),
                binds,
                path,
                glob: false,
                line: n.ident.span().start().line,
            });
        }
        syn::UseTree::Rename(r) => {
            let name = r.ident.to_string();
            let path = if name == "self" {
                prefix.clone()
            } else {
                joined(prefix, &name)
            };
            let alias = r.rename.to_string();
            out.push(UseLeaf {
                text: format!("use {} as {alias}", path.join("::")),
                binds: (alias != "_").then_some(alias),
                path,
                glob: false,
                line: r.ident.span().start().line,
            });
        }
        syn::UseTree::Glob(g) => out.push(UseLeaf {
            text: format!("use {}::*", prefix.join("::")),
            path: prefix.clone(),
            binds: None,
            glob: true,
            line: g.star_token.spans[0].start().line,
        }),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                use_leaves(t, prefix, out);
            }
        }
    }
}

fn leaves_of(u: &syn::ItemUse) -> Vec<UseLeaf> {
    let mut out = Vec::new();
    let mut prefix = Vec::new();
    if u.leading_colon.is_some() {
        // `use ::x` names an external crate.
        return out;
    }
    use_leaves(&u.tree, &mut prefix, &mut out);
    out
}

/// `#[cfg(test)]` exactly: code compiled only for tests is allowed to use its
/// parent (`cfg(any(test, …))` is real code and stays checked).
fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test")
    })
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    use syn::Item::*;
    match item {
        Const(i) => &i.attrs,
        Enum(i) => &i.attrs,
        ExternCrate(i) => &i.attrs,
        Fn(i) => &i.attrs,
        ForeignMod(i) => &i.attrs,
        Impl(i) => &i.attrs,
        Macro(i) => &i.attrs,
        Mod(i) => &i.attrs,
        Static(i) => &i.attrs,
        Struct(i) => &i.attrs,
        Trait(i) => &i.attrs,
        TraitAlias(i) => &i.attrs,
        Type(i) => &i.attrs,
        Union(i) => &i.attrs,
        Use(i) => &i.attrs,
        _ => &[],
    }
}

fn defined_name(item: &syn::Item) -> Option<String> {
    use syn::Item::*;
    let ident = match item {
        Const(i) => &i.ident,
        Enum(i) => &i.ident,
        ExternCrate(i) => i.rename.as_ref().map_or(&i.ident, |r| &r.1),
        Fn(i) => &i.sig.ident,
        Macro(i) => i.ident.as_ref()?,
        Static(i) => &i.ident,
        Struct(i) => &i.ident,
        Trait(i) => &i.ident,
        TraitAlias(i) => &i.ident,
        Type(i) => &i.ident,
        Union(i) => &i.ident,
        _ => return None,
    };
    Some(ident.to_string())
}

fn names_of<'a>(items: impl IntoIterator<Item = &'a syn::Item>) -> Names {
    let mut names = Names::default();
    for item in items {
        if is_cfg_test(item_attrs(item)) {
            continue;
        }
        if let syn::Item::Use(u) = item {
            for leaf in leaves_of(u) {
                if leaf.glob {
                    names.globs.push(leaf.path);
                } else if let Some(b) = leaf.binds {
                    names.imports.insert(b, leaf.path);
                }
            }
        } else if let Some(name) = defined_name(item) {
            names.defined.insert(name);
        }
    }
    names
}

fn ident_name(i: &syn::Ident) -> String {
    let s = i.to_string();
    s.strip_prefix("r#").map(str::to_string).unwrap_or(s)
}

fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| match &a.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

/// What a path resolves to: the module that defines the item it names, or
/// (`whole`) the module itself.
struct Target {
    module: ModPath,
    whole: bool,
}

impl Target {
    fn item_of(module: ModPath) -> Target {
        Target {
            module,
            whole: false,
        }
    }
}

struct Crate {
    dir: PathBuf,
    modules: BTreeMap<ModPath, Module>,
}

impl Crate {
    /// Reads the module tree from `root` (src/lib.rs or src/main.rs,
    /// relative to the crate directory `dir`).
    fn load(dir: &Path, root: &str) -> Crate {
        let mut krate = Crate {
            dir: dir.to_path_buf(),
            modules: BTreeMap::new(),
        };
        let file = dir.join(root);
        let children_dir = file
            .parent()
            .expect("a crate root has a directory")
            .to_path_buf();
        krate.load_file(Vec::new(), &file, children_dir);
        krate
    }

    fn shown(&self, file: &Path) -> String {
        file.strip_prefix(&self.dir)
            .unwrap_or(file)
            .display()
            .to_string()
    }

    fn load_file(&mut self, path: ModPath, file: &Path, children_dir: PathBuf) {
        let src = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let ast = syn::parse_file(&src).unwrap_or_else(|e| {
            panic!(
                "cannot parse {}:{}: {e}",
                file.display(),
                e.span().start().line
            )
        });
        let base = file
            .parent()
            .expect("a source file has a directory")
            .to_path_buf();
        self.add_module(path, file, &base, children_dir, ast.items);
    }

    /// Registers a module whose items are `items` (a file's or an inline
    /// block's), then its children. `path_base` is where a `#[path]` on a
    /// child is relative to, `children_dir` where `mod x;` looks for x.rs.
    fn add_module(
        &mut self,
        path: ModPath,
        file: &Path,
        path_base: &Path,
        children_dir: PathBuf,
        mut items: Vec<syn::Item>,
    ) {
        let mut children = BTreeSet::new();
        for item in &mut items {
            let syn::Item::Mod(m) = item else { continue };
            if is_cfg_test(&m.attrs) {
                continue;
            }
            let name = ident_name(&m.ident);
            children.insert(name.clone());
            let mut child = path.clone();
            child.push(name.clone());
            let explicit = path_attr(&m.attrs);
            // The parent keeps the `mod` item without its body, which is the child's.
            match m.content.take() {
                Some((_, inner)) => {
                    let dir = children_dir.join(explicit.as_deref().unwrap_or(&name));
                    self.add_module(child, file, &dir, dir.clone(), inner);
                }
                None => {
                    let (child_file, dir) = match explicit {
                        // A file named by #[path] owns its directory, as a mod.rs does.
                        Some(p) => {
                            let f = path_base.join(p);
                            let d = f.parent().expect("a file has a directory").to_path_buf();
                            (f, d)
                        }
                        None => {
                            let flat = children_dir.join(format!("{name}.rs"));
                            let nested = children_dir.join(&name).join("mod.rs");
                            if flat.exists() {
                                (flat, children_dir.join(&name))
                            } else if nested.exists() {
                                (nested, children_dir.join(&name))
                            } else {
                                panic!(
                                    "{} declares `mod {name};` but neither {} nor {} exists",
                                    self.shown(file),
                                    self.shown(&flat),
                                    self.shown(&nested)
                                )
                            }
                        }
                    };
                    self.load_file(child, &child_file, dir);
                }
            }
        }
        let names = names_of(&items);
        let file = self.shown(file);
        self.modules.insert(
            path,
            Module {
                file,
                items,
                children,
                names,
            },
        );
    }

    /// The module that defines what `segs` names when written in module
    /// `at` (with the block scopes `scopes` around it, innermost last), or
    /// None when it names nothing of this crate (std, a dependency, a local).
    fn resolve(
        &self,
        at: &ModPath,
        scopes: &[Names],
        segs: &[String],
        depth: u32,
    ) -> Option<Target> {
        let first = segs.first()?;
        if depth > 32 {
            return None;
        }
        match first.as_str() {
            "crate" => return self.walk(Vec::new(), &segs[1..], depth),
            "self" | "super" => return self.walk(at.clone(), segs, depth),
            "Self" => return None,
            _ => {}
        }
        let module = self.modules.get(at)?;
        for names in scopes.iter().rev() {
            if let Some(found) = self.in_names(at, names, segs, depth) {
                return found;
            }
        }
        if module.children.contains(first) {
            let mut child = at.clone();
            child.push(first.clone());
            return self.walk(child, &segs[1..], depth);
        }
        self.in_names(at, &module.names, segs, depth).flatten()
    }

    /// Looks `segs[0]` up among `names` declared in module `at`:
    /// Some(answer) when they bind it, None when the lookup goes on outward.
    fn in_names(
        &self,
        at: &ModPath,
        names: &Names,
        segs: &[String],
        depth: u32,
    ) -> Option<Option<Target>> {
        let first = &segs[0];
        if let Some(target) = names.imports.get(first) {
            let mut full = target.clone();
            full.extend_from_slice(&segs[1..]);
            return Some(self.resolve(at, &[], &full, depth + 1));
        }
        if names.defined.contains(first) {
            return Some(Some(Target::item_of(at.clone())));
        }
        for glob in &names.globs {
            let Some(from) = self.resolve(at, &[], glob, depth + 1) else {
                continue;
            };
            // Only a module's glob brings names this lookup knows (an enum's
            // `use E::*` brings variants, which name no module).
            if from.whole && self.has_name(&from.module, first) {
                return Some(self.walk(from.module, segs, depth + 1));
            }
        }
        None
    }

    fn has_name(&self, at: &ModPath, name: &str) -> bool {
        self.modules.get(at).is_some_and(|m| {
            m.children.contains(name)
                || m.names.imports.contains_key(name)
                || m.names.defined.contains(name)
        })
    }

    /// Follows `rest` down from module `at`: into child modules, through
    /// re-exports and globs, up on `super`; stops at the module that
    /// defines the item.
    fn walk(&self, at: ModPath, rest: &[String], depth: u32) -> Option<Target> {
        if depth > 32 {
            return Some(Target::item_of(at));
        }
        let Some(seg) = rest.first() else {
            return Some(Target {
                module: at,
                whole: true,
            });
        };
        match seg.as_str() {
            "self" => return self.walk(at, &rest[1..], depth),
            "super" => {
                let mut parent = at;
                parent.pop()?;
                return self.walk(parent, &rest[1..], depth);
            }
            _ => {}
        }
        let module = self.modules.get(&at)?;
        if module.children.contains(seg) {
            let mut child = at;
            child.push(seg.clone());
            return self.walk(child, &rest[1..], depth);
        }
        match self.in_names(&at, &module.names, rest, depth) {
            // An item of this module (or a name it re-exports from outside
            // the crate): the dependency is on this module.
            Some(None) | None => Some(Target::item_of(at)),
            Some(found) => found,
        }
    }
}

/// The edges of one module's code, with the first site of each.
struct Collector<'a> {
    krate: &'a Crate,
    at: &'a ModPath,
    file: &'a str,
    scopes: Vec<Names>,
    edges: &'a mut BTreeMap<(ModPath, ModPath), Site>,
}

impl Collector<'_> {
    /// Records the edge to what `segs` names; `module_alone` says whether
    /// naming a module itself is one (not for `use a::module;`: the paths
    /// written through that name are the module's real uses, and with a
    /// re-export they lead past it).
    fn edge(&mut self, segs: &[String], module_alone: bool, line: usize, text: String) {
        let Some(to) = self.krate.resolve(self.at, &self.scopes, segs, 0) else {
            return;
        };
        if &to.module == self.at || (to.whole && !module_alone) {
            return;
        }
        self.edges
            .entry((self.at.clone(), to.module))
            .or_insert(Site {
                file: self.file.to_string(),
                line,
                text,
            });
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if !is_cfg_test(item_attrs(item)) {
            visit::visit_item(self, item);
        }
    }

    // A child module is a node of its own, visited on its own.
    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {}

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        let attrs: &[syn::Attribute] = match item {
            syn::ImplItem::Const(i) => &i.attrs,
            syn::ImplItem::Fn(i) => &i.attrs,
            syn::ImplItem::Type(i) => &i.attrs,
            syn::ImplItem::Macro(i) => &i.attrs,
            _ => &[],
        };
        if !is_cfg_test(attrs) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        for leaf in leaves_of(u) {
            self.edge(&leaf.path, leaf.glob, leaf.line, leaf.text);
        }
    }

    fn visit_block(&mut self, block: &'ast syn::Block) {
        let items = block.stmts.iter().filter_map(|s| match s {
            syn::Stmt::Item(i) => Some(i),
            _ => None,
        });
        self.scopes.push(names_of(items));
        visit::visit_block(self, block);
        self.scopes.pop();
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() && path.segments.len() >= 2 {
            let segs: Vec<String> = path.segments.iter().map(|s| ident_name(&s.ident)).collect();
            let line = path.segments[0].ident.span().start().line;
            let text = segs.join("::");
            self.edge(&segs, true, line, text);
        }
        visit::visit_path(self, path);
    }

    // `pub(in crate::x)` names where an item is visible, not what it uses.
    fn visit_vis_restricted(&mut self, _: &'ast syn::VisRestricted) {}

    // A macro's arguments are tokens to syn; read them as statements, or
    // else each comma- or semicolon-separated part as an expression, a type
    // or a pattern (format!, assert!, matches!, vec!, write!).
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        visit::visit_macro(self, mac);
        if let Ok(stmts) = mac.parse_body_with(syn::Block::parse_within) {
            for stmt in &stmts {
                self.visit_stmt(stmt);
            }
            return;
        }
        for part in macro_parts(mac.tokens.clone()) {
            if let Ok(e) = syn::parse2::<syn::Expr>(part.clone()) {
                self.visit_expr(&e);
            } else if let Ok(t) = syn::parse2::<syn::Type>(part.clone()) {
                self.visit_type(&t);
            } else if let Ok(p) = syn::parse::Parser::parse2(syn::Pat::parse_multi, part) {
                self.visit_pat(&p);
            }
        }
    }
}

fn macro_parts(tokens: proc_macro2::TokenStream) -> Vec<proc_macro2::TokenStream> {
    let mut parts = vec![proc_macro2::TokenStream::new()];
    for tt in tokens {
        match &tt {
            proc_macro2::TokenTree::Punct(p) if matches!(p.as_char(), ',' | ';') => {
                parts.push(proc_macro2::TokenStream::new());
            }
            _ => parts.last_mut().expect("never empty").extend([tt]),
        }
    }
    parts
}

struct Graph {
    modules: Vec<ModPath>,
    edges: BTreeMap<(ModPath, ModPath), Site>,
}

fn graph(krate: &Crate) -> Graph {
    let mut edges = BTreeMap::new();
    for (at, module) in &krate.modules {
        let mut c = Collector {
            krate,
            at,
            file: &module.file,
            scopes: Vec::new(),
            edges: &mut edges,
        };
        for item in &module.items {
            c.visit_item(item);
        }
    }
    Graph {
        modules: krate.modules.keys().cloned().collect(),
        edges,
    }
}

/// Tarjan's strongly connected components, as lists of node indices.
fn components(n: usize, adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct T<'a> {
        adj: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn strong(t: &mut T, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on_stack[v] = true;
        for &w in &t.adj[v] {
            match t.index[w] {
                None => {
                    strong(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on_stack[w] => t.low[v] = t.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = t.stack.pop().expect("v is on the stack");
                t.on_stack[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            comp.sort();
            t.out.push(comp);
        }
    }
    let mut t = T {
        adj,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            strong(&mut t, v);
        }
    }
    t.out
}

/// Shortest path from `from` to `to` inside `allowed`, both ends included.
fn shortest(adj: &[Vec<usize>], allowed: &BTreeSet<usize>, from: usize, to: usize) -> Vec<usize> {
    let mut prev: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([from]);
    let mut seen = BTreeSet::from([from]);
    while let Some(v) = queue.pop_front() {
        if v == to {
            break;
        }
        for &w in &adj[v] {
            if allowed.contains(&w) && seen.insert(w) {
                prev.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    let mut path = vec![to];
    let mut cur = to;
    while cur != from {
        cur = prev[&cur];
        path.push(cur);
    }
    path.reverse();
    path
}

/// One import cycle: modules in order, the first repeated at the end, and
/// the site of each edge.
#[derive(Debug)]
struct Cycle {
    modules: Vec<ModPath>,
    sites: Vec<Site>,
}

impl Cycle {
    fn render(&self) -> String {
        let mut s = format!("import cycle: {}", show(&self.modules[0]));
        for (pair, site) in self.modules.windows(2).zip(&self.sites) {
            let (from, to) = (&pair[0], &pair[1]);
            // The edge most often at fault: a child reaching into its parent.
            let up = if from.starts_with(to) {
                ", its ancestor"
            } else {
                ""
            };
            let _ = write!(
                s,
                "\n  -> {}{up} ({}:{} {})",
                show(to),
                site.file,
                site.line,
                site.text
            );
        }
        s
    }
}

/// Modules that reach each other through imports (a strongly connected
/// component), and cycles that together cover every edge among them, so
/// each import that holds the group together is named once.
#[derive(Debug)]
struct Tangle {
    modules: Vec<ModPath>,
    cycles: Vec<Cycle>,
}

fn tangles(g: &Graph) -> Vec<Tangle> {
    let index: HashMap<&ModPath, usize> =
        g.modules.iter().enumerate().map(|(i, m)| (m, i)).collect();
    let mut adj = vec![Vec::new(); g.modules.len()];
    for (from, to) in g.edges.keys() {
        adj[index[from]].push(index[to]);
    }
    let mut out = Vec::new();
    for comp in components(g.modules.len(), &adj) {
        if comp.len() < 2 {
            continue;
        }
        let members: BTreeSet<usize> = comp.iter().copied().collect();
        let mut covered = BTreeSet::new();
        let mut cycles = Vec::new();
        for &u in &comp {
            for &v in &adj[u] {
                if !members.contains(&v) || covered.contains(&(u, v)) {
                    continue;
                }
                let mut ring = vec![u];
                ring.extend(shortest(&adj, &members, v, u));
                for pair in ring.windows(2) {
                    covered.insert((pair[0], pair[1]));
                }
                let modules: Vec<ModPath> = ring.iter().map(|&i| g.modules[i].clone()).collect();
                let sites = modules
                    .windows(2)
                    .map(|p| g.edges[&(p[0].clone(), p[1].clone())].clone())
                    .collect();
                cycles.push(Cycle { modules, sites });
            }
        }
        let modules = comp.iter().map(|&i| g.modules[i].clone()).collect();
        out.push(Tangle { modules, cycles });
    }
    out.sort_by(|a, b| a.modules.cmp(&b.modules));
    out
}

/// The module graph of the crate in `dir` rooted at `root` (relative to
/// `dir`), and the groups of modules caught in import cycles.
fn check(dir: &Path, root: &str) -> (Graph, Vec<Tangle>) {
    let krate = Crate::load(dir, root);
    let g = graph(&krate);
    let t = tangles(&g);
    (g, t)
}

fn render(tangles: &[Tangle]) -> String {
    let mut s = String::new();
    for (n, t) in tangles.iter().enumerate() {
        let names: Vec<String> = t.modules.iter().map(|m| show(m)).collect();
        let _ = writeln!(
            s,
            "\n{} modules import each other in a cycle ({} of {}): {}",
            t.modules.len(),
            n + 1,
            tangles.len(),
            names.join(", ")
        );
        for c in &t.cycles {
            let _ = writeln!(s, "{}", c.render());
        }
    }
    s
}

#[test]
fn the_library_has_no_import_cycle() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // main.rs reaches the library as `mesos_docker::`, an outside crate:
    // it is a crate root of its own, checked the same way.
    for root in ["src/lib.rs", "src/main.rs"] {
        let started = std::time::Instant::now();
        let (g, tangles) = check(dir, root);
        println!(
            "{root}: {} modules, {} import edges between them, checked in {:?}",
            g.modules.len(),
            g.edges.len(),
            started.elapsed()
        );
        assert!(
            tangles.is_empty(),
            "the modules of {root} import each other in cycles; for each, move what \
             one named line uses (or the line itself) so that no module needs one that \
             needs it back, and no child module uses its ancestor:\n{}",
            render(&tangles)
        );
    }
}

// --- The checker itself, on small synthetic crates. ---

fn synthetic(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("a file in a directory")).expect("mkdir");
        std::fs::write(p, text).expect("write a synthetic source file");
    }
    dir
}

/// The cycles found in a synthetic crate, rendered.
fn cycles_of(files: &[(&str, &str)]) -> Vec<String> {
    let dir = synthetic(files);
    let (_, tangles) = check(dir.path(), "src/lib.rs");
    tangles
        .iter()
        .flat_map(|t| t.cycles.iter().map(Cycle::render))
        .collect()
}

fn edges_of(files: &[(&str, &str)]) -> Vec<String> {
    let dir = synthetic(files);
    let (g, _) = check(dir.path(), "src/lib.rs");
    g.edges
        .keys()
        .map(|(a, b)| format!("{} -> {}", show(a), show(b)))
        .collect()
}

#[test]
fn two_siblings_that_use_each_other_are_a_cycle() {
    let found = cycles_of(&[
        ("src/lib.rs", "mod a;\nmod b;\n"),
        ("src/a.rs", "pub struct Y;\nuse crate::b::X;\n"),
        ("src/b.rs", "pub struct X;\nuse super::a::Y;\n"),
    ]);
    assert_eq!(
        found,
        [
            "import cycle: a\n  -> b (src/a.rs:2 use crate::b::X)\n  -> a (src/b.rs:2 use super::a::Y)"
        ]
    );
}

#[test]
fn a_re_export_leads_to_the_module_that_defines_the_item() {
    // The parent re-exports one child's item that another child uses
    // through the parent: the edge goes to the defining child, so the
    // parent (which calls the user) is not in a loop with it. Renames and a
    // second re-export on the way are followed too.
    let files = [
        (
            "src/lib.rs",
            "pub mod outer;\nmod user;\npub use outer::Renamed as Top;\n",
        ),
        (
            "src/outer/mod.rs",
            "mod maker;\nmod taker;\npub use maker::{Thing as Renamed};\npub fn run() { taker::go() }\n",
        ),
        ("src/outer/maker.rs", "pub struct Thing;\n"),
        (
            "src/outer/taker.rs",
            "pub fn go() { let _ = super::Renamed; }\n",
        ),
        ("src/user.rs", "fn g(_: crate::Top) {}\n"),
    ];
    assert_eq!(cycles_of(&files), Vec::<String>::new());
    assert_eq!(
        edges_of(&files),
        [
            "crate -> outer::maker",
            "outer -> outer::maker",
            "outer -> outer::taker",
            "outer::taker -> outer::maker",
            "user -> outer::maker"
        ]
    );
}

#[test]
fn super_super_and_use_groups_are_followed() {
    let found = cycles_of(&[
        ("src/lib.rs", "mod top;\nmod deep;\n"),
        (
            "src/top.rs",
            "use crate::{deep::{self, nested::{Leaf as L}}, top as _};\npub struct T;\n",
        ),
        ("src/deep/mod.rs", "pub mod nested;\n"),
        (
            "src/deep/nested.rs",
            "pub struct Leaf;\nfn f() { let _ = super::super::top::T; }\n",
        ),
    ]);
    assert_eq!(
        found,
        [
            "import cycle: deep::nested\n  -> top (src/deep/nested.rs:2 super::super::top::T)\n  \
             -> deep::nested (src/top.rs:1 use crate::deep::nested::Leaf as L)"
        ]
    );
}

#[test]
fn a_child_that_uses_its_parent_is_a_cycle_but_test_code_is_not() {
    let found = cycles_of(&[
        ("src/lib.rs", "mod parent;\n"),
        (
            "src/parent/mod.rs",
            "mod child;\npub struct P;\nfn f() { child::g() }\n\
             #[cfg(test)]\nmod tests { use super::child::g; }\n",
        ),
        (
            "src/parent/child.rs",
            "pub fn g() {}\n#[cfg(test)]\nfn h() -> super::P { super::P }\n\
             pub fn k() { let _ = crate::parent::P; }\n",
        ),
    ]);
    assert_eq!(
        found,
        [
            "import cycle: parent\n  -> parent::child (src/parent/mod.rs:3 child::g)\n  \
             -> parent, its ancestor (src/parent/child.rs:4 crate::parent::P)"
        ]
    );
}

#[test]
fn paths_in_code_types_impls_and_macro_arguments_count() {
    // Each of b's lines on its own closes the cycle a -> b -> a.
    for line in [
        "impl From<super::a::E> for X { fn from(_: super::a::E) -> X { X } }",
        "fn f() { println!(\"{}\", crate::a::name()); }",
        "fn f() -> bool { matches!(\"\", crate::a::NAME) }",
        "fn f() { let _ = vec![crate::a::E::V; 2]; }",
        "fn f() { assert!(matches!(None::<u8>, Some(_)), \"{}\", crate::a::name()); }",
        "thread_local! { static N: &'static str = crate::a::name(); }",
        "fn f() -> Vec<crate::a::E> { Vec::new() }",
        "fn f(e: crate::a::E) { match e { crate::a::E::V => {} } }",
        "use crate as root;\nfn f() { root::a::name(); }",
        "fn f() { use super::a; a::name(); }",
        "use super::*;\nfn f() { a::name(); }",
    ] {
        let b = format!("pub struct X;\n{line}\n");
        let found = cycles_of(&[
            ("src/lib.rs", "mod a;\nmod b;\n"),
            (
                "src/a.rs",
                "pub enum E { V }\npub const NAME: &str = \"\";\n\
                 pub fn name() -> &'static str { \"\" }\nuse crate::b::X;\n",
            ),
            ("src/b.rs", &b),
        ]);
        assert_eq!(found.len(), 1, "{line}: {found:?}");
    }
}

#[test]
fn inline_modules_and_path_attributes_are_modules() {
    let found = cycles_of(&[
        (
            "src/lib.rs",
            "mod outer {\n    pub mod inner {\n        pub fn f() { super::g() }\n    }\n    \
             pub fn g() {}\n    fn h() { inner::f() }\n}\n#[path = \"elsewhere/named.rs\"]\nmod renamed;\n",
        ),
        ("src/elsewhere/named.rs", "pub fn n() {}\n"),
    ]);
    assert_eq!(
        found,
        [
            "import cycle: outer\n  -> outer::inner (src/lib.rs:6 inner::f)\n  \
             -> outer, its ancestor (src/lib.rs:3 super::g)"
        ]
    );
}

#[test]
fn names_outside_the_crate_and_local_items_are_no_edges() {
    let edges = edges_of(&[
        ("src/lib.rs", "mod a;\n"),
        (
            "src/a.rs",
            "use std::collections::BTreeMap;\nenum E { V }\n\
             fn f() -> BTreeMap<u8, u8> { let _ = E::V; let _ = self::E::V; std::process::id(); BTreeMap::new() }\n",
        ),
    ]);
    assert_eq!(edges, Vec::<String>::new());
}

#[test]
#[should_panic(
    expected = "src/lib.rs declares `mod gone;` but neither src/gone.rs nor src/gone/mod.rs exists"
)]
fn a_missing_module_file_is_named() {
    cycles_of(&[("src/lib.rs", "mod gone;\n")]);
}
