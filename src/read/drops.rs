//! Who dropped, and how many: the reads a storm needs (the alerter's watch, the incident view).
//!
//! Every read here is a query of the disconnected shards of the status index by disconnect
//! time, so its cost follows the drops in the range, not the fleet. [`Store::drops`] reads only
//! the three attributes of a [`DropRow`] and decodes each page as it comes: 200,000 drops take
//! about 20 MB, inside a 128 MB function.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{dynamo_error, ReadError, ShardQuery, ShardResult};
use crate::event::Presence;
use crate::store::item::Item;
use crate::store::schema::{attr, REASON_UNKNOWN};
use crate::store::Store;

/// One client that is disconnected now, as the status index shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropRow {
    pub client_id: String,
    /// The disconnect's event timestamp (ms).
    pub at: u64,
    pub reason: String,
}

impl DropRow {
    /// An index entry's place in a listing: its timestamp and client id.
    pub(super) fn position(item: &Item) -> Option<(u64, &str)> {
        let at = match item.get(attr::EVENT_TIMESTAMP) {
            Some(AttributeValue::N(n)) => n.parse().ok()?,
            _ => return None,
        };
        match item.get(attr::CLIENT_ID) {
            Some(AttributeValue::S(id)) => Some((at, id.as_str())),
            _ => None,
        }
    }

    /// The drop an index entry (or a status item) shows; `None` without a client id or a
    /// timestamp (no disconnected status lacks them).
    pub fn from_item(item: Item) -> Option<DropRow> {
        let text = |name: &str| match item.get(name) {
            Some(AttributeValue::S(s)) => Some(s.clone()),
            _ => None,
        };
        let at = match item.get(attr::EVENT_TIMESTAMP) {
            Some(AttributeValue::N(n)) => n.parse().ok()?,
            _ => return None,
        };
        Some(DropRow {
            client_id: text(attr::CLIENT_ID)?,
            at,
            reason: text(attr::DISCONNECT_REASON).unwrap_or_else(|| REASON_UNKNOWN.to_owned()),
        })
    }
}

impl Store {
    /// Clients disconnected now whose disconnect is in `[from, before)`, in no order; at most
    /// about `cap` of them (each shard's earliest `cap / shards`), so that memory stays bounded
    /// whatever the drop.
    pub async fn drops(
        &self,
        from: u64,
        before: Option<u64>,
        cap: Option<usize>,
    ) -> Result<Vec<DropRow>, ReadError> {
        let shards = self.shard_layout().await?.read_shards().max(1) as usize;
        let q = ShardQuery {
            from: Some(from),
            before,
            drops_only: true,
            limit: cap.map(|c| c.div_ceil(shards)),
            ..ShardQuery::new(Presence::Disconnected)
        };
        let mut all = Vec::new();
        for result in self.query_shards(q).await? {
            if let ShardResult::Drops(drops) = result {
                all.extend(drops);
            }
        }
        Ok(all)
    }

    /// Clients disconnected now whose disconnect is in `[from, before)` and whose id begins
    /// with `id_prefix` (any, when `None`), by COUNT queries.
    pub async fn dropped_between(
        &self,
        from: u64,
        before: u64,
        id_prefix: Option<&str>,
    ) -> Result<u64, ReadError> {
        self.count(ShardQuery {
            from: Some(from),
            before: Some(before),
            id_prefix: id_prefix.map(Into::into),
            ..ShardQuery::new(Presence::Disconnected)
        })
        .await
    }

    /// Clients whose id begins with `id_prefix`, connected or not, by COUNT queries of every
    /// shard (a read of the whole index: the alerter asks only for a prefix that may be in a
    /// storm).
    pub async fn clients_with_prefix(&self, id_prefix: &str) -> Result<u64, ReadError> {
        let q = |presence| ShardQuery {
            id_prefix: Some(id_prefix.into()),
            ..ShardQuery::new(presence)
        };
        let (connected, disconnected) = tokio::try_join!(
            self.count(q(Presence::Connected)),
            self.count(q(Presence::Disconnected)),
        )?;
        Ok(connected + disconnected)
    }

    /// The status table's item count as DynamoDB reports it (`DescribeTable`): free of read
    /// capacity, and refreshed by DynamoDB about every six hours, so it lags a fleet that is
    /// growing fast. The storm watch takes it as the fleet's size.
    pub async fn status_item_count(&self) -> Result<u64, ReadError> {
        let output = self
            .client
            .describe_table()
            .table_name(&self.status_table)
            .send()
            .await
            .map_err(dynamo_error("DescribeTable", &self.status_table))?;
        Ok(output
            .table
            .and_then(|t| t.item_count)
            .map_or(0, |n| n.max(0) as u64))
    }
}

/// A client's place in a listing's oldest-first order: its state's timestamp, then its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    pub at: u64,
    pub client_id: String,
}

impl Store {
    /// The next `limit` clients in `presence` (with a timestamp before `before`, when given)
    /// after `after`, oldest first: each shard's from `after`'s timestamp on, by pages of
    /// clientId and eventTimestamp only, merged. A sweep of any size pages through its scope
    /// with this, holding one page at a time; each page reads at most `limit` entries a shard.
    pub async fn oldest_page(
        &self,
        presence: Presence,
        before: Option<u64>,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Vec<Position>, ReadError> {
        let q = ShardQuery {
            from: after.map(|p| p.at),
            before,
            drops_only: true,
            // Each shard's first `limit` past the cursor (ties at its time skipped in the shard).
            after: after.map(|p| (p.at, p.client_id.as_str().into())),
            limit: Some(limit),
            // A cursor is exact only if a shard's page never ends inside a millisecond.
            whole_ms: true,
            page_size: Some(i32::try_from(limit).unwrap_or(i32::MAX)),
            ..ShardQuery::new(presence)
        };
        let mut all: Vec<Position> = Vec::new();
        for result in self.query_shards(q).await? {
            if let ShardResult::Drops(rows) = result {
                all.extend(rows.into_iter().map(|r| Position {
                    at: r.at,
                    client_id: r.client_id,
                }));
            }
        }
        all.retain(|p| after.is_none_or(|a| p > a));
        all.sort_unstable();
        all.truncate(limit);
        Ok(all)
    }
}
