use proptest::prelude::*;

use super::*;
use crate::store::item::{Episode, Outage};

const MIN: u64 = 60_000;
const T0: u64 = 1_763_700_000_000;

fn row(client: &str, at: u64) -> DropRow {
    DropRow {
        client_id: client.to_owned(),
        at,
        reason: "CONNECTION_LOST".to_owned(),
    }
}

fn settings(min_clients: u64) -> StormSettings {
    StormSettings {
        min_share: 0.01,
        min_clients,
        window_ms: 2 * MIN,
    }
}

/// A declared storm over `clients` drops from `first` to `last`.
fn storm(prefix: Option<&str>, first: u64, last: u64, clients: u64) -> StormRecord {
    StormRecord {
        id: format!("storm/{}/{first}", scope_name(prefix)),
        prefix: prefix.map(str::to_owned),
        first_drop_at: first,
        last_drop_at: last,
        clients,
        scope_size: 1_000,
        reasons: Breakdown::default(),
        prefixes: Breakdown::default(),
        sample: vec![],
        detected_at: last,
        notified_at: Some(last),
        ended_at: None,
        still_offline: None,
        recovery_notified_at: None,
    }
}

fn ended(mut s: StormRecord, at: u64) -> StormRecord {
    s.ended_at = Some(at);
    s.still_offline = Some(0);
    s
}

fn offline(at: u64, now: u64, returned: bool) -> Notice {
    Notice::Offline {
        session_identifier: "s1".into(),
        version_number: Some(1),
        disconnected_at: at,
        disconnect_reason: "CONNECTION_LOST".into(),
        threshold_ms: 5 * MIN,
        offline_for_ms: now - at,
        returned,
    }
}

fn back_online(at: u64, back: u64) -> Notice {
    Notice::BackOnline {
        session_identifier: "s1".into(),
        version_number: Some(1),
        disconnected_at: at,
        disconnect_reason: "CONNECTION_LOST".into(),
        back_at: Some(back),
        outage_ms: Some(back - at),
        connected: true,
    }
}

fn flapping() -> Notice {
    Notice::Flapping {
        sessions: 5,
        window_ms: 10 * MIN,
        first_connect_at: T0,
        last_connect_at: T0 + MIN,
        disconnect_reasons: Default::default(),
        diagnosis: None,
    }
}

/// The plan `plan` makes for a client offline since `at`, past its threshold at `now`.
fn offline_plan(at: u64, now: u64) -> Plan {
    Plan {
        notices: vec![offline(at, now, false)],
        outage: Some(Outage {
            session: "s1".into(),
            version: Some(1),
            disconnected_at: at,
            reason: "CONNECTION_LOST".into(),
            alerted_at: Some(now),
            held_by: None,
        }),
        flapping: None,
        next: Next::OnChange,
    }
}

/// The plan for a client that was offline from `at` to `back`, never alerted.
fn returned_plan(at: u64, back: u64) -> Plan {
    Plan {
        notices: vec![offline(at, back, true), back_online(at, back)],
        outage: None,
        flapping: None,
        next: Next::Never,
    }
}

#[test]
fn an_open_storm_holds_the_offline_notice_and_records_it() {
    let s = storm(None, T0, T0 + MIN, 500);
    let now = T0 + 6 * MIN;
    let mut plan = offline_plan(T0 + 30_000, now);
    let held = hold(&mut plan, "dev-1", std::slice::from_ref(&s), now);
    assert_eq!(held.held_by.as_deref(), Some(s.id.as_str()));
    assert!(plan.notices.is_empty());
    let outage = plan.outage.unwrap();
    assert_eq!(outage.alerted_at, None, "held is not alerted");
    assert_eq!(outage.held_by, Some(s.id));
    // The storm is 6 minutes old, the threshold 5: look again in 6 minutes.
    assert_eq!(plan.next, Next::At(now + 6 * MIN));
}

#[test]
fn a_held_client_is_looked_at_less_often_as_the_storm_ages_up_to_half_an_hour() {
    let s = storm(None, T0, T0 + MIN, 500);
    for (age, wait) in [
        (5 * MIN, 5 * MIN),
        (20 * MIN, 20 * MIN),
        (3 * 60 * MIN, HOLD_RECHECK_MAX_MS),
    ] {
        let now = T0 + age;
        let mut plan = offline_plan(T0, now);
        hold(&mut plan, "dev-1", std::slice::from_ref(&s), now);
        assert_eq!(plan.next, Next::At(now + wait), "age {age}");
    }
}

#[test]
fn after_the_storm_a_client_still_offline_a_threshold_past_its_end_gets_its_notice() {
    let end = T0 + 20 * MIN;
    let s = ended(storm(None, T0, T0 + MIN, 500), end);
    // Before end + threshold: held until then.
    let now = end + 2 * MIN;
    let mut plan = offline_plan(T0, now);
    let held = hold(&mut plan, "dev-1", std::slice::from_ref(&s), now);
    assert!(held.held_by.is_some() && plan.notices.is_empty());
    assert_eq!(plan.next, Next::At(end + 5 * MIN));
    // At end + threshold: sent.
    let now = end + 5 * MIN;
    let mut plan = offline_plan(T0, now);
    let before = plan.clone();
    assert_eq!(hold(&mut plan, "dev-1", &[s], now), Held::default());
    assert_eq!(plan, before);
}

#[test]
fn a_return_during_the_storm_or_soon_after_is_folded_into_the_recovery() {
    let s = storm(None, T0, T0 + MIN, 500);
    let (at, back) = (T0 + 10_000, T0 + 12 * MIN);
    let mut plan = returned_plan(at, back);
    let held = hold(&mut plan, "dev-1", std::slice::from_ref(&s), back + MIN);
    assert_eq!(held.folded_into, Some(s.id.clone()));
    assert!(plan.notices.is_empty());
    // Ended at T0 + 10 min: a return up to a threshold later is folded, a later one is not.
    let done = ended(s, T0 + 10 * MIN);
    let mut plan = returned_plan(at, T0 + 14 * MIN);
    hold(
        &mut plan,
        "dev-1",
        std::slice::from_ref(&done),
        T0 + 16 * MIN,
    );
    assert!(plan.notices.is_empty());
    let mut plan = returned_plan(at, T0 + 15 * MIN);
    assert_eq!(
        hold(&mut plan, "dev-1", &[done], T0 + 16 * MIN),
        Held::default()
    );
    assert_eq!(plan.notices.len(), 2, "offline and back-online go out");
}

#[test]
fn a_prefix_storm_leaves_the_rest_of_the_fleet_alone() {
    let s = storm(Some("pump-"), T0, T0 + MIN, 80);
    let now = T0 + 6 * MIN;
    let mut other = offline_plan(T0 + 1_000, now);
    assert_eq!(
        hold(&mut other, "sensor-7", std::slice::from_ref(&s), now),
        Held::default()
    );
    assert_eq!(other.notices.len(), 1);
    let mut pump = offline_plan(T0 + 1_000, now);
    assert!(hold(&mut pump, "pump-7", &[s], now).held_by.is_some());
    assert!(pump.notices.is_empty());
}

#[test]
fn drops_outside_the_span_and_other_notices_are_untouched() {
    let s = storm(None, T0, T0 + MIN, 500);
    let now = T0 + 30 * MIN;
    for at in [T0 - 1, T0 + MIN + 1] {
        let mut plan = offline_plan(at, now);
        assert_eq!(
            hold(&mut plan, "dev-1", std::slice::from_ref(&s), now),
            Held::default()
        );
        assert_eq!(plan.notices.len(), 1);
    }
    let mut plan = offline_plan(T0, now);
    plan.notices.push(flapping());
    plan.flapping = Some(Episode {
        since: T0,
        alerted_at: now,
    });
    plan.next = Next::At(now + 2 * MIN);
    hold(&mut plan, "dev-1", &[s], now);
    assert_eq!(plan.notices, vec![flapping()]);
    assert_eq!(plan.next, Next::At(now + 2 * MIN), "the sooner look stays");
}

#[test]
fn an_open_storm_holds_before_an_ended_one_that_also_covers() {
    let old = ended(storm(None, T0, T0 + 4 * MIN, 500), T0 + 20 * MIN);
    let new = storm(Some("pump-"), T0 + 2 * MIN, T0 + 3 * MIN, 80);
    let now = T0 + 30 * MIN;
    let mut plan = offline_plan(T0 + 150_000, now);
    let held = hold(&mut plan, "pump-1", &[old, new.clone()], now);
    assert_eq!(held.held_by, Some(new.id));
}

#[test]
fn open_storms_grow_by_chained_drops_in_scope() {
    let mut storms = vec![
        storm(None, T0, T0 + MIN, 100),
        storm(Some("pump-"), T0, T0 + MIN, 60),
        ended(
            storm(None, T0 - 60 * MIN, T0 - 59 * MIN, 100),
            T0 - 30 * MIN,
        ),
    ];
    let drops = vec![
        row("sensor-1", T0 + 30_000), // inside: not counted again
        row("sensor-2", T0 + 2 * MIN),
        row("pump-3", T0 + 3 * MIN + 30_000),
        row("sensor-4", T0 + 5 * MIN), // chains from 3.5 min
        row("sensor-5", T0 + 9 * MIN), // 4 min after: a gap of two windows
    ];
    assert!(extend(&mut storms, &drops, 2 * MIN));
    assert_eq!(
        (storms[0].last_drop_at, storms[0].clients),
        (T0 + 5 * MIN, 103)
    );
    // The pump storm: sensor-2 is out of scope, pump-3 is 2.5 min after its last drop.
    assert_eq!((storms[1].last_drop_at, storms[1].clients), (T0 + MIN, 60));
    assert_eq!(storms[2].clients, 100, "ended storms never grow");
    assert!(
        !extend(&mut storms, &drops, 2 * MIN),
        "a second look adds nothing"
    );
}

#[test]
fn candidates_are_the_bursts_no_storm_covers() {
    let drops: Vec<DropRow> = (0..60)
        .map(|i| row(&format!("pump-{i}"), T0 + i * 1_000))
        .chain((0..10).map(|i| row(&format!("gw-{i}"), T0 + i * 1_000)))
        .collect();
    let mut sorted = drops.clone();
    sorted.sort_by_key(|d| d.at);
    let found = candidates(&[], &sorted, &settings(50));
    let scopes: Vec<(Option<&str>, usize)> = found
        .iter()
        .map(|c| (c.prefix.as_deref(), c.burst.len()))
        .collect();
    assert_eq!(scopes, vec![(None, 70), (Some("pump-"), 60)]);
    let covering = storm(None, T0, T0 + 60_000, 70);
    assert!(candidates(&[covering], &sorted, &settings(50)).is_empty());
}

#[test]
fn a_candidate_is_declared_only_past_both_bounds() {
    let burst: Vec<DropRow> = (0..60).map(|i| row(&format!("c-{i}"), T0 + i)).collect();
    let c = Candidate {
        prefix: None,
        burst,
    };
    let s = declare(&c, 6_000, &settings(50), T0 + MIN).expect("60 of 6,000 is 1%");
    assert_eq!(s.id, format!("storm/*/{T0}"));
    assert_eq!(
        (s.first_drop_at, s.last_drop_at, s.clients),
        (T0, T0 + 59, 60)
    );
    assert_eq!(s.sample.len(), SAMPLE);
    assert!(declare(&c, 6_001, &settings(50), T0).is_none(), "below 1%");
    assert!(
        declare(&c, 100, &settings(61), T0).is_none(),
        "below the count"
    );
    // A size DynamoDB has not caught up with is never below what dropped.
    assert_eq!(declare(&c, 0, &settings(50), T0).unwrap().scope_size, 60);
}

#[test]
fn a_storm_ends_when_nine_in_ten_are_back_or_at_the_limit() {
    let s = storm(None, T0, T0 + MIN, 1_000);
    let cfg = settings(50);
    assert!(!quiet(&s, &cfg, T0 + 2 * MIN), "a window has not passed");
    assert!(quiet(&s, &cfg, T0 + 3 * MIN));
    assert!(!ends(&s, 101, T0 + 3 * MIN));
    assert!(ends(&s, 100, T0 + 3 * MIN));
    assert!(ends(&s, 1_000, T0 + MIN + STORM_MAX_MS));
    assert!(!quiet(&ended(s, T0 + 3 * MIN), &cfg, T0 + 4 * MIN));
}

#[test]
fn ended_storms_are_forgotten_after_a_day_and_beyond_the_cap() {
    let mut storms = vec![
        ended(storm(None, T0, T0, 1), T0),
        storm(None, T0 + 1, T0 + 1, 1),
    ];
    assert!(!forget(&mut storms, T0 + KEEP_ENDED_MS));
    assert!(forget(&mut storms, T0 + KEEP_ENDED_MS + 1));
    assert_eq!(storms.len(), 1);
    let mut many: Vec<StormRecord> = (0..MAX_STORMS as u64 + 3)
        .map(|i| ended(storm(None, T0 + i, T0 + i, 1), T0 + i))
        .collect();
    assert!(forget(&mut many, T0 + 10));
    assert_eq!(many.len(), MAX_STORMS);
    assert_eq!(many[0].first_drop_at, T0 + 3, "the oldest ended go first");
}

proptest! {
    /// Whatever the storms, `hold` never adds a notice, never touches flapping, removes an
    /// `offline` only for a client some storm covers, and always leaves a held client due.
    #[test]
    fn hold_only_ever_removes_notices_a_storm_covers(
        spans in proptest::collection::vec((0u64..60, 0u64..10, any::<bool>(), 0u64..60), 0..4),
        at in 0u64..70,
        now_after in 0u64..400,
        returned_after in proptest::option::of(0u64..60),
        client in prop_oneof![Just("pump-1"), Just("gw-2")],
        prefixed in any::<bool>(),
    ) {
        let storms: Vec<StormRecord> = spans
            .iter()
            .map(|&(first, len, is_ended, end_after)| {
                let prefix = if prefixed { Some("pump-") } else { None };
                let s = storm(prefix, T0 + first * MIN, T0 + (first + len) * MIN, 100);
                if is_ended { ended(s, T0 + (first + len + end_after) * MIN) } else { s }
            })
            .collect();
        let at = T0 + at * MIN;
        let now = at + now_after * MIN / 4 + 5 * MIN;
        let mut plan = match returned_after {
            Some(r) => returned_plan(at, (at + 5 * MIN + r * MIN).min(now)),
            None => offline_plan(at, now),
        };
        plan.notices.push(flapping());
        let before = plan.notices.clone();
        let held = hold(&mut plan, client, &storms, now);
        prop_assert!(plan.notices.iter().all(|n| before.contains(n)));
        prop_assert!(plan.notices.contains(&flapping()));
        let covered = storms.iter().any(|s| covers(s, client, at));
        if plan.notices.len() < before.len() {
            prop_assert!(covered);
            prop_assert!(held.held_by.is_some() || held.folded_into.is_some());
        }
        if held.held_by.is_some() {
            prop_assert!(matches!(plan.next, Next::At(t) if t > now));
        }
    }
}
