//! The read path: what dashboards and the `presence` CLI ask of the tables, each answered by a
//! key lookup or an index query, never a Scan (the one exception, `all_client_ids`, is for the
//! fleet-wide `rebuild --all` recovery and says so).
//!
//! Fleet-wide questions go to the status index, whose partition key is sharded
//! (`connected#00` … `disconnected#15`, see [`crate::store::STATUS_SHARDS`]): the 16 shards are
//! queried in parallel and merged.

use std::collections::{BTreeMap, HashSet};

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use aws_sdk_dynamodb::Client;
use thiserror::Error;
use tokio::task::JoinSet;

use crate::decision::Outcome;
use crate::event::{LifecycleEvent, Presence};
use crate::reconcile::BrokerFacts;
use crate::store::{
    alert_partition, attr, get_s, get_u64, Item, Store, StoreError, ALERT_INDEX, STATUS_INDEX,
    STATUS_SHARDS,
};

#[derive(Debug, Error)]
pub enum ReadError {
    #[error("DynamoDB {operation} on table {table} failed")]
    Dynamo {
        operation: &'static str,
        table: String,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    #[error("item in table {table} is malformed: {problem}")]
    Malformed { table: String, problem: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A status item as dashboards read it. From the status index only the projected attributes
/// are present; the rest are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    pub client_id: String,
    pub connected: bool,
    pub session_identifier: Option<String>,
    pub version_number: Option<u64>,
    pub event_timestamp: Option<u64>,
    pub disconnect_reason: Option<String>,
    pub client_initiated_disconnect: Option<bool>,
    pub connected_at: Option<u64>,
    pub disconnected_at: Option<u64>,
    pub principal_identifier: Option<String>,
    pub ip_address: Option<String>,
    pub thing_name: Option<String>,
    pub updated_at: Option<u64>,
    /// The event (or repair) that last set the status: what a conditional repair checks.
    pub last_event_key: Option<String>,
    /// Set when `presence reconcile` repaired the status from the broker's answer (ms).
    pub reconciled_at: Option<u64>,
    /// The broker's session settings, as reconcile last read them.
    pub broker: Option<BrokerFacts>,
}

/// One row of a client's event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub event_key: String,
    pub event_type: String,
    pub session_identifier: String,
    pub version_number: Option<u64>,
    pub event_timestamp: u64,
    pub outcome: Outcome,
    pub received_at: Option<u64>,
    pub disconnect_reason: Option<String>,
    pub payload: String,
}

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

/// What `rebuild` did for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    pub client_id: String,
    pub events: usize,
    pub applied: usize,
    pub status: Option<Status>,
}

fn s(item: &Item, name: &str) -> Option<String> {
    get_s(item, name).map(str::to_owned)
}

impl Status {
    pub fn from_item(item: &Item) -> Result<Self, String> {
        let client_id = s(item, attr::CLIENT_ID).ok_or("no `clientId`")?;
        Ok(Status {
            client_id,
            connected: item
                .get(attr::CONNECTED)
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
            session_identifier: s(item, attr::SESSION),
            version_number: get_u64(item, attr::VERSION)?,
            event_timestamp: get_u64(item, attr::EVENT_TIMESTAMP)?,
            disconnect_reason: s(item, attr::DISCONNECT_REASON),
            client_initiated_disconnect: item
                .get(attr::CLIENT_INITIATED)
                .and_then(|v| v.as_bool().ok())
                .copied(),
            connected_at: get_u64(item, attr::CONNECTED_AT)?,
            disconnected_at: get_u64(item, attr::DISCONNECTED_AT)?,
            principal_identifier: s(item, attr::PRINCIPAL),
            ip_address: s(item, attr::IP_ADDRESS),
            thing_name: s(item, attr::THING_NAME),
            updated_at: get_u64(item, attr::UPDATED_AT)?,
            last_event_key: s(item, attr::LAST_EVENT_KEY),
            reconciled_at: get_u64(item, attr::RECONCILED_AT)?,
            broker: match get_u64(item, attr::BROKER_CHECKED_AT)? {
                Some(checked_at) => Some(BrokerFacts {
                    clean_session: item
                        .get(attr::CLEAN_SESSION)
                        .and_then(|v| v.as_bool().ok())
                        .copied()
                        .unwrap_or(true),
                    session_expiry: get_u64(item, attr::SESSION_EXPIRY)?.unwrap_or(0),
                    keep_alive_duration: get_u64(item, attr::KEEP_ALIVE)?.unwrap_or(0),
                    checked_at,
                }),
                None => None,
            },
        })
    }

    /// True when the item carries a status (not just settings written before any event).
    pub fn is_known(&self) -> bool {
        self.session_identifier.is_some()
    }

    /// Since when the client is in its current state (ms).
    pub fn since(&self) -> Option<u64> {
        if self.connected {
            self.connected_at.or(self.event_timestamp)
        } else {
            self.disconnected_at.or(self.event_timestamp)
        }
    }
}

impl HistoryEntry {
    fn from_item(item: &Item) -> Result<Self, String> {
        let outcome = s(item, attr::OUTCOME)
            .as_deref()
            .and_then(Outcome::parse)
            .ok_or("no valid `outcome`")?;
        Ok(HistoryEntry {
            event_key: s(item, attr::EVENT_KEY).ok_or("no `eventKey`")?,
            event_type: s(item, attr::EVENT_TYPE).ok_or("no `eventType`")?,
            session_identifier: s(item, attr::SESSION).unwrap_or_default(),
            version_number: get_u64(item, attr::VERSION)?,
            event_timestamp: get_u64(item, attr::EVENT_TIMESTAMP)?.ok_or("no `eventTimestamp`")?,
            outcome,
            received_at: get_u64(item, attr::RECEIVED_AT)?,
            disconnect_reason: s(item, attr::DISCONNECT_REASON),
            payload: s(item, attr::PAYLOAD).unwrap_or_default(),
        })
    }
}

fn dynamo_error<E>(operation: &'static str, table: &str) -> impl FnOnce(E) -> ReadError
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

/// Which items of one index shard to read.
#[derive(Debug, Clone, Copy)]
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
        }
    }
}

enum ShardResult {
    Count(u64),
    Items(Vec<Item>),
}

async fn query_shard(
    client: Client,
    table: String,
    shard: u32,
    q: ShardQuery,
) -> Result<ShardResult, ReadError> {
    let mut condition = "#shard = :shard".to_owned();
    let mut request = client
        .query()
        .table_name(&table)
        .index_name(STATUS_INDEX)
        .expression_attribute_names("#shard", attr::STATUS_SHARD)
        .expression_attribute_values(
            ":shard",
            AttributeValue::S(format!("{}#{shard:02}", q.presence.as_str())),
        )
        .set_limit(q.page_size);
    match (q.from, q.before) {
        (Some(from), Some(before)) => {
            condition.push_str(" AND #ts BETWEEN :from AND :last");
            request = request
                .expression_attribute_values(":from", AttributeValue::N(from.to_string()))
                .expression_attribute_values(
                    ":last",
                    AttributeValue::N(before.saturating_sub(1).to_string()),
                );
        }
        (Some(from), None) => {
            condition.push_str(" AND #ts >= :from");
            request =
                request.expression_attribute_values(":from", AttributeValue::N(from.to_string()));
        }
        (None, Some(before)) => {
            condition.push_str(" AND #ts < :before");
            request = request
                .expression_attribute_values(":before", AttributeValue::N(before.to_string()));
        }
        (None, None) => {}
    }
    if q.from.is_some() || q.before.is_some() {
        request = request.expression_attribute_names("#ts", attr::EVENT_TIMESTAMP);
    }
    if q.count_only {
        request = request.select(Select::Count);
    } else if q.reasons_only {
        request = request
            .projection_expression("#client, #reason, #outage")
            .expression_attribute_names("#client", attr::CLIENT_ID)
            .expression_attribute_names("#reason", attr::DISCONNECT_REASON)
            .expression_attribute_names("#outage", attr::OUTAGE);
    }
    let request = request.key_condition_expression(condition);
    let mut pages = request.into_paginator().send();
    let mut count = 0u64;
    let mut items = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(dynamo_error("Query", &table))?;
        count += page.count() as u64;
        items.extend(page.items.unwrap_or_default());
        if q.limit.is_some_and(|limit| items.len() >= limit) {
            break;
        }
    }
    Ok(if q.count_only {
        ShardResult::Count(count)
    } else {
        ShardResult::Items(items)
    })
}

/// An offline alert standing on a disconnected client's index entry (its `outage` was alerted).
fn offline_alert(item: &Item) -> Option<Alerted> {
    let outage = item.get(attr::OUTAGE)?.as_m().ok()?;
    Some(Alerted {
        client_id: s(item, attr::CLIENT_ID)?,
        kind: "offline",
        since: get_u64(outage, attr::DISCONNECTED_AT).ok()??,
        alerted_at: get_u64(outage, attr::ALERTED_AT).ok()??,
        reason: s(outage, attr::DISCONNECT_REASON),
    })
}

impl Store {
    /// All shards of a query, in parallel.
    async fn query_shards(&self, q: ShardQuery) -> Result<Vec<ShardResult>, ReadError> {
        let mut tasks = JoinSet::new();
        for shard in 0..STATUS_SHARDS {
            tasks.spawn(query_shard(
                self.client.clone(),
                self.status_table.clone(),
                shard,
                q,
            ));
        }
        let mut results = Vec::with_capacity(STATUS_SHARDS as usize);
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
            })
            .sum())
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
        let status = Status::from_item(&item).map_err(|problem| ReadError::Malformed {
            table: self.status_table.clone(),
            problem,
        })?;
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
        let q = ShardQuery {
            before,
            limit,
            page_size,
            ..ShardQuery::new(presence)
        };
        let mut all = Vec::new();
        for result in self.query_shards(q).await? {
            if let ShardResult::Items(items) = result {
                for item in &items {
                    all.push(
                        Status::from_item(item).map_err(|problem| ReadError::Malformed {
                            table: self.status_table.clone(),
                            problem,
                        })?,
                    );
                }
            }
        }
        // Each shard came back in eventTimestamp order; merge, oldest first, ties by client.
        all.sort_by(|a, b| {
            (a.event_timestamp, &a.client_id).cmp(&(b.event_timestamp, &b.client_id))
        });
        if let Some(limit) = limit {
            all.truncate(limit);
        }
        Ok(all)
    }

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
        let flapping = self.flapping();
        let (connected, offline, reasons, mut alerted) =
            tokio::try_join!(connected, buckets, reasons, flapping)?;
        let mut tally: BTreeMap<String, u64> = BTreeMap::new();
        for result in reasons {
            if let ShardResult::Items(items) = result {
                for item in items {
                    let reason = s(&item, attr::DISCONNECT_REASON)
                        .unwrap_or_else(|| crate::store::REASON_UNKNOWN.to_owned());
                    *tally.entry(reason).or_default() += 1;
                    if let Some(standing) = offline_alert(&item) {
                        alerted.push(standing);
                    }
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

    /// Clients in a flapping episode: every entry of the alert index that has one.
    async fn flapping(&self) -> Result<Vec<Alerted>, ReadError> {
        let mut tasks = JoinSet::new();
        for shard in 0..STATUS_SHARDS {
            let request = self
                .client
                .query()
                .table_name(&self.status_table)
                .index_name(ALERT_INDEX)
                .key_condition_expression("#shard = :shard")
                .filter_expression("attribute_exists(#flapping)")
                .projection_expression("#client, #flapping")
                .expression_attribute_names("#shard", attr::ALERT_SHARD)
                .expression_attribute_names("#client", attr::CLIENT_ID)
                .expression_attribute_names("#flapping", attr::FLAPPING)
                .expression_attribute_values(":shard", AttributeValue::S(alert_partition(shard)));
            let table = self.status_table.clone();
            tasks.spawn(async move {
                request
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<Item>, _>>()
                    .await
                    .map_err(dynamo_error("Query", &table))
            });
        }
        let mut alerted = Vec::new();
        while let Some(done) = tasks.join_next().await {
            for item in done.expect("alert index query task panicked")? {
                let episode = item.get(attr::FLAPPING).and_then(|v| v.as_m().ok());
                let field = |name| episode.and_then(|m| get_u64(m, name).ok().flatten());
                if let (Some(client_id), Some(since), Some(alerted_at)) = (
                    s(&item, attr::CLIENT_ID),
                    field(attr::SINCE),
                    field(attr::ALERTED_AT),
                ) {
                    alerted.push(Alerted {
                        client_id,
                        kind: "flapping",
                        since,
                        alerted_at,
                        reason: None,
                    });
                }
            }
        }
        Ok(alerted)
    }

    /// One client's event log between two times (ms, `until` exclusive), oldest first.
    pub async fn history(
        &self,
        client_id: &str,
        since: Option<u64>,
        until: Option<u64>,
    ) -> Result<Vec<HistoryEntry>, ReadError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.events_table)
            .expression_attribute_names("#c", attr::CLIENT_ID)
            .expression_attribute_values(":c", AttributeValue::S(client_id.to_owned()))
            .consistent_read(true);
        // Event keys start with the 13-digit timestamp: a time range is a key range. A bare
        // timestamp sorts before every key of that millisecond, so `until` is exclusive.
        let key = |ms: u64| AttributeValue::S(format!("{ms:013}"));
        if since.is_some() || until.is_some() {
            request = request.expression_attribute_names("#k", attr::EVENT_KEY);
        }
        let condition = match (since, until) {
            (None, None) => "#c = :c",
            (Some(from), None) => {
                request = request.expression_attribute_values(":from", key(from));
                "#c = :c AND #k >= :from"
            }
            (None, Some(to)) => {
                request = request.expression_attribute_values(":to", key(to));
                "#c = :c AND #k < :to"
            }
            (Some(from), Some(to)) => {
                request = request
                    .expression_attribute_values(":from", key(from))
                    .expression_attribute_values(":to", key(to));
                // No key equals a bare timestamp, so the inclusive BETWEEN excludes `until`.
                "#c = :c AND #k BETWEEN :from AND :to"
            }
        };
        let items: Vec<Item> = request
            .key_condition_expression(condition)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(dynamo_error("Query", &self.events_table))?;
        let mut entries = Vec::with_capacity(items.len());
        for item in &items {
            let entry = HistoryEntry::from_item(item).map_err(|problem| ReadError::Malformed {
                table: self.events_table.clone(),
                problem,
            })?;
            entries.push(entry);
        }
        Ok(entries)
    }

    /// Recomputes one client's status from its event log through the ordering rule: every
    /// logged event goes through the same conditional update as in the function, so this is
    /// idempotent and safe while the function keeps writing. `reset` first removes the status
    /// attributes (keeping any settings), so that the log alone decides, e.g. after changing
    /// the window.
    pub async fn rebuild(
        &self,
        client_id: &str,
        reset: bool,
        now_ms: u64,
    ) -> Result<Rebuilt, ReadError> {
        let history = self.history(client_id, None, None).await?;
        if reset {
            self.reset_status(client_id).await?;
        }
        let mut applied = 0;
        for entry in &history {
            // An event rejected on arrival (from the future) stays rejected; a broker repair's
            // row holds the broker's answer, not a lifecycle event.
            if matches!(entry.outcome, Outcome::Invalid | Outcome::Reconciled) {
                continue;
            }
            let event =
                LifecycleEvent::parse(&entry.payload).map_err(|err| ReadError::Malformed {
                    table: self.events_table.clone(),
                    problem: format!("payload of {}: {err}", entry.event_key),
                })?;
            let (outcome, rule) = self.apply_status(&event, &entry.event_key, now_ms).await?;
            if outcome == Outcome::Applied && rule.is_some() {
                applied += 1;
            }
        }
        Ok(Rebuilt {
            client_id: client_id.to_owned(),
            events: history.len(),
            applied,
            status: self.status(client_id).await?,
        })
    }

    async fn reset_status(&self, client_id: &str) -> Result<(), ReadError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.status_table)
            .key(attr::CLIENT_ID, AttributeValue::S(client_id.to_owned()))
            // Never create an item for a client that has none.
            .condition_expression("attribute_exists(#clientId)")
            .expression_attribute_names("#clientId", attr::CLIENT_ID);
        let mut names = Vec::with_capacity(attr::STATUS.len());
        for (i, attr) in attr::STATUS.iter().enumerate() {
            let placeholder = format!("#a{i}");
            request = request.expression_attribute_names(&placeholder, *attr);
            names.push(placeholder);
        }
        match request
            .update_expression(format!("REMOVE {}", names.join(", ")))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(dynamo_error("UpdateItem", &self.status_table)(err)),
        }
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
            tasks.spawn(async move {
                let items: Vec<Item> = request
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<_, _>>()
                    .await
                    .map_err(dynamo_error("Scan", &table))?;
                Ok::<_, ReadError>(items)
            });
        }
        let mut ids = HashSet::new();
        while let Some(done) = tasks.join_next().await {
            for item in done.expect("scan task panicked")? {
                if let Some(id) = s(&item, attr::CLIENT_ID) {
                    ids.insert(id);
                }
            }
        }
        let mut ids: Vec<String> = ids.into_iter().collect();
        ids.sort();
        Ok(ids)
    }
}
