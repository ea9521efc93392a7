//! Finding a forgotten login ID (by e-mail or identity) and checking that a login ID exists.
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::{
    domain::{
        email::Email,
        identity_assertion::AssertionPurpose,
        identity_proof::IdentityProof,
        login_id::LoginId,
        masking::{mask_email, mask_login_id},
        member::{JoinType, Member, MemberStatus, MemberType},
        {keyed_hash::Ci, keyring::Keyring},
    },
    recovery::{
        context::RequestContext,
        errors::RecoveryError,
        identity_keys::move_to_current_key,
        identity_proof::{IdentityProofs, Unverified},
        ports::{IdentityLookup, MemberLookup},
        rate_limits::{Operation, RateLimits, target},
    },
};

/// An account shown to someone who forgot their login ID: never the ID in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundAccount {
    pub masked_login_id: String,
    pub member_type: MemberType,
    pub joined_at: DateTime<Utc>,
    /// Only on the identity path: the caller has just proven who they are.
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginIdCheck {
    pub exists: bool,
    pub member_type: Option<MemberType>,
    pub can_reset_password: bool,
    pub masked_email: Option<String>,
}

#[derive(Clone)]
pub struct FindId {
    /// Batched under load: these are the light queries.
    store: Arc<dyn MemberLookup>,
    identities: Arc<dyn IdentityLookup>,
    keys: Keyring,
    rate_limits: RateLimits,
    proofs: IdentityProofs,
}

/// Withdrawn members are gone as far as recovery is concerned.
fn visible(member: &Member) -> bool {
    member.status != MemberStatus::Withdrawn
}

impl FindId {
    pub fn new(
        store: Arc<dyn MemberLookup>,
        identities: Arc<dyn IdentityLookup>,
        keys: Keyring,
        rate_limits: RateLimits,
        proofs: IdentityProofs,
    ) -> Self {
        FindId {
            store,
            identities,
            keys,
            rate_limits,
            proofs,
        }
    }

    /// Every account of that e-mail on the site (empty when none).
    #[tracing::instrument(skip_all, fields(site = %ctx.site, op = "find_id_by_email"))]
    pub async fn by_email(
        &self,
        ctx: &RequestContext,
        email: &Email,
    ) -> Result<Vec<FoundAccount>, RecoveryError> {
        self.rate_limits
            .admit(Operation::FindId, ctx, Some(target::email(&ctx.site, email)))
            .await?;
        let members = self.store.find_by_email(&ctx.site, email).await?;
        Ok(members
            .iter()
            .filter(|m| visible(m))
            .map(|m| found(m, false))
            .collect())
    }

    /// Every account of a raw identity value on the site (development only: `IDENTITY_RAW_CI`).
    #[tracing::instrument(skip_all, fields(site = %ctx.site, op = "find_id_by_identity"))]
    pub async fn by_identity(
        &self,
        ctx: &RequestContext,
        ci: &Ci,
        join_type: JoinType,
    ) -> Result<Result<Vec<FoundAccount>, Unverified>, RecoveryError> {
        if let Err(refused) = self.proofs.allow_raw_ci(ctx).await {
            self.rate_limits.admit(Operation::FindId, ctx, None).await?;
            return Ok(Err(refused));
        }
        Ok(Ok(self.by_proven_identity(ctx, ci, join_type).await?))
    }

    /// Every account of the identity a proof shows (spent on success).
    #[tracing::instrument(skip_all, fields(site = %ctx.site, op = "find_id_by_verified_identity"))]
    pub async fn by_verified_identity(
        &self,
        ctx: &RequestContext,
        proof: &IdentityProof,
    ) -> Result<Result<Vec<FoundAccount>, Unverified>, RecoveryError> {
        let identity = match self.proofs.verify(ctx, proof, AssertionPurpose::FindId).await? {
            Ok(identity) => identity,
            Err(refused) => {
                // A refused proof still counts against the client.
                self.rate_limits.admit(Operation::FindId, ctx, None).await?;
                return Ok(Err(refused));
            }
        };
        // Both proofs give a join type for this purpose (the claim rules require one).
        let join_type = identity.join_type.unwrap_or(JoinType::Citizen);
        Ok(Ok(self.by_proven_identity(ctx, &identity.ci, join_type).await?))
    }

    /// Every account of an identity whose proof passed, with the member's name.
    async fn by_proven_identity(
        &self,
        ctx: &RequestContext,
        ci: &Ci,
        join_type: JoinType,
    ) -> Result<Vec<FoundAccount>, RecoveryError> {
        let hashes = self.keys.identity_hashes(ci);
        // Only the keyed hash of the identity value stands for it in counters.
        let counted = &hashes.current().hash;
        self.rate_limits
            .admit(
                Operation::FindId,
                ctx,
                Some(target::identity(&ctx.site, &counted.0)),
            )
            .await?;
        let members: Vec<Member> = self
            .identities
            .find_by_identity(&ctx.site, &hashes.all(), join_type)
            .await?
            .into_iter()
            .filter(|m| m.ci_hash.as_ref().is_some_and(|stored| hashes.matches(stored)))
            .collect();
        for member in &members {
            move_to_current_key(self.identities.as_ref(), member, &hashes).await;
        }
        Ok(members
            .iter()
            .filter(|m| visible(m))
            .map(|m| found(m, true))
            .collect())
    }

    #[tracing::instrument(skip_all, fields(site = %ctx.site, op = "check_login_id"))]
    pub async fn check_login_id(
        &self,
        ctx: &RequestContext,
        login_id: &LoginId,
    ) -> Result<LoginIdCheck, RecoveryError> {
        self.rate_limits
            .admit(
                Operation::CheckLoginId,
                ctx,
                Some(target::login(&ctx.site, login_id)),
            )
            .await?;
        let member = self.store.find_by_login_id(&ctx.site, login_id).await?;
        Ok(match member.filter(visible) {
            Some(m) => LoginIdCheck {
                exists: true,
                member_type: Some(m.member_type),
                can_reset_password: m.can_reset_password(),
                masked_email: Some(mask_email(m.email.as_str())),
            },
            None => LoginIdCheck {
                exists: false,
                member_type: None,
                can_reset_password: false,
                masked_email: None,
            },
        })
    }
}

fn found(member: &Member, with_name: bool) -> FoundAccount {
    FoundAccount {
        masked_login_id: mask_login_id(member.login_id.as_str()),
        member_type: member.member_type,
        joined_at: member.joined_at,
        name: with_name.then(|| member.name.clone()),
    }
}
