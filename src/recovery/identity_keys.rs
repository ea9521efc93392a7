//! Moving a member's identity hash to the current key of the ring once a verified identity check
//! has matched them, so an old key stops being needed without anyone re-entering their identity.
use crate::{
    domain::{keyring::IdentityHashes, member::Member},
    recovery::ports::IdentityLookup,
};

/// Rewrites the member's identity hash under the current key when it is under an older one. A
/// failure only delays the move to the next check: it never fails the request that proved it.
pub(crate) async fn move_to_current_key(
    identities: &dyn IdentityLookup,
    member: &Member,
    hashes: &IdentityHashes,
) {
    let Some(stored) = member.ci_hash.as_ref().filter(|s| hashes.is_stale(s)) else {
        return;
    };
    match identities
        .move_identity(&member.id, stored, hashes.current())
        .await
    {
        Ok(moved) => {
            tracing::info!(moved, key = %display_key(hashes), "identity hash moved to the current key")
        }
        Err(e) => tracing::warn!(error = %e, "identity hash not moved to the current key"),
    }
}

fn display_key(hashes: &IdentityHashes) -> String {
    hashes
        .current()
        .key
        .as_ref()
        .map_or_else(|| "pre-keyring".into(), ToString::to_string)
}
