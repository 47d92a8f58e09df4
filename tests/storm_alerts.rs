//! Storm alerting end to end against the local server: a mass disconnect gets one storm notice,
//! its clients' single notices are held and recorded, their returns fold into one recovery
//! notice, and a client still offline a threshold past the end gets its single notice. A storm
//! of one prefix leaves the rest of the fleet alone, and a storm may start while another is
//! still recovering. Passes run every simulated minute, as the scheduled function does.

mod common;

use common::alerting::{fixture, kinds, settings, Fixture, MIN, T0};
use common::local::Received;
use iot_presence::alert::pass::RunReport;
use iot_presence::config::{AlertSettings, StormSettings};
use iot_presence::store::schema::attr;

fn storm_settings(min_clients: u64, min_share: f64) -> AlertSettings {
    AlertSettings {
        flapping_sessions: 0,
        storm: StormSettings {
            min_share,
            min_clients,
            window_ms: 2 * MIN,
        },
        ..settings()
    }
}

/// Connects `ids` at `at`.
async fn online(f: &Fixture, ids: &[String], at: u64) {
    for id in ids {
        f.connect(id, &format!("s-{id}"), at).await;
    }
}

/// Drops `ids` from `at`, one every `step` ms.
async fn drop_all(f: &Fixture, ids: &[String], at: u64, step: u64) {
    for (i, id) in ids.iter().enumerate() {
        let s = format!("s-{id}");
        f.disconnect(id, &s, at + i as u64 * step, "CONNECTION_LOST")
            .await;
    }
}

/// Passes every minute over `[from, to]`: the summed reports and everything delivered.
async fn passes(f: &Fixture, from: u64, to: u64) -> (RunReport, Vec<Received>) {
    let (mut total, mut all) = (RunReport::default(), Vec::new());
    let mut now = from;
    while now <= to {
        let (r, received) = f.pass(now).await;
        total.offline += r.offline;
        total.back_online += r.back_online;
        total.storms += r.storms;
        total.recoveries += r.recoveries;
        total.held += r.held;
        total.folded += r.folded;
        all.extend(received);
        now += MIN;
    }
    (total, all)
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:03}")).collect()
}

#[tokio::test]
async fn a_mass_disconnect_gets_one_storm_notice_and_one_recovery_notice() {
    let f = fixture(storm_settings(20, 0.1)).await;
    let fleet = ids("dev-", 100);
    online(&f, &fleet, T0).await;
    // 60 of 100 drop within 30 s.
    let down = T0 + 10 * MIN;
    let dropped = &fleet[..60];
    drop_all(&f, dropped, down, 500).await;

    // The minute passes while the storm lasts: one storm notice, no single notice.
    let (during, received) = passes(&f, down + MIN, down + 20 * MIN).await;
    assert_eq!(kinds(&received), ["storm"], "{received:?}");
    let storm = &received[0];
    let storm_id = format!("storm/*/{down}");
    assert_eq!(storm.message["alertId"], storm_id.as_str());
    assert_eq!(storm.message["clients"], 60);
    assert_eq!(storm.message["firstDropAt"], down);
    assert_eq!(storm.message["lastDropAt"], down + 59 * 500);
    assert_eq!(
        storm.message["disconnectReasons"]["top"][0],
        serde_json::json!(["CONNECTION_LOST", 60])
    );
    assert_eq!(
        storm.message["prefixes"]["top"][0],
        serde_json::json!(["dev-", 60])
    );
    assert_eq!(
        storm.message["sampleClientIds"].as_array().unwrap().len(),
        10
    );
    let share = storm.message["share"].as_f64().unwrap();
    assert!((0.55..=0.6).contains(&share), "60 of about 100: {share}");
    assert_eq!(storm.attributes["kind"]["Value"], "storm");
    assert_eq!(storm.attributes["prefix"]["Value"], "*");
    assert!(
        storm.subject.starts_with("[storm] 60 clients"),
        "{}",
        storm.subject
    );
    assert!(
        during.held >= 60,
        "every client held at its threshold: {during:?}"
    );

    // Held, and recorded on the client.
    let item = f.item("dev-007").await;
    let pending = item[attr::PENDING_OUTAGE].as_m().unwrap();
    assert_eq!(pending["heldBy"].as_s().unwrap(), &storm_id);
    assert!(!pending.contains_key("alertedAt"));
    let registry = f.store.storm_registry().await.unwrap();
    assert_eq!(registry.storms.len(), 1);
    assert!(registry.storms[0].ended_at.is_none());
    #[cfg(feature = "cli")]
    cli_shows_the_hold_and_the_storm(&f, &storm_id);

    // 55 come back (over RECOVERED_SHARE, 90%): one recovery notice; their returns send nothing.
    let back = down + 25 * MIN;
    for id in &dropped[..55] {
        f.connect(id, &format!("s-{id}"), back).await;
    }
    let (after, received) = passes(&f, back + MIN, back + 30 * MIN).await;
    let recovery: Vec<&Received> = received
        .iter()
        .filter(|r| r.message["kind"] == "recovery")
        .collect();
    assert_eq!(recovery.len(), 1, "{received:?}");
    let r = &recovery[0].message;
    assert_eq!(r["alertId"], format!("{storm_id}/recovery").as_str());
    assert_eq!(
        (r["recovered"].as_u64(), r["stillOffline"].as_u64()),
        (Some(55), Some(5))
    );
    assert!(r["lastedMs"].as_u64().unwrap() >= 25 * MIN);
    assert_eq!(recovery[0].attributes["kind"]["Value"], "recovery");
    assert_eq!(after.folded, 55, "{after:?}");
    assert_eq!(after.back_online, 0);
    // The 5 still offline a threshold past the end get their single notices, once.
    let singles: Vec<&str> = received
        .iter()
        .filter(|r| r.message["kind"] == "offline")
        .map(|r| r.message["clientId"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = dropped[55..].iter().map(String::as_str).collect();
    let mut got = singles.clone();
    got.sort_unstable();
    expected.sort_unstable();
    assert_eq!(got, expected);
    let ended = f.store.storm_registry().await.unwrap().storms[0].clone();
    let end = ended.ended_at.unwrap();
    let first_single = received
        .iter()
        .find(|r| r.message["kind"] == "offline")
        .unwrap();
    assert!(first_single.message["decidedAt"].as_u64().unwrap() >= end + 5 * MIN);
    assert_eq!(
        kinds(&received).len(),
        6,
        "one recovery and five singles: {received:?}"
    );
}

#[tokio::test]
async fn a_storm_of_one_prefix_holds_only_that_prefix() {
    let f = fixture(storm_settings(20, 0.2)).await;
    let pumps = ids("pump-", 100);
    let gateways = ids("gw-", 200);
    online(&f, &pumps, T0).await;
    online(&f, &gateways, T0).await;
    let down = T0 + 10 * MIN;
    // 40 of 100 pumps (13% of the fleet: not a fleet storm), and 3 gateways.
    drop_all(&f, &pumps[..40], down, 700).await;
    drop_all(&f, &gateways[..3], down, 5_000).await;

    let (_, received) = passes(&f, down + MIN, down + 12 * MIN).await;
    let storms: Vec<&Received> = received
        .iter()
        .filter(|r| r.message["kind"] == "storm")
        .collect();
    assert_eq!(storms.len(), 1, "{received:?}");
    assert_eq!(storms[0].message["prefix"], "pump-");
    assert_eq!(storms[0].message["clients"], 40);
    assert_eq!(storms[0].message["scopeSize"], 100);
    assert_eq!(storms[0].attributes["prefix"]["Value"], "pump-");
    // In any order: a pass publishes its notices concurrently.
    let mut offline: Vec<&str> = received
        .iter()
        .filter(|r| r.message["kind"] == "offline")
        .map(|r| r.message["clientId"].as_str().unwrap())
        .collect();
    offline.sort_unstable();
    assert_eq!(
        offline,
        ["gw-000", "gw-001", "gw-002"],
        "the rest is alerted as usual"
    );
    for r in received.iter().filter(|r| r.message["kind"] == "offline") {
        assert_eq!(r.attributes["prefix"]["Value"], "gw-");
    }
}

#[tokio::test]
async fn a_storm_that_starts_while_another_recovers_gets_its_own_notices() {
    let f = fixture(storm_settings(20, 0.1)).await;
    let fleet = ids("dev-", 120);
    online(&f, &fleet, T0).await;
    let first = T0 + 10 * MIN;
    drop_all(&f, &fleet[..50], first, 500).await;
    let (_, received) = passes(&f, first + MIN, first + 8 * MIN).await;
    assert_eq!(kinds(&received), ["storm"]);
    // Half are back: the first storm is still recovering when 40 others drop.
    for id in &fleet[..25] {
        f.connect(id, &format!("s-{id}"), first + 8 * MIN).await;
    }
    let second = first + 9 * MIN;
    drop_all(&f, &fleet[60..100], second, 500).await;
    let (_, received) = passes(&f, first + 9 * MIN, first + 20 * MIN).await;
    assert_eq!(kinds(&received), ["storm"], "{received:?}");
    assert_eq!(
        received[0].message["alertId"],
        format!("storm/*/{second}").as_str()
    );
    assert_eq!(received[0].message["clients"], 40);
    let registry = f.store.storm_registry().await.unwrap();
    assert_eq!(registry.storms.len(), 2);
    assert!(registry.storms.iter().all(|s| s.ended_at.is_none()));

    // Everyone back: two recovery notices, no single notice at all.
    let back = first + 21 * MIN;
    for id in fleet[25..50].iter().chain(&fleet[60..100]) {
        f.connect(id, &format!("s-{id}"), back).await;
    }
    let (after, received) = passes(&f, back + MIN, back + 12 * MIN).await;
    assert_eq!(kinds(&received), ["recovery", "recovery"], "{received:?}");
    assert_eq!(after.offline + after.back_online, 0);
    let registry = f.store.storm_registry().await.unwrap();
    assert!(registry
        .storms
        .iter()
        .all(|s| s.recovery_notified_at.is_some()));
}

#[tokio::test]
async fn drops_below_the_bounds_are_single_notices_as_before() {
    let f = fixture(storm_settings(20, 0.1)).await;
    let fleet = ids("dev-", 100);
    online(&f, &fleet, T0).await;
    let down = T0 + 10 * MIN;
    drop_all(&f, &fleet[..19], down, 500).await;
    let (report, received) = passes(&f, down + MIN, down + 8 * MIN).await;
    assert_eq!(report.storms, 0);
    assert_eq!(report.offline, 19);
    assert_eq!(kinds(&received).len(), 19);
    assert!(f.store.storm_registry().await.unwrap().storms.is_empty());
}

/// The CLI shows a held client's storm (`status`) and the storm (`storms`).
#[cfg(feature = "cli")]
fn cli_shows_the_hold_and_the_storm(f: &Fixture, storm_id: &str) {
    let run = |args: &[&str]| {
        let out = common::local::presence_command(&f.tables)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let status: serde_json::Value =
        serde_json::from_str(&run(&["-o", "json", "status", "dev-007"])).unwrap();
    assert_eq!(status["heldByStorm"], storm_id, "{status}");
    assert!(run(&["status", "dev-007"]).contains(&format!("held by {storm_id}")));
    let listed: serde_json::Value = serde_json::from_str(&run(&["-o", "json", "storms"])).unwrap();
    assert_eq!(listed[0]["id"], storm_id);
    assert_eq!(listed[0]["clients"], 60);
    let table = run(&["storms"]);
    assert!(
        table.contains(storm_id) && table.contains("open"),
        "{table}"
    );
}
