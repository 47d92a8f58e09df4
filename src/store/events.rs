//! The event log: one row per event, written once, and `record`, which puts the status update
//! and the row together.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::expr::{s, Expr};
use super::item::{EventRow, ItemProblem, MalformedItem};
use super::schema::attr;
use super::{split_refusal, Recorded, Store, StoreError};
use crate::event::LifecycleEvent;
use crate::rule::Outcome;

/// The event-table row of an event.
pub fn event_row(
    event: &LifecycleEvent,
    event_key: &str,
    payload: &str,
    outcome: Outcome,
    now_ms: u64,
    retention_days: u32,
) -> EventRow {
    EventRow {
        client_id: event.client_id.clone(),
        event_key: event_key.to_owned(),
        event_type: event.event_type.as_str().to_owned(),
        session_identifier: event.session_identifier.clone(),
        version_number: event.version_number,
        event_timestamp: event.timestamp,
        payload: payload.to_owned(),
        received_at: Some(now_ms),
        outcome,
        expires_at: Some(now_ms / 1000 + u64::from(retention_days) * 86_400),
        disconnect_reason: event.disconnect_reason.clone(),
        connect_failure_reason: event.connect_failure_reason.clone(),
        invalid_reason: None,
    }
}

impl Store {
    /// Records one validated event: updates the status (if the rule says so), then appends the
    /// event row with its outcome.
    ///
    /// The status goes first so that the row can carry the outcome in a single write. If the
    /// process dies between the two, Lambda retries the invocation; the retry's update is
    /// refused, the returned item's `lastEventKey` shows that this very event set it, and the row
    /// is written as `applied`, as in a clean delivery. (The one case a retry cannot recover is
    /// a newer event overtaking in between: the row then says `stale`; the status is right.)
    pub async fn record(
        &self,
        event: &LifecycleEvent,
        payload: &str,
        now_ms: u64,
    ) -> Result<Recorded, StoreError> {
        let event_key = event.event_key();
        let row = |outcome| {
            event_row(
                event,
                &event_key,
                payload,
                outcome,
                now_ms,
                self.retention_days,
            )
        };
        if let Err(rejected) = event.check_not_from_the_future(now_ms, self.future_skew_ms) {
            // Kept, with the reason, so that nothing is dropped silently; never applied.
            let mut invalid = row(Outcome::Invalid);
            invalid.invalid_reason = Some(rejected.to_string());
            let (outcome, redelivered) = self.append_event(&invalid).await?;
            return Ok(Recorded {
                event_key,
                outcome,
                rule: None,
                redelivered,
            });
        }
        let (outcome, rule) = self.apply_status(event, &event_key, now_ms).await?;
        let (outcome, redelivered) = self.append_event(&row(outcome)).await?;
        Ok(Recorded {
            event_key,
            outcome,
            rule,
            redelivered,
        })
    }

    /// Writes the event row once. A redelivery finds the row and answers with its stored
    /// outcome, so invoking again with the same event changes nothing and answers the same way.
    /// The one overwrite allowed: an `applied` outcome replaces another, because a concurrent
    /// delivery of the same event may have written `stale` after seeing a newer status while
    /// this delivery is the one whose update applied.
    async fn append_event(&self, row: &EventRow) -> Result<(Outcome, bool), StoreError> {
        let mut e = Expr::new();
        let key = e.name(attr::EVENT_KEY);
        let mut condition = format!("attribute_not_exists({key})");
        if row.outcome == Outcome::Applied {
            let outcome = e.name(attr::OUTCOME);
            let applied = e.value("applied", s(Outcome::Applied.as_str()));
            condition.push_str(&format!(" OR {outcome} <> {applied}"));
        }
        e.require(condition);
        let built = e.build()?;
        let request = self
            .client
            .put_item()
            .table_name(&self.events_table)
            .set_item(Some(row.to_item()))
            .set_condition_expression(built.condition)
            .set_expression_attribute_names(built.names)
            .set_expression_attribute_values(built.values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let result = split_refusal(request.send().await, |e| match e {
            PutItemError::ConditionalCheckFailedException(refused) => Some(refused),
            _ => None,
        });
        let existing = match result {
            Ok(Ok(_)) => return Ok((row.outcome, false)),
            Ok(Err(existing)) => existing,
            Err(source) => {
                return Err(StoreError::PutEvent {
                    table: self.events_table.clone(),
                    client_id: row.client_id.clone(),
                    source,
                })
            }
        };
        let malformed = |problem: ItemProblem| {
            StoreError::Malformed(MalformedItem::new(
                &self.events_table,
                &row.client_id,
                problem,
            ))
        };
        let existing = existing.ok_or_else(|| {
            malformed(ItemProblem::Invalid(
                "the refused write returned no row (ALL_OLD unsupported?)".into(),
            ))
        })?;
        let stored = EventRow::from_item(existing).map_err(|err| malformed(err.into()))?;
        Ok((stored.outcome, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::expr::n;

    #[test]
    fn event_rows_keep_the_payload_verbatim_and_expire() {
        let raw = "{ \"clientId\":\"c\", \"timestamp\":5,\"eventType\":\"connect_failed\",\"sessionIdentifier\":\"s\" }";
        let e = LifecycleEvent::parse(raw).unwrap();
        let row = event_row(&e, &e.event_key(), raw, Outcome::Recorded, 1_000_000, 30).to_item();
        assert_eq!(row[attr::PAYLOAD], s(raw));
        assert_eq!(row[attr::OUTCOME], s("recorded"));
        assert_eq!(row[attr::EXPIRES_AT], n(1_000 + 30 * 86_400));
        assert!(!row.contains_key(attr::VERSION));
        assert!(!row.contains_key(attr::INVALID_REASON));
    }
}
