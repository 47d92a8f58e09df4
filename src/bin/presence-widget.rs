//! The live fleet widget: a CloudWatch dashboard custom widget that renders the status table
//! as HTML, read-only (see `iot_presence::widget`).

use iot_presence::config::{aws_config, Config, Timeouts};
use iot_presence::functions::widget::{function_handler, store};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON lines when AWS_LAMBDA_LOG_FORMAT=JSON, with the request id of the invocation's span.
    iot_presence::logging::init_lambda();
    let config = Config::from_env().inspect_err(|err| {
        tracing::error!(error = %err, "invalid configuration");
    })?;
    let sdk = aws_config(Timeouts::FUNCTION).await;
    // Its reads narrowed to what its role may read (no principal, IP address or payload).
    let store = store(&aws_sdk_dynamodb::Client::new(&sdk), &config);
    run(service_fn(|event| function_handler(&store, event))).await
}
