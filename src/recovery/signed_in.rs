//! The member behind a signed-in session: shared by the profile, re-authentication and the
//! password change.
use std::sync::Arc;

use crate::{
    domain::{
        member::{Member, MemberStatus},
        session::SessionInfo,
    },
    recovery::{
        errors::RecoveryError,
        ports::{MemberById, SessionStore},
    },
};

#[derive(Clone)]
pub struct SignedIn {
    pub(crate) members: Arc<dyn MemberById>,
    pub(crate) sessions: Arc<dyn SessionStore>,
}

impl SignedIn {
    /// The signed-in member (active) with their number of sessions. The two stores are asked at
    /// once: one round trip's wait, not two, on every signed-in page.
    pub async fn member(&self, session: &SessionInfo) -> Result<Option<(Member, u32)>, RecoveryError> {
        let (member, count) = tokio::join!(
            self.members.find_by_id(&session.owner.member),
            self.sessions.count_sessions(&session.owner)
        );
        let Some(member) = member?.filter(|m| m.status == MemberStatus::Active) else {
            return Ok(None);
        };
        Ok(Some((member, count?)))
    }
}
