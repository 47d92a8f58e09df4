//! `presence reconcile`: compare status items with the broker's answer (iot-data
//! `GetConnection`), print the disagreements, and with `--apply` repair them. The rule:
//! `iot_presence::reconcile`; the reads and writes: `iot_presence::reconciler`.
//!
//! A client whose check fails (throttled after the retries, 403, 404, 5xx, a timeout, a table
//! error) is reported on stderr with the reason; nothing is written for it and the sweep goes
//! on. Exit status 4 when any check failed.

use std::io::IsTerminal;
use std::time::Duration;

use clap::{ArgGroup, Args};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use iot_presence::config::Scope;
use iot_presence::config::{aws_config, Timeouts};
use iot_presence::errors::shown;
use iot_presence::event::Presence;
use iot_presence::reconcile::broker::{
    Broker, Pace, DEFAULT_RATE_PER_SECOND, MAX_RATE_PER_SECOND, MIN_RATE_PER_SECOND,
};
use iot_presence::reconcile::pass::{Action, Check, Reconciler, Sweep};
use iot_presence::store::Store;
use iot_presence::time::{now_ms, parse_duration};

use crate::output::{cell, print_json, safe};
use crate::{iso_seconds, table, Failure, Format};

#[derive(Args)]
#[command(group(ArgGroup::new("which").required(true)
    .args(["client_ids", "connected_for", "disconnected_for", "all"])))]
pub struct ReconcileArgs {
    /// The clients to check
    #[arg(value_parser = crate::args::parse_client_id)]
    client_ids: Vec<String>,
    /// Every client connected for at least this long (where lost disconnects hide), e.g. 1h
    #[arg(long, value_parser = parse_duration)]
    connected_for: Option<Duration>,
    /// Every client disconnected for at least this long, e.g. 1d
    #[arg(long, value_parser = parse_duration)]
    disconnected_for: Option<Duration>,
    /// Every client with a status
    #[arg(long)]
    all: bool,
    /// GetConnection calls a second (throttling halves it for the rest of the run)
    #[arg(long, default_value_t = DEFAULT_RATE_PER_SECOND, value_parser = parse_rate)]
    rate: f64,
    /// Repair the disagreements (without it, nothing is written)
    #[arg(long)]
    apply: bool,
    /// The IoT data endpoint, e.g. https://xxxx-ats.iot.eu-west-1.amazonaws.com (default:
    /// AWS_ENDPOINT_URL_IOT_DATA_PLANE, else AWS's for the region)
    #[arg(long)]
    iot_endpoint: Option<String>,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s
        .parse()
        .map_err(|_| format!("{} is not a number", shown(s)))?;
    if (MIN_RATE_PER_SECOND..=MAX_RATE_PER_SECOND).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!(
            "{rate} is outside {MIN_RATE_PER_SECOND}..={MAX_RATE_PER_SECOND} calls a second"
        ))
    }
}

pub async fn run(
    store: &Store,
    args: ReconcileArgs,
    timeouts: Timeouts,
    format: Format,
) -> Result<(), Failure> {
    let scope = match (&args.connected_for, &args.disconnected_for, args.all) {
        (Some(d), _, _) => Scope::ConnectedFor(*d),
        (_, Some(d), _) => Scope::DisconnectedFor(*d),
        (_, _, true) => Scope::All,
        _ => Scope::Clients(args.client_ids.clone()),
    };
    // Not the global --endpoint-url: that one is DynamoDB's.
    let sdk = aws_config(timeouts).await;
    let mut iot = aws_sdk_iotdataplane::config::Builder::from(&sdk);
    if let Some(url) = &args.iot_endpoint {
        iot = iot.endpoint_url(url);
    }
    let broker = Broker::new(aws_sdk_iotdataplane::Client::from_conf(iot.build()));
    let reconciler = Reconciler::new(store.clone(), broker, args.apply);
    let ids = reconciler.select(&scope, now_ms()).await?;

    let progress = ProgressBar::new(ids.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} clients, {per_sec}, eta {eta}")
            .expect("valid template"),
    );
    if !std::io::stderr().is_terminal() {
        progress.set_draw_target(ProgressDrawTarget::hidden());
    }
    let mut shown = Vec::new();
    let mut pace = Pace::new(args.rate);
    let sweep = reconciler
        .sweep(
            &ids,
            &mut pace,
            now_ms,
            || true,
            |check| {
                progress.inc(1);
                if let Some(error) = &check.error {
                    progress.suspend(|| eprintln!("presence: {}", safe(error)));
                }
                if check.action.is_disagreement() || check.action == Action::Failed {
                    if format == Format::Json {
                        progress.suspend(|| print_json(check));
                    } else {
                        shown.push(check.clone());
                    }
                }
            },
        )
        .await;
    progress.finish_and_clear();
    // Checks complete out of order; the table is by client.
    shown.sort_by(|a: &Check, b: &Check| a.client_id.cmp(&b.client_id));
    match format {
        Format::Json => print_json(&sweep),
        Format::Table => print_table(&shown, &sweep, args.apply),
    }
    if sweep.failed > 0 {
        return Err(Failure::Left);
    }
    Ok(())
}

fn state(presence: Presence, since: Option<u64>) -> String {
    match since {
        Some(ms) => format!("{} since {}", presence.as_str(), iso_seconds(ms)),
        None => presence.as_str().to_owned(),
    }
}

fn print_table(checks: &[Check], sweep: &Sweep, apply: bool) {
    if !checks.is_empty() {
        let mut table = table();
        table.set_header(["CLIENT", "OURS", "BROKER", "ACTION"]);
        for c in checks {
            let ours = c
                .ours
                .map_or("no status".to_owned(), |(p, since)| state(p, since));
            let broker = c.broker.as_ref().map_or("-".to_owned(), |b| {
                let mut text = state(b.presence(), b.since());
                if let Some(reason) = &b.disconnect_reason {
                    text.push_str(&format!(" ({reason})"));
                }
                text
            });
            let action = match c.action {
                Action::Unsettled(why) => format!(
                    "unsettled: {}",
                    serde_json::to_value(why)
                        .expect("serializes")
                        .as_str()
                        .unwrap_or("")
                ),
                Action::WouldRepair => "would repair (--apply)".to_owned(),
                Action::Repaired => "repaired".to_owned(),
                Action::Changed => "changed since read: left alone".to_owned(),
                Action::Failed => "failed (see above)".to_owned(),
                Action::Agree => "agree".to_owned(),
            };
            table.add_row([cell(&c.client_id), cell(ours), cell(broker), cell(action)]);
        }
        println!("{}", table.trim_fmt());
    }
    println!(
        "checked {}: {} agree, {} {}, {} unsettled, {} changed since read, {} failed; \
         {} throttled, pace {} calls/s at the end",
        sweep.checked,
        sweep.agreed,
        if apply {
            sweep.repaired
        } else {
            sweep.would_repair
        },
        if apply { "repaired" } else { "to repair" },
        sweep.unsettled,
        sweep.changed,
        sweep.failed,
        sweep.throttled,
        sweep.final_rate,
    );
}
