//! The password rules, table by table and as properties.
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
