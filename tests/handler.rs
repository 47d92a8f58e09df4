//! The real handler against the local DynamoDB server: what each kind of event does to the
//! two tables, idempotency, invalid input and store failures.

mod common;

use common::local::{self, b, event_rows, is_null, n, s, status_item, Tables};
use iot_presence::config::DEFAULT_STATUS_SHARDS;
use iot_presence::event::Presence;
use iot_presence::functions::ingest::{handle, HandlerError, Response};
use iot_presence::rule::{Outcome, Window};
use iot_presence::store::schema::{attr, status_shard};
use iot_presence::store::Store;
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};

const NOW: u64 = 1_800_000_000_000;
const T: u64 = 1_702_566_391_861;

fn connected(client: &str, session: &str, version: u64, ts: u64) -> Value {
    json!({"clientId": client, "timestamp": ts, "eventType": "connected",
           "sessionIdentifier": session, "versionNumber": version,
           "principalIdentifier": "226c64225fce225672257c31e2cb6d3ad21ca514af690bc5cb44f5f58c2222",
           "ipAddress": "8.8.42.11"})
}

fn disconnected(client: &str, session: &str, version: u64, ts: u64, reason: &str) -> Value {
    json!({"clientId": client, "timestamp": ts, "eventType": "disconnected",
           "sessionIdentifier": session, "versionNumber": version,
           "clientInitiatedDisconnect": reason == "CLIENT_INITIATED_DISCONNECT",
           "principalIdentifier": "226c64225fce225672257c31e2cb6d3ad21ca514af690bc5cb44f5f58c2222",
           "disconnectReason": reason})
}

async fn setup() -> (aws_sdk_dynamodb::Client, Tables, Store) {
    let client = local::client();
    let tables = local::create_tables().await;
    let store = local::store(&client, &tables, Window::DEFAULT);
    (client, tables, store)
}

async fn send(store: &Store, event: &Value) -> Outcome {
    handle(store, &event.to_string(), NOW)
        .await
        .expect("handled")
        .outcome
}

#[tokio::test]
async fn a_session_connects_then_disconnects() {
    let (client, tables, store) = setup().await;
    let payload = connected("dev-1", "s1", 7, T).to_string();
    let response = handle(&store, &payload, NOW).await.unwrap();
    assert_eq!(response.outcome, Outcome::Applied);
    assert_eq!(response.event_key, format!("{T}#connected#s1#v7"));

    let item = status_item(&client, &tables, "dev-1").await.unwrap();
    assert_eq!(b(&item, attr::CONNECTED), Some(true));
    assert_eq!(s(&item, attr::EVENT_TYPE), Some("connected"));
    assert_eq!(s(&item, attr::SESSION), Some("s1"));
    assert_eq!(n(&item, attr::VERSION), Some(7));
    assert_eq!(n(&item, attr::EVENT_TIMESTAMP), Some(T));
    assert_eq!(n(&item, attr::CONNECTED_AT), Some(T));
    assert_eq!(s(&item, attr::DISCONNECT_REASON), Some("NONE"));
    assert_eq!(s(&item, attr::IP_ADDRESS), Some("8.8.42.11"));
    assert_eq!(n(&item, attr::UPDATED_AT), Some(NOW));
    assert_eq!(
        s(&item, attr::STATUS_SHARD),
        Some(status_shard("dev-1", Presence::Connected, DEFAULT_STATUS_SHARDS).as_str())
    );
    assert!(!item.contains_key(attr::DISCONNECTED_AT));
    assert!(!item.contains_key(attr::CLIENT_INITIATED));

    let t2 = T + 60_000;
    let outcome = send(
        &store,
        &disconnected("dev-1", "s1", 7, t2, "MQTT_KEEP_ALIVE_TIMEOUT"),
    )
    .await;
    assert_eq!(outcome, Outcome::Applied);
    let item = status_item(&client, &tables, "dev-1").await.unwrap();
    assert_eq!(b(&item, attr::CONNECTED), Some(false));
    assert_eq!(
        s(&item, attr::DISCONNECT_REASON),
        Some("MQTT_KEEP_ALIVE_TIMEOUT")
    );
    assert_eq!(b(&item, attr::CLIENT_INITIATED), Some(false));
    assert_eq!(n(&item, attr::DISCONNECTED_AT), Some(t2));
    // The session's own connect time and address carry over.
    assert_eq!(n(&item, attr::CONNECTED_AT), Some(T));
    assert_eq!(s(&item, attr::IP_ADDRESS), Some("8.8.42.11"));
    assert_eq!(
        s(&item, attr::STATUS_SHARD),
        Some(status_shard("dev-1", Presence::Disconnected, DEFAULT_STATUS_SHARDS).as_str())
    );

    // The log holds both events, raw, in time order, with their outcomes and TTL.
    let rows = event_rows(&client, &tables, "dev-1").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(s(&rows[0], attr::PAYLOAD), Some(payload.as_str()));
    assert_eq!(s(&rows[0], attr::OUTCOME), Some("applied"));
    assert_eq!(s(&rows[1], attr::EVENT_TYPE), Some("disconnected"));
    assert_eq!(
        n(&rows[1], attr::EXPIRES_AT),
        Some(NOW / 1000 + 30 * 86_400)
    );
    assert_eq!(n(&rows[1], attr::RECEIVED_AT), Some(NOW));
}

#[tokio::test]
async fn a_disconnect_whose_connect_was_not_seen_carries_nothing_of_another_session() {
    let (client, tables, store) = setup().await;
    send(&store, &connected("dev-2", "old", 3, T)).await;
    // Session "new" connected (event lost or late), then dropped two hours later.
    let later = T + 2 * 3_600_000;
    let outcome = send(
        &store,
        &disconnected("dev-2", "new", 0, later, "CONNECTION_LOST"),
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::Applied,
        "newer by more than W despite the version reset"
    );
    let item = status_item(&client, &tables, "dev-2").await.unwrap();
    assert_eq!(s(&item, attr::SESSION), Some("new"));
    assert!(
        is_null(&item, attr::CONNECTED_AT),
        "connectedAt: {:?}",
        item.get(attr::CONNECTED_AT)
    );
    assert!(
        is_null(&item, attr::IP_ADDRESS),
        "ipAddress: {:?}",
        item.get(attr::IP_ADDRESS)
    );
    // The late connect of that session is stale and changes nothing.
    assert_eq!(
        send(&store, &connected("dev-2", "new", 0, later - 1000)).await,
        Outcome::Stale
    );
    assert_eq!(status_item(&client, &tables, "dev-2").await.unwrap(), item);
}

/// A persistent session has several connections: a disconnect carries over its own
/// connection's connect details, never those of an earlier connection of the same session.
#[tokio::test]
async fn a_resumed_session_carries_each_connections_own_details() {
    let (client, tables, store) = setup().await;
    send(&store, &connected("dev-p", "p", 7, T)).await;
    send(
        &store,
        &disconnected("dev-p", "p", 7, T + 30_000, "CONNECTION_LOST"),
    )
    .await;
    // The reconnect resumes session "p" at version 8: applied, not stale.
    assert_eq!(
        send(&store, &connected("dev-p", "p", 8, T + 45_000)).await,
        Outcome::Applied
    );
    let item = status_item(&client, &tables, "dev-p").await.unwrap();
    assert_eq!(
        (b(&item, attr::CONNECTED), n(&item, attr::CONNECTED_AT)),
        (Some(true), Some(T + 45_000))
    );
    // Its disconnect carries its own connect time.
    send(
        &store,
        &disconnected("dev-p", "p", 8, T + 300_000, "MQTT_KEEP_ALIVE_TIMEOUT"),
    )
    .await;
    let item = status_item(&client, &tables, "dev-p").await.unwrap();
    assert_eq!(n(&item, attr::CONNECTED_AT), Some(T + 45_000));
    assert_eq!(s(&item, attr::IP_ADDRESS), Some("8.8.42.11"));
    // Version 9 connected (its connect lost) and dropped: nothing of version 8 is carried over.
    assert_eq!(
        send(
            &store,
            &disconnected("dev-p", "p", 9, T + 600_000, "CONNECTION_LOST")
        )
        .await,
        Outcome::Applied
    );
    let item = status_item(&client, &tables, "dev-p").await.unwrap();
    assert_eq!(n(&item, attr::VERSION), Some(9));
    assert!(is_null(&item, attr::CONNECTED_AT), "{item:?}");
    assert!(is_null(&item, attr::IP_ADDRESS), "{item:?}");
}

#[tokio::test]
async fn stale_and_duplicate_events_are_recorded_and_change_nothing() {
    let (client, tables, store) = setup().await;
    send(&store, &connected("dev-3", "s2", 11, T)).await;
    let before = status_item(&client, &tables, "dev-3").await.unwrap();

    // The knocked-off session's disconnect arrives late, with a later timestamp inside W.
    let knock_off = disconnected("dev-3", "s1", 10, T + 30_000, "DUPLICATE_CLIENTID");
    assert_eq!(send(&store, &knock_off).await, Outcome::Stale);
    // Another copy of the connect with a different timestamp: same session, same type.
    assert_eq!(
        send(&store, &connected("dev-3", "s2", 11, T + 5)).await,
        Outcome::Duplicate
    );
    assert_eq!(
        status_item(&client, &tables, "dev-3").await.unwrap(),
        before
    );

    let rows = event_rows(&client, &tables, "dev-3").await;
    let outcomes: Vec<_> = rows.iter().map(|r| s(r, attr::OUTCOME).unwrap()).collect();
    assert_eq!(outcomes, ["applied", "duplicate", "stale"]);
}

#[tokio::test]
async fn redelivery_changes_nothing_and_answers_the_same() {
    let (client, tables, store) = setup().await;
    let first = connected("dev-4", "s1", 1, T);
    let stale = disconnected("dev-4", "s0", 0, T - 10 * 60_000, "CONNECTION_LOST");
    let failed = json!({"clientId": "dev-4", "timestamp": T + 1, "eventType": "connect_failed",
                        "sessionIdentifier": "f1", "connectFailureReason": "AUTHORIZATION_FAILED"});
    let mut answers = Vec::new();
    for e in [&first, &stale, &failed] {
        answers.push(handle(&store, &e.to_string(), NOW).await.unwrap());
    }
    let status = status_item(&client, &tables, "dev-4").await;
    let rows = event_rows(&client, &tables, "dev-4").await;

    for (e, answer) in [&first, &stale, &failed].into_iter().zip(&answers) {
        // Later, with a different clock: nothing moves.
        // The answer is the same, and says it is a redelivery.
        let again = handle(&store, &e.to_string(), NOW + 999).await.unwrap();
        assert!(!answer.redelivered);
        assert!(again.redelivered, "{again:?}");
        assert_eq!(
            Response {
                redelivered: false,
                consumed_capacity: answer.consumed_capacity.clone(),
                ..again
            },
            *answer
        );
    }
    assert_eq!(status_item(&client, &tables, "dev-4").await, status);
    assert_eq!(event_rows(&client, &tables, "dev-4").await, rows);
    assert_eq!(
        answers.iter().map(|a| a.outcome).collect::<Vec<_>>(),
        [Outcome::Applied, Outcome::Stale, Outcome::Recorded]
    );
}

#[tokio::test]
async fn a_retry_after_a_crash_between_the_two_writes_ends_as_a_clean_delivery() {
    let (client, tables, store) = setup().await;
    let e = connected("dev-5", "s1", 1, T).to_string();
    handle(&store, &e, NOW).await.unwrap();
    let clean_rows = event_rows(&client, &tables, "dev-5").await;
    // Simulate the crash: the status was written, the event row was not.
    client
        .delete_item()
        .table_name(&tables.events)
        .key(
            attr::CLIENT_ID,
            aws_sdk_dynamodb::types::AttributeValue::S("dev-5".into()),
        )
        .key(
            attr::EVENT_KEY,
            aws_sdk_dynamodb::types::AttributeValue::S(format!("{T}#connected#s1#v1")),
        )
        .send()
        .await
        .unwrap();
    let retry = handle(&store, &e, NOW).await.unwrap();
    assert_eq!(retry.outcome, Outcome::Applied);
    assert_eq!(event_rows(&client, &tables, "dev-5").await, clean_rows);
}

#[tokio::test]
async fn connect_failed_is_logged_and_never_changes_the_status() {
    let (client, tables, store) = setup().await;
    let failed = json!({"clientId": "dev-6", "timestamp": T, "eventType": "connect_failed",
                        "sessionIdentifier": "f1", "principalIdentifier": "p",
                        "ipAddress": "203.0.113.9", "connectFailureReason": "AUTHORIZATION_FAILED"});
    assert_eq!(send(&store, &failed).await, Outcome::Recorded);
    assert_eq!(status_item(&client, &tables, "dev-6").await, None);
    send(&store, &connected("dev-6", "s1", 1, T + 1)).await;
    let before = status_item(&client, &tables, "dev-6").await;
    let mut later = failed.clone();
    later["timestamp"] = json!(T + 5);
    later["sessionIdentifier"] = json!("f2");
    assert_eq!(send(&store, &later).await, Outcome::Recorded);
    assert_eq!(status_item(&client, &tables, "dev-6").await, before);
    let rows = event_rows(&client, &tables, "dev-6").await;
    assert_eq!(rows.len(), 3);
    assert_eq!(
        s(&rows[0], attr::CONNECT_FAILURE_REASON),
        Some("AUTHORIZATION_FAILED")
    );
}

#[tokio::test]
async fn invalid_events_fail_with_the_reason_and_write_nothing() {
    let (client, tables, store) = setup().await;
    let mut bad_version = connected("dev-7", "s1", 1, T);
    bad_version["versionNumber"] = json!(-1);
    let mut mismatch = connected("dev-7", "s1", 1, T);
    mismatch["topicClientId"] = json!("someone-else");
    for (payload, message) in [
        (
            bad_version.to_string(),
            "field `versionNumber` must be a non-negative integer, got -1",
        ),
        (mismatch.to_string(), "field `topicClientId`"),
        ("[]".to_string(), "event must be a JSON object"),
    ] {
        let err = handle(&store, &payload, NOW).await.unwrap_err();
        assert!(matches!(err, HandlerError::Invalid(_)));
        let diagnostic = Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "InvalidEvent");
        assert!(
            diagnostic.error_message.contains(message),
            "{}",
            diagnostic.error_message
        );
    }
    assert_eq!(status_item(&client, &tables, "dev-7").await, None);
    assert!(event_rows(&client, &tables, "dev-7").await.is_empty());
}

/// One event stamped in the future would win the ordering rule against every genuine event
/// until the clock caught up (and push its offline alert out as far): it is kept as `invalid`,
/// with the reason, and never touches the status.
#[tokio::test]
async fn an_event_from_the_future_is_recorded_invalid_and_changes_nothing() {
    let (client, tables, store) = setup().await;
    send(&store, &connected("dev-f", "s1", 4, NOW - 60_000)).await;
    let before = status_item(&client, &tables, "dev-f").await.unwrap();

    // Year 2286 (the largest timestamp the parser takes), then just past the skew.
    let skew = iot_presence::config::DEFAULT_FUTURE_SKEW_MS;
    for (ts, session) in [(9_999_999_999_999, "forged"), (NOW + skew + 1, "early")] {
        let forged = disconnected("dev-f", session, 99, ts, "CONNECTION_LOST");
        assert_eq!(send(&store, &forged).await, Outcome::Invalid);
        // A redelivery answers the same, and still changes nothing.
        assert_eq!(send(&store, &forged).await, Outcome::Invalid);
    }
    assert_eq!(
        status_item(&client, &tables, "dev-f").await.unwrap(),
        before
    );
    let rows = event_rows(&client, &tables, "dev-f").await;
    let invalid: Vec<_> = rows
        .iter()
        .filter(|r| s(r, attr::OUTCOME) == Some("invalid"))
        .collect();
    assert_eq!(invalid.len(), 2);
    for row in invalid {
        let reason = s(row, attr::INVALID_REASON).unwrap();
        assert!(
            reason.contains("ahead of the receiving clock") && reason.contains("FUTURE_SKEW_MS"),
            "{reason}"
        );
    }
    // At the skew exactly: accepted. And the genuine disconnect that follows applies.
    assert_eq!(
        send(&store, &connected("dev-f", "s2", 5, NOW + skew)).await,
        Outcome::Applied
    );
    let genuine = disconnected("dev-f", "s2", 5, NOW + skew + 1_000, "CONNECTION_LOST");
    let received = handle(&store, &genuine.to_string(), NOW + 2_000).await;
    assert_eq!(received.unwrap().outcome, Outcome::Applied);
}

/// With STATUS_RETENTION_DAYS set, every status write pushes the item's TTL (`expiresAt`) that
/// many days ahead, so a client silent that long expires with its personal data; set back to 0,
/// the next write removes it.
#[tokio::test]
async fn status_items_expire_after_the_retention_when_it_is_set() {
    let client = local::client();
    let tables = local::create_tables().await;
    let config = iot_presence::config::Config {
        status_retention_days: 90,
        ..iot_presence::config::Config::with_tables(&tables.status, &tables.events)
    };
    let store = Store::new(client.clone(), &config);
    send(&store, &connected("dev-ttl", "s1", 1, T)).await;
    let item = status_item(&client, &tables, "dev-ttl").await.unwrap();
    assert_eq!(n(&item, attr::EXPIRES_AT), Some(NOW / 1000 + 90 * 86_400));
    // A stale event is not a sign of life of the status: nothing changes.
    send(&store, &connected("dev-ttl", "s0", 0, T - 10 * 60_000)).await;
    assert_eq!(
        status_item(&client, &tables, "dev-ttl").await.unwrap(),
        item
    );
    let off = local::store(&client, &tables, Window::DEFAULT);
    send(
        &off,
        &disconnected("dev-ttl", "s1", 1, T + 1, "CONNECTION_LOST"),
    )
    .await;
    let item = status_item(&client, &tables, "dev-ttl").await.unwrap();
    assert!(!item.contains_key(attr::EXPIRES_AT), "{item:?}");
}

#[tokio::test]
async fn store_failures_fail_the_invocation_with_the_cause() {
    let client = local::client();
    let missing = Tables {
        status: "no-such-status-table".into(),
        events: "no-such-events-table".into(),
    };
    let store = local::store(&client, &missing, Window::DEFAULT);
    let err = handle(&store, &connected("dev-8", "s1", 1, T).to_string(), NOW)
        .await
        .unwrap_err();
    let diagnostic = Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "StoreError");
    assert!(
        diagnostic.error_message.contains("no-such-status-table"),
        "{}",
        diagnostic.error_message
    );
    assert!(
        diagnostic.error_message.contains("ResourceNotFound"),
        "{}",
        diagnostic.error_message
    );
}

#[tokio::test]
async fn an_unreachable_store_is_a_transient_error() {
    // Nothing listens on port 9 of loopback: connection refused, every attempt.
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "a", "b", None, None, "t",
        ))
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let tables = Tables {
        status: "s".into(),
        events: "e".into(),
    };
    let store = local::store(&client, &tables, Window::DEFAULT);
    let err = handle(&store, &connected("dev-9", "s1", 1, T).to_string(), NOW)
        .await
        .unwrap_err();
    assert_eq!(Diagnostic::from(err).error_type, "TransientStoreError");
}

#[tokio::test]
async fn a_settings_only_item_counts_as_no_status() {
    // Later features store per-client settings on the status item before any event.
    let (client, tables, store) = setup().await;
    client
        .put_item()
        .table_name(&tables.status)
        .item(
            attr::CLIENT_ID,
            aws_sdk_dynamodb::types::AttributeValue::S("dev-10".into()),
        )
        .item(
            "offlineThresholdSeconds",
            aws_sdk_dynamodb::types::AttributeValue::N("600".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        send(&store, &connected("dev-10", "s1", 1, T)).await,
        Outcome::Applied
    );
    let item = status_item(&client, &tables, "dev-10").await.unwrap();
    assert_eq!(b(&item, attr::CONNECTED), Some(true));
    assert_eq!(n(&item, "offlineThresholdSeconds"), Some(600));
}

/// Two distinct events that share the timestamp, type and session (two connections of one
/// persistent session in one millisecond, or a crafted pair) each get a row of their own, once:
/// the second is not read as a redelivery of the first.
#[tokio::test]
async fn events_that_differ_only_in_version_each_get_their_own_row() {
    let (client, tables, store) = setup().await;
    let first = connected("dev-v", "s1", 4, T).to_string();
    let second = connected("dev-v", "s1", 5, T).to_string();
    let a = handle(&store, &first, NOW).await.unwrap();
    let b2 = handle(&store, &second, NOW).await.unwrap();
    assert_eq!(
        (a.outcome, b2.outcome),
        (Outcome::Applied, Outcome::Applied)
    );
    assert_ne!(a.event_key, b2.event_key);
    assert_eq!(b2.event_key, format!("{T}#connected#s1#v5"));
    let item = status_item(&client, &tables, "dev-v").await.unwrap();
    assert_eq!(n(&item, attr::VERSION), Some(5));
    assert_eq!(s(&item, attr::LAST_EVENT_KEY), Some(b2.event_key.as_str()));
    let rows = event_rows(&client, &tables, "dev-v").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| s(r, attr::OUTCOME) == Some("applied")));
    // Each redelivered: still two rows, each answered from its own.
    for payload in [&first, &second] {
        let again = handle(&store, payload, NOW + 1).await.unwrap();
        assert!(again.redelivered, "{again:?}");
    }
    assert_eq!(event_rows(&client, &tables, "dev-v").await.len(), 2);
}

/// A forged lifecycle event in each form that reaches the function. As the rule delivers it
/// (Basic Ingest: topic fields that agree), it is indistinguishable from AWS's and applies, but
/// a crafted version and a lead on the clock buy it nothing against the next genuine event.
/// With topic fields that disagree it is refused and writes nothing. Invoked directly without
/// topic fields (an IAM principal allowed lambda:InvokeFunction) it is an ordinary event.
#[tokio::test]
async fn forged_events_in_each_form_that_reaches_the_function() {
    let (client, tables, store) = setup().await;
    let skew = iot_presence::config::DEFAULT_FUTURE_SKEW_MS;
    // Through the rule: the SQL's topic fields, agreeing with the payload.
    let mut through_the_rule =
        disconnected("victim", "forged", u64::MAX, NOW + skew, "CONNECTION_LOST");
    through_the_rule["topicEventType"] = json!("disconnected");
    through_the_rule["presenceTopic"] = json!("$aws/events/presence/disconnected/victim");
    assert_eq!(send(&store, &through_the_rule).await, Outcome::Applied);
    let item = status_item(&client, &tables, "victim").await.unwrap();
    assert_eq!(
        n(&item, attr::EVENT_TIMESTAMP),
        Some(NOW),
        "the lead counts as the receipt"
    );
    // The device's next genuine connect, W after the forged event arrived, wins.
    let genuine = connected("victim", "real", 0, NOW + Window::DEFAULT.ms() + 1).to_string();
    let applied = handle(&store, &genuine, NOW + Window::DEFAULT.ms() + 1)
        .await
        .unwrap();
    assert_eq!(applied.outcome, Outcome::Applied);
    assert_eq!(
        b(
            &status_item(&client, &tables, "victim").await.unwrap(),
            attr::CONNECTED
        ),
        Some(true)
    );

    // Topic fields that disagree with the payload: refused, nothing written.
    let mut disagreeing = connected("bystander", "forged", u64::MAX, NOW);
    disagreeing["topicEventType"] = json!("disconnected");
    disagreeing["presenceTopic"] = json!("$aws/events/presence/disconnected/bystander");
    let err = handle(&store, &disagreeing.to_string(), NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, HandlerError::Invalid(_)), "{err:?}");
    assert_eq!(status_item(&client, &tables, "bystander").await, None);
    assert!(event_rows(&client, &tables, "bystander").await.is_empty());

    // Invoked directly, no topic fields: an ordinary event, recorded raw for the audit.
    let direct = disconnected("direct", "forged", 9, NOW, "CONNECTION_LOST");
    assert_eq!(send(&store, &direct).await, Outcome::Applied);
    assert_eq!(event_rows(&client, &tables, "direct").await.len(), 1);
}

/// A client id with `/` (AWS excludes only `#` and `+`): its topic has more levels than five,
/// the rule's `+/#` delivers it with the whole topic, and it is recorded and applied like any
/// other, under its whole id. The same event with a topic that cuts the id short, or adds a
/// level, is refused and writes nothing: nothing is dropped silently either way.
#[tokio::test]
async fn client_ids_with_slashes_are_recorded_under_their_whole_id() {
    let (client, tables, store) = setup().await;
    let id = "site-3/line/gw-7";
    let on = |event: Value, topic: &str| {
        let mut event = event;
        event["topicEventType"] = event["eventType"].clone();
        event["presenceTopic"] = json!(topic);
        event
    };
    let topic = format!("$aws/events/presence/connected/{id}");
    assert_eq!(
        send(&store, &on(connected(id, "s", 1, NOW), &topic)).await,
        Outcome::Applied
    );
    let topic = format!("$aws/events/presence/disconnected/{id}");
    let later = on(disconnected(id, "s", 1, NOW + 1, "CONNECTION_LOST"), &topic);
    assert_eq!(send(&store, &later).await, Outcome::Applied);
    let item = status_item(&client, &tables, id).await.unwrap();
    assert_eq!(b(&item, attr::CONNECTED), Some(false));
    assert_eq!(event_rows(&client, &tables, id).await.len(), 2);

    for topic in [
        "$aws/events/presence/connected/site-3/line".to_owned(),
        format!("$aws/events/presence/connected/{id}/extra"),
    ] {
        let cut = on(connected("other/gw", "s", 1, NOW), &topic);
        let err = handle(&store, &cut.to_string(), NOW).await.unwrap_err();
        assert!(matches!(err, HandlerError::Invalid(_)), "{topic}: {err:?}");
    }
    assert_eq!(status_item(&client, &tables, "other/gw").await, None);
    assert!(event_rows(&client, &tables, "other/gw").await.is_empty());
}
