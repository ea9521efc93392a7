//! `schema.graphql` must equal what `account-recovery print-schema` prints.
//! `UPDATE_SCHEMA=1 cargo test` rewrites the file instead of failing.
use std::process::Command;

#[test]
fn committed_schema_matches_print_schema() {
    let output = Command::new(env!("CARGO_BIN_EXE_account-recovery"))
        .arg("print-schema")
        .output()
        .expect("run print-schema");
    assert!(
        output.status.success(),
        "print-schema failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).expect("utf-8 SDL");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    if std::env::var("UPDATE_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(path, &printed).expect("write schema.graphql");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == printed,
        "schema.graphql differs from `account-recovery print-schema`; run `UPDATE_SCHEMA=1 cargo test --test api schema` and commit the result"
    );
    for contract in [
        "findId(",
        "checkLoginId(",
        "passwordPolicy(",
        "input FindIdBy @oneOf",
        "input IdentityInput",
        "enum ErrorCode",
        "enum MemberType",
        "enum JoinType",
        "scalar DateTime",
    ] {
        assert!(printed.contains(contract), "schema lacks {contract}");
    }
}
