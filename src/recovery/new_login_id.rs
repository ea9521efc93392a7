//! Whether login IDs may be given to new members (CLI `member add` and `member import`,
//! provisioning): free on their site, in no more scripts than UTS #39 allows, and not confusable
//! with another member's (UTS #39 skeletons). Shared by every way of creating a member.
use std::collections::{HashMap, HashSet, hash_map::Entry};

use sha2::{Digest, Sha256};

use crate::{
    domain::{
        confusables::{LoginIdSkeleton, UnsafeLoginId, check_scripts},
        login_id::LoginId,
        site::SiteId,
    },
    recovery::ports::{MemberAdminStore, StoreError},
};

/// Why one login ID may not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginIdRefusal {
    #[error(transparent)]
    Unsafe(#[from] UnsafeLoginId),
    #[error("login ID {login_id} already exists on site {site}")]
    Taken { login_id: String, site: SiteId },
    #[error("the login ID is confusable with an existing one")]
    Confusable,
    /// Confusable with the one at this index of the same batch.
    #[error("the login ID is confusable with another one being added")]
    ConfusableInBatch(usize),
    /// The same login ID (by key) as the one at this index of the same batch.
    #[error("the login ID appears twice among those being added")]
    DuplicateInBatch(usize),
}

#[derive(Debug, thiserror::Error)]
pub enum NewLoginIdError {
    /// The first refused login ID, by its index in the batch.
    #[error("{reason}")]
    Refused { index: usize, reason: LoginIdRefusal },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks login IDs about to be created together (one, for a single member): each in order for
/// its scripts and against the earlier ones, then all against the stored members. A check before
/// the insert: two look-alikes created at the same instant by two writers can both pass (the
/// unique key index still stops exact duplicates), so member creation has one writer at a time.
pub async fn check_new_login_ids(
    store: &dyn MemberAdminStore,
    wanted: &[(SiteId, LoginId)],
) -> Result<(), NewLoginIdError> {
    let mut earlier = NewLoginIds::default();
    for (index, (site, id)) in wanted.iter().enumerate() {
        earlier
            .push(index, site, id)
            .map_err(|reason| NewLoginIdError::Refused { index, reason })?;
    }
    check_stored(store, wanted).await
}

/// The first of `wanted` a stored member of its site already has (`Taken`) or looks like
/// (`Confusable`), by its index in `wanted`; on one login ID, `Taken` is said rather than
/// `Confusable` (an equal key has an equal skeleton).
pub async fn check_stored(
    store: &dyn MemberAdminStore,
    wanted: &[(SiteId, LoginId)],
) -> Result<(), NewLoginIdError> {
    let taken = store.existing_login_ids(wanted).await?;
    let taken: HashSet<(&SiteId, String)> = taken.iter().map(|(s, id)| (s, id.normalized())).collect();
    let skeletons: Vec<(SiteId, LoginIdSkeleton)> = wanted
        .iter()
        .map(|(site, id)| (site.clone(), LoginIdSkeleton::of(id)))
        .collect();
    let look_alikes: HashSet<(SiteId, LoginIdSkeleton)> =
        store.existing_skeletons(&skeletons).await?.into_iter().collect();
    for (index, ((site, id), pair)) in wanted.iter().zip(&skeletons).enumerate() {
        let reason = if taken.contains(&(site, id.normalized())) {
            LoginIdRefusal::Taken {
                login_id: id.as_str().to_owned(),
                site: site.clone(),
            }
        } else if look_alikes.contains(pair) {
            LoginIdRefusal::Confusable
        } else {
            continue;
        };
        return Err(NewLoginIdError::Refused { index, reason });
    }
    Ok(())
}

/// The checks of new login IDs among themselves, for login IDs arriving one at a time, too many
/// to hold (an import of millions): each is checked for its scripts and against the earlier ones,
/// which are kept as digests, 20 bytes each.
#[derive(Default)]
pub struct NewLoginIds {
    /// Per digest of (site, skeleton), 96 bits (no collision among billions), the first login ID
    /// with it.
    earlier: HashMap<[u8; 12], Earlier>,
}

struct Earlier {
    /// Its index (one past `u32::MAX` is remembered as `u32::MAX`: only a refusal's wording).
    index: u32,
    /// A digest of its key, 32 bits: an equal key is the same login ID, not a look-alike (a
    /// chance collision only words a look-alike's refusal as a duplicate).
    key: [u8; 4],
}

impl NewLoginIds {
    /// Checks the login ID at `index` (the caller's numbering, reported back in a refusal) and
    /// remembers it. Refused for its scripts, or when an earlier one has its key
    /// (`DuplicateInBatch`) or its skeleton (`ConfusableInBatch`), naming the earlier index.
    pub fn push(&mut self, index: usize, site: &SiteId, id: &LoginId) -> Result<(), LoginIdRefusal> {
        // An equal key has equal scripts: a duplicate is never refused for its scripts first.
        check_scripts(id)?;
        let skeleton = LoginIdSkeleton::of(id);
        let pair = digest(&[site.as_str(), skeleton.as_str()]);
        let key = digest(&[&id.normalized()]);
        let (pair, key) = (prefix(&pair), prefix(&key));
        match self.earlier.entry(pair) {
            Entry::Occupied(first) => {
                let earlier = first.get().index as usize;
                Err(if first.get().key == key {
                    LoginIdRefusal::DuplicateInBatch(earlier)
                } else {
                    LoginIdRefusal::ConfusableInBatch(earlier)
                })
            }
            Entry::Vacant(slot) => {
                slot.insert(Earlier {
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                    key,
                });
                Ok(())
            }
        }
    }
}

fn prefix<const N: usize>(digest: &[u8; 32]) -> [u8; N] {
    std::array::from_fn(|i| digest[i])
}

/// SHA-256 of the parts, each ended by a NUL (which no site code or key holds).
fn digest(parts: &[&str]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize().into()
}

/// A member's login ID changing from `old` to `new`: refused as a new login ID would be (taken,
/// mixing scripts, confusable with a member of the site), except that looking like the member's
/// own old ID is no harm.
pub async fn check_login_id_change(
    store: &dyn MemberAdminStore,
    site: &SiteId,
    old: &LoginId,
    new: &LoginId,
) -> Result<(), NewLoginIdError> {
    if old.normalized() == new.normalized() {
        return Ok(());
    }
    match check_new_login_ids(store, &[(site.clone(), new.clone())]).await {
        Err(NewLoginIdError::Refused {
            reason: LoginIdRefusal::Confusable,
            ..
        }) if LoginIdSkeleton::of(old) == LoginIdSkeleton::of(new) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(site: &str, id: &str) -> (SiteId, LoginId) {
        (SiteId::parse(site).unwrap(), LoginId::parse(id).unwrap())
    }

    #[test]
    fn each_login_id_is_checked_against_the_earlier_ones_by_key_and_by_skeleton() {
        let mut earlier = NewLoginIds::default();
        let mut push = |index, site, id| {
            let (site, id) = pair(site, id);
            earlier.push(index, &site, &id)
        };
        assert_eq!(push(1, "main", "alice"), Ok(()));
        assert_eq!(push(2, "main", "bob"), Ok(()));
        assert_eq!(push(3, "shop", "alice"), Ok(()), "another site");
        for (id, refusal) in [
            ("ALICE", LoginIdRefusal::DuplicateInBatch(1)),
            ("ａｌｉｃｅ", LoginIdRefusal::DuplicateInBatch(1)),
            ("a1ice", LoginIdRefusal::ConfusableInBatch(1)),
            (
                "\u{430}\u{4cf}\u{456}\u{441}\u{435}",
                LoginIdRefusal::ConfusableInBatch(1),
            ),
            ("BOB", LoginIdRefusal::DuplicateInBatch(2)),
        ] {
            assert_eq!(push(9, "main", id), Err(refusal), "{id}");
        }
        assert!(matches!(
            push(9, "main", "\u{430}lice"),
            Err(LoginIdRefusal::Unsafe(UnsafeLoginId::MixedScripts(_)))
        ));
        // A refused login ID is not remembered; the first one keeps its index.
        assert_eq!(
            push(10, "shop", "a1ice"),
            Err(LoginIdRefusal::ConfusableInBatch(3))
        );
        assert_eq!(push(11, "main", "carol"), Ok(()));
    }

    #[test]
    fn digests_keep_site_and_key_apart() {
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
        assert_eq!(digest(&["main", "x"]), digest(&["main", "x"]));
    }
}
