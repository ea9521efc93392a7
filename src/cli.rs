//! The `account-recovery` command line: serve (default), migrate, print-schema, member add/import/list,
//! keys status, webhook add/list/remove, and the development identity-assertion signer.
use std::{
    fs::File,
    io::{self, BufRead, BufReader},
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::{
    app::{Application, TokenBackend, connect_services, key_status},
    config::Settings,
    domain::{
        key_usage::{KeyState, KeyStatus, can_retire},
        keyring::KeyId,
        webhook::{EventType, WebhookSecret},
    },
    graphql,
    infra::identity_assertions::{DevelopmentAssertion, DevelopmentKey},
    recovery::{
        member_import::ImportSource,
        members::{InitialPassword, MemberDraft},
    },
    telemetry,
};

#[derive(Parser, Debug)]
#[command(
    name = "account-recovery",
    version,
    about = "GraphQL account-recovery service"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve GraphQL on BIND (the default command).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL) that schema.graphql must equal.
    PrintSchema,
    /// Manage members.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Development only: print an identity assertion signed with the local development key, as a
    /// host's back end would after an identity check (the service trusts this key only outside
    /// production and when IDENTITY_ASSERTION_JWKS is unset).
    IdentityAssertion(AssertionArgs),
    /// The keyring (SECRET_KEYS).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The host's webhook endpoints (besides the one WEBHOOK_URL configures).
    #[command(subcommand)]
    Webhook(WebhookCommand),
}

#[derive(Subcommand, Debug)]
pub enum WebhookCommand {
    /// Add an endpoint; prints its id and its signing secret (shown this once).
    Add {
        /// Where events are posted (http or https; loopback, private and link-local addresses
        /// only with WEBHOOK_ALLOW_PRIVATE=true).
        url: String,
        /// Event types, comma-separated (default: every event).
        #[arg(long)]
        events: Option<String>,
        /// Sign with the secret (`whsec_…`) in this file instead of a new one (a file, so it stays
        /// out of the shell history and the process list).
        #[arg(long)]
        secret_file: Option<PathBuf>,
    },
    /// List the endpoints, with their status.
    List,
    /// Remove an endpoint; events still queued for it are dropped.
    Remove {
        /// The endpoint's id (from `webhook list`).
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Per key id, what still depends on it (identity hashes, unspent recovery codes, queued
    /// sealed mail, audit identifiers) and which key is current; a key may leave SECRET_KEYS once
    /// its line (and, for `legacy`, the pre-keyring line) counts no hashes, codes or mail.
    Status,
}

#[derive(Args, Debug)]
pub struct AssertionArgs {
    /// The identity value (`ci`) the check produced.
    #[arg(long)]
    pub ci: String,
    /// CITIZEN or FOREIGN (required for find_id).
    #[arg(long)]
    pub join_type: Option<String>,
    /// find_id or reset_password.
    #[arg(long)]
    pub purpose: String,
    /// The site the assertion is for (any site when absent).
    #[arg(long)]
    pub site: Option<String>,
    /// Lifetime in seconds (at most 300 is accepted by the service).
    #[arg(long, default_value_t = 300)]
    pub ttl_secs: i64,
}

#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    /// Add one member.
    Add(AddArgs),
    /// Import members from a JSON Lines file: all lines are checked first, then all are added in
    /// one transaction (the file is read twice, never held whole).
    Import {
        /// Path of the JSON Lines file.
        file: PathBuf,
    },
    /// List members.
    List {
        /// Only this site.
        #[arg(long)]
        site: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct AddArgs {
    #[arg(long)]
    pub login_id: String,
    #[arg(long)]
    pub email: String,
    /// Site code (default: DEFAULT_SITE).
    #[arg(long)]
    pub site: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// Initial password (checked against the password policy).
    #[arg(long, conflicts_with = "social")]
    pub password: Option<String>,
    /// A social-login member, without a password.
    #[arg(long)]
    pub social: bool,
    /// GENERAL, SOCIAL, ENTERPRISE or UNION.
    #[arg(long = "type")]
    pub member_type: Option<String>,
    /// CITIZEN or FOREIGN.
    #[arg(long)]
    pub join_type: Option<String>,
    /// Identity value from the identity provider (stored only as a keyed hash).
    #[arg(long)]
    pub ci: Option<String>,
}

pub async fn run(cli: Cli) -> ExitCode {
    match dispatch(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::PrintSchema = command {
        print!("{}", graphql::sdl());
        return Ok(());
    }
    let settings = Settings::from_env()?;
    telemetry::init(&settings.service.log_filter, settings.service.log_json);
    match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            connect_services(&settings, TokenBackend::InProcess).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::PrintSchema => unreachable!("handled above"),
        Command::IdentityAssertion(args) => {
            println!("{}", development_assertion(&settings, args)?);
            Ok(())
        }
        Command::Member(member) => member_command(settings, member).await,
        Command::Keys(KeysCommand::Status) => {
            print!("{}", key_status_table(&key_status(&settings).await?));
            Ok(())
        }
        Command::Webhook(webhook) => webhook_command(settings, webhook).await,
    }
}

async fn webhook_command(settings: Settings, command: WebhookCommand) -> anyhow::Result<()> {
    let recovery = connect_services(&settings, TokenBackend::InProcess).await?;
    let webhooks = recovery.webhooks;
    match command {
        WebhookCommand::Add {
            url,
            events,
            secret_file,
        } => {
            let url = url::Url::parse(&url).context("the endpoint's URL")?;
            let events = events
                .map(|list| EventType::parse_list(&list))
                .transpose()
                .map_err(anyhow::Error::msg)
                .context("--events")?;
            let secret = secret_file
                .map(|path| -> anyhow::Result<WebhookSecret> {
                    let raw = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    Ok(WebhookSecret::parse(&raw)?)
                })
                .transpose()
                .context("--secret-file")?;
            let added = webhooks
                .add(
                    url,
                    events,
                    secret,
                    settings.webhooks.allow_private,
                    chrono::Utc::now(),
                )
                .await?;
            println!("added webhook endpoint {}", added.id);
            println!(
                "signing secret (shown once; give it to the receiver): {}",
                added.secret.expose()
            );
        }
        WebhookCommand::List => {
            println!("{:<36} {:<9} {:<40} EVENTS", "ID", "STATUS", "URL");
            for endpoint in webhooks.list().await? {
                let events = endpoint.events.as_ref().map_or("all".to_owned(), |list| {
                    list.iter().map(|e| e.name()).collect::<Vec<_>>().join(",")
                });
                let status = if endpoint.disabled.is_some() {
                    "DISABLED"
                } else {
                    "ACTIVE"
                };
                println!(
                    "{:<36} {:<9} {:<40} {events}",
                    endpoint.id,
                    status,
                    endpoint.url.as_str()
                );
                if let Some(reason) = endpoint.disabled {
                    println!("  disabled: {reason}");
                }
            }
        }
        WebhookCommand::Remove { id } => {
            webhooks.remove(&id).await?;
            println!("removed webhook endpoint {id}");
        }
    }
    Ok(())
}

/// The `keys status` table: one line per key, then which keys can be retired.
fn key_status_table(lines: &[KeyStatus]) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "{:<18} {:>15} {:>14} {:>11} {:>15} {:>17}  STATE\n",
        "KEY", "IDENTITY HASHES", "RECOVERY CODES", "SEALED MAIL", "WEBHOOK SECRETS", "AUDIT IDENTIFIERS"
    );
    for line in lines {
        let c = line.counts;
        let _ = writeln!(
            out,
            "{:<18} {:>15} {:>14} {:>11} {:>15} {:>17}  {}",
            line.key.as_deref().unwrap_or("(pre-keyring)"),
            c.identity_hashes,
            c.recovery_codes,
            c.sealed_mail,
            c.webhook_secrets,
            c.audit_identifiers,
            line.state.describe()
        );
    }
    let retirable: Vec<&str> = lines
        .iter()
        .filter(|l| l.state == KeyState::Older)
        .filter_map(|l| l.key.as_deref())
        .filter(|id| KeyId::parse(id).is_ok_and(|id| can_retire(lines, &id)))
        .collect();
    let _ = writeln!(
        out,
        "can be removed from SECRET_KEYS: {}",
        if retirable.is_empty() {
            "none".to_owned()
        } else {
            retirable.join(", ")
        }
    );
    out.push_str(
        "(grants and mailed codes in the token store lapse on their own within EMAIL_GRANT_TTL_SECS)\n",
    );
    out
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    if settings.security.uses_development_key() {
        tracing::warn!("SECRET_KEY is not set: using the development key; never do this in production");
    }
    let app = Application::build(settings.clone()).await?;
    if !app.demo_members().is_empty() {
        println!("Demo members (site {}):", settings.service.default_site);
        for m in app.demo_members() {
            println!(
                "  {:<14} {:<22} {:<10} password: {}",
                m.login_id,
                m.email,
                m.member_type.code(),
                m.password.as_deref().unwrap_or("(social login, none)")
            );
        }
    }
    tracing::info!(
        "serving GraphQL on http://{}:{}/graphql",
        settings.http.bind.ip(),
        app.port()
    );
    if let (Some(addr), Some(port)) = (settings.http.metrics_bind, app.metrics_port()) {
        tracing::info!("serving /metrics on http://{}:{port}/metrics", addr.ip());
    }
    app.run_until(shutdown_signal()).await.context("serving")
}

/// Signs an assertion with the development key (made on first use); refused in production.
fn development_assertion(settings: &Settings, args: AssertionArgs) -> anyhow::Result<String> {
    anyhow::ensure!(
        !settings.service.production,
        "identity-assertion is for development only: PRODUCTION=true never trusts the development key"
    );
    anyhow::ensure!(
        matches!(args.purpose.as_str(), "find_id" | "reset_password"),
        "--purpose must be find_id or reset_password"
    );
    if settings.identity.jwks_file.is_some() {
        eprintln!("note: IDENTITY_ASSERTION_JWKS is set, so this service does not trust the development key");
    }
    let path = settings
        .identity
        .dev_key_file
        .as_deref()
        .context("no place for the development key: set IDENTITY_DEV_KEY_FILE (or HOME)")?;
    let key = DevelopmentKey::load_or_create(path)?;
    let request = DevelopmentAssertion {
        ci: args.ci,
        purpose: args.purpose,
        join_type: args.join_type,
        site: args.site,
    };
    let now = chrono::Utc::now().timestamp();
    Ok(key.assertion(&settings.identity.audience, &request, args.ttl_secs, now)?)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn member_command(settings: Settings, command: MemberCommand) -> anyhow::Result<()> {
    let recovery = connect_services(&settings, TokenBackend::InProcess).await?;
    match command {
        MemberCommand::Add(args) => {
            let password = match (args.password, args.social) {
                (Some(p), _) => InitialPassword::Plain(p),
                (None, true) => InitialPassword::None,
                (None, false) => anyhow::bail!("give --password P, or --social for a social-login member"),
            };
            let member_type = args
                .member_type
                .or_else(|| args.social.then(|| "SOCIAL".to_owned()));
            let id = recovery
                .members
                .add(
                    MemberDraft {
                        site_id: args.site,
                        login_id: args.login_id,
                        email: args.email,
                        name: args.name,
                        member_type,
                        join_type: args.join_type,
                        ci: args.ci,
                        password,
                        joined_at: None,
                        password_changed_at: None,
                        status: None,
                    },
                    chrono::Utc::now(),
                )
                .await?;
            println!("added member {}", id.0);
        }
        MemberCommand::Import { file } => {
            let source = ImportFile::open(file)?;
            let count = recovery
                .members
                .import_from(Arc::new(source), chrono::Utc::now())
                .await?;
            println!("imported {count} members");
        }
        MemberCommand::List { site } => {
            let site = site
                .map(|s| crate::domain::site::SiteId::parse(&s))
                .transpose()
                .context("--site")?;
            let members = recovery.members.list(site.as_ref()).await?;
            println!(
                "{:<10} {:<24} {:<30} {:<11} {:<9} {:<20}",
                "SITE", "LOGIN ID", "E-MAIL", "TYPE", "STATUS", "JOINED"
            );
            for m in members {
                println!(
                    "{:<10} {:<24} {:<30} {:<11} {:<9} {:<20}",
                    m.site_id,
                    m.login_id.as_str(),
                    m.email.as_str(),
                    m.member_type.code(),
                    m.status.code(),
                    m.joined_at.format("%Y-%m-%d %H:%M:%S")
                );
            }
        }
    }
    Ok(())
}

/// The file of `member import`, opened again for each of the import's passes.
struct ImportFile(PathBuf);

impl ImportFile {
    /// Fails now, naming the file, when it cannot be read.
    fn open(path: PathBuf) -> anyhow::Result<ImportFile> {
        File::open(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(ImportFile(path))
    }
}

impl ImportSource for ImportFile {
    fn open(&self) -> io::Result<Box<dyn BufRead + Send>> {
        Ok(Box::new(BufReader::with_capacity(1 << 16, File::open(&self.0)?)))
    }
}
