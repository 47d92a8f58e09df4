//! iot-presence: the truth about which AWS IoT Core client is online, from lifecycle events
//! that arrive duplicated, out of order and late.
//!
//! # Layout
//!
//! Dependencies flow one way, down this list's layers; `tests/module_graph.rs` fails on a
//! cycle. ARCHITECTURE.md has the data flow of one event and of one alert pass.
//!
//! 1. Vocabulary, in this order (each uses only those above it):
//!    - [`errors`]: which SDK failures are transient; an error with all its causes; a value
//!      echoed in a message, capped and escaped.
//!    - [`event`]: lifecycle event payloads, parsed and validated; event keys.
//!    - [`time`]: the clock, RFC 3339 and human durations, every time input bounded.
//!    - [`thresholds`]: offline thresholds by client-id pattern (device classes).
//! 2. Pure rules:
//!    - [`rule`]: the ordering rule over connections (session and version), and outcomes.
//!    - [`config`]: environment configuration, read once at cold start, with its bounds and
//!      defaults, and the SDK configuration.
//! 3. The tables:
//!    - [`store`]: the table contract ([`store::schema`]), the one expression builder
//!      ([`store::expr`]), typed items ([`store::item`]), and the writes: the conditional status
//!      update and the idempotent event-log append; reads narrowed to named attributes for
//!      the widget ([`store::narrow`]).
//!    - [`read`]: queries only (status, sharded listings, pages of them, summary, history),
//!      and the JSON views of what they return ([`read::view`], the CLI's and the API's).
//!    - [`rebuild`]: a status recomputed from the event log.
//! 4. Features over the tables:
//!    - [`alert`]: offline, back-online and flapping alerts (rule, message format, pass).
//!    - [`availability`]: availability reports (uptime, outages, MTTR) from the event log.
//!    - [`changes`]: PresenceChanged, one event per applied status change, from the status
//!      table's stream records (pure).
//!    - [`reconcile`]: the broker's view (`GetConnection`), the repair rule and the repairs.
//!    - [`redrive`]: failed events read back from the failure queues' messages.
//!    - [`migrate`]: a new shard count for the status index, on a live table, resumably.
//!    - [`widget`]: the live fleet widget's request (parameters, validated) and HTML (pure).
//!    - [`api`]: the HTTP API's requests and answers (routing, parameters, cursor, problem
//!      details; pure).
//! 5. [`functions`]: the five Lambda handlers; [`logging`]: log set-up for them and the CLI;
//!    [`telemetry`]: their metrics, as Embedded Metric Format log lines.
//! 6. [`cost`]: every path run once with its consumed capacity measured, the measurements
//!    committed as data ([`cost::measured`]), AWS list prices, and the cost tables built from
//!    them ([`cost::report`]: docs/cost.md, `presence cost`, the replay's report).
//!
//! The binaries (`src/bin/`): `presence-handler`, `presence-alerter`, `presence-reconciler`,
//! `presence-widget` and `presence-api`, the thin Lambda `main`s, and `presence`, the CLI
//! (feature `cli`).

pub mod alert;
pub mod api;
pub mod availability;
pub mod changes;
pub mod config;
pub mod cost;
pub mod errors;
pub mod event;
pub mod functions;
pub mod logging;
pub mod migrate;
pub mod read;
pub mod rebuild;
pub mod reconcile;
pub mod redrive;
pub mod rule;
pub mod store;
pub mod telemetry;
pub mod thresholds;
pub mod time;
pub mod widget;
