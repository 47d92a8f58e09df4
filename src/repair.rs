//! The repair's DynamoDB writes (see [`crate::reconcile`] for the rule, [`crate::reconciler`]
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

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use thiserror::Error;

use crate::decision::Outcome;
use crate::event::Presence;
use crate::reconcile::{BrokerAnswer, Repair, REPAIR_SESSION, REPAIR_VERSION};
use crate::store::{
    alert_shard, attr, n, s, status_shard, Placeholders, Store, REASON_NONE, REASON_UNKNOWN,
};

#[derive(Debug, Error)]
pub enum RepairError {
    #[error("DynamoDB TransactWriteItems (repair of client {client_id:?}) failed")]
    Transaction {
        client_id: String,
        #[source]
        source: Box<SdkError<TransactWriteItemsError>>,
    },
    #[error("DynamoDB UpdateItem (broker settings of client {client_id:?}) failed")]
    Facts {
        client_id: String,
        #[source]
        source: Box<SdkError<UpdateItemError>>,
    },
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
        let mut row = HashMap::from([
            (attr::CLIENT_ID.to_owned(), s(client_id)),
            (attr::EVENT_KEY.to_owned(), s(&key)),
            (attr::EVENT_TYPE.to_owned(), s(repair.presence.as_str())),
            (attr::SESSION.to_owned(), s(REPAIR_SESSION)),
            (attr::VERSION.to_owned(), n(REPAIR_VERSION)),
            (attr::EVENT_TIMESTAMP.to_owned(), n(repair.timestamp)),
            (attr::PAYLOAD.to_owned(), s(payload)),
            (attr::RECEIVED_AT.to_owned(), n(now)),
            (attr::OUTCOME.to_owned(), s(Outcome::Reconciled.as_str())),
            (
                attr::EXPIRES_AT.to_owned(),
                n(now / 1000 + u64::from(self.retention_days) * 86_400),
            ),
        ]);
        if let Some(reason) = &repair.disconnect_reason {
            row.insert(attr::DISCONNECT_REASON.to_owned(), s(reason));
        }
        let put = Put::builder()
            .table_name(&self.events_table)
            .set_item(Some(row))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", attr::EVENT_KEY)
            .build()
            .expect("table name and item are set");

        let (expression, p) = self.repair_update(client_id, read_key, repair, answer, &key);
        let update = Update::builder()
            .table_name(&self.status_table)
            .key(attr::CLIENT_ID, s(client_id))
            .update_expression(expression.update)
            .condition_expression(expression.condition)
            .set_expression_attribute_names(Some(p.names))
            .set_expression_attribute_values(Some(p.values))
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
    ) -> (Expression, Placeholders) {
        let mut p = Placeholders::default();
        let mut set = Vec::new();
        let mut remove = vec![
            p.name(attr::CONNECTED_SESSION),
            p.name(attr::CLIENT_INITIATED),
        ];
        let mut assign = |p: &mut Placeholders, name: &str, value: AttributeValue| {
            let placeholder = p.name(name);
            let bound = p.bind(name, value);
            set.push(format!("{placeholder} = {bound}"));
        };
        let now = answer.observed_at;
        assign(
            &mut p,
            attr::CONNECTED,
            AttributeValue::Bool(answer.connected),
        );
        assign(&mut p, attr::EVENT_TYPE, s(repair.presence.as_str()));
        assign(&mut p, attr::SESSION, s(REPAIR_SESSION));
        assign(&mut p, attr::VERSION, n(REPAIR_VERSION));
        assign(&mut p, attr::EVENT_TIMESTAMP, n(repair.timestamp));
        assign(&mut p, attr::UPDATED_AT, n(now));
        assign(&mut p, attr::LAST_EVENT_KEY, s(key));
        assign(
            &mut p,
            attr::STATUS_SHARD,
            s(status_shard(client_id, repair.presence)),
        );
        assign(&mut p, attr::ALERT_DUE_AT, n(now));
        assign(&mut p, attr::RECONCILED_AT, n(now));
        self.facts(&mut p, answer, &mut assign);
        if self.status_retention_days > 0 {
            let days = u64::from(self.status_retention_days);
            assign(&mut p, attr::EXPIRES_AT, n(now / 1000 + days * 86_400));
        }
        if let Some(thing) = &answer.thing_name {
            assign(&mut p, attr::THING_NAME, s(thing));
        }
        match repair.presence {
            Presence::Connected => {
                assign(&mut p, attr::DISCONNECT_REASON, s(REASON_NONE));
                assign(&mut p, attr::CONNECTED_AT, n(repair.since));
                // The address and principal were the last known connection's, not this one's.
                remove.push(p.name(attr::DISCONNECTED_AT));
                remove.push(p.name(attr::IP_ADDRESS));
                remove.push(p.name(attr::PRINCIPAL));
            }
            Presence::Disconnected => {
                let reason = repair
                    .disconnect_reason
                    .as_deref()
                    .unwrap_or(REASON_UNKNOWN);
                assign(&mut p, attr::DISCONNECT_REASON, s(reason));
                assign(&mut p, attr::DISCONNECTED_AT, n(repair.since));
                assign(&mut p, attr::ALERT_SHARD, s(alert_shard(client_id)));
            }
        }
        let update = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
        let last = p.name(attr::LAST_EVENT_KEY);
        let condition = match read_key {
            Some(read) => {
                let read = p.bind("readEventKey", s(read));
                format!("{last} = {read}")
            }
            None => format!("attribute_not_exists({last})"),
        };
        (Expression { update, condition }, p)
    }

    /// Sets the broker's session settings through `assign`.
    fn facts(
        &self,
        p: &mut Placeholders,
        answer: &BrokerAnswer,
        assign: &mut impl FnMut(&mut Placeholders, &str, AttributeValue),
    ) {
        let facts = answer.facts();
        assign(
            p,
            attr::CLEAN_SESSION,
            AttributeValue::Bool(facts.clean_session),
        );
        assign(p, attr::SESSION_EXPIRY, n(facts.session_expiry));
        assign(p, attr::KEEP_ALIVE, n(facts.keep_alive_duration));
        assign(p, attr::BROKER_CHECKED_AT, n(facts.checked_at));
    }

    /// Keeps the broker's session settings on an existing item.
    pub async fn keep_broker_facts(
        &self,
        client_id: &str,
        answer: &BrokerAnswer,
    ) -> Result<(), RepairError> {
        let mut p = Placeholders::default();
        let mut set = Vec::new();
        let mut assign = |p: &mut Placeholders, name: &str, value: AttributeValue| {
            let placeholder = p.name(name);
            let bound = p.bind(name, value);
            set.push(format!("{placeholder} = {bound}"));
        };
        self.facts(&mut p, answer, &mut assign);
        let id = p.name(attr::CLIENT_ID);
        let result = self
            .client
            .update_item()
            .table_name(&self.status_table)
            .key(attr::CLIENT_ID, s(client_id))
            .update_expression(format!("SET {}", set.join(", ")))
            .condition_expression(format!("attribute_exists({id})"))
            .set_expression_attribute_names(Some(p.names))
            .set_expression_attribute_values(Some(p.values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The item went away (TTL, purge) since it was read: nothing to keep them on.
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Err(source) => Err(RepairError::Facts {
                client_id: client_id.to_owned(),
                source: Box::new(source),
            }),
        }
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

struct Expression {
    update: String,
    condition: String,
}
