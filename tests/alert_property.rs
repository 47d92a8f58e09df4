//! The alert rule over random histories: a client's connections and outages (clean sessions,
//! and persistent sessions resumed by a reconnect, where several connections share one session),
//! the status changes they make, and the alert index as the handler and the alerter move the client in and out of
//! it, with one pass a minute. Whatever the timing, every outage of at least the threshold gets
//! exactly one `offline` notice, shorter ones none, and each alerted outage one `back-online`
//! notice once the client is back.

use iot_presence::alert::rule::{plan, AlertView, Next, Notice};
use iot_presence::config::AlertSettings;
use iot_presence::event::Presence;
use iot_presence::store::item::Outage;
use iot_presence::thresholds::ThresholdPatterns;
use proptest::prelude::*;

const MIN: u64 = 60_000;
const T0: u64 = 1_790_000_000_000;

/// One connection: connected at `connect`, disconnected `online` ms later, then offline for
/// `offline` ms (the last connection's outage may still be going on at the end). `resume`: it
/// resumes the previous connection's persistent session (same session, next version).
#[derive(Debug, Clone)]
struct Session {
    online: u64,
    offline: u64,
    resume: bool,
}

/// Connection `i`'s session: that of the last connection at or before it that did not resume.
fn session_of(sessions: &[Session], i: usize) -> String {
    let start = (1..=i).rev().find(|&k| !sessions[k].resume).unwrap_or(0);
    format!("s{start}")
}

fn outage_around(threshold: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        1..3 * MIN,
        Just(threshold - 1),
        Just(threshold),
        Just(threshold + 1),
        threshold..threshold + 3 * MIN,
        3 * MIN..60 * MIN,
    ]
}

fn scenario() -> impl Strategy<Value = (u64, u64, Vec<Session>)> {
    (1u64..=10)
        .prop_map(|minutes| minutes * MIN)
        .prop_flat_map(|threshold| {
            // Sessions last at least a minute and a millisecond, so every one is seen by a pass.
            let session = (MIN + 1..30 * MIN, outage_around(threshold), any::<bool>()).prop_map(
                |(online, offline, resume)| Session {
                    online,
                    offline,
                    resume,
                },
            );
            (
                Just(threshold),
                0..MIN,
                proptest::collection::vec(session, 1..8),
            )
        })
}

/// The status at `t`: the last event at or before it.
fn view_at(
    sessions: &[Session],
    times: &[(u64, u64)],
    t: u64,
    threshold: u64,
) -> Option<(AlertView, u64)> {
    let (i, &(connect, disconnect)) = times
        .iter()
        .enumerate()
        .rev()
        .find(|(_, (connect, _))| *connect <= t)?;
    let mut view = AlertView {
        client_id: "dev".into(),
        thing_name: None,
        presence: Presence::Connected,
        session: session_of(sessions, i),
        version: Some(i as u64),
        connected_at: Some(connect),
        disconnected_at: None,
        reason: "NONE".into(),
        threshold_ms: Some(threshold),
        outage: None,
        flapping: None,
    };
    let changed_at = if disconnect <= t {
        view.presence = Presence::Disconnected;
        view.disconnected_at = Some(disconnect);
        view.reason = "CONNECTION_LOST".into();
        disconnect
    } else {
        connect
    };
    Some((view, changed_at))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn one_offline_per_long_outage_and_one_back_online_per_alert(
        (threshold, phase, sessions) in scenario()
    ) {
        let settings = AlertSettings {
            offline_threshold_ms: threshold,
            flapping_sessions: 0,
            flapping_window_ms: 10 * MIN,
            thresholds: ThresholdPatterns::NONE,
            ..AlertSettings::DEFAULT
        };
        let mut times = Vec::new();
        let mut t = T0;
        for s in &sessions {
            times.push((t, t + s.online));
            t += s.online + s.offline;
        }
        let end = t + 2 * threshold;

        // The item's alert state, as the handler and the alerter leave it.
        let mut outage: Option<Outage> = None;
        let mut shard = false;
        let mut due: Option<u64> = None;
        let mut last_change = 0;
        let mut notices: Vec<Notice> = Vec::new();

        let mut pass = T0 + phase;
        while pass <= end {
            let Some((mut view, changed_at)) = view_at(&sessions, &times, pass, threshold) else {
                pass += MIN;
                continue;
            };
            if changed_at != last_change {
                // The status update: due now; a disconnect also puts the client in the index.
                last_change = changed_at;
                due = Some(changed_at);
                if view.presence == Presence::Disconnected {
                    shard = true;
                }
            }
            if shard && due.is_some_and(|d| d <= pass) {
                view.outage = outage.clone();
                let p = plan(&view, None, &settings, pass);
                notices.extend(p.notices);
                outage = p.outage;
                match p.next {
                    Next::At(at) => {
                        prop_assert!(at > pass, "a pass must move the due time forward");
                        due = Some(at);
                    }
                    Next::OnChange => due = None,
                    Next::Never => {
                        shard = false;
                        due = None;
                    }
                }
            }
            pass += MIN;
        }

        for (i, s) in sessions.iter().enumerate() {
            let (session, version) = (session_of(&sessions, i), Some(i as u64));
            let last = i + 1 == sessions.len();
            let long = if last {
                end - times[i].1 >= threshold
            } else {
                s.offline >= threshold
            };
            let offline: Vec<&Notice> = notices
                .iter()
                .filter(|n| matches!(n, Notice::Offline { session_identifier, version_number, .. } if *session_identifier == session && *version_number == version))
                .collect();
            let back: Vec<&Notice> = notices
                .iter()
                .filter(|n| matches!(n, Notice::BackOnline { session_identifier, version_number, .. } if *session_identifier == session && *version_number == version))
                .collect();
            prop_assert_eq!(offline.len(), usize::from(long), "session {} offline {} ms, threshold {}: {:?}", i, s.offline, threshold, notices);
            if let Some(Notice::Offline { offline_for_ms, disconnected_at, .. }) = offline.first() {
                prop_assert!(*offline_for_ms >= threshold);
                prop_assert_eq!(*disconnected_at, times[i].1);
            }
            // Back online: after an alert, once the next session has begun (it always has, for
            // all but the last session); its duration is the true outage.
            prop_assert_eq!(back.len(), usize::from(long && !last), "session {}: {:?}", i, notices);
            if let Some(Notice::BackOnline { outage_ms, .. }) = back.first() {
                prop_assert_eq!(*outage_ms, Some(s.offline));
            }
        }
    }
}
