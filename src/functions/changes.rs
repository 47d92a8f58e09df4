//! The PresenceChanged function: the status table's stream records in, one EventBridge event
//! per applied status change out ([`crate::changes`] decides which records are changes).
//!
//! Why a function and not EventBridge Pipes: a record is a change when its new image's
//! `changeSeq` is above its old image's, a comparison of two attributes that a Pipes filter
//! (and an event source mapping's filter) cannot express; and the detail is derived (outage,
//! resumed session), not copied. The function is small and reads nothing.
//!
//! Failures, so that no change is ever skipped:
//! - PutEvents takes 10 entries a call; entries it refuses (`FailedEntryCount`) are sent again,
//!   up to [`ATTEMPTS`] times in all, and entries still refused go to the failure queue
//!   (`CHANGES_FAILED_QUEUE_URL`) as whole PutEvents entries, for `presence redrive`;
//! - a call that fails outright (throttled after the SDK's retries, the network), or a queue
//!   that cannot take the refused entries, ends the batch: the answer names the first record
//!   not yet delivered anywhere (`batchItemFailures`), and Lambda retries from it, in order.
//!   Records after it were maybe put already: their events come again with the same ids.

use std::time::Duration;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tracing::{error, info, warn};

use crate::changes::{change, PresenceChanged, DETAIL_TYPE, SOURCE};
use crate::config::ChangesConfig;
use crate::errors::error_chain;
use crate::store::item::Status;

/// PutEvents attempts of a refused entry before it goes to the failure queue.
pub const ATTEMPTS: u32 = 3;
/// PutEvents' and SendMessageBatch's limit of entries a call.
const PER_CALL: usize = 10;

/// The stream event, as Lambda delivers it (the fields read here).
#[derive(Debug, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

#[derive(Debug, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    pub dynamodb: StreamData,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamData {
    pub sequence_number: String,
    #[serde(default)]
    pub new_image: Option<serde_dynamo::Item>,
    #[serde(default)]
    pub old_image: Option<serde_dynamo::Item>,
}

/// The answer: the records Lambda must send again (the first undelivered one; the event
/// source mapping's `ReportBatchItemFailures` retries from there).
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// A PutEvents entry as it waits in the failure queue: what `presence redrive` puts again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedChange {
    pub event_bus: String,
    pub source: String,
    pub detail_type: String,
    pub detail: PresenceChanged,
    /// EventBridge's last error code and message for the entry.
    pub error: String,
}

#[derive(Debug, Error)]
pub enum ChangesError {
    #[error("stream record {sequence}: its {which} image is not a status item")]
    Image {
        sequence: String,
        which: &'static str,
        #[source]
        source: serde_dynamo::Error,
    },
}

/// The function's clients and settings, built once at cold start.
pub struct Publisher {
    pub events: aws_sdk_eventbridge::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub config: ChangesConfig,
}

/// What became of a batch: counts for the log and the tests.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivered {
    pub records: usize,
    pub changes: usize,
    pub put: usize,
    pub queued: usize,
}

/// The changes of `event`'s records, in order, with the sequence number of the record each
/// came from. A record whose image is no status item stops the batch here (nothing is
/// published): that is a bug in a writer, and skipping it would lose a change.
pub fn changes_of(event: &StreamEvent) -> Result<Vec<(String, PresenceChanged)>, ChangesError> {
    let mut out = Vec::new();
    for record in &event.records {
        let image = |item: &Option<serde_dynamo::Item>, which| {
            item.clone()
                .map(serde_dynamo::from_item::<_, Status>)
                .transpose()
                .map_err(|source| ChangesError::Image {
                    sequence: record.dynamodb.sequence_number.clone(),
                    which,
                    source,
                })
        };
        let old = image(&record.dynamodb.old_image, "old")?;
        let new = image(&record.dynamodb.new_image, "new")?;
        if let Some(c) = change(old.as_ref(), new.as_ref()) {
            out.push((record.dynamodb.sequence_number.clone(), c));
        }
    }
    Ok(out)
}

fn entry(bus: &str, detail: &PresenceChanged) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(SOURCE)
        .detail_type(DETAIL_TYPE)
        // Plain strings and numbers: encoding cannot fail.
        .detail(serde_json::to_string(detail).expect("a change always encodes"))
        .build()
}

/// Publishes the batch's changes; see the module's doc for what happens on failure.
pub async fn handle(p: &Publisher, event: StreamEvent) -> (BatchResponse, Delivered) {
    let mut delivered = Delivered {
        records: event.records.len(),
        ..Delivered::default()
    };
    let changes = match changes_of(&event) {
        Ok(changes) => changes,
        Err(err) => {
            error!(error = %error_chain(&err), "a stream record is not a status item");
            let failed = match &err {
                ChangesError::Image { sequence, .. } => sequence.clone(),
            };
            return (retry_from(&failed), delivered);
        }
    };
    delivered.changes = changes.len();
    for chunk in changes.chunks(PER_CALL) {
        match put_chunk(p, chunk).await {
            Ok((put, queued)) => {
                delivered.put += put;
                delivered.queued += queued;
            }
            Err(reason) => {
                warn!(%reason, first = %chunk[0].1.event_id, "changes not delivered: Lambda retries from this record");
                return (retry_from(&chunk[0].0), delivered);
            }
        }
    }
    info!(
        records = delivered.records,
        changes = delivered.changes,
        put = delivered.put,
        queued = delivered.queued,
        "changes published"
    );
    (BatchResponse::default(), delivered)
}

fn retry_from(sequence: &str) -> BatchResponse {
    BatchResponse {
        batch_item_failures: vec![ItemFailure {
            item_identifier: sequence.to_owned(),
        }],
    }
}

/// Puts one chunk, sending refused entries again, and queues what stays refused: `(put,
/// queued)`, or why the chunk is not delivered (the caller retries it).
async fn put_chunk(
    p: &Publisher,
    chunk: &[(String, PresenceChanged)],
) -> Result<(usize, usize), String> {
    let bus = &p.config.event_bus;
    let mut pending: Vec<&PresenceChanged> = chunk.iter().map(|(_, c)| c).collect();
    let mut last_error: Vec<String> = Vec::new();
    let mut put = 0;
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            // 100 ms, then 400 ms: a refused entry is most often throttling.
            tokio::time::sleep(Duration::from_millis(100 * 4u64.pow(attempt - 2))).await;
        }
        let answer = p
            .events
            .put_events()
            .set_entries(Some(pending.iter().map(|c| entry(bus, c)).collect()))
            .send()
            .await
            .map_err(|e| format!("PutEvents failed: {}", error_chain(&e)))?;
        let results = answer.entries();
        if results.len() != pending.len() {
            return Err(format!(
                "PutEvents answered {} entries for {}",
                results.len(),
                pending.len()
            ));
        }
        let mut refused = Vec::new();
        last_error.clear();
        for (c, result) in pending.iter().zip(results) {
            match result.error_code() {
                None => put += 1,
                Some(code) => {
                    refused.push(*c);
                    last_error.push(format!(
                        "{code}: {}",
                        result.error_message().unwrap_or_default()
                    ));
                }
            }
        }
        if refused.is_empty() {
            return Ok((put, 0));
        }
        warn!(
            attempt,
            refused = refused.len(),
            "PutEvents refused entries"
        );
        pending = refused;
    }
    let queued = pending.len();
    queue(p, &pending, &last_error).await?;
    Ok((put, queued))
}

/// Sends refused changes to the failure queue, whole (see [`FailedChange`]).
async fn queue(
    p: &Publisher,
    refused: &[&PresenceChanged],
    errors: &[String],
) -> Result<(), String> {
    let entries: Vec<SendMessageBatchRequestEntry> = refused
        .iter()
        .zip(errors)
        .enumerate()
        .map(|(i, (c, error))| {
            let body = FailedChange {
                event_bus: p.config.event_bus.clone(),
                source: SOURCE.to_owned(),
                detail_type: DETAIL_TYPE.to_owned(),
                detail: (*c).clone(),
                error: error.clone(),
            };
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(serde_json::to_string(&body).expect("a change always encodes"))
                .build()
                .expect("id and body are set")
        })
        .collect();
    let answer = p
        .sqs
        .send_message_batch()
        .queue_url(&p.config.failed_queue_url)
        .set_entries(Some(entries))
        .send()
        .await
        .map_err(|e| {
            format!(
                "SendMessageBatch to the failure queue failed: {}",
                error_chain(&e)
            )
        })?;
    if !answer.failed().is_empty() {
        return Err(format!(
            "the failure queue refused {} of {} changes",
            answer.failed().len(),
            refused.len()
        ));
    }
    error!(
        changes = refused.len(),
        first = %refused[0].event_id,
        "EventBridge refused changes on every attempt: they wait in the failure queue (presence redrive)"
    );
    Ok(())
}

/// The Lambda entry point: never an invocation error for a batch it could read (a failure is
/// a `batchItemFailures` answer, so that Lambda retries from the right record, in order).
pub async fn function_handler(
    p: &Publisher,
    event: lambda_runtime::LambdaEvent<StreamEvent>,
) -> Result<BatchResponse, lambda_runtime::Error> {
    Ok(handle(p, event.payload).await.0)
}

/// Puts a queued change again, as [`handle`] would have (`presence redrive`): `Err` with
/// EventBridge's reason when it is refused again.
pub async fn put_again(
    events: &aws_sdk_eventbridge::Client,
    failed: &FailedChange,
) -> Result<(), String> {
    let answer = events
        .put_events()
        .entries(entry(&failed.event_bus, &failed.detail))
        .send()
        .await
        .map_err(|e| format!("PutEvents failed: {}", error_chain(&e)))?;
    match answer.entries().first().and_then(|e| e.error_code()) {
        None if answer.entries().len() == 1 => Ok(()),
        None => Err("PutEvents answered no entry".to_owned()),
        Some(code) => Err(format!(
            "refused again: {code}: {}",
            answer.entries()[0].error_message().unwrap_or_default()
        )),
    }
}

/// What Lambda sends to the on-failure destination when it gives up on a stream batch: not
/// the records, their place in the stream.
pub fn stream_batch_info(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let info = v.get("DDBStreamBatchInfo")?;
    Some(format!(
        "a stream batch Lambda gave up on (shard {}, sequence numbers {} to {}): its records \
         stay in the stream 24 hours after their write; the statuses are in the table \
         (presence status, the HTTP API)",
        info["shardId"].as_str().unwrap_or("?"),
        info["startSequenceNumber"].as_str().unwrap_or("?"),
        info["endSequenceNumber"].as_str().unwrap_or("?"),
    ))
}
