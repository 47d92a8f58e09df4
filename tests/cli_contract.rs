//! The CLI's contract, the same for every command: the exit-code table `presence --help` shows
//! (and docs/cli.md), what each code means on the command line (an unknown client is 1 for
//! every command that names one, usage is 2 before anything is read or written, an AWS failure
//! is 3 with a hint for the service that failed), and a description and an example in every
//! subcommand's help. Against the local DynamoDB, over statuses the real handler wrote.

mod common;

use std::process::{Command, Output};

use common::local::{self, status_item, Tables};
use iot_presence::functions::ingest::handle;
use iot_presence::rule::Window;
use iot_presence::time::now_ms;
use serde_json::json;

const MINUTE: u64 = 60_000;

fn run(tables: &Tables, args: &[&str]) -> Output {
    local::presence_command(tables)
        .args(args)
        .output()
        .expect("run presence")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Fresh tables with `pump-1` connected an hour ago, by the handler.
async fn tables() -> Tables {
    let tables = local::create_tables().await;
    let store = local::store(&local::client(), &tables, Window::DEFAULT);
    let now = now_ms();
    let event = json!({"clientId": "pump-1", "timestamp": now - 60 * MINUTE,
        "eventType": "connected", "sessionIdentifier": "p1", "versionNumber": 1});
    handle(&store, &event.to_string(), now)
        .await
        .expect("handled");
    tables
}

/// The table `presence --help` ends with, as lines.
fn exit_code_lines() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_presence"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = stdout(&out);
    let table = help
        .split_once("Exit codes:\n")
        .unwrap_or_else(|| panic!("--help has no exit-code table:\n{help}"))
        .1;
    table
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
        .collect()
}

#[test]
fn the_exit_code_table_is_in_the_help_and_the_docs() {
    let lines = exit_code_lines();
    let codes: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(codes, ["0", "1", "2", "3", "4"], "{lines:#?}");
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md"))
        .expect("docs/cli.md");
    let doc_lines: Vec<&str> = doc.lines().map(str::trim).collect();
    for line in &lines {
        assert!(
            doc_lines.contains(&line.as_str()),
            "docs/cli.md lacks the exit-code line {line:?}"
        );
    }
}

/// The subcommands `presence --help` lists (and `shards migrate`).
fn subcommands() -> Vec<Vec<String>> {
    let out = Command::new(env!("CARGO_BIN_EXE_presence"))
        .arg("--help")
        .output()
        .unwrap();
    let help = stdout(&out);
    let list = help.split_once("Commands:\n").unwrap().1;
    let mut subs: Vec<Vec<String>> = list
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(|name| vec![name.to_owned()])
        .collect();
    subs.push(vec!["shards".into(), "migrate".into()]);
    subs
}

#[test]
fn every_subcommand_has_a_description_and_an_example() {
    let subs = subcommands();
    assert!(subs.len() >= 15, "{subs:?}");
    for sub in subs {
        let out = Command::new(env!("CARGO_BIN_EXE_presence"))
            .args(&sub)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{sub:?}");
        let help = stdout(&out);
        let first = help.lines().next().unwrap_or_default();
        assert!(
            first.len() > 20 && !first.starts_with("Usage"),
            "{sub:?} has no description:\n{help}"
        );
        let example = help
            .split_once("Example:\n")
            .unwrap_or_else(|| panic!("{sub:?} has no example:\n{help}"))
            .1;
        let lines: Vec<&str> = example.lines().take_while(|l| !l.is_empty()).collect();
        assert!(!lines.is_empty(), "{sub:?}");
        for line in lines {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(words[0], "presence", "{sub:?}: {line}");
            let named = words.iter().skip(1).filter(|w| !w.starts_with('-'));
            assert!(
                named.clone().any(|w| *w == sub[0]),
                "{sub:?}'s example runs another command: {line}"
            );
        }
    }
}

/// An unknown client is exit 1, with the same message, for every command that names one; a
/// known one is 0 (a time window with no events in it too); nothing is written.
#[tokio::test]
async fn unknown_clients_exit_1_everywhere_and_nothing_is_written() {
    let tables = tables().await;
    for args in [
        &["status", "ghost"][..],
        &["history", "ghost"],
        &["history", "ghost", "--since", "2h"],
        &["availability", "ghost", "--since", "1d"],
        &["rebuild", "--client", "ghost"],
        &["threshold", "ghost", "15m"],
        &["threshold", "ghost", "--clear"],
    ] {
        let out = run(&tables, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("presence: unknown client \"ghost\""),
            "{args:?}: {err}"
        );
    }
    assert!(
        status_item(&local::client(), &tables, "ghost")
            .await
            .is_none(),
        "a command on an unknown client wrote an item"
    );
    // Several named clients: a report for the known one, a line for each unknown one.
    let out = run(
        &tables,
        &["availability", "pump-1", "ghost", "wraith", "--since", "1d"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("pump-1"), "{}", stdout(&out));
    assert_eq!(stderr(&out).matches("unknown client").count(), 2);

    for args in [
        &["status", "pump-1"][..],
        &["history", "pump-1"],
        &["history", "pump-1", "--since", "10m"],
        &["availability", "pump-1", "--since", "1d"],
        &["rebuild", "--client", "pump-1"],
        &["threshold", "pump-1", "15m"],
    ] {
        let out = run(&tables, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
    // --create sets a threshold before the client's first connect.
    let out = run(&tables, &["threshold", "new-gw", "2m", "--create"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let item = status_item(&local::client(), &tables, "new-gw").await;
    assert_eq!(
        item.as_ref()
            .and_then(|i| local::n(i, "offlineThresholdMs")),
        Some(2 * MINUTE)
    );
}

/// Usage errors exit 2 before any request: each names what is wrong.
#[tokio::test]
async fn usage_errors_exit_2_naming_the_problem() {
    let tables = tables().await;
    let cases: [(&[&str], &str); 7] = [
        (&["status", ""], "the client id"),
        (
            &["history", "pump-1", "--since", "1h", "--until", "2h"],
            "must be before --until",
        ),
        (
            &["availability", "pump-1", "--since", "1h", "--until", "2h"],
            "must be before --until",
        ),
        (&["threshold", "pump-1", "15m", "--clear"], "--clear"),
        (&["redrive", "--queue", "failed"], "--stack"),
        (&["redrive", "--queue", "my-queue"], "rule-errors"),
        (&["--region", "EU WEST", "summary"], "--region"),
    ];
    for (args, says) in cases {
        let out = run(&tables, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?} does not say {says:?}: {err}");
    }
    // The threshold's usage line puts the client first, as the arguments are taken.
    let out = run(&tables, &["threshold", "--help"]);
    assert!(stdout(&out).contains("presence threshold [OPTIONS] <CLIENT_ID> <THRESHOLD>"));

    // An endpoint without its scheme, by flag or variable.
    let bare = Command::new(env!("CARGO_BIN_EXE_presence"))
        .args(["--endpoint-url", "127.0.0.1:8000", "summary"])
        .args(["--status-table", &tables.status])
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_eq!(bare.status.code(), Some(2));
    assert!(
        stderr(&bare).contains("--endpoint-url") && stderr(&bare).contains("http://"),
        "{}",
        stderr(&bare)
    );
    let out = local::presence_command(&tables)
        .env("AWS_ENDPOINT_URL_SQS", "localhost:9324")
        .arg("summary")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("AWS_ENDPOINT_URL_SQS"),
        "{}",
        stderr(&out)
    );
}

/// No region anywhere (no variable, no profile, no instance metadata): exit 2 with a message
/// naming the ways to give one; `--region` is one of them.
#[tokio::test]
async fn a_missing_region_is_a_usage_error_and_region_gives_it() {
    let tables = tables().await;
    let nowhere = std::env::temp_dir().join("presence-no-aws-config");
    let without_region = |args: &[&str]| {
        local::presence_command(&tables)
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", &nowhere)
            .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
            // Never ask the instance metadata service (an address outside this machine).
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(args)
            .output()
            .unwrap()
    };
    let out = without_region(&["status", "pump-1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("no AWS region") && err.contains("--region") && err.contains("AWS_REGION"),
        "{err}"
    );
    let out = without_region(&["--region", "eu-west-1", "status", "pump-1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// An AWS failure is exit 3 with a hint for the service that failed: a queue out of reach
/// names SQS's endpoint, not DynamoDB's flags.
#[tokio::test]
async fn aws_failures_exit_3_with_the_failing_services_hint() {
    let tables = tables().await;
    // Port 1 of this machine: nothing listens there.
    let out = run(
        &tables,
        &[
            "--timeout",
            "5s",
            "redrive",
            "--queue",
            "http://127.0.0.1:1/000000000000/failed",
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let hint = err.split_once("hint:").expect("a hint").1;
    assert!(hint.contains("AWS_ENDPOINT_URL_SQS"), "{err}");
    assert!(
        !hint.contains("--status-table") && !hint.contains("--endpoint-url"),
        "{err}"
    );
}
