//! The alerter function: one alert pass a minute, on the wall clock.

use tracing::info;

use crate::alert::pass::{Alerter, RunReport};
use crate::time::now_ms;

/// The scheduled function's handler: one pass on the wall clock. The payload (an EventBridge
/// scheduled event) carries nothing the pass needs. A pass with failures fails the invocation,
/// so the function's `Errors` metric (and its alarm) sees them; the failed clients stay due
/// and the next minute's pass retries them.
pub async fn function_handler(
    alerter: &Alerter,
    _event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<RunReport, lambda_runtime::Diagnostic> {
    let started = std::time::Instant::now();
    let report = alerter.run(now_ms()).await;
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
