//! iot-presence: the truth about which AWS IoT Core client is online, from lifecycle events
//! that arrive duplicated, out of order and late.
//!
//! # Layout
//!
//! - [`event`]: lifecycle event payloads, parsed and validated; event keys.
//! - [`decision`]: the ordering rule (pure; the single source of truth) and outcomes.
//! - [`store`]: DynamoDB requests: the conditional status update whose condition mirrors the
//!   rule, and the idempotent event-log append; the table contract's attribute names.
//! - [`config`]: environment configuration, read once at cold start, and the SDK client.
//! - [`handler`]: the Lambda handler: parse, record, log, map errors for Lambda.
//! - [`read`]: the read path (status, sharded listings, summary, history) and `rebuild`.
//!
//! The binary `presence-handler` (`src/bin/`) is the thin Lambda `main`.

pub mod config;
pub mod decision;
pub mod event;
pub mod handler;
pub mod read;
pub mod store;
