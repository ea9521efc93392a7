//! The discovery endpoints (RFC 7644 §4): what this service provider supports, its one resource
//! type (User, with the account-recovery extension), and the schemas that describe them.
use serde_json::{Value, json};

use super::urns::{EXTENSION_SCHEMA, LIST_SCHEMA, USER_SCHEMA};
use crate::recovery::provisioning::MAX_PAGE;

const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const CONFIG_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [CONFIG_SCHEMA],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_PAGE},
        "changePassword": {"supported": true},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "One token per site (SCIM_TOKENS), sent as Authorization: Bearer",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

pub fn user_resource_type(base: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "A member of the site",
        "schema": USER_SCHEMA,
        "schemaExtensions": [{"schema": EXTENSION_SCHEMA, "required": false}],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
    })
}

/// One attribute definition (RFC 7643 §7) with the defaults most of ours share.
fn attr(name: &str, kind: &str, description: &str) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": false, "description": description,
        "required": false, "caseExact": false, "mutability": "readWrite", "returned": "default",
        "uniqueness": "none",
    })
}

fn with(mut attribute: Value, changes: Value) -> Value {
    if let (Some(a), Some(c)) = (attribute.as_object_mut(), changes.as_object()) {
        for (k, v) in c {
            a.insert(k.clone(), v.clone());
        }
    }
    attribute
}

fn write_only(name: &str, description: &str) -> Value {
    with(
        attr(name, "string", description),
        json!({"mutability": "writeOnly", "returned": "never", "caseExact": true}),
    )
}

fn schema(id: &str, name: &str, description: &str, attributes: Vec<Value>, base: &str) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": id, "name": name, "description": description, "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
    })
}

/// Every schema served: the User, its extension, and the three of discovery itself.
pub fn schemas(base: &str) -> Vec<Value> {
    let user = vec![
        with(
            attr(
                "userName",
                "string",
                "The login ID, unique per site, compared case-insensitively",
            ),
            json!({"required": true, "uniqueness": "server"}),
        ),
        with(
            attr("name", "complex", "The member's name"),
            json!({"subAttributes": [attr("formatted", "string", "The full name")]}),
        ),
        with(
            // One address: of several sent, the one marked primary is taken; none is marked back.
            attr("emails", "complex", "The member's e-mail address (one)"),
            json!({"multiValued": true, "required": true, "subAttributes": [
                with(attr("value", "string", "The address"), json!({"required": true})),
            ]}),
        ),
        attr(
            "active",
            "boolean",
            "Whether the member can recover (status ACTIVE)",
        ),
        write_only("password", "A new password; the site's password policy applies"),
    ];
    let codes = |values: &[&str]| json!({"canonicalValues": values, "caseExact": true});
    let extension = vec![
        with(
            attr("memberType", "string", "GENERAL, SOCIAL, ENTERPRISE or UNION"),
            codes(&["GENERAL", "SOCIAL", "ENTERPRISE", "UNION"]),
        ),
        with(
            attr("joinType", "string", "CITIZEN or FOREIGN"),
            codes(&["CITIZEN", "FOREIGN"]),
        ),
        with(
            attr(
                "status",
                "string",
                "ACTIVE, LOCKED, DORMANT (set through active) or WITHDRAWN (DELETE)",
            ),
            with(
                codes(&["ACTIVE", "LOCKED", "DORMANT", "WITHDRAWN"]),
                json!({"mutability": "readOnly"}),
            ),
        ),
        write_only(
            "ci",
            "The identity value of the identity-verification provider, stored as a keyed hash",
        ),
        write_only(
            "passwordHash",
            "An argon2 PHC string or a bcrypt hash from the host's member system",
        ),
    ];
    let read_only = |a: Value| with(a, json!({"mutability": "readOnly"}));
    vec![
        schema(USER_SCHEMA, "User", "A member of the site", user, base),
        schema(
            EXTENSION_SCHEMA,
            "AccountRecoveryUser",
            "What account recovery knows of a member",
            extension,
            base,
        ),
        schema(
            RESOURCE_TYPE_SCHEMA,
            "ResourceType",
            "A type of resource",
            ["id", "name", "description", "endpoint", "schema"]
                .map(|n| read_only(attr(n, "string", n)))
                .to_vec(),
            base,
        ),
        schema(
            CONFIG_SCHEMA,
            "ServiceProviderConfig",
            "What the service provider supports",
            vec![read_only(attr("documentationUri", "reference", "Documentation"))],
            base,
        ),
        schema(
            SCHEMA_SCHEMA,
            "Schema",
            "A schema of resources",
            ["id", "name", "description"]
                .map(|n| read_only(attr(n, "string", n)))
                .to_vec(),
            base,
        ),
    ]
}

/// A whole collection as one unpaged list.
pub fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}
