//! Saved recovery codes (NIST SP 800-63B-4) for a member who loses the mailbox: generated only
//! after the password is typed again (reauthenticate), at most 3 sets a day per member
//! (RATE_LIMITS `recoveryCodeSets.id`), shown once, stored as keyed hashes, the whole set replaced
//! each time; a "that wasn't me" report revokes them.
//! Spending one is part of the reset (password_reset/recovery_code.rs).
use std::sync::Arc;

use crate::recovery::delivery::DeliveryWake;

use crate::{
    domain::{
        audit::{AuditEvent, AuditKind, AuditOutcome},
        grant::IdentifierKey,
        keyring::Keyring,
        member::{MemberId, MemberType},
        recovery_code::RecoveryCode,
        session::SessionInfo,
    },
    recovery::{
        change_notice::ChangeNotices,
        context::RequestContext,
        errors::RecoveryError,
        mail_templates::RecoveryCodeEvent,
        ports::{NewRecoveryCodeSet, RecoveryCodeStore},
        rate_limits::{Operation, RateLimits, target},
        recovery_code_notice::recovery_code_notice,
        signed_in::SignedIn,
    },
};

#[derive(Debug)]
pub enum GenerateOutcome {
    /// The new set, to show once; every earlier code is dead.
    Generated(Vec<RecoveryCode>),
    /// The session is not reauthenticated (nor is the account one that may have codes now).
    NotEligible,
    /// A social account has no password to recover.
    SocialAccount,
}

#[derive(Clone)]
pub struct RecoveryCodes {
    pub(crate) signed_in: SignedIn,
    pub(crate) codes: Arc<dyn RecoveryCodeStore>,
    pub(crate) keys: Keyring,
    pub(crate) mail_wake: Arc<DeliveryWake>,
    pub(crate) rate_limits: RateLimits,
    pub(crate) notices: ChangeNotices,
}

impl RecoveryCodes {
    /// Generates a new set for the signed-in member, replacing the old one; the notice and the
    /// RECOVERY_CODES_GENERATED event are written with it, in one transaction.
    #[tracing::instrument(skip_all, fields(site = %ctx.site, op = "generate_recovery_codes"))]
    pub async fn generate(
        &self,
        ctx: &RequestContext,
        session: &SessionInfo,
    ) -> Result<GenerateOutcome, RecoveryError> {
        let now = ctx.now;
        // The password typed again within ELEVATION_SECS: whoever holds only a stolen bearer token
        // must not mint a way around the mailbox, and the first sign-in after a reset (which an
        // intruder who reset the password also has) is not enough.
        if !session.is_reauthenticated(now) {
            return Ok(GenerateOutcome::NotEligible);
        }
        let Some((member, _)) = self.signed_in.member(session).await? else {
            return Ok(GenerateOutcome::NotEligible);
        };
        if member.member_type == MemberType::Social || member.password_hash.is_none() {
            return Ok(GenerateOutcome::SocialAccount);
        }
        self.rate_limits
            .admit(
                Operation::RecoveryCodeSets,
                ctx,
                Some(target::member(&member.site_id, &member.id)),
            )
            .await?;
        let codes = RecoveryCode::generate_set();
        // Each set's notice has a report link of its own: the owner who did not make the set
        // revokes it (and signs the maker out) from the mail.
        let (report_link, report) = self.notices.report_link(now);
        let report_days = self.notices.report_days();
        let login = IdentifierKey::login(&member.site_id, &member.login_id);
        let current = self.keys.current();
        self.codes
            .replace_set(NewRecoveryCodeSet {
                site: member.site_id.clone(),
                member: member.id.clone(),
                codes: codes.iter().map(|c| c.hash(current, &login)).collect(),
                key: self.keys.current_id().clone(),
                notice: recovery_code_notice(
                    ctx,
                    &member,
                    RecoveryCodeEvent::Generated,
                    now,
                    Some((&report_link, report_days)),
                ),
                report,
                audit: AuditEvent {
                    site: member.site_id.clone(),
                    member: Some(member.id.clone()),
                    kind: AuditKind::RecoveryCodesGenerated,
                    outcome: AuditOutcome::Ok,
                    client: ctx.client_text(),
                    identifier: None,
                },
            })
            .await?;
        self.mail_wake.notify_one();
        Ok(GenerateOutcome::Generated(codes))
    }

    /// How many unspent codes the member has.
    pub async fn left(&self, member: &MemberId) -> Result<u32, RecoveryError> {
        Ok(self.codes.codes_left(member).await?)
    }
}
