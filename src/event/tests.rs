use super::*;
use serde_json::json;

fn connected() -> Value {
    json!({"clientId": "test", "timestamp": 1702566391861u64, "eventType": "connected",
           "sessionIdentifier": "7e229bae-555c-4ace-a308-df2c229d27d0",
           "principalIdentifier": "226c64225fce225672257c31e2cb6d3ad21ca514af690bc5cb44f5f58c2222",
           "ipAddress": "8.8.42.11", "versionNumber": 96})
}

fn with(mut v: Value, field: &str, new: Value) -> Value {
    v.as_object_mut().unwrap().insert(field.into(), new);
    v
}

fn without(mut v: Value, field: &str) -> Value {
    v.as_object_mut().unwrap().remove(field);
    v
}

fn err(v: Value) -> String {
    LifecycleEvent::parse(&v.to_string())
        .unwrap_err()
        .to_string()
}

#[test]
fn parses_a_certificate_connection() {
    let e = LifecycleEvent::from_value(&connected()).unwrap();
    assert_eq!(e.client_id, "test");
    assert_eq!(e.event_type, EventType::Connected);
    assert_eq!(e.timestamp, 1702566391861);
    assert_eq!(e.version_number, Some(96));
    assert_eq!(e.ip_address.as_deref(), Some("8.8.42.11"));
    assert_eq!(
        e.event_key(),
        "1702566391861#connected#7e229bae-555c-4ace-a308-df2c229d27d0#v96"
    );
}

#[test]
fn event_keys_sort_as_time() {
    let early = event_key(999, EventType::Connected, "b", Some(u64::MAX));
    let late = event_key(1_000, EventType::Connected, "a", Some(0));
    assert!(early < late, "{early} should sort before {late}");
    assert!(early.starts_with("0000000000999#"));
}

#[test]
fn empty_ip_is_unknown_and_thing_name_kept() {
    let v = with(
        with(connected(), "ipAddress", json!("")),
        "thingName",
        json!("pump-7"),
    );
    let e = LifecycleEvent::from_value(&v).unwrap();
    assert_eq!(e.ip_address, None);
    assert_eq!(e.thing_name.as_deref(), Some("pump-7"));
}

#[test]
fn unknown_fields_are_ignored_and_unknown_reasons_kept() {
    let v = json!({"clientId": "c", "timestamp": 5, "eventType": "disconnected",
                   "sessionIdentifier": "s", "versionNumber": 1,
                   "disconnectReason": "SOMETHING_NEW", "brandNewField": {"a": [1]}});
    let e = LifecycleEvent::from_value(&v).unwrap();
    assert_eq!(e.disconnect_reason.as_deref(), Some("SOMETHING_NEW"));
}

#[test]
fn connect_failed_needs_no_version() {
    let v = json!({"clientId": "c", "timestamp": 5, "eventType": "connect_failed",
                   "sessionIdentifier": "s", "connectFailureReason": "AUTHORIZATION_FAILED"});
    let e = LifecycleEvent::from_value(&v).unwrap();
    assert_eq!(e.version_number, None);
    assert!(e.observed().is_none());
    assert_eq!(
        e.connect_failure_reason.as_deref(),
        Some("AUTHORIZATION_FAILED")
    );
}

#[test]
fn rule_added_topic_fields_must_agree() {
    let ok = with(
        with(connected(), TOPIC_EVENT_TYPE_FIELD, json!("connected")),
        TOPIC_CLIENT_ID_FIELD,
        json!("test"),
    );
    assert!(LifecycleEvent::from_value(&ok).is_ok());
    let bad_type = with(connected(), TOPIC_EVENT_TYPE_FIELD, json!("disconnected"));
    assert_eq!(
        err(bad_type),
        "field `topicEventType` (\"disconnected\") disagrees with the payload's `eventType` (\"connected\")"
    );
    let bad_client = with(connected(), TOPIC_CLIENT_ID_FIELD, json!("other"));
    assert!(err(bad_client).contains("`topicClientId`"));
}

/// The rule's whole topic (`topic()`) must be the payload's event type and client id, all of
/// it: a client id with `/` has its levels on the topic, and no level may be missing or extra.
#[test]
fn the_rules_topic_must_be_the_payloads_event_type_and_whole_client_id() {
    let on = |client: &str, topic: &str| {
        let event = with(connected(), "clientId", json!(client));
        LifecycleEvent::from_value(&with(event, TOPIC_FIELD, json!(topic)))
    };
    assert_eq!(
        on("site/3/gw", "$aws/events/presence/connected/site/3/gw")
            .unwrap()
            .client_id,
        "site/3/gw"
    );
    assert!(on("test", "$aws/events/presence/connected/test").is_ok());
    for (client, topic) in [
        ("site/3/gw", "$aws/events/presence/connected/site/3"),
        ("site/3", "$aws/events/presence/connected/site/3/gw"),
        ("test", "$aws/events/presence/disconnected/test"),
        ("test", "$aws/events/presence/connected/test/"),
        ("test", "$aws/rules/x/connected/test"),
    ] {
        let err = on(client, topic).unwrap_err().to_string();
        assert!(
            err.contains("`presenceTopic`"),
            "{client} on {topic}: {err}"
        );
    }
}

#[test]
fn each_invalid_case_names_its_field() {
    assert!(LifecycleEvent::parse("{not json")
        .unwrap_err()
        .to_string()
        .starts_with("event is not valid JSON"));
    assert_eq!(err(json!([1])), "event must be a JSON object, got an array");
    assert_eq!(err(json!("x")), "event must be a JSON object, got a string");
    assert_eq!(err(json!(null)), "event must be a JSON object, got null");
    assert_eq!(
        err(without(connected(), "clientId")),
        "missing field `clientId`"
    );
    assert_eq!(
        err(with(connected(), "clientId", json!(""))),
        "field `clientId` must not be empty"
    );
    assert_eq!(
        err(with(connected(), "clientId", json!(7))),
        "field `clientId` must be a string, got 7"
    );
    assert_eq!(
        err(with(connected(), "clientId", json!("x".repeat(129)))),
        "field `clientId` is 129 bytes long; AWS IoT allows at most 128"
    );
    // 128 bytes is the limit, counted in bytes, not characters.
    assert!(
        LifecycleEvent::from_value(&with(connected(), "clientId", json!("x".repeat(128)))).is_ok()
    );
    assert!(err(with(connected(), "clientId", json!("é".repeat(65)))).contains("130 bytes"));
    assert_eq!(
        err(without(connected(), "sessionIdentifier")),
        "missing field `sessionIdentifier`"
    );
    assert_eq!(
        err(with(connected(), "sessionIdentifier", json!(""))),
        "field `sessionIdentifier` must not be empty"
    );
    assert_eq!(
        err(with(connected(), "eventType", json!("subscribed"))),
        "field `eventType` must be one of connected, disconnected, connect_failed; got \"subscribed\""
    );
    assert_eq!(
        err(without(connected(), "eventType")),
        "missing field `eventType`"
    );
    assert_eq!(
        err(without(connected(), "timestamp")),
        "missing field `timestamp`"
    );
    assert_eq!(
        err(with(connected(), "timestamp", json!(-1))),
        "field `timestamp` must be a non-negative integer, got -1"
    );
    assert_eq!(
        err(with(connected(), "timestamp", json!(1.5))),
        "field `timestamp` must be a non-negative integer, got 1.5"
    );
    assert_eq!(
        err(with(connected(), "timestamp", json!("1702566391861"))),
        "field `timestamp` must be a non-negative integer, got \"1702566391861\""
    );
    assert!(err(with(connected(), "timestamp", json!(10_000_000_000_000u64))).contains("beyond"));
    assert_eq!(
        err(without(connected(), "versionNumber")),
        "missing field `versionNumber`"
    );
    assert_eq!(
        err(with(connected(), "versionNumber", json!(-3))),
        "field `versionNumber` must be a non-negative integer, got -3"
    );
    assert_eq!(
        err(with(connected(), "clientInitiatedDisconnect", json!("yes"))),
        "field `clientInitiatedDisconnect` must be a boolean, got \"yes\""
    );
}

#[test]
fn client_prefixes_are_device_classes() {
    for (id, prefix) in [
        ("sensor-31", "sensor-"),
        ("gw_eu_1", "gw_"),
        ("fleet:truck:9", "fleet:"),
        ("a/b", "a/"),
        ("pump07", "pump"),
        ("1234", "1234"),
        ("-x", "-"),
        ("plain", "plain"),
    ] {
        assert_eq!(crate::event::client_prefix(id), prefix, "{id}");
    }
}

#[test]
fn the_status_tables_own_keys_are_refused_as_client_ids() {
    for id in [
        RESERVED_CLIENT_ID,
        "$iot-presence/storms",
        "$iot-presence/x",
    ] {
        let e = err(with(connected(), "clientId", Value::from(id)));
        assert!(e.contains(RESERVED_PREFIX), "{id}: {e}");
    }
    assert!(LifecycleEvent::parse(
        &with(connected(), "clientId", Value::from("$iot-presenc")).to_string()
    )
    .is_ok());
}
