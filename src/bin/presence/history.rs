//! `presence history`: one client's event log, oldest first, with each event's outcome.

use comfy_table::{Cell, Color};
use iot_presence::rule::Outcome;
use iot_presence::store::item::EventRow;
use iot_presence::store::Store;

use crate::args::Format;
use crate::output::{iso, opt, print_json, table, HistoryView};
use crate::Failure;

/// Exit 1 for a client with no events at all (a time window may rightly be empty).
pub async fn run(
    store: &Store,
    client_id: &str,
    since: Option<u64>,
    until: Option<u64>,
    format: Format,
) -> Result<(), Failure> {
    let entries = store.history(client_id, since, until).await?;
    if entries.is_empty() && since.is_none() && until.is_none() {
        eprintln!("presence: no events recorded for {client_id:?}");
        return Err(Failure::Unknown);
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
        let outcome = Cell::new(e.outcome.as_str());
        let outcome = match e.outcome {
            Outcome::Applied => outcome.fg(Color::Green),
            Outcome::Recorded => outcome,
            _ => outcome.fg(Color::Yellow),
        };
        t.add_row(vec![
            Cell::new(iso(e.event_timestamp)),
            Cell::new(&e.event_type),
            Cell::new(e.session_identifier.chars().take(8).collect::<String>()),
            Cell::new(opt(e.version_number)),
            outcome,
            Cell::new(e.disconnect_reason.as_deref().unwrap_or("")),
        ]);
    }
    println!("{}", t.trim_fmt());
    println!("{} events", entries.len());
}
