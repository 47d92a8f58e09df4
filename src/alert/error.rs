//! Why an alert pass failed on a client: each failure keeps its SDK error as the source; the
//! client stays due (or leased) and the next pass retries it.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::QueryError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_sns::operation::publish::PublishError;
use thiserror::Error;

use super::clauses::LEASE_MS;
use crate::read::ReadError;
use crate::store::expr::ExprError;
use crate::store::item::MalformedItem;
use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum AlertError {
    #[error("DynamoDB Query of {index} shard {shard} in table {table} failed")]
    Query {
        table: String,
        index: &'static str,
        shard: String,
        #[source]
        source: Box<SdkError<QueryError>>,
    },
    #[error("DynamoDB UpdateItem ({step}) of client {client_id:?} in table {table} failed")]
    Update {
        step: &'static str,
        table: String,
        client_id: String,
        #[source]
        source: Box<SdkError<UpdateItemError>>,
    },
    #[error("SNS Publish of a {kind} notice for client {client_id:?} to {topic} failed")]
    Publish {
        kind: &'static str,
        client_id: String,
        topic: String,
        #[source]
        source: Box<SdkError<PublishError>>,
    },
    #[error("reading the event log of client {client_id:?} failed")]
    Activity {
        client_id: String,
        #[source]
        source: Box<ReadError>,
    },
    #[error("the storm registry in table {table} could not be read or written")]
    Storms {
        table: String,
        #[source]
        source: Box<StoreError>,
    },
    #[error("reading the recent drops for the storm watch failed")]
    Drops(#[source] Box<ReadError>),
    #[error("SNS Publish of the {kind} notice of {storm_id} to {topic} failed")]
    PublishStorm {
        kind: &'static str,
        storm_id: String,
        topic: String,
        #[source]
        source: Box<SdkError<PublishError>>,
    },
    #[error(
        "the storm registry's lease was lost while its notices were sent; another pass may \
         send them again"
    )]
    StormLeaseLost,
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
    /// A bug: an expression bound a placeholder twice (see [`crate::store::expr`]).
    #[error("building a DynamoDB expression failed")]
    Expression(#[from] ExprError),
    #[error(
        "the lease on client {client_id:?} expired while its notices were sent; another pass \
         may send them again (a pass outlived the {LEASE_MS} ms lease)"
    )]
    LeaseLost { client_id: String },
}
