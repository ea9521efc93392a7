//! How a handed-off reset request is written in the queue (a stream field or a table column): a
//! small JSON object, read back through the same parsers as the request path's input.
use serde::{Deserialize, Serialize};

use crate::{
    domain::{
        device::{Admission, DeviceInfo},
        email::Email,
        grant::{GrantOwner, TokenHash},
        lang::Lang,
        login_id::LoginId,
        reset_nonce::ResetNonce,
        site::SiteId,
    },
    recovery::ports::{HandedOffReset, ResetTarget},
};

#[derive(Serialize, Deserialize)]
struct Entry {
    site: String,
    lang: String,
    client: Option<String>,
    email: String,
    /// Present on the account path.
    login_id: Option<String>,
    nonce: String,
    /// `solved`, or `device:<owner tag>|<device token hash>`; absent: within the budgets (and in
    /// entries written before devices existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    admitted: Option<String>,
}

fn encode_admission(admission: &Admission) -> Option<String> {
    match admission {
        Admission::Budget => None,
        Admission::Solved => Some("solved".to_owned()),
        Admission::Device(device) => Some(format!("device:{}|{}", device.owner.tag(), device.token.0)),
    }
}

/// Anything unreadable counts as within the budgets: the stricter reading.
fn decode_admission(raw: Option<&str>) -> Admission {
    let device = |raw: &str| {
        let (tag, token) = raw.strip_prefix("device:")?.split_once('|')?;
        Some(Admission::Device(DeviceInfo {
            owner: GrantOwner::parse_tag(tag)?,
            token: TokenHash(token.to_owned()),
            targets: Vec::new(),
        }))
    };
    match raw {
        Some("solved") => Admission::Solved,
        Some(raw) => device(raw).unwrap_or(Admission::Budget),
        None => Admission::Budget,
    }
}

pub fn encode(request: &HandedOffReset) -> String {
    let (email, login_id) = match &request.target {
        ResetTarget::Email(email) => (email, None),
        ResetTarget::Account { login_id, email } => (email, Some(login_id.as_str().to_owned())),
    };
    let entry = Entry {
        site: request.site.as_str().to_owned(),
        lang: match request.lang {
            Lang::En => "en",
            Lang::Ko => "ko",
        }
        .to_owned(),
        client: request.client.clone(),
        email: email.as_str().to_owned(),
        login_id,
        nonce: request.nonce.expose().to_owned(),
        admitted: encode_admission(&request.admission),
    };
    serde_json::to_string(&entry).expect("strings always serialise")
}

/// `None` for anything this service did not write.
pub fn decode(raw: &str) -> Option<HandedOffReset> {
    let entry: Entry = serde_json::from_str(raw).ok()?;
    let email = Email::parse(&entry.email).ok()?;
    let target = match entry.login_id {
        Some(login_id) => ResetTarget::Account {
            login_id: LoginId::parse(&login_id).ok()?,
            email,
        },
        None => ResetTarget::Email(email),
    };
    Some(HandedOffReset {
        site: SiteId::parse(&entry.site).ok()?,
        lang: if entry.lang == "ko" { Lang::Ko } else { Lang::En },
        client: entry.client,
        target,
        nonce: ResetNonce::parse(&entry.nonce)?,
        admission: decode_admission(entry.admitted.as_deref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_on_both_paths() {
        let device = Admission::Device(DeviceInfo {
            owner: GrantOwner::parse_tag("main:m-1").unwrap(),
            token: TokenHash("ab12".into()),
            targets: Vec::new(),
        });
        for (target, admission) in [
            (
                ResetTarget::Email(Email::parse("Alice@Example.com").unwrap()),
                Admission::Budget,
            ),
            (
                ResetTarget::Account {
                    login_id: LoginId::parse("alice01").unwrap(),
                    email: Email::parse("alice@example.com").unwrap(),
                },
                Admission::Solved,
            ),
            (ResetTarget::Email(Email::parse("a@example.com").unwrap()), device),
        ] {
            let request = HandedOffReset {
                site: SiteId::parse("main").unwrap(),
                lang: Lang::Ko,
                client: Some("127.0.0.1".into()),
                target,
                nonce: ResetNonce::generate(),
                admission,
            };
            assert_eq!(decode(&encode(&request)), Some(request));
        }
        // An unreadable admission is read as the strictest one.
        let entry = r#"{"site":"main","lang":"en","client":null,"email":"a@example.com","nonce":"NONCE","admitted":"device:nope"}"#
            .replace("NONCE", ResetNonce::generate().expose());
        assert_eq!(decode(&entry).unwrap().admission, Admission::Budget);
        assert_eq!(decode("{}"), None);
        assert_eq!(decode("not json"), None);
    }
}
