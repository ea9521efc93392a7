//! Every `/metrics` family: its name, type and help, registered at start with zero values for
//! each known label set, so the first scrape already shows them all (a family that appears only
//! after its first event breaks `rate()` and alerts on absence).
use crate::{domain::mail_kind::MailKind, graphql::operation_metrics::OUTCOMES, recovery::rate_limits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One family, named without the prefix the recorder adds (`account_recovery_`).
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    /// Its label names; a labelled family has its known label sets registered in `register`.
    pub labels: &'static [&'static str],
}

const fn family(name: &'static str, kind: Kind, help: &'static str) -> Family {
    Family {
        name,
        kind,
        help,
        labels: &[],
    }
}

const fn labelled(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> Family {
    Family {
        name,
        kind,
        help,
        labels,
    }
}

pub const GRAPHQL_OPERATIONS: &str = "graphql_operations_total";
pub const GRAPHQL_OPERATION_DURATION: &str = "graphql_operation_duration_seconds";
pub const MAIL_QUEUED: &str = "mail_queued_total";
pub const MAIL_SENT: &str = "mail_sent_total";
pub const RATE_LIMITED: &str = "rate_limited_total";
pub const BUILD_INFO: &str = "build_info";

/// Every family the service exports. A `counter!`/`gauge!`/`histogram!` name used anywhere in
/// `src/` must be listed here (a test reads the sources); a labelled one also needs its label
/// sets in `register` (a test checks each family is in the first scrape).
pub const FAMILIES: &[Family] = &[
    labelled(
        GRAPHQL_OPERATIONS,
        Kind::Counter,
        &["operation", "outcome"],
        "GraphQL root fields resolved, by operation and outcome.",
    ),
    labelled(
        GRAPHQL_OPERATION_DURATION,
        Kind::Histogram,
        &["operation"],
        "Time to resolve a GraphQL root field.",
    ),
    labelled(
        MAIL_QUEUED,
        Kind::Counter,
        &["kind"],
        "Mails written to the outbox, by kind.",
    ),
    labelled(
        MAIL_SENT,
        Kind::Counter,
        &["kind"],
        "Mails handed to the mail server, by kind.",
    ),
    family(
        "audit_pruned_total",
        Kind::Counter,
        "Audit rows deleted past AUDIT_RETENTION_DAYS.",
    ),
    family(
        "webhook_queued_total",
        Kind::Counter,
        "Webhook deliveries queued (one per event and endpoint).",
    ),
    family(
        "webhook_delivered_total",
        Kind::Counter,
        "Webhook events a receiver accepted (2xx).",
    ),
    family(
        "webhook_retried_total",
        Kind::Counter,
        "Webhook attempts that failed and will be retried.",
    ),
    family(
        "webhook_failed_total",
        Kind::Counter,
        "Webhook events given up (410 Gone, a disabled endpoint, or the schedule's end).",
    ),
    family(
        "mail_dropped_total",
        Kind::Counter,
        "Queued mails not sent because their grant was spent or expired.",
    ),
    family(
        "reset_requests_resolved_total",
        Kind::Counter,
        "E-mail reset requests handed off and resolved (accounts found, grants issued, mail queued).",
    ),
    family(
        "mail_retried_total",
        Kind::Counter,
        "Mail attempts that failed and will be retried.",
    ),
    family(
        "mail_failed_total",
        Kind::Counter,
        "Mails given up after a permanent error or the last attempt.",
    ),
    labelled(
        RATE_LIMITED,
        Kind::Counter,
        &["operation", "scope"],
        "Calls refused by a rate limit, by operation and scope.",
    ),
    family(
        "password_hash_waiting",
        Kind::Gauge,
        "Requests waiting for a password-hashing slot.",
    ),
    family(
        "password_hash_total",
        Kind::Counter,
        "Password hashes and verifications computed.",
    ),
    family(
        "password_hash_in_flight",
        Kind::Gauge,
        "Password hashes running on the pool now.",
    ),
    family(
        "password_hash_in_flight_max",
        Kind::Gauge,
        "The most password hashes ever running at once (never above HASH_CONCURRENCY).",
    ),
    family(
        "password_hash_orphaned_total",
        Kind::Counter,
        "Password hashes whose client left while they ran.",
    ),
    family(
        "password_hash_abandoned_total",
        Kind::Counter,
        "Queued password hashes skipped because their client had left.",
    ),
    labelled(
        BUILD_INFO,
        Kind::Gauge,
        &["version"],
        "Always 1; its version label is the running build.",
    ),
];

/// Describes every family and registers each known label set at zero; `operations` are the
/// GraphQL root fields. Idempotent: several apps in one process share the recorder.
pub fn register(operations: &[String]) {
    for f in FAMILIES {
        match f.kind {
            Kind::Counter => metrics::describe_counter!(f.name, f.help),
            Kind::Gauge => metrics::describe_gauge!(f.name, f.help),
            Kind::Histogram => metrics::describe_histogram!(f.name, f.help),
        }
    }
    for operation in operations {
        for outcome in OUTCOMES {
            metrics::counter!(GRAPHQL_OPERATIONS, "operation" => operation.clone(), "outcome" => outcome)
                .increment(0);
        }
        // Registering a histogram is what shows it (all buckets at 0).
        drop(metrics::histogram!(GRAPHQL_OPERATION_DURATION, "operation" => operation.clone()));
    }
    for kind in MailKind::ALL {
        metrics::counter!(MAIL_QUEUED, "kind" => kind.code()).increment(0);
        metrics::counter!(MAIL_SENT, "kind" => kind.code()).increment(0);
    }
    for operation in rate_limits::Operation::ALL {
        for scope in rate_limits::Scope::ALL {
            metrics::counter!(RATE_LIMITED, "operation" => operation.name(), "scope" => scope.name())
                .increment(0);
        }
    }
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    for f in FAMILIES.iter().filter(|f| f.labels.is_empty()) {
        match f.kind {
            // Adding zero: another app of this process may have moved them already.
            Kind::Counter => metrics::counter!(f.name).increment(0),
            Kind::Gauge => metrics::gauge!(f.name).increment(0.0),
            Kind::Histogram => drop(metrics::histogram!(f.name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const PREFIX_LEN: usize = "account_recovery_".len();

    /// What a fresh recorder, layered as in production, renders right after `register`.
    fn first_scrape(operations: &[String]) -> String {
        let (recorder, handle) = crate::http::metrics::recorder();
        metrics::with_local_recorder(&recorder, || register(operations));
        handle.render()
    }

    fn type_of(kind: Kind) -> &'static str {
        match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }

    #[test]
    fn every_family_is_in_the_first_scrape_with_its_type_and_help() {
        let text = first_scrape(&["signIn".into(), "passwordPolicy".into()]);
        for f in FAMILIES {
            let name = format!("account_recovery_{}", f.name);
            assert!(
                text.contains(&format!("# TYPE {name} {}\n", type_of(f.kind))),
                "{name} missing or not a {:?}:\n{text}",
                f.kind
            );
            assert!(
                text.contains(&format!("# HELP {name} {}\n", f.help)),
                "{name} has no help"
            );
        }
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            assert!(line.starts_with("account_recovery_"), "unprefixed: {line}");
            let family = FAMILIES
                .iter()
                .find(|f| line[PREFIX_LEN..].starts_with(f.name))
                .unwrap_or_else(|| panic!("not a listed family: {line}"));
            for label in family.labels {
                assert!(
                    line.contains(&format!("{label}=\"")),
                    "{line} lacks its label {label}"
                );
            }
        }
    }

    #[test]
    fn labelled_counters_start_at_zero_for_every_known_label_set() {
        let text = first_scrape(&["signIn".into(), "passwordPolicy".into()]);
        let zero = |line: String| assert!(text.contains(&format!("{line} 0\n")), "no {line} 0 in:\n{text}");
        for operation in ["signIn", "passwordPolicy"] {
            for outcome in OUTCOMES {
                zero(format!(
                    "account_recovery_graphql_operations_total{{operation=\"{operation}\",outcome=\"{outcome}\"}}"
                ));
            }
            zero(format!(
                "account_recovery_graphql_operation_duration_seconds_count{{operation=\"{operation}\"}}"
            ));
        }
        for kind in MailKind::ALL {
            zero(format!(
                "account_recovery_mail_sent_total{{kind=\"{}\"}}",
                kind.code()
            ));
            zero(format!(
                "account_recovery_mail_queued_total{{kind=\"{}\"}}",
                kind.code()
            ));
        }
        for operation in rate_limits::Operation::ALL {
            for scope in rate_limits::Scope::ALL {
                zero(format!(
                    "account_recovery_rate_limited_total{{operation=\"{}\",scope=\"{}\"}}",
                    operation.name(),
                    scope.name()
                ));
            }
        }
        zero("account_recovery_password_hash_waiting".into());
        let version = env!("CARGO_PKG_VERSION");
        assert!(text.contains(&format!(
            "account_recovery_build_info{{version=\"{version}\"}} 1\n"
        )));
    }

    #[test]
    fn latencies_are_histograms_with_buckets() {
        let text = first_scrape(&["signIn".into()]);
        let name = "account_recovery_graphql_operation_duration_seconds";
        for part in [
            format!("{name}_bucket{{operation=\"signIn\",le=\"0.005\"}} 0"),
            format!("{name}_bucket{{operation=\"signIn\",le=\"+Inf\"}} 0"),
            format!("{name}_sum{{operation=\"signIn\"}} 0"),
            format!("{name}_count{{operation=\"signIn\"}} 0"),
        ] {
            assert!(text.contains(&part), "no {part} in:\n{text}");
        }
    }

    /// A metric added anywhere in `src/` without a line in FAMILIES would be missing from the
    /// first scrape; this finds every literal name passed to the `metrics` macros.
    #[test]
    fn every_metric_named_in_the_sources_is_a_listed_family() {
        let mut names = Vec::new();
        collect_metric_names(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut names);
        assert!(
            names.iter().any(|(n, _)| n == "mail_sent_total"),
            "the scan finds nothing"
        );
        let unlisted: Vec<_> = names
            .iter()
            .filter(|(name, _)| !FAMILIES.iter().any(|f| f.name == name))
            .collect();
        assert!(
            unlisted.is_empty(),
            "not in metric_families::FAMILIES: {unlisted:?}"
        );
    }

    fn collect_metric_names(dir: &Path, names: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                collect_metric_names(&path, names);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            for kind in ["counter", "gauge", "histogram"] {
                let call = format!("{kind}!(");
                for (at, _) in source.match_indices(&call) {
                    let rest = source[at + call.len()..].trim_start();
                    if let Some(literal) = rest.strip_prefix('"') {
                        let name = literal.split('"').next().unwrap_or_default();
                        names.push((name.to_owned(), path.display().to_string()));
                    }
                }
            }
        }
    }
}
