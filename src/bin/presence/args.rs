//! The command line: clap definitions and the value parsers. Bounds, defaults and variable names
//! come from the library, so that the CLI accepts what the functions accept.

use std::ffi::OsString;
use std::time::Duration;

use clap::error::ContextValue;
use clap::{ArgGroup, Parser, Subcommand, ValueEnum};
use iot_presence::config::AlertSettings;
use iot_presence::config::{self as storm, StormSettings, SHARE_EXPECTED};
use iot_presence::config::{
    ALERT_TOPIC_VAR, EVENTS_TABLE_VAR, FLAPPING_SESSIONS_VAR, FLAPPING_WINDOW_VAR,
    MAX_FLAPPING_SESSIONS, MAX_FLAPPING_WINDOW_MS, MAX_THRESHOLD_MS, MAX_WINDOW_MS,
    MIN_FLAPPING_WINDOW_MS, MIN_THRESHOLD_MS, OFFLINE_THRESHOLDS_VAR, OFFLINE_THRESHOLD_VAR,
    STATUS_TABLE_VAR, WINDOW_VAR,
};
use iot_presence::config::{
    MAX_STATUS_SHARDS, MAX_STORM_MIN_CLIENTS, MAX_STORM_WINDOW_MS, MIN_STATUS_SHARDS,
    MIN_STORM_WINDOW_MS,
};
use iot_presence::errors::shown;
use iot_presence::rule::Window;
use iot_presence::thresholds::ThresholdPatterns;
use iot_presence::time::{self, duration, millis, now_ms, parse_duration, TimeInputError};

use crate::stack::{parse_stack, STACK_VAR};
use crate::{availability, cost, reconcile, redrive};

#[derive(Parser)]
#[command(
    name = "presence",
    version,
    about = "Who is online, since when, and why it dropped: \
    reads the iot-presence tables.",
    after_help = crate::EXIT_CODES
)]
pub struct Cli {
    /// The deployed stack (e.g. iot-presence): its outputs give the tables and alert-pass's
    /// topic when their flags and variables are not set (CloudFormation DescribeStacks)
    #[arg(long, global = true, env = STACK_VAR, hide_env_values = true, value_parser = parse_stack)]
    pub stack: Option<String>,
    /// The status table (default: the --stack's output StatusTableName)
    #[arg(long, global = true, env = STATUS_TABLE_VAR, hide_env_values = true)]
    pub status_table: Option<String>,
    /// The event table (default: the --stack's output EventsTableName)
    #[arg(long, global = true, env = EVENTS_TABLE_VAR, hide_env_values = true)]
    pub events_table: Option<String>,
    /// DynamoDB endpoint, e.g. a local server, http://127.0.0.1:8000 (default:
    /// AWS_ENDPOINT_URL_DYNAMODB or AWS's)
    #[arg(long, global = true, value_parser = parse_endpoint)]
    pub endpoint_url: Option<String>,
    /// The AWS region of the stack (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's)
    #[arg(long, global = true, value_parser = parse_region)]
    pub region: Option<String>,
    /// Give up on a DynamoDB (or CloudFormation) request after this long (e.g. 30s, 5m)
    #[arg(long, global = true, value_parser = parse_duration, default_value = "2m")]
    pub timeout: Duration,
    /// Output format: aligned tables for people, JSON (JSON Lines for lists) for scripts
    #[arg(long, short, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    #[command(subcommand)]
    pub command: Command,
}

/// `list --sort`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum Sort {
    Newest,
    Oldest,
    Client,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// One client's connectivity (like `aws iot get-thing-connectivity-data`)
    #[command(
        after_help = "Example:\n  presence --stack iot-presence status pump-7\n  \
        presence status pump-7 --include-socket-information -o json"
    )]
    Status {
        #[arg(value_parser = parse_client_id)]
        client_id: String,
        /// Include network details (the client's IP address)
        #[arg(long)]
        include_socket_information: bool,
        /// Show the principal (a certificate id, or for IAM principals `KEYID:identity`, which
        /// can be an e-mail address): personal data, so hidden unless asked for
        #[arg(long)]
        show_principal: bool,
    },
    /// Connected or disconnected clients, the latest change first (who just dropped, or just
    /// came back)
    #[command(group(ArgGroup::new("state").required(true).args(["connected", "disconnected"])),
        after_help = "Example:\n  presence list --disconnected --offline-for 10m\n  \
        presence list --disconnected --dropped-within 15m --sort oldest --limit 50")]
    List {
        #[arg(long)]
        connected: bool,
        #[arg(long)]
        disconnected: bool,
        /// Only clients offline for at least this long (e.g. 10m, 2h, 1d)
        #[arg(long, value_parser = parse_duration, conflicts_with = "connected")]
        offline_for: Option<Duration>,
        /// Only clients that dropped within this long (e.g. 15m, 1h): who dropped recently
        #[arg(long, value_parser = parse_positive_duration, conflicts_with = "connected")]
        dropped_within: Option<Duration>,
        /// The order: newest (latest change first), oldest (longest in the state first), client
        #[arg(long, value_enum, default_value_t = Sort::Newest)]
        sort: Sort,
        /// At most this many clients
        #[arg(long)]
        limit: Option<usize>,
        /// Items per DynamoDB query page (testing; DynamoDB's own limit is 1 MB a page)
        #[arg(long, hide = true)]
        page_size: Option<i32>,
    },
    /// One client's event log, oldest first, with each event's outcome
    #[command(after_help = "Example:\n  presence history pump-7 --since 2h\n  \
        presence history pump-7 --since 2026-11-21T08:00:00Z --until 2026-11-21T09:00:00Z")]
    History {
        #[arg(value_parser = parse_client_id)]
        client_id: String,
        /// From this time: a duration ago (1h, 2d) or RFC 3339 (2025-11-21T08:00:00Z)
        #[arg(long, value_parser = parse_time)]
        since: Option<u64>,
        /// Until this time (exclusive), same forms as --since
        #[arg(long, value_parser = parse_time)]
        until: Option<u64>,
    },
    /// Fleet counts, offline durations, top disconnect reasons and clients alerted now
    #[command(after_help = "Example:\n  presence --stack iot-presence summary")]
    Summary,
    /// Who dropped in the last 5, 15 and 60 minutes and is still offline, by reason and by
    /// client-id prefix, and the storm among them, if any
    #[command(after_help = "Example:\n  presence incident\n  \
        presence incident --storm-min-share 0.05 --storm-window 5m -o json")]
    Incident {
        #[command(flatten)]
        storm: StormArgs,
    },
    /// The storms the alerter declared, open and recently ended: what dropped, the notices
    /// sent, and how many recovered
    #[command(after_help = "Example:\n  presence storms -o json")]
    Storms,
    /// The status index's shard count; `migrate --to N` changes it on a live table
    #[command(after_help = "Example:\n  presence shards\n  \
        presence shards migrate --to 64 --dry-run")]
    Shards {
        #[command(subcommand)]
        action: Option<ShardsAction>,
    },
    /// Set a client's own offline-alert threshold (overrides the stack's OfflineThresholdMs)
    #[command(
        group(ArgGroup::new("value").required(true).args(["threshold", "clear"])),
        // The client first, as the arguments are taken (clap would put the group first).
        override_usage = "presence threshold [OPTIONS] <CLIENT_ID> <THRESHOLD>\n       \
                          presence threshold [OPTIONS] <CLIENT_ID> --clear",
        after_help = "Example:\n  presence threshold pump-7 15m\n  \
            presence threshold pump-7 --clear\n  \
            presence threshold new-gateway-3 2m --create"
    )]
    Threshold {
        #[arg(value_parser = parse_client_id)]
        client_id: String,
        #[arg(value_parser = parse_threshold, help = format!(
            "Offline time before an alert, {} to {} (e.g. 90s, 15m, 2h)",
            duration(MIN_THRESHOLD_MS), duration(MAX_THRESHOLD_MS)))]
        threshold: Option<u64>,
        /// Remove the client's threshold: the stack default applies again
        #[arg(long)]
        clear: bool,
        /// Set it even though nothing is recorded for the client yet (a device not yet
        /// connected); without it, an unknown client exits 1 and nothing is written
        #[arg(long, conflicts_with = "clear")]
        create: bool,
    },
    /// Run one alert pass, as the scheduled function does every minute, on the real clock or a
    /// simulated one (--at): local runs, backfills, and checking settings
    #[command(
        after_help = "Example:\n  presence --stack iot-presence alert-pass\n  \
        presence alert-pass --topic-arn arn:aws:sns:eu-west-1:123456789012:alerts --at +10m"
    )]
    AlertPass {
        /// The SNS topic alerts go to (default: the --stack's output AlertTopicArn)
        #[arg(long, env = ALERT_TOPIC_VAR, hide_env_values = true)]
        topic_arn: Option<String>,
        /// Act as if it were this time: a duration ago (1h), a duration ahead (+10m) or RFC 3339
        #[arg(long, value_parser = parse_time_or_ahead)]
        at: Option<u64>,
        /// Default offline threshold in ms
        #[arg(long, env = OFFLINE_THRESHOLD_VAR, hide_env_values = true,
              default_value_t = AlertSettings::DEFAULT.offline_threshold_ms,
              value_parser = clap::value_parser!(u64).range(MIN_THRESHOLD_MS..=MAX_THRESHOLD_MS))]
        offline_threshold_ms: u64,
        /// Thresholds by client-id pattern, first match wins: `sensor-*=30m,gw-*=2m` (a
        /// client's own threshold still comes first)
        #[arg(long, env = OFFLINE_THRESHOLDS_VAR, hide_env_values = true, default_value = "",
              value_parser = parse_thresholds)]
        offline_thresholds: ThresholdPatterns,
        /// Sessions within the window that make flapping; 0 turns it off
        #[arg(long, env = FLAPPING_SESSIONS_VAR, hide_env_values = true,
              default_value_t = AlertSettings::DEFAULT.flapping_sessions,
              value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_FLAPPING_SESSIONS)))]
        flapping_sessions: u32,
        /// The flapping window in ms
        #[arg(long, env = FLAPPING_WINDOW_VAR, hide_env_values = true,
              default_value_t = AlertSettings::DEFAULT.flapping_window_ms,
              value_parser = clap::value_parser!(u64)
                  .range(MIN_FLAPPING_WINDOW_MS..=MAX_FLAPPING_WINDOW_MS))]
        flapping_window_ms: u64,
        #[command(flatten)]
        storm: StormArgs,
    },
    /// Uptime, outages, MTTR and the top disconnect reason from the event log, per client or
    /// for the fleet (worst first)
    #[command(after_help = "Example:\n  presence availability pump-7 --since 7d\n  \
        presence availability --all --since 30d --csv > availability.csv")]
    Availability(availability::AvailabilityArgs),
    /// Re-apply failed events from a failure queue (FailedEventsQueueUrl, RuleErrorsQueueUrl)
    /// through the function's own path; delete each message once its event is recorded
    #[command(
        after_help = "Example:\n  presence --stack iot-presence redrive --queue failed --dry-run\n  \
        presence --stack iot-presence redrive --queue rule-errors"
    )]
    Redrive(redrive::RedriveArgs),
    /// Compare status items with the broker (iot-data GetConnection); with --apply, repair the
    /// disagreements (each repair is logged with outcome `reconciled`)
    #[command(after_help = "Example:\n  presence reconcile --connected-for 1h\n  \
        presence reconcile pump-7 gw-2 --apply")]
    Reconcile(reconcile::ReconcileArgs),
    /// What the stack costs a month for a fleet, line by line: AWS list prices times the
    /// capacity measured per path (docs/cost.md shows the same tables)
    #[command(
        after_help = "Example:\n  presence cost --devices 200000 --reconnects-per-day 24\n  \
        presence cost --devices 10000 --reconnects-per-day 1 --retention-days 90 -o json"
    )]
    Cost(cost::CostArgs),
    /// Recompute status items from the event log through the ordering rule
    #[command(group(ArgGroup::new("which").required(true).args(["client", "all"])),
        after_help = "Example:\n  presence rebuild --client pump-7\n  \
        presence rebuild --all --reset --window-ms 60000")]
    Rebuild {
        /// One client
        #[arg(long, value_parser = parse_client_id)]
        client: Option<String>,
        /// Every client in the event log (scans the event table)
        #[arg(long)]
        all: bool,
        /// Clear the status first so that the log alone decides (e.g. after changing the
        /// window); settings on the item are kept
        #[arg(long)]
        reset: bool,
        /// The ordering rule's window W in ms
        #[arg(long, env = WINDOW_VAR, hide_env_values = true, default_value_t = Window::DEFAULT.ms(),
              value_parser = clap::value_parser!(u64).range(0..=MAX_WINDOW_MS))]
        window_ms: u64,
    },
}

impl Cli {
    /// Parses the command line as clap does, except that an error quotes every value it was
    /// given capped and escaped ([`shown`]'s bare form): an argument may be 128 KiB long, or
    /// hold terminal controls. The caller exits with `err.exit()`: 2 (usage) for an error, 0
    /// for `--help` and `--version`.
    pub fn parse_capped<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        Cli::try_parse_from(args).map_err(capped)
    }
}

/// A clap error with each value of its context capped (the invalid value, the unknown
/// argument, and the rest: the names and valid values from the definition are short already).
fn capped(mut err: clap::Error) -> clap::Error {
    let cap = |s: &str| shown(s).bare().to_string();
    let context: Vec<_> = err.context().map(|(k, v)| (k, v.clone())).collect();
    for (kind, value) in context {
        let value = match value {
            ContextValue::String(s) => ContextValue::String(cap(&s)),
            ContextValue::Strings(all) => {
                ContextValue::Strings(all.iter().map(|s| cap(s)).collect())
            }
            other => other,
        };
        err.insert(kind, value);
    }
    err
}

/// A time argument (`--since`, `--until`): a duration ago or an RFC 3339 time, in epoch ms,
/// within [`time::MAX_TIME_MS`] (see [`time::parse_time`]).
pub fn parse_time(text: &str) -> Result<u64, TimeInputError> {
    time::parse_time(text, now_ms(), false)
}

/// `--at`: like [`parse_time`], plus `+DURATION` for a time ahead (a simulated clock).
fn parse_time_or_ahead(text: &str) -> Result<u64, TimeInputError> {
    time::parse_time(text, now_ms(), true)
}

/// A duration above zero (`--dropped-within`), at most [`time::MAX_DURATION_MS`].
fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("it is zero: give a duration above 0 (15m, 1h)".to_owned()),
        Err(err) => Err(err.to_string()),
    }
}

/// `--offline-thresholds`: the library's patterns, the message capped (it quotes the entry).
fn parse_thresholds(text: &str) -> Result<ThresholdPatterns, String> {
    text.parse::<ThresholdPatterns>()
        .map_err(|err| shown(&err.to_string()).bare().to_string())
}

/// `--since` and `--until` together: a window that ends after it starts (a usage error, exit 2,
/// otherwise: an empty answer would look like "no events").
pub fn check_window(since: u64, until: u64) -> Result<(), crate::Failure> {
    if since < until {
        return Ok(());
    }
    Err(crate::Failure::Usage(format!(
        "--since ({}) must be before --until ({})",
        crate::iso_seconds(since),
        crate::iso_seconds(until)
    )))
}

/// `--endpoint-url` (and the endpoint variables): a URL with its scheme and a host.
pub fn parse_endpoint(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    match rest {
        Some(host)
            if !host.is_empty()
                && !host.starts_with('/')
                && !host.contains(char::is_whitespace) =>
        {
            Ok(text.to_owned())
        }
        Some(_) => Err(format!(
            "{} has no host: give http://HOST:PORT",
            shown(text)
        )),
        None => Err(format!(
            "{} lacks http:// or https://: give http://127.0.0.1:8000 for a local server",
            shown(text)
        )),
    }
}

/// `--region`: a region's name (`eu-west-1`), checked only for its form: the SDK knows no list.
fn parse_region(text: &str) -> Result<String, String> {
    let well_formed = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if well_formed {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{} is not a region name (eu-west-1, us-east-1)",
            shown(text)
        ))
    }
}

/// A client id argument: not empty, at most 128 bytes, not one of the status table's own keys
/// (the error quotes it as [`shown`] does).
pub fn parse_client_id(text: &str) -> Result<String, String> {
    match iot_presence::event::client_id_problem(text) {
        None => Ok(text.to_owned()),
        Some(problem) => Err(format!("the client id {} {problem}", shown(text))),
    }
}

/// What makes a storm, for `incident` and `alert-pass` (the alerter's variables, as flags).
#[derive(Debug, Clone, clap::Args)]
pub struct StormArgs {
    /// A storm: at least this share of the fleet (or prefix) dropped within the window (0.01
    /// is 1%)
    #[arg(long, env = storm::STORM_MIN_SHARE_VAR, hide_env_values = true,
          value_parser = parse_share, default_value_t = StormSettings::DEFAULT.min_share)]
    pub storm_min_share: f64,
    /// A storm: at least this many clients dropped within the window
    #[arg(long, env = storm::STORM_MIN_CLIENTS_VAR, hide_env_values = true,
          default_value_t = StormSettings::DEFAULT.min_clients,
          value_parser = clap::value_parser!(u64).range(1..=MAX_STORM_MIN_CLIENTS))]
    pub storm_min_clients: u64,
    /// The storm window (10s to 1h)
    #[arg(long, value_parser = parse_storm_window, default_value = "2m")]
    pub storm_window: Duration,
}

impl StormArgs {
    pub fn settings(&self) -> StormSettings {
        StormSettings {
            min_share: self.storm_min_share,
            min_clients: self.storm_min_clients,
            window_ms: millis(self.storm_window),
        }
    }
}

/// A storm share, as the alerter's `STORM_MIN_SHARE` takes it.
fn parse_share(text: &str) -> Result<f64, String> {
    storm::parse_share(text).ok_or_else(|| format!("{} is not {SHARE_EXPECTED}", shown(text)))
}

/// A duration within `min..=max` ms (both far below [`time::MAX_DURATION_MS`]).
fn bounded_ms(text: &str, min: u64, max: u64) -> Result<u64, String> {
    let range = format!("{}..={}", duration(min), duration(max));
    match parse_duration(text).map(millis) {
        Ok(ms) if (min..=max).contains(&ms) => Ok(ms),
        Ok(ms) => Err(format!("{} is outside {range}", duration(ms))),
        Err(TimeInputError::DurationTooLong) => Err(format!("it is outside {range}")),
        Err(err) => Err(err.to_string()),
    }
}

/// The storm window, within the alerter's `STORM_WINDOW_MS` bounds.
fn parse_storm_window(text: &str) -> Result<Duration, String> {
    bounded_ms(text, MIN_STORM_WINDOW_MS, MAX_STORM_WINDOW_MS).map(Duration::from_millis)
}

/// A threshold argument, in ms, within the stack parameter's bounds.
fn parse_threshold(text: &str) -> Result<u64, String> {
    bounded_ms(text, MIN_THRESHOLD_MS, MAX_THRESHOLD_MS)
}

#[cfg(test)]
mod tests;

#[derive(Subcommand, Debug)]
pub enum ShardsAction {
    /// Re-key every status item to N shards, a page at a time, resumably (run it again after an
    /// interruption); listings stay complete meanwhile. Then deploy StatusShards=N. Run it with
    /// --dry-run first; it asks before writing, unless --yes.
    #[command(
        after_help = "Example:\n  presence shards migrate --to 64 --dry-run\n  \
        presence shards migrate --to 64 --yes"
    )]
    Migrate {
        /// The new shard count
        #[arg(long, value_parser = clap::value_parser!(u32)
              .range(i64::from(MIN_STATUS_SHARDS)..=i64::from(MAX_STATUS_SHARDS)))]
        to: u32,
        /// Items per Scan page (each page's position is saved, to resume from)
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i32).range(1..=1000))]
        page_size: i32,
        /// How long the functions take to see the new count (their cache); lower it only when no
        /// function writes to the table (tests)
        #[arg(long, value_parser = parse_duration, default_value = "30s", hide = true)]
        settle: Duration,
        /// Scan the same pages and write nothing: print how many items would be re-keyed and
        /// the write units the run would consume
        #[arg(long)]
        dry_run: bool,
        /// Migrate without asking (needed when stdin is not a terminal, as in scripts)
        #[arg(long)]
        yes: bool,
    },
}
