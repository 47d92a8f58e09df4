//! `cargo xtask replay`: replays lifecycle events through the function's Invoke API (`cargo
//! lambda watch`, started by scripts/replay.sh) and prints the status table and a summary.
//! Each event is POSTed exactly as it will arrive from the IoT rule; the status table is then
//! read by key (no Scan).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use iot_presence::rule::Outcome;
use iot_presence::telemetry::emf::Emf;
use iot_presence::telemetry::{self, label, name};

use crate::{events, Result};

#[derive(clap::Args)]
/// Replay event files through the function and print the status table
pub struct Args {
    /// Files or folders (read recursively, in name order): *.json (one event or an array),
    /// *.jsonl (one event per line)
    #[arg(default_value = "events")]
    paths: Vec<PathBuf>,
    /// The function's Invoke API URL
    #[arg(long)]
    invoke_url: String,
    /// The local DynamoDB endpoint
    #[arg(long)]
    endpoint: String,
    #[arg(long)]
    status_table: String,
    /// The function's log: its EMF metric lines are checked against the outcomes
    #[arg(long)]
    function_log: Option<PathBuf>,
    /// The deployment dimension the function was given (METRICS_DIMENSIONS), `Name=Value`
    #[arg(long, default_value = "Stack=replay")]
    metrics_dimension: String,
}

/// What the function said it did, counted as its metrics count it.
#[derive(Default)]
struct Seen {
    /// By outcome, including `invalid` (rejected by the handler) and `failed`.
    outcomes: BTreeMap<String, u64>,
    /// Inputs the runtime refused before the handler ran (not JSON): no metric.
    refused: u64,
    connects: u64,
    /// By `Reason` dimension.
    disconnects: BTreeMap<&'static str, u64>,
}

/// The outcomes the function answers, in the summary's order.
const OUTCOMES: [&str; 4] = ["applied", "stale", "duplicate", "recorded"];

/// The function rejected the input itself (InvalidEvent), or the runtime could not even
/// deserialize it (Lambda's Invoke API would refuse a non-JSON payload before that): both are
/// the input's fault, not a failure to record.
pub fn is_invalid(error_type: &str) -> bool {
    error_type == "InvalidEvent" || error_type.contains("DeserializeError")
}

pub async fn run(a: Args) -> Result {
    let events = events::load(&a.paths)?;
    if events.is_empty() {
        let paths: Vec<String> = a.paths.iter().map(|p| p.display().to_string()).collect();
        return Err(format!("replay: no events in {}", paths.join(" ")).into());
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut seen = Seen::default();
    let mut clients = BTreeSet::new();
    let tty = std::io::stderr().is_terminal();
    let every = Duration::from_millis(if tty { 200 } else { 2000 });
    let started = Instant::now();
    let mut last_report = started;
    for (done, (source, payload)) in events.iter().enumerate() {
        let done = done + 1;
        match events::invoke(&a.invoke_url, payload)? {
            Ok(body) => {
                let outcome = body["outcome"].as_str().unwrap_or("?");
                let known = OUTCOMES
                    .iter()
                    .find(|o| **o == outcome)
                    .ok_or_else(|| format!("{source}: unknown outcome {outcome:?}"))?;
                *counts.entry(known).or_default() += 1;
                *seen.outcomes.entry(outcome.to_owned()).or_default() += 1;
                let outcome: Outcome = serde_json::from_value(body["outcome"].clone())?;
                let redelivered = body["redelivered"].as_bool().unwrap_or(false);
                if telemetry::is_seen(outcome, redelivered) {
                    let event: serde_json::Value = serde_json::from_str(payload)?;
                    match body["eventType"].as_str() {
                        Some("connected") => seen.connects += 1,
                        Some("disconnected") => {
                            let reason = event["disconnectReason"].as_str();
                            *seen
                                .disconnects
                                .entry(telemetry::reason_dimension(reason))
                                .or_default() += 1;
                        }
                        _ => {}
                    }
                }
                if let Some(id) = body["clientId"].as_str() {
                    clients.insert(id.to_owned());
                }
            }
            Err(body) => {
                let kind = body["errorType"].as_str().unwrap_or("");
                let message = body["errorMessage"].as_str().unwrap_or("None");
                if is_invalid(kind) {
                    *counts.entry("invalid").or_default() += 1;
                    if kind == "InvalidEvent" {
                        *seen
                            .outcomes
                            .entry(telemetry::OUTCOME_INVALID.into())
                            .or_default() += 1;
                    } else {
                        seen.refused += 1;
                    }
                    eprintln!("invalid  {source}: {message}");
                } else {
                    *counts.entry("failed").or_default() += 1;
                    *seen
                        .outcomes
                        .entry(telemetry::OUTCOME_FAILED.into())
                        .or_default() += 1;
                    eprintln!("FAILED   {source}: {kind}: {message}");
                }
            }
        }
        let now = Instant::now();
        if done == events.len() || now - last_report >= every {
            last_report = now;
            let rate = done as f64 / (now - started).as_secs_f64().max(1e-9);
            let progress = format!("replayed {done}/{} events ({rate:.0}/s)", events.len());
            if tty {
                eprint!("\r{progress}");
                let _ = std::io::stderr().flush();
            } else {
                eprintln!("{progress}");
            }
        }
    }
    if tty {
        eprintln!();
    }

    let items = events::status_items(&a.endpoint, &a.status_table, &clients).await?;
    println!();
    let rows: Vec<Vec<String>> = items.values().map(events::row).collect();
    events::print_table(&rows);
    println!();
    let c = |k: &str| counts.get(k).copied().unwrap_or(0);
    println!(
        "{} events: applied {}, stale {}, duplicate {}, recorded {}, invalid {}, failed {}; {} clients",
        events.len(),
        c("applied"),
        c("stale"),
        c("duplicate"),
        c("recorded"),
        c("invalid"),
        c("failed"),
        items.len()
    );
    if let Some(log) = &a.function_log {
        check_metrics(log, &a.metrics_dimension, &seen, events.len() as u64)?;
    }
    // Invalid events are the input's fault and reported; a failure to record is ours.
    if c("failed") > 0 {
        return Err(format!("{} events failed", c("failed")).into());
    }
    Ok(())
}

/// The function's EMF lines agree with what it answered: events by outcome, connects,
/// disconnects by reason, one latency sample per handled event, one cold start.
fn check_metrics(log: &Path, dimension: &str, seen: &Seen, events: u64) -> Result {
    let (key, value) = dimension
        .split_once('=')
        .ok_or_else(|| format!("--metrics-dimension {dimension:?}: expected Name=Value"))?;
    // The function flushes after each invocation; give the last lines a moment to land.
    std::thread::sleep(Duration::from_millis(500));
    let text = std::fs::read_to_string(log)
        .map_err(|e| format!("reading the function log {}: {e}", log.display()))?;
    let emf = Emf::parse(&text, telemetry::DEFAULT_NAMESPACE, &[(key, value)])
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let mut problems = Vec::new();
    let mut check = |what: String, metric: f64, expected: u64| {
        if metric != expected as f64 {
            problems.push(format!(
                "{what}: metrics say {metric}, the function answered {expected}"
            ));
        }
    };
    let outcomes: BTreeSet<&str> = seen
        .outcomes
        .keys()
        .map(String::as_str)
        .chain(Outcome::ALL.map(Outcome::as_str))
        .chain([telemetry::OUTCOME_INVALID, telemetry::OUTCOME_FAILED])
        .collect();
    for outcome in outcomes {
        let expected = seen.outcomes.get(outcome).copied().unwrap_or(0);
        check(
            format!("{} {outcome}", name::EVENTS),
            emf.sum(name::EVENTS, Some((label::OUTCOME, outcome))),
            expected,
        );
    }
    check(
        name::CONNECTS.into(),
        emf.sum(name::CONNECTS, None),
        seen.connects,
    );
    let reasons: u64 = seen.disconnects.values().sum();
    check(
        name::DISCONNECTS.into(),
        emf.sum(name::DISCONNECTS, None),
        reasons,
    );
    for (reason, count) in &seen.disconnects {
        check(
            format!("{} {reason}", name::DISCONNECTS),
            emf.sum(name::DISCONNECTS, Some((label::REASON, reason))),
            *count,
        );
    }
    let handled = events - seen.refused;
    check(
        format!("{} samples", name::HANDLER_LATENCY),
        emf.samples(name::HANDLER_LATENCY) as f64,
        handled,
    );
    check(
        name::COLD_STARTS.into(),
        emf.sum(name::COLD_STARTS, None),
        1,
    );
    if !problems.is_empty() {
        return Err(format!(
            "the function's EMF metrics disagree:\n  {}",
            problems.join("\n  ")
        )
        .into());
    }
    println!(
        "metrics: {} EMF lines ({} bytes, {:.0} bytes per handled event) agree with the outcomes: \
         {} events by outcome, {} connects, {reasons} disconnects by reason, {handled} latency samples, 1 cold start",
        emf.lines,
        emf.bytes,
        emf.bytes as f64 / handled.max(1) as f64,
        handled,
        seen.connects,
    );
    Ok(())
}
