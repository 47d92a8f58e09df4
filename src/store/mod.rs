//! DynamoDB writes: the conditional status update and the event-log append, over the table
//! contract of [`schema`].
//!
//! - [`schema`]: attribute names, index names, shards (the one place for them).
//! - [`expr`]: the one expression builder.
//! - [`item`]: typed items (`serde_dynamo`): the status item, the event row, alert fields.
//! - [`status`]: the conditional status update, whose condition mirrors [`crate::rule`].
//! - [`events`]: the idempotent event-log append, and `record`, which does both.
//! - [`capacity`]: consumed capacity, asked of and added up for every request.
//!
//! No read-then-write anywhere. Requests are built by pure functions
//! ([`status::status_update`], [`events::event_row`]) so that the bench and the tests can look
//! at them without a server.

pub mod capacity;
pub mod events;
pub mod expr;
pub mod item;
pub mod narrow;
pub mod schema;
pub mod shards;
pub mod status;
pub mod storms;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use thiserror::Error;

use crate::config::Config;
use crate::errors::sdk_error_is_transient;
use crate::rule::{Outcome, Rule, Window};
use expr::{s, Built};
pub use item::Item;
use item::MalformedItem;
use schema::attr;

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub event_key: String,
    pub outcome: Outcome,
    /// The rule row that decided, when this delivery evaluated the rule; `None` for
    /// connect_failed and for a redelivery of the event that set the status.
    pub rule: Option<Rule>,
    /// True when the event row already existed (a redelivery): `outcome` is the stored one.
    pub redelivered: bool,
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("DynamoDB UpdateItem on status table {table} for client {client_id:?} failed")]
    UpdateStatus {
        table: String,
        client_id: String,
        #[source]
        source: Box<SdkError<UpdateItemError>>,
    },
    #[error("DynamoDB PutItem on event table {table} for client {client_id:?} failed")]
    PutEvent {
        table: String,
        client_id: String,
        #[source]
        source: Box<SdkError<PutItemError>>,
    },
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
    /// A bug: an expression bound a placeholder twice (see [`expr`]).
    #[error("building a DynamoDB expression failed")]
    Expression(#[from] expr::ExprError),
    #[error(
        "DynamoDB refused the update of client {client_id:?} in {table}, yet the ordering rule \
         applies the event over the item it returned; the condition and the rule disagree"
    )]
    RuleDisagreement { table: String, client_id: String },
    #[error("DynamoDB GetItem of {key:?} in status table {table} failed")]
    GetSettings {
        table: String,
        key: &'static str,
        #[source]
        source: Box<SdkError<aws_sdk_dynamodb::operation::get_item::GetItemError>>,
    },
    #[error("STATUS_SHARDS={count} is invalid: expected {expected}")]
    ShardCount { count: u32, expected: String },
    #[error(
        "STATUS_SHARDS={deployed} disagrees with status table {table}, which has {} shards{}: \
         deploy StatusShards={}, or change the table's count with `presence shards migrate --to \
         {deployed}` (docs/design.md \"Shard count: why shards, and how many\")",
        layout.status_shards,
        layout.migrating_from.map(|f| format!(" (migrating from {f})")).unwrap_or_default(),
        layout.status_shards
    )]
    ShardsDisagree {
        table: String,
        deployed: u32,
        layout: shards::ShardLayout,
    },
}

impl StoreError {
    /// Throttling, timeouts, connection failures and 5xx: a retry may succeed. Lambda retries
    /// every failed invocation anyway; this tells the logs and the error type which kind it was.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::UpdateStatus { source, .. } => sdk_error_is_transient(source),
            StoreError::PutEvent { source, .. } => sdk_error_is_transient(source),
            StoreError::GetSettings { source, .. } => sdk_error_is_transient(source),
            StoreError::Malformed(_)
            | StoreError::Expression(_)
            | StoreError::RuleDisagreement { .. }
            | StoreError::ShardCount { .. }
            | StoreError::ShardsDisagree { .. } => false,
        }
    }
}

/// Splits a conditional write's result: `Ok(Ok(output))` when it was written, `Ok(Err(item))`
/// when its condition failed (`item`: what the condition was checked against, from `ALL_OLD`),
/// `Err` for every other failure.
pub(crate) fn split_refusal<O, E>(
    result: Result<O, SdkError<E>>,
    refusal: fn(&E) -> Option<&ConditionalCheckFailedException>,
) -> Result<Result<O, Option<Item>>, Box<SdkError<E>>> {
    match result {
        Ok(output) => Ok(Ok(output)),
        Err(SdkError::ServiceError(service)) => match refusal(service.err()) {
            Some(refused) => Ok(Err(refused.item.clone())),
            None => Err(Box::new(SdkError::ServiceError(service))),
        },
        Err(other) => Err(Box::new(other)),
    }
}

/// The two tables and the settings the writes need.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) client: Client,
    pub(crate) status_table: String,
    pub(crate) events_table: String,
    pub(crate) window: Window,
    pub(crate) retention_days: u32,
    future_skew_ms: u64,
    pub(crate) status_retention_days: u32,
    pub(crate) layout: shards::LayoutCache,
    capacity: capacity::Ledger,
}

impl Store {
    /// The store over `client`, which it rebuilds with a [`capacity::CapacityMeter`]: every
    /// request it makes asks for its consumed capacity, and [`Store::capacity`] adds it up.
    pub fn new(client: Client, config: &Config) -> Self {
        let meter = capacity::CapacityMeter::default();
        let capacity = meter.ledger.clone();
        let client = Client::from_conf(client.config().to_builder().interceptor(meter).build());
        Store {
            client,
            capacity,
            status_table: config.status_table.clone(),
            events_table: config.events_table.clone(),
            window: config.window,
            retention_days: config.retention_days,
            future_skew_ms: config.future_skew_ms,
            status_retention_days: config.status_retention_days,
            layout: shards::LayoutCache::default(),
        }
    }

    /// What this store's requests consumed (shared by its clones).
    pub fn capacity(&self) -> &capacity::Ledger {
        &self.capacity
    }

    /// One `UpdateItem` of a client's status item with a built expression: the one way every
    /// module writes the status table. `Ok(Ok(output))` when written, `Ok(Err(item))` when its
    /// condition failed (with `return_old`, `item` is what the condition saw), `Err` otherwise.
    /// With `return_old` a write also returns the old item (`ALL_OLD`).
    pub(crate) async fn update_status_item(
        &self,
        client_id: &str,
        expr: Built,
        return_old: bool,
    ) -> Result<Result<UpdateItemOutput, Option<Item>>, Box<SdkError<UpdateItemError>>> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.status_table)
            .key(attr::CLIENT_ID, s(client_id))
            .set_update_expression(expr.update)
            .set_condition_expression(expr.condition)
            .set_expression_attribute_names(expr.names)
            .set_expression_attribute_values(expr.values);
        if return_old {
            request = request
                .return_values(ReturnValue::AllOld)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
        }
        split_refusal(request.send().await, |e| match e {
            UpdateItemError::ConditionalCheckFailedException(refused) => Some(refused),
            _ => None,
        })
    }
}
