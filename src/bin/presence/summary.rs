//! `presence summary`: fleet counts, offline durations, top disconnect reasons and the clients
//! alerted now.

use comfy_table::Color;
use iot_presence::read::Summary;
use iot_presence::store::Store;
use iot_presence::time::now_ms;

use crate::args::Format;
use crate::output::{ago, cell, iso_seconds, print_json, table, SummaryView, OFFLINE_LABELS};
use crate::Failure;

/// Rows of the table's lists (`-o json` has them all).
const REASONS_SHOWN: usize = 10;
const ALERTED_SHOWN: usize = 50;

pub async fn run(store: &Store, format: Format) -> Result<(), Failure> {
    print_summary(&store.summary(now_ms()).await?, format);
    Ok(())
}

fn print_summary(s: &Summary, format: Format) {
    if format == Format::Json {
        print_json(&SummaryView::from(s));
        return;
    }
    let mut t = table();
    t.add_row(vec![cell("connected"), cell(s.connected).fg(Color::Green)]);
    t.add_row(vec![
        cell("disconnected"),
        cell(s.disconnected).fg(Color::Red),
    ]);
    for (label, count) in OFFLINE_LABELS.iter().zip(s.offline) {
        t.add_row(vec![cell(label), cell(count)]);
    }
    println!("{}", t.trim_fmt());
    if !s.reasons.is_empty() {
        let mut r = table();
        r.set_header(vec!["DISCONNECT REASON", "CLIENTS"]);
        for (reason, count) in s.reasons.iter().take(REASONS_SHOWN) {
            r.add_row(vec![cell(reason), cell(count)]);
        }
        println!("\n{}", r.trim_fmt());
    }
    let now = now_ms();
    if s.alerted.is_empty() {
        println!("\nno alerts standing");
    } else {
        let mut a = table();
        a.set_header(vec!["ALERTED CLIENT", "ALERT", "SINCE", "FOR", "REASON"]);
        for alerted in s.alerted.iter().take(ALERTED_SHOWN) {
            a.add_row(vec![
                cell(&alerted.client_id),
                cell(alerted.kind).fg(Color::Red),
                cell(iso_seconds(alerted.since)),
                cell(ago(now, alerted.since).replace(" ago", "")),
                cell(alerted.reason.as_deref().unwrap_or("")),
            ]);
        }
        println!("\n{}", a.trim_fmt());
        let more = s.alerted.len().saturating_sub(ALERTED_SHOWN);
        let tail = if more > 0 {
            format!(" ({more} not shown; -o json lists all)")
        } else {
            String::new()
        };
        println!("{} clients alerted{tail}", s.alerted.len());
    }
}
