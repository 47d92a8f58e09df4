//! The reconciler function: one sweep of the configured scope against the broker.

use crate::config::Scope;
use crate::errors::error_chain;
use crate::event::Presence;
use crate::read::Position;
use crate::reconcile::broker::Pace;
use crate::reconcile::cursor::Cursor;
use crate::reconcile::pass::{ReconcileError, Reconciler, ScopeRun};
use crate::time::now_ms;

/// Time kept back from the function's deadline: a run stops starting checks this long before
/// Lambda would stop it, and reports.
pub const DEADLINE_MARGIN_MS: u64 = 30_000;

/// The scheduled function's handler: one run over `scope` at `rate`, on the wall clock, page
/// by page from where the last run left off (the oldest first on a new cycle), until the scope
/// is done or the deadline is near; the place reached is kept after each page
/// ([`crate::reconcile::cursor`]). Failed checks are logged with their clients and counted;
/// the invocation fails (so the `Errors` metric and its alarm see it) only when every check
/// failed, which means something systemic (the role lacks `iot:GetConnection`, the endpoint is
/// wrong, the broker is down), or the scope or the cursor could not be read or written.
pub async fn function_handler(
    reconciler: &Reconciler,
    scope: &Scope,
    rate: f64,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<ScopeRun, lambda_runtime::Diagnostic> {
    let deadline = event.context.deadline;
    run(reconciler, scope, rate, move || {
        now_ms() + DEADLINE_MARGIN_MS < deadline
    })
    .await
}

/// One run over `scope` while `keep_going`, resuming at the stored cursor and keeping it.
pub async fn run(
    reconciler: &Reconciler,
    scope: &Scope,
    rate: f64,
    keep_going: impl Fn() -> bool + Copy,
) -> Result<ScopeRun, lambda_runtime::Diagnostic> {
    let name = scope.to_string();
    let store = reconciler.store();
    let unreadable =
        |err: &dyn std::error::Error| diagnostic("ReconcileScopeUnreadable", error_chain(err));
    let start = store
        .reconcile_cursor(&name)
        .await
        .map_err(|err| unreadable(&err))?
        .map(|c| (c.presence, c.position()));
    let mut first_error = None;
    let result = reconciler
        .run_scope(
            scope,
            start,
            &mut Pace::new(rate),
            now_ms,
            keep_going,
            async |place: Option<(Presence, Position)>| {
                let cursor = place.map(|(presence, p)| Cursor {
                    scope: name.clone(),
                    presence,
                    at: p.at,
                    client_id: p.client_id,
                });
                store
                    .set_reconcile_cursor(cursor.as_ref(), now_ms())
                    .await
                    .map_err(|e| ReconcileError::Read(e.into()))
            },
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
    let run = result.map_err(|err| unreadable(&err))?;
    let sweep = &run.sweep;
    tracing::info!(
        scope = %name, pages = run.pages, resumed = run.resumed, finished = run.finished,
        checked = sweep.checked, agreed = sweep.agreed, repaired = sweep.repaired,
        unsettled = sweep.unsettled, changed = sweep.changed, failed = sweep.failed,
        throttled = sweep.throttled, rate = sweep.final_rate, "reconcile run"
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
    Ok(run)
}

fn diagnostic(error_type: &str, error_message: String) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic {
        error_type: error_type.to_owned(),
        error_message,
    }
}
