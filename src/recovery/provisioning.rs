//! SCIM provisioning: the host creates, reads, searches, replaces and withdraws its members. New
//! and changed members pass every rule of member creation (`MemberAdmin`), under the site's
//! password policy; a write applies only to the revision the host read; every change is audited;
//! a withdrawal also ends every session, grant, recovery code and device of the member.
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::{
    domain::{
        audit::{AuditEvent, AuditKind, AuditOutcome},
        grant::GrantOwner,
        member::{MemberId, MemberStatus},
        member_filter::MemberFilter,
    },
    recovery::{
        context::RequestContext,
        delivery::DeliveryWake,
        errors::RecoveryError,
        member_drafts::DraftProblem,
        members::{AdminError, InitialPassword, MemberAdmin, MemberDraft},
        ports::{
            MemberPage, MemberUpdate, ProvisionedMember, ProvisioningStore, SessionStore, StoreError,
            TokenStore,
        },
        rate_limits::{Operation, RateLimits},
        site_policy::SitePolicies,
    },
};

/// The largest page a search returns, whatever `count` asks for.
pub const MAX_PAGE: u64 = 200;

/// What the host sends for a member: the fields of a new one, or the whole new state of one (a
/// replacement, or a read state with PATCH operations applied). Raw strings, parsed here by the
/// rules of member creation.
#[derive(Debug, Clone, Default)]
pub struct MemberState {
    pub login_id: String,
    pub email: String,
    pub name: Option<String>,
    pub external_id: Option<String>,
    /// `false` takes an active member out of recovery (LOCKED); `true` makes it ACTIVE again.
    pub active: Option<bool>,
    pub member_type: Option<String>,
    pub join_type: Option<String>,
    /// Write-only: the identity value, stored as its keyed hash.
    pub ci: Option<Secret>,
    /// Write-only: a new password under the site's policy.
    pub password: Option<Secret>,
    /// Write-only: an argon2 PHC or bcrypt hash from the host's own member system.
    pub password_hash: Option<Secret>,
}

/// A write-only value: never printed.
#[derive(Clone, Default)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    /// A value breaks a rule: the field as member drafts name it (`loginId`, `password`, …).
    #[error("{0}")]
    Invalid(DraftProblem),
    /// The site already has the login ID.
    #[error("the login ID is already taken on this site")]
    Taken,
    /// No member of the site has that id, or it was withdrawn.
    #[error("no such member")]
    NotFound,
    /// The member changed since the version the host named.
    #[error("the member changed since that version")]
    VersionMismatch,
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
}

impl From<StoreError> for ProvisioningError {
    fn from(e: StoreError) -> Self {
        match e {
            // The store's message may quote the key; the host learns only what it sent.
            StoreError::Conflict(_) => ProvisioningError::Taken,
            other => ProvisioningError::Recovery(other.into()),
        }
    }
}

impl From<AdminError> for ProvisioningError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Draft(problem) => ProvisioningError::Invalid(problem),
            AdminError::Taken { .. } => ProvisioningError::Taken,
            // Mixing scripts or looking like another member's: the value is refused, named.
            AdminError::LoginId(reason) => ProvisioningError::Invalid(DraftProblem {
                field: "loginId",
                message: reason.to_string(),
            }),
            AdminError::Recovery(e) => ProvisioningError::Recovery(e),
            other => ProvisioningError::Recovery(RecoveryError::Internal(other.to_string())),
        }
    }
}

/// The version of a member's provisioned state: its revision, bumped by every provisioning write.
/// Nothing else changes what the host sees (a reset changes only the write-only password).
pub fn version_of(member: &ProvisionedMember) -> String {
    member.revision.to_string()
}

#[derive(Clone)]
pub struct Provisioning {
    pub store: Arc<dyn ProvisioningStore>,
    pub members: MemberAdmin,
    pub policies: SitePolicies,
    pub sessions: Arc<dyn SessionStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub rate_limits: RateLimits,
    /// Woken when a withdrawal queued its event, so the host hears at once.
    pub delivery_wake: Arc<DeliveryWake>,
}

impl Provisioning {
    /// The member of the request's site, unless withdrawn.
    #[tracing::instrument(skip_all, fields(op = "scim_get"))]
    pub async fn get(
        &self,
        ctx: &RequestContext,
        id: &MemberId,
    ) -> Result<ProvisionedMember, ProvisioningError> {
        self.admit(ctx).await?;
        self.current(ctx, id).await
    }

    /// One page of the site's members that match `filter` (withdrawn ones never do).
    #[tracing::instrument(skip_all, fields(op = "scim_search"))]
    pub async fn search(
        &self,
        ctx: &RequestContext,
        filter: Option<&MemberFilter>,
        offset: u64,
        count: u64,
    ) -> Result<MemberPage, ProvisioningError> {
        self.admit(ctx).await?;
        Ok(self
            .store
            .search(&ctx.site, filter, offset, count.min(MAX_PAGE))
            .await?)
    }

    /// Creates a member on the request's site.
    #[tracing::instrument(skip_all, fields(op = "scim_create"))]
    pub async fn create(
        &self,
        ctx: &RequestContext,
        state: MemberState,
    ) -> Result<ProvisionedMember, ProvisioningError> {
        self.admit(ctx).await?;
        let policy = self.policies.policy_for(&ctx.site).await?;
        let status = status_after(state.active, MemberStatus::Active);
        let external_id = checked_external_id(state.external_id.clone())?;
        let draft = draft_of(ctx, state, status, None)?;
        let member = self.members.vet(draft, &policy, ctx.now).await?;
        self.members.ensure_site(&ctx.site).await?;
        let audit = self.audit(ctx, None, AuditKind::MemberProvisioned);
        Ok(self.store.create(&member, external_id.as_deref(), audit).await?)
    }

    /// Replaces the member's state with `state` (write-only fields left out keep their value),
    /// only if the member is still at `expected` version when one is given.
    #[tracing::instrument(skip_all, fields(op = "scim_replace"))]
    pub async fn replace(
        &self,
        ctx: &RequestContext,
        id: &MemberId,
        expected: Option<&str>,
        state: MemberState,
    ) -> Result<ProvisionedMember, ProvisioningError> {
        self.admit(ctx).await?;
        let current = self.current(ctx, id).await?;
        if expected.is_some_and(|v| v != version_of(&current)) {
            return Err(ProvisioningError::VersionMismatch);
        }
        let policy = self.policies.policy_for(&ctx.site).await?;
        let status = status_after(state.active, current.member.status);
        let external_id = checked_external_id(state.external_id.clone())?;
        // Codes that cannot be empty keep theirs when the replacement leaves them out.
        let mut state = state;
        state
            .member_type
            .get_or_insert_with(|| current.member.member_type.code().to_owned());
        state
            .join_type
            .get_or_insert_with(|| current.member.join_type.code().to_owned());
        let new_password = state.password.is_some() || state.password_hash.is_some();
        let new_ci = state.ci.is_some();
        let draft = draft_of(ctx, state, status, Some(current.member.joined_at))?;
        let vetted = self.members.vet_fields(draft, &policy, ctx.now).await?;
        // A new userName is a new login ID: the same script and look-alike rules as a new member.
        self.members
            .vet_login_id_change(&ctx.site, &current.member.login_id, &vetted.login_id)
            .await?;
        let update = MemberUpdate {
            login_id: vetted.login_id,
            email: vetted.email,
            name: vetted.name,
            external_id,
            member_type: vetted.member_type,
            join_type: vetted.join_type,
            status,
            ci_hash: vetted.ci_hash.filter(|_| new_ci),
            password_hash: vetted.password_hash.filter(|_| new_password),
            history_size: policy.history_size,
            now: ctx.now,
        };
        let audit = self.audit(ctx, Some(id), AuditKind::MemberUpdated);
        self.store
            .update(id, current.revision, &update, audit)
            .await?
            .ok_or(ProvisioningError::VersionMismatch)
    }

    /// Withdraws the member (status WITHDRAWN, recovery codes deleted, in one transaction), then
    /// ends every way in they still hold; only at `expected` version when one is given.
    #[tracing::instrument(skip_all, fields(op = "scim_withdraw"))]
    pub async fn withdraw(
        &self,
        ctx: &RequestContext,
        id: &MemberId,
        expected: Option<&str>,
    ) -> Result<(), ProvisioningError> {
        self.admit(ctx).await?;
        let owner = GrantOwner {
            site: ctx.site.clone(),
            member: id.clone(),
        };
        let current = match self.store.find_provisioned(&ctx.site, id).await? {
            None => return Err(ProvisioningError::NotFound),
            // Gone for the host; but a withdrawal whose revocations failed half-way (the token
            // store down) is finished by the host's retry.
            Some(m) if m.member.status == MemberStatus::Withdrawn => {
                self.revoke_member_access(&owner).await?;
                return Err(ProvisioningError::NotFound);
            }
            Some(m) => m,
        };
        if expected.is_some_and(|v| v != version_of(&current)) {
            return Err(ProvisioningError::VersionMismatch);
        }
        let audit = self.audit(ctx, Some(id), AuditKind::MemberWithdrawn);
        self.store
            .withdraw(id, current.revision, ctx.now, audit)
            .await?
            .ok_or(ProvisioningError::VersionMismatch)?;
        self.delivery_wake.events.notify_one();
        self.revoke_member_access(&owner).await?;
        Ok(())
    }

    /// Ends every session, grant and device of a withdrawn member (their status already refuses
    /// any new one). Every way in a member can hold belongs here.
    async fn revoke_member_access(&self, owner: &GrantOwner) -> Result<(), RecoveryError> {
        self.sessions.revoke_sessions(owner, None).await?;
        self.sessions.revoke_devices(owner).await?;
        self.tokens.revoke_grants(owner).await?;
        Ok(())
    }

    async fn current(
        &self,
        ctx: &RequestContext,
        id: &MemberId,
    ) -> Result<ProvisionedMember, ProvisioningError> {
        match self.store.find_provisioned(&ctx.site, id).await? {
            Some(m) if m.member.status != MemberStatus::Withdrawn => Ok(m),
            // A withdrawn member is gone for the host (RFC 7644 §3.6: 404 after DELETE).
            _ => Err(ProvisioningError::NotFound),
        }
    }

    /// Counts the call against the client's budget and the site's (the token's).
    async fn admit(&self, ctx: &RequestContext) -> Result<(), RecoveryError> {
        let site = format!("site:{}", ctx.site);
        self.rate_limits
            .admit(Operation::Provisioning, ctx, Some(site))
            .await?;
        Ok(())
    }

    fn audit(&self, ctx: &RequestContext, member: Option<&MemberId>, kind: AuditKind) -> AuditEvent {
        AuditEvent {
            site: ctx.site.clone(),
            member: member.cloned(),
            kind,
            outcome: AuditOutcome::Ok,
            client: ctx.client_text(),
            identifier: None,
        }
    }
}

/// The status `active` asks for: `true` is ACTIVE; `false` locks an ACTIVE member (LOCKED) and
/// leaves a LOCKED or DORMANT one as it is; absent keeps the status. WITHDRAWN is DELETE's alone.
fn status_after(active: Option<bool>, current: MemberStatus) -> MemberStatus {
    match (active, current) {
        (Some(true), _) => MemberStatus::Active,
        (Some(false), MemberStatus::Active) => MemberStatus::Locked,
        (_, status) => status,
    }
}

/// The host's id: kept as sent, up to 255 characters (the column), never blank.
fn checked_external_id(raw: Option<String>) -> Result<Option<String>, ProvisioningError> {
    match raw {
        None => Ok(None),
        Some(id) if id.trim().is_empty() || id.chars().count() > 255 => {
            Err(ProvisioningError::Invalid(DraftProblem {
                field: "externalId",
                message: "externalId: must be 1 to 255 characters".into(),
            }))
        }
        Some(id) => Ok(Some(id)),
    }
}

/// The member draft of a state on the request's site: creation's rules then apply to it whole.
fn draft_of(
    ctx: &RequestContext,
    state: MemberState,
    status: MemberStatus,
    joined_at: Option<DateTime<Utc>>,
) -> Result<MemberDraft, ProvisioningError> {
    let password = match (state.password, state.password_hash) {
        (Some(_), Some(_)) => {
            return Err(ProvisioningError::Invalid(DraftProblem {
                field: "passwordHash",
                message: "give either password or passwordHash, not both".into(),
            }));
        }
        (Some(plain), None) => InitialPassword::Plain(plain.0),
        (None, Some(hash)) => InitialPassword::Hash(hash.0),
        (None, None) => InitialPassword::Later,
    };
    Ok(MemberDraft {
        site_id: Some(ctx.site.as_str().to_owned()),
        login_id: state.login_id,
        email: state.email,
        name: state.name,
        member_type: state.member_type,
        join_type: state.join_type,
        ci: state.ci.map(|c| c.0),
        password,
        joined_at,
        password_changed_at: None,
        status: Some(status.code().to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::{lang::Lang, site::SiteId};

    fn ctx() -> RequestContext {
        RequestContext {
            site: SiteId::parse("shop").unwrap(),
            lang: Lang::En,
            client: None,
            now: Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).unwrap(),
            solution: None,
            device: None,
        }
    }

    #[test]
    fn active_moves_between_active_and_locked_only() {
        use MemberStatus::*;
        for (active, current, expected) in [
            (Some(true), Locked, Active),
            (Some(true), Dormant, Active),
            (Some(false), Active, Locked),
            (Some(false), Dormant, Dormant),
            (None, Locked, Locked),
            (None, Active, Active),
        ] {
            assert_eq!(status_after(active, current), expected, "{active:?} {current:?}");
        }
    }

    #[test]
    fn a_state_becomes_a_draft_on_the_tokens_site_with_one_password_at_most() {
        let state = MemberState {
            login_id: "kim01".into(),
            email: "kim@example.com".into(),
            password_hash: Some(Secret("$2b$04$abc".into())),
            ..MemberState::default()
        };
        let joined = ctx().now - chrono::Duration::days(30);
        let draft = draft_of(&ctx(), state.clone(), MemberStatus::Locked, Some(joined)).unwrap();
        assert_eq!(draft.site_id.as_deref(), Some("shop"));
        assert_eq!(draft.status.as_deref(), Some("LOCKED"));
        assert_eq!(draft.joined_at, Some(joined));
        assert!(matches!(draft.password, InitialPassword::Hash(_)));
        let none = MemberState {
            password_hash: None,
            ..state.clone()
        };
        let later = draft_of(&ctx(), none, MemberStatus::Active, None).unwrap();
        assert!(matches!(later.password, InitialPassword::Later));
        let both = MemberState {
            password: Some(Secret("Blue-Harbor-47".into())),
            ..state
        };
        let Err(ProvisioningError::Invalid(problem)) = draft_of(&ctx(), both, MemberStatus::Active, None)
        else {
            panic!("both password and passwordHash accepted");
        };
        assert_eq!(problem.field, "passwordHash");
        assert!(!problem.message.contains("Blue-Harbor") && !problem.message.contains("$2b$"));
    }

    #[test]
    fn external_ids_are_kept_as_sent_within_bounds() {
        assert_eq!(checked_external_id(None).unwrap(), None);
        assert_eq!(
            checked_external_id(Some("Crm-1".into())).unwrap().as_deref(),
            Some("Crm-1")
        );
        for bad in [" ".to_owned(), "x".repeat(256)] {
            assert!(matches!(
                checked_external_id(Some(bad)),
                Err(ProvisioningError::Invalid(DraftProblem {
                    field: "externalId",
                    ..
                }))
            ));
        }
    }

    #[test]
    fn a_taken_login_id_never_carries_the_stores_message() {
        let e = ProvisioningError::from(StoreError::Conflict("Duplicate entry 'kim01-shop'".into()));
        assert!(matches!(e, ProvisioningError::Taken));
        assert!(!e.to_string().contains("kim01"));
        assert!(format!("{:?}", Secret("hunter2".into())) == "[redacted]");
    }
}
