//! The status index's shard count on a live table: the settings item, the migration (complete
//! listings while it runs, resumed after an interruption, items re-keyed), the handler's check
//! at cold start, bad input, and a reconnect storm over many shards on which the handler, the
//! alerter's gauges and the CLI agree.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::local::{self, RECEIVED_LATER};
use common::storm::{event, fresh, listed, T0};
use iot_presence::event::Presence;
use iot_presence::functions::ingest::handle;
use iot_presence::migrate::MigrateError;
use iot_presence::read::FleetCounts;
use iot_presence::store::schema::{attr, status_shard};
use iot_presence::store::shards::ShardLayout;
use iot_presence::store::StoreError;

#[tokio::test]
async fn a_migration_keeps_listings_complete_resumes_and_re_keys_every_item() {
    let tables = local::create_tables().await;
    let writer = fresh(&tables);
    assert_eq!(writer.adopt_shards(16).await.unwrap(), ShardLayout::DEFAULT);
    let (mut online, mut offline) = (BTreeSet::new(), BTreeSet::new());
    for i in 0..90 {
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
    for i in (0..90).step_by(10) {
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
        resumed.scanned + before_kill <= 90 + 1 + 20,
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

/// A reconnect storm on a table with 128 shards (120 clients here; 1,500 in the opt-in scale
/// target): see [`common::storm::reconnect_storm`].
#[tokio::test]
async fn a_reconnect_storm_over_128_shards_is_counted_alike_everywhere() {
    common::storm::reconnect_storm(120, 128).await;
}
