//! A local table's stream, read with DynamoDB Streams' own API and turned into the records of
//! the event Lambda's event source mapping delivers (`Records[].dynamodb.{Keys, NewImage,
//! OldImage, SequenceNumber}`, images in DynamoDB JSON): what the tests and `cargo xtask
//! changes` hand to the PresenceChanged function.

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, Shard, ShardIteratorType};
use serde_json::{json, Value};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Pages of GetRecords read from one shard at most (a local stream holds far fewer).
const MAX_PAGES: usize = 10_000;

/// Every record of `table`'s stream so far, shard by shard (a parent before its children),
/// each shard in order, as Lambda's records.
pub async fn records(
    dynamodb: &aws_sdk_dynamodb::Client,
    streams: &aws_sdk_dynamodbstreams::Client,
    table: &str,
) -> Result<Vec<Value>, BoxError> {
    let described = dynamodb.describe_table().table_name(table).send().await?;
    let arn = described
        .table()
        .and_then(|t| t.latest_stream_arn())
        .ok_or_else(|| {
            format!("table {table} has no stream (template.yaml's StreamSpecification)")
        })?
        .to_owned();
    let shards = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await?
        .stream_description()
        .map(|d| d.shards().to_vec())
        .unwrap_or_default();
    let mut out = Vec::new();
    for shard in parents_first(shards)? {
        let Some(id) = shard.shard_id() else { continue };
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await?
            .shard_iterator;
        for _ in 0..MAX_PAGES {
            let Some(it) = iterator.take() else { break };
            let page = streams.get_records().shard_iterator(it).send().await?;
            if page.records().is_empty() {
                // An open shard answers empty pages for ever: the end of what is there.
                break;
            }
            for r in page.records() {
                out.push(lambda_record(&arn, r)?);
            }
            iterator = page.next_shard_iterator;
        }
    }
    Ok(out)
}

/// A shard after its parent, when the parent is listed too.
fn parents_first(mut left: Vec<Shard>) -> Result<Vec<Shard>, BoxError> {
    let mut ordered: Vec<Shard> = Vec::new();
    while !left.is_empty() {
        let next = left.iter().position(|s| {
            s.parent_shard_id().is_none_or(|parent| {
                ordered.iter().any(|o| o.shard_id() == Some(parent))
                    || !left.iter().any(|o| o.shard_id() == Some(parent))
            })
        });
        let Some(next) = next else {
            return Err("the stream's shards have a cycle of parents".into());
        };
        ordered.push(left.remove(next));
    }
    Ok(ordered)
}

/// One stream record as Lambda's DynamoDB event carries it.
fn lambda_record(arn: &str, r: &Record) -> Result<Value, BoxError> {
    let data = r.dynamodb().ok_or("a stream record without its data")?;
    let image = |m: Option<&HashMap<String, AttributeValue>>| -> Result<Option<Value>, BoxError> {
        Ok(match m {
            Some(m) => Some(serde_json::to_value(serde_dynamo::Item::from(m.clone()))?),
            None => None,
        })
    };
    let mut dynamodb = json!({
        "Keys": image(data.keys())?,
        "SequenceNumber": data.sequence_number().unwrap_or_default(),
        "SizeBytes": data.size_bytes().unwrap_or_default(),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(new) = image(data.new_image())? {
        dynamodb["NewImage"] = new;
    }
    if let Some(old) = image(data.old_image())? {
        dynamodb["OldImage"] = old;
    }
    Ok(json!({
        "eventID": r.event_id().unwrap_or_default(),
        "eventName": r.event_name().map(|n| n.as_str()).unwrap_or_default(),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": arn,
    }))
}
