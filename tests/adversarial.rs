//! No single event, however crafted inside the accepted ranges, holds a client's status against
//! correctly stamped later events for longer than the window W, through the real conditional
//! update on the local DynamoDB. Adversarial events: versions at the extremes (`u64::MAX`),
//! timestamps at the edge of the future skew and one past it, sessions reused by the genuine
//! events and by another client, either type, on a client with or without a status before.
//! (The pure rule has the same property over far more cases: tests/ordering_property.rs.)

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, OnceLock};

use common::local;
use iot_presence::config::DEFAULT_FUTURE_SKEW_MS;
use iot_presence::event::LifecycleEvent;
use iot_presence::rule::{Outcome, Window};
use iot_presence::store::Store;
use proptest::prelude::*;
use serde_json::json;

const W: u64 = Window::DEFAULT.0;
const SKEW: u64 = DEFAULT_FUTURE_SKEW_MS;
const RECEIVED: u64 = 1_800_000_000_000;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
});
static STORE: OnceLock<Store> = OnceLock::new();
static NEXT_CLIENT: AtomicU64 = AtomicU64::new(0);

fn store() -> &'static Store {
    STORE.get_or_init(|| {
        RUNTIME.block_on(async {
            let client = local::client();
            let tables = local::create_tables().await;
            local::store(&client, &tables, Window::DEFAULT)
        })
    })
}

fn event(client: &str, ts: u64, session: &str, version: u64, disconnect: bool) -> String {
    let mut payload = json!({
        "clientId": client, "timestamp": ts, "sessionIdentifier": session,
        "versionNumber": version,
        "eventType": if disconnect { "disconnected" } else { "connected" },
    });
    if disconnect {
        payload["disconnectReason"] = json!("CONNECTION_LOST");
    }
    payload.to_string()
}

async fn record(store: &Store, payload: &str, now: u64) -> Outcome {
    let parsed = LifecycleEvent::parse(payload).expect("a valid event");
    store.record(&parsed, payload, now).await.unwrap().outcome
}

/// How far ahead of (positive) or behind its receipt the forged event is stamped: mostly at the
/// skew's edges, sometimes anywhere from a day behind to the edge.
fn lead() -> impl Strategy<Value = i64> {
    let skew = SKEW as i64;
    prop_oneof![
        3 => prop::sample::select(vec![skew, skew - 1, skew + 1, 0, -(W as i64)]),
        1 => -86_400_000i64..=skew,
    ]
}

fn version() -> impl Strategy<Value = u64> {
    prop_oneof![Just(u64::MAX), Just(u64::MAX - 1), Just(0u64), any::<u64>()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn no_forged_event_holds_a_status_longer_than_the_window(
        lead in lead(),
        forged_version in version(),
        forged_disconnect in any::<bool>(),
        forged_session in prop::sample::select(vec!["shared", "s-genuine", "s-forged"]),
        prior in any::<bool>(),
        later in prop::sample::select(vec![1u64, 1_000, 60_000, 3_600_000]),
        genuine_version in prop::sample::select(vec![0u64, 1, 7]),
        genuine_disconnect in any::<bool>(),
    ) {
        let store = store();
        let n = NEXT_CLIENT.fetch_add(1, Ordering::Relaxed);
        let (victim, bystander) = (format!("victim-{n}"), format!("bystander-{n}"));
        let forged_ts = RECEIVED.checked_add_signed(lead).unwrap();
        let genuine_ts = RECEIVED + W + later;
        let (forged_outcome, genuine_outcome, status, bystander_status) = RUNTIME.block_on(async {
            if prior {
                let before = event(&victim, RECEIVED - 10_000, "s-genuine", 3, false);
                assert_eq!(record(store, &before, RECEIVED - 9_000).await, Outcome::Applied);
            }
            // The forged session is also another client's: sessions are per client.
            let other = event(&bystander, RECEIVED - 5_000, forged_session, 1, false);
            assert_eq!(record(store, &other, RECEIVED - 5_000).await, Outcome::Applied);
            let forged = event(&victim, forged_ts, forged_session, forged_version, forged_disconnect);
            let forged_outcome = record(store, &forged, RECEIVED).await;
            let genuine = event(&victim, genuine_ts, "s-genuine", genuine_version, genuine_disconnect);
            let genuine_outcome = record(store, &genuine, genuine_ts).await;
            (
                forged_outcome,
                genuine_outcome,
                store.status(&victim).await.unwrap().expect("the victim has a status"),
                store.status(&bystander).await.unwrap().expect("the bystander has a status"),
            )
        });
        // The forged event was judged as intended: past the skew it is kept as invalid;
        // inside it, on a client without a status, it took the status (so the genuine event
        // below had to win against it).
        if lead > SKEW as i64 {
            prop_assert_eq!(forged_outcome, Outcome::Invalid);
        } else if !prior {
            prop_assert_eq!(forged_outcome, Outcome::Applied);
        } else {
            prop_assert_ne!(forged_outcome, Outcome::Invalid);
        }
        prop_assert_eq!(genuine_outcome, Outcome::Applied, "forged {:?} at lead {}", forged_outcome, lead);
        prop_assert_eq!(status.session_identifier.as_deref(), Some("s-genuine"));
        prop_assert_eq!(status.version_number, Some(genuine_version));
        prop_assert_eq!(status.connected, !genuine_disconnect);
        prop_assert_eq!(status.event_timestamp, Some(genuine_ts));
        prop_assert!(bystander_status.connected);
        prop_assert_eq!(bystander_status.version_number, Some(1));
    }
}

/// An accepted event stamped ahead of the clock is stored as of its receipt, and the raw row
/// keeps the timestamp as sent.
#[test]
fn an_accepted_lead_counts_as_the_receipt() {
    let store = store();
    let client = format!("lead-{}", NEXT_CLIENT.fetch_add(1, Ordering::Relaxed));
    let payload = event(&client, RECEIVED + SKEW, "s", u64::MAX, false);
    let status = RUNTIME.block_on(async {
        assert_eq!(record(store, &payload, RECEIVED).await, Outcome::Applied);
        store.status(&client).await.unwrap().unwrap()
    });
    assert_eq!(status.event_timestamp, Some(RECEIVED));
    assert_eq!(status.connected_at, Some(RECEIVED));
    let history = RUNTIME
        .block_on(store.history(&client, None, None))
        .unwrap();
    assert_eq!(history.len(), 1);
    assert!(
        history[0]
            .payload
            .contains(&format!("\"timestamp\":{}", RECEIVED + SKEW)),
        "{}",
        history[0].payload
    );
}
