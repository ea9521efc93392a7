//! UTS #39 for new login IDs: which scripts may mix in one, and the skeleton look-alikes share.
use sha2::{Digest, Sha256};
use unicode_script::{Script, UnicodeScript};
use unicode_security::{mixed_script::AugmentedScriptSet, skeleton};

use super::{keyed_hash::hex, login_id::LoginId};

/// Why a login ID may not be given to a new member, whatever the other members are called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeLoginId {
    #[error("the login ID mixes scripts ({})", .0.join(", "))]
    MixedScripts(Vec<&'static str>),
}

/// Refuses a key beyond UTS #39's Highly Restrictive level: one script (Common characters such as
/// digits and `. _ - @` go with any), or Latin with Han and Hiragana/Katakana, with Han and
/// Bopomofo, or with Han and Hangul (`kim홍99`). Latin with Cyrillic or Greek is refused: most
/// look-alike spoofs mix them. Judged on the key, so fullwidth Latin is Latin.
pub fn check_scripts(id: &LoginId) -> Result<(), UnsafeLoginId> {
    let key = id.normalized();
    if is_highly_restrictive(&key) {
        Ok(())
    } else {
        Err(UnsafeLoginId::MixedScripts(scripts_of(&key)))
    }
}

/// UTS #39 §5.2 on script sets alone. The standard's levels also require every character to be in
/// its identifier profile; that is not asked here, so IDs in Limited Use scripts (Cherokee, Adlam…)
/// stay possible, and their look-alikes are caught by the skeleton.
fn is_highly_restrictive(key: &str) -> bool {
    if !AugmentedScriptSet::for_str(key).is_empty() {
        return true;
    }
    let mut without_latin = AugmentedScriptSet::default();
    for c in key.chars() {
        let set = AugmentedScriptSet::for_char(c);
        if !set.base.contains_script(Script::Latin) {
            without_latin.intersect_with(set);
        }
    }
    without_latin.hanb || without_latin.jpan || without_latin.kore
}

/// The scripts of a key in order of appearance, Common and Inherited left out.
fn scripts_of(key: &str) -> Vec<&'static str> {
    let mut names = Vec::new();
    for c in key.chars() {
        let script = c.script();
        if matches!(script, Script::Common | Script::Inherited | Script::Unknown) {
            continue;
        }
        let name = script.full_name();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Equal for login IDs that look alike (`alice`, Cyrillic `аlice`, `ALICE`, `a1ice`): the SHA-256
/// (hex) of the UTS #39 skeleton of the key. A digest because a skeleton can be seven times as long
/// as its key; it is only ever compared for equality, and a login ID is no secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoginIdSkeleton(String);

impl LoginIdSkeleton {
    pub fn of(id: &LoginId) -> LoginIdSkeleton {
        let skeleton: String = skeleton(&id.normalized()).collect();
        let digest = Sha256::digest(skeleton.as_bytes());
        LoginIdSkeleton(hex(&digest))
    }

    /// The stored form (64 lowercase hex digits).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(raw: &str) -> LoginId {
        LoginId::parse(raw).unwrap()
    }

    #[test]
    fn scripts_table() {
        let allowed = [
            "alice",
            "kim.lee_01-x@example.com",
            "홍길동99",
            "kim홍",
            "홍길동_kim.99",
            "иван",
            "ελένη",
            "山田太郎",
            "やまだtaro",
            "ｋｉｍ홍",
            "mañana",
        ];
        for raw in allowed {
            assert_eq!(check_scripts(&id(raw)), Ok(()), "{raw}");
        }
        let refused = [
            ("аlice", vec!["Cyrillic", "Latin"]),
            ("alicе", vec!["Latin", "Cyrillic"]),
            ("pаypal99", vec!["Latin", "Cyrillic"]),
            ("αlice", vec!["Greek", "Latin"]),
            ("иванkim", vec!["Cyrillic", "Latin"]),
            ("홍иван", vec!["Hangul", "Cyrillic"]),
            ("abcกขค", vec!["Latin", "Thai"]),
        ];
        for (raw, scripts) in refused {
            assert_eq!(
                check_scripts(&id(raw)),
                Err(UnsafeLoginId::MixedScripts(scripts)),
                "{raw}"
            );
        }
        assert_eq!(
            check_scripts(&id("аlice")).unwrap_err().to_string(),
            "the login ID mixes scripts (Cyrillic, Latin)"
        );
    }

    #[test]
    fn look_alikes_share_a_skeleton() {
        let alice = LoginIdSkeleton::of(&id("alice"));
        for raw in ["аlice", "ALICE", "ａｌｉｃｅ", "a1ice", "alıce"] {
            assert_eq!(LoginIdSkeleton::of(&id(raw)), alice, "{raw}");
        }
        for raw in ["alicé", "alice2", "bob"] {
            assert_ne!(LoginIdSkeleton::of(&id(raw)), alice, "{raw}");
        }
        assert_eq!(
            LoginIdSkeleton::of(&id("rn.kim")),
            LoginIdSkeleton::of(&id("m.kim"))
        );
        assert_eq!(alice.as_str().len(), 64);
    }

    proptest! {
        #[test]
        fn never_panics(raw in any::<String>()) {
            if let Ok(id) = LoginId::parse(&raw) {
                let _ = check_scripts(&id);
                let _ = LoginIdSkeleton::of(&id);
            }
        }

        /// Where every character is in the identifier profile, the verdict is the crate's own.
        #[test]
        fn agrees_with_the_restriction_level_of_the_crate(raw in "[a-z0-9가-힣а-я一-龥ぁ-んα-ω]{1,12}") {
            use unicode_security::{GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection};
            let key = id(&raw).normalized();
            if key.chars().all(GeneralSecurityProfile::identifier_allowed) {
                let level = key.as_str().detect_restriction_level();
                prop_assert_eq!(is_highly_restrictive(&key), level <= RestrictionLevel::HighlyRestrictive);
            }
        }

        #[test]
        fn case_variants_share_a_skeleton(raw in "[a-zA-Z0-9]{1,50}") {
            prop_assert_eq!(
                LoginIdSkeleton::of(&id(&raw.to_uppercase())),
                LoginIdSkeleton::of(&id(&raw.to_lowercase()))
            );
        }
    }
}
