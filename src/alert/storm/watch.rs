//! The storm watch, pure: how an alert pass declares, grows and ends storms, and what a storm
//! does to one client's notices. The pass (`crate::alert::storm_pass`) does the reads and the
//! writes around it.
//!
//! # A storm's life
//!
//! 1. **Declared.** Every pass reads the drops of the last [`lookback_ms`] that are still
//!    offline. Drops no storm covers are *candidates*: the densest burst of the whole fleet,
//!    and of each client-id prefix (device class). A burst that makes a storm
//!    ([`StormSettings::is_storm`]) for the fleet (or for its prefix, counted) is declared,
//!    and gets one `storm` notice. A fleet storm declared in a pass makes that pass's prefix
//!    candidates moot.
//! 2. **Growing.** While drops in its scope go on, each no further than the storm window from
//!    the storm's last drop, they join it ([`extend`]).
//! 3. **Ended.** Once a storm window has passed without a new drop, each pass counts its
//!    clients still offline; the storm ends when [`RECOVERED_SHARE`] of them are back, or
//!    [`STORM_MAX_MS`] after its last drop, whichever comes first. It gets one `recovery`
//!    notice: how many recovered, how many are still offline, how long it lasted.
//! 4. **Forgotten** [`KEEP_ENDED_MS`] after it ended.
//!
//! # What a storm does to a client ([`hold`])
//!
//! A client whose disconnect falls in a storm's span and scope is *in* the storm.
//! - Its `offline` notice is **held** while the storm is open: not sent, recorded on the
//!   client's pending outage (`heldBy`, the storm's id), and looked at again later (the
//!   threshold, or the storm's age up to [`HOLD_RECHECK_MAX_MS`], whichever is longer: a long
//!   storm costs a few looks per client, not one a threshold).
//! - Once the storm has ended, the client gets its single `offline` notice if it is still
//!   offline a threshold past the end.
//! - A return before that (while the storm is open, or within a threshold of its end) sends
//!   nothing: its `back-online` is folded into the recovery notice.

use crate::alert::rule::{Next, Notice, Plan, RETURN_NEWS_MS};
use crate::config::StormSettings;
use crate::event::client_prefix;
use crate::read::DropRow;
use crate::store::storms::{Breakdown, StormRecord};

use super::{densest, SAMPLE};

/// The share of a storm's clients that must be back for it to end.
pub const RECOVERED_SHARE: f64 = 0.9;
/// A storm ends at the latest this long after its last drop, recovered or not (its clients
/// still offline then get their single notices a threshold later).
pub const STORM_MAX_MS: u64 = 6 * 3_600_000;
/// The longest a held client waits between looks while its storm is open.
pub const HOLD_RECHECK_MAX_MS: u64 = 30 * 60_000;
/// How long an ended storm is kept (its held clients' returns are folded up to a threshold
/// after its end; a day is the longest outage news lives, see [`RETURN_NEWS_MS`]).
pub const KEEP_ENDED_MS: u64 = RETURN_NEWS_MS;
/// At most this many storms are kept; the oldest ended ones go first.
pub const MAX_STORMS: usize = 32;
/// The least lookback of the drops read: ten minutes, so that a pass or two missed (a slow
/// pass, a throttled invocation) still sees a burst whole.
pub const MIN_LOOKBACK_MS: u64 = 10 * 60_000;

/// The most drops a pass (or the incident view) reads: each shard's earliest share of it.
/// About 25 MB, so the alerter stays inside 128 MB whatever the drop; a burst this large is a
/// storm for any fleet up to 25 million clients at the default 1%. A storm larger than this
/// counts the drops it read (its recovery counts by COUNT queries, which read them all).
pub const MAX_WATCHED_DROPS: usize = 250_000;

/// How far back each pass reads drops: two storm windows, at least [`MIN_LOOKBACK_MS`].
pub fn lookback_ms(settings: &StormSettings) -> u64 {
    settings.window_ms.saturating_mul(2).max(MIN_LOOKBACK_MS)
}

/// The scope of a storm as its id names it: the prefix, or `*` for the fleet.
pub fn scope_name(prefix: Option<&str>) -> &str {
    prefix.unwrap_or("*")
}

/// Whether the client is in the storm's scope.
pub fn in_scope(storm: &StormRecord, client_id: &str) -> bool {
    storm
        .prefix
        .as_deref()
        .is_none_or(|p| client_prefix(client_id) == p)
}

/// Whether a disconnect of the client at `at` is in the storm.
pub fn covers(storm: &StormRecord, client_id: &str, at: u64) -> bool {
    storm.first_drop_at <= at && at <= storm.last_drop_at && in_scope(storm, client_id)
}

/// Grows each open storm with the drops (sorted by `at`) that follow its last drop within
/// `window_ms`, in its scope. Returns whether any storm grew.
pub fn extend(storms: &mut [StormRecord], drops: &[DropRow], window_ms: u64) -> bool {
    let mut grew = false;
    for storm in storms.iter_mut().filter(|s| s.ended_at.is_none()) {
        let start = drops.partition_point(|d| d.at <= storm.last_drop_at);
        for drop in &drops[start..] {
            if drop.at - storm.last_drop_at >= window_ms {
                break;
            }
            if in_scope(storm, &drop.client_id) {
                storm.last_drop_at = drop.at;
                storm.clients += 1;
                grew = true;
            }
        }
    }
    grew
}

/// A burst that may make a storm: its scope and its drops (sorted by `at`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub prefix: Option<String>,
    pub burst: Vec<DropRow>,
}

/// The bursts of at least `min_clients` among the drops (sorted by `at`) that no storm
/// covers: the fleet's densest, and each prefix's.
pub fn candidates(
    storms: &[StormRecord],
    drops: &[DropRow],
    settings: &StormSettings,
) -> Vec<Candidate> {
    let free: Vec<&DropRow> = drops
        .iter()
        .filter(|d| !storms.iter().any(|s| covers(s, &d.client_id, d.at)))
        .collect();
    let min = settings.min_clients as usize;
    let mut out = Vec::new();
    let mut burst_of = |prefix: Option<&str>, rows: Vec<DropRow>| {
        if let Some(range) = densest(&rows, settings.window_ms).filter(|r| r.len() >= min) {
            out.push(Candidate {
                prefix: prefix.map(str::to_owned),
                burst: rows[range].to_vec(),
            });
        }
    };
    if free.len() < min {
        return out;
    }
    burst_of(None, free.iter().map(|d| (*d).clone()).collect());
    let mut by_prefix: std::collections::BTreeMap<&str, Vec<DropRow>> = Default::default();
    for d in &free {
        by_prefix
            .entry(client_prefix(&d.client_id))
            .or_default()
            .push((*d).clone());
    }
    for (prefix, rows) in by_prefix {
        if rows.len() >= min {
            burst_of(Some(prefix), rows);
        }
    }
    out
}

/// The storm a candidate makes in a scope of `scope_size` clients, if it makes one.
pub fn declare(
    candidate: &Candidate,
    scope_size: u64,
    settings: &StormSettings,
    now: u64,
) -> Option<StormRecord> {
    let burst = &candidate.burst;
    let clients = burst.len() as u64;
    // The size DynamoDB reports lags a growing fleet: never smaller than what dropped.
    let scope_size = scope_size.max(clients);
    if burst.is_empty() || !settings.is_storm(clients, scope_size) {
        return None;
    }
    let first = burst[0].at;
    Some(StormRecord {
        id: format!("storm/{}/{first}", scope_name(candidate.prefix.as_deref())),
        prefix: candidate.prefix.clone(),
        first_drop_at: first,
        last_drop_at: burst[burst.len() - 1].at,
        clients,
        scope_size,
        reasons: Breakdown::of(burst.iter().map(|d| d.reason.as_str())),
        prefixes: Breakdown::of(burst.iter().map(|d| client_prefix(&d.client_id))),
        sample: burst
            .iter()
            .take(SAMPLE)
            .map(|d| d.client_id.clone())
            .collect(),
        detected_at: now,
        notified_at: None,
        ended_at: None,
        still_offline: None,
        recovery_notified_at: None,
    })
}

/// Whether an open storm may be over at `now`: a storm window has passed since its last drop.
pub fn quiet(storm: &StormRecord, settings: &StormSettings, now: u64) -> bool {
    storm.ended_at.is_none() && now >= storm.last_drop_at.saturating_add(settings.window_ms)
}

/// Whether a quiet storm with `still_offline` of its clients offline ends at `now`.
pub fn ends(storm: &StormRecord, still_offline: u64, now: u64) -> bool {
    let back = storm.clients.saturating_sub(still_offline);
    back as f64 >= RECOVERED_SHARE * storm.clients as f64
        || now >= storm.last_drop_at.saturating_add(STORM_MAX_MS)
}

/// Drops the storms ended over [`KEEP_ENDED_MS`] ago, then the oldest ended ones beyond
/// [`MAX_STORMS`]. Returns whether any went.
pub fn forget(storms: &mut Vec<StormRecord>, now: u64) -> bool {
    let before = storms.len();
    storms.retain(|s| {
        s.ended_at
            .is_none_or(|at| at.saturating_add(KEEP_ENDED_MS) >= now)
    });
    while storms.len() > MAX_STORMS {
        let oldest = storms
            .iter()
            .enumerate()
            .filter(|(_, s)| s.ended_at.is_some())
            .min_by_key(|(_, s)| s.ended_at)
            .map(|(i, _)| i);
        match oldest {
            Some(i) => {
                storms.remove(i);
            }
            None => break,
        }
    }
    storms.len() != before
}

/// What [`hold`] did to one client's plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Held {
    /// The storm that holds the client's `offline` notice (the client is still offline).
    pub held_by: Option<String>,
    /// The storm an outage of the client ended in: its notices were folded into that storm.
    pub folded_into: Option<String>,
}

/// The storm (open ones first) a disconnect of the client at `at` is in.
fn storm_of<'a>(storms: &'a [StormRecord], client_id: &str, at: u64) -> Option<&'a StormRecord> {
    // `false < true`: the first open storm, else the first ended one.
    storms
        .iter()
        .filter(|s| covers(s, client_id, at))
        .min_by_key(|s| s.ended_at.is_some())
}

/// Applies the storms to one client's plan at `now` (see the module docs): removes the
/// notices a storm holds or folds, records the hold on the pending outage, and sets the next
/// look.
pub fn hold(plan: &mut Plan, client_id: &str, storms: &[StormRecord], now: u64) -> Held {
    let mut held = Held::default();
    if storms.is_empty() {
        return held;
    }
    let mut keep = Vec::with_capacity(plan.notices.len());
    let mut fold_back_online = None;
    for notice in plan.notices.drain(..) {
        match &notice {
            Notice::Offline {
                disconnected_at,
                threshold_ms,
                offline_for_ms,
                returned,
                session_identifier,
                version_number,
                ..
            } => {
                let Some(storm) = storm_of(storms, client_id, *disconnected_at) else {
                    keep.push(notice);
                    continue;
                };
                let single_from = storm.ended_at.map(|end| end.saturating_add(*threshold_ms));
                if *returned {
                    let back_at = disconnected_at.saturating_add(*offline_for_ms);
                    if single_from.is_none_or(|from| back_at < from) {
                        held.folded_into = Some(storm.id.clone());
                        fold_back_online = Some((session_identifier.clone(), *version_number));
                        continue;
                    }
                } else {
                    let until = match single_from {
                        Some(from) if now >= from => {
                            keep.push(notice);
                            continue;
                        }
                        Some(from) => from,
                        None => {
                            let age = now.saturating_sub(storm.first_drop_at);
                            now + (*threshold_ms).max(age.min(HOLD_RECHECK_MAX_MS))
                        }
                    };
                    if let Some(outage) = plan.outage.as_mut() {
                        outage.alerted_at = None;
                        outage.held_by = Some(storm.id.clone());
                    }
                    held.held_by = Some(storm.id.clone());
                    plan.next = match plan.next {
                        Next::At(at) => Next::At(at.min(until)),
                        Next::OnChange | Next::Never => Next::At(until),
                    };
                    continue;
                }
                keep.push(notice);
            }
            _ => keep.push(notice),
        }
    }
    if let Some((session, version)) = fold_back_online {
        keep.retain(|n| {
            !matches!(n, Notice::BackOnline { session_identifier, version_number, .. }
                if *session_identifier == session && *version_number == version)
        });
    }
    plan.notices = keep;
    held
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
