//! The planning rule, case by case.
use super::*;
use crate::thresholds::ThresholdPatterns;

const MIN: u64 = 60_000;
const T0: u64 = 1_763_700_000_000;

fn settings() -> AlertSettings {
    AlertSettings {
        offline_threshold_ms: 5 * MIN,
        flapping_sessions: 3,
        flapping_window_ms: 10 * MIN,
        thresholds: ThresholdPatterns::NONE,
        ..AlertSettings::DEFAULT
    }
}

fn disconnected(session: &str, at: u64) -> AlertView {
    AlertView {
        client_id: "dev-1".into(),
        thing_name: None,
        presence: Presence::Disconnected,
        session: session.into(),
        version: Some(1),
        connected_at: Some(at - MIN),
        disconnected_at: Some(at),
        reason: "CONNECTION_LOST".into(),
        threshold_ms: None,
        outage: None,
        flapping: None,
    }
}

fn connected(session: &str, at: u64, outage: Option<Outage>) -> AlertView {
    AlertView {
        presence: Presence::Connected,
        connected_at: Some(at),
        disconnected_at: None,
        reason: "NONE".into(),
        outage,
        ..disconnected(session, at)
    }
}

fn pending(session: &str, at: u64) -> Outage {
    Outage {
        session: session.into(),
        version: Some(1),
        disconnected_at: at,
        reason: "CONNECTION_LOST".into(),
        alerted_at: None,
        held_by: None,
    }
}

/// An outage of `session` from `at`, alerted at its 5-minute threshold.
fn alerted(session: &str, at: u64) -> Outage {
    Outage {
        alerted_at: Some(at + 5 * MIN),
        held_by: None,
        ..pending(session, at)
    }
}

fn kinds(p: &Plan) -> Vec<&'static str> {
    p.notices.iter().map(Notice::kind).collect()
}

#[test]
fn a_new_disconnection_is_tracked_until_its_threshold() {
    let view = disconnected("s1", T0);
    let p = plan(&view, None, &settings(), T0 + 1000);
    assert!(p.notices.is_empty());
    assert_eq!(p.outage, Some(pending("s1", T0)));
    assert_eq!(p.next, Next::At(T0 + 5 * MIN));

    // One millisecond early: nothing yet.
    let view = AlertView {
        outage: p.outage.clone(),
        ..view
    };
    let early = plan(&view, None, &settings(), T0 + 5 * MIN - 1);
    assert!(early.notices.is_empty());
    assert_eq!(early.next, Next::At(T0 + 5 * MIN));

    // At the threshold: one offline notice, then wait for the return.
    let due = plan(&view, None, &settings(), T0 + 5 * MIN);
    assert_eq!(kinds(&due), ["offline"]);
    assert_eq!(due.outage.as_ref().unwrap().alerted_at, Some(T0 + 5 * MIN));
    assert_eq!(due.next, Next::OnChange);

    // Looking again changes nothing: one alert per disconnection.
    let view = AlertView {
        outage: due.outage.clone(),
        ..view
    };
    let again = plan(&view, None, &settings(), T0 + 60 * MIN);
    assert!(again.notices.is_empty());
    assert_eq!(again.next, Next::OnChange);
    assert_eq!(again.outage, due.outage);
}

#[test]
fn a_per_client_threshold_overrides_the_default() {
    let view = AlertView {
        threshold_ms: Some(MIN),
        ..disconnected("s1", T0)
    };
    assert_eq!(
        kinds(&plan(&view, None, &settings(), T0 + MIN)),
        ["offline"]
    );
    let view = AlertView {
        threshold_ms: Some(60 * MIN),
        ..view
    };
    assert_eq!(
        plan(&view, None, &settings(), T0 + 59 * MIN).next,
        Next::At(T0 + 60 * MIN)
    );
}

#[test]
fn a_late_disconnect_past_its_threshold_alerts_at_once() {
    let p = plan(
        &disconnected("s1", T0),
        None,
        &settings(),
        T0 + 3 * 60 * MIN,
    );
    assert_eq!(kinds(&p), ["offline"]);
    match &p.notices[0] {
        Notice::Offline {
            offline_for_ms,
            returned,
            ..
        } => assert_eq!((*offline_for_ms, *returned), (3 * 60 * MIN, false)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn reconnecting_before_the_threshold_sends_nothing() {
    let view = connected("s2", T0 + 5 * MIN - 1, Some(pending("s1", T0)));
    let p = plan(&view, None, &settings(), T0 + 6 * MIN);
    assert!(p.notices.is_empty());
    assert_eq!((p.outage, p.next), (None, Next::Never));
}

#[test]
fn returning_after_the_threshold_before_any_alert_sends_both_notices() {
    let view = connected("s2", T0 + 5 * MIN, Some(pending("s1", T0)));
    let p = plan(&view, None, &settings(), T0 + 5 * MIN + 30_000);
    assert_eq!(kinds(&p), ["offline", "back-online"]);
    assert!(matches!(
        p.notices[0],
        Notice::Offline { returned: true, offline_for_ms, .. } if offline_for_ms == 5 * MIN
    ));
    assert_eq!((p.outage, p.next), (None, Next::Never));
}

#[test]
fn an_outage_that_ended_over_a_day_before_the_look_is_history() {
    let view = connected("s2", T0 + 10 * MIN, Some(pending("s1", T0)));
    let day = RETURN_NEWS_MS;
    let p = plan(&view, None, &settings(), T0 + 10 * MIN + day);
    assert_eq!(
        kinds(&p),
        ["offline", "back-online"],
        "a day after: still news"
    );
    let p = plan(&view, None, &settings(), T0 + 10 * MIN + day + 1);
    assert!(p.notices.is_empty(), "{:?}", p.notices);
    assert_eq!((p.outage, p.next), (None, Next::Never));
    // An alerted outage gets its back-online notice however late.
    let view = connected("s2", T0 + 10 * MIN, Some(alerted("s1", T0)));
    let p = plan(&view, None, &settings(), T0 + 400 * day);
    assert_eq!(kinds(&p), ["back-online"]);
}

#[test]
fn back_online_after_an_alert_names_the_outage() {
    let alerted = alerted("s1", T0);
    let p = plan(
        &connected("s2", T0 + 12 * MIN, Some(alerted)),
        None,
        &settings(),
        T0 + 13 * MIN,
    );
    assert_eq!(
        p.notices,
        [Notice::BackOnline {
            session_identifier: "s1".into(),
            version_number: Some(1),
            disconnected_at: T0,
            disconnect_reason: "CONNECTION_LOST".into(),
            back_at: Some(T0 + 12 * MIN),
            outage_ms: Some(12 * MIN),
            connected: true,
        }]
    );
    assert_eq!((p.outage, p.next), (None, Next::Never));
}

#[test]
fn a_new_session_dropping_again_closes_the_alerted_outage_and_tracks_the_new_one() {
    let alerted = alerted("s1", T0);
    // s2's connect was never seen: its connect time is unknown.
    let view = AlertView {
        outage: Some(alerted),
        connected_at: None,
        ..disconnected("s2", T0 + 20 * MIN)
    };
    let p = plan(&view, None, &settings(), T0 + 21 * MIN);
    assert_eq!(kinds(&p), ["back-online"]);
    assert!(matches!(
        p.notices[0],
        Notice::BackOnline {
            back_at: None,
            outage_ms: None,
            connected: false,
            ..
        }
    ));
    assert_eq!(p.outage, Some(pending("s2", T0 + 20 * MIN)));
    assert_eq!(p.next, Next::At(T0 + 25 * MIN));
}

#[test]
fn an_unalerted_outage_of_unknown_length_ends_silently() {
    let view = AlertView {
        outage: Some(pending("s1", T0)),
        connected_at: None,
        ..disconnected("s2", T0 + 20 * MIN)
    };
    let p = plan(&view, None, &settings(), T0 + 21 * MIN);
    assert!(p.notices.is_empty());
    assert_eq!(p.outage, Some(pending("s2", T0 + 20 * MIN)));
}

fn activity(connects: &[u64], reasons: &[(&str, u32)]) -> Activity {
    Activity {
        connects: connects.to_vec(),
        reasons: reasons.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
    }
}

#[test]
fn flapping_alerts_once_per_episode() {
    let view = connected("s3", T0 + 2 * MIN, None);
    let a = activity(&[T0, T0 + MIN, T0 + 2 * MIN], &[("DUPLICATE_CLIENTID", 2)]);
    let p = plan(&view, Some(&a), &settings(), T0 + 2 * MIN + 1);
    assert_eq!(kinds(&p), ["flapping"]);
    let Notice::Flapping {
        sessions,
        diagnosis,
        ..
    } = &p.notices[0]
    else {
        unreachable!()
    };
    assert_eq!(*sessions, 3);
    assert!(diagnosis
        .as_deref()
        .unwrap()
        .contains("two connections share the client id"));
    assert!(p.notices[0]
        .subject("dev-1")
        .contains("shared by two connections"));
    // Look again when the oldest of the 3 sessions leaves the 10-minute window.
    assert_eq!(p.next, Next::At(T0 + 10 * MIN + 1));

    // More sessions in the same episode: no second alert.
    let view = AlertView {
        flapping: p.flapping.clone(),
        ..connected("s4", T0 + 3 * MIN, None)
    };
    let a4 = activity(&[T0, T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN], &[]);
    let p2 = plan(&view, Some(&a4), &settings(), T0 + 3 * MIN + 1);
    assert!(p2.notices.is_empty());
    assert_eq!(p2.flapping, p.flapping);
    assert_eq!(p2.next, Next::At(T0 + MIN + 10 * MIN + 1));

    // The window thins out: the episode ends; the next burst is a new episode.
    let quiet = activity(&[T0 + 3 * MIN], &[]);
    let p3 = plan(&view, Some(&quiet), &settings(), T0 + 12 * MIN);
    assert!(p3.notices.is_empty());
    assert_eq!((p3.flapping, p3.next), (None, Next::Never));
}

#[test]
fn flapping_for_other_reasons_has_no_diagnosis() {
    let reasons = BTreeMap::from([("CONNECTION_LOST".to_owned(), 3)]);
    assert_eq!(flapping_diagnosis("c", &reasons), None);
    let mixed = BTreeMap::from([
        ("CONNECTION_LOST".to_owned(), 1),
        ("DUPLICATE_CLIENTID".to_owned(), 2),
    ]);
    assert!(flapping_diagnosis("c", &mixed).is_some());
}

#[test]
fn flapping_off_clears_an_episode() {
    let view = AlertView {
        flapping: Some(Episode {
            since: T0,
            alerted_at: T0,
        }),
        ..connected("s1", T0, None)
    };
    let off = AlertSettings {
        flapping_sessions: 0,
        ..settings()
    };
    let a = activity(&[T0, T0, T0], &[]);
    let p = plan(&view, Some(&a), &off, T0 + 1);
    assert!(p.notices.is_empty());
    assert_eq!((p.flapping, p.next), (None, Next::Never));
}

fn row<'a>(
    (event_type, session, version, timestamp, reason): (
        &'a str,
        &'a str,
        Option<u64>,
        u64,
        Option<&'a str>,
    ),
) -> ActivityRow<'a> {
    ActivityRow {
        event_type,
        session,
        version,
        timestamp,
        reason,
    }
}

#[test]
fn activity_counts_each_connection_of_a_persistent_session() {
    // One persistent session "p" reconnecting three times: three connections, three
    // disconnects, even though the session never changes.
    let rows = [
        ("connected", "p", Some(7), 10, None),
        ("disconnected", "p", Some(7), 20, Some("CONNECTION_LOST")),
        ("connected", "p", Some(8), 25, None),
        ("disconnected", "p", Some(8), 30, Some("CONNECTION_LOST")),
        ("connected", "p", Some(9), 35, None),
        ("connected", "p", Some(9), 36, None), // a duplicate copy
        (
            "disconnected",
            "p",
            Some(9),
            40,
            Some("MQTT_KEEP_ALIVE_TIMEOUT"),
        ),
    ];
    let a = Activity::from_rows(rows.map(row));
    assert_eq!(a.connects, [10, 25, 35]);
    assert_eq!(
        a.reasons,
        BTreeMap::from([
            ("CONNECTION_LOST".to_owned(), 2),
            ("MQTT_KEEP_ALIVE_TIMEOUT".to_owned(), 1)
        ])
    );
}

/// A persistent session that drops, comes back and drops again (same session, higher
/// version) has two outages: the second is not mistaken for the first, already alerted.
#[test]
fn a_resumed_session_dropping_again_is_a_new_outage() {
    let first = alerted("p", T0);
    // Back in the same session at version 2, then gone again at T0 + 20 min.
    let view = AlertView {
        version: Some(2),
        connected_at: Some(T0 + 12 * MIN),
        outage: Some(first.clone()),
        ..disconnected("p", T0 + 20 * MIN)
    };
    let p = plan(&view, None, &settings(), T0 + 20 * MIN + 1);
    assert_eq!(kinds(&p), ["back-online"]);
    assert!(matches!(
        &p.notices[0],
        Notice::BackOnline { version_number: Some(1), back_at: Some(at), .. } if *at == T0 + 12 * MIN
    ));
    let tracked = p.outage.expect("the new disconnection is tracked");
    assert_eq!((tracked.version, tracked.alerted_at), (Some(2), None));
    assert_eq!(tracked.disconnected_at, T0 + 20 * MIN);
    assert_eq!(p.next, Next::At(T0 + 25 * MIN));
    // Its own offline notice comes at its own threshold, with its own id.
    let view = AlertView {
        outage: Some(tracked),
        ..view
    };
    let due = plan(&view, None, &settings(), T0 + 25 * MIN);
    assert_eq!(kinds(&due), ["offline"]);
    assert_eq!(due.notices[0].alert_id("dev-1"), "offline/dev-1/p#2");
    // The same connection still disconnected: the first outage's alert stands (no repeat).
    let same = AlertView {
        version: Some(1),
        outage: Some(first),
        ..disconnected("p", T0)
    };
    assert!(plan(&same, None, &settings(), T0 + 30 * MIN)
        .notices
        .is_empty());
}

/// Outages recorded before versions were kept still close and alert as before.
#[test]
fn an_outage_without_a_version_matches_its_session() {
    let legacy = Outage {
        version: None,
        ..pending("s1", T0)
    };
    let view = AlertView {
        version: Some(9),
        outage: Some(legacy.clone()),
        ..disconnected("s1", T0)
    };
    let p = plan(&view, None, &settings(), T0 + 5 * MIN);
    assert_eq!(kinds(&p), ["offline"]);
    assert_eq!(p.notices[0].alert_id("dev-1"), "offline/dev-1/s1");
    assert_eq!(p.outage.unwrap().version, None);
}

#[test]
fn activity_counts_distinct_sessions_once() {
    let rows = [
        ("connected", "a", Some(1), 10, None),
        ("connected", "a", Some(1), 12, None), // a late duplicate copy
        ("disconnected", "a", Some(1), 20, Some("DUPLICATE_CLIENTID")),
        ("disconnected", "a", Some(1), 21, Some("DUPLICATE_CLIENTID")),
        ("connect_failed", "x", None, 22, None),
        ("connected", "b", Some(4), 15, None),
        ("disconnected", "b", Some(4), 30, None),
    ];
    let a = Activity::from_rows(rows.map(row));
    assert_eq!(a.connects, [10, 15]);
    assert_eq!(
        a.reasons,
        BTreeMap::from([
            ("DUPLICATE_CLIENTID".to_owned(), 1),
            ("UNKNOWN".to_owned(), 1)
        ])
    );
}
