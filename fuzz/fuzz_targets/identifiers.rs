//! Fuzzes login ID and e-mail parsing: any text, never a panic; what parses re-parses to the
//! same normalised value (parsing is idempotent), whose key is its own key, and the UTS #39 checks
//! of a parsed login ID never panic.
#![no_main]
use account_recovery::domain::{
    casefold::nfkc_casefold,
    confusables::{LoginIdSkeleton, check_scripts},
    email::Email,
    login_id::LoginId,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(id) = LoginId::parse(input) {
        let again = LoginId::parse(id.as_str()).expect("a parsed login ID parses again");
        assert_eq!(again.normalized(), id.normalized());
        assert_eq!(nfkc_casefold(&id.normalized()), id.normalized());
        let _ = check_scripts(&id);
        let _ = LoginIdSkeleton::of(&id);
    }
    if let Ok(email) = Email::parse(input) {
        let again = Email::parse(email.as_str()).expect("a parsed e-mail parses again");
        assert_eq!(again.as_str(), email.as_str());
    }
});
