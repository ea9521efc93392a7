//! The reset resolver of an instance: loops that claim handed-off requests, linger, wake and stop.
use std::{num::NonZeroUsize, time::Duration};

use tokio::{sync::watch, task::JoinSet};

use crate::recovery::{errors::RecoveryError, password_reset::PasswordReset};

/// How the resolver of an instance runs (from settings).
#[derive(Debug, Clone)]
pub struct ResolverSettings {
    /// A claimed request not acknowledged within this is claimed again by any resolver.
    pub lease: Duration,
    /// How often to look for requests handed off by other instances.
    pub poll_every: Duration,
    /// Requests claimed and resolved together.
    pub batch: NonZeroUsize,
    /// After a batch that was not full, how long to let requests gather before the next claim:
    /// under load batches fill up, so each costs one lookup, one transaction and one
    /// acknowledgement for many requests instead of a few; a request waits at most this longer.
    pub linger: Duration,
    /// Loops claiming and resolving side by side, so one resolves while the other's transaction
    /// commits. Claims are exclusive and cooldowns are decided in the token store, so two loops
    /// resolve nothing twice, as two instances do not.
    pub loops: NonZeroUsize,
}

/// Runs `settings.loops` resolver loops until `shutdown` turns true; the batches being resolved
/// are finished first.
pub async fn run(reset: PasswordReset, settings: ResolverSettings, shutdown: watch::Receiver<bool>) {
    let mut loops = JoinSet::new();
    for _ in 0..settings.loops.get() {
        loops.spawn(run_loop(reset.clone(), settings.clone(), shutdown.clone()));
    }
    while loops.join_next().await.is_some() {}
    tracing::info!("reset resolver stopped");
}

/// One resolver loop, until `shutdown` turns true; a batch being resolved is finished first.
async fn run_loop(reset: PasswordReset, settings: ResolverSettings, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        if let Err(e) = resolve_until(&reset, &settings, &shutdown).await {
            tracing::warn!(error = %e, "reset resolution round failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.linger) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            _ = reset.handed_off() => {}
            _ = tokio::time::sleep(settings.poll_every) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Claims and resolves batches until one is not full (so the next can gather) or `stop` turns
/// true (a backlog left unclaimed is resolved by the other instances).
async fn resolve_until(
    reset: &PasswordReset,
    settings: &ResolverSettings,
    stop: &watch::Receiver<bool>,
) -> Result<(), RecoveryError> {
    let batch = settings.batch.get();
    while !*stop.borrow() {
        if reset.resolve_next(batch, settings.lease).await? < batch {
            break;
        }
    }
    Ok(())
}
