//! The consumed capacity of every path, measured on the local DynamoDB and pinned: a change
//! that adds write amplification (a rewritten index key, a larger item, a second request)
//! fails here, and so does a README whose table no longer matches the code.

mod common;

use common::alerting::{fixture, settings, T0};
use iot_presence::cost::{self, PathKind};
use iot_presence::store::schema::{ALERT_INDEX, STATUS_INDEX};

/// Per one of each path's unit: status table, status-index, alert-index and event table write
/// units (measured), write units of refused conditional writes (derived from the item each
/// refusal returned), and read units in total.
const PINNED: [(PathKind, [f64; 4], f64, f64); 21] = [
    (PathKind::FirstConnect, [1.0, 1.0, 0.0, 1.0], 0.0, 1.0),
    (PathKind::Disconnect, [1.0, 2.0, 1.0, 1.0], 0.0, 0.0),
    (PathKind::Reconnect, [1.0, 2.0, 2.0, 1.0], 0.0, 0.0),
    (PathKind::Stale, [0.0, 0.0, 0.0, 1.0], 1.0, 0.0),
    (PathKind::Duplicate, [0.0, 0.0, 0.0, 1.0], 1.0, 0.0),
    (PathKind::Redelivered, [0.0, 0.0, 0.0, 0.0], 2.0, 0.0),
    (PathKind::ConnectFailed, [0.0, 0.0, 0.0, 1.0], 0.0, 0.0),
    (PathKind::Redriven, [1.0, 2.0, 1.0, 1.0], 0.0, 0.0),
    (PathKind::Reconciled, [2.0, 2.0, 1.0, 2.0], 0.0, 1.0),
    (PathKind::IdlePass, [0.0, 0.0, 0.0, 0.0], 0.0, 17.0),
    (PathKind::QuickSettled, [1.0, 0.0, 1.0, 0.0], 0.0, 1.85),
    (PathKind::AlertScheduled, [1.0, 0.0, 2.0, 0.0], 0.0, 1.85),
    (PathKind::AlertSettled, [1.0, 0.0, 1.0, 0.0], 0.0, 1.85),
    (PathKind::OfflineNotice, [2.0, 1.0, 2.0, 0.0], 0.0, 1.85),
    (PathKind::BackOnlineNotice, [2.0, 1.0, 2.0, 0.0], 0.0, 1.85),
    (PathKind::Status, [0.0, 0.0, 0.0, 0.0], 0.0, 1.0),
    (PathKind::History, [0.0, 0.0, 0.0, 0.0], 0.0, 1.0 / 7.0),
    (
        PathKind::ListConnected,
        [0.0, 0.0, 0.0, 0.0],
        0.0,
        8.0 / 60.0,
    ),
    (PathKind::ListOffline, [0.0, 0.0, 0.0, 0.0], 0.0, 4.0),
    (PathKind::Summary, [0.0, 0.0, 0.0, 0.0], 0.0, 56.0),
    (PathKind::FleetGauges, [0.0, 0.0, 0.0, 0.0], 0.0, 16.0),
];

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test]
async fn every_path_consumes_what_it_is_pinned_to() {
    let f = fixture(settings()).await;
    let measured = cost::probe::run(&f.store, &f.alerter, "probe", T0)
        .await
        .expect("every path runs");
    let reported: f64 = measured
        .iter()
        .map(|m| m.units.total().read + m.units.total().write)
        .sum();
    assert!(
        reported > 0.0,
        "the DynamoDB server at {} reports no consumed capacity (moto does not): this test \
         needs one that does (dynoxide, DynamoDB Local, DynamoDB)",
        common::local::endpoint()
    );
    let rows: Vec<String> = cost::table(&measured, &f.tables.status, &f.tables.events)
        .iter()
        .map(|row| format!("| {} |", row.join(" | ")))
        .collect();
    for row in &rows {
        println!("{row}");
    }
    assert_eq!(
        measured.iter().map(|m| m.path).collect::<Vec<_>>(),
        PINNED.map(|p| p.0),
        "the probe's paths"
    );
    let (status, events) = (f.tables.status.as_str(), f.tables.events.as_str());
    let mut wrong = Vec::new();
    for (m, (path, writes, refused, reads)) in measured.iter().zip(PINNED) {
        let on = [
            m.per_one(status, None),
            m.per_one(status, Some(STATUS_INDEX)),
            m.per_one(status, Some(ALERT_INDEX)),
            m.per_one(events, None),
        ];
        let total = m.per_one_total();
        let got = on.map(|u| u.write);
        if !got.iter().zip(writes).all(|(g, w)| close(*g, w))
            || !close(total.refused, refused)
            || !close(total.read, reads)
        {
            wrong.push(format!(
                "{}: writes {got:?} refused {} reads {}, pinned {writes:?} {refused} {reads}",
                path.name(),
                total.refused,
                total.read
            ));
        }
    }
    assert!(wrong.is_empty(), "units changed:\n{}", wrong.join("\n"));
    // The cost page shows this very table.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cost.md"))
        .expect("docs/cost.md");
    for row in &rows {
        assert!(
            doc.contains(row.as_str()),
            "docs/cost.md lacks the measured row\n{row}"
        );
    }
}
