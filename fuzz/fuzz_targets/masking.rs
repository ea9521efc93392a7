//! Fuzzes masking: any text, never a panic; a masked login ID keeps its length in characters
//! and reveals at most four of them.
#![no_main]
use account_recovery::domain::masking::{mask_email, mask_login_id};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let masked = mask_login_id(input);
    assert_eq!(masked.chars().count(), input.chars().count());
    let shown = masked.chars().zip(input.chars()).filter(|(m, i)| m == i && *m != '*').count();
    assert!(shown <= 4, "{shown} characters shown");
    let _ = mask_email(input);
});
