//! Which site a request is about, and that site's password policy (kept in process for a few
//! seconds: it is read on every reset, sign-in and `passwordPolicy`, and changes rarely).
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::{
    domain::{password_policy::PasswordPolicy, site::SiteId},
    recovery::{errors::RecoveryError, ports::SiteDirectory},
};

/// How long an instance keeps a site's policy: a policy changed in the database (by any
/// instance) applies everywhere within this.
pub const POLICY_CACHE_TTL: Duration = Duration::from_secs(10);

/// Sites remembered at most (unknown site codes are remembered too, with the default policy, so
/// the cache is bounded against callers inventing codes).
const POLICY_CACHE_SITES: usize = 1024;

type PolicyCache = HashMap<SiteId, (Instant, PasswordPolicy)>;

#[derive(Clone)]
pub struct SitePolicies {
    store: Arc<dyn SiteDirectory>,
    default_site: SiteId,
    default_policy: PasswordPolicy,
    cache: Arc<Mutex<PolicyCache>>,
    ttl: Duration,
}

impl SitePolicies {
    pub fn new(store: Arc<dyn SiteDirectory>, default_site: SiteId, default_policy: PasswordPolicy) -> Self {
        SitePolicies {
            store,
            default_site,
            default_policy,
            cache: Arc::default(),
            ttl: POLICY_CACHE_TTL,
        }
    }

    fn cached(&self, site: &SiteId, now: Instant) -> Option<PasswordPolicy> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(site)
            .filter(|(at, _)| now.duration_since(*at) < self.ttl)
            .map(|(_, policy)| policy.clone())
    }

    fn remember(&self, site: &SiteId, policy: &PasswordPolicy, now: Instant) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= POLICY_CACHE_SITES {
            cache.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
            if cache.len() >= POLICY_CACHE_SITES {
                cache.clear();
            }
        }
        cache.insert(site.clone(), (now, policy.clone()));
    }

    /// The site named by the request, or the configured default when it names none.
    pub fn site_or_default(&self, site: Option<SiteId>) -> SiteId {
        site.unwrap_or_else(|| self.default_site.clone())
    }

    /// The site's own policy when it has one, else the configured default. An unknown site gets
    /// the default too, so the answer does not reveal which site codes exist.
    /// Read from the database at most once per site every [`POLICY_CACHE_TTL`].
    pub async fn policy_for(&self, site: &SiteId) -> Result<PasswordPolicy, RecoveryError> {
        if let Some(policy) = self.cached(site, Instant::now()) {
            return Ok(policy);
        }
        let policy = self
            .store
            .find_site(site)
            .await?
            .and_then(|s| s.password_policy)
            .unwrap_or_else(|| self.default_policy.clone());
        self.remember(site, &policy, Instant::now());
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::{domain::site::Site, recovery::ports::StoreError};

    /// A site directory counting its reads; `min_length` is what it answers.
    struct Sites {
        reads: AtomicUsize,
        min_length: Mutex<usize>,
    }

    #[async_trait]
    impl SiteDirectory for Sites {
        async fn find_site(&self, site: &SiteId) -> Result<Option<Site>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let min_length = *self.min_length.lock().unwrap();
            Ok((site.as_str() == "main").then(|| Site {
                id: site.clone(),
                name: "Main".into(),
                password_policy: Some(PasswordPolicy {
                    min_length,
                    ..PasswordPolicy::default()
                }),
            }))
        }
    }

    #[tokio::test]
    async fn a_policy_is_read_once_per_ttl_and_a_change_shows_after_it() {
        let store = Arc::new(Sites {
            reads: AtomicUsize::new(0),
            min_length: Mutex::new(10),
        });
        let main = SiteId::parse("main").unwrap();
        let mut policies = SitePolicies::new(store.clone(), main.clone(), PasswordPolicy::default());
        policies.ttl = Duration::from_millis(200);
        for _ in 0..5 {
            assert_eq!(policies.policy_for(&main).await.unwrap().min_length, 10);
        }
        assert_eq!(store.reads.load(Ordering::SeqCst), 1);
        // Unknown sites get the default, cached too.
        let nowhere = SiteId::parse("nowhere").unwrap();
        for _ in 0..3 {
            assert_eq!(
                policies.policy_for(&nowhere).await.unwrap(),
                PasswordPolicy::default()
            );
        }
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
        // Another instance changes the policy: seen once the TTL has passed.
        *store.min_length.lock().unwrap() = 12;
        assert_eq!(policies.policy_for(&main).await.unwrap().min_length, 10);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(policies.policy_for(&main).await.unwrap().min_length, 12);
        assert_eq!(store.reads.load(Ordering::SeqCst), 3);
    }
}
