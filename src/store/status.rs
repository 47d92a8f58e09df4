//! The conditional status update: the one write that moves a client's status, and the only
//! place that writes status attributes one by one (an update expression cannot be a typed item).
//!
//! No read-then-write: the update's condition ([`status_condition`]) encodes
//! [`crate::rule::decide`], and DynamoDB evaluates it atomically, so racing invocations cannot
//! overwrite a newer status. When the condition fails, `ReturnValuesOnConditionCheckFailure =
//! ALL_OLD` hands back the item it was checked against, and the pure rule on that item tells
//! `duplicate` from `stale`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::expr::{n, s, Built, Expr, ExprError};
use super::item::{ItemProblem, MalformedItem, Outage, Status};
use super::schema::{alert_shard, attr, connection_id, status_shard, REASON_NONE, REASON_UNKNOWN};
use super::{Item, Store, StoreError};
use crate::event::{LifecycleEvent, Presence};
use crate::rule::{decide, Decision, Observed, Outcome, Rule, Window};
use crate::thresholds::MIN_THRESHOLD_MS;

/// How long after a disconnect (by its timestamp) the alerter first looks at it: the shortest
/// threshold there can be ([`MIN_THRESHOLD_MS`], a minute), so no offline notice is ever later
/// for it. A client back within that minute was never looked at while offline: its outage
/// (tracked on the item by the disconnect) costs the alert pass one look, to settle it, not two
/// (schedule, then settle). A disconnect that arrives later than that is due at once.
pub const FIRST_LOOK_MS: u64 = MIN_THRESHOLD_MS;

/// The condition under which `event` replaces the status item: [`decide`] returns `Apply`
/// exactly when this expression is true of the stored item. Each clause names its rule row.
///
/// DynamoDB cannot add to an attribute in a condition, so the window's arithmetic moves to the
/// value side: `I.ts < E.ts - W` ⇔ `E.ts > I.ts + W`, and `I.ts <= E.ts + W` ⇔ `E.ts >= I.ts - W`.
pub fn status_condition(e: &mut Expr, event: &Observed<'_>, window: Window) -> String {
    let session = e.name(attr::SESSION);
    let event_type = e.name(attr::EVENT_TYPE);
    let ts = e.name(attr::EVENT_TIMESTAMP);
    let version = e.name(attr::VERSION);
    let sid = e.value("sid", s(event.session));
    let (e_ts, w) = (i128::from(event.timestamp), i128::from(window.ms()));
    let ts_minus_w = e.value("tsMinusW", n(e_ts - w));
    let ts_plus_w = e.value("tsPlusW", n(e_ts + w));
    let v = e.value("version", n(event.version));

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
        let connected = e.value("connectedType", s(Presence::Connected.as_str()));
        inside.push_str(&format!(
            " OR ({session} = {sid} AND {version} = {v} AND {event_type} = {connected})"
        ));
    }
    condition.push_str(&format!(" OR ({ts} <= {ts_plus_w} AND ({inside}))"));
    condition
}

/// One more applied status change ([`attr::CHANGE_SEQ`]): part of every write that moves the
/// status, so the stream of the table numbers the changes without a read.
pub fn count_change(e: &mut Expr) {
    let seq = e.name(attr::CHANGE_SEQ);
    let zero = e.value("seqZero", n(0));
    let one = e.value("seqOne", n(1));
    e.set_to(
        attr::CHANGE_SEQ,
        &format!("if_not_exists({seq}, {zero}) + {one}"),
    );
}

/// A complete conditional `UpdateItem` of a status item, before it is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub client_id: String,
    pub expr: Built,
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
    status_shards: u32,
) -> Result<Option<StatusUpdate>, ExprError> {
    let count = Count::Change;
    status_update_with(
        event,
        event_key,
        window,
        now_ms,
        status_retention_days,
        status_shards,
        count,
    )
}

/// Whether a status write counts as a change ([`attr::CHANGE_SEQ`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Every write of the function and of a repair.
    Change,
    /// `rebuild`'s replay of the log: only its end result is a change, if it differs from the
    /// status before (`Store::rebuild` counts it once).
    Replay,
}

/// [`status_update`], counted or not.
pub fn status_update_with(
    event: &LifecycleEvent,
    event_key: &str,
    window: Window,
    now_ms: u64,
    status_retention_days: u32,
    status_shards: u32,
    count: Count,
) -> Result<Option<StatusUpdate>, ExprError> {
    // Received now: a timestamp ahead of the clock counts as now (see `observed_at`).
    let Some(observed) = event.observed_at(now_ms) else {
        return Ok(None);
    };
    let mut e = Expr::new();
    let condition = status_condition(&mut e, &observed, window);
    e.require(condition);

    let ts = e.value("ts", n(observed.timestamp));
    let sid = e.value("sid", s(&event.session_identifier));
    let version = e.value("version", n(observed.version));
    let now = e.value("now", n(now_ms));
    e.set(attr::EVENT_TYPE, s(observed.presence.as_str()));
    e.set_to(attr::SESSION, &sid);
    e.set_to(attr::VERSION, &version);
    e.set_to(attr::EVENT_TIMESTAMP, &ts);
    e.set_to(attr::UPDATED_AT, &now);
    e.set(attr::LAST_EVENT_KEY, s(event_key));
    e.set(
        attr::STATUS_SHARD,
        s(status_shard(
            &event.client_id,
            observed.presence,
            status_shards,
        )),
    );
    // A connect asks the alerter to look now (an item is in the alert index only while it has
    // an `alertShard`, which a disconnect sets and the alerter removes once nothing is left to
    // watch); the alerter alone decides what the change means. A disconnect asks it to look
    // at the earliest time any threshold can be up, FIRST_LOOK_MS after the disconnect (see
    // there), unless a look is already due: a look never moves later.
    if observed.presence == Presence::Disconnected {
        let due = e.name(attr::ALERT_DUE_AT);
        let first_look = e.value(
            "firstLook",
            n(u128::from(observed.timestamp) + u128::from(FIRST_LOOK_MS)),
        );
        e.set_to(
            attr::ALERT_DUE_AT,
            &format!("if_not_exists({due}, {first_look})"),
        );
    } else {
        e.set_to(attr::ALERT_DUE_AT, &now);
    }
    // A lifecycle event replaces a repair (see `crate::reconcile`).
    e.remove(attr::RECONCILED_AT);
    if count == Count::Change {
        count_change(&mut e);
    }
    if status_retention_days > 0 {
        let expires_at = now_ms / 1000 + u64::from(status_retention_days) * 86_400;
        e.set(attr::EXPIRES_AT, n(expires_at));
    } else {
        e.remove(attr::EXPIRES_AT);
    }
    if let Some(principal) = &event.principal_identifier {
        e.set(attr::PRINCIPAL, s(principal));
    }
    if let Some(thing) = &event.thing_name {
        e.set(attr::THING_NAME, s(thing));
    }

    match observed.presence {
        Presence::Connected => {
            e.set(attr::CONNECTED, AttributeValue::Bool(true));
            e.set(attr::DISCONNECT_REASON, s(REASON_NONE));
            e.set_to(attr::CONNECTED_AT, &ts);
            let mut details =
                HashMap::from([(attr::CONNECTED_AT.to_owned(), n(observed.timestamp))]);
            match &event.ip_address {
                Some(ip) => {
                    details.insert(attr::IP_ADDRESS.to_owned(), s(ip));
                    e.set(attr::IP_ADDRESS, s(ip));
                }
                None => e.remove(attr::IP_ADDRESS),
            }
            let session_map = HashMap::from([(
                connection_id(&event.session_identifier, observed.version),
                AttributeValue::M(details),
            )]);
            e.set(attr::CONNECTED_SESSION, AttributeValue::M(session_map));
            if event.thing_name.is_none() {
                e.remove(attr::THING_NAME);
            }
            e.remove(attr::DISCONNECTED_AT);
            e.remove(attr::CLIENT_INITIATED);
        }
        Presence::Disconnected => {
            e.set(attr::ALERT_SHARD, s(alert_shard(&event.client_id)));
            e.set(attr::CONNECTED, AttributeValue::Bool(false));
            let reason = event.disconnect_reason.as_deref().unwrap_or(REASON_UNKNOWN);
            e.set(attr::DISCONNECT_REASON, s(reason));
            // The outage is tracked from the disconnect on (pending: not projected into the
            // status index), so the alerter judges it from the events alone, whether or not a
            // pass looked while it lasted: a return after the threshold but before any pass
            // still gets both notices. An outage already tracked (an earlier connection's, not
            // yet settled by a pass) is kept: the plan ends it first, and takes this one from
            // the status.
            let outage = Outage {
                session: event.session_identifier.clone(),
                version: Some(observed.version),
                disconnected_at: observed.timestamp,
                reason: reason.to_owned(),
                alerted_at: None,
                held_by: None,
            };
            let pending = e.name(attr::PENDING_OUTAGE);
            let tracked = e.value(
                "pendingOutage",
                // Strings and numbers only: encoding cannot fail.
                serde_dynamo::to_attribute_value(&outage).expect("an outage always encodes"),
            );
            e.set_to(
                attr::PENDING_OUTAGE,
                &format!("if_not_exists({pending}, {tracked})"),
            );
            e.set_to(attr::DISCONNECTED_AT, &ts);
            match event.client_initiated_disconnect {
                Some(b) => e.set(attr::CLIENT_INITIATED, AttributeValue::Bool(b)),
                None => e.remove(attr::CLIENT_INITIATED),
            }
            // Carry over this connection's connect time and address if its connected event was
            // applied; otherwise they are unknown (NULL), never another connection's values
            // (not even those of an earlier connection of the same persistent session).
            let unknown = e.value("unknown", AttributeValue::Null(true));
            let map = e.name(attr::CONNECTED_SESSION);
            let this = e.alias(
                "thisConnection",
                &connection_id(&event.session_identifier, observed.version),
            );
            for field in [attr::CONNECTED_AT, attr::IP_ADDRESS] {
                let field_name = e.name(field);
                let operand = format!("if_not_exists({map}.{this}.{field_name}, {unknown})");
                e.set_to(field, &operand);
            }
        }
    }

    Ok(Some(StatusUpdate {
        client_id: event.client_id.clone(),
        expr: e.build()?,
    }))
}

impl Status {
    /// The stored status as the ordering rule sees it; `None` for an item without a status
    /// (settings only).
    pub fn observed(&self) -> Result<Option<Observed<'_>>, ItemProblem> {
        let Some(session) = &self.session_identifier else {
            return Ok(None);
        };
        let missing = |name: &str| ItemProblem::Invalid(format!("`{name}` is missing"));
        let presence = self
            .event_type
            .as_deref()
            .and_then(Presence::parse)
            .ok_or_else(|| {
                ItemProblem::Invalid(format!(
                    "`{}` is not connected or disconnected",
                    attr::EVENT_TYPE
                ))
            })?;
        Ok(Some(Observed {
            session,
            presence,
            version: self.version_number.ok_or_else(|| missing(attr::VERSION))?,
            timestamp: self
                .event_timestamp
                .ok_or_else(|| missing(attr::EVENT_TIMESTAMP))?,
        }))
    }
}

impl Store {
    /// The status half of [`Store::record`]: the conditional update alone (`recorded` for
    /// connect_failed, which never touches the status). `presence rebuild` replays the event
    /// log through it.
    pub async fn apply_status(
        &self,
        event: &LifecycleEvent,
        event_key: &str,
        now_ms: u64,
    ) -> Result<(Outcome, Option<Rule>), StoreError> {
        self.apply_status_with(event, event_key, now_ms, Count::Change)
            .await
    }

    /// [`Store::apply_status`], counted as a change or not ([`Count`]).
    pub async fn apply_status_with(
        &self,
        event: &LifecycleEvent,
        event_key: &str,
        now_ms: u64,
        count: Count,
    ) -> Result<(Outcome, Option<Rule>), StoreError> {
        // The table's count (cached): during a migration, the new one.
        let shards = self.shard_layout().await?.status_shards;
        let update = status_update_with(
            event,
            event_key,
            self.window,
            now_ms,
            self.status_retention_days,
            shards,
            count,
        )?;
        match (event.observed_at(now_ms), update) {
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
            .update_status_item(&event.client_id, update.expr, true)
            .await;
        let malformed = |problem: ItemProblem| {
            StoreError::Malformed(MalformedItem::new(
                &self.status_table,
                &event.client_id,
                problem,
            ))
        };
        let disagreement = || StoreError::RuleDisagreement {
            table: self.status_table.clone(),
            client_id: event.client_id.clone(),
        };
        let stored = |item: Item| -> Result<Status, StoreError> {
            Status::from_item(item).map_err(|err| malformed(err.into()))
        };
        let refused_item = match result {
            Ok(Ok(output)) => {
                // The condition held. The old item (ALL_OLD: returned, not read) names the rule
                // row for the log, and re-checks the condition against the rule in production.
                let old = output.attributes.unwrap_or_default();
                // An update of a new item returns no attributes at all: no status yet.
                let verdict = if old.is_empty() {
                    decide(None, &observed, self.window)
                } else {
                    let old = stored(old)?;
                    let current = old.observed().map_err(malformed)?;
                    decide(current.as_ref(), &observed, self.window)
                };
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
            malformed(ItemProblem::Invalid(
                "the refused update returned no item (ALL_OLD unsupported?)".into(),
            ))
        })?;
        let current = stored(item)?;
        if current.last_event_key.as_deref() == Some(event_key) {
            // A redelivery of the event that set the status.
            return Ok((Outcome::Applied, None));
        }
        let verdict = decide(
            current.observed().map_err(malformed)?.as_ref(),
            &observed,
            self.window,
        );
        match verdict.decision {
            Decision::Duplicate => Ok((Outcome::Duplicate, Some(verdict.rule))),
            Decision::Stale => Ok((Outcome::Stale, Some(verdict.rule))),
            Decision::Apply => Err(disagreement()),
        }
    }

    /// Sets (or with `None` clears) a client's own offline threshold, and asks the alerter to
    /// look at the client now, so a pending alert moves to the new threshold at its next pass.
    /// With [`Missing::Create`] it works before the client's first event too (the item then
    /// holds only settings); with [`Missing::Refuse`] it writes nothing for a client without a
    /// status item and returns `false`.
    pub async fn set_offline_threshold(
        &self,
        client_id: &str,
        threshold_ms: Option<u64>,
        now_ms: u64,
        missing: Missing,
    ) -> Result<bool, StoreError> {
        let mut e = Expr::new();
        if missing == Missing::Refuse {
            let id = e.name(attr::CLIENT_ID);
            e.require(format!("attribute_exists({id})"));
        }
        e.set(attr::ALERT_DUE_AT, n(now_ms));
        match threshold_ms {
            Some(ms) => e.set(attr::OFFLINE_THRESHOLD, n(ms)),
            None => e.remove(attr::OFFLINE_THRESHOLD),
        }
        let built = e.build()?;
        let written = self
            .update_status_item(client_id, built, false)
            .await
            .map_err(|source| StoreError::UpdateStatus {
                table: self.status_table.clone(),
                client_id: client_id.to_owned(),
                source,
            })?;
        // Refused only by the existence condition.
        Ok(written.is_ok())
    }
}

/// What a settings write does for a client without a status item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Create the item, holding only the setting.
    Create,
    /// Write nothing.
    Refuse,
}

#[cfg(test)]
mod tests;
