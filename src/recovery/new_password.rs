//! Judging a new password for a member: the site's policy (every violated rule), the
//! confirmation, and reuse of the current or a recent password. Shared by reset and change.
use std::sync::Arc;

use crate::{
    domain::{
        member::Member,
        password::Password,
        password_policy::{AcceptedPassword, PasswordPolicy, PasswordRule},
    },
    recovery::{
        errors::RecoveryError,
        ports::{PasswordHasher, PasswordStore},
        site_policy::SitePolicies,
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    Rule(PasswordRule),
    Mismatch,
    Reused,
}

/// The verdict on a new password.
pub enum Judgement {
    /// Accepted (normalised), with the policy it was judged by.
    Accepted(AcceptedPassword, PasswordPolicy),
    /// Every problem found.
    Rejected(Vec<PasswordProblem>),
}

#[derive(Clone)]
pub struct NewPasswords {
    pub(crate) passwords: Arc<dyn PasswordStore>,
    pub(crate) hasher: Arc<dyn PasswordHasher>,
    pub(crate) policies: SitePolicies,
}

impl NewPasswords {
    /// The accepted (normalised) password and the policy it was judged by, or every problem.
    /// Policy problems are reported before the (expensive) reuse check runs.
    pub async fn judge(
        &self,
        member: &Member,
        candidate: &Password,
        confirmation: Option<&Password>,
    ) -> Result<Judgement, RecoveryError> {
        let policy = self.policies.policy_for(&member.site_id).await?;
        let mut problems = Vec::new();
        let accepted = match policy.check(candidate.expose(), Some(member.login_id.as_str())) {
            Ok(accepted) => Some(accepted),
            Err(rules) => {
                problems.extend(rules.into_iter().map(PasswordProblem::Rule));
                None
            }
        };
        // A confirmation far longer than the password cannot match: no need to normalise it.
        if confirmation.is_some_and(|c| {
            c.len() > 4 * candidate.len().max(1) || c.normalized().expose() != candidate.normalized().expose()
        }) {
            problems.push(PasswordProblem::Mismatch);
        }
        let Some(accepted) = accepted.filter(|_| problems.is_empty()) else {
            return Ok(Judgement::Rejected(problems));
        };
        if self
            .is_reused(member, accepted.password(), policy.history_size)
            .await?
        {
            return Ok(Judgement::Rejected(vec![PasswordProblem::Reused]));
        }
        Ok(Judgement::Accepted(accepted, policy))
    }

    /// Whether the password is the current one or one of the last `history_size`.
    async fn is_reused(
        &self,
        member: &Member,
        password: &Password,
        history_size: usize,
    ) -> Result<bool, RecoveryError> {
        let mut hashes: Vec<_> = member.password_hash.iter().cloned().collect();
        let history = match &member.password_history {
            Some(read_with_the_member) => read_with_the_member.clone(),
            None => self.passwords.password_history(&member.id).await?,
        };
        hashes.extend(history.into_iter().take(history_size));
        for stored in &hashes {
            match self.hasher.verify(password, stored).await {
                Ok(v) if v.matches => return Ok(true),
                Ok(_) => {}
                // An unreadable old hash cannot be matched; it does not block the change.
                Err(e) => tracing::warn!(member = %member.id.0, error = %e, "stored hash not verifiable"),
            }
        }
        Ok(false)
    }
}
