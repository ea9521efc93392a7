//! `member import`: JSON Lines of any length, read twice as a stream. The first pass checks every
//! line, so a bad one imports nothing, holding only digests of the login IDs; the second hashes
//! plain passwords on the hashing pool and writes every member in one transaction.
use std::{
    collections::VecDeque,
    io::{self, BufRead},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::{sync::mpsc, task::JoinHandle};

use crate::{
    domain::{login_id::LoginId, site::SiteId},
    recovery::{
        errors::RecoveryError,
        member_drafts::record_problem,
        members::{AdminError, Checked, InitialPassword, MemberAdmin, MemberDraft},
        new_login_id::{LoginIdRefusal, NewLoginIdError, NewLoginIds, check_stored},
        ports::{HashError, NewMember, PasswordHasher},
    },
};

/// Lines whose login IDs are looked for among the stored members in one round trip.
const PROBE_LINES: usize = 1024;
/// Members hashed and written together.
const CHUNK: usize = 1024;
/// Chunks whose plain passwords are being hashed while an earlier one is written: enough to keep
/// the hashing pool busy when plain lines are sparse, few enough to bound memory.
const HASHING_AHEAD: usize = 4;

/// Where the lines of an import come from; opened once per pass.
pub trait ImportSource: Send + Sync {
    /// A reader from the first byte.
    fn open(&self) -> io::Result<Box<dyn BufRead + Send>>;
}

impl ImportSource for Arc<[u8]> {
    fn open(&self) -> io::Result<Box<dyn BufRead + Send>> {
        Ok(Box::new(io::Cursor::new(self.clone())))
    }
}

/// A line of a `member import` file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImportLine {
    site_id: Option<String>,
    login_id: String,
    email: String,
    name: Option<String>,
    member_type: Option<String>,
    join_type: Option<String>,
    ci: Option<String>,
    password: Option<String>,
    password_hash: Option<String>,
    joined_at: Option<DateTime<Utc>>,
    password_changed_at: Option<DateTime<Utc>>,
    status: Option<String>,
}

/// What the first pass learned: how many members, and a digest of the bytes the second pass must
/// read again.
struct CheckedFile {
    members: usize,
    digest: [u8; 32],
}

impl MemberAdmin {
    /// Imports JSON Lines held in memory, as [`MemberAdmin::import_from`] does.
    pub async fn import(&self, contents: &str, now: DateTime<Utc>) -> Result<usize, AdminError> {
        let source: Arc<[u8]> = Arc::from(contents.as_bytes());
        self.import_from(Arc::new(source), now).await
    }

    /// Imports a JSON Lines file: every line is checked first, and the first bad line is reported
    /// with its number and nothing is imported; then all members are written in one transaction.
    /// `now` is the join and password-change time of lines that give none.
    #[tracing::instrument(skip_all)]
    pub async fn import_from(
        &self,
        source: Arc<dyn ImportSource>,
        now: DateTime<Utc>,
    ) -> Result<usize, AdminError> {
        let checked = self.check_file(source.clone(), now).await?;
        tracing::info!(members = checked.members, "every line checked");
        self.write_file(source, now, &checked).await?;
        tracing::info!(members = checked.members, "imported");
        Ok(checked.members)
    }

    /// The first pass: lines are parsed and checked on a blocking thread, their login IDs against
    /// the stored members a batch at a time here, so the first bad line is the one reported.
    async fn check_file(
        &self,
        source: Arc<dyn ImportSource>,
        now: DateTime<Utc>,
    ) -> Result<CheckedFile, AdminError> {
        let (batches, mut received) = mpsc::channel(2);
        let admin = self.clone();
        let reader = Reader::spawn(move || admin.check_lines(source.as_ref(), now, &batches));
        while let Some(batch) = received.recv().await {
            self.check_against_stored(&batch).await?;
        }
        reader.finish().await
    }

    fn check_lines(
        &self,
        source: &dyn ImportSource,
        now: DateTime<Utc>,
        batches: &mpsc::Sender<Vec<(usize, SiteId, LoginId)>>,
    ) -> Result<CheckedFile, AdminError> {
        let mut batch = Vec::with_capacity(PROBE_LINES);
        let checked = self.check_each_line(source, now, batches, &mut batch);
        // Whatever ended the pass, the lines before its end are looked for among the stored members.
        if !batch.is_empty() {
            send(batches, batch)?;
        }
        checked
    }

    fn check_each_line(
        &self,
        source: &dyn ImportSource,
        now: DateTime<Utc>,
        batches: &mpsc::Sender<Vec<(usize, SiteId, LoginId)>>,
        batch: &mut Vec<(usize, SiteId, LoginId)>,
    ) -> Result<CheckedFile, AdminError> {
        let mut lines = Lines::open(source)?;
        let mut earlier = NewLoginIds::default();
        let mut members = 0;
        while let Some((line, raw)) = lines.next_line()? {
            let checked = self.check_line(line, raw, now)?;
            let (site, id) = (checked.member.site_id, checked.member.login_id);
            earlier
                .push(line, &site, &id)
                .map_err(|reason| refused(line, &id, reason))?;
            members += 1;
            batch.push((line, site, id));
            if batch.len() == PROBE_LINES {
                send(batches, std::mem::replace(batch, Vec::with_capacity(PROBE_LINES)))?;
            }
        }
        Ok(CheckedFile {
            members,
            digest: lines.digest(),
        })
    }

    /// The first line of a batch whose login ID a stored member of its site has or looks like.
    async fn check_against_stored(&self, batch: &[(usize, SiteId, LoginId)]) -> Result<(), AdminError> {
        let wanted: Vec<(SiteId, LoginId)> = batch.iter().map(|(_, s, id)| (s.clone(), id.clone())).collect();
        match check_stored(self.store.as_ref(), &wanted).await {
            Ok(()) => Ok(()),
            Err(NewLoginIdError::Refused { index, reason }) => {
                let (line, _, id) = &batch[index];
                Err(refused(*line, id, reason))
            }
            Err(NewLoginIdError::Store(e)) => Err(e.into()),
        }
    }

    /// The second pass: lines are read and checked again on a blocking thread, plain passwords
    /// hashed a few chunks ahead, and the chunks written in order in one transaction, committed
    /// only when the bytes read were the bytes checked.
    async fn write_file(
        &self,
        source: Arc<dyn ImportSource>,
        now: DateTime<Utc>,
        checked: &CheckedFile,
    ) -> Result<(), AdminError> {
        let (chunks, mut received) = mpsc::channel(2);
        let admin = self.clone();
        let reader = Reader::spawn(move || admin.read_chunks(source.as_ref(), now, &chunks));
        let mut writer = self.store.begin_import().await?;
        let mut hashing = Hashing::default();
        let mut written = 0;
        loop {
            match received.recv().await {
                Some(chunk) => {
                    hashing
                        .0
                        .push_back(tokio::spawn(hashed(self.hasher.clone(), chunk)));
                    if hashing.0.len() < HASHING_AHEAD {
                        continue;
                    }
                }
                None if hashing.0.is_empty() => break,
                None => {}
            }
            let members = hashing.next().await?;
            writer.insert(&members).await?;
            written += members.len();
        }
        let digest = reader.finish().await.map_err(|e| match e {
            AdminError::Line { line, problem } => changed(&format!(" (line {line}: {problem})")),
            other => other,
        })?;
        if digest != checked.digest || written != checked.members {
            return Err(changed(""));
        }
        Ok(writer.commit().await?)
    }

    fn read_chunks(
        &self,
        source: &dyn ImportSource,
        now: DateTime<Utc>,
        chunks: &mpsc::Sender<Vec<Checked>>,
    ) -> Result<[u8; 32], AdminError> {
        let mut lines = Lines::open(source)?;
        let mut chunk = Vec::with_capacity(CHUNK);
        while let Some((line, raw)) = lines.next_line()? {
            chunk.push(self.check_line(line, raw, now)?);
            if chunk.len() == CHUNK {
                send(chunks, std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))?;
            }
        }
        if !chunk.is_empty() {
            send(chunks, chunk)?;
        }
        Ok(lines.digest())
    }

    /// One line parsed and checked as `member add` checks a member, but for the password policy
    /// (legacy passwords are only bounded).
    fn check_line(&self, line: usize, raw: &str, now: DateTime<Utc>) -> Result<Checked, AdminError> {
        let fail = |problem: String| AdminError::Line { line, problem };
        let parsed: ImportLine = serde_json::from_str(raw).map_err(|e| fail(record_problem(&e)))?;
        let password = match (parsed.password, parsed.password_hash) {
            (Some(_), Some(_)) => return Err(fail("give either password or passwordHash, not both".into())),
            (Some(p), None) => InitialPassword::Plain(p),
            (None, Some(h)) => InitialPassword::Hash(h),
            (None, None) => InitialPassword::None,
        };
        let draft = MemberDraft {
            site_id: parsed.site_id,
            login_id: parsed.login_id,
            email: parsed.email,
            name: parsed.name,
            member_type: parsed.member_type,
            join_type: parsed.join_type,
            ci: parsed.ci,
            password,
            joined_at: parsed.joined_at,
            password_changed_at: parsed.password_changed_at,
            status: parsed.status,
        };
        self.check(draft, None, now).map_err(|p| fail(p.to_string()))
    }
}

/// A login ID refused on `line`, said as the import says it.
fn refused(line: usize, id: &LoginId, reason: LoginIdRefusal) -> AdminError {
    let problem = match reason {
        LoginIdRefusal::DuplicateInBatch(first) => format!(
            "login ID {} appears twice in the file (first on line {first})",
            id.as_str()
        ),
        LoginIdRefusal::ConfusableInBatch(first) => {
            format!("the login ID is confusable with the one on line {first}")
        }
        other => format!("loginId: {other}"),
    };
    AdminError::Line { line, problem }
}

fn changed(detail: &str) -> AdminError {
    AdminError::Invalid(format!(
        "the file changed while it was imported{detail}; nothing was imported"
    ))
}

/// Hands a batch to the async side; fails only when that side has already stopped with an error.
fn send<T>(to: &mpsc::Sender<T>, batch: T) -> Result<(), AdminError> {
    to.blocking_send(batch)
        .map_err(|_| AdminError::Recovery(RecoveryError::Internal("import stopped".into())))
}

/// The chunk's members, each plain password replaced by its hash (on the hashing pool, in parallel).
async fn hashed(hasher: Arc<dyn PasswordHasher>, chunk: Vec<Checked>) -> Result<Vec<NewMember>, HashError> {
    futures_util::future::try_join_all(chunk.into_iter().map(|c| {
        let hasher = hasher.clone();
        async move {
            let mut member = c.member;
            if let Some(plain) = c.plain_password {
                member.password_hash = Some(hasher.hash(&plain).await?);
            }
            Ok(member)
        }
    }))
    .await
}

/// Chunks being hashed, oldest first; those left are cancelled when the import stops (a hash
/// not yet started is then skipped by the pool).
#[derive(Default)]
struct Hashing(VecDeque<JoinHandle<Result<Vec<NewMember>, HashError>>>);

impl Hashing {
    async fn next(&mut self) -> Result<Vec<NewMember>, AdminError> {
        let task = self.0.pop_front().expect("a chunk is being hashed");
        let members = task
            .await
            .map_err(|e| AdminError::Recovery(RecoveryError::Internal(format!("hashing a chunk: {e}"))))?;
        Ok(members?)
    }
}

impl Drop for Hashing {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// A pass's reading thread (reading and parsing are blocking, CPU-bound work).
struct Reader<T>(JoinHandle<Result<T, AdminError>>);

impl<T: Send + 'static> Reader<T> {
    fn spawn(work: impl FnOnce() -> Result<T, AdminError> + Send + 'static) -> Reader<T> {
        Reader(tokio::task::spawn_blocking(work))
    }

    async fn finish(self) -> Result<T, AdminError> {
        self.0
            .await
            .map_err(|e| AdminError::Recovery(RecoveryError::Internal(format!("reading the file: {e}"))))?
    }
}

/// The lines of a source, numbered from 1, blank ones skipped, every byte read digested.
struct Lines {
    reader: Box<dyn BufRead + Send>,
    buffer: Vec<u8>,
    number: usize,
    digest: Sha256,
}

impl Lines {
    fn open(source: &dyn ImportSource) -> Result<Lines, AdminError> {
        Ok(Lines {
            reader: source.open()?,
            buffer: Vec::new(),
            number: 0,
            digest: Sha256::new(),
        })
    }

    /// The next line that is not blank, without its line ending (`\n` or `\r\n`).
    fn next_line(&mut self) -> Result<Option<(usize, &str)>, AdminError> {
        let end = loop {
            self.buffer.clear();
            if self.reader.read_until(b'\n', &mut self.buffer)? == 0 {
                return Ok(None);
            }
            self.number += 1;
            self.digest.update(&self.buffer);
            let line = self.buffer.strip_suffix(b"\n").unwrap_or(&self.buffer);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let text = std::str::from_utf8(line).map_err(|_| AdminError::Line {
                line: self.number,
                problem: "not valid UTF-8".into(),
            })?;
            if !text.trim().is_empty() {
                break line.len();
            }
        };
        // Validated above; taken again so the borrow returned is not the loop's.
        let text = std::str::from_utf8(&self.buffer[..end]).expect("valid UTF-8");
        Ok(Some((self.number, text)))
    }

    fn digest(self) -> [u8; 32] {
        self.digest.finalize().into()
    }
}

#[cfg(test)]
mod tests;
