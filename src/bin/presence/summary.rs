//! `presence summary`: fleet counts, offline durations, top disconnect reasons and the clients
//! alerted now.

use comfy_table::{Cell, Color};
use iot_presence::read::Summary;
use iot_presence::store::Store;
use iot_presence::time::now_ms;

use crate::args::Format;
use crate::output::{ago, iso_seconds, print_json, table, SummaryView, OFFLINE_LABELS};
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
    t.add_row(vec![
        Cell::new("connected"),
        Cell::new(s.connected).fg(Color::Green),
    ]);
    t.add_row(vec![
        Cell::new("disconnected"),
        Cell::new(s.disconnected).fg(Color::Red),
    ]);
    for (label, count) in OFFLINE_LABELS.iter().zip(s.offline) {
        t.add_row(vec![Cell::new(label), Cell::new(count)]);
    }
    println!("{}", t.trim_fmt());
    if !s.reasons.is_empty() {
        let mut r = table();
        r.set_header(vec!["DISCONNECT REASON", "CLIENTS"]);
        for (reason, count) in s.reasons.iter().take(REASONS_SHOWN) {
            r.add_row(vec![Cell::new(reason), Cell::new(count)]);
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
                Cell::new(&alerted.client_id),
                Cell::new(alerted.kind).fg(Color::Red),
                Cell::new(iso_seconds(alerted.since)),
                Cell::new(ago(now, alerted.since).replace(" ago", "")),
                Cell::new(alerted.reason.as_deref().unwrap_or("")),
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
