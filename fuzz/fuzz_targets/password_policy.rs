//! Fuzzes the password policy: any text and login ID, never a panic; an accepted password obeys
//! the length bounds it was checked against.
#![no_main]
use account_recovery::domain::password_policy::PasswordPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, Option<&str>)| {
    let (candidate, login_id) = input;
    let policy = PasswordPolicy::default();
    match policy.check(candidate, login_id) {
        Ok(accepted) => {
            let n = accepted.expose().chars().count();
            assert!(n >= policy.min_length && n <= policy.max_length, "accepted length {n}");
        }
        Err(rules) => assert!(!rules.is_empty(), "refused without a rule"),
    }
});
