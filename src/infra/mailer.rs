//! The two `Mailer`s: SMTP through lettre (SMTP_URL: `smtp://` plain for loopback,
//! `smtp://…?tls=required` STARTTLS, `smtps://` TLS, optional `user:pass@`), and the development
//! outbox folder (one `.eml` per message, the text logged so a developer sees code and link).
use std::{path::PathBuf, time::Duration};

use async_trait::async_trait;
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
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
    pub fn new(url: &str, from: Mailbox, timeout: Duration) -> Result<SmtpMailer, String> {
        // The URL may carry credentials: never echo it.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| "SMTP_URL is not a valid smtp:// or smtps:// URL".to_owned())?
            .timeout(Some(timeout))
            .build();
        Ok(SmtpMailer { transport, from })
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
