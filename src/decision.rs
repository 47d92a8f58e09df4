//! The ordering rule: does a lifecycle event replace a client's current status?
//!
//! This is the single source of truth for ordering. [`crate::store::status_condition`] encodes
//! the same rule as a DynamoDB `ConditionExpression`, so that concurrent invocations are safe
//! without a read; the differential test (`tests/differential.rs`) checks that the two agree.
//!
//! For a connected/disconnected event E and the client's current status I (W = the timestamp
//! window, `TIMESTAMP_WINDOW_MS`):
//!
//! 1. No item: apply.
//! 2. Same session: apply only if I is connected and E is disconnected (the session ended).
//!    E of the same type as I is a duplicate; anything else (a connected event arriving after its
//!    own session's disconnect) is stale.
//! 3. Different session: if `E.timestamp > I.timestamp + W`, apply (clearly newer; this is what
//!    survives a `versionNumber` reset after ~1 h offline). If `E.timestamp < I.timestamp - W`,
//!    stale. Otherwise, inside the window where timestamps are too approximate to order, apply
//!    iff `E.version > I.version`.
//!
//! Why not timestamps alone (the rule in seed 000: keep the latest timestamp)? AWS timestamps
//! are approximate (documented as ±2 minutes), so when a new connection knocks off an old one
//! (`DUPLICATE_CLIENTID`) the old session's disconnect may carry a *later* timestamp than the new
//! session's connect, and a timestamp rule would show the device offline while it is online.
//! Why not versions alone? They reset to 0 after about an hour offline, so a fresh session would
//! look older than the one before it forever.

use crate::event::Presence;

/// What the rule needs to know of an event, or of the status item (the event last applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed<'a> {
    pub session: &'a str,
    pub presence: Presence,
    pub version: u64,
    /// Epoch milliseconds.
    pub timestamp: u64,
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

impl Default for Window {
    fn default() -> Self {
        Window::DEFAULT
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
    /// 2: same session, the status is connected and the event ends that session.
    SessionEnded,
    /// 2: same session, same type.
    SameSessionSameType,
    /// 2: same session, a connected event after the session's disconnect.
    SessionAlreadyEnded,
    /// 3: different session, event newer by more than W.
    NewerByTimestamp,
    /// 3: different session, event older by more than W.
    OlderByTimestamp,
    /// 3: different session, within W, higher version.
    HigherVersion,
    /// 3: different session, within W, version not higher.
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
    if item.session == event.session {
        return match (item.presence, event.presence) {
            (Presence::Connected, Presence::Disconnected) => verdict(Apply, SessionEnded),
            (a, b) if a == b => verdict(Duplicate, SameSessionSameType),
            _ => verdict(Stale, SessionAlreadyEnded),
        };
    }
    // i128: no overflow whatever the window and timestamps.
    let (e, i, w) = (
        i128::from(event.timestamp),
        i128::from(item.timestamp),
        i128::from(window.ms()),
    );
    if e > i + w {
        verdict(Apply, NewerByTimestamp)
    } else if e < i - w {
        verdict(Stale, OlderByTimestamp)
    } else if event.version > item.version {
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
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Applied,
        Outcome::Stale,
        Outcome::Duplicate,
        Outcome::Recorded,
        Outcome::Reconciled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Stale => "stale",
            Outcome::Duplicate => "duplicate",
            Outcome::Recorded => "recorded",
            Outcome::Reconciled => "reconciled",
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
    fn row2_same_session() {
        // Every combination of presence, with timestamps and versions that would say otherwise.
        let i = |p| Some(obs("s", p, 5, T));
        check(
            i(C),
            obs("s", D, 5, T - 10 * W.0),
            Apply,
            Rule::SessionEnded,
        );
        check(
            i(C),
            obs("s", C, 5, T),
            Duplicate,
            Rule::SameSessionSameType,
        );
        check(
            i(C),
            obs("s", C, 99, T + 10 * W.0),
            Duplicate,
            Rule::SameSessionSameType,
        );
        check(
            i(D),
            obs("s", D, 5, T),
            Duplicate,
            Rule::SameSessionSameType,
        );
        check(
            i(D),
            obs("s", C, 5, T + 10 * W.0),
            Stale,
            Rule::SessionAlreadyEnded,
        );
    }

    #[test]
    fn row3_outside_the_window_timestamps_decide() {
        for (ip, ep) in [(C, C), (C, D), (D, C), (D, D)] {
            let item = Some(obs("old", ip, 50, T));
            // Just past +W: newer, even with a reset version.
            check(
                item,
                obs("new", ep, 0, T + W.0 + 1),
                Apply,
                Rule::NewerByTimestamp,
            );
            // Just past -W: older, even with a higher version.
            check(
                item,
                obs("new", ep, 51, T - W.0 - 1),
                Stale,
                Rule::OlderByTimestamp,
            );
        }
    }

    #[test]
    fn row3_inside_the_window_versions_decide() {
        let item = Some(obs("old", C, 50, T));
        for ts in [T - W.0, T - 1, T, T + 1, T + W.0] {
            // Exactly ±W is still inside the window.
            check(item, obs("new", C, 51, ts), Apply, Rule::HigherVersion);
            check(item, obs("new", D, 51, ts), Apply, Rule::HigherVersion);
            check(item, obs("new", C, 50, ts), Stale, Rule::NotHigherVersion);
            check(item, obs("new", D, 49, ts), Stale, Rule::NotHigherVersion);
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
