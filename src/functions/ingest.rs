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
    let response = handle(store, event.payload.get(), now_ms()).await;
    metrics.flush(&event.context.request_id);
    response
}
