//! How a handed-off reset request is written in the queue (a stream field or a table column): a
//! small JSON object, read back through the same parsers as the request path's input.
use serde::{Deserialize, Serialize};

use crate::{
    domain::{email::Email, lang::Lang, login_id::LoginId, reset_nonce::ResetNonce, site::SiteId},
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_on_both_paths() {
        for target in [
            ResetTarget::Email(Email::parse("Alice@Example.com").unwrap()),
            ResetTarget::Account {
                login_id: LoginId::parse("alice01").unwrap(),
                email: Email::parse("alice@example.com").unwrap(),
            },
        ] {
            let request = HandedOffReset {
                site: SiteId::parse("main").unwrap(),
                lang: Lang::Ko,
                client: Some("127.0.0.1".into()),
                target,
                nonce: ResetNonce::generate(),
            };
            assert_eq!(decode(&encode(&request)), Some(request));
        }
        assert_eq!(decode("{}"), None);
        assert_eq!(decode("not json"), None);
    }
}
