//! template.yaml and the code must not drift apart: the keys, index and TTL the code writes,
//! the variables it reads, and the fields the IoT rule adds. Read through presence-template
//! (the parsed template, short tags kept), never by matching text.

use iot_presence::config::{
    ALERT_TOPIC_VAR, EVENTS_TABLE_VAR, FLAPPING_SESSIONS_VAR, FLAPPING_WINDOW_VAR, FUTURE_SKEW_VAR,
    OFFLINE_THRESHOLDS_VAR, OFFLINE_THRESHOLD_VAR, RECONCILE_RATE_VAR, RECONCILE_SCOPE_VAR,
    RETENTION_VAR, STATUS_RETENTION_VAR, STATUS_TABLE_VAR, WINDOW_VAR,
};
use iot_presence::event::{TOPIC_CLIENT_ID_FIELD, TOPIC_EVENT_TYPE_FIELD};
use iot_presence::store::schema::{attr, ALERT_INDEX, STATUS_INDEX};
use presence_template::{sub, Key, Projection, Template, TimeToLive, Value};

fn template() -> Template {
    Template::repository()
}

/// The variable names the template gives a function, sorted.
fn environment(function: &str) -> Vec<String> {
    template()
        .environment(function)
        .unwrap()
        .into_keys()
        .collect()
}

fn ttl_on(attribute: &str) -> Option<TimeToLive> {
    Some(TimeToLive {
        attribute: attribute.to_owned(),
        enabled: true,
    })
}

#[test]
fn tables_match_what_the_code_writes() {
    let t = template();
    let status = t.table("StatusTable").unwrap();
    assert_eq!(status.key_schema, [Key::hash(attr::CLIENT_ID)]);
    let index = &status.global_indexes[0];
    assert_eq!(index.name, STATUS_INDEX);
    assert_eq!(
        index.key_schema,
        [
            Key::hash(attr::STATUS_SHARD),
            Key::range(attr::EVENT_TIMESTAMP)
        ]
    );
    // The index sort key is written as a number, the shard as a string.
    assert_eq!(status.attribute_type(attr::EVENT_TIMESTAMP), Some("N"));
    assert_eq!(status.attribute_type(attr::STATUS_SHARD), Some("S"));
    // Everything a listing shows is projected.
    let Projection::Include(projected) = &index.projection else {
        panic!("{STATUS_INDEX} projects {:?}", index.projection);
    };
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
            projected.iter().any(|p| p == needed),
            "{needed} not projected into {STATUS_INDEX}"
        );
    }

    // The alert index: sparse on both keys, every attribute projected (the alerter plans from
    // the index entry alone).
    let alerts = &status.global_indexes[1];
    assert_eq!(alerts.name, ALERT_INDEX);
    assert_eq!(
        alerts.key_schema,
        [Key::hash(attr::ALERT_SHARD), Key::range(attr::ALERT_DUE_AT)]
    );
    assert_eq!(alerts.projection, Projection::All);
    assert_eq!(status.attribute_type(attr::ALERT_SHARD), Some("S"));
    assert_eq!(status.attribute_type(attr::ALERT_DUE_AT), Some("N"));

    // Status items expire only when STATUS_RETENTION_DAYS sets expiresAt on them.
    assert_eq!(status.time_to_live, ttl_on(attr::EXPIRES_AT));

    let events = t.table("EventsTable").unwrap();
    assert_eq!(
        events.key_schema,
        [Key::hash(attr::CLIENT_ID), Key::range(attr::EVENT_KEY)]
    );
    assert_eq!(events.time_to_live, ttl_on(attr::EXPIRES_AT));
}

#[test]
fn the_function_gets_exactly_the_variables_the_code_reads() {
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
    assert_eq!(environment("PresenceFunction"), expected);
}

#[test]
fn the_alerter_gets_exactly_the_variables_it_reads() {
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
    assert_eq!(environment("AlerterFunction"), expected);
}

#[test]
fn the_widget_gets_exactly_the_variables_it_reads() {
    // The two table names (Config::from_env; the rest of Config keeps its defaults, which a
    // read-only function never uses), and the SDK's local endpoint for `sam local`.
    let mut expected = vec![STATUS_TABLE_VAR, EVENTS_TABLE_VAR, "AWS_ENDPOINT_URL"];
    expected.sort();
    assert_eq!(environment("FleetWidgetFunction"), expected);
    let t = template();
    let function = t.resource("FleetWidgetFunction").unwrap();
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"],
        "presence-widget"
    );
    let output = &t.root()["Outputs"]["FleetWidgetFunctionArn"]["Value"];
    assert_eq!(
        presence_template::intrinsic(output).map(|(tag, v)| (tag, v.as_str())),
        Some(("GetAtt", Some("FleetWidgetFunction.Arn")))
    );
}

#[test]
fn the_reconciler_gets_exactly_the_variables_it_reads() {
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
    assert_eq!(environment("ReconcilerFunction"), expected);
    let scope = template().parameter("ReconcileScope").unwrap();
    assert_eq!(scope.kind, "String");
    assert_eq!(
        scope.default,
        Some(Value::from(iot_presence::config::DEFAULT_RECONCILE_SCOPE))
    );
}

#[test]
fn the_rule_adds_the_topic_fields_the_parser_checks() {
    let t = template();
    let payload = &t.resource("PresenceTopicRule").unwrap()["Properties"]["TopicRulePayload"];
    let sql = payload["Sql"]
        .as_str()
        .or_else(|| sub(&payload["Sql"]))
        .expect("the rule's Sql is a string");
    assert!(
        sql.contains(&format!("topic(4) AS {TOPIC_EVENT_TYPE_FIELD}")),
        "{sql}"
    );
    assert!(
        sql.contains(&format!("topic(5) AS {TOPIC_CLIENT_ID_FIELD}")),
        "{sql}"
    );
    assert!(sql.contains("FROM '$aws/events/presence/+/+'"), "{sql}");
}

#[test]
fn parameter_defaults_are_the_codes_defaults() {
    let t = template();
    let d = iot_presence::config::AlertSettings::DEFAULT;
    for (parameter, default) in [
        ("OfflineThresholdMs", d.offline_threshold_ms),
        ("FlappingSessions", u64::from(d.flapping_sessions)),
        ("FlappingWindowMs", d.flapping_window_ms),
        ("FutureSkewMs", iot_presence::config::DEFAULT_FUTURE_SKEW_MS),
        ("StatusRetentionDays", 0),
    ] {
        let declared = t.parameter(parameter).unwrap();
        assert_eq!(declared.kind, "Number", "{parameter}");
        assert_eq!(
            declared.default.as_ref().and_then(Value::as_u64),
            Some(default),
            "{parameter}'s default in template.yaml"
        );
    }
}
