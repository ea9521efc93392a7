//! The mails recovery sends, in Korean and English, as text and HTML.
use chrono::{DateTime, Utc};

use crate::{domain::lang::Lang, recovery::ports::OutgoingMail};

/// One account in a reset mail: its login ID, link and code.
pub struct ResetEntry {
    pub login_id: String,
    pub link: String,
    pub code: String,
}

/// A mailed link to the reset page carrying `name=token` in its fragment: a fragment never leaves
/// the browser, so the token stays out of proxies' and CDNs' access logs.
pub fn token_link(base: &url::Url, name: &str, token: &str) -> String {
    let mut link = base.clone();
    let fragment: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(name, token)
        .finish();
    link.set_fragment(Some(&fragment));
    link.to_string()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:sans-serif;line-height:1.5\">{body}</body></html>",
        escape(title)
    )
}

/// The password-reset mail: every account of the address with its own link and code.
pub fn reset_mail(lang: Lang, to: &str, entries: &[ResetEntry], expires_minutes: i64) -> OutgoingMail {
    let (subject, intro, code_label, link_label, expiry, not_you) = match lang {
        Lang::En => (
            "Reset your password".to_owned(),
            format!(
                "Someone (hopefully you) asked to reset the password of the {} below.",
                if entries.len() > 1 { "accounts" } else { "account" }
            ),
            "Verification code",
            "Or open this link",
            format!("The code and link expire in {expires_minutes} minutes and work once."),
            "If you did not ask for this, ignore this mail: your password stays as it is. \
             Never share the code with anyone.",
        ),
        Lang::Ko => (
            "비밀번호 재설정 안내".to_owned(),
            "아래 계정의 비밀번호 재설정이 요청되었습니다.".to_owned(),
            "인증번호",
            "또는 다음 링크를 여세요",
            format!("인증번호와 링크는 {expires_minutes}분 동안 한 번만 사용할 수 있습니다."),
            "직접 요청하지 않았다면 이 메일을 무시하세요. 비밀번호는 바뀌지 않습니다. \
             인증번호를 다른 사람에게 알려주지 마세요.",
        ),
    };
    let account_label = match lang {
        Lang::En => "Login ID",
        Lang::Ko => "아이디",
    };
    let mut text = format!("{intro}\n\n");
    let mut html = format!("<p>{}</p>", escape(&intro));
    for e in entries {
        text.push_str(&format!(
            "{account_label}: {}\n{code_label}: {}\n{link_label}: {}\n\n",
            e.login_id, e.code, e.link
        ));
        html.push_str(&format!(
            "<p><strong>{account_label}: {}</strong><br>{code_label}: <code style=\"font-size:1.3em\">{}</code><br>\
             <a href=\"{}\">{link_label}</a></p>",
            escape(&e.login_id),
            escape(&e.code),
            escape(&e.link)
        ));
    }
    text.push_str(&format!("{expiry}\n{not_you}\n"));
    html.push_str(&format!("<p>{}</p><p>{}</p>", escape(&expiry), escape(not_you)));
    OutgoingMail {
        to: to.to_owned(),
        html: html_page(&subject, &html),
        subject,
        text,
    }
}

/// What a "your password was changed" notice says: when, from where, and the "that wasn't me"
/// link with its lifetime.
pub struct ChangeNotice<'a> {
    pub login_id: &'a str,
    pub at: DateTime<Utc>,
    /// The client's network, already masked (IPv4 /24, IPv6 /48).
    pub from_network: Option<&'a str>,
    pub report_link: &'a str,
    pub report_days: u64,
}

/// The notice sent after a password was reset or changed.
pub fn password_changed_mail(lang: Lang, to: &str, notice: &ChangeNotice<'_>) -> OutgoingMail {
    let when = notice.at.format("%Y-%m-%d %H:%M UTC").to_string();
    let login_id = notice.login_id;
    let days = notice.report_days;
    let (subject, body, from, not_you) = match lang {
        Lang::En => (
            "Your password was changed",
            format!("The password of your account {login_id} was changed at {when}."),
            notice
                .from_network
                .map(|n| format!("The change came from the network {n}."))
                .unwrap_or_else(|| "The network of the change is not known.".to_owned()),
            format!(
                "If this was not you, open the link below (\"that wasn't me\", valid {days} days): every \
                 session is signed out, password sign-in is locked and a fresh reset link is mailed to you."
            ),
        ),
        Lang::Ko => (
            "비밀번호가 변경되었습니다",
            format!("{login_id} 계정의 비밀번호가 {when}에 변경되었습니다."),
            notice
                .from_network
                .map(|n| format!("변경 요청은 {n} 네트워크에서 왔습니다."))
                .unwrap_or_else(|| "변경 요청의 네트워크는 알 수 없습니다.".to_owned()),
            format!(
                "본인이 변경하지 않았다면 아래 링크를 여세요({days}일간 유효): 모든 세션이 로그아웃되고 \
                 비밀번호 로그인이 잠기며 새 재설정 링크가 메일로 발송됩니다."
            ),
        ),
    };
    let link = notice.report_link;
    OutgoingMail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: format!("{body}\n{from}\n\n{not_you}\n{link}\n"),
        html: html_page(
            subject,
            &format!(
                "<p>{}<br>{}</p><p>{}</p><p><a href=\"{}\">{}</a></p>",
                escape(&body),
                escape(&from),
                escape(&not_you),
                escape(link),
                escape(link)
            ),
        ),
    }
}

/// Which recovery-code event a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryCodeEvent {
    /// A new set was generated (the old codes no longer work).
    Generated,
    /// One code was used to recover the account; `left` unspent codes remain.
    Used { left: u32 },
}

/// What a recovery-code notice says: which account, what happened, when and from where. Never a
/// code.
pub struct RecoveryCodeNotice<'a> {
    pub login_id: &'a str,
    pub event: RecoveryCodeEvent,
    pub at: DateTime<Utc>,
    /// The client's network, already masked (IPv4 /24, IPv6 /48).
    pub from_network: Option<&'a str>,
    /// The "that wasn't me" link of a new set, and for how many days it works.
    pub report: Option<(&'a str, u64)>,
}

/// The notice sent when recovery codes are generated or one is used.
pub fn recovery_codes_mail(lang: Lang, to: &str, notice: &RecoveryCodeNotice<'_>) -> OutgoingMail {
    let when = notice.at.format("%Y-%m-%d %H:%M UTC").to_string();
    let login_id = notice.login_id;
    let (subject, body, from, not_you) = match (lang, notice.event) {
        (Lang::En, event) => (
            match event {
                RecoveryCodeEvent::Generated => "Recovery codes generated",
                RecoveryCodeEvent::Used { .. } => "A recovery code was used",
            },
            match event {
                RecoveryCodeEvent::Generated => format!(
                    "New recovery codes were generated for your account {login_id} at {when}. Codes generated before no longer work."
                ),
                RecoveryCodeEvent::Used { left } => format!(
                    "A recovery code of your account {login_id} was used at {when} to recover the account. {left} unused codes remain."
                ),
            },
            notice
                .from_network
                .map(|n| format!("The request came from the network {n}."))
                .unwrap_or_else(|| "The network of the request is not known.".to_owned()),
            match notice.report {
                Some((link, days)) => format!(
                    "If this was not you, open this link (it works for {days} days): it signs out every session, revokes these codes, locks signing in with a password and mails you a fresh reset link.\n{link}"
                ),
                None => {
                    "If this was not you, reset your password now and generate new recovery codes.".to_owned()
                }
            },
        ),
        (Lang::Ko, event) => (
            match event {
                RecoveryCodeEvent::Generated => "복구 코드가 생성되었습니다",
                RecoveryCodeEvent::Used { .. } => "복구 코드가 사용되었습니다",
            },
            match event {
                RecoveryCodeEvent::Generated => format!(
                    "{login_id} 계정의 새 복구 코드가 {when}에 생성되었습니다. 이전 복구 코드는 더 이상 사용할 수 없습니다."
                ),
                RecoveryCodeEvent::Used { left } => format!(
                    "{login_id} 계정의 복구 코드가 {when}에 계정 복구에 사용되었습니다. 남은 복구 코드는 {left}개입니다."
                ),
            },
            notice
                .from_network
                .map(|n| format!("요청은 {n} 네트워크에서 왔습니다."))
                .unwrap_or_else(|| "요청의 네트워크는 알 수 없습니다.".to_owned()),
            match notice.report {
                Some((link, days)) => format!(
                    "본인이 아니라면 이 링크를 여세요({days}일 동안 유효): 모든 세션을 로그아웃하고, 이 복구 코드를 폐기하고, 비밀번호 로그인을 잠그고, 새 재설정 링크를 메일로 보냅니다.\n{link}"
                ),
                None => "본인이 아니라면 지금 비밀번호를 재설정하고 새 복구 코드를 생성하세요.".to_owned(),
            },
        ),
    };
    OutgoingMail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: format!("{body}\n{from}\n\n{not_you}\n"),
        html: html_page(
            subject,
            &format!(
                "<p>{}<br>{}</p><p>{}</p>",
                escape(&body),
                escape(&from),
                escape(&not_you).replace('\n', "<br>")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<ResetEntry> {
        vec![
            ResetEntry {
                login_id: "kim01".into(),
                link: "https://x.example/reset?token=AAA".into(),
                code: "123456".into(),
            },
            ResetEntry {
                login_id: "kim-biz".into(),
                link: "https://x.example/reset?token=BBB".into(),
                code: "654321".into(),
            },
        ]
    }

    #[test]
    fn reset_mail_names_each_account_its_code_link_and_expiry() {
        for lang in [Lang::En, Lang::Ko] {
            let mail = reset_mail(lang, "kim@example.com", &entries(), 15);
            for part in [&mail.text, &mail.html] {
                for needle in [
                    "kim01",
                    "kim-biz",
                    "123456",
                    "654321",
                    "token=AAA",
                    "token=BBB",
                    "15",
                ] {
                    assert!(part.contains(needle), "{lang:?} lacks {needle}");
                }
            }
            assert_eq!(mail.to, "kim@example.com");
        }
        assert!(
            reset_mail(Lang::Ko, "a@b.co", &entries(), 15)
                .text
                .contains("요청하지 않았다면")
        );
        assert!(
            reset_mail(Lang::En, "a@b.co", &entries(), 15)
                .text
                .contains("did not ask")
        );
    }

    #[test]
    fn html_is_escaped() {
        let e = [ResetEntry {
            login_id: "<script>".into(),
            link: "https://x/?a=1&b=2".into(),
            code: "000000".into(),
        }];
        let mail = reset_mail(Lang::En, "a@b.co", &e, 15);
        assert!(!mail.html.contains("<script>") && mail.html.contains("a=1&amp;b=2"));
    }

    #[test]
    fn tokens_travel_in_the_fragment_and_the_base_keeps_its_query() {
        let base = url::Url::parse("https://app.example/reset?lang=ko").unwrap();
        assert_eq!(
            token_link(&base, "token", "a-b_c"),
            "https://app.example/reset?lang=ko#token=a-b_c"
        );
        let plain = url::Url::parse("https://app.example/reset").unwrap();
        assert_eq!(
            token_link(&plain, "report", "R"),
            "https://app.example/reset#report=R"
        );
    }

    #[test]
    fn recovery_code_notices_name_the_account_the_event_and_the_network() {
        for lang in [Lang::En, Lang::Ko] {
            for (event, needle) in [
                (RecoveryCodeEvent::Generated, None),
                (RecoveryCodeEvent::Used { left: 7 }, Some("7")),
            ] {
                let report = matches!(event, RecoveryCodeEvent::Generated)
                    .then_some(("https://x.example/reset#report=R1", 7));
                let notice = RecoveryCodeNotice {
                    login_id: "kim<01>",
                    event,
                    at: Utc::now(),
                    from_network: Some("203.0.113.0/24"),
                    report,
                };
                let mail = recovery_codes_mail(lang, "a@b.co", &notice);
                for n in ["kim<01>", "203.0.113.0/24"].into_iter().chain(needle) {
                    assert!(mail.text.contains(n), "{lang:?} {event:?} lacks {n}");
                }
                // A new set's notice carries its own report link; a used code's does not (the
                // reset it makes sends the password-changed notice, with a link of its own).
                assert_eq!(
                    mail.text.contains("#report=R1") && mail.html.contains("#report=R1"),
                    report.is_some(),
                    "{lang:?} {event:?}"
                );
                assert!(mail.html.contains("kim&lt;01&gt;"), "{lang:?}");
                assert!(
                    !mail.text.contains("  "),
                    "{lang:?} {event:?}: a run of spaces in the text"
                );
            }
        }
        let generated = RecoveryCodeNotice {
            login_id: "kim01",
            event: RecoveryCodeEvent::Generated,
            at: Utc::now(),
            from_network: None,
            report: None,
        };
        assert_eq!(
            recovery_codes_mail(Lang::En, "a@b.co", &generated).subject,
            "Recovery codes generated"
        );
    }

    #[test]
    fn change_notice_names_the_account_the_network_and_the_report_link() {
        let notice = ChangeNotice {
            login_id: "kim01",
            at: Utc::now(),
            from_network: Some("203.0.113.0/24"),
            report_link: "https://x.example/reset?report=R&x=1",
            report_days: 7,
        };
        for lang in [Lang::En, Lang::Ko] {
            let mail = password_changed_mail(lang, "a@b.co", &notice);
            for needle in ["kim01", "203.0.113.0/24", "?report=R&x=1", "7"] {
                assert!(mail.text.contains(needle), "{lang:?} text lacks {needle}");
            }
            assert!(mail.html.contains("?report=R&amp;x=1"), "{lang:?}");
        }
        assert!(
            password_changed_mail(Lang::En, "a@b.co", &notice)
                .subject
                .contains("changed")
        );
    }
}
