//! `summary`: fleet counts, offline-duration buckets, disconnect reasons and the clients with
//! an alert standing, from COUNT queries and index entries (never the items themselves).

use std::collections::BTreeMap;

use tokio::task::JoinSet;

use super::{dynamo_error, ReadError, ShardQuery, ShardResult};
use crate::event::Presence;
use crate::store::capacity::carried;
use crate::store::expr::{s, Expr};
use crate::store::item::{Item, Status};
use crate::store::schema::{alert_partition, attr, ALERT_INDEX, ALERT_SHARDS, REASON_UNKNOWN};
use crate::store::Store;

/// Offline-duration buckets of [`Summary`]: < 5 min, < 1 h, < 1 day, older.
pub const OFFLINE_BUCKETS_MS: [u64; 3] = [5 * 60_000, 3_600_000, 86_400_000];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    pub connected: u64,
    pub disconnected: u64,
    /// Disconnected clients by time offline: `[< 5 m, < 1 h, < 1 d, older]`.
    pub offline: [u64; 4],
    /// Disconnect reasons among disconnected clients, most frequent first.
    pub reasons: Vec<(String, u64)>,
    /// Clients with an alert standing: offline alerted and not back yet, or in a flapping
    /// episode; longest first.
    pub alerted: Vec<Alerted>,
}

/// A client with an alert standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alerted {
    pub client_id: String,
    /// `offline` or `flapping`.
    pub kind: &'static str,
    /// Offline since (`disconnectedAt`), or the episode's first connect.
    pub since: u64,
    pub alerted_at: u64,
    /// The disconnect reason of an offline alert.
    pub reason: Option<String>,
}

/// What one page of the alert index shows (see [`Store::alert_page`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertPage {
    /// Clients in a flapping episode, longest first.
    pub flapping: Vec<Alerted>,
    /// Clients with an outage pending (offline, not yet past their threshold), by id.
    pub pending: Vec<String>,
}

/// An offline alert standing on a disconnected client's index entry (its `outage` was alerted).
pub fn offline_alert(entry: &Status) -> Option<Alerted> {
    let outage = entry.outage.as_ref()?;
    Some(Alerted {
        client_id: entry.client_id.clone(),
        kind: "offline",
        since: outage.disconnected_at,
        alerted_at: outage.alerted_at?,
        reason: Some(outage.reason.clone()),
    })
}

impl Store {
    /// Connected and disconnected counts, offline-duration buckets, the top disconnect
    /// reasons and the clients with an alert standing. Counts are COUNT queries; the reasons
    /// and offline alerts read the disconnected clients' index entries (keys,
    /// `disconnectReason` and `outage` only); flapping episodes come from the alert index,
    /// which holds only clients with alert work pending.
    pub async fn summary(&self, now_ms: u64) -> Result<Summary, ReadError> {
        let connected = self.count(ShardQuery::new(Presence::Connected));
        let [t5m, t1h, t1d] = OFFLINE_BUCKETS_MS.map(|d| now_ms.saturating_sub(d));
        // (from, before) of each bucket: offline < 5 m, < 1 h, < 1 d, longer.
        let ranges = [
            (Some(t5m), None),
            (Some(t1h), Some(t5m)),
            (Some(t1d), Some(t1h)),
            (None, Some(t1d)),
        ];
        let buckets = async {
            let mut counts = [0u64; 4];
            for (count, (from, before)) in counts.iter_mut().zip(ranges) {
                let q = ShardQuery {
                    from,
                    before,
                    ..ShardQuery::new(Presence::Disconnected)
                };
                *count = self.count(q).await?;
            }
            Ok::<_, ReadError>(counts)
        };
        let reasons = self.query_shards(ShardQuery {
            reasons_only: true,
            ..ShardQuery::new(Presence::Disconnected)
        });
        let flapping = async { Ok(self.alert_entries(None).await?.flapping) };
        let (connected, offline, reasons, mut alerted) =
            tokio::try_join!(connected, buckets, reasons, flapping)?;
        let mut tally: BTreeMap<String, u64> = BTreeMap::new();
        for result in reasons {
            if let ShardResult::Items(items) = result {
                for item in items {
                    let entry = self.decode_status(item)?;
                    if let Some(standing) = offline_alert(&entry) {
                        alerted.push(standing);
                    }
                    let reason = entry
                        .disconnect_reason
                        .unwrap_or_else(|| REASON_UNKNOWN.to_owned());
                    *tally.entry(reason).or_default() += 1;
                }
            }
        }
        alerted.sort_by(|a, b| (a.since, &a.client_id).cmp(&(b.since, &b.client_id)));
        let mut reasons: Vec<(String, u64)> = tally.into_iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(Summary {
            connected,
            disconnected: offline.iter().sum(),
            offline,
            reasons,
            alerted,
        })
    }

    /// One Query page of at most `per_shard` entries of each alert-index shard (the filter
    /// applies after the limit, so a page may hold fewer): the clients in a flapping episode,
    /// longest first, and those whose outage is pending (waiting for its threshold). Bounded
    /// work for a dashboard, which shows what it found and says it is a page.
    pub async fn alert_page(&self, per_shard: u32) -> Result<AlertPage, ReadError> {
        let per_shard = i32::try_from(per_shard.max(1)).unwrap_or(i32::MAX);
        let mut page = self.alert_entries(Some(per_shard)).await?;
        page.flapping
            .sort_by(|a, b| (a.since, &a.client_id).cmp(&(b.since, &b.client_id)));
        page.pending.sort();
        Ok(page)
    }

    /// The alert index's entries with a flapping episode or a pending outage (`page`: only the
    /// first page of each shard, of at most that many entries).
    async fn alert_entries(&self, page: Option<i32>) -> Result<AlertPage, ReadError> {
        let mut tasks = JoinSet::new();
        for shard in 0..ALERT_SHARDS {
            let mut e = Expr::new();
            let (shard_name, flapping, pending, client) = (
                e.name(attr::ALERT_SHARD),
                e.name(attr::FLAPPING),
                e.name(attr::PENDING_OUTAGE),
                e.name(attr::CLIENT_ID),
            );
            let shard_value = e.value("shard", s(alert_partition(shard)));
            e.require(format!("{shard_name} = {shard_value}"));
            let built = e.build()?;
            let request = self
                .client
                .query()
                .table_name(&self.status_table)
                .index_name(ALERT_INDEX)
                .set_key_condition_expression(built.condition)
                .filter_expression(format!(
                    "attribute_exists({flapping}) OR attribute_exists({pending})"
                ))
                .projection_expression(format!("{client}, {flapping}, {pending}"))
                .set_expression_attribute_names(built.names)
                .set_expression_attribute_values(built.values);
            let table = self.status_table.clone();
            tasks.spawn(carried(async move {
                match page {
                    None => request
                        .into_paginator()
                        .items()
                        .send()
                        .collect::<Result<Vec<Item>, _>>()
                        .await
                        .map_err(dynamo_error("Query", &table)),
                    Some(limit) => Ok(request
                        .limit(limit)
                        .send()
                        .await
                        .map_err(dynamo_error("Query", &table))?
                        .items
                        .unwrap_or_default()),
                }
            }));
        }
        let mut found = AlertPage::default();
        while let Some(done) = tasks.join_next().await {
            for item in done.expect("alert index query task panicked")? {
                let entry = self.decode_status(item)?;
                if entry.pending_outage.is_some() {
                    found.pending.push(entry.client_id.clone());
                }
                if let Some(episode) = entry.flapping {
                    found.flapping.push(Alerted {
                        client_id: entry.client_id,
                        kind: "flapping",
                        since: episode.since,
                        alerted_at: episode.alerted_at,
                        reason: None,
                    });
                }
            }
        }
        Ok(found)
    }
}
