//! The functions' metrics, read back from the EMF lines they write, against what they did and
//! against the truth: shuffled, duplicated fleets go through the real handler into the local
//! server, then an alert pass with the fleet gauges runs over them.
//!
//! One test in this binary: the metrics recorder is global to the process, so a second test
//! running alongside would add its own counts.

mod common;

use std::collections::BTreeMap;

use common::history::{fleet_deliveries, TrueEvent, W};
use common::local::{self, AlertSink, RECEIVED_LATER};
use iot_presence::alert::pass::Alerter;
use iot_presence::config::AlertSettings;
use iot_presence::event::Presence;
use iot_presence::functions::alerter::{pass, FleetGauges};
use iot_presence::functions::ingest::handle;
use iot_presence::read::FleetCounts;
use iot_presence::rule::{Outcome, Window};
use iot_presence::telemetry::emf::Emf;
use iot_presence::telemetry::{self, label, name, Metrics, MetricsConfig};
use iot_presence::thresholds::ThresholdPatterns;
use proptest::strategy::{Strategy, ValueTree};

const NAMESPACE: &str = "IoTPresenceTest";

/// What the handler answered, counted as its metrics should count it.
#[derive(Default)]
struct Tally {
    outcomes: BTreeMap<&'static str, u64>,
    connects: u64,
    disconnects: BTreeMap<&'static str, u64>,
    handled: u64,
    redelivered: u64,
}

#[tokio::test]
async fn emf_lines_count_what_the_functions_did_and_the_gauges_equal_the_truth() {
    let metrics = Metrics::install(&MetricsConfig {
        namespace: NAMESPACE.into(),
        dimensions: vec![("Stack".into(), "test".into())],
    })
    .unwrap();
    let mut lines = Vec::new();
    let mut tally = Tally::default();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let client = local::client();
    let mut last = None;
    // Three fleets, each in its own tables; the gauges must equal each fleet's truth.
    for fleet in 0..3 {
        let (histories, deliveries): (Vec<Vec<TrueEvent>>, Vec<TrueEvent>) =
            fleet_deliveries(12, 8)
                .new_tree(&mut runner)
                .unwrap()
                .current();
        let tables = local::create_tables().await;
        let store = local::store(&client, &tables, Window(W));
        let mut delivered = std::collections::HashSet::new();
        for (i, e) in deliveries.iter().enumerate() {
            let response = handle(&store, &e.payload(), RECEIVED_LATER).await.unwrap();
            *tally.outcomes.entry(response.outcome.as_str()).or_default() += 1;
            // Counted once per distinct event (its first delivery), applied or stale.
            let first = delivered.insert(e.payload());
            if first && matches!(response.outcome, Outcome::Applied | Outcome::Stale) {
                match e.presence {
                    Presence::Connected => tally.connects += 1,
                    Presence::Disconnected => {
                        *tally
                            .disconnects
                            .entry(telemetry::reason_dimension(e.reason))
                            .or_default() += 1
                    }
                }
            }
            tally.handled += 1;
            tally.redelivered += u64::from(response.redelivered);
            metrics
                .write(&format!("fleet-{fleet}-{i}"), &mut lines)
                .unwrap();
        }
        // Input the handler refuses counts as `invalid`, and writes nothing.
        assert!(handle(&store, "{\"clientId\": 42}", RECEIVED_LATER)
            .await
            .is_err());
        *tally
            .outcomes
            .entry(telemetry::OUTCOME_INVALID)
            .or_default() += 1;
        tally.handled += 1;

        let connected = histories
            .iter()
            .filter(|h| h.last().unwrap().presence == Presence::Connected)
            .count() as u64;
        let truth = FleetCounts {
            connected,
            disconnected: histories.len() as u64 - connected,
        };
        assert_eq!(store.fleet_counts().await.unwrap(), truth, "fleet {fleet}");
        last = Some((store, truth));
    }

    // An alert pass over the last fleet, long after its events: every disconnected client is
    // due an offline notice; the gauges count that fleet.
    let (store, truth) = last.unwrap();
    let sink = AlertSink::new().await;
    let settings = AlertSettings {
        offline_threshold_ms: 5 * 60_000,
        flapping_sessions: 0,
        flapping_window_ms: 10 * 60_000,
        thresholds: ThresholdPatterns::NONE,
        ..AlertSettings::DEFAULT
    };
    let alerter = Alerter::new(
        store.clone(),
        local::sns_client(),
        &sink.topic_arn,
        settings,
    );
    // An hour on, at a five-minute boundary, so the gauges (every 5 minutes here) are due.
    let now = (RECEIVED_LATER / 300_000 + 12) * 300_000;
    let gauges = FleetGauges::new(store.clone(), 5);
    assert!(gauges.due(now) && !gauges.due(now + 60_000));
    let report = pass(&alerter, &gauges, now, None).await.unwrap();
    // Each disconnected client's offline notice; and for a client back since, whose first
    // outage (tracked by its disconnect) lasted the threshold, an offline notice with
    // `returned` and its back-online notice: no pass looked while it lasted.
    let received = sink.drain().await;
    let offline_now = received
        .iter()
        .filter(|r| r.message["kind"] == "offline" && r.message["returned"] == false)
        .count() as u64;
    assert_eq!(offline_now, truth.disconnected, "{report:?}");
    assert_eq!(
        report.offline,
        truth.disconnected + report.back_online,
        "{report:?}"
    );
    assert_eq!(received.len() as u64, report.offline + report.back_online);
    metrics.write("pass", &mut lines).unwrap();

    let text = String::from_utf8(lines).unwrap();
    let emf = Emf::parse(&text, NAMESPACE, &[("Stack", "test")]).unwrap();
    let sum = |metric: &str, filter: Option<(&str, &str)>| emf.sum(metric, filter) as u64;
    for (outcome, count) in &tally.outcomes {
        assert_eq!(
            sum(name::EVENTS, Some((label::OUTCOME, outcome))),
            *count,
            "{outcome}"
        );
    }
    assert_eq!(sum(name::EVENTS, None), tally.handled);
    // The fleets exercised what they claim: late events and redeliveries.
    assert!(tally.outcomes.get("stale").is_some_and(|n| *n > 0));
    assert!(tally.redelivered > 0);
    assert_eq!(sum(name::CONNECTS, None), tally.connects);
    for (reason, count) in &tally.disconnects {
        assert_eq!(
            sum(name::DISCONNECTS, Some((label::REASON, reason))),
            *count,
            "{reason}"
        );
    }
    assert_eq!(
        sum(name::DISCONNECTS, None),
        tally.disconnects.values().sum::<u64>()
    );
    assert_eq!(
        emf.samples(name::HANDLER_LATENCY) as u64,
        tally.handled,
        "one latency sample per event"
    );
    assert_eq!(sum(name::COLD_STARTS, None), 1);
    assert_eq!(
        sum(name::ALERTS_SENT, Some((label::KIND, "offline"))),
        report.offline
    );
    assert_eq!(sum(name::DUE_CLIENTS, None), report.due);
    assert_eq!(sum(name::ALERT_FAILURES, None), 0);
    assert_eq!(emf.samples(name::ALERT_PASS_DURATION), 1);
    assert_eq!(sum(name::CONNECTED_CLIENTS, None), truth.connected);
    assert_eq!(sum(name::DISCONNECTED_CLIENTS, None), truth.disconnected);
    // No client id ever becomes a dimension.
    for series in emf.sums.keys() {
        for (dimension, _) in &series.1 {
            assert!(label::ALL.contains(&dimension.as_str()), "{series:?}");
        }
    }
}
