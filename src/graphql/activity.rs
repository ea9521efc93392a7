//! The member's recovery activity as a Relay connection of events, newest first.
use async_graphql::SimpleObject;

use super::{enums::RecoveryEventKind, scalars::DateTime};
use crate::recovery::recovery_activity;

/// One recovery event of the member's account.
#[derive(SimpleObject, Debug)]
pub struct RecoveryEvent {
    /// When it happened.
    pub at: DateTime,
    /// What happened.
    pub kind: RecoveryEventKind,
    /// How it ended, as a stable lower-case code (e.g. `ok`, `wrong_code`, `mail_queued`).
    pub outcome: String,
    /// The network the request came from, masked (IPv4 /24, IPv6 /48); null when unknown.
    pub client_address: Option<String>,
}

/// One event of a `RecoveryEventConnection`, with its cursor.
#[derive(SimpleObject, Debug)]
pub struct RecoveryEventEdge {
    /// Opaque: pass it as `after` to get the events older than this one.
    pub cursor: String,
    /// The event.
    pub node: RecoveryEvent,
}

/// Where a page of a connection ends.
#[derive(SimpleObject, Debug)]
pub struct PageInfo {
    /// Whether older events follow this page.
    pub has_next_page: bool,
    /// The cursor of the last edge of the page; null when the page is empty.
    pub end_cursor: Option<String>,
}

/// A page of the member's recovery events, newest first (Relay connection).
#[derive(SimpleObject, Debug)]
pub struct RecoveryEventConnection {
    /// The events of this page, newest first.
    pub edges: Vec<RecoveryEventEdge>,
    /// Whether more follow, and the cursor to ask for them.
    pub page_info: PageInfo,
}

impl From<recovery_activity::ActivityPage> for RecoveryEventConnection {
    fn from(page: recovery_activity::ActivityPage) -> Self {
        let end_cursor = page.events.last().map(|e| e.cursor.clone());
        RecoveryEventConnection {
            edges: page
                .events
                .into_iter()
                .map(|e| RecoveryEventEdge {
                    cursor: e.cursor,
                    node: RecoveryEvent {
                        at: e.at.into(),
                        kind: e.kind.into(),
                        outcome: e.outcome,
                        client_address: e.client_network,
                    },
                })
                .collect(),
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor,
            },
        }
    }
}
