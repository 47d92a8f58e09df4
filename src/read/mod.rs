//! The read path: what dashboards and the `presence` CLI ask of the tables, each answered by a
//! key lookup or an index query, never a Scan (the one exception, `all_client_ids`, is for the
//! fleet-wide `rebuild --all` recovery and says so).
//!
//! Fleet-wide questions go to the status index, whose partition key is sharded
//! (`connected#00` … `disconnected#15` with the default 16 shards): the shards of the table's
//! layout ([`crate::store::shards`]; both layouts during a migration) are queried in parallel
//! and merged.

mod drops;
mod history;
mod listing;
mod page;
mod summary;
pub mod view;

use std::collections::HashSet;

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use aws_sdk_dynamodb::Client;
use thiserror::Error;
use tokio::task::JoinSet;

pub use drops::{DropRow, Position};
pub use listing::{Listing, Order};
pub use page::{PageQuery, StatusPage};
pub use summary::{offline_alert, AlertPage, Alerted, Summary, OFFLINE_BUCKETS_MS};

use crate::event::Presence;
use crate::store::capacity::carried;
use crate::store::expr::{n, s, Expr, ExprError};
use crate::store::item::{Item, ItemProblem, MalformedItem, Status};
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
    /// Only rows past this place in the query's order: (timestamp, client id) ascending, or
    /// with `newest_first` timestamp descending, then client id ascending.
    after: Option<(u64, std::sync::Arc<str>)>,
    /// With `limit`: never stop inside a millisecond. The index orders a shard's entries by
    /// timestamp only, and those of one millisecond in no order we know, so a shard cut there
    /// may hold the wrong ones of them: a page keyed on (timestamp, client id) reads the rest
    /// of the millisecond too, and the merge picks by client id among them all.
    whole_ms: bool,
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
            whole_ms: false,
        }
    }
}

impl ShardQuery {
    /// Whether a row at `at` of `client_id` comes after [`ShardQuery::after`] in the
    /// query's order (every row does without one). The key condition reads from the cursor's
    /// timestamp on, inclusive: the rows of that millisecond already seen are dropped here.
    /// Whether `rows` (this shard's so far, in the query's order) hold enough: `limit` of
    /// them, and with `whole_ms` every row of the last one's millisecond (the rows read past
    /// it are dropped).
    fn has_enough<T>(&self, rows: &mut Vec<T>, at: impl Fn(&T) -> Option<u64>) -> bool {
        let Some(limit) = self.limit.filter(|l| rows.len() >= *l && *l > 0) else {
            return false;
        };
        if !self.whole_ms {
            return true;
        }
        let last = at(&rows[limit - 1]);
        match rows[limit..].iter().position(|r| at(r) != last) {
            Some(past) => {
                rows.truncate(limit + past);
                true
            }
            // Every row past the limit is of the same millisecond: read on.
            None => false,
        }
    }

    fn is_past(&self, at: u64, client_id: &str) -> bool {
        self.after.as_ref().is_none_or(|(after_at, after_id)| {
            if self.newest_first {
                at < *after_at || (at == *after_at && client_id > &**after_id)
            } else {
                (at, client_id) > (*after_at, &**after_id)
            }
        })
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
            drops.extend(
                rows.filter_map(DropRow::from_item)
                    .filter(|d| q.is_past(d.at, &d.client_id)),
            );
            if q.has_enough(&mut drops, |d| Some(d.at)) {
                break;
            }
            continue;
        }
        let rows = page.items.unwrap_or_default().into_iter();
        items.extend(rows.filter(|item| {
            q.after.is_none() || DropRow::position(item).is_some_and(|(at, id)| q.is_past(at, id))
        }));
        if q.has_enough(&mut items, |item| DropRow::position(item).map(|(at, _)| at)) {
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
