//! The consumed capacity of every path, measured on the local DynamoDB and compared with the
//! committed measurements (`iot_presence::cost::measured`), which docs/cost.md and `presence
//! cost` are built from: a change that adds write amplification (a rewritten index key, a
//! larger item, a second request) fails here, and so would committed figures that no longer
//! match the code.

mod common;

use common::alerting::{fixture, settings, T0};
use iot_presence::cost::{self, measured, PathUnits};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn same(a: &PathUnits, b: &PathUnits) -> bool {
    let all = |x: &[f64], y: &[f64]| x.iter().zip(y).all(|(x, y)| close(*x, *y));
    a.path == b.path
        && a.count == b.count
        && all(&a.writes, &b.writes)
        && all(&a.reads, &b.reads)
        && close(a.refused, b.refused)
}

/// A row in src/cost/measured.rs's form, to paste there when a change is meant.
fn source_row(p: &PathUnits) -> String {
    let on: Vec<String> = p
        .writes
        .iter()
        .zip(&p.reads)
        .map(|(w, r)| format!("({w:?}, {r:?})"))
        .collect();
    format!(
        "    path(\n        PathKind::{:?},\n        {},\n        [{}],\n        {:?},\n    ),",
        p.path,
        p.count,
        on.join(", "),
        p.refused
    )
}

#[tokio::test]
async fn every_path_consumes_what_is_committed() {
    let f = fixture(settings()).await;
    let probed = cost::probe::run(&f.store, &f.alerter, "probe", T0)
        .await
        .expect("every path runs");
    let reported: f64 = probed
        .iter()
        .map(|m| m.units.total().read + m.units.total().write)
        .sum();
    assert!(
        reported > 0.0,
        "the DynamoDB server at {} reports no consumed capacity (moto does not): this test \
         needs one that does (dynoxide, DynamoDB Local, DynamoDB)",
        common::local::endpoint()
    );
    let (status, events) = (f.tables.status.as_str(), f.tables.events.as_str());
    let paths: Vec<PathUnits> = probed
        .iter()
        .map(|m| PathUnits::of(m, status, events))
        .collect();
    print!("{}", cost::report::units(&paths));
    assert_eq!(
        paths.iter().map(|p| p.path).collect::<Vec<_>>(),
        measured::PATHS.map(|p| p.path),
        "the probe's paths"
    );
    // Units on a target of no column (a new index, another table) would be missing from
    // the committed rows: the totals catch them.
    let elsewhere: Vec<String> = probed
        .iter()
        .zip(&paths)
        .filter(|(m, p)| {
            let (all, on) = (m.per_one_total(), p.total());
            !close(all.read, on.read) || !close(all.writes(), on.writes())
        })
        .map(|(m, _)| format!("{}: {:?}", m.path.name(), m.units))
        .collect();
    assert!(
        elsewhere.is_empty(),
        "units on a target src/cost/measured.rs has no column for:\n{}",
        elsewhere.join("\n")
    );
    let wrong: Vec<String> = paths
        .iter()
        .zip(&measured::PATHS)
        .filter(|(got, committed)| !same(got, committed))
        .map(|(got, committed)| {
            format!(
                "{}: measured {got:?}\n  committed {committed:?}",
                got.path.name()
            )
        })
        .collect();
    let rows: Vec<String> = paths.iter().map(source_row).collect();
    assert!(
        wrong.is_empty(),
        "units changed:\n{}\n\nif meant, src/cost/measured.rs's PATHS are now:\n{}",
        wrong.join("\n"),
        rows.join("\n")
    );
}
