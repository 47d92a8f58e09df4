//! `cargo xtask replay`: replays lifecycle events through the function's Invoke API (`cargo
//! lambda watch`, started by scripts/replay.sh) and prints the status table and a summary.
//! Each event is POSTed exactly as it will arrive from the IoT rule; the status table is then
//! read by key (no Scan).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

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
                if let Some(id) = body["clientId"].as_str() {
                    clients.insert(id.to_owned());
                }
            }
            Err(body) => {
                let kind = body["errorType"].as_str().unwrap_or("");
                let message = body["errorMessage"].as_str().unwrap_or("None");
                if is_invalid(kind) {
                    *counts.entry("invalid").or_default() += 1;
                    eprintln!("invalid  {source}: {message}");
                } else {
                    *counts.entry("failed").or_default() += 1;
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
    // Invalid events are the input's fault and reported; a failure to record is ours.
    if c("failed") > 0 {
        return Err(format!("{} events failed", c("failed")).into());
    }
    Ok(())
}
