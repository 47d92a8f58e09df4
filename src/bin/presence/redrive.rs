//! `presence redrive`: failed events back from a failure queue, through the function's own path
//! (`ingest::handle`: the same validation, the same ordering rule, the same idempotent event
//! row). The message formats: `iot_presence::redrive`.
//!
//! A message is deleted only after its event is recorded. A message that cannot be redriven (in
//! no known format, or whose event fails validation, or whose write failed) stays in the queue,
//! visible again at the end of the run, and is reported with the reason. Safe to run twice, or
//! twice at once: a received message is hidden from other readers for `--visibility-timeout`,
//! and re-applying an event that was recorded already changes nothing (it reports
//! `redelivered`).

use std::collections::HashSet;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    QueueAttributeName,
};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use iot_presence::errors::{error_chain, shown};
use iot_presence::event::LifecycleEvent;
use iot_presence::functions::changes;
use iot_presence::functions::ingest::{self, HandlerError};
use iot_presence::redrive::parse_message;
use iot_presence::rule::Outcome;
use iot_presence::store::Store;
use iot_presence::time::now_ms;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::output::{print_json, safe};
use crate::stack;
use crate::{Failure, Format};

#[derive(Args)]
pub struct RedriveArgs {
    /// The queue: `failed`, `rule-errors` or `changes-failed` (the --stack's outputs
    /// FailedEventsQueueUrl, RuleErrorsQueueUrl and ChangesFailedQueueUrl), or a queue URL
    #[arg(long, value_parser = parse_queue)]
    pub(crate) queue: QueueArg,
    /// Read and check every message; write nothing and delete nothing (the messages are made
    /// visible again at the end)
    #[arg(long)]
    dry_run: bool,
    /// At most this many messages
    #[arg(long, default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    max: u64,
    /// Seconds a received message stays hidden from other readers while this run works on it
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(i32).range(1..=43_200))]
    visibility_timeout: i32,
}

/// `--queue`: a failure queue of the stack, by name, or any queue by its URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueArg {
    /// The stack output holding the queue's URL (resolved with `--stack`).
    Stack {
        name: &'static str,
        output: &'static str,
    },
    Url(String),
}

/// The stack's failure queues by the names `--queue` takes: the function's on-failure
/// destination and the IoT rule's error action.
pub const QUEUE_NAMES: [(&str, &str); 3] = [
    ("failed", stack::FAILED_EVENTS_QUEUE_OUTPUT),
    ("rule-errors", stack::RULE_ERRORS_QUEUE_OUTPUT),
    ("changes-failed", stack::CHANGES_FAILED_QUEUE_OUTPUT),
];

fn parse_queue(text: &str) -> Result<QueueArg, String> {
    if let Some((name, output)) = QUEUE_NAMES.iter().find(|(name, _)| *name == text) {
        return Ok(QueueArg::Stack { name, output });
    }
    let host = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    match host {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => {
            Ok(QueueArg::Url(text.to_owned()))
        }
        _ => Err(format!(
            "{} is neither `failed`, `rule-errors` nor `changes-failed` (the --stack's failure \
             queues) nor a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
            shown(text)
        )),
    }
}

/// What a run did, by message.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub messages: u64,
    pub applied: u64,
    pub stale: u64,
    pub duplicate: u64,
    /// `connect_failed` events: recorded, never a state change.
    pub recorded: u64,
    /// Recorded as `invalid` (e.g. from the future): kept with the reason, deleted from the queue.
    pub invalid: u64,
    /// Events whose row was there already (another run, or the function's own last attempt).
    pub redelivered: u64,
    /// PresenceChanged events put on EventBridge again (from the changes-failed queue).
    pub published: u64,
    /// `--dry-run`: messages that would be redriven.
    pub would_redrive: u64,
    pub deleted: u64,
    pub left: Vec<Left>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Left {
    pub message_id: String,
    pub reason: String,
}

enum Fate {
    Recorded(ingest::Response),
    Published,
    WouldRedrive,
    Left(String),
}

/// Concurrent messages: one receive's worth.
const BATCH: u64 = 10;

/// Redrives the queue at `queue` (the URL `args.queue` resolved to).
pub async fn run(
    store: &Store,
    sqs: &aws_sdk_sqs::Client,
    events: &aws_sdk_eventbridge::Client,
    queue: &str,
    args: RedriveArgs,
    format: Format,
) -> Result<(), Failure> {
    let queue_error = |what: &str, err: &dyn std::error::Error| {
        Failure::Queue(format!("{what} {queue}: {}", error_chain(err)))
    };
    let waiting = sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .map_err(|e| queue_error("could not read the queue", &e))?
        .attributes
        .and_then(|a| {
            a.get(&QueueAttributeName::ApproximateNumberOfMessages)
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let progress = ProgressBar::new(waiting.min(args.max)).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} messages, {per_sec}, eta {eta}")
            .expect("valid template"),
    );
    if format != Format::Table || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        progress.set_draw_target(ProgressDrawTarget::hidden());
    }

    let mut counts = Counts::default();
    let mut seen = HashSet::new();
    // Receipt handles of the messages to make visible again at the end.
    let mut release = Vec::new();
    while counts.messages < args.max {
        let want = BATCH.min(args.max - counts.messages) as i32;
        let received = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(want)
            .visibility_timeout(args.visibility_timeout)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| queue_error("could not receive from", &e))?
            .messages
            .unwrap_or_default();
        // Stop when the queue is empty, or holds only what this run has seen (left messages
        // that reappeared): every pass is bounded by the queue, and the whole run by --max.
        let fresh: Vec<Message> = received
            .into_iter()
            .filter(|m| seen.insert(m.message_id().unwrap_or_default().to_owned()))
            .collect();
        if fresh.is_empty() {
            break;
        }
        let mut tasks = JoinSet::new();
        for message in fresh {
            let (store, events) = (store.clone(), events.clone());
            let dry_run = args.dry_run;
            tasks.spawn(async move {
                let body = message.body().unwrap_or_default();
                let fate = redrive_one(&store, &events, body, dry_run).await;
                (message, fate)
            });
        }
        // Deleted together once the batch is recorded: one request per ten messages.
        let mut recorded = Vec::new();
        while let Some(done) = tasks.join_next().await {
            let (message, fate) = done.expect("redrive task panicked");
            counts.messages += 1;
            progress.inc(1);
            let id = message.message_id().unwrap_or_default().to_owned();
            let receipt = message.receipt_handle().unwrap_or_default().to_owned();
            match fate {
                Fate::Recorded(response) => {
                    count(&mut counts, &response);
                    recorded.push((id, receipt));
                }
                Fate::Published => {
                    counts.published += 1;
                    recorded.push((id, receipt));
                }
                Fate::WouldRedrive => {
                    counts.would_redrive += 1;
                    release.push(receipt);
                }
                Fate::Left(reason) => {
                    progress.suspend(|| {
                        eprintln!("presence: left message {}: {}", safe(&id), safe(&reason))
                    });
                    counts.left.push(Left {
                        message_id: id,
                        reason,
                    });
                    release.push(receipt);
                }
            }
        }
        let not_deleted = delete(sqs, queue, &recorded).await;
        counts.deleted += (recorded.len() - not_deleted.len()) as u64;
        for (message_id, cause) in not_deleted {
            let reason =
                format!("recorded, but not deleted (a later run finds it redelivered): {cause}");
            progress.suspend(|| {
                eprintln!(
                    "presence: left message {}: {}",
                    safe(&message_id),
                    safe(&reason)
                )
            });
            counts.left.push(Left { message_id, reason });
        }
    }
    progress.finish_and_clear();
    make_visible(sqs, queue, release).await;
    print(queue, &counts, args.dry_run, format);
    if counts.left.is_empty() {
        Ok(())
    } else {
        Err(Failure::Left)
    }
}

async fn redrive_one(
    store: &Store,
    events: &aws_sdk_eventbridge::Client,
    body: &str,
    dry_run: bool,
) -> Fate {
    // The changes-failed queue: a PresenceChanged event, put again as it was (same event id),
    // or the place of a stream batch Lambda gave up on, which only the stream holds.
    if let Ok(change) = serde_json::from_str::<changes::FailedChange>(body) {
        if dry_run {
            return Fate::WouldRedrive;
        }
        return match changes::put_again(events, &change).await {
            Ok(()) => Fate::Published,
            Err(reason) => Fate::Left(format!("{}: {reason}", change.detail.event_id)),
        };
    }
    if let Some(reason) = changes::stream_batch_info(body) {
        return Fate::Left(reason);
    }
    let failed = match parse_message(body) {
        Ok(failed) => failed,
        Err(err) => return Fate::Left(error_chain(&err)),
    };
    let source = failed.source.name();
    if dry_run {
        return match LifecycleEvent::parse(&failed.payload) {
            Ok(_) => Fate::WouldRedrive,
            Err(err) => Fate::Left(format!("invalid lifecycle event ({source}): {err}")),
        };
    }
    match ingest::handle(store, &failed.payload, now_ms()).await {
        Ok(response) => Fate::Recorded(response),
        Err(HandlerError::Invalid(err)) => {
            Fate::Left(format!("invalid lifecycle event ({source}): {err}"))
        }
        Err(err) => Fate::Left(format!(
            "not recorded ({source}), try again: {}",
            error_chain(&err)
        )),
    }
}

fn count(counts: &mut Counts, response: &ingest::Response) {
    if response.redelivered {
        counts.redelivered += 1;
    }
    match response.outcome {
        Outcome::Applied => counts.applied += 1,
        Outcome::Stale => counts.stale += 1,
        Outcome::Duplicate => counts.duplicate += 1,
        Outcome::Recorded => counts.recorded += 1,
        Outcome::Invalid => counts.invalid += 1,
        // Never an outcome of an event the function records.
        Outcome::Reconciled => {}
    }
}

/// Deletes recorded messages (at most 10, one request); returns those not deleted, with why.
async fn delete(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    recorded: &[(String, String)],
) -> Vec<(String, String)> {
    if recorded.is_empty() {
        return Vec::new();
    }
    let entries = recorded.iter().enumerate().map(|(i, (_, receipt))| {
        DeleteMessageBatchRequestEntry::builder()
            .id(i.to_string())
            .receipt_handle(receipt)
            .build()
            .expect("id and receipt handle are set")
    });
    let sent = sqs
        .delete_message_batch()
        .queue_url(queue)
        .set_entries(Some(entries.collect()))
        .send()
        .await;
    match sent {
        Ok(out) => out
            .failed
            .iter()
            .filter_map(|f| {
                let (id, _) = recorded.get(f.id.parse::<usize>().ok()?)?;
                Some((
                    id.clone(),
                    format!("{}: {}", f.code, f.message().unwrap_or("")),
                ))
            })
            .collect(),
        Err(err) => {
            let cause = error_chain(&err);
            recorded
                .iter()
                .map(|(id, _)| (id.clone(), cause.clone()))
                .collect()
        }
    }
}

/// Makes messages visible again at once (10 to a request); best effort: a message this fails
/// for reappears anyway when its visibility timeout ends.
async fn make_visible(sqs: &aws_sdk_sqs::Client, queue: &str, receipts: Vec<String>) {
    for chunk in receipts.chunks(10) {
        let entries = chunk.iter().enumerate().map(|(i, receipt)| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .build()
                .expect("id and receipt handle are set")
        });
        let sent = sqs
            .change_message_visibility_batch()
            .queue_url(queue)
            .set_entries(Some(entries.collect()))
            .send()
            .await;
        if let Err(err) = sent {
            eprintln!(
                "presence: could not make {} messages visible again (they reappear after the \
                 visibility timeout): {}",
                chunk.len(),
                safe(&error_chain(&err))
            );
        }
    }
}

fn print(queue: &str, c: &Counts, dry_run: bool, format: Format) {
    if format == Format::Json {
        print_json(c);
        return;
    }
    if dry_run {
        println!(
            "dry run of {}: {} messages: {} would be redriven, {} would be left (nothing \
             written, nothing deleted)",
            safe(queue),
            c.messages,
            c.would_redrive,
            c.left.len()
        );
    } else {
        println!(
            "redrive of {}: {} messages: applied {}, stale {}, duplicate {}, recorded {}, \
             invalid {} ({} redelivered), {} PresenceChanged put again; deleted {}, left {}",
            safe(queue),
            c.messages,
            c.applied,
            c.stale,
            c.duplicate,
            c.recorded,
            c.invalid,
            c.redelivered,
            c.published,
            c.deleted,
            c.left.len()
        );
    }
}
