//! The conditions and writes of an alert pass's updates (claim, commit, reschedule), each on
//! the one expression builder: a pass never writes an item it did not read as it is now.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use super::rule::{Next, Plan};
use crate::store::expr::{n, s, Expr};
use crate::store::schema::{alert_shard, attr};

/// How long a pass holds a client while it sends (the claim's lease): three times the alerter
/// function's timeout (template.yaml), so a live pass never loses its lease, and a dead one
/// delays a notice by at most this much.
pub const LEASE_MS: u64 = 180_000;

/// What the pass read of an item, which its writes are conditional on.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    pub(super) due: u64,
    pub(super) last_event_key: Option<String>,
}

/// A typed alert field as an attribute value.
fn field_value<T: Serialize>(value: &T) -> AttributeValue {
    // Outage and Episode hold only strings and numbers: encoding cannot fail.
    serde_dynamo::to_attribute_value(value).expect("alert fields always encode")
}

/// The item is as the pass read it: same due time, same status (no event applied since).
pub(super) fn unchanged(e: &mut Expr, seen: &Seen) {
    let due = e.name(attr::ALERT_DUE_AT);
    let due_value = e.value("seenDue", n(seen.due));
    e.require(format!("{due} = {due_value}"));
    let key = e.name(attr::LAST_EVENT_KEY);
    match &seen.last_event_key {
        Some(k) => {
            let v = e.value("seenKey", s(k));
            e.require(format!("{key} = {v}"));
        }
        None => e.require(format!("attribute_not_exists({key})")),
    }
}

/// No other pass holds the item.
pub(super) fn not_leased(e: &mut Expr, now: u64) {
    let lease = e.name(attr::ALERT_LEASE);
    let v = e.value("now", n(now));
    e.require(format!("attribute_not_exists({lease}) OR {lease} < {v}"));
}

/// This pass holds the item.
pub(super) fn leased_by(e: &mut Expr, lease_until: u64, pass: &str) {
    let lease = e.name(attr::ALERT_LEASE);
    let v = e.value("lease", n(lease_until));
    e.require(format!("{lease} = {v}"));
    let holder = e.name(attr::ALERT_PASS);
    let v = e.value("pass", s(pass));
    e.require(format!("{holder} = {v}"));
}

/// Writes the plan's alert state (what was sent).
pub(super) fn record(e: &mut Expr, plan: &Plan) {
    // An alerted outage in `outage` (projected into the status index), a pending one in
    // `pendingOutage` (not): a write that leaves the projected attributes as they were costs
    // the index nothing.
    match &plan.outage {
        Some(o) if o.alerted_at.is_some() => {
            e.set(attr::OUTAGE, field_value(o));
            e.remove(attr::PENDING_OUTAGE);
        }
        Some(o) => {
            e.set(attr::PENDING_OUTAGE, field_value(o));
            e.remove(attr::OUTAGE);
        }
        None => {
            e.remove(attr::OUTAGE);
            e.remove(attr::PENDING_OUTAGE);
        }
    }
    match &plan.flapping {
        Some(f) => e.set(attr::FLAPPING, field_value(f)),
        None => e.remove(attr::FLAPPING),
    }
}

/// Moves the item in the alert index as the plan says.
pub(super) fn schedule(e: &mut Expr, client_id: &str, next: Next) {
    match next {
        Next::At(at) => {
            e.set(attr::ALERT_SHARD, s(alert_shard(client_id)));
            e.set(attr::ALERT_DUE_AT, n(at));
        }
        Next::OnChange => {
            e.set(attr::ALERT_SHARD, s(alert_shard(client_id)));
            e.remove(attr::ALERT_DUE_AT);
        }
        Next::Never => {
            e.remove(attr::ALERT_SHARD);
            e.remove(attr::ALERT_DUE_AT);
        }
    }
}
