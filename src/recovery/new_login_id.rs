//! Whether login IDs may be given to new members (CLI `member add` and `member import`,
//! provisioning): free on their site, in no more scripts than UTS #39 allows, and not confusable
//! with another member's (UTS #39 skeletons). Shared by every way of creating a member.
use std::collections::HashMap;

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
    let refuse = |index, reason| Err(NewLoginIdError::Refused { index, reason });
    let mut skeletons = Vec::with_capacity(wanted.len());
    let mut first_index: HashMap<(SiteId, LoginIdSkeleton), usize> = HashMap::new();
    for (index, (site, id)) in wanted.iter().enumerate() {
        if let Err(unsafe_id) = check_scripts(id) {
            return refuse(index, unsafe_id.into());
        }
        let pair = (site.clone(), LoginIdSkeleton::of(id));
        if let Some(&earlier) = first_index.get(&pair) {
            return refuse(index, LoginIdRefusal::ConfusableInBatch(earlier));
        }
        first_index.insert(pair.clone(), index);
        skeletons.push(pair);
    }
    let taken = store.existing_login_ids(wanted).await?;
    if let Some(index) = wanted.iter().position(|(site, id)| {
        taken
            .iter()
            .any(|(s, t)| s == site && t.normalized() == id.normalized())
    }) {
        let (site, id) = &wanted[index];
        let reason = LoginIdRefusal::Taken {
            login_id: id.as_str().to_owned(),
            site: site.clone(),
        };
        return refuse(index, reason);
    }
    let look_alikes = store.existing_skeletons(&skeletons).await?;
    if let Some(index) = skeletons.iter().position(|pair| look_alikes.contains(pair)) {
        return refuse(index, LoginIdRefusal::Confusable);
    }
    Ok(())
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
