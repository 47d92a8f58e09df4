//! The people's policies cannot fall behind the CLI: each command runs against the local
//! servers through relays that see every AWS call it makes, and the policy it belongs to
//! (`ReadOnlyPolicy` for the reading commands, `OperatorPolicy` for the rest) must grant each
//! call on its resource, as IAM would match them. The calls are derived from what the binary
//! does, not listed by hand. (`presence reconcile`'s `iot:GetConnection` goes to the broker
//! stand-in, not a relay: `tests/template_security.rs` checks that grant.)

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use common::local::{self, Tables};
use common::relay::{Relay, Verdict};
use iot_presence::functions::ingest::handle;
use presence_template::{intrinsic, Template, Value as Yaml};
use serde_json::{json, Value};

/// One AWS call: the IAM action and the template resource it acts on (`StatusTable.Arn`,
/// `${StatusTable.Arn}/index/alert-index`, `AlertTopic`, `FailedEventsQueue.Arn`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Call {
    action: String,
    resource: String,
}

type Log = Arc<Mutex<Vec<Call>>>;

/// A relay in front of the local DynamoDB that logs each call as (action, resource).
fn dynamodb_relay(tables: &Tables, log: Log) -> Relay {
    let tables = tables.clone();
    Relay::start(local::endpoint(), move |request| {
        let target = request.header("x-amz-target").unwrap_or_default();
        let operation = target.rsplit('.').next().unwrap_or_default();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let table = match body["TableName"].as_str() {
            Some(t) if t == tables.status => "StatusTable",
            Some(t) if t == tables.events => "EventsTable",
            other => panic!("{operation} on an unknown table {other:?}"),
        };
        let resource = match body["IndexName"].as_str() {
            Some(index) => format!("${{{table}.Arn}}/index/{index}"),
            None => format!("{table}.Arn"),
        };
        log.lock().unwrap().push(Call {
            action: format!("dynamodb:{operation}"),
            resource,
        });
        Verdict::Forward
    })
}

/// A relay in front of the local SNS/SQS server. SNS speaks the query protocol (`Action=` in
/// the form body), SQS JSON (`x-amz-target`); batch calls need their single call's permission.
fn messaging_relay(log: Log) -> Relay {
    Relay::start(local::messaging_endpoint(), move |request| {
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let call = if let Some(target) = request.header("x-amz-target") {
            let operation = target.rsplit('.').next().unwrap_or_default();
            let single = operation.trim_end_matches("Batch");
            Call {
                action: format!("sqs:{single}"),
                resource: "FailedEventsQueue.Arn".into(),
            }
        } else {
            let action = body
                .split('&')
                .find_map(|kv| kv.strip_prefix("Action="))
                .unwrap_or_default();
            Call {
                action: format!("sns:{}", action.trim_end_matches("Batch")),
                resource: "AlertTopic".into(),
            }
        };
        log.lock().unwrap().push(call);
        Verdict::Forward
    })
}

/// Whether a statement's resource (`!GetAtt X`, `!Sub "..."`, `!Ref X`) covers `resource`.
fn covers(granted: &Yaml, resource: &str) -> bool {
    let Some((_, target)) = intrinsic(granted) else {
        return false;
    };
    let Some(text) = target.as_str() else {
        return false;
    };
    match text.strip_suffix('*') {
        Some(prefix) => resource.starts_with(prefix),
        None => text == resource,
    }
}

fn list(v: &Yaml) -> Vec<Yaml> {
    match v.as_sequence() {
        Some(items) => items.clone(),
        None => vec![v.clone()],
    }
}

/// Whether the managed policy `name` grants `call`. The failure queues are granted together
/// (one statement lists both), so a call on either is checked as one on `FailedEventsQueue`.
fn grants(template: &Template, name: &str, call: &Call) -> bool {
    let document = &template.resource(name).unwrap()["Properties"]["PolicyDocument"];
    list(&document["Statement"]).iter().any(|statement| {
        statement["Effect"] == "Allow"
            && list(&statement["Action"])
                .iter()
                .any(|a| a.as_str() == Some(call.action.as_str()))
            && list(&statement["Resource"])
                .iter()
                .any(|r| covers(r, &call.resource))
    })
}

/// Runs `args` through the relays; returns the calls it made, and fails if it failed.
fn run(
    tables: &Tables,
    dynamodb: &Relay,
    messaging: &Relay,
    log: &Log,
    args: &[&str],
) -> Vec<Call> {
    log.lock().unwrap().clear();
    let out = local::presence_command_at(tables, &dynamodb.url)
        .env("AWS_ENDPOINT_URL_SNS", &messaging.url)
        .env("AWS_ENDPOINT_URL_SQS", &messaging.url)
        .args(args)
        .output()
        .expect("run presence");
    assert!(out.status.success(), "presence {args:?}: {out:?}");
    let calls = log.lock().unwrap().clone();
    assert!(!calls.is_empty(), "presence {args:?} made no call");
    calls
}

#[tokio::test]
async fn each_policy_grants_every_call_its_commands_make() {
    let client = local::client();
    let tables = local::create_tables().await;
    let store = local::store(&client, &tables, iot_presence::rule::Window::DEFAULT);
    let now = iot_presence::time::now_ms();
    for (i, (id, kind)) in [
        ("c-1", "connected"),
        ("c-2", "disconnected"),
        ("c-1", "disconnected"),
    ]
    .into_iter()
    .enumerate()
    {
        let event = json!({"clientId": id, "timestamp": now - 3_600_000 + i as u64 * 1000,
            "eventType": kind, "sessionIdentifier": "s", "versionNumber": 1,
            "disconnectReason": "CONNECTION_LOST"});
        handle(&store, &event.to_string(), now)
            .await
            .expect("recorded");
    }
    let sink = local::AlertSink::new().await;
    let sqs = aws_sdk_sqs::Client::new(&local::messaging_config());
    let queue = sqs
        .create_queue()
        .queue_name(format!("policy-{}", now))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let failed = json!({"clientId": "c-3", "timestamp": now - 1000, "eventType": "connected",
        "sessionIdentifier": "s", "versionNumber": 1});
    sqs.send_message()
        .queue_url(&queue)
        .message_body(failed.to_string())
        .send()
        .await
        .unwrap();

    let log: Log = Arc::default();
    let dynamodb = dynamodb_relay(&tables, log.clone());
    let messaging = messaging_relay(log.clone());
    let template = Template::repository();
    let read_only: &[&[&str]] = &[
        &["status", "c-1"],
        &["list", "--connected"],
        &["list", "--disconnected"],
        &["history", "c-1"],
        &["summary"],
        &["incident"],
        &["storms"],
        &["shards"],
        &["availability", "c-1"],
        &["availability", "--all"],
    ];
    let operator: &[&[&str]] = &[
        &["threshold", "c-2", "10m"],
        &["threshold", "c-2", "--clear"],
        &["alert-pass", "--topic-arn", &sink.topic_arn, "--at", "+1h"],
        &["redrive", "--queue", &queue],
        &["rebuild", "--client", "c-1"],
        &["rebuild", "--all"],
        &["shards", "migrate", "--to", "4", "--settle", "0s", "--yes"],
    ];
    let mut seen = BTreeSet::new();
    for (policy, commands) in [("ReadOnlyPolicy", read_only), ("OperatorPolicy", operator)] {
        for args in commands {
            for call in run(&tables, &dynamodb, &messaging, &log, args) {
                assert!(
                    grants(&template, policy, &call),
                    "{policy} does not grant {} on {}, which `presence {}` calls",
                    call.action,
                    call.resource,
                    args.join(" ")
                );
                seen.insert((policy, call));
            }
        }
    }
    // The paths that needed the fixes ran: the migration's Scan and the alert pass's publish.
    let actions: BTreeSet<&str> = seen.iter().map(|(_, c)| c.action.as_str()).collect();
    for needed in [
        "dynamodb:Scan",
        "sns:Publish",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
    ] {
        assert!(actions.contains(needed), "{needed} not among {actions:?}");
    }
}
