//! The `TokenStore` contract: one function that checks every rule of the port against a live store, so
//! the in-process and the Redis adapters are held to the same semantics. Every check uses fresh owners
//! (random member ids), so it can run against a Redis shared with other tests. Panics on a violation.
use std::{
    future::Future,
    pin::Pin,
    task::Poll,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};

use account_recovery::{
    domain::{
        grant::{
            AttemptLimits, CodeCheck, CodeHash, GrantInfo, GrantOwner, GrantProof, GrantPurpose,
            IssueOutcome, NewGrant, ResetCode, ResetToken, TokenHash,
        },
        keyed_hash::KeyedHasher,
        member::MemberId,
        site::SiteId,
    },
    recovery::ports::TokenStore,
};

const LONG: Duration = Duration::from_secs(15 * 60);
const COOLDOWN: Duration = Duration::from_secs(60);
/// Limits under which only the grant's own count matters.
const LENIENT: AttemptLimits = AttemptLimits {
    per_grant: 5,
    per_member: 100,
    member_window: Duration::from_secs(60),
};

/// Runs every check of the contract against `store`; takes about a second.
pub async fn run_contract(store: &dyn TokenStore) {
    let started = Instant::now();
    store.ping().await.expect("ping");
    issue_replaces_the_older_grant(store).await;
    cooldown_keeps_the_first_grant(store).await;
    reissuing_the_live_grant_changes_nothing(store).await;
    grants_are_bound_to_their_owner(store).await;
    codes_are_checked_without_being_spent(store).await;
    matching_a_code_counts_nothing(store).await;
    wrong_codes_burn_the_grant(store).await;
    grants_without_a_code_are_not_burnt(store).await;
    the_member_window_spans_grants(store).await;
    failures_count_without_a_grant(store).await;
    exchange_replaces_the_grant(store).await;
    spending_needs_the_right_proof_and_works_once(store).await;
    revoke_kills_the_grant(store).await;
    everything_expires(store).await;
    one_spend_wins_under_concurrency(store).await;
    concurrent_wrong_codes_are_all_counted(store).await;
    one_exchange_wins_under_concurrency(store).await;
    one_issue_wins_a_cooldown_race(store).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the contract should run quickly"
    );
}

/// A grant with its secrets' hashes, for tests.
struct TestGrant {
    grant: NewGrant,
    token: TokenHash,
    code: CodeHash,
    wrong: CodeHash,
}

fn keys() -> KeyedHasher {
    KeyedHasher::new(b"token-store-contract")
}

fn new_owner() -> GrantOwner {
    GrantOwner {
        site: SiteId::parse("contract").expect("site"),
        member: MemberId(uuid::Uuid::new_v4().to_string()),
    }
}

/// A right and a (different) wrong code hash for `owner`.
fn code_pair(owner: &GrantOwner) -> (CodeHash, CodeHash) {
    let right = ResetCode::generate();
    let n: u32 = right.expose().parse().expect("digits");
    let wrong = ResetCode::parse(&format!("{:06}", (n + 1) % 1_000_000)).expect("code");
    (right.hash(&keys(), owner), wrong.hash(&keys(), owner))
}

fn grant(owner: &GrantOwner, purpose: GrantPurpose, with_code: bool, ttl: Duration) -> TestGrant {
    let token = ResetToken::generate().hash();
    let (code, wrong) = code_pair(owner);
    TestGrant {
        grant: NewGrant::new(purpose, token.clone(), with_code.then(|| code.clone()), ttl),
        token,
        code,
        wrong,
    }
}

fn email_grant(owner: &GrantOwner) -> TestGrant {
    grant(owner, GrantPurpose::Email, true, LONG)
}

async fn issue(
    store: &dyn TokenStore,
    owner: &GrantOwner,
    g: &TestGrant,
    cooldown: Option<Duration>,
) -> IssueOutcome {
    store
        .issue_grant(owner, &g.grant, cooldown)
        .await
        .expect("issue_grant")
}

async fn token_info(store: &dyn TokenStore, owner: &GrantOwner, token: &TokenHash) -> Option<GrantInfo> {
    store.check_token(owner, token).await.expect("check_token")
}

async fn check(
    store: &dyn TokenStore,
    owner: &GrantOwner,
    code: &CodeHash,
    limits: &AttemptLimits,
) -> CodeCheck {
    store.check_code(owner, code, limits).await.expect("check_code")
}

async fn live(store: &dyn TokenStore, owner: &GrantOwner, g: &TestGrant) -> bool {
    store
        .grant_is_live(owner, &g.grant.id)
        .await
        .expect("grant_is_live")
}

async fn spend(store: &dyn TokenStore, owner: &GrantOwner, proof: GrantProof) -> bool {
    store.spend_grant(owner, &proof).await.expect("spend_grant")
}

#[track_caller]
fn assert_valid(check: &CodeCheck, g: &TestGrant, what: &str) {
    match check {
        CodeCheck::Valid(info) => assert_info(info, g, what),
        other => panic!("{what}: expected Valid, got {other:?}"),
    }
}

/// `info` describes `g`, and its expiry is about now + ttl (stores keep milliseconds).
#[track_caller]
fn assert_info(info: &GrantInfo, g: &TestGrant, what: &str) {
    assert_eq!(info.id, g.grant.id, "{what}: grant id");
    assert_eq!(info.purpose, g.grant.purpose, "{what}: purpose");
    let expected: DateTime<Utc> = Utc::now() + g.grant.ttl;
    let off = (info.expires_at - expected).num_milliseconds().abs();
    assert!(
        off < 5_000,
        "{what}: expires_at is {off} ms away from issue time + ttl"
    );
}

/// Polls every future until all are done (the futures borrow the store, so they cannot be spawned).
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

async fn issue_replaces_the_older_grant(store: &dyn TokenStore) {
    let owner = new_owner();
    let first = email_grant(&owner);
    assert_eq!(issue(store, &owner, &first, None).await, IssueOutcome::Issued);
    let info = token_info(store, &owner, &first.token)
        .await
        .expect("the first token is valid");
    assert_info(&info, &first, "check_token");
    assert_eq!(
        store.owner_of_token(&first.token).await.expect("route"),
        Some(owner.clone())
    );
    assert!(live(store, &owner, &first).await);

    let mut second = email_grant(&owner);
    while second.code == first.code {
        second = email_grant(&owner);
    }
    assert_eq!(issue(store, &owner, &second, None).await, IssueOutcome::Issued);
    assert_eq!(
        token_info(store, &owner, &first.token).await,
        None,
        "a new grant kills the old token"
    );
    assert!(!live(store, &owner, &first).await);
    assert!(live(store, &owner, &second).await);
    assert_info(
        &token_info(store, &owner, &second.token).await.expect("new token"),
        &second,
        "new token",
    );
    assert_eq!(
        check(store, &owner, &first.code, &LENIENT).await,
        CodeCheck::Wrong,
        "the old code is dead"
    );
    assert_valid(
        &check(store, &owner, &second.code, &LENIENT).await,
        &second,
        "the new code",
    );
    assert!(!spend(store, &owner, GrantProof::Token(first.token.clone())).await);
    assert!(live(store, &owner, &second).await);
}

/// A handed-off request resolved twice issues the same grant (same id) twice: the second time is
/// answered as issued, inside the cooldown too, and leaves the grant as it was (its wrong-code count
/// included). A grant that died meanwhile is not brought back.
async fn reissuing_the_live_grant_changes_nothing(store: &dyn TokenStore) {
    let owner = new_owner();
    let first = email_grant(&owner);
    assert_eq!(
        issue(store, &owner, &first, Some(COOLDOWN)).await,
        IssueOutcome::Issued
    );
    assert_eq!(
        check(store, &owner, &first.wrong, &LENIENT).await,
        CodeCheck::Wrong
    );
    assert_eq!(
        issue(store, &owner, &first, Some(COOLDOWN)).await,
        IssueOutcome::Issued,
        "the live grant again"
    );
    assert!(token_info(store, &owner, &first.token).await.is_some());
    for _ in 0..3 {
        assert_eq!(
            check(store, &owner, &first.wrong, &LENIENT).await,
            CodeCheck::Wrong
        );
    }
    assert_eq!(
        check(store, &owner, &first.wrong, &LENIENT).await,
        CodeCheck::TooMany,
        "the count went on: five wrong codes in all burn it"
    );
    assert_eq!(
        issue(store, &owner, &first, Some(COOLDOWN)).await,
        IssueOutcome::CoolingDown,
        "a burnt grant is not issued again within the cooldown"
    );
    assert_eq!(token_info(store, &owner, &first.token).await, None);
}

async fn cooldown_keeps_the_first_grant(store: &dyn TokenStore) {
    let owner = new_owner();
    let first = email_grant(&owner);
    let second = email_grant(&owner);
    assert_eq!(
        issue(store, &owner, &first, Some(COOLDOWN)).await,
        IssueOutcome::Issued
    );
    assert_eq!(
        issue(store, &owner, &second, Some(COOLDOWN)).await,
        IssueOutcome::CoolingDown
    );
    assert!(
        token_info(store, &owner, &first.token).await.is_some(),
        "the first grant stays valid"
    );
    assert!(live(store, &owner, &first).await);
    assert_eq!(
        token_info(store, &owner, &second.token).await,
        None,
        "the refused grant was not stored"
    );
    assert!(!live(store, &owner, &second).await);
    assert_eq!(store.owner_of_token(&second.token).await.expect("route"), None);
    assert_valid(
        &check(store, &owner, &first.code, &LENIENT).await,
        &first,
        "the first code",
    );

    // Without a cooldown (the identity path) a grant is issued and replaces the first one...
    let direct = grant(&owner, GrantPurpose::Direct, false, LONG);
    assert_eq!(issue(store, &owner, &direct, None).await, IssueOutcome::Issued);
    assert_eq!(token_info(store, &owner, &first.token).await, None);
    assert!(token_info(store, &owner, &direct.token).await.is_some());
    // ...and does not restart or lift the running cooldown.
    let third = email_grant(&owner);
    assert_eq!(
        issue(store, &owner, &third, Some(COOLDOWN)).await,
        IssueOutcome::CoolingDown
    );
    assert!(token_info(store, &owner, &direct.token).await.is_some());

    // Cooldowns are per owner.
    let other = new_owner();
    assert_eq!(
        issue(store, &other, &email_grant(&other), Some(COOLDOWN)).await,
        IssueOutcome::Issued
    );
}

async fn grants_are_bound_to_their_owner(store: &dyn TokenStore) {
    let owner = new_owner();
    let other = new_owner();
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    assert_eq!(token_info(store, &other, &g.token).await, None);
    assert!(!store.grant_is_live(&other, &g.grant.id).await.expect("live"));
    assert!(!spend(store, &other, GrantProof::Token(g.token.clone())).await);
    assert_eq!(check(store, &other, &g.code, &LENIENT).await, CodeCheck::Wrong);
    assert!(!store.grant_is_live(&owner, "no-such-grant").await.expect("live"));
    let unknown = ResetToken::generate().hash();
    assert_eq!(store.owner_of_token(&unknown).await.expect("route"), None);
    assert_eq!(token_info(store, &owner, &unknown).await, None);
    assert!(
        token_info(store, &owner, &g.token).await.is_some(),
        "nothing above touched the grant"
    );
}

async fn codes_are_checked_without_being_spent(store: &dyn TokenStore) {
    let owner = new_owner();
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    for _ in 0..3 {
        assert!(
            token_info(store, &owner, &g.token).await.is_some(),
            "check_token spends nothing"
        );
        assert_valid(
            &check(store, &owner, &g.code, &AttemptLimits::default()).await,
            &g,
            "right code",
        );
    }
    assert_eq!(
        check(store, &owner, &g.wrong, &AttemptLimits::default()).await,
        CodeCheck::Wrong
    );
    assert_valid(
        &check(store, &owner, &g.code, &AttemptLimits::default()).await,
        &g,
        "after one miss",
    );
    assert!(live(store, &owner, &g).await);
}

async fn matching_a_code_counts_nothing(store: &dyn TokenStore) {
    let owner = new_owner();
    let g = email_grant(&owner);
    assert!(
        !store.code_matches(&owner, &g.code).await.expect("match"),
        "no grant yet"
    );
    issue(store, &owner, &g, None).await;
    let limits = AttemptLimits::default();
    for _ in 0..(limits.per_grant * 2) {
        assert!(store.code_matches(&owner, &g.code).await.expect("match"));
        assert!(!store.code_matches(&owner, &g.wrong).await.expect("match"));
    }
    // Ten looks, nothing counted: the right code still checks out.
    assert_valid(&check(store, &owner, &g.code, &limits).await, &g, "after looking");
    let other = new_owner();
    assert!(
        !store.code_matches(&other, &g.code).await.expect("match"),
        "bound to its owner"
    );
}

async fn wrong_codes_burn_the_grant(store: &dyn TokenStore) {
    for limits in [AttemptLimits::default(), LENIENT] {
        let owner = new_owner();
        let g = email_grant(&owner);
        issue(store, &owner, &g, None).await;
        for i in 1..limits.per_grant {
            assert_eq!(
                check(store, &owner, &g.wrong, &limits).await,
                CodeCheck::Wrong,
                "wrong code {i}"
            );
        }
        assert_eq!(
            check(store, &owner, &g.wrong, &limits).await,
            CodeCheck::TooMany,
            "the last wrong code"
        );
        assert_eq!(
            check(store, &owner, &g.code, &limits).await,
            CodeCheck::TooMany,
            "burnt: right code"
        );
        assert_eq!(
            check(store, &owner, &g.wrong, &limits).await,
            CodeCheck::TooMany,
            "burnt: wrong code"
        );
        let replacement = grant(&owner, GrantPurpose::Exchanged, false, LONG);
        let exchanged = store
            .exchange_code(&owner, &g.code, &replacement.grant, &limits)
            .await;
        assert_eq!(exchanged.expect("exchange"), CodeCheck::TooMany);
        assert_eq!(
            token_info(store, &owner, &g.token).await,
            None,
            "a burnt grant's token is dead"
        );
        assert!(!live(store, &owner, &g).await);
        assert!(!spend(store, &owner, GrantProof::Code(g.code.clone())).await);
        assert!(!spend(store, &owner, GrantProof::Token(g.token.clone())).await);

        // A new grant has its own count (the member window is not reached here).
        let next = email_grant(&owner);
        issue(store, &owner, &next, None).await;
        assert_valid(
            &check(store, &owner, &next.code, &limits).await,
            &next,
            "a new grant after a burn",
        );
    }
}

async fn grants_without_a_code_are_not_burnt(store: &dyn TokenStore) {
    let owner = new_owner();
    let g = grant(&owner, GrantPurpose::Direct, false, LONG);
    issue(store, &owner, &g, None).await;
    for _ in 0..LENIENT.per_grant + 2 {
        assert_eq!(
            check(store, &owner, &g.code, &LENIENT).await,
            CodeCheck::Wrong,
            "no code matches"
        );
    }
    assert!(token_info(store, &owner, &g.token).await.is_some());
    assert!(!spend(store, &owner, GrantProof::Code(g.code.clone())).await);
    assert!(spend(store, &owner, GrantProof::Token(g.token.clone())).await);
}

async fn the_member_window_spans_grants(store: &dyn TokenStore) {
    let limits = AttemptLimits {
        per_grant: 5,
        per_member: 7,
        member_window: Duration::from_secs(60),
    };
    let owner = new_owner();
    let a = email_grant(&owner);
    issue(store, &owner, &a, None).await;
    for i in 1..=4 {
        assert_eq!(
            check(store, &owner, &a.wrong, &limits).await,
            CodeCheck::Wrong,
            "A: wrong code {i}"
        );
    }
    let b = email_grant(&owner);
    assert_eq!(issue(store, &owner, &b, None).await, IssueOutcome::Issued);
    assert_eq!(
        check(store, &owner, &b.wrong, &limits).await,
        CodeCheck::Wrong,
        "B: wrong code 1"
    );
    assert_eq!(
        check(store, &owner, &b.wrong, &limits).await,
        CodeCheck::Wrong,
        "B: wrong code 2"
    );
    assert_eq!(
        check(store, &owner, &b.wrong, &limits).await,
        CodeCheck::TooMany,
        "7th wrong code of the member"
    );
    assert_eq!(
        check(store, &owner, &b.code, &limits).await,
        CodeCheck::TooMany,
        "B's right code"
    );
    let replacement = grant(&owner, GrantPurpose::Exchanged, false, LONG);
    let exchanged = store
        .exchange_code(&owner, &b.code, &replacement.grant, &limits)
        .await;
    assert_eq!(exchanged.expect("exchange"), CodeCheck::TooMany);
    assert!(
        live(store, &owner, &b).await,
        "the window refuses codes but does not burn B"
    );
    assert!(!live(store, &owner, &replacement).await);
    // A new grant does not reset the window.
    let c = email_grant(&owner);
    issue(store, &owner, &c, None).await;
    assert_eq!(
        check(store, &owner, &c.code, &limits).await,
        CodeCheck::TooMany,
        "C's right code"
    );
    // Other members are not affected.
    let other = new_owner();
    let d = email_grant(&other);
    issue(store, &other, &d, None).await;
    assert_valid(
        &check(store, &other, &d.code, &limits).await,
        &d,
        "another member",
    );
}

async fn failures_count_without_a_grant(store: &dyn TokenStore) {
    let limits = AttemptLimits {
        per_grant: 5,
        per_member: 3,
        member_window: Duration::from_secs(60),
    };
    let owner = new_owner();
    let (code, wrong) = code_pair(&owner);
    assert_eq!(check(store, &owner, &wrong, &limits).await, CodeCheck::Wrong);
    assert_eq!(check(store, &owner, &code, &limits).await, CodeCheck::Wrong);
    assert_eq!(check(store, &owner, &wrong, &limits).await, CodeCheck::TooMany);
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    assert_eq!(
        check(store, &owner, &g.code, &limits).await,
        CodeCheck::TooMany,
        "the window still counts"
    );

    // exchange_code counts the same way.
    let owner = new_owner();
    let (_, wrong) = code_pair(&owner);
    let replacement = grant(&owner, GrantPurpose::Exchanged, false, LONG);
    for expected in [CodeCheck::Wrong, CodeCheck::Wrong, CodeCheck::TooMany] {
        let got = store
            .exchange_code(&owner, &wrong, &replacement.grant, &limits)
            .await
            .expect("exchange");
        assert_eq!(got, expected);
    }
    assert!(!live(store, &owner, &replacement).await);
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    assert_eq!(check(store, &owner, &g.code, &limits).await, CodeCheck::TooMany);
}

async fn exchange_replaces_the_grant(store: &dyn TokenStore) {
    let owner = new_owner();
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    let replacement = grant(
        &owner,
        GrantPurpose::Exchanged,
        false,
        Duration::from_secs(5 * 60),
    );

    let wrong = store
        .exchange_code(&owner, &g.wrong, &replacement.grant, &LENIENT)
        .await;
    assert_eq!(wrong.expect("exchange"), CodeCheck::Wrong);
    assert!(live(store, &owner, &g).await, "a wrong code leaves the grant");
    assert_eq!(token_info(store, &owner, &replacement.token).await, None);
    assert_eq!(
        store.owner_of_token(&replacement.token).await.expect("route"),
        None
    );

    let right = store
        .exchange_code(&owner, &g.code, &replacement.grant, &LENIENT)
        .await;
    assert_valid(&right.expect("exchange"), &replacement, "exchange_code");
    assert_eq!(
        token_info(store, &owner, &g.token).await,
        None,
        "the old token is dead"
    );
    assert!(!live(store, &owner, &g).await);
    assert!(live(store, &owner, &replacement).await);
    let info = token_info(store, &owner, &replacement.token)
        .await
        .expect("the new token is valid");
    assert_info(&info, &replacement, "exchanged token");
    assert_eq!(info.purpose, GrantPurpose::Exchanged);
    assert_eq!(
        store.owner_of_token(&replacement.token).await.expect("route"),
        Some(owner.clone())
    );
    assert_eq!(
        check(store, &owner, &g.code, &LENIENT).await,
        CodeCheck::Wrong,
        "the code is spent"
    );
    let again = grant(&owner, GrantPurpose::Exchanged, false, LONG);
    let twice = store.exchange_code(&owner, &g.code, &again.grant, &LENIENT).await;
    assert_eq!(twice.expect("exchange"), CodeCheck::Wrong);
    assert!(!spend(store, &owner, GrantProof::Code(g.code.clone())).await);
    assert!(live(store, &owner, &replacement).await);
    assert!(spend(store, &owner, GrantProof::Token(replacement.token.clone())).await);
}

async fn spending_needs_the_right_proof_and_works_once(store: &dyn TokenStore) {
    // By token.
    let owner = new_owner();
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    assert!(!spend(store, &owner, GrantProof::Token(ResetToken::generate().hash())).await);
    assert!(!spend(store, &owner, GrantProof::Code(g.wrong.clone())).await);
    assert!(!spend(store, &owner, GrantProof::Token(TokenHash(g.code.0.clone()))).await);
    assert!(live(store, &owner, &g).await, "wrong proofs leave the grant");
    assert!(spend(store, &owner, GrantProof::Token(g.token.clone())).await);
    assert!(
        !spend(store, &owner, GrantProof::Token(g.token.clone())).await,
        "a grant is spent once"
    );
    assert!(!spend(store, &owner, GrantProof::Code(g.code.clone())).await);
    assert_eq!(token_info(store, &owner, &g.token).await, None);
    assert!(!live(store, &owner, &g).await);

    // By code.
    let owner = new_owner();
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    assert!(spend(store, &owner, GrantProof::Code(g.code.clone())).await);
    assert!(!spend(store, &owner, GrantProof::Code(g.code.clone())).await);
    assert!(!spend(store, &owner, GrantProof::Token(g.token.clone())).await);
    assert_eq!(token_info(store, &owner, &g.token).await, None);
}

async fn revoke_kills_the_grant(store: &dyn TokenStore) {
    let owner = new_owner();
    store
        .revoke_grants(&owner)
        .await
        .expect("revoke with nothing to revoke");
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    store.revoke_grants(&owner).await.expect("revoke");
    assert_eq!(token_info(store, &owner, &g.token).await, None);
    assert!(!live(store, &owner, &g).await);
    assert!(!spend(store, &owner, GrantProof::Token(g.token.clone())).await);
    assert_eq!(check(store, &owner, &g.code, &LENIENT).await, CodeCheck::Wrong);
    store.revoke_grants(&owner).await.expect("revoke twice");
    let next = email_grant(&owner);
    assert_eq!(issue(store, &owner, &next, None).await, IssueOutcome::Issued);
    assert!(live(store, &owner, &next).await);
}

async fn everything_expires(store: &dyn TokenStore) {
    let short = Duration::from_millis(300);
    // A grant and its route.
    let owner = new_owner();
    let g = grant(&owner, GrantPurpose::Email, true, short);
    issue(store, &owner, &g, None).await;
    assert!(token_info(store, &owner, &g.token).await.is_some());
    // A cooldown.
    let cooled = new_owner();
    assert_eq!(
        issue(store, &cooled, &email_grant(&cooled), Some(short)).await,
        IssueOutcome::Issued
    );
    assert_eq!(
        issue(store, &cooled, &email_grant(&cooled), Some(short)).await,
        IssueOutcome::CoolingDown
    );
    // A member window.
    let limits = AttemptLimits {
        per_grant: 5,
        per_member: 2,
        member_window: short,
    };
    let counted = new_owner();
    let (_, wrong) = code_pair(&counted);
    assert_eq!(check(store, &counted, &wrong, &limits).await, CodeCheck::Wrong);
    assert_eq!(check(store, &counted, &wrong, &limits).await, CodeCheck::TooMany);

    tokio::time::sleep(Duration::from_millis(600)).await;

    assert_eq!(
        token_info(store, &owner, &g.token).await,
        None,
        "the grant expired"
    );
    assert!(!live(store, &owner, &g).await);
    assert_eq!(
        store.owner_of_token(&g.token).await.expect("route"),
        None,
        "the route expired"
    );
    assert!(!spend(store, &owner, GrantProof::Token(g.token.clone())).await);
    assert_eq!(check(store, &owner, &g.code, &LENIENT).await, CodeCheck::Wrong);
    assert_eq!(
        issue(store, &cooled, &email_grant(&cooled), Some(short)).await,
        IssueOutcome::Issued
    );
    let fresh = email_grant(&counted);
    issue(store, &counted, &fresh, None).await;
    assert_valid(
        &check(store, &counted, &fresh.code, &limits).await,
        &fresh,
        "after the window",
    );
}

async fn one_spend_wins_under_concurrency(store: &dyn TokenStore) {
    let owner = new_owner();
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    let proof = GrantProof::Token(g.token.clone());
    let results = join_all((0..40).map(|_| store.spend_grant(&owner, &proof)).collect()).await;
    let wins = results
        .into_iter()
        .filter(|r| *r.as_ref().expect("spend_grant"))
        .count();
    assert_eq!(wins, 1, "exactly one concurrent spend wins");
    assert_eq!(token_info(store, &owner, &g.token).await, None);
}

async fn concurrent_wrong_codes_are_all_counted(store: &dyn TokenStore) {
    let limits = AttemptLimits::default();
    let owner = new_owner();
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    let results = join_all(
        (0..30)
            .map(|_| store.check_code(&owner, &g.wrong, &limits))
            .collect(),
    )
    .await;
    let results: Vec<CodeCheck> = results.into_iter().map(|r| r.expect("check_code")).collect();
    assert!(
        results
            .iter()
            .all(|r| matches!(r, CodeCheck::Wrong | CodeCheck::TooMany))
    );
    let wrong = results.iter().filter(|r| **r == CodeCheck::Wrong).count();
    assert_eq!(
        wrong as u32,
        limits.per_grant - 1,
        "no concurrent attempt went uncounted"
    );
    assert_eq!(check(store, &owner, &g.code, &limits).await, CodeCheck::TooMany);
    assert!(!live(store, &owner, &g).await);
}

async fn one_exchange_wins_under_concurrency(store: &dyn TokenStore) {
    let owner = new_owner();
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    let replacements: Vec<TestGrant> = (0..20)
        .map(|_| grant(&owner, GrantPurpose::Exchanged, false, LONG))
        .collect();
    let results = join_all(
        replacements
            .iter()
            .map(|r| store.exchange_code(&owner, &g.code, &r.grant, &LENIENT))
            .collect(),
    )
    .await;
    let results: Vec<CodeCheck> = results.into_iter().map(|r| r.expect("exchange_code")).collect();
    let winners: Vec<&GrantInfo> = results
        .iter()
        .filter_map(|r| match r {
            CodeCheck::Valid(info) => Some(info),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "a code is exchanged once");
    let mut live_ids = Vec::new();
    for r in &replacements {
        if live(store, &owner, r).await {
            live_ids.push(r.grant.id.clone());
        }
    }
    assert_eq!(
        live_ids,
        vec![winners[0].id.clone()],
        "the winner's replacement is the live grant"
    );
}

async fn one_issue_wins_a_cooldown_race(store: &dyn TokenStore) {
    let owner = new_owner();
    let grants: Vec<TestGrant> = (0..20).map(|_| email_grant(&owner)).collect();
    let results = join_all(
        grants
            .iter()
            .map(|g| store.issue_grant(&owner, &g.grant, Some(COOLDOWN)))
            .collect(),
    )
    .await;
    let issued: Vec<usize> = results
        .into_iter()
        .enumerate()
        .filter(|(_, r)| *r.as_ref().expect("issue_grant") == IssueOutcome::Issued)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(issued.len(), 1, "one grant within a cooldown");
    assert!(live(store, &owner, &grants[issued[0]]).await);
}
