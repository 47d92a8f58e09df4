//! The status index's shard count, kept in the status table itself, so that every reader (the
//! alerter, the widget, the CLI) learns it without configuration, and never queries a shard
//! that does not exist.
//!
//! The count lives in one settings item, keyed [`SETTINGS_KEY`]. It has no `statusShard` and no
//! `alertShard`, so no listing and no alert pass ever sees it, and the event parser refuses that
//! key as a client id. A table without the item (one made before shard counts could change)
//! has the default, [`DEFAULT_STATUS_SHARDS`].
//!
//! The handler's deployed count (`STATUS_SHARDS`, the `StatusShards` parameter) initialises the
//! item on first use, and must agree with it afterwards: [`Store::adopt_shards`] refuses a
//! deployment whose count is neither the table's nor, during a migration, the one being left.
//! Writers and readers alike use the item's count, cached for [`LAYOUT_TTL`]: during a
//! migration ([`crate::migrate`]) every writer moves to the new count within that time, which
//! is what lets the migration finish.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::expr::{n, s, Expr};
use super::item::{from_item, ItemProblem, MalformedItem};
use super::schema::attr;
use super::{Store, StoreError};
use crate::config::{DEFAULT_STATUS_SHARDS, MAX_STATUS_SHARDS, MIN_STATUS_SHARDS};

/// The `clientId` of the settings item; the parser refuses it as a client id.
pub const SETTINGS_KEY: &str = crate::event::RESERVED_CLIENT_ID;

/// How long a process trusts the count it read: writers move to a migration's new count within
/// this time, and the migration waits this long before its final check.
pub const LAYOUT_TTL: Duration = Duration::from_secs(30);

/// The settings item's attributes (besides `clientId`).
pub mod field {
    pub const STATUS_SHARDS: &str = "statusShards";
    pub const MIGRATING_FROM: &str = "migratingFrom";
    pub const MIGRATION_CURSOR: &str = "migrationCursor";
}

/// How the status index is sharded now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardLayout {
    /// The count writers use.
    pub status_shards: u32,
    /// During a migration, the count being left: items may still carry its shards.
    pub migrating_from: Option<u32>,
}

impl ShardLayout {
    pub const DEFAULT: ShardLayout = ShardLayout {
        status_shards: DEFAULT_STATUS_SHARDS,
        migrating_from: None,
    };

    /// The shards a reader queries (0 to this, per state). During a migration an item carries
    /// a shard of either count; the shard numbers of the larger count include the smaller's.
    pub fn read_shards(&self) -> u32 {
        self.status_shards.max(self.migrating_from.unwrap_or(0))
    }

    /// Whether a handler deployed with `deployed` shards may write to this table.
    pub fn accepts(&self, deployed: u32) -> bool {
        deployed == self.status_shards || Some(deployed) == self.migrating_from
    }
}

/// A shard count within [`MIN_STATUS_SHARDS`]..=[`MAX_STATUS_SHARDS`], or why not.
pub fn check_shard_count(count: u32) -> Result<u32, String> {
    if (MIN_STATUS_SHARDS..=MAX_STATUS_SHARDS).contains(&count) {
        Ok(count)
    } else {
        Err(format!(
            "a shard count from {MIN_STATUS_SHARDS} to {MAX_STATUS_SHARDS} (got {count})"
        ))
    }
}

/// The settings item, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardSettings {
    pub status_shards: u32,
    pub migrating_from: Option<u32>,
    /// The last client id a migration re-keyed up to (its scan's position), to resume from.
    pub migration_cursor: Option<String>,
}

impl ShardSettings {
    pub fn layout(&self) -> ShardLayout {
        ShardLayout {
            status_shards: self.status_shards,
            migrating_from: self.migrating_from,
        }
    }
}

/// The cached layout of one [`Store`] (shared by its clones).
#[derive(Debug, Clone, Default)]
pub struct LayoutCache(Arc<Mutex<Option<(Instant, ShardLayout)>>>);

impl LayoutCache {
    fn get(&self) -> Option<ShardLayout> {
        let cached = *self.0.lock().expect("layout cache poisoned");
        cached
            .filter(|(at, _)| at.elapsed() < LAYOUT_TTL)
            .map(|(_, layout)| layout)
    }

    fn put(&self, layout: ShardLayout) {
        *self.0.lock().expect("layout cache poisoned") = Some((Instant::now(), layout));
    }

    pub fn forget(&self) {
        *self.0.lock().expect("layout cache poisoned") = None;
    }
}

impl Store {
    /// The settings item, read strongly consistent; `None` on a table that has none.
    pub async fn shard_settings(&self) -> Result<Option<ShardSettings>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.status_table)
            .key(attr::CLIENT_ID, s(SETTINGS_KEY))
            .consistent_read(true)
            .send()
            .await
            .map_err(|source| StoreError::GetSettings {
                table: self.status_table.clone(),
                key: SETTINGS_KEY,
                source: Box::new(source),
            })?;
        let Some(mut item) = output.item else {
            return Ok(None);
        };
        item.remove(attr::CLIENT_ID);
        let settings = from_item(item).map_err(|err| {
            MalformedItem::new(&self.status_table, SETTINGS_KEY, ItemProblem::from(err))
        })?;
        Ok(Some(settings))
    }

    /// The layout in force, read at most every [`LAYOUT_TTL`].
    pub async fn shard_layout(&self) -> Result<ShardLayout, StoreError> {
        if let Some(layout) = self.layout.get() {
            return Ok(layout);
        }
        // Boxed: the SDK's future is deep, and every reader awaits this one inside its own.
        let layout = Box::pin(self.shard_settings())
            .await?
            .map_or(ShardLayout::DEFAULT, |s| s.layout());
        self.layout.put(layout);
        Ok(layout)
    }

    /// At the handler's cold start: the table's layout, initialised to `deployed` when it has
    /// none. A deployment the table does not accept is an error naming both counts.
    pub async fn adopt_shards(&self, deployed: u32) -> Result<ShardLayout, StoreError> {
        check_shard_count(deployed).map_err(|expected| StoreError::ShardCount {
            count: deployed,
            expected,
        })?;
        let layout = match self.shard_settings().await? {
            Some(settings) => settings.layout(),
            None => {
                let mut e = Expr::new();
                e.set(field::STATUS_SHARDS, n(deployed));
                let key = e.name(attr::CLIENT_ID);
                e.require(format!("attribute_not_exists({key})"));
                match self
                    .update_status_item(SETTINGS_KEY, e.build()?, false)
                    .await
                {
                    Ok(_) => {}
                    Err(source) => {
                        return Err(StoreError::UpdateStatus {
                            table: self.status_table.clone(),
                            client_id: SETTINGS_KEY.to_owned(),
                            source,
                        })
                    }
                }
                // Written, or another cold start wrote it first: read what is there.
                self.shard_settings()
                    .await?
                    .map_or(ShardLayout::DEFAULT, |s| s.layout())
            }
        };
        if !layout.accepts(deployed) {
            return Err(StoreError::ShardsDisagree {
                table: self.status_table.clone(),
                deployed,
                layout,
            });
        }
        self.layout.put(layout);
        Ok(layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_migration_reads_both_layouts_and_accepts_both_deployments() {
        let growing = ShardLayout {
            status_shards: 64,
            migrating_from: Some(16),
        };
        assert_eq!(growing.read_shards(), 64);
        assert!(growing.accepts(64) && growing.accepts(16) && !growing.accepts(32));
        let shrinking = ShardLayout {
            status_shards: 8,
            migrating_from: Some(16),
        };
        assert_eq!(shrinking.read_shards(), 16);
        assert_eq!(ShardLayout::DEFAULT.read_shards(), DEFAULT_STATUS_SHARDS);
        assert!(!ShardLayout::DEFAULT.accepts(32));
    }

    #[test]
    fn shard_counts_are_bounded() {
        assert!(check_shard_count(0)
            .unwrap_err()
            .contains("from 1 to 512 (got 0)"));
        assert!(check_shard_count(513).is_err());
        assert_eq!(check_shard_count(1), Ok(1));
        assert_eq!(check_shard_count(512), Ok(512));
    }
}
