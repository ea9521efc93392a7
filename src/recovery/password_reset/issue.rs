//! Issuing a reset grant: one mail for every password account of an address (each with its own
//! link and code), or a direct token for an account whose identity check just passed.
use std::time::Duration;

use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use super::{PasswordReset, Refusal, owner_of, refusal_for};
use crate::{
    domain::{
        email::Email,
        grant::{GrantPurpose, IdentifierKey, IndexedCode, IssueOutcome, NewGrant, ResetCode, ResetToken},
        keyed_hash::Ci,
        login_id::LoginId,
        masking::mask_email,
        member::{Member, MemberStatus, MemberType},
    },
    recovery::{
        context::RequestContext,
        errors::RecoveryError,
        mail_templates::{ResetEntry, reset_mail},
        ports::{AuditKind, AuditOutcome, MailKind, MailMeta},
        rate_limits::{Operation, target},
    },
};

pub enum ResetRequest {
    /// Mail every password account of this address.
    Email(Email),
    /// Mail this account if the address is its own.
    Account { login_id: LoginId, email: Email },
    /// The caller just passed an identity check that produced `ci`.
    Identity { login_id: LoginId, ci: Ci },
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

impl PasswordReset {
    fn link(&self, token: &ResetToken) -> String {
        let mut url = self.settings.public_reset_url.clone();
        url.query_pairs_mut().append_pair("token", token.expose());
        url.to_string()
    }

    /// Starts a reset: counted by the issue rate limits (per client, and per address or login
    /// ID), then a mail for the e-mail paths or a direct token for the identity path. Audit
    /// writes never fail a request: the event is logged instead.
    #[tracing::instrument(skip_all, fields(site = %ctx.site, op = "issue_reset"))]
    pub async fn issue(
        &self,
        ctx: &RequestContext,
        request: ResetRequest,
    ) -> Result<IssueResult, RecoveryError> {
        let about = match &request {
            ResetRequest::Email(email) => target::email(&ctx.site, email),
            ResetRequest::Account { login_id, .. } | ResetRequest::Identity { login_id, .. } => {
                target::login(&ctx.site, login_id)
            }
        };
        self.rate_limits
            .admit(Operation::IssueResetToken, ctx, Some(about))
            .await?;
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
                let matching = member.into_iter().filter(|m| m.email == email).collect();
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
                .note(ctx, None, AuditKind::ResetRequested, AuditOutcome::NoAccount)
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
                    .note(
                        ctx,
                        Some(&member),
                        AuditKind::ResetRequested,
                        AuditOutcome::MemberLimited,
                    )
                    .await;
                continue;
            }
            let token = ResetToken::generate();
            let code = ResetCode::generate();
            // Findable from either identifier the owner may type, without knowing the owner.
            let code_index = [
                IdentifierKey::email(&member.site_id, &member.email),
                IdentifierKey::login(&member.site_id, &member.login_id),
            ]
            .map(|identifier| IndexedCode {
                code: code.index_hash(&self.keys, &identifier),
                identifier,
            })
            .to_vec();
            let grant = NewGrant::new(
                GrantPurpose::Email,
                token.hash(),
                Some(code.hash(&self.keys, &owner)),
                self.settings.email_ttl,
            )
            .indexed_under(code_index);
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
                        login_id: member.login_id.as_str().to_owned(),
                        link: self.link(&token),
                        code: code.expose().to_owned(),
                    });
                    grants.push((owner, grant.id));
                    mailed_members.push(member);
                }
                IssueOutcome::CoolingDown => {
                    self.audit
                        .note(
                            ctx,
                            Some(&member),
                            AuditKind::ResetRequested,
                            AuditOutcome::Cooldown,
                        )
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
                .note(
                    ctx,
                    Some(member),
                    AuditKind::ResetRequested,
                    AuditOutcome::MailQueued,
                )
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
                .note(
                    ctx,
                    None,
                    AuditKind::FailedAttempt,
                    AuditOutcome::IdentityMismatch,
                )
                .await;
            return Ok(IssueResult::Refused(Refusal::IdentityMismatch));
        };
        if let Some(refusal) = refusal_for(&member) {
            self.audit
                .note(
                    ctx,
                    Some(&member),
                    AuditKind::ResetRequested,
                    AuditOutcome::Refused,
                )
                .await;
            return Ok(IssueResult::Refused(refusal));
        }
        let token = ResetToken::generate();
        let grant = NewGrant::new(GrantPurpose::Direct, token.hash(), None, self.settings.direct_ttl);
        self.tokens.issue_grant(&owner_of(&member), &grant, None).await?;
        self.audit
            .note(
                ctx,
                Some(&member),
                AuditKind::ResetRequested,
                AuditOutcome::Direct,
            )
            .await;
        Ok(IssueResult::Direct {
            token,
            expires_at: Utc::now() + self.settings.direct_ttl,
            member_type: member.member_type,
        })
    }
}
