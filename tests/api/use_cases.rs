//! The use cases' time rules under a fixed clock, without HTTP: the service wired on an embedded
//! database and the in-process store, each call given the time its request would carry.
use account_recovery::{
    app::{TokenBackend, connect_services},
    domain::{
        email::Email, keyed_hash::Ci, lang::Lang, login_id::LoginId, password::Password,
        session::SessionInfo, site::SiteId,
    },
    recovery::{
        Recovery,
        context::RequestContext,
        password_change::{ChangeMode, ChangeOutcome, ChangeRequest},
        password_reset::{Credential, IssueResult, ResetOutcome, ResetRequest, VerifyResult},
        recovery_codes::GenerateOutcome,
        sessions::{ReauthResult, SignInResult},
    },
};
use chrono::{DateTime, Duration, Utc};

use crate::helpers::{Backend, fresh_database, sql_rows, test_settings};

/// Kim's password was last set at `T0`, the start of every story here.
const T0: &str = "2026-03-01T09:00:00Z";
const KIM: &str = r#"{"loginId":"kim01","email":"kim@example.com","name":"Kim","password":"Blue-Harbor-47","ci":"CI-KIM","joinedAt":"2025-01-01T00:00:00Z","passwordChangedAt":"2026-03-01T09:00:00Z"}"#;
const PASSWORD: &str = "Blue-Harbor-47";

fn t0() -> DateTime<Utc> {
    T0.parse().expect("T0")
}

/// The request context of a call made at `now`.
fn at(now: DateTime<Utc>) -> RequestContext {
    RequestContext {
        site: SiteId::parse("main").expect("site"),
        lang: Lang::En,
        client: None,
        now,
        solution: None,
        device: None,
    }
}

async fn use_cases() -> Recovery {
    with_database().await.0
}

/// The wired use cases and the URL of their database.
async fn with_database() -> (Recovery, String) {
    let url = fresh_database(&Backend::Sqlite).await;
    let recovery = connect_services(&test_settings(&url, &[]), TokenBackend::InProcess)
        .await
        .expect("services");
    recovery.members.import(KIM, t0()).await.expect("Kim");
    (recovery, url)
}

fn kim() -> LoginId {
    LoginId::parse("kim01").expect("login ID")
}

async fn sign_in(recovery: &Recovery, now: DateTime<Utc>, password: &str) -> (SessionInfo, bool) {
    match recovery
        .sessions
        .sign_in(&at(now), &kim(), &Password::new(password))
        .await
        .expect("sign-in call")
    {
        SignInResult::SignedIn {
            session,
            password_expired,
            ..
        } => (session, password_expired),
        other => panic!("not signed in: {other:?}"),
    }
}

/// A reset through the identity path at `now`, to `password`.
async fn reset(recovery: &Recovery, now: DateTime<Utc>, password: &str) -> ResetOutcome {
    let request = ResetRequest::Identity {
        login_id: kim(),
        ci: Ci::parse("CI-KIM").expect("ci"),
    };
    let IssueResult::Direct { token, .. } = recovery
        .password_reset
        .issue(&at(now), request)
        .await
        .expect("issue")
    else {
        panic!("no direct token");
    };
    recovery
        .password_reset
        .reset(&at(now), Credential::Token(token), &Password::new(password), None)
        .await
        .expect("reset call")
}

#[tokio::test]
async fn a_direct_token_lives_exactly_the_configured_time_from_the_request() {
    let recovery = use_cases().await;
    let now = t0() + Duration::days(3);
    let request = ResetRequest::Identity {
        login_id: kim(),
        ci: Ci::parse("CI-KIM").unwrap(),
    };
    let IssueResult::Direct {
        token, expires_at, ..
    } = recovery.password_reset.issue(&at(now), request).await.unwrap()
    else {
        panic!("no direct token");
    };
    assert_eq!(expires_at, now + Duration::minutes(5));
    let verified = recovery
        .password_reset
        .verify(&at(now), Credential::Token(token))
        .await
        .unwrap();
    assert!(matches!(verified, VerifyResult::Valid { .. }), "{verified:?}");
}

#[tokio::test]
async fn a_reset_dates_the_change_at_the_request_and_elevates_the_next_sign_in_from_its_own_time() {
    let recovery = use_cases().await;
    let reset_at = t0() + Duration::days(10);
    let ResetOutcome::Done(member, _) = reset(&recovery, reset_at, "Green-Valley-58").await else {
        panic!("no reset");
    };
    assert_eq!(member.password_changed_at, Some(reset_at));
    let signed_in_at = reset_at + Duration::minutes(2);
    let (session, expired) = sign_in(&recovery, signed_in_at, "Green-Valley-58").await;
    assert!(!expired);
    assert_eq!(session.expires_at, signed_in_at + Duration::hours(8));
    assert_eq!(session.elevated_until, Some(signed_in_at + Duration::minutes(10)));
    // The next sign-in is an ordinary one.
    let (again, _) = sign_in(&recovery, signed_in_at, "Green-Valley-58").await;
    assert_eq!(again.elevated_until, None);
}

#[tokio::test]
async fn a_password_expires_ninety_days_after_it_was_set() {
    let recovery = use_cases().await;
    let (_, expired) = sign_in(
        &recovery,
        t0() + Duration::days(90) - Duration::seconds(1),
        PASSWORD,
    )
    .await;
    assert!(!expired, "a day before");
    let (_, expired) = sign_in(&recovery, t0() + Duration::days(90), PASSWORD).await;
    assert!(expired, "on the day");
}

#[tokio::test]
async fn extend_waits_for_expiry_and_restarts_the_clock_from_the_request() {
    let recovery = use_cases().await;
    let (session, _) = sign_in(&recovery, t0(), PASSWORD).await;
    let extend = || ChangeRequest {
        mode: ChangeMode::Extend,
        current_password: None,
        new_password: None,
        revoke_other_sessions: false,
    };
    let early = t0() + Duration::days(89);
    let outcome = recovery
        .password_changes
        .change(&at(early), &session, extend())
        .await
        .unwrap();
    assert!(matches!(outcome, ChangeOutcome::NotEligible), "{outcome:?}");
    let late = t0() + Duration::days(91);
    let outcome = recovery
        .password_changes
        .change(&at(late), &session, extend())
        .await
        .unwrap();
    let ChangeOutcome::Done {
        member,
        password_expires_at,
        ..
    } = outcome
    else {
        panic!("not extended: {outcome:?}");
    };
    assert_eq!(member.password_changed_at, Some(late));
    assert_eq!(password_expires_at, late + Duration::days(90));
}

#[tokio::test]
async fn recovery_codes_need_a_reauthentication_still_running_at_the_request() {
    let recovery = use_cases().await;
    let (session, _) = sign_in(&recovery, t0(), PASSWORD).await;
    let generated = recovery
        .recovery_codes
        .generate(&at(t0()), &session)
        .await
        .unwrap();
    assert!(
        matches!(generated, GenerateOutcome::NotEligible),
        "unelevated: {generated:?}"
    );

    let reauth_at = t0() + Duration::minutes(1);
    let elevated = recovery
        .sessions
        .reauthenticate(&at(reauth_at), &session, &Password::new(PASSWORD))
        .await
        .unwrap();
    let ReauthResult::Elevated(until) = elevated else {
        panic!("not elevated: {elevated:?}");
    };
    assert_eq!(until, reauth_at + Duration::minutes(10));
    let session = SessionInfo {
        elevated_until: Some(until),
        reauthenticated: true,
        ..session
    };
    let within = recovery
        .recovery_codes
        .generate(&at(until - Duration::seconds(1)), &session)
        .await
        .unwrap();
    assert!(
        matches!(&within, GenerateOutcome::Generated(codes) if codes.len() == 10),
        "{within:?}"
    );
    let after = recovery
        .recovery_codes
        .generate(&at(until), &session)
        .await
        .unwrap();
    assert!(matches!(after, GenerateOutcome::NotEligible), "after: {after:?}");
}

#[tokio::test]
async fn a_resolved_batch_mails_only_the_owner_and_once_per_cooldown() {
    let (recovery, url) = with_database().await;
    let email = |raw: &str| Email::parse(raw).expect("e-mail");
    let requests = [
        ResetRequest::Email(email("kim@example.com")),
        ResetRequest::Email(email("nobody@example.com")),
        ResetRequest::Account {
            login_id: kim(),
            email: email("kim@example.org"),
        },
    ];
    for request in requests {
        let issued = recovery.password_reset.issue(&at(t0()), request).await.unwrap();
        assert!(
            matches!(issued, IssueResult::Mailed { expires_in, .. } if expires_in.as_secs() == 900),
            "{issued:?}"
        );
    }
    let resolved = recovery
        .password_reset
        .resolve_pending(256, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(resolved, 3);
    let queued = || sql_rows(&url, "SELECT count(*) FROM outbox");
    assert_eq!(
        queued().await,
        [["1"]],
        "one mail: the owner's address, not the others"
    );

    // A second request within the cooldown is answered alike and sends nothing more.
    let again = ResetRequest::Email(email("kim@example.com"));
    recovery.password_reset.issue(&at(t0()), again).await.unwrap();
    recovery
        .password_reset
        .resolve_pending(256, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(queued().await, [["1"]], "no second mail within the cooldown");
}
