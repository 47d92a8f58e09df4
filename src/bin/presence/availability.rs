//! `presence availability`: uptime, outages, MTTR and the top disconnect reason per client, or
//! for the fleet, from the event log (the maths: `iot_presence::availability`).

use clap::{ArgGroup, Args};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use iot_presence::availability::{self, FleetTotals, Report};
use iot_presence::config::{DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS, RETENTION_VAR};
use iot_presence::read::ReadError;
use iot_presence::store::Store;

use crate::output::{cell, print_json, safe, FleetView};
use crate::{iso_seconds, parse_time, table, Failure, Format};

#[derive(Args)]
#[command(group(ArgGroup::new("which").required(true).args(["client_ids", "all"])))]
pub struct AvailabilityArgs {
    /// The clients to report on
    #[arg(value_parser = crate::args::parse_client_id)]
    client_ids: Vec<String>,
    /// Every client in the status table (a fleet table, worst first, and fleet totals)
    #[arg(long)]
    all: bool,
    /// Start of the window: a duration ago (7d) or an RFC 3339 time
    #[arg(long, default_value = "7d", value_parser = parse_time)]
    since: u64,
    /// End of the window (default: now)
    #[arg(long, value_parser = parse_time)]
    until: Option<u64>,
    /// The event table's retention in days: the window may not reach further back
    /// [env: EVENT_RETENTION_DAYS]
    #[arg(long, env = RETENTION_VAR, hide_env = true, default_value_t = DEFAULT_RETENTION_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_RETENTION_DAYS)))]
    retention_days: u32,
    /// JSON Lines: one report per client, then the fleet totals (same as `-o json`)
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// CSV with a header row (durations in ms)
    #[arg(long)]
    csv: bool,
}

pub async fn run(
    store: &Store,
    args: AvailabilityArgs,
    format: Format,
    now: u64,
) -> Result<(), Failure> {
    let until = args.until.unwrap_or(now);
    let oldest = now.saturating_sub(u64::from(args.retention_days) * 86_400_000);
    crate::args::check_window(args.since, until)?;
    if args.since < oldest {
        return Err(Failure::Usage(format!(
            "--since ({}) reaches past the event retention ({} days, so not before {}); \
             set --retention-days or {RETENTION_VAR} if the table keeps events longer",
            iso_seconds(args.since),
            args.retention_days,
            iso_seconds(oldest)
        )));
    }
    let format = if args.json { Format::Json } else { format };
    let ids = if args.all {
        availability::fleet_client_ids(store).await?
    } else {
        args.client_ids
    };
    let mut reports = reports(
        store,
        ids,
        args.since,
        until,
        format == Format::Table && !args.csv,
    )
    .await?;
    // A named client with nothing recorded gets no report (it would be all "unknown" time),
    // and exit 1. Only a report with no known time at all can be one.
    let mut unknown = Vec::new();
    if !args.all {
        let mut known = Vec::with_capacity(reports.len());
        for r in reports {
            if r.unknown_ms == until - args.since && store.is_unknown(&r.client_id).await? {
                unknown.push(r.client_id);
            } else {
                known.push(r);
            }
        }
        reports = known;
    }
    let totals = args.all.then(|| availability::fleet(&mut reports));
    if args.csv {
        print_csv(&reports);
    } else if format == Format::Json {
        for r in &reports {
            print_json(r);
        }
        if let Some(t) = &totals {
            print_json(&FleetView { fleet: t });
        }
    } else {
        print_table(&reports, totals.as_ref());
    }
    if !unknown.is_empty() {
        return Err(Failure::Unknown {
            clients: unknown,
            what: crate::NOTHING_RECORDED,
        });
    }
    Ok(())
}

/// One report per client, with a progress bar on a terminal.
async fn reports(
    store: &Store,
    ids: Vec<String>,
    since: u64,
    until: u64,
    progress_on_terminal: bool,
) -> Result<Vec<Report>, ReadError> {
    let progress = ProgressBar::new(ids.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} clients, {per_sec}, eta {eta}")
            .expect("valid template"),
    );
    if !progress_on_terminal || ids.len() < 2 {
        progress.set_draw_target(ProgressDrawTarget::hidden());
    }
    let reports = availability::reports(store, ids, since, until, || progress.inc(1)).await;
    progress.finish_and_clear();
    reports
}

fn percent(p: Option<f64>) -> String {
    p.map_or_else(|| "unknown".to_owned(), |p| format!("{p:.3}%"))
}

/// Two largest units, to the second: `3d 4h`, `12m 5s`.
fn span(ms: u64) -> String {
    iot_presence::time::duration(ms)
}

fn print_table(reports: &[Report], totals: Option<&FleetTotals>) {
    let mut t = table();
    t.set_header(vec![
        "CLIENT",
        "UPTIME",
        "OUTAGES",
        "DOWNTIME",
        "LONGEST",
        "MTTR",
        "TOP REASON",
        "UNKNOWN",
        "NOW",
    ]);
    for r in reports {
        t.add_row(vec![
            cell(&r.client_id),
            cell(percent(r.uptime_percent)),
            cell(r.outages),
            cell(span(r.offline_ms)),
            cell(span(r.longest_outage_ms)),
            cell(r.mttr_ms.map_or("-".to_owned(), span)),
            cell(r.top_reason.as_deref().unwrap_or("-")),
            cell(if r.unknown_ms == 0 {
                "-".to_owned()
            } else {
                span(r.unknown_ms)
            }),
            cell(if r.offline_at_end {
                "offline"
            } else if r.uptime_percent.is_some() {
                "online"
            } else {
                "-"
            }),
        ]);
    }
    println!("{}", t.trim_fmt());
    let Some(f) = totals else {
        return;
    };
    println!(
        "\nfleet: {} clients, uptime {} (time-weighted over known time), {} outages, downtime {}, \
         longest {}, MTTR {}, top reason {}; {} offline now; {} with nothing known in the window",
        f.clients,
        percent(f.uptime_percent),
        f.outages,
        span(f.offline_ms),
        span(f.longest_outage_ms),
        f.mttr_ms.map_or("-".to_owned(), span),
        safe(f.top_reason.as_deref().unwrap_or("-")),
        f.offline_at_end,
        f.clients_unknown
    );
    if f.unknown_ms > 0 {
        println!(
            "unknown time ({}) is before a client's first event in the log: counted neither online nor offline",
            span(f.unknown_ms)
        );
    }
}

fn print_csv(reports: &[Report]) {
    println!(
        "clientId,since,until,uptimePercent,onlineMs,offlineMs,unknownMs,outages,longestOutageMs,mttrMs,offlineAtEnd,topReason"
    );
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    for r in reports {
        println!(
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            field(&r.client_id),
            iso_seconds(r.since),
            iso_seconds(r.until),
            r.uptime_percent
                .map_or(String::new(), |p| format!("{p:.6}")),
            r.online_ms,
            r.offline_ms,
            r.unknown_ms,
            r.outages,
            r.longest_outage_ms,
            r.mttr_ms.map_or(String::new(), |m| m.to_string()),
            r.offline_at_end,
            field(r.top_reason.as_deref().unwrap_or(""))
        );
    }
}
