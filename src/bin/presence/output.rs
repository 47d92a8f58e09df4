//! Rendering: time formats, tables, and the JSON views. Every JSON line is a typed value
//! serialised with serde: the library's own types where the CLI prints them as they are, the
//! library's views (`iot_presence::read::view`, shared with the HTTP API) where the shape
//! differs (times as RFC 3339, the connectivity API's field names), and the few views below
//! that only the CLI prints.
//!
//! Human output (tables and text lines, on stdout or stderr) shows the devices' own strings —
//! client ids, thing names, reasons, sessions, storm ids, errors quoting them — through
//! [`safe`] ([`iot_presence::errors::display_safe`]): a control character or bidi control is
//! shown as a `\u{..}` escape, never sent to the terminal. Every table cell is made by
//! [`cell`], which does it (`tests/hostile_input.rs` fails on a `Cell::new` anywhere else).
//! JSON output is exact: serde escapes control characters.

use comfy_table::{presets, Cell, Color, Table};
use iot_presence::alert::pass::RunReport;
use iot_presence::availability::FleetTotals;
use iot_presence::read::OFFLINE_BUCKETS_MS;
use iot_presence::rebuild::Rebuilt;
use serde::Serialize;

// The JSON views the HTTP API answers with too: one shape, one code path.
pub use iot_presence::read::view::{held_by, HistoryView, StatusView, SummaryView};

pub use iot_presence::errors::display_safe as safe;
pub use iot_presence::time::{iso_millis as iso, iso_seconds};

/// A table cell: the text with its control and bidi characters escaped ([`safe`]). The one
/// way the CLI makes a cell.
pub fn cell(text: impl std::fmt::Display) -> Cell {
    Cell::new(safe(&text.to_string()))
}

/// Prints one JSON line.
pub fn print_json(value: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string(value).expect("a JSON view serializes")
    );
}

/// "3m ago": the elapsed time in its largest unit (s, m, h, d).
pub fn ago(now: u64, then: u64) -> String {
    let secs = now.saturating_sub(then) / 1000;
    let (value, unit) = [(86_400, "d"), (3_600, "h"), (60, "m")]
        .into_iter()
        .find(|(size, _)| secs >= *size)
        .map_or((secs, "s"), |(size, unit)| (secs / size, unit));
    format!("{value}{unit} ago")
}

pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

pub fn table() -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t
}

pub fn state_color(connected: bool) -> Color {
    if connected {
        Color::Green
    } else {
        Color::Red
    }
}

pub fn state_cell(connected: bool) -> Cell {
    cell(if connected { "yes" } else { "no" }).fg(state_color(connected))
}

// The table labels below spell out the library's buckets.
const _: () = assert!(
    OFFLINE_BUCKETS_MS[0] == 5 * 60_000
        && OFFLINE_BUCKETS_MS[1] == 3_600_000
        && OFFLINE_BUCKETS_MS[2] == 86_400_000
);
/// Table labels of `Summary::offline` (iot_presence::read), in order.
pub const OFFLINE_LABELS: [&str; 4] = ["  < 5 m", "  < 1 h", "  < 1 d", "  longer"];

/// `alert-pass -o json`: when the pass ran, and what it did.
#[derive(Serialize)]
pub struct PassView<'a> {
    pub at: String,
    pub report: &'a RunReport,
}

/// `rebuild -o json`, one line per client: `connected` and `sessionIdentifier` are null
/// without a status.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuiltView<'a> {
    client_id: &'a str,
    events: usize,
    applied: usize,
    connected: Option<bool>,
    session_identifier: Option<&'a str>,
}

impl<'a> From<&'a Rebuilt> for RebuiltView<'a> {
    fn from(r: &'a Rebuilt) -> Self {
        RebuiltView {
            client_id: &r.client_id,
            events: r.events,
            applied: r.applied,
            connected: r.status.as_ref().map(|s| s.connected),
            session_identifier: r
                .status
                .as_ref()
                .and_then(|s| s.session_identifier.as_deref()),
        }
    }
}

/// `threshold -o json`: null after `--clear`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdView<'a> {
    pub client_id: &'a str,
    pub offline_threshold_ms: Option<u64>,
}

/// The last line of `availability --all -o json`.
#[derive(Serialize)]
pub struct FleetView<'a> {
    pub fleet: &'a FleetTotals,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ago_uses_the_largest_unit() {
        let now = 10 * 86_400_000;
        assert_eq!(ago(now, now - 5_000), "5s ago");
        assert_eq!(ago(now, now - 185_000), "3m ago");
        assert_eq!(ago(now, now - 7_300_000), "2h ago");
        assert_eq!(ago(now, now - 3 * 86_400_000 - 5), "3d ago");
        assert_eq!(ago(now, 0), "10d ago");
        assert_eq!(ago(now, now), "0s ago");
    }
}
