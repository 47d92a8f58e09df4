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
