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
mod tests {
    use super::PasswordRule::*;
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    /// Ten characters that break no rule, used to build boundary cases.
    const CLEAN: &str = "Zq7!mK2#pW";

    fn check(candidate: &str, login_id: Option<&str>) -> Result<String, Vec<PasswordRule>> {
        PasswordPolicy::default()
            .check(candidate, login_id)
            .map(|accepted| accepted.expose().to_owned())
    }

    #[test]
    fn defaults_match_the_spec() {
        let policy = PasswordPolicy::default();
        assert_eq!(policy.min_length, 8);
        assert_eq!(policy.max_length, 30);
        assert!(policy.forbid_whitespace);
        assert_eq!(policy.max_sequential_run, 2);
        assert_eq!(policy.max_repeated_run, 2);
        assert_eq!(policy.history_size, 3);
        assert_eq!(policy.expires_after_days, 90);
    }

    #[test]
    fn rules_table() {
        let thirty = CLEAN.repeat(3);
        let thirty_one = format!("{thirty}5");
        let cases: Vec<(&str, String, Option<&str>, Vec<PasswordRule>)> = vec![
            ("clean", CLEAN.into(), None, vec![]),
            ("7 chars", "Zq7!mK2".into(), None, vec![TooShort]),
            ("8 chars", "Zq7!mK2#".into(), None, vec![]),
            ("30 chars", thirty.clone(), None, vec![]),
            ("31 chars", thirty_one, None, vec![TooLong]),
            ("empty", String::new(), None, vec![TooShort]),
            ("space", "Zq7! mK2#".into(), None, vec![Whitespace]),
            ("tab", "Zq7!\tmK2#".into(), None, vec![Whitespace]),
            ("no-break space", "Zq7!\u{a0}mK2#".into(), None, vec![Whitespace]),
            (
                "ideographic space",
                "Zq7!\u{3000}mK2#".into(),
                None,
                vec![Whitespace],
            ),
            ("123", "Zq7!123#pW".into(), None, vec![Sequential]),
            ("321", "Zq7!321#pW".into(), None, vec![Sequential]),
            ("abc", "Zq7!abc#pW".into(), None, vec![Sequential]),
            ("cba", "Zq7!cba#pW".into(), None, vec![Sequential]),
            ("aBc mixed case", "Zq7!aBc#pW".into(), None, vec![Sequential]),
            ("XYZ upper", "q7!XYZ#pWm".into(), None, vec![Sequential]),
            ("two sequential is fine", "Zq7!12#ab#pW".into(), None, vec![]),
            ("up then down is fine", "Zq7!aba#pW".into(), None, vec![]),
            ("no wrap 890", "Zq7!890#pW".into(), None, vec![]),
            ("digit-letter boundary", "Zq7!89a#pW".into(), None, vec![]),
            ("symbols are not sequences", "Zq7!#$%mpW".into(), None, vec![]),
            ("aaa", "Zq7!aaa#pW".into(), None, vec![Repeated]),
            ("aAa", "Zq7!aAa#pW".into(), None, vec![Repeated]),
            ("111", "Zq7!111#pW".into(), None, vec![Repeated]),
            ("!!!", "Zq7!!!m#pW".into(), None, vec![Repeated]),
            ("hangul repeated", "Zq7!ㅋㅋㅋ#pW".into(), None, vec![Repeated]),
            ("two identical is fine", "Zq7!aa#pWm".into(), None, vec![]),
            (
                "login id",
                "x!ALICE9#q".into(),
                Some("alice9"),
                vec![ContainsLoginId],
            ),
            (
                "login id full-width",
                "x!ＡＬＩＣＥ9#q".into(),
                Some("Alice9"),
                vec![ContainsLoginId],
            ),
            ("login id absent", CLEAN.into(), Some("alice9"), vec![]),
            ("login id of 2 ignored", "Zq7!mK2#pW".into(), Some("mk"), vec![]),
            ("login id empty ignored", CLEAN.into(), Some(""), vec![]),
            ("common", "password1".into(), None, vec![TooCommon]),
            ("common any case", "PassWord1".into(), None, vec![TooCommon]),
            ("common from list", "qwertyuiop".into(), None, vec![TooCommon]),
            (
                "common full-width",
                "ｂａｓｅｂａｌｌ".into(),
                None,
                vec![TooCommon],
            ),
            (
                "everything at once",
                "aaa 123".into(),
                Some("aaa 1"),
                vec![TooShort, Whitespace, Sequential, Repeated, ContainsLoginId],
            ),
            (
                "too long and more, under the byte bound",
                format!("{thirty} abc"),
                None,
                vec![TooLong, Whitespace, Sequential],
            ),
            (
                "common and login id",
                "baseball".into(),
                Some("Base"),
                vec![ContainsLoginId, TooCommon],
            ),
        ];
        for (name, candidate, login_id, expected) in cases {
            let result = check(&candidate, login_id);
            if expected.is_empty() {
                assert!(result.is_ok(), "{name}: expected accepted, got {result:?}");
            } else {
                assert_eq!(result.err(), Some(expected), "{name}");
            }
        }
    }

    #[test]
    fn nfkc_folds_full_width() {
        assert_eq!(nfkc("ＡＢＣ"), "ABC");
        assert_eq!(nfkc("ｅ\u{301}"), "é");
    }

    #[test]
    fn accepted_password_is_the_normalised_text() {
        assert_eq!(check("Ｚｑ７！ｍＫ２＃", None), Ok("Zq7!mK2#".to_owned()));
    }

    #[test]
    fn full_width_sequences_are_caught_after_normalising() {
        assert_eq!(check("Zq7!１２３#pW", None), Err(vec![Sequential]));
    }

    #[test]
    fn length_counts_normalised_characters() {
        // 11 code points typed (4 letters + 4 combining accents + 3), 7 after NFKC.
        let decomposed = "a\u{301}e\u{301}i\u{301}o\u{301}Zq7";
        assert_eq!(decomposed.chars().count(), 11);
        assert_eq!(check(decomposed, None), Err(vec![TooShort]));
        let eight = "a\u{301}e\u{301}i\u{301}o\u{301}Zq7!";
        assert_eq!(check(eight, None), Ok("áéíóZq7!".to_owned()));
    }

    #[test]
    fn huge_inputs_are_refused_unread() {
        for size in [10_000, 1_000_000] {
            // Would also be Repeated if it were normalised and scanned.
            let candidate = "a".repeat(size);
            let started = Instant::now();
            let result = check(&candidate, Some("aaaa"));
            assert!(
                started.elapsed() < Duration::from_millis(100),
                "{size} took too long"
            );
            assert_eq!(result.err(), Some(vec![TooLong]), "{size}");
        }
    }

    #[test]
    fn byte_bound_follows_max_length_without_overflow() {
        let policy = PasswordPolicy {
            max_length: usize::MAX,
            ..PasswordPolicy::default()
        };
        assert!(policy.check(CLEAN, None).is_ok());
        let policy = PasswordPolicy {
            max_length: 40,
            ..PasswordPolicy::default()
        };
        assert!(policy.check(&CLEAN.repeat(4), None).is_ok());
    }

    #[test]
    fn rules_can_be_configured_or_disabled() {
        let relaxed = PasswordPolicy {
            forbid_whitespace: false,
            max_sequential_run: 0,
            max_repeated_run: 0,
            ..PasswordPolicy::default()
        };
        assert!(relaxed.check("aaaa 1234", None).is_ok());

        let strict = PasswordPolicy {
            max_sequential_run: 1,
            max_repeated_run: 1,
            ..PasswordPolicy::default()
        };
        assert_eq!(
            strict.check("Zq7!ab#pWmm", None).err(),
            Some(vec![Sequential, Repeated])
        );

        let loose = PasswordPolicy {
            max_sequential_run: 3,
            max_repeated_run: 3,
            ..PasswordPolicy::default()
        };
        assert!(loose.check("Zq7!abc#111pW", None).is_ok());
        assert_eq!(
            loose.check("Zq7!abcd#1111pW", None).err(),
            Some(vec![Sequential, Repeated])
        );
    }

    #[test]
    fn debug_is_redacted() {
        let accepted = PasswordPolicy::default().check(CLEAN, None).unwrap();
        assert_eq!(format!("{accepted:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Ok::<_, ()>(accepted)), "Ok([redacted])");
    }

    #[test]
    fn common_list_is_loaded_and_filtered() {
        assert!(COMMON_PASSWORDS.len() > 2000);
        assert!(
            COMMON_PASSWORDS
                .iter()
                .all(|p| (8..=64).contains(&p.chars().count()) && p.to_lowercase() == *p)
        );
    }

    fn rule_rank(rule: PasswordRule) -> usize {
        [
            TooShort,
            TooLong,
            Whitespace,
            Sequential,
            Repeated,
            ContainsLoginId,
            TooCommon,
        ]
        .iter()
        .position(|r| *r == rule)
        .unwrap()
    }

    proptest! {
        #[test]
        fn never_panics(candidate in any::<String>(), login_id in proptest::option::of(any::<String>())) {
            let _ = PasswordPolicy::default().check(&candidate, login_id.as_deref());
        }

        #[test]
        fn violations_are_ordered_and_unique(candidate in any::<String>(), login_id in proptest::option::of("\\PC{0,6}")) {
            if let Err(rules) = PasswordPolicy::default().check(&candidate, login_id.as_deref()) {
                prop_assert!(!rules.is_empty());
                prop_assert!(rules.windows(2).all(|w| rule_rank(w[0]) < rule_rank(w[1])));
            }
        }

        #[test]
        fn accepted_output_is_accepted_again_unchanged(candidate in "[a-zA-Z0-9!#%&*+=?@^_~ ]{6,32}") {
            let policy = PasswordPolicy::default();
            if let Ok(accepted) = policy.check(&candidate, Some("user01")) {
                let again = policy.check(accepted.expose(), Some("user01"));
                prop_assert_eq!(again.map(|a| a.expose().to_owned()), Ok(accepted.expose().to_owned()));
            }
        }

        #[test]
        fn accepted_output_satisfies_the_rules(candidate in any::<String>()) {
            let policy = PasswordPolicy::default();
            if let Ok(accepted) = policy.check(&candidate, None) {
                let text = accepted.expose();
                let len = text.chars().count();
                prop_assert!((8..=30).contains(&len));
                prop_assert!(!text.chars().any(char::is_whitespace));
                prop_assert_eq!(nfkc(text), text);
                prop_assert!(policy.check(text, None).is_ok());
            }
        }

        #[test]
        fn length_verdict_matches_the_normalised_count(candidate in "\\PC{0,40}") {
            let count = nfkc(&candidate).chars().count();
            let rules = PasswordPolicy::default().check(&candidate, None).err().unwrap_or_default();
            prop_assert_eq!(rules.contains(&TooShort), count < 8);
            prop_assert_eq!(rules.contains(&TooLong), count > 30);
        }

        #[test]
        fn inserting_a_triple_always_trips_the_run_rules(prefix in "[a-z]{0,10}", start in 0u8..24, suffix in "[a-z]{0,10}") {
            let start = char::from(b'a' + start);
            let triple: String = (0..3).map(|i| char::from(start as u8 + i)).collect();
            let rules = PasswordPolicy::default().check(&format!("{prefix}{triple}{suffix}"), None).err().unwrap_or_default();
            prop_assert!(rules.contains(&Sequential));
            let repeated = start.to_string().repeat(3);
            let rules = PasswordPolicy::default().check(&format!("{prefix}{repeated}{suffix}"), None).err().unwrap_or_default();
            prop_assert!(rules.contains(&Repeated));
        }

        #[test]
        fn debug_never_shows_the_password(candidate in "[a-zA-Z0-9]{8,30}") {
            if let Ok(accepted) = PasswordPolicy::default().check(&candidate, None) {
                prop_assert_eq!(format!("{accepted:?}"), "[redacted]");
            }
        }
    }
}
