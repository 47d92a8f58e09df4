//! Clients for the local server (moto serves DynamoDB, SNS and SQS on one endpoint): dummy
//! credentials, us-east-1, and only a local endpoint.

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};

use crate::Result;

/// Refuses anything but loopback, or the gateway of the docker network scripts/sam-local.sh
/// created (IOT_PRESENCE_DOCKER_GATEWAY): this tooling writes tables and must never reach AWS.
pub fn check_local(endpoint: &str) -> Result {
    let mut local = vec![
        "http://127.".to_owned(),
        "http://localhost:".to_owned(),
        "http://[::1]:".to_owned(),
    ];
    if let Ok(gateway) = std::env::var("IOT_PRESENCE_DOCKER_GATEWAY") {
        if !gateway.is_empty() {
            local.push(format!("http://{gateway}:"));
        }
    }
    if local.iter().any(|prefix| endpoint.starts_with(prefix)) {
        Ok(())
    } else {
        Err(format!("refusing a non-local endpoint: {endpoint}").into())
    }
}

pub fn sdk_config(endpoint: &str) -> Result<aws_config::SdkConfig> {
    check_local(endpoint)?;
    Ok(aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "local", "local", None, None, "xtask",
        )))
        .build())
}

pub fn dynamodb(endpoint: &str) -> Result<aws_sdk_dynamodb::Client> {
    Ok(aws_sdk_dynamodb::Client::new(&sdk_config(endpoint)?))
}

/// The environment a child process (`presence`, a function) needs for the local server.
pub const CHILD_ENV: [(&str, &str); 3] = [
    ("AWS_REGION", "us-east-1"),
    ("AWS_ACCESS_KEY_ID", "local"),
    ("AWS_SECRET_ACCESS_KEY", "local"),
];

/// An SDK error with its causes (the SDK's Display alone says only "service error").
pub fn sdk_error<E: std::error::Error>(what: &str, e: E) -> String {
    format!(
        "{what}: {}",
        aws_sdk_dynamodb::error::DisplayErrorContext(e)
    )
}

/// The local server and its two tables: the arguments every subcommand that touches the tables
/// shares (`#[command(flatten)]`).
#[derive(clap::Args, Debug, Clone)]
pub struct Tables {
    /// The local server, e.g. http://127.0.0.1:8000 (nothing else is accepted)
    #[arg(long)]
    pub endpoint: String,
    #[arg(long)]
    pub status_table: String,
    #[arg(long)]
    pub events_table: String,
}
