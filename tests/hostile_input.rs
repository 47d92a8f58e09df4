//! Hostile input that reaches a message or a terminal: a value echoed in an error is capped
//! (at most 200 characters and its full length, `iot_presence::errors::shown`), text shown to
//! a person has its control and bidi characters escaped (`display_safe`), and every time or
//! duration input is parsed within bounds, never panicking (`iot_presence::time`).
//!
//! The CLI's end-to-end checks (a hostile client id through the real binary, `--at +10000y`)
//! are in `tests/cli.rs`; the widget's time range in `tests/widget.rs`.

use std::path::Path;

use iot_presence::errors::{display_safe, is_unsafe_to_display, shown, SHOWN_CHARS};
use iot_presence::event::{LifecycleEvent, MAX_PAYLOAD_BYTES, TOPIC_CLIENT_ID_FIELD};
use iot_presence::time::{
    iso_millis, iso_seconds, parse_duration, parse_time, MAX_DURATION_MS, MAX_TIME_MS,
};
use proptest::prelude::*;
use serde_json::{json, Value};

fn valid() -> Value {
    json!({"clientId": "c", "timestamp": 1_763_712_000_000u64, "eventType": "disconnected",
           "sessionIdentifier": "s", "versionNumber": 1, "disconnectReason": "CONNECTION_LOST"})
}

fn with(field: &str, value: Value) -> Value {
    let mut v = valid();
    v[field] = value;
    v
}

/// An invalid field value of 128 KiB (the largest message AWS IoT carries) is named in the
/// error with its length, never echoed whole: before the cap, `timestamp` given as a 128 KiB
/// string put all of it in the error (logged, and stored as the event's invalid reason).
#[test]
fn a_128_kib_invalid_value_is_named_with_its_length_not_echoed() {
    let huge = "a".repeat(128 * 1024);
    for (field, event) in [
        ("timestamp", with("timestamp", json!(huge))),
        ("versionNumber", with("versionNumber", json!(huge))),
        ("eventType", with("eventType", json!(huge))),
        ("ipAddress", with("ipAddress", json!(huge))),
        (
            "clientInitiatedDisconnect",
            with("clientInitiatedDisconnect", json!(huge)),
        ),
        (
            TOPIC_CLIENT_ID_FIELD,
            with(TOPIC_CLIENT_ID_FIELD, json!(huge)),
        ),
    ] {
        // Past the payload bound as JSON text: validated as a value, as the IoT rule's payload.
        let err = LifecycleEvent::from_value(&event).unwrap_err().to_string();
        assert!(err.len() < 1024, "{field}: {} bytes", err.len());
        assert!(
            err.contains(&format!("`{field}`")) && err.contains("131072 bytes"),
            "{field}: {err}"
        );
        assert!(
            err.contains(&format!("\"{}…\"", "a".repeat(SHOWN_CHARS))),
            "{err}"
        );
        // And as the largest payload the parser takes.
        let room = MAX_PAYLOAD_BYTES - valid().to_string().len() - 64;
        let mut event = event;
        event[field] = json!("a".repeat(room));
        let raw = event.to_string();
        assert!(raw.len() <= MAX_PAYLOAD_BYTES);
        let err = LifecycleEvent::parse(&raw).unwrap_err().to_string();
        assert!(
            err.len() < 1024 && err.contains(&format!("{room} bytes")),
            "{err}"
        );
    }
}

#[test]
fn a_value_cut_inside_a_multibyte_character_is_cut_before_it() {
    for unit in ["é", "漢", "😀"] {
        let v = format!("{}{}", "x".repeat(SHOWN_CHARS - 1), unit.repeat(10));
        let text = shown(&v).to_string();
        assert!(
            text.starts_with(&format!("\"{}{unit}…\"", "x".repeat(SHOWN_CHARS - 1))),
            "{text}"
        );
        assert!(text.ends_with(&format!("({} bytes, first 200 characters shown)", v.len())));
    }
}

/// Every `Cell::new` of the CLI is in `output::cell`, which escapes the text: a cell made
/// anywhere else would print a client id raw. And no `as_millis() as u64` is left in the
/// library or the CLI: it wraps a long duration round to a short one.
#[test]
fn cells_are_made_in_one_place_and_no_millis_are_truncated() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cells = Vec::new();
    let mut truncations = Vec::new();
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if code.contains("Cell::new(") {
                    cells.push(format!("{name}:{}", n + 1));
                }
                if code.contains("as_millis() as u64") {
                    truncations.push(format!("{name}:{}", n + 1));
                }
            }
        }
    }
    assert_eq!(cells.len(), 1, "Cell::new outside output::cell: {cells:?}");
    assert!(
        cells[0].starts_with("src/bin/presence/output.rs:"),
        "{cells:?}"
    );
    assert!(truncations.is_empty(), "{truncations:?}");
}

/// Strings to parse as times and durations: anything, and text shaped like the forms they
/// take (numbers of any length with any unit, RFC 3339 with any digits).
fn time_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,40}",
        "[+]?[0-9]{1,30} ?(ns|us|ms|s|m|h|d|w|M|y|years|months|min|sec|nsec|)",
        "[+]?([0-9]{1,12}(y|d|h|m|s) ?){1,6}",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,40})?(Z|\\+00:00|[+-][0-9]{2}:[0-9]{2})?",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}.{0,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// No time input panics; an accepted one is within 13-digit epoch ms; a refusal is short
    /// and never repeats the input.
    #[test]
    fn time_parsing_never_panics(
        text in time_text(),
        now in prop_oneof![Just(1_763_712_000_000u64), Just(MAX_TIME_MS), any::<u64>()],
        ahead: bool,
    ) {
        match parse_time(&text, now, ahead) {
            Ok(ms) => {
                prop_assert!(ms <= MAX_TIME_MS, "{text:?} -> {ms}");
                prop_assert!(!text.starts_with('+') || ahead);
                // Shown, whatever it is.
                prop_assert!(!iso_millis(ms).is_empty());
            }
            Err(err) => {
                let message = err.to_string();
                prop_assert!(message.len() < 300, "{message}");
            }
        }
    }

    #[test]
    fn duration_parsing_never_panics(text in time_text()) {
        if let Ok(d) = parse_duration(&text) {
            prop_assert!(d.as_millis() <= u128::from(MAX_DURATION_MS), "{text:?} -> {d:?}");
        }
    }

    #[test]
    fn every_time_is_shown(ms: u64) {
        prop_assert!(!iso_seconds(ms).is_empty());
        prop_assert!(!iso_millis(ms).is_empty());
    }

    /// A shown value is at most 200 characters of the value (plus its escapes and the note),
    /// holds no character that could reach a terminal raw, and says the full length when cut.
    #[test]
    fn shown_values_are_capped_and_safe(value in prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\\x7f-\\u{9f}\\u{200b}-\\u{200f}\\u{202a}-\\u{202e}\\u{2066}-\\u{2069}a-z]{0,600}",
    ]) {
        let chars = value.chars().count();
        for text in [shown(&value).to_string(), shown(&value).bare().to_string()] {
            prop_assert!(!text.chars().any(is_unsafe_to_display), "{text:?}");
            // `\u{10ffff}` is the longest escape: ten characters for one.
            prop_assert!(text.chars().count() <= SHOWN_CHARS * 10 + 64, "{text:?}");
            prop_assert_eq!(
                text.contains(&format!("({} bytes, first 200 characters shown)", value.len())),
                chars > SHOWN_CHARS
            );
        }
        if chars <= SHOWN_CHARS {
            prop_assert_eq!(shown(&value).to_string(), format!("{value:?}"));
        }
        let safe = display_safe(&value);
        prop_assert!(!safe.chars().any(is_unsafe_to_display));
        if !value.chars().any(is_unsafe_to_display) {
            prop_assert_eq!(safe.as_ref(), value.as_str());
        }
    }

    /// Whatever a string field holds, the error that quotes it stays short.
    #[test]
    fn event_errors_stay_short(
        field in prop::sample::select(vec![
            "clientId", "timestamp", "eventType", "sessionIdentifier", "versionNumber",
            "ipAddress", "thingName", "clientInitiatedDisconnect", "topicEventType",
            "topicClientId", "disconnectReason",
        ]),
        value in prop_oneof![any::<String>(), "\\PC{0,3000}", "[\\x00-\\x1f]{0,3000}"],
    ) {
        if let Err(err) = LifecycleEvent::from_value(&with(field, json!(value))) {
            let message = err.to_string();
            // Two quoted values at most (a topic mismatch), each at most 200 escaped characters.
            prop_assert!(message.len() <= 2 * (SHOWN_CHARS * 10 + 64) + 200, "{message}");
            prop_assert!(!message.chars().any(is_unsafe_to_display), "{message:?}");
        }
    }
}

/// Configuration and failure-queue messages quote what they were given the same way: a
/// 128 KiB environment value, `OFFLINE_THRESHOLDS` entry, reconcile scope, or rule-error topic
/// is named with its length, never echoed whole.
#[test]
fn configuration_and_redrive_errors_cap_what_they_quote() {
    use iot_presence::config::{
        Config, ReconcileConfig, Scope, EVENTS_TABLE_VAR, RECONCILE_SCOPE_VAR, STATUS_SHARDS_VAR,
        STATUS_TABLE_VAR,
    };
    use iot_presence::redrive::parse_message;
    use iot_presence::thresholds::ThresholdPatterns;

    let huge = "7".repeat(128 * 1024);
    let capped = |what: &str, err: String| {
        assert!(err.len() < 1024, "{what}: {} bytes: {err:.300}", err.len());
        assert!(
            err.contains(" bytes, first 200 characters shown)"),
            "{what}: {err:.300}"
        );
    };
    let tables = |var: &str| {
        (var == STATUS_TABLE_VAR || var == EVENTS_TABLE_VAR).then(|| "presence-t".to_owned())
    };
    let err = Config::from_lookup(|var| {
        if var == STATUS_SHARDS_VAR {
            Some(huge.clone())
        } else {
            tables(var)
        }
    })
    .unwrap_err();
    capped("STATUS_SHARDS", err.to_string());

    let err = ReconcileConfig::from_lookup(|var| {
        if var == RECONCILE_SCOPE_VAR {
            Some(format!("connected-for={huge}"))
        } else {
            tables(var)
        }
    })
    .unwrap_err();
    capped("RECONCILE_SCOPE", err.to_string());
    // The bounded parser, not humantime's: 10,000 years is refused, not accepted.
    assert!("connected-for=10000y".parse::<Scope>().is_err());

    for entry in [huge.clone(), format!("p=2{huge}"), format!("p=x{huge}")] {
        match entry.parse::<ThresholdPatterns>() {
            Ok(_) => panic!("accepted an entry of {} bytes", entry.len()),
            Err(err) => capped("OFFLINE_THRESHOLDS", err.to_string()),
        }
    }

    let topic = format!("$aws/events/presence/{huge}");
    let body = json!({
        "base64OriginalPayload": "e30=",
        "topic": topic,
        "failures": [],
    });
    let err = parse_message(&body.to_string()).unwrap_err();
    capped("rule error topic", err.to_string());
    let fields: serde_json::Map<String, Value> = (0..10_000)
        .map(|i| (format!("field{i}"), json!(1)))
        .collect();
    let err = parse_message(&Value::Object(fields).to_string()).unwrap_err();
    let text = err.to_string();
    assert!(text.len() < 1024, "unknown format: {} bytes", text.len());
}
