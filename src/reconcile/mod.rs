//! Reconciliation with the broker, for the status that lost events cannot fix.
//!
//! - [`rule`]: the repair rule when the broker disagrees with a status (pure).
//! - [`broker`]: the broker's view of a client (iot-data `GetConnection`), paced.
//! - [`repair`]: a repair's writes: the conditional status update and its `reconciled` row, in
//!   one transaction.
//! - [`pass`]: check clients against the broker, write repairs; page through a scope.
//! - [`cursor`]: where the scheduled reconciler left off in its scope.

pub mod broker;
pub mod cursor;
pub mod pass;
pub mod repair;
pub mod rule;
