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
    /// The signed-in member (active) with their number of sessions.
    pub async fn member(&self, session: &SessionInfo) -> Result<Option<(Member, u32)>, RecoveryError> {
        let member = self.members.find_by_id(&session.owner.member).await?;
        let Some(member) = member.filter(|m| m.status == MemberStatus::Active) else {
            return Ok(None);
        };
        let count = self.sessions.count_sessions(&session.owner).await?;
        Ok(Some((member, count)))
    }
}
