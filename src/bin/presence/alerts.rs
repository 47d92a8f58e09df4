//! `presence threshold` and `presence alert-pass`: a client's own offline threshold, and one
//! alert pass as the scheduled function runs it.

use std::time::Duration;

use iot_presence::alert::pass::{Alerter, RunReport};
use iot_presence::config::AlertSettings;
use iot_presence::store::status::Missing;
use iot_presence::store::Store;
use iot_presence::time::now_ms;

use crate::args::Format;
use crate::output::{iso, iso_seconds, print_json, safe, PassView, ThresholdView};
use crate::Failure;

/// Sets (`Some`) or clears (`None`) the client's threshold; exit 1, writing nothing, for a
/// client with no status item unless `create` (a device not yet connected).
pub async fn threshold(
    store: &Store,
    client_id: &str,
    threshold: Option<u64>,
    create: bool,
    format: Format,
) -> Result<(), Failure> {
    let missing = if create {
        Missing::Create
    } else {
        Missing::Refuse
    };
    let written = store
        .set_offline_threshold(client_id, threshold, now_ms(), missing)
        .await?;
    if !written {
        return Err(Failure::unknown(
            client_id,
            "no status item (nothing written; --create sets a threshold for a client not yet \
             connected)",
        ));
    }
    match (threshold, format) {
        (_, Format::Json) => print_json(&ThresholdView {
            client_id,
            offline_threshold_ms: threshold,
        }),
        (Some(ms), Format::Table) => println!(
            "{}: offline alerts after {} (takes effect at the next alert pass)",
            safe(client_id),
            humantime::format_duration(Duration::from_millis(ms))
        ),
        (None, Format::Table) => {
            println!(
                "{}: the stack's offline threshold applies again",
                safe(client_id)
            )
        }
    }
    Ok(())
}

/// One pass at `at` (default now); exit 3 when any client failed (reported already).
pub async fn pass(
    store: Store,
    sns: aws_sdk_sns::Client,
    topic_arn: String,
    settings: AlertSettings,
    at: Option<u64>,
    format: Format,
) -> Result<(), Failure> {
    let alerter = Alerter::new(store, sns, topic_arn, settings);
    let at = at.unwrap_or_else(now_ms);
    let report = alerter.run(at).await;
    print_pass(at, &report, format);
    if !report.errors.is_empty() {
        return Err(Failure::Pass);
    }
    Ok(())
}

fn print_pass(at: u64, report: &RunReport, format: Format) {
    if format == Format::Json {
        print_json(&PassView {
            at: iso(at),
            report,
        });
        return;
    }
    println!(
        "alert pass at {}: {} due, sent {} offline, {} back-online, {} flapping, {} storm, {} recovery; {} held and {} folded by storms; {} scheduled, {} settled, {} skipped, {} raced, {} deferred",
        iso_seconds(at),
        report.due,
        report.offline,
        report.back_online,
        report.flapping,
        report.storms,
        report.recoveries,
        report.held,
        report.folded,
        report.scheduled,
        report.settled,
        report.skipped,
        report.raced,
        report.deferred
    );
    for err in &report.errors {
        eprintln!("presence: {}", safe(err));
    }
}
