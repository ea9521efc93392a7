//! `TokenStore` on Redis: grants, cooldowns, token routes, and per identifier the code index and the
//! wrong-code counter. Each decision is one script over one owner's or one identifier's keys; routes
//! and index entries are separate `SET … PX` writes that only point (the owner's grant decides).
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{RedisStore, keys::Key, millis, scripts::SCRIPTS};
use crate::{
    domain::grant::{
        AttemptLimits, CodeAttempt, CodeHash, CodeLookup, GrantInfo, GrantOwner, GrantProof, GrantPurpose,
        IdentifierKey, IssueOutcome, NewGrant, OnceKey, TokenHash,
    },
    recovery::ports::{StoreError, TokenStore},
};

/// Reads a `{'valid', id, purpose, expires_at_ms}` reply.
fn grant_info(reply: &[String]) -> Result<GrantInfo, StoreError> {
    let [_, id, purpose, expires_at_ms] = reply else {
        return Err(StoreError::Internal("redis: unexpected grant reply".into()));
    };
    let purpose = GrantPurpose::from_code(purpose)
        .ok_or_else(|| StoreError::Internal("redis: unknown grant purpose".into()))?;
    let expires_at = expires_at_ms
        .parse::<i64>()
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .ok_or_else(|| StoreError::Internal("redis: unreadable grant expiry".into()))?;
    Ok(GrantInfo {
        id: id.clone(),
        purpose,
        expires_at,
    })
}

/// Reads a `judge_code` reply: `{'found', '<grant id>|<owner tag>'}`, `{'wrong'}` or `{'too_many'}`.
fn code_lookup(reply: &[String]) -> Result<CodeLookup, StoreError> {
    match reply {
        [found, entry, matched] if found == "found" => entry
            .split_once('|')
            .and_then(|(grant_id, tag)| {
                Some(CodeLookup::Found {
                    owner: GrantOwner::parse_tag(tag)?,
                    grant_id: grant_id.to_owned(),
                    matched: matched.parse().ok()?,
                })
            })
            .ok_or_else(|| StoreError::Internal("redis: unreadable code entry".into())),
        [wrong] if wrong == "wrong" => Ok(CodeLookup::Wrong),
        [too_many] if too_many == "too_many" => Ok(CodeLookup::TooMany),
        _ => Err(StoreError::Internal("redis: unexpected code reply".into())),
    }
}

/// The 7 script arguments that describe a grant to store, and its ttl in milliseconds.
fn grant_args(grant: &NewGrant) -> (Vec<String>, i64) {
    let ttl_ms = millis(grant.ttl);
    let expires_at_ms = Utc::now().timestamp_millis().saturating_add(ttl_ms);
    let args = vec![
        grant.id.clone(),
        grant.purpose.code().to_owned(),
        grant.token.0.clone(),
        if grant.code.is_some() { "1" } else { "0" }.to_owned(),
        grant.code.as_ref().map(|c| c.0.clone()).unwrap_or_default(),
        ttl_ms.to_string(),
        expires_at_ms.to_string(),
    ];
    (args, ttl_ms)
}

impl RedisStore {
    /// Points the grant's token at its owner, and its code (under each identifier) at the grant, for
    /// as long as the grant lives. Written after the grant, so whatever a pointer finds exists.
    async fn set_route(&self, owner: &GrantOwner, grant: &NewGrant, ttl_ms: i64) -> Result<(), StoreError> {
        if ttl_ms <= 0 {
            return Ok(());
        }
        self.set_for(&self.key(Key::TokenRoute(&grant.token)), &owner.tag(), ttl_ms)
            .await?;
        let entry = format!("{}|{}", grant.id, owner.tag());
        for indexed in &grant.code_index {
            self.set_for(
                &self.key(Key::CodeEntry(&indexed.identifier, &indexed.code)),
                &entry,
                ttl_ms,
            )
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn spend_once(&self, key: &OnceKey, lasts: Duration) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(Key::Spent(key)))
            .arg("1")
            .arg("NX")
            .arg("PX")
            .arg(millis(lasts).max(1));
        // `OK` when set, nil when the key was already there.
        let set: Option<String> = self.query(&cmd).await?;
        Ok(set.is_some())
    }

    async fn issue_grant(
        &self,
        owner: &GrantOwner,
        grant: &NewGrant,
        cooldown: Option<Duration>,
    ) -> Result<IssueOutcome, StoreError> {
        let (grant_args, ttl_ms) = grant_args(grant);
        let mut args = vec![cooldown.map_or(-1, millis).to_string()];
        args.extend(grant_args);
        let keys = [self.key(Key::Grant(owner)), self.key(Key::Cooldown(owner))];
        let issued: i64 = self.invoke(&SCRIPTS.issue, &[&keys[0], &keys[1]], &args).await?;
        if issued == 0 {
            return Ok(IssueOutcome::CoolingDown);
        }
        self.set_route(owner, grant, ttl_ms).await?;
        Ok(IssueOutcome::Issued)
    }

    async fn owner_of_token(&self, token: &TokenHash) -> Result<Option<GrantOwner>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(Key::TokenRoute(token)));
        let tag: Option<String> = self.query(&cmd).await?;
        tag.map(|tag| {
            GrantOwner::parse_tag(&tag)
                .ok_or_else(|| StoreError::Internal("redis: unreadable token route".into()))
        })
        .transpose()
    }

    async fn check_token(
        &self,
        owner: &GrantOwner,
        token: &TokenHash,
    ) -> Result<Option<GrantInfo>, StoreError> {
        let reply: Option<Vec<String>> = self
            .invoke(
                &SCRIPTS.check_token,
                &[&self.key(Key::Grant(owner))],
                std::slice::from_ref(&token.0),
            )
            .await?;
        reply.as_deref().map(grant_info).transpose()
    }

    async fn judge_code(
        &self,
        identifier: &IdentifierKey,
        codes: &[CodeHash],
        limits: &AttemptLimits,
    ) -> Result<CodeLookup, StoreError> {
        let keys: Vec<String> = std::iter::once(self.key(Key::CodeFailures(identifier)))
            .chain(
                codes
                    .iter()
                    .map(|code| self.key(Key::CodeEntry(identifier, code))),
            )
            .collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let reply: Vec<String> = self
            .invoke(
                &SCRIPTS.judge_code,
                &keys,
                &[
                    limits.per_identifier.to_string(),
                    millis(limits.window).to_string(),
                ],
            )
            .await?;
        code_lookup(&reply)
    }

    async fn reserve_code_attempt(
        &self,
        identifier: &IdentifierKey,
        limits: &AttemptLimits,
    ) -> Result<CodeAttempt, StoreError> {
        let key = self.key(Key::CodeFailures(identifier));
        let count: i64 = self
            .invoke(
                &SCRIPTS.reserve_code_attempt,
                &[&key],
                &[
                    limits.per_identifier.to_string(),
                    millis(limits.window).to_string(),
                ],
            )
            .await?;
        Ok(if count < 0 {
            CodeAttempt::TooMany
        } else {
            CodeAttempt::Counted {
                last: count >= i64::from(limits.per_identifier),
            }
        })
    }

    async fn release_code_attempt(&self, identifier: &IdentifierKey) -> Result<(), StoreError> {
        let key = self.key(Key::CodeFailures(identifier));
        let _: i64 = self.invoke(&SCRIPTS.release_code_attempt, &[&key], &[]).await?;
        Ok(())
    }

    async fn check_code(
        &self,
        owner: &GrantOwner,
        code: &CodeHash,
        grant_id: &str,
    ) -> Result<Option<GrantInfo>, StoreError> {
        let reply: Option<Vec<String>> = self
            .invoke(
                &SCRIPTS.check_code,
                &[&self.key(Key::Grant(owner))],
                &[code.0.clone(), grant_id.to_owned()],
            )
            .await?;
        reply.as_deref().map(grant_info).transpose()
    }

    async fn exchange_code(
        &self,
        owner: &GrantOwner,
        code: &CodeHash,
        grant_id: &str,
        replacement: &NewGrant,
    ) -> Result<Option<GrantInfo>, StoreError> {
        let (grant_args, ttl_ms) = grant_args(replacement);
        let mut args = vec![code.0.clone(), grant_id.to_owned()];
        args.extend(grant_args);
        let reply: Option<Vec<String>> = self
            .invoke(&SCRIPTS.exchange_code, &[&self.key(Key::Grant(owner))], &args)
            .await?;
        let info = reply.as_deref().map(grant_info).transpose()?;
        if info.is_some() {
            self.set_route(owner, replacement, ttl_ms).await?;
        }
        Ok(info)
    }

    async fn spend_grant(&self, owner: &GrantOwner, proof: &GrantProof) -> Result<bool, StoreError> {
        let args = match proof {
            GrantProof::Token(t) => ["token".to_owned(), t.0.clone()],
            GrantProof::Code(c) => ["code".to_owned(), c.0.clone()],
        };
        let spent: i64 = self
            .invoke(&SCRIPTS.spend, &[&self.key(Key::Grant(owner))], &args)
            .await?;
        Ok(spent == 1)
    }

    async fn grant_is_live(&self, owner: &GrantOwner, grant_id: &str) -> Result<bool, StoreError> {
        let live: i64 = self
            .invoke(
                &SCRIPTS.is_live,
                &[&self.key(Key::Grant(owner))],
                &[grant_id.to_owned()],
            )
            .await?;
        Ok(live == 1)
    }

    async fn revoke_grants(&self, owner: &GrantOwner) -> Result<(), StoreError> {
        let grant = self.key(Key::Grant(owner));
        let _: i64 = self.invoke(&SCRIPTS.revoke_grants, &[&grant], &[]).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ())
    }
}
