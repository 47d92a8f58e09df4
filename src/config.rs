//! Configuration, read once at cold start from environment variables.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `STATUS_TABLE_NAME` | the status table (one item per client) | required |
//! | `EVENTS_TABLE_NAME` | the event table (raw event log) | required |
//! | `TIMESTAMP_WINDOW_MS` | W of the ordering rule, 0..=1800000 | 120000 |
//! | `EVENT_RETENTION_DAYS` | event-table TTL, 1..=3650 days | 30 |
//! | `FUTURE_SKEW_MS` | how far ahead of the receiving clock an event's timestamp may be before it is rejected as `invalid`, 0..=3600000 | 120000 |
//! | `STATUS_RETENTION_DAYS` | status items of clients silent this long expire (DynamoDB TTL on `expiresAt`), 0 (never)..=3650 days | 0 |
//!
//! The alerter function reads the two table names and:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `ALERT_TOPIC_ARN` | the SNS topic alerts go to | required |
//! | `OFFLINE_THRESHOLD_MS` | offline time before an alert, 60000..=604800000 | 300000 |
//! | `FLAPPING_SESSIONS` | sessions within the window that make flapping, 0 (off)..=1000 | 5 |
//! | `FLAPPING_WINDOW_MS` | the flapping window, 60000..=86400000 | 600000 |
//! | `OFFLINE_THRESHOLDS` | thresholds by client-id pattern, `sensor-*=30m,gw-*=2m` (see [`crate::thresholds`]) | none |
//! | `STORM_MIN_SHARE` | share of the fleet that must drop within the storm window to make a storm, (0, 1] | 0.01 |
//! | `STORM_MIN_CLIENTS` | clients that must drop within the window, 1..=10000000 | 50 |
//! | `STORM_WINDOW_MS` | the storm window, 10000..=3600000 | 120000 |
//!
//! The reconciler function reads the table variables above and:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `RECONCILE_SCOPE` | which clients a run checks: `connected-for=DURATION`, `disconnected-for=DURATION` or `all` | `connected-for=1h` |
//! | `RECONCILE_RATE` | GetConnection calls a second, 1..=1000 | 10 |
//!
//! The AWS SDK reads its own variables (`AWS_REGION`, credentials, and
//! `AWS_ENDPOINT_URL_DYNAMODB` for a local server).

use std::time::Duration;

use thiserror::Error;

use crate::rule::Window;
use crate::thresholds::{PatternError, ThresholdPatterns};

mod changes;
mod storm;
pub use changes::*;
pub use storm::*;

pub const STATUS_TABLE_VAR: &str = "STATUS_TABLE_NAME";
pub const EVENTS_TABLE_VAR: &str = "EVENTS_TABLE_NAME";
pub const WINDOW_VAR: &str = "TIMESTAMP_WINDOW_MS";
pub const RETENTION_VAR: &str = "EVENT_RETENTION_DAYS";
pub const FUTURE_SKEW_VAR: &str = "FUTURE_SKEW_MS";
pub const STATUS_RETENTION_VAR: &str = "STATUS_RETENTION_DAYS";
/// The handler's shard count for the status index (the `StatusShards` parameter): it sets the
/// table's count on first use and must agree with it afterwards (`crate::store::shards`).
pub const STATUS_SHARDS_VAR: &str = "STATUS_SHARDS";
/// Shards of the status index by default. Each shard is a separate index partition per state,
/// so state changes spread over that many partitions (about 1,000 writes/s each) and readers
/// query them in parallel; docs/design.md "Shard count: why shards, and how many".
pub const DEFAULT_STATUS_SHARDS: u32 = 16;
/// Bounds of a status shard count: 512 shards take a storm of ~250,000 state changes a second,
/// and a listing is then 1,024 parallel queries.
pub const MIN_STATUS_SHARDS: u32 = 1;
pub const MAX_STATUS_SHARDS: u32 = 512;

pub const ALERT_TOPIC_VAR: &str = "ALERT_TOPIC_ARN";
pub const OFFLINE_THRESHOLD_VAR: &str = "OFFLINE_THRESHOLD_MS";
pub const FLAPPING_SESSIONS_VAR: &str = "FLAPPING_SESSIONS";
pub const FLAPPING_WINDOW_VAR: &str = "FLAPPING_WINDOW_MS";
pub const OFFLINE_THRESHOLDS_VAR: &str = "OFFLINE_THRESHOLDS";
/// Every how many minutes the alerter counts the fleet for the gauges (0: never).
pub const FLEET_GAUGE_MINUTES_VAR: &str = "FLEET_GAUGE_MINUTES";
pub const DEFAULT_FLEET_GAUGE_MINUTES: u64 = 1;
pub const MAX_FLEET_GAUGE_MINUTES: u64 = 60;

pub const RECONCILE_SCOPE_VAR: &str = "RECONCILE_SCOPE";
pub const RECONCILE_RATE_VAR: &str = "RECONCILE_RATE";
pub const DEFAULT_RECONCILE_SCOPE: &str = "connected-for=1h";

pub use crate::thresholds::{MAX_THRESHOLD_MS, MIN_THRESHOLD_MS};

/// `FLAPPING_SESSIONS` is 0 (flapping alerts off) up to this.
pub const MAX_FLAPPING_SESSIONS: u32 = 1000;
/// `FLAPPING_WINDOW_MS` bounds: 1 minute to 1 day.
pub const MIN_FLAPPING_WINDOW_MS: u64 = 60_000;
pub const MAX_FLAPPING_WINDOW_MS: u64 = 86_400_000;

/// W must stay well below the ~1 hour after which AWS resets `versionNumber`: a reconnect after
/// a reset must fall outside the window, or its lower version would lose to the old session.
pub const MAX_WINDOW_MS: u64 = 30 * 60 * 1000;
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
pub const MAX_RETENTION_DAYS: u32 = 3650;

/// An event stamped further ahead of the receiving clock than this is rejected as `invalid`
/// (kept, never applied). AWS stamps events on its own clock, so a genuine event is ahead by at
/// most the timestamps' documented approximation, ±2 minutes (the Lambda host's clock is
/// NTP-synchronised to well under a second). An accepted event's lead cannot hold a status:
/// the rule counts a timestamp ahead of the clock as the receipt (`LifecycleEvent::observed_at`).
pub const DEFAULT_FUTURE_SKEW_MS: u64 = 2 * 60 * 1000;
pub const MAX_FUTURE_SKEW_MS: u64 = 60 * 60 * 1000;

/// SDK timeouts. The function does at most two DynamoDB calls per event; with the SDK's default
/// of 3 attempts each is bounded by `OPERATION_TIMEOUT`, so an event takes at most ~8 s of I/O,
/// under the function timeout set in template.yaml. A single attempt gets 1.5 s: DynamoDB
/// answers in single-digit milliseconds, so an attempt that slow is better retried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(4);

/// SDK timeouts of a process.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub attempt: Duration,
    pub operation: Duration,
}

impl Timeouts {
    /// The function's: see above.
    pub const FUNCTION: Timeouts = Timeouts {
        attempt: ATTEMPT_TIMEOUT,
        operation: OPERATION_TIMEOUT,
    };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub status_table: String,
    pub events_table: String,
    pub window: Window,
    pub retention_days: u32,
    /// See [`DEFAULT_FUTURE_SKEW_MS`].
    pub future_skew_ms: u64,
    /// Status items of clients silent this long expire (0: never).
    pub status_retention_days: u32,
    /// See [`STATUS_SHARDS_VAR`].
    pub status_shards: u32,
}

impl Config {
    /// The defaults for everything but the table names.
    pub fn with_tables(status_table: impl Into<String>, events_table: impl Into<String>) -> Self {
        Config {
            status_table: status_table.into(),
            events_table: events_table.into(),
            window: Window::DEFAULT,
            retention_days: DEFAULT_RETENTION_DAYS,
            future_skew_ms: DEFAULT_FUTURE_SKEW_MS,
            status_retention_days: 0,
            status_shards: DEFAULT_STATUS_SHARDS,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is not set (it names a DynamoDB table)")]
    Missing(&'static str),
    #[error("environment variable {0} is not set (it names the SNS topic alerts go to)")]
    MissingTopic(&'static str),
    #[error("environment variable {0} is not set (it names an SQS queue URL)")]
    MissingQueue(&'static str),
    #[error(
        "environment variable {var}={} is invalid: expected {expected}",
        crate::errors::shown(.value)
    )]
    Invalid {
        var: &'static str,
        value: String,
        expected: String,
    },
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// Reads configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table = |var: &'static str| {
            get(var)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::Missing(var))
        };
        let number = |var, default, max, min| number(&get, var, default, min, max);
        Ok(Config {
            status_table: table(STATUS_TABLE_VAR)?,
            events_table: table(EVENTS_TABLE_VAR)?,
            window: Window(number(WINDOW_VAR, Window::DEFAULT.ms(), MAX_WINDOW_MS, 0)?),
            retention_days: number(
                RETENTION_VAR,
                DEFAULT_RETENTION_DAYS.into(),
                MAX_RETENTION_DAYS.into(),
                1,
            )? as u32,
            future_skew_ms: number(
                FUTURE_SKEW_VAR,
                DEFAULT_FUTURE_SKEW_MS,
                MAX_FUTURE_SKEW_MS,
                0,
            )?,
            status_retention_days: number(STATUS_RETENTION_VAR, 0, MAX_RETENTION_DAYS.into(), 0)?
                as u32,
            status_shards: number(
                STATUS_SHARDS_VAR,
                DEFAULT_STATUS_SHARDS.into(),
                MAX_STATUS_SHARDS.into(),
                MIN_STATUS_SHARDS.into(),
            )? as u32,
        })
    }
}

/// An optional integer variable within bounds.
fn number(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(value) => match value.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ConfigError::Invalid {
                var,
                value,
                expected: format!("an integer from {min} to {max}"),
            }),
        },
    }
}

/// Stack-wide alert settings (a client's own threshold, then the first matching pattern of
/// `thresholds`, override `offline_threshold_ms`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    pub offline_threshold_ms: u64,
    pub thresholds: ThresholdPatterns,
    /// Sessions within `flapping_window_ms` that make an episode; 0 turns flapping alerts off.
    pub flapping_sessions: u32,
    pub flapping_window_ms: u64,
    /// What makes a mass disconnect one storm notice instead of one notice per client.
    pub storm: StormSettings,
}

impl AlertSettings {
    pub const DEFAULT: AlertSettings = AlertSettings {
        offline_threshold_ms: 5 * 60_000,
        thresholds: ThresholdPatterns::NONE,
        flapping_sessions: 5,
        flapping_window_ms: 10 * 60_000,
        storm: StormSettings::DEFAULT,
    };
}

/// The alerter function's configuration: the tables (as [`Config`]) plus the alert settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertConfig {
    pub tables: Config,
    pub topic_arn: String,
    pub settings: AlertSettings,
    /// See [`FLEET_GAUGE_MINUTES_VAR`].
    pub fleet_gauge_minutes: u64,
}

impl AlertConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let tables = Config::from_lookup(&get)?;
        let topic_arn = get(ALERT_TOPIC_VAR)
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError::MissingTopic(ALERT_TOPIC_VAR))?;
        let d = AlertSettings::DEFAULT;
        let settings = AlertSettings {
            offline_threshold_ms: number(
                &get,
                OFFLINE_THRESHOLD_VAR,
                d.offline_threshold_ms,
                MIN_THRESHOLD_MS,
                MAX_THRESHOLD_MS,
            )?,
            flapping_sessions: number(
                &get,
                FLAPPING_SESSIONS_VAR,
                d.flapping_sessions.into(),
                0,
                MAX_FLAPPING_SESSIONS.into(),
            )? as u32,
            flapping_window_ms: number(
                &get,
                FLAPPING_WINDOW_VAR,
                d.flapping_window_ms,
                MIN_FLAPPING_WINDOW_MS,
                MAX_FLAPPING_WINDOW_MS,
            )?,
            thresholds: match get(OFFLINE_THRESHOLDS_VAR) {
                None => ThresholdPatterns::NONE,
                Some(value) => value
                    .parse()
                    .map_err(|err: PatternError| ConfigError::Invalid {
                        var: OFFLINE_THRESHOLDS_VAR,
                        value,
                        expected: format!("PATTERN=DURATION,...: {err}"),
                    })?,
            },
            storm: StormSettings::from_lookup(&get)?,
        };
        let fleet_gauge_minutes = number(
            &get,
            FLEET_GAUGE_MINUTES_VAR,
            DEFAULT_FLEET_GAUGE_MINUTES,
            0,
            MAX_FLEET_GAUGE_MINUTES,
        )?;
        Ok(AlertConfig {
            tables,
            topic_arn,
            settings,
            fleet_gauge_minutes,
        })
    }
}

/// Which clients a sweep checks: named ones, those in one state for at least a while, or all.
/// The CLI's `CLIENT_ID...`/`--connected-for`/`--disconnected-for`/`--all` and the scheduled
/// function's `RECONCILE_SCOPE` (`connected-for=1h`, `disconnected-for=1d`, `all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Clients(Vec<String>),
    ConnectedFor(std::time::Duration),
    DisconnectedFor(std::time::Duration),
    All,
}

/// As `RECONCILE_SCOPE` spells it (the reconciler's cursor names its scope so).
impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Clients(ids) => write!(f, "clients={}", ids.join(",")),
            Scope::ConnectedFor(d) => {
                write!(f, "connected-for={}", humantime::format_duration(*d))
            }
            Scope::DisconnectedFor(d) => {
                write!(f, "disconnected-for={}", humantime::format_duration(*d))
            }
            Scope::All => f.write_str("all"),
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let duration = |d: &str| {
            crate::time::parse_duration(d.trim()).map_err(|err| {
                format!(
                    "{}: the duration {} is not one ({err})",
                    crate::errors::shown(s),
                    crate::errors::shown(d)
                )
            })
        };
        match s.trim().split_once('=') {
            None if s.trim() == "all" => Ok(Scope::All),
            Some(("connected-for", d)) => duration(d).map(Scope::ConnectedFor),
            Some(("disconnected-for", d)) => duration(d).map(Scope::DisconnectedFor),
            _ => Err(format!(
                "{}: expected connected-for=DURATION, disconnected-for=DURATION or all",
                crate::errors::shown(s)
            )),
        }
    }
}

/// The reconciler function's configuration: the tables (as [`Config`]), which clients a run
/// checks, and how fast it asks the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconcileConfig {
    pub tables: Config,
    pub scope: Scope,
    /// GetConnection calls a second.
    pub rate: f64,
}

impl ReconcileConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let tables = Config::from_lookup(&get)?;
        let value = get(RECONCILE_SCOPE_VAR).unwrap_or_else(|| DEFAULT_RECONCILE_SCOPE.to_owned());
        // A scope string names a state, never clients (those are the CLI's).
        let scope = value
            .parse::<Scope>()
            .map_err(|expected| ConfigError::Invalid {
                var: RECONCILE_SCOPE_VAR,
                value: value.clone(),
                expected,
            })?;
        let rate = number(&get, RECONCILE_RATE_VAR, 10, 1, 1000)? as f64;
        Ok(ReconcileConfig {
            tables,
            scope,
            rate,
        })
    }
}

/// The standard AWS configuration chain with the given timeouts. Endpoints come from it too:
/// `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SNS` and so on, per service.
pub async fn aws_config(timeouts: Timeouts) -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(timeouts.attempt)
        .operation_timeout(timeouts.operation)
        .build();
    aws_config::from_env().timeout_config(timeouts).load().await
}

/// The one DynamoDB client of the process, from `sdk`. `endpoint` overrides DynamoDB's
/// endpoint alone (the CLI's `--endpoint-url`): SNS and SQS keep theirs, since a local
/// DynamoDB serves no other service.
pub fn dynamodb_client(
    sdk: &aws_config::SdkConfig,
    endpoint: Option<&str>,
) -> aws_sdk_dynamodb::Client {
    let mut config = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(url) = endpoint {
        config = config.endpoint_url(url);
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

#[cfg(test)]
mod tests;
