//! Offline, back-online and flapping alerts.
//!
//! - [`rule`]: what to notify about one client (pure; the single source of truth).
//! - [`notify`]: the message format (subject, body, attributes).
//! - `clauses`: the conditions and writes of a pass's updates.
//! - `error`: why a pass failed on a client ([`pass::AlertError`]).
//! - [`pass`]: one alert pass: the sparse alert index, claim / send / commit with conditional
//!   writes, SNS.
//! - `publish`: what a pass sends to SNS: a notice, with the attributes subscribers filter on.
//! - `report`: what one pass did ([`pass::RunReport`]).
//! - [`storm`]: what makes a mass disconnect a storm, and the incident view (pure);
//!   [`storm::watch`]: a storm's life and what it does to a client's notices (pure).
//! - `storm_pass`: a pass's storm phase: the registry, the drops read, storm notices.

mod clauses;
mod error;
pub mod notify;
pub mod pass;
mod publish;
mod report;
pub mod rule;
pub mod storm;
mod storm_pass;
