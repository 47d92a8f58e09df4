use proptest::prelude::*;

use super::*;

fn connected(client: &str, session: &str, version: u64, at: u64, seq: u64) -> Status {
    Status {
        client_id: client.to_owned(),
        connected: true,
        event_type: Some("connected".into()),
        session_identifier: Some(session.into()),
        version_number: Some(version),
        event_timestamp: Some(at),
        connected_at: Some(at),
        disconnect_reason: Some("NONE".into()),
        change_seq: Some(seq),
        ..Status::default()
    }
}

fn disconnected(client: &str, session: &str, version: u64, at: u64, seq: u64) -> Status {
    Status {
        client_id: client.to_owned(),
        connected: false,
        event_type: Some("disconnected".into()),
        session_identifier: Some(session.into()),
        version_number: Some(version),
        event_timestamp: Some(at),
        disconnected_at: Some(at),
        disconnect_reason: Some("CONNECTION_LOST".into()),
        client_initiated_disconnect: Some(false),
        change_seq: Some(seq),
        ..Status::default()
    }
}

#[test]
fn a_first_connect_is_change_one_with_no_previous_state() {
    let new = connected("pump-1", "s1", 1, 1_000, 1);
    let c = change(None, Some(&new)).expect("a change");
    assert_eq!(c.event_id, "pump-1#1");
    assert_eq!(
        (c.sequence, c.state, c.previous_state),
        (1, Presence::Connected, None)
    );
    assert_eq!(
        (c.since_ms, c.since.as_str()),
        (1_000, "1970-01-01T00:00:01.000Z")
    );
    assert_eq!(c.outage_ms, None);
    assert!(!c.session_resumed && !c.reconciled);
    assert_eq!(c.disconnect_reason, None, "NONE is not a reason to report");
}

#[test]
fn a_reconnect_reports_the_outage_and_whether_the_session_resumed() {
    let down = disconnected("pump-1", "s1", 1, 10_000, 2);
    let resumed = connected("pump-1", "s1", 2, 70_000, 3);
    let c = change(Some(&down), Some(&resumed)).unwrap();
    assert_eq!(c.previous_state, Some(Presence::Disconnected));
    assert_eq!(c.outage_ms, Some(60_000));
    assert!(c.session_resumed);
    let fresh = connected("pump-1", "s2", 1, 70_000, 3);
    assert!(!change(Some(&down), Some(&fresh)).unwrap().session_resumed);
}

#[test]
fn a_disconnect_carries_its_reason() {
    let up = connected("pump-1", "s1", 1, 1_000, 1);
    let down = disconnected("pump-1", "s1", 1, 5_000, 2);
    let c = change(Some(&up), Some(&down)).unwrap();
    assert_eq!(c.disconnect_reason.as_deref(), Some("CONNECTION_LOST"));
    assert_eq!(c.client_initiated_disconnect, Some(false));
    assert_eq!(c.outage_ms, None);
    assert_eq!(c.session_identifier.as_deref(), Some("s1"));
}

#[test]
fn writes_that_move_no_status_emit_nothing() {
    let up = connected("pump-1", "s1", 1, 1_000, 4);
    // Alert bookkeeping, a threshold, a shard migration: the sequence stays.
    let mut booked = up.clone();
    booked.alert_due_at = Some(9_000);
    booked.status_shard = Some("connected#63".into());
    assert_eq!(change(Some(&up), Some(&booked)), None);
    // A TTL deletion: no new image.
    assert_eq!(change(Some(&up), None), None);
    // Settings written before any event: no status.
    let settings = Status {
        client_id: "new-gw".into(),
        offline_threshold_ms: Some(120_000),
        ..Status::default()
    };
    assert_eq!(change(None, Some(&settings)), None);
    // An item written before sequences existed, then bookkeeping: nothing.
    let mut legacy = up.clone();
    legacy.change_seq = None;
    assert_eq!(change(Some(&legacy), Some(&legacy)), None);
}

#[test]
fn a_repair_is_marked_and_knows_no_session() {
    let up = connected("pump-1", "s1", 1, 1_000, 1);
    let mut repaired = disconnected("pump-1", "", u64::MAX, 50_000, 2);
    repaired.reconciled_at = Some(60_000);
    let c = change(Some(&up), Some(&repaired)).unwrap();
    assert!(c.reconciled);
    assert_eq!((c.session_identifier, c.version_number), (None, None));
    // A connect after a repair did not resume the repair's "session".
    let back = connected("pump-1", "", 2, 90_000, 3);
    assert!(
        !change(Some(&repaired), Some(&back))
            .unwrap()
            .session_resumed
    );
}

#[test]
fn the_detail_serializes_as_documented() {
    let c = change(None, Some(&connected("pump-1", "s1", 1, 1_000, 1))).unwrap();
    let v = serde_json::to_value(&c).unwrap();
    for key in [
        "schemaVersion",
        "eventId",
        "clientId",
        "sequence",
        "state",
        "previousState",
        "since",
        "sinceMs",
        "sessionResumed",
        "reconciled",
    ] {
        assert!(v.get(key).is_some(), "{key} missing in {v}");
    }
    assert_eq!(v["state"], "connected");
    assert_eq!(serde_json::from_value::<PresenceChanged>(v).unwrap(), c);
}

proptest! {
    /// Over any sequence of writes, each marked as moving the status or not, the records
    /// emit exactly the moving ones, numbered 1, 2, 3, ... with no gap and no repeat.
    #[test]
    fn exactly_the_moving_writes_emit_numbered_without_gaps(
        moves in proptest::collection::vec(any::<bool>(), 1..60),
    ) {
        let mut old: Option<Status> = None;
        let mut seq = 0;
        let mut emitted = Vec::new();
        for (i, moved) in moves.iter().enumerate() {
            if *moved {
                seq += 1;
            }
            let at = 1_000 * (i as u64 + 1);
            let new = if seq % 2 == 1 {
                connected("c", "s", seq, at, seq)
            } else {
                disconnected("c", "s", seq, at, seq)
            };
            let new = Status { change_seq: (seq > 0).then_some(seq), ..new };
            let new = if seq == 0 { Status { session_identifier: None, ..new } } else { new };
            if let Some(c) = change(old.as_ref(), Some(&new)) {
                emitted.push(c.sequence);
            }
            old = Some(new);
        }
        let expected: Vec<u64> = (1..=seq).collect();
        prop_assert_eq!(emitted, expected);
    }
}
