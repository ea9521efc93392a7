//! Audit retention on an instance: offers a pruning round every AUDIT_PRUNE_INTERVAL_SECS (one
//! instance takes each round), reading the clock once per round, until shutdown.
use chrono::Utc;
use tokio::sync::watch;

use crate::recovery::audit_retention::AuditRetention;

pub async fn run(retention: AuditRetention, mut shutdown: watch::Receiver<bool>) {
    if retention.settings().keep.is_none() {
        return;
    }
    let every = retention.settings().every;
    loop {
        match retention.prune_round(Utc::now()).await {
            Ok(Some(deleted)) if deleted > 0 => {
                tracing::info!(deleted, "audit rows past their retention deleted")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "audit retention round failed; trying next round"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
