//! Rate limits on the operations callers can repeat: per client address and per target (or, signed
//! in, per session), shared by every instance through the `Limiter`, and applied alike to
//! identifiers that match no account, so a limit never reveals that an account exists.
use std::{collections::HashMap, sync::Arc, time::Duration};

use crate::{
    domain::{keyed_hash::KeyedHasher, session::SessionInfo},
    recovery::{
        challenges::{Challenges, Pass},
        context::RequestContext,
        errors::RecoveryError,
        ports::{CounterHit, Limiter, TokenStore},
    },
};

/// The operations that are limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    FindId,
    CheckLoginId,
    IssueResetToken,
    VerifyResetToken,
    SignIn,
    /// Mails per member, whatever address or path asked (no mail-bombing).
    ResetMailPerMember,
    /// Signed-in operations that verify or hash a password (`reauthenticate`, `changePassword`):
    /// a member who knows the password must not keep the hashing threads busy.
    SignedInPassword,
    /// Recovery-code sets per member: each set's notice goes to the owner, and an intruder must
    /// not keep minting ways around the mailbox.
    RecoveryCodeSets,
    /// SCIM provisioning calls, per client address and per site (the bearer token's).
    Provisioning,
}

impl Operation {
    pub const ALL: [Operation; 9] = [
        Operation::FindId,
        Operation::CheckLoginId,
        Operation::IssueResetToken,
        Operation::VerifyResetToken,
        Operation::SignIn,
        Operation::ResetMailPerMember,
        Operation::SignedInPassword,
        Operation::RecoveryCodeSets,
        Operation::Provisioning,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::FindId => "findId",
            Operation::CheckLoginId => "checkLoginId",
            Operation::IssueResetToken => "issueResetToken",
            Operation::VerifyResetToken => "verifyResetToken",
            Operation::SignIn => "signIn",
            Operation::ResetMailPerMember => "resetMail",
            Operation::SignedInPassword => "signedInPassword",
            Operation::RecoveryCodeSets => "recoveryCodeSets",
            Operation::Provisioning => "scim",
        }
    }
}

/// Whom a limit counts: the caller's address, the account/identifier the call is about, or the
/// signed-in session making it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Client,
    Target,
    Session,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Client, Scope::Target, Scope::Session];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Client => "client",
            Scope::Target => "id",
            Scope::Session => "session",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub window: Duration,
}

/// Every limit, by operation and scope, and the proof of work that admits a call past a target's
/// limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitTable {
    limits: HashMap<(Operation, Scope), Limit>,
    /// Zero bits a challenge's hash must start with (`POW_DIFFICULTY`); 0: no challenges.
    pub pow_difficulty: u8,
}

/// 2^16 SHA-256 hashes on average: the SPA's Web Worker solved challenges of this difficulty in
/// Chromium on this project's 2-core machine in 375–820 ms on average (96k–156k hashes/s through
/// crypto.subtle, 256 digests a batch; single solves from tens of ms to about 3 s, the count of
/// hashes being random), so about a second or two on a phone.
pub const DEFAULT_POW_DIFFICULTY: u8 = 16;

const fn limit(count: u32, seconds: u64) -> Limit {
    Limit {
        count,
        window: Duration::from_secs(seconds),
    }
}

impl Default for RateLimitTable {
    /// Generous for people, tight for scripts: one office behind one NAT address can still
    /// recover a few dozen accounts in ten minutes; one account sees a handful of attempts.
    fn default() -> Self {
        use Operation::*;
        use Scope::*;
        let limits = HashMap::from([
            ((FindId, Client), limit(30, 600)),
            ((FindId, Target), limit(10, 600)),
            ((CheckLoginId, Client), limit(60, 600)),
            ((CheckLoginId, Target), limit(20, 600)),
            ((IssueResetToken, Client), limit(20, 600)),
            ((IssueResetToken, Target), limit(5, 600)),
            ((VerifyResetToken, Client), limit(30, 600)),
            ((VerifyResetToken, Target), limit(10, 600)),
            ((SignIn, Client), limit(60, 600)),
            ((SignIn, Target), limit(20, 600)),
            ((ResetMailPerMember, Target), limit(5, 3600)),
            // A person re-enters a password a few times; each try costs up to history + 1 hashes.
            ((SignedInPassword, Client), limit(30, 600)),
            ((SignedInPassword, Session), limit(10, 600)),
            ((RecoveryCodeSets, Target), limit(3, 86_400)),
            // A host's sync pushes bursts (a whole directory at first), never a person's pace.
            ((Provisioning, Client), limit(1200, 60)),
            ((Provisioning, Target), limit(1200, 60)),
        ]);
        RateLimitTable {
            limits,
            pow_difficulty: DEFAULT_POW_DIFFICULTY,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("rate limit {0:?}: expected entries like `signIn.client=30/600`")]
pub struct RateLimitSpecError(pub String);

impl RateLimitTable {
    /// Overrides defaults from a spec such as `signIn.client=30/600,findId.id=5/60` (count per
    /// window in seconds; a count of 0 turns that limit off).
    pub fn with_overrides(mut self, spec: &str) -> Result<Self, RateLimitSpecError> {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = || RateLimitSpecError(item.to_owned());
            let (key, value) = item.split_once('=').ok_or_else(bad)?;
            let (op, scope) = key.trim().split_once('.').ok_or_else(bad)?;
            let op = Operation::ALL
                .into_iter()
                .find(|o| o.name() == op.trim())
                .ok_or_else(bad)?;
            let scope = Scope::ALL
                .into_iter()
                .find(|s| s.name() == scope.trim())
                .ok_or_else(bad)?;
            let (count, seconds) = value.trim().split_once('/').ok_or_else(bad)?;
            let count: u32 = count.trim().parse().map_err(|_| bad())?;
            let seconds: u64 = seconds.trim().parse().map_err(|_| bad())?;
            if seconds == 0 {
                return Err(bad());
            }
            if count == 0 {
                self.limits.remove(&(op, scope));
            } else {
                self.limits.insert((op, scope), limit(count, seconds));
            }
        }
        Ok(self)
    }

    pub fn get(&self, op: Operation, scope: Scope) -> Option<Limit> {
        self.limits.get(&(op, scope)).copied()
    }
}

pub mod target;

#[derive(Clone)]
pub struct RateLimits {
    limiter: Arc<dyn Limiter>,
    table: RateLimitTable,
    /// The way past a target's limit; none: a refusal is final.
    challenges: Option<Challenges>,
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
        }
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
    ) -> Result<(), RecoveryError> {
        let Some(challenges) = &self.challenges else {
            return Err(RecoveryError::RateLimited {
                retry_after,
                challenge: None,
            });
        };
        match challenges.pass(ctx, purpose).await? {
            Pass::Solved => Ok(()),
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
    /// refused or not, so hammering does not reopen the window.
    pub async fn admit(
        &self,
        op: Operation,
        ctx: &RequestContext,
        target: Option<String>,
    ) -> Result<(), RecoveryError> {
        let client = ctx.client_subject();
        let subjects = [
            (Scope::Client, client.as_deref()),
            (Scope::Target, target.as_deref()),
        ];
        match (self.count(op, &subjects).await?, &target) {
            (None, _) => Ok(()),
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
    /// successful work should spend, like mails per member).
    pub async fn has_room(&self, op: Operation, target: &str) -> Result<bool, RecoveryError> {
        let Some(limit) = self.table.get(op, Scope::Target) else {
            return Ok(true);
        };
        Ok(self
            .limiter
            .peek(&Self::target_key(op, target), limit.count)
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

    #[test]
    fn overrides_replace_or_remove_defaults() {
        let table = RateLimitTable::default()
            .with_overrides(" signIn.client=100/60 , findId.id=0/1,resetMail.id=2/7200")
            .unwrap();
        assert_eq!(table.get(Operation::SignIn, Scope::Client), Some(limit(100, 60)));
        assert_eq!(table.get(Operation::FindId, Scope::Target), None);
        assert_eq!(
            table.get(Operation::ResetMailPerMember, Scope::Target),
            Some(limit(2, 7200))
        );
        assert_eq!(
            table.get(Operation::CheckLoginId, Scope::Client),
            Some(limit(60, 600))
        );
        for bad in [
            "signIn=1/2",
            "nope.client=1/2",
            "signIn.who=1/2",
            "signIn.client=x/2",
            "signIn.client=1/0",
            "signIn.client=1",
        ] {
            assert!(RateLimitTable::default().with_overrides(bad).is_err(), "{bad}");
        }
        assert_eq!(
            RateLimitTable::default().with_overrides("").unwrap(),
            RateLimitTable::default()
        );
    }

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
