//! The read path: what dashboards and the `presence` CLI ask of the tables, each answered by a
//! key lookup or an index query, never a Scan (the one exception, `all_client_ids`, is for the
//! fleet-wide `rebuild --all` recovery and says so).
//!
//! Fleet-wide questions go to the status index, whose partition key is sharded
//! (`connected#00` … `disconnected#15` with the default 16 shards): the shards of the table's
//! layout ([`crate::store::shards`]; both layouts during a migration) are queried in parallel
//! and merged.

mod drops;
mod listing;
mod summary;

use std::collections::HashSet;

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use aws_sdk_dynamodb::Client;
use thiserror::Error;
use tokio::task::JoinSet;

pub use drops::{DropRow, Position};
pub use listing::{Listing, Order};
pub use summary::{offline_alert, AlertPage, Alerted, Summary, OFFLINE_BUCKETS_MS};

use crate::event::Presence;
use crate::store::capacity::carried;
use crate::store::expr::{n, s, Expr, ExprError};
use crate::store::item::{EventRow, Item, ItemProblem, MalformedItem, Status};
use crate::store::schema::{attr, status_partition, STATUS_INDEX};
use crate::store::{Store, StoreError};

#[derive(Debug, Error)]
pub enum ReadError {
    #[error("DynamoDB {operation} on table {table} failed")]
    Dynamo {
        operation: &'static str,
        table: String,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug: an expression bound a placeholder twice (see [`crate::store::expr`]).
    #[error("building a DynamoDB expression failed")]
    Expression(#[from] ExprError),
}

pub(crate) fn dynamo_error<E>(operation: &'static str, table: &str) -> impl FnOnce(E) -> ReadError
where
    aws_sdk_dynamodb::Error: From<E>,
{
    let table = table.to_owned();
    move |err| ReadError::Dynamo {
        operation,
        table,
        source: Box::new(aws_sdk_dynamodb::Error::from(err)),
    }
}

/// How many clients are connected and disconnected ([`Store::fleet_counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetCounts {
    pub connected: u64,
    pub disconnected: u64,
}

/// Shard queries one listing or count runs at once.
const SHARDS_IN_FLIGHT: usize = 16;

/// Which items of one index shard to read.
#[derive(Debug, Clone)]
struct ShardQuery {
    presence: Presence,
    /// Only items with `eventTimestamp < before`.
    before: Option<u64>,
    /// Only items with `eventTimestamp >= from`.
    from: Option<u64>,
    count_only: bool,
    /// Stop after this many items (per shard).
    limit: Option<usize>,
    page_size: Option<i32>,
    /// Read only `disconnectReason` and `outage` (and keys).
    reasons_only: bool,
    /// Each shard's items newest first (`ScanIndexForward = false`), so that a per-shard
    /// `limit` keeps the newest.
    newest_first: bool,
    /// Read only what a [`DropRow`] holds, decoded page by page (a storm's drops stay small).
    drops_only: bool,
    /// Only clients whose id begins with this (a filter: the read capacity is the same).
    id_prefix: Option<std::sync::Arc<str>>,
    /// With `drops_only`: only rows past this place in (timestamp, client id) order.
    after: Option<(u64, std::sync::Arc<str>)>,
}

impl ShardQuery {
    fn new(presence: Presence) -> Self {
        ShardQuery {
            presence,
            before: None,
            from: None,
            count_only: false,
            limit: None,
            page_size: None,
            reasons_only: false,
            newest_first: false,
            drops_only: false,
            id_prefix: None,
            after: None,
        }
    }
}

enum ShardResult {
    Count(u64),
    Items(Vec<Item>),
    Drops(Vec<DropRow>),
}

async fn query_shard(
    client: Client,
    table: String,
    shard: u32,
    q: ShardQuery,
) -> Result<ShardResult, ReadError> {
    let mut e = Expr::new();
    let shard_name = e.name(attr::STATUS_SHARD);
    let shard_value = e.value("shard", s(status_partition(q.presence, shard)));
    let mut condition = format!("{shard_name} = {shard_value}");
    let ts = || "#".to_owned() + attr::EVENT_TIMESTAMP;
    match (q.from, q.before) {
        (Some(from), Some(before)) => {
            e.name(attr::EVENT_TIMESTAMP);
            let (from, last) = (
                e.value("from", n(from)),
                e.value("last", n(before.saturating_sub(1))),
            );
            condition.push_str(&format!(" AND {} BETWEEN {from} AND {last}", ts()));
        }
        (Some(from), None) => {
            e.name(attr::EVENT_TIMESTAMP);
            let from = e.value("from", n(from));
            condition.push_str(&format!(" AND {} >= {from}", ts()));
        }
        (None, Some(before)) => {
            e.name(attr::EVENT_TIMESTAMP);
            let before = e.value("before", n(before));
            condition.push_str(&format!(" AND {} < {before}", ts()));
        }
        (None, None) => {}
    }
    let projection = if q.reasons_only {
        Some(
            [attr::CLIENT_ID, attr::DISCONNECT_REASON, attr::OUTAGE]
                .map(|a| e.name(a))
                .join(", "),
        )
    } else if q.drops_only {
        Some(
            [
                attr::CLIENT_ID,
                attr::EVENT_TIMESTAMP,
                attr::DISCONNECT_REASON,
            ]
            .map(|a| e.name(a))
            .join(", "),
        )
    } else {
        None
    };
    if let Some(prefix) = &q.id_prefix {
        let (id, p) = (e.name(attr::CLIENT_ID), e.value("prefix", s(&**prefix)));
        e.filter(format!("begins_with({id}, {p})"));
    }
    e.require(condition);
    let built = e.build()?;
    let mut request = client
        .query()
        .table_name(&table)
        .index_name(STATUS_INDEX)
        .set_key_condition_expression(built.condition)
        .set_expression_attribute_names(built.names)
        .set_expression_attribute_values(built.values)
        .set_filter_expression(built.filter)
        .set_limit(q.page_size)
        .scan_index_forward(!q.newest_first);
    if q.count_only {
        request = request.select(Select::Count);
    } else {
        request = request.set_projection_expression(projection);
    }
    let mut pages = request.into_paginator().send();
    let mut count = 0u64;
    let mut items = Vec::new();
    let mut drops = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(dynamo_error("Query", &table))?;
        count += page.count() as u64;
        if q.drops_only {
            let rows = page.items.unwrap_or_default().into_iter();
            let past = |d: &DropRow| {
                q.after
                    .as_ref()
                    .is_none_or(|(at, id)| (d.at, d.client_id.as_str()) > (*at, &**id))
            };
            drops.extend(rows.filter_map(DropRow::from_item).filter(past));
            if q.limit.is_some_and(|limit| drops.len() >= limit) {
                break;
            }
            continue;
        }
        items.extend(page.items.unwrap_or_default());
        if q.limit.is_some_and(|limit| items.len() >= limit) {
            break;
        }
    }
    Ok(if q.count_only {
        ShardResult::Count(count)
    } else if q.drops_only {
        ShardResult::Drops(drops)
    } else {
        ShardResult::Items(items)
    })
}

impl Store {
    /// Decodes a status item (or an index entry's projection of one).
    fn decode_status(&self, item: Item) -> Result<Status, ReadError> {
        let client_id = item
            .get(attr::CLIENT_ID)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        Status::from_item(item).map_err(|err| {
            MalformedItem::new(&self.status_table, &client_id, ItemProblem::from(err)).into()
        })
    }

    /// All shards of a query, in parallel.
    async fn query_shards(&self, q: ShardQuery) -> Result<Vec<ShardResult>, ReadError> {
        let shards = self.shard_layout().await?.read_shards();
        let mut tasks = JoinSet::new();
        let mut results = Vec::with_capacity(shards as usize);
        for shard in 0..shards {
            // At most SHARDS_IN_FLIGHT at once: with hundreds of shards, one listing must not
            // open hundreds of connections (several listings run side by side in `summary`).
            if tasks.len() >= SHARDS_IN_FLIGHT {
                let done = tasks.join_next().await.expect("a task is in flight");
                results.push(done.expect("shard query task panicked")?);
            }
            tasks.spawn(carried(query_shard(
                self.client.clone(),
                self.status_table.clone(),
                shard,
                q.clone(),
            )));
        }
        while let Some(done) = tasks.join_next().await {
            results.push(done.expect("shard query task panicked")?);
        }
        Ok(results)
    }

    async fn count(&self, q: ShardQuery) -> Result<u64, ReadError> {
        let q = ShardQuery {
            count_only: true,
            ..q
        };
        Ok(self
            .query_shards(q)
            .await?
            .into_iter()
            .map(|r| match r {
                ShardResult::Count(c) => c,
                ShardResult::Items(i) => i.len() as u64,
                ShardResult::Drops(d) => d.len() as u64,
            })
            .sum())
    }

    /// The fleet gauges: connected and disconnected clients, by COUNT queries over the
    /// shards of the status index (2 × its shard count), in parallel. Exact when no state change lands while it
    /// counts (a client that changes state meanwhile may be counted in both or neither). Its
    /// cost follows the index size, not the changes: docs/observability.md "Fleet gauges" has the sums.
    pub async fn fleet_counts(&self) -> Result<FleetCounts, ReadError> {
        let (connected, disconnected) = tokio::try_join!(
            self.count(ShardQuery::new(Presence::Connected)),
            self.count(ShardQuery::new(Presence::Disconnected)),
        )?;
        Ok(FleetCounts {
            connected,
            disconnected,
        })
    }

    /// Clients disconnected now whose disconnect is at or after `from` (ms), by COUNT queries
    /// of the disconnected shards: a bounded read however large the drop.
    pub async fn dropped_since(&self, from: u64) -> Result<u64, ReadError> {
        self.count(ShardQuery {
            from: Some(from),
            ..ShardQuery::new(Presence::Disconnected)
        })
        .await
    }

    /// One client's status by key; `None` for a client never seen.
    pub async fn status(&self, client_id: &str) -> Result<Option<Status>, ReadError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.status_table)
            .key(attr::CLIENT_ID, AttributeValue::S(client_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo_error("GetItem", &self.status_table))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let status = self.decode_status(item)?;
        Ok(status.is_known().then_some(status))
    }

    /// Clients in one state, longest in it first. `before`: only those in it since before
    /// that time (ms). `limit`: at most that many. `page_size` forces smaller query pages
    /// (tests use it to cross page boundaries on small tables).
    pub async fn list(
        &self,
        presence: Presence,
        before: Option<u64>,
        limit: Option<usize>,
        page_size: Option<i32>,
    ) -> Result<Vec<Status>, ReadError> {
        self.listing(Listing {
            before,
            order: Order::OldestFirst,
            limit,
            page_size,
            ..Listing::new(presence)
        })
        .await
    }

    /// One client's event log between two times (ms, `until` exclusive), oldest first.
    pub async fn history(
        &self,
        client_id: &str,
        since: Option<u64>,
        until: Option<u64>,
    ) -> Result<Vec<EventRow>, ReadError> {
        self.query_history(client_id, since, until, None).await
    }

    /// The newest `limit` events of one client's event log between two times (ms, `until`
    /// exclusive), newest first: one Query page of at most `limit` rows, read backwards
    /// (`ScanIndexForward = false`), whatever the length of the log.
    pub async fn recent_history(
        &self,
        client_id: &str,
        since: Option<u64>,
        until: Option<u64>,
        limit: u32,
    ) -> Result<Vec<EventRow>, ReadError> {
        let limit = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
        self.query_history(client_id, since, until, Some(limit))
            .await
    }

    /// The event-log query of [`Store::history`] (every page, oldest first) and of
    /// [`Store::recent_history`] (`newest`: one page of that many, newest first).
    async fn query_history(
        &self,
        client_id: &str,
        since: Option<u64>,
        until: Option<u64>,
        newest: Option<i32>,
    ) -> Result<Vec<EventRow>, ReadError> {
        let mut e = Expr::new();
        let (c, id) = (e.name(attr::CLIENT_ID), e.value("c", s(client_id)));
        let mut condition = format!("{c} = {id}");
        // Event keys start with the 13-digit timestamp: a time range is a key range. A bare
        // timestamp sorts before every key of that millisecond, so `until` is exclusive.
        let key = |ms: u64| s(format!("{ms:013}"));
        match (since, until) {
            (None, None) => {}
            (Some(from), None) => {
                let (k, from) = (e.name(attr::EVENT_KEY), e.value("from", key(from)));
                condition.push_str(&format!(" AND {k} >= {from}"));
            }
            (None, Some(to)) => {
                let (k, to) = (e.name(attr::EVENT_KEY), e.value("to", key(to)));
                condition.push_str(&format!(" AND {k} < {to}"));
            }
            (Some(from), Some(to)) => {
                let k = e.name(attr::EVENT_KEY);
                let (from, to) = (e.value("from", key(from)), e.value("to", key(to)));
                // No key equals a bare timestamp, so the inclusive BETWEEN excludes `until`.
                condition.push_str(&format!(" AND {k} BETWEEN {from} AND {to}"));
            }
        }
        e.require(condition);
        let built = e.build()?;
        let request = self
            .client
            .query()
            .table_name(&self.events_table)
            .set_key_condition_expression(built.condition)
            .set_expression_attribute_names(built.names)
            .set_expression_attribute_values(built.values)
            .consistent_read(true);
        let items: Vec<Item> = match newest {
            None => request
                .into_paginator()
                .items()
                .send()
                .collect::<Result<_, _>>()
                .await
                .map_err(dynamo_error("Query", &self.events_table))?,
            Some(limit) => request
                .scan_index_forward(false)
                .limit(limit)
                .send()
                .await
                .map_err(dynamo_error("Query", &self.events_table))?
                .items
                .unwrap_or_default(),
        };
        let mut entries = Vec::with_capacity(items.len());
        for item in items {
            let entry = EventRow::from_item(item).map_err(|err| {
                MalformedItem::new(&self.events_table, client_id, ItemProblem::from(err))
            })?;
            entries.push(entry);
        }
        Ok(entries)
    }

    /// Every client id in the event log. This is a (parallel) Scan of the event table: only
    /// `rebuild --all`, a recovery tool, uses it, because clients whose status item is lost can
    /// be found nowhere else.
    pub async fn all_client_ids(&self) -> Result<Vec<String>, ReadError> {
        const SEGMENTS: i32 = 4;
        let mut tasks = JoinSet::new();
        for segment in 0..SEGMENTS {
            let request = self
                .client
                .scan()
                .table_name(&self.events_table)
                .segment(segment)
                .total_segments(SEGMENTS)
                .projection_expression("#c")
                .expression_attribute_names("#c", attr::CLIENT_ID);
            let table = self.events_table.clone();
            tasks.spawn(carried(async move {
                let items: Vec<Item> = request
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<_, _>>()
                    .await
                    .map_err(dynamo_error("Scan", &table))?;
                Ok::<_, ReadError>(items)
            }));
        }
        let mut ids = HashSet::new();
        while let Some(done) = tasks.join_next().await {
            for item in done.expect("scan task panicked")? {
                if let Some(AttributeValue::S(id)) = item.get(attr::CLIENT_ID) {
                    ids.insert(id.clone());
                }
            }
        }
        let mut ids: Vec<String> = ids.into_iter().collect();
        ids.sort();
        Ok(ids)
    }
}
