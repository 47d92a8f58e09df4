//! The pure rule against random true histories (clean and persistent sessions, several
//! connections per session), delivered shuffled and duplicated: the final status must be the last
//! true event, whatever the order.

mod common;

use common::history::{fleet_deliveries, TrueEvent, W};
use iot_presence::config::{DEFAULT_FUTURE_SKEW_MS, MAX_FUTURE_SKEW_MS};
use iot_presence::event::{LifecycleEvent, MAX_TIMESTAMP_MS};
use iot_presence::rule::{decide, Decision, Window};
use proptest::prelude::*;
use serde_json::json;
use std::collections::HashMap;

/// Folds deliveries through the rule, as the status table would.
fn fold(deliveries: &[TrueEvent]) -> HashMap<&str, &TrueEvent> {
    let mut status: HashMap<&str, &TrueEvent> = HashMap::new();
    for e in deliveries {
        let current = status.get(e.client_id.as_str()).map(|c| c.observed());
        if decide(current.as_ref(), &e.observed(), Window(W)).decision == Decision::Apply {
            status.insert(&e.client_id, e);
        }
    }
    status
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn final_status_is_the_truth(
        (histories, deliveries) in fleet_deliveries(3, 24)
    ) {
        let status = fold(&deliveries);
        for history in &histories {
            let truth = history.last().unwrap();
            let got = status[truth.client_id.as_str()];
            prop_assert_eq!(got, truth, "history: {:#?}", history);
        }
    }

    /// Delivering everything twice over changes nothing: once the truth is applied, no other
    /// event of the history replaces it.
    #[test]
    fn the_truth_is_never_replaced(
        (histories, deliveries) in fleet_deliveries(1, 24)
    ) {
        let truth = histories[0].last().unwrap();
        for e in &deliveries {
            let v = decide(Some(&truth.observed()), &e.observed(), Window(W));
            prop_assert_ne!(v.decision, Decision::Apply, "{:?} replaced the truth {:?}", e, truth);
        }
    }
}

/// The histories exercise what they claim to: resets, knock-offs, resumed persistent sessions
/// (in a reconnect and in a knock-off) and out-of-window reorderings all occur (a generator that
/// never produced them would make the property vacuous).
#[test]
fn histories_cover_resets_knockoffs_resumed_sessions_and_noise() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut resets, mut knockoffs, mut inversions) = (0, 0, 0);
    let (mut resumed, mut resumed_knockoffs, mut resumed_inversions) = (0, 0, 0);
    for _ in 0..300 {
        let (histories, _) = fleet_deliveries(1, 24)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let h = &histories[0];
        for pair in h.windows(2) {
            if pair[1].version < pair[0].version {
                resets += 1;
            }
            if pair[0].reason == Some("DUPLICATE_CLIENTID") {
                knockoffs += 1;
            }
            if pair[1].ts < pair[0].ts {
                inversions += 1;
            }
            // A new connection of the same session: the case a session-keyed rule gets wrong.
            if pair[0].session == pair[1].session && pair[0].version != pair[1].version {
                resumed += 1;
                if pair[0].reason == Some("DUPLICATE_CLIENTID") {
                    resumed_knockoffs += 1;
                }
                if pair[1].ts < pair[0].ts {
                    resumed_inversions += 1;
                }
            }
        }
    }
    assert!(resets > 20, "only {resets} version resets");
    assert!(knockoffs > 100, "only {knockoffs} knock-offs");
    assert!(inversions > 100, "only {inversions} timestamp inversions");
    assert!(resumed > 300, "only {resumed} resumed persistent sessions");
    assert!(
        resumed_knockoffs > 100,
        "only {resumed_knockoffs} knock-offs resuming a session"
    );
    assert!(
        resumed_inversions > 50,
        "only {resumed_inversions} resumed sessions whose reconnect carries the earlier timestamp"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever one event's fields (any timestamp the parser takes, any version up to
    /// `u64::MAX`, any session, one reused by the genuine events or not, either type), once
    /// accepted at receive time `r` it cannot keep a genuine event stale for longer than W: a
    /// genuine event stamped after `r + W` applies over it, because the rule sees a timestamp
    /// no later than its receipt (`observed_at`). An event stamped further ahead than the skew
    /// is rejected before it reaches the rule. (The same over DynamoDB: tests/adversarial.rs.)
    #[test]
    fn no_single_event_keeps_a_client_frozen(
        ts in prop_oneof![0..=MAX_TIMESTAMP_MS, Just(MAX_TIMESTAMP_MS)],
        version in any::<u64>(),
        session in "[a-c]{1,2}",
        disconnect in any::<bool>(),
        received in 1_700_000_000_000u64..1_800_000_000_000,
        skew in prop_oneof![Just(DEFAULT_FUTURE_SKEW_MS), 0..=MAX_FUTURE_SKEW_MS],
        later in 1u64..=3_600_000,
        genuine_version in any::<u64>(),
        genuine_session in "[a-c]{1,2}",
        genuine_disconnect in any::<bool>(),
    ) {
        let event_type = |d: bool| if d { "disconnected" } else { "connected" };
        let parse = |ts: u64, session: &str, version: u64, d: bool| {
            LifecycleEvent::parse(&json!({
                "clientId": "c", "timestamp": ts, "eventType": event_type(d),
                "sessionIdentifier": session, "versionNumber": version,
            }).to_string()).unwrap()
        };
        let x = parse(ts, &session, version, disconnect);
        let accepted = x.check_not_from_the_future(received, skew).is_ok();
        prop_assert_eq!(accepted, ts <= received + skew);
        if accepted {
            let genuine_ts = received + W + later;
            let g = parse(genuine_ts, &genuine_session, genuine_version, genuine_disconnect);
            let x_seen = x.observed_at(received).unwrap();
            prop_assert!(x_seen.timestamp <= received);
            let v = decide(Some(&x_seen), &g.observed_at(genuine_ts).unwrap(), Window(W));
            prop_assert_eq!(v.decision, Decision::Apply, "{:?} froze the client against {:?}", x, g);
        }
    }
}
