//! Bounded fields: no accepted event can fail its event-row write for size, and the bounds
//! reject exactly what is past them. DynamoDB refuses a sort key over 1,024 bytes and an item
//! over 400 KB; before the bounds, a 5,000-byte `sessionIdentifier` changed the status, then
//! failed its row write on every retry until the event landed in the failure queue with no row.

mod common;

use common::local::{self, event_rows, status_item, RECEIVED_LATER};
use iot_presence::event::{
    InvalidEvent, LifecycleEvent, MAX_CLIENT_ID_BYTES, MAX_EVENT_KEY_BYTES, MAX_FIELD_BYTES,
    MAX_PAYLOAD_BYTES, MAX_SESSION_BYTES, MAX_SORT_KEY_BYTES, MAX_THING_NAME_BYTES,
};
use iot_presence::functions::ingest::handle;
use iot_presence::rule::{Outcome, Window};
use iot_presence::store::events::event_row;
use iot_presence::store::status::status_update;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// DynamoDB's item size: attribute names plus values (strings in UTF-8 bytes; numbers at most
/// 21 bytes; booleans and nulls 1 byte; maps 3 bytes plus their contents).
fn item_size(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    fn value(v: &A) -> usize {
        match v {
            A::S(s) => s.len(),
            A::N(_) => 21,
            A::Bool(_) | A::Null(_) => 1,
            A::M(m) => 3 + m.iter().map(|(k, v)| k.len() + value(v)).sum::<usize>(),
            other => panic!("unexpected attribute type {other:?}"),
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

/// A string of exactly `bytes` bytes, made of `unit` (1 to 4 bytes per character) and ASCII.
fn text(bytes: usize, unit: char) -> String {
    let mut s = String::new();
    while s.len() + unit.len_utf8() <= bytes {
        s.push(unit);
    }
    while s.len() < bytes {
        s.push('x');
    }
    s
}

/// An event with every string field `delta` bytes from its bound (negative: under it), padded
/// with an unknown field so that the whole payload is `payload_bytes` long when that fits.
fn event(delta: i64, unit: char, payload_bytes: usize) -> String {
    let len = |max: usize| (max as i64 + delta).max(1) as usize;
    let mut v = json!({
        "clientId": text(len(MAX_CLIENT_ID_BYTES), unit),
        "timestamp": 1_763_712_000_000u64,
        "eventType": "disconnected",
        "sessionIdentifier": text(len(MAX_SESSION_BYTES), unit),
        "principalIdentifier": text(len(MAX_FIELD_BYTES), unit),
        "thingName": text(len(MAX_THING_NAME_BYTES), unit),
        "disconnectReason": text(len(MAX_FIELD_BYTES), unit),
        "clientInitiatedDisconnect": false,
        "versionNumber": u64::MAX,
    });
    let base = v.to_string().len();
    let filler = "\"vendorBlob\":\"\",".len();
    if payload_bytes > base + filler {
        v.as_object_mut().unwrap().insert(
            "vendorBlob".into(),
            Value::String("z".repeat(payload_bytes - base - filler)),
        );
    }
    v.to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Every accepted event has a key and a row DynamoDB takes; every field past its bound is
    /// rejected, naming the field.
    #[test]
    fn accepted_events_always_fit_a_row(
        delta in -3i64..=2,
        unit in prop::sample::select(vec!['a', 'é', '€', '🛰']),
        payload in prop::sample::select(vec![0, MAX_PAYLOAD_BYTES - 1, MAX_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES + 1]),
        retention in prop::sample::select(vec![0u32, 3650]),
    ) {
        let raw = event(delta, unit, payload);
        match LifecycleEvent::parse(&raw) {
            Ok(e) => {
                prop_assert!(delta <= 0 && raw.len() <= MAX_PAYLOAD_BYTES);
                let key = e.event_key();
                prop_assert!(key.len() <= MAX_EVENT_KEY_BYTES);
                prop_assert!(key.len() <= MAX_SORT_KEY_BYTES);
                prop_assert!(e.client_id.len() <= MAX_CLIENT_ID_BYTES);
                let row = event_row(&e, &key, &raw, Outcome::Applied, RECEIVED_LATER, 30).to_item();
                prop_assert!(item_size(&row) < 400_000, "row of {} bytes", item_size(&row));
                let update = status_update(&e, &key, Window::DEFAULT, RECEIVED_LATER, retention, 16).unwrap();
                prop_assert!(update.is_some());
            }
            Err(InvalidEvent::PayloadTooLarge(n)) => prop_assert!(n > MAX_PAYLOAD_BYTES),
            Err(InvalidEvent::ClientIdTooLong(n)) => prop_assert!(n > MAX_CLIENT_ID_BYTES),
            Err(InvalidEvent::TooLong { len, max, .. }) => prop_assert!(len > max && delta > 0),
            Err(other) => prop_assert!(false, "unexpected rejection: {other}"),
        }
    }
}

#[test]
fn each_bound_names_its_field() {
    let at = |field: &str, bytes: usize| {
        let mut v: Map<String, Value> = serde_json::from_str(&event(-1_000_000, 'a', 0)).unwrap();
        v.insert(field.into(), json!("y".repeat(bytes)));
        LifecycleEvent::parse(&Value::Object(v).to_string())
    };
    for (field, max) in [
        ("sessionIdentifier", MAX_SESSION_BYTES),
        ("principalIdentifier", MAX_FIELD_BYTES),
        ("thingName", MAX_THING_NAME_BYTES),
        ("disconnectReason", MAX_FIELD_BYTES),
        ("connectFailureReason", MAX_FIELD_BYTES),
    ] {
        assert!(at(field, max).is_ok(), "{field} at its bound");
        let err = at(field, max + 1).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "field `{field}` is {} bytes long; at most {max} are accepted",
                max + 1
            )
        );
    }
    // The review's case: a 5,000-byte session.
    assert!(at("sessionIdentifier", 5_000).is_err());
    // ipAddress: an address of either family, or empty.
    for ok in ["198.51.100.7", "2001:db8::1", ""] {
        let mut v: Map<String, Value> = serde_json::from_str(&event(-1_000_000, 'a', 0)).unwrap();
        v.insert("ipAddress".into(), json!(ok));
        assert!(
            LifecycleEvent::parse(&Value::Object(v).to_string()).is_ok(),
            "{ok}"
        );
    }
    for bad in ["256.1.1.1", "198.51.100.7:443", "localhost", "1.2.3.4\n"] {
        let mut v: Map<String, Value> = serde_json::from_str(&event(-1_000_000, 'a', 0)).unwrap();
        v.insert("ipAddress".into(), json!(bad));
        let err = LifecycleEvent::parse(&Value::Object(v).to_string()).unwrap_err();
        assert!(
            err.to_string().starts_with("field `ipAddress`"),
            "{bad}: {err}"
        );
    }
}

/// Against the local server, which enforces DynamoDB's key and item limits: the largest event
/// the bounds accept is recorded in full; one byte more in any bounded field writes nothing.
#[tokio::test]
async fn the_largest_accepted_event_is_recorded_and_one_byte_more_writes_nothing() {
    let client = local::client();
    let tables = local::create_tables().await;
    let store = local::store(&client, &tables, Window::DEFAULT);
    for unit in ['a', '🛰'] {
        let largest = event(0, unit, MAX_PAYLOAD_BYTES);
        assert_eq!(largest.len(), MAX_PAYLOAD_BYTES);
        let e = LifecycleEvent::parse(&largest).unwrap();
        let response = handle(&store, &largest, RECEIVED_LATER).await.unwrap();
        assert_eq!(response.outcome, Outcome::Applied);
        assert_eq!(event_rows(&client, &tables, &e.client_id).await.len(), 1);
        assert!(status_item(&client, &tables, &e.client_id).await.is_some());
    }
    // Client ids unlike the two above (129 bytes of 'a'; 128 bytes of '€'), so that "nothing
    // written" is about these events only.
    for over in [event(1, 'a', 0), event(0, '€', MAX_PAYLOAD_BYTES + 1)] {
        let id = serde_json::from_str::<Value>(&over).unwrap()["clientId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(handle(&store, &over, RECEIVED_LATER).await.is_err());
        assert!(event_rows(&client, &tables, &id).await.is_empty());
        assert!(status_item(&client, &tables, &id).await.is_none());
    }
}
