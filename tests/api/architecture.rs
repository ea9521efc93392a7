//! The module graph of `src/`: built from `crate::…`, `super::…` and child-module paths, it must
//! have no cycle between files and must keep the layer rules listed in `RULES`.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

/// A module path such as `crate::recovery::ports`, and the files (modules) it depends on.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The use cases of `recovery/`: none of them may import another (shared pieces live in the
/// shared modules of `recovery/`, which any use case may import).
const USE_CASES: &[&str] = &[
    "crate::recovery::find_id",
    "crate::recovery::password_reset",
    "crate::recovery::password_change",
    "crate::recovery::sessions",
    "crate::recovery::members",
    "crate::recovery::mail_delivery",
    "crate::recovery::recovery_activity",
    "crate::recovery::recovery_codes",
];

/// (rule, modules under this prefix, may not depend on modules under any of these prefixes).
/// Dependencies point inward: http/graphql → recovery → domain; infra implements recovery's ports;
/// runners/ schedule the use cases and are started by app.rs.
const RULES: &[(&str, &str, &[&str])] = &[
    (
        "domain/ is pure: it imports nothing outside domain/",
        "crate::domain",
        &[
            "crate::recovery",
            "crate::runners",
            "crate::graphql",
            "crate::http",
            "crate::infra",
            "crate::app",
            "crate::cli",
            "crate::config",
            "crate::telemetry",
        ],
    ),
    (
        "recovery/ imports only domain/ and recovery/",
        "crate::recovery",
        &[
            "crate::runners",
            "crate::graphql",
            "crate::http",
            "crate::infra",
            "crate::app",
            "crate::cli",
            "crate::config",
            "crate::telemetry",
        ],
    ),
    (
        "graphql/ imports neither http/ nor infra/",
        "crate::graphql",
        &[
            "crate::http",
            "crate::infra",
            "crate::runners",
            "crate::app",
            "crate::cli",
        ],
    ),
    (
        "infra/ implements ports and never calls the edges",
        "crate::infra",
        &[
            "crate::graphql",
            "crate::http",
            "crate::runners",
            "crate::app",
            "crate::cli",
        ],
    ),
    (
        "runners/ schedule the use cases: they import only recovery/, domain/ and runners/",
        "crate::runners",
        &[
            "crate::graphql",
            "crate::http",
            "crate::infra",
            "crate::app",
            "crate::cli",
            "crate::config",
            "crate::telemetry",
        ],
    ),
];

fn within(module: &str, prefix: &str) -> bool {
    module == prefix || module.starts_with(&format!("{prefix}::"))
}

/// Every broken rule, as readable lines.
fn violations(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for (from, deps) in graph {
        for to in deps {
            for (rule, scope, forbidden) in RULES {
                if within(from, scope) && forbidden.iter().any(|f| within(to, f)) {
                    found.push(format!("{from} -> {to}: {rule}"));
                }
            }
            let case_of = |m: &str| USE_CASES.iter().find(|c| within(m, c)).copied();
            if let (Some(a), Some(b)) = (case_of(from), case_of(to))
                && a != b
            {
                found.push(format!("{from} -> {to}: a use case imports a sibling use case"));
            }
        }
    }
    found
}

/// Every cycle between modules (each strongly connected component with more than one module,
/// or a module depending on itself), found with Tarjan's algorithm.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, node: &'a str) {
        let i = s.index.len();
        s.index.insert(node, i);
        s.low.insert(node, i);
        s.stack.push(node);
        s.on_stack.insert(node);
        for next in s.graph.get(node).into_iter().flatten() {
            let next = next.as_str();
            if !s.index.contains_key(next) {
                visit(s, next);
                let low = s.low[node].min(s.low[next]);
                s.low.insert(node, low);
            } else if s.on_stack.contains(next) {
                let low = s.low[node].min(s.index[next]);
                s.low.insert(node, low);
            }
        }
        if s.low[node] == s.index[node] {
            let mut component = Vec::new();
            while let Some(top) = s.stack.pop() {
                s.on_stack.remove(top);
                component.push(top.to_owned());
                if top == node {
                    break;
                }
            }
            let self_loop = s.graph.get(node).is_some_and(|d| d.contains(node));
            if component.len() > 1 || self_loop {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.found
}

/// The module path of a file under `src/` (`recovery/ports.rs` → `crate::recovery::ports`).
fn module_of(relative: &str) -> String {
    let trimmed = relative.trim_end_matches(".rs");
    let trimmed = trimmed.strip_suffix("/mod").unwrap_or(trimmed);
    if trimmed == "lib" {
        return "crate".to_owned();
    }
    format!("crate::{}", trimmed.replace('/', "::"))
}

/// The code of a file without comments and without its `#[cfg(test)]` module (test code may
/// reach for adapters; the rules are about what ships).
fn production_code(source: &str) -> String {
    let cut = source.find("#[cfg(test)]\nmod tests").unwrap_or(source.len());
    source[..cut]
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands a `use` tree such as `crate::{a::{b, c}, d}` into its paths.
fn expand_use(tree: &str) -> Vec<String> {
    // `X as Y` names X; then whitespace carries no meaning.
    let mut tokens = Vec::new();
    let mut words = tree.split_whitespace();
    while let Some(word) = words.next() {
        if word == "as" {
            let renamed = words.next().unwrap_or("");
            // Keep the punctuation after the new name (`as Y,` or `as Y}`).
            tokens.push(renamed.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_'));
        } else {
            tokens.push(word);
        }
    }
    let tree: String = tokens.concat();
    fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
        let Some(open) = tree.find('{') else {
            let path = tree.trim_end_matches("::");
            out.push(if prefix.is_empty() {
                path.to_owned()
            } else {
                format!("{prefix}::{path}")
            });
            return;
        };
        let head = tree[..open].trim_end_matches("::");
        let prefix = match (prefix.is_empty(), head.is_empty()) {
            (true, _) => head.to_owned(),
            (false, true) => prefix.to_owned(),
            (false, false) => format!("{prefix}::{head}"),
        };
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    if !inner[start..i].is_empty() {
                        expand(&prefix, &inner[start..i], out);
                    }
                    start = i + 1;
                }
                _ => {}
            }
        }
        if !inner[start..].is_empty() {
            expand(&prefix, &inner[start..], out);
        }
    }
    let mut out = Vec::new();
    expand("", &tree, &mut out);
    out
}

/// The paths a file names: its `use` trees, and `crate::`/`super::` paths written inline.
fn referenced_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before_ok =
            at == 0 || !rest.as_bytes()[at - 1].is_ascii_alphanumeric() && rest.as_bytes()[at - 1] != b'_';
        let after = &rest[at + 4..];
        let Some(end) = after.find(';') else { break };
        if before_ok {
            paths.extend(expand_use(&after[..end]));
            rest = &after[end..];
        } else {
            rest = after;
        }
    }
    for anchor in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(at) = rest.find(anchor) {
            let boundary = at == 0
                || !(rest.as_bytes()[at - 1].is_ascii_alphanumeric()
                    || rest.as_bytes()[at - 1] == b'_'
                    || rest.as_bytes()[at - 1] == b':');
            let tail = &rest[at..];
            let len = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            // `use crate::a::{…}` was read with the use trees above.
            if boundary && !tail[..len].ends_with("::") {
                paths.push(tail[..len].trim_end_matches(':').to_owned());
            }
            rest = &rest[at + len.max(anchor.len())..];
        }
    }
    paths
}

/// Resolves a path written in `module` to the deepest known module it names. (`super::` is read
/// from the file's module, so inline modules name their imports with `crate::` paths.)
fn resolve(module: &str, path: &str, modules: &BTreeSet<String>) -> Option<String> {
    let mut segments: Vec<String> = if let Some(rest) = path.strip_prefix("crate") {
        let mut s = vec!["crate".to_owned()];
        s.extend(rest.split("::").filter(|p| !p.is_empty()).map(str::to_owned));
        s
    } else if path.starts_with("super") {
        let mut base: Vec<String> = module.split("::").map(str::to_owned).collect();
        let mut parts = path.split("::").peekable();
        while parts.peek() == Some(&"super") {
            parts.next();
            base.pop();
        }
        base.extend(parts.map(str::to_owned));
        base
    } else {
        // A path relative to the module itself names one of its children (`pub use mutation::…`).
        let first = path.split("::").next()?;
        let child = format!("{module}::{first}");
        if !modules.contains(&child) {
            return None;
        }
        let mut s: Vec<String> = module.split("::").map(str::to_owned).collect();
        s.extend(path.split("::").map(str::to_owned));
        s
    };
    while !segments.is_empty() {
        let candidate = segments.join("::");
        if modules.contains(&candidate) {
            return Some(candidate);
        }
        segments.pop();
    }
    None
}

fn graph_of(files: &BTreeMap<String, String>) -> Graph {
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    let mut graph = Graph::new();
    for (module, source) in files {
        let deps = graph.entry(module.clone()).or_default();
        for path in referenced_paths(&production_code(source)) {
            if let Some(to) = resolve(module, &path, &modules)
                && &to != module
                // The crate root only declares modules.
                && to != "crate"
            {
                deps.insert(to);
            }
        }
    }
    graph
}

fn read_sources(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            read_sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            // main.rs is the binary crate: it sees the library only through its public API.
            if relative != "main.rs" {
                out.insert(module_of(&relative), std::fs::read_to_string(&path).unwrap());
            }
        }
    }
}

#[test]
fn src_has_no_import_cycle_and_keeps_the_layer_rules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    read_sources(&root, &root, &mut files);
    let graph = graph_of(&files);
    assert!(
        graph.len() > 40 && graph["crate::graphql::request"].contains("crate::recovery::context"),
        "the graph was not built: {graph:#?}"
    );
    let found = cycles(&graph);
    let shown: Vec<_> = found
        .iter()
        .flatten()
        .map(|m| format!("{m} -> {:?}", graph[m]))
        .collect();
    assert!(
        found.is_empty(),
        "import cycles between files: {found:#?}\n{}",
        shown.join("\n")
    );
    let broken = violations(&graph);
    assert!(broken.is_empty(), "layer rules broken:\n{}", broken.join("\n"));
}

fn files(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(path, source)| (module_of(path), (*source).to_owned()))
        .collect()
}

#[test]
fn the_checker_finds_a_cycle_in_a_tiny_graph() {
    let sources = files(&[
        ("lib.rs", "pub mod a;\npub mod b;\npub mod c;"),
        ("a.rs", "use crate::{b::{Thing, other::More}, c};"),
        ("b.rs", "fn f() { super::c::call(); }"),
        (
            "c.rs",
            "use crate::a::Start;\n#[cfg(test)]\nmod tests { use crate::b::X; }",
        ),
    ]);
    let graph = graph_of(&sources);
    assert_eq!(
        graph["crate::a"],
        BTreeSet::from(["crate::b".to_owned(), "crate::c".to_owned()])
    );
    assert_eq!(graph["crate::b"], BTreeSet::from(["crate::c".to_owned()]));
    // The test module's import does not count.
    assert_eq!(graph["crate::c"], BTreeSet::from(["crate::a".to_owned()]));
    assert_eq!(
        cycles(&graph),
        vec![vec![
            "crate::a".to_owned(),
            "crate::b".to_owned(),
            "crate::c".to_owned()
        ]]
    );
    let acyclic = files(&[
        ("a.rs", "use crate::b::X;"),
        ("b.rs", "use crate::c::Y;"),
        ("c.rs", ""),
    ]);
    assert!(cycles(&graph_of(&acyclic)).is_empty());
}

#[test]
fn the_checker_finds_broken_layer_rules() {
    let sources = files(&[
        ("domain/mod.rs", "pub mod member;"),
        ("domain/member.rs", "use crate::recovery::ports::Store;"),
        (
            "recovery/mod.rs",
            "pub mod errors;\npub mod ports;\npub mod sessions;\npub mod password_change;",
        ),
        (
            "recovery/errors.rs",
            "use crate::runners::delivery_worker::DeliveryWorker;",
        ),
        (
            "recovery/ports.rs",
            "// use crate::http::Nope; (a comment does not count)",
        ),
        (
            "recovery/sessions.rs",
            "fn f() -> crate::http::client_addr::ClientAddr { todo!() }",
        ),
        ("recovery/password_change.rs", "use super::sessions::Sessions;"),
        ("http/mod.rs", "pub mod client_addr;"),
        ("http/client_addr.rs", ""),
        ("runners/mod.rs", "pub mod delivery_worker;"),
        ("runners/delivery_worker.rs", ""),
    ]);
    let broken = violations(&graph_of(&sources));
    assert_eq!(broken.len(), 4, "{broken:#?}");
    assert!(broken[0].starts_with("crate::domain::member -> crate::recovery::ports"));
    assert!(broken[1].starts_with("crate::recovery::errors -> crate::runners::delivery_worker"));
    assert!(broken[2].contains("a sibling use case"));
    assert!(broken[3].starts_with("crate::recovery::sessions -> crate::http::client_addr"));
}
