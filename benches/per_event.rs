//! Per-event CPU cost of the handler, without I/O: parse + validate, decide, and build both
//! DynamoDB requests (the conditional status update and the event row).
//!
//! Run: `cargo bench --bench per_event` (target: ≤ 20 µs per event for the whole path).

use criterion::{criterion_group, criterion_main, Criterion};
use iot_presence::event::{LifecycleEvent, Presence};
use iot_presence::rule::{decide, Observed, Outcome, Window};
use iot_presence::store::events::event_row;
use iot_presence::store::status::status_update;
use std::hint::black_box;

const CONNECTED: &str = include_str!("../events/connected-certificate.json");
const DISCONNECTED: &str = include_str!("../events/disconnected-connection-lost.json");

fn per_event(c: &mut Criterion) {
    let item = Observed {
        session: "previous-session",
        presence: Presence::Disconnected,
        version: 95,
        timestamp: 1_763_711_000_000,
    };
    for (name, raw) in [("connected", CONNECTED), ("disconnected", DISCONNECTED)] {
        let mut group = c.benchmark_group(name);
        group.bench_function("parse", |b| {
            b.iter(|| LifecycleEvent::parse(black_box(raw)).unwrap())
        });
        let event = LifecycleEvent::parse(raw).unwrap();
        group.bench_function("decide", |b| {
            b.iter(|| {
                decide(
                    Some(black_box(&item)),
                    &black_box(&event).observed().unwrap(),
                    Window::DEFAULT,
                )
            })
        });
        group.bench_function("build_requests", |b| {
            b.iter(|| {
                let key = event.event_key();
                let update = status_update(black_box(&event), &key, Window::DEFAULT, 1, 0, 16);
                let row = event_row(&event, &key, raw, Outcome::Applied, 1, 30);
                (update, row)
            })
        });
        group.bench_function("total", |b| {
            b.iter(|| {
                let event = LifecycleEvent::parse(black_box(raw)).unwrap();
                let verdict = decide(Some(&item), &event.observed().unwrap(), Window::DEFAULT);
                let key = event.event_key();
                let update = status_update(&event, &key, Window::DEFAULT, 1, 0, 16);
                let row = event_row(&event, &key, raw, Outcome::Applied, 1, 30);
                (verdict, update, row)
            })
        });
        group.finish();
    }
}

criterion_group!(benches, per_event);
criterion_main!(benches);
