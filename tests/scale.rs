//! Scale tests: opt-in, because they take minutes against the local server (the default test
//! command builds them, and skips them as ignored: it stays fast). Run them with
//!
//! ```sh
//! cargo test --features cli --test scale -- --ignored --nocapture --test-threads=1
//! ```
//!
//! (An ignored test rather than a feature: a feature would rebuild the library and the CLI
//! for this one target.)
//!
//! CI runs them (`.ci/run`). They run against the local servers (dynoxide for DynamoDB, moto
//! for SNS and SQS), so their times measure those, not AWS: the assertions are about what is
//! read and sent, never about time.

mod common;

use std::collections::HashSet;
use std::time::Instant;

use common::broker::{Reply, StandIn};
use common::fleet;
use common::local::{self, AlertSink};
use iot_presence::alert::pass::Alerter;
use iot_presence::config::Scope;
use iot_presence::config::{AlertSettings, StormSettings};
use iot_presence::event::{LifecycleEvent, Presence};
use iot_presence::reconcile::broker::{Broker, Pace};
use iot_presence::reconcile::pass::Reconciler;
use iot_presence::rule::{Outcome, Window};
use iot_presence::store::events::event_row;
use iot_presence::store::schema::{attr, status_shard};
use iot_presence::thresholds::ThresholdPatterns;
use serde_json::json;
use tokio::task::JoinSet;

const MIN: u64 = 60_000;

/// How many clients each test uses: `SCALE_CLIENTS` (default 10,000), so that a smaller run can
/// show the per-client cost quickly.
fn scale_clients() -> u64 {
    std::env::var("SCALE_CLIENTS")
        .ok()
        .map(|v| v.parse().expect("SCALE_CLIENTS is a number"))
        .unwrap_or(10_000)
}
/// 2026-09-21T14:13:20Z
const T0: u64 = 1_790_000_000_000;

/// 10,000 clients cross their offline threshold at once, 1,000 stay online: one pass reads
/// exactly the 10,000 due entries of the alert index and sends one alert per client; the next
/// pass reads nothing at all.
#[tokio::test]
#[ignore = "scale: minutes against the local servers; run with -- --ignored"]
async fn ten_thousand_clients_due_at_once() {
    let offline = scale_clients() as usize;
    let online = offline / 10;
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
        thresholds: ThresholdPatterns::NONE,
        // 10,000 drops at once are a storm: this test measures the single notices.
        storm: StormSettings::OFF,
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
            for i in (w..offline + online).step_by(16) {
                let (client_id, event_type) = if i < offline {
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
    assert_eq!(report.due, offline as u64, "{report:?}");
    assert_eq!(report.offline, offline as u64, "{report:?}");
    let received = sink.drain().await;
    assert_eq!(received.len(), offline);
    assert!(received.iter().all(|r| r.message["kind"] == "offline"));
    let clients: HashSet<&str> = received
        .iter()
        .map(|r| r.message["clientId"].as_str().unwrap())
        .collect();
    assert_eq!(clients.len(), offline);

    // Afterwards a pass reads nothing at all, with 10k clients offline and 1k online.
    let report = alerter.run(T0 + 6 * MIN).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.due, 0);
    assert!(sink.drain().await.is_empty());
    println!(
        "scale: {} status items written in {:.0} s; pass over {offline} due clients and the \
         empty pass after it took {:.0} s more (local servers)",
        offline + online,
        written.as_secs_f64(),
        (started.elapsed() - written).as_secs_f64()
    );
}

/// `presence availability --all` over 10,000 clients with three events each (online, an
/// outage, back): every client is reported, and the fleet totals are the sum of what was
/// written. The rows are written 25 to a request as the handler writes them (`event_row`, all
/// `applied`, since they arrive in order), and each client's status by the real status update,
/// so that `--all` lists it: seeding through the handler would measure the seeding. That a shuffled, duplicated delivery reports the same is `tests/availability.rs`'s job.
#[tokio::test]
#[ignore = "scale: minutes against the local servers; run with -- --ignored"]
async fn availability_of_ten_thousand_clients() {
    let clients = scale_clients();
    let client = local::client();
    let tables = local::create_tables().await;
    let store = local::store(&client, &tables, Window::DEFAULT);
    let now = iot_presence::time::now_ms();
    // Client i: connected at now-6h, disconnected at now-5h, back after (i % 60) + 1 minutes.
    let (t0, down) = (now - 360 * MIN, now - 300 * MIN);
    let started = Instant::now();
    let mut writers = JoinSet::new();
    for w in 0..16 {
        let (store, client, events_table) = (store.clone(), client.clone(), tables.events.clone());
        writers.spawn(async move {
            let mut rows = Vec::new();
            for i in (w..clients).step_by(16) {
                let id = format!("fleet-{i:05}");
                let back = down + (i % 60 + 1) * MIN;
                let mut last = None;
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
                    let payload = e.to_string();
                    let event = LifecycleEvent::parse(&payload).unwrap();
                    let key = event.event_key();
                    rows.push(
                        event_row(&event, &key, &payload, Outcome::Applied, now, 30).to_item(),
                    );
                    last = Some((event, key));
                }
                let (event, key) = last.unwrap();
                store.apply_status(&event, &key, now).await.unwrap();
                if rows.len() >= 24 {
                    local::put_rows(&client, &events_table, std::mem::take(&mut rows)).await;
                }
            }
            local::put_rows(&client, &events_table, rows).await;
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    let written = started.elapsed();

    let started = Instant::now();
    let out = local::presence_command(&tables)
        .args(["availability", "--all", "--since", "7h", "-o", "json"])
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
    assert_eq!(lines.len() as u64, clients + 1);
    let fleet = &lines[clients as usize]["fleet"];
    assert_eq!(fleet["clients"], clients);
    assert_eq!(fleet["outages"], clients);
    let downtime: u64 = (0..clients).map(|i| (i % 60 + 1) * MIN).sum();
    assert_eq!(fleet["offlineMs"], downtime);
    assert_eq!(fleet["offlineAtEnd"], 0);
    // The worst client first: 60 minutes down.
    assert_eq!(lines[0]["offlineMs"], 60 * MIN);
    println!(
        "scale: availability --all over {clients} clients ({} events written in {:.0} s): \
         report in {:.1} s ({:.0} clients/s) against the local server",
        3 * clients,
        written.as_secs_f64(),
        reported.as_secs_f64(),
        clients as f64 / reported.as_secs_f64()
    );
}

/// `presence redrive` over a failed-events queue of 1,000 Lambda on-failure records (a tenth of
/// `SCALE_CLIENTS`; one disconnect per client): every event is recorded, every message deleted,
/// and the throughput against the local server is printed. moto's SQS does work proportional to
/// the queue's length on every request, so larger queues measure moto more than the redrive.
#[tokio::test]
#[ignore = "scale: minutes against the local servers; run with -- --ignored"]
async fn redrive_of_a_thousand_failed_events() {
    let messages = scale_clients() / 10;
    let client = local::client();
    let tables = local::create_tables().await;
    let sqs = local::sqs_client();
    let queue = sqs
        .create_queue()
        .queue_name(format!("scale-redrive-{}", std::process::id()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let bodies: Vec<String> = (0..messages)
        .map(|i| {
            let event = json!({
                "clientId": format!("redrive-{i:05}"), "timestamp": T0 + i,
                "eventType": "disconnected", "sessionIdentifier": "s1", "versionNumber": 1,
                "disconnectReason": "CONNECTION_LOST",
                "topicEventType": "disconnected", "topicClientId": format!("redrive-{i:05}"),
            });
            json!({"requestContext": {"condition": "RetriesExhausted"}, "requestPayload": event})
                .to_string()
        })
        .collect();
    for chunk in bodies.chunks(10) {
        let entries = chunk.iter().enumerate().map(|(i, body)| {
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .build()
                .unwrap()
        });
        sqs.send_message_batch()
            .queue_url(&queue)
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .unwrap();
    }

    let started = Instant::now();
    let out = local::presence_command(&tables)
        .args(["redrive", "--queue", &queue, "-o", "json"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(counts["messages"], messages);
    assert_eq!(counts["applied"], messages);
    assert_eq!(counts["deleted"], messages);
    for i in [0, messages / 2, messages - 1] {
        let id = format!("redrive-{i:05}");
        assert!(
            local::status_item(&client, &tables, &id).await.is_some(),
            "{id}"
        );
    }
    println!(
        "scale: redrive of {messages} failed events in {:.1} s ({:.0} messages/s) against the \
         local server",
        took.as_secs_f64(),
        messages as f64 / took.as_secs_f64()
    );
}

/// Reconcile throughput against the local server and the GetConnection stand-in:
/// `SCALE_CLIENTS / 10` (1,000) clients connected for hours, of which the broker says every
/// other one is gone. A dry sweep at 100 calls a second, then `--apply` at the fastest pace:
/// every disagreement found, every one repaired, none twice.
#[tokio::test]
#[ignore = "scale: minutes against the local servers; run with -- --ignored"]
async fn reconcile_of_a_thousand_clients() {
    let n = (scale_clients() / 10) as usize;
    let client = local::client();
    let tables = local::create_tables().await;
    let store = local::store(&client, &tables, Window::DEFAULT);
    let now = iot_presence::time::now_ms();
    let mut writers = JoinSet::new();
    for w in 0..16 {
        let store = store.clone();
        writers.spawn(async move {
            for i in (w..n).step_by(16) {
                let payload = json!({
                    "clientId": format!("rc-{i:05}"), "timestamp": now - 180 * MIN,
                    "eventType": "connected", "sessionIdentifier": "s1", "versionNumber": 1,
                });
                let event = LifecycleEvent::parse(&payload.to_string()).unwrap();
                store
                    .apply_status(&event, &event.event_key(), now)
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    let stand_in = StandIn::start().await;
    stand_in.otherwise(Reply::connected(now - 180 * MIN));
    for i in (0..n).step_by(2) {
        stand_in.always(
            &format!("rc-{i:05}"),
            Reply::disconnected(Some(now - 60 * MIN), "MQTT_KEEP_ALIVE_TIMEOUT"),
        );
    }
    let broker = || Broker::new(stand_in.client(std::time::Duration::from_secs(10)));
    let scope = Scope::ConnectedFor(std::time::Duration::from_secs(3600));

    let dry = Reconciler::new(store.clone(), broker(), false);
    let ids = dry.select(&scope, now).await.unwrap();
    assert_eq!(ids.len(), n);
    let started = Instant::now();
    let sweep = dry
        .sweep(
            &ids,
            &mut Pace::new(100.0),
            iot_presence::time::now_ms,
            || true,
            |_| {},
        )
        .await;
    let dry_time = started.elapsed();
    assert_eq!(
        (sweep.checked, sweep.would_repair, sweep.agreed),
        (n as u64, n.div_ceil(2) as u64, (n / 2) as u64)
    );

    let apply = Reconciler::new(store.clone(), broker(), true);
    let started = Instant::now();
    let sweep = apply
        .sweep(
            &ids,
            &mut Pace::new(1000.0),
            iot_presence::time::now_ms,
            || true,
            |_| {},
        )
        .await;
    let apply_time = started.elapsed();
    assert_eq!((sweep.repaired, sweep.failed), (n.div_ceil(2) as u64, 0));
    let left = apply
        .select(&scope, iot_presence::time::now_ms())
        .await
        .unwrap();
    assert_eq!(
        left.len(),
        n / 2,
        "the repaired clients left the connected listing"
    );
    let calls: u32 = ids.iter().map(|id| stand_in.calls(id)).sum();
    assert_eq!(
        calls as usize,
        2 * n,
        "one GetConnection per client per sweep"
    );
    println!(
        "reconcile {n} clients: dry sweep at 100/s {:.1} s ({:.0} checks/s); --apply at 1000/s \
         {:.1} s ({:.0} checks/s, {} repaired)",
        dry_time.as_secs_f64(),
        n as f64 / dry_time.as_secs_f64(),
        apply_time.as_secs_f64(),
        n as f64 / apply_time.as_secs_f64(),
        sweep.repaired
    );
}

/// How many clients the storm test drops: `STORM_CLIENTS` (default 200,000).
fn storm_clients() -> u64 {
    std::env::var("STORM_CLIENTS")
        .ok()
        .map(|v| v.parse().expect("STORM_CLIENTS is a number"))
        .unwrap_or(200_000)
}

/// 200,000 clients drop within one minute (a tenth as many stay online): exactly one storm
/// notice, no single offline notice while it lasts (every client held, and recorded), and one
/// recovery notice when they are all back, with every return folded into it. The drops are
/// written as the handler leaves them (batch writes: seeding through the handler would measure
/// the seeding); the returns go through the real status update.
#[tokio::test]
#[ignore = "scale: minutes against the local servers; run with -- --ignored"]
async fn two_hundred_thousand_clients_drop_in_one_minute() {
    let dropped = storm_clients();
    let online = dropped / 10;
    let started = Instant::now();
    let sink = AlertSink::new().await;
    let client = local::client();
    let tables = local::create_tables().await;
    let store = local::store(&client, &tables, Window::DEFAULT);
    let settings = AlertSettings {
        // The least threshold: the first look after each drop is already its threshold.
        offline_threshold_ms: MIN,
        flapping_sessions: 0,
        ..AlertSettings::DEFAULT
    };
    let alerter = Alerter::new(
        store.clone(),
        local::sns_client(),
        &sink.topic_arn,
        settings,
    );
    let id = |i: u64| format!("meter-{i:06}");
    let reasons = [
        "CONNECTION_LOST",
        "MQTT_KEEP_ALIVE_TIMEOUT",
        "SERVER_INITIATED_DISCONNECT",
    ];
    // Drop i at T0 + i * 60 s / dropped: all within one minute.
    let span = move |i: u64| T0 + i * 59_999 / dropped.max(1);
    fleet::put_generated(&client, &tables.status, dropped, move |i| {
        fleet::dropped_status(&id(i), span(i), reasons[(i % 3) as usize])
    })
    .await;
    fleet::put_generated(&client, &tables.status, online, move |i| {
        let mut item = fleet::dropped_status(&format!("steady-{i:06}"), T0 - 3_600_000, "x");
        // Connected long before: out of the alert index, in a connected shard.
        for a in [attr::ALERT_SHARD, attr::ALERT_DUE_AT, attr::DISCONNECTED_AT] {
            item.remove(a);
        }
        item.insert(
            attr::CONNECTED.into(),
            aws_sdk_dynamodb::types::AttributeValue::Bool(true),
        );
        item.insert(
            attr::EVENT_TYPE.into(),
            aws_sdk_dynamodb::types::AttributeValue::S("connected".into()),
        );
        item.insert(
            attr::STATUS_SHARD.into(),
            aws_sdk_dynamodb::types::AttributeValue::S(status_shard(
                &format!("steady-{i:06}"),
                Presence::Connected,
                iot_presence::config::DEFAULT_STATUS_SHARDS,
            )),
        );
        item
    })
    .await;
    let seeded = started.elapsed();

    // A minute after the last drop: every client is at its threshold, and held.
    let t = Instant::now();
    let first = alerter.run(T0 + 2 * MIN).await;
    let first_pass = t.elapsed();
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert_eq!((first.storms, first.offline), (1, 0), "{first:?}");
    assert_eq!(first.held, dropped, "{first:?}");
    let received = sink.drain().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].message["kind"], "storm");
    assert_eq!(received[0].message["clients"], dropped);
    let pending = local::status_item(&client, &tables, &id(7)).await.unwrap();
    let held_by = &pending[attr::PENDING_OUTAGE].as_m().unwrap()["heldBy"];
    assert_eq!(held_by.as_s().unwrap(), &format!("storm/*/{T0}"));
    // While it lasts: nothing.
    let quiet = alerter.run(T0 + 3 * MIN).await;
    assert!(quiet.errors.is_empty(), "{:?}", quiet.errors);
    assert_eq!(quiet.notices(), 0, "{quiet:?}");
    assert!(sink.drain().await.is_empty());

    // Everyone back, through the status update, 16 writers.
    let back = T0 + 3 * MIN + 30_000;
    let t = Instant::now();
    let mut writers = JoinSet::new();
    for w in 0..16 {
        let store = store.clone();
        writers.spawn(async move {
            for i in (w..dropped).step_by(16) {
                let client_id = format!("meter-{i:06}");
                let payload = json!({
                    "clientId": client_id, "timestamp": back, "eventType": "connected",
                    "sessionIdentifier": format!("s-{client_id}"), "versionNumber": 2,
                });
                let event = LifecycleEvent::parse(&payload.to_string()).unwrap();
                store
                    .apply_status(&event, &event.event_key(), back + 500)
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    let returned = t.elapsed();
    let t = Instant::now();
    let recovery = alerter.run(T0 + 4 * MIN).await;
    let recovery_pass = t.elapsed();
    assert!(recovery.errors.is_empty(), "{:?}", recovery.errors);
    assert_eq!(
        (recovery.recoveries, recovery.storms),
        (1, 0),
        "{recovery:?}"
    );
    assert_eq!(
        (recovery.folded, recovery.back_online, recovery.offline),
        (dropped, 0, 0)
    );
    let received = sink.drain().await;
    assert_eq!(received.len(), 1, "one recovery notice");
    assert_eq!(received[0].message["kind"], "recovery");
    assert_eq!(received[0].message["recovered"], dropped);
    assert_eq!(received[0].message["stillOffline"], 0);
    let after = alerter.run(T0 + 10 * MIN).await;
    assert_eq!((after.due, after.notices()), (0, 0), "{after:?}");
    println!(
        "scale: storm of {dropped} drops ({online} online): seeded in {:.0} s; first pass \
         (declare + {dropped} held) {:.1} s; {dropped} returns written in {:.0} s; recovery pass \
         ({dropped} folded) {:.1} s; peak RSS of the test process {} (local servers)",
        seeded.as_secs_f64(),
        first_pass.as_secs_f64(),
        returned.as_secs_f64(),
        recovery_pass.as_secs_f64(),
        peak_rss()
    );
}

/// This process's peak resident set (`VmHWM`), as Linux reports it.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// tests/alerts.rs's overlapping passes at full size: 120 clients, four passes racing.
#[tokio::test]
#[ignore = "scale: minutes against the local servers; run with -- --ignored"]
async fn overlapping_passes_over_120_clients_send_each_alert_exactly_once() {
    common::alerting::overlapping_passes_send_each_alert_exactly_once(120).await;
}

/// tests/alerts.rs's timing race at full size: three rounds of 60 reconnects racing a pass.
#[tokio::test]
#[ignore = "scale: minutes against the local servers; run with -- --ignored"]
async fn reconnects_at_random_points_of_three_passes_never_lose_or_repeat_a_notice() {
    common::alerting::reconnects_at_random_points_of_a_pass_never_lose_or_repeat_a_notice(3, 60)
        .await;
}

/// A reconnect storm of 1,500 clients on a table with 128 shards (120 clients in the default
/// tests): see [`common::storm::reconnect_storm`].
#[tokio::test]
#[ignore = "scale: minutes against the local servers; run with -- --ignored"]
async fn a_reconnect_storm_of_1500_clients_over_128_shards() {
    let started = Instant::now();
    common::storm::reconnect_storm(1500, 128).await;
    println!(
        "scale: reconnect storm of 1500 clients (4,350 events) over 128 shards in {:.0} s (local servers)",
        started.elapsed().as_secs_f64()
    );
}
