//! The repair rule: what `presence reconcile` does when the broker disagrees with a status item.
//!
//! AWS promises no delivery of lifecycle events, so a lost disconnect leaves a dead device
//! `connected` until its next event, which never comes. The IoT data plane's `GetConnection`
//! answers for any client id: connected or not, since when, why it dropped, and the session's
//! settings. It gives no `sessionIdentifier` and no `versionNumber`, so a repair cannot pose as
//! a lifecycle event of a known connection. This module decides, from the status item as read
//! and the broker's answer, whether to repair and what the repaired status is (pure; tested in
//! `tests/reconcile_property.rs` and below). [`crate::reconciler`] does the reading and writing.
//!
//! # The rule
//!
//! With `I` the status item (the event last applied, timestamp `t0`), `B` the broker's answer
//! read at `Q` (our clock, `observed_at`), W the ordering window and `S = 2W + 1 min` the settling time:
//!
//! 1. `B` agrees with `I` (both connected, or both not), or there is no item and `B` says
//!    disconnected: nothing to repair.
//! 2. The status or the broker's state changed less than `S` before `Q` (`t0 > Q - S`, or the
//!    broker's `connectedSince`/`disconnectedSince` is after `Q - S`): *unsettled*, not repaired
//!    now. Events may still be in flight, the broker's answer may lag an event, and timestamps
//!    are only accurate to about W; the next sweep looks again.
//! 3. Otherwise repair: the status becomes the broker's state, as a *repair* `R` that the
//!    ordering rule ([`crate::rule::decide`]) orders like any status:
//!    `R = {session: "" (no event has an empty session), version: u64::MAX,
//!          timestamp: T_r = max(t0, B's since, or Q - S when the broker does not say)}`.
//!
//! What this guarantees, against the unchanged ordering rule (rows 2 and 4):
//!
//! - An event stamped at or before `T_r + W` is stale against `R` (outside W by rule 2; inside W
//!   no connection has a version above `u64::MAX`, and none has the empty session). Every event
//!   that happened before the broker's answer is one of these: it is older than the broker's
//!   current state (which began at `B`'s since, at most `T_r`), or older than `I`.
//! - An event stamped after `T_r + W` applies. Every event after `Q` is one of these, because
//!   `T_r <= Q - S`, and `S` leaves room for W of timestamp error and a minute of clock skew
//!   between this host and AWS.
//! - Nothing that was stale or duplicate against `I` applies against `R` (`T_r >= t0`).
//!
//! A repair is never blind: [`crate::reconciler`] writes it only if the item still holds the
//! event it read (`lastEventKey`), in one transaction with an event-table row (outcome
//! `reconciled`, payload the broker's answer), so that every repair is in the log.

use serde::{Deserialize, Serialize};

use crate::event::Presence;
use crate::rule::{Observed, Window};
use crate::store::item::BrokerFacts;

/// The session of a repaired status: the event parser rejects an empty `sessionIdentifier`, so
/// no event is ever the same connection as a repair.
pub const REPAIR_SESSION: &str = "";
/// The version of a repaired status: no event's version is higher, so inside W every event is
/// stale against a repair and only an event later by more than W replaces it.
pub const REPAIR_VERSION: u64 = u64::MAX;
/// Added to 2W to make the settling time: this host's clock against AWS's.
pub const CLOCK_MARGIN_MS: u64 = 60_000;

/// What `GetConnection` said about a client (the event-table payload of a repair). Zero or
/// negative times from the API mean "not known" and become `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerAnswer {
    pub client_id: String,
    pub connected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected_since: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disconnected_since: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disconnect_reason: Option<String>,
    pub clean_session: bool,
    /// Seconds; the broker's session expiry (0 for a clean session).
    pub session_expiry: u64,
    /// Seconds; the MQTT keep-alive the client asked for.
    pub keep_alive_duration: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thing_name: Option<String>,
    /// When it was asked (ms, this host's clock).
    pub observed_at: u64,
}

impl BrokerAnswer {
    pub fn presence(&self) -> Presence {
        Presence::of_connected(self.connected)
    }

    /// Since when the broker has the client in its current state, if it says.
    pub fn since(&self) -> Option<u64> {
        if self.connected {
            self.connected_since
        } else {
            self.disconnected_since
        }
    }

    /// The session settings kept on the status item.
    pub fn facts(&self) -> BrokerFacts {
        BrokerFacts {
            clean_session: self.clean_session,
            session_expiry: self.session_expiry,
            keep_alive_duration: self.keep_alive_duration,
            checked_at: self.observed_at,
        }
    }
}

/// A repaired status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    pub presence: Presence,
    /// `T_r`: the repair's place in the ordering (see the module docs).
    pub timestamp: u64,
    /// Since when, as shown (`connectedAt`/`disconnectedAt`): the broker's time when it gives
    /// one, else `T_r`.
    pub since: u64,
    /// The broker's reason for a disconnected repair, if it gives one (the status then says
    /// `UNKNOWN`).
    pub disconnect_reason: Option<String>,
}

impl Repair {
    /// The repair as the ordering rule sees it.
    pub fn observed(&self) -> Observed<'static> {
        Observed {
            session: REPAIR_SESSION,
            presence: self.presence,
            version: REPAIR_VERSION,
            timestamp: self.timestamp,
        }
    }
}

/// Why a disagreement is left alone for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unsettled {
    /// The status changed less than the settling time ago.
    StatusRecent,
    /// The broker's state began less than the settling time ago.
    BrokerRecent,
}

/// What the comparison found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The status and the broker agree (or neither knows the client online).
    Agree,
    /// They disagree, but too recently to repair (rule 2).
    Unsettled(Unsettled),
    /// They disagree: repair to this (rule 3).
    Repair(Repair),
}

/// The settling time `S = 2W + 1 min` of a window.
pub fn settling_ms(window: Window) -> u64 {
    2 * window.ms() + CLOCK_MARGIN_MS
}

/// Applies the repair rule (see the module documentation). `current` is the status item as
/// read (`None` for a client with no status), `answer` the broker's (asked at `Q`).
pub fn plan(current: Option<&Observed<'_>>, answer: &BrokerAnswer, window: Window) -> Finding {
    let broker = answer.presence();
    match current {
        Some(item) if item.presence == broker => return Finding::Agree,
        None if broker == Presence::Disconnected => return Finding::Agree,
        _ => {}
    }
    let settled_before = answer.observed_at.saturating_sub(settling_ms(window));
    let t0 = current.map_or(0, |item| item.timestamp);
    if t0 > settled_before {
        return Finding::Unsettled(Unsettled::StatusRecent);
    }
    if answer.since().is_some_and(|since| since > settled_before) {
        return Finding::Unsettled(Unsettled::BrokerRecent);
    }
    let timestamp = t0.max(answer.since().unwrap_or(settled_before));
    Finding::Repair(Repair {
        presence: broker,
        timestamp,
        since: answer.since().unwrap_or(timestamp),
        disconnect_reason: answer
            .disconnect_reason
            .clone()
            .filter(|_| broker == Presence::Disconnected),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scope;
    use crate::rule::{decide, Decision};
    use Presence::{Connected as C, Disconnected as D};

    const W: Window = Window(120_000);
    const Q: u64 = 1_700_000_000_000;
    const S: u64 = 2 * 120_000 + CLOCK_MARGIN_MS;

    fn answer(connected: bool, since: Option<u64>) -> BrokerAnswer {
        BrokerAnswer {
            client_id: "c".into(),
            connected,
            connected_since: since.filter(|_| connected),
            disconnected_since: since.filter(|_| !connected),
            disconnect_reason: (!connected).then(|| "MQTT_KEEP_ALIVE_TIMEOUT".into()),
            clean_session: true,
            session_expiry: 0,
            keep_alive_duration: 60,
            thing_name: None,
            observed_at: Q,
        }
    }

    fn item(presence: Presence, timestamp: u64) -> Observed<'static> {
        Observed {
            session: "s",
            presence,
            version: 7,
            timestamp,
        }
    }

    #[test]
    fn agreement_is_left_alone() {
        for p in [C, D] {
            let a = answer(p == C, Some(Q - 10 * S));
            assert_eq!(plan(Some(&item(p, Q - 1)), &a, W), Finding::Agree);
        }
        assert_eq!(plan(None, &answer(false, None), W), Finding::Agree);
    }

    #[test]
    fn a_lost_disconnect_is_repaired_at_the_brokers_time() {
        let a = answer(false, Some(Q - S - 1));
        let Finding::Repair(r) = plan(Some(&item(C, Q - 2 * S)), &a, W) else {
            panic!("no repair")
        };
        assert_eq!(
            (r.presence, r.timestamp, r.since),
            (D, Q - S - 1, Q - S - 1)
        );
        assert_eq!(
            r.disconnect_reason.as_deref(),
            Some("MQTT_KEEP_ALIVE_TIMEOUT")
        );
    }

    #[test]
    fn a_lost_connect_of_a_client_never_seen_is_repaired() {
        let Finding::Repair(r) = plan(None, &answer(true, Some(Q - S)), W) else {
            panic!("no repair")
        };
        assert_eq!(
            (r.presence, r.timestamp, r.disconnect_reason),
            (C, Q - S, None)
        );
    }

    #[test]
    fn recent_changes_on_either_side_are_unsettled() {
        let a = answer(false, Some(Q - 2 * S));
        assert_eq!(
            plan(Some(&item(C, Q - S + 1)), &a, W),
            Finding::Unsettled(Unsettled::StatusRecent)
        );
        let a = answer(false, Some(Q - S + 1));
        assert_eq!(
            plan(Some(&item(C, Q - 2 * S)), &a, W),
            Finding::Unsettled(Unsettled::BrokerRecent)
        );
    }

    #[test]
    fn the_repair_never_moves_the_status_back_in_time() {
        // The broker's since is older than the item (its connection began before a disconnect
        // of another connection that we hold): the repair keeps the item's time.
        let a = answer(true, Some(Q - 5 * S));
        let Finding::Repair(r) = plan(Some(&item(D, Q - 2 * S)), &a, W) else {
            panic!("no repair")
        };
        assert_eq!((r.timestamp, r.since), (Q - 2 * S, Q - 5 * S));
    }

    #[test]
    fn an_unknown_since_uses_the_settled_bound() {
        // GetConnection keeps disconnectedSince for 30 minutes only.
        let Finding::Repair(r) = plan(Some(&item(C, Q - 100 * S)), &answer(false, None), W) else {
            panic!("no repair")
        };
        assert_eq!((r.timestamp, r.since), (Q - S, Q - S));
        assert_eq!(
            r.disconnect_reason.as_deref(),
            Some("MQTT_KEEP_ALIVE_TIMEOUT")
        );
        let mut a = answer(false, None);
        a.disconnect_reason = None;
        let Finding::Repair(r) = plan(Some(&item(C, Q - 100 * S)), &a, W) else {
            panic!("no repair")
        };
        assert_eq!(r.disconnect_reason, None);
    }

    #[test]
    fn inside_the_window_every_event_is_stale_against_a_repair() {
        let r = Repair {
            presence: D,
            timestamp: Q - S,
            since: Q - S,
            disconnect_reason: None,
        };
        for ts in [Q - S - W.0, Q - S, Q - S + W.0] {
            for (session, version) in [("s", 0), ("s", u64::MAX - 1), ("x", u64::MAX)] {
                let e = Observed {
                    session,
                    presence: C,
                    version,
                    timestamp: ts,
                };
                assert_eq!(decide(Some(&r.observed()), &e, W).decision, Decision::Stale);
            }
        }
    }

    #[test]
    fn scopes_parse_and_bad_ones_say_what_is_expected() {
        use std::time::Duration;
        assert_eq!("all".parse(), Ok(Scope::All));
        assert_eq!(
            "connected-for=1h".parse(),
            Ok(Scope::ConnectedFor(Duration::from_secs(3600)))
        );
        assert_eq!(
            " disconnected-for=2d".parse(),
            Ok(Scope::DisconnectedFor(Duration::from_secs(2 * 86_400)))
        );
        for bad in ["", "some", "connected-for=soon", "connected=1h"] {
            let err = bad.parse::<Scope>().unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn keep_alive_gives_the_detection_time() {
        assert_eq!(
            answer(true, None).facts().dead_client_detection_ms(),
            Some(90_000)
        );
        let mut a = answer(true, None);
        a.keep_alive_duration = 0;
        assert_eq!(a.facts().dead_client_detection_ms(), None);
    }
}
