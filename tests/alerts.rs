//! Alerts end to end against the local server: events recorded by the real store, alert passes
//! at simulated times, notices read from an SQS queue subscribed to the SNS topic.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::alerting::{fixture, kinds, kinds_for, settings, PublishGate, MIN, T0};
use common::local;
use common::relay::LossyLink;
use iot_presence::alert::pass::{Alerter, LEASE_MS};
use iot_presence::event::LifecycleEvent;
use iot_presence::rule::Window;
use iot_presence::store::schema::attr;
use iot_presence::store::status::Missing;
use serde_json::json;

#[tokio::test]
async fn an_outage_gets_one_alert_at_its_threshold_and_none_before() {
    let f = fixture(settings()).await;
    f.connect("dev-1", "s1", T0).await;
    f.disconnect("dev-1", "s1", T0 + MIN, "CONNECTION_LOST")
        .await;
    let down = T0 + MIN;

    // The pass right after the disconnect only schedules it.
    let (report, received) = f.pass(down + 1000).await;
    assert!(received.is_empty());
    assert_eq!((report.due, report.scheduled), (1, 1));
    // One millisecond before the threshold: not even read.
    let (report, received) = f.pass(down + 5 * MIN - 1).await;
    assert!(received.is_empty());
    assert_eq!(report.due, 0);

    // At the threshold: exactly one offline alert.
    let (report, received) = f.pass(down + 5 * MIN).await;
    assert_eq!(report.offline, 1);
    assert_eq!(kinds(&received), ["offline"]);
    let alert = &received[0];
    assert_eq!(
        alert.message["alertId"],
        json!("offline/dev-1/s1#1"),
        "{alert:?}"
    );
    assert_eq!(alert.message["clientId"], "dev-1");
    assert_eq!(alert.message["disconnectedAt"], json!(down));
    assert_eq!(alert.message["disconnectReason"], "CONNECTION_LOST");
    assert_eq!(alert.message["thresholdMs"], json!(5 * MIN));
    assert_eq!(alert.message["offlineForMs"], json!(5 * MIN));
    assert_eq!(alert.message["returned"], false);
    assert_eq!(alert.subject, alert.message["subject"]);
    assert!(
        alert.subject.starts_with(
            "[offline] dev-1 disconnected since 2026-09-21T14:14:20Z (CONNECTION_LOST)"
        ),
        "{}",
        alert.subject
    );
    assert_eq!(alert.attributes["kind"]["Value"], "offline");
    assert_eq!(alert.attributes["clientId"]["Value"], "dev-1");

    // Never again for this disconnection: the item has left the alert index.
    for later in [down + 6 * MIN, down + 120 * MIN] {
        let (report, received) = f.pass(later).await;
        assert!(received.is_empty());
        assert_eq!(report.due, 0);
    }
    let item = f.item("dev-1").await;
    assert!(item.contains_key(attr::ALERT_SHARD));
    assert!(!item.contains_key(attr::ALERT_DUE_AT));
    let outage = item[attr::OUTAGE].as_m().unwrap();
    assert_eq!(local::n(outage, attr::ALERTED_AT), Some(down + 5 * MIN));
}

/// A client id with a newline and a NUL (the parser accepts them; AWS client ids are UTF-8) is
/// alerted: the `clientId` message attribute is sanitised as the subject is, the body keeps the
/// raw id.
#[tokio::test]
async fn a_client_id_with_control_characters_is_alerted_with_a_safe_attribute() {
    let f = fixture(settings()).await;
    let id = "line\nbreak\u{0}nul";
    f.connect(id, "s1", T0).await;
    f.disconnect(id, "s1", T0 + MIN, "CONNECTION_LOST").await;
    f.pass(T0 + MIN + 1000).await;
    let (report, received) = f.pass(T0 + 6 * MIN).await;
    assert_eq!(report.offline, 1);
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].message["clientId"], id);
    assert_eq!(
        received[0].attributes["clientId"]["Value"],
        "line?break?nul"
    );
    assert!(
        received[0].subject.contains("line?break?nul"),
        "{}",
        received[0].subject
    );
}

#[tokio::test]
async fn reconnecting_just_before_the_threshold_sends_nothing() {
    let f = fixture(settings()).await;
    f.disconnect("dev-2", "s1", T0, "CONNECTION_LOST").await;
    f.pass(T0 + 1000).await;
    f.connect("dev-2", "s2", T0 + 5 * MIN - 1).await;
    for now in [T0 + 5 * MIN, T0 + 6 * MIN, T0 + 60 * MIN] {
        let (_, received) = f.pass(now).await;
        assert!(received.is_empty(), "{received:?}");
    }
    let item = f.item("dev-2").await;
    assert!(!item.contains_key(attr::OUTAGE));
    assert!(
        !item.contains_key(attr::ALERT_SHARD),
        "a connected client with nothing pending leaves the index"
    );
}

#[tokio::test]
async fn returning_just_after_the_threshold_before_a_pass_sends_both_notices() {
    let f = fixture(settings()).await;
    f.disconnect("dev-3", "s1", T0, "SERVER_INITIATED_DISCONNECT")
        .await;
    f.pass(T0 + 1000).await;
    f.connect("dev-3", "s2", T0 + 5 * MIN + 1).await;
    let (report, received) = f.pass(T0 + 6 * MIN).await;
    assert_eq!(kinds(&received), ["offline", "back-online"]);
    assert_eq!(received[0].message["returned"], true);
    assert_eq!(received[0].message["offlineForMs"], json!(5 * MIN + 1));
    assert_eq!(received[1].message["outageMs"], json!(5 * MIN + 1));
    assert_eq!(received[1].message["backAt"], json!(T0 + 5 * MIN + 1));
    assert_eq!((report.offline, report.back_online), (1, 1));
    assert!(f.pass(T0 + 20 * MIN).await.1.is_empty());
}

#[tokio::test]
async fn back_online_follows_an_alert_with_the_outage() {
    let f = fixture(settings()).await;
    f.connect("dev-4", "s1", T0).await;
    f.disconnect("dev-4", "s1", T0 + MIN, "MQTT_KEEP_ALIVE_TIMEOUT")
        .await;
    f.pass(T0 + MIN + 1000).await;
    assert_eq!(kinds(&f.pass(T0 + 6 * MIN).await.1), ["offline"]);
    f.connect("dev-4", "s2", T0 + 13 * MIN).await;
    let (report, received) = f.pass(T0 + 14 * MIN).await;
    assert_eq!(report.back_online, 1);
    assert_eq!(kinds(&received), ["back-online"]);
    let m = &received[0].message;
    assert_eq!(m["alertId"], "back-online/dev-4/s1#1");
    assert_eq!(m["versionNumber"], 1);
    assert_eq!(m["outageMs"], json!(12 * MIN));
    assert_eq!(m["disconnectReason"], "MQTT_KEEP_ALIVE_TIMEOUT");
    assert_eq!(m["connected"], true);
    assert!(
        received[0].subject.contains("after 12m offline"),
        "{}",
        received[0].subject
    );
    // Closed: nothing more, and the client has left the index.
    assert!(f.pass(T0 + 30 * MIN).await.1.is_empty());
    assert!(!f.item("dev-4").await.contains_key(attr::ALERT_SHARD));

    // The next outage is a new one, with its own alert.
    f.disconnect("dev-4", "s2", T0 + 40 * MIN, "CONNECTION_LOST")
        .await;
    f.pass(T0 + 40 * MIN + 1000).await;
    let (_, received) = f.pass(T0 + 45 * MIN).await;
    assert_eq!(kinds(&received), ["offline"]);
    assert_eq!(received[0].message["alertId"], "offline/dev-4/s2#2");
}

/// A persistent session that drops, resumes and drops again: each connection's disconnect is its
/// own outage, with its own `offline` alert and `back-online` notice (a session-keyed outage
/// would take the second drop for the first, already alerted, and stay silent).
#[tokio::test]
async fn a_persistent_session_gets_an_alert_per_outage() {
    let f = fixture(settings()).await;
    f.connect("dev-p", "p", T0).await;
    f.disconnect("dev-p", "p", T0 + MIN, "CONNECTION_LOST")
        .await;
    f.pass(T0 + MIN + 1000).await;
    assert_eq!(kinds(&f.pass(T0 + 6 * MIN).await.1), ["offline"]);
    // Back in the same session (a new connection, version 2).
    f.connect("dev-p", "p", T0 + 10 * MIN).await;
    let item = f.item("dev-p").await;
    assert_eq!(
        item[attr::CONNECTED].as_bool().ok(),
        Some(&true),
        "{item:?}"
    );
    let (_, received) = f.pass(T0 + 11 * MIN).await;
    assert_eq!(kinds(&received), ["back-online"]);
    assert_eq!(received[0].message["alertId"], "back-online/dev-p/p#1");
    assert_eq!(received[0].message["outageMs"], json!(9 * MIN));
    // Drops again in the same session: a new outage, alerted at its own threshold.
    f.disconnect("dev-p", "p", T0 + 20 * MIN, "MQTT_KEEP_ALIVE_TIMEOUT")
        .await;
    f.pass(T0 + 20 * MIN + 1000).await;
    assert!(f.pass(T0 + 25 * MIN - 1).await.1.is_empty());
    let (_, received) = f.pass(T0 + 25 * MIN).await;
    assert_eq!(kinds(&received), ["offline"]);
    let m = &received[0].message;
    assert_eq!(m["alertId"], "offline/dev-p/p#2");
    assert_eq!(m["disconnectReason"], "MQTT_KEEP_ALIVE_TIMEOUT");
    // And back once more: the second outage's notice.
    f.connect("dev-p", "p", T0 + 31 * MIN).await;
    let (_, received) = f.pass(T0 + 32 * MIN).await;
    assert_eq!(kinds(&received), ["back-online"]);
    assert_eq!(received[0].message["alertId"], "back-online/dev-p/p#2");
    assert_eq!(received[0].message["outageMs"], json!(11 * MIN));
}

#[tokio::test]
async fn a_clients_own_threshold_applies_even_to_a_pending_outage() {
    let f = fixture(settings()).await;
    f.disconnect("dev-5", "s1", T0, "CONNECTION_LOST").await;
    f.pass(T0 + 1000).await; // pending until T0 + 5 min
    assert!(f
        .store
        .set_offline_threshold("dev-5", Some(2 * MIN), T0 + 30_000, Missing::Refuse)
        .await
        .unwrap());
    assert!(f.pass(T0 + 2 * MIN - 1).await.1.is_empty());
    let (_, received) = f.pass(T0 + 2 * MIN).await;
    assert_eq!(kinds(&received), ["offline"]);
    assert_eq!(received[0].message["thresholdMs"], json!(2 * MIN));

    // Refused for a client with no item: nothing is written.
    assert!(!f
        .store
        .set_offline_threshold("dev-6", Some(10 * MIN), T0, Missing::Refuse)
        .await
        .unwrap());
    assert!(f.store.status("dev-6").await.unwrap().is_none());
    // A threshold set before the first event is kept as a setting and used.
    f.store
        .set_offline_threshold("dev-6", Some(10 * MIN), T0, Missing::Create)
        .await
        .unwrap();
    // The settings-only item is due but holds no status: a pass settles it.
    f.disconnect("dev-6", "s1", T0 + MIN, "CONNECTION_LOST")
        .await;
    f.pass(T0 + MIN + 1000).await;
    assert!(f.pass(T0 + 10 * MIN).await.1.is_empty());
    assert_eq!(kinds(&f.pass(T0 + 11 * MIN).await.1), ["offline"]);
}

#[tokio::test]
async fn flapping_alerts_once_per_episode_and_names_a_shared_client_id() {
    let f = fixture(settings()).await;
    // Two processes share "dev-7": each connect takes the id from the other.
    let mut at = T0;
    let mut received_all = Vec::new();
    for i in 0..5 {
        let session = format!("s{i}");
        f.connect("dev-7", &session, at).await;
        f.pass(at + 1000)
            .await
            .1
            .into_iter()
            .for_each(|r| received_all.push(r));
        at += MIN;
        f.disconnect("dev-7", &session, at, "DUPLICATE_CLIENTID")
            .await;
        at += 10;
    }
    f.connect("dev-7", "s5", at).await;
    received_all.extend(f.pass(at + 1000).await.1);
    assert_eq!(kinds(&received_all), ["flapping"], "{received_all:?}");
    let m = &received_all[0].message;
    assert_eq!(m["sessions"], 3, "three sessions when first seen: {m}");
    assert_eq!(m["windowMs"], json!(10 * MIN));
    assert_eq!(m["disconnectReasons"], json!({"DUPLICATE_CLIENTID": 2}));
    assert!(m["diagnosis"]
        .as_str()
        .unwrap()
        .contains("two connections share the client id \"dev-7\""));
    assert!(received_all[0]
        .subject
        .contains("shared by two connections"));
    assert!(f.item("dev-7").await.contains_key(attr::FLAPPING));

    // Quiet: once the window thins out, the episode ends without a notice...
    let (report, received) = f.pass(at + 11 * MIN).await;
    assert!(received.is_empty());
    assert_eq!(report.settled, 1);
    assert!(!f.item("dev-7").await.contains_key(attr::FLAPPING));

    // ...and the next burst is a new episode with a new alert.
    let mut at = at + 30 * MIN;
    let start = at;
    let mut received = Vec::new();
    for i in 10..13 {
        let session = format!("s{i}");
        f.disconnect("dev-7", &format!("s{}", i - 1), at, "CONNECTION_LOST")
            .await;
        at += 10;
        f.connect("dev-7", &session, at).await;
        received.extend(f.pass(at + 1000).await.1);
        at += MIN;
    }
    assert_eq!(kinds(&received), ["flapping"]);
    assert_eq!(received[0].message["firstConnectAt"], json!(start + 10));
    assert_ne!(
        received[0].message["alertId"],
        received_all[0].message["alertId"]
    );
    assert_eq!(received[0].message["diagnosis"], serde_json::Value::Null);
}

/// Overlapping passes over the same due clients (40 here; 120 in the opt-in scale target):
/// each alert exactly once. See [`overlapping_passes_send_each_alert_exactly_once`].
#[tokio::test]
async fn overlapping_passes_send_each_alert_exactly_once() {
    common::alerting::overlapping_passes_send_each_alert_exactly_once(40).await;
}

/// Reconnects racing a pass at the threshold, each interleaving made certain: the pass's
/// notices go through a [`PublishGate`] that holds every `Publish`, so a reconnect written while
/// one is held lands between that client's claim and its commit. Clients that return before the
/// pass get nothing; clients that return mid-send are `raced` (the commit is refused, what was
/// sent is recorded, the client stays due) and get their `back-online` from the next pass;
/// clients that return after the pass get it the ordinary way. Each notice exactly once. Fails
/// if the raced path never runs (`raced` is counted exactly) or is broken: an unconditional
/// commit takes the client out of the index and its `back-online` is never sent; a dropped
/// record leaves the lease and the outage unrecorded.
#[tokio::test]
async fn reconnects_racing_a_pass_never_lose_or_repeat_a_notice() {
    let f = fixture(settings()).await;
    let mut gate = PublishGate::start();
    let gated = f.alerter_via(&gate.url);
    let clients: Vec<String> = (0..9).map(|i| format!("race-{i}")).collect();
    let group = |c: &str| match c.strip_prefix("race-").unwrap().parse::<u32>().unwrap() % 3 {
        0 => "before",
        1 => "mid-send",
        _ => "after",
    };
    for c in &clients {
        f.disconnect(c, "s1", T0, "CONNECTION_LOST").await;
    }
    f.pass(T0 + 1000).await;
    let threshold = T0 + 5 * MIN;
    for c in clients.iter().filter(|c| group(c) == "before") {
        f.connect(c, "s2", threshold - 1).await;
    }

    let pass = tokio::spawn(async move { gated.run(threshold).await });
    // One offline notice per client still away; each held while the test looks and writes.
    let away = clients.iter().filter(|c| group(c) != "before").count();
    let mut seen = HashSet::new();
    for _ in 0..away {
        let held = tokio::time::timeout(Duration::from_secs(30), gate.held.recv())
            .await
            .expect("a Publish reaches the gate within 30 s")
            .expect("the gate is open");
        assert_eq!(held.kind, "offline", "{}", held.client_id);
        assert!(
            seen.insert(held.client_id.clone()),
            "{} twice",
            held.client_id
        );
        let item = f.item(&held.client_id).await;
        assert!(
            item.contains_key(attr::ALERT_LEASE),
            "{}: the pass holds its claim while the notice is in flight: {item:?}",
            held.client_id
        );
        if group(&held.client_id) == "mid-send" {
            f.connect(&held.client_id, "s2", threshold + 1).await;
        }
        held.release();
    }
    let report = pass.await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.offline, away as u64, "{report:?}");
    assert_eq!(
        report.raced,
        clients.iter().filter(|c| group(c) == "mid-send").count() as u64,
        "every reconnect written mid-send is raced: {report:?}"
    );
    let mut received = f.sink.drain().await;
    for c in clients.iter().filter(|c| group(c) != "before") {
        let item = f.item(c).await;
        assert!(!item.contains_key(attr::ALERT_LEASE), "{c}: {item:?}");
        let outage = item[attr::OUTAGE].as_m().unwrap();
        assert_eq!(local::n(outage, attr::ALERTED_AT), Some(threshold), "{c}");
        assert_eq!(
            item.contains_key(attr::ALERT_DUE_AT),
            group(c) == "mid-send",
            "{c}: only a raced client stays due, for its new status: {item:?}"
        );
    }

    for c in clients.iter().filter(|c| group(c) == "after") {
        f.connect(c, "s2", threshold + 2).await;
    }
    let (report, more) = f.pass(threshold + MIN).await;
    assert_eq!(report.back_online, away as u64, "{report:?}");
    received.extend(more);
    assert!(f.pass(threshold + 2 * MIN).await.1.is_empty());
    for c in &clients {
        let mine = kinds_for(&received, c);
        let expected: &[&str] = match group(c) {
            "before" => &[],
            _ => &["offline", "back-online"],
        };
        assert_eq!(mine, expected, "{c} ({})", group(c));
        assert!(
            !f.item(c).await.contains_key(attr::ALERT_SHARD),
            "{c} settled"
        );
    }
}

/// The same race left to timing (one round of 40 clients here; three of 60 in the opt-in scale
/// target). See [`reconnects_at_random_points_of_a_pass_never_lose_or_repeat_a_notice`].
#[tokio::test]
async fn reconnects_at_random_points_of_a_pass_never_lose_or_repeat_a_notice() {
    common::alerting::reconnects_at_random_points_of_a_pass_never_lose_or_repeat_a_notice(1, 40)
        .await;
}

#[tokio::test]
async fn a_pass_that_fails_after_claiming_is_retried_once_the_lease_expires() {
    let f = fixture(settings()).await;
    f.disconnect("dev-8", "s1", T0, "CONNECTION_LOST").await;
    f.pass(T0 + 1000).await;
    // A pass whose publish fails (the topic does not exist) has claimed the client: the
    // situation of a pass that died between claim and send.
    let broken = Alerter::new(
        f.store.clone(),
        local::sns_client(),
        "arn:aws:sns:us-east-1:123456789012:no-such-topic",
        settings(),
    );
    let report = broken.run(T0 + 5 * MIN).await;
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert!(
        report.errors[0].contains("SNS Publish"),
        "{}",
        report.errors[0]
    );
    assert!(f.item("dev-8").await.contains_key(attr::ALERT_LEASE));

    // While the lease holds, other passes keep off.
    let (report, received) = f.pass(T0 + 6 * MIN).await;
    assert!(received.is_empty());
    assert_eq!(report.skipped, 1);
    // After it, the alert goes out, once.
    let (_, received) = f.pass(T0 + 5 * MIN + LEASE_MS + 1).await;
    assert_eq!(kinds(&received), ["offline"]);
    assert!(f.pass(T0 + 30 * MIN).await.1.is_empty());
    assert!(!f.item("dev-8").await.contains_key(attr::ALERT_LEASE));
}

/// Broker repairs (`reconciled` rows) and rejected events (`invalid` rows) are not connections:
/// two real connections plus three such rows in the window are not flapping (fails if the
/// alerter counts every row).
#[tokio::test]
async fn reconciled_and_invalid_rows_do_not_make_flapping() {
    use iot_presence::rule::Outcome;
    use iot_presence::store::events::event_row;
    let f = fixture(settings()).await;
    f.connect("calm", "s0", T0).await;
    f.disconnect("calm", "s0", T0 + MIN, "CONNECTION_LOST")
        .await;
    f.connect("calm", "s1", T0 + 2 * MIN).await;
    let mut rows = Vec::new();
    for (i, (session, outcome)) in [
        ("x1", Outcome::Invalid),
        ("x2", Outcome::Invalid),
        ("r1", Outcome::Reconciled),
    ]
    .into_iter()
    .enumerate()
    {
        let payload = json!({"clientId": "calm", "timestamp": T0 + 3 * MIN + i as u64,
            "eventType": "connected", "sessionIdentifier": session, "versionNumber": 90 + i})
        .to_string();
        let event = LifecycleEvent::parse(&payload).unwrap();
        rows.push(event_row(&event, &event.event_key(), &payload, outcome, T0, 30).to_item());
    }
    local::put_rows(&f.client, &f.tables.events, rows).await;
    let (_, received) = f.pass(T0 + 4 * MIN).await;
    assert_eq!(kinds(&received), Vec::<String>::new(), "{received:?}");
}

/// Every claim, commit and record of a pass loses its first answer, after DynamoDB applied the
/// write (a [`LossyLink`]): the SDK retries, the retry's condition fails on the pass's own
/// write, and the pass must take that refusal as its own. Six clients go offline; two of them
/// reconnect while their notice is held at a [`PublishGate`], so their commit is refused for
/// real and their record loses its answer too. Each notice goes out exactly once, in the pass
/// that is due to send it: without the `alertPass` check, the lost claims are `skipped` and the
/// notices wait a whole lease; the lost commits and records end as `LeaseLost` errors.
#[tokio::test]
async fn answers_lost_after_a_pass_s_own_writes_neither_delay_nor_repeat_a_notice() {
    let f = fixture(settings()).await;
    let link = LossyLink::start(attr::ALERT_PASS);
    let mut gate = PublishGate::start();
    let lossy_store = local::store(&link.client(), &f.tables, Window::DEFAULT);
    let lossy = f.alerter_on(lossy_store, &gate.url);
    let clients: Vec<String> = (0..6).map(|i| format!("lossy-{i}")).collect();
    let mid_send = |c: &str| c.ends_with('1') || c.ends_with('4');
    for c in &clients {
        f.disconnect(c, "s1", T0, "CONNECTION_LOST").await;
    }
    f.pass(T0 + 1000).await;
    let threshold = T0 + 5 * MIN;

    let pass = tokio::spawn(async move { lossy.run(threshold).await });
    for _ in 0..clients.len() {
        let held = tokio::time::timeout(Duration::from_secs(30), gate.held.recv())
            .await
            .expect("a Publish reaches the gate within 30 s")
            .expect("the gate is open");
        if mid_send(&held.client_id) {
            f.connect(&held.client_id, "s2", threshold + 1).await;
        }
        held.release();
    }
    let report = pass.await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        (report.offline, report.skipped, report.raced),
        (6, 0, 2),
        "{report:?}"
    );
    // Six claims, six commits (two refused for real), two records: each lost its first answer.
    assert_eq!(link.lost(), 14, "the lossy path ran for every write");
    let mut received = f.sink.drain().await;
    assert_eq!(kinds(&received), ["offline"; 6]);
    for c in &clients {
        let item = f.item(c).await;
        assert!(!item.contains_key(attr::ALERT_LEASE), "{c}: {item:?}");
        assert!(item.contains_key(attr::ALERT_PASS), "{c}: {item:?}");
    }

    // The raced two get their back-online from the next pass, the rest after they return.
    for c in clients.iter().filter(|c| !mid_send(c)) {
        f.connect(c, "s2", threshold + 2).await;
    }
    let (report, more) = f.pass(threshold + MIN).await;
    assert_eq!(report.back_online, 6, "{report:?}");
    received.extend(more);
    for c in &clients {
        assert_eq!(kinds_for(&received, c), ["offline", "back-online"], "{c}");
    }
}

/// A pass that reaches its deadline mid-fleet starts no more clients, leaves them due, and the
/// next pass sends their notices: every client exactly one `offline`, none lost. The deadlines
/// grow from a millisecond until a pass runs out of time after starting some clients but not
/// all; the test fails if no pass was ever cut that way (the hand-over path never ran).
#[tokio::test]
async fn a_pass_out_of_time_hands_the_rest_to_the_next_pass() {
    let f = fixture(settings()).await;
    let clients: Vec<String> = (0..300).map(|i| format!("late-{i:03}")).collect();
    for c in &clients {
        f.disconnect(c, "s1", T0, "CONNECTION_LOST").await;
    }
    let now = T0 + 6 * MIN;
    let mut cut_mid_fleet = 0;
    let mut sent = Vec::new();
    let mut budget = Duration::from_millis(1);
    for attempt in 0..40 {
        let deadline = tokio::time::Instant::now() + budget;
        let report = f.alerter.run_until(now + attempt, Some(deadline)).await;
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let started = report.due - report.deferred;
        assert_eq!(
            report.offline + report.skipped,
            started,
            "every client started is sent or found taken: {report:?}"
        );
        if report.deferred > 0 && started > 0 {
            cut_mid_fleet += 1;
        }
        sent.extend(f.sink.drain().await);
        if report.deferred == 0 {
            break;
        }
        budget = budget.mul_f64(1.5);
    }
    assert!(cut_mid_fleet > 0, "no pass ran out of time mid-fleet");
    let ids: HashSet<&str> = sent
        .iter()
        .map(|r| r.message["clientId"].as_str().unwrap())
        .collect();
    assert_eq!(sent.len(), clients.len(), "one notice per client");
    assert_eq!(ids.len(), clients.len(), "no client twice, none lost");
    assert!(kinds(&sent).iter().all(|k| k == "offline"));
    let (report, rest) = f.pass(now + 100).await;
    assert!(rest.is_empty(), "nothing left: {report:?}");
}
