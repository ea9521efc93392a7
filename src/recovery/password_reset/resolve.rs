//! Resolving a claimed batch of handed-off reset requests into grants, mail and audit rows.
use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use super::{PasswordReset, code_index, owner_of};
use crate::{
    domain::{
        audit::{AuditEvent, AuditKind, AuditOutcome},
        email::Email,
        grant::{GrantOwner, GrantPurpose, IssueOutcome, NewGrant, ResetToken},
        mail_kind::MailKind,
        member::Member,
        site::SiteId,
    },
    recovery::{
        errors::RecoveryError,
        mail_templates::{ResetEntry, reset_mail, token_link},
        ports::{ClaimedReset, HandedOffReset, KeyedMail, MailMeta, ResetTarget},
        rate_limits::Operation,
    },
};

/// How many requests of a batch are resolved side by side.
const RESOLVE_LANES: usize = 16;

/// The lane of a request: by site and address, the one thing every member it reaches shares.
fn lane_of(request: &HandedOffReset) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    request.site.as_str().hash(&mut hasher);
    request.target.email().as_str().hash(&mut hasher);
    (hasher.finish() % RESOLVE_LANES as u64) as usize
}

/// What one batch produces, written in one transaction.
#[derive(Default)]
struct Resolved {
    mails: Vec<KeyedMail>,
    events: Vec<AuditEvent>,
}

impl Resolved {
    fn note(&mut self, request: &HandedOffReset, member: Option<&Member>, outcome: AuditOutcome) {
        self.events.push(AuditEvent {
            site: request.site.clone(),
            member: member.map(|m| m.id.clone()),
            kind: AuditKind::ResetRequested,
            outcome,
            client: request.client.clone(),
            identifier: None,
        });
    }
}

impl PasswordReset {
    pub(super) fn link(&self, token: &ResetToken) -> String {
        token_link(&self.settings.public_reset_url, "token", token.expose())
    }

    /// Claims and resolves batches until none is left; returns how many requests were resolved.
    pub async fn resolve_pending(&self, batch: usize, lease: Duration) -> Result<usize, RecoveryError> {
        let mut count = 0;
        loop {
            let resolved = self.resolve_next(batch, lease).await?;
            if resolved == 0 {
                return Ok(count);
            }
            count += resolved;
        }
    }

    /// Claims up to `batch` handed-off requests for `lease` and resolves them; returns how many.
    pub async fn resolve_next(&self, batch: usize, lease: Duration) -> Result<usize, RecoveryError> {
        let claimed = self.queue.claim(batch, lease).await?;
        if !claimed.is_empty() {
            self.resolve_batch(&claimed).await?;
        }
        Ok(claimed.len())
    }

    /// Returns once a request has been handed off on this instance since the last call.
    pub async fn handed_off(&self) {
        self.resolve_wake.notified().await;
    }

    /// One member lookup per site and path, the rules of the e-mail paths per request, then the
    /// batch's mail and audit rows in one transaction and its acknowledgement. Ids, tokens, codes and
    /// mail key derive from each request's nonce, so a batch resolved again mails nothing twice.
    #[tracing::instrument(skip_all, fields(requests = claimed.len()))]
    pub async fn resolve_batch(&self, claimed: &[ClaimedReset]) -> Result<(), RecoveryError> {
        let (by_email, by_login) = self.look_up(claimed).await?;
        let members_of = |request: &HandedOffReset| -> Vec<Member> {
            match &request.target {
                ResetTarget::Email(email) => by_email
                    .get(&(request.site.clone(), email.clone()))
                    .cloned()
                    .unwrap_or_default(),
                ResetTarget::Account { login_id, email } => by_login
                    .get(&(request.site.clone(), login_id.normalized()))
                    .filter(|m| m.email == *email)
                    .cloned()
                    .into_iter()
                    .collect(),
            }
        };
        // The token store's round trips dominate, so requests run in lanes side by side; a lane per
        // address keeps the requests about one member in order (cooldown and budget decided as if
        // one at a time), and the parts are joined back in the batch's order.
        let mut lanes: Vec<Vec<usize>> = vec![Vec::new(); RESOLVE_LANES];
        for (n, entry) in claimed.iter().enumerate() {
            lanes[lane_of(&entry.request)].push(n);
        }
        let runs = lanes.into_iter().filter(|lane| !lane.is_empty()).map(|lane| {
            let members_of = &members_of;
            async move {
                let mut parts = Vec::with_capacity(lane.len());
                for n in lane {
                    let entry = &claimed[n];
                    let mut part = Resolved::default();
                    self.resolve_one(entry, members_of(&entry.request), &mut part)
                        .await?;
                    parts.push((n, part));
                }
                Ok::<_, RecoveryError>(parts)
            }
        });
        let mut parts: Vec<(usize, Resolved)> = futures_util::future::try_join_all(runs)
            .await?
            .into_iter()
            .flatten()
            .collect();
        parts.sort_by_key(|(n, _)| *n);
        let mut resolved = Resolved::default();
        for (_, part) in parts {
            resolved.mails.extend(part.mails);
            resolved.events.extend(part.events);
        }
        self.outbox
            .enqueue_resolved(&resolved.mails, &resolved.events)
            .await?;
        if !resolved.mails.is_empty() {
            self.mail_wake.notify_one();
        }
        let ids: Vec<String> = claimed.iter().map(|c| c.id.clone()).collect();
        self.queue.acknowledge(&ids).await?;
        metrics::counter!("reset_requests_resolved_total").increment(claimed.len() as u64);
        Ok(())
    }

    /// The members a batch names: one query per site for its addresses, one for its login IDs.
    #[allow(clippy::type_complexity)]
    async fn look_up(
        &self,
        claimed: &[ClaimedReset],
    ) -> Result<
        (
            HashMap<(SiteId, Email), Vec<Member>>,
            HashMap<(SiteId, String), Member>,
        ),
        RecoveryError,
    > {
        let mut emails: BTreeMap<&str, (SiteId, Vec<Email>)> = BTreeMap::new();
        let mut logins: BTreeMap<&str, (SiteId, Vec<crate::domain::login_id::LoginId>)> = BTreeMap::new();
        for entry in claimed {
            let site = &entry.request.site;
            match &entry.request.target {
                ResetTarget::Email(email) => emails
                    .entry(site.as_str())
                    .or_insert_with(|| (site.clone(), Vec::new()))
                    .1
                    .push(email.clone()),
                ResetTarget::Account { login_id, .. } => logins
                    .entry(site.as_str())
                    .or_insert_with(|| (site.clone(), Vec::new()))
                    .1
                    .push(login_id.clone()),
            }
        }
        let mut by_email: HashMap<(SiteId, Email), Vec<Member>> = HashMap::new();
        for (site, mut list) in emails.into_values() {
            list.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            list.dedup();
            // Oldest first from the store, so each address's accounts keep that order.
            for member in self.member_batches.find_by_emails(&site, &list).await? {
                by_email
                    .entry((site.clone(), member.email.clone()))
                    .or_default()
                    .push(member);
            }
        }
        let mut by_login = HashMap::new();
        for (site, mut list) in logins.into_values() {
            list.sort_by_key(|l| l.normalized());
            list.dedup_by_key(|l| l.normalized());
            for member in self.member_batches.find_by_login_ids(&site, &list).await? {
                by_login.insert((site.clone(), member.login_id.normalized()), member);
            }
        }
        Ok((by_email, by_login))
    }

    /// One request: a grant for each eligible account that is neither cooling down nor out of mail
    /// budget, and one mail listing them.
    async fn resolve_one(
        &self,
        entry: &ClaimedReset,
        members: Vec<Member>,
        resolved: &mut Resolved,
    ) -> Result<(), RecoveryError> {
        let request = &entry.request;
        let eligible: Vec<Member> = members.into_iter().filter(Member::can_reset_password).collect();
        if eligible.is_empty() {
            resolved.note(request, None, AuditOutcome::NoAccount);
            return Ok(());
        }
        let mut entries = Vec::new();
        let mut grants: Vec<(GrantOwner, String)> = Vec::new();
        let mut mailed = Vec::new();
        for member in eligible {
            let owner = owner_of(&member);
            let grant_id = request.nonce.grant_id(self.keys.current(), &owner);
            // A request claimed before may already have issued this grant: it is not issued (nor
            // counted) again, and its mail is queued as if for the first time.
            let already = entry.redelivered && self.tokens.grant_is_live(&owner, &grant_id).await?;
            let token = request.nonce.token(self.keys.current(), &owner);
            let code = request.nonce.code(self.keys.current(), &owner);
            // A proven request (a solved challenge, the member's own device) skips the cooldown
            // and may take the last mail of the member's hour, which strangers' requests cannot:
            // so the owner still gets a mail while strangers hold the rest of the budget.
            let proven = request.admission.is_proven();
            if !already && !proven && self.cooldowns.running(&owner, Instant::now()) {
                resolved.note(request, Some(&member), AuditOutcome::Cooldown);
                continue;
            }
            if !already {
                // However many addresses or paths ask, one member gets only so many mails; the
                // member's own device mails on its own budget.
                let budget_key = match request.admission.device_of(&owner) {
                    Some(device) => device.limit_subject(),
                    None => format!("{}:{}", member.site_id, member.id.0),
                };
                let kept = u32::from(!proven);
                if !self
                    .rate_limits
                    .has_room(Operation::ResetMailPerMember, &budget_key, kept)
                    .await?
                {
                    resolved.note(request, Some(&member), AuditOutcome::MemberLimited);
                    continue;
                }
                let grant = NewGrant {
                    id: grant_id.clone(),
                    purpose: GrantPurpose::Email,
                    token: token.hash(),
                    code: Some(code.hash(self.keys.current(), &owner)),
                    ttl: self.settings.email_ttl,
                    code_index: code_index(self.keys.current(), &member, &code),
                };
                let asked_at = Instant::now();
                match self
                    .tokens
                    .issue_grant(&owner, &grant, (!proven).then_some(self.settings.cooldown))
                    .await?
                {
                    IssueOutcome::Issued => {
                        // A request claimed again may find its grant issued by another resolver,
                        // whose cooldown started earlier: only a first claim's issue is noted.
                        if !entry.redelivered {
                            self.cooldowns.started(&owner, asked_at, self.settings.cooldown);
                        }
                        self.rate_limits
                            .spend(Operation::ResetMailPerMember, &budget_key)
                            .await?;
                    }
                    IssueOutcome::CoolingDown => {
                        resolved.note(request, Some(&member), AuditOutcome::Cooldown);
                        continue;
                    }
                }
            }
            entries.push(ResetEntry {
                login_id: member.login_id.as_str().to_owned(),
                link: self.link(&token),
                code: code.expose().to_owned(),
            });
            grants.push((owner, grant_id));
            mailed.push(member);
        }
        if entries.is_empty() {
            return Ok(());
        }
        let minutes = i64::try_from(self.settings.email_ttl.as_secs() / 60)
            .unwrap_or(i64::MAX)
            .max(1);
        let email = request.target.email();
        let mail = reset_mail(request.lang, email.as_str(), &entries, minutes);
        let meta = MailMeta {
            site: request.site.clone(),
            member: (mailed.len() == 1).then(|| mailed[0].id.clone()),
            kind: MailKind::ResetRequested,
            grants,
        };
        resolved.mails.push(KeyedMail {
            key: request.nonce.mail_key(self.keys.current()),
            meta,
            mail,
        });
        for member in &mailed {
            resolved.note(request, Some(member), AuditOutcome::MailQueued);
        }
        Ok(())
    }
}
