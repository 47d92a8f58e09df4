//! The PresenceChanged function: the status table's stream in, one EventBridge event per
//! applied status change out (see `iot_presence::functions::changes`).

use iot_presence::config::{aws_config, ChangesConfig, Timeouts};
use iot_presence::functions::changes::{function_handler, Publisher};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON lines when AWS_LAMBDA_LOG_FORMAT=JSON, with the request id of the invocation's span.
    iot_presence::logging::init_lambda();
    let config = ChangesConfig::from_env().inspect_err(|err| {
        tracing::error!(error = %err, "invalid configuration");
    })?;
    let sdk = aws_config(Timeouts::FUNCTION).await;
    let publisher = Publisher {
        events: aws_sdk_eventbridge::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        config,
    };
    run(service_fn(|event| function_handler(&publisher, event))).await
}
