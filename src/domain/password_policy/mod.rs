//! Password policy: the rules a new password must pass and the NFKC normalisation shared with sign-in.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

/// Bytes allowed per permitted character before normalising: 4 bytes of UTF-8, times 4 because
/// NFKC can fold several code points into one (combining marks, Hangul jamo); anything above it is
/// refused as too long unread.
const BYTES_PER_CHAR_BOUND: usize = 4 * 4;

/// Login IDs shorter than this are not looked for inside the password: a one-
/// or two-character ID would forbid a large share of ordinary passwords.
const MIN_LOGIN_ID_CHARS_TO_CHECK: usize = 3;

/// SecLists' `Passwords/Common-Credentials/10k-most-common.txt` (github.com/danielmiessler/SecLists,
/// MIT licence) at commit 4f84b3c29b5f2192cc82ccdeaf655f0c5f0ab547: the entries of 8 to 64
/// characters (shorter ones fail the length rule), lowercased, deduplicated, in frequency order.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common_passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

/// The password rules of one site; the defaults below apply where a site carries none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in characters, counted after NFKC.
    pub min_length: usize,
    /// Maximum length in characters, counted after NFKC.
    pub max_length: usize,
    /// Refuse any `char::is_whitespace` character.
    pub forbid_whitespace: bool,
    /// Longest allowed run of sequential characters (`12`, `ab`, `ba`); 0 disables the rule.
    pub max_sequential_run: usize,
    /// Longest allowed run of identical characters (`aa`); 0 disables the rule.
    pub max_repeated_run: usize,
    /// How many previous hashes a new password may not match (enforced by the use cases).
    pub history_size: usize,
    /// Days after which a password counts as expired (enforced by the use cases).
    pub expires_after_days: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 30,
            forbid_whitespace: true,
            max_sequential_run: 2,
            max_repeated_run: 2,
            history_size: 3,
            expires_after_days: 90,
        }
    }
}

/// One rule a candidate password can break. `check` reports them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PasswordRule {
    TooShort,
    TooLong,
    Whitespace,
    Sequential,
    Repeated,
    ContainsLoginId,
    TooCommon,
}

/// A candidate password that passed the policy, already NFKC-normalised.
/// It prints as `[redacted]` and has no `Display`, so it cannot leak into logs.
pub struct AcceptedPassword(super::password::Password);

impl AcceptedPassword {
    /// The normalised password, for hashing.
    pub fn password(&self) -> &super::password::Password {
        &self.0
    }

    /// The normalised password text.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for AcceptedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl PasswordPolicy {
    /// Returns every violated rule (not only the first), in the enum order, judging the NFKC form
    /// (lengths in `char`s). Input over `max_length * 16` bytes cannot be a password: it is
    /// `[TooLong]` alone, neither normalised nor checked further.
    pub fn check(
        &self,
        candidate: &str,
        login_id: Option<&str>,
    ) -> Result<AcceptedPassword, Vec<PasswordRule>> {
        if candidate.len() > self.max_length.saturating_mul(BYTES_PER_CHAR_BOUND) {
            return Err(vec![PasswordRule::TooLong]);
        }
        let normalized = nfkc(candidate);
        let chars: Vec<char> = normalized.chars().collect();
        let lowered = normalized.to_lowercase();

        let mut violations = Vec::new();
        if chars.len() < self.min_length {
            violations.push(PasswordRule::TooShort);
        }
        if chars.len() > self.max_length {
            violations.push(PasswordRule::TooLong);
        }
        if self.forbid_whitespace && chars.iter().any(|c| c.is_whitespace()) {
            violations.push(PasswordRule::Whitespace);
        }
        if has_sequential_run(&chars, self.max_sequential_run) {
            violations.push(PasswordRule::Sequential);
        }
        if has_repeated_run(&chars, self.max_repeated_run) {
            violations.push(PasswordRule::Repeated);
        }
        if login_id.is_some_and(|id| contains_login_id(&lowered, id)) {
            violations.push(PasswordRule::ContainsLoginId);
        }
        if COMMON_PASSWORDS.contains(lowered.as_str()) {
            violations.push(PasswordRule::TooCommon);
        }

        if violations.is_empty() {
            Ok(AcceptedPassword(super::password::Password::new(normalized)))
        } else {
            Err(violations)
        }
    }
}

/// NFKC normalisation lives with the password type; the rules and login IDs use it too.
pub use super::password::nfkc;

/// The position of a character on the sequence scales: ASCII digits, and ASCII letters folded to
/// lowercase (`aBc` is a sequence). Other characters never form sequences: consecutive code points
/// there (`!"#`, `가각갂`) are not what a person sees as "abc".
fn sequence_position(c: char) -> Option<u32> {
    if c.is_ascii_digit() || c.is_ascii_alphabetic() {
        Some(u32::from(c.to_ascii_lowercase()))
    } else {
        None
    }
}

/// True when more than `limit` characters in a row step by +1 or by -1 (`limit` 2: `123`, `abc`,
/// `cba` refused, `12` fine; `890` and `yza` do not wrap); 0 disables the rule. Digits and letters
/// never chain into each other: their code points are not adjacent.
fn has_sequential_run(chars: &[char], limit: usize) -> bool {
    if limit == 0 {
        return false;
    }
    let (mut ascending, mut descending) = (1usize, 1usize);
    for pair in chars.windows(2) {
        match (sequence_position(pair[0]), sequence_position(pair[1])) {
            (Some(a), Some(b)) if b == a + 1 => {
                ascending += 1;
                descending = 1;
            }
            (Some(a), Some(b)) if b + 1 == a => {
                descending += 1;
                ascending = 1;
            }
            _ => {
                ascending = 1;
                descending = 1;
            }
        }
        if ascending > limit || descending > limit {
            return true;
        }
    }
    false
}

/// True when more than `limit` identical characters stand in a row; ASCII letters compare
/// case-insensitively (`aAa` counts), others exactly (`ㅋㅋㅋ` counts); 0 disables the rule.
fn has_repeated_run(chars: &[char], limit: usize) -> bool {
    if limit == 0 {
        return false;
    }
    let mut run = 1usize;
    for pair in chars.windows(2) {
        if pair[0].eq_ignore_ascii_case(&pair[1]) {
            run += 1;
            if run > limit {
                return true;
            }
        } else {
            run = 1;
        }
    }
    false
}

/// `lowered_password` is already NFKC + lowercase; the login ID gets the same
/// treatment. IDs under three characters (or empty) are never looked for.
fn contains_login_id(lowered_password: &str, login_id: &str) -> bool {
    let id = nfkc(login_id.trim()).to_lowercase();
    id.chars().count() >= MIN_LOGIN_ID_CHARS_TO_CHECK && lowered_password.contains(&id)
}

#[cfg(test)]
mod tests;
