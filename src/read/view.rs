//! The JSON views of what the reads return, shared by the `presence` CLI (`-o json`) and the
//! HTTP API (its response bodies; docs/openapi.yaml has their schemas): times as RFC 3339 with
//! milliseconds, the connectivity API's field names, absent fields left out. One shape per
//! answer, whichever way it is asked.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::read::{Alerted, Summary, OFFLINE_BUCKETS_MS};
use crate::rule::Outcome;
use crate::store::item::{BrokerFacts, EventRow, Status};
use crate::store::schema::{REASON_NONE, REASON_UNKNOWN};
use crate::time::iso_millis as iso;

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

// The bucket names below (JSON keys) spell out the library's buckets.
const _: () = assert!(
    OFFLINE_BUCKETS_MS[0] == 5 * 60_000
        && OFFLINE_BUCKETS_MS[1] == 3_600_000
        && OFFLINE_BUCKETS_MS[2] == 86_400_000
);

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, to_value};

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
