//! The alerter: one pass finds the clients due in the alert index, plans each with
//! [`crate::alert::plan`], and sends the notices to SNS, recording what was sent on the status
//! item with conditional writes.
//!
//! # Finding work
//!
//! The alert index is sparse: an item is in it only while it has both `alertShard` (set by a
//! disconnect, removed by the alerter once nothing is left to watch) and `alertDueAt` (set to
//! "now" by a connect, to a minute after the disconnect by a disconnect
//! ([`crate::store::status::FIRST_LOOK_MS`]), and by the alerter to the next time it must
//! look). A client back within that minute is looked at once, to settle it. A pass
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
//! A write whose answer is lost (a reset connection, a timeout after DynamoDB applied it) is
//! retried by the SDK, and the retry's condition then fails on the pass's own write. So each
//! pass names itself on the items it claims (`alertPass`, kept after the commit), asks for the
//! item back when a claim, commit or record is refused, and takes a refusal by its own earlier
//! attempt as done. Without this, a lost claim answer would hold a due notice back for a lease.
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

use std::sync::Arc;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{info, warn};

use super::clauses::{self, Seen};
pub use super::error::AlertError;
use super::rule::{plan, Activity, ActivityRow, AlertView, Next, Notice};
use super::storm::watch::hold;
use crate::config::AlertSettings;
use crate::errors::error_chain;
use crate::rule::Outcome;
use crate::store::capacity::carried;
use crate::store::expr::{n, s, Expr};
use crate::store::item::{Item, ItemProblem, MalformedItem, Status};
use crate::store::schema::{alert_partition, attr, ALERT_INDEX, ALERT_SHARDS, REASON_UNKNOWN};
use crate::store::storms::StormRecord;
use crate::store::Store;

pub use super::clauses::LEASE_MS;
pub use super::report::RunReport;

/// Clients handled at once per index shard (16 shards: up to 64 in flight).
const PER_SHARD: usize = 4;

/// Event-log rows the flapping check reads per connection it must count: a connect, a
/// disconnect, and room for a duplicate of each.
const FLAPPING_ROWS_PER_SESSION: u32 = 4;

/// The alerter's clients and settings; cheap to clone (the SDK clients are shared handles).
#[derive(Debug, Clone)]
pub struct Alerter {
    pub(super) store: Store,
    pub(super) sns: aws_sdk_sns::Client,
    pub(super) topic_arn: String,
    pub(super) settings: AlertSettings,
}

/// What [`plan`] needs of a status item; `None` for an item without a status (settings only).
pub fn alert_view(status: Status) -> Option<AlertView> {
    let presence = status.presence();
    Some(AlertView {
        session: status.session_identifier?,
        client_id: status.client_id,
        thing_name: status.thing_name,
        presence,
        version: status.version_number,
        connected_at: status.connected_at,
        disconnected_at: status.disconnected_at,
        reason: status
            .disconnect_reason
            .unwrap_or_else(|| REASON_UNKNOWN.to_owned()),
        threshold_ms: status.offline_threshold_ms,
        // One of the two at most (the pass writes one and removes the other).
        outage: status.outage.or(status.pending_outage),
        flapping: status.flapping,
    })
}

enum Written {
    Done,
    /// The condition failed; the item as it was, when the write asked for it.
    Refused(Option<Box<Status>>),
}

impl Written {
    /// True for a refusal by this pass's own earlier attempt: the item shows `pass` with the
    /// given lease (`None`: the lease dropped, as the commit and the record do).
    fn by_own_attempt(&self, pass: &str, lease: Option<u64>) -> bool {
        matches!(self, Written::Refused(Some(old))
            if old.alert_pass.as_deref() == Some(pass) && old.alert_lease == lease)
    }
}

/// A name for one pass, unique with overwhelming odds: the std hasher's per-process random
/// keys, mixed with the time (no random-number crate for 64 bits).
fn pass_name(now: u64) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now);
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
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

    /// One pass at `now` (ms since the epoch; the function passes the wall clock, tests a
    /// simulated one). Failures of single clients are reported, not fatal: the rest go on.
    pub async fn run(&self, now: u64) -> RunReport {
        self.run_until(now, None).await
    }

    /// A pass that starts no client after `deadline`: the clients in flight then finish (each
    /// is a claim, its publishes and a commit, every request bounded by the SDK's timeouts),
    /// the rest are counted as `deferred` and left due for the next pass, and no further index
    /// page is read. The function sets the deadline a margin before its own.
    pub async fn run_until(&self, now: u64, deadline: Option<Instant>) -> RunReport {
        let pass: Arc<str> = pass_name(now).into();
        // Storms first: every client of this pass is planned against them.
        let (storms, mut report) = match Box::pin(self.watch_storms(now, &pass)).await {
            Ok((storms, report)) => (Arc::new(storms), report),
            Err(err) => {
                let text = error_chain(&err);
                warn!(error = %text, "no storm registry: no client planned, all stay due");
                return RunReport {
                    errors: vec![text],
                    ..RunReport::default()
                };
            }
        };
        let mut shards = JoinSet::new();
        for shard in 0..ALERT_SHARDS {
            let alerter = self.clone();
            let (pass, storms) = (pass.clone(), storms.clone());
            shards.spawn(carried(async move {
                alerter
                    .run_shard(shard, now, deadline, &pass, &storms)
                    .await
            }));
        }
        while let Some(done) = shards.join_next().await {
            match done {
                Ok(shard_report) => report.add(shard_report),
                Err(panic) => report.errors.push(format!("shard task failed: {panic}")),
            }
        }
        report
    }

    async fn run_shard(
        &self,
        shard: u32,
        now: u64,
        deadline: Option<Instant>,
        pass: &Arc<str>,
        storms: &Arc<Vec<StormRecord>>,
    ) -> RunReport {
        let mut report = RunReport::default();
        let shard_value = alert_partition(shard);
        let mut e = Expr::new();
        let (shard_name, due) = (e.name(attr::ALERT_SHARD), e.name(attr::ALERT_DUE_AT));
        let (shard_v, now_v) = (e.value("shard", s(&shard_value)), e.value("now", n(now)));
        e.require(format!("{shard_name} = {shard_v} AND {due} <= {now_v}"));
        let built = match e.build() {
            Ok(built) => built,
            Err(err) => {
                report.errors.push(error_chain(&AlertError::from(err)));
                return report;
            }
        };
        let mut pages = self
            .store
            .client
            .query()
            .table_name(&self.store.status_table)
            .index_name(ALERT_INDEX)
            .set_key_condition_expression(built.condition)
            .set_expression_attribute_names(built.names)
            .set_expression_attribute_values(built.values)
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
                    report.errors.push(error_chain(&err));
                    break;
                }
            };
            let mut out_of_time = false;
            for item in page.items.unwrap_or_default() {
                report.due += 1;
                if in_flight.len() >= PER_SHARD {
                    collect(&mut report, in_flight.join_next().await);
                }
                out_of_time = out_of_time || deadline.is_some_and(|d| Instant::now() >= d);
                if out_of_time {
                    report.deferred += 1;
                    continue;
                }
                let (alerter, pass, storms) = (self.clone(), pass.clone(), storms.clone());
                in_flight.spawn(carried(async move {
                    alerter.handle(item, now, &pass, &storms).await
                }));
            }
            if out_of_time {
                break;
            }
        }
        while let Some(done) = in_flight.join_next().await {
            collect(&mut report, Some(done));
        }
        report
    }

    /// Plans one due client and carries the plan out.
    async fn handle(
        &self,
        item: Item,
        now: u64,
        pass: &str,
        storms: &[StormRecord],
    ) -> Result<RunReport, AlertError> {
        let client_id = item
            .get(attr::CLIENT_ID)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        let status = Status::from_item(item).map_err(|err| {
            MalformedItem::new(&self.store.status_table, &client_id, ItemProblem::from(err))
        })?;
        let mut report = RunReport::default();
        if status.alert_lease.is_some_and(|until| until >= now) {
            report.skipped = 1;
            return Ok(report);
        }
        let seen = Seen {
            due: status.alert_due_at.unwrap_or_default(),
            last_event_key: status.last_event_key.clone(),
        };
        let Some(view) = alert_view(status) else {
            // Settings without a status: nothing to watch until the first disconnect.
            let mut e = Expr::new();
            clauses::schedule(&mut e, &client_id, Next::Never);
            clauses::unchanged(&mut e, &seen);
            clauses::not_leased(&mut e, now);
            return Ok(match self.write(&client_id, "settle", e, false).await? {
                Written::Done => RunReport {
                    settled: 1,
                    ..report
                },
                Written::Refused(_) => RunReport {
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
        let mut plan = plan(&view, activity.as_ref(), &self.settings, now);
        let held = hold(&mut plan, &client_id, storms, now);
        if let Some(storm) = &held.held_by {
            report.held = 1;
            info!(client_id, storm, "offline notice held by the storm");
        }
        if let Some(storm) = &held.folded_into {
            report.folded = 1;
            info!(client_id, storm, "outage folded into the storm's recovery");
        }

        if plan.notices.is_empty() {
            let mut e = Expr::new();
            clauses::record(&mut e, &plan);
            clauses::schedule(&mut e, &client_id, plan.next);
            clauses::unchanged(&mut e, &seen);
            clauses::not_leased(&mut e, now);
            match self.write(&client_id, "reschedule", e, false).await? {
                Written::Done => count_next(&mut report, plan.next),
                Written::Refused(_) => report.skipped = 1,
            }
            return Ok(report);
        }

        // Claim, send, commit.
        let lease_until = now + LEASE_MS;
        let mut claim = Expr::new();
        claim.set(attr::ALERT_LEASE, n(lease_until));
        claim.set(attr::ALERT_PASS, s(pass));
        clauses::unchanged(&mut claim, &seen);
        clauses::not_leased(&mut claim, now);
        let claimed = self.write(&client_id, "claim", claim, true).await?;
        if let Written::Refused(_) = claimed {
            if !claimed.by_own_attempt(pass, Some(lease_until)) {
                report.skipped = 1;
                return Ok(report);
            }
            info!(client_id, "claim answered late: this pass holds the client");
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
        let mut commit = Expr::new();
        clauses::record(&mut commit, &plan);
        clauses::schedule(&mut commit, &client_id, plan.next);
        commit.remove(attr::ALERT_LEASE);
        clauses::leased_by(&mut commit, lease_until, pass);
        clauses::unchanged(&mut commit, &seen);
        let committed = self.write(&client_id, "commit", commit, true).await?;
        if matches!(committed, Written::Done) || committed.by_own_attempt(pass, None) {
            count_next(&mut report, plan.next);
            return Ok(report);
        }
        // The status changed while sending: keep the record of what was sent, leave the item
        // due (the status update set `alertDueAt`) so the next pass plans the new status.
        let mut record = Expr::new();
        clauses::record(&mut record, &plan);
        record.remove(attr::ALERT_LEASE);
        clauses::leased_by(&mut record, lease_until, pass);
        let recorded = self.write(&client_id, "record", record, true).await?;
        if matches!(recorded, Written::Done) || recorded.by_own_attempt(pass, None) {
            report.raced = 1;
            Ok(report)
        } else {
            Err(AlertError::LeaseLost { client_id })
        }
    }

    /// The client's connections in the flapping window, from the event log.
    async fn activity(&self, client_id: &str, now: u64) -> Result<Activity, AlertError> {
        let since = now.saturating_sub(self.settings.flapping_window_ms);
        // Bounded: the newest rows of the window, at most FLAPPING_ROWS_PER_SESSION a counted
        // connection (and at most one 1 MB page), so a client that flaps thousands of times
        // costs one page, not its whole window. Its notice then counts what that page holds.
        let rows = self
            .settings
            .flapping_sessions
            .saturating_mul(FLAPPING_ROWS_PER_SESSION)
            .saturating_add(FLAPPING_ROWS_PER_SESSION);
        let entries = self
            .store
            .recent_history(client_id, Some(since), None, rows)
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
        return_old: bool,
    ) -> Result<Written, AlertError> {
        let result = self
            .store
            .update_status_item(client_id, expr.build()?, return_old)
            .await;
        match result {
            Ok(Ok(_)) => Ok(Written::Done),
            // An item that does not decode is not this pass's: a plain refusal.
            Ok(Err(old)) => {
                Ok(Written::Refused(old.and_then(|item| {
                    Status::from_item(item).ok().map(Box::new)
                })))
            }
            Err(source) => Err(AlertError::Update {
                step,
                table: self.store.status_table.clone(),
                client_id: client_id.to_owned(),
                source,
            }),
        }
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
            let text = error_chain(&err);
            warn!(error = %text, "client not handled; it stays due");
            report.errors.push(text);
        }
        Some(Err(panic)) => report.errors.push(format!("client task failed: {panic}")),
    }
}
