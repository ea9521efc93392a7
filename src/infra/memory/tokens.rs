//! `TokenStore` in process: grants, cooldowns, token routes, and per identifier the code index and
//! the wrong-code counter (one lock: the counter check and increment are one step).
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
        AttemptLimits, CodeAttempt, CodeHash, CodeLookup, GrantInfo, GrantOwner, GrantProof, GrantPurpose,
        IdentifierKey, IssueOutcome, NewGrant, OnceKey, TokenHash,
    },
    recovery::ports::{StoreError, TokenStore},
};

struct Grant {
    id: String,
    purpose: GrantPurpose,
    token: TokenHash,
    code: Option<CodeHash>,
    expires: Instant,
    expires_at: chrono::DateTime<Utc>,
}

#[derive(Default)]
struct OwnerState {
    grant: Option<Grant>,
    cooldown_until: Option<Instant>,
}

/// A code index entry: whose grant, which one, until when.
struct IndexEntry {
    owner: GrantOwner,
    grant_id: String,
    until: Instant,
}

/// Wrong codes typed with one identifier, and when the window that began with the first ends.
struct Failures {
    count: u32,
    until: Instant,
}

#[derive(Default)]
pub(super) struct TokenState {
    owners: HashMap<GrantOwner, OwnerState>,
    routes: HashMap<TokenHash, (GrantOwner, Instant)>,
    code_index: HashMap<(IdentifierKey, CodeHash), IndexEntry>,
    code_failures: HashMap<IdentifierKey, Failures>,
    /// Spent one-time proofs, until when they stay spent.
    spent: HashMap<OnceKey, Instant>,
}

impl Expiring for TokenState {
    fn sweep(&mut self, now: Instant) {
        self.routes.retain(|_, (_, until)| *until > now);
        self.code_index.retain(|_, entry| entry.until > now);
        self.code_failures.retain(|_, failures| failures.until > now);
        self.spent.retain(|_, until| *until > now);
        for owner in self.owners.values_mut() {
            if owner.grant.as_ref().is_some_and(|g| g.expires <= now) {
                owner.grant = None;
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
    entry.grant = Some(Grant {
        id: grant.id.clone(),
        purpose: grant.purpose,
        token: grant.token.clone(),
        code: grant.code.clone(),
        expires: now + grant.ttl,
        expires_at,
    });
    state
        .routes
        .insert(grant.token.clone(), (owner.clone(), now + grant.ttl));
    for indexed in &grant.code_index {
        state.code_index.insert(
            (indexed.identifier.clone(), indexed.code.clone()),
            IndexEntry {
                owner: owner.clone(),
                grant_id: grant.id.clone(),
                until: now + grant.ttl,
            },
        );
    }
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

/// The owner's grant when it is `grant_id` and `code` is its code.
fn grant_with_code<'a>(
    state: &'a TokenState,
    owner: &GrantOwner,
    code: &CodeHash,
    grant_id: &str,
) -> Option<&'a Grant> {
    state
        .owners
        .get(owner)
        .and_then(|o| o.grant.as_ref())
        .filter(|g| g.id == grant_id && g.code.as_ref().is_some_and(|own| same(&own.0, &code.0)))
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn spend_once(&self, key: &OnceKey, lasts: Duration) -> Result<bool, StoreError> {
        self.tokens.with(|state, now| {
            // The sweep already dropped an expired mark, so a present one is live.
            let first = !state.spent.contains_key(key);
            if first {
                state.spent.insert(key.clone(), now + lasts);
            }
            first
        })
    }

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

    async fn judge_code(
        &self,
        identifier: &IdentifierKey,
        codes: &[CodeHash],
        limits: &AttemptLimits,
    ) -> Result<CodeLookup, StoreError> {
        self.tokens.with(|state, now| {
            let failures = state.code_failures.get(identifier).map_or(0, |f| f.count);
            if failures >= limits.per_identifier {
                return CodeLookup::TooMany;
            }
            let found = codes.iter().enumerate().find_map(|(matched, code)| {
                let entry = state.code_index.get(&(identifier.clone(), code.clone()))?;
                Some(CodeLookup::Found {
                    owner: entry.owner.clone(),
                    grant_id: entry.grant_id.clone(),
                    matched,
                })
            });
            if let Some(found) = found {
                return found;
            }
            let failures = state.code_failures.entry(identifier.clone()).or_insert(Failures {
                count: 0,
                until: now + limits.window,
            });
            failures.count += 1;
            if failures.count >= limits.per_identifier {
                CodeLookup::TooMany
            } else {
                CodeLookup::Wrong
            }
        })
    }

    async fn reserve_code_attempt(
        &self,
        identifier: &IdentifierKey,
        limits: &AttemptLimits,
    ) -> Result<CodeAttempt, StoreError> {
        self.tokens.with(|state, now| {
            let failures = state.code_failures.entry(identifier.clone()).or_insert(Failures {
                count: 0,
                until: now + limits.window,
            });
            if failures.count >= limits.per_identifier {
                return CodeAttempt::TooMany;
            }
            failures.count += 1;
            CodeAttempt::Counted {
                last: failures.count >= limits.per_identifier,
            }
        })
    }

    async fn release_code_attempt(&self, identifier: &IdentifierKey) -> Result<(), StoreError> {
        self.tokens.with(|state, _| {
            if let Some(failures) = state.code_failures.get_mut(identifier) {
                failures.count = failures.count.saturating_sub(1);
            }
        })
    }

    async fn check_code(
        &self,
        owner: &GrantOwner,
        code: &CodeHash,
        grant_id: &str,
    ) -> Result<Option<GrantInfo>, StoreError> {
        self.tokens
            .with(|state, _| grant_with_code(state, owner, code, grant_id).map(info))
    }

    async fn exchange_code(
        &self,
        owner: &GrantOwner,
        code: &CodeHash,
        grant_id: &str,
        replacement: &NewGrant,
    ) -> Result<Option<GrantInfo>, StoreError> {
        self.tokens.with(|state, now| {
            grant_with_code(state, owner, code, grant_id)?;
            Some(store_grant(state, owner, replacement, now))
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
            }
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.tokens.with(|_, _| ())
    }
}
