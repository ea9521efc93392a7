//! The two `Mailer`s: SMTP through lettre's connections, kept and reused (SMTP_URL: `smtp://`
//! plain for loopback, `smtp://…?tls=required` STARTTLS, `smtps://` TLS, optional `user:pass@`),
//! and the development outbox folder (one `.eml` per message, the text logged so a developer sees code and link).
use std::{
    path::PathBuf,
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use lettre::{
    AsyncFileTransport, AsyncTransport, Message, Tokio1Executor,
    address::Envelope,
    message::{Mailbox, MultiPart},
    transport::smtp::{
        Error as SmtpError, SMTP_PORT, SUBMISSION_PORT, SUBMISSIONS_PORT,
        authentication::{Credentials, DEFAULT_MECHANISMS},
        client::{AsyncSmtpConnection, Certificate, CertificateStore, TlsParameters},
        commands::{Data, Mail, Rcpt},
        extension::{ClientId, Extension, MailBodyParameter, MailParameter},
    },
};

use crate::recovery::ports::{MailError, Mailer, OutgoingMail};

fn build_message(from: &Mailbox, mail: &OutgoingMail) -> Result<Message, MailError> {
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|_| MailError::Permanent("recipient address is not valid".into()))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| MailError::Permanent(format!("message cannot be built: {e}")))
}

pub fn parse_from(raw: &str) -> Result<Mailbox, String> {
    raw.parse()
        .map_err(|e| format!("MAIL_FROM {raw:?} is not a mailbox: {e}"))
}

/// How an SMTP connection is secured, as `SMTP_URL` says.
#[derive(Clone)]
enum Security {
    Plain,
    /// STARTTLS when the server offers it (`?tls=opportunistic`).
    Opportunistic(TlsParameters),
    /// STARTTLS or nothing is sent (`?tls=required`).
    Required(TlsParameters),
    /// TLS from the first byte (`smtps://`).
    Wrapper(TlsParameters),
}

/// A connection idle longer than this is closed rather than reused: servers drop idle clients
/// (Postfix after 300 s), and a stale one would only fail its next command.
const IDLE_LIMIT: Duration = Duration::from_secs(30);

/// SMTP over kept connections, one message at a time on each. Each command, the content and its "."
/// included, is one write then one read, so Nagle never holds a write for the server's delayed ACK;
/// a reused connection is not probed: one the server closed fails at MAIL, and the message goes anew.
pub struct SmtpMailer {
    host: String,
    port: u16,
    security: Security,
    hello: ClientId,
    credentials: Option<Credentials>,
    timeout: Duration,
    from: Mailbox,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    /// Connections kept for reuse at most (one per message sent at once).
    keep: usize,
}

impl SmtpMailer {
    /// `ca_pem` (PEM CA certificates), when given, replaces the system roots for STARTTLS and
    /// `smtps://`. `connections` messages go at once, each on a connection kept for reuse.
    pub fn new(
        url: &str,
        from: Mailbox,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
        connections: usize,
    ) -> Result<SmtpMailer, String> {
        // The URL may carry credentials: never echo it.
        let invalid = || "SMTP_URL is not a valid smtp:// or smtps:// URL".to_owned();
        let parsed = url::Url::parse(url).map_err(|_| invalid())?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(invalid)?
            .to_owned();
        let tls_params = || -> Result<TlsParameters, String> {
            let Some(pem) = ca_pem else {
                return TlsParameters::new(host.clone())
                    .map_err(|_| "SMTP TLS settings cannot be built".to_owned());
            };
            let ca =
                Certificate::from_pem(pem).map_err(|_| "SMTP_CA_FILE holds no PEM certificate".to_owned())?;
            TlsParameters::builder(host.clone())
                .certificate_store(CertificateStore::None)
                .add_root_certificate(ca)
                .build()
                .map_err(|_| "SMTP TLS settings cannot be built".to_owned())
        };
        let mode = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        // The schemes, modes and default ports of lettre's `from_url`.
        let (security, default_port) = match (parsed.scheme(), mode.as_deref()) {
            ("smtp", None) => (Security::Plain, SMTP_PORT),
            ("smtp", Some("required")) => (Security::Required(tls_params()?), SUBMISSION_PORT),
            ("smtp", Some("opportunistic")) => (Security::Opportunistic(tls_params()?), SUBMISSION_PORT),
            ("smtps", _) => (Security::Wrapper(tls_params()?), SUBMISSIONS_PORT),
            _ => return Err(invalid()),
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let credentials = parsed
            .password()
            .map(|password| Credentials::new(decode(parsed.username()), decode(password)));
        let hello = match parsed.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_owned()),
        };
        Ok(SmtpMailer {
            port: parsed.port().unwrap_or(default_port),
            host,
            security,
            hello,
            credentials,
            timeout,
            from,
            idle: Mutex::new(Vec::new()),
            keep: connections.max(1),
        })
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SmtpError> {
        let wrapper = match &self.security {
            Security::Wrapper(params) => Some(params.clone()),
            _ => None,
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(self.timeout),
            &self.hello,
            wrapper,
            None,
        )
        .await?;
        match &self.security {
            Security::Opportunistic(params) if conn.can_starttls() => {
                conn.starttls(params.clone(), &self.hello).await?;
            }
            Security::Required(params) => conn.starttls(params.clone(), &self.hello).await?,
            _ => {}
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).await?;
        }
        Ok(conn)
    }

    /// The most recently used connection that is not stale; stale ones are closed on the side.
    fn reusable(&self) -> Option<AsyncSmtpConnection> {
        let now = Instant::now();
        let mut idle = self.idle.lock().ok()?;
        let (fresh, stale): (Vec<_>, Vec<_>) = idle
            .drain(..)
            .partition(|(_, since)| now.duration_since(*since) < IDLE_LIMIT);
        *idle = fresh;
        let newest = idle.pop().map(|(conn, _)| conn);
        drop(idle);
        stale.into_iter().for_each(|(conn, _)| close(conn));
        newest
    }

    fn keep_for_reuse(&self, conn: AsyncSmtpConnection) {
        match self.idle.lock() {
            Ok(mut idle) if idle.len() < self.keep && !conn.has_broken() => idle.push((conn, Instant::now())),
            _ => close(conn),
        }
    }
}

/// Says QUIT and closes, without holding up the caller.
fn close(mut conn: AsyncSmtpConnection) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.abort()).await;
    });
}

/// Why a message did not go.
enum Failure {
    /// At the MAIL command, before anything of the message was sent: on a reused connection the
    /// server may just have closed it, so a fresh one is tried.
    AtMail(SmtpError),
    Later(SmtpError),
    /// The server lacks an extension the message needs.
    Unsupported(&'static str),
}

/// The content of DATA, dot-stuffed, with its terminating line: written as one command.
struct Content(String);

impl std::fmt::Display for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `body` (CRLF line ends) made transparent (RFC 5321 4.5.2: a line starting with "." gets
/// another) and ended with the "." line.
fn data_content(body: &str) -> Content {
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 5);
    for (n, line) in body.split("\r\n").enumerate() {
        if n > 0 {
            out.push_str("\r\n");
        }
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
    }
    out.push_str("\r\n.\r\n");
    Content(out)
}

/// One message over `conn`: MAIL, RCPT, DATA, then the content, each a write and a read.
async fn transfer(conn: &mut AsyncSmtpConnection, envelope: &Envelope, body: &[u8]) -> Result<(), Failure> {
    let mut options = Vec::new();
    let addresses_ascii = envelope
        .from()
        .into_iter()
        .chain(envelope.to())
        .all(|a: &lettre::Address| AsRef::<str>::as_ref(a).is_ascii());
    if !addresses_ascii {
        if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
            return Err(Failure::Unsupported(
                "the server does not accept non-ASCII addresses (SMTPUTF8)",
            ));
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !body.is_ascii() {
        if !conn.server_info().supports_feature(Extension::EightBitMime) {
            return Err(Failure::Unsupported(
                "the server does not accept 8-bit content (8BITMIME)",
            ));
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    conn.command(Mail::new(envelope.from().cloned(), options))
        .await
        .map_err(Failure::AtMail)?;
    for to in envelope.to() {
        conn.command(Rcpt::new(to.clone(), Vec::new()))
            .await
            .map_err(Failure::Later)?;
    }
    conn.command(Data).await.map_err(Failure::Later)?;
    match std::str::from_utf8(body) {
        Ok(text) => conn.command(data_content(text)).await.map(|_| ()),
        // Never the case for the messages built here; lettre's own (slower) path handles it.
        Err(_) => conn.message(body).await.map(|_| ()),
    }
    .map_err(Failure::Later)
}

fn mail_error(e: &SmtpError) -> MailError {
    if e.is_permanent() {
        MailError::Permanent(e.to_string())
    } else {
        MailError::Temporary(e.to_string())
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = build_message(&self.from, mail)?;
        let body = message.formatted();
        let envelope = message.envelope();
        let mut reused = true;
        let mut conn = match self.reusable() {
            Some(conn) => conn,
            None => {
                reused = false;
                self.connect().await.map_err(|e| mail_error(&e))?
            }
        };
        loop {
            match transfer(&mut conn, envelope, &body).await {
                Ok(()) => {
                    self.keep_for_reuse(conn);
                    return Ok(());
                }
                Err(Failure::AtMail(_)) if reused => {
                    close(conn);
                    reused = false;
                    conn = self.connect().await.map_err(|e| mail_error(&e))?;
                }
                Err(Failure::AtMail(e) | Failure::Later(e)) => {
                    close(conn);
                    return Err(mail_error(&e));
                }
                Err(Failure::Unsupported(why)) => {
                    self.keep_for_reuse(conn);
                    return Err(MailError::Permanent(why.into()));
                }
            }
        }
    }
}

pub struct FolderMailer {
    transport: AsyncFileTransport<Tokio1Executor>,
    dir: PathBuf,
    from: Mailbox,
}

impl FolderMailer {
    pub fn new(dir: PathBuf, from: Mailbox) -> Result<FolderMailer, String> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create outbox folder {}: {e}", dir.display()))?;
        Ok(FolderMailer {
            transport: AsyncFileTransport::new(&dir),
            dir,
            from,
        })
    }
}

#[async_trait]
impl Mailer for FolderMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = build_message(&self.from, mail)?;
        let id = self
            .transport
            .send(message)
            .await
            .map_err(|e| MailError::Temporary(format!("cannot write to the outbox folder: {e}")))?;
        // Development mode only (no SMTP_URL): show the developer the code and link.
        tracing::info!(
            file = %self.dir.join(format!("{id}.eml")).display(),
            to = %mail.to,
            subject = %mail.subject,
            "development mail written:\n{}",
            mail.text
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_made_transparent_and_ended_with_the_dot_line() {
        assert_eq!(
            data_content("Subject: x\r\n\r\n.hidden\r\n..two\r\nlast").0,
            "Subject: x\r\n\r\n..hidden\r\n...two\r\nlast\r\n.\r\n"
        );
        assert_eq!(data_content(".").0, "..\r\n.\r\n", "a lone dot does not end DATA");
        assert_eq!(
            data_content("a.b\r\n").0,
            "a.b\r\n\r\n.\r\n",
            "only a leading dot is doubled"
        );
    }
}
