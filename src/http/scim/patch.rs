//! SCIM PATCH (RFC 7644 §3.5.2) applied to a User as JSON: the result is the whole new state, which
//! then passes the same checks as a replacement. A member has one e-mail, so operations on
//! `emails` (with or without a value filter) act on it.
use scim_v2::filter::{AttrPath, PatchPath};
use serde_json::{Map, Value};

use super::{
    error::ScimError,
    representation::field,
    urns::{EXTENSION_SCHEMA, USER_SCHEMA},
};

pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// Applies the operations of a PatchOp body to `user`, in order.
pub fn apply(user: &mut Value, body: &Value) -> Result<(), ScimError> {
    let operations = body
        .as_object()
        .and_then(|b| field(b, "Operations"))
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::bad("invalidSyntax", "a PatchOp body with Operations is required"))?;
    let Some(user) = user.as_object_mut() else {
        return Err(ScimError::bad("invalidSyntax", "not a resource"));
    };
    for operation in operations {
        let operation = operation
            .as_object()
            .ok_or_else(|| ScimError::bad("invalidSyntax", "each operation is an object"))?;
        let op = match field(operation, "op").and_then(Value::as_str) {
            Some(o) if o.eq_ignore_ascii_case("add") => Op::Add,
            Some(o) if o.eq_ignore_ascii_case("replace") => Op::Replace,
            Some(o) if o.eq_ignore_ascii_case("remove") => Op::Remove,
            _ => {
                return Err(ScimError::bad(
                    "invalidSyntax",
                    "op must be add, replace or remove",
                ));
            }
        };
        let value = field(operation, "value").cloned();
        match field(operation, "path").and_then(Value::as_str) {
            // The extension as a whole (its URN would parse as a URI and an attribute `User`).
            Some(path) if path.trim().eq_ignore_ascii_case(EXTENSION_SCHEMA) => {
                at_path(user, &AttrPath::with_name(EXTENSION_SCHEMA), op, value)?;
            }
            Some(path) => {
                let path: PatchPath = path
                    .parse()
                    .map_err(|_| ScimError::bad("invalidPath", "the path is not a SCIM attribute path"))?;
                let attr = match &path {
                    PatchPath::Attr(attr) => attr.clone(),
                    // The one e-mail, whatever the filter says about it.
                    PatchPath::Value(vp) if vp.attr.name.eq_ignore_ascii_case("emails") => {
                        email_path(vp.sub_attr.as_deref())
                    }
                    PatchPath::Value(_) => {
                        return Err(ScimError::bad("noTarget", "value filters apply to emails only"));
                    }
                };
                at_path(user, &attr, op, value)?;
            }
            None if op == Op::Remove => {
                return Err(ScimError::bad("noTarget", "remove needs a path"));
            }
            None => {
                let Some(Value::Object(values)) = value else {
                    return Err(ScimError::bad(
                        "invalidValue",
                        "an operation without a path takes an object",
                    ));
                };
                for (key, value) in values {
                    // Keys may be paths themselves (`name.formatted`, a schema-qualified name).
                    let attr = if key.eq_ignore_ascii_case(EXTENSION_SCHEMA) {
                        AttrPath::with_name(EXTENSION_SCHEMA)
                    } else {
                        match key.parse::<PatchPath>() {
                            Ok(PatchPath::Attr(attr)) => attr,
                            _ => return Err(ScimError::bad("invalidPath", "an attribute name is not valid")),
                        }
                    };
                    at_path(user, &attr, op, Some(value))?;
                }
            }
        }
    }
    Ok(())
}

fn email_path(sub_attr: Option<&str>) -> AttrPath {
    match sub_attr {
        Some(sub) => AttrPath::with_sub_attr("emails", sub),
        None => AttrPath::with_name("emails"),
    }
}

/// The object an attribute path's name lives in: the extension's for its schema, else the User.
fn container<'a>(
    user: &'a mut Map<String, Value>,
    attr: &AttrPath,
) -> Result<&'a mut Map<String, Value>, ScimError> {
    match attr.uri.as_deref() {
        None => Ok(user),
        Some(uri) if uri.eq_ignore_ascii_case(USER_SCHEMA) => Ok(user),
        Some(uri) if uri.eq_ignore_ascii_case(EXTENSION_SCHEMA) => {
            let key = key_of(user, EXTENSION_SCHEMA);
            let ext = user.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !ext.is_object() {
                *ext = Value::Object(Map::new());
            }
            ext.as_object_mut()
                .ok_or_else(|| ScimError::bad("invalidValue", "the extension must be an object"))
        }
        Some(_) => Err(ScimError::bad("invalidPath", "unknown schema in the path")),
    }
}

/// The existing key that matches `name` case-insensitively, or `name` itself.
fn key_of(object: &Map<String, Value>, name: &str) -> String {
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_owned())
}

fn at_path(
    user: &mut Map<String, Value>,
    attr: &AttrPath,
    op: Op,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let value = match (op, value) {
        (Op::Remove, _) => None,
        (_, Some(v)) => Some(v),
        (_, None) => return Err(ScimError::bad("invalidValue", "add and replace need a value")),
    };
    // `urn:…:User:name.formatted` arrives as the schema URI with `name` and `formatted`; the
    // extension itself as a bare name.
    if attr.uri.is_none() && attr.name.eq_ignore_ascii_case(EXTENSION_SCHEMA) {
        let key = key_of(user, EXTENSION_SCHEMA);
        return set(user, &key, value, op);
    }
    writable(attr)?;
    let target = container(user, attr)?;
    let key = key_of(target, &attr.name);
    match (&attr.sub_attr, key.eq_ignore_ascii_case("emails")) {
        (None, _) => set(target, &key, value, op),
        // `emails.value`, `emails[…].value`: the one e-mail's sub-attribute.
        (Some(sub), true) => {
            let emails = target.entry(key).or_insert_with(|| Value::Array(Vec::new()));
            if emails.as_array().is_none_or(|a| a.is_empty()) {
                *emails = Value::Array(vec![Value::Object(Map::new())]);
            }
            let first = emails
                .as_array_mut()
                .and_then(|a| a.first_mut())
                .and_then(Value::as_object_mut)
                .ok_or_else(|| ScimError::bad("invalidValue", "emails: not an e-mail"))?;
            let sub_key = key_of(first, sub);
            set(first, &sub_key, value, op)
        }
        (Some(sub), false) => {
            let parent = target.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !parent.is_object() {
                *parent = Value::Object(Map::new());
            }
            let parent = parent
                .as_object_mut()
                .ok_or_else(|| ScimError::bad("invalidValue", "not a complex attribute"))?;
            let sub_key = key_of(parent, sub);
            set(parent, &sub_key, value, op)
        }
    }
}

/// Refuses a path to an attribute the User does not have (`invalidPath`) or may not change
/// (`mutability`), rather than accepting an operation that would do nothing.
fn writable(attr: &AttrPath) -> Result<(), ScimError> {
    let in_extension = attr
        .uri
        .as_deref()
        .is_some_and(|u| u.eq_ignore_ascii_case(EXTENSION_SCHEMA));
    let (writable, read_only): (&[&str], &[&str]) = if in_extension {
        (&["memberType", "joinType", "ci", "passwordHash"], &["status"])
    } else {
        (
            &["userName", "name", "emails", "active", "externalId", "password"],
            &["id", "meta", "schemas"],
        )
    };
    let is = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(&attr.name));
    if is(writable) {
        Ok(())
    } else if is(read_only) {
        Err(ScimError::bad(
            "mutability",
            format!("{}: read-only (status follows active and DELETE)", attr.name),
        ))
    } else {
        Err(ScimError::bad("invalidPath", "the User has no such attribute"))
    }
}

/// Sets, merges (a complex value: the sub-attributes given replace theirs, RFC 7644 §3.5.2.1 and
/// §3.5.2.3) or removes one attribute.
fn set(object: &mut Map<String, Value>, key: &str, value: Option<Value>, op: Op) -> Result<(), ScimError> {
    match value {
        None => {
            object.remove(key);
        }
        Some(Value::Object(new)) => match object.get_mut(key) {
            Some(Value::Object(old)) if op != Op::Remove => {
                for (k, v) in new {
                    let existing = key_of(old, &k);
                    old.insert(existing, v);
                }
            }
            _ => {
                object.insert(key.to_owned(), Value::Object(new));
            }
        },
        Some(v) => {
            object.insert(key.to_owned(), v);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user() -> Value {
        json!({
            "userName": "alice01",
            "emails": [{"value": "alice@example.com", "primary": true}],
            "name": {"formatted": "Alice"},
            "externalId": "h-1",
            "active": true,
            EXTENSION_SCHEMA: {"memberType": "GENERAL", "joinType": "CITIZEN"},
        })
    }

    fn patched(ops: Value) -> Result<Value, ScimError> {
        let mut u = user();
        apply(&mut u, &json!({"schemas": [PATCH_SCHEMA], "Operations": ops}))?;
        Ok(u)
    }

    #[test]
    fn add_replace_remove_by_path_and_without() {
        let u = patched(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com"},
            {"op": "add", "path": "name.formatted", "value": "Alice Kim"},
            {"op": "remove", "path": "externalId"},
            {"op": "replace", "value": {"active": false, "urn:ietf:params:scim:schemas:extension:account-recovery:2.0:User:joinType": "FOREIGN"}},
            {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:account-recovery:2.0:User:ci", "value": "CI-9"},
            {"op": "replace", "path": EXTENSION_SCHEMA, "value": {"memberType": "UNION"}},
        ]))
        .unwrap();
        assert_eq!(u["emails"][0]["value"], "new@example.com");
        assert_eq!(u["name"]["formatted"], "Alice Kim");
        assert!(u.get("externalId").is_none());
        assert_eq!(u["active"], false);
        assert_eq!(u[EXTENSION_SCHEMA]["joinType"], "FOREIGN");
        assert_eq!(u[EXTENSION_SCHEMA]["memberType"], "UNION");
        assert_eq!(u[EXTENSION_SCHEMA]["ci"], "CI-9");
    }

    #[test]
    fn bad_operations_are_refused_with_their_scim_type() {
        for (ops, scim_type) in [
            (json!([{"op": "move", "path": "userName"}]), "invalidSyntax"),
            (json!([{"op": "remove"}]), "noTarget"),
            (json!([{"op": "add", "path": "userName"}]), "invalidValue"),
            (json!([{"op": "add", "path": "(((("}]), "invalidPath"),
            (
                json!([{"op": "add", "path": "phoneNumbers[type eq \"x\"].value", "value": "1"}]),
                "noTarget",
            ),
            (json!("nope"), "invalidSyntax"),
            (
                json!([{"op": "add", "path": "nickName", "value": "x"}]),
                "invalidPath",
            ),
            (json!([{"op": "replace", "value": {"title": "x"}}]), "invalidPath"),
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                "mutability",
            ),
            (
                json!([{"op": "replace", "path": format!("{EXTENSION_SCHEMA}:status"), "value": "ACTIVE"}]),
                "mutability",
            ),
        ] {
            assert_eq!(patched(ops).unwrap_err().scim_type, Some(scim_type));
        }
    }
}
