//! The member's own recovery activity: audit events, newest first, in pages with opaque cursors,
//! client addresses masked. Strangers' wrong codes typed with the member's e-mail or login ID are
//! stored under that identifier's keyed hash and listed here for the members it names.
use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};

use crate::{
    domain::{
        audit::RecoveryEventKind, grant::IdentifierKey, keyring::Keyring, masking::mask_client_address,
        member::Member, session::SessionInfo,
    },
    recovery::{errors::RecoveryError, ports::AuditLog},
};

/// How many events one page may hold.
pub const PAGE_SIZES: std::ops::RangeInclusive<i32> = 1..=100;

/// One event of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEvent {
    pub cursor: String,
    pub at: DateTime<Utc>,
    pub kind: RecoveryEventKind,
    pub outcome: String,
    /// The client's network (IPv4 /24, IPv6 /48), never the full address.
    pub client_network: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityPage {
    pub events: Vec<ActivityEvent>,
    pub has_next_page: bool,
}

/// Why a page cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityRefusal {
    /// `first` is outside `PAGE_SIZES`.
    PageSize,
    /// `after` is not a cursor this service gave out.
    Cursor,
    /// The session is not the member's own.
    NotOwnAccount,
}

/// The cursor of an event: opaque to clients, so the paging key can change without breaking them.
fn cursor_of(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("event:{id}"))
}

fn event_id(cursor: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    text.strip_prefix("event:")?
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
}

#[derive(Clone)]
pub struct RecoveryActivity {
    pub(crate) audit: Arc<dyn AuditLog>,
    pub(crate) keys: Keyring,
}

impl RecoveryActivity {
    /// A page of `member`'s events for the signed-in `session`, which must be the member's own.
    /// `member` is as the request already read it (`me`): the page reads only the audit table.
    #[tracing::instrument(skip_all, fields(op = "recovery_activity"))]
    pub async fn page(
        &self,
        session: &SessionInfo,
        member: &Member,
        first: i32,
        after: Option<&str>,
    ) -> Result<Result<ActivityPage, ActivityRefusal>, RecoveryError> {
        if session.owner.member != member.id {
            return Ok(Err(ActivityRefusal::NotOwnAccount));
        }
        if !PAGE_SIZES.contains(&first) {
            return Ok(Err(ActivityRefusal::PageSize));
        }
        let before = match after {
            None => None,
            Some(cursor) => match event_id(cursor) {
                Some(id) => Some(id),
                None => return Ok(Err(ActivityRefusal::Cursor)),
            },
        };
        let size = usize::try_from(first).unwrap_or(1);
        // Attempts made with the member's own e-mail and login ID, by anyone.
        let identifiers: Vec<String> = [
            IdentifierKey::login(&member.site_id, &member.login_id),
            IdentifierKey::email(&member.site_id, &member.email),
        ]
        .iter()
        // Attempts recorded before a key rotation carry their key's hash: match under each.
        .flat_map(|key| self.keys.candidates().map(|keys| key.audit_key(keys)))
        .collect();
        // One more than asked tells whether another page follows.
        let mut rows = self
            .audit
            .member_events(&member.id, &identifiers, before, size as u64 + 1)
            .await?;
        let has_next_page = rows.len() > size;
        rows.truncate(size);
        let events = rows
            .into_iter()
            // The store reads only shown kinds; any other is left out rather than mislabelled.
            .filter_map(|row| {
                Some(ActivityEvent {
                    cursor: cursor_of(row.id),
                    at: row.at,
                    kind: row.kind.shown_as()?,
                    outcome: row.outcome,
                    client_network: row.client.as_deref().and_then(mask_client_address),
                })
            })
            .collect();
        Ok(Ok(ActivityPage {
            events,
            has_next_page,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        for id in [1, 42, i64::MAX] {
            assert_eq!(event_id(&cursor_of(id)), Some(id));
        }
        for bad in [
            "",
            "42",
            "ZXZlbnQ6",
            "ZXZlbnQ6LTE",
            "not base64!",
            &URL_SAFE_NO_PAD.encode("event:x"),
        ] {
            assert_eq!(event_id(bad), None, "{bad}");
        }
    }
}
