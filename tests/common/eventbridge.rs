//! An EventBridge `PutEvents` stand-in (the JSON 1.1 protocol) that keeps every entry it
//! accepted, in order, and refuses on demand: single entries (as EventBridge does under
//! throttling, in an answer with `FailedEntryCount`) or whole calls (a 500, which the SDK
//! retries). moto serves PutEvents too, but cannot refuse an entry; tests/changes.rs runs the
//! function against moto once as well, with a rule and an SQS target.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::standin::{Answer, Server};

/// One accepted entry.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub bus: String,
    pub source: String,
    pub detail_type: String,
    pub detail: Value,
}

#[derive(Default)]
struct State {
    accepted: Vec<Accepted>,
    /// Entries to refuse, the next ones first (across calls).
    refuse_entries: u32,
    /// Entries whose detail holds the text, refused that many more times.
    refuse_matching: Vec<(String, u32)>,
    /// Calls to answer with a 500.
    fail_calls: u32,
    calls: u32,
    refused: u32,
}

pub struct Bus {
    /// `http://127.0.0.1:PORT`: `AWS_ENDPOINT_URL_EVENTBRIDGE`, or an SDK client's endpoint.
    pub url: String,
    state: Arc<Mutex<State>>,
    _server: Server,
}

impl Bus {
    pub fn start() -> Bus {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = Server::start(move |request| {
            let target = request.header("x-amz-target").unwrap_or_default();
            if !request.is_post() || target != "AWSEvents.PutEvents" {
                return error(400, "UnknownOperationException", target);
            }
            let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
                return error(400, "SerializationException", "not JSON");
            };
            let mut state = shared.lock().unwrap();
            state.calls += 1;
            if state.fail_calls > 0 {
                state.fail_calls -= 1;
                return error(500, "InternalException", "the stand-in fails this call");
            }
            let entries = body["Entries"].as_array().cloned().unwrap_or_default();
            if entries.is_empty() || entries.len() > 10 {
                return error(400, "ValidationException", "1 to 10 entries a call");
            }
            let mut results = Vec::new();
            let mut failed = 0;
            for e in entries {
                let text = e["Detail"].as_str().unwrap_or_default().to_owned();
                let state = &mut *state;
                let matching = state
                    .refuse_matching
                    .iter_mut()
                    .find(|(needle, left)| *left > 0 && text.contains(needle.as_str()));
                let refuse = if let Some((_, left)) = matching {
                    *left -= 1;
                    true
                } else if state.refuse_entries > 0 {
                    state.refuse_entries -= 1;
                    true
                } else {
                    false
                };
                if refuse {
                    state.refused += 1;
                    failed += 1;
                    results.push(json!({"ErrorCode": "ThrottlingException",
                        "ErrorMessage": "Rate exceeded (the stand-in refuses this entry)"}));
                    continue;
                }
                let detail = e["Detail"]
                    .as_str()
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or(Value::Null);
                let n = state.accepted.len();
                state.accepted.push(Accepted {
                    bus: e["EventBusName"].as_str().unwrap_or("default").to_owned(),
                    source: e["Source"].as_str().unwrap_or_default().to_owned(),
                    detail_type: e["DetailType"].as_str().unwrap_or_default().to_owned(),
                    detail,
                });
                results.push(json!({"EventId": format!("00000000-0000-4000-8000-{n:012}")}));
            }
            Answer {
                status: 200,
                content_type: "application/x-amz-json-1.1",
                body: json!({"FailedEntryCount": failed, "Entries": results}).to_string(),
            }
        });
        Bus {
            url: server.url.clone(),
            state,
            _server: server,
        }
    }

    /// Refuse the next `n` entries (each answered with `ThrottlingException`).
    pub fn refuse_entries(&self, n: u32) {
        self.state.lock().unwrap().refuse_entries = n;
    }

    /// Refuse the entries whose detail contains `needle`, `times` times.
    pub fn refuse_matching(&self, needle: &str, times: u32) {
        let mut state = self.state.lock().unwrap();
        state.refuse_matching.push((needle.to_owned(), times));
    }

    /// Answer the next `n` calls with a 500.
    pub fn fail_calls(&self, n: u32) {
        self.state.lock().unwrap().fail_calls = n;
    }

    pub fn accepted(&self) -> Vec<Accepted> {
        self.state.lock().unwrap().accepted.clone()
    }

    /// (calls answered, entries refused).
    pub fn counts(&self) -> (u32, u32) {
        let s = self.state.lock().unwrap();
        (s.calls, s.refused)
    }

    /// An EventBridge client for it.
    pub fn client(&self) -> aws_sdk_eventbridge::Client {
        let config = aws_sdk_eventbridge::config::Builder::from(&super::local::sdk_config())
            .endpoint_url(&self.url)
            .build();
        aws_sdk_eventbridge::Client::from_conf(config)
    }
}

fn error(status: u16, kind: &str, message: &str) -> Answer {
    Answer {
        status,
        content_type: "application/x-amz-json-1.1",
        body: json!({"__type": kind, "message": message}).to_string(),
    }
}
