//! Wiring: settings → backends → use cases → HTTP server and delivery workers. Tests build it on
//! port 0.
use std::{future::Future, sync::Arc};

use anyhow::Context as _;
use secrecy::ExposeSecret;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use crate::recovery::webhook_delivery::WebhookDelivery;
use crate::{
    config::{DEVELOPMENT_ISSUER, IdentitySettings, Settings},
    domain::{
        identity_assertion::AssertionRules,
        key_usage::{self, KeyStatus},
    },
    graphql::{SchemaOptions, build_introspection_schema, build_schema, operation_metrics::operation_names},
    http::{
        AppState, connections,
        dev_identity::DevSigner,
        metric_families,
        query_limits::ShapeLimits,
        router,
        scim::{ScimState, auth::ScimAuth},
        trusted_documents::TrustedDocuments,
    },
    infra::{
        counter_batches::BatchedCounters,
        db::{
            self, StatementLimit,
            audit::SeaAuditLog,
            batched::Batched,
            members::{SeaMemberStore, lookups::HeldLookups},
            outbox::SeaOutbox,
            recovery_codes::SeaRecoveryCodes,
            reset_requests::SeaResetQueue,
            timeouts::Timed,
            webhooks::SeaWebhooks,
        },
        hasher::Argon2Hasher,
        identity_assertions::{DevelopmentKey, JwksVerifier},
        mailer::{FolderMailer, SmtpMailer},
        memory::MemoryStore,
        portone::PortoneClient,
        redis::{RedisStore, reset_queue::RedisResetQueue},
        sealer::Sealer,
        webhook_sender::HttpWebhookSender,
    },
    recovery::{
        Ports, Recovery,
        audit_retention::AuditRetention,
        identity_proof::IdentityTrust,
        mail_delivery::MailDelivery,
        members::DemoMember,
        ports::{
            IdentityVerifier, Limiter, Mailer, PortoneVerifications, ResetQueue, SessionStore, TokenStore,
        },
    },
    runners::{audit_pruner, delivery_worker::DeliveryWorker, reset_resolver},
};

/// Which token store a command needs: `serve` uses the configured one (Redis when REDIS_URL is
/// set); the member commands never touch tokens. It also tells serving (every statement limited
/// to DB_TIMEOUT_MS) from maintenance (unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenBackend {
    Configured,
    InProcess,
}

/// Grants, sessions, counters and the reset hand-off.
type StateStores = (
    Arc<dyn TokenStore>,
    Arc<dyn SessionStore>,
    Arc<dyn Limiter>,
    Arc<dyn ResetQueue>,
);

/// Connects to the database (applying pending migrations) and the token store, and wires every
/// use case.
/// What depends on each key of the ring (after applying pending migrations): `keys status`.
pub async fn key_status(settings: &Settings) -> anyhow::Result<Vec<KeyStatus>> {
    let db = db::connect(
        settings.database.url.expose_secret(),
        settings.database.max_connections,
        settings.database.timeout,
        StatementLimit::None,
    )
    .await
    .context("connecting to the database (DATABASE_URL)")?;
    db::migrate(&db).await.context("applying migrations")?;
    let usage = db::key_usage::key_usage(&db)
        .await
        .context("counting rows per key")?;
    db.close().await.ok();
    Ok(key_usage::key_status(&settings.security.keyring(), &usage))
}

pub async fn connect_services(settings: &Settings, tokens: TokenBackend) -> anyhow::Result<Recovery> {
    let db_timeout = settings.database.timeout;
    let url = settings.database.url.expose_secret();
    // Migrations may rebuild indexes of large tables: on a connection of their own, unlimited.
    let admin = db::connect(url, 1, db_timeout, StatementLimit::None)
        .await
        .context("connecting to the database (DATABASE_URL)")?;
    db::migrate(&admin).await.context("applying migrations")?;
    admin.close().await.ok();
    // A serving instance ends every statement at the deadline its callers give up at; the CLI's
    // maintenance commands (imports of many members, key counts) run theirs to the end.
    let limit = match tokens {
        TokenBackend::Configured => StatementLimit::Deadline(db_timeout),
        TokenBackend::InProcess => StatementLimit::None,
    };
    let db = db::connect(url, settings.database.max_connections, db_timeout, limit)
        .await
        .context("connecting to the database (DATABASE_URL)")?;
    let passwords = &settings.passwords;
    let hasher =
        Argon2Hasher::new(passwords.argon2, passwords.hash_concurrency.get()).context("argon2 settings")?;
    let keys = settings.security.keyring();
    let sealer = Sealer::new(&keys);
    // Grants, sessions, counters and the reset hand-off share one Redis connection; without Redis
    // the first three live in this process and the hand-off is a table.
    let (token_store, sessions, limiter, reset_queue): StateStores = match (&settings.redis.url, tokens) {
        (Some(url), TokenBackend::Configured) => {
            let ca = read_ca(settings.redis.ca_file.as_deref(), "REDIS_CA_FILE")?;
            let redis = Arc::new(
                RedisStore::connect_trusting(
                    url.expose_secret(),
                    &settings.redis.key_prefix,
                    settings.redis.timeout,
                    ca.as_deref(),
                )
                .await
                .context("connecting to Redis (REDIS_URL)")?,
            );
            let queue = Arc::new(RedisResetQueue::new(redis.clone()));
            // The limits of concurrent requests go to Redis together (see `counter_batches`); the
            // deadline holds for each caller's whole wait.
            let counters = Arc::new(BatchedCounters::new(redis.clone(), settings.redis.timeout));
            (redis.clone(), redis, counters, queue)
        }
        _ => {
            let memory = Arc::new(MemoryStore::new());
            let queue = Arc::new(Timed::new(SeaResetQueue::new(db.clone()), db_timeout));
            (memory.clone(), memory.clone(), memory, queue)
        }
    };
    let member_store = SeaMemberStore::new(db.clone(), sealer.clone());
    let webhooks = Arc::new(Timed::new(
        SeaWebhooks::new(db.clone(), sealer.clone()),
        db_timeout,
    ));
    // One member store serves every member capability, each call with its deadline.
    let members = Arc::new(Timed::new(member_store.clone(), db_timeout));
    let ports = Ports {
        members: members.clone(),
        // The light queries' single lookups go out in batches under load (see `batched`), each
        // worker on a connection it keeps while lookups keep coming (`held_connection`); the
        // deadline holds for each caller's whole wait and for each batch's query.
        lookups: Arc::new(Batched::new(
            || Arc::new(Timed::new(HeldLookups::new(db.clone()), db_timeout)),
            db_timeout,
        )),
        member_batches: members.clone(),
        identities: members.clone(),
        members_by_id: members.clone(),
        sites: members.clone(),
        passwords: members.clone(),
        change_reports: members.clone(),
        database: members,
        provisioning: Arc::new(Timed::new(member_store.clone(), db_timeout)),
        member_admin: Arc::new(member_store),
        tokens: token_store,
        sessions,
        limiter,
        hasher: Arc::new(hasher),
        outbox: Arc::new(Timed::new(SeaOutbox::new(db.clone(), sealer.clone()), db_timeout)),
        recovery_codes: Arc::new(Timed::new(
            SeaRecoveryCodes::new(db.clone(), sealer.clone()),
            db_timeout,
        )),
        webhooks: webhooks.clone(),
        events: webhooks,
        audit: Arc::new(Timed::new(SeaAuditLog::new(db), db_timeout)),
        reset_queue,
    };
    Ok(Recovery::new(
        ports,
        keys,
        settings.service.default_site.clone(),
        passwords.policy.clone(),
        settings.reset.clone(),
        settings.security.rate_limits.clone(),
        settings.sessions.clone(),
        identity_trust(&settings.identity)?,
    ))
}

/// The keys identity assertions must be signed with: the JWKS file, read once here so a bad file
/// stops the start; without one, the development key outside production, and none in production
/// (every assertion refused).
pub fn identity_trust(settings: &IdentitySettings) -> anyhow::Result<IdentityTrust> {
    let mut issuers = settings.issuers.clone();
    let dev_key = settings
        .dev_key_file
        .as_deref()
        .filter(|_| settings.trust_dev_key);
    let verifier: Option<Arc<dyn IdentityVerifier>> = match (&settings.jwks_file, dev_key) {
        (Some(path), _) => Some(Arc::new(
            JwksVerifier::load(path).context("reading IDENTITY_ASSERTION_JWKS")?,
        )),
        (None, Some(path)) => {
            let key = DevelopmentKey::load_or_create(path)
                .context("the development identity key (IDENTITY_DEV_KEY_FILE)")?;
            issuers.push(DEVELOPMENT_ISSUER.to_owned());
            Some(Arc::new(key.verifier()?))
        }
        (None, None) => None,
    };
    let portone: Option<Arc<dyn PortoneVerifications>> = match &settings.portone {
        Some(portone) => Some(Arc::new(
            PortoneClient::new(portone).context("the PortOne client")?,
        )),
        None => None,
    };
    Ok(IdentityTrust {
        verifier,
        portone,
        rules: AssertionRules {
            issuers,
            audience: settings.audience.clone(),
        },
        raw_ci: settings.raw_ci,
    })
}

/// The demo signer, where the development key is trusted (see `identity_trust`).
fn development_signer(settings: &IdentitySettings) -> anyhow::Result<Option<Arc<DevSigner>>> {
    let Some(path) = settings
        .dev_key_file
        .as_deref()
        .filter(|_| settings.trust_dev_key)
    else {
        return Ok(None);
    };
    let key = DevelopmentKey::load_or_create(path)
        .context("the development identity key (IDENTITY_DEV_KEY_FILE)")?;
    Ok(Some(Arc::new(DevSigner {
        key,
        audience: settings.audience.clone(),
    })))
}

/// The PEM CA file a setting names, read at start so a missing file stops the start.
fn read_ca(path: Option<&std::path::Path>, setting: &str) -> anyhow::Result<Option<Vec<u8>>> {
    path.map(|p| std::fs::read(p).with_context(|| format!("reading {setting} ({})", p.display())))
        .transpose()
}

/// SMTP when SMTP_URL is set, else the development outbox folder.
pub fn mailer(settings: &Settings) -> anyhow::Result<Arc<dyn Mailer>> {
    let smtp = &settings.smtp;
    Ok(match &smtp.url {
        Some(url) => {
            let ca = read_ca(smtp.ca_file.as_deref(), "SMTP_CA_FILE")?;
            Arc::new(
                SmtpMailer::new(
                    url.expose_secret(),
                    smtp.from.clone(),
                    smtp.timeout,
                    ca.as_deref(),
                    settings.mail.worker.concurrency.get(),
                )
                .map_err(anyhow::Error::msg)?,
            )
        }
        None => Arc::new(
            FolderMailer::new(smtp.outbox_dir.clone(), smtp.from.clone()).map_err(anyhow::Error::msg)?,
        ),
    })
}

pub struct Application {
    listener: TcpListener,
    /// METRICS_BIND's listener, serving only `/metrics`.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    settings: Settings,
    mail_worker: DeliveryWorker<MailDelivery>,
    webhook_worker: DeliveryWorker<WebhookDelivery>,
    demo_members: Vec<DemoMember>,
}

impl Application {
    /// Checks what a production start needs, connects, migrates, adds demo members to an empty
    /// database (unless DEMO=false or PRODUCTION=true) and binds.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        settings.check_production_start()?;
        if let Some(warning) = settings.single_instance_warning() {
            tracing::warn!("{warning}");
        }
        let recovery = connect_services(&settings, TokenBackend::Configured).await?;
        let ports = &recovery.ports;
        let mail_worker = DeliveryWorker::new(
            MailDelivery::new(
                ports.outbox.clone(),
                mailer(&settings)?,
                ports.tokens.clone(),
                settings.mail.delivery.clone(),
            ),
            recovery.mail_wake.mail.clone(),
            settings.mail.worker.clone(),
        );
        let webhooks = &settings.webhooks;
        recovery
            .webhooks
            .configure(webhooks.endpoint.as_ref(), chrono::Utc::now())
            .await
            .context("writing the endpoint WEBHOOK_URL configures")?;
        let webhook_worker = DeliveryWorker::new(
            WebhookDelivery::new(
                ports.events.clone(),
                ports.webhooks.clone(),
                Arc::new(
                    HttpWebhookSender::new(webhooks.delivery.timeout, webhooks.allow_private)
                        .context("the webhook client")?,
                ),
                webhooks.delivery.clone(),
            ),
            recovery.mail_wake.events.clone(),
            webhooks.worker.clone(),
        );
        let demo_members = if settings.service.demo {
            recovery
                .members
                .seed_demo(chrono::Utc::now())
                .await
                .context("adding demo members")?
        } else {
            Vec::new()
        };
        let trusted_documents = match &settings.graphql.trusted_documents {
            Some(path) => {
                let documents = TrustedDocuments::load(path).context("TRUSTED_DOCUMENTS")?;
                tracing::info!(documents = documents.len(), "only trusted documents run");
                Some(Arc::new(documents))
            }
            None => None,
        };
        let listener = TcpListener::bind(settings.http.bind)
            .await
            .with_context(|| format!("binding {}", settings.http.bind))?;
        let metrics_listener = match settings.http.metrics_bind {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding METRICS_BIND {addr}"))?,
            ),
            None => None,
        };
        let schema_options = SchemaOptions {
            production: settings.service.production,
            max_depth: settings.graphql.max_depth,
            max_complexity: settings.graphql.max_complexity,
        };
        let metrics = crate::http::metrics::handle();
        let recovery = Arc::new(recovery);
        let trusted_proxies = Arc::new(settings.http.trusted_proxies.clone());
        let scim = settings.scim.enabled().then(|| ScimState {
            recovery: recovery.clone(),
            auth: Arc::new(ScimAuth::new(&settings.scim)),
            trusted_proxies: trusted_proxies.clone(),
            scheme: if settings.http.strict_transport_security {
                "https"
            } else {
                "http"
            },
        });
        metric_families::register(&operation_names().await);
        Ok(Application {
            listener,
            metrics_listener,
            state: AppState {
                schema: build_schema(schema_options),
                introspection_schema: build_introspection_schema(schema_options),
                recovery,
                trusted_proxies,
                limits: ShapeLimits {
                    max_root_fields: settings.graphql.max_root_fields,
                    max_aliases: settings.graphql.max_aliases,
                    max_complexity: settings.graphql.max_complexity,
                },
                // An explorer for ad-hoc queries has nothing to do where only listed ones run.
                graphiql: !settings.service.production && trusted_documents.is_none(),
                trusted_documents,
                metrics,
                metrics_allow: Arc::new(settings.http.metrics_allow.clone()),
                documents: Arc::default(),
                dev_signer: development_signer(&settings.identity)?,
                scim,
            },
            settings,
            mail_worker,
            webhook_worker,
            demo_members,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The port of METRICS_BIND's listener, when it is set.
    pub fn metrics_port(&self) -> Option<u16> {
        let listener = self.metrics_listener.as_ref()?;
        listener.local_addr().ok().map(|a| a.port())
    }

    /// The wired use cases, for test fixtures and tooling.
    pub fn recovery(&self) -> Recovery {
        (*self.state.recovery).clone()
    }

    /// The demo members added by this start (empty when the database already had members).
    pub fn demo_members(&self) -> &[DemoMember] {
        &self.demo_members
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight, while the resolver
    /// finishes its batch and the mail worker the messages it is sending (the rest stays queued for
    /// the other instances).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let (stop_worker, worker_stop) = watch::channel(false);
        // The background workers stop as the shutdown begins, alongside the HTTP drain.
        let stopping = {
            let stop_worker = stop_worker.clone();
            async move {
                shutdown.await;
                let _ = stop_worker.send(true);
            }
        };
        let resolver = &self.settings.resolver;
        let resolver: Option<JoinHandle<()>> = resolver.enabled.then(|| {
            tokio::spawn(reset_resolver::run(
                self.state.recovery.password_reset.clone(),
                resolver.settings.clone(),
                worker_stop.clone(),
            ))
        });
        let ports = &self.state.recovery.ports;
        let retention = AuditRetention::new(
            ports.audit.clone(),
            ports.tokens.clone(),
            self.settings.database.audit_retention.clone(),
        );
        let pruner = tokio::spawn(audit_pruner::run(retention, worker_stop.clone()));
        let webhook_worker: JoinHandle<()> = tokio::spawn(self.webhook_worker.run(worker_stop.clone()));
        let worker: JoinHandle<()> = tokio::spawn(self.mail_worker.run(worker_stop));
        let limits = self.settings.http.connections;
        let metrics_server = self.metrics_listener.map(|listener| {
            let app = crate::http::metrics::own_listener(self.state.clone());
            let mut stopping = stop_worker.subscribe();
            let stopped = async move {
                let _ = stopping.changed().await;
            };
            tokio::spawn(connections::serve(listener, app, limits, stopped))
        });
        let app = router(self.state, &self.settings.http);
        let served = connections::serve(self.listener, app, limits, stopping).await;
        let _ = stop_worker.send(true);
        if let Some(resolver) = resolver {
            let _ = resolver.await;
        }
        let _ = worker.await;
        let _ = webhook_worker.await;
        let _ = pruner.await;
        if let Some(metrics_server) = metrics_server
            && let Ok(Err(e)) = metrics_server.await
        {
            tracing::error!(error = %e, "the /metrics listener failed");
        }
        served
    }
}
