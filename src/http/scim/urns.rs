//! The URNs of the schemas served (RFC 7643 §8.7, the extension's), and the SCIM attribute each
//! member field stands for.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const EXTENSION_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:account-recovery:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// The SCIM attribute a member-draft field stands for, as errors name it.
pub fn attribute_of(field: &str) -> String {
    match field {
        "loginId" => "userName".into(),
        "email" => "emails".into(),
        "name" => "name.formatted".into(),
        "externalId" => "externalId".into(),
        "password" => "password".into(),
        "memberType" | "joinType" | "status" | "ci" | "passwordHash" => format!("{EXTENSION_SCHEMA}:{field}"),
        _ => "id".into(),
    }
}
