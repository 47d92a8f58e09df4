//! The cost tables as markdown, exactly as docs/cost.md shows them: `cargo xtask capacity`
//! prints them from what it measured, and `tests/cost.rs` checks that docs/cost.md holds them
//! as rendered from [`super::measured`]. `presence cost` prints [`line_rows`] as a table.

use super::model::{self, Inputs, Line, Sizes};
use super::{prices, PathUnits};

/// The fleets of the month grid, in devices.
pub const FLEETS: [f64; 3] = [10_000.0, 200_000.0, 1_000_000.0];
/// The grid's reconnects a day per device: daily, hourly, every five minutes.
pub const RECONNECTS_PER_DAY: [f64; 3] = [1.0, 24.0, 288.0];
/// The grid cell shown line by line: devices, reconnects a day.
pub const CELL: (f64, f64) = (200_000.0, 24.0);

/// A markdown table: the header, its separator, the rows; one line each, newline-terminated.
pub fn markdown(header: &[String], rows: &[Vec<String>]) -> String {
    // An empty cell is `| |`, as the pages write it by hand.
    let row = |cells: &[String]| -> String {
        let cells: String = cells
            .iter()
            .map(|c| {
                if c.is_empty() {
                    " |".to_owned()
                } else {
                    format!(" {c} |")
                }
            })
            .collect();
        format!("|{cells}\n")
    };
    let mut out = row(header);
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for r in rows {
        out.push_str(&row(r));
    }
    out
}

/// The units per path ([`super::table`]).
pub fn units(paths: &[PathUnits]) -> String {
    let rows = super::table(paths);
    markdown(&rows[0], &rows[1..])
}

/// Item, arithmetic and cost of each line (the total is [`model::total`]).
pub fn line_rows(lines: &[Line]) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|l| {
            vec![
                l.item.to_owned(),
                l.arithmetic.clone(),
                model::dollars(l.dollars),
            ]
        })
        .collect()
}

/// A cost table, line by line, with its total.
pub fn lines(lines: &[Line]) -> String {
    let header = ["item", "arithmetic", "cost"].map(str::to_owned);
    let mut rows = line_rows(lines);
    let total = model::dollars(model::total(lines));
    rows.push(vec![
        "**total**".into(),
        String::new(),
        format!("**{total}**"),
    ]);
    markdown(&header, &rows)
}

/// A million events, alerts on ([`model::per_events`]).
pub fn per_million(i: &Inputs) -> String {
    lines(&model::per_events(i, 1e6))
}

/// A month's cost of each of [`FLEETS`] at each of [`RECONNECTS_PER_DAY`].
pub fn grid(i: &Inputs) -> String {
    let mut header = vec!["devices".to_owned()];
    header.extend(RECONNECTS_PER_DAY.map(|r| format!("{} a day", model::count(r))));
    let rows: Vec<Vec<String>> = FLEETS
        .iter()
        .map(|&devices| {
            let mut row = vec![model::count(devices)];
            row.extend(RECONNECTS_PER_DAY.map(|r| model::dollars(model::monthly(i, devices, r))));
            row
        })
        .collect();
    markdown(&header, &rows)
}

/// One fleet's month, line by line ([`model::month`]).
pub fn month(i: &Inputs, devices: f64, per_day: f64) -> String {
    lines(&model::month(i, devices, per_day))
}

/// The prices, their values and sources, and DynamoDB's item overhead.
pub fn prices() -> String {
    let header = ["price", "value", "source"].map(str::to_owned);
    let mut rows: Vec<Vec<String>> = prices::ALL
        .iter()
        .map(|(what, p)| {
            vec![
                (*what).to_owned(),
                format!("${} per {}", model::dollars_exact(p.dollars), p.unit),
                format!("{} ({})", p.source, p.as_of),
            ]
        })
        .collect();
    rows.push(vec![
        "DynamoDB item overhead".into(),
        format!(
            "{} bytes per item, for storage",
            prices::ITEM_OVERHEAD_BYTES
        ),
        prices::ITEM_OVERHEAD_SOURCE.into(),
    ]);
    markdown(&header, &rows)
}

/// The sizes, as a phrase: `status item 458 B, event row 548 B (means, DynamoDB's count); log
/// 433 B and EMF 745 B per handled event`.
pub fn sizes(s: &Sizes) -> String {
    format!(
        "status item {:.0} B, event row {:.0} B (means, DynamoDB's count); log {:.0} B and EMF \
         {:.0} B per handled event",
        s.status_item_bytes, s.event_row_bytes, s.log_bytes_per_event, s.emf_bytes_per_event
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_markdown_table_is_header_separator_rows() {
        let header = ["a", "b"].map(str::to_owned);
        let rows = vec![vec!["1".to_owned(), String::new()]];
        assert_eq!(markdown(&header, &rows), "| a | b |\n|---|---|\n| 1 | |\n");
    }

    #[test]
    fn the_grid_has_a_row_per_fleet_and_a_column_per_rate() {
        let grid = grid(&super::super::measured::inputs(30));
        let lines: Vec<&str> = grid.lines().collect();
        assert_eq!(lines[0], "| devices | 1 a day | 24 a day | 288 a day |");
        assert_eq!(lines.len(), 2 + FLEETS.len());
        assert!(lines[3].starts_with("| 200,000 | $"), "{grid}");
    }
}
