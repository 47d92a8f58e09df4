//! The scheduled reconciler function (off by default in template.yaml): one sweep of the
//! configured scope per invocation, repairing what the broker disagrees with.

use iot_presence::config::{aws_config, ReconcileConfig, Timeouts};
use iot_presence::functions::reconciler::function_handler;
use iot_presence::reconcile::broker::Broker;
use iot_presence::reconcile::pass::Reconciler;
use iot_presence::store::Store;
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON lines when AWS_LAMBDA_LOG_FORMAT=JSON, with the request id of the invocation's span.
    iot_presence::logging::init_lambda();
    let config = ReconcileConfig::from_env().inspect_err(|err| {
        tracing::error!(error = %err, "invalid configuration");
    })?;
    // The IoT data endpoint comes from AWS_ENDPOINT_URL_IOT_DATA_PLANE when the stack sets it.
    let sdk = aws_config(Timeouts::FUNCTION).await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.tables);
    let broker = Broker::new(aws_sdk_iotdataplane::Client::new(&sdk));
    let reconciler = Reconciler::new(store, broker, true);
    let (scope, rate) = (&config.scope, config.rate);
    run(service_fn(|event| {
        function_handler(&reconciler, scope, rate, event)
    }))
    .await
}
