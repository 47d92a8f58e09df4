//! PresenceChanged end to end on local servers: a fleet's lifecycle events, shuffled and
//! duplicated, through the real handler into the local DynamoDB; the status table's stream read
//! back from it (DynamoDB Streams' API) and handed to the function as Lambda would; the events
//! onto an EventBridge stand-in that can refuse entries and calls, and once onto moto's
//! EventBridge with a rule and an SQS target, as a consumer would set it up (docs/events.md).
//!
//! What must hold: exactly one event per applied status change, numbered 1, 2, 3, ... per
//! client in order with no gap; none for bookkeeping writes; a crash before the checkpoint
//! repeats event ids and never skips one; refused entries are sent again, then queued whole.

mod common;

use std::collections::BTreeMap;

use common::eventbridge::{Accepted, Bus};
use common::history::{fleet_deliveries, TrueEvent};
use common::local::{self, Tables};
use common::stream::{deliver, Stream};
use iot_presence::changes::{PresenceChanged, DETAIL_TYPE, SOURCE};
use iot_presence::config::ChangesConfig;
use iot_presence::functions::changes::{FailedChange, Publisher, ATTEMPTS};
use iot_presence::functions::ingest::handle;
use iot_presence::rule::Window;
use iot_presence::store::status::Missing;
use proptest::prelude::*;
use serde_json::{json, Value};

/// A queue on the local SQS for the function's refused changes.
async fn failure_queue() -> String {
    local::sqs_client()
        .create_queue()
        .queue_name(format!("changes-failed-{}", unique()))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("a queue URL")
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    u64::from(std::process::id()) * 1000 + N.fetch_add(1, Ordering::SeqCst)
}

async fn publisher(events: aws_sdk_eventbridge::Client, bus: &str) -> Publisher {
    Publisher {
        events,
        sqs: local::sqs_client(),
        config: ChangesConfig {
            event_bus: bus.to_owned(),
            failed_queue_url: failure_queue().await,
        },
    }
}

/// The events delivered, through the real handler, each received a second after its time.
async fn record(tables: &Tables, deliveries: &[TrueEvent]) {
    let store = local::store(&local::client(), tables, Window(common::history::W));
    for e in deliveries {
        handle(&store, &e.payload(), e.ts + 1_000)
            .await
            .expect("handled");
    }
}

/// Applied status changes per client, from the event log's outcomes.
async fn applied(tables: &Tables, clients: &[String]) -> BTreeMap<String, u64> {
    let client = local::client();
    let mut out = BTreeMap::new();
    for id in clients {
        let rows = local::event_rows(&client, tables, id).await;
        let n = rows
            .iter()
            .filter(|r| local::s(r, "outcome") == Some("applied"))
            .count();
        out.insert(id.clone(), n as u64);
    }
    out
}

fn details(accepted: &[Accepted]) -> Vec<PresenceChanged> {
    accepted
        .iter()
        .map(|a| {
            assert_eq!(
                (a.source.as_str(), a.detail_type.as_str()),
                (SOURCE, DETAIL_TYPE)
            );
            serde_json::from_value(a.detail.clone()).expect("a PresenceChanged detail")
        })
        .collect()
}

/// Per client, the sequences in the order they were put.
fn sequences(changes: &[PresenceChanged]) -> BTreeMap<String, Vec<u64>> {
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for c in changes {
        assert_eq!(c.event_id, format!("{}#{}", c.client_id, c.sequence));
        out.entry(c.client_id.clone()).or_default().push(c.sequence);
    }
    out
}

#[test]
fn a_shuffled_duplicated_fleet_yields_one_event_per_applied_change_in_order() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(6));
    runner
        .run(&fleet_deliveries(5, 10), |(histories, shuffled)| {
            rt.block_on(async {
                let tables = local::create_tables_with_stream().await;
                record(&tables, &shuffled).await;
                let clients: Vec<String> =
                    histories.iter().map(|h| h[0].client_id.clone()).collect();
                // Bookkeeping that moves no status: a threshold on every client.
                let store = local::store(&local::client(), &tables, Window::DEFAULT);
                for id in &clients {
                    store
                        .set_offline_threshold(id, Some(600_000), 1, Missing::Refuse)
                        .await
                        .expect("threshold");
                }
                let records = Stream::of(&tables.status).await.records().await;
                let bus = Bus::start();
                let p = publisher(bus.client(), "default").await;
                let invocations = deliver(&p, &records, 7).await;
                let changes = details(&bus.accepted());
                let applied = applied(&tables, &clients).await;
                // Every invocation's changes were put (none queued), every record was read.
                let put: usize = invocations.iter().map(|d| d.put).sum();
                prop_assert_eq!(put, changes.len());
                prop_assert!(invocations.iter().all(|d| d.queued == 0));
                prop_assert!(records.len() > changes.len(), "bookkeeping records too");
                let per_client = sequences(&changes);
                for id in &clients {
                    let n = applied[id];
                    let got = per_client.get(id).cloned().unwrap_or_default();
                    prop_assert_eq!(got, (1..=n).collect::<Vec<_>>(), "{}", id);
                }
                // The last change of each client is its status.
                for id in &clients {
                    let last = changes.iter().rev().find(|c| &c.client_id == id);
                    let status = store.status(id).await.unwrap();
                    match (last, status) {
                        (Some(c), Some(st)) => {
                            prop_assert_eq!(c.state, st.presence());
                            prop_assert_eq!(Some(c.sequence), st.change_seq);
                        }
                        (None, None) => {}
                        (l, s) => prop_assert!(false, "{id}: {l:?} vs {s:?}"),
                    }
                }
                Ok(())
            })
        })
        .unwrap();
}

/// Two clients' lives: a connect, a drop, a return 15 minutes later, and a quick blip.
async fn two_clients() -> Tables {
    let tables = local::create_tables_with_stream().await;
    let store = local::store(&local::client(), &tables, Window::DEFAULT);
    let t0 = 1_765_000_000_000u64;
    let min = 60_000;
    let ev = |client: &str, kind: &str, session: &str, v: u64, ts: u64| {
        json!({"clientId": client, "timestamp": ts, "eventType": kind,
               "sessionIdentifier": session, "versionNumber": v,
               "clientInitiatedDisconnect": false, "disconnectReason": "CONNECTION_LOST"})
        .to_string()
    };
    for (payload, at) in [
        (ev("pump-1", "connected", "p1", 1, t0), t0),
        (ev("gw-2", "connected", "g1", 1, t0), t0),
        (ev("pump-1", "disconnected", "p1", 1, t0 + min), t0 + min),
        (
            ev("gw-2", "disconnected", "g1", 1, t0 + 2 * min),
            t0 + 2 * min,
        ),
        (
            ev("pump-1", "connected", "p1", 2, t0 + 16 * min),
            t0 + 16 * min,
        ),
        (
            ev("gw-2", "connected", "g2", 2, t0 + 2 * min + 5_000),
            t0 + 2 * min + 5_000,
        ),
    ] {
        handle(&store, &payload, at + 500).await.expect("handled");
    }
    tables
}

/// The documented schema (docs/presence-changed.schema.json), compiled.
fn schema() -> (boon::Schemas, boon::SchemaIndex) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/presence-changed.schema.json"
    ))
    .expect("the schema");
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    let url = "file:///presence-changed.schema.json";
    compiler
        .add_resource(
            url,
            serde_json::from_str(&text).expect("the schema is JSON"),
        )
        .expect("add the schema");
    let index = compiler.compile(url, &mut schemas).expect("a valid schema");
    (schemas, index)
}

#[tokio::test]
async fn a_crash_before_the_checkpoint_repeats_ids_and_never_skips_one() {
    let tables = two_clients().await;
    let records = Stream::of(&tables.status).await.records().await;
    assert_eq!(records.len(), 6);
    let bus = Bus::start();
    let p = publisher(bus.client(), "default").await;
    // The function put the first four records' events, then died before Lambda recorded its
    // answer: Lambda sends those records again, with the rest.
    deliver(&p, &records[..4], 4).await;
    deliver(&p, &records, 4).await;
    let changes = details(&bus.accepted());
    assert_eq!(changes.len(), 4 + 6);
    // Every detail is what the documented schema describes; the schema refuses a wrong one.
    let (schemas, index) = schema();
    for a in bus.accepted() {
        if let Err(err) = schemas.validate(&a.detail, index) {
            panic!("{} does not match the schema: {err}", a.detail);
        }
    }
    let mut wrong = bus.accepted()[0].detail.clone();
    wrong["state"] = json!("online");
    assert!(
        schemas.validate(&wrong, index).is_err(),
        "the schema checks nothing"
    );
    let mut extra = bus.accepted()[0].detail.clone();
    extra["ipAddress"] = json!("198.51.100.7");
    assert!(
        schemas.validate(&extra, index).is_err(),
        "no personal data slips in"
    );
    let mut by_id: BTreeMap<&str, Vec<&PresenceChanged>> = BTreeMap::new();
    for c in &changes {
        by_id.entry(c.event_id.as_str()).or_default().push(c);
    }
    let ids: Vec<&str> = by_id.keys().copied().collect();
    assert_eq!(
        ids,
        ["gw-2#1", "gw-2#2", "gw-2#3", "pump-1#1", "pump-1#2", "pump-1#3"]
    );
    for (id, copies) in &by_id {
        assert!(
            copies.windows(2).all(|w| w[0] == w[1]),
            "{id}: copies differ"
        );
    }
    // The details a consumer acts on.
    let back = by_id["pump-1#3"][0];
    assert_eq!(back.outage_ms, Some(15 * 60_000));
    assert!(back.session_resumed, "p1 again, a higher version");
    let blip = by_id["gw-2#3"][0];
    assert_eq!(blip.outage_ms, Some(5_000));
    assert!(!blip.session_resumed, "a new session");
    let drop = by_id["gw-2#2"][0];
    assert_eq!(drop.disconnect_reason.as_deref(), Some("CONNECTION_LOST"));
}

#[tokio::test]
async fn refused_entries_are_sent_again_then_queued_whole_and_failed_calls_retry_the_batch() {
    let tables = two_clients().await;
    let records = Stream::of(&tables.status).await.records().await;

    // Two refusals: the second attempt puts them; nothing is queued.
    let bus = Bus::start();
    let p = publisher(bus.client(), "default").await;
    bus.refuse_entries(2);
    let invocations = deliver(&p, &records, 10).await;
    assert_eq!(invocations.len(), 1);
    assert_eq!((invocations[0].put, invocations[0].queued), (6, 0));
    assert_eq!(bus.counts(), (2, 2));
    assert_eq!(bus.accepted().len(), 6);

    // One entry refused on every attempt: the other five are put, it waits in the queue whole.
    let bus = Bus::start();
    let p = publisher(bus.client(), "fleet-bus").await;
    bus.refuse_matching("\"eventId\":\"gw-2#2\"", ATTEMPTS);
    let invocations = deliver(&p, &records, 10).await;
    assert_eq!((invocations[0].put, invocations[0].queued), (5, 1));
    let message = local::sqs_client()
        .receive_message()
        .queue_url(&p.config.failed_queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("ReceiveMessage");
    let bodies: Vec<FailedChange> = message
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).expect("a FailedChange"))
        .collect();
    assert_eq!(bodies.len(), 1);
    let put_ids: Vec<String> = details(&bus.accepted())
        .into_iter()
        .map(|c| c.event_id)
        .collect();
    assert_eq!(bodies[0].detail.event_id, "gw-2#2");
    assert!(!put_ids.contains(&bodies[0].detail.event_id));
    assert_eq!(bodies[0].event_bus, "fleet-bus");
    assert!(
        bodies[0].error.starts_with("ThrottlingException"),
        "{}",
        bodies[0].error
    );
    assert!(bus.accepted().iter().all(|a| a.bus == "fleet-bus"));

    // Whole calls failing (the SDK's retries used up): the batch is answered with the first
    // record as a failure, and Lambda's retries put everything, in order.
    let bus = Bus::start();
    let p = publisher(bus.client(), "default").await;
    bus.fail_calls(4);
    let invocations = deliver(&p, &records, 10).await;
    assert!(invocations.len() >= 2, "{invocations:?}");
    assert_eq!(invocations.last().unwrap().put, 6);
    let per_client = sequences(&details(&bus.accepted()));
    assert_eq!(per_client["pump-1"], [1, 2, 3]);
    assert_eq!(per_client["gw-2"], [1, 2, 3]);
}

/// moto's EventBridge, as a consumer sets it up (docs/events.md): a rule for clients back after
/// more than 10 minutes offline, with an SQS target, gets exactly those.
#[tokio::test]
async fn a_rule_on_moto_receives_only_the_long_outages() {
    let tables = two_clients().await;
    let records = Stream::of(&tables.status).await.records().await;
    let events = aws_sdk_eventbridge::Client::new(&local::messaging_config());
    let bus = format!("presence-{}", unique());
    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("CreateEventBus");
    let sqs = local::sqs_client();
    let target = sqs
        .create_queue()
        .queue_name(format!("long-outages-{}", unique()))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&target)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .unwrap();
    let pattern = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/examples/long-outage-rule.json"
    ))
    .expect("docs/examples/long-outage-rule.json");
    serde_json::from_str::<Value>(&pattern).expect("the documented pattern is JSON");
    events
        .put_rule()
        .name("long-outages")
        .event_bus_name(&bus)
        .event_pattern(pattern)
        .send()
        .await
        .expect("PutRule");
    events
        .put_targets()
        .rule("long-outages")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("PutTargets");
    let p = publisher(events, &bus).await;
    let invocations = deliver(&p, &records, 10).await;
    assert_eq!(invocations[0].put, 6);
    let got = sqs
        .receive_message()
        .queue_url(&target)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let ids: Vec<String> = got
        .messages()
        .iter()
        .map(|m| {
            let event: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            event["detail"]["eventId"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        ids,
        ["pump-1#3"],
        "only the 15-minute outage is longer than 10"
    );
}

/// `presence redrive --queue changes-failed`: a refused event is put again with its event id
/// and deleted from the queue; a description of a stream batch Lambda gave up on is left, with
/// the reason, and the run exits 4 (work left undone).
#[cfg(feature = "cli")]
#[tokio::test]
async fn redrive_puts_refused_events_again_and_leaves_stream_batch_descriptions() {
    let tables = two_clients().await;
    let records = Stream::of(&tables.status).await.records().await;
    let bus = Bus::start();
    let p = publisher(bus.client(), "fleet-bus").await;
    bus.refuse_matching("\"eventId\":\"pump-1#2\"", ATTEMPTS);
    deliver(&p, &records, 10).await;
    assert_eq!(bus.accepted().len(), 5);
    let queue = p.config.failed_queue_url.clone();
    let gave_up = json!({"requestContext": {"condition": "RetryAttemptsExhausted"},
        "DDBStreamBatchInfo": {"shardId": "shardId-00000001", "startSequenceNumber": "100",
        "endSequenceNumber": "199", "batchSize": 100}});
    local::sqs_client()
        .send_message()
        .queue_url(&queue)
        .message_body(gave_up.to_string())
        .send()
        .await
        .unwrap();

    let out = local::presence_command(&tables)
        .env("AWS_ENDPOINT_URL_EVENTBRIDGE", &bus.url)
        .args(["redrive", "--queue", &queue, "-o", "json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("a stream batch Lambda gave up on (shard shardId-00000001"),
        "{err}"
    );
    let counts: Value = serde_json::from_slice(&out.stdout).expect("JSON counts");
    assert_eq!(
        (counts["published"].as_u64(), counts["deleted"].as_u64()),
        (Some(1), Some(1))
    );
    let again = bus.accepted();
    assert_eq!(again.len(), 6);
    let last = &again[5];
    assert_eq!(
        (last.bus.as_str(), last.detail["eventId"].as_str()),
        ("fleet-bus", Some("pump-1#2"))
    );
}

/// Lambda's own event shape (events/stream/status-changes.json: an insert, a bookkeeping
/// modify, a disconnect, a TTL deletion, as Lambda delivers them): two changes.
#[test]
fn lambdas_stream_event_shape_gives_exactly_its_changes() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/stream/status-changes.json"
    ))
    .unwrap();
    let event: iot_presence::functions::changes::StreamEvent =
        serde_json::from_str(&text).expect("Lambda's DynamoDB stream event");
    let changes = iot_presence::functions::changes::changes_of(&event).unwrap();
    let ids: Vec<(&str, &str)> = changes
        .iter()
        .map(|(seq, c)| (seq.as_str(), c.event_id.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("4421584500000000017450439091", "pump-7#1"),
            ("4421584700000000017450439093", "pump-7#2")
        ]
    );
    let down = &changes[1].1;
    assert_eq!(
        down.disconnect_reason.as_deref(),
        Some("MQTT_KEEP_ALIVE_TIMEOUT")
    );
    assert_eq!(down.since, "2025-12-06T06:01:40.000Z");
}
