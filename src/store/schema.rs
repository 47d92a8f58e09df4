//! The table contract: attribute names, index names, and how clients spread over index shards.
//!
//! One place for these facts: the handler, the alerter, the reconciler, the CLI and the
//! tooling (`xtask`) all read them from here, and `tests/template.rs` checks that
//! `template.yaml` declares the same names.

use crate::event::Presence;

/// Attribute names of both tables: the contract dashboards and the CLI read (docs/design.md "Tables: the contract dashboards read").
pub mod attr {
    pub const CLIENT_ID: &str = "clientId";
    pub const CONNECTED: &str = "connected";
    pub const EVENT_TYPE: &str = "eventType";
    pub const SESSION: &str = "sessionIdentifier";
    pub const VERSION: &str = "versionNumber";
    pub const EVENT_TIMESTAMP: &str = "eventTimestamp";
    pub const DISCONNECT_REASON: &str = "disconnectReason";
    pub const CLIENT_INITIATED: &str = "clientInitiatedDisconnect";
    pub const CONNECTED_AT: &str = "connectedAt";
    pub const DISCONNECTED_AT: &str = "disconnectedAt";
    pub const PRINCIPAL: &str = "principalIdentifier";
    pub const IP_ADDRESS: &str = "ipAddress";
    pub const THING_NAME: &str = "thingName";
    pub const UPDATED_AT: &str = "updatedAt";
    /// The event key of the event that last set the status (links the item to the event log,
    /// and recognises a redelivery of that very event).
    pub const LAST_EVENT_KEY: &str = "lastEventKey";
    /// Partition key of the status index: `connected#NN` or `disconnected#NN`.
    pub const STATUS_SHARD: &str = "statusShard";
    /// `{"{sessionIdentifier}#{versionNumber}": {connectedAt, ipAddress?}}` for the last
    /// connected event applied: lets a disconnect carry over its own *connection's* connect
    /// details and nobody else's (a persistent session has several connections; see
    /// [`connection_id`]). The name predates persistent sessions.
    pub const CONNECTED_SESSION: &str = "connectedSession";
    /// When `presence reconcile` set the status from the broker's answer (ms); removed by the
    /// next event that applies.
    pub const RECONCILED_AT: &str = "reconciledAt";
    /// How many status changes were applied to the client: one more with each applied
    /// lifecycle event and each repair, never with a bookkeeping write (alerts, settings, a
    /// shard migration). The PresenceChanged stream numbers its events with it
    /// (`crate::changes`). Not cleared by `rebuild --reset`: a sequence only grows.
    pub const CHANGE_SEQ: &str = "changeSeq";
    // The broker's session settings, as `GetConnection` last gave them (kept by reconcile).
    pub const CLEAN_SESSION: &str = "cleanSession";
    /// Seconds.
    pub const SESSION_EXPIRY: &str = "sessionExpiry";
    /// Seconds: the broker notices a dead client after 1.5 times this.
    pub const KEEP_ALIVE: &str = "keepAliveDuration";
    /// When the broker was last asked (ms).
    pub const BROKER_CHECKED_AT: &str = "brokerCheckedAt";

    /// Every attribute the status update writes besides the key: what `rebuild --reset`
    /// clears, leaving any settings stored on the item.
    pub const STATUS: [&str; 18] = [
        CONNECTED,
        EVENT_TYPE,
        SESSION,
        VERSION,
        EVENT_TIMESTAMP,
        DISCONNECT_REASON,
        CLIENT_INITIATED,
        CONNECTED_AT,
        DISCONNECTED_AT,
        PRINCIPAL,
        IP_ADDRESS,
        THING_NAME,
        UPDATED_AT,
        LAST_EVENT_KEY,
        STATUS_SHARD,
        CONNECTED_SESSION,
        EXPIRES_AT,
        RECONCILED_AT,
    ];

    // Alerts (written by the alerter and the CLI; see `crate::alert`). The status update
    // only sets `alertDueAt` (a connect: now; a disconnect: a minute on, unless already due)
    // and `alertShard` (a disconnect) to have it look.
    /// The client's own offline threshold (ms), a setting.
    pub const OFFLINE_THRESHOLD: &str = "offlineThresholdMs";
    /// Partition key of the alert index: `alert#NN`.
    pub const ALERT_SHARD: &str = "alertShard";
    /// Sort key of the alert index: when the alerter should look at the client (ms).
    pub const ALERT_DUE_AT: &str = "alertDueAt";
    /// Until when (ms) one alerter run holds the client while it sends notices.
    pub const ALERT_LEASE: &str = "alertLease";
    /// Which pass holds the lease, or last held it: kept after the commit, so that a pass whose
    /// answer was lost, and whose retried write is refused, can tell its own write from
    /// another pass's.
    pub const ALERT_PASS: &str = "alertPass";
    /// The alerted disconnection, waiting for the client to return: `{sessionIdentifier,
    /// versionNumber, disconnectedAt, disconnectReason, alertedAt}`. Projected into the status
    /// index, so that listings, the summary and the widget show standing offline alerts.
    pub const OUTAGE: &str = "outage";
    /// The disconnection being tracked before its offline notice (same shape, no `alertedAt`),
    /// set by the disconnect itself unless one is tracked already. Kept apart from `outage`
    /// and not projected into the status index: tracking and settling the nine outages in ten
    /// that never alert then write that index nothing.
    pub const PENDING_OUTAGE: &str = "pendingOutage";
    /// The notified flapping episode: `{since, alertedAt}`.
    pub const FLAPPING: &str = "flapping";
    pub const ALERTED_AT: &str = "alertedAt";
    pub const SINCE: &str = "since";

    // Event table.
    pub const EVENT_KEY: &str = "eventKey";
    pub const PAYLOAD: &str = "payload";
    pub const RECEIVED_AT: &str = "receivedAt";
    pub const OUTCOME: &str = "outcome";
    pub const EXPIRES_AT: &str = "expiresAt";
    pub const CONNECT_FAILURE_REASON: &str = "connectFailureReason";
    /// Why an event recorded as `invalid` was rejected.
    pub const INVALID_REASON: &str = "invalidReason";
}

/// Name of the status table's global secondary index (partition `statusShard`, sort
/// `eventTimestamp`), which lists connected clients and clients offline since before a time.
pub const STATUS_INDEX: &str = "status-index";

// The status index's shard count: its default and bounds are settings ([`crate::config`]);
// the count in force is the table's own ([`crate::store::shards`]).

/// Shards of the sparse alert index, fixed: it holds only clients with alert work due, and a
/// storm of reconnects moves a client in it once, so 16 partitions (16,000 writes/s) are not
/// what limits a storm; the status index is (two index writes per state change).
pub const ALERT_SHARDS: u32 = 16;

/// Name of the sparse alert index (partition `alertShard`, sort `alertDueAt`): only clients
/// with alert work due are in it, so the alerter's cost follows the alerts, not the fleet.
pub const ALERT_INDEX: &str = "alert-index";

/// The `alertShard` value of a client, e.g. `alert#07`.
pub fn alert_shard(client_id: &str) -> String {
    alert_partition(shard_of(client_id, ALERT_SHARDS))
}

/// The alert index partition of a shard number.
pub fn alert_partition(shard: u32) -> String {
    format!("alert#{shard:02}")
}

/// `disconnectReason` while connected, and for a disconnect that names none (the connectivity
/// APIs' vocabulary).
pub const REASON_NONE: &str = "NONE";
pub const REASON_UNKNOWN: &str = "UNKNOWN";

/// The shard of a client among `shards`: FNV-1a of its id, so it is stable across processes
/// and versions.
pub fn shard_of(client_id: &str, shards: u32) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in client_id.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % shards.max(1)
}

/// The `statusShard` value of a client in a state among `shards`, e.g. `connected#07`.
pub fn status_shard(client_id: &str, presence: Presence, shards: u32) -> String {
    status_partition(presence, shard_of(client_id, shards))
}

/// The status index partition of a state and a shard number: what [`status_shard`] gives every
/// client of that shard, and what a listing queries.
pub fn status_partition(presence: Presence, shard: u32) -> String {
    format!("{}#{shard:02}", presence.as_str())
}

/// The key of a connection in `connectedSession`: session and version, the pair that identifies
/// one connection (see [`crate::rule`]). The version comes last and is numeric, so the key is
/// unambiguous whatever the session identifier holds.
pub fn connection_id(session: &str, version: u64) -> String {
    format!("{session}#{version}")
}
