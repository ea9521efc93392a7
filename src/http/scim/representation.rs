//! A member as a SCIM User (RFC 7643 §4.1 with the account-recovery extension), and a request
//! body as the member state it asks for. Attribute names are matched case-insensitively (RFC 7643
//! §2.1); write-only values (`password`, `ci`, `passwordHash`) are read, never returned.
use serde_json::{Map, Value, json};

use super::{
    error::ScimError,
    urns::{EXTENSION_SCHEMA, USER_SCHEMA},
};
use crate::recovery::{
    ports::ProvisionedMember,
    provisioning::{MemberState, Secret, version_of},
};

/// The weak ETag of a member's state (`meta.version`, the `ETag` header).
pub fn etag(member: &ProvisionedMember) -> String {
    format!("W/\"{}\"", version_of(member))
}

/// The version an `If-Match` value names: a weak or strong ETag of ours; `*` names any.
pub fn version_in(if_match: &str) -> Option<String> {
    let tag = if_match.trim();
    if tag == "*" {
        return None;
    }
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    Some(tag.trim_matches('"').to_owned())
}

/// The User resource of a member, located at `location`.
pub fn to_resource(p: &ProvisionedMember, location: &str) -> Value {
    let m = &p.member;
    let mut user = json!({
        "schemas": [USER_SCHEMA, EXTENSION_SCHEMA],
        "id": m.id.0,
        "userName": m.login_id.as_str(),
        // The member's one address; `primary` is left out, as the schema has no such sub-attribute
        // (a host that sends one gets back exactly what it can compare).
        "emails": [{"value": m.email.as_str()}],
        "active": m.status == crate::domain::member::MemberStatus::Active,
        EXTENSION_SCHEMA: {
            "memberType": m.member_type.code(),
            "joinType": m.join_type.code(),
            "status": m.status.code(),
        },
        "meta": {
            "resourceType": "User",
            "created": p.created_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            // As stored (to the microsecond where the backend keeps it), so `eq` finds it again.
            "lastModified": p.updated_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            "location": location,
            "version": etag(p),
        },
    });
    if let Some(external_id) = &p.external_id {
        user["externalId"] = json!(external_id);
    }
    if !m.name.is_empty() {
        user["name"] = json!({ "formatted": m.name });
    }
    user
}

/// The value of `name` in `object`, whatever its case.
pub fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn text(object: &Map<String, Value>, name: &str, attribute: &str) -> Result<Option<String>, ScimError> {
    match field(object, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ScimError::bad(
            "invalidValue",
            format!("{attribute}: must be a string"),
        )),
    }
}

/// The member state a User body asks for. Read-only attributes (`id`, `meta`, the extension's
/// `status`) are ignored, as RFC 7644 §3.5.1 says; unknown ones too.
pub fn state_from(body: &Value) -> Result<MemberState, ScimError> {
    let Some(user) = body.as_object() else {
        return Err(ScimError::bad("invalidSyntax", "the body must be a JSON object"));
    };
    let login_id = text(user, "userName", "userName")?
        .ok_or_else(|| ScimError::bad("invalidValue", "userName: required"))?;
    let email = primary_email(user)?;
    let name = match field(user, "name") {
        None | Some(Value::Null) => None,
        Some(Value::Object(name)) => text(name, "formatted", "name.formatted")?,
        Some(_) => return Err(ScimError::bad("invalidValue", "name: must be an object")),
    };
    let active = match field(user, "active") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(ScimError::bad("invalidValue", "active: must be a boolean")),
    };
    let extension = match field(user, EXTENSION_SCHEMA) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(ext)) => ext.clone(),
        Some(_) => {
            return Err(ScimError::bad(
                "invalidValue",
                format!("{EXTENSION_SCHEMA}: must be an object"),
            ));
        }
    };
    let ext = |name: &str| text(&extension, name, &format!("{EXTENSION_SCHEMA}:{name}"));
    Ok(MemberState {
        login_id,
        email,
        name,
        external_id: text(user, "externalId", "externalId")?,
        active,
        member_type: ext("memberType")?,
        join_type: ext("joinType")?,
        ci: ext("ci")?.map(Secret),
        password: text(user, "password", "password")?.map(Secret),
        password_hash: ext("passwordHash")?.map(Secret),
    })
}

/// The member's one e-mail: the value marked primary, else the only or first one.
fn primary_email(user: &Map<String, Value>) -> Result<String, ScimError> {
    let missing = || ScimError::bad("invalidValue", "emails: one e-mail value is required");
    let Some(Value::Array(emails)) = field(user, "emails") else {
        return Err(missing());
    };
    let objects: Vec<&Map<String, Value>> = emails.iter().filter_map(Value::as_object).collect();
    let chosen = objects
        .iter()
        .find(|e| matches!(field(e, "primary"), Some(Value::Bool(true))))
        .or_else(|| objects.first())
        .ok_or_else(missing)?;
    text(chosen, "value", "emails.value")?.ok_or_else(missing)
}

/// The resource with only the attributes asked for (`attributes`), or without those refused
/// (`excludedAttributes`); `schemas` and `id` always stay (RFC 7643 §7 "returned: always").
pub fn project(mut resource: Value, attributes: &[String], excluded: &[String]) -> Value {
    let Some(object) = resource.as_object_mut() else {
        return resource;
    };
    let always = |k: &str| k == "schemas" || k == "id";
    let named = |list: &[String], key: &str| {
        list.iter().any(|path| {
            let path = path
                .strip_prefix(USER_SCHEMA)
                .map_or(path.as_str(), |p| p.trim_start_matches(':'));
            let top = if path.len() > EXTENSION_SCHEMA.len()
                && path[..EXTENSION_SCHEMA.len()].eq_ignore_ascii_case(EXTENSION_SCHEMA)
            {
                EXTENSION_SCHEMA
            } else {
                path.split('.').next().unwrap_or(path)
            };
            top.eq_ignore_ascii_case(key)
        })
    };
    if !attributes.is_empty() {
        object.retain(|k, _| always(k) || named(attributes, k));
    } else if !excluded.is_empty() {
        object.retain(|k, _| always(k) || !named(excluded, k));
    }
    resource
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_becomes_a_state_and_secrets_never_print() {
        let body = json!({
            "schemas": [USER_SCHEMA],
            "USERNAME": "alice01",
            "emails": [{"value": "old@example.com"}, {"value": "Alice@Example.com", "primary": true}],
            "name": {"formatted": "Alice Kim"},
            "active": false,
            "password": "Blue-Harbor-47",
            "id": "ignored",
            EXTENSION_SCHEMA: {"memberType": "ENTERPRISE", "ci": "CI-1", "status": "WITHDRAWN"},
        });
        let state = state_from(&body).unwrap();
        assert_eq!(state.login_id, "alice01");
        assert_eq!(state.email, "Alice@Example.com");
        assert_eq!(state.name.as_deref(), Some("Alice Kim"));
        assert_eq!(state.active, Some(false));
        assert_eq!(state.member_type.as_deref(), Some("ENTERPRISE"));
        let printed = format!("{state:?}");
        assert!(
            !printed.contains("Blue-Harbor") && !printed.contains("CI-1"),
            "{printed}"
        );
    }

    #[test]
    fn refusals_name_the_attribute() {
        for (body, detail) in [
            (
                json!({"emails": [{"value": "a@example.com"}]}),
                "userName: required",
            ),
            (json!({"userName": 7, "emails": []}), "userName: must be a string"),
            (json!({"userName": "a"}), "emails: one e-mail value is required"),
            (
                json!({"userName": "a", "emails": [{"value": "a@b.co"}], "active": "yes"}),
                "active: must be a boolean",
            ),
            (json!([1]), "the body must be a JSON object"),
        ] {
            assert_eq!(state_from(&body).unwrap_err().detail, detail);
        }
    }

    #[test]
    fn projection_keeps_id_and_schemas() {
        let resource = json!({"schemas": [], "id": "1", "userName": "a", "name": {"formatted": "A"},
            EXTENSION_SCHEMA: {"memberType": "GENERAL"}, "meta": {}});
        let only = project(resource.clone(), &["name.formatted".into()], &[]);
        assert_eq!(
            only,
            json!({"schemas": [], "id": "1", "name": {"formatted": "A"}})
        );
        let without = project(
            resource,
            &[],
            &[format!("{EXTENSION_SCHEMA}:memberType"), "meta".into()],
        );
        assert_eq!(
            without,
            json!({"schemas": [], "id": "1", "userName": "a", "name": {"formatted": "A"}})
        );
        assert_eq!(version_in("W/\"7\""), Some("7".into()));
        assert_eq!(version_in("\"7\""), Some("7".into()));
        assert_eq!(version_in("*"), None);
    }
}
