//! Which route a request asks for, with its parameters parsed and bounded, or the problem that
//! answers it. Pure: no table is read, so every refusal here writes and reads nothing.

use super::cursor::Cursor;
use super::http::HttpRequest;
use super::problem::Problem;
use super::query::{decode, Params};
use crate::event::{client_id_problem, Presence};
use crate::read::Position;
use crate::time::{millis, parse_duration, parse_instant};

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Client {
        client_id: String,
    },
    Clients(ClientsQuery),
    History {
        client_id: String,
        since: Option<u64>,
        until: Option<u64>,
    },
    Availability {
        client_id: String,
        since: u64,
        until: u64,
    },
    Summary,
    Incident,
}

/// `GET /clients`: one page of one state's clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientsQuery {
    pub presence: Presence,
    pub prefix: Option<String>,
    /// `droppedWithin`, in ms.
    pub within: Option<u64>,
    /// Disconnected at or after this (ms): `now - droppedWithin` of the listing's first page.
    pub from: Option<u64>,
    pub limit: usize,
    pub after: Option<Position>,
}

/// The routes' paths and query parameters (docs/openapi.yaml documents exactly these:
/// tests/api_contract.rs checks).
pub const ROUTES: [(&str, &[&str]); 6] = [
    (
        "/clients",
        &["state", "prefix", "droppedWithin", "limit", "cursor"],
    ),
    ("/clients/{clientId}", &[]),
    ("/clients/{clientId}/history", &["since", "until"]),
    ("/clients/{clientId}/availability", &["since", "until"]),
    ("/fleet/summary", &[]),
    ("/fleet/incident", &[]),
];

/// `limit` of `GET /clients`: default and most.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// The window of `availability` when `since` is not given: the last 7 days, as the CLI's.
pub const DEFAULT_AVAILABILITY_MS: u64 = 7 * 86_400_000;

/// What bounds a request beyond its own text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The event table's retention: `availability` may not reach further back.
    pub retention_days: u32,
}

/// The route `request` asks for, at `now` (ms).
pub fn parse(request: &HttpRequest, now: u64, limits: Limits) -> Result<Route, Problem> {
    let path = strip_stage(request);
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(&path).split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(Problem::not_found());
    }
    let (template, id) = match segments.as_slice() {
        ["clients"] => (ROUTES[0], None),
        ["clients", id] => (ROUTES[1], Some(*id)),
        ["clients", id, "history"] => (ROUTES[2], Some(*id)),
        ["clients", id, "availability"] => (ROUTES[3], Some(*id)),
        ["fleet", "summary"] => (ROUTES[4], None),
        ["fleet", "incident"] => (ROUTES[5], None),
        _ => return Err(Problem::not_found()),
    };
    let method = &request.request_context.http.method;
    if method != "GET" {
        return Err(Problem::method_not_allowed(method));
    }
    let (path_template, known) = template;
    let params = if !request.raw_query_string.is_empty() {
        Params::parse(&request.raw_query_string, known)?
    } else if let Some(map) = &request.query_string_parameters {
        Params::from_map(map, known)?
    } else {
        Params::default()
    };
    let client_id = match id {
        None => String::new(),
        Some(raw) => client_id(request, raw)?,
    };
    Ok(match path_template {
        "/clients" => Route::Clients(clients(&params, now)?),
        "/clients/{clientId}" => Route::Client { client_id },
        "/clients/{clientId}/history" => {
            let (since, until) = window(&params)?;
            Route::History {
                client_id,
                since,
                until,
            }
        }
        "/clients/{clientId}/availability" => {
            let (since, until) = window(&params)?;
            let until = until.unwrap_or(now);
            let since = since.unwrap_or(until.saturating_sub(DEFAULT_AVAILABILITY_MS));
            let oldest = now.saturating_sub(u64::from(limits.retention_days) * 86_400_000);
            if since < oldest {
                return Err(Problem::invalid(
                    "since",
                    format!(
                        "reaches past the event retention ({} days): events older than {} \
                         are gone, so their time cannot be counted",
                        limits.retention_days,
                        crate::time::iso_seconds(oldest)
                    ),
                ));
            }
            if since >= until {
                return Err(Problem::invalid("since", "must be before until (or now)"));
            }
            Route::Availability {
                client_id,
                since,
                until,
            }
        }
        "/fleet/summary" => Route::Summary,
        _ => Route::Incident,
    })
}

/// The path without the stage's name (API Gateway puts it first unless the stage is
/// `$default`).
fn strip_stage(request: &HttpRequest) -> String {
    let path = if request.raw_path.is_empty() {
        &request.request_context.http.path
    } else {
        &request.raw_path
    };
    let stage = &request.request_context.stage;
    if !stage.is_empty() && stage != "$default" {
        if let Some(rest) = path.strip_prefix(&format!("/{stage}")) {
            if rest.starts_with('/') {
                return rest.to_owned();
            }
        }
    }
    path.to_owned()
}

/// The client id: API Gateway's decoded path parameter when the route matched one, else the
/// path's segment, decoded here; either way checked as the CLI checks it.
fn client_id(request: &HttpRequest, raw: &str) -> Result<String, Problem> {
    let given = request
        .path_parameters
        .as_ref()
        .and_then(|p| p.get("clientId"))
        .cloned();
    let id = match given {
        Some(id) => id,
        // A `+` in a path is itself, not a space.
        None => {
            decode(&raw.replace('+', "%2B")).map_err(|why| Problem::invalid("clientId", why))?
        }
    };
    if let Some(problem) = client_id_problem(&id) {
        return Err(Problem::invalid(
            "clientId",
            format!("the client id {problem}"),
        ));
    }
    Ok(id)
}

fn instant(params: &Params, name: &str) -> Result<Option<u64>, Problem> {
    params
        .get(name)
        .map(|text| parse_instant(text).map_err(|e| Problem::invalid(name, e.to_string())))
        .transpose()
}

/// `since` and `until`, each optional; `since` before `until`.
fn window(params: &Params) -> Result<(Option<u64>, Option<u64>), Problem> {
    let (since, until) = (instant(params, "since")?, instant(params, "until")?);
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            return Err(Problem::invalid("since", "must be before until"));
        }
    }
    Ok((since, until))
}

fn clients(params: &Params, now: u64) -> Result<ClientsQuery, Problem> {
    let presence = match params.get("state") {
        Some(text) => Presence::parse(text)
            .ok_or_else(|| Problem::invalid("state", "must be connected or disconnected"))?,
        None => {
            return Err(Problem::invalid(
                "state",
                "is required: connected or disconnected",
            ))
        }
    };
    let prefix = match params.get("prefix") {
        None => None,
        Some(p) => match client_id_problem(p) {
            Some(problem) => {
                return Err(Problem::invalid("prefix", format!("the prefix {problem}")))
            }
            None => Some(p.to_owned()),
        },
    };
    let within = match params.get("droppedWithin") {
        None => None,
        Some(_) if presence != Presence::Disconnected => {
            return Err(Problem::invalid(
                "droppedWithin",
                "only with state=disconnected (who dropped within a while)",
            ))
        }
        Some(text) => Some(
            parse_duration(text)
                .map(millis)
                .map_err(|e| Problem::invalid("droppedWithin", e.to_string()))?,
        ),
    };
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Problem::invalid(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let mut query = ClientsQuery {
        presence,
        from: within.map(|w| now.saturating_sub(w)),
        prefix,
        within,
        limit,
        after: None,
    };
    if let Some(text) = params.get("cursor") {
        let cursor = Cursor::decode(text).map_err(|why| Problem::invalid("cursor", why))?;
        if cursor.presence() != Some(query.presence)
            || cursor.prefix != query.prefix
            || cursor.within != query.within
        {
            return Err(Problem::invalid(
                "cursor",
                "belongs to another listing: give the state, prefix and droppedWithin it was \
                 made with",
            ));
        }
        // The range of the first page, so that every page reads the same clients.
        query.from = cursor.from;
        query.after = Some(cursor.position());
    }
    Ok(query)
}

/// The cursor of the page after one that ended at `last`.
pub fn next_cursor(query: &ClientsQuery, last: &Position) -> String {
    Cursor {
        state: query.presence.as_str().to_owned(),
        prefix: query.prefix.clone(),
        within: query.within,
        from: query.from,
        at: last.at,
        id: last.client_id.clone(),
    }
    .encode()
}
