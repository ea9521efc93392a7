//! "That wasn't me": the token a password-changed notice carries so the member can report a change
//! they did not make. 256 bits, single use, stored only as its SHA-256.
use super::opaque_token::opaque_token;

opaque_token!(
    /// The token of a "that wasn't me" link. Never printed.
    ReportToken
);
