//! Changing the password while signed in, in three modes: EXTEND keeps an expired password and
//! restarts its clock, WITHOUT_CURRENT needs an elevated session, WITH_CURRENT the right current
//! password.
use std::sync::Arc;

use crate::recovery::delivery::DeliveryWake;
use chrono::{DateTime, Utc};

use crate::{
    domain::{
        audit::{AuditEvent, AuditKind, AuditOutcome},
        member::{Member, MemberType},
        password::Password,
        session::SessionInfo,
    },
    recovery::{
        change_notice::ChangeNotices,
        context::RequestContext,
        errors::RecoveryError,
        new_password::{Judgement, NewPasswords, PasswordProblem},
        password_check::{PasswordCheck, PasswordChecks},
        ports::{PasswordChange, PasswordHasher, PasswordStore, SessionStore, TokenStore},
        rate_limits::RateLimits,
        signed_in::SignedIn,
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeMode {
    Extend,
    WithoutCurrent,
    WithCurrent,
}

pub struct ChangeRequest<'a> {
    pub mode: ChangeMode,
    pub current_password: Option<&'a Password>,
    pub new_password: Option<&'a Password>,
    pub revoke_other_sessions: bool,
}

/// Which password of a change request is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingPassword {
    Current,
    New,
}

#[derive(Debug)]
pub enum ChangeOutcome {
    Done {
        member: Box<Member>,
        password_expires_at: DateTime<Utc>,
        active_sessions: u32,
    },
    /// The mode is not allowed now (EXTEND before expiry, WITHOUT_CURRENT unelevated).
    NotEligible,
    SocialAccount,
    InvalidCredentials,
    /// The session ended while the change ran (a reset revoked it): nothing was written.
    SessionEnded,
    Throttled {
        retry_after: std::time::Duration,
    },
    /// A password the mode needs is missing.
    Missing(MissingPassword),
    Rejected(Vec<PasswordProblem>),
}

#[derive(Clone)]
pub struct PasswordChanges {
    pub(crate) password_store: Arc<dyn PasswordStore>,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) tokens: Arc<dyn TokenStore>,
    pub(crate) hasher: Arc<dyn PasswordHasher>,
    pub(crate) signed_in: SignedIn,
    pub(crate) passwords: PasswordChecks,
    pub(crate) new_passwords: NewPasswords,
    pub(crate) notices: ChangeNotices,
    pub(crate) rate_limits: RateLimits,
    pub(crate) mail_wake: Arc<DeliveryWake>,
}

impl PasswordChanges {
    /// The same use case writing through other stores: where the session is rechecked and the
    /// password written (store doubles in tests, e.g. ones that pause between check and write).
    pub fn with_stores(mut self, passwords: Arc<dyn PasswordStore>, sessions: Arc<dyn SessionStore>) -> Self {
        self.password_store = passwords;
        self.sessions = sessions;
        self
    }

    /// Changes the signed-in member's password in the mode asked for.
    #[tracing::instrument(skip_all, fields(site = %ctx.site, op = "change_password"))]
    pub async fn change(
        &self,
        ctx: &RequestContext,
        session: &SessionInfo,
        request: ChangeRequest<'_>,
    ) -> Result<ChangeOutcome, RecoveryError> {
        let Some((member, _)) = self.signed_in.member(session).await? else {
            return Ok(ChangeOutcome::InvalidCredentials);
        };
        if member.member_type == MemberType::Social || member.password_hash.is_none() {
            return Ok(ChangeOutcome::SocialAccount);
        }
        let policy = self.new_passwords.policies.policy_for(&member.site_id).await?;
        let now = ctx.now;
        let (new_hash, notice, outcome) = match request.mode {
            ChangeMode::Extend => {
                if member.password_expires_at(&policy) > now {
                    return Ok(ChangeOutcome::NotEligible);
                }
                (None, None, AuditOutcome::Extended)
            }
            ChangeMode::WithoutCurrent | ChangeMode::WithCurrent => {
                if request.mode == ChangeMode::WithoutCurrent && !session.is_elevated(now) {
                    return Ok(ChangeOutcome::NotEligible);
                }
                let Some(new_password) = request.new_password else {
                    return Ok(ChangeOutcome::Missing(MissingPassword::New));
                };
                // Both modes hash (the current password, earlier ones for reuse, the new one):
                // counted before the first hash.
                self.rate_limits.admit_signed_in(ctx, session).await?;
                if request.mode == ChangeMode::WithCurrent {
                    let Some(current) = request.current_password else {
                        return Ok(ChangeOutcome::Missing(MissingPassword::Current));
                    };
                    match self.passwords.check_password(ctx, &member, current).await? {
                        PasswordCheck::Right => {}
                        PasswordCheck::Wrong => return Ok(ChangeOutcome::InvalidCredentials),
                        PasswordCheck::Throttled { retry_after } => {
                            return Ok(ChangeOutcome::Throttled { retry_after });
                        }
                    }
                }
                let accepted = match self.new_passwords.judge(&member, new_password, None).await? {
                    Judgement::Accepted(accepted, _) => accepted,
                    Judgement::Rejected(problems) => return Ok(ChangeOutcome::Rejected(problems)),
                };
                let hash = self.hasher.hash(accepted.password()).await?;
                (
                    Some(hash),
                    Some(self.notices.notice(ctx, &member, now)),
                    AuditOutcome::Changed,
                )
            }
        };
        let changed = new_hash.is_some();
        // A reset wins over a change in flight: it revokes every session before it writes its hash,
        // so a session still alive here means no reset has written yet, and the write below only
        // goes through while the hash verified above is still the member's.
        if self.sessions.find_session(&session.token).await?.is_none() {
            return Ok(ChangeOutcome::SessionEnded);
        }
        // Other sessions go before the new password exists, so none opened with the old one
        // outlives a change that went through.
        if changed && request.revoke_other_sessions {
            self.sessions
                .revoke_sessions(&session.owner, Some(&session.token))
                .await?;
        }
        let updated = self
            .password_store
            .apply_password_change(PasswordChange {
                member: member.id.clone(),
                new_hash,
                expected_hash: member.password_hash.clone(),
                changed_at: now,
                history_size: policy.history_size,
                report: notice.as_ref().map(|(_, report)| report.clone()),
                notice: notice.map(|(notice, _)| notice),
                audit: AuditEvent {
                    site: member.site_id.clone(),
                    member: Some(member.id.clone()),
                    kind: AuditKind::PasswordChanged,
                    outcome,
                    client: ctx.client_text(),
                    identifier: None,
                },
            })
            .await?;
        let Some(updated) = updated else {
            // The hash moved after it was verified: a reset (whose session revocation this session
            // may have just missed) or another change. Nothing was written.
            return Ok(if self.sessions.find_session(&session.token).await?.is_none() {
                ChangeOutcome::SessionEnded
            } else {
                ChangeOutcome::InvalidCredentials
            });
        };
        if changed {
            // A reset link still out there would undo the change the owner just made.
            if let Err(e) = self.tokens.revoke_grants(&session.owner).await {
                tracing::warn!(member = %member.id.0, error = %e, "after a change, could not revoke grants");
            }
            self.mail_wake.notify_one();
        }
        // The change is committed: a failing count must not turn it into an error.
        let active_sessions = self.sessions.count_sessions(&session.owner).await.unwrap_or(0);
        Ok(ChangeOutcome::Done {
            password_expires_at: updated.password_expires_at(&policy),
            member: Box::new(updated),
            active_sessions,
        })
    }
}
