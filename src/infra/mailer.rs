//! The two `Mailer`s: SMTP through lettre, its connections pooled and reused (SMTP_URL: `smtp://`
//! plain for loopback, `smtp://…?tls=required` STARTTLS, `smtps://` TLS, optional `user:pass@`),
//! and the development outbox folder (one `.eml` per message, the text logged so a developer sees code and link).
use std::{path::PathBuf, time::Duration};

use async_trait::async_trait;
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::{
        PoolConfig,
        client::{Certificate, CertificateStore, Tls, TlsParameters},
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

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// `ca_pem` (PEM CA certificates), when given, is trusted for STARTTLS and `smtps://` instead
    /// of the system roots: a server whose certificate that CA did not sign is refused.
    /// `connections` is how many messages go at once: that many connections are kept open and
    /// reused (one connection carries one message at a time).
    pub fn new(
        url: &str,
        from: Mailbox,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
        connections: usize,
    ) -> Result<SmtpMailer, String> {
        // The URL may carry credentials: never echo it.
        let invalid = || "SMTP_URL is not a valid smtp:// or smtps:// URL".to_owned();
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| invalid())?
            .timeout(Some(timeout))
            .pool_config(PoolConfig::new().max_size(u32::try_from(connections.max(1)).unwrap_or(u32::MAX)));
        if let Some(pem) = ca_pem {
            let parsed = url::Url::parse(url).map_err(|_| invalid())?;
            let host = parsed.host_str().ok_or_else(invalid)?.to_owned();
            let ca =
                Certificate::from_pem(pem).map_err(|_| "SMTP_CA_FILE holds no PEM certificate".to_owned())?;
            let params = TlsParameters::builder(host)
                .certificate_store(CertificateStore::None)
                .add_root_certificate(ca)
                .build()
                .map_err(|_| "SMTP TLS settings cannot be built".to_owned())?;
            let mode = parsed
                .query_pairs()
                .find(|(k, _)| k == "tls")
                .map(|(_, v)| v.into_owned());
            // The same modes `from_url` chose, now with the CA.
            builder = match (parsed.scheme(), mode.as_deref()) {
                ("smtps", _) => builder.tls(Tls::Wrapper(params)),
                ("smtp", Some("required")) => builder.tls(Tls::Required(params)),
                ("smtp", Some("opportunistic")) => builder.tls(Tls::Opportunistic(params)),
                _ => builder,
            };
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            from,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = build_message(&self.from, mail)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(e.to_string())),
            Err(e) => Err(MailError::Temporary(e.to_string())),
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
