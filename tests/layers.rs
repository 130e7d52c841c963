//! The layer rule (README, "Architecture"), held: a module imports only from its own layer or the
//! ones below. Reads every `.rs` file under `src/`, collects every `crate::…`, `super::…` and
//! `self::…` path (in `use` declarations, grouped or not, and written inline), resolves it to the
//! module it names, and fails naming importer → imported for each import from a higher layer.
//! Every module must be placed in a layer here: a new file fails the test until it is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const LAYERS: [&str; 5] = ["basics", "storage", "clients", "workflows", "edges"];
const BASICS: usize = 0;
const STORAGE: usize = 1;
const CLIENTS: usize = 2;
const WORKFLOWS: usize = 3;
const EDGES: usize = 4;

/// Every module of `src/` (its path below the crate root; `crate` is `lib.rs`) and its layer.
const MODULES: &[(&str, usize)] = &[
    // Basics: no I/O, no storage; the rules and types everything shares.
    ("config", BASICS),
    ("clock", BASICS),
    ("costs", BASICS),
    ("crypto", BASICS),
    ("domain", BASICS),
    ("settings", BASICS),
    ("settings::contact_privacy", BASICS),
    ("settings::fulfillment", BASICS),
    ("settings::costs", BASICS),
    ("settings::fallback", BASICS),
    ("settings::fields", BASICS),
    ("settings::general", BASICS),
    ("settings::ivr", BASICS),
    ("settings::otp", BASICS),
    ("settings::plan", BASICS),
    ("settings::rules", BASICS),
    ("settings::sms", BASICS),
    ("settings::whatsapp", BASICS),
    ("reports", BASICS),
    ("outcomes", BASICS),
    ("outcomes::facts", BASICS),
    ("pincode", BASICS),
    // Storage: the pool, transactions, the job queue's mechanics and the tables.
    ("db", STORAGE),
    ("db::addresses", STORAGE),
    ("db::agent_calls", STORAGE),
    ("db::attempts", STORAGE),
    ("db::contacts", STORAGE),
    ("db::costs", STORAGE),
    ("db::data_requests", STORAGE),
    ("db::erasure", STORAGE),
    ("db::holds", STORAGE),
    ("db::events", STORAGE),
    ("db::inbox", STORAGE),
    ("db::links", STORAGE),
    ("db::missed_calls", STORAGE),
    ("db::orders", STORAGE),
    ("db::otps", STORAGE),
    ("db::outbox", STORAGE),
    ("db::outcome_days", STORAGE),
    ("db::outcomes", STORAGE),
    ("db::queue", STORAGE),
    ("db::rates", STORAGE),
    ("db::reports", STORAGE),
    ("db::reports::activity", STORAGE),
    ("db::reports::whatsapp", STORAGE),
    ("db::review", STORAGE),
    ("db::shops", STORAGE),
    ("db::sms", STORAGE),
    ("db::whatsapp", STORAGE),
    ("db::pii", STORAGE),
    // Platform clients, and the context that bundles them with the pool for the layers above.
    ("exotel", CLIENTS),
    ("exotel::answer", CLIENTS),
    ("exotel::client", CLIENTS),
    ("exotel::error", CLIENTS),
    ("exotel::sms", CLIENTS),
    ("exotel::voice", CLIENTS),
    ("exotel::whatsapp", CLIENTS),
    ("exotel::whatsapp::callbacks", CLIENTS),
    ("shopify", CLIENTS),
    ("shopify::admin", CLIENTS),
    ("shopify::fulfillment", CLIENTS),
    ("shopify::oauth", CLIENTS),
    ("shopify::session", CLIENTS),
    ("shopify::tokens", CLIENTS),
    ("app", CLIENTS),
    // Workflows: the product's rules.
    ("verification", WORKFLOWS),
    ("verification::address", WORKFLOWS),
    ("verification::dialer", WORKFLOWS),
    ("verification::fallback", WORKFLOWS),
    ("verification::hold", WORKFLOWS),
    ("verification::intake", WORKFLOWS),
    ("verification::ivr", WORKFLOWS),
    ("verification::link", WORKFLOWS),
    ("verification::missed_call", WORKFLOWS),
    ("verification::sms", WORKFLOWS),
    ("verification::whatsapp", WORKFLOWS),
    ("verification::otp", WORKFLOWS),
    ("verification::plan", WORKFLOWS),
    ("verification::review", WORKFLOWS),
    ("verification::runner", WORKFLOWS),
    ("verification::schedule", WORKFLOWS),
    ("verification::targeting", WORKFLOWS),
    ("inbox", WORKFLOWS),
    ("inbox::shipping", WORKFLOWS),
    ("compliance", WORKFLOWS),
    ("click_to_call", WORKFLOWS),
    // Edges: HTTP, the worker registry, the demo, start-up.
    ("web", EDGES),
    ("web::embedded", EDGES),
    ("web::error", EDGES),
    ("web::exotel", EDGES),
    ("web::install", EDGES),
    ("web::limits", EDGES),
    ("web::link", EDGES),
    ("web::ops", EDGES),
    ("web::otp_api", EDGES),
    ("web::outcomes", EDGES),
    ("web::outcomes_page", EDGES),
    ("web::pages", EDGES),
    ("web::pages::costs", EDGES),
    ("web::pages::plan", EDGES),
    ("web::pages::rules", EDGES),
    ("web::privacy", EDGES),
    ("web::reports", EDGES),
    ("web::reports::csv", EDGES),
    ("web::reports::labels", EDGES),
    ("web::reports::orders", EDGES),
    ("web::reports::svg", EDGES),
    ("web::review", EDGES),
    ("web::texts", EDGES),
    ("web::webhooks", EDGES),
    ("worker", EDGES),
    ("demo", EDGES),
    ("demo::console", EDGES),
    ("demo::sim", EDGES),
    ("simulate", EDGES),
    ("simulate::args", EDGES),
    ("simulate::engine", EDGES),
    ("simulate::population", EDGES),
    ("crate", EDGES),
    ("main", EDGES),
];

/// `#[macro_export]` macros live at the crate root but belong to the module that defines them.
const ROOT_MACROS: &[(&str, &str)] = &[("on_db", "db"), ("on_tx", "db")];

/// Upward imports not fixed yet, (importer, imported). Shrink-only: the test fails when one listed
/// here no longer exists, so the list stays exact.
const KNOWN_VIOLATIONS: &[(&str, &str)] = &[];

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = rs_files(&root);
    let layer_of: BTreeMap<&str, usize> = MODULES.iter().copied().collect();

    let found: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    let placed: BTreeSet<String> = layer_of.keys().map(|m| m.to_string()).collect();
    let unplaced: Vec<_> = found.difference(&placed).collect();
    assert!(unplaced.is_empty(), "modules without a layer (place them in MODULES of tests/layers.rs): {unplaced:?}");
    let gone: Vec<_> = placed.difference(&found).collect();
    assert!(gone.is_empty(), "MODULES lists modules that no longer exist: {gone:?}");

    let mut violations: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (module, path) in &files {
        if module == "main" {
            // The binary's own crate: it reaches the library as `codverify::…`, from the top.
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        for (inner, used) in crate_paths(&strip(&text), module) {
            let Some(target) = resolve(&inner, &used, &found) else { continue };
            let (from, to) = (layer_of[module.as_str()], layer_of[target.as_str()]);
            if to > from {
                violations
                    .entry((module.clone(), target.clone()))
                    .or_default()
                    .push(format!("{} ({}) → {} ({}) via `{}`", module, LAYERS[from], target, LAYERS[to], used.join("::")));
            }
        }
    }
    let known: BTreeSet<(String, String)> = KNOWN_VIOLATIONS.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let new: Vec<String> = violations.iter().filter(|(k, _)| !known.contains(*k)).flat_map(|(_, v)| v.clone()).collect();
    assert!(new.is_empty(), "imports from a higher layer:\n{}", new.join("\n"));
    let fixed: Vec<_> = known.iter().filter(|k| !violations.contains_key(*k)).collect();
    assert!(fixed.is_empty(), "fixed, so remove from KNOWN_VIOLATIONS: {fixed:?}");
}

/// (module path, file) for every `.rs` file under `src/`.
fn rs_files(root: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if parts.last().is_some_and(|l| l == "mod") {
                parts.pop();
            }
            let module = match parts.as_slice() {
                [only] if only == "lib" => "crate".to_string(),
                _ => parts.join("::"),
            };
            out.push((module, path));
        }
    }
    out.sort();
    out
}

/// The source with comments blanked and string and char literals emptied, so that neither can
/// hold a path.
fn strip(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            let mut depth = 1;
            i += 2;
            while i < b.len() && depth > 0 {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
            out.push(' ');
            continue;
        }
        let after_ident = out.chars().last().is_some_and(|p| p.is_alphanumeric() || p == '_');
        if (c == 'r' || (c == 'b' && next == Some('r'))) && !after_ident {
            let mut j = i + if c == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) == Some(&'"') {
                j += 1;
                while j < b.len() {
                    if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
                continue;
            }
        }
        if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
            continue;
        }
        if c == '\'' {
            if next == Some('\\') {
                i += 2;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
                continue;
            }
            if b.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn tokens(src: &str) -> Vec<String> {
    let b: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push(b[start..i].iter().collect());
        } else if c == ':' && b.get(i + 1) == Some(&':') {
            out.push("::".into());
            i += 2;
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

/// Every path in `src` that starts at `crate`, `super` or `self` (or, in a `use`, at a child
/// module), with the inline module it appears in (`module` or one nested in it).
fn crate_paths(src: &str, module: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let toks = tokens(src);
    let base: Vec<String> = if module == "crate" { vec![] } else { module.split("::").map(str::to_string).collect() };
    let mut inner = base.clone();
    // Inline `mod x { … }`: the brace depth each one closes at.
    let mut mods: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i].as_str();
        match t {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if mods.last() == Some(&depth) {
                    mods.pop();
                    inner.pop();
                }
            }
            "mod" if toks.get(i + 2).is_some_and(|t| t == "{") => {
                inner.push(toks[i + 1].clone());
                mods.push(depth);
                depth += 1;
                i += 3;
                continue;
            }
            "use" => {
                let end = (i..toks.len()).find(|&j| toks[j] == ";").unwrap_or(toks.len());
                let mut paths = Vec::new();
                let mut pos = i + 1;
                if toks.get(pos).is_some_and(|t| t == "::") {
                    pos += 1;
                }
                use_tree(&toks[..end], &mut pos, Vec::new(), &mut paths);
                out.extend(paths.into_iter().map(|p| (inner.clone(), p)));
                i = end + 1;
                continue;
            }
            "crate" | "super" | "self"
                if toks.get(i + 1).is_some_and(|t| t == "::") && (i == 0 || (toks[i - 1] != "$" && toks[i - 1] != "::")) =>
            {
                let mut path = vec![t.to_string()];
                let mut j = i + 1;
                while toks.get(j).is_some_and(|t| t == "::")
                    && toks.get(j + 1).is_some_and(|t| t.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_'))
                {
                    path.push(toks[j + 1].clone());
                    j += 2;
                }
                out.push((inner.clone(), path));
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Expands a use tree (`a::{b, c::{self, d as e}, f::*}`) into its paths.
fn use_tree(toks: &[String], pos: &mut usize, mut path: Vec<String>, out: &mut Vec<Vec<String>>) {
    while *pos < toks.len() {
        match toks[*pos].as_str() {
            "{" => {
                *pos += 1;
                while *pos < toks.len() && toks[*pos] != "}" {
                    use_tree(toks, pos, path.clone(), out);
                    if toks.get(*pos).is_some_and(|t| t == ",") {
                        *pos += 1;
                    }
                }
                *pos += 1;
                return;
            }
            "*" => {
                *pos += 1;
                out.push(path);
                return;
            }
            "self" if !path.is_empty() => {
                *pos += 1;
                if toks.get(*pos).is_some_and(|t| t == "as") {
                    *pos += 2;
                }
                out.push(path);
                return;
            }
            ident => {
                path.push(ident.to_string());
                *pos += 1;
                if toks.get(*pos).is_some_and(|t| t == "::") {
                    *pos += 1;
                    continue;
                }
                if toks.get(*pos).is_some_and(|t| t == "as") {
                    *pos += 2;
                }
                out.push(path);
                return;
            }
        }
    }
}

/// The module of `modules` that `path` (used inside module `inner`) names, or `None` for a path
/// outside this crate.
fn resolve(inner: &[String], path: &[String], modules: &BTreeSet<String>) -> Option<String> {
    let mut abs: Vec<String> = match path.first().map(String::as_str) {
        Some("crate") => path[1..].to_vec(),
        Some("self") => inner.iter().chain(&path[1..]).cloned().collect(),
        Some("super") => {
            let ups = path.iter().take_while(|p| *p == "super").count();
            let keep = inner.len().checked_sub(ups).expect("super:: above the crate root");
            inner[..keep].iter().chain(&path[ups..]).cloned().collect()
        }
        // A child module named without `self::` (edition 2018 paths).
        Some(first) if modules.contains(&join(&inner.iter().chain([&first.to_string()]).cloned().collect::<Vec<_>>())) => {
            inner.iter().chain(path).cloned().collect()
        }
        _ => return None,
    };
    if let [only] = abs.as_slice()
        && let Some((_, home)) = ROOT_MACROS.iter().find(|(m, _)| m == only)
    {
        return Some(home.to_string());
    }
    while !abs.is_empty() {
        let m = join(&abs);
        if modules.contains(&m) {
            return Some(m);
        }
        abs.pop();
    }
    Some("crate".into())
}

fn join(parts: &[String]) -> String {
    if parts.is_empty() { "crate".into() } else { parts.join("::") }
}

/// The parser sees grouped, nested, aliased, `super::`, `self::`, child-module and inline paths,
/// and no path inside a comment or a string.
#[test]
fn every_kind_of_path_is_seen() {
    let modules: BTreeSet<String> = ["crate", "db", "db::queue", "web", "web::error", "verification", "verification::ivr", "verification::dialer"]
        .into_iter()
        .map(str::to_string)
        .collect();
    let src = r#"
        use crate::{db::{self, queue::Job as J}, web::error::*};
        use super::ivr;
        use dialer::Outbox;
        // use crate::web::nothing;
        const S: &str = "crate::web::error";
        fn f() { crate::on_db!(x); let _ = self::dialer::wake(); $crate::web::x(); }
        mod tests { use super::*; fn g() { super::ivr::x(); } }
    "#;
    let found: Vec<String> = crate_paths(&strip(src), "verification")
        .into_iter()
        .map(|(inner, p)| resolve(&inner, &p, &modules).unwrap_or_else(|| "-".into()))
        .collect();
    assert_eq!(
        found,
        ["db", "db::queue", "web::error", "crate", "verification::dialer", "db", "verification::dialer", "verification", "verification::ivr"]
    );
}
