//! The read-only HTTP presence API behind API Gateway (HTTP API): one client's status, paged
//! listings, history, availability, the fleet summary and the incident view, as JSON (see
//! `iot_presence::functions::api`).

use iot_presence::config::{aws_config, Config, StormSettings, Timeouts};
use iot_presence::functions::api::{function_handler, store, Api};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON lines when AWS_LAMBDA_LOG_FORMAT=JSON, with the request id of the invocation's span.
    iot_presence::logging::init_lambda();
    let config = Config::from_env().inspect_err(|err| {
        tracing::error!(error = %err, "invalid configuration");
    })?;
    // The incident view calls a storm what the alerter does (the same STORM_* variables).
    let storm = StormSettings::from_lookup(|var| std::env::var(var).ok()).inspect_err(|err| {
        tracing::error!(error = %err, "invalid configuration");
    })?;
    let sdk = aws_config(Timeouts::FUNCTION).await;
    let api = Api::new(
        store(&aws_sdk_dynamodb::Client::new(&sdk), &config),
        &config,
        storm,
    );
    run(service_fn(|event| function_handler(&api, event))).await
}
