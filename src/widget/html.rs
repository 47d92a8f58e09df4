//! The widget's HTML: pure functions from what was read to a page. Plain HTML and one inline
//! `<style>`, no script; every value from the tables (client ids are the devices' own strings)
//! goes through [`escape`].

use std::fmt::Write;

use super::{Fleet, Theme, TimeRange, Timeline};
use crate::config::StormSettings;
use crate::read::offline_alert;
use crate::store::item::{EventRow, Status};
use crate::store::schema::REASON_UNKNOWN;
use crate::time::{duration, iso_seconds};

/// HTML-escapes text for element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page's style: compact tables, a light and a dark palette, nothing loaded from elsewhere.
fn style(theme: Theme) -> String {
    let (fg, muted, line, ok, bad, warn) = match theme {
        Theme::Light => (
            "#16191f", "#5f6b7a", "#d5dbdb", "#037f0c", "#d91515", "#8d6605",
        ),
        Theme::Dark => (
            "#d1d5db", "#9ba7b6", "#414d5c", "#29ad32", "#ff5d64", "#e0ca57",
        ),
    };
    format!(
        "<style>.presence{{font:13px/1.4 sans-serif;color:{fg}}}\
         .presence table{{border-collapse:collapse;width:100%;margin:4px 0 10px}}\
         .presence th,.presence td{{text-align:left;padding:3px 8px;border-bottom:1px solid {line};\
         vertical-align:top}}\
         .presence th{{color:{muted};font-weight:600}}\
         .presence .counts{{font-size:16px;margin:2px 0 8px}}\
         .presence .n{{font-size:22px;font-weight:700;margin:0 4px 0 16px}}\
         .presence .n:first-child{{margin-left:0}}\
         .presence .ok{{color:{ok}}}.presence .bad{{color:{bad}}}.presence .warn{{color:{warn}}}\
         .presence .note{{color:{muted};font-size:11px}}\
         .presence .storm{{font-size:14px;font-weight:700}}\
         .presence h4{{margin:8px 0 2px}}\
         .presence .id{{font-family:monospace;word-break:break-all}}</style>"
    )
}

/// One table: a header row and rows of already-escaped cells.
fn table(out: &mut String, class: &str, header: &[&str], rows: &[Vec<String>]) {
    let _ = write!(out, "<table class=\"{class}\"><thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

/// A client id cell (escaped, monospace).
fn id_cell(client_id: &str) -> String {
    format!("<span class=\"id\">{}</span>", escape(client_id))
}

/// `2026-12-01T22:00:00Z (3h 2m ago)`.
fn when(ms: u64, now: u64) -> String {
    format!(
        "{} ({} ago)",
        iso_seconds(ms),
        duration(now.saturating_sub(ms))
    )
}

/// The fleet view: the counts, the clients offline longest, the clients flapping.
pub fn fleet(f: &Fleet, theme: Theme) -> String {
    let mut out = style(theme);
    out.push_str("<div class=\"presence\">");
    let _ = write!(
        out,
        "<p class=\"counts\"><span class=\"n ok\" id=\"connected\">{}</span> connected \
         <span class=\"n bad\" id=\"disconnected\">{}</span> disconnected</p>",
        f.connected, f.disconnected
    );
    for storm in &f.storms {
        let scope = match &storm.prefix {
            Some(p) => format!("prefix {p}"),
            None => "the fleet".to_owned(),
        };
        let _ = write!(
            out,
            "<p class=\"storm bad\" id=\"storm\">Storm: {} clients ({:.1}% of {}) dropped \
             from {} to {}; their single offline notices are held until it is over.</p>",
            storm.clients,
            100.0 * storm.clients as f64 / storm.scope_size.max(1) as f64,
            escape(&scope),
            escape(&iso_seconds(storm.first_drop_at)),
            escape(&iso_seconds(storm.last_drop_at)),
        );
    }
    recent(&mut out, f);
    let shown = f.offline.len() as u64;
    let _ = write!(
        out,
        "<h4>Offline longest ({})</h4>",
        if shown < f.disconnected {
            format!("the {shown} longest of {}", f.disconnected)
        } else {
            format!("all {shown}")
        }
    );
    if f.offline.is_empty() {
        out.push_str("<p class=\"note\">No client is disconnected.</p>");
    } else {
        let rows: Vec<Vec<String>> = f.offline.iter().map(|s| offline_row(s, f)).collect();
        table(
            &mut out,
            "offline",
            &[
                "Client",
                "Offline for",
                "Since (UTC)",
                "Last disconnect reason",
                "Alert",
            ],
            &rows,
        );
    }
    if !f.flapping.is_empty() {
        out.push_str("<h4>Flapping</h4>");
        let rows: Vec<Vec<String>> = f
            .flapping
            .iter()
            .map(|a| {
                vec![
                    id_cell(&a.client_id),
                    escape(&iso_seconds(a.since)),
                    escape(&when(a.alerted_at, f.now)),
                ]
            })
            .collect();
        table(
            &mut out,
            "flapping",
            &["Client", "Episode since (UTC)", "Alerted"],
            &rows,
        );
    }
    out.push_str(&legend());
    let _ = write!(
        out,
        "<p class=\"note\">Read {}: counts by COUNT queries of the status index; at most {} \
         rows per list (one page per shard).</p></div>",
        escape(&iso_seconds(f.now)),
        f.limit
    );
    out
}

/// What every state and word on the fleet view means.
fn legend() -> String {
    let storm = StormSettings::DEFAULT;
    format!(
        "<p class=\"note legend\" id=\"legend\"><strong>Legend.</strong> \
         <span class=\"ok\">connected</span> / <span class=\"bad\">disconnected</span>: the \
         client's status from its last lifecycle event that counted (late, duplicate and stale \
         copies never change it). <span class=\"warn\">pending</span>: offline, not yet past \
         its offline threshold. <span class=\"bad\">offline alert</span>: offline past its \
         threshold, notice sent. <span class=\"warn\">flapping</span>: at least the flapping \
         count of connections within the flapping window. <strong>unknown</strong>: not in the events (a \
         disconnect whose connect was never seen has no connect time). <strong>Storm</strong>: at least {} \
         clients and {}% of the fleet (or of one client-id prefix) dropped within {}, as the alerter \
         declared it: one storm notice, the single offline notices held until nine in ten are \
         back. Dropped recently \
         counts only clients still offline: one that came back is connected again.</p>",
        storm.min_clients,
        storm.min_share * 100.0,
        escape(&duration(storm.window_ms))
    )
}

/// The drop counts of the last 5, 15 and 60 minutes, and the newest drops, newest first.
fn recent(out: &mut String, f: &Fleet) {
    let counts: Vec<String> = f
        .dropped
        .iter()
        .map(|d| format!("{} in {}", d.clients, escape(&duration(d.within_ms))))
        .collect();
    let _ = write!(
        out,
        "<h4>Dropped recently (still offline: {})</h4>",
        counts.join(", ")
    );
    if f.recent.is_empty() {
        out.push_str("<p class=\"note\">No client dropped in the last hour.</p>");
        return;
    }
    let rows: Vec<Vec<String>> = f
        .recent
        .iter()
        .map(|s| {
            let at = s.since();
            vec![
                id_cell(&s.client_id),
                at.map_or("unknown".to_owned(), |t| escape(&when(t, f.now))),
                escape(s.disconnect_reason.as_deref().unwrap_or(REASON_UNKNOWN)),
            ]
        })
        .collect();
    table(out, "recent", &["Client", "Dropped (UTC)", "Reason"], &rows);
}

fn offline_row(s: &Status, f: &Fleet) -> Vec<String> {
    let since = s.since();
    let offline_for = since.map_or("unknown".to_owned(), |t| duration(f.now.saturating_sub(t)));
    let since = since.map_or("unknown".to_owned(), iso_seconds);
    let reason = s.disconnect_reason.as_deref().unwrap_or(REASON_UNKNOWN);
    let mut alerts = Vec::new();
    if let Some(a) = offline_alert(s) {
        alerts.push(format!(
            "<span class=\"bad\">offline alert</span> sent {}",
            escape(&when(a.alerted_at, f.now))
        ));
    } else if f.pending.contains(&s.client_id) {
        alerts.push("<span class=\"warn\">pending</span>".to_owned());
    }
    if f.flapping.iter().any(|a| a.client_id == s.client_id) {
        alerts.push("<span class=\"warn\">flapping</span>".to_owned());
    }
    vec![
        id_cell(&s.client_id),
        escape(&offline_for),
        escape(&since),
        escape(reason),
        if alerts.is_empty() {
            "&ndash;".to_owned()
        } else {
            alerts.join(", ")
        },
    ]
}

/// One client's timeline: its status, then its newest events, newest first.
pub fn timeline(t: &Timeline, theme: Theme) -> String {
    let mut out = style(theme);
    out.push_str("<div class=\"presence\">");
    let _ = write!(out, "<h4>Client {}</h4>", id_cell(&t.client_id));
    match &t.status {
        None => out.push_str("<p class=\"counts\">Never seen: no status item.</p>"),
        Some(s) => {
            let (class, state) = if s.connected {
                ("ok", "connected")
            } else {
                ("bad", "disconnected")
            };
            let since = s
                .since()
                .map_or("an unknown time".to_owned(), |ms| when(ms, t.now));
            let _ = write!(
                out,
                "<p class=\"counts\"><span class=\"n {class}\" id=\"state\">{state}</span> since {}",
                escape(&since)
            );
            if !s.connected {
                let reason = s.disconnect_reason.as_deref().unwrap_or(REASON_UNKNOWN);
                let _ = write!(out, ", reason {}", escape(reason));
            }
            out.push_str("</p>");
            if let Some(a) = offline_alert(s) {
                let _ = write!(
                    out,
                    "<p><span class=\"bad\">Offline alert</span> sent {}</p>",
                    escape(&when(a.alerted_at, t.now))
                );
            }
            if let Some(e) = &s.flapping {
                let _ = write!(
                    out,
                    "<p><span class=\"warn\">Flapping</span> since {}, alerted {}</p>",
                    escape(&iso_seconds(e.since)),
                    escape(&when(e.alerted_at, t.now))
                );
            }
        }
    }
    let range = t.range.map_or(String::new(), |TimeRange { start, end }| {
        format!(
            " between {} and {}",
            escape(&iso_seconds(start)),
            escape(&iso_seconds(end))
        )
    });
    let _ = write!(
        out,
        "<h4>Newest events{range} ({} shown, at most {})</h4>",
        t.events.len(),
        t.limit
    );
    if t.events.is_empty() {
        out.push_str("<p class=\"note\">No events in the event log.</p>");
    } else {
        let rows: Vec<Vec<String>> = t.events.iter().map(event_row).collect();
        table(
            &mut out,
            "events",
            &[
                "Time (UTC)",
                "Event",
                "Outcome",
                "Session",
                "Version",
                "Detail",
            ],
            &rows,
        );
        out.push_str(TIMELINE_LEGEND);
    }
    let _ = write!(
        out,
        "<p class=\"note\">Read {}.</p></div>",
        escape(&iso_seconds(t.now))
    );
    out
}

/// What each outcome of the event log means (`crate::rule::Outcome`), under the timeline.
const TIMELINE_LEGEND: &str = "<p class=\"note legend\" id=\"legend\"><strong>Outcome.</strong> \
     applied: the event set the status. stale: the status already held a newer event of this \
     client, so the event is kept in the log and changed nothing (lifecycle events arrive late \
     and out of order). duplicate: another copy of an event already counted. recorded: a \
     connect_failed event, logged, never a status change. reconciled: a repair from the \
     broker's answer (presence reconcile). invalid: refused (the reason is in Detail), never \
     applied. Session and Version identify the connection; Detail is the disconnect or \
     failure reason.</p>";

fn event_row(e: &EventRow) -> Vec<String> {
    let detail = e
        .disconnect_reason
        .as_deref()
        .or(e.connect_failure_reason.as_deref())
        .or(e.invalid_reason.as_deref())
        .unwrap_or("");
    vec![
        escape(&crate::time::iso_millis(e.event_timestamp)),
        escape(&e.event_type),
        escape(&e.outcome.to_string()),
        id_cell(&e.session_identifier),
        e.version_number.map_or(String::new(), |v| v.to_string()),
        escape(detail),
    ]
}

#[cfg(test)]
mod tests;
