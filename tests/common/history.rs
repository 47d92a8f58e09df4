//! Random *true* histories of one client's connections, as AWS would publish them, and their
//! deliveries: shuffled, with duplicates.
//!
//! What a history models (AWS IoT developer guide, "Lifecycle events"):
//! - connections; a connection's connected and disconnected events carry the same
//!   `versionNumber`;
//! - a connection starts a fresh session (a clean session), or resumes the previous connection's
//!   persistent session (same `sessionIdentifier`) when that session has not expired: the
//!   reconnect comes within the hour (the default session expiry), or at once (a knock-off);
//! - versions rise from connection to connection, skipping values, in one session and across;
//! - after more than an hour offline the version may reset (to a small number); the session has
//!   then expired, so the next connection starts a new one;
//! - a new connection while one is connected knocks the old one off: the old connection gets a
//!   `DUPLICATE_CLIENTID` disconnect at the same true time as the new connect (two processes
//!   sharing a client id do this to each other in a loop);
//! - observed timestamps are off from the truth by at most W/2 each.
//!
//! The last event of the history is the truth the status must end on.

use iot_presence::event::{Presence, DOCUMENTED_DISCONNECT_REASONS};
use iot_presence::rule::Observed;
use proptest::prelude::*;
use serde_json::json;

pub const W: u64 = 120_000;
const T0: u64 = 1_700_000_000_000;
const HOUR: u64 = 3_600_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrueEvent {
    pub client_id: String,
    pub session: String,
    pub presence: Presence,
    pub version: u64,
    pub true_ts: u64,
    /// The timestamp AWS publishes: true ± W/2.
    pub ts: u64,
    pub reason: Option<&'static str>,
}

impl TrueEvent {
    pub fn observed(&self) -> Observed<'_> {
        Observed {
            session: &self.session,
            presence: self.presence,
            version: self.version,
            timestamp: self.ts,
        }
    }

    /// The payload as AWS publishes it (plus the fields our IoT rule adds).
    pub fn payload(&self) -> String {
        let mut v = json!({
            "clientId": self.client_id,
            "timestamp": self.ts,
            "eventType": self.presence.as_str(),
            "sessionIdentifier": self.session,
            "principalIdentifier": "226c64225fce225672257c31e2cb6d3ad21ca514af690bc5cb44f5f58c2222",
            "versionNumber": self.version,
            "topicEventType": self.presence.as_str(),
            "topicClientId": self.client_id,
        });
        let obj = v.as_object_mut().unwrap();
        match self.presence {
            Presence::Connected => {
                obj.insert("ipAddress".into(), json!("198.51.100.7"));
            }
            Presence::Disconnected => {
                let reason = self.reason.unwrap_or("CONNECTION_LOST");
                obj.insert("disconnectReason".into(), json!(reason));
                obj.insert(
                    "clientInitiatedDisconnect".into(),
                    json!(reason == "CLIENT_INITIATED_DISCONNECT"),
                );
            }
        }
        v.to_string()
    }
}

/// One step of a history, as raw random numbers.
#[derive(Debug, Clone)]
struct Step {
    /// While connected: 0 or 1 disconnect, 2 is a knock-off by a new session.
    kind: u8,
    /// Session length or offline gap, ms.
    duration: u64,
    reset: bool,
    /// The new connection resumes the previous persistent session, if it has not expired.
    resume: bool,
    skip: u64,
    reset_to: u64,
    reason: usize,
    noise: [i64; 2],
}

fn step() -> impl Strategy<Value = Step> {
    let half = (W / 2) as i64;
    (
        0u8..3,
        // From a second up to three hours: both sides of W and of the one-hour reset.
        prop_oneof![1_000u64..=2 * W, 1_000u64..=3 * HOUR],
        any::<bool>(),
        any::<bool>(),
        0u64..4,
        0u64..6,
        0usize..DOCUMENTED_DISCONNECT_REASONS.len(),
        [-half..=half, -half..=half],
    )
        .prop_map(
            |(kind, duration, reset, resume, skip, reset_to, reason, noise)| Step {
                kind,
                duration,
                reset,
                resume,
                skip,
                reset_to,
                reason,
                noise,
            },
        )
}

fn observe(true_ts: u64, noise: i64) -> u64 {
    true_ts.checked_add_signed(noise).unwrap()
}

fn build(client_id: &str, first_version: u64, steps: &[Step]) -> Vec<TrueEvent> {
    let mut events = Vec::new();
    let mut t = T0;
    let mut version = first_version;
    let session_name = |n: usize| format!("{client_id}-session-{n:03}");
    let mut sessions = 1;
    // The session of the connection that is up, if any, and of the last one ("" once expired).
    let mut current = Some(session_name(sessions));
    let mut last = session_name(sessions);
    let event = |session: &str, presence, version, true_ts, noise, reason| TrueEvent {
        client_id: client_id.into(),
        session: session.into(),
        presence,
        version,
        true_ts,
        ts: observe(true_ts, noise),
        reason,
    };
    events.push(event(
        &session_name(1),
        Presence::Connected,
        version,
        t,
        0,
        None,
    ));
    for st in steps {
        t += st.duration;
        if let Some(session) = current.take() {
            let knocked_off = st.kind == 2;
            let reason = if knocked_off {
                "DUPLICATE_CLIENTID"
            } else {
                DOCUMENTED_DISCONNECT_REASONS[st.reason]
            };
            events.push(event(
                &session,
                Presence::Disconnected,
                version,
                t,
                st.noise[0],
                Some(reason),
            ));
            if !knocked_off {
                continue;
            }
            // Knocked off by a new connection with the same client id, at the same true time;
            // it may take over the persistent session at once.
            version += 1 + st.skip;
        } else if st.reset && st.duration > HOUR + 5 * 60_000 {
            // Reconnect after more than an hour offline (65 minutes, so that "about an hour" is
            // unambiguous): the session has expired and the version may reset.
            version = st.reset_to;
            last.clear();
        } else {
            version += 1 + st.skip;
            if st.duration >= HOUR {
                last.clear();
            }
        }
        let new = if st.resume && !last.is_empty() {
            last.clone()
        } else {
            sessions += 1;
            session_name(sessions)
        };
        last = new.clone();
        events.push(event(
            &new,
            Presence::Connected,
            version,
            t,
            st.noise[1],
            None,
        ));
        current = Some(new);
    }
    events
}

/// A true history of one client: at least one event, in true order.
pub fn history(client_id: String, max_steps: usize) -> impl Strategy<Value = Vec<TrueEvent>> {
    (0u64..200, proptest::collection::vec(step(), 0..=max_steps))
        .prop_map(move |(first_version, steps)| build(&client_id, first_version, &steps))
}

/// Histories of several clients and one delivery order for all their events: each event
/// delivered one to three times, everything shuffled together.
pub fn fleet_deliveries(
    clients: usize,
    max_steps: usize,
) -> impl Strategy<Value = (Vec<Vec<TrueEvent>>, Vec<TrueEvent>)> {
    let histories: Vec<_> = (0..clients)
        .map(|i| history(format!("device-{i:02}"), max_steps))
        .collect();
    histories
        .prop_flat_map(|hs| {
            let all: Vec<TrueEvent> = hs.iter().flatten().cloned().collect();
            let copies = proptest::collection::vec(1usize..=3, all.len());
            (Just(hs), Just(all), copies)
        })
        .prop_flat_map(|(hs, all, copies)| {
            let deliveries: Vec<TrueEvent> = all
                .iter()
                .zip(copies)
                .flat_map(|(e, c)| std::iter::repeat_n(e.clone(), c))
                .collect();
            (Just(hs), Just(deliveries).prop_shuffle())
        })
}
