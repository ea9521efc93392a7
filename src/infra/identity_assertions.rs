//! Identity assertions on JOSE (`jsonwebtoken` with its pure-Rust RustCrypto backend): the trusted
//! public keys of a JWKS file (Ed25519 and P-256 only), the signature check, and the development
//! signing key behind `account-recovery identity-assertion`.
use std::{collections::HashMap, path::Path};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation,
    errors::ErrorKind,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm},
};

use crate::{
    config::DEVELOPMENT_ISSUER,
    domain::identity_assertion::{AssertionClaims, AssertionRefusal},
    recovery::ports::IdentityVerifier,
};

/// The `typ` every assertion carries, so no other kind of JWT signed by the same key passes.
pub const ASSERTION_TYPE: &str = "idv+jwt";
/// The key id of the development key.
pub const DEVELOPMENT_KID: &str = "account-recovery-dev";

/// Why a JWKS or key file cannot be used; stops the start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyFileError(String);

/// The trusted keys by `kid`, each with the one algorithm it may verify.
pub struct JwksVerifier {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
}

impl JwksVerifier {
    /// Reads a JWKS file once; any key that is not an Ed25519 or P-256 public key with a `kid`
    /// is an error (a key the service would silently skip is a misconfiguration).
    pub fn load(path: &Path) -> Result<Self, KeyFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| KeyFileError(format!("reading {}: {e}", path.display())))?;
        Self::from_json(&text).map_err(|KeyFileError(e)| KeyFileError(format!("{}: {e}", path.display())))
    }

    pub fn from_json(text: &str) -> Result<Self, KeyFileError> {
        let set: JwkSet =
            serde_json::from_str(text).map_err(|e| KeyFileError(format!("not a JWKS ({e})")))?;
        if set.keys.is_empty() {
            return Err(KeyFileError("the JWKS has no keys".into()));
        }
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let kid = jwk
                .common
                .key_id
                .clone()
                .filter(|k| !k.is_empty())
                .ok_or_else(|| KeyFileError("a key has no kid".into()))?;
            let entry = trusted_key(jwk).map_err(|e| KeyFileError(format!("key {kid:?}: {e}")))?;
            if keys.insert(kid.clone(), entry).is_some() {
                return Err(KeyFileError(format!("kid {kid:?} appears twice")));
            }
        }
        Ok(JwksVerifier { keys })
    }
}

/// An Ed25519 (EdDSA) or P-256 (ES256) public key; nothing else is ever trusted.
fn trusted_key(jwk: &Jwk) -> Result<(DecodingKey, Algorithm), String> {
    let length = |b64: &str| URL_SAFE_NO_PAD.decode(b64).map(|b| b.len()).unwrap_or(0);
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 && length(&p.x) == 32 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::EllipticCurve(p)
            if p.curve == EllipticCurve::P256 && length(&p.x) == 32 && length(&p.y) == 32 =>
        {
            Algorithm::ES256
        }
        _ => return Err("only Ed25519 (OKP) and P-256 (EC) public keys are accepted".into()),
    };
    let declared = match jwk.common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(_) => return Err("alg must be EdDSA or ES256".into()),
    };
    if declared.is_some_and(|d| d != algorithm) {
        return Err("alg does not fit the key".into());
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unreadable key ({e})"))?;
    Ok((key, algorithm))
}

impl IdentityVerifier for JwksVerifier {
    fn verified_claims(&self, compact: &str) -> Result<AssertionClaims, AssertionRefusal> {
        // `alg: none` and unknown algorithms fail here: they are not `Algorithm`s.
        let header = jsonwebtoken::decode_header(compact).map_err(|_| AssertionRefusal::Malformed)?;
        if header.typ.as_deref() != Some(ASSERTION_TYPE) {
            return Err(AssertionRefusal::Malformed);
        }
        // A key or key location carried by the token itself is never honoured: refuse the token.
        if header.jwk.is_some() || header.jku.is_some() || header.x5u.is_some() || header.x5c.is_some() {
            return Err(AssertionRefusal::Malformed);
        }
        let kid = header.kid.as_deref().ok_or(AssertionRefusal::UnknownKey)?;
        let (key, algorithm) = self.keys.get(kid).ok_or(AssertionRefusal::UnknownKey)?;
        // The key decides the algorithm: an HMAC or other `alg` never reaches a verifier.
        if header.alg != *algorithm {
            return Err(AssertionRefusal::Malformed);
        }
        let mut validation = Validation::new(*algorithm);
        // The claims' rules run against the request's clock in the domain, not here.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        jsonwebtoken::decode::<AssertionClaims>(compact, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => AssertionRefusal::BadSignature,
                _ => AssertionRefusal::Malformed,
            })
    }
}

/// What a development assertion says. Not `Debug`: it holds a `ci`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DevelopmentAssertion {
    pub ci: String,
    pub purpose: String,
    pub join_type: Option<String>,
    pub site: Option<String>,
}

/// The development signing key (Ed25519), kept in a file made on first use.
pub struct DevelopmentKey {
    seed: [u8; 32],
}

impl DevelopmentKey {
    /// Reads the key file, or makes it (readable by its owner only) when it does not exist. Made
    /// under another name and linked into place, so processes starting together agree on one key.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyFileError> {
        let problem = |e: std::io::Error| KeyFileError(format!("development key {}: {e}", path.display()));
        if !path.exists() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(problem)?;
            }
            let mut seed = [0u8; 32];
            rand::fill(&mut seed);
            let draft = path.with_extension(format!("new-{}", uuid::Uuid::new_v4().simple()));
            write_private(&draft, &URL_SAFE_NO_PAD.encode(seed)).map_err(problem)?;
            let linked = std::fs::hard_link(&draft, path);
            let _ = std::fs::remove_file(&draft);
            match linked {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(problem(e)),
            }
        }
        let text = std::fs::read_to_string(path).map_err(problem)?;
        let seed = URL_SAFE_NO_PAD
            .decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| KeyFileError(format!("development key {}: not a 32-byte key", path.display())))?;
        Ok(DevelopmentKey { seed })
    }

    /// The public half as a one-key JWKS.
    pub fn jwks(&self) -> String {
        let public = ed25519_dalek::SigningKey::from_bytes(&self.seed)
            .verifying_key()
            .to_bytes();
        serde_json::json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
            "kid": DEVELOPMENT_KID, "x": URL_SAFE_NO_PAD.encode(public),
        }]})
        .to_string()
    }

    /// A verifier that trusts this key only.
    pub fn verifier(&self) -> Result<JwksVerifier, KeyFileError> {
        JwksVerifier::from_json(&self.jwks())
    }

    /// A development assertion for `request`, as a host's back end signs one after its identity
    /// check: issued `now`, living `ttl_secs`, with a fresh `jti`.
    pub fn assertion(
        &self,
        audience: &str,
        request: &DevelopmentAssertion,
        ttl_secs: i64,
        now: i64,
    ) -> Result<String, KeyFileError> {
        if !matches!(request.purpose.as_str(), "find_id" | "reset_password") {
            return Err(KeyFileError("purpose must be find_id or reset_password".into()));
        }
        let mut claims = serde_json::json!({
            "iss": DEVELOPMENT_ISSUER,
            "aud": audience,
            "iat": now,
            "exp": now + ttl_secs,
            "jti": uuid::Uuid::new_v4().to_string(),
            "purpose": request.purpose,
            "ci": request.ci,
        });
        if let Some(join_type) = &request.join_type {
            claims["join_type"] = join_type.to_uppercase().into();
        }
        if let Some(site) = &request.site {
            claims["site"] = site.as_str().into();
        }
        self.sign(&claims)
    }

    /// Signs `claims` as an identity assertion.
    pub fn sign(&self, claims: &serde_json::Value) -> Result<String, KeyFileError> {
        // PKCS#8 v1 of an Ed25519 private key: a fixed prefix, then the 32-byte seed.
        let mut der = pkcs8_prefix();
        der.extend_from_slice(&self.seed);
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ASSERTION_TYPE.into());
        header.kid = Some(DEVELOPMENT_KID.into());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&der))
            .map_err(|e| KeyFileError(format!("signing: {e}")))
    }
}

fn pkcs8_prefix() -> Vec<u8> {
    vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ]
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev_key() -> DevelopmentKey {
        DevelopmentKey { seed: [7u8; 32] }
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({"iss": "i", "aud": "a", "iat": 1, "exp": 2, "jti": "j", "ci": "CI"})
    }

    #[test]
    fn the_development_key_signs_what_its_jwks_verifies() {
        let key = dev_key();
        let token = key.sign(&claims()).unwrap();
        let claims = key.verifier().unwrap().verified_claims(&token).unwrap();
        assert_eq!(claims.jti.as_deref(), Some("j"));
        let other = DevelopmentKey { seed: [8u8; 32] };
        assert_eq!(
            other.verifier().unwrap().verified_claims(&token).err(),
            Some(AssertionRefusal::BadSignature)
        );
    }

    #[test]
    fn only_ed25519_and_p256_public_keys_are_trusted() {
        let hmac = r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#;
        assert!(JwksVerifier::from_json(hmac).is_err());
        let short = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"s","x":"AAAA"}]}"#;
        assert!(JwksVerifier::from_json(short).is_err());
        assert!(JwksVerifier::from_json(r#"{"keys":[]}"#).is_err());
        assert!(JwksVerifier::from_json("not json").is_err());
        let no_kid = dev_key().jwks().replace("\"kid\"", "\"nokid\"");
        assert!(JwksVerifier::from_json(&no_kid).is_err());
    }
}
