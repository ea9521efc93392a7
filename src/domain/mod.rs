//! Pure types and rules of account recovery: no framework, no I/O.
pub mod change_report;
pub mod client;
pub mod email;
pub mod grant;
pub mod keyed_hash;
pub mod lang;
pub mod login_id;
pub mod masking;
pub mod member;
pub mod opaque_token;
pub mod password;
pub mod password_policy;
pub mod recovery_code;
pub mod reset_nonce;
pub mod session;
pub mod site;
