//! The committed measurements every published cost figure is built from: docs/cost.md's tables
//! and `presence cost` render these through [`super::report`] and [`super::model`], so that a
//! figure needs no local server, no AWS and no run to reproduce.
//!
//! Where each comes from, and how to refresh it:
//!
//! - [`PATHS`]: [`super::probe::run`] on fresh tables on the local DynamoDB (dynoxide), as
//!   `tests/capacity.rs` runs it. That test re-measures every path and fails when one differs
//!   from [`PATHS`], printing the measured rows in this file's form: after a change that is
//!   meant to change the units, paste them here.
//! - [`SIZES`]: the "sizes measured in this run" line of `scripts/replay.sh`'s capacity report
//!   (`cargo xtask capacity`, after the replay of `events/`): mean item sizes in the replay's
//!   tables and the function's own log bytes per event, which only a run of the function
//!   produces. Copy the four numbers and the date into [`SIZES`] and [`REPLAY_DATE`].
//!
//! Then `tests/cost.rs` fails until docs/cost.md shows the new rendering (it prints it).

use super::model::{Inputs, Sizes};
use super::{PathKind, PathUnits};

/// The replay run [`SIZES`] are from.
pub const REPLAY_DATE: &str = "2026-12-07";

/// Sizes from the replay of [`REPLAY_DATE`], whole bytes: status item and event row (means,
/// DynamoDB's count), and the handler's JSON log and EMF bytes per handled event.
pub const SIZES: Sizes = Sizes {
    status_item_bytes: 470.0,
    event_row_bytes: 564.0,
    log_bytes_per_event: 431.0,
    emf_bytes_per_event: 725.0,
};

/// A row of [`PATHS`]: `count` (n), write/read units per one of [`PathKind::per`] on status,
/// status-index, alert-index and events ([`super::TARGETS`]), and the refused write units.
const fn path(path: PathKind, count: u64, on: [(f64, f64); 4], refused: f64) -> PathUnits {
    PathUnits {
        path,
        count,
        writes: [on[0].0, on[1].0, on[2].0, on[3].0],
        reads: [on[0].1, on[1].1, on[2].1, on[3].1],
        refused,
    }
}

/// The due clients of each measured alert pass ([`super::probe::ALERT_CLIENTS`]): a pass's
/// reads of the status table and the indexes are the pass's, spread over its clients.
const N: f64 = super::probe::ALERT_CLIENTS as f64;

/// Every path's units, in [`super::probe::run`]'s order. The listings, the summary and the
/// gauges read what the tables hold: the probe's own 62 clients (60 connected, 2 not).
pub const PATHS: [PathUnits; 21] = [
    path(
        PathKind::FirstConnect,
        1,
        [(1.0, 1.0), (1.0, 0.0), (0.0, 0.0), (1.0, 0.0)],
        0.0,
    ),
    path(
        PathKind::Disconnect,
        1,
        [(1.0, 0.0), (2.0, 0.0), (1.0, 0.0), (1.0, 0.0)],
        0.0,
    ),
    path(
        PathKind::Reconnect,
        1,
        [(1.0, 0.0), (2.0, 0.0), (2.0, 0.0), (1.0, 0.0)],
        0.0,
    ),
    path(
        PathKind::Stale,
        1,
        [(0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (1.0, 0.0)],
        1.0,
    ),
    path(
        PathKind::Duplicate,
        1,
        [(0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (1.0, 0.0)],
        1.0,
    ),
    path(
        PathKind::Redelivered,
        1,
        [(0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0)],
        2.0,
    ),
    path(
        PathKind::ConnectFailed,
        1,
        [(0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (1.0, 0.0)],
        0.0,
    ),
    path(
        PathKind::Redriven,
        1,
        [(1.0, 0.0), (2.0, 0.0), (1.0, 0.0), (1.0, 0.0)],
        0.0,
    ),
    path(
        PathKind::Reconciled,
        1,
        [(2.0, 1.0), (2.0, 0.0), (1.0, 0.0), (2.0, 0.0)],
        0.0,
    ),
    path(
        PathKind::IdlePass,
        1,
        [(0.0, 1.0), (0.0, 8.0), (0.0, 8.0), (0.0, 0.0)],
        0.0,
    ),
    path(
        PathKind::QuickSettled,
        20,
        [(1.0, 1.0 / N), (0.0, 8.0 / N), (1.0, 8.0 / N), (0.0, 1.0)],
        0.0,
    ),
    path(
        PathKind::AlertScheduled,
        20,
        [(1.0, 1.0 / N), (0.0, 8.0 / N), (2.0, 8.0 / N), (0.0, 1.0)],
        0.0,
    ),
    path(
        PathKind::AlertSettled,
        20,
        [(1.0, 1.0 / N), (0.0, 8.0 / N), (1.0, 8.0 / N), (0.0, 1.0)],
        0.0,
    ),
    path(
        PathKind::OfflineNotice,
        20,
        [(2.0, 1.0 / N), (1.0, 8.0 / N), (2.0, 8.0 / N), (0.0, 1.0)],
        0.0,
    ),
    path(
        PathKind::BackOnlineNotice,
        20,
        [(2.0, 1.0 / N), (1.0, 8.0 / N), (2.0, 8.0 / N), (0.0, 1.0)],
        0.0,
    ),
    path(
        PathKind::Status,
        1,
        [(0.0, 1.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0)],
        0.0,
    ),
    // One read unit for the client's 7 rows.
    path(
        PathKind::History,
        7,
        [(0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 1.0 / 7.0)],
        0.0,
    ),
    // 8 read units for the 60 clients listed.
    path(
        PathKind::ListConnected,
        60,
        [(0.0, 0.0), (0.0, 8.0 / 60.0), (0.0, 0.0), (0.0, 0.0)],
        0.0,
    ),
    path(
        PathKind::ListOffline,
        2,
        [(0.0, 0.0), (0.0, 4.0), (0.0, 0.0), (0.0, 0.0)],
        0.0,
    ),
    path(
        PathKind::Summary,
        62,
        [(0.0, 0.0), (0.0, 48.0), (0.0, 8.0), (0.0, 0.0)],
        0.0,
    ),
    path(
        PathKind::FleetGauges,
        62,
        [(0.0, 0.0), (0.0, 16.0), (0.0, 0.0), (0.0, 0.0)],
        0.0,
    ),
];

/// The cost model of [`PATHS`] and [`SIZES`], event rows kept `retention_days`
/// ([`crate::config::DEFAULT_RETENTION_DAYS`] is the stack's default).
pub fn inputs(retention_days: u32) -> Inputs {
    Inputs::new(&PATHS, SIZES, retention_days)
}
