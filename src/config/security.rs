//! Keys and limits: `SECRET_KEYS` (the keyring, `id:secret,…`, the first current) or `SECRET_KEY`
//! (one key, id `legacy`), each secret at least 32 characters (keys every stored hash of a code,
//! identity or identifier, and seals outbox mail), `RATE_LIMITS` (overrides such as
//! `signIn.client=30/600,findId.id=5/60`: count per window in seconds, 0 turns a limit off) and
//! `POW_DIFFICULTY` (zero bits of the proof of work past a target's limit, 0–32; 0 turns the
//! challenges off).
use secrecy::{ExposeSecret, SecretString};

use crate::{
    domain::keyring::{KeyId, Keyring, parse_ring},
    recovery::rate_limits::{DEFAULT_POW_DIFFICULTY, RateLimitTable},
};

use super::vars::{SettingsError, Vars};

/// The development key used when SECRET_KEY is unset. `serve` warns loudly when it is in use.
pub const DEVELOPMENT_SECRET_KEY: &str = "insecure-development-key-change-me";

/// The shortest secret accepted in either variable.
const MIN_SECRET_LEN: usize = 32;

#[derive(Clone)]
pub struct SecuritySettings {
    /// The ring's keys in order, the first current. Never printed.
    pub secret_keys: Vec<(KeyId, SecretString)>,
    pub rate_limits: RateLimitTable,
}

/// Reads `SECRET_KEYS` or `SECRET_KEY` (not both). Errors name the key id, never a secret.
fn secret_keys(vars: &Vars, production: bool) -> Result<Vec<(KeyId, SecretString)>, SettingsError> {
    let ring = vars.var("SECRET_KEYS");
    let single = vars.var("SECRET_KEY");
    let (name, keys) = match (ring, single) {
        (Some(_), Some(_)) => {
            return Err(SettingsError::new(
                "SECRET_KEYS",
                "set SECRET_KEYS or SECRET_KEY, not both (SECRET_KEY alone is the key `legacy`)",
            ));
        }
        (Some(ring), None) => (
            "SECRET_KEYS",
            parse_ring(&ring).map_err(|e| SettingsError::new("SECRET_KEYS", e.to_string()))?,
        ),
        (None, single) => {
            if production && single.is_none() {
                return Err(SettingsError::new(
                    "SECRET_KEY",
                    "must be set when PRODUCTION=true",
                ));
            }
            let secret = single.unwrap_or_else(|| DEVELOPMENT_SECRET_KEY.to_owned());
            ("SECRET_KEY", vec![(KeyId::legacy(), secret)])
        }
    };
    for (id, secret) in &keys {
        if secret.len() < MIN_SECRET_LEN {
            let problem = format!("the secret of key {id} must be at least {MIN_SECRET_LEN} characters");
            return Err(SettingsError::new(name, problem));
        }
        if production && secret == DEVELOPMENT_SECRET_KEY {
            return Err(SettingsError::new(
                name,
                "the development key is refused when PRODUCTION=true",
            ));
        }
    }
    // Duplicate ids are refused here, at start, rather than when the ring is built.
    Keyring::new(
        keys.iter()
            .map(|(id, s)| (id.clone(), s.as_bytes().to_vec()))
            .collect(),
    )
    .map_err(|e| SettingsError::new(name, e.to_string()))?;
    Ok(keys.into_iter().map(|(id, s)| (id, s.into())).collect())
}

impl SecuritySettings {
    pub fn from_vars(vars: &Vars, production: bool) -> Result<Self, SettingsError> {
        let secret_keys = secret_keys(vars, production)?;
        let mut rate_limits = RateLimitTable::default()
            .with_overrides(&vars.text("RATE_LIMITS", ""))
            .map_err(|e| SettingsError::new("RATE_LIMITS", e.to_string()))?;
        rate_limits.pow_difficulty = vars.parsed("POW_DIFFICULTY", DEFAULT_POW_DIFFICULTY)?;
        if rate_limits.pow_difficulty > 32 {
            // 2^32 hashes is hours on a phone: a lock by another name.
            return Err(SettingsError::new("POW_DIFFICULTY", "must be at most 32"));
        }
        Ok(SecuritySettings {
            secret_keys,
            rate_limits,
        })
    }

    /// The keyring every keyed hash and seal is made with.
    pub fn keyring(&self) -> Keyring {
        Keyring::new(
            self.secret_keys
                .iter()
                .map(|(id, s)| (id.clone(), s.expose_secret().as_bytes().to_vec()))
                .collect(),
        )
        .expect("checked when the settings were read")
    }

    pub fn uses_development_key(&self) -> bool {
        self.secret_keys
            .iter()
            .any(|(_, s)| s.expose_secret() == DEVELOPMENT_SECRET_KEY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)], production: bool) -> Result<SecuritySettings, SettingsError> {
        let get = |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string());
        SecuritySettings::from_vars(&Vars::new(&get), production)
    }

    const A: &str = "secret-a-0123456789abcdef0123456789";
    const B: &str = "secret-b-0123456789abcdef0123456789";

    #[test]
    fn secret_key_alone_is_the_key_legacy() {
        let s = read(&[("SECRET_KEY", A)], true).unwrap();
        assert_eq!(
            s.keyring().ids().map(KeyId::as_str).collect::<Vec<_>>(),
            ["legacy"]
        );
        assert!(s.keyring().opens_pre_keyring());
    }

    #[test]
    fn secret_keys_is_a_ring_with_the_first_current() {
        let ring = format!("b:{B},legacy:{A}");
        let s = read(&[("SECRET_KEYS", &ring)], true).unwrap();
        let keyring = s.keyring();
        assert_eq!(
            keyring.ids().map(KeyId::as_str).collect::<Vec<_>>(),
            ["b", "legacy"]
        );
        assert_eq!(keyring.current().key_id().map(KeyId::as_str), Some("b"));
    }

    #[test]
    fn bad_rings_are_refused_without_showing_a_secret() {
        let both = read(&[("SECRET_KEYS", &format!("a:{A}")), ("SECRET_KEY", B)], false);
        assert_eq!(both.err().expect("refused").name, "SECRET_KEYS");
        for bad in [
            format!("a:{A},b:short"),
            format!("a:{A},a:{B}"),
            format!("A:{A}"),
            A.to_owned(),
            format!("a:{DEVELOPMENT_SECRET_KEY}"),
        ] {
            let err = read(&[("SECRET_KEYS", &bad)], true).err().expect("refused");
            assert_eq!(err.name, "SECRET_KEYS", "{bad}");
            assert!(!err.to_string().contains("secret-"), "{err}");
        }
        assert_eq!(read(&[], true).err().expect("refused").name, "SECRET_KEY");
        assert!(read(&[], false).unwrap().uses_development_key());
    }
}
