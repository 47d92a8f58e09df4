//! The status table's stream, read from the local DynamoDB (`presence_template::stream`) and
//! handed to the PresenceChanged function as Lambda's event source mapping would: a batch at
//! a time, and a batch sent again from the record a `batchItemFailures` answer names.

use iot_presence::functions::changes::{handle, Delivered, Publisher, StreamEvent};
use serde_json::{json, Value};

use super::local;

/// Times one batch is sent again after `batchItemFailures` before the test gives up.
const MAX_RETRIES: usize = 20;

pub struct Stream {
    table: String,
}

impl Stream {
    /// The stream of `table` (created from template.yaml, whose status table has one).
    pub async fn of(table: &str) -> Stream {
        Stream {
            table: table.to_owned(),
        }
    }

    /// Every record so far, in order, as Lambda's records.
    pub async fn records(&self) -> Vec<Value> {
        let config = aws_sdk_dynamodbstreams::config::Builder::from(&local::sdk_config())
            .endpoint_url(local::endpoint())
            .build();
        let streams = aws_sdk_dynamodbstreams::Client::from_conf(config);
        presence_template::stream::records(&local::client(), &streams, &self.table)
            .await
            .expect("the stream's records")
    }
}

/// Lambda's part: `records` to the function in batches of `batch`, each batch sent again from
/// the record a `batchItemFailures` answer names. What each invocation delivered, in order.
pub async fn deliver(p: &Publisher, records: &[Value], batch: usize) -> Vec<Delivered> {
    let mut at = 0;
    let mut invocations = Vec::new();
    let mut retries = 0;
    while at < records.len() {
        let end = (at + batch).min(records.len());
        let event: StreamEvent =
            serde_json::from_value(json!({"Records": records[at..end]})).expect("a stream event");
        let (answer, delivered) = handle(p, event).await;
        invocations.push(delivered);
        match answer.batch_item_failures.first() {
            None => {
                at = end;
                retries = 0;
            }
            Some(failure) => {
                retries += 1;
                assert!(retries <= MAX_RETRIES, "the batch at {at} keeps failing");
                at = records[at..end]
                    .iter()
                    .position(|r| {
                        r["dynamodb"]["SequenceNumber"] == failure.item_identifier.as_str()
                    })
                    .map(|i| at + i)
                    .expect("the failure names a record of the batch");
            }
        }
    }
    invocations
}
