//! `cargo xtask widget-screenshot`: the live fleet widget in a real browser. Feeds the sample
//! events through the library's ingest path (`functions::ingest::handle`) into the local
//! tables, runs one alert pass (`alert::pass::Alerter`, publishing to a topic on the local
//! server) so that standing offline alerts show, renders the widget's fleet view and one client's timeline through the widget's own
//! handler path (`functions::widget::render`), has headless Chromium screenshot both and dump
//! their DOM, and checks the page's text against the status table read by key: the counts,
//! every offline client, every timeline event.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use iot_presence::alert::pass::Alerter;
use iot_presence::config::{AlertSettings, Config};
use iot_presence::functions::ingest::handle;
use iot_presence::functions::widget::render;
use iot_presence::store::item::{EventRow, Status};
use iot_presence::store::schema::REASON_UNKNOWN;
use iot_presence::store::Store;
use iot_presence::time::{duration, iso_millis, iso_seconds, now_ms};
use serde_json::{json, Value};

use crate::{events, local, Result};

#[derive(clap::Args)]
/// Render the live fleet widget, screenshot it with headless Chromium, check its text
pub struct Args {
    #[command(flatten)]
    tables: local::Tables,
    /// Event files or folders, as for `replay`
    #[arg(default_value = "events")]
    paths: Vec<PathBuf>,
    /// Where the screenshots go (widget.png, widget-timeline.png)
    #[arg(long, default_value = "docs")]
    out: PathBuf,
    /// Scratch folder for the HTML pages
    #[arg(long)]
    work: PathBuf,
    #[arg(long, default_value = "chromium")]
    chromium: String,
    /// Browser window (and so screenshot) size, WIDTHxHEIGHT (tall enough for the legend)
    #[arg(long, default_value = "1000x760")]
    window: String,
    /// Shift the events in time, keeping their gaps, so that the newest happened this long
    /// before now: the samples are dated 2025, and a screenshot should show a fleet as it looks
    /// live (recent drops, alerts sent minutes ago). 0s keeps their own timestamps.
    #[arg(long, default_value = "8m", value_parser = iot_presence::time::parse_duration)]
    newest_ago: std::time::Duration,
    /// Renders timed per view, for the figures
    #[arg(long, default_value_t = 20)]
    repeat: u32,
}

/// The events with every timestamp moved by one offset, so that the newest is `newest_ago`
/// before `now` (unchanged when that is zero).
fn shifted(
    events: Vec<(String, String)>,
    now: u64,
    newest_ago: std::time::Duration,
) -> Result<Vec<(String, String)>> {
    if newest_ago.is_zero() {
        return Ok(events);
    }
    let parsed: Vec<(String, serde_json::Value)> = events
        .into_iter()
        .map(|(source, payload)| Ok((source, serde_json::from_str(&payload)?)))
        .collect::<Result<_>>()?;
    let newest = parsed
        .iter()
        .filter_map(|(_, e)| e["timestamp"].as_u64())
        .max()
        .ok_or("no event has a timestamp")?;
    let target = now.saturating_sub(iot_presence::time::millis(newest_ago));
    Ok(parsed
        .into_iter()
        .map(|(source, mut e)| {
            if let Some(ts) = e["timestamp"].as_u64() {
                // The same offset for every event (earlier or later), never before the epoch.
                let moved = i128::from(ts) + i128::from(target) - i128::from(newest);
                e["timestamp"] = u64::try_from(moved.max(0)).unwrap_or(0).into();
            }
            (source, e.to_string())
        })
        .collect())
}

pub async fn run(a: Args) -> Result {
    let client = local::dynamodb(&a.tables.endpoint)?;
    let store = Store::new(
        client,
        &Config::with_tables(&a.tables.status_table, &a.tables.events_table),
    );
    let sns = aws_sdk_sns::Client::new(&local::sdk_config(a.tables.messaging()?)?);
    let now = now_ms();
    let events = shifted(events::load(&a.paths)?, now, a.newest_ago)?;
    let mut per_client: BTreeMap<String, usize> = BTreeMap::new();
    let mut invalid = 0;
    for (source, payload) in &events {
        match handle(&store, payload, now).await {
            Ok(r) => *per_client.entry(r.client_id).or_default() += 1,
            Err(e) if e.error_type() == "InvalidEvent" => {
                invalid += 1;
                eprintln!("invalid  {source}: {e}");
            }
            Err(e) => return Err(format!("{source}: {e:?}").into()),
        }
    }
    eprintln!(
        "recorded {} events of {} clients ({invalid} invalid)",
        events.len() - invalid,
        per_client.len()
    );
    // One alert pass with the default settings: the samples' disconnects are long past their
    // threshold, so each gets its offline alert (the widget's Alert column).
    let topic = local::create_topic(&sns, "presence-widget-alerts").await?;
    let report = Alerter::new(store.clone(), sns, topic, AlertSettings::DEFAULT)
        .run(now)
        .await;
    if !report.errors.is_empty() {
        return Err(format!("alert pass: {:?}", report.errors).into());
    }
    eprintln!(
        "alert pass: {} due, {} offline notices",
        report.due, report.offline
    );
    // The timeline's client: the one with the most events (ties: the first by id).
    let busiest = per_client
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(id, _)| id.clone())
        .ok_or("no events recorded")?;

    // The truth: every client's status item by key.
    let ids: BTreeSet<String> = per_client.keys().cloned().collect();
    let items = events::status_items(&a.tables.endpoint, &a.tables.status_table, &ids).await?;
    let statuses: Vec<Status> = items
        .into_values()
        .map(Status::from_item)
        .collect::<std::result::Result<_, _>>()?;
    let offline: Vec<&Status> = statuses.iter().filter(|s| !s.connected).collect();
    let connected = statuses.len() - offline.len();

    std::fs::create_dir_all(&a.work)?;
    std::fs::create_dir_all(&a.out)?;
    let fleet_request = json!({"limit": 50});
    let timeline_request = json!({"clientId": busiest, "limit": 20});
    let mut pages = Vec::new();
    for (name, request) in [
        ("widget", &fleet_request),
        ("widget-timeline", &timeline_request),
    ] {
        let (html, times) = timed_renders(&store, request, now, a.repeat).await?;
        println!(
            "{name}: {} bytes of HTML; render against the local server over {} runs: median {:.1} ms, max {:.1} ms",
            html.len(),
            times.len(),
            times[times.len() / 2],
            times[times.len() - 1]
        );
        let file = a.work.join(format!("{name}.html"));
        // The dashboard frames the widget's HTML; a bare page with its charset stands in.
        std::fs::write(
            &file,
            format!("<!doctype html><html><head><meta charset=\"utf-8\"><title>{name}</title></head><body>{html}</body></html>"),
        )?;
        let png = a.out.join(format!("{name}.png"));
        chromium(&a, &file, &[&format!("--screenshot={}", png.display())]).await?;
        let size = std::fs::metadata(&png)
            .map_err(|e| format!("chromium wrote no {}: {e}", png.display()))?
            .len();
        println!("{name}: screenshot {} ({size} bytes)", png.display());
        let dom = chromium(&a, &file, &["--dump-dom"]).await?;
        pages.push(text_of(&dom));
    }

    // The fleet page says what the table holds.
    let fleet = &pages[0];
    let counts = format!("{connected} connected {} disconnected", offline.len());
    check(fleet.contains(&counts), || {
        format!("fleet page lacks {counts:?}: {fleet}")
    })?;
    check(offline.len() <= 50, || {
        format!(
            "{} offline clients: more than the page of 50 shows",
            offline.len()
        )
    })?;
    let mut alerted = 0;
    for s in &offline {
        let reason = s.disconnect_reason.as_deref().unwrap_or(REASON_UNKNOWN);
        // The row as the widget words it: id, how long, since when, reason, any alert.
        let since = s
            .since()
            .ok_or_else(|| format!("{}: no since", s.client_id))?;
        let mut row = format!(
            "{} {} {} {reason}",
            s.client_id,
            duration(now.saturating_sub(since)),
            iso_seconds(since)
        );
        if let Some(alerted_at) = s.outage.as_ref().and_then(|o| o.alerted_at) {
            row.push_str(&format!(" offline alert sent {}", iso_seconds(alerted_at)));
            alerted += 1;
        }
        check(fleet.contains(&row), || {
            format!("fleet page lacks the row {row:?}: {fleet}")
        })?;
    }
    // The timeline shows the client's newest events, newest first.
    let log = store
        .history(&busiest, None, None)
        .await
        .map_err(|e| format!("history of {busiest}: {e}"))?;
    let newest: Vec<&EventRow> = log.iter().rev().take(20).collect();
    let timeline = &pages[1];
    let mut at = 0;
    for row in &newest {
        let time = iso_millis(row.event_timestamp);
        let found = timeline[at..].find(&format!("{time} {}", row.event_type));
        at += found.ok_or_else(|| {
            format!(
                "timeline of {busiest} lacks (or misorders) {time} {}",
                row.event_type
            )
        })? + 1;
    }
    println!(
        "checked: the browser's text shows {connected} connected, {} disconnected, every offline client's row ({alerted} with an offline alert), and {busiest}'s newest {} events in order",
        offline.len(),
        newest.len()
    );
    Ok(())
}

fn check(ok: bool, message: impl FnOnce() -> String) -> Result {
    if ok {
        Ok(())
    } else {
        Err(message().into())
    }
}

/// Renders `request` `repeat` times (at least once); the page and the sorted times (ms).
async fn timed_renders(
    store: &Store,
    request: &Value,
    now: u64,
    repeat: u32,
) -> Result<(String, Vec<f64>)> {
    let mut times = Vec::new();
    let mut page = String::new();
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        page = render(store, request, now)
            .await
            .map_err(|e| format!("render {request}: {e:?}"))?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok((page, times))
}

/// Headless Chromium on `file` with `extra` flags; its stdout. Bounded at 60 s.
async fn chromium(a: &Args, file: &Path, extra: &[&str]) -> Result<String> {
    let window = a.window.replace('x', ",");
    let url = format!("file://{}", std::fs::canonicalize(file)?.display());
    let mut cmd = std::process::Command::new(&a.chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
    ])
    .arg(format!("--window-size={window}"))
    .args(extra)
    .arg(&url);
    let out = local::output(cmd, Duration::from_secs(60))
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{} {extra:?} failed ({}): {}",
            a.chromium,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// The text of a dumped DOM as a reader sees it: the body without tags, the entities the
/// widget writes decoded, whitespace collapsed.
fn text_of(dom: &str) -> String {
    let body = dom.find("<body").map_or(dom, |at| &dom[at..]);
    let mut text = String::new();
    let (mut in_tag, mut in_style) = (false, false);
    let mut tag = String::new();
    for c in body.chars() {
        match c {
            '<' => {
                in_tag = true;
                tag.clear();
            }
            '>' if in_tag => {
                in_tag = false;
                let name = tag
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                in_style = match name.as_str() {
                    "style" => true,
                    "/style" => false,
                    _ => in_style,
                };
                text.push(' ');
            }
            c if in_tag => tag.push(c),
            c if !in_style => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace('\u{a0}', " ")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
