//! E-mail address: parsing a typed address into the normalised form that is stored, compared and mailed to.

use super::casefold::nfkc_casefold;

/// Longest address, in characters (RFC 5321 path limit less the brackets).
const MAX_CHARS: usize = 254;
const MAX_LOCAL_CHARS: usize = 64;
const MAX_LABEL_CHARS: usize = 63;

/// An e-mail address known to be well formed, stored normalised: trimmed and folded as a whole
/// with NFKC_Casefold, the rule of every key (providers treat the local part case-insensitively in
/// practice, and one member must not hold two spellings of one mailbox). Addresses are printable
/// ASCII today, where that is ASCII lowercasing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("the e-mail address is empty")]
    Empty,
    #[error("the e-mail address is longer than {MAX_CHARS} characters")]
    TooLong,
    #[error("the e-mail address is not valid")]
    Invalid,
}

impl Email {
    /// Trims, then accepts `local@domain`: a local part of 1 to 64 printable ASCII characters but
    /// `@ " ( ) , : ; < > [ ] \` (as lettre, so it can be mailed); two or more domain labels of 1 to
    /// 63 ASCII letters, digits or inner `-`, the last two or more letters or an `xn--` IDN TLD.
    pub fn parse(raw: &str) -> Result<Email, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        // Stops after 255 characters, whatever the input size.
        if trimmed.chars().nth(MAX_CHARS).is_some() {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = trimmed.split_once('@').ok_or(EmailError::Invalid)?;
        if is_valid_local_part(local) && is_valid_domain(domain) {
            Ok(Email(nfkc_casefold(trimmed)))
        } else {
            Err(EmailError::Invalid)
        }
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_valid_local_part(local: &str) -> bool {
    (1..=MAX_LOCAL_CHARS).contains(&local.len())
        && local.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'@' | b'"' | b'(' | b')' | b',' | b':' | b';' | b'<' | b'>' | b'[' | b']' | b'\\'
                )
        })
}

/// Also rejects a second `@`, which would land in the domain.
fn is_valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let Some((tld, _)) = labels.split_last() else {
        return false;
    };
    labels.len() >= 2 && labels.iter().all(|label| is_valid_label(label)) && is_valid_tld(tld)
}

fn is_valid_label(label: &str) -> bool {
    (1..=MAX_LABEL_CHARS).contains(&label.len())
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

fn is_valid_tld(tld: &str) -> bool {
    let idn = tld.len() > 4 && tld.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--"));
    idn || (tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()))
}

#[cfg(test)]
mod tests {
    use super::EmailError::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_table() {
        let local_64 = "a".repeat(64);
        let label_63 = "b".repeat(63);
        // 64 + 1 + 63 + 1 + 63 + 1 + 57 + 1 + 3 = 254 characters.
        let longest = format!("{local_64}@{label_63}.{label_63}.{}.com", "c".repeat(57));
        assert_eq!(longest.len(), 254);
        let too_long = format!("{local_64}@{label_63}.{label_63}.{}.com", "c".repeat(58));
        let ok = |s: &str| Ok(s.to_owned());
        let cases: Vec<(String, Result<String, EmailError>)> = vec![
            ("test@example.com".into(), ok("test@example.com")),
            (
                "  Test.User+tag@Example.COM \n".into(),
                ok("test.user+tag@example.com"),
            ),
            ("a@b.co".into(), ok("a@b.co")),
            (
                "o'brien@mail-1.example.org".into(),
                ok("o'brien@mail-1.example.org"),
            ),
            (
                "!#$%&'*+-/=?^_`{|}~.@x.io".into(),
                ok("!#$%&'*+-/=?^_`{|}~.@x.io"),
            ),
            ("user@123.example.kr".into(), ok("user@123.example.kr")),
            (
                "user@example.xn--3e0b707e".into(),
                ok("user@example.xn--3e0b707e"),
            ),
            (
                format!("{local_64}@example.com"),
                ok(&format!("{local_64}@example.com")),
            ),
            (format!("a@{label_63}.com"), ok(&format!("a@{label_63}.com"))),
            (longest.clone(), ok(&longest)),
            ("".into(), Err(Empty)),
            (" \t\r\n".into(), Err(Empty)),
            (too_long, Err(TooLong)),
            ("a".repeat(1_000_000), Err(TooLong)),
            ("plainaddress".into(), Err(Invalid)),
            ("a@@b.com".into(), Err(Invalid)),
            ("a@b@c.com".into(), Err(Invalid)),
            ("@example.com".into(), Err(Invalid)),
            ("user@".into(), Err(Invalid)),
            ("user@localhost".into(), Err(Invalid)),
            ("user@example.c".into(), Err(Invalid)),
            ("user@example.c0m".into(), Err(Invalid)),
            ("user@example.123".into(), Err(Invalid)),
            ("user@-example.com".into(), Err(Invalid)),
            ("user@example-.com".into(), Err(Invalid)),
            ("user@exa_mple.com".into(), Err(Invalid)),
            ("user@example..com".into(), Err(Invalid)),
            ("user@.example.com".into(), Err(Invalid)),
            ("user@example.com.".into(), Err(Invalid)),
            ("user@xn--.com".into(), Err(Invalid)),
            ("user@bücher.de".into(), Err(Invalid)),
            ("홍길동@example.com".into(), Err(Invalid)),
            ("us er@example.com".into(), Err(Invalid)),
            ("user@exam ple.com".into(), Err(Invalid)),
            ("us\ter@example.com".into(), Err(Invalid)),
            ("us\u{7f}er@example.com".into(), Err(Invalid)),
            (format!("{}@example.com", "a".repeat(65)), Err(Invalid)),
            (format!("a@{}.com", "b".repeat(64)), Err(Invalid)),
            ("user@[127.0.0.1]".into(), Err(Invalid)),
        ];
        for (input, expected) in cases {
            let result = Email::parse(&input).map(|email| email.as_str().to_owned());
            assert_eq!(result, expected, "{input:?}");
        }
    }

    #[test]
    fn forbidden_local_part_characters_are_invalid() {
        for c in ['@', '"', '(', ')', ',', ':', ';', '<', '>', '[', ']', '\\', ' '] {
            let input = format!("us{c}er@example.com");
            assert_eq!(Email::parse(&input), Err(Invalid), "{input:?}");
        }
    }

    #[test]
    fn errors_have_messages() {
        assert_eq!(Invalid.to_string(), "the e-mail address is not valid");
    }

    proptest! {
        #[test]
        fn never_panics(raw in any::<String>()) {
            let _ = Email::parse(&raw);
        }

        #[test]
        fn parsing_is_idempotent(raw in any::<String>()) {
            if let Ok(email) = Email::parse(&raw) {
                prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
                prop_assert_eq!(email.as_str(), email.as_str().to_ascii_lowercase());
            }
        }

        #[test]
        fn well_formed_addresses_are_accepted(
            local in "[A-Za-z0-9._%+-]{1,64}",
            labels in proptest::collection::vec("[A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?", 1..4),
            tld in "[A-Za-z]{2,6}",
            padding in "\\s{0,3}",
        ) {
            let address = format!("{local}@{}.{tld}", labels.join("."));
            let email = Email::parse(&format!("{padding}{address}{padding}")).unwrap();
            prop_assert_eq!(email.as_str(), address.to_lowercase());
        }

        #[test]
        fn a_second_at_sign_is_invalid(a in "[a-z]{1,10}", b in "[a-z]{0,10}") {
            prop_assert_eq!(Email::parse(&format!("{a}@{b}@example.com")), Err(Invalid));
        }

        #[test]
        fn case_variants_parse_equal(local in "[a-zA-Z0-9]{1,20}", domain in "[a-zA-Z]{1,20}") {
            let address = format!("{local}@{domain}.com");
            prop_assert_eq!(
                Email::parse(&address.to_uppercase()),
                Email::parse(&address.to_lowercase())
            );
        }
    }
}
