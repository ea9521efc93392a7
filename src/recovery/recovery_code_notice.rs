//! The notice mailed when a member's recovery codes are generated or one is used: shared by the
//! generation use case and the reset that spends a code.
use chrono::{DateTime, Utc};

use crate::{
    domain::{mail_kind::MailKind, masking::mask_client_address, member::Member},
    recovery::{
        context::RequestContext,
        mail_templates::{RecoveryCodeEvent, RecoveryCodeNotice, recovery_codes_mail},
        ports::{MailMeta, OutgoingMail},
    },
};

/// The notice of `event` on `member`'s recovery codes, made by the request `ctx` at `at`, with
/// the "that wasn't me" link of a new set.
pub fn recovery_code_notice(
    ctx: &RequestContext,
    member: &Member,
    event: RecoveryCodeEvent,
    at: DateTime<Utc>,
    report: Option<(&str, u64)>,
) -> (MailMeta, OutgoingMail) {
    let network = ctx.client_text().as_deref().and_then(mask_client_address);
    let mail = recovery_codes_mail(
        ctx.lang,
        member.email.as_str(),
        &RecoveryCodeNotice {
            login_id: member.login_id.as_str(),
            event,
            at,
            from_network: network.as_deref(),
            report,
        },
    );
    let meta = MailMeta {
        site: member.site_id.clone(),
        member: Some(member.id.clone()),
        kind: MailKind::RecoveryCodes,
        grants: Vec::new(),
    };
    (meta, mail)
}
