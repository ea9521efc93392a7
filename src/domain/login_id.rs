//! Login ID: parsing a typed login ID and the case-insensitive key it is compared by.

use super::{casefold::nfkc_casefold, password_policy::nfkc};

/// Longest login ID, in characters, both as typed and as comparison key.
const MAX_CHARS: usize = 50;

/// A login ID as the member typed it (trimmed), known to be well formed. Equality compares the
/// typed text; IDs differing only in case or width are one account: compare [`LoginId::normalized`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoginId(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoginIdError {
    #[error("the login ID is empty")]
    Empty,
    #[error("the login ID is longer than {MAX_CHARS} characters")]
    TooLong,
    #[error("the login ID may contain only letters, digits and . _ - @")]
    Invalid,
}

impl LoginId {
    /// Trims, then accepts 1 to 50 characters, each a letter or digit of any script or one of
    /// `. _ - @` (some login IDs are e-mail addresses); whitespace, control, format and symbol
    /// characters are `Invalid`. The NFKC form obeys the same rules; the key is 1 to 50 characters
    /// too (an ID of invisible Hangul fillers alone has an empty key).
    pub fn parse(raw: &str) -> Result<LoginId, LoginIdError> {
        let typed = raw.trim();
        if typed.is_empty() {
            return Err(LoginIdError::Empty);
        }
        // Stops after 51 characters, whatever the input size.
        if typed.chars().nth(MAX_CHARS).is_some() {
            return Err(LoginIdError::TooLong);
        }
        if !typed.chars().all(is_allowed) {
            return Err(LoginIdError::Invalid);
        }
        let folded = nfkc(typed);
        if !folded.chars().all(is_allowed) {
            return Err(LoginIdError::Invalid);
        }
        let key = nfkc_casefold(typed);
        if key.is_empty() {
            return Err(LoginIdError::Empty);
        }
        if key.chars().nth(MAX_CHARS).is_some() {
            return Err(LoginIdError::TooLong);
        }
        Ok(LoginId(typed.to_owned()))
    }

    /// The login ID as typed (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The comparison key: NFKC_Casefold. Stored next to the typed ID and used for every lookup,
    /// so comparison is blind to case (`straße` = `STRASSE`), width and invisible characters on
    /// every database whatever its collation.
    pub fn normalized(&self) -> String {
        nfkc_casefold(&self.0)
    }
}

fn is_allowed(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')
}

#[cfg(test)]
mod tests {
    use super::LoginIdError::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_table() {
        let fifty = "a".repeat(50);
        let fifty_one = "a".repeat(51);
        let cases: Vec<(String, Result<&str, LoginIdError>)> = vec![
            ("alice".into(), Ok("alice")),
            ("  Alice99 \t".into(), Ok("Alice99")),
            ("홍길동".into(), Ok("홍길동")),
            (
                "user.name_1-2@example.com".into(),
                Ok("user.name_1-2@example.com"),
            ),
            ("ＡＬＩＣＥ".into(), Ok("ＡＬＩＣＥ")),
            (fifty.clone(), Ok(fifty.as_str())),
            ("".into(), Err(Empty)),
            ("   \t\n".into(), Err(Empty)),
            ("\u{3000}".into(), Err(Empty)),
            (fifty_one, Err(TooLong)),
            ("가".repeat(51), Err(TooLong)),
            ("x".repeat(1_000_000), Err(TooLong)),
            ("ali ce".into(), Err(Invalid)),
            ("ali\tce".into(), Err(Invalid)),
            ("ali\u{0}ce".into(), Err(Invalid)),
            ("ali\u{7f}ce".into(), Err(Invalid)),
            ("ali\u{200b}ce".into(), Err(Invalid)),
            ("ali\u{ad}ce".into(), Err(Invalid)),
            // Hangul fillers are letters, but invisible: nothing is left of the key.
            ("\u{3164}\u{3164}".into(), Err(Empty)),
            ("al!ce".into(), Err(Invalid)),
            ("al*ce".into(), Err(Invalid)),
            ("al+ce".into(), Err(Invalid)),
            ("<script>".into(), Err(Invalid)),
            ("alice😀".into(), Err(Invalid)),
            // Numeric, but NFKC turns it into "(1)".
            ("a⑴".into(), Err(Invalid)),
            // A symbol, although NFKC would make it letters ("株式会社").
            ("㍿".into(), Err(Invalid)),
        ];
        for (input, expected) in cases {
            let result = LoginId::parse(&input);
            match expected {
                Ok(text) => assert_eq!(
                    result.map(|id| id.as_str().to_owned()),
                    Ok(text.to_owned()),
                    "{input:?}"
                ),
                Err(error) => assert_eq!(result, Err(error), "{input:?}"),
            }
        }
    }

    #[test]
    fn key_length_is_checked_after_normalising() {
        // "ﷲ" (U+FDF2, a letter) is one character typed and four after NFKC.
        let ok = "ﷲ".repeat(12) + "ab";
        assert_eq!(LoginId::parse(&ok).unwrap().normalized().chars().count(), 50);
        let too_long = "ﷲ".repeat(12) + "abc";
        assert_eq!(LoginId::parse(&too_long), Err(TooLong));
    }

    #[test]
    fn the_key_counts_after_folding() {
        // "ß" is one character typed and two in the key.
        let ok = "ß".repeat(25);
        assert_eq!(LoginId::parse(&ok).unwrap().normalized(), "s".repeat(50));
        assert_eq!(LoginId::parse(&(ok + "a")), Err(TooLong));
    }

    #[test]
    fn normalized_is_case_and_width_insensitive() {
        let cases = [
            ("Alice", "alice"),
            ("ALICE", "alice"),
            ("ＡＬＩＣＥ", "alice"),
            ("홍길동", "홍길동"),
            ("User@Example.COM", "user@example.com"),
            ("STRASSE", "strasse"),
            ("straße", "strasse"),
            ("ΟΔΥΣΣΕΥΣ", "οδυσσευσ"),
            ("οδυσσευς", "οδυσσευσ"),
            ("ﬁle", "file"),
            ("İzmir", "i\u{307}zmir"),
            ("kim\u{3164}99", "kim99"),
        ];
        for (input, key) in cases {
            assert_eq!(LoginId::parse(input).unwrap().normalized(), key, "{input}");
        }
        assert_ne!(LoginId::parse("Alice").unwrap(), LoginId::parse("alice").unwrap());
    }

    #[test]
    fn errors_have_messages() {
        assert_eq!(TooLong.to_string(), "the login ID is longer than 50 characters");
    }

    proptest! {
        #[test]
        fn never_panics(raw in any::<String>()) {
            let _ = LoginId::parse(&raw);
        }

        #[test]
        fn accepted_ids_are_trimmed_and_bounded(raw in "\\s{0,2}[\\w.@-]{0,60}\\s{0,2}") {
            if let Ok(id) = LoginId::parse(&raw) {
                prop_assert_eq!(id.as_str(), id.as_str().trim());
                prop_assert!(!id.as_str().is_empty());
                prop_assert!(id.as_str().chars().count() <= 50);
                prop_assert!(id.normalized().chars().count() <= 50);
            }
        }

        #[test]
        fn simple_ids_are_accepted(raw in "[a-zA-Z0-9][a-zA-Z0-9._@-]{0,49}") {
            let id = LoginId::parse(&raw).unwrap();
            prop_assert_eq!(id.as_str(), raw.as_str());
            prop_assert_eq!(id.normalized(), raw.to_lowercase());
        }

        /// A key may not parse (`İ` folds to `i` + a combining mark), but when it does, it is its
        /// own key; folding is idempotent either way.
        #[test]
        fn the_key_is_its_own_key(raw in any::<String>()) {
            if let Ok(id) = LoginId::parse(&raw) {
                let key = id.normalized();
                prop_assert_eq!(nfkc_casefold(&key), key.clone());
                if let Ok(again) = LoginId::parse(&key) {
                    prop_assert_eq!(again.normalized(), key);
                }
            }
        }

        #[test]
        fn case_variants_share_a_key(raw in "[a-zA-Z0-9]{1,50}") {
            let upper = LoginId::parse(&raw.to_uppercase()).unwrap();
            let lower = LoginId::parse(&raw.to_lowercase()).unwrap();
            prop_assert_eq!(upper.normalized(), lower.normalized());
        }
    }
}
