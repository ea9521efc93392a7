//! The browser pages: the built SPA from WEB_DIR, the embedded reset page without one, and
//! GraphiQL from vendored files (no request leaves the service).
use std::time::Duration;

use reqwest::{Response, header};
use serde_json::json;

use crate::helpers::{Backend, TestApp, backend_settings, scratch_dir, spawn_app_with, spawn_app_with_smtp};

async fn app_with(extra: &[(&str, &str)]) -> TestApp {
    let backend = &Backend::Sqlite;
    spawn_app_with(backend, backend_settings(backend, extra).await).await
}

fn header_of(response: &Response, name: header::HeaderName) -> &str {
    response.headers().get(&name).map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn a_built_spa_answers_its_routes_with_index_html_and_caches_hashed_assets() {
    let dir = scratch_dir().join("dist");
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<title>the spa</title>").unwrap();
    std::fs::write(dir.join("assets/app-1234.js"), "console.log(1)").unwrap();
    let app = app_with(&[("WEB_DIR", dir.to_str().unwrap())]).await;

    for route in ["/", "/reset-password", "/account"] {
        let page = app.get(route).await;
        assert_eq!(page.status(), 200, "{route}");
        assert_eq!(
            header_of(&page, header::REFERRER_POLICY),
            "no-referrer",
            "{route}"
        );
        assert!(header_of(&page, header::CONTENT_SECURITY_POLICY).contains("default-src 'self'"));
        assert_eq!(header_of(&page, header::CACHE_CONTROL), "no-store");
        assert_eq!(page.text().await.unwrap(), "<title>the spa</title>", "{route}");
    }
    let asset = app.get("/assets/app-1234.js").await;
    assert_eq!(asset.status(), 200);
    assert!(header_of(&asset, header::CACHE_CONTROL).contains("immutable"));
    assert_eq!(asset.text().await.unwrap(), "console.log(1)");
    assert_eq!(app.get("/assets/gone-5678.js").await.status(), 404);
    // The API keeps its routes.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn without_a_build_the_reset_link_opens_the_embedded_page() {
    let app = app_with(&[]).await;
    let page = app.get("/reset-password?token=abc").await;
    assert_eq!(page.status(), 200);
    assert_eq!(header_of(&page, header::REFERRER_POLICY), "no-referrer");
    let html = page.text().await.unwrap();
    assert!(html.contains("/reset-password/page.js"), "{html}");
    let script = app.get("/reset-password/page.js").await;
    assert_eq!(script.status(), 200);
    assert!(header_of(&script, header::CONTENT_TYPE).starts_with("text/javascript"));
    assert!(script.text().await.unwrap().contains("resetPassword"));
    // It wears the SPA's stylesheet, and speaks Korean to a browser that prefers Korean.
    assert!(html.contains("/reset-password/page.css"), "{html}");
    let style = app.get("/reset-password/page.css").await;
    assert!(header_of(&style, header::CONTENT_TYPE).starts_with("text/css"));
    assert!(style.text().await.unwrap().contains("--ar-accent"));
    let korean = app
        .client
        .get(format!("{}/reset-password", app.address))
        .header(header::ACCEPT_LANGUAGE, "ko-KR,ko;q=0.9,en;q=0.8")
        .send()
        .await
        .expect("request");
    let varies = korean.headers().get_all(header::VARY).iter();
    assert!(
        varies
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.eq_ignore_ascii_case("accept-language"))
    );
    let korean = korean.text().await.unwrap();
    assert!(
        korean.contains(r#"<html lang="ko">"#) && korean.contains("비밀번호 재설정"),
        "{korean}"
    );
    // Nothing else pretends to be a page.
    assert_eq!(app.get("/account").await.status(), 404);
}

#[tokio::test]
async fn the_embedded_page_asks_before_it_reports_a_change() {
    let backend = &Backend::Sqlite;
    let (app, smtp) = spawn_app_with_smtp(backend, &[]).await;
    app.recovery
        .members
        .import(r#"{"loginId":"kim01","email":"kim@example.com","name":"Kim","password":"Blue-Harbor-47","ci":"CI-KIM"}"#, chrono::Utc::now())
        .await
        .expect("members");
    // A reset, whose password-changed notice carries the "that wasn't me" link.
    let issued = app
        .graphql(
            r#"mutation { issueResetToken(by: {identity: {loginId: "kim01", ci: "CI-KIM"}}) { token } }"#,
            json!({}),
        )
        .await;
    let reset = app
        .graphql(
            r#"mutation($t: String!) { resetPassword(input: {credential: {token: $t}, newPassword: "Green-Valley-58"}) { errors { code } } }"#,
            json!({"t": issued["data"]["issueResetToken"]["token"]}),
        )
        .await;
    assert_eq!(reset["data"]["resetPassword"]["errors"], json!([]), "{reset}");
    let notice = smtp.wait_for_messages(1, Duration::from_secs(10)).await;
    let text = &notice.first().expect("the notice").text;
    let at = text
        .find("#report=")
        .unwrap_or_else(|| panic!("no report link: {text}"));
    let report: String = text[at + 8..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();

    // What a mail scanner does with the link: fetch the page (the fragment stays with the client)
    // and its script.
    let page = app.get("/reset-password").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<form id="report-form" class="report" hidden>"#),
        "{html}"
    );
    assert!(html.contains("It wasn't me"), "{html}");
    let script = app.get("/reset-password/page.js").await.text().await.unwrap();
    // The one call of the report is in the form's submit handler; loading only shows the form.
    let handler = script
        .find("$('report-form').addEventListener('submit'")
        .expect("a submit handler of the report form");
    assert_eq!(script.matches("reportUnrecognizedChange(").count(), 1, "{script}");
    assert!(script.find("reportUnrecognizedChange(").unwrap() > handler);
    assert!(script.contains("else if (report) $('report-form').hidden = false;"));

    // The visit spent nothing: the link still reports, once.
    let report_call =
        r#"mutation($t: String!) { reportUnrecognizedChange(token: $t) { locked errors { code } } }"#;
    let done = app.graphql(report_call, json!({"t": report})).await;
    assert_eq!(
        done["data"]["reportUnrecognizedChange"],
        json!({"locked": true, "errors": []}),
        "{done}"
    );
}

#[tokio::test]
async fn graphiql_loads_only_from_the_service_and_is_off_in_production() {
    let app = app_with(&[]).await;
    let page = app.get("/graphql").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("://"),
        "an outside URL in the GraphiQL page: {html}"
    );
    let paths: Vec<&str> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with("/graphiql/"))
        .collect();
    assert_eq!(paths.len(), 5, "{paths:?}");
    for path in &paths {
        let file = app.get(path).await;
        assert_eq!(file.status(), 200, "{path}");
        if path.contains("/4.") {
            assert!(
                header_of(&file, header::CACHE_CONTROL).contains("immutable"),
                "{path}"
            );
        }
        assert!(file.bytes().await.unwrap().len() > 100, "{path}");
    }
    assert_eq!(app.get("/graphiql/0.0.1/graphiql.min.js").await.status(), 404);

    let key = ("SECRET_KEY", "production-secret-key-0123456789abcdef0123");
    // Production refuses to start without SMTP; nothing is mailed here, so any address will do.
    let production = app_with(&[
        ("PRODUCTION", "true"),
        key,
        ("SMTP_URL", "smtp://127.0.0.1:9"),
        ("METRICS_BIND", "127.0.0.1:0"),
    ])
    .await;
    assert_eq!(production.get("/graphql").await.status(), 405);
    for path in &paths {
        assert_eq!(production.get(path).await.status(), 404, "{path}");
    }
}
