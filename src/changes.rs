//! PresenceChanged: one event per applied status change, for other systems (pure).
//!
//! Raw lifecycle events are no use to a consumer: they come duplicated, out of order and late.
//! The applied changes are clean, and the status table's stream carries each of them, in order
//! per client (a stream shard is read in order, and all of one item's records are in one
//! shard). Every write that moves a status (an applied lifecycle event, a repair by
//! `presence reconcile`) adds one to the item's `changeSeq` ([`attr::CHANGE_SEQ`]); every other
//! write (alert bookkeeping, settings, a shard migration, a TTL deletion) leaves it. So a
//! stream record is a change exactly when its new image's sequence is above its old image's:
//! [`change`] decides that from the two images alone, with no read.
//!
//! The event id is `{clientId}#{sequence}`: a redelivery (the function retried after putting
//! the events, before its checkpoint) repeats an id, never skips one, so a consumer orders by
//! `sequence` and drops ids it has seen. The detail carries no personal data (no principal, no
//! IP address): a consumer that needs them asks the tables.
//!
//! The schema: docs/presence-changed.schema.json (checked against [`PresenceChanged`] by
//! `tests/changes.rs`); docs/events.md for consumers.

use serde::{Deserialize, Serialize};

use crate::event::Presence;
use crate::store::item::Status;
use crate::time::iso_millis;

/// The events' `source` on EventBridge.
pub const SOURCE: &str = "iot-presence";
/// The events' `detail-type`.
pub const DETAIL_TYPE: &str = "Presence Changed";
/// The detail's `schemaVersion`: a consumer can refuse a version it does not know.
pub const SCHEMA_VERSION: u32 = 1;

/// The detail of one PresenceChanged event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceChanged {
    pub schema_version: u32,
    /// `{clientId}#{sequence}`: stable across redeliveries.
    pub event_id: String,
    pub client_id: String,
    /// One more per applied change of this client, from 1.
    pub sequence: u64,
    pub state: Presence,
    /// `None` for the client's first status.
    pub previous_state: Option<Presence>,
    /// Since when the client is in `state` (RFC 3339, ms), and as epoch ms.
    pub since: String,
    pub since_ms: u64,
    /// While disconnected: AWS's reason (`CONNECTION_LOST`, ...).
    pub disconnect_reason: Option<String>,
    pub client_initiated_disconnect: Option<bool>,
    /// The connection (`None` after a repair, which knows no session).
    pub session_identifier: Option<String>,
    pub version_number: Option<u64>,
    /// A connect that resumed the session of the previous connection (a persistent session).
    pub session_resumed: bool,
    /// On a reconnect: how long the client was offline, ms.
    pub outage_ms: Option<u64>,
    /// Set by `presence reconcile` from the broker's answer, not by a lifecycle event.
    pub reconciled: bool,
    pub thing_name: Option<String>,
}

impl PresenceChanged {
    /// The event id of `client_id`'s change number `sequence`.
    pub fn event_id(client_id: &str, sequence: u64) -> String {
        format!("{client_id}#{sequence}")
    }
}

/// The change a stream record stands for: `old` and `new` are its images (`None`: no item
/// before, or none after). `None` when the record moved no status (bookkeeping, a deletion).
pub fn change(old: Option<&Status>, new: Option<&Status>) -> Option<PresenceChanged> {
    let new = new.filter(|n| n.is_known())?;
    let sequence = new.change_seq?;
    let before = old.and_then(|o| o.change_seq).unwrap_or(0);
    if sequence <= before {
        return None;
    }
    let previous = old.filter(|o| o.is_known());
    let state = new.presence();
    let since_ms = new.since().unwrap_or_default();
    let reconciled = new.reconciled_at.is_some();
    let outage_ms = match (state, previous) {
        (Presence::Connected, Some(p)) if !p.connected => p
            .disconnected_at
            .or(p.event_timestamp)
            .map(|down| since_ms.saturating_sub(down)),
        _ => None,
    };
    let session_resumed = state == Presence::Connected
        && !reconciled
        && previous.is_some_and(|p| {
            p.reconciled_at.is_none() && p.session_identifier == new.session_identifier
        });
    let disconnected = state == Presence::Disconnected;
    Some(PresenceChanged {
        schema_version: SCHEMA_VERSION,
        event_id: PresenceChanged::event_id(&new.client_id, sequence),
        client_id: new.client_id.clone(),
        sequence,
        state,
        previous_state: previous.map(Status::presence),
        since: iso_millis(since_ms),
        since_ms,
        disconnect_reason: new.disconnect_reason.clone().filter(|_| disconnected),
        client_initiated_disconnect: new.client_initiated_disconnect.filter(|_| disconnected),
        session_identifier: new.session_identifier.clone().filter(|_| !reconciled),
        version_number: new.version_number.filter(|_| !reconciled),
        session_resumed,
        outage_ms,
        reconciled,
        thing_name: new.thing_name.clone(),
    })
}

#[cfg(test)]
mod tests;
