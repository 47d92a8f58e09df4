//! `cargo xtask bench`: figures for the README (run through scripts/bench.sh, which builds the
//! release binary and starts the local server). A fake Lambda Runtime API stands in for Lambda:
//!
//! - cold start: from spawning the process to its first poll of
//!   GET /2018-06-01/runtime/invocation/next -- the moment Lambda considers init done;
//! - peak RSS: VmHWM of the process after it has handled the events/ corpus many times over
//!   (distinct client ids per round, so every round really writes);
//! - the contrast: a Python function that only imports boto3 and creates a DynamoDB client
//!   before its first poll, measured by the same clock in the same run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use crate::events::{self, Item};
use crate::runtime_api::RuntimeApi;
use crate::{local, Result};

const PYTHON_FUNCTION: &str = r#"
import os, urllib.request
import boto3
client = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
urllib.request.urlopen("http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/next")
"#;

#[derive(clap::Args)]
/// Cold start, RSS, sizes and per-event latency of the handler, with a Python contrast
pub struct Args {
    #[command(flatten)]
    tables: local::Tables,
    /// The native release build of presence-handler
    #[arg(long)]
    binary: PathBuf,
    /// The arm64 bootstrap, for its size
    #[arg(long)]
    bootstrap: Option<PathBuf>,
    /// A Python with boto3 (the local server's venv), for the contrast
    #[arg(long)]
    python: PathBuf,
    #[arg(long, default_value = "events")]
    events_dir: PathBuf,
    #[arg(long, default_value_t = 30)]
    runs: usize,
    #[arg(long, default_value_t = 10)]
    python_runs: usize,
    #[arg(long, default_value_t = 100)]
    rounds: usize,
}

fn rss_peak_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| "no VmHWM".into())
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn cold_starts(api: &RuntimeApi, cmd: &mut Command, runs: usize) -> Result<(Vec<f64>, Vec<u64>)> {
    let (mut times, mut rss) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        api.reset(Vec::new());
        let start = Instant::now();
        let child = cmd.spawn().map_err(|e| format!("{cmd:?}: {e}"))?;
        let Some(polled) = api.first_poll(Duration::from_secs(30)) else {
            stop(child);
            return Err(format!("{cmd:?} never polled the runtime API").into());
        };
        times.push((polled - start).as_secs_f64() * 1000.0);
        rss.push(rss_peak_kb(child.id())?);
        stop(child);
    }
    Ok((times, rss))
}

/// The corpus, `rounds` times over with distinct client ids per round. events/local holds
/// `sam local`'s environment file, not events.
fn replay_events(events_dir: &PathBuf, rounds: usize) -> Result<Vec<String>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(events_dir)? {
        let path = entry?.path();
        if path.file_name().is_some_and(|n| n != "local") {
            paths.push(path);
        }
    }
    let mut corpus = Vec::new();
    for (source, text) in events::load(&paths)? {
        let event: Value = serde_json::from_str(&text).map_err(|e| format!("{source}: {e}"))?;
        if !event["clientId"].is_string() {
            return Err(format!("{source}: not a lifecycle event (no clientId)").into());
        }
        corpus.push(event);
    }
    let mut out = Vec::new();
    for r in 0..rounds {
        for e in &corpus {
            let mut e = e.clone();
            e["clientId"] = format!("{}-r{r}", e["clientId"].as_str().unwrap_or("")).into();
            if let Some(o) = e.as_object_mut() {
                o.remove("presenceTopic");
            }
            out.push(e.to_string());
        }
    }
    Ok(out)
}

/// Approximate bytes of an attribute value, by DynamoDB's documented item size rules.
fn attribute_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.trim_start_matches('-').replace('.', "").len() / 2 + 2,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, x)| k.len() + attribute_size(x) + 1)
                .sum::<usize>()
        }
        AttributeValue::L(l) => 3 + l.iter().map(|x| attribute_size(x) + 1).sum::<usize>(),
        _ => 0,
    }
}

fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + attribute_size(v)).sum()
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median, p90 and min.
fn summary(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let p90 = v[((0.9 * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
    (median(&v), p90, v[0])
}

pub async fn run(a: Args) -> Result {
    if a.runs == 0 || a.python_runs == 0 || a.rounds == 0 {
        return Err("--runs, --python-runs and --rounds must be at least 1".into());
    }
    local::check_local(&a.tables.endpoint)?;
    let (api, port) = RuntimeApi::start()?;
    let command = |program: &PathBuf| {
        let mut c = Command::new(program);
        c.envs([
            (
                "AWS_LAMBDA_RUNTIME_API",
                format!("127.0.0.1:{port}").as_str(),
            ),
            ("AWS_LAMBDA_FUNCTION_NAME", "bench"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_ENDPOINT_URL_DYNAMODB", a.tables.endpoint.as_str()),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            (
                iot_presence::config::STATUS_TABLE_VAR,
                a.tables.status_table.as_str(),
            ),
            (
                iot_presence::config::EVENTS_TABLE_VAR,
                a.tables.events_table.as_str(),
            ),
        ])
        .envs(local::CHILD_ENV)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        c
    };
    let (rust_ms, rust_rss) = cold_starts(&api, &mut command(&a.binary), a.runs)?;
    let mut python = command(&a.python);
    python.args(["-c", PYTHON_FUNCTION]);
    let (py_ms, py_rss) = cold_starts(&api, &mut python, a.python_runs)?;

    let replay = replay_events(&a.events_dir, a.rounds)?;
    let total = replay.len();
    api.reset(replay);
    let log_path =
        std::env::temp_dir().join(format!("iot-presence-bench-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path)?;
    let mut replayer = command(&a.binary);
    replayer.stdout(log.try_clone()?).stderr(log);
    let child = replayer.spawn()?;
    let start = Instant::now();
    if !api.wait_done(Duration::from_secs(600)) {
        stop(child);
        return Err("the replay did not finish in 10 minutes".into());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let replay_rss = rss_peak_kb(child.id())?;
    stop(child);
    let log_text = std::fs::read_to_string(&log_path)?;
    std::fs::remove_file(&log_path)?;
    let log_lines: Vec<&str> = log_text
        .lines()
        .filter(|l| l.contains("\"event recorded\""))
        .collect();

    let client = local::dynamodb(&a.tables.endpoint)?;
    let mut sizes = Vec::new();
    for (name, table) in [
        ("status item", &a.tables.status_table),
        ("event row", &a.tables.events_table),
    ] {
        // Local, small tables: a Scan is fine here.
        let items = client
            .scan()
            .table_name(table)
            .limit(500)
            .send()
            .await
            .map_err(|e| local::sdk_error("Scan", e))?
            .items
            .unwrap_or_default();
        let s: Vec<usize> = items.iter().map(item_size).collect();
        let mean = s.iter().sum::<usize>() as f64 / s.len().max(1) as f64;
        sizes.push(format!(
            "{name} {mean:.0} bytes mean, {} max",
            s.iter().max().unwrap_or(&0)
        ));
    }
    let (responses, errors) = api.answers();
    api.stop();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for body in &responses {
        let v: Value = serde_json::from_slice(body)?;
        *outcomes
            .entry(v["outcome"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }

    let (r_med, r_p90, r_min) = summary(&rust_ms);
    let (p_med, p_p90, _) = summary(&py_ms);
    let kb = |v: &[u64]| median(&v.iter().map(|&x| x as f64).collect::<Vec<_>>());
    let (r_rss, p_rss) = (kb(&rust_rss), kb(&py_rss));
    println!("| figure | iot-presence (Rust) | Python + boto3 client | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| cold start, spawn -> first runtime API poll (median of {} / {}) | {r_med:.1} ms (p90 {r_p90:.1}, min {r_min:.1}) | {p_med:.0} ms (p90 {p_p90:.0}) | {:.0}x |",
        a.runs, a.python_runs, p_med / r_med
    );
    println!(
        "| RSS at first poll (median) | {:.1} MiB | {:.1} MiB | {:.1}x |",
        r_rss / 1024.0,
        p_rss / 1024.0,
        p_rss / r_rss
    );
    println!(
        "| peak RSS after replaying {total} events | {:.1} MiB | - | - |",
        replay_rss as f64 / 1024.0
    );
    if let Some(size) = a
        .bootstrap
        .as_ref()
        .and_then(|b| std::fs::metadata(b).ok())
        .map(|m| m.len())
    {
        println!(
            "| arm64 bootstrap size | {:.2} MiB ({size} bytes) | - | - |",
            size as f64 / 1024.0 / 1024.0
        );
    }
    println!();
    let latencies: Vec<f64> = log_lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["fields"]["latencyMs"].as_f64())
        .collect();
    let mean_line =
        log_lines.iter().map(|l| l.len() + 1).sum::<usize>() as f64 / log_lines.len().max(1) as f64;
    println!(
        "per event: handler latency (logged latencyMs, two writes to the local server) median {:.1} ms; one JSON log line of {mean_line:.0} bytes (mean of {}); {}",
        median(&latencies),
        log_lines.len(),
        sizes.join("; ")
    );
    let outcomes: Vec<String> = outcomes
        .iter()
        .map(|(k, v)| format!("'{k}': {v}"))
        .collect();
    println!(
        "replay: {} responses, {} errors in {elapsed:.1} s ({:.0} events/s against the local server); outcomes {{{}}}",
        responses.len(),
        errors.len(),
        total as f64 / elapsed,
        outcomes.join(", ")
    );
    if !errors.is_empty() {
        let first: Vec<String> = errors
            .iter()
            .take(3)
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect();
        return Err(format!("errors: {first:?}").into());
    }
    Ok(())
}
