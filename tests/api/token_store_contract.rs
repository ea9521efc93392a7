//! The `TokenStore` contract: one function that checks every rule of the port against a live store, so
//! the in-process and the Redis adapters are held to the same semantics. Every check uses fresh owners
//! (random member ids), so it can run against a Redis shared with other tests. Panics on a violation.
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use account_recovery::{
    domain::{
        grant::{
            AttemptLimits, CodeAttempt, CodeHash, CodeLookup, GrantInfo, GrantOwner, GrantProof,
            GrantPurpose, IdentifierKey, IdentifierKind, IndexedCode, IssueOutcome, NewGrant, OnceKey,
            ResetCode, ResetToken, TokenHash,
        },
        keyed_hash::KeyedHasher,
        keyring::KeyId,
        member::MemberId,
        site::SiteId,
    },
    recovery::ports::TokenStore,
};

use crate::helpers::join_all;

const LONG: Duration = Duration::from_secs(15 * 60);
const COOLDOWN: Duration = Duration::from_secs(60);
/// Limits no test here reaches unless it means to.
const LENIENT: AttemptLimits = AttemptLimits {
    per_identifier: 100,
    window: Duration::from_secs(60),
};

/// Runs every check of the contract against `store`; takes about a second.
pub async fn run_contract(store: &dyn TokenStore) {
    let started = Instant::now();
    store.ping().await.expect("ping");
    issue_replaces_the_older_grant(store).await;
    cooldown_keeps_the_first_grant(store).await;
    reissuing_the_live_grant_changes_nothing(store).await;
    grants_are_bound_to_their_owner(store).await;
    codes_are_found_under_both_identifiers_without_being_spent(store).await;
    known_and_unknown_identifiers_answer_wrong_codes_alike(store).await;
    codes_are_found_under_any_key_of_the_ring(store).await;
    the_limit_refuses_even_the_right_code_and_burns_nothing(store).await;
    each_identifier_has_its_own_count(store).await;
    the_window_spans_grants(store).await;
    a_stale_entry_leads_to_a_dead_grant(store).await;
    one_address_with_several_accounts(store).await;
    grants_without_a_code_are_not_indexed(store).await;
    exchange_replaces_the_grant(store).await;
    spending_needs_the_right_proof_and_works_once(store).await;
    revoke_kills_the_grant(store).await;
    everything_expires(store).await;
    one_spend_wins_under_concurrency(store).await;
    concurrent_wrong_codes_are_all_counted(store).await;
    reserved_attempts_share_the_wrong_code_budget(store).await;
    one_exchange_wins_under_concurrency(store).await;
    one_issue_wins_a_cooldown_race(store).await;
    a_one_time_proof_is_spent_once_until_it_lapses(store).await;
    one_spend_once_wins_under_concurrency(store).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the contract should run quickly"
    );
}

/// A grant with its secrets and their hashes, for tests: the code is indexed under the owner's
/// e-mail and login ID (fresh ones, unless given).
struct TestGrant {
    grant: NewGrant,
    token: TokenHash,
    /// The code, and its hash bound to the owner (as the grant keeps it).
    right: ResetCode,
    code: CodeHash,
    /// Another code, and its hash bound to the owner.
    bad: ResetCode,
    wrong: CodeHash,
    email: IdentifierKey,
    login: IdentifierKey,
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

/// A fresh identifier of `kind` on the contract's site (unique, so Redis can be shared).
fn new_identifier(kind: IdentifierKind) -> IdentifierKey {
    let id = uuid::Uuid::new_v4().simple().to_string();
    IdentifierKey {
        site: SiteId::parse("contract").expect("site"),
        kind,
        value: match kind {
            IdentifierKind::Email => format!("u{id}@contract.test"),
            IdentifierKind::Login => format!("l{id}"),
        },
    }
}

/// A right code and a different one.
fn code_pair() -> (ResetCode, ResetCode) {
    let right = ResetCode::generate();
    let n: u32 = right.expose().parse().expect("digits");
    let wrong = ResetCode::parse(&format!("{:06}", (n + 1) % 1_000_000)).expect("code");
    (right, wrong)
}

fn grant_for(
    owner: &GrantOwner,
    purpose: GrantPurpose,
    with_code: bool,
    ttl: Duration,
    email: IdentifierKey,
    login: IdentifierKey,
) -> TestGrant {
    let token = ResetToken::generate().hash();
    let (right, bad) = code_pair();
    let (code, wrong) = (right.hash(&keys(), owner), bad.hash(&keys(), owner));
    let mut new = NewGrant::new(purpose, token.clone(), with_code.then(|| code.clone()), ttl);
    if with_code {
        new = new.indexed_under(
            [&email, &login]
                .map(|identifier| IndexedCode {
                    identifier: identifier.clone(),
                    code: right.index_hash(&keys(), identifier),
                })
                .to_vec(),
        );
    }
    TestGrant {
        grant: new,
        token,
        right,
        code,
        bad,
        wrong,
        email,
        login,
    }
}

fn grant(owner: &GrantOwner, purpose: GrantPurpose, with_code: bool, ttl: Duration) -> TestGrant {
    grant_for(
        owner,
        purpose,
        with_code,
        ttl,
        new_identifier(IdentifierKind::Email),
        new_identifier(IdentifierKind::Login),
    )
}

fn email_grant(owner: &GrantOwner) -> TestGrant {
    grant(owner, GrantPurpose::Email, true, LONG)
}

/// A new e-mail grant for the same owner and identifiers as `g`, with a code other than `g`'s.
fn next_grant(owner: &GrantOwner, g: &TestGrant) -> TestGrant {
    loop {
        let next = grant_for(
            owner,
            GrantPurpose::Email,
            true,
            LONG,
            g.email.clone(),
            g.login.clone(),
        );
        if next.right != g.right && next.right != g.bad {
            return next;
        }
    }
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

/// `code` typed with `identifier`.
async fn judge(
    store: &dyn TokenStore,
    identifier: &IdentifierKey,
    code: &ResetCode,
    limits: &AttemptLimits,
) -> CodeLookup {
    store
        .judge_code(identifier, &[code.index_hash(&keys(), identifier)], limits)
        .await
        .expect("judge_code")
}

/// What a found entry of `g` looks like.
fn found(owner: &GrantOwner, g: &TestGrant) -> CodeLookup {
    CodeLookup::Found {
        owner: owner.clone(),
        grant_id: g.grant.id.clone(),
        matched: 0,
    }
}

/// The owner's grant checked by `g`'s code and id.
async fn check(store: &dyn TokenStore, owner: &GrantOwner, g: &TestGrant) -> Option<GrantInfo> {
    store
        .check_code(owner, &g.code, &g.grant.id)
        .await
        .expect("check_code")
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

    let second = next_grant(&owner, &first);
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
    assert_eq!(check(store, &owner, &first).await, None, "the old code is dead");
    assert_info(
        &check(store, &owner, &second).await.expect("the new code"),
        &second,
        "the new code",
    );
    assert!(!spend(store, &owner, GrantProof::Token(first.token.clone())).await);
    assert!(live(store, &owner, &second).await);
}

/// A handed-off request resolved twice issues the same grant (same id) twice: the second time is
/// answered as issued, inside the cooldown too, and leaves the grant as it was. Another grant
/// still waits for the cooldown, and a grant that died meanwhile is not brought back.
async fn reissuing_the_live_grant_changes_nothing(store: &dyn TokenStore) {
    let owner = new_owner();
    let first = email_grant(&owner);
    assert_eq!(
        issue(store, &owner, &first, Some(COOLDOWN)).await,
        IssueOutcome::Issued
    );
    assert_eq!(
        issue(store, &owner, &first, Some(COOLDOWN)).await,
        IssueOutcome::Issued,
        "the live grant again"
    );
    assert!(token_info(store, &owner, &first.token).await.is_some());
    assert_info(
        &check(store, &owner, &first).await.expect("its code still works"),
        &first,
        "the same grant",
    );
    let other = email_grant(&owner);
    assert_eq!(
        issue(store, &owner, &other, Some(COOLDOWN)).await,
        IssueOutcome::CoolingDown,
        "another grant waits for the cooldown"
    );
    assert!(spend(store, &owner, GrantProof::Token(first.token.clone())).await);
    assert_eq!(
        issue(store, &owner, &first, Some(COOLDOWN)).await,
        IssueOutcome::CoolingDown,
        "a spent grant is not issued again within the cooldown"
    );
    assert_eq!(token_info(store, &owner, &first.token).await, None);
}

async fn cooldown_keeps_the_first_grant(store: &dyn TokenStore) {
    let owner = new_owner();
    let first = email_grant(&owner);
    let second = next_grant(&owner, &first);
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
    assert_eq!(
        judge(store, &second.email, &second.right, &LENIENT).await,
        CodeLookup::Wrong,
        "the refused grant's code was not indexed"
    );
    assert_eq!(
        judge(store, &first.email, &first.right, &LENIENT).await,
        found(&owner, &first)
    );
    assert!(check(store, &owner, &first).await.is_some(), "the first code");

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
    assert_eq!(check(store, &other, &g).await, None);
    assert_eq!(
        store
            .check_code(&owner, &g.code, "no-such-grant")
            .await
            .expect("check_code"),
        None,
        "the grant id must match too"
    );
    assert!(!store.grant_is_live(&owner, "no-such-grant").await.expect("live"));
    let unknown = ResetToken::generate().hash();
    assert_eq!(store.owner_of_token(&unknown).await.expect("route"), None);
    assert_eq!(token_info(store, &owner, &unknown).await, None);
    assert!(
        token_info(store, &owner, &g.token).await.is_some(),
        "nothing above touched the grant"
    );
}

async fn codes_are_found_under_both_identifiers_without_being_spent(store: &dyn TokenStore) {
    let owner = new_owner();
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    let limits = AttemptLimits::default();
    for _ in 0..limits.per_identifier * 2 {
        for identifier in [&g.email, &g.login] {
            assert_eq!(
                judge(store, identifier, &g.right, &limits).await,
                found(&owner, &g)
            );
        }
        assert!(
            check(store, &owner, &g).await.is_some(),
            "check_code spends nothing"
        );
        assert!(token_info(store, &owner, &g.token).await.is_some());
    }
    // A found code counts nothing: a whole budget of wrong ones is still there.
    for i in 1..limits.per_identifier {
        assert_eq!(
            judge(store, &g.email, &g.bad, &limits).await,
            CodeLookup::Wrong,
            "wrong code {i}"
        );
    }
    assert_eq!(judge(store, &g.email, &g.right, &limits).await, found(&owner, &g));
    // The index is bound to the identifier as typed and to the site.
    let elsewhere = IdentifierKey {
        site: SiteId::parse("contract-2").expect("site"),
        ..g.email.clone()
    };
    assert_eq!(
        judge(store, &elsewhere, &g.right, &LENIENT).await,
        CodeLookup::Wrong
    );
    assert!(live(store, &owner, &g).await);
}

/// The oracle this design closes: the same wrong codes give the same answers whether the identifier
/// names an account (with a live grant, by e-mail or login ID) or no one.
async fn known_and_unknown_identifiers_answer_wrong_codes_alike(store: &dyn TokenStore) {
    let limits = AttemptLimits::default();
    let owner = new_owner();
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    let unknown_email = new_identifier(IdentifierKind::Email);
    let unknown_login = new_identifier(IdentifierKind::Login);
    let mut answers = Vec::new();
    for identifier in [&g.email, &unknown_email, &g.login, &unknown_login] {
        let mut sequence = Vec::new();
        for _ in 0..limits.per_identifier + 3 {
            sequence.push(judge(store, identifier, &g.bad, &limits).await);
        }
        answers.push(sequence);
    }
    let expected: Vec<CodeLookup> = (1..=limits.per_identifier + 3)
        .map(|i| {
            if i < limits.per_identifier {
                CodeLookup::Wrong
            } else {
                CodeLookup::TooMany
            }
        })
        .collect();
    for (i, sequence) in answers.iter().enumerate() {
        assert_eq!(sequence, &expected, "identifier {i}");
    }
}

/// A code is judged under each key of the ring at once: found under whichever key indexed it (and
/// which one said), and a wrong code costs one failure however many keys it was hashed under.
async fn codes_are_found_under_any_key_of_the_ring(store: &dyn TokenStore) {
    let limits = AttemptLimits::default();
    let owner = new_owner();
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    let newer = KeyedHasher::derived(KeyId::parse("newer").expect("id"), b"another-key");
    let under_both = |code: &ResetCode| {
        [
            code.index_hash(&newer, &g.email),
            code.index_hash(&keys(), &g.email),
        ]
    };
    let found = store
        .judge_code(&g.email, &under_both(&g.right), &limits)
        .await
        .expect("judge_code");
    assert_eq!(
        found,
        CodeLookup::Found {
            owner: owner.clone(),
            grant_id: g.grant.id.clone(),
            matched: 1,
        }
    );
    for i in 1..limits.per_identifier {
        let wrong = store
            .judge_code(&g.email, &under_both(&g.bad), &limits)
            .await
            .expect("judge_code");
        assert_eq!(wrong, CodeLookup::Wrong, "attempt {i} counts once");
    }
    let last = store
        .judge_code(&g.email, &under_both(&g.bad), &limits)
        .await
        .expect("judge_code");
    assert_eq!(last, CodeLookup::TooMany);
}

async fn the_limit_refuses_even_the_right_code_and_burns_nothing(store: &dyn TokenStore) {
    let limits = AttemptLimits::default();
    let owner = new_owner();
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    for _ in 0..limits.per_identifier {
        judge(store, &g.email, &g.bad, &limits).await;
    }
    assert_eq!(
        judge(store, &g.email, &g.right, &limits).await,
        CodeLookup::TooMany,
        "checking the code at the limit would give unlimited guesses"
    );
    // Code counters never burn the grant: its link still works, and so does its code by login ID.
    assert!(live(store, &owner, &g).await);
    assert!(token_info(store, &owner, &g.token).await.is_some());
    assert_eq!(judge(store, &g.login, &g.right, &limits).await, found(&owner, &g));
    assert!(spend(store, &owner, GrantProof::Token(g.token.clone())).await);
}

async fn each_identifier_has_its_own_count(store: &dyn TokenStore) {
    let limits = AttemptLimits {
        per_identifier: 3,
        window: Duration::from_secs(60),
    };
    let a = new_identifier(IdentifierKind::Email);
    let same_value_as_login = IdentifierKey {
        kind: IdentifierKind::Login,
        ..a.clone()
    };
    let (_, wrong) = code_pair();
    for want in [CodeLookup::Wrong, CodeLookup::Wrong, CodeLookup::TooMany] {
        assert_eq!(judge(store, &a, &wrong, &limits).await, want);
    }
    assert_eq!(
        judge(store, &same_value_as_login, &wrong, &limits).await,
        CodeLookup::Wrong,
        "kinds count apart"
    );
    assert_eq!(
        judge(store, &new_identifier(IdentifierKind::Email), &wrong, &limits).await,
        CodeLookup::Wrong
    );
}

async fn the_window_spans_grants(store: &dyn TokenStore) {
    let limits = AttemptLimits {
        per_identifier: 7,
        window: Duration::from_secs(60),
    };
    let owner = new_owner();
    let a = email_grant(&owner);
    issue(store, &owner, &a, None).await;
    for i in 1..=4 {
        assert_eq!(
            judge(store, &a.login, &a.bad, &limits).await,
            CodeLookup::Wrong,
            "A: wrong code {i}"
        );
    }
    let b = next_grant(&owner, &a);
    assert_eq!(issue(store, &owner, &b, None).await, IssueOutcome::Issued);
    for want in [CodeLookup::Wrong, CodeLookup::Wrong, CodeLookup::TooMany] {
        assert_eq!(judge(store, &b.login, &a.bad, &limits).await, want, "B");
    }
    assert_eq!(
        judge(store, &b.login, &b.right, &limits).await,
        CodeLookup::TooMany,
        "B's right code"
    );
    assert!(
        live(store, &owner, &b).await,
        "the count refuses codes but burns nothing"
    );
    // A new grant does not reset the window.
    let c = next_grant(&owner, &b);
    issue(store, &owner, &c, None).await;
    assert_eq!(
        judge(store, &c.login, &c.right, &limits).await,
        CodeLookup::TooMany
    );
    assert_eq!(judge(store, &c.email, &c.right, &limits).await, found(&owner, &c));
}

async fn a_stale_entry_leads_to_a_dead_grant(store: &dyn TokenStore) {
    let owner = new_owner();
    let old = email_grant(&owner);
    issue(store, &owner, &old, None).await;
    let new = next_grant(&owner, &old);
    issue(store, &owner, &new, None).await;
    // The old code is still found (its entry names the old grant)...
    assert_eq!(
        judge(store, &old.email, &old.right, &LENIENT).await,
        found(&owner, &old)
    );
    // ...and following it finds nothing: the owner's slot decides.
    assert_eq!(check(store, &owner, &old).await, None);
    let replacement = grant(&owner, GrantPurpose::Exchanged, false, LONG);
    assert_eq!(
        store
            .exchange_code(&owner, &old.code, &old.grant.id, &replacement.grant)
            .await
            .expect("exchange"),
        None
    );
    assert!(live(store, &owner, &new).await, "the stale entry touched nothing");
    assert_eq!(
        judge(store, &new.email, &new.right, &LENIENT).await,
        found(&owner, &new)
    );
}

async fn one_address_with_several_accounts(store: &dyn TokenStore) {
    let limits = AttemptLimits {
        per_identifier: 4,
        window: Duration::from_secs(60),
    };
    let email = new_identifier(IdentifierKind::Email);
    let (first, second) = (new_owner(), new_owner());
    let a = grant_for(
        &first,
        GrantPurpose::Email,
        true,
        LONG,
        email.clone(),
        new_identifier(IdentifierKind::Login),
    );
    let mut b = grant_for(
        &second,
        GrantPurpose::Email,
        true,
        LONG,
        email.clone(),
        new_identifier(IdentifierKind::Login),
    );
    while b.right == a.right || b.right == a.bad || b.bad == a.right {
        b = grant_for(
            &second,
            GrantPurpose::Email,
            true,
            LONG,
            email.clone(),
            b.login.clone(),
        );
    }
    issue(store, &first, &a, None).await;
    issue(store, &second, &b, None).await;
    assert_eq!(judge(store, &email, &a.right, &limits).await, found(&first, &a));
    assert_eq!(judge(store, &email, &b.right, &limits).await, found(&second, &b));
    // One count for the address, whichever account a stranger aims at.
    for want in [
        CodeLookup::Wrong,
        CodeLookup::Wrong,
        CodeLookup::Wrong,
        CodeLookup::TooMany,
    ] {
        assert_eq!(judge(store, &email, &a.bad, &limits).await, want);
    }
    assert_eq!(judge(store, &email, &b.right, &limits).await, CodeLookup::TooMany);
    assert_eq!(
        judge(store, &b.login, &b.right, &limits).await,
        found(&second, &b)
    );
}

async fn grants_without_a_code_are_not_indexed(store: &dyn TokenStore) {
    let owner = new_owner();
    let g = grant(&owner, GrantPurpose::Direct, false, LONG);
    issue(store, &owner, &g, None).await;
    for identifier in [&g.email, &g.login] {
        assert_eq!(
            judge(store, identifier, &g.right, &LENIENT).await,
            CodeLookup::Wrong
        );
    }
    assert_eq!(check(store, &owner, &g).await, None, "no code matches");
    assert!(token_info(store, &owner, &g.token).await.is_some());
    assert!(!spend(store, &owner, GrantProof::Code(g.code.clone())).await);
    assert!(spend(store, &owner, GrantProof::Token(g.token.clone())).await);
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
        .exchange_code(&owner, &g.wrong, &g.grant.id, &replacement.grant)
        .await;
    assert_eq!(wrong.expect("exchange"), None);
    assert!(live(store, &owner, &g).await, "a wrong code leaves the grant");
    assert_eq!(token_info(store, &owner, &replacement.token).await, None);
    assert_eq!(
        store.owner_of_token(&replacement.token).await.expect("route"),
        None
    );

    let right = store
        .exchange_code(&owner, &g.code, &g.grant.id, &replacement.grant)
        .await
        .expect("exchange")
        .expect("a right code is exchanged");
    assert_info(&right, &replacement, "exchange_code");
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
    assert_eq!(check(store, &owner, &g).await, None, "the code is spent");
    let again = grant(&owner, GrantPurpose::Exchanged, false, LONG);
    let twice = store
        .exchange_code(&owner, &g.code, &g.grant.id, &again.grant)
        .await;
    assert_eq!(twice.expect("exchange"), None);
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
    assert_eq!(check(store, &owner, &g).await, None);
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
    assert_eq!(check(store, &owner, &g).await, None);
    store.revoke_grants(&owner).await.expect("revoke twice");
    let next = email_grant(&owner);
    assert_eq!(issue(store, &owner, &next, None).await, IssueOutcome::Issued);
    assert!(live(store, &owner, &next).await);
}

async fn everything_expires(store: &dyn TokenStore) {
    let short = Duration::from_millis(300);
    // A grant, its route and its index entries.
    let owner = new_owner();
    let g = grant(&owner, GrantPurpose::Email, true, short);
    issue(store, &owner, &g, None).await;
    assert!(token_info(store, &owner, &g.token).await.is_some());
    assert_eq!(
        judge(store, &g.email, &g.right, &LENIENT).await,
        found(&owner, &g)
    );
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
    // A failure window.
    let limits = AttemptLimits {
        per_identifier: 2,
        window: short,
    };
    let counted = new_owner();
    let c = email_grant(&counted);
    issue(store, &counted, &c, None).await;
    assert_eq!(judge(store, &c.login, &c.bad, &limits).await, CodeLookup::Wrong);
    assert_eq!(judge(store, &c.login, &c.bad, &limits).await, CodeLookup::TooMany);
    assert_eq!(
        judge(store, &c.login, &c.right, &limits).await,
        CodeLookup::TooMany
    );

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
    assert_eq!(
        judge(store, &g.email, &g.right, &LENIENT).await,
        CodeLookup::Wrong,
        "the index entry expired"
    );
    assert!(!spend(store, &owner, GrantProof::Token(g.token.clone())).await);
    assert_eq!(check(store, &owner, &g).await, None);
    assert_eq!(
        issue(store, &cooled, &email_grant(&cooled), Some(short)).await,
        IssueOutcome::Issued
    );
    assert_eq!(
        judge(store, &c.login, &c.right, &limits).await,
        found(&counted, &c),
        "after the window"
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
    // Below the limit: 20 concurrent wrong codes count exactly 20.
    let roomy = AttemptLimits {
        per_identifier: 21,
        window: Duration::from_secs(60),
    };
    let owner = new_owner();
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    let hash = g.bad.index_hash(&keys(), &g.email);
    let results = join_all(
        (0..20)
            .map(|_| store.judge_code(&g.email, std::slice::from_ref(&hash), &roomy))
            .collect(),
    )
    .await;
    assert!(
        results
            .into_iter()
            .all(|r| r.expect("judge_code") == CodeLookup::Wrong)
    );
    assert_eq!(
        judge(store, &g.email, &g.bad, &roomy).await,
        CodeLookup::TooMany,
        "the 21st: no concurrent attempt went uncounted"
    );

    // At the limit: of 20 concurrent different codes (the right one last), at most `limit` are
    // looked at, and exactly `limit - 1` answer Wrong.
    let limits = AttemptLimits::default();
    let g = email_grant(&owner);
    issue(store, &owner, &g, None).await;
    let n: u32 = g.right.expose().parse().expect("digits");
    let mut codes: Vec<CodeHash> = (1..20)
        .map(|i| {
            ResetCode::parse(&format!("{:06}", (n + i) % 1_000_000))
                .expect("code")
                .index_hash(&keys(), &g.login)
        })
        .collect();
    codes.push(g.right.index_hash(&keys(), &g.login));
    let results = join_all(
        codes
            .iter()
            .map(|code| store.judge_code(&g.login, std::slice::from_ref(code), &limits))
            .collect(),
    )
    .await;
    let results: Vec<CodeLookup> = results.into_iter().map(|r| r.expect("judge_code")).collect();
    let wrong = results.iter().filter(|r| **r == CodeLookup::Wrong).count() as u32;
    let found_ = results
        .iter()
        .filter(|r| matches!(r, CodeLookup::Found { .. }))
        .count() as u32;
    assert_eq!(wrong, limits.per_identifier - 1, "{results:?}");
    assert!(wrong + found_ < limits.per_identifier + 1, "{results:?}");
    assert_eq!(
        judge(store, &g.login, &g.right, &limits).await,
        CodeLookup::TooMany
    );
    assert!(live(store, &owner, &g).await);
}

/// Attempts at codes checked outside the store (recovery codes) spend the identifier's wrong-code
/// budget before they are looked at: the same count as `judge_code`, bounded under concurrency, a
/// right code's attempt given back.
async fn reserved_attempts_share_the_wrong_code_budget(store: &dyn TokenStore) {
    let limits = AttemptLimits {
        per_identifier: 4,
        window: Duration::from_secs(60),
    };
    let reserve = |id: &IdentifierKey| {
        let id = id.clone();
        async move { store.reserve_code_attempt(&id, &limits).await }
    };
    let login = new_identifier(IdentifierKind::Login);
    let (_, wrong) = code_pair();
    // Two wrong mailed codes, then reserved attempts: one budget.
    for _ in 0..2 {
        assert_eq!(judge(store, &login, &wrong, &limits).await, CodeLookup::Wrong);
    }
    assert_eq!(
        reserve(&login).await.expect("reserve"),
        CodeAttempt::Counted { last: false }
    );
    // A right code gives its attempt back: the budget is where it was.
    store.release_code_attempt(&login).await.expect("release");
    assert_eq!(
        reserve(&login).await.expect("reserve"),
        CodeAttempt::Counted { last: false }
    );
    assert_eq!(
        reserve(&login).await.expect("reserve"),
        CodeAttempt::Counted { last: true },
        "the limit-th"
    );
    assert_eq!(reserve(&login).await.expect("reserve"), CodeAttempt::TooMany);
    assert_eq!(
        judge(store, &login, &wrong, &limits).await,
        CodeLookup::TooMany,
        "the mailed codes of the identifier are refused too"
    );
    // Giving back at zero, or for an identifier never counted, leaves nothing below zero.
    let fresh = new_identifier(IdentifierKind::Login);
    store.release_code_attempt(&fresh).await.expect("release");
    assert_eq!(
        reserve(&fresh).await.expect("reserve"),
        CodeAttempt::Counted { last: false }
    );

    // Under concurrency: of 12 attempts, exactly `limit` are counted (the last of them `last`).
    let busy = new_identifier(IdentifierKind::Email);
    let results = join_all((0..12).map(|_| reserve(&busy)).collect()).await;
    let results: Vec<CodeAttempt> = results.into_iter().map(|r| r.expect("reserve")).collect();
    let counted = results
        .iter()
        .filter(|r| matches!(r, CodeAttempt::Counted { .. }))
        .count() as u32;
    let last = results
        .iter()
        .filter(|r| **r == CodeAttempt::Counted { last: true })
        .count();
    assert_eq!(counted, limits.per_identifier, "{results:?}");
    assert_eq!(last, 1, "{results:?}");
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
            .map(|r| store.exchange_code(&owner, &g.code, &g.grant.id, &r.grant))
            .collect(),
    )
    .await;
    let winners: Vec<GrantInfo> = results
        .into_iter()
        .filter_map(|r| r.expect("exchange_code"))
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

/// `spend_once`: true the first time only, for as long as asked; then the key is free again.
async fn a_one_time_proof_is_spent_once_until_it_lapses(store: &dyn TokenStore) {
    let key = OnceKey::of("test", &[&uuid::Uuid::new_v4().to_string()]);
    let other = OnceKey::of("test", &[&uuid::Uuid::new_v4().to_string()]);
    let short = Duration::from_millis(300);
    assert!(store.spend_once(&key, short).await.unwrap(), "first use");
    assert!(!store.spend_once(&key, short).await.unwrap(), "second use");
    assert!(
        store.spend_once(&other, LONG).await.unwrap(),
        "keys are independent"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(
        store.spend_once(&key, short).await.unwrap(),
        "lapsed, so free again"
    );
    assert!(
        !store.spend_once(&other, LONG).await.unwrap(),
        "the long one is still spent"
    );
}

async fn one_spend_once_wins_under_concurrency(store: &dyn TokenStore) {
    let key = OnceKey::of("test", &[&uuid::Uuid::new_v4().to_string()]);
    let wins = join_all((0..16).map(|_| store.spend_once(&key, LONG)).collect())
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(wins, 1, "exactly one concurrent spend wins");
}
