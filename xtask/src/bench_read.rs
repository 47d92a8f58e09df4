//! `cargo xtask bench-read`: read-path figures for the README. Loads a fleet of N clients into
//! the local status table, then times the `presence` commands that dashboards run over the
//! whole fleet (run through scripts/bench-read.sh, which starts the server and builds the
//! binary).
//!
//! The items carry the attributes the handler writes, built with the library's own names,
//! shards and key formats; they are loaded with BatchWriteItem, since pushing 100k events
//! through the function one at a time would take the serialized local server most of an hour,
//! and this measures the read path only.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use iot_presence::config::DEFAULT_STATUS_SHARDS;
use iot_presence::event::{event_key, EventType, Presence};
use iot_presence::store::item::{to_item, Status};
use iot_presence::store::schema::{attr, connection_id, status_shard, REASON_NONE};

use crate::events::Item;
use crate::{local, Result};

const REASONS: [&str; 6] = [
    "CONNECTION_LOST",
    "MQTT_KEEP_ALIVE_TIMEOUT",
    "CLIENT_INITIATED_DISCONNECT",
    "DUPLICATE_CLIENTID",
    "SERVER_INITIATED_DISCONNECT",
    "AUTH_ERROR",
];
const DAY: u64 = 86_400_000;

#[derive(clap::Args)]
/// Time `presence list` and `summary` over a large fleet on the local server
pub struct Args {
    #[command(flatten)]
    tables: local::Tables,
    #[arg(long)]
    binary: PathBuf,
    #[arg(long, default_value_t = 100_000)]
    clients: usize,
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// SplitMix64: a fixed seed gives the same fleet every run, without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// In low..=high.
    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// One client's status item; returns it, whether it is connected, and its event time.
fn item(i: usize, now: u64, rng: &mut Rng) -> (Item, bool, u64) {
    let client = format!("device-{i:06}");
    let connected = rng.range(0, 9) < 6;
    let session = format!("{i:08x}-7e22-4ace-a308-df2c229d27d0");
    let version = rng.range(0, 500);
    let connected_at = now - rng.range(60_000, 7 * DAY);
    let mut st = Status {
        client_id: client.clone(),
        connected,
        session_identifier: Some(session.clone()),
        version_number: Some(version),
        principal_identifier: Some(
            "226c64225fce225672257c31e2cb6d3ad21ca514af690bc5cb44f5f58c2222".to_owned(),
        ),
        updated_at: Some(now),
        connected_at: Some(connected_at),
        ..Status::default()
    };
    let (ts, presence, event_type) = if connected {
        st.disconnect_reason = Some(REASON_NONE.to_owned());
        st.ip_address = Some("198.51.100.7".to_owned());
        (connected_at, Presence::Connected, EventType::Connected)
    } else {
        let ts = (now - rng.range(1_000, 3 * DAY)).max(connected_at + 1);
        let reason = REASONS[rng.range(0, REASONS.len() as u64 - 1) as usize];
        st.disconnect_reason = Some(reason.to_owned());
        st.disconnected_at = Some(ts);
        st.client_initiated_disconnect = Some(false);
        (ts, Presence::Disconnected, EventType::Disconnected)
    };
    st.event_type = Some(event_type.as_str().to_owned());
    st.event_timestamp = Some(ts);
    st.status_shard = Some(status_shard(&client, presence, DEFAULT_STATUS_SHARDS));
    st.last_event_key = Some(event_key(ts, event_type, &session));
    let mut it: Item = to_item(&st).expect("a status item encodes");
    // The typed item leaves unset fields NULL; a written status item has them absent.
    it.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
    // The one map the status update writes by expression (not part of the typed item).
    let connection = HashMap::from([(
        attr::CONNECTED_AT.to_owned(),
        AttributeValue::N(connected_at.to_string()),
    )]);
    it.insert(
        attr::CONNECTED_SESSION.to_owned(),
        AttributeValue::M(HashMap::from([(
            connection_id(&session, version),
            AttributeValue::M(connection),
        )])),
    );
    (it, connected, ts)
}

struct Fleet {
    connected: usize,
    offline_since: Vec<u64>,
}

async fn load(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    count: usize,
    now: u64,
) -> Result<Fleet> {
    let mut rng = Rng(42);
    let mut fleet = Fleet {
        connected: 0,
        offline_since: Vec::new(),
    };
    let started = Instant::now();
    let mut batch = Vec::new();
    for i in 0..count {
        let (it, connected, ts) = item(i, now, &mut rng);
        if connected {
            fleet.connected += 1;
        } else {
            fleet.offline_since.push(ts);
        }
        batch.push(
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(it)).build()?)
                .build(),
        );
        if batch.len() == 25 || i == count - 1 {
            let mut request = Some(HashMap::from([(
                table.to_owned(),
                std::mem::take(&mut batch),
            )]));
            // Bounded retries of what the server left unprocessed.
            for _ in 0..100 {
                let Some(pending) = request.take() else { break };
                let out = client
                    .batch_write_item()
                    .set_request_items(Some(pending))
                    .send()
                    .await
                    .map_err(|e| local::sdk_error("BatchWriteItem", e))?;
                request = out.unprocessed_items.filter(|u| !u.is_empty());
            }
            if request.is_some() {
                return Err("BatchWriteItem kept leaving items unprocessed".into());
            }
        }
        if (i + 1) % 10_000 == 0 {
            eprintln!(
                "loaded {}/{count} clients ({:.0} s)",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(fleet)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs `cmd` `runs` times: median and best seconds, and the line count of the last run.
/// `expect(start_ms, end_ms)` gives the bounds of the line count.
async fn timed(
    cmd: &[String],
    runs: usize,
    expect: Option<&dyn Fn(u64, u64) -> (usize, usize)>,
) -> Result<(f64, f64, usize)> {
    let mut times = Vec::new();
    let mut lines = 0;
    for _ in 0..runs {
        let start_ms = now_ms();
        let start = Instant::now();
        let out = tokio::process::Command::new(&cmd[0])
            .args(&cmd[1..])
            .envs(local::CHILD_ENV)
            .output()
            .await?;
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}): {}",
                cmd.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        times.push(start.elapsed().as_secs_f64());
        lines = out.stdout.iter().filter(|&&b| b == b'\n').count();
        if let Some(expect) = expect {
            let (low, high) = expect(start_ms, now_ms());
            if !(low..=high).contains(&lines) {
                return Err(format!(
                    "{}: {lines} clients listed, expected {low}..{high}",
                    cmd.join(" ")
                )
                .into());
            }
        }
    }
    times.sort_by(f64::total_cmp);
    let median = if runs % 2 == 1 {
        times[runs / 2]
    } else {
        (times[runs / 2 - 1] + times[runs / 2]) / 2.0
    };
    Ok((median, times[0], lines))
}

pub async fn run(a: Args) -> Result {
    if a.clients == 0 || a.runs == 0 {
        return Err("--clients and --runs must be at least 1".into());
    }
    let client = local::dynamodb(&a.tables.endpoint)?;
    let now = now_ms();
    let load_start = Instant::now();
    let fleet = load(&client, &a.tables.status_table, a.clients, now).await?;
    let load_seconds = load_start.elapsed().as_secs_f64();

    let base: Vec<String> = [
        a.binary.display().to_string().as_str(),
        "--endpoint-url",
        &a.tables.endpoint,
        "--status-table",
        &a.tables.status_table,
        "--events-table",
        &a.tables.events_table,
        "-o",
        "json",
        // The local server answers one request at a time and scans the whole index for each
        // query: give it the time it needs.
        "--timeout",
        "30m",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter()
            .cloned()
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let offline_for = |minutes: u64, at: u64| {
        fleet
            .offline_since
            .iter()
            .filter(|&&ts| ts < at - minutes * 60_000)
            .count()
    };
    let connected = |_: u64, _: u64| (fleet.connected, fleet.connected);
    let offline = |a: u64, b: u64| (offline_for(10, a), offline_for(10, b));
    let mut rows = Vec::new();
    for (label, extra, want) in [
        (
            "list --connected",
            vec!["list", "--connected"],
            Some(&connected as &dyn Fn(u64, u64) -> (usize, usize)),
        ),
        (
            "list --disconnected --offline-for 10m",
            vec!["list", "--disconnected", "--offline-for", "10m"],
            Some(&offline as _),
        ),
        ("summary", vec!["summary"], None),
    ] {
        let (median, best, lines) = timed(&with(&extra), a.runs, want).await?;
        let listed = if want.is_some() {
            lines.to_string()
        } else {
            "-".to_owned()
        };
        rows.push((label, median, best, listed));
    }

    println!(
        "| command ({} clients, local server) | median of {} | best | clients listed |",
        a.clients, a.runs
    );
    println!("|---|---|---|---|");
    for (label, median, best, listed) in rows {
        println!("| `presence {label}` | {median:.2} s | {best:.2} s | {listed} |");
    }
    println!();
    println!(
        "loading {} status items with BatchWriteItem took {load_seconds:.0} s",
        a.clients
    );
    Ok(())
}
