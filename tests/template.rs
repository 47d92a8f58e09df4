//! template.yaml and the code must not drift apart: the keys, index and TTL the code writes,
//! the variables it reads, and the fields the IoT rule adds. Read through presence-template
//! (the parsed template, short tags kept), never by matching text.

use iot_presence::config::{
    ALERT_TOPIC_VAR, EVENTS_TABLE_VAR, FLAPPING_SESSIONS_VAR, FLAPPING_WINDOW_VAR, FUTURE_SKEW_VAR,
    OFFLINE_THRESHOLDS_VAR, OFFLINE_THRESHOLD_VAR, RECONCILE_RATE_VAR, RECONCILE_SCOPE_VAR,
    RETENTION_VAR, STATUS_RETENTION_VAR, STATUS_TABLE_VAR, WINDOW_VAR,
};
use iot_presence::config::{
    FLEET_GAUGE_MINUTES_VAR, STATUS_SHARDS_VAR, STORM_MIN_CLIENTS_VAR, STORM_MIN_SHARE_VAR,
    STORM_WINDOW_VAR,
};
use iot_presence::event::{TOPIC_EVENT_TYPE_FIELD, TOPIC_FIELD};
use iot_presence::store::schema::{attr, ALERT_INDEX, STATUS_INDEX};
use iot_presence::telemetry::{self, label, name};
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
    // The narrowed reads (the widget's) project on this index exactly what it holds.
    let mut holds: Vec<&str> = [attr::CLIENT_ID, attr::STATUS_SHARD, attr::EVENT_TIMESTAMP]
        .into_iter()
        .chain(projected.iter().map(String::as_str))
        .collect();
    holds.sort_unstable();
    let mut narrowed = iot_presence::store::narrow::STATUS_INDEX_ATTRIBUTES.to_vec();
    narrowed.sort_unstable();
    assert_eq!(narrowed, holds);

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
        STATUS_SHARDS_VAR,
        telemetry::NAMESPACE_VAR,
        telemetry::DIMENSIONS_VAR,
        // Read by the AWS SDK; set only for `sam local` (LocalDynamoDBEndpoint), absent when
        // deployed.
        "AWS_ENDPOINT_URL_DYNAMODB",
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
        STORM_MIN_SHARE_VAR,
        STORM_MIN_CLIENTS_VAR,
        STORM_WINDOW_VAR,
        FLEET_GAUGE_MINUTES_VAR,
        telemetry::NAMESPACE_VAR,
        telemetry::DIMENSIONS_VAR,
        // Read by the AWS SDK; set only for `sam local` (LocalDynamoDBEndpoint,
        // LocalSnsEndpoint), absent when deployed.
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SNS",
    ];
    expected.sort();
    assert_eq!(environment("AlerterFunction"), expected);
}

#[test]
fn the_widget_gets_exactly_the_variables_it_reads() {
    // The two table names (Config::from_env; the rest of Config keeps its defaults, which a
    // read-only function never uses), and the SDK's local endpoint for `sam local`.
    let mut expected = vec![
        STATUS_TABLE_VAR,
        EVENTS_TABLE_VAR,
        "AWS_ENDPOINT_URL_DYNAMODB",
    ];
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
    // The whole topic, not topic(5): a client id may contain `/`, and `+/#` matches it.
    assert!(sql.contains(&format!("topic() AS {TOPIC_FIELD}")), "{sql}");
    assert!(!sql.contains("topic(5)"), "{sql}");
    assert!(sql.contains("FROM '$aws/events/presence/+/#'"), "{sql}");
}

#[test]
fn parameter_defaults_are_the_codes_defaults() {
    let t = template();
    let d = iot_presence::config::AlertSettings::DEFAULT;
    for (parameter, default) in [
        ("OfflineThresholdMs", d.offline_threshold_ms),
        ("FlappingSessions", u64::from(d.flapping_sessions)),
        ("FlappingWindowMs", d.flapping_window_ms),
        ("StormMinClients", d.storm.min_clients),
        ("StormWindowMs", d.storm.window_ms),
        ("FutureSkewMs", iot_presence::config::DEFAULT_FUTURE_SKEW_MS),
        ("StatusRetentionDays", 0),
        (
            "FleetGaugeMinutes",
            iot_presence::config::DEFAULT_FLEET_GAUGE_MINUTES,
        ),
        (
            "StatusShards",
            iot_presence::config::DEFAULT_STATUS_SHARDS.into(),
        ),
    ] {
        let declared = t.parameter(parameter).unwrap();
        assert_eq!(declared.kind, "Number", "{parameter}");
        assert_eq!(
            declared.default.as_ref().and_then(Value::as_u64),
            Some(default),
            "{parameter}'s default in template.yaml"
        );
    }
    let share = t.parameter("StormMinShare").unwrap();
    assert_eq!(
        share.default.as_ref().and_then(Value::as_f64),
        Some(d.storm.min_share)
    );
}

/// The dashboard's body with its `${…}` references replaced by placeholders, parsed.
fn dashboard() -> (serde_json::Value, String) {
    let t = template();
    let body = sub(&t.resource("Dashboard").unwrap()["Properties"]["DashboardBody"])
        .expect("DashboardBody is a !Sub")
        .to_owned();
    let mut text = String::new();
    let mut rest = body.as_str();
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').expect("a closed ${...}");
        text.push_str(&rest[..start]);
        text.push_str(&format!("<{}>", &rest[start + 2..end]));
        rest = &rest[end + 1..];
    }
    text.push_str(rest);
    let parsed = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    (parsed, body)
}

/// The dashboard plots every metric the functions write, by the names and labels the code
/// uses, in the namespace parameter with the stack's dimension, and nothing else of its own.
#[test]
fn the_dashboard_plots_the_metrics_the_functions_write() {
    let t = template();
    let default = t.parameter("MetricsNamespace").unwrap().default;
    assert_eq!(
        default.as_ref().and_then(Value::as_str),
        Some(telemetry::DEFAULT_NAMESPACE)
    );
    let (dashboard, body) = dashboard();
    let mut plotted = std::collections::BTreeSet::new();
    let outcomes: Vec<&str> = iot_presence::rule::Outcome::ALL
        .iter()
        .map(|o| o.as_str())
        .chain([telemetry::OUTCOME_INVALID, telemetry::OUTCOME_FAILED])
        .collect();
    let kinds = [
        iot_presence::alert::rule::kind::OFFLINE,
        iot_presence::alert::rule::kind::BACK_ONLINE,
        iot_presence::alert::rule::kind::FLAPPING,
        iot_presence::alert::rule::kind::STORM,
        iot_presence::alert::rule::kind::RECOVERY,
    ];
    for widget in dashboard["widgets"].as_array().unwrap() {
        let mut previous: Vec<serde_json::Value> = Vec::new();
        for metric in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let mut parts: Vec<serde_json::Value> = metric
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| !p.is_object())
                .cloned()
                .collect();
            if parts.first().and_then(|p| p.as_str()) == Some("...") {
                // "...": the previous metric with its last dimension value replaced.
                let mut repeated = previous.clone();
                repeated.truncate(previous.len() - (parts.len() - 1));
                repeated.extend(parts.drain(1..));
                parts = repeated;
            }
            previous = parts.clone();
            let strings: Vec<&str> = parts.iter().filter_map(|p| p.as_str()).collect();
            if strings.first() != Some(&"<MetricsNamespace>") {
                continue;
            }
            let metric_name = strings[1];
            assert!(
                name::ALL.contains(&metric_name),
                "{metric_name} is not written"
            );
            assert_eq!(
                strings[2..4],
                ["Stack", "<AWS::StackName>"],
                "{metric_name}"
            );
            for pair in strings[4..].chunks(2) {
                match pair[0] {
                    l if l == label::OUTCOME => assert!(outcomes.contains(&pair[1]), "{pair:?}"),
                    l if l == label::KIND => assert!(kinds.contains(&pair[1]), "{pair:?}"),
                    other => panic!("{metric_name}: dimension {other} is not written"),
                }
            }
            plotted.insert(metric_name.to_owned());
        }
    }
    // Disconnects by reason come through a SEARCH expression.
    assert!(body.contains("MetricName=\\\"Disconnects\\\""), "{body}");
    plotted.insert(name::DISCONNECTS.to_owned());
    for metric in name::ALL {
        assert!(plotted.contains(metric), "{metric} is not on the dashboard");
    }
    for outcome in &outcomes {
        if *outcome != "reconciled" {
            assert!(
                body.contains(&format!("\"{outcome}\"")),
                "outcome {outcome} not plotted"
            );
        }
    }
}

/// The live fleet widget is on the dashboard, backed by the widget function, with parameters
/// the widget accepts.
#[test]
fn the_dashboard_shows_the_live_fleet_widget() {
    let (dashboard, _) = dashboard();
    let custom: Vec<&serde_json::Value> = dashboard["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["type"] == "custom")
        .collect();
    assert_eq!(custom.len(), 1);
    let properties = &custom[0]["properties"];
    assert_eq!(properties["endpoint"], "<FleetWidgetFunction.Arn>");
    let params = serde_json::json!({"widgetContext": {"params": properties["params"].clone()}});
    iot_presence::widget::parse(&params).expect("the widget accepts its params");
}

/// No deployed function is built with the `simulated-clock` feature (the local replay's, which
/// lets a file set the handler's receipt clock): each function's build names only its binary,
/// so `sam build` uses the default features, and the default features leave it out.
#[test]
fn no_deployed_function_reads_a_simulated_clock() {
    let t = template();
    let functions = t.of_type("AWS::Serverless::Function");
    // Every Lambda binary of Cargo.toml (all but the CLI) is deployed, and only those.
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let mut bins: Vec<&str> = manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|b| b.lines().find_map(|l| l.strip_prefix("name = ")))
        .map(|n| n.trim_matches('"'))
        .filter(|n| *n != "presence")
        .collect();
    bins.sort_unstable();
    let mut deployed: Vec<&str> = functions
        .iter()
        .map(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap())
        .collect();
    deployed.sort_unstable();
    assert_eq!(deployed, bins);
    for (id, function) in functions {
        let build = &function["Metadata"]["BuildProperties"];
        let keys: Vec<&str> = build
            .as_mapping()
            .unwrap_or_else(|| panic!("{id}: no BuildProperties"))
            .keys()
            .filter_map(|k| k.as_str())
            .collect();
        assert_eq!(keys, ["Binary"], "{id}: builds with more than its binary");
    }
    // The `[features]` table of Cargo.toml, line by line (one entry a line, as it is kept).
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let features: Vec<&str> = manifest
        .lines()
        .skip_while(|l| l.trim() != "[features]")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter(|l| !l.trim_start().starts_with('#') && l.contains('='))
        .collect();
    assert!(
        features.iter().any(|l| l.starts_with("simulated-clock =")),
        "{features:?}"
    );
    assert!(
        features
            .iter()
            .all(|l| !l.starts_with("default") || !l.contains("simulated-clock")),
        "{features:?}"
    );
}

/// The Serverless Application Repository metadata states the crate's version and licence, and
/// the files it names exist (`sam publish` uploads them).
#[test]
fn the_application_metadata_is_the_crates() {
    let t = template();
    let app = &t.root()["Metadata"]["AWS::ServerlessRepo::Application"];
    assert_eq!(app["SemanticVersion"], env!("CARGO_PKG_VERSION"));
    assert_eq!(app["SpdxLicenseId"], env!("CARGO_PKG_LICENSE"));
    for file in ["LicenseUrl", "ReadmeUrl"] {
        let path = app[file].as_str().unwrap();
        let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        assert!(full.is_file(), "{file}: {path} is not a file");
    }
    let license = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/LICENSE")).unwrap();
    assert!(license.contains("Apache License") && license.contains("Version 2.0"));
    let changelog =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/CHANGELOG.md")).unwrap();
    assert!(
        changelog.contains(&format!("## {}", env!("CARGO_PKG_VERSION"))),
        "CHANGELOG.md has no section for this version"
    );
}
