//! `presence --stack NAME`: the tables (and `alert-pass`'s topic) from the stack's outputs, read
//! with CloudFormation `DescribeStacks` from a stand-in (`common::cloudformation`), against the
//! local DynamoDB, over statuses the real handler wrote. The flags and their variables win; an
//! unknown stack, a stack without an output and an unreachable CloudFormation are errors that
//! say which.

mod common;

use std::process::{Command, Output};

use common::cloudformation::{Stack, StandIn};
use common::local::{self, Tables};
use iot_presence::functions::ingest::handle;
use iot_presence::rule::Window;
use iot_presence::time::now_ms;
use serde_json::{json, Value};

const MINUTE: u64 = 60_000;

/// The `presence` binary pointed at the local DynamoDB and at CloudFormation `cloudformation`,
/// with no table, topic or stack variable of the developer's leaking in: unlike
/// `local::presence_command`, no `--status-table`/`--events-table`, so the tables come from
/// the stack. SNS goes to the messaging server when given.
fn presence(cloudformation: &str, messaging: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_presence"));
    command
        .args(["--endpoint-url", local::endpoint()])
        .env_remove("STATUS_TABLE_NAME")
        .env_remove("EVENTS_TABLE_NAME")
        .env_remove("ALERT_TOPIC_ARN")
        .env_remove("PRESENCE_STACK")
        .env_remove("TIMESTAMP_WINDOW_MS")
        .env_remove("AWS_ENDPOINT_URL_SNS")
        .env_remove("AWS_ENDPOINT_URL_SQS")
        .env("AWS_ENDPOINT_URL_CLOUDFORMATION", cloudformation)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local");
    if let Some(url) = messaging {
        command
            .env("AWS_ENDPOINT_URL_SNS", url)
            .env("AWS_ENDPOINT_URL_SQS", url);
    }
    command
}

fn run(command: &mut Command, args: &[&str]) -> Output {
    command.args(args).output().expect("run presence")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{o:?}");
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    serde_json::from_str(text.lines().next().expect("a line")).expect("JSON")
}

/// The outputs of a deployed stack naming `tables` (and `topic`), among others it has.
fn outputs<'a>(tables: &'a Tables, topic: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("DashboardName", "iot-presence"),
        ("StatusTableName", tables.status.as_str()),
        ("EventsTableName", tables.events.as_str()),
        ("AlertTopicArn", topic),
        (
            "FailedEventsQueueUrl",
            "https://sqs.us-east-1.amazonaws.com/123456789012/failed",
        ),
    ]
}

/// Fresh tables with `pump-1` connected and `valve-2` offline for 30 minutes, by the handler.
async fn tables() -> Tables {
    let tables = local::create_tables().await;
    let store = local::store(&local::client(), &tables, Window::DEFAULT);
    let now = now_ms();
    for event in [
        json!({"clientId": "pump-1", "timestamp": now - 5 * MINUTE, "eventType": "connected",
               "sessionIdentifier": "p1", "versionNumber": 1, "principalIdentifier": "cert-1"}),
        json!({"clientId": "valve-2", "timestamp": now - 60 * MINUTE, "eventType": "connected",
               "sessionIdentifier": "v1", "versionNumber": 3, "principalIdentifier": "cert-2"}),
        json!({"clientId": "valve-2", "timestamp": now - 30 * MINUTE, "eventType": "disconnected",
               "sessionIdentifier": "v1", "versionNumber": 3,
               "clientInitiatedDisconnect": false, "disconnectReason": "CONNECTION_LOST"}),
    ] {
        handle(&store, &event.to_string(), now)
            .await
            .expect("handled");
    }
    tables
}

#[tokio::test]
async fn the_stack_outputs_name_the_tables() {
    let tables = tables().await;
    let cfn = StandIn::start([Stack::new("iot-presence", outputs(&tables, "unused"))]);

    let out = run(
        &mut presence(&cfn.url, None),
        &["--stack", "iot-presence", "status", "pump-1", "-o", "json"],
    );
    let v = json(&out);
    assert_eq!(
        (&v["clientId"], &v["connected"]),
        (&json!("pump-1"), &json!(true))
    );
    let v = json(&run(
        &mut presence(&cfn.url, None),
        &["status", "valve-2", "--stack", "iot-presence", "-o", "json"],
    ));
    assert_eq!(v["connected"], false, "{v}");
    assert_eq!(v["disconnectReason"], "CONNECTION_LOST", "{v}");

    // PRESENCE_STACK, and a command that reads the event table only (EventsTableName).
    let out = run(
        presence(&cfn.url, None).env("PRESENCE_STACK", "iot-presence"),
        &["history", "valve-2", "-o", "json"],
    );
    assert!(out.status.success(), "{out:?}");
    let events: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events.iter().all(|e| e["outcome"] == "applied"),
        "{events:?}"
    );
    assert_eq!(cfn.calls(), 3);
}

#[tokio::test]
async fn explicit_flags_and_variables_win_over_the_stack() {
    let tables = tables().await;
    // A stack whose status table is not the one with the statuses.
    let wrong = Tables {
        status: "no-such-table".into(),
        events: tables.events.clone(),
    };
    let cfn = StandIn::start([Stack::new("iot-presence", outputs(&wrong, "unused"))]);

    let v = json(&run(
        &mut presence(&cfn.url, None),
        &[
            "--stack",
            "iot-presence",
            "--status-table",
            &tables.status,
            "status",
            "pump-1",
            "-o",
            "json",
        ],
    ));
    assert_eq!(v["connected"], true, "{v}");
    let v = json(&run(
        presence(&cfn.url, None).env("STATUS_TABLE_NAME", &tables.status),
        &["--stack", "iot-presence", "status", "pump-1", "-o", "json"],
    ));
    assert_eq!(v["connected"], true, "{v}");
    // Nothing was missing: the stack was not even read.
    assert_eq!(cfn.calls(), 0);

    // The flag for one table, the stack for the other: rebuild reads the log (the stack's
    // EventsTableName) and writes the status (the flag's table).
    let out = run(
        &mut presence(&cfn.url, None),
        &[
            "--stack",
            "iot-presence",
            "--status-table",
            &tables.status,
            "rebuild",
            "--client",
            "valve-2",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(cfn.calls(), 1);
    // Without the flag, the stack's (wrong) status table is used, and the error says so.
    let out = run(
        &mut presence(&cfn.url, None),
        &["--stack", "iot-presence", "status", "pump-1"],
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(stderr(&out).contains("no-such-table"), "{out:?}");
}

#[tokio::test]
async fn an_unknown_stack_is_named() {
    let cfn = StandIn::start([Stack::new(
        "iot-presence",
        [("StatusTableName", "s"), ("EventsTableName", "e")],
    )]);
    let out = run(
        &mut presence(&cfn.url, None),
        &["--stack", "iot-presense", "status", "pump-1"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains("\"iot-presense\" does not exist in us-east-1")
            && err.contains("Stack with id iot-presense does not exist")
            && err.contains("--stack"),
        "{err}"
    );
    assert_eq!(cfn.calls(), 1);
}

#[tokio::test]
async fn a_missing_output_is_named() {
    let tables = tables().await;
    let cfn = StandIn::start([Stack::new(
        "half-deployed",
        [("EventsTableName", tables.events.as_str())],
    )]);
    let out = run(
        &mut presence(&cfn.url, None),
        &["--stack", "half-deployed", "status", "pump-1"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains("\"half-deployed\" has no output StatusTableName")
            && err.contains("CREATE_COMPLETE")
            && err.contains("--status-table"),
        "{err}"
    );
    // A command that needs only the output the stack has still runs.
    let out = run(
        &mut presence(&cfn.url, None),
        &["--stack", "half-deployed", "history", "pump-1"],
    );
    assert!(out.status.success(), "{out:?}");
    // alert-pass names the topic output it lacks.
    let out = run(
        &mut presence(&cfn.url, None),
        &[
            "--stack",
            "half-deployed",
            "--status-table",
            &tables.status,
            "alert-pass",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr(&out).contains("no output AlertTopicArn"), "{out:?}");
}

#[tokio::test]
async fn an_unreachable_cloudformation_is_transient() {
    // A port nothing listens on: connection refused.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let out = run(
        &mut presence(&closed, None),
        &["--stack", "iot-presence", "summary"],
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains("CloudFormation could not be reached")
            && err.contains("\"iot-presence\"")
            && err.contains("transient")
            && err.contains("hint:"),
        "{err}"
    );
}

/// `alert-pass` takes its topic from the stack's AlertTopicArn: the offline client's alert
/// arrives at the topic's subscriber.
#[tokio::test]
async fn alert_pass_takes_the_stack_topic() {
    let tables = tables().await;
    let sink = local::AlertSink::new().await;
    let cfn = StandIn::start([Stack::new(
        "iot-presence",
        outputs(&tables, &sink.topic_arn),
    )]);
    let out = run(
        &mut presence(&cfn.url, Some(local::messaging_endpoint())),
        &["--stack", "iot-presence", "alert-pass", "-o", "json"],
    );
    let pass = json(&out);
    assert_eq!(pass["report"]["offline"], 1, "{pass}");
    let received = sink.drain().await;
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].message["clientId"], "valve-2");
    assert_eq!(cfn.calls(), 1);
}

/// `redrive --queue failed` and `--queue rule-errors` are the stack's outputs
/// FailedEventsQueueUrl and RuleErrorsQueueUrl, read in the same DescribeStacks as the tables; a
/// stack without the output names it.
#[tokio::test]
async fn redrive_takes_the_stacks_queues_by_name() {
    let tables = tables().await;
    let sqs = local::sqs_client();
    let queue = sqs
        .create_queue()
        .queue_name(format!("failed-{}", std::process::id()))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("a queue URL");
    let mut with_queue = outputs(&tables, "unused");
    with_queue.retain(|(key, _)| *key != "FailedEventsQueueUrl");
    with_queue.push(("FailedEventsQueueUrl", queue.as_str()));
    let cfn = StandIn::start([Stack::new("iot-presence", with_queue)]);
    let messaging = Some(local::messaging_endpoint());

    let out = run(
        &mut presence(&cfn.url, messaging),
        &[
            "--stack",
            "iot-presence",
            "redrive",
            "--queue",
            "failed",
            "--dry-run",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains(&queue), "{text}");
    // The tables and the queue came from one DescribeStacks.
    assert_eq!(cfn.calls(), 1);

    let out = run(
        &mut presence(&cfn.url, messaging),
        &[
            "--stack",
            "iot-presence",
            "redrive",
            "--queue",
            "rule-errors",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has no output RuleErrorsQueueUrl"),
        "{}",
        stderr(&out)
    );
}
