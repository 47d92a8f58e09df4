//! Offline, back-online and flapping alerts: the pure planning rule and the message format.
//!
//! [`plan`] is the single source of truth of what to notify about one client. It sees the
//! client's status item (what the handler wrote plus the alert state the alerter wrote), the
//! sessions of the last flapping window from the event log, the configured settings and the
//! time, and answers with the notices to send, the new alert state and when to look again.
//! Everything that touches DynamoDB or SNS is in [`crate::alerter`].
//!
//! # The rules
//!
//! An outage, like everything here, belongs to one *connection* (session and version; see
//! [`crate::decision`]): a persistent session that reconnects and drops again has a new outage.
//!
//! - **Offline.** A disconnection gets one `offline` notice iff it lasted at least the client's
//!   threshold, measured between event timestamps: `disconnectedAt + threshold <= now` while it
//!   is still the current status, or `connectedAt(next connection) - disconnectedAt >= threshold`
//!   once the client is back. The second case covers a return between the threshold and the
//!   alerter's next pass (or an alerter outage): the outcome depends on the events, not on when
//!   the alerter happened to run, and the `offline` notice is then followed by `back-online`.
//! - **Back online.** An outage that got an `offline` notice gets one `back-online` notice once
//!   the status shows another connection: connected, or disconnected again in a connection whose
//!   connect was lost (then the return time is that connection's `connectedAt` when known).
//! - **Flapping.** An episode starts when the last `window` holds at least `sessions` distinct
//!   connections (connected events in the event log, whatever their outcome, so duplicates and
//!   late copies count once; a persistent session that keeps reconnecting counts once per
//!   connection; `reconciled` and `invalid` rows never count); it gets one `flapping` notice
//!   naming the disconnect reasons seen,
//!   and ends at the first look that finds fewer. `DUPLICATE_CLIENTID` means two connections
//!   share the client id and keep taking it from each other, and the notice says so.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use crate::event::Presence;
use crate::thresholds::ThresholdPatterns;

/// The disconnect reason AWS gives when a second connection takes over a client id.
pub const DUPLICATE_CLIENTID: &str = "DUPLICATE_CLIENTID";

/// Stack-wide alert settings (a client's own threshold, then the first matching pattern of
/// `thresholds`, override `offline_threshold_ms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    pub offline_threshold_ms: u64,
    pub thresholds: ThresholdPatterns,
    /// Sessions within `flapping_window_ms` that make an episode; 0 turns flapping alerts off.
    pub flapping_sessions: u32,
    pub flapping_window_ms: u64,
}

impl AlertSettings {
    pub const DEFAULT: AlertSettings = AlertSettings {
        offline_threshold_ms: 5 * 60_000,
        thresholds: ThresholdPatterns::NONE,
        flapping_sessions: 5,
        flapping_window_ms: 10 * 60_000,
    };
}

/// The disconnection the alerter is tracking: pending (not yet alerted) or alerted and waiting
/// for the client to return. Stored on the status item as `outage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub session: String,
    /// The connection's version; `None` for an outage recorded before outages named their
    /// connection (it then matches any version of its session).
    pub version: Option<u64>,
    pub disconnected_at: u64,
    pub reason: String,
    /// When the `offline` notice went out; `None` while pending.
    pub alerted_at: Option<u64>,
}

impl Outage {
    /// Whether the outage is the disconnection the status shows: the same connection. An outage
    /// recorded without a version matches its session at any version.
    pub fn is_of(&self, view: &AlertView) -> bool {
        self.session == view.session && (self.version.is_none() || self.version == view.version)
    }
}

/// A flapping episode that was notified. Stored on the status item as `flapping`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    /// Connect time of the first session of the window that started it.
    pub since: u64,
    pub alerted_at: u64,
}

/// What [`plan`] needs of a status item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertView {
    pub client_id: String,
    pub thing_name: Option<String>,
    pub presence: Presence,
    pub session: String,
    pub version: Option<u64>,
    /// The current connection's connect time, when known (carried over to a disconnect).
    pub connected_at: Option<u64>,
    /// Set while disconnected.
    pub disconnected_at: Option<u64>,
    pub reason: String,
    /// The client's own threshold (`offlineThresholdMs`), if set.
    pub threshold_ms: Option<u64>,
    pub outage: Option<Outage>,
    pub flapping: Option<Episode>,
}

/// Connections and disconnect reasons of one client in the flapping window, from its event log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Activity {
    /// The first connect time of each distinct connection, ascending.
    pub connects: Vec<u64>,
    /// Distinct disconnected connections per reason.
    pub reasons: BTreeMap<String, u32>,
}

/// One event-log row as [`Activity::from_rows`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityRow<'a> {
    pub event_type: &'a str,
    pub session: &'a str,
    pub version: Option<u64>,
    pub timestamp: u64,
    pub reason: Option<&'a str>,
}

impl Activity {
    /// Tallies the window's event-log rows, counting each connection (session and version)
    /// once.
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = ActivityRow<'a>>) -> Activity {
        let mut connects: BTreeMap<(&str, Option<u64>), u64> = BTreeMap::new();
        let mut disconnects: BTreeMap<(&str, Option<u64>), &str> = BTreeMap::new();
        for row in rows {
            let connection = (row.session, row.version);
            match Presence::parse(row.event_type) {
                Some(Presence::Connected) => {
                    let first = connects.entry(connection).or_insert(row.timestamp);
                    *first = (*first).min(row.timestamp);
                }
                Some(Presence::Disconnected) => {
                    disconnects
                        .entry(connection)
                        .or_insert(row.reason.unwrap_or(crate::store::REASON_UNKNOWN));
                }
                None => {}
            }
        }
        let mut connects: Vec<u64> = connects.into_values().collect();
        connects.sort_unstable();
        let mut reasons = BTreeMap::new();
        for reason in disconnects.into_values() {
            *reasons.entry(reason.to_owned()).or_insert(0) += 1;
        }
        Activity { connects, reasons }
    }
}

/// One notification about one client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Notice {
    /// Offline for at least the threshold.
    Offline {
        session_identifier: String,
        /// The connection's version (absent for an outage recorded before versions were kept).
        #[serde(skip_serializing_if = "Option::is_none")]
        version_number: Option<u64>,
        disconnected_at: u64,
        disconnect_reason: String,
        threshold_ms: u64,
        /// Offline time when the notice was decided (up to `now`, or up to the return).
        offline_for_ms: u64,
        /// The client had already returned when the notice was decided (its `back-online`
        /// notice follows).
        returned: bool,
    },
    /// Back after an `offline` notice.
    BackOnline {
        /// The connection of the outage (the one the `offline` notice named).
        session_identifier: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        version_number: Option<u64>,
        disconnected_at: u64,
        disconnect_reason: String,
        /// When the client came back (the next connection's connect), if known.
        back_at: Option<u64>,
        outage_ms: Option<u64>,
        /// Whether the client is connected now (it may have dropped again since).
        connected: bool,
    },
    /// At least `sessions` connections within `window_ms`.
    Flapping {
        /// Distinct connections (session and version) in the window; the name predates
        /// persistent sessions and stays for the message format's sake.
        sessions: u32,
        window_ms: u64,
        first_connect_at: u64,
        last_connect_at: u64,
        /// Distinct disconnected connections per reason, in the window.
        disconnect_reasons: BTreeMap<String, u32>,
        /// A plain-language cause, when the reasons tell one.
        diagnosis: Option<String>,
    },
}

impl Notice {
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::Offline { .. } => "offline",
            Notice::BackOnline { .. } => "back-online",
            Notice::Flapping { .. } => "flapping",
        }
    }

    /// Stable per occurrence, so that subscribers can drop a repeat (see README "Delivery").
    pub fn alert_id(&self, client_id: &str) -> String {
        match self {
            Notice::Offline {
                session_identifier,
                version_number,
                ..
            }
            | Notice::BackOnline {
                session_identifier,
                version_number,
                ..
            } => match version_number {
                Some(version) => format!(
                    "{}/{client_id}/{}",
                    self.kind(),
                    crate::store::connection_id(session_identifier, *version)
                ),
                None => format!("{}/{client_id}/{session_identifier}", self.kind()),
            },
            Notice::Flapping {
                first_connect_at, ..
            } => format!("flapping/{client_id}/{first_connect_at}"),
        }
    }

    /// The one-line human subject (SNS: ASCII, at most 100 characters, no line breaks).
    pub fn subject(&self, client_id: &str) -> String {
        let line = match self {
            Notice::Offline {
                disconnected_at,
                disconnect_reason,
                offline_for_ms,
                ..
            } => format!(
                "[offline] {client_id} disconnected since {} ({disconnect_reason}), {} ago",
                iso(*disconnected_at),
                duration(*offline_for_ms)
            ),
            Notice::BackOnline {
                back_at,
                outage_ms,
                disconnect_reason,
                ..
            } => match (back_at, outage_ms) {
                (Some(at), Some(outage)) => format!(
                    "[back-online] {client_id} back at {} after {} offline ({disconnect_reason})",
                    iso(*at),
                    duration(*outage)
                ),
                _ => format!(
                    "[back-online] {client_id} came back (time unknown) after {disconnect_reason}"
                ),
            },
            Notice::Flapping {
                sessions,
                window_ms,
                disconnect_reasons,
                ..
            } => {
                let top = disconnect_reasons
                    .iter()
                    .max_by_key(|(reason, n)| (**n, std::cmp::Reverse(*reason)))
                    .map(|(reason, _)| reason.as_str())
                    .unwrap_or(crate::store::REASON_UNKNOWN);
                let hint = if top == DUPLICATE_CLIENTID {
                    ": client id shared by two connections"
                } else {
                    ""
                };
                format!(
                    "[flapping] {client_id}: {sessions} connections in {} ({top}{hint})",
                    duration(*window_ms)
                )
            }
        };
        sns_subject(&line)
    }
}

/// Text as SNS accepts it in a subject or a message attribute: printable ASCII, every other
/// character (control characters such as newlines and NULs included, which a client id may
/// hold) replaced by `?`. The message body keeps the raw text; it is JSON-escaped.
pub fn sns_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// SNS subjects must be ASCII without control characters and under 100 characters.
fn sns_subject(line: &str) -> String {
    let mut subject = sns_safe(line);
    if subject.len() > 99 {
        subject.truncate(96);
        subject.push_str("...");
    }
    subject
}

/// RFC 3339, UTC, seconds.
pub fn iso(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// A duration in its two largest units, to the second: `12m 3s`, `5m`, `2h 5m`, `366d 10h`.
pub fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3_600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let first = parts.iter().position(|(n, _)| *n > 0).unwrap_or(3);
    parts[first..(first + 2).min(4)]
        .iter()
        .filter(|(n, _)| *n > 0 || first == 3)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The plain-language cause of flapping, when the disconnect reasons tell one.
pub fn flapping_diagnosis(client_id: &str, reasons: &BTreeMap<String, u32>) -> Option<String> {
    let duplicates = reasons.get(DUPLICATE_CLIENTID).copied().unwrap_or(0);
    let others: u32 = reasons
        .iter()
        .filter(|(r, _)| r.as_str() != DUPLICATE_CLIENTID)
        .map(|(_, n)| n)
        .sum();
    (duplicates > 0 && duplicates >= others).then(|| {
        format!(
            "two connections share the client id {client_id:?}: each new connection disconnects \
             the other (DUPLICATE_CLIENTID). Give every device its own client id, or stop the \
             second process using it."
        )
    })
}

/// Version of the message format (README "Alert messages"); bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON body of one SNS message: the notice's own fields (tagged by `kind`) plus who it is
/// about and when it was decided.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message<'a> {
    pub schema_version: u32,
    pub alert_id: String,
    pub client_id: &'a str,
    pub thing_name: Option<&'a str>,
    pub subject: String,
    /// The alerter's clock when it decided to send (ms since the epoch).
    pub decided_at: u64,
    #[serde(flatten)]
    pub notice: &'a Notice,
}

impl<'a> Message<'a> {
    pub fn new(
        client_id: &'a str,
        thing_name: Option<&'a str>,
        notice: &'a Notice,
        now: u64,
    ) -> Self {
        Message {
            schema_version: SCHEMA_VERSION,
            alert_id: notice.alert_id(client_id),
            client_id,
            thing_name,
            subject: notice.subject(client_id),
            decided_at: now,
            notice,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an alert message always serializes")
    }
}

/// When to look at the client again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// At this time (ms): the item stays in the alert index with `alertDueAt` = this.
    At(u64),
    /// When its status changes (an alerted outage waits for the return): the item keeps its
    /// `alertShard` but leaves the index; the handler's next status change puts it back.
    OnChange,
    /// Nothing is tracked: the item leaves the index until its next disconnect.
    Never,
}

/// The answer of [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub notices: Vec<Notice>,
    pub outage: Option<Outage>,
    pub flapping: Option<Episode>,
    pub next: Next,
}

/// Decides what to notify about one client at `now` (see the module docs for the rules).
/// `activity` is the event log of `[now - flapping window, now]`; `None` when flapping alerts
/// are off.
pub fn plan(
    view: &AlertView,
    activity: Option<&Activity>,
    settings: &AlertSettings,
    now: u64,
) -> Plan {
    let threshold = view
        .threshold_ms
        .or_else(|| settings.thresholds.threshold_for(&view.client_id))
        .unwrap_or(settings.offline_threshold_ms);
    let mut notices = Vec::new();
    let mut outage = view.outage.clone();
    let mut due: Option<u64> = None;

    // 1. A tracked outage that is not the current status has ended: the client came back
    //    (connected, or in another connection since).
    if let Some(o) = outage.take_if(|o| view.presence == Presence::Connected || !o.is_of(view)) {
        let back_at = view.connected_at.filter(|&at| at >= o.disconnected_at);
        let outage_ms = back_at.map(|at| at - o.disconnected_at);
        let long_enough = outage_ms.is_some_and(|ms| ms >= threshold);
        if o.alerted_at.is_none() && long_enough {
            notices.push(Notice::Offline {
                session_identifier: o.session.clone(),
                version_number: o.version,
                disconnected_at: o.disconnected_at,
                disconnect_reason: o.reason.clone(),
                threshold_ms: threshold,
                offline_for_ms: outage_ms.unwrap_or_default(),
                returned: true,
            });
        }
        if o.alerted_at.is_some() || long_enough {
            notices.push(Notice::BackOnline {
                session_identifier: o.session,
                version_number: o.version,
                disconnected_at: o.disconnected_at,
                disconnect_reason: o.reason,
                back_at,
                outage_ms,
                connected: view.presence == Presence::Connected,
            });
        }
    }

    // 2. The current disconnection: track it, alert once past the threshold.
    let mut waiting_for_return = false;
    if view.presence == Presence::Disconnected {
        let disconnected_at = view.disconnected_at.unwrap_or_default();
        let current = outage.get_or_insert_with(|| Outage {
            session: view.session.clone(),
            version: view.version,
            disconnected_at,
            reason: view.reason.clone(),
            alerted_at: None,
        });
        if current.alerted_at.is_some() {
            waiting_for_return = true;
        } else {
            let due_at = current.disconnected_at.saturating_add(threshold);
            if now >= due_at {
                notices.push(Notice::Offline {
                    session_identifier: current.session.clone(),
                    version_number: current.version,
                    disconnected_at: current.disconnected_at,
                    disconnect_reason: current.reason.clone(),
                    threshold_ms: threshold,
                    offline_for_ms: now - current.disconnected_at,
                    returned: false,
                });
                current.alerted_at = Some(now);
                waiting_for_return = true;
            } else {
                due = Some(due_at);
            }
        }
    }

    // 3. Flapping episodes.
    let mut flapping = view.flapping.clone();
    match activity {
        Some(a) if settings.flapping_sessions > 0 => {
            let n = settings.flapping_sessions as usize;
            if a.connects.len() >= n {
                if flapping.is_none() {
                    let reasons = a.reasons.clone();
                    notices.push(Notice::Flapping {
                        sessions: a.connects.len() as u32,
                        window_ms: settings.flapping_window_ms,
                        first_connect_at: a.connects[0],
                        last_connect_at: a.connects[a.connects.len() - 1],
                        diagnosis: flapping_diagnosis(&view.client_id, &reasons),
                        disconnect_reasons: reasons,
                    });
                    flapping = Some(Episode {
                        since: a.connects[0],
                        alerted_at: now,
                    });
                }
                // The window holds fewer than n sessions once the n-th newest connect leaves
                // it; look again then (sooner if the status changes).
                let leaves = a.connects[a.connects.len() - n]
                    .saturating_add(settings.flapping_window_ms)
                    .saturating_add(1)
                    .max(now + 1);
                due = Some(due.map_or(leaves, |d| d.min(leaves)));
            } else {
                flapping = None;
            }
        }
        _ => flapping = None,
    }

    let next = match due {
        Some(at) => Next::At(at),
        None if waiting_for_return => Next::OnChange,
        None => Next::Never,
    };
    Plan {
        notices,
        outage,
        flapping,
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;
    const T0: u64 = 1_763_700_000_000;

    fn settings() -> AlertSettings {
        AlertSettings {
            offline_threshold_ms: 5 * MIN,
            flapping_sessions: 3,
            flapping_window_ms: 10 * MIN,
            thresholds: ThresholdPatterns::NONE,
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
        }
    }

    /// An outage of `session` from `at`, alerted at its 5-minute threshold.
    fn alerted(session: &str, at: u64) -> Outage {
        Outage {
            alerted_at: Some(at + 5 * MIN),
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
    fn durations_keep_their_two_largest_units() {
        for (ms, text) in [
            (0, "0s"),
            (999, "0s"),
            (5_000, "5s"),
            (5 * MIN, "5m"),
            (5 * MIN + 30_000, "5m 30s"),
            (2 * 3_600_000 + 5 * MIN + 7_000, "2h 5m"),
            (366 * 86_400_000 + 10 * 3_600_000 + 54 * MIN, "366d 10h"),
            (86_400_000 + 59_000, "1d"),
        ] {
            assert_eq!(duration(ms), text, "{ms}");
        }
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

    #[test]
    fn messages_carry_the_notice_fields_and_a_stable_id() {
        let notice = Notice::BackOnline {
            session_identifier: "s1".into(),
            version_number: None,
            disconnected_at: T0,
            disconnect_reason: "CONNECTION_LOST".into(),
            back_at: None,
            outage_ms: None,
            connected: false,
        };
        let json: serde_json::Value =
            serde_json::from_str(&Message::new("dev-1", Some("thing"), &notice, T0 + 9).to_json())
                .unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "schemaVersion": 1,
                "alertId": "back-online/dev-1/s1",
                "kind": "back-online",
                "clientId": "dev-1",
                "thingName": "thing",
                "subject": "[back-online] dev-1 came back (time unknown) after CONNECTION_LOST",
                "decidedAt": T0 + 9,
                "sessionIdentifier": "s1",
                "disconnectedAt": T0,
                "disconnectReason": "CONNECTION_LOST",
                "backAt": null,
                "outageMs": null,
                "connected": false
            })
        );
    }

    #[test]
    fn sns_safe_text_is_printable_ascii_of_the_same_length_in_characters() {
        let raw = "pump\n7\0é\t\u{7f}ok";
        let safe = sns_safe(raw);
        assert_eq!(safe, "pump?7????ok");
        assert_eq!(safe.chars().count(), raw.chars().count());
        assert_eq!(sns_safe("sensor-42"), "sensor-42");
    }

    #[test]
    fn subjects_are_one_ascii_line_under_100_characters() {
        let long_id = "ü".repeat(40) + "\n" + &"x".repeat(128);
        let offline = Notice::Offline {
            session_identifier: "s".into(),
            version_number: None,
            disconnected_at: T0,
            disconnect_reason: "CONNECTION_LOST".into(),
            threshold_ms: 5 * MIN,
            offline_for_ms: 5 * MIN + 1500,
            returned: false,
        };
        let back_online = Notice::BackOnline {
            session_identifier: "s".into(),
            version_number: None,
            disconnected_at: T0,
            disconnect_reason: "SERVER_INITIATED_DISCONNECT".into(),
            back_at: Some(T0 + 12 * MIN + 3000),
            outage_ms: Some(12 * MIN + 3000),
            connected: true,
        };
        let flapping = Notice::Flapping {
            sessions: 12,
            window_ms: 10 * MIN,
            first_connect_at: T0,
            last_connect_at: T0 + 9 * MIN,
            disconnect_reasons: BTreeMap::from([(DUPLICATE_CLIENTID.to_owned(), 11)]),
            diagnosis: None,
        };
        for notice in [&offline, &back_online, &flapping] {
            let short = notice.subject("sensor-42");
            assert!(short.len() < 100 && short.is_ascii(), "{short}");
            let long = notice.subject(&long_id);
            assert!(long.len() < 100, "{long}");
            assert!(long.chars().all(|c| c.is_ascii() && !c.is_ascii_control()));
        }
        assert_eq!(
            offline.subject("sensor-42"),
            "[offline] sensor-42 disconnected since 2025-11-21T04:40:00Z (CONNECTION_LOST), 5m 1s ago"
        );
        assert_eq!(offline.alert_id("sensor-42"), "offline/sensor-42/s");
    }
}
