//! Fuzzes stored-hash recognition (argon2 PHC strings, legacy bcrypt): any text, never a panic.
#![no_main]
use std::sync::LazyLock;

use account_recovery::{
    infra::hasher::{Argon2Hasher, Argon2Settings}, recovery::ports::PasswordHasher as _,
};
use libfuzzer_sys::fuzz_target;

static HASHER: LazyLock<Argon2Hasher> =
    LazyLock::new(|| Argon2Hasher::new(Argon2Settings::default(), 1).expect("default argon2 settings"));

fuzz_target!(|input: &str| {
    let _ = HASHER.is_supported_hash(input);
});
