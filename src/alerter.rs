//! The alerter: one pass finds the clients due in the alert index, plans each with
//! [`crate::alert::plan`], and sends the notices to SNS, recording what was sent on the status
//! item with conditional writes.
//!
//! # Finding work
//!
//! The alert index is sparse: an item is in it only while it has both `alertShard` (set by a
//! disconnect, removed by the alerter once nothing is left to watch) and `alertDueAt` (set to
//! "now" by every status change, and by the alerter to the next time it must look). A pass
//! queries the 16 `alert#NN` partitions for `alertDueAt <= now`, in parallel. Connected clients
//! with nothing pending are not in the index, and alerted clients waiting for their return have
//! left it (no `alertDueAt`) until their next status change, so a pass reads what is due and
//! nothing else: its cost follows the alerts, not the size of the fleet.
//!
//! # Exactly once, and what a crash does
//!
//! Every write is conditional on the item being as the pass read it (`alertDueAt`,
//! `lastEventKey`, no live lease). A plan with notices first *claims* the item (`alertLease` =
//! now + [`LEASE_MS`]), then publishes, then *commits* the new alert state and drops the lease.
//! Two overlapping passes cannot both claim, so they never send the same notice twice.
//!
//! A crash (or an SNS error) after the claim leaves the lease to expire; the first pass after
//! that plans again and sends. So delivery is **at-least-once**: a notice is lost only if SNS
//! loses it, and it is repeated only when a pass dies between SNS accepting the message and the
//! commit, a window of one DynamoDB write. We chose this over at-most-once (commit, then send)
//! because a missed "device offline" alert costs an operator far more than a repeated one,
//! and every message carries an `alertId` that is stable across repeats, so subscribers can
//! drop the rare duplicate.
//!
//! If the status changes while the notices are in flight, the commit's condition fails; the
//! pass then records only what was sent and leaves the item due, so the next pass plans the
//! new status on top (e.g. `back-online` right after the `offline` that just went out).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::QueryError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::MessageAttributeValue;
use serde::Serialize;
use thiserror::Error;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::alert::{
    plan, sns_safe, Activity, ActivityRow, AlertSettings, AlertView, Episode, Message, Next,
    Notice, Outage, Plan,
};
use crate::decision::Outcome;
use crate::event::Presence;
use crate::read::{ReadError, Status};
use crate::store::{
    alert_partition, alert_shard, attr, get_s, get_u64, n, s, split_refusal, Item, Placeholders,
    Store, ALERT_INDEX, REASON_UNKNOWN, STATUS_SHARDS,
};

/// How long a pass holds a client while it sends: three times the alerter function's timeout
/// (template.yaml), so a live pass never loses its lease, and a dead one delays a notice by
/// at most this much.
pub const LEASE_MS: u64 = 180_000;

/// Clients handled at once per index shard (16 shards: up to 64 in flight).
const PER_SHARD: usize = 4;

#[derive(Debug, Error)]
pub enum AlertError {
    #[error("DynamoDB Query of {index} shard {shard} in table {table} failed")]
    Query {
        table: String,
        index: &'static str,
        shard: String,
        #[source]
        source: Box<SdkError<QueryError>>,
    },
    #[error("DynamoDB UpdateItem ({step}) of client {client_id:?} in table {table} failed")]
    Update {
        step: &'static str,
        table: String,
        client_id: String,
        #[source]
        source: Box<SdkError<UpdateItemError>>,
    },
    #[error("SNS Publish of a {kind} notice for client {client_id:?} to {topic} failed")]
    Publish {
        kind: &'static str,
        client_id: String,
        topic: String,
        #[source]
        source: Box<SdkError<PublishError>>,
    },
    #[error("reading the event log of client {client_id:?} failed")]
    Activity {
        client_id: String,
        #[source]
        source: Box<ReadError>,
    },
    #[error("item {client_id:?} in table {table} is malformed: {problem}")]
    Malformed {
        table: String,
        client_id: String,
        problem: String,
    },
    #[error(
        "the lease on client {client_id:?} expired while its notices were sent; another pass \
         may send them again (a pass outlived the {LEASE_MS} ms lease)"
    )]
    LeaseLost { client_id: String },
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// Due entries read from the index.
    pub due: u64,
    pub offline: u64,
    pub back_online: u64,
    pub flapping: u64,
    /// Items that stay in the index with a later `alertDueAt`.
    pub scheduled: u64,
    /// Items that left the index (nothing to watch, or waiting for a status change).
    pub settled: u64,
    /// Items another pass or a status change got to first (they are due again if needed).
    pub skipped: u64,
    /// Items whose status changed while their notices were in flight: what was sent is
    /// recorded and the item stays due, so the next pass plans the new status.
    pub raced: u64,
    /// Failures, each with its causes; the items stay due (or leased) and are retried.
    pub errors: Vec<String>,
}

impl RunReport {
    fn add(&mut self, other: RunReport) {
        self.due += other.due;
        self.offline += other.offline;
        self.back_online += other.back_online;
        self.flapping += other.flapping;
        self.scheduled += other.scheduled;
        self.settled += other.settled;
        self.skipped += other.skipped;
        self.raced += other.raced;
        self.errors.extend(other.errors);
    }

    pub fn notices(&self) -> u64 {
        self.offline + self.back_online + self.flapping
    }
}

/// The alerter's clients and settings; cheap to clone (the SDK clients are shared handles).
#[derive(Debug, Clone)]
pub struct Alerter {
    store: Store,
    sns: aws_sdk_sns::Client,
    topic_arn: String,
    settings: AlertSettings,
}

/// The `outage` map of a status item.
fn outage_from(value: Option<&AttributeValue>) -> Result<Option<Outage>, String> {
    let Some(value) = value else { return Ok(None) };
    let map = value
        .as_m()
        .map_err(|_| format!("`{}` is not a map", attr::OUTAGE))?;
    let field = |name: &str| format!("`{}.{name}` is missing", attr::OUTAGE);
    Ok(Some(Outage {
        session: get_s(map, attr::SESSION)
            .ok_or_else(|| field(attr::SESSION))?
            .to_owned(),
        version: get_u64(map, attr::VERSION)?,
        disconnected_at: get_u64(map, attr::DISCONNECTED_AT)?
            .ok_or_else(|| field(attr::DISCONNECTED_AT))?,
        reason: get_s(map, attr::DISCONNECT_REASON)
            .unwrap_or(REASON_UNKNOWN)
            .to_owned(),
        alerted_at: get_u64(map, attr::ALERTED_AT)?,
    }))
}

fn outage_value(o: &Outage) -> AttributeValue {
    let mut map = HashMap::from([
        (attr::SESSION.to_owned(), s(&o.session)),
        (attr::DISCONNECTED_AT.to_owned(), n(o.disconnected_at)),
        (attr::DISCONNECT_REASON.to_owned(), s(&o.reason)),
    ]);
    if let Some(version) = o.version {
        map.insert(attr::VERSION.to_owned(), n(version));
    }
    if let Some(at) = o.alerted_at {
        map.insert(attr::ALERTED_AT.to_owned(), n(at));
    }
    AttributeValue::M(map)
}

fn episode_from(value: Option<&AttributeValue>) -> Result<Option<Episode>, String> {
    let Some(value) = value else { return Ok(None) };
    let map = value
        .as_m()
        .map_err(|_| format!("`{}` is not a map", attr::FLAPPING))?;
    let field = |name: &str| format!("`{}.{name}` is missing", attr::FLAPPING);
    Ok(Some(Episode {
        since: get_u64(map, attr::SINCE)?.ok_or_else(|| field(attr::SINCE))?,
        alerted_at: get_u64(map, attr::ALERTED_AT)?.ok_or_else(|| field(attr::ALERTED_AT))?,
    }))
}

fn episode_value(e: &Episode) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        (attr::SINCE.to_owned(), n(e.since)),
        (attr::ALERTED_AT.to_owned(), n(e.alerted_at)),
    ]))
}

/// What [`plan`] needs of a status item; `None` for an item without a status (settings only).
/// The status fields are read as the read path reads them ([`Status::from_item`]).
pub fn alert_view(item: &Item) -> Result<Option<AlertView>, String> {
    let status = Status::from_item(item)?;
    let Some(session) = status.session_identifier else {
        return Ok(None);
    };
    Ok(Some(AlertView {
        client_id: status.client_id,
        thing_name: status.thing_name,
        presence: if status.connected {
            Presence::Connected
        } else {
            Presence::Disconnected
        },
        session,
        version: status.version_number,
        connected_at: status.connected_at,
        disconnected_at: status.disconnected_at,
        reason: status
            .disconnect_reason
            .unwrap_or_else(|| REASON_UNKNOWN.to_owned()),
        threshold_ms: get_u64(item, attr::OFFLINE_THRESHOLD)?,
        outage: outage_from(item.get(attr::OUTAGE))?,
        flapping: episode_from(item.get(attr::FLAPPING))?,
    }))
}

/// An update expression with its placeholders, built clause by clause.
#[derive(Debug, Default)]
struct Expr {
    set: Vec<String>,
    remove: Vec<String>,
    condition: Vec<String>,
    p: Placeholders,
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        self.p.name(attr)
    }

    fn value(&mut self, key: &str, value: AttributeValue) -> String {
        self.p.bind(key, value)
    }

    fn set(&mut self, attr: &str, value: AttributeValue) {
        let (name, value) = (self.name(attr), self.value(attr, value));
        self.set.push(format!("{name} = {value}"));
    }

    fn remove(&mut self, attr: &str) {
        let name = self.name(attr);
        self.remove.push(name);
    }

    fn update(&self) -> String {
        let mut text = String::new();
        if !self.set.is_empty() {
            text.push_str(&format!("SET {}", self.set.join(", ")));
        }
        if !self.remove.is_empty() {
            text.push_str(&format!(" REMOVE {}", self.remove.join(", ")));
        }
        text.trim_start().to_owned()
    }

    /// The item is as the pass read it: same due time, same status (no event applied since).
    fn unchanged(&mut self, seen: &Seen) {
        let due = self.name(attr::ALERT_DUE_AT);
        let due_value = self.value("seenDue", n(seen.due));
        self.condition.push(format!("{due} = {due_value}"));
        let key = self.name(attr::LAST_EVENT_KEY);
        match &seen.last_event_key {
            Some(k) => {
                let v = self.value("seenKey", s(k));
                self.condition.push(format!("{key} = {v}"));
            }
            None => self.condition.push(format!("attribute_not_exists({key})")),
        }
    }

    /// No other pass holds the item.
    fn not_leased(&mut self, now: u64) {
        let lease = self.name(attr::ALERT_LEASE);
        let v = self.value("now", n(now));
        self.condition
            .push(format!("(attribute_not_exists({lease}) OR {lease} < {v})"));
    }

    /// This pass holds the item.
    fn leased_by(&mut self, lease_until: u64) {
        let lease = self.name(attr::ALERT_LEASE);
        let v = self.value("lease", n(lease_until));
        self.condition.push(format!("{lease} = {v}"));
    }

    /// Writes the plan's alert state (what was sent).
    fn record(&mut self, plan: &Plan) {
        match &plan.outage {
            Some(o) => self.set(attr::OUTAGE, outage_value(o)),
            None => self.remove(attr::OUTAGE),
        }
        match &plan.flapping {
            Some(e) => self.set(attr::FLAPPING, episode_value(e)),
            None => self.remove(attr::FLAPPING),
        }
    }

    /// Moves the item in the alert index as the plan says.
    fn schedule(&mut self, client_id: &str, next: Next) {
        match next {
            Next::At(at) => {
                self.set(attr::ALERT_SHARD, s(alert_shard(client_id)));
                self.set(attr::ALERT_DUE_AT, n(at));
            }
            Next::OnChange => {
                self.set(attr::ALERT_SHARD, s(alert_shard(client_id)));
                self.remove(attr::ALERT_DUE_AT);
            }
            Next::Never => {
                self.remove(attr::ALERT_SHARD);
                self.remove(attr::ALERT_DUE_AT);
            }
        }
    }
}

/// What the pass read of an item, which its writes are conditional on.
#[derive(Debug, Clone)]
struct Seen {
    due: u64,
    last_event_key: Option<String>,
}

enum Written {
    Done,
    Refused,
}

impl Alerter {
    pub fn new(
        store: Store,
        sns: aws_sdk_sns::Client,
        topic_arn: impl Into<String>,
        settings: AlertSettings,
    ) -> Self {
        Alerter {
            store,
            sns,
            topic_arn: topic_arn.into(),
            settings,
        }
    }

    pub fn settings(&self) -> &AlertSettings {
        &self.settings
    }

    /// One pass at `now` (ms since the epoch; the function passes the wall clock, tests a
    /// simulated one). Failures of single clients are reported, not fatal: the rest go on.
    pub async fn run(&self, now: u64) -> RunReport {
        let mut shards = JoinSet::new();
        for shard in 0..STATUS_SHARDS {
            let alerter = self.clone();
            shards.spawn(async move { alerter.run_shard(shard, now).await });
        }
        let mut report = RunReport::default();
        while let Some(done) = shards.join_next().await {
            match done {
                Ok(shard_report) => report.add(shard_report),
                Err(panic) => report.errors.push(format!("shard task failed: {panic}")),
            }
        }
        report
    }

    async fn run_shard(&self, shard: u32, now: u64) -> RunReport {
        let mut report = RunReport::default();
        let shard_value = alert_partition(shard);
        let mut pages = self
            .store
            .client
            .query()
            .table_name(&self.store.status_table)
            .index_name(ALERT_INDEX)
            .key_condition_expression("#shard = :shard AND #due <= :now")
            .expression_attribute_names("#shard", attr::ALERT_SHARD)
            .expression_attribute_names("#due", attr::ALERT_DUE_AT)
            .expression_attribute_values(":shard", s(&shard_value))
            .expression_attribute_values(":now", n(now))
            .into_paginator()
            .send();
        let mut in_flight = JoinSet::new();
        loop {
            let page = match pages.next().await {
                None => break,
                Some(Ok(page)) => page,
                Some(Err(source)) => {
                    let err = AlertError::Query {
                        table: self.store.status_table.clone(),
                        index: ALERT_INDEX,
                        shard: shard_value.clone(),
                        source: Box::new(source),
                    };
                    report.errors.push(crate::handler::error_chain(&err));
                    break;
                }
            };
            for item in page.items.unwrap_or_default() {
                report.due += 1;
                if in_flight.len() >= PER_SHARD {
                    collect(&mut report, in_flight.join_next().await);
                }
                let alerter = self.clone();
                in_flight.spawn(async move { alerter.handle(item, now).await });
            }
        }
        while let Some(done) = in_flight.join_next().await {
            collect(&mut report, Some(done));
        }
        report
    }

    /// Plans one due client and carries the plan out.
    async fn handle(&self, item: Item, now: u64) -> Result<RunReport, AlertError> {
        let client_id = get_s(&item, attr::CLIENT_ID).unwrap_or_default().to_owned();
        let malformed = |problem: String| AlertError::Malformed {
            table: self.store.status_table.clone(),
            client_id: client_id.clone(),
            problem,
        };
        let mut report = RunReport::default();
        if get_u64(&item, attr::ALERT_LEASE)
            .map_err(malformed)?
            .is_some_and(|until| until >= now)
        {
            report.skipped = 1;
            return Ok(report);
        }
        let seen = Seen {
            due: get_u64(&item, attr::ALERT_DUE_AT)
                .map_err(malformed)?
                .unwrap_or_default(),
            last_event_key: get_s(&item, attr::LAST_EVENT_KEY).map(str::to_owned),
        };
        let Some(view) = alert_view(&item).map_err(malformed)? else {
            // Settings without a status: nothing to watch until the first disconnect.
            let mut expr = Expr::default();
            expr.schedule(&client_id, Next::Never);
            expr.unchanged(&seen);
            expr.not_leased(now);
            return Ok(match self.write(&client_id, "settle", expr).await? {
                Written::Done => RunReport {
                    settled: 1,
                    ..report
                },
                Written::Refused => RunReport {
                    skipped: 1,
                    ..report
                },
            });
        };
        let activity = if self.settings.flapping_sessions > 0 {
            Some(self.activity(&client_id, now).await?)
        } else {
            None
        };
        let plan = plan(&view, activity.as_ref(), &self.settings, now);

        if plan.notices.is_empty() {
            let mut expr = Expr::default();
            expr.record(&plan);
            expr.schedule(&client_id, plan.next);
            expr.unchanged(&seen);
            expr.not_leased(now);
            match self.write(&client_id, "reschedule", expr).await? {
                Written::Done => count_next(&mut report, plan.next),
                Written::Refused => report.skipped = 1,
            }
            return Ok(report);
        }

        // Claim, send, commit.
        let lease_until = now + LEASE_MS;
        let mut claim = Expr::default();
        claim.set(attr::ALERT_LEASE, n(lease_until));
        claim.unchanged(&seen);
        claim.not_leased(now);
        if let Written::Refused = self.write(&client_id, "claim", claim).await? {
            report.skipped = 1;
            return Ok(report);
        }
        for notice in &plan.notices {
            self.publish(&view, notice, now).await?;
            match notice {
                Notice::Offline { .. } => report.offline += 1,
                Notice::BackOnline { .. } => report.back_online += 1,
                Notice::Flapping { .. } => report.flapping += 1,
            }
            info!(
                client_id,
                kind = notice.kind(),
                alert_id = notice.alert_id(&client_id),
                "sent"
            );
        }
        let mut commit = Expr::default();
        commit.record(&plan);
        commit.schedule(&client_id, plan.next);
        commit.remove(attr::ALERT_LEASE);
        commit.leased_by(lease_until);
        commit.unchanged(&seen);
        if let Written::Done = self.write(&client_id, "commit", commit).await? {
            count_next(&mut report, plan.next);
            return Ok(report);
        }
        // The status changed while sending: keep the record of what was sent, leave the item
        // due (the status update set `alertDueAt`) so the next pass plans the new status.
        let mut record = Expr::default();
        record.record(&plan);
        record.remove(attr::ALERT_LEASE);
        record.leased_by(lease_until);
        match self.write(&client_id, "record", record).await? {
            Written::Done => {
                report.raced = 1;
                Ok(report)
            }
            Written::Refused => Err(AlertError::LeaseLost { client_id }),
        }
    }

    /// The client's connections in the flapping window, from the event log.
    async fn activity(&self, client_id: &str, now: u64) -> Result<Activity, AlertError> {
        let since = now.saturating_sub(self.settings.flapping_window_ms);
        let entries = self
            .store
            .history(client_id, Some(since), None)
            .await
            .map_err(|source| AlertError::Activity {
                client_id: client_id.to_owned(),
                source: Box::new(source),
            })?;
        // A broker repair is a correction, not a connection, and an `invalid` event was never
        // accepted: neither counts towards flapping.
        let counted = entries
            .iter()
            .filter(|e| !matches!(e.outcome, Outcome::Reconciled | Outcome::Invalid));
        Ok(Activity::from_rows(counted.map(|e| ActivityRow {
            event_type: &e.event_type,
            session: &e.session_identifier,
            version: e.version_number,
            timestamp: e.event_timestamp,
            reason: e.disconnect_reason.as_deref(),
        })))
    }

    async fn write(
        &self,
        client_id: &str,
        step: &'static str,
        expr: Expr,
    ) -> Result<Written, AlertError> {
        let result = self
            .store
            .client
            .update_item()
            .table_name(&self.store.status_table)
            .key(attr::CLIENT_ID, s(client_id))
            .update_expression(expr.update())
            .condition_expression(expr.condition.join(" AND "))
            .set_expression_attribute_names(Some(expr.p.names))
            .set_expression_attribute_values(Some(expr.p.values))
            .send()
            .await;
        let result = split_refusal(result, |e| match e {
            UpdateItemError::ConditionalCheckFailedException(refused) => Some(refused),
            _ => None,
        });
        match result {
            Ok(Ok(_)) => Ok(Written::Done),
            Ok(Err(_)) => Ok(Written::Refused),
            Err(source) => Err(AlertError::Update {
                step,
                table: self.store.status_table.clone(),
                client_id: client_id.to_owned(),
                source,
            }),
        }
    }

    async fn publish(&self, view: &AlertView, notice: &Notice, now: u64) -> Result<(), AlertError> {
        let message = Message::new(&view.client_id, view.thing_name.as_deref(), notice, now);
        let attribute = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .expect("data_type is set")
        };
        self.sns
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&message.subject)
            .message(message.to_json())
            // Subscribers can filter on these (SNS subscription filter policies). The client id
            // is sanitised as the subject is (a raw id with a newline or NUL can make Publish
            // fail for that client forever); the JSON body keeps it raw.
            .message_attributes("kind", attribute(notice.kind()))
            .message_attributes("clientId", attribute(&sns_safe(&view.client_id)))
            .send()
            .await
            .map_err(|source| AlertError::Publish {
                kind: notice.kind(),
                client_id: view.client_id.clone(),
                topic: self.topic_arn.clone(),
                source: Box::new(source),
            })?;
        Ok(())
    }
}

fn count_next(report: &mut RunReport, next: Next) {
    match next {
        Next::At(_) => report.scheduled += 1,
        Next::OnChange | Next::Never => report.settled += 1,
    }
}

fn collect(
    report: &mut RunReport,
    done: Option<Result<Result<RunReport, AlertError>, tokio::task::JoinError>>,
) {
    match done {
        None => {}
        Some(Ok(Ok(item_report))) => report.add(item_report),
        Some(Ok(Err(err))) => {
            let text = crate::handler::error_chain(&err);
            warn!(error = %text, "client not handled; it stays due");
            report.errors.push(text);
        }
        Some(Err(panic)) => report.errors.push(format!("client task failed: {panic}")),
    }
}

/// The scheduled function's handler: one pass on the wall clock. The payload (an EventBridge
/// scheduled event) carries nothing the pass needs. A pass with failures fails the invocation,
/// so the function's `Errors` metric (and its alarm) sees them; the failed clients stay due
/// and the next minute's pass retries them.
pub async fn function_handler(
    alerter: &Alerter,
    _event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<RunReport, lambda_runtime::Diagnostic> {
    let started = std::time::Instant::now();
    let report = alerter.run(crate::handler::now_ms()).await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if report.errors.is_empty() {
        info!(
            due = report.due,
            offline = report.offline,
            back_online = report.back_online,
            flapping = report.flapping,
            scheduled = report.scheduled,
            settled = report.settled,
            skipped = report.skipped,
            raced = report.raced,
            elapsed_ms,
            "alert pass"
        );
        return Ok(report);
    }
    tracing::error!(
        due = report.due,
        notices = report.notices(),
        failed = report.errors.len(),
        first_error = %report.errors[0],
        elapsed_ms,
        "alert pass with failures"
    );
    Err(lambda_runtime::Diagnostic {
        error_type: "AlertPassFailures".to_owned(),
        error_message: format!(
            "{} of {} due clients failed (they stay due): {}",
            report.errors.len(),
            report.due,
            report
                .errors
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(" | ")
        ),
    })
}
