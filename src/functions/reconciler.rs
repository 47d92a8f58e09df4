//! The reconciler function: one sweep of the configured scope against the broker.

use crate::config::Scope;
use crate::errors::error_chain;
use crate::reconcile::broker::Pace;
use crate::reconcile::pass::{Reconciler, Sweep};
use crate::time::now_ms;

/// Time kept back from the function's deadline: a run stops starting checks this long before
/// Lambda would stop it, and reports.
pub const DEADLINE_MARGIN_MS: u64 = 30_000;

/// The scheduled function's handler: one sweep of `scope` at `rate`, on the wall clock, the
/// oldest clients first, until the scope is done or the deadline is near. Failed checks are
/// logged with their clients and counted; the invocation fails (so the `Errors` metric and its
/// alarm see it) only when every check failed, which means something systemic (the role lacks
/// `iot:GetConnection`, the endpoint is wrong, the broker is down), or the scope could not be
/// read.
pub async fn function_handler(
    reconciler: &Reconciler,
    scope: &Scope,
    rate: f64,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<Sweep, lambda_runtime::Diagnostic> {
    let deadline = event.context.deadline;
    let ids = reconciler
        .select(scope, now_ms())
        .await
        .map_err(|err| diagnostic("ReconcileScopeUnreadable", error_chain(&err)))?;
    let mut first_error = None;
    let sweep = reconciler
        .sweep(
            &ids,
            &mut Pace::new(rate),
            now_ms,
            || now_ms() + DEADLINE_MARGIN_MS < deadline,
            |check| {
                if let Some(error) = &check.error {
                    tracing::warn!(client_id = %check.client_id, error, "check failed; nothing written");
                    first_error.get_or_insert_with(|| error.clone());
                } else if check.action.is_disagreement() {
                    tracing::info!(client_id = %check.client_id, action = ?check.action, "disagreement");
                }
            },
        )
        .await;
    let left = ids.len() as u64 - sweep.checked;
    tracing::info!(
        scope = ?scope, selected = ids.len(), checked = sweep.checked, agreed = sweep.agreed,
        repaired = sweep.repaired, unsettled = sweep.unsettled, changed = sweep.changed,
        failed = sweep.failed, throttled = sweep.throttled, left, rate = sweep.final_rate,
        "reconcile sweep"
    );
    if sweep.checked > 0 && sweep.failed == sweep.checked {
        return Err(diagnostic(
            "ReconcileChecksFailed",
            format!(
                "all {} checks failed; first: {}",
                sweep.failed,
                first_error.unwrap_or_default()
            ),
        ));
    }
    Ok(sweep)
}

fn diagnostic(error_type: &str, error_message: String) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic {
        error_type: error_type.to_owned(),
        error_message,
    }
}
