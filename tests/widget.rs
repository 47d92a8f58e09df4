//! The live fleet widget against the local server: a shuffled, duplicated fleet history goes
//! through the real handler, an alert pass runs, and the rendered pages are checked against
//! the status table read independently (every item by key).

mod common;

use std::collections::BTreeMap;

use common::alerting::{fixture, settings, MIN, T0};
use common::local::{self, event_rows, status_item};
use iot_presence::functions::ingest::handle;
use iot_presence::functions::widget::{render, WidgetError};
use iot_presence::store::item::{EventRow, Status};
use iot_presence::store::Store;
use iot_presence::widget::html::escape;
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};

/// The store the widget function reads with: narrowed to the attributes its role may read.
fn widget_store(f: &common::alerting::Fixture) -> Store {
    iot_presence::functions::widget::store(
        &f.client,
        &iot_presence::config::Config::with_tables(&f.tables.status, &f.tables.events),
    )
}

const EVIL: &str = "<script>alert('x')</script>";
const REASONS: [&str; 3] = [
    "CONNECTION_LOST",
    "CLIENT_INITIATED_DISCONNECT",
    "SERVER_INITIATED_DISCONNECT",
];

/// The fleet's true history: (client, event) in time order.
fn history() -> Vec<Value> {
    let mut version = 0;
    let mut events = Vec::new();
    let mut session = |client: &str, name: &str, from: u64, to: Option<(u64, &str)>| {
        version += 1;
        events.push(
            json!({"clientId": client, "timestamp": from, "eventType": "connected",
            "sessionIdentifier": name, "versionNumber": version, "principalIdentifier": "p",
            "ipAddress": "192.0.2.7"}),
        );
        if let Some((at, reason)) = to {
            events.push(
                json!({"clientId": client, "timestamp": at, "eventType": "disconnected",
                "sessionIdentifier": name, "versionNumber": version, "principalIdentifier": "p",
                "disconnectReason": reason, "clientInitiatedDisconnect": false}),
            );
        }
    };
    for i in 0..21u64 {
        let client = format!("dev-{i:02}");
        let gone = (i % 3 != 0).then(|| (T0 + (20 + i) * MIN, REASONS[i as usize % 3]));
        session(&client, &format!("s{i}-1"), T0 + i * MIN, gone);
        if i % 5 == 1 {
            // Back again: connected at the end.
            session(&client, &format!("s{i}-2"), T0 + 50 * MIN, None);
        }
    }
    session(EVIL, "evil-1", T0, Some((T0 + MIN, "CONNECTION_LOST")));
    // Four sessions in ten minutes: a flapping episode; it ends connected.
    for k in 0..3u64 {
        let at = T0 + (60 + 2 * k) * MIN;
        session(
            "flap-1",
            &format!("f{k}"),
            at,
            Some((at + MIN, "CONNECTION_LOST")),
        );
    }
    session("flap-1", "f3", T0 + 66 * MIN, None);
    events
}

/// The history delivered as AWS might: every third event twice, all shuffled (fixed seed).
fn deliveries() -> Vec<Value> {
    let mut all = Vec::new();
    for (i, event) in history().into_iter().enumerate() {
        if i % 3 == 0 {
            all.push(event.clone());
        }
        all.push(event);
    }
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..all.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        all.swap(i, (state % (i as u64 + 1)) as usize);
    }
    all
}

/// Every client's status item, read by key.
async fn statuses(f: &common::alerting::Fixture) -> BTreeMap<String, Status> {
    let mut ids: Vec<String> = history()
        .iter()
        .map(|e| e["clientId"].as_str().unwrap().to_owned())
        .collect();
    ids.dedup();
    let mut out = BTreeMap::new();
    for id in ids {
        let item = status_item(&f.client, &f.tables, &id).await.expect(&id);
        out.insert(id, Status::from_item(item).expect("status item"));
    }
    out
}

/// The escaped client ids of one table of the page, in row order.
fn ids_in(page: &str, table: &str) -> Vec<String> {
    let Some(start) = page.find(&format!("<table class=\"{table}\">")) else {
        return Vec::new();
    };
    let body = &page[start..start + page[start..].find("</table>").unwrap()];
    body.split("<tr><td><span class=\"id\">")
        .skip(1)
        .map(|row| row[..row.find("</span>").unwrap()].to_owned())
        .collect()
}

fn number(page: &str, id: &str) -> u64 {
    let at = page.find(&format!("id=\"{id}\">")).expect(id) + id.len() + 6;
    page[at..at + page[at..].find('<').unwrap()]
        .parse()
        .expect("a count")
}

#[tokio::test]
async fn the_fleet_page_shows_what_the_status_table_holds() {
    let f = fixture(settings()).await;
    let received = T0 + 67 * MIN;
    for event in deliveries() {
        handle(&f.store, &event.to_string(), received)
            .await
            .expect("recorded");
    }
    let (report, _) = f.pass(T0 + 70 * MIN).await;
    assert!(report.offline > 0 && report.flapping > 0, "{report:?}");

    let truth = statuses(&f).await;
    let now = T0 + 71 * MIN;
    let mut offline: Vec<&Status> = truth.values().filter(|s| !s.connected).collect();
    offline.sort_by_key(|s| (s.event_timestamp, s.client_id.clone()));
    let connected = truth.values().filter(|s| s.connected).count() as u64;
    assert!(offline.len() > 10 && connected > 5);
    // Unequal, so that a page with the two counts swapped fails.
    assert_ne!(connected, offline.len() as u64);
    assert_eq!(offline[0].client_id, EVIL, "the longest offline");

    for limit in [50, 5] {
        let page = render(&widget_store(&f), &json!({ "limit": limit }), now)
            .await
            .unwrap();
        assert_eq!(number(&page, "connected"), connected);
        assert_eq!(number(&page, "disconnected"), offline.len() as u64);
        let expected: Vec<String> = offline
            .iter()
            .take(limit)
            .map(|s| escape(&s.client_id))
            .collect();
        assert_eq!(ids_in(&page, "offline"), expected, "limit {limit}");
        assert!(!page.contains("<script"), "{page}");
        // The newest drops of the last hour, newest first, and how many dropped in each window.
        let mut recent: Vec<&Status> = offline
            .iter()
            .copied()
            .filter(|s| s.event_timestamp.unwrap() >= now - 60 * MIN)
            .collect();
        recent.sort_by_key(|s| (std::cmp::Reverse(s.event_timestamp), s.client_id.clone()));
        assert!(!recent.is_empty() && recent.len() < offline.len());
        let expected: Vec<String> = recent
            .iter()
            .take(limit)
            .map(|s| escape(&s.client_id))
            .collect();
        assert_eq!(ids_in(&page, "recent"), expected, "limit {limit}");
        let in_hour = format!("{} in 1h)", recent.len());
        assert!(page.contains(&in_hour), "{in_hour}: {page}");
        // Each row of the offline table shows the item's reason and, when its outage was
        // alerted, the alert.
        let table = &page[page.find("<table class=\"offline\">").unwrap()..];
        for s in offline.iter().take(limit) {
            let id = escape(&s.client_id);
            let row_start = table
                .find(&format!("<span class=\"id\">{id}</span>"))
                .unwrap();
            let row = &table[row_start..row_start + table[row_start..].find("</tr>").unwrap()];
            assert!(
                row.contains(s.disconnect_reason.as_deref().unwrap()),
                "{id}: {row}"
            );
            let alerted = s.outage.as_ref().is_some_and(|o| o.alerted_at.is_some());
            assert_eq!(row.contains("offline alert"), alerted, "{id}: {row}");
        }
    }
    let page = render(&widget_store(&f), &json!({}), now).await.unwrap();
    let flapping: Vec<String> = truth
        .values()
        .filter(|s| s.flapping.is_some())
        .map(|s| escape(&s.client_id))
        .collect();
    assert_eq!(flapping, ["flap-1"]);
    assert_eq!(ids_in(&page, "flapping"), flapping);
}

#[tokio::test]
async fn a_timeline_is_the_newest_events_of_the_log_newest_first() {
    let f = fixture(settings()).await;
    for event in deliveries() {
        handle(&f.store, &event.to_string(), T0 + 67 * MIN)
            .await
            .expect("recorded");
    }
    let now = T0 + 68 * MIN;
    let log: Vec<EventRow> = event_rows(&f.client, &f.tables, "flap-1")
        .await
        .into_iter()
        .map(|item| EventRow::from_item(item).unwrap())
        .collect();
    assert_eq!(log.len(), 7, "one row per event, duplicates recorded once");
    let times = |page: &str| -> Vec<String> {
        page.split("<tr><td>")
            .skip(1)
            .map(|row| row[..row.find("</td>").unwrap()].to_owned())
            .collect()
    };
    let newest = |n: usize, rows: &[&EventRow]| -> Vec<String> {
        rows.iter()
            .rev()
            .take(n)
            .map(|e| iot_presence::time::iso_millis(e.event_timestamp))
            .collect()
    };
    let all: Vec<&EventRow> = log.iter().collect();
    let page = render(
        &widget_store(&f),
        &json!({"clientId": "flap-1", "limit": 3}),
        now,
    )
    .await
    .unwrap();
    assert_eq!(times(&page), newest(3, &all));
    assert!(page.contains("id=\"state\">connected<"), "{page}");

    // Within the dashboard's time range only (both ends inclusive).
    let (start, end) = (T0 + 61 * MIN, T0 + 64 * MIN);
    let event = json!({"clientId": "flap-1", "limit": 50,
        "widgetContext": {"params": {"clientId": "flap-1", "limit": 50},
                          "timeRange": {"start": start, "end": end}}});
    let page = render(&widget_store(&f), &event, now).await.unwrap();
    let within: Vec<&EventRow> = log
        .iter()
        .filter(|e| (start..=end).contains(&e.event_timestamp))
        .collect();
    assert_eq!(within.len(), 4);
    assert_eq!(times(&page), newest(50, &within));

    // The escaped id, all of its (two) events.
    let page = render(&widget_store(&f), &json!({ "clientId": EVIL }), now)
        .await
        .unwrap();
    assert!(!page.contains("<script"));
    assert_eq!(times(&page).len(), 2);
    assert!(page.contains(&escape(EVIL)));
    // A client never seen.
    let page = render(&widget_store(&f), &json!({"clientId": "nobody"}), now)
        .await
        .unwrap();
    assert!(page.contains("Never seen") && times(&page).is_empty());
}

#[tokio::test]
async fn bad_requests_and_failed_reads_say_what_is_wrong() {
    let client = local::client();
    let tables = local::create_tables().await;
    let store = local::store(&client, &tables, iot_presence::rule::Window::DEFAULT);
    let err = render(&store, &json!({"limit": 0}), T0).await.unwrap_err();
    assert!(matches!(err, WidgetError::Invalid(_)));
    let diagnostic = Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "InvalidWidgetRequest");
    assert_eq!(
        diagnostic.error_message,
        "invalid widget request: parameter `limit` must be from 1 to 50, got 0"
    );
    // Documentation, without reading anything.
    let docs = render(&store, &json!({"describe": true}), T0)
        .await
        .unwrap();
    assert!(docs.starts_with("## "), "{docs}");

    // Tables that do not exist: a read error with its causes.
    let missing = Store::new(
        client.clone(),
        &iot_presence::config::Config::with_tables("no-such-status", "no-such-events"),
    );
    let err = render(&missing, &json!({}), T0).await.unwrap_err();
    let diagnostic = Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "ReadError");
    assert!(
        diagnostic.error_message.contains("no-such-status"),
        "{}",
        diagnostic.error_message
    );
}

/// A dashboard time range past 13-digit epoch ms (`end: u64::MAX`) is refused with a message
/// that names the field and the accepted range; before the bound, the timeline read the range
/// and then panicked formatting it (the year 584,556,019). Long unknown keys are quoted capped.
#[tokio::test]
async fn out_of_range_time_ranges_and_long_keys_are_refused_plainly() {
    let client = local::client();
    let tables = local::create_tables().await;
    let store = local::store(&client, &tables, iot_presence::rule::Window::DEFAULT);
    handle(
        &store,
        &json!({"clientId": "c", "timestamp": T0, "eventType": "connected",
                "sessionIdentifier": "s", "versionNumber": 1})
        .to_string(),
        T0,
    )
    .await
    .expect("recorded");
    let max = iot_presence::event::MAX_TIMESTAMP_MS;
    for (range, field) in [
        (json!({"start": T0, "end": u64::MAX}), "timeRange.end"),
        (
            json!({"start": max + 1, "end": u64::MAX}),
            "timeRange.start",
        ),
        (
            json!({"start": 0, "end": T0, "zoom": {"start": T0, "end": u64::MAX}}),
            "timeRange.zoom.end",
        ),
    ] {
        let event = json!({"clientId": "c", "widgetContext": {"timeRange": range}});
        let err = render(&store, &event, T0).await.unwrap_err();
        assert!(matches!(err, WidgetError::Invalid(_)), "{err:?}");
        let diagnostic = Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "InvalidWidgetRequest");
        let message = diagnostic.error_message;
        assert!(
            message.contains(field) && message.contains(&max.to_string()),
            "{range}: {message}"
        );
    }
    // The largest time accepted renders.
    let event = json!({"clientId": "c", "widgetContext": {"timeRange": {"start": 0, "end": max}}});
    let page = render(&store, &event, T0).await.unwrap();
    assert!(page.contains("2286-11-20T17:46:39Z"), "{page}");

    let key = "k".repeat(128 * 1024);
    let err = render(&store, &json!({ key: 1 }), T0).await.unwrap_err();
    let message = Diagnostic::from(err).error_message;
    assert!(
        message.len() < 1024 && message.contains("131072 bytes"),
        "{message}"
    );
}

/// The widget reads no principal, IP address or raw payload. Every request it sends names its
/// attributes, a projection of the allowed ones or a COUNT, as its role's `dynamodb:Attributes`
/// conditions require (a relay sees each request as sent). Nothing it gets back holds them,
/// while the same reads through an unnarrowed store do.
#[tokio::test]
async fn the_widget_reads_no_principal_address_or_payload() {
    use common::relay::{Relay, Verdict};
    use iot_presence::store::narrow::{EVENT_ATTRIBUTES, STATUS_ATTRIBUTES};
    use iot_presence::store::schema::attr;
    use std::sync::{Arc, Mutex};

    let f = fixture(settings()).await;
    for (ts, event_type, version) in [(T0, "connected", 1), (T0 + MIN, "disconnected", 1)] {
        let event = json!({"clientId": "c", "timestamp": ts, "eventType": event_type,
            "sessionIdentifier": "s", "versionNumber": version, "principalIdentifier": "secret-p",
            "ipAddress": "192.0.2.99", "disconnectReason": "CONNECTION_LOST"});
        handle(&f.store, &event.to_string(), ts)
            .await
            .expect("recorded");
    }
    handle(
        &f.store,
        &json!({"clientId": "d", "timestamp": T0, "eventType": "connected",
            "sessionIdentifier": "s", "versionNumber": 1, "principalIdentifier": "secret-p",
            "ipAddress": "192.0.2.99"})
        .to_string(),
        T0,
    )
    .await
    .expect("recorded");

    let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let log = seen.clone();
    let relay = Relay::start(local::endpoint(), move |request| {
        let target = request.header("x-amz-target").unwrap_or_default();
        let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
        let body = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        log.lock().unwrap().push((operation, body));
        Verdict::Forward
    });
    let through_relay = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&local::sdk_config())
            .endpoint_url(&relay.url)
            .build(),
    );
    let config = iot_presence::config::Config::with_tables(&f.tables.status, &f.tables.events);
    let narrowed = iot_presence::functions::widget::store(&through_relay, &config);
    let now = T0 + 20 * MIN;
    let fleet = render(&narrowed, &json!({}), now).await.unwrap();
    let timeline = render(&narrowed, &json!({"clientId": "c"}), now)
        .await
        .unwrap();
    for page in [&fleet, &timeline] {
        assert!(!page.contains("192.0.2.99") && !page.contains("secret-p"));
    }
    assert!(
        timeline.contains("CONNECTION_LOST"),
        "the timeline was read"
    );

    // A copy: the reads below go through the relay, which logs to `seen`.
    let seen = seen.lock().unwrap().clone();
    let mut operations = std::collections::BTreeSet::new();
    for (operation, body) in seen.iter() {
        let table = body["TableName"].as_str().unwrap_or_default();
        operations.insert(format!("{operation} {table}"));
        assert!(
            operation == "GetItem" || operation == "Query",
            "{operation}: {body}"
        );
        if body["Select"] == "COUNT" {
            continue;
        }
        let projection = body["ProjectionExpression"]
            .as_str()
            .unwrap_or_else(|| panic!("{operation} without a projection: {body}"));
        let allowed: &[&str] = if table == f.tables.events {
            &EVENT_ATTRIBUTES
        } else {
            &STATUS_ATTRIBUTES
        };
        for path in projection.split(',') {
            let top = path.trim().split(['.', '[']).next().unwrap();
            let name = body["ExpressionAttributeNames"][top]
                .as_str()
                .unwrap_or(top);
            assert!(allowed.contains(&name), "{operation} reads {name}: {body}");
            assert!(![
                attr::PRINCIPAL,
                attr::IP_ADDRESS,
                attr::PAYLOAD,
                attr::CONNECTED_SESSION
            ]
            .contains(&name));
        }
    }
    // Both tables were read, by key and by query: the narrowed paths ran.
    for expected in [
        format!("GetItem {}", f.tables.status),
        format!("Query {}", f.tables.status),
        format!("Query {}", f.tables.events),
    ] {
        assert!(
            operations.contains(&expected),
            "{expected} in {operations:?}"
        );
    }

    // What comes back: nothing of the three, where an unnarrowed store gets all three.
    let status = narrowed.status("c").await.unwrap().unwrap();
    assert_eq!(
        (status.principal_identifier, status.ip_address),
        (None, None)
    );
    assert_eq!(status.disconnect_reason.as_deref(), Some("CONNECTION_LOST"));
    let full = f.store.status("d").await.unwrap().unwrap();
    assert_eq!(full.ip_address.as_deref(), Some("192.0.2.99"));
    let rows = narrowed.recent_history("c", None, None, 10).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.payload.is_empty()));
    let rows = f.store.recent_history("c", None, None, 10).await.unwrap();
    assert!(rows.iter().all(|r| r.payload.contains("192.0.2.99")));
}
