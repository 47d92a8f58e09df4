//! Failed events, read back from the stack's two failure queues so that `presence redrive` can
//! re-apply them through the function's own path ([`crate::handler::handle`]).
//!
//! Three message bodies are understood:
//!
//! - **Lambda's on-failure record** (the `FailedEventsQueue`, after the function's retries or
//!   the 6 h event age): `{"requestContext": {..., "condition": "RetriesExhausted"},
//!   "requestPayload": <the event as the rule delivered it>, "responsePayload": ...}`. The
//!   payload is taken verbatim, byte for byte, as the function received it.
//! - **The rules engine's error action** (the `RuleErrorsQueue`, when the rule could not invoke
//!   the function): `{"ruleName", "topic", "clientId", "base64OriginalPayload", "failures"}`.
//!   The original payload is the event as published on the topic, *without* the fields the
//!   rule's SQL adds; they are rebuilt from `topic` exactly as the SQL does (`topic(4) AS
//!   topicEventType, topic() AS presenceTopic`), so the parser's topic check still applies.
//! - **A bare lifecycle event** (a Lambda dead-letter queue, or an event an operator sent by
//!   hand): the body is the payload.
//!
//! Anything else is an error that names what is wrong; `presence redrive` leaves such a message
//! in the queue and prints the reason. Parsing here never validates the event itself: that is
//! the function's job, done by the same code when the payload is re-applied.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::event::{PRESENCE_TOPIC_PREFIX, TOPIC_EVENT_TYPE_FIELD, TOPIC_FIELD};

/// Where a failed event came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Lambda's on-failure destination record; `condition` is Lambda's reason
    /// (`RetriesExhausted`, `EventAgeExceeded`), when given.
    LambdaOnFailure { condition: Option<String> },
    /// The rule's error action; `failures` are the failed actions' error messages.
    RuleError { failures: Vec<String> },
    /// A bare event.
    Event,
}

impl Source {
    pub fn name(&self) -> &'static str {
        match self {
            Source::LambdaOnFailure { .. } => "lambda-on-failure",
            Source::RuleError { .. } => "rule-error",
            Source::Event => "event",
        }
    }
}

/// A failed event, ready for the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedEvent {
    /// The payload as the function receives it from the rule.
    pub payload: String,
    pub source: Source,
}

/// Why a message body is not a failed event.
#[derive(Debug, Error)]
pub enum MessageError {
    #[error("the message is not JSON")]
    NotJson(#[source] serde_json::Error),
    #[error(
        "the message is not a Lambda on-failure record (requestPayload), a rule error action \
         (base64OriginalPayload) or a lifecycle event (eventType); its fields: {}",
        crate::errors::shown(.0).bare()
    )]
    UnknownFormat(String),
    #[error("the on-failure record has no requestPayload object")]
    NoRequestPayload(#[source] serde_json::Error),
    #[error("the rule error's {0} is missing or not a string")]
    MissingField(&'static str),
    #[error("the rule error's base64OriginalPayload is not base64")]
    NotBase64(#[source] base64::DecodeError),
    #[error("the rule error's original payload is not a JSON object")]
    PayloadNotAnObject(#[source] serde_json::Error),
    #[error(
        "the rule error's topic {} is not a presence topic ($aws/events/presence/TYPE/CLIENT)",
        crate::errors::shown(.0)
    )]
    NotAPresenceTopic(String),
}

#[derive(Deserialize)]
struct OnFailureRecord<'a> {
    #[serde(rename = "requestPayload", borrow)]
    request_payload: &'a RawValue,
    #[serde(rename = "requestContext", default)]
    request_context: Option<RequestContext>,
}

#[derive(Deserialize)]
struct RequestContext {
    condition: Option<String>,
}

/// Reads one queue message body.
pub fn parse_message(body: &str) -> Result<FailedEvent, MessageError> {
    let value: Map<String, Value> = serde_json::from_str(body).map_err(MessageError::NotJson)?;
    if value.contains_key("requestPayload") {
        let record: OnFailureRecord<'_> =
            serde_json::from_str(body).map_err(MessageError::NoRequestPayload)?;
        if !record.request_payload.get().trim_start().starts_with('{') {
            return Err(MessageError::NoRequestPayload(serde::de::Error::custom(
                "requestPayload is not an object",
            )));
        }
        return Ok(FailedEvent {
            payload: record.request_payload.get().to_owned(),
            source: Source::LambdaOnFailure {
                condition: record.request_context.and_then(|c| c.condition),
            },
        });
    }
    if let Some(encoded) = value.get("base64OriginalPayload") {
        return rule_error(&value, encoded);
    }
    if value.contains_key("eventType") {
        return Ok(FailedEvent {
            payload: body.to_owned(),
            source: Source::Event,
        });
    }
    let mut fields: Vec<&str> = value.keys().map(String::as_str).take(8).collect();
    fields.sort_unstable();
    Err(MessageError::UnknownFormat(if fields.is_empty() {
        "none".to_owned()
    } else {
        fields.join(", ")
    }))
}

fn rule_error(message: &Map<String, Value>, encoded: &Value) -> Result<FailedEvent, MessageError> {
    use base64::Engine as _;
    let encoded = encoded
        .as_str()
        .ok_or(MessageError::MissingField("base64OriginalPayload"))?;
    let topic = message
        .get("topic")
        .and_then(Value::as_str)
        .ok_or(MessageError::MissingField("topic"))?;
    let event_type =
        topic_event_type(topic).ok_or_else(|| MessageError::NotAPresenceTopic(topic.to_owned()))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(MessageError::NotBase64)?;
    let mut event: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(MessageError::PayloadNotAnObject)?;
    // What the rule's SQL adds (`SELECT *, topic(4) AS ..., topic() AS ...`): the parser then
    // checks the topic against the payload, as on the live path.
    event.insert(TOPIC_EVENT_TYPE_FIELD.to_owned(), event_type.into());
    event.insert(TOPIC_FIELD.to_owned(), topic.into());
    let failures = message
        .get("failures")
        .and_then(Value::as_array)
        .map(|failures| {
            failures
                .iter()
                .filter_map(|f| f.get("errorMessage").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(FailedEvent {
        payload: Value::Object(event).to_string(),
        source: Source::RuleError { failures },
    })
}

/// `topic(4)` of a presence topic, as the rules engine numbers levels (from 1), when the topic
/// is one the rule's filter `$aws/events/presence/+/#` matches with a client id after it. The
/// rest (the client id, which may contain `/`) is checked against the payload by the parser.
fn topic_event_type(topic: &str) -> Option<&str> {
    let rest = topic.strip_prefix(PRESENCE_TOPIC_PREFIX)?;
    let (event_type, client_id) = rest.split_once('/')?;
    (!event_type.is_empty() && !client_id.is_empty()).then_some(event_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::LifecycleEvent;
    use base64::Engine as _;
    use serde_json::json;

    const EVENT: &str = r#"{"clientId":"pump-1","timestamp":1763712000000,"eventType":"disconnected","sessionIdentifier":"s-1","principalIdentifier":"p","clientInitiatedDisconnect":false,"disconnectReason":"CONNECTION_LOST","versionNumber":3,"topicEventType":"disconnected","presenceTopic":"$aws/events/presence/disconnected/pump-1"}"#;

    #[test]
    fn an_on_failure_record_gives_the_payload_verbatim() {
        let body = format!(
            r#"{{"version":"1.0","timestamp":"2025-11-21T08:00:03.000Z","requestContext":{{"requestId":"r-1","functionArn":"arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST","condition":"RetriesExhausted","approximateInvokeCount":3}},"requestPayload":{EVENT},"responseContext":{{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"}},"responsePayload":{{"errorType":"TransientStoreError","errorMessage":"throttled"}}}}"#
        );
        let failed = parse_message(&body).unwrap();
        assert_eq!(failed.payload, EVENT);
        assert_eq!(
            failed.source,
            Source::LambdaOnFailure {
                condition: Some("RetriesExhausted".into())
            }
        );
        LifecycleEvent::parse(&failed.payload).unwrap();
    }

    #[test]
    fn a_rule_error_gets_the_rules_topic_fields_back() {
        let original = r#"{"clientId":"gw-7","timestamp":1763712000000,"eventType":"connected","sessionIdentifier":"s-9","principalIdentifier":"p","ipAddress":"192.0.2.1","versionNumber":1}"#;
        let body = json!({
            "ruleName": "presence", "topic": "$aws/events/presence/connected/gw-7",
            "cloudwatchTraceId": "t", "clientId": "gw-7",
            "base64OriginalPayload": base64::engine::general_purpose::STANDARD.encode(original),
            "failures": [{"failedAction": "LambdaAction", "failedResource": "f",
                          "errorMessage": "Failed to invoke lambda function"}],
        })
        .to_string();
        let failed = parse_message(&body).unwrap();
        let event = LifecycleEvent::parse(&failed.payload).unwrap();
        assert_eq!(event.client_id, "gw-7");
        let payload: Value = serde_json::from_str(&failed.payload).unwrap();
        assert_eq!(payload[TOPIC_EVENT_TYPE_FIELD], "connected");
        assert_eq!(payload[TOPIC_FIELD], "$aws/events/presence/connected/gw-7");
        assert_eq!(
            failed.source,
            Source::RuleError {
                failures: vec!["Failed to invoke lambda function".into()]
            }
        );
    }

    #[test]
    fn a_rule_error_whose_topic_disagrees_fails_the_parsers_topic_check() {
        // The topic is the truth the rule would have added: a payload claiming another client
        // is rebuilt with the topic's id, and the event parser rejects the mismatch.
        let original = r#"{"clientId":"gw-8","timestamp":1763712000000,"eventType":"connected","sessionIdentifier":"s","versionNumber":1}"#;
        let body = json!({
            "topic": "$aws/events/presence/connected/gw-7",
            "base64OriginalPayload": base64::engine::general_purpose::STANDARD.encode(original),
        })
        .to_string();
        let failed = parse_message(&body).unwrap();
        let err = LifecycleEvent::parse(&failed.payload).unwrap_err();
        assert!(err.to_string().contains(TOPIC_FIELD), "{err}");
    }

    #[test]
    fn a_bare_event_is_its_own_payload() {
        let failed = parse_message(EVENT).unwrap();
        assert_eq!(failed.payload, EVENT);
        assert_eq!(failed.source, Source::Event);
    }

    #[test]
    fn bad_messages_say_what_is_wrong() {
        let err = |body: &str| parse_message(body).unwrap_err().to_string();
        assert_eq!(err("hello"), "the message is not JSON");
        assert_eq!(err("[1]"), "the message is not JSON");
        assert!(err(r#"{"foo":1,"bar":2}"#).ends_with("its fields: bar, foo"));
        assert!(err("{}").ends_with("its fields: none"));
        assert_eq!(
            err(r#"{"requestPayload":"x"}"#),
            "the on-failure record has no requestPayload object"
        );
        assert_eq!(
            err(r#"{"base64OriginalPayload":"e30=","topic":"devices/x"}"#),
            "the rule error's topic \"devices/x\" is not a presence topic ($aws/events/presence/TYPE/CLIENT)"
        );
        assert_eq!(
            err(r#"{"base64OriginalPayload":"e30="}"#),
            "the rule error's topic is missing or not a string"
        );
        assert_eq!(
            err(r#"{"base64OriginalPayload":"!!","topic":"$aws/events/presence/connected/a"}"#),
            "the rule error's base64OriginalPayload is not base64"
        );
        assert_eq!(
            err(r#"{"base64OriginalPayload":"WzFd","topic":"$aws/events/presence/connected/a"}"#),
            "the rule error's original payload is not a JSON object"
        );
        assert!(err(
            r#"{"base64OriginalPayload":"e30=","topic":"$aws/events/presence/connected"}"#
        )
        .contains("not a presence topic"));
        // No client id after the type: not a topic the rule matches.
        for topic in [
            "$aws/events/presence/connected/",
            "$aws/events/presence/connected",
        ] {
            let message = json!({"base64OriginalPayload": "e30=", "topic": topic}).to_string();
            assert!(err(&message).contains("not a presence topic"), "{topic}");
        }
    }

    /// More levels than five: the rule's `+/#` matches them, and the event applies exactly when
    /// the payload's client id is the whole rest of the topic, as on the live path.
    #[test]
    fn a_topic_with_more_levels_is_checked_against_the_whole_client_id() {
        let message = |client: &str| {
            let original = json!({"clientId": client, "timestamp": 1_763_712_000_000u64,
                "eventType": "connected", "sessionIdentifier": "s", "versionNumber": 1});
            let encoded = base64::engine::general_purpose::STANDARD.encode(original.to_string());
            json!({"topic": "$aws/events/presence/connected/site-3/gw/7",
                   "base64OriginalPayload": encoded})
            .to_string()
        };
        let failed = parse_message(&message("site-3/gw/7")).unwrap();
        assert_eq!(
            LifecycleEvent::parse(&failed.payload).unwrap().client_id,
            "site-3/gw/7"
        );
        for other in ["site-3", "site-3/gw", "gw/7"] {
            let failed = parse_message(&message(other)).unwrap();
            let err = LifecycleEvent::parse(&failed.payload).unwrap_err();
            assert!(err.to_string().contains(TOPIC_FIELD), "{other}: {err}");
        }
    }
}
