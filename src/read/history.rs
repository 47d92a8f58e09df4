//! One client's event log: the whole log of a window (the CLI's `history`, availability), its
//! newest rows (the alerter's flapping window, the widget's timeline), a bounded page of its
//! oldest rows (the HTTP API), and whether anything at all is recorded for a client.

use super::{dynamo_error, ReadError};
use crate::store::expr::{s, Expr};
use crate::store::item::{EventRow, Item, ItemProblem, MalformedItem};
use crate::store::schema::attr;
use crate::store::Store;

/// Which rows of the window [`Store::query_history`] reads.
#[derive(Debug, Clone, Copy)]
enum Rows {
    /// Every row, oldest first (every page of the query).
    All,
    /// The newest this many, newest first: one Query page read backwards.
    Newest(i32),
    /// The oldest this many, oldest first: pages until that many.
    Oldest(usize),
}

impl Store {
    /// One client's event log between two times (ms, `until` exclusive), oldest first.
    pub async fn history(
        &self,
        client_id: &str,
        since: Option<u64>,
        until: Option<u64>,
    ) -> Result<Vec<EventRow>, ReadError> {
        self.query_history(client_id, since, until, Rows::All).await
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
        self.query_history(client_id, since, until, Rows::Newest(limit))
            .await
    }

    /// The oldest `limit` events of one client's event log between two times (ms, `until`
    /// exclusive), oldest first: what a bounded answer holds (the HTTP API's history), however
    /// long the log. A caller that gets `limit` rows asks again from where they stop.
    pub async fn oldest_history(
        &self,
        client_id: &str,
        since: Option<u64>,
        until: Option<u64>,
        limit: usize,
    ) -> Result<Vec<EventRow>, ReadError> {
        self.query_history(client_id, since, until, Rows::Oldest(limit.max(1)))
            .await
    }

    /// Nothing is recorded for the client: no status item and no event row (one GetItem, and
    /// one Query of at most one row). A status item alone (its events expired) or events
    /// alone (only `connect_failed`) make a client known.
    pub async fn is_unknown(&self, client_id: &str) -> Result<bool, ReadError> {
        Ok(self.status(client_id).await?.is_none()
            && self
                .query_history(client_id, None, None, Rows::Oldest(1))
                .await?
                .is_empty())
    }

    /// The event-log query behind the reads above.
    async fn query_history(
        &self,
        client_id: &str,
        since: Option<u64>,
        until: Option<u64>,
        rows: Rows,
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
        let failed = || dynamo_error("Query", &self.events_table);
        let items: Vec<Item> = match rows {
            Rows::All => request
                .into_paginator()
                .items()
                .send()
                .collect::<Result<_, _>>()
                .await
                .map_err(failed())?,
            Rows::Newest(limit) => request
                .scan_index_forward(false)
                .limit(limit)
                .send()
                .await
                .map_err(failed())?
                .items
                .unwrap_or_default(),
            Rows::Oldest(limit) => {
                // Pages of at most `limit` rows; a page can stop short at 1 MB, so go on.
                let page = i32::try_from(limit).unwrap_or(i32::MAX);
                let mut pages = request.limit(page).into_paginator().send();
                let mut items = Vec::new();
                while let Some(page) = pages.next().await {
                    items.extend(page.map_err(failed())?.items.unwrap_or_default());
                    if items.len() >= limit {
                        break;
                    }
                }
                items.truncate(limit);
                items
            }
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
}
