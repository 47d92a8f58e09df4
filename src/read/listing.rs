//! Listings of the clients in one state: a time range, an order and a limit over the sharded
//! status index ([`Store::listing`]).

use super::{ReadError, ShardQuery, ShardResult};
use crate::event::Presence;
use crate::store::item::Status;
use crate::store::Store;

/// The order of a listing, by the time each client entered its state (its status's event
/// timestamp); ties by client id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// The latest change first: who just dropped, or just came back.
    #[default]
    NewestFirst,
    /// The longest in the state first.
    OldestFirst,
    /// By client id (all matching clients are read, then sorted).
    ClientId,
}

/// What [`Store::listing`] lists: the clients in one state, optionally only those that entered
/// it in `[from, before)` (ms), in `order`, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listing {
    pub presence: Presence,
    pub from: Option<u64>,
    pub before: Option<u64>,
    pub order: Order,
    pub limit: Option<usize>,
    /// Forces smaller query pages (tests use it to cross page boundaries on small tables).
    pub page_size: Option<i32>,
}

impl Listing {
    pub fn new(presence: Presence) -> Self {
        Listing {
            presence,
            from: None,
            before: None,
            order: Order::default(),
            limit: None,
            page_size: None,
        }
    }
}

impl Store {
    /// Clients in one state, as `l` says.
    pub async fn listing(&self, l: Listing) -> Result<Vec<Status>, ReadError> {
        // Each shard is read in the listing's time order, so a per-shard limit keeps the right
        // items; sorting by client id needs every match.
        let q = ShardQuery {
            before: l.before,
            from: l.from,
            limit: l.limit.filter(|_| l.order != Order::ClientId),
            page_size: l.page_size,
            newest_first: l.order == Order::NewestFirst,
            ..ShardQuery::new(l.presence)
        };
        let mut all = Vec::new();
        for result in self.query_shards(q).await? {
            if let ShardResult::Items(items) = result {
                for item in items {
                    all.push(self.decode_status(item)?);
                }
            }
        }
        // Merge the shards.
        match l.order {
            Order::OldestFirst => all.sort_by(|a, b| {
                (a.event_timestamp, &a.client_id).cmp(&(b.event_timestamp, &b.client_id))
            }),
            Order::NewestFirst => all.sort_by(|a, b| {
                (b.event_timestamp, &a.client_id).cmp(&(a.event_timestamp, &b.client_id))
            }),
            Order::ClientId => all.sort_by(|a, b| a.client_id.cmp(&b.client_id)),
        }
        if let Some(limit) = l.limit {
            all.truncate(limit);
        }
        Ok(all)
    }
}
