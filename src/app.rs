//! Wiring: settings → backends → use cases → HTTP server. Tests build it on port 0.
use std::{future::Future, sync::Arc};

use anyhow::Context as _;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::{
    config::Settings,
    domain::keyed_hash::KeyedHasher,
    graphql::build_schema,
    http::{AppState, router},
    infra::{
        db::{self, member_store::SeaMemberStore},
        hasher::Argon2Hasher,
    },
    recovery::{Recovery, members::DemoMember},
};

/// Connects to the database, applies pending migrations and wires every use case.
pub async fn connect_services(settings: &Settings) -> anyhow::Result<Recovery> {
    let db = db::connect(
        settings.database_url.expose_secret(),
        settings.db_max_connections,
        settings.db_timeout,
    )
    .await
    .context("connecting to the database (DATABASE_URL)")?;
    db::migrate(&db).await.context("applying migrations")?;
    let hasher = Argon2Hasher::new(settings.argon2, settings.hash_concurrency).context("argon2 settings")?;
    Ok(Recovery::new(
        Arc::new(SeaMemberStore::new(db)),
        Arc::new(hasher),
        KeyedHasher::new(settings.secret_key_bytes()),
        settings.default_site.clone(),
        settings.password_policy.clone(),
    ))
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    settings: Settings,
    demo_members: Vec<DemoMember>,
}

impl Application {
    /// Connects, migrates, adds demo members to an empty database (unless DEMO=false) and binds.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let recovery = connect_services(&settings).await?;
        let demo_members = if settings.demo {
            recovery
                .members
                .seed_demo()
                .await
                .context("adding demo members")?
        } else {
            Vec::new()
        };
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("binding {}", settings.bind))?;
        Ok(Application {
            listener,
            state: AppState {
                schema: build_schema(),
                recovery,
            },
            settings,
            demo_members,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The wired use cases, for test fixtures and tooling.
    pub fn recovery(&self) -> crate::recovery::Recovery {
        self.state.recovery.clone()
    }

    /// The demo members added by this start (empty when the database already had members).
    pub fn demo_members(&self) -> &[DemoMember] {
        &self.demo_members
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let app = router(self.state, &self.settings);
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}
