//! `presence incident`: who dropped in the last 5, 15 and 60 minutes and is still offline, by
//! disconnect reason and by client-id prefix, and the storm among them (see
//! `iot_presence::alert::storm`); `presence storms`: the storms the alerter declared.

use comfy_table::Color;
use iot_presence::alert::storm::{incident_at, Breakdown, Incident};
use iot_presence::config::StormSettings;
use iot_presence::store::Store;
use iot_presence::time::{duration, now_ms};

use crate::args::Format;
use crate::output::{cell, iso_seconds, print_json, safe, table};
use crate::Failure;

pub async fn run(store: &Store, settings: StormSettings, format: Format) -> Result<(), Failure> {
    let view = incident_at(store, &settings, now_ms()).await?;
    if format == Format::Json {
        print_json(&view);
    } else {
        print_incident(&view, &settings);
    }
    Ok(())
}

/// The storm registry: every storm the alerter keeps (open, or ended within a day), newest
/// first. Held notices are part of their storm: `presence status` shows a client's hold.
pub async fn storms(store: &Store, format: Format) -> Result<(), Failure> {
    let mut storms = store.storm_registry().await?.storms;
    storms.sort_by_key(|s| std::cmp::Reverse(s.first_drop_at));
    if format == Format::Json {
        print_json(&storms);
        return Ok(());
    }
    if storms.is_empty() {
        println!("no storms (open, or ended within a day)");
        return Ok(());
    }
    let mut t = table();
    t.set_header(vec![
        "STORM",
        "CLIENTS",
        "SHARE",
        "FIRST DROP",
        "LAST DROP",
        "TOP REASON",
        "NOTICE",
        "STATE",
    ]);
    for s in &storms {
        let state = match (s.ended_at, s.still_offline) {
            (Some(end), still) => {
                let still = still.unwrap_or_default();
                let recovery = if s.recovery_notified_at.is_some() {
                    "recovery sent"
                } else {
                    "recovery pending"
                };
                format!(
                    "ended {} after {}: {} back, {still} offline; {recovery}",
                    iso_seconds(end),
                    duration(end.saturating_sub(s.first_drop_at)),
                    s.clients.saturating_sub(still)
                )
            }
            (None, _) => "open: single offline notices held".to_owned(),
        };
        t.add_row(vec![
            cell(&s.id).fg(if s.ended_at.is_none() {
                Color::Red
            } else {
                Color::Reset
            }),
            cell(s.clients),
            cell(format!(
                "{:.1}% of {}",
                100.0 * s.clients as f64 / s.scope_size.max(1) as f64,
                s.scope_size
            )),
            cell(iso_seconds(s.first_drop_at)),
            cell(iso_seconds(s.last_drop_at)),
            cell(s.reasons.top.first().map_or("", |(r, _)| r.as_str())),
            cell(s.notified_at.map_or("pending".to_owned(), |at| {
                format!("sent {}", iso_seconds(at))
            })),
            cell(state),
        ]);
    }
    println!("{}", t.trim_fmt());
    Ok(())
}

fn breakdown(title: &str, b: &Breakdown) {
    if b.top.is_empty() {
        return;
    }
    let mut t = table();
    t.set_header(vec![title, "CLIENTS"]);
    for (key, n) in &b.top {
        t.add_row(vec![cell(key), cell(n)]);
    }
    if b.others > 0 {
        t.add_row(vec![cell("(others)"), cell(b.others)]);
    }
    println!("\n{}", t.trim_fmt());
}

fn print_incident(view: &Incident, settings: &StormSettings) {
    let fleet = view.fleet.connected + view.fleet.disconnected;
    let mut t = table();
    t.set_header(vec!["DROPPED WITHIN", "STILL OFFLINE"]);
    for d in &view.dropped {
        t.add_row(vec![cell(duration(d.within_ms)), cell(d.clients)]);
    }
    println!("{}", t.trim_fmt());
    println!(
        "fleet: {} connected, {} disconnected",
        view.fleet.connected, view.fleet.disconnected
    );
    match &view.storm {
        Some(storm) => {
            let line = format!(
                "STORM: {} clients ({:.1}% of {fleet}) dropped between {} and {}",
                storm.clients,
                storm.share * 100.0,
                iso_seconds(storm.first_drop_at),
                iso_seconds(storm.last_drop_at),
            );
            println!("\n{}", cell(line).fg(Color::Red).content());
            breakdown("STORM REASON", &storm.reasons);
            breakdown("STORM PREFIX", &storm.prefixes);
            println!("sample: {}", safe(&storm.sample.join(", ")));
        }
        None => println!(
            "\nno storm (one needs at least {} clients and {}% of the fleet within {})",
            settings.min_clients,
            settings.min_share * 100.0,
            duration(settings.window_ms)
        ),
    }
    if !view.declared.is_empty() {
        println!("\ndeclared by the alerter (presence storms has the details):");
        for s in &view.declared {
            let state = match s.ended_at {
                Some(end) => format!("over at {}", iso_seconds(end)),
                None => "open".to_owned(),
            };
            println!("  {}: {} clients, {state}", safe(&s.id), s.clients);
        }
    }
    breakdown("REASON (LAST HOUR)", &view.reasons);
    breakdown("PREFIX (LAST HOUR)", &view.prefixes);
    if !view.newest.is_empty() {
        println!("\nnewest drops: {}", safe(&view.newest.join(", ")));
    }
}
