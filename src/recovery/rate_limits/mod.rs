//! Rate limits on the operations callers can repeat: per client address and per target (or, signed
//! in, per session), shared by every instance through the `Limiter`, and applied alike to
//! identifiers that match no account, so a limit never reveals that an account exists.
use std::{sync::Arc, time::Duration};

use crate::{
    domain::{
        device::{Admission, DeviceInfo},
        keyed_hash::KeyedHasher,
        session::SessionInfo,
    },
    recovery::{
        challenges::{Challenges, Pass},
        context::RequestContext,
        errors::RecoveryError,
        ports::{CounterHit, Limiter, SessionStore, TokenStore},
    },
};

mod table;
pub mod target;

pub use table::{DEFAULT_POW_DIFFICULTY, Limit, Operation, RateLimitSpecError, RateLimitTable, Scope};

#[derive(Clone)]
pub struct RateLimits {
    limiter: Arc<dyn Limiter>,
    table: RateLimitTable,
    /// The way past a target's limit; none: a refusal is final.
    challenges: Option<Challenges>,
    /// Where device tokens are looked up; none: every call counts against its target.
    devices: Option<Arc<dyn SessionStore>>,
}

/// A refusal of the limits of one call: how long to wait, and whether only the target's limit
/// refused it (the client's had room), which a solved challenge may pass.
struct Refusal {
    retry_after: Duration,
    only_target: bool,
}

impl RateLimits {
    pub fn new(limiter: Arc<dyn Limiter>, table: RateLimitTable) -> Self {
        RateLimits {
            limiter,
            table,
            challenges: None,
            devices: None,
        }
    }

    /// Counts a call that carries a live device token of the member it concerns against that
    /// device instead of the member's targets (devices are kept in `store`).
    pub fn with_devices(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.devices = Some(store);
        self
    }

    /// The live device the request's `X-Device-Token` names, when it concerns `target`; none for
    /// a missing, unknown, revoked or other member's token (the call then counts as a fresh
    /// device's).
    pub async fn device_for(
        &self,
        ctx: &RequestContext,
        target: &str,
    ) -> Result<Option<DeviceInfo>, RecoveryError> {
        let (Some(store), Some(token)) = (&self.devices, &ctx.device) else {
            return Ok(None);
        };
        Ok(store
            .find_device(&token.hash())
            .await?
            .filter(|d| d.owner.site == ctx.site && d.concerns(target)))
    }

    /// Offers a proof-of-work challenge where only a target's limit refuses (unless
    /// `POW_DIFFICULTY` is 0), keyed under `keys`, each solution spent once in `tokens`.
    pub fn with_challenges(mut self, keys: KeyedHasher, tokens: Arc<dyn TokenStore>) -> Self {
        if self.table.pow_difficulty > 0 {
            self.challenges = Some(Challenges::new(keys, tokens, self.table.pow_difficulty));
        }
        self
    }

    /// Past a target's own limit (its failures, its budget), a solved challenge for `purpose`
    /// admits the call once; otherwise the refusal, with a fresh challenge when they are on.
    pub async fn past_target_limit(
        &self,
        ctx: &RequestContext,
        purpose: &str,
        retry_after: Duration,
    ) -> Result<Admission, RecoveryError> {
        let Some(challenges) = &self.challenges else {
            return Err(RecoveryError::RateLimited {
                retry_after,
                challenge: None,
            });
        };
        match challenges.pass(ctx, purpose).await? {
            Pass::Solved => Ok(Admission::Solved),
            Pass::Challenged(challenge) => Err(RecoveryError::RateLimited {
                retry_after,
                challenge: Some(challenge),
            }),
        }
    }

    /// Counts one call of `op` by the request's client, then about `target` (see [`target`]);
    /// refuses it (`RecoveryError::RateLimited`) when either count is over its limit. The client's
    /// budget comes first: a call it refuses is not counted against the target, so one host cannot
    /// spend a victim's budget from behind its own limit. Every call counts against its client,
    /// refused or not, so hammering does not reopen the window. A call from the member's own
    /// device counts against the device instead of the target.
    pub async fn admit(
        &self,
        op: Operation,
        ctx: &RequestContext,
        target: Option<String>,
    ) -> Result<Admission, RecoveryError> {
        let device = match &target {
            Some(target) => self.device_for(ctx, target).await?,
            None => None,
        };
        self.admit_from(op, ctx, target, device).await
    }

    /// [`RateLimits::admit`] for a device already looked up ([`RateLimits::device_for`]): the
    /// device's calls count against the device, with the target's limit.
    pub async fn admit_from(
        &self,
        op: Operation,
        ctx: &RequestContext,
        target: Option<String>,
        device: Option<DeviceInfo>,
    ) -> Result<Admission, RecoveryError> {
        let client = ctx.client_subject();
        let counted_as = device
            .as_ref()
            .map(DeviceInfo::limit_subject)
            .or_else(|| target.clone());
        let subjects = [
            (Scope::Client, client.as_deref()),
            (Scope::Target, counted_as.as_deref()),
        ];
        match (self.count(op, &subjects).await?, &target) {
            (None, _) => Ok(device.map_or(Admission::Budget, Admission::Device)),
            (Some(refusal), Some(target)) if refusal.only_target => {
                let purpose = format!("{}:{target}", op.name());
                self.past_target_limit(ctx, &purpose, refusal.retry_after).await
            }
            (Some(refusal), _) => Err(refusal.into()),
        }
    }

    /// Counts one password check (or new-password hashing) by a signed-in session, per session and
    /// per client, before any hash work; refuses it like [`RateLimits::admit`].
    pub async fn admit_signed_in(
        &self,
        ctx: &RequestContext,
        session: &SessionInfo,
    ) -> Result<(), RecoveryError> {
        let client = ctx.client_subject();
        let subjects = [
            (Scope::Client, client.as_deref()),
            // The token's hash: never the bearer token itself.
            (Scope::Session, Some(session.token.0.as_str())),
        ];
        match self.count(Operation::SignedInPassword, &subjects).await? {
            Some(refusal) => Err(refusal.into()),
            None => Ok(()),
        }
    }

    /// Counts the call against each subject's limit, in order; the refusal, if any.
    async fn count(
        &self,
        op: Operation,
        subjects: &[(Scope, Option<&str>)],
    ) -> Result<Option<Refusal>, RecoveryError> {
        let counted: Vec<(Scope, String, Limit)> = subjects
            .iter()
            .filter_map(|&(scope, subject)| {
                let limit = self.table.get(op, scope)?;
                Some((scope, Self::key(op, scope, subject?), limit))
            })
            .collect();
        let hits: Vec<CounterHit<'_>> = counted
            .iter()
            .map(|(_, key, limit)| CounterHit {
                key,
                limit: limit.count,
                window: limit.window,
            })
            .collect();
        // Every limit of the request in one call (one script on Redis), in the order given: the
        // client's first; a refusal ends the counting.
        let decisions = self.limiter.hit_all(&hits).await?;
        let mut refused: Option<Refusal> = None;
        for ((scope, _, _), decision) in counted.iter().zip(decisions) {
            if !decision.allowed {
                tracing::info!(operation = op.name(), scope = scope.name(), "rate limited");
                metrics::counter!("rate_limited_total", "operation" => op.name(), "scope" => scope.name())
                    .increment(1);
                let retry_after = refused
                    .as_ref()
                    .map_or(decision.retry_after, |r| r.retry_after.max(decision.retry_after));
                let only_target = *scope == Scope::Target && refused.as_ref().is_none_or(|r| r.only_target);
                refused = Some(Refusal {
                    retry_after,
                    only_target,
                });
            }
        }
        Ok(refused)
    }
}

impl From<Refusal> for RecoveryError {
    fn from(refusal: Refusal) -> Self {
        RecoveryError::RateLimited {
            retry_after: refusal.retry_after,
            challenge: None,
        }
    }
}

impl RateLimits {
    fn key(op: Operation, scope: Scope, subject: &str) -> String {
        format!("{}:{}:{subject}", op.name(), scope.name())
    }

    fn target_key(op: Operation, target: &str) -> String {
        Self::key(op, Scope::Target, target)
    }

    /// Whether `target` has room for one more `op`, without counting (for budgets that only
    /// successful work should spend, like mails per member), keeping the last `kept` units (when
    /// the limit has more) for proven callers.
    pub async fn has_room(&self, op: Operation, target: &str, kept: u32) -> Result<bool, RecoveryError> {
        let Some(limit) = self.table.get(op, Scope::Target) else {
            return Ok(true);
        };
        let usable = if limit.count > kept {
            limit.count - kept
        } else {
            limit.count
        };
        Ok(self
            .limiter
            .peek(&Self::target_key(op, target), usable)
            .await?
            .allowed)
    }

    /// Spends one unit of `target`'s budget for `op`.
    pub async fn spend(&self, op: Operation, target: &str) -> Result<(), RecoveryError> {
        if let Some(limit) = self.table.get(op, Scope::Target) {
            self.limiter
                .hit(&Self::target_key(op, target), limit.count, limit.window)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn client_and_target_limits_count_every_call() {
        let limiter = Arc::new(crate::infra::memory::MemoryStore::new());
        let table = RateLimitTable::default()
            .with_overrides("findId.client=3/600,findId.id=2/600")
            .unwrap();
        let limits = RateLimits::new(limiter, table);
        let admit = |client: &'static str, target: &'static str| {
            let limits = limits.clone();
            async move {
                match limits
                    .count(
                        Operation::FindId,
                        &[(Scope::Client, Some(client)), (Scope::Target, Some(target))],
                    )
                    .await
                    .unwrap()
                {
                    Some(refusal) => Err(RecoveryError::from(refusal)),
                    None => Ok(()),
                }
            }
        };
        assert!(admit("1.1.1.1", "a@x.io").await.is_ok());
        assert!(admit("2.2.2.2", "a@x.io").await.is_ok());
        // Third call about the same target, from a third address: over the target limit.
        let Err(RecoveryError::RateLimited { retry_after, .. }) = admit("3.3.3.3", "a@x.io").await else {
            panic!("the third call about one target must be refused");
        };
        assert!(retry_after > Duration::from_secs(590));
        assert!(admit("1.1.1.1", "b@x.io").await.is_ok());
        assert!(admit("1.1.1.1", "c@x.io").await.is_ok());
        assert!(
            admit("1.1.1.1", "d@x.io").await.is_err(),
            "fourth call from one client"
        );
    }

    #[tokio::test]
    async fn a_call_its_client_refuses_does_not_count_against_its_target() {
        let limiter = Arc::new(crate::infra::memory::MemoryStore::new());
        let table = RateLimitTable::default()
            .with_overrides("signIn.client=2/600,signIn.id=4/600")
            .unwrap();
        let limits = RateLimits::new(limiter, table);
        let admit = |client: &'static str| {
            let limits = limits.clone();
            async move {
                limits
                    .count(
                        Operation::SignIn,
                        &[(Scope::Client, Some(client)), (Scope::Target, Some("victim"))],
                    )
                    .await
                    .unwrap()
            }
        };
        for _ in 0..2 {
            assert!(admit("6.6.6.6").await.is_none());
        }
        for _ in 0..50 {
            let refusal = admit("6.6.6.6").await.expect("over the stranger's own budget");
            assert!(
                !refusal.only_target,
                "the client's refusal: no challenge passes it"
            );
        }
        // The stranger spent 2 of the victim's 4, not 52.
        assert!(admit("1.1.1.1").await.is_none());
        assert!(admit("1.1.1.1").await.is_none());
        let refusal = admit("2.2.2.2")
            .await
            .expect("the target's own limit still holds");
        assert!(
            refusal.only_target,
            "only the target's: a solved challenge may pass it"
        );
    }
}
