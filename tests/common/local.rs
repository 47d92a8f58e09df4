//! The real local servers: DynamoDB from dynoxide (`.local/dynoxide`, installed by
//! `scripts/local-servers.sh install`), SNS and SQS from moto (`scripts/moto_server.py`).
//!
//! The first test that needs one starts a private server on a free port of 127.0.0.1; it
//! stops when this test process exits (a watchdog shell holds the server's lifetime to a pipe
//! whose other end only we hold). `IOT_PRESENCE_TEST_ENDPOINT` points the DynamoDB side at a
//! server you started yourself instead (moto, DynamoDB Local, dynoxide), and
//! `IOT_PRESENCE_TEST_MESSAGING_ENDPOINT` the SNS/SQS side. `AWS_ENDPOINT_URL_DYNAMODB` is
//! deliberately ignored: tests create and fill tables, and must never do that to whatever
//! account a developer's shell points at. A missing server fails the test; it never passes.
//! Each test creates its own uniquely named tables, so tests never see each other's items.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use iot_presence::config::Config;
use iot_presence::rule::Window;
use iot_presence::store::schema::attr;
use iot_presence::store::Store;
use presence_template::dynamodb::Streams;

pub use iot_presence::store::Item;

/// A receiving clock later than every event timestamp the tests make (2033-05-18), for tests
/// about ordering rather than about when events arrive: no event is "from the future" to it.
pub const RECEIVED_LATER: u64 = 2_000_000_000_000;

/// The DynamoDB endpoint: `IOT_PRESENCE_TEST_ENDPOINT`, else a private dynoxide.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(url) = std::env::var("IOT_PRESENCE_TEST_ENDPOINT") {
            return url;
        }
        start_dynoxide()
    })
}

/// True when the DynamoDB side is the dynoxide this harness started (not a server named by
/// `IOT_PRESENCE_TEST_ENDPOINT`): for the tests that pin what only a server reporting consumed
/// capacity can show.
pub fn on_dynoxide() -> bool {
    std::env::var("IOT_PRESENCE_TEST_ENDPOINT").is_err()
}

fn dynoxide() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".local/dynoxide/bin/dynoxide")
}

/// Starts dynoxide on a free port. It cannot pick its own port and say which (`--port 0` binds
/// but reports 0), so we pick one, and try again (5 times) if another process took it first.
fn start_dynoxide() -> String {
    let binary = dynoxide();
    assert!(
        binary.exists(),
        "no local DynamoDB server at {}: run `scripts/local-servers.sh install` once \
         (scripts/test.sh does it for you), or set IOT_PRESENCE_TEST_ENDPOINT to a DynamoDB \
         endpoint you run yourself",
        binary.display()
    );
    for _attempt in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port on 127.0.0.1")
            .port();
        // The shell waits on its stdin, which only this process holds: when we exit, `cat`
        // returns and the server is stopped with it.
        #[allow(clippy::zombie_processes)] // kept running on purpose: see `std::mem::forget`
        let mut child = Command::new("sh")
            .args([
                "-c",
                "\"$0\" serve --host 127.0.0.1 --port \"$1\" --log quiet & pid=$!; \
                 cat >/dev/null; kill $pid",
            ])
            .arg(&binary)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dynoxide");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                std::mem::forget(child);
                return format!("http://127.0.0.1:{port}");
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!(
        "dynoxide ({}) did not start on 127.0.0.1 in 5 tries",
        binary.display()
    )
}

/// The SNS and SQS endpoint: `IOT_PRESENCE_TEST_MESSAGING_ENDPOINT`, else a private moto.
pub fn messaging_endpoint() -> &'static str {
    MESSAGING.get_or_init(|| {
        if let Ok(url) = std::env::var("IOT_PRESENCE_TEST_MESSAGING_ENDPOINT") {
            return url;
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = python();
        assert!(
            python.exists(),
            "no local SNS/SQS server: run `scripts/local-servers.sh install` once \
             (scripts/test.sh does it for you), or set IOT_PRESENCE_TEST_MESSAGING_ENDPOINT"
        );
        let mut child = Command::new(python)
            .arg(root.join("scripts/moto_server.py"))
            .args(["--port", "0", "--exit-on-stdin-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start scripts/moto_server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the server's port");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("unexpected first line from moto_server.py: {line:?}"));
        let url = format!("http://127.0.0.1:{port}");
        // Keep stdin open for the life of this process: the server exits when it closes.
        std::mem::forget(child);
        url
    })
}

static MESSAGING: OnceLock<String> = OnceLock::new();

/// A client for the local server. One per test: SDK clients hold connections tied to the
/// runtime that made them, and every `#[tokio::test]` has its own runtime.
pub fn client() -> Client {
    Client::new(&sdk_config())
}

#[derive(Debug, Clone)]
pub struct Tables {
    pub status: String,
    pub events: String,
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn python() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".local/venv/bin/python")
}

/// Creates a fresh pair of tables from template.yaml's definitions (presence-template: the
/// template is the one source of truth for keys, indexes and TTL), the status table without its
/// stream: dynoxide slows down with every stream record it holds (`Streams::Off` says why).
pub async fn create_tables() -> Tables {
    create_tables_streaming(Streams::Off).await
}

/// As [`create_tables`], with the status table's stream on, as deployed: for the tests that read
/// the stream.
pub async fn create_tables_with_stream() -> Tables {
    create_tables_streaming(Streams::AsTemplate).await
}

async fn create_tables_streaming(streams: Streams) -> Tables {
    let suffix = unique_suffix();
    let tables = Tables {
        status: format!("presence-status-{suffix}"),
        events: format!("presence-events-{suffix}"),
    };
    presence_template::dynamodb::create_tables(
        &client(),
        &presence_template::Template::repository(),
        &tables.status,
        &tables.events,
        streams,
    )
    .await
    .unwrap_or_else(|e| panic!("create the tables from template.yaml: {e}"));
    tables
}

pub fn store(client: &Client, tables: &Tables, window: Window) -> Store {
    let config = Config {
        window,
        ..Config::with_tables(&tables.status, &tables.events)
    };
    Store::new(client.clone(), &config)
}

/// Writes rows with BatchWriteItem, 25 to a request, retrying what the server left unprocessed
/// (a bounded number of times): for seeding large tests quickly.
pub async fn put_rows(client: &Client, table: &str, rows: Vec<Item>) {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    for chunk in rows.chunks(25) {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|row| {
                let put = PutRequest::builder().set_item(Some(row.clone())).build();
                WriteRequest::builder().put_request(put.unwrap()).build()
            })
            .collect();
        for _attempt in 0..10 {
            let out = client
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .expect("batch write");
            requests = out
                .unprocessed_items
                .and_then(|mut left| left.remove(table))
                .unwrap_or_default();
            if requests.is_empty() {
                break;
            }
        }
        assert!(
            requests.is_empty(),
            "rows left unprocessed after 10 attempts"
        );
    }
}

pub async fn status_item(client: &Client, tables: &Tables, client_id: &str) -> Option<Item> {
    client
        .get_item()
        .table_name(&tables.status)
        .key(attr::CLIENT_ID, AttributeValue::S(client_id.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("get status item")
        .item
}

/// Every event row of a client, in key (time) order, following pagination.
pub async fn event_rows(client: &Client, tables: &Tables, client_id: &str) -> Vec<Item> {
    let pages: Vec<_> = client
        .query()
        .table_name(&tables.events)
        .key_condition_expression("#c = :c")
        .expression_attribute_names("#c", attr::CLIENT_ID)
        .expression_attribute_values(":c", AttributeValue::S(client_id.into()))
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .expect("query event rows");
    pages
}

pub fn s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub fn n(item: &Item, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .map(|v| v.parse().expect("numeric attribute"))
}

pub fn b(item: &Item, name: &str) -> Option<bool> {
    item.get(name).and_then(|v| v.as_bool().ok()).copied()
}

pub fn is_null(item: &Item, name: &str) -> bool {
    matches!(item.get(name), Some(AttributeValue::Null(true)))
}

/// The local DynamoDB's endpoint, region and dummy credentials.
pub fn sdk_config() -> aws_config::SdkConfig {
    config_for(endpoint())
}

/// The local SNS/SQS server's endpoint, region and dummy credentials.
pub fn messaging_config() -> aws_config::SdkConfig {
    config_for(messaging_endpoint())
}

fn config_for(url: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            Credentials::new("local", "local", None, None, "tests"),
        ))
        .build()
}

/// SQS on the local server.
pub fn sqs_client() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&messaging_config())
}

/// The `presence` binary pointed at the local server and `tables`, with none of the developer's
/// own table or window variables leaking in; add the subcommand's arguments. Only with the `cli`
/// feature: without it there is no binary (and no `CARGO_BIN_EXE_presence` to compile against).
#[cfg(feature = "cli")]
pub fn presence_command(tables: &Tables) -> std::process::Command {
    presence_command_at(tables, endpoint())
}

/// [`presence_command`] with DynamoDB at `dynamodb` (a relay in front of the local server).
pub fn presence_command_at(tables: &Tables, dynamodb: &str) -> std::process::Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_presence"));
    command
        .args(["--endpoint-url", dynamodb])
        .args([
            "--status-table",
            &tables.status,
            "--events-table",
            &tables.events,
        ])
        .env_remove("STATUS_TABLE_NAME")
        .env_remove("EVENTS_TABLE_NAME")
        .env_remove("TIMESTAMP_WINDOW_MS")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env_remove("AWS_ENDPOINT_URL_SNS")
        .env_remove("AWS_ENDPOINT_URL_SQS");
    // SNS and SQS (alert-pass, redrive) go to the messaging server, when a test started it.
    if let Some(url) = MESSAGING.get() {
        command
            .env("AWS_ENDPOINT_URL_SNS", url)
            .env("AWS_ENDPOINT_URL_SQS", url);
    }
    command
}

/// SNS on the local server.
pub fn sns_client() -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(&messaging_config())
}

/// An SNS topic with SQS queues subscribed to it: what the alerter publishes arrives in the
/// queues, as it would for subscribers in AWS.
pub struct AlertSink {
    pub topic_arn: String,
    sqs: aws_sdk_sqs::Client,
    queue_urls: Vec<String>,
}

/// One alert as a subscriber receives it.
#[derive(Debug, Clone)]
pub struct Received {
    pub subject: String,
    pub message: serde_json::Value,
    /// The SNS message attributes (`kind`, `clientId`).
    pub attributes: serde_json::Value,
}

/// A new SNS topic on the local server: its ARN.
pub async fn create_topic(name: &str) -> String {
    sns_client()
        .create_topic()
        .name(name)
        .send()
        .await
        .expect("CreateTopic on the local server")
        .topic_arn
        .expect("a topic ARN")
}

impl AlertSink {
    /// One queue that receives everything.
    pub async fn new() -> AlertSink {
        Self::partitioned(&[]).await
    }

    /// One queue per client-id prefix, each subscribed with a filter policy on the `clientId`
    /// message attribute (as a subscriber would select its devices); none: one queue for all.
    /// Partitioning keeps big tests fast: moto's SQS does work proportional to a queue's
    /// length on every message sent to it.
    pub async fn partitioned(prefixes: &[&str]) -> AlertSink {
        let name = format!("presence-alerts-{}", unique_suffix());
        let topic_arn = create_topic(&name).await;
        let sqs = sqs_client();
        let filters: Vec<Option<&str>> = if prefixes.is_empty() {
            vec![None]
        } else {
            prefixes.iter().copied().map(Some).collect()
        };
        let mut queue_urls = Vec::new();
        for (i, prefix) in filters.into_iter().enumerate() {
            let queue_url = sqs
                .create_queue()
                .queue_name(format!("{name}-{i}"))
                .send()
                .await
                .expect("create queue")
                .queue_url
                .expect("queue url");
            let queue_arn = sqs
                .get_queue_attributes()
                .queue_url(&queue_url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .send()
                .await
                .expect("queue attributes")
                .attributes
                .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
                .expect("queue arn");
            let mut subscribe = sns_client()
                .subscribe()
                .topic_arn(&topic_arn)
                .protocol("sqs")
                .endpoint(queue_arn);
            if let Some(prefix) = prefix {
                let policy = serde_json::json!({"clientId": [{"prefix": prefix}]});
                subscribe = subscribe.attributes("FilterPolicy", policy.to_string());
            }
            subscribe.send().await.expect("subscribe queue");
            queue_urls.push(queue_url);
        }
        AlertSink {
            topic_arn,
            sqs,
            queue_urls,
        }
    }

    /// Everything that arrived since the last drain: queue by queue, in arrival order.
    pub async fn drain(&self) -> Vec<Received> {
        let mut received = Vec::new();
        for queue_url in &self.queue_urls {
            loop {
                let out = self
                    .sqs
                    .receive_message()
                    .queue_url(queue_url)
                    .max_number_of_messages(10)
                    .send()
                    .await
                    .expect("receive");
                let messages = out.messages.unwrap_or_default();
                if messages.is_empty() {
                    break;
                }
                let mut delete = self.sqs.delete_message_batch().queue_url(queue_url);
                for (i, m) in messages.iter().enumerate() {
                    let envelope: serde_json::Value =
                        serde_json::from_str(m.body().expect("body")).expect("SNS envelope JSON");
                    received.push(Received {
                        subject: envelope["Subject"].as_str().expect("subject").to_owned(),
                        message: serde_json::from_str(
                            envelope["Message"].as_str().expect("message"),
                        )
                        .expect("alert message JSON"),
                        attributes: envelope["MessageAttributes"].clone(),
                    });
                    delete = delete.entries(
                        aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(m.receipt_handle().expect("receipt"))
                            .build()
                            .expect("entry"),
                    );
                }
                delete.send().await.expect("delete batch");
            }
        }
        received
    }
}
