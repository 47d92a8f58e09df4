//! What each path costs: DynamoDB capacity measured per path ([`probe`]), the measurements
//! committed as data ([`measured`]), AWS list prices with their sources ([`prices`]), the cost
//! arithmetic ([`model`]) and its tables as markdown ([`report`]).
//!
//! docs/cost.md and `presence cost` both render [`measured`] through [`report`] and [`model`]:
//! `tests/capacity.rs` re-measures every path on the local DynamoDB (dynoxide, which reports
//! consumed capacity as DynamoDB does) and compares it with [`measured`], and `tests/cost.rs`
//! checks docs/cost.md and the CLI against the rendering, so that neither the code's write
//! amplification nor the published figures can drift from the code unnoticed.

pub mod measured;
pub mod model;
pub mod prices;
pub mod probe;
pub mod report;

use serde::Serialize;

use crate::store::capacity::{Tally, Units};
use crate::store::schema::{ALERT_INDEX, STATUS_INDEX};

/// One measured path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathKind {
    /// A client's first connect: a new status item.
    FirstConnect,
    /// An applied disconnect of a connected client.
    Disconnect,
    /// An applied connect of a known, disconnected client (a new session).
    Reconnect,
    /// An event of an older session, after a newer one.
    Stale,
    /// Another event of the session and type that set the status.
    Duplicate,
    /// The very same event again (its row exists): the IoT rule's or Lambda's retry.
    Redelivered,
    /// A connect_failed event: logged, never changes the status.
    ConnectFailed,
    /// A failed event re-applied from the on-failure queue (`presence redrive`).
    Redriven,
    /// A repair after the broker disagreed (`presence reconcile`), less the broker's call.
    Reconciled,
    /// An alert pass with nothing due (it runs every minute): per pass.
    IdlePass,
    /// A pass that finds clients back within a minute of their disconnect, before its first
    /// look at them, and lets them go: per due client.
    QuickSettled,
    /// A pass that finds clients offline for a minute and schedules them: per due client.
    AlertScheduled,
    /// A pass that finds clients back before their threshold and lets them go: per due client.
    AlertSettled,
    /// A pass that sends offline notices: per notice.
    OfflineNotice,
    /// A pass that sends back-online notices: per notice.
    BackOnlineNotice,
    /// `presence status CLIENT`: one strongly consistent GetItem.
    Status,
    /// `presence history CLIENT`: per event row returned.
    History,
    /// `presence list --connected`: per client listed.
    ListConnected,
    /// `presence list --disconnected --offline-for D`: per client listed.
    ListOffline,
    /// `presence summary`: per client in the fleet.
    Summary,
    /// The alerter's fleet gauges (COUNT queries): per client in the fleet.
    FleetGauges,
}

impl PathKind {
    pub fn name(self) -> &'static str {
        match self {
            PathKind::FirstConnect => "first connect",
            PathKind::Disconnect => "applied disconnect",
            PathKind::Reconnect => "applied connect",
            PathKind::Stale => "stale",
            PathKind::Duplicate => "duplicate",
            PathKind::Redelivered => "redelivered",
            PathKind::ConnectFailed => "connect_failed",
            PathKind::Redriven => "redriven",
            PathKind::Reconciled => "reconciled",
            PathKind::IdlePass => "alert pass, nothing due",
            PathKind::QuickSettled => "alert pass, back within a minute",
            PathKind::AlertScheduled => "alert pass, client scheduled",
            PathKind::AlertSettled => "alert pass, client settled",
            PathKind::OfflineNotice => "alert pass, offline notice",
            PathKind::BackOnlineNotice => "alert pass, back-online notice",
            PathKind::Status => "presence status",
            PathKind::History => "presence history",
            PathKind::ListConnected => "presence list --connected",
            PathKind::ListOffline => "presence list --offline-for",
            PathKind::Summary => "presence summary",
            PathKind::FleetGauges => "fleet gauges",
        }
    }

    /// What one unit of `count` is.
    pub fn per(self) -> &'static str {
        match self {
            PathKind::IdlePass => "pass",
            PathKind::QuickSettled | PathKind::AlertScheduled | PathKind::AlertSettled => {
                "due client"
            }
            PathKind::OfflineNotice | PathKind::BackOnlineNotice => "notice",
            PathKind::Status | PathKind::Reconciled => "client",
            PathKind::History => "row",
            PathKind::ListConnected | PathKind::ListOffline => "client listed",
            PathKind::Summary | PathKind::FleetGauges => "call",
            _ => "event",
        }
    }

    /// Whether per-`count` figures are the path's units divided by its count, or the whole
    /// call's units (the summary and the gauges: their count is the fleet they covered).
    fn divides(self) -> bool {
        !matches!(self, PathKind::Summary | PathKind::FleetGauges)
    }
}

/// One path's measurement: what it consumed, and over how many of its unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Measured {
    pub path: PathKind,
    /// Events, due clients, notices or items the units are spread over (for the summary and
    /// the gauges: the clients they covered).
    pub count: u64,
    pub units: Tally,
}

impl Measured {
    pub fn new(path: PathKind, count: u64, units: Tally) -> Self {
        Measured { path, count, units }
    }

    /// Units per one of [`PathKind::per`], on one target (`None` index: the table itself).
    pub fn per_one(&self, table: &str, index: Option<&str>) -> Units {
        let units = self.units.on(table, index);
        self.spread(units)
    }

    /// Units per one of [`PathKind::per`], everything together.
    pub fn per_one_total(&self) -> Units {
        self.spread(self.units.total())
    }

    fn spread(&self, mut units: Units) -> Units {
        if self.path.divides() {
            let n = self.count.max(1) as f64;
            units.read /= n;
            units.write /= n;
            units.refused /= n;
        }
        units
    }
}

/// The targets of [`PathUnits`], in its order: the two tables and the status table's indexes.
pub const TARGETS: [&str; 4] = ["status", STATUS_INDEX, ALERT_INDEX, "events"];

/// One path's units per one of [`PathKind::per`], on each of [`TARGETS`]: the form the
/// measurements are committed in ([`measured::PATHS`]) and compared in (`tests/capacity.rs`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathUnits {
    pub path: PathKind,
    /// What the units are spread over ([`Measured::count`]).
    pub count: u64,
    /// Write units on each of [`TARGETS`].
    pub writes: [f64; 4],
    /// Read units on each of [`TARGETS`].
    pub reads: [f64; 4],
    /// Write units of refused conditional writes, all targets together.
    pub refused: f64,
}

impl PathUnits {
    /// A measurement on the tables named `status` and `events`. Units on any other target are
    /// in no column: [`PathUnits::total`] then differs from [`Measured::per_one_total`], which
    /// `tests/capacity.rs` compares too.
    pub fn of(m: &Measured, status: &str, events: &str) -> Self {
        let on = [
            m.per_one(status, None),
            m.per_one(status, Some(STATUS_INDEX)),
            m.per_one(status, Some(ALERT_INDEX)),
            m.per_one(events, None),
        ];
        PathUnits {
            path: m.path,
            count: m.count,
            writes: on.map(|u| u.write),
            reads: on.map(|u| u.read),
            refused: m.per_one_total().refused,
        }
    }

    /// Everything, targets together: what the cost model takes per path.
    pub fn total(&self) -> Units {
        Units {
            read: self.reads.iter().sum(),
            write: self.writes.iter().sum(),
            refused: self.refused,
        }
    }
}

/// The units as a text table, one row per path: write (W) and read (R) units per one of its
/// unit, on each table and index (the first row is the header).
pub fn table(paths: &[PathUnits]) -> Vec<Vec<String>> {
    let mut head = vec!["path".to_owned(), "per".to_owned(), "n".to_owned()];
    head.extend(TARGETS.iter().map(|name| format!("{name} W/R")));
    head.extend(["refused W", "total W", "total R"].map(str::to_owned));
    let mut rows = vec![head];
    for p in paths {
        let mut row = vec![
            p.path.name().to_owned(),
            p.path.per().to_owned(),
            p.count.to_string(),
        ];
        for (w, r) in p.writes.iter().zip(&p.reads) {
            row.push(format!("{}/{}", units(*w), units(*r)));
        }
        let total = p.total();
        row.push(units(total.refused));
        row.push(units(total.writes()));
        row.push(units(total.read));
        rows.push(row);
    }
    rows
}

/// A unit count, short: `0`, `3`, `0.5`, `0.013`.
pub fn units(n: f64) -> String {
    if n == n.trunc() {
        format!("{n:.0}")
    } else if n >= 0.1 {
        format!("{n:.2}").trim_end_matches('0').to_owned()
    } else {
        format!("{n:.4}").trim_end_matches('0').to_owned()
    }
}
