//! Changing the status index's shard count on a live table (`presence shards migrate --to N`):
//! every status item is re-keyed to its shard under the new count, resumably, while the
//! functions keep writing and every listing stays complete.
//!
//! 1. **Start**: the settings item ([`crate::store::shards`]) becomes `{statusShards: N,
//!    migratingFrom: old}`. From then on readers query the shards of both counts (the larger
//!    range covers both), so an item is found whichever count its shard follows.
//! 2. **Settle**: wait [`LAYOUT_TTL`], so that every writer's cached count is the new one; from
//!    then on no writer makes an item with an old shard.
//! 3. **Re-key**: a Scan of the status table (the one fleet-wide Scan besides `rebuild --all`:
//!    every item must be visited), a page at a time. An item whose `statusShard` is not its
//!    shard under N gets it, conditional on the shard being the one read (a writer that changed
//!    it meanwhile wrote the new count already). After each page the scan's position is saved in
//!    the settings item: a killed run resumes there.
//! 4. **Finish**: the settings item becomes `{statusShards: N}`; readers query N shards.
//!
//! A reader's cache may hold the old layout for [`LAYOUT_TTL`] after step 1; the settle wait is
//! why no item has left the old layout's shards before every cache has expired.
//!
//! **Plan** ([`Store::plan_migration`], `--dry-run`): the re-key step's Scan, the same pages,
//! writing nothing: how many items move, and the write units the run will consume, from
//! [`rekey_write_units`] (DynamoDB's charge for each re-key) and the settings item's writes.
//! The run measures what it consumed ([`Progress::rekey_write_units`]); `tests/shards.rs`
//! checks the two agree.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use thiserror::Error;

use crate::event::Presence;
use crate::read::{dynamo_error, ReadError};
use crate::store::capacity;
use crate::store::expr::{n, s, Expr};
use crate::store::schema::{attr, shard_of, status_partition};
pub use crate::store::shards::LAYOUT_TTL;
use crate::store::shards::{check_shard_count, field, ShardSettings, SETTINGS_KEY};
use crate::store::{Item, Store, StoreError};

mod plan;
pub use plan::{rekey_write_units, Plan, WriteUnits};

#[derive(Debug, Error)]
pub enum MigrateError {
    #[error("--to {to} is invalid: expected {expected}")]
    Bounds { to: u32, expected: String },
    #[error(
        "status table {table} is migrating from {from} to {to} shards; finish that first \
         (`presence shards migrate --to {to}`)"
    )]
    Busy { table: String, from: u32, to: u32 },
    #[error(
        "the shard settings of status table {table} changed while migrating to {to} shards \
         (another migration?); nothing more was written"
    )]
    Changed { table: String, to: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// What a migration has done so far, in this run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub from: u32,
    pub to: u32,
    pub scanned: u64,
    pub rekeyed: u64,
    /// Items a writer changed between the scan and the re-key (they carry the new count).
    pub skipped: u64,
    /// Scan pages re-keyed (each one's position saved in the settings item).
    pub pages: u64,
    /// The write units the re-keys consumed, as DynamoDB reported them (a refused re-key's
    /// derived from the item it returned, [`capacity`]): the settings item's writes are apart.
    pub rekey_write_units: WriteUnits,
    /// True once the re-key scan has reached the end of the table.
    pub scanned_all: bool,
}

/// A table's shard settings before any were written: the default count, no migration.
const UNSET_SETTINGS: ShardSettings = ShardSettings {
    status_shards: crate::config::DEFAULT_STATUS_SHARDS,
    migrating_from: None,
    migration_cursor: None,
};

impl Store {
    /// Steps 1 and 2: starts a migration to `to`, or joins the one already going there.
    /// `None` when the table already has `to` shards and nothing is migrating.
    pub async fn start_migration(
        &self,
        to: u32,
        settle: Duration,
    ) -> Result<Option<Progress>, MigrateError> {
        check_shard_count(to).map_err(|expected| MigrateError::Bounds { to, expected })?;
        let settings = self.shard_settings().await?.unwrap_or(UNSET_SETTINGS);
        let from = match self.migration_from(&settings, to)? {
            None => return Ok(None),
            Some((from, true)) => from,
            Some((_, false)) => {
                let mut e = Expr::new();
                e.set(field::STATUS_SHARDS, n(to));
                e.set(field::MIGRATING_FROM, n(settings.status_shards));
                e.remove(field::MIGRATION_CURSOR);
                // Only over the settings read: a concurrent start loses cleanly.
                let count = e.name(field::STATUS_SHARDS);
                let was = e.value("was", n(settings.status_shards));
                let from_name = e.name(field::MIGRATING_FROM);
                e.require(format!(
                    "(attribute_not_exists({count}) OR {count} = {was}) AND attribute_not_exists({from_name})"
                ));
                self.write_settings(e, to).await?;
                settings.status_shards
            }
        };
        self.layout.forget();
        tokio::time::sleep(settle).await;
        Ok(Some(Progress {
            from,
            to,
            ..Progress::default()
        }))
    }

    /// Where a migration to `to` starts from, and whether it resumes one under way; `None` when
    /// the table already has `to` shards. The real run and the dry run decide it here alike.
    fn migration_from(
        &self,
        settings: &ShardSettings,
        to: u32,
    ) -> Result<Option<(u32, bool)>, MigrateError> {
        match settings.migrating_from {
            Some(from) if settings.status_shards == to => Ok(Some((from, true))),
            Some(from) => Err(MigrateError::Busy {
                table: self.status_table.clone(),
                from,
                to: settings.status_shards,
            }),
            None if settings.status_shards == to => Ok(None),
            None => Ok(Some((settings.status_shards, false))),
        }
    }

    /// The dry run: what [`Store::migrate`] to `to` would re-key and consume, from a Scan of the
    /// same pages (the whole items, to size them), calling `on_page` after each. Writes
    /// nothing. `None` when the table already has `to` shards (the run would do nothing).
    pub async fn plan_migration(
        &self,
        to: u32,
        page_size: i32,
        mut on_page: impl FnMut(&Plan),
    ) -> Result<Option<Plan>, MigrateError> {
        check_shard_count(to).map_err(|expected| MigrateError::Bounds { to, expected })?;
        let stored = self.shard_settings().await?;
        let creates_settings = stored.is_none();
        let settings = stored.unwrap_or(UNSET_SETTINGS);
        let Some((from, resumes)) = self.migration_from(&settings, to)? else {
            return Ok(None);
        };
        let mut plan = Plan {
            from,
            to,
            resumes,
            ..Plan::default()
        };
        let (scanned, reads) = capacity::measure(async {
            let mut start = settings.migration_cursor.clone().filter(|_| resumes);
            loop {
                let page = self.scan_page(start, page_size, true).await?;
                plan.pages += 1;
                for item in page.items() {
                    plan.scanned += 1;
                    match classify(item, to) {
                        Class::Other => plan.other += 1,
                        Class::InPlace => plan.in_place += 1,
                        Class::Move { target, .. } => {
                            plan.rekey += 1;
                            plan.rekey_write_units.add(rekey_write_units(item, &target));
                        }
                    }
                }
                on_page(&plan);
                start = next_start(&page);
                if start.is_none() {
                    return Ok::<(), MigrateError>(());
                }
            }
        })
        .await;
        scanned?;
        plan.scan_read_units = reads.total().read;
        if creates_settings {
            // The run's start creates the settings item, and its scan meets it: one item more,
            // which adds a page when it fills the last one (a full page has a next position).
            plan.scanned += 1;
            plan.other += 1;
            if plan.scanned % page_size.max(1) as u64 == 0 {
                plan.pages += 1;
            }
        }
        plan.settings_write_units = plan.pages as f64 + if resumes { 1.0 } else { 2.0 };
        plan.write_units = plan.rekey_write_units.total() + plan.settings_write_units;
        Ok(Some(plan))
    }

    /// One page of the status table's Scan from `start` (a client id), strongly consistent;
    /// only the key and the shard unless `whole`. A Scan is charged on the items read whatever
    /// it projects, so the dry run (whole items) reads what the run does.
    async fn scan_page(
        &self,
        start: Option<String>,
        page_size: i32,
        whole: bool,
    ) -> Result<aws_sdk_dynamodb::operation::scan::ScanOutput, MigrateError> {
        let start = start.map(|id| [(attr::CLIENT_ID.to_owned(), s(&id))].into());
        let mut request = self
            .client
            .scan()
            .table_name(&self.status_table)
            .set_exclusive_start_key(start)
            .limit(page_size)
            .consistent_read(true);
        if !whole {
            let mut e = Expr::new();
            let (client, shard) = (e.name(attr::CLIENT_ID), e.name(attr::STATUS_SHARD));
            let built = e.build().map_err(StoreError::from)?;
            request = request
                .projection_expression(format!("{client}, {shard}"))
                .set_expression_attribute_names(built.names);
        }
        Ok(request
            .send()
            .await
            .map_err(dynamo_error("Scan", &self.status_table))?)
    }

    /// Step 3, one page: re-keys the items of one Scan page from the saved position, and saves
    /// the next. Sets `scanned_all` at the end of the table.
    pub async fn migrate_page(
        &self,
        progress: &mut Progress,
        page_size: i32,
    ) -> Result<(), MigrateError> {
        let settings = self.migration(progress.to).await?;
        let page = self
            .scan_page(settings.migration_cursor, page_size, false)
            .await?;
        progress.pages += 1;
        for item in page.items() {
            progress.scanned += 1;
            // Not a status item (the settings items), or on its shard already.
            let Class::Move { id, stored, target } = classify(item, progress.to) else {
                continue;
            };
            let mut e = Expr::new();
            e.set(attr::STATUS_SHARD, s(&target));
            let name = e.name(attr::STATUS_SHARD);
            let read = e.value("read", s(stored));
            e.require(format!("{name} = {read}"));
            let built = e.build().map_err(StoreError::from)?;
            let (written, tally) =
                capacity::measure(self.update_status_item(id, built, false)).await;
            progress
                .rekey_write_units
                .add(WriteUnits::of(&tally, &self.status_table));
            match written {
                Ok(Ok(_)) => progress.rekeyed += 1,
                Ok(Err(_)) => progress.skipped += 1,
                Err(source) => {
                    return Err(StoreError::UpdateStatus {
                        table: self.status_table.clone(),
                        client_id: id.to_owned(),
                        source,
                    }
                    .into())
                }
            }
        }
        let next = next_start(&page);
        let mut e = Expr::new();
        match &next {
            Some(id) => e.set(field::MIGRATION_CURSOR, s(id)),
            None => e.remove(field::MIGRATION_CURSOR),
        }
        self.require_migration(&mut e, progress.to);
        self.write_settings(e, progress.to).await?;
        progress.scanned_all = next.is_none();
        Ok(())
    }

    /// All four steps: starts (or joins) a migration to `to`, re-keys page by page (calling
    /// `on_page` after each, for a progress display), and finishes it. `None` when the table
    /// already has `to` shards. An error leaves the migration resumable from its saved
    /// position: run this again with the same `to`.
    pub async fn migrate(
        &self,
        to: u32,
        settle: Duration,
        page_size: i32,
        mut on_page: impl FnMut(&Progress),
    ) -> Result<Option<Progress>, MigrateError> {
        let Some(mut progress) = self.start_migration(to, settle).await? else {
            return Ok(None);
        };
        while !progress.scanned_all {
            self.migrate_page(&mut progress, page_size).await?;
            on_page(&progress);
        }
        self.finish_migration(&progress).await?;
        Ok(Some(progress))
    }

    /// Step 4: the table has `to` shards, and readers query only those.
    pub async fn finish_migration(&self, progress: &Progress) -> Result<(), MigrateError> {
        let mut e = Expr::new();
        e.remove(field::MIGRATING_FROM);
        e.remove(field::MIGRATION_CURSOR);
        self.require_migration(&mut e, progress.to);
        self.write_settings(e, progress.to).await?;
        self.layout.forget();
        Ok(())
    }

    /// The settings of the migration to `to`, or why it is not running.
    async fn migration(&self, to: u32) -> Result<ShardSettings, MigrateError> {
        match self.shard_settings().await? {
            Some(settings) if settings.status_shards == to && settings.migrating_from.is_some() => {
                Ok(settings)
            }
            _ => Err(MigrateError::Changed {
                table: self.status_table.clone(),
                to,
            }),
        }
    }

    fn require_migration(&self, e: &mut Expr, to: u32) {
        let (count, from) = (e.name(field::STATUS_SHARDS), e.name(field::MIGRATING_FROM));
        let to_value = e.value("to", n(to));
        e.require(format!("{count} = {to_value} AND attribute_exists({from})"));
    }

    async fn write_settings(&self, e: Expr, to: u32) -> Result<(), MigrateError> {
        match self
            .update_status_item(SETTINGS_KEY, e.build().map_err(StoreError::from)?, false)
            .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(MigrateError::Changed {
                table: self.status_table.clone(),
                to,
            }),
            Err(source) => Err(StoreError::UpdateStatus {
                table: self.status_table.clone(),
                client_id: SETTINGS_KEY.to_owned(),
                source,
            }
            .into()),
        }
    }
}

/// Where a Scan page ends: the client id to start the next one at, `None` at the end of the
/// table.
fn next_start(page: &aws_sdk_dynamodb::operation::scan::ScanOutput) -> Option<String> {
    page.last_evaluated_key()
        .and_then(|key| key.get(attr::CLIENT_ID))
        .and_then(|v| v.as_s().ok())
        .cloned()
}

/// What the re-key step makes of one scanned item.
enum Class<'a> {
    /// Not a status item (the settings items), or one whose shard this code does not write.
    Other,
    /// On its shard under the new count already.
    InPlace,
    /// Re-keyed from `stored` to `target`.
    Move {
        id: &'a str,
        stored: &'a str,
        target: String,
    },
}

fn classify(item: &Item, shards: u32) -> Class<'_> {
    let (Some(AttributeValue::S(id)), Some(AttributeValue::S(stored))) =
        (item.get(attr::CLIENT_ID), item.get(attr::STATUS_SHARD))
    else {
        return Class::Other;
    };
    match target_shard(id, stored, shards) {
        None => Class::Other,
        Some(None) => Class::InPlace,
        Some(Some(target)) => Class::Move { id, stored, target },
    }
}

/// The `statusShard` an item must get under `shards`: `Some(None)` when it has it already,
/// `None` when its shard is not one this code writes.
fn target_shard(client_id: &str, stored: &str, shards: u32) -> Option<Option<String>> {
    let presence = Presence::parse(stored.split_once('#')?.0)?;
    let target = status_partition(presence, shard_of(client_id, shards));
    Some((target != stored).then_some(target))
}

#[cfg(test)]
mod tests;
