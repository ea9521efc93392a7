//! The traits the use cases need, one file per capability; `infra/` implements them. Each use case
//! holds only the capabilities it uses.
pub mod admin;
pub mod audit;
pub mod delivery;
pub mod errors;
pub mod hashing;
pub mod health;
pub mod identity;
pub mod limits;
pub mod mail;
pub mod members;
pub mod passwords;
pub mod provisioning;
pub mod recovery_codes;
pub mod reset_queue;
pub mod sessions;
pub mod sites;
pub mod tokens;
pub mod webhooks;

pub use admin::{ImportWriter, MemberAdminStore, NewMember};
pub use audit::AuditLog;
pub use delivery::{DeliveryOutcome, DeliveryQueue, QueueClaim, Queued, Settled};
pub use errors::StoreError;
pub use hashing::{HashError, PasswordHasher, Verification};
pub use health::HealthCheck;
pub use identity::{IdentityVerifier, PortoneAnswer, PortoneVerifications};
pub use limits::{CounterHit, Limiter};
pub use mail::{ClaimedMail, KeyedMail, MailError, MailMeta, MailOutbox, Mailer, OutgoingMail};
pub use members::{IdentityLookup, MemberBatchLookup, MemberById, MemberLookup};
pub use passwords::{ChangeReports, NewChangeReport, PasswordChange, PasswordStore};
pub use provisioning::{MemberPage, MemberUpdate, ProvisionedMember, ProvisioningStore};
pub use recovery_codes::{NewRecoveryCodeSet, RecoveryCodeStore, RecoveryCodeUse, StoredRecoveryCode};
pub use reset_queue::{ClaimedReset, HandedOffReset, ResetQueue, ResetTarget};
pub use sessions::SessionStore;
pub use sites::SiteDirectory;
pub use tokens::TokenStore;
pub use webhooks::{
    CONFIGURED_ENDPOINT, ClaimedEvent, EventQueue, NewEndpoint, SignedDelivery, WebhookAnswer,
    WebhookEndpoint, WebhookEndpoints, WebhookSender,
};
