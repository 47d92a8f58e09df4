//! `presence`: the read side of iot-presence, for operators and scripts.
//!
//! Exit codes: [`EXIT_CODES`], shown by `presence --help`; [`Failure`] maps onto them.
//!
//! Layout: `args` (the command line), `stack` (`--stack`: the values from the stack's
//! outputs), `output` (tables, time formats, JSON views), and one module per command group.

mod alerts;
mod args;
mod availability;
mod cost;
mod history;
mod incident;
mod output;
mod rebuild;
mod reconcile;
mod redrive;
mod shards;
mod stack;
mod status;
mod summary;

use std::process::ExitCode;

use iot_presence::config::AlertSettings;
use iot_presence::config::{
    aws_config, dynamodb_client, Config, Timeouts, ALERT_TOPIC_VAR, EVENTS_TABLE_VAR,
    STATUS_TABLE_VAR,
};
use iot_presence::errors::{display_safe, error_chain, shown};
use iot_presence::read::ReadError;
use iot_presence::rule::Window;
use iot_presence::store::{Store, StoreError};
use iot_presence::time::now_ms;

use args::{Cli, Command};
use redrive::QueueArg;
// The command modules' shared names.
pub(crate) use args::{parse_time, Format};
pub(crate) use output::{iso_seconds, table};

/// The exit-code table, as `presence --help` shows it (docs/cli.md too: `tests/cli_contract.rs`
/// checks both, and that each code means what it says).
pub const EXIT_CODES: &str = "Exit codes:
  0  success
  1  a client named on the command line is unknown (nothing recorded for it)
  2  usage: a bad or missing argument, no table names, no region, a --stack without the output
  3  AWS: a request failed (the message names the call, the table or queue, and the cause)
  4  work left undone: redrive left messages in the queue, reconcile checks failed";

pub enum Failure {
    Usage(String),
    /// Clients named on the command line have nothing recorded (`what` says what is missing).
    Unknown {
        clients: Vec<String>,
        what: &'static str,
    },
    Read(ReadError),
    Write(StoreError),
    /// A queue could not be read (the message names the queue and the cause).
    Queue(String),
    /// The `--stack` could not be read (the message names the stack and the cause).
    Stack {
        message: String,
        hint: &'static str,
    },
    /// Reported already.
    Pass,
    /// Work left undone, reported already: `redrive` left messages in the queue, or
    /// `reconcile` checks failed.
    Left,
}

impl Failure {
    /// The one client `client_id`, unknown: `what` is recorded for it.
    pub fn unknown(client_id: &str, what: &'static str) -> Self {
        Failure::Unknown {
            clients: vec![client_id.to_owned()],
            what,
        }
    }
}

/// What every command says of a client with nothing recorded.
pub const NOTHING_RECORDED: &str = "nothing recorded (no status item, no events)";

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        Failure::Write(err)
    }
}

impl From<ReadError> for Failure {
    fn from(err: ReadError) -> Self {
        Failure::Read(err)
    }
}

/// The service a failure came from: the hint names its own flags and variables.
#[derive(Clone, Copy)]
enum Service {
    DynamoDb,
    Sqs,
}

fn hint(service: Service, message: &str) -> &'static str {
    let credentials = message.contains("credentials") || message.contains("Credentials");
    let unreachable = message.contains("dispatch failure") || message.contains("timeout");
    match service {
        _ if credentials => {
            "configure AWS credentials (AWS_PROFILE, aws configure, or an instance role)"
        }
        Service::Sqs
            if message.contains("NonExistentQueue") || message.contains("QueueDoesNotExist") =>
        {
            "check --queue (failed or rule-errors with --stack, or the URL of the stack output \
             FailedEventsQueueUrl or RuleErrorsQueueUrl) and the region (--region, AWS_REGION)"
        }
        Service::Sqs if unreachable => {
            "check the queue URL's host, the SQS endpoint (AWS_ENDPOINT_URL_SQS) and the network"
        }
        Service::DynamoDb if message.contains("ResourceNotFound") => {
            "check --status-table/--events-table (or STATUS_TABLE_NAME/EVENTS_TABLE_NAME, or \
             --stack) and the region (--region, AWS_REGION)"
        }
        Service::DynamoDb if unreachable => {
            "check the endpoint (--endpoint-url, AWS_ENDPOINT_URL_DYNAMODB) and the network"
        }
        _ => "see the cause above",
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Cost(args) = cli.command {
        // Arithmetic on the committed measurements: no tables, no region, no credentials.
        return cost::run(args, cli.output);
    }
    check_endpoints(cli.endpoint_url.as_deref())?;
    let needs_events = matches!(
        cli.command,
        Command::History { .. }
            | Command::Rebuild { .. }
            | Command::AlertPass { .. }
            | Command::Availability(_)
            | Command::Redrive(_)
            | Command::Reconcile(_)
    );
    let needs_status = !matches!(cli.command, Command::History { .. });
    let needs_topic = matches!(cli.command, Command::AlertPass { .. });
    // The flags and their variables first (an empty variable is no value); the stack's outputs
    // only for what they leave missing.
    let given = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
    let mut status_table = given(&cli.status_table);
    let mut events_table = given(&cli.events_table);
    let mut topic_arn = match &cli.command {
        Command::AlertPass { topic_arn, .. } => given(topic_arn),
        _ => None,
    };
    let stack_name = given(&cli.stack);
    let missing_status = needs_status && status_table.is_none();
    let missing_events = needs_events && events_table.is_none();
    let missing_topic = needs_topic && topic_arn.is_none();
    let missing = missing_status || missing_events || missing_topic;
    // Before the SDK's configuration is loaded: a usage error needs no region or credentials.
    let stack_hint = |output: &str| format!("or name the stack with --stack (its output {output})");
    if missing && stack_name.is_none() {
        let (what, flag, var, output) = if missing_status {
            (
                "status table",
                "--status-table",
                STATUS_TABLE_VAR,
                stack::STATUS_TABLE_OUTPUT,
            )
        } else if missing_events {
            (
                "event table",
                "--events-table",
                EVENTS_TABLE_VAR,
                stack::EVENTS_TABLE_OUTPUT,
            )
        } else {
            (
                "alert topic",
                "--topic-arn",
                ALERT_TOPIC_VAR,
                stack::ALERT_TOPIC_OUTPUT,
            )
        };
        return Err(Failure::Usage(format!(
            "no {what}: pass {flag}, set {var}, {}",
            stack_hint(output)
        )));
    }
    let timeouts = Timeouts {
        attempt: cli.timeout,
        operation: cli.timeout,
    };
    let sdk = aws_config(timeouts).await;
    let sdk = match &cli.region {
        Some(region) => sdk
            .to_builder()
            .region(aws_config::Region::new(region.clone()))
            .build(),
        None => sdk,
    };
    if sdk.region().is_none() {
        return Err(Failure::Usage(
            "no AWS region: pass --region, set AWS_REGION, or give the profile a region \
             (aws configure)"
                .to_owned(),
        ));
    }
    // `redrive --queue failed`: the queue's URL is a stack output too (one DescribeStacks).
    let stack_queue = match &cli.command {
        Command::Redrive(args) => match args.queue {
            QueueArg::Stack { name, output } => Some((name, output)),
            QueueArg::Url(_) => None,
        },
        _ => None,
    };
    if let (Some((name, output)), None) = (stack_queue, &stack_name) {
        return Err(Failure::Usage(format!(
            "--queue {name} is the stack's queue: name the stack with --stack (its output \
             {output}), or give the queue's URL"
        )));
    }
    let mut queue_url = None;
    if let (Some(name), true) = (&stack_name, missing || stack_queue.is_some()) {
        let client = aws_sdk_cloudformation::Client::new(&sdk);
        let outputs = stack::describe(&client, name).await?;
        if let Some((_, output)) = stack_queue {
            queue_url = Some(outputs.output(output, "the queue's URL as --queue", "")?);
        }
        if missing_status {
            let output = stack::STATUS_TABLE_OUTPUT;
            status_table = Some(outputs.output(output, "--status-table", STATUS_TABLE_VAR)?);
        }
        if missing_events {
            let output = stack::EVENTS_TABLE_OUTPUT;
            events_table = Some(outputs.output(output, "--events-table", EVENTS_TABLE_VAR)?);
        }
        if missing_topic {
            let output = stack::ALERT_TOPIC_OUTPUT;
            topic_arn = Some(outputs.output(output, "--topic-arn", ALERT_TOPIC_VAR)?);
        }
    }
    let status_table = status_table.unwrap_or_default();
    let events_table = events_table.unwrap_or_default();
    let window = match &cli.command {
        Command::Rebuild { window_ms, .. } => Window(*window_ms),
        _ => Window::DEFAULT,
    };
    let config = if matches!(cli.command, Command::Redrive(_) | Command::Reconcile(_)) {
        // Redriven events and repairs are written as the function writes events: with its
        // settings (TIMESTAMP_WINDOW_MS, EVENT_RETENTION_DAYS, FUTURE_SKEW_MS,
        // STATUS_RETENTION_DAYS) when they are set, validated the same way.
        let (status, events) = (status_table.clone(), events_table.clone());
        Config::from_lookup(|var| match var {
            STATUS_TABLE_VAR => Some(status.clone()),
            EVENTS_TABLE_VAR => Some(events.clone()),
            other => std::env::var(other).ok(),
        })
        .map_err(|err| Failure::Usage(err.to_string()))?
    } else {
        Config {
            window,
            ..Config::with_tables(status_table, events_table)
        }
    };
    let store = Store::new(dynamodb_client(&sdk, cli.endpoint_url.as_deref()), &config);
    let format = cli.output;
    match cli.command {
        Command::Status {
            client_id,
            include_socket_information,
            show_principal,
        } => {
            let (socket, principal) = (include_socket_information, show_principal);
            status::status(&store, &client_id, socket, principal, format).await
        }
        Command::List {
            connected,
            offline_for,
            dropped_within,
            sort,
            limit,
            page_size,
            ..
        } => {
            let filter = status::ListFilter {
                connected,
                offline_for,
                dropped_within,
                sort,
            };
            status::list(&store, filter, limit, page_size, format).await
        }
        Command::History {
            client_id,
            since,
            until,
        } => history::run(&store, &client_id, since, until, format).await,
        Command::Summary => summary::run(&store, format).await,
        Command::Incident { storm } => incident::run(&store, storm.settings(), format).await,
        Command::Storms => incident::storms(&store, format).await,
        Command::Shards { action } => shards::run(&store, action, format).await,
        Command::Threshold {
            client_id,
            threshold,
            create,
            ..
        } => alerts::threshold(&store, &client_id, threshold, create, format).await,
        Command::AlertPass {
            topic_arn: _,
            at,
            offline_threshold_ms,
            offline_thresholds,
            flapping_sessions,
            flapping_window_ms,
            storm,
        } => {
            let settings = AlertSettings {
                offline_threshold_ms,
                flapping_sessions,
                flapping_window_ms,
                thresholds: offline_thresholds,
                storm: storm.settings(),
            };
            let sns = aws_sdk_sns::Client::new(&sdk);
            let topic_arn = topic_arn.unwrap_or_default();
            alerts::pass(store, sns, topic_arn, settings, at, format).await
        }
        Command::Availability(args) => availability::run(&store, args, format, now_ms()).await,
        Command::Redrive(args) => {
            let queue = match &args.queue {
                QueueArg::Url(url) => url.clone(),
                QueueArg::Stack { .. } => queue_url.unwrap_or_default(),
            };
            let sqs = aws_sdk_sqs::Client::new(&sdk);
            let events = aws_sdk_eventbridge::Client::new(&sdk);
            redrive::run(&store, &sqs, &events, &queue, args, format).await
        }
        Command::Reconcile(args) => reconcile::run(&store, args, timeouts, format).await,
        Command::Cost(_) => unreachable!("answered before any AWS configuration"),
        Command::Rebuild {
            client, all, reset, ..
        } => match client {
            Some(client_id) => rebuild::one(&store, &client_id, reset, format).await,
            None if all => rebuild::all(&store, reset, format).await,
            None => Ok(()),
        },
    }
}

/// The endpoints given by flag or variable are URLs with a scheme: without one (`localhost:8000`)
/// the SDK fails every request with an opaque dispatch error.
fn check_endpoints(flag: Option<&str>) -> Result<(), Failure> {
    if let Some(url) = flag {
        args::parse_endpoint(url).map_err(|why| Failure::Usage(format!("--endpoint-url {why}")))?;
    }
    for var in ENDPOINT_VARS {
        if let Some(url) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
            args::parse_endpoint(&url).map_err(|why| Failure::Usage(format!("{var}: {why}")))?;
        }
    }
    Ok(())
}

/// The endpoint variables the SDK reads for the services the CLI calls.
const ENDPOINT_VARS: [&str; 6] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_SNS",
    "AWS_ENDPOINT_URL_CLOUDFORMATION",
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
];

fn aws_failure(err: &dyn std::error::Error) -> ExitCode {
    let message = error_chain(err);
    eprintln!(
        "presence: {}\nhint: {}",
        display_safe(&message),
        hint(Service::DynamoDb, &message)
    );
    ExitCode::from(3)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse_capped(std::env::args_os()).unwrap_or_else(|err| err.exit());
    // Library warnings (SDK, throttling) on stderr; RUST_LOG=debug for more.
    iot_presence::logging::init_cli();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Unknown { clients, what }) => {
            for client_id in clients {
                eprintln!("presence: unknown client {}: {what}", shown(&client_id));
            }
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("presence: {}", display_safe(&message));
            ExitCode::from(2)
        }
        Err(Failure::Read(err)) => aws_failure(&err),
        Err(Failure::Write(err)) => aws_failure(&err),
        Err(Failure::Queue(message)) => {
            eprintln!(
                "presence: {}\nhint: {}",
                display_safe(&message),
                hint(Service::Sqs, &message)
            );
            ExitCode::from(3)
        }
        Err(Failure::Stack { message, hint }) => {
            eprintln!("presence: {}\nhint: {hint}", display_safe(&message));
            ExitCode::from(3)
        }
        Err(Failure::Pass) => ExitCode::from(3),
        Err(Failure::Left) => ExitCode::from(4),
    }
}
