//! A reset wins over a password change already in flight: store doubles pause `changePassword`
//! between its password check and its write while a reset completes over HTTP.
use std::{sync::Arc, time::Duration};

use account_recovery::{
    domain::{
        device::{DeviceInfo, NewDevice},
        grant::{GrantOwner, TokenHash},
        lang::Lang,
        member::{Member, MemberId, StoredHash},
        password::Password,
        session::{AccessToken, NewSession, SessionInfo},
        site::SiteId,
    },
    recovery::{
        context::RequestContext,
        password_change::{ChangeMode, ChangeOutcome, ChangeRequest},
        ports::{PasswordChange, PasswordStore, SessionStore, StoreError},
    },
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::{
    helpers::{Backend, TestApp, backend_test, spawn_app},
    operations::credential,
};

const MEMBERS: &str = r#"{"loginId":"kim01","email":"kim@example.com","name":"Kim","password":"Blue-Harbor-47","ci":"CI-KIM"}
"#;

/// Where the change is held: before its last session check, or at its (conditional) write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PauseAt {
    SessionCheck,
    Write,
}

/// A one-shot gate: the paused call says it arrived, then waits to be let go.
#[derive(Default)]
struct Gate {
    reached: Notify,
    release: Notify,
}

impl Gate {
    async fn pass(&self) {
        self.reached.notify_one();
        self.release.notified().await;
    }
}

/// The real stores, with the first `find_session` (the recheck before the write) or
/// `apply_password_change` held at the gate.
struct Paused {
    passwords: Arc<dyn PasswordStore>,
    sessions: Arc<dyn SessionStore>,
    at: PauseAt,
    gate: Arc<Gate>,
    passed: std::sync::atomic::AtomicBool,
}

impl Paused {
    async fn maybe_pause(&self, here: PauseAt) {
        if here == self.at && !self.passed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.gate.pass().await;
        }
    }
}

#[async_trait]
impl PasswordStore for Paused {
    async fn password_history(&self, id: &MemberId) -> Result<Vec<StoredHash>, StoreError> {
        self.passwords.password_history(id).await
    }
    async fn apply_password_change(&self, change: PasswordChange) -> Result<Option<Member>, StoreError> {
        self.maybe_pause(PauseAt::Write).await;
        self.passwords.apply_password_change(change).await
    }
    async fn upgrade_hash(
        &self,
        id: &MemberId,
        old: &StoredHash,
        new: &StoredHash,
    ) -> Result<(), StoreError> {
        self.passwords.upgrade_hash(id, old, new).await
    }
}

#[async_trait]
impl SessionStore for Paused {
    async fn create_session(&self, owner: &GrantOwner, session: &NewSession) -> Result<(), StoreError> {
        self.sessions.create_session(owner, session).await
    }
    async fn find_session(&self, token: &TokenHash) -> Result<Option<SessionInfo>, StoreError> {
        self.maybe_pause(PauseAt::SessionCheck).await;
        self.sessions.find_session(token).await
    }
    async fn elevate_session(
        &self,
        owner: &GrantOwner,
        token: &TokenHash,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.sessions.elevate_session(owner, token, until).await
    }
    async fn revoke_session(&self, owner: &GrantOwner, token: &TokenHash) -> Result<(), StoreError> {
        self.sessions.revoke_session(owner, token).await
    }
    async fn revoke_sessions(&self, owner: &GrantOwner, keep: Option<&TokenHash>) -> Result<u32, StoreError> {
        self.sessions.revoke_sessions(owner, keep).await
    }
    async fn count_sessions(&self, owner: &GrantOwner) -> Result<u32, StoreError> {
        self.sessions.count_sessions(owner).await
    }
    async fn mark_reset(&self, owner: &GrantOwner, ttl: Duration) -> Result<(), StoreError> {
        self.sessions.mark_reset(owner, ttl).await
    }
    async fn take_reset_mark(&self, owner: &GrantOwner) -> Result<bool, StoreError> {
        self.sessions.take_reset_mark(owner).await
    }
    async fn create_device(&self, owner: &GrantOwner, device: &NewDevice) -> Result<(), StoreError> {
        self.sessions.create_device(owner, device).await
    }
    async fn find_device(&self, token: &TokenHash) -> Result<Option<DeviceInfo>, StoreError> {
        self.sessions.find_device(token).await
    }
    async fn revoke_devices(&self, owner: &GrantOwner) -> Result<u32, StoreError> {
        self.sessions.revoke_devices(owner).await
    }
}

async fn signs_in(app: &TestApp, password: &str) -> bool {
    app.sign_in("kim01", password).await.access_token.is_some()
}

/// Resets kim01's password over HTTP with a direct token.
async fn reset_over_http(app: &TestApp, password: &str) {
    let token = app.direct_reset_token("kim01", "CI-KIM").await;
    let reset = app
        .reset_password(credential::token(&token), password, None)
        .await;
    assert!(reset.errors.is_empty(), "[{}] {reset}", app.backend);
}

/// Holds a WITH_CURRENT change at `at` (it has already verified the current password), lets a
/// reset complete, then lets the change go: the change fails with a dead session and the
/// reset's password is the one that works.
async fn a_reset_during_a_change_wins(backend: Backend, at: PauseAt) {
    let app = spawn_app(&backend).await;
    app.recovery
        .members
        .import(MEMBERS, chrono::Utc::now())
        .await
        .expect("members");
    let raw = app.access_token("kim01", "Blue-Harbor-47").await;
    let session = app
        .recovery
        .sessions
        .authenticate(&AccessToken::parse(&raw).expect("token shape"))
        .await
        .expect("session store")
        .expect("live session");
    let gate = Arc::new(Gate::default());
    let paused = Arc::new(Paused {
        passwords: app.recovery.ports.passwords.clone(),
        sessions: app.recovery.ports.sessions.clone(),
        at,
        gate: gate.clone(),
        passed: Default::default(),
    });
    let changes = app
        .recovery
        .password_changes
        .clone()
        .with_stores(paused.clone(), paused);
    let change = tokio::spawn(async move {
        let ctx = RequestContext {
            site: SiteId::parse("main").unwrap(),
            lang: Lang::En,
            client: None,
            now: chrono::Utc::now(),
            solution: None,
            device: None,
        };
        let (current, new) = (Password::new("Blue-Harbor-47"), Password::new("Stolen-Keys-93"));
        let request = ChangeRequest {
            mode: ChangeMode::WithCurrent,
            current_password: Some(&current),
            new_password: Some(&new),
            revoke_other_sessions: true,
        };
        changes.change(&ctx, &session, request).await
    });
    tokio::time::timeout(Duration::from_secs(30), gate.reached.notified())
        .await
        .unwrap_or_else(|_| panic!("[{}] the change never reached {at:?}", app.backend));
    reset_over_http(&app, "Green-Valley-58").await;
    gate.release.notify_one();
    let outcome = change.await.expect("change task").expect("change call");
    assert!(
        matches!(outcome, ChangeOutcome::SessionEnded),
        "[{}] paused at {at:?}: {outcome:?}",
        app.backend
    );
    assert!(
        signs_in(&app, "Green-Valley-58").await,
        "[{}] the reset's password",
        app.backend
    );
    assert!(
        !signs_in(&app, "Stolen-Keys-93").await,
        "[{}] the change's password",
        app.backend
    );
    assert!(
        !signs_in(&app, "Blue-Harbor-47").await,
        "[{}] the old password",
        app.backend
    );
    // The change wrote nothing: no PASSWORD_CHANGED audit row (the reset wrote PASSWORD_RESET).
    let changed = app
        .sql_strings("SELECT kind FROM audit_events WHERE kind = 'PASSWORD_CHANGED'")
        .await;
    assert!(
        changed.is_empty(),
        "[{}] a change was audited: {changed:?}",
        app.backend
    );
}

#[backend_test]
async fn a_reset_between_a_changes_check_and_its_session_recheck_wins(backend: Backend) {
    a_reset_during_a_change_wins(backend, PauseAt::SessionCheck).await;
}

#[backend_test]
async fn a_reset_between_a_changes_recheck_and_its_write_wins(backend: Backend) {
    a_reset_during_a_change_wins(backend, PauseAt::Write).await;
}
