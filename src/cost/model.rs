//! The cost tables: measured units and bytes times [`super::prices`]. Pure arithmetic, so
//! that every line of docs/cost.md can be traced to a measured figure, a price,
//! or an assumption named here.
//!
//! The traffic model: devices reconnect, and each reconnect is one outage, two events (an
//! applied disconnect and an applied connect). With alerts on, an outage that ends within a
//! minute is looked at once (settled; [`QUICK_RETURN_SHARE`] of them); every other one is
//! looked at after a minute (scheduled), and either ends before its threshold (settled) or
//! becomes an offline notice and a back-online notice ([`LONG_OUTAGE_SHARE`] of all outages).

use std::collections::BTreeMap;

use serde::Serialize;

use super::prices::{self, Price};
use super::{PathKind, PathUnits};
use crate::store::capacity::Units;

/// Outages that outlast their offline threshold (an assumption: a fleet where one reconnect
/// in ten is a real outage).
pub const LONG_OUTAGE_SHARE: f64 = 0.1;
/// Outages that end within a minute, before the alerter's first look (an assumption: half of
/// all reconnects are a network blip or a broker's takeover, back within seconds). They cost
/// the alert pass one look instead of two; [`QUICK_RETURN_SHARE`] + [`LONG_OUTAGE_SHARE`] <= 1.
pub const QUICK_RETURN_SHARE: f64 = 0.5;
/// Alert passes a month: the schedule is `rate(1 minute)`, 30 days.
pub const PASSES_PER_MONTH: f64 = 43_200.0;
/// Days a month, for fleet figures.
pub const DAYS_PER_MONTH: f64 = 30.0;
/// Lambda memory of the functions (template.yaml MemorySize), GB.
pub const MEMORY_GB: f64 = 0.125;

/// What the model is built from: measured per-path units, and per-event sizes measured by
/// the replay, with the assumptions that no local run can measure.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    /// Units per one of each path's unit ([`PathUnits::total`]).
    pub paths: BTreeMap<PathKind, Units>,
    /// Status item size (DynamoDB's count, bytes).
    pub status_item_bytes: f64,
    /// Event row size (bytes).
    pub event_row_bytes: f64,
    /// The handler's log bytes per event, JSON lines without the EMF ones.
    pub log_bytes_per_event: f64,
    /// EMF metric bytes per event.
    pub emf_bytes_per_event: f64,
    /// Billed duration per handler invocation, ms (an assumption: not measurable here).
    pub handler_ms: f64,
    /// Billed duration per alert pass, ms (an assumption).
    pub pass_ms: f64,
    /// Event rows are kept this many days (the stack's EventRetentionDays): the storage lines.
    pub retention_days: f64,
    /// Custom metrics the stack writes (name × dimension sets).
    pub custom_metrics: f64,
}

impl Inputs {
    /// The model of these paths' units and these sizes, event rows kept `retention_days` (the
    /// stack's EventRetentionDays; [`crate::config::DEFAULT_RETENTION_DAYS`] unless changed).
    pub fn new(paths: &[PathUnits], sizes: Sizes, retention_days: u32) -> Self {
        Inputs {
            paths: paths.iter().map(|p| (p.path, p.total())).collect(),
            status_item_bytes: sizes.status_item_bytes,
            event_row_bytes: sizes.event_row_bytes,
            log_bytes_per_event: sizes.log_bytes_per_event,
            emf_bytes_per_event: sizes.emf_bytes_per_event,
            handler_ms: 20.0,
            pass_ms: 100.0,
            retention_days: retention_days.into(),
            custom_metrics: 30.0,
        }
    }

    fn units(&self, path: PathKind) -> Units {
        self.paths.get(&path).copied().unwrap_or_default()
    }
}

/// Sizes measured by a replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sizes {
    pub status_item_bytes: f64,
    pub event_row_bytes: f64,
    pub log_bytes_per_event: f64,
    pub emf_bytes_per_event: f64,
}

/// One line of a cost table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub item: &'static str,
    pub arithmetic: String,
    pub dollars: f64,
}

fn line(item: &'static str, quantity: f64, what: &str, price: Price) -> Line {
    Line {
        item,
        arithmetic: format!(
            "{} {what} × ${} per {}",
            count(quantity),
            dollars_exact(price.dollars),
            price.unit
        ),
        dollars: quantity * price.dollars,
    }
}

/// Units of one outage, with alerts: both events, and the alert index's part.
fn outage(i: &Inputs, alerts: bool) -> Units {
    let mut u = Units::default();
    let mut add = |path: PathKind, times: f64| u.add(i.units(path).times(times));
    add(PathKind::Disconnect, 1.0);
    add(PathKind::Reconnect, 1.0);
    if alerts {
        add(PathKind::QuickSettled, QUICK_RETURN_SHARE);
        add(PathKind::AlertScheduled, 1.0 - QUICK_RETURN_SHARE);
        add(
            PathKind::AlertSettled,
            1.0 - QUICK_RETURN_SHARE - LONG_OUTAGE_SHARE,
        );
        add(PathKind::OfflineNotice, LONG_OUTAGE_SHARE);
        add(PathKind::BackOnlineNotice, LONG_OUTAGE_SHARE);
    }
    u
}

/// Cost of `events` events (half disconnects, half reconnects), alerts on, without the
/// fixed monthly part and storage.
pub fn per_events(i: &Inputs, events: f64) -> Vec<Line> {
    let outages = events / 2.0;
    let handler = outage(i, false);
    let with = outage(i, true);
    let alert_writes = (with.writes() - handler.writes()) * outages;
    let alert_reads = (with.read - handler.read) * outages;
    let gb = |bytes: f64| events * bytes / 1e9;
    vec![
        line(
            "IoT rules engine",
            events,
            "events",
            prices::IOT_RULE_AND_ACTION,
        ),
        line(
            "Lambda requests (handler)",
            events,
            "invocations",
            prices::LAMBDA_REQUEST,
        ),
        line(
            "Lambda duration (handler)",
            events * i.handler_ms / 1000.0 * MEMORY_GB,
            "GB-s",
            prices::LAMBDA_GB_SECOND,
        ),
        line(
            "DynamoDB writes, handler",
            handler.writes() * outages,
            "WRU",
            prices::WRITE_UNIT,
        ),
        line(
            "DynamoDB reads, handler",
            handler.read * outages,
            "RRU",
            prices::READ_UNIT,
        ),
        line(
            "DynamoDB writes, alerts",
            alert_writes,
            "WRU",
            prices::WRITE_UNIT,
        ),
        line(
            "DynamoDB reads, alerts",
            alert_reads,
            "RRU",
            prices::READ_UNIT,
        ),
        line(
            "SNS notices",
            outages * LONG_OUTAGE_SHARE * 2.0,
            "publishes",
            prices::SNS_PUBLISH,
        ),
        line(
            "CloudWatch Logs",
            gb(i.log_bytes_per_event),
            "GB",
            prices::LOG_INGESTION,
        ),
        line(
            "EMF metric lines",
            gb(i.emf_bytes_per_event),
            "GB",
            prices::LOG_INGESTION,
        ),
    ]
}

/// The fixed part of a month: the alert passes and the fleet gauges (which read the whole
/// status index, so they grow with the fleet), and the custom metrics.
pub fn fixed_monthly(i: &Inputs, devices: f64) -> Vec<Line> {
    let idle = i.units(PathKind::IdlePass);
    // A COUNT query reads every index entry: at most the whole item, eventually consistent
    // (0.5 unit per 4 KB, so 1 per 8 KB), and never less than the measured small-fleet call.
    let gauge_floor = i.units(PathKind::FleetGauges).read;
    let gauge = gauge_floor.max(devices * (i.status_item_bytes + 0.0) / 8192.0);
    vec![
        line(
            "alert passes (invocations)",
            PASSES_PER_MONTH,
            "invocations",
            prices::LAMBDA_REQUEST,
        ),
        line(
            "alert passes (duration)",
            PASSES_PER_MONTH * i.pass_ms / 1000.0 * MEMORY_GB,
            "GB-s",
            prices::LAMBDA_GB_SECOND,
        ),
        line(
            "alert passes, nothing due (reads)",
            PASSES_PER_MONTH * idle.read,
            "RRU",
            prices::READ_UNIT,
        ),
        line(
            "fleet gauges (reads)",
            PASSES_PER_MONTH * gauge,
            "RRU",
            prices::READ_UNIT,
        ),
        line(
            "custom metrics",
            i.custom_metrics,
            "metrics",
            prices::CUSTOM_METRIC,
        ),
    ]
}

/// Storage and point-in-time recovery of a month at steady state: one status item a device,
/// and `retention_days` of event rows.
pub fn storage_monthly(i: &Inputs, devices: f64, events_per_day: f64) -> Vec<Line> {
    let status = devices * (i.status_item_bytes + prices::ITEM_OVERHEAD_BYTES);
    let rows =
        events_per_day * i.retention_days * (i.event_row_bytes + prices::ITEM_OVERHEAD_BYTES);
    let gb = (status + rows) / 1e9;
    vec![
        line("DynamoDB storage", gb, "GB", prices::STORAGE),
        line("point-in-time recovery", gb, "GB", prices::PITR),
    ]
}

/// Events a month of `devices` reconnecting `per_day` times a day each (two events a reconnect).
pub fn events_monthly(devices: f64, per_day: f64) -> f64 {
    devices * per_day * 2.0 * DAYS_PER_MONTH
}

/// A month of a fleet, line by line: `devices` reconnecting `per_day` times a day each.
pub fn month(i: &Inputs, devices: f64, per_day: f64) -> Vec<Line> {
    let events = events_monthly(devices, per_day);
    per_events(i, events)
        .into_iter()
        .chain(fixed_monthly(i, devices))
        .chain(storage_monthly(i, devices, events / DAYS_PER_MONTH))
        .collect()
}

/// What [`month`] comes to.
pub fn monthly(i: &Inputs, devices: f64, per_day: f64) -> f64 {
    total(&month(i, devices, per_day))
}

/// Sum of a table's lines.
pub fn total(lines: &[Line]) -> f64 {
    lines.iter().map(|l| l.dollars).sum()
}

/// `1,234,567` or `0.05`.
pub fn count(n: f64) -> String {
    if n >= 1000.0 || n == n.trunc() {
        let whole = format!("{:.0}", n);
        let mut out = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else {
        format!("{n:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

/// Dollars for a table: `$1.23`, `$0.004`.
pub fn dollars(d: f64) -> String {
    if d >= 100.0 {
        format!("${}", count(d.round()))
    } else if d >= 0.01 || d == 0.0 {
        format!("${d:.2}")
    } else {
        format!("${d:.4}")
    }
}

/// A price as given: `0.000000625`, `0.25`.
pub fn dollars_exact(d: f64) -> String {
    let s = format!("{d:.12}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        let paths = [
            (PathKind::Disconnect, 4.0),
            (PathKind::Reconnect, 4.0),
            (PathKind::QuickSettled, 2.0),
            (PathKind::AlertScheduled, 3.0),
            (PathKind::AlertSettled, 3.0),
            (PathKind::OfflineNotice, 5.0),
            (PathKind::BackOnlineNotice, 5.0),
        ]
        .into_iter()
        .map(|(p, w)| {
            (
                p,
                Units {
                    write: w,
                    ..Units::default()
                },
            )
        })
        .collect();
        Inputs {
            paths,
            status_item_bytes: 500.0,
            event_row_bytes: 600.0,
            log_bytes_per_event: 500.0,
            emf_bytes_per_event: 500.0,
            handler_ms: 20.0,
            pass_ms: 100.0,
            retention_days: 30.0,
            custom_metrics: 30.0,
        }
    }

    #[test]
    fn a_million_events_is_half_a_million_outages() {
        let lines = per_events(&inputs(), 1e6);
        let writes = |item: &str| lines.iter().find(|l| l.item == item).unwrap().dollars;
        // 500,000 outages × 8 WRU × $0.625/M.
        assert!((writes("DynamoDB writes, handler") - 2.5).abs() < 1e-9);
        // 500,000 × (0.5 × 2 (back within a minute) + 0.5 × 3 (scheduled) + 0.4 × 3 (settled)
        // + 0.1 × 10 (both notices)) WRU.
        assert!((writes("DynamoDB writes, alerts") - 500_000.0 * 4.7 * 0.625e-6).abs() < 1e-9);
        // 0.5 GB of logs at $0.50.
        assert!((writes("CloudWatch Logs") - 0.25).abs() < 1e-9);
    }

    #[test]
    fn numbers_print_as_the_readme_shows_them() {
        assert_eq!(count(1_234_567.0), "1,234,567");
        assert_eq!(count(43_200.0), "43,200");
        assert_eq!(count(0.05), "0.05");
        assert_eq!(dollars(0.004), "$0.0040");
        assert_eq!(dollars(3.456), "$3.46");
        assert_eq!(dollars(1234.4), "$1,234");
        assert_eq!(dollars_exact(0.625e-6), "0.000000625");
    }
}
