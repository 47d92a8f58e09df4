//! Property tests of the repair rule (`iot_presence::reconcile::plan`) against the ordering
//! rule: random status items, broker answers and later events, concentrated on the edges of
//! the window and the settling time.

use iot_presence::event::Presence;
use iot_presence::reconcile::rule::{plan, settling_ms, BrokerAnswer, Finding, CLOCK_MARGIN_MS};
use iot_presence::rule::{decide, Decision, Observed, Window};
use proptest::prelude::*;

const Q: u64 = 1_800_000_000_000;

fn presence() -> impl Strategy<Value = Presence> {
    prop_oneof![Just(Presence::Connected), Just(Presence::Disconnected)]
}

/// A time before Q: mostly near the settling edge, sometimes anywhere in the last two days.
fn before_q(s: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        prop::sample::select(vec![Q - s - 1, Q - s, Q - s + 1, Q - 1, Q - 2 * s, Q]),
        (Q - 2 * 86_400_000)..=Q,
    ]
}

#[derive(Debug, Clone)]
struct Case {
    window: Window,
    item: Option<(Presence, u64, u64, bool)>,
    answer: BrokerAnswer,
}

fn case() -> impl Strategy<Value = Case> {
    prop::sample::select(vec![0u64, 1_000, 120_000, 1_800_000])
        .prop_flat_map(|w| {
            let s = 2 * w + CLOCK_MARGIN_MS;
            let item =
                prop::option::weighted(0.9, (presence(), before_q(s), 0u64..10, any::<bool>()));
            (
                Just(Window(w)),
                item,
                any::<bool>(),
                prop::option::weighted(0.8, before_q(s)),
            )
        })
        .prop_map(|(window, item, connected, since)| Case {
            window,
            item,
            answer: BrokerAnswer {
                client_id: "c".into(),
                connected,
                connected_since: since.filter(|_| connected),
                disconnected_since: since.filter(|_| !connected),
                disconnect_reason: None,
                clean_session: true,
                session_expiry: 0,
                keep_alive_duration: 30,
                thing_name: None,
                observed_at: Q,
            },
        })
}

fn item_of(c: &Case) -> Option<Observed<'static>> {
    c.item
        .map(|(presence, timestamp, version, other)| Observed {
            session: if other { "a" } else { "b" },
            presence,
            version,
            timestamp,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    /// When the rule repairs, when it waits, and when it agrees.
    #[test]
    fn repair_exactly_when_they_disagree_and_both_sides_are_settled(c in case()) {
        let item = item_of(&c);
        let settled_before = Q - settling_ms(c.window);
        let finding = plan(item.as_ref(), &c.answer, c.window);
        let broker = c.answer.presence();
        let disagree = match &item {
            Some(i) => i.presence != broker,
            None => broker == Presence::Connected,
        };
        let recent = item.is_some_and(|i| i.timestamp > settled_before)
            || c.answer.since().is_some_and(|s| s > settled_before);
        match finding {
            Finding::Agree => prop_assert!(!disagree),
            Finding::Unsettled(_) => prop_assert!(disagree && recent),
            Finding::Repair(r) => {
                prop_assert!(disagree && !recent);
                prop_assert_eq!(r.presence, broker);
                // Never back in time, never later than the settled bound.
                prop_assert!(r.timestamp >= item.map_or(0, |i| i.timestamp));
                prop_assert!(r.timestamp <= settled_before);
                prop_assert_eq!(r.since, c.answer.since().unwrap_or(r.timestamp));
            }
        }
    }

    /// After a repair, against the unchanged ordering rule: every event after the broker's
    /// answer applies; every event at or before the broker's state change, or that the item
    /// already beat, is stale.
    #[test]
    fn late_events_order_correctly_after_a_repair(
        c in case(),
        event_presence in presence(),
        session in prop::sample::select(vec!["a", "b", "c"]),
        version in prop_oneof![0u64..12, Just(u64::MAX - 1)],
        offset in -3_600_000i64..=3_600_000,
    ) {
        let item = item_of(&c);
        let Finding::Repair(repair) = plan(item.as_ref(), &c.answer, c.window) else {
            return Ok(());
        };
        let w = c.window.ms();
        // Events around the repair, around Q, and around the item.
        for base in [repair.timestamp, Q, item.map_or(Q, |i| i.timestamp)] {
            let Some(ts) = base.checked_add_signed(offset) else { continue };
            let event = Observed { session, presence: event_presence, version, timestamp: ts };
            let after = decide(Some(&repair.observed()), &event, c.window).decision;
            // An event stamped after Q, allowing W of timestamp error and the clock margin.
            if ts > Q - w - CLOCK_MARGIN_MS {
                prop_assert_eq!(after, Decision::Apply, "{:?} after the answer", event);
            }
            // An event of (or before) the broker's state change: older than the answer.
            if c.answer.since().is_some_and(|since| ts <= since) || ts <= repair.timestamp {
                prop_assert_eq!(after, Decision::Stale, "{:?} before the answer", event);
            }
            // Monotone: what the item beat, the repair beats too.
            if let Some(i) = &item {
                if decide(Some(i), &event, c.window).decision != Decision::Apply {
                    prop_assert_ne!(after, Decision::Apply, "{:?} was beaten by the item", event);
                }
            }
        }
    }
}
