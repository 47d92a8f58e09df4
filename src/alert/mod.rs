//! Offline, back-online and flapping alerts.
//!
//! - [`rule`]: what to notify about one client (pure; the single source of truth).
//! - [`notify`]: the message format (subject, body, attributes).
//! - `clauses`: the conditions and writes of a pass's updates.
//! - [`pass`]: one alert pass: the sparse alert index, claim / send / commit with conditional
//!   writes, SNS.

mod clauses;
pub mod notify;
pub mod pass;
pub mod rule;
