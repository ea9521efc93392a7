//! `TokenStore` on Redis: grants, code attempts, burnt-grant markers, cooldowns and token routes, each
//! deciding operation one script over one owner's keys; the route is written by a separate
//! `SET … PX` after the script (it lives in its own slot and only routes: the grant decides).
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{RedisStore, keys::Key, millis, scripts::SCRIPTS};
use crate::{
    domain::grant::{
        AttemptLimits, CodeCheck, CodeHash, GrantInfo, GrantOwner, GrantProof, GrantPurpose, IssueOutcome,
        NewGrant, TokenHash,
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

/// Reads a `judge` reply.
fn code_check(reply: &[String]) -> Result<CodeCheck, StoreError> {
    match reply.first().map(String::as_str) {
        Some("valid") => Ok(CodeCheck::Valid(grant_info(reply)?)),
        Some("wrong") => Ok(CodeCheck::Wrong),
        Some("too_many") => Ok(CodeCheck::TooMany),
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

fn limit_args(code: &CodeHash, limits: &AttemptLimits) -> [String; 4] {
    [
        code.0.clone(),
        limits.per_grant.to_string(),
        limits.per_member.to_string(),
        millis(limits.member_window).to_string(),
    ]
}

impl RedisStore {
    /// The keys of the code judge, in the order its scripts expect: grant, fails, burnt.
    fn judged_keys(&self, owner: &GrantOwner) -> [String; 3] {
        [
            self.key(Key::Grant(owner)),
            self.key(Key::Fails(owner)),
            self.key(Key::Burnt(owner)),
        ]
    }

    /// Points the grant's token at its owner for as long as the grant lives.
    async fn set_route(&self, owner: &GrantOwner, grant: &NewGrant, ttl_ms: i64) -> Result<(), StoreError> {
        if ttl_ms <= 0 {
            return Ok(());
        }
        self.set_for(&self.key(Key::TokenRoute(&grant.token)), &owner.tag(), ttl_ms)
            .await
    }
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn issue_grant(
        &self,
        owner: &GrantOwner,
        grant: &NewGrant,
        cooldown: Option<Duration>,
    ) -> Result<IssueOutcome, StoreError> {
        let (grant_args, ttl_ms) = grant_args(grant);
        let mut args = vec![cooldown.map_or(-1, millis).to_string()];
        args.extend(grant_args);
        let keys = [
            self.key(Key::Grant(owner)),
            self.key(Key::Cooldown(owner)),
            self.key(Key::Burnt(owner)),
        ];
        let issued: i64 = self
            .invoke(&SCRIPTS.issue, &[&keys[0], &keys[1], &keys[2]], &args)
            .await?;
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

    async fn check_code(
        &self,
        owner: &GrantOwner,
        code: &CodeHash,
        limits: &AttemptLimits,
    ) -> Result<CodeCheck, StoreError> {
        let keys = self.judged_keys(owner);
        let reply: Vec<String> = self
            .invoke(
                &SCRIPTS.check_code,
                &[&keys[0], &keys[1], &keys[2]],
                &limit_args(code, limits),
            )
            .await?;
        code_check(&reply)
    }

    async fn exchange_code(
        &self,
        owner: &GrantOwner,
        code: &CodeHash,
        replacement: &NewGrant,
        limits: &AttemptLimits,
    ) -> Result<CodeCheck, StoreError> {
        let keys = self.judged_keys(owner);
        let (grant_args, ttl_ms) = grant_args(replacement);
        let mut args = limit_args(code, limits).to_vec();
        args.extend(grant_args);
        let reply: Vec<String> = self
            .invoke(&SCRIPTS.exchange_code, &[&keys[0], &keys[1], &keys[2]], &args)
            .await?;
        let check = code_check(&reply)?;
        if matches!(check, CodeCheck::Valid(_)) {
            self.set_route(owner, replacement, ttl_ms).await?;
        }
        Ok(check)
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

    async fn code_matches(&self, owner: &GrantOwner, code: &CodeHash) -> Result<bool, StoreError> {
        let matches: i64 = self
            .invoke(
                &SCRIPTS.code_matches,
                &[&self.key(Key::Grant(owner))],
                std::slice::from_ref(&code.0),
            )
            .await?;
        Ok(matches == 1)
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
        let (grant, burnt) = (self.key(Key::Grant(owner)), self.key(Key::Burnt(owner)));
        let _: i64 = self
            .invoke(&SCRIPTS.revoke_grants, &[&grant, &burnt], &[])
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ())
    }
}
