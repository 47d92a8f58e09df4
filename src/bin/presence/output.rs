//! Rendering: time formats, tables, and the JSON views. Every JSON line is a typed value
//! serialised with serde: the library's own types where the CLI prints them as they are, and
//! the views below where the CLI's shape differs (times as RFC 3339, the connectivity API's
//! field names, fields that only some commands show).
//!
//! Human output (tables and text lines, on stdout or stderr) shows the devices' own strings —
//! client ids, thing names, reasons, sessions, storm ids, errors quoting them — through
//! [`safe`] ([`iot_presence::errors::display_safe`]): a control character or bidi control is
//! shown as a `\u{..}` escape, never sent to the terminal. Every table cell is made by
//! [`cell`], which does it (`tests/hostile_input.rs` fails on a `Cell::new` anywhere else).
//! JSON output is exact: serde escapes control characters.

use std::collections::BTreeMap;

use comfy_table::{presets, Cell, Color, Table};
use iot_presence::alert::pass::RunReport;
use iot_presence::availability::FleetTotals;
use iot_presence::read::{Alerted, Summary, OFFLINE_BUCKETS_MS};
use iot_presence::rebuild::Rebuilt;
use iot_presence::rule::Outcome;
use iot_presence::store::item::{BrokerFacts, EventRow, Status};
use iot_presence::store::schema::{REASON_NONE, REASON_UNKNOWN};
use serde::Serialize;

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

/// A status in the shape of `aws iot get-thing-connectivity-data`, plus ours. Absent fields are
/// left out; `principal` and `sourceIp` are there (possibly null) only when asked for.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView<'a> {
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    thing_name: Option<&'a str>,
    connected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
    disconnect_reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_identifier: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_number: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connected_since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disconnected_since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_initiated_disconnect: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reconciled_at: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    broker: Option<BrokerView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_ip: Option<Option<&'a str>>,
    /// The storm holding this client's `offline` notice (`presence storms`), if one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    held_by_storm: Option<&'a str>,
}

/// The broker's session settings, flattened into [`StatusView`].
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BrokerView {
    clean_session: bool,
    session_expiry: u64,
    keep_alive_duration: u64,
    broker_checked_at: String,
}

impl<'a> StatusView<'a> {
    /// A client never seen: disconnected, reason `UNKNOWN`, as the connectivity API answers.
    pub fn unknown(client_id: &'a str) -> Self {
        StatusView {
            client_id,
            thing_name: None,
            connected: false,
            timestamp: None,
            disconnect_reason: REASON_UNKNOWN,
            session_identifier: None,
            version_number: None,
            connected_since: None,
            disconnected_since: None,
            client_initiated_disconnect: None,
            reconciled_at: None,
            broker: None,
            principal: None,
            source_ip: None,
            held_by_storm: None,
        }
    }

    pub fn new(st: &'a Status, socket: bool, principal: bool) -> Self {
        let disconnect_reason = match (&st.disconnect_reason, st.connected) {
            (_, true) => REASON_NONE,
            (Some(r), false) => r,
            (None, false) => REASON_UNKNOWN,
        };
        StatusView {
            client_id: &st.client_id,
            thing_name: st.thing_name.as_deref(),
            connected: st.connected,
            timestamp: st.event_timestamp.map(iso),
            disconnect_reason,
            session_identifier: st.session_identifier.as_deref(),
            version_number: st.version_number,
            connected_since: st.connected_at.map(iso),
            disconnected_since: st.disconnected_at.map(iso),
            client_initiated_disconnect: st.client_initiated_disconnect,
            reconciled_at: st.reconciled_at.map(iso),
            broker: st.broker().map(|f: BrokerFacts| BrokerView {
                clean_session: f.clean_session,
                session_expiry: f.session_expiry,
                keep_alive_duration: f.keep_alive_duration,
                broker_checked_at: iso(f.checked_at),
            }),
            principal: principal.then_some(st.principal_identifier.as_deref()),
            source_ip: socket.then_some(st.ip_address.as_deref()),
            held_by_storm: held_by(st),
        }
    }
}

/// The storm holding the client's pending `offline` notice, while it is offline.
pub fn held_by(st: &Status) -> Option<&str> {
    let pending = st
        .pending_outage
        .as_ref()
        .filter(|o| o.alerted_at.is_none())?;
    (!st.connected)
        .then_some(pending.held_by.as_deref())
        .flatten()
}

/// One row of `history -o json`: every field present, null when unknown.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryView<'a> {
    event_key: &'a str,
    timestamp: String,
    event_type: &'a str,
    session_identifier: &'a str,
    version_number: Option<u64>,
    outcome: Outcome,
    disconnect_reason: Option<&'a str>,
    received_at: Option<String>,
}

impl<'a> From<&'a EventRow> for HistoryView<'a> {
    fn from(e: &'a EventRow) -> Self {
        HistoryView {
            event_key: &e.event_key,
            timestamp: iso(e.event_timestamp),
            event_type: &e.event_type,
            session_identifier: &e.session_identifier,
            version_number: e.version_number,
            outcome: e.outcome,
            disconnect_reason: e.disconnect_reason.as_deref(),
            received_at: e.received_at.map(iso),
        }
    }
}

// The bucket names below (JSON keys and table labels) spell out the library's buckets.
const _: () = assert!(
    OFFLINE_BUCKETS_MS[0] == 5 * 60_000
        && OFFLINE_BUCKETS_MS[1] == 3_600_000
        && OFFLINE_BUCKETS_MS[2] == 86_400_000
);
/// Table labels of [`Summary::offline`], in order.
pub const OFFLINE_LABELS: [&str; 4] = ["  < 5 m", "  < 1 h", "  < 1 d", "  longer"];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryView<'a> {
    connected: u64,
    disconnected: u64,
    offline_for: OfflineFor,
    /// By reason (a JSON object: its key order carries nothing).
    disconnect_reasons: BTreeMap<&'a str, u64>,
    alerted: Vec<AlertedView<'a>>,
}

#[derive(Serialize)]
struct OfflineFor {
    under5m: u64,
    under1h: u64,
    under1d: u64,
    longer: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertedView<'a> {
    client_id: &'a str,
    kind: &'a str,
    since: String,
    alerted_at: String,
    disconnect_reason: Option<&'a str>,
}

impl<'a> From<&'a Summary> for SummaryView<'a> {
    fn from(s: &'a Summary) -> Self {
        let [under5m, under1h, under1d, longer] = s.offline;
        SummaryView {
            connected: s.connected,
            disconnected: s.disconnected,
            offline_for: OfflineFor {
                under5m,
                under1h,
                under1d,
                longer,
            },
            disconnect_reasons: s.reasons.iter().map(|(r, c)| (r.as_str(), *c)).collect(),
            alerted: s
                .alerted
                .iter()
                .map(|a: &Alerted| AlertedView {
                    client_id: &a.client_id,
                    kind: a.kind,
                    since: iso(a.since),
                    alerted_at: iso(a.alerted_at),
                    disconnect_reason: a.reason.as_deref(),
                })
                .collect(),
        }
    }
}

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
    use serde_json::{json, to_value};

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

    #[test]
    fn unknown_clients_look_like_the_connectivity_api() {
        assert_eq!(
            to_value(StatusView::unknown("x")).unwrap(),
            json!({"clientId": "x", "connected": false, "disconnectReason": "UNKNOWN"})
        );
    }

    #[test]
    fn status_fields_absent_or_null() {
        let st = Status {
            client_id: "c".into(),
            connected: true,
            disconnect_reason: Some("CLIENT_INITIATED_DISCONNECT".into()),
            connected_at: Some(1_000),
            clean_session: Some(false),
            session_expiry: Some(3600),
            keep_alive_duration: Some(30),
            broker_checked_at: Some(2_000),
            ..Status::default()
        };
        assert_eq!(
            to_value(StatusView::new(&st, true, true)).unwrap(),
            json!({"clientId": "c", "connected": true, "disconnectReason": "NONE",
                   "connectedSince": "1970-01-01T00:00:01.000Z", "cleanSession": false,
                   "sessionExpiry": 3600, "keepAliveDuration": 30,
                   "brokerCheckedAt": "1970-01-01T00:00:02.000Z",
                   "principal": null, "sourceIp": null})
        );
        let st = Status {
            connected: false,
            disconnect_reason: None,
            ..st
        };
        let v = to_value(StatusView::new(&st, false, false)).unwrap();
        assert_eq!(v["disconnectReason"], "UNKNOWN");
        assert!(v.get("principal").is_none() && v.get("sourceIp").is_none());
    }
}
