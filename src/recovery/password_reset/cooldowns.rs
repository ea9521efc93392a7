//! The cooldowns this instance started. A cooldown only expires, never lifts early, so while one
//! runs a request for that member is known to be cooling down without asking the token store, and
//! repeated requests cost no more than unknown ones. Other instances' are learned from the store.
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::domain::grant::GrantOwner;

/// Entries kept at most; past this, expired ones are dropped and, if that is not enough, new
/// ones are not remembered (the token store still answers for them).
const CAPACITY: usize = 100_000;

#[derive(Default)]
pub(crate) struct KnownCooldowns {
    until: Mutex<HashMap<GrantOwner, Instant>>,
}

impl KnownCooldowns {
    /// Whether a cooldown this instance set for `owner` is still running at `now`.
    pub(crate) fn running(&self, owner: &GrantOwner, now: Instant) -> bool {
        self.until
            .lock()
            .map(|until| until.get(owner).is_some_and(|&end| end > now))
            .unwrap_or(false)
    }

    /// Notes a cooldown of `length` for `owner`, started no earlier than `asked_at` (the moment the
    /// issuing call was sent, so the token store's own cooldown surely ends later).
    pub(crate) fn started(&self, owner: &GrantOwner, asked_at: Instant, length: Duration) {
        if length.is_zero() {
            return;
        }
        let Ok(mut until) = self.until.lock() else { return };
        if until.len() >= CAPACITY {
            until.retain(|_, end| *end > asked_at);
            if until.len() >= CAPACITY {
                return;
            }
        }
        until.insert(owner.clone(), asked_at + length);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{member::MemberId, site::SiteId};

    fn owner(n: u32) -> GrantOwner {
        GrantOwner {
            site: SiteId::parse("default").unwrap(),
            member: MemberId(format!("m{n}")),
        }
    }

    #[test]
    fn a_cooldown_runs_until_its_end_and_not_after() {
        let known = KnownCooldowns::default();
        let t = Instant::now();
        assert!(!known.running(&owner(1), t));
        known.started(&owner(1), t, Duration::from_secs(60));
        assert!(known.running(&owner(1), t + Duration::from_secs(59)));
        assert!(!known.running(&owner(1), t + Duration::from_secs(60)));
        assert!(!known.running(&owner(2), t), "another member is not cooling down");
    }

    #[test]
    fn no_cooldown_is_remembered_as_none() {
        let known = KnownCooldowns::default();
        let t = Instant::now();
        known.started(&owner(1), t, Duration::ZERO);
        assert!(!known.running(&owner(1), t));
    }

    #[test]
    fn a_full_memo_drops_expired_entries_before_it_refuses_new_ones() {
        let known = KnownCooldowns::default();
        let t = Instant::now();
        for n in 0..CAPACITY as u32 {
            known.started(&owner(n), t, Duration::from_secs(1));
        }
        let later = t + Duration::from_secs(2);
        known.started(&owner(u32::MAX), later, Duration::from_secs(60));
        assert!(known.running(&owner(u32::MAX), later));
        assert_eq!(known.until.lock().unwrap().len(), 1, "the expired entries went");
    }
}
