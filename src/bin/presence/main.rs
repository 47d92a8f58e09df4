//! `presence`: the read side of iot-presence, for operators and scripts.
//!
//! Exit codes: 0 success, 1 a requested client is unknown, 2 usage error (including missing
//! table names), 3 the tables could not be read or written (or an alert pass had failures),
//! 4 work left undone (`redrive` left messages, `reconcile` checks failed).
//!
//! Layout: `args` (the command line), `output` (tables, time formats, JSON views), and one
//! module per command group.

mod alerts;
mod args;
mod availability;
mod history;
mod incident;
mod output;
mod rebuild;
mod reconcile;
mod redrive;
mod shards;
mod status;
mod summary;

use std::process::ExitCode;

use clap::Parser;
use iot_presence::config::AlertSettings;
use iot_presence::config::{
    aws_config, dynamodb_client, Config, Timeouts, EVENTS_TABLE_VAR, STATUS_TABLE_VAR,
};
use iot_presence::errors::error_chain;
use iot_presence::read::ReadError;
use iot_presence::rule::Window;
use iot_presence::store::{Store, StoreError};
use iot_presence::time::now_ms;

use args::{Cli, Command};
// The command modules' shared names.
pub(crate) use args::{parse_time, Format};
pub(crate) use output::{iso_seconds, table};

pub enum Failure {
    Usage(String),
    Unknown,
    Read(ReadError),
    Write(StoreError),
    /// A queue could not be read (the message names the queue and the cause).
    Queue(String),
    /// Reported already.
    Pass,
    /// Work left undone, reported already: `redrive` left messages in the queue, or
    /// `reconcile` checks failed.
    Left,
}

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

fn hint(message: &str) -> &'static str {
    if message.contains("NonExistentQueue") || message.contains("QueueDoesNotExist") {
        "check --queue: the stack outputs FailedEventsQueueUrl and RuleErrorsQueueUrl, in this region"
    } else if message.contains("ResourceNotFound") {
        "check --status-table/--events-table (or STATUS_TABLE_NAME/EVENTS_TABLE_NAME) and the region (AWS_REGION)"
    } else if message.contains("credentials") || message.contains("Credentials") {
        "configure AWS credentials (AWS_PROFILE, aws configure, or an instance role)"
    } else if message.contains("dispatch failure") || message.contains("timeout") {
        "check the endpoint (--endpoint-url, AWS_ENDPOINT_URL_DYNAMODB) and the network"
    } else {
        "see the cause above"
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
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
    let status_table = cli.status_table.clone().unwrap_or_default();
    let events_table = cli.events_table.clone().unwrap_or_default();
    if needs_status && status_table.is_empty() {
        return Err(Failure::Usage(format!(
            "no status table: pass --status-table or set {STATUS_TABLE_VAR} (the stack output StatusTableName)"
        )));
    }
    if needs_events && events_table.is_empty() {
        return Err(Failure::Usage(format!(
            "no event table: pass --events-table or set {EVENTS_TABLE_VAR} (the stack output EventsTableName)"
        )));
    }
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
    let timeouts = Timeouts {
        attempt: cli.timeout,
        operation: cli.timeout,
    };
    let sdk = aws_config(timeouts).await;
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
            ..
        } => alerts::threshold(&store, &client_id, threshold, format).await,
        Command::AlertPass {
            topic_arn,
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
            alerts::pass(store, sns, topic_arn, settings, at, format).await
        }
        Command::Availability(args) => availability::run(&store, args, format, now_ms()).await,
        Command::Redrive(args) => {
            redrive::run(&store, &aws_sdk_sqs::Client::new(&sdk), args, format).await
        }
        Command::Reconcile(args) => reconcile::run(&store, args, timeouts, format).await,
        Command::Rebuild {
            client, all, reset, ..
        } => match client {
            Some(client_id) => rebuild::one(&store, &client_id, reset, format).await,
            None if all => rebuild::all(&store, reset, format).await,
            None => Ok(()),
        },
    }
}

fn aws_failure(err: &dyn std::error::Error) -> ExitCode {
    let message = error_chain(err);
    eprintln!("presence: {message}\nhint: {}", hint(&message));
    ExitCode::from(3)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Library warnings (SDK, throttling) on stderr; RUST_LOG=debug for more.
    iot_presence::logging::init_cli();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Unknown) => ExitCode::from(1),
        Err(Failure::Usage(message)) => {
            eprintln!("presence: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Read(err)) => aws_failure(&err),
        Err(Failure::Write(err)) => aws_failure(&err),
        Err(Failure::Queue(message)) => {
            eprintln!("presence: {message}\nhint: {}", hint(&message));
            ExitCode::from(3)
        }
        Err(Failure::Pass) => ExitCode::from(3),
        Err(Failure::Left) => ExitCode::from(4),
    }
}
