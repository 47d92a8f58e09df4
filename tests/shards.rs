//! The status index's shard count on a live table: the settings item, the migration (complete
//! listings while it runs, resumed after an interruption, items re-keyed), its dry run (writes
//! nothing, counts what moves, predicts the write units the migration then consumes), its
//! refusal to run unasked without a terminal, the handler's check at cold start, bad input, and
//! a reconnect storm over many shards on which the handler, the alerter's gauges and the CLI
//! agree.

mod common;

use std::collections::BTreeSet;
use std::process::{Output, Stdio};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::local::{self, Tables, RECEIVED_LATER};
use common::storm::{event, fresh, listed, T0};
use iot_presence::event::Presence;
use iot_presence::functions::ingest::handle;
use iot_presence::migrate::MigrateError;
use iot_presence::read::FleetCounts;
use iot_presence::store::schema::{attr, status_shard};
use iot_presence::store::shards::ShardLayout;
use iot_presence::store::{Item, StoreError};
use serde_json::Value;

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

/// Every item of the status table, in key order: what "nothing written" is checked against.
async fn every_item(tables: &Tables) -> Vec<Item> {
    let client = local::client();
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(&tables.status)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    items.sort_by_key(|item| local::s(item, attr::CLIENT_ID).map(str::to_owned));
    items
}

/// `presence shards migrate --to 64 ARGS`, stdin not a terminal, no settle wait.
fn migrate_command(tables: &Tables, args: &[&str]) -> Output {
    local::presence_command(tables)
        .args([
            "shards",
            "migrate",
            "--to",
            "64",
            "--settle",
            "0s",
            "--page-size",
            "20",
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// [`migrate_command`] with `-o json`, which must succeed: its one JSON line.
fn migrate_json(tables: &Tables, args: &[&str]) -> Value {
    let out = migrate_command(tables, &[args, &["-o", "json"]].concat());
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `clients` clients through the handler, one in three offline (a disconnect puts them in the
/// alert index), then some made larger than 1 KB so that the units are not one per write:
/// a projected attribute (`thingName`, in both entries of the status index) on one in five
/// that move, an attribute the status index does not project on another one in five.
/// Returns how many items move to 64 shards.
async fn seed(tables: &Tables, clients: usize) -> u64 {
    let writer = fresh(tables);
    let raw = local::client();
    let mut moving = 0;
    for i in 0..clients {
        let id = format!("d-{i:03}");
        let connected = i % 3 != 0;
        handle(&writer, &event(&id, connected, 1, T0), RECEIVED_LATER)
            .await
            .unwrap();
        let presence = if connected {
            Presence::Connected
        } else {
            Presence::Disconnected
        };
        if status_shard(&id, presence, 16) == status_shard(&id, presence, 64) {
            continue;
        }
        let large = match moving % 5 {
            0 => Some((attr::THING_NAME, 1100)),
            1 => Some(("padding", 2100)),
            _ => None,
        };
        moving += 1;
        if let Some((name, bytes)) = large {
            raw.update_item()
                .table_name(&tables.status)
                .key(attr::CLIENT_ID, AttributeValue::S(id))
                .update_expression("SET #a = :v")
                .expression_attribute_names("#a", name)
                .expression_attribute_values(":v", AttributeValue::S("x".repeat(bytes)))
                .send()
                .await
                .unwrap();
        }
    }
    moving
}

fn units(v: &Value) -> [f64; 3] {
    ["table", "statusIndex", "alertIndex"].map(|k| v[k].as_f64().unwrap())
}

/// The dry run reads and writes nothing, counts the items that move, and predicts the write
/// units; the migration then consumes exactly those (measured by DynamoDB's own reports).
/// On a table with no settings item yet: 99 clients, so that the settings item the migration
/// creates fills the fifth page of 20 and adds a sixth, which the prediction includes.
#[tokio::test]
async fn a_dry_run_writes_nothing_and_predicts_what_the_migration_consumes() {
    let tables = local::create_tables().await;
    let moving = seed(&tables, 99).await;
    let before = every_item(&tables).await;
    assert_eq!(before.len(), 99);

    let dry = migrate_json(&tables, &["--dry-run"]);
    assert_eq!(
        every_item(&tables).await,
        before,
        "the dry run wrote nothing"
    );
    assert_eq!(fresh(&tables).shard_settings().await.unwrap(), None);
    println!("dry run: {dry}");
    assert_eq!(dry["dryRun"], true);
    assert_eq!(
        (dry["from"].as_u64(), dry["to"].as_u64()),
        (Some(16), Some(64))
    );
    assert_eq!(dry["resumes"], false);
    assert_eq!(dry["rekey"].as_u64(), Some(moving));
    assert_eq!(dry["inPlace"].as_u64(), Some(99 - moving));
    // The settings item the migration's start creates, which its scan meets.
    assert_eq!(
        (dry["other"].as_u64(), dry["scanned"].as_u64()),
        (Some(1), Some(100))
    );
    assert_eq!(dry["pages"].as_u64(), Some(6));
    assert_eq!(dry["settingsWriteUnits"].as_f64(), Some(6.0 + 2.0));
    let [table, status_index, alert_index] = units(&dry["rekeyWriteUnits"]);
    // Every re-key writes the item and two status-index entries; the larger ones more, and
    // the offline clients' alert-index entries too.
    assert!(table > moving as f64, "{dry}");
    assert!(status_index > 2.0 * moving as f64, "{dry}");
    assert!(alert_index > 0.0, "{dry}");
    assert_eq!(
        dry["writeUnits"].as_f64(),
        Some(table + status_index + alert_index + 8.0)
    );
    assert!(dry["scanReadUnits"].as_f64().unwrap() > 0.0, "{dry}");
    // The text says the same.
    let out = migrate_command(&tables, &["--dry-run"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("dry run, nothing written: status index 16 -> 64 shards")
            && text.contains(&format!(": {moving} status items to re-key, "))
            && text.contains(&format!(
                "write units of the migration: {} =",
                dry["writeUnits"].as_f64().unwrap()
            )),
        "{text}"
    );

    let run = migrate_json(&tables, &["--yes"]);
    println!("migration: {run}");
    assert_eq!(run["rekeyed"].as_u64(), Some(moving));
    assert_eq!(run["skipped"].as_u64(), Some(0));
    assert_eq!(run["scanned"], dry["scanned"]);
    assert_eq!(run["pages"], dry["pages"]);
    assert_eq!(
        units(&run["rekeyWriteUnits"]),
        [table, status_index, alert_index],
        "the re-keys consumed what the dry run predicted"
    );
    assert_eq!(
        run["writeUnits"], dry["writeUnits"],
        "and so did the whole run"
    );
    println!(
        "write units per re-keyed item: {:.3} ({moving} items: table {table}, status-index \
         {status_index}, alert-index {alert_index})",
        (table + status_index + alert_index) / moving as f64
    );
    for item in every_item(&tables).await {
        let (Some(id), Some(shard)) = (
            local::s(&item, attr::CLIENT_ID),
            local::s(&item, attr::STATUS_SHARD),
        ) else {
            continue;
        };
        let presence = Presence::parse(shard.split_once('#').unwrap().0).unwrap();
        assert_eq!(shard, status_shard(id, presence, 64), "{id}");
    }
    // Once migrated, the dry run has nothing to do.
    let again = migrate_json(&tables, &["--dry-run"]);
    assert_eq!(
        (again["rekey"].as_u64(), again["writeUnits"].as_f64()),
        (Some(0), Some(0.0))
    );
}

/// During a migration the dry run counts from its saved position, as the migration resumed
/// there does.
#[tokio::test]
async fn a_dry_run_of_a_migration_under_way_counts_from_its_saved_position() {
    let tables = local::create_tables().await;
    assert_eq!(
        fresh(&tables).adopt_shards(16).await.unwrap(),
        ShardLayout::DEFAULT
    );
    seed(&tables, 60).await;
    let first = fresh(&tables);
    let mut progress = first
        .start_migration(64, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    first.migrate_page(&mut progress, 20).await.unwrap();
    let before = every_item(&tables).await;

    let dry = migrate_json(&tables, &["--dry-run"]);
    assert_eq!(
        every_item(&tables).await,
        before,
        "the dry run wrote nothing"
    );
    assert_eq!(dry["resumes"], true);
    // 61 items (60 and the settings item), 20 of them re-keyed already.
    assert_eq!(
        (dry["scanned"].as_u64(), dry["pages"].as_u64()),
        (Some(41), Some(3))
    );
    assert_eq!(
        dry["settingsWriteUnits"].as_f64(),
        Some(3.0 + 1.0),
        "no start: joined"
    );

    let run = migrate_json(&tables, &["--yes"]);
    assert_eq!(run["rekeyed"], dry["rekey"]);
    assert_eq!(run["rekeyWriteUnits"], dry["rekeyWriteUnits"]);
    assert_eq!(run["writeUnits"], dry["writeUnits"]);
}

/// Without a terminal to ask on, `migrate` needs `--yes`: refused (usage, exit 2) before any
/// request, naming `--yes` and `--dry-run`; with it, the migration runs.
#[tokio::test]
async fn without_yes_and_a_terminal_the_migration_is_refused_and_writes_nothing() {
    let tables = local::create_tables().await;
    assert_eq!(
        fresh(&tables).adopt_shards(16).await.unwrap(),
        ShardLayout::DEFAULT
    );
    seed(&tables, 30).await;
    let before = every_item(&tables).await;
    let out = migrate_command(&tables, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stdin is not a terminal")
            && err.contains("--yes")
            && err.contains("--dry-run"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(every_item(&tables).await, before, "nothing written");

    let out = migrate_command(&tables, &["--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("status index: 64 shards (was 16);"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let layout = fresh(&tables).shard_layout().await.unwrap();
    assert_eq!((layout.status_shards, layout.migrating_from), (64, None));
    for item in every_item(&tables).await {
        if let (Some(id), Some(shard)) = (
            local::s(&item, attr::CLIENT_ID),
            local::s(&item, attr::STATUS_SHARD),
        ) {
            let presence = Presence::parse(shard.split_once('#').unwrap().0).unwrap();
            assert_eq!(shard, status_shard(id, presence, 64), "{id}");
        }
    }
}

/// A reconnect storm on a table with 128 shards (120 clients here; 1,500 in the opt-in scale
/// target): see [`common::storm::reconnect_storm`].
#[tokio::test]
async fn a_reconnect_storm_over_128_shards_is_counted_alike_everywhere() {
    common::storm::reconnect_storm(120, 128).await;
}
