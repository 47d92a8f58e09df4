//! The measured paths: each one run once against real tables, its consumed capacity read back
//! from DynamoDB's answers ([`crate::store::capacity`]).
//!
//! Every path works on its own fresh clients (`{prefix}-…`), so the tables may hold other data
//! (the replay runs this on its own tables after its events). Listings and the summary read the
//! whole table, so their units follow what the table holds: the probe reports how many items
//! they returned next to their units.
//!
//! The clock is simulated from `start` (ms), as the alert tests do: events carry timestamps
//! from it and the handler and the passes are given times from it.

use serde_json::json;

use super::{Measured, PathKind};
use crate::alert::pass::Alerter;
use crate::event::Presence;
use crate::functions::ingest::{handle, HandlerError};
use crate::read::ReadError;
use crate::reconcile::repair::RepairError;
use crate::reconcile::rule::{plan, BrokerAnswer, Finding};
use crate::store::capacity::measure;
use crate::store::Store;

/// What can stop a probe: a path that failed, or one that did not take the path it measures.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("probe {path}: the handler failed")]
    Handler {
        path: &'static str,
        #[source]
        source: Box<HandlerError>,
    },
    #[error("probe {path}: a read failed")]
    Read {
        path: &'static str,
        #[source]
        source: Box<ReadError>,
    },
    #[error("probe {path}: the repair failed")]
    Repair {
        path: &'static str,
        #[source]
        source: Box<RepairError>,
    },
    #[error("probe {path}: {what}")]
    Unexpected { path: &'static str, what: String },
}

/// The error of the handler failing on `path` (a `map_err` argument).
fn handler_failed(path: &'static str) -> impl FnOnce(HandlerError) -> ProbeError {
    move |e| ProbeError::Handler {
        path,
        source: Box::new(e),
    }
}

const MIN: u64 = 60_000;

/// The clients the alert paths use: enough that per-client figures are averages over more than
/// one, few enough to run in a second.
pub const ALERT_CLIENTS: u64 = 20;

fn event(kind: &str, client: &str, session: &str, version: u64, at: u64) -> String {
    let mut e = json!({
        "clientId": client,
        "timestamp": at,
        "eventType": kind,
        "sessionIdentifier": session,
        "principalIdentifier": "226c64225fce225672257c31e2cb6d3ad21ca514af690bc5cb44f5f58c2222",
        "topicEventType": kind,
        "presenceTopic": crate::event::presence_topic(kind, client),
    });
    match kind {
        "connected" => {
            e["versionNumber"] = version.into();
            e["ipAddress"] = "192.0.2.10".into();
        }
        "disconnected" => {
            e["versionNumber"] = version.into();
            e["clientInitiatedDisconnect"] = false.into();
            e["disconnectReason"] = "CONNECTION_LOST".into();
        }
        _ => {
            e["connectFailureReason"] = "AUTHORIZATION_FAILED".into();
            e["ipAddress"] = "192.0.2.10".into();
        }
    }
    e.to_string()
}

/// Runs every path once. `alerter` must be built on `store` (or one on the same tables).
pub async fn run(
    store: &Store,
    alerter: &Alerter,
    prefix: &str,
    start: u64,
) -> Result<Vec<Measured>, ProbeError> {
    let mut out = Vec::new();
    events(store, prefix, start, &mut out).await?;
    reconciled(store, prefix, start, &mut out).await?;
    alerts(store, alerter, prefix, start, &mut out).await?;
    reads(store, prefix, start, &mut out).await?;
    Ok(out)
}

/// One event through the handler; checks its outcome.
async fn one(
    store: &Store,
    kind: PathKind,
    payload: &str,
    now: u64,
    want: (&str, bool),
) -> Result<Measured, ProbeError> {
    let response = handle(store, payload, now)
        .await
        .map_err(handler_failed(kind.name()))?;
    let got = (response.outcome.as_str(), response.redelivered);
    if got != want {
        return Err(ProbeError::Unexpected {
            path: kind.name(),
            what: format!("outcome {got:?}, expected {want:?}"),
        });
    }
    Ok(Measured::new(kind, 1, response.consumed_capacity))
}

async fn events(
    store: &Store,
    prefix: &str,
    t: u64,
    out: &mut Vec<Measured>,
) -> Result<(), ProbeError> {
    let c = format!("{prefix}-events");
    let applied = ("applied", false);
    out.push(
        one(
            store,
            PathKind::FirstConnect,
            &event("connected", &c, "s1", 1, t),
            t,
            applied,
        )
        .await?,
    );
    let lost = event("disconnected", &c, "s1", 2, t + MIN);
    out.push(one(store, PathKind::Disconnect, &lost, t + MIN, applied).await?);
    let back = event("connected", &c, "s2", 3, t + 2 * MIN);
    out.push(one(store, PathKind::Reconnect, &back, t + 2 * MIN, applied).await?);
    // The first session's connect, again with another timestamp: the status is past it.
    let late = event("connected", &c, "s1", 1, t + 5);
    out.push(one(store, PathKind::Stale, &late, t + 3 * MIN, ("stale", false)).await?);
    // The second session's connect with another timestamp: same session, same type.
    let again = event("connected", &c, "s2", 3, t + 2 * MIN + 7);
    out.push(
        one(
            store,
            PathKind::Duplicate,
            &again,
            t + 3 * MIN,
            ("duplicate", false),
        )
        .await?,
    );
    out.push(
        one(
            store,
            PathKind::Redelivered,
            &back,
            t + 3 * MIN,
            ("applied", true),
        )
        .await?,
    );
    let failed = event("connect_failed", &c, "f1", 0, t + 3 * MIN);
    out.push(
        one(
            store,
            PathKind::ConnectFailed,
            &failed,
            t + 3 * MIN,
            ("recorded", false),
        )
        .await?,
    );
    // A disconnect whose invocations all failed, back from the on-failure queue in Lambda's
    // record format, through the parser `presence redrive` uses.
    let dropped = event("disconnected", &c, "s2", 4, t + 4 * MIN);
    let record = json!({
        "version": "1.0",
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": serde_json::from_str::<serde_json::Value>(&dropped).expect("JSON"),
    });
    let failed_event =
        crate::redrive::parse_message(&record.to_string()).map_err(|e| ProbeError::Unexpected {
            path: PathKind::Redriven.name(),
            what: e.to_string(),
        })?;
    let redriven = one(
        store,
        PathKind::Redriven,
        &failed_event.payload,
        t + 9 * MIN,
        applied,
    );
    out.push(redriven.await?);
    Ok(())
}

/// A repair: the status says connected, the broker says the client left long ago. What
/// `presence reconcile` does for one client, less the broker's GetConnection (not DynamoDB).
async fn reconciled(
    store: &Store,
    prefix: &str,
    t: u64,
    out: &mut Vec<Measured>,
) -> Result<(), ProbeError> {
    let path = PathKind::Reconciled.name();
    let c = format!("{prefix}-reconciled");
    handle(store, &event("connected", &c, "s1", 1, t), t)
        .await
        .map_err(handler_failed(path))?;
    let observed_at = t + 60 * MIN;
    let (result, units) = measure(async {
        let read = |e: ReadError| ProbeError::Read {
            path,
            source: Box::new(e),
        };
        let status = store.status(&c).await.map_err(read)?;
        let status = status.ok_or_else(|| ProbeError::Unexpected {
            path,
            what: "no status item".into(),
        })?;
        let answer = BrokerAnswer {
            client_id: c.clone(),
            connected: false,
            connected_since: None,
            disconnected_since: Some(t + MIN),
            disconnect_reason: Some("CONNECTION_LOST".into()),
            clean_session: true,
            session_expiry: 0,
            keep_alive_duration: 60,
            thing_name: None,
            observed_at,
        };
        let observed = status.observed().ok().flatten();
        let Finding::Repair(repair) = plan(observed.as_ref(), &answer, store.window) else {
            return Err(ProbeError::Unexpected {
                path,
                what: "the rule planned no repair".into(),
            });
        };
        let written = store
            .write_repair(&c, status.last_event_key.as_deref(), &repair, &answer)
            .await
            .map_err(|e| ProbeError::Repair {
                path,
                source: Box::new(e),
            })?;
        if !written {
            return Err(ProbeError::Unexpected {
                path,
                what: "the repair was refused".into(),
            });
        }
        Ok(())
    })
    .await;
    result?;
    out.push(Measured::new(PathKind::Reconciled, 1, units));
    Ok(())
}

/// Alert passes: one with nothing due; then [`ALERT_CLIENTS`] clients back within the first
/// minute (one pass settles them); as many through a short outage (the pass that schedules
/// them at the first look, and the one that settles them after they are back before the
/// threshold); then as many through a long one (scheduled, offline notices, reconnect,
/// back-online notices).
async fn alerts(
    store: &Store,
    alerter: &Alerter,
    prefix: &str,
    t: u64,
    out: &mut Vec<Measured>,
) -> Result<(), ProbeError> {
    // A day after every other path's times, so that nothing else of the probe is due.
    // The event paths' clients that ended offline are due by then: one pass sends their
    // notices first, so that the measured idle pass has nothing due.
    let t = t + 24 * 60 * MIN;
    let _ = alerter.run(t - MIN).await;
    let (report, units) = measure(alerter.run(t)).await;
    check_pass(PathKind::IdlePass, &report, 0, 0)?;
    out.push(Measured::new(PathKind::IdlePass, 1, units));

    let n = ALERT_CLIENTS;
    let group =
        |name: &str| -> Vec<String> { (0..n).map(|i| format!("{prefix}-{name}-{i:02}")).collect() };
    let (quick, short, long) = (group("quick"), group("short"), group("long"));
    let mut pass = async |kind: PathKind, at: u64, notices: u64| -> Result<(), ProbeError> {
        let (report, units) = measure(alerter.run(at)).await;
        check_pass(kind, &report, n, notices)?;
        out.push(Measured::new(kind, n, units));
        Ok(())
    };
    // Back within the minute before the first look: one look, to settle.
    send_all(store, &quick, "connected", "s1", 1, t).await?;
    send_all(store, &quick, "disconnected", "s1", 2, t + MIN).await?;
    send_all(store, &quick, "connected", "s2", 3, t + MIN + MIN / 2).await?;
    pass(PathKind::QuickSettled, t + 2 * MIN, 0).await?;

    // Back after the first look, before the threshold: scheduled, then settled.
    let t = t + 3 * MIN;
    send_all(store, &short, "connected", "s1", 1, t).await?;
    send_all(store, &short, "disconnected", "s1", 2, t + MIN).await?;
    pass(PathKind::AlertScheduled, t + 3 * MIN, 0).await?;
    send_all(store, &short, "connected", "s2", 3, t + 4 * MIN).await?;
    pass(PathKind::AlertSettled, t + 5 * MIN, 0).await?;

    let t = t + 10 * MIN;
    send_all(store, &long, "connected", "s1", 1, t).await?;
    send_all(store, &long, "disconnected", "s1", 2, t + MIN).await?;
    let (report, _) = measure(alerter.run(t + 3 * MIN)).await;
    check_pass(PathKind::AlertScheduled, &report, n, 0)?;
    pass(PathKind::OfflineNotice, t + 10 * MIN, n).await?;
    send_all(store, &long, "connected", "s2", 3, t + 11 * MIN).await?;
    pass(PathKind::BackOnlineNotice, t + 12 * MIN, n).await?;
    Ok(())
}

/// One event of `kind` for each client, a millisecond apart from `at`.
async fn send_all(
    store: &Store,
    clients: &[String],
    kind: &str,
    session: &str,
    version: u64,
    at: u64,
) -> Result<(), ProbeError> {
    for (i, c) in clients.iter().enumerate() {
        let at = at + i as u64;
        handle(store, &event(kind, c, session, version, at), at)
            .await
            .map_err(handler_failed("alert set-up"))?;
    }
    Ok(())
}

fn check_pass(
    kind: PathKind,
    report: &crate::alert::pass::RunReport,
    due: u64,
    notices: u64,
) -> Result<(), ProbeError> {
    let sent = report.offline + report.back_online + report.flapping;
    if !report.errors.is_empty() || report.due != due || sent != notices {
        return Err(ProbeError::Unexpected {
            path: kind.name(),
            what: format!("expected {due} due and {notices} notices: {report:?}"),
        });
    }
    Ok(())
}

/// The CLI's queries: one status, one history, the listings and the summary.
async fn reads(
    store: &Store,
    prefix: &str,
    t: u64,
    out: &mut Vec<Measured>,
) -> Result<(), ProbeError> {
    let c = format!("{prefix}-events");
    let read = |kind: PathKind| {
        move |e: ReadError| ProbeError::Read {
            path: kind.name(),
            source: Box::new(e),
        }
    };
    let (status, units) = measure(store.status(&c)).await;
    status.map_err(read(PathKind::Status))?;
    out.push(Measured::new(PathKind::Status, 1, units));
    let (rows, units) = measure(store.history(&c, None, None)).await;
    let rows = rows.map_err(read(PathKind::History))?;
    out.push(Measured::new(PathKind::History, rows.len() as u64, units));
    let (listed, units) = measure(store.list(Presence::Connected, None, None, None)).await;
    let listed = listed.map_err(read(PathKind::ListConnected))?;
    out.push(Measured::new(
        PathKind::ListConnected,
        listed.len() as u64,
        units,
    ));
    let before = Some(t + 24 * 60 * MIN);
    let (listed, units) = measure(store.list(Presence::Disconnected, before, None, None)).await;
    let listed = listed.map_err(read(PathKind::ListOffline))?;
    out.push(Measured::new(
        PathKind::ListOffline,
        listed.len() as u64,
        units,
    ));
    let (summary, units) = measure(store.summary(t + 24 * 60 * MIN)).await;
    let summary = summary.map_err(read(PathKind::Summary))?;
    let clients = summary.connected + summary.disconnected;
    out.push(Measured::new(PathKind::Summary, clients, units));
    let (counts, units) = measure(store.fleet_counts()).await;
    let counts = counts.map_err(read(PathKind::FleetGauges))?;
    let clients = counts.connected + counts.disconnected;
    out.push(Measured::new(PathKind::FleetGauges, clients, units));
    Ok(())
}
