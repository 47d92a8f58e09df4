//! Clients for the local servers (dynoxide serves DynamoDB; moto serves SNS and SQS on a second
//! endpoint, see scripts/local-servers.sh): dummy credentials, us-east-1, and only local
//! endpoints.

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

/// Creates (or finds: CreateTopic is idempotent) the SNS topic `name` and returns its ARN.
pub async fn create_topic(sns: &aws_sdk_sns::Client, name: &str) -> crate::Result<String> {
    Ok(sns
        .create_topic()
        .name(name)
        .send()
        .await
        .map_err(|e| sdk_error("CreateTopic", e))?
        .topic_arn
        .ok_or("CreateTopic: no TopicArn")?)
}

/// The environment a child process needs to reach the local SNS and SQS server: the SDKs'
/// service-specific endpoint variables, so that its DynamoDB endpoint stays its own.
pub fn messaging_env(endpoint: &str) -> [(&'static str, String); 2] {
    [
        ("AWS_ENDPOINT_URL_SNS", endpoint.to_owned()),
        ("AWS_ENDPOINT_URL_SQS", endpoint.to_owned()),
    ]
}

/// The local servers and the two tables: the arguments every subcommand that touches the
/// tables shares (`#[command(flatten)]`).
#[derive(clap::Args, Debug, Clone)]
pub struct Tables {
    /// The local DynamoDB server, e.g. http://127.0.0.1:8000 (nothing else is accepted)
    #[arg(long)]
    pub endpoint: String,
    /// The local SNS and SQS server (moto), for the subcommands that publish alerts
    #[arg(long)]
    pub messaging_endpoint: Option<String>,
    #[arg(long)]
    pub status_table: String,
    #[arg(long)]
    pub events_table: String,
}

impl Tables {
    /// The SNS/SQS endpoint, or an error naming the missing flag.
    pub fn messaging(&self) -> Result<&str> {
        self.messaging_endpoint
            .as_deref()
            .ok_or_else(|| "this subcommand publishes alerts: pass --messaging-endpoint".into())
    }
}

/// Runs `cmd` to its end and returns its output, or kills it once `limit` has passed. std's
/// process API, polled: xtask's tokio then needs no `process` feature, so that every build in
/// the workspace (tests, the replay's binaries, xtask) shares one tokio, and one build of the
/// SDK on top of it.
pub async fn output(
    mut cmd: std::process::Command,
    limit: std::time::Duration,
) -> Result<std::process::Output> {
    use std::io::Read;
    use std::process::Stdio;
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    // Each pipe drained on its own thread, so that a child filling one never blocks.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                // A read error ends the capture; the exit status still tells the outcome.
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = tokio::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if tokio::time::Instant::now() >= deadline {
            // Already exited in between is fine; anything else is reported by wait below.
            let _ = child.kill();
            child.wait()?;
            return Err(format!("{program} timed out after {} s", limit.as_secs()).into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let joined = |t: std::thread::JoinHandle<Vec<u8>>| t.join().unwrap_or_default();
    Ok(std::process::Output {
        status,
        stdout: joined(stdout),
        stderr: joined(stderr),
    })
}

/// Every item of a local table, or only the attribute `only` of each (a Scan: local tables
/// only, and small).
pub async fn scan(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    only: Option<&str>,
) -> Result<Vec<crate::events::Item>> {
    let mut request = client.scan().table_name(table);
    if let Some(attribute) = only {
        request = request
            .projection_expression("#a")
            .expression_attribute_names("#a", attribute);
    }
    Ok(request
        .into_paginator()
        .items()
        .send()
        .collect::<std::result::Result<_, _>>()
        .await
        .map_err(|e| sdk_error("Scan", e))?)
}
