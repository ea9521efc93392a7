//! "That wasn't me": the member reports a password change they did not make. In one step the
//! report token is spent, password sign-in locked and every recovery code revoked (one
//! transaction), every session, device and grant of the member dies, and a fresh reset link and code go to
//! the member's address.

use super::{PasswordReset, code_index, owner_of};
use crate::{
    domain::{
        audit::{AuditKind, AuditOutcome},
        change_report::ReportToken,
        grant::{GrantPurpose, NewGrant, ResetCode, ResetToken},
        mail_kind::MailKind,
        masking::mask_email,
        member::Member,
    },
    recovery::{
        context::RequestContext,
        errors::RecoveryError,
        mail_templates::{ResetEntry, reset_mail},
        ports::MailMeta,
        rate_limits::Operation,
    },
};

#[derive(Debug, PartialEq, Eq)]
pub enum ReportOutcome {
    /// Sign-in is locked and a reset mail is on its way to this (masked) address.
    Locked { masked_destination: String },
    /// Unknown, used or expired token.
    InvalidToken,
}

impl PasswordReset {
    /// Acts on a "that wasn't me" link. The token is guessed no more cheaply than a reset token:
    /// the same per-client budget.
    #[tracing::instrument(skip_all, fields(op = "report_unrecognized_change"))]
    pub async fn report_unrecognized_change(
        &self,
        ctx: &RequestContext,
        token: &ReportToken,
    ) -> Result<ReportOutcome, RecoveryError> {
        self.rate_limits
            .admit(Operation::VerifyResetToken, ctx, None)
            .await?;
        let client = ctx.client_text();
        let reported = self
            .change_reports
            .report_change(&token.hash(), client.as_deref(), ctx.now)
            .await?;
        let Some(member) = reported else {
            self.audit
                .note(ctx, None, AuditKind::FailedAttempt, AuditOutcome::InvalidToken)
                .await;
            return Ok(ReportOutcome::InvalidToken);
        };
        let owner = owner_of(&member);
        // Whoever changed the password is signed out, and no link they may hold still works.
        self.sessions.revoke_sessions(&owner, None).await?;
        // Nor does a device they signed in from count on its own budget any more.
        self.sessions.revoke_devices(&owner).await?;
        self.tokens.revoke_grants(&owner).await?;
        let on_site = RequestContext {
            site: member.site_id.clone(),
            ..ctx.clone()
        };
        self.mail_fresh_reset(&on_site, &member).await?;
        self.audit
            .note(
                &on_site,
                Some(&member),
                AuditKind::ChangeReported,
                AuditOutcome::MailQueued,
            )
            .await;
        Ok(ReportOutcome::Locked {
            masked_destination: mask_email(member.email.as_str()),
        })
    }

    /// A new link and code for the member, replacing any grant, past every cooldown: the owner
    /// needs them now.
    async fn mail_fresh_reset(&self, ctx: &RequestContext, member: &Member) -> Result<(), RecoveryError> {
        let owner = owner_of(member);
        let token = ResetToken::generate();
        let code = ResetCode::generate();
        let grant = NewGrant::new(
            GrantPurpose::Email,
            token.hash(),
            Some(code.hash(self.keys.current(), &owner)),
            self.settings.email_ttl,
        )
        .indexed_under(code_index(self.keys.current(), member, &code));
        self.tokens.issue_grant(&owner, &grant, None).await?;
        let minutes = i64::try_from(self.settings.email_ttl.as_secs() / 60)
            .unwrap_or(i64::MAX)
            .max(1);
        let entry = ResetEntry {
            login_id: member.login_id.as_str().to_owned(),
            link: self.link(&token),
            code: code.expose().to_owned(),
        };
        let mail = reset_mail(ctx.lang, member.email.as_str(), &[entry], minutes);
        let meta = MailMeta {
            site: member.site_id.clone(),
            member: Some(member.id.clone()),
            kind: MailKind::ResetRequested,
            grants: vec![(owner, grant.id)],
        };
        self.outbox.enqueue(&meta, &mail).await?;
        self.mail_wake.notify_one();
        Ok(())
    }
}
