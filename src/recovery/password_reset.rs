//! Password reset: issue a grant (mailed link + code, or a direct token after an identity
//! check), verify it without spending, and reset the password with it — exactly once.
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;
use tokio::sync::Notify;

use crate::{
    domain::{
        email::Email,
        grant::{
            AttemptLimits, CodeCheck, GrantInfo, GrantOwner, GrantProof, GrantPurpose, IssueOutcome,
            NewGrant, ResetCode, ResetToken,
        },
        keyed_hash::{Ci, KeyedHasher},
        login_id::LoginId,
        masking::{mask_email, mask_login_id},
        member::{Member, MemberStatus, MemberType},
    },
    recovery::{
        context::RequestContext,
        errors::RecoveryError,
        mail_templates::{ResetEntry, password_changed_mail, reset_mail},
        new_password::{NewPasswords, PasswordProblem},
        password_check::member_throttle_key,
        ports::{
            AuditEvent, AuditKind, AuditLog, Limiter, MailKind, MailMeta, MailOutbox, MemberStore,
            PasswordChange, PasswordHasher, SessionStore, TokenStore,
        },
        rate_limits::{Operation, RateLimits},
    },
};

/// Lifetimes and limits of reset grants (from settings).
#[derive(Debug, Clone)]
pub struct ResetSettings {
    pub email_ttl: Duration,
    pub direct_ttl: Duration,
    pub cooldown: Duration,
    pub limits: AttemptLimits,
    /// The e-mail paths answer no sooner than this, whether or not an account matched.
    pub reply_floor: Duration,
    /// How long after a reset the first sign-in is elevated.
    pub reset_elevation_window: Duration,
    /// Base of the links in mails (`PUBLIC_RESET_URL`), never the request's Host.
    pub public_reset_url: url::Url,
}

pub enum ResetRequest {
    /// Mail every password account of this address.
    Email(Email),
    /// Mail this account if the address is its own.
    Account { login_id: LoginId, email: Email },
    /// The caller just passed an identity check that produced `ci`.
    Identity { login_id: LoginId, ci: Ci },
}

/// Why a request about a known account is refused (identity path only; the e-mail paths never say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    IdentityMismatch,
    SocialAccount,
    AccountInactive,
}

#[derive(Debug)]
pub enum IssueResult {
    /// Always the same for the e-mail paths, whether or not anything was sent.
    Mailed {
        masked_destination: String,
        expires_in: Duration,
    },
    Direct {
        token: ResetToken,
        expires_at: DateTime<Utc>,
        member_type: MemberType,
    },
    Refused(Refusal),
}

pub enum CodeIdentifier {
    Email(Email),
    LoginId(LoginId),
}

pub enum Credential {
    Token(ResetToken),
    Code { by: CodeIdentifier, code: ResetCode },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialError {
    InvalidToken,
    InvalidCode,
    TooManyAttempts,
}

#[derive(Debug)]
pub enum VerifyResult {
    Valid {
        /// The token that resets the password: the one presented, or a reset-only one given for a code.
        token: ResetToken,
        expires_at: DateTime<Utc>,
        masked_login_id: String,
    },
    Invalid(CredentialError),
}

#[derive(Debug)]
pub enum ResetOutcome {
    /// The member after the reset, with their (remaining) number of sessions.
    Done(Box<Member>, u32),
    Credential(CredentialError),
    Refused(Refusal),
    /// The new password is refused; the grant stays usable.
    Rejected(Vec<PasswordProblem>),
}

#[derive(Clone)]
pub struct PasswordReset {
    pub(crate) members: Arc<dyn MemberStore>,
    pub(crate) tokens: Arc<dyn TokenStore>,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) limiter: Arc<dyn Limiter>,
    pub(crate) hasher: Arc<dyn PasswordHasher>,
    pub(crate) outbox: Arc<dyn MailOutbox>,
    pub(crate) audit: Arc<dyn AuditLog>,
    pub(crate) keys: KeyedHasher,
    pub(crate) new_passwords: NewPasswords,
    pub(crate) rate_limits: RateLimits,
    pub(crate) settings: ResetSettings,
    pub(crate) mail_wake: Arc<Notify>,
}

fn owner_of(member: &Member) -> GrantOwner {
    GrantOwner {
        site: member.site_id.clone(),
        member: member.id.clone(),
    }
}

fn refusal_for(member: &Member) -> Option<Refusal> {
    if member.member_type == MemberType::Social || member.password_hash.is_none() {
        Some(Refusal::SocialAccount)
    } else if member.status != MemberStatus::Active {
        Some(Refusal::AccountInactive)
    } else {
        None
    }
}

impl PasswordReset {
    fn link(&self, token: &ResetToken) -> String {
        let mut url = self.settings.public_reset_url.clone();
        url.query_pairs_mut().append_pair("token", token.expose());
        url.to_string()
    }

    /// Audit writes never fail a request: the event is logged instead.
    pub async fn issue(
        &self,
        ctx: &RequestContext,
        request: ResetRequest,
    ) -> Result<IssueResult, RecoveryError> {
        match request {
            ResetRequest::Email(email) => {
                let started = tokio::time::Instant::now();
                let members = self.members.find_by_email(&ctx.site, &email).await?;
                self.mail_grants(ctx, &email, members).await?;
                Ok(self.mailed(&email, started).await)
            }
            ResetRequest::Account { login_id, email } => {
                let started = tokio::time::Instant::now();
                let member = self.members.find_by_login_id(&ctx.site, &login_id).await?;
                let matching = member.into_iter().filter(|m| m.email == email.as_str()).collect();
                self.mail_grants(ctx, &email, matching).await?;
                Ok(self.mailed(&email, started).await)
            }
            ResetRequest::Identity { login_id, ci } => self.issue_direct(ctx, &login_id, &ci).await,
        }
    }

    /// The e-mail paths' one reply, sent no sooner than `reply_floor` after the request began: a
    /// known address does more work (grant, outbox) than an unknown one, and timing must not tell.
    async fn mailed(&self, typed: &Email, started: tokio::time::Instant) -> IssueResult {
        tokio::time::sleep_until(started + self.settings.reply_floor).await;
        IssueResult::Mailed {
            masked_destination: mask_email(typed.as_str()),
            expires_in: self.settings.email_ttl,
        }
    }

    /// One mail for all of the address's password accounts, each with its own link and code.
    /// Accounts inside their cooldown get nothing new; unknown addresses get no mail.
    async fn mail_grants(
        &self,
        ctx: &RequestContext,
        email: &Email,
        members: Vec<Member>,
    ) -> Result<(), RecoveryError> {
        let mut entries = Vec::new();
        let mut grants = Vec::new();
        let mut mailed_members = Vec::new();
        let eligible: Vec<Member> = members.into_iter().filter(Member::can_reset_password).collect();
        if eligible.is_empty() {
            self.audit
                .note(ctx, None, AuditKind::ResetRequested, "no_account")
                .await;
            return Ok(());
        }
        for member in eligible {
            let owner = owner_of(&member);
            // However many addresses or paths ask, one member gets only so many mails.
            let member_key = format!("{}:{}", member.site_id, member.id.0);
            if !self
                .rate_limits
                .has_room(Operation::ResetMailPerMember, &member_key)
                .await?
            {
                self.audit
                    .note(ctx, Some(&member), AuditKind::ResetRequested, "member_limited")
                    .await;
                continue;
            }
            let token = ResetToken::generate();
            let code = ResetCode::generate();
            let grant = NewGrant::new(
                GrantPurpose::Email,
                token.hash(),
                Some(code.hash(&self.keys, &owner)),
                self.settings.email_ttl,
            );
            match self
                .tokens
                .issue_grant(&owner, &grant, Some(self.settings.cooldown))
                .await?
            {
                IssueOutcome::Issued => {
                    self.rate_limits
                        .spend(Operation::ResetMailPerMember, &member_key)
                        .await?;
                    entries.push(ResetEntry {
                        login_id: member.login_id.clone(),
                        link: self.link(&token),
                        code: code.expose().to_owned(),
                    });
                    grants.push((owner, grant.id));
                    mailed_members.push(member);
                }
                IssueOutcome::CoolingDown => {
                    self.audit
                        .note(ctx, Some(&member), AuditKind::ResetRequested, "cooldown")
                        .await;
                }
            }
        }
        if entries.is_empty() {
            return Ok(());
        }
        let minutes = i64::try_from(self.settings.email_ttl.as_secs() / 60)
            .unwrap_or(i64::MAX)
            .max(1);
        let mail = reset_mail(ctx.lang, email.as_str(), &entries, minutes);
        let meta = MailMeta {
            site: ctx.site.clone(),
            member: (mailed_members.len() == 1).then(|| mailed_members[0].id.clone()),
            kind: MailKind::ResetRequested,
            grants: grants.clone(),
        };
        if let Err(e) = self.outbox.enqueue(&meta, &mail).await {
            // No mail will carry these grants: take them back. (The cooldown stays: a retry right
            // after an outage waits at most RESET_COOLDOWN_SECS.)
            for (owner, _) in &grants {
                let _ = self.tokens.revoke_grants(owner).await;
            }
            return Err(e.into());
        }
        self.mail_wake.notify_one();
        for member in &mailed_members {
            self.audit
                .note(ctx, Some(member), AuditKind::ResetRequested, "mail_queued")
                .await;
        }
        Ok(())
    }

    async fn issue_direct(
        &self,
        ctx: &RequestContext,
        login_id: &LoginId,
        ci: &Ci,
    ) -> Result<IssueResult, RecoveryError> {
        let member = self.members.find_by_login_id(&ctx.site, login_id).await?;
        let presented = self.keys.ci(ci);
        let matches = |m: &Member| {
            m.ci_hash
                .as_ref()
                .is_some_and(|own| bool::from(own.0.as_bytes().ct_eq(presented.0.as_bytes())))
        };
        let Some(member) = member.filter(|m| m.status != MemberStatus::Withdrawn && matches(m)) else {
            self.audit
                .note(ctx, None, AuditKind::FailedAttempt, "identity_mismatch")
                .await;
            return Ok(IssueResult::Refused(Refusal::IdentityMismatch));
        };
        if let Some(refusal) = refusal_for(&member) {
            self.audit
                .note(ctx, Some(&member), AuditKind::ResetRequested, "refused")
                .await;
            return Ok(IssueResult::Refused(refusal));
        }
        let token = ResetToken::generate();
        let grant = NewGrant::new(GrantPurpose::Direct, token.hash(), None, self.settings.direct_ttl);
        self.tokens.issue_grant(&owner_of(&member), &grant, None).await?;
        self.audit
            .note(ctx, Some(&member), AuditKind::ResetRequested, "direct")
            .await;
        Ok(IssueResult::Direct {
            token,
            expires_at: Utc::now() + self.settings.direct_ttl,
            member_type: member.member_type,
        })
    }

    /// The member and live grant a token belongs to, on this site.
    async fn by_token(
        &self,
        ctx: &RequestContext,
        token: &ResetToken,
    ) -> Result<Option<(Member, GrantInfo)>, RecoveryError> {
        let hash = token.hash();
        let Some(owner) = self.tokens.owner_of_token(&hash).await? else {
            return Ok(None);
        };
        if owner.site != ctx.site {
            return Ok(None);
        }
        let Some(info) = self.tokens.check_token(&owner, &hash).await? else {
            return Ok(None);
        };
        let member = self.members.find_by_id(&owner.member).await?;
        Ok(member.filter(|m| m.site_id == ctx.site).map(|m| (m, info)))
    }

    /// The password accounts a code may belong to.
    /// The accounts a code is judged against: when one address owns several, the one whose grant
    /// the code matches (so a right code for B is not a wrong one for A); when none matches,
    /// all of them, and each counts the miss.
    async fn code_candidates(
        &self,
        ctx: &RequestContext,
        by: &CodeIdentifier,
        code: &ResetCode,
    ) -> Result<Vec<Member>, RecoveryError> {
        let members = match by {
            CodeIdentifier::Email(email) => self.members.find_by_email(&ctx.site, email).await?,
            CodeIdentifier::LoginId(id) => self
                .members
                .find_by_login_id(&ctx.site, id)
                .await?
                .into_iter()
                .collect(),
        };
        let candidates: Vec<Member> = members.into_iter().filter(Member::can_reset_password).collect();
        if candidates.len() > 1 {
            for member in &candidates {
                let owner = owner_of(member);
                if self
                    .tokens
                    .code_matches(&owner, &code.hash(&self.keys, &owner))
                    .await?
                {
                    return Ok(vec![member.clone()]);
                }
            }
        }
        Ok(candidates)
    }

    /// Checks a credential without spending it. A right code is exchanged for a reset-only token.
    pub async fn verify(
        &self,
        ctx: &RequestContext,
        credential: Credential,
    ) -> Result<VerifyResult, RecoveryError> {
        match credential {
            Credential::Token(token) => match self.by_token(ctx, &token).await? {
                Some((member, info)) => {
                    self.audit
                        .note(ctx, Some(&member), AuditKind::ResetVerified, "token")
                        .await;
                    Ok(VerifyResult::Valid {
                        token,
                        expires_at: info.expires_at,
                        masked_login_id: mask_login_id(&member.login_id),
                    })
                }
                None => {
                    self.audit
                        .note(ctx, None, AuditKind::FailedAttempt, "invalid_token")
                        .await;
                    Ok(VerifyResult::Invalid(CredentialError::InvalidToken))
                }
            },
            Credential::Code { by, code } => {
                let mut too_many = false;
                for member in self.code_candidates(ctx, &by, &code).await? {
                    let owner = owner_of(&member);
                    let token = ResetToken::generate();
                    let replacement = NewGrant::new(
                        GrantPurpose::Exchanged,
                        token.hash(),
                        None,
                        self.settings.email_ttl,
                    );
                    let check = self
                        .tokens
                        .exchange_code(
                            &owner,
                            &code.hash(&self.keys, &owner),
                            &replacement,
                            &self.settings.limits,
                        )
                        .await?;
                    match check {
                        CodeCheck::Valid(info) => {
                            self.audit
                                .note(ctx, Some(&member), AuditKind::ResetVerified, "code")
                                .await;
                            return Ok(VerifyResult::Valid {
                                token,
                                expires_at: info.expires_at,
                                masked_login_id: mask_login_id(&member.login_id),
                            });
                        }
                        CodeCheck::Wrong => {}
                        CodeCheck::TooMany => too_many = true,
                    }
                    self.audit
                        .note(ctx, Some(&member), AuditKind::FailedAttempt, "wrong_code")
                        .await;
                }
                Ok(VerifyResult::Invalid(if too_many {
                    CredentialError::TooManyAttempts
                } else {
                    CredentialError::InvalidCode
                }))
            }
        }
    }

    /// Finds the member and proof behind a credential without spending anything.
    async fn resolve(
        &self,
        ctx: &RequestContext,
        credential: &Credential,
    ) -> Result<Result<(Member, GrantProof), CredentialError>, RecoveryError> {
        match credential {
            Credential::Token(token) => Ok(match self.by_token(ctx, token).await? {
                Some((member, _)) => Ok((member, GrantProof::Token(token.hash()))),
                None => Err(CredentialError::InvalidToken),
            }),
            Credential::Code { by, code } => {
                let mut too_many = false;
                for member in self.code_candidates(ctx, by, code).await? {
                    let owner = owner_of(&member);
                    let hash = code.hash(&self.keys, &owner);
                    match self
                        .tokens
                        .check_code(&owner, &hash, &self.settings.limits)
                        .await?
                    {
                        CodeCheck::Valid(_) => return Ok(Ok((member, GrantProof::Code(hash)))),
                        CodeCheck::Wrong => {}
                        CodeCheck::TooMany => too_many = true,
                    }
                    self.audit
                        .note(ctx, Some(&member), AuditKind::FailedAttempt, "wrong_code")
                        .await;
                }
                Ok(Err(if too_many {
                    CredentialError::TooManyAttempts
                } else {
                    CredentialError::InvalidCode
                }))
            }
        }
    }

    /// Sets a new password with a token or a code. A refused password leaves the grant usable;
    /// on success the grant is spent (once, even under concurrent use), and the hash, history,
    /// notice mail and audit event are written in one transaction.
    pub async fn reset(
        &self,
        ctx: &RequestContext,
        credential: Credential,
        new_password: &str,
        confirmation: Option<&str>,
    ) -> Result<ResetOutcome, RecoveryError> {
        let (member, proof) = match self.resolve(ctx, &credential).await? {
            Ok(found) => found,
            Err(e) => return Ok(ResetOutcome::Credential(e)),
        };
        if let Some(refusal) = refusal_for(&member) {
            return Ok(ResetOutcome::Refused(refusal));
        }
        let (accepted, policy) = match self
            .new_passwords
            .judge(&member, new_password, confirmation)
            .await?
        {
            Ok(judged) => judged,
            Err(problems) => return Ok(ResetOutcome::Rejected(problems)),
        };
        let new_hash = self
            .hasher
            .hash(accepted.expose())
            .await
            .map_err(|e| RecoveryError::Internal(e.to_string()))?;
        let owner = owner_of(&member);
        if !self.tokens.spend_grant(&owner, &proof).await? {
            // Someone else used it first.
            return Ok(ResetOutcome::Credential(match proof {
                GrantProof::Token(_) => CredentialError::InvalidToken,
                GrantProof::Code(_) => CredentialError::InvalidCode,
            }));
        }
        // Sessions die before the new password exists: whatever fails later, no session opened
        // with the old password outlives the reset.
        self.sessions.revoke_sessions(&owner, None).await?;
        let now = Utc::now();
        let notice = password_changed_mail(ctx.lang, &member.email, &member.login_id, now);
        let updated = self
            .members
            .apply_password_change(PasswordChange {
                member: member.id.clone(),
                new_hash: Some(new_hash),
                changed_at: now,
                history_size: policy.history_size,
                notice: Some((
                    MailMeta {
                        site: ctx.site.clone(),
                        member: Some(member.id.clone()),
                        kind: MailKind::PasswordChanged,
                        grants: Vec::new(),
                    },
                    notice,
                )),
                audit: AuditEvent {
                    site: ctx.site.clone(),
                    member: Some(member.id.clone()),
                    kind: AuditKind::PasswordReset,
                    outcome: "ok",
                    client: ctx.client_text(),
                },
            })
            .await?;
        // The password is changed: what follows is tidying up and must not turn the answer into
        // an error. Failures are logged.
        // (The grant itself died when it was spent: one grant per member.)
        let after = [
            // The first sign-in after a reset may change the password without the current one.
            (
                "mark the reset",
                self.sessions
                    .mark_reset(&owner, self.settings.reset_elevation_window)
                    .await,
            ),
            // A throttled sign-in must never keep the owner out after recovering.
            (
                "clear the sign-in throttle",
                self.limiter.clear(&member_throttle_key(&member)).await,
            ),
        ];
        for (step, result) in after {
            if let Err(e) = result {
                tracing::warn!(member = %member.id.0, error = %e, "after a reset, could not {step}");
            }
        }
        self.mail_wake.notify_one();
        let active_sessions = self.sessions.count_sessions(&owner).await.unwrap_or(0);
        Ok(ResetOutcome::Done(Box::new(updated), active_sessions))
    }
}
