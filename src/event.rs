//! AWS IoT Core lifecycle events: parsing and validation.
//!
//! The payload is read field by field from a `serde_json` map rather than through a derived
//! struct, so that every rejection names the field and says what was expected (serde's derived
//! messages name a line and column, not the field an operator has to fix). Unknown fields are
//! ignored: AWS adds fields over time and the IoT rule adds its own.

use serde_json::{Map, Value};
use thiserror::Error;

use crate::errors::shown;

/// AWS IoT Core limits client ids to 128 bytes (UTF-8).
pub const MAX_CLIENT_ID_BYTES: usize = 128;
/// Session identifiers are UUIDs (36 bytes); 128 leaves room for a format change while keeping
/// the event key (which embeds the session) far below DynamoDB's 1,024-byte sort-key limit.
pub const MAX_SESSION_BYTES: usize = 128;
/// AWS IoT thing names are at most 128 bytes.
pub const MAX_THING_NAME_BYTES: usize = 128;
/// Every other string field (principal, reasons): an IAM principal is `KEYID:session-name` or
/// `KEYID:email`, well under this; a reason is a short enum-like word.
pub const MAX_FIELD_BYTES: usize = 1024;
/// The largest payload accepted: AWS IoT Core's MQTT message size limit (128 KiB). The raw
/// payload is stored in the event row, whose item must stay under DynamoDB's 400 KB.
pub const MAX_PAYLOAD_BYTES: usize = 128 * 1024;
/// DynamoDB's limit on a sort key (the event key), in bytes.
pub const MAX_SORT_KEY_BYTES: usize = 1024;
/// The longest event key an accepted event can have: 13 digits, `#`, the longest event type,
/// `#`, the longest session, `#v` and the longest version (20 digits; connect_failed, the
/// longest type, has no version, so this over-counts by two characters at most). Checked
/// against DynamoDB's limit at compile time.
pub const MAX_EVENT_KEY_BYTES: usize =
    13 + 1 + "connect_failed".len() + 1 + MAX_SESSION_BYTES + 2 + 20;
const _: () = assert!(MAX_EVENT_KEY_BYTES <= MAX_SORT_KEY_BYTES);

/// The largest timestamp we accept: 13 decimal digits of epoch milliseconds (year 2286).
/// Event keys zero-pad the timestamp to 13 digits so that a key range is a time range; a larger
/// value would sort wrongly, and is not a lifecycle timestamp anyway.
pub const MAX_TIMESTAMP_MS: u64 = 9_999_999_999_999;

/// Every lifecycle topic starts with this: `$aws/events/presence/{eventType}/{clientId}`.
pub const PRESENCE_TOPIC_PREFIX: &str = "$aws/events/presence/";
/// The field the IoT rule adds with `topic(4)`: the event type from the topic.
pub const TOPIC_EVENT_TYPE_FIELD: &str = "topicEventType";
/// The field the IoT rule adds with `topic()`: the whole topic. A client id may contain `/`
/// (AWS excludes only `#` and `+` from lifecycle events), so the topic may have more than five
/// levels: the rule matches `$aws/events/presence/+/#`, and the parser checks that the topic
/// is exactly [`presence_topic`] of the payload's event type and client id.
pub const TOPIC_FIELD: &str = "presenceTopic";
/// The field an earlier rule added with `topic(5)`, still checked where present (event rows
/// and failure-queue messages written before): the client id's first level.
pub const TOPIC_CLIENT_ID_FIELD: &str = "topicClientId";

/// The topic AWS IoT publishes an event of `event_type` for `client_id` on.
pub fn presence_topic(event_type: &str, client_id: &str) -> String {
    format!("{PRESENCE_TOPIC_PREFIX}{event_type}/{client_id}")
}

/// The client ids no event may carry begin with this: the keys of the status table's own items
/// (the shard settings, `crate::store::shards`; the storm registry, `crate::store::storms`),
/// which must never be mistaken for a client's status.
pub const RESERVED_PREFIX: &str = "$iot-presence/";

/// What is wrong with a client id given outside an event (a CLI argument): empty, longer than
/// AWS allows, or one of the status table's own keys; `None` for a client id that may be one.
pub fn client_id_problem(client_id: &str) -> Option<String> {
    if client_id.is_empty() {
        Some("must not be empty".to_owned())
    } else if client_id.len() > MAX_CLIENT_ID_BYTES {
        Some(format!(
            "is {} bytes long; AWS IoT allows at most {MAX_CLIENT_ID_BYTES}",
            client_id.len()
        ))
    } else if client_id.starts_with(RESERVED_PREFIX) {
        Some(format!(
            "begins with {RESERVED_PREFIX:?}, reserved for the status table's own items"
        ))
    } else {
        None
    }
}

/// The key of the shard settings item (see [`RESERVED_PREFIX`]).
pub const RESERVED_CLIENT_ID: &str = "$iot-presence/status-shards";

/// Which lifecycle topic the event was published on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Connected,
    Disconnected,
    ConnectFailed,
}

impl EventType {
    pub const ALL: [EventType; 3] = [
        EventType::Connected,
        EventType::Disconnected,
        EventType::ConnectFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Connected => "connected",
            EventType::Disconnected => "disconnected",
            EventType::ConnectFailed => "connect_failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two event types that change a client's connected state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Connected,
    Disconnected,
}

impl Presence {
    /// The state a `connected` flag stands for (status items and the broker both keep one).
    pub fn of_connected(connected: bool) -> Self {
        if connected {
            Presence::Connected
        } else {
            Presence::Disconnected
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Connected => "connected",
            Presence::Disconnected => "disconnected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "connected" => Some(Presence::Connected),
            "disconnected" => Some(Presence::Disconnected),
            _ => None,
        }
    }
}

/// The disconnect reasons AWS documents. Unknown values are kept verbatim ([`LifecycleEvent`]
/// stores the reason as a string); the metrics fold the others into one `Reason` (`OTHER`).
pub const DOCUMENTED_DISCONNECT_REASONS: [&str; 13] = [
    "AUTH_ERROR",
    "CLIENT_INITIATED_DISCONNECT",
    "CLIENT_ERROR",
    "CONNECTION_LOST",
    "DUPLICATE_CLIENTID",
    "FORBIDDEN_ACCESS",
    "MQTT_KEEP_ALIVE_TIMEOUT",
    "SERVER_ERROR",
    "SERVER_INITIATED_DISCONNECT",
    "API_INITIATED_DISCONNECT",
    "THROTTLED",
    "WEBSOCKET_TTL_EXPIRATION",
    "CUSTOMAUTH_TTL_EXPIRATION",
];

/// A validated lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    pub client_id: String,
    pub event_type: EventType,
    /// Epoch milliseconds, as published by AWS (approximate).
    pub timestamp: u64,
    pub session_identifier: String,
    /// Required for connected/disconnected; optional for connect_failed.
    pub version_number: Option<u64>,
    pub principal_identifier: Option<String>,
    /// `None` when absent or empty (AWS sometimes publishes `""`).
    pub ip_address: Option<String>,
    pub thing_name: Option<String>,
    pub client_initiated_disconnect: Option<bool>,
    pub disconnect_reason: Option<String>,
    pub connect_failure_reason: Option<String>,
}

/// Why an event was rejected. Every variant names the offending field. A value from the event
/// is kept as [`shown`] renders it (at most 200 characters, quoted, with the full length when
/// cut), never whole: a field may be 128 KiB long, and the message is logged and stored as the
/// event's invalid reason.
#[derive(Debug, Error)]
pub enum InvalidEvent {
    #[error("event is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("event must be a JSON object, got {0}")]
    NotObject(&'static str),
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("field `{field}` must be {expected}, got {got}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
        /// The value's kind, or the value as [`shown`] renders it.
        got: String,
    },
    #[error("field `{0}` must not be empty")]
    Empty(&'static str),
    #[error("field `clientId` is {0} bytes long; AWS IoT allows at most {MAX_CLIENT_ID_BYTES}")]
    ClientIdTooLong(usize),
    #[error(
        "field `clientId` begins with {RESERVED_PREFIX:?}, reserved for the status table's own items"
    )]
    ReservedClientId,
    #[error("field `{field}` is {len} bytes long; at most {max} are accepted")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("the event is {0} bytes long; AWS IoT messages are at most {MAX_PAYLOAD_BYTES}")]
    PayloadTooLarge(usize),
    /// The address as [`shown`] renders it.
    #[error("field `ipAddress` ({0}) is neither an IPv4 nor an IPv6 address, nor empty")]
    NotAnIpAddress(String),
    #[error(
        "field `timestamp` ({timestamp}) is {ahead_ms} ms ahead of the receiving clock ({now}); \
         at most {skew_ms} ms are accepted (FUTURE_SKEW_MS)"
    )]
    FromTheFuture {
        timestamp: u64,
        now: u64,
        ahead_ms: u64,
        skew_ms: u64,
    },
    /// The type as [`shown`] renders it.
    #[error("field `eventType` must be one of connected, disconnected, connect_failed; got {0}")]
    UnknownEventType(String),
    #[error(
        "field `timestamp` ({0}) is beyond epoch milliseconds' 13 digits (max {MAX_TIMESTAMP_MS})"
    )]
    TimestampTooLarge(u64),
    /// Both values as [`shown`] renders them.
    #[error("field `{rule_field}` ({rule_value}) disagrees with the payload's `{payload_field}` ({payload_value})")]
    TopicMismatch {
        rule_field: &'static str,
        rule_value: String,
        payload_field: &'static str,
        payload_value: String,
    },
}

fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => shown(s).to_string(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn str_field<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, InvalidEvent> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(InvalidEvent::WrongType {
            field,
            expected: "a string",
            got: kind(other),
        }),
    }
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, InvalidEvent> {
    match str_field(obj, field)? {
        None => Err(InvalidEvent::Missing(field)),
        Some("") => Err(InvalidEvent::Empty(field)),
        Some(s) => Ok(s),
    }
}

fn uint_field(obj: &Map<String, Value>, field: &'static str) -> Result<Option<u64>, InvalidEvent> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| InvalidEvent::WrongType {
            field,
            expected: "a non-negative integer",
            got: kind(v),
        }),
    }
}

fn bool_field(obj: &Map<String, Value>, field: &'static str) -> Result<Option<bool>, InvalidEvent> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(InvalidEvent::WrongType {
            field,
            expected: "a boolean",
            got: kind(other),
        }),
    }
}

/// A string field of at most `max` bytes.
fn bounded<'a>(
    value: Option<&'a str>,
    field: &'static str,
    max: usize,
) -> Result<Option<&'a str>, InvalidEvent> {
    match value {
        Some(v) if v.len() > max => Err(InvalidEvent::TooLong {
            field,
            len: v.len(),
            max,
        }),
        other => Ok(other),
    }
}

/// A rule-added field must agree with the payload when present.
fn check_topic_field(
    obj: &Map<String, Value>,
    rule_field: &'static str,
    payload_field: &'static str,
    payload_value: &str,
) -> Result<(), InvalidEvent> {
    match str_field(obj, rule_field)? {
        Some(v) if v != payload_value => Err(InvalidEvent::TopicMismatch {
            rule_field,
            rule_value: shown(v).to_string(),
            payload_field,
            payload_value: shown(payload_value).to_string(),
        }),
        _ => Ok(()),
    }
}

impl LifecycleEvent {
    /// Parses and validates one event as the IoT rule hands it to the function.
    pub fn parse(raw: &str) -> Result<Self, InvalidEvent> {
        if raw.len() > MAX_PAYLOAD_BYTES {
            return Err(InvalidEvent::PayloadTooLarge(raw.len()));
        }
        let value: Value = serde_json::from_str(raw).map_err(InvalidEvent::NotJson)?;
        Self::from_value(&value)
    }

    /// Validates an already-parsed JSON value.
    pub fn from_value(value: &Value) -> Result<Self, InvalidEvent> {
        let obj = match value {
            Value::Object(obj) => obj,
            Value::Null => return Err(InvalidEvent::NotObject("null")),
            Value::Bool(_) => return Err(InvalidEvent::NotObject("a boolean")),
            Value::Number(_) => return Err(InvalidEvent::NotObject("a number")),
            Value::String(_) => return Err(InvalidEvent::NotObject("a string")),
            Value::Array(_) => return Err(InvalidEvent::NotObject("an array")),
        };

        let client_id = required_str(obj, "clientId")?;
        if client_id.len() > MAX_CLIENT_ID_BYTES {
            return Err(InvalidEvent::ClientIdTooLong(client_id.len()));
        }
        if client_id.starts_with(RESERVED_PREFIX) {
            return Err(InvalidEvent::ReservedClientId);
        }
        let event_type_str = required_str(obj, "eventType")?;
        let event_type = EventType::parse(event_type_str)
            .ok_or_else(|| InvalidEvent::UnknownEventType(shown(event_type_str).to_string()))?;
        check_topic_field(obj, TOPIC_EVENT_TYPE_FIELD, "eventType", event_type_str)?;
        check_topic_field(obj, TOPIC_CLIENT_ID_FIELD, "clientId", client_id)?;
        let topic = presence_topic(event_type_str, client_id);
        check_topic_field(obj, TOPIC_FIELD, "eventType and clientId", &topic)?;

        let timestamp = uint_field(obj, "timestamp")?.ok_or(InvalidEvent::Missing("timestamp"))?;
        if timestamp > MAX_TIMESTAMP_MS {
            return Err(InvalidEvent::TimestampTooLarge(timestamp));
        }
        let session_identifier = required_str(obj, "sessionIdentifier")?;
        bounded(
            Some(session_identifier),
            "sessionIdentifier",
            MAX_SESSION_BYTES,
        )?;
        let version_number = uint_field(obj, "versionNumber")?;
        if version_number.is_none() && event_type != EventType::ConnectFailed {
            return Err(InvalidEvent::Missing("versionNumber"));
        }

        let owned = |s: Option<&str>| s.map(str::to_owned);
        let text = |field, max| -> Result<Option<String>, InvalidEvent> {
            Ok(owned(bounded(str_field(obj, field)?, field, max)?))
        };
        let ip_address = str_field(obj, "ipAddress")?.filter(|ip| !ip.is_empty());
        if let Some(ip) = ip_address {
            if ip.parse::<std::net::IpAddr>().is_err() {
                // Bounded in the message too: the value may be anything.
                return Err(InvalidEvent::NotAnIpAddress(shown(ip).to_string()));
            }
        }
        Ok(LifecycleEvent {
            client_id: client_id.to_owned(),
            event_type,
            timestamp,
            session_identifier: session_identifier.to_owned(),
            version_number,
            principal_identifier: text("principalIdentifier", MAX_FIELD_BYTES)?,
            ip_address: owned(ip_address),
            thing_name: text("thingName", MAX_THING_NAME_BYTES)?.filter(|t| !t.is_empty()),
            client_initiated_disconnect: bool_field(obj, "clientInitiatedDisconnect")?,
            disconnect_reason: text("disconnectReason", MAX_FIELD_BYTES)?,
            connect_failure_reason: text("connectFailureReason", MAX_FIELD_BYTES)?,
        })
    }

    /// Rejects an event stamped further ahead of the receiving clock `now` than `skew_ms`: it
    /// would win the ordering rule against every genuine event until the clock caught up (see
    /// `config::DEFAULT_FUTURE_SKEW_MS`).
    pub fn check_not_from_the_future(&self, now: u64, skew_ms: u64) -> Result<(), InvalidEvent> {
        match self.timestamp.checked_sub(now) {
            Some(ahead_ms) if ahead_ms > skew_ms => Err(InvalidEvent::FromTheFuture {
                timestamp: self.timestamp,
                now,
                ahead_ms,
                skew_ms,
            }),
            _ => Ok(()),
        }
    }

    /// The event's key in the event table:
    /// `{timestamp:013}#{eventType}#{sessionIdentifier}#v{versionNumber}`, without `#v…` for
    /// connect_failed (no version).
    ///
    /// Deterministic, so a redelivered event (Lambda retry, AWS duplicate) lands on the same row;
    /// it starts with the zero-padded timestamp, so a key range is a time range. The version is
    /// in the key because two distinct events may share the rest: a persistent session's
    /// connections follow one another, but AWS's approximate timestamps can give two of them
    /// the same millisecond, and a crafted pair certainly can; without it the second event found
    /// the first one's row, read as "redelivered", and had no row of its own. For connect_failed
    /// the session identifier is per attempt.
    pub fn event_key(&self) -> String {
        event_key(
            self.timestamp,
            self.event_type,
            &self.session_identifier,
            self.version_number,
        )
    }
}

/// The client-id prefix a fleet is broken down by (device classes): the id up to and with its
/// first `-`, `_`, `:`, `/` or `.` (`sensor-31` → `sensor-`); without one, the id less its
/// trailing digits (`pump07` → `pump`), or the whole id when that leaves nothing.
pub fn client_prefix(client_id: &str) -> &str {
    if let Some(at) = client_id.find(['-', '_', ':', '/', '.']) {
        return &client_id[..=at];
    }
    let stem = client_id.trim_end_matches(|c: char| c.is_ascii_digit());
    if stem.is_empty() {
        client_id
    } else {
        stem
    }
}

/// Builds an event key; see [`LifecycleEvent::event_key`]. The lower bound of a time range is
/// `format!("{from:013}")`.
pub fn event_key(
    timestamp: u64,
    event_type: EventType,
    session: &str,
    version: Option<u64>,
) -> String {
    let event_type = event_type.as_str();
    match version {
        Some(version) => format!("{timestamp:013}#{event_type}#{session}#v{version}"),
        None => format!("{timestamp:013}#{event_type}#{session}"),
    }
}

#[cfg(test)]
mod tests;
