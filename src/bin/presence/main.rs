//! `presence`: the read side of iot-presence, for operators and scripts.
//!
//! Exit codes: 0 success, 1 a requested client is unknown, 2 usage error (including missing
//! table names), 3 the tables could not be read or written (or an alert pass had failures).

mod availability;
mod reconcile;
mod redrive;

use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use clap::{ArgGroup, Parser, Subcommand, ValueEnum};
use comfy_table::{presets, Cell, Color, Table};
use indicatif::{ProgressBar, ProgressStyle};
use iot_presence::alert::pass::{Alerter, RunReport};
use iot_presence::config::AlertSettings;
use iot_presence::config::{
    aws_config, Config, Timeouts, ALERT_TOPIC_VAR, EVENTS_TABLE_VAR, FLAPPING_SESSIONS_VAR,
    FLAPPING_WINDOW_VAR, MAX_THRESHOLD_MS, MIN_THRESHOLD_MS, OFFLINE_THRESHOLDS_VAR,
    OFFLINE_THRESHOLD_VAR, STATUS_TABLE_VAR,
};
use iot_presence::errors::error_chain;
use iot_presence::event::Presence;
use iot_presence::read::{ReadError, Summary};
use iot_presence::rebuild::Rebuilt;
use iot_presence::rule::Window;
use iot_presence::store::item::{EventRow, Status};
use iot_presence::store::{Store, StoreError};
use iot_presence::thresholds::ThresholdPatterns;
use iot_presence::time::now_ms;
use serde_json::{json, Map, Value};
use tokio::task::JoinSet;

#[derive(Parser)]
#[command(
    name = "presence",
    version,
    about = "Who is online, since when, and why it dropped: \
    reads the iot-presence tables."
)]
struct Cli {
    /// The status table [env: STATUS_TABLE_NAME]
    #[arg(long, global = true, env = STATUS_TABLE_VAR, hide_env = true)]
    status_table: Option<String>,
    /// The event table [env: EVENTS_TABLE_NAME]
    #[arg(long, global = true, env = EVENTS_TABLE_VAR, hide_env = true)]
    events_table: Option<String>,
    /// DynamoDB endpoint, e.g. a local server (default: AWS_ENDPOINT_URL_DYNAMODB or AWS's)
    #[arg(long, global = true)]
    endpoint_url: Option<String>,
    /// Give up on a DynamoDB request after this long (e.g. 30s, 5m)
    #[arg(long, global = true, value_parser = humantime::parse_duration, default_value = "2m")]
    timeout: Duration,
    /// Output format: aligned tables for people, JSON (JSON Lines for lists) for scripts
    #[arg(long, short, global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// One client's connectivity (like `aws iot get-thing-connectivity-data`)
    Status {
        client_id: String,
        /// Include network details (the client's IP address)
        #[arg(long)]
        include_socket_information: bool,
        /// Show the principal (a certificate id, or for IAM principals `KEYID:identity`, which
        /// can be an e-mail address): personal data, so hidden unless asked for
        #[arg(long)]
        show_principal: bool,
    },
    /// Connected or disconnected clients, longest in that state first
    #[command(group(ArgGroup::new("state").required(true).args(["connected", "disconnected"])))]
    List {
        #[arg(long)]
        connected: bool,
        #[arg(long)]
        disconnected: bool,
        /// Only clients offline for at least this long (e.g. 10m, 2h, 1d)
        #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "connected")]
        offline_for: Option<Duration>,
        /// At most this many clients
        #[arg(long)]
        limit: Option<usize>,
        /// Items per DynamoDB query page (testing; DynamoDB's own limit is 1 MB a page)
        #[arg(long, hide = true)]
        page_size: Option<i32>,
    },
    /// One client's event log, oldest first, with each event's outcome
    History {
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
    /// Set a client's own offline-alert threshold (overrides the stack's OfflineThresholdMs)
    #[command(group(ArgGroup::new("value").required(true).args(["threshold", "clear"])))]
    Threshold {
        client_id: String,
        /// Offline time before an alert, 1m to 7d (e.g. 90s, 15m, 2h)
        #[arg(value_parser = parse_threshold)]
        threshold: Option<u64>,
        /// Remove the client's threshold: the stack default applies again
        #[arg(long)]
        clear: bool,
    },
    /// Run one alert pass, as the scheduled function does every minute, on the real clock or a
    /// simulated one (--at): local runs, backfills, and checking settings
    AlertPass {
        /// The SNS topic alerts go to (the stack output AlertTopicArn) [env: ALERT_TOPIC_ARN]
        #[arg(long, env = ALERT_TOPIC_VAR, hide_env = true)]
        topic_arn: String,
        /// Act as if it were this time: a duration ago (1h), a duration ahead (+10m) or RFC 3339
        #[arg(long, value_parser = parse_time_or_ahead)]
        at: Option<u64>,
        /// Default offline threshold in ms [env: OFFLINE_THRESHOLD_MS]
        #[arg(long, env = OFFLINE_THRESHOLD_VAR, hide_env = true,
              default_value_t = AlertSettings::DEFAULT.offline_threshold_ms,
              value_parser = clap::value_parser!(u64).range(MIN_THRESHOLD_MS..=MAX_THRESHOLD_MS))]
        offline_threshold_ms: u64,
        /// Thresholds by client-id pattern, first match wins: `sensor-*=30m,gw-*=2m` (a
        /// client's own threshold still comes first) [env: OFFLINE_THRESHOLDS]
        #[arg(long, env = OFFLINE_THRESHOLDS_VAR, hide_env = true, default_value = "")]
        offline_thresholds: ThresholdPatterns,
        /// Sessions within the window that make flapping; 0 turns it off [env: FLAPPING_SESSIONS]
        #[arg(long, env = FLAPPING_SESSIONS_VAR, hide_env = true,
              default_value_t = AlertSettings::DEFAULT.flapping_sessions)]
        flapping_sessions: u32,
        /// The flapping window in ms [env: FLAPPING_WINDOW_MS]
        #[arg(long, env = FLAPPING_WINDOW_VAR, hide_env = true,
              default_value_t = AlertSettings::DEFAULT.flapping_window_ms)]
        flapping_window_ms: u64,
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
        #[arg(long)]
        client: Option<String>,
        /// Every client in the event log (scans the event table)
        #[arg(long)]
        all: bool,
        /// Clear the status first so that the log alone decides (e.g. after changing the
        /// window); settings on the item are kept
        #[arg(long)]
        reset: bool,
        /// The ordering rule's window W in ms (default: TIMESTAMP_WINDOW_MS or 120000)
        #[arg(long, env = "TIMESTAMP_WINDOW_MS", hide_env = true)]
        window_ms: Option<u64>,
    },
}

/// A time argument: a duration ago, or an RFC 3339 time. Milliseconds since the epoch.
fn parse_time(text: &str) -> Result<u64, String> {
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

/// A threshold argument, in ms, within the stack parameter's bounds.
fn parse_threshold(text: &str) -> Result<u64, String> {
    let ms = humantime::parse_duration(text)
        .map_err(|_| format!("{text:?} is not a duration (90s, 15m, 2h)"))?
        .as_millis() as u64;
    if (MIN_THRESHOLD_MS..=MAX_THRESHOLD_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!("{text} is outside 1m..=7d"))
    }
}

fn iso(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn iso_seconds(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// "3m ago": the elapsed time in its largest unit (s, m, h, d).
fn ago(now: u64, then: u64) -> String {
    let secs = now.saturating_sub(then) / 1000;
    let (value, unit) = [(86_400, "d"), (3_600, "h"), (60, "m")]
        .into_iter()
        .find(|(size, _)| secs >= *size)
        .map_or((secs, "s"), |(size, unit)| (secs / size, unit));
    format!("{value}{unit} ago")
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn table() -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t
}

fn state_color(connected: bool) -> Color {
    if connected {
        Color::Green
    } else {
        Color::Red
    }
}

fn state_cell(connected: bool) -> Cell {
    Cell::new(if connected { "yes" } else { "no" }).fg(state_color(connected))
}

/// The shape of `aws iot get-thing-connectivity-data`, plus ours.
fn status_json(client_id: &str, status: Option<&Status>, socket: bool, principal: bool) -> Value {
    let Some(st) = status else {
        return json!({"clientId": client_id, "connected": false, "disconnectReason": "UNKNOWN"});
    };
    let mut v = Map::new();
    v.insert("clientId".into(), json!(st.client_id));
    if let Some(thing) = &st.thing_name {
        v.insert("thingName".into(), json!(thing));
    }
    v.insert("connected".into(), json!(st.connected));
    if let Some(ts) = st.event_timestamp {
        v.insert("timestamp".into(), json!(iso(ts)));
    }
    let reason = match (&st.disconnect_reason, st.connected) {
        (_, true) => "NONE".to_owned(),
        (Some(r), false) => r.clone(),
        (None, false) => "UNKNOWN".to_owned(),
    };
    v.insert("disconnectReason".into(), json!(reason));
    if let Some(session) = &st.session_identifier {
        v.insert("sessionIdentifier".into(), json!(session));
    }
    if let Some(version) = st.version_number {
        v.insert("versionNumber".into(), json!(version));
    }
    if let Some(at) = st.connected_at {
        v.insert("connectedSince".into(), json!(iso(at)));
    }
    if let Some(at) = st.disconnected_at {
        v.insert("disconnectedSince".into(), json!(iso(at)));
    }
    if let Some(initiated) = st.client_initiated_disconnect {
        v.insert("clientInitiatedDisconnect".into(), json!(initiated));
    }
    if let Some(at) = st.reconciled_at {
        v.insert("reconciledAt".into(), json!(iso(at)));
    }
    if let Some(facts) = &st.broker() {
        v.insert("cleanSession".into(), json!(facts.clean_session));
        v.insert("sessionExpiry".into(), json!(facts.session_expiry));
        v.insert("keepAliveDuration".into(), json!(facts.keep_alive_duration));
        v.insert("brokerCheckedAt".into(), json!(iso(facts.checked_at)));
    }
    if principal {
        v.insert("principal".into(), json!(st.principal_identifier));
    }
    if socket {
        v.insert("sourceIp".into(), json!(st.ip_address));
    }
    Value::Object(v)
}

fn print_status(
    client_id: &str,
    status: Option<&Status>,
    socket: bool,
    principal: bool,
    format: Format,
) {
    if format == Format::Json {
        println!("{}", status_json(client_id, status, socket, principal));
        return;
    }
    let Some(st) = status else {
        println!("{client_id}: never seen (no lifecycle event recorded); disconnectReason UNKNOWN");
        return;
    };
    let now = now_ms();
    let mut t = table();
    let since = st.since().map_or("-".to_owned(), |s| {
        format!("since {} ({})", iso_seconds(s), ago(now, s))
    });
    t.add_row(vec![Cell::new("client"), Cell::new(&st.client_id)]);
    t.add_row(vec![
        Cell::new("thing"),
        Cell::new(opt(st.thing_name.as_ref())),
    ]);
    let state = if st.connected { "yes" } else { "no" };
    t.add_row(vec![
        Cell::new("connected"),
        Cell::new(format!("{state}, {since}")).fg(state_color(st.connected)),
    ]);
    if !st.connected {
        let reason = st.disconnect_reason.as_deref().unwrap_or("UNKNOWN");
        let who = match st.client_initiated_disconnect {
            Some(true) => " (client initiated)",
            Some(false) => " (not client initiated)",
            None => "",
        };
        t.add_row(vec![
            Cell::new("reason"),
            Cell::new(format!("{reason}{who}")),
        ]);
        if let Some(at) = st.connected_at {
            t.add_row(vec![
                Cell::new("last session"),
                Cell::new(format!("connected {}", iso_seconds(at))),
            ]);
        }
    }
    let session = match st.reconciled_at {
        // A repair carries no session (see `iot_presence::reconcile`).
        Some(at) => format!(
            "unknown: set from the broker by reconcile {}",
            iso_seconds(at)
        ),
        None => format!(
            "{} (version {})",
            opt(st.session_identifier.as_ref()),
            opt(st.version_number)
        ),
    };
    t.add_row(vec![Cell::new("session"), Cell::new(session)]);
    if let Some(facts) = &st.broker() {
        let kind = if facts.clean_session {
            "clean session".to_owned()
        } else {
            format!("persistent session, expiry {} s", facts.session_expiry)
        };
        let detection = facts
            .dead_client_detection_ms()
            .map_or(String::new(), |ms| {
                format!(", a dead client shows up within {} s", ms / 1000)
            });
        t.add_row(vec![
            Cell::new("broker"),
            Cell::new(format!(
                "{kind}, keep-alive {} s{detection} (asked {})",
                facts.keep_alive_duration,
                iso_seconds(facts.checked_at)
            )),
        ]);
    }
    if principal {
        t.add_row(vec![
            Cell::new("principal"),
            Cell::new(opt(st.principal_identifier.as_ref())),
        ]);
    }
    if socket {
        t.add_row(vec![
            Cell::new("ip"),
            Cell::new(opt(st.ip_address.as_ref())),
        ]);
    }
    println!("{}", t.trim_fmt());
}

fn print_list(statuses: &[Status], format: Format) {
    if format == Format::Json {
        for st in statuses {
            println!("{}", status_json(&st.client_id, Some(st), false, false));
        }
        return;
    }
    let now = now_ms();
    let mut t = table();
    t.set_header(vec![
        "CLIENT",
        "CONNECTED",
        "SINCE",
        "FOR",
        "REASON",
        "VERSION",
        "THING",
    ]);
    for st in statuses {
        let since = st.since();
        t.add_row(vec![
            Cell::new(&st.client_id),
            state_cell(st.connected),
            Cell::new(since.map_or("-".into(), iso_seconds)),
            Cell::new(since.map_or("-".into(), |s| ago(now, s).replace(" ago", ""))),
            Cell::new(st.disconnect_reason.as_deref().unwrap_or("-")),
            Cell::new(opt(st.version_number)),
            Cell::new(opt(st.thing_name.as_ref())),
        ]);
    }
    println!("{}", t.trim_fmt());
    println!("{} clients", statuses.len());
}

fn print_history(entries: &[EventRow], format: Format) {
    if format == Format::Json {
        for e in entries {
            println!(
                "{}",
                json!({
                    "eventKey": e.event_key,
                    "timestamp": iso(e.event_timestamp),
                    "eventType": e.event_type,
                    "sessionIdentifier": e.session_identifier,
                    "versionNumber": e.version_number,
                    "outcome": e.outcome,
                    "disconnectReason": e.disconnect_reason,
                    "receivedAt": e.received_at.map(iso),
                })
            );
        }
        return;
    }
    let mut t = table();
    t.set_header(vec![
        "TIME", "EVENT", "SESSION", "VERSION", "OUTCOME", "REASON",
    ]);
    for e in entries {
        let outcome = Cell::new(e.outcome.as_str());
        let outcome = match e.outcome {
            iot_presence::rule::Outcome::Applied => outcome.fg(Color::Green),
            iot_presence::rule::Outcome::Recorded => outcome,
            _ => outcome.fg(Color::Yellow),
        };
        t.add_row(vec![
            Cell::new(iso(e.event_timestamp)),
            Cell::new(&e.event_type),
            Cell::new(e.session_identifier.chars().take(8).collect::<String>()),
            Cell::new(opt(e.version_number)),
            outcome,
            Cell::new(e.disconnect_reason.as_deref().unwrap_or("")),
        ]);
    }
    println!("{}", t.trim_fmt());
    println!("{} events", entries.len());
}

fn print_summary(s: &Summary, format: Format) {
    if format == Format::Json {
        let reasons: Map<String, Value> = s
            .reasons
            .iter()
            .map(|(r, c)| (r.clone(), json!(c)))
            .collect();
        println!(
            "{}",
            json!({
                "connected": s.connected,
                "disconnected": s.disconnected,
                "offlineFor": {"under5m": s.offline[0], "under1h": s.offline[1],
                               "under1d": s.offline[2], "longer": s.offline[3]},
                "disconnectReasons": reasons,
                "alerted": s.alerted.iter().map(|a| json!({
                    "clientId": a.client_id, "kind": a.kind, "since": iso(a.since),
                    "alertedAt": iso(a.alerted_at), "disconnectReason": a.reason,
                })).collect::<Vec<_>>(),
            })
        );
        return;
    }
    let mut t = table();
    t.add_row(vec![
        Cell::new("connected"),
        Cell::new(s.connected).fg(Color::Green),
    ]);
    t.add_row(vec![
        Cell::new("disconnected"),
        Cell::new(s.disconnected).fg(Color::Red),
    ]);
    for (label, count) in ["  < 5 m", "  < 1 h", "  < 1 d", "  longer"]
        .iter()
        .zip(s.offline)
    {
        t.add_row(vec![Cell::new(label), Cell::new(count)]);
    }
    println!("{}", t.trim_fmt());
    if !s.reasons.is_empty() {
        let mut r = table();
        r.set_header(vec!["DISCONNECT REASON", "CLIENTS"]);
        for (reason, count) in s.reasons.iter().take(10) {
            r.add_row(vec![Cell::new(reason), Cell::new(count)]);
        }
        println!("\n{}", r.trim_fmt());
    }
    let now = now_ms();
    if s.alerted.is_empty() {
        println!("\nno alerts standing");
    } else {
        let mut a = table();
        a.set_header(vec!["ALERTED CLIENT", "ALERT", "SINCE", "FOR", "REASON"]);
        for alerted in s.alerted.iter().take(50) {
            a.add_row(vec![
                Cell::new(&alerted.client_id),
                Cell::new(alerted.kind).fg(Color::Red),
                Cell::new(iso_seconds(alerted.since)),
                Cell::new(ago(now, alerted.since).replace(" ago", "")),
                Cell::new(alerted.reason.as_deref().unwrap_or("")),
            ]);
        }
        println!("\n{}", a.trim_fmt());
        let more = s.alerted.len().saturating_sub(50);
        let tail = if more > 0 {
            format!(" ({more} not shown; -o json lists all)")
        } else {
            String::new()
        };
        println!("{} clients alerted{tail}", s.alerted.len());
    }
}

fn print_pass(at: u64, report: &RunReport, format: Format) {
    if format == Format::Json {
        println!("{}", json!({"at": iso(at), "report": report}));
        return;
    }
    println!(
        "alert pass at {}: {} due, sent {} offline, {} back-online, {} flapping; {} scheduled, {} settled, {} skipped, {} raced",
        iso_seconds(at),
        report.due,
        report.offline,
        report.back_online,
        report.flapping,
        report.scheduled,
        report.settled,
        report.skipped,
        report.raced
    );
    for err in &report.errors {
        eprintln!("presence: {err}");
    }
}

fn print_rebuilt(r: &Rebuilt, format: Format) {
    let state = r.status.as_ref().map(|s| s.connected);
    if format == Format::Json {
        println!(
            "{}",
            json!({"clientId": r.client_id, "events": r.events, "applied": r.applied,
                   "connected": state, "sessionIdentifier": r.status.as_ref().and_then(|s| s.session_identifier.clone())})
        );
    } else {
        let state = match state {
            Some(true) => "connected",
            Some(false) => "disconnected",
            None => "no status",
        };
        println!(
            "{}: {} events replayed, {} applied; now {state}",
            r.client_id, r.events, r.applied
        );
    }
}

enum Failure {
    Usage(String),
    Unknown,
    Read(ReadError),
    Write(StoreError),
    /// A queue could not be read (the message names the queue and the cause).
    Queue(String),
    /// Reported already.
    Pass,
    /// Work left undone, reported already: `redrive` left messages in the queue, or
    /// `reconcile` checks failed.
    Left,
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        Failure::Write(err)
    }
}

impl From<ReadError> for Failure {
    fn from(err: ReadError) -> Self {
        Failure::Read(err)
    }
}

fn hint(message: &str) -> &'static str {
    if message.contains("NonExistentQueue") || message.contains("QueueDoesNotExist") {
        "check --queue: the stack outputs FailedEventsQueueUrl and RuleErrorsQueueUrl, in this region"
    } else if message.contains("ResourceNotFound") {
        "check --status-table/--events-table (or STATUS_TABLE_NAME/EVENTS_TABLE_NAME) and the region (AWS_REGION)"
    } else if message.contains("credentials") || message.contains("Credentials") {
        "configure AWS credentials (AWS_PROFILE, aws configure, or an instance role)"
    } else if message.contains("dispatch failure") || message.contains("timeout") {
        "check the endpoint (--endpoint-url, AWS_ENDPOINT_URL_DYNAMODB) and the network"
    } else {
        "see the cause above"
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let needs_events = matches!(
        cli.command,
        Command::History { .. }
            | Command::Rebuild { .. }
            | Command::AlertPass { .. }
            | Command::Availability(_)
            | Command::Redrive(_)
            | Command::Reconcile(_)
    );
    let needs_status = !matches!(cli.command, Command::History { .. });
    let status_table = cli.status_table.clone().unwrap_or_default();
    let events_table = cli.events_table.clone().unwrap_or_default();
    if needs_status && status_table.is_empty() {
        return Err(Failure::Usage(format!(
            "no status table: pass --status-table or set {STATUS_TABLE_VAR} (the stack output StatusTableName)"
        )));
    }
    if needs_events && events_table.is_empty() {
        return Err(Failure::Usage(format!(
            "no event table: pass --events-table or set {EVENTS_TABLE_VAR} (the stack output EventsTableName)"
        )));
    }
    let window = match &cli.command {
        Command::Rebuild {
            window_ms: Some(w), ..
        } => Window(*w),
        _ => Window::DEFAULT,
    };
    let config = if matches!(cli.command, Command::Redrive(_) | Command::Reconcile(_)) {
        // Redriven events and repairs are written as the function writes events: with its
        // settings (TIMESTAMP_WINDOW_MS, EVENT_RETENTION_DAYS, FUTURE_SKEW_MS,
        // STATUS_RETENTION_DAYS) when they are set, validated the same way.
        let (status, events) = (status_table.clone(), events_table.clone());
        Config::from_lookup(|var| match var {
            STATUS_TABLE_VAR => Some(status.clone()),
            EVENTS_TABLE_VAR => Some(events.clone()),
            other => std::env::var(other).ok(),
        })
        .map_err(|err| Failure::Usage(err.to_string()))?
    } else {
        Config {
            window,
            ..Config::with_tables(status_table, events_table)
        }
    };
    let timeouts = Timeouts {
        attempt: cli.timeout,
        operation: cli.timeout,
    };
    let sdk = aws_config(cli.endpoint_url.as_deref(), timeouts).await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config);
    let format = cli.output;
    match cli.command {
        Command::Status {
            client_id,
            include_socket_information,
            show_principal,
        } => {
            let status = store.status(&client_id).await?;
            print_status(
                &client_id,
                status.as_ref(),
                include_socket_information,
                show_principal,
                format,
            );
            if status.is_none() {
                return Err(Failure::Unknown);
            }
        }
        Command::List {
            connected,
            offline_for,
            limit,
            page_size,
            ..
        } => {
            let (presence, before) = if connected {
                (Presence::Connected, None)
            } else {
                let before = offline_for.map(|d| now_ms().saturating_sub(d.as_millis() as u64));
                (Presence::Disconnected, before)
            };
            let statuses = store.list(presence, before, limit, page_size).await?;
            print_list(&statuses, format);
        }
        Command::History {
            client_id,
            since,
            until,
        } => {
            let entries = store.history(&client_id, since, until).await?;
            if entries.is_empty() && since.is_none() && until.is_none() {
                eprintln!("presence: no events recorded for {client_id:?}");
                return Err(Failure::Unknown);
            }
            print_history(&entries, format);
        }
        Command::Summary => print_summary(&store.summary(now_ms()).await?, format),
        Command::Threshold {
            client_id,
            threshold,
            ..
        } => {
            store
                .set_offline_threshold(&client_id, threshold, now_ms())
                .await?;
            match (threshold, format) {
                (_, Format::Json) => println!(
                    "{}",
                    json!({"clientId": client_id, "offlineThresholdMs": threshold})
                ),
                (Some(ms), Format::Table) => println!(
                    "{client_id}: offline alerts after {} (takes effect at the next alert pass)",
                    humantime::format_duration(Duration::from_millis(ms))
                ),
                (None, Format::Table) => {
                    println!("{client_id}: the stack's offline threshold applies again")
                }
            }
        }
        Command::AlertPass {
            topic_arn,
            at,
            offline_threshold_ms,
            offline_thresholds,
            flapping_sessions,
            flapping_window_ms,
        } => {
            let settings = AlertSettings {
                offline_threshold_ms,
                flapping_sessions,
                flapping_window_ms,
                thresholds: offline_thresholds,
            };
            let alerter = Alerter::new(store, aws_sdk_sns::Client::new(&sdk), topic_arn, settings);
            let at = at.unwrap_or_else(now_ms);
            let report = alerter.run(at).await;
            print_pass(at, &report, format);
            if !report.errors.is_empty() {
                return Err(Failure::Pass);
            }
        }
        Command::Availability(args) => availability::run(&store, args, format, now_ms()).await?,
        Command::Redrive(args) => {
            redrive::run(&store, &aws_sdk_sqs::Client::new(&sdk), args, format).await?
        }
        Command::Reconcile(args) => reconcile::run(&store, args, timeouts, format).await?,
        Command::Rebuild {
            client, all, reset, ..
        } => {
            if let Some(client_id) = client {
                let rebuilt = store.rebuild(&client_id, reset, now_ms()).await?;
                print_rebuilt(&rebuilt, format);
                if rebuilt.events == 0 {
                    eprintln!("presence: no events recorded for {client_id:?}");
                    return Err(Failure::Unknown);
                }
            } else if all {
                rebuild_all(&store, reset, format).await?;
            }
        }
    }
    Ok(())
}

/// Rebuilds every client in the event log, 8 at a time, with a progress bar on a terminal.
async fn rebuild_all(store: &Store, reset: bool, format: Format) -> Result<(), Failure> {
    const PARALLEL: usize = 8;
    let ids = store.all_client_ids().await?;
    let progress = ProgressBar::new(ids.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} clients, {per_sec}, eta {eta}")
            .expect("valid template"),
    );
    let mut pending = ids.into_iter();
    let mut tasks = JoinSet::new();
    let (mut clients, mut events, mut applied) = (0, 0, 0);
    loop {
        while tasks.len() < PARALLEL {
            let Some(id) = pending.next() else { break };
            let store = store.clone();
            tasks.spawn(async move { store.rebuild(&id, reset, now_ms()).await });
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let rebuilt = done.expect("rebuild task panicked")?;
        progress.inc(1);
        if format == Format::Json {
            progress.suspend(|| print_rebuilt(&rebuilt, format));
        }
        clients += 1;
        events += rebuilt.events;
        applied += rebuilt.applied;
    }
    progress.finish_and_clear();
    if format == Format::Table {
        println!("rebuilt {clients} clients: {events} events replayed, {applied} applied");
    }
    Ok(())
}

fn aws_failure(err: &dyn std::error::Error) -> ExitCode {
    let message = error_chain(err);
    eprintln!("presence: {message}\nhint: {}", hint(&message));
    ExitCode::from(3)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Unknown) => ExitCode::from(1),
        Err(Failure::Usage(message)) => {
            eprintln!("presence: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Read(err)) => aws_failure(&err),
        Err(Failure::Write(err)) => aws_failure(&err),
        Err(Failure::Queue(message)) => {
            eprintln!("presence: {message}\nhint: {}", hint(&message));
            ExitCode::from(3)
        }
        Err(Failure::Pass) => ExitCode::from(3),
        Err(Failure::Left) => ExitCode::from(4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ago_uses_the_largest_unit() {
        let now = 10 * 86_400_000;
        assert_eq!(ago(now, now - 5_000), "5s ago");
        assert_eq!(ago(now, now - 185_000), "3m ago");
        assert_eq!(ago(now, now - 7_300_000), "2h ago");
        assert_eq!(ago(now, now - 3 * 86_400_000 - 5), "3d ago");
        assert_eq!(ago(now, 0), "10d ago");
        assert_eq!(ago(now, now), "0s ago");
    }

    #[test]
    fn time_arguments() {
        assert_eq!(parse_time("2025-11-21T08:00:00Z"), Ok(1_763_712_000_000));
        let an_hour_ago = parse_time("1h").unwrap();
        assert!(now_ms() - an_hour_ago >= 3_600_000 && now_ms() - an_hour_ago < 3_700_000);
        assert!(parse_time("yesterday")
            .unwrap_err()
            .contains("neither a duration"));
    }

    #[test]
    fn unknown_clients_look_like_the_connectivity_api() {
        assert_eq!(
            status_json("x", None, false, false),
            json!({"clientId": "x", "connected": false, "disconnectReason": "UNKNOWN"})
        );
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
