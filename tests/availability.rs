//! Availability reports: the maths against a reference computation over random timelines, and
//! the whole path (handler → event log → report) giving the same report whatever the delivery
//! order, against the local server.

mod common;

use std::collections::BTreeMap;

use common::history::{fleet_deliveries, TrueEvent, W};
use common::local::{self, RECEIVED_LATER};
use iot_presence::availability::{fleet, report, timeline, Change, Report};
use iot_presence::event::Presence;
use iot_presence::functions::ingest::handle;
use iot_presence::rule::Window;
use proptest::prelude::*;

/// The reference: the state of every millisecond of the window, then its runs.
fn reference(changes: &[Change], since: u64, until: u64) -> Report {
    let state_at = |t: u64| changes.iter().rev().find(|c| c.at <= t);
    let (mut online, mut offline, mut unknown) = (0, 0, 0);
    // Offline runs: (start, end exclusive, reason of the change that began it).
    let mut runs: Vec<(u64, u64, Option<String>)> = Vec::new();
    for t in since..until {
        match state_at(t).map(|c| c.presence) {
            Some(Presence::Connected) => online += 1,
            Some(Presence::Disconnected) => {
                offline += 1;
                match runs.last_mut() {
                    Some(run) if run.1 == t => run.1 = t + 1,
                    _ => runs.push((t, t + 1, state_at(t).unwrap().reason.clone())),
                }
            }
            None => unknown += 1,
        }
    }
    let repaired: Vec<u64> = runs
        .iter()
        .filter(|r| r.1 < until)
        .map(|r| r.1 - r.0)
        .collect();
    let mut tally: BTreeMap<String, u32> = BTreeMap::new();
    for r in runs.iter().filter_map(|r| r.2.clone()) {
        *tally.entry(r).or_default() += 1;
    }
    Report {
        client_id: "c".into(),
        since,
        until,
        online_ms: online,
        offline_ms: offline,
        unknown_ms: unknown,
        uptime_percent: (online + offline > 0)
            .then(|| online as f64 * 100.0 / (online + offline) as f64),
        outages: runs.len() as u32,
        longest_outage_ms: runs.iter().map(|r| r.1 - r.0).max().unwrap_or(0),
        mttr_ms: (!repaired.is_empty())
            .then(|| repaired.iter().sum::<u64>() / repaired.len() as u64),
        repaired_outages: repaired.len() as u32,
        repaired_outage_ms: repaired.iter().sum(),
        offline_at_end: state_at(until - 1).map(|c| c.presence) == Some(Presence::Disconnected),
        top_reason: tally
            .iter()
            .max_by_key(|(r, n)| (**n, std::cmp::Reverse(*r)))
            .map(|(r, _)| r.clone()),
    }
}

fn changes() -> impl Strategy<Value = Vec<Change>> {
    proptest::collection::vec(
        (
            1u64..40,
            any::<bool>(),
            prop::sample::select(vec!["CONNECTION_LOST", "AUTH_ERROR", "THROTTLED"]),
        ),
        0..12,
    )
    .prop_map(|steps| {
        let mut at = 0;
        steps
            .into_iter()
            .map(|(gap, connected, reason)| {
                at += gap;
                Change {
                    at,
                    presence: if connected {
                        Presence::Connected
                    } else {
                        Presence::Disconnected
                    },
                    reason: (!connected).then(|| reason.to_owned()),
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_report_matches_the_reference(
        changes in changes(),
        since in 0u64..200,
        length in 1u64..300,
    ) {
        let until = since + length;
        prop_assert_eq!(report("c", &changes, since, until), reference(&changes, since, until));
    }
}

fn change(at: u64, connected: bool, reason: &str) -> Change {
    Change {
        at,
        presence: if connected {
            Presence::Connected
        } else {
            Presence::Disconnected
        },
        reason: (!connected).then(|| reason.to_owned()),
    }
}

#[test]
fn unknown_time_is_neither_online_nor_offline() {
    // The log starts inside the window.
    let r = report("c", &[change(50, true, "")], 0, 100);
    assert_eq!((r.unknown_ms, r.online_ms, r.offline_ms), (50, 50, 0));
    assert_eq!(r.uptime_percent, Some(100.0));
    // Nothing known at all.
    let r = report("c", &[], 0, 100);
    assert_eq!((r.unknown_ms, r.uptime_percent, r.outages), (100, None, 0));
}

#[test]
fn outages_clip_to_the_window_and_ongoing_ones_have_no_repair_time() {
    let changes = [
        change(0, false, "AUTH_ERROR"),
        change(30, true, ""),
        change(60, false, "CONNECTION_LOST"),
        change(70, false, "MQTT_KEEP_ALIVE_TIMEOUT"), // its connect was lost: same outage
        change(90, true, ""),
        change(95, false, "CONNECTION_LOST"),
    ];
    let r = report("c", &changes, 10, 100);
    // [10,30) clipped, [60,90), [95,100) ongoing.
    assert_eq!((r.outages, r.offline_ms, r.longest_outage_ms), (3, 55, 30));
    assert_eq!((r.repaired_outages, r.mttr_ms), (2, Some(25)));
    assert!(r.offline_at_end);
    assert_eq!(r.top_reason.as_deref(), Some("CONNECTION_LOST"));
    // A disconnect and a connect in one millisecond is no outage.
    let r = report(
        "c",
        &[
            change(0, true, ""),
            change(5, false, "X"),
            change(5, true, ""),
        ],
        0,
        10,
    );
    assert_eq!((r.outages, r.offline_ms, r.mttr_ms), (0, 0, None));
}

#[test]
fn the_fleet_is_sorted_worst_first_and_totalled_over_known_time() {
    let mut reports = vec![
        report("good", &[change(0, true, "")], 0, 100),
        report("unknown", &[], 0, 100),
        report(
            "bad",
            &[
                change(0, true, ""),
                change(20, false, "THROTTLED"),
                change(80, true, ""),
            ],
            0,
            100,
        ),
    ];
    let totals = fleet(&mut reports);
    let order: Vec<&str> = reports.iter().map(|r| r.client_id.as_str()).collect();
    assert_eq!(order, ["bad", "good", "unknown"]);
    assert_eq!(
        (totals.clients, totals.clients_unknown, totals.outages),
        (3, 1, 1)
    );
    assert_eq!(totals.uptime_percent, Some(70.0));
    assert_eq!(totals.mttr_ms, Some(60));
    assert_eq!(totals.unknown_ms, 100);
    assert_eq!(totals.top_reason.as_deref(), Some("THROTTLED"));
}

/// Writes deliveries through the real handler, then computes each client's report.
async fn reports_after(
    deliveries: &[TrueEvent],
    clients: &[String],
    since: u64,
    until: u64,
) -> Vec<Report> {
    let client = local::client();
    let tables = local::create_tables().await;
    let store = local::store(&client, &tables, Window(W));
    for e in deliveries {
        handle(&store, &e.payload(), RECEIVED_LATER).await.unwrap();
    }
    let mut reports = Vec::new();
    for id in clients {
        let log = store.history(id, None, Some(until)).await.unwrap();
        reports.push(report(id, &timeline(&log, Window(W)), since, until));
    }
    reports
}

/// Stored outcomes depend on the delivery order; reports must not: a shuffled, duplicated
/// delivery gives the same report as the ordered one, for clean and persistent sessions.
#[test]
fn a_shuffled_duplicated_delivery_gives_the_ordered_report() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(8));
    runner
        .run(&fleet_deliveries(3, 10), |(histories, shuffled)| {
            let ordered: Vec<TrueEvent> = histories.iter().flatten().cloned().collect();
            let clients: Vec<String> = histories.iter().map(|h| h[0].client_id.clone()).collect();
            let first = ordered.iter().map(|e| e.ts).min().unwrap();
            let last = ordered.iter().map(|e| e.ts).max().unwrap();
            // A window that starts inside the log and ends after it.
            let (since, until) = (first + (last - first) / 3, last + 3_600_000);
            let (a, b) = rt.block_on(async {
                (
                    reports_after(&ordered, &clients, since, until).await,
                    reports_after(&shuffled, &clients, since, until).await,
                )
            });
            prop_assert_eq!(a, b);
            Ok(())
        })
        .unwrap();
}
