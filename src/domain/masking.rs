//! Masking of login IDs, e-mail addresses and client addresses shown to people. Every function
//! counts `char`s, not bytes, so Korean and other non-ASCII text is masked one character for one
//! `*`, and the output always has as many characters as the input.

const MASK: char = '*';

/// Masks a login ID: more than four characters keep the first two and last two (`abcdefg` →
/// `ab***fg`), two to four keep the first (`abcd` → `a***`), one is hidden (`a` → `*`: keeping it
/// would show the whole ID); the empty string stays empty.
pub fn mask_login_id(login_id: &str) -> String {
    let count = login_id.chars().count();
    let (head, tail) = match count {
        0 | 1 => (0, 0),
        2..=4 => (1, 0),
        _ => (2, 2),
    };
    mask_keeping(login_id, count, head, tail)
}

/// Masks an e-mail address split at its last `@` (`test@example.com` → `te**@ex*****.com`): the
/// local part and each domain label but the TLD keep two characters of three or more, one of two,
/// none of one; a dotless domain is masked; no `@`, or nothing to hide (`@.com`): as a login ID.
pub fn mask_email(email: &str) -> String {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return mask_login_id(email);
    };
    let mut masked = mask_segment(local);
    masked.push('@');
    match domain.rsplit_once('.') {
        Some((labels, tld)) => {
            for label in labels.split('.') {
                masked.push_str(&mask_segment(label));
                masked.push('.');
            }
            masked.push_str(tld);
        }
        None => masked.push_str(&mask_segment(domain)),
    }
    if masked.contains(MASK) {
        masked
    } else {
        mask_login_id(email)
    }
}

/// Masks a client address as stored in the audit (`203.0.113.9` → `203.0.113.0/24`,
/// `2001:db8:1:2::9` → `2001:db8:1::/48`): enough to tell "my home network" from "abroad",
/// not enough to point at one device. Anything that is not an IP address gives `None`.
pub fn mask_client_address(raw: &str) -> Option<String> {
    match raw.trim().parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Some(format!("{a}.{b}.{c}.0/24"))
        }
        std::net::IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return mask_client_address(&v4.to_string());
            }
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
            Some(format!("{prefix}/48"))
        }
    }
}

/// One part of an address: keep two characters of three or more, one of two,
/// none of one.
fn mask_segment(segment: &str) -> String {
    let count = segment.chars().count();
    let head = match count {
        0 | 1 => 0,
        2 => 1,
        _ => 2,
    };
    mask_keeping(segment, count, head, 0)
}

/// Keeps `head` leading and `tail` trailing characters of `text` (which has
/// `count` characters) and replaces every other character with `*`.
fn mask_keeping(text: &str, count: usize, head: usize, tail: usize) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| if i < head || i + tail >= count { c } else { MASK })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn client_addresses_keep_their_network_only() {
        let cases = [
            ("203.0.113.9", Some("203.0.113.0/24")),
            ("10.0.0.255", Some("10.0.0.0/24")),
            ("2001:db8:1:2:aaaa::1", Some("2001:db8:1::/48")),
            ("2001:db8::1", Some("2001:db8::/48")),
            ("::ffff:198.51.100.7", Some("198.51.100.0/24")),
            ("::1", Some("::/48")),
            ("not an address", None),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(mask_client_address(raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn login_id_table() {
        let cases = [
            ("abcdefg", "ab***fg"),
            ("abcdef", "ab**ef"),
            ("abcde", "ab*de"),
            ("abcd", "a***"),
            ("abc", "a**"),
            ("ab", "a*"),
            ("a", "*"),
            ("", ""),
            ("홍길동", "홍**"),
            ("홍길동전님", "홍길*전님"),
            ("user.name@example.com", "us*****************om"),
            ("AbCdEfGhIj", "Ab******Ij"),
        ];
        for (input, expected) in cases {
            assert_eq!(mask_login_id(input), expected, "{input}");
        }
    }

    #[test]
    fn email_table() {
        let cases = [
            ("test@example.com", "te**@ex*****.com"),
            ("ab@example.com", "a*@ex*****.com"),
            ("a@b.co", "*@*.co"),
            ("abc@de.kr", "ab*@d*.kr"),
            ("john.doe@mail.example.co.kr", "jo******@ma**.ex*****.c*.kr"),
            ("user@localhost", "us**@lo*******"),
            ("홍길동@예시.한국", "홍길*@예*.한국"),
            ("no-at-sign", "no******gn"),
            ("a\"b@c\"@example.com", "a\"****@ex*****.com"),
            ("@.com", "@.*om"),
            ("@", "*"),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(mask_email(input), expected, "{input}");
        }
    }

    /// Characters other than `*`: an input already made of `*` may legitimately
    /// mask to itself.
    const NO_STAR: &str = "[^*]{3,40}";

    proptest! {
        #[test]
        fn login_id_mask_keeps_the_char_count(s in any::<String>()) {
            prop_assert_eq!(mask_login_id(&s).chars().count(), s.chars().count());
        }

        #[test]
        fn email_mask_keeps_the_char_count(s in any::<String>()) {
            prop_assert_eq!(mask_email(&s).chars().count(), s.chars().count());
        }

        #[test]
        fn login_id_mask_always_hides_something(s in NO_STAR) {
            prop_assert_ne!(mask_login_id(&s), s);
        }

        #[test]
        fn email_mask_always_hides_something(s in NO_STAR) {
            prop_assert_ne!(mask_email(&s), s);
        }

        #[test]
        fn email_shaped_input_always_hides_something(
            local in "[^*@]{0,10}",
            labels in proptest::collection::vec("[^*@.]{0,8}", 1..4),
        ) {
            let email = format!("{local}@{}", labels.join("."));
            if email.chars().count() >= 3 {
                prop_assert_ne!(mask_email(&email), email);
            }
        }

        #[test]
        fn masking_only_replaces_characters_with_stars(s in any::<String>()) {
            for masked in [mask_login_id(&s), mask_email(&s)] {
                for (original, shown) in s.chars().zip(masked.chars()) {
                    prop_assert!(shown == original || shown == '*');
                }
            }
        }

        #[test]
        fn email_structure_is_kept(local in "[a-z0-9.]{1,20}", labels in proptest::collection::vec("[a-z0-9-]{1,10}", 2..4)) {
            let email = format!("{local}@{}", labels.join("."));
            let masked = mask_email(&email);
            prop_assert_eq!(masked.matches('@').count(), 1);
            let tld = format!(".{}", labels.last().unwrap());
            prop_assert!(masked.ends_with(&tld));
            let (_, masked_domain) = masked.split_once('@').unwrap();
            prop_assert_eq!(masked_domain.matches('.').count(), labels.len() - 1);
        }
    }
}
