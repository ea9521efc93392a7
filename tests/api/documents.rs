//! The GraphQL operations the tests send, typed by graphql_client from `documents.graphql` and
//! the committed `schema.graphql`: a document the schema no longer accepts fails to compile.
//! Input objects travel as JSON (`variable_types`), so a test can send an odd input on purpose;
//! enums are read as their names (`ErrorCode` is "INVALID_CODE"), to compare with the schema's.
use graphql_client::GraphQLQuery;

pub type DateTime = String;
pub type ErrorCode = String;
pub type MemberType = String;
pub type MemberStatus = String;
pub type DeliveryChannel = String;
pub type RecoveryEventKind = String;

macro_rules! operations {
    ($($name:ident;)*) => {$(
        #[derive(GraphQLQuery)]
        #[graphql(
            schema_path = "schema.graphql",
            query_path = "tests/api/documents.graphql",
            response_derives = "Debug, Clone, PartialEq",
            variables_derives = "Debug, Clone",
            extern_enums("ErrorCode", "MemberType", "MemberStatus", "DeliveryChannel", "RecoveryEventKind"),
            // Entry i types the i-th variable of the whole file when it is an input object: every
            // input object is JSON. Room for 24 variables; past that a variable gets its struct
            // and the method that sends it stops compiling.
            variable_types("serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value", "serde_json::Value")
        )]
        #[allow(dead_code)] // a marker, named only as a type: `app.send::<IssueReset, _>(..)`
        pub struct $name;
    )*};
}

operations! {
    FindId;
    CheckLoginId;
    PasswordPolicy;
    IssueReset;
    VerifyReset;
    ResetPassword;
    ReportUnrecognizedChange;
    SignIn;
    Reauthenticate;
    ChangePassword;
    GenerateRecoveryCodes;
    SignOut;
    Me;
    RecoveryActivity;
}

/// The text to send for `operation`: its definition and the fragments it spreads, out of the
/// whole file that graphql_client embeds (the service's limits would count every operation).
pub fn operation_text(file: &str, operation: &str) -> String {
    // Top-level definitions start at the line's beginning; comments and blank lines are dropped.
    let mut definitions: Vec<String> = Vec::new();
    for line in file
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        match definitions.last_mut() {
            Some(last) if line.starts_with([' ', '}']) => {
                last.push('\n');
                last.push_str(line);
            }
            _ => definitions.push(line.to_owned()),
        }
    }
    let name = |d: &str| {
        let words: Vec<&str> = d
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        words.get(1).map(|w| w.to_string()).unwrap_or_default()
    };
    let mut wanted = vec![operation.to_owned()];
    let mut text = Vec::new();
    while let Some(next) = wanted.pop() {
        let definition = definitions
            .iter()
            .find(|d| name(d) == next)
            .unwrap_or_else(|| panic!("{next} is not in documents.graphql"));
        for spread in definition.split("...").skip(1) {
            let fragment: String = spread.chars().take_while(|c| c.is_alphanumeric()).collect();
            if !wanted.contains(&fragment) && !text.iter().any(|d: &&String| name(d) == fragment) {
                wanted.push(fragment);
            }
        }
        text.push(definition);
    }
    text.iter().map(|d| d.as_str()).collect::<Vec<_>>().join("\n")
}
