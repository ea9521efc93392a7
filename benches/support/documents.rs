//! The GraphQL documents the load, scale and mail_pipeline benches send, the members' password, and the new
//! passwords their resets set.
#![allow(dead_code)] // each bench uses part of this file

pub const PASSWORD: &str = "Harbor-Blue-47";
pub const CHECK_LOGIN_ID: &str =
    "query($id: String!) { checkLoginId(loginId: $id) { exists errors { code } } }";
pub const FIND_ID: &str =
    "query($e: String!) { findId(by: {email: $e}) { accounts { maskedLoginId } errors { code } } }";
pub const ISSUE_BY_EMAIL: &str =
    "mutation($e: String!) { issueResetToken(by: {email: $e}) { accepted channel errors { code } } }";
pub const ISSUE_DIRECT: &str = "mutation($id: String!, $ci: String!) { issueResetToken(by: {identity: {loginId: $id, ci: $ci}}) { token errors { code } } }";
pub const RESET: &str = "mutation($t: String!, $p: String!) { resetPassword(input: {credential: {token: $t}, newPassword: $p}) { member { id } errors { code } } }";

/// A distinct password per reset that every default rule accepts (no runs, no repeats).
pub fn new_password(i: u64) -> String {
    const LETTERS: &[u8] = b"bdfhkmprtw";
    let tail: String = format!("{i:06}")
        .bytes()
        .map(|d| format!("{}9", LETTERS[usize::from(d - b'0')] as char))
        .collect();
    format!("Qz7!{tail}")
}
