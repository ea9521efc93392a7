//! Identity proofs: `IDENTITY_RAW_CI` (accept raw `ci` values; on by default outside production,
//! and a production start with it on is refused), `IDENTITY_ASSERTION_JWKS` (a JWKS file of the
//! public keys that sign identity assertions, read once at start), `IDENTITY_ASSERTION_ISSUERS`
//! (comma list of trusted `iss`), `IDENTITY_ASSERTION_AUDIENCE` (the `aud` expected, default
//! `account-recovery`), `IDENTITY_DEV_KEY_FILE` (the development signing key, made on first use, by
//! default `$XDG_DATA_HOME` or `~/.local/share` + `account-recovery/identity-dev.key`, so the
//! service and the `identity-assertion` command agree without setup; trusted only outside
//! production and only when `IDENTITY_ASSERTION_JWKS` is unset). PortOne V2: `PORTONE_API_SECRET`
//! (turns the `portoneIdentity` path on), `PORTONE_STORE_ID` (required with it),
//! `PORTONE_API_URL` (default `https://api.portone.io`), `PORTONE_TIMEOUT_MS` (default 3000).
use std::{path::PathBuf, time::Duration};

use secrecy::SecretString;

use super::vars::{SettingsError, Vars};

/// The issuer the development signer writes; trusted only with the development key.
pub const DEVELOPMENT_ISSUER: &str = "account-recovery-dev";

#[derive(Debug, Clone)]
pub struct IdentitySettings {
    pub raw_ci: bool,
    pub jwks_file: Option<PathBuf>,
    pub issuers: Vec<String>,
    pub audience: String,
    /// `None` without a data folder (no `HOME`) and no `IDENTITY_DEV_KEY_FILE`: no development key.
    pub dev_key_file: Option<PathBuf>,
    /// Whether the development key stands in for a JWKS (not production, no JWKS given).
    pub trust_dev_key: bool,
    /// PortOne's API, where the service reads identity verifications (`None`: every PortOne id is
    /// refused).
    pub portone: Option<PortoneSettings>,
}

#[derive(Debug, Clone)]
pub struct PortoneSettings {
    pub api_url: url::Url,
    pub secret: SecretString,
    pub store_id: String,
    /// The whole read, connection included; past it the call answers `SERVICE_UNAVAILABLE`.
    pub timeout: Duration,
}

impl PortoneSettings {
    fn from_vars(vars: &Vars) -> Result<Option<Self>, SettingsError> {
        let Some(secret) = vars.var("PORTONE_API_SECRET") else {
            return Ok(None);
        };
        let store_id = vars
            .var("PORTONE_STORE_ID")
            .ok_or_else(|| SettingsError::new("PORTONE_STORE_ID", "is required with PORTONE_API_SECRET"))?;
        let api_url: url::Url = vars.parsed(
            "PORTONE_API_URL",
            url::Url::parse("https://api.portone.io").expect("a URL"),
        )?;
        if !matches!(api_url.scheme(), "https" | "http") || api_url.cannot_be_a_base() {
            return Err(SettingsError::new("PORTONE_API_URL", "must be an http(s) URL"));
        }
        Ok(Some(PortoneSettings {
            api_url,
            secret: secret.into(),
            store_id,
            timeout: vars.millis_above_zero("PORTONE_TIMEOUT_MS", 3000)?,
        }))
    }
}

impl IdentitySettings {
    pub fn from_vars(vars: &Vars, production: bool) -> Result<Self, SettingsError> {
        let jwks_file: Option<PathBuf> = vars.parsed_opt("IDENTITY_ASSERTION_JWKS")?;
        let issuers = vars.list("IDENTITY_ASSERTION_ISSUERS");
        if jwks_file.is_some() && issuers.is_empty() {
            return Err(SettingsError::new(
                "IDENTITY_ASSERTION_ISSUERS",
                "must name at least one issuer when IDENTITY_ASSERTION_JWKS is set",
            ));
        }
        Ok(IdentitySettings {
            raw_ci: vars.parsed("IDENTITY_RAW_CI", !production)?,
            trust_dev_key: !production && jwks_file.is_none(),
            portone: PortoneSettings::from_vars(vars)?,
            jwks_file,
            issuers,
            audience: vars.text("IDENTITY_ASSERTION_AUDIENCE", "account-recovery"),
            dev_key_file: vars
                .parsed_opt("IDENTITY_DEV_KEY_FILE")?
                .or_else(|| default_dev_key_file(vars)),
        })
    }
}

/// In the user's data folder, so the key never lands in a clone or a shared temp folder.
fn default_dev_key_file(vars: &Vars) -> Option<PathBuf> {
    let data = vars.var("XDG_DATA_HOME").map(PathBuf::from).or_else(|| {
        vars.var("HOME")
            .map(|home| PathBuf::from(home).join(".local/share"))
    })?;
    Some(data.join("account-recovery").join("identity-dev.key"))
}
