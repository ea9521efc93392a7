//! The table of limits: which operations are limited, per client, per target or per session,
//! with the defaults and the `RATE_LIMITS` overrides.
use std::{collections::HashMap, time::Duration};

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
}
