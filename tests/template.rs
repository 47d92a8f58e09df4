//! template.yaml and the code must not drift apart: the keys, index and TTL the code writes,
//! the variables it reads, and the fields the IoT rule adds.

mod common;

use common::local::template_definitions;
use iot_presence::config::{
    ALERT_TOPIC_VAR, EVENTS_TABLE_VAR, FLAPPING_SESSIONS_VAR, FLAPPING_WINDOW_VAR, FUTURE_SKEW_VAR,
    OFFLINE_THRESHOLDS_VAR, OFFLINE_THRESHOLD_VAR, RECONCILE_RATE_VAR, RECONCILE_SCOPE_VAR,
    RETENTION_VAR, STATUS_RETENTION_VAR, STATUS_TABLE_VAR, WINDOW_VAR,
};
use iot_presence::event::{TOPIC_CLIENT_ID_FIELD, TOPIC_EVENT_TYPE_FIELD};
use iot_presence::store::schema::{attr, ALERT_INDEX, STATUS_INDEX};
use serde_json::{json, Value};

fn keys(schema: &Value) -> Vec<(String, String)> {
    schema
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap().to_owned(),
                k["KeyType"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(name: &str, kind: &str) -> (String, String) {
    (name.to_owned(), kind.to_owned())
}

#[test]
fn tables_match_what_the_code_writes() {
    let t = template_definitions();
    let status = &t["status"]["CreateTable"];
    assert_eq!(keys(&status["KeySchema"]), [pair(attr::CLIENT_ID, "HASH")]);
    let index = &status["GlobalSecondaryIndexes"][0];
    assert_eq!(index["IndexName"], STATUS_INDEX);
    assert_eq!(
        keys(&index["KeySchema"]),
        [
            pair(attr::STATUS_SHARD, "HASH"),
            pair(attr::EVENT_TIMESTAMP, "RANGE")
        ]
    );
    // The index sort key is written as a number, the shard as a string.
    let defs = status["AttributeDefinitions"].as_array().unwrap();
    assert!(defs.contains(&json!({"AttributeName": attr::EVENT_TIMESTAMP, "AttributeType": "N"})));
    assert!(defs.contains(&json!({"AttributeName": attr::STATUS_SHARD, "AttributeType": "S"})));
    // Everything a listing shows is projected.
    let projected: Vec<&str> = index["Projection"]["NonKeyAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for needed in [
        attr::CONNECTED,
        attr::DISCONNECT_REASON,
        attr::SESSION,
        attr::VERSION,
        attr::CONNECTED_AT,
        attr::DISCONNECTED_AT,
        attr::THING_NAME,
        // `summary` lists the offline alerts standing from the disconnected entries.
        attr::OUTAGE,
    ] {
        assert!(
            projected.contains(&needed),
            "{needed} not projected into {STATUS_INDEX}"
        );
    }

    // The alert index: sparse on both keys, every attribute projected (the alerter plans from
    // the index entry alone).
    let alerts = &status["GlobalSecondaryIndexes"][1];
    assert_eq!(alerts["IndexName"], ALERT_INDEX);
    assert_eq!(
        keys(&alerts["KeySchema"]),
        [
            pair(attr::ALERT_SHARD, "HASH"),
            pair(attr::ALERT_DUE_AT, "RANGE")
        ]
    );
    assert_eq!(alerts["Projection"], json!({"ProjectionType": "ALL"}));
    assert!(defs.contains(&json!({"AttributeName": attr::ALERT_SHARD, "AttributeType": "S"})));
    assert!(defs.contains(&json!({"AttributeName": attr::ALERT_DUE_AT, "AttributeType": "N"})));

    // Status items expire only when STATUS_RETENTION_DAYS sets expiresAt on them.
    assert_eq!(
        t["status"]["TimeToLive"],
        json!({"AttributeName": attr::EXPIRES_AT, "Enabled": true})
    );

    let events = &t["events"];
    assert_eq!(
        keys(&events["CreateTable"]["KeySchema"]),
        [
            pair(attr::CLIENT_ID, "HASH"),
            pair(attr::EVENT_KEY, "RANGE")
        ]
    );
    assert_eq!(
        events["TimeToLive"],
        json!({"AttributeName": attr::EXPIRES_AT, "Enabled": true})
    );
}

#[test]
fn the_function_gets_exactly_the_variables_the_code_reads() {
    let t = template_definitions();
    let mut expected = vec![
        STATUS_TABLE_VAR,
        EVENTS_TABLE_VAR,
        WINDOW_VAR,
        RETENTION_VAR,
        FUTURE_SKEW_VAR,
        STATUS_RETENTION_VAR,
        // Read by the AWS SDK; set only for `sam local` (LocalEndpoint), absent when deployed.
        "AWS_ENDPOINT_URL",
    ];
    expected.sort();
    assert_eq!(t["functionEnvironment"], json!(expected));
}

#[test]
fn the_alerter_gets_exactly_the_variables_it_reads() {
    let t = template_definitions();
    let mut expected = vec![
        STATUS_TABLE_VAR,
        EVENTS_TABLE_VAR,
        ALERT_TOPIC_VAR,
        OFFLINE_THRESHOLD_VAR,
        OFFLINE_THRESHOLDS_VAR,
        FLAPPING_SESSIONS_VAR,
        FLAPPING_WINDOW_VAR,
        // Read by the AWS SDK; set only for `sam local` (LocalEndpoint), absent when deployed.
        "AWS_ENDPOINT_URL",
    ];
    expected.sort();
    assert_eq!(t["alerterEnvironment"], json!(expected));
}

#[test]
fn the_reconciler_gets_exactly_the_variables_it_reads() {
    let t = template_definitions();
    let mut expected = vec![
        STATUS_TABLE_VAR,
        EVENTS_TABLE_VAR,
        WINDOW_VAR,
        RETENTION_VAR,
        STATUS_RETENTION_VAR,
        RECONCILE_SCOPE_VAR,
        RECONCILE_RATE_VAR,
        // The SDK's own: the IoT data endpoint, when the stack is given one.
        "AWS_ENDPOINT_URL_IOT_DATA_PLANE",
    ];
    expected.sort();
    assert_eq!(t["reconcilerEnvironment"], json!(expected));
    let template = include_str!("../template.yaml");
    assert!(template.contains(&format!(
        "  ReconcileScope:\n    Type: String\n    Default: {}\n",
        iot_presence::config::DEFAULT_RECONCILE_SCOPE
    )));
}

#[test]
fn the_rule_adds_the_topic_fields_the_parser_checks() {
    let template = include_str!("../template.yaml");
    assert!(template.contains(&format!("topic(4) AS {TOPIC_EVENT_TYPE_FIELD}")));
    assert!(template.contains(&format!("topic(5) AS {TOPIC_CLIENT_ID_FIELD}")));
    assert!(template.contains("FROM '$aws/events/presence/+/+'"));
}

#[test]
fn parameter_defaults_are_the_codes_defaults() {
    let template = include_str!("../template.yaml");
    let d = iot_presence::config::AlertSettings::DEFAULT;
    for (parameter, default) in [
        ("OfflineThresholdMs", d.offline_threshold_ms),
        ("FlappingSessions", u64::from(d.flapping_sessions)),
        ("FlappingWindowMs", d.flapping_window_ms),
        ("FutureSkewMs", iot_presence::config::DEFAULT_FUTURE_SKEW_MS),
        ("StatusRetentionDays", 0),
    ] {
        let declared = format!("  {parameter}:\n    Type: Number\n    Default: {default}\n");
        assert!(
            template.contains(&declared),
            "expected {declared:?} in template.yaml"
        );
    }
}
