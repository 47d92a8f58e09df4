//! `cargo xtask alerts-demo`: plays an alert timeline on a simulated clock. Events go through
//! the real function, alert passes through `presence alert-pass --at`, alerts are read from an
//! SQS queue subscribed to the local SNS topic.
//!
//! The timeline (JSON Lines, one lifecycle event per line) is shifted so that its first event
//! happens now; the clock then advances a simulated minute at a time, as the scheduled alerter
//! would, running one pass per minute and delivering each event when the clock reaches it.
//! `--expect` names the alerts the timeline must produce (kind:client, in any order); any
//! difference fails the run, so CI checks the whole path: function -> tables -> alerter -> SNS.

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName};
use serde_json::Value;

use crate::{events, local, Result};

const MINUTE: u64 = 60_000;

#[derive(clap::Args)]
/// Play an alert timeline on a simulated clock and check the alerts that arrive
pub struct Args {
    #[command(flatten)]
    tables: local::Tables,
    timeline: PathBuf,
    #[arg(long)]
    invoke_url: String,
    /// The function's simulated clock (the file its SIMULATED_CLOCK_FILE names): set to each
    /// simulated minute before the events due by then are sent, so that they are received on
    /// the simulated clock; removed at the end (the host's clock again)
    #[arg(long)]
    clock_file: PathBuf,
    /// The presence CLI binary
    #[arg(long)]
    presence: PathBuf,
    /// Simulated minutes after the last event
    #[arg(long, default_value_t = 12)]
    minutes_after: u64,
    /// kind:client alerts the timeline must produce
    #[arg(long, num_args = 0..)]
    expect: Vec<String>,
}

/// The function's receipt clock while the timeline plays (the handler's `simulated-clock`
/// build reads it); the file goes when the run ends, however it ends.
struct SimulatedClock<'a>(&'a std::path::Path);

impl SimulatedClock<'_> {
    fn set(&self, ms: u64) -> Result {
        // Written whole, then renamed: the function never reads half a number.
        let next = self.0.with_extension("next");
        std::fs::write(&next, ms.to_string())?;
        std::fs::rename(&next, self.0).map_err(|e| format!("{}: {e}", self.0.display()).into())
    }
}

impl Drop for SimulatedClock<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

fn iso(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

struct Queue {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

/// An SNS topic with an SQS queue subscribed to it; returns the topic ARN and the queue.
async fn subscribed_queue(endpoint: &str) -> Result<(String, Queue)> {
    let config = local::sdk_config(endpoint)?;
    let (sns, sqs) = (
        aws_sdk_sns::Client::new(&config),
        aws_sdk_sqs::Client::new(&config),
    );
    let topic = local::create_topic(&sns, "presence-alerts").await?;
    let url = sqs
        .create_queue()
        .queue_name("presence-alerts")
        .send()
        .await
        .map_err(|e| local::sdk_error("CreateQueue", e))?
        .queue_url
        .ok_or("CreateQueue: no QueueUrl")?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| local::sdk_error("GetQueueAttributes", e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or("GetQueueAttributes: no QueueArn")?;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(arn)
        .send()
        .await
        .map_err(|e| local::sdk_error("Subscribe", e))?;
    Ok((topic, Queue { sqs, url }))
}

/// Every message waiting: (subject, raw message, parsed message).
async fn drain(q: &Queue) -> Result<Vec<(String, String, Value)>> {
    let mut received = Vec::new();
    // Bounded: a pass publishes at most a few alerts per client of the timeline.
    for _ in 0..1000 {
        let messages = q
            .sqs
            .receive_message()
            .queue_url(&q.url)
            .max_number_of_messages(10)
            .send()
            .await
            .map_err(|e| local::sdk_error("ReceiveMessage", e))?
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            return Ok(received);
        }
        let mut entries = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let envelope: Value = serde_json::from_str(m.body().unwrap_or(""))?;
            let raw = envelope["Message"]
                .as_str()
                .ok_or("SNS envelope without Message")?;
            let subject = envelope["Subject"].as_str().unwrap_or("").to_owned();
            received.push((subject, raw.to_owned(), serde_json::from_str(raw)?));
            entries.push(
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or(""))
                    .build()?,
            );
        }
        q.sqs
            .delete_message_batch()
            .queue_url(&q.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| local::sdk_error("DeleteMessageBatch", e))?;
    }
    Err("alerts: the queue never drained".into())
}

async fn alert_pass(a: &Args, topic: &str, at: u64) -> Result<Value> {
    let mut cmd = std::process::Command::new(&a.presence);
    cmd.args([
        "--endpoint-url",
        &a.tables.endpoint,
        "--status-table",
        &a.tables.status_table,
    ])
    .args([
        "--events-table",
        &a.tables.events_table,
        "-o",
        "json",
        "alert-pass",
    ])
    .args(["--topic-arn", topic, "--at", &iso(at)])
    .envs(local::CHILD_ENV)
    .envs(local::messaging_env(a.tables.messaging()?));
    // A pass over the demo's few clients takes well under a second; a minute is a hang.
    let out = local::output(cmd, Duration::from_secs(60)).await?;
    if !out.status.success() {
        return Err(format!(
            "alerts: presence alert-pass failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    let answer: Value = serde_json::from_slice(&out.stdout)?;
    Ok(answer["report"].clone())
}

pub async fn run(a: Args) -> Result {
    let text = std::fs::read_to_string(&a.timeline)
        .map_err(|e| format!("{}: {e}", a.timeline.display()))?;
    let mut timeline: Vec<Value> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if !line.trim().is_empty() {
            let event: Value = serde_json::from_str(line)
                .map_err(|e| format!("{}:{}: {e}", a.timeline.display(), number + 1))?;
            if !event["timestamp"].is_u64() || !event["clientId"].is_string() {
                return Err(format!(
                    "{}:{}: an event needs a numeric timestamp and a clientId",
                    a.timeline.display(),
                    number + 1
                )
                .into());
            }
            timeline.push(event);
        }
    }
    let ts = |e: &Value| e["timestamp"].as_u64().unwrap_or(0);
    let first = timeline
        .iter()
        .map(ts)
        .min()
        .ok_or_else(|| format!("{}: no events", a.timeline.display()))?;
    let start = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() * 1000;
    for e in &mut timeline {
        e["timestamp"] = (ts(e) - first + start).into();
    }
    timeline.sort_by_key(ts);
    let end = timeline.last().map(ts).unwrap_or(start) + a.minutes_after * MINUTE;

    let (topic, queue) = subscribed_queue(a.tables.messaging()?).await?;
    println!(
        "\nalert timeline {}: {} events shifted to start now; one alert pass per simulated \
         minute, threshold and flapping settings at their defaults",
        a.timeline.display(),
        timeline.len()
    );
    let timeline_clients: BTreeSet<String> = timeline
        .iter()
        .filter_map(|e| e["clientId"].as_str().map(str::to_owned))
        .collect();
    let mut received: Vec<(String, Value)> = Vec::new();
    let mut pending: VecDeque<Value> = timeline.iter().cloned().collect();
    let clock = SimulatedClock(&a.clock_file);
    let mut tick = start;
    while tick <= end {
        clock.set(tick)?;
        while pending.front().is_some_and(|e| ts(e) < tick) {
            let event = pending.pop_front().unwrap_or_default();
            if let Err(body) = events::invoke(&a.invoke_url, &event.to_string())? {
                return Err(format!(
                    "alerts: the function failed on {}: {body}",
                    event["clientId"]
                )
                .into());
            }
        }
        let report = alert_pass(&a, &topic, tick).await?;
        let elapsed = (tick - start) / 1000;
        let clock = format!("+{:02}:{:02}", elapsed / 60, elapsed % 60);
        let mut others: Vec<Value> = Vec::new();
        for (subject, raw, message) in drain(&queue).await? {
            let client = message["clientId"].as_str().unwrap_or("");
            // A storm's notices name no client: they are about the timeline's drops.
            let fleet_notice = matches!(message["kind"].as_str(), Some("storm" | "recovery"));
            if fleet_notice || timeline_clients.contains(client) {
                let kind = message["kind"].as_str().unwrap_or("?");
                println!("  {clock}  {kind:<11} {subject}");
                received.push((raw, message));
            } else {
                others.push(message);
            }
        }
        if !others.is_empty() {
            let kinds: BTreeSet<&str> = others.iter().filter_map(|m| m["kind"].as_str()).collect();
            let mut names: Vec<&str> = others
                .iter()
                .filter_map(|m| m["clientId"].as_str())
                .collect();
            names.sort();
            let listed =
                names[..names.len().min(4)].join(", ") + if names.len() > 4 { ", ..." } else { "" };
            let kinds: Vec<&str> = kinds.into_iter().collect();
            println!(
                "  {clock}  {:<11} {} client{} replayed earlier, offline since their sample events: {listed}",
                kinds.join("/"),
                others.len(),
                if others.len() > 1 { "s" } else { "" }
            );
        }
        let errors = &report["errors"];
        if errors.as_array().is_some_and(|e| !e.is_empty()) {
            return Err(format!("alerts: the pass at {} failed: {errors}", iso(tick)).into());
        }
        tick += MINUTE;
    }

    let mut shown = BTreeSet::new();
    for (raw, m) in &received {
        let kind = m["kind"].as_str().unwrap_or("?");
        if shown.insert(kind.to_owned()) {
            println!("  {kind} message: {raw}");
        }
    }
    let mut got: Vec<String> = received
        .iter()
        .map(|(_, m)| {
            // A storm is named by its scope: the prefix, or `*` for the fleet.
            let who = m["clientId"]
                .as_str()
                .or_else(|| m["prefix"].as_str())
                .unwrap_or("*");
            format!("{}:{who}", m["kind"].as_str().unwrap_or("?"))
        })
        .collect();
    got.sort();
    println!(
        "{} alerts for the timeline's {} clients from {} events over {} simulated minutes",
        received.len(),
        timeline_clients.len(),
        timeline.len(),
        (end - start) / MINUTE
    );
    let mut expected = a.expect.clone();
    expected.sort();
    if !expected.is_empty() && got != expected {
        return Err(format!("alerts: expected {expected:?}, got {got:?}").into());
    }
    Ok(())
}
