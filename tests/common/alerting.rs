//! An alerting fixture for the alert tests: uniquely named tables on the local server, the real
//! store and alerter, and an SQS queue subscribed to the alert topic. Events are recorded by
//! the real store with versions that model connections (a connect starts a new one).

use std::collections::{BTreeMap, HashSet};

use iot_presence::alert::pass::{Alerter, RunReport};
use iot_presence::config::{AlertSettings, StormSettings};
use iot_presence::event::LifecycleEvent;
use iot_presence::rule::Window;
use iot_presence::store::schema::attr;
use iot_presence::store::Store;
use iot_presence::thresholds::ThresholdPatterns;
use serde_json::json;
use tokio::task::JoinSet;

use super::local::{self, AlertSink, Received, Tables};
use super::relay::{form_fields, Relay, Verdict};

pub const MIN: u64 = 60_000;
/// 2026-09-21T14:13:20Z
pub const T0: u64 = 1_790_000_000_000;

pub struct Fixture {
    /// What the alerter was built with (for a second alerter on other endpoints).
    pub settings: AlertSettings,
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
        // These tests are about single clients, some of them hundreds dropping at once:
        // tests/storm_alerts.rs turns storms on.
        storm: StormSettings::OFF,
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
        settings.clone(),
    );
    Fixture {
        settings,
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

    /// The fixture's alerter (same store, topic and settings) publishing through `sns_url`
    /// (a [`PublishGate`]) instead of straight to the local server.
    pub fn alerter_via(&self, sns_url: &str) -> Alerter {
        self.alerter_on(self.store.clone(), sns_url)
    }

    /// An alerter with the fixture's topic and settings on another store (e.g. through a
    /// [`super::relay::LossyLink`]), publishing through `sns_url`.
    pub fn alerter_on(&self, store: Store, sns_url: &str) -> Alerter {
        let config = aws_sdk_sns::config::Builder::from(&local::messaging_config())
            .endpoint_url(sns_url)
            .build();
        Alerter::new(
            store,
            aws_sdk_sns::Client::from_conf(config),
            &self.sink.topic_arn,
            self.settings.clone(),
        )
    }

    pub async fn item(&self, client_id: &str) -> local::Item {
        local::status_item(&self.client, &self.tables, client_id)
            .await
            .expect("status item")
    }
}

/// The kinds of the notices about one client, in arrival order.
pub fn kinds_for<'a>(received: &'a [Received], client_id: &str) -> Vec<&'a str> {
    received
        .iter()
        .filter(|r| r.message["clientId"] == client_id)
        .map(|r| r.message["kind"].as_str().unwrap())
        .collect()
}

pub fn kinds(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.message["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// A stand-in SNS endpoint on 127.0.0.1 that forwards every request to the local server, but
/// first hands each `Publish` to the test and holds it until the test releases it. An alerter
/// pointed at it ([`Fixture::alerter_via`]) is stopped, for certain, between its claim and its
/// commit: whatever the test writes while holding a notice lands exactly in that window, with no
/// reliance on timing. It talks to the test through tokio channels.
pub struct PublishGate {
    pub url: String,
    /// One entry per `Publish`, in arrival order.
    pub held: tokio::sync::mpsc::UnboundedReceiver<HeldPublish>,
    _relay: Relay,
}

/// A `Publish` waiting at the gate; dropping it releases it too (so a failing test never hangs).
pub struct HeldPublish {
    pub client_id: String,
    pub kind: String,
    release: tokio::sync::oneshot::Sender<()>,
}

impl HeldPublish {
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

impl PublishGate {
    pub fn start() -> PublishGate {
        let (send, held) = tokio::sync::mpsc::unbounded_channel();
        let relay = Relay::start(local::messaging_endpoint(), move |request| {
            let form = form_fields(&String::from_utf8_lossy(&request.body));
            if form.get("Action").map(String::as_str) == Some("Publish") {
                let message: serde_json::Value =
                    serde_json::from_str(form.get("Message").map_or("", String::as_str))
                        .unwrap_or_default();
                let (release, released) = tokio::sync::oneshot::channel();
                let publish = HeldPublish {
                    client_id: message["clientId"].as_str().unwrap_or_default().to_owned(),
                    kind: message["kind"].as_str().unwrap_or_default().to_owned(),
                    release,
                };
                if send.send(publish).is_ok() {
                    // Released, or dropped by the test: either way the notice goes on.
                    let _ = released.blocking_recv();
                }
            }
            Verdict::Forward
        });
        PublishGate {
            url: relay.url.clone(),
            held,
            _relay: relay,
        }
    }
}

// Race tests shared by tests/alerts.rs (small) and the opt-in tests/scale.rs (full size).

/// `clients` clients disconnect; four passes at the same moment race over them, twice: at the
/// threshold (offline alerts) and after everyone returned (back-online notices). Each alert
/// arrives exactly once and the reports agree with what arrived.
pub async fn overlapping_passes_send_each_alert_exactly_once(count: usize) {
    let f = fixture(settings()).await;
    let clients: Vec<String> = (0..count).map(|i| format!("fleet-{i:03}")).collect();
    for c in &clients {
        f.disconnect(c, "s1", T0, "CONNECTION_LOST").await;
    }
    // Four passes at the same moment, racing over the same due clients, twice: at the
    // threshold (offline alerts) and after everyone returned (back-online notices).
    for (now, kind) in [(T0 + 5 * MIN, "offline"), (T0 + 20 * MIN, "back-online")] {
        if kind == "back-online" {
            for c in &clients {
                f.connect(c, "s2", T0 + 19 * MIN).await;
            }
        }
        let mut passes = JoinSet::new();
        for _ in 0..4 {
            let alerter = f.alerter.clone();
            passes.spawn(async move { alerter.run(now).await });
        }
        let mut total = RunReport::default();
        while let Some(report) = passes.join_next().await {
            let report = report.unwrap();
            assert!(report.errors.is_empty(), "{:?}", report.errors);
            total.offline += report.offline;
            total.back_online += report.back_online;
            total.skipped += report.skipped;
        }
        let received = f.sink.drain().await;
        let ids: HashSet<&str> = received
            .iter()
            .map(|r| r.message["alertId"].as_str().unwrap())
            .collect();
        assert_eq!(received.len(), clients.len(), "{kind}: one per client");
        assert_eq!(ids.len(), clients.len(), "{kind}: no repeats");
        assert!(kinds(&received).iter().all(|k| k == kind));
        assert_eq!(
            total.offline + total.back_online,
            clients.len() as u64,
            "{kind}: the reports agree with what arrived ({total:?})"
        );
        eprintln!(
            "{kind}: {} of the racing passes' reads lost the race",
            total.skipped
        );
    }
}

/// The same race left to timing, over many clients and both sides of the threshold: whichever
/// lands first (before the read, between read and claim, mid-send, after), each client ends
/// with either no notice or exactly one `offline` and one `back-online`. How often a reconnect
/// landed mid-send is only printed here; `reconnects_racing_a_pass_never_lose_or_repeat_a_notice`
/// (tests/alerts.rs) proves that path.
pub async fn reconnects_at_random_points_of_a_pass_never_lose_or_repeat_a_notice(
    rounds: u64,
    per_round: usize,
) {
    let f = fixture(settings()).await;
    let mut raced = 0;
    for round in 0..rounds {
        let base = T0 + round * 60 * MIN;
        let clients: Vec<String> = (0..per_round)
            .map(|i| format!("race-{round}-{i:02}"))
            .collect();
        for c in &clients {
            f.disconnect(c, "s1", base, "CONNECTION_LOST").await;
        }
        f.pass(base + 1000).await;
        let threshold = base + 5 * MIN;
        let mut tasks = JoinSet::new();
        let alerter = f.alerter.clone();
        tasks.spawn(async move { alerter.run(threshold).await });
        // Half come back just before the threshold, half just after.
        let store = f.store.clone();
        let reconnects = clients.clone();
        tasks.spawn(async move {
            for (i, c) in reconnects.iter().enumerate() {
                let at = if i % 2 == 0 {
                    threshold - 1
                } else {
                    threshold + 1
                };
                let payload = json!({
                    "clientId": c, "timestamp": at, "eventType": "connected",
                    "sessionIdentifier": "s2", "versionNumber": 2,
                })
                .to_string();
                let event = LifecycleEvent::parse(&payload).unwrap();
                store.record(&event, &payload, at).await.unwrap();
            }
            RunReport::default()
        });
        while let Some(report) = tasks.join_next().await {
            let report = report.unwrap();
            assert!(report.errors.is_empty(), "{:?}", report.errors);
            raced += report.raced;
        }
        // Later passes settle everything.
        let mut received = f.sink.drain().await;
        for later in [threshold + MIN, threshold + 2 * MIN] {
            received.extend(f.pass(later).await.1);
        }
        for c in &clients {
            let mine = kinds_for(&received, c);
            assert!(
                mine.is_empty() || mine == ["offline", "back-online"],
                "{c}: {mine:?}"
            );
            assert!(
                !f.item(c).await.contains_key(attr::ALERT_SHARD),
                "{c} settled"
            );
        }
    }
    eprintln!("reconnects landed between claim and commit {raced} times");
}
