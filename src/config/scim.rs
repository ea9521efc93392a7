//! SCIM provisioning: `SCIM_TOKENS` (`site:token,…`; each bearer token acts on its one site). Unset,
//! `/scim/v2` does not exist.
use secrecy::SecretString;

use crate::domain::site::SiteId;

use super::vars::{SettingsError, Vars};

/// A token is a site's full control over its members: long enough that guessing is hopeless.
const MIN_TOKEN_CHARS: usize = 32;

#[derive(Clone, Default)]
pub struct ScimSettings {
    /// Each site and the bearer token that acts on it; empty: SCIM is off.
    pub tokens: Vec<(SiteId, SecretString)>,
}

impl std::fmt::Debug for ScimSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sites: Vec<&str> = self.tokens.iter().map(|(s, _)| s.as_str()).collect();
        f.debug_struct("ScimSettings").field("sites", &sites).finish()
    }
}

impl ScimSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, SettingsError> {
        let mut tokens: Vec<(SiteId, SecretString)> = Vec::new();
        for item in vars.list("SCIM_TOKENS") {
            // Never the item itself in the error: it holds a token.
            let (site, token) = item
                .split_once(':')
                .ok_or_else(|| SettingsError::new("SCIM_TOKENS", "each entry is site:token"))?;
            let site = SiteId::parse(site.trim())
                .map_err(|e| SettingsError::new("SCIM_TOKENS", format!("a site code: {e}")))?;
            let token = token.trim();
            if token.chars().count() < MIN_TOKEN_CHARS || token.chars().any(char::is_whitespace) {
                return Err(SettingsError::new(
                    "SCIM_TOKENS",
                    format!(
                        "the token of site {site} must be at least {MIN_TOKEN_CHARS} characters, no spaces"
                    ),
                ));
            }
            if tokens.iter().any(|(s, _)| *s == site) {
                return Err(SettingsError::new(
                    "SCIM_TOKENS",
                    format!("site {site} is named twice"),
                ));
            }
            tokens.push((site, SecretString::from(token.to_owned())));
        }
        Ok(ScimSettings { tokens })
    }

    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn parse(value: &str) -> Result<ScimSettings, SettingsError> {
        let vars: HashMap<String, String> = HashMap::from([("SCIM_TOKENS".into(), value.into())]);
        let get = |k: &str| vars.get(k).cloned();
        ScimSettings::from_vars(&Vars::new(&get))
    }

    #[test]
    fn tokens_per_site_and_refusals_that_never_echo_a_token() {
        let long = "t".repeat(32);
        let s = parse(&format!("main:{long}, Other:{long}x")).unwrap();
        let sites: Vec<&str> = s.tokens.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(sites, ["main", "other"]);
        assert_eq!(s.tokens[1].1.expose_secret(), format!("{long}x"));
        assert!(!format!("{s:?}").contains(&long));
        assert!(!parse("").unwrap().enabled());
        for bad in [
            "main".to_owned(),
            "main:short-token-0123".to_owned(),
            format!("no site:{long}"),
            format!("main:{long},main:{long}y"),
        ] {
            let e = parse(&bad).unwrap_err();
            assert_eq!(e.name, "SCIM_TOKENS");
            assert!(
                !e.problem.contains("short-token") && !e.problem.contains(&long),
                "{e}"
            );
        }
    }
}
