//! Offline, back-online and flapping alerts: the pure planning rule and the message format.
//!
//! [`plan`] is the single source of truth of what to notify about one client. It sees the
//! client's status item (what the handler wrote plus the alert state the alerter wrote), the
//! sessions of the last flapping window from the event log, the configured settings and the
//! time, and answers with the notices to send, the new alert state and when to look again.
//! Everything that touches DynamoDB or SNS is in [`super::pass`].
//!
//! # The rules
//!
//! An outage, like everything here, belongs to one *connection* (session and version; see
//! [`crate::rule`]): a persistent session that reconnects and drops again has a new outage.
//!
//! - **Offline.** A disconnection gets one `offline` notice iff it lasted at least the client's
//!   threshold, measured between event timestamps: `disconnectedAt + threshold <= now` while it
//!   is still the current status, or `connectedAt(next connection) - disconnectedAt >= threshold`
//!   once the client is back. The second case covers a return between the threshold and the
//!   alerter's next pass (or an alerter outage): the outcome depends on the events, not on when
//!   the alerter happened to run, and the `offline` notice is then followed by `back-online`. A
//!   return more than [`RETURN_NEWS_MS`] (a day) before the look is history: no notices.
//! - **Back online.** An outage that got an `offline` notice gets one `back-online` notice once
//!   the status shows another connection: connected, or disconnected again in a connection whose
//!   connect was lost (then the return time is that connection's `connectedAt` when known).
//! - **Flapping.** An episode starts when the last `window` holds at least `sessions` distinct
//!   connections (connected events in the event log, whatever their outcome, so duplicates and
//!   late copies count once; a persistent session that keeps reconnecting counts once per
//!   connection; `reconciled` and `invalid` rows never count); it gets one `flapping` notice
//!   naming the disconnect reasons seen,
//!   and ends at the first look that finds fewer. `DUPLICATE_CLIENTID` means two connections
//!   share the client id and keep taking it from each other, and the notice says so.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::AlertSettings;
use crate::event::Presence;
use crate::store::item::{Episode, Outage};
use crate::store::schema::REASON_UNKNOWN;

/// How long after a return an outage that was never alerted still gets its `offline` and
/// `back-online` notices: a day. Later (events replayed long after, a fleet imported with its
/// history, an alerter off for days), the outage is only in the history and the reports.
pub const RETURN_NEWS_MS: u64 = 86_400_000;

/// The disconnect reason AWS gives when a second connection takes over a client id.
pub const DUPLICATE_CLIENTID: &str = "DUPLICATE_CLIENTID";

impl Outage {
    /// Whether the outage is the disconnection the status shows: the same connection. An outage
    /// recorded without a version matches its session at any version.
    pub fn is_of(&self, view: &AlertView) -> bool {
        self.session == view.session && (self.version.is_none() || self.version == view.version)
    }
}

/// What [`plan`] needs of a status item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertView {
    pub client_id: String,
    pub thing_name: Option<String>,
    pub presence: Presence,
    pub session: String,
    pub version: Option<u64>,
    /// The current connection's connect time, when known (carried over to a disconnect).
    pub connected_at: Option<u64>,
    /// Set while disconnected.
    pub disconnected_at: Option<u64>,
    pub reason: String,
    /// The client's own threshold (`offlineThresholdMs`), if set.
    pub threshold_ms: Option<u64>,
    pub outage: Option<Outage>,
    pub flapping: Option<Episode>,
}

/// Connections and disconnect reasons of one client in the flapping window, from its event log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Activity {
    /// The first connect time of each distinct connection, ascending.
    pub connects: Vec<u64>,
    /// Distinct disconnected connections per reason.
    pub reasons: BTreeMap<String, u32>,
}

/// One event-log row as [`Activity::from_rows`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityRow<'a> {
    pub event_type: &'a str,
    pub session: &'a str,
    pub version: Option<u64>,
    pub timestamp: u64,
    pub reason: Option<&'a str>,
}

impl Activity {
    /// Tallies the window's event-log rows, counting each connection (session and version)
    /// once.
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = ActivityRow<'a>>) -> Activity {
        let mut connects: BTreeMap<(&str, Option<u64>), u64> = BTreeMap::new();
        let mut disconnects: BTreeMap<(&str, Option<u64>), &str> = BTreeMap::new();
        for row in rows {
            let connection = (row.session, row.version);
            match Presence::parse(row.event_type) {
                Some(Presence::Connected) => {
                    let first = connects.entry(connection).or_insert(row.timestamp);
                    *first = (*first).min(row.timestamp);
                }
                Some(Presence::Disconnected) => {
                    disconnects
                        .entry(connection)
                        .or_insert(row.reason.unwrap_or(REASON_UNKNOWN));
                }
                None => {}
            }
        }
        let mut connects: Vec<u64> = connects.into_values().collect();
        connects.sort_unstable();
        let mut reasons = BTreeMap::new();
        for reason in disconnects.into_values() {
            *reasons.entry(reason.to_owned()).or_insert(0) += 1;
        }
        Activity { connects, reasons }
    }
}

/// The notice kinds, as the messages, their SNS attribute and the metrics name them.
pub mod kind {
    pub const OFFLINE: &str = "offline";
    pub const BACK_ONLINE: &str = "back-online";
    pub const FLAPPING: &str = "flapping";
    /// One notice for a mass disconnect (see `crate::alert::storm::watch`).
    pub const STORM: &str = "storm";
    /// One notice for its end.
    pub const RECOVERY: &str = "recovery";
}

/// One notification about one client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Notice {
    /// Offline for at least the threshold.
    Offline {
        session_identifier: String,
        /// The connection's version (absent for an outage recorded before versions were kept).
        #[serde(skip_serializing_if = "Option::is_none")]
        version_number: Option<u64>,
        disconnected_at: u64,
        disconnect_reason: String,
        threshold_ms: u64,
        /// Offline time when the notice was decided (up to `now`, or up to the return).
        offline_for_ms: u64,
        /// The client had already returned when the notice was decided (its `back-online`
        /// notice follows).
        returned: bool,
    },
    /// Back after an `offline` notice.
    BackOnline {
        /// The connection of the outage (the one the `offline` notice named).
        session_identifier: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        version_number: Option<u64>,
        disconnected_at: u64,
        disconnect_reason: String,
        /// When the client came back (the next connection's connect), if known.
        back_at: Option<u64>,
        outage_ms: Option<u64>,
        /// Whether the client is connected now (it may have dropped again since).
        connected: bool,
    },
    /// At least `sessions` connections within `window_ms`.
    Flapping {
        /// Distinct connections (session and version) in the window; the name predates
        /// persistent sessions and stays for the message format's sake.
        sessions: u32,
        window_ms: u64,
        first_connect_at: u64,
        last_connect_at: u64,
        /// Distinct disconnected connections per reason, in the window.
        disconnect_reasons: BTreeMap<String, u32>,
        /// A plain-language cause, when the reasons tell one.
        diagnosis: Option<String>,
    },
}

impl Notice {
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::Offline { .. } => kind::OFFLINE,
            Notice::BackOnline { .. } => kind::BACK_ONLINE,
            Notice::Flapping { .. } => kind::FLAPPING,
        }
    }
}

/// The plain-language cause of flapping, when the disconnect reasons tell one.
pub fn flapping_diagnosis(client_id: &str, reasons: &BTreeMap<String, u32>) -> Option<String> {
    let duplicates = reasons.get(DUPLICATE_CLIENTID).copied().unwrap_or(0);
    let others: u32 = reasons
        .iter()
        .filter(|(r, _)| r.as_str() != DUPLICATE_CLIENTID)
        .map(|(_, n)| n)
        .sum();
    (duplicates > 0 && duplicates >= others).then(|| {
        format!(
            "two connections share the client id {client_id:?}: each new connection disconnects \
             the other (DUPLICATE_CLIENTID). Give every device its own client id, or stop the \
             second process using it."
        )
    })
}

/// When to look at the client again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// At this time (ms): the item stays in the alert index with `alertDueAt` = this.
    At(u64),
    /// When its status changes (an alerted outage waits for the return): the item keeps its
    /// `alertShard` but leaves the index; the handler's next status change puts it back.
    OnChange,
    /// Nothing is tracked: the item leaves the index until its next disconnect.
    Never,
}

/// The answer of [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub notices: Vec<Notice>,
    pub outage: Option<Outage>,
    pub flapping: Option<Episode>,
    pub next: Next,
}

/// Decides what to notify about one client at `now` (see the module docs for the rules).
/// `activity` is the event log of `[now - flapping window, now]`; `None` when flapping alerts
/// are off.
pub fn plan(
    view: &AlertView,
    activity: Option<&Activity>,
    settings: &AlertSettings,
    now: u64,
) -> Plan {
    let threshold = view
        .threshold_ms
        .or_else(|| settings.thresholds.threshold_for(&view.client_id))
        .unwrap_or(settings.offline_threshold_ms);
    let mut notices = Vec::new();
    let mut outage = view.outage.clone();
    let mut due: Option<u64> = None;

    // 1. A tracked outage that is not the current status has ended: the client came back
    //    (connected, or in another connection since).
    if let Some(o) = outage.take_if(|o| view.presence == Presence::Connected || !o.is_of(view)) {
        let back_at = view.connected_at.filter(|&at| at >= o.disconnected_at);
        let outage_ms = back_at.map(|at| at - o.disconnected_at);
        // An outage never alerted that ended long before this look is history, not news.
        let news = back_at.is_some_and(|at| now.saturating_sub(at) <= RETURN_NEWS_MS);
        let long_enough = outage_ms.is_some_and(|ms| ms >= threshold) && news;
        if o.alerted_at.is_none() && long_enough {
            notices.push(Notice::Offline {
                session_identifier: o.session.clone(),
                version_number: o.version,
                disconnected_at: o.disconnected_at,
                disconnect_reason: o.reason.clone(),
                threshold_ms: threshold,
                offline_for_ms: outage_ms.unwrap_or_default(),
                returned: true,
            });
        }
        if o.alerted_at.is_some() || long_enough {
            notices.push(Notice::BackOnline {
                session_identifier: o.session,
                version_number: o.version,
                disconnected_at: o.disconnected_at,
                disconnect_reason: o.reason,
                back_at,
                outage_ms,
                connected: view.presence == Presence::Connected,
            });
        }
    }

    // 2. The current disconnection: track it, alert once past the threshold.
    let mut waiting_for_return = false;
    if view.presence == Presence::Disconnected {
        let disconnected_at = view.disconnected_at.unwrap_or_default();
        let current = outage.get_or_insert_with(|| Outage {
            session: view.session.clone(),
            version: view.version,
            disconnected_at,
            reason: view.reason.clone(),
            alerted_at: None,
            held_by: None,
        });
        if current.alerted_at.is_some() {
            waiting_for_return = true;
        } else {
            let due_at = current.disconnected_at.saturating_add(threshold);
            if now >= due_at {
                notices.push(Notice::Offline {
                    session_identifier: current.session.clone(),
                    version_number: current.version,
                    disconnected_at: current.disconnected_at,
                    disconnect_reason: current.reason.clone(),
                    threshold_ms: threshold,
                    offline_for_ms: now - current.disconnected_at,
                    returned: false,
                });
                current.alerted_at = Some(now);
                waiting_for_return = true;
            } else {
                due = Some(due_at);
            }
        }
    }

    // 3. Flapping episodes.
    let mut flapping = view.flapping.clone();
    match activity {
        Some(a) if settings.flapping_sessions > 0 => {
            let n = settings.flapping_sessions as usize;
            if a.connects.len() >= n {
                if flapping.is_none() {
                    let reasons = a.reasons.clone();
                    notices.push(Notice::Flapping {
                        sessions: a.connects.len() as u32,
                        window_ms: settings.flapping_window_ms,
                        first_connect_at: a.connects[0],
                        last_connect_at: a.connects[a.connects.len() - 1],
                        diagnosis: flapping_diagnosis(&view.client_id, &reasons),
                        disconnect_reasons: reasons,
                    });
                    flapping = Some(Episode {
                        since: a.connects[0],
                        alerted_at: now,
                    });
                }
                // The window holds fewer than n sessions once the n-th newest connect leaves
                // it; look again then (sooner if the status changes).
                let leaves = a.connects[a.connects.len() - n]
                    .saturating_add(settings.flapping_window_ms)
                    .saturating_add(1)
                    .max(now + 1);
                due = Some(due.map_or(leaves, |d| d.min(leaves)));
            } else {
                flapping = None;
            }
        }
        _ => flapping = None,
    }

    let next = match due {
        Some(at) => Next::At(at),
        None if waiting_for_return => Next::OnChange,
        None => Next::Never,
    };
    Plan {
        notices,
        outage,
        flapping,
        next,
    }
}

#[cfg(test)]
mod tests;
