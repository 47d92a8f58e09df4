//! DynamoDB requests: the conditional status update and the event-log append.
//!
//! No read-then-write anywhere. The status item changes only through one conditional
//! `UpdateItem` whose condition ([`status_condition`]) encodes [`crate::decision::decide`];
//! DynamoDB evaluates it atomically, so racing invocations cannot overwrite a newer status.
//! When the condition fails, `ReturnValuesOnConditionCheckFailure=ALL_OLD` hands back the item
//! it was checked against, and the pure rule on that item tells `duplicate` from `stale`.
//!
//! Requests are built by pure functions ([`status_update`], [`event_row`]) so that the bench and
//! the tests can look at them without a server.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use thiserror::Error;

use crate::config::Config;
use crate::decision::{decide, Decision, Observed, Outcome, Rule, Window};
use crate::event::{LifecycleEvent, Presence};

/// Attribute names of both tables: the contract dashboards and the CLI read (see README).
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
    /// [`crate::store::connection_id`]). The name predates persistent sessions.
    pub const CONNECTED_SESSION: &str = "connectedSession";
    /// When `presence reconcile` set the status from the broker's answer (ms); removed by the
    /// next event that applies.
    pub const RECONCILED_AT: &str = "reconciledAt";
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

    // Alerts (written by the alerter and the CLI; see `crate::alerter`). The status update
    // only sets `alertDueAt` (any change) and `alertShard` (a disconnect) to have it look.
    /// The client's own offline threshold (ms), a setting.
    pub const OFFLINE_THRESHOLD: &str = "offlineThresholdMs";
    /// Partition key of the alert index: `alert#NN`.
    pub const ALERT_SHARD: &str = "alertShard";
    /// Sort key of the alert index: when the alerter should look at the client (ms).
    pub const ALERT_DUE_AT: &str = "alertDueAt";
    /// Until when (ms) one alerter run holds the client while it sends notices.
    pub const ALERT_LEASE: &str = "alertLease";
    /// The disconnection being tracked: `{sessionIdentifier, disconnectedAt, disconnectReason,
    /// alertedAt?}`.
    pub const OUTAGE: &str = "outage";
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

/// Shards of the status index. Each shard is a separate index partition, so state changes
/// spread over 16 partitions (16 × 1000 writes/s) and readers query the 16 in parallel.
pub const STATUS_SHARDS: u32 = 16;

/// Name of the sparse alert index (partition `alertShard`, sort `alertDueAt`): only clients
/// with alert work due are in it, so the alerter's cost follows the alerts, not the fleet.
pub const ALERT_INDEX: &str = "alert-index";

/// The `alertShard` value of a client, e.g. `alert#07`.
pub fn alert_shard(client_id: &str) -> String {
    alert_partition(shard_of(client_id))
}

/// The alert index partition of a shard number.
pub fn alert_partition(shard: u32) -> String {
    format!("alert#{shard:02}")
}

/// `disconnectReason` while connected, and for a disconnect that names none (the connectivity
/// APIs' vocabulary).
pub const REASON_NONE: &str = "NONE";
pub const REASON_UNKNOWN: &str = "UNKNOWN";

/// The shard of a client: FNV-1a of its id, so it is stable across processes and versions.
pub fn shard_of(client_id: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in client_id.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % STATUS_SHARDS
}

/// The `statusShard` value of a client in a state, e.g. `connected#07`.
pub fn status_shard(client_id: &str, presence: Presence) -> String {
    format!("{}#{:02}", presence.as_str(), shard_of(client_id))
}

/// The key of a connection in `connectedSession`: session and version, the pair that identifies
/// one connection (see [`crate::decision`]). The version comes last and is numeric, so the key is
/// unambiguous whatever the session identifier holds.
pub fn connection_id(session: &str, version: u64) -> String {
    format!("{session}#{version}")
}

/// Placeholders of an expression. Every attribute name goes through `#name` placeholders, so
/// reserved words never bite.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Placeholders {
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl Placeholders {
    pub(crate) fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{attr}");
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    pub(crate) fn value(
        &mut self,
        placeholder: &'static str,
        value: AttributeValue,
    ) -> &'static str {
        self.values.insert(placeholder.to_owned(), value);
        placeholder
    }

    /// A value placeholder `:{key}` named at run time.
    pub(crate) fn bind(&mut self, key: &str, value: AttributeValue) -> String {
        let placeholder = format!(":{key}");
        self.values.insert(placeholder.clone(), value);
        placeholder
    }
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// The condition under which `event` replaces the status item: [`decide`] returns `Apply`
/// exactly when this expression is true of the stored item. Each clause names its rule row.
///
/// DynamoDB cannot add to an attribute in a condition, so the window's arithmetic moves to the
/// value side: `I.ts < E.ts - W` ⇔ `E.ts > I.ts + W`, and `I.ts <= E.ts + W` ⇔ `E.ts >= I.ts - W`.
pub fn status_condition(p: &mut Placeholders, event: &Observed<'_>, window: Window) -> String {
    let session = p.name(attr::SESSION);
    let event_type = p.name(attr::EVENT_TYPE);
    let ts = p.name(attr::EVENT_TIMESTAMP);
    let version = p.name(attr::VERSION);
    let sid = p.value(":sid", s(event.session));
    let (e_ts, w) = (i128::from(event.timestamp), i128::from(window.ms()));
    let ts_minus_w = p.value(":tsMinusW", n(e_ts - w));
    let ts_plus_w = p.value(":tsPlusW", n(e_ts + w));
    let v = p.value(":version", n(event.version));

    // Rule 1: no status yet. An item without a session (e.g. settings written before any
    // event) counts as no status, as in `decide`, which sees `None` for it.
    // Rule 2: newer by more than W applies (older by more than W is stale: it fails every
    // clause, since the rows below need `I.ts >= E.ts - W`, which rule 2's clause excludes).
    let mut condition = format!("attribute_not_exists({session}) OR {ts} < {ts_minus_w}");
    // Rule 4: inside W, a higher version applies. A lower-or-equal stored version never
    // belongs to another connection *and* lets the event apply, so `I.version < E.version`
    // needs no session test: an equal version is either the same connection (rule 3) or stale.
    let mut inside = format!("{version} < {v}");
    // Rule 3: inside W, the same connection; only a disconnect of a connected connection
    // applies. (A connected event never passes rule 3, so its clause is left out rather than
    // made always false.)
    if event.presence == Presence::Disconnected {
        let connected = p.value(":connectedType", s(Presence::Connected.as_str()));
        inside.push_str(&format!(
            " OR ({session} = {sid} AND {version} = {v} AND {event_type} = {connected})"
        ));
    }
    condition.push_str(&format!(" OR ({ts} <= {ts_plus_w} AND ({inside}))"));
    condition
}

/// A complete conditional `UpdateItem` of a status item, before it is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub key: HashMap<String, AttributeValue>,
    pub update: String,
    pub condition: String,
    pub placeholders: Placeholders,
}

/// Builds the status update for a connected/disconnected event (`None` for connect_failed,
/// which never touches the status).
/// With `status_retention_days` above 0 the item gets `expiresAt` (DynamoDB TTL, epoch seconds)
/// that many days after this write: a client silent that long disappears with its personal data
/// (`ipAddress`, `principalIdentifier`) and its settings.
pub fn status_update(
    event: &LifecycleEvent,
    event_key: &str,
    window: Window,
    now_ms: u64,
    status_retention_days: u32,
) -> Option<StatusUpdate> {
    let observed = event.observed()?;
    let mut p = Placeholders::default();
    let condition = status_condition(&mut p, &observed, window);

    let mut set: Vec<String> = Vec::with_capacity(18);
    let mut remove: Vec<String> = Vec::with_capacity(4);
    let mut assign = |p: &mut Placeholders, attr: &str, value: &str| {
        let name = p.name(attr);
        set.push(format!("{name} = {value}"));
    };
    let ts = p.value(":ts", n(event.timestamp));
    let presence = p.value(":presence", s(observed.presence.as_str()));
    let key_value = p.value(":eventKey", s(event_key));
    let now = p.value(":now", n(now_ms));
    let shard = p.value(
        ":shard",
        s(status_shard(&event.client_id, observed.presence)),
    );
    assign(&mut p, attr::EVENT_TYPE, presence);
    assign(&mut p, attr::SESSION, ":sid");
    assign(&mut p, attr::VERSION, ":version");
    assign(&mut p, attr::EVENT_TIMESTAMP, ts);
    assign(&mut p, attr::UPDATED_AT, now);
    assign(&mut p, attr::LAST_EVENT_KEY, key_value);
    assign(&mut p, attr::STATUS_SHARD, shard);
    // Every status change asks the alerter to look now (an item is in the alert index only
    // while it has an `alertShard`, which a disconnect sets and the alerter removes once
    // nothing is left to watch). The alerter alone decides what the change means.
    assign(&mut p, attr::ALERT_DUE_AT, now);
    // A lifecycle event replaces a repair (see `crate::reconcile`).
    remove.push(p.name(attr::RECONCILED_AT));
    if status_retention_days > 0 {
        let expires_at = now_ms / 1000 + u64::from(status_retention_days) * 86_400;
        let v = p.value(":expiresAt", n(expires_at));
        assign(&mut p, attr::EXPIRES_AT, v);
    } else {
        remove.push(p.name(attr::EXPIRES_AT));
    }
    if let Some(principal) = &event.principal_identifier {
        let v = p.value(":principal", s(principal));
        assign(&mut p, attr::PRINCIPAL, v);
    }
    if let Some(thing) = &event.thing_name {
        let v = p.value(":thing", s(thing));
        assign(&mut p, attr::THING_NAME, v);
    }

    match observed.presence {
        Presence::Connected => {
            let connected = p.value(":connected", AttributeValue::Bool(true));
            assign(&mut p, attr::CONNECTED, connected);
            let reason = p.value(":reason", s(REASON_NONE));
            assign(&mut p, attr::DISCONNECT_REASON, reason);
            assign(&mut p, attr::CONNECTED_AT, ts);
            let mut details = HashMap::from([(attr::CONNECTED_AT.to_owned(), n(event.timestamp))]);
            match &event.ip_address {
                Some(ip) => {
                    details.insert(attr::IP_ADDRESS.to_owned(), s(ip));
                    let v = p.value(":ip", s(ip));
                    assign(&mut p, attr::IP_ADDRESS, v);
                }
                None => remove.push(p.name(attr::IP_ADDRESS)),
            }
            let session_map = HashMap::from([(
                connection_id(&event.session_identifier, observed.version),
                AttributeValue::M(details),
            )]);
            let v = p.value(":connectedSession", AttributeValue::M(session_map));
            assign(&mut p, attr::CONNECTED_SESSION, v);
            if event.thing_name.is_none() {
                remove.push(p.name(attr::THING_NAME));
            }
            remove.push(p.name(attr::DISCONNECTED_AT));
            remove.push(p.name(attr::CLIENT_INITIATED));
        }
        Presence::Disconnected => {
            let alert_shard = p.value(":alertShard", s(alert_shard(&event.client_id)));
            assign(&mut p, attr::ALERT_SHARD, alert_shard);
            let connected = p.value(":connected", AttributeValue::Bool(false));
            assign(&mut p, attr::CONNECTED, connected);
            let reason = event.disconnect_reason.as_deref().unwrap_or(REASON_UNKNOWN);
            let reason = p.value(":reason", s(reason));
            assign(&mut p, attr::DISCONNECT_REASON, reason);
            assign(&mut p, attr::DISCONNECTED_AT, ts);
            match event.client_initiated_disconnect {
                Some(b) => {
                    let v = p.value(":clientInitiated", AttributeValue::Bool(b));
                    assign(&mut p, attr::CLIENT_INITIATED, v);
                }
                None => remove.push(p.name(attr::CLIENT_INITIATED)),
            }
            // Carry over this connection's connect time and address if its connected event was
            // applied; otherwise they are unknown (NULL), never another connection's values
            // (not even those of an earlier connection of the same persistent session).
            let unknown = p.value(":unknown", AttributeValue::Null(true));
            let map = p.name(attr::CONNECTED_SESSION);
            p.names.insert(
                "#thisConnection".to_owned(),
                connection_id(&event.session_identifier, observed.version),
            );
            for field in [attr::CONNECTED_AT, attr::IP_ADDRESS] {
                let field_name = p.name(field);
                let value = format!("if_not_exists({map}.#thisConnection.{field_name}, {unknown})");
                assign(&mut p, field, &value);
            }
        }
    }

    let mut update = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        update.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    Some(StatusUpdate {
        key: HashMap::from([(attr::CLIENT_ID.to_owned(), s(&event.client_id))]),
        update,
        condition,
        placeholders: p,
    })
}

/// The event-table row of an event.
pub fn event_row(
    event: &LifecycleEvent,
    event_key: &str,
    payload: &str,
    outcome: Outcome,
    now_ms: u64,
    retention_days: u32,
) -> HashMap<String, AttributeValue> {
    let expires_at = now_ms / 1000 + u64::from(retention_days) * 86_400;
    let mut item = HashMap::from([
        (attr::CLIENT_ID.to_owned(), s(&event.client_id)),
        (attr::EVENT_KEY.to_owned(), s(event_key)),
        (attr::EVENT_TYPE.to_owned(), s(event.event_type.as_str())),
        (attr::SESSION.to_owned(), s(&event.session_identifier)),
        (attr::EVENT_TIMESTAMP.to_owned(), n(event.timestamp)),
        (attr::PAYLOAD.to_owned(), s(payload)),
        (attr::RECEIVED_AT.to_owned(), n(now_ms)),
        (attr::OUTCOME.to_owned(), s(outcome.as_str())),
        (attr::EXPIRES_AT.to_owned(), n(expires_at)),
    ]);
    if let Some(v) = event.version_number {
        item.insert(attr::VERSION.to_owned(), n(v));
    }
    if let Some(reason) = &event.disconnect_reason {
        item.insert(attr::DISCONNECT_REASON.to_owned(), s(reason));
    }
    if let Some(reason) = &event.connect_failure_reason {
        item.insert(attr::CONNECT_FAILURE_REASON.to_owned(), s(reason));
    }
    item
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub event_key: String,
    pub outcome: Outcome,
    /// The rule row that decided, when this delivery evaluated the rule; `None` for
    /// connect_failed and for a redelivery of the event that set the status.
    pub rule: Option<Rule>,
    /// True when the event row already existed (a redelivery): `outcome` is the stored one.
    pub redelivered: bool,
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("DynamoDB UpdateItem on status table {table} for client {client_id:?} failed")]
    UpdateStatus {
        table: String,
        client_id: String,
        #[source]
        source: Box<SdkError<UpdateItemError>>,
    },
    #[error("DynamoDB PutItem on event table {table} for client {client_id:?} failed")]
    PutEvent {
        table: String,
        client_id: String,
        #[source]
        source: Box<SdkError<PutItemError>>,
    },
    #[error("item of client {client_id:?} in table {table} is malformed: {problem}")]
    Malformed {
        table: String,
        client_id: String,
        problem: String,
    },
    #[error(
        "DynamoDB refused the update of client {client_id:?} in {table}, yet the ordering rule \
         applies the event over the item it returned; the condition and the rule disagree"
    )]
    RuleDisagreement { table: String, client_id: String },
}

/// DynamoDB error codes worth a retry.
const TRANSIENT_CODES: [&str; 7] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "ReplicatedWriteConflictException",
];

pub(crate) fn sdk_error_is_transient<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || service
                    .err()
                    .code()
                    .is_some_and(|code| TRANSIENT_CODES.contains(&code))
        }
        _ => false,
    }
}

impl StoreError {
    /// Throttling, timeouts, connection failures and 5xx: a retry may succeed. Lambda retries
    /// every failed invocation anyway; this tells the logs and the error type which kind it was.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::UpdateStatus { source, .. } => sdk_error_is_transient(source),
            StoreError::PutEvent { source, .. } => sdk_error_is_transient(source),
            StoreError::Malformed { .. } | StoreError::RuleDisagreement { .. } => false,
        }
    }
}

/// A DynamoDB item, as the SDK hands it over.
pub type Item = HashMap<String, AttributeValue>;

/// Splits a conditional write's result: `Ok(Ok(output))` when it was written, `Ok(Err(item))`
/// when its condition failed (`item`: what the condition was checked against, from `ALL_OLD`),
/// `Err` for every other failure.
pub(crate) fn split_refusal<O, E>(
    result: Result<O, SdkError<E>>,
    refusal: fn(&E) -> Option<&ConditionalCheckFailedException>,
) -> Result<Result<O, Option<Item>>, Box<SdkError<E>>> {
    match result {
        Ok(output) => Ok(Ok(output)),
        Err(SdkError::ServiceError(service)) => match refusal(service.err()) {
            Some(refused) => Ok(Err(refused.item.clone())),
            None => Err(Box::new(SdkError::ServiceError(service))),
        },
        Err(other) => Err(Box::new(other)),
    }
}

/// The stored status as the rule sees it, plus the key of the event that set it.
struct StoredStatus<'a> {
    observed: Option<Observed<'a>>,
    last_event_key: Option<&'a str>,
}

/// A string attribute, if present.
pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// A non-negative number attribute; absent or NULL (an unknown value, e.g. `connectedAt` of a
/// session whose connect was not seen) is `None`, any other type an error naming the attribute.
pub(crate) fn get_u64(item: &Item, name: &str) -> Result<Option<u64>, String> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("`{name}` is {v:?}, not a non-negative integer")),
        Some(other) => Err(format!("`{name}` is {other:?}, not a number")),
    }
}

/// Reads a status item into what the rule needs. An item without a session has no status yet.
fn stored_status(item: &Item) -> Result<StoredStatus<'_>, String> {
    let last_event_key = get_s(item, attr::LAST_EVENT_KEY);
    let Some(session) = get_s(item, attr::SESSION) else {
        return Ok(StoredStatus {
            observed: None,
            last_event_key,
        });
    };
    let presence = get_s(item, attr::EVENT_TYPE)
        .and_then(Presence::parse)
        .ok_or_else(|| format!("`{}` is not connected or disconnected", attr::EVENT_TYPE))?;
    let version = get_u64(item, attr::VERSION)?.ok_or(format!("`{}` is missing", attr::VERSION))?;
    let timestamp = get_u64(item, attr::EVENT_TIMESTAMP)?
        .ok_or(format!("`{}` is missing", attr::EVENT_TIMESTAMP))?;
    Ok(StoredStatus {
        observed: Some(Observed {
            session,
            presence,
            version,
            timestamp,
        }),
        last_event_key,
    })
}

/// The two tables and the settings the writes need.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) client: Client,
    pub(crate) status_table: String,
    pub(crate) events_table: String,
    pub(crate) window: Window,
    pub(crate) retention_days: u32,
    future_skew_ms: u64,
    pub(crate) status_retention_days: u32,
}

impl Store {
    pub fn new(client: Client, config: &Config) -> Self {
        Store {
            client,
            status_table: config.status_table.clone(),
            events_table: config.events_table.clone(),
            window: config.window,
            retention_days: config.retention_days,
            future_skew_ms: config.future_skew_ms,
            status_retention_days: config.status_retention_days,
        }
    }

    /// Records one validated event: updates the status (if the rule says so), then appends the
    /// event row with its outcome.
    ///
    /// The status goes first so that the row can carry the outcome in a single write. If the
    /// process dies between the two, Lambda retries the invocation; the retry's update is
    /// refused, the returned item's `lastEventKey` shows that this very event set it, and the row
    /// is written as `applied`, as in a clean delivery. (The one case a retry cannot recover is
    /// a newer event overtaking in between: the row then says `stale`; the status is right.)
    pub async fn record(
        &self,
        event: &LifecycleEvent,
        payload: &str,
        now_ms: u64,
    ) -> Result<Recorded, StoreError> {
        let event_key = event.event_key();
        if let Err(rejected) = event.check_not_from_the_future(now_ms, self.future_skew_ms) {
            // Kept, with the reason, so that nothing is dropped silently; never applied.
            let mut row = event_row(
                event,
                &event_key,
                payload,
                Outcome::Invalid,
                now_ms,
                self.retention_days,
            );
            row.insert(attr::INVALID_REASON.to_owned(), s(rejected.to_string()));
            let (outcome, redelivered) = self.append_event(event, Outcome::Invalid, row).await?;
            return Ok(Recorded {
                event_key,
                outcome,
                rule: None,
                redelivered,
            });
        }
        let (outcome, rule) = self.apply_status(event, &event_key, now_ms).await?;
        let row = event_row(
            event,
            &event_key,
            payload,
            outcome,
            now_ms,
            self.retention_days,
        );
        let (outcome, redelivered) = self.append_event(event, outcome, row).await?;
        Ok(Recorded {
            event_key,
            outcome,
            rule,
            redelivered,
        })
    }

    /// The status half of [`Store::record`]: the conditional update alone (`recorded` for
    /// connect_failed, which never touches the status). `presence rebuild` replays the event
    /// log through it.
    pub async fn apply_status(
        &self,
        event: &LifecycleEvent,
        event_key: &str,
        now_ms: u64,
    ) -> Result<(Outcome, Option<Rule>), StoreError> {
        match (
            event.observed(),
            status_update(
                event,
                event_key,
                self.window,
                now_ms,
                self.status_retention_days,
            ),
        ) {
            (Some(observed), Some(update)) => {
                self.update_status(event, observed, event_key, update).await
            }
            _ => Ok((Outcome::Recorded, None)),
        }
    }

    async fn update_status(
        &self,
        event: &LifecycleEvent,
        observed: Observed<'_>,
        event_key: &str,
        update: StatusUpdate,
    ) -> Result<(Outcome, Option<Rule>), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.status_table)
            .set_key(Some(update.key))
            .update_expression(update.update)
            .condition_expression(update.condition)
            .set_expression_attribute_names(Some(update.placeholders.names))
            .set_expression_attribute_values(Some(update.placeholders.values))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let result = split_refusal(result, |e| match e {
            UpdateItemError::ConditionalCheckFailedException(refused) => Some(refused),
            _ => None,
        });
        let malformed = |problem: String| StoreError::Malformed {
            table: self.status_table.clone(),
            client_id: event.client_id.clone(),
            problem,
        };
        let disagreement = || StoreError::RuleDisagreement {
            table: self.status_table.clone(),
            client_id: event.client_id.clone(),
        };
        let refused_item = match result {
            Ok(Ok(output)) => {
                // The condition held. The old item (ALL_OLD: returned, not read) names the rule
                // row for the log, and re-checks the condition against the rule in production.
                let old = output.attributes.unwrap_or_default();
                let stored = stored_status(&old).map_err(malformed)?;
                let verdict = decide(stored.observed.as_ref(), &observed, self.window);
                return match verdict.decision {
                    Decision::Apply => Ok((Outcome::Applied, Some(verdict.rule))),
                    Decision::Duplicate | Decision::Stale => Err(disagreement()),
                };
            }
            Ok(Err(refused_item)) => refused_item,
            Err(source) => {
                return Err(StoreError::UpdateStatus {
                    table: self.status_table.clone(),
                    client_id: event.client_id.clone(),
                    source,
                })
            }
        };
        let item = refused_item.ok_or_else(|| {
            malformed("the refused update returned no item (ALL_OLD unsupported?)".into())
        })?;
        let stored = stored_status(&item).map_err(malformed)?;
        if stored.last_event_key == Some(event_key) {
            // A redelivery of the event that set the status.
            return Ok((Outcome::Applied, None));
        }
        let verdict = decide(stored.observed.as_ref(), &observed, self.window);
        match verdict.decision {
            Decision::Duplicate => Ok((Outcome::Duplicate, Some(verdict.rule))),
            Decision::Stale => Ok((Outcome::Stale, Some(verdict.rule))),
            Decision::Apply => Err(disagreement()),
        }
    }

    /// Sets (or with `None` clears) a client's own offline threshold, and asks the alerter to
    /// look at the client now, so a pending alert moves to the new threshold at its next pass.
    /// Works before the client's first event too (the item then holds only settings).
    pub async fn set_offline_threshold(
        &self,
        client_id: &str,
        threshold_ms: Option<u64>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.status_table)
            .key(attr::CLIENT_ID, s(client_id))
            .expression_attribute_names("#threshold", attr::OFFLINE_THRESHOLD)
            .expression_attribute_names("#due", attr::ALERT_DUE_AT)
            .expression_attribute_values(":now", n(now_ms));
        request = match threshold_ms {
            Some(ms) => request
                .update_expression("SET #threshold = :threshold, #due = :now")
                .expression_attribute_values(":threshold", n(ms)),
            None => request.update_expression("SET #due = :now REMOVE #threshold"),
        };
        request
            .send()
            .await
            .map_err(|source| StoreError::UpdateStatus {
                table: self.status_table.clone(),
                client_id: client_id.to_owned(),
                source: Box::new(source),
            })?;
        Ok(())
    }

    /// Writes the event row once. A redelivery finds the row and answers with its stored
    /// outcome, so invoking again with the same event changes nothing and answers the same way.
    /// The one overwrite allowed: an `applied` outcome replaces another, because a concurrent
    /// delivery of the same event may have written `stale` after seeing a newer status while
    /// this delivery is the one whose update applied.
    async fn append_event(
        &self,
        event: &LifecycleEvent,
        outcome: Outcome,
        row: Item,
    ) -> Result<(Outcome, bool), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.events_table)
            .set_item(Some(row))
            .expression_attribute_names("#eventKey", attr::EVENT_KEY)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        request = if outcome == Outcome::Applied {
            request
                .condition_expression("attribute_not_exists(#eventKey) OR #outcome <> :applied")
                .expression_attribute_names("#outcome", attr::OUTCOME)
                .expression_attribute_values(":applied", s(Outcome::Applied.as_str()))
        } else {
            request.condition_expression("attribute_not_exists(#eventKey)")
        };
        let result = split_refusal(request.send().await, |e| match e {
            PutItemError::ConditionalCheckFailedException(refused) => Some(refused),
            _ => None,
        });
        let existing = match result {
            Ok(Ok(_)) => return Ok((outcome, false)),
            Ok(Err(existing)) => existing,
            Err(source) => {
                return Err(StoreError::PutEvent {
                    table: self.events_table.clone(),
                    client_id: event.client_id.clone(),
                    source,
                })
            }
        };
        let stored = existing
            .as_ref()
            .and_then(|item| get_s(item, attr::OUTCOME))
            .and_then(Outcome::parse)
            .ok_or_else(|| StoreError::Malformed {
                table: self.events_table.clone(),
                client_id: event.client_id.clone(),
                problem: "the existing event row has no valid `outcome`".into(),
            })?;
        Ok((stored, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> LifecycleEvent {
        LifecycleEvent::parse(json).unwrap()
    }

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard_of("test"), shard_of("test"));
        let mut counts = [0u32; STATUS_SHARDS as usize];
        for i in 0..16_000 {
            counts[shard_of(&format!("device-{i}")) as usize] += 1;
        }
        // 1000 expected per shard; FNV-1a keeps every shard within 10%.
        assert!(
            counts.iter().all(|&c| (900..=1100).contains(&c)),
            "{counts:?}"
        );
        assert!(status_shard("test", Presence::Connected).starts_with("connected#"));
        assert_eq!(
            status_shard("test", Presence::Disconnected).len(),
            "disconnected#00".len()
        );
    }

    #[test]
    fn connect_failed_builds_no_status_update() {
        let e = event(
            r#"{"clientId":"c","timestamp":1,"eventType":"connect_failed","sessionIdentifier":"s"}"#,
        );
        assert!(status_update(&e, &e.event_key(), Window::DEFAULT, 0, 0).is_none());
    }

    #[test]
    fn every_placeholder_is_defined_and_used() {
        for json in [
            r#"{"clientId":"c","timestamp":5,"eventType":"connected","sessionIdentifier":"s","versionNumber":1,"ipAddress":"1.2.3.4","principalIdentifier":"p","thingName":"t"}"#,
            r#"{"clientId":"c","timestamp":5,"eventType":"connected","sessionIdentifier":"s","versionNumber":1,"ipAddress":""}"#,
            r#"{"clientId":"c","timestamp":5,"eventType":"disconnected","sessionIdentifier":"s","versionNumber":1,"disconnectReason":"CONNECTION_LOST","clientInitiatedDisconnect":false}"#,
            r#"{"clientId":"c","timestamp":5,"eventType":"disconnected","sessionIdentifier":"s","versionNumber":1}"#,
        ] {
            let e = event(json);
            let u = status_update(&e, &e.event_key(), Window::DEFAULT, 9_000, 30).unwrap();
            let text = format!("{} {}", u.update, u.condition);
            for name in u
                .placeholders
                .names
                .keys()
                .chain(u.placeholders.values.keys())
            {
                assert!(text.contains(name.as_str()), "{name} unused in {text}");
            }
            // Every placeholder the expressions use is defined (DynamoDB rejects both kinds of
            // mismatch with a ValidationException).
            for token in text.split(|c: char| !(c.is_alphanumeric() || c == '#' || c == ':')) {
                if token.starts_with('#') {
                    assert!(
                        u.placeholders.names.contains_key(token),
                        "{token} undefined"
                    );
                } else if token.starts_with(':') {
                    assert!(
                        u.placeholders.values.contains_key(token),
                        "{token} undefined"
                    );
                }
            }
        }
    }

    #[test]
    fn window_arithmetic_moves_to_the_value_side() {
        let e = event(
            r#"{"clientId":"c","timestamp":100,"eventType":"connected","sessionIdentifier":"s","versionNumber":1}"#,
        );
        let mut p = Placeholders::default();
        let cond = status_condition(&mut p, &e.observed().unwrap(), Window(120_000));
        assert_eq!(p.values[":tsMinusW"], n(-119_900));
        assert_eq!(p.values[":tsPlusW"], n(120_100));
        assert!(
            !cond.contains(":connectedType"),
            "a connect never ends a session: {cond}"
        );
    }

    #[test]
    fn event_rows_keep_the_payload_verbatim_and_expire() {
        let raw = "{ \"clientId\":\"c\", \"timestamp\":5,\"eventType\":\"connect_failed\",\"sessionIdentifier\":\"s\" }";
        let e = event(raw);
        let row = event_row(&e, &e.event_key(), raw, Outcome::Recorded, 1_000_000, 30);
        assert_eq!(row[attr::PAYLOAD], s(raw));
        assert_eq!(row[attr::OUTCOME], s("recorded"));
        assert_eq!(row[attr::EXPIRES_AT], n(1_000 + 30 * 86_400));
        assert!(!row.contains_key(attr::VERSION));
    }
}
