//! The scheduled alert function: one alert pass per invocation (every minute).

use iot_presence::alert::pass::Alerter;
use iot_presence::config::{aws_config, AlertConfig, Timeouts};
use iot_presence::functions::alerter::{function_handler, FleetGauges};
use iot_presence::store::Store;
use iot_presence::telemetry::{Metrics, MetricsConfig};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON lines when AWS_LAMBDA_LOG_FORMAT=JSON, with the request id of the invocation's span.
    iot_presence::logging::init_lambda();
    let config = AlertConfig::from_env().inspect_err(|err| {
        tracing::error!(error = %err, "invalid configuration");
    })?;
    let sdk = aws_config(Timeouts::FUNCTION).await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.tables);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let metrics = Metrics::install(&MetricsConfig::from_env()?)?;
    let alerter = Alerter::new(store.clone(), sns, config.topic_arn, config.settings);
    let gauges = FleetGauges::new(store, config.fleet_gauge_minutes);
    run(service_fn(|event| {
        function_handler(&alerter, &gauges, &metrics, event)
    }))
    .await
}
