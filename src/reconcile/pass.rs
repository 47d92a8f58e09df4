//! Reconciliation with the broker: read a client's status, ask the broker ([`crate::reconcile::broker`]),
//! apply the repair rule ([`crate::reconcile::plan`]), and, when asked to, write the repair.
//! Used by `presence reconcile` and by the scheduled reconciler function.
//!
//! The writes of a repair: [`crate::repair`].

use std::collections::VecDeque;

use serde::Serialize;
use thiserror::Error;
use tokio::task::JoinSet;

use crate::config::Scope;
use crate::event::Presence;
use crate::read::{Position, ReadError};
use crate::reconcile::broker::{Broker, BrokerError, Pace};
use crate::reconcile::repair::RepairError;
use crate::reconcile::rule::{plan, BrokerAnswer, Finding, Unsettled};
use crate::store::capacity::carried;
use crate::store::item::MalformedItem;
use crate::store::Store;

/// How many times one client is asked again after its call was throttled (the pace halves
/// each time) before the check is reported as failed.
pub const THROTTLE_RETRIES: u32 = 3;
/// Checks in flight at once in a sweep (the pace still bounds how fast they start).
pub const IN_FLIGHT: usize = 32;

/// What one check did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The status and the broker agree.
    Agree,
    /// They disagree too recently to repair; the next sweep looks again.
    Unsettled(Unsettled),
    /// They disagree; without `--apply` nothing is written.
    WouldRepair,
    Repaired,
    /// The status changed between the read and the repair: nothing written.
    Changed,
    /// The broker or the table failed for this client: nothing written.
    Failed,
}

impl Action {
    /// True for checks that found the status and the broker at odds.
    pub fn is_disagreement(self) -> bool {
        !matches!(self, Action::Agree | Action::Failed)
    }
}

/// One client's check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub client_id: String,
    pub action: Action,
    /// The status as read: `connected`/`disconnected` and since when (`None`: no status).
    pub ours: Option<(Presence, Option<u64>)>,
    pub broker: Option<BrokerAnswer>,
    /// What the status became (or would become).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repair: Option<RepairView>,
    /// Why it failed, with the causes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A repair as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepairView {
    pub presence: Presence,
    pub since: u64,
    pub event_timestamp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disconnect_reason: Option<String>,
}

#[derive(Debug, Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Write(#[from] RepairError),
}

/// The counts of a sweep.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sweep {
    pub checked: u64,
    pub agreed: u64,
    pub unsettled: u64,
    pub would_repair: u64,
    pub repaired: u64,
    pub changed: u64,
    pub failed: u64,
    /// Calls throttled by the broker (each retried at a slower pace).
    pub throttled: u64,
    /// The pace at the end (calls a second).
    pub final_rate: f64,
    /// The index of the first client the sweep did not check (its deadline came first), if
    /// any: where the next run resumes.
    #[serde(skip)]
    pub resume_at: Option<usize>,
}

/// What a paged run over a scope did ([`Reconciler::run_scope`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeRun {
    #[serde(flatten)]
    pub sweep: Sweep,
    /// Pages of the scope read.
    pub pages: u64,
    /// The scope was swept to its end (the next run starts a new cycle from the oldest).
    pub finished: bool,
    /// The run started where an earlier one left off.
    pub resumed: bool,
}

/// Clients read from the scope at a time: one page of the listing, checked before the next is
/// read, so a run holds at most this many ids whatever the fleet's size.
pub const SCOPE_PAGE: usize = 500;

impl Sweep {
    fn count(&mut self, action: Action) {
        self.checked += 1;
        *match action {
            Action::Agree => &mut self.agreed,
            Action::Unsettled(_) => &mut self.unsettled,
            Action::WouldRepair => &mut self.would_repair,
            Action::Repaired => &mut self.repaired,
            Action::Changed => &mut self.changed,
            Action::Failed => &mut self.failed,
        } += 1;
    }
}

/// Checks clients against the broker and, with `apply`, repairs them.
#[derive(Debug, Clone)]
pub struct Reconciler {
    store: Store,
    broker: Broker,
    apply: bool,
}

impl Reconciler {
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn new(store: Store, broker: Broker, apply: bool) -> Self {
        Reconciler {
            store,
            broker,
            apply,
        }
    }

    /// The clients of a scope, oldest in their state first (the likeliest to be wrong): the
    /// status index by pages of ids, never a table scan. `now_ms` places the "for at least"
    /// bounds. The whole scope in memory (ids only): for the CLI's counts and tests; the
    /// scheduled function pages with [`Reconciler::run_scope`].
    pub async fn select(&self, scope: &Scope, now_ms: u64) -> Result<Vec<String>, ReadError> {
        if let Scope::Clients(ids) = scope {
            return Ok(ids.clone());
        }
        let mut ids = Vec::new();
        for (presence, before) in scope_states(scope, now_ms) {
            let mut after = None;
            loop {
                let page = self
                    .store
                    .oldest_page(presence, before, after.as_ref(), SCOPE_PAGE)
                    .await?;
                let Some(last) = page.last().cloned() else {
                    break;
                };
                ids.extend(page.into_iter().map(|p| p.client_id));
                after = Some(last);
            }
        }
        Ok(ids)
    }

    /// Checks the clients at the pace, up to [`IN_FLIGHT`] at once (a check is three round
    /// trips, so one at a time could not keep up with a fast pace), calling `each` with every
    /// check as it completes. `now` is read as each check starts (the time `Q` of its answer).
    /// Stops starting checks once `keep_going` says so (the scheduled function's deadline),
    /// leaving the rest for the next run. A throttled check goes back to the front of the
    /// queue at a halved pace, at most [`THROTTLE_RETRIES`] times.
    pub async fn sweep(
        &self,
        client_ids: &[String],
        pace: &mut Pace,
        now: impl Fn() -> u64,
        keep_going: impl Fn() -> bool,
        mut each: impl FnMut(&Check),
    ) -> Sweep {
        let mut sweep = Sweep::default();
        let mut pending: VecDeque<(usize, String, u32)> = client_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (i, id.clone(), 0))
            .collect();
        let mut tasks = JoinSet::new();
        loop {
            while tasks.len() < IN_FLIGHT && keep_going() {
                let Some((index, client_id, tries)) = pending.pop_front() else {
                    break;
                };
                pace.wait().await;
                let (me, at) = (self.clone(), now());
                tasks.spawn(carried(async move {
                    let result = me.check(&client_id, at).await;
                    (index, client_id, tries, result)
                }));
            }
            let Some(done) = tasks.join_next().await else {
                break;
            };
            let (index, client_id, tries, result) = match done {
                Ok(done) => done,
                // A panicking check is a bug; the sweep goes on and counts nothing for it.
                Err(err) => {
                    tracing::error!(error = %err, "check task failed");
                    continue;
                }
            };
            match result {
                Err(ReconcileError::Broker(err))
                    if err.is_throttling() && tries < THROTTLE_RETRIES =>
                {
                    sweep.throttled += 1;
                    pace.slow_down();
                    tracing::warn!(client_id, rate = pace.rate(), "throttled; slowing down");
                    pending.push_front((index, client_id, tries + 1));
                }
                result => {
                    let check = self.settle(&client_id, result);
                    sweep.count(check.action);
                    each(&check);
                }
            }
        }
        sweep.final_rate = pace.rate();
        sweep.resume_at = pending.iter().map(|(index, ..)| *index).min();
        sweep
    }

    /// Sweeps `scope` page by page ([`SCOPE_PAGE`] clients, oldest first), from `start` (after
    /// that place; `None`: from the oldest), calling `cursor` with the place reached after each
    /// page (`None` once the scope is done), until the scope ends or `keep_going` says stop.
    /// Memory stays one page, whatever the scope's size.
    #[allow(clippy::too_many_arguments)]
    pub async fn run_scope(
        &self,
        scope: &Scope,
        start: Option<(Presence, Position)>,
        pace: &mut Pace,
        now: impl Fn() -> u64 + Copy,
        keep_going: impl Fn() -> bool + Copy,
        mut cursor: impl AsyncFnMut(Option<(Presence, Position)>) -> Result<(), ReconcileError>,
        mut each: impl FnMut(&Check),
    ) -> Result<ScopeRun, ReconcileError> {
        let at = now();
        let states = scope_states(scope, at);
        let mut run = ScopeRun {
            resumed: start.is_some(),
            ..ScopeRun::default()
        };
        if let Scope::Clients(ids) = scope {
            run.sweep = self.sweep(ids, pace, now, keep_going, each).await;
            run.finished = run.sweep.resume_at.is_none();
            return Ok(run);
        }
        // Resume in the state the cursor names (connected comes before disconnected).
        let mut place = start;
        let first = place
            .as_ref()
            .and_then(|(p, _)| states.iter().position(|(s, _)| s == p))
            .unwrap_or(0);
        if place
            .as_ref()
            .is_some_and(|(p, _)| !states.iter().any(|(s, _)| s == p))
        {
            place = None;
        }
        for &(presence, before) in &states[first..] {
            let mut after = place.take().map(|(_, position)| position);
            loop {
                if !keep_going() {
                    return Ok(run);
                }
                let page = self
                    .store
                    .oldest_page(presence, before, after.as_ref(), SCOPE_PAGE)
                    .await?;
                run.pages += 1;
                if page.is_empty() {
                    break;
                }
                let ids: Vec<String> = page.iter().map(|p| p.client_id.clone()).collect();
                let swept = self.sweep(&ids, pace, now, keep_going, &mut each).await;
                let resume = swept.resume_at;
                add(&mut run.sweep, swept);
                match resume {
                    // The deadline came mid-page: resume before the first client not checked.
                    Some(0) => return Ok(run),
                    Some(i) => {
                        cursor(Some((presence, page[i - 1].clone()))).await?;
                        return Ok(run);
                    }
                    None => {
                        let last = page[page.len() - 1].clone();
                        cursor(Some((presence, last.clone()))).await?;
                        after = Some(last);
                    }
                }
            }
        }
        cursor(None).await?;
        run.finished = true;
        Ok(run)
    }

    fn settle(&self, client_id: &str, result: Result<Check, ReconcileError>) -> Check {
        result.unwrap_or_else(|err| {
            if let ReconcileError::Broker(BrokerError::Throttled { .. }) = err {
                tracing::warn!(
                    client_id,
                    "still throttled after {THROTTLE_RETRIES} retries"
                );
            }
            Check {
                client_id: client_id.to_owned(),
                action: Action::Failed,
                ours: None,
                broker: None,
                repair: None,
                error: Some(crate::errors::error_chain(&err)),
            }
        })
    }

    /// One client: read the status, ask the broker, plan, and (with `apply`) write.
    pub async fn check(&self, client_id: &str, now_ms: u64) -> Result<Check, ReconcileError> {
        let status = self.store.status(client_id).await?;
        let answer = self.broker.ask(client_id, now_ms).await?;
        let observed = match &status {
            Some(status) => status.observed().map_err(|problem| {
                ReadError::from(MalformedItem::new(
                    &self.store.status_table,
                    client_id,
                    problem,
                ))
            })?,
            None => None,
        };
        let finding = plan(observed.as_ref(), &answer, self.store.window);
        let (action, repair) = match finding {
            Finding::Agree => {
                if self.apply && status.is_some() {
                    self.store.keep_broker_facts(client_id, &answer).await?;
                }
                (Action::Agree, None)
            }
            Finding::Unsettled(why) => (Action::Unsettled(why), None),
            Finding::Repair(repair) if !self.apply => (Action::WouldRepair, Some(repair)),
            Finding::Repair(repair) => {
                let read_key = status.as_ref().and_then(|s| s.last_event_key.as_deref());
                let written = self
                    .store
                    .write_repair(client_id, read_key, &repair, &answer)
                    .await?;
                let action = if written {
                    Action::Repaired
                } else {
                    Action::Changed
                };
                (action, Some(repair))
            }
        };
        Ok(Check {
            client_id: client_id.to_owned(),
            action,
            ours: status.as_ref().map(|s| (s.presence(), s.since())),
            broker: Some(answer),
            repair: repair.map(|r| RepairView {
                presence: r.presence,
                since: r.since,
                event_timestamp: r.timestamp,
                disconnect_reason: r.disconnect_reason,
            }),
            error: None,
        })
    }
}

/// The states a scope sweeps, in order, each with its "for at least" bound at `now_ms`.
fn scope_states(scope: &Scope, now_ms: u64) -> Vec<(Presence, Option<u64>)> {
    let before = |d: &std::time::Duration| Some(now_ms.saturating_sub(crate::time::millis(*d)));
    match scope {
        Scope::Clients(_) => Vec::new(),
        Scope::ConnectedFor(d) => vec![(Presence::Connected, before(d))],
        Scope::DisconnectedFor(d) => vec![(Presence::Disconnected, before(d))],
        Scope::All => vec![(Presence::Connected, None), (Presence::Disconnected, None)],
    }
}

/// Adds one page's sweep to a run's.
fn add(total: &mut Sweep, page: Sweep) {
    total.checked += page.checked;
    total.agreed += page.agreed;
    total.unsettled += page.unsettled;
    total.would_repair += page.would_repair;
    total.repaired += page.repaired;
    total.changed += page.changed;
    total.failed += page.failed;
    total.throttled += page.throttled;
    total.final_rate = page.final_rate;
    total.resume_at = page.resume_at;
}
