//! A generated fleet for the fleet benchmarks (`benches/fleet.rs`): status items as the handler
//! writes them, and the event rows behind them, loaded with BatchWriteItem (pushing a million
//! events through the function one at a time would measure the seeding, not the reads).
//!
//! Items are built with the library's own types, names, shards and key formats, from a fixed
//! seed, so every run loads the same fleet.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use iot_presence::event::{event_key, EventType, LifecycleEvent, Presence};
use iot_presence::rule::Outcome;
use iot_presence::store::events::event_row;
use iot_presence::store::item::{to_item, Status};
use iot_presence::store::schema::{alert_shard, attr, connection_id, status_shard, REASON_NONE};
use serde_json::json;
use tokio::task::JoinSet;

use super::local::{put_rows, Item};

const REASONS: [&str; 6] = [
    "CONNECTION_LOST",
    "MQTT_KEEP_ALIVE_TIMEOUT",
    "CLIENT_INITIATED_DISCONNECT",
    "DUPLICATE_CLIENTID",
    "SERVER_INITIATED_DISCONNECT",
    "AUTH_ERROR",
];
pub const DAY: u64 = 86_400_000;

/// SplitMix64: a fixed seed gives the same fleet every run, without a dependency.
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// In low..=high.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// One generated client: its status item, and the event rows that led to it.
pub struct Generated {
    pub status: Item,
    pub rows: Vec<Item>,
    pub connected: bool,
    /// Since when it is in its state (ms).
    pub since: u64,
}

/// What a loaded fleet holds, to check the benchmarks' answers against.
#[derive(Debug, Default)]
pub struct Loaded {
    pub clients: u64,
    pub connected: u64,
    /// `since` of each disconnected client.
    pub offline_since: Vec<u64>,
    pub rows: u64,
}

/// Client `i` of the fleet at `now`: 60% connected (for up to 7 days), the rest offline for up
/// to 3 days with one of six reasons. `due`: a disconnected client whose alert is due now (in
/// the alert index, as the status update leaves it).
pub fn client(i: u64, now: u64, rng: &mut Rng, due: bool) -> Generated {
    let id = format!("device-{i:07}");
    let connected = !due && rng.range(0, 9) < 6;
    let session = format!("{i:08x}-7e22-4ace-a308-df2c229d27d0");
    let version = rng.range(1, 500);
    let connected_at = now
        - if due {
            rng.range(4 * DAY, 7 * DAY)
        } else {
            rng.range(60_000, 7 * DAY)
        };
    let mut st = Status {
        client_id: id.clone(),
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
    let connect = json!({
        "clientId": id, "timestamp": connected_at, "eventType": "connected",
        "sessionIdentifier": session, "versionNumber": version,
        "principalIdentifier": st.principal_identifier, "ipAddress": "198.51.100.7",
    });
    let mut events = vec![connect];
    let (ts, presence, event_type) = if connected {
        st.disconnect_reason = Some(REASON_NONE.to_owned());
        st.ip_address = Some("198.51.100.7".to_owned());
        (connected_at, Presence::Connected, EventType::Connected)
    } else {
        // A due client is past any default threshold: offline for an hour at least.
        let least = if due { 3_600_000 } else { 1_000 };
        let ts = (now - rng.range(least, 3 * DAY)).max(connected_at + 1);
        let reason = REASONS[rng.range(0, REASONS.len() as u64 - 1) as usize];
        st.disconnect_reason = Some(reason.to_owned());
        st.disconnected_at = Some(ts);
        st.client_initiated_disconnect = Some(false);
        events.push(json!({
            "clientId": id, "timestamp": ts, "eventType": "disconnected",
            "sessionIdentifier": session, "versionNumber": version,
            "disconnectReason": reason, "clientInitiatedDisconnect": false,
        }));
        (ts, Presence::Disconnected, EventType::Disconnected)
    };
    st.event_type = Some(event_type.as_str().to_owned());
    st.event_timestamp = Some(ts);
    st.status_shard = Some(status_shard(
        &id,
        presence,
        iot_presence::config::DEFAULT_STATUS_SHARDS,
    ));
    st.last_event_key = Some(event_key(ts, event_type, &session, Some(version)));
    if due {
        st.alert_shard = Some(alert_shard(&id));
        st.alert_due_at = Some(ts);
    }
    let mut status: Item = to_item(&st).expect("a status item encodes");
    // The typed item leaves unset fields NULL; a written status item has them absent.
    status.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
    // The one map the status update writes by expression (not part of the typed item).
    let connection = HashMap::from([(
        attr::CONNECTED_AT.to_owned(),
        AttributeValue::N(connected_at.to_string()),
    )]);
    status.insert(
        attr::CONNECTED_SESSION.to_owned(),
        AttributeValue::M(HashMap::from([(
            connection_id(&session, version),
            AttributeValue::M(connection),
        )])),
    );
    let rows = events
        .into_iter()
        .map(|e| {
            let payload = e.to_string();
            let event = LifecycleEvent::parse(&payload).expect("a generated event parses");
            event_row(
                &event,
                &event.event_key(),
                &payload,
                Outcome::Applied,
                now,
                30,
            )
            .to_item()
        })
        .collect();
    Generated {
        status,
        rows,
        connected,
        since: ts,
    }
}

/// Loads clients `0..count` (with their event rows when `rows`), `writers` batch writers at
/// once. `due`: every client is disconnected with its alert due.
pub async fn load(
    client: &Client,
    (status_table, events_table): (&str, &str),
    count: u64,
    now: u64,
    rows: bool,
    due: bool,
) -> Loaded {
    const WRITERS: u64 = 8;
    let mut tasks = JoinSet::new();
    for w in 0..WRITERS {
        let (client, status_table, events_table) = (
            client.clone(),
            status_table.to_owned(),
            events_table.to_owned(),
        );
        tasks.spawn(async move {
            let mut loaded = Loaded::default();
            let (mut statuses, mut events) = (Vec::new(), Vec::new());
            let mut rng = Rng(42 + w);
            for i in (w..count).step_by(WRITERS as usize) {
                let c = self::client(i, now, &mut rng, due);
                loaded.clients += 1;
                if c.connected {
                    loaded.connected += 1;
                } else {
                    loaded.offline_since.push(c.since);
                }
                statuses.push(c.status);
                if rows {
                    loaded.rows += c.rows.len() as u64;
                    events.extend(c.rows);
                }
                if statuses.len() >= 500 {
                    put_rows(&client, &status_table, std::mem::take(&mut statuses)).await;
                }
                if events.len() >= 500 {
                    put_rows(&client, &events_table, std::mem::take(&mut events)).await;
                }
            }
            put_rows(&client, &status_table, statuses).await;
            put_rows(&client, &events_table, events).await;
            loaded
        });
    }
    let mut all = Loaded::default();
    while let Some(done) = tasks.join_next().await {
        let part = done.expect("a loader task panicked");
        all.clients += part.clients;
        all.connected += part.connected;
        all.rows += part.rows;
        all.offline_since.extend(part.offline_since);
    }
    all
}

/// The status item the handler leaves for client `client_id`, disconnected at `at` with
/// `reason` and seen for the first time (version 1): in the alert index, first looked at
/// `FIRST_LOOK_MS` after the drop, as the status update schedules it.
pub fn dropped_status(client_id: &str, at: u64, reason: &str) -> Item {
    let session = format!("s-{client_id}");
    let st = Status {
        client_id: client_id.to_owned(),
        connected: false,
        session_identifier: Some(session.clone()),
        version_number: Some(1),
        updated_at: Some(at + 500),
        event_type: Some(EventType::Disconnected.as_str().to_owned()),
        event_timestamp: Some(at),
        disconnected_at: Some(at),
        disconnect_reason: Some(reason.to_owned()),
        client_initiated_disconnect: Some(false),
        status_shard: Some(status_shard(
            client_id,
            Presence::Disconnected,
            iot_presence::config::DEFAULT_STATUS_SHARDS,
        )),
        last_event_key: Some(event_key(at, EventType::Disconnected, &session, Some(1))),
        alert_shard: Some(alert_shard(client_id)),
        alert_due_at: Some(at + iot_presence::store::status::FIRST_LOOK_MS),
        ..Status::default()
    };
    let mut status: Item = to_item(&st).expect("a status item encodes");
    status.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
    status
}

/// Writes items `0..count` made by `make`, 8 batch writers at once.
pub async fn put_generated(
    client: &Client,
    table: &str,
    count: u64,
    make: impl Fn(u64) -> Item + Send + Sync + Clone + 'static,
) {
    const WRITERS: u64 = 8;
    let mut tasks = JoinSet::new();
    for w in 0..WRITERS {
        let (client, table, make) = (client.clone(), table.to_owned(), make.clone());
        tasks.spawn(async move {
            let mut rows = Vec::new();
            for i in (w..count).step_by(WRITERS as usize) {
                rows.push(make(i));
                if rows.len() >= 500 {
                    put_rows(&client, &table, std::mem::take(&mut rows)).await;
                }
            }
            put_rows(&client, &table, rows).await;
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a loader task panicked");
    }
}
