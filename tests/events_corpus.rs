//! Every sample in `events/` parses, covers what it claims to, and the scenario files end on
//! the status their story says when replayed through the real handler.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use common::local::{self, b, n, s, status_item};
use iot_presence::event::{EventType, LifecycleEvent, DOCUMENTED_DISCONNECT_REASONS};
use iot_presence::functions::ingest::handle;
use iot_presence::rule::{Outcome, Window};
use iot_presence::store::schema::attr;

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    found.sort();
    found
}

#[test]
fn every_single_event_file_parses_as_its_name_says() {
    let mut reasons = BTreeSet::new();
    let singles = files(&events_dir(), "json");
    assert!(
        singles.len() >= 19,
        "expected the full corpus, found {}",
        singles.len()
    );
    for path in singles {
        let name = path.file_name().unwrap().to_str().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let e = LifecycleEvent::parse(&text).unwrap_or_else(|err| panic!("{name}: {err}"));
        let expected = if name.starts_with("connected-") {
            EventType::Connected
        } else if name.starts_with("disconnected-") {
            EventType::Disconnected
        } else {
            EventType::ConnectFailed
        };
        assert_eq!(e.event_type, expected, "{name}");
        if let Some(reason) = &e.disconnect_reason {
            // The file is named after its reason.
            assert_eq!(
                name,
                format!(
                    "disconnected-{}.json",
                    reason.to_lowercase().replace('_', "-")
                )
            );
            reasons.insert(reason.clone());
        }
    }
    let documented: BTreeSet<String> = DOCUMENTED_DISCONNECT_REASONS
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(
        reasons, documented,
        "one sample per documented disconnect reason"
    );
}

#[test]
fn the_special_samples_are_what_they_claim() {
    let iam = LifecycleEvent::parse(include_str!("../events/connected-iam-console.json")).unwrap();
    assert!(
        iam.principal_identifier.unwrap().contains(':'),
        "IAM principals are KEYID:identity"
    );
    let cert = LifecycleEvent::parse(include_str!("../events/connected-certificate.json")).unwrap();
    let principal = cert.principal_identifier.unwrap();
    assert!(
        principal.chars().all(|c| c.is_ascii_hexdigit()),
        "certificate id: {principal}"
    );
    let empty_ip =
        LifecycleEvent::parse(include_str!("../events/connected-empty-ip.json")).unwrap();
    assert_eq!(empty_ip.ip_address, None);
    assert!(include_str!("../events/connected-empty-ip.json").contains("\"ipAddress\": \"\""));
    let thing = LifecycleEvent::parse(include_str!("../events/connected-thing-name.json")).unwrap();
    assert_eq!(thing.thing_name.as_deref(), Some("sensor-a1"));
    let failed = LifecycleEvent::parse(include_str!("../events/connect-failed.json")).unwrap();
    assert_eq!(
        failed.connect_failure_reason.as_deref(),
        Some("AUTHORIZATION_FAILED")
    );
    assert_eq!(failed.version_number, None);
}

/// (scenario file, client, the 0-based line of the file holding the event the client's status
/// must end on (`usize::MAX`: its highest-version connect), expected connected flag)
const SCENARIOS: [(&str, &str, usize, bool); 6] = [
    // Two processes sharing a client id: the last connection (highest version) wins, whatever
    // the order.
    (
        "duplicate-client-id-loop.jsonl",
        "edge-box-7",
        usize::MAX,
        true,
    ),
    // A reconnect two hours later with versionNumber 0 beats the older session's events.
    ("version-reset.jsonl", "meter-42", 0, true),
    // The disconnect arrived before its connect; the older session's disconnect is stale.
    ("out-of-order.jsonl", "tracker-5", 0, false),
    // Three deliveries of one event: one status, one row.
    ("redelivered.jsonl", "valve-2", 0, true),
    // A persistent session resumed twice (one session, versions 20, 21, 22), in order...
    ("persistent-session.jsonl", "forklift-3", 4, true),
    // ...and the same story shuffled, with duplicates.
    ("persistent-session.jsonl", "forklift-4", 5, true),
];

#[tokio::test]
async fn scenarios_replay_to_their_story() {
    let client = local::client();
    for (file, client_id, truth_line, connected) in SCENARIOS {
        let tables = local::create_tables().await;
        let store = local::store(&client, &tables, Window::DEFAULT);
        let text = fs::read_to_string(events_dir().join("scenarios").join(file)).unwrap();
        let mut events = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let e =
                LifecycleEvent::parse(line).unwrap_or_else(|err| panic!("{file}:{}: {err}", i + 1));
            handle(&store, line, local::RECEIVED_LATER).await.unwrap();
            events.push(e);
        }
        let truth = if truth_line == usize::MAX {
            events
                .iter()
                .filter(|e| e.event_type == EventType::Connected)
                .max_by_key(|e| e.version_number)
                .unwrap()
        } else {
            &events[truth_line]
        };
        assert_eq!(truth.client_id, client_id, "{file}: line {truth_line}");
        let item = status_item(&client, &tables, client_id).await.unwrap();
        // The connection, not just the session: a persistent session has several.
        assert_eq!(
            (
                s(&item, attr::SESSION),
                n(&item, attr::VERSION),
                n(&item, attr::EVENT_TIMESTAMP),
            ),
            (
                Some(truth.session_identifier.as_str()),
                truth.version_number,
                Some(truth.timestamp),
            ),
            "{file}: {client_id}"
        );
        assert_eq!(b(&item, attr::CONNECTED), Some(connected), "{file}");
        if connected {
            assert_eq!(
                n(&item, attr::CONNECTED_AT),
                Some(truth.timestamp),
                "{file}"
            );
        }
        let distinct: BTreeSet<String> = events
            .iter()
            .filter(|e| e.client_id == client_id)
            .map(|e| e.event_key())
            .collect();
        let rows = local::event_rows(&client, &tables, client_id).await;
        assert_eq!(
            rows.len(),
            distinct.len(),
            "{file}: one row per distinct event"
        );
        let applied = rows
            .iter()
            .filter(|r| s(r, attr::OUTCOME) == Some(Outcome::Applied.as_str()))
            .count();
        assert!(applied >= 1, "{file}");
    }
}

/// The resumed session's outcomes, event by event, in order and shuffled: what the replay shows
/// and what the old session-keyed rule got wrong (it called the reconnects `stale`, and applied
/// the first connection's late disconnect over the last connection's connect).
#[tokio::test]
async fn a_resumed_persistent_session_has_these_outcomes() {
    let client = local::client();
    let tables = local::create_tables().await;
    let store = local::store(&client, &tables, Window::DEFAULT);
    let text = fs::read_to_string(events_dir().join("scenarios/persistent-session.jsonl")).unwrap();
    let mut outcomes = Vec::new();
    for line in text.lines() {
        outcomes.push(
            handle(&store, line, local::RECEIVED_LATER)
                .await
                .unwrap()
                .outcome,
        );
    }
    use Outcome::{Applied as A, Stale as S};
    assert_eq!(
        outcomes,
        [
            // forklift-3, in order: every event is the newest when it arrives.
            A, A, A, A, A,
            // forklift-4: v22 connect first, then everything older is stale; the redelivered
            // v22 connect answers as the event that set the status.
            A, S, S, S, S, A, S,
        ]
    );
}
