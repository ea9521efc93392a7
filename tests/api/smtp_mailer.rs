//! The SMTP mailer against the test server: connections kept and reused, one the server closed
//! replaced without losing or doubling the message, content sent transparently, and a message
//! refused by the server reported as the server classed it.
use std::time::Duration;

use account_recovery::{
    infra::mailer::{SmtpMailer, parse_from},
    recovery::ports::{MailError, Mailer, OutgoingMail},
};

use crate::smtp_server::SmtpServer;

fn mail(to: &str, text: &str) -> OutgoingMail {
    OutgoingMail {
        to: to.into(),
        subject: "Mailer check".into(),
        text: text.into(),
        html: format!("<p>{text}</p>"),
    }
}

fn mailer(url: &str, connections: usize) -> SmtpMailer {
    let from = parse_from("Account Recovery <no-reply@localhost>").unwrap();
    SmtpMailer::new(url, from, Duration::from_secs(5), None, connections).unwrap()
}

#[tokio::test]
async fn a_kept_connection_the_server_closed_is_replaced_and_the_message_goes_once() {
    let smtp = SmtpServer::start().await;
    let port = smtp.port();
    let mailer = mailer(&smtp.url(), 2);
    mailer.send(&mail("alice@example.com", "first")).await.unwrap();
    // The server goes away and comes back: the connection the mailer kept is dead.
    smtp.stop().await;
    let restarted = SmtpServer::start_on(port).await;
    mailer.send(&mail("bob@example.com", "second")).await.unwrap();
    let got = restarted.wait_for_messages(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "exactly one delivery after the restart");
    assert_eq!(got[0].to, ["bob@example.com"]);
    assert_eq!(smtp.messages().len(), 1, "the first server got only the first");
}

#[tokio::test]
async fn many_messages_at_once_each_arrive_once_with_their_content_intact() {
    let smtp = SmtpServer::start().await;
    let mailer = std::sync::Arc::new(mailer(&smtp.url(), 4));
    // Lines starting with "." must survive the SMTP transparency rule; a lone "." would end DATA.
    let text = |i: usize| format!("line one\n.\n..two dots {i}\n.end");
    let sends = (0..40).map(|i| {
        let mailer = mailer.clone();
        async move { mailer.send(&mail(&format!("m{i}@example.com"), &text(i))).await }
    });
    for result in futures::future::join_all(sends).await {
        result.unwrap();
    }
    let got = smtp.wait_for_messages(40, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 40);
    let mut recipients: Vec<String> = got.iter().map(|m| m.to.join(",")).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 40, "no message twice");
    for m in &got {
        let i: usize = m.to[0]
            .trim_start_matches('m')
            .split('@')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            m.text.replace("\r\n", "\n").trim_end(),
            text(i),
            "content of {}",
            m.to[0]
        );
    }
}

#[tokio::test]
async fn an_unreachable_server_is_a_temporary_failure_and_a_bad_recipient_a_permanent_one() {
    let smtp = SmtpServer::start().await;
    let url = smtp.url();
    smtp.stop().await;
    match mailer(&url, 1).send(&mail("alice@example.com", "x")).await {
        Err(MailError::Temporary(_)) => {}
        other => panic!("expected a temporary failure, got {other:?}"),
    }
    let smtp = SmtpServer::start().await;
    match mailer(&smtp.url(), 1).send(&mail("not an address", "x")).await {
        Err(MailError::Permanent(_)) => {}
        other => panic!("expected a permanent failure, got {other:?}"),
    }
}
