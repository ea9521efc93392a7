//! Posting one signed event (Standard Webhooks headers) with reqwest: no redirects followed, no
//! proxy, one deadline for the whole call, and every address a name resolves to checked before
//! connecting, so a public name that resolves to the service's own network is refused too.
use std::{net::SocketAddr, sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::Utc;

use crate::{
    domain::webhook::{check_address, check_target},
    recovery::ports::{SignedDelivery, WebhookAnswer, WebhookSender},
};

pub struct HttpWebhookSender {
    http: reqwest::Client,
    allow_private: bool,
}

/// The system resolver, keeping only addresses events may go to.
struct CheckedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| check_address(addr.ip(), allow_private).is_ok())
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "{host} resolves to no address events may go to (loopback, private and link-local \
                     addresses are refused unless WEBHOOK_ALLOW_PRIVATE=true)"
                )
                .into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl HttpWebhookSender {
    pub fn new(timeout: Duration, allow_private: bool) -> anyhow::Result<Self> {
        // reqwest is built without a crypto provider of its own: the process-wide one is ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver { allow_private }))
            .user_agent(concat!("account-recovery/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HttpWebhookSender { http, allow_private })
    }
}

/// `Retry-After` as seconds or as an HTTP date, from now.
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&Utc) - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// The chain of causes, without the URL (it is in the endpoint's record already).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn post(&self, url: &url::Url, delivery: &SignedDelivery) -> WebhookAnswer {
        // An address literal never reaches the resolver: checked here.
        if let Err(refused) = check_target(url, self.allow_private) {
            return WebhookAnswer::Unreachable(refused.to_string());
        }
        let sent = self
            .http
            .post(url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.webhook_id)
            .header("webhook-timestamp", delivery.timestamp.to_string())
            .header("webhook-signature", &delivery.signature)
            .body(delivery.body.clone())
            .send()
            .await;
        match sent {
            Ok(response) => WebhookAnswer::Status {
                code: response.status().as_u16(),
                retry_after: response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(retry_after),
            },
            Err(e) => WebhookAnswer::Unreachable(describe(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 "), Some(Duration::ZERO));
        let later = (Utc::now() + chrono::Duration::seconds(3600)).to_rfc2822();
        let read = retry_after(&later).unwrap();
        assert!(
            read > Duration::from_secs(3590) && read <= Duration::from_secs(3600),
            "{read:?}"
        );
        // A date in the past means now.
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(retry_after("soon"), None);
    }

    #[tokio::test]
    async fn private_targets_are_refused_as_written_and_as_resolved() {
        use std::str::FromStr;

        use reqwest::dns::{Name, Resolve};
        // A name that passes as written but resolves to loopback.
        let name = || Name::from_str("localhost").unwrap();
        let refused = CheckedResolver { allow_private: false }.resolve(name()).await;
        let error = refused.err().expect("refused").to_string();
        assert!(error.contains("WEBHOOK_ALLOW_PRIVATE"), "{error}");
        let allowed: Vec<SocketAddr> = CheckedResolver { allow_private: true }
            .resolve(name())
            .await
            .unwrap()
            .collect();
        assert!(allowed.iter().any(|a| a.ip().is_loopback()), "{allowed:?}");
        // An address literal is refused before any connection.
        let sender = HttpWebhookSender::new(Duration::from_secs(1), false).unwrap();
        let delivery = SignedDelivery {
            webhook_id: "msg_1".into(),
            timestamp: 0,
            signature: "v1,x".into(),
            body: "{}".into(),
        };
        for target in [
            "http://10.1.2.3/hooks",
            "http://[::1]:9/hooks",
            "http://169.254.169.254/latest",
        ] {
            match sender.post(&target.parse().unwrap(), &delivery).await {
                WebhookAnswer::Unreachable(why) => assert!(why.contains("WEBHOOK_ALLOW_PRIVATE"), "{why}"),
                other => panic!("{target}: {other:?}"),
            }
        }
    }
}
