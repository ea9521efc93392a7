//! The use cases of account recovery and the ports (traits) they need from the outside world.
pub mod errors;
pub mod find_id;
pub mod members;
pub mod ports;
pub mod site_policy;

use std::sync::Arc;

use crate::{
    domain::{keyed_hash::KeyedHasher, password_policy::PasswordPolicy, site::SiteId},
    recovery::{
        find_id::FindId,
        members::MemberAdmin,
        ports::{MemberStore, PasswordHasher},
        site_policy::SitePolicies,
    },
};

/// Every use case, wired to its ports once at start; cheap to clone into each request.
#[derive(Clone)]
pub struct Recovery {
    pub find_id: FindId,
    pub policies: SitePolicies,
    pub members: MemberAdmin,
    pub store: Arc<dyn MemberStore>,
}

impl Recovery {
    pub fn new(
        store: Arc<dyn MemberStore>,
        hasher: Arc<dyn PasswordHasher>,
        keys: KeyedHasher,
        default_site: SiteId,
        default_policy: PasswordPolicy,
    ) -> Self {
        Recovery {
            find_id: FindId::new(store.clone(), keys.clone()),
            policies: SitePolicies::new(store.clone(), default_site.clone(), default_policy.clone()),
            members: MemberAdmin::new(store.clone(), hasher, keys, default_site, default_policy),
            store,
        }
    }
}
