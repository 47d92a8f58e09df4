//! Storms and the incident view: the pure rule that tells a mass disconnect from single drops,
//! and the view of who dropped recently (`presence incident`).
//!
//! # What a storm is
//!
//! A broker deployment, a regional network blip or an expired certificate takes a large part of
//! the fleet offline together. That is one event for an operator, not thousands. A *storm* is a
//! burst of drops: at least [`StormSettings::min_clients`] clients, and at least
//! [`StormSettings::min_share`] of the fleet, whose disconnects (by event timestamp) fall inside
//! one [`StormSettings::window_ms`]. Both bounds must hold: the count keeps a small fleet's
//! three drops from being a storm, the share keeps a huge fleet's normal churn from being one.
//!
//! The view is built from the clients that are disconnected *now* (the status index), so every
//! drop it counts is still offline; a client that dropped and came back is not in it.

use serde::Serialize;

use crate::config::StormSettings;
use crate::event::client_prefix;
pub use crate::read::DropRow;
use crate::read::{FleetCounts, ReadError};
pub use crate::store::storms::{Breakdown, StormRecord, TOP};
use crate::store::Store;

/// The drop windows of the incident view: the last 5, 15 and 60 minutes.
pub const DROP_WINDOWS_MS: [u64; 3] = [5 * 60_000, 15 * 60_000, 60 * 60_000];
/// How many client ids a storm report names.
pub const SAMPLE: usize = 10;

/// A burst of drops that makes a storm.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Storm {
    /// Clients that dropped in the burst (all still offline).
    pub clients: u64,
    /// `clients` over the fleet's size.
    pub share: f64,
    pub first_drop_at: u64,
    pub last_drop_at: u64,
    pub reasons: Breakdown,
    pub prefixes: Breakdown,
    /// Up to [`SAMPLE`] client ids of the burst, the earliest drops first.
    pub sample: Vec<String>,
}

/// The densest burst in `drops`: the most drops inside one window of `window_ms`, and the
/// earliest such window when several tie. `drops` must be sorted by `at`. Returns the index
/// range of the burst.
pub fn densest(drops: &[DropRow], window_ms: u64) -> Option<std::ops::Range<usize>> {
    let mut best: Option<std::ops::Range<usize>> = None;
    let mut start = 0;
    for end in 0..drops.len() {
        // Drops `start..=end` span at most the window: [at, at + window_ms).
        while drops[end].at - drops[start].at >= window_ms {
            start += 1;
        }
        if best.as_ref().is_none_or(|b| end + 1 - start > b.len()) {
            best = Some(start..end + 1);
        }
    }
    best
}

/// The storm among `drops` (sorted by `at`), if their densest burst makes one for a fleet of
/// `fleet_size` clients.
pub fn detect(drops: &[DropRow], fleet_size: u64, settings: &StormSettings) -> Option<Storm> {
    let burst = &drops[densest(drops, settings.window_ms)?];
    let clients = burst.len() as u64;
    if fleet_size == 0 || !settings.is_storm(clients, fleet_size) {
        return None;
    }
    Some(Storm {
        clients,
        share: clients as f64 / fleet_size as f64,
        first_drop_at: burst[0].at,
        last_drop_at: burst[burst.len() - 1].at,
        reasons: Breakdown::of(burst.iter().map(|d| d.reason.as_str())),
        prefixes: Breakdown::of(burst.iter().map(|d| client_prefix(&d.client_id))),
        sample: burst
            .iter()
            .take(SAMPLE)
            .map(|d| d.client_id.clone())
            .collect(),
    })
}

/// Drops in one of [`DROP_WINDOWS_MS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dropped {
    pub within_ms: u64,
    pub clients: u64,
}

/// The incident view at one time: who dropped recently and is still offline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    pub now: u64,
    pub fleet: FleetCounts,
    /// Drops in the last 5, 15 and 60 minutes.
    pub dropped: Vec<Dropped>,
    /// The last hour's drops by disconnect reason and by client-id prefix.
    pub reasons: Breakdown,
    pub prefixes: Breakdown,
    /// The densest burst of the last hour, if it makes a storm by the view's bounds.
    pub storm: Option<Storm>,
    /// The storms the alerter declared (open, or ended within a day), newest first: those its
    /// storm and recovery notices are about.
    pub declared: Vec<StormRecord>,
    /// The newest drops, newest first (at most [`SAMPLE`]).
    pub newest: Vec<String>,
}

/// Builds the incident view from the clients disconnected now (`drops`, any order; those that
/// dropped before the longest window are left out), the fleet's counts and the storm settings.
pub fn incident(
    mut drops: Vec<DropRow>,
    fleet: FleetCounts,
    settings: &StormSettings,
    now: u64,
) -> Incident {
    let longest = DROP_WINDOWS_MS[DROP_WINDOWS_MS.len() - 1];
    let from = now.saturating_sub(longest);
    drops.retain(|d| d.at >= from);
    drops.sort_by(|a, b| (a.at, &a.client_id).cmp(&(b.at, &b.client_id)));
    let dropped = DROP_WINDOWS_MS
        .iter()
        .map(|&w| Dropped {
            within_ms: w,
            clients: drops
                .iter()
                .filter(|d| d.at >= now.saturating_sub(w))
                .count() as u64,
        })
        .collect();
    Incident {
        now,
        fleet,
        dropped,
        reasons: Breakdown::of(drops.iter().map(|d| d.reason.as_str())),
        prefixes: Breakdown::of(drops.iter().map(|d| client_prefix(&d.client_id))),
        storm: detect(&drops, fleet.connected + fleet.disconnected, settings),
        declared: Vec::new(),
        newest: drops
            .iter()
            .rev()
            .take(SAMPLE)
            .map(|d| d.client_id.clone())
            .collect(),
    }
}

/// The incident view now: the last hour's drops from the status index (one query per
/// disconnected shard, newest first, from an hour ago) and the fleet gauges' counts, in
/// parallel. It reads what dropped in the last hour, so its cost follows the incident, not the
/// fleet, but for the counts.
pub async fn incident_at(
    store: &Store,
    settings: &StormSettings,
    now: u64,
) -> Result<Incident, ReadError> {
    let longest = DROP_WINDOWS_MS[DROP_WINDOWS_MS.len() - 1];
    let (drops, fleet, registry) = tokio::try_join!(
        store.drops(
            now.saturating_sub(longest),
            None,
            Some(watch::MAX_WATCHED_DROPS)
        ),
        store.fleet_counts(),
        async { Ok(store.storm_registry().await?) },
    )?;
    let mut view = incident(drops, fleet, settings, now);
    view.declared = registry.storms;
    view.declared
        .sort_by_key(|s| std::cmp::Reverse(s.first_drop_at));
    Ok(view)
}

pub mod watch;

#[cfg(test)]
mod tests;
