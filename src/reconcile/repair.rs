//! The repair's DynamoDB writes (see [`super::rule`] for the rule, [`super::pass`]
//! for when they happen).
//!
//! A repair is one `TransactWriteItems` of two writes, so that it is never without its record:
//! - the event-table row: outcome `reconciled`, the broker's answer as payload, key
//!   `{T_r}#reconciled#{Q}` (sorts by time; never the key of a lifecycle event);
//! - the status update, conditional on `lastEventKey` still being the one read: a repair never
//!   overwrites a status that changed after it was read. If an event lands in between, the
//!   transaction is cancelled and nothing is written.
//!
//! When the broker agrees, its session settings (`cleanSession`, `sessionExpiry`,
//! `keepAliveDuration`, `brokerCheckedAt`) are kept on the item, conditional on the item
//! existing: reconcile never creates an item for a client the broker does not show online.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use thiserror::Error;

use super::rule::{BrokerAnswer, Repair, REPAIR_SESSION, REPAIR_VERSION};
use crate::event::Presence;
use crate::rule::Outcome;
use crate::store::expr::{n, s, Expr, ExprError};
use crate::store::item::EventRow;
use crate::store::schema::{alert_shard, attr, status_shard, REASON_NONE, REASON_UNKNOWN};
use crate::store::status::count_change;
use crate::store::Store;

#[derive(Debug, Error)]
pub enum RepairError {
    #[error("DynamoDB TransactWriteItems (repair of client {client_id:?}) failed")]
    Transaction {
        client_id: String,
        #[source]
        source: Box<SdkError<TransactWriteItemsError>>,
    },
    /// A bug: an expression bound a placeholder twice (see [`crate::store::expr`]).
    #[error("building a DynamoDB expression failed")]
    Expression(#[from] ExprError),
    #[error("DynamoDB UpdateItem (broker settings of client {client_id:?}) failed")]
    Facts {
        client_id: String,
        #[source]
        source: Box<SdkError<UpdateItemError>>,
    },
    #[error("reading the status table's shard count failed")]
    Shards(#[source] Box<crate::store::StoreError>),
}

impl Store {
    /// Writes a repair and its record in one transaction; `false` when the status changed since
    /// it was read (`read_key`) and nothing was written.
    pub async fn write_repair(
        &self,
        client_id: &str,
        read_key: Option<&str>,
        repair: &Repair,
        answer: &BrokerAnswer,
    ) -> Result<bool, RepairError> {
        let now = answer.observed_at;
        let key = format!("{:013}#{}#{now}", repair.timestamp, Outcome::Reconciled);
        let payload = serde_json::to_string(answer).expect("a broker answer serializes");
        let row = EventRow {
            client_id: client_id.to_owned(),
            event_key: key.clone(),
            event_type: repair.presence.as_str().to_owned(),
            session_identifier: REPAIR_SESSION.to_owned(),
            version_number: Some(REPAIR_VERSION),
            event_timestamp: repair.timestamp,
            payload,
            received_at: Some(now),
            outcome: Outcome::Reconciled,
            expires_at: Some(now / 1000 + u64::from(self.retention_days) * 86_400),
            disconnect_reason: repair.disconnect_reason.clone(),
            connect_failure_reason: None,
            invalid_reason: None,
        };
        let mut e = Expr::new();
        let k = e.name(attr::EVENT_KEY);
        e.require(format!("attribute_not_exists({k})"));
        let new_row = e.build()?;
        let put = Put::builder()
            .table_name(&self.events_table)
            .set_item(Some(row.to_item()))
            .set_condition_expression(new_row.condition)
            .set_expression_attribute_names(new_row.names)
            .build()
            .expect("table name and item are set");

        let shards = self
            .shard_layout()
            .await
            .map_err(|err| RepairError::Shards(Box::new(err)))?
            .status_shards;
        let expr = self
            .repair_update(client_id, read_key, repair, answer, &key, shards)
            .build()?;
        let update = Update::builder()
            .table_name(&self.status_table)
            .key(attr::CLIENT_ID, s(client_id))
            .set_update_expression(expr.update)
            .set_condition_expression(expr.condition)
            .set_expression_attribute_names(expr.names)
            .set_expression_attribute_values(expr.values)
            .build()
            .expect("table name, key and expression are set");
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(service)) if refused_by_a_condition(service.err()) => {
                Ok(false)
            }
            Err(source) => Err(RepairError::Transaction {
                client_id: client_id.to_owned(),
                source: Box::new(source),
            }),
        }
    }

    fn repair_update(
        &self,
        client_id: &str,
        read_key: Option<&str>,
        repair: &Repair,
        answer: &BrokerAnswer,
        key: &str,
        status_shards: u32,
    ) -> Expr {
        let mut e = Expr::new();
        e.remove(attr::CONNECTED_SESSION);
        e.remove(attr::CLIENT_INITIATED);
        let now = answer.observed_at;
        e.set(attr::CONNECTED, AttributeValue::Bool(answer.connected));
        e.set(attr::EVENT_TYPE, s(repair.presence.as_str()));
        e.set(attr::SESSION, s(REPAIR_SESSION));
        e.set(attr::VERSION, n(REPAIR_VERSION));
        e.set(attr::EVENT_TIMESTAMP, n(repair.timestamp));
        e.set(attr::UPDATED_AT, n(now));
        e.set(attr::LAST_EVENT_KEY, s(key));
        e.set(
            attr::STATUS_SHARD,
            s(status_shard(client_id, repair.presence, status_shards)),
        );
        e.set(attr::ALERT_DUE_AT, n(now));
        e.set(attr::RECONCILED_AT, n(now));
        count_change(&mut e);
        set_facts(&mut e, answer);
        if self.status_retention_days > 0 {
            let days = u64::from(self.status_retention_days);
            e.set(attr::EXPIRES_AT, n(now / 1000 + days * 86_400));
        }
        if let Some(thing) = &answer.thing_name {
            e.set(attr::THING_NAME, s(thing));
        }
        match repair.presence {
            Presence::Connected => {
                e.set(attr::DISCONNECT_REASON, s(REASON_NONE));
                e.set(attr::CONNECTED_AT, n(repair.since));
                // The address and principal were the last known connection's, not this one's.
                e.remove(attr::DISCONNECTED_AT);
                e.remove(attr::IP_ADDRESS);
                e.remove(attr::PRINCIPAL);
            }
            Presence::Disconnected => {
                let reason = repair
                    .disconnect_reason
                    .as_deref()
                    .unwrap_or(REASON_UNKNOWN);
                e.set(attr::DISCONNECT_REASON, s(reason));
                e.set(attr::DISCONNECTED_AT, n(repair.since));
                e.set(attr::ALERT_SHARD, s(alert_shard(client_id)));
            }
        }
        let last = e.name(attr::LAST_EVENT_KEY);
        match read_key {
            Some(read) => {
                let read = e.value("readEventKey", s(read));
                e.require(format!("{last} = {read}"));
            }
            None => e.require(format!("attribute_not_exists({last})")),
        }
        e
    }

    /// Keeps the broker's session settings on an existing item.
    pub async fn keep_broker_facts(
        &self,
        client_id: &str,
        answer: &BrokerAnswer,
    ) -> Result<(), RepairError> {
        let mut e = Expr::new();
        set_facts(&mut e, answer);
        let id = e.name(attr::CLIENT_ID);
        e.require(format!("attribute_exists({id})"));
        let expr = e.build()?;
        // Refused: the item went away (TTL, purge) since it was read, nothing to keep them on.
        self.update_status_item(client_id, expr, false)
            .await
            .map(|_| ())
            .map_err(|source| RepairError::Facts {
                client_id: client_id.to_owned(),
                source,
            })
    }
}

/// True when a transaction was cancelled because a condition failed (the status changed since
/// it was read, or the repair's row exists already), rather than for a transient reason.
fn refused_by_a_condition(err: &TransactWriteItemsError) -> bool {
    match err {
        TransactWriteItemsError::TransactionCanceledException(cancel) => cancel
            .cancellation_reasons()
            .iter()
            .any(|reason| reason.code() == Some("ConditionalCheckFailed")),
        _ => false,
    }
}

/// Sets the broker's session settings.
fn set_facts(e: &mut Expr, answer: &BrokerAnswer) {
    let facts = answer.facts();
    e.set(
        attr::CLEAN_SESSION,
        AttributeValue::Bool(facts.clean_session),
    );
    e.set(attr::SESSION_EXPIRY, n(facts.session_expiry));
    e.set(attr::KEEP_ALIVE, n(facts.keep_alive_duration));
    e.set(attr::BROKER_CHECKED_AT, n(facts.checked_at));
}
