//! Member administration: `member add`, the checks every new member passes (`member import`
//! streams its lines through them), `member list`, and the demo members of a fresh embedded install.
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::{
    domain::{
        email::Email,
        login_id::LoginId,
        member::{JoinType, Member, MemberId, MemberStatus, MemberType, StoredHash},
        password::Password,
        password_policy::{PasswordPolicy, PasswordRule},
        site::SiteId,
        {
            keyed_hash::{Ci, StoredCiHash},
            keyring::Keyring,
        },
    },
    recovery::{
        errors::RecoveryError,
        member_drafts::{DraftProblem, parse_code, problem},
        new_login_id::{LoginIdRefusal, NewLoginIdError, check_login_id_change, check_new_login_ids},
        ports::{HashError, MemberAdminStore, NewMember, PasswordHasher, StoreError},
    },
};

/// Longest plain password accepted on import (legacy passwords skip the policy, not this bound).
const MAX_IMPORTED_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    /// A draft field that breaks a rule of member creation (the field named, for provisioning).
    #[error("{0}")]
    Draft(DraftProblem),
    /// The site already has the login ID.
    #[error("login ID {login_id} already exists on site {site}")]
    Taken { login_id: String, site: SiteId },
    #[error("the new password breaks the policy: {0:?}")]
    Policy(Vec<PasswordRule>),
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: String },
    /// The import file could not be read.
    #[error("reading the file: {0}")]
    Read(#[from] std::io::Error),
    /// The login ID is taken, mixes scripts or looks like another member's.
    #[error("loginId: {0}")]
    LoginId(LoginIdRefusal),
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => AdminError::Invalid(m),
            other => AdminError::Recovery(other.into()),
        }
    }
}

impl From<NewLoginIdError> for AdminError {
    fn from(e: NewLoginIdError) -> Self {
        match e {
            NewLoginIdError::Refused {
                reason: LoginIdRefusal::Taken { login_id, site },
                ..
            } => AdminError::Taken { login_id, site },
            NewLoginIdError::Refused { reason, .. } => AdminError::LoginId(reason),
            NewLoginIdError::Store(e) => e.into(),
        }
    }
}

impl From<HashError> for AdminError {
    fn from(e: HashError) -> Self {
        AdminError::Recovery(e.into())
    }
}

/// The password a new member starts with.
pub enum InitialPassword {
    /// Plain text: checked against the policy (`member add`) or only bounded (`import`), then hashed.
    Plain(String),
    /// An existing hash from a legacy system (argon2 PHC or bcrypt).
    Hash(String),
    /// A social member: no password at all.
    None,
    /// No password yet (provisioning): the member has none until the host sets one, and cannot
    /// reset or sign in with a password meanwhile, as a social member cannot.
    Later,
}

/// One member to add, with fields as raw strings from the command line or an import line.
pub struct MemberDraft {
    pub site_id: Option<String>,
    pub login_id: String,
    pub email: String,
    pub name: Option<String>,
    pub member_type: Option<String>,
    pub join_type: Option<String>,
    pub ci: Option<String>,
    pub password: InitialPassword,
    pub joined_at: Option<DateTime<Utc>>,
    pub password_changed_at: Option<DateTime<Utc>>,
    pub status: Option<String>,
}

/// A draft that passed every check, waiting for its password to be hashed.
pub(super) struct Checked {
    pub(super) member: NewMember,
    pub(super) plain_password: Option<Password>,
}

/// A demo member printed at start so a developer can try every flow.
pub struct DemoMember {
    pub login_id: String,
    pub email: String,
    pub password: Option<String>,
    pub member_type: MemberType,
}

#[derive(Clone)]
pub struct MemberAdmin {
    pub(super) store: Arc<dyn MemberAdminStore>,
    pub(super) hasher: Arc<dyn PasswordHasher>,
    keys: Keyring,
    default_site: SiteId,
    policy: PasswordPolicy,
}

impl MemberAdmin {
    pub fn new(
        store: Arc<dyn MemberAdminStore>,
        hasher: Arc<dyn PasswordHasher>,
        keys: Keyring,
        default_site: SiteId,
        policy: PasswordPolicy,
    ) -> Self {
        MemberAdmin {
            store,
            hasher,
            keys,
            default_site,
            policy,
        }
    }

    /// Adds one member; a plain password must satisfy the password policy.
    pub async fn add(&self, draft: MemberDraft, now: DateTime<Utc>) -> Result<MemberId, AdminError> {
        let member = self.vet(draft, &self.policy, now).await?;
        // Its site, when new, is created with it.
        let ids = self.store.insert_members(&[member]).await?;
        ids.into_iter()
            .next()
            .ok_or_else(|| AdminError::Recovery(RecoveryError::Internal("no member id returned".into())))
    }

    /// Checks one new member against every rule of member creation (`policy` on a plain password),
    /// refuses a login ID its site already has, and hashes the password: the member, ready to
    /// store. `member add` and SCIM provisioning both create members through here.
    pub async fn vet(
        &self,
        draft: MemberDraft,
        policy: &PasswordPolicy,
        now: DateTime<Utc>,
    ) -> Result<NewMember, AdminError> {
        let checked = self.check(draft, Some(policy), now).map_err(AdminError::Draft)?;
        // Taken, mixing scripts, or confusable with a member of the site (UTS #39).
        let wanted = [(checked.member.site_id.clone(), checked.member.login_id.clone())];
        check_new_login_ids(self.store.as_ref(), &wanted).await?;
        self.hashed(checked).await
    }

    /// A member's login ID changing from `old` to `new` (a provisioning change): refused as a new
    /// login ID would be, but for looking like the member's own old one.
    pub async fn vet_login_id_change(
        &self,
        site: &SiteId,
        old: &LoginId,
        new: &LoginId,
    ) -> Result<(), AdminError> {
        Ok(check_login_id_change(self.store.as_ref(), site, old, new).await?)
    }

    /// Creates the site if it does not exist yet (named by its code), for a member about to join.
    pub async fn ensure_site(&self, site: &SiteId) -> Result<(), AdminError> {
        Ok(self.store.ensure_sites(std::slice::from_ref(site)).await?)
    }

    /// Checks a member's new state against every rule of member creation, as [`MemberAdmin::vet`]
    /// does, without looking for the login ID (a provisioning change keeps its own; the store's
    /// unique key refuses another member's).
    pub async fn vet_fields(
        &self,
        draft: MemberDraft,
        policy: &PasswordPolicy,
        now: DateTime<Utc>,
    ) -> Result<NewMember, AdminError> {
        let checked = self.check(draft, Some(policy), now).map_err(AdminError::Draft)?;
        self.hashed(checked).await
    }

    /// The checked member with its plain password hashed (bounded by the hasher).
    async fn hashed(&self, checked: Checked) -> Result<NewMember, AdminError> {
        let mut member = checked.member;
        if let Some(plain) = checked.plain_password {
            member.password_hash = Some(self.hasher.hash(&plain).await?);
        }
        Ok(member)
    }

    pub async fn list(&self, site: Option<&SiteId>) -> Result<Vec<Member>, RecoveryError> {
        Ok(self.store.list_members(site).await?)
    }

    /// Adds the demo members when the database holds no member at all; returns who was added.
    pub async fn seed_demo(&self, now: DateTime<Utc>) -> Result<Vec<DemoMember>, AdminError> {
        if self.store.count_members().await? > 0 {
            return Ok(Vec::new());
        }
        let demo = vec![
            DemoMember {
                login_id: "demo.alice".into(),
                email: "alice@example.com".into(),
                password: Some("Blue-Harbor-47".into()),
                member_type: MemberType::General,
            },
            DemoMember {
                login_id: "demo.bob".into(),
                email: "shared@example.com".into(),
                password: Some("Quiet-Maple-82".into()),
                member_type: MemberType::General,
            },
            DemoMember {
                login_id: "demo.bobcorp".into(),
                email: "shared@example.com".into(),
                password: Some("Amber-Falcon-36".into()),
                member_type: MemberType::Enterprise,
            },
            DemoMember {
                login_id: "demo.social".into(),
                email: "social@example.com".into(),
                password: None,
                member_type: MemberType::Social,
            },
        ];
        let mut checked = Vec::new();
        for (i, d) in demo.iter().enumerate() {
            let draft = MemberDraft {
                site_id: None,
                login_id: d.login_id.clone(),
                email: d.email.clone(),
                name: Some(format!("Demo member {}", i + 1)),
                member_type: Some(d.member_type.code().into()),
                join_type: None,
                ci: Some(format!("DEMO-CI-{}", i + 1)),
                password: d
                    .password
                    .clone()
                    .map_or(InitialPassword::None, InitialPassword::Plain),
                joined_at: None,
                password_changed_at: None,
                status: None,
            };
            checked.push(
                self.check(draft, Some(&self.policy), now)
                    .map_err(AdminError::Draft)?,
            );
        }
        self.store_all(checked).await?;
        Ok(demo)
    }

    /// Parses and checks a draft without touching storage; a plain password must satisfy `policy`
    /// when one is given (an import's legacy passwords are only bounded).
    pub(super) fn check(
        &self,
        draft: MemberDraft,
        policy: Option<&PasswordPolicy>,
        now: DateTime<Utc>,
    ) -> Result<Checked, DraftProblem> {
        let site_id = match draft.site_id {
            Some(raw) => SiteId::parse(&raw).map_err(|e| problem("siteId", format!("siteId: {e}")))?,
            None => self.default_site.clone(),
        };
        let login_id =
            LoginId::parse(&draft.login_id).map_err(|e| problem("loginId", format!("loginId: {e}")))?;
        let email = Email::parse(&draft.email).map_err(|e| problem("email", format!("email: {e}")))?;
        let name = draft.name.unwrap_or_default().trim().to_owned();
        if name.chars().count() > 200 {
            return Err(problem("name", "name: longer than 200 characters"));
        }
        let member_type = parse_code(
            draft.member_type,
            MemberType::General,
            MemberType::from_code,
            "memberType",
        )?;
        let join_type = parse_code(
            draft.join_type,
            JoinType::Citizen,
            JoinType::from_code,
            "joinType",
        )?;
        let status = parse_code(
            draft.status,
            MemberStatus::Active,
            MemberStatus::from_code,
            "status",
        )?;
        let ci_hash = match draft.ci {
            Some(raw) => Some(StoredCiHash {
                hash: self
                    .keys
                    .current()
                    .ci(&Ci::parse(&raw).map_err(|e| problem("ci", format!("ci: {e}")))?),
                key: Some(self.keys.current_id().clone()),
            }),
            None => None,
        };
        let (password_hash, plain_password) = match (member_type, draft.password) {
            (MemberType::Social, InitialPassword::None | InitialPassword::Later) => (None, None),
            // What the hash is comes first: it is wrong whatever the member's type.
            (MemberType::Social, InitialPassword::Hash(h)) => {
                return Err(if self.hasher.is_supported_hash(&h) {
                    problem("passwordHash", "a SOCIAL member has no password")
                } else {
                    problem(
                        "passwordHash",
                        "passwordHash: not an argon2 PHC string or a bcrypt $2b$ hash",
                    )
                });
            }
            (MemberType::Social, InitialPassword::Plain(_)) => {
                return Err(problem("password", "a SOCIAL member has no password"));
            }
            (_, InitialPassword::Later) => (None, None),
            (_, InitialPassword::None) => {
                return Err(problem(
                    "password",
                    "a password (or passwordHash) is required unless the member is SOCIAL",
                ));
            }
            (_, InitialPassword::Hash(h)) => {
                if !self.hasher.is_supported_hash(&h) {
                    return Err(problem(
                        "passwordHash",
                        "passwordHash: not an argon2 PHC string or a bcrypt $2b$ hash",
                    ));
                }
                (Some(StoredHash(h)), None)
            }
            (_, InitialPassword::Plain(p)) => {
                let normalised = if let Some(policy) = policy {
                    policy
                        .check(&p, Some(login_id.as_str()))
                        .map_err(|rules| {
                            problem("password", format!("password breaks the policy: {rules:?}"))
                        })?
                        .password()
                        .clone()
                } else if p.is_empty() || p.len() > MAX_IMPORTED_PASSWORD_BYTES {
                    return Err(problem(
                        "password",
                        format!("password: must be 1 to {MAX_IMPORTED_PASSWORD_BYTES} bytes"),
                    ));
                } else {
                    Password::new(p).normalized()
                };
                (None, Some(normalised))
            }
        };
        let has_password = password_hash.is_some() || plain_password.is_some();
        Ok(Checked {
            member: NewMember {
                site_id,
                login_id,
                email,
                name,
                member_type,
                join_type,
                ci_hash,
                password_hash,
                password_changed_at: if has_password {
                    Some(draft.password_changed_at.unwrap_or(now))
                } else {
                    None
                },
                joined_at: draft.joined_at.unwrap_or(now),
                status,
            },
            plain_password,
        })
    }

    /// Hashes the plain passwords (bounded by the hasher), then inserts all with their missing sites.
    async fn store_all(&self, checked: Vec<Checked>) -> Result<Vec<MemberId>, AdminError> {
        let mut members = Vec::with_capacity(checked.len());
        for c in checked {
            let mut member = c.member;
            if let Some(plain) = c.plain_password {
                member.password_hash = Some(self.hasher.hash(&plain).await?);
            }
            members.push(member);
        }
        Ok(self.store.insert_members(&members).await?)
    }
}
