//! A migration's arithmetic: the write units a re-key costs ([`rekey_write_units`]), and the
//! plan a dry run reports ([`Plan`]). Pure, apart from the tally it reads a run's units from.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::store::capacity::{item_size, Tally};
use crate::store::expr::s;
use crate::store::narrow::STATUS_INDEX_ATTRIBUTES;
use crate::store::schema::{attr, ALERT_INDEX, STATUS_INDEX};
use crate::store::Item;

/// Write units on the status table and each of its indexes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteUnits {
    pub table: f64,
    pub status_index: f64,
    pub alert_index: f64,
}

impl WriteUnits {
    pub fn total(&self) -> f64 {
        self.table + self.status_index + self.alert_index
    }

    pub(super) fn add(&mut self, other: WriteUnits) {
        self.table += other.table;
        self.status_index += other.status_index;
        self.alert_index += other.alert_index;
    }

    /// The write units (measured and refused) a tally holds on `table` and its indexes.
    pub(super) fn of(tally: &Tally, table: &str) -> WriteUnits {
        WriteUnits {
            table: tally.on(table, None).writes(),
            status_index: tally.on(table, Some(STATUS_INDEX)).writes(),
            alert_index: tally.on(table, Some(ALERT_INDEX)).writes(),
        }
    }
}

/// What a migration to `to` would do, from a Scan of the pages it would re-key (a dry run):
/// nothing is written.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub from: u32,
    pub to: u32,
    /// A migration to `to` is under way: the run joins it, and its scan (and this one) starts
    /// at the saved position.
    pub resumes: bool,
    /// Items and pages the run's scan will read. On a table with no settings item yet, that
    /// includes the settings item the run's start creates (and the page it may add).
    pub scanned: u64,
    pub pages: u64,
    /// Status items whose shard changes under `to`: the ones the run re-keys.
    pub rekey: u64,
    /// Status items on their shard under `to` already: not written.
    pub in_place: u64,
    /// Items that are not status items (the settings items): not written.
    pub other: u64,
    /// What the re-keys will consume: the sum of [`rekey_write_units`] over the items that
    /// move.
    pub rekey_write_units: WriteUnits,
    /// The settings item's writes, 1 unit each (a small item in no index): the start (not when
    /// joining), the saved position after each page, the finish.
    pub settings_write_units: f64,
    /// Everything the run will write: the re-keys and the settings item. Exact when no writer
    /// changes a scanned item meanwhile (the functions keep writing on a live table).
    pub write_units: f64,
    /// Read units this scan consumed, measured; the run's scan reads the same pages again.
    pub scan_read_units: f64,
}

/// What DynamoDB charges for re-keying `item` (as stored) to the shard `target`: one
/// UpdateItem that sets `statusShard`. Its write units, at 1 per KB begun of what is written
/// and at least 1 ([`item_size`] sizes items as DynamoDB does):
///
/// - the table: the larger of the item before and after;
/// - `status-index` (when the item is in it: it has both index keys): its index key changes,
///   so the old entry is deleted and the new one put, each charged on its own size (an entry
///   holds the index keys, the table key and the projected attributes,
///   [`STATUS_INDEX_ATTRIBUTES`]);
/// - `alert-index` (when the item is in it: clients with alert work due): it projects every
///   attribute, so the entry is rewritten in place, charged on the larger of before and after.
pub fn rekey_write_units(item: &Item, target: &str) -> WriteUnits {
    let mut moved = item.clone();
    moved.insert(attr::STATUS_SHARD.to_owned(), s(target));
    let table = write_units(item_size(item)).max(write_units(item_size(&moved)));
    let in_index = |hash: &str, range: &str| {
        matches!(item.get(hash), Some(AttributeValue::S(_)))
            && matches!(item.get(range), Some(AttributeValue::N(_)))
    };
    let status_entry = |item: &Item| -> usize {
        let entry: Item = STATUS_INDEX_ATTRIBUTES
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), item.get(*name)?.clone())))
            .collect();
        item_size(&entry)
    };
    WriteUnits {
        table,
        status_index: if in_index(attr::STATUS_SHARD, attr::EVENT_TIMESTAMP) {
            write_units(status_entry(item)) + write_units(status_entry(&moved))
        } else {
            0.0
        },
        alert_index: if in_index(attr::ALERT_SHARD, attr::ALERT_DUE_AT) {
            table
        } else {
            0.0
        },
    }
}

/// Write units of one write of `bytes`: 1 per KB begun, at least 1.
fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}
