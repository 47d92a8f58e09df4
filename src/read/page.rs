//! Listings a page at a time, for callers that hold one page and come back for the next (the
//! HTTP API's `GET /clients`): keyset paging on the status index's sort key.
//!
//! A page is the first `limit` clients past a [`Position`] in the listing's order (newest
//! change first: timestamp descending, then client id ascending). Each shard is queried from
//! the position's timestamp on (inclusive) for its first `limit + 1` entries past the position
//! and the rest of the last one's millisecond (the index does not order a millisecond's
//! entries by client id), and the shards are merged: the merge holds the fleet's first
//! `limit + 1`, so a page is exact, and the one past it says whether there is more. A
//! millisecond shared by many clients of one shard is read whole by every page that ends in
//! it. No
//! client is on two pages and none is skipped, while the clients keep their state; a client
//! that changes state between two pages moves in the order, as in any listing of live data.

use super::{Position, ReadError, ShardQuery, ShardResult};
use crate::event::Presence;
use crate::store::item::Status;
use crate::store::Store;

/// Which clients a page lists: one state, an optional time range of entering it
/// (`[from, before)`, ms) and an optional client-id prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    pub presence: Presence,
    pub from: Option<u64>,
    pub before: Option<u64>,
    /// Only clients whose id begins with this. A filter: entries that do not match are read
    /// (and paid for) all the same.
    pub prefix: Option<String>,
    /// Past this place (the last client of the previous page).
    pub after: Option<Position>,
    pub limit: usize,
}

/// One page: its clients (index entries: the status index's projection of each status), and
/// the last one's position when more follow.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusPage {
    pub statuses: Vec<Status>,
    pub next: Option<Position>,
}

impl Store {
    /// One page of a listing, newest change first (see the module's documentation).
    pub async fn status_page(&self, q: &PageQuery) -> Result<StatusPage, ReadError> {
        let limit = q.limit.max(1);
        let want = limit.saturating_add(1);
        // Newest first, the cursor's timestamp is the upper end of the range (inclusive).
        let before = match (&q.after, q.before) {
            (Some(p), Some(b)) => Some(b.min(p.at.saturating_add(1))),
            (Some(p), None) => Some(p.at.saturating_add(1)),
            (None, b) => b,
        };
        if let (Some(from), Some(before)) = (q.from, before) {
            // An empty range (DynamoDB refuses a BETWEEN whose ends are crossed).
            if from >= before {
                return Ok(StatusPage {
                    statuses: Vec::new(),
                    next: None,
                });
            }
        }
        let shard = ShardQuery {
            from: q.from,
            before,
            newest_first: true,
            limit: Some(want),
            page_size: Some(i32::try_from(want).unwrap_or(i32::MAX)),
            id_prefix: q.prefix.as_deref().map(Into::into),
            after: q
                .after
                .as_ref()
                .map(|p| (p.at, p.client_id.as_str().into())),
            whole_ms: true,
            ..ShardQuery::new(q.presence)
        };
        let mut all = Vec::new();
        for result in self.query_shards(shard).await? {
            if let ShardResult::Items(items) = result {
                for item in items {
                    all.push(self.decode_status(item)?);
                }
            }
        }
        all.sort_by(|a, b| {
            (b.event_timestamp, &a.client_id).cmp(&(a.event_timestamp, &b.client_id))
        });
        let more = all.len() > limit;
        all.truncate(limit);
        let next = more.then(|| all.last()).flatten().map(|last| Position {
            at: last.event_timestamp.unwrap_or(0),
            client_id: last.client_id.clone(),
        });
        Ok(StatusPage {
            statuses: all,
            next,
        })
    }
}
