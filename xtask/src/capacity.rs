//! `cargo xtask capacity`: every path once against the local tables (`iot_presence::cost::probe`),
//! its consumed capacity as DynamoDB's answers report it, and the cost tables built from those
//! units, the sizes of the items in the tables, and the function's log bytes per event.
//! scripts/replay.sh runs it after its replay, on the replay's tables and log.

use std::path::PathBuf;

use iot_presence::alert::pass::Alerter;
use iot_presence::config::{AlertSettings, Config};
use iot_presence::cost::model::{self, Inputs, Line, Sizes};
use iot_presence::cost::{self, prices};
use iot_presence::store::capacity::item_size;
use iot_presence::store::Store;
use iot_presence::telemetry::emf::Emf;
use iot_presence::telemetry::{self, name};
use iot_presence::time::now_ms;

use crate::{events, local, Result};

#[derive(clap::Args)]
/// Measure every path's consumed capacity on the local tables and print the cost tables
pub struct Args {
    #[command(flatten)]
    tables: local::Tables,
    /// The function's log (its JSON lines and EMF lines give the log bytes per event)
    #[arg(long)]
    function_log: PathBuf,
    /// The deployment dimension the function was given (METRICS_DIMENSIONS), `Name=Value`
    #[arg(long, default_value = "Stack=replay")]
    metrics_dimension: String,
}

/// Mean DynamoDB size of a table's items (a Scan: local tables only, and small).
async fn mean_item_size(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<f64> {
    let items: Vec<events::Item> = client
        .scan()
        .table_name(table)
        .into_paginator()
        .items()
        .send()
        .collect::<std::result::Result<_, _>>()
        .await
        .map_err(|e| local::sdk_error("Scan", e))?;
    if items.is_empty() {
        return Err(format!("capacity: table {table} is empty").into());
    }
    let bytes: usize = items.iter().map(item_size).sum();
    Ok(bytes as f64 / items.len() as f64)
}

/// Log bytes per handled event: the function's JSON log lines, and its EMF lines, over the
/// events it handled (one latency sample each).
fn log_bytes(log: &std::path::Path, dimension: &str) -> Result<(f64, f64)> {
    let (key, value) = dimension
        .split_once('=')
        .ok_or_else(|| format!("--metrics-dimension {dimension:?}: expected Name=Value"))?;
    let text = std::fs::read_to_string(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let emf = Emf::parse(&text, telemetry::DEFAULT_NAMESPACE, &[(key, value)])
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let handled = emf.samples(name::HANDLER_LATENCY).max(1) as f64;
    let json: usize = text
        .lines()
        .filter(|l| l.starts_with('{') && !l.contains("\"_aws\""))
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["level"].is_string())
        })
        .map(|l| l.len() + 1)
        .sum();
    Ok((json as f64 / handled, emf.bytes as f64 / handled))
}

fn print_lines(title: &str, lines: &[Line]) {
    println!("\n{title}\n");
    println!("| item | arithmetic | cost |\n|---|---|---|");
    for l in lines {
        println!(
            "| {} | {} | {} |",
            l.item,
            l.arithmetic,
            model::dollars(l.dollars)
        );
    }
    println!(
        "| **total** | | **{}** |",
        model::dollars(model::total(lines))
    );
}

pub async fn run(a: Args) -> Result {
    let client = local::dynamodb(&a.tables.endpoint)?;
    let config = Config::with_tables(&a.tables.status_table, &a.tables.events_table);
    let store = Store::new(client.clone(), &config);
    let sns = aws_sdk_sns::Client::new(&local::sdk_config(a.tables.messaging()?)?);
    let topic = local::create_topic(&sns, "presence-capacity").await?;
    let alerter = Alerter::new(store.clone(), sns, topic, AlertSettings::DEFAULT);
    let prefix = format!("probe-{}", std::process::id());
    let measured = cost::probe::run(&store, &alerter, &prefix, now_ms()).await?;

    println!(
        "\nmeasured capacity per path (local DynamoDB: dynoxide; W/R = write/read units per \
         one of `per`; refused W: conditional writes DynamoDB refused, charged by the size of \
         the item they returned)\n"
    );
    let rows = cost::table(&measured, &a.tables.status_table, &a.tables.events_table);
    println!("| {} |", rows[0].join(" | "));
    println!("|{}", "---|".repeat(rows[0].len()));
    for row in &rows[1..] {
        println!("| {} |", row.join(" | "));
    }

    let (log, emf) = log_bytes(&a.function_log, &a.metrics_dimension)?;
    let sizes = Sizes {
        status_item_bytes: mean_item_size(&client, &a.tables.status_table).await?,
        event_row_bytes: mean_item_size(&client, &a.tables.events_table).await?,
        log_bytes_per_event: log,
        emf_bytes_per_event: emf,
    };
    println!(
        "\nsizes measured in this run: status item {:.0} B, event row {:.0} B (means, DynamoDB's \
         count); log {:.0} B and EMF {:.0} B per handled event",
        sizes.status_item_bytes, sizes.event_row_bytes, log, emf
    );
    let inputs = Inputs::from_measured(&measured, sizes);
    print_lines(
        &format!(
            "cost per million events, alerts on (derived for AWS from the units above; {}% of \
             outages end within a minute and {}% outlast their threshold; handler billed {} ms: \
             assumptions)",
            model::QUICK_RETURN_SHARE * 100.0,
            model::LONG_OUTAGE_SHARE * 100.0,
            inputs.handler_ms
        ),
        &model::per_events(&inputs, 1e6),
    );
    println!(
        "\ncost per month by fleet (derived; reconnects a day per device; alert passes every \
         minute, fleet gauges every minute, storage and PITR of {} days of events)\n",
        inputs.retention_days
    );
    let per_day = [1.0, 24.0, 288.0];
    println!(
        "| devices | {} |\n|---|---|---|---|",
        per_day.map(|r| format!("{r} a day")).join(" | ")
    );
    for devices in [10_000.0, 200_000.0, 1_000_000.0] {
        let cells = per_day.map(|r| model::dollars(model::monthly(&inputs, devices, r)));
        println!("| {} | {} |", model::count(devices), cells.join(" | "));
    }
    let (devices, per_day) = (200_000.0, 24.0);
    let events = devices * per_day * 2.0 * model::DAYS_PER_MONTH;
    let lines: Vec<Line> = model::per_events(&inputs, events)
        .into_iter()
        .chain(model::fixed_monthly(&inputs, devices))
        .chain(model::storage_monthly(
            &inputs,
            devices,
            events / model::DAYS_PER_MONTH,
        ))
        .collect();
    print_lines(
        &format!(
            "one cell line by line: {} devices, {per_day} reconnects a day ({} events a month)",
            model::count(devices),
            model::count(events)
        ),
        &lines,
    );
    println!("\nprices (us-east-1, published values as of the date given):\n");
    println!("| price | value | source |\n|---|---|---|");
    for (what, p) in prices::ALL {
        let value = format!("${} per {}", model::dollars_exact(p.dollars), p.unit);
        println!("| {what} | {value} | {} ({}) |", p.source, p.as_of);
    }
    println!(
        "| DynamoDB item overhead | {} bytes per item, for storage | {} |",
        prices::ITEM_OVERHEAD_BYTES,
        prices::ITEM_OVERHEAD_SOURCE
    );
    Ok(())
}
