//! The HTTP API function: API Gateway (HTTP API, payload format 2.0) requests answered from the
//! tables, read-only, through the same reads and JSON views as the `presence` CLI
//! ([`crate::read`], [`crate::read::view`]). Routing and every refusal of input are pure
//! ([`crate::api`]); this reads and answers.
//!
//! Every invocation returns an HTTP answer, never a Lambda error: bad input is a 400, 404 or
//! 405 problem (nothing read), a failed read a 503 problem (logged with the request id, which
//! the answer carries). Lambda's own error would reach the caller as API Gateway's bare 500.

use std::time::Instant;

use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use tracing::{error, info};

use crate::alert::storm::incident_at;
use crate::api::route::{next_cursor, ClientsQuery};
use crate::api::{parse, HttpRequest, HttpResponse, Limits, Problem, Route};
use crate::availability;
use crate::config::{Config, StormSettings};
use crate::errors::error_chain;
use crate::read::view::{HistoryView, StatusView, SummaryView};
use crate::read::{PageQuery, ReadError};
use crate::store::{narrow, Store};
use crate::time::{iso_millis, now_ms};

/// At most this many events in one history answer; `nextSince` says where the rest begin.
pub const HISTORY_LIMIT: usize = 1000;

/// What the function holds across invocations.
#[derive(Clone)]
pub struct Api {
    pub store: Store,
    pub limits: Limits,
    /// What the incident view calls a storm: the alerter's settings.
    pub storm: StormSettings,
}

impl Api {
    pub fn new(store: Store, config: &Config, storm: StormSettings) -> Api {
        Api {
            store,
            limits: Limits {
                retention_days: config.retention_days,
            },
            storm,
        }
    }
}

/// The API's store: its reads name only the attributes its role may read ([`narrow`], as the
/// widget's): it never answers with a principal, an IP address or a raw payload.
pub fn store(client: &aws_sdk_dynamodb::Client, config: &Config) -> Store {
    let narrowed = narrow::client(client, &config.status_table, &config.events_table);
    Store::new(narrowed, config)
}

/// `GET /clients`: one page, and the cursor of the next when there is one.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClientsPage<'a> {
    clients: Vec<StatusView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// `GET /clients/{clientId}/history`: the oldest [`HISTORY_LIMIT`] events of the window.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryPage<'a> {
    client_id: &'a str,
    events: Vec<HistoryView<'a>>,
    /// When the window holds more: ask again with `since` this (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    next_since: Option<String>,
}

fn ok(body: &impl Serialize) -> HttpResponse {
    HttpResponse::json(200, crate::api::http::JSON, body)
}

/// The answer to one route, or the problem of a client that is not there.
async fn read(
    api: &Api,
    route: &Route,
    now: u64,
) -> Result<Result<HttpResponse, Problem>, ReadError> {
    let store = &api.store;
    Ok(match route {
        Route::Client { client_id } => match store.status(client_id).await? {
            Some(st) => Ok(ok(&StatusView::new(&st, false, false))),
            None => Err(Problem::unknown_client(client_id)),
        },
        Route::Clients(q) => Ok(clients(store, q).await?),
        Route::History {
            client_id,
            since,
            until,
        } => {
            let mut rows = store
                .oldest_history(client_id, *since, *until, HISTORY_LIMIT + 1)
                .await?;
            if rows.is_empty() && store.is_unknown(client_id).await? {
                return Ok(Err(Problem::unknown_client(client_id)));
            }
            // More than a page: end it before the first millisecond not wholly in it, so that
            // `since` of that millisecond starts the next page where this one stops.
            let mut next_since = None;
            if rows.len() > HISTORY_LIMIT {
                let cut = rows[HISTORY_LIMIT].event_timestamp;
                rows.truncate(HISTORY_LIMIT);
                let whole = rows.iter().filter(|r| r.event_timestamp < cut).count();
                // A page of one millisecond only (more events in it than a page holds): the
                // next starts after it.
                let (keep, next) = if whole == 0 {
                    (HISTORY_LIMIT, cut + 1)
                } else {
                    (whole, cut)
                };
                rows.truncate(keep);
                next_since = Some(iso_millis(next));
            }
            let page = HistoryPage {
                client_id,
                events: rows.iter().map(HistoryView::from).collect(),
                next_since,
            };
            Ok(ok(&page))
        }
        Route::Availability {
            client_id,
            since,
            until,
        } => {
            let reports =
                availability::reports(store, vec![client_id.clone()], *since, *until, || {})
                    .await?;
            let report = reports.into_iter().next().expect("one report per client");
            // Only a report with no known time at all can be of a client never seen.
            if report.unknown_ms == until - since && store.is_unknown(client_id).await? {
                Err(Problem::unknown_client(client_id))
            } else {
                Ok(ok(&report))
            }
        }
        Route::Summary => Ok(ok(&SummaryView::from(&store.summary(now).await?))),
        Route::Incident => Ok(ok(&incident_at(store, &api.storm, now).await?)),
    })
}

async fn clients(store: &Store, q: &ClientsQuery) -> Result<HttpResponse, ReadError> {
    let page = store
        .status_page(&PageQuery {
            presence: q.presence,
            from: q.from,
            before: None,
            prefix: q.prefix.clone(),
            after: q.after.clone(),
            limit: q.limit,
        })
        .await?;
    let body = ClientsPage {
        clients: page
            .statuses
            .iter()
            .map(|st| StatusView::new(st, false, false))
            .collect(),
        next_cursor: page.next.as_ref().map(|last| next_cursor(q, last)),
    };
    Ok(ok(&body))
}

/// The answer to one API Gateway event at `now` (ms): always an HTTP answer.
pub async fn answer(api: &Api, event: Value, now: u64) -> HttpResponse {
    let started = Instant::now();
    // Anything that is not an API Gateway event is a request for nothing.
    let request: HttpRequest = serde_json::from_value(event).unwrap_or_default();
    let request_id = request.request_context.request_id.clone();
    let outcome = match parse(&request, now, api.limits) {
        Err(problem) => Err(problem),
        Ok(route) => match read(api, &route, now).await {
            Ok(answer) => answer,
            Err(err) => {
                error!(
                    requestId = %request_id,
                    path = %request.raw_path,
                    error = %error_chain(&err),
                    "reading the tables failed: answered 503"
                );
                Err(Problem::unavailable())
            }
        },
    };
    let response = match outcome {
        Ok(response) => response,
        Err(mut problem) => {
            problem.request_id = Some(request_id.clone()).filter(|id| !id.is_empty());
            problem.response()
        }
    };
    info!(
        requestId = %request_id,
        method = %request.request_context.http.method,
        routeKey = %request.route_key,
        status = response.status_code,
        bytes = response.body.len(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "answered"
    );
    response
}

/// The `service_fn` body, on the wall clock. Infallible: see the module's documentation.
pub async fn function_handler(
    api: &Api,
    event: LambdaEvent<Value>,
) -> Result<HttpResponse, std::convert::Infallible> {
    Ok(answer(api, event.payload, now_ms()).await)
}
