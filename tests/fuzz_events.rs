//! Fuzzing the event parser and the handler's validation on stable Rust: inputs derived from the
//! sample corpus in `events/` by mutations that `arbitrary` drives from a seeded byte stream.
//!
//! For every input: parsing never panics; an accepted event has a key and a row DynamoDB takes
//! and a status update; the future check never panics. Then a sample of the rejected inputs goes
//! through the real handler against the local server: each fails, and writes nothing.
//!
//! Bounded by time and count: `FUZZ_SECONDS` (default 5) and `FUZZ_MAX_INPUTS` (default
//! 1,000,000); `FUZZ_SEED` picks the byte stream (default: fixed, so a run is repeatable). CI runs
//! it for longer (`FUZZ_SECONDS=60`). The summary line reports what was tried.

mod common;

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use common::local::{self, event_rows, status_item, RECEIVED_LATER};
use iot_presence::config::DEFAULT_FUTURE_SKEW_MS;
use iot_presence::event::{LifecycleEvent, MAX_EVENT_KEY_BYTES};
use iot_presence::functions::ingest::handle;
use iot_presence::rule::{Outcome, Window};
use iot_presence::store::events::event_row;
use iot_presence::store::status::status_update;
use serde_json::{Map, Value};

/// The sample corpus: every event file and every line of the scenario and timeline files.
fn seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut seeds = Vec::new();
    let mut visit = vec![root];
    while let Some(dir) = visit.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            match path.extension().and_then(|e| e.to_str()) {
                Some("json") => seeds.push(text),
                Some("jsonl") => seeds.extend(
                    text.lines()
                        .filter(|l| l.trim_start().starts_with('{'))
                        .map(str::to_owned),
                ),
                _ => {}
            }
        }
    }
    seeds.sort();
    assert!(seeds.len() >= 40, "the corpus has {} seeds", seeds.len());
    seeds
}

/// SplitMix64: a tiny, seeded source of bytes for `Unstructured` (no RNG crate needed).
struct Bytes(u64);

impl Bytes {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

const FIELDS: [&str; 15] = [
    "clientId",
    "timestamp",
    "eventType",
    "sessionIdentifier",
    "versionNumber",
    "principalIdentifier",
    "ipAddress",
    "thingName",
    "clientInitiatedDisconnect",
    "disconnectReason",
    "connectFailureReason",
    "topicEventType",
    "topicClientId",
    "presenceTopic",
    "vendorBlob",
];

/// A JSON value of the kind that breaks parsers: wrong types, edge numbers, long or odd text.
fn value(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Value> {
    Ok(match u.int_in_range(0..=11)? {
        0 => Value::Null,
        1 => Value::Bool(bool::arbitrary(u)?),
        2 => Value::from(u64::arbitrary(u)?),
        3 => Value::from(i64::arbitrary(u)?),
        4 => serde_json::Number::from_f64(f64::arbitrary(u)?).map_or(Value::Null, Value::Number),
        5 => Value::from(*u.choose(&[
            0u64,
            9_999_999_999_999,
            10_000_000_000_000,
            u64::MAX,
            RECEIVED_LATER + DEFAULT_FUTURE_SKEW_MS,
            RECEIVED_LATER + DEFAULT_FUTURE_SKEW_MS + 1,
        ])?),
        6 => Value::String(String::arbitrary(u)?),
        7 => {
            let unit = *u.choose(&["x", "é", "🛰", "\u{0}", "\n", "\"", "#"])?;
            Value::String(unit.repeat(u.int_in_range(0..=1_100)?))
        }
        8 => Value::String(
            (*u.choose(&[
                "connected",
                "disconnected",
                "connect_failed",
                "",
                "198.51.100.7",
                "2001:db8::1",
                "::ffff:1.2.3.4",
                "1.2.3.4.5",
                "CONNECTION_LOST",
            ])?)
            .to_owned(),
        ),
        9 if depth < 3 => {
            let n = u.int_in_range(0..=3)?;
            Value::Array(
                (0..n)
                    .map(|_| value(u, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        10 if depth < 3 => {
            let mut m = Map::new();
            for _ in 0..u.int_in_range(0..=3)? {
                m.insert(String::arbitrary(u)?, value(u, depth + 1)?);
            }
            Value::Object(m)
        }
        _ => Value::String(String::arbitrary(u)?),
    })
}

/// One input derived from a seed: structured edits of the JSON, or raw byte edits of its text.
fn mutate(seed: &str, u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    let mut v: Value = serde_json::from_str(seed).expect("seeds are JSON");
    for _ in 0..u.int_in_range(1..=4)? {
        let field = (*u.choose(&FIELDS)?).to_owned();
        let obj = v.as_object_mut().expect("seeds are objects");
        match u.int_in_range(0..=3)? {
            0 => {
                obj.remove(&field);
            }
            _ => {
                obj.insert(field, value(u, 0)?);
            }
        }
    }
    let mut text = v.to_string();
    if u.ratio(1, 4)? {
        // Byte-level damage: flip, cut, or insert, then keep what is still UTF-8 (the handler
        // receives the payload as a string).
        let mut bytes = text.into_bytes();
        for _ in 0..u.int_in_range(1..=3)? {
            if bytes.is_empty() {
                break;
            }
            let at = u.choose_index(bytes.len())?;
            match u.int_in_range(0..=2)? {
                0 => bytes[at] ^= 1 << u.int_in_range(0..=7)?,
                1 => bytes.truncate(at),
                _ => bytes.insert(at, u8::arbitrary(u)?),
            }
        }
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    Ok(text)
}

fn env_number(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{var}={v:?} is not a number"))
        })
        .unwrap_or(default)
}

/// What the pure path must hold for one input.
fn check(input: &str) -> Result<bool, String> {
    let parsed = catch_unwind(AssertUnwindSafe(|| LifecycleEvent::parse(input)))
        .map_err(|_| "the parser panicked".to_owned())?;
    let Ok(event) = parsed else { return Ok(false) };
    let key = event.event_key();
    if key.len() > MAX_EVENT_KEY_BYTES {
        return Err(format!("an event key of {} bytes", key.len()));
    }
    let row = event_row(&event, &key, input, Outcome::Applied, RECEIVED_LATER, 30).to_item();
    if row.contains_key("") {
        return Err("an empty attribute name".into());
    }
    if event.observed().is_some()
        != status_update(&event, &key, Window::DEFAULT, 1, 0, 16)
            .unwrap()
            .is_some()
    {
        return Err("a status update for connect_failed, or none for a state change".into());
    }
    let _ = event.check_not_from_the_future(RECEIVED_LATER, DEFAULT_FUTURE_SKEW_MS);
    Ok(true)
}

#[tokio::test]
async fn mutated_events_never_panic_and_rejected_ones_write_nothing() {
    let seeds = seeds();
    let budget = Duration::from_secs(env_number("FUZZ_SECONDS", 5));
    let max_inputs = env_number("FUZZ_MAX_INPUTS", 1_000_000);
    let mut source = Bytes(env_number("FUZZ_SEED", 0x10_7e5e_7ce5));
    let started = Instant::now();
    let (mut tried, mut accepted) = (0u64, 0u64);
    let mut rejected_sample: BTreeSet<String> = BTreeSet::new();
    let mut buf = vec![0u8; 4096];
    while tried < max_inputs && started.elapsed() < budget {
        source.fill(&mut buf);
        let mut u = Unstructured::new(&buf);
        let seed = &seeds[u.choose_index(seeds.len()).unwrap()];
        let Ok(input) = mutate(seed, &mut u) else {
            continue;
        };
        tried += 1;
        match check(&input) {
            Ok(true) => accepted += 1,
            Ok(false) if rejected_sample.len() < 200 => {
                rejected_sample.insert(input);
            }
            Ok(false) => {}
            Err(problem) => panic!("{problem} for input {input:?}"),
        }
    }
    let fuzzed_for = started.elapsed();
    assert!(tried >= 1_000, "only {tried} inputs in {budget:?}");
    assert!(
        accepted > 0 && accepted < tried,
        "{accepted} of {tried} accepted"
    );

    // Rejected inputs through the real handler: an error, and no row or status for any client
    // id the input names (the tables are fresh, so any item would be this input's).
    let client = local::client();
    let tables = local::create_tables().await;
    let store = local::store(&client, &tables, Window::DEFAULT);
    for input in &rejected_sample {
        assert!(
            handle(&store, input, RECEIVED_LATER).await.is_err(),
            "accepted by the handler: {input:?}"
        );
        let id = serde_json::from_str::<Value>(input)
            .ok()
            .and_then(|v| v.get("clientId").and_then(Value::as_str).map(str::to_owned));
        if let Some(id) = id.filter(|id| !id.is_empty() && id.len() <= 1024) {
            assert!(
                event_rows(&client, &tables, &id).await.is_empty(),
                "{input:?}"
            );
            assert!(
                status_item(&client, &tables, &id).await.is_none(),
                "{input:?}"
            );
        }
    }
    let scanned = client
        .scan()
        .table_name(&tables.events)
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .unwrap();
    assert_eq!(scanned.count(), 0, "rejected inputs wrote event rows");
    println!(
        "fuzz: {tried} inputs from {} seeds in {:.1} s: {accepted} accepted, {} rejected, 0 panics; \
         {} rejected inputs through the handler wrote nothing",
        seeds.len(),
        fuzzed_for.as_secs_f64(),
        tried - accepted,
        rejected_sample.len()
    );
}
