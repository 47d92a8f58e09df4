use proptest::prelude::*;

use super::*;

const MIN: u64 = 60_000;

fn row(client: &str, at: u64, reason: &str) -> DropRow {
    DropRow {
        client_id: client.to_owned(),
        at,
        reason: reason.to_owned(),
    }
}

fn fleet(connected: u64, disconnected: u64) -> FleetCounts {
    FleetCounts {
        connected,
        disconnected,
    }
}

/// The most drops inside any window of `window_ms` starting at a drop, by brute force.
fn brute_densest(ats: &[u64], window_ms: u64) -> usize {
    ats.iter()
        .map(|&start| {
            ats.iter()
                .filter(|&&at| at >= start && at - start < window_ms)
                .count()
        })
        .max()
        .unwrap_or(0)
}

proptest! {
    #[test]
    fn densest_finds_the_fullest_window(
        mut ats in proptest::collection::vec(0u64..20 * MIN, 0..200),
        window_ms in 1u64..5 * MIN,
    ) {
        ats.sort_unstable();
        let drops: Vec<DropRow> = ats.iter().map(|&at| row("c", at, "R")).collect();
        let found = densest(&drops, window_ms);
        prop_assert_eq!(found.as_ref().map_or(0, |r| r.len()), brute_densest(&ats, window_ms));
        if let Some(r) = found {
            prop_assert!(drops[r.end - 1].at - drops[r.start].at < window_ms);
        }
    }

    #[test]
    fn a_storm_is_exactly_a_burst_past_both_bounds(
        mut ats in proptest::collection::vec(0u64..10 * MIN, 0..120),
        fleet_size in 1u64..20_000,
        min_clients in 1u64..80,
        share_permille in 1u64..=1000,
    ) {
        ats.sort_unstable();
        let drops: Vec<DropRow> =
            ats.iter().enumerate().map(|(i, &at)| row(&format!("c-{i}"), at, "R")).collect();
        let settings = StormSettings {
            min_share: share_permille as f64 / 1000.0,
            min_clients,
            window_ms: 2 * MIN,
        };
        let burst = brute_densest(&ats, settings.window_ms) as u64;
        let storm = detect(&drops, fleet_size, &settings);
        prop_assert_eq!(storm.is_some(), settings.is_storm(burst, fleet_size));
        if let Some(storm) = storm {
            prop_assert_eq!(storm.clients, burst);
            prop_assert!(storm.last_drop_at - storm.first_drop_at < settings.window_ms);
            prop_assert!(storm.sample.len() <= SAMPLE);
            let reasons: u64 = storm.reasons.top.iter().map(|(_, n)| n).sum();
            prop_assert_eq!(reasons + storm.reasons.others, burst);
        }
    }
}

#[test]
fn a_mass_disconnect_makes_one_storm_with_its_breakdown() {
    let now = 100 * MIN;
    let mut drops = Vec::new();
    // 300 sensors and 100 gateways drop within 90 s; 5 earlier single drops.
    for i in 0..300 {
        drops.push(row(
            &format!("sensor-{i}"),
            now - 10 * MIN + i * 200,
            "CONNECTION_LOST",
        ));
    }
    for i in 0..100 {
        drops.push(row(
            &format!("gw-{i}"),
            now - 10 * MIN + 30_000 + i * 100,
            "SERVER_INITIATED_DISCONNECT",
        ));
    }
    for i in 0..5 {
        drops.push(row(
            &format!("pump{i}"),
            now - 50 * MIN + i * MIN,
            "MQTT_KEEP_ALIVE_TIMEOUT",
        ));
    }
    let view = incident(drops, fleet(9_595, 405), &StormSettings::DEFAULT, now);
    assert_eq!(
        view.dropped.iter().map(|d| d.clients).collect::<Vec<_>>(),
        [0, 400, 405]
    );
    let storm = view.storm.expect("400 of 10,000 within 90 s is a storm");
    assert_eq!(storm.clients, 400);
    assert!((storm.share - 0.04).abs() < 1e-12);
    assert_eq!(storm.first_drop_at, now - 10 * MIN);
    assert_eq!(storm.last_drop_at, now - 10 * MIN + 299 * 200);
    assert_eq!(
        storm.reasons.top,
        [
            ("CONNECTION_LOST".to_owned(), 300),
            ("SERVER_INITIATED_DISCONNECT".to_owned(), 100)
        ]
    );
    assert_eq!(
        storm.prefixes.top,
        [("sensor-".to_owned(), 300), ("gw-".to_owned(), 100)]
    );
    assert_eq!(storm.sample[0], "sensor-0");
    assert_eq!(view.prefixes.top[2], ("pump".to_owned(), 5));
    assert_eq!(view.newest[0], "sensor-299", "the newest drop first");
}

#[test]
fn steady_churn_is_no_storm() {
    let now = 100 * MIN;
    // 60 drops an hour, one a minute: never 50 within 2 minutes.
    let drops = (0..60)
        .map(|i| row(&format!("c-{i}"), now - i * MIN, "CONNECTION_LOST"))
        .collect();
    let view = incident(drops, fleet(1_000, 60), &StormSettings::DEFAULT, now);
    assert_eq!(view.storm, None);
    assert_eq!(view.dropped[2].clients, 60);
}

#[test]
fn drops_older_than_an_hour_are_left_out() {
    let now = 200 * MIN;
    let drops = vec![
        row("old-1", now - 61 * MIN, "R"),
        row("new-1", now - MIN, "R"),
    ];
    let view = incident(drops, fleet(0, 2), &StormSettings::DEFAULT, now);
    assert_eq!(view.dropped[2].clients, 1);
    assert_eq!(view.newest, ["new-1"]);
}

#[test]
fn breakdowns_keep_the_top_and_count_the_rest() {
    let keys = ["a", "b", "b", "c", "c", "c", "d", "e", "f", "g"];
    let b = Breakdown::of(keys);
    assert_eq!(b.top.len(), TOP);
    assert_eq!(b.top[0], ("c".to_owned(), 3));
    assert_eq!(b.top[1], ("b".to_owned(), 2));
    assert_eq!(b.others, 2, "f and g");
}

#[test]
fn an_empty_fleet_has_no_storm() {
    assert_eq!(detect(&[], 0, &StormSettings::DEFAULT), None);
    let one = [row("c-1", 5, "R")];
    let s = StormSettings {
        min_share: 1.0,
        min_clients: 1,
        window_ms: MIN,
    };
    assert_eq!(detect(&one, 0, &s), None);
    assert!(detect(&one, 1, &s).is_some());
}
