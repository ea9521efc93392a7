//! The mail benches' sample reset mail and their limit: the SMTP mailer alone.
#![allow(dead_code)] // each bench uses part of this file

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use account_recovery::{
    infra::mailer::{SmtpMailer, parse_from},
    recovery::ports::{Mailer, OutgoingMail},
};

use crate::{cpu, smtp_server::SmtpServer};

/// A reset mail of the size the service sends, to `{run}{i:06}@example.com`.
pub fn sample_mail(run: &str, i: usize) -> OutgoingMail {
    let link = format!("http://127.0.0.1:8080/reset-password#token={}", "x".repeat(43));
    OutgoingMail {
        to: format!("{run}{i:06}@example.com"),
        subject: "Reset your password".into(),
        text: format!("Your code is 123456.\n\n{link}\n"),
        html: format!("<p>Your code is <b>123456</b>.</p><p><a href=\"{link}\">{link}</a></p>"),
    }
}

/// What the SMTP mailer alone (no queue, no database) sends to `smtp` from `connections` senders
/// on kept connections: mails per second, and the CPU this process spent per mail doing it in ms
/// (mailer and test server).
pub async fn mailer_alone(smtp: &SmtpServer, connections: usize, mails: usize) -> (f64, f64) {
    let from = parse_from("Bench <bench@localhost>").unwrap();
    let mailer =
        Arc::new(SmtpMailer::new(&smtp.url(), from, Duration::from_secs(30), None, connections).unwrap());
    let before = smtp.count();
    let cpu_before = cpu::process_cpu(std::process::id());
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for c in 0..connections {
        let mailer = mailer.clone();
        senders.spawn(async move {
            for i in (c..mails).step_by(connections) {
                mailer.send(&sample_mail("raw", i)).await.unwrap();
            }
        });
    }
    while senders.join_next().await.is_some() {}
    let rate = mails as f64 / started.elapsed().as_secs_f64();
    let cpu = cpu::process_cpu(std::process::id()) - cpu_before;
    assert_eq!(smtp.count() - before, mails);
    (rate, cpu.as_secs_f64() * 1000.0 / mails as f64)
}
