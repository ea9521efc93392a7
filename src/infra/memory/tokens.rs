//! `TokenStore` in process: grants, code attempts, burnt-grant markers, cooldowns and token routes.
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use chrono::Utc;
use subtle::ConstantTimeEq;

use super::{Expiring, MemoryStore};
use crate::{
    domain::grant::{
        AttemptLimits, CodeCheck, CodeHash, GrantInfo, GrantOwner, GrantProof, GrantPurpose, IssueOutcome,
        NewGrant, TokenHash,
    },
    recovery::ports::{StoreError, TokenStore},
};

struct Grant {
    id: String,
    purpose: GrantPurpose,
    token: TokenHash,
    code: Option<CodeHash>,
    attempts: u32,
    expires: Instant,
    expires_at: chrono::DateTime<Utc>,
}

#[derive(Default)]
struct OwnerState {
    grant: Option<Grant>,
    cooldown_until: Option<Instant>,
    failures: u32,
    failures_reset: Option<Instant>,
    /// Set when a grant is burnt, until that grant would have expired: codes answer `TooMany`
    /// until a new grant is issued.
    burnt_until: Option<Instant>,
}

#[derive(Default)]
pub(super) struct TokenState {
    owners: HashMap<GrantOwner, OwnerState>,
    routes: HashMap<TokenHash, (GrantOwner, Instant)>,
}

impl Expiring for TokenState {
    fn sweep(&mut self, now: Instant) {
        self.routes.retain(|_, (_, until)| *until > now);
        for owner in self.owners.values_mut() {
            if owner.grant.as_ref().is_some_and(|g| g.expires <= now) {
                owner.grant = None;
            }
            if owner.failures_reset.is_some_and(|t| t <= now) {
                owner.failures = 0;
                owner.failures_reset = None;
            }
            if owner.burnt_until.is_some_and(|t| t <= now) {
                owner.burnt_until = None;
            }
        }
    }
}

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

fn store_grant(state: &mut TokenState, owner: &GrantOwner, grant: &NewGrant, now: Instant) -> GrantInfo {
    let expires_at = Utc::now() + grant.ttl;
    let entry = state.owners.entry(owner.clone()).or_default();
    entry.burnt_until = None;
    entry.grant = Some(Grant {
        id: grant.id.clone(),
        purpose: grant.purpose,
        token: grant.token.clone(),
        code: grant.code.clone(),
        attempts: 0,
        expires: now + grant.ttl,
        expires_at,
    });
    state
        .routes
        .insert(grant.token.clone(), (owner.clone(), now + grant.ttl));
    GrantInfo {
        id: grant.id.clone(),
        purpose: grant.purpose,
        expires_at,
    }
}

fn info(g: &Grant) -> GrantInfo {
    GrantInfo {
        id: g.id.clone(),
        purpose: g.purpose,
        expires_at: g.expires_at,
    }
}

/// The shared code rule: member window first, then the grant's own count; a right code is not
/// counted, a wrong one is, and the fifth wrong one burns the grant: until a new grant (or the burnt
/// one's expiry), every code answers `TooMany` without being counted.
fn judge_code(
    state: &mut TokenState,
    owner: &GrantOwner,
    code: &CodeHash,
    limits: &AttemptLimits,
    now: Instant,
) -> CodeCheck {
    let entry = state.owners.entry(owner.clone()).or_default();
    if entry.failures >= limits.per_member {
        return CodeCheck::TooMany;
    }
    if entry.grant.is_none() && entry.burnt_until.is_some() {
        return CodeCheck::TooMany;
    }
    let matches = entry
        .grant
        .as_ref()
        .and_then(|g| g.code.as_ref().map(|c| same(&c.0, &code.0)))
        .unwrap_or(false);
    if matches && let Some(g) = &entry.grant {
        return if g.attempts >= limits.per_grant {
            CodeCheck::TooMany
        } else {
            CodeCheck::Valid(info(g))
        };
    }
    entry.failures += 1;
    if entry.failures_reset.is_none() {
        entry.failures_reset = Some(now + limits.member_window);
    }
    if let Some(g) = entry.grant.as_mut().filter(|g| g.code.is_some()) {
        g.attempts += 1;
        if g.attempts >= limits.per_grant {
            entry.burnt_until = Some(g.expires);
            entry.grant = None;
            return CodeCheck::TooMany;
        }
    }
    if entry.failures >= limits.per_member {
        CodeCheck::TooMany
    } else {
        CodeCheck::Wrong
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn issue_grant(
        &self,
        owner: &GrantOwner,
        grant: &NewGrant,
        cooldown: Option<Duration>,
    ) -> Result<IssueOutcome, StoreError> {
        self.tokens.with(|state, now| {
            let entry = state.owners.entry(owner.clone()).or_default();
            // The grant already live (a handed-off request resolved again): nothing changes.
            if entry.grant.as_ref().is_some_and(|g| g.id == grant.id) {
                return IssueOutcome::Issued;
            }
            if let Some(cooldown) = cooldown {
                if entry.cooldown_until.is_some_and(|t| t > now) {
                    return IssueOutcome::CoolingDown;
                }
                entry.cooldown_until = Some(now + cooldown);
            }
            store_grant(state, owner, grant, now);
            IssueOutcome::Issued
        })
    }

    async fn owner_of_token(&self, token: &TokenHash) -> Result<Option<GrantOwner>, StoreError> {
        self.tokens
            .with(|state, _| state.routes.get(token).map(|(owner, _)| owner.clone()))
    }

    async fn check_token(
        &self,
        owner: &GrantOwner,
        token: &TokenHash,
    ) -> Result<Option<GrantInfo>, StoreError> {
        self.tokens.with(|state, _| {
            state
                .owners
                .get(owner)
                .and_then(|o| o.grant.as_ref())
                .filter(|g| same(&g.token.0, &token.0))
                .map(info)
        })
    }

    async fn check_code(
        &self,
        owner: &GrantOwner,
        code: &CodeHash,
        limits: &AttemptLimits,
    ) -> Result<CodeCheck, StoreError> {
        self.tokens
            .with(|state, now| judge_code(state, owner, code, limits, now))
    }

    async fn exchange_code(
        &self,
        owner: &GrantOwner,
        code: &CodeHash,
        replacement: &NewGrant,
        limits: &AttemptLimits,
    ) -> Result<CodeCheck, StoreError> {
        self.tokens
            .with(|state, now| match judge_code(state, owner, code, limits, now) {
                CodeCheck::Valid(_) => CodeCheck::Valid(store_grant(state, owner, replacement, now)),
                other => other,
            })
    }

    async fn spend_grant(&self, owner: &GrantOwner, proof: &GrantProof) -> Result<bool, StoreError> {
        self.tokens.with(|state, _| {
            let Some(entry) = state.owners.get_mut(owner) else {
                return false;
            };
            let matches = entry.grant.as_ref().is_some_and(|g| match proof {
                GrantProof::Token(t) => same(&g.token.0, &t.0),
                GrantProof::Code(c) => g.code.as_ref().is_some_and(|own| same(&own.0, &c.0)),
            });
            if matches {
                entry.grant = None;
            }
            matches
        })
    }

    async fn code_matches(&self, owner: &GrantOwner, code: &CodeHash) -> Result<bool, StoreError> {
        self.tokens.with(|state, _| {
            state
                .owners
                .get(owner)
                .and_then(|o| o.grant.as_ref())
                .and_then(|g| g.code.as_ref())
                .is_some_and(|own| same(&own.0, &code.0))
        })
    }

    async fn grant_is_live(&self, owner: &GrantOwner, grant_id: &str) -> Result<bool, StoreError> {
        self.tokens.with(|state, _| {
            state
                .owners
                .get(owner)
                .and_then(|o| o.grant.as_ref())
                .is_some_and(|g| g.id == grant_id)
        })
    }

    async fn revoke_grants(&self, owner: &GrantOwner) -> Result<(), StoreError> {
        self.tokens.with(|state, _| {
            if let Some(entry) = state.owners.get_mut(owner) {
                entry.grant = None;
                entry.burnt_until = None;
            }
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.tokens.with(|_, _| ())
    }
}
