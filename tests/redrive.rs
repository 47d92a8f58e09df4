//! `presence redrive` against the local server: SQS queues holding failed events in both
//! failure formats (Lambda's on-failure record, the rule's error action), bad messages among
//! them, one run, a dry run, and two runs at once.

mod common;

use std::process::Output;

use aws_sdk_sqs::types::QueueAttributeName;
use base64::Engine as _;
use common::local::{self, Tables};
use iot_presence::store::schema::attr;
use serde_json::{json, Value};

/// The two tests that queue dozens of messages run one at a time: two runs sharing one queue
/// must each finish their batches inside the visibility timeout, which a concurrent load on
/// the one local SQS server can stretch past.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// 2026-09-21T14:13:20Z
const T0: u64 = 1_790_000_000_000;
const MIN: u64 = 60_000;

fn event(client: &str, kind: &str, version: u64, ts: u64) -> Value {
    let mut e = json!({
        "clientId": client, "timestamp": ts, "eventType": kind,
        "sessionIdentifier": format!("{client}-s{version}"), "versionNumber": version,
        "principalIdentifier": "cert-1",
    });
    if kind == "disconnected" {
        e["disconnectReason"] = json!("CONNECTION_LOST");
        e["clientInitiatedDisconnect"] = json!(false);
    } else {
        e["ipAddress"] = json!("192.0.2.1");
    }
    e
}

/// As the rule delivers it to the function: with the SQL's topic fields.
fn as_delivered(e: &Value) -> Value {
    let mut e = e.clone();
    e["topicEventType"] = e["eventType"].clone();
    e["presenceTopic"] = json!(iot_presence::event::presence_topic(
        e["eventType"].as_str().unwrap_or_default(),
        e["clientId"].as_str().unwrap_or_default(),
    ));
    e
}

/// Lambda's on-failure destination record of a delivered event.
fn on_failure_record(e: &Value) -> String {
    json!({
        "version": "1.0", "timestamp": "2026-09-21T14:13:25.000Z",
        "requestContext": {"requestId": "7b2e1c1e-0d37-4a53-9a43-3b2f0e0f0a11",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:presence:$LATEST",
            "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": as_delivered(e),
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
            "functionError": "Unhandled"},
        "responsePayload": {"errorType": "TransientStoreError",
            "errorMessage": "ProvisionedThroughputExceededException"},
    })
    .to_string()
}

/// The rule's error-action message for a published event (no topic fields: the rule adds them).
fn rule_error(e: &Value) -> String {
    let topic = format!(
        "$aws/events/presence/{}/{}",
        e["eventType"].as_str().unwrap(),
        e["clientId"].as_str().unwrap()
    );
    json!({
        "ruleName": "iot_presence_events", "topic": topic, "cloudwatchTraceId": "trace-1",
        "clientId": e["clientId"],
        "base64OriginalPayload":
            base64::engine::general_purpose::STANDARD.encode(e.to_string()),
        "failures": [{"failedAction": "LambdaAction",
            "failedResource": "arn:aws:lambda:us-east-1:123456789012:function:presence",
            "errorMessage": "Failed to invoke lambda function. Rate Exceeded"}],
    })
    .to_string()
}

struct Queue {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    async fn new(name: &str) -> Queue {
        let sqs = local::sqs_client();
        let name = format!("{name}-{}", std::process::id());
        let url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        Queue { sqs, url }
    }

    async fn send(&self, bodies: &[String]) {
        for body in bodies {
            self.sqs
                .send_message()
                .queue_url(&self.url)
                .message_body(body)
                .send()
                .await
                .unwrap();
        }
    }

    /// (visible, in flight)
    async fn depth(&self) -> (u64, u64) {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap();
        let get = |name: QueueAttributeName| attributes[&name].parse::<u64>().unwrap();
        (
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }
}

fn redrive(tables: &Tables, queue: &Queue, extra: &[&str]) -> Output {
    local::presence_command(tables)
        .args(["redrive", "--queue", &queue.url])
        .args(extra)
        .output()
        .expect("run presence redrive")
}

/// A redriven client ends connected at version 2, with one row per distinct event.
async fn back_online_at_version_2(
    client: &aws_sdk_dynamodb::Client,
    tables: &Tables,
    id: &str,
    rows: usize,
) {
    let item = local::status_item(client, tables, id).await.unwrap();
    assert_eq!(local::b(&item, attr::CONNECTED), Some(true), "{id}");
    assert_eq!(local::n(&item, attr::VERSION), Some(2), "{id}");
    assert_eq!(
        local::event_rows(client, tables, id).await.len(),
        rows,
        "{id}"
    );
}

fn counts(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("not JSON: {stdout}"))
}

#[tokio::test]
async fn both_formats_are_redriven_and_bad_messages_stay_with_the_reason() {
    let client = local::client();
    let tables = local::create_tables().await;
    let queue = Queue::new("failed-events").await;
    let connect = event("pump-1", "connected", 1, T0);
    let disconnect = event("pump-1", "disconnected", 1, T0 + 10 * MIN);
    let gw = event("gw-1", "connected", 4, T0);
    let from_the_future = event("gw-2", "connected", 1, 4_000_000_000_000);
    let mut missing_client = event("x", "connected", 1, T0);
    missing_client.as_object_mut().unwrap().remove("clientId");
    queue
        .send(&[
            // Good: the two formats and a bare event; the disconnect arrives before its
            // connect, and the connect twice.
            rule_error(&disconnect),
            on_failure_record(&connect),
            rule_error(&connect),
            gw.to_string(),
            // Recorded as invalid (with the reason) and deleted: nothing is lost.
            on_failure_record(&from_the_future),
            // Left in the queue (four), each with its reason.
            "not json at all".to_owned(),
            json!({"hello": "world"}).to_string(),
            on_failure_record(&missing_client),
            json!({"topic": "devices/telemetry/pump-1",
                   "base64OriginalPayload": "e30="})
            .to_string(),
        ])
        .await;

    // A dry run first: reads everything, writes and deletes nothing.
    let out = redrive(&tables, &queue, &["--dry-run", "-o", "json"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let c = counts(&out);
    assert_eq!(
        (c["messages"].as_u64(), c["wouldRedrive"].as_u64()),
        (Some(9), Some(5))
    );
    assert_eq!(c["left"].as_array().unwrap().len(), 4);
    assert!(local::status_item(&client, &tables, "pump-1")
        .await
        .is_none());
    assert_eq!(
        queue.depth().await,
        (9, 0),
        "a dry run leaves every message visible"
    );

    let out = redrive(&tables, &queue, &["-o", "json"]);
    assert_eq!(out.status.code(), Some(4), "messages were left: exit 4");
    let c = counts(&out);
    assert_eq!(c["messages"], 9);
    // Messages are redriven ten at a time, concurrently, so which of pump-1's events applies
    // depends on the order they land in; the totals and the end state do not.
    let outcomes = ["applied", "stale", "duplicate"].map(|k| c[k].as_u64().unwrap());
    assert_eq!(outcomes.iter().sum::<u64>(), 4, "{c}");
    // The connect's second copy: a redelivery when its twin's row is already written, an
    // `applied` answer of its own when the two land at the same moment (both answer the one
    // event; dynoxide runs them truly concurrently). The end state below is the same.
    assert!(c["redelivered"].as_u64().unwrap() <= 1, "{c}");
    assert_eq!(c["invalid"], 1, "{c}");
    assert_eq!(c["deleted"], 5, "{c}");
    let reasons: Vec<&str> = c["left"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 4);
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("the message is not JSON: expected")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("its fields: hello")));
    assert!(reasons.iter().any(
        |r| r.contains("invalid lifecycle event (lambda-on-failure)") && r.contains("clientId")
    ));
    assert!(reasons
        .iter()
        .any(|r| r.contains("\"devices/telemetry/pump-1\" is not a presence topic")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("presence: left message ").count(),
        4,
        "{stderr}"
    );
    assert_eq!(
        queue.depth().await,
        (4, 0),
        "only the bad messages stay, visible"
    );

    // The events landed as the function would have written them.
    let pump = local::status_item(&client, &tables, "pump-1")
        .await
        .unwrap();
    assert_eq!(local::b(&pump, attr::CONNECTED), Some(false));
    assert_eq!(local::n(&pump, attr::EVENT_TIMESTAMP), Some(T0 + 10 * MIN));
    let rows = local::event_rows(&client, &tables, "pump-1").await;
    assert_eq!(rows.len(), 2, "one row per event, however often it came");
    let connect_row = rows
        .iter()
        .find(|r| local::s(r, attr::EVENT_TYPE) == Some("connected"))
        .unwrap();
    let payload: Value =
        serde_json::from_str(local::s(connect_row, attr::PAYLOAD).unwrap()).unwrap();
    assert_eq!(
        payload,
        as_delivered(&connect),
        "the payload as the function receives it"
    );
    let gw_row = &local::event_rows(&client, &tables, "gw-2").await[0];
    assert_eq!(local::s(gw_row, attr::OUTCOME), Some("invalid"));
    assert!(local::status_item(&client, &tables, "gw-2").await.is_none());

    // Again: only the bad messages, still left; nothing written twice.
    let out = redrive(&tables, &queue, &[]);
    assert_eq!(out.status.code(), Some(4));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("4 messages: applied 0, stale 0, duplicate 0, recorded 0, invalid 0 (0 redelivered), 0 PresenceChanged put again; deleted 0, left 4"),
        "{stdout}"
    );
    assert_eq!(local::event_rows(&client, &tables, "pump-1").await.len(), 2);
}

/// 30 clients, three events each (connect, disconnect, reconnect on a new connection), every
/// event sent twice, in both formats, shuffled: two runs at once share the work, the queue ends
/// empty, every event has one row and every client ends on its truth.
#[tokio::test]
async fn two_runs_at_once_share_the_queue_and_end_on_the_truth() {
    let _alone = HEAVY.lock().await;
    const CLIENTS: u64 = 30;
    let client = local::client();
    let tables = local::create_tables().await;
    let queue = Queue::new("failed-events-twice").await;
    let mut bodies = Vec::new();
    for i in 0..CLIENTS {
        let id = format!("dev-{i:02}");
        let t = T0 + i * 1000;
        for (n, e) in [
            event(&id, "connected", 1, t),
            event(&id, "disconnected", 1, t + 10 * MIN),
            event(&id, "connected", 2, t + 20 * MIN),
        ]
        .iter()
        .enumerate()
        {
            bodies.push(on_failure_record(e));
            bodies.push(if n % 2 == 0 {
                rule_error(e)
            } else {
                e.to_string()
            });
        }
    }
    // A fixed shuffle (an LCG), so that a failure can be replayed.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for i in (1..bodies.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        bodies.swap(i, (state >> 33) as usize % (i + 1));
    }
    queue.send(&bodies).await;
    let total = bodies.len() as u64;

    let spawn = || {
        local::presence_command(&tables)
            .args(["redrive", "--queue", &queue.url, "-o", "json"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success(), "{a:?} {b:?}");
    let (a, b) = (counts(&a), counts(&b));
    let sum = |k: &str| a[k].as_u64().unwrap() + b[k].as_u64().unwrap();
    // The racing path ran: both runs redrove part of the queue.
    assert!(
        a["deleted"].as_u64().unwrap() > 0 && b["deleted"].as_u64().unwrap() > 0,
        "{a} {b}"
    );
    assert_eq!(sum("messages"), total);
    assert_eq!(sum("deleted"), total);
    // At most one copy of each event is a redelivery. It can be none: when the two copies race
    // and a newer event applies in between, one copy writes the row as `stale` and the other,
    // whose update applied, replaces it as `applied` (the one overwrite the event log allows),
    // so neither finds "its" row. Each event still ends with exactly one row (checked below).
    let redelivered = sum("redelivered");
    assert!(
        redelivered <= total / 2 && redelivered + CLIENTS >= total / 2,
        "each event's second copy: {redelivered} of {}",
        total / 2
    );
    assert_eq!(
        sum("applied") + sum("stale") + sum("duplicate"),
        total,
        "{a} {b}"
    );
    assert_eq!(queue.depth().await, (0, 0));
    for i in 0..CLIENTS {
        back_online_at_version_2(&client, &tables, &format!("dev-{i:02}"), 3).await;
    }

    // Once more on the empty queue: nothing to do, exit 0.
    let out = redrive(&tables, &queue, &["-o", "json"]);
    assert!(out.status.success());
    assert_eq!(counts(&out)["messages"], 0);
}

/// A reconnect storm that outruns the account's concurrency: Lambda throttles the invocations,
/// retries them for up to `MaximumEventAgeInSeconds` (6 h), then hands each to the on-failure
/// queue with `condition: EventAgeExceeded` and no response (the function never ran). Locally,
/// as far as the local runtime allows: the records in that exact shape go through the real
/// redrive into the real store, in order-free batches, and the statuses come out right.
#[tokio::test]
async fn events_throttled_past_their_age_are_redriven_from_the_failure_queue() {
    let _alone = HEAVY.lock().await;
    let client = local::client();
    let tables = local::create_tables().await;
    let queue = Queue::new("throttled").await;
    let aged_out = |e: &Value| {
        json!({
            "version": "1.0", "timestamp": "2026-09-21T20:13:25.000Z",
            "requestContext": {"requestId": "5d1f0d4e-2f1b-4c3e-8d8e-0a1b2c3d4e5f",
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:presence:$LATEST",
                "condition": "EventAgeExceeded", "approximateInvokeCount": 0},
            "requestPayload": as_delivered(e),
        })
        .to_string()
    };
    // 30 devices drop and come back: 60 events, all throttled past their age.
    let mut bodies = Vec::new();
    for d in 0..30 {
        let id = format!("storm-{d:02}");
        bodies.push(aged_out(&event(&id, "disconnected", 1, T0 + d)));
        bodies.push(aged_out(&event(&id, "connected", 2, T0 + 5 * MIN + d)));
    }
    bodies.reverse();
    queue.send(&bodies).await;

    let out = redrive(&tables, &queue, &["-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let c = counts(&out);
    assert_eq!(
        (c["messages"].as_u64(), c["deleted"].as_u64()),
        (Some(60), Some(60)),
        "{c}"
    );
    assert_eq!(c["left"].as_array().map(Vec::len), Some(0), "{c}");
    assert_eq!(queue.depth().await, (0, 0));
    for d in 0..30 {
        back_online_at_version_2(&client, &tables, &format!("storm-{d:02}"), 2).await;
    }
}
