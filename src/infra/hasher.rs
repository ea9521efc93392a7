//! Password hashing: argon2id PHC strings with configured parameters, legacy bcrypt verification,
//! all on the blocking pool behind a semaphore so light queries stay fast under hashing load.
use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier, Version};
use async_trait::async_trait;
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::{
    config::Argon2Settings,
    domain::{member::StoredHash, password::Password},
    recovery::ports::{HashError, PasswordHasher, Verification},
};

pub struct Argon2Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified for unknown accounts so timing reveals nothing.
    dummy: StoredHash,
}

impl Argon2Hasher {
    pub fn new(settings: Argon2Settings, concurrency: usize) -> Result<Self, HashError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| HashError::Internal(format!("argon2 parameters: {e}")))?;
        let mut random = [0u8; 32];
        rand::fill(&mut random);
        let dummy = hash_blocking(&params, &random)?;
        Ok(Argon2Hasher {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy,
        })
    }

    /// Runs CPU-heavy work on the blocking pool, at most `concurrency` at a time, keeping the span.
    async fn offload<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        // Requests waiting for a hashing slot: the "hashing queue depth" of /metrics.
        metrics::gauge!("password_hash_waiting").increment(1.0);
        let permit = self.permits.acquire().await;
        metrics::gauge!("password_hash_waiting").decrement(1.0);
        let _permit = permit.map_err(|_| HashError::Internal("hasher closed".into()))?;
        metrics::counter!("password_hash_total").increment(1);
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .instrument(tracing::Span::current())
            .await
            .map_err(|e| HashError::Internal(format!("hashing task failed: {e}")))
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<StoredHash, HashError> {
    argon2(params)
        .hash_password(password)
        .map(|h| StoredHash(h.to_string()))
        .map_err(|e| HashError::Internal(format!("argon2: {e}")))
}

fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| stored.starts_with(p)) && stored.len() == 60
}

fn verify_blocking(params: &Params, password: &[u8], stored: &str) -> Result<Verification, HashError> {
    if is_bcrypt(stored) {
        let matches = bcrypt::verify(password, stored).map_err(|_| HashError::UnsupportedHash)?;
        return Ok(Verification {
            matches,
            needs_rehash: true,
        });
    }
    let parsed = PasswordHash::new(stored).map_err(|_| HashError::UnsupportedHash)?;
    let current = Params::try_from(&parsed).map_err(|_| HashError::UnsupportedHash)?;
    let needs_rehash = parsed.algorithm.as_str() != "argon2id"
        || current.m_cost() < params.m_cost()
        || current.t_cost() < params.t_cost()
        || current.p_cost() != params.p_cost();
    let matches = argon2(params).verify_password(password, &parsed).is_ok();
    Ok(Verification {
        matches,
        needs_rehash,
    })
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<StoredHash, HashError> {
        let params = self.params.clone();
        let password = password.expose().as_bytes().to_vec();
        self.offload(move || hash_blocking(&params, &password)).await?
    }

    async fn verify(&self, password: &Password, stored: &StoredHash) -> Result<Verification, HashError> {
        let params = self.params.clone();
        let password = password.expose().as_bytes().to_vec();
        let stored = stored.0.clone();
        self.offload(move || verify_blocking(&params, &password, &stored))
            .await?
    }

    async fn verify_dummy(&self, password: &Password) {
        let _ = self.verify(password, &self.dummy.clone()).await;
    }

    fn is_supported_hash(&self, stored: &str) -> bool {
        if is_bcrypt(stored) {
            return stored.parse::<bcrypt::HashParts>().is_ok();
        }
        PasswordHash::new(stored)
            .ok()
            .is_some_and(|h| h.algorithm.as_str().starts_with("argon2") && Params::try_from(&h).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(memory_kib: u32) -> Argon2Hasher {
        Argon2Hasher::new(
            Argon2Settings {
                memory_kib,
                iterations: 1,
                parallelism: 1,
            },
            2,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn argon2id_round_trip() {
        let h = hasher(1024);
        let stored = h.hash(&"Correct-Horse-9".into()).await.unwrap();
        assert!(stored.0.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(h.is_supported_hash(&stored.0));
        let ok = h.verify(&"Correct-Horse-9".into(), &stored).await.unwrap();
        assert_eq!(
            ok,
            Verification {
                matches: true,
                needs_rehash: false
            }
        );
        assert!(
            !h.verify(&"correct-horse-9".into(), &stored)
                .await
                .unwrap()
                .matches
        );
    }

    #[tokio::test]
    async fn weaker_parameters_ask_for_a_rehash() {
        let weak = hasher(1024).hash(&"Correct-Horse-9".into()).await.unwrap();
        let strong = hasher(2048);
        let v = strong.verify(&"Correct-Horse-9".into(), &weak).await.unwrap();
        assert!(v.matches && v.needs_rehash);
    }

    #[tokio::test]
    async fn bcrypt_hashes_verify_and_ask_for_a_rehash() {
        let legacy = bcrypt::hash("Legacy-Pass-42", 4).unwrap();
        let legacy = legacy.replacen("$2y$", "$2b$", 1);
        let h = hasher(1024);
        assert!(h.is_supported_hash(&legacy));
        let v = h
            .verify(&"Legacy-Pass-42".into(), &StoredHash(legacy.clone()))
            .await
            .unwrap();
        assert!(v.matches && v.needs_rehash);
        assert!(
            !h.verify(&"wrong".into(), &StoredHash(legacy))
                .await
                .unwrap()
                .matches
        );
    }

    #[tokio::test]
    async fn unknown_formats_are_refused() {
        let h = hasher(1024);
        for bad in ["", "plain", "$1$md5$abc", "$2b$too-short", "$argon2id$garbage"] {
            assert!(!h.is_supported_hash(bad), "{bad:?}");
        }
        assert!(matches!(
            h.verify(&"x".into(), &StoredHash("plain".into())).await,
            Err(HashError::UnsupportedHash)
        ));
    }
}
