//! `presence cost`: what the stack costs a month on AWS for a fleet, line by line. Arithmetic
//! only, on the committed measurements (`iot_presence::cost::measured`) and list prices: the
//! same code renders docs/cost.md's tables, so the two agree (`tests/cost.rs` checks it).

use clap::Args;
use comfy_table::CellAlignment;
use iot_presence::config::{DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS};
use iot_presence::cost::model::{self, Line};
use iot_presence::cost::{measured, prices, report};
use serde::Serialize;

use crate::output::{cell, print_json};
use crate::{table, Failure, Format};

/// Reconnects a day at most: one a minute. The alert pass looks once a minute, and the model
/// counts every reconnect as an outage of its own with its own looks; a device that drops more
/// often than that is not what the model describes.
const MAX_RECONNECTS_PER_DAY: f64 = 1440.0;
/// The largest fleet: far past any one account's IoT Core quotas, so a typo (an extra zero) is
/// refused rather than priced.
const MAX_DEVICES: u64 = 100_000_000;

/// A month's cost on AWS for a fleet, line by line: IoT rules, Lambda, DynamoDB, SNS and
/// CloudWatch, each with its arithmetic
///
/// Derived from the DynamoDB units measured per path on the local DynamoDB and AWS list prices,
/// by the code that renders docs/cost.md. Each reconnect is one outage, two events (a
/// disconnect, a connect); half of the outages end within a minute and one in ten outlasts its
/// alert threshold (assumptions, docs/cost.md). Needs no AWS account, tables or region.
#[derive(Args)]
#[command(
    after_help = "Example:\n  presence cost --devices 200000 --reconnects-per-day 24\n  \
                  presence cost --devices 10000 --reconnects-per-day 1 --retention-days 90 -o json"
)]
pub struct CostArgs {
    /// Devices in the fleet (1 to 100,000,000)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_DEVICES))]
    devices: u64,
    /// Reconnects a day per device, e.g. 24 (hourly) or 0.5 (every other day); 0 to 1440 (once
    /// a minute)
    #[arg(long, value_name = "R", allow_negative_numbers = true, value_parser = parse_reconnects)]
    reconnects_per_day: f64,
    /// Days event rows are kept (the stack's EventRetentionDays): the storage lines. Not read
    /// from EVENT_RETENTION_DAYS, so that the figures are the same on every machine
    #[arg(long, value_name = "D", default_value_t = DEFAULT_RETENTION_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_RETENTION_DAYS)))]
    retention_days: u32,
}

/// `--reconnects-per-day`: a number within 0..=[`MAX_RECONNECTS_PER_DAY`] (not NaN).
fn parse_reconnects(text: &str) -> Result<f64, String> {
    let range = format!("0..={MAX_RECONNECTS_PER_DAY}");
    match text.trim().parse::<f64>() {
        Ok(r) if (0.0..=MAX_RECONNECTS_PER_DAY).contains(&r) => Ok(r),
        Ok(_) => Err(format!("it is outside {range}")),
        Err(_) => Err(format!("not a number: give one within {range}, e.g. 24")),
    }
}

/// `cost -o json`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CostView<'a> {
    devices: u64,
    reconnects_per_day: f64,
    retention_days: u32,
    lines: &'a [Line],
    total_dollars: f64,
}

pub fn run(args: CostArgs, format: Format) -> Result<(), Failure> {
    let inputs = measured::inputs(args.retention_days);
    // u64 to f64 is exact up to 2^53, far above MAX_DEVICES.
    let devices = args.devices as f64;
    let lines = model::month(&inputs, devices, args.reconnects_per_day);
    let total = model::total(&lines);
    if format == Format::Json {
        print_json(&CostView {
            devices: args.devices,
            reconnects_per_day: args.reconnects_per_day,
            retention_days: args.retention_days,
            lines: &lines,
            total_dollars: total,
        });
        return Ok(());
    }
    println!(
        "{} devices, {} reconnects a day each, event rows kept {} days: a month on AWS\n\
         (derived from DynamoDB units measured on the local DynamoDB, and AWS list prices of {}, \
         us-east-1)\n",
        model::count(devices),
        model::count(args.reconnects_per_day),
        args.retention_days,
        prices::AS_OF
    );
    let mut t = table();
    let cost = cell("COST").set_alignment(CellAlignment::Right);
    t.set_header(vec![cell("ITEM"), cell("ARITHMETIC"), cost]);
    for row in report::line_rows(&lines) {
        t.add_row(row.iter().map(cell).collect::<Vec<_>>());
    }
    t.add_row(vec![cell("total"), cell(""), cell(model::dollars(total))]);
    if let Some(column) = t.column_mut(2) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    println!("{}", t.trim_fmt());
    Ok(())
}
