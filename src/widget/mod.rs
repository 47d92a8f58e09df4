//! The live fleet widget: a CloudWatch dashboard custom widget (a Lambda function that returns
//! HTML) showing the status table itself, read through [`crate::read`].
//!
//! # The request
//!
//! CloudWatch invokes the function with the widget's parameters at the top level of the event
//! and again in `widgetContext.params`, next to the dashboard's context (`timeRange`, `theme`,
//! `width`, `height`, ...). With `"describe": true` (the console's "Get documentation") the
//! function returns [`describe()`], markdown about the parameters. The parameters:
//!
//! | parameter | type | meaning | default |
//! |---|---|---|---|
//! | `clientId` | string, 1 to [`MAX_CLIENT_ID_BYTES`] bytes | show this client's timeline instead of the fleet | none: the fleet |
//! | `limit` | integer, 1 to [`MAX_LIMIT`] | rows shown: offline clients, or timeline events | [`DEFAULT_LIMIT`] |
//!
//! Anything else is refused with an [`InvalidRequest`] that names the parameter (an unknown
//! key, a wrong type, a limit out of bounds, an empty or oversized client id, a parameter that
//! differs between the top level and `widgetContext.params`, a malformed `timeRange`). The
//! widget only reads: a refused request, like every other, writes nothing.
//!
//! Of the context, the timeline uses `timeRange` (its `zoom` when set): the newest events
//! within it. The fleet view is always "now". `theme: "dark"` picks the dark palette. The rest
//! (`width`, `height`, `timezone`, ...) is ignored; times are shown in UTC.
//!
//! # Bounded work
//!
//! The fleet view is two COUNT queries over the status index's 16 shards each, one page of at
//! most `limit` entries per disconnected shard (merged, the `limit` longest offline kept), and
//! one page of at most `limit` entries per alert-index shard (flapping episodes). The timeline
//! is one `GetItem` and one Query of at most `limit` event rows, read newest first. Never a
//! Scan, never every item.

pub mod html;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::alert::storm::Dropped;
use crate::errors::shown;
use crate::event::{MAX_CLIENT_ID_BYTES, MAX_TIMESTAMP_MS};
use crate::read::Alerted;
use crate::store::item::{EventRow, Status};
use crate::store::storms::StormRecord;

/// The `clientId` parameter: show one client's timeline.
pub const CLIENT_ID_PARAM: &str = "clientId";
/// The `limit` parameter: rows shown.
pub const LIMIT_PARAM: &str = "limit";
/// Every parameter the widget takes.
pub const PARAMS: [&str; 2] = [CLIENT_ID_PARAM, LIMIT_PARAM];
/// Rows shown when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 20;
/// The most rows a render shows (and the Limit of each query page).
pub const MAX_LIMIT: u32 = 50;

/// Keys of the event that are not parameters.
const CONTEXT_KEY: &str = "widgetContext";
const DESCRIBE_KEY: &str = "describe";

/// The documentation the console shows for `"describe": true`: markdown, from the bounds
/// above.
pub fn describe() -> String {
    format!(
        "## iot-presence live fleet\n\n\
         The status table, read live: connected and disconnected counts, the clients offline \
         longest (how long, the last disconnect reason, any standing alert) and the clients \
         flapping; or, with `{CLIENT_ID_PARAM}`, that client's status and newest events within \
         the dashboard's time range.\n\n\
         | parameter | type | meaning | default |\n\
         |---|---|---|---|\n\
         | `{CLIENT_ID_PARAM}` | string, 1 to {MAX_CLIENT_ID_BYTES} bytes | show this client's \
         timeline | the fleet |\n\
         | `{LIMIT_PARAM}` | integer, 1 to {MAX_LIMIT} | rows shown (offline clients, or events) \
         | {DEFAULT_LIMIT} |\n\n\
         Any other parameter, or a value of the wrong type or out of bounds, is refused with an \
         error that names it. Read-only: COUNT queries and one bounded page per query, never a \
         Scan.\n\n\
         ```\n{CLIENT_ID_PARAM}: sensor-42\n{LIMIT_PARAM}: 10\n```\n"
    )
}

/// What one invocation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `"describe": true`: the documentation, [`describe()`].
    Describe,
    Render(View),
}

/// A render: the fleet, or one client's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// `Some`: that client's timeline.
    pub client_id: Option<String>,
    /// Rows shown, 1 to [`MAX_LIMIT`].
    pub limit: u32,
    /// The dashboard's time range (ms, `[start, end]`), when it sent one.
    pub time_range: Option<TimeRange>,
    pub theme: Theme,
}

/// A time range of the dashboard, epoch ms, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: u64,
    pub end: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Light,
    Dark,
}

/// A request the widget refuses; each names what is wrong. Nothing is read or written. A key
/// from the event is kept as [`shown`] renders it (bare: the message quotes it), never whole.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum InvalidRequest {
    #[error("the widget event must be a JSON object, got {0}")]
    NotAnObject(&'static str),
    #[error("unknown parameter `{0}`; the widget takes `clientId` and `limit`")]
    UnknownParameter(String),
    #[error("parameter `{param}` must be {expected}, got {got}")]
    WrongType {
        param: &'static str,
        expected: &'static str,
        got: String,
    },
    #[error("parameter `limit` must be from 1 to {MAX_LIMIT}, got {0}")]
    LimitOutOfRange(String),
    #[error("parameter `clientId` must not be empty")]
    EmptyClientId,
    #[error("parameter `clientId` is {0} bytes long; AWS IoT client ids are at most {MAX_CLIENT_ID_BYTES}")]
    ClientIdTooLong(usize),
    #[error("parameter `{0}` differs between the event and `widgetContext.params`")]
    Conflict(String),
    #[error("`{field}` must be {expected}")]
    Context {
        field: &'static str,
        expected: &'static str,
    },
    /// A time beyond 13-digit epoch milliseconds: no event has one, and it cannot be shown.
    #[error(
        "`{field}` is {ms}; epoch milliseconds from 0 to {MAX_TIMESTAMP_MS} (13 digits, \
         up to 2286-11-20T17:46:39.999Z) are accepted"
    )]
    TimeOutOfRange { field: &'static str, ms: u64 },
}

/// A JSON value's kind, for error messages (never the value itself: it may be large).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses and validates one widget event.
pub fn parse(event: &Value) -> Result<Request, InvalidRequest> {
    let Value::Object(top) = event else {
        return Err(InvalidRequest::NotAnObject(kind(event)));
    };
    match top.get(DESCRIBE_KEY) {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => return Ok(Request::Describe),
        Some(other) => {
            return Err(InvalidRequest::WrongType {
                param: DESCRIBE_KEY,
                expected: "a boolean",
                got: kind(other).to_owned(),
            })
        }
    }
    let context = match top.get(CONTEXT_KEY) {
        None | Some(Value::Null) => None,
        Some(Value::Object(context)) => Some(context),
        Some(_) => {
            return Err(InvalidRequest::Context {
                field: CONTEXT_KEY,
                expected: "an object",
            })
        }
    };
    // The parameters: the top level's keys, and `widgetContext.params`; both must agree.
    let mut params: Map<String, Value> = top
        .iter()
        .filter(|(k, _)| *k != CONTEXT_KEY && *k != DESCRIBE_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(given) = context.and_then(|c| c.get("params")) {
        let given = match given {
            Value::Null => Map::new(),
            Value::Object(given) => given.clone(),
            _ => {
                return Err(InvalidRequest::Context {
                    field: "widgetContext.params",
                    expected: "an object",
                })
            }
        };
        for (key, value) in given {
            match params.get(&key) {
                Some(top_value) if *top_value != value => {
                    return Err(InvalidRequest::Conflict(shown(&key).bare().to_string()));
                }
                _ => {
                    params.insert(key, value);
                }
            }
        }
    }
    if let Some(unknown) = params.keys().find(|k| !PARAMS.contains(&k.as_str())) {
        return Err(InvalidRequest::UnknownParameter(
            shown(unknown).bare().to_string(),
        ));
    }
    let client_id = match params.get(CLIENT_ID_PARAM) {
        None => None,
        Some(Value::String(id)) if id.is_empty() => return Err(InvalidRequest::EmptyClientId),
        Some(Value::String(id)) if id.len() > MAX_CLIENT_ID_BYTES => {
            return Err(InvalidRequest::ClientIdTooLong(id.len()))
        }
        Some(Value::String(id)) => Some(id.clone()),
        Some(other) => {
            return Err(InvalidRequest::WrongType {
                param: CLIENT_ID_PARAM,
                expected: "a string",
                got: kind(other).to_owned(),
            })
        }
    };
    let limit = match params.get(LIMIT_PARAM) {
        None => DEFAULT_LIMIT,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n @ 1..) if n <= MAX_LIMIT.into() => n as u32,
            Some(_) => return Err(InvalidRequest::LimitOutOfRange(n.to_string())),
            // Negative, or not an integer.
            None if n.is_i64() => return Err(InvalidRequest::LimitOutOfRange(n.to_string())),
            None => {
                return Err(InvalidRequest::WrongType {
                    param: LIMIT_PARAM,
                    expected: "an integer",
                    got: n.to_string(),
                })
            }
        },
        Some(other) => {
            return Err(InvalidRequest::WrongType {
                param: LIMIT_PARAM,
                expected: "an integer",
                got: kind(other).to_owned(),
            })
        }
    };
    let time_range = match context.and_then(|c| c.get("timeRange")) {
        None | Some(Value::Null) => None,
        Some(range) => Some(time_range(range)?),
    };
    let theme = match context.and_then(|c| c.get("theme")) {
        Some(Value::String(theme)) if theme == "dark" => Theme::Dark,
        _ => Theme::Light,
    };
    Ok(Request::Render(View {
        client_id,
        limit,
        time_range,
        theme,
    }))
}

/// `timeRange`: its `zoom` when the dashboard is zoomed in, else `start` and `end`; each end
/// at most [`MAX_TIMESTAMP_MS`], as every time is.
fn time_range(range: &Value) -> Result<TimeRange, InvalidRequest> {
    let bad = InvalidRequest::Context {
        field: "widgetContext.timeRange",
        expected:
            "an object with epoch-millisecond `start` <= `end` (and an optional `zoom` alike)",
    };
    let ends = |v: &Value, start_field, end_field| -> Result<TimeRange, InvalidRequest> {
        let ms = |field| v.get(field).and_then(Value::as_u64);
        let (Some(start), Some(end)) = (ms("start"), ms("end")) else {
            return Err(bad.clone());
        };
        for (field, ms) in [(start_field, start), (end_field, end)] {
            if ms > MAX_TIMESTAMP_MS {
                return Err(InvalidRequest::TimeOutOfRange { field, ms });
            }
        }
        if start > end {
            return Err(bad.clone());
        }
        Ok(TimeRange { start, end })
    };
    let whole = ends(
        range,
        "widgetContext.timeRange.start",
        "widgetContext.timeRange.end",
    )?;
    match range.get("zoom") {
        None | Some(Value::Null) => Ok(whole),
        Some(zoom) => ends(
            zoom,
            "widgetContext.timeRange.zoom.start",
            "widgetContext.timeRange.zoom.end",
        ),
    }
}

/// What the fleet view shows, as read (see [`html::fleet`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    pub connected: u64,
    pub disconnected: u64,
    /// The clients offline longest, longest first, at most `limit`.
    pub offline: Vec<Status>,
    /// The newest drops of the last hour (still offline), newest first, at most `limit`.
    pub recent: Vec<Status>,
    /// Clients dropped within each of `crate::alert::storm::DROP_WINDOWS_MS`, and still
    /// offline, by COUNT queries.
    pub dropped: Vec<Dropped>,
    /// The storms the alerter has declared and not yet found over (its storm registry): the
    /// same storms, and the same numbers, as its storm notices.
    pub storms: Vec<StormRecord>,
    /// Clients in a flapping episode found in one page of the alert index.
    pub flapping: Vec<Alerted>,
    /// Clients with an outage pending, found in the same page.
    pub pending: Vec<String>,
    pub limit: u32,
    /// When it was read (ms).
    pub now: u64,
}

/// What a client's timeline shows, as read (see [`html::timeline`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    pub client_id: String,
    /// `None` for a client never seen.
    pub status: Option<Status>,
    /// The newest events (within `range`), newest first, at most `limit`.
    pub events: Vec<EventRow>,
    pub limit: u32,
    pub range: Option<TimeRange>,
    pub now: u64,
}

#[cfg(test)]
mod tests;
