//! Why a mail is sent: the kinds of mail the service sends and the codes the outbox stores.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    ResetRequested,
    PasswordChanged,
    /// A notice that recovery codes were generated or one was used.
    RecoveryCodes,
}

impl MailKind {
    pub const ALL: [MailKind; 3] = [
        MailKind::ResetRequested,
        MailKind::PasswordChanged,
        MailKind::RecoveryCodes,
    ];

    pub fn code(self) -> &'static str {
        match self {
            MailKind::ResetRequested => "RESET_REQUESTED",
            MailKind::PasswordChanged => "PASSWORD_CHANGED",
            MailKind::RecoveryCodes => "RECOVERY_CODES",
        }
    }

    /// The kind of a stored code; `None` for a code this build does not know.
    pub fn from_code(code: &str) -> Option<MailKind> {
        MailKind::ALL.into_iter().find(|k| k.code() == code)
    }
}
