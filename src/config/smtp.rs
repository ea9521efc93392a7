//! Where mail goes: `SMTP_URL` (`smtp://` with STARTTLS, `smtps://`, or plain on loopback; unset:
//! `.eml` files in `OUTBOX_DIR`), `SMTP_CA_FILE` (PEM CA certificates instead of the system
//! roots), `SMTP_TIMEOUT_MS` (one message's whole conversation), `MAIL_FROM` (the sender mailbox).
use std::{path::PathBuf, time::Duration};

use lettre::message::Mailbox;
use secrecy::SecretString;

use super::vars::{SettingsError, Vars};

#[derive(Clone)]
pub struct SmtpSettings {
    /// May carry credentials: kept secret.
    pub url: Option<SecretString>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    pub from: Mailbox,
    pub outbox_dir: PathBuf,
}

impl SmtpSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, SettingsError> {
        Ok(SmtpSettings {
            url: vars.var("SMTP_URL").map(Into::into),
            ca_file: vars.parsed_opt("SMTP_CA_FILE")?,
            timeout: vars.millis("SMTP_TIMEOUT_MS", 10_000)?,
            from: vars.parsed(
                "MAIL_FROM",
                "Account Recovery <no-reply@localhost>"
                    .parse()
                    .expect("a mailbox"),
            )?,
            outbox_dir: vars.parsed("OUTBOX_DIR", PathBuf::from("outbox"))?,
        })
    }
}
