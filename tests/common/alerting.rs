//! An alerting fixture for the alert tests: uniquely named tables on the local server, the real
//! store and alerter, and an SQS queue subscribed to the alert topic. Events are recorded by
//! the real store with versions that model connections (a connect starts a new one).

use std::collections::BTreeMap;

use iot_presence::alert::pass::{Alerter, RunReport};
use iot_presence::config::AlertSettings;
use iot_presence::event::LifecycleEvent;
use iot_presence::rule::Window;
use iot_presence::store::Store;
use iot_presence::thresholds::ThresholdPatterns;
use serde_json::json;

use super::local::{self, AlertSink, Received, Tables};

pub const MIN: u64 = 60_000;
/// 2026-09-21T14:13:20Z
pub const T0: u64 = 1_790_000_000_000;

pub struct Fixture {
    pub client: aws_sdk_dynamodb::Client,
    pub tables: Tables,
    pub store: Store,
    pub alerter: Alerter,
    pub sink: AlertSink,
    /// The version of each session's current connection; a connect starts a new connection.
    pub versions: std::sync::Mutex<BTreeMap<String, u64>>,
    pub next_version: std::sync::atomic::AtomicU64,
}

pub fn settings() -> AlertSettings {
    AlertSettings {
        offline_threshold_ms: 5 * MIN,
        flapping_sessions: 3,
        flapping_window_ms: 10 * MIN,
        thresholds: ThresholdPatterns::NONE,
    }
}

pub async fn fixture(settings: AlertSettings) -> Fixture {
    fixture_with(settings, AlertSink::new().await).await
}

pub async fn fixture_with(settings: AlertSettings, sink: AlertSink) -> Fixture {
    let client = local::client();
    let tables = local::create_tables().await;
    let store = local::store(&client, &tables, Window::DEFAULT);
    let alerter = Alerter::new(
        store.clone(),
        local::sns_client(),
        &sink.topic_arn,
        settings,
    );
    Fixture {
        client,
        tables,
        store,
        alerter,
        sink,
        versions: Default::default(),
        next_version: 1.into(),
    }
}

impl Fixture {
    pub async fn record(&self, event: serde_json::Value) {
        let payload = event.to_string();
        let event = LifecycleEvent::parse(&payload).expect("valid test event");
        // Arrives half a second after it happened.
        let arrival = event.timestamp + 500;
        self.store
            .record(&event, &payload, arrival)
            .await
            .expect("record");
    }

    /// A new connection (a new version), in `session`: a new session, or the resumption of a
    /// persistent one.
    pub fn new_connection(&self, session: &str) -> u64 {
        let version = self
            .next_version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.versions
            .lock()
            .unwrap()
            .insert(session.to_owned(), version);
        version
    }

    /// The version of the session's current connection (a new one if it never connected).
    pub fn connection_of(&self, session: &str) -> u64 {
        let known = self.versions.lock().unwrap().get(session).copied();
        known.unwrap_or_else(|| self.new_connection(session))
    }

    pub async fn connect(&self, client_id: &str, session: &str, at: u64) {
        self.record(json!({
            "clientId": client_id, "timestamp": at, "eventType": "connected",
            "sessionIdentifier": session, "principalIdentifier": "p",
            "versionNumber": self.new_connection(session), "ipAddress": "192.0.2.7",
        }))
        .await;
    }

    pub async fn disconnect(&self, client_id: &str, session: &str, at: u64, reason: &str) {
        self.record(json!({
            "clientId": client_id, "timestamp": at, "eventType": "disconnected",
            "sessionIdentifier": session, "principalIdentifier": "p",
            "versionNumber": self.connection_of(session), "disconnectReason": reason,
            "clientInitiatedDisconnect": false,
        }))
        .await;
    }

    /// One alert pass at `now`, and what it delivered.
    pub async fn pass(&self, now: u64) -> (RunReport, Vec<Received>) {
        let report = self.alerter.run(now).await;
        assert!(
            report.errors.is_empty(),
            "pass at {now}: {:?}",
            report.errors
        );
        (report, self.sink.drain().await)
    }

    pub async fn item(&self, client_id: &str) -> local::Item {
        local::status_item(&self.client, &self.tables, client_id)
            .await
            .expect("status item")
    }
}

pub fn kinds(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.message["kind"].as_str().unwrap().to_owned())
        .collect()
}
