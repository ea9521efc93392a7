//! Who a SCIM request acts for: the site whose bearer token it carries. Tokens are compared as
//! SHA-256 digests in constant time, against every configured one, so neither the answer's
//! timing nor an early exit tells how much of a guess was right.
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{config::ScimSettings, domain::site::SiteId};

pub struct ScimAuth {
    /// Each site and the digest of its token (the token itself is not kept).
    sites: Vec<(SiteId, [u8; 32])>,
}

impl ScimAuth {
    pub fn new(settings: &ScimSettings) -> ScimAuth {
        ScimAuth {
            sites: settings
                .tokens
                .iter()
                .map(|(site, token)| (site.clone(), digest(token.expose_secret())))
                .collect(),
        }
    }

    /// The site of an `Authorization: Bearer <token>` value, if the token is one of ours.
    pub fn site_for(&self, authorization: Option<&str>) -> Option<SiteId> {
        let value = authorization?.trim();
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let presented = digest(token.trim());
        let mut found = None;
        for (site, expected) in &self.sites {
            if bool::from(presented.ct_eq(expected)) {
                found = Some(site.clone());
            }
        }
        found
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    #[test]
    fn each_token_acts_on_its_own_site_only() {
        let main = "m".repeat(40);
        let other = "o".repeat(40);
        let auth = ScimAuth::new(&ScimSettings {
            tokens: vec![
                (SiteId::parse("main").unwrap(), SecretString::from(main.clone())),
                (SiteId::parse("other").unwrap(), SecretString::from(other.clone())),
            ],
        });
        let site = |h: &str| auth.site_for(Some(h)).map(|s| s.as_str().to_owned());
        assert_eq!(site(&format!("Bearer {main}")).as_deref(), Some("main"));
        assert_eq!(site(&format!("bearer  {other}")).as_deref(), Some("other"));
        for refused in [
            format!("Basic {main}"),
            format!("Bearer {main}x"),
            format!("Bearer {}", &main[1..]),
            "Bearer".to_owned(),
            String::new(),
        ] {
            assert_eq!(site(&refused), None, "{refused}");
        }
        assert_eq!(auth.site_for(None), None);
    }
}
