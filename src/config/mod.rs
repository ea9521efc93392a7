//! Typed settings from the environment (and an optional `.env`), one file per concern; each
//! file's `//!` lists its variables and parses each once, and the app hands the typed groups
//! straight to whoever uses them. `docs/CONFIGURATION.md` has one line per variable.
mod database;
mod graphql;
mod http;
mod identity;
mod mail;
mod passwords;
mod redis;
mod reset;
mod resolver;
mod scim;
mod security;
mod service;
mod sessions;
mod smtp;
mod vars;
mod webhooks;

use std::{collections::HashMap, fmt};

use crate::recovery::{password_reset::ResetSettings, sessions::SessionSettings};

pub use self::mail::MailSettings;
use self::vars::Vars;
pub use self::{
    database::DatabaseSettings,
    graphql::GraphqlSettings,
    http::HttpSettings,
    identity::{DEVELOPMENT_ISSUER, IdentitySettings, PortoneSettings},
    passwords::PasswordSettings,
    redis::RedisSettings,
    resolver::ResolverConfig,
    scim::ScimSettings,
    security::{DEVELOPMENT_SECRET_KEY, SecuritySettings},
    service::ServiceSettings,
    smtp::SmtpSettings,
    vars::SettingsError,
    webhooks::WebhookSettings,
};

#[derive(Clone)]
pub struct Settings {
    pub service: ServiceSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub smtp: SmtpSettings,
    pub mail: MailSettings,
    pub webhooks: WebhookSettings,
    pub http: HttpSettings,
    pub graphql: GraphqlSettings,
    pub passwords: PasswordSettings,
    pub security: SecuritySettings,
    pub reset: ResetSettings,
    pub resolver: ResolverConfig,
    pub sessions: SessionSettings,
    pub identity: IdentitySettings,
    pub scim: ScimSettings,
}

impl Settings {
    /// Reads the process environment, after loading `.env` when one exists.
    pub fn from_env() -> Result<Settings, SettingsError> {
        let _ = dotenvy::dotenv();
        let vars: HashMap<String, String> = std::env::vars().collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    /// Builds settings from any variable lookup (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let vars = Vars::new(&get);
        let service = ServiceSettings::from_vars(&vars)?;
        let database = DatabaseSettings::from_vars(&vars)?;
        let redis = RedisSettings::from_vars(&vars)?;
        let smtp = SmtpSettings::from_vars(&vars)?;
        let deadlines = mail::Deadlines {
            database: database.timeout,
            redis: redis.timeout,
            smtp: smtp.timeout,
        };
        let mail = mail::delivery_from_vars(&vars, deadlines)?;
        let resolver = resolver::resolver_from_vars(&vars)?;
        // A request resolved again after its resolver's lease finds its mail by key, as long as
        // the row is still there.
        if mail.delivery.sent_retention <= resolver.settings.lease {
            return Err(SettingsError::new(
                "MAIL_SENT_RETENTION_SECS",
                "must exceed RESET_RESOLVER_LEASE_SECS",
            ));
        }
        let reset = reset::reset_from_vars(&vars)?;
        let http = HttpSettings {
            strict_transport_security: reset.public_reset_url.scheme() == "https",
            ..HttpSettings::from_vars(&vars)?
        };
        Ok(Settings {
            security: SecuritySettings::from_vars(&vars, service.production)?,
            http,
            graphql: GraphqlSettings::from_vars(&vars)?,
            passwords: PasswordSettings::from_vars(&vars)?,
            reset,
            sessions: sessions::sessions_from_vars(&vars)?,
            identity: IdentitySettings::from_vars(&vars, service.production)?,
            scim: ScimSettings::from_vars(&vars)?,
            webhooks: WebhookSettings::from_vars(&vars, database.timeout)?,
            service,
            database,
            redis,
            smtp,
            mail,
            resolver,
        })
    }

    /// What serving with PRODUCTION=true needs beyond any start. Checked when the server starts,
    /// not when settings load, so `migrate` and the member commands run without a mail server.
    pub fn check_production_start(&self) -> Result<(), SettingsError> {
        if self.service.production && self.smtp.url.is_none() {
            return Err(SettingsError::new(
                "SMTP_URL",
                "must be set when PRODUCTION=true: without it reset codes and links would go \
                 to the outbox folder and the log instead of the members' mailboxes",
            ));
        }
        if self.service.production && self.identity.raw_ci {
            return Err(SettingsError::new(
                "IDENTITY_RAW_CI",
                "must not be true when PRODUCTION=true: a raw ci is the same for one person on every \
                 service and never changes, so taking it from the browser lets anyone who learns it \
                 take the account; use signed identity assertions (IDENTITY_ASSERTION_JWKS)",
            ));
        }
        let url = &self.reset.public_reset_url;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        };
        if self.service.production && url.scheme() != "https" && !loopback {
            return Err(SettingsError::new(
                "PUBLIC_RESET_URL",
                "must be https when PRODUCTION=true: mailed links carry reset tokens",
            ));
        }
        if self.service.production && self.http.metrics_bind.is_none() {
            return Err(SettingsError::new(
                "METRICS_BIND",
                "must be set when PRODUCTION=true: /metrics moves off the main listener, where \
                 behind a proxy every caller looks local and its mail counters tell who has an account",
            ));
        }
        Ok(())
    }

    /// The warning a production start without Redis prints: it runs, but as one instance only.
    pub fn single_instance_warning(&self) -> Option<&'static str> {
        (self.service.production && self.redis.url.is_none()).then_some(
            "PRODUCTION=true without REDIS_URL: grants, sessions and rate-limit counters live in this \
             process only, so this instance CANNOT BE SCALED OUT (a second instance would not see them) \
             and a restart forgets them; set REDIS_URL before running more than one instance",
        )
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets (URLs may carry passwords) print as their presence only.
        f.debug_struct("Settings")
            .field("database_url", &"[redacted]")
            .field("redis_url", &self.redis.url.as_ref().map(|_| "[redacted]"))
            .field("smtp_url", &self.smtp.url.as_ref().map(|_| "[redacted]"))
            .field("mail_from", &self.smtp.from.to_string())
            .field("public_reset_url", &self.reset.public_reset_url.as_str())
            .field("http", &self.http)
            .field("service", &self.service)
            .field("argon2", &self.passwords.argon2)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::{domain::password_policy::PasswordPolicy, infra::hasher::Argon2Settings};

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_use_embedded_backends() {
        let s = from(&[]).unwrap();
        assert!(s.database.url.expose_secret().starts_with("sqlite://"));
        assert!(s.redis.url.is_none() && s.smtp.url.is_none());
        assert_eq!(s.http.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.service.default_site.as_str(), "main");
        assert_eq!(s.passwords.policy, PasswordPolicy::default());
        assert_eq!(s.passwords.argon2, Argon2Settings::default());
        assert!(s.service.demo && !s.service.production && s.security.uses_development_key());
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert_eq!(from(&[("BIND", "nowhere")]).unwrap_err().name, "BIND");
        assert_eq!(from(&[("DEMO", "maybe")]).unwrap_err().name, "DEMO");
        assert_eq!(from(&[("SECRET_KEY", "short")]).unwrap_err().name, "SECRET_KEY");
        assert_eq!(from(&[("PRODUCTION", "true")]).unwrap_err().name, "SECRET_KEY");
        assert_eq!(from(&[("DEFAULT_SITE", "a b")]).unwrap_err().name, "DEFAULT_SITE");
        assert_eq!(
            from(&[("TRUSTED_PROXIES", "10.0.0.0/99")]).unwrap_err().name,
            "TRUSTED_PROXIES"
        );
        for (name, bad) in [
            ("MAIL_CONCURRENCY", "0"),
            ("MAX_CONNECTIONS", "0"),
            ("HASH_CONCURRENCY", "0"),
            ("RESET_RESOLVER_BATCH", "0"),
            ("RESET_RESOLVER_LOOPS", "0"),
            ("HEADER_READ_TIMEOUT_MS", "0"),
            ("SESSION_TTL_SECS", "0"),
            ("PUBLIC_RESET_URL", "not a url"),
            ("MAIL_FROM", "nobody"),
            ("MAIL_LEASE_SECS", "5"),
            ("MAIL_SENT_RETENTION_SECS", "30"),
            ("PASSWORD_MIN_LENGTH", "0"),
            ("RATE_LIMITS", "signIn.client=x"),
        ] {
            assert_eq!(from(&[(name, bad)]).unwrap_err().name, name, "{name}={bad}");
        }
    }

    const PRODUCTION_KEY: (&str, &str) = ("SECRET_KEY", "production-secret-key-0123456789abcdef0123");

    #[test]
    fn production_never_adds_demo_members() {
        for demo in [None, Some("true"), Some("false")] {
            let mut vars = vec![("PRODUCTION", "true"), PRODUCTION_KEY];
            vars.extend(demo.map(|d| ("DEMO", d)));
            assert!(!from(&vars).unwrap().service.demo, "DEMO={demo:?}");
        }
        assert!(from(&[("DEMO", "true")]).unwrap().service.demo);
    }

    #[test]
    fn production_start_needs_smtp_and_warns_without_redis() {
        let bare = from(&[("PRODUCTION", "true"), PRODUCTION_KEY]).unwrap();
        assert_eq!(bare.check_production_start().unwrap_err().name, "SMTP_URL");
        assert!(
            bare.single_instance_warning()
                .unwrap()
                .contains("CANNOT BE SCALED OUT")
        );

        let smtp = ("SMTP_URL", "smtp://127.0.0.1:2525");
        let metrics = ("METRICS_BIND", "127.0.0.1:9090");
        let without_metrics = from(&[("PRODUCTION", "true"), PRODUCTION_KEY, smtp]).unwrap();
        assert_eq!(
            without_metrics.check_production_start().unwrap_err().name,
            "METRICS_BIND"
        );
        let mailing = from(&[("PRODUCTION", "true"), PRODUCTION_KEY, smtp, metrics]).unwrap();
        assert!(mailing.check_production_start().is_ok());
        for (url, refused) in [
            ("http://app.example/reset", true),
            ("https://app.example/reset", false),
            ("http://localhost:8080/reset", false),
            ("http://[::1]:8080/reset", false),
        ] {
            let link = ("PUBLIC_RESET_URL", url);
            let s = from(&[("PRODUCTION", "true"), PRODUCTION_KEY, smtp, metrics, link]).unwrap();
            let refusal = s.check_production_start().err().map(|e| e.name);
            assert_eq!(refusal, refused.then_some("PUBLIC_RESET_URL"), "{url}");
        }
        let redis = ("REDIS_URL", "redis://127.0.0.1:6379");
        let full = from(&[("PRODUCTION", "true"), PRODUCTION_KEY, smtp, metrics, redis]).unwrap();
        assert!(full.check_production_start().is_ok() && full.single_instance_warning().is_none());

        // Development starts need neither.
        let dev = from(&[]).unwrap();
        assert!(dev.check_production_start().is_ok() && dev.single_instance_warning().is_none());
    }

    #[test]
    fn raw_ci_is_for_development_only() {
        let smtp = ("SMTP_URL", "smtp://127.0.0.1:2525");
        let metrics = ("METRICS_BIND", "127.0.0.1:9090");
        let production = from(&[("PRODUCTION", "true"), PRODUCTION_KEY, smtp, metrics]).unwrap();
        assert!(!production.identity.raw_ci && !production.identity.trust_dev_key);
        assert!(production.check_production_start().is_ok());
        let raw = ("IDENTITY_RAW_CI", "true");
        let refused = from(&[("PRODUCTION", "true"), PRODUCTION_KEY, smtp, raw]).unwrap();
        assert_eq!(
            refused.check_production_start().unwrap_err().name,
            "IDENTITY_RAW_CI"
        );

        let dev = from(&[]).unwrap();
        assert!(dev.identity.raw_ci && dev.identity.trust_dev_key);
        assert_eq!(dev.identity.audience, "account-recovery");
        assert!(!from(&[("IDENTITY_RAW_CI", "false")]).unwrap().identity.raw_ci);
        let jwks = ("IDENTITY_ASSERTION_JWKS", "/etc/idv/jwks.json");
        assert_eq!(from(&[jwks]).unwrap_err().name, "IDENTITY_ASSERTION_ISSUERS");
        let set = from(&[jwks, ("IDENTITY_ASSERTION_ISSUERS", "https://a.example, b")]).unwrap();
        assert_eq!(set.identity.issuers, ["https://a.example", "b"]);
        assert!(!set.identity.trust_dev_key);
    }

    #[test]
    fn secrets_are_not_printed() {
        let s = from(&[
            ("DATABASE_URL", "postgres://u:hunter2@db/x"),
            ("SECRET_KEY", "0123456789abcdef0123456789abcdef-secret"),
        ])
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2") && !printed.contains("-secret"));
    }
}
