//! The "your password was changed" notice that a reset and a change both send: when, from which
//! masked network, and a "that wasn't me" link with a single-use token of its own.
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{
    domain::{change_report::ReportToken, mail_kind::MailKind, masking::mask_client_address, member::Member},
    recovery::{
        context::RequestContext,
        mail_templates::{ChangeNotice, password_changed_mail, token_link},
        ports::{MailMeta, NewChangeReport, OutgoingMail},
    },
};

/// Where "that wasn't me" links point and how long their tokens live (from settings).
#[derive(Debug, Clone)]
pub struct ChangeNotices {
    /// `PUBLIC_RESET_URL`: the page reads `#report=…` and asks before acting (mail scanners
    /// follow links).
    pub public_reset_url: url::Url,
    pub report_ttl: Duration,
}

impl ChangeNotices {
    /// The notice of a password change of `member` made by the request `ctx` at `at`, with the
    /// report token to store in the same transaction.
    pub fn notice(
        &self,
        ctx: &RequestContext,
        member: &Member,
        at: DateTime<Utc>,
    ) -> ((MailMeta, OutgoingMail), NewChangeReport) {
        let (link, report) = self.report_link(at);
        let network = ctx.client_text().as_deref().and_then(mask_client_address);
        let mail = password_changed_mail(
            ctx.lang,
            member.email.as_str(),
            &ChangeNotice {
                login_id: member.login_id.as_str(),
                at,
                from_network: network.as_deref(),
                report_link: link.as_str(),
                report_days: self.report_days(),
            },
        );
        let meta = MailMeta {
            site: member.site_id.clone(),
            member: Some(member.id.clone()),
            kind: MailKind::PasswordChanged,
            grants: Vec::new(),
        };
        ((meta, mail), report)
    }

    /// A fresh "that wasn't me" link, and its token to store with the mail that carries it.
    pub fn report_link(&self, at: DateTime<Utc>) -> (String, NewChangeReport) {
        let token = ReportToken::generate();
        let link = token_link(&self.public_reset_url, "report", token.expose());
        let report = NewChangeReport {
            token: token.hash(),
            expires_at: at + self.report_ttl,
        };
        (link, report)
    }

    /// How many days a report link works, as the mails say.
    pub fn report_days(&self) -> u64 {
        (self.report_ttl.as_secs() / 86_400).max(1)
    }
}
