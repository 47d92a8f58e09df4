//! The Lambda handler: one lifecycle event in, one outcome out.

use std::time::Instant;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::value::RawValue;
use thiserror::Error;
use tracing::{debug, error, info, warn};

use crate::errors::error_chain;
use crate::event::{InvalidEvent, LifecycleEvent};
use crate::rule::Outcome;
use crate::store::capacity::{self, Tally};
use crate::store::{Store, StoreError};
use crate::telemetry::{self, Metrics};
use crate::time::now_ms;

/// What the function returns for a recorded event (stale and duplicate events are successes).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub client_id: String,
    pub event_type: &'static str,
    pub event_key: String,
    pub outcome: Outcome,
    /// The event's row was there already (a redelivery): `outcome` is the recorded one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub redelivered: bool,
    /// What recording it consumed, by table and index (`store::capacity`): measured units,
    /// and the derived charge of refused conditional writes.
    pub consumed_capacity: Tally,
}

/// Why an invocation failed. Either way Lambda keeps the event: it retries the invocation, and
/// after the retries it goes to the on-failure destination. Nothing is dropped silently.
#[derive(Error)]
pub enum HandlerError {
    #[error("invalid lifecycle event: {0}")]
    Invalid(#[from] InvalidEvent),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Only in a build with the `simulated-clock` feature (see [`received_at`]).
    #[cfg(feature = "simulated-clock")]
    #[error("the simulated clock in {path}")]
    SimulatedClock {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl HandlerError {
    /// The `errorType` Lambda records: what an operator should do about it.
    pub fn error_type(&self) -> &'static str {
        match self {
            // Retrying cannot help; the event waits in the on-failure destination.
            HandlerError::Invalid(_) => "InvalidEvent",
            // Throttling, timeouts, 5xx: Lambda's retry is expected to succeed.
            HandlerError::Store(e) if e.is_transient() => "TransientStoreError",
            // Permissions, missing table, malformed item: needs a person.
            HandlerError::Store(_) => "StoreError",
            #[cfg(feature = "simulated-clock")]
            HandlerError::SimulatedClock { .. } => "SimulatedClockError",
        }
    }
}

/// The runtime logs a failed invocation's error with `{:?}`: make that line say what happened,
/// with every cause, rather than dump nested enums.
impl std::fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type(), error_chain(self))
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(err: HandlerError) -> Self {
        Diagnostic {
            error_type: err.error_type().to_owned(),
            error_message: error_chain(&err),
        }
    }
}

/// Validates and records one event (`payload` exactly as received), logging one line for it.
pub async fn handle(store: &Store, payload: &str, now_ms: u64) -> Result<Response, HandlerError> {
    let started = Instant::now();
    let event = LifecycleEvent::parse(payload).inspect_err(|err| {
        warn!(error = %err, payload_bytes = payload.len(), "rejected invalid event");
        telemetry::event_handled(telemetry::OUTCOME_INVALID, None, started.elapsed());
    })?;
    let (recorded, consumed) = capacity::measure(store.record(&event, payload, now_ms)).await;
    telemetry::units_written(consumed.total().writes());
    let recorded = recorded.inspect_err(|err| {
        error!(
            clientId = %event.client_id,
            eventType = %event.event_type,
            versionNumber = event.version_number,
            transient = err.is_transient(),
            error = %error_chain(err),
            "could not record event"
        );
        telemetry::event_handled(telemetry::OUTCOME_FAILED, None, started.elapsed());
    })?;
    let seen = telemetry::is_seen(recorded.outcome, recorded.redelivered)
        .then_some((event.event_type, event.disconnect_reason.as_deref()));
    telemetry::event_handled(recorded.outcome.as_str(), seen, started.elapsed());
    info!(
        clientId = %event.client_id,
        eventType = %event.event_type,
        versionNumber = event.version_number,
        timestamp = event.timestamp,
        outcome = %recorded.outcome,
        rule = recorded.rule.map(|r| format!("{r:?}")),
        redelivered = recorded.redelivered,
        writeUnits = consumed.total().writes(),
        latencyMs = started.elapsed().as_secs_f64() * 1000.0,
        "event recorded"
    );
    debug!(
        clientId = %event.client_id,
        principalIdentifier = event.principal_identifier.as_deref(),
        ipAddress = event.ip_address.as_deref(),
        "event principal"
    );
    Ok(Response {
        client_id: event.client_id,
        event_type: event.event_type.as_str(),
        event_key: recorded.event_key,
        outcome: recorded.outcome,
        redelivered: recorded.redelivered,
        consumed_capacity: consumed,
    })
}

/// The `service_fn` body: the payload arrives as raw JSON so the event table can keep it
/// exactly as received. The invocation's metrics are written after it, success or not.
pub async fn function_handler(
    store: &Store,
    metrics: &Metrics,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Response, HandlerError> {
    let response = match received_at() {
        Ok(now) => handle(store, event.payload.get(), now).await,
        Err(err) => Err(err),
    };
    metrics.flush(&event.context.request_id);
    response
}

/// When this invocation received its event: the host's clock, which the ordering rule bounds
/// every timestamp by (an event cannot have happened after it arrived).
#[cfg(not(feature = "simulated-clock"))]
fn received_at() -> Result<u64, HandlerError> {
    Ok(now_ms())
}

/// The environment variable naming the simulated clock's file (`simulated-clock` builds only).
#[cfg(feature = "simulated-clock")]
pub const SIMULATED_CLOCK_VAR: &str = "SIMULATED_CLOCK_FILE";

/// In a build with the `simulated-clock` feature, the local replay's (`scripts/replay.sh`), the
/// receipt time is read from the file `SIMULATED_CLOCK_FILE` names, epoch ms as text, when that
/// file exists: the alert timeline runs on a simulated clock up to ~35 minutes ahead of the
/// host's, and its events must be received on that clock for the rule to treat them as it does
/// deployed. With the variable unset or the file absent, the host's clock. Deployed builds
/// (`sam build`, `cargo lambda build`) have the default features and never read it.
#[cfg(feature = "simulated-clock")]
fn received_at() -> Result<u64, HandlerError> {
    let Some(path) = std::env::var_os(SIMULATED_CLOCK_VAR) else {
        return Ok(now_ms());
    };
    let failed = |source| HandlerError::SimulatedClock {
        path: path.to_string_lossy().into_owned(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(now_ms()),
        Err(err) => Err(failed(err)),
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|err| failed(std::io::Error::new(std::io::ErrorKind::InvalidData, err))),
    }
}
