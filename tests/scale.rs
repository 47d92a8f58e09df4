//! Scale tests: opt-in, because they take minutes against the local server (the default test
//! command stays fast). Run them with
//!
//! ```sh
//! cargo test --features scale-tests --test scale -- --nocapture
//! ```
//!
//! CI runs them (`.ci/run`). What they measure is mostly moto's speed, not DynamoDB's: the
//! assertions are about what is read and sent, never about time.

mod common;

use std::collections::HashSet;
use std::time::Instant;

use common::local::{self, AlertSink};
use iot_presence::alert::AlertSettings;
use iot_presence::alerter::Alerter;
use iot_presence::decision::Window;
use iot_presence::event::LifecycleEvent;
use serde_json::json;
use tokio::task::JoinSet;

const MIN: u64 = 60_000;
/// 2026-09-21T14:13:20Z
const T0: u64 = 1_790_000_000_000;

/// 10,000 clients cross their offline threshold at once, 1,000 stay online: one pass reads
/// exactly the 10,000 due entries of the alert index and sends one alert per client; the next
/// pass reads nothing at all.
#[tokio::test]
async fn ten_thousand_clients_due_at_once() {
    const OFFLINE: usize = 10_000;
    const ONLINE: usize = 1_000;
    let started = Instant::now();
    // Subscribers by client-id prefix (bulk-00…, bulk-01…), through SNS filter policies: moto's
    // SQS is O(queue length) per message, so one queue of 10,000 would measure only that.
    let prefixes: Vec<String> = (0..100).map(|d| format!("bulk-{d:02}")).collect();
    let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let sink = AlertSink::partitioned(&prefixes).await;
    let client = local::client();
    let tables = local::create_tables().await;
    let store = local::store(&client, &tables, Window::DEFAULT);
    let settings = AlertSettings {
        offline_threshold_ms: 5 * MIN,
        flapping_sessions: 0,
        flapping_window_ms: 10 * MIN,
    };
    let alerter = Alerter::new(
        store.clone(),
        local::sns_client(),
        &sink.topic_arn,
        settings,
    );

    // The fleet's status items, written by the real status update, 16 writers at a time (no
    // event rows: with flapping off the alerter never reads them).
    let mut writers = JoinSet::new();
    for w in 0..16 {
        let store = store.clone();
        writers.spawn(async move {
            for i in (w..OFFLINE + ONLINE).step_by(16) {
                let (client_id, event_type) = if i < OFFLINE {
                    (format!("bulk-{:02}-{i:05}", i % 100), "disconnected")
                } else {
                    (format!("online-{i:05}"), "connected")
                };
                let mut payload = json!({
                    "clientId": client_id, "timestamp": T0, "eventType": event_type,
                    "sessionIdentifier": "s1", "versionNumber": 1,
                });
                if event_type == "disconnected" {
                    payload["disconnectReason"] = json!("CONNECTION_LOST");
                }
                let event = LifecycleEvent::parse(&payload.to_string()).unwrap();
                store
                    .apply_status(&event, &event.event_key(), T0 + 500)
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    let written = started.elapsed();

    // All cross the threshold at once: one pass sends every alert, reading only the due
    // clients (the 1,000 connected ones are not in the alert index).
    let report = alerter.run(T0 + 5 * MIN).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.due, OFFLINE as u64);
    assert_eq!(report.offline, OFFLINE as u64);
    let received = sink.drain().await;
    assert_eq!(received.len(), OFFLINE);
    assert!(received.iter().all(|r| r.message["kind"] == "offline"));
    let clients: HashSet<&str> = received
        .iter()
        .map(|r| r.message["clientId"].as_str().unwrap())
        .collect();
    assert_eq!(clients.len(), OFFLINE);

    // Afterwards a pass reads nothing at all, with 10k clients offline and 1k online.
    let report = alerter.run(T0 + 6 * MIN).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.due, 0);
    assert!(sink.drain().await.is_empty());
    println!(
        "scale: {} status items written in {:.0} s; pass over {OFFLINE} due clients and the \
         empty pass after it took {:.0} s more (moto)",
        OFFLINE + ONLINE,
        written.as_secs_f64(),
        (started.elapsed() - written).as_secs_f64()
    );
}

/// `presence availability --all` over 10,000 clients with three events each (online, an
/// outage, back), written through the real handler: every client is reported, and the fleet
/// totals are the sum of what was written.
#[tokio::test]
async fn availability_of_ten_thousand_clients() {
    const CLIENTS: u64 = 10_000;
    let client = local::client();
    let tables = local::create_tables().await;
    let store = local::store(&client, &tables, Window::DEFAULT);
    let now = iot_presence::handler::now_ms();
    // Client i: connected at now-6h, disconnected at now-5h, back after (i % 60) + 1 minutes.
    let (t0, down) = (now - 360 * MIN, now - 300 * MIN);
    let started = Instant::now();
    let mut writers = JoinSet::new();
    for w in 0..16 {
        let store = store.clone();
        writers.spawn(async move {
            for i in (w..CLIENTS).step_by(16) {
                let id = format!("fleet-{i:05}");
                let back = down + (i % 60 + 1) * MIN;
                for (ts, kind, version) in [
                    (t0, "connected", 1),
                    (down, "disconnected", 1),
                    (back, "connected", 2),
                ] {
                    let mut e = json!({
                        "clientId": id, "timestamp": ts, "eventType": kind,
                        "sessionIdentifier": format!("{id}-s"), "versionNumber": version,
                    });
                    if kind == "disconnected" {
                        e["disconnectReason"] = json!("CONNECTION_LOST");
                    }
                    iot_presence::handler::handle(&store, &e.to_string(), now)
                        .await
                        .unwrap();
                }
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    let written = started.elapsed();

    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_presence"))
        .args(["--endpoint-url", local::endpoint()])
        .args([
            "--status-table",
            &tables.status,
            "--events-table",
            &tables.events,
        ])
        .args(["availability", "--all", "--since", "7h", "-o", "json"])
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .output()
        .unwrap();
    let reported = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, CLIENTS + 1);
    let fleet = &lines[CLIENTS as usize]["fleet"];
    assert_eq!(fleet["clients"], CLIENTS);
    assert_eq!(fleet["outages"], CLIENTS);
    let downtime: u64 = (0..CLIENTS).map(|i| (i % 60 + 1) * MIN).sum();
    assert_eq!(fleet["offlineMs"], downtime);
    assert_eq!(fleet["offlineAtEnd"], 0);
    // The worst client first: 60 minutes down.
    assert_eq!(lines[0]["offlineMs"], 60 * MIN);
    println!(
        "scale: availability --all over {CLIENTS} clients ({} events written in {:.0} s): \
         report in {:.1} s ({:.0} clients/s) against the local server",
        3 * CLIENTS,
        written.as_secs_f64(),
        reported.as_secs_f64(),
        CLIENTS as f64 / reported.as_secs_f64()
    );
}
