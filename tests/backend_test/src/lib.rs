//! `#[backend_test]`: turns `async fn name(backend: Backend)` into one test case per database
//! backend — `name::sqlite`, `name::postgres`, `name::mysql` — as kanidm's `#[idm_test]` does per
//! backend, so a failure names its backend and `cargo test --test api postgres` runs one alone.
//!
//! `#[backend_test(servers)]` makes only the PostgreSQL and MariaDB cases (for what SQLite has
//! not, such as a network connection), `#[backend_test(postgres)]` only the PostgreSQL one (for
//! what only it can show, such as a query plan); any other argument (`flavor = "multi_thread"`, …) goes to
//! `#[tokio::test]`. Whether a server case runs or skips is `helpers::Backend::from_env`'s rule.
//! Written on `proc_macro` alone: the item passes through untouched, so no parser is needed.
use proc_macro::{TokenStream, TokenTree};

const CASES: [(&str, &str); 3] = [
    ("sqlite", "Some(crate::helpers::Backend::Sqlite)"),
    ("postgres", "crate::helpers::Backend::from_env(\"postgres\")"),
    ("mysql", "crate::helpers::Backend::from_env(\"mysql\")"),
];

#[proc_macro_attribute]
pub fn backend_test(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut only: Option<&[&str]> = None;
    let mut tokio_args = Vec::new();
    for arg in args
        .to_string()
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        match arg {
            "servers" => only = Some(&["postgres", "mysql"]),
            "postgres" => only = Some(&["postgres"]),
            other => tokio_args.push(other.to_owned()),
        }
    }
    let Some(name) = function_name(&item) else {
        return "compile_error!(\"#[backend_test] goes on `async fn name(backend: Backend)`\");"
            .parse()
            .unwrap();
    };
    let tokio_test = match tokio_args.is_empty() {
        true => "#[tokio::test]".to_owned(),
        false => format!("#[tokio::test({})]", tokio_args.join(", ")),
    };
    let cases: String = CASES
        .iter()
        .filter(|(case, _)| only.is_none_or(|cases| cases.contains(case)))
        .map(|(case, backend)| {
            format!(
                "{tokio_test} async fn {case}() {{ \
                     if let Some(backend) = {backend} {{ super::{name}(backend).await }} \
                 }}"
            )
        })
        .collect();
    let cases: TokenStream = format!("mod {name} {{ {cases} }}").parse().unwrap();
    let mut out = item;
    out.extend(cases);
    out
}

/// The identifier after `fn`.
fn function_name(item: &TokenStream) -> Option<String> {
    let mut tokens = item.clone().into_iter();
    while let Some(token) = tokens.next() {
        if matches!(&token, TokenTree::Ident(i) if i.to_string() == "fn") {
            return match tokens.next()? {
                TokenTree::Ident(name) => Some(name.to_string()),
                _ => None,
            };
        }
    }
    None
}
