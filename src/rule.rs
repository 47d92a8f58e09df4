//! The ordering rule: does a lifecycle event replace a client's current status?
//!
//! This is the single source of truth for ordering. [`crate::store::status_condition`] encodes
//! the same rule as a DynamoDB `ConditionExpression`, so that concurrent invocations are safe
//! without a read; the differential test (`tests/differential.rs`) checks that the two agree.
//!
//! The unit of ordering is the *connection*: the pair (`sessionIdentifier`, `versionNumber`).
//! A connection's connected and disconnected events carry the same version, and an MQTT
//! persistent session (MQTT 3.1.1 `cleanSession=0`, or an MQTT 5 session expiry above 0) outlives
//! its connection: a client that reconnects within the session expiry resumes the *same* session
//! with a new, higher version (AWS IoT developer guide, "Lifecycle events": the session
//! identifier "exists for the life of the session"; the version resets only after the client has
//! been disconnected longer than the session's expiry). A session is therefore not a connection.
//!
//! For a connected/disconnected event E and the client's current status I (W = the timestamp
//! window, `TIMESTAMP_WINDOW_MS`):
//!
//! 1. No item: apply.
//! 2. Timestamps more than W apart: the later one wins, whatever the session and version
//!    (`E.timestamp > I.timestamp + W` applies, `E.timestamp < I.timestamp - W` is stale). This
//!    is what survives a `versionNumber` reset after a session has expired.
//! 3. Inside W, the same connection (same session and same version): the disconnect beats the
//!    connect (the connection ended); the same type is a duplicate; a connect after its own
//!    connection's disconnect is stale.
//! 4. Inside W, another connection (another session, or the same session at another version):
//!    the higher version applies; otherwise E is stale.
//!
//! For clean sessions (one connection each), with timestamps inside their documented accuracy,
//! this gives the same answers as a rule keyed on the session alone: the two events of one
//! connection are never more than W apart in the wrong direction when each timestamp is off by
//! at most W/2, and a duplicate carries its original's timestamp.
//!
//! Why not timestamps alone (keep the latest timestamp)? AWS timestamps are approximate
//! (documented as ±2 minutes), so when a new connection knocks off an old one
//! (`DUPLICATE_CLIENTID`) the old connection's disconnect may carry a *later* timestamp than the
//! new connection's connect, and a timestamp rule would show the device offline while it is
//! online. Why not versions alone? They reset to 0 after the client has been offline longer than
//! its session expiry (about an hour for clean sessions), so a fresh connection would look older
//! than the one before it forever.

use crate::event::{EventType, LifecycleEvent, Presence};

/// What the rule needs to know of an event, or of the status item (the event last applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed<'a> {
    pub session: &'a str,
    pub presence: Presence,
    pub version: u64,
    /// Epoch milliseconds.
    pub timestamp: u64,
}

impl Observed<'_> {
    /// One connection's events share the session and the version (see the module docs).
    pub fn same_connection(&self, other: &Observed<'_>) -> bool {
        self.session == other.session && self.version == other.version
    }
}

/// The timestamp window W in milliseconds: how far apart two events' timestamps must be before
/// the timestamps alone order them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window(pub u64);

impl Window {
    /// AWS documented timestamps as accurate to ±2 minutes.
    pub const DEFAULT: Window = Window(120_000);

    pub fn ms(self) -> u64 {
        self.0
    }
}

/// What to do with the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Apply,
    Duplicate,
    Stale,
}

/// Which row of the rule decided (logged, and used by the table tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// 1: the client has no status item yet.
    NoItem,
    /// 2: the event is newer by more than W.
    NewerByTimestamp,
    /// 2: the event is older by more than W.
    OlderByTimestamp,
    /// 3: within W, same connection; the status is connected and the event ends it.
    ConnectionEnded,
    /// 3: within W, same connection, same type.
    SameConnectionSameType,
    /// 3: within W, same connection; a connected event after the connection's disconnect.
    ConnectionAlreadyEnded,
    /// 4: within W, another connection with a higher version.
    HigherVersion,
    /// 4: within W, another connection whose version is not higher.
    NotHigherVersion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    pub rule: Rule,
}

/// Applies the ordering rule (see the module documentation).
pub fn decide(current: Option<&Observed<'_>>, event: &Observed<'_>, window: Window) -> Verdict {
    use Decision::*;
    use Rule::*;
    let verdict = |decision, rule| Verdict { decision, rule };
    let Some(item) = current else {
        return verdict(Apply, NoItem);
    };
    // i128: no overflow whatever the window and timestamps.
    let (e, i, w) = (
        i128::from(event.timestamp),
        i128::from(item.timestamp),
        i128::from(window.ms()),
    );
    if e > i + w {
        return verdict(Apply, NewerByTimestamp);
    }
    if e < i - w {
        return verdict(Stale, OlderByTimestamp);
    }
    if item.same_connection(event) {
        return match (item.presence, event.presence) {
            (Presence::Connected, Presence::Disconnected) => verdict(Apply, ConnectionEnded),
            (a, b) if a == b => verdict(Duplicate, SameConnectionSameType),
            _ => verdict(Stale, ConnectionAlreadyEnded),
        };
    }
    if event.version > item.version {
        verdict(Apply, HigherVersion)
    } else {
        verdict(Stale, NotHigherVersion)
    }
}

/// What happened to an event, as stored in the event table's `outcome` and returned by the
/// function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The event is (or, on a redelivery, was) the one that set the status.
    Applied,
    /// The status already reflects a newer event.
    Stale,
    /// The status already reflects another event of the same session and type.
    Duplicate,
    /// A connect_failed event: logged, never changes the status.
    Recorded,
    /// Not a lifecycle event: a repair of the status after the broker disagreed with it
    /// (`presence reconcile`); the row's payload is the broker's answer.
    Reconciled,
    /// Rejected after parsing (a timestamp from the future): kept with the reason
    /// (`invalidReason`), never applied to the status.
    Invalid,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Applied,
        Outcome::Stale,
        Outcome::Duplicate,
        Outcome::Recorded,
        Outcome::Reconciled,
        Outcome::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Stale => "stale",
            Outcome::Duplicate => "duplicate",
            Outcome::Recorded => "recorded",
            Outcome::Reconciled => "reconciled",
            Outcome::Invalid => "invalid",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl LifecycleEvent {
    /// The event as the ordering rule sees it, or `None` for connect_failed, which never
    /// changes a client's connected state. (Here rather than in `event`, so that parsing knows
    /// nothing of the rule.)
    pub fn observed(&self) -> Option<Observed<'_>> {
        self.observed_at(u64::MAX)
    }

    /// The event as the ordering rule sees it when it was received at `received_ms`: its
    /// timestamp, but never later than its receipt. An event cannot have happened after it
    /// arrived, so a timestamp ahead of the receiving clock (accepted up to `FUTURE_SKEW_MS`) is
    /// wrong by at least that much, and the receipt is the better estimate. This bounds what one
    /// event can do: however high its version and however far ahead its timestamp, it holds a
    /// client's status against correctly stamped later events for at most the window W after
    /// it arrived (rule 2 applies any event stamped more than W after the receipt). Without the
    /// bound, an event stamped at the skew's edge with version `u64::MAX` held it for skew + W.
    pub fn observed_at(&self, received_ms: u64) -> Option<Observed<'_>> {
        let presence = match self.event_type {
            EventType::Connected => Presence::Connected,
            EventType::Disconnected => Presence::Disconnected,
            EventType::ConnectFailed => return None,
        };
        Some(Observed {
            session: &self.session_identifier,
            presence,
            // Validation guarantees a version for connected/disconnected.
            version: self.version_number.unwrap_or_default(),
            timestamp: self.timestamp.min(received_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;
    use Presence::{Connected as C, Disconnected as D};

    const W: Window = Window(120_000);
    const T: u64 = 1_700_000_000_000;

    fn obs(session: &str, presence: Presence, version: u64, timestamp: u64) -> Observed<'_> {
        Observed {
            session,
            presence,
            version,
            timestamp,
        }
    }

    fn check(item: Option<Observed<'_>>, event: Observed<'_>, decision: Decision, rule: Rule) {
        let v = decide(item.as_ref(), &event, W);
        assert_eq!(
            v,
            Verdict { decision, rule },
            "item {item:?}, event {event:?}"
        );
    }

    #[test]
    fn row1_no_item_applies_anything() {
        check(None, obs("s", C, 0, 0), Apply, Rule::NoItem);
        check(None, obs("s", D, 9, T), Apply, Rule::NoItem);
    }

    #[test]
    fn row2_outside_the_window_timestamps_decide() {
        // Whatever the sessions, versions and types: same connection, same session at another
        // version (a resumed persistent session), another session, a reset version.
        for (es, ev) in [("s", 50), ("s", 51), ("s", 0), ("new", 0), ("new", 51)] {
            for (ip, ep) in [(C, C), (C, D), (D, C), (D, D)] {
                let item = Some(obs("s", ip, 50, T));
                check(
                    item,
                    obs(es, ep, ev, T + W.0 + 1),
                    Apply,
                    Rule::NewerByTimestamp,
                );
                check(
                    item,
                    obs(es, ep, ev, T - W.0 - 1),
                    Stale,
                    Rule::OlderByTimestamp,
                );
            }
        }
    }

    #[test]
    fn row3_inside_the_window_the_same_connection() {
        // Every combination of presence, at the window's edges and inside it.
        for ts in [T - W.0, T - 1, T, T + 1, T + W.0] {
            let i = |p| Some(obs("s", p, 5, T));
            check(i(C), obs("s", D, 5, ts), Apply, Rule::ConnectionEnded);
            check(
                i(C),
                obs("s", C, 5, ts),
                Duplicate,
                Rule::SameConnectionSameType,
            );
            check(
                i(D),
                obs("s", D, 5, ts),
                Duplicate,
                Rule::SameConnectionSameType,
            );
            check(
                i(D),
                obs("s", C, 5, ts),
                Stale,
                Rule::ConnectionAlreadyEnded,
            );
        }
    }

    #[test]
    fn row4_inside_the_window_another_connection_versions_decide() {
        for ts in [T - W.0, T - 1, T, T + 1, T + W.0] {
            for session in ["s", "new"] {
                for ip in [C, D] {
                    let item = Some(obs("s", ip, 50, T));
                    check(item, obs(session, C, 51, ts), Apply, Rule::HigherVersion);
                    check(item, obs(session, D, 51, ts), Apply, Rule::HigherVersion);
                    check(item, obs(session, D, 49, ts), Stale, Rule::NotHigherVersion);
                    check(item, obs(session, C, 49, ts), Stale, Rule::NotHigherVersion);
                }
            }
            // Another session at the same version is another connection, and not newer.
            let item = Some(obs("s", C, 50, T));
            check(item, obs("new", C, 50, ts), Stale, Rule::NotHigherVersion);
            check(item, obs("new", D, 50, ts), Stale, Rule::NotHigherVersion);
        }
    }

    /// The bug this rule fixes: a persistent session resumed by a reconnect (same session, higher
    /// version) after its disconnect, delivered in every order.
    #[test]
    fn a_resumed_persistent_session_ends_on_its_last_event() {
        let events = [
            obs("s", C, 7, T),
            obs("s", D, 7, T + 30_000),
            obs("s", C, 8, T + 45_000),
            obs("s", D, 8, T + 400_000),
            obs("s", C, 9, T + 410_000),
        ];
        // After each prefix of the history its last event is the truth: every order of every
        // prefix must end on it.
        for len in 1..=events.len() {
            let truth = events[len - 1];
            let mut order: Vec<usize> = (0..len).collect();
            permutations(&mut order, 0, &mut |order| {
                let mut status: Option<Observed<'_>> = None;
                for &k in order {
                    if decide(status.as_ref(), &events[k], W).decision == Apply {
                        status = Some(events[k]);
                    }
                }
                assert_eq!(status, Some(truth), "delivery order {order:?}");
            });
        }
    }

    fn permutations(items: &mut [usize], k: usize, visit: &mut impl FnMut(&[usize])) {
        if k == items.len() {
            return visit(items);
        }
        for i in k..items.len() {
            items.swap(k, i);
            permutations(items, k + 1, visit);
            items.swap(k, i);
        }
    }

    #[test]
    fn window_arithmetic_never_overflows() {
        let huge = Window(u64::MAX);
        let item = obs("a", C, 1, u64::MAX);
        let v = decide(Some(&item), &obs("b", C, 2, 0), huge);
        assert_eq!(v.rule, Rule::HigherVersion);
        let v = decide(
            Some(&obs("a", C, 1, 0)),
            &obs("b", C, 0, u64::MAX),
            Window(0),
        );
        assert_eq!(v.rule, Rule::NewerByTimestamp);
        // Near zero, I - W is negative: still just a comparison.
        let v = decide(Some(&obs("a", C, 9, 10)), &obs("b", C, 0, 0), W);
        assert_eq!(v.rule, Rule::NotHigherVersion);
    }

    #[test]
    fn zero_window_orders_by_timestamp_then_version() {
        let item = Some(obs("a", C, 5, T));
        let w0 = Window(0);
        assert_eq!(
            decide(item.as_ref(), &obs("b", C, 0, T + 1), w0).decision,
            Apply
        );
        assert_eq!(
            decide(item.as_ref(), &obs("b", C, 9, T - 1), w0).decision,
            Stale
        );
        assert_eq!(
            decide(item.as_ref(), &obs("b", C, 6, T), w0).decision,
            Apply
        );
    }

    #[test]
    fn outcome_strings_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        assert_eq!(Outcome::parse("Applied"), None);
    }
}
