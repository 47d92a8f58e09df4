//! A reconnect storm against the local server on a table with many shards: every client drops
//! and comes back, the events shuffled over 16 concurrent writers. The handler's answers, the
//! fleet count the alerter's gauges use, the listings and `presence summary` must agree.

use std::collections::BTreeSet;

use iot_presence::event::Presence;
use iot_presence::functions::ingest::handle;
use iot_presence::read::FleetCounts;
use iot_presence::rule::Window;
use iot_presence::store::schema::status_shard;
use iot_presence::store::Store;
use serde_json::json;

use super::local::{self, Tables, RECEIVED_LATER};

/// 2026-09-21T14:13:20Z
pub const T0: u64 = 1_790_000_000_000;

/// A lifecycle event of one connection (`s-<id>`, `version`) at `at`.
pub fn event(client_id: &str, connected: bool, version: u64, at: u64) -> String {
    let mut e = json!({
        "clientId": client_id, "timestamp": at,
        "eventType": if connected { "connected" } else { "disconnected" },
        "sessionIdentifier": format!("s-{client_id}"), "versionNumber": version,
    });
    if !connected {
        e["disconnectReason"] = json!("CONNECTION_LOST");
    }
    e.to_string()
}

/// A store with its own cache: what a newly started reader or writer knows.
pub fn fresh(tables: &Tables) -> Store {
    local::store(&local::client(), tables, Window::DEFAULT)
}

/// Both listings, from a reader that has just started.
pub async fn listed(tables: &Tables) -> (BTreeSet<String>, BTreeSet<String>) {
    let reader = fresh(tables);
    let ids = |items: Vec<iot_presence::store::item::Status>| {
        items
            .into_iter()
            .map(|s| s.client_id)
            .collect::<BTreeSet<_>>()
    };
    let connected = reader
        .list(Presence::Connected, None, None, Some(7))
        .await
        .unwrap();
    let disconnected = reader
        .list(Presence::Disconnected, None, None, Some(7))
        .await
        .unwrap();
    (ids(connected), ids(disconnected))
}

/// A reconnect storm on a table with `shards` shards: every client drops and comes back, the events
/// shuffled over 16 concurrent writers. The handler's answers, the alerter's gauges and the CLI
/// agree on the counts, and the listings hold every client.
pub async fn reconnect_storm(clients: usize, shards: u32) {
    let tables = local::create_tables().await;
    let store = fresh(&tables);
    store.adopt_shards(shards).await.unwrap();
    // Each client: connected (v1), dropped (v1), back (v2); a tenth stay away.
    let mut events = Vec::new();
    for i in 0..clients {
        let id = format!("storm-{i:05}");
        events.push(event(&id, true, 1, T0));
        events.push(event(&id, false, 1, T0 + 60_000));
        if i % 10 != 0 {
            events.push(event(&id, true, 2, T0 + 120_000 + i as u64));
        }
    }
    // A fixed shuffle (an LCG), so a failure replays.
    let mut seed: u64 = 42;
    for i in (1..events.len()).rev() {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        events.swap(i, (seed >> 33) as usize % (i + 1));
    }
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..16 {
        let (store, events) = (fresh(&tables), events.clone());
        writers.spawn(async move {
            let mut applied = 0u64;
            for e in events.iter().skip(w).step_by(16) {
                let r = handle(&store, e, RECEIVED_LATER).await.unwrap();
                applied += u64::from(r.outcome == iot_presence::rule::Outcome::Applied);
            }
            applied
        });
    }
    let mut applied = 0;
    while let Some(done) = writers.join_next().await {
        applied += done.unwrap();
    }
    assert!(applied >= clients as u64, "{applied}");
    let away = clients.div_ceil(10) as u64;
    let truth = FleetCounts {
        connected: clients as u64 - away,
        disconnected: away,
    };
    assert_eq!(fresh(&tables).fleet_counts().await.unwrap(), truth);
    let (online, offline) = listed(&tables).await;
    assert_eq!(
        (online.len() as u64, offline.len() as u64),
        (truth.connected, truth.disconnected)
    );
    let out = local::presence_command(&tables)
        .args(["--output", "json", "summary"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["connected"], truth.connected, "{summary}");
    assert_eq!(summary["disconnected"], truth.disconnected, "{summary}");
    // The items are spread over the shards (more than the default 16 hold).
    let used: BTreeSet<String> = online
        .iter()
        .map(|id| status_shard(id, Presence::Connected, shards))
        .collect();
    assert!(used.len() > 16, "{} shards used", used.len());
}
