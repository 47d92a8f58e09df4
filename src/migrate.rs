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

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use thiserror::Error;

use crate::event::Presence;
use crate::read::{dynamo_error, ReadError};
use crate::store::expr::{n, s, Expr};
use crate::store::schema::{attr, shard_of, status_partition};
pub use crate::store::shards::LAYOUT_TTL;
use crate::store::shards::{check_shard_count, field, ShardSettings, SETTINGS_KEY};
use crate::store::{Store, StoreError};

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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub from: u32,
    pub to: u32,
    pub scanned: u64,
    pub rekeyed: u64,
    /// Items a writer changed between the scan and the re-key (they carry the new count).
    pub skipped: u64,
    /// True once the re-key scan has reached the end of the table.
    pub scanned_all: bool,
}

impl Store {
    /// Steps 1 and 2: starts a migration to `to`, or joins the one already going there.
    /// `None` when the table already has `to` shards and nothing is migrating.
    pub async fn start_migration(
        &self,
        to: u32,
        settle: Duration,
    ) -> Result<Option<Progress>, MigrateError> {
        check_shard_count(to).map_err(|expected| MigrateError::Bounds { to, expected })?;
        let settings = self.shard_settings().await?.unwrap_or(ShardSettings {
            status_shards: crate::config::DEFAULT_STATUS_SHARDS,
            migrating_from: None,
            migration_cursor: None,
        });
        let from = match settings.migrating_from {
            Some(from) if settings.status_shards == to => from,
            Some(from) => {
                return Err(MigrateError::Busy {
                    table: self.status_table.clone(),
                    from,
                    to: settings.status_shards,
                })
            }
            None if settings.status_shards == to => return Ok(None),
            None => {
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

    /// Step 3, one page: re-keys the items of one Scan page from the saved position, and saves
    /// the next. Sets `scanned_all` at the end of the table.
    pub async fn migrate_page(
        &self,
        progress: &mut Progress,
        page_size: i32,
    ) -> Result<(), MigrateError> {
        let settings = self.migration(progress.to).await?;
        let mut e = Expr::new();
        let (client, shard) = (e.name(attr::CLIENT_ID), e.name(attr::STATUS_SHARD));
        let built = e.build().map_err(StoreError::from)?;
        let start = settings
            .migration_cursor
            .map(|id| [(attr::CLIENT_ID.to_owned(), s(&id))].into());
        let page = self
            .client
            .scan()
            .table_name(&self.status_table)
            .projection_expression(format!("{client}, {shard}"))
            .set_expression_attribute_names(built.names)
            .set_exclusive_start_key(start)
            .limit(page_size)
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo_error("Scan", &self.status_table))?;
        for item in page.items() {
            progress.scanned += 1;
            let (Some(AttributeValue::S(id)), Some(AttributeValue::S(stored))) =
                (item.get(attr::CLIENT_ID), item.get(attr::STATUS_SHARD))
            else {
                continue; // the settings item, or settings without a status
            };
            let Some(target) = target_shard(id, stored, progress.to) else {
                continue;
            };
            let mut e = Expr::new();
            e.set(attr::STATUS_SHARD, s(&target));
            let name = e.name(attr::STATUS_SHARD);
            let read = e.value("read", s(stored));
            e.require(format!("{name} = {read}"));
            match self
                .update_status_item(id, e.build().map_err(StoreError::from)?, false)
                .await
            {
                Ok(Ok(_)) => progress.rekeyed += 1,
                Ok(Err(_)) => progress.skipped += 1,
                Err(source) => {
                    return Err(StoreError::UpdateStatus {
                        table: self.status_table.clone(),
                        client_id: id.clone(),
                        source,
                    }
                    .into())
                }
            }
        }
        let next = page
            .last_evaluated_key()
            .and_then(|key| key.get(attr::CLIENT_ID))
            .and_then(|v| v.as_s().ok())
            .cloned();
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

/// The `statusShard` an item must get under `shards`, or `None` when it has it already (or its
/// shard is not one this code writes).
fn target_shard(client_id: &str, stored: &str, shards: u32) -> Option<String> {
    let presence = Presence::parse(stored.split_once('#')?.0)?;
    let target = status_partition(presence, shard_of(client_id, shards));
    (target != stored).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_items_off_their_new_shard_move_and_keep_their_state() {
        let id = "sensor-42";
        let under_16 = status_partition(Presence::Connected, shard_of(id, 16));
        let under_64 = status_partition(Presence::Connected, shard_of(id, 64));
        assert_eq!(target_shard(id, &under_64, 64), None);
        if under_16 != under_64 {
            assert_eq!(target_shard(id, &under_16, 64), Some(under_64.clone()));
        }
        let offline = status_partition(Presence::Disconnected, 3);
        let moved = target_shard(id, &offline, 64).unwrap_or(offline);
        assert!(moved.starts_with("disconnected#"), "{moved}");
        assert_eq!(target_shard(id, "garbage", 64), None);
    }
}
