//! `cargo xtask changes`: the PresenceChanged events of a local run. The status table's stream
//! (read from the local DynamoDB) through the real function (`functions::changes::handle`), a
//! batch of 100 at a time as Lambda sends them, onto EventBridge on the local messaging server
//! (moto), where a rule for `source: iot-presence` sends them to an SQS queue; then checks
//! each client's sequences (1, 2, 3, ... without a gap) and prints the last few events.
//! scripts/replay.sh runs it after the replay.

use std::collections::BTreeMap;

use iot_presence::changes::PresenceChanged;
use iot_presence::config::ChangesConfig;
use iot_presence::functions::changes::{handle, Publisher, StreamEvent};
use iot_presence::time::duration;
use serde_json::{json, Value};

use crate::{local, Result};

#[derive(clap::Args)]
/// The PresenceChanged events of the local tables' changes, through EventBridge (moto)
pub struct Args {
    #[command(flatten)]
    tables: local::Tables,
    /// Events printed at the end
    #[arg(long, default_value_t = 6)]
    show: usize,
}

/// Stream records a batch, as the template's event source mapping has it (BatchSize).
const BATCH: usize = 100;
/// ReceiveMessage calls on the rule's queue at most (10 messages each).
const MAX_RECEIVES: usize = 10_000;

pub async fn run(a: Args) -> Result {
    let dynamodb = local::dynamodb(&a.tables.endpoint)?;
    let streams = aws_sdk_dynamodbstreams::Client::new(&local::sdk_config(&a.tables.endpoint)?);
    let records =
        presence_template::stream::records(&dynamodb, &streams, &a.tables.status_table).await?;
    let messaging = local::sdk_config(a.tables.messaging()?)?;
    let events = aws_sdk_eventbridge::Client::new(&messaging);
    let sqs = aws_sdk_sqs::Client::new(&messaging);
    let queue = |name: &'static str| {
        let sqs = sqs.clone();
        async move {
            sqs.create_queue()
                .queue_name(name)
                .send()
                .await
                .map_err(|e| local::sdk_error("CreateQueue", e))?
                .queue_url
                .ok_or_else(|| "CreateQueue answered no URL".to_owned())
        }
    };
    let target = queue("replay-presence-changed").await?;
    let failed = queue("replay-changes-failed").await?;
    let arn = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
    let target_arn = sqs
        .get_queue_attributes()
        .queue_url(&target)
        .attribute_names(arn.clone())
        .send()
        .await
        .map_err(|e| local::sdk_error("GetQueueAttributes", e))?
        .attributes()
        .and_then(|attrs| attrs.get(&arn).cloned())
        .ok_or("GetQueueAttributes answered no QueueArn")?;
    events
        .put_rule()
        .name("replay-presence-changed")
        .event_pattern(json!({"source": [iot_presence::changes::SOURCE]}).to_string())
        .send()
        .await
        .map_err(|e| local::sdk_error("PutRule", e))?;
    events
        .put_targets()
        .rule("replay-presence-changed")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(target_arn)
                .build()?,
        )
        .send()
        .await
        .map_err(|e| local::sdk_error("PutTargets", e))?;

    let publisher = Publisher {
        events,
        sqs: sqs.clone(),
        config: ChangesConfig {
            event_bus: "default".to_owned(),
            failed_queue_url: failed,
        },
    };
    let (mut put, mut queued) = (0, 0);
    for batch in records.chunks(BATCH) {
        let event: StreamEvent = serde_json::from_value(json!({ "Records": batch }))?;
        let (answer, delivered) = handle(&publisher, event).await;
        if !answer.batch_item_failures.is_empty() {
            return Err(format!("the function could not deliver a batch: {answer:?}").into());
        }
        put += delivered.put;
        queued += delivered.queued;
    }

    let mut received: Vec<PresenceChanged> = Vec::new();
    for _ in 0..MAX_RECEIVES {
        let page = sqs
            .receive_message()
            .queue_url(&target)
            .max_number_of_messages(10)
            .send()
            .await
            .map_err(|e| local::sdk_error("ReceiveMessage", e))?;
        if page.messages().is_empty() {
            break;
        }
        for m in page.messages() {
            let event: Value = serde_json::from_str(m.body().unwrap_or_default())?;
            received.push(serde_json::from_value(event["detail"].clone())?);
        }
    }
    // EventBridge delivers in no particular order: a consumer orders by sequence.
    received.sort_by(|x, y| {
        (x.since_ms, &x.client_id, x.sequence).cmp(&(y.since_ms, &y.client_id, y.sequence))
    });
    let mut per_client: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for c in &received {
        per_client.entry(&c.client_id).or_default().push(c.sequence);
    }
    let gaps: Vec<&str> = per_client
        .iter_mut()
        .filter_map(|(id, seqs)| {
            seqs.sort_unstable();
            let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
            (*seqs != expected).then_some(*id)
        })
        .collect();
    println!(
        "\nPresenceChanged: {} stream records, {put} changes put on EventBridge (local: moto), \
         {queued} queued as refused; a rule's SQS target received {} events of {} clients; \
         sequences per client 1, 2, 3, ... without a gap: {}",
        records.len(),
        received.len(),
        per_client.len(),
        if gaps.is_empty() {
            "yes".to_owned()
        } else {
            format!("NO: {gaps:?}")
        }
    );
    for c in received.iter().rev().take(a.show).rev() {
        let mut line = format!(
            "  {:<14} {:<12} since {}",
            c.event_id,
            c.state.as_str(),
            c.since
        );
        if let Some(ms) = c.outage_ms {
            line.push_str(&format!(", back after {}", duration(ms)));
        }
        if c.session_resumed {
            line.push_str(", session resumed");
        }
        if let Some(reason) = &c.disconnect_reason {
            line.push_str(&format!(" ({reason})"));
        }
        println!("{line}");
    }
    // One event per applied change: as many as the event log's applied and reconciled rows.
    let applied = applied_rows(&dynamodb, &a.tables.events_table).await?;
    println!("  (the event log holds {applied} applied or reconciled rows)");
    if !gaps.is_empty() || received.len() != put || put != applied {
        return Err(format!(
            "{put} events put, {} received, {applied} applied rows, gaps in {gaps:?}",
            received.len()
        )
        .into());
    }
    Ok(())
}

/// Rows of the event log whose event changed a status (a Scan: local tables only, and small).
async fn applied_rows(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<usize> {
    use iot_presence::rule::Outcome;
    use iot_presence::store::schema::attr;
    let items = local::scan(client, table, Some(attr::OUTCOME)).await?;
    let changed = [Outcome::Applied.as_str(), Outcome::Reconciled.as_str()];
    Ok(items
        .iter()
        .filter(|i| {
            i.get(attr::OUTCOME)
                .and_then(|v| v.as_s().ok())
                .is_some_and(|o| changed.contains(&o.as_str()))
        })
        .count())
}
