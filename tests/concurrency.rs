//! True histories of several clients, delivered shuffled and duplicated by many concurrent
//! tasks through the real handler into the local DynamoDB server: the final status items equal
//! the truth, and the event table holds each distinct event exactly once.
//!
//! The server applies requests one at a time, like DynamoDB's per-item atomicity; the handler's
//! update and append are separate requests, so invocations interleave between them. A
//! read-then-write design would fail here: its read and write are separate requests too.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::history::{fleet_deliveries, TrueEvent, W};
use common::local::{self, b, event_rows, is_null, n, s, status_item};
use iot_presence::event::Presence;
use iot_presence::functions::ingest::handle;
use iot_presence::rule::{Outcome, Window};
use iot_presence::store::schema::attr;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use tokio::sync::Mutex;

const TASKS: usize = 16;

async fn deliver_concurrently(
    store: Arc<iot_presence::store::Store>,
    deliveries: Vec<TrueEvent>,
) -> Vec<(TrueEvent, Outcome)> {
    let queue = Arc::new(Mutex::new(deliveries.into_iter()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let (queue, store) = (queue.clone(), store.clone());
        tasks.spawn(async move {
            let mut done = Vec::new();
            loop {
                let next = queue.lock().await.next();
                let Some(e) = next else { break };
                let response = handle(&store, &e.payload(), local::RECEIVED_LATER)
                    .await
                    .expect("handled");
                done.push((e, response.outcome));
            }
            done
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done.unwrap());
    }
    all
}

#[test]
fn concurrent_deliveries_end_on_the_truth() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(ProptestConfig::with_cases(6));
    runner
        .run(&fleet_deliveries(5, 12), |(histories, deliveries)| {
            rt.block_on(async {
                let client = local::client();
                let tables = local::create_tables().await;
                let store = Arc::new(local::store(&client, &tables, Window(W)));
                let outcomes = deliver_concurrently(store, deliveries.clone()).await;
                prop_assert_eq!(outcomes.len(), deliveries.len());

                for history in &histories {
                    let truth = history.last().unwrap();
                    let id = truth.client_id.as_str();
                    let item = status_item(&client, &tables, id).await.unwrap();
                    prop_assert_eq!(
                        s(&item, attr::SESSION),
                        Some(truth.session.as_str()),
                        "{:#?}",
                        history
                    );
                    prop_assert_eq!(s(&item, attr::EVENT_TYPE), Some(truth.presence.as_str()));
                    prop_assert_eq!(n(&item, attr::VERSION), Some(truth.version));
                    prop_assert_eq!(n(&item, attr::EVENT_TIMESTAMP), Some(truth.ts));
                    prop_assert_eq!(
                        b(&item, attr::CONNECTED),
                        Some(truth.presence == Presence::Connected)
                    );
                    // connectedAt is this connection's connect time, or unknown: never another
                    // connection's, not even one of the same persistent session.
                    let own_connect = history
                        .iter()
                        .find(|e| {
                            e.session == truth.session
                                && e.version == truth.version
                                && e.presence == Presence::Connected
                        })
                        .map(|e| e.ts);
                    match truth.presence {
                        Presence::Connected => {
                            prop_assert_eq!(n(&item, attr::CONNECTED_AT), own_connect)
                        }
                        Presence::Disconnected => prop_assert!(
                            is_null(&item, attr::CONNECTED_AT)
                                || n(&item, attr::CONNECTED_AT) == own_connect,
                            "connectedAt {:?}, own connect {:?}",
                            item.get(attr::CONNECTED_AT),
                            own_connect
                        ),
                    }

                    // Each distinct event exactly once, the truth's row `applied`.
                    let rows = event_rows(&client, &tables, id).await;
                    let keys: BTreeSet<String> = rows
                        .iter()
                        .map(|r| s(r, attr::EVENT_KEY).unwrap().to_owned())
                        .collect();
                    let expected: BTreeSet<String> = history.iter().map(key_of).collect();
                    prop_assert_eq!(rows.len(), expected.len());
                    prop_assert_eq!(&keys, &expected);
                    let truth_key = key_of(truth);
                    let truth_row = rows
                        .iter()
                        .find(|r| s(r, attr::EVENT_KEY) == Some(truth_key.as_str()))
                        .unwrap();
                    prop_assert_eq!(s(truth_row, attr::OUTCOME), Some("applied"));
                    prop_assert_eq!(s(&item, attr::LAST_EVENT_KEY), Some(truth_key.as_str()));
                }

                // Every delivery of a truth answered `applied`: nothing newer exists, so a
                // copy that lost the race finds its own event key on the item.
                let truths: Vec<&TrueEvent> = histories.iter().map(|h| h.last().unwrap()).collect();
                for (e, outcome) in &outcomes {
                    if truths.contains(&e) {
                        prop_assert_eq!(*outcome, Outcome::Applied, "{:?}", e);
                    }
                }
                Ok(())
            })
        })
        .unwrap();
}

/// The event table's key of a generated event, as the handler builds it.
fn key_of(e: &TrueEvent) -> String {
    let event_type = match e.presence {
        Presence::Connected => iot_presence::event::EventType::Connected,
        Presence::Disconnected => iot_presence::event::EventType::Disconnected,
    };
    iot_presence::event::event_key(e.ts, event_type, &e.session, Some(e.version))
}
