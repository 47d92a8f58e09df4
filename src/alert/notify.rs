//! The alert message format: the SNS subject, body and attributes of a notice (docs/alerts.md "Alert messages"). What to notify is [`super::rule`]'s; sending it is [`super::pass`]'s.

use serde::Serialize;

use super::rule::{kind, Notice, DUPLICATE_CLIENTID};
use crate::store::schema::{connection_id, REASON_UNKNOWN};
use crate::store::storms::{Breakdown, StormRecord};
use crate::time::{duration, iso_seconds};

impl Notice {
    /// Stable per occurrence, so that subscribers can drop a repeat (see docs/alerts.md "Exactly once, and what a crash does").
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
                    connection_id(session_identifier, *version)
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
                iso_seconds(*disconnected_at),
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
                    iso_seconds(*at),
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
                    .unwrap_or(REASON_UNKNOWN);
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

/// Version of the message format (docs/alerts.md "Alert messages"); bumped on incompatible changes.
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

/// The two fleet notices of a storm (see [`super::storm::watch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StormNotice {
    /// A storm was declared.
    Storm,
    /// It ended.
    Recovery,
}

impl StormNotice {
    pub fn kind(self) -> &'static str {
        match self {
            StormNotice::Storm => kind::STORM,
            StormNotice::Recovery => kind::RECOVERY,
        }
    }

    /// Stable per storm: the storm's id, and `/recovery` for its end.
    pub fn alert_id(self, storm: &StormRecord) -> String {
        match self {
            StormNotice::Storm => storm.id.clone(),
            StormNotice::Recovery => format!("{}/recovery", storm.id),
        }
    }
}

/// The JSON body of a storm or recovery message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StormMessage<'a> {
    pub schema_version: u32,
    pub alert_id: String,
    pub kind: &'static str,
    pub subject: String,
    pub decided_at: u64,
    pub storm_id: &'a str,
    /// The client-id prefix the storm is limited to; absent for the whole fleet.
    pub prefix: Option<&'a str>,
    pub clients: u64,
    /// `clients` over the size of the fleet (or of the prefix) when it was declared.
    pub share: f64,
    pub scope_size: u64,
    pub first_drop_at: u64,
    pub last_drop_at: u64,
    pub disconnect_reasons: &'a Breakdown,
    pub prefixes: &'a Breakdown,
    pub sample_client_ids: &'a [String],
    /// Recovery only: clients back, still offline, and the storm's length (first drop to end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub still_offline: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lasted_ms: Option<u64>,
}

impl<'a> StormMessage<'a> {
    pub fn new(storm: &'a StormRecord, notice: StormNotice, now: u64) -> Self {
        let scope = match &storm.prefix {
            Some(p) => format!("prefix {p}"),
            None => "the fleet".to_owned(),
        };
        let share = storm.clients as f64 / storm.scope_size.max(1) as f64;
        let top = storm
            .reasons
            .top
            .first()
            .map_or(REASON_UNKNOWN, |(r, _)| r.as_str());
        let (recovered, still_offline, ended_at, lasted_ms, line) = match notice {
            StormNotice::Storm => (
                None,
                None,
                None,
                None,
                format!(
                    "[storm] {} clients ({:.1}% of {scope}) dropped since {} ({top})",
                    storm.clients,
                    share * 100.0,
                    iso_seconds(storm.first_drop_at)
                ),
            ),
            StormNotice::Recovery => {
                let still = storm.still_offline.unwrap_or_default();
                let end = storm.ended_at.unwrap_or(now);
                let lasted = end.saturating_sub(storm.first_drop_at);
                (
                    Some(storm.clients.saturating_sub(still)),
                    Some(still),
                    Some(end),
                    Some(lasted),
                    format!(
                        "[recovery] storm of {scope} over after {}: {} of {} back, {still} still offline",
                        duration(lasted),
                        storm.clients.saturating_sub(still),
                        storm.clients
                    ),
                )
            }
        };
        StormMessage {
            schema_version: SCHEMA_VERSION,
            alert_id: notice.alert_id(storm),
            kind: notice.kind(),
            subject: sns_subject(&line),
            decided_at: now,
            storm_id: &storm.id,
            prefix: storm.prefix.as_deref(),
            clients: storm.clients,
            share,
            scope_size: storm.scope_size,
            first_drop_at: storm.first_drop_at,
            last_drop_at: storm.last_drop_at,
            disconnect_reasons: &storm.reasons,
            prefixes: &storm.prefixes,
            sample_client_ids: &storm.sample,
            recovered,
            still_offline,
            ended_at,
            lasted_ms,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a storm message always serializes")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const MIN: u64 = 60_000;
    const T0: u64 = 1_763_700_000_000;

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
