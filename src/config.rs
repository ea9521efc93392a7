//! Typed settings from the environment (and an optional `.env`); every knob has its default here.
use std::{collections::HashMap, fmt, net::SocketAddr, path::PathBuf, time::Duration};

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};

use crate::{
    domain::{password_policy::PasswordPolicy, site::SiteId},
    recovery::rate_limits::RateLimitTable,
};

/// The development key used when SECRET_KEY is unset. `serve` warns loudly when it is in use.
pub const DEVELOPMENT_SECRET_KEY: &str = "insecure-development-key-change-me";

#[derive(Clone)]
pub struct Settings {
    pub database_url: SecretString,
    pub redis_url: Option<SecretString>,
    pub smtp_url: Option<SecretString>,
    /// PEM CA certificates trusted for `rediss://` instead of the system roots.
    pub redis_ca_file: Option<PathBuf>,
    /// PEM CA certificates trusted for SMTP STARTTLS / `smtps://` instead of the system roots.
    pub smtp_ca_file: Option<PathBuf>,
    pub mail_from: String,
    pub public_reset_url: String,
    pub bind: SocketAddr,
    pub secret_key: SecretString,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    /// Peers allowed to read /metrics (its counters would tell who has an account).
    pub metrics_allow: Vec<IpNet>,
    /// A listener of its own for `/metrics` (then off the main one): the production setup.
    pub metrics_bind: Option<SocketAddr>,
    pub default_site: SiteId,
    pub log_filter: String,
    pub log_json: bool,
    pub demo: bool,
    pub production: bool,
    pub outbox_dir: PathBuf,
    /// The built SPA to serve (`npm run build` in web/); without its index.html the service
    /// serves an embedded reset page instead.
    pub web_dir: PathBuf,
    /// A graphql-codegen persisted-documents manifest: when set, only its operations run.
    pub trusted_documents: Option<PathBuf>,
    pub argon2: Argon2Settings,
    pub hash_concurrency: usize,
    pub password_policy: PasswordPolicy,
    pub db_max_connections: u32,
    pub db_timeout: Duration,
    pub request_timeout: Duration,
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub redis_key_prefix: String,
    pub redis_timeout: Duration,
    pub smtp_timeout: Duration,
    pub email_grant_ttl: Duration,
    pub direct_token_ttl: Duration,
    pub reset_cooldown: Duration,
    pub email_reply_floor: Duration,
    /// Whether this instance resolves handed-off reset requests (`RESET_RESOLVER`).
    pub reset_resolver: bool,
    pub reset_resolver_lease: Duration,
    pub reset_resolver_poll: Duration,
    pub reset_resolver_batch: usize,
    pub reset_resolver_linger: Duration,
    pub code_max_attempts: u32,
    pub code_failure_window: Duration,
    pub mail_max_attempts: u32,
    pub mail_poll_interval: Duration,
    /// Messages each instance sends at once (and SMTP connections it keeps for reuse).
    pub mail_concurrency: usize,
    /// How long a claimed message is reserved for the instance that claimed it.
    pub mail_lease: Duration,
    /// Sent and dropped mail is deleted this long after it finished.
    pub mail_sent_retention: Duration,
    /// Given-up mail is kept this long for operators.
    pub mail_failed_retention: Duration,
    pub session_ttl: Duration,
    pub elevation: Duration,
    pub reset_elevation_window: Duration,
    /// How long the "that wasn't me" link of a password-changed notice works.
    pub report_token_ttl: Duration,
    pub signin_max_failures: u32,
    pub signin_client_max_failures: u32,
    pub signin_failure_window: Duration,
    pub rate_limits: RateLimitTable,
    pub graphql_max_depth: usize,
    pub graphql_max_complexity: usize,
    pub graphql_max_aliases: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Argon2Settings {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("setting {name}: {problem}")]
pub struct SettingsError {
    pub name: &'static str,
    pub problem: String,
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
        let var = |name: &'static str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let parse = |name: &'static str, default: &str| -> Result<String, SettingsError> {
            Ok(var(name).unwrap_or_else(|| default.to_owned()))
        };
        fn typed<T: std::str::FromStr>(name: &'static str, raw: String) -> Result<T, SettingsError>
        where
            T::Err: fmt::Display,
        {
            raw.parse().map_err(|e: T::Err| SettingsError {
                name,
                problem: format!("{raw:?} is not valid ({e})"),
            })
        }
        let list = |name: &'static str| -> Vec<String> {
            var(name)
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };

        let defaults = PasswordPolicy::default();
        let password_policy = PasswordPolicy {
            min_length: typed(
                "PASSWORD_MIN_LENGTH",
                parse("PASSWORD_MIN_LENGTH", &defaults.min_length.to_string())?,
            )?,
            max_length: typed(
                "PASSWORD_MAX_LENGTH",
                parse("PASSWORD_MAX_LENGTH", &defaults.max_length.to_string())?,
            )?,
            forbid_whitespace: typed(
                "PASSWORD_FORBID_WHITESPACE",
                parse(
                    "PASSWORD_FORBID_WHITESPACE",
                    &defaults.forbid_whitespace.to_string(),
                )?,
            )?,
            max_sequential_run: typed(
                "PASSWORD_MAX_SEQUENTIAL_RUN",
                parse(
                    "PASSWORD_MAX_SEQUENTIAL_RUN",
                    &defaults.max_sequential_run.to_string(),
                )?,
            )?,
            max_repeated_run: typed(
                "PASSWORD_MAX_REPEATED_RUN",
                parse(
                    "PASSWORD_MAX_REPEATED_RUN",
                    &defaults.max_repeated_run.to_string(),
                )?,
            )?,
            history_size: typed(
                "PASSWORD_HISTORY_SIZE",
                parse("PASSWORD_HISTORY_SIZE", &defaults.history_size.to_string())?,
            )?,
            expires_after_days: typed(
                "PASSWORD_EXPIRES_AFTER_DAYS",
                parse(
                    "PASSWORD_EXPIRES_AFTER_DAYS",
                    &defaults.expires_after_days.to_string(),
                )?,
            )?,
        };
        if password_policy.min_length == 0 || password_policy.min_length > password_policy.max_length {
            return Err(SettingsError {
                name: "PASSWORD_MIN_LENGTH",
                problem: "must be at least 1 and not above PASSWORD_MAX_LENGTH".into(),
            });
        }

        let default_site_raw = parse("DEFAULT_SITE", "main")?;
        let default_site = SiteId::parse(&default_site_raw).map_err(|e| SettingsError {
            name: "DEFAULT_SITE",
            problem: e.to_string(),
        })?;
        let trusted_proxies = list("TRUSTED_PROXIES")
            .into_iter()
            .map(|p| parse_network("TRUSTED_PROXIES", &p))
            .collect::<Result<_, _>>()?;
        let metrics_allow = match var("METRICS_ALLOW") {
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|p| parse_network("METRICS_ALLOW", p))
                .collect::<Result<_, _>>()?,
            None => vec![
                parse_network("METRICS_ALLOW", "127.0.0.0/8")?,
                parse_network("METRICS_ALLOW", "::1")?,
            ],
        };
        let public_reset_url = parse("PUBLIC_RESET_URL", "http://127.0.0.1:8080/reset-password")?;
        url::Url::parse(&public_reset_url).map_err(|e| SettingsError {
            name: "PUBLIC_RESET_URL",
            problem: e.to_string(),
        })?;
        let production: bool = typed("PRODUCTION", parse("PRODUCTION", "false")?)?;
        let secret_key = parse("SECRET_KEY", DEVELOPMENT_SECRET_KEY)?;
        if secret_key.len() < 32 {
            return Err(SettingsError {
                name: "SECRET_KEY",
                problem: "must be at least 32 characters".into(),
            });
        }
        if production && secret_key == DEVELOPMENT_SECRET_KEY {
            return Err(SettingsError {
                name: "SECRET_KEY",
                problem: "must be set when PRODUCTION=true".into(),
            });
        }
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let secs = |name: &'static str, default: &str| -> Result<Duration, SettingsError> {
            let n: u64 = typed(name, parse(name, default)?)?;
            if n == 0 {
                return Err(SettingsError {
                    name,
                    problem: "must be above 0".into(),
                });
            }
            Ok(Duration::from_secs(n))
        };
        let millis = |name: &'static str, default: &str| -> Result<Duration, SettingsError> {
            Ok(Duration::from_millis(typed(name, parse(name, default)?)?))
        };

        Ok(Settings {
            database_url: parse("DATABASE_URL", "sqlite://account-recovery.db?mode=rwc")?.into(),
            redis_url: var("REDIS_URL").map(Into::into),
            smtp_url: var("SMTP_URL").map(Into::into),
            redis_ca_file: var("REDIS_CA_FILE").map(PathBuf::from),
            smtp_ca_file: var("SMTP_CA_FILE").map(PathBuf::from),
            mail_from: parse("MAIL_FROM", "Account Recovery <no-reply@localhost>")?,
            public_reset_url,
            bind: typed("BIND", parse("BIND", "127.0.0.1:8080")?)?,
            secret_key: secret_key.into(),
            cors_origins: list("CORS_ORIGINS"),
            trusted_proxies,
            metrics_allow,
            metrics_bind: var("METRICS_BIND")
                .map(|raw| typed("METRICS_BIND", raw))
                .transpose()?,
            default_site,
            log_filter: parse("RUST_LOG", "info")?,
            log_json: typed("LOG_JSON", parse("LOG_JSON", &production.to_string())?)?,
            // Demo members have published passwords: a production start never adds them.
            demo: typed::<bool>("DEMO", parse("DEMO", "true")?)? && !production,
            production,
            outbox_dir: PathBuf::from(parse("OUTBOX_DIR", "outbox")?),
            web_dir: PathBuf::from(parse("WEB_DIR", "web/dist")?),
            trusted_documents: var("TRUSTED_DOCUMENTS").map(PathBuf::from),
            argon2: Argon2Settings {
                memory_kib: typed("ARGON2_MEMORY_KIB", parse("ARGON2_MEMORY_KIB", "19456")?)?,
                iterations: typed("ARGON2_ITERATIONS", parse("ARGON2_ITERATIONS", "2")?)?,
                parallelism: typed("ARGON2_PARALLELISM", parse("ARGON2_PARALLELISM", "1")?)?,
            },
            hash_concurrency: typed("HASH_CONCURRENCY", parse("HASH_CONCURRENCY", &cpus.to_string())?)?,
            password_policy,
            db_max_connections: typed("DB_MAX_CONNECTIONS", parse("DB_MAX_CONNECTIONS", "10")?)?,
            db_timeout: millis("DB_TIMEOUT_MS", "1500")?,
            request_timeout: millis("REQUEST_TIMEOUT_MS", "10000")?,
            header_read_timeout: match millis("HEADER_READ_TIMEOUT_MS", "10000")? {
                zero if zero.is_zero() => {
                    return Err(SettingsError {
                        name: "HEADER_READ_TIMEOUT_MS",
                        problem: "must be above 0".into(),
                    });
                }
                timeout => timeout,
            },
            max_connections: match typed("MAX_CONNECTIONS", parse("MAX_CONNECTIONS", "1024")?)? {
                0 => {
                    return Err(SettingsError {
                        name: "MAX_CONNECTIONS",
                        problem: "must be above 0".into(),
                    });
                }
                n => n,
            },
            redis_key_prefix: parse("REDIS_KEY_PREFIX", "ar")?,
            redis_timeout: millis("REDIS_TIMEOUT_MS", "1500")?,
            smtp_timeout: millis("SMTP_TIMEOUT_MS", "10000")?,
            email_grant_ttl: secs("EMAIL_GRANT_TTL_SECS", "900")?,
            direct_token_ttl: secs("DIRECT_TOKEN_TTL_SECS", "300")?,
            reset_cooldown: secs("RESET_COOLDOWN_SECS", "60")?,
            email_reply_floor: millis("EMAIL_REPLY_FLOOR_MS", "0")?,
            reset_resolver: typed("RESET_RESOLVER", parse("RESET_RESOLVER", "true")?)?,
            reset_resolver_lease: secs("RESET_RESOLVER_LEASE_SECS", "30")?,
            reset_resolver_poll: millis("RESET_RESOLVER_POLL_MS", "250")?,
            reset_resolver_batch: typed("RESET_RESOLVER_BATCH", parse("RESET_RESOLVER_BATCH", "256")?)?,
            reset_resolver_linger: millis("RESET_RESOLVER_LINGER_MS", "50")?,
            code_max_attempts: typed("CODE_MAX_ATTEMPTS", parse("CODE_MAX_ATTEMPTS", "5")?)?,
            code_failure_window: secs("CODE_FAILURE_WINDOW_SECS", "3600")?,
            mail_max_attempts: typed("MAIL_MAX_ATTEMPTS", parse("MAIL_MAX_ATTEMPTS", "10")?)?,
            mail_poll_interval: millis("MAIL_POLL_MS", "1000")?,
            mail_concurrency: match typed("MAIL_CONCURRENCY", parse("MAIL_CONCURRENCY", "8")?)? {
                0 => {
                    return Err(SettingsError {
                        name: "MAIL_CONCURRENCY",
                        problem: "must be above 0".into(),
                    });
                }
                n => n,
            },
            mail_lease: secs("MAIL_LEASE_SECS", "120")?,
            mail_sent_retention: secs("MAIL_SENT_RETENTION_SECS", "86400")?,
            mail_failed_retention: secs("MAIL_FAILED_RETENTION_SECS", "2592000")?,
            session_ttl: secs("SESSION_TTL_SECS", "28800")?,
            elevation: secs("ELEVATION_SECS", "600")?,
            reset_elevation_window: secs("RESET_ELEVATION_WINDOW_SECS", "3600")?,
            report_token_ttl: secs("REPORT_TOKEN_TTL_SECS", "604800")?,
            signin_max_failures: typed("SIGNIN_MAX_FAILURES", parse("SIGNIN_MAX_FAILURES", "5")?)?,
            signin_client_max_failures: typed(
                "SIGNIN_CLIENT_MAX_FAILURES",
                parse("SIGNIN_CLIENT_MAX_FAILURES", "50")?,
            )?,
            signin_failure_window: secs("SIGNIN_FAILURE_WINDOW_SECS", "900")?,
            rate_limits: RateLimitTable::default()
                .with_overrides(&parse("RATE_LIMITS", "")?)
                .map_err(|e| SettingsError {
                    name: "RATE_LIMITS",
                    problem: e.to_string(),
                })?,
            graphql_max_depth: typed("GRAPHQL_MAX_DEPTH", parse("GRAPHQL_MAX_DEPTH", "16")?)?,
            graphql_max_complexity: typed("GRAPHQL_MAX_COMPLEXITY", parse("GRAPHQL_MAX_COMPLEXITY", "150")?)?,
            graphql_max_aliases: typed("GRAPHQL_MAX_ALIASES", parse("GRAPHQL_MAX_ALIASES", "10")?)?,
        })
    }

    pub fn secret_key_bytes(&self) -> &[u8] {
        self.secret_key.expose_secret().as_bytes()
    }

    pub fn uses_development_key(&self) -> bool {
        self.secret_key.expose_secret() == DEVELOPMENT_SECRET_KEY
    }

    /// What serving with PRODUCTION=true needs beyond any start. Checked when the server starts,
    /// not when settings load, so `migrate` and the member commands run without a mail server.
    pub fn check_production_start(&self) -> Result<(), SettingsError> {
        if self.production && self.smtp_url.is_none() {
            return Err(SettingsError {
                name: "SMTP_URL",
                problem: "must be set when PRODUCTION=true: without it reset codes and links would go \
                          to the outbox folder and the log instead of the members' mailboxes"
                    .into(),
            });
        }
        Ok(())
    }

    /// The warning a production start without Redis prints: it runs, but as one instance only.
    pub fn single_instance_warning(&self) -> Option<&'static str> {
        (self.production && self.redis_url.is_none()).then_some(
            "PRODUCTION=true without REDIS_URL: grants, sessions and rate-limit counters live in this \
             process only, so this instance CANNOT BE SCALED OUT (a second instance would not see them) \
             and a restart forgets them; set REDIS_URL before running more than one instance",
        )
    }
}

/// A trusted proxy entry: a network (`10.0.0.0/8`) or a single address (`10.0.0.7`).
fn parse_network(name: &'static str, raw: &str) -> Result<IpNet, SettingsError> {
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| SettingsError {
            name,
            problem: format!("{raw:?} is neither an address nor a network"),
        })
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets (URLs may carry passwords) print as their presence only.
        f.debug_struct("Settings")
            .field("database_url", &"[redacted]")
            .field("redis_url", &self.redis_url.as_ref().map(|_| "[redacted]"))
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "[redacted]"))
            .field("mail_from", &self.mail_from)
            .field("public_reset_url", &self.public_reset_url)
            .field("bind", &self.bind)
            .field("metrics_bind", &self.metrics_bind)
            .field("cors_origins", &self.cors_origins)
            .field("default_site", &self.default_site)
            .field("demo", &self.demo)
            .field("production", &self.production)
            .field("argon2", &self.argon2)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(s.database_url.expose_secret().starts_with("sqlite://"));
        assert!(s.redis_url.is_none() && s.smtp_url.is_none());
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.default_site.as_str(), "main");
        assert_eq!(s.password_policy, PasswordPolicy::default());
        assert_eq!(s.argon2, Argon2Settings::default());
        assert!(s.demo && !s.production && s.uses_development_key());
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
    }

    const PRODUCTION_KEY: (&str, &str) = ("SECRET_KEY", "production-secret-key-0123456789abcdef0123");

    #[test]
    fn production_never_adds_demo_members() {
        for demo in [None, Some("true"), Some("false")] {
            let mut vars = vec![("PRODUCTION", "true"), PRODUCTION_KEY];
            vars.extend(demo.map(|d| ("DEMO", d)));
            assert!(!from(&vars).unwrap().demo, "DEMO={demo:?}");
        }
        assert!(from(&[("DEMO", "true")]).unwrap().demo);
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
        let mailing = from(&[("PRODUCTION", "true"), PRODUCTION_KEY, smtp]).unwrap();
        assert!(mailing.check_production_start().is_ok());
        let redis = ("REDIS_URL", "redis://127.0.0.1:6379");
        let full = from(&[("PRODUCTION", "true"), PRODUCTION_KEY, smtp, redis]).unwrap();
        assert!(full.check_production_start().is_ok() && full.single_instance_warning().is_none());

        // Development starts need neither.
        let dev = from(&[]).unwrap();
        assert!(dev.check_production_start().is_ok() && dev.single_instance_warning().is_none());
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
