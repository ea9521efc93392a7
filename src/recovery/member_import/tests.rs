use std::sync::{
    Mutex,
    atomic::{AtomicUsize, Ordering},
};

use async_trait::async_trait;

use super::*;
use crate::{
    domain::{
        confusables::LoginIdSkeleton,
        keyring::Keyring,
        member::{Member, MemberId, StoredHash},
        password::Password,
        password_policy::PasswordPolicy,
    },
    recovery::ports::{ImportWriter, MemberAdminStore, StoreError, Verification},
};

/// Members in memory: `stored` is what a reader sees; an import's rows wait in its writer.
#[derive(Default)]
struct Store {
    stored: Mutex<Vec<NewMember>>,
    /// Members handed to each `insert` of an import, in order.
    inserts: Mutex<Vec<usize>>,
    commits: AtomicUsize,
    /// Sites created outside any import's transaction (kept whatever the import does after).
    ensured: Mutex<Vec<SiteId>>,
}

struct Writer {
    store: Arc<Store>,
    rows: Vec<NewMember>,
}

#[async_trait]
impl ImportWriter for Writer {
    async fn insert(&mut self, members: &[NewMember]) -> Result<(), StoreError> {
        self.store.inserts.lock().unwrap().push(members.len());
        self.rows.extend_from_slice(members);
        Ok(())
    }
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.store.commits.fetch_add(1, Ordering::SeqCst);
        self.store.stored.lock().unwrap().extend(self.rows);
        Ok(())
    }
}

#[async_trait]
impl MemberAdminStore for Arc<Store> {
    async fn ensure_sites(&self, sites: &[SiteId]) -> Result<(), StoreError> {
        self.ensured.lock().unwrap().extend_from_slice(sites);
        Ok(())
    }
    async fn existing_login_ids(
        &self,
        ids: &[(SiteId, LoginId)],
    ) -> Result<Vec<(SiteId, LoginId)>, StoreError> {
        let stored = self.stored.lock().unwrap();
        let has = |(s, id): &&(SiteId, LoginId)| {
            stored
                .iter()
                .any(|m| &m.site_id == s && m.login_id.normalized() == id.normalized())
        };
        Ok(ids.iter().filter(has).cloned().collect())
    }
    async fn existing_skeletons(
        &self,
        skeletons: &[(SiteId, LoginIdSkeleton)],
    ) -> Result<Vec<(SiteId, LoginIdSkeleton)>, StoreError> {
        let stored = self.stored.lock().unwrap();
        let has = |(s, k): &&(SiteId, LoginIdSkeleton)| {
            stored
                .iter()
                .any(|m| &m.site_id == s && &LoginIdSkeleton::of(&m.login_id) == k)
        };
        Ok(skeletons.iter().filter(has).cloned().collect())
    }
    async fn insert_members(&self, members: &[NewMember]) -> Result<Vec<MemberId>, StoreError> {
        self.stored.lock().unwrap().extend_from_slice(members);
        Ok(members
            .iter()
            .map(|m| MemberId(m.login_id.normalized()))
            .collect())
    }
    async fn begin_import(&self) -> Result<Box<dyn ImportWriter>, StoreError> {
        Ok(Box::new(Writer {
            store: self.clone(),
            rows: Vec::new(),
        }))
    }
    async fn list_members(&self, _: Option<&SiteId>) -> Result<Vec<Member>, StoreError> {
        Ok(Vec::new())
    }
    async fn count_members(&self) -> Result<u64, StoreError> {
        Ok(self.stored.lock().unwrap().len() as u64)
    }
}

/// "Hashes" a password by naming it, counting the hashes and the most that ran at once.
#[derive(Default)]
struct Hasher {
    running: AtomicUsize,
    most: AtomicUsize,
    done: AtomicUsize,
}

#[async_trait]
impl PasswordHasher for Hasher {
    async fn hash(&self, password: &Password) -> Result<StoredHash, HashError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.done.fetch_add(1, Ordering::SeqCst);
        Ok(StoredHash(format!("$argon2id$hashed:{}", password.expose())))
    }
    async fn verify(&self, _: &Password, _: &StoredHash) -> Result<Verification, HashError> {
        Err(HashError::UnsupportedHash)
    }
    async fn verify_dummy(&self, _: &Password) {}
    fn is_supported_hash(&self, stored: &str) -> bool {
        stored.starts_with("$argon2id$")
    }
}

fn admin(store: &Arc<Store>, hasher: &Arc<Hasher>) -> MemberAdmin {
    MemberAdmin::new(
        Arc::new(store.clone()),
        hasher.clone(),
        Keyring::single(b"unit-test-secret-0123456789abcdef0123"),
        SiteId::parse("main").unwrap(),
        PasswordPolicy::default(),
    )
}

fn now() -> DateTime<Utc> {
    "2026-12-07T03:00:00Z".parse().unwrap()
}

/// `n` members `m0`, `m1`… with a stored hash, every `plain_every`th with a plain password.
fn file(n: usize, plain_every: usize) -> String {
    (0..n)
        .map(|i| {
            let password = if i % plain_every == plain_every - 1 {
                format!(r#""password":"plain-{i}""#)
            } else {
                r#""passwordHash":"$argon2id$legacy""#.to_owned()
            };
            format!(r#"{{"loginId":"m{i}","email":"m{i}@example.com",{password}}}"#) + "\n"
        })
        .collect()
}

fn line_of(e: AdminError) -> (usize, String) {
    match e {
        AdminError::Line { line, problem } => (line, problem),
        other => panic!("not a line error: {other}"),
    }
}

#[tokio::test]
async fn every_member_is_written_in_chunks_and_committed_once_with_plain_passwords_hashed() {
    let (store, hasher) = (Arc::new(Store::default()), Arc::new(Hasher::default()));
    let n = 3 * CHUNK + 5;
    let count = admin(&store, &hasher).import(&file(n, 100), now()).await.unwrap();
    assert_eq!(count, n);
    assert_eq!(store.commits.load(Ordering::SeqCst), 1);
    assert_eq!(*store.inserts.lock().unwrap(), vec![CHUNK, CHUNK, CHUNK, 5]);
    let stored = store.stored.lock().unwrap();
    assert_eq!(stored.len(), n);
    assert_eq!(
        stored[99].password_hash.as_ref().unwrap().0,
        "$argon2id$hashed:plain-99"
    );
    assert_eq!(stored[98].password_hash.as_ref().unwrap().0, "$argon2id$legacy");
    assert_eq!(hasher.done.load(Ordering::SeqCst), n / 100);
    // Several chunks' hashes were in flight together, not one password after another.
    assert!(hasher.most.load(Ordering::SeqCst) > 1);
}

#[tokio::test]
async fn a_bad_line_far_into_the_file_imports_nothing_and_is_named() {
    let (store, hasher) = (Arc::new(Store::default()), Arc::new(Hasher::default()));
    let contents = file(5000, 500) + r#"{"loginId":"late","email":"not-an-email","password":"x"}"#;
    let (line, problem) = line_of(admin(&store, &hasher).import(&contents, now()).await.unwrap_err());
    assert_eq!(line, 5001);
    assert!(problem.contains("email"), "{problem}");
    assert!(store.stored.lock().unwrap().is_empty());
    assert!(
        store.inserts.lock().unwrap().is_empty(),
        "nothing written before the check ended"
    );
    assert_eq!(hasher.done.load(Ordering::SeqCst), 0, "nothing hashed");
}

#[tokio::test]
async fn the_first_bad_line_is_reported_whichever_check_finds_it() {
    let (store, hasher) = (Arc::new(Store::default()), Arc::new(Hasher::default()));
    let admin = admin(&store, &hasher);
    admin
        .import(
            r#"{"loginId":"m1500","email":"x@example.com","password":"p"}"#,
            now(),
        )
        .await
        .unwrap();
    // Line 1501 is taken in the store, line 3001 is broken: the store's finding comes first.
    let mut contents = file(3000, 1000);
    contents.push_str("{not json\n");
    let (line, problem) = line_of(admin.import(&contents, now()).await.unwrap_err());
    assert_eq!(
        (line, problem.contains("already exists")),
        (1501, true),
        "{problem}"
    );
    // Also when the taken line is in the batch the broken line cut short (lines 1,025 to 2,030).
    admin
        .import(
            r#"{"loginId":"m2000","email":"x@example.com","password":"p"}"#,
            now(),
        )
        .await
        .unwrap();
    let contents = file(2030, 1000).replace("m1500", "n1500") + "{not json\n";
    let (line, problem) = line_of(admin.import(&contents, now()).await.unwrap_err());
    assert_eq!(
        (line, problem.contains("already exists")),
        (2001, true),
        "{problem}"
    );
    // A broken line before the taken one is reported instead.
    let contents = file(1200, 1000) + "{not json\n" + &file(3000, 1000);
    let (line, _) = line_of(admin.import(&contents, now()).await.unwrap_err());
    assert_eq!(line, 1201);
    assert_eq!(store.stored.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn duplicates_and_look_alikes_in_the_file_name_the_first_line() {
    let (store, hasher) = (Arc::new(Store::default()), Arc::new(Hasher::default()));
    let admin = admin(&store, &hasher);
    let twice = file(10, 100) + r#"{"loginId":"M3","email":"a@example.com","password":"p"}"#;
    let (line, problem) = line_of(admin.import(&twice, now()).await.unwrap_err());
    assert_eq!(line, 11);
    assert!(
        problem.contains("appears twice") && problem.contains("line 4"),
        "{problem}"
    );
    let alike = file(10, 100) + r#"{"loginId":"rn3","email":"a@example.com","password":"p"}"#;
    let alike = alike.replace("\"m3\"", "\"m.3\"").replace("rn3", "rn.3");
    let (line, problem) = line_of(admin.import(&alike, now()).await.unwrap_err());
    assert_eq!(
        (line, problem.as_str()),
        (11, "the login ID is confusable with the one on line 4")
    );
    // Another site may have the same login ID.
    let other_site =
        file(2, 100) + r#"{"siteId":"shop","loginId":"m1","email":"a@example.com","password":"p"}"#;
    assert_eq!(admin.import(&other_site, now()).await.unwrap(), 3);
}

/// A file that reads one way, then another.
struct Changing(AtomicUsize, [Arc<[u8]>; 2]);

impl ImportSource for Changing {
    fn open(&self) -> io::Result<Box<dyn BufRead + Send>> {
        let pass = self.0.fetch_add(1, Ordering::SeqCst).min(1);
        self.1[pass].open()
    }
}

#[tokio::test]
async fn a_file_changed_between_the_passes_is_rolled_back() {
    let (store, hasher) = (Arc::new(Store::default()), Arc::new(Hasher::default()));
    let admin = admin(&store, &hasher);
    let first = file(2000, 100);
    for second in [
        file(2001, 100),
        first.replace("m1999", "m1999x"),
        first.replace("m5@", "bad"),
    ] {
        let source = Changing(
            AtomicUsize::new(0),
            [Arc::from(first.as_bytes()), Arc::from(second.as_bytes())],
        );
        let e = admin.import_from(Arc::new(source), now()).await.unwrap_err();
        assert!(e.to_string().contains("the file changed"), "{e}");
    }
    assert_eq!(store.commits.load(Ordering::SeqCst), 0);
    assert!(store.stored.lock().unwrap().is_empty());
    // Sites come with the members, in the import's transaction: none is left behind.
    assert!(store.ensured.lock().unwrap().is_empty());
}

#[tokio::test]
async fn line_endings_blank_lines_and_bad_bytes() {
    let (store, hasher) = (Arc::new(Store::default()), Arc::new(Hasher::default()));
    let admin = admin(&store, &hasher);
    let crlf = "\r\n  \r\n{\"loginId\":\"a1\",\"email\":\"a@example.com\",\"password\":\"p\"}\r\n\n";
    assert_eq!(admin.import(crlf, now()).await.unwrap(), 1);
    let mut bytes = b"\n{\"loginId\":\"b1\",\"email\":\"b@example.com\",\"password\":\"p".to_vec();
    bytes.extend([0xff, b'"', b'}']);
    let source: Arc<[u8]> = Arc::from(bytes);
    let (line, problem) = line_of(admin.import_from(Arc::new(source), now()).await.unwrap_err());
    assert_eq!((line, problem.as_str()), (2, "not valid UTF-8"));
}
