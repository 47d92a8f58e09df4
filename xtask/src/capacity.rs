//! `cargo xtask capacity`: every path once against the local tables (`iot_presence::cost::probe`),
//! its consumed capacity as DynamoDB's answers report it, and the cost tables built from those
//! units, the sizes of the items in the tables, and the function's log bytes per event.
//! scripts/replay.sh runs it after its replay, on the replay's tables and log; its sizes line is
//! what `iot_presence::cost::measured::SIZES` is refreshed from. The tables are rendered by
//! `iot_presence::cost::report`, as docs/cost.md's are.

use std::path::PathBuf;

use iot_presence::alert::pass::Alerter;
use iot_presence::config::{AlertSettings, Config, DEFAULT_RETENTION_DAYS};
use iot_presence::cost::model::{self, Inputs, Sizes};
use iot_presence::cost::{report, PathUnits};
use iot_presence::store::capacity::item_size;
use iot_presence::store::Store;
use iot_presence::telemetry::emf::Emf;
use iot_presence::telemetry::{self, name};
use iot_presence::time::now_ms;

use crate::{local, Result};

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
    let items = local::scan(client, table, None).await?;
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

pub async fn run(a: Args) -> Result {
    let client = local::dynamodb(&a.tables.endpoint)?;
    let config = Config::with_tables(&a.tables.status_table, &a.tables.events_table);
    let store = Store::new(client.clone(), &config);
    let sns = aws_sdk_sns::Client::new(&local::sdk_config(a.tables.messaging()?)?);
    let topic = local::create_topic(&sns, "presence-capacity").await?;
    let alerter = Alerter::new(store.clone(), sns, topic, AlertSettings::DEFAULT);
    let prefix = format!("probe-{}", std::process::id());
    let measured = iot_presence::cost::probe::run(&store, &alerter, &prefix, now_ms()).await?;
    let (status, events) = (&a.tables.status_table, &a.tables.events_table);
    let paths: Vec<PathUnits> = measured
        .iter()
        .map(|m| PathUnits::of(m, status, events))
        .collect();

    println!(
        "\nmeasured capacity per path (local DynamoDB: dynoxide; W/R = write/read units per \
         one of `per`; refused W: conditional writes DynamoDB refused, charged by the size of \
         the item they returned)\n"
    );
    print!("{}", report::units(&paths));

    let (log, emf) = log_bytes(&a.function_log, &a.metrics_dimension)?;
    let sizes = Sizes {
        status_item_bytes: mean_item_size(&client, status).await?,
        event_row_bytes: mean_item_size(&client, events).await?,
        log_bytes_per_event: log,
        emf_bytes_per_event: emf,
    };
    println!("\nsizes measured in this run: {}", report::sizes(&sizes));
    let inputs = Inputs::new(&paths, sizes, DEFAULT_RETENTION_DAYS);
    println!(
        "\ncost per million events, alerts on (derived for AWS from the units above; {}% of \
         outages end within a minute and {}% outlast their threshold; handler billed {} ms: \
         assumptions)\n",
        model::QUICK_RETURN_SHARE * 100.0,
        model::LONG_OUTAGE_SHARE * 100.0,
        inputs.handler_ms
    );
    print!("{}", report::per_million(&inputs));
    println!(
        "\ncost per month by fleet (derived; reconnects a day per device; alert passes every \
         minute, fleet gauges every minute, storage and PITR of {} days of events)\n",
        inputs.retention_days
    );
    print!("{}", report::grid(&inputs));
    let (devices, per_day) = report::CELL;
    println!(
        "\none cell line by line: {} devices, {per_day} reconnects a day ({} events a month)\n",
        model::count(devices),
        model::count(model::events_monthly(devices, per_day))
    );
    print!("{}", report::month(&inputs, devices, per_day));
    println!("\nprices (us-east-1, published values as of the date given):\n");
    print!("{}", report::prices());
    Ok(())
}
