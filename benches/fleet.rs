//! Fleet-scale figures on the local DynamoDB (dynoxide), each with its time *and* its consumed
//! capacity: the read paths over a fleet of status items (list connected, offline before T,
//! summary, fleet gauges, `availability --all`), an alert pass with N clients due, and a shard
//! migration from 16 to 64 shards. From the measured units it derives what the same work costs
//! on DynamoDB (on-demand list prices, `iot_presence::cost::prices`) and the least time it takes
//! there at DynamoDB's documented throughput limits (see [`LIMITS`]).
//!
//! Run: `scripts/bench-fleet.sh` (= `cargo bench --bench fleet`). Sizes by variable:
//! `FLEET_SIZES` (default `100000,1000000`), `FLEET_DUE` (`10000,100000`), `FLEET_MIGRATE`
//! (`100000`), `FLEET_DRAIN` (`10000,100000,200000`: passes with the function's deadline until
//! every due client is notified; the passes it takes and the peak RSS of each). The times measure this machine and the emulator; the units are what DynamoDB
//! reports for the same requests; the dollars and the AWS times are derived. Never a test:
//! under `cargo test` (no `--bench` argument) it only says how to run it.

#[path = "../tests/common/mod.rs"]
mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::fleet::{self, Loaded};
use common::local;
use iot_presence::alert::pass::Alerter;
use iot_presence::availability;
use iot_presence::config::AlertSettings;
use iot_presence::cost::prices::{READ_UNIT, WRITE_UNIT};
use iot_presence::event::Presence;
use iot_presence::rule::Window;
use iot_presence::store::capacity::{measure, Tally};
use iot_presence::store::schema::{ALERT_INDEX, ALERT_SHARDS, STATUS_INDEX};
use iot_presence::store::Store;

/// DynamoDB's documented throughput limits used for the derived times: a partition serves at
/// most 3,000 read and 1,000 write units a second, so an index query over one shard's partition
/// key is bound by that, and a sharded index by shards x that; a new on-demand table serves up
/// to 12,000 read and 4,000 write units a second before it scales (Developer Guide: "Partitions
/// and data distribution", "On-demand capacity mode: initial throughput").
const LIMITS: Limits = Limits {
    partition_read: 3_000.0,
    partition_write: 1_000.0,
    table_read: 12_000.0,
    table_write: 4_000.0,
};

struct Limits {
    partition_read: f64,
    partition_write: f64,
    table_read: f64,
    table_write: f64,
}

fn sizes(var: &str, default: &str) -> Vec<u64> {
    std::env::var(var)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{var}: {s:?} is not a count"))
        })
        .collect()
}

/// One measured piece of work.
struct Row {
    work: String,
    n: u64,
    seconds: f64,
    tally: Tally,
    /// Status-index shards the work ran over (for the derived time).
    status_shards: u32,
}

impl Row {
    /// The least time DynamoDB takes for these units at [`LIMITS`]: each target's reads and
    /// writes at its own limit, targets in parallel (the slowest one bounds the work).
    fn aws_seconds(&self) -> f64 {
        let mut worst: f64 = 0.0;
        for (target, units) in &self.tally.by_target {
            let (read, write) = match target.index.as_deref() {
                // One state's partitions: what a listing reads (a bound for the rest).
                Some(STATUS_INDEX) => (
                    LIMITS.partition_read * f64::from(self.status_shards),
                    LIMITS.partition_write * f64::from(self.status_shards),
                ),
                Some(ALERT_INDEX) => (
                    LIMITS.partition_read * f64::from(ALERT_SHARDS),
                    LIMITS.partition_write * f64::from(ALERT_SHARDS),
                ),
                _ => (LIMITS.table_read, LIMITS.table_write),
            };
            worst = worst.max(units.read / read + units.writes() / write);
        }
        worst
    }

    fn dollars(&self) -> f64 {
        let t = self.tally.total();
        t.read * READ_UNIT.dollars + t.writes() * WRITE_UNIT.dollars
    }
}

async fn timed<T, F: Future<Output = T>>(work: F) -> (T, f64, Tally) {
    let started = Instant::now();
    let (out, tally) = measure(work).await;
    (out, started.elapsed().as_secs_f64(), tally)
}

fn store_of(tables: &local::Tables) -> Store {
    local::store(&local::client(), tables, Window::DEFAULT)
}

async fn loaded(n: u64, now: u64, rows: bool, due: bool) -> (local::Tables, Loaded, f64) {
    let tables = local::create_tables().await;
    let started = Instant::now();
    let loaded = fleet::load(
        &local::client(),
        (&tables.status, &tables.events),
        n,
        now,
        rows,
        due,
    )
    .await;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "loaded {} status items and {} event rows in {seconds:.0} s",
        loaded.clients, loaded.rows
    );
    (tables, loaded, seconds)
}

/// List connected, offline for 10 minutes, summary, gauges and `availability --all` over `n`.
async fn reads(n: u64, now: u64, rows: &mut Vec<Row>) {
    let (tables, fleet, _) = loaded(n, now, true, false).await;
    let store = store_of(&tables);
    let shards = store.shard_layout().await.unwrap().read_shards();
    let mut push = |work: &str, seconds, tally| {
        rows.push(Row {
            work: work.to_owned(),
            n,
            seconds,
            tally,
            status_shards: shards,
        })
    };

    let (got, s, t) = timed(store.list(Presence::Connected, None, None, None)).await;
    assert_eq!(
        got.unwrap().len() as u64,
        fleet.connected,
        "list --connected"
    );
    push("list --connected", s, t);

    let before = now - 10 * 60_000;
    let want = fleet.offline_since.iter().filter(|&&t| t < before).count();
    let (got, s, t) = timed(store.list(Presence::Disconnected, Some(before), None, None)).await;
    assert_eq!(got.unwrap().len(), want, "list --offline-for 10m");
    push("list --disconnected --offline-for 10m", s, t);

    let (got, s, t) = timed(store.summary(now)).await;
    let summary = got.unwrap();
    assert_eq!(summary.connected, fleet.connected, "summary");
    assert_eq!(summary.disconnected, n - fleet.connected, "summary");
    push("summary", s, t);

    let (got, s, t) = timed(store.fleet_counts()).await;
    assert_eq!(got.unwrap().connected, fleet.connected, "fleet gauges");
    push("fleet gauges", s, t);

    let (got, s, t) = timed(async {
        let ids = availability::fleet_client_ids(&store).await?;
        availability::reports(&store, ids, now - 7 * fleet::DAY, now, || ()).await
    })
    .await;
    let reports = got.unwrap();
    assert_eq!(reports.len() as u64, n, "availability --all");
    push("availability --all --since 7d", s, t);
}

/// One alert pass with `n` clients due (each gets its offline notice; the topic has no
/// subscriber, so SNS's fan-out is not what is timed).
async fn pass(n: u64, now: u64, rows: &mut Vec<Row>) {
    let (tables, _, _) = loaded(n, now, false, true).await;
    let store = store_of(&tables);
    let topic = local::create_topic("presence-fleet-bench").await;
    let alerter = Alerter::new(store, local::sns_client(), topic, AlertSettings::DEFAULT);
    let (report, s, t) = timed(alerter.run(now)).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.due, n, "{report:?}");
    assert_eq!(report.offline, n, "{report:?}");
    rows.push(Row {
        work: "alert pass, all due (offline notices)".to_owned(),
        n,
        seconds: s,
        tally: t,
        status_shards: iot_presence::config::DEFAULT_STATUS_SHARDS,
    });
}

/// The Lambda's budget for one pass: its 60 s timeout less the alerter's margin.
const PASS_BUDGET: Duration = Duration::from_secs(50);

/// Passes over `n` due clients, each with the scheduled function's deadline, until none is
/// left: the passes it takes, the longest pass, and the peak RSS of each (Linux's `VmHWM`,
/// reset before each pass through `/proc/self/clear_refs`).
async fn drain(n: u64, now: u64, rows: &mut Vec<Drained>) {
    let (tables, _, _) = loaded(n, now, false, true).await;
    let store = store_of(&tables);
    let topic = local::create_topic("presence-fleet-drain").await;
    let alerter = Alerter::new(store, local::sns_client(), topic, AlertSettings::DEFAULT);
    let mut d = Drained {
        n,
        ..Drained::default()
    };
    let mut sent = 0;
    // Bounded: a pass that sends nothing twice in a row would be a bug, not a slow server.
    for pass in 0..200u64 {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let deadline = tokio::time::Instant::now() + PASS_BUDGET;
        let at = now + pass * 60_000;
        let (report, s, t) = timed(alerter.run_until(at, Some(deadline))).await;
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        d.passes += 1;
        d.longest = d.longest.max(s);
        d.total += s;
        d.peak_rss_kib = d.peak_rss_kib.max(peak_rss_kib());
        d.tally.merge(&t);
        sent += report.offline;
        if report.deferred == 0 {
            break;
        }
    }
    assert_eq!(sent, n, "every due client notified once");
    rows.push(d);
}

/// What [`drain`] measured.
#[derive(Default)]
struct Drained {
    n: u64,
    passes: u64,
    longest: f64,
    total: f64,
    peak_rss_kib: u64,
    tally: Tally,
}

/// This process's peak resident set since the last reset, in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line["VmHWM:".len()..]
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn print_drained(rows: &[Drained]) {
    println!(
        "| due clients | passes to drain (50 s each at most) | longest pass here | all passes here | peak RSS of a pass | read units | write units | derived: DynamoDB cost |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for d in rows {
        let t = d.tally.total();
        println!(
            "| {} | {} | {:.1} s | {:.0} s | {:.1} MiB | {:.0} | {:.0} | ${:.4} |",
            d.n,
            d.passes,
            d.longest,
            d.total,
            d.peak_rss_kib as f64 / 1024.0,
            t.read,
            t.writes(),
            t.read * READ_UNIT.dollars + t.writes() * WRITE_UNIT.dollars
        );
    }
}

/// A shard migration from 16 to 64 at `n` status items.
async fn migration(n: u64, now: u64, rows: &mut Vec<Row>) {
    let (tables, fleet, _) = loaded(n, now, false, false).await;
    let store = store_of(&tables);
    let (progress, s, t) = timed(async {
        store
            .migrate(64, Duration::ZERO, 1000, |_| ())
            .await
            .unwrap()
            .expect("16 shards to start from")
    })
    .await;
    // Items whose shard number is the same among 64 keep their key: scanned, not re-keyed.
    assert!(
        progress.scanned >= n && progress.rekeyed <= n,
        "{progress:?}"
    );
    let connected = store.list(Presence::Connected, None, None, None).await;
    assert_eq!(connected.unwrap().len() as u64, fleet.connected);
    rows.push(Row {
        work: "shard migration 16 -> 64".to_owned(),
        n,
        seconds: s,
        tally: t,
        status_shards: 64,
    });
}

fn print(rows: &[Row]) {
    println!(
        "| work | clients | time here (dynoxide) | read units | write units | derived: DynamoDB cost | derived: least time on DynamoDB |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        let t = r.tally.total();
        println!(
            "| {} | {} | {:.1} s | {:.0} | {:.0} | ${:.4} | {:.2} s |",
            r.work,
            r.n,
            r.seconds,
            t.read,
            t.writes(),
            r.dollars(),
            r.aws_seconds()
        );
    }
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("fleet: a benchmark of minutes; run it with `cargo bench --bench fleet`");
        return;
    }
    let now = iot_presence::time::now_ms();
    let mut rows = Vec::new();
    for n in sizes("FLEET_SIZES", "100000,1000000") {
        reads(n, now, &mut rows).await;
        print(&rows[rows.len() - 5..]);
    }
    for n in sizes("FLEET_DUE", "10000,100000") {
        pass(n, now, &mut rows).await;
    }
    for n in sizes("FLEET_MIGRATE", "100000") {
        migration(n, now, &mut rows).await;
    }
    let mut drained = Vec::new();
    for n in sizes("FLEET_DRAIN", "10000,100000,200000") {
        drain(n, now, &mut drained).await;
        print_drained(&drained[drained.len() - 1..]);
    }
    println!();
    print(&rows);
    println!();
    print_drained(&drained);
}
