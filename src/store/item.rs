//! Typed items: the status item, the event row, and the alert and broker fields, as Rust
//! structs that `serde_dynamo` turns into DynamoDB items and back.
//!
//! Field names are the attribute names of [`attr`] in camelCase; the test
//! `typed_items_use_the_schema_names` checks the two agree, so the schema stays the one place
//! for a name. Only the conditional status update writes attributes one by one (an update
//! expression, [`super::status`]): everything else goes through these types.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::event::Presence;
use crate::rule::Outcome;
#[cfg(doc)]
use crate::store::schema::attr;

/// A DynamoDB item, as the SDK hands it over.
pub type Item = std::collections::HashMap<String, AttributeValue>;

/// An item that does not have the shape its table promises. Never transient: it needs a person.
#[derive(Debug, Error)]
#[error("item of client {client_id:?} in table {table} is malformed")]
pub struct MalformedItem {
    pub table: String,
    pub client_id: String,
    #[source]
    pub problem: ItemProblem,
}

/// What is wrong with a malformed item.
#[derive(Debug, Error)]
pub enum ItemProblem {
    /// An attribute of the wrong type, or a required one missing.
    #[error(transparent)]
    Decode(#[from] serde_dynamo::Error),
    /// Decodes, but breaks a rule of the table (e.g. a refused write that returned no item).
    #[error("{0}")]
    Invalid(String),
}

impl MalformedItem {
    pub fn new(table: &str, client_id: &str, problem: impl Into<ItemProblem>) -> Self {
        MalformedItem {
            table: table.to_owned(),
            client_id: client_id.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Decodes an item as `T` (taking it: the SDK hands items over owned, so nothing is copied).
pub fn from_item<T: for<'de> Deserialize<'de>>(item: Item) -> Result<T, serde_dynamo::Error> {
    serde_dynamo::from_item(item)
}

/// Encodes `value` as an item.
pub fn to_item<T: Serialize>(value: &T) -> Result<Item, serde_dynamo::Error> {
    serde_dynamo::to_item(value)
}

/// A status item as dashboards read it: the status the handler wrote, the broker facts the
/// reconciler kept, and the alert state the alerter keeps. From the status index only the
/// projected attributes are present; the rest are `None`. `NULL` (an unknown value, e.g.
/// `connectedAt` of a connection whose connect was not seen) reads as `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub client_id: String,
    #[serde(default)]
    pub connected: bool,
    pub event_type: Option<String>,
    pub session_identifier: Option<String>,
    pub version_number: Option<u64>,
    pub event_timestamp: Option<u64>,
    pub disconnect_reason: Option<String>,
    pub client_initiated_disconnect: Option<bool>,
    pub connected_at: Option<u64>,
    pub disconnected_at: Option<u64>,
    pub principal_identifier: Option<String>,
    pub ip_address: Option<String>,
    pub thing_name: Option<String>,
    pub updated_at: Option<u64>,
    /// The event (or repair) that last set the status: what a conditional write checks.
    pub last_event_key: Option<String>,
    pub status_shard: Option<String>,
    /// Set when `presence reconcile` repaired the status from the broker's answer (ms).
    pub reconciled_at: Option<u64>,
    /// Status changes applied so far (see [`attr::CHANGE_SEQ`]).
    pub change_seq: Option<u64>,
    // The broker's session settings, as reconcile last read them (see [`Status::broker`]).
    pub clean_session: Option<bool>,
    pub session_expiry: Option<u64>,
    pub keep_alive_duration: Option<u64>,
    pub broker_checked_at: Option<u64>,
    /// The client's own offline threshold (ms), a setting.
    pub offline_threshold_ms: Option<u64>,
    pub alert_shard: Option<String>,
    pub alert_due_at: Option<u64>,
    pub alert_lease: Option<u64>,
    pub alert_pass: Option<String>,
    /// The alerted outage (see [`attr::OUTAGE`]).
    pub outage: Option<Outage>,
    /// The outage tracked before its notice (see [`attr::PENDING_OUTAGE`]).
    pub pending_outage: Option<Outage>,
    pub flapping: Option<Episode>,
    pub expires_at: Option<u64>,
}

impl Status {
    /// Decodes a status item.
    pub fn from_item(item: Item) -> Result<Self, serde_dynamo::Error> {
        from_item(item)
    }

    /// True when the item carries a status (not just settings written before any event).
    pub fn is_known(&self) -> bool {
        self.session_identifier.is_some()
    }

    pub fn presence(&self) -> Presence {
        Presence::of_connected(self.connected)
    }

    /// Since when the client is in its current state (ms).
    pub fn since(&self) -> Option<u64> {
        if self.connected {
            self.connected_at.or(self.event_timestamp)
        } else {
            self.disconnected_at.or(self.event_timestamp)
        }
    }

    /// The broker's session settings, when reconcile has asked the broker.
    pub fn broker(&self) -> Option<BrokerFacts> {
        Some(BrokerFacts {
            clean_session: self.clean_session.unwrap_or(true),
            session_expiry: self.session_expiry.unwrap_or(0),
            keep_alive_duration: self.keep_alive_duration.unwrap_or(0),
            checked_at: self.broker_checked_at?,
        })
    }
}

/// The broker's session settings, kept on the status item by `presence reconcile` and shown by
/// `presence status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerFacts {
    pub clean_session: bool,
    /// Seconds.
    pub session_expiry: u64,
    /// Seconds.
    pub keep_alive_duration: u64,
    /// When the broker was asked (ms).
    pub checked_at: u64,
}

impl BrokerFacts {
    /// How soon the broker notices a dead client: 1.5 times the keep-alive (MQTT 3.1.1
    /// §3.1.2.10), so how soon a dead device shows up as disconnected.
    pub fn dead_client_detection_ms(&self) -> Option<u64> {
        (self.keep_alive_duration > 0).then(|| self.keep_alive_duration * 1500)
    }
}

/// The disconnection the alerter is tracking: pending (not yet alerted) or alerted and waiting
/// for the client to return. Stored on the status item as `outage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    #[serde(rename = "sessionIdentifier")]
    pub session: String,
    /// The connection's version; `None` for an outage recorded before outages named their
    /// connection (it then matches any version of its session).
    #[serde(
        rename = "versionNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub version: Option<u64>,
    #[serde(rename = "disconnectedAt")]
    pub disconnected_at: u64,
    #[serde(rename = "disconnectReason", default = "unknown_reason")]
    pub reason: String,
    /// When the `offline` notice went out; `None` while pending.
    #[serde(rename = "alertedAt", default, skip_serializing_if = "Option::is_none")]
    pub alerted_at: Option<u64>,
    /// The storm that held its `offline` notice (`crate::alert::storm::watch`), if one did.
    #[serde(rename = "heldBy", default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
}

fn unknown_reason() -> String {
    super::schema::REASON_UNKNOWN.to_owned()
}

/// A flapping episode that was notified. Stored on the status item as `flapping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Episode {
    /// Connect time of the first session of the window that started it.
    pub since: u64,
    pub alerted_at: u64,
}

/// One row of the event table: the event as received, and what became of it. Written once per
/// event (see [`super::events`]), read back by `history`, `rebuild` and the reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRow {
    pub client_id: String,
    pub event_key: String,
    pub event_type: String,
    #[serde(default)]
    pub session_identifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_number: Option<u64>,
    pub event_timestamp: u64,
    /// The event exactly as received (for a repair: the broker's answer).
    #[serde(default)]
    pub payload: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<u64>,
    pub outcome: Outcome,
    /// DynamoDB TTL, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_failure_reason: Option<String>,
    /// Why an event recorded as `invalid` was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<String>,
}

impl EventRow {
    pub fn from_item(item: Item) -> Result<Self, serde_dynamo::Error> {
        from_item(item)
    }

    pub fn to_item(&self) -> Item {
        // Every field is a string, a number or absent: encoding cannot fail.
        to_item(self).expect("an event row always encodes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::expr::{n, s};
    use crate::store::schema::attr;

    #[test]
    fn typed_items_use_the_schema_names() {
        let status = Status {
            clean_session: Some(true),
            outage: Some(Outage {
                session: "s".into(),
                version: Some(1),
                disconnected_at: 1,
                reason: "R".into(),
                alerted_at: Some(2),
                held_by: None,
            }),
            flapping: Some(Episode {
                since: 1,
                alerted_at: 2,
            }),
            ..Status::default()
        };
        let item = to_item(&status).unwrap();
        let mut written: Vec<&str> = attr::STATUS.to_vec();
        written.retain(|a| *a != attr::CONNECTED_SESSION);
        for name in written.iter().chain(&[
            attr::CLIENT_ID,
            attr::OFFLINE_THRESHOLD,
            attr::ALERT_SHARD,
            attr::ALERT_DUE_AT,
            attr::ALERT_LEASE,
            attr::ALERT_PASS,
            attr::OUTAGE,
            attr::PENDING_OUTAGE,
            attr::FLAPPING,
            attr::CLEAN_SESSION,
            attr::SESSION_EXPIRY,
            attr::KEEP_ALIVE,
            attr::BROKER_CHECKED_AT,
        ]) {
            assert!(item.contains_key(*name), "Status has no field for {name}");
        }
        let AttributeValue::M(outage) = &item[attr::OUTAGE] else {
            panic!("outage is a map")
        };
        for name in [
            attr::SESSION,
            attr::VERSION,
            attr::DISCONNECTED_AT,
            attr::DISCONNECT_REASON,
            attr::ALERTED_AT,
        ] {
            assert!(outage.contains_key(name), "Outage has no field for {name}");
        }
        let AttributeValue::M(episode) = &item[attr::FLAPPING] else {
            panic!("flapping is a map")
        };
        assert!(episode.contains_key(attr::SINCE) && episode.contains_key(attr::ALERTED_AT));
    }

    #[test]
    fn null_reads_as_unknown_and_a_wrong_type_is_an_error() {
        let mut item = Item::from([
            (attr::CLIENT_ID.to_owned(), s("c")),
            (attr::CONNECTED_AT.to_owned(), AttributeValue::Null(true)),
            (attr::EVENT_TIMESTAMP.to_owned(), n(5)),
        ]);
        let status = Status::from_item(item.clone()).unwrap();
        assert_eq!(status.connected_at, None);
        assert_eq!(status.event_timestamp, Some(5));
        assert!(!status.connected && !status.is_known());
        item.insert(attr::EVENT_TIMESTAMP.to_owned(), s("soon"));
        assert!(Status::from_item(item).is_err());
    }

    #[test]
    fn an_outage_without_a_version_or_reason_still_reads() {
        let map = Item::from([
            (attr::SESSION.to_owned(), s("s")),
            (attr::DISCONNECTED_AT.to_owned(), n(7)),
        ]);
        let outage: Outage = from_item(map).unwrap();
        assert_eq!(outage.version, None);
        assert_eq!(outage.reason, crate::store::schema::REASON_UNKNOWN);
    }
}
