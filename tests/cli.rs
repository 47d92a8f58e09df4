//! The `presence` binary against the local DynamoDB server, over a fleet written by the real
//! handler (not hand-made items).

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use aws_sdk_dynamodb::types::AttributeValue;
use common::local::{self, status_item, Tables};
use iot_presence::functions::ingest::handle;
use iot_presence::rule::Window;
use iot_presence::store::schema::attr;
use iot_presence::time::now_ms;
use serde_json::{json, Value};

const MINUTE: u64 = 60_000;

fn connect_event(client: &str, session: &str, version: u64, ts: u64) -> Value {
    json!({"clientId": client, "timestamp": ts, "eventType": "connected",
           "sessionIdentifier": session, "versionNumber": version,
           "principalIdentifier": "cert-1", "ipAddress": "198.51.100.7"})
}

fn disconnect_event(client: &str, session: &str, version: u64, ts: u64, reason: &str) -> Value {
    json!({"clientId": client, "timestamp": ts, "eventType": "disconnected",
           "sessionIdentifier": session, "versionNumber": version,
           "clientInitiatedDisconnect": false, "disconnectReason": reason})
}

/// The fleet: 12 connected clients, 9 disconnected ones at known offline durations, one client
/// with a long history, all through the real handler.
struct Fleet {
    tables: Tables,
    now: u64,
    connected: BTreeSet<String>,
    /// (client, minutes offline, reason)
    disconnected: Vec<(String, u64, &'static str)>,
}

async fn fleet() -> Fleet {
    let client = local::client();
    let tables = local::create_tables().await;
    let store = local::store(&client, &tables, Window::DEFAULT);
    let now = now_ms();
    let send = |e: Value| {
        let store = store.clone();
        async move { handle(&store, &e.to_string(), now).await.expect("handled") }
    };
    let mut connected = BTreeSet::new();
    for i in 0..12 {
        let id = format!("online-{i:02}");
        send(connect_event(
            &id,
            &format!("{id}-s1"),
            1,
            now - (i + 1) * MINUTE,
        ))
        .await;
        connected.insert(id);
    }
    let offline = [
        (1, "CONNECTION_LOST"),
        (3, "CONNECTION_LOST"),
        (20, "MQTT_KEEP_ALIVE_TIMEOUT"),
        (50, "CONNECTION_LOST"),
        (180, "CLIENT_INITIATED_DISCONNECT"),
        (600, "DUPLICATE_CLIENTID"),
        (2_000, "CONNECTION_LOST"),
        (3_000, "SERVER_INITIATED_DISCONNECT"),
        (20_000, "AUTH_ERROR"),
    ];
    let mut disconnected = Vec::new();
    for (i, (minutes, reason)) in offline.into_iter().enumerate() {
        let id = format!("offline-{i:02}");
        let since = now - minutes * MINUTE;
        send(connect_event(&id, "s1", 4, since - 10 * MINUTE)).await;
        send(disconnect_event(&id, "s1", 4, since, reason)).await;
        disconnected.push((id, minutes, reason));
    }
    // A long history for one client: sessions, a stale duplicate, a redelivery.
    let base = now - 500 * MINUTE;
    for k in 0..5u64 {
        let session = format!("hist-s{k}");
        send(connect_event(
            "historian",
            &session,
            10 + k,
            base + k * 30 * MINUTE,
        ))
        .await;
        send(disconnect_event(
            "historian",
            &session,
            10 + k,
            base + k * 30 * MINUTE + 10 * MINUTE,
            "CONNECTION_LOST",
        ))
        .await;
    }
    // A redelivery (same event: no new row), a stale copy, and a duplicate of the last event
    // with another timestamp.
    send(connect_event(
        "historian",
        "hist-s1",
        11,
        base + 30 * MINUTE,
    ))
    .await;
    send(connect_event("historian", "hist-s0", 10, base + 5)).await;
    send(disconnect_event(
        "historian",
        "hist-s4",
        14,
        base + 130 * MINUTE + 7,
        "CONNECTION_LOST",
    ))
    .await;
    Fleet {
        tables,
        now,
        connected,
        disconnected,
    }
}

fn presence(tables: &Tables, args: &[&str]) -> Output {
    local::presence_command(tables)
        .args(args)
        .output()
        .expect("run presence")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn json_lines(o: &Output) -> Vec<Value> {
    assert!(o.status.success(), "{o:?}");
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn status_of_connected_disconnected_and_unknown_clients() {
    let f = fleet().await;
    let out = presence(&f.tables, &["status", "online-00", "-o", "json"]);
    let v = &json_lines(&out)[0];
    assert_eq!(v["clientId"], "online-00");
    assert_eq!(v["connected"], true);
    assert_eq!(v["disconnectReason"], "NONE");
    assert_eq!(v["sessionIdentifier"], "online-00-s1");
    assert_eq!(v["versionNumber"], 1);
    assert_eq!(v["timestamp"], v["connectedSince"]);
    assert!(
        v["timestamp"].as_str().unwrap().ends_with('Z'),
        "ISO 8601: {v}"
    );
    assert!(
        v.get("sourceIp").is_none(),
        "network details only on request"
    );
    assert!(
        v.get("principal").is_none(),
        "personal data only on request"
    );
    let out = presence(&f.tables, &["status", "online-00", "--show-principal"]);
    assert!(stdout(&out).contains("cert-1"), "{}", stdout(&out));
    let out = presence(&f.tables, &["status", "online-00"]);
    assert!(!stdout(&out).contains("cert-1"), "{}", stdout(&out));

    let out = presence(
        &f.tables,
        &[
            "status",
            "offline-05",
            "-o",
            "json",
            "--include-socket-information",
        ],
    );
    let v = &json_lines(&out)[0];
    assert_eq!(v["connected"], false);
    assert_eq!(v["disconnectReason"], "DUPLICATE_CLIENTID");
    assert_eq!(v["sourceIp"], "198.51.100.7");
    assert!(v["disconnectedSince"].is_string() && v["connectedSince"].is_string());

    let out = presence(&f.tables, &["status", "never-seen", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        v,
        json!({"clientId": "never-seen", "connected": false, "disconnectReason": "UNKNOWN"})
    );

    // The human view says the same.
    let out = presence(&f.tables, &["status", "offline-05"]);
    let text = stdout(&out);
    assert!(text.contains("no, since"), "{text}");
    assert!(
        text.contains("DUPLICATE_CLIENTID (not client initiated)"),
        "{text}"
    );
    let out = presence(&f.tables, &["status", "never-seen"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("never seen"));
}

#[tokio::test]
async fn lists_come_from_the_sharded_index_across_pages() {
    let f = fleet().await;
    let ids = |o: &Output| -> Vec<String> {
        json_lines(o)
            .iter()
            .map(|v| v["clientId"].as_str().unwrap().to_owned())
            .collect()
    };
    // Page size 2 makes every shard with more than two clients cross page boundaries.
    let connected = ids(&presence(
        &f.tables,
        &[
            "list",
            "--connected",
            "--sort",
            "oldest",
            "-o",
            "json",
            "--page-size",
            "2",
        ],
    ));
    let mut expected: Vec<String> = f.connected.iter().cloned().collect();
    expected.sort_by_key(|id| std::cmp::Reverse(id.clone())); // online-11 connected first
    assert_eq!(connected, expected, "longest connected first");
    let newest = ids(&presence(
        &f.tables,
        &["list", "--connected", "-o", "json", "--page-size", "2"],
    ));
    expected.reverse();
    assert_eq!(newest, expected, "by default, the latest connect first");

    let all_offline = ids(&presence(
        &f.tables,
        &[
            "list",
            "--disconnected",
            "--sort",
            "oldest",
            "-o",
            "json",
            "--page-size",
            "1",
        ],
    ));
    // historian went offline 370 minutes ago.
    let mut by_age: Vec<(String, u64)> = f
        .disconnected
        .iter()
        .map(|(id, m, _)| (id.clone(), *m))
        .collect();
    by_age.push(("historian".into(), 370));
    by_age.sort_by_key(|(_, minutes)| std::cmp::Reverse(*minutes));
    let expected: Vec<String> = by_age.into_iter().map(|(id, _)| id).collect();
    assert_eq!(all_offline, expected);

    let long_offline = ids(&presence(
        &f.tables,
        &[
            "list",
            "--disconnected",
            "--offline-for",
            "1h",
            "-o",
            "json",
        ],
    ));
    let expected: BTreeSet<String> = f
        .disconnected
        .iter()
        .filter(|(_, m, _)| *m >= 60)
        .map(|(id, _, _)| id.clone())
        .chain(["historian".to_owned()])
        .collect();
    assert_eq!(
        long_offline.iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );

    let limited = ids(&presence(
        &f.tables,
        &[
            "list",
            "--disconnected",
            "--sort",
            "oldest",
            "--limit",
            "3",
            "-o",
            "json",
        ],
    ));
    assert_eq!(limited, all_offline[..3]);

    // The incident view's listing: newest drop first, and only the recent ones; the limit keeps
    // the newest across shards (each shard is read newest first).
    let newest_drops = ids(&presence(
        &f.tables,
        &["list", "--disconnected", "-o", "json", "--page-size", "1"],
    ));
    let mut reversed = all_offline.clone();
    reversed.reverse();
    assert_eq!(newest_drops, reversed, "the newest drop first");
    let newest_three = ids(&presence(
        &f.tables,
        &["list", "--disconnected", "--limit", "3", "-o", "json"],
    ));
    assert_eq!(newest_three, ["offline-00", "offline-01", "offline-02"]);
    let recent = ids(&presence(
        &f.tables,
        &[
            "list",
            "--disconnected",
            "--dropped-within",
            "30m",
            "-o",
            "json",
        ],
    ));
    assert_eq!(
        recent,
        ["offline-00", "offline-01", "offline-02"],
        "dropped 1, 3 and 20 minutes ago"
    );
    let window = ids(&presence(
        &f.tables,
        &[
            "list",
            "--disconnected",
            "--dropped-within",
            "1h",
            "--offline-for",
            "10m",
            "-o",
            "json",
        ],
    ));
    assert_eq!(
        window,
        ["offline-02", "offline-03"],
        "dropped 20 and 50 minutes ago"
    );
    let by_client = ids(&presence(
        &f.tables,
        &[
            "list",
            "--disconnected",
            "--sort",
            "client",
            "--limit",
            "4",
            "-o",
            "json",
        ],
    ));
    assert_eq!(
        by_client,
        ["historian", "offline-00", "offline-01", "offline-02"]
    );

    let text = stdout(&presence(&f.tables, &["list", "--connected"]));
    assert!(text.starts_with(" CLIENT"), "{text}");
    assert!(text.trim_end().ends_with("12 clients"), "{text}");
}

#[tokio::test]
async fn history_is_oldest_first_with_outcomes_and_pages_past_one_megabyte() {
    let f = fleet().await;
    let rows = json_lines(&presence(
        &f.tables,
        &["history", "historian", "-o", "json"],
    ));
    assert_eq!(
        rows.len(),
        12,
        "10 sessions' events, a stale copy, a duplicate; no row for the redelivery"
    );
    let times: Vec<&str> = rows
        .iter()
        .map(|r| r["timestamp"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "oldest first");
    let outcomes: Vec<&str> = rows
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "duplicate").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == "stale").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == "applied").count(),
        10,
        "{outcomes:?}"
    );

    // A window: --since/--until select by time, `until` exclusive.
    let base = f.now - 500 * MINUTE;
    let since = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(base + 30 * MINUTE),
    )
    .to_string();
    let until = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(base + 60 * MINUTE),
    )
    .to_string();
    let window = json_lines(&presence(
        &f.tables,
        &[
            "history",
            "historian",
            "--since",
            &since,
            "--until",
            &until,
            "-o",
            "json",
        ],
    ));
    assert!(
        window.iter().all(|r| r["sessionIdentifier"] == "hist-s1"),
        "{window:?}"
    );
    assert!(!window.is_empty());
    // Open-ended windows.
    let from_s1 = json_lines(&presence(
        &f.tables,
        &["history", "historian", "--since", &since, "-o", "json"],
    ));
    assert_eq!(
        from_s1.len(),
        12 - 3,
        "all but hist-s0's two events and its stale copy"
    );
    let before_s1 = json_lines(&presence(
        &f.tables,
        &["history", "historian", "--until", &since, "-o", "json"],
    ));
    assert_eq!(before_s1.len() + from_s1.len(), 12);

    // Past DynamoDB's 1 MB query page: 30 events carrying 40 KB of unknown fields each.
    let client = local::client();
    let store = local::store(&client, &f.tables, Window::DEFAULT);
    let padding = "x".repeat(40_000);
    for k in 0..30u64 {
        let mut e = connect_event(
            "bulky",
            &format!("bulky-{k}"),
            k,
            1_700_000_000_000 + k * MINUTE,
        );
        e["vendorBlob"] = json!(padding);
        handle(&store, &e.to_string(), local::RECEIVED_LATER)
            .await
            .unwrap();
    }
    let rows = json_lines(&presence(&f.tables, &["history", "bulky", "-o", "json"]));
    assert_eq!(rows.len(), 30);

    let out = presence(&f.tables, &["history", "never-seen"]);
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn summary_counts_buckets_and_reasons() {
    let f = fleet().await;
    let v = &json_lines(&presence(&f.tables, &["summary", "-o", "json"]))[0];
    assert_eq!(v["connected"], 12);
    assert_eq!(v["disconnected"], 10);
    // offline minutes 1, 3 | 20, 50 | 180, 600 + historian (370) | 2000, 3000, 20000
    assert_eq!(
        v["offlineFor"],
        json!({"under5m": 2, "under1h": 2, "under1d": 3, "longer": 3})
    );
    assert_eq!(v["disconnectReasons"]["CONNECTION_LOST"], 5);
    assert_eq!(v["disconnectReasons"]["AUTH_ERROR"], 1);
    let text = stdout(&presence(&f.tables, &["summary"]));
    assert!(text.contains("DISCONNECT REASON"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim().starts_with("CONNECTION_LOST") && l.trim().ends_with('5')),
        "{text}"
    );
}

#[tokio::test]
async fn incident_counts_recent_drops_and_finds_the_storm() {
    let f = fleet().await;
    // Drops in the last hour: offline-00..03 (1, 3, 20 and 50 minutes ago).
    let v = &json_lines(&presence(&f.tables, &["incident", "-o", "json"]))[0];
    assert_eq!(
        v["dropped"],
        json!([
            {"withinMs": 300000, "clients": 2},
            {"withinMs": 900000, "clients": 2},
            {"withinMs": 3600000, "clients": 4}
        ])
    );
    assert_eq!(v["fleet"], json!({"connected": 12, "disconnected": 10}));
    assert_eq!(v["reasons"]["top"][0], json!(["CONNECTION_LOST", 3]));
    assert_eq!(v["prefixes"]["top"], json!([["offline-", 4]]));
    assert_eq!(v["newest"][0], "offline-00");
    assert_eq!(
        v["storm"],
        Value::Null,
        "4 drops are no storm by default (50 clients)"
    );

    // Two drops within 5 minutes are 9% of 22 clients: a storm by these bounds.
    let args = [
        "incident",
        "--storm-min-clients",
        "2",
        "--storm-min-share",
        "0.05",
        "--storm-window",
        "5m",
    ];
    let v = &json_lines(&presence(&f.tables, &[&args[..], &["-o", "json"]].concat()))[0];
    assert_eq!(v["storm"]["clients"], 2);
    assert_eq!(v["storm"]["sample"], json!(["offline-01", "offline-00"]));
    let text = stdout(&presence(&f.tables, &args));
    assert!(text.contains("STORM: 2 clients (9.1% of 22)"), "{text}");
    assert!(text.contains("DROPPED WITHIN"), "{text}");
}

#[tokio::test]
async fn rebuild_restores_lost_status_items_and_is_idempotent() {
    let f = fleet().await;
    let client = local::client();
    let before_one = status_item(&client, &f.tables, "historian").await.unwrap();
    let before_two = status_item(&client, &f.tables, "offline-03").await.unwrap();
    for id in ["historian", "offline-03"] {
        client
            .delete_item()
            .table_name(&f.tables.status)
            .key(attr::CLIENT_ID, AttributeValue::S(id.into()))
            .send()
            .await
            .unwrap();
    }
    // Both are the wall-clock time of the write; a restored item's change count is checked
    // apart (the count was lost with the item).
    let without_clock = |mut item: local::Item| {
        item.remove(attr::UPDATED_AT);
        item.remove(attr::ALERT_DUE_AT);
        item.remove(attr::CHANGE_SEQ);
        item
    };

    let v = &json_lines(&presence(
        &f.tables,
        &["rebuild", "--client", "historian", "-o", "json"],
    ))[0];
    assert_eq!(v["events"], 12);
    assert_eq!(v["connected"], false);
    let after = status_item(&client, &f.tables, "historian").await.unwrap();
    // The restoration is one change, numbered after every applied row of the log.
    let (seq_before, seq_after) = (
        local::n(&before_one, attr::CHANGE_SEQ).unwrap(),
        local::n(&after, attr::CHANGE_SEQ).unwrap(),
    );
    assert!(seq_after > seq_before, "{seq_before} -> {seq_after}");
    assert_eq!(without_clock(after), without_clock(before_one.clone()));

    let out = presence(&f.tables, &["rebuild", "--all"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains("rebuilt 22 clients"),
        "{}",
        stdout(&out)
    );
    let after = status_item(&client, &f.tables, "offline-03").await.unwrap();
    assert_eq!(without_clock(after), without_clock(before_two));

    // Again, with --reset: the log alone decides, and decides the same.
    let out = presence(&f.tables, &["rebuild", "--client", "historian", "--reset"]);
    assert!(
        stdout(&out).contains("historian: 12 events replayed"),
        "{}",
        stdout(&out)
    );
    let after = status_item(&client, &f.tables, "historian").await.unwrap();
    // Nothing moved: no change counted, none for PresenceChanged to report.
    assert_eq!(local::n(&after, attr::CHANGE_SEQ), Some(seq_after));
    assert_eq!(without_clock(after), without_clock(before_one));
}

#[tokio::test]
async fn usage_errors_exit_2_and_say_what_to_do() {
    let tables = Tables {
        status: "unused".into(),
        events: "unused".into(),
    };
    let out = presence(&tables, &["list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--connected|--disconnected"));
    let out = presence(&tables, &["list", "--connected", "--offline-for", "10m"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--offline-for needs --disconnected"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_presence"))
        .args(["status", "x"])
        .env_remove("STATUS_TABLE_NAME")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("STATUS_TABLE_NAME"));

    // A table that does not exist: exit 3 with a hint.
    let out = presence(
        &Tables {
            status: "no-such-table".into(),
            events: "x".into(),
        },
        &["status", "x"],
    );
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-table") && err.contains("hint:"),
        "{err}"
    );
}

#[tokio::test]
async fn thresholds_an_alert_pass_and_the_alerted_clients_in_summary() {
    let f = fleet().await;
    let sink = local::AlertSink::new().await;
    let client = local::client();

    // offline-01 has been offline 3 minutes: under the 5-minute default, over its own 2.
    let out = presence(&f.tables, &["threshold", "offline-01", "2m"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("offline alerts after 2m"), "{out:?}");
    let item = status_item(&client, &f.tables, "offline-01").await.unwrap();
    assert_eq!(local::n(&item, attr::OFFLINE_THRESHOLD), Some(2 * MINUTE));
    let out = presence(&f.tables, &["threshold", "offline-01", "10s"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside 1m..=7d"));

    let pass = &json_lines(&presence(
        &f.tables,
        &["alert-pass", "--topic-arn", &sink.topic_arn, "-o", "json"],
    ))[0];
    // Offline 20 min or more: offline-02..08 and historian; plus offline-01 by its own
    // threshold. offline-00 (1 min) is only scheduled. The historian's first outage (20 min,
    // back since; the disconnect tracked it) gets its offline and back-online notices too: no
    // pass looked while it lasted, and the outcome follows the events.
    assert_eq!(pass["report"]["offline"], 10, "{pass}");
    assert_eq!(pass["report"]["backOnline"], 1, "{pass}");
    let received: BTreeSet<String> = sink
        .drain()
        .await
        .iter()
        .map(|r| r.message["clientId"].as_str().unwrap().to_owned())
        .collect();
    let mut expected: BTreeSet<String> = (1..=8).map(|i| format!("offline-{i:02}")).collect();
    expected.insert("historian".to_owned());
    assert_eq!(received, expected);

    let v = &json_lines(&presence(&f.tables, &["summary", "-o", "json"]))[0];
    let alerted = v["alerted"].as_array().unwrap();
    assert_eq!(alerted.len(), 9, "{v}");
    assert!(alerted.iter().all(|a| a["kind"] == "offline"));
    assert_eq!(
        alerted[0]["clientId"], "offline-08",
        "longest offline first"
    );
    assert_eq!(alerted[0]["disconnectReason"], "AUTH_ERROR");
    let text = stdout(&presence(&f.tables, &["summary"]));
    assert!(text.contains("ALERTED CLIENT"), "{text}");
    assert!(text.contains("9 clients alerted"), "{text}");

    let out = presence(&f.tables, &["threshold", "offline-01", "--clear"]);
    assert!(out.status.success(), "{out:?}");
    let item = status_item(&client, &f.tables, "offline-01").await.unwrap();
    assert!(!item.contains_key(attr::OFFLINE_THRESHOLD));
}

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

#[tokio::test]
async fn availability_per_client_for_the_fleet_and_bad_windows() {
    let f = fleet().await;
    // historian: five 10-minute sessions 30 minutes apart from now-500m, offline since now-370m.
    let base = f.now - 500 * MINUTE;
    let (since, until) = (rfc3339(base), rfc3339(f.now));
    let out = presence(
        &f.tables,
        &[
            "availability",
            "historian",
            "--since",
            &since,
            "--until",
            &until,
            "--json",
        ],
    );
    let r = &json_lines(&out)[0];
    assert_eq!(r["clientId"], "historian");
    assert_eq!(r["onlineMs"], 50 * MINUTE);
    assert_eq!(r["offlineMs"], 450 * MINUTE);
    assert_eq!(r["unknownMs"], 0);
    assert_eq!(r["uptimePercent"], 10.0);
    assert_eq!(r["outages"], 5);
    assert_eq!(r["mttrMs"], 20 * MINUTE);
    assert_eq!(r["longestOutageMs"], 370 * MINUTE);
    assert_eq!(r["offlineAtEnd"], true);
    assert_eq!(r["topReason"], "CONNECTION_LOST");
    // Starting before its first event: the first 100 minutes are unknown, not offline.
    let earlier = rfc3339(base - 100 * MINUTE);
    let out = presence(
        &f.tables,
        &[
            "availability",
            "historian",
            "--since",
            &earlier,
            "--until",
            &until,
            "-o",
            "json",
        ],
    );
    let r = &json_lines(&out)[0];
    assert_eq!(
        (&r["unknownMs"], &r["uptimePercent"]),
        (&json!(100 * MINUTE), &json!(10.0))
    );

    // The fleet, worst first, as CSV and as JSON Lines with the totals last.
    let out = presence(
        &f.tables,
        &["availability", "--all", "--since", "600m", "--csv"],
    );
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let rows: Vec<&str> = text.lines().collect();
    assert!(rows[0].starts_with("clientId,since,until,uptimePercent,"));
    assert_eq!(rows.len(), 1 + 12 + 9 + 1, "{text}");
    // Offline through the whole window: 0%, first.
    for (row, id) in rows[1..5]
        .iter()
        .zip(["offline-05", "offline-06", "offline-07", "offline-08"])
    {
        assert!(
            row.starts_with(&format!("{id},")) && row.contains(",0.000000,"),
            "{row}"
        );
    }
    let lines = json_lines(&presence(
        &f.tables,
        &["availability", "--all", "-o", "json"],
    ));
    assert_eq!(lines.len(), 22 + 1);
    let fleet = &lines[22]["fleet"];
    assert_eq!(fleet["clients"], 22);
    assert_eq!(fleet["offlineAtEnd"], 10);
    let text = stdout(&presence(&f.tables, &["availability", "--all"]));
    assert!(text.contains("fleet: 22 clients"), "{text}");

    // Windows that make no sense, and unknown flags: exit 2, a message naming the problem.
    for (args, message) in [
        (
            vec!["--since", "1h", "--until", "2h"],
            "must be before --until",
        ),
        (
            vec!["--since", "40d"],
            "reaches past the event retention (30 days",
        ),
        (vec!["--since", "yesterday"], "neither a duration"),
        (vec!["--bogus"], "unexpected argument '--bogus'"),
        (vec![], "the following required arguments were not provided"),
    ] {
        let mut all = vec!["availability", "historian"];
        if args.is_empty() {
            all.pop();
        }
        all.extend(&args);
        let out = presence(&f.tables, &all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
    }
    // A longer retention lets the window reach further back.
    let out = presence(
        &f.tables,
        &[
            "availability",
            "historian",
            "--since",
            "40d",
            "--retention-days",
            "90",
        ],
    );
    assert!(out.status.success(), "{out:?}");
}

/// The JSON of `status` and `list`, whole: every field with its value, and nothing else (the
/// views in src/bin/presence/output.rs are what scripts read).
#[tokio::test]
async fn status_and_list_json_pinned() {
    let f = fleet().await;
    let at = |minutes_ago: u64| rfc3339(f.now - minutes_ago * MINUTE);
    let line = |args: &[&str]| json_lines(&presence(&f.tables, args)).remove(0);

    let online = json!({
        "clientId": "online-00", "connected": true, "timestamp": at(1),
        "disconnectReason": "NONE", "sessionIdentifier": "online-00-s1", "versionNumber": 1,
        "connectedSince": at(1),
    });
    assert_eq!(line(&["status", "online-00", "-o", "json"]), online);
    let mut personal = online.clone();
    personal["principal"] = json!("cert-1");
    personal["sourceIp"] = json!("198.51.100.7");
    assert_eq!(
        line(&[
            "status",
            "online-00",
            "--show-principal",
            "--include-socket-information",
            "-o",
            "json"
        ]),
        personal
    );
    let offline = json!({
        "clientId": "offline-00", "connected": false, "timestamp": at(1),
        "disconnectReason": "CONNECTION_LOST", "sessionIdentifier": "s1", "versionNumber": 4,
        "connectedSince": at(11), "disconnectedSince": at(1),
        "clientInitiatedDisconnect": false,
    });
    assert_eq!(line(&["status", "offline-00", "-o", "json"]), offline);

    // Lists come from the status index: its projection (no clientInitiatedDisconnect), in the
    // same shape.
    let connected = json_lines(&presence(
        &f.tables,
        &["list", "--connected", "--sort", "oldest", "-o", "json"],
    ));
    assert_eq!(connected.len(), 12);
    let oldest = json!({
        "clientId": "online-11", "connected": true, "timestamp": at(12),
        "disconnectReason": "NONE", "sessionIdentifier": "online-11-s1", "versionNumber": 1,
        "connectedSince": at(12),
    });
    assert_eq!(connected[0], oldest, "longest connected first");
    let disconnected = json_lines(&presence(
        &f.tables,
        &[
            "list",
            "--disconnected",
            "--sort",
            "oldest",
            "--limit",
            "1",
            "-o",
            "json",
        ],
    ));
    let longest = json!({
        "clientId": "offline-08", "connected": false, "timestamp": at(20_000),
        "disconnectReason": "AUTH_ERROR", "sessionIdentifier": "s1", "versionNumber": 4,
        "connectedSince": at(20_010), "disconnectedSince": at(20_000),
    });
    assert_eq!(disconnected, [longest]);
}

/// A character that could rewrite or reorder the operator's terminal: a C0 or C1 control
/// (ESC, CR, ...) or a bidi control. Newlines are the output's own.
fn raw_control(c: char) -> bool {
    c != '\n'
        && (c.is_control()
            || matches!(c as u32, 0x202a..=0x202e | 0x2066..=0x2069 | 0x200e | 0x200f))
}

/// Client ids, reasons, thing names and sessions are the devices' own strings: a hostile one
/// (ESC[2J clears the screen, CR returns over the line, U+202E reverses it) reaches the table
/// and text output escaped, never raw; `-o json` keeps it exact. Before the escaping, every
/// table printed them as they were.
#[tokio::test]
async fn hostile_strings_are_escaped_in_tables_and_exact_in_json() {
    let client = local::client();
    let tables = local::create_tables().await;
    let store = local::store(&client, &tables, Window::DEFAULT);
    let now = now_ms();
    let id = "evil\u{1b}[2J\r\u{202e}-7\u{2066}";
    let reason = "CONNECTION_LOST\u{1b}]0;pwned\u{7}\r\u{202e}\u{9b}";
    let session = "s\u{1b}[31m\u{200f}1";
    let mut connect = connect_event(id, session, 3, now - 10 * MINUTE);
    connect["thingName"] = json!("thing\u{1b}[1A\u{202d}");
    let disconnect = disconnect_event(id, session, 3, now - 5 * MINUTE, reason);
    for event in [connect, disconnect] {
        handle(&store, &event.to_string(), now)
            .await
            .expect("handled");
    }

    let runs: [&[&str]; 8] = [
        &["list", "--disconnected"],
        &["status", id],
        &["history", id],
        &["summary"],
        &["incident"],
        &["availability", id, "--since", "1h"],
        &["threshold", id, "5m"],
        &["rebuild", "--client", id],
    ];
    for args in runs {
        let out = presence(&tables, args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        let text = stdout(&out) + &String::from_utf8_lossy(&out.stderr);
        assert!(
            !text.chars().any(raw_control),
            "{args:?} printed a raw control character: {text:?}"
        );
    }
    let text = stdout(&presence(&tables, &["status", id]));
    for escaped in [
        r"evil\u{1b}[2J\u{d}\u{202e}-7\u{2066}",
        r"CONNECTION_LOST\u{1b}]0;pwned\u{7}\u{d}\u{202e}\u{9b}",
        r"thing\u{1b}[1A\u{202d}",
        r"s\u{1b}[31m\u{200f}1",
    ] {
        assert!(text.contains(escaped), "{escaped} in {text}");
    }
    assert!(stdout(&presence(&tables, &["summary"])).contains(r"pwned\u{7}"));

    let v = &json_lines(&presence(&tables, &["status", id, "-o", "json"]))[0];
    assert_eq!(v["clientId"], id);
    assert_eq!(v["disconnectReason"], reason);
    assert_eq!(v["sessionIdentifier"], session);
    assert_eq!(v["thingName"], "thing\u{1b}[1A\u{202d}");
    let listed = json_lines(&presence(
        &tables,
        &["list", "--disconnected", "-o", "json"],
    ));
    assert_eq!(listed[0]["clientId"], id);
    let events = json_lines(&presence(&tables, &["history", id, "-o", "json"]));
    assert_eq!(events[1]["disconnectReason"], reason);
}

/// Time flags are bounded: `--at +10000y` (the year 12026) panicked formatting the pass's
/// time; now it, and every time or duration past the bounds, is a usage error (exit 2) that
/// names the flag and the accepted range, before anything is read.
#[tokio::test]
async fn out_of_range_times_are_usage_errors_naming_the_flag() {
    let tables = Tables {
        status: "unused".into(),
        events: "unused".into(),
    };
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &[
                "alert-pass",
                "--topic-arn",
                "arn:aws:sns:x",
                "--at",
                "+10000y",
            ],
            "--at",
            "100y",
        ),
        (
            &[
                "alert-pass",
                "--topic-arn",
                "arn:aws:sns:x",
                "--at",
                "3000-01-01T00:00:00Z",
            ],
            "--at",
            "9999999999999",
        ),
        (&["history", "c", "--since", "20000y"], "--since", "100y"),
        (
            &["availability", "c", "--until", "9999-12-31T23:59:59Z"],
            "--until",
            "2286-11-20T17:46:39.999Z",
        ),
        (
            &[
                "list",
                "--disconnected",
                "--offline-for",
                "18446744073709612s",
            ],
            "--offline-for",
            "100y",
        ),
    ];
    for (args, flag, range) in cases {
        let out = presence(&tables, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag) && err.contains(range), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // A long argument (Linux takes at most 128 KiB, less one byte) is quoted capped, with its
    // length.
    let long = "x".repeat(100_000);
    let out = presence(&tables, &["history", "c", "--since", &long]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.len() < 1024 && err.contains("--since") && err.contains("100000 bytes"),
        "{err}"
    );
}
