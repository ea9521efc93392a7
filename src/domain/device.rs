//! Trusted devices: the token `signIn` hands a client so that its later calls about the member
//! count against that device, not against the member's targets, which strangers can spend.
use std::time::Duration;

use super::{
    grant::{GrantOwner, TokenHash},
    opaque_token::opaque_token,
};

opaque_token!(
    /// A device token (header `X-Device-Token`): 256 random bits, kept only as a hash. Never
    /// printed.
    DeviceToken
);

/// A device to remember after a sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    pub token: TokenHash,
    /// The rate-limit targets the member was known by when the device signed in (login ID,
    /// address, member): the calls about them that this device may make on its own budget.
    pub targets: Vec<String>,
    pub ttl: Duration,
}

/// A live device as the store reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub owner: GrantOwner,
    pub token: TokenHash,
    pub targets: Vec<String>,
}

impl DeviceInfo {
    /// Whether a call about `target` concerns this device's member: only then does it count
    /// against the device. A login ID or address changed since the sign-in no longer matches, so
    /// such calls count as a fresh device's would.
    pub fn concerns(&self, target: &str) -> bool {
        self.targets.iter().any(|t| t == target)
    }

    /// The subject the device's calls count as in rate limits: its token's hash, never the token.
    pub fn limit_subject(&self) -> String {
        format!("device:{}", self.token.0)
    }
}

/// How a call got past the rate limits: within its budgets, past a target's limit by a solved
/// challenge, or on the budget of the member's own device. The last two are proven callers: a
/// stranger's call is neither without work or the member's device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Budget,
    Solved,
    Device(DeviceInfo),
}

impl Admission {
    pub fn is_proven(&self) -> bool {
        !matches!(self, Admission::Budget)
    }

    /// The device, if the call came from one of `owner`'s devices.
    pub fn device_of(&self, owner: &GrantOwner) -> Option<&DeviceInfo> {
        match self {
            Admission::Device(device) if device.owner == *owner => Some(device),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{member::MemberId, site::SiteId};

    #[test]
    fn a_device_concerns_only_the_targets_it_signed_in_under() {
        let token = DeviceToken::generate();
        assert_eq!(DeviceToken::parse(token.expose()).unwrap().hash(), token.hash());
        assert!(!format!("{token:?}").contains(token.expose()));
        let device = DeviceInfo {
            owner: GrantOwner {
                site: SiteId::parse("main").unwrap(),
                member: MemberId("m1".into()),
            },
            token: token.hash(),
            targets: vec!["main:login:alice".into(), "main:email:a@example.com".into()],
        };
        assert!(device.concerns("main:login:alice"));
        assert!(device.concerns("main:email:a@example.com"));
        assert!(!device.concerns("main:login:bob"));
        assert!(!device.concerns("other:login:alice"));
        assert_eq!(device.limit_subject(), format!("device:{}", token.hash().0));
    }
}
