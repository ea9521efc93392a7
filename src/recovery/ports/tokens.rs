//! Reset grants, code attempts and cooldowns: every decision one atomic step in the store.
use std::time::Duration;

use async_trait::async_trait;

use crate::{
    domain::grant::{
        AttemptLimits, CodeAttempt, CodeHash, CodeLookup, GrantInfo, GrantOwner, GrantProof, IdentifierKey,
        IssueOutcome, NewGrant, OnceKey, TokenHash,
    },
    recovery::ports::errors::StoreError,
};

/// Grants, code attempts and cooldowns (Redis, or in-process without it). Every method that
/// decides something is one atomic operation in the store.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores `grant` as the owner's only grant (older ones die) and its code index entries, unless
    /// `cooldown` is given and a grant was issued within it, in which case nothing changes.
    async fn issue_grant(
        &self,
        owner: &GrantOwner,
        grant: &NewGrant,
        cooldown: Option<Duration>,
    ) -> Result<IssueOutcome, StoreError>;
    /// Whose grant a token belongs to (a routing entry; the grant itself decides validity).
    async fn owner_of_token(&self, token: &TokenHash) -> Result<Option<GrantOwner>, StoreError>;
    /// The owner's live grant when `token` is its token. Spends nothing.
    async fn check_token(
        &self,
        owner: &GrantOwner,
        token: &TokenHash,
    ) -> Result<Option<GrantInfo>, StoreError>;
    /// Looks a code up as typed, in the identifier's own slot, in one atomic step: at the limit of
    /// failures, `TooMany` without looking at the code; else a code of a grant mailed for the
    /// identifier is `Found` (nothing counted), and any other counts one failure (the limit-th
    /// answers `TooMany`). The same work whether or not the identifier names anyone. `codes` are
    /// the code's index hashes under each key of the ring (one attempt, found if any is indexed).
    async fn judge_code(
        &self,
        identifier: &IdentifierKey,
        codes: &[CodeHash],
        limits: &AttemptLimits,
    ) -> Result<CodeLookup, StoreError>;
    /// Counts one attempt at a code that is checked elsewhere (a recovery code) against the same
    /// per-identifier budget as `judge_code`, in one atomic step and before the code is looked at:
    /// at the limit `TooMany` without counting, else one failure counted (`last` when it reached
    /// the limit). Counting first bounds concurrent guesses by the limit; a right code gives its
    /// count back with `release_code_attempt`. The same work whoever the identifier names.
    async fn reserve_code_attempt(
        &self,
        identifier: &IdentifierKey,
        limits: &AttemptLimits,
    ) -> Result<CodeAttempt, StoreError>;
    /// Gives back one failure counted by `reserve_code_attempt` (the code was right).
    async fn release_code_attempt(&self, identifier: &IdentifierKey) -> Result<(), StoreError>;
    /// The owner's live grant when it is `grant_id` and `code` is its code. Counts and spends nothing
    /// (the caller has found the code with `judge_code`).
    async fn check_code(
        &self,
        owner: &GrantOwner,
        code: &CodeHash,
        grant_id: &str,
    ) -> Result<Option<GrantInfo>, StoreError>;
    /// Like `check_code`, but replaces the grant with `replacement` in the same step.
    async fn exchange_code(
        &self,
        owner: &GrantOwner,
        code: &CodeHash,
        grant_id: &str,
        replacement: &NewGrant,
    ) -> Result<Option<GrantInfo>, StoreError>;
    /// Deletes the owner's grant if `proof` matches it; true for exactly one caller.
    async fn spend_grant(&self, owner: &GrantOwner, proof: &GrantProof) -> Result<bool, StoreError>;
    /// Whether the owner's current grant is `grant_id` (the mail worker drops mail of dead grants).
    async fn grant_is_live(&self, owner: &GrantOwner, grant_id: &str) -> Result<bool, StoreError>;
    /// Deletes every grant of the owner, whatever proof.
    async fn revoke_grants(&self, owner: &GrantOwner) -> Result<(), StoreError>;
    /// Marks `key` used for `lasts` and says whether this was its first use: one atomic step on
    /// every instance sharing the store (`SET NX PX` on Redis), so a one-time proof works once.
    async fn spend_once(&self, key: &OnceKey, lasts: Duration) -> Result<bool, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}
