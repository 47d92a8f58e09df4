//! Availability reports from the event log: uptime, outages, MTTR, the most frequent disconnect
//! reason, for one client or the fleet, over a time window.
//!
//! # Which events shape the timeline
//!
//! The stored `outcome` of a row says what the event did *when it arrived*, which depends on the
//! delivery order: delivered newest first, a client's older events are all `stale`. A report must
//! not depend on delivery order, so [`timeline`] replays the client's log in timestamp order
//! through the ordering rule ([`crate::rule::decide`]) and keeps the events that apply in that
//! replay: the same rule that decides the status, over the same events, in the order closest to
//! the truth. Stale and duplicate events of that replay are ignored; so are `connect_failed`
//! (never a state change), `invalid` rows (rejected on arrival) and `reconciled` rows (a broker
//! repair is a correction of the status, not a state change at a known time).
//!
//! # The maths
//!
//! Over `[since, until)` the client is connected, disconnected, or *unknown*: before the first
//! event the log holds (the log may start inside the window, e.g. for a client first seen then,
//! or past the event retention), nothing is known, and unknown time is never counted as online or
//! offline. `uptime = online / (online + offline)`, over the known time only.
//!
//! An outage is a maximal disconnected stretch: it starts at a disconnect (or at `since`, when the
//! client was already disconnected then) and ends at the next connect; a disconnect while already
//! disconnected (a connection whose connect was lost) continues it. Outages are clipped to the
//! window. MTTR is the mean length of the outages that ended inside the window (an outage still
//! going on at `until` has no repair time yet). The top reason is the most frequent disconnect
//! reason of the window's outages (ties: alphabetical).

use std::collections::BTreeMap;

use serde::Serialize;

use tokio::task::JoinSet;

use crate::event::Presence;
use crate::read::ReadError;
use crate::rule::{decide, Decision, Observed, Outcome, Window};
use crate::store::capacity::carried;
use crate::store::item::EventRow;
use crate::store::Store;

/// One state change of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub at: u64,
    pub presence: Presence,
    /// The disconnect reason, for a disconnect.
    pub reason: Option<String>,
}

/// The state changes of one client's log, in time order (see the module docs).
pub fn timeline(log: &[EventRow], window: Window) -> Vec<Change> {
    let mut events: Vec<(Observed<'_>, &EventRow)> = log
        .iter()
        .filter(|e| {
            matches!(
                e.outcome,
                Outcome::Applied | Outcome::Stale | Outcome::Duplicate
            )
        })
        .filter_map(|e| {
            let presence = Presence::parse(&e.event_type)?;
            let observed = Observed {
                session: &e.session_identifier,
                presence,
                version: e.version_number?,
                timestamp: e.event_timestamp,
            };
            Some((observed, e))
        })
        .collect();
    // Timestamp order; within a millisecond, a connection's connect before its disconnect.
    events.sort_by_key(|(o, _)| (o.timestamp, o.version, o.presence == Presence::Disconnected));
    let mut status: Option<Observed<'_>> = None;
    let mut changes = Vec::new();
    for (observed, entry) in events {
        if decide(status.as_ref(), &observed, window).decision == Decision::Apply {
            status = Some(observed);
            changes.push(Change {
                at: observed.timestamp,
                presence: observed.presence,
                reason: entry.disconnect_reason.clone(),
            });
        }
    }
    changes
}

/// One client's availability over `[since, until)`. Durations in ms.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub client_id: String,
    pub since: u64,
    pub until: u64,
    pub online_ms: u64,
    pub offline_ms: u64,
    /// Time before the first event the log holds: neither online nor offline.
    pub unknown_ms: u64,
    /// `online / (online + offline)` in percent; `None` when nothing of the window is known.
    pub uptime_percent: Option<f64>,
    pub outages: u32,
    pub longest_outage_ms: u64,
    /// Mean length of the outages that ended inside the window.
    pub mttr_ms: Option<u64>,
    /// The outages that ended inside the window, and their total length (what MTTR is of).
    pub repaired_outages: u32,
    pub repaired_outage_ms: u64,
    /// Disconnected at `until`.
    pub offline_at_end: bool,
    pub top_reason: Option<String>,
}

/// Computes the report of one client's timeline (see the module docs). `since < until`.
pub fn report(client_id: &str, changes: &[Change], since: u64, until: u64) -> Report {
    debug_assert!(since < until);
    // The state at `since`: the last change at or before it, if any.
    let before = changes.iter().rposition(|c| c.at <= since);
    let mut state = before.map(|i| changes[i].presence);
    let rest = before.map_or(changes, |i| &changes[i + 1..]);

    let (mut online, mut offline) = (0u64, 0u64);
    // The outage in progress: when it started and the reason of the disconnect that began it.
    let mut outage: Option<(u64, Option<String>)> = (state == Some(Presence::Disconnected))
        .then(|| (since, before.and_then(|i| changes[i].reason.clone())));
    let mut reasons: Vec<Option<String>> = Vec::new();
    let (mut longest, mut repaired, mut repaired_total) = (0u64, 0u64, 0u64);
    let mut cursor = since;
    for change in rest.iter().take_while(|c| c.at < until) {
        match state {
            Some(Presence::Connected) => online += change.at - cursor,
            Some(Presence::Disconnected) => offline += change.at - cursor,
            None => {}
        }
        cursor = change.at;
        match (outage.take(), change.presence) {
            (Some((start, reason)), Presence::Connected) => {
                // A disconnect and a connect in the same millisecond (a knock-off whose two
                // events carry one timestamp) is no outage.
                let length = change.at - start;
                if length > 0 {
                    longest = longest.max(length);
                    repaired += 1;
                    repaired_total += length;
                    reasons.push(reason);
                }
            }
            // A disconnect while disconnected (its connect was lost) continues the outage.
            (Some(ongoing), Presence::Disconnected) => outage = Some(ongoing),
            (None, Presence::Disconnected) => outage = Some((change.at, change.reason.clone())),
            (None, Presence::Connected) => {}
        }
        state = Some(change.presence);
    }
    match state {
        Some(Presence::Connected) => online += until - cursor,
        Some(Presence::Disconnected) => offline += until - cursor,
        None => {}
    }
    if let Some((start, reason)) = &outage {
        longest = longest.max(until - start);
        reasons.push(reason.clone());
    }
    let known = online + offline;
    let mut tally: BTreeMap<String, u32> = BTreeMap::new();
    for r in reasons.into_iter().flatten() {
        *tally.entry(r).or_default() += 1;
    }
    let top_reason = tally
        .iter()
        .max_by_key(|(r, n)| (**n, std::cmp::Reverse(*r)))
        .map(|(r, _)| r.clone());
    Report {
        client_id: client_id.to_owned(),
        since,
        until,
        online_ms: online,
        offline_ms: offline,
        unknown_ms: (until - since) - known,
        uptime_percent: (known > 0).then(|| online as f64 * 100.0 / known as f64),
        outages: (repaired + u64::from(outage.is_some())) as u32,
        longest_outage_ms: longest,
        mttr_ms: (repaired > 0).then(|| repaired_total / repaired),
        repaired_outages: repaired as u32,
        repaired_outage_ms: repaired_total,
        offline_at_end: state == Some(Presence::Disconnected),
        top_reason,
    }
}

/// The fleet's totals over the same window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetTotals {
    pub clients: usize,
    /// Clients with no known time in the window.
    pub clients_unknown: usize,
    pub online_ms: u64,
    pub offline_ms: u64,
    pub unknown_ms: u64,
    /// Time-weighted: all clients' online time over all clients' known time.
    pub uptime_percent: Option<f64>,
    pub outages: u64,
    pub longest_outage_ms: u64,
    /// Mean length of every repaired outage in the fleet.
    pub mttr_ms: Option<u64>,
    pub offline_at_end: usize,
    pub top_reason: Option<String>,
}

/// Sorts the reports worst first (lowest uptime; unknown last; then most downtime, then id)
/// and totals them.
pub fn fleet(reports: &mut [Report]) -> FleetTotals {
    reports.sort_by(|a, b| {
        let key = |r: &Report| r.uptime_percent.unwrap_or(f64::INFINITY);
        key(a)
            .total_cmp(&key(b))
            .then(b.offline_ms.cmp(&a.offline_ms))
            .then(a.client_id.cmp(&b.client_id))
    });
    let sum = |f: fn(&Report) -> u64| reports.iter().map(f).sum::<u64>();
    let (online, offline) = (sum(|r| r.online_ms), sum(|r| r.offline_ms));
    let repair_total = sum(|r| r.repaired_outage_ms);
    let repaired_count = sum(|r| u64::from(r.repaired_outages));
    let mut tally: BTreeMap<&str, u32> = BTreeMap::new();
    for r in reports.iter().filter_map(|r| r.top_reason.as_deref()) {
        *tally.entry(r).or_default() += 1;
    }
    FleetTotals {
        clients: reports.len(),
        clients_unknown: reports
            .iter()
            .filter(|r| r.uptime_percent.is_none())
            .count(),
        online_ms: online,
        offline_ms: offline,
        unknown_ms: sum(|r| r.unknown_ms),
        uptime_percent: (online + offline > 0)
            .then(|| online as f64 * 100.0 / (online + offline) as f64),
        outages: sum(|r| u64::from(r.outages)),
        longest_outage_ms: reports
            .iter()
            .map(|r| r.longest_outage_ms)
            .max()
            .unwrap_or(0),
        mttr_ms: (repaired_count > 0).then(|| repair_total / repaired_count),
        offline_at_end: reports.iter().filter(|r| r.offline_at_end).count(),
        top_reason: tally
            .iter()
            .max_by_key(|(r, n)| (**n, std::cmp::Reverse(**r)))
            .map(|(r, _)| (*r).to_owned()),
    }
}

/// Clients reported at once by [`reports`]: each is one paged query of its log.
pub const PARALLEL: usize = 8;

/// Every client with a status, sorted: the clients `availability --all` reports on (two
/// listings of the status index).
pub async fn fleet_client_ids(store: &Store) -> Result<Vec<String>, ReadError> {
    let mut ids = Vec::new();
    for presence in [Presence::Connected, Presence::Disconnected] {
        ids.extend(
            store
                .list(presence, None, None, None)
                .await?
                .into_iter()
                .map(|s| s.client_id),
        );
    }
    ids.sort();
    Ok(ids)
}

/// One report per client over `[since, until)`, [`PARALLEL`] at a time, sorted by client;
/// `on_done` is called after each (a progress bar).
pub async fn reports(
    store: &Store,
    ids: Vec<String>,
    since: u64,
    until: u64,
    mut on_done: impl FnMut(),
) -> Result<Vec<Report>, ReadError> {
    let mut pending = ids.into_iter();
    let mut tasks = JoinSet::new();
    let mut reports = Vec::new();
    loop {
        while tasks.len() < PARALLEL {
            let Some(id) = pending.next() else { break };
            let store = store.clone();
            tasks.spawn(carried(async move {
                // The whole log up to `until`: the state at `since` is the last change before it.
                let log = store.history(&id, None, Some(until)).await?;
                let changes = timeline(&log, Window::DEFAULT);
                Ok::<_, ReadError>(report(&id, &changes, since, until))
            }));
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        reports.push(done.expect("availability task panicked")?);
        on_done();
    }
    reports.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    Ok(reports)
}
