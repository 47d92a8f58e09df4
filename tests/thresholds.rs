//! Offline thresholds by client-id pattern (`OFFLINE_THRESHOLDS`) drive real alert passes: a
//! client's own threshold first, then the first matching pattern, then the default.

mod common;

use common::alerting::{fixture, kinds, settings, MIN, T0};
use iot_presence::config::AlertSettings;
use iot_presence::store::status::Missing;
use serde_json::json;

#[tokio::test]
async fn each_client_is_alerted_at_its_own_then_its_patterns_then_the_default_threshold() {
    let f = fixture(AlertSettings {
        thresholds: "gw-*=2m,sensor-*=30m,sensor-slow-*=2h".parse().unwrap(),
        ..settings()
    })
    .await;
    // sensor-7 has its own threshold: it beats the pattern.
    f.store
        .set_offline_threshold("sensor-7", Some(3 * MIN), T0, Missing::Create)
        .await
        .unwrap();
    for client in ["gw-1", "sensor-1", "sensor-7", "sensor-slow-1", "pump-1"] {
        f.disconnect(client, "s1", T0 + 1000, "CONNECTION_LOST")
            .await;
    }
    f.pass(T0 + 2000).await;

    // (pass time, who is alerted, at which threshold)
    let expected = [
        (2 * MIN, "gw-1", 2 * MIN),
        (3 * MIN, "sensor-7", 3 * MIN),
        (5 * MIN, "pump-1", 5 * MIN),
        // First match: sensor-slow-1 matches sensor-* before sensor-slow-*.
        (30 * MIN, "sensor-1", 30 * MIN),
    ];
    let mut alerted = Vec::new();
    for (at, client, threshold) in expected {
        // Nothing one millisecond before the threshold.
        let (_, before) = f.pass(T0 + 1000 + at - 1).await;
        assert!(before.is_empty(), "before {client}: {before:?}");
        let (_, received) = f.pass(T0 + 1000 + at).await;
        let clients: Vec<&str> = received
            .iter()
            .map(|r| r.message["clientId"].as_str().unwrap())
            .collect();
        let expected_clients: &[&str] = if client == "sensor-1" {
            &["sensor-1", "sensor-slow-1"]
        } else {
            &[client]
        };
        let mut clients = clients;
        clients.sort_unstable();
        assert_eq!(clients, expected_clients, "at +{} min", at / MIN);
        assert!(kinds(&received).iter().all(|k| k == "offline"));
        assert!(received
            .iter()
            .all(|r| r.message["thresholdMs"] == json!(threshold)));
        alerted.extend(clients.into_iter().map(str::to_owned));
    }
    assert_eq!(alerted.len(), 5);
    // Nothing more, even past the longest pattern.
    assert!(f.pass(T0 + 3 * 60 * MIN).await.1.is_empty());
}
