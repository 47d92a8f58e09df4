//! iot-presence: the truth about which AWS IoT Core client is online, from lifecycle events
//! that arrive duplicated, out of order and late.
//!
//! # Layout
//!
//! - [`event`]: lifecycle event payloads, parsed and validated; event keys.
//! - [`decision`]: the ordering rule over connections (session and version; pure; the single
//!   source of truth) and outcomes.
//! - [`store`]: DynamoDB requests: the conditional status update whose condition mirrors the
//!   rule, and the idempotent event-log append; the table contract's attribute names.
//! - [`config`]: environment configuration, read once at cold start, and the SDK client.
//! - [`handler`]: the Lambda handler: parse, record, log, map errors for Lambda.
//! - [`read`]: the read path (status, sharded listings, summary, history) and `rebuild`.
//! - [`alert`]: offline, back-online and flapping alerts: the planning rule (pure; the single
//!   source of truth of what to notify) and the message format.
//! - [`availability`]: availability reports (uptime, outages, MTTR) from the event log (pure).
//! - [`thresholds`]: offline thresholds by client-id pattern (device classes).
//! - [`redrive`]: failed events read back from the failure queues' messages (pure).
//! - [`reconcile`]: the repair rule when the broker disagrees with a status (pure).
//! - [`broker`]: the broker's view of a client (iot-data `GetConnection`), paced.
//! - [`repair`]: a repair's writes: the conditional status update and its `reconciled` row,
//!   in one transaction.
//! - [`reconciler`]: reconciliation: check clients against the broker, write repairs.
//! - [`alerter`]: the alert pass: the sparse alert index, claim / send / commit with
//!   conditional writes, SNS; the scheduled function's handler.
//!
//! The binaries (`src/bin/`): `presence-handler` and `presence-alerter`, the thin Lambda
//! `main`s, and `presence`, the CLI.

pub mod alert;
pub mod alerter;
pub mod availability;
pub mod broker;
pub mod config;
pub mod decision;
pub mod event;
pub mod handler;
pub mod read;
pub mod reconcile;
pub mod reconciler;
pub mod redrive;
pub mod repair;
pub mod store;
pub mod thresholds;
