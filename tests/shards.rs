//! The status index's shard count on a live table: the settings item, the migration (complete
//! listings while it runs, resumed after an interruption, items re-keyed), the handler's check
//! at cold start, bad input, and a reconnect storm over many shards on which the handler, the
//! alerter's gauges and the CLI agree.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::local::{self, Tables, RECEIVED_LATER};
use iot_presence::event::Presence;
use iot_presence::functions::ingest::handle;
use iot_presence::migrate::MigrateError;
use iot_presence::read::FleetCounts;
use iot_presence::rule::Window;
use iot_presence::store::schema::{attr, status_shard};
use iot_presence::store::shards::ShardLayout;
use iot_presence::store::{Store, StoreError};
use serde_json::json;

/// 2026-09-21T14:13:20Z
const T0: u64 = 1_790_000_000_000;

fn event(client_id: &str, connected: bool, version: u64, at: u64) -> String {
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
fn fresh(tables: &Tables) -> Store {
    local::store(&local::client(), tables, Window::DEFAULT)
}

/// Both listings, from a reader that has just started.
async fn listed(tables: &Tables) -> (BTreeSet<String>, BTreeSet<String>) {
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

#[tokio::test]
async fn a_migration_keeps_listings_complete_resumes_and_re_keys_every_item() {
    let tables = local::create_tables().await;
    let writer = fresh(&tables);
    assert_eq!(writer.adopt_shards(16).await.unwrap(), ShardLayout::DEFAULT);
    let (mut online, mut offline) = (BTreeSet::new(), BTreeSet::new());
    for i in 0..150 {
        let id = format!("m-{i:03}");
        let connected = i % 3 != 0;
        handle(&writer, &event(&id, connected, 1, T0), RECEIVED_LATER)
            .await
            .unwrap();
        if connected { &mut online } else { &mut offline }.insert(id);
    }
    assert_eq!(listed(&tables).await, (online.clone(), offline.clone()));

    // Start, then three pages, then "killed".
    let first = fresh(&tables);
    let mut progress = first
        .start_migration(64, Duration::ZERO)
        .await
        .unwrap()
        .expect("a migration starts");
    assert_eq!((progress.from, progress.to), (16, 64));
    for _ in 0..3 {
        first.migrate_page(&mut progress, 20).await.unwrap();
        assert_eq!(listed(&tables).await, (online.clone(), offline.clone()));
    }
    assert!(progress.rekeyed > 0, "{progress:?}");
    let before_kill = progress.scanned;

    // Meanwhile: a migration elsewhere is refused, a handler deployed with 32 is refused, one
    // with 16 (the old count) or 64 is accepted, and writers use 64.
    let busy = fresh(&tables).start_migration(32, Duration::ZERO).await;
    assert!(
        matches!(
            busy,
            Err(MigrateError::Busy {
                from: 16,
                to: 64,
                ..
            })
        ),
        "{busy:?}"
    );
    assert!(matches!(
        fresh(&tables).adopt_shards(32).await,
        Err(StoreError::ShardsDisagree { deployed: 32, .. })
    ));
    let new_writer = fresh(&tables);
    let layout = new_writer.adopt_shards(16).await.unwrap();
    assert_eq!((layout.status_shards, layout.read_shards()), (64, 64));
    for i in (0..150).step_by(10) {
        let id = format!("m-{i:03}");
        let connected = !online.contains(&id);
        handle(
            &new_writer,
            &event(&id, connected, 2, T0 + 1000),
            RECEIVED_LATER,
        )
        .await
        .unwrap();
        if connected {
            offline.remove(&id);
            online.insert(id);
        } else {
            online.remove(&id);
            offline.insert(id);
        }
    }
    assert_eq!(listed(&tables).await, (online.clone(), offline.clone()));

    // Resumed by another process: it joins the migration and goes on from the saved position.
    let second = fresh(&tables);
    let mut resumed = second
        .start_migration(64, Duration::ZERO)
        .await
        .unwrap()
        .expect("the migration is joined");
    while !resumed.scanned_all {
        second.migrate_page(&mut resumed, 20).await.unwrap();
        assert_eq!(listed(&tables).await, (online.clone(), offline.clone()));
    }
    assert!(
        resumed.scanned + before_kill <= 150 + 1 + 20,
        "resumed, not restarted: {resumed:?} after {before_kill}"
    );
    second.finish_migration(&resumed).await.unwrap();

    // Every item is on its shard under 64; readers query 64; the counts are the truth.
    for id in online.iter().chain(&offline) {
        let item = local::status_item(&local::client(), &tables, id)
            .await
            .unwrap();
        let presence = if online.contains(id) {
            Presence::Connected
        } else {
            Presence::Disconnected
        };
        assert_eq!(
            local::s(&item, attr::STATUS_SHARD),
            Some(status_shard(id, presence, 64).as_str()),
            "{id}"
        );
    }
    let reader = fresh(&tables);
    let layout = reader.shard_layout().await.unwrap();
    assert_eq!((layout.status_shards, layout.migrating_from), (64, None));
    assert_eq!(listed(&tables).await, (online.clone(), offline.clone()));
    assert_eq!(
        reader.fleet_counts().await.unwrap(),
        FleetCounts {
            connected: online.len() as u64,
            disconnected: offline.len() as u64
        }
    );
    // A handler still deployed with 16 is now refused, naming both counts.
    let err = fresh(&tables)
        .adopt_shards(16)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("STATUS_SHARDS=16") && err.contains("which has 64 shards"),
        "{err}"
    );
    // And the CLI says so.
    let out = local::presence_command(&tables)
        .args(["shards"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "status index: 64 shards"
    );
}

/// Bad input names what is wrong and writes nothing.
#[tokio::test]
async fn bad_shard_counts_are_refused_and_write_nothing() {
    let tables = local::create_tables().await;
    for (args, expected) in [
        (
            vec!["shards", "migrate", "--to", "0"],
            "0 is not in 1..=512",
        ),
        (
            vec!["shards", "migrate", "--to", "513"],
            "513 is not in 1..=512",
        ),
        (vec!["shards", "migrate", "--to", "many"], "invalid digit"),
        (vec!["shards", "migrate"], "--to <TO>"),
        (
            vec!["shards", "migrate", "--to", "8", "--sharp"],
            "unexpected argument '--sharp'",
        ),
    ] {
        let out = local::presence_command(&tables)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let store = fresh(&tables);
    assert!(matches!(
        store.adopt_shards(0).await,
        Err(StoreError::ShardCount { count: 0, .. })
    ));
    assert!(store.start_migration(1000, Duration::ZERO).await.is_err());
    assert_eq!(
        store.shard_settings().await.unwrap(),
        None,
        "nothing written"
    );
    // Migrating to the count the table has: nothing to do.
    assert!(store
        .start_migration(16, Duration::ZERO)
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.shard_settings().await.unwrap(), None);
}

/// A reconnect storm on a table with 128 shards: every client drops and comes back, the events
/// shuffled over 16 concurrent writers. The handler's answers, the alerter's gauges and the CLI
/// agree on the counts, and the listings hold every client.
#[tokio::test]
async fn a_reconnect_storm_over_128_shards_is_counted_alike_everywhere() {
    let clients: usize = std::env::var("STORM_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let tables = local::create_tables().await;
    let store = fresh(&tables);
    store.adopt_shards(128).await.unwrap();
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
    // The items are spread over the 128 shards (not 16).
    let shards: BTreeSet<String> = online
        .iter()
        .map(|id| status_shard(id, Presence::Connected, 128))
        .collect();
    assert!(shards.len() > 64, "{} shards used", shards.len());
}
