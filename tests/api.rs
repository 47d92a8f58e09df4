//! The HTTP API function against the local DynamoDB: API Gateway (payload format 2.0) request
//! events through the real handler, over statuses the real ingest handler wrote. Every answer
//! is checked against docs/openapi.yaml (`fleet::Fixture::call`); the bodies are what the
//! `presence` CLI prints for the same question (with the `cli` feature, which runs it).

mod common;
#[path = "api/fleet.rs"]
mod fleet;
#[path = "api/support.rs"]
mod support;

use fleet::{cli_fleet, connect_event, Fixture, MINUTE};
use iot_presence::config::{Config, StormSettings};
use iot_presence::functions::api::{answer, Api};
use iot_presence::read::view::StatusView;
use iot_presence::store::capacity::measure;
use iot_presence::store::item::Status;
use iot_presence::time::{iso_millis, now_ms};
use serde_json::{json, Value};

#[tokio::test]
async fn every_route_answers_with_the_views_of_the_cli() {
    let mut f = Fixture::new().await;
    let now = now_ms();
    cli_fleet(&f, now).await;

    // One client: the status read by key, in the CLI's view, without principal or IP.
    let body = f.get("/clients/offline-02", now).await;
    let item = common::local::status_item(&f.client, &f.tables, "offline-02")
        .await
        .unwrap();
    let status = Status::from_item(item).unwrap();
    assert_eq!(
        body,
        serde_json::to_value(StatusView::new(&status, false, false)).unwrap()
    );
    assert_eq!(body["disconnectReason"], "MQTT_KEEP_ALIVE_TIMEOUT");
    assert_eq!(body["connected"], false);

    // A listing, newest change first.
    let body = f.get("/clients?state=connected", now).await;
    let ids: Vec<&str> = body["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["clientId"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..12).map(|i| format!("online-{i:02}")).collect();
    assert_eq!(ids, expected);
    assert!(body.get("nextCursor").is_none(), "one page holds them all");
    let within = f
        .get("/clients?state=disconnected&droppedWithin=30m", now)
        .await;
    let ids: Vec<&str> = within["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["clientId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["offline-00", "offline-01", "offline-02"]);

    // History: every row once, oldest first, with its outcome.
    let body = f.get("/clients/historian/history", now).await;
    let events = body["events"].as_array().unwrap();
    assert_eq!(
        events.len(),
        11,
        "ten events and the stale copy; the redelivery adds none"
    );
    assert!(events
        .windows(2)
        .all(|w| w[0]["eventKey"].as_str() < w[1]["eventKey"].as_str()));
    assert_eq!(events.iter().filter(|e| e["outcome"] == "stale").count(), 1);
    let since = iso_millis(now - 440 * MINUTE);
    let until = iso_millis(now - 400 * MINUTE);
    let window = f
        .get(
            &format!("/clients/historian/history?since={since}&until={until}"),
            now,
        )
        .await;
    assert_eq!(window["events"].as_array().unwrap().len(), 3, "{window}");
    // Epoch milliseconds name the same window.
    let by_ms = f
        .get(
            &format!(
                "/clients/historian/history?since={}&until={}",
                now - 440 * MINUTE,
                now - 400 * MINUTE
            ),
            now,
        )
        .await;
    assert_eq!(by_ms, window);

    let availability = f
        .get(
            &format!("/clients/historian/availability?since={since}&until={until}"),
            now,
        )
        .await;
    assert_eq!(availability["outages"], 1, "{availability}");
    assert_eq!(availability["offlineMs"], 20 * MINUTE);

    let summary = f.get("/fleet/summary", now).await;
    assert_eq!(
        (
            summary["connected"].clone(),
            summary["disconnected"].clone()
        ),
        (json!(12), json!(10))
    );
    let incident = f.get("/fleet/incident", now).await;
    assert_eq!(
        incident["dropped"][0],
        json!({"withinMs": 300_000, "clients": 2})
    );

    #[cfg(feature = "cli")]
    the_cli_prints_the_same(&f, now).await;
}

/// The same questions through the `presence` binary: the same JSON.
#[cfg(feature = "cli")]
async fn the_cli_prints_the_same(f: &Fixture, now: u64) {
    let mut f2 = Fixture {
        client: f.client.clone(),
        tables: f.tables.clone(),
        ingest: f.ingest.clone(),
        api: f.api.clone(),
        openapi: support::OpenApi::load(),
    };
    let cli = |args: &[&str]| -> Vec<Value> {
        let out = common::local::presence_command(&f.tables)
            .args(args)
            .output()
            .expect("run presence");
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    for id in ["online-03", "offline-05", "historian"] {
        let api = f2.get(&format!("/clients/{id}"), now).await;
        assert_eq!(cli(&["status", id, "-o", "json"]), [api], "{id}");
    }
    let api = f2.get("/clients?state=disconnected", now).await;
    assert_eq!(
        &cli(&["list", "--disconnected", "-o", "json"]),
        api["clients"].as_array().unwrap(),
        "the listing's entries are the index's, in both"
    );
    let api = f2.get("/clients/historian/history", now).await;
    assert_eq!(
        &cli(&["history", "historian", "-o", "json"]),
        api["events"].as_array().unwrap()
    );
    let (since, until) = (
        iso_millis(now - 480 * MINUTE),
        iso_millis(now - 100 * MINUTE),
    );
    let api = f2
        .get(
            &format!("/clients/historian/availability?since={since}&until={until}"),
            now,
        )
        .await;
    let printed = cli(&[
        "availability",
        "historian",
        "--since",
        &since,
        "--until",
        &until,
        "-o",
        "json",
    ]);
    assert_eq!(printed, [api]);
    // The CLI reads the clock when it runs: no offline bucket edge is near the fleet's drops.
    let api = f2.get("/fleet/summary", now).await;
    assert_eq!(cli(&["summary", "-o", "json"]), [api]);
    let mut api = f2.get("/fleet/incident", now).await;
    let mut printed = cli(&["incident", "-o", "json"]).remove(0);
    for view in [&mut api, &mut printed] {
        view.as_object_mut().unwrap().remove("now");
    }
    assert_eq!(printed, api);
}

#[tokio::test]
async fn unknown_clients_are_404_and_known_ones_with_nothing_in_the_window_are_not() {
    let mut f = Fixture::new().await;
    let now = now_ms();
    f.send(connect_event("known", "s", 1, now - 90 * MINUTE), now)
        .await;
    for target in [
        "/clients/ghost",
        "/clients/ghost/history",
        "/clients/ghost/availability",
        "/clients/gh%C3%B6st/history?since=2026-01-01T00:00:00Z",
    ] {
        let answer = f.call("GET", target, now).await;
        assert_eq!(answer.status_code, 404, "{target}");
        let problem: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(
            problem["type"],
            "tag:iot-presence,2025:problem:unknown-client"
        );
        assert_eq!(problem["parameter"], "clientId");
        assert_eq!(problem["requestId"], "JKJaXmPLvHcESHA=");
    }
    let empty = f
        .get(
            &format!("/clients/known/history?since={}", now - MINUTE),
            now,
        )
        .await;
    assert_eq!(empty, json!({"clientId": "known", "events": []}));
    let report = f.get("/clients/known/availability", now).await;
    assert_eq!(report["offlineAtEnd"], false);
    // A client id with a `/` and non-ASCII characters, percent-encoded in the path.
    f.send(connect_event("site/3/pump é", "s", 1, now - MINUTE), now)
        .await;
    let body = f.get("/clients/site%2F3%2Fpump%20%C3%A9", now).await;
    assert_eq!(body["clientId"], "site/3/pump é");
}

/// Bad input is answered from the request alone: 400 naming the parameter, and not one
/// DynamoDB request (so nothing is read, and nothing can be written).
#[tokio::test]
async fn bad_input_is_a_400_naming_the_parameter_and_touches_no_table() {
    let mut f = Fixture::new().await;
    let now = now_ms();
    f.send(connect_event("dev-1", "s", 1, now - MINUTE), now)
        .await;
    let first = f.get("/clients?state=connected&limit=1", now).await;
    assert!(first.get("nextCursor").is_none());
    f.send(connect_event("dev-2", "s", 1, now - 2 * MINUTE), now)
        .await;
    let page = f.get("/clients?state=connected&limit=1", now).await;
    let cursor = page["nextCursor"].as_str().unwrap().to_owned();
    let mut tampered = cursor.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let cases = [
        ("/clients?state=connected&colour=red".to_owned(), "colour"),
        (
            format!("/clients?state=connected&cursor={tampered}"),
            "cursor",
        ),
        (
            format!("/clients?state=disconnected&cursor={cursor}"),
            "cursor",
        ),
        (
            format!("/clients?state=connected&prefix=dev&cursor={cursor}"),
            "cursor",
        ),
        (
            "/clients?state=connected&cursor=bm90IGEgY3Vyc29y".to_owned(),
            "cursor",
        ),
        (
            "/clients/dev-1/history?since=last%20week".to_owned(),
            "since",
        ),
        (
            "/clients/dev-1/history?until=99999999999999999999".to_owned(),
            "until",
        ),
        (format!("/clients/{}", "d".repeat(129)), "clientId"),
        (
            "/clients/%24iot-presence%2Fstatus-shards/history".to_owned(),
            "clientId",
        ),
        ("/fleet/summary?limit=5".to_owned(), "limit"),
    ];
    for (target, parameter) in cases {
        let (answer, tally) = measure(f.call("GET", &target, now)).await;
        assert_eq!(answer.status_code, 400, "{target}: {}", answer.body);
        let problem: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(problem["parameter"], parameter, "{target}");
        assert_eq!(answer.content_type(), Some("application/problem+json"));
        assert_eq!(tally.requests, 0, "{target}: refused, yet read the tables");
    }
    for (method, target) in [("POST", "/clients/dev-1"), ("DELETE", "/clients/dev-1")] {
        let (answer, tally) = measure(f.call(method, target, now)).await;
        assert_eq!(answer.status_code, 405);
        assert_eq!(tally.requests, 0);
    }
    let (answer, tally) = measure(f.call("GET", "/devices", now)).await;
    assert_eq!((answer.status_code, tally.requests), (404, 0));
    // The cursor still works as it came.
    let next = f
        .get(
            &format!("/clients?state=connected&limit=1&cursor={cursor}"),
            now,
        )
        .await;
    assert_eq!(next["clients"][0]["clientId"], "dev-2");
}

/// A read that fails (here: tables that do not exist) is a 503 problem with the request id,
/// not a Lambda error, which API Gateway would turn into a bare 500.
#[tokio::test]
async fn a_failed_read_is_a_503_problem() {
    let mut f = Fixture::new().await;
    let config = Config::with_tables("no-such-status-table", "no-such-events-table");
    let store = iot_presence::functions::api::store(&f.client, &config);
    f.api = Api::new(store, &config, StormSettings::DEFAULT);
    let now = now_ms();
    for target in [
        "/clients/dev-1",
        "/clients?state=connected",
        "/clients/dev-1/history",
        "/clients/dev-1/availability",
        "/fleet/summary",
        "/fleet/incident",
    ] {
        let response = f.call("GET", target, now).await;
        assert_eq!(response.status_code, 503, "{target}: {}", response.body);
        let problem: Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(problem["type"], "tag:iot-presence,2025:problem:unavailable");
        assert_eq!(problem["requestId"], "JKJaXmPLvHcESHA=");
    }
    // Not an API Gateway event: answered, not failed.
    let response = answer(&f.api, json!([1, 2, 3]), now).await;
    assert_eq!(response.status_code, 404);
}
