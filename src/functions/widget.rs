//! The live fleet widget function: a CloudWatch dashboard custom widget that returns the status
//! table as HTML (see [`crate::widget`] for the parameters and the bounds of a render).

use std::time::Instant;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use thiserror::Error;
use tracing::{info, warn};

use crate::alert::storm::{Dropped, DROP_WINDOWS_MS};
use crate::config::Config;
use crate::errors::error_chain;
use crate::event::Presence;
use crate::read::{AlertPage, Listing, Order, ReadError};
use crate::store::{narrow, Store};
use crate::time::now_ms;
use crate::widget::{describe, html, parse, Fleet, InvalidRequest, Request, TimeRange, Timeline};

/// Why a render failed. CloudWatch shows the message in the widget; nothing is retried (the
/// dashboard's next refresh asks again) and nothing was written.
#[derive(Error)]
pub enum WidgetError {
    #[error("invalid widget request: {0}")]
    Invalid(#[from] InvalidRequest),
    #[error("reading the tables failed")]
    Read(#[from] ReadError),
}

impl WidgetError {
    /// The `errorType` Lambda records: what a person should do about it.
    pub fn error_type(&self) -> &'static str {
        match self {
            // The widget's parameters are wrong: fix them in the dashboard.
            WidgetError::Invalid(_) => "InvalidWidgetRequest",
            // Permissions, a missing table, throttling: see the function's log.
            WidgetError::Read(_) => "ReadError",
        }
    }
}

/// The runtime logs a failed invocation's error with `{:?}`: the type and every cause.
impl std::fmt::Debug for WidgetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type(), error_chain(self))
    }
}

impl From<WidgetError> for Diagnostic {
    fn from(err: WidgetError) -> Self {
        Diagnostic {
            error_type: err.error_type().to_owned(),
            error_message: error_chain(&err),
        }
    }
}

/// The widget's store: every read names only the attributes its role may read
/// ([`narrow`]: no principal, IP address or raw payload), which the template's
/// `dynamodb:Attributes` conditions require.
pub fn store(client: &aws_sdk_dynamodb::Client, config: &Config) -> Store {
    let narrowed = narrow::client(client, &config.status_table, &config.events_table);
    Store::new(narrowed, config)
}

/// The fleet view's reads, in parallel: the two counts, the `limit` clients offline longest
/// (one page of `limit` per shard), the `limit` newest drops of the last hour, the drops of
/// the last 5, 15 and 60 minutes (COUNT queries: bounded however large the drop), the
/// alerter's open storms (one GetItem of its registry), and from one alert-index page of `limit` per shard the `limit` longest flapping
/// episodes and the pending outages.
pub async fn read_fleet(store: &Store, limit: u32, now: u64) -> Result<Fleet, ReadError> {
    let page = i32::try_from(limit).unwrap_or(i32::MAX);
    let [w5, w15, w60] = DROP_WINDOWS_MS;
    let recent = Listing {
        from: Some(now.saturating_sub(w60)),
        order: Order::NewestFirst,
        limit: Some(limit as usize),
        page_size: Some(page),
        ..Listing::new(Presence::Disconnected)
    };
    let since = |w: u64| now.saturating_sub(w);
    let (counts, offline, alerts, recent, d5, d15, d60, registry) = tokio::try_join!(
        store.fleet_counts(),
        store.list(
            Presence::Disconnected,
            None,
            Some(limit as usize),
            Some(page)
        ),
        store.alert_page(limit),
        store.listing(recent),
        store.dropped_since(since(w5)),
        store.dropped_since(since(w15)),
        store.dropped_since(since(w60)),
        async { Ok(store.storm_registry().await?) },
    )?;
    let storms = registry
        .storms
        .into_iter()
        .filter(|s| s.ended_at.is_none())
        .collect();
    let dropped = [(w5, d5), (w15, d15), (w60, d60)]
        .map(|(within_ms, clients)| Dropped { within_ms, clients })
        .to_vec();
    let AlertPage {
        mut flapping,
        pending,
    } = alerts;
    // Up to `limit` from each shard's page: the `limit` longest episodes are shown.
    flapping.truncate(limit as usize);
    Ok(Fleet {
        connected: counts.connected,
        disconnected: counts.disconnected,
        offline,
        recent,
        dropped,
        storms,
        flapping,
        pending,
        limit,
        now,
    })
}

/// One client's timeline: its status (`GetItem`) and its newest `limit` events within `range`.
pub async fn read_timeline(
    store: &Store,
    client_id: &str,
    limit: u32,
    range: Option<TimeRange>,
    now: u64,
) -> Result<Timeline, ReadError> {
    // The range's end is inclusive; the history's `until` is not.
    let (since, until) = match range {
        Some(r) => (Some(r.start), Some(r.end.saturating_add(1))),
        None => (None, None),
    };
    let (status, events) = tokio::try_join!(
        store.status(client_id),
        store.recent_history(client_id, since, until, limit),
    )?;
    Ok(Timeline {
        client_id: client_id.to_owned(),
        status,
        events,
        limit,
        range,
        now,
    })
}

/// Validates the event and renders the page it asks for (or the documentation).
pub async fn render(store: &Store, event: &Value, now: u64) -> Result<String, WidgetError> {
    let view = match parse(event) {
        Ok(Request::Describe) => return Ok(describe()),
        Ok(Request::Render(view)) => view,
        Err(err) => {
            warn!(error = %err, "refused widget request");
            return Err(err.into());
        }
    };
    let started = Instant::now();
    let (page, rows) = match &view.client_id {
        None => {
            let fleet = read_fleet(store, view.limit, now).await?;
            (html::fleet(&fleet, view.theme), fleet.offline.len())
        }
        Some(client_id) => {
            let timeline =
                read_timeline(store, client_id, view.limit, view.time_range, now).await?;
            (html::timeline(&timeline, view.theme), timeline.events.len())
        }
    };
    info!(
        clientId = view.client_id.as_deref(),
        limit = view.limit,
        rows,
        html_bytes = page.len(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "widget rendered"
    );
    Ok(page)
}

/// The `service_fn` body: the HTML (a JSON string), on the wall clock.
pub async fn function_handler(
    store: &Store,
    event: LambdaEvent<Value>,
) -> Result<String, WidgetError> {
    render(store, &event.payload, now_ms()).await
}
