//! Metrics, as CloudWatch Embedded Metric Format (EMF) lines in the function's own log: no
//! `PutMetricData` call and no added latency on the write path. CloudWatch Logs turns each line
//! into metric values when it ingests the log.
//!
//! The `metrics` facade records; `metrics_cloudwatch_embedded` (without its `lambda` feature,
//! which would pull in `lambda_http`) collects, and each function writes what it collected at
//! the end of every invocation ([`Metrics::flush`]), with the request id as a property. The
//! library only records, through [`event_handled`], [`pass_done`] and [`fleet_counted`]: in
//! tests and in the CLI no recorder is installed, and recording is a no-op.
//!
//! Dimensions stay few and bounded, never a client id: the deployment's own dimensions
//! (`METRICS_DIMENSIONS`, the template sets `Stack=<stack name>`) and at most one label per
//! metric, from a closed set: the outcome, the disconnect reason (unknown reasons are `OTHER`)
//! or the alert kind. The metric names here are the ones the dashboard in template.yaml plots
//! (tests/template.rs checks it).

use std::io::Write;
use std::time::Duration;

use metrics_cloudwatch_embedded::Collector;
use thiserror::Error;

use crate::alert::rule::kind;
use crate::config::ConfigError;
use crate::event::{EventType, DOCUMENTED_DISCONNECT_REASONS};
use crate::rule::Outcome;
use crate::store::schema::REASON_UNKNOWN;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE_VAR: &str = "METRICS_NAMESPACE";
pub const DEFAULT_NAMESPACE: &str = "IoTPresence";
/// Dimensions on every metric: `Name=Value[,Name=Value…]`, at most [`MAX_DIMENSIONS`].
pub const DIMENSIONS_VAR: &str = "METRICS_DIMENSIONS";
pub const MAX_DIMENSIONS: usize = 3;

/// Metric names.
pub mod name {
    /// Events handled, by `Outcome` (applied, stale, duplicate, recorded, invalid, failed).
    pub const EVENTS: &str = "Events";
    /// Connects seen (applied or stale; not duplicates, redeliveries or invalid events).
    pub const CONNECTS: &str = "Connects";
    /// Disconnects seen, by `Reason`, counted as connects are.
    pub const DISCONNECTS: &str = "Disconnects";
    /// Time spent handling one event (ms), parse to last write.
    pub const HANDLER_LATENCY: &str = "HandlerLatency";
    /// DynamoDB write units the handler consumed, as the answers report them plus the derived
    /// charge of refused conditional writes (`store::capacity`).
    pub const CONSUMED_WRITE_UNITS: &str = "ConsumedWriteUnits";
    /// 1 on the first invocation of an execution environment.
    pub const COLD_STARTS: &str = "ColdStart";
    /// Notices published, by `Kind` (offline, back-online, flapping).
    pub const ALERTS_SENT: &str = "AlertsSent";
    /// Clients a pass read as due.
    pub const DUE_CLIENTS: &str = "DueClients";
    /// Clients a pass failed on (they stay due).
    pub const ALERT_FAILURES: &str = "AlertFailures";
    /// How long an alert pass took (ms).
    pub const ALERT_PASS_DURATION: &str = "AlertPassDuration";
    /// Fleet gauges, from COUNT queries over the status index (see `Store::fleet_counts`).
    pub const CONNECTED_CLIENTS: &str = "ConnectedClients";
    pub const DISCONNECTED_CLIENTS: &str = "DisconnectedClients";

    pub const ALL: [&str; 12] = [
        EVENTS,
        CONNECTS,
        DISCONNECTS,
        HANDLER_LATENCY,
        CONSUMED_WRITE_UNITS,
        COLD_STARTS,
        ALERTS_SENT,
        DUE_CLIENTS,
        ALERT_FAILURES,
        ALERT_PASS_DURATION,
        CONNECTED_CLIENTS,
        DISCONNECTED_CLIENTS,
    ];
}

/// Label (dimension) names of single metrics.
pub mod label {
    pub const OUTCOME: &str = "Outcome";
    pub const REASON: &str = "Reason";
    pub const KIND: &str = "Kind";
    pub const ALL: [&str; 3] = [OUTCOME, REASON, KIND];
}

/// The `Outcome` of an event that failed to parse, and of one the store failed on.
pub const OUTCOME_INVALID: &str = "invalid";
pub const OUTCOME_FAILED: &str = "failed";
/// The `Reason` of a disconnect reason AWS has not documented.
pub const REASON_OTHER: &str = "OTHER";

/// Where the metrics go and what they are tagged with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    pub namespace: String,
    pub dimensions: Vec<(String, String)>,
}

impl MetricsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let namespace = get(NAMESPACE_VAR).unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        check_namespace(&namespace)
            .map_err(|expected| invalid(NAMESPACE_VAR, &namespace, expected))?;
        let value = get(DIMENSIONS_VAR).unwrap_or_default();
        let dimensions = parse_dimensions(&value)
            .map_err(|expected| invalid(DIMENSIONS_VAR, &value, expected))?;
        Ok(MetricsConfig {
            namespace,
            dimensions,
        })
    }
}

fn invalid(var: &'static str, value: &str, expected: String) -> ConfigError {
    ConfigError::Invalid {
        var,
        value: value.to_owned(),
        expected,
    }
}

/// CloudWatch's namespace rules: 1 to 255 of `0-9A-Za-z . - _ / # :` and space, not blank,
/// and not `AWS/…` (reserved for AWS services).
fn check_namespace(namespace: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
    if namespace.trim().is_empty() || namespace.len() > 255 {
        return Err("a CloudWatch namespace of 1 to 255 characters".into());
    }
    if let Some(bad) = namespace.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "a CloudWatch namespace of letters, digits, space and . - _ / # : (found {bad:?})"
        ));
    }
    if namespace.starts_with("AWS/") || namespace.starts_with(':') {
        return Err("a namespace not starting with AWS/ (reserved) or ':'".into());
    }
    Ok(())
}

/// `Name=Value,…`: at most [`MAX_DIMENSIONS`], names unique and none a label name, names of
/// 1 to 255 and values of 1 to 1024 printable ASCII characters.
fn parse_dimensions(value: &str) -> Result<Vec<(String, String)>, String> {
    let mut dimensions: Vec<(String, String)> = Vec::new();
    for pair in value.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(format!(
                "Name=Value pairs separated by commas (no '=' in {pair:?})"
            ));
        };
        let (name, value) = (name.trim(), value.trim());
        let printable = |s: &str| s.chars().all(|c| c.is_ascii_graphic() || c == ' ');
        if name.is_empty() || name.len() > 255 || !printable(name) || name.starts_with(':') {
            return Err(format!(
                "dimension names of 1 to 255 printable ASCII characters, not starting with ':' \
                 (got {name:?})"
            ));
        }
        if value.is_empty() || value.len() > 1024 || !printable(value) {
            return Err(format!(
                "dimension values of 1 to 1024 printable ASCII characters (got {value:?} for {name})"
            ));
        }
        if label::ALL.contains(&name) {
            return Err(format!(
                "dimension names other than {} (a metric's own label)",
                label::ALL.join(", ")
            ));
        }
        if dimensions.iter().any(|(n, _)| n == name) {
            return Err(format!("each dimension once ({name} twice)"));
        }
        dimensions.push((name.to_owned(), value.to_owned()));
    }
    if dimensions.len() > MAX_DIMENSIONS {
        return Err(format!(
            "at most {MAX_DIMENSIONS} dimensions (got {})",
            dimensions.len()
        ));
    }
    Ok(dimensions)
}

#[derive(Debug, Error)]
#[error("installing the metrics recorder failed (namespace {namespace:?})")]
pub struct TelemetryError {
    namespace: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// The installed recorder of a function.
#[derive(Clone, Copy)]
pub struct Metrics {
    collector: &'static Collector,
}

impl Metrics {
    /// Installs the process's recorder (once, at init) and counts the cold start.
    pub fn install(config: &MetricsConfig) -> Result<Metrics, TelemetryError> {
        let mut builder = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(config.namespace.clone());
        for (name, value) in &config.dimensions {
            builder = builder.with_dimension(name.clone(), value.clone());
        }
        let collector = builder.init().map_err(|source| TelemetryError {
            namespace: config.namespace.clone(),
            source,
        })?;
        metrics::describe_histogram!(name::HANDLER_LATENCY, metrics::Unit::Milliseconds, "");
        metrics::describe_histogram!(name::ALERT_PASS_DURATION, metrics::Unit::Milliseconds, "");
        for count in [
            name::EVENTS,
            name::CONNECTS,
            name::DISCONNECTS,
            name::COLD_STARTS,
            name::ALERTS_SENT,
            name::DUE_CLIENTS,
            name::ALERT_FAILURES,
        ] {
            metrics::describe_counter!(count, metrics::Unit::Count, "");
        }
        metrics::describe_gauge!(name::CONNECTED_CLIENTS, metrics::Unit::Count, "");
        metrics::describe_gauge!(name::DISCONNECTED_CLIENTS, metrics::Unit::Count, "");
        metrics::counter!(name::COLD_STARTS).increment(1);
        Ok(Metrics { collector })
    }

    /// Writes what was recorded since the last flush as EMF lines on stdout, in one write (so
    /// the lines never interleave with a log line), tagged with the invocation's request id.
    /// A failed write is logged: metrics must never fail an invocation.
    pub fn flush(&self, request_id: &str) {
        let mut lines = Vec::with_capacity(1024);
        let written = self
            .write(request_id, &mut lines)
            .and_then(|()| std::io::stdout().lock().write_all(&lines));
        if let Err(err) = written {
            tracing::warn!(error = %err, "could not write the metrics");
        }
    }

    /// Writes what was recorded since the last write as EMF lines to `out`.
    pub fn write(&self, request_id: &str, out: impl Write) -> std::io::Result<()> {
        self.collector
            .set_property("requestId", request_id.to_owned());
        self.collector.flush(out)
    }
}

/// The `Reason` dimension of a disconnect: a documented reason, else [`REASON_OTHER`], so an
/// unexpected value can never add a metric per client.
pub fn reason_dimension(reason: Option<&str>) -> &'static str {
    let Some(reason) = reason else {
        return REASON_UNKNOWN;
    };
    DOCUMENTED_DISCONNECT_REASONS
        .iter()
        .find(|known| **known == reason)
        .copied()
        .unwrap_or(REASON_OTHER)
}

/// What the handler did with one event: `outcome` is an [`Outcome`]'s name,
/// [`OUTCOME_INVALID`] or [`OUTCOME_FAILED`]. Connects and disconnects count the distinct
/// events seen (applied or stale, not a redelivery).
pub fn event_handled(
    outcome: &'static str,
    seen: Option<(EventType, Option<&str>)>,
    latency: Duration,
) {
    metrics::counter!(name::EVENTS, label::OUTCOME => outcome).increment(1);
    match seen {
        Some((EventType::Connected, _)) => metrics::counter!(name::CONNECTS).increment(1),
        Some((EventType::Disconnected, reason)) => {
            metrics::counter!(name::DISCONNECTS, label::REASON => reason_dimension(reason))
                .increment(1)
        }
        _ => {}
    }
    metrics::histogram!(name::HANDLER_LATENCY).record(latency.as_secs_f64() * 1000.0);
}

/// The handler's write units for one event. Whole units: DynamoDB charges writes per 1 KB.
pub fn units_written(units: f64) {
    metrics::counter!(name::CONSUMED_WRITE_UNITS).increment(units.round() as u64);
}

/// Whether an outcome is a distinct event seen, for [`event_handled`]'s connect counts.
pub fn is_seen(outcome: Outcome, redelivered: bool) -> bool {
    !redelivered && matches!(outcome, Outcome::Applied | Outcome::Stale)
}

/// One alert pass's figures.
pub fn pass_done(report: &crate::alert::pass::RunReport, took: Duration) {
    for (kind, sent) in [
        (kind::OFFLINE, report.offline),
        (kind::BACK_ONLINE, report.back_online),
        (kind::FLAPPING, report.flapping),
        (kind::STORM, report.storms),
        (kind::RECOVERY, report.recoveries),
    ] {
        if sent > 0 {
            metrics::counter!(name::ALERTS_SENT, label::KIND => kind).increment(sent);
        }
    }
    metrics::counter!(name::DUE_CLIENTS).increment(report.due);
    metrics::counter!(name::ALERT_FAILURES).increment(report.errors.len() as u64);
    metrics::histogram!(name::ALERT_PASS_DURATION).record(took.as_secs_f64() * 1000.0);
}

/// The fleet gauges.
pub fn fleet_counted(counts: crate::read::FleetCounts) {
    metrics::gauge!(name::CONNECTED_CLIENTS).set(counts.connected as f64);
    metrics::gauge!(name::DISCONNECTED_CLIENTS).set(counts.disconnected as f64);
}

pub mod emf;
#[cfg(test)]
mod tests;
