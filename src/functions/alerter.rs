//! The alerter function: one alert pass a minute, on the wall clock, and the fleet gauges.

use tracing::info;

use crate::alert::pass::{Alerter, RunReport};
use crate::errors::error_chain;
use crate::read::FleetCounts;
use crate::store::Store;
use crate::telemetry::{self, Metrics};
use crate::time::now_ms;

/// Counts the fleet for the `ConnectedClients`/`DisconnectedClients` gauges every
/// `every_minutes` minutes of the wall clock (0: never). The alerter runs every minute, so
/// the gauges ride on it rather than on a function of their own; a count costs reads in
/// proportion to the fleet (docs/observability.md "Fleet gauges"), hence the interval.
#[derive(Debug, Clone)]
pub struct FleetGauges {
    store: Store,
    every_minutes: u64,
}

impl FleetGauges {
    pub fn new(store: Store, every_minutes: u64) -> Self {
        FleetGauges {
            store,
            every_minutes,
        }
    }

    /// Whether the pass at `now` (ms) counts: the first pass of each interval.
    pub fn due(&self, now: u64) -> bool {
        self.every_minutes > 0 && (now / 60_000) % self.every_minutes == 0
    }

    /// Counts the fleet when due, and sets the gauges.
    pub async fn count(&self, now: u64) -> Result<Option<FleetCounts>, crate::read::ReadError> {
        if !self.due(now) {
            return Ok(None);
        }
        // Boxed: the pass and the count are joined, and their futures together are deep.
        let counts = Box::pin(self.store.fleet_counts()).await?;
        telemetry::fleet_counted(counts);
        Ok(Some(counts))
    }
}

/// Time kept back from the function's deadline: a pass starts no client later than this
/// before Lambda would stop it (10 s of the 60 s timeout: a client in flight is a claim, its
/// publishes and a commit), and leaves the rest due for the next minute's pass.
pub const DEADLINE_MARGIN_MS: u64 = 10_000;

/// The scheduled function's handler: one pass on the wall clock, and the fleet count beside
/// it. The payload (an EventBridge scheduled event) carries nothing the pass needs. A pass with
/// failures, or a failed count, fails the invocation, so the function's `Errors` metric (and
/// its alarm) sees them; the failed clients stay due and the next minute's pass retries them.
pub async fn function_handler(
    alerter: &Alerter,
    gauges: &FleetGauges,
    metrics: &Metrics,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<RunReport, lambda_runtime::Diagnostic> {
    let now = now_ms();
    let left = event
        .context
        .deadline
        .saturating_sub(now)
        .saturating_sub(DEADLINE_MARGIN_MS);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(left);
    let result = pass(alerter, gauges, now, Some(deadline)).await;
    metrics.flush(&event.context.request_id);
    result
}

/// One pass and one count at `now`, starting no client after `deadline`, with their metrics
/// recorded.
pub async fn pass(
    alerter: &Alerter,
    gauges: &FleetGauges,
    now: u64,
    deadline: Option<tokio::time::Instant>,
) -> Result<RunReport, lambda_runtime::Diagnostic> {
    let started = std::time::Instant::now();
    let (report, counted) = tokio::join!(alerter.run_until(now, deadline), gauges.count(now));
    let elapsed = started.elapsed();
    telemetry::pass_done(&report, elapsed);
    let elapsed_ms = crate::time::millis(elapsed);
    let counts = match counted {
        Ok(counts) => counts,
        Err(err) => {
            tracing::error!(error = %error_chain(&err), "fleet count failed");
            return Err(lambda_runtime::Diagnostic {
                error_type: "FleetCountFailed".to_owned(),
                error_message: error_chain(&err),
            });
        }
    };
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
            deferred = report.deferred,
            connected = counts.map(|c| c.connected),
            disconnected = counts.map(|c| c.disconnected),
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
