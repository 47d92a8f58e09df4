//! The Lambda function: IoT lifecycle events in, presence status out.

use iot_presence::config::{aws_config, dynamodb_client, Config, Timeouts};
use iot_presence::functions::ingest::function_handler;
use iot_presence::store::Store;
use iot_presence::telemetry::{Metrics, MetricsConfig};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON lines when AWS_LAMBDA_LOG_FORMAT=JSON, with the request id of the invocation's span.
    iot_presence::logging::init_lambda();
    let config = Config::from_env().inspect_err(|err| {
        tracing::error!(error = %err, "invalid configuration");
    })?;
    let metrics = Metrics::install(&MetricsConfig::from_env()?)?;
    let sdk = aws_config(Timeouts::FUNCTION).await;
    let store = Store::new(dynamodb_client(&sdk, None), &config);
    // The table's shard count, set from STATUS_SHARDS on first use; a count the table does not
    // accept stops the function here, with both counts named.
    store
        .adopt_shards(config.status_shards)
        .await
        .inspect_err(|err| {
            tracing::error!(error = %iot_presence::errors::error_chain(err), "shard count");
        })?;
    run(service_fn(|event| {
        function_handler(&store, &metrics, event)
    }))
    .await
}
