//! Differential test: random (status item, event) pairs, concentrated on the rule's
//! boundaries. The pure rule decides; the DynamoDB condition, evaluated by the real local
//! server, must apply the event exactly when the rule says `Apply`.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::local::{self, n, s, status_item};
use iot_presence::event::{LifecycleEvent, Presence};
use iot_presence::rule::{decide, Decision, Observed, Outcome, Window};
use iot_presence::store::schema::attr;
use proptest::prelude::*;
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};

const T: u64 = 1_700_000_000_000;

#[derive(Debug, Clone)]
struct Case {
    window: u64,
    /// None: no item; Some(None): an item without a status (settings only).
    item: Option<Option<(bool, Presence, u64, u64)>>,
    event: (bool, Presence, u64, u64),
}

fn presence() -> impl Strategy<Value = Presence> {
    prop_oneof![Just(Presence::Connected), Just(Presence::Disconnected)]
}

/// An offset from the item's timestamp: mostly on and around ±W, sometimes anywhere.
fn offset(w: u64) -> impl Strategy<Value = i64> {
    let w = w as i64;
    prop_oneof![
        prop::sample::select(vec![-w - 1, -w, -w + 1, -1, 0, 1, w - 1, w, w + 1]),
        -3 * w - 5..=3 * w + 5,
    ]
}

fn case() -> impl Strategy<Value = Case> {
    prop::sample::select(vec![0u64, 1, 1_000, 120_000])
        .prop_flat_map(|w| {
            let item = prop_oneof![
                1 => Just(None),
                1 => Just(Some(None)),
                8 => (any::<bool>(), presence(), 0u64..4).prop_map(|(same, p, v)| Some(Some((same, p, v, T)))),
            ];
            (Just(w), item, any::<bool>(), presence(), 0u64..4, offset(w))
        })
        .prop_map(|(window, item, same, p, v, off)| Case {
            window,
            item,
            event: (same, p, v, T.checked_add_signed(off).unwrap()),
        })
}

fn next_client() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("diff-{}", N.fetch_add(1, Ordering::Relaxed))
}

#[test]
fn the_condition_and_the_rule_agree() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = local::client();
    let tables = rt.block_on(local::create_tables());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(400));
    let seen = std::cell::RefCell::new(std::collections::HashSet::new());
    runner
        .run(&case(), |case| {
            let client_id = next_client();
            // Sessions: the event's is "e"; the item's is "e" when `same`, else "i".
            let (_, ep, ev, ets) = case.event;
            let item_obs = case.item.flatten().map(|(same, p, v, ts)| Observed {
                session: if same { "e" } else { "i" },
                presence: p,
                version: v,
                timestamp: ts,
            });
            let event_obs = Observed {
                session: "e",
                presence: ep,
                version: ev,
                timestamp: ets,
            };
            let verdict = decide(item_obs.as_ref(), &event_obs, Window(case.window));
            seen.borrow_mut().insert(verdict.rule);

            rt.block_on(async {
                if let Some(item) = case.item {
                    let mut put = client
                        .put_item()
                        .table_name(&tables.status)
                        .item(attr::CLIENT_ID, AttributeValue::S(client_id.clone()))
                        .item(
                            attr::LAST_EVENT_KEY,
                            AttributeValue::S("not-this-event".into()),
                        );
                    if let Some(o) = item.and(item_obs) {
                        put = put
                            .item(attr::SESSION, AttributeValue::S(o.session.into()))
                            .item(
                                attr::EVENT_TYPE,
                                AttributeValue::S(o.presence.as_str().into()),
                            )
                            .item(attr::VERSION, AttributeValue::N(o.version.to_string()))
                            .item(
                                attr::EVENT_TIMESTAMP,
                                AttributeValue::N(o.timestamp.to_string()),
                            );
                    }
                    put.send().await.unwrap();
                }
                let before = status_item(&client, &tables, &client_id).await;
                let payload = json!({"clientId": client_id, "timestamp": ets,
                                     "eventType": ep.as_str(), "sessionIdentifier": "e",
                                     "versionNumber": ev});
                let event = LifecycleEvent::parse(&payload.to_string()).unwrap();
                let store = local::store(&client, &tables, Window(case.window));
                let recorded = store
                    .record(&event, &payload.to_string(), local::RECEIVED_LATER)
                    .await
                    .unwrap();
                let after = status_item(&client, &tables, &client_id).await.unwrap();
                let applied = s(&after, attr::SESSION) == Some("e")
                    && s(&after, attr::EVENT_TYPE) == Some(ep.as_str())
                    && n(&after, attr::VERSION) == Some(ev)
                    && n(&after, attr::EVENT_TIMESTAMP) == Some(ets);
                let changed = before.as_ref() != Some(&after);
                let expected = match verdict.decision {
                    Decision::Apply => Outcome::Applied,
                    Decision::Duplicate => Outcome::Duplicate,
                    Decision::Stale => Outcome::Stale,
                };
                prop_assert_eq!(
                    verdict.decision == Decision::Apply,
                    applied && changed,
                    "rule says {:?}; DynamoDB {} the item {:?} -> {:?}",
                    verdict,
                    if changed { "changed" } else { "kept" },
                    before,
                    after
                );
                prop_assert_eq!(recorded.outcome, expected);
                Ok(())
            })
        })
        .unwrap();
    // Every row of the rule was exercised.
    let seen = seen.into_inner();
    assert_eq!(seen.len(), 8, "rules exercised: {seen:?}");
}
