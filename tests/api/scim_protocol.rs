//! The SCIM protocol over HTTP on every backend: discovery, filters with every operator, paging,
//! PUT and PATCH with ETags and If-Match, write-only attributes, and the audit of each change.
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, backend_settings, backend_test, spawn_app_with},
    scim::{EXTENSION, TOKENS, scim_app, user},
};

fn ids_of(answer: &Value) -> Vec<String> {
    let mut names: Vec<String> = answer["Resources"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|u| u["userName"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn query(filter: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    format!("/Users?filter={encoded}")
}

#[backend_test]
async fn discovery_describes_users_and_the_extension(backend: Backend) {
    let app = scim_app(&backend).await;
    let config = app.scim("GET", "/ServiceProviderConfig", None).await;
    assert_eq!(config.status, 200);
    assert_eq!(config.body["patch"]["supported"], true);
    assert_eq!(config.body["etag"]["supported"], true);
    let types = app.scim("GET", "/ResourceTypes", None).await;
    assert_eq!(
        types.body["Resources"][0]["schemaExtensions"][0]["schema"],
        EXTENSION
    );
    assert_eq!(app.scim("GET", "/ResourceTypes/Group", None).await.status, 404);
    let schemas = app.scim("GET", "/Schemas", None).await;
    let names: Vec<&str> = schemas.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    for name in ["User", "ResourceType", "ServiceProviderConfig", "Schema"] {
        assert!(names.contains(&name), "{names:?}");
    }
    let extension = app.scim("GET", &format!("/Schemas/{EXTENSION}"), None).await;
    let ci = extension.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "ci")
        .unwrap();
    assert_eq!(
        (ci["mutability"].as_str(), ci["returned"].as_str()),
        (Some("writeOnly"), Some("never"))
    );
    assert_eq!(app.scim("POST", "/Schemas", Some(json!({}))).await.status, 405);
    let nowhere = app.scim("GET", "/Nowhere", None).await;
    assert_eq!(nowhere.status, 404);
    assert_eq!(nowhere.body["status"], "404");
}

#[backend_test]
async fn filters_with_every_operator_and_paging(backend: Backend) {
    let app = scim_app(&backend).await;
    for (login_id, email, external) in [
        ("Anna01", "anna@alpha.example", Some("HR-1")),
        ("anton02", "anton@beta.example", Some("hr-2")),
        ("bora03", "bora@alpha.example", None),
        ("chul04", "chul@gamma.example", Some("HR-4")),
    ] {
        let extra = external.map_or(json!({}), |e| json!({"externalId": e}));
        app.provision(user(login_id, email, extra)).await;
    }
    let before_last = app.scim("GET", &query(r#"userName eq "CHUL04""#), None).await;
    let chul_modified = before_last.body["Resources"][0]["meta"]["lastModified"]
        .as_str()
        .unwrap()
        .to_owned();
    for (filter, expected) in [
        (r#"userName eq "ANNA01""#, vec!["Anna01"]),
        (r#"userName ne "anna01""#, vec!["anton02", "bora03", "chul04"]),
        (r#"userName co "NT""#, vec!["anton02"]),
        (r#"userName sw "an""#, vec!["Anna01", "anton02"]),
        (r#"userName ew "03""#, vec!["bora03"]),
        (r#"emails.value ew "@ALPHA.example""#, vec!["Anna01", "bora03"]),
        (r#"emails[value sw "chul"]"#, vec!["chul04"]),
        // externalId is case-exact.
        (r#"externalId sw "HR""#, vec!["Anna01", "chul04"]),
        (r#"externalId eq "hr-2""#, vec!["anton02"]),
        ("externalId pr", vec!["Anna01", "anton02", "chul04"]),
        ("not (externalId pr)", vec!["bora03"]),
        (r#"externalId ne "HR-1""#, vec!["anton02", "bora03", "chul04"]),
        (r#"userName gt "bora03""#, vec!["chul04"]),
        (r#"userName lt "anton02""#, vec!["Anna01"]),
        (r#"userName sw "a" and emails.value co "beta""#, vec!["anton02"]),
        (
            r#"userName eq "bora03" or externalId eq "HR-4""#,
            vec!["bora03", "chul04"],
        ),
        (
            r#"userName sw "a" and not (userName eq "anton02")"#,
            vec!["Anna01"],
        ),
        (
            r#"meta.lastModified gt "2000-01-01T00:00:00Z" and userName eq "chul04""#,
            vec!["chul04"],
        ),
        (r#"meta.lastModified lt "2000-01-01T00:00:00Z""#, vec![]),
    ] {
        let found = app.scim("GET", &query(filter), None).await;
        assert_eq!(found.status, 200, "[{}] {filter}: {found:?}", app.backend);
        assert_eq!(ids_of(&found.body), expected, "[{}] {filter}", app.backend);
        assert_eq!(found.body["totalResults"], expected.len());
    }
    let exact = app
        .scim(
            "GET",
            &query(&format!(r#"meta.lastModified eq "{chul_modified}""#)),
            None,
        )
        .await;
    // MariaDB keeps whole seconds: members made in the same second share the value.
    let stamps: Vec<&str> = exact.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["meta"]["lastModified"].as_str().unwrap())
        .collect();
    assert!(
        ids_of(&exact.body).contains(&"chul04".to_owned()) && stamps.iter().all(|s| *s == chul_modified),
        "[{}] {exact:?}",
        app.backend
    );
    let at = app
        .scim(
            "GET",
            &query(&format!(r#"meta.lastModified ge "{chul_modified}""#)),
            None,
        )
        .await;
    assert!(
        ids_of(&at.body).contains(&"chul04".to_owned()),
        "[{}] {at:?}",
        app.backend
    );
    for bad in [
        "userName eq",
        "title pr",
        r#"emails[type eq "work"]"#,
        r#"meta.lastModified gt "later""#,
    ] {
        let refused = app.scim("GET", &query(bad), None).await;
        assert_eq!(refused.status, 400, "{bad}");
        assert_eq!(refused.body["scimType"], "invalidFilter", "{bad}");
    }

    // Paging: one stable order (creation time, then id: MariaDB keeps whole seconds), 1-based
    // startIndex, the total of all matches on every page.
    let all = app.scim("GET", "/Users", None).await;
    let order: Vec<&str> = all.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(order.len(), 4);
    let page = app.scim("GET", "/Users?startIndex=2&count=2", None).await;
    assert_eq!(page.body["totalResults"], 4);
    assert_eq!(page.body["startIndex"], 2);
    assert_eq!(page.body["itemsPerPage"], 2);
    let names: Vec<&str> = page.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, order[1..3]);
    let past = app.scim("GET", "/Users?startIndex=9", None).await;
    assert_eq!(
        (
            past.body["totalResults"].as_u64(),
            past.body["itemsPerPage"].as_u64()
        ),
        (Some(4), Some(0))
    );
    let none = app.scim("GET", "/Users?count=0", None).await;
    assert_eq!(none.body["Resources"].as_array().map(Vec::len), Some(0));
    let projected = app.scim("GET", "/Users?count=1&attributes=userName", None).await;
    let only: Vec<&String> = projected.body["Resources"][0]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(only, ["id", "schemas", "userName"]);
    let searched = app
        .scim(
            "POST",
            "/Users/.search",
            Some(json!({"filter": "userName sw \"b\"", "count": 5})),
        )
        .await;
    assert_eq!(ids_of(&searched.body), ["bora03"]);
}

#[backend_test]
async fn put_and_patch_follow_etags_and_keep_write_only_values_hidden(backend: Backend) {
    let app = scim_app(&backend).await;
    let id = app
        .provision(user(
            "etag01",
            "etag@example.com",
            json!({"externalId": "H-1", "password": "Blue-Harbor-47", EXTENSION: {"memberType": "UNION"}}),
        ))
        .await;
    let read = app.scim("GET", &format!("/Users/{id}"), None).await;
    let version = read.etag.clone().expect("ETag");
    assert_eq!(read.body["meta"]["version"], version.as_str());
    assert!(read.body.get("password").is_none());

    // PUT at the read version replaces; at that version again it is stale (412) and changes nothing.
    let replacement = user(
        "Etag01",
        "etag2@example.com",
        json!({"active": false, EXTENSION: {"joinType": "FOREIGN", "ci": "CI-ETAG"}}),
    );
    let put = app
        .scim_as(
            Some(crate::scim::TOKEN),
            "PUT",
            &format!("/Users/{id}"),
            Some(replacement.clone()),
            Some(&version),
        )
        .await;
    assert_eq!(put.status, 200, "[{}] {put:?}", app.backend);
    assert_ne!(put.etag.as_deref(), Some(version.as_str()));
    assert_eq!(put.body["userName"], "Etag01");
    assert_eq!(put.body["active"], false);
    assert_eq!(put.body[EXTENSION]["status"], "LOCKED");
    assert_eq!(put.body[EXTENSION]["joinType"], "FOREIGN");
    // A code the replacement leaves out keeps its value (it cannot be empty).
    assert_eq!(put.body[EXTENSION]["memberType"], "UNION");
    // PUT without externalId clears it; the password (write-only, not sent) stays.
    assert!(put.body.get("externalId").is_none());
    assert!(put.body[EXTENSION].get("ci").is_none());
    let stale = app
        .scim_as(
            Some(crate::scim::TOKEN),
            "PUT",
            &format!("/Users/{id}"),
            Some(replacement),
            Some(&version),
        )
        .await;
    assert_eq!(stale.status, 412, "[{}] {stale:?}", app.backend);
    assert_eq!(stale.body["status"], "412");
    let ci = app
        .sql_strings(&format!("SELECT ci_hash FROM members WHERE id = '{id}'"))
        .await;
    assert!(
        ci[0] != "NULL" && !ci[0].contains("CI-ETAG"),
        "ci stored as its keyed hash: {ci:?}"
    );

    // PATCH: active again, a new password under the policy; If-Match of an old version fails.
    let ops =
        |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let old = app
        .scim_as(
            Some(crate::scim::TOKEN),
            "PATCH",
            &format!("/Users/{id}"),
            Some(ops(json!([{"op": "replace", "path": "active", "value": true}]))),
            Some(&version),
        )
        .await;
    assert_eq!(old.status, 412);
    let short = app
        .scim(
            "PATCH",
            &format!("/Users/{id}"),
            Some(ops(json!([{"op": "add", "path": "password", "value": "abc"}]))),
        )
        .await;
    assert_eq!(
        (short.status, short.body["scimType"].as_str()),
        (400, Some("invalidValue"))
    );
    assert!(short.body["detail"].as_str().unwrap().starts_with("password:"));
    let patched = app
        .scim(
            "PATCH",
            &format!("/Users/{id}"),
            Some(ops(json!([
                {"op": "replace", "value": {"active": true}},
                {"op": "add", "path": "password", "value": "Green-Valley-58"},
                {"op": "add", "path": "externalId", "value": "H-2"},
                {"op": "remove", "path": "name"},
            ]))),
        )
        .await;
    assert_eq!(patched.status, 200, "[{}] {patched:?}", app.backend);
    assert_eq!(patched.body["active"], true);
    assert_eq!(patched.body["externalId"], "H-2");
    // What the operations did not name stays, the extension's codes included.
    assert_eq!(patched.body[EXTENSION]["joinType"], "FOREIGN");
    assert!(patched.body.get("name").is_none() && patched.body.get("password").is_none());
    app.access_token("etag01", "Green-Valley-58").await;
    let old_password = app.sign_in("etag01", "Blue-Harbor-47").await;
    assert!(old_password.access_token.is_none());

    let kinds = app
        .sql_strings(&format!(
            "SELECT kind FROM audit_events WHERE member_id = '{id}' AND kind LIKE 'MEMBER%' ORDER BY id"
        ))
        .await;
    assert_eq!(
        kinds,
        ["MEMBER_PROVISIONED", "MEMBER_UPDATED", "MEMBER_UPDATED"],
        "[{}]",
        app.backend
    );
    // The member's own activity shows none of the host's provisioning.
    let token = app.access_token("etag01", "Green-Valley-58").await;
    let activity = app.recovery_activity(&token, None, None).await;
    assert!(!activity.body.to_string().contains("MEMBER_"), "{activity}");
}

#[backend_test]
async fn provisioning_is_rate_limited_per_client_and_site(backend: Backend) {
    let settings = backend_settings(
        &backend,
        &[("SCIM_TOKENS", TOKENS), ("RATE_LIMITS", "scim.client=3/60")],
    )
    .await;
    let app = spawn_app_with(&backend, settings).await;
    for _ in 0..3 {
        assert_eq!(app.scim("GET", "/Users", None).await.status, 200);
    }
    let limited = app
        .scim(
            "POST",
            "/Users",
            Some(user("late01", "late@example.com", json!({}))),
        )
        .await;
    assert_eq!(limited.status, 429, "[{}] {limited:?}", app.backend);
    assert_eq!(limited.body["status"], "429");
    let rows = app.sql_strings("SELECT id FROM members").await;
    assert!(rows.is_empty(), "[{}] a refused call wrote a member", app.backend);
}

/// A provisioned userName follows the rules of every new login ID: mixing scripts or looking
/// like a member's of the site is a 400 `invalidValue` on `userName`, at creation and on a
/// change; a member may take a look-alike of its own old ID.
#[backend_test]
async fn look_alike_and_mixed_script_user_names_are_refused(backend: Backend) {
    let app = crate::scim::scim_app(&backend).await;
    app.provision(crate::scim::user("alice", "alice@example.com", json!({})))
        .await;
    let bob = app
        .provision(crate::scim::user("bob", "bob@example.com", json!({})))
        .await;
    let refused = |answer: &crate::scim::Scim| {
        (answer.status, answer.body["scimType"].as_str().map(str::to_owned))
            == (400, Some("invalidValue".to_owned()))
            && answer.body["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("userName:"))
    };
    // Cyrillic а (U+0430) in Latin: mixed; all-Cyrillic аӏісе: a look-alike of alice.
    for name in ["\u{430}lice", "\u{430}\u{4cf}\u{456}\u{441}\u{435}"] {
        let created = app
            .scim(
                "POST",
                "/Users",
                Some(crate::scim::user(name, "x@example.com", json!({}))),
            )
            .await;
        assert!(refused(&created), "[{}] {name}: {created:?}", app.backend);
    }
    let ops =
        |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let rename = |name: &'static str| ops(json!([{"op": "replace", "path": "userName", "value": name}]));
    let renamed = app
        .scim(
            "PATCH",
            &format!("/Users/{bob}"),
            Some(rename("\u{430}\u{4cf}\u{456}\u{441}\u{435}")),
        )
        .await;
    assert!(refused(&renamed), "[{}] {renamed:?}", app.backend);
    // "com" looks like "corn" (rn/m): refused beside another member, allowed as its own rename.
    let corn = app
        .provision(crate::scim::user("corn", "corn@example.com", json!({})))
        .await;
    let beside = app
        .scim(
            "POST",
            "/Users",
            Some(crate::scim::user("com", "com@example.com", json!({}))),
        )
        .await;
    assert!(refused(&beside), "[{}] {beside:?}", app.backend);
    let own = app
        .scim("PATCH", &format!("/Users/{corn}"), Some(rename("com")))
        .await;
    assert_eq!(
        own.status, 200,
        "[{}] a look-alike of its own old ID: {own:?}",
        app.backend
    );
}
