//! The command line: clap definitions and the value parsers. Bounds, defaults and variable names
//! come from the library, so that the CLI accepts what the functions accept.

use std::time::{Duration, UNIX_EPOCH};

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
use iot_presence::rule::Window;
use iot_presence::thresholds::ThresholdPatterns;
use iot_presence::time::duration;
use iot_presence::time::now_ms;

use crate::{availability, reconcile, redrive};

#[derive(Parser)]
#[command(
    name = "presence",
    version,
    about = "Who is online, since when, and why it dropped: \
    reads the iot-presence tables."
)]
pub struct Cli {
    /// The status table
    #[arg(long, global = true, env = STATUS_TABLE_VAR, hide_env_values = true)]
    pub status_table: Option<String>,
    /// The event table
    #[arg(long, global = true, env = EVENTS_TABLE_VAR, hide_env_values = true)]
    pub events_table: Option<String>,
    /// DynamoDB endpoint, e.g. a local server (default: AWS_ENDPOINT_URL_DYNAMODB or AWS's)
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// Give up on a DynamoDB request after this long (e.g. 30s, 5m)
    #[arg(long, global = true, value_parser = humantime::parse_duration, default_value = "2m")]
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
    #[command(group(ArgGroup::new("state").required(true).args(["connected", "disconnected"])))]
    List {
        #[arg(long)]
        connected: bool,
        #[arg(long)]
        disconnected: bool,
        /// Only clients offline for at least this long (e.g. 10m, 2h, 1d)
        #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "connected")]
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
    Summary,
    /// Who dropped in the last 5, 15 and 60 minutes and is still offline, by reason and by
    /// client-id prefix, and the storm among them, if any
    Incident {
        #[command(flatten)]
        storm: StormArgs,
    },
    /// The storms the alerter declared, open and recently ended: what dropped, the notices
    /// sent, and how many recovered
    Storms,
    /// The status index's shard count; `migrate --to N` changes it on a live table
    Shards {
        #[command(subcommand)]
        action: Option<ShardsAction>,
    },
    /// Set a client's own offline-alert threshold (overrides the stack's OfflineThresholdMs)
    #[command(group(ArgGroup::new("value").required(true).args(["threshold", "clear"])))]
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
    },
    /// Run one alert pass, as the scheduled function does every minute, on the real clock or a
    /// simulated one (--at): local runs, backfills, and checking settings
    AlertPass {
        /// The SNS topic alerts go to (the stack output AlertTopicArn)
        #[arg(long, env = ALERT_TOPIC_VAR, hide_env_values = true)]
        topic_arn: String,
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
        #[arg(long, env = OFFLINE_THRESHOLDS_VAR, hide_env_values = true, default_value = "")]
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
    Availability(availability::AvailabilityArgs),
    /// Re-apply failed events from a failure queue (FailedEventsQueueUrl, RuleErrorsQueueUrl)
    /// through the function's own path; delete each message once its event is recorded
    Redrive(redrive::RedriveArgs),
    /// Compare status items with the broker (iot-data GetConnection); with --apply, repair the
    /// disagreements (each repair is logged with outcome `reconciled`)
    Reconcile(reconcile::ReconcileArgs),
    /// Recompute status items from the event log through the ordering rule
    #[command(group(ArgGroup::new("which").required(true).args(["client", "all"])))]
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

/// A time argument: a duration ago, or an RFC 3339 time. Milliseconds since the epoch.
pub fn parse_time(text: &str) -> Result<u64, String> {
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(now_ms().saturating_sub(ago.as_millis() as u64));
    }
    humantime::parse_rfc3339_weak(text)
        .map(|t| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
        })
        .map_err(|_| format!("{text:?} is neither a duration (30m, 2h) nor an RFC 3339 time"))
}

/// `--at`: like [`parse_time`], plus `+DURATION` for a time ahead (a simulated clock).
fn parse_time_or_ahead(text: &str) -> Result<u64, String> {
    match text.strip_prefix('+') {
        Some(ahead) => humantime::parse_duration(ahead)
            .map(|d| now_ms() + d.as_millis() as u64)
            .map_err(|_| format!("{ahead:?} is not a duration (30s, 10m, 2h)")),
        None => parse_time(text),
    }
}

/// A duration above zero (`--dropped-within`).
fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!(
            "{text:?} is zero: give a duration above 0 (15m, 1h)"
        )),
        Err(_) => Err(format!("{text:?} is not a duration (15m, 1h)")),
    }
}

/// A client id argument: not empty, at most 128 bytes, not one of the status table's own keys
/// (the error echoes at most 60 characters of it).
pub fn parse_client_id(text: &str) -> Result<String, String> {
    match iot_presence::event::client_id_problem(text) {
        None => Ok(text.to_owned()),
        Some(problem) => {
            let shown: String = text.chars().take(60).collect();
            let more = if shown.len() < text.len() { "..." } else { "" };
            Err(format!("the client id {shown:?}{more} {problem}"))
        }
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
            window_ms: self.storm_window.as_millis() as u64,
        }
    }
}

/// A storm share, as the alerter's `STORM_MIN_SHARE` takes it.
fn parse_share(text: &str) -> Result<f64, String> {
    storm::parse_share(text).ok_or_else(|| format!("{text:?} is not {SHARE_EXPECTED}"))
}

/// A duration within `min..=max` ms; `examples` go into the message for text that is none.
fn bounded_ms(text: &str, min: u64, max: u64, examples: &str) -> Result<u64, String> {
    let ms = humantime::parse_duration(text)
        .map_err(|_| format!("{text:?} is not a duration ({examples})"))?
        .as_millis() as u64;
    if (min..=max).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!(
            "{text} is outside {}..={}",
            duration(min),
            duration(max)
        ))
    }
}

/// The storm window, within the alerter's `STORM_WINDOW_MS` bounds.
fn parse_storm_window(text: &str) -> Result<Duration, String> {
    bounded_ms(text, MIN_STORM_WINDOW_MS, MAX_STORM_WINDOW_MS, "30s, 2m").map(Duration::from_millis)
}

/// A threshold argument, in ms, within the stack parameter's bounds.
fn parse_threshold(text: &str) -> Result<u64, String> {
    bounded_ms(text, MIN_THRESHOLD_MS, MAX_THRESHOLD_MS, "90s, 15m, 2h")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_arguments() {
        assert_eq!(parse_time("2025-11-21T08:00:00Z"), Ok(1_763_712_000_000));
        let an_hour_ago = parse_time("1h").unwrap();
        assert!(now_ms() - an_hour_ago >= 3_600_000 && now_ms() - an_hour_ago < 3_700_000);
        assert!(parse_time("yesterday")
            .unwrap_err()
            .contains("neither a duration"));
    }

    /// Every command that takes a client id refuses an empty one, an over-long one and the
    /// status table's own keys (a threshold on the storm registry would write onto it).
    #[test]
    fn client_ids_are_checked_before_anything_runs() {
        let parse = |args: &[&str]| Cli::try_parse_from(args.iter().copied());
        let err = |args: &[&str]| parse(args).err().expect("refused").to_string();
        let long = "x".repeat(129);
        for id in [
            "",
            "$iot-presence/status-shards",
            "$iot-presence/storms",
            long.as_str(),
        ] {
            for args in [
                vec!["presence", "threshold", id, "5m"],
                vec!["presence", "status", id],
                vec!["presence", "history", id],
                vec!["presence", "rebuild", "--client", id],
                vec!["presence", "availability", id],
                vec!["presence", "reconcile", id],
            ] {
                let e = err(&args);
                assert!(e.contains("the client id"), "{args:?}: {e}");
            }
        }
        assert!(err(&["presence", "threshold", &long, "5m"]).contains("129 bytes"));
        assert!(err(&["presence", "status", "$iot-presence/storms"]).contains("reserved"));
        assert!(parse(&["presence", "threshold", "pump-7", "5m"]).is_ok());
    }

    #[test]
    fn threshold_bounds_are_the_librarys() {
        assert_eq!(parse_threshold("1m"), Ok(MIN_THRESHOLD_MS));
        assert_eq!(parse_threshold("7d"), Ok(MAX_THRESHOLD_MS));
        assert_eq!(
            parse_threshold("59s").unwrap_err(),
            "59s is outside 1m..=7d"
        );
        assert!(parse_threshold("8d").is_err());
    }

    #[test]
    fn flapping_and_window_bounds_are_the_librarys() {
        let parse = |args: &[&str]| Cli::try_parse_from(args.iter().copied());
        let pass = ["presence", "alert-pass", "--topic-arn", "arn:aws:sns:x"];
        let with = |extra: &[&'static str]| [&pass[..], extra].concat();
        assert!(parse(&with(&["--flapping-sessions", "1000"])).is_ok());
        assert!(parse(&with(&["--flapping-sessions", "1001"])).is_err());
        assert!(parse(&with(&["--flapping-window-ms", "60000"])).is_ok());
        assert!(parse(&with(&["--flapping-window-ms", "59999"])).is_err());
        assert!(parse(&with(&["--flapping-window-ms", "86400001"])).is_err());
        let rebuild = |w: &str| {
            parse(&["presence", "rebuild", "--all", "--window-ms", w]).map(|cli| {
                match cli.command {
                    Command::Rebuild { window_ms, .. } => window_ms,
                    _ => unreachable!(),
                }
            })
        };
        assert_eq!(rebuild("1800000").ok(), Some(MAX_WINDOW_MS));
        assert!(rebuild("1800001").is_err());
    }

    #[test]
    fn incident_and_list_arguments_are_checked() {
        let parse = |args: &[&str]| Cli::try_parse_from(args.iter().copied());
        let err = |args: &[&str]| parse(args).err().expect("refused").to_string();
        for bad in ["0s", "0", "-5m", "soon"] {
            let arg = format!("--dropped-within={bad}");
            let e = err(&["presence", "list", "--disconnected", &arg]);
            assert!(
                e.contains("--dropped-within") && e.contains(bad),
                "{bad}: {e}"
            );
        }
        assert!(
            err(&["presence", "list", "--connected", "--dropped-within", "5m"])
                .contains("cannot be used with")
        );
        let e = err(&["presence", "list", "--disconnected", "--sort", "random"]);
        assert!(e.contains("--sort") && e.contains("newest"), "{e}");
        for bad in ["0", "1.5", "-0.1", "NaN"] {
            let arg = format!("--storm-min-share={bad}");
            let e = err(&["presence", "incident", &arg]);
            assert!(
                e.contains("--storm-min-share") && e.contains("at most 1"),
                "{bad}: {e}"
            );
        }
        assert!(err(&["presence", "incident", "--storm-min-clients", "0"])
            .contains("--storm-min-clients"));
        for bad in ["0s", "5s", "2h"] {
            assert!(
                err(&["presence", "incident", "--storm-window", bad]).contains("--storm-window")
            );
        }
        assert!(parse(&["presence", "incident", "--storm-window", "10s"]).is_ok());
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

#[derive(Subcommand, Debug)]
pub enum ShardsAction {
    /// Re-key every status item to N shards, a page at a time, resumably (run it again after an
    /// interruption); listings stay complete meanwhile. Then deploy StatusShards=N.
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
        #[arg(long, value_parser = humantime::parse_duration, default_value = "30s", hide = true)]
        settle: Duration,
    },
}
