//! A deadline on every hot-path database call (members, passwords, outbox, audit): a decorator, so
//! a database that stops answering turns into `StoreError::Unavailable` after DB_TIMEOUT_MS
//! instead of a hang.
use std::{future::Future, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::{
        audit::{AuditEvent, RecordedEvent},
        email::Email,
        keyed_hash::{CiHash, StoredCiHash},
        login_id::LoginId,
        member::{JoinType, Member, MemberId, StoredHash},
        member_filter::MemberFilter,
        opaque_token::TokenHash,
        recovery_code::RecoveryCodeHash,
        site::{Site, SiteId},
    },
    recovery::ports::{
        AuditLog, ChangeReports, ClaimedReset, DeliveryQueue, HandedOffReset, HealthCheck, IdentityLookup,
        KeyedMail, MailMeta, MailOutbox, MemberBatchLookup, MemberById, MemberLookup, NewEndpoint,
        NewRecoveryCodeSet, OutgoingMail, PasswordChange, PasswordStore, QueueClaim, Queued,
        RecoveryCodeStore, RecoveryCodeUse, ResetQueue, Settled, SiteDirectory, StoreError,
        StoredRecoveryCode, WebhookEndpoint, WebhookEndpoints,
        provisioning::{MemberPage, MemberUpdate, ProvisionedMember, ProvisioningStore},
    },
};

/// Wraps a store so each call has a deadline.
pub struct Timed<S> {
    inner: S,
    limit: Duration,
}

impl<S> Timed<S> {
    pub fn new(inner: S, limit: Duration) -> Self {
        Timed { inner, limit }
    }

    async fn run<T>(&self, call: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        within(self.limit, call).await
    }
}

/// `call`, or `StoreError::Unavailable` once `limit` has passed.
async fn within<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable("database call timed out".into())))
}

#[async_trait]
impl<S: MemberLookup> MemberLookup for Timed<S> {
    async fn find_by_login_id(
        &self,
        site: &SiteId,
        login_id: &LoginId,
    ) -> Result<Option<Member>, StoreError> {
        self.run(self.inner.find_by_login_id(site, login_id)).await
    }
    async fn find_by_email(&self, site: &SiteId, email: &Email) -> Result<Vec<Member>, StoreError> {
        self.run(self.inner.find_by_email(site, email)).await
    }
}

#[async_trait]
impl<S: MemberBatchLookup> MemberBatchLookup for Timed<S> {
    async fn find_by_emails(&self, site: &SiteId, emails: &[Email]) -> Result<Vec<Member>, StoreError> {
        self.run(self.inner.find_by_emails(site, emails)).await
    }
    async fn find_by_login_ids(
        &self,
        site: &SiteId,
        login_ids: &[LoginId],
    ) -> Result<Vec<Member>, StoreError> {
        self.run(self.inner.find_by_login_ids(site, login_ids)).await
    }
    async fn idle(&self) {
        self.inner.idle().await
    }
}

#[async_trait]
impl<S: IdentityLookup> IdentityLookup for Timed<S> {
    async fn find_by_identity(
        &self,
        site: &SiteId,
        cis: &[CiHash],
        join_type: JoinType,
    ) -> Result<Vec<Member>, StoreError> {
        self.run(self.inner.find_by_identity(site, cis, join_type)).await
    }
    async fn move_identity(
        &self,
        member: &MemberId,
        from: &StoredCiHash,
        to: &StoredCiHash,
    ) -> Result<bool, StoreError> {
        self.run(self.inner.move_identity(member, from, to)).await
    }
}

#[async_trait]
impl<S: MemberById> MemberById for Timed<S> {
    async fn find_by_id(&self, id: &MemberId) -> Result<Option<Member>, StoreError> {
        self.run(self.inner.find_by_id(id)).await
    }
}

#[async_trait]
impl<S: SiteDirectory> SiteDirectory for Timed<S> {
    async fn find_site(&self, site: &SiteId) -> Result<Option<Site>, StoreError> {
        self.run(self.inner.find_site(site)).await
    }
}

#[async_trait]
impl<S: PasswordStore> PasswordStore for Timed<S> {
    async fn password_history(&self, id: &MemberId) -> Result<Vec<StoredHash>, StoreError> {
        self.run(self.inner.password_history(id)).await
    }
    async fn apply_password_change(&self, change: PasswordChange) -> Result<Option<Member>, StoreError> {
        self.run(self.inner.apply_password_change(change)).await
    }
    async fn upgrade_hash(
        &self,
        id: &MemberId,
        old: &StoredHash,
        new: &StoredHash,
    ) -> Result<(), StoreError> {
        self.run(self.inner.upgrade_hash(id, old, new)).await
    }
}

#[async_trait]
impl<S: ChangeReports> ChangeReports for Timed<S> {
    async fn report_change(
        &self,
        token: &TokenHash,
        client: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<Member>, StoreError> {
        self.run(self.inner.report_change(token, client, now)).await
    }
}

#[async_trait]
impl<S: HealthCheck> HealthCheck for Timed<S> {
    async fn ping(&self) -> Result<(), StoreError> {
        self.run(self.inner.ping()).await
    }
}

#[async_trait]
impl<M: Queued, S: DeliveryQueue<M>> DeliveryQueue<M> for Timed<S> {
    async fn claim_due(&self, limit: u64, lease: Duration, lapsed: bool) -> Result<Vec<M>, StoreError> {
        self.run(self.inner.claim_due(limit, lease, lapsed)).await
    }
    async fn settle(&self, settled: &[Settled], events: &[AuditEvent]) -> Result<(), StoreError> {
        self.run(self.inner.settle(settled, events)).await
    }
    async fn release(&self, claims: &[QueueClaim]) -> Result<(), StoreError> {
        self.run(self.inner.release(claims)).await
    }
    async fn prune(
        &self,
        sent_before: DateTime<Utc>,
        failed_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, StoreError> {
        self.run(self.inner.prune(sent_before, failed_before, limit))
            .await
    }
}

#[async_trait]
impl<S: MailOutbox> MailOutbox for Timed<S> {
    async fn enqueue(&self, meta: &MailMeta, mail: &OutgoingMail) -> Result<(), StoreError> {
        self.run(self.inner.enqueue(meta, mail)).await
    }
    async fn enqueue_resolved(&self, mails: &[KeyedMail], events: &[AuditEvent]) -> Result<(), StoreError> {
        self.run(self.inner.enqueue_resolved(mails, events)).await
    }
}

#[async_trait]
impl<S: WebhookEndpoints> WebhookEndpoints for Timed<S> {
    async fn add_endpoint(
        &self,
        id: &str,
        endpoint: &NewEndpoint,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.run(self.inner.add_endpoint(id, endpoint, now)).await
    }
    async fn configure_endpoint(
        &self,
        endpoint: Option<&NewEndpoint>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.run(self.inner.configure_endpoint(endpoint, now)).await
    }
    async fn list_endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.run(self.inner.list_endpoints()).await
    }
    async fn remove_endpoint(&self, id: &str) -> Result<bool, StoreError> {
        self.run(self.inner.remove_endpoint(id)).await
    }
    async fn disable_endpoint(&self, id: &str, reason: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.run(self.inner.disable_endpoint(id, reason, now)).await
    }
}

#[async_trait]
impl<S: ResetQueue> ResetQueue for Timed<S> {
    async fn hand_off(&self, request: &HandedOffReset) -> Result<(), StoreError> {
        self.run(self.inner.hand_off(request)).await
    }
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<ClaimedReset>, StoreError> {
        self.run(self.inner.claim(limit, lease)).await
    }
    async fn acknowledge(&self, ids: &[String]) -> Result<(), StoreError> {
        self.run(self.inner.acknowledge(ids)).await
    }
    async fn backlog(&self) -> Result<u64, StoreError> {
        self.run(self.inner.backlog()).await
    }
}

#[async_trait]
impl<S: AuditLog> AuditLog for Timed<S> {
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        self.run(self.inner.record(event)).await
    }
    async fn member_events(
        &self,
        member: &MemberId,
        identifiers: &[String],
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.run(self.inner.member_events(member, identifiers, before, limit))
            .await
    }
    async fn prune(&self, before: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        self.run(self.inner.prune(before, limit)).await
    }
}

#[async_trait]
impl<S: RecoveryCodeStore> RecoveryCodeStore for Timed<S> {
    async fn replace_set(&self, set: NewRecoveryCodeSet) -> Result<(), StoreError> {
        self.run(self.inner.replace_set(set)).await
    }
    async fn find_unspent(
        &self,
        codes: &[RecoveryCodeHash],
    ) -> Result<Option<StoredRecoveryCode>, StoreError> {
        self.run(self.inner.find_unspent(codes)).await
    }
    async fn spend(&self, used: RecoveryCodeUse) -> Result<bool, StoreError> {
        self.run(self.inner.spend(used)).await
    }
    async fn codes_left(&self, member: &MemberId) -> Result<u32, StoreError> {
        self.run(self.inner.codes_left(member)).await
    }
}

#[async_trait]
impl<S: ProvisioningStore> ProvisioningStore for Timed<S> {
    async fn find_provisioned(
        &self,
        site: &SiteId,
        id: &MemberId,
    ) -> Result<Option<ProvisionedMember>, StoreError> {
        self.run(self.inner.find_provisioned(site, id)).await
    }
    async fn search(
        &self,
        site: &SiteId,
        filter: Option<&MemberFilter>,
        offset: u64,
        limit: u64,
    ) -> Result<MemberPage, StoreError> {
        self.run(self.inner.search(site, filter, offset, limit)).await
    }
    async fn create(
        &self,
        member: &crate::recovery::ports::NewMember,
        external_id: Option<&str>,
        audit: AuditEvent,
    ) -> Result<ProvisionedMember, StoreError> {
        self.run(self.inner.create(member, external_id, audit)).await
    }
    async fn update(
        &self,
        id: &MemberId,
        revision: i64,
        update: &MemberUpdate,
        audit: AuditEvent,
    ) -> Result<Option<ProvisionedMember>, StoreError> {
        self.run(self.inner.update(id, revision, update, audit)).await
    }
    async fn withdraw(
        &self,
        id: &MemberId,
        revision: i64,
        now: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<Option<ProvisionedMember>, StoreError> {
        self.run(self.inner.withdraw(id, revision, now, audit)).await
    }
}
