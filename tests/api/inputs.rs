//! The input objects tests send, built as JSON so that odd and wrong inputs are as easy to write
//! as right ones; `operations` re-exports them.

/// Whose reset `issue_reset` asks for (`ResetRequest`).
pub mod by {
    use serde_json::{Value, json};

    pub fn email(email: &str) -> Value {
        json!({"email": email})
    }

    pub fn account(login_id: &str, email: &str) -> Value {
        json!({"account": {"loginId": login_id, "email": email}})
    }

    pub fn identity(login_id: &str, ci: &str) -> Value {
        json!({"identity": {"loginId": login_id, "ci": ci}})
    }
}

/// What `find_id` looks by (`FindIdBy`).
pub mod find {
    use serde_json::{Value, json};

    pub fn email(email: &str) -> Value {
        json!({"email": email})
    }

    pub fn identity(ci: &str, join_type: &str) -> Value {
        json!({"identity": {"ci": ci, "joinType": join_type}})
    }
}

/// What `verify_reset` and `reset_password` present (`ResetCredential`).
pub mod credential {
    use serde::Serialize;
    use serde_json::{Value, json};

    /// A link's or a direct token (any JSON string or null, as a test got it).
    pub fn token(token: impl Serialize) -> Value {
        json!({ "token": token })
    }

    pub fn code_by_email(email: &str, code: &str) -> Value {
        json!({"code": {"email": email, "code": code}})
    }

    pub fn code_by_login_id(login_id: &str, code: &str) -> Value {
        json!({"code": {"loginId": login_id, "code": code}})
    }

    /// A saved recovery code, as typed (any case, hyphens or spaces).
    pub fn recovery_code(login_id: &str, code: &str) -> Value {
        json!({"recoveryCode": {"loginId": login_id, "code": code}})
    }
}

/// What `change_password` sends (`ChangePasswordInput`); odd inputs are written out in the test.
pub mod change {
    use serde_json::{Value, json};

    pub fn with_current(current: &str, new: &str) -> Value {
        json!({"mode": "WITH_CURRENT", "currentPassword": current, "newPassword": new})
    }

    /// In an elevated session (just reauthenticated, or the first sign-in after a reset).
    pub fn without_current(new: &str) -> Value {
        json!({"mode": "WITHOUT_CURRENT", "newPassword": new})
    }

    /// Extends an expired password without changing it.
    pub fn extend() -> Value {
        json!({"mode": "EXTEND"})
    }
}
