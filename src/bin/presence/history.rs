//! `presence history`: one client's event log, oldest first, with each event's outcome.

use comfy_table::Color;
use iot_presence::rule::Outcome;
use iot_presence::store::item::EventRow;
use iot_presence::store::Store;

use crate::args::Format;
use crate::output::{cell, iso, opt, print_json, table, HistoryView};
use crate::Failure;

/// Exit 1 for a client with nothing recorded (a time window of a known client may rightly be
/// empty); exit 2 for a window that ends before it starts.
pub async fn run(
    store: &Store,
    client_id: &str,
    since: Option<u64>,
    until: Option<u64>,
    format: Format,
) -> Result<(), Failure> {
    if let (Some(since), Some(until)) = (since, until) {
        crate::args::check_window(since, until)?;
    }
    let entries = store.history(client_id, since, until).await?;
    if entries.is_empty() && store.is_unknown(client_id).await? {
        return Err(Failure::unknown(client_id, crate::NOTHING_RECORDED));
    }
    print_history(&entries, format);
    Ok(())
}

fn print_history(entries: &[EventRow], format: Format) {
    if format == Format::Json {
        for e in entries {
            print_json(&HistoryView::from(e));
        }
        return;
    }
    let mut t = table();
    t.set_header(vec![
        "TIME", "EVENT", "SESSION", "VERSION", "OUTCOME", "REASON",
    ]);
    for e in entries {
        let outcome = cell(e.outcome.as_str());
        let outcome = match e.outcome {
            Outcome::Applied => outcome.fg(Color::Green),
            Outcome::Recorded => outcome,
            _ => outcome.fg(Color::Yellow),
        };
        t.add_row(vec![
            cell(iso(e.event_timestamp)),
            cell(&e.event_type),
            cell(e.session_identifier.chars().take(8).collect::<String>()),
            cell(opt(e.version_number)),
            outcome,
            cell(e.disconnect_reason.as_deref().unwrap_or("")),
        ]);
    }
    println!("{}", t.trim_fmt());
    println!("{} events", entries.len());
}
