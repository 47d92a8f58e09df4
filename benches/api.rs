//! The HTTP API function on the local DynamoDB (dynoxide): `GET /clients/{clientId}` cold (the
//! first request of a fresh handler state: a new SDK client and store, so new connections and
//! an empty shard-count cache) and warm, and `GET /clients` pages of 1,000, each with its time
//! and the capacity DynamoDB reports for its requests (`store::capacity`). The fleet is written
//! through the real ingest handler first. Times measure this machine and the emulator, not AWS.
//!
//! Run: `scripts/bench-api.sh` (= `cargo bench --bench api`). `API_CLIENTS` (default 3000)
//! connected clients, `API_COLD` (20) fresh states, `API_WARM` (500) warm requests. Never a
//! test: under `cargo test` (no `--bench` argument) it only says how to run it.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/api/support.rs"]
mod support;

use std::time::Instant;

use common::local;
use iot_presence::config::{Config, StormSettings};
use iot_presence::functions::api::{answer, store, Api};
use iot_presence::functions::ingest::handle;
use iot_presence::rule::Window;
use iot_presence::store::capacity::{measure, Tally};
use iot_presence::time::now_ms;
use serde_json::{json, Value};

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{var}: {v:?} is not a count"))
        })
        .unwrap_or(default)
}

/// Milliseconds at the `q` quantile of `samples`.
fn quantile(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() - 1) as f64 * q).round() as usize]
}

fn api(client: &aws_sdk_dynamodb::Client, config: &Config) -> Api {
    Api::new(store(client, config), config, StormSettings::DEFAULT)
}

/// One request, timed and measured; it must be answered `status`.
async fn call(api: &Api, target: &str, status: u16, now: u64) -> (f64, Tally, usize) {
    let started = Instant::now();
    let (response, tally) = measure(answer(api, support::event("GET", target), now)).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(response.status_code, status, "{target}: {}", response.body);
    (ms, tally, response.body.len())
}

fn units(t: &Tally) -> String {
    let total = t.total();
    format!("{} requests, {:.1} read units", t.requests, total.read)
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("benches/api.rs: run it with scripts/bench-api.sh (cargo bench --bench api)");
        return;
    }
    let (clients, cold_runs, warm_runs) = (
        count("API_CLIENTS", 3000),
        count("API_COLD", 20),
        count("API_WARM", 500),
    );
    let client = local::client();
    let tables = local::create_tables().await;
    let ingest = local::store(&client, &tables, Window::DEFAULT);
    let now = now_ms();
    let started = Instant::now();
    for i in 0..clients as u64 {
        let id = format!("bench-{i:06}");
        let event = json!({"clientId": id, "timestamp": now - 3_600_000 + i, "eventType": "connected",
            "sessionIdentifier": format!("s-{i}"), "versionNumber": 1,
            "principalIdentifier": "cert", "ipAddress": "192.0.2.1"});
        handle(&ingest, &event.to_string(), now)
            .await
            .expect("handled");
    }
    eprintln!(
        "{clients} clients written through the ingest handler in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let config = Config::with_tables(&tables.status, &tables.events);
    let target = "/clients/bench-000042";

    // Cold: a fresh handler state each time (what a new Lambda execution environment holds
    // after its init), then its first request.
    let mut cold = Vec::new();
    let mut cold_tally = Tally::default();
    for _ in 0..cold_runs {
        let fresh = api(
            &aws_sdk_dynamodb::Client::new(&local::sdk_config()),
            &config,
        );
        let (ms, tally, _) = call(&fresh, target, 200, now).await;
        cold.push(ms);
        cold_tally = tally;
    }
    // Warm: one state, many requests.
    let warm_api = api(&client, &config);
    call(&warm_api, target, 200, now).await;
    let mut warm = Vec::new();
    let mut warm_tally = Tally::default();
    for _ in 0..warm_runs {
        let (ms, tally, _) = call(&warm_api, target, 200, now).await;
        warm.push(ms);
        warm_tally = tally;
    }
    // Pages of 1,000, walked with the cursor.
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_target = match &cursor {
            None => "/clients?state=connected&limit=1000".to_owned(),
            Some(c) => format!("/clients?state=connected&limit=1000&cursor={c}"),
        };
        let started = Instant::now();
        let (response, tally) =
            measure(answer(&warm_api, support::event("GET", &page_target), now)).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(response.status_code, 200, "{}", response.body);
        let body: Value = serde_json::from_str(&response.body).unwrap();
        let n = body["clients"].as_array().unwrap().len();
        pages.push((n, ms, tally, response.body.len()));
        match body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }

    println!("\n| request | n | median ms | p90 ms | p99 ms | DynamoDB, each | answer bytes |");
    println!("|---|---|---|---|---|---|---|");
    let body = call(&warm_api, target, 200, now).await.2;
    let (c50, c90, c99) = (
        quantile(&mut cold, 0.5),
        quantile(&mut cold, 0.9),
        quantile(&mut cold, 0.99),
    );
    println!(
        "| `GET {target}`, cold (fresh handler state) | {cold_runs} | {c50:.2} | {c90:.2} | {c99:.2} | {} | {body} |",
        units(&cold_tally)
    );
    let (w50, w90, w99) = (
        quantile(&mut warm, 0.5),
        quantile(&mut warm, 0.9),
        quantile(&mut warm, 0.99),
    );
    println!(
        "| `GET {target}`, warm | {warm_runs} | {w50:.2} | {w90:.2} | {w99:.2} | {} | {body} |",
        units(&warm_tally)
    );
    for (i, (n, ms, tally, bytes)) in pages.iter().enumerate() {
        println!(
            "| `GET /clients?state=connected&limit=1000`, page {} ({n} clients) | 1 | {ms:.1} | | | {} | {bytes} |",
            i + 1,
            units(tally)
        );
    }
}
